# Hostile clients on real loopback sockets: port-scan storms (connect and reset, connect and close,
# connect and never send), clients that vanish while the server streams to them, a program that
# closes a channel's raw socket. The listener and every other client keep being served, and nothing
# leaks: descriptors, map entries, registrations with the OS poller. Counts are bounded; the clients
# come a batch at a time, each batch taken before the next, so no handshake waits on a full backlog.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import socket
import unittest

import uasyncore
from support import EAGAIN, HOST

_port = uasyncore._port
key = _port.key
BACKLOG = 16
BATCH = 8  # clients that connect at once: half the backlog
CHUNK = bytearray(4096)  # what a streaming channel sends, again and again
STREAM = 1 << 26  # bytes a streaming channel would send: far more than a client reads before it vanishes
TAKE = 32768  # bytes a vanishing client reads first


class Tracking:
    # The port's OS poller, keeping the keys registered with it now (and their masks).
    def __init__(self, inner):
        self.inner = inner
        self.held = {}

    def register(self, k, mask):
        self.inner.register(k, mask)
        self.held[k] = mask

    def modify(self, k, mask):
        self.inner.modify(k, mask)
        self.held[k] = mask

    def unregister(self, k):
        self.held.pop(k, None)
        self.inner.unregister(k)

    def wait(self, ms):
        return self.inner.wait(ms)

    def close(self):
        self.inner.close()


##### the service


class Handler(uasyncore.dispatcher_with_send):
    # Echoes what it reads; asks the peer's address first, as asyncore handlers do. A request "BIG"
    # streams until the client vanishes; "RAW" closes the raw socket (the program's mistake) with
    # something left to say; "DROP" closes the raw socket and nothing more.
    last_words = b""
    streaming = 0

    def __init__(self, sock, map, server):
        uasyncore.dispatcher_with_send.__init__(self, sock, map)
        self.peer = support.ask_peer(sock)  # ENOTCONN from a client that reset before it was served
        self.server = server
        self.closes = 0

    def writable(self):
        return self.streaming > 0 or bool(self.last_words) or uasyncore.dispatcher_with_send.writable(self)

    def handle_read(self):
        data = self.recv(4096)
        if data.startswith(b"BIG"):
            self.streaming = STREAM
        elif data.startswith(b"RAW"):
            self.socket.close()
            self.last_words = b"bye\n"  # its registration changes at the next pass
        elif data.startswith(b"DROP"):
            self.socket.close()
            self.server.dropped.append(self)
        elif data:
            self.send(data)

    def handle_write(self):
        if self.last_words:
            self.send(self.last_words)
        elif self.streaming:
            self.streaming -= uasyncore.dispatcher.send_from(self, CHUNK, len(CHUNK))
        else:
            uasyncore.dispatcher_with_send.handle_write(self)

    def handle_close(self):
        if not self.closes:  # asyncore may call it again in the same pass (an error, then the hang-up)
            self.server.closed += 1
        self.closes += 1
        self.close()

    def log_info(self, message, type="info"):
        self.server.logged.append((type, message))


class Server(uasyncore.dispatcher):
    # The listener: a Handler per client; counts what was made, refused and closed.
    def __init__(self, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.made = 0
        self.refused = []  # the errno of each connection refused while it was being taken
        self.closed = 0  # handlers closed (each counted once)
        self.dropped = []  # handlers whose raw socket the program closed, nothing more
        self.closes = 0  # times the listener itself was closed: never, it must be
        self.logged = []
        self.port = support.listen_any(self, BACKLOG)

    def handle_accepted(self, sock, addr):
        Handler(sock, self._map, self)
        self.made += 1

    def handle_accept_error(self):
        self.refused.append(support.handled_errno())

    def handle_close(self):
        self.closes += 1
        self.close()

    def log_info(self, message, type="info"):
        self.logged.append((type, message))


##### clients


class Talker:
    # A well-behaved client, served throughout: each round trip sends a line and waits for its echo.
    def __init__(self, case):
        self.case = case
        self.sock = support.client(case.server.port)
        self.sock.setblocking(False)
        self.trips = 0

    def round_trip(self):
        self.trips += 1
        line = b"ping %d\n" % self.trips
        self.sock.send(line)
        got = bytearray()

        def echoed():
            chunk = read(self.sock, 64)
            if chunk == b"":
                raise AssertionError("the server closed a well-behaved client")
            if chunk:
                got.extend(chunk)
            return len(got) >= len(line)

        self.case.serve(echoed)
        self.case.assertEqual(bytes(got), line)


# What a non-blocking client reads now: bytes, None when nothing is waiting, b"" once the server is gone.
def read(sock, n):
    try:
        return sock.recv(n)
    except OSError as e:
        if e.args[0] == EAGAIN:
            return None
        return b""  # reset


class Vanishing:
    # Asks for a stream, reads TAKE bytes of it, then vanishes: with a reset, or a close that leaves
    # the rest unread (which the OS turns into a reset too).
    def __init__(self, port, reset):
        self.sock = support.client(port)
        self.sock.setblocking(False)
        self.sock.send(b"BIG\n")
        self.reset = reset
        self.got = 0
        self.gone = False

    def step(self):
        if self.gone:
            return
        chunk = read(self.sock, 4096)
        if chunk:
            self.got += len(chunk)
        if self.got >= TAKE or chunk == b"":
            self.gone = True
            if self.reset:
                support.abort(self.sock)
            else:
                self.sock.close()


##### the cases


class HostileTest(unittest.TestCase):
    def setUp(self):
        self.map = {}
        self.socks = []  # client sockets still to close
        self.addCleanup(self.cleanup)
        self.server = Server(self.map)
        p = support.poller(self.map)
        self.tracking = p.os = Tracking(p.os)
        self.fds = support.open_fds()
        self.talker = Talker(self)
        self.socks.append(self.talker.sock)
        self.serve(lambda: self.server.made == 1)
        self.talker.round_trip()

    def cleanup(self):
        for s in self.socks:
            s.close()
        uasyncore.close_all(self.map)

    # Step the loop, and `also` before each pass, until cond() holds (at most `passes` passes).
    def serve(self, cond, also=None, passes=3000):
        while passes and not cond():
            if also is not None:
                also()
            uasyncore.loop(timeout=0.002, count=1, map=self.map)
            passes -= 1
        self.assertTrue(cond(), "not done in time")

    # Connections taken so far, whether served or refused.
    def taken(self):
        return self.server.made + len(self.server.refused)

    # n clients that connect and then `end` (None: stay connected), BATCH at a time, with a round trip
    # of the talker after each batch; returns the clients that stay.
    def storm(self, n, end):
        stay = []
        expected = self.taken()
        while n > 0:
            batch = min(BATCH, n)
            n -= batch
            for _ in range(batch):
                s = support.client(self.server.port)
                if end is None:
                    stay.append(s)
                    self.socks.append(s)
                else:
                    end(s)
            expected += batch
            self.serve(lambda: self.taken() == expected)
            self.talker.round_trip()
        return stay

    # The listener was never closed and is polled.
    def assertServing(self):
        server = self.server
        self.assertEqual(server.closes, 0)
        self.assertTrue(server.accepting)
        self.assertIs(self.map.get(key(server.socket)), server)
        self.assertIn(key(server.socket), self.tracking.held)

    # Every client gone: the server is down to its listener, the poller holds only the listener's
    # registration, and the process no more descriptors than before the clients came.
    def assertNothingLeaks(self):
        for s in self.socks:
            s.close()
        self.socks = []
        self.serve(lambda: list(self.map.values()) == [self.server])
        self.assertServing()
        self.assertEqual(list(self.tracking.held), [key(self.server.socket)])
        if self.fds is not None:
            self.assertLessEqual(support.open_fds(), self.fds)
        self.assertEqual([t for t, m in self.server.logged if t == "error"], [])

    def test_a_storm_of_clients_that_reset_at_once(self):
        self.storm(200, support.abort)
        self.assertServing()
        self.assertEqual(self.taken(), 201)
        self.assertTrue(self.server.refused, "some were gone before their handler asked getpeername()")
        self.assertEqual([e for e in self.server.refused if e != _port.ENOTCONN], [])
        self.assertNothingLeaks()

    def test_a_storm_of_clients_that_close_at_once(self):
        self.storm(200, lambda s: s.close())
        self.assertServing()
        self.assertEqual(self.taken(), 201)
        self.assertNothingLeaks()

    def test_clients_that_connect_and_never_send(self):
        stay = self.storm(40, None)
        self.assertEqual(self.server.made, 41)
        for _ in range(3):
            self.talker.round_trip()
        for s in stay:
            s.close()
        self.serve(lambda: self.server.closed == 40)
        self.talker.round_trip()
        self.assertNothingLeaks()

    def test_clients_that_vanish_while_the_server_streams_to_them(self):
        clients = [Vanishing(self.server.port, reset=i % 2 == 0) for i in range(6)]

        def step():
            for c in clients:
                c.step()

        self.serve(lambda: self.server.closed == 6, also=step)
        self.assertEqual([c.got >= TAKE for c in clients], [True] * 6, "each was mid-stream when it vanished")
        self.talker.round_trip()
        self.assertNothingLeaks()

    def test_raw_sockets_closed_with_something_left_to_say(self):
        clients = self.storm(5, None)
        for c in clients:
            c.send(b"RAW\n")
        self.serve(lambda: self.server.closed == 5)
        self.talker.round_trip()
        self.storm(BATCH, support.abort)  # and the listener goes on taking clients
        self.assertNothingLeaks()

    def test_a_raw_socket_closed_then_its_number_given_to_the_next_client(self):
        dropper = self.storm(1, None)[0]
        # made before the raw close: their descriptors are taken already, so the server's next
        # accepted socket gets the number the raw close freed (POSIX gives the lowest one free)
        spares = [socket.socket() for _ in range(BATCH)]
        self.socks.extend(spares)
        dropper.send(b"DROP\n")
        self.serve(lambda: self.server.dropped)
        zombie = self.server.dropped[0]
        for spare in spares:
            spare.connect(_port.sockaddr((HOST, self.server.port)))
            spare.setblocking(False)
            made = self.server.made
            self.serve(lambda: self.server.made == made + 1)
            spare.send(b"hello\n")
            got = bytearray()
            self.serve(lambda: got.extend(read(spare, 64) or b"") or len(got) >= 6)
            self.assertEqual(bytes(got), b"hello\n", "the new client is served")
            if zombie.closes:
                break
        self.assertTrue(zombie.closes, "the channel whose socket was closed behind its back was closed")
        self.assertNotIn(zombie, self.map.values())
        self.talker.round_trip()
        self.assertNothingLeaks()


if __name__ == "__main__":
    unittest.main()
