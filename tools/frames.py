#!/usr/bin/env python3
# Which functions MicroPython gives a heap frame at every call: each function's N_STATE and
# N_EXC_STACK as MicroPython's own compiler sets them, and the verdict of the rule below.
#
#   python3 tools/frames.py [--micropython PATH] [--heap-only] [FILE ...]
#
# The rule (MicroPython 1.29, py/objfun.c, fun_bc_call): a call to a bytecode function needs
#   state_size = N_STATE * sizeof(mp_obj_t) + N_EXC_STACK * sizeof(mp_exc_stack_t)    (objfun.c:212-213)
# bytes for its frame, and `if (state_size > VM_MAX_STATE_ON_STACK)` (objfun.c:273) takes it from the
# GC heap (m_new_obj_var_maybe, freed on return), else from the C stack (alloca). VM_MAX_STATE_ON_STACK
# is sizeof(mp_uint_t) * 11 (objfun.c:202) and mp_exc_stack_t is three words (py/bc.h:190-197), so
# with one-word objects (ESP32, rp2, unix: MICROPY_OBJ_REPR_A) the frame goes to the heap when
#   N_STATE + 3 * N_EXC_STACK > 11.
# That holds where MICROPY_ENABLE_PYSTACK and MICROPY_STACKLESS are off (py/mpconfig.h:386, 802: the
# default, and what esp32, rp2 and unix leave them at). A generator is different: its state is
# allocated once, with the generator object (py/objgenerator.c:62-64), so resuming it costs nothing.
# N_STATE counts the locals and the deepest value stack; each nested `try` adds an exception-stack entry,
# and `except ... as name` a second (the hidden finally that deletes name), so such a handler
# takes 6 of the 11 words before any local.
#
# The figures come from the interpreter's compiler, not from a model of it: `micropython -v -v`
# (MICROPY_DEBUG_PRINTERS, on in the unix port's standard variants) prints each compiled code block's prelude, and
# compile() makes it do that for a file without running it. The board-like build (32-bit, the ESP32's
# feature level: the same compiler options as mpy-cross, and the same figures as its .mpy files
# have, checked with MicroPython's tools/mpy-tool.py) is used when there is one: build/boardlike/micropython, else $BOARDLIKE; else the PyPI unix
# port (64-bit: the same words, the table says which ran).
import argparse
import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAX_STACK_WORDS = 11  # VM_MAX_STATE_ON_STACK in words (py/objfun.c:202)
EXC_STACK_WORDS = 3  # words of one mp_exc_stack_t: handler, val_sp, prev_exc (py/bc.h:190-197)
FLAG_GENERATOR = 0x01  # MP_SCOPE_FLAG_GENERATOR (py/runtime0.h:35)

# The core, the framing and the adapters of the MicroPython ports (CPython's has no such frames).
DEFAULT_FILES = ["lib/uasyncore.py", "lib/uasynchat.py", "lib/uasyncore_dgram.py", "lib/uasyncore_dns.py", "ports/unix/uasyncore_port.py",
                 "ports/esp32/uasyncore_port.py", "ports/rp2/uasyncore_port.py"]


# The example modules a board runs: every example's modules but its main.py (which only starts it).
def example_files():
    found = glob.glob(os.path.join(ROOT, "examples", "*", "*.py"))
    return sorted(os.path.relpath(p, ROOT) for p in found if os.path.basename(p) != "main.py")


# The interpreter to ask: the board-like one when it is there, else MicroPython's unix port.
def find_micropython():
    for path in (os.path.join(ROOT, "build", "boardlike", "micropython"), os.environ.get("BOARDLIKE")):
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")


class Frame:
    def __init__(self, module, qualname, line, n_state, n_exc_stack, generator, word):
        self.module = module
        self.qualname = qualname
        self.line = line
        self.n_state = n_state
        self.n_exc_stack = n_exc_stack
        self.generator = generator
        self.word = word

    # The frame's size in words, as fun_bc_call counts it.
    @property
    def words(self):
        return self.n_state + EXC_STACK_WORDS * self.n_exc_stack

    # Whether every call takes the frame from the heap (never for a generator: see the rule above).
    @property
    def heap(self):
        return not self.generator and self.words > MAX_STACK_WORDS

    def verdict(self):
        if self.generator:
            return "generator"
        return "HEAP" if self.heap else "stack"

    def __repr__(self):
        return "<Frame %s:%s %s>" % (self.module, self.qualname, self.verdict())


# A code block as `micropython -v -v` prints it.
class _Block:
    def __init__(self, file, name, descriptor):
        self.file = file
        self.name = name
        self.descriptor = descriptor
        self.raw = []  # the first bytes of the raw bytecode: the prelude's signature
        self.n_state = None
        self.n_exc_stack = None
        self.children = []  # descriptors of the functions and classes it makes, in the order it makes them


_HEADER = re.compile(r"^File (.*), code block '(.*)' \(descriptor: (\w+), bytecode @\w+ \d+ bytes\)$")
_MAKE = re.compile(r"^\d+ MAKE_(?:FUNCTION|CLOSURE)(?:_DEFARGS)? (\w+)")
_HEX = re.compile(r"^(?: [0-9a-f]{2})+$")


def _parse(text):
    blocks = []
    block = None
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            block = _Block(m.group(1), m.group(2), m.group(3))
            blocks.append(block)
            continue
        if block is None:
            continue
        if line.startswith("(N_STATE "):
            block.n_state = int(line[9:-1])
        elif line.startswith("(N_EXC_STACK "):
            block.n_exc_stack = int(line[13:-1])
        elif block.n_state is None and _HEX.match(line):
            block.raw.extend(int(b, 16) for b in line.split())
        else:
            m = _MAKE.match(line)
            if m:
                block.children.append(m.group(1))
    return blocks


# The scope flags from a prelude signature (the layout in py/bc.h's comment: xSSSSEAA [xFSSKAED ...]).
def _scope_flags(raw):
    flags = 0
    more = raw and raw[0] & 0x80
    for n, z in enumerate(raw[1:]):
        if not more:
            break
        flags |= ((z >> 6) & 1) << n
        more = z & 0x80
    return flags


# {qualname: [(line, is_class), ...]} of the defs and classes in a file, in source order (CPython's ast).
def _defs(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    lines = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                lines.setdefault(name, []).append((child.lineno, isinstance(child, ast.ClassDef)))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return lines


# Compile each file with micropython -v -v (nothing runs) and return its functions' Frames, each
# file's in source order; class bodies are left out (each runs once, at import).
def measure(files, micropython):
    names = [os.path.relpath(os.path.abspath(f), ROOT) for f in files]
    program = "import sys\nprint('frames: word', 4 if sys.maxsize < 2**32 else 8)\n"
    for path, name in zip(files, names):
        program += "compile(open(%r).read(), %r, 'exec')\n" % (os.path.abspath(path), name)
    done = subprocess.run([micropython, "-X", "heapsize=8M", "-v", "-v", "-c", program],
                          capture_output=True, text=True, errors="replace", timeout=120)
    if done.returncode:
        raise RuntimeError("%s failed:\n%s" % (micropython, (done.stderr or done.stdout)[-2000:]))
    word = int(re.search(r"^frames: word (\d)$", done.stdout, re.M).group(1))
    blocks = _parse(done.stdout)
    frames = []
    for path, name in zip(files, names):
        mine = {b.descriptor: b for b in blocks if b.file == name}
        made = {c for b in mine.values() for c in b.children}
        roots = [b for b in mine.values() if b.descriptor not in made and b.name == "<module>"]
        if len(roots) != 1:
            raise RuntimeError("%s: %d module blocks in micropython's output" % (name, len(roots)))
        defs = _defs(path)
        seen = {}
        # depth first, children in the order their parent makes them: the source's order
        todo = [(roots[0], "")]
        while todo:
            block, prefix = todo.pop()
            for d in reversed(block.children):
                child = mine[d]
                todo.append((child, prefix + child.name + "."))
            if block is roots[0]:
                continue
            qualname = prefix[:-1]
            nth = seen.get(qualname, 0)
            seen[qualname] = nth + 1
            at = defs.get(qualname, [])
            line, is_class = at[nth] if nth < len(at) else (None, False)
            if is_class:
                continue
            generator = bool(_scope_flags(block.raw) & FLAG_GENERATOR)
            frames.append(Frame(name, qualname, line, block.n_state, block.n_exc_stack, generator, word))
    return frames


def table(frames, micropython, heap_only=False):
    word = frames[0].word if frames else 0
    out = ["frames as %s compiles them (%d-bit); heap: N_STATE + 3 x N_EXC_STACK > %d (py/objfun.c:273)"
           % (micropython, word * 8, MAX_STACK_WORDS)]
    out.append("%-34s %5s  %-44s %7s %11s %5s  %s" % ("module", "line", "function", "N_STATE", "N_EXC_STACK", "words", "frame"))
    for f in frames:
        if heap_only and not f.heap:
            continue
        out.append("%-34s %5s  %-44s %7d %11d %5d  %s" % (f.module, f.line or "-", f.qualname, f.n_state, f.n_exc_stack,
                                                          f.words, f.verdict()))
    heap = sum(1 for f in frames if f.heap)
    out.append("%d functions, %d with a heap frame at every call" % (len(frames), heap))
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description="N_STATE, N_EXC_STACK and heap frames of each function, from MicroPython's compiler")
    parser.add_argument("files", nargs="*", help="default: the core, the framing, the unix adapter and the examples")
    parser.add_argument("--micropython", default=None, help="default: build/boardlike/micropython, $BOARDLIKE, else micropython")
    parser.add_argument("--heap-only", action="store_true", help="list only the functions whose frame goes to the heap")
    args = parser.parse_args(argv)
    micropython = args.micropython or find_micropython()
    if not micropython:
        raise SystemExit("no micropython: make deps (or make boardlike), or give --micropython")
    files = args.files or [os.path.join(ROOT, f) for f in DEFAULT_FILES + example_files()]
    print(table(measure(files, micropython), micropython, args.heap_only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
