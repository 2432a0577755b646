# echo_service: every byte a client sends comes straight back (the hello world of uasyncore).
import uasyncore

# clients the OS may hold waiting for a slot where the port sets a budget: a deep queue lets them wait
# their turn while the core takes slots back from silent clients (a board's port caps it)
BACKLOG = 32


class EchoHandler(uasyncore.dispatcher_with_send):
    # One buffer for all connections: each read is sent, or queued as a copy, before the next one.
    buffer = memoryview(bytearray(uasyncore.RECV_SIZE))

    # One client connection: send back whatever arrives.
    def handle_read(self):
        n = self.recv_into(self.buffer)
        if n:
            self.send_from(self.buffer, n)


class EchoServer(uasyncore.dispatcher):
    # Listen on host:port and give each client an EchoHandler.
    def __init__(self, host, port, map=None):
        uasyncore.dispatcher.__init__(self, map=map)
        self.create_socket()
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(BACKLOG)

    def handle_accepted(self, sock, addr):
        EchoHandler(sock, map=self._map)


# Serve until interrupted.
def main(host="127.0.0.1", port=7777):
    EchoServer(host, port)
    print("echo: serving on %s:%d" % (host, port))
    uasyncore.loop()
