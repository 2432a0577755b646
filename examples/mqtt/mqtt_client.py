# mqtt_client: a non-blocking MQTT 3.1.1 publisher on uasyncore.
#
# One MqttClient is the long-lived session: packet ids, QoS 1 messages awaiting PUBACK, the queue
# kept while offline, the timers. Each TCP connection to the broker is a _Link, made afresh for
# every attempt, so an event from a dead connection can never touch the next one. Given a client
# context (uasyncore_tls.client_context), each link runs TLS under it; uasyncore_tls is imported then
# only.
import uasyncore
from mqtt_packets import (
    CONNACK,
    DISCONNECT_PACKET,
    DUP,
    PINGREQ_PACKET,
    PINGRESP,
    PUBACK,
    MqttError,
    MqttRefused,
    PacketReader,
    connect_packet,
    parse_connack,
    parse_puback,
    publish_packet,
)

try:
    from os import urandom
except ImportError:  # a port without it: the clock's low bits are jitter enough
    urandom = None

KEEPALIVE = 60  # seconds; the client pings once it has sent nothing, or heard nothing, for this long
PING_TIMEOUT = 10  # seconds a PINGRESP may take before the broker counts as gone (at most KEEPALIVE)
CONNECT_TIMEOUT = 10  # seconds for the TCP connect, then again for the CONNACK
BACKOFF_BASE = 1  # seconds before the first retry; doubles with each failed attempt...
BACKOFF_CAP = 60  # ...up to this; each delay is then drawn from [delay/2, delay)
MAX_QUEUED_QOS0 = 10  # QoS 0 messages kept while they cannot be sent; the oldest goes first
MAX_HELD_QOS1 = 20  # QoS 1 messages not yet acknowledged (queued or in flight); more are refused
OUT_LIMIT = 2048  # bytes waiting in the socket's buffer beyond which new publishes queue instead
RECV_SIZE = 256

# client states
STOPPED = 0
WAITING = 1  # no connection: a retry is scheduled
CONNECTING = 2  # TCP connect under way
HANDSHAKE = 3  # CONNECT sent, CONNACK awaited
READY = 4


# A fraction in [0, 1) from the OS's random source.
def random_fraction():
    if urandom is not None:
        b = urandom(2)
        return (b[0] << 8 | b[1]) / 65536
    return (uasyncore.ticks() & 0xFFFF) / 65536


# Seconds to wait before attempt number `failures` + 1: base doubled per failure, capped, and
# spread over [d/2, d) by fraction so that many clients a broker dropped together do not return together.
def backoff_delay(failures, base, cap, fraction):
    d = min(base * (1 << min(failures, 20)), cap)
    return d / 2 + d / 2 * fraction


# Words for why a connection ended, on one line: an OSError's own text where it has one (a failed
# name lookup has no errno text), else the port's words for its errno. MicroPython's text for a
# refused certificate starts each of its reasons on a new line.
def describe(reason):
    args = reason.args if isinstance(reason, OSError) else ()
    if args and isinstance(args[0], int):
        text = args[1] if len(args) > 1 and isinstance(args[1], str) else uasyncore._strerror(args[0])
        return "%s (errno %d)" % (" ".join(text.split()), args[0])
    return " ".join(str(reason).split())


class _Link(uasyncore.dispatcher_with_send):
    # One TCP connection to the broker; everything it hears goes to its client.
    def __init__(self, client):
        uasyncore.dispatcher_with_send.__init__(self, map=client.map)
        self.client = client
        self.connect_timeout = client.connect_timeout
        self.reader = PacketReader()

    def handle_connect(self):
        self.client._link_up(self)

    def handle_read(self):
        data = self.recv(RECV_SIZE)
        if data:
            self.client._received(self, data)

    # Send what is buffered; once less than OUT_LIMIT waits, queued publishes may follow.
    def handle_write(self):
        self.initiate_send()
        if len(self.out_buffer) < OUT_LIMIT:
            self.client._flush()

    def handle_close(self):
        self.client._lost(self, "the broker closed the connection")

    # Failed connects (the core's rule), failed TLS handshakes, protocol errors and refusals all end up here.
    def handle_error(self):
        reason = uasyncore.handled_error()  # boards have no sys.exc_info()
        if not isinstance(reason, (OSError, MqttError)) and not self._refused_certificate(reason):
            # a bug, not the network: keep its traceback
            t, v, info = uasyncore.compact_traceback()[1:]
            self.log_info("uncaptured python exception (%s:%s %s)" % (t, v, info), "error")
        self.client._lost(self, reason)

    # MicroPython's ssl says ValueError when the broker's certificate (or its name) fails the check,
    # which comes before the broker accepts us: the network's failure, not a bug.
    def _refused_certificate(self, reason):
        client = self.client
        return isinstance(reason, ValueError) and client.tls is not None and client.state != READY


class MqttClient:
    # Publishes to one broker, reconnecting with back-off for as long as it runs (see README.md). With
    # tls (a client context) each connection checks the broker's certificate for server_hostname (its
    # host by default) before MQTT starts. Not a dispatcher itself: it outlives each connection's _Link.
    keepalive = KEEPALIVE
    ping_timeout = PING_TIMEOUT
    connect_timeout = CONNECT_TIMEOUT
    backoff_base = BACKOFF_BASE
    backoff_cap = BACKOFF_CAP
    max_queued_qos0 = MAX_QUEUED_QOS0
    max_held_qos1 = MAX_HELD_QOS1
    jitter = staticmethod(random_fraction)  # tests put a fixed fraction here

    def __init__(
        self, host, port, client_id, keepalive=None, clean=True, username=None, password=None, will=None, map=None,
        tls=None, server_hostname=None,
    ):
        self.host = host
        self.port = port
        self.tls = tls
        self.server_hostname = server_hostname or host
        self.client_id = client_id
        if keepalive is not None:
            self.keepalive = keepalive
        self.map = uasyncore.socket_map if map is None else map
        self.hello = connect_packet(client_id, self.keepalive, clean, username, password, will)
        self.state = STOPPED
        self.link = None
        self.failures = 0  # attempts failed since the last CONNACK that accepted us
        self.pid = 0  # the last packet id handed out
        self.outbox = []  # [pid, packet] not sent yet, oldest first (pid 0: QoS 0)
        self.unacked = []  # [pid, packet] QoS 1 sent and not acknowledged, oldest first
        self.queued0 = 0  # QoS 0 entries in outbox
        self.queued1 = 0  # QoS 1 entries in outbox
        self.last_sent = self.last_heard = 0
        self._retry = self._beat = self._pong = self._deadline = None
        # counters for whoever watches: messages taken, acknowledged, dropped, refused; connections made
        self.published = self.acked = self.dropped = self.refused = self.connections = 0

    ##### what a program calls

    # Connect now; from here on the client keeps itself connected until stop().
    def start(self):
        if self.state == STOPPED:
            self._connect()

    # Send DISCONNECT if connected, close, and stop retrying. Queued messages stay queued.
    def stop(self):
        link = self.link
        ready = self.state == READY
        self.state = STOPPED
        self.link = None
        self._cancel_timers()
        if link is not None:
            if ready:
                try:
                    link.send(DISCONNECT_PACKET)  # tells the broker not to publish our will
                except OSError:
                    pass
            link.close()

    def connected(self):
        return self.state == READY

    # Publish payload (bytes or str) to topic. True when taken: sent now, or queued to go once the
    # broker is back. False when refused: MAX_HELD_QOS1 QoS 1 messages are already waiting.
    def publish(self, topic, payload, qos=0, retain=False):
        if qos and len(self.unacked) + self.queued1 >= self.max_held_qos1:
            self.refused += 1
            return False
        pid = self._next_pid() if qos else 0
        entry = [pid, publish_packet(topic, payload, qos, retain, pid)]
        self.published += 1
        if self.outbox or not self._room():
            self._queue(entry)
        else:
            self._send(entry)
        return True

    ##### hooks: a program overrides these

    # The broker accepted us (again); the retransmissions and the queue have gone out.
    def handle_online(self, session_present):
        print("mqtt: connected to %s:%d as %s" % (self.host, self.port, self.client_id))

    # The connection failed or was lost; the next attempt is in `delay` seconds.
    def handle_offline(self, reason, delay):
        print("mqtt: %s; retrying in %.1f s" % (describe(reason), delay))

    ##### queue and packet ids

    # Whether a publish can go to the socket now rather than wait in the outbox.
    def _room(self):
        return self.state == READY and len(self.link.out_buffer) < OUT_LIMIT

    def _queue(self, entry):
        self.outbox.append(entry)
        if entry[0]:
            self.queued1 += 1
            return
        self.queued0 += 1
        if self.queued0 > self.max_queued_qos0:
            for i in range(len(self.outbox)):
                if not self.outbox[i][0]:
                    self.outbox.pop(i)
                    break
            self.queued0 -= 1
            self.dropped += 1

    # Write an entry to the link; a QoS 1 one is kept until its PUBACK.
    def _send(self, entry):
        if entry[0]:
            self.unacked.append(entry)
        self._write(entry[1])

    # Send what waits in the outbox, oldest first, while the link takes it.
    def _flush(self):
        outbox = self.outbox
        while outbox and self._room():
            entry = outbox.pop(0)
            if entry[0]:
                self.queued1 -= 1
            else:
                self.queued0 -= 1
            self._send(entry)

    def _write(self, packet):
        self.last_sent = uasyncore.ticks()
        self.link.send(packet)

    # The next packet id (1..65535, wrapping) that no held message uses.
    def _next_pid(self):
        pid = self.pid
        while True:
            pid = pid % 0xFFFF + 1
            if not self._holds(pid):
                self.pid = pid
                return pid

    def _holds(self, pid):
        for entry in self.unacked:
            if entry[0] == pid:
                return True
        for entry in self.outbox:
            if entry[0] == pid:
                return True
        return False

    ##### the connection's life

    def _connect(self):
        self._retry = None
        link = self.link = _Link(self)
        self.state = CONNECTING
        try:
            self.make_socket(link)
            if self.tls is not None:
                import uasyncore_tls

                uasyncore_tls.start_tls(link, self.tls, server_hostname=self.server_hostname)
            link.connect((self.host, self.port))
        except Exception as e:  # no socket, or an address that does not resolve: retry later
            self._lost(link, e)

    # Give a new link its socket (tests hand in fakes here).
    def make_socket(self, link):
        link.create_socket()

    # TCP is up: say CONNECT and give the broker connect_timeout seconds to answer.
    def _link_up(self, link):
        if link is not self.link:
            return
        self.state = HANDSHAKE
        self.last_heard = uasyncore.ticks()
        self._write(self.hello)
        self._deadline = uasyncore.call_later(self.connect_timeout, self._no_connack, map=self.map)

    def _received(self, link, data):
        self.last_heard = uasyncore.ticks()
        reader = link.reader
        reader.feed(data)
        while self.link is link:
            packet = reader.next()
            if packet is None:
                return
            self._handle(packet[0], packet[1])

    # One whole packet from the broker; what a publisher does not expect is a protocol error.
    def _handle(self, first, body):
        kind = first >> 4
        if kind == PUBACK:
            self._acknowledged(parse_puback(first, body))
        elif kind == PINGRESP and first == PINGRESP << 4 and not body:
            if self._pong is not None:
                self._pong.cancel()
                self._pong = None
        elif kind == CONNACK and self.state == HANDSHAKE:
            session_present, code = parse_connack(first, body)
            if code:
                raise MqttRefused(code)
            self._accepted(session_present)
        else:
            raise MqttError("unexpected packet from the broker: type %d, flags %#x" % (kind, first & 15))

    # CONNACK 0: resend what is unacknowledged (DUP, same ids), then the queue; then keep alive.
    def _accepted(self, session_present):
        link = self.link
        self._deadline.cancel()
        self._deadline = None
        self.state = READY
        self.failures = 0
        self.connections += 1
        for entry in self.unacked:
            if self.link is not link:
                return
            entry[1][0] |= DUP
            self._write(entry[1])
        self._flush()
        if self.link is not link:
            return
        if self.keepalive:
            self._beat = uasyncore.call_later(self.keepalive, self._check_alive, map=self.map)
        self.handle_online(session_present)

    def _acknowledged(self, pid):
        unacked = self.unacked
        for i in range(len(unacked)):
            if unacked[i][0] == pid:
                unacked.pop(i)
                self.acked += 1
                return
        # not ours any more (a duplicate PUBACK after a retransmission): nothing to do

    # The keep-alive timer: ping once nothing has been sent, or heard, for keepalive seconds.
    def _check_alive(self):
        self._beat = None
        if self.state != READY:
            return
        now = uasyncore.ticks()
        quiet = max(uasyncore.ticks_diff(now, self.last_sent), uasyncore.ticks_diff(now, self.last_heard))
        period = self.keepalive * 1000
        if quiet >= period:
            if self._pong is None:
                self._write(PINGREQ_PACKET)
                self._pong = uasyncore.call_later(self._ping_wait(), self._no_pingresp, map=self.map)
            quiet = 0
        self._beat = uasyncore.call_later((period - quiet) / 1000, self._check_alive, map=self.map)

    def _ping_wait(self):
        return min(self.ping_timeout, self.keepalive)

    def _no_pingresp(self):
        self._pong = None
        self._lost(self.link, MqttError("no PINGRESP within %s s: the broker is not answering" % self._ping_wait()))

    def _no_connack(self):
        self._deadline = None
        self._lost(self.link, MqttError("no CONNACK within %s s" % self.connect_timeout))

    # The link failed, whatever the cause: drop it and try again after the back-off.
    def _lost(self, link, reason):
        if link is not self.link or link is None:
            return  # an old link, or stop() came first
        self.link = None
        self._cancel_timers()
        link.close()
        delay = backoff_delay(self.failures, self.backoff_base, self.backoff_cap, self.jitter())
        self.failures += 1
        self.state = WAITING
        self._retry = uasyncore.call_later(delay, self._connect, map=self.map)
        self.handle_offline(reason, delay)

    def _cancel_timers(self):
        for t in (self._retry, self._beat, self._pong, self._deadline):
            if t is not None:
                t.cancel()
        self._retry = self._beat = self._pong = self._deadline = None
