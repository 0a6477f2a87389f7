# swiftsim — the two commands of the README, and the pieces they are made of.
#   make demo   set everything up, then run the demo (the main job)
#   make test   set everything up, then run every test (Swift, lint, Python incl. TensorFlow parity)
#   make bench  the benchmark suite (quick mode)
#   make docs   the API reference from the docstrings, in build/docs/api (see docs/ for the contract)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test venv install swift-test lint pytest docs bench clean

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

test: swift-test lint pytest docs

# pdoc renders the numpydoc docstrings of the public modules (about a second).
docs: install
	$(PY) -m pdoc --docformat numpy -o build/docs/api swiftsim swiftsim.cli

bench: install
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf .build .build-variants build python/swiftsim/_native python/swiftsim.egg-info
