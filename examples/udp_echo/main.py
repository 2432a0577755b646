# main.py for a board: echo datagrams on UDP port 7777 of every interface.
# Wi-Fi is joined before this runs, by boot.py (ports/boot.py, which `make deploy` copies with secrets.py).
import udp_echo_service

udp_echo_service.main(host="0.0.0.0", port=7777)
