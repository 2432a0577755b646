# The drop-in names on CPython: `import asyncore` / `import asynchat` as a program that was written for
# the standard library makes them. From this tree they are ours with lib/ and the adapter on PYTHONPATH
# (before the standard library, so on 3.11 too). Installed with pip (make test-pip runs these tests
# with UASYNCORE_INSTALLED=1) they are ours where the standard library has no asyncore (3.12+), while a
# standard library that has one keeps it unless the program asks for ours (the README's two lines).
import os
import socket
import sys
import unittest

import support

try:
    import subprocess
except ImportError:
    raise unittest.SkipTest("starts processes: needs subprocess")

ROOT = support.ROOT
INSTALLED = os.environ.get("UASYNCORE_INSTALLED") == "1"
# What a program's imports resolve to: "module file async_chat's-module".
PROBE = "import asyncore, asynchat; print(asyncore.__name__, asyncore.__file__, asynchat.async_chat.__module__)"


# The README's "two lines": the opt-in for a Python whose standard library keeps asyncore and asynchat.
def readme_opt_in():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    start = text.index("```python\n", text.index("The two lines")) + len("```python\n")
    return text[start : text.index("```", start)]


OPT_IN = readme_opt_in()


# The environment a program runs in: this tree's lib/ on PYTHONPATH, or the installed package alone.
def program_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if not INSTALLED:
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython")])
    return env


def python(*args):
    out = subprocess.run([sys.executable] + list(args), env=program_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


# Does this Python's standard library have asyncore (3.11 and older)? Asked with site-packages and
# PYTHONPATH left out, so neither this tree nor an installed drop-in answers.
def stdlib_has_asyncore():
    return subprocess.run([sys.executable, "-I", "-S", "-c", "import asyncore"], capture_output=True).returncode == 0


# Where our modules must come from in this run.
WHERE = "site-packages" if INSTALLED else os.path.join(ROOT, "lib")
# Whether a plain `import asyncore` gets ours here.
OURS_BY_NAME = not (INSTALLED and stdlib_has_asyncore())


class DropInTest(unittest.TestCase):
    def assert_ours(self, probed):
        name, path, chat = probed
        self.assertEqual((name, chat), ("uasyncore", "uasynchat"), path)
        self.assertIn(WHERE, path)

    def test_import_asyncore_and_asynchat_get_ours_unless_the_stdlib_keeps_them(self):
        probed = python("-W", "ignore::DeprecationWarning", "-c", PROBE)
        if OURS_BY_NAME:
            self.assert_ours(probed)
        else:
            self.assertEqual((probed[0], probed[2]), ("asyncore", "asynchat"), "the standard library's")
            self.assertNotIn("site-packages", probed[1])

    def test_the_readme_opt_in_gets_ours_everywhere(self):
        self.assertEqual(len(OPT_IN.splitlines()), 2, OPT_IN)
        self.assert_ours(python("-c", OPT_IN + PROBE))

    @unittest.skipUnless(OURS_BY_NAME, "this Python's standard library keeps its asyncore: the program would run on it")
    def test_an_unmodified_asyncore_program_serves(self):
        proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "asyncore_program.py")],
            env=program_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.addCleanup(self.stop, proc)
        line = proc.stdout.readline()
        self.assertTrue(line.startswith("listening on "), line + proc.stdout.read() if proc.poll() is not None else line)
        port = int(line.split()[-1])
        with socket.create_connection((support.HOST, port), timeout=10) as client:
            client.sendall(b"hello\nsecond line\npart")
            client.sendall(b"ial\n")
            got = b""
            while got.count(b"\n") < 3:
                chunk = client.recv(4096)
                self.assertTrue(chunk, "the program closed the connection: %r" % got)
                got += chunk
        self.assertEqual(got, b"hello\nsecond line\npartial\n")
        self.assertIsNone(proc.poll(), "the program must keep serving after a client leaves")

    def stop(self, proc):
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
