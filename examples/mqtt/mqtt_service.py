# mqtt_service: a sensor node that publishes its readings to an MQTT broker, on uasyncore.
#
# Every INTERVAL seconds one reading goes to PREFIX/CLIENT_ID/readings as JSON at QoS 1, and each
# value to PREFIX/CLIENT_ID/<name> at QoS 0. PREFIX/CLIENT_ID/status is "online" (retained) while
# connected and, through the broker's will, "offline" once the connection is lost.
# main(host, port) takes the BROKER's address; with tls_ca (its CA certificate) it connects over TLS
# and checks the broker's certificate. On the host the readings are simulated.
import uasyncore
from mqtt_client import KEEPALIVE, MqttClient, describe

try:
    from os import getenv
except ImportError:  # boards have no environment: main()'s arguments and the constants below rule
    getenv = None

BROKER_PORT = 1883
TLS_PORT = 8883  # MQTT over TLS
TOPIC_PREFIX = "uasyncore"
INTERVAL = 10  # seconds between readings
NAMES = ("temperature_c", "humidity_pct", "pressure_hpa")  # what a sensor reader returns, in order


##### readings: simulated on the host; a board passes its own reader


# 0, 1, ... span, span - 1, ... 0, 1, ...: a slow climb and fall.
def _zigzag(n, span):
    n %= 2 * span
    return n if n <= span else 2 * span - n


# The sensor hook's shape: f(seq) -> (temperature C, relative humidity %, pressure hPa), None for a
# value it cannot read. This one is a deterministic function of the reading's number.
def simulated_sensor(seq):
    return ((200 + _zigzag(seq, 50)) / 10, (450 + _zigzag(seq + 20, 80)) / 10, (10100 + _zigzag(seq // 3, 60)) / 10)


def _number(v):
    return "null" if v is None else "%.1f" % v


# One reading as JSON, formatted by hand so every runtime prints the same bytes.
def reading_json(seq, uptime_s, values):
    fields = ['"%s": %s' % (NAMES[i], _number(values[i])) for i in range(len(NAMES))]
    return '{"seq": %d, "uptime_s": %d, %s}' % (seq, uptime_s, ", ".join(fields))


##### the publisher


class SensorPublisher(MqttClient):
    # An MqttClient that samples `sensor` every `interval` seconds and publishes what it reads.
    def __init__(self, host, port, client_id, prefix=TOPIC_PREFIX, interval=INTERVAL, sensor=None, **options):
        self.base = "%s/%s/" % (prefix, client_id)
        self.status_topic = self.base + "status"
        options["will"] = (self.status_topic, b"offline", 1, True)
        MqttClient.__init__(self, host, port, client_id, **options)
        self.interval = interval
        self.sensor = sensor or simulated_sensor
        self.seq = 0
        self.uptime_ms = 0
        self.tick = uasyncore.ticks()
        self.announced = False
        self.sampler = None

    # Connect, take the first reading (it waits for the connection), then one every interval.
    def start(self):
        MqttClient.start(self)
        if self.sampler is None:
            self.sample()
            self.sampler = uasyncore.call_every(self.interval, self.sample, map=self.map)

    # Stop sampling; say "offline" ourselves, as a clean DISCONNECT tells the broker to drop the will.
    def stop(self):
        if self.sampler is not None:
            self.sampler.cancel()
            self.sampler = None
        if self.connected():
            self.publish(self.status_topic, b"offline", qos=0, retain=True)
        MqttClient.stop(self)

    # Read the sensor and publish; a sensor that fails costs this reading only.
    def sample(self):
        now = uasyncore.ticks()
        self.uptime_ms += uasyncore.ticks_diff(now, self.tick)  # summed, so a wrapping clock is no trouble
        self.tick = now
        self.seq += 1
        try:
            values = self.sensor(self.seq)
        except Exception as e:
            self.say("mqtt: reading %d failed: %r" % (self.seq, e))
            return
        self.publish(self.base + "readings", reading_json(self.seq, self.uptime_ms // 1000, values), qos=1)
        for i in range(len(NAMES)):
            if values[i] is not None:
                self.publish(self.base + NAMES[i], _number(values[i]), qos=0)

    def handle_online(self, session_present):
        self.publish(self.status_topic, b"online", qos=1, retain=True)
        if self.announced:
            self.say("mqtt: reconnected to %s:%d" % (self.host, self.port))
            return
        self.announced = True
        where = (self.host, self.port, self.client_id, self.base, self.interval, " over TLS" if self.tls else "")
        self.say("mqtt: serving on %s:%d as %s, readings to %sreadings every %s s%s" % where)

    def handle_offline(self, reason, delay):
        self.say("mqtt: %s:%d: %s; retrying in %.1f s" % (self.host, self.port, describe(reason), delay))

    def say(self, line):
        print(line)


##### settings


# A setting from the host's environment (MQTT_INTERVAL, ...) or the given default.
def setting(name, default, convert=str):
    value = getenv(name) if getenv is not None else None
    return default if value is None else convert(value)


# "uasyncore-" and the board's unique id, or random hex where there is none (the host).
def default_client_id():
    try:
        import machine

        raw = machine.unique_id()
    except (ImportError, AttributeError):
        from os import urandom

        raw = urandom(3)
    return "uasyncore-" + "".join(["%02x" % b for b in raw])


# Publish readings to the broker at host:port (1883, or 8883 over TLS) until interrupted. With tls_ca
# (the CA certificate that signed the broker's, a file name or the data, PEM or DER) over TLS, the
# broker's certificate checked for tls_hostname (host by default). Arguments left as None come from the
# environment on the host (MQTT_PREFIX, MQTT_INTERVAL, MQTT_CLIENT_ID, MQTT_KEEPALIVE,
# MQTT_TLS_HOSTNAME), else the defaults.
def main(
    host="127.0.0.1",
    port=None,
    prefix=None,
    interval=None,
    client_id=None,
    keepalive=None,
    username=None,
    password=None,
    sensor=None,
    tls_ca=None,
    tls_hostname=None,
):
    tls = None
    if tls_ca is not None:
        import uasyncore_tls

        tls = uasyncore_tls.client_context(cafile=tls_ca)  # it reads a file name, and takes data as it is
    publisher = SensorPublisher(
        host,
        port or (BROKER_PORT if tls is None else TLS_PORT),
        client_id or setting("MQTT_CLIENT_ID", None) or default_client_id(),
        prefix=prefix or setting("MQTT_PREFIX", TOPIC_PREFIX),
        interval=interval or setting("MQTT_INTERVAL", INTERVAL, float),
        sensor=sensor,
        keepalive=keepalive if keepalive is not None else setting("MQTT_KEEPALIVE", KEEPALIVE, int),
        username=username,
        password=password,
        tls=tls,
        server_hostname=tls_hostname or setting("MQTT_TLS_HOSTNAME", None),
    )
    publisher.start()
    try:
        uasyncore.loop()
    finally:
        publisher.stop()
