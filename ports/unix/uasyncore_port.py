# uasyncore_port for the MicroPython unix port: the socket, poll, clock and traceback facts the core needs.
#
# Assembled by tools/ports.py from ports/micropython/common.py, ports/micropython/unix.py: edit those, then `make ports`.
import errno
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


##### errno numbers: Linux's, for the names MicroPython's errno module lacks

EAGAIN = errno.EAGAIN
EWOULDBLOCK = EAGAIN
EINPROGRESS = errno.EINPROGRESS
EALREADY = errno.EALREADY
EISCONN = 106
EINVAL = errno.EINVAL
EBADF = errno.EBADF
EPIPE = 32
ECONNRESET = errno.ECONNRESET
ECONNABORTED = errno.ECONNABORTED
ECONNREFUSED = errno.ECONNREFUSED
ENOTCONN = errno.ENOTCONN
ESHUTDOWN = 108
EMFILE = 24
ENFILE = 23
ENOBUFS = errno.ENOBUFS
ENOMEM = errno.ENOMEM
ETIMEDOUT = errno.ETIMEDOUT
EMSGSIZE = 90
errorcode = dict(errno.errorcode)  # and the names MicroPython's table lacks, for strerror()
errorcode.update({EISCONN: "EISCONN", EPIPE: "EPIPE", ESHUTDOWN: "ESHUTDOWN", EMFILE: "EMFILE", ENFILE: "ENFILE", EMSGSIZE: "EMSGSIZE"})

MAX_CONNECTIONS = None  # the unix port is a host runtime, like CPython: no cap (boards set theirs)
LISTEN_BACKLOG = None  # nor on what listen() asks for
OUT_HIGH = 16384  # queued output per channel at which writers are told to pause (a board-like budget on the unix port)
OUT_LOW = 4096  # ... and resume
TLS_HANDSHAKE_TIMEOUT = 10.0  # seconds a TLS handshake may take (uasyncore_tls)
# A TLS listener's default budget: none. Where mbedTLS allocates from the GC heap (a board-like build)
# uasyncore_tls refuses a connection that would not fit; the PyPI build gives mbedTLS the C heap.
TLS_MAX_CONNECTIONS = None
# The slot policy's defaults (uasyncore_slots), for a listener at its budget with a client waiting.
# A host's clients are on loopback or a LAN: a connection that has sent nothing of its request 0.1 s
# after the policy first saw it is taken first.
SLOT_GRACE = 0.1  # seconds a phase (a request's head, a line), or a connection first seen, is not judged
SLOT_MIN_RATE = 500  # bytes per second a phase past its grace must average (Apache's MinRate)
SLOT_IDLE = 1  # seconds a session must have been idle before its slot may be taken (a live user keeps it)
# Bytes a recv() asks for: 64 KiB as on CPython with the unix port's default 2 MB heap (a host
# runtime), 4 KiB with a board-sized one such as -X heapsize=128K (room for many connections).
RECV_SIZE = 65536 if gc.mem_free() + gc.mem_alloc() >= 1536 * 1024 else 4096


# An address as the socket methods take it: the unix port wants a packed sockaddr.
def sockaddr(addr):
    if isinstance(addr, tuple):
        return socket.getaddrinfo(addr[0] or "0.0.0.0", addr[1])[0][-1]  # "" (any): getaddrinfo refuses it
    return addr


# An address as accept() gave it (a packed sockaddr), as (host, port).
def peer_address(addr):
    if not isinstance(addr, (bytes, bytearray)):
        return addr  # already decoded (or none at all)
    family, ip, port = socket.sockaddr(addr)[:3]  # IPv6 adds the flow info and scope id
    return (socket.inet_ntop(family, ip), port)


# recv() of at most n bytes (0: as many as it holds) into a buffer the caller owns, so a read
# allocates nothing: the count, 0 at end of stream. The stream's readinto() reads again until the
# buffer is full, and when that read raises (the peer reset after sending) it drops the bytes it had
# copied (py/stream.c): use recv_into_once() where a reset is known to be waiting.
def recv_into(sock, buf, n):
    got = sock.readinto(buf, n) if n else sock.readinto(buf)  # None when nothing is waiting
    if got is None:
        raise OSError(EAGAIN, "EAGAIN")
    return got


# recv_into() with one recv() call, which hands over the bytes that came before a reset and raises
# at the next call; it allocates what it reads. buf: a bytearray or a memoryview of one.
def recv_into_once(sock, buf, n):
    data = sock.recv(n or len(buf))
    got = len(data)
    buf[:got] = data
    return got


# The socket's pending error: no SO_ERROR here, but an empty send reports it (once).
def sock_error(sock):
    try:
        sock.send(b"")
    except OSError as err:
        return 0 if err.errno == EAGAIN else err.errno
    return 0


##### datagrams and name resolution (uasyncore_dgram, uasyncore_dns)


# sendto() of data to addr (a packed sockaddr, from sockaddr()): the count; OSError(EAGAIN) when it would block.
def sendto(sock, data, addr):
    return sock.sendto(data, addr)


EMPTY_DATAGRAM_CLOSES = False  # an empty datagram is read as one, and the socket reads on
SEND_WOULDBLOCK = (EAGAIN,)  # what a datagram send that would block raises
EMPTY_SEND_RAISES = False  # an empty datagram's send says what it did
IP_MULTICAST_IF = 32  # Linux's numbers: the socket module has no names for them
IP_MULTICAST_TTL = 33
HOSTS_FILE = "/etc/hosts"  # names answered without a query
RESOLV_CONF = "/etc/resolv.conf"  # the DNS servers the host uses


##### the poller

RESERVE = 128  # bytes the poller holds back for completing a registration that ran out of memory


class Poller(_Poll):
    # This port's select.poll keeps a socket's events in an array of pollfds and an object without a
    # descriptor (an SSL object) beside it; when a new socket finds the array full and it moves to a new
    # allocation, the fd-less objects' NULL is moved with the others into a wild pointer, and the next
    # poll writes through it (MicroPython 1.29, extmod/modselect.c poll_set_add_fd: heap corruption, a
    # segfault). So while such objects are registered, they step out around a socket's registration.
    def __init__(self):
        _Poll.__init__(self)
        self._reserve = bytearray(RESERVE)  # memory to give back when a registration must be completed
        self._scratch = None  # a select.poll that tries objects other than sockets first
        self._fdless = None  # object -> mask of the registered objects without a descriptor

    # A MemoryError inside register() can leave a half-made entry (the key in, no poll object), on
    # which ipoll(), modify() and unregister() all crash. Registering again completes it; a reserve
    # freed for the last try makes room for that. Only when even that fails was the key never added
    # (growing the table failed first), so there is nothing to undo.
    def register(self, sock, mask):
        fdless = self._fdless
        if type(sock) is not socket.socket:
            self._try(sock)
            if not hasattr(sock, "fileno"):
                fdless = None  # its registration moves nothing
        elif sock.fileno() < 0:
            raise OSError(EBADF, "EBADF")  # closed: poll would take it and never report it
        if fdless:
            self._fdless = None
            for obj in fdless:
                self._os.unregister(obj)
        room = True
        tries = 3
        try:
            while True:
                try:
                    self._os.register(sock, mask)
                    break
                except MemoryError:
                    room = False
                    tries -= 1
                    if not tries:
                        raise
                    if tries == 1:
                        self._reserve = None  # the last resort: room for the poll object
                    gc.collect()
        finally:
            if fdless:  # back in, each as it was
                for obj in fdless:
                    self.register(obj, fdless[obj])
        if not hasattr(sock, "fileno"):
            if self._fdless is None:
                self._fdless = {}
            self._fdless[sock] = mask
        if room and self._reserve is None:
            try:
                self._reserve = bytearray(RESERVE)
            except MemoryError:
                pass

    # Raise what register() raises for an object that is not a stream, on a scratch poll: that leaves
    # a half-made entry too, which nothing can remove, so only the scratch may get it (and is dropped).
    def _try(self, obj):
        scratch = self._scratch or select.poll()
        self._scratch = None
        scratch.register(obj, 0)
        scratch.unregister(obj)
        self._scratch = scratch

    def modify(self, sock, mask):
        self._os.modify(sock, mask)
        fdless = self._fdless
        if fdless and sock in fdless:
            fdless[sock] = mask

    def unregister(self, sock):
        _Poll.unregister(self, sock)
        fdless = self._fdless
        if fdless and sock in fdless:
            del fdless[sock]
            if not fdless:
                self._fdless = None  # an empty dict keeps its table
