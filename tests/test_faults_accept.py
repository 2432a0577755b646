# A listener under accept() failures: EMFILE and ENFILE pause it and it comes back, ECONNABORTED and
# EAGAIN are shrugged off, and every client behind the failures is still served, byte for byte.
# The servers and FaultCase are in tests/test_faults.py, the fault layer in tests/faults.py. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
from faults import ECONNABORTED, EMFILE, ENFILE
from support import FakeSocket
from test_faults import ChatEcho, FaultCase, Listener, SendEcho, chat_stream


class AcceptFailureTest(FaultCase):
    def serve(self, listener, n, make_data, passes=5000):
        peers = [self.connect(listener, make_data()) for _ in range(n)]
        self.assertTrue(self.run_peers(peers, passes), "the clients were not all served in time")
        for p in peers:
            self.assertIntact(p)
        return peers

    def test_emfile_pauses_the_listener_then_it_serves(self):
        listener = self.listen(SendEcho, accept_errors=[EMFILE])
        peer = self.connect(listener, self.rng.bytes(100))
        uasyncore.loop(timeout=0, count=2, map=self.map)
        self.assertEqual(self.poller.mask(listener.socket), 0, "paused: not polled")
        self.assertIn(listener, self.map.values())
        self.assertEqual(listener.served, [])
        self.clock.advance(uasyncore.ACCEPT_BACKOFF)
        self.assertTrue(self.run_peers([peer]))
        self.assertIntact(peer)
        self.assertEqual([t for t, m in listener.logged if "pausing" in m], ["warning"])
        self.assertNoLeaks()

    def test_each_failure_then_every_client_served(self):
        errors = [EMFILE, None, ECONNABORTED, ENFILE, None, None, ECONNABORTED, ECONNABORTED, EMFILE]
        listener = self.listen(ChatEcho, accept_errors=errors, conn={"io": 9, "jitter": True})
        self.serve(listener, 6, lambda: chat_stream(self.rng, 8))
        self.assertEqual(listener.socket.accept_errors, [], "every failure was met")
        self.assertEqual(len(listener.served), 6)
        self.assertEqual(listener.errors, [])
        self.assertTrue(listener.accepting)
        self.assertNoLeaks()

    def test_random_failures_and_eagain(self):
        choices = (EMFILE, ENFILE, ECONNABORTED, None, None, None)
        errors = [choices[self.rng.int(0, 5)] for _ in range(20)]
        listener = self.listen(SendEcho, accept_errors=errors, eagain=40, conn={"io": 31, "jitter": True})
        self.serve(listener, 5, lambda: self.rng.bytes(self.rng.int(1, 300)), passes=20000)
        self.serve(listener, 3, lambda: self.rng.bytes(50), passes=20000)  # and the next ones too
        self.assertEqual(listener.errors, [])
        self.assertNoLeaks()

    def test_a_budget_listener_under_failures(self):
        class Budget(Listener):
            max_connections = 2

        listener = self.listen(SendEcho, Budget, accept_errors=[ENFILE, ECONNABORTED, None, EMFILE])
        peers = self.serve(listener, 5, lambda: self.rng.bytes(120))
        self.assertEqual(len(listener.served), len(peers))
        self.assertEqual(listener.open_connections, 0)
        self.assertNoLeaks()


class Guarded(Listener):
    max_connections = 1

    def handle_accepted(self, sock, addr):
        try:
            self.served.append(self.make(sock, self._map))
        except Exception:  # noqa: BLE001  (its own guard: the core would also rest the listener after a MemoryError)
            sock.close()


class IdleEcho(SendEcho):
    idle_timeout = 30


class SetupFailureTest(FaultCase):
    def test_a_channel_that_fails_to_start_gives_its_slot_back(self):
        listener = Guarded(FakeSocket(), IdleEcho, self.map)
        bad = FakeSocket(peer=(support.HOST, 1))
        good = FakeSocket(peer=(support.HOST, 2))
        listener.socket.accept_plan = [(bad, None), (good, None)]
        real = uasyncore.Timer

        def no_memory(*args, **kwargs):
            uasyncore.Timer = real
            raise MemoryError("fault: no heap for the idle timer")

        uasyncore.Timer = no_memory
        self.addCleanup(setattr, uasyncore, "Timer", real)
        uasyncore.readwrite(listener, support.IN)
        self.assertTrue(bad.closed)
        self.assertEqual([d for d in self.map.values() if d.socket.closed], [], "no channel on a closed socket")
        self.assertEqual(listener.open_connections, len(listener.served))
        self.assertEqual(len(listener.served), 1, "the next client is accepted")


if __name__ == "__main__":
    unittest.main()
