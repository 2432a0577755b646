# Copy to secrets.py (at the repository's top, never committed: .gitignore lists it) and fill in.
# `make deploy PORT=... ADAPTER=esp32|rp2` copies it to the board, where boot.py joins the network.
WIFI_SSID = "your-network"
WIFI_PASSWORD = "your-password"
WIFI_COUNTRY = None  # e.g. "GB": the regulatory domain, where the board needs it
# TLS for the examples that serve it (echo; http: HTTPS on 443 beside HTTP on 80; control: STARTTLS):
# a certificate and its key, files copied to the board beside main.py, DER or PEM
# (examples/echo/README.md says how to make them). None: plaintext.
TLS_CERT = None  # e.g. "cert.der"
TLS_KEY = None  # e.g. "key.der"
# The control example's token: a client must give it (AUTH <token>) before it may change the device.
# Long and random, e.g. python3 -I -c "import secrets; print(secrets.token_urlsafe(16))". Without one
# the control port is read-only.
CONTROL_TOKEN = ""
