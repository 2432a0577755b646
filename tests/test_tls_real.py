# uasyncore_tls against real TLS peers over loopback: CPython's ssl, openssl s_client and curl as
# clients of a service on CPython, micropython and the board-like MicroPython; the layer's own client
# on each runtime against a server; 8 MiB each way past a reader that stalls; the handshake deadline,
# plaintext on a TLS port, STARTTLS; the http example over HTTPS beside HTTP, the control example's
# STARTTLS; a crowd of handshakes never finished. CPython only: it starts processes and makes certificates.
import support  # noqa: F401, I001  (first, as in every test module)

import os
import socket
import sys
import unittest

try:
    import hashlib
    import http.client
    import json
    import select
    import ssl
    import subprocess
    import time

    import tls_certs
    from example_procs import BOARDLIKE, BOARDLIKE_FROZEN, MICROPYTHON, NO_BOARDLIKE, ROOT
except ImportError:
    raise unittest.SkipTest("starts processes and makes certificates: CPython only")

if not tls_certs.OPENSSL:
    raise unittest.SkipTest("openssl is not installed")

HOST = "127.0.0.1"
BULK = 8 << 20  # bytes each way


# Start `runtime args...` until it prints "serving on HOST:PORT" for a free port (5 tries); stopped
# when the test ends. args holds "{port}" where the port goes, and "{port2}" where a second one does
# (proc.port2).
def serve(test, runtime, *args, env=None):
    line = ""
    for _ in range(5):
        port = support.free_port()
        port2 = support.free_port()
        argv = [runtime] + [a.replace("{port}", str(port)).replace("{port2}", str(port2)) for a in args]
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, **(env or {})))
        line = proc.stdout.readline()
        if "serving on %s:%d" % (HOST, port) in line:
            test.addCleanup(stop, proc)
            proc.port2 = port2
            return proc, port
        stop(proc)
    raise AssertionError("%s did not start: %r" % (argv, line))


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()


# The server's output so far, once it has printed `count` lines containing `word` (or 10 s passed).
def output_until(proc, word, count=1):
    lines = []
    deadline = time.monotonic() + 10
    while sum(word in x for x in lines) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    return "".join(lines)


# A CPython TLS client that trusts the test certificate; a small receive buffer (rcvbuf bytes) keeps
# loopback's megabytes of buffers from absorbing what a stalled reader does not read.
def tls_client(port, ca=None, rcvbuf=None):
    ctx = ssl.create_default_context(cafile=ca or tls_certs.certs()["server"]["cert_pem"])
    sock = socket.socket()
    sock.settimeout(20)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((HOST, port))
    return ctx.wrap_socket(sock, server_hostname="localhost")


# Send data through a TLS socket and read what comes back, in one thread (an SSL object is not to be
# used from two at once), reading nothing for the first `stall` seconds: the peer's writes then block.
def send_and_read(sock, data, stall):
    sock.setblocking(False)
    view = memoryview(data)
    sent = 0
    got = bytearray()
    start = time.monotonic()
    while len(got) < len(data) and time.monotonic() - start < 120:
        reading = time.monotonic() - start >= stall
        ready = select.select([sock] if reading else [], [sock] if sent < len(data) else [], [], 0.1)
        if ready[1]:
            try:
                sent += sock.send(view[sent:sent + 65536])  # after a would-block: the same bytes again
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        while reading and (ready[0] or sock.pending()):
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not chunk:
                return bytes(got)
            got.extend(chunk)
            ready = ((), ())
    return bytes(got)


# Whether the peer closed sock (an alert before it, a reset instead of a FIN: both count).
def closed_by_peer(sock):
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


# http.client over TLS to localhost:port (the test certificate's name), reached at HOST.
def https_client(port):
    ctx = ssl.create_default_context(cafile=tls_certs.certs()["server"]["cert_pem"])
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=20)
    conn.sock = ctx.wrap_socket(socket.create_connection((HOST, port), timeout=20), server_hostname="localhost")
    return conn


def line_of(sock):
    got = b""
    while not got.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        got += chunk
    return got


class _Runtime:
    # The tests, for the runtime named by the subclass; the server's certificate is in the form that
    # runtime takes least directly (DER for CPython's ssl, PEM for micropython), so contexts convert.
    runtime = None
    cert_form = "pem"

    def certs(self):
        c = tls_certs.certs()["server"]
        return c["cert_" + self.cert_form], c["key_" + self.cert_form]

    def peer(self, timeout=None, mode=None):
        cert, key = self.certs()
        args = ["tests/tls_peer.py", "serve", "{port}", cert, key, str(timeout or 10)] + ([mode] if mode else [])
        return serve(self, self.runtime, *args)

    def connect(self, port, ca, hostname="localhost", starttls=False):
        argv = [self.runtime, "tests/tls_peer.py", "connect", str(port), ca, hostname] + (["starttls"] if starttls else [])
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
        return done.stdout + done.stderr

    ##### the echo example over TLS

    def test_the_echo_example_echoes_a_mebibyte_past_a_reader_that_stalls(self):
        cert, key = self.certs()
        proc, port = serve(self, self.runtime, "examples/run.py", "echo", "--port", "{port}",
                           "--tls-cert", cert, "--tls-key", key)
        data = os.urandom(1 << 20)
        with tls_client(port, rcvbuf=32768) as s:
            got = send_and_read(s, data, stall=0.5)
        self.assertEqual(len(got), len(data))
        self.assertEqual(hashlib.sha256(got).digest(), hashlib.sha256(data).digest(), "byte for byte")
        self.assertIsNone(proc.poll())

    def test_8_mib_each_way_through_writes_that_block(self):
        # a server that writes until its socket refuses: past a stalled reader its TLS writes block
        proc, port = self.peer(mode="bulk")
        data = os.urandom(1 << 16) * (BULK >> 16)
        with tls_client(port, rcvbuf=32768) as s:
            got = send_and_read(s, data, stall=0.5)
        self.assertEqual(hashlib.sha256(got).digest(), hashlib.sha256(data).digest(), "byte for byte")
        said = output_until(proc, "blocked")
        self.assertGreater(int(said.split("blocked")[1].split()[0]), 0, "writes blocked: " + said)

    def test_openssl_s_client_talks_to_the_echo_example(self):
        cert, key = self.certs()
        proc, port = serve(self, self.runtime, "examples/run.py", "echo", "--port", "{port}",
                           "--tls-cert", cert, "--tls-key", key)
        client = subprocess.Popen(
            ["openssl", "s_client", "-connect", "%s:%d" % (HOST, port), "-servername", "localhost",
             "-CAfile", tls_certs.certs()["server"]["cert_pem"], "-verify_hostname", "localhost",
             "-verify_return_error", "-quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            client.stdin.write(b"hello from s_client\n")
            client.stdin.flush()
            self.assertEqual(client.stdout.readline(), b"hello from s_client\n")
        finally:
            client.kill()
            client.communicate(timeout=10)

    ##### the http example over HTTPS, beside plain HTTP

    def test_the_http_example_serves_https_to_curl_and_http_client_beside_plain_http(self):
        cert, key = self.certs()
        proc, port = serve(self, self.runtime, "examples/run.py", "http", "--port", "{port}", "--tls-cert", cert,
                           "--tls-key", key, "--plain-port", "{port2}")
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "--cacert", tls_certs.certs()["server"]["cert_pem"],
             "--resolve", "localhost:%d:%s" % (port, HOST), "https://localhost:%d/api/status" % port],
            capture_output=True, text=True, timeout=30)
        self.assertEqual((done.returncode, done.stderr), (0, ""))
        self.assertEqual(json.loads(done.stdout)["device"], "uasyncore-device")
        conn = https_client(port)
        for path in ("/api/status", "/"):  # two requests on one connection kept alive
            conn.request("GET", path)
            answer = conn.getresponse()
            self.assertEqual((answer.status, answer.getheader("Connection")), (200, "keep-alive"))
            self.assertIn(b"uasyncore-device", answer.read())
        conn.close()
        plain = http.client.HTTPConnection(HOST, proc.port2, timeout=20)
        plain.request("GET", "/api/status")
        self.assertEqual(plain.getresponse().status, 200)
        plain.close()
        self.assertIsNone(proc.poll())

    ##### the control example's STARTTLS

    def test_the_control_example_switches_to_tls_on_starttls_and_takes_auth_only_then(self):
        cert, key = self.certs()
        token = b"t0ken-for-tls"
        proc, port = serve(self, self.runtime, "examples/run.py", "control", "--port", "{port}", "--tls-cert", cert,
                           "--tls-key", key, env={"CONTROL_TOKEN": token.decode()})
        with socket.create_connection((HOST, port), timeout=20) as raw:
            self.assertTrue(line_of(raw).startswith(b"OK uasyncore control port ready"))
            raw.sendall(b"AUTH " + token + b"\r\n")
            self.assertTrue(line_of(raw).startswith(b"ERR 34 STARTTLS first"))
            raw.sendall(b"STARTTLS\r\n")
            self.assertEqual(line_of(raw), b"OK begin TLS\r\n")
            ctx = ssl.create_default_context(cafile=tls_certs.certs()["server"]["cert_pem"])
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"AUTH " + token + b"\r\nSET led on\r\nSTARTTLS\r\nQUIT\r\n")
                got = [line_of(s) for _ in range(4)]
                self.assertEqual(got[:2], [b"OK authenticated\r\n", b"OK led on\r\n"])
                self.assertTrue(got[2].startswith(b"ERR 36"), got)
                self.assertEqual(got[3], b"OK bye\r\n")
                self.assertTrue(closed_by_peer(s))
        self.assertIsNone(proc.poll())

    ##### a service on this runtime, real clients

    def test_curl_verifies_the_certificate_and_gets_its_answer(self):
        proc, port = self.peer()
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "--cacert", tls_certs.certs()["server"]["cert_pem"],
             "--resolve", "localhost:%d:%s" % (port, HOST), "https://localhost:%d/" % port],
            capture_output=True, text=True, timeout=30)
        self.assertEqual((done.returncode, done.stdout, done.stderr), (0, "hello over TLS\n", ""))

    def test_plaintext_on_the_tls_port_is_closed_and_the_others_are_served(self):
        proc, port = self.peer()
        with socket.create_connection((HOST, port), timeout=20) as plain:
            plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
            self.assertTrue(closed_by_peer(plain))
        with tls_client(port) as s:
            s.sendall(b"still there\n")
            self.assertEqual(line_of(s), b"still there\n")
        self.assertIn("error:", output_until(proc, "ready"))

    def test_a_client_that_never_speaks_is_closed_at_the_deadline_while_others_are_served(self):
        proc, port = self.peer(timeout=0.5)
        with socket.create_connection((HOST, port), timeout=20) as silent:
            with tls_client(port) as s:
                s.sendall(b"hi\n")
                self.assertEqual(line_of(s), b"hi\n")
            self.assertTrue(closed_by_peer(silent))
        self.assertIsNone(proc.poll())

    def test_starttls_mid_stream(self):
        proc, port = self.peer(mode="plain")
        with socket.create_connection((HOST, port), timeout=20) as raw:
            raw.sendall(b"in the clear\n")
            self.assertEqual(line_of(raw), b"in the clear\n")
            raw.sendall(b"STARTTLS\n")
            self.assertEqual(line_of(raw), b"OK\n")
            ctx = ssl.create_default_context(cafile=tls_certs.certs()["server"]["cert_pem"])
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"secret\n")
                self.assertEqual(line_of(s), b"secret\n")

    ##### the layer's client on this runtime, against a CPython server

    def cpython_server(self, mode=None):
        c = tls_certs.certs()["server"]
        args = ["tests/tls_peer.py", "serve", "{port}", c["cert_pem"], c["key_pem"], "10"] + ([mode] if mode else [])
        return serve(self, sys.executable, *args)

    def test_its_client_verifies_the_server_and_talks(self):
        proc, port = self.cpython_server()
        out = self.connect(port, tls_certs.certs()["server"]["cert_pem"])
        self.assertIn("reply: hello", out)

    def test_its_client_refuses_a_certificate_from_another_ca(self):
        proc, port = self.cpython_server()
        out = self.connect(port, tls_certs.certs()["other"]["cert_pem"])
        self.assertIn("error:", out)
        self.assertNotIn("reply:", out)

    def test_its_client_refuses_a_certificate_for_another_name(self):
        proc, port = self.cpython_server()
        out = self.connect(port, tls_certs.certs()["server"]["cert_pem"], hostname="example.com")
        self.assertIn("error:", out)
        self.assertNotIn("reply:", out)

    def test_its_client_switches_to_tls_mid_stream(self):
        proc, port = self.cpython_server(mode="plain")
        out = self.connect(port, tls_certs.certs()["server"]["cert_pem"], starttls=True)
        self.assertIn("reply: hello", out)


class _Crowd:
    # Crowds at four times a TLS listener's budget, each attacker back the moment its slot is taken,
    # all in one process of the runtime (tests/tls_crowd.py): a normal client still gets 9 of 10 answers
    # within 1 s, the service never holds more than its budget, and once the crowd has gone nothing of
    # it is left.
    runtime = None
    cert_form = "pem"

    def crowd(self, *args):
        c = tls_certs.certs()["server"]
        argv = [self.runtime, "tests/tls_crowd.py", c["cert_" + self.cert_form], c["key_" + self.cert_form],
                c["cert_" + self.cert_form]] + list(args)
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
        said = [line for line in done.stdout.splitlines() if line.startswith("crowd: ")]
        self.assertTrue(said, done.stdout + done.stderr)
        import ast

        f = ast.literal_eval(said[0][7:])
        self.assertEqual(f["done"], 1, "the normal client was not done in time: %r" % (f["latencies"],))
        self.assertEqual((f["full"], f["over_budget"], f["attackers"]), (1, 0, 4 * f["budget"]))
        self.assertGreaterEqual(f["within_1s"], 9, "answers in ms: %r" % (f["latencies"],))
        self.assertGreater(f["shed"], f["budget"], "slots were taken back from the crowd")
        self.assertEqual((f["end"], f["open_after"]), (1, 0), "the crowd gone, only the listener is left")
        if f["heap_before"] >= 0:
            # first uses of the TLS paths keep up to 4 KB (64-bit); a connection left would be 20 KB or more
            self.assertLessEqual(f["heap_after"] - f["heap_before"], 8192, "nothing of the crowd is left")
        if f["fds_before"] >= 0:
            self.assertLessEqual(f["fds_after"], f["fds_before"], "nor a descriptor")
        return f

    # Clients that connect and never finish their handshake (silent, a ClientHello cut short and
    # trickled, a whole one and nothing after) against the http example's HTTPS listener at a board's
    # TLS budget of 2; the normal client asks `GET /api/status` 10 times on its HTTPS connection. A
    # handshake is a phase: past its grace a stalled one gives its slot.
    def test_handshakes_never_finished_do_not_keep_a_normal_client_out(self):
        f = self.crowd("https", "handshakes", "kept")
        if f["heap_held"] >= 0:  # read while the service held its budget: two TLS connections
            self.assertLessEqual(f["heap_peak"] - f["heap_held"], 4096, "the heap grew while the crowd stayed")

    # Clients that send STARTTLS to the control port and then no handshake: the handshake is a phase
    # of its own (the STARTTLS line ended the last), so they are not idle sessions that keep their
    # slot a second; a new session gets its first answer within 1 s too.
    def test_starttls_without_a_handshake_does_not_keep_a_new_session_out(self):
        f = self.crowd("control-tls", "starttls")
        self.assertLessEqual(f["latencies"][0], 1000, "the new session's first answer, in ms: %r" % (f["latencies"],))


class CPythonCrowdTest(_Crowd, unittest.TestCase):
    runtime = sys.executable


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class MicroPythonCrowdTest(_Crowd, unittest.TestCase):
    runtime = MICROPYTHON
    cert_form = "der"


@unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
class BoardLikeCrowdTest(_Crowd, unittest.TestCase):
    runtime = BOARDLIKE


class CPythonTest(_Runtime, unittest.TestCase):
    runtime = sys.executable
    cert_form = "der"


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class MicroPythonTest(_Runtime, unittest.TestCase):
    runtime = MICROPYTHON


@unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
class BoardLikeTest(_Runtime, unittest.TestCase):
    runtime = BOARDLIKE


@unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
class BoardLikeBudgetTest(unittest.TestCase):
    # The echo example over TLS on the board-like build at the ESP32's heap (110K), uasyncore frozen as
    # firmware would have it: mbedTLS's buffers come from that heap. Clients connect until one is
    # refused; it must be refused cleanly, with the service and the others unharmed.
    def test_a_client_beyond_what_the_heap_holds_is_refused_and_the_others_go_on(self):
        c = tls_certs.certs()["server"]
        proc, port = serve(self, BOARDLIKE_FROZEN, "-X", "heapsize=110K", "examples/run.py", "echo", "--port",
                           "{port}", "--lib", ".frozen", "--tls-cert", c["cert_der"], "--tls-key", c["key_der"])
        clients = []
        refused = None
        for i in range(8):
            try:
                s = tls_client(port)
                s.sendall(b"%d\n" % i)
                self.assertEqual(line_of(s), b"%d\n" % i)
            except (ssl.SSLError, ConnectionError) as e:
                refused = e
                break
            clients.append(s)
        self.addCleanup(lambda: [s.close() for s in clients])
        self.assertGreaterEqual(len(clients), 2, "two TLS connections fit in 110K")
        self.assertIsNotNone(refused, "eight do not")
        for i, s in enumerate(clients):
            s.sendall(b"still %d\n" % i)
            self.assertEqual(line_of(s), b"still %d\n" % i)
        clients.pop().close()
        for _ in range(50):  # the memory of the one that left serves the next, once the server saw it go
            try:
                with tls_client(port) as s:
                    s.sendall(b"next\n")
                    self.assertEqual(line_of(s), b"next\n")
                break
            except (ssl.SSLError, ConnectionError):
                time.sleep(0.1)
        else:
            self.fail("no room again after a client left")
        self.assertIsNone(proc.poll())

    # The http example as a device would run it, HTTP and HTTPS side by side in one process at 110K:
    # four plain connections kept open, two HTTPS clients served at once, and a third refused cleanly
    # (no heap left for its mbedTLS buffers): the others and the service go on, and once an HTTPS
    # client leaves the next is served.
    def test_the_http_example_serves_two_https_clients_beside_four_plain_ones_and_refuses_a_third(self):
        c = tls_certs.certs()["server"]
        proc, port = serve(self, BOARDLIKE_FROZEN, "-X", "heapsize=110K", "examples/run.py", "http", "--port",
                           "{port}", "--lib", ".frozen", "--tls-cert", c["cert_der"], "--tls-key", c["key_der"],
                           "--plain-port", "{port2}")
        plain = [http.client.HTTPConnection(HOST, proc.port2, timeout=20) for _ in range(4)]
        tls = [https_client(port) for _ in range(2)]
        self.addCleanup(lambda: [conn.close() for conn in plain + tls])

        def ask_all(conns):  # every request sent before any answer is read: served at once
            for conn in conns:
                conn.request("GET", "/api/status")
            return [conn.getresponse() for conn in conns]

        for _ in range(2):
            self.assertEqual([(r.status, json.loads(r.read())["device"]) for r in ask_all(plain + tls)],
                             [(200, "uasyncore-device")] * 6)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            ask_all([https_client(port)])
        self.assertEqual([r.status for r in ask_all(plain + tls) if r.read()], [200] * 6, "the others go on")
        tls.pop().close()
        for _ in range(50):  # the memory of the one that left serves the next, once the server saw it go
            try:
                conn = https_client(port)
            except (ssl.SSLError, ConnectionError):
                time.sleep(0.1)
                continue
            tls.append(conn)
            self.assertEqual([r.status for r in ask_all(tls)], [200] * 2)
            break
        else:
            self.fail("no room again after an HTTPS client left")
        self.assertIsNone(proc.poll())
        said = output_until(proc, "ENOMEM")
        self.assertIn("no memory for another TLS connection", said)
        self.assertNotIn("MemoryError", said)
