# Copy to secrets.py (at the repository's top, never committed: .gitignore lists it) and fill in.
# `make deploy PORT=... ADAPTER=esp32|rp2` copies it to the board, where boot.py joins the network.
WIFI_SSID = "your-network"
WIFI_PASSWORD = "your-password"
WIFI_COUNTRY = None  # e.g. "GB": the regulatory domain, where the board needs it
