"""swiftsim: cosine similarity and its gradient with Keras semantics, computed by Swift SIMD kernels.

>>> import numpy as np, swiftsim
>>> float(swiftsim.ops.cosine_similarity([1.0, 1.0], [1.0, 0.0]))  # doctest: +ELLIPSIS
0.7071067...
"""

from __future__ import annotations

import os as _os
import warnings as _warnings

from ._loader import load as _load

_swiftsim, _VARIANT = _load()  # registers the kernels for this CPU as swiftsim._swiftsim

from . import layers, losses, metrics, ops  # noqa: E402
from ._config import config  # noqa: E402
from ._version import __version__  # noqa: E402

__all__ = [
    "ops",
    "losses",
    "metrics",
    "layers",
    "config",
    "build_info",
    "get_num_threads",
    "set_num_threads",
    "__version__",
]


def set_num_threads(n: int) -> None:
    """Sets the number of threads every kernel may use (results do not depend on it)."""
    _swiftsim.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads kernels use (default: ``SWIFTSIM_NUM_THREADS`` or the usable CPUs)."""
    return _swiftsim.get_num_threads()


def _default_threads() -> int:
    try:
        cpus = len(_os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        cpus = _os.cpu_count() or 1
    env = _os.environ.get("SWIFTSIM_NUM_THREADS")
    if env is None:
        return cpus
    try:
        n = int(env)
        if n < 1:
            raise ValueError
        return n
    except ValueError:
        _warnings.warn(f"ignoring SWIFTSIM_NUM_THREADS={env!r}: not a positive integer", stacklevel=2)
        return cpus


def build_info() -> dict:
    """What was compiled: version, Swift version, target CPU and SIMD width, dtypes, default threads."""
    info = _swiftsim.build_info()
    kernels = dict(item.split("=", 1) for item in info["kernels"].split())
    return {
        "version": __version__,
        "swift_version": info["swift_version"],
        "variant": _VARIANT,
        "target_cpu": info["target_cpu"],
        "simd_bits": info["simd_bits"],
        "kernels": kernels,
        "cpu_features": info["cpu_features"],
        "dtypes": ["float16", "float32", "float64"],
        "num_threads": get_num_threads(),
        "default_num_threads": _DEFAULT_THREADS,
    }


_DEFAULT_THREADS = _default_threads()
_swiftsim.set_num_threads(_DEFAULT_THREADS)
