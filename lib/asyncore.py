# asyncore: the name existing programs import; it is uasyncore itself.
import sys

import uasyncore

sys.modules[__name__] = uasyncore  # so later imports, and CPython's first, get the module itself


# MicroPython's first importer binds this module instead: what it asks for comes from uasyncore.
def __getattr__(name):
    return getattr(uasyncore, name)
