# examples/http as users start it: examples/run.py on host CPython and on micropython, spoken to by
# http.client, raw sockets and curl.
import json
import socket
import sys
import unittest

import support

try:
    import http.client
    import shutil
    import subprocess

    from example_procs import MICROPYTHON, start_example, stop
except ImportError:
    raise unittest.SkipTest("starts processes: needs subprocess")

from http_fakes import parse_responses

CURL = shutil.which("curl")


# Read until `count` whole responses arrived, or the server closed; returns (responses, closed).
def read_responses(sock, count=None, head_only=()):
    data = b""
    while True:
        if count is not None:
            try:
                got = parse_responses(data, head_only)
            except (AssertionError, KeyError, ValueError):
                got = []
            if len(got) >= count:
                return got, False
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""  # a server that closes with input unread resets, after its response
        if not chunk:
            return parse_responses(data, head_only), True
        data += chunk


class HttpExampleMixin:
    runtime = None
    has_mem_free = False

    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_example(cls.runtime, "http")

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)

    # After every test the server still runs and still answers.
    def tearDown(self):
        self.assertIsNone(self.proc.poll(), "the server died")
        got, closed = self.send(b"GET /api/status HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        self.assertEqual([r[0] for r in got], [200])

    def client(self):
        s = socket.create_connection((support.HOST, self.port), timeout=10)
        self.addCleanup(s.close)
        return s

    # Send raw bytes on a new connection; read `count` responses, or all until the server closes.
    def send(self, data, count=None, head_only=()):
        s = self.client()
        s.sendall(data)
        return read_responses(s, count, head_only)

    # One request that the server must answer with `status` and then close.
    def assertRefused(self, data, status):
        got, closed = self.send(data)
        self.assertEqual([r[0] for r in got], [status], data[:80])
        self.assertEqual(got[0][1]["connection"], "close")
        self.assertTrue(closed)
        return got[0]

    ##### http.client

    def test_keep_alive_with_http_client(self):
        conn = http.client.HTTPConnection(support.HOST, self.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("GET", "/")
        r = conn.getresponse()
        page = r.read()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
        self.assertIn(b"uasyncore-device", page)
        sock = conn.sock
        conn.request("GET", "/api/status")
        r = conn.getresponse()
        doc = json.loads(r.read())
        self.assertEqual(r.status, 200)
        self.assertIs(conn.sock, sock, "the same connection")
        conn.request("HEAD", "/")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.getheader("Content-Length")), len(page))
        self.assertEqual(r.read(), b"")
        conn.request("GET", "/nowhere")
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (404, b"404 Not Found\n"))
        self.assertIs(conn.sock, sock, "the same connection")
        self.assertEqual(doc["device"], "uasyncore-device")
        self.assertEqual(sorted(doc["readings"]), ["humidity_pct", "pressure_hpa", "temperature_c"])
        self.assertIsInstance(doc["uptime_s"], int)
        if self.has_mem_free:
            self.assertIsInstance(doc["mem_free"], int)
        else:
            self.assertIsNone(doc["mem_free"])

    def test_post_with_http_client(self):
        conn = http.client.HTTPConnection(support.HOST, self.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("POST", "/api/status", body=b"x=1")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "GET, HEAD")

    ##### raw sockets: connection handling

    def test_http10_closes_unless_asked(self):
        got, closed = self.send(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual([r[0] for r in got], [200])
        self.assertTrue(closed)
        got, closed = self.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", count=1)
        self.assertEqual(got[0][1]["connection"], "keep-alive")
        self.assertFalse(closed)

    def test_connection_close_is_honoured(self):
        got, closed = self.send(b"GET / HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        self.assertEqual([r[0] for r in got], [200])
        self.assertTrue(closed)

    def test_pipelined_requests(self):
        reqs = (
            b"GET /api/status HTTP/1.1\r\nHost: d\r\n\r\n"
            b"HEAD / HTTP/1.1\r\nHost: d\r\n\r\n"
            b"GET /missing HTTP/1.1\r\nHost: d\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"
        )
        got, closed = self.send(reqs, head_only=(1,))
        self.assertEqual([r[0] for r in got], [200, 200, 404, 200])
        self.assertEqual(got[0][1]["content-type"], "application/json")
        self.assertTrue(got[3][1]["content-type"].startswith("text/html"))
        self.assertTrue(closed)

    def test_client_closing_mid_request(self):
        s = self.client()
        s.sendall(b"GET /api/sta")
        s.close()
        s = self.client()
        s.close()  # and one that says nothing at all
        s = self.client()
        s.sendall(b"GET / HTTP/1.1\r\nHost: d\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # a reset, not a clean close

    ##### raw sockets: what is refused

    def test_bad_request_line(self):
        self.assertRefused(b"HELLO\r\n\r\n", 400)
        self.assertRefused(b"GET / HTTP/1.1 x\r\nHost: d\r\n\r\n", 400)
        self.assertRefused(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400)  # TLS on the plain port

    def test_bad_header(self):
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: d\r\nNo colon here\r\n\r\n", 400)
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: d\r\nBad Name: x\r\n\r\n", 400)
        self.assertRefused(b"GET / HTTP/1.1\r\n\r\n", 400)  # no Host

    def test_oversize_headers(self):
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: d\r\nCookie: " + b"c" * 5000 + b"\r\n\r\n", 431)

    def test_long_request_line(self):
        self.assertRefused(b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: d\r\n\r\n", 414)

    def test_huge_content_length(self):
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: d\r\nContent-Length: 1000000000\r\n\r\n", 413)

    def test_post(self):
        status, headers, body = self.assertRefused(b"POST / HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\n", 405)
        self.assertEqual(headers["allow"], "GET, HEAD")
        got, closed = self.send(b"DELETE /api/status HTTP/1.1\r\nHost: d\r\n\r\n", count=1)
        self.assertEqual([(r[0], r[1]["allow"]) for r in got], [(405, "GET, HEAD")])

    def test_unknown_path_and_traversal(self):
        for path in (b"/nope", b"/../../etc/passwd", b"/api/../api/status", b"/%2e%2e/%2e%2e/etc/passwd", b"/main.py"):
            got, closed = self.send(b"GET " + path + b" HTTP/1.1\r\nHost: d\r\n\r\n", count=1)
            self.assertEqual([r[0] for r in got], [404], path)
            self.assertEqual(got[0][2], b"404 Not Found\n")

    ##### curl

    @unittest.skipUnless(CURL, "curl not installed")
    def test_curl(self):
        base = "http://%s:%d" % (support.HOST, self.port)
        out = subprocess.run(
            [CURL, "-sS", "--max-time", "10", "-w", "%{http_code} %{num_connects}\\n"]
            + ["-o", "/dev/null", base + "/", "-o", "/dev/null", base + "/api/status"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(out.stdout.split("\n")[:2], ["200 1", "200 0"], out.stderr)  # the second reuses the first's connection
        out = subprocess.run([CURL, "-sS", "--max-time", "10", base + "/api/status"], capture_output=True, timeout=30)
        self.assertEqual(json.loads(out.stdout)["device"], "uasyncore-device")
        out = subprocess.run([CURL, "-sS", "--max-time", "10", "-I", base + "/"], capture_output=True, timeout=30)
        self.assertTrue(out.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), out.stdout)
        self.assertIn(b"\r\nContent-Type: text/html", out.stdout)
        out = subprocess.run(
            [CURL, "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", base + "/"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(out.stdout, "405")


class HttpOnCPythonTest(HttpExampleMixin, unittest.TestCase):
    runtime = sys.executable


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class HttpOnMicroPythonTest(HttpExampleMixin, unittest.TestCase):
    runtime = MICROPYTHON
    has_mem_free = True
