# The firmware's modules (manifest.py) and uasyncore with the unix adapter, through the project's
# own manifest.py as a board's manifest would include it.
# ruff: noqa: F821
include("manifest.py")
include("../../manifest.py", adapter="unix")
