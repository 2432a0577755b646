# main.py for a board: serve the status pages on port 80.
# Wi-Fi is joined before this runs, by boot.py (ports/boot.py, which `make deploy` copies with secrets.py).
# Upload it with http_service.py and the uasyncore files (see README.md); the board runs it at boot.
import http_service

http_service.main(host="0.0.0.0", port=80)
