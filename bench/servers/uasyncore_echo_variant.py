# examples/echo unchanged, served with one knob turned; runs on CPython and MicroPython.
# usage: [micro]python uasyncore_echo_variant.py PORT [--lib DIR] [--recv N] [--no-budget] [--heap]
#   --lib DIR     import the library and the example from DIR first (.mpy: a 128K heap cannot compile the core)
#   --recv N      EchoHandler reads N bytes at a time instead of the example's size
#   --buffer N    EchoHandler's shared receive buffer holds N bytes instead of the port's RECV_SIZE
#   --no-budget   EchoServer.max_connections = None (no listener budget, whatever the port's default)
#   --heap        print "heap ALLOC CONNS" every 0.25 s (MicroPython's gc.mem_alloc after a collect)
import gc
import sys

here = __file__.rpartition("/")[0] or "."
root = here + "/../.."
port_dir = "unix" if sys.implementation.name == "micropython" else "cpython"
sys.path[:0] = [root + "/examples/echo", root + "/lib", root + "/ports/" + port_dir]
argv = sys.argv
if "--lib" in argv:
    sys.path.insert(0, argv[argv.index("--lib") + 1])
try:
    import echo_service as echo  # noqa: E402  (examples/echo/echo_service.py, found through sys.path above)
except ImportError:
    import echo  # its name before examples/run.py took NAME_service
import uasyncore  # noqa: E402

port = int(argv[1])
if "--recv" in argv:
    size = int(argv[argv.index("--recv") + 1])

    def handle_read(self):
        data = self.recv(size)
        if data:
            self.send(data)

    echo.EchoHandler.handle_read = handle_read
if "--buffer" in argv:
    echo.EchoHandler.buffer = memoryview(bytearray(int(argv[argv.index("--buffer") + 1])))
if "--no-budget" in argv:
    echo.EchoServer.max_connections = None
if "--heap" in argv:

    def report():
        gc.collect()
        print("heap %d %d" % (gc.mem_alloc(), len(uasyncore.socket_map) - 1))

    uasyncore.call_every(0.25, report)

echo.main(port=port)
