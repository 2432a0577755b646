# MicroPython's asyncio: start_server and a reader/writer coroutine per connection.
# usage: micropython asyncio_echo_mpy.py PORT [--heap]   (--heap: print "heap ALLOC CONNS" every 0.25 s)
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


async def main(port):
    await asyncio.start_server(echo, "127.0.0.1", port, backlog=128)
    print("ready %d asyncio" % port)
    if "--heap" in sys.argv:
        await report()
    while True:
        await asyncio.sleep(3600)


asyncio.run(main(int(sys.argv[1])))
