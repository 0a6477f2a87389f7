"""The thread budget: how many threads the kernels use, and how other thread-pool managers see it.

The default follows the host's budget, so that swiftsim inside a Dask worker, a joblib job or any
scheduler that sets ``OMP_NUM_THREADS=1`` per worker does not start every core in every worker:

1. ``SWIFTSIM_NUM_THREADS``, else
2. ``OMP_NUM_THREADS`` (its first entry, as OpenMP reads ``"4,2"``), else
3. the CPUs this process may run on (its affinity mask).

``threadpoolctl`` sees swiftsim as a library of its own (``user_api="swiftsim"``), so
``threadpoolctl.threadpool_info()`` lists it and ``threadpool_limits(1)`` limits it, whether
threadpoolctl is imported before or after swiftsim.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from . import _swiftsim

__all__ = ["default_threads", "get_num_threads", "set_num_threads"]

_MAX_THREADS = 1024


def set_num_threads(n: int) -> None:
    """Sets the number of threads every kernel may use, 1 to 1024 (results do not depend on it)."""
    _swiftsim.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads kernels use (default: see :func:`default_threads`)."""
    n: int = _swiftsim.get_num_threads()
    return n


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _parse(name: str, value: str) -> int | None:
    """A positive thread count from an environment variable, or None (with a warning) when invalid."""
    first = value.split(",")[0].strip() if name == "OMP_NUM_THREADS" else value.strip()
    try:
        n = int(first)
    except ValueError:
        n = 0
    if n < 1:
        warnings.warn(f"ignoring {name}={value!r}: not a positive integer", stacklevel=3)
        return None
    return min(n, _MAX_THREADS)


def default_threads(environ: Mapping[str, str] | None = None) -> int:
    """The thread count a process starts with: ``SWIFTSIM_NUM_THREADS``, else ``OMP_NUM_THREADS``,
    else the CPUs this process may run on (capped at 1024)."""
    env = os.environ if environ is None else environ
    for name in ("SWIFTSIM_NUM_THREADS", "OMP_NUM_THREADS"):
        value = env.get(name)
        if value is not None:
            n = _parse(name, value)
            if n is not None:
                return n
    return min(_usable_cpus(), _MAX_THREADS)


# ---------------------------------------------------------------------------------------------------
# threadpoolctl
# ---------------------------------------------------------------------------------------------------


def _register_with_threadpoolctl(threadpoolctl: ModuleType) -> None:
    """Registers a controller for the loaded extension with threadpoolctl's custom-controller API."""

    class SwiftsimController(threadpoolctl.LibController):  # type: ignore[misc,name-defined]
        """swiftsim's kernels, found as the loaded ``_swiftsim`` extension."""

        user_api = "swiftsim"
        internal_api = "swiftsim"
        filename_prefixes = ("_swiftsim",)

        def get_num_threads(self) -> int:
            return get_num_threads()

        def set_num_threads(self, num_threads: int) -> None:
            set_num_threads(max(1, min(int(num_threads), _MAX_THREADS)))

        def get_version(self) -> str:
            from . import __version__

            return __version__

    threadpoolctl.register(SwiftsimController)


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Registers the controller as soon as threadpoolctl is imported, without importing it first."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "threadpoolctl":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _register_with_threadpoolctl(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install_threadpoolctl_hook() -> None:
    if "threadpoolctl" in sys.modules:
        _register_with_threadpoolctl(sys.modules["threadpoolctl"])
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
