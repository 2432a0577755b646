# Run CPython's own test_asyncore and test_asynchat against uasyncore and uasynchat.
#
# usage: python3 tests/cpython_suites.py [-v]
import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython")]

import uasyncore  # noqa: E402
import uasynchat  # noqa: E402

sys.modules["asyncore"] = uasyncore
sys.modules["asynchat"] = uasynchat

from test import test_asynchat, test_asyncore  # noqa: E402

# The substitution took: the suites hold our modules, not the stdlib's.
assert test_asyncore.asyncore is uasyncore, test_asyncore.asyncore
assert test_asynchat.asyncore is uasyncore and test_asynchat.asynchat is uasynchat
assert uasyncore.__file__.startswith(os.path.join(ROOT, "lib"))

# Known difference, documented in docs/differences.md: the class prints as uasyncore.dispatcher.
test_asyncore.DispatcherTests.test_repr = unittest.skip("repr names uasyncore.dispatcher (docs/differences.md)")(
    test_asyncore.DispatcherTests.test_repr
)


def main():
    verbosity = 2 if "-v" in sys.argv else 1
    failed = 0
    for module in (test_asyncore, test_asynchat):
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
        result = unittest.TextTestRunner(verbosity=verbosity).run(suite)
        bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
        ran = result.testsRun - len(result.skipped)
        print("%s: %d passed, %d failed, %d skipped" % (module.__name__, ran - bad, bad, len(result.skipped)))
        failed += bad
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
