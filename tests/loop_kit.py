# Loop test helpers: a poller that logs registrations, recording channels, the base TestCase.
#
# Imported by tests/test_loop.py after support, so MicroPython compiles it once uasyncore is loaded
# (a module is compiled whole, and uasyncore alone takes most of a 128 KiB heap to compile).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
from recorder import Recorder  # noqa: F401  (also for the test modules)

_port = uasyncore._port
key = _port.key

IN = uasyncore.POLLIN
OUT = uasyncore.POLLOUT
READ = uasyncore.POLLIN | uasyncore.POLLPRI  # what a readable channel is polled for
HANGUP = uasyncore.POLLHUP  # the peer hung up and nothing is left to read: handle_close()
PEER = ("10.0.0.2", 4321)


# A FakePoller (which logs every register/modify/unregister) that also keeps what was registered at each wait.
class LoggingPoller(support.FakePoller):
    log_calls = True

    def __init__(self):
        super().__init__()
        self.at_wait = []  # a copy of the registrations at each wait()

    def wait(self, ms):
        self.at_wait.append(dict(self.masks))
        return support.FakePoller.wait(self, ms)

    # The calls made since the last take().
    def take(self):
        calls = self.calls
        self.calls = []
        return calls


# A Recorder whose interest the test sets, and which counts how often the loop asks for it.
class Chooser(Recorder):
    want_read = True
    want_write = False

    def __init__(self, sock=None, map=None):
        self.asked = 0
        Recorder.__init__(self, sock, map)

    def readable(self):
        self.asked += 1
        return self.want_read

    def writable(self):
        return self.want_write


# Not a dispatcher: the least an asyncore program's hand-made map entry provides.
class HandMade:
    accepting = False

    def __init__(self, wants_write=False):
        self.wants_write = wants_write
        self.events = []

    def readable(self):
        return True

    def writable(self):
        return self.wants_write

    def handle_read_event(self):
        self.events.append("read")

    def handle_write_event(self):
        self.events.append("write")

    def handle_expt_event(self):
        self.events.append("expt")

    def handle_close(self):
        self.events.append("close")

    def handle_error(self):
        self.events.append("error")


def fake_socket():
    return support.FakeSocket(peer=PEER)


class LoopTestCase(unittest.TestCase):
    # A fresh channel map served by a LoggingPoller: (map, poller).
    def map(self):
        m, fake = support.fake_map(LoggingPoller())
        self.addCleanup(support.forget_map, m)
        return m, fake

    def poll(self, m, passes=1):
        for _ in range(passes):
            uasyncore.poll(0, map=m)
