#!/usr/bin/env python3
# Run the compiled MicroPython tests held to a board-sized heap, one process per test class, as a
# board runs one service: a class's result must not depend on how earlier classes left the heap.
#
#   python3 tools/heaprun.py [--micropython micropython] [--heap 128K] [--tree build/test-mpy]
#
# Prints one line per test file ("test_x at 128K: P passed, F failed, S skipped"), the log of every
# failing class, and exits 1 if any class failed or if nothing ran.
import argparse
import glob
import os
import re
import subprocess
import sys

SUMMARY = re.compile(r"(\d+) passed, (\d+) failed, (\d+) skipped")


def run(cmd, timeout=300):
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return done.returncode, done.stdout.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--micropython", default="micropython")
    ap.add_argument("--heap", default="128K")
    ap.add_argument("--tree", default="build/test-mpy")
    args = ap.parse_args()
    runner = os.path.join(args.tree, "tests", "run_mpy.py")
    base = [args.micropython, "-X", "heapsize=" + args.heap, runner]
    files = sorted(glob.glob(os.path.join(args.tree, "tests", "test_*.mpy")))
    if not files:
        sys.exit("no compiled tests under %s (run tools/mpybuild.py tests first)" % args.tree)
    failed = total = 0
    for path in files:
        name = os.path.basename(path)[: -len(".mpy")]
        code, out = run(base + [path, "--list"])
        units = out.split() if code == 0 and out.strip() else [name]
        counts = [0, 0, 0]
        for unit in units:
            pattern = [] if unit == name else ["-k", unit + "."]
            code, out = run(base + [path] + pattern)
            found = SUMMARY.findall(out)
            if found:
                for i, n in enumerate(found[-1]):
                    counts[i] += int(n)
            if code != 0:
                print(out)
                if not found or found[-1][1] == "0":
                    counts[1] += 1  # a crash, or nothing ran: one failure
        failed += counts[1]
        total += sum(counts)
        print("%s at %s: %d passed, %d failed, %d skipped" % (name, args.heap, *counts))
    if failed or not total:
        sys.exit(1)


if __name__ == "__main__":
    main()
