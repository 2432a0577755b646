# The examples as users start them: examples/run.py on host CPython and on micropython, real clients.
import os
import socket
import sys
import unittest

import support

try:
    import shutil
    import subprocess
    import sysconfig
except ImportError:
    raise unittest.SkipTest("starts processes: needs subprocess")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")


# Start `runtime examples/run.py name --port N`; returns the process once it says it serves.
def start(test, runtime, name):
    for _ in range(5):
        port = support.free_port()
        proc = subprocess.Popen(
            [runtime, "examples/run.py", name, "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        test.addCleanup(stop, proc)
        line = proc.stdout.readline()
        if "serving on" in line:
            return proc, port
        stop(proc)
    test.fail("%s %s did not start: %r" % (runtime, name, line))


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()


# Send data, half-close, and read until the server closes.
def exchange(port, data):
    with socket.create_connection((support.HOST, port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return got
            got += chunk


class EchoExampleTest(unittest.TestCase):
    def check_echo(self, runtime):
        proc, port = start(self, runtime, "echo")
        self.assertEqual(exchange(port, b"hello"), b"hello")
        big = bytes(range(256)) * 400  # more than one recv and one send
        self.assertEqual(exchange(port, big), big)
        self.assertIsNone(proc.poll(), "the server must keep serving after clients leave")

    def test_echo_on_cpython(self):
        self.check_echo(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_echo_on_micropython(self):
        self.check_echo(MICROPYTHON)

    def test_unknown_example_is_refused(self):
        out = subprocess.run([sys.executable, "examples/run.py", "nope"], cwd=ROOT, capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no example named 'nope'", out.stderr)


class HttpExampleTest(unittest.TestCase):
    # examples/http started the way its README says (tests/test_http_example.py tests it in depth).
    def check_http(self, runtime):
        proc, port = start(self, runtime, "http")
        got = exchange(port, b"GET /api/status HTTP/1.0\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:200])
        self.assertIn(b'"device": "uasyncore-device"', got)
        self.assertIsNone(proc.poll(), "the server must keep serving after clients leave")

    def test_http_on_cpython(self):
        self.check_http(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_http_on_micropython(self):
        self.check_http(MICROPYTHON)

    # run.py puts examples/NAME first on sys.path: no module there may take a stdlib module's name.
    def test_no_example_module_hides_a_stdlib_module(self):
        examples = os.path.join(ROOT, "examples")
        names = [d for d in os.listdir(examples) if d[0] not in "_." and os.path.isdir(os.path.join(examples, d))]
        self.assertIn("http", names)
        for name in names:
            files = os.listdir(os.path.join(examples, name))
            self.assertIn(name + "_service.py", files)
            for f in files:
                if f.endswith(".py"):
                    self.assertNotIn(f[:-3], sys.stdlib_module_names, "examples/%s/%s" % (name, f))
