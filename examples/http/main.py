# main.py for a board: serve the status pages on port 80, and over HTTPS on 443 beside it when
# secrets.py names a certificate and its key (TLS_CERT, TLS_KEY: files copied to the board, DER or
# PEM; see README.md). Wi-Fi is joined before this runs, by boot.py (ports/boot.py, which `make deploy`
# copies with secrets.py). Upload it with http_service.py and the uasyncore files (see README.md); the
# board runs it at boot.
import http_service

try:
    import secrets
except ImportError:
    secrets = None

cert = getattr(secrets, "TLS_CERT", None)
key = getattr(secrets, "TLS_KEY", None)
if cert:
    http_service.main(host="0.0.0.0", port=443, tls_cert=cert, tls_key=key, plain_port=80)
else:
    http_service.main(host="0.0.0.0", port=80)
