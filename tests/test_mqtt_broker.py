# examples/mqtt against a real Mosquitto on a free loopback port: started by examples/run.py on host
# CPython and on micropython, watched with mosquitto_sub and the broker's own log. Readings arrive,
# QoS 1 is acknowledged, the will says "offline", a killed and restarted broker is reconnected to, a
# frozen broker is found out by keep-alive. Over TLS (a Mosquitto TLS listener, `--tls-ca`), on the
# board-like MicroPython too: readings arrive (mosquitto_sub --cafile), a restarted broker is
# reconnected to, a certificate from another CA is refused and retried with back-off, and the example
# fits the ESP32's 110K heap. CPython only: it starts processes. Tests skip when the mosquitto or
# mosquitto_sub binary is missing (Debian: apt-get install mosquitto mosquitto-clients), or openssl.
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

    import tls_certs
    from example_procs import BOARDLIKE, BOARDLIKE_FROZEN, NO_BOARDLIKE
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
TLS_CONFIG = """certfile %s
keyfile %s
"""


class Broker:
    # A Mosquitto of our own: temp config, loopback only, no persistence, its log in a file. With tls,
    # its listener speaks TLS only, with the test server certificate (tls_certs: for localhost and
    # 127.0.0.1).
    def __init__(self, test, anonymous=True, tls=False):
        self.anonymous = anonymous
        self.dir = tempfile.mkdtemp(prefix="uasyncore-mqtt-")
        os.chmod(self.dir, 0o755)  # a broker started as root reads its config as the mosquitto user
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.tls = None
        if tls:  # copies it may read (the test key is no secret): tls_certs keeps its own to root
            self.tls = []
            for kind in ("cert_pem", "key_pem"):
                path = os.path.join(self.dir, kind + ".pem")
                shutil.copyfile(tls_certs.certs()["server"][kind], path)
                os.chmod(path, 0o644)
                self.tls.append(path)
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
                if self.tls:
                    f.write(TLS_CONFIG % tuple(self.tls))
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
    # `runtime examples/run.py mqtt --port PORT [args...]`, its output read line by line on a thread.
    def __init__(self, test, runtime, port, args=(), **env):
        self.lines = []
        self.queue = queue.Queue()
        argv = runtime if isinstance(runtime, list) else [runtime]
        self.proc = subprocess.Popen(
            argv + ["examples/run.py", "mqtt", "--port", str(port)] + list(args),
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


# Messages on `topic` as (qos, retained, topic, payload): up to `count`, or what came in `seconds`;
# over TLS where a CA file is given (the broker's certificate checked against it and 127.0.0.1).
def subscribe(port, topic, count, seconds=20, cafile=None):
    cmd = [MOSQUITTO_SUB, "-h", support.HOST, "-p", str(port), "-t", topic, "-q", "1"]
    if cafile:
        cmd += ["--cafile", cafile]
    cmd += ["-C", str(count), "-W", str(seconds), "-F", "%q %r %t %p"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 10, check=False)  # -W ends it non-zero
    return [tuple(line.split(" ", 3)) for line in out.stdout.splitlines()]


class BrokerBase:
    runtime = None  # the interpreter, or an argv list that starts one
    run_args = []  # more options for run.py
    tls = False  # the broker speaks TLS, and the example is told its CA (ca_form: "pem" or "der")
    ca_form = "pem"

    # A broker on a free port, and names no other run uses: client id and topic prefix.
    def setUp(self):
        self.broker = Broker(self, tls=self.tls)
        tag = os.urandom(3).hex()
        self.client_id = "test-" + tag
        self.base = "uasyncore-test-%s/%s/" % (tag, self.client_id)
        self.ca = tls_certs.certs()["server"]["cert_pem"] if self.tls else None

    # Start the example against our broker, a reading every half second; wait until it serves. Over
    # TLS it is given the CA as ca (by default the one that signed the broker's certificate).
    def start_example(self, keepalive=60, serving=True, ca=None, **env):
        self.broker.start()
        env.update({
            "MQTT_INTERVAL": "0.5",
            "MQTT_PREFIX": self.base.split("/")[0],
            "MQTT_CLIENT_ID": self.client_id,
            "MQTT_KEEPALIVE": str(keepalive),
        })
        args = list(self.run_args)
        if self.tls:
            args += ["--tls-ca", ca or tls_certs.certs()["server"]["cert_" + self.ca_form]]
        self.example = Example(self, self.runtime, self.broker.port, args, **env)
        if not serving:
            return self.example
        line = self.example.wait_for("serving on")
        self.assertIn("%s:%d as %s" % (support.HOST, self.broker.port, self.client_id), line)
        self.assertEqual(line.endswith("over TLS"), self.tls, line)
        return self.example

    def subscribe(self, topic, count):
        return subscribe(self.broker.port, topic, count, cafile=self.ca)

    def readings(self, count):
        got = self.subscribe(self.base + "readings", count)
        self.assertEqual(len(got), count, "readings that arrived: %r" % (got,))
        return [json.loads(m[3]) for m in got]


class BrokerMixin(BrokerBase):
    def test_readings_arrive_acknowledged_and_the_will_says_offline(self):
        example = self.start_example()
        got = self.subscribe(self.base + "readings", 3)
        self.assertEqual([m[:3] for m in got], [("1", "0", self.base + "readings")] * 3)
        seqs = [json.loads(m[3])["seq"] for m in got]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 3)))
        self.assertEqual(
            sorted(json.loads(got[0][3])), ["humidity_pct", "pressure_hpa", "seq", "temperature_c", "uptime_s"]
        )
        temperature = self.subscribe(self.base + "temperature_c", 1)
        self.assertEqual(len(temperature), 1, "no temperature arrived")
        self.assertEqual(temperature[0][0], "0")  # published at QoS 0
        self.assertTrue(20.0 <= float(temperature[0][3]) <= 25.0, temperature)
        self.assertEqual(
            self.subscribe(self.base + "status", 1), [("1", "1", self.base + "status", "online")]
        )
        # the broker's own word that the QoS 1 readings were acknowledged
        acks = self.broker.log().count("Sending PUBACK to %s (m" % self.client_id)
        self.assertGreaterEqual(acks, 3)
        example.stop()  # killed: no DISCONNECT, so the broker publishes the will
        for _ in range(50):  # until the broker has seen the connection go: "online" is retained till then
            status = self.subscribe(self.base + "status", 1)
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


class TLSBrokerMixin(BrokerBase):
    tls = True

    # as in the clear, over TLS: readings, QoS 1, the will; a broker restarted (a new handshake)
    test_readings_arrive_acknowledged_and_the_will_says_offline = (
        BrokerMixin.test_readings_arrive_acknowledged_and_the_will_says_offline
    )
    test_a_restarted_broker_is_reconnected_to = BrokerMixin.test_a_restarted_broker_is_reconnected_to

    # The example started with a CA or a name the broker's certificate fails: each attempt is refused,
    # said in one line, and retried after the back-off (the first delay in [0.5, 1) s, the next in
    # [1, 2), printed to a tenth); no traceback, nothing published, the example still running.
    def check_refused(self, **options):
        example = self.start_example(serving=False, **options)
        delays = []
        for _ in range(2):
            line = example.wait_for("retrying in", 20)
            self.assertIn("certificate", line.lower())
            delays.append(float(line.rsplit("retrying in ", 1)[1].split()[0]))
        self.assertTrue(0.5 <= delays[0] <= 1.0 <= delays[1] <= 2.0, delays)
        said = "\n".join(example.lines)
        self.assertNotIn("serving on", said)
        self.assertNotIn("uncaptured", said)
        self.assertNotIn("Traceback", said)
        self.assertIsNone(example.proc.poll())
        self.assertNotIn("New client connected", self.broker.log())

    def test_a_certificate_from_another_ca_is_refused_and_retried(self):
        self.check_refused(ca=tls_certs.certs()["other"]["cert_" + self.ca_form])

    def test_a_certificate_for_another_name_is_refused_and_retried(self):
        self.check_refused(MQTT_TLS_HOSTNAME="broker.example")


@unittest.skipUnless(MOSQUITTO and MOSQUITTO_SUB, NEEDS)
class CPythonBrokerTest(BrokerMixin, unittest.TestCase):
    runtime = sys.executable


@unittest.skipUnless(MOSQUITTO and MOSQUITTO_SUB, NEEDS)
@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class MicroPythonBrokerTest(BrokerMixin, unittest.TestCase):
    runtime = MICROPYTHON


NEEDS_TLS = MOSQUITTO and MOSQUITTO_SUB and tls_certs.OPENSSL


@unittest.skipUnless(NEEDS_TLS, NEEDS + ", and openssl")
class CPythonTLSBrokerTest(TLSBrokerMixin, unittest.TestCase):
    runtime = sys.executable
    ca_form = "der"  # CPython's ssl takes PEM only: the helper converts


@unittest.skipUnless(NEEDS_TLS, NEEDS + ", and openssl")
@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class MicroPythonTLSBrokerTest(TLSBrokerMixin, unittest.TestCase):
    runtime = MICROPYTHON  # its ssl takes DER only: the helper converts the PEM


# The board-like MicroPython at the ESP32's heap, uasyncore frozen as firmware has it and the example's
# modules compiled from source there: mbedTLS's buffers come from that heap, so this is where the
# example over TLS has to fit.
@unittest.skipUnless(NEEDS_TLS, NEEDS + ", and openssl")
@unittest.skipUnless(BOARDLIKE, NO_BOARDLIKE)
class BoardLikeTLSBrokerTest(TLSBrokerMixin, unittest.TestCase):
    runtime = [BOARDLIKE_FROZEN, "-X", "heapsize=110K"]
    run_args = ["--lib", ".frozen"]
    ca_form = "der"


if __name__ == "__main__":
    unittest.main()
