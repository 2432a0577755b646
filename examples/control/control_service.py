# control_service: a line-protocol control port for a device, on uasynchat.
#
# One command per line (\n or \r\n), one reply line per command: "OK ..." or "ERR <code> <reason>".
# With a certificate the port offers STARTTLS: the connection switches to TLS in place, as SMTP's and
# IMAP's do, and AUTH is taken only over TLS. The commands and error codes are in README.md; the
# device itself is control_device, who may change it control_auth. The same file runs on CPython, the
# MicroPython unix port and boards.
import uasynchat
import uasyncore
from control_auth import Guesses, configured_token, same
from control_device import INTERVAL_MAX, INTERVAL_MIN, READINGS, Device

MAX_LINE = 128  # bytes of a command line, its line end not counted; a longer line is refused and dropped
MAX_CLIENTS = 4  # the listener's connection budget, or the port's own where that is smaller
# clients the OS may hold waiting for a slot: a deep queue lets them wait their turn while the core
# takes slots back from slow clients, where a full one drops their SYNs (a board's port caps it)
BACKLOG = 32
LINE_TIMEOUT = 10  # seconds a command line may take, from its first byte to its line end
IDLE_TIMEOUT = 120  # seconds a connection may go without sending a line
READ_SIZE = 256  # bytes per recv(): all the input ever held besides the current line
AUTH_TRIES = 3  # failed AUTHs after which a connection is closed
AUTH_READS = False  # True: GET and STATUS need AUTH too (where the device has a token)
AUTH_PLAINTEXT = False  # True: AUTH before STARTTLS too, where the port offers TLS (the token then travels in clear)

##### replies: every fixed line built once

BANNER = b"OK uasyncore control port ready; HELP lists the commands\r\n"
_COMMAND_LIST = b"GET temp|humidity|uptime|mem, SET led on|off, SET interval %d-%d, STATUS, QUIT" % (INTERVAL_MIN, INTERVAL_MAX)
HELP = b"OK commands: HELP, " + _COMMAND_LIST + b"; AUTH <token> before SET\r\n"
HELP_TLS = b"OK commands: HELP, STARTTLS, " + _COMMAND_LIST + b"; STARTTLS, then AUTH <token>, before SET\r\n"
BEGIN_TLS = b"OK begin TLS\r\n"
BYE = b"OK bye\r\n"
AUTHENTICATED = b"OK authenticated\r\n"
LED_ON = b"OK led on\r\n"
LED_OFF = b"OK led off\r\n"

ERR_TOO_LONG = b"ERR 10 line too long: at most %d bytes, the rest of the line is dropped\r\n" % MAX_LINE
ERR_BYTES = b"ERR 11 bad bytes: commands are printable ASCII\r\n"
ERR_UNKNOWN = b"ERR 20 unknown command: HELP lists the commands\r\n"
ERR_NO_ARG = b"ERR 21 missing argument: %s\r\n"
ERR_EXTRA = b"ERR 22 extra argument\r\n"
ERR_NAME = b"ERR 23 unknown name: %s\r\n"
ERR_VALUE = b"ERR 24 bad value: %s\r\n"
ERR_NOT_AUTHENTICATED = b"ERR 30 not authenticated: AUTH <token> first\r\n"
ERR_AUTH = b"ERR 31 authentication failed\r\n"
ERR_AUTH_LAST = b"ERR 31 authentication failed: closing\r\n"
ERR_READ_ONLY = b"ERR 32 read-only: this device has no token (CONTROL_TOKEN, see README.md)\r\n"
ERR_AUTH_WAIT = b"ERR 33 too many failed AUTH from your address: try again in %d s\r\n"
ERR_TLS_FIRST = b"ERR 34 STARTTLS first: AUTH is taken only over TLS on this port\r\n"
ERR_NO_TLS = b"ERR 35 no TLS on this port: it has no certificate (see README.md)\r\n"
ERR_TLS_ALREADY = b"ERR 36 TLS is on already\r\n"
ERR_TLS_BUSY = b"ERR 37 no room for another TLS connection: try again later\r\n"
ERR_IDLE = b"ERR 40 idle timeout: closing\r\n"
ERR_LINE_TIMEOUT = b"ERR 41 line timeout: a line must end within %d s; closing\r\n" % LINE_TIMEOUT
ERR_DEVICE = b"ERR 50 device error\r\n"

_GET_USAGE = b"GET " + "|".join(READINGS).encode()
_SET_USAGE = b"SET led on|off, SET interval N"
_LED_USAGE = b"SET led on|off"
_INTERVAL_USAGE = b"SET interval %d-%d" % (INTERVAL_MIN, INTERVAL_MAX)
ERR_GET_ARG = ERR_NO_ARG % _GET_USAGE
ERR_GET_NAME = ERR_NAME % _GET_USAGE
ERR_SET_ARG = ERR_NO_ARG % _SET_USAGE
ERR_SET_NAME = ERR_NAME % _SET_USAGE
ERR_LED_ARG = ERR_NO_ARG % _LED_USAGE
ERR_LED_VALUE = ERR_VALUE % _LED_USAGE
ERR_INTERVAL_ARG = ERR_NO_ARG % _INTERVAL_USAGE
ERR_INTERVAL_VALUE = ERR_VALUE % _INTERVAL_USAGE
ERR_AUTH_ARG = ERR_NO_ARG % b"AUTH <token>"

_CR = 13


# Whether a line holds only printable ASCII and tabs (no NUL, no bare CR, nothing above 126).
def printable(line):
    for c in line:
        if c > 126 or (c < 32 and c != 9):
            return False
    return True


# A whole number of at most 4 digits, or None.
def small_int(word):
    if not word.isdigit() or len(word) > 4:
        return None
    return int(word)


##### the connection


class ControlConnection(uasynchat.async_chat):
    # One client: a banner, then a reply line for each command line; closed on QUIT or when idle.
    # A line is the core's phase (end_phase()): past LINE_TIMEOUT it is closed, and a listener at its
    # budget takes the slot of a slow or silent one for a waiting client (uasyncore_slots).
    ac_in_buffer_size = READ_SIZE
    out_high = 1  # a client that does not read its replies is not read either: reading pauses while one is queued...
    out_low = 0  # ... and resumes once all are sent
    phase_timeout = LINE_TIMEOUT
    authenticated = False
    auth_failures = 0  # on this connection
    tls = False  # STARTTLS switched it to TLS

    def __init__(self, sock, server, map=None, peer=None):
        self.server = server
        self.peer = peer  # the client's address (IP): where its failed AUTHs are counted
        self.line = b""
        self.dropping = False  # inside an over-long line: its bytes are dropped until its line end
        self.quitting = False
        self.idle_timeout = server.idle_timeout
        self.set_terminator(b"\n")  # a \r before it is taken off the line
        uasynchat.async_chat.__init__(self, sock, map)
        try:
            self.push(BANNER)
        except BaseException:
            self.close()  # out of heap half way: leave nothing registered
            raise

    ##### input: async_chat hands over pieces of a line, then the line end

    # Keep a piece of the current line while the line is within MAX_LINE (plus a final \r).
    def collect_incoming_data(self, data):
        if self.dropping or self.quitting:
            return
        n = len(self.line) + len(data)
        if n > MAX_LINE + 1 or (n == MAX_LINE + 1 and data[-1] != _CR):
            self.line = b""
            self.dropping = True
            self.push(ERR_TOO_LONG)  # answered now: the client need not send the rest to learn it
        else:
            self.line = self.line + data if self.line else data

    def found_terminator(self):
        line = self.line
        self.line = b""
        self.end_phase()
        if self.dropping or self.quitting:  # nothing of this line was kept
            self.dropping = False
            return
        if line[-1:] == b"\r":
            line = line[:-1]
        self.command(line)

    # Answer one line; an empty (or blank) line gets no answer.
    def command(self, line):
        if not printable(line):
            self.push(ERR_BYTES)
            return
        words = line.decode().split()
        if not words:
            return
        do = _COMMANDS.get(words[0].upper())
        if do is None:
            self.push(ERR_UNKNOWN)
            return
        try:
            reply = do(self, words)
        except Exception as e:  # a failing pin costs this command, not the connection
            self.log_info("command %s failed: %r" % (words[0], e), "error")  # never the line: it may hold a token
            reply = ERR_DEVICE
        self.push(reply)
        if self.quitting:
            self.close_when_done()  # what follows QUIT is dropped until the close
        elif reply is BEGIN_TLS:
            self.begin_tls()

    ##### the commands: each takes the line's words and returns the reply

    def do_help(self, words):
        if len(words) > 1:
            return ERR_EXTRA
        return HELP if self.server.context is None else HELP_TLS

    def do_get(self, words):
        if self.server.auth_reads and self.refused():
            return self.refused()
        if len(words) < 2:
            return ERR_GET_ARG
        if len(words) > 2:
            return ERR_EXTRA
        name = words[1].lower()
        value = self.server.device.read(name)
        if value is None:
            return ERR_GET_NAME
        return ("OK %s %s\r\n" % (name, value)).encode()

    def do_set(self, words):
        if self.refused():
            return self.refused()
        if len(words) < 2:
            return ERR_SET_ARG
        name = words[1].lower()
        if name == "led":
            if len(words) < 3:
                return ERR_LED_ARG
            if len(words) > 3:
                return ERR_EXTRA
            value = words[2].lower()
            if value != "on" and value != "off":
                return ERR_LED_VALUE
            self.server.device.set_led(value == "on")
            return LED_ON if value == "on" else LED_OFF
        if name == "interval":
            if len(words) < 3:
                return ERR_INTERVAL_ARG
            if len(words) > 3:
                return ERR_EXTRA
            n = small_int(words[2])
            if n is None or not INTERVAL_MIN <= n <= INTERVAL_MAX:
                return ERR_INTERVAL_VALUE
            self.server.set_interval(n)
            return b"OK interval %d\r\n" % n
        return ERR_SET_NAME

    def do_status(self, words):
        if self.server.auth_reads and self.refused():
            return self.refused()
        if len(words) > 1:
            return ERR_EXTRA
        server = self.server
        dev = server.device
        return (
            "OK led=%s interval=%d uptime=%s temp=%s humidity=%s mem=%s clients=%d/%s\r\n"
            % (
                "on" if dev.led_on else "off",
                dev.interval,
                dev.read("uptime"),
                dev.read("temp"),
                dev.read("humidity"),
                dev.read("mem"),
                server.open_connections,
                "-" if server.max_connections is None else server.max_connections,
            )
        ).encode()

    # AUTH <token>: compared only where the client's address is not waiting out earlier failures;
    # each failure is one ERR line, and the AUTH_TRIES-th closes the connection.
    def do_auth(self, words):
        if len(words) < 2:
            return ERR_AUTH_ARG
        if len(words) > 2:
            return ERR_EXTRA
        server = self.server
        if server.token is None:
            return ERR_READ_ONLY
        if not self.tls and server.context is not None and not server.auth_plaintext:
            return ERR_TLS_FIRST  # the token is not looked at: in clear it is anyone's on the network
        wait = server.guesses.wait(self.peer)
        if wait:
            reply = ERR_AUTH_WAIT % wait
        elif same(words[1].encode(), server.token):
            self.authenticated = True
            server.guesses.passed(self.peer)
            return AUTHENTICATED
        else:
            server.guesses.failed(self.peer)
            reply = ERR_AUTH
        self.auth_failures += 1
        if self.auth_failures >= AUTH_TRIES:
            self.quitting = True
            return ERR_AUTH_LAST if reply is ERR_AUTH else reply[:-2] + b"; closing\r\n"
        return reply

    # The reply that refuses a command this connection may not give, or None.
    def refused(self):
        if self.server.token is None:
            return ERR_READ_ONLY
        return None if self.authenticated else ERR_NOT_AUTHENTICATED

    # STARTTLS: "OK begin TLS" in clear, then the handshake (begin_tls()).
    def do_starttls(self, words):
        if len(words) > 1:
            return ERR_EXTRA
        if self.server.context is None:
            return ERR_NO_TLS
        if self.tls:
            return ERR_TLS_ALREADY
        server = self.server
        if server.tls_budget is not None and server.tls_connections >= server.tls_budget:
            return ERR_TLS_BUSY  # what the port's heap holds of TLS connections
        return BEGIN_TLS

    # Switch to TLS once the reply has gone. What the client sent after STARTTLS in clear is dropped
    # (it could be anyone's: command injection), and so is what it was granted in clear (RFC 3207).
    def begin_tls(self):
        import uasyncore_tls

        self.tls = True
        self.server.tls_connections += 1
        self.authenticated = False
        self.ac_in_buffer = b""
        self.line = b""
        self.dropping = False
        uasyncore_tls.start_tls(self, self.server.context, server_side=True)

    def do_quit(self, words):
        if len(words) > 1:
            return ERR_EXTRA
        self.quitting = True
        return BYE

    def close(self):
        if self.tls:
            self.tls = False
            self.server.tls_connections -= 1
        uasynchat.async_chat.close(self)

    ##### the idle timeout and the line's deadline

    def handle_idle(self):
        self.push(ERR_IDLE)  # what the socket takes now; the close does not wait for the rest
        self.close()

    # The core's idle clock restarts at every byte; a trickle without a line end must not hold a slot.
    def handle_phase_timeout(self):
        self.push(ERR_LINE_TIMEOUT)
        self.close()


_COMMANDS = {
    "HELP": ControlConnection.do_help,
    "AUTH": ControlConnection.do_auth,
    "GET": ControlConnection.do_get,
    "SET": ControlConnection.do_set,
    "STATUS": ControlConnection.do_status,
    "QUIT": ControlConnection.do_quit,
    "STARTTLS": ControlConnection.do_starttls,
}


##### the listener


class ControlServer(uasyncore.dispatcher):
    # Accepts clients up to its connection budget and samples the device every interval; serve() listens.
    # token: the bytes AUTH must give before SET (None: no one may change the device); context: a
    # server context (uasyncore_tls.server_context()) with which it offers STARTTLS.
    max_connections = min(MAX_CLIENTS, uasyncore.dispatcher.max_connections or MAX_CLIENTS)
    idle_timeout = IDLE_TIMEOUT
    auth_reads = AUTH_READS
    auth_plaintext = AUTH_PLAINTEXT
    tls_budget = None  # connections switched to TLS at once: the port's TLS budget where it offers TLS
    tls_connections = 0

    def __init__(self, device=None, map=None, token=None, context=None):
        uasyncore.dispatcher.__init__(self, map=map)
        self.token = token.encode() if isinstance(token, str) else token  # compared with the bytes of AUTH's line
        self.context = context
        if context is not None:
            import uasyncore_tls

            self.tls_budget = uasyncore_tls.MAX_CONNECTIONS
        self.guesses = Guesses()
        self.device = device or Device()
        self.device.sample()
        self.sampler = uasyncore.call_every(self.device.interval, self.device.sample, map=self._map)

    def serve(self, host, port):
        self.create_socket()
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(BACKLOG)

    # Sample every n seconds from now on.
    def set_interval(self, n):
        self.sampler.cancel()
        self.sampler = uasyncore.call_every(n, self.device.sample, map=self._map)
        self.device.interval = n

    # A client whose connection cannot be set up (no heap for it, gone already) is turned away by
    # the core, which closes what was made of it and keeps this listener serving (handle_accept_error).
    def handle_accepted(self, sock, addr):
        ControlConnection(sock, self, self._map, addr[0] if isinstance(addr, tuple) else addr)

    def close(self):
        self.sampler.cancel()
        uasyncore.dispatcher.close(self)


# Serve until interrupted. device: a Device with the board's LED pin and sensor reader; token: what
# AUTH must give, by default CONTROL_TOKEN (control_auth.configured_token()); with a certificate and
# its key (file names, PEM or DER) the port offers STARTTLS.
def main(host="127.0.0.1", port=7070, device=None, token=None, tls_cert=None, tls_key=None):
    token = token or configured_token()
    context = None
    if tls_cert is not None:
        import uasyncore_tls

        context = uasyncore_tls.server_context(tls_cert, tls_key)
    ControlServer(device, token=token, context=context).serve(host, port)
    access = "SET after AUTH" if token else "read-only: no CONTROL_TOKEN set"
    if context is not None:
        access += ", STARTTLS" + ("" if not token or AUTH_PLAINTEXT else ", AUTH over TLS only")
    print("control: serving on %s:%d (%s)" % (host, port, access))
    uasyncore.loop()
