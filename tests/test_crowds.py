# Hostile crowds against the examples, on real loopback sockets (tests/crowd_kit.py): slow clients
# (slowloris, a line never finished), silent connections, idle ones (a good request, then nothing) and
# a mixed crowd at 4x the listener's budget of 4, each attacker coming back at once when the service
# takes its slot; and a flood of 1,000 connections held open. In each, a normal client asks 10 times and at least 9 answers come within
# 1 s, the service never holds more than its budget, its heap stays flat while the crowd stays
# (MicroPython: gc.mem_alloc()), and once the crowd has gone nothing of it is left.
# Everything runs in this one process, stepped between loop passes: CPython (pytest) and MicroPython
# (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore_slots  # noqa: F401  (loaded now: its import is not counted in the heap's figures)
from crowd_kit import BUDGET, Scenario, flood_fits

FLAT = 4096  # bytes the heap may move by while a crowd stays, and once it has gone (64-bit words)


class CrowdCase(unittest.TestCase):
    service = None  # the example's name

    def crowd(self, kind):
        if kind == "flood" and not flood_fits():
            self.skipTest("the heap cannot hold the flood's own 1,000 client sockets besides the service")
        s = Scenario(self.service, kind)
        self.addCleanup(s.close)
        self.assertTrue(s.run(), "the normal client was not done in time: %r" % (s.asker.latencies,))
        self.assertTrue(s.full, "the crowd held every slot before the normal client came")
        self.assertEqual(s.over_budget, 0, "the service never holds more than its budget")
        latencies = s.asker.latencies
        self.assertGreaterEqual(s.asker.within(1000), 9, "answers in ms: %r" % (latencies,))
        if s.heap_held is not None:
            self.assertLessEqual(s.heap_peak - s.heap_held, FLAT, "the heap grew while the crowd stayed")
        self.assertGreater(s.shed(), BUDGET, "slots were taken back from the crowd")
        self.assertTrue(s.end(), "the crowd gone, only the listener is left")
        self.assertEqual(s.server.open_connections, 0)
        if s.heap_after is not None:
            self.assertLessEqual(s.heap_after - s.heap_before, FLAT, "nothing of the crowd is left on the heap")
        if s.fds_after is not None:
            self.assertLessEqual(s.fds_after, s.fds_before, "nor a descriptor")
        return s


class HttpCrowdTest(CrowdCase):
    service = "http"

    def test_slowloris(self):
        self.crowd("slow")

    def test_silent_connections(self):
        self.crowd("silent")

    def test_a_mixed_crowd(self):
        self.crowd("mixed")

    def test_idle_connections(self):
        self.crowd("idle")  # kept-alive connections give their slots at once (slot_sessions False)

    def test_a_flood_of_connections_held_open(self):
        self.crowd("flood")  # the normal client keeps its connection alive (taken at times: it then reconnects)


class ControlCrowdTest(CrowdCase):
    service = "control"

    def test_lines_never_finished(self):
        self.crowd("slow")

    def test_silent_connections(self):
        self.crowd("silent")

    def test_a_mixed_crowd(self):
        self.crowd("mixed")


class EchoCrowdTest(CrowdCase):
    service = "echo"

    def test_silent_connections(self):
        self.crowd("silent")

    def test_a_mixed_crowd(self):
        self.crowd("mixed")

    def test_a_flood_of_connections_held_open(self):
        s = self.crowd("flood")
        self.assertEqual(s.asker.connects, 1, "the normal client's connection was never taken")


if __name__ == "__main__":
    unittest.main()
