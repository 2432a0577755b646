# examples/http in process, what is refused: malformed requests, unwanted methods and paths, requests
# over the size limits, each with its status code, and how the connection ends afterwards.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
from http_fakes import GET, HttpTestCase, ShutdownSocket, http_service, parse_responses  # first: it puts examples/http on sys.path


##### malformed and unwanted requests


class MalformedTest(HttpTestCase):
    def test_bad_request_lines(self):
        for line in (
            b"GARBAGE",
            b"GET /",
            b"GET  / HTTP/1.1",
            b" GET / HTTP/1.1",
            b"GET / HTTP/1.1 extra",
            b"GET / HTTX/1.1",
            b"GET / HTTP/1.x",
            b"GET / HTTP/11",
            b"G(T / HTTP/1.1",
            b"GET nothing HTTP/1.1",
            b"GET /a\x7fb HTTP/1.1",
            b"GET /\rx HTTP/1.1",
            b"GET /\x00 HTTP/1.1",
            b"GET ftp://host/ HTTP/1.1",
        ):
            self.assertStatus(line + b"\r\nHost: d\r\n\r\n", 400)

    def test_bad_headers(self):
        for header in (
            b"NoColon",
            b"Bad Name: x",
            b"Name : x",
            b": empty name",
            b" folded: line",
            b"X: a\rb",
            b"Content-Length: -1",
            b"Content-Length: 12abc",
            b"Content-Length:",
        ):
            self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\n" + header + b"\r\n\r\n", 400)

    def test_conflicting_content_lengths(self):
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", 400)

    def test_http11_needs_one_host(self):
        self.assertStatus(b"GET / HTTP/1.1\r\n\r\n", 400)
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)

    def test_other_major_version(self):
        self.assertStatus(b"GET / HTTP/2.0\r\nHost: d\r\n\r\n", 505)

    def test_unknown_paths(self):
        for path in (b"/index.html", b"/api", b"/api/status/", b"/API/STATUS", b"/favicon.ico", b"*"):
            self.assertStatus(GET % path, 404, closes=False)

    def test_no_path_traversal(self):
        for path in (
            b"/../etc/passwd",
            b"/api/../api/status",
            b"/./api/status",
            b"//api/status",
            b"/%2e%2e/etc/passwd",
            b"/..%2f..%2fetc%2fpasswd",
            b"/api/status/../../main.py",
            b"/http_service.py",
        ):
            status, headers, body = self.assertStatus(GET % path, 404, closes=False)
            self.assertEqual(body, b"404 Not Found\n")

    def test_other_methods(self):
        for method in (b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"get", b"BREW"):
            status, headers, body = self.assertStatus(method + b" / HTTP/1.1\r\nHost: d\r\n\r\n", 405, closes=False)
            self.assertEqual(headers["allow"], "GET, HEAD")

    def test_post_with_body(self):
        # a small body is read past: the connection goes on with the next request
        got, sock, conn = self.exchange(b"POST /api/status HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\nhello" + GET % b"/")
        self.assertEqual([r[0] for r in got], [405, 200])
        self.assertFalse(sock.closed)

    def test_post_with_big_body_closes(self):
        status, headers, body = self.assertStatus(b"POST / HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\n", 405)
        self.assertEqual(headers["allow"], "GET, HEAD")

    def test_small_body_on_get_is_skipped(self):
        got = self.exchange(b"GET / HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\n\r\nGET " + GET % b"/nope")[0]
        self.assertEqual([r[0] for r in got], [200, 404])

    def test_an_empty_body_declared_as_zero(self):
        # Content-Length: 0 (and 000) is no body: answered, and the connection goes on
        for length in (b"0", b"000"):
            req = b"POST /api/status HTTP/1.1\r\nHost: d\r\nContent-Length: " + length + b"\r\n\r\n"
            got, sock, conn = self.exchange(req + GET % b"/")
            self.assertEqual([r[0] for r in got], [405, 200], length)
            self.assertFalse(sock.closed)

    def test_big_body_on_get(self):
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\nContent-Length: %d\r\n\r\n" % (http_service.MAX_BODY + 1), 413)
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413)

    def test_chunked_request_body(self):
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501)

    def test_long_request_line(self):
        path = b"/" + b"a" * http_service.MAX_REQUEST_LINE
        self.assertStatus(GET % path, 414)

    def test_request_line_at_the_limit_is_fine(self):
        # "GET " + path + " HTTP/1.1\r\n" is exactly MAX_REQUEST_LINE bytes
        path = b"/" + b"a" * (http_service.MAX_REQUEST_LINE - len(b"GET / HTTP/1.1\r\n"))
        self.assertStatus(GET % path, 404, closes=False)

    def test_oversize_headers(self):
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\nX: " + b"a" * http_service.MAX_HEAD + b"\r\n\r\n", 431)
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(http_service.MAX_HEADERS + 1))
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\n" + many + b"\r\n", 431)
        lines = b"".join(b"X-Header-Line-%03d: %s\r\n" % (i, b"v" * 100) for i in range(20))  # each short, all too long
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\n" + lines + b"\r\n", 431)

    def test_oversize_head_is_never_buffered(self):
        sock, conn = self.connect(b"GET / HTTP/1.1\r\nX: ", *[b"a" * 500] * 40)  # 20 KB, never all at once
        self.run_loop()
        self.assertEqual(parse_responses(sock.sent)[0][0], 431)
        self.assertLess(max(sock.recv_sizes), 1024)
        self.assertTrue(sock.closed)
        self.assertGreater(len(sock.inbox), 30, "reading stops at the limit")

    def test_error_on_head_request_has_no_body(self):
        got, sock, conn = self.exchange(b"HEAD / HTTP/1.1\r\n\r\n", head_only=(0,))
        self.assertEqual(got[0][0], 400)
        self.assertTrue(bytes(sock.sent).endswith(b"\r\n\r\n"))

    def test_canned_responses_are_built_once(self):
        self.assertIs(http_service.canned(404, True, False), http_service.canned(404, True, False))

    def test_lingering_close_after_an_error(self):
        # where the socket can shut down, the server stops sending and drains before closing
        sock, conn = self.connect(b"BAD\r\n", b"more junk", sock_class=ShutdownSocket)
        self.run_loop()
        self.assertEqual(parse_responses(sock.sent)[0][0], 400)
        self.assertEqual(sock.shut, 1)
        self.assertFalse(sock.closed)
        self.assertEqual(sock.inbox, [], "input is drained")
        sock.inbox.append(b"")  # the client closes
        self.run_loop()
        self.assertTrue(sock.closed)

    def test_lingering_is_bounded(self):
        sock, conn = self.connect(b"BAD\r\n", sock_class=ShutdownSocket)
        self.run_loop()
        self.assertFalse(sock.closed)
        self.clock.advance(http_service.LINGER)
        self.run_loop()
        self.assertTrue(sock.closed)

    def test_lingering_is_bounded_for_a_client_that_keeps_sending(self):
        sock, conn = self.connect(b"BAD\r\n", sock_class=ShutdownSocket)
        self.run_loop()
        for _ in range(2):
            self.assertFalse(sock.closed)
            self.clock.advance(http_service.LINGER / 2)
            sock.inbox.append(b"junk")
            self.run_loop()
        self.assertTrue(sock.closed)
