# The examples as users start them: examples/run.py on host CPython and on micropython, real clients.
import os
import socket
import sys
import unittest

import support

try:
    import subprocess
    import time

    from example_procs import BOARDLIKE, CONTROL_TOKEN, MICROPYTHON, NO_BOARDLIKE, ROOT, start_example, stop
except ImportError:
    raise unittest.SkipTest("starts processes: needs subprocess")



# Start an example for one test; it is stopped when the test ends.
def start(test, runtime, name):
    proc, port = start_example(runtime, name)
    test.addCleanup(stop, proc)
    return proc, port


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

    @unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
    def test_echo_on_the_board_like_micropython(self):
        self.check_echo(BOARDLIKE)

    def test_unknown_example_is_refused(self):
        out = subprocess.run([sys.executable, "examples/run.py", "nope"], cwd=ROOT, capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no example named 'nope'", out.stderr)


class ReadmeExampleTest(unittest.TestCase):
    # The echo server in README.md's "Example" section, copied as it stands (its port aside).
    def snippet(self, port):
        with open(os.path.join(ROOT, "README.md")) as f:
            text = f.read()
        code = text.split("## Example", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        self.assertIn("Server(7777)", code)
        return code.replace("Server(7777)", "Server(%d)" % port)

    def check_readme_example(self, runtime, env):
        port = support.free_port()
        path = os.path.join(ROOT, "build", "readme_example_%d.py" % port)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(self.snippet(port))
        self.addCleanup(os.remove, path)
        env = dict(os.environ, **env)
        proc = subprocess.Popen([runtime, path], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(stop, proc)
        for _ in range(100):  # it prints nothing when it starts: wait until it accepts
            try:
                socket.create_connection((support.HOST, port), timeout=1).close()
                break
            except OSError:
                self.assertIsNone(proc.poll(), "the README example exited")
                time.sleep(0.05)
        self.assertEqual(exchange(port, b"hello"), b"hello")

    def test_readme_example_on_cpython(self):
        lib = os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython")])
        self.check_readme_example(sys.executable, {"PYTHONPATH": lib})

    # The code block of README.md's section `title`, with `replace` pairs applied (each must be there).
    def section(self, title, *replace):
        with open(os.path.join(ROOT, "README.md")) as f:
            code = f.read().split(title, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        for old, new in replace:
            self.assertIn(old, code)
            code = code.replace(old, new)
        path = os.path.join(ROOT, "build", "readme_%d.py" % support.free_port())  # a name no other run has
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(code)
        self.addCleanup(os.remove, path)
        return path

    def runtimes(self):
        cpython = os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython")])
        found = [(sys.executable, {"PYTHONPATH": cpython})]
        if MICROPYTHON:
            mpy = ":".join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "unix"), ".frozen"])
            found.append((MICROPYTHON, {"MICROPYPATH": mpy}))
        return found

    def test_readme_datagram_service_echoes(self):
        for runtime, env in self.runtimes():
            port = support.free_port()
            path = self.section("### Datagrams", ('("0.0.0.0", 7777)', '("127.0.0.1", %d)' % port))
            proc = subprocess.Popen([runtime, path], cwd=ROOT, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            self.addCleanup(stop, proc)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                got = None
                for _ in range(50):  # it prints nothing when it starts: ask until it answers
                    s.sendto(b"ping", (support.HOST, port))
                    try:
                        got = s.recvfrom(100)[0]
                        break
                    except OSError:
                        self.assertIsNone(proc.poll(), "the README datagram service exited")
            self.assertEqual(got, b"ping", runtime)

    def test_readme_connect_by_name_connects(self):
        for runtime, env in self.runtimes():
            with socket.socket() as server:
                server.bind((support.HOST, 0))
                server.listen(1)
                server.settimeout(20)
                path = self.section("### Connect by host name", ('("example.com", 80)', '("localhost", %d)' %
                                                                  server.getsockname()[1]))
                proc = subprocess.Popen([runtime, path], cwd=ROOT, env=dict(os.environ, **env),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                self.addCleanup(stop, proc)
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(20)
                    self.assertTrue(conn.recv(100).startswith(b"GET / HTTP/1.0"))
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello by name")
            self.assertIn("hello by name", proc.communicate(timeout=20)[0], runtime)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_readme_example_on_micropython(self):
        lib = ":".join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "unix"), ".frozen"])
        self.check_readme_example(MICROPYTHON, {"MICROPYPATH": lib})


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

    @unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
    def test_http_on_the_board_like_micropython(self):
        self.check_http(BOARDLIKE)

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


class ControlExampleTest(unittest.TestCase):
    # examples/control started the way its README says (tests/test_control_example.py tests it in depth).
    def check_control(self, runtime):
        proc, port = start(self, runtime, "control")  # with CONTROL_TOKEN set, as its README says
        auth = b"AUTH " + CONTROL_TOKEN.encode()
        got = exchange(port, b"GET temp\r\nSET led on\n" + auth + b"\nSET led on\nFROB\nQUIT\nHELP\n")
        lines = got.split(b"\r\n")
        self.assertEqual(lines[0], b"OK uasyncore control port ready; HELP lists the commands")
        self.assertTrue(lines[1].startswith(b"OK temp "), lines[1])
        self.assertEqual(
            lines[2:],
            [
                b"ERR 30 not authenticated: AUTH <token> first",
                b"OK authenticated",
                b"OK led on",
                b"ERR 20 unknown command: HELP lists the commands",
                b"OK bye",
                b"",
            ],
        )
        self.assertIsNone(proc.poll(), "the server must keep serving after clients leave")

    def test_control_on_cpython(self):
        self.check_control(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_control_on_micropython(self):
        self.check_control(MICROPYTHON)

    @unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
    def test_control_on_the_board_like_micropython(self):
        self.check_control(BOARDLIKE)


class MqttExampleTest(unittest.TestCase):
    # examples/mqtt started the way its README says, against a stand-in broker in this process that
    # answers CONNECT and QoS 1 PUBLISH (tests/test_mqtt_broker.py runs it against a real Mosquitto).
    # Here --port is the broker's port: the example is a client.

    # Whole MQTT packets at the front of data: ([(first byte, body), ...], the bytes after them).
    @staticmethod
    def packets(data):
        out = []
        while True:
            length = shift = 0
            i = 1
            while i < len(data):  # the remaining length: 7 bits a byte, least significant first
                length |= (data[i] & 0x7F) << shift
                shift += 7
                i += 1
                if not data[i - 1] & 0x80:
                    break
            else:
                return out, data
            if len(data) < i + length:
                return out, data
            out.append((data[0], data[i : i + length]))
            data = data[i + length :]

    # Listen on a loopback port and serve one client on a thread until the test ends, as a broker
    # would: (port, topics it published, an event set once a reading arrived).
    def stand_in_broker(self):
        import threading

        listener = socket.socket()
        listener.bind((support.HOST, 0))
        listener.listen(1)
        listener.settimeout(30)
        self.addCleanup(listener.close)
        topics = []
        reading = threading.Event()
        finished = threading.Event()

        def serve():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(0.2)
                data = b""
                while not finished.is_set():
                    try:
                        chunk = conn.recv(4096)
                    except socket.timeout:
                        continue
                    except OSError:
                        return
                    if not chunk:
                        return
                    got, data = self.packets(data + chunk)
                    for first, body in got:
                        if first == 0x10:  # CONNECT: accepted
                            conn.sendall(b"\x20\x02\x00\x00")
                        elif first & 0xF0 == 0x30:  # PUBLISH: note the topic, acknowledge QoS 1
                            n = 2 + (body[0] << 8 | body[1])
                            topics.append(body[2:n].decode())
                            if first & 6:
                                conn.sendall(b"\x40\x02" + body[n : n + 2])
                            if topics[-1].endswith("/readings"):
                                reading.set()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 40)
        self.addCleanup(finished.set)
        return listener.getsockname()[1], topics, reading

    def check_mqtt(self, runtime):
        import threading

        port, topics, reading = self.stand_in_broker()
        proc = subprocess.Popen(
            [runtime, "examples/run.py", "mqtt", "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.addCleanup(stop, proc)
        killer = threading.Timer(30, proc.kill)  # bounds the readline below
        killer.start()
        self.addCleanup(killer.cancel)
        line = proc.stdout.readline()
        self.assertIn("mqtt: serving on %s:%d as " % (support.HOST, port), line)
        self.assertTrue(reading.wait(20), "no reading arrived; topics: %r" % (topics,))
        self.assertTrue(topics[0].startswith("uasyncore/uasyncore-"), topics)
        self.assertIsNone(proc.poll(), "the example must keep running")

    def test_mqtt_on_cpython(self):
        self.check_mqtt(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_mqtt_on_micropython(self):
        self.check_mqtt(MICROPYTHON)

    @unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
    def test_mqtt_on_the_board_like_micropython(self):
        self.check_mqtt(BOARDLIKE)


class UdpEchoExampleTest(unittest.TestCase):
    # examples/udp_echo started the way its README says; a plain UDP socket asks.
    def check_udp_echo(self, runtime):
        proc, port = start(self, runtime, "udp_echo")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(10)
            for data in (b"hello", b"", bytes(range(256)) * 5):
                s.sendto(data, (support.HOST, port))
                self.assertEqual(s.recvfrom(2048), (data, (support.HOST, port)))
        self.assertIsNone(proc.poll(), "the server must keep serving")

    def test_udp_echo_on_cpython(self):
        self.check_udp_echo(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_udp_echo_on_micropython(self):
        self.check_udp_echo(MICROPYTHON)

    @unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
    def test_udp_echo_on_the_board_like_micropython(self):
        self.check_udp_echo(BOARDLIKE)


class DiscoveryExampleTest(unittest.TestCase):
    # examples/discovery started the way its README says, found by its find.py on this machine only.
    def check_discovery(self, runtime, finder=sys.executable):
        proc, port = start(self, runtime, "discovery")
        find = [finder, "examples/discovery/find.py", "--port", str(port), "--interface", "127.0.0.1", "--ttl", "0", "--wait", "1"]
        out = subprocess.run(find, cwd=ROOT, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.split(None, 2), ["uasyncore-device", "127.0.0.1", "{'http': 8080}\n"])
        self.assertIsNone(proc.poll(), "the responder must keep serving")

    def test_discovery_on_cpython(self):
        self.check_discovery(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_discovery_on_micropython_found_from_micropython(self):
        self.check_discovery(MICROPYTHON, MICROPYTHON)

    @unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
    def test_discovery_on_the_board_like_micropython(self):
        self.check_discovery(BOARDLIKE)

    def test_find_says_when_nobody_answered(self):
        find = [sys.executable, "examples/discovery/find.py", "--port", str(support.free_port()), "--interface", "127.0.0.1", "--ttl", "0", "--wait", "0.2"]
        out = subprocess.run(find, cwd=ROOT, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "no device answered within 0.2 s\n")


class ReadmeDatagramExampleTest(unittest.TestCase):
    # The UDP echo in README.md's "Datagrams" section, copied as it stands (its address aside).
    def snippet(self, port):
        with open(os.path.join(ROOT, "README.md")) as f:
            text = f.read()
        code = text.split("### Datagrams", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        self.assertIn('echo.bind(("0.0.0.0", 7777))', code)
        return code.replace('("0.0.0.0", 7777)', '("127.0.0.1", %d)' % port)

    def check(self, runtime, env):
        port = support.free_port()
        path = os.path.join(ROOT, "build", "readme_datagrams_%d.py" % port)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(self.snippet(port))
        self.addCleanup(os.remove, path)
        proc = subprocess.Popen([runtime, path], cwd=ROOT, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.addCleanup(stop, proc)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            for _ in range(100):  # it prints nothing when it starts: ask until it answers
                s.sendto(b"ping", (support.HOST, port))
                try:
                    self.assertEqual(s.recvfrom(64)[0], b"ping")
                    return
                except socket.timeout:
                    self.assertIsNone(proc.poll(), "the README example exited")
        self.fail("the README's datagram example never answered")

    def test_on_cpython(self):
        lib = os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython")])
        self.check(sys.executable, {"PYTHONPATH": lib})

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_on_micropython(self):
        lib = ":".join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "unix"), ".frozen"])
        self.check(MICROPYTHON, {"MICROPYPATH": lib})
