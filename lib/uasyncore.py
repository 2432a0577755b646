# uasyncore: asyncore's dispatchers and loop on a persistent poller, with timers and flow control.
# The same file runs on CPython and MicroPython; what differs lives in uasyncore_port.
import sys
import socket  # looked up at call time: programs monkeypatch uasyncore.socket

import uasyncore_port as _port

_DISCONNECTED = frozenset(
    (_port.ECONNRESET, _port.ENOTCONN, _port.ESHUTDOWN, _port.ECONNABORTED, _port.EPIPE, _port.EBADF)
)
_WOULDBLOCK = (_port.EWOULDBLOCK, _port.EAGAIN)
# Nothing to accept after all: asked too soon, or the client gave up (boards also say ENOTCONN).
_ACCEPT_RETRY = (_port.EWOULDBLOCK, _port.EAGAIN, _port.ECONNABORTED, _port.ENOTCONN)
# Out of descriptors or buffers: temporary, so the listener rests instead of closing.
_ACCEPT_EXHAUSTED = (_port.EMFILE, _port.ENFILE, _port.ENOBUFS, _port.ENOMEM)
_IN = _port.POLLIN
_OUT = _port.POLLOUT
_PRI = _port.POLLPRI
_READ = _IN | _PRI
_CLOSED = _port.POLLHUP | _port.POLLERR | _port.POLLNVAL

RECV_SIZE = _port.RECV_SIZE  # a recv() size that suits this port's memory (asynchat reads this much)
ACCEPT_BURST = 16  # connections one listener may take in one pass
ACCEPT_BACKOFF = 1.0  # seconds a listener rests after running out of descriptors or memory
# Channels that may join (or a sixteenth of those open, if more) before the loop collects what their set-up
# left: a steady loop allocates nothing, so on MicroPython it stayed (polls 1.5x slower at 1,000).
COLLECT_AFTER = 16

socket_map = {}


class ExitNow(Exception):
    pass


_reraised_exceptions = (ExitNow, KeyboardInterrupt, SystemExit)


# asyncore's names a service seldom needs (poll2, ...): from uasyncore_compat, loaded when first asked for.
def __getattr__(name):
    import uasyncore_compat

    if name == "__all__":  # `from uasyncore import *`: every public name, as asyncore gave them
        return [n for n in list(globals()) + list(uasyncore_compat.__dict__) if n[0] != "_"]
    if name.startswith("__") or not hasattr(uasyncore_compat, name):
        raise AttributeError("module 'uasyncore' has no attribute '%s'" % name)
    return getattr(uasyncore_compat, name)


# _io(fn, a, b, c): fn(a, b, c), or the exception it raised for the caller to handle or raise (the adapter's).
_io = _port.io_call


def _send(sock, data, n):
    return sock.send(data)


def _recv(sock, size, n):
    return sock.recv(size)


##### errors: asyncore's routing, and what boards have instead of sys.exc_info()

_handling = [None]  # the exception a handle_error() (or handle_accept_error()) is running for


# Call obj's hook (handle_error unless given) for exc; short of memory there, handle_error's channel closes.
def _error(obj, exc, hook=None):
    if isinstance(exc, MemoryError):
        _port.collect()
    was = _handling[0]
    _handling[0] = exc
    try:
        (hook or obj.handle_error)()
    except MemoryError:
        _port.collect()
        if hook is None:
            obj.close()
    finally:
        _handling[0] = was


# fn()'s result; what it raises goes to handle_error (given `failed`, to handle_accept_error, and returns it).
def _deliver(obj, fn, failed=None):
    try:
        return fn()
    except _reraised_exceptions:
        raise
    except Exception as e:
        _error(obj, e, None if failed is None else obj.handle_accept_error)
    return failed


# The exception handle_error() or handle_accept_error() runs for: boards' MicroPython has no sys.exc_info().
def handled_error():
    v = _handling[0]
    if v is None and hasattr(sys, "exc_info"):
        v = sys.exc_info()[1]
    return v


# An error delivering obj's events: a peer gone closes it; the rest, a failed connect too, is handle_error's.
def _event_error(obj, e):
    if isinstance(e, OSError) and e.args and e.args[0] in _DISCONNECTED and not getattr(obj, "connecting", False):
        obj.handle_close()
    else:
        _error(obj, e)


_hung_up = [None]  # the channel whose event being delivered says hang-up or error: its reads keep every byte


# Deliver one poll result (no try: one costs MicroPython a heap frame an event; _event_error gets what
# it raises). A hang-up with data waits until the reads drain it; a failed connect raises its best errno.
def _dispatch(obj, flags):
    if flags & _CLOSED:
        if getattr(obj, "connecting", False):
            err = _port.sock_error(obj.socket) or _port.ECONNREFUSED
            raise OSError(err, _port.strerror(err))
        _hung_up[0] = obj
    elif _hung_up[0] is not None:
        _hung_up[0] = None
    if flags & _IN:
        obj.handle_read_event()
    if flags & _OUT and getattr(obj, "_fileno", 0) is not None:  # a step runs while no earlier one closed it
        obj.handle_write_event()
    if flags & _PRI and getattr(obj, "_fileno", 0) is not None:
        obj.handle_expt_event()
    if flags & _CLOSED and not flags & _IN and getattr(obj, "_fileno", 0) is not None:
        if getattr(obj, "_reading_paused", False):
            obj.resume_reading()  # input is still waiting: read it, the reads then close
        elif getattr(obj, "_reads_errors", False):
            obj.handle_read_event()  # a datagram socket's error is a peer's ICMP answer, no hang-up: its read raises it
        else:
            obj.handle_close()


##### the poller: one per channel map, registrations kept across passes (README's "How the loop works")

_pollers = []  # the _Poller of each map in use, found by identity: id() allocates on some boards


# The poller that serves map, or None.
def _find(map):
    for p in _pollers:
        if p.map is map:
            return p
    return None


# The poller that serves map, made on first use.
def _poller(map):
    p = _find(map)
    if p is None:
        p = _Poller(map)
        _pollers.append(p)
    return p


# Forget map's poller once the map has nothing left to serve.
def _release(map):
    p = _find(map)
    if p is not None and not map and not p.timers:
        _pollers.remove(p)
        p.os.close()


# What a channel wants polled: a listener only reads, and not while it rests or a client waits for a slot.
def _interest(obj):
    mask = 0 if getattr(obj, "_reading_paused", False) or not obj.readable() else _READ
    if obj.accepting:
        waits = getattr(obj, "_resting", None) is not None or getattr(obj, "clients_waiting", False)
        return 0 if waits else mask
    if obj.writable():
        mask |= _OUT
    return mask


# Register obj's interest under key with p's OS poller, if it changed (run by _io: what fails is obj's).
def _register(p, key, obj):
    mask = _interest(obj)
    old = p.masks.get(key, 0)
    if mask == old or p.map.get(key) is not obj:  # unchanged, or closed by its own predicates
        return
    if not old and _socket_gone(obj, key):
        raise OSError(_port.EBADF, "socket closed behind its channel's back")
    if not old:
        p.os.register(key, mask)
    elif mask:
        p.os.modify(key, mask)
    else:
        p.os.unregister(key)
    p.masks[key] = mask


# The channel map's key for sock: what the poller reports (for a TLS socket, that of its `polled`).
def _key(sock):
    return _port.key(getattr(sock, "polled", sock))


# Whether obj's socket no longer answers to key, its key in a map: closed behind its channel's back.
def _socket_gone(obj, key):
    sock = getattr(obj, "socket", None)
    return sock is not None and _key(sock) != key


# Whether a channel calls interest_changed() at every change of its interest; if not, it is asked every pass.
def _reports_interest(obj):
    said = getattr(obj, "reports_interest", None)
    if said is not None:
        return said  # the class, or the channel, says which
    cls = type(obj)
    return getattr(cls, "readable", None) in _REPORTED and getattr(cls, "writable", None) in _REPORTED


class _Poller:
    def __init__(self, map):
        self.map = map
        self.os = _port.Poller()
        self.masks = {}  # key -> mask registered with the OS poller (0: in the map, not registered)
        self.asked = []  # keys whose channel's interest is read again before the next wait
        self.joined = []  # keys that joined since the last wait
        self.unreported = {}  # key -> channel that does not report its interest: asked every pass
        self.asking = False  # those are being asked: removals from unreported wait in `left`
        self.left = []
        self.timers = []  # Timer objects, latest first
        self.uncollected = 0  # channels that joined since garbage was last collected

    # A channel joined the map under key.
    def join(self, key):
        if key not in self.masks:
            self.masks[key] = 0
            self.uncollected += 1
        self.joined.append(key)
        self.asked.append(key)

    # A channel left the map: the OS poller forgets its socket before the socket closes.
    def leave(self, key):
        if self.masks.pop(key, 0):
            self.os.unregister(key)
        if key in self.unreported:
            if self.asking:
                self.left.append(key)
            else:
                del self.unreported[key]

    # Ask obj's interest and register it: out of memory closes it (a listener rests), the rest to _event_error.
    def ask(self, key, obj):
        e = _io(_register, self, key, obj)
        if e is None:
            return
        if isinstance(e, _reraised_exceptions):
            raise e
        if not isinstance(e, MemoryError):
            _event_error(obj, e)
            return
        _port.collect()
        if getattr(obj, "accepting", False):
            obj._rest(ACCEPT_BACKOFF)  # a listener is never given up: it tries again later
        else:
            obj.log_info("out of memory registering %r: closing it" % (obj,), "error")
            obj.close()

    # Bring registrations in line with a map that was changed by hand.
    def sync(self):
        map = self.map
        for key in [k for k in self.masks if k not in map]:
            self.leave(key)
        for key in map:
            if key not in self.masks:
                self.join(key)

    # Before the loop runs: a map whose keys were swapped by hand at the same size (O(channels)).
    def check(self):
        masks = self.masks
        for key in self.map:
            if key not in masks:
                self.sync()
                return

    # Read the interest that may have changed, and every unreported channel's; register what changed.
    def refresh(self):
        map = self.map
        if len(map) != len(self.masks):
            self.sync()
        unreported = self.unreported
        if unreported:
            self.ask_unreported()
        asked = self.asked
        while asked:
            key = asked.pop()
            obj = map.get(key)
            if obj is not None and unreported.get(key) is not obj:  # not asked just above
                self.ask(key, obj)
                if map.get(key) is obj and not _reports_interest(obj):
                    unreported[key] = obj

    def ask_unreported(self):
        map = self.map
        unreported = self.unreported
        self.asking = True
        for key in unreported:
            obj = map.get(key)  # the map's: a program may have put another under the key
            if obj is not None:  # not one closed while the others were asked
                if unreported[key] is not obj:
                    unreported[key] = obj
                self.ask(key, obj)
        self.asking = False
        left = self.left
        while left:
            unreported.pop(left.pop(), None)

    # One pass: register what changed, wait for I/O or the next timer, deliver events, run due timers.
    def run_once(self, ms):
        n = self.uncollected
        if n >= COLLECT_AFTER and n >= len(self.masks) >> 4:
            self.uncollected = 0
            _port.collect()
        if self.asked or self.unreported or len(self.map) != len(self.masks):
            self.refresh()
        timers = self.timers
        if timers:
            due = _port.ticks_diff(timers[-1].when, _port.ticks_ms())
            if due < 0:
                due = 0
            if ms < 0 or due < ms:
                ms = due
        joined = self.joined
        if joined:
            joined.clear()
        map = self.map
        events = iter(self.os.wait(ms))
        obj = None
        while True:
            # one try for the pass, not one per event; after a failure the iterator goes on
            try:
                for key, flags in events:
                    if joined and key in joined:
                        continue  # fetched for the channel that had this key before
                    obj = map.get(key)
                    if obj is not None:
                        _dispatch(obj, flags)
                break
            except _reraised_exceptions:
                raise
            except Exception as e:
                _event_error(obj, e)
        _hung_up[0] = None
        if timers:
            self.run_timers()

    # Run the timers that are due, each at most once per pass.
    def run_timers(self):
        timers = self.timers
        now = _port.ticks_ms()
        n = len(timers)
        while n and timers and _port.ticks_diff(timers[-1].when, now) <= 0:
            n -= 1
            t = timers.pop()
            if t.rest:
                t._arm(t.when, t.rest)  # one step of a far-off timer done: the next one
                self.insert(t)
                continue
            if t.interval is None:
                t.poller = None
            else:
                t._arm(t.when, t.interval)
                if _port.ticks_diff(t.when, now) <= 0:
                    t._arm(now, t.interval)  # skip the beats it missed
                self.insert(t)
            try:
                t.fn(*t.args)
            except _reraised_exceptions:
                raise
            except Exception as e:
                print("error: uncaptured python exception in timer %r (%s:%s %s)" % (t, type(e), e, _port.tb_entries(e)))

    # Put a timer in its place: latest first, so the next one due is at the end.
    def insert(self, t):
        timers = self.timers
        lo = 0
        hi = len(timers)
        while lo < hi:
            mid = (lo + hi) // 2
            if _port.ticks_diff(timers[mid].when, t.when) > 0:
                lo = mid + 1
            else:
                hi = mid
        timers.insert(lo, t)
        t.poller = self


##### timers

# The longest step a timer waits in (3.1 days): MicroPython's ticks_add() refuses 2**29 ms and more.
_MAX_STEP = 1 << 28


class Timer:
    rest = 0  # ms still to wait after `when`, for a timer more than one step away

    # A call at a tick in the loop's clock; periodic when interval (ms) is set.
    def __init__(self, when, interval, fn, args):
        self.when = when
        self.interval = interval
        self.fn = fn
        self.args = args
        self.poller = None

    # Due `ms` after tick `base`, in steps ticks_add() can take.
    def _arm(self, base, ms):
        if ms > _MAX_STEP:
            self.rest = ms - _MAX_STEP
            ms = _MAX_STEP
        elif self.rest:
            self.rest = 0
        self.when = _port.ticks_add(base, ms)

    # Whether the call is still to come.
    def active(self):
        return self.poller is not None

    def cancel(self):
        p = self.poller
        if p is not None:
            self.poller = None
            if self in p.timers:
                p.timers.remove(self)

    def __repr__(self):
        return "<Timer %r at tick %d>" % (self.fn, self.when)


# The loop's clock in ms (wraps on MicroPython: compare with ticks_diff), read at call time (tests swap it).
def ticks():
    return _port.ticks_ms()


ticks_diff = _port.ticks_diff
ticks_add = _port.ticks_add


def _ms(seconds):
    if seconds < 0:
        raise ValueError("negative delay")
    return int(seconds * 1000)


# A timer `ms` after tick `base`, every `interval` ms after that unless None.
def _schedule(base, ms, interval, fn, args, map):
    if not callable(fn):
        raise TypeError("timer callback must be callable")
    t = Timer(base, interval, fn, args)
    if ms:
        t._arm(base, ms)
    _poller(socket_map if map is None else map).insert(t)
    return t


# Call fn(*args) at tick `when` (a value of ticks() plus milliseconds).
def call_at(when, fn, *args, map=None):
    if not isinstance(when, int):
        raise TypeError("call_at needs a tick (an int from ticks()), not %r" % (when,))
    return _schedule(when, 0, None, fn, args, map)


# Call fn(*args) once, `delay` seconds from now.
def call_later(delay, fn, *args, map=None):
    return _schedule(_port.ticks_ms(), _ms(delay), None, fn, args, map)


# Call fn(*args) every `interval` seconds, the first time one interval from now.
def call_every(interval, fn, *args, map=None):
    ms = _ms(interval)
    if ms <= 0:
        raise ValueError("interval must be at least 1 ms")
    return _schedule(_port.ticks_ms(), ms, ms, fn, args, map)


##### the loop


def _timeout_ms(timeout):
    return -1 if timeout is None or timeout < 0 else int(timeout * 1000)


# One pass over map (asyncore's poll; poll2 and poll3 are the same: there is one poller).
def poll(timeout=0.0, map=None):
    if map is None:
        map = socket_map
    p = _poller(map)
    p.check()
    p.run_once(_timeout_ms(timeout) if map or p.timers else 0)  # nothing to wait for: asyncore returned at once
    _release(map)


# Serve map until it has no channels and no timers left, or for count passes.
def loop(timeout=30.0, use_poll=False, map=None, count=None):
    if map is None:
        map = socket_map
    ms = _timeout_ms(timeout)
    p = _poller(map)
    p.check()
    _port.io_reset()  # a socket call left half-way (Ctrl-C inside it) must not wedge the next one
    try:
        while (map or p.timers) and (count is None or count > 0):
            p.run_once(ms)
            p = _poller(map)  # close_all() may have let the old one go
            count = None if count is None else count - 1
    finally:
        _port.io_reset()
        _release(map)


# Whether an address needs no lookup: all but a (host, port) whose host is a name (not IPv4, IPv6 or "").
def _literal(address):
    host = address[0] if type(address) is tuple and address else None
    return type(host) is not str or ":" in host or not host.strip("0123456789.")


##### dispatcher

# While a listener's handle_accept() runs: it, and the channel made for the connection (closed if that fails).
_in_accept = [None, None]


class dispatcher:
    debug = False
    connected = False
    accepting = False
    connecting = False
    closing = False  # asyncore has it and never sets it either: kept for programs that read it
    addr = None
    ignore_log_types = frozenset({"warning"})
    max_connections = _port.MAX_CONNECTIONS  # a listener's budget of open accepted channels (None: no limit)
    connect_timeout = None  # seconds a connect() may take before handle_error gets ETIMEDOUT
    idle_timeout = None  # seconds without a byte in or out before handle_idle(); None: never
    out_high = _port.OUT_HIGH  # queued output (bytes) at which pause_writing() is called (None: never)
    out_low = _port.OUT_LOW  # ... and at or under which resume_writing() is called after it
    reports_interest = None  # True: interest_changed() tells each change of readable()/writable(); False: ask each pass
    open_connections = 0  # a listener's accepted channels still open (read it, do not set it)
    clients_waiting = False  # a listener at its budget has a client waiting for a slot (read it)
    # what a channel holds only once it needs it: an idle one keeps to a few attributes of its own
    _map = socket_map  # the channel's map, unless it was given another
    _owner = None  # the listener that accepted this channel's socket
    _reading_paused = False
    _output_full = False
    _idle_timer = None
    _last_io = 0
    _connect_timer = None
    _resting = None  # a listener's timer while it rests after running out of descriptors
    _just_accepted = None  # a listener's socket just accepted, until handle_accept() returns
    _io_errors_handled = False  # True: send/recv hand a socket error to _io_error() (async_chat's), say nothing moved
    # what a listener's slot policy (make_room()) judges an accepted channel by
    phase_timeout = None  # seconds a phase of the protocol (a request's head, a line) may take; None: no phases
    _got = 0  # bytes read in the phase (-1 between phases): a channel starts in its first one
    _mark = None  # the tick the phase began, or between phases the last byte in or out (None: not seen yet)
    _room_timer = None  # a listener's next make_room() while a client waits for a slot

    def __init__(self, sock=None, map=None):
        if map is None:
            map = socket_map
        if map is not dispatcher._map:
            self._map = map
        self._fileno = None
        owner = _in_accept[0]
        if sock and owner is not None:
            self._owner = owner
            owner.open_connections += 1
            _in_accept[1] = self
        if not sock:
            self.socket = None
            return
        sock.setblocking(False)
        try:
            self.set_socket(sock, map)
        except BaseException:
            self._forget()  # a half-made channel gives its listener slot back
            self.del_channel(map)
            raise
        self.connected = True
        try:
            addr = _port.peername(sock)
            if addr is not None:  # unknown on MicroPython: the class's None, no attribute to hold
                self.addr = addr
        except OSError as err:
            if err.args[0] not in (_port.ENOTCONN, _port.EINVAL):
                self._forget()
                self.del_channel(map)
                raise
            self.connected = False  # a socket that is not connected yet

    def __repr__(self):
        cls = type(self)
        status = [cls.__module__ + "." + getattr(cls, "__qualname__", cls.__name__)]
        if self.accepting and self.addr:
            status.append("listening")
        elif self.connected:
            status.append("connected")
        if self.addr is not None:
            try:
                status.append("%s:%d" % self.addr)
            except TypeError:
                status.append(repr(self.addr))
        return "<%s at %#x>" % (" ".join(status), id(self))

    def add_channel(self, map=None):
        if map is None:
            map = self._map
        old = map.get(self._fileno)
        if old is not None and old is not self and _socket_gone(old, self._fileno):
            # its socket was closed behind its back and ours got its number (epoll said nothing): tell it
            _deliver(old, old.handle_close)
            if map.get(self._fileno) is old:
                old.del_channel(map)
        map[self._fileno] = self
        _poller(map).join(self._fileno)
        if self.idle_timeout is not None and self._idle_timer is None:
            self.set_idle_timeout(self.idle_timeout)

    def del_channel(self, map=None):
        key = self._fileno
        if map is None:
            map = self._map
        if key in map:
            del map[key]
            _poller(map).leave(key)
        self._fileno = None

    def create_socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM):
        self.family_and_type = family, type
        sock = socket.socket(family, type)
        sock.setblocking(False)
        self.set_socket(sock)

    def set_socket(self, sock, map=None):
        self.socket = sock
        self._fileno = _key(sock)
        self.add_channel(map)

    def set_reuse_addr(self):
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except OSError:
            pass

    ##### predicates: what the loop asks

    def readable(self):
        return True

    def writable(self):
        return True

    ##### socket methods

    def listen(self, num):
        self.accepting = True
        self._cancel_timer("_idle_timer")  # a listener is never idle
        self.interest_changed()  # listeners are never polled for writing
        cap = _port.LISTEN_BACKLOG  # each waiting client holds one of a board's few connections
        if cap is not None and num > cap:
            num = cap
        return self.socket.listen(num)

    def bind(self, addr):
        self.addr = addr
        return self.socket.bind(_port.sockaddr(addr))

    def connect(self, address):
        if not _literal(address):
            import uasyncore_dns  # a host name: looked up without blocking the loop, by a module loaded only now
            return uasyncore_dns.connect(self, address)
        err = _port.connect_ex(self.socket, _port.sockaddr(address))  # a bad address raises here, nothing changed
        self.connected = False
        self.connecting = True
        if err in (_port.EINPROGRESS, _port.EALREADY, _port.EWOULDBLOCK):
            self.addr = address
            if self.connect_timeout is not None and self._connect_timer is None:  # else it runs since the lookup began
                self._connect_timer = call_later(self.connect_timeout, self._connect_expired, map=self._map)
            return
        if err in (0, _port.EISCONN):
            self.addr = address
            self.handle_connect_event()
        else:
            self.connecting = False  # raised to the caller: the loop must not report it again
            raise OSError(err, _port.strerror(err))

    # (socket, address) or None when nothing is waiting; out of descriptors, the listener rests.
    def accept(self):
        try:
            conn, addr = self.socket.accept()
        except TypeError:
            return None
        except OSError as why:
            err = why.args[0]
            if err in _ACCEPT_RETRY:
                return None
            if err in _ACCEPT_EXHAUSTED:
                self.log_info("accept: %s; pausing for %ss" % (_port.strerror(err), ACCEPT_BACKOFF), "warning")
                self._rest(ACCEPT_BACKOFF)
                return None
            self._just_accepted = _in_accept[1] = None  # the listener's own socket failed, no connection's
            raise
        self._just_accepted = conn
        return conn, _port.peer_address(addr)

    def send(self, data):
        return self._sent(_io(_send, self.socket, data, 0))

    # send() of buffer[:n] without slicing it: on MicroPython such a send allocates nothing.
    def send_from(self, buffer, n):
        return self._sent(_io(_port.send_part, self.socket, buffer, n))

    # What a send gave: the bytes sent (noted as activity), or 0 for what _io_failed() settles.
    def _sent(self, sent):
        if sent.__class__ is not int:
            return self._io_failed(sent, 0)
        if sent:
            if self._idle_timer is not None:
                self._last_io = _port.ticks_ms()
            if self._got < 0:
                self._mark = _port.ticks_ms()  # between phases a byte out counts as activity too
        return sent

    def recv(self, buffer_size):
        data = _io(_recv, self.socket, buffer_size, 0)
        if data is None or isinstance(data, BaseException):
            return self._io_failed(data, b"")
        return data if self._read(len(data)) else b""

    # recv() into the caller's buffer: the bytes read, 0 once the peer closed (lwIP boards still allocate).
    def recv_into(self, buffer):
        # after a hang-up one recv(): unix readinto() reads again, meets the reset and drops what it copied
        read = _port.recv_into_once if _hung_up[0] is self else _port.recv_into
        n = _io(read, self.socket, buffer, 0)  # 0: as many bytes as the buffer holds
        if n.__class__ is not int:
            return self._io_failed(n, 0)
        return n if self._read(n) else 0

    # n bytes read (0: the peer closed): whether the program gets them (not past its phase's deadline).
    def _read(self, n):
        if not n:
            self.handle_close()
            return True
        if self._idle_timer is not None:
            self._last_io = _port.ticks_ms()
        owner = self._owner
        if owner is None or self.phase_timeout is None and owner.max_connections is None:
            return True  # no phases counted: not accepted, or neither a deadline nor a listener's budget
        return not self._phase_read(n)

    # What a send or read gave that is not a count or data: None (MicroPython's TLS sockets) or would-block
    # moved nothing, the peer gone closes, an exception is raised (or handle_error's), the rest is returned.
    def _io_failed(self, why, nothing):
        if why is None:
            return nothing
        if not isinstance(why, OSError):
            if isinstance(why, BaseException):
                raise why
            return why
        err = why.args[0] if why.args else None
        if err in _WOULDBLOCK:
            return nothing
        if err in _DISCONNECTED:
            self.handle_close()
            return nothing
        if self._io_errors_handled:
            self._io_error(why)
            return nothing
        raise why

    def close(self):
        # only what changes: on a full heap, a new instance attribute is an allocation that can fail
        if self.connected:
            self.connected = False
        if self.accepting:
            self.accepting = False
        if self.connecting:
            self.connecting = False
        self._forget()
        self.del_channel()
        if self.socket is not None:
            try:
                self.socket.close()
            except OSError as why:
                if why.args[0] not in (_port.ENOTCONN, _port.EBADF):
                    raise

    # Let go of the timers and of the listener's slot: the channel is ending.
    def _forget(self):
        for name in ("_connect_timer", "_idle_timer", "_resting", "_room_timer"):
            self._cancel_timer(name)
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner.open_connections -= 1
            if owner.clients_waiting:
                owner.clients_waiting = False  # the slot is the waiting client's
                owner.interest_changed()

    # Cancel the timer held in attribute `name`, if one is.
    def _cancel_timer(self, name):
        timer = getattr(self, name)
        if timer is not None:
            timer.cancel()
            setattr(self, name, None)

    def _connect_expired(self):
        self._connect_timer = None
        if self.connecting:
            try:
                raise OSError(_port.ETIMEDOUT, _port.strerror(_port.ETIMEDOUT))  # raised: a traceback to report
            except OSError as e:
                _error(self, e)

    # Stop accepting for `seconds` (out of descriptors or memory): the listener stays, and tries again.
    def _rest(self, seconds):
        if self._resting is None:
            try:
                self._resting = call_later(seconds, self._wake, map=self._map)
            except MemoryError:
                return  # no room even for the timer: it tries again at the next event
            self.interest_changed()

    def _wake(self):
        self._resting = None
        self.interest_changed()

    ##### flow control and deadlines

    # Stop polling for input (the channel stays open and keeps writing) until resume_reading().
    def pause_reading(self):
        if not self._reading_paused:
            self._reading_paused = True
            self.interest_changed()

    def resume_reading(self):
        if self._reading_paused:
            self._reading_paused = False
            self.interest_changed()

    # Called once queued output reaches out_high: stop producing. By default, stop reading.
    def pause_writing(self):
        self.pause_reading()

    # Called once queued output is back at out_low after pause_writing().
    def resume_writing(self):
        self.resume_reading()

    # Subclasses that queue output tell how much is queued; this calls pause/resume_writing.
    def _output_level(self, queued):
        if self._output_full:
            if queued <= self.out_low:
                self._output_full = False
                self.resume_writing()
        elif self.out_high is not None and queued >= self.out_high:
            self._output_full = True
            self.pause_writing()

    # Close after `seconds` without a byte in or out (None: never); capped at _MAX_STEP ms: ticks wrap.
    def set_idle_timeout(self, seconds):
        self.idle_timeout = seconds
        self._cancel_timer("_idle_timer")
        if seconds is not None and self._fileno is not None:
            self._last_io = _port.ticks_ms()
            self._idle_timer = _schedule(self._last_io, self._idle_ms(), None, self._idle_check, (), self._map)

    def _idle_ms(self):
        return min(_ms(self.idle_timeout), _MAX_STEP)

    # The idle timer fired: close if nothing moved since, else wait for the rest.
    def _idle_check(self):
        now = _port.ticks_ms()
        left = self._idle_ms() - _port.ticks_diff(now, self._last_io)
        if left <= 0:
            self._idle_timer = None
            _deliver(self, self.handle_idle)
        else:
            self._idle_timer = _schedule(now, left, None, self._idle_check, (), self._map)

    ##### phases: what a listener's slot policy (make_room()) judges an accepted channel by

    # n bytes read by an accepted channel. True when its phase (first byte to end_phase(), or to the first
    # byte without phase_timeout) is past its deadline: the bytes are dropped, handle_phase_timeout() called.
    def _phase_read(self, n):
        now = _port.ticks_ms()
        got = self._got
        limit = self.phase_timeout
        if limit is None:
            if got >= 0:
                self._got = -1
            self._mark = now
            return False
        mark = self._mark
        if got < 0 or mark is None:
            self._got = n if got < 0 else got + n
            self._mark = now
            return False
        self._got = got + n
        elapsed = _port.ticks_diff(now, mark)
        if elapsed < 1000 * int(limit) or elapsed < limit * 1000:  # the first test spares a float a read
            return False
        self.handle_phase_timeout()
        return True

    # The protocol's phase (a request's head, a line, a handshake) is complete: idle until the next begins.
    def end_phase(self):
        self._got = -1
        self._mark = _port.ticks_ms()

    # Tell the poller to ask this channel's readable()/writable() again before its next wait.
    def interest_changed(self):
        key = self._fileno
        if key is not None and self._map.get(key) is self:
            _poller(self._map).asked.append(key)

    ##### logging

    def log(self, message):
        sys.stderr.write("log: %s\n" % str(message))

    def log_info(self, message, type="info"):
        if type not in self.ignore_log_types:
            print("%s: %s" % (type, message))

    ##### events from the loop, turned into the handle_* calls below

    def handle_read_event(self):
        if self.accepting:
            self.handle_accept_event()
            return
        if not self.connected and self.connecting:
            self.handle_connect_event()
        self.handle_read()

    # Take every waiting connection, up to ACCEPT_BURST; at the budget, a client waits for a free slot.
    # A failing handler's constructor (a client reset at once) closes its connection, not the listener.
    def handle_accept_event(self):
        budget = self.max_connections
        # a program's own handle_accept() may unpack accept(), which fails once nobody waits: one call an event
        burst = n = ACCEPT_BURST if type(self).handle_accept is dispatcher.handle_accept else 1
        while n and self.accepting:
            if budget is not None and self.open_connections >= budget:
                if n == burst:  # a client came while no slot was free: it waits for one
                    self.clients_waiting = True
                    self.interest_changed()
                    self._room_soon(0)
                return  # else still polled: the next event says whether a client waits
            n -= 1
            self._just_accepted = _in_accept[1] = None
            _in_accept[0] = self
            try:
                self.handle_accept()
            except _reraised_exceptions:
                raise
            except Exception as e:
                if self._just_accepted is None:
                    raise  # the listener's own socket failed: asyncore's routing
                self._refuse(e)
                if isinstance(e, MemoryError):
                    return
            finally:
                _in_accept[0] = None
            if self._just_accepted is None:
                return  # nobody else waiting
            self._just_accepted = None  # served or refused: the next one

    # Ask make_room() in ms, after a pass's events: what a client sent is read before it is judged.
    def _room_soon(self, ms):
        if self._room_timer is None:
            self._room_timer = _schedule(_port.ticks_ms(), ms, None, self._room_check, (), self._map)

    def _room_check(self):
        self._room_timer = None
        if self.clients_waiting and self.accepting:
            again = _deliver(self, self.make_room, 1)  # a failing policy is reported; the listener stays
            if again is not None and self.clients_waiting:
                self._room_soon(_ms(again))

    # Close the connection just accepted and its channel, even half-made (off map, poller, slot), then report.
    def _refuse(self, e):
        conn = self._just_accepted
        made = _in_accept[1]
        _in_accept[1] = None
        if made is not None:
            try:
                made.close()  # the program's close() first: it may hold more than the socket
            except Exception:  # noqa: BLE001  (a half-made channel may lack what its close() uses)
                pass
            made._forget()  # what close() would have done had it failed early: nothing once it ran
            made.del_channel()
        conn.close()
        if isinstance(e, MemoryError):
            _port.collect()
            self.log_info("out of memory taking a connection: refused it, pausing", "warning")
            self._rest(ACCEPT_BACKOFF)
        else:
            _error(self, e, self.handle_accept_error)

    def handle_connect_event(self):
        self._cancel_timer("_connect_timer")
        err = _port.sock_error(self.socket)
        if err != 0:
            raise OSError(err, _port.strerror(err))
        self.handle_connect()
        self.connected = True
        self.connecting = False
        self.interest_changed()  # writable() may depend on connected

    def handle_write_event(self):
        if self.accepting:
            return  # a listener has nothing to write
        if not self.connected and self.connecting:
            self.handle_connect_event()
        self.handle_write()

    def handle_expt_event(self):
        # an error on the socket closes it; anything else is out-of-band data
        if _port.sock_error(self.socket) != 0:
            self.handle_close()
        else:
            self.handle_expt()

    def handle_error(self):
        self.log_info("uncaptured python exception, closing channel %s %s" % (self._describe_error()), "error")
        self.handle_close()

    # Who raised the exception being handled, and "(type:value [file|function|line] ...)", as asyncore said.
    def _describe_error(self):
        v = handled_error()
        entries = _port.tb_entries(v) if v is not None else ()
        try:
            self_repr = repr(self)
        except Exception:
            self_repr = "<__repr__(self) failed for object at %0x>" % id(self)
        return self_repr, "(%s:%s %s)" % (type(v), v, " ".join(["[%s|%s|%s]" % e for e in entries]))

    ##### the hooks programs override

    def handle_expt(self):
        self.log_info("unhandled incoming priority event", "warning")

    def handle_read(self):
        self.log_info("unhandled read event", "warning")

    def handle_write(self):
        self.log_info("unhandled write event", "warning")

    def handle_connect(self):
        self.log_info("unhandled connect event", "warning")

    def handle_accept(self):
        pair = self.accept()
        if pair is not None:
            self.handle_accepted(*pair)

    def handle_accepted(self, sock, addr):
        sock.close()
        self.log_info("unhandled accepted event", "warning")

    # An accepted connection failed and was closed (handled_error() says why): a gone client only warns.
    def handle_accept_error(self):
        e = handled_error()
        if isinstance(e, OSError) and e.args and e.args[0] in _DISCONNECTED:
            self.log_info("client gone: %r" % (e,), "warning")
        else:
            self.log_info("refused a connection: %s %s" % self._describe_error(), "error")

    def handle_close(self):
        self.log_info("unhandled close event", "warning")
        self.close()

    def handle_idle(self):
        self.close()

    # A phase went past phase_timeout, seen as its bytes arrive (a listener short of slots evicts instead).
    def handle_phase_timeout(self):
        self.close()

    # The listener takes this connection's slot back for a waiting client (make_room()).
    def handle_evict(self):
        self.close()

    # At the budget with a client waiting: free a slot (handle_evict()) and return None, or seconds to wait.
    def make_room(self):
        try:
            import uasyncore_slots
        except ImportError:  # a board given the core without it: said once, and clients wait for a close
            self.log_info("uasyncore_slots is not installed: clients wait for a close", "error")
            self.make_room = lambda: None
            return None
        return uasyncore_slots.make_room(self)


class dispatcher_with_send(dispatcher):
    # A dispatcher whose send() queues what the socket cannot take yet; an idle one holds no queue of its own.
    _chunks = ()  # the queued output, in pieces; the first one is sent from _head on
    _head = 0
    _queued = 0  # bytes queued

    # The queued output, as one bytes (a copy: reading it costs what is queued).
    @property
    def out_buffer(self):
        if not self._queued:
            return b""
        return b"".join([bytes(memoryview(self._chunks[0])[self._head :])] + self._chunks[1:])

    # Replacing it tells the poller, so writable() need not be asked every pass.
    @out_buffer.setter
    def out_buffer(self, data):
        self._chunks = [bytes(data)] if data else []
        self._head = 0
        self._add_queued(len(data) - self._queued)

    # n bytes more queued (fewer if negative): the poller hears when the queue empties or stops being empty.
    def _add_queued(self, n):
        was = self._queued
        self._queued = was + n
        if bool(was) != bool(self._queued):
            self.interest_changed()
        self._output_level(self._queued)

    # Send what the socket takes of the first piece through a memoryview: no copy (asyncore sliced 64 KiB).
    def initiate_send(self):
        if not self._queued:
            return
        first = self._chunks[0]
        head = self._head
        piece = memoryview(first)[head:] if head else first
        sent = dispatcher.send(self, piece)
        if sent:
            head += sent
            if head >= len(first):
                self._chunks.pop(0)
                head = 0
            self._head = head
            self._add_queued(-sent)

    def handle_write(self):
        self.initiate_send()

    def writable(self):
        return not self.connected or self._queued > 0

    # Send what the socket takes now; queue the rest.
    def send(self, data):
        if self.debug:
            self.log_info("sending %s" % repr(data))
        if not self._queued:
            sent = dispatcher.send(self, data)
            if sent >= len(data):
                return
            data = memoryview(data)[sent:]
        elif not data:
            return  # nothing to queue: an empty piece would never leave the queue
        self._enqueue(data)

    # Send buffer[:n] as send() would, without slicing it when the socket takes it all.
    def send_from(self, buffer, n):
        if self._queued:
            self.send(memoryview(buffer)[:n])
            return
        sent = dispatcher.send_from(self, buffer, n)
        if sent < n:
            self._enqueue(memoryview(buffer)[sent:n])

    def _enqueue(self, data):
        if not self._chunks:
            self._chunks = []
        self._chunks.append(bytes(data))  # a copy: the caller may reuse its buffer
        self._add_queued(len(data))


# Predicates whose answers change only where the core reports it (interest_changed()).
_REPORTED = [dispatcher.readable, dispatcher.writable, dispatcher_with_send.writable]
