# examples/discovery in process, over loopback: the responder answers the question asked on its
# multicast group (joined on 127.0.0.1, asked with TTL 0) or straight to it, with its name, address and
# services, and ignores everything else (bad input never gets an answer, and never stops it); answers
# are held to ANSWERS_PER_SECOND. Runs on CPython and MicroPython.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import json
import sys
import unittest

import uasyncore
from dgram_kit import Collector, bind_any

sys.path.insert(0, support.ROOT + "/examples/discovery")
import discovery_service  # the example's folder is put on sys.path above

HOST = support.HOST


class DiscoveryTest(unittest.TestCase):
    def setUp(self):
        self.map = {}
        self.addCleanup(uasyncore.close_all, self.map, True)
        self.port = None
        for _ in range(20):
            self.port = support.random_port()
            try:
                self.responder = discovery_service.Responder(
                    "test-device", {"http": 8080}, HOST, self.port, interface=HOST, map=self.map)
                break
            except OSError:
                continue
        self.asker = Collector(self.map)
        bind_any(self.asker)

    def ask(self, data, to=None):
        self.asker.sendto(data, to or (HOST, self.port))

    def settle(self):
        for _ in range(5):
            uasyncore.loop(timeout=0.02, count=1, map=self.map)

    def answers(self):
        return [json.loads(data) for data, addr in self.asker.got]

    def test_the_group_question_is_answered_with_name_address_and_services(self):
        self.asker.set_multicast_interface(HOST)
        self.asker.set_multicast_ttl(0)
        self.ask(discovery_service.QUERY, (discovery_service.GROUP, self.port))
        self.assertTrue(support.run_until(lambda: self.asker.got, map=self.map))
        self.assertEqual(self.answers(), [{"name": "test-device", "address": HOST, "services": {"http": 8080}}])

    def test_a_question_straight_to_the_device_is_answered(self):
        self.ask(discovery_service.QUERY)
        self.assertTrue(support.run_until(lambda: self.asker.got, map=self.map))
        self.assertEqual(self.answers()[0]["name"], "test-device")

    def test_bad_input_gets_no_answer_and_the_responder_serves_on(self):
        query = discovery_service.QUERY
        for bad in (b"", b"\x00", b"hello", query[:-1], query + b"\n", query + b"!" * 2000, query.upper(),
                    bytes(range(256)), b"\xff" * 1472, b"GET / HTTP/1.0\r\n\r\n"):
            self.ask(bad)
        self.settle()
        self.assertEqual(self.asker.got, [])
        self.assertEqual(self.responder.ignored, 10)
        self.ask(query)
        self.assertTrue(support.run_until(lambda: self.asker.got, map=self.map))
        self.assertEqual(len(self.asker.got), 1)

    def test_answers_are_held_to_the_rate(self):
        support.use_clock(self)  # one second that does not pass
        self.responder.window = uasyncore.ticks()
        for _ in range(discovery_service.ANSWERS_PER_SECOND + 5):
            self.ask(discovery_service.QUERY)
        self.settle()
        self.assertEqual(len(self.asker.got), discovery_service.ANSWERS_PER_SECOND)
        self.assertEqual(self.responder.ignored, 5)


if __name__ == "__main__":
    unittest.main()
