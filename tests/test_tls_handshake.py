# uasyncore_tls with fake SSL objects (tests/tls_fakes.py): the handshake's interest and events, STARTTLS,
# deadlines, failures, the context helpers' conversions. Both kinds of SSL object (mbedTLS's,
# OpenSSL's) on every runtime; real TLS is in test_tls_real.py.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
import uasyncore_dns
import uasyncore_slots
import uasyncore_tls
from support import IN, OUT, FakeSocket, oserror
from tls_fakes import FakeContext, FakeEOF, FakeMbedTLS, FakeOpenSSL, raw_socket
from tls_kit import Chat, Echo, TLSTestCase

_port = uasyncore._port


##### the handshake


class HandshakeTest(TLSTestCase):
    def test_a_server_polls_what_its_handshake_needs_and_nothing_of_the_program(self):
        s = self.openssl("write", "read")
        ch = Echo(raw_socket(), map=self.m)
        ch.send(b"")  # nothing queued; then output before the handshake is over waits in the queue
        uasyncore_tls.start_tls(ch, FakeContext(s), server_side=True)
        ch.send(b"hello")
        self.step()
        self.assertEqual(self.mask(s), IN)
        self.step((s, IN))
        self.assertEqual(self.mask(s), OUT)
        self.step((s, OUT))
        self.assertEqual(self.mask(s), IN)
        self.assertEqual(ch.log, [])
        self.step((s, IN))
        self.assertEqual(ch.log, ["ready"])
        self.assertEqual(self.mask(s), IN | OUT, "the program's own interest: input, and its queue")
        self.step((s, OUT))
        self.assertEqual(bytes(s.wire), b"hello")

    def test_the_channel_is_keyed_by_the_ssl_object_and_the_raw_socket_leaves_the_map(self):
        raw = raw_socket()
        ch = Echo(raw, map=self.m)
        s = FakeMbedTLS()
        uasyncore_tls.start_tls(ch, FakeContext(s), server_side=True)
        self.assertIs(self.m.get(_port.key(s)), ch)
        self.assertIsNone(self.m.get(_port.key(raw)) if not isinstance(_port.key(raw), int) else None)
        self.assertIs(ch.socket.polled, s)

    def test_mbedtls_shows_the_end_of_the_handshake_with_the_first_byte_which_is_not_lost(self):
        ch, s = self.start(FakeMbedTLS())
        self.step((s, IN))
        self.step((s, IN))
        self.assertEqual(ch.log, [])
        s.inbox.append(b"hello")
        self.step((s, IN))
        self.assertEqual(ch.log, ["ready", "read"])
        self.step((s, IN))
        self.assertEqual(bytes(ch.got), b"hello")
        self.assertNotIn("readable", ch.__dict__, "the channel's own predicates serve again")

    def test_a_ready_hook_that_raises_reaches_handle_error_though_a_timer_calls_it(self):
        # on mbedTLS the handshake's end shows with the first byte, and the hook runs after that read
        class Buggy(Echo):
            def handle_tls_ready(self):
                raise ValueError("the program's bug")

        s = FakeMbedTLS()
        raw = FakeSocket(connect_result=_port.EINPROGRESS)
        ch = Buggy(map=self.m)
        ch.set_socket(raw)
        uasyncore_tls.start_tls(ch, FakeContext(s), server_hostname="device.local")
        ch.connect(("127.0.0.1", 8883))
        self.step((raw, OUT))
        s.write_plan = [None]
        ch.send(b"CONNECT")  # the write that shows the handshake is over comes in a write event
        self.step()
        self.step((s, OUT))
        self.step()
        self.assertIn(("error", "ValueError"), ch.log)

    def test_an_openssl_client_connects_once_the_handshake_is_done(self):
        s = self.openssl("read", "read")
        raw = FakeSocket(connect_result=_port.EINPROGRESS)
        ch = Echo(map=self.m)
        ch.set_socket(raw)
        ctx = FakeContext(s)
        uasyncore_tls.start_tls(ch, ctx, server_hostname="device.local")
        ch.connect(("127.0.0.1", 8883))
        self.assertEqual(ctx.wraps, [])
        self.step((raw, OUT))
        self.assertEqual(ctx.wraps[0][1]["server_hostname"], "device.local")
        self.assertEqual(s.handshakes, 1, "the layer sends the ClientHello itself")
        self.assertEqual(ch.log, [])
        self.assertTrue(ch.connecting)
        self.step((s, IN))
        self.step((s, IN))
        self.assertEqual(ch.log, ["connect", "ready"])
        self.assertTrue(ch.connected)

    def test_a_clients_write_handler_waits_for_the_handshake_when_the_connect_completes_on_a_write_event(self):
        s = self.openssl("read", "read")
        raw = FakeSocket(connect_result=_port.EINPROGRESS)
        writes = []

        class Eager(Echo):
            def handle_write(self):
                writes.append(self.connected)

        ch = Eager(map=self.m)
        ch.set_socket(raw)
        uasyncore_tls.start_tls(ch, FakeContext(s), server_hostname="device.local")
        ch.connect(("127.0.0.1", 8883))
        self.step((raw, OUT))  # the TCP connection is up: the handshake starts, the program waits
        self.assertEqual((writes, ch.log), ([], []))

    def test_a_connect_that_completes_at_once_runs_nothing_of_the_program_before_the_handshake(self):
        s = self.openssl("read", "read")
        raw = FakeSocket(connect_result=0)  # connected in connect() itself (AF_UNIX, a repeated connect)

        class Hello(Echo):
            def handle_connect(self):
                Echo.handle_connect(self)
                self.send(b"SECRET")

        ch = Hello(map=self.m)
        ch.set_socket(raw)
        uasyncore_tls.start_tls(ch, FakeContext(s), server_hostname="device.local")
        ch.connect(("127.0.0.1", 8883))
        raw.inbox.append(b"\x16\x03")
        self.step((raw, IN))
        self.assertEqual((ch.log, bytes(raw.sent)), ([], b""), "handle_connect() waits for the handshake; nothing in plaintext")
        self.step((s, IN))
        self.step((s, IN))
        self.assertEqual(ch.log, ["connect", "ready"], "announced once, after the handshake")

    def test_start_tls_after_connect_to_a_host_name(self):
        looked_up = []
        real = uasyncore_dns.resolve
        uasyncore_dns.resolve = lambda host, callback, *args, **kw: looked_up.append((host, callback))
        self.addCleanup(setattr, uasyncore_dns, "resolve", real)
        ch = Echo(map=self.m)
        raw = FakeSocket(connect_result=_port.EINPROGRESS)
        ch.set_socket(raw)
        ch.connect(("device.example", 8883))  # the channel leaves the map while the name is looked up
        self.assertEqual([h for h, _ in looked_up], ["device.example"])
        uasyncore_tls.start_tls(ch, FakeContext(self.openssl("read")), server_hostname="device.example")
        looked_up[0][1]("127.0.0.1", None)  # the answer: the channel connects to the address
        self.step((raw, OUT))
        self.assertIsInstance(ch.socket, uasyncore_tls.TLSSocket, "the connection's first event started TLS")
        self.assertEqual(ch.log, [])

    def test_start_tls_needs_an_open_channel(self):
        ch = Echo(map=self.m)
        with self.assertRaises(OSError):
            uasyncore_tls.start_tls(ch, FakeContext(FakeMbedTLS()))  # no socket yet
        ch.set_socket(FakeSocket())
        ch.close()
        with self.assertRaises(OSError):
            uasyncore_tls.start_tls(ch, FakeContext(FakeMbedTLS()))  # closed
        self.assertNotIn("handle_read_event", ch.__dict__, "nothing was put on the channel")

    def test_an_mbedtls_client_connects_at_once_and_its_output_waits_for_the_handshake(self):
        s = FakeMbedTLS()
        raw = FakeSocket(connect_result=_port.EINPROGRESS)
        ch = Echo(map=self.m)
        ch.set_socket(raw)
        uasyncore_tls.start_tls(ch, FakeContext(s), server_hostname="device.local")
        ch.connect(("127.0.0.1", 8883))
        self.step((raw, OUT))
        self.assertEqual(ch.log, ["connect"])
        self.assertEqual(s.reads, 1, "a first read sends the ClientHello")
        s.write_plan = [None, None]  # the handshake is not over: mbedTLS takes nothing yet
        ch.send(b"CONNECT")
        self.step()
        self.assertEqual(self.mask(s), OUT, "the blocked write drives the handshake")
        self.step((s, OUT))
        self.step((s, OUT))
        self.assertEqual(bytes(s.wire), b"CONNECT")
        self.step()
        self.assertEqual(ch.log, ["connect", "ready"])

    def test_starttls_waits_for_the_reply_and_reads_nothing_meanwhile(self):
        s = FakeMbedTLS()
        raw = FakeSocket(peer=("127.0.0.1", 1), inbox=[b"STARTTLS\r\n"], send_plan=[0])
        ctx = FakeContext(s)
        ch = Chat(raw, map=self.m, context=ctx)
        self.step((raw, IN))
        self.assertEqual(ch.log, [b"STARTTLS"])
        self.assertEqual(ctx.wraps, [], "the reply is still queued")
        self.step()
        self.assertEqual(self.mask(raw), OUT)
        self.step((raw, OUT))
        self.assertEqual(bytes(raw.sent), b"OK\r\n")
        self.assertEqual(len(ctx.wraps), 1)
        self.step()
        self.assertEqual(self.mask(s), IN)
        self.prove(ch, s, b"hi\r\n")
        self.step((s, IN))  # the rest, which MicroPython's SSL object reports as waiting
        self.assertEqual(ch.log, [b"STARTTLS", "ready", b"hi"])


##### deadlines and failures


class FailureTest(TLSTestCase):
    def test_a_silent_peer_is_closed_at_the_deadline_and_the_others_go_on(self):
        clock = support.use_clock(self)
        silent, s1 = self.start(FakeMbedTLS(), timeout=5)
        other, s2 = self.start(FakeMbedTLS(), timeout=5)
        clock.advance(4)
        self.prove(other, s2, b"hi")
        clock.advance(2)
        self.step()
        self.assertEqual(silent.log, ["close"])
        self.assertTrue(s1.closed and s1.raw.closed)
        self.assertEqual(other.log, ["ready", "read"])
        self.assertIn(other._fileno, self.m)

    def test_a_client_whose_server_stays_silent_fails_with_etimedout(self):
        clock = support.use_clock(self)
        ch, s = self.start(self.openssl("read", "read"), server_side=False, server_hostname="x", timeout=5)
        clock.advance(6)
        self.step()
        self.assertEqual(ch.log, [("error", _port.ETIMEDOUT)])

    def check_failure(self, s, failure, server_side, expected):
        self.m, self.fake = support.fake_map()  # a map of its own: the last one went with its channel
        if isinstance(s, FakeOpenSSL):
            s.handshake_plan = ["read"]  # a client's first step, its ClientHello
        ch, s = self.start(s, server_side=server_side, server_hostname=None if server_side else "x")
        if isinstance(s, FakeOpenSSL):
            s.handshake_plan = [failure]
        else:
            s.inbox.append(failure)
        self.step((s, IN))
        self.assertEqual(ch.log, [expected])
        self.assertTrue(s.closed, "the SSL object is closed")
        self.assertTrue(s.raw.closed, "and the raw socket, which MicroPython's SSL object leaves open")
        self.assertNotIn(ch._fileno, self.m)
        self.assertEqual(getattr(support.poller(self.m), "timers", []), [], "the deadline is cancelled")

    def test_a_bad_certificate_or_a_protocol_error_goes_to_handle_error(self):
        self.check_failure(self.openssl(), OSError(1, "certificate verify failed"), False, ("error", 1))
        self.check_failure(FakeMbedTLS(), ValueError("The certificate is not correctly signed"), False,
                           ("error", "ValueError"))
        self.check_failure(FakeMbedTLS(), OSError(-29184, "plaintext"), True, ("error", -29184))

    def test_a_client_that_leaves_during_the_handshake_is_closed(self):
        self.check_failure(self.openssl(), FakeEOF(8, "EOF"), True, "close")
        self.check_failure(FakeMbedTLS(), OSError(-0x7280, "EOF"), True, "close")
        self.check_failure(FakeMbedTLS(), oserror(_port.ECONNRESET), True, "close")

    def test_a_server_that_leaves_during_the_handshake_fails_the_client(self):
        self.check_failure(self.openssl(), FakeEOF(8, "EOF"), False, ("error", 8))

    def test_a_peer_gone_while_writing_closes_as_on_plain_sockets(self):
        ch, s = self.start(self.openssl())
        self.ready(ch, s)
        s.write_plan = [FakeEOF(8, "EOF")]
        ch.send(b"data")
        self.assertEqual(ch.log[-1], "close")

    def test_a_reset_after_the_handshake_closes_as_on_plain_sockets(self):
        ch, s = self.start(FakeMbedTLS())
        self.prove(ch, s)
        s.inbox.append(oserror(_port.ECONNRESET))
        self.step((s, IN))
        self.assertEqual(ch.log[-1], "close")
        self.assertTrue(s.raw.closed)


##### the handshake is a phase: what a listener's slot policy judges an accepted channel by


class Phased(Chat):
    # A line protocol with phases (a line each), as the control example: STARTTLS switches to TLS.
    phase_timeout = 5

    def found_terminator(self):
        self.end_phase()
        Chat.found_terminator(self)

    def handle_evict(self):
        self.log.append("evicted")
        self.close()

    def handle_phase_timeout(self):
        self.log.append("timeout")
        self.close()


class HandshakePhaseTest(TLSTestCase):
    # A listener with a budget of one whose connections run TLS from the start (tls) or on STARTTLS.
    def listen(self, sslobj, tls=True):
        self.clock = support.use_clock(self)
        ctx = FakeContext(sslobj)
        served = self.served = []

        class Listener(uasyncore.dispatcher):
            max_connections = 1

            def handle_accepted(self, sock, addr):
                ch = Phased(sock, map=self._map, context=ctx)
                served.append(ch)
                if tls:
                    uasyncore_tls.start_tls(ch, ctx, server_side=True)

        self.lsock = FakeSocket()
        Listener(self.lsock, self.m).listen(5)
        self.step()
        return self.accept()

    def accept(self, inbox=()):
        raw = FakeSocket(peer=("127.0.0.1", 40000), inbox=list(inbox))
        self.lsock.accept_plan.append((raw, ("127.0.0.1", 40000)))
        self.step((self.lsock, IN))
        return self.served[-1], raw

    def each_kind(self):
        return (lambda: self.openssl(*["read"] * 50), FakeMbedTLS)

    def test_a_handshake_past_its_grace_is_taken_for_a_waiting_client_at_once(self):
        for make in self.each_kind():
            s = make()
            ch, raw = self.listen(s)
            self.clock.advance(uasyncore_slots.GRACE + 0.01)
            self.step((s, IN))  # a step of its handshake, and nothing more
            self.accept()  # a client waits: the handshake has been judged since it began
            self.assertEqual(ch.log, ["evicted"], type(s).__name__)
            self.assertTrue(s.closed and raw.closed)

    def test_starttls_begins_a_phase_so_a_stalled_handshake_is_not_an_idle_session(self):
        for make in self.each_kind():
            s = make()
            ch, raw = self.listen(s, tls=False)
            raw.inbox.append(b"STARTTLS\r\n")
            self.step((raw, IN))
            self.assertEqual(len(ch.context.wraps), 1, "the reply went at once: the handshake began")
            self.clock.advance(uasyncore_slots.GRACE + 0.01)  # less than the idle time a session keeps its slot for
            self.step()
            self.accept()
            self.assertEqual(ch.log, [b"STARTTLS", "evicted"], type(s).__name__)

    def test_the_time_a_handshake_took_is_not_counted_against_the_first_phase(self):
        for make in self.each_kind():
            s = make()
            ch, raw = self.listen(s)
            self.clock.advance(Phased.phase_timeout + 1)  # a slow handshake, while no client waited
            if isinstance(s, FakeOpenSSL):
                s.handshake_plan = []
                self.step((s, IN))
            s.inbox.append(b"HELLO\r\n")
            self.step((s, IN))
            self.step((s, IN))
            self.assertEqual(ch.log, ["ready", b"HELLO"], type(s).__name__)
            self.m, self.fake = support.fake_map()  # a map of its own for the next kind


##### contexts


class ContextTest(unittest.TestCase):
    def test_pem_blocks_become_der(self):
        import binascii

        der = bytes(range(200))  # any bytes: the conversion does not read them as a key
        body = binascii.b2a_base64(der)
        # the armour is put together here, so the repository holds no key-shaped block
        label = b" ".join((b"EC", b"PRIVATE", b"KEY"))
        pem = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        pem += b"-----BEGIN " + label + b"-----\n" + body[:40] + b"\n" + body[40:] + b"-----END " + label + b"-----\n"
        self.assertEqual(uasyncore_tls._der(pem, b"PRIVATE KEY"), [der])
        self.assertEqual(uasyncore_tls._der(der, b"PRIVATE KEY"), [der], "DER passes through")

    def test_a_der_key_is_labelled_by_its_structure(self):
        pkcs8 = bytes([0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13])
        sec1 = bytes([0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20])
        pkcs1 = bytes([0x30, 0x82, 0x04, 0xA4, 0x02, 0x01, 0x00, 0x02, 0x82])
        self.assertEqual(uasyncore_tls._key_label(pkcs8), "PRIVATE KEY")
        self.assertEqual(uasyncore_tls._key_label(sec1), "EC PRIVATE KEY")
        self.assertEqual(uasyncore_tls._key_label(pkcs1), "RSA PRIVATE KEY")


if __name__ == "__main__":
    unittest.main()
