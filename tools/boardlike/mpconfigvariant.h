// uasyncore's board-like MicroPython: the unix port held to what ESP32 firmware enables, built -m32.
// tools/boardlike/README.md says what differs from the PyPI unix port and why each line is here.

// The ESP32 port's feature level, number formats and error texts (ports/esp32/mpconfigport.h).
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_ERROR_REPORTING (MICROPY_ERROR_REPORTING_NORMAL)

// What every unix variant but "minimal" has: the REPL, os, time, select, socket.
#include "variants/mpconfigvariant_common.h"

// Boards leave sys.exc_info() out (MICROPY_PY_SYS_EXC_INFO defaults to 0 in py/mpconfig.h).
#undef MICROPY_PY_SYS_EXC_INFO
#define MICROPY_PY_SYS_EXC_INFO (0)

// mbedTLS allocates from the GC heap through the tracked allocator, as on rp2 (mbedtls_config_board.h).
#define MICROPY_TRACKED_ALLOC (1)
