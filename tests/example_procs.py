# Starting and stopping `RUNTIME examples/run.py NAME --port N` for the end-to-end tests (CPython only:
# it starts processes; test modules that import it skip themselves where subprocess is missing).
import os
import shutil
import subprocess
import sysconfig

import support

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")
# The board-like MicroPython (`make boardlike`: 32-bit, ESP32 feature level), or None when not built;
# BOARDLIKE_FROZEN is the same firmware with uasyncore frozen. Where the Makefile found a source to
# build them from, it says so (UASYNCORE_REQUIRE_BOARDLIKE), and a missing build then fails its tests
# instead of skipping them.
BOARDLIKE = os.path.join(ROOT, "build", "boardlike", "micropython")
BOARDLIKE_FROZEN = BOARDLIKE + "-frozen"
if not os.access(BOARDLIKE, os.X_OK) and not os.environ.get("UASYNCORE_REQUIRE_BOARDLIKE"):
    BOARDLIKE = BOARDLIKE_FROZEN = None
NO_BOARDLIKE = "no board-like MicroPython: make boardlike"


# Start an example; returns (process, port) once it says it serves on that port (5 tries at ports
# that were free a moment before).
def start_example(runtime, name):
    line = ""
    for _ in range(5):
        port = support.free_port()
        proc = subprocess.Popen(
            [runtime, "examples/run.py", name, "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = proc.stdout.readline()
        if "serving on 127.0.0.1:%d" % port in line:
            return proc, port
        stop(proc)
    raise AssertionError("%s did not start the %s example: %r" % (runtime, name, line))


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()
