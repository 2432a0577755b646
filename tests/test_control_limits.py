# examples/control in process, a connection's lifetime: QUIT, the idle timeout (on a fake clock),
# the connection budget, flow control and clients that go away, on fake sockets stepped one loop
# pass at a time. Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
from test_control_handler import PEER, ControlCase, cs, replies  # first: it puts examples/control on sys.path

import support
import uasyncore

IN = support.IN
OUT = support.OUT


##### QUIT and clients that go away


class QuitTest(ControlCase):
    def test_quit_closes_after_the_reply(self):
        sock = self.connect()[0]
        self.assertEqual(self.feed(sock, b"QUIT\r\n"), [b"OK bye"])
        self.step(sock, OUT)
        self.assertTrue(sock.closed)
        self.assertEqual(self.server.open_connections, 0)
        self.assertEqual(list(self.map.values()), [self.server], "only the listener is left")

    def test_nothing_after_quit_is_answered(self):
        sock = self.connect()[0]
        self.assertEqual(self.feed(sock, b"GET temp\nQUIT\nSET led on\nHELP\n"), [b"OK temp 19.5", b"OK bye"])
        self.feed(sock, b"GET mem\n")
        self.step(sock, OUT)
        self.assertTrue(sock.closed)
        self.assertEqual(replies(sock.sent), [b"OK temp 19.5", b"OK bye"])
        self.assertFalse(self.server.device.led_on)

    def test_quit_waits_for_its_reply_to_be_sent(self):
        sock = self.connect()[0]
        sock.send_plan = [3, 0, 0]
        sock.inbox.append(b"QUIT\n")
        self.step(sock)
        self.step(sock, OUT)
        self.assertFalse(sock.closed, "the reply is not out yet")
        sock.send_plan = []
        for _ in range(5):
            self.step(sock, OUT)
        self.assertEqual(bytes(sock.sent), b"OK bye\r\n")
        self.assertTrue(sock.closed)

    def test_client_closing_mid_line(self):
        sock = self.connect()[0]
        self.assertEqual(self.feed(sock, b"SET le", b""), [])
        self.assertTrue(sock.closed)
        self.assertEqual(self.server.open_connections, 0)
        self.assertEqual(list(self.map.values()), [self.server], "only the listener is left")
        self.assertFalse(self.server.device.led_on)

    def test_connection_reset_mid_line(self):
        sock = self.connect()[0]
        self.feed(sock, b"GET te", support.oserror(support.ECONNRESET))
        self.assertTrue(sock.closed)
        self.assertEqual(self.server.open_connections, 0)

    def test_other_clients_are_served_on(self):
        a = self.connect()[0]
        b = self.connect()[0]
        self.feed(a, b"SET le")
        self.assertEqual(self.feed(b, b"GET temp\n"), [b"OK temp 19.5"])
        self.feed(a, b"\x00\xff" * 300, b"")
        self.assertTrue(a.closed)
        self.assertEqual(self.feed(b, b"SET led on\nSTATUS\n")[0], b"OK led on")
        self.assertTrue(replies(b.sent)[-1].endswith(b" clients=1/4"))


##### the idle timeout


class IdleTest(ControlCase):
    def test_idle_connection_is_closed(self):
        sock = self.connect()[0]
        self.clock.advance(cs.IDLE_TIMEOUT - 1)
        self.step()
        self.assertFalse(sock.closed)
        self.clock.advance(1)
        self.step()
        self.assertTrue(sock.closed)
        self.assertEqual(replies(sock.sent), [b"ERR 40 idle timeout: closing"])
        self.assertEqual(self.server.open_connections, 0)

    def test_each_line_restarts_the_idle_clock(self):
        sock = self.connect()[0]
        for line in (b"GET uptime\n", b"\n", b"BAD\n"):
            self.clock.advance(cs.IDLE_TIMEOUT - 1)
            self.step()
            self.feed(sock, line)
            self.assertFalse(sock.closed, line)
        self.clock.advance(cs.IDLE_TIMEOUT)
        self.step()
        self.assertTrue(sock.closed)

    def test_a_trickle_without_line_ends_does_not_keep_it_open(self):
        sock = self.connect()[0]
        for _ in range(4):
            self.clock.advance(cs.IDLE_TIMEOUT / 4)
            self.feed(sock, b"G")
        self.step()
        self.assertTrue(sock.closed)

    def test_a_line_must_end_within_the_line_timeout(self):
        sock = self.connect()[0]
        self.feed(sock, b"SET le")
        self.clock.advance(cs.LINE_TIMEOUT - 0.001)
        self.assertEqual(self.feed(sock, b"d o"), [])
        self.assertFalse(sock.closed)
        self.clock.advance(0.001)
        self.assertEqual(self.feed(sock, b"n"), [cs.ERR_LINE_TIMEOUT[:-2]])
        self.assertTrue(sock.closed)
        self.assertFalse(self.server.device.led_on)
        self.assertEqual(self.server.open_connections, 0)

    def test_each_line_has_its_own_deadline(self):
        sock = self.connect()[0]
        for _ in range(3):
            self.feed(sock, b"GET up")
            self.clock.advance(cs.LINE_TIMEOUT - 0.001)
            self.assertEqual(self.feed(sock, b"time\n"), [b"OK uptime %d" % (self.clock.now // 1000 - 1000)])
            self.clock.advance(cs.LINE_TIMEOUT * 2)  # between lines there is no deadline, only the idle timeout
        self.assertFalse(sock.closed)

    def test_the_server_sets_the_timeout(self):
        self.server.idle_timeout = 5
        sock = self.connect()[0]
        self.clock.advance(5)
        self.step()
        self.assertTrue(sock.closed)

    def test_one_timer_per_connection(self):
        timers = support.poller(self.map).timers
        before = len(timers)
        sock, conn = self.connect()
        for _ in range(5):
            self.clock.advance(cs.IDLE_TIMEOUT / 2)
            self.feed(sock, b"GET uptime\n")
            self.step()
        self.assertEqual(len(timers), before + 1)
        conn.close()
        self.assertEqual(len(timers), before)


##### the connection budget and flow control


class BudgetTest(ControlCase):
    def test_budget_is_the_listeners_max_connections(self):
        port_budget = uasyncore.dispatcher.max_connections
        expected = cs.MAX_CLIENTS if port_budget is None else min(port_budget, cs.MAX_CLIENTS)
        self.assertEqual(cs.ControlServer.max_connections, expected)

    def test_listener_stops_at_the_budget(self):
        self.server.max_connections = 2
        socks = [support.FakeSocket(peer=PEER) for _ in range(3)]
        listener = self.listener
        listener.accept_plan = [(s, PEER) for s in socks]
        self.step(listener)
        self.assertEqual([bytes(s.sent) for s in socks], [cs.BANNER, cs.BANNER, b""])
        self.assertFalse(self.server.clients_waiting)
        self.step(listener)  # the third client is still waiting
        self.assertTrue(self.server.clients_waiting)
        self.step()
        self.assertEqual(self.poller.mask(listener), 0, "not polled at the budget")
        self.assertEqual(self.server.open_connections, 2)
        self.feed(socks[0], b"QUIT\n")
        self.step(socks[0], OUT)
        self.assertTrue(socks[0].closed)
        self.step()  # back under the budget: the listener is polled again
        self.step(listener)
        self.assertEqual(bytes(socks[2].sent), cs.BANNER)
        self.assertEqual(self.server.open_connections, 2)
        self.assertFalse(self.server.clients_waiting)

    def test_a_client_that_does_not_read_is_not_read(self):
        sock, conn = self.connect()
        sock.send_plan = [0] * 50
        sock.inbox.append(b"GET temp\n")
        self.step(sock)
        self.step()
        self.assertEqual(len(conn.producer_fifo), 1)
        self.assertEqual(self.poller.mask(sock) & IN, 0, "not polled for input")
        sock.inbox.append(b"GET humidity\n" * 10)
        for _ in range(5):
            self.step(sock, IN)
        self.assertEqual(len(sock.inbox), 1, "input waits while the reply does")
        sock.send_plan = []
        self.step(sock, OUT)
        self.step(sock, IN)
        self.assertEqual(replies(sock.sent), [b"OK temp 19.5"] + [b"OK humidity 48.8"] * 10)

    def test_an_idle_connection_is_not_asked_every_pass(self):
        sock, conn = self.connect()
        self.assertEqual(self.feed(sock, b"GET temp\n"), [b"OK temp 19.5"])
        self.step()
        self.assertFalse(support.asked_every_pass(conn))
        self.assertEqual(self.poller.mask(sock) & (IN | OUT), IN, "polled for input only")
