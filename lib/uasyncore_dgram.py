# uasyncore_dgram: datagram (UDP) channels on uasyncore's loop. A service that does not import it
# does not pay for it.
#
# datagram_dispatcher: recvfrom() / sendto() with (host, port) addresses on every port; nothing waiting
# or no room is (b"", None) / 0, as recv() / send() say it; an empty datagram is a datagram, never an
# end; never polled for writing unless writable() says so (a datagram socket is always writable: the
# loop would spin); a socket error (a peer's ICMP "refused") is raised by the next read and so reaches
# handle_error(), never loop()'s caller. connect() sends nothing. datagram_dispatcher_with_send queues
# what the socket cannot take yet, (data, address) in order, under the out_high / out_low watermarks.
import socket

import uasyncore as _core
import uasyncore_port as _port

DRAIN = 16  # datagrams handle_read() takes in one pass (a Pico W holds 4 and drops the next)
QUEUE_OVERHEAD = 16  # bytes a queued datagram counts beyond its data: empty ones fill the queue too

_NOTHING = (b"", None)
_WOULDBLOCK = _core._WOULDBLOCK + _port.SEND_WOULDBLOCK  # the port's own ways to say it (ESP32: ETIMEDOUT)
_io = _core._io
_sockaddrs = [None, None]  # the last address sendto() converted, and what the port made of it


def _recvfrom(sock, size, n):
    return sock.recvfrom(size)


# An IPv4 address as the 4 bytes a multicast membership names it with (no inet_aton on some boards).
def _ip4(text):
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError("not an IPv4 address: %r" % (text,))
    return bytes([int(p) for p in parts])


class datagram_dispatcher(_core.dispatcher):
    max_datagram_size = 1472  # bytes handle_read() asks of each datagram: a longer one is cut to this
    _reads_errors = True  # the loop delivers an error event as a read: recvfrom() raises the error
    _bound = None  # the address bind() was given: a socket that must be replaced binds there again
    _reuse = False
    _groups = ()  # the multicast (group, interface) pairs joined
    _options = ()  # the (level, option, value) set by set_broadcast() and set_multicast_*(), latest last

    def create_socket(self, family=socket.AF_INET, type=socket.SOCK_DGRAM):
        _core.dispatcher.create_socket(self, family, type)

    def bind(self, addr):
        self._bound = addr
        return _core.dispatcher.bind(self, addr)

    def set_reuse_addr(self):
        self._reuse = True
        _core.dispatcher.set_reuse_addr(self)

    # Talk to one peer: sendto() without an address goes there, and the OS drops datagrams from others.
    # Nothing is sent (asyncore's check would send an empty datagram on MicroPython); handle_connect()
    # is called at once. A host name is looked up first, without blocking the loop (uasyncore_dns).
    def connect(self, address):
        if not _core._literal(address):
            import uasyncore_dns

            return uasyncore_dns.connect(self, address)
        err = _port.connect_ex(self.socket, _port.sockaddr(address))
        if err not in (0, _port.EISCONN):
            raise OSError(err, _port.strerror(err))
        self._cancel_timer("_connect_timer")  # the lookup's, if there was one
        self.addr = address
        self.connecting = False
        self.connected = True
        self.handle_connect()

    def handle_connect(self):
        pass  # connected at once: nothing to report

    ##### reading

    # (data, (host, port)) of the next datagram, at most size bytes of it (the rest is dropped), or
    # (b"", None) when none is waiting. A socket error (ICMP) is raised.
    def recvfrom(self, size):
        got = _io(_recvfrom, self.socket, size, 0)
        if got.__class__ is not tuple:
            return self._failed(got, _NOTHING)
        if self._idle_timer is not None:
            self._last_io = _port.ticks_ms()
        if not got[0] and _port.EMPTY_DATAGRAM_CLOSES:
            self._reopen()  # this port's socket would read b"" for good from now on
        return got[0], _port.peer_address(got[1])

    # The next datagram's data (from the connected peer): b"" when none is waiting, or when it was empty.
    def recv(self, buffer_size):
        return self.recvfrom(buffer_size)[0]

    # The next datagram into buffer: its length (0: none waiting, or empty). It allocates what it reads.
    def recv_into(self, buffer):
        data = self.recvfrom(len(buffer))[0]
        buffer[: len(data)] = data
        return len(data)

    # Take the waiting datagrams (up to DRAIN a pass), each to handle_datagram().
    def handle_read(self):
        n = DRAIN
        while n and self._fileno is not None and not self._reading_paused:
            n -= 1
            data, addr = self.recvfrom(self.max_datagram_size)
            if addr is None:
                return
            self.handle_datagram(data, addr)

    def handle_datagram(self, data, addr):
        self.log_info("unhandled datagram from %r" % (addr,), "warning")

    ##### sending

    # Send data as one datagram to address (None: the connected peer): len(data), or 0 when the socket
    # has no room now (nothing was sent; an empty datagram says 0 either way). Errors are raised.
    def sendto(self, data, address=None):
        return len(data) if self._transmit(data, address) else 0

    def send(self, data):
        return self.sendto(data)

    def send_from(self, buffer, n):
        return self.sendto(memoryview(buffer)[:n])

    # Send one datagram: True once sent, False when the socket has no room now.
    def _transmit(self, data, address):
        sent = _io(_port.sendto, self.socket, data, self._sockaddr(address))
        if sent.__class__ is not int:
            if not data and _port.EMPTY_SEND_RAISES:
                return True  # ESP32: lwIP sent the empty datagram, the port raised all the same
            return self._failed(sent, False)
        if self._idle_timer is not None:
            self._last_io = _port.ticks_ms()
        return True

    # address (None: the connected peer) as the port's sendto() takes it; the last one is kept (a reply
    # goes where the request came from).
    def _sockaddr(self, address):
        if address is None:
            address = self.addr if self.connected else None
            if address is None:
                raise OSError(_port.EINVAL, "sendto() needs an address: the channel is not connected")
        if address != _sockaddrs[0]:
            if not _core._literal(address):
                raise ValueError("sendto() takes an IP address, not %r: look names up with uasyncore.resolve()" % (address[0],))
            if not (type(address[1]) is int and 0 <= address[1] < 65536):
                raise ValueError("sendto() needs a port from 0 to 65535, not %r" % (address[1],))
            _sockaddrs[1] = _port.sockaddr(address)
            _sockaddrs[0] = address
        return _sockaddrs[1]

    # What a socket call gave instead of a result: nothing now (would block), or an error to raise.
    def _failed(self, why, nothing):
        if why is None:
            return nothing
        if isinstance(why, OSError) and why.args and why.args[0] in _WOULDBLOCK:
            return nothing
        raise why

    # Datagram sockets are always writable: polled for writing only when something waits to be sent.
    def writable(self):
        return False

    ##### multicast and broadcast (IPv4)

    # Receive what is sent to group (e.g. "239.255.0.1") on the interface with that address (any by default).
    def join_group(self, group, interface="0.0.0.0"):
        self._membership(_port.IP_ADD_MEMBERSHIP, group, interface)
        self._groups = list(self._groups) + [(group, interface)]

    def leave_group(self, group, interface="0.0.0.0"):
        groups = list(self._groups)
        groups.remove((group, interface))
        self._groups = groups
        if _port.IP_DROP_MEMBERSHIP is None:
            self._reopen()  # ESP32 cannot leave a group: a fresh socket joins the others again
        else:
            self._membership(_port.IP_DROP_MEMBERSHIP, group, interface)

    def _membership(self, option, group, interface):
        if option is None:
            raise OSError(_port.EINVAL, "multicast groups are not supported on this port")
        self.socket.setsockopt(_port.IPPROTO_IP, option, _ip4(group) + _ip4(interface))

    # Send multicast out of the interface with this address (127.0.0.1 keeps it on this machine).
    def set_multicast_interface(self, interface):
        self._option(_port.IP_MULTICAST_IF, _ip4(interface))

    # Routers a multicast datagram may cross (0: this machine only, 1: the local network).
    def set_multicast_ttl(self, ttl):
        self._option(_port.IP_MULTICAST_TTL, ttl)

    def _option(self, option, value, level=_port.IPPROTO_IP):
        if option is None:
            raise OSError(_port.EINVAL, "this multicast option is not supported on this port")
        self.socket.setsockopt(level, option, value)
        # kept, so that a replacement socket (_reopen) has it too
        self._options = [o for o in self._options if o[:2] != (level, option)] + [(level, option, value)]

    # Allow sending to a broadcast address (255.255.255.255, or the network's).
    def set_broadcast(self, on=True):
        self._option(_port.SO_BROADCAST, 1 if on else 0, socket.SOL_SOCKET)

    # Put a fresh socket in place of this one: bound, joined, set and connected as it was (an ESP32
    # socket that read an empty datagram, or one that must leave a group where the port cannot). A port
    # the OS chose (bound to port 0, or not bound) is chosen again: the board has no getsockname().
    def _reopen(self):
        family, type = getattr(self, "family_and_type", (socket.AF_INET, socket.SOCK_DGRAM))
        old = self.socket
        self.del_channel()
        old.close()
        sock = socket.socket(family, type)
        sock.setblocking(False)
        self.socket = sock
        if self._reuse:
            _core.dispatcher.set_reuse_addr(self)
        if self._bound is not None:
            sock.bind(_port.sockaddr(self._bound))
        for level, option, value in self._options:
            sock.setsockopt(level, option, value)
        for group, interface in self._groups:
            self._membership(_port.IP_ADD_MEMBERSHIP, group, interface)
        if self.connected:
            _port.connect_ex(sock, _port.sockaddr(self.addr))
        self.set_socket(sock)


class datagram_dispatcher_with_send(datagram_dispatcher):
    # sendto() sends now when nothing is queued and the socket has room, else queues a copy; the queue
    # goes out in order as the socket takes it. An empty queue is the class's attributes.
    _queue = ()  # [data, address] pairs, oldest first
    _queued = 0  # bytes queued, QUEUE_OVERHEAD each included: what out_high and out_low count

    def writable(self):
        return self._queued > 0

    def sendto(self, data, address=None):
        if not self._queued and self._transmit(data, address):
            return
        self._sockaddr(address)  # an address the send would refuse is refused now, not in handle_write
        item = (bytes(data), address)  # a copy: the caller may reuse its buffer
        if not self._queue:
            self._queue = []
        self._queue.append(item)
        self._change(len(item[0]) + QUEUE_OVERHEAD)  # bytes: a memoryview's len() counts its items

    def send(self, data):
        self.sendto(data)

    def send_from(self, buffer, n):
        self.sendto(memoryview(buffer)[:n])

    def handle_write(self):
        self.initiate_send()

    # Send the queue's datagrams in order while the socket takes them. Each leaves the queue before its
    # send (no try, which would cost a heap frame a datagram): one that raises is dropped, the error is
    # the channel's; one the socket has no room for goes back in front.
    def initiate_send(self):
        queue = self._queue
        was = self._queued
        while queue:
            item = queue.pop(0)
            self._queued -= len(item[0]) + QUEUE_OVERHEAD
            if not self._transmit(item[0], item[1]):
                queue.insert(0, item)
                self._queued += len(item[0]) + QUEUE_OVERHEAD
                break
        self._level(was)

    # The number of datagrams waiting to be sent.
    def queued_datagrams(self):
        return len(self._queue)

    def _change(self, delta):
        was = self._queued
        self._queued = was + delta
        self._level(was)

    # The queue held `was` bytes before: tell the poller (emptied or filled) and the watermarks.
    def _level(self, was):
        if not was or not self._queued:
            self.interest_changed()
        self._output_level(self._queued)


# Their writable() answers change only where this module says so (interest_changed()): not asked every pass.
_core._REPORTED.append(datagram_dispatcher.writable)
_core._REPORTED.append(datagram_dispatcher_with_send.writable)
