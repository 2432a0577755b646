# The echo example at a board-sized heap, with the compiled library, serves 8 clients, and a burst of
# 50 more connection attempts is refused or queued without a MemoryError and without disturbing the 8:
# on the PyPI micropython (64-bit) at 128K, and on the board-like one (32-bit) at the ESP32's 110K.
import support  # noqa: I001

import socket
import sys
import time
import unittest

try:
    import os
    import subprocess
    import tempfile

    from example_procs import BOARDLIKE, MICROPYTHON, NO_BOARDLIKE, ROOT, stop

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import mpybuild
except ImportError:
    raise unittest.SkipTest("starts processes: needs subprocess")

CLIENTS = 8
BURST = 50


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class HeapBurstTest(unittest.TestCase):
    runtime = MICROPYTHON
    heap = "128K"

    def test_eight_clients_survive_a_burst_of_fifty(self):
        lib = tempfile.mkdtemp()
        mpybuild.build("unix", lib)
        port = support.free_port()
        proc = subprocess.Popen(
            [self.runtime, "-X", "heapsize=" + self.heap, "examples/run.py", "echo", "--port", str(port), "--lib", lib],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.addCleanup(stop, proc)
        self.assertIn("serving on", proc.stdout.readline())
        steady = [socket.create_connection((support.HOST, port), timeout=10) for _ in range(CLIENTS)]
        self.addCleanup(lambda: [s.close() for s in steady])

        def round_trip(tag):
            for i, s in enumerate(steady):
                msg = b"%s-%d-" % (tag, i) * 20
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, "steady client %d was closed" % i)
                    got += chunk
                self.assertEqual(got, msg)

        round_trip(b"before")
        burst = []
        self.addCleanup(lambda: [s.close() for s in burst])
        for _ in range(BURST):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((support.HOST, port))  # refused, queued or accepted: all fine
            burst.append(s)
        time.sleep(0.5)  # let the server take what it takes
        round_trip(b"during")
        for s in burst:
            s.close()
        burst.clear()
        time.sleep(0.2)
        round_trip(b"after")
        self.assertIsNone(proc.poll(), "the server died")
        proc.kill()
        output = proc.stdout.read()  # everything it printed: a handler's error would be here
        self.assertNotIn("MemoryError", output)
        self.assertNotIn("error:", output)


@unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
class BoardLikeHeapBurstTest(HeapBurstTest):
    runtime = BOARDLIKE
    heap = "110K"
