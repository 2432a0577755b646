#!/usr/bin/env python3
# What uasyncore costs a board, measured on the board-like MicroPython (32-bit, `make boardlike`: the
# firmware as shipped, and the build with uasyncore frozen), or on the PyPI one (64-bit: about twice a
# board's figures) when that is missing:
#   - the RAM a plain TCP service's imports keep (core + adapter), from .mpy and frozen;
#   - the RAM each optional module adds when a program imports it;
#   - the heap one idle echo connection holds on the server;
#   - each module's .mpy size.
# Prints a table; exits 1 when a figure is over its limit (LIMITS: the targets that are met).
#
#   python3 tools/footprint.py [--micropython PATH] [--adapter unix]
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mpybuild  # noqa: E402

BOARDLIKE = os.path.join(ROOT, "build", "boardlike", "micropython")
IDLE = 100  # idle connections for the per-connection figure
# Figure -> (target in bytes, enforced). A target not met yet is printed, not enforced: the issue
# that set it says what was measured and tried.
TARGETS = {
    "core + adapter, .mpy": (12 * 1024, False),
    "core + adapter, frozen": (4 * 1024, False),
    "idle echo connection": (150, False),
}
CORE = ("uasyncore_port", "uasyncore")  # what a plain TCP service imports
OPTIONAL = ("uasynchat", "uasyncore_slots")  # each costs nothing unless imported (the slot policy: once a listener is pressed)

# Run by micropython: RAM kept after importing each group of modules in turn, "name bytes" per line.
IMPORTS = r"""
import gc, sys
sys.path[:] = [sys.argv[1]]
groups = sys.argv[2:]
for group in groups:
    gc.collect()
    before = gc.mem_alloc()
    for name in group.split(","):
        __import__(name)
    gc.collect()
    print(group, gc.mem_alloc() - before)
"""


def imports(runtime, path, groups, cwd=None):
    done = subprocess.run([runtime, "-c", IMPORTS, path] + list(groups), capture_output=True, text=True,
                          timeout=60, cwd=cwd)
    if done.returncode:
        raise SystemExit("measuring imports failed: " + done.stdout + done.stderr)
    return {line.split()[0]: int(line.split()[1]) for line in done.stdout.splitlines() if line.strip()}


def frozen(runtime):
    with tempfile.TemporaryDirectory() as cwd:  # nothing here to import: only what is frozen
        return imports(runtime + "-frozen", ".frozen", [",".join(CORE)], cwd=cwd)[",".join(CORE)]


# The heap one idle echo connection holds: the echo example from .mpy, reporting its heap every 0.25 s,
# before and after IDLE loopback clients connect.
def idle_connection(runtime, lib):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = [runtime, "bench/servers/uasyncore_echo_variant.py", str(port), "--lib", lib, "--no-budget", "--heap"]
    proc = subprocess.Popen(server, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    clients = []
    try:
        def reading(conns, deadline):
            seen = None
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit("the echo server ended: " + proc.stdout.read())
                parts = line.split()
                if parts[0] == "heap" and int(parts[2]) == conns:
                    if seen is not None:
                        return int(parts[1])  # the second reading at this count: settled
                    seen = parts
            raise SystemExit("the echo server never reported %d connections" % conns)

        idle = reading(0, time.monotonic() + 20)
        for _ in range(IDLE):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        held = reading(IDLE, time.monotonic() + 20)
        return (held - idle) / IDLE
    finally:
        for c in clients:
            c.close()
        proc.kill()
        proc.wait()
        proc.stdout.close()


def main():
    ap = argparse.ArgumentParser(description="uasyncore's RAM and flash cost on a board")
    ap.add_argument("--micropython", default=BOARDLIKE if os.access(BOARDLIKE, os.X_OK) else None)
    ap.add_argument("--adapter", default="unix", help="the adapter the runtime imports (its .mpy sizes are shown for all)")
    args = ap.parse_args()
    runtime = args.micropython
    if runtime is None:
        import shutil
        import sysconfig
        runtime = shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")
        print("no board-like MicroPython (make boardlike): measuring on %s, 64-bit, about twice a board's RAM" % runtime)
    board_like = os.path.realpath(runtime) == os.path.realpath(BOARDLIKE)
    out = os.path.join(ROOT, "build", "footprint")
    built = {adapter: mpybuild.build(adapter, os.path.join(out, adapter)) for adapter in mpybuild.adapters() if adapter != "cpython"}
    lib = os.path.join(out, args.adapter)
    groups = [",".join(CORE)] + list(OPTIONAL)
    ram = imports(runtime, lib, groups)
    figures = {"core + adapter, .mpy": ram[",".join(CORE)]}
    for name in OPTIONAL:
        figures["+ %s, .mpy" % name] = ram[name]
    if board_like:
        figures["core + adapter, frozen"] = frozen(runtime)
    figures["idle echo connection"] = idle_connection(runtime, lib)

    print("RAM on %s (%s):" % (os.path.relpath(runtime, ROOT) if board_like else runtime,
                               "32-bit, board-like" if board_like else "64-bit"))
    failed = []
    for name, value in figures.items():
        target, enforced = TARGETS.get(name, (None, False))
        verdict = ""
        if target is not None:
            met = value <= target
            verdict = "target %d: %s%s" % (target, "met" if met else "NOT MET", ", enforced" if enforced else "")
            if enforced and not met:
                failed.append(name)
        print("  %-28s %8.0f bytes  %s" % (name, value, verdict))
    print(".mpy sizes:")
    names = sorted(next(iter(built.values())))
    print("  %-16s" % "module" + "".join("%8s" % a for a in built))
    for name in names:
        print("  %-16s" % name + "".join("%8d" % os.path.getsize(b[name][1]) for b in built.values()))
    if failed:
        print("over an enforced limit: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
