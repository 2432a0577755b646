# uasyncore_tls with fake SSL objects (tests/tls_fakes.py): the write-retry rule, the handshake's
# interest and events, deadlines, failures, pending bytes, STARTTLS, flow control and the memory
# check. Both kinds of SSL object (mbedTLS's, OpenSSL's) on every runtime; real TLS is in test_tls_real.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
import uasynchat
import uasyncore_tls
from support import IN, OUT, FakeSocket, oserror
from tls_fakes import FakeContext, FakeEOF, FakeMbedTLS, FakeOpenSSL, raw_socket, use_want_errors

_port = uasyncore._port
PATTERN = bytes(range(256))


def pattern(n):
    return (PATTERN * (n // 256 + 1))[:n]


class Log:
    # Mixed into channels under test: what the layer made happen to them.
    def init_log(self):
        self.log = []
        self.got = bytearray()

    def handle_tls_ready(self):
        self.log.append("ready")

    def handle_connect(self):
        self.log.append("connect")

    def handle_close(self):
        self.log.append("close")
        self.close()

    def handle_error(self):
        e = uasyncore.handled_error()
        self.log.append(("error", e.args[0] if isinstance(e, OSError) and e.args else type(e).__name__))
        self.close()

    def handle_accept_error(self):
        self.log.append(("refused", support.handled_errno()))


class Echo(Log, uasyncore.dispatcher_with_send):
    out_high = 4096
    out_low = 1024

    def __init__(self, sock=None, map=None):
        self.init_log()
        uasyncore.dispatcher_with_send.__init__(self, sock, map)

    def handle_read(self):
        self.log.append("read")
        data = self.recv(100)
        self.got.extend(data)

    def pause_writing(self):
        self.log.append("pause")
        uasyncore.dispatcher.pause_writing(self)

    def resume_writing(self):
        self.log.append("resume")
        uasyncore.dispatcher.resume_writing(self)


class Chat(Log, uasynchat.async_chat):
    def __init__(self, sock=None, map=None, context=None):
        self.init_log()
        self.context = context
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\r\n")
        self.line = []

    def collect_incoming_data(self, data):
        self.line.append(bytes(data))

    def found_terminator(self):
        line = b"".join(self.line)
        self.line = []
        self.log.append(line)
        if line == b"STARTTLS":
            self.push(b"OK\r\n")
            uasyncore_tls.start_tls(self, self.context, server_side=True)


# What uasyncore_tls believes a server's TLS connection costs on the GC heap (0: nothing checked).
def set_cost(n):
    uasyncore_tls._cost[0] = n


class TLSTestCase(unittest.TestCase):
    def setUp(self):
        self.m, self.fake = support.fake_map()
        self.addCleanup(support.forget_map, self.m)
        use_want_errors(self)
        self.addCleanup(set_cost, uasyncore_tls._cost[0])
        set_cost(0)  # no memory check unless a test sets a cost

    def step(self, *events):
        self.fake.script.append(list(events))
        uasyncore.loop(timeout=0, count=1, map=self.m)

    # What the loop polls sock for, reading and writing (CPython adds POLLPRI to reading), once the
    # loop has read the interest that changed.
    def mask(self, sock):
        support.poller(self.m).refresh()
        return self.fake.mask(sock) & (IN | OUT)

    # A connected channel of cls with TLS started on a fake SSL object: (channel, SSL object).
    def start(self, sslobj, cls=Echo, server_side=True, **kw):
        ch = cls(raw_socket(), map=self.m)
        uasyncore_tls.start_tls(ch, FakeContext(sslobj), server_side=server_side, **kw)
        self.step()
        return ch, sslobj

    # An OpenSSL-like object whose handshake takes the given steps ("read", "write") and then ends.
    def openssl(self, *plan):
        s = FakeOpenSSL()
        s.handshake_plan = list(plan)
        return s

    # Finish a MicroPython-like server's handshake with the client's first bytes.
    def prove(self, ch, s, data=b"x"):
        s.inbox.append(data)
        self.step((s, IN))

    # End a server's handshake: OpenSSL's at its next step, mbedTLS's with a first byte.
    def ready(self, ch, s):
        if isinstance(s, FakeOpenSSL):
            self.step((s, IN))
        else:
            self.prove(ch, s)
        self.assertTrue(ch.socket.ready)


##### the write-retry rule


class WriteRetryRuleTest(TLSTestCase):
    def test_the_fake_loses_bytes_as_mbedtls_does_for_a_writer_that_offers_more(self):
        # what MicroPython's asyncio does: 100 bytes block, then 100 + 5,000 are offered
        s = FakeMbedTLS()
        s.write_plan = [None]
        self.assertIsNone(s.write(b"a" * 100))
        self.assertEqual(s.write(b"a" * 100 + b"b" * 5000), 4096)
        self.assertEqual(len(s.wire), 100, "4096 reported sent, 100 on the wire: 3,996 lost")

    def check_bulk(self, s, cls=Echo):
        ch, s = self.start(s, cls)
        self.ready(ch, s)
        data = pattern(10000)
        s.write_plan = [None, None, 4096, None, 4096, None, None]
        if cls is Echo:
            ch.send(data)
        else:
            ch.push(data)
        for _ in range(20):
            self.step((s, OUT))
        self.assertEqual(bytes(s.wire), data)
        self.assertEqual(s.broken_retries(), [])
        self.assertLessEqual(max(len(w[0]) for w in s.writes), uasyncore_tls.CHUNK)
        return ch

    def test_dispatcher_with_send_retries_exactly_the_blocked_chunk(self):
        self.check_bulk(FakeMbedTLS())
        self.check_bulk(self.openssl())

    def test_async_chat_retries_exactly_the_blocked_chunk(self):
        self.check_bulk(FakeMbedTLS(), Chat)
        self.check_bulk(self.openssl(), Chat)

    def test_async_chat_closes_only_once_all_is_sent(self):
        ch, s = self.start(self.openssl(), Chat)
        self.ready(ch, s)
        s.write_plan = [None, None]
        ch.push(b"one ")
        ch.push(b"two")
        ch.close_when_done()
        self.step((s, OUT))
        self.assertIn(ch._fileno, self.m)
        self.step((s, OUT))
        self.step((s, OUT))
        self.assertEqual(bytes(s.wire), b"one two")
        self.assertNotIn(ch._fileno, self.m)

    def test_a_program_that_offers_other_bytes_after_a_block_still_sends_the_blocked_chunk(self):
        for s in (FakeMbedTLS(), self.openssl()):
            ch, s = self.start(s, uasyncore.dispatcher)
            self.ready(ch, s)
            s.write_plan = [None]
            self.assertEqual(ch.send(b"a" * 100), 0)
            self.assertEqual(ch.send(b"b" * 5000), 100, "the count is the held chunk's")
            self.assertEqual(bytes(s.wire), b"a" * 100)
            self.assertEqual(s.broken_retries(), [])

    def test_a_reused_buffer_does_not_change_the_held_chunk(self):
        ch, s = self.start(FakeMbedTLS())
        self.prove(ch, s)
        buf = bytearray(b"first")
        s.write_plan = [None]
        ch.send_from(buf, 5)
        buf[:] = b"XXXXX"
        self.step((s, OUT))
        self.assertEqual(bytes(s.wire), b"first")

    def test_a_write_that_waits_to_read_polls_for_reading_not_writing(self):
        ch, s = self.start(self.openssl())
        self.ready(ch, s)
        s.write_plan = ["read"]
        ch.send(b"data")
        self.step()
        self.assertEqual(self.mask(s), IN, "polling for writing would spin")
        self.step((s, IN))
        self.assertEqual(bytes(s.wire), b"data")
        self.assertEqual(self.mask(s), IN)


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

    def test_a_reset_after_the_handshake_closes_as_on_plain_sockets(self):
        ch, s = self.start(FakeMbedTLS())
        self.prove(ch, s)
        s.inbox.append(oserror(_port.ECONNRESET))
        self.step((s, IN))
        self.assertEqual(ch.log[-1], "close")
        self.assertTrue(s.raw.closed)


##### reading, flow control, budgets


class ReadAndFlowTest(TLSTestCase):
    def test_bytes_waiting_in_the_ssl_object_are_delivered_without_another_packet(self):
        ch, s = self.start(self.openssl())
        self.ready(ch, s)
        s.inbox.append(pattern(1000))
        self.step((s, IN))
        self.assertEqual(bytes(ch.got), pattern(1000), "read 100 at a time, all in one event")

    def test_pending_bytes_wait_while_reading_is_paused_and_come_when_it_resumes(self):
        class Pausing(Echo):
            def handle_read(self):
                Echo.handle_read(self)
                if len(self.got) == 100:
                    self.pause_reading()  # as backpressure does

        ch, s = self.start(self.openssl(), Pausing)
        self.ready(ch, s)
        s.inbox.append(pattern(1000))
        self.step((s, IN))
        self.assertEqual(len(ch.got), 100)
        ch.resume_reading()
        self.step()
        self.assertEqual(bytes(ch.got), pattern(1000))

    def test_output_watermarks_pause_and_resume_the_program(self):
        ch, s = self.start(FakeMbedTLS())
        self.ready(ch, s)
        s.write_plan = [None] * 4
        ch.send(pattern(5000))
        self.assertEqual(ch.log[-1], "pause")
        self.step()
        self.assertFalse(self.mask(s) & IN)
        for _ in range(6):
            self.step((s, OUT))
        self.assertEqual(ch.log[-1], "resume")
        self.assertEqual(bytes(s.wire), pattern(5000))

    def test_the_idle_timeout_counts_tls_traffic(self):
        clock = support.use_clock(self)
        ch, s = self.start(FakeMbedTLS())
        ch.set_idle_timeout(10)
        clock.advance(8)
        self.prove(ch, s)
        clock.advance(8)
        self.step()
        self.assertIn(ch._fileno, self.m)
        clock.advance(3)
        self.step()
        self.assertNotIn(ch._fileno, self.m)

    def test_a_server_short_of_memory_refuses_the_connection_and_the_listener_goes_on(self):
        self.addCleanup(setattr, uasyncore_tls, "_mem_free", uasyncore_tls._mem_free)
        uasyncore_tls._mem_free = lambda: 20000
        set_cost(16000)  # 16,000 + RESERVE do not fit in 20,000
        ctx = FakeContext(FakeMbedTLS())
        conns = [raw_socket(), raw_socket()]

        class Listener(Log, uasyncore.dispatcher):
            def handle_accepted(self, sock, addr):
                uasyncore_tls.start_tls(Echo(sock, map=self._map), ctx, server_side=True)

        listener = Listener(map=self.m)
        listener.init_log()
        listener.set_socket(FakeSocket(accept_plan=[(c, ("127.0.0.1", 1)) for c in conns]))
        listener.listen(5)
        self.step((listener.socket, IN))
        self.step((listener.socket, IN))  # the core takes the next connection at the next event
        self.assertEqual(listener.log, [("refused", _port.ENOMEM)] * 2)
        self.assertTrue(conns[0].closed and conns[1].closed)
        self.assertEqual(ctx.wraps, [])
        self.assertEqual(list(self.m.values()), [listener])
        self.assertEqual(listener.open_connections, 0)


    def test_a_client_short_of_memory_fails_its_connect_with_enomem(self):
        self.addCleanup(setattr, uasyncore_tls, "_mem_free", uasyncore_tls._mem_free)
        uasyncore_tls._mem_free = lambda: 20000
        set_cost(16000)
        raw = FakeSocket(connect_result=_port.EINPROGRESS)
        ch = Echo(map=self.m)
        ch.set_socket(raw)
        ctx = FakeContext(FakeMbedTLS())
        uasyncore_tls.start_tls(ch, ctx, server_hostname="x")
        ch.connect(("127.0.0.1", 8883))
        self.step((raw, OUT))
        self.assertEqual(ch.log, [("error", _port.ENOMEM)])
        self.assertEqual(ctx.wraps, [])
        self.assertTrue(raw.closed)


##### contexts


class ContextTest(unittest.TestCase):
    def test_pem_blocks_become_der(self):
        import binascii

        der = bytes(range(200))
        body = binascii.b2a_base64(der)
        pem = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        pem += b"-----BEGIN EC PRIVATE KEY-----\n" + body[:40] + b"\n" + body[40:] + b"-----END EC PRIVATE KEY-----\n"
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
