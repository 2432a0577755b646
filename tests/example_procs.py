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


# The token the control example is started with in these tests (CONTROL_TOKEN).
CONTROL_TOKEN = "t0ken-for-tests"


# Start an example; returns (process, port) once it says it serves on that port (5 tries at ports
# that were free a moment before). env: variables to set for it (the control example gets
# CONTROL_TOKEN unless env says otherwise); proc.said is the line it printed.
def start_example(runtime, name, env=None):
    line = ""
    full = dict(os.environ)
    if name == "control":
        full["CONTROL_TOKEN"] = CONTROL_TOKEN
    full.update(env or {})
    for _ in range(5):
        port = support.free_port()
        proc = subprocess.Popen(
            [runtime, "examples/run.py", name, "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full,
        )
        line = proc.stdout.readline()
        if "serving on 127.0.0.1:%d" % port in line:
            proc.said = line
            return proc, port
        stop(proc)
    raise AssertionError("%s did not start the %s example: %r" % (runtime, name, line))


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()


# What the example has printed since it started serving, without waiting for more.
def printed(proc):
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    out = b""
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
    except BlockingIOError:
        pass
    return out.decode("utf-8", "replace")
