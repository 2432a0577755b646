# A steady-state loop pass allocates nothing on MicroPython: 1,000 idle passes with 8 connections.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import gc
import unittest

import uasyncore
import uasynchat


class Idle(uasyncore.dispatcher_with_send):
    def handle_read(self):
        self.recv(64)


class Watched(uasyncore.dispatcher):
    # overrides writable(): asked every pass
    def writable(self):
        return False

    def handle_read(self):
        self.recv(64)


class Chat(uasynchat.async_chat):
    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


KINDS = (Idle, Watched, Chat)


class Listener(uasyncore.dispatcher):
    def __init__(self, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.accepted = 0

    def handle_accepted(self, sock, addr):
        KINDS[self.accepted % len(KINDS)](sock, map=self._map)
        self.accepted += 1


@unittest.skipUnless(hasattr(gc, "mem_alloc"), "needs gc.mem_alloc (MicroPython)")
class IdlePassTest(unittest.TestCase):
    # examples/echo's server on a free loopback port, on a map of its own: (map, server).
    def echo_server(self):
        import sys

        sys.path.insert(0, support.ROOT + "/examples/echo")
        import echo_service

        m = {}
        self.addCleanup(uasyncore.close_all, m)
        return m, echo_service.EchoServer(support.HOST, support.free_port(), map=m)

    def test_idle_passes_allocate_nothing(self):
        m = {}
        self.addCleanup(uasyncore.close_all, m)
        listener = Listener(m)
        port = support.listen_any(listener, 16)
        clients = []
        self.addCleanup(lambda: [c.close() for c in clients])
        for _ in range(8):
            clients.append(support.client(port))
            uasyncore.loop(timeout=0, count=2, map=m)
        self.assertTrue(support.run_until(lambda: listener.accepted == 8, map=m))
        uasyncore.call_every(3600, print, "never", map=m)  # a pending timer is part of every pass
        uasyncore.loop(timeout=0, count=10, map=m)  # settle: first passes register interest
        gc.collect()
        before = gc.mem_alloc()
        uasyncore.loop(timeout=0, count=1000, map=m)
        self.assertEqual(gc.mem_alloc() - before, 0)

    def test_echo_serves_on_a_heap_with_no_block_as_big_as_a_receive(self):
        # the echo example reads with recv_into into one buffer made at import: on a fragmented heap,
        # where recv(RECV_SIZE) cannot find a contiguous RECV_SIZE bytes, it still serves
        m, server = self.echo_server()
        c = support.client(server.addr[1])
        self.addCleanup(c.close)
        c.setblocking(False)
        self.assertTrue(support.run_until(lambda: len(m) == 2, map=m))
        holes = fragment_heap()
        with self.assertRaises(MemoryError):
            bytearray(uasyncore.RECV_SIZE)
        c.send(b"ping" * 16)
        got = b""
        for _ in range(50):
            uasyncore.loop(timeout=0.05, count=1, map=m)
            try:
                got += c.recv(64)
            except OSError:
                pass  # nothing yet
            if len(got) >= 64:
                break
        del holes
        self.assertEqual(got, b"ping" * 16)
        self.assertEqual(len(m), 2, "the connection is still served")


    def test_an_idle_echo_connection_holds_at_most_300_bytes(self):
        # the server's side of a connection: its socket, dispatcher, map and poll entries (the 64-bit
        # unix port; a 32-bit board's words are half the size)
        m, server = self.echo_server()
        clients = []
        self.addCleanup(lambda: [c.close() for c in clients])
        held = 0
        for _ in range(4):  # 5 at a time: the example's listen(5) backlog holds them until accepted
            clients += [support.client(server.addr[1]) for _ in range(5)]
            gc.collect()
            before = gc.mem_alloc()
            self.assertTrue(support.run_until(lambda: len(m) == len(clients) + 1, map=m, timeout=0))
            uasyncore.loop(timeout=0, count=2, map=m)  # registered for reading
            gc.collect()
            held += gc.mem_alloc() - before
        self.assertLessEqual(held / len(clients), 300)

    def test_an_echo_round_trip_allocates_nothing(self):
        # recv_into + send_from in the echo example, and a client that reuses its buffers too
        m, server = self.echo_server()
        c = support.client(server.addr[1])
        self.addCleanup(c.close)
        self.assertTrue(support.run_until(lambda: len(m) == 2, map=m))
        c.setblocking(False)
        msg = b"x" * 64
        back = bytearray(64)

        def round_trip():
            c.write(msg)
            got = 0
            passes = 100000  # timeout 0: a float timeout would allocate in loop() itself
            while got < 64 and passes:
                uasyncore.loop(timeout=0, count=1, map=m)
                got += c.readinto(back) or 0
                passes -= 1
            self.assertEqual(got, 64)

        round_trip()
        gc.collect()
        gc.disable()
        try:
            before = gc.mem_alloc()
            for _ in range(20):
                round_trip()
            grown = gc.mem_alloc() - before
        finally:
            gc.enable()
        self.assertEqual(grown, 0, "bytes allocated by 20 echo round trips")


# Fill the heap with 200-byte blocks chained together, then drop every other one: afterwards only
# holes that small are free. Returns the chain, which keeps them apart until it is dropped.
def fragment_heap():
    gc.collect()
    head = None
    try:
        while True:
            head = [head, bytearray(200)]
    except MemoryError:
        pass
    node = head
    while node is not None and node[0] is not None:
        node[0] = node[0][0]
        node = node[0]
    gc.collect()
    return head
