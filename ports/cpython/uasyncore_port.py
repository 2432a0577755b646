# uasyncore_port for CPython: the socket, poll, clock and traceback facts the core needs.
import errno
import os
import select
import socket
import time
import warnings

##### errno numbers (CPython has them all)

EAGAIN = errno.EAGAIN
EWOULDBLOCK = errno.EWOULDBLOCK
EINPROGRESS = errno.EINPROGRESS
EALREADY = errno.EALREADY
EISCONN = errno.EISCONN
EINVAL = errno.EINVAL
EBADF = errno.EBADF
EPIPE = errno.EPIPE
ECONNRESET = errno.ECONNRESET
ECONNABORTED = errno.ECONNABORTED
ECONNREFUSED = errno.ECONNREFUSED
ENOTCONN = errno.ENOTCONN
ESHUTDOWN = errno.ESHUTDOWN
EMFILE = errno.EMFILE
ENFILE = errno.ENFILE
ENOBUFS = errno.ENOBUFS
ENOMEM = errno.ENOMEM
ETIMEDOUT = errno.ETIMEDOUT
EMSGSIZE = errno.EMSGSIZE
errorcode = errno.errorcode

##### poll flags: select.poll's numbers, which epoll shares

POLLIN = select.POLLIN
POLLPRI = select.POLLPRI
POLLOUT = select.POLLOUT
POLLERR = select.POLLERR
POLLHUP = select.POLLHUP
POLLNVAL = select.POLLNVAL

MAX_CONNECTIONS = None  # a listener's default budget: CPython leaves it to the program
LISTEN_BACKLOG = None  # and what listen() asks for
OUT_HIGH = 65536  # queued output per channel at which writers are told to pause (CPython: room to stream; raise per class for bulk)
OUT_LOW = 16384  # ... and resume
# The slot policy's defaults (uasyncore_slots), for a listener at its budget with a client waiting.
# A host's clients are on loopback or a LAN: a connection that has sent nothing of its request 0.1 s
# after the policy first saw it is taken first.
SLOT_GRACE = 0.1  # seconds a phase (a request's head, a line), or a connection first seen, is not judged
SLOT_MIN_RATE = 500  # bytes per second a phase past its grace must average (Apache's MinRate)
SLOT_IDLE = 1  # seconds a session must have been idle before its slot may be taken (a live user keeps it)
RECV_SIZE = 262144  # bytes a recv() asks for (CPython: big reads, few passes; asyncio reads as much)
TLS_HANDSHAKE_TIMEOUT = 10.0  # seconds a TLS handshake may take (uasyncore_tls): a host's take milliseconds
TLS_MAX_CONNECTIONS = None  # a TLS listener's default budget: left to the program, as for plain ones


# fn(a, b, c), or the exception it raised: a socket call that may fail (CPython's frames cost little
# whatever their code; the MicroPython adapters run it in a generator's frame).
def io_call(fn, a, b, c):
    try:
        return fn(a, b, c)
    except BaseException as e:
        return e


# Nothing left half-way to clear: the MicroPython adapters' io_call() may leave its generator so.
def io_reset():
    pass


# Free memory: CPython's reference counting already did.
def collect():
    pass


# The channel map's key for a socket: what the poller reports.
def key(sock):
    return sock.fileno()


# An address as the socket methods take it.
def sockaddr(addr):
    return addr


# An address as accept() gave it, in the (host, port) form programs expect.
def peer_address(addr):
    return addr


# The connected peer's address; OSError(ENOTCONN) if there is none.
def peername(sock):
    return sock.getpeername()


# recv() of at most n bytes (0: as many as it holds) into a buffer the caller owns: the count, 0 at
# end of stream.
def recv_into(sock, buf, n):
    return sock.recv_into(buf, n)


recv_into_once = recv_into  # one read already: it keeps the bytes that came before a reset


# send() of buf[:n].
def send_part(sock, buf, n):
    return sock.send(memoryview(buf)[:n])


# connect() without raising: 0 or an errno.
def connect_ex(sock, addr):
    err = sock.connect_ex(addr)
    # Windows reports a pending non-blocking connect as EINVAL
    if err == EINVAL and os.name == "nt":
        return EINPROGRESS
    return err


# The socket's pending error (SO_ERROR), 0 when none.
def sock_error(sock):
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


##### datagrams and name resolution (uasyncore_dgram, uasyncore_dns)


# sendto() of data to addr (as sockaddr() gives it): the count; OSError(EAGAIN) when it would block.
def sendto(sock, data, addr):
    return sock.sendto(data, addr)


EMPTY_DATAGRAM_CLOSES = False  # an empty datagram is read as one, and the socket reads on
SEND_WOULDBLOCK = (EAGAIN, EWOULDBLOCK)  # what a datagram send that would block raises
EMPTY_SEND_RAISES = False  # an empty datagram's send says what it did
# multicast socket options (IPPROTO_IP level), None where the port has none
IPPROTO_IP = getattr(socket, "IPPROTO_IP", 0)
IP_ADD_MEMBERSHIP = getattr(socket, "IP_ADD_MEMBERSHIP", None)
IP_DROP_MEMBERSHIP = getattr(socket, "IP_DROP_MEMBERSHIP", None)
IP_MULTICAST_IF = getattr(socket, "IP_MULTICAST_IF", None)
IP_MULTICAST_TTL = getattr(socket, "IP_MULTICAST_TTL", None)
SO_BROADCAST = socket.SO_BROADCAST
HOSTS_FILE = "/etc/hosts"  # names answered without a query (None: the port has no such file)
RESOLV_CONF = "/etc/resolv.conf"  # the DNS servers the host uses (None: the port's dns_servers() says)


# Text for an errno.
def strerror(err):
    try:
        return os.strerror(err)
    except (ValueError, OverflowError):
        return errorcode.get(err) or "Unknown error %s" % err


##### clock: milliseconds that never wrap on CPython


def ticks_ms():
    return time.monotonic_ns() // 1000000


def ticks_add(ticks, delta):
    return ticks + delta


def ticks_diff(a, b):
    return a - b


##### tracebacks


# (file, function, line) for each frame of a traceback, innermost last.
def tb_entries(exc):
    entries = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        entries.append((code.co_filename, code.co_name, str(tb.tb_lineno)))
        tb = tb.tb_next
    return entries


##### the poller: epoll where Linux has it, poll elsewhere

_POLLABLE = (PermissionError,)  # epoll refuses regular files; poll() reports them always ready


# What the poller raises for a socket closed behind the channel's back, as the core reads it.
def _closed():
    return OSError(EBADF, os.strerror(EBADF))


class Poller:
    # One OS poller for the life of a channel map.
    def __init__(self):
        self._epoll = getattr(select, "epoll", None)
        self._os = self._epoll() if self._epoll else select.poll()
        self._files = {}  # fd -> mask for fds epoll will not watch

    def register(self, fd, mask):
        try:
            self._os.register(fd, mask)
        except FileExistsError:
            # a socket closed behind our back left its fd registered
            self._os.modify(fd, mask)
        except _POLLABLE:
            self._files[fd] = mask
        except ValueError:
            raise _closed()  # fd -1: the socket was closed before it was registered

    def modify(self, fd, mask):
        if fd in self._files:
            self._files[fd] = mask
            return
        try:
            self._os.modify(fd, mask)
        except (FileNotFoundError, ValueError):
            raise _closed()  # the poller forgot the fd when its socket was closed behind our back

    def unregister(self, fd):
        if self._files.pop(fd, None) is None:
            try:
                self._os.unregister(fd)
            except (OSError, KeyError, ValueError):
                pass  # the fd was closed first, which unregistered it

    # Wait up to ms milliseconds (-1: forever); returns (key, flags) pairs.
    def wait(self, ms):
        files = self._files
        if files:
            ms = 0
        if self._epoll:
            events = self._os.poll(ms / 1000 if ms >= 0 else -1)
        else:
            events = self._os.poll(ms)
        if files:
            events.extend((fd, mask & (POLLIN | POLLOUT)) for fd, mask in files.items() if mask & (POLLIN | POLLOUT))
        return events

    def close(self):
        if self._epoll:
            self._os.close()


##### files as channels (POSIX)


class file_wrapper:
    # A file descriptor dressed as a socket, for file_dispatcher.
    def __init__(self, fd):
        self.fd = os.dup(fd)

    def __del__(self):
        if self.fd >= 0:
            warnings.warn("unclosed file %r" % self, ResourceWarning, source=self)
        self.close()

    def recv(self, *args):
        return os.read(self.fd, *args)

    def send(self, *args):
        return os.write(self.fd, *args)

    def getsockopt(self, level, optname, buflen=None):
        if level == socket.SOL_SOCKET and optname == socket.SO_ERROR and not buflen:
            return 0
        raise NotImplementedError("file_wrapper only answers getsockopt(SOL_SOCKET, SO_ERROR)")

    read = recv
    write = send

    def close(self):
        if self.fd < 0:
            return
        fd = self.fd
        self.fd = -1
        os.close(fd)

    def fileno(self):
        return self.fd

    def setblocking(self, flag):
        os.set_blocking(self.fd, flag)
