# uasyncore_port for Raspberry Pi Pico W (MicroPython's rp2 port, lwIP raw API in extmod/modlwip.c).
#
# connect() looks host names up without blocking (uasyncore_dns); sockaddr() still looks a name up with the
# firmware's getaddrinfo, which blocks on DNS (bind() with a name, uasyncore_dns.BLOCKING).
import socket

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
