"""swiftsim: cosine similarity and its gradient with Keras semantics, computed by Swift SIMD kernels.

>>> import numpy as np, swiftsim
>>> float(swiftsim.ops.cosine_similarity([1.0, 1.0], [1.0, 0.0]))  # doctest: +ELLIPSIS
0.7071067...
"""

from __future__ import annotations

from ._loader import load as _load
from ._typing import BuildInfo as _BuildInfo

_swiftsim, _VARIANT = _load()  # registers the kernels for this CPU as swiftsim._swiftsim

from . import _config, layers, losses, metrics, ops  # noqa: E402
from ._threads import default_threads as _default_threads  # noqa: E402
from ._threads import get_num_threads, set_num_threads  # noqa: E402
from ._threads import install_threadpoolctl_hook as _install_threadpoolctl_hook  # noqa: E402

config = _config.config
"""Process-wide settings: ``config.working_memory``, the bytes one all-pairs result may take (4 GiB)."""

from ._version import __version__ as _written_once  # noqa: E402

__version__ = _written_once
"""The version of this swiftsim (written once, in ``_version.py``)."""
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


def build_info() -> _BuildInfo:
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
        "dtypes": ["float16", "bfloat16", "float32", "float64"],
        "num_threads": get_num_threads(),
        "default_num_threads": _DEFAULT_THREADS,
    }


_DEFAULT_THREADS = _default_threads()
_swiftsim.set_num_threads(_DEFAULT_THREADS)
_install_threadpoolctl_hook()
