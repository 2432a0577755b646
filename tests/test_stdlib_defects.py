# The scenarios of defects_scenarios.py run against CPython's own asyncore (3.11 and older), to show
# that the defects uasyncore fixes are real there: each test asserts the defect is present.
# The module skips itself where there is no stdlib asyncore: MicroPython, CPython 3.12+.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import sys
import unittest

import defects_scenarios


# CPython's asyncore, never a drop-in from this project's lib/ that might shadow it.
def _stdlib_asyncore():
    root = support.__file__.replace("\\", "/").rpartition("/tests/")[0]
    saved_path = sys.path[:]
    saved_module = sys.modules.pop("asyncore", None)
    sys.path[:] = [p for p in sys.path if not (root and p.replace("\\", "/").startswith(root))]
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asyncore
    except ImportError:
        raise unittest.SkipTest("no asyncore in this Python's standard library")
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("asyncore", None)
        if saved_module is not None:
            sys.modules["asyncore"] = saved_module
    if not hasattr(asyncore, "poll2") or "uasyncore" in repr(asyncore.dispatcher):
        raise unittest.SkipTest("asyncore here is not the standard library's")
    return asyncore


asyncore = _stdlib_asyncore()


class StdlibDefectTests(unittest.TestCase):
    def test_new_channel_on_a_reused_fd_gets_the_closed_ones_event(self):
        reused, seen = defects_scenarios.real_stale_event(asyncore)
        self.assertTrue(reused)
        self.assertIn("read", seen)

    @unittest.skipUnless(defects_scenarios.HAS_SHUTDOWN, "sockets have no shutdown()")
    def test_pollin_with_pollhup_loses_pending_bytes(self):
        got, closed = defects_scenarios.half_close_scenario(asyncore)
        self.assertTrue(closed)
        self.assertLess(got, 65536)
        self.assertEqual(got, 4096)  # one read, then handle_close

    def test_emfile_and_enfile_close_the_listener(self):
        for err in (support.EMFILE, support.ENFILE):
            self.assertEqual(defects_scenarios.exhausted_accept_scenario(asyncore, err), (False, False, True))

    def test_one_accept_per_pass(self):
        self.assertEqual(len(defects_scenarios.accept_burst_scenario(asyncore, 3)), 1)

    def test_a_port_scan_closes_the_listener(self):
        self.assertEqual(defects_scenarios.port_scan_scenario(asyncore), (False, True, []))


if __name__ == "__main__":
    unittest.main()
