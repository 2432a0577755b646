# main.py for a board: join Wi-Fi if secrets.py says how, then serve the control port on 7070 with the
# board's LED. Upload it with control_service.py, control_device.py and the uasyncore files (README.md).
import control_service
from control_device import Device, board_led

LED_PIN = "LED"  # the Pico W's on-board LED; on an ESP32 board its GPIO number instead (often 2)
PORT = 7070

try:
    import network
except ImportError:
    network = None  # not a board (or no Wi-Fi): the network is whatever the host has

try:
    import secrets  # WIFI_SSID and WIFI_PASSWORD; kept out of git
except ImportError:
    secrets = None


# Join the access point named in secrets.py and wait (up to timeout seconds) for an address.
def join_wifi(timeout=20):
    import time

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(secrets.WIFI_SSID, secrets.WIFI_PASSWORD)
        for _ in range(timeout * 2):
            if wlan.isconnected():
                break
            time.sleep(0.5)
    print("wifi:", wlan.ifconfig()[0] if wlan.isconnected() else "not connected")


if network is not None and hasattr(secrets, "WIFI_SSID"):
    join_wifi()
# board_led gives None where there is no machine.Pin, and Device then keeps a simulated LED
control_service.main(host="0.0.0.0", port=PORT, device=Device(led=board_led(LED_PIN)))
