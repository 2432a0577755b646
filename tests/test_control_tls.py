# examples/control with STARTTLS: the line protocol switches to TLS in place after its "OK begin TLS"
# (on fake SSL objects, tests/tls_fakes.py); AUTH only over TLS unless the server opts out; plaintext
# that followed STARTTLS is dropped, and so is what was granted in clear; a TLS budget. Fake sockets, a
# fake clock. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike; real clients are in
# test_tls_real.py.
from test_control_handler import TOKEN, ControlCase, cs, replies  # first: it puts examples/control on sys.path

import unittest

import support
import uasyncore_tls
from tls_fakes import FakeContext, FakeMbedTLS

ERR = lambda reply: reply[:-2]  # noqa: E731  (a reply constant as replies() gives it back)


class StartTLSCase(ControlCase):
    def setUp(self):
        ControlCase.setUp(self)
        self.contexts = []
        self.server.context = self  # wrap_socket() below hands out a fake SSL object per connection
        self.server.tls_budget = None

    def wrap_socket(self, sock, **kw):
        ctx = FakeContext(FakeMbedTLS())
        self.contexts.append(ctx)
        return ctx.wrap_socket(sock, **kw)

    # A client that switched to TLS: (raw socket, its SSL object, the connection).
    def switched(self):
        sock, conn = self.connect(auth=False)
        self.assertEqual(self.feed(sock, b"STARTTLS\n"), [ERR(cs.BEGIN_TLS)])
        return sock, self.contexts[-1].sslobj, conn

    # Lines through the SSL object, stepped until read; the reply lines that came back over TLS.
    def feed_tls(self, s, data):
        start = len(s.wire)
        s.inbox.append(data)
        passes = 100
        while s.inbox and passes:
            self.step(s)
            passes -= 1
        return replies(s.wire[start:])


class StartTLSTest(StartTLSCase):
    def test_the_connection_switches_to_tls_after_its_reply(self):
        sock, s, conn = self.switched()
        sock.sent = bytearray()
        self.assertIsInstance(conn.socket, uasyncore_tls.TLSSocket)
        self.assertIs(s.raw, sock)
        self.assertEqual(self.contexts[-1].wraps[0][1]["server_side"], True)
        self.assertEqual(self.feed_tls(s, b"GET temp\n"), [b"OK temp 19.5"])
        self.assertEqual(bytes(sock.sent), b"", "nothing more in clear")

    def test_auth_is_taken_only_over_tls(self):
        sock, conn = self.connect(auth=False)
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\nSET led on\n"),
                         [ERR(cs.ERR_TLS_FIRST), ERR(cs.ERR_NOT_AUTHENTICATED)])
        self.assertEqual(self.server.guesses.total, 0, "not a guess: the token was not looked at")
        self.feed(sock, b"STARTTLS\n")
        s = self.contexts[-1].sslobj
        self.assertEqual(self.feed_tls(s, b"AUTH " + TOKEN + b"\nSET led on\n"), [b"OK authenticated", b"OK led on"])
        self.assertTrue(self.server.device.led_on)

    def test_a_server_may_take_auth_in_clear_when_told(self):
        self.server.auth_plaintext = True
        sock, conn = self.connect(auth=False)
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\nSET led on\n"), [b"OK authenticated", b"OK led on"])

    def test_help_says_how(self):
        sock, conn = self.connect(auth=False)
        got = self.feed(sock, b"HELP\n")[0]
        self.assertTrue(got.startswith(b"OK commands: HELP, STARTTLS, GET "), got)
        self.assertTrue(got.endswith(b"STARTTLS, then AUTH <token>, before SET"), got)

    def test_plaintext_after_starttls_is_dropped_and_so_is_what_was_granted_in_clear(self):
        self.server.auth_plaintext = True
        sock, conn = self.connect(auth=False)
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\nSTARTTLS\nSET led on\nGET temp\n"),
                         [b"OK authenticated", ERR(cs.BEGIN_TLS)])
        s = self.contexts[-1].sslobj
        self.step(s, support.OUT)
        self.assertEqual(bytes(s.wire), b"", "the lines that came in clear after STARTTLS are not answered")
        self.assertEqual(self.feed_tls(s, b"SET led on\n"), [ERR(cs.ERR_NOT_AUTHENTICATED)])
        self.assertFalse(self.server.device.led_on)

    def test_starttls_once(self):
        sock, s, conn = self.switched()
        self.assertEqual(self.feed_tls(s, b"STARTTLS\nSTARTTLS now\n"), [ERR(cs.ERR_TLS_ALREADY), ERR(cs.ERR_EXTRA)])
        self.assertEqual(len(self.contexts), 1)

    def test_the_tls_budget_turns_away_one_more_until_a_tls_connection_closes(self):
        self.server.tls_budget = 1
        sock, s, conn = self.switched()
        other, other_conn = self.connect(auth=False)
        self.assertEqual(self.feed(other, b"STARTTLS\n"), [ERR(cs.ERR_TLS_BUSY)])
        self.assertEqual(self.feed(other, b"GET temp\n"), [b"OK temp 19.5"], "it goes on in clear")
        self.assertEqual(self.feed_tls(s, b"QUIT\n"), [ERR(cs.BYE)])
        self.step(s, support.OUT)  # what the write of the last reply makes way for: the close
        self.assertTrue(s.closed)
        self.assertEqual(self.server.tls_connections, 0)
        self.assertEqual(self.feed(other, b"STARTTLS\n"), [ERR(cs.BEGIN_TLS)])


class NoTLSTest(ControlCase):
    def test_without_a_certificate_auth_is_taken_in_clear_and_starttls_refused(self):
        sock, conn = self.connect(auth=False)
        self.assertEqual(self.feed(sock, b"STARTTLS\nAUTH " + TOKEN + b"\n"), [ERR(cs.ERR_NO_TLS), b"OK authenticated"])
        got = self.feed(sock, b"HELP\n")[0]
        self.assertNotIn(b"STARTTLS", got)


if __name__ == "__main__":
    unittest.main()
