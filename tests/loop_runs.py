# Loop cases: pass counting, poller release, close_all(), a real loopback server.
#
# Imported by tests/test_loop.py after support, so MicroPython compiles it once uasyncore is loaded
# (a module is compiled whole, and uasyncore alone takes most of a 128 KiB heap to compile).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import socket

import uasyncore
from loop_kit import HANGUP, IN, OUT, READ, Chooser, Recorder, fake_socket


class PassCount:
    def test_count_counts_passes_not_events(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Recorder(sock, map=m)
        poller.script.append([(sock, IN | OUT)])
        uasyncore.loop(timeout=0, map=m, count=3)
        self.assertEqual(poller.waits, [0, 0, 0])
        self.assertEqual(d.events, ["read", "write"])

    def test_count_zero_runs_no_pass(self):
        m, poller = self.map()
        Recorder(fake_socket(), map=m)
        uasyncore.loop(timeout=0, map=m, count=0)
        self.assertEqual(poller.waits, [])

    def test_loop_stops_early_when_the_map_empties(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Recorder(sock, map=m)
        poller.script.append([(sock, IN)])
        poller.script.append([(sock, HANGUP)])
        uasyncore.loop(timeout=0, map=m, count=10)
        self.assertEqual(len(poller.waits), 2)
        self.assertEqual(d.events, ["read", "close"])
        self.assertEqual(m, {})

    def test_loop_without_count_runs_until_the_map_is_empty(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Recorder(sock, map=m)
        poller.script.extend([[], [], [(sock, HANGUP)]])
        uasyncore.loop(timeout=0.05, map=m)
        self.assertEqual(poller.waits, [50, 50, 50])
        self.assertEqual(d.events, ["close"])

    def test_poll_functions_do_one_pass(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Recorder(sock, map=m)
        for i, fn in enumerate((uasyncore.poll, uasyncore.poll2, uasyncore.poll3)):
            poller.script.append([(sock, IN)])
            fn(0.25, m)
            self.assertEqual(poller.waits, [250] * (i + 1), fn)
            self.assertEqual(d.events, ["read"] * (i + 1), fn)
        uasyncore.poll(map=m)  # asyncore's default timeout: 0, do not block
        self.assertEqual(poller.waits[-1], 0)

    def test_use_poll_makes_no_difference(self):
        results = []
        for use_poll in (False, True):
            m, poller = self.map()
            a_sock, b_sock = fake_socket(), fake_socket()
            a = Recorder(a_sock, map=m)
            b = Chooser(b_sock, map=m)
            poller.script.extend([[(a_sock, IN), (b_sock, IN)], [(a_sock, OUT)], [(b_sock, HANGUP)]])
            uasyncore.loop(timeout=0.01, use_poll=use_poll, map=m, count=5)
            ops = [(op, mask) for op, _, mask in poller.calls]
            results.append((a.events, b.events, ops, poller.waits, len(m)))
        self.assertEqual(results[0], results[1])
        self.assertEqual(results[0][0], ["read", "write"])  # and both did something
        self.assertEqual(results[0][1], ["read", "close"])


class Release:
    def test_loop_releases_a_fake_maps_poller_when_the_map_empties(self):
        m, poller = self.map()
        sock = fake_socket()
        Recorder(sock, map=m)
        poller.script.append([(sock, HANGUP)])
        uasyncore.loop(timeout=0, map=m, count=5)
        self.assertEqual(m, {})
        self.assertIsNone(support.poller(m))

    def test_loop_releases_its_poller_and_a_later_loop_works(self):
        # real UDP sockets: always writable, so each channel finishes in its first pass
        m = {}
        self.addCleanup(support.forget_map, m)

        class OneShot(uasyncore.dispatcher):
            wrote = False

            def handle_write(self):
                self.wrote = True
                self.close()

        for round in range(2):
            d = OneShot(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), map=m)
            self.addCleanup(d.close)
            self.assertIsNotNone(support.poller(m))
            uasyncore.loop(timeout=5, map=m, count=20)
            self.assertTrue(d.wrote, "round %d" % round)
            self.assertEqual(m, {})
            self.assertIsNone(support.poller(m), "round %d" % round)


class CloseAll:
    def test_close_all_closes_everything_and_cancels_the_maps_timers(self):
        m, poller = self.map()
        other, _ = self.map()
        socks = [fake_socket() for _ in range(3)]
        ds = [Recorder(socks[0], map=m), Chooser(socks[1], map=m)]
        listener = uasyncore.dispatcher(map=m)
        listener.set_socket(socks[2])
        listener.listen(5)
        ds.append(listener)
        self.poll(m)
        timers = [uasyncore.call_later(1, int, map=m), uasyncore.call_every(1, int, map=m)]
        elsewhere = uasyncore.call_later(1, int, map=other)
        uasyncore.close_all(map=m)
        self.assertEqual(m, {})
        for s in socks:
            self.assertTrue(s.closed)
        for d in ds:
            self.assertFalse(d.connected or d.accepting)
        for t in timers:
            self.assertFalse(t.active())
        self.assertTrue(elsewhere.active(), "close_all cancelled another map's timer")
        self.assertEqual(poller.masks, {})
        self.assertIsNone(support.poller(m))

    def test_close_all_raises_close_errors_unless_ignore_all(self):
        m, _ = self.map()

        class Broken(Recorder):
            def close(self):
                raise RuntimeError("close failed")

        Broken(fake_socket(), map=m)
        with self.assertRaises(RuntimeError):
            uasyncore.close_all(map=m)

    def test_close_all_ignore_all_swallows_errors_from_close(self):
        m, _ = self.map()

        class Broken(Recorder):
            def close(self):
                raise RuntimeError("close failed")

        class Reset(Recorder):
            def close(self):
                raise support.oserror(support.ECONNRESET)

        fine_sock = fake_socket()
        Broken(fake_socket(), map=m)
        Reset(fake_socket(), map=m)
        Recorder(fine_sock, map=m)
        Broken(fake_socket(), map=m)
        t = uasyncore.call_later(1, int, map=m)
        uasyncore.close_all(map=m, ignore_all=True)
        self.assertEqual(m, {})
        self.assertTrue(fine_sock.closed)
        self.assertFalse(t.active())


class Echo(uasyncore.dispatcher_with_send):
    def __init__(self, sock, map):
        uasyncore.dispatcher_with_send.__init__(self, sock, map)
        self.reads = 0
        self.received = 0

    def handle_read(self):
        data = self.recv(4096)
        if data:
            self.reads += 1
            self.received += len(data)
            self.send(data)

    def handle_close(self):
        self.close()


class EchoServer(uasyncore.dispatcher):
    def __init__(self, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.handlers = []

    def handle_accepted(self, sock, addr):
        self.handlers.append(Echo(sock, self._map))


class Loopback:
    IDLE = 20

    def test_active_connection_is_served_among_idle_ones(self):
        m = {}
        server = EchoServer(m)
        port = support.listen_any(server, backlog=self.IDLE + 5)
        self.addCleanup(uasyncore.close_all, m, True)
        clients = []

        def close_clients():
            for c in clients:
                c.close()

        self.addCleanup(close_clients)
        for _ in range(self.IDLE):
            clients.append(support.client(port))
        self.assertTrue(support.run_until(lambda: len(server.handlers) == self.IDLE, map=m))
        idle = list(server.handlers)
        active = support.client(port)
        clients.append(active)
        self.assertTrue(support.run_until(lambda: len(server.handlers) == self.IDLE + 1, map=m))
        handler = server.handlers[-1]
        self.assertNotIn(handler, idle)

        total = 0
        for i in range(5):
            msg = b"message %d " % i * (i + 1)
            active.send(msg)
            total += len(msg)
            self.assertTrue(
                support.run_until(lambda n=total: handler.received == n and not handler.out_buffer, map=m),
                "message %d was not echoed" % i,
            )
            echoed = b""
            while len(echoed) < len(msg):
                chunk = active.recv(len(msg) - len(echoed))
                self.assertTrue(chunk, "connection closed early")
                echoed += chunk
            self.assertEqual(echoed, msg)

        p = support.poller(m)
        self.assertEqual(len(m), self.IDLE + 2)
        for h in idle:
            self.assertEqual(h.reads, 0)
            self.assertIs(m.get(h._fileno), h)
            self.assertEqual(p.masks.get(h._fileno), READ, "an idle connection is not polled for reading")
        self.assertEqual(p.masks.get(handler._fileno), READ)  # its output all sent
