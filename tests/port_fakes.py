# Helpers for tests/test_ports.py: load each port's adapter as a module of its own, and fakes that
# behave like the board ports' sockets and select.poll (from the MicroPython sources, not a board).
#
# Kept apart from the tests so that MicroPython compiles two small modules instead of one large one.
import gc
import sys
import unittest

import support
from support import ROOT  # the source tree

CONTRACT = (
    "EAGAIN EWOULDBLOCK EINPROGRESS EALREADY EISCONN EINVAL EBADF EPIPE ECONNRESET ECONNABORTED "
    "ECONNREFUSED ENOTCONN ESHUTDOWN EMFILE ENFILE ENOBUFS ENOMEM ETIMEDOUT errorcode "
    "POLLIN POLLPRI POLLOUT POLLERR POLLHUP POLLNVAL key sockaddr peer_address peername connect_ex "
    "sock_error strerror ticks_ms ticks_add ticks_diff tb_entries Poller MAX_CONNECTIONS collect "
    "recv_into recv_into_once LISTEN_BACKLOG"
).split()


# Every adapter name lib/uasyncore.py, lib/uasyncore_compat.py and the optional modules (TLS,
# datagrams, the resolver) use: their `from uasyncore_port import (...)` lists and each `_port.NAME`.
# Read a line at a time: a board-sized heap has no room for a whole file at once.
def core_names():
    names = set()
    for name in ("uasyncore", "uasyncore_compat", "uasyncore_tls", "uasyncore_dgram", "uasyncore_dns"):
        _names_in(ROOT + "/lib/" + name + ".py", names)
    names.discard("file_wrapper")  # optional: the core looks for it with hasattr
    names.discard("dns_servers")  # needed only where RESOLV_CONF is None (test_ports checks it there)
    return names


def _names_in(path, names):
    in_import = False
    n = 0
    with open(path) as f:
        for line in f:
            n += 1
            if n % 100 == 0:
                gc.collect()  # each line read is garbage: on a 110K heap, left to pile up it fragments the heap
            if line.startswith("from uasyncore_port import ("):
                in_import = True
                continue
            if in_import:
                if line.startswith(")"):
                    in_import = False
                else:
                    names.add(line.strip().rstrip(","))
                continue
            for piece in line.split("_port.")[1:]:
                end = 0
                while end < len(piece) and (piece[end].isalpha() or piece[end].isdigit() or piece[end] == "_"):
                    end += 1
                if end:
                    names.add(piece[:end])


# newlib's sys/errno.h, whose numbers the esp32 firmware puts in OSError
NEWLIB = {
    "EAGAIN": 11, "EWOULDBLOCK": 11, "EINPROGRESS": 119, "EALREADY": 120, "EISCONN": 127, "EINVAL": 22,
    "EBADF": 9, "EPIPE": 32, "ECONNRESET": 104, "ECONNABORTED": 113, "ECONNREFUSED": 111, "ENOTCONN": 128,
    "ESHUTDOWN": 110, "EMFILE": 24, "ENFILE": 23, "ENOBUFS": 105, "ENOMEM": 12, "ETIMEDOUT": 116,
    "EHOSTUNREACH": 118,
}

# MicroPython's own table (py/mperrno.h, Linux's numbers), which the rp2 firmware puts in OSError
# (MICROPY_USE_INTERNAL_ERRNO); it has no ESHUTDOWN, which the adapter gives Linux's number
MP_INTERNAL = {
    "EAGAIN": 11, "EWOULDBLOCK": 11, "EINPROGRESS": 115, "EALREADY": 114, "EISCONN": 106, "EINVAL": 22,
    "EBADF": 9, "EPIPE": 32, "ECONNRESET": 104, "ECONNABORTED": 103, "ECONNREFUSED": 111, "ENOTCONN": 107,
    "ESHUTDOWN": 108, "EMFILE": 24, "ENFILE": 23, "ENOBUFS": 105, "ENOMEM": 12, "ETIMEDOUT": 110,
    "EHOSTUNREACH": 113,
}

# MicroPython's select flags (py/stream.h MP_STREAM_POLL_*), the same on every port
MP_POLL = {"POLLIN": 1, "POLLOUT": 4, "POLLERR": 8, "POLLHUP": 16, "POLLNVAL": 32, "POLLPRI": 0}


##### loading an adapter under its own name

_PERIOD = 1 << 30  # MicroPython's ticks wrap here on 32-bit boards


class _TestOnlyModule:
    # TEST-ONLY, never uploaded: a host module (CPython's time or gc) with the few functions MicroPython
    # adds to it, so a board adapter's `ticks_ms = time.ticks_ms` or heap figures can load here.
    def __init__(self, real, **added):
        self._real = real
        self.__dict__.update(added)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _stand_in_time(real):
    return _TestOnlyModule(
        real,
        ticks_ms=lambda: int(real.monotonic() * 1000) % _PERIOD,
        ticks_add=lambda ticks, delta: (ticks + delta) % _PERIOD,
        ticks_diff=lambda a, b: (a - b + _PERIOD // 2) % _PERIOD - _PERIOD // 2,
    )


def _stand_in_gc(real):
    # the unix port's default 2 MB heap
    return _TestOnlyModule(real, mem_free=lambda: 2000 * 1024, mem_alloc=lambda: 72 * 1024)


_adapters = {}


# ports/<port>/uasyncore_port.py as a fresh module, registered as "port_<port>"; the core's own
# adapter stays where it was.
def load(port):
    mod = _adapters.get(port)
    if mod is None:
        try:
            mod = _adapters[port] = _load(port)
        except MemoryError:
            # a board-sized heap (make test-mpy-heap) cannot compile every adapter's source; the
            # default-heap run checks them
            raise unittest.SkipTest("no heap left to compile ports/%s from source" % port)
    return mod


def _load(port):
    real = {name: __import__(name) for name in ("time", "gc")}
    stand_ins = {}
    if not hasattr(real["time"], "ticks_ms"):
        stand_ins["time"] = _stand_in_time(real["time"])
    if not hasattr(real["gc"], "mem_free"):
        stand_ins["gc"] = _stand_in_gc(real["gc"])
    own = sys.modules.pop("uasyncore_port")
    sys.modules.update(stand_ins)
    sys.path.insert(0, ROOT + "/ports/" + port)
    try:
        mod = __import__("uasyncore_port")
    finally:
        sys.path.pop(0)
        sys.modules.pop("uasyncore_port", None)
        sys.modules["uasyncore_port"] = own
        for name in stand_ins:
            sys.modules[name] = real[name]
    sys.modules["port_" + port] = mod
    return mod


_cores = {}


# lib/uasyncore.py loaded afresh on top of a board adapter, as it runs on that board.
def load_core(port):
    core = _cores.get(port)
    if core is None:
        adapter = load(port)
        own_core = sys.modules.pop("uasyncore")
        own_port = sys.modules.pop("uasyncore_port")
        sys.modules["uasyncore_port"] = adapter
        try:
            core = _cores[port] = __import__("uasyncore")
        finally:
            sys.modules["uasyncore"] = own_core
            sys.modules["uasyncore_port"] = own_port
    return core


# Set module attributes for one test, restored by its cleanups.
def patch(test, mod, **attrs):
    for name, value in attrs.items():
        test.addCleanup(setattr, mod, name, getattr(mod, name))
        setattr(mod, name, value)


##### fakes


def oserror(err):
    return OSError(err, "fake")


class Record:
    # A plain object to hang attributes on (MicroPython cannot instantiate `object` with attributes).
    pass


class BoardSocket:
    # A board socket: no fileno, getsockopt, getpeername or shutdown (an AttributeError if asked).
    def __init__(self, send_error=None, recv_items=(), connect_error=None, accept_plan=()):
        self.send_error = send_error  # raised by every send(); None: sends succeed
        self.recv_items = list(recv_items)  # bytes, or an OSError to raise; empty: EAGAIN
        self.connect_error = connect_error
        self.accept_plan = list(accept_plan)  # per accept(): an OSError to raise; empty: EAGAIN
        self.recv_calls = []
        self.send_calls = []
        self.closed = False

    def setblocking(self, flag):
        pass

    def close(self):
        self.closed = True

    def accept(self):
        if not self.accept_plan:
            raise oserror(11)
        raise self.accept_plan.pop(0)

    def send(self, data):
        self.send_calls.append(bytes(data))
        if self.send_error is not None:
            raise oserror(self.send_error)
        return len(data)

    def recv(self, n, flags=0):
        self.recv_calls.append((n, flags))
        if not self.recv_items:
            raise oserror(11)
        item = self.recv_items[0]
        if isinstance(item, Exception):
            raise item
        if not flags & PEEK_BIT:
            del self.recv_items[0]
        return item[:n]

    def connect(self, addr):
        self.connected_to = addr
        if self.connect_error is not None:
            raise oserror(self.connect_error)

    def listen(self, backlog):
        self.backlog = backlog


PEEK_BIT = 2  # the fake esp32 socket module's MSG_PEEK (lwIP's own value is 1; any bit will do)
DONTWAIT_BIT = 64


class Rp2Socket(BoardSocket):
    # rp2 (modlwip.c): once lwIP has dropped the connection, send() raises its error once and EBADF
    # after that (lwip_socket_check_connected).
    def send(self, data):
        self.send_calls.append(bytes(data))
        err = self.send_error
        if err is None:
            return len(data)
        if err != 11:
            self.send_error = 9
        raise oserror(err)


class Esp32Socket(BoardSocket):
    # ESP32: send(b"") never reaches lwIP and always raises EAGAIN, whatever the socket's state.
    def send(self, data):
        if not data:
            self.send_calls.append(b"")
            raise oserror(11)
        return BoardSocket.send(self, data)


class DatagramBoardSocket:
    # A board's UDP socket whose sendto() raises `error` (an errno) or takes the datagram.
    def __init__(self, error=None):
        self.error = error
        self.sent = []

    def sendto(self, data, addr):
        if self.error is not None:
            raise oserror(self.error)
        self.sent.append((bytes(data), addr))
        return len(data)


class FakeNetwork:
    # The `network` module of a board: ipconfig("dns") (MicroPython 1.24+) or, before it, only
    # WLAN(STA_IF).ifconfig(), whose fourth item is the DNS server.
    STA_IF = 0

    def __init__(self, ipconfig=None, ifconfig=None):
        if ipconfig is not None:
            self.ipconfig = lambda name: ipconfig if name == "dns" else None
        self._ifconfig = ifconfig

    def WLAN(self, which):
        wlan = Record()
        wlan.ifconfig = lambda: self._ifconfig
        return wlan


class FakeSocketModule:
    # The `socket` module seen by a board adapter, getaddrinfo as ports/esp32/modsocket.c answers it:
    # family 0 (the default) asks lwIP for IPv4 and then IPv6, and an IPv6 answer comes back with
    # None for its address; AF_INET asks for IPv4 only, and a name without one raises.
    MSG_PEEK = PEEK_BIT
    MSG_DONTWAIT = DONTWAIT_BIT
    AF_INET = 2
    AF_INET6 = 10

    def __init__(self, answers=None):
        self.answers = answers or {}  # host: an IPv4 string, or an IPv6 one (with ":")
        self.lookups = []

    def getaddrinfo(self, host, port, family=0):
        self.lookups.append((host, port, family))
        ip = self.answers[host]
        if ":" not in ip:
            return [(self.AF_INET, 1, 0, host, (ip, port))]
        if family == self.AF_INET:
            raise OSError(-202)  # lwIP found no IPv4 address (EAI_FAIL, negated)
        return [(self.AF_INET6, 1, 0, host, None)]


class StreamSocket:
    # A board socket holding what the peer sent: each chunk is at most what one read of the port
    # returns (an lwIP pbuf on rp2, what has arrived on ESP32), then maybe an OSError (a reset) or b""
    # (end of stream). recv() is one read; readinto() is py/stream.c's mp_stream_rw(): it reads again
    # until the buffer is full, returns what it has at EAGAIN, and raises any other error, dropping the
    # bytes it had copied. CPython's recv_into() is one read too.
    def __init__(self, *chunks):
        self.chunks = list(chunks)
        self.asked = []
        self.closed = False

    def setblocking(self, flag):
        pass

    def close(self):
        self.closed = True

    def _read(self, n):
        if not self.chunks:
            raise oserror(11)
        item = self.chunks[0]
        if isinstance(item, Exception):
            del self.chunks[0]
            raise item
        if item:
            self.chunks[0] = item[n:]
            if not self.chunks[0]:
                del self.chunks[0]
        return item[:n]

    def recv(self, n):
        self.asked.append(n)
        return self._read(n)

    def recv_into(self, buf, n=0):
        self.asked.append(n)
        got = self._read(n or len(buf))
        buf[: len(got)] = got
        return len(got)

    def readinto(self, buf, n=0):
        self.asked.append(n)
        size = n or len(buf)
        done = 0
        while size:
            try:
                got = self._read(size)
            except OSError as err:
                if err.args[0] == 11:
                    return done or None
                raise
            if not got:
                break
            buf[done : done + len(got)] = got
            done += len(got)
            size -= len(got)
        return done


# Read sock with read(sock, buf, 0) until it raises: (bytes read, the errno it ended with).
def read_until_error(read, sock, size=16):
    buf = bytearray(size)
    got = b""
    for _ in range(20):
        try:
            n = read(sock, buf, 0)
        except OSError as err:
            return got, err.args[0]
        got += bytes(buf[:n])
    raise AssertionError("no error after 20 reads")


class PcbPool:
    # The TCP PCBs of rp2's lwIP as extmod/modlwip.c uses them (from the sources): MEMP_NUM_TCP_PCB = 5;
    # a listener takes none once listening; an arriving client takes one at its SYN and keeps it while
    # it waits in the listener's accept queue of max(backlog, 1) slots; a handshake that finds the
    # queue full is reset; socket() takes one or raises ENOMEM.
    def __init__(self, pcbs=5):
        self.free = pcbs
        self.slots = 0
        self.waiting = 0

    def listen(self, backlog):
        self.slots = max(1, backlog)

    def client_arrives(self):
        if not self.free:
            return "SYN dropped"  # the client retries later
        if self.waiting == self.slots:
            return "reset"  # its PCB is freed again
        self.free -= 1
        self.waiting += 1
        return "waiting"

    def accept(self):
        self.waiting -= 1  # its PCB goes with the accepted socket

    def socket(self):
        if not self.free:
            raise oserror(12)
        self.free -= 1


class FakePoll:
    # select.poll on a board port (extmod/modselect.c without POSIX optimisations): register() puts the
    # key in its map before allocating the entry, so a MemoryError leaves a half-made entry that the next
    # ipoll() dereferences; unregister() of such an entry is safe.
    def __init__(self, log, fail_on=None, events=()):
        self.log = log
        self.fail_on = fail_on  # the object whose register() runs out of memory
        self.events = list(events)
        self.entries = {}
        self.strict = False  # unregister() of an unknown object raises KeyError, as CPython's does
        self.refuse = {}  # object -> what register() raises for it (the key is in by then, as above)

    def register(self, obj, mask):
        self.log.append(("register", mask))
        if obj is self.fail_on:
            self.entries[obj] = None
            raise MemoryError("fake heap exhausted")
        if obj in self.refuse:
            self.entries[obj] = None
            raise self.refuse[obj]
        self.entries[obj] = mask

    def modify(self, obj, mask):
        if self.entries.get(obj) is None:
            raise oserror(2)
        self.entries[obj] = mask

    def unregister(self, obj):
        if self.strict and obj not in self.entries:
            raise KeyError(obj)
        self.entries.pop(obj, None)

    def ipoll(self, ms):
        for obj in self.entries:
            if self.entries[obj] is None:
                raise AssertionError("ipoll over a half-made entry: the board would crash here")
        self.log.append(("ipoll", ms))
        return iter(self.events)


class PosixPoll(FakePoll):
    # select.poll on the unix port (POSIX optimisations): objects with a descriptor get a pollfd in an
    # array that grows when a registration finds every pollfd taken, and may move then; an object
    # without one (an SSL object) registered at that moment would be given a wild pointer.
    def __init__(self):
        FakePoll.__init__(self, [])
        self.used = 0  # pollfds in use
        self.max_used = 0  # pollfds ever in use at once: the array's size
        self.steps_out = 0  # fd-less objects unregistered (stepping out, or for good)

    def register(self, obj, mask):
        if hasattr(obj, "fileno"):
            if self.used == self.max_used:
                fdless = [o for o in self.entries if not hasattr(o, "fileno")]
                assert not fdless, "the pollfd array may move under %r: a wild pointer" % (fdless,)
                self.max_used += 1
            self.used += 1
        FakePoll.register(self, obj, mask)

    def unregister(self, obj):
        if obj in self.entries:
            if hasattr(obj, "fileno"):
                self.used -= 1
            else:
                self.steps_out += 1
        FakePoll.unregister(self, obj)


class ScriptedPoller:
    # Stands in for a core poller's OS poller: keeps masks, returns one scripted event list per wait().
    def __init__(self):
        self.masks = {}
        self.script = []

    def register(self, key, mask):
        self.masks[key] = mask

    def modify(self, key, mask):
        self.masks[key] = mask

    def unregister(self, key):
        self.masks.pop(key, None)

    def wait(self, ms):
        return self.script.pop(0) if self.script else []

    def close(self):
        pass


# A fresh channel map of `core`, served by a ScriptedPoller: (map, scripted poller).
def scripted_map(test, core):
    m, os_poller = support.fake_map(ScriptedPoller(), core)
    test.addCleanup(core.close_all, m, True)
    return m, os_poller


# A stand-in select module whose poll() hands out each of polls in turn, then the last one again.
def select_with(*polls):
    left = list(polls)
    mod = Record()
    mod.poll = lambda: left.pop(0) if len(left) > 1 else left[0]
    return mod
