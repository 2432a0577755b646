# uasynchat behaviour that CPython's test_asynchat leaves untested: terminators split
# across reads, counted and switched terminators, push chunking under partial sends and
# EAGAIN, producers, close_when_done, discard_buffers, use_encoding on str input, error
# routing, and a real loopback exchange between two async_chat channels.
#
# Runs under pytest on CPython and under `micropython tests/run_mpy.py` alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
import uasynchat
from support import EAGAIN, ECONNRESET, EPIPE, HOST, IN, OUT, FakeSocket, oserror

EINVAL = uasyncore.EINVAL
PEER = (HOST, 4321)


##### local helpers


class LogSocket(FakeSocket):
    # A FakeSocket that also logs every send() as (data offered, bytes taken or None on error).
    def __init__(self, *args, **kwargs):
        FakeSocket.__init__(self, *args, **kwargs)
        self.sends = []

    def send(self, data):
        offered = bytes(data)
        try:
            n = FakeSocket.send(self, data)
        except OSError:
            self.sends.append((offered, None))
            raise
        self.sends.append((offered, n))
        return n


class Chat(uasynchat.async_chat):
    # Records pieces, frames, closes and errors; `script` holds the terminators that
    # found_terminator switches to, one per frame (nothing left: keep the current one).
    def __init__(self, sock=None, map=None, terminator=b"\r\n", script=()):
        self.pieces = []
        self.frames = []
        self.closes = 0
        self.errors = []
        self.logged = []
        self.script = list(script)
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(terminator)

    def collect_incoming_data(self, data):
        self.pieces.append(data)
        self._collect_incoming_data(data)

    def found_terminator(self):
        self.frames.append(self._get_data())
        if self.script:
            self.set_terminator(self.script.pop(0))

    def handle_close(self):
        self.closes += 1
        uasynchat.async_chat.handle_close(self)

    def handle_error(self):
        self.errors.append(uasyncore.handled_error())
        uasynchat.async_chat.handle_error(self)  # the default: log, then handle_close

    def log_info(self, message, type="info"):
        self.logged.append((type, message))

    # what has been taken in but not framed yet
    def pending(self):
        return b"".join(self.incoming) + self.ac_in_buffer


class ListProducer:
    # Hands out `pieces` in order, then b""; logs how much the socket had taken at each call.
    def __init__(self, pieces, sock):
        self.pieces = list(pieces)
        self.sock = sock
        self.calls = []

    def more(self):
        self.calls.append(len(self.sock.sent))
        return self.pieces.pop(0) if self.pieces else b""


class ChatTestCase(unittest.TestCase):
    def setUp(self):
        self.m, self.fake = support.fake_map()

    def tearDown(self):
        uasyncore.close_all(self.m)

    # A connected channel on a LogSocket.
    def chat(self, inbox=(), send_plan=(), cls=Chat, **kwargs):
        sock = LogSocket(inbox=inbox, send_plan=send_plan, peer=PEER)
        return cls(sock, self.m, **kwargs)

    # Call handle_read until the socket's inbox is empty (what a run of read events would do).
    def drain(self, d, limit=10000):
        while d.socket.inbox and limit:
            d.handle_read()
            limit -= 1
        self.assertFalse(d.socket.inbox, "inbox not drained")

    # Feed items, one recv each; return (frames, pending) and close the channel.
    def frame(self, items, terminator, script=()):
        d = self.chat(inbox=items, terminator=terminator, script=script)
        self.drain(d)
        self.assertEqual(d.errors, [])
        for piece in d.pieces:
            self.assertTrue(len(piece) > 0, "an empty piece was collected")
        result = (d.frames, d.pending())
        self.dispose(d)
        return result

    # Close a channel and run one pass, after which the poller holds nothing of it:
    # tests that make thousands of channels would otherwise fill a MicroPython heap.
    def dispose(self, d):
        d.close()
        uasyncore.poll(0, self.m)

    # One loop pass in which the fake poller reports `events`, (socket, flags) pairs.
    def step(self, *events):
        self.fake.script.append(list(events))
        uasyncore.loop(timeout=0, count=1, map=self.m)


# data cut into pieces of `size` bytes (the last may be shorter)
def chunks(data, size):
    return [data[i : i + size] for i in range(0, len(data), size)]


##### bytes terminators split across reads


# Streams for each terminator, with near-misses and partial terminators in the data.
SPLIT_CASES = (
    (b"\r\n", b"alpha\r\nbeta\r\n\r\n\rgam\nma\r\r\nx\n\r\r\n\r\ndelta\r"),
    (b"\r\n\r\n", b"GET / HTTP/1.0\r\nHost: x\r\n\r\n\r\n\r\r\n\r\nbody\r\n\r\n\r\r\n\r\n\r\n\r\ntail\r\n\r"),
    (b"ABAB", b"xABAABABABABzzABAABABABAByABA"),
)


class SplitTerminatorTest(ChatTestCase):
    # frames and leftover as bytes.split gives them: an oracle independent of the code
    def expected(self, data, term):
        parts = data.split(term)
        return parts[:-1], parts[-1]

    def test_oracle_matches_unsplit_input(self):
        frames, rest = self.frame([SPLIT_CASES[0][1]], b"\r\n")
        self.assertEqual(frames, [b"alpha", b"beta", b"", b"\rgam\nma\r", b"x\n\r", b""])
        self.assertEqual(rest, b"delta\r")
        for term, data in SPLIT_CASES:
            self.assertEqual(self.frame([data], term), self.expected(data, term))

    def test_split_in_two_at_every_point(self):
        for term, data in SPLIT_CASES:
            want = self.expected(data, term)
            for k in range(1, len(data)):
                got = self.frame([data[:k], data[k:]], term)
                self.assertEqual(got, want, "term %r split at %d" % (term, k))

    def test_split_in_three_at_every_pair_of_close_points(self):
        # cuts at most 4 bytes apart: every way to cut a 4-byte terminator into three
        for term, data in SPLIT_CASES[1:]:
            want = self.expected(data, term)
            for i in range(1, len(data) - 1):
                for j in range(i + 1, min(i + 5, len(data))):
                    got = self.frame([data[:i], data[i:j], data[j:]], term)
                    self.assertEqual(got, want, "term %r split at %d and %d" % (term, i, j))

    def test_one_byte_per_recv(self):
        for term, data in SPLIT_CASES:
            got = self.frame(chunks(data, 1), term)
            self.assertEqual(got, self.expected(data, term), "term %r" % (term,))

    def test_odd_chunk_sizes(self):
        for term, data in SPLIT_CASES:
            want = self.expected(data, term)
            for size in (2, 3, 5, 7, 11):
                self.assertEqual(self.frame(chunks(data, size), term), want, "term %r size %d" % (term, size))

    def test_small_in_buffer_size_splits_reads(self):
        for term, data in SPLIT_CASES:
            for size in (1, 3, 4):
                d = self.chat(inbox=[data], terminator=term)
                d.ac_in_buffer_size = size
                self.drain(d)
                self.assertEqual((d.frames, d.pending()), self.expected(data, term))
                self.assertEqual(d.socket.recv_sizes, [size] * len(d.socket.recv_sizes))
                self.dispose(d)

    def test_reads_through_the_loop(self):
        term, data = SPLIT_CASES[1]
        items = chunks(data, 3)
        d = self.chat(inbox=items, terminator=term)
        for _ in items:
            self.step((d.socket, IN))
        self.assertEqual((d.frames, d.pending()), self.expected(data, term))
        self.assertEqual(d.socket.inbox, [])

    def test_partial_terminator_is_held_back(self):
        d = self.chat(inbox=[b"abc\r"], terminator=b"\r\n")
        d.handle_read()
        self.assertEqual(d.pieces, [b"abc"])
        self.assertEqual(d.ac_in_buffer, b"\r")
        d.socket.inbox.append(b"x")  # not the terminator after all: the "\r" is data
        d.handle_read()
        self.assertEqual(d.frames, [])
        self.assertEqual(d.pending(), b"abc\rx")


##### counted, absent and switched terminators


class LengthPrefixed(Chat):
    # "<n>:<n bytes>" records: a b":" terminator, then a count, then b":" again.
    def found_terminator(self):
        data = self._get_data()
        if isinstance(self.get_terminator(), int):
            self.frames.append(data)
            self.set_terminator(b":")
        else:
            self.set_terminator(int(data))


class TerminatorTest(ChatTestCase):
    def test_int_terminator_counts_down_across_reads(self):
        d = self.chat(inbox=[b"abcd", b"efgh", b"ijKL\nMN\nre", b"st\n"], terminator=10, script=[b"\n"])
        d.handle_read()
        self.assertEqual((d.get_terminator(), d.frames), (6, []))
        d.handle_read()
        self.assertEqual((d.get_terminator(), d.frames), (2, []))
        d.handle_read()  # the count ends mid-read; found_terminator switches back to b"\n"
        self.assertEqual(d.frames, [b"abcdefghij", b"KL", b"MN"])
        self.assertEqual(d.get_terminator(), b"\n")
        self.assertEqual(d.pending(), b"re")
        d.handle_read()
        self.assertEqual(d.frames, [b"abcdefghij", b"KL", b"MN", b"rest"])
        self.assertEqual(d.pieces[:2], [b"abcd", b"efgh"])  # counted input is handed on at once

    def test_int_terminator_ignores_bytes_that_look_like_a_terminator(self):
        frames, rest = self.frame([b"a\r\nb\r\nc\r\n"], 4, script=[b"\r\n"])
        self.assertEqual((frames, rest), ([b"a\r\nb", b"", b"c"], b""))

    def test_exact_count_in_one_read(self):
        frames, rest = self.frame([b"12345"], 5)
        self.assertEqual((frames, rest), ([b"12345"], b""))

    def test_length_prefixed_records_at_every_split(self):
        data = b"5:a:b:c11:0123456789:2:\r\n3:xyz"
        want = [b"a:b:c", b"0123456789:", b"\r\n", b"xyz"]
        for k in range(1, len(data)):
            d = self.chat(inbox=[data[:k], data[k:]], cls=LengthPrefixed, terminator=b":")
            self.drain(d)
            self.assertEqual(d.frames, want, "split at %d" % k)
            self.dispose(d)
        d = self.chat(inbox=chunks(data, 1), cls=LengthPrefixed, terminator=b":")
        self.drain(d)
        self.assertEqual(d.frames, want)

    def test_terminator_changed_inside_found_terminator_mid_buffer(self):
        data = b"HEAD\r\n1234BODY\r\nBODY--END--rest\r\n"
        script = [4, b"--END--", None]
        d = self.chat(inbox=[data], terminator=b"\r\n", script=script)
        d.handle_read()  # everything in one read
        self.assertEqual(d.frames, [b"HEAD", b"1234", b"BODY\r\nBODY"])
        self.assertIsNone(d.get_terminator())
        self.assertEqual(d.incoming, [b"rest\r\n"])
        self.assertEqual(d.ac_in_buffer, b"")
        for size in (1, 2, 3):
            frames, rest = self.frame(chunks(data, size), b"\r\n", script=script)
            self.assertEqual((frames, rest), ([b"HEAD", b"1234", b"BODY\r\nBODY"], b"rest\r\n"), "size %d" % size)

    def test_none_terminator_collects_everything_as_it_comes(self):
        items = [b"abc\r", b"\n\r\n", b"\r", b"def"]
        d = self.chat(inbox=items, terminator=None)
        for item in items:
            d.handle_read()
            self.assertEqual(d.ac_in_buffer, b"")  # nothing held back, not even a "\r"
            self.assertEqual(d.pieces[-1], item)
        self.assertEqual(d.frames, [])
        self.assertEqual(d.pieces, items)

    def test_zero_terminator_is_accepted_and_collects_everything(self):
        d = self.chat(inbox=[b"a\r\nb"], terminator=0)
        d.handle_read()
        self.assertEqual((d.frames, d.pieces), ([], [b"a\r\nb"]))

    def test_negative_terminator_raises_value_error(self):
        d = self.chat()
        with self.assertRaises(ValueError):
            d.set_terminator(-1)
        self.assertEqual(d.get_terminator(), b"\r\n")
        d.set_terminator(3)
        with self.assertRaises(ValueError):
            d.set_terminator(-5)
        self.assertEqual(d.get_terminator(), 3)

    def test_find_prefix_at_end(self):
        f = uasynchat.find_prefix_at_end
        self.assertEqual(f(b"qwerty\r", b"\r\n"), 1)
        self.assertEqual(f(b"qwertydkjf", b"\r\n"), 0)
        self.assertEqual(f(b"", b"\r\n"), 0)
        self.assertEqual(f(b"\r", b"\r\n"), 1)
        self.assertEqual(f(b"x\r\n\r", b"\r\n\r\n"), 3)
        self.assertEqual(f(b"x\r\n", b"\r\n\r\n"), 2)
        self.assertEqual(f(b"x\r\n\rz", b"\r\n\r\n"), 0)
        self.assertEqual(f(b"abc", b"abcd"), 3)
        self.assertEqual(f(b"aaa", b"aaaa"), 3)  # the longest prefix, not the first found
        self.assertEqual(f(b"xaba", b"abab"), 3)
        self.assertEqual(f(b"xab", b"abab"), 2)
        self.assertEqual(f(b"abc", b"\n"), 0)  # a one-byte needle has no proper prefix


##### reads that fail or end


class ReadErrorTest(ChatTestCase):
    def test_eagain_from_recv_just_returns(self):
        d = self.chat(inbox=[b"ab", oserror(EAGAIN), b"c\r\n"])
        d.handle_read()
        d.handle_read()  # EAGAIN
        self.assertEqual((d.frames, d.errors, d.closes, d.pending()), ([], [], 0, b"ab"))
        d.handle_read()
        d.handle_read()  # recv on an empty inbox raises EAGAIN too
        self.assertEqual((d.frames, d.errors, d.closes), ([b"abc"], [], 0))
        self.assertTrue(d.connected)
        self.assertIs(self.m.get(uasyncore._port.key(d.socket)), d)

    def test_eagain_through_the_loop(self):
        d = self.chat()
        self.step((d.socket, IN))
        self.step((d.socket, IN))
        self.assertEqual((d.errors, d.closes, d.logged), ([], 0, []))
        self.assertEqual(len(d.socket.recv_sizes), 2)
        self.assertIs(self.m.get(uasyncore._port.key(d.socket)), d)

    def test_other_recv_error_goes_to_handle_error(self):
        d = self.chat(inbox=[oserror(EINVAL)])
        self.step((d.socket, IN))
        self.assertEqual(len(d.errors), 1)
        self.assertEqual(d.errors[0].args[0], EINVAL)
        self.assertEqual(d.closes, 1)  # the default handle_error closes
        self.assertEqual(self.m, {})

    def test_reset_closes_without_handle_error(self):
        d = self.chat(inbox=[oserror(ECONNRESET)])
        d.handle_read()
        self.assertEqual((d.errors, d.closes), ([], 1))

    def test_end_of_stream_closes_after_framing_what_came_before(self):
        d = self.chat(inbox=[b"one\r\ntw", b""])
        d.handle_read()
        d.handle_read()
        self.assertEqual((d.frames, d.closes, d.errors), ([b"one"], 1, []))
        self.assertTrue(d.socket.closed)


##### use_encoding


class EncodingChat(Chat):
    use_encoding = 1


class EncodingTest(ChatTestCase):
    def test_str_from_recv_is_encoded_and_framed(self):
        # CPython's asynchat would raise TypeError here: bytes(str, encoding) names the type.
        for term in ("\r\n", b"\r\n"):
            d = self.chat(inbox=["hello\r\nwor", "ld\r", "\n", "par"], cls=EncodingChat, terminator=term)
            self.assertEqual(d.get_terminator(), b"\r\n")
            self.drain(d)
            self.assertEqual(d.errors, [])
            self.assertEqual(d.frames, [b"hello", b"world"])
            self.assertEqual(d.pending(), b"par")
            for piece in d.pieces:
                self.assertIsInstance(piece, bytes)
            self.dispose(d)

    def test_str_from_recv_with_counted_terminator(self):
        d = self.chat(inbox=["ab", "cde\n", "x\n"], cls=EncodingChat, terminator=5, script=["\n"])
        self.drain(d)
        self.assertEqual((d.errors, d.frames), ([], [b"abcde", b"", b"x"]))

    def test_str_from_a_producer_is_encoded(self):
        d = self.chat(cls=EncodingChat)
        d.push_with_producer(ListProducer(["abc", b"def"], d.socket))
        for _ in range(4):
            d.initiate_send()
        self.assertEqual(bytes(d.socket.sent), b"abcdef")
        self.assertEqual(d.errors, [])

    def test_the_default_latin_1_is_utf_8_where_the_runtime_has_only_utf_8(self):
        try:
            encoding = "latin-1" if "\u00e9".encode("latin-1") == b"\xe9" else "utf-8"
        except LookupError:  # current MicroPython: UTF-8 only
            encoding = "utf-8"
        d = self.chat(cls=EncodingChat, terminator="\u00e9")
        self.assertEqual(d.get_terminator(), "\u00e9".encode(encoding))
        d.push_with_producer(ListProducer(["caf\u00e9\n"], d.socket))
        self.assertEqual(bytes(d.socket.sent), "caf\u00e9\n".encode(encoding))
        self.assertEqual(d.errors, [])

    @unittest.skipUnless(support.REJECTS_UNKNOWN_ENCODINGS, "this runtime's str.encode ignores the encoding's name")
    def test_an_encoding_the_runtime_cannot_do_fails_when_the_channel_is_made(self):
        class Cp(EncodingChat):
            encoding = "no-such-codec"

        with self.assertRaises(ValueError) as cm:
            self.chat(cls=Cp)
        self.assertIn("no-such-codec", str(cm.exception))
        self.assertEqual(self.m, {}, "the channel was never made")

    @unittest.skipUnless(support.REJECTS_UNKNOWN_ENCODINGS, "this runtime's str.encode ignores the encoding's name")
    def test_an_encoding_changed_later_reaches_handle_error_as_a_value_error(self):
        d = self.chat(inbox=["abc\n"], cls=EncodingChat, terminator=b"\n")
        d.encoding = "no-such-codec"
        self.step((d.socket, IN))
        self.assertEqual([type(e) for e in d.errors], [ValueError])
        self.assertEqual(d.closes, 1, "handle_error's default closes the channel")


##### push


class PushTest(ChatTestCase):
    def test_push_of_str_raises_type_error(self):
        d = self.chat(send_plan=[oserror(EAGAIN)] * 9)
        for bad in ("text", 5, None, ["x"]):
            with self.assertRaises(TypeError):
                d.push(bad)
        self.assertEqual((d.producer_fifo, d.socket.sends), ([], []))
        self.assertFalse(d.writable())
        d.push(b"head")  # the socket takes nothing: queued
        for bad in ("text", 1.5, ["x"]):
            with self.assertRaises(TypeError):
                d.push(bad)
        self.assertEqual(len(d.producer_fifo), 1)  # nothing but b"head" was queued
        d.socket.send_plan = []
        d.initiate_send()
        d.initiate_send()
        self.assertEqual(bytes(d.socket.sent), b"head")

    def test_str_raises_even_with_use_encoding(self):
        d = self.chat(cls=EncodingChat)
        with self.assertRaises(TypeError):
            d.push("text")
        self.assertEqual(d.socket.sends, [])

    def test_bytes_like_types_are_accepted(self):
        d = self.chat()
        d.push(b"bytes|")
        d.push(bytearray(b"bytearray|"))
        d.push(memoryview(b"memoryview|"))
        d.push(memoryview(b"0123456789")[2:5])
        self.assertEqual(bytes(d.socket.sent), b"bytes|bytearray|memoryview|234")
        self.assertEqual(d.errors, [])
        self.assertFalse(d.writable())

    def test_large_bytes_like_push_is_chunked(self):
        payload = bytes(range(30))
        for kind in (bytes, bytearray, memoryview):
            d = self.chat()
            d.ac_out_buffer_size = 8
            d.push(kind(payload))
            self.assertEqual(d.socket.sends, [(payload[:8], 8)])  # push sends one chunk
            for n in (2, 3, 4):
                d.initiate_send()
                self.assertEqual(len(d.socket.sends), n)  # one chunk per initiate_send
            self.assertEqual([offered for offered, taken in d.socket.sends], chunks(payload, 8))
            self.assertFalse(d.writable())
            d.initiate_send()
            self.assertEqual(len(d.socket.sends), 4)
            self.dispose(d)

    def test_partial_sends_and_eagain_through_the_loop(self):
        payload = bytes(range(97)) * 2
        plan = [3, oserror(EAGAIN), 5, 8, 1, oserror(EAGAIN), oserror(EAGAIN), 7, 0, 8, 2]
        d = self.chat(send_plan=plan)
        d.ac_out_buffer_size = 8
        d.push(payload)
        pushed = len(d.socket.sends)
        self.assertEqual(pushed, 1)  # a push larger than a chunk sends its first chunk only
        passes = 0
        while d.writable() and passes < 100:
            self.step((d.socket, OUT))
            passes += 1
        self.assertEqual(bytes(d.socket.sent), payload)
        self.assertEqual(len(d.socket.sends), pushed + passes)  # one send per write event
        offset = 0
        previous = None
        for offered, taken in d.socket.sends:
            self.assertTrue(0 < len(offered) <= 8, offered)
            self.assertEqual(offered, payload[offset : offset + len(offered)])
            if previous is not None and not previous[1]:
                self.assertEqual(offered, previous[0])  # after EAGAIN (or 0) the same bytes again
            offset += taken or 0
            previous = (offered, taken)
        self.assertEqual(offset, len(payload))
        self.assertEqual((d.errors, d.closes, d.connected), ([], 0, True))

    def test_writable_only_while_output_is_queued(self):
        d = self.chat(send_plan=[oserror(EAGAIN)] * 4)
        self.assertFalse(d.writable())
        d.push(b"abc")  # EAGAIN: stays queued
        self.assertTrue(d.writable())
        d.socket.send_plan = []
        self.step()
        self.assertTrue(self.fake.mask(d.socket) & OUT)
        self.step((d.socket, OUT))
        self.assertEqual(bytes(d.socket.sent), b"abc")
        self.assertFalse(d.writable())
        self.step()  # the next pass drops write interest
        self.assertFalse(self.fake.mask(d.socket) & OUT)
        self.assertTrue(self.fake.mask(d.socket) & IN)

    def test_writable_while_not_connected(self):
        d = Chat(map=self.m)
        d.set_socket(LogSocket())
        self.assertFalse(d.connected)
        self.assertTrue(d.writable())
        d.push(b"later")  # nothing goes out before the connection is made
        self.assertEqual(d.socket.sends, [])

    def test_simple_producer(self):
        p = uasynchat.simple_producer(b"abcdefghij", buffer_size=4)
        self.assertEqual([p.more() for _ in range(5)], [b"abcd", b"efgh", b"ij", b"", b""])
        data = bytes(range(100)) * 13
        p = uasynchat.simple_producer(data)
        self.assertEqual([p.more() for _ in range(4)], [data[:512], data[512:1024], data[1024:], b""])

    def test_producers_mixed_with_pushes_keep_order(self):
        plan = [2, oserror(EAGAIN), 1, 4, 3, oserror(EAGAIN), 0, 4, 1]
        d = self.chat(send_plan=plan)
        d.ac_out_buffer_size = 4
        custom = ListProducer([b"c1", bytearray(b"c2-long-piece"), memoryview(b"c3")], d.socket)
        d.push(b"<1>")
        d.push_with_producer(uasynchat.simple_producer(b"simple-producer-data", buffer_size=5))
        d.push(b"<2>")
        d.push_with_producer(custom)
        d.push(b"<3>")
        n = 0
        while d.producer_fifo and n < 200:
            d.initiate_send()
            n += 1
        before = b"<1>simple-producer-data<2>"
        self.assertEqual(bytes(d.socket.sent), before + b"c1c2-long-piecec3<3>")
        self.assertEqual(custom.calls[0], len(before))  # asked only once its turn came
        self.assertEqual(len(custom.calls), 4)  # three pieces, then b"" to say it is done
        for offered, taken in d.socket.sends:
            self.assertTrue(0 < len(offered) <= 4, offered)
        self.assertEqual(d.errors, [])


##### closing and discarding


class CloseTest(ChatTestCase):
    def test_close_when_done_waits_for_everything_queued_before_it(self):
        plan = [5, oserror(EAGAIN), 8, 1, oserror(EAGAIN), 3, 2, 8]
        d = self.chat(send_plan=plan)
        d.ac_out_buffer_size = 8
        first = bytes(range(65, 85))
        d.push(first)
        d.push_with_producer(uasynchat.simple_producer(b"0123456789", buffer_size=3))
        d.close_when_done()
        d.push(b"late")  # queued after close_when_done: never sent
        want = first + b"0123456789"
        passes = 0
        while not d.socket.closed and passes < 100:
            self.assertEqual(d.closes, 0)
            self.step((d.socket, OUT))
            passes += 1
            if len(d.socket.sent) < len(want):
                self.assertFalse(d.socket.closed, "closed with %d bytes unsent" % (len(want) - len(d.socket.sent)))
        self.assertEqual(bytes(d.socket.sent), want)
        self.assertEqual((d.closes, d.errors, d.connected), (1, [], False))
        self.assertEqual(self.m, {})

    def test_close_when_done_with_nothing_queued(self):
        d = self.chat()
        self.assertFalse(d.writable())
        d.close_when_done()
        self.assertTrue(d.writable())
        self.assertFalse(d.socket.closed)
        self.step((d.socket, OUT))
        self.assertTrue(d.socket.closed)
        self.assertEqual((d.closes, d.socket.sends), (1, []))

    def test_discard_buffers_drops_input_and_output(self):
        d = self.chat(inbox=[b"stale data\r"], send_plan=[oserror(EAGAIN)] * 8)
        d.handle_read()
        self.assertEqual(d.pending(), b"stale data\r")  # collected, and a partial terminator held
        d.push(b"unsent")
        d.push_with_producer(uasynchat.simple_producer(b"more"))
        self.assertTrue(d.writable())
        d.discard_buffers()
        self.assertEqual((d.ac_in_buffer, d.incoming, d.producer_fifo), (b"", [], []))
        self.assertFalse(d.writable())
        d.socket.send_plan = []
        self.step((d.socket, OUT))
        self.assertEqual(bytes(d.socket.sent), b"")
        d.socket.inbox.append(b"\nfresh\r\n")
        d.handle_read()
        self.assertEqual(d.frames, [b"\nfresh"])  # no stale bytes, and the held "\r" is gone


##### send errors


class SendErrorTest(ChatTestCase):
    def test_send_error_in_push_goes_to_handle_error(self):
        d = self.chat(send_plan=[oserror(EINVAL)])
        d.push(b"data")
        self.assertEqual(len(d.errors), 1)
        self.assertEqual(d.errors[0].args[0], EINVAL)
        self.assertEqual(d.closes, 1)
        self.assertEqual([t for t, message in d.logged], ["error"])
        self.assertEqual(self.m, {})

    def test_send_error_on_a_write_event_goes_to_handle_error(self):
        d = self.chat(send_plan=[oserror(EAGAIN)] * 4)
        d.push(b"data")
        self.assertEqual((d.errors, d.closes), ([], 0))
        d.socket.send_plan = [oserror(EINVAL)]
        self.step((d.socket, OUT))
        self.assertEqual(len(d.errors), 1)
        self.assertEqual(d.errors[0].args[0], EINVAL)
        self.assertEqual(d.closes, 1)

    def test_broken_pipe_closes_without_handle_error(self):
        d = self.chat(send_plan=[oserror(EPIPE)])
        d.push(b"data")
        self.assertEqual((d.errors, d.closes), ([], 1))


class FifoByHandChat(Chat):
    # Replies by appending to producer_fifo itself, as some asynchat programs do.
    def found_terminator(self):
        self.producer_fifo.append(b"reply:" + self._get_data())


class FifoByHandTest(ChatTestCase):
    def test_reply_appended_in_found_terminator_is_sent(self):
        d = self.chat(inbox=[b"ping\r\n"], cls=FifoByHandChat)
        self.step((d.socket, IN))
        self.step((d.socket, OUT))  # registered for writing before this pass's wait
        self.assertEqual(bytes(d.socket.sent), b"reply:ping")
        self.step()
        self.assertFalse(self.fake.mask(d.socket) & OUT)


##### a real loopback exchange
# Both ends check what they get as it arrives and keep only counts: on a small heap, kept
# replies would fragment it until a recv buffer no longer fits.

BLOB_PATTERN = bytes(range(251))  # a prime period, so reordered 64 KiB chunks would show
LINES = 200


def line(i):
    return b"line %d %s" % (i, b"x" * (i % 37))


class LineProducer:
    # The client's lines, made one at a time as the channel asks for them.
    def __init__(self):
        self.i = 0

    def more(self):
        if self.i == LINES:
            return b""
        self.i += 1
        return line(self.i - 1) + b"\r\n"


class LineServerChannel(uasynchat.async_chat):
    # Echoes each line; "BLOB <n>" switches to counting n bytes, checked as they arrive.
    ac_in_buffer_size = 1024  # MicroPython's recv() allocates the full size it is asked for

    def __init__(self, sock, map, server):
        uasynchat.async_chat.__init__(self, sock, map)
        self.server = server
        self.set_terminator(b"\r\n")

    def collect_incoming_data(self, data):
        if isinstance(self.get_terminator(), int):
            self.server.check_blob(data)
        else:
            self._collect_incoming_data(data)

    def found_terminator(self):
        server = self.server
        if isinstance(self.get_terminator(), int):
            self.push(b"GOT %d %d\r\n" % (server.blob_pos, server.blob_bad))
            self.set_terminator(b"\r\n")
            return
        data = self._get_data()
        if data.startswith(b"BLOB "):
            server.blob_header = data
            self.set_terminator(int(data[5:]))
            return
        if data != line(server.lines):
            server.bad_lines += 1
        server.lines += 1
        self.push(b"echo " + data + b"\r\n")

    def handle_close(self):
        self.server.channel_closed = True
        self.close()


class LineServer(uasyncore.dispatcher):
    def __init__(self, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.channel_map = map
        self.lines = self.bad_lines = 0
        self.blob_header = None
        self.blob_pos = self.blob_bad = 0
        self.channel_closed = False

    def handle_accepted(self, sock, addr):
        LineServerChannel(sock, self.channel_map, self)

    # compare a piece of the blob with the pattern at its offset, without keeping it
    def check_blob(self, data):
        n = len(BLOB_PATTERN)
        i = 0
        while i < len(data):
            off = (self.blob_pos + i) % n
            take = min(n - off, len(data) - i)
            if data[i : i + take] != BLOB_PATTERN[off : off + take]:
                self.blob_bad += 1
            i += take
        self.blob_pos += len(data)


class LineClient(uasynchat.async_chat):
    ac_in_buffer_size = 1024

    def __init__(self, map, blob):
        uasynchat.async_chat.__init__(self, map=map)
        self.blob = blob
        self.echoes = self.bad_echoes = 0
        self.last = None
        self.set_terminator(b"\r\n")

    def handle_connect(self):
        self.push_with_producer(LineProducer())
        self.push(b"BLOB %d\r\n" % len(self.blob))
        self.push(self.blob)
        self.blob = None  # the queue holds the only reference, so the memory goes once sent

    def collect_incoming_data(self, data):
        self._collect_incoming_data(data)

    def found_terminator(self):
        data = self._get_data()
        if data.startswith(b"GOT "):
            self.last = data
            self.close_when_done()
        else:
            if data != b"echo " + line(self.echoes):
                self.bad_echoes += 1
            self.echoes += 1

    def handle_close(self):
        self.close()


class LoopbackTest(unittest.TestCase):
    def setUp(self):
        self.m = {}

    def tearDown(self):
        uasyncore.close_all(self.m)

    def exchange(self, blob_size):
        try:
            blob = BLOB_PATTERN * (blob_size // len(BLOB_PATTERN) + 1)
        except MemoryError:
            self.skipTest("no room on this heap for a %d-byte push" % blob_size)
        size = len(blob)
        server = LineServer(self.m)
        port = support.listen_any(server)
        client = LineClient(self.m, blob)
        blob = None
        client.create_socket()
        client.connect((HOST, port))
        done = support.run_until(lambda: server.channel_closed, map=self.m, passes=5000)
        self.assertTrue(done, "%d echoes, %d of %d blob bytes" % (client.echoes, server.blob_pos, size))
        self.assertEqual((server.lines, server.bad_lines), (LINES, 0))
        self.assertEqual((client.echoes, client.bad_echoes), (LINES, 0))
        self.assertEqual(server.blob_header, b"BLOB %d" % size)
        self.assertEqual((server.blob_pos, server.blob_bad), (size, 0))
        self.assertEqual(client.last, b"GOT %d 0" % size)
        self.assertEqual(list(self.m.values()), [server])  # both chat channels closed

    def test_lines_and_a_small_push(self):
        self.exchange(6000)

    def test_lines_and_a_100k_push(self):
        self.exchange(100 * 1024)


if __name__ == "__main__":
    unittest.main()
