# Copy to secrets.py (at the repository's top, never committed: .gitignore lists it) and fill in.
# `make deploy PORT=... ADAPTER=esp32|rp2` copies it to the board, where boot.py joins the network.
WIFI_SSID = "your-network"
WIFI_PASSWORD = "your-password"
WIFI_COUNTRY = None  # e.g. "GB": the regulatory domain, where the board needs it
# The control example's token: a client must give it (AUTH <token>) before it may change the device.
# Long and random, e.g. python3 -c "import secrets; print(secrets.token_urlsafe(16))". Without one
# the control port is read-only.
CONTROL_TOKEN = ""
