# udp_echo_service: every datagram comes straight back to its sender (the hello world of datagrams).
import uasyncore
import uasyncore_dgram


class UdpEcho(uasyncore_dgram.datagram_dispatcher_with_send):
    # Bound to host:port; handle_read() hands each waiting datagram to handle_datagram().
    def __init__(self, host, port, map=None):
        uasyncore_dgram.datagram_dispatcher_with_send.__init__(self, map=map)
        self.create_socket()
        self.bind((host, port))

    # Send it back: at once, or queued in order if the socket has no room now.
    def handle_datagram(self, data, addr):
        self.sendto(data, addr)


# Serve until interrupted.
def main(host="127.0.0.1", port=7777):
    UdpEcho(host, port)
    print("udp_echo: serving on %s:%d" % (host, port))
    uasyncore.loop()
