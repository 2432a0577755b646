# asyncore's known defects, fixed in uasyncore: a stale event handed to a channel that reuses a
# closed one's fd, bytes lost to POLLIN|POLLHUP, a listener closed by EMFILE/ENFILE, one accept
# per pass, a listener closed by a client that resets before its handler asks getpeername().
# Every test here fails on CPython 3.11's asyncore; test_stdlib_defects.py runs the same
# scenarios (defects_scenarios.py) against it and asserts that the defects are still there.
#
# The cases live in defects_cases.py.  MicroPython compiles a module whole, and uasyncore alone
# takes most of a 128 KiB heap to compile, so this module stays small and imports support (hence
# uasyncore) before the cases are compiled.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import defects_cases
from dispatcher_kit import FakeTestCase


class StaleEventTests(defects_cases.StaleEvent, FakeTestCase):
    pass


class HalfCloseTests(defects_cases.HalfClose, FakeTestCase):
    pass


class AcceptExhaustionTests(defects_cases.AcceptExhaustion, FakeTestCase):
    pass


class AcceptBurstTests(defects_cases.AcceptBurst, FakeTestCase):
    pass


class PortScanTests(defects_cases.PortScan, FakeTestCase):
    pass


if __name__ == "__main__":
    unittest.main()
