# examples/mqtt against a real Mosquitto on a free loopback port: started by examples/run.py on host
# CPython and on micropython, watched with mosquitto_sub and the broker's own log. Readings arrive,
# QoS 1 is acknowledged, the will says "offline", a killed and restarted broker is reconnected to, a
# frozen broker is found out by keep-alive. CPython only: it starts processes. Tests skip when the
# mosquitto or mosquitto_sub binary is missing (Debian: apt-get install mosquitto mosquitto-clients).
import support  # noqa: I001  (first, as in every test module)

import json
import os
import socket
import sys
import unittest

try:
    import queue
    import shutil
    import signal
    import subprocess
    import sysconfig
    import tempfile
    import threading
    import time
except ImportError:
    raise unittest.SkipTest("starts processes: needs subprocess")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = shutil.which("micropython", path=sysconfig.get_path("scripts")) or shutil.which("micropython")
# Debian installs the broker in /usr/sbin, which a non-root PATH may lack
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
MOSQUITTO_SUB = shutil.which("mosquitto_sub")
NEEDS = "needs mosquitto and mosquitto_sub (apt-get install mosquitto mosquitto-clients)"

CONFIG = """listener %d 127.0.0.1
allow_anonymous %s
persistence false
log_dest stderr
log_type all
"""


class Broker:
    # A Mosquitto of our own: temp config, loopback only, no persistence, its log in a file.
    def __init__(self, test, anonymous=True):
        self.anonymous = anonymous
        self.dir = tempfile.mkdtemp(prefix="uasyncore-mqtt-")
        os.chmod(self.dir, 0o755)  # a broker started as root reads its config as the mosquitto user
        test.addCleanup(shutil.rmtree, self.dir, True)
        test.addCleanup(self.stop)
        self.log_path = os.path.join(self.dir, "broker.log")
        self.port = None
        self.proc = None

    # Start on a free port (or the given one, for a restart); wait until it accepts connections.
    def start(self, port=None):
        for _ in range(5):
            self.port = port or support.free_port()
            conf = os.path.join(self.dir, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write(CONFIG % (self.port, "true" if self.anonymous else "false"))
            os.chmod(conf, 0o644)
            with open(self.log_path, "a") as log:
                self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=log, stderr=subprocess.STDOUT)
            if self.wait_listening(20):
                return
            self.stop()
        raise AssertionError("mosquitto did not start; its log:\n" + self.log())

    def wait_listening(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                socket.create_connection((support.HOST, self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()  # SIGKILL: no clean goodbye to the clients; works on a stopped process too
            self.proc.wait(timeout=10)
            self.proc = None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def log(self):
        with open(self.log_path) as f:
            return f.read()


class Example:
    # `runtime examples/run.py mqtt --port PORT`, its output read line by line on a thread.
    def __init__(self, test, runtime, port, **env):
        self.lines = []
        self.queue = queue.Queue()
        self.proc = subprocess.Popen(
            [runtime, "examples/run.py", "mqtt", "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, **env),
        )
        test.addCleanup(self.stop)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    # Wait (at most `seconds`) for a line containing `text` (in any case); returns it.
    def wait_for(self, text, seconds=30):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            try:
                line = self.queue.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = ""
            if line:
                self.lines.append(line)
                if text.lower() in line.lower():
                    return line
            if line is None or left <= 0:
                raise AssertionError("no line with %r; the example said:\n%s" % (text, "\n".join(self.lines)))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


# Messages on `topic` as (qos, retained, topic, payload): up to `count`, or what came in `seconds`.
def subscribe(port, topic, count, seconds=20):
    cmd = [MOSQUITTO_SUB, "-h", support.HOST, "-p", str(port), "-t", topic, "-q", "1"]
    cmd += ["-C", str(count), "-W", str(seconds), "-F", "%q %r %t %p"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 10, check=False)  # -W ends it non-zero
    return [tuple(line.split(" ", 3)) for line in out.stdout.splitlines()]


class BrokerMixin:
    runtime = None

    # A broker on a free port, and names no other run uses: client id and topic prefix.
    def setUp(self):
        self.broker = Broker(self)
        tag = os.urandom(3).hex()
        self.client_id = "test-" + tag
        self.base = "uasyncore-test-%s/%s/" % (tag, self.client_id)

    # Start the example against our broker, a reading every half second; wait until it serves.
    def start_example(self, keepalive=60, serving=True):
        self.broker.start()
        env = {
            "MQTT_INTERVAL": "0.5",
            "MQTT_PREFIX": self.base.split("/")[0],
            "MQTT_CLIENT_ID": self.client_id,
            "MQTT_KEEPALIVE": str(keepalive),
        }
        self.example = Example(self, self.runtime, self.broker.port, **env)
        if not serving:
            return self.example
        line = self.example.wait_for("serving on")
        self.assertIn("%s:%d as %s" % (support.HOST, self.broker.port, self.client_id), line)
        return self.example

    def readings(self, count):
        got = subscribe(self.broker.port, self.base + "readings", count)
        self.assertEqual(len(got), count, "readings that arrived: %r" % (got,))
        return [json.loads(m[3]) for m in got]

    def test_readings_arrive_acknowledged_and_the_will_says_offline(self):
        example = self.start_example()
        got = subscribe(self.broker.port, self.base + "readings", 3)
        self.assertEqual([m[:3] for m in got], [("1", "0", self.base + "readings")] * 3)
        seqs = [json.loads(m[3])["seq"] for m in got]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 3)))
        self.assertEqual(
            sorted(json.loads(got[0][3])), ["humidity_pct", "pressure_hpa", "seq", "temperature_c", "uptime_s"]
        )
        temperature = subscribe(self.broker.port, self.base + "temperature_c", 1)
        self.assertEqual(len(temperature), 1, "no temperature arrived")
        self.assertEqual(temperature[0][0], "0")  # published at QoS 0
        self.assertTrue(20.0 <= float(temperature[0][3]) <= 25.0, temperature)
        self.assertEqual(
            subscribe(self.broker.port, self.base + "status", 1), [("1", "1", self.base + "status", "online")]
        )
        # the broker's own word that the QoS 1 readings were acknowledged
        acks = self.broker.log().count("Sending PUBACK to %s (m" % self.client_id)
        self.assertGreaterEqual(acks, 3)
        example.stop()  # killed: no DISCONNECT, so the broker publishes the will
        for _ in range(50):  # until the broker has seen the connection go: "online" is retained till then
            status = subscribe(self.broker.port, self.base + "status", 1)
            if status and status[0][3] == "offline":
                break
            time.sleep(0.1)
        self.assertEqual(status, [("1", "1", self.base + "status", "offline")])

    def test_a_restarted_broker_is_reconnected_to(self):
        example = self.start_example()
        before = self.readings(1)[0]["seq"]
        self.broker.stop()
        self.assertIn("retrying in", example.wait_for("closed the connection", 15))
        self.assertIn("retrying in", example.wait_for("refused", 15))  # tried again while it was down
        self.broker.start(self.broker.port)
        example.wait_for("reconnected to", 40)
        after = [r["seq"] for r in self.readings(2)]
        self.assertGreater(after[0], before)
        self.assertEqual(after[1], after[0] + 1)
        self.assertIsNone(example.proc.poll())

    def test_a_frozen_broker_is_found_out_by_keepalive(self):
        example = self.start_example(keepalive=2)
        self.readings(1)
        self.broker.signal(signal.SIGSTOP)
        try:
            example.wait_for("no PINGRESP", 20)
        finally:
            self.broker.signal(signal.SIGCONT)
        example.wait_for("reconnected to", 60)
        self.readings(2)
        self.assertIsNone(example.proc.poll())
        # what the frozen broker never acknowledged went again on the new connection, marked DUP
        self.assertIn("Received PUBLISH from %s (d1, q1" % self.client_id, self.broker.log())

    def test_a_broker_refusal(self):
        self.broker.anonymous = False  # and no password file: every client is refused
        example = self.start_example(serving=False)
        for _ in range(2):  # refused, and refused again after the back-off
            line = example.wait_for("retrying in", 20)
            self.assertIn("broker refused the connection: not authorized (return code 5)", line)
        self.assertNotIn("serving on", "\n".join(example.lines))
        self.assertIsNone(example.proc.poll())


@unittest.skipUnless(MOSQUITTO and MOSQUITTO_SUB, NEEDS)
class CPythonBrokerTest(BrokerMixin, unittest.TestCase):
    runtime = sys.executable


@unittest.skipUnless(MOSQUITTO and MOSQUITTO_SUB, NEEDS)
@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class MicroPythonBrokerTest(BrokerMixin, unittest.TestCase):
    runtime = MICROPYTHON


if __name__ == "__main__":
    unittest.main()
