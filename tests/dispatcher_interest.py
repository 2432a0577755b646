# Cases for tests/test_dispatcher.py: readable()/writable() and the registrations they lead to,
# dispatcher_with_send, loop passes, handle_error and ExitNow.  Mixins: the test module pairs each
# with a base from dispatcher_kit.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import uasyncore
from dispatcher_kit import PEER, Recorder, connected, step, unconnected
from support import ERR, HUP, IN, OUT, FakeSocket, oserror

_port = uasyncore._port


class Probe(uasyncore.dispatcher):
    # Overrides both predicates and counts how often they are asked.
    def __init__(self, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.want = [True, True]
        self.asked = [0, 0]
        self.set_socket(FakeSocket())

    def readable(self):
        self.asked[0] += 1
        return self.want[0]

    def writable(self):
        self.asked[1] += 1
        return self.want[1]

    def handle_read(self):
        pass

    def handle_write(self):
        pass


class Interest:
    def test_overriding_predicates_are_asked_every_pass(self):
        p = Probe(self.m)
        for n in range(1, 6):
            if n % 2:
                step(self.m, self.fake, (p.socket, IN | OUT))
            else:
                step(self.m, self.fake)  # a pass without events
            self.assertEqual(p.asked, [n, n])

    def test_registration_follows_the_predicates(self):
        p = Probe(self.m)
        masks = []
        for want in ([True, True], [False, True], [False, False], [True, False]):
            p.want = want
            step(self.m, self.fake)
            masks.append(self.fake.mask(p.socket))
        self.assertEqual([bool(x & IN) for x in masks], [True, False, False, True])
        self.assertEqual([bool(x & OUT) for x in masks], [True, True, False, False])
        names = [c[0] for c in self.fake.calls_for(p.socket)]
        self.assertEqual(names, ["register", "modify", "unregister", "register"])

    def test_plain_dispatcher_is_registered_once(self):
        d = unconnected(self.m)
        step(self.m, self.fake)
        calls = self.fake.calls_for(d.socket)
        self.assertEqual([c[0] for c in calls], ["register"])
        self.assertEqual(calls[0][1] & (IN | OUT), IN | OUT)
        for flags in (IN, OUT, IN | OUT, 0, IN):
            step(self.m, self.fake, (d.socket, flags))
        self.assertIn("write", d.events)
        self.assertEqual(self.fake.calls_for(d.socket), calls)
        self.assertEqual(len(self.fake.waits), 6)

    def test_listener_is_never_registered_for_writing(self):
        class EagerListener(Recorder):
            def writable(self):
                return True

        listeners = [unconnected(self.m, cls=c) for c in (Recorder, EagerListener, uasyncore.dispatcher_with_send)]
        for d in listeners:
            d.listen(5)
        for _ in range(3):
            step(self.m, self.fake)
            self.assertEqual([self.fake.mask(d.socket) & (IN | OUT) for d in listeners], [IN, IN, IN])
        self.assertEqual([c for c in self.fake.calls if c[2] & OUT], [])

    def test_registrations_persist_across_passes(self):
        a = unconnected(self.m)
        b = connected(self.m)
        p = Probe(self.m)
        step(self.m, self.fake)
        self.assertEqual([c[0] for c in self.fake.calls], ["register"] * 3)
        for _ in range(4):
            step(self.m, self.fake, (a.socket, OUT), (b.socket, IN), (p.socket, IN))
        self.assertEqual(len(self.fake.calls), 3)  # no re-registration, no modify
        c = connected(self.m)
        step(self.m, self.fake)
        self.assertEqual(self.fake.calls[3][:2], ("register", _port.key(c.socket)))
        a_key = _port.key(a.socket)  # before close: a closed FakeSocket's fileno() is -1
        a.close()
        step(self.m, self.fake)
        self.assertEqual([x[:2] for x in self.fake.calls[4:]], [("unregister", a_key)])


class DispatcherWithSend:
    def test_partial_sends_deliver_every_byte_in_order(self):
        data = bytes(range(256)) * 4 + b"tail"
        plan = [5, oserror(support.EAGAIN), 0, 100, 1, 300]
        sock = FakeSocket(peer=PEER, send_plan=plan)
        d = uasyncore.dispatcher_with_send(sock, map=self.m)
        d.send(data[:-4])  # tries at once: 5 bytes go
        d.send(data[-4:])  # queued behind the rest
        self.assertEqual(bytes(sock.sent), data[:5])
        passes = 0
        while d.writable() and passes < 20:
            step(self.m, self.fake, (sock, OUT))
            self.assertTrue(self.fake.mask(sock) & OUT)  # registered from this pass's writable()
            self.assertEqual(bytes(sock.sent), data[: len(sock.sent)])
            passes += 1
        self.assertEqual(bytes(sock.sent), data)
        self.assertEqual((d.out_buffer, d.writable()), (b"", False))
        step(self.m, self.fake)
        self.assertEqual(self.fake.mask(sock) & (IN | OUT), IN)

    def test_unconnected_is_polled_for_writing_so_connect_can_complete(self):
        d = unconnected(self.m, FakeSocket(connect_result=_port.EINPROGRESS), uasyncore.dispatcher_with_send)
        d.connect(PEER)
        step(self.m, self.fake)
        self.assertTrue(self.fake.mask(d.socket) & OUT)


class Loop:
    def test_count_counts_passes_not_events(self):
        a = connected(self.m)
        b = connected(self.m)
        for _ in range(5):
            self.fake.script.append([(a.socket, IN), (b.socket, IN)])
        uasyncore.loop(timeout=0, count=3, map=self.m)
        self.assertEqual((len(self.fake.waits), a.events, b.events), (3, ["read"] * 3, ["read"] * 3))
        uasyncore.loop(timeout=0, count=2, map=self.m)
        self.assertEqual((len(self.fake.waits), a.events), (5, ["read"] * 5))
        uasyncore.loop(timeout=0, count=2, map=self.m)  # passes without events count too
        self.assertEqual((len(self.fake.waits), a.events), (7, ["read"] * 5))

    def test_loop_returns_when_map_empties(self):
        class Closer(Recorder):
            def handle_read(self):
                self.events.append("read")
                if len(self.events) == 2:
                    self.close()

        for count in (10, None):
            m, fake = support.fake_map()
            self.addCleanup(uasyncore.close_all, m)
            d = connected(m, cls=Closer)
            fake.script = [[(d.socket, IN)]] * 10
            uasyncore.loop(timeout=30.0, count=count, map=m)
            self.assertEqual((len(fake.waits), d.events, m), (2, ["read", "read"], {}))

    def test_default_handle_error_logs_and_closes(self):
        class Failing(Recorder):
            def handle_read(self):
                raise ValueError("boom")

        d = connected(self.m, cls=Failing)
        step(self.m, self.fake, (d.socket, IN))
        self.assertEqual(d.events, ["error", "close"])
        errors = [msg for t, msg in d.logged if t == "error"]
        self.assertEqual(len(errors), 1)
        self.assertIn("ValueError", errors[0])
        self.assertIn("boom", errors[0])
        self.assertTrue(d.socket.closed)
        self.assertEqual(self.m, {})

    def test_exit_now_propagates_out_of_loop(self):
        class Quitter(Recorder):
            def handle_read(self):
                raise uasyncore.ExitNow("stop")

        d = connected(self.m, cls=Quitter)
        self.fake.script.append([(d.socket, IN)])
        with self.assertRaises(uasyncore.ExitNow):
            uasyncore.loop(timeout=0, count=5, map=self.m)
        self.assertEqual(len(self.fake.waits), 1)
        self.assertEqual(d.events, [])  # neither handle_error nor handle_close
        self.assertIn(_port.key(d.socket), self.m)

    def test_hangup_or_error_without_data_closes(self):
        bystander = connected(self.m)  # keeps the map, and its fake poller, alive
        for flags in (HUP, ERR, HUP | ERR | OUT):
            d = connected(self.m)
            step(self.m, self.fake, (d.socket, flags))
            self.assertEqual(d.events[-1], "close")
            self.assertNotIn(_port.key(d.socket), self.m)
        self.assertEqual((bystander.events, len(self.m)), ([], 1))
