# The CPython distribution (pyproject.toml): the wheel pip builds holds every module of lib/ and the
# CPython adapter at the top level, byte for byte, and nothing else (no board adapter, no test, no
# example); its version is package.json's; the source distribution builds the same wheel.
# Builds with the installed hatchling (requirements-dev.txt), without build isolation: no download.
import support  # noqa: F401  (first, as in every test module)

import json
import os
import sys
import unittest

try:
    import shutil
    import subprocess
    import tempfile
    import tomllib
    import zipfile
except ImportError:
    raise unittest.SkipTest("builds wheels: needs subprocess, zipfile and tomllib (CPython 3.11+)")

from support import ROOT

PORT_ADAPTER = "ports/cpython/uasyncore_port.py"


def package_json():
    with open(os.path.join(ROOT, "package.json")) as f:
        return json.load(f)


# {path inside the wheel: bytes} of the one wheel pip builds from `source` (a folder or an sdist).
def build_wheel(source, out):
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-w", out, source]
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = [name for name in os.listdir(out) if name.endswith(".whl")]
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(os.path.join(out, wheels[0])) as whl:
        return wheels[0], {name: whl.read(name) for name in whl.namelist()}


class WheelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="uasyncore-wheel-")
        cls.name, cls.files = build_wheel(ROOT, os.path.join(cls.tmp, "tree"))
        cls.version = package_json()["version"]
        cls.dist_info = "uasyncore-%s.dist-info/" % cls.version

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def modules(self, files):
        return {name: data for name, data in files.items() if not name.startswith(self.dist_info)}

    def test_the_wheel_is_pure_python_and_named_for_package_json_version(self):
        self.assertEqual(self.name, "uasyncore-%s-py3-none-any.whl" % self.version)

    def test_it_holds_lib_and_the_cpython_adapter_at_the_top_level_and_nothing_else(self):
        expected = {}
        for dest, src in package_json()["urls"]:  # the modules of lib/ (tests/test_packaging.py)
            expected[dest] = src
        expected["uasyncore_port.py"] = PORT_ADAPTER
        modules = self.modules(self.files)
        self.assertEqual(sorted(modules), sorted(expected))
        for dest, src in expected.items():
            with open(os.path.join(ROOT, src), "rb") as f:
                self.assertEqual(modules[dest], f.read(), "%s is not %s" % (dest, src))

    def test_its_metadata_names_the_distribution_and_package_json_version(self):
        lines = self.files[self.dist_info + "METADATA"].decode().splitlines()
        self.assertIn("Name: uasyncore", lines)
        self.assertIn("Version: " + self.version, lines)
        self.assertIn("Requires-Python: >=3.11", lines)
        self.assertFalse([line for line in lines if line.startswith("Requires-Dist")], "no dependencies")

    def test_it_carries_the_license(self):
        lines = self.files[self.dist_info + "METADATA"].decode().splitlines()
        self.assertIn("License-Expression: MIT", lines)
        with open(os.path.join(ROOT, "LICENSE"), "rb") as f:
            self.assertEqual(self.files[self.dist_info + "licenses/LICENSE"], f.read())

    def test_the_version_is_kept_in_package_json_alone(self):
        with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
            project = tomllib.load(f)["project"]
        self.assertNotIn("version", project)
        self.assertIn("version", project["dynamic"])

    def test_the_source_distribution_builds_the_same_wheel(self):
        sdist_dir = os.path.join(self.tmp, "sdist")
        cmd = [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", sdist_dir]
        built = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        self.assertEqual(built.returncode, 0, built.stdout + built.stderr)
        (sdist,) = os.listdir(sdist_dir)
        self.assertEqual(sdist, "uasyncore-%s.tar.gz" % self.version)
        name, files = build_wheel(os.path.join(sdist_dir, sdist), os.path.join(self.tmp, "from-sdist"))
        self.assertEqual(name, self.name)
        self.assertEqual(self.modules(files), self.modules(self.files))
