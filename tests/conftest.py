# pytest on CPython: import our modules from lib/ and the CPython port, never the stdlib's.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "ports", "cpython"), os.path.join(ROOT, "tests")]

collect_ignore = ["mpy", "run_mpy.py", "cpython_suites.py"]
