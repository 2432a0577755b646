# Loop cases: registrations with the persistent poller, maps edited by hand.
#
# Imported by tests/test_loop.py after support, so MicroPython compiles it once uasyncore is loaded
# (a module is compiled whole, and uasyncore alone takes most of a 128 KiB heap to compile).
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import uasyncore
from loop_kit import IN, OUT, PEER, READ, Chooser, HandMade, Recorder, fake_socket, key


class Registration:
    def test_plain_dispatcher_is_registered_once(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Recorder(sock, map=m)
        for _ in range(4):
            poller.script.append([(sock, IN | OUT)])
        self.poll(m, 5)
        self.assertEqual(poller.take(), [("register", key(sock), READ | OUT)])
        self.assertEqual(d.events, ["read", "write"] * 4)

    def test_listener_is_registered_for_reading_only(self):
        m, poller = self.map()
        accepted = []

        class Listener(uasyncore.dispatcher):
            def handle_accepted(self, sock, addr):
                accepted.append(addr)

        lsock = support.FakeSocket(accept_plan=[(fake_socket(), PEER)])
        d = Listener(map=m)
        d.set_socket(lsock)
        d.listen(5)
        self.poll(m, 3)
        self.assertEqual(poller.take(), [("register", key(lsock), READ)])
        poller.script.append([(lsock, IN)])
        self.poll(m, 3)
        self.assertEqual(accepted, [PEER])
        self.assertEqual(poller.take(), [])

    def test_listen_after_registration_drops_write_interest(self):
        m, poller = self.map()
        lsock = fake_socket()
        d = uasyncore.dispatcher(map=m)
        d.set_socket(lsock)
        self.poll(m)
        self.assertEqual(poller.take(), [("register", key(lsock), READ | OUT)])
        d.listen(5)
        self.poll(m, 3)
        self.assertEqual(poller.take(), [("modify", key(lsock), READ)])

    def test_writable_override_gets_modify_only_when_its_answer_changes(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Chooser(sock, map=m)
        k = key(sock)
        self.poll(m, 3)
        self.assertEqual(poller.take(), [("register", k, READ)])
        self.assertEqual(d.asked, 3, "an overriding channel is asked every pass")
        d.want_write = True
        self.poll(m, 3)
        self.assertEqual(poller.take(), [("modify", k, READ | OUT)])
        d.want_write = False
        self.poll(m, 3)
        self.assertEqual(poller.take(), [("modify", k, READ)])

    def test_no_interest_unregisters_and_interest_registers_again(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Chooser(sock, map=m)
        d.want_write = True
        k = key(sock)
        self.poll(m)
        self.assertEqual(poller.take(), [("register", k, READ | OUT)])
        d.want_read = d.want_write = False
        self.poll(m, 2)
        self.assertEqual(poller.take(), [("unregister", k, 0)])
        self.assertEqual(poller.mask(sock), 0)
        d.want_read = True
        self.poll(m, 2)
        self.assertEqual(poller.take(), [("register", k, READ)])
        self.assertIn(k, m)

    def test_channel_without_interest_is_not_registered_until_it_has_some(self):
        m, poller = self.map()
        sock = fake_socket()
        d = Chooser(sock, map=m)
        d.want_read = False
        self.poll(m, 2)
        self.assertEqual(poller.take(), [])
        d.want_write = True
        self.poll(m)
        self.assertEqual(poller.take(), [("register", key(sock), OUT)])

    def test_close_unregisters_and_forgets_the_channel(self):
        m, poller = self.map()
        plain_sock = fake_socket()
        plain = Recorder(plain_sock, map=m)
        watched_sock = fake_socket()
        watched = Chooser(watched_sock, map=m)
        keys = [key(plain_sock), key(watched_sock)]  # before close(): a closed socket's fileno is -1
        self.poll(m)
        poller.take()
        plain.close()
        watched.close()
        self.assertCountEqual(poller.take(), [("unregister", keys[0], 0), ("unregister", keys[1], 0)])
        self.assertEqual(poller.masks, {})
        self.assertEqual(m, {})
        self.assertTrue(plain_sock.closed and watched_sock.closed)
        asked = watched.asked
        self.poll(m, 2)
        self.assertEqual(poller.take(), [])
        self.assertEqual(watched.asked, asked, "a closed channel was still asked for its interest")

    def test_channel_closed_from_readable_is_dropped(self):
        # maintenance inside readable() (waitress does this) may close channels, itself included
        m, poller = self.map()
        victims = [Chooser(fake_socket(), map=m) for _ in range(2)]

        class Janitor(Chooser):
            reap = ()

            def readable(self):
                while self.reap:
                    self.reap.pop().close()
                return Chooser.readable(self)

        janitor = Janitor(fake_socket(), map=m)
        self.poll(m)
        self.assertEqual(len(poller.masks), 3)
        janitor.reap = [victims[0], janitor, victims[1]]
        self.poll(m, 2)
        self.assertEqual(m, {})
        self.assertEqual(poller.masks, {})
        asked = [d.asked for d in victims]
        self.poll(m)
        self.assertEqual([d.asked for d in victims], asked)

    def test_close_before_the_first_pass_never_registers(self):
        m, poller = self.map()
        d = Recorder(fake_socket(), map=m)
        d.close()
        self.poll(m, 2)
        self.assertEqual(poller.take(), [])

    def test_events_of_a_channel_closed_in_the_pass_reach_nobody(self):
        # a's handler closes b and opens c, which the OS gives b's descriptor (on a port whose
        # keys are descriptors): b's event from this wait belongs to neither b nor c
        m, poller = self.map()
        a_sock, b_sock = fake_socket(), fake_socket()
        b = Recorder(b_sock, map=m)
        made = []

        class Closer(Recorder):
            def handle_read(self):
                Recorder.handle_read(self)
                fd = b_sock.fd
                b.close()
                c_sock = fake_socket()
                c_sock.fd = fd
                made.append(Recorder(c_sock, map=m))

        a = Closer(a_sock, map=m)
        poller.script.append([(a_sock, IN), (b_sock, IN)])
        self.poll(m)
        self.assertEqual(a.events, ["read"])
        self.assertEqual(b.events, [])
        self.assertEqual(made[0].events, [], "the new channel got the closed one's event")
        poller.script.append([(made[0].socket, IN)])
        self.poll(m)
        self.assertEqual(made[0].events, ["read"])

    def test_a_failing_handler_costs_the_others_none_of_the_passs_events(self):
        # the pass goes on after the error with the events that follow, each delivered once
        m, poller = self.map()

        class Failing(Recorder):
            def handle_read(self):
                Recorder.handle_read(self)
                raise ValueError("fault: handler")

        socks = [fake_socket() for _ in range(4)]
        chans = [Recorder(socks[0], map=m), Failing(socks[1], map=m), Recorder(socks[2], map=m), Failing(socks[3], map=m)]
        poller.script.append([(s, IN) for s in socks])
        self.poll(m)
        self.assertEqual([c.events for c in chans], [["read"], ["read", "error", "close"], ["read"], ["read", "error", "close"]])
        self.assertEqual(len(poller.waits), 1, "one pass")

    def test_channel_made_in_a_handler_is_registered_before_the_next_wait(self):
        m, poller = self.map()
        made = []

        class Maker(Recorder):
            def handle_read(self):
                made.append(Recorder(fake_socket(), map=m))

        a_sock = fake_socket()
        Maker(a_sock, map=m)
        poller.script.append([(a_sock, IN)])
        self.poll(m)
        self.assertEqual(len(made), 1)
        new_sock = made[0].socket
        poller.script.append([(new_sock, IN)])
        self.poll(m)
        self.assertEqual(poller.at_wait[1].get(key(new_sock)), READ | OUT)
        self.assertEqual(made[0].events, ["read"])


class HandEditedMap:
    def test_entry_added_by_hand_is_picked_up(self):
        m, poller = self.map()
        sock = fake_socket()
        obj = HandMade()
        m[key(sock)] = obj
        poller.script.append([(sock, IN)])
        self.poll(m)
        self.assertEqual(poller.at_wait[0].get(key(sock)), READ)
        self.assertEqual(obj.events, ["read"])

    def test_entry_removed_by_hand_is_forgotten(self):
        m, poller = self.map()
        sock = fake_socket()
        obj = HandMade()
        m[key(sock)] = obj
        self.poll(m)
        poller.take()
        del m[key(sock)]
        poller.script.append([(sock, IN)])  # an event already queued for it is not delivered
        self.poll(m)
        self.assertEqual(poller.take(), [("unregister", key(sock), 0)])
        self.assertEqual(obj.events, [])

    def test_dispatcher_removed_by_hand_then_put_back(self):
        m, poller = self.map()
        uasyncore.call_later(100, print, map=m)  # the map keeps its poller while it has no channel
        sock = fake_socket()
        d = Recorder(sock, map=m)
        k = key(sock)
        self.poll(m)
        del m[k]
        self.poll(m)
        m[k] = d
        poller.script.append([(sock, IN)])
        self.poll(m)
        self.assertEqual(poller.take(), [("register", k, READ | OUT), ("unregister", k, 0), ("register", k, READ | OUT)])
        self.assertEqual(d.events, ["read"])

    # An entry swapped by hand for another between two calls (same size): loop() and poll() look
    # at the map's keys once per call, so the new channel is registered and the old one forgotten.
    def test_entry_swapped_by_hand_is_picked_up(self):
        self.swap_by_hand(self.poll)

    def test_entry_swapped_by_hand_is_picked_up_by_loop(self):
        self.swap_by_hand(lambda m: uasyncore.loop(timeout=0, count=1, map=m))

    def swap_by_hand(self, run):
        m, poller = self.map()
        old_sock, new_sock = fake_socket(), fake_socket()
        m[key(old_sock)] = HandMade()
        run(m)
        poller.take()
        del m[key(old_sock)]
        new = HandMade()
        m[key(new_sock)] = new
        poller.script.append([(new_sock, IN)])
        run(m)
        self.assertEqual(poller.take(), [("unregister", key(old_sock), 0), ("register", key(new_sock), READ)])
        self.assertEqual(new.events, ["read"])

    # A program may replace the object under a key by hand: the poller asks the new one.
    def test_object_replaced_under_its_key_by_hand_is_asked(self):
        m, poller = self.map()
        sock = fake_socket()
        m[key(sock)] = HandMade(wants_write=False)
        self.poll(m)
        self.assertEqual(poller.take(), [("register", key(sock), READ)])
        m[key(sock)] = HandMade(wants_write=True)
        self.poll(m)
        self.assertEqual(poller.take(), [("modify", key(sock), READ | OUT)])
