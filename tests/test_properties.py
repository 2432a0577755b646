# Properties checked over inputs that hypothesis makes up: async_chat frames input the same however it
# is split into reads, for bytes, int and None terminators, also when found_terminator changes the
# terminator; and whatever the socket takes per send() (EAGAIN included), the bytes on the wire are the
# bytes pushed, in order, for async_chat (push, push_with_producer) and dispatcher_with_send.
# CPython only: without hypothesis (always so on MicroPython) the module skips itself.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:
    raise unittest.SkipTest("hypothesis is not installed")

import itertools  # after the skip: MicroPython has none

import uasynchat
import uasyncore
from support import EAGAIN, OUT, FakeSocket, oserror

PEER = (support.HOST, 4000)
SETTINGS = settings(max_examples=150, deadline=None, database=None)


##### framing


class Framer(uasynchat.async_chat):
    # Records each found_terminator with the data collected before it, then moves to the program's
    # next terminator: bytes, an int, None, or "last" (the last byte of that data as the terminator).
    def __init__(self, sock, map, program):
        self.program = program
        self.found = []
        self.pieces = []
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\n" if program[0] == "last" else program[0])

    def collect_incoming_data(self, data):
        self.pieces.append(bytes(data))

    def found_terminator(self):
        data = b"".join(self.pieces)
        self.pieces = []
        self.found.append(data)
        term = self.program[len(self.found) % len(self.program)]
        if term == "last":
            term = data[-1:] or b"\n"
        self.set_terminator(term)


# (found_terminator's data each time, everything collected after the last one and still buffered)
def frame(chunks, program):
    m, _ = support.fake_map()
    try:
        d = Framer(FakeSocket(inbox=chunks, peer=PEER), m, program)
        for _ in chunks:
            d.handle_read()
        return d.found, b"".join(d.pieces) + d.ac_in_buffer
    finally:
        uasyncore.close_all(m)


# Input rich in the terminators below, with other bytes between them.
stream = st.lists(
    st.sampled_from([b"\r\n", b"\n", b"\r", b"ab", b"a", b"aab", b"b", b"--", b"-"]) | st.binary(max_size=6),
    max_size=40,
).map(b"".join)
terminator = (
    st.sampled_from([b"\r\n", b"\n", b"ab", b"aab", b"aa", b"--", "last"])
    | st.binary(min_size=1, max_size=3)
    | st.integers(0, 12)
    | st.none()
)


# data cut at random places into non-empty reads (an empty read would be the end of the stream).
@st.composite
def split(draw, data):
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12))))
    bounds = [0] + [c for c in cuts if c < len(data)] + [len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


class FramingProperties(unittest.TestCase):
    @SETTINGS
    @given(st.data(), stream, st.lists(terminator, min_size=1, max_size=4))
    def test_any_split_frames_like_the_whole(self, draw, data, program):
        whole = frame([data] if data else [], program)
        chunks = draw.draw(split(data))
        self.assertEqual(frame(chunks, program), whole)

    @SETTINGS
    @given(st.data(), stream, terminator)
    def test_one_byte_reads_frame_like_the_whole(self, draw, data, term):
        self.assertEqual(frame([data[i : i + 1] for i in range(len(data))], [term]), frame([data] if data else [], [term]))

    @SETTINGS
    @given(stream, st.binary(min_size=1, max_size=3))
    def test_bytes_terminator_splits_like_bytes_split(self, data, term):
        found, rest = frame([data] if data else [], [term])
        self.assertEqual(found + [rest], data.split(term))

    @SETTINGS
    @given(stream, st.integers(1, 12))
    def test_int_terminator_cuts_equal_pieces(self, data, n):
        found, rest = frame([data] if data else [], [n])
        self.assertEqual(found, [data[i : i + n] for i in range(0, len(data) - n + 1, n)])
        self.assertEqual(b"".join(found) + rest, data)


##### sending

# What the socket does at each send(): take at most n bytes (0: nothing), or raise EAGAIN.
send_plan = st.lists(st.integers(0, 20) | st.just("EAGAIN"), max_size=60)
payload = st.binary(min_size=0, max_size=80)


def plan(items):
    return [oserror(EAGAIN) if i == "EAGAIN" else i for i in items]


class Chat(uasynchat.async_chat):
    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


class SendProperties(unittest.TestCase):
    # A fresh map for each example (setUp runs once for all of a test's examples).
    def fresh(self):
        self.m, self.fake = support.fake_map()
        self.addCleanup(uasyncore.close_all, self.m)

    def step(self, sock):
        self.fake.script.append([(sock, OUT)])
        uasyncore.loop(timeout=0, count=1, map=self.m)

    # Pass until the socket takes no more or the queue is empty (a bounded number of passes).
    def drain(self, sock, queued):
        for _ in range(2000):
            if not queued():
                return
            self.step(sock)
        self.fail("the queue never drained")

    @SETTINGS
    @given(st.lists(st.tuples(st.sampled_from(["push", "bytearray", "producer", "pass"]), payload, st.integers(1, 9))), send_plan, st.integers(1, 32))
    def test_async_chat_sends_what_was_pushed(self, ops, sends, out_size):
        self.fresh()
        sock = FakeSocket(peer=PEER, send_plan=plan(sends))
        d = Chat(sock, self.m)
        d.ac_out_buffer_size = out_size
        expected = []
        for op, data, n in ops:
            if op == "push":
                d.push(data)
            elif op == "bytearray":
                d.push(bytearray(data))
            elif op == "producer":
                d.push_with_producer(uasynchat.simple_producer(data, n))
            else:
                for _ in range(n):
                    self.step(sock)
                continue
            expected.append(data)
        d.close_when_done()
        self.drain(sock, lambda: not sock.closed)
        self.assertEqual(bytes(sock.sent), b"".join(expected))

    @SETTINGS
    @given(st.lists(st.tuples(st.booleans(), payload, st.integers(1, 9))), send_plan)
    def test_dispatcher_with_send_sends_what_was_sent(self, ops, sends):
        self.fresh()
        sock = FakeSocket(peer=PEER, send_plan=plan(sends))
        d = uasyncore.dispatcher_with_send(sock, self.m)
        expected = []
        for is_send, data, n in ops:
            if is_send:
                d.send(data)
                expected.append(data)
            else:
                for _ in range(n):
                    self.step(sock)
        self.drain(sock, d.writable)
        self.assertEqual(bytes(sock.sent), b"".join(expected))


if __name__ == "__main__":
    unittest.main()
