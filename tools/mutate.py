#!/usr/bin/env python3
# Mutation run: plant one one-line bug at a time in a copy of the tree and run the unit tests, which
# must catch it (fail). A bug they miss "survives": a gap in the tests, or a line that does not matter.
#
#   python3 tools/mutate.py [-k SUBSTRING] [--list] [--keep]
#
# Each mutation is an exact snippet of a lib/ module and its replacement. A
# snippet found nowhere, or more than once, is STALE: the code moved on without this list, and that
# fails the run as a survivor does (edit the snippet, or drop the mutation with the code it tested).
# The tests are tests/test_*.py but the end-to-end files (processes, examples, boards), under pytest:
# about 5 s a run on this machine, one mutation after another. Exit status 1 when a mutation
# survives or is stale, or when the unmutated copy already fails.
import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COPIED = ("lib", "ports", "tests", "examples", "tools")
# Test files that start processes or boards: slow, and what they check is also checked by unit tests.
END_TO_END = {
    "test_alloc.py",  # MicroPython only: skipped under pytest
    "test_boardlike.py",
    "test_dropin.py",
    "test_dns_server.py",  # starts dnsmasq
    "test_control_example.py",
    "test_crowds.py",  # crowds on real sockets for seconds each; test_slots.py has the policy's rules
    "test_examples.py",
    "test_frames.py",  # frame sizes, not behaviour
    "test_heap_burst.py",
    "test_mpy.py",
    "test_mqtt_broker.py",
    "test_packaging.py",
    "test_runner_shim.py",
    "test_vboard.py",
    "test_vboard_examples.py",
    "test_wheel.py",
    "test_tls_real.py",  # TLS with real peers and processes (test_tls.py has the layer's unit tests)
    "test_dns_server.py",  # a real dnsmasq (test_dns.py has the resolver's unit tests)
    "test_port_parts.py",  # runs the assembler
}
CORE = "lib/uasyncore.py"
CHAT = "lib/uasynchat.py"
SLOTS = "lib/uasyncore_slots.py"
TLS = "lib/uasyncore_tls.py"

# (what the bug is, file, snippet, replacement): each a bug that the tests should see.
MUTATIONS = [
    # flow control
    ("pause_writing only past out_high, not at it", CORE,
     "and queued >= self.out_high:", "and queued > self.out_high:"),
    ("resume_writing only under out_low, not at it", CORE,
     "if queued <= self.out_low:", "if queued < self.out_low:"),
    ("pause_writing a byte before out_high", CORE,
     "and queued >= self.out_high:", "and queued >= self.out_high - 1:"),
    ("resume_writing a byte before out_low", CORE,
     "if queued <= self.out_low:", "if queued <= self.out_low + 1:"),
    ("pause_reading does not tell the poller", CORE,
     "self._reading_paused = True\n            self.interest_changed()", "self._reading_paused = True"),
    ("resume_reading leaves _reading_paused set", CORE,
     "self._reading_paused = False\n            self.interest_changed()", "self.interest_changed()"),
    ("a paused channel's hang-up closes it with input unread", CORE,
     'if getattr(obj, "_reading_paused", False):\n            obj.resume_reading()',
     "if False:\n            obj.resume_reading()"),
    ("async_chat's initiate_send forgets the watermarks", CHAT,
     "        self.interest_changed()  # emptied; or filled by hand (not by push) and not all sent yet\n        self._output_level(self._queued)",
     "        self.interest_changed()  # emptied; or filled by hand (not by push) and not all sent yet"),
    # error routing
    ("a peer gone (ECONNRESET, EPIPE...) in a handler goes to handle_error", CORE,
     "in _DISCONNECTED and not getattr(obj, \"connecting\", False):\n        obj.handle_close()",
     "in () and not getattr(obj, \"connecting\", False):\n        obj.handle_close()"),
    ("a failed connect with a disconnect errno goes to handle_close", CORE,
     "in _DISCONNECTED and not getattr(obj, \"connecting\", False):", "in _DISCONNECTED:"),
    ("send/recv raise a peer gone instead of closing", CORE,
     "        if err in _DISCONNECTED:\n            self.handle_close()\n            return nothing",
     "        if err in ():\n            self.handle_close()\n            return nothing"),
    ("a read error other than a peer gone is dropped", CORE,
     "            self._io_error(why)\n            return nothing\n        raise why",
     "            self._io_error(why)\n            return nothing\n        return nothing"),
    # events
    ("a hang-up with data closes before the data is read", CORE,
     "if flags & _CLOSED and not flags & _IN and", "if flags & _CLOSED and"),
    ("a failed connect's hang-up is delivered as events", CORE,
     '        if getattr(obj, "connecting", False):\n            err = _port.sock_error',
     '        if getattr(obj, "connected", False):\n            err = _port.sock_error'),
    ("recv() of end of stream does not close", CORE,
     "        if not n:\n            self.handle_close()\n            return True",
     "        if n is None:\n            self.handle_close()\n            return True"),
    ("after a handler fails, the rest of the pass's events are dropped", CORE,
     "                _event_error(obj, e)\n        _hung_up[0] = None",
     "                _event_error(obj, e)\n                break\n        _hung_up[0] = None"),
    ("out-of-band data is taken for a socket error", CORE,
     "if _port.sock_error(self.socket) != 0:", "if _port.sock_error(self.socket) == 0:"),
    ("a read event does not complete a pending connect", CORE,
     "        if not self.connected and self.connecting:\n            self.handle_connect_event()\n        self.handle_read()",
     "        self.handle_read()"),
    ("a completed connect does not tell the poller", CORE,
     "        self.interest_changed()  # writable() may depend on connected", "        pass"),
    ("closing a socket the peer already reset raises", CORE,
     "if why.args[0] not in (_port.ENOTCONN, _port.EBADF):", "if why.args[0] not in (_port.EBADF,):"),
    ("an emptied map drops the timers still to come", CORE,
     "if p is not None and not map and not p.timers:", "if p is not None and not map:"),
    ("listeners are polled for writing", CORE,
     "        return 0 if waits else mask\n", "        mask = 0 if waits else mask\n"),
    ("an event fetched for a reused key reaches the new channel", CORE,
     "                    if joined and key in joined:", "                    if False:"),
    # one bad connection or program must not stop the service
    ("a failing handler constructor is the listener's error", CORE,
     "                self._refuse(e)", "                raise"),
    ("what the OS poller raises for a channel escapes loop()", CORE,
     "        if not isinstance(e, MemoryError):\n            _event_error(obj, e)",
     "        if not isinstance(e, MemoryError):\n            raise e"),
    ("a map swapped by hand at the same size is not noticed by loop()", CORE,
     "    p = _poller(map)\n    p.check()\n    _port.io_reset()", "    p = _poller(map)\n    _port.io_reset()"),
    ("listen() ignores the port's backlog", CORE,
     "if cap is not None and num > cap:", "if False:"),
    ("a timer a week away overflows ticks_add", CORE,
     "        if ms > _MAX_STEP:\n            self.rest", "        if False:\n            self.rest"),
    # accepting
    ("ACCEPT_BURST takes one connection too many", CORE,
     "burst = n = ACCEPT_BURST if", "burst = n = ACCEPT_BURST + 1 if"),
    ("a listener at its budget accepts one more", CORE,
     "                return  # else still polled", "                pass  # else still polled"),
    ("a freed slot is not kept for the client that waits", CORE,
     "                owner.clients_waiting = False  # the slot", "                pass  # the slot"),
    ("a closing channel does not give its listener slot back", CORE,
     "owner.open_connections -= 1", "owner.open_connections -= 0"),
    # taking a slot back for a waiting client, and the phases it judges by
    ("a listener at its budget never asks for room", CORE,
     "                    self._room_soon(0)\n", "                    pass\n"),
    ("make_room() is not asked again when it says", CORE,
     "                self._room_soon(_ms(again))", "                pass"),
    ("a phase never passes its deadline", CORE,
     "or elapsed < limit * 1000:", "or elapsed < limit * 1000000:"),
    ("end_phase() leaves the channel in its phase", CORE,
     "    def end_phase(self):\n        self._got = -1", "    def end_phase(self):\n        self._got = 0"),
    ("a byte out between phases is no activity", CORE,
     "                self._mark = _port.ticks_ms()  # between phases a byte out", "                pass  # between phases a byte out"),
    ("a channel without phases stays in its first one", CORE,
     "            if got >= 0:\n                self._got = -1", "            if got >= 0:\n                pass"),
    ("no grace for a phase", SLOTS,
     "            if age < grace:", "            if age < 0:"),
    ("a phase at the minimum rate is slow", SLOTS,
     "got * 1000 // max(age, 1) < min_rate", "got * 1000 // max(age, 1) <= min_rate"),
    ("a stalled response waits for slot_idle", SLOTS,
     "enough = grace if conn.writable() else idle", "enough = idle"),
    ("an idle session goes while a newcomer is still judged", SLOTS,
     "        if not pending or not sessions and stale_age >= 2 * grace:", "        if True:"),
    ("the newest idle goes first", SLOTS,
     "            elif age > stale_age:", "            elif stale is None:"),
    # timers
    ("timers due at the same tick run latest-made first", CORE,
     "if _port.ticks_diff(timers[mid].when, t.when) > 0:", "if _port.ticks_diff(timers[mid].when, t.when) >= 0:"),
    ("a timer due exactly now waits a pass", CORE,
     "while n and timers and _port.ticks_diff(timers[-1].when, now) <= 0:",
     "while n and timers and _port.ticks_diff(timers[-1].when, now) < 0:"),
    ("a timer scheduled by a timer for now runs in the same pass", CORE,
     "while n and timers and", "while timers and"),
    ("a late periodic timer catches up in a burst", CORE,
     "                if _port.ticks_diff(t.when, now) <= 0:\n                    t._arm(now, t.interval)",
     "                if False:\n                    t._arm(now, t.interval)"),
    ("idle check closes one tick early", CORE,
     "        if left <= 0:\n            self._idle_timer = None", "        if left <= 1:\n            self._idle_timer = None"),
    # queued output
    ("dispatcher_with_send queues an empty rest after a full send", CORE,
     "            if sent >= len(data):\n                return", "            if sent > len(data):\n                return"),
    ("dispatcher_with_send keeps a sent chunk", CORE,
     "if head >= len(first):", "if head > len(first):"),
    ("dispatcher_with_send does not tell the poller its queue emptied or filled", CORE,
     "        if bool(was) != bool(self._queued):\n            self.interest_changed()",
     "        if False:\n            self.interest_changed()"),
    ("send_from does not queue the last byte the socket did not take", CORE,
     "        if sent < n:\n            self._enqueue", "        if sent < n - 1:\n            self._enqueue"),
    ("dispatcher_with_send is not writable while it connects", CORE,
     "return not self.connected or self._queued > 0", "return self._queued > 0"),
    ("async_chat is not writable while it connects", CHAT,
     "return bool(self.producer_fifo) or not self.connected", "return bool(self.producer_fifo)"),
    ("close_when_done closes before what is queued is sent", CHAT,
     "        self.producer_fifo.append(None)", "        self.producer_fifo.insert(0, None)"),
    ("a producer's piece goes behind the rest of the queue", CHAT,
     "                    fifo.insert(0, data)", "                    fifo.append(data)"),
    ("push drops a byte of each piece of big data", CHAT,
     "fifo.append(data[i : i + size])", "fifo.append(data[i : i + size - 1])"),
    ("a producer queued by hand in found_terminator is not polled for", CHAT,
     "        if self.producer_fifo:\n            self.interest_changed()  # found_terminator",
     "        if False:\n            self.interest_changed()  # found_terminator"),
    ("async_chat counts what it sent as still queued", CHAT,
     "                self._queued -= sent", "                self._queued -= 0"),
    ("async_chat counts a partly sent push whole", CHAT,
     "self._queued += len(data) - sent", "self._queued += len(data)"),
    ("discard_buffers keeps the queued count", CHAT,
     "        self._queued = 0\n", "        pass\n"),
    ("async_chat resends a partly sent chunk whole", CHAT,
     "                    fifo[0] = _window(first)[sent:]", "                    fifo[0] = first"),
    # framing
    ("find_prefix_at_end misses a one-byte prefix", CHAT,
     "for n in range(len(needle) - 1, 0, -1):", "for n in range(len(needle) - 1, 1, -1):"),
    ("a counted terminator met exactly is not found", CHAT,
     "                if len(buf) < term:", "                if len(buf) <= term:"),
    ("a counted terminator loses count across reads", CHAT,
     "self.terminator = term - len(buf)", "self.terminator = term - len(buf) + 1"),
    ("an empty piece before a terminator is reported", CHAT,
     "                    if i:\n", "                    if True:\n"),
    ("a held-back tail as long as the buffer is reported as empty data", CHAT,
     "                    if n < len(buf):", "                    if n <= len(buf):"),
    # the TLS handshake as a phase (uasyncore_tls)
    ("an accepted channel's handshake begins no phase", TLS,
     "            ch._got = 0\n            ch._mark = _port.ticks_ms()", "            pass"),
    ("the handshake's end does not end its phase", TLS,
     "            self.channel.end_phase()", "            pass"),
    # datagrams and names (the core's hooks for uasyncore_dgram and uasyncore_dns)
    ("a datagram channel's error event closes it", CORE,
     'elif getattr(obj, "_reads_errors", False):', "elif False:"),
    ("a connect after a lookup starts a second connect timer", CORE,
     "if self.connect_timeout is not None and self._connect_timer is None:", "if self.connect_timeout is not None:"),
    ("a host name taken for an IP address", CORE,
     'or not host.strip("0123456789.")', 'or not host.strip("0123456789.abcdefghijklmnopqrstuvwxyz")'),
    ("an IPv6 address sent to the resolver", CORE,
     'return type(host) is not str or ":" in host or', 'return type(host) is not str or'),
]


# pytest's command line for the unit tests of a tree.
def test_command(tree):
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(tree, "tests", "test_*.py")))
    chosen = [os.path.join("tests", f) for f in files if f not in END_TO_END]
    return [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"] + chosen


# A copy of what the tests need, without builds or caches.
def copy_tree(dest):
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mpy", ".pytest_cache", ".hypothesis")
    for name in COPIED:
        shutil.copytree(os.path.join(ROOT, name), os.path.join(dest, name), ignore=skip)


# Run the tests in tree: (passed, seconds, the first test that failed or else pytest's summary). A run past timeout counts as a failure
# (a bug that hangs the loop is caught); its process group, started here, is killed.
def run_tests(tree, timeout):
    start = time.monotonic()
    proc = subprocess.Popen(test_command(tree), cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return False, time.monotonic() - start, "timed out after %ds" % timeout
    lines = [line for line in out.splitlines() if line.strip()]
    failed = [line.split()[1] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    summary = lines[-1] if lines else ""
    return proc.returncode == 0, time.monotonic() - start, failed[0] if failed else summary


# Apply one mutation to tree: None when done, else why it cannot be (STALE).
def plant(tree, path, snippet, replacement):
    full = os.path.join(tree, path)
    with open(full) as f:
        text = f.read()
    count = text.count(snippet)
    if count != 1:
        return "snippet found %d times in %s" % (count, path)
    with open(full, "w") as f:
        f.write(text.replace(snippet, replacement))
    return None


def restore(tree, path):
    shutil.copyfile(os.path.join(ROOT, path), os.path.join(tree, path))


def main(argv=None):
    parser = argparse.ArgumentParser(description="plant one-line bugs in lib/, run the unit tests, report what survives")
    parser.add_argument("-k", dest="pattern", help="only the mutations whose description contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and the test command, run nothing")
    parser.add_argument("--keep", action="store_true", help="keep the temporary tree (its path is printed)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.pattern or args.pattern in m[0]]
    if args.list:
        for i, (what, path, snippet, replacement) in enumerate(chosen, 1):
            print("%2d. %s  [%s]\n      %r\n   -> %r" % (i, what, path, snippet, replacement))
        print(" ".join(test_command(ROOT)[1:]))
        return 0
    tree = tempfile.mkdtemp(prefix="uasyncore-mutate-")
    try:
        copy_tree(tree)
        ok, seconds, last = run_tests(tree, 600)
        if not ok:
            print("the unmutated tree fails its tests (%s): fix that first" % last)
            return 1
        timeout = max(60, int(seconds * 4))
        print("unmutated: passed in %.1f s (%s); a mutated run past %d s counts as caught" % (seconds, last, timeout))
        survived = stale = 0
        for i, (what, path, snippet, replacement) in enumerate(chosen, 1):
            why = plant(tree, path, snippet, replacement)
            if why:
                stale += 1
                print("%2d. STALE     %s: %s" % (i, what, why))
                continue
            try:
                ok, seconds, last = run_tests(tree, timeout)
            finally:
                restore(tree, path)
            if ok:
                survived += 1
            print("%2d. %-9s %s  [%.1f s: %s]" % (i, "SURVIVED" if ok else "caught", what, seconds, last), flush=True)
        caught = len(chosen) - survived - stale
        print("%d mutations: %d caught, %d survived, %d stale" % (len(chosen), caught, survived, stale))
        return 1 if survived or stale else 0
    finally:
        if args.keep:
            print("tree kept at", tree)
        else:
            shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
