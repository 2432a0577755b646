# Bad input made up by hypothesis for examples/http and examples/control: noise, requests and command
# lines built from odd pieces, good requests and the corpus's entries mutated, all sent whole, in
# pieces, slowly or never finished. The same checks as for the fixed corpus (tests/test_bad_input.py): a clear error
# answer or a closed connection, and another client on the same map keeps being served.
# CPython only: without hypothesis (always so on MicroPython) the module skips itself.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:
    raise unittest.SkipTest("hypothesis is not installed")

from test_bad_input import corpus, pieces
from test_bad_input_control import ControlBadInput
from test_bad_input_http import STATUS, HttpBadInput

SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# data with a few bytes inserted, deleted, repeated or replaced here and there.
@st.composite
def mutated(draw, base):
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "repeat", "replace"]))
        n = draw(st.integers(1, 40))
        if op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=n))
        elif op == "delete":
            del data[at : at + n]
        elif op == "repeat":
            data[at:at] = data[at : at + n] * draw(st.integers(1, 60))
        else:
            data[at : at + n] = draw(st.sampled_from([b"\r", b"\n", b"\x00", b" ", b":", b"\xff", b"\r\n\r\n"]))
    return bytes(data)


def joined(*parts):
    return st.tuples(*parts).map(b"".join)


# The corpus's entries (the shorter ones) as bytes, to mutate.
def seeds(which):
    whole = [b"".join(pieces(parts)) for _, parts, _ in corpus(which)]
    return st.sampled_from([data for data in whole if len(data) <= 600])


eol = st.sampled_from([b"\r\n", b"\n", b"\r", b"", b"\r\r\n", b"\n\r"])

##### HTTP

GOOD_REQUESTS = st.sampled_from(
    [
        STATUS,
        b"GET / HTTP/1.1\r\nHost: device\r\nConnection: close\r\n\r\n",
        b"HEAD /api/status HTTP/1.0\r\n\r\n",
        b"GET /?x=1 HTTP/1.1\r\nHost: device\r\nContent-Length: 5\r\n\r\nhello",
    ]
)
method = st.sampled_from([b"GET", b"HEAD", b"POST", b"get", b"G\x00T", b"", b"OPTIONS", b"GET" * 30])
target = st.sampled_from([b"/", b"/api/status", b"*", b"http://device/api/status", b"/%00", b"/\xff", b"//" * 300, b""])
version = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/9.9", b"HTTP/1.1 x", b"", b"http/1.1"])
header = joined(
    st.sampled_from([b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"X", b"Bad Name", b""]),
    st.sampled_from([b": ", b":", b" : ", b""]),
    st.sampled_from([b"device", b"0", b"-1", b"99999999999999999999", b"chunked", b"close", b"keep-alive", b"\x00", b"v" * 300]),
    eol,
)
built_request = joined(
    method, st.sampled_from([b" ", b"  ", b"\t"]), target, st.just(b" "), version, eol,
    st.lists(header, max_size=6).map(b"".join), eol, st.binary(max_size=30),
)
http_input = st.one_of(st.binary(max_size=300), mutated(GOOD_REQUESTS), mutated(seeds("http")), built_request, mutated(built_request))

##### control

word = st.sampled_from(
    [b"GET", b"SET", b"HELP", b"STATUS", b"QUIT", b"get", b"temp", b"led", b"on", b"off", b"interval",
     b"mem", b"0", b"3600", b"3601", b"-1", b"9" * 30, b"\xc3\xa9", b"\x00", b"\x1b[A", b"x" * 140]
)
line = joined(st.lists(word, max_size=5).map(b" ".join), eol)
control_input = st.one_of(
    st.binary(max_size=300),
    st.lists(line, max_size=12).map(b"".join),
    mutated(st.lists(line, min_size=1, max_size=6).map(b"".join)),
    mutated(seeds("control")),
)

##### how it is sent

piece = st.sampled_from([0, 0, 1, 3, 64])
gap = st.sampled_from([0, 0, 0.5, 4])
io = st.sampled_from([0, 0, 0, 1])


class HttpGenerated(HttpBadInput):
    @SETTINGS
    @given(http_input, piece, st.booleans(), gap, io)
    def test_made_up_requests(self, data, piece, eof, gap, io):
        self.run_bad(repr(data[:60]), [data], eof=eof, piece=piece, gap=gap, io=io)


class ControlGenerated(ControlBadInput):
    @SETTINGS
    @given(control_input, piece, st.booleans(), gap, io)
    def test_made_up_lines(self, data, piece, eof, gap, io):
        self.run_bad(repr(data[:60]), [data], eof=eof, piece=piece, gap=gap, io=io)


if __name__ == "__main__":
    unittest.main()
