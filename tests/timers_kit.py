# Timer test helpers: a fake clock, a poller that sleeps on it, the base TestCase.
#
# Imported by tests/test_timers.py after support, so MicroPython compiles it once uasyncore is loaded
# (a module is compiled whole, and uasyncore alone takes most of a 128 KiB heap to compile).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore


_port = uasyncore._port

START = 1000000  # where the fake clock starts, in ms


TICKS_PERIOD = 1 << 30  # MicroPython's (MICROPY_PY_TIME_TICKS_PERIOD)


def board_ticks_add(t, delta):
    if not -TICKS_PERIOD // 2 < delta < TICKS_PERIOD // 2:
        raise OverflowError("ticks interval overflow")
    return (t + delta) % TICKS_PERIOD


def board_ticks_diff(a, b):
    d = (a - b) % TICKS_PERIOD
    return d - TICKS_PERIOD if d >= TICKS_PERIOD // 2 else d


# Stands in for the port's ticks_ms(); moves only when told to.
class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now = _port.ticks_add(self.now, ms)

    # Milliseconds since tick `since`, in the port's (possibly wrapping) arithmetic.
    def since(self, since):
        return _port.ticks_diff(self.now, since)


# A FakePoller whose wait(ms) lets the fake clock run ms (plus `late`), like a real sleep that
# timed out; scripted events return at once.  Refuses to wait forever or to run without end.
class SleepingPoller(support.FakePoller):
    def __init__(self, clock, late=0, budget=200):
        super().__init__()
        self.clock = clock
        self.late = late
        self.budget = budget

    def wait(self, ms):
        if len(self.waits) >= self.budget:
            raise AssertionError("the loop did not stop after %d waits" % self.budget)
        if ms < 0 and not self.script:
            raise AssertionError("the loop would wait forever")
        events = support.FakePoller.wait(self, ms)
        if not events:
            self.clock.advance(ms + self.late)
        return events


# A dispatcher that never wants to write: what an idle server's connection looks like.
class Idle(uasyncore.dispatcher):
    def writable(self):
        return False


class TimerTestCase(unittest.TestCase):
    def setUp(self):
        self.clock = self.use_clock(START)

    # Put a fake clock starting at `now` in place of the port's, until the test ends.
    def use_clock(self, now):
        clock = FakeClock(now)
        real = _port.ticks_ms
        _port.ticks_ms = clock
        self.addCleanup(setattr, _port, "ticks_ms", real)
        return clock

    # MicroPython's tick arithmetic in place of the port's, on any runtime: a 2**30 ms period, and
    # ticks_add() refusing a step of half of it (2**29 ms, 6.2 days) or more, as boards do.
    def use_board_ticks(self):
        for name, fn in (("ticks_add", board_ticks_add), ("ticks_diff", board_ticks_diff)):
            self.addCleanup(setattr, _port, name, getattr(_port, name))
            setattr(_port, name, fn)

    # A fresh channel map served by a SleepingPoller on self.clock: (map, poller).
    def map(self, late=0):
        m, fake = support.fake_map(SleepingPoller(self.clock, late))
        self.addCleanup(support.forget_map, m)
        return m, fake

    # A callback that records (label, ms since START) each time it runs.
    def recorder(self, log, label):
        def fn():
            log.append((label, self.clock.since(START)))

        return fn

    # Collect what uasyncore print()s (timer errors go to stdout that way); MicroPython cannot
    # swap sys.stdout, so a module-level print shadows the builtin for the test's duration.
    def capture_print(self):
        out = []

        def fake_print(*args, **kwargs):
            out.append(" ".join([str(a) for a in args]))

        uasyncore.print = fake_print
        self.addCleanup(delattr, uasyncore, "print")
        return out
