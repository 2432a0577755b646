# uasyncore's board-like variant of the unix port (see mpconfigvariant.h): 32-bit objects as on a board.
CFLAGS += -m32
LDFLAGS += -m32

# Left out of the source archive (and of boards): Berkeley DB and libffi.
MICROPY_PY_BTREE = 0
MICROPY_PY_FFI = 0

MICROPY_PY_SSL = 1
MICROPY_SSL_MBEDTLS = 1
MBEDTLS_CONFIG_FILE = \"mbedtls_config_board.h\"

# tools/boardlike.py builds with manifest.py (the firmware) and with manifest_frozen.py (+ uasyncore)
FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py
