# The scenarios behind tests/test_defects.py and tests/test_stdlib_defects.py: each takes an
# asyncore-like module (uasyncore, or CPython 3.11's asyncore) and returns what happened, so one
# test can assert the fix and the other that the stdlib still has the defect.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: I001  (first: asserts that uasyncore comes from lib/)

import os
import select
import socket

import uasyncore
from support import HOST, HUP, IN, FakeSocket, oserror

_port = uasyncore._port
HAS_SHUTDOWN = hasattr(socket.socket, "shutdown")


##### real loopback sockets


# n (client, server side) pairs of connected blocking loopback sockets.
def pairs(n):
    lsock = socket.socket()
    out = []
    try:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):
            port = 20000 + int.from_bytes(os.urandom(2), "big") % 40000
            try:
                lsock.bind(_port.sockaddr((HOST, port)))
                break
            except OSError:
                pass
        lsock.listen(n)
        for _ in range(n):
            c = support.client(port)
            out.append((c, lsock.accept()[0]))
    finally:
        lsock.close()
    return out


# Wait (up to ms) until every socket in socks reports one of `flags`, so a pass sees them all.
def wait_for(socks, flags, ms=3000):
    p = select.poll()
    for s in socks:
        p.register(s, IN)
    start = _port.ticks_ms()
    while _port.ticks_diff(_port.ticks_ms(), start) < ms:
        if len([ev for ev in p.poll(20) if ev[1] & flags]) == len(socks):
            return
    raise AssertionError("sockets not ready: the scenario cannot be set up")


# A new non-blocking socket whose fileno() is fd (the one just freed), as the OS reuses numbers.
def socket_on_fd(fd):
    spare = []
    sock = socket.socket()
    while sock.fileno() != fd and len(spare) < 100:
        spare.append(sock)
        sock = socket.socket()
    for s in spare:
        s.close()
    sock.setblocking(False)
    return sock


##### the scenarios, for any asyncore-like module `mod`


# (a) Two channels readable in one pass; whichever is handled first closes the other and at once
# opens a new channel on a socket that reopen(fd of the closed one) makes.  run() makes one pass.
# Returns (whether the new socket took the closed one's fileno, events the new channel got).
def stale_event_scenario(mod, m, socks, reopen, run):
    seen = []
    reused = []

    class Newcomer(mod.dispatcher):
        def handle_read(self):
            seen.append("read")

        def handle_write(self):
            seen.append("write")

        def handle_close(self):
            seen.append("close")
            self.close()

        def handle_error(self):
            seen.append("error")
            self.close()

    class Peer(mod.dispatcher):
        def writable(self):
            return False

        def handle_read(self):
            self.recv(16)
            if not reused:
                fd = self.other.socket.fileno()
                self.other.close()
                sock = reopen(fd)
                Newcomer(map=m).set_socket(sock)
                reused.append(sock.fileno() == fd)

    a = Peer(socks[0], map=m)
    b = Peer(socks[1], map=m)
    a.other, b.other = b, a
    run()
    return reused[0] if reused else None, seen


def real_stale_event(mod):
    (c1, s1), (c2, s2) = pairs(2)
    m = {}
    try:
        c1.send(b"x")
        c2.send(b"y")
        wait_for([s1, s2], IN)

        def run():
            mod.loop(timeout=1.0, use_poll=True, count=1, map=m)

        return stale_event_scenario(mod, m, (s1, s2), socket_on_fd, run)
    finally:
        mod.close_all(m)
        c1.close()
        c2.close()


# (b) The receiver half-closes, the peer sends `size` bytes and closes: the data waits behind
# POLLIN|POLLHUP.  Returns (bytes the handler read, whether the channel closed).
def half_close_scenario(mod, size=65536):
    ((c, s),) = pairs(1)
    m = {}
    got = [0]

    class Receiver(mod.dispatcher):
        def writable(self):
            return False

        def handle_read(self):
            got[0] += len(self.recv(4096))

        def handle_close(self):
            self.close()

    try:
        Receiver(s, map=m)
        s.shutdown(socket.SHUT_WR)
        c.sendall(b"x" * size)
        c.close()
        wait_for([s], HUP)
        passes = 0
        while m and passes < 100:
            mod.loop(timeout=1.0, use_poll=True, count=1, map=m)
            passes += 1
        return got[0], not m
    finally:
        mod.close_all(m)
        c.close()


# (c) A listener whose accept() fails with err (EMFILE, ENFILE), as delivered by readwrite.
# Returns (listener still in the map, still accepting, its socket closed).
def exhausted_accept_scenario(mod, err):
    m = {}

    class Listener(mod.dispatcher):
        def log_info(self, message, type="info"):
            pass

    listener = Listener(map=m)
    sock = FakeSocket(accept_plan=[oserror(err)])
    try:
        listener.set_socket(sock)
        listener.listen(5)
        mod.readwrite(listener, IN)
        return len([v for v in m.values() if v is listener]) == 1, listener.accepting, sock.closed
    finally:
        mod.close_all(m)


# (d) n clients connect before the loop runs.  Returns the addresses one pass accepted.
def accept_burst_scenario(mod, n=3):
    m = {}
    accepted = []
    clients = []

    class Listener(mod.dispatcher):
        def handle_accepted(self, sock, addr):
            accepted.append(addr)
            sock.close()

    try:
        listener = Listener(map=m)
        port = support.listen_any(listener, backlog=n + 2)
        for _ in range(n):
            clients.append(support.client(port))
        wait_for([listener.socket], IN)
        mod.loop(timeout=1.0, use_poll=True, count=1, map=m)
        return accepted
    finally:
        mod.close_all(m)
        for c in clients:
            c.close()


# (e) A port scan: a client that connects and resets at once, taken by a listener whose handler asks
# getpeername() in its constructor (as pyftpdlib's and smtpd's do: ENOTCONN by then); then a client
# that stays. Returns (listener still accepting, its socket closed, the peers the handlers got).
def port_scan_scenario(mod):
    m = {}
    served = []

    class Handler(mod.dispatcher):
        def __init__(self, sock, map):
            mod.dispatcher.__init__(self, sock, map)
            served.append(sock.getpeername())

    class Listener(mod.dispatcher):
        def log_info(self, message, type="info"):
            pass

        def handle_accepted(self, sock, addr):
            Handler(sock, self._map)

    scan, stays = FakeSocket(), FakeSocket(peer=(HOST, 5001))  # no peer: getpeername() raises ENOTCONN
    sock = FakeSocket(accept_plan=[(scan, (HOST, 5000))])
    listener = Listener(map=m)
    try:
        listener.set_socket(sock)
        listener.listen(5)
        mod.readwrite(listener, IN)
        sock.accept_plan.append((stays, (HOST, 5001)))
        mod.readwrite(listener, IN)
        return listener.accepting, sock.closed, served
    finally:
        mod.close_all(m)
