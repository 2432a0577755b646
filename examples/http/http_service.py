# http_service: a device status service over HTTP/1.1, on uasynchat.
#
# GET / is a small HTML page, GET /api/status the same facts as JSON (both from device_status).
# Nothing else is served: the two routes are the whole URL space, so no request path can reach a file.
# Over HTTPS too, with a certificate (uasyncore_tls): beside plain HTTP or alone. The same file runs
# on CPython, the MicroPython unix port and boards.
import uasynchat
import uasyncore
from device_status import UPTIME_SAMPLE, Status

MAX_REQUEST_LINE = 1024  # bytes of the request line, its line end included; longer: 414
MAX_HEAD = 2048  # bytes of request line and headers together; more: 431
MAX_HEADERS = 32  # header lines; more: 431
MAX_BODY = 256  # body bytes a GET may carry (read and dropped); more: 413
MAX_CLIENTS = 4  # the listener's connection budget, or the port's own where that is smaller
# clients the OS may hold waiting for a slot: a deep queue lets them wait their turn while the core
# takes slots back from slow clients, where a full one drops their SYNs (a board's port caps it)
BACKLOG = 32
REQUEST_TIMEOUT = 5  # seconds a request's line and headers may take, from their first byte
IDLE_TIMEOUT = 30  # seconds a connection may sit idle between requests
LINGER = 2  # seconds a connection closed on an error keeps draining input, where sockets can shut down

_SHUT_WR = 1  # socket.SHUT_WR on every system that has shutdown()


##### HTTP responses: built from ready-made pieces, error responses built once and reused

_REASONS = {
    200: b"200 OK",
    400: b"400 Bad Request",
    404: b"404 Not Found",
    405: b"405 Method Not Allowed",
    413: b"413 Content Too Large",
    414: b"414 URI Too Long",
    431: b"431 Request Header Fields Too Large",
    500: b"500 Internal Server Error",
    501: b"501 Not Implemented",
    505: b"505 HTTP Version Not Supported",
}
_COMMON = b"Server: uasyncore\r\nCache-Control: no-store\r\n"
_KEEP = b"Connection: keep-alive\r\n"
_CLOSE = b"Connection: close\r\n"
TYPE_HTML = b"Content-Type: text/html; charset=utf-8\r\n"
TYPE_JSON = b"Content-Type: application/json\r\n"
TYPE_TEXT = b"Content-Type: text/plain; charset=utf-8\r\n"
ALLOW = b"Allow: GET, HEAD\r\n"


# A whole response as one bytes object, so it leaves in one send().
def response(status, ctype, body, keep, head_only, extra=b""):
    return b"".join(
        (
            b"HTTP/1.1 ",
            _REASONS[status],
            b"\r\n",
            _COMMON,
            ctype,
            extra,
            b"Content-Length: %d\r\n" % len(body),
            _KEEP if keep else _CLOSE,
            b"\r\n",
            b"" if head_only else body,
        )
    )


_canned = {}  # status * 4 + keep * 2 + head_only -> response bytes


# The response for an error status (or 404/405), made on first use and kept.
def canned(status, keep, head_only):
    key = status * 4 + (2 if keep else 0) + (1 if head_only else 0)
    data = _canned.get(key)
    if data is None:
        extra = ALLOW if status == 405 else b""
        data = _canned[key] = response(status, TYPE_TEXT, _REASONS[status] + b"\n", keep, head_only, extra)
    return data


##### HTTP requests: checks on the parts of the head

_PAGE_ROUTE = 1
_API_ROUTE = 2
_ROUTES = {b"/": _PAGE_ROUTE, b"/api/status": _API_ROUTE}


def _token_table():
    t = bytearray(128)
    for c in b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        t[c] = 1
    return bytes(t)


_TCHAR = _token_table()  # 1 for the bytes RFC 9110 allows in a method or header name


def _is_token(b):
    if not b:
        return False
    for c in b:
        if c > 127 or not _TCHAR[c]:
            return False
    return True


# The path of a request target (query dropped), or None if the target is malformed.
def request_path(target):
    for c in target:
        if c < 33 or c > 126:
            return None
    if target[:1] == b"/" or target == b"*":
        return target.partition(b"?")[0]
    scheme, sep, rest = target.partition(b"://")  # the absolute form a proxy would send
    if not sep or scheme.lower() not in (b"http", b"https") or not rest:
        return None
    i = rest.find(b"/")
    return rest[i:].partition(b"?")[0] if i >= 0 else b"/"


# HTTP version as 10 (1.0) or 11 (1.1 and later 1.x); 0 for another major version; -1 if malformed.
def http_version(v):
    if len(v) != 8 or v[:5] != b"HTTP/" or v[6:7] != b"." or not v[5:6].isdigit() or not v[7:8].isdigit():
        return -1
    if v[5:6] != b"1":
        return 0
    return 10 if v[7:8] == b"0" else 11


_HEADER_LENGTHS = (4, 10, 14, 17)  # host, connection, content-length, transfer-encoding: the others are skipped unread


##### the connection

_LINE = 0  # reading a request line
_HEADERS = 1
_BODY = 2  # dropping a small body
_DONE = 3  # the last response is queued: input is dropped until the connection closes


class _Finish:
    # Queued behind a connection's last response: the queue reaches it once all before it is sent.
    def __init__(self, conn, linger):
        self.conn = conn
        self.linger = linger

    def more(self):
        self.conn.finished(self.linger)
        return b""


class HttpConnection(uasynchat.async_chat):
    # One client: requests read line by line, one response in flight, keep-alive, an idle timeout.
    # A request's head is the core's phase (end_phase()): past REQUEST_TIMEOUT it is closed, and a
    # listener at its budget takes the slot of a slow one for a waiting client (uasyncore_slots).
    ac_in_buffer_size = 512  # bytes per recv(): small, a head rarely needs more than one
    out_high = 1  # one response in flight: reading pauses while any of it is queued...
    out_low = 0  # ... and resumes once all of it is sent
    phase_timeout = REQUEST_TIMEOUT
    lingered = None  # tick its last response was sent, once it drains input before closing

    def __init__(self, sock, server, map=None):
        self.server = server
        self.state = _LINE
        self.line = b""
        self.parked = b""  # input that follows a response still being sent
        self.idle_timeout = server.idle_timeout
        self.reset()
        self.set_terminator(b"\n")  # bare-LF line ends are accepted too (RFC 9112, 2.2)
        uasynchat.async_chat.__init__(self, sock, map)

    # Forget the last request: the next one starts clean.
    def reset(self):
        self.method = None
        self.route = 0
        self.version = 11
        self.head_len = 0
        self.headers = 0
        self.hosts = 0
        self.length = -1  # Content-Length, -1 when absent
        self.chunked = False
        self.conn = 0  # Connection: bit 1 close, bit 2 keep-alive

    ##### input: async_chat hands over pieces of a line, then the line end

    # Keep a piece of the current line, unless it breaks the size limits; body bytes are dropped.
    def collect_incoming_data(self, data):
        state = self.state
        if state > _HEADERS:
            return
        n = len(self.line) + len(data)
        if state == _LINE and n >= MAX_REQUEST_LINE:
            self.fail(414)
        elif self.head_len + n >= MAX_HEAD:
            self.fail(431)
        else:
            self.line = self.line + data if self.line else data

    def found_terminator(self):
        state = self.state
        if state == _BODY:  # the body is read: the next request may start
            self.state = _LINE
            self.set_terminator(b"\n")
            return
        if state == _DONE:
            return
        line = self.line
        self.line = b""
        self.head_len += len(line) + 1
        if self.head_len > MAX_HEAD:
            self.fail(431)
            return
        if line[-1:] == b"\r":
            line = line[:-1]
        if b"\r" in line or b"\0" in line:
            self.fail(400)
        elif state == _LINE:
            if line:  # empty lines before a request line are allowed (RFC 9112, 2.2)
                self.request_line(line)
        elif line:
            self.header(line)
        else:
            self.end_of_head()

    def request_line(self, line):
        parts = line.split(b" ")
        if len(parts) != 3:
            self.fail(400)
            return
        method, target, version = parts
        self.method = method
        v = http_version(version)
        path = request_path(target)
        if v < 0 or path is None or not _is_token(method):
            self.fail(400)
        elif v == 0:
            self.fail(505)
        else:
            self.version = v
            self.route = _ROUTES.get(path, 0)
            self.state = _HEADERS

    def header(self, line):
        self.headers += 1
        if self.headers > MAX_HEADERS:
            self.fail(431)
            return
        name, sep, value = line.partition(b":")
        # a name must be a bare token: this also refuses "Name : v" and folded continuation lines
        if not sep or not _is_token(name):
            self.fail(400)
            return
        if len(name) not in _HEADER_LENGTHS:
            return
        name = name.lower()
        value = value.strip(b" \t")
        if name == b"host":
            self.hosts += 1
        elif name == b"content-length":
            if not value.isdigit():
                self.fail(400)
                return
            digits = value.lstrip(b"0")
            n = int(digits or b"0") if len(digits) < 10 else 1 << 30  # beyond any limit; never a huge int
            if self.length >= 0 and self.length != n:
                self.fail(400)  # two different lengths: which one frames the body is anyone's guess
                return
            self.length = n
        elif name == b"transfer-encoding":
            self.chunked = True
        elif name == b"connection":
            for token in value.split(b","):
                token = token.strip(b" \t").lower()
                if token == b"close":
                    self.conn |= 1
                elif token == b"keep-alive":
                    self.conn |= 2

    # The head is complete: answer, then expect the next request (or close).
    def end_of_head(self):
        self.end_phase()
        if self.version == 11 and self.hosts != 1:
            self.fail(400)  # HTTP/1.1 requires exactly one Host (RFC 9112, 3.2)
            return
        if self.chunked:
            self.fail(501)  # no chunked request bodies here: no way to find where the next request starts
            return
        head_only = self.method == b"HEAD"
        length = self.length if self.length > 0 else 0
        too_big = length > MAX_BODY
        if not self.route:
            status = 404
        elif not (head_only or self.method == b"GET"):
            status = 405
        elif too_big:
            status = 413
        else:
            status = 200
        keep = self.keep_alive() and not too_big
        if status == 200:
            try:
                if self.route == _API_ROUTE:
                    data = response(200, TYPE_JSON, self.server.status.json(), keep, head_only)
                else:
                    data = response(200, TYPE_HTML, self.server.status.html(), keep, head_only)
            except Exception as e:  # a failing sensor costs this request, not the connection's neighbours
                self.log_info("status failed: %r" % (e,), "error")
                self.fail(500)
                return
        else:
            data = canned(status, keep, head_only)
        self.push(data)
        if not keep:
            self.finish(too_big)
            return
        self.reset()
        if length:
            self.state = _BODY
            self.set_terminator(length)
        else:
            self.state = _LINE
        if self.producer_fifo:
            # one response in flight: what follows waits until it is sent (see handle_write)
            self.parked = self.ac_in_buffer
            self.ac_in_buffer = b""

    # Whether the connection stays open after this response.
    def keep_alive(self):
        if self.conn & 1:
            return False
        return self.version == 11 or bool(self.conn & 2)

    # Answer a request that cannot be served with an error status, then close.
    def fail(self, status):
        self.end_phase()
        self.push(canned(status, False, self.method == b"HEAD"))
        self.finish(True)

    # Queue the close behind what is queued; from now on input is read and dropped.
    def finish(self, linger):
        self.state = _DONE
        self.line = b""
        self.parked = b""
        self.set_terminator(None)
        self.ac_in_buffer = b""
        self.push_with_producer(_Finish(self, linger))

    # The last response is sent. After an error the client may still be sending: closing with input
    # unread would reset the connection and could destroy the response, so shut down our side and
    # drain for LINGER seconds first, where the socket can shut down.
    def finished(self, linger):
        shutdown = getattr(self.socket, "shutdown", None)
        if not linger or shutdown is None:
            self.close()
            return
        try:
            shutdown(_SHUT_WR)
        except OSError:
            self.close()
            return
        self.lingered = uasyncore.ticks()
        self.set_idle_timeout(LINGER)

    ##### input waits while a response is queued (out_high, out_low); the linger has a deadline

    # The core's idle clock restarts at every byte: a client that keeps sending while the connection
    # lingers is closed LINGER seconds after its last response all the same.
    def handle_read(self):
        since = self.lingered
        if since is not None and uasyncore.ticks_diff(uasyncore.ticks(), since) >= LINGER * 1000:
            self.handle_idle()
        else:
            uasynchat.async_chat.handle_read(self)

    # The response is sent: parked input goes back in front of what comes next, and is framed now.
    def handle_write(self):
        self.initiate_send()
        if self.parked and not self.producer_fifo and self.connected:
            self.ac_in_buffer = self.parked + self.ac_in_buffer
            self.parked = b""
            self.handle_read()


##### the listener


class HttpServer(uasyncore.dispatcher):
    # Accepts clients up to its connection budget; serve() binds and listens. With a server context
    # (uasyncore_tls.server_context()) it serves HTTPS, within the port's TLS budget too.
    max_connections = min(MAX_CLIENTS, uasyncore.dispatcher.max_connections or MAX_CLIENTS)
    idle_timeout = IDLE_TIMEOUT
    # a kept-alive connection idle between requests gives its slot at once: its client reconnects
    slot_sessions = False
    slot_idle = 0

    def __init__(self, status=None, map=None, context=None):
        uasyncore.dispatcher.__init__(self, map=map)
        self.status = status or Status()
        self.context = context
        if context is not None:
            import uasyncore_tls

            tls_budget = uasyncore_tls.MAX_CONNECTIONS  # what this port's heap holds of TLS connections
            if tls_budget is not None and tls_budget < self.max_connections:
                self.max_connections = tls_budget
        self.sampler = uasyncore.call_every(UPTIME_SAMPLE, self.status.uptime, map=self._map)

    # At its budget with a client waiting, the core's make_room() closes the connection that deserves
    # its slot least (uasyncore_slots): a slow request's, else one idle between requests.
    def serve(self, host, port):
        self.create_socket()
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(BACKLOG)

    # A client whose connection cannot be set up (no heap for it, gone already) is turned away by
    # the core, which closes what was made of it and keeps this listener serving (handle_accept_error).
    def handle_accepted(self, sock, addr):
        conn = HttpConnection(sock, self, self._map)
        if self.context is not None:
            import uasyncore_tls

            uasyncore_tls.start_tls(conn, self.context, server_side=True)

    def close(self):
        self.sampler.cancel()
        uasyncore.dispatcher.close(self)


# Serve until interrupted. status: a Status with the board's name and sensor reader. With a
# certificate and its key (file names, PEM or DER) it serves HTTPS on port, and plain HTTP too on
# plain_port if one is given (a device serving both side by side).
def main(host="127.0.0.1", port=8080, status=None, tls_cert=None, tls_key=None, plain_port=None):
    status = status or Status()
    if tls_cert is not None:
        import uasyncore_tls

        HttpServer(status, context=uasyncore_tls.server_context(tls_cert, tls_key)).serve(host, port)
        print("http: serving on %s:%d (HTTPS)" % (host, port))
    if tls_cert is None or plain_port is not None:
        plain_port = port if tls_cert is None else plain_port
        HttpServer(status).serve(host, plain_port)
        print("http: serving on %s:%d" % (host, plain_port))
    uasyncore.loop()
