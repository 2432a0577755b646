# A listener at its budget with a client waiting takes a slot back (dispatcher.make_room(), the policy
# in uasyncore_slots): which connection gives it, when, and what a service can change. The phases the
# policy judges by (end_phase(), phase_timeout). Fake sockets, a fake poller and a fake clock.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import sys
import unittest

import uasyncore
import uasyncore_slots
from support import IN, OUT, FakeSocket

PEER = ("127.0.0.1", 4000)
GRACE = uasyncore_slots.GRACE
key = uasyncore._port.key


class Plain(uasyncore.dispatcher_with_send):
    # A protocol without phases (echo): its first phase lasts until its first byte.
    evicted = 0

    def handle_read(self):
        self.data = self.recv(4096)

    def handle_evict(self):
        self.evicted += 1
        self.close()


class Phased(Plain):
    # A protocol with phases: each line is one, ended at its line end.
    phase_timeout = 5
    timed_out = 0

    def handle_read(self):
        data = self.recv(4096)
        if data.endswith(b"\n"):
            self.end_phase()

    def handle_phase_timeout(self):
        self.timed_out += 1
        self.close()


class Listener(uasyncore.dispatcher):
    max_connections = 2

    def __init__(self, sock, map, handler):
        uasyncore.dispatcher.__init__(self, sock, map)
        self.handler = handler
        self.served = []

    def handle_accepted(self, sock, addr):
        self.served.append(self.handler(sock, self._map))


class SlotsCase(unittest.TestCase):
    handler = Plain

    def setUp(self):
        self.clock = support.use_clock(self)
        self.m, self.fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, self.m)
        self.lsock = FakeSocket()
        self.listener = Listener(self.lsock, self.m, self.handler)
        self.listener.listen(5)
        self.step()

    # One pass, the poller reporting `events` ((socket, flags) pairs).
    def step(self, *events):
        self.fake.script.append(list(events))
        uasyncore.loop(timeout=0, count=1, map=self.m)

    # A client the listener takes: its fake socket and channel.
    def connect(self, inbox=()):
        sock = FakeSocket(peer=PEER, inbox=inbox)
        self.lsock.accept_plan.append((sock, PEER))
        n = len(self.listener.served)
        self.step((self.lsock, IN))
        self.assertEqual(len(self.listener.served), n + 1)
        return sock, self.listener.served[-1]

    # One more client comes while the budget is taken: it waits; the policy is asked at the end of the pass.
    def client_waits(self):
        sock = FakeSocket(peer=PEER)
        self.lsock.accept_plan.append((sock, PEER))
        self.step((self.lsock, IN))
        return sock

    # Advance the clock by `seconds` and run one pass (due timers run).
    def after(self, seconds, *events):
        self.clock.advance(seconds)
        self.step(*events)

    # Passes 5 ms apart for `seconds`.
    def run_for(self, seconds):
        for _ in range(int(seconds * 200 + 0.5)):
            self.after(0.005)

    def full(self):
        a = self.connect()
        b = self.connect()
        return a, b


class SilentTest(SlotsCase):
    def test_a_silent_connection_gives_its_slot_once_its_grace_is_over(self):
        (a, conn_a), (b, conn_b) = self.full()
        self.after(1)  # silent long before the client came: the policy has not seen them yet
        waiting = self.client_waits()
        self.assertTrue(self.listener.clients_waiting)
        self.assertFalse(a.closed or b.closed, "first seen now: their grace starts")
        self.after(GRACE - 0.001)
        self.assertFalse(a.closed or b.closed)
        self.after(0.001)
        self.assertEqual([conn_a.evicted, conn_b.evicted].count(1), 1, "one slot for one client")
        self.assertFalse(self.listener.clients_waiting)
        self.step()
        self.assertEqual(self.fake.mask(self.lsock) & IN, IN, "the listener is polled again")
        self.step((self.lsock, IN))
        self.assertIn(key(waiting), self.m, "the waiting client has the slot")

    def test_what_a_client_sent_is_read_before_it_is_judged(self):
        self.listener.slot_idle = 1  # once they have spoken, idle ones are not taken at once
        (a, conn_a), (b, conn_b) = self.full()
        self.client_waits()
        a.inbox.append(b"x")
        b.inbox.append(b"y")
        self.after(GRACE, (a, IN), (b, IN))  # their grace is over in the pass their first bytes come
        self.assertEqual((a.closed, b.closed), (False, False), "their bytes were read first")
        self.assertTrue(self.listener.clients_waiting)

    def test_nothing_is_taken_while_no_client_waits(self):
        (a, conn_a), (b, conn_b) = self.full()
        self.after(3600)
        self.assertFalse(a.closed or b.closed)
        self.assertIsNone(self.listener._room_timer)

    def test_a_listener_without_a_budget_never_takes_a_slot(self):
        self.listener.max_connections = None
        socks = [self.connect()[0] for _ in range(5)]
        self.after(3600)
        self.assertEqual([s.closed for s in socks], [False] * 5)


class NotInstalledTest(SlotsCase):
    def test_a_board_without_the_policy_says_so_once_and_the_client_waits_for_a_close(self):
        said = []
        self.listener.log_info = lambda message, type="info": said.append((type, message))
        policy = sys.modules.pop("uasyncore_slots")
        path = sys.path[:]
        sys.path[:] = []  # nowhere to import it from, as on a board it was not copied to
        try:
            (a, conn_a), (b, conn_b) = self.full()
            self.client_waits()
            self.after(3600)
            self.after(3600)
        finally:
            sys.path[:] = path
            sys.modules["uasyncore_slots"] = policy
        self.assertEqual(len(said), 1, said)
        self.assertEqual(said[0][0], "error")
        self.assertIn("uasyncore_slots is not installed", said[0][1])
        self.assertFalse(a.closed or b.closed, "no policy: nothing is taken")
        conn_a.close()
        self.step()
        self.assertFalse(self.listener.clients_waiting, "a close gives the waiting client its slot")


class IdleTest(SlotsCase):
    def test_the_longest_idle_goes(self):
        self.listener.slot_idle = 0
        (a, conn_a), (b, conn_b) = self.full()
        b.inbox.append(b"hi")
        self.step((b, IN))
        self.after(0.05)
        a.inbox.append(b"hi")
        self.step((a, IN))
        self.client_waits()
        self.assertEqual((conn_a.evicted, conn_b.evicted), (0, 1), "slot_idle 0: the longest idle, at once")

    def test_slot_idle_keeps_a_recent_one(self):
        self.assertEqual(uasyncore_slots.IDLE, 1, "every port's default: a session that moved a byte within a second keeps its slot")
        a, conn_a = self.connect([b"hi"])
        self.step((a, IN))
        self.after(0.5)
        b, conn_b = self.connect([b"hi"])
        self.step((b, IN))
        self.client_waits()
        self.run_for(0.495)
        self.assertFalse(a.closed, "idle, but not for slot_idle yet")
        self.run_for(0.02)  # the listener asks again at least every 10 ms
        self.assertEqual((conn_a.evicted, conn_b.evicted), (1, 0), "the longest idle")

    def test_an_idle_one_waits_while_a_phase_is_within_its_grace(self):
        a, conn_a = self.connect([b"hi"])
        self.step((a, IN))
        self.after(1)
        b, conn_b = self.connect()  # silent so far: it may be the one to go
        self.client_waits()
        self.assertFalse(a.closed or b.closed)
        self.run_for(GRACE + 0.01)
        self.assertEqual((conn_a.evicted, conn_b.evicted), (0, 1), "silent past its grace: before the idle one")

    def test_where_clients_reconnect_an_idle_one_goes_once_idle_for_two_graces(self):
        self.listener.slot_sessions = False  # as HTTP's keep-alive connections
        self.listener.slot_idle = 0
        a, conn_a = self.connect([b"hi"])
        self.step((a, IN))
        self.after(GRACE * 2 - 0.01)
        b, conn_b = self.connect()  # silent so far: within its grace for a while
        self.client_waits()
        self.assertFalse(a.closed, "idle for less than two graces while b is judged")
        self.after(0.01)
        self.assertEqual((conn_a.evicted, conn_b.evicted), (1, 0), "idle for two graces: b is not waited for")

    def test_a_response_moving_is_not_taken(self):
        self.listener.slot_idle = 1
        a, conn_a = self.connect([b"hi"])
        b, conn_b = self.connect([b"hi"])
        self.step((a, IN), (b, IN))
        a.send_plan = [10] * 1000
        conn_a.send(b"x" * 10000)  # a response in flight, 10 bytes a pass
        self.client_waits()
        for _ in range(20):
            self.after(0.1, (a, OUT))
        self.assertFalse(a.closed, "its client reads it")
        self.assertEqual(conn_b.evicted, 1, "idle for slot_idle")

    def test_a_response_stalled_for_a_grace_is_taken(self):
        self.listener.slot_idle = 1
        a, conn_a = self.connect([b"hi"])
        b, conn_b = self.connect([b"hi"])
        self.step((a, IN), (b, IN))
        a.stalled = True  # its client reads nothing more
        conn_a.send(b"x" * 100)
        self.client_waits()
        self.after(GRACE)
        self.assertEqual((conn_a.evicted, conn_b.evicted), (1, 0), "stalled, where b is idle for less than slot_idle")


class PhaseTest(SlotsCase):
    handler = Phased

    def test_a_slow_phase_goes_before_the_longest_idle(self):
        a, conn_a = self.connect([b"done\n"])
        self.step((a, IN))
        self.after(3)  # a is idle for long
        b, conn_b = self.connect([b"GET"])  # b's phase has begun
        self.step((b, IN))
        self.after(GRACE)
        self.client_waits()
        self.assertEqual((a.closed, b.closed), (False, True), "3 bytes in a grace: below the minimum rate")

    def test_a_phase_at_the_minimum_rate_keeps_its_slot(self):
        self.listener.max_connections = 1
        a, conn_a = self.connect([b"x" * (uasyncore_slots.MIN_RATE // 2)])
        self.step((a, IN))
        self.client_waits()
        self.run_for(0.495)
        self.assertFalse(a.closed, "half a second's bytes in under half a second")
        self.run_for(0.02)  # the listener asks again at least every 10 ms
        self.assertTrue(a.closed, "... and in over half a second: below the minimum rate")

    def test_a_phase_past_its_deadline_goes_whatever_its_rate(self):
        self.listener.slot_min_rate = 0
        a, conn_a = self.connect([b"x" * 20])
        b, conn_b = self.connect([b"x\n"])
        self.step((a, IN), (b, IN))
        self.after(3)
        b.inbox.append(b"y")
        self.step((b, IN))  # b's second phase begins
        self.client_waits()
        self.after(Phased.phase_timeout - 3 - 0.001)
        self.assertFalse(a.closed or b.closed, "no minimum rate: within their deadline")
        self.run_for(0.015)  # the listener asks again at least every 10 ms
        self.assertEqual((a.closed, b.closed), (True, False))

    def test_the_deadline_is_checked_when_bytes_arrive(self):
        a, conn_a = self.connect([b"GET"])
        self.step((a, IN))
        self.after(Phased.phase_timeout - 0.001)
        a.inbox.append(b" temp")
        self.step((a, IN))
        self.assertFalse(a.closed)
        self.after(0.001)
        a.inbox.append(b" now")
        self.step((a, IN))
        self.assertTrue(a.closed)
        self.assertEqual(conn_a.timed_out, 1)
        self.assertEqual(self.listener.open_connections, 0)

    def test_each_phase_has_its_own_deadline(self):
        a, conn_a = self.connect([b"one\n"])
        self.step((a, IN))
        self.after(Phased.phase_timeout * 2)  # between phases: no deadline
        a.inbox.append(b"tw")
        self.step((a, IN))
        self.after(Phased.phase_timeout - 0.001)
        a.inbox.append(b"o\n")
        self.step((a, IN))
        self.assertFalse(a.closed)
        self.assertEqual(conn_a._got, -1, "between phases")


class BookkeepingTest(SlotsCase):
    def test_without_phases_the_first_byte_ends_the_first_phase(self):
        a, conn_a = self.connect()
        self.assertEqual((conn_a._got, conn_a._mark), (0, None), "an idle channel holds nothing of its own")
        self.assertNotIn("_mark", conn_a.__dict__)
        a.inbox.append(b"hi")
        self.step((a, IN))
        self.assertEqual((conn_a._got, conn_a._mark), (-1, self.clock.now))
        self.after(2)
        conn_a.send(b"back")
        self.assertEqual(conn_a._mark, self.clock.now, "a byte out is activity too")

    def test_a_channel_the_program_made_is_not_counted(self):
        sock = FakeSocket(peer=PEER, inbox=[b"hi"])
        d = Plain(sock, self.m)
        self.step((sock, IN))
        self.assertEqual((d._got, d._mark), (0, None))


class OverrideTest(SlotsCase):
    def test_a_listener_tunes_the_policy(self):
        self.listener.slot_grace = 2
        (a, conn_a), (b, conn_b) = self.full()
        self.client_waits()
        self.after(GRACE)
        self.after(1.8)
        self.assertFalse(a.closed or b.closed)
        self.after(0.1)
        self.assertTrue(a.closed or b.closed)

    def test_a_listener_may_choose_for_itself(self):
        asked = []

        def make_room():
            asked.append(self.clock.now)
            return None if len(asked) < 3 else 0.5

        self.listener.make_room = make_room
        (a, conn_a), (b, conn_b) = self.full()
        self.client_waits()
        self.assertEqual(len(asked), 1)
        self.assertIsNone(self.listener._room_timer, "None: not asked again")
        self.listener.clients_waiting = False  # what a slot freed by itself would do ...
        self.listener.interest_changed()
        self.client_waits()  # ... and another client comes
        self.after(0)
        self.assertEqual(len(asked), 2)
        self.client_waits()
        self.listener.clients_waiting = False
        self.listener.interest_changed()
        self.client_waits()
        self.assertEqual(len(asked), 3)
        self.after(0.5)
        self.assertEqual(len(asked), 4, "asked again after the seconds it said")

    def test_choose_says_when_to_ask_again(self):
        (a, conn_a), (b, conn_b) = self.full()
        victim, wait = uasyncore_slots.choose(self.listener, self.clock.now)
        self.assertEqual((victim, wait), (None, int(GRACE * 1000)), "first seen: a grace from now")
        self.clock.advance(GRACE / 2)
        victim, wait = uasyncore_slots.choose(self.listener, self.clock.now)
        self.assertEqual((victim, wait), (None, int(GRACE * 1000) // 2))

    def test_a_closed_listener_stops_asking(self):
        self.full()
        self.client_waits()
        self.after(0)
        self.assertIsNotNone(self.listener._room_timer)
        self.listener.close()
        self.assertIsNone(self.listener._room_timer)
        self.assertEqual(support.poller(self.m).timers, [])


if __name__ == "__main__":
    unittest.main()
