# asyncore: the name existing programs import; it is uasyncore itself.
import sys

import uasyncore
from uasyncore import *  # noqa: F401,F403  (the first importer on MicroPython gets these)
from uasyncore import _DISCONNECTED, _exception, _reraised_exceptions, _strerror  # noqa: F401

sys.modules[__name__] = uasyncore  # so later imports, and CPython's first, get the module itself
