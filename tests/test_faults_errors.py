# Exceptions and memory failures inside the loop: a handler that raises (RuntimeError, MemoryError,
# a producer's more()) is reported once through handle_error and closes its own channel only; a
# registration the heap cannot make closes that channel; the other clients keep their bytes and the
# listener keeps serving. The servers and FaultCase are in tests/test_faults.py, the fault layer in tests/faults.py.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import sys
import unittest

import uasynchat
import uasyncore
from faults import EMFILE
from test_faults import ChatEcho, FaultCase, SendEcho, chat_stream


class Planted:
    # Makes the n-th channel a listener accepts fail with `boom` after `at` bytes; the rest are fine.
    def __init__(self, cls, n, boom, at=40):
        self.cls = cls
        self.n = n
        self.boom = boom
        self.at = at
        self.made = 0

    def __call__(self, sock, map):
        d = self.cls(sock, map)
        self.made += 1
        if self.made == self.n:
            d.boom = self.boom
            d.boom_at = self.at
        return d


class HandlerErrorTest(FaultCase):
    def check(self, cls, boom, name, **faults):
        make = Planted(cls, 2, boom)
        listener = self.listen(make, conn=faults)
        peers = [self.connect(listener, chat_stream(self.rng, 10)) for _ in range(3)]
        self.assertTrue(self.run_peers(peers))
        bad = listener.served[1]
        self.assertEqual(bad.errors, [name], "reported once, through handle_error")
        self.assertTrue(bad.socket.closed)
        self.assertPrefix(peers[1])
        self.assertLess(len(peers[1].echoed()), len(peers[1].data))
        for i in (0, 2):
            self.assertEqual(listener.served[i].errors, [], listener.served[i].logged)
            self.assertIntact(peers[i])
        self.assertEqual(listener.errors, [])
        later = self.connect(listener, chat_stream(self.rng, 5))  # the loop and the listener go on
        self.assertTrue(self.run_peers([later]))
        self.assertIntact(later)
        self.assertNoLeaks()

    def test_runtime_error_in_dispatcher_with_send(self):
        self.check(SendEcho, RuntimeError("fault: handler"), "RuntimeError", io=17, jitter=True)

    def test_runtime_error_in_async_chat(self):
        self.check(ChatEcho, RuntimeError("fault: handler"), "RuntimeError", io=5, jitter=True)

    def test_memory_error_in_dispatcher_with_send(self):
        self.check(SendEcho, MemoryError("fault: handler"), "MemoryError", send_eagain=30)

    def test_memory_error_in_async_chat(self):
        self.check(ChatEcho, MemoryError("fault: handler"), "MemoryError", send_eagain=30)

    def test_too_little_memory_even_to_report_still_closes(self):
        class Broke(ChatEcho):
            def handle_error(self):
                ChatEcho.handle_error(self)  # counts it first
                raise MemoryError("fault: handle_error")

        make = Planted(Broke, 1, MemoryError("fault: handler"))
        listener = self.listen(make)
        peers = [self.connect(listener, chat_stream(self.rng, 10)) for _ in range(2)]
        self.assertTrue(self.run_peers(peers))
        self.assertEqual(listener.served[0].errors, ["MemoryError"])
        self.assertPrefix(peers[0])
        self.assertIntact(peers[1])
        self.assertNoLeaks()

    def test_a_producer_that_raises(self):
        class Failing:
            def more(self):
                raise ValueError("fault: producer")

        class Producing(ChatEcho):
            def found_terminator(self):
                if len(self.got) > 30 and self is listener.served[0]:
                    self.push_with_producer(Failing())
                ChatEcho.found_terminator(self)

        listener = self.listen(Producing, conn={"io": 3})
        peers = [self.connect(listener, chat_stream(self.rng, 10)) for _ in range(2)]
        self.assertTrue(self.run_peers(peers))
        self.assertEqual(listener.served[0].errors, ["ValueError"])
        self.assertTrue(listener.served[0].socket.closed)
        self.assertIntact(peers[1])
        self.assertNoLeaks()


class RegisterFailureTest(FaultCase):
    def test_a_channel_the_poller_cannot_take_is_closed(self):
        listener = self.listen(ChatEcho, conn={"io": 17, "jitter": True})
        uasyncore.loop(timeout=0, count=1, map=self.map)  # the listener is registered
        self.poller.fail_register = 40
        peers = [self.connect(listener, chat_stream(self.rng, 6)) for _ in range(8)]
        self.assertTrue(self.run_peers(peers))
        self.poller.fail_register = 0
        self.assertGreater(self.poller.failed, 0)
        failed = [d for d in listener.served if ("error", "out of memory") in [(t, m[:13]) for t, m in d.logged]]
        self.assertEqual(len(failed), self.poller.failed, "each failure closed its channel")
        for p, d in zip(peers, listener.served):
            if d in failed:
                self.assertEqual(p.echoed(), b"")
            else:
                self.assertIntact(p)
            self.assertEqual(d.errors, [])
        later = self.connect(listener, b"still here\n")
        self.assertTrue(self.run_peers([later]))
        self.assertIntact(later)
        self.assertNoLeaks()

    def test_a_listener_that_cannot_be_registered_again_is_not_lost(self):
        listener = self.listen(SendEcho, accept_errors=[EMFILE])
        peer = self.connect(listener, b"x" * 10)
        uasyncore.loop(timeout=0, count=2, map=self.map)  # EMFILE: paused, unregistered
        self.poller.fail_register = 100
        self.clock.advance(uasyncore.ACCEPT_BACKOFF)
        uasyncore.loop(timeout=0, count=2, map=self.map)
        self.poller.fail_register = 0
        self.assertTrue(listener.accepting, "the listener survives a failed registration")
        self.clock.advance(uasyncore.ACCEPT_BACKOFF)
        self.assertTrue(self.run_peers([peer], passes=500))
        self.assertIntact(peer)


class BoardSys:
    # The sys module of a board build: MicroPython leaves out sys.exc_info() unless a port adds it.
    stderr = sys.stderr


class Logged(uasyncore.dispatcher):
    # A channel without a socket whose handle_read fails; it keeps what the default handle_error logs.
    def __init__(self, boom):
        uasyncore.dispatcher.__init__(self, map={})
        self.boom = boom
        self.logged = []

    def handle_read(self):
        raise self.boom

    def log_info(self, message, type="info"):
        self.logged.append((type, message))


class NestedExceptTest(unittest.TestCase):
    # Where sys.exc_info() exists, compact_traceback() reports the exception of the innermost except
    # block, as CPython's asyncore did: a handle_error() that catches one of its own sees that one.
    def test_compact_traceback_in_an_except_inside_handle_error(self):
        if not hasattr(sys, "exc_info"):
            self.skipTest("no sys.exc_info() on this build")
        seen = []

        class Nested(Logged):
            def handle_error(self):
                seen.append(uasyncore.handled_error())
                try:
                    raise KeyError("inner")
                except KeyError:
                    seen.append(uasyncore.compact_traceback()[1])

        uasyncore.readwrite(Nested(ValueError("outer")), uasyncore.POLLIN)
        self.assertEqual([type(e) if isinstance(e, Exception) else e for e in seen], [ValueError, KeyError])


class NoExcInfoTest(unittest.TestCase):
    # handle_error() and compact_traceback() name the failing exception without sys.exc_info().
    def setUp(self):
        uasyncore.sys = BoardSys

    def tearDown(self):
        uasyncore.sys = sys

    def test_the_default_handle_error_reports_the_exception(self):
        d = Logged(ValueError("fault: no exc_info"))
        uasyncore.readwrite(d, uasyncore.POLLIN)
        self.assertEqual(len(d.logged), 2, d.logged)  # the error, then the close it causes
        kind, message = d.logged[0]
        self.assertEqual(kind, "error")
        self.assertIn("ValueError", message)
        self.assertIn("fault: no exc_info", message)
        self.assertIn("handle_read", message)

    def test_compact_traceback_inside_handle_error(self):
        seen = []

        class Reporting(Logged):
            def handle_error(self):
                seen.append(uasyncore.compact_traceback()[1:3])

        boom = OSError(5, "fault: io")
        uasyncore.readwrite(Reporting(boom), uasyncore.POLLIN)
        uasyncore.read(Reporting(boom))
        self.assertEqual(seen, [(OSError, boom), (OSError, boom)])
        self.assertRaises(AssertionError, uasyncore.compact_traceback)  # nothing is being handled

    def test_handled_error_is_the_exception(self):
        seen = []

        class Reporting(Logged):
            def handle_error(self):
                seen.append(uasyncore.handled_error())

        boom = ValueError("fault: handled")
        uasyncore.readwrite(Reporting(boom), uasyncore.POLLIN)
        self.assertEqual(seen, [boom])
        self.assertIsNone(uasyncore.handled_error())

    def test_async_chat_reports_a_failed_read(self):
        class Chat(uasynchat.async_chat):
            def recv(self, size):
                raise OSError(5, "fault: recv")

            def log_info(self, message, type="info"):
                logged.append((type, message))

        logged = []
        chat = Chat(map={})
        uasyncore.read(chat)  # a read event, as the loop delivers it
        self.assertEqual(logged[0][0], "error")
        self.assertIn("fault: recv", logged[0][1])


if __name__ == "__main__":
    unittest.main()
