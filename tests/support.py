# Shared test helpers: fake sockets and pollers for deterministic stepping, loopback helpers.
#
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import os
import socket
import struct

import uasyncore

_port = uasyncore._port

# The tests must exercise our modules, never the stdlib's asyncore: lib/'s, or the installed package's
# where make test-pip runs them (tests/conftest.py).
assert "lib/uasyncore." in uasyncore.__file__ or "site-packages/uasyncore." in uasyncore.__file__, uasyncore.__file__

EAGAIN = _port.EAGAIN
ECONNRESET = _port.ECONNRESET
ECONNREFUSED = _port.ECONNREFUSED
EMFILE = _port.EMFILE
ENFILE = _port.ENFILE
EPIPE = _port.EPIPE
IN = _port.POLLIN
OUT = _port.POLLOUT
ERR = _port.POLLERR
HUP = _port.POLLHUP

HOST = "127.0.0.1"

# The source tree, for tests that read files: the repo, even when these tests run compiled from
# build/test-mpy, where tools/mpybuild.py leaves its path in SOURCE_ROOT.
ROOT = __file__.rpartition("/")[0].rpartition("/")[0] or "."
try:
    with open(ROOT + "/SOURCE_ROOT") as _f:
        ROOT = _f.read().strip()
except OSError:
    pass


def oserror(err):
    return OSError(err, _port.strerror(err))


##### fakes


class FakeSocket:
    # A scripted socket: recv() hands out `inbox` items, send() follows `send_plan`.
    _next_fd = 10000

    def __init__(self, inbox=(), send_plan=(), accept_plan=(), connect_result=0, peer=None):
        FakeSocket._next_fd += 1
        self.fd = FakeSocket._next_fd
        self.inbox = list(inbox)  # bytes, b"" for end of stream, or an OSError to raise
        self.send_plan = list(send_plan)  # per send(): max bytes taken, or an OSError; empty: take all
        self.accept_plan = list(accept_plan)  # per accept(): (sock, addr) or an OSError; empty: EAGAIN
        self.connect_result = connect_result
        self.error = 0  # pending socket error, as SO_ERROR reports it
        self.peer = peer
        self.sent = bytearray()
        self.closed = False
        self.blocking = True
        self.recv_sizes = []
        self.stalled = False  # True: send() takes nothing (a peer that stopped reading)

    def fileno(self):
        return -1 if self.closed else self.fd

    def setblocking(self, flag):
        self.blocking = flag

    def recv(self, n):
        if len(self.recv_sizes) >= 64:
            del self.recv_sizes[:32]  # the recent ones are what tests read; a small heap has no room for all
        self.recv_sizes.append(n)
        if not self.inbox:
            raise oserror(EAGAIN)
        item = self.inbox.pop(0)
        if isinstance(item, BaseException):
            raise item
        if len(item) > n:
            self.inbox.insert(0, item[n:])
            item = item[:n]
        return item

    # MicroPython's stream method: write(buf, n) sends buf[:n].
    def write(self, buf, n):
        return self.send(memoryview(buf)[:n])

    def recv_into(self, buf, n=0):
        data = self.recv(n or len(buf))
        buf[: len(data)] = data
        return len(data)

    # MicroPython's stream method: None when nothing is waiting.
    def readinto(self, buf, n=0):
        if not self.inbox:
            return None
        return self.recv_into(buf, n)

    def send(self, data):
        if self.error:
            err, self.error = self.error, 0
            raise oserror(err)
        if not data or self.stalled:
            return 0
        limit = self.send_plan.pop(0) if self.send_plan else len(data)
        if isinstance(limit, Exception):
            raise limit
        taken = bytes(data[:limit])
        self.sent.extend(taken)
        return len(taken)

    def accept(self):
        if not self.accept_plan:
            raise oserror(EAGAIN)
        item = self.accept_plan.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def connect_ex(self, addr):
        return self.connect_result

    def connect(self, addr):
        if self.connect_result:
            raise oserror(self.connect_result)

    def getsockopt(self, level, name):
        err, self.error = self.error, 0
        return err

    def getpeername(self):
        if self.peer is None:
            raise oserror(_port.ENOTCONN)
        return self.peer

    def bind(self, addr):
        pass

    def listen(self, n):
        pass

    def close(self):
        self.closed = True


class FakePoller:
    # Stands in for the OS poller: records registrations, returns scripted events.
    log_calls = False  # True: keep the latest register/modify/unregister calls in self.calls

    def __init__(self):
        self.masks = {}
        self.script = []  # one list of (socket, flags) per wait()
        self.waits = []  # the timeout (ms) of the latest waits
        self.calls = []  # the latest register/modify/unregister calls: (operation, key, mask)

    def register(self, key, mask):
        assert key not in self.masks, "registered twice"
        self._log("register", key, mask)
        self.masks[key] = mask

    def modify(self, key, mask):
        assert key in self.masks, "modify before register"
        self._log("modify", key, mask)
        self.masks[key] = mask

    def unregister(self, key):
        self._log("unregister", key, 0)
        del self.masks[key]

    def _log(self, operation, key, mask):
        if not self.log_calls:
            return  # off unless asked: on MicroPython the keys are sockets, which the log would keep alive
        if len(self.calls) >= 64:
            del self.calls[:32]  # the recent ones are what tests read; a small heap has no room for all
        self.calls.append((operation, key, mask))

    # The register/modify/unregister calls made for sock, as (operation, mask) pairs.
    def calls_for(self, sock):
        key = _port.key(sock)
        return [(c[0], c[2]) for c in self.calls if c[1] == key]

    # Like an OS poller, report only registered sockets, and of them only the flags asked for.
    def wait(self, ms):
        if len(self.waits) >= 64:
            del self.waits[:32]  # the recent ones are what tests read; a board-sized heap has no room for all
        self.waits.append(ms)
        if not self.script:
            return []
        events = []
        for sock, flags in self.script.pop(0):
            key = _port.key(sock)
            if key in self.masks:
                flags &= self.masks[key] | ERR | HUP
                if flags:
                    events.append((key, flags))
        return events

    def mask(self, sock):
        return self.masks.get(_port.key(sock), 0)

    def close(self):
        pass


# The loop's poller for channel map m, None when it has none: the one seam through which tests see
# the loop's own state (its timers) and put a fake in place of the port's OS poller (its .os).
def poller(m, core=uasyncore):
    return core._find(m)


# A fresh channel map whose loop polls through os_poller (a FakePoller unless given): (map, os_poller).
def fake_map(os_poller=None, core=uasyncore):
    m = {}
    p = core._poller(m)
    p.os.close()
    p.os = FakePoller() if os_poller is None else os_poller
    return m, p.os


# Drop whatever a test left on map: channels, timers and its poller.
def forget_map(m):
    m.clear()
    p = poller(m)
    if p is not None:
        for t in list(p.timers):
            t.cancel()
        uasyncore._release(m)


##### real loopback sockets


def random_port():
    return 20000 + int.from_bytes(os.urandom(2), "big") % 40000


# A loopback port nothing listens on (or, kind SOCK_DGRAM, is bound to) right now (MicroPython has
# no getsockname to ask for port 0).
def free_port(kind=socket.SOCK_STREAM):
    for _ in range(50):
        port = random_port()
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(_port.sockaddr((HOST, port)))
            return port
        except OSError:
            pass
        finally:
            s.close()
    raise OSError("no free port")


# Bind a listening dispatcher to a free loopback port and return the port.
def listen_any(d, backlog=5):
    d.create_socket()
    d.set_reuse_addr()
    for _ in range(50):
        port = random_port()
        try:
            d.bind((HOST, port))
        except OSError:
            continue
        d.listen(backlog)
        return port
    raise OSError("no free port")


# A plain blocking client socket connected to HOST:port.
def client(port):
    s = socket.socket()
    s.connect(_port.sockaddr((HOST, port)))
    return s


# Close sock with a reset instead of a FIN, as a port scanner does (SO_LINGER on, 0 seconds; some
# MicroPython builds lack the name: Linux's number).
def abort(sock):
    sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_LINGER", 13), struct.pack("ii", 1, 0))
    sock.close()


# The peer's address, asked as asyncore handlers ask it in their constructor: getpeername() raises
# ENOTCONN once the client has reset. MicroPython sockets have no getpeername(): a peek stands for it
# (a reset reads as an error there, nothing waiting as EAGAIN).
def ask_peer(sock):
    if hasattr(sock, "getpeername"):
        return sock.getpeername()
    try:
        sock.recv(1, getattr(socket, "MSG_PEEK", 2))
    except OSError as e:
        if e.args[0] != EAGAIN:
            raise oserror(_port.ENOTCONN)
    return None


# How many descriptors the process has open, where /proc tells (None elsewhere).
def open_fds():
    try:
        return len(os.listdir("/proc/self/fd"))
    except (OSError, AttributeError):
        return None


# Step the loop until cond() holds (at most `passes` passes); returns cond().
def run_until(cond, map=None, passes=200, timeout=0.01):
    while passes and not cond():
        uasyncore.loop(timeout=timeout, count=1, map=map)
        passes -= 1
    return cond()


##### time


class FakeClock:
    # Stands in for the port's ticks_ms(); moves only when told to.
    def __init__(self, now=1000000):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now = _port.ticks_add(self.now, int(seconds * 1000))


# Put a FakeClock in place of the port's clock until the test ends.
def use_clock(test, now=1000000):
    clock = FakeClock(now)
    real = _port.ticks_ms
    _port.ticks_ms = clock
    test.addCleanup(setattr, _port, "ticks_ms", real)
    return clock


# The errno of the exception handle_error() is handling (None when it has none).
def handled_errno():
    e = uasyncore.handled_error()
    return e.args[0] if isinstance(e, OSError) and e.args else None


# Whether str.encode() rejects a codec it does not know (CPython, current MicroPython; the PyPI
# MicroPython 1.28 ignores the name and writes UTF-8).
try:
    "".encode("no-such-codec")
    REJECTS_UNKNOWN_ENCODINGS = False
except LookupError:
    REJECTS_UNKNOWN_ENCODINGS = True


# Whether the loop asks obj's readable()/writable() every pass (its class overrides them without
# reporting changes through interest_changed()), rather than only when told.
def asked_every_pass(obj):
    return not uasyncore._reports_interest(obj)
