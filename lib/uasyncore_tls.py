# uasyncore_tls: TLS (and STARTTLS) for uasyncore's channels, on CPython's ssl and MicroPython's.
#
#     start_tls(channel, context, server_side=True)          # an accepted channel, or STARTTLS
#     start_tls(channel, context, server_hostname="broker")  # a client, before or after connect()
#
# start_tls() puts a TLSSocket in the place of the channel's socket: dispatcher, dispatcher_with_send
# and async_chat then send and receive through it unchanged. While the handshake runs, the layer
# answers the channel's readable()/writable() and takes its read and write events (set on the
# instance), so the loop polls for what the handshake needs. A write that would block is retried
# with the very same chunk, as OpenSSL and mbedTLS require; decrypted bytes waiting inside the SSL
# object are delivered without a new packet. What differs between the two ssl modules is told apart
# by what the SSL object offers (do_handshake), never by platform name. A service without TLS never
# imports this module.
import ssl

import uasyncore

try:
    import gc
except ImportError:
    gc = None

_port = uasyncore._port
_IN = _port.POLLIN
_OUT = _port.POLLOUT

CHUNK = 4096  # bytes per TLS write (mbedTLS's record): a write that would block is retried with these
HANDSHAKE_TIMEOUT = _port.TLS_HANDSHAKE_TIMEOUT  # seconds a handshake may take (the port's default)
MAX_CONNECTIONS = _port.TLS_MAX_CONNECTIONS  # a TLS listener's budget on this port (None: no cap)
# GC heap kept free beyond one connection's cost before another is taken (the handshake's peak and
# the program's own allocations), where mbedTLS allocates from the GC heap.
RESERVE = 8192

# CPython's ssl says "would block" with exceptions; MicroPython's returns None instead.
_WANT_READ = getattr(ssl, "SSLWantReadError", ())
_WANT_WRITE = getattr(ssl, "SSLWantWriteError", ())
# A peer that went away during the handshake: ssl's EOF errors; mbedTLS's MBEDTLS_ERR_SSL_CONN_EOF.
_EOF = (getattr(ssl, "SSLEOFError", ()), getattr(ssl, "SSLZeroReturnError", ()))
_MBEDTLS_EOF = -0x7280
_probe = bytearray(1)  # what a MicroPython handshake step reads into: at most one early byte

_mem_free = getattr(gc, "mem_free", None)
_cost = [None]  # GC-heap bytes a TLS connection takes: None until measured, 0 if not there


##### contexts

_HOST_SSL = hasattr(ssl, "DER_cert_to_PEM_cert")  # CPython's ssl: its contexts load PEM files only


# A server context from a certificate (chain) and its key: file names or the data, PEM or DER.
def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert = _data(cert)
    key = _data(key)
    if _HOST_SSL:
        _host_load_chain(ctx, cert, key)
        return ctx
    try:
        ctx.load_cert_chain(cert, key)
    except ValueError:  # a MicroPython built without PEM: the leaf certificate and the key in DER
        ctx.load_cert_chain(_der(cert, b"CERTIFICATE")[0], _der(key, b"PRIVATE KEY")[0])
    return ctx


# A client context that checks the server's certificate against cafile or cadata (PEM or DER) and
# its name against the server_hostname given to start_tls(). verify=False turns both checks off,
# only on request. Without a CA, CPython uses the system's; MicroPython has none (its handshakes fail).
def client_context(cafile=None, cadata=None, verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        if _HOST_SSL:
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython's ssl.SSLContext starts at CERT_NONE
    cas = _data(cafile) if cafile is not None else cadata
    if cas is None:
        if _HOST_SSL:
            ctx.load_default_certs()
        return ctx
    if isinstance(cas, str):
        cas = cas.encode()
    if _HOST_SSL:
        ctx.load_verify_locations(cadata=cas.decode() if _is_pem(cas) else cas)
        return ctx
    try:
        ctx.load_verify_locations(cadata=cas)
    except ValueError:  # PEM on a MicroPython that takes DER only: one certificate at a time
        for der in _der(cas, b"CERTIFICATE"):
            ctx.load_verify_locations(cadata=der)
    return ctx


# The bytes of a file name, or the data itself.
def _data(x):
    if isinstance(x, str):
        with open(x, "rb") as f:
            return f.read()
    return bytes(x)


def _is_pem(data):
    return data.find(b"-----BEGIN ") >= 0


# The DER of each PEM block in data whose label ends with `label` (data that is DER: itself).
def _der(data, label):
    if not _is_pem(data):
        return [data]
    import binascii

    out = []
    for block in data.split(b"-----BEGIN ")[1:]:
        name, _, rest = block.partition(b"-----")
        if name.endswith(label):
            body = rest.partition(b"-----END ")[0]
            out.append(binascii.a2b_base64(b"".join(body.split())))
    return out


# The PEM label of a DER private key, told by its structure: PKCS#8, SEC1 (EC) or PKCS#1 (RSA).
def _key_label(der):
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)  # past the outer SEQUENCE's header
    i += 2 + der[i + 1]  # past the version INTEGER
    return {0x30: "PRIVATE KEY", 0x04: "EC PRIVATE KEY"}.get(der[i], "RSA PRIVATE KEY")


# CPython: load a chain and key given as data (PEM or DER) through PEM files, the only form it loads.
def _host_load_chain(ctx, cert, key):
    import os
    import tempfile

    if not _is_pem(cert):
        cert = ssl.DER_cert_to_PEM_cert(cert).encode()
    if not _is_pem(key):
        b64 = ssl.DER_cert_to_PEM_cert(key).split("\n", 1)[1].rsplit("-----END", 1)[0]
        label = _key_label(key)
        key = ("-----BEGIN %s-----\n%s-----END %s-----\n" % (label, b64, label)).encode()
    with tempfile.TemporaryDirectory() as tmp:
        names = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for name, data in zip(names, (cert, key)):
            with open(name, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(*names)


##### starting TLS on a channel


# Run TLS on channel's connection, as a server or a client. On a channel not connected yet (a client
# before or during connect()) it starts once the connection is up; on one with plaintext still queued
# (STARTTLS: the "go ahead" reply) once that is sent, reading nothing meanwhile. The handshake must end
# within `timeout` seconds (HANDSHAKE_TIMEOUT by default), else a server's channel gets handle_close()
# and a client's handle_error() with ETIMEDOUT. After STARTTLS, do not trust plaintext the peer sent
# before the switch (an async_chat may still hold some in ac_in_buffer).
def start_tls(channel, context, server_side=False, server_hostname=None, timeout=None):
    # (a channel whose host name is being looked up has no key yet: it is connecting)
    if channel.socket is None or channel._fileno is None and not channel.connecting:
        raise OSError(_port.EBADF, "start_tls() needs an open channel: create_socket() first, or it was closed")
    args = (context, server_side, server_hostname, HANDSHAKE_TIMEOUT if timeout is None else timeout)
    if not channel.connected:
        # the connection's first event (read or write, or a connect() that completes at once) starts
        # TLS, and nothing of the program's runs
        later = _Later(channel, args).connect_event
        channel.handle_connect_event = channel.handle_read_event = channel.handle_write_event = later
    elif _queued(channel):
        later = _Later(channel, args)
        later.paused = not channel._reading_paused
        channel.pause_reading()
        channel.handle_write_event = later.write_event
    else:
        _begin(channel, args, False)


# Whether a channel still has output queued (dispatcher_with_send, async_chat).
def _queued(channel):
    return getattr(channel, "_queued", 0) or getattr(channel, "producer_fifo", None)


class _Later:
    # start_tls() on a channel that could not take it yet: waits for its connection or its queue.
    def __init__(self, channel, args):
        self.channel = channel
        self.args = args
        self.paused = False  # it paused reading itself (STARTTLS), so resumes it

    # A client's connection is up (or failed): check it as the core does, then start TLS.
    def connect_event(self):
        ch = self.channel
        del ch.handle_connect_event
        del ch.handle_read_event
        del ch.handle_write_event
        ch._cancel_timer("_connect_timer")
        err = _port.sock_error(ch.socket)
        if err != 0:
            raise OSError(err, _port.strerror(err))
        _begin(ch, self.args, True)

    # STARTTLS: the plaintext still queued goes out first; TLS starts once it is all sent.
    def write_event(self):
        ch = self.channel
        type(ch).handle_write_event(ch)
        if ch._fileno is None or _queued(ch):
            return  # closed, or more to send
        del ch.handle_write_event
        if self.paused:
            ch.resume_reading()
        _begin(ch, self.args, False)


# Wrap the channel's socket and put a TLSSocket in its place. connecting: a client whose TCP
# connection just came up, so handle_connect() is still to come.
def _begin(ch, args, connecting):
    context, server_side, hostname, timeout = args
    raw = ch.socket
    before = _check_room()
    if server_side:
        sslobj = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
    else:
        sslobj = context.wrap_socket(raw, server_side=False, do_handshake_on_connect=False,
                                     server_hostname=hostname)
    _learn_cost(before)
    tls = (_OpenSSL if hasattr(sslobj, "do_handshake") else _MbedTLS)(ch, sslobj, raw, server_side)
    try:
        ch.del_channel()
        ch.set_socket(tls)  # keyed by what the loop polls: the SSL object (uasyncore._key)
        tls.take_over(timeout)
    except BaseException:
        ch.close()
        raise
    tls.begin(connecting)  # what fails here is the handshake's: routed as the loop routes it
    return tls


# Where mbedTLS allocates from the GC heap (rp2, the board-like build), a connection that would not fit
# is refused with ENOMEM before it takes memory the others need (a server's accept fails, a client's
# connect). Returns the heap in use when the cost is still to be measured.
def _check_room():
    if _mem_free is None or _cost[0] == 0:
        return None
    gc.collect()
    if _cost[0] is None:
        return gc.mem_alloc()
    if _cost[0] and _mem_free() < _cost[0] + RESERVE:
        raise OSError(_port.ENOMEM, "no memory for another TLS connection")
    return None


# The first wrap measures a connection's cost on the GC heap; a few hundred bytes mean mbedTLS
# allocates elsewhere (the C heap on unix, ESP-IDF's on ESP32): then nothing is checked.
def _learn_cost(before):
    if before is not None:
        gc.collect()
        used = gc.mem_alloc() - before
        _cost[0] = used if used > 4096 else 0


##### the socket a TLS channel sends and receives through


class TLSSocket:
    # The SSL object in the place of a channel's socket, with what a blocked write holds and the
    # handshake's state. The core and its port adapter call the socket methods below.
    ready = False  # the handshake is known to be over
    closed = False
    held = None  # the chunk a write blocked on: the next write sends exactly these bytes
    wants = 0  # poll flags the handshake, or the held write, waits for
    early = None  # a byte read while learning that the handshake was over (MicroPython)
    timer = None  # the handshake's deadline
    client = False  # a client whose handle_connect() waits for the end of the handshake
    announced = False
    patched = False  # the channel's predicates and events are the layer's
    _resumes = False

    def __init__(self, channel, sslobj, raw, server_side):
        self.channel = channel
        self.ssl = sslobj
        self.polled = sslobj  # what the loop polls for this socket (uasyncore._key reads it)
        self.raw = raw
        self.server_side = server_side

    # Answer the channel's predicates and take its events, and set the handshake's deadline. On an
    # accepted channel the handshake is a phase (the core's, which the slot policy judges) from now:
    # its bytes never reach the program, so it counts none, and past the grace a pressed listener takes
    # it back like a silent client; its deadline is this timer (the core checks a phase's only when
    # bytes arrive).
    def take_over(self, timeout):
        ch = self.channel
        ch.readable = self._readable
        ch.writable = self._writable
        ch.handle_read_event = self._read_event
        ch.handle_write_event = self._write_event
        self.patched = True
        # from a timer, what the channel's hooks raise is the channel's (handle_error), as from an event
        self.timer = uasyncore.call_later(timeout, uasyncore._deliver, ch, self._expired, map=ch._map)
        if ch._owner is not None:
            ch._got = 0
            ch._mark = _port.ticks_ms()
        ch.interest_changed()

    # Give the channel its own predicates and events back.
    def release(self):
        if not self.patched:
            return
        self.patched = False
        ch = self.channel
        del ch.readable
        del ch.writable
        del ch.handle_read_event
        del ch.handle_write_event
        if self._resumes:
            del ch.resume_reading

    # The handshake is over: stop the deadline and end its phase (the protocol's first begins with its
    # first bytes, so the time the handshake took is not counted against it), then a client connects
    # and handle_tls_ready() runs; learned inside one of the program's own sends or reads, they wait for
    # the end of the pass.
    def finished(self, later):
        if self.ready:
            return
        self.ready = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.channel._owner is not None:
            self.channel.end_phase()
        if later:
            uasyncore.call_later(0, uasyncore._deliver, self.channel, self.announce, map=self.channel._map)
        else:
            self.announce()

    def announce(self):
        ch = self.channel
        if self.announced or self.closed:
            return
        self.announced = True
        if self.client:
            self.client = False
            ch.connected = True
            ch.connecting = False
            ch.handle_connect()
        hook = getattr(ch, "handle_tls_ready", None)
        if hook is not None and not self.closed:
            hook()
        ch.interest_changed()

    # The deadline came before the handshake ended: a silent peer.
    def _expired(self):
        self.timer = None
        if self.closed or self.ready:
            return
        ch = self.channel
        if self.server_side:
            ch.handle_close()
            return
        try:
            raise OSError(_port.ETIMEDOUT, "TLS handshake timed out")  # raised: a traceback to report
        except OSError as e:
            uasyncore._error(ch, e)

    # The peer closed during the handshake: a server's client went away (handle_close()); a client's
    # connection failed (handle_error(), as for any failed connect).
    def _peer_gone(self, e):
        if not self.server_side:
            raise e
        self.channel.handle_close()

    ##### socket methods

    def send(self, data):
        n = len(data)
        return self.write(data, n) if n else 0

    # Send buf[:n] a chunk of at most CHUNK bytes at a time while the SSL object takes them: the count,
    # or None when nothing could go now. The caller then offers the bytes not counted again (asyncore's
    # rule, which dispatcher_with_send and async_chat follow), so a chunk that blocked after others went
    # is held and its bytes are the next the caller offers; the retry of a held chunk counts that chunk
    # alone. One chunk per call would cost a loop pass (on MicroPython's unix port a poll period, 1 ms)
    # per 4 KB.
    def write(self, buf, n):
        retry = self.held is not None
        sent = self._write_chunk(buf, n)
        if retry or sent is None or sent >= n:
            return sent
        return self._write_rest(buf, sent, n)

    # More than a chunk to send: the next chunks while the SSL object takes them.
    def _write_rest(self, buf, sent, n):
        view = memoryview(buf)
        while sent < n and self.held is None and not self.closed:
            more = self._write_chunk(view[sent:], n - sent)
            if more is None:
                break
            sent += more
        return sent

    # Send at most CHUNK bytes of buf[:n]: the count, or None when nothing could go now; the SSL object
    # gets exactly the chunk it blocked on again, and the count of it.
    def _write_chunk(self, buf, n):
        held = self.held
        if held is None:
            if self.gated and not self.ready:
                return None
            if n > CHUNK:
                n = CHUNK
            sent = self._write(buf, n)
            if sent is None:
                # bytes cannot change, so a view of them holds the chunk; what else the caller may
                # reuse (its buffer, a bytearray) is copied
                self.held = memoryview(buf)[:n] if type(buf) is bytes else bytes(memoryview(buf)[:n])
                self._blocked()
                return None
        else:
            sent = self._write(held, len(held))
            if sent is None:
                self._blocked()
                return None
            self.held = None
            self.wants = 0
            self.channel.interest_changed()
        if not self.ready:
            self.finished(True)
        return sent

    def recv(self, n, flags=0):
        if flags:
            return self.raw.recv(n, flags)  # a port peeking for a connect's error asks the raw socket
        if self.early is not None:
            return self._take_early()
        data = self._read(n)
        if data is None:
            raise OSError(_port.EAGAIN, "EAGAIN")  # as a socket says it: a port reads with recv()
        if data and not self.ready:
            self.finished(True)
        return data

    # recv_into(buf, n): the count read into buf, None when nothing is there yet.
    def recv_into(self, buf, n=0):
        if self.early is not None:
            buf[0] = self._take_early()[0]
            return 1
        got = self._read_into(buf, n or len(buf))
        if got and not self.ready:
            self.finished(True)
        return got

    readinto = recv_into

    def _take_early(self):
        b = self.early
        self.early = None
        return b

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.held = None
        self.release()
        try:
            self.ssl.close()
        except OSError:
            pass
        self.raw.close()  # MicroPython's SSL object leaves it open after a failed handshake

    def fileno(self):
        return self.ssl.fileno()

    def setblocking(self, flag):
        pass  # non-blocking from the start (and MicroPython's SSL object crashes on it once closed)

    def getsockopt(self, *args):
        return self.ssl.getsockopt(*args)

    def setsockopt(self, *args):
        return self.ssl.setsockopt(*args)

    def getpeername(self):
        return self.ssl.getpeername()


class _MbedTLS(TLSSocket):
    # MicroPython's SSL object: None means "would block". It has no do_handshake(): a read or a write
    # drives the handshake, and only the first byte read or written shows it is over. Polled itself,
    # it asks the OS for the direction its handshake needs and reports bytes waiting inside mbedTLS;
    # so once the handshake is over, the channel's own predicates and events serve.
    gated = False  # the program's writes go to mbedTLS at once: a write drives the handshake too

    # A client's handle_connect() comes now: what it sends waits inside the layer until the handshake
    # (and the certificate check) has succeeded. A first read sends the ClientHello.
    def begin(self, connecting):
        ch = self.channel
        if connecting:
            ch.connected = True
            ch.connecting = False
            ch.handle_connect()
            ch.interest_changed()
        if not self.server_side and self.held is None and not self.closed:
            self._probe()

    # Read to drive the handshake: at most one byte of data, kept for the program's next read.
    def _probe(self):
        try:
            got = self.ssl.readinto(_probe)
        except OSError as e:
            if e.args and e.args[0] == _MBEDTLS_EOF:
                self._peer_gone(e)
                return
            raise
        if got is None:
            return
        if not got:
            self.channel.handle_close()  # the peer closed as soon as the handshake was over
            return
        self.early = bytes(_probe)
        self.finished(False)

    # Before the handshake is known to be over: a write blocked on it waits (its retry, through the
    # program's own send, drives the handshake), otherwise a read does.
    def _readable(self):
        return self.held is None

    def _writable(self):
        return self.held is not None

    def _read_event(self):
        ch = self.channel
        if self.held is None:
            self._probe()
        if self.ready and not self.closed:
            type(ch).handle_read_event(ch)

    def _write_event(self):
        ch = self.channel
        type(ch).handle_write_event(ch)  # the program's send retries the held chunk

    def announce(self):
        self.release()
        TLSSocket.announce(self)

    def _blocked(self):
        self.channel.interest_changed()

    def _write(self, buf, n):
        return self.ssl.write(buf, n)

    def _read(self, n):
        return self.ssl.recv(n)

    def _read_into(self, buf, n):
        return self.ssl.readinto(buf, n)


class _OpenSSL(TLSSocket):
    # CPython's SSLSocket: "would block" is an exception that says which way; do_handshake() tells
    # when the handshake is over; decrypted bytes can wait in pending() while the socket polls quiet.
    gated = True  # the program's writes wait for the end of the handshake
    read_wants_out = False  # a read must write first (a renegotiation or a key update)
    drain_due = False  # a pass is to hand over bytes waiting in the SSL object

    def begin(self, connecting):
        ch = self.channel
        self.client = connecting  # a failed handshake is a failed connect until then
        ch.resume_reading = self._resume_reading
        self._resumes = True
        self.wants = _IN
        if not self.server_side:
            self._step()

    def _step(self):
        was = self.wants
        try:
            self.ssl.do_handshake()
        except _WANT_READ:
            self.wants = _IN
        except _WANT_WRITE:
            self.wants = _OUT
        except _EOF as e:
            self._peer_gone(e)
            return
        else:
            self.wants = 0
            self.finished(False)
            return
        if self.wants != was:
            self.channel.interest_changed()

    # While the handshake runs only its direction is polled; after it, the program's, except that a
    # held write waits for the direction it needs (a write waiting to read must not poll for writing).
    # A program that wants to read again while decrypted bytes wait in the SSL object (it stopped
    # reading while its output was backed up, say) would wait for a poll event that never comes: they
    # are handed over right after this pass instead.
    def _readable(self):
        ch = self.channel
        if not self.ready:
            return self.wants & _IN
        wants = self.wants & _IN or type(ch).readable(ch)
        if wants and not self.drain_due and not self.closed and self.ssl.pending():
            self.drain_due = True
            uasyncore.call_later(0, self._drain_later, map=ch._map)
        return wants

    def _writable(self):
        ch = self.channel
        if not self.ready:
            return self.wants & _OUT
        if self.held is not None:
            return self.wants & _OUT
        return self.read_wants_out or type(ch).writable(ch)

    def _read_event(self):
        ch = self.channel
        if not self.ready:
            self._step()
        else:
            if self.held is not None and self.wants & _IN:
                type(ch).handle_write_event(ch)  # what the blocked write waited for: the program retries
            if not self.closed:
                type(ch).handle_read_event(ch)
        self._drain()

    def _write_event(self):
        ch = self.channel
        if not self.ready:
            self._step()
            self._drain()
            return
        if self.read_wants_out:
            self.read_wants_out = False
            ch.interest_changed()
            type(ch).handle_read_event(ch)
            self._drain()
        if not self.closed:
            type(ch).handle_write_event(ch)
            self._drain()  # what it sent may have made the program readable, with bytes already decrypted

    # Bytes decrypted but not yet read make no poll event: hand them to the program while it reads
    # (one that pauses reading gets them when it resumes).
    def _drain(self):
        ch = self.channel
        sslobj = self.ssl
        left = sslobj.pending() if self.ready and not self.closed else 0
        while left and not self.closed and not ch._reading_paused and ch.readable():
            type(ch).handle_read_event(ch)
            now = sslobj.pending() if not self.closed else 0
            if now >= left:
                return  # the program read nothing: it waits for something else
            left = now

    def _resume_reading(self):
        ch = self.channel
        type(ch).resume_reading(ch)
        if self.ready and not self.closed and not self.drain_due and self.ssl.pending():
            self.drain_due = True
            uasyncore.call_later(0, self._drain_later, map=ch._map)

    def _drain_later(self):
        self.drain_due = False
        try:
            self._drain()
        except uasyncore._reraised_exceptions:
            raise
        except Exception as e:
            uasyncore._event_error(self.channel, e)

    def _blocked(self):
        self.channel.interest_changed()

    def _write(self, buf, n):
        try:
            return self.ssl.send(memoryview(buf)[:n])
        except _WANT_WRITE:
            self.wants = _OUT
        except _WANT_READ:
            self.wants = _IN
        except _EOF:
            raise OSError(_port.EPIPE, "EPIPE")  # the peer is gone: closed, as a plain socket's send
        return None

    def _read(self, n):
        if not self.ready:
            return None
        try:
            return self.ssl.recv(n)
        except _WANT_READ:
            return None
        except _WANT_WRITE:
            self._read_blocked()
            return None
        except _EOF:
            return b""

    def _read_into(self, buf, n):
        if not self.ready:
            return None
        try:
            return self.ssl.recv_into(buf, n)
        except _WANT_READ:
            return None
        except _WANT_WRITE:
            self._read_blocked()
            return None
        except _EOF:
            return 0

    def _read_blocked(self):
        if not self.read_wants_out:
            self.read_wants_out = True
            self.channel.interest_changed()
