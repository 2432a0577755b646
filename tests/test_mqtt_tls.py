# examples/mqtt's client over TLS, on the mqtt tests' fake network and clock with fake SSL objects
# (mbedTLS's behaviour, which the layer takes on every runtime): the MQTT bytes go through the SSL
# object, checked for the right name, and a certificate refused (MicroPython's ValueError) is a failed
# connection, retried after the back-off, not a bug. tests/test_mqtt_broker.py runs the example over
# TLS against a real Mosquitto. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import uasyncore_tls
from mqtt_fakes import CONNECT, PUBLISH, Harness, mqtt_client
from tls_fakes import FakeMbedTLS, use_want_errors

REFUSED = "\nThe certificate is not correctly signed by the trusted CA\n"  # what MicroPython's ssl says


class Context:
    # A client context whose every wrap_socket() hands out a new fake SSL object made by `make`, added
    # to `socks` (the harness's poller reports each one there as it reports a socket).
    def __init__(self, make, socks):
        self.make = make
        self.socks = socks
        self.hostnames = []

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None):
        self.hostnames.append(server_hostname)
        ssl = self.make()
        ssl.raw = sock
        ssl.mode = "accept"
        self.socks.append(ssl)
        return ssl


# An SSL object whose handshake is under way: the first write (the CONNECT) waits inside it.
def handshaking():
    ssl = FakeMbedTLS()
    ssl.write_plan = [None]
    return ssl


# One whose handshake ends in the certificate check failing.
def refusing():
    ssl = handshaking()
    ssl.inbox = [ValueError(REFUSED)]
    return ssl


# What uasyncore_tls believes a TLS connection costs on the GC heap (0: nothing checked).
def set_cost(n):
    uasyncore_tls._cost[0] = n


class MqttOverTLSTest(Harness, unittest.TestCase):
    def setUp(self):
        Harness.setUp(self)
        use_want_errors(self)
        self.addCleanup(set_cost, uasyncore_tls._cost[0])
        set_cost(0)  # no memory check: fake SSL objects cost nothing
        self.logged = []
        self.addCleanup(setattr, mqtt_client._Link, "log_info", mqtt_client._Link.log_info)
        mqtt_client._Link.log_info = lambda link, message, type="info": self.logged.append(message)

    # A started client over TLS whose connections get SSL objects made by `make`: (client, context).
    def tls_client(self, make, **options):
        ctx = Context(make, self.socks)
        c = self.client(tls=ctx, **options)
        c.start()
        return c, ctx

    def test_mqtt_goes_through_the_ssl_object_checked_for_the_name_given(self):
        c, ctx = self.tls_client(handshaking, server_hostname="broker.example")
        self.advance(0.1)
        raw, ssl = self.socks
        self.assertEqual(ctx.hostnames, ["broker.example"])
        self.assertEqual(ssl.wire[:1], bytes((CONNECT,)), "the CONNECT, retried once its write could go")
        self.assertFalse(c.connected())
        ssl.inbox = [b"\x20\x02\x00\x00"]  # CONNACK: accepted
        self.advance(0.1)
        self.assertTrue(c.connected())
        self.assertEqual(raw.sent, b"", "nothing in the clear")
        c.publish("a/b", b"over tls", qos=1)
        self.advance(0.1)
        self.assertIn(bytes((PUBLISH | 2,)), ssl.wire)
        self.assertIn(b"over tls", ssl.wire)
        self.assertEqual(self.logged, [])

    def test_a_refused_certificate_is_a_failed_connection_retried_after_the_back_off(self):
        c, ctx = self.tls_client(refusing)
        self.advance(0.1)
        self.assertEqual(ctx.hostnames, ["127.0.0.1"], "the broker's address is the name checked by default")
        offline = self.offline(c)
        self.assertEqual(len(offline), 1)
        self.assertIsInstance(offline[0][1], ValueError)
        self.assertEqual(offline[0][2], 0.5)  # the first back-off, with no jitter
        self.assertEqual(
            mqtt_client.describe(offline[0][1]), "The certificate is not correctly signed by the trusted CA"
        )
        raw, ssl = self.socks
        self.assertTrue(raw.closed and ssl.closed)
        self.assertEqual(self.map, {})
        self.advance(0.6)
        self.assertEqual([e[2] for e in self.offline(c)], [0.5, 1.0])
        self.assertEqual(len(ctx.hostnames), 2)
        self.assertEqual(self.logged, [], "a refused certificate is not logged as a bug")
        self.assertFalse(c.connected())

    def test_a_value_error_once_connected_is_still_a_bug(self):
        c, ctx = self.tls_client(handshaking)
        self.advance(0.1)
        ssl = self.socks[1]
        ssl.inbox = [b"\x20\x02\x00\x00"]
        self.advance(0.1)
        self.assertTrue(c.connected())
        ssl.inbox = [ValueError("a bug")]
        self.advance(0.1)
        self.assertEqual(len(self.logged), 1)
        self.assertIn("a bug", self.logged[0])


if __name__ == "__main__":
    unittest.main()
