# Cases for examples/mqtt's session (mixins; tests/test_mqtt_session.py makes them TestCases): QoS 1
# retransmission with DUP after a reconnect, packet ids, the bounded queue kept while offline,
# publishes held back while the socket is full, and the sensor service built on the client.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import gc

from mqtt_fakes import DISCONNECT, PUBLISH, Client, messages, mqtt_client, payloads, qos1_sent

import mqtt_service  # after mqtt_fakes, which puts examples/mqtt on sys.path


class Retransmit:
    def test_unacknowledged_qos1_goes_again_with_dup_and_the_same_id(self):
        self.plan = [{"puback": False}, {}, {}]
        c = self.client()
        c.start()
        self.advance(0.1)
        c.publish("t", b"one", qos=1)
        c.publish("t", b"two", qos=1)
        c.publish("t", b"zero")  # QoS 0 is never sent twice
        self.advance(1)
        self.assertEqual(qos1_sent(self.socks[0]), [(0, 1, b"one"), (0, 2, b"two")])
        self.socks[0].inbox.append(b"")  # the connection drops before any PUBACK
        self.advance(1)
        self.assertEqual(len(self.socks), 2)
        self.assertTrue(c.connected())
        self.assertEqual(qos1_sent(self.socks[1]), [(8, 1, b"one"), (8, 2, b"two")])
        self.assertEqual(payloads(self.socks[1]), [b"one", b"two"])
        self.assertEqual((c.acked, c.unacked), (2, []))
        self.socks[1].inbox.append(b"")  # acknowledged now: the next connection sends nothing again
        self.advance(1)
        self.assertEqual(len(self.socks), 3)
        self.assertEqual(self.socks[2].sent_of(PUBLISH, True), [])

    def test_a_puback_for_an_unknown_id_is_harmless(self):
        c = self.client()
        c.start()
        self.advance(0.1)
        self.socks[0].inbox.append(b"\x40\x02\x12\x34")
        self.advance(0.1)
        self.assertTrue(c.connected())
        self.assertEqual(c.acked, 0)

    def test_packet_ids_wrap_and_skip_the_held_ones(self):
        self.plan = [{"puback": False}]
        c = self.client()
        c.start()
        self.advance(0.1)
        c.publish("t", b"a", qos=1)  # id 1, never acknowledged
        c.pid = 65534
        for p in (b"b", b"c", b"d"):
            c.publish("t", p, qos=1)
        self.advance(0.1)
        self.assertEqual([s[1] for s in qos1_sent(self.socks[0])], [1, 65535, 2, 3])

    def test_an_unexpected_packet_is_a_protocol_error(self):
        c = self.client()
        c.start()
        self.advance(0.1)
        self.socks[0].inbox.append(b"\x90\x03\x00\x01\x00")  # a SUBACK nobody asked for
        self.advance(0.1)
        self.assertIn("unexpected packet", str(self.offline(c)[0][1]))
        self.assertTrue(self.socks[0].closed)
        self.advance(1)
        self.assertTrue(c.connected())


class OfflineQueue:
    def test_qos0_drops_the_oldest_and_qos1_refuses_beyond_the_limit(self):
        c = self.client()
        for i in range(15):
            self.assertTrue(c.publish("t", b"q0-%d" % i))
        taken = [c.publish("t", b"q1-%d" % i, qos=1) for i in range(25)]
        self.assertEqual(taken, [True] * 20 + [False] * 5)
        self.assertEqual((c.dropped, c.refused), (5, 5))
        c.start()
        self.advance(0.1)
        want = [b"q0-%d" % i for i in range(5, 15)] + [b"q1-%d" % i for i in range(20)]
        self.assertEqual(payloads(self.socks[0]), want)
        self.assertEqual((c.acked, c.unacked, c.outbox), (20, [], []))
        self.assertTrue(c.publish("t", b"more", qos=1))

    def test_a_full_socket_holds_publishes_back_until_it_drains(self):
        self.plan = [{"puback": False}]
        c = self.client()
        c.start()
        self.advance(0.1)
        sock = self.socks[0]
        sock.stalled = True  # the socket takes nothing for a while
        gc.collect()
        try:
            c.publish("t", bytes(mqtt_client.OUT_LIMIT))
        except MemoryError:  # the 128K run: by now no 2 KB block is left in one piece
            self.skipTest("no contiguous 2 KB left on this heap for the big message")
        for i in range(12):
            c.publish("t", b"%d" % i)
        self.assertEqual(len(c.outbox), mqtt_client.MAX_QUEUED_QOS0)
        self.assertEqual(c.dropped, 2)
        sock.stalled = False
        self.advance(0.1)
        self.assertEqual(payloads(sock), [bytes(mqtt_client.OUT_LIMIT)] + [b"%d" % i for i in range(2, 12)])
        self.assertEqual(c.outbox, [])


class Publisher(mqtt_service.SensorPublisher):
    # The service's publisher on the harness's sockets; keeps the lines it would print.
    make_socket = Client.make_socket

    def __init__(self, harness, **options):
        mqtt_service.SensorPublisher.__init__(self, "127.0.0.1", 1883, "dev", "home", 10, map=harness.map, **options)
        self.harness = harness
        self.jitter = lambda: 0.0
        self.lines = []
        harness.clients.append(self)

    def say(self, line):
        self.lines.append(line)


class SensorService:
    def test_the_simulation_is_a_function_of_the_reading_number(self):
        self.assertEqual(mqtt_service.simulated_sensor(7), mqtt_service.simulated_sensor(7))
        low, high = 100.0, -100.0  # kept as two numbers, not a list: the 128K heap run
        for n in range(300):
            t = mqtt_service.simulated_sensor(n)[0]
            low, high = min(low, t), max(high, t)
        self.assertTrue(low >= 20.0 and high <= 25.0, (low, high))
        self.assertNotEqual(mqtt_service.simulated_sensor(0)[0], mqtt_service.simulated_sensor(10)[0])

    def test_json_is_the_same_bytes_everywhere(self):
        got = mqtt_service.reading_json(3, 61, (20.3, None, 1010.0))
        want = '{"seq": 3, "uptime_s": 61, "temperature_c": 20.3, "humidity_pct": null, "pressure_hpa": 1010.0}'
        self.assertEqual(got, want)

    def test_readings_every_interval_and_status_online(self):
        p = Publisher(self)
        p.start()
        self.advance(25)
        sock = self.socks[0]
        self.assertIn(b"home/dev/status\x00\x07offline", sock.received[0][1])  # the will in CONNECT
        got = messages(sock)
        self.assertIn((1, 1, b"home/dev/status", b"online"), got)
        readings = [m[3] for m in got if m[2] == b"home/dev/readings" and m[0] == 1]
        self.assertEqual(len(readings), 3)  # at 0, 10 and 20 s
        values = mqtt_service.simulated_sensor(3)
        self.assertEqual(readings[2], mqtt_service.reading_json(3, 20, values).encode())
        self.assertIn((0, 0, b"home/dev/temperature_c", b"%.1f" % values[0]), got)
        self.assertEqual(len([m for m in got if m[2] == b"home/dev/pressure_hpa"]), 3)

    def test_a_failing_or_partial_sensor_costs_only_what_it_cannot_read(self):
        def sensor(seq):
            if seq == 2:
                raise OSError(5, "I2C bus error")
            return (21.5, None, 1000.0)

        p = Publisher(self, sensor=sensor)
        p.start()
        self.advance(25)
        got = messages(self.socks[0])
        readings = [m[3] for m in got if m[2] == b"home/dev/readings"]
        self.assertEqual(len(readings), 2)
        self.assertIn(b'"seq": 3', readings[1])
        self.assertIn(b'"humidity_pct": null', readings[1])
        self.assertEqual([m for m in got if m[2] == b"home/dev/humidity_pct"], [])
        self.assertIn("reading 2 failed", p.lines[1])

    def test_the_first_online_says_serving_on_and_later_ones_reconnected(self):
        p = Publisher(self)
        p.start()
        self.advance(1)
        self.socks[0].inbox.append(b"")
        self.advance(2)
        self.assertTrue(p.lines[0].startswith("mqtt: serving on 127.0.0.1:1883 as dev"), p.lines[0])
        self.assertIn("closed the connection; retrying in 0.5 s", p.lines[1])
        self.assertEqual(p.lines[2], "mqtt: reconnected to 127.0.0.1:1883")

    def test_stop_says_offline_before_disconnect(self):
        p = Publisher(self)
        p.start()
        self.advance(1)
        p.stop()
        self.assertEqual(messages(self.socks[0])[-1], (0, 1, b"home/dev/status", b"offline"))
        self.assertEqual(self.socks[0].received[-1], (DISCONNECT, b""))
        self.advance(60)
        self.assertEqual(len(self.socks), 1)  # stopped: no sampling, no reconnecting
