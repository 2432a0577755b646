# Bytes end to end under injected faults: echo servers on dispatcher_with_send and async_chat whose
# sockets move one byte at a time or random amounts, say EAGAIN at random, reset half way or hang up
# with data pending. Nothing may be lost, duplicated or reordered, and no socket may be left open.
# The servers and FaultCase are in tests/test_faults.py, the fault layer in tests/faults.py.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

from test_faults import ChatEcho, FaultCase, SendEcho, chat_stream


class Integrity:
    # Mixin: the cases, for whichever echo channel `make` and data `stream(rng, size)` the class gives.
    def run_echo(self, n, size, pace=1, **faults):
        listener = self.listen(self.make, conn=faults)
        peers = [self.connect(listener, self.stream(self.rng, size), pace=pace) for _ in range(n)]
        self.assertTrue(self.run_peers(peers), "the echo did not finish in time")
        for d in listener.served:
            self.assertEqual(d.errors, [])
        for p in peers:
            self.assertIntact(p)
        self.assertEqual(self.map, {listener._fileno: listener})
        self.assertNoLeaks()
        return listener

    def test_one_byte_at_a_time(self):
        self.run_echo(2, 300, io=1)

    def test_random_sizes(self):
        self.run_echo(3, 600, io=97, jitter=True)

    def test_eagain_on_sends(self):
        self.run_echo(3, 400, io=13, jitter=True, send_eagain=40)

    def test_eagain_everywhere(self):
        self.run_echo(3, 400, io=13, jitter=True, eagain=30)

    def test_one_byte_and_eagain(self):
        self.run_echo(2, 200, io=1, eagain=30)

    def test_spurious_readiness(self):
        self.poller.spurious = 30  # said readable with nothing there: recv() gets EAGAIN
        listener = self.run_echo(2, 300, pace=4, io=50, jitter=True)
        self.assertGreater(sum(d.socket.idle_reads for d in listener.served), 0)

    def test_reset_mid_stream(self):
        listener = self.listen(self.make, conn={"io": 7, "jitter": True, "reset_after": 150})
        peers = [self.connect(listener, self.stream(self.rng, 400)) for _ in range(3)]
        self.assertTrue(self.run_peers(peers))
        for p, d in zip(peers, listener.served):
            self.assertPrefix(p)
            self.assertLess(len(p.echoed()), len(p.data), "the reset cut the stream short")
            self.assertEqual(d.errors, [], "a reset is a close, not an error")
        self.assertNoLeaks()

    def test_hangup_with_data_pending_reads_it_all(self):
        self.poller.hup = True
        listener = self.listen(self.make, conn={"io": 11, "jitter": True, "send_eagain": 50})
        peers = [self.connect(listener, self.stream(self.rng, 400), hangup=True) for _ in range(3)]
        self.assertTrue(self.run_peers(peers))
        for p, d in zip(peers, listener.served):
            self.assertPrefix(p)
            self.assertEqual(d.errors, [])
            self.assertTrue(bytes(d.got) == p.data, "every byte before the hang-up is read")
        self.assertNoLeaks()


def plain_stream(rng, size):
    return rng.bytes(size)


class SendEchoTest(Integrity, FaultCase):
    make = SendEcho
    stream = staticmethod(plain_stream)

    def test_eagain_everywhere(self):
        Integrity.test_eagain_everywhere(self)

    def test_one_byte_and_eagain(self):
        Integrity.test_one_byte_and_eagain(self)

    def test_spurious_readiness(self):
        Integrity.test_spurious_readiness(self)


class ChatEchoTest(Integrity, FaultCase):
    make = ChatEcho

    def stream(self, rng, size):
        return chat_stream(rng, size // 40)


if __name__ == "__main__":
    unittest.main()
