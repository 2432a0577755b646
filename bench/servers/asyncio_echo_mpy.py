# MicroPython's asyncio: start_server and a reader/writer coroutine per connection; over TLS with --tls.
# usage: micropython asyncio_echo_mpy.py PORT [--heap] [--tls CERT KEY]
#   --heap: print "heap ALLOC CONNS" every 0.25 s; --tls: serve TLS with the certificate and key (DER
#   files: what every MicroPython's ssl takes)
import asyncio
import gc
import sys

RECV = 65536  # the recv size of every echo loop written for the benchmark
live = [0]


async def echo(reader, writer):
    live[0] += 1
    try:
        while True:
            data = await reader.read(RECV)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    live[0] -= 1
    writer.close()
    await writer.wait_closed()


async def report():
    while True:
        await asyncio.sleep(0.25)
        gc.collect()
        print("heap %d %d" % (gc.mem_alloc(), live[0]))


# A server context from DER files, or None without --tls.
def tls_context():
    if "--tls" not in sys.argv:
        return None
    import ssl

    at = sys.argv.index("--tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with open(sys.argv[at + 1], "rb") as cert, open(sys.argv[at + 2], "rb") as key:
        ctx.load_cert_chain(cert.read(), key.read())
    return ctx


async def main(port):
    ctx = tls_context()
    await asyncio.start_server(echo, "127.0.0.1", port, backlog=128, ssl=ctx)
    print("ready %d asyncio%s" % (port, " TLS" if ctx else ""))
    if "--heap" in sys.argv:
        await report()
    while True:
        await asyncio.sleep(3600)


asyncio.run(main(int(sys.argv[1])))
