"""The numbers of the contract, stated once: the Keras epsilons and the tolerances swiftsim meets.

The tests, the benchmarks' verification and ``python -m swiftsim compare`` import them from here;
``docs/contract.md`` explains them. Every tolerance is absolute (cosines lie in [-1, 1]) and is
widened by ``sqrt(D / 256)`` for vectors of ``D > 256`` components, since the rounding error of a
sum grows with the number of its terms.

>>> from swiftsim import _contract
>>> _contract.value_tol("float32", 1024)
4e-06
>>> _contract.grad_tol_unit("float64") == 16 * 2.0**-52
True
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

try:
    import ml_dtypes  # type: ignore[import-untyped,unused-ignore]

    _BFLOAT16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - bfloat16 inputs cannot exist without it
    _BFLOAT16 = None

__all__ = [
    "KERAS2_EPSILON",
    "KERAS3_EPSILON",
    "KERAS3_NORM_EPSILON",
    "VALUE_TOL",
    "GRAD_ULPS",
    "WIDEN_FROM",
    "widen",
    "value_tol",
    "grad_tol_unit",
]

#: Keras 2 (``tf_keras``, the ``tf.keras`` of TF 2.x up to 2.15) and ``tf.nn.l2_normalize``: the floor
#: on the *squared* norm. swiftsim's default ``epsilon``.
KERAS2_EPSILON = 1e-12
#: Keras 3 floors the norm itself at ``KERAS3_NORM_EPSILON``; as a floor on the squared norm that is
#: ``KERAS3_EPSILON``, the ``epsilon`` that reproduces Keras 3.
KERAS3_NORM_EPSILON = 1e-7
KERAS3_EPSILON = 1e-14

#: Largest absolute error of a cosine (or of a normalised component) against the exact value.
#: bfloat16: one bfloat16 ulp of a value in [0.5, 1) (2⁻⁸): a bfloat16 result is the float32 result
#: rounded once, so it lies within one ulp of the float64 value of the same bfloat16 inputs.
VALUE_TOL: dict[np.dtype, float] = {
    np.dtype(np.float16): 5e-3,
    np.dtype(np.float32): 2e-6,
    np.dtype(np.float64): 1e-12,
}
if _BFLOAT16 is not None:
    VALUE_TOL[_BFLOAT16] = 2.0**-8
#: Gradient tolerance in units of the dtype's machine epsilon, per unit of ``|u|·r`` (the upstream
#: weight times ``r = 1/max(|x|, sqrt(epsilon))``, the scale of the gradient's components).
GRAD_ULPS: dict[np.dtype, int] = {
    np.dtype(np.float16): 32,
    np.dtype(np.float32): 16,
    np.dtype(np.float64): 16,
}
if _BFLOAT16 is not None:
    GRAD_ULPS[_BFLOAT16] = 2  # rounded once from float32: within an ulp, ε = 2⁻⁷
#: Machine epsilons (``np.finfo`` does not know bfloat16).
_EPS = {np.dtype(t): float(np.finfo(t).eps) for t in (np.float16, np.float32, np.float64)}
if _BFLOAT16 is not None:
    _EPS[_BFLOAT16] = 2.0**-7
#: Vectors longer than this widen every tolerance by ``sqrt(D / WIDEN_FROM)``.
WIDEN_FROM = 256


def widen(d: int) -> float:
    """The factor ``max(1, sqrt(d / 256))`` by which the tolerances grow with the vector length."""
    return max(1.0, math.sqrt(d / WIDEN_FROM))


def value_tol(dtype: DTypeLike, d: int = 1) -> float:
    """Absolute tolerance of a cosine or normalised value of ``dtype`` for vectors of ``d`` components."""
    dt = np.dtype(dtype)
    # bfloat16's float32 accumulation errors are far below its own rounding: its tolerance is not widened.
    return VALUE_TOL[dt] * (1.0 if dt == _BFLOAT16 else widen(d))


def grad_tol_unit(dtype: DTypeLike, d: int = 1) -> float:
    """Tolerance of a gradient component per unit of ``|u|·r``: ``GRAD_ULPS · ε_dtype``, widened
    (except bfloat16's, as :func:`value_tol`)."""
    dt = np.dtype(dtype)
    return GRAD_ULPS[dt] * _EPS[dt] * (1.0 if dt == _BFLOAT16 else widen(d))
