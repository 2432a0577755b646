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


# Whether buf[:n] holds exactly the bytes of `held`, compared without a copy (a board-sized heap).
def same(buf, n, held):
    if n != len(held):
        return False
    for i in range(n):
        if buf[i] != held[i]:
            return False
    return True


class FakeMbedTLS:
    # MicroPython's SSL object: None for "would block", no do_handshake, at most 4096 bytes a write.
    # mbedtls_ssl_write's rule is modelled as it is: after a write returned None the next write sends
    # the bytes of the blocked one (already encrypted) and returns the *new* length, so a caller that
    # offers other bytes loses or repeats data. `wire` is what reaches the peer; `broken` counts the
    # writes that followed a blocked one with other bytes, what mbedTLS forbids.
    _next_fd = 20000

    def __init__(self, raw=None):
        FakeMbedTLS._next_fd += 1
        self.fd = FakeMbedTLS._next_fd
        self.raw = raw
        self.write_plan = []  # per write: None (would block) or anything else (takes it); empty: take
        self.inbox = []  # per read: bytes, None (would block), b"" (end of stream) or an exception
        self.wire = bytearray()
        self.blocked = None  # the bytes of the write that returned None, held by mbedTLS
        self.broken = 0
        self.longest = 0  # the most bytes one write was offered
        self.reads = 0
        self.closed = False

    def fileno(self):
        return self.fd

    def write(self, buf, n=None):
        n = len(buf) if n is None else n
        self.longest = max(self.longest, n)
        n = min(n, 4096)
        if self.blocked is not None and not same(buf, n, self.blocked):
            self.broken += 1
        if self.write_plan:
            step = self.write_plan.pop(0)
            if isinstance(step, BaseException):
                raise step
            if step is None:
                if self.blocked is None:
                    self.blocked = bytes(memoryview(buf)[:n])
                return None
        if self.blocked is not None:
            self.wire.extend(self.blocked)  # the old record goes out; the call reports its own length
            self.blocked = None
        else:
            self.wire.extend(memoryview(buf)[:n])
        return n

    send = write

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
        n = len(data)
        self.longest = max(self.longest, n)
        if self.blocked is not None and not same(data, n, self.blocked):
            raise oserror(_port.EINVAL)  # OpenSSL: "bad length" (or the wrong bytes sent)
        if self.write_plan:
            step = self.write_plan.pop(0)
            if isinstance(step, BaseException):
                raise step
            if step in (None, "read"):
                if self.blocked is None:
                    self.blocked = bytes(data)
                raise uasyncore_tls._WANT_READ() if step == "read" else uasyncore_tls._WANT_WRITE()
        self.blocked = None
        self.wire.extend(data)
        return n

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
