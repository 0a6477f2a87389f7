"""setup.py's checks: a source build without the right tools stops with one line saying what to install."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import stat
import subprocess
import sys

import pytest

SETUP = pathlib.Path(__file__).resolve().parents[1] / "setup.py"


@pytest.fixture(scope="module")
def setup_module():
    if not SETUP.exists():
        pytest.skip("no setup.py beside the tests")
    spec = importlib.util.spec_from_file_location("swiftsim_setup", SETUP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: setup() does not run
    return module


def _one_line(excinfo) -> str:
    message = str(excinfo.value.code)
    assert message.startswith("swiftsim: ") and "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Swift version 6.3.1 (swift-6.3.1-RELEASE)\nTarget: x86_64-unknown-linux-gnu\n", (6, 3, "6.3.1")),
        ("Apple Swift version 6.2 (swiftlang-6.2.0.19.9 clang-1700.3.19.1)\n", (6, 2, "6.2")),
        ("Swift version 6.4-dev (LLVM 1234, Swift 5678)\n", (6, 4, "6.4-dev")),
        ("swift-driver version: 1.120.5\n", None),
    ],
)
def test_swift_version_is_read_from_its_banner(setup_module, output, expected):
    assert setup_module.parse_swift_version(output) == expected


@pytest.mark.parametrize("version", ["6.3", "6.3.1", "7.0"])
def test_swift_6_3_and_later_are_accepted(setup_module, version):
    banner = f"Swift version {version} (swift-{version}-RELEASE)\n"
    assert setup_module.check_swift("swift", banner) == version


@pytest.mark.parametrize("version", ["5.10.1", "6.0.3", "6.2.1"])
def test_an_older_swift_is_refused_in_one_line(setup_module, version):
    with pytest.raises(SystemExit) as excinfo:
        setup_module.check_swift("swift", f"Swift version {version} (swift-{version}-RELEASE)\n")
    message = _one_line(excinfo)
    assert "Swift 6.3+" in message and f"found Swift {version}" in message and "wheel" in message


def test_a_missing_swift_is_refused_in_one_line(setup_module, tmp_path):
    with pytest.raises(SystemExit) as excinfo:
        setup_module.check_swift(str(tmp_path / "swift"))
    assert "not on the PATH" in _one_line(excinfo)


def test_missing_python_headers_are_refused_in_one_line(setup_module, tmp_path):
    with pytest.raises(SystemExit) as excinfo:
        setup_module.check_python_headers(str(tmp_path))
    assert "Python.h" in _one_line(excinfo) and "-dev" in str(excinfo.value.code)
    (tmp_path / "Python.h").write_text("")
    setup_module.check_python_headers(str(tmp_path))


def test_a_build_that_uses_registers_its_cpus_lack_is_caught(setup_module):
    disassembly = "  10:\tvfmadd231ps %ymm1,%ymm2,%ymm0\n  16:\tvaddps %zmm1,%zmm2,%zmm0\n  1c:\tret\n"
    assert setup_module.forbidden_instructions("x86_64_v4", disassembly) == []
    assert setup_module.forbidden_instructions("x86_64_v3", disassembly) == ["16:\tvaddps %zmm1,%zmm2,%zmm0"]
    assert len(setup_module.forbidden_instructions("x86_64_v2", disassembly)) == 2


def test_a_setuptools_too_old_for_pyproject_is_refused_in_one_line(setup_module):
    setup_module.check_setuptools("77.0.3")
    setup_module.check_setuptools("84.2.1")
    with pytest.raises(SystemExit) as excinfo:
        setup_module.check_setuptools("65.5.0")
    assert "setuptools>=77" in _one_line(excinfo) and "65.5.0" in str(excinfo.value.code)


def _setuptools_reads_pyproject() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (77, 0)


@pytest.mark.skipif(not _setuptools_reads_pyproject(), reason="needs setuptools >= 77 (pyproject's license)")
def test_a_source_build_with_an_old_swift_stops_with_one_line(tmp_path):
    fake = tmp_path / "swift"
    fake.write_text("#!/bin/sh\necho 'Swift version 6.1.2 (swift-6.1.2-RELEASE)'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, SWIFT=str(fake))
    cmd = [sys.executable, str(SETUP), "-q", "build_ext", "-b", str(tmp_path), "-t", str(tmp_path / "t")]
    run = subprocess.run(cmd, cwd=SETUP.parent, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.startswith("swiftsim:")]
    assert lines == [lines[0]] and "found Swift 6.1.2" in lines[0], run.stderr
