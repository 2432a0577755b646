# Shared by every MicroPython adapter (unix, esp32, rp2): tools/ports.py assembles each port's
# uasyncore_port.py from its own part, the lwIP boards' part (lwip.py) and this one.
import gc
import io
import select
import socket
import sys
import time

##### poll flags: MicroPython has no POLLPRI (out-of-band data) and no POLLNVAL name; a socket
##### closed while registered polls as 32

POLLIN = select.POLLIN
POLLPRI = 0
POLLOUT = select.POLLOUT
POLLERR = select.POLLERR
POLLHUP = select.POLLHUP
POLLNVAL = 32

collect = gc.collect


# The channel map's key for a socket: poll reports the socket object itself.
def key(sock):
    return sock


# The connected peer's address: MicroPython has no getpeername, so None.
def peername(sock):
    return None


# send() of buf[:n] without slicing it (the stream's write(buf, n)): the count sent.
def send_part(sock, buf, n):
    sent = sock.write(buf, n)  # None when the socket takes nothing now
    if sent is None:
        raise OSError(EAGAIN, "EAGAIN")
    return sent


# connect() without raising: 0 or an errno.
def connect_ex(sock, addr):
    try:
        sock.connect(addr)
    except OSError as err:
        return err.args[0]
    return 0


# Text for an errno.
def strerror(err):
    return errorcode.get(err) or "Unknown error %s" % err


##### datagrams (uasyncore_dgram): multicast options at the IPPROTO_IP level, None where the port has none

IPPROTO_IP = 0  # lwIP's and Linux's; the unix port's socket module lacks the name
IP_ADD_MEMBERSHIP = getattr(socket, "IP_ADD_MEMBERSHIP", None)
IP_DROP_MEMBERSHIP = getattr(socket, "IP_DROP_MEMBERSHIP", None)
SO_BROADCAST = getattr(socket, "SO_BROADCAST", 32)  # lwIP's number, where the firmware's module lacks the name


##### socket calls that may fail, without a heap frame each

# io_call(fn, a, b, c) returns fn(a, b, c), or the exception it raised. MicroPython gives a function
# that holds an `except ... as` its frame from the heap at every call, and with hundreds of
# connections open that search of the heap took microseconds for every send and recv: so the call
# runs in the frame of one generator, made once.
_call = [None, None, None, None, None]  # fn, a, b, c while a call runs; its result after
_RESULT = 4


def _io_runner(call):
    while True:
        yield
        try:
            call[_RESULT] = call[0](call[1], call[2], call[3])
        except BaseException as e:  # whatever fn raises: this generator has to outlive it
            call[_RESULT] = e


def _io_direct(fn, a, b, c):
    try:
        return fn(a, b, c)
    except BaseException as e:
        return e


def io_call(fn, a, b, c):
    call = _call
    if call[0] is not None:
        return _io_direct(fn, a, b, c)  # a call made from inside one (a socket written in Python)
    call[1] = a
    call[2] = b
    call[3] = c
    call[0] = fn  # the last: a function here says a call is running, or was left half-way
    _runner.send(None)
    result = call[_RESULT]
    call[_RESULT] = call[1] = call[2] = call[3] = None  # hold nothing between calls
    call[0] = None
    return result


# A fresh generator and empty slots.
def _io_start():
    global _runner
    _call[:] = [None] * 5
    _runner = _io_runner(_call)
    next(_runner)


_io_start()


# When a loop starts and ends: a call left half-way (an exception such as Ctrl-C that lands inside
# the generator, outside its try, ends it) needs a new generator.
def io_reset():
    if _call[0] is not None:
        _io_start()


##### clock: MicroPython's wrapping millisecond ticks

ticks_ms = time.ticks_ms
ticks_add = time.ticks_add
ticks_diff = time.ticks_diff


##### tracebacks: MicroPython keeps no frames, so read them off print_exception


# (file, function, line) for each frame of the exception's traceback, innermost last.
def tb_entries(exc):
    out = io.StringIO()
    sys.print_exception(exc, out)
    entries = []
    for line in out.getvalue().split("\n"):
        line = line.strip()
        if line.startswith('File "'):
            file, _, rest = line[6:].partition('", line ')
            lineno, _, function = rest.partition(", in ")
            entries.append((file, function, lineno))
    return entries


##### the poller: what every port's Poller shares (each port's part says how it registers)


class _Poll:
    # One select.poll for the life of a channel map; ipoll allocates nothing per pass.
    def __init__(self):
        self._os = select.poll()

    def unregister(self, sock):
        try:
            self._os.unregister(sock)
        except (OSError, KeyError):
            pass

    # Wait up to ms milliseconds (-1: forever); yields (socket, flags) pairs that ipoll reuses.
    def wait(self, ms):
        return self._os.ipoll(ms)

    def close(self):
        pass
