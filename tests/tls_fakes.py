# Fake SSL objects for uasyncore_tls's portable tests: mbedTLS's (MicroPython) and OpenSSL's (CPython)
# behaviour at the points the layer depends on, scripted, on every runtime.
import uasyncore_tls

from support import FakeSocket, oserror, _port


# The "would block" exceptions of CPython's ssl; where the runtime's ssl has none, stand-ins that the
# layer is told to catch for the test (use_want_errors).
class FakeWantRead(OSError):
    pass


class FakeWantWrite(OSError):
    pass


class FakeEOF(OSError):
    pass


# Make uasyncore_tls catch the fakes' exceptions for the length of a test.
def use_want_errors(test):
    for name, fake in (("_WANT_READ", FakeWantRead), ("_WANT_WRITE", FakeWantWrite), ("_EOF", FakeEOF)):
        test.addCleanup(setattr, uasyncore_tls, name, getattr(uasyncore_tls, name))
        setattr(uasyncore_tls, name, fake)


class FakeMbedTLS:
    # MicroPython's SSL object: None for "would block", no do_handshake, at most 4096 bytes a write.
    # mbedtls_ssl_write's rule is modelled as it is: after a write returned None the next write sends
    # the bytes of the blocked one (already encrypted) and returns the *new* length, so a caller that
    # offers other bytes loses or repeats data. `wire` is what reaches the peer.
    _next_fd = 20000

    def __init__(self, raw=None):
        FakeMbedTLS._next_fd += 1
        self.fd = FakeMbedTLS._next_fd
        self.raw = raw
        self.write_plan = []  # per write: None (would block) or a count the socket takes; empty: all
        self.inbox = []  # per read: bytes, None (would block), b"" (end of stream) or an exception
        self.writes = []  # (bytes offered, result) of every write
        self.wire = bytearray()
        self.blocked = None  # the bytes of the write that returned None, held by mbedTLS
        self.reads = 0
        self.closed = False

    def fileno(self):
        return self.fd

    def write(self, buf, n=None):
        data = bytes(memoryview(buf)[: len(buf) if n is None else n])
        n = min(len(data), 4096)
        if self.write_plan:
            step = self.write_plan.pop(0)
            if isinstance(step, BaseException):
                raise step
            if step is None:
                if self.blocked is None:
                    self.blocked = data[:n]
                self.writes.append((data, None))
                return None
        if self.blocked is not None:
            self.wire.extend(self.blocked)  # the old record goes out; the call reports its own length
            self.blocked = None
        else:
            self.wire.extend(data[:n])
        self.writes.append((data, n))
        return n

    send = write

    # The writes after a blocked one that offered other bytes: what mbedTLS forbids.
    def broken_retries(self):
        bad = []
        for i in range(1, len(self.writes)):
            if self.writes[i - 1][1] is None and self.writes[i][0] != self.writes[i - 1][0]:
                bad.append(i)
        return bad

    def _next(self, n):
        self.reads += 1
        if not self.inbox:
            return None
        item = self.inbox.pop(0)
        if isinstance(item, BaseException):
            raise item
        if item is not None and len(item) > n:
            self.inbox.insert(0, item[n:])
            item = item[:n]
        return item

    def recv(self, n):
        return self._next(n)

    def readinto(self, buf, n=0):
        data = self._next(n or len(buf))
        if data is None:
            return None
        buf[: len(data)] = data
        return len(data)

    recv_into = readinto

    def close(self):
        self.closed = True


class FakeOpenSSL(FakeMbedTLS):
    # CPython's SSLSocket: do_handshake() and "would block" as exceptions; a retried write must offer
    # the same bytes (OpenSSL continues the record it began); pending() counts decrypted bytes left of
    # the record being read, which no poll reports.
    def __init__(self, raw=None):
        FakeMbedTLS.__init__(self, raw)
        self.handshake_plan = []  # per do_handshake(): "read", "write", or an exception; empty: done
        self.handshakes = 0
        self.record = b""  # the rest of the record being read: pending()
        self.blocking = None

    def setblocking(self, flag):
        self.blocking = flag

    def do_handshake(self):
        self.handshakes += 1
        if self.handshake_plan:
            step = self.handshake_plan.pop(0)
            if step == "read":
                raise uasyncore_tls._WANT_READ()
            if step == "write":
                raise uasyncore_tls._WANT_WRITE()
            raise step

    def send(self, data):
        data = bytes(data)
        if self.write_plan:
            step = self.write_plan.pop(0)
            if isinstance(step, BaseException):
                raise step
            if step in (None, "read"):
                if self.blocked is None:
                    self.blocked = data
                self.writes.append((data, None))
                raise uasyncore_tls._WANT_READ() if step == "read" else uasyncore_tls._WANT_WRITE()
        if self.blocked is not None and data != self.blocked:
            raise oserror(_port.EINVAL)  # OpenSSL: "bad length" (or the wrong bytes sent)
        self.blocked = None
        self.wire.extend(data)
        self.writes.append((data, len(data)))
        return len(data)

    def write(self, buf, n=None):
        raise AssertionError("CPython's SSLSocket is written with send()")

    def recv(self, n):
        self.reads += 1
        if not self.record:
            if not self.inbox:
                raise uasyncore_tls._WANT_READ()
            item = self.inbox.pop(0)
            if isinstance(item, BaseException):
                raise item
            if not item:
                return b""
            self.record = item
        data, self.record = self.record[:n], self.record[n:]
        return data

    def recv_into(self, buf, n=0):
        data = self.recv(n or len(buf))
        buf[: len(data)] = data
        return len(data)


    def pending(self):
        return len(self.record)


class FakeContext:
    # An SSLContext whose wrap_socket() hands out the fake SSL object it was given.
    def __init__(self, sslobj):
        self.sslobj = sslobj
        self.wraps = []  # (raw socket, keyword arguments) of each wrap_socket()

    def wrap_socket(self, sock, **kw):
        self.wraps.append((sock, kw))
        if isinstance(self.sslobj, BaseException):
            raise self.sslobj
        self.sslobj.raw = sock
        return self.sslobj


# A connected raw socket for a channel (a FakeSocket that takes every send).
def raw_socket():
    return FakeSocket(peer=("127.0.0.1", 40000))
