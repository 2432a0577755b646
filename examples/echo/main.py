# main.py for a board: serve echo on port 7777, or over TLS on 7443 when secrets.py names a certificate
# and its key (TLS_CERT, TLS_KEY: files copied to the board, DER or PEM; see README.md).
# Wi-Fi is joined before this runs, by boot.py (ports/boot.py, which `make deploy` copies with secrets.py).
import echo_service

try:
    import secrets
except ImportError:
    secrets = None

cert = getattr(secrets, "TLS_CERT", None)
key = getattr(secrets, "TLS_KEY", None)
echo_service.main(host="0.0.0.0", port=7443 if cert else 7777, tls_cert=cert, tls_key=key)
