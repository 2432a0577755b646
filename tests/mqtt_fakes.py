# Fakes for examples/mqtt's tests (tests/test_mqtt_client.py): a fake clock, sockets with a scripted
# broker behind them, a poller that sleeps on the fake clock, and a TestCase mixin that wires them up.
# Imported after support, so MicroPython compiles it once uasyncore is loaded.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import sys

import uasyncore

# examples/mqtt holds the modules; MicroPython has no os.path, so the path is cut from this file's own
_EXAMPLE = (__file__.replace("\\", "/").rpartition("/")[0] or ".") + "/../examples/mqtt"
if _EXAMPLE not in sys.path:
    sys.path.append(_EXAMPLE)

import mqtt_client  # noqa: E402  (needs the sys.path entry above)
import mqtt_packets as mp  # noqa: E402

_port = uasyncore._port
EINPROGRESS = _port.EINPROGRESS
CONNECT, PUBLISH, PINGREQ, DISCONNECT = 0x10, 0x30, 0xC0, 0xE0


##### the fake network: a broker behind each socket, a poller that sleeps on a fake clock


class FakeClock:
    # Stands in for the port's ticks_ms(); moves only when the poller sleeps.
    def __init__(self):
        self.now = 7000000

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now = _port.ticks_add(self.now, int(ms))


class BrokerSocket(support.FakeSocket):
    # A client socket with a scripted broker behind it. mode: "accept" (the connect completes),
    # "refuse" (it fails with ECONNREFUSED) or "hang" (it never completes).
    def __init__(self, clock, mode="accept", connack=0, puback=True, pingresp=True):
        support.FakeSocket.__init__(self, connect_result=EINPROGRESS)
        self.opened = clock.now
        self.mode = mode
        self.connack = connack  # return code for CONNECT; None: no answer
        self.puback = puback
        self.pingresp = pingresp
        self.received = []  # (first byte, body) of every packet the client sent
        self.reader = mp.PacketReader(limit=1 << 20)
        if mode == "refuse":
            self.error = support.ECONNREFUSED

    def send(self, data):
        n = support.FakeSocket.send(self, data)
        self.reader.feed(bytes(data[:n]))
        while True:
            packet = self.reader.next()
            if packet is None:
                return n
            self.received.append(packet)
            self.answer(packet[0], packet[1])

    def answer(self, first, body):
        if first == CONNECT and self.connack is not None:
            self.inbox.append(bytes((0x20, 2, 0, self.connack)))
        elif first & 0xF0 == PUBLISH and first & 6 and self.puback:
            at = 2 + (body[0] << 8 | body[1])  # the packet id follows the topic
            self.inbox.append(b"\x40\x02" + body[at : at + 2])
        elif first == PINGREQ and self.pingresp:
            self.inbox.append(b"\xd0\x00")

    # The packets the client sent with this first byte (ignoring the flags when kind_only).
    def sent_of(self, first, kind_only=False):
        mask = 0xF0 if kind_only else 0xFF
        return [p for p in self.received if p[0] & mask == first]


class BrokerPoller(support.FakePoller):
    # Reports each live socket as the OS would; with nothing to report, the clock runs the wait.
    def __init__(self, clock, budget=20000):
        support.FakePoller.__init__(self)
        self.clock = clock
        self.socks = []
        self.budget = budget

    def wait(self, ms):
        events = []
        for sock in self.socks:
            if sock.closed:
                continue
            key = _port.key(sock)
            mask = self.masks.get(key, 0)
            if sock.mode == "refuse":
                flags = support.ERR | support.HUP
            elif sock.mode == "hang":
                flags = 0
            else:
                flags = (mask & support.IN if sock.inbox else 0) | (mask & support.OUT)
            if flags and mask:
                events.append((key, flags))
        self.budget -= 1
        if self.budget < 0:
            raise AssertionError("the loop ran on and on")
        if not events:
            if ms < 0:
                raise AssertionError("the loop would wait forever")
            self.clock.advance(ms)
        return events


class Client(mqtt_client.MqttClient):
    # An MqttClient on the harness's sockets, with no jitter; records what its hooks hear.
    def __init__(self, harness, **options):
        mqtt_client.MqttClient.__init__(self, "127.0.0.1", 1883, "dev", map=harness.map, **options)
        self.harness = harness
        self.jitter = lambda: 0.0
        self.events = []  # ("online", session present, tick) and ("offline", reason, delay, tick)

    def make_socket(self, link):
        sock = self.harness.new_socket()
        sock.setblocking(False)
        link.set_socket(sock)

    def handle_online(self, session_present):
        self.events.append(("online", session_present, self.harness.clock.now))

    def handle_offline(self, reason, delay):
        self.events.append(("offline", reason, delay, self.harness.clock.now))


class Harness:
    # setUp: a fake clock in place of ticks_ms, a map served by a BrokerPoller. Each connection
    # attempt takes the next BrokerSocket settings from self.plan (a dict each), or plain defaults.
    def setUp(self):
        self.clock = FakeClock()
        self.real_ticks = _port.ticks_ms
        _port.ticks_ms = self.clock
        self.map = support.fake_map()[0]
        self.poller = BrokerPoller(self.clock)
        support.poller(self.map).os = self.poller
        self.plan = []
        self.socks = self.poller.socks
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.stop()
        uasyncore.close_all(self.map)
        _port.ticks_ms = self.real_ticks

    def new_socket(self):
        sock = BrokerSocket(self.clock, **(self.plan.pop(0) if self.plan else {}))
        self.socks.append(sock)
        return sock

    def client(self, cls=Client, **options):
        c = cls(self, **options)
        self.clients.append(c)
        return c

    # Run the loop for `seconds` of fake time (not `run`: TestCase has that).
    def advance(self, seconds):
        end = _port.ticks_add(self.clock.now, int(seconds * 1000))
        while _port.ticks_diff(end, self.clock.now) > 0:
            p = support.poller(self.map)  # each pass: a loop lets go of the poller of a map left with nothing
            if not self.map and (p is None or not p.timers):
                self.clock.now = end
                break
            uasyncore.loop(timeout=_port.ticks_diff(end, self.clock.now) / 1000, map=self.map, count=1)

    # The ("offline", reason, delay, tick) events client c's hook heard.
    def offline(self, c):
        return [e for e in c.events if e[0] == "offline"]


# (dup flag, packet id, payload) of each QoS 1 PUBLISH a socket received; topics are one byte long.
def qos1_sent(sock):
    return [(first & 8, body[3] << 8 | body[4], body[5:]) for first, body in sock.sent_of(PUBLISH, True) if first & 2]


# The payloads of every PUBLISH a socket received.
def payloads(sock):
    return [m[3] for m in messages(sock)]


# (QoS, retain, topic, payload) of every PUBLISH a socket received.
def messages(sock):
    out = []
    for first, body in sock.sent_of(PUBLISH, True):
        n = 2 + (body[0] << 8 | body[1])
        out.append(((first >> 1) & 3, first & 1, body[2:n], body[n + 2 :] if first & 6 else body[n:]))
    return out
