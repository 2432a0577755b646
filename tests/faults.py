# Fault injection for the tests: a socket wrapper (over a FakeSocket or a real socket) that moves one
# byte at a time, says EAGAIN at random, resets a stream half way or refuses accepts (EMFILE, ENFILE,
# ECONNABORTED); pollers that report POLLIN|POLLHUP while data is pending, say "readable" when nothing
# is, and fail registrations with MemoryError. Every random choice comes from a seeded Rng, so a failing
# case fails the same way every time. The tests that use it: tests/test_faults*.py, test_bad_input*.py.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import uasyncore
from support import EAGAIN, ECONNRESET, ERR, HUP, IN, OUT, oserror

_port = uasyncore._port
ECONNABORTED = _port.ECONNABORTED
EMFILE = support.EMFILE
ENFILE = support.ENFILE
PEER = (support.HOST, 5000)


##### randomness that repeats


class Rng:
    # xorshift32: the same numbers from the same seed on CPython and MicroPython (their random differs).
    def __init__(self, seed):
        self.x = (seed * 2654435761 + 12345) & 0xFFFFFFFF or 1

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    # A whole number from lo to hi, both included.
    def int(self, lo, hi):
        return lo + self.next() % (hi - lo + 1)

    # True `percent` times in a hundred.
    def chance(self, percent):
        return percent > 0 and self.next() % 100 < percent

    # n bytes, each of them any byte value.
    def bytes(self, n):
        out = bytearray(n)
        for i in range(n):
            out[i] = self.next() & 255
        return bytes(out)


##### the socket wrapper


class FaultySocket:
    # Wraps a socket (a FakeSocket or a real one) and misbehaves as told; anything else goes to it.
    # io: bytes a recv()/send() moves at most (0: as asked, 1: a byte at a time); jitter: random sizes
    # under that; eagain: percent of recv/send/accept calls that raise EAGAIN instead (send_eagain: of
    # send calls only); reset_after: bytes in and out after which the peer resets; accept_errors:
    # errnos (None: a real accept) that accept() goes through first; conn: these keywords for the
    # sockets accept() returns; tracker: a list every FaultySocket made is added to.
    def __init__(self, inner, rng, io=0, jitter=False, eagain=0, send_eagain=0, reset_after=None, accept_errors=(), conn=None, tracker=None):
        self.inner = inner
        self.rng = rng
        self.io = io
        self.jitter = jitter
        self.eagain = eagain
        self.send_eagain = send_eagain
        self.reset_after = reset_after
        self.accept_errors = list(accept_errors)
        self.conn = conn or {}
        self.tracker = tracker
        self.moved = 0
        self.idle_reads = 0  # recv() calls that found nothing to read (EAGAIN from the socket itself)
        self.was_reset = False
        self.closed = False
        if tracker is not None:
            tracker.append(self)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    # What one call may move of the n bytes asked for.
    def _size(self, n):
        if self.io and n > self.io:
            n = self.io
        if self.jitter and n > 1:
            n = self.rng.int(1, n)
        return n

    # Raise what the connection says now: reset for good, or EAGAIN `eagain` times in a hundred.
    def _fault(self, eagain):
        if self.was_reset:
            raise oserror(ECONNRESET)
        if self.rng.chance(eagain):
            raise oserror(EAGAIN)

    # n more bytes moved; past reset_after the connection is reset.
    def _count(self, n):
        self.moved += n
        if self.reset_after is not None and self.moved >= self.reset_after:
            self.was_reset = True  # what follows finds the connection reset

    def recv(self, n):
        self._fault(self.eagain)
        try:
            data = self.inner.recv(self._size(n))
        except OSError as e:
            if e.args[0] == EAGAIN:
                self.idle_reads += 1
            raise
        self._count(len(data))
        return data

    def send(self, data):
        self._fault(self.eagain or self.send_eagain)
        n = self.inner.send(data[: self._size(len(data))])
        self._count(n)
        return n

    def accept(self):
        if self.accept_errors:
            err = self.accept_errors.pop(0)
            if err:
                raise oserror(err)
        self._fault(self.eagain)
        sock, addr = self.inner.accept()
        return FaultySocket(sock, Rng(self.rng.next()), tracker=self.tracker, **self.conn), addr

    def close(self):
        self.closed = True
        self.inner.close()


# The sockets in `socks` still open although no channel of map holds them.
def leaked(socks, map):
    out = []
    for s in socks:
        if not s.closed:
            d = map.get(_port.key(s))
            if d is None or d.socket is not s:
                out.append(s)
    return out


##### pollers


class LivePoller(support.FakePoller):
    # Reports FaultySockets over FakeSockets as an OS poller would: IN while input or a connection
    # waits, OUT when asked, ERR|HUP after a reset. hup: HUP as soon as the peer has closed, with IN
    # while its data is still pending; spurious: percent of passes a socket is said readable
    # regardless; fail_register: percent of register() calls that raise MemoryError.
    def __init__(self, rng, hup=False, spurious=0, fail_register=0):
        support.FakePoller.__init__(self)
        self.socks = []  # every socket it may report (and the tests' leak tracker)
        self.rng = rng
        self.hup = hup
        self.spurious = spurious
        self.fail_register = fail_register
        self.failed = 0

    def register(self, key, mask):
        if self.rng.chance(self.fail_register):
            self.failed += 1
            raise MemoryError("fault: poll register")
        support.FakePoller.register(self, key, mask)

    def wait(self, ms):
        events = []  # waits are not recorded: thousands of passes would fill a small heap
        for s in self.socks:
            if s.closed:
                continue
            key = _port.key(s)
            mask = self.masks.get(key, 0)
            inner = s.inner
            flags = OUT
            if inner.inbox or inner.accept_plan or self.rng.chance(self.spurious):
                flags |= IN
            if s.was_reset or (self.hup and inner.inbox and inner.inbox[-1] == b""):
                flags |= HUP | (ERR if s.was_reset else 0)
            flags &= mask | ERR | HUP
            if flags:
                events.append((key, flags))
        return events


class KeyedPoller:
    # The port's real poller for FaultySockets over real sockets: MicroPython keys a map by the socket
    # object, and the OS poller knows only the real one, so keys are swapped both ways.
    def __init__(self, inner):
        self.inner = inner
        self.back = {}  # real key -> the map's key

    def register(self, key, mask):
        real = getattr(key, "inner", key)
        self.back[real] = key
        self.inner.register(real, mask)

    def modify(self, key, mask):
        self.inner.modify(getattr(key, "inner", key), mask)

    def unregister(self, key):
        real = getattr(key, "inner", key)
        self.back.pop(real, None)
        self.inner.unregister(real)

    def wait(self, ms):
        back = self.back
        return [(back.get(k, k), f) for k, f in self.inner.wait(ms)]

    def close(self):
        self.inner.close()


class Nowhere:
    # Stands in for FakeSocket.recv_sizes: a list of thousands of one-byte reads fills a small heap.
    def append(self, n):
        pass

    def __len__(self):
        return 0


NOWHERE = Nowhere()
