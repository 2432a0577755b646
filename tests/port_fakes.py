# Helpers for tests/test_ports.py: load each port's adapter as a module of its own, and fakes that
# behave like the board ports' sockets and select.poll (from the MicroPython sources, not a board).
#
# Kept apart from the tests so that MicroPython compiles two small modules instead of one large one.
import sys
import unittest

import support
from support import ROOT  # the source tree

CONTRACT = (
    "EAGAIN EWOULDBLOCK EINPROGRESS EALREADY EISCONN EINVAL EBADF EPIPE ECONNRESET ECONNABORTED "
    "ECONNREFUSED ENOTCONN ESHUTDOWN EMFILE ENFILE ENOBUFS ENOMEM ETIMEDOUT errorcode "
    "POLLIN POLLPRI POLLOUT POLLERR POLLHUP POLLNVAL key sockaddr peer_address peername connect_ex "
    "sock_error strerror ticks_ms ticks_add ticks_diff tb_entries Poller MAX_CONNECTIONS collect"
).split()


# Every adapter name lib/uasyncore.py uses: its `from uasyncore_port import (...)` list and each
# `_port.NAME`. Read a line at a time: a board-sized heap has no room for the whole file at once.
def core_names():
    names = set()
    in_import = False
    with open(ROOT + "/lib/uasyncore.py") as f:
        for line in f:
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
    names.discard("file_wrapper")  # optional: the core looks for it with hasattr
    return names


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


PEEK_BIT = 2  # the fake esp32 socket module's MSG_PEEK (lwIP's own value is 1; any bit will do)
DONTWAIT_BIT = 64


class Esp32Socket(BoardSocket):
    # ESP32: send(b"") never reaches lwIP and always raises EAGAIN, whatever the socket's state.
    def send(self, data):
        if not data:
            self.send_calls.append(b"")
            raise oserror(11)
        return BoardSocket.send(self, data)


class FakeSocketModule:
    # The `socket` module seen by a board adapter: getaddrinfo as the firmware answers it.
    MSG_PEEK = PEEK_BIT
    MSG_DONTWAIT = DONTWAIT_BIT

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.lookups = []

    def getaddrinfo(self, host, port):
        self.lookups.append((host, port))
        return [(2, 1, 0, "", (self.answers[host], port))]


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
