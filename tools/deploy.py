#!/usr/bin/env python3
# Copy uasyncore to a board's /lib with mpremote: python3 tools/deploy.py [--device TTY] [--adapter PORT]
#
# Copies lib/*.py and ports/<adapter>/uasyncore_port.py, or their .mpy from build/<adapter>/ when
# `make mpy` has built all of them and none is older than its source (--kind py|mpy forces one).
# The copy that is not sent (x.py beside x.mpy, or the other way round) is removed from the board:
# MicroPython imports x.py first. The board is soft-reset before copying, which stops whatever it was running.
# With no --device it deploys to the running virtual board (tools/vboard.py), adapter unix.
import argparse
import glob
import os
import subprocess
import sys

import vboard

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPREMOTE = [sys.executable, "-m", "mpremote"]


def adapters():
    found = glob.glob(os.path.join(ROOT, "ports", "*", "uasyncore_port.py"))
    return sorted(os.path.basename(os.path.dirname(p)) for p in found)


# The sources for one adapter: {module name: path of its .py}.
def sources(adapter):
    found = {os.path.basename(p)[:-3]: p for p in glob.glob(os.path.join(ROOT, "lib", "*.py"))}
    found["uasyncore_port"] = os.path.join(ROOT, "ports", adapter, "uasyncore_port.py")
    return found


# The files to send: kind "py", "mpy", or "auto" (the .mpy set when complete and fresh, else .py).
def files_to_send(adapter, mpy_dir=None, kind="auto"):
    src = sources(adapter)
    if kind == "py":
        return [src[n] for n in sorted(src)], "py"
    mpy_dir = mpy_dir or os.path.join(ROOT, "build", adapter)
    mpy = {name: os.path.join(mpy_dir, name + ".mpy") for name in src}
    missing = [n for n in src if not os.path.exists(mpy[n])]
    stale = [n for n in src if n not in missing and os.path.getmtime(mpy[n]) < os.path.getmtime(src[n])]
    if not missing and not stale:
        return [mpy[n] for n in sorted(src)], "mpy"
    if kind == "mpy":
        raise SystemExit("deploy: no fresh .mpy in %s for %s: run make mpy ADAPTER=%s"
                         % (mpy_dir, ", ".join(missing + stale), adapter))
    if stale:
        print("deploy: %s older than the sources, sending .py (make mpy refreshes them)"
              % ", ".join(n + ".mpy" for n in stale))
    return [src[n] for n in sorted(src)], "py"


def mpremote(device, *args, timeout=120, resume=False, check=True, **kw):
    cmd = MPREMOTE + ["connect", device] + (["resume"] if resume else []) + list(args)
    return subprocess.run(cmd, timeout=timeout, check=check, **kw)


# A serial device that is not a pseudo-terminal: a real board, not the virtual one.
def real_board(device):
    path = os.path.realpath(device)
    return os.path.exists(path) and not path.startswith(("/dev/pts/", "/dev/ttys"))


def deploy(device, adapter, mpy_dir=None, kind="auto", timeout=120):
    if adapter not in adapters():
        raise SystemExit("deploy: no adapter %r (have: %s)" % (adapter, ", ".join(adapters())))
    if adapter in ("unix", "cpython") and real_board(device):
        raise SystemExit("deploy: %s looks like a real board; give its adapter (ADAPTER=esp32 or rp2)" % device)
    files, kind = files_to_send(adapter, mpy_dir, kind)
    other = ".py" if kind == "mpy" else ".mpy"
    gone = ["/lib/" + os.path.basename(f).rpartition(".")[0] + other for f in files]
    # /lib made if missing, the other kind of each module removed
    prepare = ("import os\ntry:\n os.mkdir('/lib')\nexcept OSError:\n pass\n"
               "for f in %r:\n try:\n  os.remove(f)\n except OSError:\n  pass" % (gone,))
    mpremote(device, "exec", prepare, "+", "cp", *files, ":/lib/", timeout=timeout)
    print("deploy: %d %s files to %s:/lib (adapter %s)" % (len(files), kind, device, adapter))
    if real_board(device):
        boot_files(device, timeout)
    return files


# A real Wi-Fi board also gets ports/boot.py, which joins the network named in secrets.py (the user's
# own copy of ports/secrets.example.py at the repository's top, which git ignores).
def boot_files(device, timeout):
    args = ["cp", os.path.join(ROOT, "ports", "boot.py"), ":/boot.py"]
    secrets = os.path.join(ROOT, "secrets.py")
    if os.path.exists(secrets):
        args += ["+", "cp", secrets, ":/secrets.py"]
    else:
        print("deploy: no secrets.py: the board will not join Wi-Fi (see ports/secrets.example.py)")
    mpremote(device, *args, timeout=timeout)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Copy uasyncore and a port adapter to a board's /lib with mpremote.")
    ap.add_argument("--device", help="a real board's serial device (default: the virtual board's tty)")
    ap.add_argument("--vboard-dir", default=vboard.DEFAULT_DIR, help="the virtual board's state directory")
    ap.add_argument("--adapter", default=None, help="ports/<adapter> to send (default unix for the virtual board)")
    ap.add_argument("--mpy-dir", default=None, help="where make mpy put the .mpy files (default build/<adapter>)")
    ap.add_argument("--kind", choices=("auto", "py", "mpy"), default="auto",
                    help="send .py or .mpy; auto: .mpy when make mpy has built them all fresh (default)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds for the whole copy")
    args = ap.parse_args(argv)
    device, adapter = args.device, args.adapter
    if device is None:
        device, adapter = vboard.board_tty(vboard.paths(args.vboard_dir)), adapter or "unix"
        if not device:
            raise SystemExit("deploy: the virtual board is not running (make vboard), or give --device")
    elif adapter is None:
        raise SystemExit("deploy: a real board needs --adapter (one of: %s)" % ", ".join(adapters()))
    try:
        deploy(device, adapter, args.mpy_dir, args.kind, args.timeout)
    except subprocess.CalledProcessError as exc:
        raise SystemExit("deploy: mpremote failed (exit %d)" % exc.returncode) from None
    except subprocess.TimeoutExpired:
        raise SystemExit("deploy: mpremote did not finish in %.0f s" % args.timeout) from None


if __name__ == "__main__":
    main()
