# examples/mqtt's session and service on a fake network and a fake clock: QoS 1 retransmission with
# DUP, packet ids, the bounded offline queue, a full socket, the sensor service's topics and lines.
#
# The cases live in mqtt_session_cases.py (fakes and the harness: mqtt_fakes.py); this module stays
# small and imports support (hence uasyncore) before they are compiled, as test_mqtt_client.py does.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import mqtt_session_cases as session
from mqtt_fakes import Harness


class RetransmitTest(session.Retransmit, Harness, unittest.TestCase):
    pass


class OfflineQueueTest(session.OfflineQueue, Harness, unittest.TestCase):
    pass


class SensorServiceTest(session.SensorService, Harness, unittest.TestCase):
    pass


if __name__ == "__main__":
    unittest.main()
