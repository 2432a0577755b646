# Shared by the lwIP boards' adapters (esp32, rp2); see common.py for how the adapters are assembled.
# A board's part defines its errno numbers, its budgets, sockaddr(), sock_error() and ALWAYS_POLLED.
import select

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

