# The echo servers (dispatcher_with_send, async_chat) and the FaultCase that the fault tests share,
# with a run of mixed faults over many seeds and an empty-send regression. The cases by fault are in
# tests/test_faults_stream.py, _accept, _errors and _real; the fault layer itself is tests/faults.py.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasynchat
import uasyncore
from faults import NOWHERE, PEER, FaultySocket, LivePoller, Rng, leaked
from support import FakeSocket


##### echo servers that keep what they read and count what went wrong


class Channel:
    # Mixed into the echo channels: input kept, errors counted, an optional planted failure.
    boom_at = None  # bytes read after which handle_read raises `boom`
    boom = None

    # Called first thing by each channel's __init__.
    def init(self):
        self.got = bytearray()
        self.errors = []
        self.logged = []

    def log_info(self, message, type="info"):
        self.logged.append((type, message))

    def handle_error(self):
        self.errors.append(type(uasyncore.handled_error()).__name__)
        uasyncore.dispatcher.handle_error(self)

    # Raise the planted failure once `boom_at` bytes have been read.
    def maybe_fail(self):
        if self.boom_at is not None and len(self.got) >= self.boom_at:
            raise self.boom


class SendEcho(Channel, uasyncore.dispatcher_with_send):
    # Sends back what it reads, through dispatcher_with_send's queue.
    def __init__(self, sock, map):
        self.init()
        uasyncore.dispatcher_with_send.__init__(self, sock, map)

    def handle_read(self):
        data = self.recv(512)
        if data:
            self.got.extend(data)
            self.maybe_fail()
            self.send(data)


class ChatEcho(Channel, uasynchat.async_chat):
    # Sends back each line; a line "#N" is sent back, then the next N bytes as one block (an int
    # terminator). Long lines go out through a producer in 7-byte pieces.
    def __init__(self, sock, map):
        self.init()
        self.pieces = []
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        self.got.extend(data)
        self.pieces.append(bytes(data))
        self.maybe_fail()

    def found_terminator(self):
        data = b"".join(self.pieces)
        self.pieces = []
        if self.get_terminator() == 0:  # a block is complete
            self.set_terminator(b"\n")
            self.push(data)
            return
        self.got.extend(b"\n")
        if data[:1] == b"#":
            self.set_terminator(int(data[1:]))
        data += b"\n"
        if len(data) > 40:
            self.push_with_producer(uasynchat.simple_producer(data, 7))
        else:
            self.push(data)


class Listener(Channel, uasyncore.dispatcher):
    # Listens on a (faulty) socket; each connection gets make(sock, map), kept in `served`.
    def __init__(self, sock, make, map):
        self.init()
        self.make = make
        self.served = []
        uasyncore.dispatcher.__init__(self, sock, map)
        self.listen(5)

    def handle_accepted(self, sock, addr):
        self.served.append(self.make(sock, self._map))


# A stream for ChatEcho: lines of letters and, between them, "#N" blocks of any bytes.
def chat_stream(rng, n):
    out = []
    for _ in range(n):
        if rng.chance(25):
            block = rng.bytes(rng.int(1, 60))
            out.append(b"#%d\n" % len(block))
            out.append(block)
        else:
            out.append(bytes(97 + rng.int(0, 25) for _ in range(rng.int(0, 70))) + b"\n")
    return b"".join(out)


##### the far end of a fake connection, and the TestCase


class Peer:
    # Writes `data` into the server side's inbox in random pieces while the server reads, then closes
    # once everything came back. hangup: write it all and close at once (POLLIN|POLLHUP with data);
    # pace: write only every pace-th pass, so the server often finds nothing to read.
    def __init__(self, sock, data, rng, piece=64, hangup=False, pace=1):
        self.sock = sock  # the FakeSocket under the server's side
        self.data = data
        self.rng = rng
        self.piece = piece
        self.hangup = hangup
        self.pace = pace
        self.passes = 0
        self.pos = 0
        self.eof = False

    # What the server sent back so far.
    def echoed(self):
        return bytes(self.sock.sent)

    # Whether the server closed its side.
    def done(self):
        return self.sock.closed

    # One pass of the far end: write some more, or close once all came back.
    def step(self):
        s = self.sock
        self.passes += 1
        if self.eof or s.closed or self.passes % self.pace:
            return
        if self.hangup:
            for i in range(0, len(self.data), self.piece):
                s.inbox.append(self.data[i : i + self.piece])
            s.inbox.append(b"")
            self.eof = True
        elif self.pos < len(self.data):
            if len(s.inbox) < 3:
                n = self.rng.int(1, self.piece)
                s.inbox.append(self.data[self.pos : self.pos + n])
                self.pos += n
        elif len(s.sent) >= len(self.data):
            s.inbox.append(b"")
            self.eof = True


class FaultCase(unittest.TestCase):
    # A fresh map served by a LivePoller under a fake clock; every socket it makes is tracked.
    seed = 1

    def setUp(self):
        self.clock = support.use_clock(self)
        self.rng = Rng(self.seed)
        self.map, _ = support.fake_map()
        self.poller = LivePoller(Rng(self.rng.next()))
        support.poller(self.map).os = self.poller
        self.socks = self.poller.socks
        self.addCleanup(uasyncore.close_all, self.map)

    # A listener (cls) whose accepted channels are make(sock, map); keywords go to its FaultySocket.
    def listen(self, make, cls=Listener, **faults):
        lsock = FaultySocket(FakeSocket(), Rng(self.rng.next()), tracker=self.socks, **faults)
        return cls(lsock, make, self.map)

    # A client of listener that will send data; keywords go to its Peer.
    def connect(self, listener, data, **how):
        sock = FakeSocket(peer=PEER)
        sock.recv_sizes = NOWHERE
        listener.socket.inner.accept_plan.append((sock, PEER))
        return Peer(sock, data, Rng(self.rng.next()), **how)

    # Loop passes, 10 ms of fake time each, until every peer's connection is closed.
    def run_peers(self, peers, passes=5000):
        while passes and not all(p.done() for p in peers):
            for p in peers:
                p.step()
            self.clock.advance(0.01)
            uasyncore.loop(timeout=0, count=1, map=self.map)
            passes -= 1
        return passes

    # No socket open that no channel holds, and none at all once the map is closed.
    def assertNoLeaks(self):
        self.assertEqual(leaked(self.socks, self.map), [])
        uasyncore.close_all(self.map)
        self.assertEqual([s for s in self.socks if not s.closed], [])

    # What came back is all that was sent, once, in order.
    def assertIntact(self, peer):
        self.assertTrue(peer.done(), "the connection never ended")
        self.assertEqual(len(peer.echoed()), len(peer.data))
        self.assertEqual(peer.echoed(), peer.data)

    # What came back is a start of what was sent: nothing duplicated, reordered or made up.
    def assertPrefix(self, peer):
        got = peer.echoed()
        self.assertEqual(got, peer.data[: len(got)])


##### cases


class SeededTest(FaultCase):
    # Many seeds of the mixed faults through both servers (a few passes each: kept quick).
    def test_mixed_faults_over_seeds(self):
        for seed in range(6):
            self.rng = Rng(seed)
            make = SendEcho if seed % 2 else ChatEcho
            listener = self.listen(make, conn={"io": 1 + seed * 5, "jitter": True, "send_eagain": 35})
            data = chat_stream(self.rng, 6)
            peer = self.connect(listener, data)
            self.assertTrue(self.run_peers([peer]), seed)
            self.assertIntact(peer)
            listener.close()
        self.assertNoLeaks()


class EmptySendTest(unittest.TestCase):
    # An empty send() behind queued data once queued a chunk the queue never got past (found by
    # tests/test_properties.py, fixed in the core; kept as a regression test).
    def test_an_empty_send_behind_queued_data(self):
        m, fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, m)
        sock = FakeSocket(peer=PEER, send_plan=[0])  # the first send() takes nothing: "a" is queued
        d = uasyncore.dispatcher_with_send(sock, m)
        for data in (b"a", b"", b"b"):
            d.send(data)
        for _ in range(5):
            fake.script.append([(sock, support.OUT)])
            uasyncore.loop(timeout=0, count=1, map=m)
        self.assertEqual(bytes(sock.sent), b"ab")
        self.assertFalse(d.writable())


if __name__ == "__main__":
    unittest.main()
