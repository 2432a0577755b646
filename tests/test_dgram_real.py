# Datagram channels over real loopback sockets, where only they can show it: 10,000 datagrams of
# 0..1472 bytes echoed with none lost, an idle channel costing no loop passes, empty datagrams,
# truncation, a refused peer, connect() sending nothing, multicast on 127.0.0.1 (TTL 0: it never
# leaves the machine).
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
import uasyncore_dgram
from dgram_kit import Collector, bind_any, free_udp_port

_port = uasyncore._port
HOST = support.HOST
GROUP = "239.255.77.%d"  # organisation-local scope; sent with TTL 0 out of 127.0.0.1


class Echo(uasyncore_dgram.datagram_dispatcher_with_send):
    def handle_datagram(self, data, addr):
        self.sendto(data, addr)


class Checker(Collector):
    # Checks each echo as it comes (datagram i: i % 1473 bytes of i & 255) and keeps only the count:
    # 10,000 datagrams would not fit a MicroPython heap.
    received = 0
    wrong = None

    def handle_datagram(self, data, addr):
        i = self.received
        size = i % 1473
        if self.wrong is None and (len(data) != size or data.count(bytes([i & 255])) != size):
            self.wrong = "datagram %d: %d bytes, %r..., from %r" % (i, len(data), data[:8], addr)
        self.received = i + 1


class LoopbackTest(unittest.TestCase):
    def setUp(self):
        self.map = {}
        self.addCleanup(uasyncore.close_all, self.map, True)

    def collector(self):
        c = Collector(self.map)
        return c, bind_any(c)

    def run_until(self, cond, passes=200):
        return support.run_until(cond, map=self.map, passes=passes, timeout=0.05)

    def test_ten_thousand_datagrams_of_every_size_come_back_in_order(self):
        echo = Echo(map=self.map)
        echo.create_socket()
        port = bind_any(echo)
        client = Checker(self.map)
        bind_any(client)
        total = 10000
        sent = 0
        window = 32  # datagrams in flight: loopback buffers hold them all
        passes = 0
        while client.received < total and passes < 20000 and client.wrong is None:
            while sent < total and sent - client.received < window:
                client.sendto(bytes([sent & 255]) * (sent % 1473), (HOST, port))
                sent += 1
            uasyncore.loop(timeout=1, count=1, map=self.map)
            passes += 1
        self.assertIsNone(client.wrong)
        self.assertEqual((client.received, client.errors), (total, []))

    def test_an_idle_datagram_channel_costs_no_passes(self):
        self.collector()  # idle
        fired = []
        uasyncore.call_later(0.2, fired.append, True, map=self.map)
        passes = 0
        while not fired and passes < 1000:
            uasyncore.loop(timeout=5, count=1, map=self.map)
            passes += 1
        self.assertTrue(fired)
        self.assertLessEqual(passes, 3, "the loop spun over an idle datagram channel")

    def test_a_channel_with_queued_output_is_polled_for_writing_only_until_it_drains(self):
        peer, port = self.collector()
        sender = Collector(self.map)
        sender._queue = [(b"queued", (HOST, port))]  # as a send that would block leaves it
        sender._change(6 + uasyncore_dgram.QUEUE_OVERHEAD)
        self.assertTrue(self.run_until(lambda: peer.got))
        self.assertEqual(peer.got[0][0], b"queued")
        fired = []
        uasyncore.call_later(0.2, fired.append, True, map=self.map)
        passes = 0
        while not fired and passes < 1000:
            uasyncore.loop(timeout=5, count=1, map=self.map)
            passes += 1
        self.assertLessEqual(passes, 3)

    def test_an_empty_datagram_arrives_as_one(self):
        receiver, port = self.collector()
        sender = Collector(self.map)
        sender.sendto(b"", (HOST, port))
        sender.sendto(b"after", (HOST, port))
        self.assertTrue(self.run_until(lambda: len(receiver.got) == 2))
        self.assertEqual([d for d, a in receiver.got], [b"", b"after"])
        self.assertIn(_port.key(receiver.socket), self.map)

    # IPv6 on loopback: the sender's address comes back as a (host, port, ...) tuple on every port (the
    # unix port's five-field sockaddr closed the channel at its first datagram).
    def test_an_ipv6_datagram_says_where_it_came_from(self):
        got = []

        class Receiver(uasyncore_dgram.datagram_dispatcher):
            def handle_datagram(self, data, addr):
                got.append((data, addr))

            def handle_error(self):
                got.append(("error", uasyncore.handled_error()))

        ends = []
        for cls in (Receiver, uasyncore_dgram.datagram_dispatcher):
            d = cls(map=self.map)
            d.create_socket(uasyncore_dgram.socket.AF_INET6)
            try:
                ends.append(bind_any(d, "::1"))
            except OSError:
                self.skipTest("no IPv6 loopback here")
            ends.append(d)
        port, _, sender_port, sender = ends
        sender.sendto(b"six", ("::1", port))
        self.assertTrue(self.run_until(lambda: got))
        data, addr = got[0]
        self.assertEqual((data, addr[:2]), (b"six", ("::1", sender_port)))

    def test_a_datagram_longer_than_the_read_is_cut_and_the_next_is_whole(self):
        receiver, port = self.collector()
        receiver.max_datagram_size = 10
        sender = Collector(self.map)
        sender.sendto(b"0123456789abcdef", (HOST, port))
        sender.sendto(b"short", (HOST, port))
        self.assertTrue(self.run_until(lambda: len(receiver.got) == 2))
        self.assertEqual([d for d, a in receiver.got], [b"0123456789", b"short"])

    def test_connect_sends_nothing(self):
        receiver, port = self.collector()
        client = Collector(self.map)
        client.connect((HOST, port))
        self.assertTrue(client.connected)
        for _ in range(3):
            uasyncore.loop(timeout=0.02, count=1, map=self.map)
        client.sendto(b"first")
        self.assertTrue(self.run_until(lambda: receiver.got))
        self.assertEqual([d for d, a in receiver.got], [b"first"])

    def test_a_refused_peer_reaches_handle_error_and_the_channel_stays(self):
        client = Collector(self.map)
        client.connect((HOST, free_udp_port()))
        client.sendto(b"anyone?")
        self.assertTrue(self.run_until(lambda: client.errors))
        self.assertEqual(client.errors, [support.ECONNREFUSED])
        self.assertIn(_port.key(client.socket), self.map)

    def test_multicast_on_loopback_joins_and_leaves(self):
        if _port.IP_ADD_MEMBERSHIP is None or _port.IP_MULTICAST_IF is None:
            self.skipTest("no multicast options on this port")
        group = GROUP % (1 + support.random_port() % 250)
        receiver = Collector(self.map)
        receiver.set_reuse_addr()
        port = bind_any(receiver, "0.0.0.0")
        receiver.join_group(group, HOST)
        sender = Collector(self.map)
        sender.set_multicast_interface(HOST)
        sender.set_multicast_ttl(0)
        sender.sendto(b"to the group", (group, port))
        self.assertTrue(self.run_until(lambda: receiver.got))
        self.assertEqual(receiver.got[0][0], b"to the group")
        receiver.leave_group(group, HOST)
        sender.sendto(b"after leaving", (group, port))
        sender.sendto(b"marker", (HOST, port))
        self.assertTrue(self.run_until(lambda: len(receiver.got) >= 2))
        for _ in range(3):
            uasyncore.loop(timeout=0.02, count=1, map=self.map)
        self.assertEqual([d for d, a in receiver.got], [b"to the group", b"marker"])


if __name__ == "__main__":
    unittest.main()
