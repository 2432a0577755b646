# Timer cases: what the loop waits for, errors in timers, tick wraparound.
#
# Imported by tests/test_timers.py after support, so MicroPython compiles it once uasyncore is loaded
# (a module is compiled whole, and uasyncore alone takes most of a 128 KiB heap to compile).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import sys

import uasyncore
from timers_kit import Idle


_port = uasyncore._port


class Loop:
    def test_empty_map_with_pending_timer_runs_it_then_returns(self):
        m, poller = self.map()
        calls = []
        uasyncore.call_later(2, calls.append, 1, map=m)
        uasyncore.loop(timeout=30, map=m)
        self.assertEqual(calls, [1])
        self.assertEqual(poller.waits, [2000])
        self.assertIsNone(support.poller(m), "the poller outlived the map's last timer")

    def test_empty_map_without_timers_returns_without_waiting(self):
        m, poller = self.map()
        uasyncore.loop(timeout=30, map=m)
        self.assertEqual(poller.waits, [])

    def test_idle_server_sleeps_until_its_periodic_timer(self):
        # an idle channel and a 1 s housekeeping timer: the loop sleeps 1 s per pass
        m, poller = self.map()
        Idle(support.FakeSocket(), map=m)
        calls = []
        uasyncore.call_every(1.0, calls.append, 1, map=m)
        uasyncore.loop(timeout=30, map=m, count=3)
        self.assertEqual(poller.waits, [1000, 1000, 1000])
        self.assertEqual(len(calls), 3)

    def test_wait_is_the_time_left_to_the_next_timer(self):
        m, poller = self.map()
        Idle(support.FakeSocket(), map=m)
        uasyncore.call_later(1.0, int, map=m)
        uasyncore.call_later(3.0, int, map=m)
        self.clock.advance(250)
        uasyncore.loop(timeout=30, map=m, count=2)
        self.assertEqual(poller.waits, [750, 2000])

    def test_wait_is_capped_by_the_loop_timeout(self):
        m, poller = self.map()
        Idle(support.FakeSocket(), map=m)
        uasyncore.call_later(1.0, int, map=m)
        uasyncore.loop(timeout=0.2, map=m, count=2)
        self.assertEqual(poller.waits, [200, 200])

    def test_without_timers_the_wait_is_the_loop_timeout(self):
        m, poller = self.map()
        Idle(support.FakeSocket(), map=m)
        uasyncore.loop(timeout=30, map=m, count=1)
        self.assertEqual(poller.waits, [30000])

    def test_no_timeout_waits_for_the_next_timer(self):
        m, poller = self.map()
        Idle(support.FakeSocket(), map=m)
        uasyncore.call_later(0.4, int, map=m)
        uasyncore.loop(timeout=None, map=m, count=1)
        self.assertEqual(poller.waits, [400])

    def test_timers_belong_to_their_maps_loop_only(self):
        self.assertEqual(uasyncore.socket_map, {}, "an earlier test left channels in socket_map")
        m, _ = self.map()
        calls = []
        mine = uasyncore.call_later(0, calls.append, "map", map=m)
        default = uasyncore.call_later(0, calls.append, "default")
        self.addCleanup(self.forget_default, default)
        uasyncore.loop(timeout=30, map=m, count=1)
        self.assertEqual(calls, ["map"], "the map's loop ran the default map's timer")
        self.assertTrue(default.active())
        uasyncore.loop(timeout=0, count=1)  # the default map (a real poller: do not sleep)
        self.assertEqual(calls, ["map", "default"])
        self.assertFalse(mine.active())

    def forget_default(self, t):
        t.cancel()
        if not uasyncore.socket_map:
            uasyncore._release(uasyncore.socket_map)


class Error:
    def test_timer_that_raises_is_reported_and_others_still_run(self):
        m, _ = self.map()
        out = self.capture_print()
        calls = []

        def bad():
            calls.append("bad")
            raise ValueError("boom-4711")

        uasyncore.call_every(0.1, bad, map=m)
        uasyncore.call_later(0.1, calls.append, "after", map=m)
        uasyncore.call_later(0.15, calls.append, "later", map=m)
        uasyncore.loop(timeout=30, map=m, count=2)
        self.assertEqual(calls, ["bad", "after", "later"])
        text = "\n".join(out)
        self.assertIn("boom-4711", text)
        self.assertIn("ValueError", text)
        self.assertIn("timer", text)
        uasyncore.loop(timeout=30, map=m, count=1)
        self.assertEqual(calls, ["bad", "after", "later", "bad"], "the failing periodic timer stopped")

    def test_exitnow_in_a_timer_leaves_the_loop(self):
        m, poller = self.map()
        calls = []

        def stop():
            raise uasyncore.ExitNow("stop")

        uasyncore.call_later(0.1, stop, map=m)
        later = uasyncore.call_later(0.2, calls.append, 1, map=m)
        with self.assertRaises(uasyncore.ExitNow):
            uasyncore.loop(timeout=30, map=m, count=10)
        self.assertEqual(len(poller.waits), 1)
        self.assertEqual(calls, [])
        self.assertTrue(later.active())

    def test_negative_delay_raises_value_error(self):
        m, _ = self.map()
        self.assertRaises(ValueError, uasyncore.call_later, -0.001, int, map=m)
        self.assertRaises(ValueError, uasyncore.call_every, -1, int, map=m)
        self.assertEqual(support.poller(m).timers, [])

    def test_non_callable_raises_type_error(self):
        m, _ = self.map()
        self.assertRaises(TypeError, uasyncore.call_later, 1, 42, map=m)
        self.assertRaises(TypeError, uasyncore.call_every, 1, "fn", map=m)
        self.assertRaises(TypeError, uasyncore.call_at, uasyncore.ticks(), None, map=m)
        self.assertEqual(support.poller(m).timers, [])

    def test_zero_interval_raises_value_error(self):
        m, _ = self.map()
        self.assertRaises(ValueError, uasyncore.call_every, 0, int, map=m)
        self.assertRaises(ValueError, uasyncore.call_every, 0.0001, int, map=m)  # rounds to 0 ms
        self.assertEqual(support.poller(m).timers, [])


# Ticks just short of where the clock wraps.  MicroPython's ticks wrap at its small-int limit,
# (sys.maxsize + 1) // 2: 2**30 ms on 32-bit ports, 2**62 ms on the 64-bit unix port; a tick of
# ticks_add(0, -n) is n ms before that point.  CPython's clock never wraps: there the same
# starts are a tick below 0 and a very large tick, on which the arithmetic must work as well.
WRAP_STARTS = (_port.ticks_add(0, -50), (sys.maxsize + 1) // 2 - 50)


class Wraparound:
    def check_timers_across_the_wrap(self, start):
        clock = self.use_clock(start)
        self.clock = clock
        m, poller = self.map()
        log = []

        def rec(label):
            return lambda: log.append((label, _port.ticks_diff(clock.now, start)))

        # scheduled out of order; "b", the second "e" and "c" fall due after the clock wrapped
        uasyncore.call_later(0.09, rec("c"), map=m)
        uasyncore.call_later(0.03, rec("a"), map=m)
        uasyncore.call_at(_port.ticks_add(start, 60), rec("b"), map=m)
        every = uasyncore.call_every(0.04, rec("e"), map=m)
        uasyncore.loop(timeout=30, map=m, count=5)
        every.cancel()
        self.assertEqual(log, [("a", 30), ("e", 40), ("b", 60), ("e", 80), ("c", 90)])
        self.assertEqual(poller.waits, [30, 10, 20, 20, 10])

    def test_timers_fire_in_order_across_the_wrap(self):
        self.check_timers_across_the_wrap(WRAP_STARTS[0])

    def test_timers_fire_in_order_from_a_large_tick(self):
        self.check_timers_across_the_wrap(WRAP_STARTS[1])

    def test_not_due_before_the_wrap_means_not_due(self):
        start = WRAP_STARTS[0]
        clock = self.use_clock(start)
        self.clock = clock
        m, poller = self.map()
        calls = []
        uasyncore.call_later(0.1, calls.append, 1, map=m)  # due 50 ms after the wrap
        clock.advance(99)
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, [], "a timer past the wrap looked due before it")
        uasyncore.loop(timeout=30, map=m, count=1)
        self.assertEqual(poller.waits[-1], 1)
        self.assertEqual(calls, [1])


DAY = 86400  # seconds


# Timers further off than MicroPython's ticks_add() can step (2**29 ms, 6.2 days), on board ticks.
class FarOff:
    def board_map(self):
        self.use_board_ticks()
        return self.map()

    def test_a_timer_a_week_away_runs_once_a_week_later(self):
        m, poller = self.board_map()
        calls = []
        uasyncore.call_later(7 * DAY, calls.append, 1, map=m)
        uasyncore.loop(timeout=None, map=m, count=10)
        self.assertEqual(calls, [1])
        self.assertEqual(sum(poller.waits), 7 * DAY * 1000, "ms waited before it ran")
        self.assertTrue(max(poller.waits) < 1 << 29, "every wait is one ticks_add() can take")

    def test_a_weekly_timer_keeps_its_beat(self):
        m, poller = self.board_map()
        beats = []
        every = uasyncore.call_every(7 * DAY, lambda: beats.append(sum(poller.waits)), map=m)
        uasyncore.loop(timeout=None, map=m, count=12)
        every.cancel()
        self.assertEqual(beats[:2], [7 * DAY * 1000, 14 * DAY * 1000])

    def test_an_idle_timeout_of_ten_days_closes_after_at_most_3_days(self):
        m, poller = self.board_map()
        idled = []

        class Sleepy(Idle):
            def handle_idle(self):
                idled.append(sum(poller.waits))
                self.close()

        Sleepy(support.FakeSocket(), m).set_idle_timeout(10 * DAY)
        uasyncore.loop(timeout=None, map=m, count=5)
        self.assertEqual(idled, [1 << 28], "closed after 2**28 ms: the longest idle timeout the ticks can count")
