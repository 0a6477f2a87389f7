"""What is installed: the package the tests run against, its size, its metadata, and the wheel itself.

`make test-wheel` runs the whole suite against a wheel installed into a fresh venv, with no Swift on
the PATH, and sets SWIFTSIM_TEST_INSTALLED (that venv), SWIFTSIM_TEST_NO_TOOLCHAIN and
SWIFTSIM_TEST_WHEEL (the wheel file); `make test-sdist` sets SWIFTSIM_TEST_INSTALLED for the sdist's
venv. Without them (an editable install) the checks that need them are skipped.
"""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import shutil
import sys
import sysconfig
import zipfile

import pytest

import swiftsim
from swiftsim import _loader

SOURCE_TREE = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = pathlib.Path(swiftsim.__file__).resolve().parent
MB = 1e6
# The targets of the packaging issue: the installed package and the wheel (Linux x86-64, 3 builds).
INSTALLED_MAX_MB = 12
WHEEL_MAX_MB = 5


def _env_path(name: str) -> pathlib.Path:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (not an artefact test)")
    return pathlib.Path(value).resolve()


def test_the_package_under_test_is_the_installed_one():
    venv = _env_path("SWIFTSIM_TEST_INSTALLED")
    assert pathlib.Path(sys.prefix).resolve() == venv
    site = {pathlib.Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    assert PACKAGE.parent in site, (PACKAGE, site)
    assert SOURCE_TREE / "python" not in PACKAGE.parents
    assert pathlib.Path(_loader.library()).resolve().is_relative_to(PACKAGE)


def test_no_swift_toolchain_is_reachable():
    if os.environ.get("SWIFTSIM_TEST_NO_TOOLCHAIN") != "1":
        pytest.skip("SWIFTSIM_TEST_NO_TOOLCHAIN is not set (not the wheel test)")
    assert shutil.which("swift") is None and shutil.which("swiftc") is None, os.environ.get("PATH")


def test_the_swift_runtime_is_inside_the_library():
    with open("/proc/self/maps") as f:
        mapped = {line.split()[-1] for line in f if "/" in line}
    assert not [m for m in mapped if "libswift" in os.path.basename(m) or "libdispatch" in m], mapped


def test_the_version_is_written_once():
    assert importlib.metadata.version("swiftsim") == swiftsim.__version__ == swiftsim.build_info()["version"]


def test_the_license_is_declared_and_shipped():
    dist = importlib.metadata.distribution("swiftsim")
    assert dist.metadata["License-Expression"] == "Apache-2.0"
    licenses = [f for f in dist.files or [] if f.name == "LICENSE"]
    assert licenses and "Apache License" in licenses[0].read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the size targets are for Linux x86-64")
def test_the_installed_package_is_small():
    sanitized = (b"__asan_init", b"__tsan_init")
    if any(m in so.read_bytes() for so in PACKAGE.rglob("*.so") for m in sanitized):
        # `make sanitize`'s build: instrumented code, two to three times larger, that nobody installs; the
        # editable, wheel and sdist passes hold the release builds to the target.
        pytest.skip("a sanitizer build of the extension")
    sizes = {p: p.stat().st_size for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert sum(sizes.values()) <= INSTALLED_MAX_MB * MB, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_the_wheel_is_small_repaired_and_complete():
    wheel = _env_path("SWIFTSIM_TEST_WHEEL")
    assert wheel.stat().st_size <= WHEEL_MAX_MB * MB, wheel.stat().st_size
    assert "manylinux_2_34_x86_64" in wheel.name, wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    library = f"swiftsim/_native/{os.path.basename(_loader.library())}"
    assert [n for n in names if n.endswith(".so")] == [library]
    assert not [n for n in names if ".libs/" in n], "auditwheel grafted libraries: the extension needs none"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
