# Run the project's unittest files under MicroPython (CPython uses pytest).
# From the repo root:  micropython tests/run_mpy.py [tests/test_x.py ...] [-k substring] [--list]
# With no files it runs tests/test_*.py.  -k keeps tests whose
# "module.Class.test_name" contains substring.  Exit status 1 if any test
# failed or errored, or if no test ran.  --list prints "module.Class" of each
# test class instead of running them (tools/heaprun.py runs each in its own process).
import gc
import os
import sys

# Absolute paths from this script's location, so imports keep working
# if a test changes the current directory.
_script = __file__ if __file__.startswith('/') else os.getcwd() + '/' + __file__
TESTS = _script.rpartition('/')[0]
ROOT = TESTS.rpartition('/')[0]
# tests/mpy first so `import unittest` finds the shim.
sys.path[:0] = [TESTS + '/mpy', TESTS, ROOT + '/lib', ROOT + '/ports/unix']

import unittest  # noqa: E402  (needs the sys.path set above)


# Split the command line into module names and the optional -k substring.
def parse_args(argv):
    args = list(argv)
    pattern = None
    listing = '--list' in args
    if listing:
        args.remove('--list')
    if '-k' in args:
        i = args.index('-k')
        if i + 1 == len(args):
            print('usage: micropython tests/run_mpy.py [tests/test_x.py ...] [-k substring]')
            sys.exit(2)
        pattern = args[i + 1]
        del args[i:i + 2]
    return [module_name(arg) for arg in args], pattern, listing


# "tests/test_x.py" -> "test_x" (the tests directory is on sys.path).
def module_name(path):
    name = path.rpartition('/')[2]
    return name.rpartition('.')[0] if name.endswith('.py') or name.endswith('.mpy') else name


# Module names of tests/test_*.py, sorted.
def discover():
    return sorted(module_name(name) for name in os.listdir(TESTS)
                  if name.startswith('test_') and (name.endswith('.py') or name.endswith('.mpy')))


# Import and run each module; an import error counts as one failure, SkipTest as one skip.
def main():
    names, pattern, listing = parse_args(sys.argv[1:])
    results = unittest.Results()
    for name in names or discover():
        if listing:
            try:
                module = __import__(name)
            except unittest.SkipTest:
                print(name)  # skipped whole: run as one
                continue
            for cls in unittest.test_classes(module):
                print('%s.%s' % (name, cls.__name__))
            continue
        try:
            module = __import__(name)
        except unittest.SkipTest as exc:
            results.start(name)
            results.add_skip(str(exc))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            results.start(name)
            results.add_fail('ERROR (import failed)', [exc])
        else:
            unittest.run_module(module, results, pattern)
            del module
        # a test module is not needed once it has run: free it for the next (a board-sized heap)
        sys.modules.pop(name, None)
        gc.collect()
    if not listing:
        results.finish()


if __name__ == '__main__':
    main()
