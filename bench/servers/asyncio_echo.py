# asyncio Protocol echo on CPython, on the default loop or (--uvloop) on uvloop; over TLS with --tls.
# usage: python3 asyncio_echo.py PORT [--uvloop] [--tls CERT KEY]   (CERT and KEY: PEM files)
# asyncio and uvloop choose their own read size (256 KiB) and set TCP_NODELAY themselves.
import asyncio
import ssl
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port, name, context):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=128, reuse_address=True, ssl=context)
    print("ready %d %s" % (port, name), flush=True)
    async with server:
        await server.serve_forever()


port = int(sys.argv[1])
context = None
if "--tls" in sys.argv:
    at = sys.argv.index("--tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[at + 1], sys.argv[at + 2])
if "--uvloop" in sys.argv:
    import uvloop

    uvloop.run(main(port, "uvloop " + uvloop.__version__, context))
else:
    asyncio.run(main(port, "asyncio" + (" TLS" if context else ""), context))
