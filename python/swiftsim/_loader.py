"""Imports the compiled kernels best suited to this CPU as ``swiftsim._swiftsim``.

setup.py compiles the same Swift sources once per CPU level into ``_native/<variant>/``; this picks
the first variant whose instructions the CPU has (from /proc/cpuinfo on Linux), or the one named by
``SWIFTSIM_KERNELS`` (an ImportError when it is missing or the CPU lacks its instructions, rather
than a crash on the first illegal instruction).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType

# variant -> the /proc/cpuinfo flags it needs, best first
REQUIREMENTS = {
    "custom": set(),
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


def _path(variant: str) -> str | None:
    folder = os.path.join(NATIVE, variant)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = os.path.join(folder, "_swiftsim" + suffix)
        if os.path.exists(candidate):
            return candidate
    return None


def available() -> list[str]:
    """The variants that are built and that this CPU can run, best first."""
    flags = cpu_flags()
    return [v for v, need in REQUIREMENTS.items() if _path(v) and (flags is None or need <= flags)]


def load() -> tuple[ModuleType, str]:
    forced = os.environ.get("SWIFTSIM_KERNELS")
    if forced:
        if forced not in REQUIREMENTS or not _path(forced):
            raise ImportError(f"SWIFTSIM_KERNELS={forced!r}: no such build; built: {sorted(_built())}")
        if forced not in available():
            raise ImportError(f"SWIFTSIM_KERNELS={forced!r}: this CPU lacks its instructions")
        variant = forced
    else:
        usable = available()
        if not usable:
            raise ImportError(
                f"swiftsim: no compiled kernels for this CPU (built: {sorted(_built())}); "
                "reinstall with `pip install .` from the source tree"
            )
        variant = usable[0]
    name = __package__ + "._swiftsim"
    spec = importlib.util.spec_from_file_location(name, _path(variant))
    assert spec is not None and spec.loader is not None  # _path(variant) is an existing extension
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, variant


def _built() -> list[str]:
    return [v for v in REQUIREMENTS if _path(v)]
