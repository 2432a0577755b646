# Helpers for tests/test_dispatcher.py: recording channels, fake-polled maps, a counting poller.
#
# The test module imports support (hence uasyncore) first and this afterwards, so MicroPython
# compiles each piece on its own (a module is compiled whole; uasyncore takes most of a 128 KiB heap).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
from support import HOST, FakeSocket
from recorder import Recorder  # noqa: F401  (also for the test modules)

_port = uasyncore._port
PEER = (HOST, 4321)


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
