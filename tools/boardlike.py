#!/usr/bin/env python3
# Build the board-like MicroPython: the unix port held to what a board's firmware has (32-bit objects,
# the ESP32 feature level, no sys.exc_info(), mbedTLS on the GC heap, asyncio and ssl frozen), from
# the variant files in tools/boardlike/ and a MicroPython source tree. Twice: OUT/micropython is the
# firmware as shipped, where programs bring uasyncore as source or .mpy (the tests, the RAM figures);
# OUT/micropython-frozen also has uasyncore frozen through the project's manifest.py.
#
#   python3 tools/boardlike.py build [--src DIR] [--archive FILE] [--out build/boardlike]
#
# The source is --src (a MicroPython checkout with lib/mbedtls and lib/micropython-lib), else the
# archive, unpacked once into OUT/src. With neither it says how to get one and exits 0 without a
# build, so that the rest of `make test` goes on (the tests that need it skip, unless
# UASYNCORE_REQUIRE_BOARDLIKE is set). mpy-cross ends up at OUT/mpy-cross.
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VARIANT = os.path.join(HERE, "boardlike")
ARCHIVE = os.path.join(os.path.dirname(ROOT), "shared", "micropython", "micropython-src.tar.xz")
HOW_TO_GET = """no MicroPython source for the board-like runtime: its tests will be skipped.
Give one with  make boardlike MICROPY_SRC=/path/to/micropython  (a checkout of
https://github.com/micropython/micropython with `git submodule update --init lib/mbedtls
lib/micropython-lib`), or put the source archive at %s.""" % ARCHIVE


def run(cmd, **kw):
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


# The source tree: --src as given, or the archive unpacked under out/src (again when it changed).
def source(args, out):
    if args.src:
        if not os.path.isfile(os.path.join(args.src, "py", "mpconfig.h")):
            raise SystemExit("MICROPY_SRC=%s is not a MicroPython source tree (no py/mpconfig.h)" % args.src)
        return os.path.abspath(args.src)
    if not os.path.isfile(args.archive):
        return None
    tree = os.path.join(out, "src")
    stamp = os.path.join(tree, ".unpacked-from")
    mark = "%s %d" % (os.path.abspath(args.archive), os.path.getmtime(args.archive))
    if not os.path.isfile(stamp) or open(stamp).read() != mark:
        shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(tree)
        run(["tar", "-xJf", args.archive, "-C", tree])
        with open(stamp, "w") as f:
            f.write(mark)
    return os.path.join(tree, "micropython")


# A 32-bit link needs gcc-multilib; say so plainly instead of failing deep inside the build.
def check_m32():
    with tempfile.TemporaryDirectory() as tmp:
        c = os.path.join(tmp, "m32.c")
        with open(c, "w") as f:
            f.write("int main(void) { return 0; }\n")
        done = subprocess.run(["cc", "-m32", c, "-o", os.path.join(tmp, "m32")], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit("cc -m32 cannot build a 32-bit program: apt-get install gcc-multilib\n" + done.stderr)


# Copy a built program into place by renaming a copy over it: a program still running from the old
# file (a test, another build's user) keeps it, where writing over it would fail ("text file busy").
def install(built, dest):
    tmp = dest + ".new"
    shutil.copy2(built, tmp)
    os.replace(tmp, dest)


def build(args):
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    src = source(args, out)
    if src is None:
        print(HOW_TO_GET)
        return 0
    check_m32()
    jobs = "-j%d" % (os.cpu_count() or 2)
    run(["make", "-s", "-C", os.path.join(src, "mpy-cross"), jobs])
    install(os.path.join(src, "mpy-cross", "build", "mpy-cross"), os.path.join(out, "mpy-cross"))
    for name, manifest in (("micropython", "manifest.py"), ("micropython-frozen", "manifest_frozen.py")):
        # BUILD outside the source tree: one source serves both builds; VARIANT_DIR is ours
        build = os.path.join(out, "build-" + name)
        run(["make", "-s", "-C", os.path.join(src, "ports", "unix"), jobs, "VARIANT_DIR=" + VARIANT,
             "BUILD=" + build, "FROZEN_MANIFEST=" + os.path.join(VARIANT, manifest)])
        interp = os.path.join(out, name)
        install(os.path.join(build, "micropython"), interp)
        info = subprocess.run([interp, "-c", "import sys; print(sys.version, sys.maxsize)"], capture_output=True,
                              text=True, check=True).stdout.strip()
        print("board-like MicroPython: %s (%s)" % (os.path.relpath(interp, ROOT), info))
    return 0


def main():
    ap = argparse.ArgumentParser(description="build the board-like MicroPython (tools/boardlike/)")
    ap.add_argument("command", choices=("build",))
    ap.add_argument("--src", default=os.environ.get("MICROPY_SRC") or None, help="a MicroPython source tree")
    ap.add_argument("--archive", default=ARCHIVE, help="the source archive (default: %(default)s)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "boardlike"))
    return build(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
