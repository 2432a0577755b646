# The virtual board (tools/vboard.py) driven by the real mpremote as a USB board is: files, exec,
# run, soft reset, deploy, the echo example served from the board, tools/run_on_board.py. CPython only.
import unittest

try:
    import os
    import pty  # noqa: F401  (the virtual board needs pseudo-terminals)
    import select
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import sysconfig
    import tempfile
    import time
except ImportError:
    raise unittest.SkipTest("starts processes on pseudo-terminals: needs subprocess and pty")

try:
    import mpremote  # noqa: F401
except ImportError:
    raise unittest.SkipTest("mpremote not installed (pip install -r requirements-dev.txt)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
MICROPYTHON = shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")
STEP = 60  # seconds any one step may take


def tool(name, *args, timeout=STEP):
    return subprocess.run([sys.executable, os.path.join(TOOLS, name)] + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def mpremote_cmd(tty, *args):
    return [sys.executable, "-m", "mpremote", "connect", tty] + list(args)


# Run mpremote on the board; its output, or a failure that shows what it said.
def mpremote(test, tty, *args, timeout=STEP):
    out = subprocess.run(mpremote_cmd(tty, *args), capture_output=True, text=True, timeout=timeout)
    test.assertEqual(out.returncode, 0, "mpremote %s: %s%s" % (" ".join(args), out.stdout, out.stderr))
    return out.stdout.replace("\r\n", "\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Read a child's stdout until a whole line holds needle (or it ends, or timeout passes); all read so far.
def read_until(proc, needle, timeout=STEP):
    got = b""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while b"\n" not in got.partition(needle)[2] and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            got += chunk
    return got.decode(errors="replace")


# Send data, half-close, read until the server closes.
def exchange(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


# Live processes that belong to a state directory: the supervisor names it, the interpreter runs in it.
def processes_of(state_dir):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    continue
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if state_dir in cmd or cwd.startswith(state_dir):
            found.append((int(pid), cmd))
    return found


# lib/ and the unix adapter compiled into build/unix, where deploy.py looks for them.
def build_mpy():
    sys.path.insert(0, TOOLS)
    try:
        import mpybuild

        mpybuild.build("unix", os.path.join(ROOT, "build", "unix"))
    finally:
        sys.path.remove(TOOLS)


def example_module(name):
    for module in (name + "_service", name):
        if os.path.exists(os.path.join(ROOT, "examples", name, module + ".py")):
            return module
    raise AssertionError("no examples/%s" % name)


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
@unittest.skipUnless(os.path.isdir("/proc"), "checks processes through /proc")
class VirtualBoardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="vboard-test-")
        cls.flash = os.path.join(cls.dir, "flash")
        out = tool("vboard.py", "start", "--dir", cls.dir)
        if out.returncode:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise AssertionError("vboard start: %s%s" % (out.stdout, out.stderr))
        cls.tty = out.stdout.strip()

    @classmethod
    def tearDownClass(cls):
        tool("vboard.py", "stop", "--dir", cls.dir)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_tty_is_a_pseudo_terminal(self):
        self.assertTrue(self.tty.startswith("/dev/"), self.tty)
        self.assertEqual(tool("vboard.py", "status", "--dir", self.dir).stdout.strip(), self.tty)
        # the path is kept in a plain file: a symlink to a tty hangs tools that copy the tree
        with open(os.path.join(self.dir, "tty.txt")) as f:
            self.assertEqual(f.read().strip(), self.tty)
        self.assertEqual([n for n in os.listdir(self.dir) if os.path.islink(os.path.join(self.dir, n))], [])

    def test_exec_on_the_board(self):
        out = mpremote(self, self.tty, "exec", "import sys; print(sys.implementation.name, sys.path, 6 * 7)")
        self.assertEqual(out, "micropython ['', '.frozen', '/lib'] 42\n")
        self.assertEqual(mpremote(self, self.tty, "resume", "eval", "1 + 1"), "2\n")

    def test_board_heap_is_board_sized(self):
        out = mpremote(self, self.tty, "exec", "import gc; gc.collect(); print(gc.mem_free() + gc.mem_alloc())")
        self.assertLessEqual(int(out), 128 * 1024)

    def test_files_cp_ls_cat_rm(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "greet.py")
            with open(src, "w") as f:
                f.write("WORD = 'hello from flash'\n")
            out = mpremote(self, self.tty, "mkdir", ":t_dir", "+", "cp", src, ":t_dir/greet.py", "+", "ls", ":t_dir",
                           "+", "cat", ":t_dir/greet.py", "+", "exec",
                           "import sys; sys.path.append('/t_dir'); import greet; print(greet.WORD)")
            self.assertIn("greet.py", out)
            self.assertIn("WORD = 'hello from flash'", out)
            self.assertTrue(out.endswith("hello from flash\n"), out)
            # the board's "/" is the flash directory, nothing outside it
            self.assertTrue(os.path.isfile(os.path.join(self.flash, "t_dir", "greet.py")))
            back = os.path.join(tmp, "back.py")
            mpremote(self, self.tty, "cp", ":t_dir/greet.py", back, "+", "rm", ":t_dir/greet.py",
                     "+", "rmdir", ":t_dir")
            with open(back) as f:
                self.assertEqual(f.read(), "WORD = 'hello from flash'\n")
            self.assertFalse(os.path.exists(os.path.join(self.flash, "t_dir")))

    def test_run_a_local_script(self):
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "script.py")
            with open(script, "w") as f:
                f.write("import os\nprint('cwd', os.getcwd())\nfor i in range(3):\n    print('line', i)\n")
            out = mpremote(self, self.tty, "run", script)
        self.assertEqual(out, "cwd /\nline 0\nline 1\nline 2\n")

    def test_soft_reset_restarts_and_resume_keeps_state(self):
        mpremote(self, self.tty, "exec", "t_mark = 1")
        self.assertEqual(mpremote(self, self.tty, "resume", "eval", "'t_mark' in globals()"), "True\n")
        # without resume mpremote soft-resets first: a fresh interpreter
        self.assertEqual(mpremote(self, self.tty, "eval", "'t_mark' in globals()"), "False\n")

    def test_ctrl_c_interrupts_a_detached_program(self):
        mpremote(self, self.tty, "exec", "--no-follow", "import time\nwhile True:\n    time.sleep_ms(10)")
        # resume: no soft reset, so only mpremote's Ctrl-C can get the REPL back
        self.assertEqual(mpremote(self, self.tty, "resume", "eval", "'back'"), "back\n")

    def test_reset_runs_main_py(self):
        flag = os.path.join(self.flash, "t_booted")
        with tempfile.TemporaryDirectory() as tmp:
            main = os.path.join(tmp, "main.py")
            with open(main, "w") as f:
                f.write("open('/t_booted', 'w').write('yes')\n")
            mpremote(self, self.tty, "cp", main, ":main.py")
        try:
            self.assertEqual(tool("vboard.py", "reset", "--dir", self.dir).returncode, 0)
            deadline = time.monotonic() + 15
            while not os.path.exists(flag) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(flag), "main.py did not run after reset")
        finally:
            mpremote(self, self.tty, "rm", ":main.py")
            if os.path.exists(flag):
                os.remove(flag)

    def test_deploy_and_serve_echo_from_the_board(self):
        build_mpy()  # a 128 KB board cannot compile the core from source: deploy it compiled
        out = tool("deploy.py", "--vboard-dir", self.dir, "--kind", "mpy")  # as `make deploy` calls it
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        listing = mpremote(self, self.tty, "ls", ":/lib")
        for name in ("uasyncore.mpy", "uasynchat.mpy", "uasyncore_port.mpy"):
            self.assertIn(name, listing)
        module = example_module("echo")
        mpremote(self, self.tty, "resume", "mkdir", ":/echo", "+", "cp",
                 os.path.join(ROOT, "examples", "echo", module + ".py"), ":/echo/")
        port = free_port()
        start = "import sys\nsys.path.insert(0, '/echo')\nimport %s\n%s.main(port=%d)" % (module, module, port)
        # no resume: a soft reset first, so the import has the whole 128 KB heap
        service = subprocess.Popen(mpremote_cmd(self.tty, "exec", start), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        try:
            said = read_until(service, b"serving on")
            self.assertIn("serving on 127.0.0.1:%d" % port, said)
            self.assertEqual(exchange(port, b"hello"), b"hello")
            big = bytes(range(256)) * 400  # many recv/send rounds on the board's 128 KB heap
            self.assertEqual(exchange(port, big), big)
        finally:
            service.terminate()
            service.wait(timeout=STEP)
            service.stdout.close()
        # the board still serves with nobody on its console; a soft reset ends the service
        self.assertEqual(exchange(port, b"still there"), b"still there")
        mpremote(self, self.tty, "soft-reset")
        self.assertTrue(refused(port), "the service outlived a soft reset")


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
@unittest.skipUnless(os.path.isdir("/proc"), "checks processes through /proc")
class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vboard-life-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.addCleanup(tool, "vboard.py", "stop", "--dir", self.dir)

    def assert_nothing_left(self):
        deadline = time.monotonic() + 10
        while processes_of(self.dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(processes_of(self.dir), [])
        for name in ("tty.txt", "vboard.pid", "board.pid"):
            self.assertFalse(os.path.lexists(os.path.join(self.dir, name)), name)

    def test_start_twice_then_stop_leaves_nothing(self):
        first = tool("vboard.py", "start", "--dir", self.dir, "--heap", "96K")
        self.assertEqual(first.returncode, 0, first.stderr)
        again = tool("vboard.py", "start", "--dir", self.dir)
        self.assertEqual(again.stdout, first.stdout, "a second start reuses the running board")
        pids = [pid for pid, _ in processes_of(self.dir)]
        self.assertEqual(len(pids), 2, processes_of(self.dir))  # the supervisor and its interpreter
        self.assertEqual(mpremote(self, first.stdout.strip(), "eval", "'up'"), "up\n")
        stop = tool("vboard.py", "stop", "--dir", self.dir)
        self.assertEqual(stop.stdout.strip(), "vboard: stopped", stop.stderr)
        self.assert_nothing_left()
        self.assertEqual(tool("vboard.py", "status", "--dir", self.dir).returncode, 1)

    def test_run_on_board_serves_echo_and_ctrl_c_cleans_up(self):
        build_mpy()
        port = free_port()
        proc = subprocess.Popen([sys.executable, os.path.join(TOOLS, "run_on_board.py"), "echo", "--port", str(port),
                                 "--vboard-dir", self.dir, "--kind", "mpy"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            said = read_until(proc, b"serving on")
            self.assertIn("echo: serving on 127.0.0.1:%d" % port, said)
            self.assertEqual(exchange(port, b"board echo"), b"board echo")
            proc.send_signal(signal.SIGINT)
            said += read_until(proc, b"vboard: stopped")
            self.assertEqual(proc.wait(timeout=STEP), 0, said)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=STEP)
            proc.stdout.close()
        self.assertIn("run_on_board: stopping", said)
        self.assertTrue(refused(port))
        self.assert_nothing_left()


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
@unittest.skipUnless(os.path.isdir("/proc"), "checks processes through /proc")
class MakeRunTest(unittest.TestCase):
    # What `make run` does: the http example on the virtual board, reached by curl at the URL printed.
    def test_run_on_board_serves_http_and_prints_its_url(self):
        state = tempfile.mkdtemp(prefix="vboard-run-")
        self.addCleanup(shutil.rmtree, state, True)
        self.addCleanup(tool, "vboard.py", "stop", "--dir", state)
        build_mpy()
        port = free_port()
        out = subprocess.run([sys.executable, os.path.join(TOOLS, "run_on_board.py"), "http", "--port", str(port),
                              "--vboard-dir", state, "--detach"], cwd=ROOT, capture_output=True, text=True,
                             timeout=STEP * 2)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        url = "http://127.0.0.1:%d/" % port
        self.assertIn("open " + url, out.stdout)
        if shutil.which("curl"):
            page = subprocess.run(["curl", "-s", "-m", "10", url], capture_output=True, text=True, timeout=STEP)
            api = subprocess.run(["curl", "-s", "-m", "10", url + "api/status"], capture_output=True, text=True,
                                 timeout=STEP)
            self.assertIn("<html", page.stdout)
            self.assertIn('"readings"', api.stdout)
        else:
            import urllib.request

            with urllib.request.urlopen(url + "api/status", timeout=10) as r:
                self.assertIn(b'"readings"', r.read())


def load_tool(name):
    import importlib.util

    sys.path.insert(0, TOOLS)  # deploy.py imports vboard.py beside it
    try:
        spec = importlib.util.spec_from_file_location("tool_" + name, os.path.join(TOOLS, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(TOOLS)


class DeployChoiceTest(unittest.TestCase):
    # .mpy only when make mpy built every module and none is older than its source.
    def setUp(self):
        self.deploy = load_tool("deploy")
        self.mpy_dir = tempfile.mkdtemp(prefix="vboard-mpy-")
        self.addCleanup(shutil.rmtree, self.mpy_dir, True)
        self.names = sorted(self.deploy.sources("unix"))

    def touch(self, name, age=0):
        path = os.path.join(self.mpy_dir, name + ".mpy")
        with open(path, "wb"):
            pass
        t = time.time() + 3600 - age
        os.utime(path, (t, t))

    def test_complete_fresh_set_sends_mpy(self):
        for name in self.names:
            self.touch(name)
        files, kind = self.deploy.files_to_send("unix", self.mpy_dir)
        self.assertEqual(kind, "mpy")
        self.assertEqual([os.path.basename(f) for f in files], [n + ".mpy" for n in self.names])

    def test_missing_or_stale_mpy_sends_py(self):
        for name in self.names[1:]:
            self.touch(name)
        self.assertEqual(self.deploy.files_to_send("unix", self.mpy_dir)[1], "py")
        self.touch(self.names[0], age=10 ** 9)  # older than its source
        self.assertEqual(self.deploy.files_to_send("unix", self.mpy_dir)[1], "py")
        with self.assertRaises(SystemExit):
            self.deploy.files_to_send("unix", self.mpy_dir, "mpy")

    def test_py_kind_and_adapter_file(self):
        files, kind = self.deploy.files_to_send("unix", self.mpy_dir, "py")
        self.assertEqual(kind, "py")
        self.assertIn(os.path.join(ROOT, "ports", "unix", "uasyncore_port.py"), files)
        self.assertIn(os.path.join(ROOT, "lib", "uasyncore.py"), files)


if __name__ == "__main__":
    unittest.main()
