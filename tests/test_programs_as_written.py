# What programs written for CPython's asyncore and asynchat do, and must keep doing here (a review
# found each broken, with stdlib 3.11 beside it): an async_chat subclass with its own recv(), send(),
# initiate_send() or push() (STARTTLS wrappers, lock-holding servers), producer_fifo emptied by hand,
# a channel closed by one event of a poll result, poll() on an empty map, close_all(ignore_all=True),
# compact_traceback() inside handle_error(), out_high = None.
# Runs under pytest on CPython and under `micropython tests/run_mpy.py` alike, on fake sockets.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import sys
import unittest

import uasyncore
import uasynchat
from support import EAGAIN, HOST, IN, OUT, FakeSocket, oserror

PEER = (HOST, 4321)
EIO = 5
HUP = uasyncore._port.POLLHUP


class Chat(uasynchat.async_chat):
    # Records frames and the errno of each handle_error().
    def __init__(self, sock, map):
        self.frames = []
        self.errors = []
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\r\n")

    def collect_incoming_data(self, data):
        self._collect_incoming_data(data)

    def found_terminator(self):
        self.frames.append(self._get_data())

    def handle_error(self):
        self.errors.append(support.handled_errno())


class ProgramTestCase(unittest.TestCase):
    def setUp(self):
        self.m, self.fake = support.fake_map()

    def tearDown(self):
        uasyncore.close_all(self.m)

    def step(self, *events):
        self.fake.script.append(list(events))
        uasyncore.loop(timeout=0, count=1, map=self.m)


class OwnSocketCallsTest(ProgramTestCase):
    # A STARTTLS wrapper's recv(): the socket's "want more" (here EINVAL) reaches it raised, and it
    # says "not now" the way asynchat understood.
    def test_a_recv_wrapper_sees_the_sockets_error_and_its_not_now_moves_nothing(self):
        class Wrapped(Chat):
            def recv(self, n):
                try:
                    return uasynchat.async_chat.recv(self, n)
                except OSError as e:
                    if e.args[0] == uasyncore.EINVAL:
                        raise oserror(EAGAIN)
                    raise

        d = Wrapped(FakeSocket(inbox=[oserror(uasyncore.EINVAL), b"EHLO x\r\n"], peer=PEER), self.m)
        self.step((d.socket, IN))
        self.assertEqual((d.errors, d.connected), ([], True))
        self.step((d.socket, IN))
        self.assertEqual(d.frames, [b"EHLO x"])

    def test_a_recv_override_that_raises_an_error_reaches_handle_error_with_it(self):
        class Failing(Chat):
            def recv(self, n):
                raise oserror(EIO)

        d = Failing(FakeSocket(peer=PEER), self.m)
        self.step((d.socket, IN))
        self.assertEqual(d.errors, [EIO])

    def test_a_send_override_that_raises_goes_to_handle_error_not_out_of_push(self):
        class Failing(Chat):
            def send(self, data):
                raise oserror(EIO)

        d = Failing(FakeSocket(peer=PEER), self.m)
        d.push(b"hello\r\n")
        self.assertEqual(d.errors, [EIO])

    def test_push_goes_through_an_overridden_initiate_send(self):
        calls = []

        class Locked(Chat):
            def initiate_send(self):
                calls.append(len(self.producer_fifo))
                uasynchat.async_chat.initiate_send(self)

        d = Locked(FakeSocket(peer=PEER), self.m)
        d.push(b"hello\r\n")
        self.assertEqual((calls, bytes(d.socket.sent)), ([1], b"hello\r\n"))

    # A relay whose push() only appends, for another channel's handler to fill: the loop must ask its
    # writable() as asyncore did, or the data never leaves.
    def test_a_push_that_only_appends_is_polled_for_writing(self):
        class Appending(Chat):
            def push(self, data):
                self.producer_fifo.append(data)

        d = Appending(FakeSocket(peer=PEER), self.m)
        self.step()
        d.push(b"relayed\r\n")
        self.step()
        self.assertTrue(self.fake.masks.get(uasyncore._port.key(d.socket), 0) & OUT)
        self.step((d.socket, OUT))
        self.assertEqual(bytes(d.socket.sent), b"relayed\r\n")

    def test_a_plain_async_chat_keeps_its_fast_paths(self):
        d = Chat(FakeSocket(peer=PEER), self.m)
        self.assertTrue(d._io_errors_handled)
        self.assertFalse(support.asked_every_pass(d))


class QueueByHandTest(ProgramTestCase):
    # Output over out_high pauses reading; a program that then empties producer_fifo itself (drops a
    # slow client's backlog) must get its reading back, and no write interest left spinning.
    def test_a_fifo_emptied_by_hand_ends_the_pause(self):
        sock = FakeSocket(peer=PEER)
        sock.stalled = True
        d = Chat(sock, self.m)
        self.step()
        d.push(b"x" * (d.out_high + 1))
        self.assertTrue(d._reading_paused)
        self.step()
        d.producer_fifo.clear()
        self.step((sock, OUT))
        self.assertFalse(d._reading_paused)
        self.step()
        self.assertFalse(self.fake.masks.get(uasyncore._port.key(sock), 0) & OUT)

    def test_out_high_none_never_pauses(self):
        sock = FakeSocket(peer=PEER)
        sock.stalled = True
        d = Chat(sock, self.m)
        n = d.out_high + 1  # the port's: what would pause
        d.out_high = None
        d.push(b"x" * n)
        self.assertFalse(d._reading_paused)


class LoopTest(ProgramTestCase):
    # Read, write and hang-up in one poll result: a channel its read closed gets nothing more (a
    # second handle_close() broke programs that keep a list of clients).
    def test_a_channel_closed_by_its_read_gets_no_later_event_of_that_result(self):
        log = []

        class Closing(uasyncore.dispatcher):
            def handle_read(self):
                log.append("read")
                self.close()

            def handle_write(self):
                log.append("write")

            def handle_close(self):
                log.append("close")
                self.close()

        d = Closing(FakeSocket(peer=PEER), self.m)
        self.step((d.socket, IN | OUT | HUP))
        self.assertEqual(log, ["read"])

    # A write that closes the channel, with a hang-up in the same result: one handle_close(), its own.
    def test_a_channel_closed_by_its_write_gets_no_hang_up_after(self):
        log = []

        class Closing(uasyncore.dispatcher):
            def handle_write(self):
                log.append("write")
                self.handle_close()

            def handle_close(self):
                log.append("close")
                self.close()

        d = Closing(FakeSocket(peer=PEER), self.m)
        self.step()
        self.step((d.socket, OUT | HUP))
        self.assertEqual(log, ["write", "close"])

    def test_poll_on_an_empty_map_returns_without_waiting(self):
        uasyncore.poll(5.0, self.m)
        self.assertEqual(self.fake.waits, [0])

    def test_close_all_ignoring_errors_takes_one_without_an_errno(self):
        class Bad:
            def close(self):
                raise OSError()

        m = {1: Bad()}
        uasyncore.close_all(m, ignore_all=True)
        self.assertEqual(m, {})

    # A socket error async_chat's recv() met reaches handle_error() inside an except, as asynchat's
    # did: where sys.exc_info() exists it names that error, even when the loop runs inside an except.
    def test_handle_error_for_a_socket_error_runs_in_an_except(self):
        seen = []

        class Described(Chat):
            def handle_error(self):
                seen.append(uasyncore.compact_traceback()[1])
                if hasattr(sys, "exc_info"):
                    seen.append(sys.exc_info()[0])

        d = Described(FakeSocket(inbox=[oserror(EIO)], peer=PEER), self.m)
        try:
            raise KeyError("the program's own")
        except KeyError:
            self.step((d.socket, IN))
        self.assertTrue(seen and all(issubclass(t, OSError) for t in seen), seen)


if __name__ == "__main__":
    unittest.main()
