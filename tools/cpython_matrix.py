# make test-pip: `pip install .` into a venv of each CPython 3.11, 3.12 and 3.13 found, then the pytest
# suite and CPython 3.11's test_asyncore / test_asynchat against the installed package there.
#
# usage: python3 tools/cpython_matrix.py [--versions 3.11,3.12,3.13] [--out build/cpython] [--jobs N] [--require]
#
# The Pythons are pyenv's ($PYENV_ROOT/versions/3.X.*), else python3.X on PATH; a missing one is
# skipped with a message, or fails the run with --require (CI). The venvs live in --out and are kept:
# requirements-dev.txt is installed again only when it changed, the package only when a file it is
# built from changed. The venvs are made one after another; the tests then run in all of them at once
# (--jobs: how many at once). On 3.12+ the tests import asyncore from the package: those Pythons have
# no asyncore of their own, and their own test_asyncore is gone, so the suites are CPython 3.11's,
# read from the 3.11 found here (none: those runs skip, or fail with --require).
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the package is built from: a change to any of them means installing it again.
PACKAGE_INPUTS = ["pyproject.toml", "package.json", "README.md", "ports/cpython/uasyncore_port.py", "lib/*.py"]


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


# An interpreter for version "3.X": pyenv's newest 3.X.N, else python3.X on PATH, if it runs.
def find_python(version):
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = glob.glob(os.path.join(pyenv, "versions", version + ".*", "bin", "python" + version))
    found.sort(key=lambda path: [int(part) for part in path.split("/")[-3].split(".") if part.isdigit()])
    candidates = found[::-1] + [shutil.which("python" + version)]
    for python in candidates:
        if python and run_ok([python, "-c", "import sys, venv; assert sys.version.startswith(%r)" % (version + ".")]):
            return python
    return None


def run_ok(cmd):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


# Run a command from the source tree, showing it; 0 if it succeeded, else 1.
def run(cmd, env=None):
    print("+ " + " ".join(cmd), flush=True)
    return 0 if subprocess.run(cmd, cwd=ROOT, env=env).returncode == 0 else 1


# The folder of CPython 3.11's test_asyncore.py and test_asynchat.py (3.12 removed them), or None.
def suites_folder(python311):
    if not python311:
        return None
    out = subprocess.run(
        [python311, "-c", "import os, test.test_asynchat as t; print(os.path.dirname(t.__file__))"],
        capture_output=True,
        text=True,
    )
    folder = out.stdout.strip()
    return folder if out.returncode == 0 and os.path.exists(os.path.join(folder, "test_asyncore.py")) else None


# What the tests need, as `make deps` installs it for python3: the requirements' text is the stamp.
def test_requirements():
    with open(os.path.join(ROOT, "requirements-dev.txt")) as f:
        return f.read()


def package_digest():
    digest = hashlib.sha256()
    for pattern in PACKAGE_INPUTS:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            digest.update(path[len(ROOT) :].encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


# Run step() unless the stamp file already holds `key`; record `key` once step() succeeded.
def unless_stamped(stamp, key, step):
    try:
        with open(stamp) as f:
            if f.read() == key:
                return 0
    except OSError:
        pass
    status = step()
    if status == 0:
        with open(stamp, "w") as f:
            f.write(key)
    return status


# A venv for `python` in `folder`, made anew when missing or made by another interpreter.
def make_venv(python, folder):
    venv_python = os.path.join(folder, "bin", "python")
    base = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout
    marker = os.path.join(folder, "base-python.txt")
    try:
        with open(marker) as f:
            if f.read() == base and run_ok([venv_python, "-c", "pass"]):
                return venv_python
    except OSError:
        pass
    shutil.rmtree(folder, ignore_errors=True)
    if run([python, "-m", "venv", folder]) != 0:
        return None
    with open(marker, "w") as f:
        f.write(base)
    return venv_python


# A venv for `version` with the test requirements and the package installed by pip: (venv python,
# None), or (None, what failed).
def prepare(version, python, out):
    folder = os.path.join(out, version)
    venv_python = make_venv(python, folder)
    if not venv_python:
        return None, "venv"
    install_requirements = [venv_python, "-m", "pip", "install", "-q", "-r", "requirements-dev.txt"]
    if unless_stamped(os.path.join(folder, "requirements.stamp"), test_requirements(), lambda: run(install_requirements)):
        return None, "pip install -r requirements-dev.txt"
    # exactly what a user types, in a clean tree or not: pip builds the wheel from pyproject.toml
    install_package = [venv_python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", "."]
    if unless_stamped(os.path.join(folder, "package.stamp"), package_digest(), lambda: run(install_package)):
        return None, "pip install ."
    return venv_python, None


# The tests against the installed package, their output in `log`: [(what, status)], status 0 passed,
# 1 failed, or a sentence saying why they were skipped.
def run_tests(venv_python, suites, log):
    env = dict(os.environ, UASYNCORE_INSTALLED="1")
    env.pop("PYTHONPATH", None)
    steps = [("pytest", [venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])]
    has_own = run_ok([venv_python, "-c", "import test.test_asyncore"])
    if has_own or suites:
        cmd = [venv_python, "tests/cpython_suites.py", "--installed"] + ([] if has_own else ["--suites", suites])
        steps.append(("CPython suites", cmd))
    results = []
    with open(log, "w") as f:
        for what, cmd in steps:
            f.write("+ %s\n" % " ".join(cmd))
            f.flush()
            done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
            results.append((what, 0 if done.returncode == 0 else 1))
    if not (has_own or suites):
        results.append(("CPython suites", "skipped: no CPython 3.11 here to take test_asyncore from"))
    return results


def main():
    versions = option("--versions", "3.11,3.12,3.13").split(",")
    out = os.path.abspath(option("--out", os.path.join(ROOT, "build", "cpython")))
    jobs = int(option("--jobs", str(len(versions))))
    require = "--require" in sys.argv
    os.makedirs(out, exist_ok=True)
    suites = suites_folder(find_python("3.11"))
    results = {}
    ready = {}
    # the venvs one after another (pip's output stays readable), then the tests side by side: they
    # mostly wait on sockets, timers and child processes
    for version in versions:
        python = find_python(version)
        if not python:
            results[version] = [("python" + version, 1 if require else "skipped: none found (pyenv or PATH)")]
            continue
        print("===== CPython %s: %s" % (version, python), flush=True)
        venv_python, failed_step = prepare(version, python, out)
        if failed_step:
            results[version] = [(failed_step, 1)]
        else:
            ready[version] = venv_python
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        running = {
            version: pool.submit(run_tests, venv_python, suites, os.path.join(out, version, "test.log"))
            for version, venv_python in ready.items()
        }
        for version in ready:
            results[version] = [("pip install .", 0)] + running[version].result()
            print("===== CPython %s, installed package: %s" % (version, ready[version]))
            with open(os.path.join(out, version, "test.log")) as f:
                sys.stdout.write(f.read())
    print("===== make test-pip: tests ran %.0f s" % (time.monotonic() - start))
    failed = 0
    for version in versions:
        words = []
        for what, status in results[version]:
            words.append("%s %s" % (what, {0: "passed", 1: "FAILED"}.get(status, status)))
            failed += status == 1 or (require and status not in (0, 1))
        print("CPython %s: %s" % (version, "; ".join(words)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
