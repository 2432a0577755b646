# uasyncore_tls with fake SSL objects (tests/tls_fakes.py): the write-retry rule, pending bytes, flow control and the memory check. Both kinds of SSL object (mbedTLS's,
# OpenSSL's) on every runtime; real TLS is in test_tls_real.py.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
import uasyncore_tls
from support import IN, OUT, FakeSocket
from tls_fakes import FakeContext, FakeMbedTLS, raw_socket
from tls_kit import Chat, Echo, Log, TLSTestCase, pattern, set_cost

_port = uasyncore._port


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
        data = pattern(4600)
        s.write_plan = [None, None, 4096, None, 4096, None, None]
        if cls is Echo:
            ch.send(data)
        else:
            ch.push(data)
        for _ in range(20):
            self.step((s, OUT))
        self.assertTrue(s.wire == data, "what reached the peer is what was sent, once, in order")
        self.assertEqual(s.broken, 0, "each write after a blocked one offers the same bytes")
        self.assertLessEqual(s.longest, uasyncore_tls.CHUNK)
        ch.close()
        _port.collect()  # its 4 KB chunks gone: at a board's heap the next check needs their room

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
            self.assertEqual(s.broken, 0)

    def test_a_reused_buffer_does_not_change_the_held_chunk(self):
        # (the OpenSSL fake refuses a retry with other bytes; mbedTLS would send its own copy anyway)
        ch, s = self.start(self.openssl())
        self.ready(ch, s)
        buf = bytearray(b"first")
        s.write_plan = [None]
        ch.send_from(buf, 5)
        buf[:] = b"XXXXX"  # as the echo example's shared buffer is, at the next read
        self.step((s, OUT))
        self.assertEqual(bytes(s.wire), b"first")
        self.assertEqual(ch.log, ["ready"])

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


##### reading, flow control, budgets


class LongSendTest(TLSTestCase):
    # a class (so, at a board's heap, a process) of its own: beside the write-retry tests its 5 KB buffers
    # left the next one short of memory at 110K
    def test_a_long_send_goes_chunk_by_chunk_while_the_ssl_object_takes_them(self):
        chunk = uasyncore_tls.CHUNK
        data = pattern(chunk + 1000)
        for s in (FakeMbedTLS(), self.openssl()):
            ch, s = self.start(s, uasyncore.dispatcher)
            self.ready(ch, s)
            self.assertEqual(ch.send(data), chunk + 1000, "two chunks in one send")
            self.assertTrue(s.wire == data)
            s.wire = bytearray()  # compared without copies: a board-sized heap
            s.write_plan = [1, None]  # the first chunk goes, the second blocks and is held
            self.assertEqual(ch.send(data), chunk)
            self.assertEqual(ch.send(memoryview(data)[chunk:]), 1000, "the held chunk, offered again")
            self.assertTrue(s.wire == data)
            self.assertEqual(s.longest, chunk, "no write longer than a chunk")
            self.assertEqual(s.broken, 0)


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

    def test_pending_bytes_come_when_readable_says_yes_again(self):
        # asyncore's own backpressure: readable() is False while output is backed up (the bulk peer
        # of tests/tls_peer.py); no poll event will say that bytes wait in the SSL object
        class Backed(Echo):
            full = False

            def readable(self):
                return not self.full

            def handle_read(self):
                Echo.handle_read(self)
                self.full = True

        ch, s = self.start(self.openssl(), Backed)
        self.ready(ch, s)
        s.inbox.append(pattern(1000))
        self.step((s, IN))
        self.assertEqual(len(ch.got), 100)
        ch.full = False  # its output went out
        for _ in range(20):
            self.step()  # no events: what waits inside the SSL object has to come without one
            ch.full = False
        self.assertEqual(bytes(ch.got), pattern(1000))

    def test_pending_bytes_come_once_a_write_makes_the_program_readable_again(self):
        class Backlogged(Echo):
            # reads only while nothing waits to be sent, as tests/tls_peer.py's bulk echo does
            def readable(self):
                return not self._queued

            def handle_read(self):
                Echo.handle_read(self)
                self.send(b"x")

        ch, s = self.start(self.openssl(), Backlogged)
        self.ready(ch, s)
        s.write_plan = [None]  # the first answer blocks: the program stops reading
        s.inbox.append(pattern(1000))
        self.step((s, IN))
        self.assertEqual(len(ch.got), 100)
        self.step((s, OUT))  # the answer goes; no packet comes, the bytes wait in the SSL object
        self.assertEqual(bytes(ch.got), pattern(1000))

    def test_output_watermarks_pause_and_resume_the_program(self):
        ch, s = self.start(FakeMbedTLS())
        self.ready(ch, s)
        s.write_plan = [None] * 4
        ch.send(pattern(4600))
        self.assertEqual(ch.log[-1], "pause")
        self.step()
        self.assertFalse(self.mask(s) & IN)
        for _ in range(6):
            self.step((s, OUT))
        self.assertEqual(ch.log[-1], "resume")
        self.assertTrue(s.wire == pattern(4600))

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


if __name__ == "__main__":
    unittest.main()
