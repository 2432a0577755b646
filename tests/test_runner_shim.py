# Semantics that CPython's unittest and the MicroPython shim (tests/mpy/unittest.py)
# must share.  Runs under pytest and under `micropython tests/run_mpy.py`.
# Every expectation is checked, so a broken helper or runner makes a test fail.
import unittest


# Call method(*args); return the AssertionError message, or None if it did not fail.
def failure_message(method, *args, **kwargs):
    try:
        method(*args, **kwargs)
    except AssertionError as exc:
        return str(exc)
    return None


class AssertionHelpersTest(unittest.TestCase):

    def test_failure_exception_is_assertion_error(self):
        self.assertIs(self.failureException, AssertionError)

    def test_passing_assertions_do_not_raise(self):
        self.assertEqual([1, 'a'], [1, 'a'])
        self.assertNotEqual(1, 2)
        self.assertTrue([0])
        self.assertFalse('')
        marker = object()
        self.assertIs(marker, marker)
        self.assertIsNot(marker, object())
        self.assertIsNone(None)
        self.assertIsNotNone(0)
        self.assertIn('b', 'abc')
        self.assertNotIn(4, [1, 2, 3])
        self.assertIsInstance(KeyError('k'), LookupError)  # not bool/int: unrelated on MicroPython
        self.assertIsInstance(1, (str, int))
        self.assertGreater(2, 1)
        self.assertGreaterEqual(2, 2)
        self.assertLess(1, 2)
        self.assertLessEqual(2, 2)
        self.assertAlmostEqual(1.0, 1.00000001)
        self.assertAlmostEqual(1.0, 1.04, places=1)
        self.assertAlmostEqual(10, 12, delta=2)
        self.assertCountEqual([3, 1, 2, 1], (1, 1, 2, 3))
        self.assertCountEqual([[1], {'k': 2}], [{'k': 2}, [1]])  # unhashable items

    def test_failing_assertions_show_both_values(self):
        cases = [
            ('assertEqual', (1, 2), '1 != 2'),
            ('assertNotEqual', ('a', 'a'), "'a' == 'a'"),
            ('assertTrue', (0,), '0 is not true'),
            ('assertFalse', ([1],), '[1] is not false'),
            ('assertIs', (1, None), '1 is not None'),
            ('assertIsNot', (None, None), 'unexpectedly identical: None'),
            ('assertIsNone', ('x',), "'x' is not None"),
            ('assertIsNotNone', (None,), 'unexpectedly None'),
            ('assertIn', (4, [1, 2]), '4 not found in [1, 2]'),
            ('assertNotIn', ('a', 'abc'), "'a' unexpectedly found in 'abc'"),
            ('assertIsInstance', (1, str), "1 is not an instance of <class 'str'>"),
            ('assertGreater', (1, 2), '1 not greater than 2'),
            ('assertGreaterEqual', (1, 2), '1 not greater than or equal to 2'),
            ('assertLess', (2, 1), '2 not less than 1'),
            ('assertLessEqual', (2, 1), '2 not less than or equal to 1'),
            ('assertAlmostEqual', (1.0, 1.5), '1.0 != 1.5 within 7 places'),
            ('assertCountEqual', ([1, 1, 2], [1, 2, 2]), 'Element counts were not equal'),
            ('assertCountEqual', ([1], [1, 1]), 'Element counts were not equal'),
        ]
        for name, args, expected in cases:
            message = failure_message(getattr(self, name), *args)
            if message is None or expected not in message:
                self.fail('%s%r: expected %r in message %r' % (name, args, expected, message))

    def test_msg_is_appended_to_standard_message(self):
        message = failure_message(self.assertEqual, 1, 2, 'context')
        self.assertIn('1 != 2', message)
        self.assertIn('context', message)

    def test_fail_raises_with_message(self):
        self.assertEqual(failure_message(self.fail, 'boom'), 'boom')

    def test_almost_equal_delta(self):
        message = failure_message(self.assertAlmostEqual, 10, 13, delta=2)
        self.assertIn('10 != 13 within 2 delta', message)


class AssertRaisesTest(unittest.TestCase):

    def test_context_manager_exposes_exception(self):
        with self.assertRaises(ValueError) as cm:
            raise ValueError('boom')
        self.assertIsInstance(cm.exception, ValueError)
        self.assertEqual(cm.exception.args, ('boom',))

    def test_context_manager_accepts_subclass_and_tuple(self):
        with self.assertRaises(LookupError) as cm:
            {}['missing']
        self.assertIsInstance(cm.exception, KeyError)
        with self.assertRaises((TypeError, ZeroDivisionError)):
            1 // 0

    def test_context_manager_fails_when_nothing_raised(self):
        def no_raise():
            with self.assertRaises(ValueError):
                pass
        self.assertIn('ValueError not raised', failure_message(no_raise))

    def test_context_manager_lets_other_exceptions_through(self):
        try:
            with self.assertRaises(KeyError):
                raise ValueError('unrelated')
        except ValueError:
            pass
        else:
            self.fail('assertRaises(KeyError) swallowed a ValueError')

    def test_callable_form_passes_args_and_kwargs(self):
        calls = []

        def raiser(a, b=None):
            calls.append((a, b))
            raise KeyError(a)
        self.assertRaises(KeyError, raiser, 1, b=2)
        self.assertEqual(calls, [(1, 2)])

    def test_callable_form_fails_when_nothing_raised(self):
        message = failure_message(self.assertRaises, ValueError, int, '7')
        self.assertIn('ValueError not raised', message)


class FixturesTest(unittest.TestCase):
    setup_class_calls = 0

    @classmethod
    def setUpClass(cls):
        cls.setup_class_calls += 1

    def setUp(self):
        self.prepared = True

    def test_a_setup_ran(self):
        self.assertTrue(self.prepared)
        self.assertEqual(type(self).setup_class_calls, 1)
        self.leftover = True

    def test_b_fresh_instance_per_test(self):
        self.assertFalse(hasattr(self, 'leftover'))
        self.assertEqual(type(self).setup_class_calls, 1)


# Relies on both runners running a class's tests in sorted name order.
class CleanupTest(unittest.TestCase):
    log = []

    def tearDown(self):
        self.log.append('tearDown')

    # Skip (rather than fail) a checker run on its own, e.g. with -k.
    def require(self, entry):
        if entry not in self.log:
            self.skipTest('run together with the test that logs %r' % (entry,))

    def test_1_register(self):
        self.addCleanup(self.log.append, 'first')
        self.addCleanup(lambda *args, **kwargs: self.log.append((args, kwargs)), 2, key=3)

    def test_2_cleanups_run_lifo_after_tearDown(self):
        self.require('first')
        start = self.log.index('first') - 2
        self.assertEqual(self.log[start:start + 3], ['tearDown', ((2,), {'key': 3}), 'first'])

    @unittest.expectedFailure
    def test_3_register_then_fail(self):
        self.addCleanup(self.log.append, 'after failure')
        self.fail('expected')

    def test_4_cleanups_run_after_failure(self):
        self.require('after failure')
        start = self.log.index('after failure') - 1
        self.assertEqual(self.log[start:start + 2], ['tearDown', 'after failure'])


# setUp fails here, so any test that is not skipped before setUp fails.
class SkipDecoratorTest(unittest.TestCase):

    def setUp(self):
        self.fail('setUp ran for a skipped test')

    @unittest.skip('always')
    def test_skip(self):
        self.fail('skipped test ran')

    @unittest.skipIf(True, 'condition true')
    def test_skip_if_true(self):
        self.fail('skipped test ran')

    @unittest.skipUnless(False, 'condition false')
    def test_skip_unless_false(self):
        self.fail('skipped test ran')


class SkipRuntimeTest(unittest.TestCase):

    def test_false_conditions_leave_test_unchanged(self):
        def func():
            pass
        self.assertIs(unittest.skipIf(False, 'no')(func), func)
        self.assertIs(unittest.skipUnless(True, 'no')(func), func)

    def test_skip_test_method(self):
        self.skipTest('from the test')
        self.fail('continued after skipTest')

    def test_raise_skip_test(self):
        raise unittest.SkipTest('raised directly')

    def test_skip_test_raises_skip_exception(self):
        with self.assertRaises(unittest.SkipTest) as cm:
            self.skipTest('why')
        self.assertEqual(str(cm.exception), 'why')

    @unittest.expectedFailure
    def test_expected_failure_error(self):
        raise ValueError('an error also counts as the expected failure')


class SkipInSetUpTest(unittest.TestCase):

    def setUp(self):
        self.skipTest('from setUp')

    def test_not_run(self):
        self.fail('test ran after setUp skipped it')


@unittest.skip('whole class')
class SkippedClassTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        raise AssertionError('setUpClass ran for a skipped class')

    def test_not_run(self):
        self.fail('test of a skipped class ran')


class SkipInSetUpClassTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest('from setUpClass')

    def test_not_run(self):
        self.fail('test ran after setUpClass skipped the class')


if __name__ == '__main__':
    unittest.main()
