# examples/http in process, connection lifetime: keep-alive, pipelining, closing, the idle timer and
# the connection budget, on fake sockets stepped through the loop, then on loopback sockets.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
from http_fakes import GET, PEER, HttpTestCase, http_service, parse_responses  # first: it puts examples/http on sys.path

import unittest

import support
import uasyncore
import uasyncore_port as _port
import uasyncore_slots


##### keep-alive and connection lifetime


class KeepAliveTest(HttpTestCase):
    def test_several_requests_on_one_connection(self):
        sock, conn = self.connect(GET % b"/")
        self.run_loop()
        sock.inbox.append(GET % b"/api/status")
        self.run_loop()
        sock.inbox.append(b"HEAD / HTTP/1.1\r\nHost: d\r\n\r\n")
        self.run_loop()
        got = parse_responses(sock.sent, head_only=(2,))
        self.assertEqual([r[0] for r in got], [200, 200, 200])
        self.assertEqual(got[1][1]["content-type"], "application/json")
        self.assertFalse(sock.closed)
        self.assertEqual(self.server.open_connections, 1)

    def test_pipelined_requests_are_answered_in_order(self):
        reqs = GET % b"/" + GET % b"/nope" + GET % b"/api/status"
        got = self.exchange(reqs)[0]
        self.assertEqual([r[0] for r in got], [200, 404, 200])
        self.assertTrue(got[0][1]["content-type"].startswith("text/html"))
        self.assertEqual(got[2][1]["content-type"], "application/json")

    def test_a_request_split_byte_by_byte(self):
        req = GET % b"/api/status"
        got, sock, conn = self.exchange(*[req[i : i + 1] for i in range(len(req))])
        self.assertEqual([r[0] for r in got], [200])

    def test_bare_lf_line_ends(self):
        got = self.exchange(b"GET / HTTP/1.1\nHost: d\n\n")[0]
        self.assertEqual([r[0] for r in got], [200])

    def test_empty_lines_before_a_request_are_skipped(self):
        got = self.exchange(b"\r\n\r\n" + GET % b"/")[0]
        self.assertEqual([r[0] for r in got], [200])

    def test_connection_close_is_honoured(self):
        self.assertStatus(b"GET / HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n", 200)
        self.assertEqual(self.server.open_connections, 0)

    def test_http10_closes_by_default(self):
        self.assertStatus(b"GET / HTTP/1.0\r\n\r\n", 200)

    def test_http10_keeps_alive_when_asked(self):
        self.assertStatus(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 200, closes=False)

    def test_nothing_after_close_is_answered(self):
        reqs = b"GET / HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n" + GET % b"/api/status"
        got, sock, conn = self.exchange(reqs)
        self.assertEqual([r[0] for r in got], [200])
        self.assertTrue(sock.closed)

    def test_one_response_in_flight(self):
        # the socket takes 100 bytes and then nothing: the second request must wait, parked
        sock, conn = self.connect(GET % b"/" + GET % b"/api/status", send_plan=[100] + [0] * 10)
        self.run_loop(10)
        self.assertEqual(len(sock.sent), 100)
        self.assertEqual(len(conn.producer_fifo), 1)
        self.assertTrue(conn.parked.startswith(b"GET /api/status"))
        self.assertEqual(self.poller.mask(sock) & support.IN, 0, "not polled for input")
        sock.send_plan = []  # the client reads again
        self.run_loop()
        self.assertEqual([r[0] for r in parse_responses(sock.sent)], [200, 200])
        self.assertEqual(conn.parked, b"")
        self.assertEqual(self.poller.mask(sock) & support.IN, support.IN, "polled for input again")

    def test_an_idle_connection_is_not_asked_every_pass(self):
        sock, conn = self.connect(GET % b"/")
        self.run_loop()
        self.assertEqual(len(parse_responses(sock.sent)), 1)
        self.assertFalse(support.asked_every_pass(conn))
        self.assertEqual(self.poller.mask(sock) & (support.IN | support.OUT), support.IN, "polled for input only")
        self.assertTrue(conn._io_errors_handled, "async_chat's fast path: no recv()/send() of its own")

    def test_client_closing_mid_request(self):
        sock, conn = self.connect(b"GET /api/st", b"")
        self.run_loop()
        self.assertTrue(sock.closed)
        self.assertEqual(bytes(sock.sent), b"")
        self.assertEqual(self.server.open_connections, 0)
        self.assertEqual(list(self.map.values()), [self.server], "only the listener is left")

    def test_client_closing_between_requests(self):
        sock, conn = self.connect(GET % b"/", b"")
        self.run_loop()
        self.assertTrue(sock.closed)
        self.assertEqual([r[0] for r in parse_responses(sock.sent)], [200])

    def test_an_error_closes_only_its_own_connection(self):
        good, good_conn = self.connect(GET % b"/")
        bad, bad_conn = self.connect(b"\x00\xff garbage\r\n\r\n")
        self.run_loop()
        self.assertTrue(bad.closed)
        self.assertEqual(parse_responses(bad.sent)[0][0], 400)
        self.assertFalse(good.closed)
        good.inbox.append(GET % b"/api/status")
        self.run_loop()
        self.assertEqual([r[0] for r in parse_responses(good.sent)], [200, 200])

    def test_handler_exception_closes_the_connection(self):
        sock, conn = self.connect(GET % b"/")
        conn.request_line = None  # a bug in the handler: calling it raises TypeError
        self.run_loop()
        self.assertTrue(sock.closed)
        self.assertEqual(self.server.open_connections, 0)


##### idle timeout and the connection budget


class LimitsTest(HttpTestCase):
    def test_idle_connection_is_closed(self):
        sock, conn = self.connect()
        self.run_loop()
        self.clock.advance(http_service.IDLE_TIMEOUT - 1)
        self.run_loop()
        self.assertFalse(sock.closed)
        self.clock.advance(1)
        self.run_loop()
        self.assertTrue(sock.closed)
        self.assertEqual(self.server.open_connections, 0)

    def test_a_head_must_come_within_the_request_timeout(self):
        sock, conn = self.connect(b"GET / HTTP/1.1\r\n")
        self.run_loop()
        self.clock.advance(http_service.REQUEST_TIMEOUT - 0.001)
        sock.inbox.append(b"X: 1\r\n")  # a trickle of headers does not keep it alive
        self.run_loop()
        self.assertFalse(sock.closed)
        self.clock.advance(0.001)
        sock.inbox.append(b"X: 2\r\n")
        self.run_loop()
        self.assertTrue(sock.closed)
        self.assertEqual(bytes(sock.sent), b"")
        self.assertEqual(self.server.open_connections, 0)

    def test_the_request_timeout_counts_from_each_requests_first_byte(self):
        sock, conn = self.connect(GET % b"/")
        self.run_loop()
        self.clock.advance(http_service.REQUEST_TIMEOUT * 2)  # idle between requests: no deadline
        sock.inbox.append(b"GET / HTTP/1.1\r\n")
        self.run_loop()
        self.clock.advance(http_service.REQUEST_TIMEOUT - 0.001)
        sock.inbox.append(b"Host: d\r\n\r\n")
        self.run_loop()
        self.assertEqual(len(parse_responses(sock.sent)), 2)
        self.assertFalse(sock.closed)

    def test_each_request_restarts_the_idle_clock(self):
        sock, conn = self.connect()
        for _ in range(3):
            self.clock.advance(http_service.IDLE_TIMEOUT - 1)
            sock.inbox.append(GET % b"/api/status")
            self.run_loop()
            self.assertFalse(sock.closed)
        self.clock.advance(http_service.IDLE_TIMEOUT)
        self.run_loop()
        self.assertTrue(sock.closed)
        self.assertEqual(len(parse_responses(sock.sent)), 3)

    def test_one_timer_per_connection(self):
        timers = support.poller(self.map).timers
        before = len(timers)
        sock, conn = self.connect()
        for _ in range(5):
            sock.inbox.append(GET % b"/")
            self.run_loop()
        self.assertEqual(len(timers), before + 1)
        conn.close()
        self.assertEqual(len(timers), before)

    def test_listener_budget(self):
        # the example's budget, or the port's where that is smaller (3 on a Pico W)
        port_budget = uasyncore.dispatcher.max_connections
        expected = http_service.MAX_CLIENTS if port_budget is None else min(port_budget, http_service.MAX_CLIENTS)
        self.assertEqual(self.server.max_connections, expected)

    # A third client comes while the budget of 2 is taken.
    def client_waits(self):
        c = support.FakeSocket(peer=PEER)
        self.poller.socks.append(c)
        self.listener.accept_plan.append((c, PEER))
        self.server.handle_accept_event()
        return c

    def test_a_waiting_client_gets_the_slot_of_a_slow_request(self):
        self.server.max_connections = 2
        a, conn_a = self.connect(GET % b"/")  # served, and kept alive
        b, conn_b = self.connect(b"GET / HTTP/1.1\r\n")  # a request under way
        self.run_loop()
        c = self.client_waits()
        self.run_loop()
        self.assertFalse(a.closed or b.closed, "within their grace")
        self.clock.advance(uasyncore_slots.GRACE)
        self.run_loop()
        self.assertEqual((a.closed, b.closed), (False, True), "16 bytes of a head in a grace: too slow")
        self.assertFalse(self.server.clients_waiting)
        self.server.handle_accept_event()
        self.assertIn(_port.key(c), self.map)

    def test_a_waiting_client_gets_the_slot_of_the_connection_idle_longest(self):
        self.server.max_connections = 2
        a, conn_a = self.connect(GET % b"/")
        self.run_loop()
        self.clock.advance(0.5)
        b, conn_b = self.connect(GET % b"/")
        self.run_loop()
        self.assertEqual(parse_responses(a.sent)[0][1]["connection"], "keep-alive", "at the budget, nobody waiting")
        c = self.client_waits()
        self.run_loop()
        self.assertEqual((a.closed, b.closed), (True, False), "idle between requests the longest")
        self.server.handle_accept_event()
        self.assertIn(_port.key(c), self.map)

    def test_responses_keep_the_connection_alive_while_a_client_waits(self):
        self.server.max_connections = 2
        a, conn_a = self.connect(b"GET / HTTP/1.1\r\n")  # two requests under way
        b, conn_b = self.connect(b"GET / HTTP/1.1\r\n")
        self.run_loop()
        self.client_waits()
        self.assertTrue(self.server.clients_waiting)
        b.inbox.append(b"Host: d\r\n\r\n")
        self.run_loop()
        self.assertEqual(parse_responses(b.sent)[0][1]["connection"], "keep-alive", "the policy takes slots, not responses")
        self.assertFalse(b.closed)
        self.assertTrue(self.server.clients_waiting)


##### real sockets on loopback


class LoopbackTest(unittest.TestCase):
    def setUp(self):
        self.map = {}
        self.server = http_service.HttpServer(map=self.map)
        self.port = support.listen_any(self.server)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        uasyncore.close_all(self.map)

    def client(self):
        c = support.client(self.port)
        c.setblocking(False)
        self.clients.append(c)
        return c

    # Serve until `sock` has `count` complete responses (or has been closed); returns them.
    def read(self, sock, count, head_only=()):
        buf = [b"", False]

        def done():
            try:
                data = sock.recv(4096)
            except OSError:
                data = None
            if data == b"":
                buf[1] = True
            elif data:
                buf[0] += data
            try:
                return buf[1] or len(parse_responses(buf[0], head_only)) >= count
            except (AssertionError, KeyError, ValueError):
                return False

        support.run_until(done, map=self.map, passes=500)
        return parse_responses(buf[0], head_only), buf[1]

    def test_keep_alive_on_a_real_socket(self):
        c = self.client()
        c.send(GET % b"/")
        got, closed = self.read(c, 1)
        self.assertEqual([r[0] for r in got], [200])
        c.send(GET % b"/api/status" + b"HEAD / HTTP/1.1\r\nHost: d\r\n\r\n")
        got, closed = self.read(c, 2, head_only=(1,))
        self.assertEqual([r[0] for r in got], [200, 200])
        self.assertFalse(closed)
        self.assertEqual(self.server.open_connections, 1)

    def test_error_then_the_server_goes_on(self):
        c = self.client()
        c.send(b"BAD REQUEST\r\n\r\n")
        got, closed = self.read(c, 1)
        self.assertEqual([r[0] for r in got], [400])
        d = self.client()
        d.send(GET % b"/api/status")
        got, closed = self.read(d, 1)
        self.assertEqual([r[0] for r in got], [200])

    def test_budget_holds_back_extra_clients(self):
        self.server.max_connections = 1
        a = self.client()
        support.run_until(lambda: self.server.open_connections == 1, map=self.map)
        b = self.client()
        b.send(GET % b"/")
        for _ in range(30):
            uasyncore.loop(timeout=0.005, count=1, map=self.map)
        self.assertEqual(self.server.open_connections, 1, "the second client waits for a slot")
        a.close()
        self.clients.remove(a)
        got, closed = self.read(b, 1)
        self.assertEqual([r[0] for r in got], [200])
