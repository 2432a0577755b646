# uasynchat: asynchat-style framing (terminated or counted input, queued output) on uasyncore.
# The same file runs on CPython and MicroPython.

import uasyncore

__all__ = ("async_chat", "simple_producer", "find_prefix_at_end")

# what push() accepts, built once
_BYTES_LIKE = (bytes, bytearray, memoryview)
try:
    _BLOCKED = (BlockingIOError,)  # what a program's own recv() or send() may raise for "not now"
except NameError:
    _BLOCKED = ()  # MicroPython has no such class: EAGAIN says it


# str -> bytes, for use_encoding. MicroPython has only UTF-8 (newer builds raise LookupError for other
# names, older ones ignore the name): there asynchat's default latin-1 is written as UTF-8 (the same
# bytes for ASCII), and an encoding it cannot do is a ValueError that says so.
def _encode(text, encoding):
    try:
        return text.encode(encoding)
    except LookupError:
        pass
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "latin-1", "latin1", "iso-8859-1"):
        return text.encode("utf-8")
    raise ValueError("encoding %r is not available on this runtime (it has UTF-8)" % (encoding,))


# data to slice: bytes as a view (no copies); a bytearray as is, its owner may resize it
def _window(data):
    return memoryview(data) if isinstance(data, bytes) else data


##### Channel


# A dispatcher that splits input at a terminator and sends queued data and producers.
class async_chat(uasyncore.dispatcher):
    ac_in_buffer_size = min(uasyncore.RECV_SIZE, 65536)  # 65536 on CPython, as asynchat; less on a board, where recv() allocates it
    ac_out_buffer_size = 65536
    # off by default: str data on a byte channel is usually an application bug
    use_encoding = 0
    encoding = "latin-1"
    _queued = 0  # bytes waiting in producer_fifo (producers' future output not counted)
    # as asynchat's handle_read and initiate_send did: a socket error goes to handle_error() where
    # it happens (send() and recv() do it, so no try here costs MicroPython a heap frame). A class
    # with its own recv(), send() or initiate_send() gets asynchat's way instead (_guarded).
    _io_errors_handled = True

    # the buffers exist before the dispatcher can register and be polled
    def __init__(self, sock=None, map=None):
        if self.use_encoding:
            _encode("", self.encoding)  # an encoding this runtime cannot do fails here, not in the loop
        self.ac_in_buffer = b""
        self.incoming = []
        self.producer_fifo = []
        cls = type(self)
        if cls.recv is not _recv or cls.send is not _send or cls.initiate_send is not async_chat.initiate_send:
            self._io_errors_handled = False  # its recv() and send() raise, and push() goes through its initiate_send()
        if cls.push is not async_chat.push and cls.reports_interest is None:
            self.reports_interest = False  # its push() may fill producer_fifo by hand: writable() asked every pass
        uasyncore.dispatcher.__init__(self, sock, map)

    # receive a piece of input that precedes the terminator
    def collect_incoming_data(self, data):
        raise NotImplementedError("must be implemented in subclass")

    # a ready-made collect_incoming_data: keep the pieces in self.incoming
    def _collect_incoming_data(self, data):
        self.incoming.append(data)

    # join and clear the pieces kept by _collect_incoming_data
    def _get_data(self):
        data = b"".join(self.incoming)
        self.incoming.clear()
        return data

    # called each time the terminator is reached
    def found_terminator(self):
        raise NotImplementedError("must be implemented in subclass")

    # the terminator: a bytes delimiter, a byte count (int >= 0), or None to take everything
    def set_terminator(self, term):
        if isinstance(term, str) and self.use_encoding:
            term = _encode(term, self.encoding)
        elif isinstance(term, int) and term < 0:
            raise ValueError("the number of received bytes must be positive")
        self.terminator = term

    # the current terminator
    def get_terminator(self):
        return self.terminator

    # read once, then hand the input out piece by piece, calling found_terminator at each end
    def handle_read(self):
        if self._io_errors_handled:
            self._frame(self.recv(self.ac_in_buffer_size))
        else:
            self._frame(self._guarded(self.recv, self.ac_in_buffer_size, b""))
        if self.producer_fifo:
            self.interest_changed()  # found_terminator may have filled producer_fifo by hand

    # split received data at terminators
    def _frame(self, data):
        if isinstance(data, str) and self.use_encoding:
            # fixes CPython's asynchat, which wrote bytes(str, self.encoding) (the type, not data)
            data = _encode(data, self.encoding)
        if self.ac_in_buffer:
            data = self.ac_in_buffer + data
        self.ac_in_buffer = data
        # found_terminator may change the terminator or the buffer, so both are read each turn
        while self.ac_in_buffer:
            buf = self.ac_in_buffer
            term = self.get_terminator()
            if not term:
                self.collect_incoming_data(buf)
                self.ac_in_buffer = b""
            elif isinstance(term, int):
                if len(buf) < term:
                    self.collect_incoming_data(buf)
                    self.ac_in_buffer = b""
                    self.terminator = term - len(buf)
                else:
                    self.collect_incoming_data(buf[:term])
                    self.ac_in_buffer = buf[term:]
                    self.terminator = 0
                    self.found_terminator()
            else:
                i = buf.find(term)
                if i >= 0:
                    # an empty piece before the terminator is not reported
                    if i:
                        self.collect_incoming_data(buf[:i])
                    self.ac_in_buffer = buf[i + len(term) :]
                    self.found_terminator()
                    continue
                # hold back a tail that may be the start of a terminator split across reads
                n = find_prefix_at_end(buf, term)
                if n:
                    if n < len(buf):
                        self.collect_incoming_data(buf[:-n])
                        self.ac_in_buffer = buf[-n:]
                    return
                self.collect_incoming_data(buf)
                self.ac_in_buffer = b""

    # the socket can take more: send the next chunk
    def handle_write(self):
        self.initiate_send()

    # the peer has gone: close
    def handle_close(self):
        self.close()

    # send bytes-like data now if nothing is queued, and queue what the socket does not take
    def push(self, data):
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError("data argument must be bytes-like, not %s" % type(data).__name__)
        if self.producer_fifo or not self.connected or len(data) > self.ac_out_buffer_size or not self._io_errors_handled:
            self._queue(data)
            return
        sent = self.send(data)
        if sent < len(data) and self.connected:
            self.interest_changed()
            self.producer_fifo.append(_window(data)[sent:])
            self._queued += len(data) - sent
            self._output_level(self._queued)

    # queue data behind what is queued, then try to send
    def _queue(self, data):
        fifo = self.producer_fifo
        if not fifo:
            self.interest_changed()
        self._queued += len(data)
        if len(data) > self.ac_out_buffer_size:
            self._queue_in_pieces(data)
        else:
            fifo.append(data)
        self.initiate_send()

    # queue big data in pieces of at most ac_out_buffer_size, views of it: no copy
    def _queue_in_pieces(self, data):
        size = self.ac_out_buffer_size
        data = _window(data)
        for i in range(0, len(data), size):
            self.producer_fifo.append(data[i : i + size])

    # queue a producer (an object whose more() returns data, b"" when done), then try to send
    def push_with_producer(self, producer):
        if not self.producer_fifo:
            self.interest_changed()
        self.producer_fifo.append(producer)
        self.initiate_send()

    # input is always wanted: the terminator logic needs every byte
    def readable(self):
        return True

    # output is wanted while data is queued, or to learn that a connect completed
    def writable(self):
        return bool(self.producer_fifo) or not self.connected

    # close the channel once everything queued so far is sent
    def close_when_done(self):
        if not self.producer_fifo:
            self.interest_changed()
        self.producer_fifo.append(None)

    # send at most one chunk from the head of the queue; tell the poller when the queue empties
    def initiate_send(self):
        fifo = self.producer_fifo
        if fifo:
            self._send_one()
        if not fifo and self._queued:
            self._queued = 0  # all sent, or emptied by hand (cleared, say): a pause must end
        self.interest_changed()  # emptied; or filled by hand (not by push) and not all sent yet
        self._output_level(self._queued)

    # A socket error send() or recv() met, to handle_error() as asynchat's initiate_send and handle_read
    # gave it: in an except, so that sys.exc_info() and a bare raise there see it.
    def _io_error(self, e):
        try:
            raise e
        except OSError:
            uasyncore._error(self, e)

    # A program's own recv() or send(): what it raises goes where asynchat sent it (in the except, so
    # sys.exc_info() has it): "not now" moves nothing, the rest goes to handle_error().
    def _guarded(self, call, arg, nothing):
        try:
            return call(arg)
        except OSError as e:
            if not (isinstance(e, _BLOCKED) or e.args and e.args[0] in uasyncore._WOULDBLOCK):
                uasyncore._error(self, e)
            return nothing

    def _send_one(self):
        fifo = self.producer_fifo
        while fifo and self.connected:
            first = fifo[0]
            # drop empty data; a None queued by close_when_done closes the channel
            if not first:
                del fifo[0]
                if first is None:
                    self.handle_close()
                    return
                continue
            # a producer: put its next piece in front of it, or drop it once exhausted
            if hasattr(first, "more"):
                data = first.more()
                if data:
                    fifo.insert(0, data)
                    self._queued += len(data)
                else:
                    del fifo[0]
                continue
            if isinstance(first, str) and self.use_encoding:
                first = fifo[0] = _encode(first, self.encoding)
            size = self.ac_out_buffer_size
            data = first if len(first) <= size else _window(first)[:size]
            sent = self.send(data) if self._io_errors_handled else self._guarded(self.send, data, 0)
            if sent:
                self._queued -= sent
                if sent < len(first):
                    fifo[0] = _window(first)[sent:]
                else:
                    del fifo[0]
            return

    # drop all buffered input and queued output (emergencies only)
    def discard_buffers(self):
        self._queued = 0
        self.ac_in_buffer = b""
        self.incoming.clear()
        if self.producer_fifo:
            self.interest_changed()
        self.producer_fifo.clear()
        self._output_level(0)  # paused at out_high: nothing is queued now


# async_chat tells the poller whenever writable()'s answer may change, so it is not asked every pass.
uasyncore._REPORTED.extend((async_chat.readable, async_chat.writable))
_recv = uasyncore.dispatcher.recv
_send = uasyncore.dispatcher.send


##### Helpers


# A producer that hands out data in pieces of buffer_size.
class simple_producer:
    # an offset into data, so each piece is one slice and the rest is never copied
    def __init__(self, data, buffer_size=512):
        self.data = data
        self.buffer_size = buffer_size
        self.offset = 0

    # the next piece, or empty data when all has been handed out
    def more(self):
        start = self.offset
        self.offset = start + self.buffer_size
        return self.data[start : self.offset]


# how long a proper prefix of needle haystack ends with (0 if none); assumes no full match
def find_prefix_at_end(haystack, needle):
    for n in range(len(needle) - 1, 0, -1):
        if haystack.endswith(needle[:n]):
            return n
    return 0
