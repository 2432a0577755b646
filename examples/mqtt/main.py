# main.py for a board: publish readings to the MQTT broker secrets.py names, over TLS when it names the
# broker's CA certificate (MQTT_TLS_CA: a file copied to the board, DER or PEM; see README.md).
# Wi-Fi is joined before this runs, by boot.py (ports/boot.py, which `make deploy` copies with secrets.py).
# Upload it with the mqtt_*.py files and uasyncore (see README.md); it runs at boot.
import mqtt_service

try:
    import secrets  # MQTT_BROKER and the optional MQTT_* below; kept out of git
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


broker = setting("MQTT_BROKER")
if not broker:
    raise SystemExit("mqtt: put MQTT_BROKER = 'address of your broker' in secrets.py")
mqtt_service.main(
    host=broker,
    port=setting("MQTT_PORT"),  # 1883, or 8883 over TLS
    prefix=setting("MQTT_PREFIX"),
    interval=setting("MQTT_INTERVAL"),
    username=setting("MQTT_USER"),
    password=setting("MQTT_PASSWORD"),
    sensor=sensor,
    tls_ca=setting("MQTT_TLS_CA"),
    tls_hostname=setting("MQTT_TLS_HOSTNAME"),  # the name in the broker's certificate, if not MQTT_BROKER
)
