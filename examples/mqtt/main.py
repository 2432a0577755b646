# main.py for a board: join Wi-Fi if secrets.py says how, then publish readings to the MQTT broker
# secrets.py names. Upload it with the mqtt_*.py files and uasyncore (see README.md); it runs at boot.
import mqtt_service

try:
    import network
except ImportError:
    network = None  # not a board (or no Wi-Fi): the network is whatever the host has

try:
    import secrets  # WIFI_SSID, WIFI_PASSWORD, MQTT_BROKER and the optional MQTT_* below; kept out of git
except ImportError:
    secrets = None

# The sensor hook: None publishes simulated readings. For a real sensor, a function of the reading's
# number that returns (temperature C, relative humidity %, pressure hPa), None for what it cannot read:
#
#   def sensor(seq):
#       return bme.temperature, bme.humidity, bme.pressure   # whatever your driver offers
sensor = None


# A value from secrets.py, or default.
def setting(name, default=None):
    return getattr(secrets, name, default)


# Join the access point in secrets.py; give up after `timeout` seconds (the client retries anyway).
def join_wifi(timeout=20):
    import time

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(secrets.WIFI_SSID, secrets.WIFI_PASSWORD)
        start = time.ticks_ms()
        while not wlan.isconnected() and time.ticks_diff(time.ticks_ms(), start) < timeout * 1000:
            time.sleep_ms(200)
    print("wifi:", wlan.ifconfig()[0] if wlan.isconnected() else "not connected")


if network is not None and setting("WIFI_SSID"):
    join_wifi()
broker = setting("MQTT_BROKER")
if not broker:
    raise SystemExit("mqtt: put MQTT_BROKER = 'address of your broker' in secrets.py")
mqtt_service.main(
    host=broker,
    port=setting("MQTT_PORT", mqtt_service.BROKER_PORT),
    prefix=setting("MQTT_PREFIX"),
    interval=setting("MQTT_INTERVAL"),
    username=setting("MQTT_USER"),
    password=setting("MQTT_PASSWORD"),
    sensor=sensor,
)
