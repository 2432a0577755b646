# Frames on MicroPython (docs/boards.md, "Frames"): a function whose frame is over 11 words takes it
# from the heap at every call, and with many connections open that allocation is slow. What runs for
# every message must not, except the few known below. tools/frames.py reads the figures from
# MicroPython's own compiler. Runs on CPython (it drives micropython); the MicroPython runner skips it.
import support  # noqa: F401  (first, as in every test module: it sets the paths)

import os
import sys
import unittest

try:
    import subprocess  # noqa: F401  (tools/frames.py runs micropython)
except ImportError:
    raise unittest.SkipTest("drives micropython: needs subprocess")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import frames  # noqa: E402  (tools/ is not a package)

MICROPYTHON = frames.find_micropython()
PORTS = ("ports/unix/uasyncore_port.py", "ports/esp32/uasyncore_port.py", "ports/rp2/uasyncore_port.py")

# What runs for every message a channel reads or writes: module -> functions.
PER_MESSAGE = {
    "lib/uasyncore.py": [
        "_dispatch",
        "_send",
        "_recv",
        "dispatcher.handle_read_event",
        "dispatcher.handle_write_event",
        "dispatcher.send",
        "dispatcher.send_from",
        "dispatcher.recv",
        "dispatcher.recv_into",
        "dispatcher._sent",
        "dispatcher._read",
        "dispatcher._output_level",
        "dispatcher._phase_read",
        "dispatcher.end_phase",
        "dispatcher.interest_changed",
        "dispatcher_with_send.send",
        "dispatcher_with_send.send_from",
        "dispatcher_with_send.initiate_send",
        "dispatcher_with_send.handle_write",
        "dispatcher_with_send.writable",
        "dispatcher_with_send._add_queued",
        "dispatcher_with_send._enqueue",
    ],
    "lib/uasynchat.py": [
        "async_chat.handle_read",
        "async_chat._frame",
        "async_chat.get_terminator",
        "async_chat._collect_incoming_data",
        "async_chat._get_data",
        "async_chat.push",
        "async_chat._queue",
        "async_chat.initiate_send",
        "async_chat._send_one",
        "async_chat.handle_write",
        "async_chat.writable",
        "_window",
        "find_prefix_at_end",
    ],
    "lib/uasyncore_dgram.py": [
        "_recvfrom",
        "datagram_dispatcher.recvfrom",
        "datagram_dispatcher.handle_read",
        "datagram_dispatcher.sendto",
        "datagram_dispatcher._transmit",
        "datagram_dispatcher._sockaddr",
        "datagram_dispatcher._failed",
        "datagram_dispatcher_with_send.sendto",
        "datagram_dispatcher_with_send.writable",
        "datagram_dispatcher_with_send.handle_write",
        "datagram_dispatcher_with_send.initiate_send",
        "datagram_dispatcher_with_send._change",
        "datagram_dispatcher_with_send._level",
    ],
    # MicroPython's TLS path (the _OpenSSL class runs on CPython only, where frames cost little)
    "lib/uasyncore_tls.py": [
        "TLSSocket.send",
        "TLSSocket.write",
        "TLSSocket._write_chunk",
        "TLSSocket.recv",
        "TLSSocket.recv_into",
        "_MbedTLS._readable",
        "_MbedTLS._writable",
        "_MbedTLS._read_event",
        "_MbedTLS._write_event",
        "_MbedTLS._write",
        "_MbedTLS._read",
        "_MbedTLS._read_into",
    ],
    "examples/echo/echo_service.py": ["EchoHandler.handle_read"],
    "examples/udp_echo/udp_echo_service.py": ["UdpEcho.handle_datagram"],
    "examples/http/http_service.py": [
        "HttpConnection.handle_read",
        "HttpConnection.handle_write",
        "HttpConnection.collect_incoming_data",
        "HttpConnection.found_terminator",
        "HttpConnection.request_line",
        "HttpConnection.header",
        "HttpConnection.end_of_head",
        "HttpConnection.keep_alive",
        "HttpConnection.reset",
        "response",
        "canned",
        "request_path",
        "http_version",
        "_is_token",
    ],
    "examples/control/control_service.py": [
        "ControlConnection.collect_incoming_data",
        "ControlConnection.found_terminator",
        "ControlConnection.command",
        "ControlConnection.do_help",
        "ControlConnection.do_get",
        "ControlConnection.do_set",
        "ControlConnection.do_status",
        "printable",
    ],
    "examples/mqtt/mqtt_client.py": [
        "_Link.handle_read",
        "_Link.handle_write",
        "MqttClient._received",
        "MqttClient._handle",
        "MqttClient._acknowledged",
        "MqttClient.publish",
        "MqttClient._room",
        "MqttClient._queue",
        "MqttClient._send",
        "MqttClient._flush",
        "MqttClient._write",
    ],
    "examples/mqtt/mqtt_packets.py": [
        "PacketReader.feed",
        "PacketReader.next",
        "publish_packet",
        "encode_length",
        "decode_length",
        "parse_puback",
    ],
}
for _port_file in PORTS:
    # io_call(): the socket call itself runs in _io_runner, a generator made once
    PER_MESSAGE[_port_file] = ["io_call", "recv_into", "send_part", "sendto"]

# What runs once a pass, whatever number of events it delivers (one heap frame a pass is one a
# message only when a pass has one event), and for each channel whose interest changed.
PER_PASS = {
    "lib/uasyncore.py": [
        "_Poller.run_once",
        "_Poller.run_timers",
        "_Poller.refresh",
        "_Poller.ask_unreported",
        "_Poller.ask",
        "_register",
        "_interest",
    ],
}
for _port_file in PORTS:
    PER_PASS[_port_file] = ["_Poll.wait"]

# Listed above and known to take a heap frame today: exactly these (a fixed one must leave the list).
KNOWN_HEAP = {
    # the loop's one try per pass (delivering events, running timers)
    ("lib/uasyncore.py", "_Poller.run_once"),
    ("lib/uasyncore.py", "_Poller.run_timers"),
    # asking the channels that do not report their interest: a pass with any pays one frame
    ("lib/uasyncore.py", "_Poller.ask_unreported"),
    # the examples' request handling, which builds bytes for each request anyway
    ("examples/http/http_service.py", "HttpConnection.request_line"),
    ("examples/http/http_service.py", "HttpConnection.header"),
    ("examples/http/http_service.py", "HttpConnection.end_of_head"),
    ("examples/http/http_service.py", "response"),
    ("examples/http/http_service.py", "canned"),
    ("examples/http/http_service.py", "request_path"),
    ("examples/control/control_service.py", "ControlConnection.command"),
    ("examples/control/control_service.py", "ControlConnection.do_status"),
    ("examples/mqtt/mqtt_client.py", "MqttClient.publish"),
    ("examples/mqtt/mqtt_packets.py", "publish_packet"),
}


def _describe(f):
    return "%s %s: N_STATE %d + 3 x N_EXC_STACK %d = %d words" % (f.module, f.qualname, f.n_state, f.n_exc_stack, f.words)


@unittest.skipUnless(MICROPYTHON, "micropython not installed")
class FrameBudget(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        files = sorted(set(PER_MESSAGE) | set(PER_PASS))
        found = frames.measure([os.path.join(ROOT, f) for f in files], MICROPYTHON)
        cls.frames = {}
        for f in found:
            cls.frames.setdefault((f.module, f.qualname), []).append(f)

    # Each listed function's frames (one per def of that name), failing loudly on a name that is gone.
    def listed(self, table):
        out = {}
        for module, names in sorted(table.items()):
            for name in names:
                found = self.frames.get((module, name))
                if not found:
                    self.fail("%s has no function %s any more: update the lists in tests/test_frames.py" % (module, name))
                out[(module, name)] = found
        return out

    def test_every_listed_function_exists(self):
        self.listed(PER_MESSAGE)
        self.listed(PER_PASS)
        for entry in KNOWN_HEAP:
            self.assertTrue(entry[1] in PER_MESSAGE.get(entry[0], []) + PER_PASS.get(entry[0], []), entry)

    def test_per_message_functions_keep_their_frames_off_the_heap(self):
        heap = [_describe(f) for key, found in self.listed(PER_MESSAGE).items() if key not in KNOWN_HEAP for f in found if f.heap]
        self.assertEqual(heap, [], "now take a heap frame at every call (over 11 words)")

    def test_known_heap_frames_are_exactly_those_listed(self):
        listed = self.listed(PER_MESSAGE)
        listed.update(self.listed(PER_PASS))
        heap = {key for key, found in listed.items() if any(f.heap for f in found)}
        fixed = sorted("%s %s" % key for key in KNOWN_HEAP - heap)
        self.assertEqual(fixed, [], "off the heap now: take them out of KNOWN_HEAP")
        new = sorted(_describe(f) for key in heap - KNOWN_HEAP for f in listed[key])
        self.assertEqual(new, [], "take a heap frame at every call")

    # The rule itself, on functions whose figures cannot drift: at 11 words a frame is on the stack.
    def test_the_rule_counts_words_as_micropython_does(self):
        on_stack = frames.Frame("m", "f", 1, 11, 0, False, 4)
        over = frames.Frame("m", "f", 1, 9, 1, False, 4)
        generator = frames.Frame("m", "f", 1, 20, 2, True, 4)
        self.assertEqual((on_stack.heap, over.heap, generator.heap), (False, True, False))
        self.assertEqual(self.frames[(PORTS[0], "_io_runner")][0].verdict(), "generator")


if __name__ == "__main__":
    unittest.main()
