# Edge cases a review of the core found, each failing before its fix: a slot policy asked in the
# millisecond a phase began, discard_buffers after a backlog, bad input refused at the call, a hook
# called from a timer that raises, phase deadlines without a budget, producer_fifo filled by hand,
# an old-style handle_accept, connect() with a bad address, pollers left behind, the resolver's
# channel failing, the DNS servers given by hand. Runs on CPython and MicroPython alike.
import support  # noqa: I001

import unittest

import uasyncore
import uasynchat
from support import IN, OUT, FakeSocket

PEER = ("127.0.0.1", 4000)


class Phased(uasyncore.dispatcher_with_send):
    phase_timeout = 5

    def handle_read(self):
        self.recv(4096)


class Listener(uasyncore.dispatcher):
    max_connections = 1
    slot_grace = 0

    def handle_accepted(self, sock, addr):
        self.last = Phased(sock, self._map)


class SlotGraceZero(unittest.TestCase):
    def test_phase_begun_this_ms_does_not_stall_the_listener(self):
        support.use_clock(self)
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        lsock = FakeSocket()
        listener = Listener(lsock, m)
        listener.listen(5)
        a = FakeSocket(peer=PEER, inbox=[b"GET"])
        lsock.accept_plan.append((a, PEER))
        fake.script.append([(lsock, IN)])
        uasyncore.loop(timeout=0, count=1, map=m)
        b = FakeSocket(peer=PEER)
        lsock.accept_plan.append((b, PEER))
        fake.script.append([(lsock, IN), (a, IN)])  # a's phase begins in the pass that hears b
        uasyncore.loop(timeout=0, count=1, map=m)
        # the room check must either free a slot or be asked again
        self.assertTrue(not listener.clients_waiting or listener._room_timer is not None)


class Chat(uasynchat.async_chat):
    out_high = 8
    out_low = 2

    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


class DiscardBuffers(unittest.TestCase):
    def test_discard_buffers_after_a_backlog_resumes_reading(self):
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        sock = FakeSocket(peer=PEER, send_plan=[0])
        c = Chat(sock, m)
        c.set_terminator(b"\n")
        c.push(b"0123456789")  # over out_high: pause_writing() pauses reading
        self.assertTrue(c._reading_paused)
        c.discard_buffers()
        c.push(b"ok")  # sent at once: nothing queued
        uasyncore.loop(timeout=0, count=1, map=m)
        self.assertFalse(c._reading_paused, "reading stays paused with nothing queued")


class BadInput(unittest.TestCase):
    def test_call_at_with_a_non_tick_is_refused_at_the_call(self):
        m = {}
        self.addCleanup(uasyncore.close_all, m)
        try:
            uasyncore.call_at("soon", print, map=m)
        except TypeError:
            return
        # accepted: every loop() now raises
        for _ in range(2):
            with self.assertRaises(TypeError):
                uasyncore.loop(timeout=0, count=1, map=m)
        self.fail("call_at('soon') accepted; loop() raised TypeError at every pass")

    def test_resolve_of_a_host_that_is_not_a_str_is_refused_at_the_call(self):
        got = []
        for host in (None, 123):
            with self.assertRaises(TypeError):
                uasyncore.resolve(host, lambda ip, err: got.append((ip, err)))
        self.assertEqual(got, [])

    def test_an_unknown_name_is_uasyncore_s_own_attribute_error(self):
        with self.assertRaises(AttributeError) as cm:
            uasyncore.dispatcher_with_sned
        self.assertIn("module 'uasyncore'", str(cm.exception))

    def test_a_connect_to_a_malformed_address_raises_once_and_is_not_reported_again(self):
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        errors = []

        class C(uasyncore.dispatcher):
            def handle_error(self):
                errors.append(uasyncore.handled_error())
                self.close()

        for address in (("localhost",), ("localhost", "http")):
            c = C(FakeSocket(), m)
            with self.assertRaises(TypeError):
                c.connect(address)
            self.assertFalse(c.connecting)
        fake.script.append([(s, OUT | support.HUP) for s in [d.socket for d in m.values()]])
        uasyncore.loop(timeout=0, count=1, map=m)
        self.assertEqual(errors, [])


class IdleHookRaises(unittest.TestCase):
    def test_handle_idle_that_raises_reaches_handle_error(self):
        clock = support.use_clock(self)
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        errors = []

        class C(uasyncore.dispatcher):
            idle_timeout = 1

            def writable(self):
                return False

            def handle_idle(self):
                raise RuntimeError("bug")

            def handle_error(self):
                errors.append(uasyncore.handled_error())
                self.close()

        c = C(FakeSocket(peer=PEER), m)
        clock.advance(2)
        uasyncore.loop(timeout=0, count=1, map=m)
        self.assertEqual(len(errors), 1, "handle_error not called; channel open: %s" % (c._fileno in m,))


class PhaseWithoutBudget(unittest.TestCase):
    def test_phase_timeout_without_a_budget(self):
        clock = support.use_clock(self)
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        timeouts = []

        class H(uasyncore.dispatcher):
            phase_timeout = 1

            def writable(self):
                return False

            def handle_read(self):
                self.recv(100)

            def handle_phase_timeout(self):
                timeouts.append(1)
                self.close()

        class L(uasyncore.dispatcher):  # max_connections: the port's default (None on hosts)
            def handle_accepted(self, sock, addr):
                H(sock, self._map)

        lsock = FakeSocket()
        L(lsock, m).listen(5)
        a = FakeSocket(peer=PEER, inbox=[b"GE", b"T"])
        lsock.accept_plan.append((a, PEER))
        fake.script.append([(lsock, IN)])
        uasyncore.loop(timeout=0, count=1, map=m)
        fake.script.append([(a, IN)])
        uasyncore.loop(timeout=0, count=1, map=m)
        clock.advance(5)
        fake.script.append([(a, IN)])
        uasyncore.loop(timeout=0, count=1, map=m)
        self.assertEqual(timeouts, [1], "5 s into a 1 s phase, max_connections %r" % (uasyncore.dispatcher.max_connections,))


class FifoByHand(unittest.TestCase):
    def test_producer_fifo_filled_by_hand_then_initiate_send(self):
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        sock = FakeSocket(peer=PEER, send_plan=[10])
        c = Chat(sock, m)
        c.set_terminator(b"\n")
        uasyncore.loop(timeout=0, count=1, map=m)  # registered: reading only
        c.producer_fifo.append(b"x" * 100)  # asynchat's public queue, filled by hand (a timer, say)
        c.initiate_send()
        for _ in range(5):
            fake.script.append([(sock, OUT)])
            uasyncore.loop(timeout=0, count=1, map=m)
        self.assertEqual(len(sock.sent), 100, "sent %d of 100; polled mask %d" % (len(sock.sent), fake.mask(sock)))


class OldStyleAcceptTest(unittest.TestCase):
    def test_a_handle_accept_that_unpacks_accept_gets_one_call_per_event(self):
        # asyncore's old style: conn, addr = self.accept(), which is None once the backlog is empty
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        served = []

        class Old(uasyncore.dispatcher):
            def handle_accept(self):
                conn, addr = self.accept()
                served.append(uasyncore.dispatcher(conn, map=m))

        lsock = FakeSocket()
        listener = Old(lsock, m)
        listener.listen(5)
        for _ in range(2):
            lsock.accept_plan.append((FakeSocket(peer=PEER), PEER))
            fake.script.append([(lsock, IN)])
            uasyncore.loop(timeout=0, count=1, map=m)
        self.assertTrue(listener.accepting, "the listener is open")
        self.assertEqual(len(served), 2)


class PollerReleaseTest(unittest.TestCase):
    def test_poll_of_a_map_with_nothing_to_serve_leaves_no_poller(self):
        m = {}
        uasyncore.poll(0, m)
        self.assertIsNone(support.poller(m))
        t = uasyncore.call_later(10, print, map=m)
        uasyncore.poll(0, m)
        self.assertIsNotNone(support.poller(m), "a timer to come keeps it")
        t.cancel()
        uasyncore.poll(0, m)
        self.assertIsNone(support.poller(m))
