# microdot (PyPI microdot==2.7.0) answering GET /api/status with the http example's JSON, for the HTTP bench.
# usage: python3 microdot_status.py PORT [--tls CERT KEY]
#        micropython microdot_status.py PORT [--microdot DIR] [--tls CERT KEY]
# DIR is the pip-installed microdot package (site-packages/microdot, found by bench/run.py; also read from
# $BENCH_MICRODOT_DIR): on MicroPython it goes on sys.path, so its microdot.py is imported as the module
# `microdot` and nothing else from CPython's site-packages is visible. Nothing of microdot is copied here.
# The body is made per request by examples/http/device_status.py, the code the example itself uses, so
# both servers send the same bytes (uptime, simulated readings, mem_free) with Content-Type application/json.
# microdot answers HTTP/1.0 and closes the connection after every response: it has no keep-alive. With
# --tls it serves HTTPS (its own ssl= argument, a server context of the runtime's ssl: DER on MicroPython).
import asyncio
import os
import sys
import time

here = __file__.rpartition("/")[0] or "."
root = here + "/../.."


def option(name, default=None):
    argv = sys.argv
    for i in range(len(argv) - 1):
        if argv[i] == name:
            return argv[i + 1]
    return default


micro = hasattr(time, "ticks_ms")
if micro:
    pkg = option("--microdot") or os.getenv("BENCH_MICRODOT_DIR")
    if not pkg:
        raise SystemExit("micropython needs --microdot DIR (or BENCH_MICRODOT_DIR): the pip-installed microdot package")
    sys.path.append(pkg)
# device_status renders the body; it reads the loop's clock from uasyncore (imported, never run here)
sys.path[:0] = [root + "/examples/http", root + "/lib", root + "/ports/" + ("unix" if micro else "cpython")]

from device_status import Status  # noqa: E402  (found through sys.path above)
from microdot import Microdot  # noqa: E402

status = Status()
app = Microdot()
HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


@app.get("/api/status")
async def api_status(request):  # async: on CPython a plain function would run in a thread pool
    return status.json(), 200, HEADERS


# A server context for --tls CERT KEY, else None.
def tls_context():
    argv = sys.argv
    if "--tls" not in argv:
        return None
    import ssl

    i = argv.index("--tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(argv[i + 1], argv[i + 2])
    return ctx


async def main(port):
    ctx = tls_context()
    task = asyncio.create_task(app.start_server(host="127.0.0.1", port=port, ssl=ctx))
    while app.server is None:  # listening once start_server has its server object
        await asyncio.sleep(0.01)
    print("microdot: serving on 127.0.0.1:%d%s" % (port, " (TLS)" if ctx else ""))
    await task


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else 8080
    try:
        asyncio.run(main(port))
    except KeyboardInterrupt:
        print("microdot: stopped")
