# examples/control: who may change the device. SET needs AUTH <token>; without a token the port is
# read-only; failures are one ERR line each, counted, close the connection after a few, and lock the
# address out for longer each time; the token is never sent back or logged. Fake sockets, a fake
# clock. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
from test_control_handler import PEER, TOKEN, ControlCase, cs, replies  # first: it puts examples/control on sys.path

import sys
import unittest

import control_auth
import support

OTHER = ("192.0.2.7", 40001)  # another client's address


class AuthCase(ControlCase):
    def setUp(self):
        ControlCase.setUp(self)
        self.logged = []

    def log(self, message, type="info"):
        self.logged.append(message)

    # A client that has not given the token; what it logs is kept.
    def stranger(self, peer=PEER):
        sock, conn = self.connect(auth=False, peer=peer)
        conn.log_info = self.log
        return sock, conn

    # Everything the server said or logged never holds the token.
    def assertNoToken(self, *socks):
        for sock in socks:
            self.assertNotIn(TOKEN, bytes(sock.sent))
        for message in self.logged:
            self.assertNotIn(TOKEN.decode(), message)


class RefusedTest(AuthCase):
    def test_a_change_needs_the_token(self):
        sock, conn = self.stranger()
        self.assertEqual(self.feed(sock, b"SET led on\nSET interval 5\n"), [cs.ERR_NOT_AUTHENTICATED[:-2]] * 2)
        self.assertFalse(self.server.device.led_on)
        self.assertEqual(self.server.device.interval, 10)
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\nSET led on\n"), [b"OK authenticated", b"OK led on"])
        self.assertTrue(self.server.device.led_on)
        self.assertNoToken(sock)

    def test_a_token_given_as_a_string_works_as_its_bytes(self):
        self.server.close()
        self.listen(cs.ControlServer(map=self.map, token=TOKEN.decode()))  # as main(token="...") passes it
        sock, conn = self.stranger()
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\nSET led on\n"), [b"OK authenticated", b"OK led on"])

    def test_reading_needs_no_token_unless_the_server_says(self):
        sock, conn = self.stranger()
        got = self.feed(sock, b"GET temp\nSTATUS\nHELP\n")
        self.assertEqual([g[:3] for g in got], [b"OK ", b"OK ", b"OK "])
        self.server.auth_reads = True
        got = self.feed(sock, b"GET temp\nSTATUS\nHELP\n")
        self.assertEqual(got[:2], [cs.ERR_NOT_AUTHENTICATED[:-2]] * 2)
        self.assertTrue(got[2].startswith(b"OK commands: "), "HELP is never refused")
        self.feed(sock, b"AUTH " + TOKEN + b"\n")
        self.assertEqual(self.feed(sock, b"GET temp\n"), [b"OK temp 19.5"])

    def test_without_a_token_the_port_is_read_only(self):
        self.server.token = None
        sock, conn = self.stranger()
        got = self.feed(sock, b"SET led on\nAUTH anything\nGET temp\n")
        self.assertEqual(got, [cs.ERR_READ_ONLY[:-2], cs.ERR_READ_ONLY[:-2], b"OK temp 19.5"])
        self.assertFalse(self.server.device.led_on)
        self.assertEqual(self.server.guesses.total, 0, "nothing to guess")

    def test_the_token_is_one_word(self):
        sock, conn = self.stranger()
        self.assertEqual(self.feed(sock, b"AUTH\n"), [b"ERR 21 missing argument: AUTH <token>"])
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b" more\n"), [b"ERR 22 extra argument"])
        self.assertFalse(conn.authenticated)
        self.assertEqual(self.feed(sock, b"auth " + TOKEN + b"\n"), [b"OK authenticated"], "the command word is any case")

    def test_each_connection_gives_it(self):
        a, conn_a = self.stranger()
        self.feed(a, b"AUTH " + TOKEN + b"\n")
        b, conn_b = self.stranger()
        self.assertEqual(self.feed(b, b"SET led on\n"), [cs.ERR_NOT_AUTHENTICATED[:-2]])


class FailureTest(AuthCase):
    def test_a_wrong_token_is_one_err_line_and_counted(self):
        sock, conn = self.stranger()
        for wrong in (TOKEN[:-1], TOKEN + b"x", TOKEN.upper(), b"x"):
            self.clock.advance(control_auth.LOCKOUT_MAX)  # past the lockout: each is tried
            self.assertEqual(self.feed(sock, b"AUTH " + wrong + b"\n"), [cs.ERR_AUTH[:-2]])
            self.assertFalse(sock.closed)
            conn.auth_failures = 0  # (this test is about the reply, not the close)
        self.assertEqual(self.server.guesses.total, 4)
        self.assertFalse(conn.authenticated)
        self.assertNoToken(sock)

    def test_the_connection_closes_after_a_few_failures(self):
        sock, conn = self.stranger()
        for n in range(cs.AUTH_TRIES):
            self.clock.advance(control_auth.LOCKOUT_MAX)
            got = self.feed(sock, b"AUTH guess%d\n" % n)
        self.assertEqual(got, [cs.ERR_AUTH_LAST[:-2]])
        self.step(sock, support.OUT)
        self.assertTrue(sock.closed)
        self.assertEqual(self.server.open_connections, 0)

    def test_an_address_waits_longer_after_each_failure(self):
        sock, conn = self.stranger()
        self.feed(sock, b"AUTH guess\n")
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\n"), [cs.ERR_AUTH_WAIT[:-2] % 1], "not tried, even right")
        self.assertFalse(conn.authenticated)
        conn.close()
        sock, conn = self.stranger()  # a new connection does not start afresh
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\n"), [cs.ERR_AUTH_WAIT[:-2] % 1])
        waits = []
        for n in range(8):
            conn.close()
            sock, conn = self.stranger()
            left = self.server.guesses.wait(PEER[0])
            waits.append(left)
            self.clock.advance(left)
            self.assertEqual(self.feed(sock, b"AUTH guess%d\n" % n), [cs.ERR_AUTH[:-2]])
        self.assertEqual(waits, [1, 2, 4, 8, 16, 32, 60, 60])

    def test_a_guessing_loop_is_throttled(self):
        # a client guessing as fast as it can, for ten minutes, each guess on a new connection
        tried = 0
        for _ in range(6000):
            sock, conn = self.stranger()
            if self.feed(sock, b"AUTH guess\n") == [cs.ERR_AUTH[:-2]]:
                tried += 1
            conn.close()
            self.clock.advance(0.1)
        self.assertEqual(tried, self.server.guesses.total)
        self.assertLessEqual(tried, 16, "at most one guess a minute once the lockout is at its longest")

    def test_the_right_token_clears_the_address(self):
        sock, conn = self.stranger()
        self.feed(sock, b"AUTH guess\n")
        self.clock.advance(1)
        self.assertEqual(self.feed(sock, b"AUTH " + TOKEN + b"\n"), [b"OK authenticated"])
        self.assertEqual(self.server.guesses.wait(PEER[0]), 0)
        self.assertEqual(self.server.guesses.peers, {})

    def test_other_addresses_are_not_held_up(self):
        sock, conn = self.stranger()
        self.feed(sock, b"AUTH guess\n")
        other, conn = self.stranger(OTHER)
        self.assertEqual(self.feed(other, b"AUTH " + TOKEN + b"\n"), [b"OK authenticated"])

    def test_failures_are_forgotten_after_a_while(self):
        sock, conn = self.stranger()
        for n in range(2):
            self.clock.advance(control_auth.LOCKOUT_MAX)
            self.feed(sock, b"AUTH guess\n")
        self.clock.advance(control_auth.FORGET)
        self.assertEqual(self.server.guesses.wait(PEER[0]), 0)
        self.assertEqual(self.server.guesses.peers, {})

    def test_the_addresses_kept_are_bounded(self):
        guesses = self.server.guesses
        for n in range(control_auth.PEERS * 3):
            guesses.failed("10.0.0.%d" % n)
            self.clock.advance(0.01)
        self.assertEqual(len(guesses.peers), control_auth.PEERS)
        self.assertIn("10.0.0.%d" % (control_auth.PEERS * 3 - 1), guesses.peers, "the quiet ones go first")
        self.assertNotIn("10.0.0.0", guesses.peers)


class SecrecyTest(AuthCase):
    def test_no_reply_or_log_holds_the_token(self):
        def broken(on):
            raise OSError(5, "pin")

        sock, conn = self.stranger()
        self.server.device.set_led = broken
        self.feed(sock, b"HELP\nSTATUS\nAUTH " + TOKEN[:4] + b"\nAUTH " + TOKEN + b"\n")  # a failure, then locked out
        self.clock.advance(1)
        self.feed(sock, b"AUTH " + TOKEN + b"\nSET led on\nAUTH " + TOKEN + b" x\nSTATUS\n")
        self.feed(sock, b"AUTH " + TOKEN + b"X" * 200 + b"\n")  # too long: answered without echoing it
        self.assertTrue(any(b"ERR 50" in line for line in replies(sock.sent)))
        self.assertEqual(len(self.logged), 1, "the failed SET")
        self.assertNoToken(sock)
        self.assertNotIn(TOKEN[:4], bytes(sock.sent), "not even the part of it a guess had right")


class CompareTest(unittest.TestCase):
    def test_same(self):
        same = control_auth.same
        self.assertTrue(same(b"abc", b"abc"))
        for given in (b"", b"ab", b"abd", b"abcd", b"xbc", b"ABC", b"abcabc"):
            self.assertFalse(same(given, b"abc"), given)

    def test_the_token_comes_from_the_environment_else_secrets(self):
        real_os = control_auth.os
        saved = sys.modules.get("secrets")
        self.addCleanup(setattr, control_auth, "os", real_os)
        self.addCleanup(self.restore_secrets, saved)

        class Env:
            def __init__(self, env):
                self.env = env

            def getenv(self, name):
                return self.env.get(name)

        class Secrets:
            CONTROL_TOKEN = "from-secrets"

        sys.modules["secrets"] = Secrets
        control_auth.os = Env({"CONTROL_TOKEN": "from-env"})
        self.assertEqual(control_auth.configured_token(), b"from-env")
        control_auth.os = Env({"CONTROL_TOKEN": ""})
        self.assertIsNone(control_auth.configured_token(), "set but empty: none, whatever secrets.py says")
        control_auth.os = Env({})
        self.assertEqual(control_auth.configured_token(), b"from-secrets")
        control_auth.os = object()  # a board: no environment
        self.assertEqual(control_auth.configured_token(), b"from-secrets")
        Secrets.CONTROL_TOKEN = ""
        self.assertIsNone(control_auth.configured_token(), "an empty token is none")
        del sys.modules["secrets"]
        self.assertIsNone(control_auth.configured_token())

    def restore_secrets(self, saved):
        if saved is None:
            sys.modules.pop("secrets", None)
        else:
            sys.modules["secrets"] = saved


if __name__ == "__main__":
    unittest.main()
