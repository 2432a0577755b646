# The pure-Python limit on CPython: level-triggered epoll, non-blocking sockets, a dict fd -> socket.
# usage: python3 epoll_echo.py PORT
import select
import socket
import sys

RECV = 65536  # the recv size of every echo loop written for the benchmark
IN, OUT = select.EPOLLIN, select.EPOLLOUT

port = int(sys.argv[1])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(128)
listener.setblocking(False)
lfd = listener.fileno()
ep = select.epoll()
ep.register(lfd, IN)
socks = {}  # fd -> socket
pending = {}  # fd -> bytes the socket did not take yet (reading pauses until they go)


def close(fd):
    ep.unregister(fd)
    socks.pop(fd).close()
    pending.pop(fd, None)


print("ready %d epoll" % port, flush=True)
while True:
    for fd, ev in ep.poll():
        if fd == lfd:
            while True:
                try:
                    s, _ = listener.accept()
                except BlockingIOError:
                    break
                s.setblocking(False)
                socks[s.fileno()] = s
                ep.register(s.fileno(), IN)
            continue
        s = socks.get(fd)
        if s is None:
            continue
        waiting = fd in pending  # polled for OUT: send what is left, then read again
        if waiting:
            data = pending.pop(fd)
        else:
            try:
                data = s.recv(RECV)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                close(fd)
                continue
        try:
            n = s.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            close(fd)
            continue
        if n < len(data):
            pending[fd] = data[n:]
            if not waiting:
                ep.modify(fd, OUT)
        elif waiting:
            ep.modify(fd, IN)
