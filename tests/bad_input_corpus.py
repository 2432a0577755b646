# Bad input for the examples' services, kept as data: tests/test_bad_input_http.py and
# tests/test_bad_input_control.py feed every entry on CPython and MicroPython, and
# tests/test_bad_input_gen.py (CPython, hypothesis) mutates them into more.
#
# An entry is (name, parts, expected). parts are what the client sends, in the pieces it sends them;
# a part (b, n) stands for b * n. expected is the HTTP status, or the start of a control reply, that
# the client must get among its answers; None when a close (or any well-formed answer) is all that can
# be asked.
#
# The tests read this file rather than import it (tests/test_bad_input.py, corpus()): each `yield`
# line is evaluated when its entry comes up, with the constants above the first `def` in scope, so a
# 128K heap never holds the corpus (imported, its constants alone take 12 KB there). So: one entry
# per line, and nothing but constants at the top.

HOST = b"Host: device\r\n"
STATUS = b"GET /api/status HTTP/1.1\r\n" + HOST + b"\r\n"


# Requests for examples/http.
def http():
    yield "binary noise", [b"\x00\xff\x10\x80" * 20, b"\r\n"], 400
    yield "TLS client hello", [b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x5e\x8b\x00\x00\x08\x13\x02"], None
    yield "request line without a version", [b"GET /\r\n\r\n"], 400
    yield "request line of spaces", [b"   \r\n", HOST, b"\r\n"], 400
    yield "extra spaces in the request line", [b"GET  / HTTP/1.1\r\n", HOST, b"\r\n"], 400
    yield "HTTP/2.0", [b"GET / HTTP/2.0\r\n", HOST, b"\r\n"], 505
    yield "lower-case version", [b"GET / http/1.1\r\n", HOST, b"\r\n"], 400
    yield "version with letters", [b"GET / HTTP/1.x\r\n", HOST, b"\r\n"], 400
    yield "method with a slash", [b"G/T / HTTP/1.1\r\n", HOST, b"\r\n"], 400
    yield "no Host", [b"GET / HTTP/1.1\r\n\r\n"], 400
    yield "two Hosts", [b"GET / HTTP/1.1\r\n", HOST, HOST, b"\r\n"], 400
    yield "bare CR in the request line", [b"GET /\r HTTP/1.1\r\n", HOST, b"\r\n"], 400
    yield "NUL in a header", [b"GET / HTTP/1.1\r\nHost: de\x00vice\r\n\r\n"], 400
    yield "folded header", [b"GET / HTTP/1.1\r\n", HOST, b" folded\r\n\r\n"], 400
    yield "space before the colon", [b"GET / HTTP/1.1\r\nHost : device\r\n\r\n"], 400
    yield "header without a colon", [b"GET / HTTP/1.1\r\n", HOST, b"NoColon\r\n\r\n"], 400
    yield "UTF-8 in the path", [b"GET /\xc3\xa9t\xc3\xa9 HTTP/1.1\r\n", HOST, b"\r\n"], 400
    yield "target of another scheme", [b"GET ftp://device/ HTTP/1.1\r\n", HOST, b"\r\n"], 400
    yield "unknown path", [b"GET /etc/passwd HTTP/1.1\r\n", HOST, b"\r\n"], 404
    yield "path climbing out", [b"GET /../../etc/passwd HTTP/1.1\r\n", HOST, b"\r\n"], 404
    yield "HEAD of an unknown path", [b"HEAD /nope HTTP/1.1\r\n", HOST, b"\r\n"], 404
    yield "POST with a body", [b"POST /api/status HTTP/1.1\r\n", HOST, b"Content-Length: 5\r\n\r\nhello"], 405
    yield "negative length", [b"GET / HTTP/1.1\r\n", HOST, b"Content-Length: -1\r\n\r\n"], 400
    yield "length in hex", [b"GET / HTTP/1.1\r\n", HOST, b"Content-Length: 0x10\r\n\r\n"], 400
    yield "two different lengths", [b"GET / HTTP/1.1\r\n", HOST, b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"], 400
    yield "length of 20 digits", [b"GET / HTTP/1.1\r\n", HOST, b"Content-Length: 99999999999999999999\r\n\r\n"], 413
    yield "body over the limit", [b"GET / HTTP/1.1\r\n", HOST, b"Content-Length: 300\r\n\r\n", (b"z", 300)], 413
    yield "chunked body", [b"POST / HTTP/1.1\r\n", HOST, b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"], 501
    yield "request line of 3000 bytes", [b"GET /", (b"a", 3000), b" HTTP/1.1\r\n", HOST, b"\r\n"], 414
    yield "request line that never ends", [b"GET /", (b"a", 4000)], 414
    yield "40 headers", [b"GET / HTTP/1.1\r\n", HOST, (b"X-A: 1\r\n", 40), b"\r\n"], 431
    yield "a header of 3000 bytes", [b"GET / HTTP/1.1\r\n", HOST, b"X-Big: ", (b"b", 3000), b"\r\n\r\n"], 431
    yield "endless blank lines", [(b"\r\n", 1500)], None
    yield "head cut short", [b"GET /api/status HTTP/1.1\r\nHo"], None
    yield "body cut short", [b"GET / HTTP/1.1\r\n", HOST, b"Content-Length: 100\r\n\r\nabc"], None
    yield "good request, then garbage", [STATUS, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"], 200
    yield "bare LF line ends", [b"GET /api/status HTTP/1.1\n", HOST[:-2], b"\n\n"], 200


# Lines for examples/control.
def control():
    yield "NUL bytes", [(b"\x00", 50), b"\n"], b"ERR 11"
    yield "bytes over 127", [b"\xff\xfe\xfd\n"], b"ERR 11"
    yield "telnet negotiation", [b"\xff\xfb\x01\xff\xfd\x03\r\n"], b"ERR 11"
    yield "terminal escapes", [b"\x1b[A\x1b[B\n"], b"ERR 11"
    yield "UTF-8 argument", [b"SET led \xc3\xb6n\n"], b"ERR 11"
    yield "CR inside a line", [b"GET temp\rGET mem\n"], b"ERR 11"
    yield "unknown command", [b"FOO bar\n"], b"ERR 20"
    yield "an HTTP request", [b"GET / HTTP/1.1\r\nHost: device\r\n\r\n"], b"ERR"
    yield "number of 26 digits", [b"SET interval 99999999999999999999999999\n"], b"ERR 24"
    yield "a line of 128 bytes", [(b"x", 128), b"\n"], b"ERR 20"
    yield "a line of 129 bytes", [(b"x", 129), b"\n"], b"ERR 10"
    yield "a line of 1000 bytes", [(b"A", 1000), b"\n"], b"ERR 10"
    yield "a line that never ends", [(b"B", 4000)], b"ERR 10"
    yield "nothing but CRs", [(b"\r", 300)], b"ERR 10"
    yield "500 blank lines", [(b"\n", 500)], None
    yield "cut short", [b"GET te"], None
    yield "tabs between words", [b"GET\ttemp\n"], b"OK temp"
    yield "200 commands at once", [(b"GET temp\n", 200)], b"OK temp"
    yield "QUIT, then more", [b"QUIT\n", (b"GET temp\n", 20)], b"OK bye"
