# What the board-like firmware freezes: asyncio and micropython-lib's ssl (over the C module tls),
# as ESP32 and Pico W firmware do, and uasyncore with the unix adapter through the project's manifest.
# ruff: noqa: F821
include("$(MPY_DIR)/extmod/asyncio")
require("ssl")
include("../../manifest.py", adapter="unix")
