# Figures for hostile crowds against the examples (tests/crowd_kit.py; tests/test_crowds.py asserts
# on them): for each crowd, how long the normal client waited for its answers, how many connections
# the service took back, and how its heap moved. Runs on CPython and MicroPython alike, from the
# repository's top:
#
#   python3 tools/crowds.py [service ...]       micropython tools/crowds.py [service ...]
#
# The crowds of tests/test_crowds.py, and two it does not assert on: "idle" (clients that each make
# one good request, then hold their connection idle: indistinguishable from a normal client's kept
# connection) and "flood/fresh" (the flood while the normal client opens a new connection per ask).
import sys

_here = __file__.rpartition("/")[0] or "."
_root = _here + "/.."
_port = "unix" if hasattr(__import__("time"), "ticks_ms") else "cpython"
sys.path[:0] = [_root + "/tests", _root + "/lib", _root + "/ports/" + _port]

import crowd_kit  # noqa: E402  (needs the sys.path entries above)
import uasyncore_slots  # noqa: E402, F401  (loaded before the figures)

CROWDS = {
    "http": ["slow", "silent", "mixed", "flood", "idle", "flood/fresh"],
    "control": ["slow", "silent", "mixed", "idle"],
    "echo": ["silent", "mixed", "flood", "idle"],
}


def ms(values):
    return "-" if values is None else "%d" % values


def run(name, kind):
    kept = None
    if kind == "flood/fresh":
        kind, kept = "flood", False
    if kind == "flood" and not crowd_kit.flood_fits():
        return "%-8s %-12s skipped: the heap cannot hold the flood's own clients" % (name, kind)
    s = crowd_kit.Scenario(name, kind, kept)
    try:
        done = s.run()
        lat = sorted(t for t in s.asker.latencies if t is not None)
        lost = len([t for t in s.asker.latencies if t is None])
        heap = "" if s.heap_held is None else " heap +%d" % (s.heap_peak - s.heap_held)
        line = "%-8s %-12s %2d/%d within 1 s  median %s ms  max %s ms%s  shed %d in %.1f s%s%s" % (
            name, kind if kept is None else kind + "/fresh", s.asker.within(1000), s.asker.asks,
            ms(lat[len(lat) // 2] if lat else None), ms(lat[-1] if lat else None),
            "  (%d never answered)" % lost if lost else "", s.shed(), s.ms / 1000, heap,
            "" if done else "  (not done in %d s)" % (crowd_kit.LIMIT // 1000))
        s.end()
        return line
    finally:
        s.close()


def main():
    names = sys.argv[1:] or list(CROWDS)
    print("crowds at %dx a budget of %d (flood: %d connections held open), on %s" % (
        crowd_kit.CROWD // crowd_kit.BUDGET, crowd_kit.BUDGET, crowd_kit.flood_size(), sys.version))
    for name in names:
        for kind in CROWDS[name]:
            print(run(name, kind))


main()
