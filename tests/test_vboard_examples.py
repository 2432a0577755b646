# Every example deployed with mpremote to the virtual board (MicroPython's unix port behind a pty: the
# PyPI one at 128K, and the board-like 32-bit one at the ESP32's 110K) and exercised over loopback by real host clients: http.client and curl, a control session,
# mosquitto_sub against a real Mosquitto (in the clear and over TLS), a TLS client of the echo example,
# HTTPS beside HTTP, the control port's STARTTLS. CPython only: it starts processes.
import support  # noqa: I001  (first, as in every test module)

import json
import os
import socket
import unittest

try:
    import http.client
    import shutil
    import subprocess
    import sys
    import tempfile

    from example_procs import BOARDLIKE, NO_BOARDLIKE
    from test_vboard import MICROPYTHON, ROOT, STEP, mpremote, mpremote_cmd, read_until, tool
except (ImportError, unittest.SkipTest):
    raise unittest.SkipTest("drives the virtual board: needs subprocess, pty and mpremote")

sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpybuild  # noqa: E402

from test_mqtt_broker import MOSQUITTO, MOSQUITTO_SUB, NEEDS, Broker, subscribe  # noqa: E402


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
@unittest.skipUnless(os.path.isdir("/proc"), "the virtual board watches processes through /proc")
class ExamplesOnTheVirtualBoardTest(unittest.TestCase):
    runtime = MICROPYTHON
    heap = "128K"

    @classmethod
    def setUpClass(cls):
        mpybuild.build("unix", os.path.join(ROOT, "build", "unix"))  # a board-sized heap imports .mpy
        cls.dir = tempfile.mkdtemp(prefix="vboard-examples-")
        out = tool("vboard.py", "start", "--dir", cls.dir, "--micropython", cls.runtime, "--heap", cls.heap)
        if out.returncode:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise AssertionError("vboard start: %s%s" % (out.stdout, out.stderr))
        cls.tty = out.stdout.strip()
        out = tool("deploy.py", "--vboard-dir", cls.dir, "--kind", "mpy")  # as `make deploy` does
        if out.returncode:
            cls.tearDownClass()
            raise AssertionError("deploy: %s%s" % (out.stdout, out.stderr))

    @classmethod
    def tearDownClass(cls):
        tool("vboard.py", "stop", "--dir", cls.dir)
        shutil.rmtree(cls.dir, ignore_errors=True)

    # Copy examples/NAME to the board's /NAME, run `call` there after a soft reset; returns the
    # line the service printed once serving. A soft reset at the end of the test stops it.
    def serve(self, name, call):
        folder = os.path.join(ROOT, "examples", name)
        files = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py") and f != "main.py"]
        mpremote(self, self.tty, "resume", "exec", "import os\ntry:\n os.mkdir('/%s')\nexcept OSError:\n pass" % name,
                 "+", "cp", *files, ":/%s/" % name)
        start = "import sys\nsys.path.insert(0, '/%s')\nimport %s_service as s\ns.%s" % (name, name, call)
        proc = subprocess.Popen(mpremote_cmd(self.tty, "exec", start), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.addCleanup(self.stop, proc)
        said = read_until(proc, b"serving on")
        self.assertIn("serving on", said, "the board's console ended with:\n" + self.console_tail())
        return said

    def console_tail(self, size=2000):
        try:
            with open(os.path.join(self.dir, "console.log"), "rb") as f:
                f.seek(max(0, os.path.getsize(f.name) - size))
                return f.read().decode(errors="replace")
        except OSError as e:
            return "(no console.log: %s)" % e

    def stop(self, proc):
        proc.terminate()
        proc.wait(timeout=STEP)
        proc.stdout.close()
        mpremote(self, self.tty, "soft-reset")

    def test_the_board_runs_the_runtime_and_heap_asked_for(self):
        check = "import gc, sys\nprint(sys.maxsize, gc.mem_free() + gc.mem_alloc())"
        said = mpremote(self, self.tty, "resume", "exec", check).split()
        want = subprocess.run([self.runtime, "-X", "heapsize=" + self.heap, "-c", check], capture_output=True,
                              text=True, timeout=STEP).stdout.split()
        self.assertEqual(said, want)

    def test_http(self):
        port = support.free_port()
        self.serve("http", "main(port=%d)" % port)
        conn = http.client.HTTPConnection(support.HOST, port, timeout=10)
        conn.request("GET", "/api/status")
        r = conn.getresponse()
        status = json.loads(r.read())
        self.assertEqual(r.status, 200)
        self.assertIn("readings", status)
        self.assertIsInstance(status["mem_free"], int, "a board reports its free heap")
        conn.request("GET", "/")  # the same connection: keep-alive
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn(b"<html", r.read())
        conn.request("GET", "/nope")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 404)
        conn.close()
        if shutil.which("curl"):
            out = subprocess.run(["curl", "-s", "-m", "10", "http://%s:%d/api/status" % (support.HOST, port)],
                                 capture_output=True, text=True, timeout=STEP)
            self.assertIn('"readings"', out.stdout)

    def test_control(self):
        # the token comes from the board's secrets.py, as on a real board
        mpremote(self, self.tty, "resume", "exec", "f = open('/secrets.py', 'w')\nf.write('CONTROL_TOKEN = \"vb-token\"\\n')\nf.close()")
        self.addCleanup(mpremote, self, self.tty, "resume", "exec", "import os\nos.remove('/secrets.py')")
        port = support.free_port()
        self.serve("control", "main(port=%d)" % port)
        with socket.create_connection((support.HOST, port), timeout=10) as s:
            f = s.makefile("rwb")
            f.readline()  # the banner
            steps = ((b"GET temp", b"OK"), (b"SET led on", b"ERR 30"), (b"AUTH vb-token", b"OK authenticated"),
                     (b"SET led on", b"OK led on"), (b"FLY away", b"ERR"))
            for line, want in steps:
                f.write(line + b"\r\n")
                f.flush()
                self.assertTrue(f.readline().startswith(want), line)
            f.write(b"QUIT\r\n")
            f.flush()
            f.readline()
            self.assertEqual(f.readline(), b"", "QUIT closes the connection")

    # echo over TLS, the certificate and key copied to the board in DER as examples/echo/README.md says
    def test_echo_over_tls(self):
        import ssl

        import tls_certs

        if not tls_certs.OPENSSL:
            self.skipTest("openssl is not installed")
        c = tls_certs.certs()["server"]
        mpremote(self, self.tty, "resume", "cp", c["cert_der"], ":/cert.der", "+", "cp", c["key_der"], ":/key.der")
        port = support.free_port()
        self.serve("echo", "main(port=%d, tls_cert='/cert.der', tls_key='/key.der')" % port)
        ctx = ssl.create_default_context(cafile=c["cert_pem"])
        with ctx.wrap_socket(socket.create_connection((support.HOST, port), timeout=10),
                             server_hostname="localhost") as s:
            data = os.urandom(10000)
            s.sendall(data)
            got = b""
            while len(got) < len(data):
                got += s.recv(4096)
            self.assertEqual(got, data)

    # copy the test certificate and key to the board in DER, as the examples' READMEs say
    def certificate(self):
        import tls_certs

        if not tls_certs.OPENSSL:
            self.skipTest("openssl is not installed")
        c = tls_certs.certs()["server"]
        mpremote(self, self.tty, "resume", "cp", c["cert_der"], ":/cert.der", "+", "cp", c["key_der"], ":/key.der")
        return "tls_cert='/cert.der', tls_key='/key.der'", c["cert_pem"]

    # the http example over HTTPS with plain HTTP beside it, as its main.py serves them from secrets.py
    def test_https_beside_http(self):
        import ssl

        tls, ca = self.certificate()
        port, plain = support.free_port(), support.free_port()
        self.serve("http", "main(port=%d, plain_port=%d, %s)" % (port, plain, tls))
        ctx = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
        conn.sock = ctx.wrap_socket(socket.create_connection((support.HOST, port), timeout=10), server_hostname="localhost")
        for _ in range(2):  # one connection kept alive
            conn.request("GET", "/api/status")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertIsInstance(json.loads(r.read())["mem_free"], int)
        conn.close()
        conn = http.client.HTTPConnection(support.HOST, plain, timeout=10)
        conn.request("GET", "/api/status")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    # the control example's STARTTLS, then AUTH with the token from the board's secrets.py
    def test_control_starttls(self):
        import ssl

        tls, ca = self.certificate()
        mpremote(self, self.tty, "resume", "exec", "f = open('/secrets.py', 'w')\nf.write('CONTROL_TOKEN = \"vb-token\"\\n')\nf.close()")
        self.addCleanup(mpremote, self, self.tty, "resume", "exec", "import os\nos.remove('/secrets.py')")
        port = support.free_port()
        self.serve("control", "main(port=%d, %s)" % (port, tls))
        with socket.create_connection((support.HOST, port), timeout=10) as raw:
            raw.sendall(b"STARTTLS\r\n")
            said = b""
            while said.count(b"\n") < 2:  # the banner, then the reply: read no further (TLS follows)
                said += raw.recv(1)
            self.assertTrue(said.endswith(b"\nOK begin TLS\r\n"), said)
            with ssl.create_default_context(cafile=ca).wrap_socket(raw, server_hostname="localhost") as s:
                f = s.makefile("rwb")
                f.write(b"AUTH vb-token\r\nSET led on\r\n")
                f.flush()
                self.assertEqual([f.readline(), f.readline()], [b"OK authenticated\r\n", b"OK led on\r\n"])

    @unittest.skipUnless(MOSQUITTO and MOSQUITTO_SUB, NEEDS)
    def test_mqtt(self):
        broker = Broker(self)
        broker.start()
        tag = os.urandom(3).hex()
        call = "main(port=%d, interval=0.5, prefix='vb-%s', client_id='vb-%s')" % (broker.port, tag, tag)
        self.serve("mqtt", call)
        got = subscribe(broker.port, "vb-%s/vb-%s/readings" % (tag, tag), 2)
        self.assertEqual(len(got), 2, got)
        self.assertEqual(got[0][0], "1", "readings go out at QoS 1")
        self.assertIn("seq", json.loads(got[0][3]))

    # mqtt over TLS, the broker's CA copied to the board in DER as examples/mqtt/README.md says
    @unittest.skipUnless(MOSQUITTO and MOSQUITTO_SUB, NEEDS)
    def test_mqtt_over_tls(self):
        import tls_certs

        if not tls_certs.OPENSSL:
            self.skipTest("openssl is not installed")
        c = tls_certs.certs()["server"]
        mpremote(self, self.tty, "resume", "cp", c["cert_der"], ":/ca.der")
        broker = Broker(self, tls=True)
        broker.start()
        tag = os.urandom(3).hex()
        call = "main(port=%d, interval=0.5, prefix='vt-%s', client_id='vt-%s', tls_ca='/ca.der')" % (broker.port, tag, tag)
        self.assertIn("over TLS", self.serve("mqtt", call))
        got = subscribe(broker.port, "vt-%s/vt-%s/readings" % (tag, tag), 2, cafile=c["cert_pem"])
        self.assertEqual(len(got), 2, got)
        self.assertIn("seq", json.loads(got[0][3]))


@unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
class ExamplesOnTheBoardLikeVirtualBoardTest(ExamplesOnTheVirtualBoardTest):
    runtime = BOARDLIKE
    heap = "110K"
