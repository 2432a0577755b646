# The resolver (lib/uasyncore_dns.py) against a DNS server of our own in the test's map, on loopback,
# with the loop's clock faked: answers, NXDOMAIN, NODATA then AAAA, truncated and malformed answers, a
# server that never answers, one that answers with the wrong id, SERVFAIL moving on to the next server,
# the retry schedule and the deadline, the TTL cache, and dispatcher.connect() by name. A real DNS
# server (dnsmasq): test_dns_server.py.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import socket
import unittest

import uasyncore
import uasyncore_dns
from dgram_kit import DnsServer, Resolving, a_record, answer, patch, question_of

_port = uasyncore._port


class ResolverTest(Resolving, unittest.TestCase):
    def test_an_a_record_answers(self):
        s = self.server(lambda q: answer(q, [a_record("192.0.2.7")]))
        self.resolve("Device.Test.")
        self.step()
        self.assertEqual(self.results, [("192.0.2.7", None)])
        self.assertEqual(question_of(s.queries[0])[1:], ("device.test", 1))

    def test_the_resolvers_channel_closes_once_nothing_is_asked(self):
        self.server(lambda q: answer(q, [a_record("192.0.2.7")]))
        self.resolve("device.test")
        self.assertEqual(len(self.map), 2)  # the server and the resolver's channel
        self.step()
        self.assertEqual(len(self.map), 1)

    def test_no_such_name(self):
        self.server(lambda q: answer(q, rcode=3))
        self.resolve("nosuch.test")
        self.step()
        code, message = self.error()
        self.assertEqual(code, uasyncore_dns.EAI_NONAME)
        self.assertIn("'nosuch.test'", message)
        self.assertIn("NXDOMAIN", message)

    def test_no_ipv4_address_asks_for_ipv6(self):
        v6 = bytes([0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [0x11])

        def reply(q):
            qtype = question_of(q)[2]
            return answer(q, [(28, v6, 60)] if qtype == 28 else [])

        s = self.server(reply)
        self.resolve("v6only.test")
        self.step()
        self.assertEqual(self.results, [("2001:db8::11", None)])
        self.assertEqual([question_of(q)[2] for q in s.queries], [1, 28])

    def test_an_ipv4_only_lookup_with_no_address_fails(self):
        self.server(lambda q: answer(q, []))
        self.resolve("v6only.test", socket.AF_INET)
        self.step()
        self.assertEqual(self.error()[0], uasyncore_dns.EAI_NONAME)

    def test_a_cname_chain_gives_the_address_at_its_end(self):
        def reply(q):
            msg = bytearray(answer(q, [(5, b"\x05alias\xc0\x0c", 30), a_record("192.0.2.8", 30)]))
            return bytes(msg)

        self.server(reply)
        self.resolve("www.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.8", None)])

    def test_a_truncated_answer_without_addresses_fails_at_once(self):
        self.server(lambda q: answer(q, [], truncated=True))
        self.resolve("big.test")
        self.step()
        code, message = self.error()
        self.assertEqual(code, uasyncore_dns.EAI_FAIL)
        self.assertIn("truncated", message)

    def test_a_truncated_answer_with_addresses_is_used(self):
        self.server(lambda q: answer(q, [a_record("192.0.2.9")], truncated=True))
        self.resolve("big.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.9", None)])

    def test_malformed_answers_are_ignored_until_the_deadline_says_why(self):
        def reply(q):
            good = answer(q, [a_record("192.0.2.9")])
            return good[:-3]  # the record cut short

        s = self.server(reply)
        self.resolve("broken.test")
        self.step()
        self.assertEqual(self.results, [])
        self.wait(5)
        code, message = self.error()
        self.assertEqual(code, uasyncore_dns.EAI_AGAIN)
        self.assertIn("malformed", message)
        self.assertGreater(len(s.queries), 1)  # asked again meanwhile

    def test_garbage_is_ignored(self):
        for junk in (b"", b"\x00", b"\xff" * 11, b"\x00\x00" + b"\xff" * 40):
            self.results = []
            s = self.server(lambda q, junk=junk: junk)
            self.resolve("junk.test")
            self.step()
            self.assertEqual(self.results, [], junk)
            s.close()
            uasyncore.close_all(self.map, True)

    def test_a_server_that_never_answers_is_asked_again_with_back_off_until_the_deadline(self):
        s = self.server(lambda q: None)
        self.resolve("silent.test")
        self.step()
        asked = [0]
        for tenth in range(1, 60):
            self.clock.advance(0.1)
            self.step(2)  # the timer sends, the server reads
            if len(s.queries) > len(asked):
                asked.append(tenth)
        # sent at 0, then after 0.5, 1, 2 s more (back-off), then the deadline at 5 s
        self.assertEqual(asked, [0, 5, 15, 35])
        code, message = self.error()
        self.assertEqual(code, uasyncore_dns.EAI_AGAIN)
        self.assertIn("no answer within 5.0 s", message)
        self.assertEqual(len(self.map), 1)  # the resolver's channel closed

    def test_retries_go_to_the_next_server(self):
        first = self.server(lambda q: None)
        second = self.server(lambda q: answer(q, [a_record("192.0.2.10")]))
        uasyncore_dns.SERVERS = [first.address(), second.address()]
        self.resolve("device.test")
        self.step()
        self.assertEqual(self.results, [])
        self.wait(0.5)
        self.assertEqual(self.results, [("192.0.2.10", None)])
        self.assertEqual((len(first.queries), len(second.queries)), (1, 1))

    def test_servfail_moves_on_to_the_next_server_at_once(self):
        first = self.server(lambda q: answer(q, rcode=2))
        second = self.server(lambda q: answer(q, [a_record("192.0.2.11")]))
        uasyncore_dns.SERVERS = [first.address(), second.address()]
        self.resolve("device.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.11", None)])

    def test_every_server_refusing_fails(self):
        self.server(lambda q: answer(q, rcode=5))
        self.resolve("device.test")
        self.step()
        code, message = self.error()
        self.assertEqual(code, uasyncore_dns.EAI_FAIL)
        self.assertIn("REFUSED", message)

    def test_an_answer_with_the_wrong_id_is_not_believed(self):
        s = self.server(lambda q: answer(q, [a_record("203.0.113.66")], qid=(q[0] << 8 | q[1]) ^ 0x5A5A))
        self.resolve("victim.test")
        self.step()
        self.assertEqual(self.results, [])
        self.wait(5)
        code, message = self.error()
        self.assertEqual(code, uasyncore_dns.EAI_AGAIN)
        self.assertIn("id never asked", message)
        self.assertGreater(len(s.queries), 1)

    def test_an_answer_to_another_question_is_not_believed(self):
        def reply(q):
            other = bytearray(q)
            other[13] = ord("x")  # the first letter of the name asked
            return answer(bytes(other), [a_record("203.0.113.66")])

        self.server(reply)
        self.resolve("victim.test")
        self.step()
        self.assertEqual(self.results, [])

    def test_an_answer_from_another_address_is_not_believed(self):
        liar = DnsServer(self.map, lambda q: None)
        real = self.server(lambda q: None)
        self.resolve("victim.test")
        self.step()
        liar.sendto(answer(real.queries[0], [a_record("203.0.113.66")]), real.clients[0])
        self.step()
        self.assertEqual(self.results, [])

    def test_answers_are_kept_for_their_ttl(self):
        s = self.server(lambda q: answer(q, [a_record("192.0.2.12", ttl=30)]))
        self.resolve("cached.test")
        self.step()
        self.resolve("cached.test")  # answered before resolve() returns
        self.assertEqual(self.results, [("192.0.2.12", None)] * 2)
        self.assertEqual(len(s.queries), 1)
        self.clock.advance(31)
        self.resolve("cached.test")
        self.step()
        self.assertEqual(len(s.queries), 2)

    def test_one_question_for_callers_asking_at_once(self):
        s = self.server(lambda q: answer(q, [a_record("192.0.2.13")]))
        self.resolve("shared.test")
        self.resolve("shared.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.13", None)] * 2)
        self.assertEqual(len(s.queries), 1)

    def test_localhost_and_bad_names_need_no_server(self):
        uasyncore_dns.SERVERS = []
        self.resolve("localhost")
        self.resolve("a..b")
        self.resolve("x" * 64 + ".test")
        self.resolve("nameserverless.test")
        self.assertEqual(self.results[0], ("127.0.0.1", None))
        self.assertEqual([r[1].args[0] for r in self.results[1:]], [uasyncore_dns.EAI_NONAME] * 2 + [uasyncore_dns.EAI_AGAIN])
        self.assertIn("no DNS server", self.results[3][1].args[1])

    def test_a_callback_that_raises_does_not_stop_the_others(self):
        self.server(lambda q: answer(q, [a_record("192.0.2.14")]))

        def bad(ip, e):
            raise ValueError("the program's bug")

        uasyncore.resolve("two.test", bad, self.map)
        self.resolve("two.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.14", None)])

    def test_close_all_cancels_lookups(self):
        self.server(lambda q: None)
        self.resolve("gone.test")
        uasyncore.close_all(self.map)
        self.assertEqual(self.error()[0], uasyncore_dns.EAI_FAIL)

    def test_a_server_given_by_name_is_refused_before_anything_is_asked(self):
        uasyncore_dns.SERVERS = ["dns.example"]
        with self.assertRaises(ValueError):
            self.resolve("any.test")
        self.wait(6)
        self.assertEqual(self.results, [], "no lookup was left running")

    def test_a_boards_servers_are_its_network_interfaces_unless_set(self):
        s = DnsServer(self.map, lambda q: answer(q, [a_record("192.0.2.15")]))
        patch(self, _port, RESOLV_CONF=None, dns_servers=lambda: [support.HOST])
        patch(self, uasyncore_dns, _PORT=s.port)
        self.resolve("device.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.15", None)])

    def test_a_hosts_servers_are_its_resolv_conf_nameservers(self):
        s = DnsServer(self.map, lambda q: answer(q, [a_record("192.0.2.16")]))
        path = "/tmp/uasyncore-resolv-%d.conf" % support.free_port()
        with open(path, "w") as f:
            f.write("# comment\nsearch example.test\nnameserver %s\nnameserver fe80::1%%eth0\noptions ndots:1\n" % support.HOST)
        self.addCleanup(__import__("os").remove, path)
        self.assertEqual(uasyncore_dns._resolv_conf(path), [support.HOST, "fe80::1"], "an IPv6 zone is dropped")
        self.assertEqual(uasyncore_dns._resolv_conf(path + ".missing"), [])
        patch(self, _port, RESOLV_CONF=path)
        patch(self, uasyncore_dns, _PORT=s.port)
        self.resolve("device.test")
        self.step()
        self.assertEqual(self.results, [("192.0.2.16", None)])


class ConnectByNameTest(Resolving, unittest.TestCase):
    def setUp(self):
        Resolving.setUp(self)
        self.log = []

    def client(self, timeout=None):
        log = self.log

        class Client(uasyncore.dispatcher):
            connect_timeout = timeout

            def handle_connect(self):
                log.append(("connect", self.addr))

            def handle_error(self):
                e = uasyncore.handled_error()
                log.append(("error", e.args[0], e.args[1] if len(e.args) > 1 else ""))
                self.close()

            def writable(self):
                return not self.connected

        c = Client(map=self.map)
        c.create_socket()
        return c

    def dns(self, reply):
        s = DnsServer(self.map, reply)
        patch(self, uasyncore_dns, SERVERS=[s.address()])
        return s

    def listener(self):
        accepted = []

        class Listener(uasyncore.dispatcher):
            def handle_accepted(self, sock, addr):
                accepted.append(True)
                sock.close()

        lst = Listener(map=self.map)
        return support.listen_any(lst), accepted

    def step_until(self, cond, passes=100):
        for _ in range(passes):
            if cond():
                return True
            uasyncore.loop(timeout=0.01, count=1, map=self.map)
        return cond()

    def test_connect_by_name_connects_to_the_address_found(self):
        port, accepted = self.listener()
        self.dns(lambda q: answer(q, [a_record("127.0.0.1")]))
        c = self.client()
        c.connect(("listener.test", port))
        self.assertTrue(c.connecting)
        self.assertTrue(self.step_until(lambda: accepted and self.log))
        self.assertEqual(self.log, [("connect", ("127.0.0.1", port))])
        self.assertTrue(c.connected)

    def test_a_name_that_does_not_resolve_ends_in_handle_error(self):
        self.dns(lambda q: answer(q, rcode=3))
        c = self.client()
        c.connect(("nosuch.test", 80))
        self.assertTrue(self.step_until(lambda: self.log))
        self.assertEqual(self.log[0][:2], ("error", uasyncore_dns.EAI_NONAME))
        self.assertIn("'nosuch.test'", self.log[0][2])
        self.assertTrue(c.socket is not None and not c.connecting)

    def test_a_resolver_that_fails_ends_the_connect_in_handle_error(self):
        self.dns(lambda q: None)
        c = self.client()
        c.connect(("failing.test", 80))
        channel = [d for d in self.map.values() if isinstance(d, uasyncore_dns._Channel)][0]
        uasyncore._error(channel, RuntimeError("fault: the resolver's read"))  # as the loop hands it a bug
        self.assertEqual(self.log[0][:2], ("error", uasyncore_dns.EAI_FAIL))
        self.assertIn("the resolver failed", self.log[0][2])

    def test_connect_timeout_covers_the_lookup(self):
        self.dns(lambda q: None)
        c = self.client(timeout=1.0)
        c.connect(("silent.test", 80))
        for _ in range(12):
            self.clock.advance(0.1)
            uasyncore.loop(timeout=0, count=1, map=self.map)
        self.assertEqual(self.log[0][:2], ("error", _port.ETIMEDOUT))
        self.assertEqual(len(self.log), 1)

    def test_the_timer_runs_on_from_the_lookup_into_the_connect(self):
        self.dns(lambda q: answer(q, [a_record("127.0.0.1")]))
        port, _ = self.listener()
        c = self.client(timeout=30.0)
        c.connect(("listener.test", port))
        timer = c._connect_timer
        self.assertIsNotNone(timer)
        self.assertTrue(self.step_until(lambda: c._connect_timer is not timer or c.connected))
        self.assertIsNone(c._connect_timer)  # stopped at the connect, not replaced by a second one

    def test_a_channel_closed_while_its_name_is_looked_up_stays_closed(self):
        s = self.dns(lambda q: answer(q, [a_record("127.0.0.1")]) if len(s.queries) > 1 else None)
        c = self.client()
        c.connect(("late.test", 80))
        c.close()
        self.clock.advance(0.6)
        for _ in range(5):
            uasyncore.loop(timeout=0, count=1, map=self.map)
        self.assertEqual(self.log, [])
        self.assertFalse(c.connecting or c.connected)
        self.assertNotIn(c, list(self.map.values()))

    def test_a_datagram_channel_connects_by_name(self):
        import uasyncore_dgram

        self.dns(lambda q: answer(q, [a_record("127.0.0.1")]))
        d = uasyncore_dgram.datagram_dispatcher(map=self.map)
        d.create_socket()
        d.connect(("peer.test", 9999))
        self.assertTrue(self.step_until(lambda: d.connected))
        self.assertEqual(d.addr, ("127.0.0.1", 9999))

    def test_the_blocking_lookup_gives_ip_strings_once_each_and_skips_addressless_ones(self):
        class Esp32Like:
            @staticmethod
            def getaddrinfo(host, port):  # ESP32: an IPv6 answer has no address
                return [(2, 1, 0, host, ("192.0.2.5", 0)), (2, 2, 0, host, ("192.0.2.5", 0)), (10, 1, 0, host, None)]

        patch(self, uasyncore_dns, socket=Esp32Like)
        self.assertEqual(uasyncore_dns._getaddrinfo("sensor.local", 0), ["192.0.2.5"])
        self.assertEqual(uasyncore_dns._getaddrinfo("sensor.local", 10), [])

    def test_blocking_uses_the_ports_own_lookup(self):
        patch(self, uasyncore_dns, BLOCKING=True)
        patch(self, uasyncore_dns, _getaddrinfo=lambda host, family: ["127.0.0.1"] if host == "blocking.test" else [])
        port, _ = self.listener()
        c = self.client()
        c.connect(("blocking.test", port))
        self.assertTrue(self.step_until(lambda: self.log))
        self.assertEqual(self.log, [("connect", ("127.0.0.1", port))])


if __name__ == "__main__":
    unittest.main()
