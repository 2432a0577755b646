# uasyncore_compat: the rest of asyncore's module-level names, which uasyncore loads the first time
# one is asked for (uasyncore.close_all, asyncore.readwrite, asyncore.file_dispatcher,
# asyncore.EWOULDBLOCK, ...): a service that never asks does not pay for them on a board.
import sys

import uasyncore as _core
import uasyncore_port as _port
from uasyncore_port import (  # noqa: F401  (asyncore's errno names, and the poll flags)
    EAGAIN,
    EALREADY,
    EBADF,
    ECONNABORTED,
    ECONNREFUSED,
    ECONNRESET,
    EINPROGRESS,
    EINVAL,
    EISCONN,
    EMFILE,
    ENFILE,
    ENOBUFS,
    ENOMEM,
    ENOTCONN,
    EPIPE,
    ESHUTDOWN,
    EWOULDBLOCK,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLPRI,
    errorcode,
)

_strerror = _port.strerror
poll2 = poll3 = _core.poll  # one poller serves them all


# Call one of obj's handle_*_event methods; its errors go to obj.handle_error().
def _deliver(obj, event):
    try:
        event()
    except _core._reraised_exceptions:
        raise
    except Exception as e:
        _core._error(obj, e)


def read(obj):
    _deliver(obj, obj.handle_read_event)


def write(obj):
    _deliver(obj, obj.handle_write_event)


def _exception(obj):
    _deliver(obj, obj.handle_expt_event)


# Deliver poll flags to obj as the loop does ("readwrite leaves a hang-up with pending data to the reads").
def readwrite(obj, flags):
    try:
        _core._dispatch(obj, flags)
    except _core._reraised_exceptions:
        raise
    except Exception as e:
        _core._event_error(obj, e)


# ((file, function, line), type, value, "[file|function|line] ...") of the exception being handled:
# sys.exc_info()'s where it exists (an except block of the caller's), else the one handle_error() is for.
def compact_traceback():
    v = sys.exc_info()[1] if hasattr(sys, "exc_info") else None
    if v is None:
        v = _core._handling[0]
    entries = _port.tb_entries(v) if v is not None else None
    if not entries:
        raise AssertionError("traceback does not exist")
    return entries[-1], type(v), v, " ".join(["[%s|%s|%s]" % e for e in entries])


# Look host up without blocking the loop that serves map, then call callback(ip, error): ip the
# first address found (a str) and error None, or ip None and error an OSError saying why. An IP address
# is its own answer, given at once, and loads nothing; a name is uasyncore_dns's (family: 0 any, or
# socket.AF_INET / AF_INET6).
def resolve(host, callback, map=None, family=0):
    if type(host) is not str:
        raise TypeError("resolve() needs a host name or address (a str), not %r" % (host,))
    if _core._literal((host,)):
        callback(host, None)
        return
    import uasyncore_dns

    uasyncore_dns.resolve(host, callback, map, family)


# Close every channel in map and cancel its timers.
def close_all(map=None, ignore_all=False):
    if map is None:
        map = _core.socket_map
    for x in list(map.values()):
        try:
            x.close()
        except OSError as e:
            if (e.args[0] if e.args else None) != _port.EBADF and not ignore_all:
                raise
        except _core._reraised_exceptions:
            raise
        except Exception:
            if not ignore_all:
                raise
    map.clear()
    dns = sys.modules.get("uasyncore_dns")
    if dns is not None:
        dns._close_channels(map)
    p = _core._find(map)
    if p is not None:
        for t in list(p.timers):
            t.cancel()
        _core._release(map)


##### files as channels, where the port can wrap a file descriptor

if hasattr(_port, "file_wrapper"):
    file_wrapper = _port.file_wrapper

    class file_dispatcher(_core.dispatcher):
        def __init__(self, fd, map=None):
            _core.dispatcher.__init__(self, None, map)
            self.connected = True
            try:
                fd = fd.fileno()
            except AttributeError:
                pass
            self.set_file(fd)
            self.socket.setblocking(False)

        def set_file(self, fd):
            self.socket = file_wrapper(fd)
            self._fileno = self.socket.fileno()
            self.add_channel()
