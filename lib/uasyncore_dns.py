# uasyncore_dns: host names looked up without blocking the loop. A DNS client (A and AAAA questions) on
# a datagram channel: each question is sent again, to the next server, after RETRY seconds and then
# twice as long each time, until TIMEOUT; answers are kept for their TTL. uasyncore loads this module
# the first time connect() or resolve() is given a host name: a service that only uses IP addresses
# never does. The servers are the port's (the host's /etc/resolv.conf, the board's DHCP-given one)
# unless SERVERS names others; "localhost" and the host's /etc/hosts are answered without a question.
import os
import socket
import time

import uasyncore as _core
import uasyncore_port as _port
from uasyncore_dgram import datagram_dispatcher

SERVERS = None  # DNS servers: IPv4 address strings, or (address, port); None: the port's
TIMEOUT = 5.0  # seconds a lookup may take in all
RETRY = 0.5  # seconds before a question is sent again, to the next server; doubled at each try
BLOCKING = False  # True: the port's own blocking lookup instead (CPython: the C library's); it stalls the loop
CACHE_SIZE = 16  # names whose answers are kept
MAX_TTL = 86400  # seconds an answer is kept at most, whatever its TTL

# OSError numbers of a failed lookup, getaddrinfo's (socket.gaierror's on CPython)
EAI_NONAME = -2  # no such name, or no address of the family asked for
EAI_AGAIN = -3  # no answer in time, or the servers failed: may work later
EAI_FAIL = -4  # the answers could not be used, or the lookup was cancelled

_A = 1
_AAAA = 28
_PORT = 53
_cache = {}  # (name, family) -> (tick kept, wall-clock second kept, TTL in seconds, [ip, ...])
_channels = []  # the _Channel of each map with lookups under way


##### what programs call (through uasyncore.connect() and uasyncore.resolve())


# Look host up for the loop serving map; callback(ip, error) as uasyncore.resolve() says. Answers that
# need no question (localhost, the hosts file, the cache, BLOCKING) are given before this returns.
def resolve(host, callback, map=None, family=0):
    if map is None:
        map = _core.socket_map
    name = host.lower().rstrip(".")
    if name == "localhost":
        return callback("::1" if family == socket.AF_INET6 else "127.0.0.1", None)
    if BLOCKING:
        return _blocking(host, name, family, callback)
    found = _from_hosts(name, family) or _cached(name, family)
    if found:
        return callback(found[0], None)
    if not _valid(name):
        return callback(None, _failure(EAI_NONAME, host, "not a valid host name"))
    servers = _servers()
    if not servers:
        return callback(None, _failure(EAI_AGAIN, host, "no DNS server known (the network gave none; set uasyncore_dns.SERVERS)"))
    channel = _channel(map)
    lookup = channel.find(name, family)
    if lookup is None:
        lookup = _Lookup(channel, host, name, family, servers)
        lookup.callbacks.append(callback)
        lookup.start()
    else:
        lookup.callbacks.append(callback)


# dispatcher.connect() given (host name, port): the channel leaves the poller while the name is looked
# up (its socket is not connecting yet), then connects to the first address; connect_timeout counts
# from now. A name that cannot be resolved ends in handle_error(), with the lookup's error.
def connect(d, address):
    if len(address) not in (2, 4) or not isinstance(address[1], int):
        raise TypeError("connect() needs (host, port), port an int: %r" % (address,))
    if SERVERS is not None:
        _servers()  # bad SERVERS raise here, before the channel leaves its map
    d.connected = False
    d.connecting = True
    d.addr = address
    if d.connect_timeout is not None and d._connect_timer is None:
        d._connect_timer = _core.call_later(d.connect_timeout, d._connect_expired, map=d._map)
    map = d._map
    d.del_channel()
    family = getattr(d, "family_and_type", (socket.AF_INET,))[0]
    resolve(address[0], _Connecting(d, address, map), map, family if family in (socket.AF_INET, socket.AF_INET6) else 0)


class _Connecting:
    # connect()'s callback: the channel connects to the address found, if it still waits for it.
    def __init__(self, d, address, map):
        self.d = d
        self.sock = d.socket
        self.address = address
        self.map = map

    # Whether the channel still waits (not closed, timed out or connecting elsewhere since).
    def wanted(self):
        d = self.d
        return d.connecting and d.socket is self.sock and d._fileno is None

    def __call__(self, ip, error):
        d = self.d
        if not self.wanted():
            return
        if error is not None and error.args[0] == EAI_FAIL and error.args[1] == _CANCELLED:
            d.close()  # the loop's channels were closed (close_all): so is this one
            return
        try:
            if error is not None:
                raise error
            d.set_socket(self.sock, self.map)
            d.connect((ip,) + tuple(self.address[1:]))
        except _core._reraised_exceptions:
            raise
        except Exception as e:  # noqa: BLE001  (whatever the connect raises is the channel's)
            _core._error(d, e)


# Forget every cached answer.
def clear_cache():
    _cache.clear()


##### answers without a question


def _blocking(host, name, family, callback):
    try:
        ips = _getaddrinfo(name, family)
    except OSError as e:
        return callback(None, _failure(EAI_NONAME, host, "the port's lookup failed: %s" % (e,)))
    if not ips:
        return callback(None, _failure(EAI_NONAME, host, "no address"))
    callback(ips[0], None)


# The addresses the port's own, blocking, lookup gives name (CPython: the C library's, with nsswitch and
# mDNS): IP strings, each once, in its order. An address given as None (ESP32's IPv6 ones) is left out.
def _getaddrinfo(name, family):
    ips = []
    for info in socket.getaddrinfo(name, 0):
        if info[4] is not None and (not family or info[0] == family):
            ip = _port.peer_address(info[4])[0]
            if ip not in ips:
                ips.append(ip)
    return ips


# The addresses the hosts file gives name, of family (0: any).
def _from_hosts(name, family):
    key = name.encode()
    found = []
    for words in _file_words(_port.HOSTS_FILE):
        if key in [w.lower() for w in words[1:]]:
            ip = _text(words[0])
            if ip and _of_family(ip, family):
                found.append(ip)
    return found


# The words of each line of a text file up to a "#", as bytes: a file in any encoding is read, a line
# at a time (an ad-blocking hosts file has 100,000), and none at all if it is missing.
def _file_words(path):
    if path is None:
        return
    try:
        with open(path, "rb") as f:
            for line in f:
                yield line.partition(b"#")[0].split()
    except OSError:
        return


# An address word as text, or None when it is not ASCII (so it is no address).
def _text(word):
    try:
        text = word.decode()
    except ValueError:  # UnicodeError on both runtimes
        return None
    return text if len(text) == len(word) else None


def _of_family(ip, family):
    if not family:
        return True
    return (":" in ip) == (family == socket.AF_INET6)


def _cached(name, family):
    entry = _cache.get((name, family))
    if entry is None:
        return None
    if _fresh(entry, _port.ticks_ms()):
        return entry[3]
    del _cache[(name, family)]
    return None


# Whether an answer is within its TTL by the loop's clock and by the wall clock: a board's ticks wrap
# every 12.4 days, after which an old entry could look new by them alone.
def _fresh(entry, now):
    return 0 <= _port.ticks_diff(now, entry[0]) < entry[2] * 1000 and time.time() - entry[1] < entry[2] + 1


def _remember(name, family, ips, ttl):
    if ttl <= 0 or CACHE_SIZE <= 0:
        return
    now = _port.ticks_ms()
    if len(_cache) >= CACHE_SIZE:
        for key in [k for k in _cache if not _fresh(_cache[k], now)]:
            del _cache[key]
        while len(_cache) >= CACHE_SIZE:  # the oldest goes (a MicroPython dict is not in insertion order)
            del _cache[max(_cache, key=lambda k: _port.ticks_diff(now, _cache[k][0]))]
    _cache[(name, family)] = (now, time.time(), min(ttl, MAX_TTL), ips)


# Whether name can be asked: ASCII (no IDNA here), dot-separated labels of 1 to 63 bytes, 253 in all.
def _valid(name):
    if not name or len(name) > 253 or len(name.encode()) != len(name):
        return False
    for label in name.split("."):
        if not 0 < len(label) < 64:
            return False
    return True


def _failure(code, host, why):
    return OSError(code, "cannot resolve %r: %s" % (host, why))


_CANCELLED = "lookup cancelled: the resolver's channel was closed"


##### the lookups


class _Lookup:
    # One name, asked of the servers in turn until an answer, TIMEOUT, or every server refused.
    def __init__(self, channel, host, name, family, servers):
        self.channel = channel
        self.servers = servers
        self.host = host
        self.name = name
        self.family = family
        self.qtypes = [_AAAA] if family == socket.AF_INET6 else [_A] if family == socket.AF_INET else [_A, _AAAA]
        self.callbacks = []
        self.problem = None  # the last unusable answer, for the error at the deadline
        self.id = 0
        self.query = None
        self.tries = 0
        self.failed = []  # servers that answered SERVFAIL or REFUSED
        self.retry_timer = self.deadline = None

    def start(self):
        self.channel.lookups.append(self)
        self.deadline = _core.call_later(TIMEOUT, self.expired, map=self.channel._map)
        self.ask()

    # Put the next question (a fresh id), and send it.
    def ask(self):
        self.id = int.from_bytes(os.urandom(2), "big")
        while self.channel.by_id(self.id) not in (None, self):
            self.id = (self.id + 1) & 0xFFFF  # one id a lookup: an answer is matched by it
        self.query = _question(self.id, self.name, self.qtypes[0])
        self.tries = 0
        self.send()

    # Send the question to the next server, and again later if no answer comes; a lookup only
    # channels gave up waiting for (closed, timed out) ends instead, so loop() can end with them.
    def send(self):
        if self.tries and not any(getattr(cb, "wanted", None) is None or cb.wanted() for cb in self.callbacks):
            return self.finish(None, EAI_FAIL, "nobody waits for the answer any more")
        server = self.servers[self.tries % len(self.servers)]
        delay = RETRY * (1 << self.tries) if self.tries < 16 else TIMEOUT
        self.tries += 1
        if self.retry_timer is not None:
            self.retry_timer.cancel()
        self.retry_timer = _core.call_later(delay, self.send, map=self.channel._map)
        try:
            self.channel.sendto(self.query, server)  # no room now: the retry sends it
        except OSError as e:
            self.problem = "sending to %s: %s" % (server[0], e)  # no route yet, say: the retry tries again

    def expired(self):
        self.deadline = None
        why = "no answer within %s s" % (TIMEOUT,)
        if self.problem:
            why += " (%s)" % (self.problem,)
        self.finish(None, EAI_AGAIN, why)

    # What a server answered: the addresses, no such name, or a problem noted until the deadline.
    def answered(self, msg, server):
        try:
            rcode, truncated, ips, ttl = _parse(msg, self.query, self.qtypes[0])
        except (IndexError, ValueError):
            self.problem = "a malformed answer from %s" % (server[0],)
            return
        if rcode == 3:
            return self.finish(None, EAI_NONAME, "no such name (NXDOMAIN from %s)" % (server[0],))
        if rcode:
            self.problem = "%s from %s" % (_RCODES.get(rcode, "error %d" % rcode), server[0])
            if server not in self.failed:
                self.failed.append(server)
            if len(self.failed) >= len(self.servers):
                return self.finish(None, EAI_AGAIN if rcode == 2 else EAI_FAIL, self.problem)
            return self.send()  # the next server, now
        if ips:
            _remember(self.name, self.family, ips, ttl)
            return self.finish(ips[0], None, None)
        if truncated:
            return self.finish(None, EAI_FAIL, "the answer from %s was truncated (too long for UDP)" % (server[0],))
        del self.qtypes[0]
        if self.qtypes:
            return self.ask()  # no IPv4 address: ask for IPv6 ones
        self.finish(None, EAI_NONAME, "no address (the name exists, with no %s record)" % ("AAAA" if self.family == socket.AF_INET6 else "A"))

    # Stop asking; tell every caller.
    def finish(self, ip, code, why):
        for t in (self.retry_timer, self.deadline):
            if t is not None:
                t.cancel()
        self.retry_timer = self.deadline = None
        self.channel.done(self)
        error = None if ip is not None else _failure(code, self.host, why) if why != _CANCELLED else OSError(code, why)
        for callback in self.callbacks:
            try:
                callback(ip, error)
            except _core._reraised_exceptions:
                raise
            except Exception as e:  # noqa: BLE001  (a program's callback: reported, the others still called)
                print("error: uncaptured python exception in resolve callback %r (%s:%s %s)" % (callback, type(e), e, _port.tb_entries(e)))


_RCODES = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"}


# The port's DNS servers: a host's resolv.conf, or what a board's network interface was given.
def _port_servers():
    path = _port.RESOLV_CONF
    return _resolv_conf(path) if path else _port.dns_servers()


# The nameserver addresses a resolv.conf lists ([] when it is missing).
def _resolv_conf(path):
    servers = []
    for words in _file_words(path):
        if len(words) > 1 and words[0] == b"nameserver":
            ip = _text(words[1].partition(b"%")[0])  # an IPv6 zone cannot be sent to from here
            if ip and _core._literal((ip, _PORT)):  # a name is skipped, as the C library does
                servers.append(ip)
    return servers


# The servers to ask: (ip, port) pairs.
def _servers():
    servers = []
    for server in SERVERS if SERVERS is not None else _port_servers():
        if type(server) is str:
            server = (server, _PORT)
        if not _core._literal(server):
            raise ValueError("a DNS server must be an IP address, not %r" % (server[0],))
        if not (type(server[1]) is int and 0 < server[1] < 65536):
            raise ValueError("a DNS server's port must be 1-65535, not %r" % (server[1],))
        server = tuple(server)
        if ":" not in server[0] and server not in servers:  # the channel speaks IPv4; each server once
            servers.append(server)
    return servers


class _Channel(datagram_dispatcher):
    # The socket a map's lookups share while any is under way; answers are matched by id, question and server.
    def __init__(self, map):
        datagram_dispatcher.__init__(self, map=map)
        self.lookups = []
        self.create_socket(socket.AF_INET, socket.SOCK_DGRAM)

    def find(self, name, family):
        for lookup in self.lookups:
            if lookup.name == name and lookup.family == family:
                return lookup
        return None

    def by_id(self, qid):
        for lookup in self.lookups:
            if lookup.id == qid:
                return lookup
        return None

    def handle_datagram(self, data, addr):
        if len(data) < 2:
            return
        lookup = self.by_id(data[0] << 8 | data[1])  # one lookup an id (ask() sees to it)
        if lookup is not None and addr in lookup.servers:
            lookup.answered(data, addr)
            return
        for lookup in self.lookups:  # an answer to nothing asked (late, or forged): ignored, and noted
            if addr in lookup.servers:
                lookup.problem = "an answer with an id never asked, from %s" % (addr[0],)

    def done(self, lookup):
        if lookup in self.lookups:
            self.lookups.remove(lookup)
        if not self.lookups and self._fileno is not None:
            self.close()

    failure = None  # why the channel failed, if it did: its lookups end with that, not as cancelled

    def close(self):
        if self in _channels:
            _channels.remove(self)
        datagram_dispatcher.close(self)
        lookups, self.lookups = self.lookups, []
        for lookup in lookups:
            if self.failure is None:
                lookup.finish(None, EAI_FAIL, _CANCELLED)
            else:
                lookup.finish(None, EAI_FAIL, "the resolver failed: " + self.failure)

    # A socket error (ICMP from a server that is not there): the retries go on, to the next server.
    # Anything else fails the channel, and its lookups with it.
    def handle_error(self):
        e = _core.handled_error()
        if isinstance(e, OSError):
            self.log_info("resolver: %r" % (e,), "warning")
        else:
            self.failure = repr(e)
            datagram_dispatcher.handle_error(self)


# Close map's channels: close_all() cleared them out of the map, and one a cancelled lookup's callback
# opened while it ran would keep its lookups (and socket) for good.
def _close_channels(map):
    for channel in [c for c in _channels if c._map is map]:
        channel.close()


# The channel that serves map's lookups, opened when the first one starts.
def _channel(map):
    for channel in _channels:
        if channel._map is map:
            if map.get(channel._fileno) is channel:
                return channel
            channel.close()  # taken out of its map without a close (close_all() clears the map): cancelled
            return _channel(map)  # a callback of those may have opened the next one already
    channel = _Channel(map)
    _channels.append(channel)
    return channel


##### the DNS messages (RFC 1035)


# A query for name's records of qtype, recursion desired.
def _question(qid, name, qtype):
    msg = bytearray([qid >> 8, qid & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    for label in name.split("."):
        label = label.encode()
        msg.append(len(label))
        msg.extend(label)
    msg.extend(bytes([0, 0, qtype, 0, 1]))
    return bytes(msg)


# (rcode, truncated, [ip, ...], smallest TTL) of an answer to query; IndexError or ValueError when it
# is malformed or answers another question.
def _parse(msg, query, qtype):
    end = len(query)
    if len(msg) < end or msg[2] & 0x80 == 0 or msg[4:6] != b"\x00\x01" or msg[12:end] != query[12:]:
        raise ValueError("not an answer to this question")
    rcode = msg[3] & 15
    truncated = msg[2] & 2
    count = msg[6] << 8 | msg[7]
    ips = []
    ttl = MAX_TTL
    i = end
    for _ in range(count):
        if truncated and i >= len(msg):
            break  # a truncated answer may count the records it left out
        i = _skip_name(msg, i)
        rtype = msg[i] << 8 | msg[i + 1]
        rclass = msg[i + 2] << 8 | msg[i + 3]
        rttl = 0 if msg[i + 4] & 0x80 else int.from_bytes(msg[i + 4 : i + 8], "big")  # RFC 2181: over 2**31-1 is 0
        size = msg[i + 8] << 8 | msg[i + 9]
        i += 10
        rdata = msg[i : i + size]
        if len(rdata) != size:
            raise IndexError("record cut short")
        i += size
        if rtype == qtype and rclass == 1:  # IN
            if qtype == _A and size == 4:
                ips.append("%d.%d.%d.%d" % (rdata[0], rdata[1], rdata[2], rdata[3]))
            elif qtype == _AAAA and size == 16:
                ips.append(_ip6(rdata))
            else:
                raise ValueError("address of the wrong size")
            ttl = min(ttl, rttl)
    return rcode, truncated, ips, ttl


# The index after the name at i (labels, ending in a zero or a compression pointer).
def _skip_name(msg, i):
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        if n & 0xC0:
            raise ValueError("bad label")
        i += n + 1


# An IPv6 address as text, its longest run of zero groups written "::".
def _ip6(b):
    groups = ["%x" % (b[i] << 8 | b[i + 1]) for i in range(0, 16, 2)]
    best = at = run = 0
    for i in range(8):
        run = run + 1 if groups[i] == "0" else 0
        if run > best:
            best, at = run, i - run + 1
    if best < 2:
        return ":".join(groups)
    return ":".join(groups[:at]) + "::" + ":".join(groups[at + best :])
