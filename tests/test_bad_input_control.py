# examples/control against bad input (tests/bad_input_corpus.py): bad bytes, over-long, endless,
# truncated and slow lines each get an "ERR nn" line or a closed connection, every reply is one
# well-formed line, and a client asking GET temp on the same map keeps getting its answer.
# The harness is tests/test_bad_input.py. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
from test_control_handler import ControlCase, cs  # noqa: I001  (first: it puts examples/control on sys.path)

import unittest

from test_bad_input import BadInput


# ([the complete reply lines in data, without CRLF], the rest); each must be "OK ..." or "ERR nn ...".
def reply_lines(data):
    data = bytes(data)
    end = data.rfind(b"\r\n") + 2
    lines = data[:end].split(b"\r\n")[:-1]
    for line in lines:
        if not (line.startswith(b"OK ") or line[:4] == b"ERR " and line[4:6].isdigit() and line[6:7] == b" "):
            raise AssertionError("a malformed reply: %r" % line[:80])
    return lines, data[end:]


class ControlBadInput(BadInput, ControlCase):
    request = b"GET temp\r\n"
    starts = (b"OK ", b"ERR ")
    idle = cs.IDLE_TIMEOUT

    def setUp(self):
        ControlCase.setUp(self)
        self.use_live_poller()

    # Each connection has given the token already: the bad input reaches every command's parser.
    def accept(self, io=0):
        sock, conn = BadInput.accept(self, io)
        conn.authenticated = True
        return sock, conn

    def split(self, data, final):
        return reply_lines(data)

    def good(self, answer):
        return answer.startswith(b"OK temp ")

    def matches(self, answer, start):
        return answer.startswith(start)


class CorpusTest(ControlBadInput):
    def test_whole(self):
        self.run_corpus("control")

    def test_in_small_pieces(self):
        self.run_corpus("control", piece=5)

    def test_read_a_byte_at_a_time(self):
        self.run_corpus("control", io=1)

    def test_slowly_and_never_finished(self):
        self.run_corpus("control", piece=40, gap=3, eof=False)

    def test_one_byte_every_second(self):
        got = self.run_bad("trickle", [b"GET temperature, slowly"], piece=1, gap=1, eof=False)
        self.assertEqual(got[1:], [cs.ERR_LINE_TIMEOUT[:-2]], "a line must be done within its timeout")


if __name__ == "__main__":
    unittest.main()
