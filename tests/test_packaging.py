# package.json (mip), the per-port package files and manifest.py (freezing) name the same files, those
# files exist, and the version lives in package.json alone. Runs on CPython and MicroPython.
import support  # noqa: F401  (first, as in every test module)

import json
import os
import unittest

from support import ROOT  # the source tree
BOARD_PORTS = ("esp32", "rp2", "unix")


def read_json(path):
    with open(ROOT + "/" + path) as f:
        return json.load(f)


def exists(path):
    try:
        os.stat(ROOT + "/" + path)
        return True
    except OSError:
        return False


class _Options:
    # manifest.py's `options`: include() keywords over the manifest's own defaults.
    def __init__(self, **given):
        self._given = given
        self._defaults = {}

    def defaults(self, **kwargs):
        self._defaults = kwargs

    def __getattr__(self, name):
        return self._given.get(name, self._defaults.get(name))


# What manifest.py freezes, run the way MicroPython's makemanifest runs it (from its own folder):
# (metadata keywords, ["path/of/source.py", ...]).
def manifest(**options):
    meta = {}
    files = []

    def metadata(**kwargs):
        meta.update(kwargs)

    def module(name, base_path=".", opt=None):
        files.append(base_path + "/" + name)

    with open(ROOT + "/manifest.py") as f:
        source = f.read()
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(source, {"metadata": metadata, "module": module, "options": _Options(**options)})
    finally:
        os.chdir(here)
    return meta, files


class PackagingTest(unittest.TestCase):
    def test_package_json_installs_every_lib_module_and_nothing_else(self):
        pkg = read_json("package.json")
        self.assertEqual(pkg["deps"], [])
        dests = sorted(dest for dest, src in pkg["urls"])
        lib = sorted(name for name in os.listdir(ROOT + "/lib") if name.endswith(".py"))
        self.assertEqual(dests, lib)
        for dest, src in pkg["urls"]:
            self.assertEqual(src, "lib/" + dest)
            self.assertTrue(exists(src), src)

    def test_version_is_a_dotted_number(self):
        version = read_json("package.json")["version"]
        parts = version.split(".")
        self.assertEqual(len(parts), 3, version)
        for part in parts:
            self.assertTrue(part.isdigit(), version)

    def test_each_port_package_installs_its_adapter(self):
        for port in BOARD_PORTS:
            pkg = read_json("ports/%s/package.json" % port)
            self.assertEqual(pkg["urls"], [["uasyncore_port.py", "uasyncore_port.py"]], port)
            self.assertEqual(pkg["deps"], [], port)
            self.assertNotIn("version", pkg, "the version is kept in package.json alone")
            self.assertTrue(exists("ports/%s/uasyncore_port.py" % port), port)

    def test_manifest_freezes_the_same_files_with_the_boards_adapter(self):
        lib = sorted(src for dest, src in read_json("package.json")["urls"])
        for port in BOARD_PORTS:
            meta, files = manifest(adapter=port)
            self.assertEqual(sorted(files), sorted(lib + ["ports/%s/uasyncore_port.py" % port]))
            for path in files:
                self.assertTrue(exists(path), path)

    def test_manifest_defaults_to_the_unix_adapter(self):
        meta, files = manifest()
        self.assertIn("ports/unix/uasyncore_port.py", files)

    def test_manifest_takes_its_version_from_package_json(self):
        meta, files = manifest(adapter="esp32")
        self.assertEqual(meta["version"], read_json("package.json")["version"])
