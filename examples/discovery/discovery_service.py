# discovery_service: a device answers "who is there?" with its name, address and services (a JSON
# datagram), asked over multicast, broadcast or straight to it; find.py asks on a computer. The thing
# people run beside a web service on a board, here on the same loop at no cost while nobody asks.
import json

import uasyncore
import uasyncore_dgram

GROUP = "239.255.42.99"  # an organisation-local multicast group (RFC 2365)
PORT = 5099
QUERY = b"uasyncore? who is there"  # the whole question; any other datagram is ignored
ANSWERS_PER_SECOND = 10  # more questions than this in a second go unanswered: no flood from forged senders


class Responder(uasyncore_dgram.datagram_dispatcher_with_send):
    max_datagram_size = len(QUERY) + 1  # a longer datagram is cut, and so is no question
    ignored = 0  # datagrams that were no question, or over the answer rate

    # Answer on `port` of every interface, and on GROUP joined on `interface` (its address; 0.0.0.0:
    # the one the routes choose). `address` is what the answer says the device is reached at.
    def __init__(self, name, services, address, port=PORT, interface="0.0.0.0", map=None):
        uasyncore_dgram.datagram_dispatcher_with_send.__init__(self, map=map)
        self.create_socket()
        self.set_reuse_addr()
        self.bind(("0.0.0.0", port))
        self.join_group(GROUP, interface)
        self.answer = json.dumps({"name": name, "address": address, "services": services}).encode()
        self.window = uasyncore.ticks()
        self.answered = 0  # in the current second

    def handle_datagram(self, data, addr):
        if data != QUERY or not self.within_rate():
            self.ignored += 1
            return
        self.sendto(self.answer, addr)

    # Whether one more answer fits in this second's budget.
    def within_rate(self):
        now = uasyncore.ticks()
        if uasyncore.ticks_diff(now, self.window) >= 1000:
            self.window = now
            self.answered = 0
        if self.answered >= ANSWERS_PER_SECOND:
            return False
        self.answered += 1
        return True


# Serve until interrupted: `host` is the interface the group is joined on and the address announced.
def main(host="127.0.0.1", port=PORT, name="uasyncore-device", services=None):
    Responder(name, services if services is not None else {"http": 8080}, host, port, interface=host)
    print("discovery: serving on %s:%d (group %s)" % (host, port, GROUP))
    uasyncore.loop()
