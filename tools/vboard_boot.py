# Virtual board start-up, run by the unix port with -i before its REPL (host tool: do not upload).
# It makes the flash directory the board's "/", then runs boot.py and, after a reset into the
# friendly REPL, main.py, as a board does. It defines nothing that outlives it in __main__.


def _vboard_boot():
    import os
    import sys

    g = globals()
    root = os.getcwd()  # the supervisor starts us in the flash directory
    os.umount("/")
    os.mount(os.VfsPosix(root), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.argv[:] = []
    g.pop("__file__", None)
    # tells the supervisor that Ctrl-C now raises KeyboardInterrupt instead of killing us
    sys.stdout.write("\x1b]vboard;up\x07")
    names = ("boot.py", "main.py") if os.getenv("VBOARD_MAIN") == "1" else ("boot.py",)
    for name in names:
        try:
            os.stat(name)
        except OSError:
            continue
        with open(name) as f:
            code = compile(f.read(), name, "exec")
        g["__file__"] = name
        try:
            exec(code, g)
        except SystemExit:
            raise  # a board soft-resets; the supervisor restarts us the same way
        except BaseException as exc:  # a board prints the traceback and carries on to the REPL
            sys.print_exception(exc)
        finally:
            g.pop("__file__", None)
        code = None


_vboard_boot()
del _vboard_boot
