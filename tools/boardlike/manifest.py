# What the board-like firmware freezes: asyncio and micropython-lib's ssl (over the C module tls), as
# ESP32 and Pico W firmware do. manifest_frozen.py adds uasyncore, for the build that freezes it.
# ruff: noqa: F821
include("$(MPY_DIR)/extmod/asyncio")
require("ssl")
