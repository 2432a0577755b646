# examples/http against bad input (tests/bad_input_corpus.py): malformed, oversized, truncated and slow
# requests each get a clear error status or a closed connection, and a client asking for
# /api/status on the same map keeps getting 200. The harness is tests/test_bad_input.py.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import http_fakes  # noqa: I001  (first: it puts examples/http on sys.path)

import gc
import unittest

import http_service
from test_bad_input import BadInput

STATUS = b"GET /api/status HTTP/1.1\r\nHost: device\r\n\r\n"

# Every status the service may answer with; a 500 would be a failure of its own, except where a
# MicroPython heap (the 128K run) can run out while the answer is made.
STATUSES = (200, 400, 404, 405, 413, 414, 431, 501, 505) + ((500,) if hasattr(gc, "mem_free") else ())


# ([(status, headers) of each complete response in data], the rest of data). A body is what
# Content-Length says, unless the next response starts right after the head, or (final) nothing
# does: the answer to a HEAD.
def responses(data, final=False):
    data = bytes(data)
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].split(b"\r\n")
        version, status, _ = (lines[0] + b" ").split(b" ", 2)
        if version != b"HTTP/1.1" or not status.isdigit() or int(status) not in STATUSES:
            raise AssertionError("a bad status line: %r" % lines[0][:80])
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise AssertionError("a bad header line: %r" % line[:80])
            headers[name.strip().lower()] = value.strip()
        n = headers.get(b"content-length", b"")
        if not n.isdigit():
            raise AssertionError("a response without its length")
        body = data[end + 4 :]
        if not (body.startswith(b"HTTP/1.1 ") or final and not body):
            if len(body) < int(n):
                break
            body = body[int(n) :]
        out.append((int(status), headers))
        data = body
    return out, data


class HttpBadInput(BadInput, http_fakes.HttpTestCase):
    request = STATUS
    starts = (b"HTTP/1.1 ",)
    idle = http_service.IDLE_TIMEOUT + http_service.LINGER

    def setUp(self):
        http_fakes.HttpTestCase.setUp(self)
        self.use_live_poller()

    def split(self, data, final):
        return responses(data, final)

    def good(self, answer):
        return answer[0] == 200 and answer[1].get(b"connection") == b"keep-alive"

    def matches(self, answer, status):
        return answer[0] == status


class CorpusTest(HttpBadInput):
    def test_whole(self):
        self.run_corpus("http")

    def test_in_small_pieces(self):
        self.run_corpus("http", piece=7)

    def test_read_a_byte_at_a_time(self):
        self.run_corpus("http", io=1)

    def test_slowly_and_never_finished(self):
        self.run_corpus("http", piece=50, gap=1.5, eof=False)

    def test_one_byte_every_half_second(self):
        got = self.run_bad("trickle", [STATUS[:-2]], piece=1, gap=0.5, eof=False)
        self.assertEqual(got, [], "the request's deadline passed before it was complete")


if __name__ == "__main__":
    unittest.main()
