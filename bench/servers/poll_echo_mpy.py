# The bare MicroPython loop: select.poll + ipoll, non-blocking sockets, one preallocated buffer.
# usage: micropython poll_echo_mpy.py PORT [--heap]   (--heap: print "heap ALLOC CONNS" every 0.25 s)
import gc
import select
import socket
import sys
import time

RECV = 65536  # the recv size of every echo loop written for the benchmark
IN, OUT = select.POLLIN, select.POLLOUT

port = int(sys.argv[1])
heap = "--heap" in sys.argv
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
listener.listen(128)
listener.setblocking(False)
poller = select.poll()
poller.register(listener, IN)
conns = {}  # socket -> bytes it did not take yet (reading pauses until they go), or None
buf = bytearray(RECV)
mv = memoryview(buf)


def close(s):
    poller.unregister(s)
    del conns[s]
    s.close()


print("ready %d poll" % port)
last = time.ticks_ms()
while True:
    for t in poller.ipoll(250 if heap else -1):
        s = t[0]
        if s is listener:
            while True:
                try:
                    c, _ = listener.accept()
                except OSError:
                    break
                c.setblocking(False)
                conns[c] = None
                poller.register(c, IN)
            continue
        if s not in conns:
            continue
        data = conns[s]
        if data is None:
            try:
                n = s.readinto(buf)
            except OSError:
                n = 0
            if n is None:
                continue
            if not n:
                close(s)
                continue
            data = mv[:n]
        try:
            sent = s.send(data)
        except OSError as e:
            if e.errno != 11:  # EAGAIN
                close(s)
                continue
            sent = 0
        if sent < len(data):
            if conns[s] is None:
                poller.modify(s, OUT)
            conns[s] = bytes(data[sent:])
        elif conns[s] is not None:
            conns[s] = None
            poller.modify(s, IN)
    if heap and time.ticks_diff(time.ticks_ms(), last) >= 250:
        last = time.ticks_ms()
        gc.collect()
        print("heap %d %d" % (gc.mem_alloc(), len(conns)))
