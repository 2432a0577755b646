# Freeze uasyncore into a firmware image. From a board's manifest, name the board's adapter:
#     include("path/to/uasyncore/manifest.py", adapter="esp32")    # or "rp2", "unix"
# The modules are package.json's plus ports/<adapter>/uasyncore_port.py; the version is package.json's,
# the one place it is kept (tests/test_packaging.py checks that the two lists agree).
# options, metadata and module are given by MicroPython's manifest tools when they run this file.
# ruff: noqa: F821
import json

options.defaults(adapter="unix")

with open("package.json") as f:
    version = json.load(f)["version"]
metadata(version=version, description="asyncore and asynchat on a persistent poller, for MicroPython and CPython")

module("uasyncore.py", base_path="lib")
module("uasyncore_compat.py", base_path="lib")
module("uasyncore_slots.py", base_path="lib")
module("uasynchat.py", base_path="lib")
module("uasyncore_tls.py", base_path="lib")
module("uasyncore_dgram.py", base_path="lib")
module("uasyncore_dns.py", base_path="lib")
module("asyncore.py", base_path="lib")
module("asynchat.py", base_path="lib")
module("uasyncore_port.py", base_path="ports/" + options.adapter)
