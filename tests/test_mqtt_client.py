# examples/mqtt's packets and client on a fake network and a fake clock: encoding, the stream reader,
# the handshake, timeouts, keep-alive, back-off. QoS 1 retransmission, the offline queue and the
# service are in test_mqtt_session.py.
#
# The cases live in mqtt_packet_cases.py and mqtt_client_cases.py (fakes and the harness:
# mqtt_fakes.py). MicroPython compiles a module whole, and uasyncore alone takes most
# of a board-sized heap to compile, so this module stays small and imports support (hence
# uasyncore) before the cases are compiled. tests/test_mqtt_broker.py runs the example against a
# real Mosquitto. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import mqtt_client_cases as client
import mqtt_packet_cases as packets
from mqtt_fakes import Harness


class RemainingLengthTest(packets.RemainingLength, unittest.TestCase):
    pass


class OutgoingPacketTest(packets.OutgoingPacket, unittest.TestCase):
    pass


class PacketReaderTest(packets.Reader, unittest.TestCase):
    pass


class AnswersTest(packets.Answers, unittest.TestCase):
    pass


class HandshakeTest(client.Handshake, Harness, unittest.TestCase):
    pass


class TimeoutTest(client.Timeout, Harness, unittest.TestCase):
    pass


class KeepAliveTest(client.KeepAlive, Harness, unittest.TestCase):
    pass


class BackoffTest(client.Backoff, Harness, unittest.TestCase):
    pass


if __name__ == "__main__":
    unittest.main()
