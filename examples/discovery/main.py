# main.py for a board: announce this device and serve the http example's status pages beside it, on one
# loop. Wi-Fi is joined before this runs, by boot.py (ports/boot.py, which `make deploy` copies with
# secrets.py); upload discovery_service.py, and http_service.py with device_status.py, with uasyncore.
import discovery_service
import http_service
import network

address = network.WLAN(network.STA_IF).ifconfig()[0]
discovery_service.Responder("uasyncore-device", {"http": 80}, address)
http_service.main(host="0.0.0.0", port=80)  # runs the loop, which serves both
