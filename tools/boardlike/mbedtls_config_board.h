// mbedTLS for the board-like variant: its buffers come from MicroPython's GC heap, as on rp2, so
// that -X heapsize counts a TLS connection (the unix port otherwise gives mbedTLS malloc).
#ifndef UASYNCORE_BOARDLIKE_MBEDTLS_CONFIG_H
#define UASYNCORE_BOARDLIKE_MBEDTLS_CONFIG_H

#define MBEDTLS_TIMING_C
#define MICROPY_MBEDTLS_CONFIG_BARE_METAL (1)

#include "extmod/mbedtls/mbedtls_config_common.h"

// Bare metal assumes a hardware entropy source; a unix process reads /dev/urandom instead.
#undef MBEDTLS_ENTROPY_HARDWARE_ALT
#undef MBEDTLS_NO_PLATFORM_ENTROPY

#endif
