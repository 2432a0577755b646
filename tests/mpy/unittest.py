# Minimal unittest replacement for MicroPython, which ships no unittest module.
# tests/run_mpy.py puts this directory on sys.path under MicroPython only;
# CPython (pytest) always uses its real unittest.  It also holds the code
# that runs TestCases and reports outcomes, shared by main() and run_mpy.py.
import gc
import sys


# Raised (by skipTest or directly) to skip a test, a class or a whole module.
class SkipTest(Exception):
    pass


# MicroPython functions take no attributes, so skip() and expectedFailure()
# record the decorated test functions here instead of marking them.
_skipped = {}
_expected_failures = set()


# Skip a test method, or every test of a TestCase class, without running setUp.
def skip(reason):
    def decorator(obj):
        if isinstance(obj, type):
            obj.__unittest_skip_why__ = reason  # inherited by subclasses
        else:
            _skipped[obj] = reason
        return obj
    return decorator


# Leave the decorated object unchanged (the "don't skip" branch of skipIf).
def _identity(obj):
    return obj


# Skip when condition is true.
def skipIf(condition, reason):
    return skip(reason) if condition else _identity


# Skip unless condition is true.
def skipUnless(condition, reason):
    return skipIf(not condition, reason)


# Mark a test method whose failure is expected; passing then counts as a failure.
def expectedFailure(func):
    _expected_failures.add(func)
    return func


# Context manager behind assertRaises; keeps the caught exception in .exception.
class _AssertRaisesContext:
    # Remember what to expect and how to report a missing exception.
    def __init__(self, test, expected, msg=None):
        self.test = test
        self.expected = expected
        self.msg = msg
        self.exception = None

    # Nothing to set up; the with-statement target is this context.
    def __enter__(self):
        return self

    # Swallow an expected exception, let any other one propagate, fail if none.
    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            name = getattr(self.expected, '__name__', str(self.expected))
            self.test._fail('%s not raised' % name, self.msg)
        if not issubclass(exc_type, self.expected):
            return False
        self.exception = exc
        return True


class TestCase:
    failureException = AssertionError

    # One instance per test method, as in CPython.
    def __init__(self, methodName='runTest'):
        self._testMethodName = methodName
        self._cleanups = []

    # Class-wide fixture, called once before the class's first test.
    @classmethod
    def setUpClass(cls):
        pass

    # Class-wide fixture, called once after the class's last test.
    @classmethod
    def tearDownClass(cls):
        pass

    # Per-test fixture, called before each test method.
    def setUp(self):
        pass

    # Per-test fixture, called after each test method whose setUp succeeded.
    def tearDown(self):
        pass

    # Register function(*args, **kwargs) to run after tearDown, even on failure.
    def addCleanup(self, function, *args, **kwargs):
        self._cleanups.append((function, args, kwargs))

    # Skip the running test.
    def skipTest(self, reason):
        raise SkipTest(reason)

    # Fail the running test.
    def fail(self, msg=None):
        raise self.failureException(msg)

    # Raise the failure, appending the caller's msg the way CPython does.
    def _fail(self, standard, msg):
        self.fail(standard if msg is None else '%s : %s' % (standard, msg))

    # first == second
    def assertEqual(self, first, second, msg=None):
        if not first == second:
            self._fail('%r != %r' % (first, second), msg)

    # first != second
    def assertNotEqual(self, first, second, msg=None):
        if not first != second:
            self._fail('%r == %r' % (first, second), msg)

    # bool(expr) is True
    def assertTrue(self, expr, msg=None):
        if not expr:
            self._fail('%r is not true' % (expr,), msg)

    # bool(expr) is False
    def assertFalse(self, expr, msg=None):
        if expr:
            self._fail('%r is not false' % (expr,), msg)

    # first is second
    def assertIs(self, first, second, msg=None):
        if first is not second:
            self._fail('%r is not %r' % (first, second), msg)

    # first is not second
    def assertIsNot(self, first, second, msg=None):
        if first is second:
            self._fail('unexpectedly identical: %r' % (first,), msg)

    # obj is None
    def assertIsNone(self, obj, msg=None):
        if obj is not None:
            self._fail('%r is not None' % (obj,), msg)

    # obj is not None
    def assertIsNotNone(self, obj, msg=None):
        if obj is None:
            self._fail('unexpectedly None', msg)

    # member in container
    def assertIn(self, member, container, msg=None):
        if member not in container:
            self._fail('%r not found in %r' % (member, container), msg)

    # member not in container
    def assertNotIn(self, member, container, msg=None):
        if member in container:
            self._fail('%r unexpectedly found in %r' % (member, container), msg)

    # isinstance(obj, cls)
    def assertIsInstance(self, obj, cls, msg=None):
        if not isinstance(obj, cls):
            self._fail('%r is not an instance of %r' % (obj, cls), msg)

    # a > b
    def assertGreater(self, a, b, msg=None):
        if not a > b:
            self._fail('%r not greater than %r' % (a, b), msg)

    # a >= b
    def assertGreaterEqual(self, a, b, msg=None):
        if not a >= b:
            self._fail('%r not greater than or equal to %r' % (a, b), msg)

    # a < b
    def assertLess(self, a, b, msg=None):
        if not a < b:
            self._fail('%r not less than %r' % (a, b), msg)

    # a <= b
    def assertLessEqual(self, a, b, msg=None):
        if not a <= b:
            self._fail('%r not less than or equal to %r' % (a, b), msg)

    # first and second differ by at most delta, or by 0 when rounded to places (default 7)
    def assertAlmostEqual(self, first, second, places=None, msg=None, delta=None):
        if first == second:
            return
        diff = abs(first - second)
        if delta is not None:
            if diff <= delta:
                return
            standard = '%r != %r within %r delta (%r difference)' % (first, second, delta, diff)
        else:
            places = 7 if places is None else places
            if round(diff, places) == 0:
                return
            standard = '%r != %r within %r places (%r difference)' % (first, second, places, diff)
        self._fail(standard, msg)

    # Callable form: calls args[0](*args[1:], **kwargs) and expects it to raise;
    # with no callable, returns a context manager (only msg= is accepted then).
    def assertRaises(self, expected, *args, **kwargs):
        if not args:
            return _AssertRaisesContext(self, expected, kwargs.get('msg'))
        with _AssertRaisesContext(self, expected):
            args[0](*args[1:], **kwargs)

    # Same elements with the same multiplicities, in any order (unhashables allowed).
    def assertCountEqual(self, first, second, msg=None):
        first, second = list(first), list(second)
        rest = list(second)
        for item in first:
            if item not in rest:
                break
            rest.remove(item)
        else:
            if not rest:
                return
        self._fail('Element counts were not equal: %r vs %r' % (first, second), msg)


# Counts outcomes, prints one line per test and the final summary.
class Results:
    # All counters start at zero.
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    # Print the test's name before running it, so a crash shows which test.
    def start(self, label):
        print('%s ... ' % label, end='')

    # Count a success ('ok' or 'expected failure').
    def add_pass(self, word='ok'):
        self.passed += 1
        print(word)

    # Count a skip and show its reason.
    def add_skip(self, reason):
        self.skipped += 1
        print('skipped %r' % (reason,))

    # Count a failure and print the traceback of each exception.
    def add_fail(self, word, excs=()):
        self.failed += 1
        print(word)
        for exc in excs:
            sys.print_exception(exc)

    # Report exceptions as FAIL when the first one is an assertion, else ERROR.
    def add_errors(self, excs, failure_type=AssertionError):
        self.add_fail('FAIL' if isinstance(excs[0], failure_type) else 'ERROR', excs)

    # Print the summary line; exit 1 if anything failed or no test ran at all.
    def finish(self):
        total = self.passed + self.failed + self.skipped
        if not total:
            print('no tests ran')
        print('%d passed, %d failed, %d skipped' % (self.passed, self.failed, self.skipped))
        sys.exit(1 if self.failed or not total else 0)


# Call function, appending any exception to excs; True if it returned normally.
def _capture(excs, function, *args, **kwargs):
    try:
        function(*args, **kwargs)
        return True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a test is an error too
        excs.append(exc)
        return False


# Run one test method on a fresh instance with its fixtures and cleanups, and report it.
def _run_test(cls, name, results):
    results.start('%s.%s.%s' % (cls.__module__, cls.__name__, name))
    method = getattr(cls, name)
    if method in _skipped:
        results.add_skip(_skipped[method])
        return
    test = cls(name)
    excs = []
    method_failed = False
    if _capture(excs, test.setUp):
        method_failed = not _capture(excs, getattr(test, name))
        _capture(excs, test.tearDown)
    while test._cleanups:
        function, args, kwargs = test._cleanups.pop()
        _capture(excs, function, *args, **kwargs)
    errors = [exc for exc in excs if not isinstance(exc, SkipTest)]
    expected = method in _expected_failures
    if excs and not errors:
        results.add_skip(str(excs[0]))
    elif expected and method_failed and len(excs) == 1:
        results.add_pass('expected failure')
    elif expected and not excs:
        results.add_fail('unexpected success')
    elif errors:
        results.add_errors(errors, cls.failureException)
    else:
        results.add_pass()


# The class's test* method names, sorted, those whose "module.Class.name" contains pattern.
def test_names(cls, pattern=None):
    prefix = '%s.%s.' % (cls.__module__, cls.__name__)
    # dir() on a MicroPython class includes inherited attributes, as on CPython.
    return [name for name in sorted(dir(cls))
            if name.startswith('test') and callable(getattr(cls, name))
            and (pattern is None or pattern in prefix + name)]


# Run the class's test* methods (sorted, filtered by substring pattern) between
# setUpClass and tearDownClass; SkipTest from setUpClass skips them all.
def run_class(cls, results, pattern=None):
    prefix = '%s.%s.' % (cls.__module__, cls.__name__)
    names = test_names(cls, pattern)
    if not names:
        return
    reason = getattr(cls, '__unittest_skip_why__', None)
    excs = []
    if reason is None and not _capture(excs, cls.setUpClass):
        if not isinstance(excs[0], SkipTest):
            results.start(prefix + 'setUpClass')
            results.add_errors(excs, cls.failureException)
            return
        reason = str(excs[0])
    for name in names:
        if reason is None:
            _run_test(cls, name, results)
        else:
            results.start(prefix + name)
            results.add_skip(reason)
        gc.collect()
    if reason is None and not _capture(excs, cls.tearDownClass):
        results.start(prefix + 'tearDownClass')
        results.add_errors(excs, cls.failureException)


# The TestCase subclasses with tests defined in module itself (not imported ones), sorted by name.
def test_classes(module):
    found = []
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if (isinstance(obj, type) and issubclass(obj, TestCase)
                and obj.__module__ == module.__name__ and test_names(obj)):
            found.append(obj)
    return found


def run_module(module, results, pattern=None):
    for cls in test_classes(module):
        run_class(cls, results, pattern)


# Run the TestCases of __main__ (for `if __name__ == '__main__': unittest.main()`).
def main():
    import __main__  # sys.modules has no '__main__' entry on MicroPython
    results = Results()
    run_module(__main__, results)
    results.finish()
