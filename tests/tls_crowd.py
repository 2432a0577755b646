# A crowd over TLS against the http example over HTTPS, or the control example's STARTTLS
# (tests/crowd_kit.py), for the end-to-end tests
# (tests/test_tls_real.py) and for its figures: run it on CPython, micropython or the board-like
# MicroPython, given a certificate for localhost, its key and the CA that signed it (the tests make
# them with openssl: MicroPython cannot).
#
#   RUNTIME tests/tls_crowd.py CERT KEY CA [https|control-tls] [KIND] [kept|fresh]
#
# https, KIND handshakes (the defaults): TLS clients that connect and never finish their handshake, at
# four times the listener's TLS budget; kept: the normal client keeps one HTTPS connection (the
# default), fresh: a new one, and a new handshake, for each ask. control-tls, KIND starttls: clients
# that send STARTTLS and then no handshake, the normal client a session in the clear. Prints one line,
# "crowd: {...}", the figures.
import sys

_here = __file__.rpartition("/")[0] or "."
sys.path[:0] = [_here, _here + "/../lib", _here + "/../ports/" + ("unix" if hasattr(__import__("time"), "ticks_ms") else "cpython")]

import crowd_kit  # noqa: E402  (needs the sys.path entries above)
import uasyncore_slots  # noqa: E402, F401  (loaded before the heap's figures)
import uasyncore_tls  # noqa: E402, F401


def main(argv):
    tls = (argv[0], argv[1], argv[2])
    service = argv[3] if len(argv) > 3 else "https"
    kind = argv[4] if len(argv) > 4 else "handshakes"
    kept = (argv[5] if len(argv) > 5 else "kept") == "kept"
    s = crowd_kit.Scenario(service, kind, kept, tls)
    try:
        done = s.run()
        figures = {
            "done": done,
            "latencies": s.asker.latencies,
            "within_1s": s.asker.within(1000),
            "asks": s.asker.asks,
            "full": s.full,
            "over_budget": s.over_budget,
            "budget": s.budget,
            "attackers": len(s.crowd),
            "connects": s.asker.connects,
            "shed": s.shed(),
            "ms": s.ms,
            "heap_held": s.heap_held,
            "heap_peak": s.heap_peak,
        }
        figures["end"] = s.end()
        figures.update(open_after=s.server.open_connections, heap_before=s.heap_before, heap_after=s.heap_after,
                       fds_before=s.fds_before, fds_after=s.fds_after)
    finally:
        s.close()
    print("crowd:", repr(figures).replace("True", "1").replace("False", "0").replace("None", "-1"))


main(sys.argv[1:])
