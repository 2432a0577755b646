# Run CPython's own test_asyncore and test_asynchat against uasyncore and uasynchat.
#
# usage: python3 tests/cpython_suites.py [-v] [--installed] [--suites DIR]
#   default      uasyncore and uasynchat from this tree's lib/, put in place of asyncore and asynchat
#   --installed  from the installed package (make test-pip): where the standard library has no asyncore
#                (3.12+), the suites' `import asyncore` must find the package's drop-in and nothing else
#   --suites DIR the folder holding test_asyncore.py and test_asynchat.py (CPython 3.11's lib/python3.11/test),
#                for a Python that no longer ships them
import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALLED = "--installed" in sys.argv
SUITES = sys.argv[sys.argv.index("--suites") + 1] if "--suites" in sys.argv else None

if not INSTALLED:
    sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython")]

import uasyncore  # noqa: E402
import uasynchat  # noqa: E402


# Make the suites' `import asyncore` / `import asynchat` give uasyncore / uasynchat; says how it did.
def substitute():
    if INSTALLED:
        try:
            import asynchat
            import asyncore
        except ImportError:
            raise SystemExit("no asyncore to import: the installed package lacks its drop-in names")
        if asyncore is uasyncore:
            assert asynchat.async_chat is uasynchat.async_chat, asynchat
            return "the drop-in names, with no standard library asyncore to fall back on"
    # from lib/, or installed beside a standard library that keeps its own (3.11): put ours in place
    sys.modules["asyncore"] = uasyncore
    sys.modules["asynchat"] = uasynchat
    return "put in place of asyncore and asynchat"


# CPython's test_asyncore and test_asynchat: the running Python's, else the ones in SUITES.
def load_suites():
    try:
        from test import test_asynchat, test_asyncore
        return test_asyncore, test_asynchat
    except ImportError:
        pass
    if not SUITES:
        raise SystemExit("this Python has no test_asyncore: give --suites (CPython 3.11's lib/python3.11/test)")
    import importlib.util

    modules = []
    for name in ("test_asyncore", "test_asynchat"):
        spec = importlib.util.spec_from_file_location("test." + name, os.path.join(SUITES, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


how = substitute()
test_asyncore, test_asynchat = load_suites()

# The substitution took: the suites hold our modules, from where they were asked for.
assert test_asyncore.asyncore is uasyncore, test_asyncore.asyncore
assert test_asynchat.asyncore is uasyncore
assert test_asynchat.asynchat.async_chat is uasynchat.async_chat
from_tree = uasyncore.__file__.startswith(os.path.join(ROOT, "lib"))
assert from_tree != INSTALLED, uasyncore.__file__
print("uasyncore from %s: %s" % (uasyncore.__file__, how))

# Known difference, documented in docs/differences.md: the class prints as uasyncore.dispatcher.
test_asyncore.DispatcherTests.test_repr = unittest.skip("repr names uasyncore.dispatcher (docs/differences.md)")(
    test_asyncore.DispatcherTests.test_repr
)


# Counts passes itself: what testsRun counts for a skipped test differs between CPython releases.
class CountingResult(unittest.TextTestResult):
    passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    verbosity = 2 if "-v" in sys.argv else 1
    failed = 0
    for module in (test_asyncore, test_asynchat):
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
        result = unittest.TextTestRunner(verbosity=verbosity, resultclass=CountingResult).run(suite)
        bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
        print("%s: %d passed, %d failed, %d skipped" % (module.__name__, result.passed, bad, len(result.skipped)))
        failed += bad
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
