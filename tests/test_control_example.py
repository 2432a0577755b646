# examples/control as users start it: examples/run.py on host CPython and on micropython, spoken to
# over loopback by Python sockets and by socat / nc. CPython only: it starts processes.
import socket
import struct
import sys
import time
import unittest

import support

try:
    import shutil
    import subprocess

    from example_procs import CONTROL_TOKEN, MICROPYTHON, printed, start_example, stop
except ImportError:
    raise unittest.SkipTest("starts processes: needs subprocess")

BANNER = b"OK uasyncore control port ready; HELP lists the commands"
TOO_LONG = b"ERR 10 line too long: at most 128 bytes, the rest of the line is dropped"
BAD_BYTES = b"ERR 11 bad bytes: commands are printable ASCII"
TOKEN = CONTROL_TOKEN.encode()  # what the service is started with (CONTROL_TOKEN in its environment)


class Client:
    # A blocking line client; every read gives up after 10 s, so a silent server fails the test.
    def __init__(self, port):
        self.sock = socket.create_connection((support.HOST, port), timeout=10)
        self.buf = b""

    # The next reply line, without its \r\n; b"" once the server has closed.
    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def lines(self, n):
        return [self.line() for _ in range(n)]

    def send(self, data):
        self.sock.sendall(data)

    # Send one command line and return its reply.
    def ask(self, command):
        self.send(command + b"\r\n")
        return self.line()

    # Whether the server closed the connection (after any lines still unread).
    def closed(self):
        try:
            return self.sock.recv(4096) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


class ControlExampleMixin:
    runtime = None

    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_example(cls.runtime, "control")

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)

    # After every test the server still runs and still answers a new client.
    def tearDown(self):
        self.assertIsNone(self.proc.poll(), "the server died")
        c = self.client()
        self.assertEqual(c.ask(b"GET uptime")[:10], b"OK uptime ")

    # A client that has read the banner and (auth) given the token; closed at the end of the test.
    def client(self, auth=True):
        c = Client(self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.line(), BANNER)
        if auth:
            self.assertEqual(c.ask(b"AUTH " + TOKEN), b"OK authenticated")
        return c

    ##### who may change the device (failed AUTHs: on a server of their own, below)

    def test_the_token_is_never_shown(self):
        c = self.client()
        for line in (b"HELP", b"STATUS", b"GET temp", b"AUTH " + TOKEN + b" extra", b"AUTH " + TOKEN * 20):
            self.assertNotIn(TOKEN, c.ask(line))
        self.assertNotIn(CONTROL_TOKEN, self.proc.said)
        self.assertNotIn(CONTROL_TOKEN, printed(self.proc))

    ##### Python sockets

    def test_a_session(self):
        c = self.client()
        self.assertTrue(c.ask(b"HELP").startswith(b"OK commands: HELP, GET"))
        self.assertEqual(c.ask(b"get temp")[:8], b"OK temp ")
        self.assertEqual(c.ask(b"GET humidity")[:12], b"OK humidity ")
        mem = c.ask(b"GET mem")
        if self.runtime == MICROPYTHON:
            self.assertTrue(mem[7:].isdigit(), mem)
        else:
            self.assertEqual(mem, b"OK mem n/a")
        self.assertEqual(c.ask(b"SET led on"), b"OK led on")
        self.assertEqual(c.ask(b"SET interval 30"), b"OK interval 30")
        status = c.ask(b"STATUS")
        self.assertTrue(status.startswith(b"OK led=on interval=30 uptime="), status)
        self.assertEqual(c.ask(b"SET led off"), b"OK led off")
        self.assertEqual(c.ask(b"SET interval 10"), b"OK interval 10")
        self.assertEqual(c.ask(b"QUIT"), b"OK bye")
        self.assertTrue(c.closed())

    def test_pipelined_with_both_line_ends(self):
        c = self.client()  # authenticated
        c.send(b"GET temp\nSET led off\r\n\r\n\nFROB\nGET\nSET interval 0\nQUIT\nHELP\n")
        got = c.lines(6)
        self.assertEqual(got[0][:8], b"OK temp ")
        self.assertEqual(
            got[1:],
            [
                b"OK led off",
                b"ERR 20 unknown command: HELP lists the commands",
                b"ERR 21 missing argument: GET temp|humidity|uptime|mem",
                b"ERR 24 bad value: SET interval 1-3600",
                b"OK bye",
            ],
        )
        self.assertTrue(c.closed(), "nothing after QUIT is answered")

    def test_binary_input(self):
        c = self.client()
        c.send(bytes(range(256)).replace(b"\n", b"") + b"\n")
        self.assertEqual(c.line(), TOO_LONG)  # 255 bytes
        c.send(b"\x00\x01\x02\xff\r\n\x7f\n\xc3\xa9t\xc3\xa9\n\x1b[A\n")
        self.assertEqual(c.lines(4), [BAD_BYTES] * 4)
        self.assertEqual(c.ask(b"GET uptime")[:10], b"OK uptime ")

    def test_oversized_input(self):
        c = self.client()
        c.send(b"SET led on " + b"A" * 100000 + b"\nSET led off\n")
        self.assertEqual(c.lines(2), [TOO_LONG, b"OK led off"])
        c.send(b"B" * 128 + b"\r\n" + b"C" * 129 + b"\n")
        self.assertEqual(c.lines(2), [b"ERR 20 unknown command: HELP lists the commands", TOO_LONG])

    def test_a_client_leaving_mid_line_while_another_is_served(self):
        a = self.client()
        b = self.client()
        a.send(b"SET le")
        self.assertEqual(b.ask(b"SET led off"), b"OK led off")
        a.send(b"d on\n")  # each connection keeps its own partial line
        self.assertEqual(a.line(), b"OK led on")
        a.send(b"SET led of")
        a.close()
        c = self.client()
        c.send(b"Z" * 5000)  # mid over-long line
        self.assertEqual(c.line(), TOO_LONG)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # a reset, not a clean close
        for _ in range(500):  # until the server has seen both go (b is then its only client)
            status = b.ask(b"STATUS")
            if status.endswith(b" clients=1/4"):
                break
            time.sleep(0.01)
        self.assertTrue(status.endswith(b" clients=1/4"), status)
        self.assertTrue(status.startswith(b"OK led=on "), "a's half line did nothing")
        self.assertEqual(b.ask(b"QUIT"), b"OK bye")

    ##### socat and nc

    def test_with_socat_or_nc(self):
        tools = []
        if shutil.which("socat"):
            tools.append(["socat", "-t", "10", "-", "TCP:%s:%d" % (support.HOST, self.port)])
        if shutil.which("nc"):
            tools.append(["nc", support.HOST, str(self.port)])  # netcat-openbsd: ends when the server closes
        if not tools:
            self.skipTest("neither socat nor nc is installed")
        for argv in tools:
            with self.subTest(tool=argv[0]):
                out = subprocess.run(
                    argv,
                    check=False,  # the replies are the point, not the tool's exit status
                    input=b"help\r\nGET temp\nauth " + TOKEN + b"\nset LED on\nGET pressure\n\x00\x01\n" + b"x" * 300 + b"\nQUIT\n",
                    capture_output=True,
                    timeout=30,
                )
                lines = out.stdout.split(b"\r\n")
                self.assertEqual(lines[0], BANNER)
                self.assertTrue(lines[1].startswith(b"OK commands: "))
                self.assertEqual(lines[2][:8], b"OK temp ")
                self.assertEqual(
                    lines[3:],
                    [
                        b"OK authenticated",
                        b"OK led on",
                        b"ERR 23 unknown name: GET temp|humidity|uptime|mem",
                        BAD_BYTES,
                        TOO_LONG,
                        b"OK bye",
                        b"",
                    ],
                )


class CPythonControlTest(ControlExampleMixin, unittest.TestCase):
    runtime = sys.executable


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class MicroPythonControlTest(ControlExampleMixin, unittest.TestCase):
    runtime = MICROPYTHON


##### strangers, on a server of their own (their failures lock 127.0.0.1 out for a while)


class StrangerExampleTest(unittest.TestCase):
    def check_stranger(self, runtime):
        proc, port = start_example(runtime, "control")
        self.addCleanup(stop, proc)
        c = Client(port)
        self.addCleanup(c.close)
        self.assertEqual(c.line(), BANNER)
        self.assertEqual(c.ask(b"SET led on"), b"ERR 30 not authenticated: AUTH <token> first")
        self.assertTrue(c.ask(b"STATUS").startswith(b"OK led=off "))
        self.assertEqual(c.ask(b"AUTH " + TOKEN[:-1]), b"ERR 31 authentication failed")
        wait = b"ERR 33 too many failed AUTH from your address: try again in "
        self.assertTrue(c.ask(b"AUTH " + TOKEN).startswith(wait), "not tried while the address waits")
        last = c.ask(b"AUTH guess")
        self.assertTrue(last.startswith(wait) and last.endswith(b"; closing"), last)
        self.assertTrue(c.closed())
        self.assertNotIn(CONTROL_TOKEN, printed(proc))

    def check_read_only(self, runtime):
        proc, port = start_example(runtime, "control", env={"CONTROL_TOKEN": ""})
        self.addCleanup(stop, proc)
        self.assertIn("read-only", proc.said)
        c = Client(port)
        self.addCleanup(c.close)
        self.assertEqual(c.line(), BANNER)
        self.assertTrue(c.ask(b"SET led on").startswith(b"ERR 32 read-only: "))
        self.assertTrue(c.ask(b"AUTH " + TOKEN).startswith(b"ERR 32 read-only: "))
        self.assertTrue(c.ask(b"GET temp").startswith(b"OK temp "))

    def test_a_stranger_on_cpython(self):
        self.check_stranger(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_a_stranger_on_micropython(self):
        self.check_stranger(MICROPYTHON)

    def test_without_a_token_on_cpython(self):
        self.check_read_only(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_without_a_token_on_micropython(self):
        self.check_read_only(MICROPYTHON)


##### the connection budget, on a server of its own


class BudgetExampleTest(unittest.TestCase):
    def check_budget(self, runtime):
        proc, port = start_example(runtime, "control")
        self.addCleanup(stop, proc)
        first = []
        for _ in range(4):  # MAX_CLIENTS
            c = Client(port)
            self.addCleanup(c.close)
            self.assertEqual(c.line(), BANNER)
            # a command: between lines, idle for less than a second, a connection keeps its slot from
            # a client waiting (uasyncore_slots); one that never said a word would give it up
            self.assertEqual(c.ask(b"GET uptime")[:10], b"OK uptime ")
            first.append(c)
        extra = Client(port)  # the kernel takes it; the server does not, yet
        self.addCleanup(extra.close)
        self.assertTrue(first[0].ask(b"STATUS").endswith(b" clients=4/4"))
        self.assertEqual(first[1].ask(b"QUIT"), b"OK bye")
        self.assertEqual(extra.line(), BANNER, "a slot is free: the waiting client is served")
        self.assertTrue(extra.ask(b"STATUS").endswith(b" clients=4/4"))

    def test_budget_on_cpython(self):
        self.check_budget(sys.executable)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_budget_on_micropython(self):
        self.check_budget(MICROPYTHON)
