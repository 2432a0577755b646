# boot.py for a Wi-Fi board (ESP32, Pico W): join the network named in secrets.py, then let main.py run.
# `make deploy PORT=... ADAPTER=esp32|rp2` copies it to the board's / with secrets.py beside it.
try:
    import secrets  # WIFI_SSID, WIFI_PASSWORD (and optional WIFI_COUNTRY); never committed
except ImportError:
    secrets = None


# Join the access point and wait up to `timeout` seconds for an address; prints what it got.
def join_wifi(timeout=20):
    import network
    import time

    country = getattr(secrets, "WIFI_COUNTRY", None)
    if country:
        network.country(country)  # the regulatory domain decides the channels a board may use
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(secrets.WIFI_SSID, secrets.WIFI_PASSWORD)
        for _ in range(timeout * 4):
            if wlan.isconnected():
                break
            time.sleep(0.25)
    print("wifi:", wlan.ifconfig()[0] if wlan.isconnected() else "not connected to %s" % secrets.WIFI_SSID)


if hasattr(secrets, "WIFI_SSID"):
    try:
        join_wifi()
    except Exception as e:  # a board without Wi-Fi, or a bad secrets.py: main.py still runs
        print("wifi:", repr(e))
else:
    print("wifi: no secrets.py (copy ports/secrets.example.py to secrets.py and fill it in)")
