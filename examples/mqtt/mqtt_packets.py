# mqtt_packets: MQTT 3.1.1 packets a publishing client sends and receives, and a reader that finds
# whole packets in a byte stream however it was split. No I/O here: mqtt_client does that.

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

MAX_LENGTH = 268435455  # the largest remaining length four bytes can say
MAX_PACKET = 1024  # bytes of one incoming packet's body; a broker's answers to a publisher are 0 or 2
DUP = 0x08  # the PUBLISH flag that marks a retransmission

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

# CONNACK return codes 1..5 (MQTT 3.1.1, 3.2.2.3)
REFUSALS = (
    None,
    "unacceptable protocol version",
    "client identifier rejected",
    "server unavailable",
    "bad user name or password",
    "not authorized",
)


class MqttError(Exception):
    # A broker that broke the protocol, or did not answer in time.
    pass


class MqttRefused(MqttError):
    # The broker answered CONNECT with a non-zero return code: MqttRefused(code).
    @property
    def code(self):
        return self.args[0]

    def __str__(self):
        what = REFUSALS[self.code] if 0 < self.code < len(REFUSALS) else "unknown reason"
        return "broker refused the connection: %s (return code %d)" % (what, self.code)


##### encoding


# The remaining length as 1 to 4 bytes: 7 bits each, least significant first, high bit = more follow.
def encode_length(n):
    if n < 0 or n > MAX_LENGTH:
        raise ValueError("remaining length out of range: %d" % n)
    out = bytearray()
    while True:
        digit = n & 0x7F
        n >>= 7
        if n:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def _u16(n):
    return bytes((n >> 8, n & 0xFF))


# A UTF-8 string or binary field: two length bytes, then the bytes.
def _field(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    if len(b) > 0xFFFF:
        raise ValueError("field longer than 65535 bytes")
    return _u16(len(b)) + b


# A fixed header (type and flags in the first byte) and the rest as one packet.
def _packet(first, parts):
    body = b"".join(parts)
    return bytes((first,)) + encode_length(len(body)) + body


# CONNECT. will: None or (topic, message, qos, retain); a password needs a user name (3.1.2.9).
def connect_packet(client_id, keepalive, clean=True, username=None, password=None, will=None):
    if not 0 <= keepalive <= 0xFFFF:
        raise ValueError("keep-alive out of range: %r" % (keepalive,))
    if password is not None and username is None:
        raise ValueError("MQTT 3.1.1 sends a password only with a user name")
    flags = 0x02 if clean else 0
    parts = [b"\x00\x04MQTT\x04", None, _u16(keepalive), _field(client_id)]
    if will is not None:
        topic, message, qos, retain = will
        check_topic(topic)
        if qos not in (0, 1):
            raise ValueError("will QoS must be 0 or 1")
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        parts += [_field(topic), _field(message)]
    if username is not None:
        flags |= 0x80
        parts.append(_field(username))
    if password is not None:
        flags |= 0x40
        parts.append(_field(password))
    parts[1] = bytes((flags,))
    return _packet(CONNECT << 4, parts)


# A topic a client may publish to: not empty, no wildcards, no NUL.
def check_topic(topic):
    if not topic or "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError("not a topic to publish to: %r" % (topic,))


# PUBLISH as a bytearray, so a retransmission can set DUP in place. pid: 0 for QoS 0.
def publish_packet(topic, payload, qos=0, retain=False, pid=0, dup=False):
    check_topic(topic)
    if qos not in (0, 1):
        raise ValueError("QoS must be 0 or 1 (this client does not do QoS 2)")
    if qos and not 0 < pid <= 0xFFFF:
        raise ValueError("QoS 1 needs a packet id from 1 to 65535")
    if isinstance(payload, str):
        payload = payload.encode()
    first = PUBLISH << 4 | qos << 1 | (1 if retain else 0) | (DUP if dup and qos else 0)
    parts = (_field(topic), _u16(pid) if qos else b"", payload)
    return bytearray(_packet(first, parts))


##### decoding


# (remaining length, index of the byte after it) read from data[pos:], or None while incomplete.
def decode_length(data, pos=1):
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            return None
        digit = data[pos]
        pos += 1
        value |= (digit & 0x7F) << shift
        if not digit & 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise MqttError("malformed remaining length: more than 4 bytes")


# (session present, return code) from a CONNACK body.
def parse_connack(first, body):
    if first != CONNACK << 4 or len(body) != 2 or body[0] & 0xFE:
        raise MqttError("malformed CONNACK")
    return bool(body[0] & 1), body[1]


# The packet id a PUBACK acknowledges.
def parse_puback(first, body):
    if first != PUBACK << 4 or len(body) != 2:
        raise MqttError("malformed PUBACK")
    return body[0] << 8 | body[1]


class PacketReader:
    # Collects stream bytes; next() hands out one whole packet at a time as (first byte, body).
    def __init__(self, limit=MAX_PACKET):
        self.limit = limit
        self.buf = b""

    def feed(self, data):
        self.buf = self.buf + data if self.buf else bytes(data)

    # The next whole packet, or None until more bytes arrive. A body over the limit is refused as
    # soon as its length is known, before any of it is held.
    def next(self):
        buf = self.buf
        if len(buf) < 2:
            return None
        got = decode_length(buf, 1)
        if got is None:
            return None
        length, start = got
        if length > self.limit:
            raise MqttError("incoming packet of %d bytes: over the %d-byte limit" % (length, self.limit))
        end = start + length
        if len(buf) < end:
            return None
        self.buf = buf[end:]
        return buf[0], buf[start:end]
