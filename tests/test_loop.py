# The loop on its persistent poller: what is registered, modified and unregistered, and when;
# loop()/poll() pass counting; poller release; close_all(); one real loopback server.
#
# The cases live in loop_poller.py and loop_runs.py (helpers: loop_kit.py).  MicroPython
# compiles a module whole, and uasyncore alone takes most of a 128 KiB heap to compile, so this
# module stays small and imports support (hence uasyncore) before the cases are compiled.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import loop_kit
import loop_poller
import loop_runs

Base = loop_kit.LoopTestCase


class RegistrationTest(loop_poller.Registration, Base):
    pass


class HandEditedMapTest(loop_poller.HandEditedMap, Base):
    pass


class PassCountTest(loop_runs.PassCount, Base):
    pass


class ReleaseTest(loop_runs.Release, Base):
    pass


class CloseAllTest(loop_runs.CloseAll, Base):
    pass


class LoopbackTest(loop_runs.Loopback, unittest.TestCase):
    pass


if __name__ == "__main__":
    unittest.main()
