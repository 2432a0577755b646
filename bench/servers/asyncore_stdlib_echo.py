# CPython 3.11's own asyncore (the stdlib module, not lib/asyncore.py): the baseline.
# usage: python3 asyncore_stdlib_echo.py PORT
import socket
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import asyncore  # noqa: E402  (bench/servers is sys.path[0]: this is the stdlib module)

RECV = 65536  # the recv size of every echo loop written for the benchmark


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(RECV)
        if data:
            self.send(data)


class EchoServer(asyncore.dispatcher):
    def __init__(self, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", port))
        self.listen(128)

    def handle_accepted(self, sock, addr):
        EchoHandler(sock)


port = int(sys.argv[1])
EchoServer(port)
print("ready %d asyncore from %s" % (port, asyncore.__file__), flush=True)
asyncore.loop(use_poll=True)
