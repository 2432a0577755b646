# examples/control in process: an error line for every bad command, and line framing (line ends,
# split reads, over-long lines, pipelining), on fake sockets stepped one loop pass at a time.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
from test_control_handler import ControlCase, control_device, cs, replies  # first: it puts examples/control on sys.path


##### bad commands: one error line each, and the connection goes on


BAD = (
    (b"FOO", b"ERR 20 unknown command: HELP lists the commands"),
    (b"GETT temp", b"ERR 20 unknown command: HELP lists the commands"),
    (b"HELP me", b"ERR 22 extra argument"),
    (b"GET", b"ERR 21 missing argument: GET temp|humidity|uptime|mem"),
    (b"GET pressure", b"ERR 23 unknown name: GET temp|humidity|uptime|mem"),
    (b"GET temp now", b"ERR 22 extra argument"),
    (b"SET", b"ERR 21 missing argument: SET led on|off, SET interval N"),
    (b"SET fan on", b"ERR 23 unknown name: SET led on|off, SET interval N"),
    (b"SET led", b"ERR 21 missing argument: SET led on|off"),
    (b"SET led dim", b"ERR 24 bad value: SET led on|off"),
    (b"SET led on now", b"ERR 22 extra argument"),
    (b"SET interval", b"ERR 21 missing argument: SET interval 1-3600"),
    (b"SET interval 0", b"ERR 24 bad value: SET interval 1-3600"),
    (b"SET interval 3601", b"ERR 24 bad value: SET interval 1-3600"),
    (b"SET interval -5", b"ERR 24 bad value: SET interval 1-3600"),
    (b"SET interval 1e3", b"ERR 24 bad value: SET interval 1-3600"),
    (b"SET interval 99999999999999999999", b"ERR 24 bad value: SET interval 1-3600"),
    (b"SET interval 10 20", b"ERR 22 extra argument"),
    (b"STATUS now", b"ERR 22 extra argument"),
    (b"QUIT now", b"ERR 22 extra argument"),
    (b"GET\x00temp", b"ERR 11 bad bytes: commands are printable ASCII"),
    (b"GET temp\rGET mem", b"ERR 11 bad bytes: commands are printable ASCII"),
    (b"\xff\xfe\x80", b"ERR 11 bad bytes: commands are printable ASCII"),
    (b"GET \xc2\xb0C", b"ERR 11 bad bytes: commands are printable ASCII"),
    (b"\x1b[A", b"ERR 11 bad bytes: commands are printable ASCII"),
)


class ErrorTest(ControlCase):
    def test_each_bad_command_gets_its_error(self):
        sock = self.connect()[0]
        for line, err in BAD:
            self.assertEqual(self.feed(sock, line + b"\r\n"), [err], line)
        self.assertFalse(sock.closed)
        self.assertEqual(self.feed(sock, b"GET temp\n"), [b"OK temp 19.5"])

    def test_bad_commands_change_nothing(self):
        sock = self.connect()[0]
        self.feed(sock, b"SET led dim\nSET interval 0\nSET led on now\n")
        self.assertEqual((self.server.device.led_on, self.server.device.interval), (False, 10))

    def test_a_failing_pin_is_a_device_error(self):
        class BrokenLed:
            def value(self, v=None):
                if v:
                    raise OSError(5, "EIO")

        self.use_device(control_device.Device(led=BrokenLed()))
        sock, conn = self.connect()
        conn.log_info = lambda *args: None
        self.assertEqual(self.feed(sock, b"SET led on\n"), [b"ERR 50 device error"])
        self.assertFalse(self.server.device.led_on)
        self.assertEqual(self.feed(sock, b"SET led off\nGET temp\n"), [b"OK led off", b"OK temp 19.5"])

    def test_a_sensor_it_cannot_read_is_n_a(self):
        self.use_device(control_device.Device(sensors=lambda t: (None, float("nan"))))
        self.assertEqual(self.ask(b"GET temp\n"), [b"OK temp n/a"])
        self.assertEqual(self.ask(b"GET humidity\n"), [b"OK humidity n/a"])


##### lines: line ends, split reads, over-long lines, pipelining

SCRIPT = b"GET temp\r\n\r\nset LED on\n   \n" + b"x" * 140 + b"\r\nHELP extra\nGET humidity\n"
SCRIPT_REPLIES = [b"OK temp 19.5", b"OK led on", cs.ERR_TOO_LONG[:-2], b"ERR 22 extra argument", b"OK humidity 48.8"]


class LineTest(ControlCase):
    def test_lf_and_crlf_line_ends(self):
        self.assertEqual(self.ask(b"GET temp\n"), self.ask(b"GET temp\r\n"))

    def test_empty_and_blank_lines_are_ignored(self):
        sock = self.connect()[0]
        self.assertEqual(self.feed(sock, b"\n", b"\r\n", b" \t \r\n", b"\n\n\r\n"), [])
        self.assertEqual(self.feed(sock, b"\r\n\nGET temp\n"), [b"OK temp 19.5"])

    def test_spaces_and_tabs_between_words(self):
        self.assertEqual(self.ask(b"  SET \t led   on  \r\n"), [b"OK led on"])

    def test_pipelined_commands_in_one_read(self):
        sock = self.connect()[0]
        self.assertEqual(self.feed(sock, SCRIPT), SCRIPT_REPLIES)
        many = b"GET uptime\n" * 20 + b"SET led off\n" + b"BAD\n" * 3
        got = self.feed(sock, many)
        self.assertEqual(got, [b"OK uptime 0"] * 20 + [b"OK led off"] + [cs.ERR_UNKNOWN[:-2]] * 3)

    def test_split_at_every_point(self):
        for i in range(1, len(SCRIPT)):
            sock, conn = self.connect()
            self.assertEqual(self.feed(sock, SCRIPT[:i], SCRIPT[i:]), SCRIPT_REPLIES, i)
            conn.close()

    def test_one_byte_at_a_time(self):
        sock = self.connect()[0]
        got = self.feed(sock, *[SCRIPT[i : i + 1] for i in range(len(SCRIPT))])
        self.assertEqual(got, SCRIPT_REPLIES)

    def test_line_length_limit(self):
        word = b"GET temp" + b" " * (cs.MAX_LINE - 8)  # exactly MAX_LINE bytes: allowed
        self.assertEqual(self.ask(word + b"\n"), [b"OK temp 19.5"])
        self.assertEqual(self.ask(word + b"\r\n"), [b"OK temp 19.5"])
        self.assertEqual(self.ask(word + b" \n"), [cs.ERR_TOO_LONG[:-2]])
        self.assertEqual(self.ask(word + b" \r\n"), [cs.ERR_TOO_LONG[:-2]])
        self.assertEqual(self.ask(word + b"\r\r\n"), [cs.ERR_TOO_LONG[:-2]])

    def test_over_long_line_is_dropped_not_kept(self):
        sock, conn = self.connect()
        # 20 KB in reads of READ_SIZE bytes, the same chunk each time so that the test holds little
        z = b"z" * cs.READ_SIZE
        sock.inbox = [b"SET led on "] + [z] * 80 + [b"\nGET temp\n"]
        for _ in range(200):
            if not sock.inbox:
                break
            self.step(sock)
            self.assertTrue(len(conn.line) <= cs.MAX_LINE + 1, len(conn.line))
            self.assertTrue(len(conn.ac_in_buffer) <= cs.READ_SIZE)
        got = replies(sock.sent)
        self.assertEqual(got, [cs.ERR_TOO_LONG[:-2], b"OK temp 19.5"], "one error, then the next line")
        self.assertFalse(self.server.device.led_on, "the long line did nothing")
        self.assertEqual(set(sock.recv_sizes), {cs.READ_SIZE})

    def test_over_long_line_split_at_every_point(self):
        data = b"Y" * (cs.MAX_LINE + 1) + b"\r\nGET temp\n"
        for i in range(1, len(data)):
            sock, conn = self.connect()
            got = self.feed(sock, data[:i], data[i:])
            self.assertEqual(got, [cs.ERR_TOO_LONG[:-2], b"OK temp 19.5"], i)
            conn.close()
