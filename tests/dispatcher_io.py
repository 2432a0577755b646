# Cases for tests/test_dispatcher.py: connect completion, error routing in recv/send/accept, and a
# real loopback echo.  Mixins: the test module pairs each with a base from dispatcher_kit.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import array

import uasyncore
from dispatcher_kit import PEER, Recorder, connected, step, unconnected
from support import HOST, IN, OUT, FakeSocket, oserror

_port = uasyncore._port


##### connect


class Connect:
    def pending(self):
        d = unconnected(self.m, FakeSocket(connect_result=_port.EINPROGRESS))
        d.connect(PEER)
        self.assertEqual((d.connecting, d.connected, d.events), (True, False, []))
        return d

    def test_completes_on_first_write_event_before_connected(self):
        d = self.pending()
        step(self.m, self.fake)  # a pass without events changes nothing
        self.assertEqual(d.events, [])
        step(self.m, self.fake, (d.socket, OUT))
        self.assertEqual(d.events, [("connect", False), "write"])
        self.assertEqual((d.connecting, d.connected), (False, True))

    def test_completes_on_first_read_event_before_connected(self):
        d = self.pending()
        step(self.m, self.fake, (d.socket, IN))
        self.assertEqual(d.events, [("connect", False), "read"])
        self.assertEqual((d.connecting, d.connected), (False, True))

    def test_completes_only_once(self):
        d = self.pending()
        step(self.m, self.fake, (d.socket, IN | OUT))
        step(self.m, self.fake, (d.socket, IN | OUT))
        self.assertEqual(d.events, [("connect", False), "read", "write", "read", "write"])

    def test_socket_error_at_completion_goes_to_handle_error(self):
        d = self.pending()
        d.socket.error = support.ECONNREFUSED
        step(self.m, self.fake, (d.socket, OUT))
        self.assertEqual(d.events, ["error", "close"])
        self.assertFalse(d.connected)
        self.assertEqual(self.m, {})

    def test_connect_returning_zero_or_eisconn_connects_at_once(self):
        for result in (0, _port.EISCONN):
            d = unconnected(self.m, FakeSocket(connect_result=result))
            d.connect(PEER)
            self.assertEqual(d.events, [("connect", False)])
            self.assertEqual((d.connecting, d.connected, d.addr), (False, True, PEER))
            step(self.m, self.fake, (d.socket, OUT))
            self.assertEqual(d.events, [("connect", False), "write"])  # not a second time

    def test_connect_with_other_error_raises(self):
        d = unconnected(self.m, FakeSocket(connect_result=support.ECONNREFUSED))
        with self.assertRaises(OSError) as cm:
            d.connect(PEER)
        self.assertEqual(cm.exception.args[0], support.ECONNREFUSED)
        self.assertEqual((d.events, d.connected), ([], False))


class RefusedConnect:
    # A real connect to a loopback port nobody listens on.
    def test_refused_connect_ends_in_handle_error_and_close(self):
        probe = uasyncore.dispatcher(map=self.m)
        port = support.listen_any(probe)
        probe.close()  # the port is free again, with nobody listening
        d = Recorder(map=self.m)
        d.create_socket()
        d.connect((HOST, port))
        self.assertTrue(support.run_until(lambda: not self.m, map=self.m))
        self.assertEqual(d.events[:2], ["error", "close"])
        self.assertFalse(d.connected)
        self.assertEqual([t for t, msg in d.logged], ["error"])


##### recv, send, accept


class Recv:
    def test_data_is_returned(self):
        d = connected(self.m, FakeSocket(peer=PEER, inbox=[b"abcdef"]))
        self.assertEqual((d.recv(4), d.recv(4)), (b"abcd", b"ef"))
        self.assertEqual(d.events, [])

    def test_end_of_stream_or_reset_calls_handle_close_and_returns_empty(self):
        for item in (b"", oserror(support.ECONNRESET)):
            d = connected(self.m, FakeSocket(peer=PEER, inbox=[item]))
            self.assertEqual(d.recv(10), b"")
            self.assertEqual(d.events, ["close"])
            self.assertNotIn(_port.key(d.socket), self.m)

    def test_would_block_is_not_a_close(self):
        d = connected(self.m)  # empty inbox: EAGAIN (a spurious wake-up)
        self.assertEqual(d.recv(10), b"")  # nothing yet; asyncore raised, which closed the channel
        self.assertEqual(d.events, [])
        self.assertIn(_port.key(d.socket), self.m)

    def test_other_error_goes_to_handle_error(self):
        class Reader(Recorder):
            def handle_read(self):
                self.events.append(("got", self.recv(10)))

        d = connected(self.m, FakeSocket(peer=PEER, inbox=[oserror(support.ECONNREFUSED)]), Reader)
        step(self.m, self.fake, (d.socket, IN))
        self.assertEqual(d.events, ["error", "close"])  # handle_close only through handle_error


# What a handler raises: a peer gone (the program called the socket itself) closes a connected
# channel, as asyncore's readwrite() did; during a connect the same errno is a failed connect.
class Raising(Recorder):
    failure = None

    def handle_read(self):
        raise self.failure

    def handle_write(self):
        raise self.failure

    def handle_connect(self):
        raise self.failure


class HandlerErrors:
    GONE = (support.ECONNRESET, support.EPIPE, _port.ENOTCONN)

    # A fresh map for each case: the pass that closed the last case's channel let its poller go.
    def fresh(self):
        self.m, self.fake = support.fake_map()

    def test_a_peer_gone_in_a_handler_of_a_connected_channel_closes_it(self):
        for err in self.GONE:
            for flags in (IN, OUT):
                self.fresh()
                d = connected(self.m, cls=Raising)
                d.failure = oserror(err)
                step(self.m, self.fake, (d.socket, flags))
                self.assertEqual(d.events, ["close"], (err, flags))
                self.assertEqual(d.logged, [], "not reported as an error")
                self.assertNotIn(_port.key(d.socket), self.m)

    def test_readwrite_routes_it_the_same_way(self):
        for err in self.GONE:
            self.fresh()
            d = connected(self.m, cls=Raising)
            d.failure = oserror(err)
            uasyncore.readwrite(d, IN)
            self.assertEqual(d.events, ["close"], err)

    def test_the_same_errno_while_connecting_is_a_failed_connect(self):
        for err in self.GONE:
            self.fresh()
            d = unconnected(self.m, FakeSocket(connect_result=_port.EINPROGRESS), Raising)
            d.connect(PEER)
            d.failure = oserror(err)  # raised by handle_connect, while connecting is still True
            step(self.m, self.fake, (d.socket, OUT))
            self.assertEqual(d.events, ["error", "close"], err)
            self.assertFalse(d.connected)

    def test_the_socket_reporting_it_at_connect_is_a_failed_connect(self):
        for err in self.GONE:
            self.fresh()
            d = unconnected(self.m, FakeSocket(connect_result=_port.EINPROGRESS))
            d.connect(PEER)
            d.socket.error = err
            step(self.m, self.fake, (d.socket, OUT))
            self.assertEqual(d.events, ["error", "close"], err)


# A priority event (POLLPRI, where the port has it): out-of-band data for handle_expt(), unless the
# socket has an error pending, which closes the channel.
class Expt:
    def test_out_of_band_data_goes_to_handle_expt(self):
        d = connected(self.m)
        d.handle_expt_event()
        self.assertEqual(d.logged, [("warning", "unhandled incoming priority event")])
        self.assertEqual(d.events, [])
        self.assertIn(_port.key(d.socket), self.m)

    def test_an_error_pending_on_the_socket_closes_instead(self):
        d = connected(self.m)
        d.socket.error = support.ECONNRESET
        d.handle_expt_event()
        self.assertEqual((d.events, d.logged), (["close"], []))


class SocketCalls:
    # recv and send make their socket call through the adapter's io_call() (on MicroPython, in one generator's
    # frame): what the socket raises comes out as before, and later calls still work.
    def test_an_error_that_is_not_an_oserror_is_raised_and_the_next_call_works(self):
        for boom in (MemoryError("fault: recv"), KeyboardInterrupt()):
            d = connected(self.m, FakeSocket(peer=PEER, inbox=[boom, b"after"]))
            self.assertRaises(type(boom), d.recv, 10)
            self.assertEqual(d.recv(10), b"after")
            buf = bytearray(8)
            d.socket.inbox.append(b"into")
            self.assertEqual(d.recv_into(buf), 4)

    # Where socket calls run in the generator (MicroPython); on CPython they are made directly.
    def needs_the_generator(self):
        if not hasattr(_port, "_runner"):
            self.skipTest("socket calls are made directly on this runtime")

    def test_no_socket_or_buffer_is_held_after_a_call(self):
        self.needs_the_generator()
        d = connected(self.m, FakeSocket(peer=PEER, inbox=[b"abc"]))
        d.recv_into(bytearray(8))
        self.assertEqual(_port._call, [None] * 5)  # the function, its arguments and its result

    def test_a_send_or_read_that_gives_none_moved_nothing(self):
        # MicroPython's TLS sockets answer a send or read that would block with None
        class Blocking(FakeSocket):
            def send(self, data):
                return None

            def recv(self, n):
                return None

        d = connected(self.m, Blocking(peer=PEER))
        self.assertEqual((d.send(b"x"), d.recv(10)), (0, b""))
        self.assertEqual(d.events, [])
        self.assertIn(_port.key(d.socket), self.m)

    def test_a_result_that_is_not_a_count_is_returned_as_it_is(self):
        class Odd(FakeSocket):
            def send(self, data):
                return True

        d = connected(self.m, Odd(peer=PEER))
        self.assertIs(d.send(b"x"), True)

    def test_a_call_left_half_way_is_cleared_when_a_loop_ends(self):
        # Ctrl-C landing inside the socket-call generator leaves it ended, its slots full
        self.needs_the_generator()
        _port._runner.close()
        _port._call[0] = len  # a function in the slot: a call under way
        d = connected(self.m, FakeSocket(peer=PEER, inbox=[b"abc"]))
        uasyncore.loop(timeout=0, count=1, map=self.m)
        self.assertIsNone(_port._call[0])
        self.assertEqual(d.recv(10), b"abc")
        self.assertIsNone(_port._call[0])

    def test_a_socket_call_that_makes_another(self):
        # a socket written in Python may send on another channel from inside its own call
        other = connected(self.m, FakeSocket(peer=PEER, send_plan=[3]))

        class Relaying(FakeSocket):
            def recv(self, n):
                self.relayed = other.send(b"abc")
                return FakeSocket.recv(self, n)

        d = connected(self.m, Relaying(peer=PEER, inbox=[b"data"]))
        self.assertEqual(d.recv(10), b"data")
        self.assertEqual((d.socket.relayed, bytes(other.socket.sent)), (3, b"abc"))


class Send:
    def sender(self, outcome):
        return connected(self.m, FakeSocket(peer=PEER, send_plan=[outcome]))

    def test_partial_send_returns_count(self):
        d = self.sender(2)
        self.assertEqual(d.send(b"hello"), 2)
        self.assertEqual(bytes(d.socket.sent), b"he")

    def test_would_block_returns_zero(self):
        d = self.sender(oserror(support.EAGAIN))
        self.assertEqual(d.send(b"hello"), 0)
        self.assertEqual(d.events, [])
        self.assertIn(_port.key(d.socket), self.m)

    def test_broken_pipe_or_reset_closes_and_returns_zero(self):
        for err in (support.EPIPE, support.ECONNRESET):
            d = self.sender(oserror(err))
            self.assertEqual(d.send(b"hello"), 0)
            self.assertEqual(d.events, ["close"])
            self.assertNotIn(_port.key(d.socket), self.m)

    def test_other_error_goes_to_handle_error(self):
        class Writer(Recorder):
            def handle_write(self):
                self.events.append(("sent", self.send(b"x")))

        sock = FakeSocket(peer=PEER, send_plan=[oserror(_port.EINVAL)])
        d = connected(self.m, sock, Writer)
        step(self.m, self.fake, (sock, OUT))
        self.assertEqual(d.events, ["error", "close"])


# A socket whose close() fails, as one the peer already reset may (asyncore ignored two errnos).
class FailingClose(FakeSocket):
    failure = None

    def close(self):
        FakeSocket.close(self)
        raise self.failure


class Close:
    def test_a_socket_not_connected_or_already_closed_closes_quietly(self):
        for err in (_port.ENOTCONN, _port.EBADF):
            sock = FailingClose(peer=PEER)
            sock.failure = oserror(err)
            d = connected(self.m, sock)
            d.close()
            self.assertNotIn(_port.key(sock), self.m, err)
            self.assertFalse(d.connected)

    def test_another_error_closing_the_socket_is_raised(self):
        sock = FailingClose(peer=PEER)
        sock.failure = oserror(_port.EINVAL)
        d = connected(self.m, sock)
        with self.assertRaises(OSError) as cm:
            d.close()
        self.assertEqual(cm.exception.args[0], _port.EINVAL)
        self.assertNotIn(_port.key(sock), self.m, "out of the map all the same")


class Listener(Recorder):
    def __init__(self, map):
        Recorder.__init__(self, map=map)
        self.accepted = []

    def handle_accepted(self, sock, addr):
        self.accepted.append((sock, addr))


class Accept:
    def listener(self, plan):
        d = unconnected(self.m, FakeSocket(accept_plan=plan), Listener)
        d.listen(5)
        return d

    def test_nothing_to_accept_returns_none(self):
        for plan in ([], [oserror(support.EAGAIN)], [oserror(_port.ECONNABORTED)]):
            d = self.listener(plan)
            self.assertIsNone(d.accept())
            self.assertTrue(d.accepting)
            self.assertIn(_port.key(d.socket), self.m)

    def test_accept_returns_socket_and_address(self):
        conn = FakeSocket()
        pair = self.listener([(conn, (HOST, 5555))]).accept()
        self.assertIs(pair[0], conn)
        self.assertEqual(pair[1], (HOST, 5555))

    def test_loop_does_not_hand_over_a_failed_accept(self):
        d = self.listener([oserror(_port.ECONNABORTED)])
        step(self.m, self.fake, (d.socket, IN))
        self.assertEqual((d.accepted, d.events, d.accepting), ([], [], True))


##### a real loopback echo


class EchoHandler(uasyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(1024)
        if data:
            self.send(data)

    def handle_close(self):
        self.close()


class EchoServer(uasyncore.dispatcher):
    def __init__(self, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.channel_map = map
        self.addrs = []

    def handle_accepted(self, sock, addr):
        self.addrs.append(addr)
        EchoHandler(sock, map=self.channel_map)


class EchoClient(EchoHandler):
    def __init__(self, map, payload):
        EchoHandler.__init__(self, map=map)
        self.payload = payload
        self.received = bytearray()
        self.connected_at_connect = []

    def handle_connect(self):
        self.connected_at_connect.append(self.connected)
        self.send(self.payload)

    def handle_read(self):
        self.received.extend(self.recv(1024))


class WordReader(uasyncore.dispatcher):
    # Reads into a memoryview of 4-byte items: recv_into counts its room in bytes, not items.
    def __init__(self, sock, map, counts):
        uasyncore.dispatcher.__init__(self, sock, map)
        self.words = memoryview(array.array("I", [0, 0, 0, 0]))
        self.counts = counts

    def handle_read(self):
        self.counts.append(self.recv_into(self.words))

    def writable(self):
        return False


class Echo:
    def test_round_trip_over_loopback(self):
        server = EchoServer(self.m)
        port = support.listen_any(server)
        payload = bytes(range(256)) * 12  # several reads of 1024
        client = EchoClient(self.m, payload)
        client.create_socket()
        client.connect((HOST, port))
        done = support.run_until(lambda: len(client.received) >= len(payload), map=self.m, passes=500)
        self.assertTrue(done, f"echoed {len(client.received)} of {len(payload)} bytes")
        self.assertTrue(client.received == payload)
        self.assertEqual((client.connected_at_connect, client.connected), ([False], True))
        self.assertEqual(len(self.m), 3)  # listener, client, and the server's channel
        self.assertEqual(len(server.addrs), 1)
        addr = server.addrs[0]
        self.assertIsInstance(addr, tuple)
        self.assertEqual(len(addr), 2)
        self.assertEqual(addr[0], HOST)
        self.assertIsInstance(addr[1], int)
        self.assertNotEqual(addr[1], port)

    def test_recv_into_a_buffer_of_wide_items_fills_its_bytes(self):
        counts = []

        class Server(EchoServer):
            def handle_accepted(self, sock, addr):
                WordReader(sock, self.channel_map, counts)

        server = Server(self.m)
        port = support.listen_any(server)
        client = EchoClient(self.m, bytes(range(16)))
        client.create_socket()
        client.connect((HOST, port))
        self.assertTrue(support.run_until(lambda: sum(counts) >= 16, map=self.m, passes=500), counts)
        self.assertGreater(max(counts), 4, counts)  # 4 is the item count, 16 the bytes
