# examples/control in process: each command and the device hooks, on fake sockets stepped one loop
# pass at a time. Bad commands and line framing are in test_control_lines.py, the connection's
# lifetime (QUIT, idle timeout, budget, flow control) in test_control_limits.py; both use ControlCase.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # first: it asserts we are testing lib/uasyncore.py

import gc
import sys
import unittest

import uasyncore

# examples/control holds the modules; MicroPython has no os.path, so the path is cut from this file's
_TESTS = __file__.replace("\\", "/").rpartition("/")[0] or "."
if _TESTS + "/../examples/control" not in sys.path:
    sys.path.append(_TESTS + "/../examples/control")

import control_device  # noqa: E402  (needs the sys.path entry above)
import control_service as cs  # noqa: E402

_port = uasyncore._port
PEER = (support.HOST, 40000)
TOKEN = b"s3cret-Token_42"  # the device's token in these tests


class FakeClock:
    # Stands in for the port's ticks_ms(); moves only when told to.
    def __init__(self):
        self.now = 1000000

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now = _port.ticks_add(self.now, int(seconds * 1000))


class ControlCase(unittest.TestCase):
    # Each test: a fake clock, a channel map served by a scripted FakePoller, a socketless server.
    def setUp(self):
        self.clock = FakeClock()
        self.real_ticks = _port.ticks_ms
        _port.ticks_ms = self.clock
        self.map, self.poller = support.fake_map()
        self.listen(cs.ControlServer(map=self.map, token=TOKEN))

    def tearDown(self):
        uasyncore.close_all(self.map)
        _port.ticks_ms = self.real_ticks

    # Make server the listener, on a fake socket that connect() hands each client.
    def listen(self, server):
        self.server = server
        self.listener = support.FakeSocket()
        server.set_socket(self.listener)
        server.listen(5)

    # Serve this device instead of the default one.
    def use_device(self, device):
        self.server.close()
        self.listen(cs.ControlServer(device, map=self.map, token=TOKEN))

    # A client the listener accepts; the banner is checked and taken off what it sent. auth: it gives
    # the token first (AUTH), its reply taken off too.
    def connect(self, send_plan=(), auth=True, peer=PEER):
        sock = support.FakeSocket(send_plan=send_plan, peer=peer)
        self.listener.accept_plan.append((sock, peer))
        self.server.handle_accept_event()
        conn = self.map[_port.key(sock)]
        self.assertEqual(bytes(sock.sent), cs.BANNER)
        sock.sent = bytearray()
        if auth:
            plan = sock.send_plan
            sock.send_plan = []
            self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\n"), [b"OK authenticated"])
            sock.send_plan = plan
            sock.sent = bytearray()
        return sock, conn

    # One loop pass in which the poller reports `flags` for sock (no events at all without sock).
    def step(self, sock=None, flags=support.IN):
        self.poller.script.append([(sock, flags)] if sock is not None else [])
        uasyncore.loop(timeout=0, count=1, map=self.map)

    # Deliver each chunk, stepping until it is read (a chunk over READ_SIZE takes several passes);
    # the reply lines sent meanwhile, their line ends checked.
    def feed(self, sock, *chunks):
        start = len(sock.sent)
        for c in chunks:
            sock.inbox.append(c)
            passes = 100
            while sock.inbox and passes:
                self.step(sock)
                passes -= 1
        return replies(sock.sent[start:])

    # One line on a fresh connection; its replies.
    def ask(self, line):
        sock, conn = self.connect()
        got = self.feed(sock, line)
        conn.close()
        return got


# What a server sent, as lines without their \r\n; every line must have one.
def replies(data):
    data = bytes(data)
    if data and not data.endswith(b"\r\n"):
        raise AssertionError("reply without its line end: %r" % data[-40:])
    return data.split(b"\r\n")[:-1]


##### the commands


class CommandTest(ControlCase):
    def test_banner_on_connect(self):
        sock = support.FakeSocket(peer=PEER)
        self.listener.accept_plan.append((sock, PEER))
        self.server.handle_accept_event()
        self.assertEqual(replies(sock.sent), [b"OK uasyncore control port ready; HELP lists the commands"])
        self.assertEqual(self.server.open_connections, 1)

    def test_help(self):
        got = self.ask(b"HELP\n")
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].startswith(b"OK commands: HELP, GET temp|humidity|uptime|mem, SET led on|off"))

    def test_get_each_reading(self):
        # the simulated readings at uptime 0 are fixed: 19.5 C, 48.8 %
        self.assertEqual(self.ask(b"GET temp\n"), [b"OK temp 19.5"])
        self.assertEqual(self.ask(b"GET humidity\n"), [b"OK humidity 48.8"])
        self.clock.advance(42.5)
        self.assertEqual(self.ask(b"GET uptime\n"), [b"OK uptime 42"])
        got = self.ask(b"GET mem\n")[0]
        if hasattr(gc, "mem_free"):
            self.assertTrue(got[7:].isdigit(), got)
        else:
            self.assertEqual(got, b"OK mem n/a")

    def test_command_words_are_case_insensitive(self):
        self.assertEqual(self.ask(b"get TEMP\n"), [b"OK temp 19.5"])
        self.assertEqual(self.ask(b"Set Led ON\n"), [b"OK led on"])
        self.assertEqual(self.ask(b"sEt InTeRvAl 7\n"), [b"OK interval 7"])
        self.assertEqual(self.ask(b"quit\n"), [b"OK bye"])

    def test_set_led(self):
        led = self.server.device.led
        self.assertEqual(self.ask(b"SET led on\n"), [b"OK led on"])
        self.assertEqual((self.server.device.led_on, led.value()), (True, 1))
        self.assertEqual(self.ask(b"SET led off\n"), [b"OK led off"])
        self.assertEqual((self.server.device.led_on, led.value()), (False, 0))

    def test_set_interval_moves_the_sampler(self):
        self.assertEqual(self.ask(b"SET interval 60\n"), [b"OK interval 60"])
        self.assertEqual(self.server.device.interval, 60)
        self.clock.advance(59)
        self.step()
        self.assertEqual(self.ask(b"GET temp\n"), [b"OK temp 19.5"], "not sampled yet")
        self.clock.advance(1)
        self.step()
        self.assertEqual(self.ask(b"GET temp\n"), [b"OK temp 20.5"], "sampled at 60 s")

    def test_interval_bounds(self):
        self.assertEqual(self.ask(b"SET interval 1\n"), [b"OK interval 1"])
        self.assertEqual(self.ask(b"SET interval 3600\n"), [b"OK interval 3600"])
        self.assertEqual(self.ask(b"SET interval 0010\n"), [b"OK interval 10"])

    def test_status(self):
        self.ask(b"SET led on\n")
        self.clock.advance(5)
        self.assertEqual(
            self.ask(b"STATUS\n")[0].rpartition(b" mem=")[0],
            b"OK led=on interval=10 uptime=5 temp=19.5 humidity=48.8",
        )
        self.assertTrue(self.ask(b"status\n")[0].endswith(b" clients=1/4"))

    def test_quit(self):
        self.assertEqual(self.ask(b"QUIT\n"), [b"OK bye"])


##### the device's hooks


class DeviceTest(unittest.TestCase):
    def test_no_pin_on_the_host(self):
        # CPython has no machine module, MicroPython's unix port a machine module without Pin
        self.assertIsNone(control_device.board_led("LED"))

    def test_led_hook_is_driven(self):
        writes = []

        class Pin:
            def value(self, v=None):
                writes.append(v)

        dev = control_device.Device(led=Pin())
        dev.set_led(True)
        dev.set_led(False)
        self.assertEqual(writes, [0, 1, 0])

    def test_readings_are_deterministic(self):
        f = control_device.simulated_sensors
        self.assertEqual(f(0), (19.5, 48.8))
        self.assertEqual(f(150), (22.0, 55.5))
        self.assertEqual(f(300), (24.5, 57.7))
        self.assertEqual(f(1800), (19.5, 48.8))
