#!/usr/bin/env python3
# Serve an example from a board: python3 tools/run_on_board.py [NAME] [--device TTY] [--port N] [--detach]
#
# Without --device it starts the virtual board (tools/vboard.py) unless one is running. Then it
# deploys uasyncore (tools/deploy.py), copies examples/NAME to the board's /NAME, starts
# NAME.main(host, port) there and relays what the board prints, its address among it.
# Ctrl-C (or SIGTERM) interrupts the service, soft-resets the board and stops the virtual board
# if this script started it. --detach returns once the board has printed its first line and
# leaves the service (and the virtual board) running; `make vboard-stop` ends them.
import argparse
import os
import signal
import subprocess
import sys

import deploy
import vboard

EXAMPLES = os.path.join(deploy.ROOT, "examples")
SKIP = ("README", "__pycache__", ".")  # not for the board's flash


# The module with main(host, port) in examples/NAME: NAME_service.py (or NAME.py, the older layout).
def example_module(name):
    for module in (name + "_service", name):
        if os.path.isfile(os.path.join(EXAMPLES, name, module + ".py")):
            return module
    raise SystemExit("run_on_board: no example named %r in %s" % (name, EXAMPLES))


# Files of examples/NAME to copy, as (local path, board path) with directories first.
def example_files(name):
    base = os.path.join(EXAMPLES, name)
    dirs, files = ["/" + name], []
    for top, subdirs, names in os.walk(base):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(SKIP))
        rel = os.path.relpath(top, base)
        board_top = "/" + name + ("" if rel == "." else "/" + rel.replace(os.sep, "/"))
        dirs += [board_top + "/" + d for d in subdirs]
        files += [(os.path.join(top, n), board_top + "/" + n) for n in sorted(names)
                  if not n.startswith(SKIP) and not n.endswith(".pyc")]
    return dirs, files


def copy_example(device, name, timeout):
    dirs, files = example_files(name)
    mkdirs = "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass" % (dirs,)
    args = ["exec", mkdirs]
    for local, remote in files:
        args += ["+", "cp", local, ":" + remote]
    deploy.mpremote(device, *args, resume=True, timeout=timeout)


# The address a real board has on its network, if it has a network module.
def board_address(device, timeout):
    code = ("try:\n import network\n w = network.WLAN(network.STA_IF)\n"
            " print(w.ifconfig()[0] if w.isconnected() else '')\nexcept Exception:\n print('')")
    out = deploy.mpremote(device, "exec", code, resume=True, timeout=timeout, capture_output=True, text=True)
    return out.stdout.strip()


# How to reach the service, from the "serving on HOST:PORT" line the board printed (a real board
# that binds 0.0.0.0 is reached at its network address).
def reach(name, line, address):
    host, _, port = line.split("serving on ", 1)[1].split()[0].rpartition(":")
    if address and host in ("0.0.0.0", ""):
        host = address
    if name == "http":
        return "open http://%s:%s/ (JSON at http://%s:%s/api/status)" % (host, port, host, port)
    return "reach it at %s port %s (e.g. nc %s %s)" % (host, port, host, port)


def stop_process(proc, timeout=5):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, a closed terminal


# Print, even when whoever read our output is gone (a closed terminal, a killed pipe).
def say(msg, stream=None):
    try:
        print(msg, file=stream or sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="Deploy uasyncore and serve examples/NAME from a board.")
    ap.add_argument("name", nargs="?", default="echo", help="example to run (default echo)")
    ap.add_argument("--device", help="a real board's serial device (default: the virtual board)")
    ap.add_argument("--adapter", help="ports/<adapter> for a real board (esp32, rp2, ...); unix for the virtual one")
    ap.add_argument("--host", help="address to bind on the board (default 127.0.0.1 virtual, 0.0.0.0 real)")
    ap.add_argument("--port", type=int, default=7777, help="TCP port on the board (default 7777)")
    ap.add_argument("--kind", choices=("auto", "py", "mpy"), default="auto", help="deploy .py or .mpy (see deploy.py)")
    ap.add_argument("--heap", default="128K", help="the virtual board's heap (default 128K)")
    ap.add_argument("--vboard-dir", default=vboard.DEFAULT_DIR, help="the virtual board's state directory")
    ap.add_argument("--timeout", type=float, default=120, help="seconds each set-up step may take")
    ap.add_argument("--detach", action="store_true", help="leave the service running and return")
    args = ap.parse_args(argv)
    module = example_module(args.name)  # refuse an unknown name before starting anything
    if args.device and not args.adapter:
        raise SystemExit("run_on_board: a real board needs --adapter (one of: %s)" % ", ".join(deploy.adapters()))
    for sig in STOP_SIGNALS:
        signal.signal(sig, raise_interrupt)

    state = vboard.paths(args.vboard_dir)
    device, service, code = args.device, None, 0
    started_vboard = detached = False
    try:
        if device:
            adapter, host = args.adapter, args.host or "0.0.0.0"
        else:
            adapter, host = args.adapter or "unix", args.host or "127.0.0.1"
            if not vboard.board_tty(state):
                started_vboard = True
                subprocess.run([sys.executable, vboard.__file__, "start", "--dir", state["dir"], "--heap", args.heap],
                               check=True, timeout=args.timeout, stdout=subprocess.DEVNULL)
            device = vboard.board_tty(state)
            say("run_on_board: virtual board on %s (flash %s)" % (device, state["flash"]))
        deploy.deploy(device, adapter, kind=args.kind, timeout=args.timeout)
        copy_example(device, args.name, args.timeout)
        address = None
        if args.device:
            address = board_address(device, args.timeout)
            say("run_on_board: the board's address: %s" % (address or "unknown (no network connection)"))
        start = "import sys\nsys.path.insert(0, '/%s')\nimport %s\n%s.main(host=%r, port=%d)" % (
            args.name, module, module, host, args.port)
        # after a soft reset (a whole heap for the import); in its own session, so that Ctrl-C
        # reaches this script, which then interrupts the board itself
        service = subprocess.Popen(deploy.MPREMOTE + ["connect", device, "exec", start],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        for line in iter(service.stdout.readline, b""):
            text = line.decode(errors="replace").replace("\r\n", "\n")
            sys.stdout.write(text)
            sys.stdout.flush()
            if "serving on " in text:
                say("run_on_board: " + reach(args.name, text, address if args.device else None))
            if args.detach:  # the board keeps serving with nobody reading its console
                stop_process(service)
                detached = True
                how = "a soft reset" if args.device else "python3 tools/vboard.py stop --dir %s" % state["dir"]
                say("run_on_board: left running on %s; %s ends it" % (device, how))
                return 0
        code = service.wait(timeout=args.timeout)
        say("run_on_board: the service ended (mpremote exit %d)" % code)
    except KeyboardInterrupt:
        say("\nrun_on_board: stopping")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        say("run_on_board: %s" % exc, sys.stderr)
        code = 1
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        if service is not None and not detached:
            stop_process(service)
            try:  # Ctrl-C to the service, then a soft reset: its sockets close with it
                deploy.mpremote(device, "soft-reset", timeout=30, check=False,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                say("run_on_board: the board did not answer a soft reset", sys.stderr)
        if started_vboard and not detached:
            out = subprocess.run([sys.executable, vboard.__file__, "stop", "--dir", state["dir"]],
                                 capture_output=True, text=True, timeout=60)
            say((out.stdout + out.stderr).strip())
    return code


if __name__ == "__main__":
    sys.exit(main())
