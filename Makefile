# swiftsim — the two commands of the README, and the pieces they are made of.
#   make demo   set everything up, then run the demo (the main job)
#   make test   set everything up, then run every test (Swift, lint, Python incl. TensorFlow parity)
#   make bench  the benchmark suite (quick mode)
#   make docs   the API reference from the docstrings, in build/docs/api (see docs/ for the contract)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test venv install swift-test lint pytest docs sanitize bench clean

$(VENV)/.deps: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-test.txt
	touch $@

venv: $(VENV)/.deps

install: venv
	$(PIP) install -q --no-build-isolation -e .

demo: install
	$(PY) -m swiftsim demo

SHELL := /bin/bash

# The kernels are tested as every Swift user first runs them (debug: runtime checks on) and as they
# ship (release: optimised, with @testable access).
swift-test:
	swift test 2>&1 | tail -n 25; exit $${PIPESTATUS[0]}
	swift test -c release -Xswiftc -enable-testing 2>&1 | tail -n 25; exit $${PIPESTATUS[0]}

lint: install
	swift format lint --strict -r Sources Tests Package.swift
	$(PY) -m ruff check python tests benchmarks
	$(PY) -m ruff format --check python tests benchmarks
	$(PY) -m mypy --strict --exclude 'python/swiftsim/cli/' python/swiftsim tests/typing_example.py
	$(PY) -m mypy python/swiftsim/cli
	$(PY) -m mypy.stubtest swiftsim._swiftsim

pytest: install
	SWIFTSIM_REQUIRE_TF=1 $(PY) -m pytest -q tests python/swiftsim

test: swift-test lint pytest docs sanitize

# The kernels under ThreadSanitizer and AddressSanitizer (what the XCTest harness keeps until exit is
# not reported as a leak), then the whole Python suite against an AddressSanitizer build of the
# extension, with the toolchain's ASan runtime preloaded into the (uninstrumented) interpreter.
SWIFT_CLANG  = $(dir $(realpath $(shell command -v swift)))clang
ASAN_RUNTIME = $(shell $(SWIFT_CLANG) -print-file-name=libclang_rt.asan-x86_64.so)
SANITIZE_LIB = $(CURDIR)/.build-sanitize/lib

sanitize: venv
	swift test --sanitize=thread --scratch-path .build-tsan 2>&1 | tail -n 3; exit $${PIPESTATUS[0]}
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt \
		swift test --sanitize=address --scratch-path .build-asan 2>&1 | tail -n 3; exit $${PIPESTATUS[0]}
	SWIFTSIM_TARGET_CPU=native SWIFTSIM_SANITIZE=address $(PY) setup.py -q build \
		--build-base .build-sanitize/build --build-lib $(SANITIZE_LIB) > /dev/null
	PYTHONPATH=$(SANITIZE_LIB) LD_PRELOAD=$(ASAN_RUNTIME) ASAN_OPTIONS=detect_leaks=0 \
		$(PY) -c 'import swiftsim; assert swiftsim.__file__.startswith("$(SANITIZE_LIB)"), swiftsim.__file__'
	PYTHONPATH=$(SANITIZE_LIB) LD_PRELOAD=$(ASAN_RUNTIME) ASAN_OPTIONS=detect_leaks=0 SWIFTSIM_REQUIRE_TF=1 \
		$(PY) -m pytest -q -p no:cacheprovider tests

# pdoc renders the numpydoc docstrings of the public modules (about a second).
docs: install
	$(PY) -m pdoc --docformat numpy -o build/docs/api swiftsim swiftsim.cli

bench: install
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf .build .build-variants .build-tsan .build-asan .build-sanitize build python/swiftsim/_native \
		python/swiftsim.egg-info
