# The harness behind tests/test_bad_input_http.py, _control.py and _gen.py: one connection gets bad
# input (whole, in small pieces, or slowly and never finished) while another on the same map keeps
# asking for something good. Then the bad one must have had only well-formed answers and be closed,
# the good one every answer it asked for, and no handler may have raised. Its own tests check that
# the corpus file reads on this runtime and that pieces() rebuilds every entry.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import gc
import unittest

import uasyncore
from faults import NOWHERE, FaultySocket, LivePoller, Rng, leaked
from support import FakeSocket

_port = uasyncore._port
PEER = (support.HOST, 40000)
PASSES = 20000  # loop passes one entry may take at most
ASK_EVERY = 20  # passes between the good client's requests


# The entries of one corpus in tests/bad_input_corpus.py ("http", "control"), read from the source
# one line at a time (see there why it is not imported).
def corpus(name):
    scope = {}
    inside = False
    with open(support.ROOT + "/tests/bad_input_corpus.py") as f:
        while True:
            support._port.collect()  # a line wants a 1 KB buffer, and a run before may have fragmented the heap
            line = f.readline()
            if not line:
                break
            if line.startswith("def "):
                inside = line.startswith("def %s(" % name)
            elif inside and line.startswith("    yield "):
                yield eval(line[10:], scope)  # our own corpus file, one entry a line
            elif line[:1].isupper() and " = " in line:
                exec(line, scope)  # noqa: S102  (its constants, e.g. HOST = b"...")


# The bytes of an entry's parts in pieces of at most `size` bytes (0: each part whole, up to 256 bytes
# a piece), made one at a time: a 128K heap has no room for a 4000-byte part in one piece.
def pieces(parts, size=0):
    size = size or 256
    for p in parts:
        unit, n = p if isinstance(p, tuple) else (p, 1)
        total = len(unit) * n
        for start in range(0, total, size):
            at = start % len(unit)
            end = at + min(size, total - start)
            yield (unit * (end // len(unit) + 1))[at:end]


class BadInput:
    # Mixed into a service's TestCase that has self.map, self.clock, self.server and self.listener (the
    # FakeSocket the server accepts from). The class gives: request (what the good client asks),
    # split(data, final=False) (the complete answers in what a client got and the rest, raising
    # AssertionError on a malformed answer; final: nothing more will come),
    # good(answer) (whether the good client got what it asked for), matches(answer, expected) (whether
    # it is what a corpus entry expects), starts (how an answer starts) and idle (seconds after which
    # the service must close).

    def use_live_poller(self):
        self.poller = LivePoller(Rng(11))
        support.poller(self.map).os = self.poller
        self.errors = []
        self.out_of_memory = 0

    # A connection the server accepts; what it sent so far is returned with it.
    def accept(self, io=0):
        sock = FaultySocket(FakeSocket(peer=PEER), Rng(3), io=io, tracker=self.poller.socks)
        sock.inner.recv_sizes = NOWHERE
        self.listener.accept_plan.append((sock, PEER))
        self.server.handle_accept_event()
        conn = self.map[_port.key(sock)]
        conn.handle_error = self.recorder(conn)
        return sock, conn

    # handle_error for conn that remembers the exception, then does what the class does. Running out of
    # heap is no bug, only counted: the core then closes that one channel, as it should (at 128K the
    # tests' own modules leave the service little).
    def recorder(self, conn):
        def handle_error():
            e = uasyncore.handled_error()
            if isinstance(e, MemoryError):
                self.out_of_memory += 1
            else:
                self.errors.append(repr(e))
            type(conn).handle_error(conn)

        return handle_error

    # The good client: asks again once its last answer came, every `self.every` passes.
    def ask(self, good, passes):
        got, rest = self.split(good.inner.sent, False)
        if self.asked and not got:
            return
        for answer in got:
            self.assertTrue(self.good(answer), answer)
            self.served += 1
        good.inner.sent = bytearray(rest)
        self.asked = passes % self.every == 0
        if self.asked:
            good.inner.inbox.append(self.request)

    # Take the bad client's complete answers out of what it got (checking each): a small heap cannot
    # keep them all. The first few are kept in self.got, and whether one was `expected` in self.met.
    def take(self, bad, expected, final=False):
        try:
            got, rest = self.split(bad.inner.sent, final)
        except MemoryError:  # the test's own parsing, on a 128K heap the service has just filled
            gc.collect()
            got, rest = self.split(bad.inner.sent, final)
        if got:
            bad.inner.sent = bytearray(rest)
        for answer in got:
            if len(self.got) < 10:
                self.got.append(answer)
            if expected is not None and self.matches(answer, expected):
                self.met = True

    # One loop pass, then the bad client's answers are taken.
    def step(self, bad, expected, gap=0):
        self.clock.advance(gap)
        uasyncore.loop(timeout=0, count=1, map=self.map)
        self.take(bad, expected)

    # Feed parts to a fresh connection: in pieces of `piece` bytes (0: as they are), `gap` seconds
    # apart, then the end of the stream if eof. Checks everything; returns the bad client's first
    # few answers.
    def run_bad(self, name, parts, eof=True, piece=0, gap=0.0, io=0, expected=None):
        self.errors = []
        self.out_of_memory = 0
        self.got = []
        self.met = False
        bad, bad_conn = self.accept(io)
        good, good_conn = self.accept()
        good.inner.sent = bytearray()  # whatever greeting it got
        self.asked = False
        self.served = 0
        # often enough that the good client never sits idle for a third of the service's timeout
        self.every = max(1, min(ASK_EVERY, int(self.idle / 3 / gap))) if gap else ASK_EVERY
        items = pieces(parts, piece)
        more = True  # items left to send
        passes = 0
        while passes < PASSES and (more and not bad.closed or self.asked or passes % self.every):
            inbox = bad.inner.inbox
            if more and not inbox and not bad.closed:
                try:
                    inbox.append(next(items))
                except StopIteration:
                    more = False
                    if eof:
                        inbox.append(b"")
            self.ask(good, passes)
            self.step(bad, expected, gap)
            passes += 1
        self.assertLess(passes, PASSES, name)
        good.inner.inbox.append(self.request)  # and once more, after all the bad input
        self.asked = True
        while self.asked and passes < PASSES:
            self.step(bad, expected)
            self.ask(good, 1)
            passes += 1
        self.assertFalse(good.closed, "%s: the good client lost its connection" % name)
        self.assertGreater(self.served, 1, "%s: the good client was not served" % name)
        good_conn.close()
        for _ in range(2000):  # let it send what it has queued
            if bad.closed or not bad_conn.writable():
                break
            self.step(bad, expected)
        waited = 0
        while not bad.closed and waited < self.idle + 30:  # what is left open must time out
            self.step(bad, expected, 5)
            self.step(bad, expected)
            waited += 5
        self.assertTrue(bad.closed, "%s: the connection was never closed" % name)
        self.assertEqual(self.errors, [], name)
        self.assertEqual(leaked(self.poller.socks, self.map), [], name)
        self.poller.socks = [s for s in self.poller.socks if not s.closed]  # a small heap holds no history
        self.take(bad, expected, True)
        rest = bytes(bad.inner.sent)  # an answer the close cut short may start it, nothing else
        self.assertTrue(not rest or [p for p in self.starts if rest.startswith(p) or p.startswith(rest)], name)
        if expected is not None and not self.out_of_memory:
            self.assertTrue(self.met, "%s: no %r in %r" % (name, expected, self.got))
        return self.got

    # Every entry of a corpus, one way of sending it.
    def run_corpus(self, which, **how):
        slow = how.get("gap") or not how.get("eof", True)
        for name, parts, expected in corpus(which):
            self.run_bad(name, parts, expected=None if slow else expected, **how)


class CorpusFileTest(unittest.TestCase):
    def check(self, name, kinds):
        names = []
        for entry, parts, expected in corpus(name):
            self.assertTrue(isinstance(expected, kinds) or expected is None, entry)
            gc.collect()  # some entries are 4 KB: on the 128K run the heap needs that in one piece
            whole = b"".join([p[0] * p[1] if isinstance(p, tuple) else p for p in parts])
            for size in (0, 1, 7):
                at = 0
                for piece in pieces(parts, size):
                    self.assertTrue(0 < len(piece) <= (size or 256), entry)
                    self.assertTrue(whole[at : at + len(piece)] == piece, entry)
                    at += len(piece)
                self.assertEqual(at, len(whole), entry)
            self.assertNotIn(entry, names)
            names.append(entry)
        self.assertGreater(len(names), 10)

    def test_http_entries(self):
        self.check("http", int)

    def test_control_entries(self):
        self.check("control", bytes)
