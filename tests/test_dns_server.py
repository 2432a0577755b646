# The resolver against a real DNS server on loopback: dnsmasq (Debian's), answering from a hosts file
# (tests/dnsmasq_kit.py). A and AAAA records, IPv6 when a name has no IPv4 address, NXDOMAIN, the TTL
# cache, connect() by name to a listener, and a server that went away. Runs on CPython and MicroPython.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import socket
import unittest

import uasyncore
import uasyncore_dns
from dnsmasq_kit import MISSING, Dnsmasq, find_dnsmasq

HOSTS = """192.0.2.10 device.test
2001:db8::10 device.test
2001:db8::11 v6only.test
127.0.0.1 loop.test
192.0.2.1 ready.test
"""


def patch(test, mod, **attrs):
    for name, value in attrs.items():
        test.addCleanup(setattr, mod, name, getattr(mod, name))
        setattr(mod, name, value)


@unittest.skipUnless(find_dnsmasq(), MISSING)
class DnsmasqTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Dnsmasq(HOSTS)
        try:
            cls.server.start()
        except BaseException:
            cls.server.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.remove()

    def setUp(self):
        self.map = {}
        self.addCleanup(uasyncore.close_all, self.map, True)
        uasyncore_dns.clear_cache()
        self.addCleanup(uasyncore_dns.clear_cache)
        patch(self, uasyncore_dns, SERVERS=[("127.0.0.1", self.server.port)], TIMEOUT=5.0, RETRY=0.5, BLOCKING=False)
        self.results = []

    def resolve(self, host, family=0):
        uasyncore.resolve(host, lambda ip, e: self.results.append((host, ip, e)), self.map, family)

    def run_until(self, cond):
        return support.run_until(cond, map=self.map, passes=500, timeout=0.05)

    def test_a_and_aaaa_records(self):
        self.resolve("device.test")
        self.resolve("device.test", socket.AF_INET6)
        self.resolve("v6only.test")  # no A record: the AAAA one
        self.assertTrue(self.run_until(lambda: len(self.results) == 3))
        self.assertEqual(sorted(r[:2] for r in self.results), [
            ("device.test", "192.0.2.10"), ("device.test", "2001:db8::10"), ("v6only.test", "2001:db8::11")])
        self.assertEqual([r[2] for r in self.results], [None] * 3)

    def test_an_unknown_name_is_nxdomain(self):
        self.resolve("nosuch.test")
        self.assertTrue(self.run_until(lambda: self.results))
        error = self.results[0][2]
        self.assertEqual(error.args[0], uasyncore_dns.EAI_NONAME)
        self.assertIn("NXDOMAIN", error.args[1])

    def test_the_answer_is_kept_for_its_ttl(self):
        self.resolve("loop.test")
        self.assertTrue(self.run_until(lambda: self.results))
        self.resolve("loop.test")
        self.assertEqual(len(self.results), 2, "answered from the cache before resolve() returned")
        self.assertEqual(self.results[1][1], "127.0.0.1")

    def test_connect_by_name(self):
        accepted = []

        class Listener(uasyncore.dispatcher):
            def handle_accepted(self, sock, addr):
                accepted.append(True)
                sock.close()

        port = support.listen_any(Listener(map=self.map))
        connected = []

        class Client(uasyncore.dispatcher):
            def handle_connect(self):
                connected.append(self.addr)

            def writable(self):
                return not self.connected

            def handle_read(self):
                self.recv(64)

        c = Client(map=self.map)
        c.create_socket()
        c.connect(("loop.test", port))
        self.assertTrue(self.run_until(lambda: accepted and connected))
        self.assertEqual(connected, [("127.0.0.1", port)])


@unittest.skipUnless(find_dnsmasq(), MISSING)
class GoneServerTest(unittest.TestCase):
    def test_a_server_that_went_away_ends_the_lookup_at_its_deadline(self):
        server = Dnsmasq(HOSTS)
        self.addCleanup(server.remove)
        server.start()
        server.stop()
        m = {}
        self.addCleanup(uasyncore.close_all, m, True)
        patch(self, uasyncore_dns, SERVERS=[("127.0.0.1", server.port)], TIMEOUT=0.6, RETRY=0.1, BLOCKING=False)
        uasyncore_dns.clear_cache()
        results = []
        uasyncore.resolve("device.test", lambda ip, e: results.append(e), m)
        self.assertTrue(support.run_until(lambda: results, map=m, passes=200, timeout=0.05))
        self.assertEqual(results[0].args[0], uasyncore_dns.EAI_AGAIN)
        self.assertEqual(m, {})


if __name__ == "__main__":
    unittest.main()
