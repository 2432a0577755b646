# Fakes and a TestCase base for the examples/http tests (tests/test_http_*.py): a fake clock, a poller
# that reports fake sockets as the OS would, and a parser for what the server sent.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # first: it asserts we are testing lib/uasyncore.py

import sys
import unittest

import uasyncore

# examples/http holds the module; MicroPython has no os.path, so the path is cut from this file's own
_TESTS = __file__.replace("\\", "/").rpartition("/")[0] or "."
EXAMPLE_DIR = _TESTS + "/../examples/http"
if EXAMPLE_DIR not in sys.path:
    sys.path.append(EXAMPLE_DIR)

import http_service  # noqa: E402  (needs the sys.path entry above)

_port = uasyncore._port
IN = support.IN
OUT = support.OUT
PEER = ("127.0.0.1", 40000)


##### fakes


class FakeClock:
    # Stands in for the port's ticks_ms(); moves only when told to.
    def __init__(self):
        self.now = 5000000

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now = _port.ticks_add(self.now, int(seconds * 1000))


class LivePoller(support.FakePoller):
    # Reports fake sockets as an OS poller would: readable while input waits, writable always.
    def __init__(self):
        support.FakePoller.__init__(self)
        self.socks = []

    def wait(self, ms):
        events = []
        for sock in self.socks:
            mask = self.mask(sock)
            flags = (mask & IN if sock.inbox else 0) | (mask & OUT)
            if flags:
                events.append((_port.key(sock), flags))
        return events


class ShutdownSocket(support.FakeSocket):
    # A fake socket that can shut down its sending side, as CPython's can.
    shut = None

    def shutdown(self, how):
        self.shut = how


# Split what a server sent into (status, headers, body) triples; head_only: which carry no body.
def parse_responses(data, head_only=()):
    data = bytes(data)
    out = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("incomplete head: %r" % head)
        lines = head.split(b"\r\n")
        version, status, _ = lines[0].split(b" ", 2)
        if version != b"HTTP/1.1":
            raise AssertionError("bad status line %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode()] = value.strip().decode()
        n = 0 if len(out) in head_only else int(headers["content-length"])
        if len(data) < n:
            raise AssertionError("short body")
        out.append((int(status), headers, data[:n]))
        data = data[n:]
    return out


class HttpTestCase(unittest.TestCase):
    # Each test: a fake clock, a channel map served by a LivePoller, and a socketless HttpServer.
    def setUp(self):
        self.clock = FakeClock()
        self.real_ticks = _port.ticks_ms
        _port.ticks_ms = self.clock
        self.map, fake = support.fake_map()
        self.poller = LivePoller()
        support.poller(self.map).os = self.poller
        self.server = http_service.HttpServer(map=self.map)
        self.listener = support.FakeSocket()  # never reported ready: connect() hands it each client
        self.server.set_socket(self.listener)
        self.server.listen(5)

    def tearDown(self):
        uasyncore.close_all(self.map)
        _port.ticks_ms = self.real_ticks

    # A client the listener accepts, on a fake socket whose recv() hands out `chunks` one at a time.
    def connect(self, *chunks, sock_class=support.FakeSocket, send_plan=()):
        sock = sock_class(inbox=chunks, send_plan=send_plan, peer=PEER)
        self.poller.socks.append(sock)
        self.listener.accept_plan.append((sock, PEER))
        self.server.handle_accept_event()
        return sock, self.map[_port.key(sock)]

    # Loop passes (fake poller: nothing ever blocks).
    def run_loop(self, passes=20):
        uasyncore.loop(timeout=0, map=self.map, count=passes)

    # Send `request` on a fresh connection and return (responses, socket, connection).
    def exchange(self, *chunks, head_only=()):
        sock, conn = self.connect(*chunks)
        self.run_loop(len(chunks) + 20)
        return parse_responses(sock.sent, head_only), sock, conn

    def assertStatus(self, request, status, closes=True):
        got, sock, conn = self.exchange(request)
        self.assertEqual([r[0] for r in got], [status], request)
        self.assertEqual(sock.closed, closes, request)
        self.assertEqual(got[0][1]["connection"], "close" if closes else "keep-alive", request)
        conn.close()  # kept-alive connections would use up the budget
        return got[0]


GET = b"GET %s HTTP/1.1\r\nHost: device\r\n\r\n"
