#!/usr/bin/env python3
# Soak test: the echo and control examples on host CPython and on MicroPython's unix port at a board-sized
# heap, under many concurrent loopback clients for a given time.
#
#   python3 tools/soak.py [--seconds 60] [--micropython PATH] [--heap 128K] [--seed N] [--clients 12]
#
# Echo clients send random-sized data in random pieces; control clients send command lines (good and bad)
# whose replies are fixed. Some read slowly, some disconnect half way (with FIN or RST). Every byte that
# comes back is checked against what must come back, in order, and by SHA-256 at the end. Before and
# after the load, each server's open descriptors (/proc/PID/fd) and RSS are read, and the control
# example's free heap (GET mem) where it reports one. Prints a table; exit status 1 if a byte was lost,
# duplicated or changed, a client stalled, a descriptor leaked, or a server logged an error.
#
# The 128K servers import the compiled core from build/unix (tools/mpybuild.py builds it first):
# examples/run.py puts lib/ first on sys.path, and compiling lib/*.py does not fit in 128K, so they are
# started with run.py's path set-up, build/unix in place of lib/ and ports/unix/.
# Linux only (/proc). Servers bind 127.0.0.1; they are stopped by their PIDs, SIGINT then SIGKILL.
import argparse
import hashlib
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"
OUT = os.path.join(ROOT, "build", "soak")

sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython"), os.path.join(ROOT, "examples", "control")]
import control_service as cs  # noqa: E402  (after the sys.path entries above: the replies a control client must get)

STALL = 30.0  # seconds without a byte either way after which a client counts as stalled
DRAIN = 20.0  # seconds the clients still running at the end get to finish
LAUNCH = (
    "import sys\n"
    "sys.path[:0] = [{lib!r}, {example!r}]\n"
    "import {module}\n"
    "print('{name}: compiled core from', {lib!r})\n"
    "try:\n"
    "    {module}.main(host={host!r}, port={port})\n"
    "except KeyboardInterrupt:\n"
    "    print('{name}: stopped')\n"
)


##### the servers


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    # One example on one runtime, in its own process; output goes to build/soak/<label>.log.
    def __init__(self, runtime, example, argv):
        self.label = "%s %s" % (example, runtime)
        self.example = example
        self.port = free_port()
        self.argv = argv(example, self.port)
        self.log = os.path.join(OUT, self.label.replace(" ", "-") + ".log")
        self.proc = None
        self.stats = Stats()
        self.before = self.after = None

    def start(self):
        with open(self.log, "w") as f:
            env = dict(os.environ, CONTROL_TOKEN=TOKEN.decode())  # the control example's SET needs AUTH
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env)

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_ready(self, seconds=20):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if "serving on" in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit("%s did not start:\n%s" % (self.label, self.output()[-2000:]))

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # (open descriptors, RSS in kB, free heap in bytes or None)
    def measure(self):
        return self.fds(), self.rss(), self.heap()

    # The control example's free heap (gc.mem_free(), on MicroPython), or None: the most of 300 GET mem
    # answers in a row, as the reading counts garbage not yet collected and the burst makes the heap collect.
    def heap(self):
        if self.example != "control":
            return None
        data = b""
        try:
            with socket.create_connection((HOST, self.port), timeout=10) as s:
                s.sendall(b"GET mem\r\n" * 300 + b"QUIT\r\n")
                while b"OK bye" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        free = [int(line[7:]) for line in data.split(b"\r\n") if line.startswith(b"OK mem ") and line[7:].isdigit()]
        return max(free) if free else None

    def errors(self):
        return [line for line in self.output().splitlines() if line.startswith("error") or "Traceback" in line]

    # SIGINT (run.py's KeyboardInterrupt), then SIGKILL; only this server's own PID.
    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


##### clients


class Stats:
    def __init__(self):
        self.conns = self.done = self.aborted = self.stalled = 0
        self.sent = self.received = 0
        self.lost = self.dup = self.changed = self.hash_mismatch = 0


class Client:
    # One connection: sends `data`, and must get back exactly `expected`, in order.
    def __init__(self, server, rng, now):
        self.server = server
        self.stats = server.stats
        self.rng = rng
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex((HOST, server.port))
        self.sent = 0
        self.got = 0
        self.in_hash = hashlib.sha256()
        self.slow = rng.random() < 0.2  # reads a little every tick: the server's output queue fills up
        self.budget = 0
        self.abort_at = None  # bytes sent after which it hangs up without waiting for the rest
        if rng.random() < 0.15:
            self.abort_at = rng.randint(0, max(0, len(self.data)))
        self.rst = rng.random() < 0.5
        self.progress = now
        self.finished = False
        self.stats.conns += 1

    def events(self):
        return selectors.EVENT_READ | (selectors.EVENT_WRITE if self.sent < len(self.data) else 0)

    def tick(self, now):
        self.budget = min(self.budget + 2048, 8192)  # a slow reader takes ~100 KB/s at most
        if now - self.progress > STALL:
            self.stats.stalled += 1
            self.stats.lost += len(self.expected) - self.got
            self.close()

    def writable(self, now):
        n = min(len(self.data) - self.sent, self.rng.choice((1, 7, 100, 1460, 8192, 65536)))
        try:
            n = self.sock.send(self.data[self.sent : self.sent + n])
        except BlockingIOError:
            return
        except OSError:
            self.server_gone()
            return
        self.sent += n
        self.stats.sent += n
        self.progress = now
        if self.abort_at is not None and self.sent >= self.abort_at:
            self.stats.aborted += 1
            if self.rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close()
        else:
            self.maybe_done()

    def readable(self, now):
        n = 65536
        if self.slow:
            if self.budget <= 0:
                return
            n = min(n, self.budget)
        try:
            data = self.sock.recv(n)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.server_gone()
            return
        self.budget -= len(data)
        self.progress = now
        self.check(data)
        self.maybe_done()

    # Done once all is sent and all came back (the last send may come after the last answer: an
    # empty control line has none).
    def maybe_done(self):
        if self.got == len(self.expected) and self.sent == len(self.data) and not self.finished:
            self.stats.done += 1
            if self.in_hash.digest() != hashlib.sha256(self.expected).digest():
                self.stats.hash_mismatch += 1
            self.close()

    # data must be the next bytes of what is expected so far.
    def check(self, data):
        self.stats.received += len(data)
        self.in_hash.update(data)
        want = self.expected_so_far()[self.got : self.got + len(data)]
        if len(want) < len(data):
            self.stats.dup += len(data) - len(want)
        if want != data[: len(want)]:
            self.stats.changed += sum(1 for a, b in zip(want, data) if a != b)
        self.got += len(want)

    # The server closed before everything came back: what is missing is lost.
    def server_gone(self):
        self.stats.lost += len(self.expected) - self.got
        self.close()

    def close(self):
        self.finished = True
        try:
            self.sock.close()
        except OSError:
            pass


class EchoClient(Client):
    def __init__(self, server, rng, now):
        size = int(2 ** rng.uniform(0, 18))  # 1 byte to 256 KB, most of them small
        self.data = rng.randbytes(size)
        self.expected = self.data
        Client.__init__(self, server, rng, now)

    def expected_so_far(self):
        return memoryview(self.data)[: self.sent]


# Control lines whose replies never change, and the replies.
CONTROL_LINES = [
    (b"HELP", cs.HELP),
    (b"SET led on", cs.LED_ON),
    (b"set LED off", cs.LED_OFF),
    (b"FOO bar", cs.ERR_UNKNOWN),
    (b"GET pressure", cs.ERR_GET_NAME),
    (b"GET temp now", cs.ERR_EXTRA),
    (b"SET led dim", cs.ERR_LED_VALUE),
    (b"SET interval 0", cs.ERR_INTERVAL_VALUE),
    (b"GET \xff\x00", cs.ERR_BYTES),
    (b"x" * 300, cs.ERR_TOO_LONG),
    (b"", b""),
]


TOKEN = b"soak-token"


class ControlClient(Client):
    def __init__(self, server, rng, now):
        lines = [b"AUTH " + TOKEN + b"\n"]
        replies = [cs.BANNER, cs.AUTHENTICATED]
        for _ in range(rng.randint(1, 200)):
            if rng.random() < 0.1:
                n = rng.randint(1, 3600)
                line, reply = b"SET interval %d" % n, b"OK interval %d\r\n" % n
            else:
                line, reply = rng.choice(CONTROL_LINES)
            lines.append(line + rng.choice((b"\n", b"\r\n")))
            replies.append(reply)
        if rng.random() < 0.3:  # the server closes after its BYE
            lines.append(b"QUIT\r\n")
            replies.append(cs.BYE)
        self.data = b"".join(lines)
        self.expected = b"".join(replies)
        Client.__init__(self, server, rng, now)

    def expected_so_far(self):
        return self.expected


##### the run


def drive(servers, seconds, clients, rng):
    sel = selectors.DefaultSelector()
    live = {s: [] for s in servers}
    end = time.monotonic() + seconds
    drain_end = end + DRAIN
    tick = 0.0
    while True:
        now = time.monotonic()
        if now < end:
            for s in servers:
                want = clients if s.example == "echo" else max(2, clients // 2)
                while len(live[s]) < want:
                    cls = EchoClient if s.example == "echo" else ControlClient
                    c = cls(s, random.Random(rng.getrandbits(64)), now)
                    live[s].append(c)
                    sel.register(c.sock, c.events(), c)
        elif not any(live.values()) or now > drain_end:
            break
        for key, mask in sel.select(0.005):
            c = key.data
            if mask & selectors.EVENT_WRITE and not c.finished:
                c.writable(now)
            if mask & selectors.EVENT_READ and not c.finished:
                c.readable(now)
        if now - tick >= 0.02:
            tick = now
            for s in servers:
                for c in live[s]:
                    if not c.finished:
                        c.tick(now)
        for s in servers:
            keep = []
            for c in live[s]:
                if c.finished:
                    try:
                        sel.unregister(c.sock)
                    except (KeyError, ValueError):
                        pass
                else:
                    keep.append(c)
                    try:
                        sel.modify(c.sock, c.events(), c)
                    except (KeyError, ValueError):
                        pass
            live[s] = keep
    unfinished = sum(len(v) for v in live.values())
    for s in servers:
        for c in live[s]:
            s.stats.stalled += 1
            s.stats.lost += len(c.expected) - c.got
            c.close()
    sel.close()
    return unfinished


# Read each server's descriptors until they are back where they started (or the time is up).
def settle(servers, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if all(s.fds() <= s.before[0] for s in servers):
            break
        time.sleep(0.2)
    for s in servers:
        s.after = s.measure()


def kb(n):
    return "-" if n is None else "%d" % (n // 1024)


def table(servers):
    head = ("server", "conns", "done", "aborted", "stalled", "MB out", "MB in", "lost", "dup", "changed", "bad hash",
            "fds before>after", "leaked", "RSS kB before>after", "heap KB free before>after", "errors")
    rows = [head]
    for s in servers:
        st = s.stats
        rows.append((
            s.label, st.conns, st.done, st.aborted, st.stalled, "%.1f" % (st.sent / 1e6), "%.1f" % (st.received / 1e6),
            st.lost, st.dup, st.changed, st.hash_mismatch,
            "%d>%d" % (s.before[0], s.after[0]), max(0, s.after[0] - s.before[0]),
            "%d>%d" % (s.before[1], s.after[1]), "%s>%s" % (kb(s.before[2]), kb(s.after[2])), len(s.errors()),
        ))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="soak the echo and control examples on CPython and MicroPython")
    ap.add_argument("--seconds", type=float, default=60, help="how long the clients keep coming")
    ap.add_argument("--micropython", default="micropython")
    ap.add_argument("--heap", default="128K")
    ap.add_argument("--clients", type=int, default=12, help="concurrent clients per echo server (half per control server)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    os.makedirs(OUT, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, "mpybuild.py"), "build", "--adapter", "unix", "--out", "build/unix"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    def cpython(example, port):
        return [sys.executable, "examples/run.py", example, "--port", str(port)]

    def mpy(example, port):
        code = LAUNCH.format(lib=os.path.join(ROOT, "build", "unix"), example=os.path.join(ROOT, "examples", example),
                             module=example + "_service", name=example, host=HOST, port=port)
        return [args.micropython, "-X", "heapsize=" + args.heap, "-c", code]

    heap = "mpy-" + args.heap
    servers = [Server("cpython", "echo", cpython), Server("cpython", "control", cpython),
               Server(heap, "echo", mpy), Server(heap, "control", mpy)]
    print("soak: %gs, seed %d, %d echo / %d control clients at a time per server; logs in %s"
          % (args.seconds, seed, args.clients, max(2, args.clients // 2), os.path.relpath(OUT, ROOT)))
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_ready()
        time.sleep(0.5)
        for s in servers:
            s.before = s.measure()
        started = time.monotonic()
        drive(servers, args.seconds, args.clients, rng)
        settle(servers)
        elapsed = time.monotonic() - started
    finally:
        for s in servers:
            s.stop()
    print(table(servers))
    print("load %.0fs (with the drain)" % elapsed)
    bad = False
    for s in servers:
        st = s.stats
        if st.lost or st.dup or st.changed or st.hash_mismatch or st.stalled or s.after[0] > s.before[0] or s.errors():
            bad = True
            for line in s.errors()[:5]:
                print("%s: %s" % (s.label, line))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
