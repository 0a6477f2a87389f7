"""Imports the compiled kernels best suited to this CPU as ``swiftsim._swiftsim``.

setup.py compiles the same Swift sources once per CPU level and links them, with one copy of the
Swift runtime, into one library, ``_native/_swiftsim.<abi>.so``: each build is a module of its own
in it, initialised by ``PyInit_<variant>``. This picks the first variant whose instructions the CPU
has (from /proc/cpuinfo on Linux), or the one named by ``SWIFTSIM_KERNELS`` (an ImportError when it
is missing or the CPU lacks its instructions, rather than a crash on the first illegal instruction),
and imports that module from the library.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType

# variant -> the /proc/cpuinfo flags it needs, best first
REQUIREMENTS = {
    "custom": set(),
    "x86_64_v4_bf16": {
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512dq",
        "avx512cd",
        "avx512_vnni",
        "avx512_bf16",
        "avx2",
        "fma",
        "f16c",
    },
    "x86_64_v4": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx2", "fma", "f16c"},
    "x86_64_v3": {"avx2", "fma", "f16c", "bmi2"},
    "x86_64_v2": {"sse4_2", "popcnt"},
    "generic": set(),
}
NATIVE = os.path.join(os.path.dirname(__file__), "_native")


def cpu_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def library() -> str | None:
    """The path of the compiled library, or None when there is none for this interpreter."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = os.path.join(NATIVE, "_swiftsim" + suffix)
        if os.path.exists(candidate):
            return candidate
    return None


def built() -> list[str]:
    """The variants the library holds (it defines ``PyInit_<variant>`` for each), best first."""
    path = library()
    if path is None:
        return []
    lib = ctypes.CDLL(path)  # the same handle the import below gets: the library is mapped once
    return [v for v in REQUIREMENTS if hasattr(lib, "PyInit_" + v)]


def available() -> list[str]:
    """The variants that are built and that this CPU can run, best first."""
    flags = cpu_flags()
    return [v for v in built() if flags is None or REQUIREMENTS[v] <= flags]


def load() -> tuple[ModuleType, str]:
    forced = os.environ.get("SWIFTSIM_KERNELS")
    if forced:
        if forced not in built():
            raise ImportError(f"SWIFTSIM_KERNELS={forced!r}: no such build; built: {built()}")
        if forced not in available():
            raise ImportError(f"SWIFTSIM_KERNELS={forced!r}: this CPU lacks its instructions")
        variant = forced
    else:
        usable = available()
        if not usable:
            raise ImportError(
                f"swiftsim: no compiled kernels for this CPU (built: {built()}); "
                "reinstall with `pip install .` from the source tree"
            )
        variant = usable[0]
    # The spec's last name component selects the init function, PyInit_<variant>.
    spec = importlib.util.spec_from_file_location(f"{__package__}._native.{variant}", library())
    assert spec is not None and spec.loader is not None  # library() is an existing extension
    module = importlib.util.module_from_spec(spec)
    sys.modules[__package__ + "._swiftsim"] = module
    spec.loader.exec_module(module)
    return module, variant
