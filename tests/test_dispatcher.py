# asyncore semantics that CPython's own suites leave untested, checked on uasyncore: connect
# completion, error routing in recv/send/accept, readable()/writable() and the registrations they
# lead to, dispatcher_with_send, loop passes, handle_error, ExitNow, and a real loopback echo.
#
# The cases live in dispatcher_io.py and dispatcher_interest.py (helpers: dispatcher_kit.py).
# MicroPython compiles a module whole, and uasyncore alone takes most of a 128 KiB heap to compile,
# so this module stays small and imports support (hence uasyncore) before the cases are compiled.
# Runs on CPython (pytest) and MicroPython (tests/run_mpy.py) alike.
import support  # noqa: F401, I001  (first: asserts that uasyncore comes from lib/)

import unittest

import dispatcher_interest
import dispatcher_io
from dispatcher_kit import CountingTestCase, FakeTestCase, RealTestCase


class ConnectTests(dispatcher_io.Connect, FakeTestCase):
    pass


class RefusedConnectTests(dispatcher_io.RefusedConnect, RealTestCase):
    pass


class RecvTests(dispatcher_io.Recv, FakeTestCase):
    pass


class SocketCallTests(dispatcher_io.SocketCalls, FakeTestCase):
    pass


class SendTests(dispatcher_io.Send, FakeTestCase):
    pass


class HandlerErrorTests(dispatcher_io.HandlerErrors, FakeTestCase):
    pass


class ExptTests(dispatcher_io.Expt, FakeTestCase):
    pass


class CloseTests(dispatcher_io.Close, FakeTestCase):
    pass


class AcceptTests(dispatcher_io.Accept, FakeTestCase):
    pass


class EchoTests(dispatcher_io.Echo, RealTestCase):
    pass


class InterestTests(dispatcher_interest.Interest, CountingTestCase):
    pass


class DispatcherWithSendTests(dispatcher_interest.DispatcherWithSend, FakeTestCase):
    pass


class LoopTests(dispatcher_interest.Loop, FakeTestCase):
    pass


if __name__ == "__main__":
    unittest.main()
