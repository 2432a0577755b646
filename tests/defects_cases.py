# Cases for tests/test_defects.py: asyncore's known defects, each fixed in uasyncore (every case
# fails on CPython 3.11's asyncore).  Mixins: the test module pairs each with a fake-polled base.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import time
import unittest

import uasyncore
from defects_scenarios import (
    HAS_SHUTDOWN,
    accept_burst_scenario,
    exhausted_accept_scenario,
    half_close_scenario,
    port_scan_scenario,
    real_stale_event,
    stale_event_scenario,
)
from dispatcher_kit import PEER, step
from support import HOST, HUP, IN, FakeSocket, oserror

_port = uasyncore._port


class StaleEvent:
    def test_new_channel_on_a_reused_fd_gets_no_event_from_that_pass(self):
        reused, seen = real_stale_event(uasyncore)
        self.assertTrue(reused)
        self.assertEqual(seen, [])

    def test_same_with_fake_sockets(self):
        def reopen(fd):
            sock = FakeSocket()
            sock.fd = fd  # what the OS does with descriptor numbers
            return sock

        socks = (FakeSocket(peer=PEER, inbox=[b"x"]), FakeSocket(peer=PEER, inbox=[b"y"]))

        def run():
            step(self.m, self.fake, (socks[0], IN), (socks[1], IN))

        reused, seen = stale_event_scenario(uasyncore, self.m, socks, reopen, run)
        self.assertTrue(reused)
        self.assertEqual(seen, [])
        self.assertEqual(len(self.m), 2)  # the survivor and the newcomer


class HalfClose:
    @unittest.skipUnless(HAS_SHUTDOWN, "sockets have no shutdown()")
    def test_every_pending_byte_is_read_before_close(self):
        self.assertEqual(half_close_scenario(uasyncore), (65536, True))

    def test_in_and_hup_passes_read_every_chunk_before_close(self):
        data = bytes(range(250)) * 18  # 4500 bytes: four full reads and a short one
        sock = FakeSocket(peer=PEER, inbox=[data, b""])
        got = bytearray()
        closes = []

        class Receiver(uasyncore.dispatcher):
            def handle_read(self):
                got.extend(self.recv(1000))

            def handle_close(self):
                closes.append(len(got))
                self.close()

        Receiver(sock, map=self.m)
        passes = 0
        while self.m and passes < 20:
            step(self.m, self.fake, (sock, IN | HUP))
            passes += 1
        self.assertEqual(bytes(got), data)
        self.assertEqual(closes, [len(data)])
        self.assertEqual(passes, 6)  # five reads of data; the sixth reads the end and closes


class Listener(uasyncore.dispatcher):
    def __init__(self, sock, map):
        uasyncore.dispatcher.__init__(self, map=map)
        self.accepted = []
        self.logged = []
        self.set_socket(sock)
        self.listen(5)

    def log_info(self, message, type="info"):
        self.logged.append(type)

    def handle_accepted(self, sock, addr):
        self.accepted.append(addr)


class AcceptExhaustion:
    def test_emfile_and_enfile_leave_the_listener_open(self):
        for err in (support.EMFILE, support.ENFILE):
            self.assertEqual(exhausted_accept_scenario(uasyncore, err), (True, True, False))

    def test_listener_pauses_then_serves_again(self):
        self.addCleanup(setattr, uasyncore, "ACCEPT_BACKOFF", uasyncore.ACCEPT_BACKOFF)
        uasyncore.ACCEPT_BACKOFF = 0.3
        for err in (support.EMFILE, support.ENFILE):
            sock = FakeSocket(accept_plan=[oserror(err)])
            d = Listener(sock, self.m)
            step(self.m, self.fake)
            self.assertEqual(self.fake.mask(sock) & IN, IN)
            step(self.m, self.fake, (sock, IN))  # accept fails
            step(self.m, self.fake)  # a pass within the rest: still not polled
            self.assertEqual(self.fake.mask(sock), 0)
            self.assertTrue(d.accepting)
            self.assertIs(self.m.get(_port.key(sock)), d)
            self.assertFalse(sock.closed)
            self.assertNotIn("error", d.logged)
            uasyncore.loop(timeout=30.0, count=1, map=self.m)
            self.assertLessEqual(self.fake.waits[-1], 300)  # the loop wakes for the resume
            time.sleep(0.35)
            passes = 0
            while not self.fake.mask(sock) and passes < 5:
                step(self.m, self.fake)
                passes += 1
            self.assertEqual(self.fake.mask(sock) & IN, IN)
            sock.accept_plan.append((FakeSocket(), (HOST, 5000)))
            step(self.m, self.fake, (sock, IN))
            self.assertEqual(d.accepted, [(HOST, 5000)])
            d.close()


class AcceptBurst:
    def test_pending_connections_are_all_accepted_in_one_pass(self):
        accepted = accept_burst_scenario(uasyncore, 3)
        self.assertEqual(len(accepted), 3)
        self.assertEqual([a[0] for a in accepted], [HOST] * 3)

    def test_one_pass_takes_every_pending_connection_up_to_the_burst(self):
        n = uasyncore.ACCEPT_BURST + 2
        sock = FakeSocket(accept_plan=[(FakeSocket(), (HOST, 6000 + i)) for i in range(n)])
        d = Listener(sock, self.m)
        step(self.m, self.fake, (sock, IN))
        self.assertEqual(len(d.accepted), uasyncore.ACCEPT_BURST)
        step(self.m, self.fake, (sock, IN))
        self.assertEqual(d.accepted, [(HOST, 6000 + i) for i in range(n)])
        self.assertEqual(sock.accept_plan, [])


class PortScan:
    def test_a_client_gone_before_its_handler_asks_getpeername_leaves_the_listener_open(self):
        self.assertEqual(port_scan_scenario(uasyncore), (True, False, [(HOST, 5001)]))
