# examples/http in process, what is served: the HTML page and the JSON status, the simulated sensors,
# and main.py, the board's entry point.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001
from http_fakes import GET, HttpTestCase, http_service  # first: it puts examples/http on sys.path

import gc
import json
import unittest

import device_status


##### the two pages


class PagesTest(HttpTestCase):
    def test_page_is_html_with_the_device_facts(self):
        status, headers, body = self.assertStatus(GET % b"/", 200, closes=False)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertEqual(int(headers["content-length"]), len(body))
        text = body.decode()
        for fact in ("uasyncore-device", "Uptime", "Temperature", "Humidity", "Free memory", "/api/status"):
            self.assertIn(fact, text)

    def test_status_is_json(self):
        status, headers, body = self.assertStatus(GET % b"/api/status", 200, closes=False)
        self.assertEqual(headers["content-type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["device"], "uasyncore-device")
        self.assertEqual(doc["uptime_s"], 0)
        readings = doc["readings"]
        self.assertEqual(sorted(readings), ["humidity_pct", "pressure_hpa", "temperature_c"])
        self.assertEqual(readings["temperature_c"], 19.5)  # the simulation at uptime 0
        if hasattr(gc, "mem_free"):
            self.assertIsInstance(doc["mem_free"], int)
            self.assertGreater(doc["mem_free"], 0)
        else:
            self.assertIsNone(doc["mem_free"])

    def test_uptime_follows_the_clock(self):
        self.clock.advance(3725)
        body = self.assertStatus(GET % b"/api/status", 200, closes=False)[2]
        self.assertEqual(json.loads(body)["uptime_s"], 3725)
        page = self.assertStatus(GET % b"/", 200, closes=False)[2]
        self.assertIn(b"0d 01:02:05", page)

    def test_head_sends_the_get_headers_without_body(self):
        real_mem_free = device_status.mem_free
        device_status.mem_free = lambda: 54321  # free memory between the two requests would change the length
        try:
            get = self.assertStatus(GET % b"/", 200, closes=False)
            got, sock, conn = self.exchange(b"HEAD / HTTP/1.1\r\nHost: d\r\n\r\n", head_only=(0,))
        finally:
            device_status.mem_free = real_mem_free
        self.assertEqual(got[0][0], 200)
        self.assertEqual(got[0][1]["content-length"], get[1]["content-length"])
        self.assertTrue(bytes(sock.sent).endswith(b"\r\n\r\n"), "no body after the head")

    def test_query_string_is_ignored(self):
        self.assertStatus(GET % b"/api/status?verbose=1", 200, closes=False)

    def test_absolute_form_target(self):
        self.assertStatus(b"GET http://device/api/status HTTP/1.1\r\nHost: device\r\n\r\n", 200, closes=False)

    def test_a_custom_sensor_and_name(self):
        self.server.status = device_status.Status("kitchen <1>", lambda t: (21.4, None, float("nan")))
        body = self.assertStatus(GET % b"/api/status", 200, closes=False)[2]
        doc = json.loads(body)
        self.assertEqual(doc["device"], "kitchen <1>")
        self.assertEqual(doc["readings"], {"temperature_c": 21.4, "humidity_pct": None, "pressure_hpa": None})
        page = self.assertStatus(GET % b"/", 200, closes=False)[2]
        self.assertIn(b"kitchen &lt;1&gt;", page)

    def test_sensors_are_read_at_most_once_a_second(self):
        reads = []

        def sensor(t):
            reads.append(t)
            return (20.0 + len(reads), 50.0, 1000.0)

        self.server.status = device_status.Status(sensors=sensor)
        first = json.loads(self.assertStatus(GET % b"/api/status", 200, closes=False)[2])
        self.assertStatus(GET % b"/", 200, closes=False)
        again = json.loads(self.assertStatus(GET % b"/api/status", 200, closes=False)[2])
        self.assertEqual((reads, again), ([0], first))
        self.clock.advance(1)
        later = json.loads(self.assertStatus(GET % b"/api/status", 200, closes=False)[2])
        self.assertEqual(reads, [0, 1])
        self.assertEqual(later["readings"]["temperature_c"], 22.0)

    def test_failing_sensor_is_a_500_for_that_client_only(self):
        def broken(t):
            raise OSError(5, "i2c bus")

        self.server.status = device_status.Status(sensors=broken)
        self.assertStatus(GET % b"/", 500)
        self.server.status = device_status.Status()
        self.assertStatus(GET % b"/", 200, closes=False)


class SensorsTest(unittest.TestCase):
    def test_simulation_is_a_function_of_uptime(self):
        self.assertEqual(device_status.simulated_sensors(0), (19.5, 47.3, 1008.0))
        self.assertEqual(device_status.simulated_sensors(300), (24.5, 47.3, 1009.6))
        self.assertEqual(device_status.simulated_sensors(1234), device_status.simulated_sensors(1234 + 3600))

    def test_readings_stay_in_range(self):
        for t in range(0, 3600, 7):
            temp, hum, pres = device_status.simulated_sensors(t)
            self.assertTrue(19.5 <= temp <= 24.5, (t, temp))
            self.assertTrue(38.0 <= hum <= 52.0, (t, hum))
            self.assertTrue(1008.0 <= pres <= 1018.0, (t, pres))

    def test_numbers_that_json_cannot_carry_are_null(self):
        self.assertEqual(device_status._number(None), "null")
        self.assertEqual(device_status._number(float("nan")), "null")
        self.assertEqual(device_status._number(float("inf")), "null")
        self.assertEqual(device_status._number(-3.14), "-3.1")


##### main.py, the board's entry point


class BoardMainTest(unittest.TestCase):
    def test_main_serves_on_port_80_of_every_interface(self):
        try:
            import network  # noqa: F401
        except ImportError:
            pass
        else:
            self.skipTest("a board: main.py would join Wi-Fi")
        with open(support.ROOT + "/examples/http/main.py") as f:
            source = f.read()
        calls = []
        real = http_service.main
        http_service.main = lambda *args, **kwargs: calls.append((args, kwargs))
        try:
            exec(source, {"__name__": "__main__"})
        finally:
            http_service.main = real
        self.assertEqual(calls, [((), {"host": "0.0.0.0", "port": 80})])
