# echo_service: every byte a client sends comes straight back (the hello world of uasyncore), in
# plaintext or over TLS.
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
    # Listen on host:port and give each client an EchoHandler; over TLS with a server context.
    def __init__(self, host, port, map=None, context=None):
        uasyncore.dispatcher.__init__(self, map=map)
        self.context = context
        if context is not None:
            import uasyncore_tls

            self.max_connections = uasyncore_tls.MAX_CONNECTIONS  # what this port's heap holds
        self.create_socket()
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(BACKLOG)

    def handle_accepted(self, sock, addr):
        handler = EchoHandler(sock, map=self._map)
        if self.context is not None:
            import uasyncore_tls

            uasyncore_tls.start_tls(handler, self.context, server_side=True)


# Serve until interrupted; with a certificate and its key (file names, PEM or DER), over TLS.
def main(host="127.0.0.1", port=7777, tls_cert=None, tls_key=None):
    context = None
    if tls_cert is not None:
        import uasyncore_tls

        context = uasyncore_tls.server_context(tls_cert, tls_key)
    EchoServer(host, port, context=context)
    print("echo: serving on %s:%d%s" % (host, port, " (TLS)" if context is not None else ""))
    uasyncore.loop()
