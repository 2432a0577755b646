# The resolver (lib/uasyncore_dns.py) at its edges, against a DNS server of our own on loopback with
# the loop's clock faked: the cache's size and a board's wrapping clock, servers listed twice or badly,
# ids two lookups could share, truncated answers and TTLs past 2**31, files in other encodings, names
# that are not ASCII, and a lookup started while close_all() runs.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import os
import socket
import time
import unittest

import uasyncore
import uasyncore_dns
from dgram_kit import DnsServer, Resolving, a_record, answer, patch, question_of

_port = uasyncore._port
_PERIOD = 1 << 30  # a 32-bit board's ticks period, in ms (12.4 days)
_DAY = 86400


def _board_ticks_diff(a, b):
    return ((a - b + (_PERIOD >> 1)) & (_PERIOD - 1)) - (_PERIOD >> 1)


def _board_ticks_add(t, ms):
    return (t + ms) & (_PERIOD - 1)


class _WallClock:
    # Stands in for uasyncore_dns's time module: time() moves only when told to.
    def __init__(self):
        self.now = time.time()

    def time(self):
        return self.now


class _FixedRandom:
    # Stands in for uasyncore_dns's os module: every id drawn is the same.
    @staticmethod
    def urandom(n):
        return b"\x12\x34"[:n]


def _temp_file(test, data):
    path = "/tmp/uasyncore-dns-%d" % support.free_port()
    with open(path, "wb") as f:
        f.write(data)
    test.addCleanup(os.remove, path)
    return path


class CacheTest(Resolving, unittest.TestCase):
    def test_a_cache_of_size_zero_keeps_nothing_and_still_answers(self):
        patch(self, uasyncore_dns, CACHE_SIZE=0)
        s = self.server(lambda q: answer(q, [a_record("192.0.2.21")]))
        self.resolve("nocache.test")
        self.step()
        self.resolve("nocache.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.21", None)] * 2)
        self.assertEqual(len(s.queries), 2)

    def test_a_full_cache_lets_the_oldest_go_even_after_its_size_was_lowered(self):
        s = self.server(lambda q: answer(q, [a_record("192.0.2.22")]))
        for name in ("one.test", "two.test", "three.test"):
            self.resolve(name)
            self.step()
            self.clock.advance(1)
        patch(self, uasyncore_dns, CACHE_SIZE=2)
        self.resolve("four.test")
        self.step()
        self.assertEqual(len(uasyncore_dns._cache), 2)
        self.resolve("three.test")  # kept: answered from the cache
        self.assertEqual(len(s.queries), 4)
        self.resolve("one.test")  # let go: asked again
        self.step()
        self.assertEqual(len(s.queries), 5)

    # A board's ticks wrap every 12.4 days: by them alone, an answer kept for 60 s looked new again
    # after 6.2 days (and every 12.4 days after). The wall clock says it is not.
    def test_an_answer_is_stale_once_its_ttl_passed_whatever_the_ticks_say(self):
        patch(self, _port, ticks_diff=_board_ticks_diff, ticks_add=_board_ticks_add)
        wall = _WallClock()
        patch(self, uasyncore_dns, time=wall)
        self.clock.now = 1000
        s = self.server(lambda q: answer(q, [a_record("192.0.2.23", ttl=60)]))
        for days in (7, _PERIOD / 1000.0 / _DAY):
            self.resolve("wrapped.test")
            self.step()
            asked = len(s.queries)
            self.clock.advance(days * _DAY)
            wall.now += days * _DAY
            self.resolve("wrapped.test")
            self.step()
            self.assertEqual(len(s.queries), asked + 1, "asked again after %s days" % days)
            uasyncore_dns.clear_cache()

    def test_a_ttl_past_2_to_the_31_is_zero_and_not_kept(self):
        s = self.server(lambda q: answer(q, [a_record("192.0.2.24", ttl=0x80000000)]))
        self.resolve("huge-ttl.test")
        self.step()
        self.resolve("huge-ttl.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.24", None)] * 2)
        self.assertEqual(len(s.queries), 2)


class ServerListTest(Resolving, unittest.TestCase):
    def test_a_server_listed_twice_is_asked_once_and_its_refusal_ends_the_lookup(self):
        s = self.server(lambda q: answer(q, rcode=5))
        uasyncore_dns.SERVERS = [s.address(), list(s.address())]  # the same server, written twice
        self.resolve("refused.test")
        self.step()
        self.assertEqual(self.error()[0], uasyncore_dns.EAI_FAIL)
        self.assertEqual(len(s.queries), 1)

    def test_a_servers_port_out_of_range_is_refused_at_the_call(self):
        uasyncore_dns.SERVERS = [(support.HOST, 70000)]
        with self.assertRaises(ValueError):
            self.resolve("any.test")
        self.wait(6)
        self.assertEqual(self.results, [], "no lookup was left running")

    def test_a_connect_with_bad_servers_raises_and_leaves_the_channel_as_it_was(self):
        uasyncore_dns.SERVERS = ["dns.example"]
        c = uasyncore.dispatcher(map=self.map)
        c.create_socket()
        with self.assertRaises(ValueError):
            c.connect(("any.test", 80))
        self.assertIs(self.map.get(c._fileno), c)
        self.assertFalse(c.connecting)

    def test_a_resolv_conf_nameserver_given_by_name_is_skipped(self):
        path = _temp_file(self, b"nameserver router.lan\nnameserver 192.0.2.53\nnameserver caf\xe9\n")
        self.assertEqual(uasyncore_dns._resolv_conf(path), ["192.0.2.53"])


class NameTest(Resolving, unittest.TestCase):
    def test_a_hosts_file_in_another_encoding_still_answers(self):
        path = _temp_file(self, b"# caf\xe9 printer\n192.0.2.7 Printer.lan caf\xe9\n2001:db8::7 printer.lan\n")
        patch(self, _port, HOSTS_FILE=path)
        uasyncore_dns.SERVERS = []
        self.resolve("printer.lan")
        self.resolve("printer.lan", socket.AF_INET6)
        self.assertEqual(self.results, [("192.0.2.7", None), ("2001:db8::7", None)])

    # Read a line at a time: ad-blocking hosts files run to 100,000 lines, more than a board's heap.
    def test_a_long_hosts_file_is_read_a_line_at_a_time(self):
        path = _temp_file(self, b"")
        with open(path, "ab") as f:  # written a line at a time too: the test's heap is a board's
            for i in range(20000):
                f.write(b"0.0.0.0 ad%d.example\n" % i)
            f.write(b"192.0.2.8 last.lan\n")
        patch(self, _port, HOSTS_FILE=path)
        uasyncore_dns.SERVERS = []
        self.resolve("last.lan")
        self.assertEqual(self.results, [("192.0.2.8", None)])

    def test_a_name_that_is_not_ascii_is_refused_without_a_question(self):
        s = self.server(lambda q: answer(q, [a_record("192.0.2.25")]))
        self.resolve("\u00e9" * 40 + ".test")
        self.step()
        self.assertEqual(self.error()[0], uasyncore_dns.EAI_NONAME)
        self.assertEqual(s.queries, [])

    def test_two_lookups_never_share_an_id(self):
        patch(self, uasyncore_dns, os=_FixedRandom)
        s = self.server(lambda q: answer(q, [a_record("192.0.2.26")]) if b"\x01b\x04test" in q else None)
        uasyncore.resolve("a.test", lambda ip, e: self.results.append(("a", ip)), self.map)
        uasyncore.resolve("b.test", lambda ip, e: self.results.append(("b", ip)), self.map)
        self.step()
        self.assertEqual(self.results, [("b", "192.0.2.26")])
        ids = [question_of(q)[0] for q in s.queries]
        self.assertEqual(len(set(ids)), 2, ids)

    def test_a_truncated_answer_that_counts_records_it_left_out_gives_those_it_holds(self):
        def reply(q):
            msg = bytearray(answer(q, [a_record("192.0.2.27")], truncated=True))
            msg[7] = 2  # two counted, one there
            return bytes(msg)

        self.server(reply)
        self.resolve("cut.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.27", None)])


class GivenUpTest(Resolving, unittest.TestCase):
    # A connect() by name that timed out: its lookup ends at the next retry instead of asking on until
    # TIMEOUT, so the loop is left with nothing to do when the program's channels are gone.
    def test_a_lookup_nobody_waits_for_ends_at_its_next_retry(self):
        s = self.server(lambda q: None)  # a server that never answers
        errors = []

        class Client(uasyncore.dispatcher):
            connect_timeout = 1.0

            def handle_error(self):
                errors.append(support.handled_errno())
                self.close()

        c = Client(map=self.map)
        c.create_socket()
        c.connect(("slow.test", 80))
        self.wait(1.6)
        self.assertEqual(errors, [_port.ETIMEDOUT])
        self.assertEqual(len(s.queries), 2, "asked at 0 s and 0.5 s; at 1.5 s nobody waited")
        self.assertEqual([d for d in self.map.values() if isinstance(d, uasyncore_dns._Channel)], [])

    def test_a_lookup_resolve_asked_for_goes_on(self):
        s = self.server(lambda q: None)
        self.resolve("slow.test")
        self.wait(1.6)
        self.assertEqual(len(s.queries), 3)


class CloseAllTest(Resolving, unittest.TestCase):
    # A program retrying from its callback while close_all() cancels its lookup: the channel made then
    # is cleared out of the map; it must not take the lookups that come after.
    def test_a_lookup_started_while_close_all_runs_does_not_swallow_later_ones(self):
        s = DnsServer({}, lambda q: None)  # not in the test's map: close_all() leaves it
        self.addCleanup(s.close)
        uasyncore_dns.SERVERS = [s.address()]
        first = []

        def retry(ip, e):
            first.append(e)
            if len(first) == 1:
                uasyncore.resolve("again.test", retry, self.map)

        uasyncore.resolve("again.test", retry, self.map)
        uasyncore.close_all(self.map)
        s.reply = lambda q: answer(q, [a_record("192.0.2.28")])
        self.resolve("again.test")
        for _ in range(5):
            uasyncore.loop(timeout=0, count=1, map=self.map)
            uasyncore.loop(timeout=0, count=1, map=s._map)
        self.assertEqual(self.results, [("192.0.2.28", None)])
        self.assertEqual(len(first), 2, "the retry is cancelled too")


if __name__ == "__main__":
    unittest.main()
