# pytest on CPython: import our modules from lib/ and the CPython port, never the stdlib's; with
# UASYNCORE_INSTALLED=1 (make test-pip) from the installed package instead, lib/ kept off sys.path.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALLED = os.environ.get("UASYNCORE_INSTALLED") == "1"
SOURCES = [] if INSTALLED else [os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython")]
sys.path[:0] = SOURCES + [os.path.join(ROOT, "tests")]

collect_ignore = ["mpy", "run_mpy.py", "cpython_suites.py"]
