# The board-like MicroPython itself (`make boardlike`, tools/boardlike/): built as a board's firmware
# is, and again with this project frozen through manifest.py. CPython only: it starts the interpreter.
import support  # noqa: F401, I001  (first, as in every test module)

import json
import os
import unittest

try:
    import subprocess
    import tempfile

    from example_procs import BOARDLIKE, BOARDLIKE_FROZEN, NO_BOARDLIKE, ROOT
    from test_mpy import ECHO_BODY
except ImportError:
    raise unittest.SkipTest("starts the board-like MicroPython: needs subprocess")


# Run code on a board-like MicroPython from an empty folder, so only frozen modules are found.
def run(test, code, *args, runtime=BOARDLIKE):
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run([runtime, "-c", code] + list(args), cwd=cwd, capture_output=True, text=True,
                              timeout=60)
    test.assertEqual(done.returncode, 0, done.stdout + done.stderr)
    return done.stdout


# The modules manifest.py freezes: package.json's and the adapter (tests/test_packaging.py checks the two agree).
def frozen_modules():
    with open(os.path.join(ROOT, "package.json")) as f:
        urls = json.load(f)["urls"]
    return [dest[:-3] for dest, src in urls] + ["uasyncore_port"]


@unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
class BoardLikeRuntimeTest(unittest.TestCase):
    def test_it_is_built_as_a_board_is(self):
        out = run(self, "import sys\nprint(sys.maxsize, hasattr(sys, 'exc_info'))")
        self.assertEqual(out.split(), [str(2 ** 31 - 1), "False"], "32-bit, no sys.exc_info()")

    def test_a_tls_connection_takes_its_buffers_from_the_gc_heap(self):
        # as on rp2: mbedTLS's ~21 KB of record buffers count against -X heapsize
        code = (
            "import gc, socket, tls\n"
            "ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)\n"
            "ctx.verify_mode = tls.CERT_NONE\n"
            "s = socket.socket()\n"
            "gc.collect()\n"
            "before = gc.mem_alloc()\n"
            "w = ctx.wrap_socket(s, server_side=False, do_handshake_on_connect=False)\n"
            "gc.collect()\n"
            "print(gc.mem_alloc() - before)\n"
        )
        self.assertGreater(int(run(self, code)), 16 * 1024)

    def test_the_frozen_modules_import_and_serve(self):
        names = frozen_modules()
        self.assertIn("uasyncore", names)
        check = "import sys\nsys.path[:] = ['.frozen']\n"
        check += "".join("import %s\nassert not %s.__file__.startswith('/'), %s.__file__\n" % (n, n, n) for n in names)
        check += "import ssl, asyncio\n"  # what the firmware freezes beside them
        out = run(self, check + ECHO_BODY, "-", str(support.free_port()), runtime=BOARDLIKE_FROZEN)
        self.assertIn("reply: b'ping from .mpy'", out)

    def test_the_firmware_as_shipped_has_no_uasyncore(self):
        # the tests and RAM figures run there, with uasyncore brought as source or .mpy as a user would
        out = run(self, "try:\n import uasyncore\nexcept ImportError:\n print('none')\nimport ssl, asyncio")
        self.assertEqual(out.strip(), "none")
