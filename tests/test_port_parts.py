# The MicroPython adapters are assembled from parts (ports/micropython/, tools/ports.py): each committed
# ports/<port>/uasyncore_port.py is what its parts make, and no name is defined by two of its parts.
# CPython only: it runs the assembler and parses the parts.
import support  # noqa: F401  (first, as in every test module)

import os
import sys
import unittest

try:
    import ast
    import subprocess
except ImportError:
    raise unittest.SkipTest("parses and assembles the adapters: needs ast and subprocess")

from support import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))
import ports  # noqa: E402  (tools/ is not a package)


# The names a part defines at its top level.
def defined(path):
    names = []
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                names += [e.id for e in elts if isinstance(e, ast.Name)]
    return names


class PortPartsTest(unittest.TestCase):
    def test_every_assembled_adapter_is_what_its_parts_make(self):
        done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ports.py"), "--check"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_no_name_is_defined_by_two_parts_of_one_adapter(self):
        for port, parts in ports.PARTS.items():
            seen = {}
            for part in parts:
                for name in defined(os.path.join(ports.PARTS_DIR, part)):
                    if name == "_PEEK":
                        continue  # esp32 widens its own flag: the one name a part sets twice
                    self.assertNotIn(name, seen, "%s: %s in %s and %s" % (port, name, seen.get(name), part))
                    seen[name] = part
