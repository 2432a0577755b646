# The same faults on real loopback sockets and the port's real poller: one byte at a time, random
# EAGAIN, failed accepts, a reset half way; plain non-blocking clients check every byte that comes back.
# The servers and FaultCase are in tests/test_faults.py, the fault layer in tests/faults.py. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import socket
import unittest

import uasyncore
from faults import ECONNABORTED, EMFILE, ENFILE, FaultySocket, KeyedPoller, Rng
from support import EAGAIN, HOST
from test_faults import ChatEcho, Listener, SendEcho, chat_stream

_port = uasyncore._port


class Client:
    # A non-blocking loopback client: writes data in pieces, reads what comes back, closes when all did.
    def __init__(self, port, data, rng):
        self.sock = support.client(port)
        self.sock.setblocking(False)
        self.data = data
        self.rng = rng
        self.pos = 0
        self.got = bytearray()
        self.done = False

    def step(self):
        if self.done:
            return
        s = self.sock
        if self.pos < len(self.data):
            try:
                self.pos += s.send(self.data[self.pos : self.pos + self.rng.int(1, 200)])
            except OSError as e:
                if e.args[0] != EAGAIN:
                    self.pos = len(self.data)  # the server went away: read what it sent before
        try:
            chunk = s.recv(512)
        except OSError as e:
            if e.args[0] == EAGAIN:
                return
            chunk = b""  # reset by the server
        if chunk:
            self.got.extend(chunk)
        if not chunk or len(self.got) >= len(self.data):
            self.done = True
            s.close()


class RealFaultTest(unittest.TestCase):
    def setUp(self):
        self.map = {}
        p = uasyncore._poller(self.map)
        p.os = KeyedPoller(p.os)
        self.rng = Rng(7)
        self.socks = []
        self.clients = []
        self.addCleanup(self.close)
        self.backoff = uasyncore.ACCEPT_BACKOFF
        uasyncore.ACCEPT_BACKOFF = 0.05  # seconds of real time: keep the pause short

    def close(self):
        uasyncore.ACCEPT_BACKOFF = self.backoff
        uasyncore.close_all(self.map)
        for c in self.clients:
            c.sock.close()

    def listen(self, make, **faults):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = support.free_port()
        sock.bind(_port.sockaddr((HOST, self.port)))
        return Listener(FaultySocket(sock, Rng(self.rng.next()), tracker=self.socks, **faults), make, self.map)

    # Clients for each of datas, served until every one is done (at most a few seconds).
    def serve(self, datas):
        clients = [Client(self.port, d, Rng(self.rng.next())) for d in datas]
        self.clients.extend(clients)
        start = _port.ticks_ms()
        while not all(c.done for c in clients) and _port.ticks_diff(_port.ticks_ms(), start) < 8000:
            for c in clients:
                c.step()
            uasyncore.loop(timeout=0.002, count=1, map=self.map)
        self.assertTrue(all(c.done for c in clients), "the clients were not served in time")
        return clients

    # Every client got back all it sent, and no channel had an error.
    def assertEchoed(self, clients, listener):
        for d in listener.served:
            self.assertEqual(d.errors, [])
        for c in clients:
            self.assertEqual(len(c.got), len(c.data))
            self.assertTrue(bytes(c.got) == c.data, "the bytes came back changed")

    # Loop until only the listener is left (the server saw every close), then check for open sockets.
    def assertClosedDown(self, listener):
        support.run_until(lambda: len(self.map) == 1, self.map, passes=300)
        self.assertEqual(list(self.map.values()), [listener])
        self.assertEqual([s for s in self.socks if not s.closed and s is not listener.socket], [])

    def test_async_chat_one_byte_at_a_time_with_eagain(self):
        listener = self.listen(ChatEcho, conn={"io": 1, "eagain": 20})
        self.assertEchoed(self.serve([chat_stream(self.rng, 12) for _ in range(2)]), listener)
        self.assertClosedDown(listener)

    def test_dispatcher_with_send_random_sizes_and_eagain_on_send(self):
        listener = self.listen(SendEcho, conn={"io": 700, "jitter": True, "send_eagain": 40})
        self.assertEchoed(self.serve([self.rng.bytes(1500) for _ in range(3)]), listener)
        self.assertClosedDown(listener)

    def test_accept_failures_then_served(self):
        listener = self.listen(SendEcho, accept_errors=[EMFILE, ECONNABORTED, None, ENFILE])
        self.assertEchoed(self.serve([self.rng.bytes(500) for _ in range(3)]), listener)
        self.assertEqual(listener.socket.accept_errors, [])
        self.assertClosedDown(listener)

    def test_reset_half_way(self):
        listener = self.listen(ChatEcho, conn={"io": 50, "reset_after": 200})
        for c in self.serve([chat_stream(self.rng, 20)]):
            self.assertEqual(bytes(c.got), c.data[: len(c.got)])
            self.assertLess(len(c.got), len(c.data))
        self.assertEqual(listener.served[0].errors, [])
        self.assertClosedDown(listener)


if __name__ == "__main__":
    unittest.main()
