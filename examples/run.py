# Run an example service on the host: python3 examples/run.py NAME [--host H] [--port N]
# [--tls-cert FILE --tls-key FILE [--plain-port N]] [--tls-ca FILE] (or micropython examples/run.py NAME ...).
# Each example is examples/NAME/NAME_service.py with a main(host, port) (and tls_cert, tls_key where it
# serves TLS, plain_port where it serves plaintext beside it; tls_ca where it is a client that checks its
# server's certificate);
# the suffix keeps NAME free for the stdlib (examples/http must not hide `http`).
# On a board, main.py imports NAME_service directly.
import os
import sys
import time

USAGE = ("usage: run.py NAME [--host HOST] [--port PORT] [--lib DIR] [--tls-cert FILE --tls-key FILE [--plain-port PORT]]"
         " [--tls-ca FILE]")


# NAME and the options from the command line (MicroPython has no argparse).
def parse(argv):
    if not argv or argv[0].startswith("-"):
        raise SystemExit(USAGE)
    opts = {"--host": "127.0.0.1", "--port": None, "--lib": None, "--tls-cert": None, "--tls-key": None, "--tls-ca": None,
            "--plain-port": None}
    name, rest = argv[0], argv[1:]
    while rest:
        if rest[0] not in opts or len(rest) < 2:
            raise SystemExit(USAGE)
        opts[rest[0]] = rest[1]
        rest = rest[2:]
    if (opts["--tls-cert"] is None) != (opts["--tls-key"] is None):
        raise SystemExit("--tls-cert and --tls-key go together\n" + USAGE)
    if opts["--plain-port"] is not None and opts["--tls-cert"] is None:
        raise SystemExit("--plain-port serves plaintext beside TLS: it needs --tls-cert\n" + USAGE)
    return name, opts


def main():
    name, opts = parse(sys.argv[1:])
    host, port, lib = opts["--host"], opts["--port"], opts["--lib"]
    here = __file__.rpartition("/")[0] or "."
    root = here + "/.."
    module = name + "_service"
    try:
        os.stat("%s/%s/%s.py" % (here, name, module))
    except OSError:
        raise SystemExit("no example named %r in %s" % (name, here))
    # the host's adapter: MicroPython's clock has ticks_ms, CPython's does not
    port_dir = "unix" if hasattr(time, "ticks_ms") else "cpython"
    # --lib: a folder holding the library and its adapter, e.g. the .mpy of `make mpy` (build/unix)
    sys.path[:0] = [here + "/" + name] + ([lib] if lib else [root + "/lib", root + "/ports/" + port_dir])
    # a pipe would hold CPython's "serving on" line back; whoever started us waits for it
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    example = __import__(module)
    kwargs = {"host": host}
    if port is not None:
        kwargs["port"] = int(port)
    if opts["--tls-cert"] is not None:  # only examples that serve TLS take these
        kwargs["tls_cert"] = opts["--tls-cert"]
        kwargs["tls_key"] = opts["--tls-key"]
    if opts["--plain-port"] is not None:  # only examples that serve plaintext beside TLS take this
        kwargs["plain_port"] = int(opts["--plain-port"])
    if opts["--tls-ca"] is not None:  # only clients that check a server's certificate take this
        kwargs["tls_ca"] = opts["--tls-ca"]
    try:
        example.main(**kwargs)
    except KeyboardInterrupt:
        print("%s: stopped" % name)


main()
