# swiftsim — the two commands of the README, and the pieces they are made of.
#   make demo   set everything up, then run the demo (the main job)
#   make test   set everything up, then run every test (Swift, lint, Python incl. TensorFlow parity,
#               and the built wheel and sdist, each installed into a fresh venv)
#   make wheel  dist/: the sdist and a repaired manylinux wheel (make sdist: the sdist alone)
#   make bench  the benchmark suite (quick mode)
#   make docs   the API reference from the docstrings, in build/docs/api (see docs/ for the contract)

# The project's builds treat every compiler warning as an error (Package.swift).
export SWIFTSIM_STRICT_WARNINGS := 1

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# The tag auditwheel repairs the wheel to: the oldest glibc whose symbols the extension may use.
# This machine's toolchain (glibc 2.36, Swift 6.3's static runtime) gives manylinux_2_34.
MANYLINUX ?= manylinux_2_34_x86_64
# Where the artefact tests install the wheel and the sdist (each run starts from an empty venv).
DIST_TEST := build/dist-test
# The environment the wheel is installed and tested in: no Swift, no toolchain on the PATH. The
# OpenBLAS settings of the machine, if any, are kept (older OpenBLAS builds need them here).
NO_TOOLCHAIN_ENV := env -i PATH=/usr/bin:/bin HOME=$(HOME) \
	$(foreach v,OPENBLAS_CORETYPE OPENBLAS_L2_SIZE,$(if $($(v)),$(v)=$($(v))))

.PHONY: demo test venv install swift-test lint pytest docs sanitize bench clean sdist wheel test-wheel test-sdist

$(VENV)/.deps: requirements-test.txt requirements-build.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-build.txt -r requirements-test.txt
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
	$(PY) -m ruff check setup.py python tests benchmarks
	$(PY) -m ruff format --check setup.py python tests benchmarks
	$(PY) -m mypy --strict --exclude 'python/swiftsim/cli/' python/swiftsim tests/typing_example.py
	$(PY) -m mypy python/swiftsim/cli
	$(PY) -m mypy.stubtest swiftsim._swiftsim

pytest: install
	SWIFTSIM_REQUIRE_TF=1 $(PY) -m pytest -q tests python/swiftsim

test: swift-test lint pytest docs test-wheel test-sdist sanitize

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
	$(PY) -m pdoc --docformat numpy -o build/docs/api swiftsim swiftsim.cli swiftsim.dask

# The distributions. `python -m build` makes the sdist, then builds the wheel from that sdist (in an
# isolated environment with pyproject.toml's build requirements); auditwheel checks the wheel's
# external libraries and symbol versions against $(MANYLINUX) and retags it.
sdist: venv
	rm -f dist/swiftsim-*.tar.gz
	$(PY) -m build --sdist --outdir dist .

wheel: venv
	rm -rf dist build/dist-raw
	$(PY) -m build --outdir build/dist-raw .
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m auditwheel repair --plat $(MANYLINUX) -w dist build/dist-raw/*.whl
	cp build/dist-raw/*.tar.gz dist/
	$(PY) -m auditwheel show dist/*.whl
	@ls -l dist

# The artefacts are tested, not the tree: a fresh venv gets the test requirements, then the wheel
# with no Swift on the PATH (no index: nothing is built), and the whole suite runs from outside the
# source tree against the installed package; tests/test_packaging.py checks that the package is the
# venv's (SWIFTSIM_TEST_INSTALLED) and that no swift is reachable (SWIFTSIM_TEST_NO_TOOLCHAIN).
test-wheel: wheel
	rm -rf $(DIST_TEST)/wheel && mkdir -p $(DIST_TEST)/wheel/cwd
	$(PYTHON) -m venv $(DIST_TEST)/wheel/venv
	$(DIST_TEST)/wheel/venv/bin/python -m pip install -q -r requirements-test.txt
	$(NO_TOOLCHAIN_ENV) $(DIST_TEST)/wheel/venv/bin/python -m pip install -q --no-index $(CURDIR)/dist/*.whl
	cd $(DIST_TEST)/wheel/cwd && $(NO_TOOLCHAIN_ENV) ../venv/bin/python -m swiftsim info
	cd $(DIST_TEST)/wheel/cwd && $(NO_TOOLCHAIN_ENV) SWIFTSIM_REQUIRE_TF=1 SWIFTSIM_TEST_NO_TOOLCHAIN=1 \
		SWIFTSIM_TEST_INSTALLED=$(abspath $(DIST_TEST)/wheel/venv) SWIFTSIM_TEST_WHEEL=$$(echo $(CURDIR)/dist/*.whl) \
		../venv/bin/python -m pytest -q \
		-p no:cacheprovider -c $(CURDIR)/pyproject.toml --rootdir $(CURDIR) $(CURDIR)/tests --pyargs swiftsim

# The sdist as a user with Swift installs it: a fresh venv, `pip install swiftsim-*.tar.gz` (build
# isolation, the three Swift builds), then the sdist's own tests, run in its unpacked tree.
test-sdist: wheel
	rm -rf $(DIST_TEST)/sdist && mkdir -p $(DIST_TEST)/sdist
	tar -xzf dist/swiftsim-*.tar.gz -C $(DIST_TEST)/sdist
	$(PYTHON) -m venv $(DIST_TEST)/sdist/venv
	$(DIST_TEST)/sdist/venv/bin/python -m pip install -q -r $(DIST_TEST)/sdist/swiftsim-*/requirements-test.txt
	$(DIST_TEST)/sdist/venv/bin/python -m pip install -q $(CURDIR)/dist/swiftsim-*.tar.gz
	cd $(DIST_TEST)/sdist/swiftsim-* && SWIFTSIM_REQUIRE_TF=1 \
		SWIFTSIM_TEST_INSTALLED=$(abspath $(DIST_TEST)/sdist/venv) ../venv/bin/python -m pytest -q \
		-p no:cacheprovider tests --pyargs swiftsim

bench: install
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf .build .build-variants .build-tsan .build-asan .build-sanitize build dist python/swiftsim/_native \
		python/swiftsim.egg-info
