# Cases for examples/mqtt's client (mixins; tests/test_mqtt_client.py makes them TestCases): the
# handshake, CONNACK refusals, connect and CONNACK timeouts, keep-alive pings and the dead-broker
# verdict, the back-off sequence. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

from mqtt_fakes import CONNECT, DISCONNECT, PINGREQ, PUBLISH, _port, mp, mqtt_client


class Handshake:
    def test_connect_then_online(self):
        c = self.client(keepalive=30)
        c.start()
        self.advance(0.1)
        self.assertEqual(len(self.socks), 1)
        first, body = self.socks[0].received[0]
        self.assertEqual(bytes((first,)) + mp.encode_length(len(body)) + body, mp.connect_packet("dev", 30))
        self.assertTrue(c.connected())
        self.assertEqual([e[0] for e in c.events], ["online"])

    def test_publishes_wait_for_the_connack(self):
        self.plan = [{"connack": None}]
        c = self.client()
        c.start()
        self.assertTrue(c.publish("a/b", b"zero"))
        self.assertTrue(c.publish("a/b", b"one", qos=1))
        self.advance(1)
        sock = self.socks[0]
        self.assertEqual([p[0] for p in sock.received], [CONNECT])
        self.assertFalse(c.connected())
        sock.inbox.append(b"\x20\x02\x00\x00")
        self.advance(0.1)
        self.assertTrue(c.connected())
        self.assertEqual([p[1][5:] for p in sock.sent_of(PUBLISH, True)], [b"zero", b"\x00\x01one"])
        self.assertEqual((c.acked, c.unacked), (1, []))

    def test_a_connack_split_into_single_bytes(self):
        self.plan = [{"connack": None, "puback": False}]
        c = self.client()
        c.start()
        c.publish("t", b"x", qos=1)
        self.advance(0.1)
        sock = self.socks[0]
        for b in b"\x20\x02\x00\x00\x40\x02\x00\x01":  # CONNACK, then the PUBACK for packet id 1
            sock.inbox.append(bytes((b,)))
        self.advance(0.1)
        self.assertTrue(c.connected())
        self.assertEqual((c.acked, c.unacked), (1, []))

    def test_a_refusal_says_why_and_is_retried(self):
        self.plan = [{"connack": 5}, {"connack": 4}]
        c = self.client()
        c.start()
        self.advance(0.1)
        reason = self.offline(c)[0][1]
        self.assertIsInstance(reason, mp.MqttRefused)
        self.assertEqual(reason.code, 5)
        self.assertIn("not authorized", str(reason))
        self.assertTrue(self.socks[0].closed)
        self.advance(0.6)
        self.assertEqual(len(self.socks), 2)
        self.assertIn("bad user name or password", str(self.offline(c)[1][1]))
        self.advance(1.1)
        self.assertTrue(c.connected())

    def test_stop_says_disconnect_and_stays_down(self):
        c = self.client()
        c.start()
        self.advance(0.1)
        c.stop()
        self.assertEqual(self.socks[0].received[-1], (DISCONNECT, b""))
        self.assertTrue(self.socks[0].closed)
        self.advance(300)
        self.assertEqual(len(self.socks), 1)
        self.assertEqual(self.map, {})


class Timeout:
    def test_a_connect_that_never_completes_times_out(self):
        self.plan = [{"mode": "hang"}]
        c = self.client()
        c.connect_timeout = 10
        c.start()
        self.advance(9.9)
        self.assertEqual(self.offline(c), [])
        self.advance(0.2)
        reason = self.offline(c)[0][1]
        self.assertIsInstance(reason, OSError)
        self.assertEqual(reason.args[0], _port.ETIMEDOUT)
        self.assertTrue(self.socks[0].closed)
        self.advance(0.6)
        self.assertTrue(c.connected())

    def test_a_broker_that_never_answers_connect(self):
        self.plan = [{"connack": None}]
        c = self.client()
        c.connect_timeout = 5
        c.start()
        self.advance(4.9)
        self.assertEqual(self.offline(c), [])
        self.advance(0.2)
        self.assertIn("CONNACK", str(self.offline(c)[0][1]))
        self.advance(0.6)
        self.assertTrue(c.connected())

    def test_a_refused_tcp_connect(self):
        self.plan = [{"mode": "refuse"}]
        c = self.client()
        c.start()
        self.advance(0.1)
        reason = self.offline(c)[0][1]
        self.assertEqual(reason.args[0], support.ECONNREFUSED)
        self.assertIn("errno %d" % support.ECONNREFUSED, mqtt_client.describe(reason))
        self.advance(0.5)
        self.assertTrue(c.connected())


class KeepAlive:
    def online(self, **options):
        c = self.client(keepalive=60, **options)
        c.start()
        self.advance(0.01)
        self.assertTrue(c.connected())
        return c, self.socks[0]

    def test_an_idle_client_pings_once_per_keepalive(self):
        c, sock = self.online()
        self.advance(59.9)
        self.assertEqual(sock.sent_of(PINGREQ), [])
        self.advance(0.2)
        self.assertEqual(len(sock.sent_of(PINGREQ)), 1)
        self.advance(240)
        self.assertEqual(len(sock.sent_of(PINGREQ)), 5)  # at 60, 120, 180, 240 and 300 s
        self.assertTrue(c.connected())
        self.assertEqual(len(self.socks), 1)

    def test_no_pingresp_means_the_broker_is_gone(self):
        self.plan = [{"pingresp": False}]
        c, sock = self.online()
        c.ping_timeout = 10
        self.advance(69.9)
        self.assertEqual(len(sock.sent_of(PINGREQ)), 1)
        self.assertEqual(self.offline(c), [])
        self.advance(0.2)
        self.assertIn("PINGRESP", str(self.offline(c)[0][1]))
        self.assertTrue(sock.closed)
        self.advance(0.6)
        self.assertEqual(len(self.socks), 2)
        self.assertTrue(c.connected())

    def test_acknowledged_traffic_needs_no_ping(self):
        c, sock = self.online()
        for _ in range(10):
            c.publish("t", b"x", qos=1)
            self.advance(20)
        self.assertEqual(sock.sent_of(PINGREQ), [])
        self.assertEqual(c.acked, 10)

    def test_sending_without_hearing_still_pings(self):
        # QoS 0 brings nothing back: a broker that went silent must still be noticed
        c, sock = self.online()
        for _ in range(8):
            c.publish("t", b"x")
            self.advance(25)
        self.assertEqual(len(sock.sent_of(PINGREQ)), 3)  # at 60, 120 and 180 s

    def test_keepalive_zero_never_pings(self):
        c = self.client(keepalive=0)
        c.start()
        self.advance(1000)
        self.assertEqual(self.socks[0].sent_of(PINGREQ), [])
        self.assertTrue(c.connected())


class Backoff:
    def test_the_delays_double_up_to_the_cap(self):
        got = [mqtt_client.backoff_delay(n, 1, 60, 0.0) for n in range(10)]
        self.assertEqual(got, [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30])
        top = [mqtt_client.backoff_delay(n, 1, 60, 0.99) for n in range(8)]
        for n in range(8):
            d = min(60, 1 << n)
            self.assertTrue(d / 2 <= top[n] < d, (n, top[n]))
        self.assertEqual(mqtt_client.backoff_delay(1000, 1, 60, 0.0), 30)

    def test_the_random_fraction_is_in_range(self):
        for _ in range(200):
            f = mqtt_client.random_fraction()
            self.assertTrue(0 <= f < 1, f)

    def test_refused_attempts_back_off_and_a_connack_resets(self):
        self.plan = [{"mode": "refuse"}] * 8 + [{}, {"mode": "refuse"}]
        c = self.client()
        c.backoff_cap = 16
        c.start()
        self.advance(200)
        gaps = [_port.ticks_diff(self.socks[i + 1].opened, self.socks[i].opened) for i in range(8)]
        self.assertEqual(gaps, [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000])
        self.assertTrue(c.connected())
        self.socks[8].inbox.append(b"")  # the broker goes away: the count starts over
        self.advance(0.1)
        self.assertEqual(self.offline(c)[-1][2], 0.5)
        self.advance(3)
        self.assertEqual(len(self.socks), 11)
        self.assertTrue(c.connected())

    def test_jitter_spreads_each_delay(self):
        self.plan = [{"mode": "refuse"}] * 4
        c = self.client()
        c.jitter = lambda: 0.5
        c.start()
        self.advance(30)
        self.assertEqual([e[2] for e in self.offline(c)], [0.75, 1.5, 3, 6])
