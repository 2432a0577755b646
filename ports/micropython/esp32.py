# uasyncore_port for ESP32 boards (MicroPython's esp32 port, ESP-IDF lwIP sockets): the facts the core needs.
#
# connect() looks host names up without blocking (uasyncore_dns); sockaddr() still looks a name up with the
# firmware's getaddrinfo, which blocks on DNS (bind() with a name, uasyncore_dns.BLOCKING).
import socket
import sys

##### errno numbers: newlib's, which OSError carries here (MICROPY_USE_INTERNAL_ERRNO is 0 on this port)

EAGAIN = 11
EWOULDBLOCK = EAGAIN
EINPROGRESS = 119
EALREADY = 120
EISCONN = 127
EINVAL = 22
EBADF = 9
EPIPE = 32
ECONNRESET = 104
ECONNABORTED = 113
ECONNREFUSED = 111
ENOTCONN = 128
ESHUTDOWN = 110
EMFILE = 24
ENFILE = 23
ENOBUFS = 105
ENOMEM = 12
ETIMEDOUT = 116
EHOSTUNREACH = 118
EADDRINUSE = 112
EMSGSIZE = 122

##### budget and memory


# (connections per listener, largest listen() backlog) for the build that reports `machine`. The
# firmware cannot tell its lwIP limits, so they follow from the chip. Sockets (CONFIG_LWIP_MAX_SOCKETS)
# count the listener, accepted connections and the program's own (UDP too); TCP PCBs
# (CONFIG_LWIP_MAX_ACTIVE_TCP, enforced by ports/esp32/lwip_patch.c) count accepted connections, those
# waiting to be accepted or in their handshake (lwIP holds both to the backlog) and the program's
# clients; lwIP reclaims TIME-WAIT ones when it runs short.
def budget(machine):
    if "ESP32-C2" in machine or "ESP32C2" in machine:
        # C2 builds add boards/sdkconfig.free_ram: 6 sockets = listener + 3 + 2 for the program (a
        # client, NTP); 8 PCBs = 3 + 3 waiting + 2 for the program's clients
        return 3, 3
    # sdkconfig.base: 10 sockets = listener + 5 + 4 for the program (WebREPL's listener and client,
    # NTP, a client); 12 PCBs = 5 + 5 waiting + 2 for the program's clients
    return 5, 5


# sys.implementation._machine is "<board> with <MCU>" (MICROPY_BANNER_MACHINE), e.g. "ESP32C2 module with ESP32-C2"
MAX_CONNECTIONS, LISTEN_BACKLOG = budget(getattr(sys.implementation, "_machine", ""))
# TLS (uasyncore_tls): a handshake's public-key operations take about a second here (hardware
# bignum); mbedTLS takes its 16 KiB in + 4 KiB out buffers (sdkconfig.base's asymmetric content
# length) from ESP-IDF's heap, which gc.mem_free() does not show and which Wi-Fi and lwIP share: 2
# connections per TLS listener without PSRAM, 1 on a C2 (estimates from the sources, not measured).
TLS_HANDSHAKE_TIMEOUT = 15.0
TLS_MAX_CONNECTIONS = 1 if MAX_CONNECTIONS < 5 else 2
OUT_HIGH = 4096  # queued output per channel at which writers are told to pause (a few KB per connection on a ~100 KB heap)
OUT_LOW = 1024  # ... and resume
RECV_SIZE = 1024  # bytes a recv() asks for (each recv() allocates this much on the heap)


# An address as the socket methods take it: (ip, port); a host name is looked up here, blocking on DNS.
# Only IPv4 answers: the port gives an IPv6 one a None address, and looks up IPv6 too unless asked not to.
def sockaddr(addr):
    if isinstance(addr, tuple) and not _numeric(addr[0]):
        return socket.getaddrinfo(addr[0], addr[1], socket.AF_INET)[0][-1]
    return addr


# recv() flags that read a socket's pending error without taking its data, where the firmware has them.
_PEEK = getattr(socket, "MSG_PEEK", 0)
if _PEEK:
    _PEEK |= getattr(socket, "MSG_DONTWAIT", 0)


# A connecting socket's error, 0 when none. send(b"") cannot tell here (it always raises EAGAIN), so
# peek at one byte; firmware without MSG_PEEK answers 0 and the core reads the hang-up as refused.
def sock_error(sock):
    if not _PEEK:
        return 0
    try:
        sock.recv(1, _PEEK)
    except OSError as err:
        return _connect_errno(err.args[0])
    return 0


##### datagrams (uasyncore_dgram)


# sendto() of data to addr: the count. modsocket.c raises ETIMEDOUT for a non-blocking send that would
# block (SEND_WOULDBLOCK says so), and for an empty datagram too, which lwIP did send
# (EMPTY_SEND_RAISES). No try here: it would cost a heap frame a datagram.
def sendto(sock, data, addr):
    return sock.sendto(data, addr)


SEND_WOULDBLOCK = (EAGAIN, ETIMEDOUT)  # what a datagram send that would block raises
EMPTY_SEND_RAISES = True


# A read of 0 bytes marks an ESP32 socket as closed by its peer, and every later read returns b"" without
# reading: after an empty datagram the channel takes a fresh socket (micropython-lib#736).
EMPTY_DATAGRAM_CLOSES = True


# This port reports a socket error only as POLLHUP, and only to a poll that asks for it: the Poller
# asks for it always, so the core's connect rule sees the failure.
ALWAYS_POLLED = POLLHUP
