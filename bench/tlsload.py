#!/usr/bin/env python3
# tlsload: a TLS load client for echo servers on 127.0.0.1 (bench/loadgen speaks plain TCP only).
#
#   python3 bench/tlsload.py pingpong -p PORT --ca CA.pem -c CONNS [-w WARMUP_S] [-d DURATION_S] [-s SETUP_S]
#   python3 bench/tlsload.py bulk     -p PORT --ca CA.pem -c CONNS [-w WARMUP_S] [-d DURATION_S] [-s SETUP_S]
#
# Each connection is opened and its handshake done (the certificate checked for "localhost") one at a
# time within SETUP_S, and proved served by one echo before the load starts.
# pingpong: every connection sends a 64-byte message (its number, a sequence number, 56 bytes derived
#   from both), waits for all 64 back, checks them and sends the next; messages completed in the
#   DURATION_S window after WARMUP_S are counted (a connection that completed none fails the run).
# bulk: every connection streams its own random 64 KiB pattern, at most WINDOW bytes ahead of what came
#   back, and checks every byte that returns; bytes echoed in the window count (MB/s, 10^6 bytes). At
#   the end the sending stops and what is in flight must come back, checked, within DRAIN_S.
# Output: one JSON line on stdout, "ok" true only if everything checked out. Every loop is bounded in
# time. One thread, one selector: the client's own CPU is part of the run's report (loadgen_cpu).
import argparse
import json
import os
import resource
import selectors
import socket
import ssl
import struct
import sys
import time

MSG = 64
BLOCK = 65536  # a bulk connection's pattern period; no read is longer, so one slice of it is enough
WINDOW = 256 * 1024
CHUNK = 16384  # bytes per bulk write (one TLS record)
DRAIN_S = 10.0
WOULD_BLOCK = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError)
BEGIN = time.monotonic()


class Failed(Exception):
    pass


class Conn:
    def __init__(self, n, sock):
        self.n = n
        self.sock = sock
        self.seq = 0
        self.counted = 0  # ping-pong: messages completed in the window
        self.got = bytearray()  # ping-pong: what has come back of the current message
        self.msg = b""
        self.sent = self.recvd = 0  # bulk: bytes of the stream sent and checked
        self.pattern = None
        self.out = None  # bulk: the chunk a blocked write must offer again
        self.events = 0  # bulk: what the selector watches for

    # Ping-pong message number seq of connection n: every byte depends on both.
    def next_message(self):
        self.seq += 1
        head = struct.pack("<II", self.n, self.seq)
        body = bytes((self.n * 31 + self.seq * 7 + i) & 255 for i in range(MSG - len(head)))
        self.msg = head + body
        self.got = bytearray()
        return self.msg

    # Bytes the server sent back on a TLS socket, read until it would block (pending ones too).
    def read(self, size):
        chunks = []
        while True:
            try:
                data = self.sock.recv(size)
            except WOULD_BLOCK:
                break
            if not data:
                raise Failed("connection %d closed by the server" % self.n)
            chunks.append(data)
            if not self.sock.pending():
                break
        return chunks


def connect_all(port, ca, count, setup):
    ctx = ssl.create_default_context(cafile=ca)
    conns = []
    end = time.monotonic() + setup
    for n in range(count):
        left = end - time.monotonic()
        if left <= 0:
            raise Failed("setup took more than %.0f s (%d of %d connections)" % (setup, n, count))
        raw = socket.create_connection(("127.0.0.1", port), timeout=left)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
        sock.sendall(b"\x00")  # served: the byte comes back (bulk patterns never start with it)
        if sock.recv(1) != b"\x00":
            raise Failed("connection %d: the first echo was wrong" % n)
        sock.setblocking(False)
        conns.append(Conn(n, sock))
    return conns


def send_all(sock, data, deadline):
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except WOULD_BLOCK:
            if time.monotonic() > deadline:
                raise Failed("a write blocked past the deadline")
            time.sleep(0.0005)


def pingpong(conns, warmup, duration):
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    window_start, window_end = start + warmup, start + warmup + duration
    counted = 0
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
        send_all(c.sock, c.next_message(), window_end + 5)
    while True:
        now = time.monotonic()
        if now >= window_end:
            if min(c.counted for c in conns) == 0:
                raise Failed("stalled: a connection completed no message in the window")
            return counted / duration
        for key, _ in sel.select(timeout=window_end - now):
            c = key.data
            for data in c.read(4096):
                c.got.extend(data)
            if len(c.got) > MSG:
                raise Failed("connection %d: %d bytes back for a %d-byte message" % (c.n, len(c.got), MSG))
            if len(c.got) == MSG:
                if c.got != c.msg:
                    raise Failed("connection %d: message %d came back changed" % (c.n, c.seq))
                if window_start <= time.monotonic() < window_end:
                    counted += 1
                    c.counted += 1
                send_all(c.sock, c.next_message(), window_end + 5)


def bulk(conns, warmup, duration):
    sel = selectors.DefaultSelector()
    for c in conns:
        c.pattern = os.urandom(BLOCK) * 2  # any slice of up to BLOCK bytes without wrapping
        c.events = selectors.EVENT_READ | selectors.EVENT_WRITE
        sel.register(c.sock, c.events, c)
    start = time.monotonic()
    window_start, window_end = start + warmup, start + warmup + duration
    counted = 0
    sending = True
    drain_end = window_end + DRAIN_S
    while True:
        now = time.monotonic()
        if sending and now >= window_end:
            sending = False
            for c in conns:
                watch(c, sel, sending)
        if not sending and all(c.recvd == c.sent and c.out is None for c in conns):
            return counted / duration / 1e6
        if now >= drain_end:
            raise Failed("bytes still in flight %.0f s after the sending stopped" % DRAIN_S)
        for key, events in sel.select(timeout=0.5):
            c = key.data
            if events & selectors.EVENT_READ:
                for data in c.read(BLOCK):
                    at = c.recvd % BLOCK
                    if data != c.pattern[at : at + len(data)]:
                        raise Failed("connection %d: bytes changed at offset %d" % (c.n, c.recvd))
                    c.recvd += len(data)
                    if window_start <= time.monotonic() < window_end:
                        counted += len(data)
                if c.recvd > c.sent:
                    raise Failed("connection %d: more came back than was sent" % c.n)
            if events & selectors.EVENT_WRITE:
                write(c, sending)
            watch(c, sel, sending)


# Send the connection's next chunk (one that would block is offered again, as TLS requires).
def write(c, sending):
    if c.out is None:
        at = c.sent % BLOCK
        c.out = c.pattern[at : at + min(CHUNK, BLOCK - at)]
    try:
        n = c.sock.send(c.out)
    except WOULD_BLOCK:
        return
    c.sent += n
    c.out = c.out[n:] or None


# Watch for writing while a chunk waits, or while sending within the window; always for reading.
def watch(c, sel, sending):
    events = selectors.EVENT_READ
    if c.out is not None or (sending and c.sent - c.recvd < WINDOW):
        events |= selectors.EVENT_WRITE
    if events != c.events:
        c.events = events
        sel.modify(c.sock, events, c)


def main():
    ap = argparse.ArgumentParser(description="TLS load client for echo servers")
    ap.add_argument("mode", choices=("pingpong", "bulk"))
    ap.add_argument("-p", "--port", type=int, required=True)
    ap.add_argument("--ca", required=True, help="the CA file that signed the server's certificate (for localhost)")
    ap.add_argument("-c", "--conns", type=int, default=1)
    ap.add_argument("-w", "--warmup", type=float, default=0.5)
    ap.add_argument("-d", "--duration", type=float, default=2.0)
    ap.add_argument("-s", "--setup", type=float, default=20.0)
    args = ap.parse_args()
    out = {"mode": "tls-" + args.mode, "ok": False, "conns": args.conns, "seconds": args.duration}
    conns = []
    try:
        conns = connect_all(args.port, args.ca, args.conns, args.setup)
        out["tls"] = conns[0].sock.version()
        out["cipher"] = conns[0].sock.cipher()[0]
        if args.mode == "pingpong":
            out["msgs_per_s"] = pingpong(conns, args.warmup, args.duration)
        else:
            out["mb_per_s"] = bulk(conns, args.warmup, args.duration)
        out["ok"] = True
    except (Failed, OSError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        for c in conns:
            c.sock.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["loadgen_cpu"] = round((ru.ru_utime + ru.ru_stime) / max(time.monotonic() - BEGIN, 1e-3), 3)  # 1.0: a core
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
