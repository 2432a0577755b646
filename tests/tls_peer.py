# A TLS peer built on uasyncore_tls, for the end-to-end tests (tests/test_tls_real.py): run it on
# CPython, micropython or the board-like MicroPython.
#
#   RUNTIME tests/tls_peer.py serve PORT CERT KEY [TIMEOUT] [plain | bulk]
#       a line server: echoes each line; answers "GET ..." as HTTP (for curl); with `plain` it starts
#       in plaintext and switches on "STARTTLS" (reply "OK"). Prints "serving on 127.0.0.1:PORT", then
#       "ready", "closed" and "error ..." as its connections go. With `bulk` it echoes bytes, writing
#       as long as the socket takes them, and prints "blocked N" at the end: the writes that blocked.
#   RUNTIME tests/tls_peer.py connect PORT CAFILE HOSTNAME [starttls]
#       a client: sends "hello", prints "reply: LINE", or "error: ..." when the connection fails.
import socket
import sys
import time

ROOT = __file__.rpartition("/")[0].rpartition("/")[0] or "."
sys.path[:0] = [ROOT + "/lib", ROOT + "/ports/" + ("unix" if hasattr(time, "ticks_ms") else "cpython")]

import uasynchat  # noqa: E402
import uasyncore  # noqa: E402
import uasyncore_tls  # noqa: E402


def say(*args):
    print(*args)
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()


class Line(uasynchat.async_chat):
    # Lines in and out; what happens to the connection is printed.
    def __init__(self, sock=None, map=None):
        uasynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\n")
        self.parts = []

    def collect_incoming_data(self, data):
        self.parts.append(bytes(data))

    def found_terminator(self):
        line = b"".join(self.parts).rstrip(b"\r")
        self.parts = []
        self.line(line)

    def handle_tls_ready(self):
        say("ready")

    def handle_close(self):
        say("closed")
        self.close()

    def handle_error(self):
        say("error:", repr(uasyncore.handled_error()))
        self.close()


class Served(Line):
    context = None  # the server context, until STARTTLS has used it
    http = False

    def line(self, line):
        if self.http:
            if not line:  # the end of the request's head
                body = b"hello over TLS\n"
                self.push(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
                self.close_when_done()
        elif line.startswith(b"GET "):
            self.http = True
        elif line == b"STARTTLS" and self.context is not None:
            self.push(b"OK\n")
            uasyncore_tls.start_tls(self, self.context, server_side=True, timeout=Server.timeout)
            self.context = None
        else:
            self.push(line + b"\n")


class Bulk(uasyncore.dispatcher):
    # Echoes bytes; sends until the socket takes nothing, then offers the same bytes again when it is
    # writable (asyncore's rule): so a reader that stalls makes TLS writes block.
    def __init__(self, sock):
        # a small send buffer fills within the reader's stall (MicroPython lacks the name: Linux's 7)
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_SNDBUF", 7), 16384)
        uasyncore.dispatcher.__init__(self, sock)
        self.out = []  # what was read and not yet sent back, in pieces; the first sent from self.head
        self.head = 0
        self.blocked = 0

    def readable(self):
        return len(self.out) < 16

    def writable(self):
        return len(self.out) > 0

    def handle_read(self):
        data = self.recv(4096)
        if data:
            self.out.append(data)
            self.flush()

    def handle_write(self):
        self.flush()

    def flush(self):
        while self.out:
            first = self.out[0]
            n = self.send(memoryview(first)[self.head :])
            if not n:
                self.blocked += 1
                return
            self.head += n
            if self.head == len(first):
                self.out.pop(0)
                self.head = 0

    def handle_close(self):
        say("blocked", self.blocked)
        self.close()


class Server(uasyncore.dispatcher):
    timeout = None

    def __init__(self, port, context, plain):
        uasyncore.dispatcher.__init__(self)
        self.context = context
        self.plain = plain
        self.create_socket()
        self.set_reuse_addr()
        self.bind(("127.0.0.1", port))
        self.listen(5)

    def handle_accepted(self, sock, addr):
        conn = Bulk(sock) if self.plain == "bulk" else Served(sock)
        if self.plain == "plain":
            conn.context = self.context
        else:
            uasyncore_tls.start_tls(conn, self.context, server_side=True, timeout=Server.timeout)

    def handle_accept_error(self):
        say("refused:", repr(uasyncore.handled_error()))


class Client(Line):
    def __init__(self, port, context, hostname, starttls):
        Line.__init__(self)
        self.context = context
        self.hostname = hostname
        self.starttls = starttls
        self.create_socket()
        if not starttls:
            uasyncore_tls.start_tls(self, context, server_hostname=hostname)
        self.connect(("127.0.0.1", port))

    def handle_connect(self):
        self.push(b"STARTTLS\n" if self.starttls else b"hello\n")

    def line(self, line):
        if self.starttls and line == b"OK":
            self.starttls = False
            uasyncore_tls.start_tls(self, self.context, server_hostname=self.hostname)
            self.push(b"hello\n")
            return
        say("reply:", line.decode())
        self.close()


def main(argv):
    mode, port = argv[0], int(argv[1])
    if mode == "serve":
        cert, key = argv[2], argv[3]
        if len(argv) > 4:
            Server.timeout = float(argv[4])
        Server(port, uasyncore_tls.server_context(cert, key), argv[5] if len(argv) > 5 else None)
        say("serving on 127.0.0.1:%d" % port)
    else:
        context = uasyncore_tls.client_context(cafile=argv[2])
        Client(port, context, argv[3], "starttls" in argv[4:])
    uasyncore.loop(timeout=1.0)


main(sys.argv[1:])
