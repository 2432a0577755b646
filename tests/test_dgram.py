# Datagram channels (lib/uasyncore_dgram.py) with scripted sockets and a fake poller: addresses,
# would-block, empty datagrams, write interest, the send queue and its watermarks, connect(), errors,
# multicast options and the ESP32 quirk's socket replacement. Real loopback sockets: test_dgram_real.py.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import sys
import unittest

import uasyncore
import uasyncore_dgram
from dgram_kit import FakeDatagramSocket
from support import ERR, IN, OUT, oserror

_port = uasyncore._port
PEER = ("127.0.0.1", 4000)


def patch(test, mod, **attrs):
    for name, value in attrs.items():
        test.addCleanup(setattr, mod, name, getattr(mod, name))
        setattr(mod, name, value)


class Channel(uasyncore_dgram.datagram_dispatcher_with_send):
    out_high = 100
    out_low = 40

    def __init__(self, sock, map):
        self.got = []
        self.log = []
        uasyncore_dgram.datagram_dispatcher_with_send.__init__(self, sock, map)

    def handle_datagram(self, data, addr):
        self.got.append((data, addr))

    def handle_error(self):
        self.log.append(("error", support.handled_errno()))

    def handle_close(self):
        self.log.append("close")
        self.close()

    def pause_writing(self):
        self.log.append("pause")

    def resume_writing(self):
        self.log.append("resume")


class DatagramTest(unittest.TestCase):
    def setUp(self):
        self.map, self.poller = support.fake_map()
        self.addCleanup(support.forget_map, self.map)

    def channel(self, **kw):
        sock = FakeDatagramSocket(**kw)
        return sock, Channel(sock, self.map)

    def step(self, *events):
        self.poller.script.append(list(events))
        uasyncore.loop(timeout=0, count=1, map=self.map)

    def test_recvfrom_gives_host_port_and_would_block_gives_nothing(self):
        _, d = self.channel(inbox=[(b"hi", _port.sockaddr(PEER))])
        self.assertEqual(d.recvfrom(100), (b"hi", PEER))
        self.assertEqual(d.recvfrom(100), (b"", None))

    def test_an_empty_datagram_is_a_datagram_and_the_channel_stays(self):
        sock, d = self.channel(inbox=[(b"", _port.sockaddr(PEER)), (b"next", _port.sockaddr(PEER))])
        self.step((sock, IN))
        self.assertEqual(d.got, [(b"", PEER), (b"next", PEER)])
        self.assertEqual(d.log, [])
        self.assertIs(self.map.get(_port.key(sock)), d)

    def test_recv_of_an_empty_datagram_does_not_close(self):
        _, d = self.channel(inbox=[(b"", PEER)])
        self.assertEqual(d.recv(10), b"")
        buf = bytearray(4)
        self.assertEqual(d.recv_into(buf), 0)
        self.assertEqual(d.log, [])

    def test_handle_read_takes_at_most_drain_datagrams_a_pass(self):
        sock, d = self.channel(inbox=[(b"%d" % i, PEER) for i in range(uasyncore_dgram.DRAIN + 3)])
        self.step((sock, IN))
        self.assertEqual(len(d.got), uasyncore_dgram.DRAIN)
        self.step((sock, IN))
        self.assertEqual(len(d.got), uasyncore_dgram.DRAIN + 3)

    def test_an_idle_channel_is_never_polled_for_writing(self):
        sock, d = self.channel()
        uasyncore.loop(timeout=0, count=1, map=self.map)
        self.assertEqual(self.poller.mask(sock), IN | _port.POLLPRI)
        self.assertFalse(support.asked_every_pass(d))
        raw = uasyncore_dgram.datagram_dispatcher(FakeDatagramSocket(), self.map)
        uasyncore.loop(timeout=0, count=1, map=self.map)
        self.assertFalse(self.poller.mask(raw.socket) & OUT)
        self.assertFalse(support.asked_every_pass(raw))

    def test_sendto_sends_now_and_queues_what_would_block_in_order(self):
        sock, d = self.channel(send_plan=[True, oserror(support.EAGAIN)])
        d.sendto(b"one", PEER)
        d.sendto(b"two", ("127.0.0.1", 4001))
        d.sendto(b"", PEER)  # queued behind: order is kept, even when the socket has room again
        self.assertEqual(sock.sent, [(b"one", PEER)])
        self.assertEqual(d.queued_datagrams(), 2)
        uasyncore.loop(timeout=0, count=1, map=self.map)
        self.assertTrue(self.poller.mask(sock) & OUT)
        self.step((sock, OUT))
        self.assertEqual(sock.sent, [(b"one", PEER), (b"two", ("127.0.0.1", 4001)), (b"", PEER)])
        self.assertEqual(d.queued_datagrams(), 0)
        uasyncore.loop(timeout=0, count=1, map=self.map)
        self.assertFalse(self.poller.mask(sock) & OUT)

    def test_the_queue_copies_what_it_keeps(self):
        sock, d = self.channel(send_plan=[oserror(support.EAGAIN)])
        d.connect(PEER)
        buf = bytearray(b"abc")
        d.send_from(buf, 2)
        buf[0] = ord("X")
        self.step((sock, OUT))
        self.assertEqual([s[0] for s in sock.sent], [b"ab"])

    def test_watermarks_count_the_queue(self):
        sock, d = self.channel(send_plan=[oserror(support.EAGAIN)])
        for _ in range(3):
            d.sendto(b"x" * 20, PEER)  # 36 bytes each, with the datagram's place in the queue
        self.assertEqual(d.log, ["pause"])
        sock.send_plan = [True, oserror(support.EAGAIN)]
        self.step((sock, OUT))
        self.assertEqual(d.log, ["pause"])  # 72 bytes left: over out_low
        sock.send_plan = [True, oserror(support.EAGAIN)]
        self.step((sock, OUT))
        self.assertEqual(d.log, ["pause", "resume"])

    # What the send would refuse is refused by sendto() even behind a queue: in handle_write it closed
    # the channel, and the datagrams queued for every other peer with it.
    def test_a_queued_sendto_refuses_what_the_send_would_refuse(self):
        sock, d = self.channel(send_plan=[oserror(support.EAGAIN)])
        d.sendto(b"one", PEER)
        self.assertRaises(ValueError, d.sendto, b"two", ("no.such.name", 9))
        self.assertRaises(OSError, d.sendto, b"two")  # not connected: no address
        self.assertRaises(ValueError, d.sendto, b"two", ("127.0.0.1", 70000))
        self.assertEqual(d.queued_datagrams(), 1)
        self.step((sock, OUT))
        self.assertEqual((sock.sent, d.log), ([(b"one", PEER)], []))

    # A memoryview of 2-byte items: its len() counts items, the queue counts bytes.
    def test_the_queue_counts_the_bytes_of_a_memoryview_of_wider_items(self):
        import array

        sock, d = self.channel(send_plan=[oserror(support.EAGAIN)])
        d.out_high = 10000
        d.sendto(memoryview(array.array("h", range(100))), PEER)
        self.assertEqual(d._queued, 200 + uasyncore_dgram.QUEUE_OVERHEAD)
        self.step((sock, OUT))
        self.assertEqual((len(sock.sent[0][0]), d._queued, d.writable()), (200, 0, False))

    def test_an_empty_datagram_the_port_sent_though_it_raised_is_not_sent_again(self):
        # ESP32: lwIP sends it, modsocket.c raises ETIMEDOUT all the same (EMPTY_SEND_RAISES)
        patch(self, _port, EMPTY_SEND_RAISES=True)
        sock, d = self.channel(send_plan=[oserror(support.EAGAIN)])
        d.sendto(b"", PEER)
        self.assertEqual(d.queued_datagrams(), 0, "sent once, not queued to be sent again")

    def test_raw_sendto_says_zero_when_it_would_block_and_queues_nothing(self):
        sock = FakeDatagramSocket(send_plan=[oserror(support.EAGAIN)])
        d = uasyncore_dgram.datagram_dispatcher(sock, self.map)
        self.assertEqual(d.sendto(b"abc", PEER), 0)
        self.assertEqual(d.sendto(b"abc", PEER), 3)
        self.assertEqual(sock.sent, [(b"abc", PEER)])

    def test_a_datagram_that_fails_is_dropped_and_its_error_raised(self):
        sock, d = self.channel(send_plan=[oserror(support.EAGAIN)])
        d.sendto(b"too big", PEER)
        d.sendto(b"fine", PEER)
        sock.send_plan = [oserror(_port.EMSGSIZE)]
        self.step((sock, OUT))
        self.assertEqual(d.log, [("error", _port.EMSGSIZE)])
        self.step((sock, OUT))
        self.assertEqual(sock.sent, [(b"fine", PEER)])

    def test_connect_sends_nothing_and_sendto_without_address_goes_to_the_peer(self):
        sock, d = self.channel()
        connected = []
        d.handle_connect = lambda: connected.append(True)
        d.connect(PEER)
        self.assertEqual((d.connected, d.connecting, sock.connected_to, connected), (True, False, PEER, [True]))
        self.assertEqual(sock.sent, [])
        d.sendto(b"x")
        self.assertEqual(sock.sent, [(b"x", PEER)])

    def test_sendto_without_address_when_not_connected_raises(self):
        _, d = self.channel()
        with self.assertRaises(OSError):
            d.sendto(b"x")

    def test_sendto_refuses_a_host_name(self):
        _, d = self.channel()
        with self.assertRaises(ValueError):
            d.sendto(b"x", ("example.test", 53))

    def test_an_error_event_is_read_and_reaches_handle_error_not_close(self):
        refused = oserror(support.ECONNREFUSED)
        sock, d = self.channel(inbox=[refused, (b"later", PEER)])
        self.step((sock, ERR))
        self.assertEqual(d.log, [("error", support.ECONNREFUSED)])
        self.assertIs(self.map.get(_port.key(sock)), d)
        self.step((sock, IN))
        self.assertEqual(d.got, [(b"later", PEER)])

    def test_an_error_event_on_a_stream_channel_still_closes_it(self):
        sock = support.FakeSocket()
        closed = []

        class Stream(uasyncore.dispatcher):
            def handle_close(self):
                closed.append(True)
                self.close()

        Stream(sock, self.map)
        self.step((sock, ERR))
        self.assertEqual(closed, [True])

    def test_multicast_membership_options(self):
        if _port.IP_ADD_MEMBERSHIP is None:
            self.skipTest("no multicast on this port")
        sock, d = self.channel()
        d.join_group("239.255.1.2", "127.0.0.1")
        mreq = bytes([239, 255, 1, 2, 127, 0, 0, 1])
        self.assertEqual(sock.options[-1], (_port.IPPROTO_IP, _port.IP_ADD_MEMBERSHIP, mreq))
        d.leave_group("239.255.1.2", "127.0.0.1")
        self.assertEqual(sock.options[-1], (_port.IPPROTO_IP, _port.IP_DROP_MEMBERSHIP, mreq))
        with self.assertRaises(ValueError):
            d.join_group("239.255.1", "0.0.0.0")

    def test_an_unsupported_option_says_so(self):
        patch(self, _port, IP_MULTICAST_TTL=None)
        _, d = self.channel()
        with self.assertRaises(OSError):
            d.set_multicast_ttl(1)


class ReplacedSocketTest(unittest.TestCase):
    # ESP32 (EMPTY_DATAGRAM_CLOSES): after an empty datagram the socket reads b"" for good, so the channel
    # takes a fresh one, bound, joined and connected as before; without IP_DROP_MEMBERSHIP, leaving a
    # group does the same.
    def setUp(self):
        self.map, self.poller = support.fake_map()
        self.addCleanup(support.forget_map, self.map)
        self.made = []
        real = uasyncore_dgram.socket

        class SocketModule:
            AF_INET = real.AF_INET
            SOCK_DGRAM = real.SOCK_DGRAM
            SOL_SOCKET = real.SOL_SOCKET
            SO_REUSEADDR = real.SO_REUSEADDR

            @staticmethod
            def socket(family, type):
                s = FakeDatagramSocket()
                s.bound = []
                s.bind = s.bound.append
                self.made.append(s)
                return s

        patch(self, uasyncore_dgram, socket=SocketModule)
        patch(self, uasyncore, socket=SocketModule)

    def test_an_empty_datagram_on_esp32_gives_the_channel_a_fresh_socket(self):
        patch(self, _port, EMPTY_DATAGRAM_CLOSES=True, IP_ADD_MEMBERSHIP=35)
        d = Channel(None, self.map)
        d.create_socket()
        d.set_reuse_addr()
        d.bind(("0.0.0.0", 5353))
        d.join_group("224.0.0.251")
        first = d.socket
        first.inbox = [(b"", PEER)]
        self.assertEqual(d.recvfrom(10), (b"", PEER))
        self.assertTrue(first.closed)
        fresh = d.socket
        self.assertIsNot(fresh, first)
        self.assertEqual(fresh.bound, [_port.sockaddr(("0.0.0.0", 5353))])
        self.assertEqual([o[1] for o in fresh.options], [uasyncore.socket.SO_REUSEADDR, 35])
        self.assertIs(self.map.get(_port.key(fresh)), d)
        self.assertNotIn(_port.key(first), self.map)

    def test_the_fresh_socket_keeps_the_broadcast_and_multicast_settings(self):
        patch(self, _port, EMPTY_DATAGRAM_CLOSES=True, IP_MULTICAST_TTL=33)
        d = Channel(None, self.map)
        d.create_socket()
        d.set_broadcast(True)
        d.set_multicast_ttl(4)
        d.set_multicast_ttl(2)
        d.socket.inbox = [(b"", PEER)]
        d.recvfrom(10)
        self.assertEqual(d.socket.options, [(uasyncore.socket.SOL_SOCKET, _port.SO_BROADCAST, 1), (_port.IPPROTO_IP, 33, 2)])

    def test_leaving_a_group_where_the_port_cannot_replaces_the_socket(self):
        patch(self, _port, IP_DROP_MEMBERSHIP=None, IP_ADD_MEMBERSHIP=35)
        d = Channel(None, self.map)
        d.create_socket()
        d.bind(("0.0.0.0", 5353))
        d.join_group("224.0.0.251")
        d.join_group("239.255.0.9")
        first = d.socket
        d.leave_group("224.0.0.251")
        self.assertTrue(first.closed)
        joined = [o[2] for o in d.socket.options if o[1] == 35]
        self.assertEqual(joined, [bytes([239, 255, 0, 9, 0, 0, 0, 0])])


class ImportCostTest(unittest.TestCase):
    # A plain TCP service pays for the core alone: IP addresses never load the resolver.
    def test_ip_addresses_do_not_load_the_resolver(self):
        saved = sys.modules.pop("uasyncore_dns", None)
        if saved is not None:
            self.addCleanup(sys.modules.__setitem__, "uasyncore_dns", saved)
        got = []
        uasyncore.resolve("192.0.2.1", lambda ip, e: got.append((ip, e)))
        uasyncore.resolve("::1", lambda ip, e: got.append((ip, e)))
        m, _ = support.fake_map()
        self.addCleanup(support.forget_map, m)
        d = uasyncore.dispatcher(map=m)
        d.set_socket(support.FakeSocket(connect_result=_port.EINPROGRESS))
        d.connect(("127.0.0.1", 80))
        self.assertTrue(d.connecting)
        self.assertEqual(got, [("192.0.2.1", None), ("::1", None)])
        self.assertNotIn("uasyncore_dns", sys.modules)


if __name__ == "__main__":
    unittest.main()
