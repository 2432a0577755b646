# Timers: call_later / call_at / call_every / Timer.cancel, and how loop() sleeps for them.
#
# Time is a fake clock put in place of the port's ticks_ms; the poller is a FakePoller whose
# wait(ms) lets that clock run ms, so what the loop would sleep is read back from its waits.
#
# The cases live in timers_once.py and timers_loop.py (helpers: timers_kit.py).  MicroPython
# compiles a module whole, and uasyncore alone takes most of a 128 KiB heap to compile, so this
# module stays small and imports support (hence uasyncore) before the cases are compiled.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import timers_kit
import timers_loop
import timers_once

Base = timers_kit.TimerTestCase


class OneShotTest(timers_once.OneShot, Base):
    pass


class CancelTest(timers_once.Cancel, Base):
    pass


class PeriodicTest(timers_once.Periodic, Base):
    pass


class LoopTest(timers_loop.Loop, Base):
    pass


class ErrorTest(timers_loop.Error, Base):
    pass


class WraparoundTest(timers_loop.Wraparound, Base):
    pass


class FarOffTest(timers_loop.FarOff, Base):
    pass


if __name__ == "__main__":
    unittest.main()
