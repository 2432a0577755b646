# The port adapters against each port's quirks, with fake sockets and pollers: every adapter must give
# the core the answers it expects. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py).
#
# Each ports/<port>/uasyncore_port.py is loaded as a module of its own, beside the adapter the core
# itself runs on; the esp32 and rp2 adapters are exercised here only through fakes (no board is used).
import support  # first: puts lib/ and the host's adapter on the path

import gc
import socket
import struct
import sys
import unittest

import uasyncore
from port_fakes import (
    CONTRACT,
    DONTWAIT_BIT,
    MP_POLL,
    MP_INTERNAL,
    NEWLIB,
    PEEK_BIT,
    BoardSocket,
    DatagramBoardSocket,
    Esp32Socket,
    FakeNetwork,
    FakePoll,
    FakeSocketModule,
    PosixPoll,
    PcbPool,
    Record,
    Rp2Socket,
    StreamSocket,
    core_names,
    load,
    load_core,
    oserror,
    patch,
    read_until_error,
    scripted_map,
    select_with,
)


##### every adapter: the names and answers the core relies on


class AdapterChecks:
    PORT = None  # set by each TestCase below
    MAX_CONNECTIONS = None

    @classmethod
    def setUpClass(cls):
        try:
            cls.port = load(cls.PORT)
        except (ImportError, AttributeError) as exc:
            raise unittest.SkipTest("the %s adapter does not load on this runtime: %r" % (cls.PORT, exc))

    def test_defines_every_name_the_core_uses(self):
        names = sorted(set(CONTRACT) | core_names())
        self.assertIn("sock_error", names)
        missing = [name for name in names if not hasattr(self.port, name)]
        if self.port.RESOLV_CONF is None and not hasattr(self.port, "dns_servers"):
            missing.append("dns_servers")  # where the resolver learns its servers without a resolv.conf
        self.assertEqual(missing, [])

    def test_recv_into_reads_at_most_n_bytes(self):
        sock = StreamSocket(b"abcdef")
        buf = bytearray(8)
        self.assertEqual(self.port.recv_into(sock, buf, 4), 4)
        self.assertEqual((bytes(buf[:4]), sock.asked), (b"abcd", [4]))
        self.assertEqual(self.port.recv_into(sock, buf, 8), 2)
        self.assertEqual(bytes(buf[:2]), b"ef")

    def test_recv_into_with_no_count_fills_what_the_buffer_holds(self):
        sock = StreamSocket(b"0123456789")
        buf = bytearray(8)
        self.assertEqual(self.port.recv_into(sock, buf, 0), 8)
        self.assertEqual(bytes(buf), b"01234567")

    def test_recv_into_once_keeps_the_bytes_that_came_before_a_reset(self):
        sock = StreamSocket(b"last ", b"words", oserror(104))
        self.assertEqual(read_until_error(self.port.recv_into_once, sock), (b"last words", 104))

    def test_errno_names_are_distinct(self):
        names = [n for n in CONTRACT if n[0] == "E" and n != "EWOULDBLOCK"]
        values = [getattr(self.port, n) for n in names]
        self.assertEqual(len(set(values)), len(values), dict(zip(names, values)))

    def test_strerror_names_every_errno(self):
        for name in CONTRACT:
            if name[0] == "E":
                text = self.port.strerror(getattr(self.port, name))
                self.assertTrue(isinstance(text, str) and text, name)

    def test_ticks_arithmetic_survives_the_wrap(self):
        p = self.port
        t = p.ticks_ms()
        self.assertEqual(p.ticks_diff(p.ticks_add(t, 1500), t), 1500)
        self.assertEqual(p.ticks_diff(t, p.ticks_add(t, 10)), -10)

    def test_max_connections(self):
        self.assertEqual(self.port.MAX_CONNECTIONS, self.MAX_CONNECTIONS)

    def test_sendto_takes_a_datagram(self):
        sock = DatagramBoardSocket()
        self.assertEqual(self.port.sendto(sock, b"abc", ("192.0.2.1", 9)), 3)
        self.assertEqual(sock.sent, [(b"abc", ("192.0.2.1", 9))])

    def test_multicast_options_are_numbers_or_none(self):
        for name in ("IP_ADD_MEMBERSHIP", "IP_DROP_MEMBERSHIP", "IP_MULTICAST_IF", "IP_MULTICAST_TTL"):
            value = getattr(self.port, name)
            self.assertTrue(value is None or isinstance(value, int), name)
        self.assertIsInstance(self.port.IPPROTO_IP, int)
        self.assertIsInstance(self.port.SO_BROADCAST, int)

    def test_tb_entries_name_the_raising_function(self):
        if not hasattr(sys, "print_exception") and self.PORT != "cpython":
            self.skipTest("MicroPython adapters read print_exception, which this runtime lacks")

        def failing():
            raise ValueError("x")

        try:
            failing()
        except ValueError as exc:
            entries = self.port.tb_entries(exc)
        self.assertEqual(entries[-1][1], "failing")
        self.assertTrue(entries[-1][2].isdigit(), entries)


class HostChecks(AdapterChecks):
    def test_hosts_and_resolv_conf_files_and_an_empty_datagram_that_reads_as_one(self):
        self.assertEqual(self.port.HOSTS_FILE, "/etc/hosts")
        self.assertEqual(self.port.RESOLV_CONF, "/etc/resolv.conf")
        self.assertFalse(self.port.EMPTY_DATAGRAM_CLOSES)


class UnixPollTest(unittest.TestCase):
    # The runtime's own poller with a real SSL object (a class of its own: at a board-sized heap a
    # process of its own, where mbedTLS's buffers fit beside the harness).
    def test_an_ssl_object_stays_polled_while_sockets_join(self):
        # the real poller, on the runtime this runs on: an SSL object, then sockets enough to grow
        # MicroPython's pollfd array (which, unguarded, gave the SSL object a wild pointer: a segfault)
        try:
            import ssl
        except ImportError:
            self.skipTest("no ssl")
        gc.collect()
        port = support.free_port()
        srv = socket.socket()
        srv.bind(uasyncore._port.sockaddr((support.HOST, port)))
        srv.listen(1)
        conn = support.client(port)
        conn.setblocking(False)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            tls = ctx.wrap_socket(conn, server_hostname="x", do_handshake_on_connect=False)
        except OSError as e:  # mbedTLS on a board-sized GC heap: its 16.7 KB block beside the harness
            conn.close()
            srv.close()
            if e.args[0] != uasyncore._port.ENOMEM:
                raise
            self.skipTest("no room for an SSL object beside the test harness")
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks + [tls, srv]])
        near = []
        p = uasyncore._port.Poller()
        self.addCleanup(p.close)
        key = uasyncore._port.key
        p.register(key(tls), uasyncore._port.POLLOUT)
        for _ in range(24):
            socks.append(socket.socket())
            p.register(key(socks[-1]), uasyncore._port.POLLIN)
            near.append(bytearray(24))  # taken next to the array: it cannot grow where it is
        seen = [flags for k, flags in p.wait(0) if k == key(tls)]
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0] & uasyncore._port.POLLOUT)


class CPythonAdapterTest(HostChecks, unittest.TestCase):
    PORT = "cpython"
    MAX_CONNECTIONS = None

    def test_collect_is_a_no_op(self):
        self.assertIsNot(self.port.collect, gc.collect)
        self.assertIsNone(self.port.collect())

    # What the core reads as a socket closed behind a channel's back: EBADF, whatever epoll said.
    def assertEbadf(self, call, *args):
        with self.assertRaises(OSError) as caught:
            call(*args)
        self.assertEqual(caught.exception.args[0], self.port.EBADF)

    def test_registering_a_socket_closed_before_it_was_registered_says_ebadf(self):
        p = self.port.Poller()
        self.addCleanup(p.close)
        self.assertEbadf(p.register, -1, self.port.POLLIN)  # its fileno() once closed

    def test_modifying_a_socket_closed_since_it_was_registered_says_ebadf(self):
        import socket

        p = self.port.Poller()
        self.addCleanup(p.close)
        s = socket.socket()
        fd = s.fileno()
        p.register(fd, self.port.POLLIN)
        s.close()  # epoll forgets it
        self.assertEbadf(p.modify, fd, self.port.POLLOUT)
        s = socket.socket()  # the OS gives the number to the next socket, which epoll does not know
        self.addCleanup(s.close)
        self.assertEqual(s.fileno(), fd)
        self.assertEbadf(p.modify, fd, self.port.POLLOUT)


class UnixAdapterTest(HostChecks, unittest.TestCase):
    PORT = "unix"
    MAX_CONNECTIONS = None

    def test_collect_is_the_garbage_collector(self):
        self.assertIs(self.port.collect, gc.collect)

    def test_recv_size_suits_the_heap(self):
        if not hasattr(gc, "mem_free"):
            self.skipTest("needs MicroPython's heap figures")
        heap = gc.mem_free() + gc.mem_alloc()
        self.assertLessEqual(self.port.RECV_SIZE * 16, heap)  # a 128K heap reads 4 KiB at a time
        if heap >= 2000 * 1024:  # the unix port's default heap: a host runtime, big reads as on CPython
            self.assertEqual(self.port.RECV_SIZE, 65536)

    # A socket class standing in for the port's own, so that the poller takes it as a socket.
    def sockets(self, fd=3):
        class Sock:
            def fileno(self):
                return fd

        mod = Record()
        mod.socket = Sock
        patch(self, self.port, socket=mod)
        return Sock

    def test_register_completes_an_entry_a_memory_error_left_half_made(self):
        Sock = self.sockets()
        log = []
        os_poll = FakePoll(log)
        real_register = os_poll.register
        failures = [MemoryError()]

        def register(obj, mask):  # the first try runs out of memory, the second finds room
            if failures:
                os_poll.entries[obj] = None
                raise failures.pop()
            real_register(obj, mask)

        os_poll.register = register
        patch(self, self.port, select=select_with(os_poll))
        p = self.port.Poller()
        sock = Sock()
        p.register(sock, self.port.POLLIN)
        self.assertEqual(os_poll.entries, {sock: self.port.POLLIN})
        self.assertEqual(list(p.wait(0)), [])

    def test_a_closed_socket_is_refused_with_ebadf(self):
        Sock = self.sockets(fd=-1)
        os_poll = FakePoll([])
        patch(self, self.port, select=select_with(os_poll))
        with self.assertRaises(OSError) as caught:
            self.port.Poller().register(Sock(), self.port.POLLIN)  # poll would take it, and never report it
        self.assertEqual(caught.exception.args[0], self.port.EBADF)
        self.assertEqual(os_poll.entries, {})

    def test_an_object_poll_cannot_take_leaves_no_half_made_entry(self):
        # select.poll adds the key before it finds the object is no stream; unregister() cannot take
        # that half-made entry out again on this port, so only a scratch poll may ever hold one
        self.sockets()
        foreign = object()
        os_poll, scratch = FakePoll([]), FakePoll([])
        scratch.refuse[foreign] = OSError("stream operation not supported")
        patch(self, self.port, select=select_with(os_poll, scratch, FakePoll([])))
        p = self.port.Poller()
        with self.assertRaises(OSError):
            p.register(foreign, self.port.POLLIN)
        self.assertEqual(os_poll.entries, {})
        self.assertEqual(list(p.wait(0)), [])  # the fake fails here on a half-made entry

    def fake_poll(self, failures):
        # select.poll of the unix port: each failure is "table" (growing the map failed: the key was
        # never added) or "object" (the key is in, its poll object is not: a half-made entry)
        os_poll = FakePoll([])
        real_register = os_poll.register

        def register(obj, mask):
            if failures:
                if failures.pop(0) == "object":
                    os_poll.entries[obj] = None
                raise MemoryError()
            real_register(obj, mask)

        os_poll.register = register
        patch(self, self.port, select=select_with(os_poll))
        return self.port.Poller(), os_poll

    def test_the_reserve_completes_an_entry_when_nothing_else_frees_room(self):
        Sock = self.sockets()
        p, os_poll = self.fake_poll(["object", "object"])
        sock = Sock()
        p.register(sock, self.port.POLLIN)
        self.assertEqual(os_poll.entries, {sock: self.port.POLLIN})
        self.assertIsNone(p._reserve, "the reserve was given up for it")
        p.register(Sock(), self.port.POLLIN)
        self.assertIsNotNone(p._reserve, "and taken back at the next registration that finds room")

    def test_objects_without_a_descriptor_step_out_while_a_socket_registers(self):
        # select.poll of the unix port: a socket's registration may move the pollfd array, and an
        # fd-less object registered then would get a wild pointer (PosixPoll fails)
        Sock = self.sockets()

        class SSLObject:  # MicroPython's SSL object has no fileno()
            pass

        os_poll = PosixPoll()
        patch(self, self.port, select=select_with(os_poll, FakePoll([])))
        p = self.port.Poller()
        a, b, tls = Sock(), Sock(), SSLObject()
        p.register(a, self.port.POLLIN)
        p.register(tls, self.port.POLLIN)
        p.modify(tls, self.port.POLLOUT)
        p.register(b, self.port.POLLIN)  # tls steps out and comes back with its mask
        self.assertEqual(os_poll.entries, {a: self.port.POLLIN, b: self.port.POLLIN, tls: self.port.POLLOUT})
        self.assertEqual(os_poll.steps_out, 1)
        p.unregister(tls)  # for good
        p.register(Sock(), self.port.POLLIN)
        self.assertNotIn(tls, os_poll.entries)
        self.assertEqual(os_poll.steps_out, 2, "none left to step out")

    def test_a_table_that_cannot_grow_leaves_no_entry(self):
        Sock = self.sockets()
        p, os_poll = self.fake_poll(["table", "table", "table"])
        sock = Sock()
        with self.assertRaises(MemoryError):
            p.register(sock, self.port.POLLIN)
        self.assertEqual(os_poll.entries, {})
        self.assertEqual(list(p.wait(0)), [])

    def test_etimedout_is_linuxs(self):
        self.assertEqual(self.port.ETIMEDOUT, 110)

    def test_peer_address_decodes_a_packed_sockaddr(self):
        sock_mod = self.port.socket
        if not hasattr(sock_mod, "sockaddr"):
            self.skipTest("packed sockaddrs come from MicroPython's unix socket module")
        packed = sock_mod.getaddrinfo("127.0.0.1", 8080)[0][-1]
        self.assertIsInstance(packed, bytearray)
        self.assertEqual(self.port.peer_address(packed), ("127.0.0.1", 8080))
        self.assertEqual(self.port.peer_address(("10.0.0.1", 1)), ("10.0.0.1", 1))

    def test_any_address_binds(self):
        s = self.port.socket.socket()
        self.addCleanup(s.close)
        s.bind(self.port.sockaddr(("", 0)))  # "" is any address, as on CPython

    def test_recv_into_once_keeps_what_a_peer_sent_before_its_reset(self):
        conn = reset_after(self, b"last words", self.port.sockaddr)
        got, err = read_until_error(self.port.recv_into_once, conn)
        self.assertEqual((got, err), (b"last words", self.port.ECONNRESET))

    def test_sock_error_reads_the_pending_error_from_an_empty_send(self):
        self.assertEqual(self.port.sock_error(BoardSocket(send_error=111)), 111)
        self.assertEqual(self.port.sock_error(BoardSocket(send_error=11)), 0)
        self.assertEqual(self.port.sock_error(BoardSocket()), 0)


# A connected, non-blocking socket whose peer sent `data` and then reset the connection (SO_LINGER 0),
# over real loopback sockets: (ip, port) addresses go through `sockaddr`.
def reset_after(test, data, sockaddr):
    listener = socket.socket()
    test.addCleanup(listener.close)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = support.free_port()
    listener.bind(sockaddr(("127.0.0.1", port)))
    listener.listen(1)
    peer = socket.socket()
    peer.connect(sockaddr(("127.0.0.1", port)))
    conn = listener.accept()[0]
    test.addCleanup(conn.close)
    peer.send(data)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # an RST, after the data
    conn.setblocking(False)
    return conn


##### the two board adapters share these quirks


class BoardChecks(AdapterChecks):
    ERRNO = None  # the firmware's errno table

    def test_errno_numbers_are_the_firmwares(self):
        for name in self.ERRNO:
            self.assertEqual((name, getattr(self.port, name)), (name, self.ERRNO[name]))

    def test_errorcode_names_each_number(self):
        for name in self.ERRNO:
            expected = "EAGAIN" if name == "EWOULDBLOCK" else name
            self.assertEqual(self.port.errorcode[self.ERRNO[name]], expected)
            self.assertEqual(self.port.strerror(self.ERRNO[name]), expected)
        self.assertEqual(self.port.strerror(-202), "Unknown error -202")

    def test_poll_flags_are_micropythons(self):
        for name in MP_POLL:
            self.assertEqual((name, getattr(self.port, name)), (name, MP_POLL[name]))

    def test_key_is_the_socket_and_never_calls_fileno(self):
        sock = BoardSocket()  # has no fileno at all, as on rp2
        self.assertIs(self.port.key(sock), sock)

    def test_sockaddr_keeps_ip_tuples_without_a_lookup(self):
        fake = FakeSocketModule()
        patch(self, self.port, socket=fake)
        for addr in (("192.168.4.1", 80), ("", 7777), ("0.0.0.0", 23)):
            self.assertIs(self.port.sockaddr(addr), addr)
        self.assertEqual(fake.lookups, [])

    def test_sockaddr_resolves_a_host_name_to_a_tuple(self):
        fake = FakeSocketModule({"sensor.local": "192.168.4.20"})
        patch(self, self.port, socket=fake)
        self.assertEqual(self.port.sockaddr(("sensor.local", 1883)), ("192.168.4.20", 1883))
        self.assertEqual([lookup[:2] for lookup in fake.lookups], [("sensor.local", 1883)])

    def test_sockaddr_leaves_other_forms_alone(self):
        packed = bytearray(b"\x02\x00\x1f\x90\x7f\x00\x00\x01")
        self.assertIs(self.port.sockaddr(packed), packed)

    def test_peer_address_keeps_the_tuple_accept_gave(self):
        addr = ("192.168.4.2", 50123)
        self.assertIs(self.port.peer_address(addr), addr)

    def test_peername_is_none_without_getpeername(self):
        self.assertIsNone(self.port.peername(BoardSocket()))

    def test_connect_ex_returns_the_errno_connect_raised(self):
        sock = BoardSocket(connect_error=self.ERRNO["EINPROGRESS"])
        self.assertEqual(self.port.connect_ex(sock, ("10.0.0.2", 80)), self.port.EINPROGRESS)
        self.assertEqual(sock.connected_to, ("10.0.0.2", 80))
        self.assertEqual(self.port.connect_ex(BoardSocket(), ("10.0.0.2", 80)), 0)

    def test_max_connections_leaves_sockets_spare(self):
        self.assertLess(self.port.MAX_CONNECTIONS, self.SOCKETS - 1)

    def test_recv_into_keeps_the_bytes_that_came_before_a_reset(self):
        sock = StreamSocket(b"last ", b"words", oserror(104))
        self.assertEqual(read_until_error(self.port.recv_into, sock), (b"last words", 104))

    def test_collect_is_the_garbage_collector(self):
        self.assertIs(self.port.collect, gc.collect)

    ##### the poller

    def poller(self, fail_on=None, events=()):
        log = []
        os_poll = FakePoll(log, fail_on, events)
        patch(self, self.port, select=select_with(os_poll), collect=lambda: log.append("collect"))
        return self.port.Poller(), os_poll, log

    def test_register_collects_garbage_first(self):
        p, os_poll, log = self.poller()
        sock = BoardSocket()
        p.register(sock, self.port.POLLIN)
        self.assertEqual(log[0], "collect")
        self.assertEqual(log[1][0], "register")

    def test_memory_error_in_register_leaves_no_half_made_entry(self):
        good, bad = BoardSocket(), BoardSocket()
        p, os_poll, log = self.poller(fail_on=bad)
        p.register(good, self.port.POLLIN)
        with self.assertRaises(MemoryError):
            p.register(bad, self.port.POLLIN)
        self.assertNotIn(bad, os_poll.entries)
        self.assertEqual(list(p.wait(0)), [])  # the fake would fail here on a half-made entry

    def test_wait_hands_out_ipolls_pairs(self):
        sock = BoardSocket()
        p, os_poll, log = self.poller(events=[(sock, 4)])
        p.register(sock, self.port.POLLOUT)
        self.assertEqual(list(p.wait(250)), [(sock, 4)])
        self.assertEqual(log[-1], ("ipoll", 250))

    def test_unregister_of_an_unknown_socket_is_quiet(self):
        p, os_poll, log = self.poller()
        os_poll.strict = True
        p.unregister(BoardSocket())

    ##### name resolution

    def network(self, fake):
        saved = sys.modules.get("network")
        sys.modules["network"] = fake
        self.addCleanup(lambda: sys.modules.pop("network") if saved is None else sys.modules.__setitem__("network", saved))

    def test_dns_server_from_ipconfig(self):
        self.network(FakeNetwork(ipconfig="192.168.4.1"))
        self.assertEqual(self.port.dns_servers(), ["192.168.4.1"])

    def test_dns_server_from_ifconfig_on_older_firmware(self):
        self.network(FakeNetwork(ifconfig=("192.168.4.20", "255.255.255.0", "192.168.4.1", "192.168.4.2")))
        self.assertEqual(self.port.dns_servers(), ["192.168.4.2"])

    def test_no_dns_server_before_the_network_gave_one(self):
        self.network(FakeNetwork(ipconfig="0.0.0.0"))
        self.assertEqual(self.port.dns_servers(), [])
        self.network(FakeNetwork(ifconfig=("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")))
        self.assertEqual(self.port.dns_servers(), [])

    def test_no_hosts_file_nor_resolv_conf(self):
        self.assertIsNone(self.port.HOSTS_FILE)
        self.assertIsNone(self.port.RESOLV_CONF)



class Esp32AdapterTest(BoardChecks, unittest.TestCase):
    PORT = "esp32"
    ERRNO = NEWLIB
    MAX_CONNECTIONS = 5
    SOCKETS = 10  # CONFIG_LWIP_MAX_SOCKETS

    def peeking(self):
        patch(self, self.port, _PEEK=PEEK_BIT | DONTWAIT_BIT)

    def test_sock_error_does_not_trust_the_empty_send(self):
        self.peeking()
        sock = Esp32Socket(recv_items=[oserror(104)])
        self.assertEqual(self.port.sock_error(sock), self.port.ECONNREFUSED)
        self.assertEqual(sock.send_calls, [])

    def test_sock_error_reads_other_errors_as_they_are(self):
        self.peeking()
        for err in (113, 118, 116):
            self.assertEqual(self.port.sock_error(Esp32Socket(recv_items=[oserror(err)])), err)

    def test_sock_error_is_zero_for_a_healthy_socket(self):
        self.peeking()
        self.assertEqual(self.port.sock_error(Esp32Socket()), 0)

    def test_sock_error_leaves_waiting_data_in_place(self):
        self.peeking()
        sock = Esp32Socket(recv_items=[b"220 banner\r\n"])
        self.assertEqual(self.port.sock_error(sock), 0)
        self.assertEqual(sock.recv_items, [b"220 banner\r\n"])
        self.assertEqual(sock.recv_calls, [(1, PEEK_BIT | DONTWAIT_BIT)])

    def test_sock_error_without_msg_peek_is_zero_and_reads_nothing(self):
        patch(self, self.port, _PEEK=0)
        sock = Esp32Socket(recv_items=[oserror(104)])
        self.assertEqual(self.port.sock_error(sock), 0)
        self.assertEqual(sock.recv_calls, [])

    def test_peek_flags_come_from_the_firmware_socket_module(self):
        sock_mod = self.port.socket
        expected = 0
        if hasattr(sock_mod, "MSG_PEEK"):
            expected = sock_mod.MSG_PEEK | getattr(sock_mod, "MSG_DONTWAIT", 0)
        self.assertEqual(self.port._PEEK, expected)

    def test_sockaddr_asks_for_an_ipv4_address(self):
        fake = FakeSocketModule({"broker.local": "192.168.4.30", "v6only.local": "fd00::30"})
        patch(self, self.port, socket=fake)
        self.assertEqual(self.port.sockaddr(("broker.local", 1883)), ("192.168.4.30", 1883))
        with self.assertRaises(OSError):
            self.port.sockaddr(("v6only.local", 1883))  # not None, which connect() cannot use
        self.assertEqual([lookup[2] for lookup in fake.lookups], [fake.AF_INET, fake.AF_INET])

    def test_budget_follows_the_chip(self):
        self.assertEqual(self.port.budget("ESP32C2 module with ESP32-C2"), (3, 3))
        for machine in ("Generic ESP32 module with ESP32", "Generic ESP32S3 module with ESP32-S3", "ESP32C3 module with ESP32-C3"):
            self.assertEqual(self.port.budget(machine), (5, 5), machine)

    def test_budgets_leave_the_program_a_socket_and_a_pcb_on_every_build(self):
        # (CONFIG_LWIP_MAX_SOCKETS, CONFIG_LWIP_MAX_ACTIVE_TCP) of each build, from ports/esp32/boards:
        # sdkconfig.base, and sdkconfig.free_ram, which only the C2 builds add
        builds = {"ESP32C2 module with ESP32-C2": (6, 8), "Generic ESP32 module with ESP32": (10, 12)}
        for machine, (sockets, pcbs) in builds.items():
            connections, backlog = self.port.budget(machine)
            self.assertLessEqual(1 + connections + 2, sockets, machine)  # listener, connections, a client and NTP
            self.assertLessEqual(connections + backlog + 2, pcbs, machine)  # and two clients of the program's

    def test_max_connections_is_this_builds(self):
        machine = getattr(sys.implementation, "_machine", "")
        self.assertEqual((self.port.MAX_CONNECTIONS, self.port.LISTEN_BACKLOG), self.port.budget(machine))

    def test_a_sendto_that_would_block_raises_etimedout_which_datagram_channels_read_as_no_room(self):
        with self.assertRaises(OSError) as caught:
            self.port.sendto(DatagramBoardSocket(NEWLIB["ETIMEDOUT"]), b"x", ("192.0.2.1", 9))
        self.assertIn(caught.exception.args[0], self.port.SEND_WOULDBLOCK)

    def test_an_empty_datagram_was_sent_though_modsocket_says_etimedout(self):
        self.assertTrue(self.port.EMPTY_SEND_RAISES)

    def test_other_sendto_errors_pass_through(self):
        with self.assertRaises(OSError) as caught:
            self.port.sendto(DatagramBoardSocket(NEWLIB["EHOSTUNREACH"]), b"x", ("192.0.2.1", 9))
        self.assertEqual(caught.exception.args[0], NEWLIB["EHOSTUNREACH"])

    def test_an_empty_datagram_poisons_the_socket(self):
        self.assertTrue(self.port.EMPTY_DATAGRAM_CLOSES)

    def test_every_registration_asks_for_pollhup(self):
        p, os_poll, log = self.poller()
        sock = BoardSocket()
        p.register(sock, self.port.POLLIN)
        self.assertEqual(os_poll.entries[sock], self.port.POLLIN | self.port.POLLHUP)
        p.modify(sock, self.port.POLLOUT)
        self.assertEqual(os_poll.entries[sock], self.port.POLLOUT | self.port.POLLHUP)


class Rp2AdapterTest(BoardChecks, unittest.TestCase):
    PORT = "rp2"
    ERRNO = MP_INTERNAL
    MAX_CONNECTIONS = 3
    SOCKETS = 5  # MEMP_NUM_TCP_PCB

    def test_refused_connect_surfaces_as_reset_and_reads_as_refused(self):
        sock = Rp2Socket(send_error=104)
        self.assertEqual(self.port.sock_error(sock), self.port.ECONNREFUSED)
        self.assertEqual(sock.send_calls, [b""])
        self.assertEqual(self.port.sock_error(sock), self.port.EBADF)  # the firmware tells it once

    def test_waiting_clients_leave_a_pcb_for_the_programs_own_client(self):
        lwip = PcbPool()
        lwip.listen(min(5, self.port.LISTEN_BACKLOG))  # a listen(5) as the core clamps it
        for _ in range(self.port.MAX_CONNECTIONS):
            self.assertEqual(lwip.client_arrives(), "waiting")
            lwip.accept()
        # at its budget the listener accepts no more: clients wait in the backlog, or are turned away
        self.assertEqual([lwip.client_arrives() for _ in range(3)], ["waiting", "reset", "reset"])
        lwip.socket()  # the program's MQTT client: would raise ENOMEM with no PCB left

    def test_sock_error_passes_other_errors_through(self):
        self.assertEqual(self.port.sock_error(Rp2Socket(send_error=113)), 113)
        self.assertEqual(self.port.sock_error(Rp2Socket(send_error=9)), self.port.EBADF)

    def test_sock_error_is_zero_while_connecting_or_connected(self):
        self.assertEqual(self.port.sock_error(BoardSocket()), 0)
        self.assertEqual(self.port.sock_error(BoardSocket(send_error=11)), 0)

    def test_no_buffer_for_a_datagram_is_a_send_that_would_block(self):
        with self.assertRaises(OSError) as caught:
            self.port.sendto(DatagramBoardSocket(MP_INTERNAL["ENOMEM"]), b"x", ("192.0.2.1", 9))
        self.assertIn(caught.exception.args[0], self.port.SEND_WOULDBLOCK)
        self.assertFalse(self.port.EMPTY_SEND_RAISES)

    def test_a_datagram_lwip_would_cut_is_refused(self):
        class Sized:  # a datagram's length without its bytes: a board-sized heap has no 64 KB to spare
            def __init__(self, n):
                self.n = n

            def __len__(self):
                return self.n

        sock = DatagramBoardSocket()
        with self.assertRaises(OSError) as caught:
            self.port.sendto(sock, Sized(65508), ("192.0.2.1", 9))
        self.assertEqual(caught.exception.args[0], self.port.EMSGSIZE)
        self.assertEqual(sock.sent, [])
        sock.sendto = lambda data, addr: len(data)
        self.assertEqual(self.port.sendto(sock, Sized(65507), ("192.0.2.1", 9)), 65507)

    def test_registration_keeps_the_mask(self):
        p, os_poll, log = self.poller()
        sock = BoardSocket()
        p.register(sock, self.port.POLLIN)
        self.assertEqual(os_poll.entries[sock], self.port.POLLIN)
        p.modify(sock, self.port.POLLIN | self.port.POLLOUT)
        self.assertEqual(os_poll.entries[sock], self.port.POLLIN | self.port.POLLOUT)


##### the core itself, loaded on a board adapter: connect outcomes and accept failures


class CoreOnBoardChecks:
    PORT = None

    @classmethod
    def setUpClass(cls):
        cls.port = load(cls.PORT)
        gc.collect()
        try:
            cls.core = load_core(cls.PORT)
        except MemoryError:
            raise unittest.SkipTest("no heap for a second copy of the core beside the host's")

    def test_the_core_runs_on_this_adapter(self):
        self.assertIs(self.core._port, self.port)
        self.assertIsNot(self.core, uasyncore)

    # Connect a client over sock, deliver one poll event; returns what happened: "connect" or errnos.
    def connect_outcome(self, sock, flags):
        core = self.core
        m, os_poll = scripted_map(self, core)
        seen = []

        class Client(core.dispatcher):
            def handle_connect(self):
                seen.append("connect")

            def handle_error(self):
                seen.append(core.handled_error().args[0])
                self.close()

            def log_info(self, message, type="info"):
                pass

        c = Client(map=m)
        c.set_socket(sock)
        c.connect(("192.168.4.1", 80))
        self.assertTrue(c.connecting)
        os_poll.script.append([(sock, flags)])
        core.loop(timeout=0, count=1, map=m)
        return seen

    def test_a_connect_that_succeeds_is_connected(self):
        sock = self.socket_for(None)
        self.assertEqual(self.connect_outcome(sock, self.port.POLLOUT), ["connect"])

    def test_a_refused_connect_ends_in_handle_error_with_econnrefused(self):
        sock = self.socket_for(self.port.ECONNRESET)
        outcome = self.connect_outcome(sock, self.REFUSED_EVENT)
        self.assertEqual(outcome, [self.port.ECONNREFUSED])

    def test_a_connect_that_times_out_in_lwip_reports_its_errno(self):
        sock = self.socket_for(self.port.ECONNABORTED)
        outcome = self.connect_outcome(sock, self.ABORTED_EVENT)
        self.assertEqual(outcome, [self.port.ECONNABORTED])

    def test_a_reset_after_data_delivers_every_byte_then_closes(self):
        core = self.core
        m, os_poll = scripted_map(self, core)
        got = bytearray()

        class Reader(core.dispatcher):
            buffer = bytearray(16)

            def handle_read(self):
                n = self.recv_into(self.buffer)
                got.extend(self.buffer[:n])

        sock = StreamSocket(b"last ", b"words", oserror(self.port.ECONNRESET))
        Reader(sock, map=m)
        for _ in range(4):
            if m:
                os_poll.script.append([(sock, self.RESET_EVENT)])
                core.loop(timeout=0, count=1, map=m)
        self.assertEqual((bytes(got), len(m), sock.closed), (b"last words", 0, True))

    def test_listen_asks_for_at_most_the_ports_backlog(self):
        m = scripted_map(self, self.core)[0]
        d = self.core.dispatcher(map=m)
        sock = BoardSocket()
        d.set_socket(sock)
        d.listen(5)
        self.assertEqual(sock.backlog, min(5, self.port.LISTEN_BACKLOG))

    def test_what_the_poller_raises_for_one_channel_stays_with_that_channel(self):
        core = self.core
        dead, foreign, good = BoardSocket(), BoardSocket(), BoardSocket()
        os_poll = FakePoll([])
        os_poll.refuse[dead] = oserror(self.port.EBADF)
        os_poll.refuse[foreign] = OSError("stream operation not supported")
        patch(self, self.port, select=select_with(os_poll), collect=lambda: None)
        m = {}
        self.addCleanup(core.close_all, m, True)
        seen = {}

        class Channel(core.dispatcher):
            def handle_close(self):
                seen[self.socket] = "close"
                self.close()

            def handle_error(self):
                seen[self.socket] = "error"
                self.close()

        for sock in (dead, foreign, good):
            Channel(sock, m)
        core.loop(timeout=0, count=1, map=m)  # the fake fails on a half-made entry
        self.assertEqual(seen, {dead: "close", foreign: "error"})
        self.assertEqual(list(os_poll.entries), [good])
        self.assertEqual(list(m), [good])

    def test_accept_failures_on_a_busy_board_do_not_close_the_listener(self):
        core = self.core
        m, os_poll = scripted_map(self, core)

        class Listener(core.dispatcher):
            def log_info(self, message, type="info"):
                pass

        p = self.port
        for err, pauses in ((p.ENOTCONN, False), (p.ECONNABORTED, False), (p.ENFILE, True)):
            sock = BoardSocket(accept_plan=[oserror(err)])
            d = Listener(map=m)
            d.set_socket(sock)
            d.accepting = True
            self.assertIsNone(d.accept(), err)
            core.poll(0, m)  # registers the listener: for reading, unless it rests
            self.assertTrue(d.accepting, err)
            self.assertIs(m.get(sock), d, err)
            self.assertEqual(os_poll.masks.get(sock, 0) == 0, pauses, err)
            self.assertFalse(sock.closed, err)


class Esp32CoreTest(CoreOnBoardChecks, unittest.TestCase):
    PORT = "esp32"
    # lwIP's select() wakes reads and writes of a socket in error and sets its exception bit, which
    # modsocket.c reports as POLLHUP when asked (never POLLERR)
    REFUSED_EVENT = ABORTED_EVENT = RESET_EVENT = 1 | 4 | 16

    def setUp(self):
        patch(self, self.port, _PEEK=PEEK_BIT | DONTWAIT_BIT)

    def socket_for(self, pending):
        return Esp32Socket(connect_error=NEWLIB["EINPROGRESS"], recv_items=[] if pending is None else [oserror(pending)])

    def test_without_msg_peek_a_hang_up_still_reads_as_refused(self):
        patch(self, self.port, _PEEK=0)
        sock = self.socket_for(self.port.ECONNRESET)
        self.assertEqual(self.connect_outcome(sock, self.REFUSED_EVENT), [self.port.ECONNREFUSED])


class Rp2CoreTest(CoreOnBoardChecks, unittest.TestCase):
    PORT = "rp2"
    # modlwip.c since v1.28 (a7cd418): a reset socket (ERR_RST: a refused connect, or a peer's RST after
    # its data) polls POLLIN and POLLOUT when asked, POLLERR and POLLHUP; other lwIP errors, such as a
    # connect lwIP gave up on (ERR_ABRT), poll POLLERR alone
    REFUSED_EVENT = RESET_EVENT = 1 | 4 | 8 | 16
    ABORTED_EVENT = 8

    def socket_for(self, pending):
        return Rp2Socket(connect_error=MP_INTERNAL["EINPROGRESS"], send_error=pending)


##### the host's core and adapter over real sockets


class ResetAfterDataTest(unittest.TestCase):
    # A peer that sends and then resets: the channel reads every byte before it closes. The unix port's
    # recv_into() (the stream's readinto) drops them, so the core reads with recv_into_once() when the
    # event carries POLLHUP or POLLERR.
    def test_a_channel_reads_what_came_before_the_reset(self):
        conn = reset_after(self, b"last words", uasyncore._port.sockaddr)
        m = {}
        self.addCleanup(uasyncore.close_all, m)
        got = bytearray()

        class Reader(uasyncore.dispatcher):
            buffer = bytearray(64)

            def handle_read(self):
                got.extend(self.buffer[: self.recv_into(self.buffer)])

        Reader(conn, map=m)
        self.assertTrue(support.run_until(lambda: not m, map=m))
        self.assertEqual(bytes(got), b"last words")


if __name__ == "__main__":
    unittest.main()
