# Lists the devices on the network that run examples/discovery: asks "who is there?" on the multicast
# group (and, with --broadcast, on 255.255.255.255) and prints each answer that comes within --wait s.
#
#   python3 examples/discovery/find.py [--port 5099] [--wait 2] [--interface IP] [--ttl 1] [--broadcast]
#
# --interface picks the interface the question leaves by (127.0.0.1: this machine only), --ttl how
# many routers it may cross (0: this machine only). Runs on CPython and on micropython.
import json
import sys
import time

USAGE = "usage: find.py [--port N] [--wait SECONDS] [--interface IP] [--ttl N] [--broadcast]"


# Options from the command line (MicroPython has no argparse).
def parse(argv):
    opts = {"--port": "5099", "--wait": "2", "--interface": None, "--ttl": "1", "--broadcast": False}
    while argv:
        if argv[0] == "--broadcast":
            opts["--broadcast"] = True
            argv = argv[1:]
        elif argv[0] in opts and len(argv) > 1:
            opts[argv[0]] = argv[1]
            argv = argv[2:]
        else:
            raise SystemExit(USAGE)
    return int(opts["--port"]), float(opts["--wait"]), opts["--interface"], int(opts["--ttl"]), opts["--broadcast"]


def main():
    port, wait, interface, ttl, broadcast = parse(sys.argv[1:])
    here = __file__.rpartition("/")[0] or "."
    root = here + "/../.."
    sys.path[:0] = [here, root + "/lib", root + "/ports/" + ("unix" if hasattr(time, "ticks_ms") else "cpython")]
    import uasyncore
    import uasyncore_dgram
    from discovery_service import GROUP, QUERY

    found = []

    class Finder(uasyncore_dgram.datagram_dispatcher_with_send):
        def handle_datagram(self, data, addr):
            try:
                device = json.loads(data)
                line = "%-20s %-16s %s" % (device["name"], device.get("address") or addr[0], device.get("services"))
            except (ValueError, KeyError, TypeError):
                return  # not a device's answer
            if line not in found:
                found.append(line)
                print(line)

    finder = Finder()
    finder.create_socket()
    if interface:
        finder.set_multicast_interface(interface)
    finder.set_multicast_ttl(ttl)
    finder.sendto(QUERY, (GROUP, port))
    if broadcast:
        finder.set_broadcast()
        finder.sendto(QUERY, ("255.255.255.255", port))
    uasyncore.call_later(wait, finder.close)
    uasyncore.loop()
    if not found:
        print("no device answered within %s s" % wait)


main()
