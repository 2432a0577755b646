# Crowds of hostile clients on real loopback sockets, and the normal client whose answers are timed,
# against the examples (tests/test_crowds.py asserts on them, tools/crowds.py prints their figures;
# over TLS tests/tls_crowd.py runs them, given a certificate). Every socket is non-blocking and stepped
# between loop passes, so one process serves and attacks, on CPython and MicroPython alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import gc
import os
import select
import socket
import sys

import uasyncore

_TESTS = __file__.replace("\\", "/").rpartition("/")[0] or "."

BUDGET = 4  # the listener's budget in every scenario (the http and control examples' own)
TLS_BUDGET = 2  # over TLS: a board's (ESP32's and Pico W's TLS_MAX_CONNECTIONS)
CROWD = 4 * BUDGET  # attackers in a crowd: four times the budget
FLOOD = 1000  # connections in a flood
WARM_UP = 400  # ms a crowd has the service to itself before the normal client asks
LIMIT = 15000  # ms a scenario may take at most

_port = uasyncore._port
ticks = uasyncore.ticks
ticks_diff = uasyncore.ticks_diff
_NOT_YET = (_port.EAGAIN, _port.EWOULDBLOCK, _port.EINPROGRESS, _port.EALREADY, _port.ENOTCONN)


##### sockets that never block


# A client socket whose connect to the service is under way.
def connect(port):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(_port.sockaddr((support.HOST, port)))
    except OSError as e:
        if e.args[0] not in _NOT_YET:
            raise
    return s


# What sock reads now: bytes; None while nothing waits (or it is still connecting); b"" once the
# server has closed or reset it.
def read(sock, n=512):
    try:
        return sock.recv(n)
    except OSError as e:
        if e.args and e.args[0] in _NOT_YET:
            return None
        return b""


# How many bytes of data sock takes now (0 while it is connecting or full); -1 once the server is gone.
def write(sock, data):
    try:
        return sock.send(data) or 0
    except OSError as e:
        if e.args and e.args[0] in _NOT_YET:
            return 0
        return -1


# The soft limit on open descriptors where /proc tells, else None.
def fd_limit():
    try:
        with open("/proc/self/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    soft = line.split()[3]
                    return None if soft == "unlimited" else int(soft)
    except OSError:
        pass
    return None


##### hostile clients: each holds one connection, and opens another when the server takes it


class Hostile:
    # Connects and sends nothing (a port scanner that stays, or a stalled client).
    def __init__(self, port):
        self.port = port
        self.connects = 0  # connections opened
        self.sock = None
        self.open(ticks())

    def open(self, now):
        self.sock = connect(self.port)
        self.connects += 1
        self.began = now
        self.opened()

    def opened(self):
        pass

    def step(self, now):
        if self.sock is None:
            return
        if read(self.sock) == b"":
            self.sock.close()  # its slot was taken back: it comes again at once
            self.open(now)
            return
        self.act(now)

    def act(self, now):
        pass

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Trickle(Hostile):
    # Sends `first`, then one `piece` every `every` ms, and never finishes (slowloris).
    def __init__(self, port, first, piece, every=500):
        self.first = first
        self.piece = piece
        self.every = every
        Hostile.__init__(self, port)

    def opened(self):
        self.due = self.first
        self.last = self.began

    def act(self, now):
        if self.due is None and ticks_diff(now, self.last) >= self.every:
            self.due = self.piece
        if self.due is not None:
            n = write(self.sock, self.due)
            if n < 0:
                self.sock.close()
                self.open(now)
            elif n:
                self.due = self.due[n:] or None
                self.last = now


class Idler(Hostile):
    # Asks once as a client should (`ask`), then holds the connection without a word more.
    def __init__(self, port, ask):
        self.ask = ask
        Hostile.__init__(self, port)

    def opened(self):
        self.due = self.ask

    def act(self, now):
        if self.due:
            n = write(self.sock, self.due)
            if n > 0:
                self.due = self.due[n:]


class Resetter(Hostile):
    # Connects, and resets the connection `every` ms later, again and again (a port scan).
    every = 250

    def act(self, now):
        if ticks_diff(now, self.began) >= self.every:
            support.abort(self.sock)
            self.open(now)


class Flood:
    # `total` connections opened at once and held until the server closes each; none is opened again.
    # A slice of them is looked at each step (looking at all would cost the loop its pace).
    def __init__(self, port, total, slice=64):
        self.socks = []
        self.slice = slice
        self.at = 0
        self.closed = 0  # connections the server closed
        for _ in range(total):
            self.socks.append(connect(port))
        self.connects = total

    def step(self, now):
        socks = self.socks
        n = min(self.slice, len(socks))
        while n:
            n -= 1
            if self.at >= len(socks):
                self.at = 0
            s = socks[self.at]
            if read(s) == b"":
                s.close()
                socks[self.at] = socks[-1]
                socks.pop()
                self.closed += 1
            else:
                self.at += 1

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []


##### TLS: clients that never finish their handshake, and the normal client's TLS connection


# A ClientHello as a TLS 1.2 client sends it (ECDHE-ECDSA on P-256), for clients that stop after it:
# the server answers with its own flight (a signature's work) and waits for the next, which never comes.
def client_hello():
    suites = b"\xc0\x2b\xc0\x2c\xc0\x23\xc0\x24\xc0\x09\xc0\x0a"  # ECDHE-ECDSA, AES-GCM and AES-CBC

    def ext(kind, body):
        return kind + len(body).to_bytes(2, "big") + body

    exts = (ext(b"\x00\x0a", b"\x00\x02\x00\x17")  # supported groups: secp256r1
            + ext(b"\x00\x0b", b"\x01\x00")  # point formats: uncompressed
            + ext(b"\x00\x0d", b"\x00\x04\x04\x03\x05\x03"))  # signatures: ECDSA with SHA-256, SHA-384
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + len(suites).to_bytes(2, "big") + suites + b"\x01\x00"
            + len(exts).to_bytes(2, "big") + exts)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


_want = []  # CPython's "would block" exceptions, once ssl is loaded (MicroPython's ssl has none)


def _would_block():
    if not _want:
        import ssl

        _want.append((getattr(ssl, "SSLWantReadError", ()), getattr(ssl, "SSLWantWriteError", ())))
    return _want[0]


class TLSStream:
    # A client's TLS connection, read and written as the plain sockets above: recv() and send() say
    # EAGAIN while nothing can move, the TCP connect and the handshake included (CPython's ssl says it
    # with exceptions, MicroPython's with None). Wrapped once the TCP connection is up.
    def __init__(self, port, context):
        self.raw = connect(port)
        self.context = context
        self.ssl = None

    def _up(self):
        if self.ssl is None:
            p = select.poll()
            p.register(self.raw, select.POLLOUT)
            if not p.poll(0):
                raise OSError(_port.EAGAIN, "connecting")
            self.ssl = self.context.wrap_socket(self.raw, server_hostname="localhost", do_handshake_on_connect=False)
        return self.ssl

    def recv(self, n):
        try:
            data = self._up().recv(n)
        except _would_block():
            data = None
        if data is None:
            raise OSError(_port.EAGAIN, "EAGAIN")
        return data

    def send(self, data):
        try:
            n = self._up().send(data)  # after a would-block the caller offers the same bytes again
        except _would_block():
            n = None
        if n is None:
            raise OSError(_port.EAGAIN, "EAGAIN")
        return n

    def close(self):
        if self.ssl is not None:
            self.ssl.close()
        self.raw.close()


##### the normal client


class Asker:
    # Asks `asks` times, one ask every `interval` ms, and keeps each answer's latency in ms (from the
    # moment the ask was due to its whole answer), or None when none came within `give_up` ms.
    # A subclass says what an ask is and when its answer is whole.
    def __init__(self, port, asks=10, interval=100, give_up=5000):
        self.port = port
        self.asks = asks
        self.interval = interval
        self.give_up = give_up
        self.latencies = []
        self.sock = None
        self.next = None  # the first ask is due when the client is first stepped
        self.asked = None  # tick of the ask under way
        self.connects = 0

    def done(self):
        return len(self.latencies) >= self.asks

    # Answers within `ms`.
    def within(self, ms):
        return len([t for t in self.latencies if t is not None and t <= ms])

    def step(self, now):
        if self.done():
            return
        if self.next is None:
            self.next = now
        if self.asked is None:
            if ticks_diff(now, self.next) < 0:
                return
            self.asked = self.next
            self.next = uasyncore.ticks_add(self.next, self.interval)
            if self.sock is None:
                self.reconnect()
            self.due = self.request()
            self.got = b""
        if self.due:
            n = write(self.sock, self.due)
            if n > 0:
                self.due = self.due[n:]
            elif n < 0:
                self.lost()
                return
        data = read(self.sock, 2048)
        if data:
            self.got += data
        if data == b"" or self.answered():
            if self.answered():
                self.finish(ticks_diff(ticks(), self.asked))
                if data == b"" or self.fresh:
                    self.drop()
            else:
                self.lost()
        elif ticks_diff(now, self.asked) > self.give_up:
            self.finish(None)
            self.drop()

    fresh = False  # True: a new connection for each ask

    def reconnect(self):
        self.sock = connect(self.port)
        self.connects += 1
        self.greeted = False

    # The server closed the connection before the answer came: ask again on a new one.
    def lost(self):
        self.drop()
        self.reconnect()
        self.due = self.request()
        self.got = b""

    def drop(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def finish(self, latency):
        self.latencies.append(latency)
        self.asked = None
        if ticks_diff(self.next, ticks()) < 0:
            self.next = ticks()  # an answer that came late does not make the next asks pile up

    def close(self):
        self.drop()


class HttpAsker(Asker):
    # GET /api/status, on a new connection each time (fresh) or on one kept alive.
    def __init__(self, port, fresh, **kw):
        Asker.__init__(self, port, **kw)
        self.fresh = fresh

    def request(self):
        close = b"Connection: close\r\n" if self.fresh else b""
        return b"GET /api/status HTTP/1.1\r\nHost: device\r\n" + close + b"\r\n"

    def answered(self):
        head, sep, body = self.got.partition(b"\r\n\r\n")
        if not sep:
            return False
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                return len(body) >= int(value)
        return False


class HttpsAsker(HttpAsker):
    # The same over TLS, checking the server's certificate with `context`.
    def __init__(self, port, fresh, context, **kw):
        HttpAsker.__init__(self, port, fresh, **kw)
        self.context = context

    def reconnect(self):
        self.sock = TLSStream(self.port, self.context)
        self.connects += 1
        self.greeted = False


class Polling:
    # A client that asks every `interval` ms, whether or not its earlier asks have been answered, each
    # on a connection of its own (a dashboard polling a device): make() gives a one-ask Asker. Only
    # the latency of an ask answered is kept, so the heap holds what the asks under way hold.
    def __init__(self, make, asks=10, interval=100):
        self.make = make
        self.asks = asks
        self.interval = interval
        self.latencies = []
        self.under_way = []
        self.started = 0
        self.connects = 0
        self.next = None  # the first ask is due when the client is first stepped

    def done(self):
        return len(self.latencies) >= self.asks

    def within(self, ms):
        return len([t for t in self.latencies if t is not None and t <= ms])

    def step(self, now):
        if self.next is None:
            self.next = now
        if self.started < self.asks and ticks_diff(now, self.next) >= 0:
            one = self.make()
            one.asks = 1
            one.next = self.next
            self.under_way.append(one)
            self.started += 1
            self.next = uasyncore.ticks_add(self.next, self.interval)
        for one in self.under_way:
            one.step(now)
            if one.done():
                self.latencies.append(one.latencies[0])
                self.connects += one.connects
                one.close()
        self.under_way = [one for one in self.under_way if not one.done()]

    def close(self):
        for one in self.under_way:
            one.close()


class LineAsker(Asker):
    # Sends `line` and waits for one reply line, on one connection for all its asks (a new one only
    # when the server closes it); `greeting`: the server says a line first (control's banner).
    def __init__(self, port, line, greeting=False, **kw):
        Asker.__init__(self, port, **kw)
        self.line = line
        self.greeting = greeting

    def request(self):
        return self.line

    def answered(self):
        return self.got.count(b"\n") >= (2 if self.greeting and not self.greeted else 1)

    def finish(self, latency):
        self.greeted = True
        Asker.finish(self, latency)


##### the heap, where the runtime tells


# Bytes of heap in use after a collection, None where the runtime does not say (CPython).
def heap():
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    return gc.mem_alloc()


##### the scenarios: a service, a crowd and the normal client


GET = b"GET /api/status HTTP/1.1\r\nHost: device\r\n\r\n"


# An example's service module, imported from examples/NAME only when asked for (a board-sized heap
# runs one test class in a process, and holds one service).
def example(name):
    path = _TESTS + "/../examples/" + name
    if path not in sys.path:
        sys.path.append(path)
    return __import__(name + "_service")


def _http(m, port):
    server = example("http").HttpServer(map=m)
    server.serve(support.HOST, port)
    return server


def _control(m, port):
    server = example("control").ControlServer(map=m)
    server.serve(support.HOST, port)
    return server


def _echo(m, port):
    server = example("echo").EchoServer(support.HOST, port, map=m)
    server.max_connections = BUDGET  # a board's budget: the host's port sets none
    return server


# The http example over HTTPS, held to a board's TLS budget; tls: (certificate, key, CA) file names.
def _https(m, port, tls):
    import uasyncore_tls

    server = example("http").HttpServer(map=m, context=uasyncore_tls.server_context(tls[0], tls[1]))
    server.serve(support.HOST, port)
    server.max_connections = TLS_BUDGET
    return server


# The control example offering STARTTLS.
def _control_tls(m, port, tls):
    import uasyncore_tls

    server = example("control").ControlServer(map=m, context=uasyncore_tls.server_context(tls[0], tls[1]))
    server.serve(support.HOST, port)
    return server


SERVICES = {"http": _http, "control": _control, "echo": _echo, "https": _https, "control-tls": _control_tls}


# 1,000 connections, or as many as the descriptor limit leaves room for (the service's and the test's own).
def flood_size():
    limit = fd_limit()
    if limit is None or limit >= FLOOD + 200:
        return FLOOD
    return limit - 200


# Whether the heap holds the flood's own client sockets (a board-sized heap holds the service, and
# not a thousand clients as well).
def flood_fits():
    return not hasattr(gc, "mem_free") or gc.mem_free() >= flood_size() * 64 + 65536


# The attackers of crowd `kind` against service `name` on port: four times its budget.
def crowd(name, kind, port, budget=BUDGET):
    size = 4 * budget
    if kind == "flood":
        return [Flood(port, flood_size())]
    if kind == "silent":
        return [Hostile(port) for _ in range(size)]
    if kind == "handshakes":  # TLS handshakes never finished: silent, a ClientHello cut short, one and nothing after
        hello = client_hello()
        out = []
        for i in range(size):
            if i % 3 == 0:
                out.append(Hostile(port))
            elif i % 3 == 1:
                out.append(Trickle(port, hello[:40], hello[40:41]))
            else:
                out.append(Idler(port, hello))
        return out
    if kind == "starttls":  # STARTTLS, then no handshake at all
        return [Idler(port, b"STARTTLS\n") for _ in range(size)]
    ask = {"http": GET, "control": b"GET temp\n", "echo": b"ping\n"}[name]
    if kind == "idle":  # a good request each, then idle: what a normal client's kept connection looks like
        return [Idler(port, ask) for _ in range(size)]
    slow = {
        "http": (b"GET / HTTP/1.1\r\nHost: device\r\n", b"X-a: b\r\n"),  # slowloris: a header every 0.5 s
        "control": (b"GET te", b"m"),  # a command line that never ends
        "echo": None,  # without phases, a client that sends at all is a client like any other
    }[name]
    if kind == "slow":
        return [Trickle(port, slow[0], slow[1]) for _ in range(size)]
    # mixed: port scans resetting their connections, silent ones, slow ones (where the protocol has
    # phases), and idle ones where connections are not sessions (http): idle sessions look like the
    # normal client's own, which the "idle" crowd is about
    sessions = name != "http"
    out = []
    for i in range(size):
        if i % 4 == 0:
            out.append(Resetter(port))
        elif i % 4 == 3 and not sessions:
            out.append(Idler(port, ask))
        elif slow is None or i % 4 == 1:
            out.append(Hostile(port))
        elif i % 4 == 2:
            out.append(Trickle(port, slow[0], slow[1]))
        else:
            out.append(Trickle(port, slow[0][:2], slow[0][2:3], every=100))
    return out


# The normal client of service `name`: polling, a new connection for each ask (http, https), unless
# `kept` says to keep one, as the other services' clients always do; tls: (certificate, key, CA).
def asker(name, port, kept=False, tls=None):
    if name == "https":
        import uasyncore_tls

        context = uasyncore_tls.client_context(cafile=tls[2])
        if kept:
            return HttpsAsker(port, False, context)
        return Polling(lambda: HttpsAsker(port, True, context))
    if name == "http":
        if kept:
            return HttpAsker(port, fresh=False)
        return Polling(lambda: HttpAsker(port, fresh=True))
    if name == "control" or name == "control-tls":
        return LineAsker(port, b"GET temp\n", greeting=True)
    return LineAsker(port, b"ping\n")


class Scenario:
    # Service `name` on a map of its own, with crowd `kind` (slow, silent, mixed, flood; idle; over TLS
    # handshakes, starttls) and its normal client, stepped together between loop passes; what they did is kept as
    # figures. kept: whether the normal client keeps its connection (by default only in a flood, and for
    # the services whose clients always do). tls: (certificate, key, CA) file names for https and
    # control-tls.
    def __init__(self, name, kind, kept=None, tls=None):
        self.name = name
        self.kind = kind
        self.tls = tls
        self.map = {}
        self.port = support.free_port()
        self.server = SERVICES[name](self.map, self.port, *([tls] if tls else []))
        self.budget = self.server.max_connections
        self.asker = None
        if kept is None:
            kept = kind == "flood"
        if name == "https":  # its client context is the test's, not the service's: made before the heap is read
            self.asker = asker(name, self.port, kept, tls)
        uasyncore.loop(timeout=0, count=1, map=self.map)  # the listener registered
        self.heap_before = heap()
        self.fds_before = support.open_fds()
        if kind == "flood":  # the normal client is there first
            self.asker = asker(name, self.port, kept)
            self.asker.step(ticks())
        self.crowd = crowd(name, kind, self.port, self.budget)
        if self.asker is None:
            self.asker = asker(name, self.port, kept, tls)
        self.full = False  # the crowd held every slot before the normal client asked
        self.over_budget = 0  # passes after which the service held more than its budget
        self.heap_held = self.heap_peak = self.heap_after = self.fds_after = None
        self.ms = 0

    # Step everything until the normal client has had all its answers; False if not within LIMIT ms.
    # The heap is read after each answer; over TLS, from the first on, and only while the service holds
    # its budget (its heap then holds that many TLS connections, and the normal client's own).
    def run(self):
        server = self.server
        asker = self.asker
        start = ticks()
        answers = 0
        heap_due = False
        while not asker.done():
            now = ticks()
            elapsed = ticks_diff(now, start)
            if elapsed >= LIMIT:
                return False
            for c in self.crowd:
                c.step(now)
            asking = elapsed >= WARM_UP
            if asking:
                if self.heap_held is None and not self.tls:
                    self.heap_held = self.heap_peak = heap() or 0
                asker.step(now)
                if len(asker.latencies) > answers:  # the heap after each answer
                    answers = len(asker.latencies)
                    heap_due = True
                if heap_due and (not self.tls or server.open_connections == self.budget):
                    heap_due = False
                    h = heap() or 0
                    if self.heap_held is None:
                        self.heap_held = self.heap_peak = h
                    self.heap_peak = max(self.heap_peak, h)
            uasyncore.loop(timeout=0.002, count=1, map=self.map)
            if server.open_connections > self.budget:
                self.over_budget += 1
            if server.open_connections == self.budget and not asking:
                self.full = True
        self.ms = ticks_diff(ticks(), start)
        return True

    # Connections the service took back from the crowd.
    def shed(self):
        if self.kind == "flood":
            return self.crowd[0].closed
        return sum(c.connects for c in self.crowd) - len(self.crowd)

    # The crowd and the normal client gone: step until only the listener is left (False if it is not).
    def end(self):
        for c in self.crowd:
            c.close()
        self.asker.close()
        self.crowd = []
        passes = 2000
        while passes and list(self.map.values()) != [self.server]:
            uasyncore.loop(timeout=0.002, count=1, map=self.map)
            passes -= 1
        self.heap_after = heap()
        self.fds_after = support.open_fds()
        return list(self.map.values()) == [self.server]

    def close(self):
        for c in self.crowd:
            c.close()
        if self.asker is not None:
            self.asker.close()
        uasyncore.close_all(self.map)
