# Timer cases: one-shot timers, cancel(), periodic timers.
#
# Imported by tests/test_timers.py after support, so MicroPython compiles it once uasyncore is loaded
# (a module is compiled whole, and uasyncore alone takes most of a 128 KiB heap to compile).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import uasyncore
from timers_kit import START


_port = uasyncore._port


class OneShot:
    def test_call_later_runs_once_after_its_delay_not_before(self):
        m, _ = self.map()
        calls = []
        t = uasyncore.call_later(1.5, calls.append, "x", map=m)
        self.assertTrue(t.active())
        self.clock.advance(1499)
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, [], "ran 1 ms before it was due")
        self.assertTrue(t.active())
        self.clock.advance(1)
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, ["x"])
        self.assertFalse(t.active())
        self.clock.advance(10000)
        uasyncore.poll(0, map=m)
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, ["x"], "a one-shot timer ran again")

    def test_call_later_zero_runs_on_the_next_pass_without_sleeping(self):
        m, poller = self.map()
        calls = []
        uasyncore.call_later(0, calls.append, 1, map=m)
        uasyncore.loop(timeout=30, map=m, count=1)
        self.assertEqual(calls, [1])
        self.assertEqual(poller.waits, [0])

    def test_timers_fire_in_due_order(self):
        m, _ = self.map()
        log = []
        for label, delay in (("c", 0.3), ("a", 0.1), ("d", 0.4), ("b", 0.2)):
            uasyncore.call_later(delay, self.recorder(log, label), map=m)
        self.clock.advance(1000)
        uasyncore.poll(0, map=m)  # all four are due: one pass runs them earliest first
        self.assertEqual([label for label, _ in log], ["a", "b", "c", "d"])

    def test_loop_sleeps_from_one_timer_to_the_next(self):
        m, poller = self.map()
        log = []
        for label, delay in (("c", 0.3), ("a", 0.1), ("b", 0.2)):
            uasyncore.call_later(delay, self.recorder(log, label), map=m)
        uasyncore.loop(timeout=30, map=m)
        self.assertEqual(log, [("a", 100), ("b", 200), ("c", 300)])
        self.assertEqual(poller.waits, [100, 100, 100])

    def test_equal_times_fire_in_fifo_order(self):
        m, _ = self.map()
        log = []
        # interleave other times so the equal ones are inserted into a list that is not empty
        for i in range(6):
            uasyncore.call_later(0.5, self.recorder(log, i), map=m)
            uasyncore.call_later(0.1 * (i % 3) + 0.2, self.recorder(log, "x"), map=m)
        self.clock.advance(500)
        uasyncore.poll(0, map=m)
        self.assertEqual([label for label, _ in log if label != "x"], [0, 1, 2, 3, 4, 5])

    def test_call_at_ticks_plus_ms(self):
        m, poller = self.map()
        log = []
        when = _port.ticks_add(uasyncore.ticks(), 250)
        t = uasyncore.call_at(when, self.recorder(log, "at"), map=m)
        self.assertEqual(uasyncore.ticks_diff(t.when, uasyncore.ticks()), 250)
        uasyncore.loop(timeout=30, map=m)
        self.assertEqual(log, [("at", 250)])
        self.assertEqual(poller.waits, [250])

    def test_call_at_passes_arguments(self):
        m, _ = self.map()
        calls = []
        uasyncore.call_at(uasyncore.ticks(), lambda a, b: calls.append((a, b)), 1, "two", map=m)
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, [(1, "two")])

    def test_call_at_in_the_past_runs_at_once(self):
        m, poller = self.map()
        calls = []
        uasyncore.call_at(_port.ticks_add(uasyncore.ticks(), -5000), calls.append, 1, map=m)
        uasyncore.loop(timeout=30, map=m, count=1)
        self.assertEqual(calls, [1])
        self.assertEqual(poller.waits, [0])


class Cancel:
    def test_cancel_before_firing_prevents_it(self):
        m, poller = self.map()
        calls = []
        t = uasyncore.call_later(0.1, calls.append, "cancelled", map=m)
        uasyncore.call_later(0.2, calls.append, "kept", map=m)
        self.assertTrue(t.active())
        t.cancel()
        self.assertFalse(t.active())
        t.cancel()  # twice is harmless
        self.assertFalse(t.active())
        uasyncore.loop(timeout=30, map=m)
        self.assertEqual(calls, ["kept"])
        self.assertEqual(poller.waits, [200], "the loop still woke up for the cancelled timer")

    def test_active_reflects_state(self):
        m, _ = self.map()
        once = uasyncore.call_later(0.1, int, map=m)
        every = uasyncore.call_every(0.1, int, map=m)
        self.assertTrue(once.active())
        self.assertTrue(every.active())
        self.clock.advance(100)
        uasyncore.poll(0, map=m)
        self.assertFalse(once.active(), "a one-shot timer is spent once it ran")
        self.assertTrue(every.active(), "a periodic timer stays scheduled")
        every.cancel()
        self.assertFalse(every.active())

    def test_cancel_from_another_timers_callback_in_the_same_pass(self):
        m, _ = self.map()
        calls = []
        victims = []

        def killer():
            calls.append("killer")
            for v in victims:
                v.cancel()

        uasyncore.call_later(0.1, killer, map=m)
        victims.append(uasyncore.call_later(0.1, calls.append, "victim", map=m))
        victims.append(uasyncore.call_every(0.1, calls.append, "periodic victim", map=m))
        survivor = uasyncore.call_later(0.1, calls.append, "survivor", map=m)
        self.clock.advance(100)
        uasyncore.poll(0, map=m)  # all four are due in this one pass
        self.assertEqual(calls, ["killer", "survivor"])
        self.assertFalse(victims[0].active())
        self.assertFalse(victims[1].active())
        self.assertFalse(survivor.active())
        self.clock.advance(1000)
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, ["killer", "survivor"])

    def test_cancel_a_timer_that_already_ran_in_this_pass(self):
        m, _ = self.map()
        calls = []
        first = uasyncore.call_later(0.1, calls.append, "first", map=m)
        uasyncore.call_later(0.1, first.cancel, map=m)
        uasyncore.call_later(0.1, calls.append, "third", map=m)
        self.clock.advance(100)
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, ["first", "third"])
        self.assertIsNone(support.poller(m), "no channel and no timer left: poll() let the map's poller go")


class Periodic:
    def test_call_every_fires_at_its_interval(self):
        m, poller = self.map()
        log = []
        t = uasyncore.call_every(0.25, self.recorder(log, "tick"), map=m)
        uasyncore.loop(timeout=30, map=m, count=4)
        self.assertEqual([ms for _, ms in log], [250, 500, 750, 1000])
        self.assertEqual(poller.waits, [250, 250, 250, 250])
        self.assertTrue(t.active())

    def test_call_every_runs_at_most_once_per_pass(self):
        m, _ = self.map()
        calls = []
        uasyncore.call_every(0.1, calls.append, 1, map=m)
        self.clock.advance(1000)  # ten beats are due
        uasyncore.poll(0, map=m)
        self.assertEqual(calls, [1])

    def test_timer_made_by_a_due_timer_waits_for_the_next_pass(self):
        # a callback that schedules a due timer (here: itself, again) cannot hold one pass forever
        m, poller = self.map()
        calls = []

        def again():
            calls.append(1)
            if len(calls) < 50:
                uasyncore.call_later(0, again, map=m)

        uasyncore.call_later(0, again, map=m)
        uasyncore.poll(0, map=m)
        self.assertEqual(len(calls), 1)
        uasyncore.loop(timeout=30, map=m, count=3)
        self.assertEqual(len(calls), 4)
        self.assertEqual(poller.waits, [0, 0, 0, 0])

    def test_call_every_is_drift_free(self):
        # every wait oversleeps by 7 ms and every callback takes 30 ms: the beats stay on the
        # interval's grid instead of sliding by 37 ms each time
        m, poller = self.map(late=7)
        log = []

        def slow():
            log.append(self.clock.since(START))
            self.clock.advance(30)

        uasyncore.call_every(1.0, slow, map=m)
        uasyncore.loop(timeout=30, map=m, count=4)
        self.assertEqual(log, [1007, 2007, 3007, 4007])
        self.assertEqual(poller.waits, [1000, 963, 963, 963])

    def test_call_every_skips_missed_beats_after_a_stall(self):
        m, poller = self.map()
        log = []

        def beat():
            log.append(self.clock.since(START))
            if len(log) == 1:
                self.clock.advance(3500)  # a handler blocked the loop for 3.5 beats

        uasyncore.call_every(1.0, beat, map=m)
        uasyncore.loop(timeout=30, map=m, count=5)
        self.assertEqual(len(log), 5)
        self.assertEqual(log[:2], [1000, 4500], "the late beat runs once, right away")
        self.assertEqual(poller.waits[:2], [1000, 0])
        # no burst of the three missed beats: every later beat waits for time to pass
        for w in poller.waits[2:]:
            self.assertGreater(w, 0)
            self.assertLessEqual(w, 1000)
        self.assertGreater(log[2], 4500)
        self.assertLessEqual(log[2], 5500)
        self.assertEqual(log[3] - log[2], 1000)
        self.assertEqual(log[4] - log[3], 1000)

    def test_call_every_cancels_itself_from_its_callback(self):
        m, poller = self.map()
        calls = []
        timers = []

        def tick():
            calls.append(1)
            if len(calls) == 3:
                timers[0].cancel()

        timers.append(uasyncore.call_every(0.5, tick, map=m))
        uasyncore.loop(timeout=30, map=m)  # ends once the timer is gone: the map is empty
        self.assertEqual(len(calls), 3)
        self.assertFalse(timers[0].active())
        self.assertEqual(poller.waits, [500, 500, 500])

    def test_periodic_timer_keeps_loop_count_running(self):
        m, poller = self.map()
        calls = []
        t = uasyncore.call_every(1, calls.append, 1, map=m)
        uasyncore.loop(timeout=30, map=m, count=5)  # empty map, yet five passes
        self.assertEqual(len(calls), 5)
        self.assertEqual(len(poller.waits), 5)
        self.assertTrue(t.active())
        self.assertIsNotNone(support.poller(m), "the poller went away with a timer pending")
