# Helpers for the datagram and resolver tests: a scripted datagram socket, loopback binding, and a DNS
# server of our own (a datagram channel in the test's map) whose answers each test writes.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import socket

import support
import uasyncore
import uasyncore_dgram

_port = uasyncore._port
HOST = support.HOST


class FakeDatagramSocket:
    # A scripted UDP socket: recvfrom() hands out `inbox` items ((data, addr) or an OSError to raise),
    # sendto() records (data, addr) or follows `send_plan` (True: sent, an OSError: raised).
    _next_fd = 20000

    def __init__(self, inbox=(), send_plan=()):
        FakeDatagramSocket._next_fd += 1
        self.fd = FakeDatagramSocket._next_fd
        self.inbox = list(inbox)
        self.send_plan = list(send_plan)
        self.sent = []  # (data, address as sendto() got it, decoded to (host, port))
        self.options = []  # (level, option, value) of every setsockopt()
        self.connected_to = None
        self.closed = False

    def fileno(self):
        return -1 if self.closed else self.fd

    def setblocking(self, flag):
        pass

    def recvfrom(self, n):
        if not self.inbox:
            raise support.oserror(support.EAGAIN)
        item = self.inbox.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item[0][:n], item[1]

    def sendto(self, data, addr):
        step = self.send_plan.pop(0) if self.send_plan else True
        if isinstance(step, BaseException):
            raise step
        self.sent.append((bytes(data), _port.peer_address(addr)))
        return len(data)

    def send(self, data):
        raise AssertionError("a datagram channel sends with sendto()")

    def connect(self, addr):
        self.connected_to = _port.peer_address(addr)

    def connect_ex(self, addr):
        self.connect(addr)
        return 0

    def getpeername(self):
        raise support.oserror(_port.ENOTCONN)

    def setsockopt(self, level, option, value):
        self.options.append((level, option, value))

    def bind(self, addr):
        pass

    def close(self):
        self.closed = True


# Bind datagram channel d (its socket made) to a free loopback port; returns the port.
def bind_any(d, host=HOST):
    for _ in range(50):
        port = support.random_port()
        try:
            d.bind((host, port))
            return port
        except OSError:
            continue
    raise OSError("no free port")


# A UDP port on loopback that nothing is bound to right now.
def free_udp_port():
    return support.free_port(socket.SOCK_DGRAM)


class Collector(uasyncore_dgram.datagram_dispatcher_with_send):
    # Keeps what arrives, and the errors handle_error() was called for (the channel stays open).
    def __init__(self, map):
        uasyncore_dgram.datagram_dispatcher_with_send.__init__(self, map=map)
        self.create_socket()
        self.got = []
        self.errors = []

    def handle_datagram(self, data, addr):
        self.got.append((data, addr))

    def handle_error(self):
        self.errors.append(support.handled_errno())


##### DNS messages for a server of our own


# (id, name, qtype) of a query.
def question_of(query):
    labels = []
    i = 12
    while query[i]:
        labels.append(bytes(query[i + 1 : i + 1 + query[i]]).decode())
        i += query[i] + 1
    return query[0] << 8 | query[1], ".".join(labels), query[i + 1] << 8 | query[i + 2]


# An answer to query: rcode, records as (qtype, rdata bytes, ttl) named by a pointer to the question,
# the truncation bit, and another id if given.
def answer(query, records=(), rcode=0, truncated=False, qid=None):
    end = 12
    while query[end]:
        end += query[end] + 1
    end += 5
    msg = bytearray(query[:end])
    if qid is not None:
        msg[0], msg[1] = qid >> 8, qid & 255
    msg[2] = 0x80 | 1 | (2 if truncated else 0)  # QR, RD, TC
    msg[3] = 0x80 | rcode  # RA
    msg[6], msg[7] = 0, len(records)
    for qtype, rdata, ttl in records:
        msg.extend(b"\xc0\x0c")
        msg.extend(bytes([0, qtype, 0, 1]) + ttl.to_bytes(4, "big") + len(rdata).to_bytes(2, "big"))
        msg.extend(rdata)
    return bytes(msg)


def a_record(ip, ttl=60):
    return (1, bytes([int(x) for x in ip.split(".")]), ttl)


class DnsServer(uasyncore_dgram.datagram_dispatcher):
    # A DNS server on a free loopback port of the test's map; `reply(query)` gives the answer (bytes) or
    # None (no answer). Every query is kept.
    def __init__(self, map, reply):
        uasyncore_dgram.datagram_dispatcher.__init__(self, map=map)
        self.create_socket()
        self.port = bind_any(self)
        self.reply = reply
        self.queries = []
        self.clients = []  # where each query came from

    def address(self):
        return (HOST, self.port)

    def handle_datagram(self, data, addr):
        self.queries.append(data)
        self.clients.append(addr)
        out = self.reply(data)
        if out is not None:
            self.sendto(out, addr)


# Set attributes of mod for the rest of the test.
def patch(test, mod, **attrs):
    for name, value in attrs.items():
        if hasattr(mod, name):
            test.addCleanup(setattr, mod, name, getattr(mod, name))
        else:
            test.addCleanup(delattr, mod, name)  # a name another port has
        setattr(mod, name, value)


class Resolving:
    # A resolver test's set-up: the loop's clock faked, a map of its own, an empty cache, default settings.
    def setUp(self):
        import uasyncore_dns  # here: the datagram tests check that a service without names never loads it

        self.clock = support.use_clock(self)
        self.map = {}
        self.addCleanup(uasyncore.close_all, self.map, True)
        uasyncore_dns.clear_cache()
        self.addCleanup(uasyncore_dns.clear_cache)
        patch(self, uasyncore_dns, TIMEOUT=5.0, RETRY=0.5, BLOCKING=False, SERVERS=None)
        self.results = []

    # A server answering with reply(query); the resolver asks it (and `more` servers after it).
    def server(self, reply, *more):
        import uasyncore_dns

        s = DnsServer(self.map, reply)
        uasyncore_dns.SERVERS = [s.address()] + list(more)
        return s

    def resolve(self, host, family=0):
        uasyncore.resolve(host, lambda ip, e: self.results.append((ip, e)), self.map, family)

    def step(self, passes=5):
        for _ in range(passes):
            uasyncore.loop(timeout=0, count=1, map=self.map)

    # Let `seconds` pass on the loop's clock, stepping the loop.
    def wait(self, seconds, step=0.25):
        while seconds > 0:
            self.clock.advance(min(step, seconds))
            seconds -= step
            self.step(3)  # the timer sends, the server answers, the answer is read

    def error(self):
        self.assertEqual(len(self.results), 1, self.results)
        ip, e = self.results[0]
        self.assertIsNone(ip)
        return e.args[0], e.args[1]
