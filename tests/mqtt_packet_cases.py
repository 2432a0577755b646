# Cases for examples/mqtt's packets (mixins; tests/test_mqtt_client.py makes them TestCases):
# remaining-length encoding, CONNECT and PUBLISH bytes, the stream reader under every split of its
# input, CONNACK and PUBACK parsing, the words for each refusal.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

from mqtt_fakes import mp


# (length, its encoding): the boundaries of 1, 2, 3 and 4 bytes (MQTT 3.1.1, 2.2.3)
LENGTHS = (
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (321, b"\xc1\x02"),
    (16383, b"\xff\x7f"),
    (16384, b"\x80\x80\x01"),
    (2097151, b"\xff\xff\x7f"),
    (2097152, b"\x80\x80\x80\x01"),
    (268435455, b"\xff\xff\xff\x7f"),
)

CONNACK_OK = b"\x20\x02\x00\x00"
PUBACK_7 = b"\x40\x02\x00\x07"
PINGRESP = b"\xd0\x00"


# Feed pieces to a fresh reader, collecting every packet it gives back.
def read_all(pieces, limit=mp.MAX_PACKET):
    reader = mp.PacketReader(limit)
    got = []
    for piece in pieces:
        reader.feed(piece)
        while True:
            packet = reader.next()
            if packet is None:
                break
            got.append(packet)
    return tuple(got), reader


class RemainingLength:
    def test_encodes_the_boundaries(self):
        for n, encoded in LENGTHS:
            self.assertEqual(mp.encode_length(n), encoded, n)

    def test_decodes_the_boundaries_from_any_offset(self):
        for n, encoded in LENGTHS:
            self.assertEqual(mp.decode_length(b"\x30" + encoded + b"rest", 1), (n, 1 + len(encoded)), n)
            self.assertEqual(mp.decode_length(encoded, 0), (n, len(encoded)), n)

    def test_every_length_round_trips_across_the_byte_boundaries(self):
        for lengths in (range(300), range(16300, 16500), (2097150, 2097153, 268435454)):  # no big list: 128K heap
            for n in lengths:
                encoded = mp.encode_length(n)
                self.assertEqual(mp.decode_length(encoded, 0), (n, len(encoded)))

    def test_an_incomplete_length_asks_for_more(self):
        for n, encoded in LENGTHS:
            for cut in range(len(encoded)):
                self.assertIsNone(mp.decode_length(encoded[:cut], 0), (n, cut))

    def test_out_of_range_lengths_are_refused(self):
        self.assertRaises(ValueError, mp.encode_length, 268435456)
        self.assertRaises(ValueError, mp.encode_length, -1)

    def test_a_fifth_length_byte_is_malformed(self):
        self.assertRaises(mp.MqttError, mp.decode_length, b"\xff\xff\xff\xff\x01", 0)
        self.assertRaises(mp.MqttError, mp.decode_length, b"\x80\x80\x80\x80", 0)


class OutgoingPacket:
    def test_connect_with_clean_session_and_keepalive(self):
        got = mp.connect_packet("abc", 60)
        self.assertEqual(got, b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03abc")

    def test_connect_with_will_user_and_password(self):
        got = mp.connect_packet("id", 300, clean=False, username="u", password=b"pw", will=("s/t", b"off", 1, True))
        flags = 0x80 | 0x40 | 0x20 | 0x08 | 0x04  # user, password, will retain, will QoS 1, will
        body = b"\x00\x04MQTT\x04" + bytes((flags,)) + b"\x01\x2c" + b"\x00\x02id"
        body += b"\x00\x03s/t\x00\x03off\x00\x01u\x00\x02pw"
        self.assertEqual(got, b"\x10" + bytes((len(body),)) + body)

    def test_connect_refuses_what_311_cannot_say(self):
        self.assertRaises(ValueError, mp.connect_packet, "id", 60, password="secret")  # no user name
        self.assertRaises(ValueError, mp.connect_packet, "id", 65536)
        self.assertRaises(ValueError, mp.connect_packet, "id", 60, will=("a/#", b"x", 0, False))

    def test_publish_qos0_has_no_packet_id(self):
        self.assertEqual(bytes(mp.publish_packet("a/b", b"hi")), b"\x30\x07\x00\x03a/bhi")
        self.assertEqual(bytes(mp.publish_packet("a/b", "hi", retain=True)), b"\x31\x07\x00\x03a/bhi")

    def test_publish_qos1_carries_its_packet_id_and_dup(self):
        self.assertEqual(bytes(mp.publish_packet("t", b"x", qos=1, pid=258)), b"\x32\x06\x00\x01t\x01\x02x")
        self.assertEqual(bytes(mp.publish_packet("t", b"x", qos=1, pid=1, dup=True)), b"\x3a\x06\x00\x01t\x00\x01x")

    def test_publish_with_a_two_byte_length(self):
        got = mp.publish_packet("t", bytes(200))
        self.assertEqual(bytes(got[:3]), b"\x30\xcb\x01")  # 2 + 1 + 200 = 203
        self.assertEqual(len(got), 3 + 203)

    def test_publish_refuses_bad_topics_qos_and_ids(self):
        for topic in ("", "a/+/b", "a/#", "a\0b"):
            self.assertRaises(ValueError, mp.publish_packet, topic, b"x")
        self.assertRaises(ValueError, mp.publish_packet, "t", b"x", qos=2, pid=1)
        self.assertRaises(ValueError, mp.publish_packet, "t", b"x", qos=1)  # no packet id
        self.assertRaises(ValueError, mp.publish_packet, "t", b"x", qos=1, pid=65536)


class Reader:
    # CONNACK, PUBACK, PINGRESP, and a PUBLISH whose remaining length takes two bytes.
    STREAM = CONNACK_OK + PUBACK_7 + PINGRESP + bytes(mp.publish_packet("t/x", bytes(range(200)))) + PINGRESP
    EXPECTED = (
        (0x20, b"\x00\x00"),
        (0x40, b"\x00\x07"),
        (0xD0, b""),
        (0x30, b"\x00\x03t/x" + bytes(range(200))),
        (0xD0, b""),
    )

    def test_the_whole_stream_at_once(self):
        got, reader = read_all([self.STREAM])
        self.assertEqual(got, self.EXPECTED)
        self.assertEqual(reader.buf, b"")

    def test_every_split_point(self):
        s = self.STREAM
        for i in range(len(s) + 1):
            got, reader = read_all([s[:i], s[i:]])
            self.assertEqual(got, self.EXPECTED, i)
            self.assertEqual(reader.buf, b"", i)

    def test_one_byte_at_a_time(self):
        s = self.STREAM
        got = read_all([s[i : i + 1] for i in range(len(s))])[0]
        self.assertEqual(got, self.EXPECTED)

    def test_every_pair_of_split_points_in_the_small_packets(self):
        s = CONNACK_OK + PUBACK_7 + PINGRESP
        for i in range(len(s) + 1):
            for j in range(i, len(s) + 1):
                got = read_all([s[:i], s[i:j], s[j:]])[0]
                self.assertEqual(got, self.EXPECTED[:3], (i, j))

    def test_an_incomplete_packet_waits(self):
        got, reader = read_all([PUBACK_7[:3]])
        self.assertEqual(got, ())
        self.assertEqual(reader.buf, PUBACK_7[:3])

    def test_a_body_over_the_limit_is_refused_before_it_arrives(self):
        reader = mp.PacketReader(limit=100)
        reader.feed(b"\x30\xe5\x01")  # a PUBLISH of 229 bytes: only its header is here
        self.assertRaises(mp.MqttError, reader.next)

    def test_a_malformed_length_is_refused(self):
        reader = mp.PacketReader()
        reader.feed(b"\x30\xff\xff\xff\xff\x7f")
        self.assertRaises(mp.MqttError, reader.next)


class Answers:
    def test_connack(self):
        self.assertEqual(mp.parse_connack(0x20, b"\x00\x00"), (False, 0))
        self.assertEqual(mp.parse_connack(0x20, b"\x01\x00"), (True, 0))
        self.assertEqual(mp.parse_connack(0x20, b"\x00\x05"), (False, 5))
        for first, body in ((0x21, b"\x00\x00"), (0x20, b"\x00"), (0x20, b"\x02\x00")):
            self.assertRaises(mp.MqttError, mp.parse_connack, first, body)

    def test_every_refusal_says_what_went_wrong(self):
        words = {
            1: "protocol version",
            2: "identifier rejected",
            3: "unavailable",
            4: "user name or password",
            5: "not authorized",
        }
        for code, word in words.items():
            text = str(mp.MqttRefused(code))
            self.assertIn(word, text)
            self.assertIn("return code %d" % code, text)
        self.assertIn("unknown", str(mp.MqttRefused(77)))
        self.assertEqual(mp.MqttRefused(4).code, 4)

    def test_puback(self):
        self.assertEqual(mp.parse_puback(0x40, b"\x12\x34"), 0x1234)
        self.assertRaises(mp.MqttError, mp.parse_puback, 0x42, b"\x00\x01")
        self.assertRaises(mp.MqttError, mp.parse_puback, 0x40, b"\x00")
