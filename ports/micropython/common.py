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

FRAMES_ON_HEAP = True  # a function with an `except ... as` gets its frame from the heap: socket calls run in a generator's (see uasyncore._io)

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
