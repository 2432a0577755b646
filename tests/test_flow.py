# Flow control and deadlines: output watermarks, paused reading, idle and connect timeouts,
# connection budgets, memory errors. Fake sockets, a fake poller and a fake clock.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
import uasynchat
from support import EAGAIN, HUP, IN, OUT, ERR, FakeSocket, oserror

PEER = ("127.0.0.1", 4000)
EINPROGRESS = uasyncore._port.EINPROGRESS
ETIMEDOUT = uasyncore._port.ETIMEDOUT


class Recorder:
    # Mixed into channels under test: logs flow-control calls, errors and closes.
    def init_log(self):
        self.log = []

    def pause_writing(self):
        self.log.append("pause")
        uasyncore.dispatcher.pause_writing(self)

    def resume_writing(self):
        self.log.append("resume")
        uasyncore.dispatcher.resume_writing(self)

    def handle_error(self):
        self.log.append(("error", support.handled_errno()))
        self.close()

    def handle_idle(self):
        self.log.append("idle")
        self.close()


class Sender(Recorder, uasyncore.dispatcher_with_send):
    out_high = 100
    out_low = 20

    def __init__(self, sock, map):
        self.init_log()
        uasyncore.dispatcher_with_send.__init__(self, sock, map)

    def handle_read(self):
        self.recv(100)


class Chat(Recorder, uasynchat.async_chat):
    out_high = 100
    out_low = 20

    def __init__(self, sock, map):
        self.init_log()
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


class FlowTestCase(unittest.TestCase):
    def setUp(self):
        self.m, self.fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, self.m)

    def step(self, *events):
        self.fake.script.append(list(events))
        uasyncore.loop(timeout=0, count=1, map=self.m)


class WatermarkTest(FlowTestCase):
    def check_watermarks(self, cls, queue):
        sock = FakeSocket(peer=PEER, send_plan=[oserror(EAGAIN)] * 20)
        d = cls(sock, self.m)
        self.step()
        self.assertEqual(self.fake.mask(sock) & IN, IN)
        queue(d, b"x" * 60)  # under out_high: nothing to say
        self.assertEqual(d.log, [])
        queue(d, b"y" * 60)  # 120 queued: over out_high
        self.assertEqual(d.log, ["pause"])
        queue(d, b"z" * 60)  # still over: said once only
        self.assertEqual(d.log, ["pause"])
        self.step()
        self.assertEqual(self.fake.mask(sock) & IN, 0, "a paused writer's channel stops reading")
        self.assertEqual(self.fake.mask(sock) & OUT, OUT, "... but keeps writing")
        sock.send_plan = [7] * 100
        left = 180
        while left > 20:  # resume_writing exactly when what is left reaches out_low
            self.assertEqual(d.log, ["pause"])
            self.step((sock, OUT))
            left = 180 - len(sock.sent)
        self.assertEqual(d.log, ["pause", "resume"])
        self.step()
        self.assertEqual(self.fake.mask(sock) & IN, IN)
        while self.fake.mask(sock) & OUT:
            self.step((sock, OUT))
        self.assertEqual(bytes(sock.sent), b"x" * 60 + b"y" * 60 + b"z" * 60)
        self.assertEqual(d.log, ["pause", "resume"])

    # pause_writing() when the queue reaches exactly out_high, resume_writing() when it falls to
    # exactly out_low: not a byte before either.
    def check_exact_boundaries(self, cls, queue):
        sock = FakeSocket(peer=PEER)
        sock.stalled = True  # the peer reads nothing: all of it queues
        d = cls(sock, self.m)
        queue(d, b"a" * 99)
        self.assertEqual(d.log, [], "99 queued, out_high 100: not yet")
        queue(d, b"b")
        self.assertEqual(d.log, ["pause"], "100 queued: at out_high")
        sock.stalled = False
        sock.send_plan = [79, 1]
        self.step((sock, OUT))
        self.assertEqual(len(sock.sent), 79)
        self.assertEqual(d.log, ["pause"], "21 queued, out_low 20: not yet")
        self.step((sock, OUT))
        self.assertEqual(len(sock.sent), 80)
        self.assertEqual(d.log, ["pause", "resume"], "20 queued: at out_low")

    # A push the socket took part of counts only what is left: 110 offered, 20 taken, 90 queued (under
    # out_high 100), and the pause comes when what is left reaches it.
    def check_partly_sent(self, cls, queue):
        sock = FakeSocket(peer=PEER, send_plan=[20])
        d = cls(sock, self.m)
        queue(d, b"c" * 110)
        self.assertEqual((len(sock.sent), d.log), (20, []))
        sock.stalled = True
        queue(d, b"d" * 9)
        self.assertEqual(d.log, [], "99 left")
        queue(d, b"e")
        self.assertEqual(d.log, ["pause"], "100 left")

    def test_dispatcher_with_send_counts_what_is_left_of_a_partly_sent_piece(self):
        self.check_partly_sent(Sender, Sender.send)

    def test_async_chat_counts_what_is_left_of_a_partly_sent_push(self):
        self.check_partly_sent(Chat, Chat.push)

    def test_dispatcher_with_send_at_its_exact_watermarks(self):
        self.check_exact_boundaries(Sender, Sender.send)

    def test_async_chat_at_its_exact_watermarks(self):
        self.check_exact_boundaries(Chat, Chat.push)

    def test_dispatcher_with_send(self):
        self.check_watermarks(Sender, Sender.send)

    def test_async_chat(self):
        self.check_watermarks(Chat, Chat.push)

    def test_discard_buffers_starts_the_count_again(self):
        sock = FakeSocket(peer=PEER)
        sock.stalled = True
        d = Chat(sock, self.m)
        d.push(b"a" * 150)
        d.discard_buffers()
        d.push(b"b" * 10)
        self.assertEqual(d.log, ["pause", "resume"], "10 queued, not 160")
        d.push(b"c" * 90)
        self.assertEqual(d.log, ["pause", "resume", "pause"], "100 queued: out_high")

    def test_a_proxy_pauses_its_source_instead(self):
        source = Sender(FakeSocket(peer=PEER), self.m)
        sink_sock = FakeSocket(peer=PEER, send_plan=[oserror(EAGAIN)] * 5)

        class Sink(Sender):
            def pause_writing(self):
                source.pause_reading()

            def resume_writing(self):
                source.resume_reading()

        sink = Sink(sink_sock, self.m)
        sink.send(b"q" * 150)
        self.step()
        self.assertEqual(self.fake.mask(source.socket) & IN, 0)
        self.assertEqual(self.fake.mask(sink_sock) & IN, IN, "the sink itself keeps reading")
        while sink.out_buffer:
            self.step((sink_sock, OUT))
        self.step()
        self.assertEqual(self.fake.mask(source.socket) & IN, IN)

    def test_an_empty_send_behind_queued_data_does_not_stall_the_queue(self):
        sock = FakeSocket(peer=PEER, send_plan=[0])
        d = Sender(sock, self.m)
        d.send(b"a")  # the socket takes nothing: queued
        d.send(b"")
        d.send(b"b")
        for _ in range(5):
            self.step((sock, OUT))
        self.assertEqual(bytes(sock.sent), b"ab")
        self.assertFalse(d.writable())

    def test_pause_and_resume_reading(self):
        d = Sender(FakeSocket(peer=PEER, inbox=[b"a", b"b"]), self.m)
        self.step()
        d.pause_reading()
        self.step((d.socket, IN))
        self.assertEqual(d.socket.inbox, [b"a", b"b"], "no read while paused")
        d.resume_reading()
        self.step((d.socket, IN))
        self.assertEqual(d.socket.inbox, [b"b"])


    # A paused writer is polled for output only; a hang-up still comes (poll always reports it), and
    # the input left behind it is read before the channel closes.
    def test_a_hang_up_while_paused_reads_what_is_left_then_closes(self):
        class Reader(Sender):
            def handle_read(self):
                self.log.append(self.recv(100))

        sock = FakeSocket(peer=PEER, inbox=[b"last words", b""])
        sock.stalled = True
        d = Reader(sock, self.m)
        d.send(b"q" * 150)  # over out_high: pause_writing() pauses reading
        self.step()
        self.assertEqual(self.fake.mask(sock), OUT)
        self.step((sock, HUP))
        self.assertFalse(sock.closed, "input is waiting: not closed yet")
        self.step()
        self.assertEqual(self.fake.mask(sock) & IN, IN, "reading again, to drain it")
        self.step((sock, IN))
        self.step((sock, IN))
        self.assertEqual(d.log, ["pause", b"last words", b""])
        self.assertTrue(sock.closed)


class IdleTimeoutTest(FlowTestCase):
    def setUp(self):
        FlowTestCase.setUp(self)
        self.clock = support.use_clock(self)

    def test_silent_channel_is_closed_after_its_timeout(self):
        d = Sender(FakeSocket(peer=PEER), self.m)
        d.set_idle_timeout(5)
        self.clock.advance(4.9)
        self.step()
        self.assertEqual(d.log, [])
        self.clock.advance(0.1)
        self.step()
        self.assertEqual(d.log, ["idle"])
        self.assertTrue(d.socket.closed)
        self.assertEqual(self.m, {})

    def test_traffic_moves_the_deadline(self):
        sock = FakeSocket(peer=PEER, inbox=[b"ping"])
        d = Sender(sock, self.m)
        d.set_idle_timeout(5)
        self.clock.advance(3)
        self.step((sock, IN))  # a byte in at t=3
        self.clock.advance(2.5)
        self.step()
        self.assertEqual(d.log, [], "t=5.5: only 2.5 s idle")
        self.clock.advance(2.5)
        self.step()
        self.assertEqual(d.log, ["idle"], "t=8: 5 s since the last byte")

    def test_closed_at_the_exact_millisecond_not_before(self):
        sock = FakeSocket(peer=PEER, inbox=[b"ping"])
        d = Sender(sock, self.m)
        start = self.clock.now
        d.set_idle_timeout(5)
        self.clock.now = uasyncore.ticks_add(start, 1)
        self.step((sock, IN))  # the last byte in at 1 ms
        self.clock.now = uasyncore.ticks_add(start, 5000)
        self.step()  # the timer set at 0 ms fires, 1 ms before the deadline
        self.assertEqual(d.log, [])
        self.clock.now = uasyncore.ticks_add(start, 5001)
        self.step()
        self.assertEqual(d.log, ["idle"])

    def test_class_attribute_applies_to_new_channels(self):
        class Quiet(Sender):
            idle_timeout = 1

        d = Quiet(FakeSocket(peer=PEER), self.m)
        self.clock.advance(1)
        self.step()
        self.assertEqual(d.log, ["idle"])

    def test_none_disables_it_and_listeners_never_idle(self):
        d = Sender(FakeSocket(peer=PEER), self.m)
        d.set_idle_timeout(1)
        d.set_idle_timeout(None)

        class Listener(Sender):
            idle_timeout = 1

        listener = Listener(FakeSocket(), self.m)
        listener.listen(5)
        self.clock.advance(10)
        self.step()
        self.assertEqual((d.log, listener.log), ([], []))
        self.assertEqual(support.poller(self.m).timers, [])


class ConnectTimeoutTest(FlowTestCase):
    def setUp(self):
        FlowTestCase.setUp(self)
        self.clock = support.use_clock(self)

    def client(self):
        d = Sender(FakeSocket(connect_result=EINPROGRESS), self.m)
        d.connect_timeout = 2
        d.connect(PEER)
        self.assertTrue(d.connecting)
        return d

    def test_a_connect_that_hangs_ends_in_handle_error_with_etimedout(self):
        d = self.client()
        self.clock.advance(1.9)
        self.step()
        self.assertEqual(d.log, [])
        self.clock.advance(0.1)
        self.step()
        self.assertEqual(d.log, [("error", ETIMEDOUT)])
        self.assertTrue(d.socket.closed)

    def test_a_connect_in_time_cancels_it(self):
        d = self.client()
        self.step((d.socket, OUT))
        self.assertTrue(d.connected)
        self.clock.advance(5)
        self.step()
        self.assertEqual(d.log, [])

    def test_a_connect_reset_is_an_error_whatever_the_flags(self):
        for flags in (OUT, IN, OUT | ERR | support.HUP):
            self.m, self.fake = support.fake_map()  # the last pass emptied the old map and dropped its poller
            d = self.client()
            d.socket.error = support.ECONNRESET  # how rp2 reports a refused connect
            self.step((d.socket, flags))
            self.assertEqual(d.log[:1], [("error", support.ECONNRESET)], flags)
            self.assertTrue(d.socket.closed)

    def test_a_refused_connect_is_an_error_on_every_port(self):
        d = self.client()
        self.step((d.socket, OUT | ERR | support.HUP))  # SO_ERROR/probe says nothing: still a failure
        self.assertEqual(d.log, [("error", support.ECONNREFUSED)])


class Listener(uasyncore.dispatcher):
    max_connections = 2

    def __init__(self, sock, map):
        uasyncore.dispatcher.__init__(self, sock, map)
        self.served = []

    def handle_accepted(self, sock, addr):
        self.served.append(Sender(sock, self._map))


class BudgetTest(FlowTestCase):
    def test_listener_rests_at_its_budget_and_resumes_when_one_closes(self):
        conns = [FakeSocket(peer=PEER) for _ in range(3)]
        lsock = FakeSocket(accept_plan=[(c, PEER) for c in conns])
        listener = Listener(lsock, self.m)
        listener.listen(5)
        self.step()
        self.step((lsock, IN))
        self.assertEqual(len(listener.served), 2)
        self.assertEqual(listener.open_connections, 2)
        self.step()
        self.assertTrue(self.fake.mask(lsock) & IN, "at the budget, polled until a client waits")
        self.assertFalse(listener.clients_waiting)
        self.step((lsock, IN))
        self.step()
        self.assertEqual(self.fake.mask(lsock), 0, "a client waits: not polled")
        self.assertTrue(listener.clients_waiting)
        self.assertIn(listener, self.m.values(), "... but still listening")
        self.assertEqual(len(listener.served), 2)
        listener.served[0].close()
        self.assertFalse(listener.clients_waiting, "the freed slot is the waiting client's")
        self.step((lsock, IN))
        self.assertEqual(len(listener.served), 3)
        self.assertEqual(listener.open_connections, 2)


class RecvIntoTest(FlowTestCase):
    def test_fills_the_buffer_and_closes_at_end_of_stream_or_reset(self):
        for inbox in ([b"abc", b""], [b"abc", oserror(support.ECONNRESET)]):
            d = Sender(FakeSocket(peer=PEER, inbox=inbox), self.m)
            d.set_idle_timeout(5)
            buf = bytearray(8)
            self.assertEqual(d.recv_into(buf), 3)
            self.assertEqual(bytes(buf[:3]), b"abc")
            self.assertEqual(d.recv_into(memoryview(buf)[3:]), 0)
            self.assertTrue(d.socket.closed)
            self.assertEqual(self.m, {})

    def test_nothing_waiting_is_nothing_read_and_the_channel_stays(self):
        d = Sender(FakeSocket(peer=PEER), self.m)
        self.assertEqual(d.recv_into(bytearray(4)), 0)
        self.assertFalse(d.socket.closed)
        self.assertIn(d, self.m.values())


class SendFromTest(FlowTestCase):
    def test_sends_part_of_a_buffer_and_queues_what_the_socket_did_not_take(self):
        sock = FakeSocket(peer=PEER, send_plan=[3, oserror(EAGAIN)])
        d = Sender(sock, self.m)
        buf = bytearray(b"abcdefghij")
        d.send_from(buf, 6)  # 3 go, "def" is queued as a copy
        buf[:] = b"XXXXXXXXXX"  # the caller reuses its buffer at once
        d.send_from(buf, 2)  # behind the queue
        self.assertEqual(d.out_buffer, b"defXX")
        for _ in range(3):
            self.step((sock, OUT))
        self.assertEqual(bytes(sock.sent), b"abcdefXX")
        self.assertFalse(d.writable())

    def test_the_one_byte_the_socket_did_not_take_is_queued(self):
        sock = FakeSocket(peer=PEER, send_plan=[5])
        d = Sender(sock, self.m)
        d.send_from(bytearray(b"abcdef"), 6)
        self.assertEqual(d.out_buffer, b"f")
        self.step((sock, OUT))
        self.assertEqual(bytes(sock.sent), b"abcdef")

    def test_no_64_kib_cap_when_the_socket_takes_more(self):
        class Counting(FakeSocket):
            # keeps the size of each send, not the bytes: the 192K heap run has no room for copies
            def send(self, data):
                taken = min(len(data), self.send_plan.pop(0))
                self.lengths.append(taken)
                return taken

        sock = Counting(peer=PEER, send_plan=[100000, 70000, 100000])
        sock.lengths = []
        d = Sender(sock, self.m)
        try:
            big = bytes(100000)
        except MemoryError:
            self.skipTest("no 100 KB block on this heap")
        d.send(big)  # asyncore sent 64 KiB and queued the rest
        self.assertEqual(sock.lengths, [100000])
        d.send(big)  # 70,000 go, 30,000 are queued
        self.step((sock, OUT))  # and go in one send too
        self.assertEqual(sock.lengths, [100000, 70000, 30000])
        self.assertFalse(d.writable())

    def test_a_peer_gone_closes_like_send(self):
        d = Sender(FakeSocket(peer=PEER, send_plan=[oserror(support.EPIPE)]), self.m)
        self.assertEqual(uasyncore.dispatcher.send_from(d, b"abc", 2), 0)
        self.assertTrue(d.socket.closed)


class ResetBeforeSetupTest(FlowTestCase):
    def test_a_client_gone_before_its_channel_is_made_gives_its_slot_back(self):
        gone = FakeSocket()
        gone.getpeername = lambda: (_ for _ in ()).throw(oserror(support.ECONNRESET))
        try:
            uasyncore._port.peername(gone)
            self.skipTest("this port never asks for the peer's name, so sees no reset at setup")
        except OSError:
            pass
        lsock = FakeSocket(accept_plan=[(gone, PEER)])

        class Idle(Listener):
            def handle_accepted(self, sock, addr):
                try:
                    Sender(sock, self._map).set_idle_timeout(5)
                except OSError:
                    sock.close()

        listener = Idle(lsock, self.m)
        listener.listen(5)
        self.step()
        self.step((lsock, IN))
        self.assertEqual(listener.open_connections, 0)
        self.assertEqual(support.poller(self.m).timers, [])
        self.assertEqual(list(self.m.values()), [listener])


class MemoryTest(FlowTestCase):
    def test_garbage_is_collected_once_every_16_channels_that_join(self):
        collected = []
        real = uasyncore._port.collect
        uasyncore._port.collect = lambda: collected.append(len(self.m))
        self.addCleanup(setattr, uasyncore._port, "collect", real)
        for _ in range(uasyncore.COLLECT_AFTER - 1):
            Sender(FakeSocket(peer=PEER), self.m)
        self.step()
        self.step()
        self.assertEqual(collected, [], "15 joined: not yet")
        Sender(FakeSocket(peer=PEER), self.m)
        self.step()
        self.step()
        self.assertEqual(collected, [16], "once, at the next pass")
        for _ in range(3):
            self.step()
        self.assertEqual(collected, [16], "a steady loop does not collect")

    def test_with_many_channels_open_garbage_is_collected_every_sixteenth_of_them(self):
        real_after = uasyncore.COLLECT_AFTER
        uasyncore.COLLECT_AFTER = 2  # a small floor, so that few channels show the proportional rule
        self.addCleanup(setattr, uasyncore, "COLLECT_AFTER", real_after)
        for _ in range(64):
            Sender(FakeSocket(peer=PEER), self.m)
        self.step()
        collected = []
        real = uasyncore._port.collect
        uasyncore._port.collect = lambda: collected.append(len(self.m))
        self.addCleanup(setattr, uasyncore._port, "collect", real)
        for _ in range(3):
            Sender(FakeSocket(peer=PEER), self.m)
        self.step()
        self.assertEqual(collected, [], "3 joined, 67 open: not yet (a sixteenth is 4)")
        Sender(FakeSocket(peer=PEER), self.m)
        self.step()
        self.assertEqual(collected, [68])

    def test_memory_error_in_a_handler_closes_only_that_channel(self):
        class Greedy(Sender):
            def handle_read(self):
                raise MemoryError()

        bad = Greedy(FakeSocket(peer=PEER, inbox=[b"x"]), self.m)
        good = Sender(FakeSocket(peer=PEER, inbox=[b"y"]), self.m)
        self.step((bad.socket, IN), (good.socket, IN))
        self.assertEqual(bad.log, [("error", None)])
        self.assertTrue(bad.socket.closed)
        self.assertEqual(good.socket.inbox, [])
        self.assertFalse(good.socket.closed)

    def test_memory_error_taking_a_connection_refuses_it_and_keeps_the_listener(self):
        conns = [FakeSocket(peer=PEER), FakeSocket(peer=PEER)]
        lsock = FakeSocket(accept_plan=[(c, PEER) for c in conns])

        class Starved(Listener):
            def handle_accepted(self, sock, addr):
                Listener.handle_accepted(self, sock, addr)  # the channel exists, then memory runs out
                raise MemoryError()

        listener = Starved(lsock, self.m)
        listener.log_info = lambda message, type="info": None
        listener.listen(5)
        self.step()
        self.step((lsock, IN))
        self.assertTrue(conns[0].closed, "the connection that could not be set up is closed")
        self.assertNotIn(uasyncore._port.key(conns[0]), self.m)
        self.assertIn(listener, self.m.values())
        self.assertTrue(listener.accepting)
        self.assertFalse(conns[1].closed)
        self.step()
        self.assertEqual(self.fake.mask(lsock), 0, "resting, not closed")

    def test_a_channel_that_cannot_be_registered_is_closed(self):
        def register(key, mask):
            raise MemoryError()

        logged = []
        d = Sender(FakeSocket(peer=PEER), self.m)
        d.log_info = lambda message, type="info": logged.append(type)
        self.fake.register = register
        self.step()
        self.assertTrue(d.socket.closed)
        self.assertEqual(self.m, {})
        self.assertEqual(logged, ["error"])
