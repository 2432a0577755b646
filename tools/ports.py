#!/usr/bin/env python3
# The MicroPython adapters are written in parts (ports/micropython/): what every MicroPython port
# shares (common.py), what the lwIP boards share (lwip.py), and each port's own part. This assembles
# each port's single ports/<port>/uasyncore_port.py from them, which is what a board copies (or mip
# installs, or manifest.py freezes): edit the parts, then `make ports`.
#
#   python3 tools/ports.py           write the assembled adapters
#   python3 tools/ports.py --check   exit 1 if one differs from what its parts make (tests run this)
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PARTS_DIR = os.path.join(ROOT, "ports", "micropython")
# port -> its parts, in the order the assembled module runs them: what a part uses at import time
# comes from an earlier part (the lwIP part's errorcode table is built from the board's errno numbers)
PARTS = {
    "unix": ["common.py", "unix.py"],
    "esp32": ["common.py", "esp32.py", "lwip.py"],
    "rp2": ["common.py", "rp2.py", "lwip.py"],
}


# A part's leading comment, its imports and the rest.
def split(text):
    lines = text.rstrip("\n").split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        i += 1
    head = lines[:i]
    imports = []
    while i < len(lines) and (lines[i].startswith("import ") or not lines[i].strip()):
        if lines[i].strip():
            imports.append(lines[i])
        i += 1
    return head, imports, "\n".join(lines[i:])


def assemble(port):
    heads, imports, bodies = [], set(), []
    for name in PARTS[port]:
        with open(os.path.join(PARTS_DIR, name)) as f:
            head, part_imports, body = split(f.read())
        heads.append(head)
        imports.update(part_imports)
        bodies.append(body)
    own = heads[PARTS[port].index(port + ".py")]  # the port's own part says what the module is
    parts = ", ".join("ports/micropython/" + name for name in PARTS[port])
    note = ["#", "# Assembled by tools/ports.py from %s: edit those, then `make ports`." % parts]
    text = "\n".join(own + note) + "\n" + "\n".join(sorted(imports)) + "\n\n"
    return text + "\n\n\n".join(bodies) + "\n"


def target(port):
    return os.path.join(ROOT, "ports", port, "uasyncore_port.py")


def main():
    ap = argparse.ArgumentParser(description="assemble the MicroPython adapters from their parts")
    ap.add_argument("--check", action="store_true", help="only check that the assembled files are current")
    args = ap.parse_args()
    stale = []
    for port in PARTS:
        text = assemble(port)
        with open(target(port)) as f:
            current = f.read()
        if current == text:
            continue
        if args.check:
            stale.append(os.path.relpath(target(port), ROOT))
        else:
            with open(target(port), "w") as f:
                f.write(text)
            print("assembled " + os.path.relpath(target(port), ROOT))
    if stale:
        print("not what their parts make (edit ports/micropython/, then `make ports`): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
