# uasyncore_port for Raspberry Pi Pico W (MicroPython's rp2 port, lwIP raw API in extmod/modlwip.c).
#
# connect() looks host names up without blocking (uasyncore_dns); sockaddr() still looks a name up with the
# firmware's getaddrinfo, which blocks on DNS (bind() with a name, uasyncore_dns.BLOCKING).
#
# Assembled by tools/ports.py from ports/micropython/common.py, ports/micropython/rp2.py, ports/micropython/lwip.py: edit those, then `make ports`.
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


##### errno numbers: MicroPython's own (py/mperrno.h, Linux's numbers), which OSError carries here:
##### MICROPY_USE_INTERNAL_ERRNO is 1 in ports/rp2/mpconfigport.h (ESP32 uses newlib's instead)

EAGAIN = 11
EWOULDBLOCK = EAGAIN
EINPROGRESS = 115
EALREADY = 114
EISCONN = 106
EINVAL = 22
EBADF = 9
EPIPE = 32
ECONNRESET = 104
ECONNABORTED = 103
ECONNREFUSED = 111
ENOTCONN = 107
ESHUTDOWN = 108  # not in MicroPython's table, so never raised here; Linux's number
EMFILE = 24
ENFILE = 23
ENOBUFS = 105
ENOMEM = 12
ETIMEDOUT = 110
EHOSTUNREACH = 113
EADDRINUSE = 98
EMSGSIZE = 90  # not in MicroPython's table either; Linux's number

##### budget and memory

# lwIP here has 5 TCP PCBs (MEMP_NUM_TCP_PCB, lwIP's default; a listener moves to a pool of its own at
# listen()). Every connection holds one from its SYN on: accepted ones, those waiting in the listener's
# accept queue (modlwip.c keeps max(backlog, 1) of them, and lwIP resets the client of a handshake that
# finds it full) and the program's own clients (MQTT, HTTP; NTP is UDP). So: 3 accepted + 1 waiting +
# 1 left for the program's own client = 5. A handshake under way holds one too (lwIP lets `backlog` of
# them run): while a client already waits, the next one's handshake borrows the spare for a round trip.
MAX_CONNECTIONS = 3
LISTEN_BACKLOG = 1  # the largest backlog a listen() should use here: each waiting client holds a PCB
# TLS (uasyncore_tls): no crypto hardware, so a handshake takes seconds (more with an RSA key);
# mbedTLS allocates from the GC heap (about 23 KB a connection, measured on the board-like build),
# which uasyncore_tls checks before it takes a connection. 2 per TLS listener leaves a connection (and
# its heap) for the program's own TLS client (MQTT over TLS, say): 3 PCBs, see MAX_CONNECTIONS.
TLS_HANDSHAKE_TIMEOUT = 30.0
TLS_MAX_CONNECTIONS = 2
OUT_HIGH = 4096  # queued output per channel at which writers are told to pause (a few KB per connection on a ~200 KB heap shared with lwIP)
OUT_LOW = 1024  # ... and resume
RECV_SIZE = 1024  # bytes a recv() asks for (each recv() allocates this much on the heap)


# An address as the socket methods take it: (ip, port); a host name is looked up here, blocking on DNS.
def sockaddr(addr):
    if isinstance(addr, tuple) and not _numeric(addr[0]):
        return socket.getaddrinfo(addr[0], addr[1])[0][-1]
    return addr


# A connecting socket's error, 0 when none: an empty send() raises a failed connection's error
# (once; EBADF after that) and sends nothing otherwise.
def sock_error(sock):
    try:
        sock.send(b"")
    except OSError as err:
        return _connect_errno(err.args[0])
    return 0


# sendto() of data to addr: the count. lwIP cuts a datagram over 0xffff bytes without a word, so a
# longer one is refused as CPython refuses it; and lwIP answers ENOMEM while it has no buffer for one
# (poll calls the socket writable all the while): that is a send that would block.
def sendto(sock, data, addr):
    if len(data) > 65507:
        raise OSError(EMSGSIZE, "EMSGSIZE")
    return sock.sendto(data, addr)  # no try: it would cost a heap frame a datagram


SEND_WOULDBLOCK = (EAGAIN, ENOMEM)  # what a datagram send that would block raises
EMPTY_SEND_RAISES = False


EMPTY_DATAGRAM_CLOSES = False  # an empty datagram is read as one (at most 4 wait; more are dropped)


ALWAYS_POLLED = 0  # errors poll as POLLERR or POLLHUP whatever was asked for


errorcode = {
    EAGAIN: "EAGAIN",
    EINPROGRESS: "EINPROGRESS",
    EALREADY: "EALREADY",
    EISCONN: "EISCONN",
    EINVAL: "EINVAL",
    EBADF: "EBADF",
    EPIPE: "EPIPE",
    ECONNRESET: "ECONNRESET",
    ECONNABORTED: "ECONNABORTED",
    ECONNREFUSED: "ECONNREFUSED",
    ENOTCONN: "ENOTCONN",
    ESHUTDOWN: "ESHUTDOWN",
    EMFILE: "EMFILE",
    ENFILE: "ENFILE",
    ENOBUFS: "ENOBUFS",
    ENOMEM: "ENOMEM",
    ETIMEDOUT: "ETIMEDOUT",
    EHOSTUNREACH: "EHOSTUNREACH",
    EADDRINUSE: "EADDRINUSE",
    EMSGSIZE: "EMSGSIZE",
}


# The slot policy's defaults (uasyncore_slots), for a listener at its budget with a client waiting.
# A board's clients are on Wi-Fi (round trips up to ~100 ms) and its loop is slower than a host's.
SLOT_GRACE = 0.5  # seconds a phase (a request's head, a line), or a connection first seen, is not judged
SLOT_MIN_RATE = 500  # bytes per second a phase past its grace must average (Apache's MinRate)
SLOT_IDLE = 1  # seconds a session must have been idle before its slot may be taken (a live user keeps it)


# What a connecting socket's error says: 0 if it only would block; lwIP reports the reset that refuses
# a connect as ECONNRESET.
def _connect_errno(err):
    if err == EAGAIN:
        return 0
    return ECONNREFUSED if err == ECONNRESET else err


# Whether host is "" or a dotted IPv4 address, which the socket methods take without a lookup.
def _numeric(host):
    for c in host:
        if c not in "0123456789.":
            return False
    return True


# An address as accept() gave it: already (ip, port) on these ports.
def peer_address(addr):
    return addr


# recv() of at most n bytes (0: as many as buf holds) into buf, a bytearray or a memoryview of one: the
# count, 0 at end of stream. One recv() call, never readinto(): py/stream.c's readinto() reads again
# until the buffer is full, and when that read raises (the peer reset after sending) it drops the
# bytes already copied; recv() hands them over and raises at the next call. It allocates what it reads.
def recv_into(sock, buf, n):
    data = sock.recv(n or len(buf))  # no try: it would cost a heap frame a read; short of heap, the core closes the channel
    buf[: len(data)] = data
    return len(data)


recv_into_once = recv_into  # a read that keeps the bytes before a reset: recv_into already is one


##### name resolution (uasyncore_dns)

HOSTS_FILE = None  # no hosts file on a board
RESOLV_CONF = None  # nor a resolv.conf: dns_servers() below asks the network interface
IP_MULTICAST_IF = None  # the firmware's setsockopt() takes neither
IP_MULTICAST_TTL = None


# The DNS server the board's network gave it (DHCP, or set with network.ipconfig), [] until it has one.
def dns_servers():
    try:
        import network
    except ImportError:
        return []
    try:
        server = network.ipconfig("dns")  # MicroPython 1.24 and later
    except (AttributeError, OSError, TypeError, ValueError):
        try:
            server = network.WLAN(network.STA_IF).ifconfig()[3]
        except (AttributeError, OSError, TypeError, ValueError, IndexError):
            return []
    return [server] if server and server != "0.0.0.0" else []


##### the poller


class Poller(_Poll):
    # Register a new socket, collecting garbage first so the poller's entry finds room. ALWAYS_POLLED
    # is added to every mask (the board's part says why).
    def register(self, sock, mask):
        collect()
        try:
            self._os.register(sock, mask | ALWAYS_POLLED)
        except Exception:
            # select.poll adds the key before it allocates the entry; a half-made entry crashes a later poll
            self.unregister(sock)
            raise

    def modify(self, sock, mask):
        self._os.modify(sock, mask | ALWAYS_POLLED)
