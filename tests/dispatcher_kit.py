# Helpers for tests/test_dispatcher.py: recording channels, fake-polled maps, a counting poller.
#
# The test module imports support (hence uasyncore) first and this afterwards, so MicroPython
# compiles each piece on its own (a module is compiled whole; uasyncore takes most of a 128 KiB heap).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
from support import HOST, FakeSocket

_port = uasyncore._port
PEER = (HOST, 4321)


class Recorder(uasyncore.dispatcher):
    # Records its callbacks and log lines; leaves readable()/writable() alone (a "plain" channel).
    def __init__(self, sock=None, map=None):
        self.events = []
        self.logged = []
        uasyncore.dispatcher.__init__(self, sock, map)

    def log_info(self, message, type="info"):
        self.logged.append((type, message))

    def handle_connect(self):
        self.events.append(("connect", self.connected))

    def handle_read(self):
        self.events.append("read")

    def handle_write(self):
        self.events.append("write")

    def handle_close(self):
        self.events.append("close")
        self.close()

    def handle_error(self):
        self.events.append("error")
        uasyncore.dispatcher.handle_error(self)  # the default: log, then handle_close


# A channel on a FakeSocket that is not connected yet.
def unconnected(m, sock=None, cls=Recorder):
    d = cls(map=m)
    d.set_socket(FakeSocket() if sock is None else sock)
    return d


# A channel on a FakeSocket that is connected (the dispatcher sees a peer).
def connected(m, sock=None, cls=Recorder):
    return cls(FakeSocket(peer=PEER) if sock is None else sock, map=m)


# One loop pass in which the fake poller reports `events`, (socket, flags) pairs.
def step(m, fake, *events):
    fake.script.append(list(events))
    uasyncore.loop(timeout=0, count=1, map=m)


# A FakePoller that logs every register/modify/unregister call.
class CountingPoller(support.FakePoller):
    log_calls = True


class FakeTestCase(unittest.TestCase):
    # A fresh fake-polled map per test (self.m, served by self.fake), emptied afterwards.
    def setUp(self):
        self.m, self.fake = support.fake_map()

    def tearDown(self):
        uasyncore.close_all(self.m)


class CountingTestCase(FakeTestCase):
    # FakeTestCase with a CountingPoller.
    def setUp(self):
        self.m, _ = support.fake_map()
        self.fake = uasyncore._poller(self.m).os = CountingPoller()


class RealTestCase(unittest.TestCase):
    # A fresh map for real loopback sockets (self.m), emptied afterwards.
    def setUp(self):
        self.m = {}

    def tearDown(self):
        uasyncore.close_all(self.m)
