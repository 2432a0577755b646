# uasyncore: asyncore's dispatchers and loop on a persistent poller, with timers.
#
# The same file runs on CPython and MicroPython; what differs lives in uasyncore_port.
import sys
import socket  # looked up at call time: programs monkeypatch uasyncore.socket

import uasyncore_port as _port
from uasyncore_port import (
    EAGAIN,
    EALREADY,
    EBADF,
    ECONNABORTED,
    ECONNREFUSED,
    ECONNRESET,
    EINPROGRESS,
    EINVAL,
    EISCONN,
    EMFILE,
    ENFILE,
    ENOBUFS,
    ENOMEM,
    ENOTCONN,
    EPIPE,
    ESHUTDOWN,
    EWOULDBLOCK,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLPRI,
    errorcode,
)

_DISCONNECTED = frozenset({ECONNRESET, ENOTCONN, ESHUTDOWN, ECONNABORTED, EPIPE, EBADF})
_WOULDBLOCK = (EWOULDBLOCK, EAGAIN)
# Nothing to accept after all: asked too soon, or the client gave up (boards also say ENOTCONN).
_ACCEPT_RETRY = (EWOULDBLOCK, EAGAIN, ECONNABORTED, ENOTCONN)
# Out of descriptors or buffers: temporary, so pause accepting instead of closing the listener.
_ACCEPT_EXHAUSTED = (EMFILE, ENFILE, ENOBUFS, ENOMEM)
_READ = POLLIN | POLLPRI
_CLOSED = POLLHUP | POLLERR | POLLNVAL

RECV_SIZE = _port.RECV_SIZE  # a recv() size that suits this port's memory (asynchat reads this much)
ACCEPT_BURST = 16  # connections one listener may take in one pass
ACCEPT_BACKOFF = 1.0  # seconds a listener rests after running out of descriptors
# Channels that may join before the loop collects garbage (or a sixteenth of those open, if more:
# the collections then cost O(1) per channel). A steady loop allocates nothing, so what their set-up
# left on the heap would stay for good; on MicroPython that made each poll over 1,000 connections
# about 1.5x slower.
COLLECT_AFTER = 16

# The listener whose handle_accept() is running (it owns dispatchers made now), and the last channel
# made for it there: closed with its connection if handle_accept() then fails.
_accepting = [None, None]

socket_map = {}


class ExitNow(Exception):
    pass


_reraised_exceptions = (ExitNow, KeyboardInterrupt, SystemExit)


_strerror = _port.strerror


##### socket calls that may fail, without a heap frame each

# _io(fn, sock, x, n) returns fn(sock, x, n), or the exception it raised, which the caller raises
# again unless it is an errno it handles. MicroPython gives a function that holds an `except ... as`
# its frame from the heap at every call (frames over 11 words go there), and with hundreds of
# connections open that allocation searches the heap for microseconds: send and recv did, for every
# message. So there (_port.FRAMES_ON_HEAP) the call runs in the frame of one generator, made once;
# CPython calls directly, which costs it less.
_io_call = [None, None, None, None]  # fn, sock, x, n while a call runs; the result after it


def _io_calls(call):
    while True:
        yield
        try:
            call[0] = call[0](call[1], call[2], call[3])
        except BaseException as e:  # whatever fn raises: this generator has to outlive it
            call[0] = e


def _io_direct(fn, sock, x, n):
    try:
        return fn(sock, x, n)
    except BaseException as e:
        return e


def _io_resumed(fn, sock, x, n):
    call = _io_call
    if call[1] is not None:
        return _io_direct(fn, sock, x, n)  # a call made from inside one: only a socket in Python does
    call[0] = fn
    call[1] = sock
    call[2] = x
    call[3] = n
    _io_runner.send(None)
    result = call[0]
    call[0] = call[2] = None  # hold no socket or buffer between calls
    call[1] = None  # the last: a socket here says a call is running, or was left half-way
    return result


# A fresh generator and empty slots: at import, and when a loop ends or starts with a call left
# half-way (an exception such as Ctrl-C that lands inside the generator, outside its try, ends it).
def _io_reset():
    global _io_runner
    _io_call[0] = _io_call[1] = _io_call[2] = _io_call[3] = None
    _io_runner = _io_calls(_io_call)
    next(_io_runner)


if _port.FRAMES_ON_HEAP:
    _io_reset()
    _io = _io_resumed
else:
    _io = _io_direct


def _send(sock, data, n):
    return sock.send(data)


def _recv(sock, size, n):
    return sock.recv(size)


##### event delivery: the functions asyncore exposes, with its error routing


# The exception handle_error() is called for, which compact_traceback() reports: boards have no
# sys.exc_info() (MicroPython leaves it out unless a port's build adds it).
_handling = [None]


# Hand exc to obj.handle_error(), or (listener) to obj.handle_accept_error() once the connection it
# was taking is closed; memory first, when that is what ran out. (uasynchat uses it too.)
def _error(obj, exc, listener=False):
    if isinstance(exc, MemoryError):
        _port.collect()
    was = _handling[0]
    _handling[0] = exc
    try:
        if listener:
            obj.handle_accept_error()
        else:
            obj.handle_error()
    except MemoryError:
        _port.collect()
        if not listener:  # a listener is not at fault
            obj.close()  # too little memory even to report: at least free the channel
    finally:
        _handling[0] = was


# The exception handle_error() was called for (None outside one), without the cost of
# compact_traceback(): what a board's handle_error() has instead of sys.exc_info()[1].
def handled_error():
    v = _handling[0]
    if v is None and hasattr(sys, "exc_info"):
        v = sys.exc_info()[1]
    return v


# Call one of obj's handle_*_event methods; its errors go to obj.handle_error().
def _deliver(obj, event):
    try:
        event()
    except _reraised_exceptions:
        raise
    except Exception as e:
        _error(obj, e)


def read(obj):
    _deliver(obj, obj.handle_read_event)


def write(obj):
    _deliver(obj, obj.handle_write_event)


def _exception(obj):
    _deliver(obj, obj.handle_expt_event)


# Deliver one poll result; a hang-up that comes with data waits until the reads drain it. What it
# raises is for _event_error (no try here: on MicroPython a function with one gets its frame from
# the heap, and this runs for every event). A connect that fails ends in handle_error on every
# port, with the best errno known: the connect-outcome rule.
def _dispatch(obj, flags):
    if flags & _CLOSED and getattr(obj, "connecting", False):
        err = _port.sock_error(obj.socket) or ECONNREFUSED
        raise OSError(err, _strerror(err))
    if flags & POLLIN:
        obj.handle_read_event()
    if flags & POLLOUT:
        obj.handle_write_event()
    if flags & POLLPRI:
        obj.handle_expt_event()
    if flags & _CLOSED and not flags & POLLIN:
        if getattr(obj, "_reading_paused", False):
            obj.resume_reading()  # input is still waiting: read it, the reads then close
        else:
            obj.handle_close()


# What delivering events to obj raised: a peer gone closes it, the rest goes to handle_error (and so
# does a connect that fails, whatever its errno, as the connect-outcome rule says).
def _event_error(obj, e):
    if isinstance(e, OSError) and (e.args[0] if e.args else None) in _DISCONNECTED and not getattr(obj, "connecting", False):
        obj.handle_close()
    else:
        _error(obj, e)


def readwrite(obj, flags):
    try:
        _dispatch(obj, flags)
    except _reraised_exceptions:
        raise
    except Exception as e:
        _event_error(obj, e)


##### the persistent poller: one per channel map, registrations kept across passes


# Bring p's OS registration of key to mask (0: none). Run through _io where it may fail.
def _os_set(p, key, mask):
    old = p.masks.get(key, 0)
    if not old:
        p.os.register(key, mask)
    elif not mask:
        p.os.unregister(key)
    else:
        p.os.modify(key, mask)
    p.masks[key] = mask


# One _Poller per channel map in use, found by identity: id() of a heap object is itself a heap
# object on a board whose RAM lies above 2**30, and the loop finds its poller every pass.
_pollers = []


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


# What a channel wants polled, from its readable() and writable() answers.
def _interest(obj):
    mask = _READ if obj.readable() and not getattr(obj, "_reading_paused", False) else 0
    if obj.writable() and not obj.accepting:
        mask |= POLLOUT
    return mask


class _Poller:
    def __init__(self, map):
        self.map = map
        self.os = _port.Poller()
        self.masks = {}  # key -> mask registered with the OS poller (0: not registered)
        self.watch = {}  # key -> channel whose readable()/writable() are asked every pass
        self.fresh = []  # keys whose channel's interest is not known yet
        self.dropped = []  # keys to take out of watch once its pass is over
        self.asking = False
        self.stale = set()  # keys closed while this pass's events are delivered: the rest are not theirs
        self.dispatching = False
        self.paused = {}  # key -> Timer that resumes an exhausted listener
        self.timers = []  # Timer objects, latest first
        self.joined = 0  # channels that joined since garbage was last collected

    # A channel joined the map, or its interest changed outside readable()/writable().
    def add(self, key):
        if key not in self.masks:
            self.masks[key] = 0
            self.joined += 1
        self.fresh.append(key)

    # A channel left the map.
    def remove(self, key):
        if self.masks.pop(key, 0):
            self.os.unregister(key)
        if self.dispatching:
            self.stale.add(key)
        if key in self.watch:
            if self.asking:
                self.watch[key] = None
                self.dropped.append(key)
            else:
                del self.watch[key]
        if key in self.paused:
            t = self.paused.pop(key)
            if t is not None:
                t.cancel()

    # Register mask for key with the OS poller, if it differs from what is there.
    def _set(self, key, mask):
        if mask != self.masks.get(key, 0):
            _os_set(self, key, mask)

    # Ask a channel for its interest and register it. What the OS poller raises is this channel's
    # (through _io: no `try` here, which runs for every watched channel every pass).
    def _ask(self, key, obj):
        mask = 0 if key in self.paused else _interest(obj)
        if mask != self.masks.get(key, 0):
            failed = _io(_os_set, self, key, mask)
            if failed is not None:
                self._refused(obj, failed)

    # The OS poller refused obj's registration: out of memory closes it (a listener rests instead), a
    # dead socket (closed behind the channel's back) closes it as a hang-up does, the rest goes to its
    # handle_error(). Never out of the loop: the other channels are not at fault.
    def _refused(self, obj, e):
        if isinstance(e, _reraised_exceptions):
            raise e
        if not isinstance(e, MemoryError):
            _event_error(obj, e)
            return
        _port.collect()
        if getattr(obj, "accepting", False):
            self.pause(obj, ACCEPT_BACKOFF)  # a listener is never given up: it rests and tries again
            return
        obj.log_info("out of memory registering %r: closing it" % (obj,), "error")
        obj.close()

    # Resync a map edited by hand between two calls of the loop, even to the same size (once per
    # loop()/poll() call, not per pass: it costs a lookup per channel).
    def check(self):
        masks = self.masks
        if len(self.map) != len(masks):
            return  # the pass resyncs it
        for key in self.map:
            if key not in masks:
                self._sync()
                return

    # Bring registrations in line with a map that was changed by hand.
    def _sync(self):
        map = self.map
        for key in list(self.masks):
            if key not in map:
                self.remove(key)
        for key, obj in map.items():
            if key not in self.masks:
                self.add(key)

    # Refresh interest: every watched channel, then the new ones (run_once calls it when there are any).
    def _refresh(self):
        map = self.map
        if len(map) != len(self.masks):
            self._sync()
        watch = self.watch
        if watch:
            self.asking = True
            try:
                for key in watch:
                    if watch[key] is not None:
                        obj = map.get(key)  # the map's, in case a program swapped it by hand
                        if obj is not None:
                            self._ask(key, obj)
            finally:
                self.asking = False
            dropped = self.dropped
            while dropped:
                key = dropped.pop()
                if watch.get(key, 1) is None:
                    del watch[key]
        fresh = self.fresh
        while fresh:
            key = fresh.pop()
            obj = map.get(key)
            if obj is None:
                continue
            self._ask(key, obj)
            if map.get(key) is obj and _asks_every_pass(obj):  # not one that asking closed
                watch[key] = obj

    # One pass: refresh interest, wait for I/O or the next timer, deliver events, run due timers.
    def run_once(self, ms):
        joined = self.joined
        if joined >= COLLECT_AFTER and joined >= len(self.masks) >> 4:
            self.joined = 0
            _port.collect()
        if self.fresh or self.watch or len(self.map) != len(self.masks):
            self._refresh()
        timers = self.timers
        if timers:
            due = _port.ticks_diff(timers[-1].when, _port.ticks_ms())
            if due < 0:
                due = 0
            if ms < 0 or due < ms:
                ms = due
        stale = self.stale
        if stale:
            stale.clear()  # left by a pass that an exception ended
        map = self.map
        events = iter(self.os.wait(ms))
        obj = None
        self.dispatching = True
        while True:
            # one try for the pass, not one per event (readwrite's, inline); after a failure the
            # same iterator goes on with the next event
            try:
                for key, flags in events:
                    if stale and key in stale:
                        continue  # its channel closed in this pass; the key may belong to a new one
                    obj = map.get(key)
                    if obj is not None:
                        _dispatch(obj, flags)
                break
            except _reraised_exceptions:
                raise
            except Exception as e:
                _event_error(obj, e)
        self.dispatching = False
        if stale:
            stale.clear()
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
            if t.interval is None:
                t.poller = None
            else:
                t.when = _port.ticks_add(t.when, t.interval)
                if _port.ticks_diff(t.when, now) <= 0:
                    t.when = _port.ticks_add(now, t.interval)
                self.insert(t)
            try:
                t.fn(*t.args)
            except _reraised_exceptions:
                raise
            except Exception as e:
                _timer_error(t, e)

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

    # Stop polling a listener, for `seconds` or (None) until resume(); it stays in the map.
    def pause(self, obj, seconds):
        key = obj._fileno
        if key is None or key in self.paused:
            return
        self.paused[key] = None if seconds is None else call_later(seconds, self.resume, obj, map=self.map)
        self._set(key, 0)

    def resume(self, obj):
        key = obj._fileno
        if key in self.paused:
            t = self.paused.pop(key)
            if t is not None:
                t.cancel()
            if self.map.get(key) is obj:
                self.fresh.append(key)


# Whether obj's socket no longer answers to key, its key in a map: closed (or detached) behind its back.
def _socket_gone(obj, key):
    sock = getattr(obj, "socket", None)
    return sock is not None and _port.key(sock) != key


# Whether a channel's readable()/writable() can change unannounced, so must be asked every pass.
def _asks_every_pass(obj):
    if getattr(obj, "reports_interest", False):
        return False
    cls = type(obj)
    return getattr(cls, "readable", None) not in _SELF_REPORTING or getattr(cls, "writable", None) not in _SELF_REPORTING


def _timer_error(timer, exc):
    print("error: uncaptured python exception in timer %r (%s:%s %s)" % (timer, type(exc), exc, _tb_info(_port.tb_entries(exc))))


##### timers


class Timer:
    # A call at a tick in the loop's clock; periodic when interval (ms) is set.
    def __init__(self, when, interval, fn, args):
        self.when = when
        self.interval = interval
        self.fn = fn
        self.args = args
        self.poller = None

    # Whether the call is still to come.
    def active(self):
        return self.poller is not None

    def cancel(self):
        p = self.poller
        if p is not None:
            self.poller = None
            try:
                p.timers.remove(self)
            except ValueError:
                pass

    def __repr__(self):
        return "<Timer %r at tick %d>" % (self.fn, self.when)


# The loop's clock, in milliseconds (wraps on MicroPython: compare with ticks_diff); read at call
# time, so a clock put in the adapter's place (tests do) is the loop's too.
def ticks():
    return _port.ticks_ms()


ticks_diff = _port.ticks_diff
ticks_add = _port.ticks_add


def _ms(seconds):
    if seconds < 0:
        raise ValueError("negative delay")
    return int(seconds * 1000)


def _schedule(when, interval, fn, args, map):
    if not callable(fn):
        raise TypeError("timer callback must be callable")
    t = Timer(when, interval, fn, args)
    _poller(socket_map if map is None else map).insert(t)
    return t


# Call fn(*args) at tick `when` (a value of ticks() plus milliseconds).
def call_at(when, fn, *args, map=None):
    return _schedule(when, None, fn, args, map)


# Call fn(*args) once, `delay` seconds from now.
def call_later(delay, fn, *args, map=None):
    return _schedule(_port.ticks_add(_port.ticks_ms(), _ms(delay)), None, fn, args, map)


# Call fn(*args) every `interval` seconds, the first time one interval from now.
def call_every(interval, fn, *args, map=None):
    ms = _ms(interval)
    if ms <= 0:
        raise ValueError("interval must be at least 1 ms")
    return _schedule(_port.ticks_add(_port.ticks_ms(), ms), ms, fn, args, map)


##### the loop


def _timeout_ms(timeout):
    if timeout is None or timeout < 0:
        return -1
    return int(timeout * 1000)


# One pass over map (asyncore's poll; use_poll does not matter, both use the same poller).
def poll(timeout=0.0, map=None):
    if map is None:
        map = socket_map
    p = _poller(map)
    p.check()
    p.run_once(_timeout_ms(timeout))


poll2 = poll
poll3 = poll


# Serve map until it has no channels and no timers left, or for count passes.
def loop(timeout=30.0, use_poll=False, map=None, count=None):
    if map is None:
        map = socket_map
    ms = _timeout_ms(timeout)
    p = _poller(map)
    if _io_call[1] is not None:
        _io_reset()
    p.check()
    try:
        if count is None:
            while map or p.timers:
                p.run_once(ms)
                p = _poller(map)
        else:
            while (map or p.timers) and count > 0:
                p.run_once(ms)
                p = _poller(map)
                count -= 1
    finally:
        if _io_call[1] is not None:
            _io_reset()
        _release(map)


##### dispatcher


class dispatcher:
    debug = False
    connected = False
    accepting = False
    connecting = False
    closing = False
    addr = None
    ignore_log_types = frozenset({"warning"})
    max_connections = _port.MAX_CONNECTIONS  # a listener's budget of open accepted channels (None: no limit)
    connect_timeout = None  # seconds a connect() may take before handle_error gets ETIMEDOUT
    idle_timeout = None  # seconds without a byte in or out before handle_idle(); None: never
    out_high = _port.OUT_HIGH  # queued output (bytes) at which pause_writing() is called
    out_low = _port.OUT_LOW  # ... and at or under which resume_writing() is called after it
    reports_interest = False  # True: the class calls interest_changed() whenever readable()/writable() may change
    _reading_paused = False
    _output_full = False
    _idle_timer = None
    _last_io = 0
    _owner = None  # the listener that accepted this channel's socket
    open_connections = 0  # a listener's accepted channels still open (read it, do not set it)
    clients_waiting = False  # a listener at its budget has a client waiting for a slot (read it)
    _connect_timer = None

    def __init__(self, sock=None, map=None):
        self._map = socket_map if map is None else map
        self._fileno = None
        owner = _accepting[0]
        if sock and owner is not None:
            self._owner = owner
            owner.open_connections += 1
            _accepting[1] = self  # closed with its connection if handle_accept() fails after this
        if sock:
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
                if err.args[0] in (ENOTCONN, EINVAL):
                    self.connected = False  # a socket that is not connected yet
                else:
                    self._forget()
                    self.del_channel(map)
                    raise
        else:
            self.socket = None

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
            # its socket was closed behind its back and the OS gave the number to ours: it hangs up
            # now (the poller forgot its socket), so the key is registered afresh for this channel
            _deliver(old, old.handle_close)
            if map.get(self._fileno) is old:
                old.del_channel(map)
        map[self._fileno] = self
        _poller(map).add(self._fileno)
        if self.idle_timeout is not None and self._idle_timer is None:
            self.set_idle_timeout(self.idle_timeout)

    def del_channel(self, map=None):
        key = self._fileno
        if map is None:
            map = self._map
        if key in map:
            del map[key]
            _poller(map).remove(key)
        self._fileno = None

    def create_socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM):
        self.family_and_type = family, type
        sock = socket.socket(family, type)
        sock.setblocking(False)
        self.set_socket(sock)

    def set_socket(self, sock, map=None):
        self.socket = sock
        self._fileno = _port.key(sock)
        self.add_channel(map)

    def set_reuse_addr(self):
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except OSError:
            pass

    ##### predicates: what the loop asks each pass

    def readable(self):
        return True

    def writable(self):
        return True

    ##### socket methods

    def listen(self, num):
        self.accepting = True
        self._stop_idle_timer()  # a listener is never idle
        self.interest_changed()  # listeners are never polled for writing
        return self.socket.listen(num)

    def bind(self, addr):
        self.addr = addr
        return self.socket.bind(_port.sockaddr(addr))

    def connect(self, address):
        self.connected = False
        self.connecting = True
        err = _port.connect_ex(self.socket, _port.sockaddr(address))
        if err in (EINPROGRESS, EALREADY, EWOULDBLOCK):
            self.addr = address
            if self.connect_timeout is not None:
                self._connect_timer = call_later(self.connect_timeout, self._connect_expired, map=self._map)
            return
        if err in (0, EISCONN):
            self.addr = address
            self.handle_connect_event()
        else:
            raise OSError(err, _strerror(err))

    # (socket, address) or None when nothing is waiting; a full descriptor table pauses accepting.
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
                self.log_info("accept: %s; pausing for %ss" % (_strerror(err), ACCEPT_BACKOFF), "warning")
                _poller(self._map).pause(self, ACCEPT_BACKOFF)
                return None
            self._accepted = _accepting[1] = None  # the listener's own socket failed, not a connection
            raise
        self._accepted = conn
        return conn, _port.peer_address(addr)

    def send(self, data):
        sent = _io(_send, self.socket, data, 0)
        if sent.__class__ is not int:
            return self._io_failed(sent, 0)
        if sent and self._idle_timer is not None:
            self._last_io = _port.ticks_ms()
        return sent

    # send() of buffer[:n] without slicing it: on MicroPython such a send allocates nothing.
    def send_from(self, buffer, n):
        sent = _io(_port.send_part, self.socket, buffer, n)
        if sent.__class__ is not int:
            return self._io_failed(sent, 0)
        if sent and self._idle_timer is not None:
            self._last_io = _port.ticks_ms()
        return sent

    def recv(self, buffer_size):
        data = _io(_recv, self.socket, buffer_size, 0)
        if data is None or isinstance(data, BaseException):
            return self._io_failed(data, b"")
        if not data:
            self.handle_close()  # the peer closed its side
        elif self._idle_timer is not None:
            self._last_io = _port.ticks_ms()
        return data

    # recv() into a buffer the caller owns (a bytearray or memoryview): the number of bytes, 0 once
    # the peer has closed. On MicroPython a read then allocates nothing.
    def recv_into(self, buffer):
        n = _io(_port.recv_into, self.socket, buffer, 0)  # 0: as many bytes as it holds
        if n.__class__ is not int:
            return self._io_failed(n, 0)
        if not n:
            self.handle_close()
        elif self._idle_timer is not None:
            self._last_io = _port.ticks_ms()
        return n

    # What a send or read gave that is not a count (or data): None or an errno saying nothing moved
    # yet (no room, or a spurious wake-up; MicroPython's TLS sockets say it with None), the peer gone
    # (closed), an exception to raise, or anything else, returned as the socket gave it.
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
                if why.args[0] not in (ENOTCONN, EBADF):
                    raise

    # Let go of the timers and of the listener's count: the channel is ending.
    def _forget(self):
        self._stop_connect_timer()
        self._stop_idle_timer()
        owner = self._owner
        if owner is not None:
            self._owner = None
            owner.open_connections -= 1
            if owner.clients_waiting:
                owner.clients_waiting = False  # the slot is the waiting client's
            if owner._fileno is not None:
                _poller(owner._map).resume(owner)  # back under its budget

    def _stop_connect_timer(self):
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def _connect_expired(self):
        self._connect_timer = None
        if self.connecting:
            try:
                raise OSError(_port.ETIMEDOUT, _strerror(_port.ETIMEDOUT))  # raised: a traceback to report
            except OSError as e:
                _error(self, e)

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
        elif queued >= self.out_high:
            self._output_full = True
            self.pause_writing()

    # Close the channel after `seconds` without a byte in or out (None: never).
    def set_idle_timeout(self, seconds):
        self.idle_timeout = seconds
        self._stop_idle_timer()
        if seconds is not None and self._fileno is not None:
            self._last_io = _port.ticks_ms()
            self._idle_timer = call_at(_port.ticks_add(self._last_io, _ms(seconds)), self._idle_check, map=self._map)

    def _stop_idle_timer(self):
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    # The idle timer fired: close if nothing moved since, else wait for the rest.
    def _idle_check(self):
        due = _port.ticks_add(self._last_io, _ms(self.idle_timeout))
        if _port.ticks_diff(due, _port.ticks_ms()) <= 0:
            self._idle_timer = None
            self.handle_idle()
        else:
            self._idle_timer = call_at(due, self._idle_check, map=self._map)

    # Tell the poller to ask this channel's readable()/writable() again at the next pass.
    def interest_changed(self):
        if self._fileno is not None and self._map.get(self._fileno) is self:
            _poller(self._map).add(self._fileno)

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
        elif not self.connected:
            if self.connecting:
                self.handle_connect_event()
            self.handle_read()
        else:
            self.handle_read()

    # Take every waiting connection, up to ACCEPT_BURST, not just one per pass. A client that comes
    # while the listener is at its budget waits: the listener rests until a channel of its closes.
    def handle_accept_event(self):
        budget = self.max_connections
        if budget is not None and self.open_connections >= budget:
            self.clients_waiting = True
            _poller(self._map).pause(self, None)
            return
        if self.clients_waiting:
            self.clients_waiting = False
        n = ACCEPT_BURST
        while n:
            if budget is not None and self.open_connections >= budget:
                break  # still polled: the next event says whether a client is kept waiting
            n -= 1
            self._accepted = None
            _accepting[0] = self
            try:
                self.handle_accept()
            except MemoryError:
                _port.collect()
                self._drop_accepted()
                self.log_info("out of memory taking a connection: refused it, pausing", "warning")
                _poller(self._map).pause(self, ACCEPT_BACKOFF)  # rest a while; the listener stays
                break
            except _reraised_exceptions:
                raise
            except Exception as e:
                if self._accepted is None and _accepting[1] is None:
                    raise  # accept() itself failed: the listener's own error, routed as ever
                # the connection's set-up failed (a client gone before its handler asked getpeername(),
                # a constructor's bug): that connection is refused, the listener goes on
                self._drop_accepted()
                _error(self, e, True)
            finally:
                _accepting[0] = _accepting[1] = None
            if self._accepted is None or not self.accepting:
                break

    # Close a connection that failed while being taken, and the channel made of it, even half-made:
    # it leaves the map and the poller and gives its listener slot back.
    def _drop_accepted(self):
        conn = self._accepted
        made = _accepting[1]
        _accepting[1] = None
        if made is not None:
            try:
                made.close()  # the program's close() first: it may hold more than the socket
            except Exception:  # noqa: BLE001  (a half-made channel may lack what its close() uses)
                pass
            made._forget()  # what close() would have done, if it failed before: nothing once it ran
            made.del_channel()
        if conn is not None:
            conn.close()

    def handle_connect_event(self):
        self._stop_connect_timer()
        err = _port.sock_error(self.socket)
        if err != 0:
            raise OSError(err, _strerror(err))
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
        nil, t, v, tbinfo = compact_traceback()
        try:
            self_repr = repr(self)
        except Exception:
            self_repr = "<__repr__(self) failed for object at %0x>" % id(self)
        self.log_info("uncaptured python exception, closing channel %s (%s:%s %s)" % (self_repr, t, v, tbinfo), "error")
        self.handle_close()

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

    # Taking a connection failed in handle_accept()/handle_accepted(): the connection and any channel
    # made of it are closed already, the listener goes on; handled_error() is the exception. A client
    # gone before it was served is routine (port scans): a warning, which log_info hides by default.
    def handle_accept_error(self):
        e = handled_error()
        if isinstance(e, OSError) and e.args and e.args[0] in _DISCONNECTED:
            self.log_info("client gone: %r" % (e,), "warning")
        else:
            self.log_info("refused a connection: %s:%s %s" % compact_traceback()[1:], "error")

    def handle_close(self):
        self.log_info("unhandled close event", "warning")
        self.close()

    def handle_idle(self):
        self.close()


class dispatcher_with_send(dispatcher):
    # A dispatcher whose send() queues what the socket cannot take yet. An empty queue is the class's
    # own attributes: an idle channel holds none of its own (out_buffer reads b"").
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
        was = self._queued
        self._chunks = [bytes(data)] if data else []
        self._head = 0
        self._queued = len(data)
        self._queue_changed(was)

    def _queue_changed(self, was):
        if bool(was) != bool(self._queued):
            self.interest_changed()
        self._output_level(self._queued)

    # Send what the socket takes of the queue's first piece, without copying it (asyncore sliced
    # 64 KiB off a bytes each time; a memoryview costs nothing, so there is no cap).
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
            was = self._queued
            self._queued = was - sent
            self._queue_changed(was)

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
        was = self._queued
        self._queued = was + len(data)
        self._queue_changed(was)


# Predicates whose answers change only where the core tells the poller (interest_changed).
_SELF_REPORTING = [dispatcher.readable, dispatcher.writable, dispatcher_with_send.writable]


##### tracebacks and shutdown


def _tb_info(entries):
    return " ".join(["[%s|%s|%s]" % e for e in entries])


# ((file, function, line), type, value, "[file|function|line] ...") of the exception being handled:
# sys.exc_info()'s where it exists, else (boards) the one handed to handle_error().
def compact_traceback():
    v = sys.exc_info()[1] if hasattr(sys, "exc_info") else None
    if v is None:
        v = _handling[0]
    entries = _port.tb_entries(v) if v is not None else None
    if not entries:
        raise AssertionError("traceback does not exist")
    return entries[-1], type(v), v, _tb_info(entries)


# Close every channel in map and cancel its timers.
def close_all(map=None, ignore_all=False):
    if map is None:
        map = socket_map
    for x in list(map.values()):
        try:
            x.close()
        except OSError as x:
            if x.args[0] != EBADF and not ignore_all:
                raise
        except _reraised_exceptions:
            raise
        except Exception:
            if not ignore_all:
                raise
    map.clear()
    p = _find(map)
    if p is not None:
        for t in list(p.timers):
            t.cancel()
        _release(map)


##### files as channels, where the port can wrap a file descriptor

if hasattr(_port, "file_wrapper"):
    file_wrapper = _port.file_wrapper

    class file_dispatcher(dispatcher):
        def __init__(self, fd, map=None):
            dispatcher.__init__(self, None, map)
            self.connected = True
            try:
                fd = fd.fileno()
            except AttributeError:
                pass
            self.set_file(fd)
            self.socket.setblocking(False)

        def set_file(self, fd):
            self.socket = file_wrapper(fd)
            self._fileno = self.socket.fileno()
            self.add_channel()
