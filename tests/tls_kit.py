# Channels and a test case for uasyncore_tls's portable tests (test_tls.py, test_tls_handshake.py):
# channels that log what the layer made happen to them, on a fake poller and fake SSL objects.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
import uasynchat
import uasyncore_tls
from support import IN, OUT
from tls_fakes import FakeContext, FakeOpenSSL, raw_socket, use_want_errors

_port = uasyncore._port

# n bytes that count up and wrap: the order of every byte can be checked.
def pattern(n):
    data = bytearray(n)
    for i in range(n):
        data[i] = i & 255
    return bytes(data)


class Log:
    # Mixed into channels under test: what the layer made happen to them.
    def init_log(self):
        self.log = []
        self.got = bytearray()

    def handle_tls_ready(self):
        self.log.append("ready")

    def handle_connect(self):
        self.log.append("connect")

    def handle_close(self):
        self.log.append("close")
        self.close()

    def handle_error(self):
        e = uasyncore.handled_error()
        self.log.append(("error", e.args[0] if isinstance(e, OSError) and e.args else type(e).__name__))
        self.close()

    def handle_accept_error(self):
        self.log.append(("refused", support.handled_errno()))


class Echo(Log, uasyncore.dispatcher_with_send):
    out_high = 4096
    out_low = 1024

    def __init__(self, sock=None, map=None):
        self.init_log()
        uasyncore.dispatcher_with_send.__init__(self, sock, map)

    def handle_read(self):
        self.log.append("read")
        data = self.recv(100)
        self.got.extend(data)

    def pause_writing(self):
        self.log.append("pause")
        uasyncore.dispatcher.pause_writing(self)

    def resume_writing(self):
        self.log.append("resume")
        uasyncore.dispatcher.resume_writing(self)


class Chat(Log, uasynchat.async_chat):
    def __init__(self, sock=None, map=None, context=None):
        self.init_log()
        self.context = context
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\r\n")
        self.line = []

    def collect_incoming_data(self, data):
        self.line.append(bytes(data))

    def found_terminator(self):
        line = b"".join(self.line)
        self.line = []
        self.log.append(line)
        if line == b"STARTTLS":
            self.push(b"OK\r\n")
            uasyncore_tls.start_tls(self, self.context, server_side=True)


# What uasyncore_tls believes a server's TLS connection costs on the GC heap (0: nothing checked).
def set_cost(n):
    uasyncore_tls._cost[0] = n


class TLSTestCase(unittest.TestCase):
    def setUp(self):
        self.m, self.fake = support.fake_map()
        self.addCleanup(support.forget_map, self.m)
        use_want_errors(self)
        self.addCleanup(set_cost, uasyncore_tls._cost[0])
        set_cost(0)  # no memory check unless a test sets a cost
        _port.collect()  # a board-sized heap: the 4 KB chunks these tests move need whole blocks

    def step(self, *events):
        self.fake.script.append(list(events))
        uasyncore.loop(timeout=0, count=1, map=self.m)

    # What the loop polls sock for, reading and writing (CPython adds POLLPRI to reading), once the
    # loop has read the interest that changed.
    def mask(self, sock):
        support.poller(self.m).refresh()
        return self.fake.mask(sock) & (IN | OUT)

    # A connected channel of cls with TLS started on a fake SSL object: (channel, SSL object).
    def start(self, sslobj, cls=Echo, server_side=True, **kw):
        ch = cls(raw_socket(), map=self.m)
        uasyncore_tls.start_tls(ch, FakeContext(sslobj), server_side=server_side, **kw)
        self.step()
        return ch, sslobj

    # An OpenSSL-like object whose handshake takes the given steps ("read", "write") and then ends.
    def openssl(self, *plan):
        s = FakeOpenSSL()
        s.handshake_plan = list(plan)
        return s

    # Finish a MicroPython-like server's handshake with the client's first bytes.
    def prove(self, ch, s, data=b"x"):
        s.inbox.append(data)
        self.step((s, IN))

    # End a server's handshake: OpenSSL's at its next step, mbedTLS's with a first byte.
    def ready(self, ch, s):
        if isinstance(s, FakeOpenSSL):
            self.step((s, IN))
        else:
            self.prove(ch, s)
        self.assertTrue(ch.socket.ready)
