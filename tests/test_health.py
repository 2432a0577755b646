# Core health: one bad connection never stops the service. A connection whose set-up fails is
# refused and its listener goes on (handle_accept_error); what the OS poller raises for one channel
# stays with that channel; a closed channel leaves nothing behind in the poller. Fake sockets and
# pollers here; tests/test_hostile.py does the same to real loopback sockets.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore
from dispatcher_kit import PEER, FakeTestCase, Recorder, step
from support import IN, FakeSocket, oserror

_port = uasyncore._port
key = _port.key


##### taking a connection


class Handler(Recorder):
    # asyncore's usual handler: it asks the peer's address in its constructor (pyftpdlib, smtpd do),
    # which raises ENOTCONN once the client is gone. A socket marked `breaks` stands for a bug after
    # that: the channel is in the map, with its idle timer, when the constructor raises.
    idle_timeout = 30

    def __init__(self, sock, map):
        Recorder.__init__(self, sock, map)
        self.peer = sock.getpeername()
        if getattr(sock, "breaks", False):
            raise ValueError("a bug in the handler")


class Quiet(uasyncore.dispatcher):
    # A listener that makes a Handler per connection and records what it logs and whether it closed.
    def __init__(self, sock, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.logged = []
        self.closes = 0
        self.set_socket(sock)
        self.listen(5)

    def handle_accepted(self, sock, addr):
        Handler(sock, self._map)

    def log_info(self, message, type="info"):
        self.logged.append((type, message))

    def handle_close(self):
        self.closes += 1
        self.close()


class Listener(Quiet):
    # Quiet, recording the exceptions handle_accept_error() was handed.
    def __init__(self, sock, map):
        self.refused = []
        Quiet.__init__(self, sock, map)

    def handle_accept_error(self):
        self.refused.append(uasyncore.handled_error())


def broken(**kwargs):
    sock = FakeSocket(**kwargs)
    sock.breaks = True
    return sock


class AcceptErrorTest(FakeTestCase):
    # A listener of class cls, one pass that takes every connection in conns: the listener.
    def accepting(self, conns, cls=Listener):
        lsock = FakeSocket(accept_plan=[(c, PEER) for c in conns])
        listener = cls(lsock, self.m)
        step(self.m, self.fake)
        step(self.m, self.fake, (lsock, IN))
        return listener

    # The listener is open, in the map, polled, and was never told to close.
    def assertServing(self, listener):
        self.assertTrue(listener.accepting)
        self.assertIs(self.m.get(key(listener.socket)), listener)
        self.assertFalse(listener.socket.closed)
        self.assertEqual(listener.closes, 0)
        self.assertEqual(self.fake.mask(listener.socket), uasyncore.POLLIN | uasyncore.POLLPRI)

    # The channels besides the listener: exactly one, on sock, registered and served.
    def assertOnlyChannelOn(self, listener, sock):
        channels = [d for d in self.m.values() if d is not listener]
        self.assertEqual([d.socket for d in channels], [sock])
        self.assertEqual(listener.open_connections, 1)
        self.assertEqual(len(support.poller(self.m).timers), 1, "that channel's idle timer, no other")
        step(self.m, self.fake, (sock, IN))
        self.assertEqual(channels[0].events, ["read"])
        self.assertEqual(len(self.fake.masks), 2, "the listener's and that channel's registrations, no more")

    def test_a_client_gone_before_its_handler_asks_getpeername_leaves_the_listener_serving(self):
        gone, stays = FakeSocket(), FakeSocket(peer=PEER)  # no peer: getpeername() raises ENOTCONN
        listener = self.accepting([gone, stays])
        self.assertServing(listener)
        self.assertEqual([e.args[0] for e in listener.refused], [_port.ENOTCONN])
        self.assertTrue(gone.closed)
        self.assertOnlyChannelOn(listener, stays)

    def test_a_constructor_that_fails_half_way_leaves_nothing_behind(self):
        class Budget(Listener):
            max_connections = 1  # the slot the half-made channel took must come back for the next

        bad, good = broken(peer=PEER), FakeSocket(peer=PEER)
        listener = self.accepting([bad, good], Budget)
        self.assertServing(listener)
        self.assertEqual([type(e) for e in listener.refused], [ValueError])
        self.assertTrue(bad.closed)
        self.assertOnlyChannelOn(listener, good)

    def test_by_default_a_refused_connection_is_logged_and_the_listener_stays(self):
        listener = self.accepting([FakeSocket(), broken(peer=PEER)], Quiet)
        self.assertServing(listener)
        self.assertEqual([t for t, m in listener.logged], ["warning", "error"])  # log_info hides warnings
        self.assertIn("client gone", listener.logged[0][1])
        error = listener.logged[1][1]
        self.assertIn("a bug in the handler", error)
        self.assertIn("__init__", error, "the traceback names where it was raised")
        self.assertEqual([d for d in self.m.values() if d is not listener], [])

    # Guard (passes before the change too): accept() itself failing is the listener's own error.
    def test_accept_failing_after_a_connection_was_taken_is_still_the_listeners_error(self):
        class TwoAtATime(Quiet):
            def handle_accept(self):
                for _ in range(2):
                    pair = self.accept()
                    if pair is not None:
                        self.handle_accepted(*pair)

        good = FakeSocket(peer=PEER)
        lsock = FakeSocket(accept_plan=[(good, PEER), oserror(_port.EINVAL)])
        listener = TwoAtATime(lsock, self.m)
        step(self.m, self.fake, (lsock, IN))
        self.assertEqual(listener.closes, 1, "handle_error closed the listener")
        self.assertFalse(good.closed, "the connection taken before is served on")
        self.assertEqual([d.socket for d in self.m.values()], [good])


##### what the OS poller raises


class Refusing(support.FakePoller):
    # A FakePoller whose register() and modify() raise refuse[key], once, for the keys listed there.
    def __init__(self):
        support.FakePoller.__init__(self)
        self.refuse = {}

    def refuse_next(self, sock, exc):
        self.refuse[key(sock)] = exc

    def register(self, k, mask):
        if k in self.refuse:
            raise self.refuse.pop(k)
        support.FakePoller.register(self, k, mask)

    def modify(self, k, mask):
        if k in self.refuse:
            raise self.refuse.pop(k)
        support.FakePoller.modify(self, k, mask)

    # As an OS poller does, and the ports' unregister: quiet about a key it does not hold.
    def unregister(self, k):
        self.masks.pop(k, None)


class PollerErrorTest(FakeTestCase):
    def setUp(self):
        self.m, self.fake = support.fake_map(Refusing())

    # Two channels, registered; then `hit`'s next registration change raises exc: (hit, other).
    def refused(self, exc):
        hit = Recorder(FakeSocket(peer=PEER), self.m)
        other = Recorder(FakeSocket(peer=PEER), self.m)
        step(self.m, self.fake)
        self.fake.refuse_next(hit.socket, exc)
        hit.pause_reading()  # a modify() at the next pass
        step(self.m, self.fake, (other.socket, IN))
        self.assertEqual(other.events, ["read"], "the others are served in the same pass")
        self.assertIs(self.m.get(key(other.socket)), other)
        return hit, other

    def test_a_socket_closed_behind_its_channels_back_closes_that_channel(self):
        hit = self.refused(oserror(_port.EBADF))[0]
        self.assertEqual(hit.events, ["close"])
        self.assertNotIn(hit, self.m.values())

    def test_anything_else_the_poller_raises_goes_to_that_channels_handle_error(self):
        hit = self.refused(TypeError("not a socket this poller knows"))[0]
        self.assertEqual(hit.events, ["error", "close"])  # Recorder's handle_error: the default's log and close
        self.assertEqual(uasyncore.handled_error(), None)
        self.assertNotIn(hit, self.m.values())

    def test_a_refused_registration_of_a_new_channel_goes_to_it(self):
        sock = FakeSocket(peer=PEER)
        self.fake.refuse_next(sock, oserror(_port.EBADF))
        d = Recorder(sock, self.m)
        other = Recorder(FakeSocket(peer=PEER), self.m)
        step(self.m, self.fake, (other.socket, IN))
        self.assertEqual(d.events, ["close"])
        self.assertEqual(other.events, ["read"])

    # Guard (passes before the change too): Ctrl-C inside the poller is not a channel's error.
    def test_keyboard_interrupt_from_the_poller_stops_the_loop(self):
        sock = FakeSocket(peer=PEER)
        self.fake.refuse_next(sock, KeyboardInterrupt())
        d = Recorder(sock, self.m)
        with self.assertRaises(KeyboardInterrupt):
            step(self.m, self.fake)
        self.assertEqual(d.events, [])


##### bookkeeping a closed channel leaves behind


class Watched(Recorder):
    # A channel whose predicates the loop asks every pass.
    def readable(self):
        return True


class Counted(Recorder):
    # A channel that reports its interest changes, counting how often readable() is asked.
    reports_interest = True
    asked = 0

    def readable(self):
        self.asked += 1
        return True


class BookkeepingTest(FakeTestCase):
    def setUp(self):
        self.m, self.fake = support.fake_map(Refusing())

    def test_a_channel_closed_while_being_registered_is_not_asked_for_again(self):
        Recorder(FakeSocket(peer=PEER), self.m)  # the map never empties, so keeps its (fake) poller
        sock = FakeSocket(peer=PEER)
        self.fake.refuse_next(sock, MemoryError())
        d = Watched(sock, self.m)
        step(self.m, self.fake)
        self.assertTrue(sock.closed)
        self.assertEqual([t for t, m in d.logged], ["error"])
        sock.closed = False  # the same key for a channel of another kind
        c = Counted(sock, self.m)
        for _ in range(3):
            step(self.m, self.fake)
        self.assertEqual(c.asked, 1, "asked when it joined, not every pass for the one closed before")

    def test_a_channel_whose_socket_was_closed_behind_its_back_gives_its_key_to_the_next(self):
        old = Recorder(FakeSocket(peer=PEER), self.m)
        step(self.m, self.fake)
        old_key = key(old.socket)
        old.socket.close()  # not old.close(): the channel does not know
        self.fake.masks.pop(old_key)  # and the OS poller forgot the socket, as epoll does
        sock = FakeSocket(peer=PEER)
        sock.fd = old.socket.fd  # the OS gives the number to the next socket
        if key(sock) != old_key:
            self.skipTest("keys are socket objects here: a new socket never takes a closed one's key")
        new = Recorder(sock, self.m)
        self.assertEqual(old.events, ["close"])
        step(self.m, self.fake, (sock, IN))
        self.assertEqual(new.events, ["read"])
        self.assertEqual(list(self.m.values()), [new])


if __name__ == "__main__":
    unittest.main()
