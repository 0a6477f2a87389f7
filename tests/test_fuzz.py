"""Property-based fuzz tests of the public API (hypothesis) against a float64 NumPy reference.

Every example draws shapes (0-size, 1-size, up to 5-d, broadcasting), axes (ints, tuples, out of
range, wrong types), dtypes (float16/32/64, ints, bool, ml_dtypes.bfloat16; complex, object, str,
bytes, datetime64, longdouble, structured), layouts (C, Fortran, negative strides, strided,
byte-swapped, read-only, stride 0, unaligned, Python lists), epsilon (0, tiny, huge, negative, NaN,
Inf, wrong type) and ``out=`` (right, unaligned, overlapping an input, wrong shape/dtype/layout,
read-only). A small model written from the contract (docs/contract.md and the docstrings) says whether the
call is valid:

- valid: the result has the documented shape and dtype and matches the reference below within the
  tolerance of ``swiftsim._contract`` (values) and of ``tests/test_ops.py`` (gradients); inputs are
  unchanged (bytes, strides and flags), ``out`` is returned;
- invalid: exactly ``ValueError``, ``TypeError`` or ``numpy.exceptions.AxisError`` (the one the
  contract names for the violation), with a non-empty message.

The reference is TensorFlow's rule, computed in float64 from the values the kernel sees (the input
cast to its compute dtype): ``r = 1/sqrt(max(|x|², ε))``, ``cos = (a·b)·r_a·r_b`` with a size-1
reduced axis normalised on its own and then broadcast, so a zero vector gives 0 (NaN when ε = 0:
0·∞), NaN or ±Inf anywhere in a vector makes every result of that vector NaN, and a finite vector
whose squared norm overflows gets the exact norm (the contract's documented divergence from TF).

Runs ``SWIFTSIM_FUZZ_EXAMPLES`` examples per test (default 200), derandomised so CI is reproducible;
``SWIFTSIM_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py`` searches harder.
"""

from __future__ import annotations

import copy
import fractions
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, event, given, note, settings
from hypothesis import strategies as st
from numpy.exceptions import AxisError

from swiftsim import losses, ops
from swiftsim._contract import grad_tol_unit, value_tol

# Casting huge float64 test values to float16 overflows to inf on purpose (those rows must give NaN).
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

EXAMPLES = int(os.environ.get("SWIFTSIM_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    derandomize=True,
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),  # no explain phase: it costs minutes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

try:
    import ml_dtypes

    BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is in requirements-test.txt
    BFLOAT16 = None

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOAT_NAMES = ["float16", "float32", "float64"]
INT_NAMES = ["int8", "int32", "int64", "uint8", "uint64", "bool"]
OTHER_NAMES = INT_NAMES + (["bfloat16"] if BFLOAT16 else [])
BAD_NAMES = ["complex64", "complex128", "object", "str", "bytes", "datetime64", "longdouble", "structured"]


def weighted(*groups):
    """Picks a group with probability proportional to its weight, then one of its members."""
    index = [i for i, (weight, _) in enumerate(groups) for _ in range(weight)]
    return st.sampled_from(index).flatmap(lambda i: st.sampled_from(groups[i][1]))


# Each kind of invalid argument is rare enough that about half of the examples are valid calls.
# bfloat16 has kernels of its own: it is drawn about as often as each of float16/32/64.
DTYPE_NAMES = weighted(
    (14, FLOAT_NAMES), (4, ["bfloat16"] if BFLOAT16 else FLOAT_NAMES), (3, OTHER_NAMES), (1, BAD_NAMES)
)
LAYOUTS = ["C", "F", "negative", "strided", "byteswapped", "readonly", "stride0", "unaligned", "list"]
LAYOUT = weighted((2, ["C"]), (3, LAYOUTS))
# Reduced lengths: 0, 1, and the SIMD tails around 8, 16, 32 and 64 lanes and the 256-element K block.
D_SIZES = st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 257])
SIDES = st.sampled_from([1, 2, 3, 0, 4, 5, 1, 2, 3])
MAX_ELEMENTS = 20_000  # per array; keeps an example in the milliseconds

VALID_EPS = [1e-12, 1e-14, 0.0, -0.0, 0, 1e-6, 1.0, 100, 1e-50, 5e-324, 1e300, 1.7976931348623157e308,
             np.float32(1e-12), np.float64(1e-6), np.float16(1e-3), np.int64(0), np.uint8(1),
             fractions.Fraction(1, 10**12), 10**300]  # fmt: skip
BAD_EPS_VALUE = [-1e-12, -1, float("nan"), float("inf"), -float("inf"), np.float32("nan"),
                 10**400, -(10**400)]  # fmt: skip
BAD_EPS_TYPE = ["1e-12", None, 1e-12j, [1e-12], True, np.bool_(False), object()]
EPSILON = weighted((18, VALID_EPS), (1, BAD_EPS_VALUE), (1, BAD_EPS_TYPE))

VALUE_ERRORS = (ValueError,)  # AxisError is a ValueError too
TYPE_ERRORS = (TypeError,)
AXIS_ERRORS = (AxisError,)
HUGE_INT_ERRORS = (ValueError, TypeError)  # e.g. axis=2**64: any of the three, never OverflowError


# ---------------------------------------------------------------------------------------------------------
# The model of the contract: which arguments are valid, and what is raised otherwise
# ---------------------------------------------------------------------------------------------------------


class Model:
    """Collects the violations of one call: each adds the exception types the contract allows."""

    def __init__(self):
        self.allowed: set = set()
        self.reasons: list[str] = []

    def bad(self, types, reason: str) -> None:
        self.allowed.update(types)
        self.reasons.append(reason)

    @property
    def valid(self) -> bool:
        return not self.reasons


def kernel_dtype(dtype: np.dtype):
    """The compute dtype of an input dtype (docstrings: floats and bfloat16 keep theirs, ints/bools → f32)."""
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        return np.dtype(dtype.type)
    if BFLOAT16 is not None and dtype == BFLOAT16:
        return BFLOAT16
    if dtype.kind in "biu":
        return F32
    return None


def promote(kinds) -> np.dtype:
    """The contract's promotion: NumPy's (ml_dtypes' for bfloat16), and bfloat16 with float16 → float32."""
    if BFLOAT16 is not None and BFLOAT16 in kinds and F16 in kinds:
        kinds = [F32 if k in (BFLOAT16, F16) else k for k in kinds]
    return np.result_type(*kinds)


def model_dtypes(model: Model, arrays, names):
    """The promoted compute dtype of the inputs, or None after recording a TypeError."""
    kinds = []
    for arr, name in zip(arrays, names, strict=True):
        k = kernel_dtype(arr.dtype)
        if k is None:
            model.bad(TYPE_ERRORS, f"{name} has dtype {arr.dtype}")
        kinds.append(k)
    return None if any(k is None for k in kinds) else promote(kinds)


def model_epsilon(model: Model, eps) -> float | None:
    if isinstance(eps, (bool, np.bool_)) or not isinstance(
        eps, (int, float, np.integer, np.floating, fractions.Fraction)
    ):
        model.bad(TYPE_ERRORS, f"epsilon of type {type(eps).__name__}")
        return None
    try:
        value = float(eps)
    except OverflowError:  # an int beyond the float range
        model.bad(HUGE_INT_ERRORS, "epsilon beyond the float range")
        return None
    if not (0.0 <= value < math.inf):
        model.bad(VALUE_ERRORS, f"epsilon {eps!r}")
        return None
    return value


def model_axis(model: Model, axis, ndim: int) -> int | None:
    """A single int axis; AxisError out of range, TypeError for anything else."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        model.bad(TYPE_ERRORS, f"axis of type {type(axis).__name__}")
        return None
    a = int(axis)
    if abs(a) >= 2**31:
        model.bad(HUGE_INT_ERRORS, f"axis {a}")
        return None
    if not -ndim <= a < ndim:
        model.bad(AXIS_ERRORS, f"axis {a} for ndim {ndim}")
        return None
    return a % ndim


def model_out(model: Model, out, shape: tuple, dtype, name="out") -> None:
    """``out=``: an ndarray of exactly ``shape`` and ``dtype``, C-contiguous, writeable (aligned or not)."""
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        model.bad(TYPE_ERRORS, f"{name} of type {type(out).__name__}")
        return
    if dtype is not None and out.dtype != dtype:
        model.bad(TYPE_ERRORS, f"{name} dtype {out.dtype}")
    if out.shape != tuple(shape):
        model.bad(VALUE_ERRORS, f"{name} shape {out.shape}")
    if not out.flags.c_contiguous:
        model.bad(VALUE_ERRORS, f"{name} not C-contiguous")
    if not out.flags.writeable:
        model.bad(VALUE_ERRORS, f"{name} read-only")


def expect_error(model: Model, call):
    """The call raises one of the allowed types (a subclass counts), with a message."""
    for reason in model.reasons:
        event("invalid: " + reason.split(" ")[0] + (" " + reason.split(" ")[1] if " " in reason else ""))
    allowed = tuple(model.allowed)
    try:
        got = call()
    except Exception as exc:  # noqa: BLE001 - the type is what is checked
        assert isinstance(exc, allowed), (
            f"raised {type(exc).__name__}: {exc}; expected one of {[t.__name__ for t in allowed]} "
            f"for {model.reasons}"
        )
        assert str(exc).strip(), f"{type(exc).__name__} without a message for {model.reasons}"
        return
    raise AssertionError(f"no exception for {model.reasons}; returned {got!r}"[:2000])


# ---------------------------------------------------------------------------------------------------------
# The float64 reference (TensorFlow's rule, overflow-safe, NaN rows)
# ---------------------------------------------------------------------------------------------------------


def seen(x, dtype) -> np.ndarray:
    """The values the kernel computes with: ``x`` cast to its compute dtype, then exactly to float64."""
    return np.asarray(x).astype(dtype).astype(np.float64)


def ref_vectors(x: np.ndarray, axis, eps: float):
    """Per vector along ``axis`` (int, tuple or None; keepdims): ``(x̂, r, clamped)`` in float64.

    ``r = 1/sqrt(max(|x|², ε))`` computed from ``x/max|x|`` so that a squared norm beyond float64's
    range still gives the exact norm; a vector holding NaN or ±Inf has ``x̂`` and ``r`` NaN.
    """
    with np.errstate(all="ignore"):
        finite = np.isfinite(x)
        bad = ~np.all(finite, axis=axis, keepdims=True)
        m = np.max(np.where(finite, np.abs(x), 0.0), axis=axis, keepdims=True, initial=0.0)
        scale = np.where(m > 0, m, 1.0)
        xs = np.where(finite, x, 0.0) / scale
        ss = np.sum(xs * xs, axis=axis, keepdims=True)  # |x|² / scale²
        clamped = ss * scale * scale < eps  # inf when it overflows: never clamped
        q = np.where(clamped, scale / np.sqrt(eps), 1.0 / np.sqrt(ss))  # scale · r
        q = np.where(bad, np.nan, q)
        return xs * q, q / scale, clamped & ~bad, xs, q


def _pad(x: np.ndarray, nd: int) -> np.ndarray:
    return x.reshape((1,) * (nd - x.ndim) + x.shape)


def ref_cosine(a: np.ndarray, b: np.ndarray, ax: int, eps: float) -> np.ndarray:
    """``(a·b)·r_a·r_b`` over axis ``ax`` of the rank-padded inputs (float64)."""
    nd = max(a.ndim, b.ndim)
    a, b = _pad(a, nd), _pad(b, nd)
    _, _, _, xa, qa = ref_vectors(a, ax, eps)
    _, _, _, xb, qb = ref_vectors(b, ax, eps)
    with np.errstate(all="ignore"):
        return np.sum(xa * xb, axis=ax) * np.squeeze(qa, ax) * np.squeeze(qb, ax)


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def ref_grad(a0: np.ndarray, b0: np.ndarray, u: np.ndarray, ax: int, eps: float):
    """(dx1, dx2) of Σ u·cos, each shaped like its input: the Jacobian of the normalisation,
    ``r·(G − [|x|² ≥ ε]·(G·x̂)·x̂)`` with ``G = Σ_broadcast u·ŷ``; NaN wherever a summed row's cosine is NaN."""
    nd = max(a0.ndim, b0.ndim)
    a, b = _pad(a0, nd), _pad(b0, nd)
    ah, ra, ca, _, _ = ref_vectors(a, ax, eps)
    bh, rb, cb, _, _ = ref_vectors(b, ax, eps)
    full = np.broadcast_shapes(a.shape, b.shape)
    outer = full[:ax] + full[ax + 1 :]
    cos = ref_cosine(a, b, ax, eps)
    uu = np.expand_dims(np.broadcast_to(u, outer), ax)
    nan_rows = np.expand_dims(np.isnan(cos), ax)
    grads = []
    with np.errstate(all="ignore"):
        for x, xh, r, cl, yh in ((a, ah, ra, ca, bh), (b, bh, rb, cb, ah)):
            if any(i != ax and x.shape[i] == 1 and full[i] == 0 for i in range(nd)):
                grads.append(np.zeros(x.shape))  # broadcast over no row at all: an empty sum
                continue
            g = _sum_to(np.broadcast_to(uu * yh, full), x.shape)
            d = r * np.where(cl, g, g - np.sum(g * xh, axis=ax, keepdims=True) * xh)
            # The closed form per row, r·(ŷ − c·x̂), is NaN when c is; so is every sum it enters.
            rows = np.broadcast_to(nan_rows, full[:ax] + (1,) + full[ax + 1 :])
            lead = tuple(i for i, n in enumerate(x.shape) if n == 1 and rows.shape[i] != 1 and i != ax)
            hit = np.any(rows, axis=lead, keepdims=True) if lead else rows
            grads.append(np.where(np.broadcast_to(hit, x.shape), np.nan, d))
    return grads[0].reshape(a0.shape), grads[1].reshape(b0.shape)


def grad_tol(a0, b0, u, ax: int, eps: float, dtype):
    """test_ops.grad_tol's bound, 16·ε_dtype·Σ|u|·r_x (32·ε in float16, 2·ε in bfloat16), widened by
    sqrt(D/256), and by √D for a size-1 reduced axis; with r from the overflow-safe norm above."""
    k = (
        grad_tol_unit(dtype)
        if dtype == BFLOAT16
        else (32 if dtype == F16 else 16) * float(np.finfo(dtype).eps)
    )
    nd = max(a0.ndim, b0.ndim)
    a, b = _pad(a0, nd), _pad(b0, nd)
    d = max(a.shape[ax], b.shape[ax])
    k *= max(1.0, math.sqrt(d / 256))
    full = np.broadcast_shapes(a.shape, b.shape)
    outer = full[:ax] + full[ax + 1 :]
    uu = np.expand_dims(np.abs(np.broadcast_to(u, outer)), ax)
    out = []
    for x0, x in ((a0, a), (b0, b)):
        r = ref_vectors(x, ax, eps)[1]
        fac = math.sqrt(d) if x.shape[ax] == 1 and d > 1 else 1.0
        with np.errstate(all="ignore"):
            t = _sum_to(np.broadcast_to(uu * r, full), x.shape) * k * fac
        out.append(np.nan_to_num(t, nan=0.0, posinf=0.0).reshape(x0.shape))
    return out


def ref_pairwise(x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """``(x_i·y_j)·r_i·r_j`` for every row pair, batch axes broadcast (float64)."""
    _, _, _, xs, qx = ref_vectors(x, -1, eps)
    _, _, _, ys, qy = ref_vectors(y, -1, eps)
    with np.errstate(all="ignore"):
        return (xs @ np.swapaxes(ys, -1, -2)) * qx * np.swapaxes(qy, -1, -2)


def assert_close(got, want, tol, what: str, skip=None) -> None:
    """|got − want| ≤ tol elementwise; NaN exactly where the reference is NaN; ``skip`` masks elements.

    ``tol`` is never taken below one unit in the last place of the reference in ``got``'s dtype: no
    result is closer than its dtype can hold (float16 beyond 16, where the spacing exceeds 5e-3,
    e.g. a broadcast size-1 reduced axis's √D, and float16 subnormals, spaced 6e-8)."""
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    with np.errstate(invalid="ignore", over="ignore"):
        ulp = np.spacing(np.abs(np.nan_to_num(want)).astype(got.dtype)).astype(np.float64)
    tol = np.fmax(tol, ulp)  # (fmax: an unrepresentable reference leaves tol as it is)
    g = got.astype(np.float64)
    keep = np.ones(want.shape, bool) if skip is None else ~skip
    nan_w, nan_g = np.isnan(want) & keep, np.isnan(g) & keep
    assert np.array_equal(nan_g, nan_w), (
        f"{what}: NaN at {np.argwhere(nan_g).tolist()[:6]}, expected at {np.argwhere(nan_w).tolist()[:6]}"
        if want.ndim
        else f"{what}: got {g!r}, expected {want!r}"
    )
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), want.shape)
    with np.errstate(invalid="ignore"):
        err = np.where(nan_w | ~keep, 0.0, np.abs(g - want))
    bad = ~(err <= tol)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {want.size} elements out of tolerance; first at {i}: "
            f"got {g[i]!r}, expected {want[i]!r}, |diff| {err[i]:.3e} > tol {tol[i]:.3e}"
        )


# ---------------------------------------------------------------------------------------------------------
# Inputs: values, dtypes, layouts, and the proof that they were not modified
# ---------------------------------------------------------------------------------------------------------


def make_values(rng, shape: tuple, name: str, vec_axes: tuple, feats: dict) -> np.ndarray:
    """float64 values for an input of dtype ``name``: vectors along ``vec_axes`` at mixed scales, with
    (per ``feats``) constant vectors, one vector repeated over the other axes, zero vectors, huge
    (squared norm overflows) vectors and NaN/±Inf."""
    if name == "bool":
        return (rng.random(shape) < 0.5).astype(np.float64)
    if name.startswith(("int", "uint")):
        lo = 0 if name.startswith("uint") else -100
        x = rng.integers(lo, 100, shape).astype(np.float64)
    else:
        lo, hi = (-2.0, 2.0) if name == "float16" else (-6.0, 6.0)
        scale_shape = tuple(1 if i in vec_axes else n for i, n in enumerate(shape))
        x = rng.standard_normal(shape) * 10.0 ** rng.uniform(lo, hi, scale_shape)
        if feats["constant"] and x.size:  # every element of a vector equal (as np.ones rows are)
            x = np.broadcast_to(
                x[tuple(slice(0, 1) if i in vec_axes else slice(None) for i in range(x.ndim))], shape
            )
        if feats["repeat"] and x.size:  # one vector everywhere: exact cancellations in summed gradients
            x = np.broadcast_to(
                x[tuple(slice(None) if i in vec_axes else slice(0, 1) for i in range(x.ndim))], shape
            )
        if feats["huge"] and name in ("float32", "float64"):
            big = 1e30 if name == "float32" else 1e200
            x = x * np.where(rng.random(scale_shape) < 0.3, big, 1.0)
        x = np.array(x, np.float64)
        if feats["nonfinite"] and x.size and name not in BAD_NAMES:
            flat = x.reshape(-1)
            for _ in range(int(rng.integers(1, 4))):
                flat[rng.integers(0, flat.size)] = rng.choice([np.nan, np.inf, -np.inf])
    if feats["zeros"] and x.size:
        scale_shape = tuple(1 if i in vec_axes else n for i, n in enumerate(shape))
        x = np.where(rng.random(scale_shape) >= 0.3, x, 0.0)
    return np.array(x, np.float64)


def typed(x: np.ndarray, name: str) -> np.ndarray:
    x = np.array(x)
    if name == "bfloat16":
        return x.astype(BFLOAT16)
    if name == "object":
        return x.astype(object)
    if name == "str":
        return x.astype(str)
    if name == "bytes":
        return x.astype("S24")
    if name == "datetime64":
        return np.zeros(x.shape, "M8[s]")
    if name == "structured":
        return np.zeros(x.shape, [("a", "f4"), ("b", "f4")])
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(name)


def with_layout(x: np.ndarray, layout: str, rng):
    """An object holding the values of ``x`` (C-contiguous) in ``layout``; stride0 repeats one slice."""
    if x.ndim == 0:
        if layout == "list":
            return x.tolist()
        if layout in ("negative", "strided"):  # a NumPy scalar
            return x[()]
        if layout == "readonly":
            x.flags.writeable = False
        return x
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "negative":
        return np.flip(np.ascontiguousarray(np.flip(x)))
    if layout == "strided":
        big = np.zeros(tuple(2 * n for n in x.shape), x.dtype)
        view = big[tuple(slice(None, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if layout == "byteswapped" and x.dtype.kind in "fiuc" and x.dtype.itemsize > 1 and x.dtype != BFLOAT16:
        return x.astype(x.dtype.newbyteorder())
    if layout == "readonly":
        x.flags.writeable = False
        return x
    if layout == "stride0":
        axes = [i for i, n in enumerate(x.shape) if n > 1]
        if axes:
            ax = axes[int(rng.integers(len(axes)))]
            return np.broadcast_to(x.take([0], axis=ax), x.shape)
        return x
    if layout == "unaligned" and x.dtype.itemsize > 1 and x.dtype.kind != "O":
        buf = np.zeros(x.nbytes + x.dtype.itemsize + 1, np.uint8)
        arr = buf[1 : 1 + x.nbytes].view(x.dtype).reshape(x.shape)
        arr[...] = x
        return arr
    if layout == "list" and x.dtype.kind in "fiub" and x.dtype != BFLOAT16 and x.size:
        return x.tolist()  # (an empty list would lose the shape)
    return x


def draw_input(data, rng, shape: tuple, name: str, vec_axes: tuple, label: str):
    feats = {
        "zeros": data.draw(st.booleans(), label=f"{label} zero vectors"),
        "huge": data.draw(st.booleans(), label=f"{label} huge vectors") and name != "float16",
        "nonfinite": data.draw(st.sampled_from([False] * 4 + [True]), label=f"{label} NaN/Inf"),
        "constant": data.draw(st.sampled_from([False] * 5 + [True]), label=f"{label} constant vectors"),
        "repeat": data.draw(st.sampled_from([False] * 5 + [True]), label=f"{label} one vector repeated"),
    }
    layout = data.draw(LAYOUT, label=f"{label} layout") if name not in BAD_NAMES else "C"
    note(f"{label}: shape {shape}, {name}, layout {layout}, {', '.join(k for k, v in feats.items() if v)}")
    return with_layout(typed(make_values(rng, shape, name, vec_axes, feats), name), layout, rng)


def contiguous(x):
    """A C-contiguous, aligned, native-order copy of ``x`` in its own dtype (a list gives its array)."""
    a = np.asarray(x)
    return np.array(a, dtype=a.dtype.newbyteorder("="), order="C", copy=True)


def assert_same_values(got, want, what: str) -> None:
    """Bitwise equal up to NaN payloads and the sign of zero (README: every layout gives the same bits)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (
        f"{what}: {got.dtype} {got.shape} vs {want.dtype} {want.shape} from C-contiguous copies of the inputs"
    )
    if not np.array_equal(got, want, equal_nan=True):
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        i = (
            np.unravel_index(np.nanargmax(np.where(np.isnan(diff), -1, diff)), diff.shape)
            if diff.ndim
            else ()
        )
        raise AssertionError(
            f"{what}: differs from the same call on C-contiguous copies of the inputs; "
            f"at {i}: {got[i]!r} vs {want[i]!r}"
        )


def _root(x):
    while isinstance(x, np.ndarray) and isinstance(x.base, np.ndarray):
        x = x.base
    return x


def snapshot(x):
    """Everything about an input that a call must not change."""
    if not isinstance(x, np.ndarray):
        return ("object", repr(copy.deepcopy(x)) if not isinstance(x, np.generic) else repr(x))
    root = _root(x)
    raw = root.tobytes() if root is not x and root.dtype.kind != "O" else b""
    content = x.tobytes() if x.dtype.kind != "O" else repr(x.tolist())
    flags = (x.flags.writeable, x.flags.aligned, x.flags.c_contiguous, x.flags.f_contiguous)
    return (content, raw, x.shape, x.strides, x.dtype, flags, x.__array_interface__["data"][0])


def assert_unchanged(before, x, name: str) -> None:
    assert snapshot(x) == before, f"{name} was modified by the call"


# ---------------------------------------------------------------------------------------------------------
# Shapes, axes, outs
# ---------------------------------------------------------------------------------------------------------


def draw_broadcast_shapes(data, nd: int, ax: int, d: int):
    """Two shapes whose rank-padded forms broadcast to ``S`` (with ``S[ax] = d``), sometimes broken."""
    full = [data.draw(SIDES, label="side") for _ in range(nd)]
    if nd:
        full[ax] = d
    while nd and math.prod(full) > MAX_ELEMENTS:
        i = max(range(nd), key=lambda j: full[j])
        full[i] //= 2
    shapes = []
    for label in ("x1", "x2"):
        s = [
            1 if data.draw(st.sampled_from([False] * 3 + [True]), label=f"{label} dim 1") else n for n in full
        ]
        drop = data.draw(st.integers(0, nd), label=f"{label} dropped leading axes") if nd else 0
        drop = drop if data.draw(st.booleans(), label=f"{label} drop") else 0
        s = s[drop:]
        if s and data.draw(st.sampled_from([False] * 12 + [True]), label=f"{label} mismatch"):
            i = data.draw(st.integers(0, len(s) - 1), label=f"{label} mismatched axis")
            s[i] = s[i] + 2
        shapes.append(tuple(s))
    return shapes


def draw_int_axis(data, ax: int, nd: int):
    """``ax`` spelt as a positive, negative or NumPy int, or a wrong axis."""
    choice = data.draw(
        weighted(
            (9, ["pos", "neg", "np", "pos", "neg"]),
            (1, ["high", "low", "huge", "float", "str", "none", "tuple"]),
        ),
        label="axis kind",
    )
    if choice == "pos":
        return ax
    if choice == "neg":
        return ax - nd
    if choice == "np":
        return np.int64(ax)
    if choice == "high":
        return nd + data.draw(st.integers(0, 3), label="axis beyond")
    if choice == "low":
        return -nd - 1 - data.draw(st.integers(0, 3), label="axis below")
    if choice == "huge":
        return data.draw(st.sampled_from([2**64, -(2**64), 2**63, 10**30]), label="huge axis")
    return {"float": float(ax), "str": str(ax), "none": None, "tuple": (ax,)}[choice]


OUT_KINDS = weighted(
    (12, ["none"]),
    (5, ["good", "good", "unaligned", "alias", "alias"]),
    (3, ["shape", "dtype", "strided", "readonly", "fortran", "byteswapped", "list"]),
)


def make_out(kind: str, shape: tuple, dtype, alias=None):
    """An ``out=`` argument of the given kind for a result of ``shape`` and ``dtype``."""
    dtype = F64 if dtype is None else dtype
    if kind == "none":
        return None
    if kind == "alias" and alias is not None:
        return alias
    if kind == "unaligned" and dtype.itemsize > 1:
        n = math.prod(shape) * dtype.itemsize
        return np.zeros(n + dtype.itemsize + 1, np.uint8)[1 : 1 + n].view(dtype).reshape(shape)
    if kind == "shape":
        wrong = tuple(shape) + (1,) if len(shape) % 2 or not shape else tuple(n + 1 for n in shape)
        return np.zeros(wrong, dtype)
    if kind == "dtype":
        return np.zeros(shape, F32 if dtype != F32 else F64)
    if kind == "strided" and len(shape) and math.prod(shape) > 1:
        big = np.zeros(tuple(2 * n for n in shape), dtype)
        return big[tuple(slice(None, None, 2) for _ in shape)]
    if kind == "readonly":
        out = np.zeros(shape, dtype)
        out.flags.writeable = False
        return out
    if kind == "fortran":
        return np.asfortranarray(np.zeros(shape, dtype))
    if kind == "byteswapped":
        return np.zeros(shape, dtype.newbyteorder())
    if kind == "list":
        return np.zeros(shape, dtype).tolist()
    return np.zeros(shape, dtype)


def alias_of(x, shape: tuple, dtype):
    """A C-contiguous view of ``x``'s memory with the result's shape and dtype (for overlapping outs)."""
    if (
        isinstance(x, np.ndarray)
        and x.dtype == dtype
        and x.flags.c_contiguous
        and x.flags.writeable
        and x.size >= math.prod(shape)
    ):
        return x.reshape(-1)[: math.prod(shape)].reshape(shape)
    return None


def draw_eps(data):
    return data.draw(EPSILON, label="epsilon")


def ambiguous(x: np.ndarray, axis, eps: float) -> bool:
    """Some vector's squared norm is within rounding of ε, where the gradient's branch may go either way."""
    if eps <= 0 or x.size == 0:
        return False
    with np.errstate(all="ignore"):
        s = np.sum(np.where(np.isfinite(x), x, 0.0) ** 2, axis=axis)
        return bool(np.any(np.abs(s - eps) <= 1e-3 * eps))


def reduced_len(sa: tuple, sb: tuple, ax: int) -> int:
    nd = max(len(sa), len(sb))
    pa, pb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    return max(pa[ax], pb[ax]) if min(pa[ax], pb[ax]) != 0 else 0


def result_of(got):
    """A returned value as an ndarray, checking NumPy's convention (a 0-d result is a scalar)."""
    return np.asarray(got)


# ---------------------------------------------------------------------------------------------------------
# ops.cosine_similarity and losses.cosine_similarity
# ---------------------------------------------------------------------------------------------------------


def _cosine_case(data):
    nd = data.draw(st.integers(0, 5), label="ndim")
    ax = data.draw(st.integers(0, nd - 1), label="axis") if nd else 0
    d = data.draw(D_SIZES, label="d")
    sa, sb = draw_broadcast_shapes(data, nd, ax, d)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    n1 = data.draw(DTYPE_NAMES, label="x1 dtype")
    n2 = n1 if data.draw(st.booleans(), label="same dtype") else data.draw(DTYPE_NAMES, label="x2 dtype")

    def own_axis(s):
        i = ax - (nd - len(s))
        return (i,) if i >= 0 else ()

    x1 = draw_input(data, rng, sa, n1, own_axis(sa), "x1")
    if data.draw(st.sampled_from([False] * 6 + [True]), label="x2 parallel to x1") and sa == sb and n1 == n2:
        x2 = np.asarray(x1) * rng.choice([-3.0, 0.5, 2.0]) if n1 in FLOAT_NAMES else x1
        x2 = np.asarray(x2).astype(np.asarray(x1).dtype)
    else:
        x2 = draw_input(data, rng, sb, n2, own_axis(sb), "x2")
    axis = draw_int_axis(data, ax, nd)
    eps = draw_eps(data)
    return x1, x2, axis, eps, ax, nd


def _model_pair(model, x1, x2, axis, eps):
    a, b = np.asarray(x1), np.asarray(x2)
    dtype = model_dtypes(model, (a, b), ("x1", "x2"))
    e = model_epsilon(model, eps)
    nd = max(a.ndim, b.ndim)
    ax = model_axis(model, axis, nd)
    outer = None
    if ax is not None:
        pa, pb = _pad(a, nd).shape, _pad(b, nd).shape
        la, lb = pa[ax], pb[ax]
        if la != lb and la != 1 and lb != 1:
            model.bad(VALUE_ERRORS, f"reduced lengths {la} and {lb}")
        try:
            outer = np.broadcast_shapes(pa[:ax] + pa[ax + 1 :], pb[:ax] + pb[ax + 1 :])
        except ValueError:
            model.bad(VALUE_ERRORS, f"shapes {a.shape} and {b.shape} do not broadcast")
    return dtype, e, ax, outer


@FUZZ
@given(data=st.data())
def test_cosine_similarity(data):
    x1, x2, axis, eps, _, _ = _cosine_case(data)
    model = Model()
    dtype, e, ax, outer = _model_pair(model, x1, x2, axis, eps)
    kind = data.draw(OUT_KINDS, label="out kind")
    out = None
    if kind != "none":
        shape = outer if outer is not None else (3,)
        out = make_out(kind, shape, dtype, alias_of(x1, shape, dtype) if model.valid else None)
        model_out(model, out, shape, dtype)
    a_seen = b_seen = None
    if model.valid:
        a_seen, b_seen = seen(x1, dtype), seen(x2, dtype)
        c1, c2 = contiguous(x1), contiguous(x2)
    before = snapshot(x1), snapshot(x2)
    aliased = [
        out is not None and isinstance(x, np.ndarray) and np.may_share_memory(out, x) for x in (x1, x2)
    ]
    note(
        f"x1 {np.shape(x1)} {np.asarray(x1).dtype}, x2 {np.shape(x2)} {np.asarray(x2).dtype}, axis={axis!r}, "
        f"epsilon={eps!r}, out {kind}; model: {model.reasons}"
    )
    if not model.valid:
        expect_error(model, lambda: ops.cosine_similarity(x1, x2, axis, eps, out=out))
        assert_unchanged(before[0], x1, "x1")
        assert_unchanged(before[1], x2, "x2")
        return
    event("valid")
    got = ops.cosine_similarity(x1, x2, axis, eps, out=out)
    want = ref_cosine(a_seen, b_seen, ax, e)
    res = result_of(got)
    assert res.dtype == dtype, f"dtype {res.dtype}, expected {dtype}"
    assert res.shape == outer
    if out is not None:
        assert got is out, "the call must return out"
    else:
        assert isinstance(got, np.ndarray) == bool(outer), "a 0-d result is a NumPy scalar"
    d = reduced_len(np.shape(x1), np.shape(x2), ax)
    # A size-1 reduced axis can give values beyond 1 (up to sqrt(d)): the tolerance scales with |c|.
    assert_close(res, want, value_tol(dtype, d) * np.maximum(1, np.abs(np.nan_to_num(want))), "cosine")
    assert_same_values(res, result_of(ops.cosine_similarity(c1, c2, axis, eps)), "cosine")
    for x, b, name, alias in zip((x1, x2), before, ("x1", "x2"), aliased, strict=True):
        if not alias:
            assert_unchanged(b, x, name)
    # The loss function is the negative cosine, with the same rules where the ranks agree (where they
    # differ by one, the loss follows Keras's squeeze of a trailing size-1 axis instead).
    if out is None and np.ndim(x1) == np.ndim(x2):
        loss = result_of(losses.cosine_similarity(x1, x2, axis, epsilon=eps))
        assert loss.dtype == dtype and loss.shape == outer
        assert_close(loss, -want, value_tol(dtype, d), "losses.cosine_similarity")
        assert_unchanged(before[0], x1, "x1")


# ---------------------------------------------------------------------------------------------------------
# ops.cosine_similarity_grad
# ---------------------------------------------------------------------------------------------------------


UPSTREAM_KINDS = weighted(
    (9, ["none", "none", "scalar", "full", "full", "broadcast", "cancel"]),
    (1, ["nan", "bad_shape", "complex"]),
)


def make_upstream(kind: str, outer, rng):
    if kind == "none" or outer is None:
        return None
    if kind == "scalar":
        return float(rng.uniform(-3, 3))
    if kind == "complex":
        return np.ones(outer, complex)
    if kind == "bad_shape":
        return np.ones(tuple(outer) + (2,)) if outer else np.ones(3)
    if kind == "cancel":  # +1, -1, +1, ... along the first axis: the sums over repeated vectors cancel
        return (
            np.ones(outer)
            * np.where(np.arange(outer[0]) % 2, -1.0, 1.0).reshape((-1,) + (1,) * (len(outer) - 1))
            if outer
            else 1.0
        )
    shape = outer if kind != "broadcast" else tuple(1 if rng.random() < 0.5 else n for n in outer)[1:]
    u = rng.uniform(-3, 3, shape) * (rng.random(shape) >= 0.2)
    if kind == "nan" and u.size:
        u.reshape(-1)[rng.integers(0, u.size)] = np.nan
    return u


@FUZZ
@given(data=st.data())
def test_cosine_similarity_grad(data):
    x1, x2, axis, eps, _, _ = _cosine_case(data)
    model = Model()
    dtype, e, ax, outer = _model_pair(model, x1, x2, axis, eps)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="upstream seed"))
    ukind = data.draw(UPSTREAM_KINDS, label="upstream")
    upstream = make_upstream(ukind, outer, rng)
    if ukind == "complex" and outer is not None:
        model.bad(TYPE_ERRORS, "complex upstream")
    if ukind == "bad_shape" and outer is not None:
        model.bad(VALUE_ERRORS, "upstream does not broadcast")
    outs = None
    okinds = (data.draw(OUT_KINDS, label="out[0] kind"), data.draw(OUT_KINDS, label="out[1] kind"))
    same = data.draw(st.sampled_from([False] * 8 + [True]), label="out=(g, g)")
    if okinds != ("none", "none") or same:
        outs = []
        for x, k, name in ((x1, okinds[0], "out[0]"), (x2, okinds[1], "out[1]")):
            shape = np.shape(x)
            o = make_out(k, shape, dtype, alias_of(x, shape, dtype))
            model_out(model, o, shape, dtype, name)
            outs.append(o)
        if same and np.shape(x1) == np.shape(x2) and math.prod(np.shape(x1)):
            outs[1] = outs[0] = np.zeros(np.shape(x1), F64 if dtype is None else dtype)
        outs = tuple(outs)
        # An out overlapping an input is computed through a temporary (as for every out=); the two
        # gradient outs overlapping each other is refused. Empty arrays overlap nothing.
        arrays = [o for o in outs if isinstance(o, np.ndarray)]
        if len(arrays) == 2 and arrays[0].size and arrays[1].size and np.may_share_memory(*arrays):
            model.bad(VALUE_ERRORS, "out[0] and out[1] overlap")
    if model.valid:
        a_seen, b_seen = seen(x1, dtype), seen(x2, dtype)
        c1, c2 = contiguous(x1), contiguous(x2)
        nd = max(a_seen.ndim, b_seen.ndim)
        assume(not ambiguous(_pad(a_seen, nd), ax, e) and not ambiguous(_pad(b_seen, nd), ax, e))
    before = snapshot(x1), snapshot(x2), snapshot(upstream)
    note(
        f"x1 {np.shape(x1)} {np.asarray(x1).dtype}, x2 {np.shape(x2)} {np.asarray(x2).dtype}, axis={axis!r}, "
        f"epsilon={eps!r}, upstream {ukind}, out {okinds} same={same}; model: {model.reasons}"
    )
    call = lambda: ops.cosine_similarity_grad(x1, x2, upstream, axis, eps, out=outs)  # noqa: E731
    if not model.valid:
        expect_error(model, call)
    else:
        event("valid")
        dx1, dx2 = call()
        u = np.ones(outer) if upstream is None else seen(upstream, dtype)
        w1, w2 = ref_grad(a_seen, b_seen, u, ax, e)
        t1, t2 = grad_tol(a_seen, b_seen, u, ax, e, dtype)
        for got, want, tol, x, i in ((dx1, w1, t1, x1, 0), (dx2, w2, t2, x2, 1)):
            assert isinstance(got, np.ndarray) and got.dtype == dtype, f"dx{i + 1} dtype {got.dtype}"
            assert got.shape == np.shape(x), f"dx{i + 1} shape {got.shape}, expected {np.shape(x)}"
            if outs is not None and outs[i] is not None:
                assert got is outs[i], f"dx{i + 1} must be out[{i}]"
            skip = None
            if dtype == F16:  # where the exact gradient is beyond float16's range, anything goes
                with np.errstate(invalid="ignore"):
                    skip = ~(np.abs(want) + tol <= float(np.finfo(F16).max)) & ~np.isnan(want)
            assert_close(got, want, tol, f"dx{i + 1}", skip)
        again = ops.cosine_similarity_grad(c1, c2, upstream, axis, eps)
        assert_same_values(dx1, again[0], "dx1")
        assert_same_values(dx2, again[1], "dx2")
    # An input whose memory a valid call was given as an out is the out: it holds the result.
    written = [o for o in (outs or ()) if isinstance(o, np.ndarray) and o.size] if model.valid else []
    for b, x, name in zip(before, (x1, x2, upstream), ("x1", "x2", "upstream"), strict=True):
        if not (isinstance(x, np.ndarray) and any(np.may_share_memory(x, o) for o in written)):
            assert_unchanged(b, x, name)


# ---------------------------------------------------------------------------------------------------------
# ops.l2_normalize
# ---------------------------------------------------------------------------------------------------------


def draw_l2_axis(data, nd: int):
    """An int, a tuple or list of ints, None, or () ("no axis"), sometimes wrong."""
    if nd == 0:
        return data.draw(st.sampled_from([None, (), 0, -1, 1, -2, (), None]), label="axis")
    kind = data.draw(
        st.sampled_from(["int", "int", "tuple", "tuple", "list", "none", "empty", "wrong"]), label="kind"
    )
    if kind == "int":
        return draw_int_axis(data, data.draw(st.integers(0, nd - 1), label="axis"), nd)
    if kind == "none":
        return None
    if kind == "empty":
        return ()
    if kind in ("tuple", "list"):
        axes = data.draw(st.lists(st.integers(-nd - 1, nd), min_size=1, max_size=nd + 1), label="axes")
        return tuple(axes) if kind == "tuple" else axes
    return data.draw(st.sampled_from([(0, 1.0), (2**64,), ("0",), 1.5, "x", (0, None)]), label="wrong axis")


def model_l2_axis(model: Model, axis, nd: int):
    """The reduced axes as a sorted tuple (None: all), or None after recording the violation."""
    if axis is None:
        return tuple(range(nd))
    if nd == 0:
        if isinstance(axis, tuple) and axis == ():
            return ()
        if isinstance(axis, int) and axis in (0, -1):  # a scalar is a vector of one element
            return ()
        if isinstance(axis, int):
            model.bad(AXIS_ERRORS, f"axis {axis} for a 0-d input")
            return None
    if isinstance(axis, (tuple, list)):
        axes = []
        for a in axis:
            got = model_axis(model, a, nd)
            if got is None:
                return None
            axes.append(got)
        if len(set(axes)) != len(axes):
            model.bad(VALUE_ERRORS, f"repeated axis in {axis!r}")
            return None
        return tuple(sorted(axes))
    a = model_axis(model, axis, nd)
    return None if a is None else (a,)


@FUZZ
@given(data=st.data())
def test_l2_normalize(data):
    nd = data.draw(st.integers(0, 5), label="ndim")
    shape = [data.draw(SIDES, label="side") for _ in range(nd)]
    if nd:
        shape[data.draw(st.integers(0, nd - 1), label="long axis")] = data.draw(D_SIZES, label="d")
    while nd and math.prod(shape) > MAX_ELEMENTS:
        i = max(range(nd), key=lambda j: shape[j])
        shape[i] //= 2
    shape = tuple(shape)
    axis = draw_l2_axis(data, nd)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    name = data.draw(DTYPE_NAMES, label="dtype")
    model = Model()
    axes = model_l2_axis(model, axis, nd)
    x = draw_input(data, rng, shape, name, axes if axes is not None else (), "x")
    eps = draw_eps(data)
    arr = np.asarray(x)
    dtype = model_dtypes(model, (arr,), ("x",))
    e = model_epsilon(model, eps)
    kind = data.draw(OUT_KINDS, label="out kind")
    out = None
    if kind == "alias" and isinstance(x, np.ndarray) and arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        # The input itself (in place), or its transpose (overlapping in another layout).
        out = x if data.draw(st.booleans(), label="in place") else x.T
        model_out(model, out, shape, dtype)
    elif kind != "none":
        out = make_out(kind, shape, dtype, alias_of(x, shape, dtype) if model.valid else None)
        model_out(model, out, shape, dtype)
    aliased = out is not None and isinstance(x, np.ndarray) and np.may_share_memory(out, x)
    x_seen = seen(x, dtype) if model.valid else None
    x_copy = contiguous(x) if model.valid else None
    before = snapshot(x)
    note(f"x {np.shape(x)} {arr.dtype}, axis={axis!r}, epsilon={eps!r}, out {kind}; model: {model.reasons}")
    if not model.valid:
        expect_error(model, lambda: ops.l2_normalize(x, axis, eps, out=out))
        assert_unchanged(before, x, "x")
        return
    event("valid")
    got = ops.l2_normalize(x, axis, eps, out=out)
    res = result_of(got)
    assert res.dtype == dtype and res.shape == shape, f"{res.dtype} {res.shape}, expected {dtype} {shape}"
    if out is not None:
        assert got is out, "the call must return out"
    want = ref_vectors(x_seen, axes, e)[0] if nd else ref_vectors(x_seen.reshape(1), None, e)[0].reshape(())
    d = math.prod(shape[a] for a in axes) if nd else 1
    assert_close(res, want, value_tol(dtype, d), "l2_normalize")
    assert_same_values(res, result_of(ops.l2_normalize(x_copy, axis, eps)), "l2_normalize")
    if not aliased:
        assert_unchanged(before, x, "x")


# ---------------------------------------------------------------------------------------------------------
# ops.pairwise_cosine_similarity
# ---------------------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_pairwise_cosine_similarity(data):
    nb = data.draw(st.integers(0, 2), label="batch ndim")
    batch = [data.draw(SIDES, label="batch side") for _ in range(nb)]
    d = data.draw(st.sampled_from([0, 1, 2, 3, 5, 8, 16, 17, 33, 64, 65, 257]), label="d")
    n = data.draw(st.sampled_from([0, 1, 2, 3, 5, 12, 13, 33]), label="n")
    m = data.draw(st.sampled_from([0, 1, 2, 3, 5, 16, 17, 40]), label="m")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    bx = tuple(1 if rng.random() < 0.3 else s for s in batch)
    by = tuple(1 if rng.random() < 0.3 else s for s in batch)[data.draw(st.integers(0, nb), label="y drop") :]
    if data.draw(st.sampled_from([False] * 10 + [True]), label="bad batch") and by:
        by = (by[0] + 2,) + by[1:]
    dx = d if not data.draw(st.sampled_from([False] * 12 + [True]), label="bad d") else d + 1
    xshape = bx + (n, d)
    if data.draw(st.sampled_from([False] * 12 + [True]), label="x 1-d"):
        xshape = (d,)
    symmetric = data.draw(st.sampled_from([False, False, True]), label="y=None")
    n1 = data.draw(DTYPE_NAMES, label="x dtype")
    n2 = n1 if data.draw(st.booleans(), label="same dtype") else data.draw(DTYPE_NAMES, label="y dtype")
    x = draw_input(data, rng, xshape, n1, (len(xshape) - 1,), "x")
    y = None if symmetric else draw_input(data, rng, by + (m, dx), n2, (len(by) + 1,), "y")
    eps = draw_eps(data)
    model = Model()
    xa = np.asarray(x)
    ya = xa if y is None else np.asarray(y)
    dtype = model_dtypes(model, (xa,) if y is None else (xa, ya), ("x",) if y is None else ("x", "y"))
    e = model_epsilon(model, eps)
    shape = None
    if xa.ndim < 2 or ya.ndim < 2:
        model.bad(VALUE_ERRORS, "fewer than 2 axes")
    elif xa.shape[-1] != ya.shape[-1]:
        model.bad(VALUE_ERRORS, "different d")
    else:
        try:
            shape = np.broadcast_shapes(xa.shape[:-2], ya.shape[:-2]) + (xa.shape[-2], ya.shape[-2])
        except ValueError:
            model.bad(VALUE_ERRORS, "batch axes do not broadcast")
    kind = data.draw(OUT_KINDS, label="out kind")
    out = None
    if kind != "none":
        oshape = shape if shape is not None else (2, 2)
        out = make_out(kind, oshape, dtype, alias_of(x, oshape, dtype) if model.valid else None)
        model_out(model, out, oshape, dtype)
    aliased = out is not None and isinstance(x, np.ndarray) and np.may_share_memory(out, x)
    before = snapshot(x), snapshot(y)
    xs = seen(x, dtype) if model.valid else None
    ys = (xs if y is None else seen(y, dtype)) if model.valid else None
    copies = (contiguous(x), None if y is None else contiguous(y)) if model.valid else None
    note(
        f"x {np.shape(x)} {xa.dtype}, y {None if y is None else (np.shape(y), ya.dtype)}, epsilon={eps!r}, "
        f"out {kind}; model: {model.reasons}"
    )
    if not model.valid:
        expect_error(model, lambda: ops.pairwise_cosine_similarity(x, y, eps, out=out))
    else:
        event("valid")
        got = ops.pairwise_cosine_similarity(x, y, eps, out=out)
        assert isinstance(got, np.ndarray) and got.dtype == dtype and got.shape == shape
        if out is not None:
            assert got is out
        want = ref_pairwise(xs, ys, e)
        assert_close(got, want, value_tol(dtype, xa.shape[-1]), "pairwise")
        if y is None:
            assert np.array_equal(got, np.swapaxes(got, -1, -2), equal_nan=True), "y=None must be symmetric"
        assert_same_values(got, ops.pairwise_cosine_similarity(*copies, eps), "pairwise")
    if not aliased:
        assert_unchanged(before[0], x, "x")
    assert_unchanged(before[1], y, "y")


# ---------------------------------------------------------------------------------------------------------
# ops.top_k
# ---------------------------------------------------------------------------------------------------------


def expected_order(p: np.ndarray, k: int) -> np.ndarray:
    """The top-k corpus indices per row of the scores ``p``: descending, ties by lower index, NaN last,
    then -1 for the positions past the corpus."""
    order = []
    for row in p:
        nan = np.isnan(row)
        key = np.where(nan, 0.0, -row.astype(np.float64))
        top = np.lexsort((np.arange(row.size), key, nan))[:k]
        order.append(np.concatenate([top, np.full(k - top.size, -1)]))
    return np.array(order, np.int64).reshape(p.shape[0], k)


@FUZZ
@given(data=st.data())
def test_top_k(data):
    d = data.draw(st.sampled_from([0, 1, 2, 3, 5, 8, 16, 17, 33, 64, 65]), label="d")
    nq = data.draw(st.sampled_from([0, 1, 2, 3, 7]), label="queries")
    n = data.draw(st.sampled_from([0, 1, 2, 3, 10, 33, 100]), label="corpus rows")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    qshape = data.draw(st.sampled_from([(nq, d)] * 4 + [(d,), (1, nq, d), ()]), label="queries shape")
    cshape = data.draw(st.sampled_from([(n, d)] * 8 + [(n,), (1, n, d), (n, d + 1)]), label="corpus shape")
    n1 = data.draw(DTYPE_NAMES, label="queries dtype")
    n2 = n1 if data.draw(st.booleans(), label="same dtype") else data.draw(DTYPE_NAMES, label="corpus dtype")
    normalized = data.draw(
        st.sampled_from([False, False, True, np.bool_(True), 1, None]), label="assume_normalized"
    )
    q = draw_input(data, rng, qshape, n1, (len(qshape) - 1,), "queries")
    c = draw_input(data, rng, cshape, n2, (len(cshape) - 1,), "corpus")
    if (
        data.draw(st.booleans(), label="duplicate rows")
        and isinstance(c, np.ndarray)
        and c.ndim == 2
        and n > 2
    ):
        c = np.array(c)
        c[1::2] = c[0]  # exact ties: ordered by index
    k = data.draw(
        st.sampled_from([1, 1, 2, 3, 5, 10, n, n + 1, 0, -1, np.int64(2), 2.0, True, "3", 2**64]), label="k"
    )
    eps = data.draw(EPSILON, label="epsilon")
    model = Model()
    qa, ca = np.asarray(q), np.asarray(c)
    dtype = model_dtypes(model, (qa, ca), ("queries", "corpus"))
    e = model_epsilon(model, eps)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        model.bad(TYPE_ERRORS, f"k of type {type(k).__name__}")
    elif k < 1:
        model.bad(VALUE_ERRORS if abs(int(k)) < 2**62 else HUGE_INT_ERRORS, f"k={k}")
    elif k >= 2**62:
        model.bad(HUGE_INT_ERRORS, f"k={k}: a result too large for NumPy")
    if not isinstance(normalized, (bool, np.bool_)):
        model.bad(TYPE_ERRORS, "assume_normalized not a bool")
    if qa.ndim not in (1, 2) or ca.ndim != 2:
        model.bad(VALUE_ERRORS, "ranks")
    elif qa.shape[-1] != ca.shape[-1]:
        model.bad(VALUE_ERRORS, "different d")
    if model.valid and normalized:  # unit rows (cast to the dtype), so that dot products are cosines
        assume(n1 not in INT_NAMES and n2 not in INT_NAMES)
        with np.errstate(all="ignore"):
            qf, cf = seen(q, dtype), seen(c, dtype)
            q = typed(np.nan_to_num(qf / np.linalg.norm(qf, axis=-1, keepdims=True), posinf=0, neginf=0), n1)
            c = typed(np.nan_to_num(cf / np.linalg.norm(cf, axis=-1, keepdims=True), posinf=0, neginf=0), n2)
        qa, ca = np.asarray(q), np.asarray(c)
        dtype = model_dtypes(model, (qa, ca), ("queries", "corpus"))
    before = snapshot(q), snapshot(c)
    note(
        f"queries {qa.shape} {qa.dtype}, corpus {ca.shape} {ca.dtype}, k={k!r}, epsilon={eps!r}, "
        f"assume_normalized={normalized!r}; model: {model.reasons}"
    )
    if not model.valid:
        expect_error(model, lambda: ops.top_k(q, c, k, eps, assume_normalized=normalized))
    else:
        event("valid")
        scores, idx = ops.top_k(q, c, k, eps, assume_normalized=normalized)
        single = qa.ndim == 1
        rows = 1 if single else qa.shape[0]
        want_shape = (k,) if single else (rows, k)
        assert scores.shape == want_shape and idx.shape == want_shape
        assert scores.dtype == dtype and idx.dtype == np.int64
        s2, i2 = scores.reshape(rows, k), idx.reshape(rows, k)
        qs, cs = seen(q, dtype).reshape(rows, qa.shape[-1]), seen(c, dtype)
        real = min(k, ca.shape[0])  # candidates per query; the rest is padding
        assert ((i2[:, :real] >= 0) & (i2[:, :real] < ca.shape[0])).all(), "indices out of range"
        assert (i2[:, real:] == -1).all() and np.isnan(s2[:, real:]).all(), "padding not -1 and NaN"
        s2, i2 = s2[:, :real], i2[:, :real]
        if normalized:
            with np.errstate(all="ignore"):
                ref = qs @ cs.T
            for i in range(rows):
                assert len(set(i2[i].tolist())) == real, "repeated index"
                assert_close(s2[i], ref[i, i2[i]], value_tol(dtype, d), "top_k scores (assume_normalized)")
                assert np.all(np.diff(s2[i].astype(np.float64)) <= 0), "scores not descending"
                rest = np.setdiff1d(np.arange(ca.shape[0]), i2[i])
                if rest.size and real:
                    assert ref[i, rest].max() <= ref[i, i2[i]].min() + 2 * value_tol(dtype, d), (
                        "a better row missed"
                    )
        else:
            p = ops.pairwise_cosine_similarity(qa.reshape(rows, qa.shape[-1]), c, eps)  # the same rows
            np.testing.assert_array_equal(
                i2, expected_order(p, real), "top_k order of its own pairwise scores"
            )
            # float64 holds bfloat16 exactly and lets NumPy compare NaN with NaN (it does not for bfloat16)
            np.testing.assert_array_equal(
                s2.astype(np.float64),
                np.take_along_axis(p, i2, axis=1).astype(np.float64),
                "scores bitwise pairwise's",
            )
            want = ref_pairwise(qs, cs, e)
            assert_close(s2, np.take_along_axis(want, i2, axis=1), value_tol(dtype, d), "top_k scores")
    assert_unchanged(before[0], q, "queries")
    assert_unchanged(before[1], c, "corpus")


# ---------------------------------------------------------------------------------------------------------
# losses.CosineSimilarity: reductions, sample weights, value_and_gradient
# ---------------------------------------------------------------------------------------------------------

REDUCTIONS = ["sum_over_batch_size", "auto", "mean", "sum", "mean_with_sample_weight", "none", None]


@FUZZ
@given(data=st.data())
def test_loss_class(data):
    nd = data.draw(st.integers(1, 3), label="ndim")
    d = data.draw(st.sampled_from([1, 2, 3, 8, 17, 33, 65]), label="d")
    shape = [data.draw(SIDES, label="side") for _ in range(nd - 1)] + [d]
    ax = data.draw(st.integers(0, nd - 1), label="axis")
    if ax != nd - 1:
        shape[ax], shape[-1] = shape[-1], shape[ax]
    shape = tuple(shape)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    name = data.draw(
        st.sampled_from(FLOAT_NAMES * 3 + OTHER_NAMES + ["bfloat16"] * 2 * bool(BFLOAT16)), label="dtype"
    )
    yt = draw_input(data, rng, shape, name, (ax,), "y_true")
    true_shape = tuple(
        1 if i != ax and data.draw(st.booleans(), label="y_true broadcast") else n
        for i, n in enumerate(shape)
    )
    if true_shape != shape and isinstance(yt, np.ndarray):
        yt = np.ascontiguousarray(np.asarray(yt)[tuple(slice(0, n) for n in true_shape)])
    yp = draw_input(data, rng, shape, name, (ax,), "y_pred")
    reduction = data.draw(st.sampled_from(REDUCTIONS * 3 + ["bogus", "SUM"]), label="reduction")
    cls_dtype = data.draw(
        st.sampled_from([None] * 4 + ["float32", "float64", "float16", "int32"]), label="dtype="
    )
    eps = data.draw(
        st.sampled_from(VALID_EPS[:8] * 6 + BAD_EPS_VALUE[:2] + BAD_EPS_TYPE[:2]), label="epsilon"
    )
    model = Model()
    e = model_epsilon(model, eps)
    if reduction not in REDUCTIONS:
        model.bad(VALUE_ERRORS, f"reduction {reduction!r}")
    if cls_dtype == "int32":
        model.bad(TYPE_ERRORS, "dtype=int32")
    if not model.valid:
        expect_error(
            model, lambda: losses.CosineSimilarity(axis=ax, reduction=reduction, dtype=cls_dtype, epsilon=eps)
        )
        return
    loss = losses.CosineSimilarity(axis=ax - nd, reduction=reduction, dtype=cls_dtype, epsilon=eps)
    dtype = promote([kernel_dtype(np.asarray(yt).dtype), kernel_dtype(np.asarray(yp).dtype)])
    if cls_dtype is not None:
        dtype = np.dtype(cls_dtype)
    outer = shape[:ax] + shape[ax + 1 :]
    wkind = data.draw(
        st.sampled_from(["none", "none", "scalar", "same", "trailing1", "lower", "bad"]), label="w"
    )
    wshape = {
        "scalar": (),
        "same": outer,
        "trailing1": outer + (1,),
        "lower": outer[:-1],
        "bad": outer + (3,),
    }
    w = None
    if wkind != "none" and not (wkind == "lower" and len(outer) < 2):
        w = rng.uniform(0, 2, wshape[wkind]) * (rng.random(wshape[wkind]) >= 0.2)
    if wkind == "bad" and w is not None:
        model.bad(VALUE_ERRORS, "sample_weight shape")
    yt_seen, yp_seen = seen(np.asarray(yt).astype(dtype), dtype), seen(np.asarray(yp).astype(dtype), dtype)
    before = snapshot(yt), snapshot(yp), snapshot(w)
    note(
        f"y_true {np.shape(yt)}, y_pred {shape} {name}, axis={ax}, reduction={reduction!r}, "
        f"dtype={cls_dtype!r}, epsilon={eps!r}, sample_weight {None if w is None else np.shape(w)}; "
        f"model: {model.reasons}"
    )
    if not model.valid:
        expect_error(model, lambda: loss(yt, yp, sample_weight=w))
        expect_error(model, lambda: loss.value_and_gradient(yt, yp, sample_weight=w))
        return
    assume(not ambiguous(yt_seen, ax, e) and not ambiguous(yp_seen, ax, e))
    cos = ref_cosine(yt_seen, yp_seen, ax, e)
    if w is None:
        wa, wsum = np.ones(outer), float(math.prod(outer))
    else:
        wa = seen(w, dtype)
        wsum = float(np.sum(wa[..., 0] if wkind == "trailing1" else wa))
        wa = wa[..., 0] if wkind == "trailing1" else (wa[..., None] if wkind == "lower" else wa)
        wa = np.broadcast_to(wa, outer)
    n = math.prod(outer)
    if reduction in ("sum_over_batch_size", "auto", "mean"):
        scale = 1.0 / n if n else 0.0
    elif reduction == "mean_with_sample_weight":
        scale = 1.0 / wsum if wsum else 0.0
    else:
        scale = 1.0
    tol1 = value_tol(dtype, d)
    event("valid")
    value = loss(yt, yp, sample_weight=w)
    v2, grad = loss.value_and_gradient(yt, yp, sample_weight=w)
    with np.errstate(all="ignore"):
        weighted = wa * -cos
        for got, what in ((value, "loss"), (v2, "value_and_gradient value")):
            got = np.asarray(got)
            assert got.dtype == dtype, f"{what} dtype {got.dtype}, expected {dtype}"
            if reduction in (None, "none"):
                assert_close(got, weighted, tol1 * np.abs(wa) + 1e-30, what)
            else:
                assert got.shape == ()
                assert_close(got, np.sum(weighted) * scale, tol1 * np.sum(np.abs(wa)) * scale + 1e-30, what)
        u = seen(-wa * scale, dtype)
    _, want = ref_grad(yt_seen, yp_seen, u, ax, e)
    _, tol = grad_tol(yt_seen, yp_seen, u, ax, e, dtype)
    assert grad.dtype == dtype and grad.shape == shape
    skip = None
    if dtype == F16:
        with np.errstate(invalid="ignore"):
            skip = ~(np.abs(want) + tol <= float(np.finfo(F16).max)) & ~np.isnan(want)
    assert_close(grad, want, tol, "dLoss/dy_pred", skip)
    assert_unchanged(before[0], yt, "y_true")
    assert_unchanged(before[1], yp, "y_pred")
    assert_unchanged(before[2], w, "sample_weight")


# ---------------------------------------------------------------------------------------------------------
# Two corners the random walk above reaches too rarely, searched on their own
# ---------------------------------------------------------------------------------------------------------


@FUZZ
@given(
    d=st.integers(1, 600),
    dtype=st.sampled_from([F16, F32, F64] + ([BFLOAT16] if BFLOAT16 else [])),
    value=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False).filter(lambda v: abs(v) > 1e-3),
    constant=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    flip=st.booleans(),
)
def test_size1_reduced_axis_broadcast(d, dtype, value, constant, seed, flip):
    # TF normalises the length-1 vector on its own (to ±1) and broadcasts it, so c = ±Σ ŷ, up to √D.
    rng = np.random.default_rng(seed)
    x = np.full((2, d), value) if constant else rng.standard_normal((2, d)) * value
    one = np.array([[value], [-2.0]])
    a, b = (x.astype(dtype), one.astype(dtype)) if not flip else (one.astype(dtype), x.astype(dtype))
    want = ref_cosine(seen(a, dtype), seen(b, dtype), 1, 1e-12)
    got = ops.cosine_similarity(a, b)
    assert got.dtype == dtype
    assert_close(got, want, value_tol(dtype, d) * np.maximum(1, np.abs(want)), "cosine")
    dx1, dx2 = ops.cosine_similarity_grad(a, b)
    w1, w2 = ref_grad(seen(a, dtype), seen(b, dtype), np.ones(2), 1, 1e-12)
    t1, t2 = grad_tol(seen(a, dtype), seen(b, dtype), np.ones(2), 1, 1e-12, dtype)
    assert_close(dx1, w1, t1, "dx1")
    assert_close(dx2, w2, t2, "dx2")


@FUZZ
@given(
    d=st.integers(1, 70),
    pairs=st.integers(1, 4),
    scale=st.sampled_from([0.0, 1e-5, 3e-5, 1e-4, 1e-3, 1.0]),
    jitter=st.sampled_from([0.0, 1e-3, 1e-1]),
    eps=st.sampled_from([1e-12, 1e-14, 1e-6]),
    seed=st.integers(0, 2**32 - 1),
)
def test_float16_broadcast_gradient_sums(d, pairs, scale, jitter, eps, seed):
    # x1 (1, d) broadcast over 2·pairs rows of x2 that (nearly) repeat, with upstream +1, -1, ...:
    # per-row gradients of a small or zero x1 are beyond float16's range, their sum is not.
    rng = np.random.default_rng(seed)
    x1 = (scale * rng.standard_normal((1, d))).astype(F16)
    row = rng.standard_normal(d)
    x2 = (row + jitter * rng.standard_normal((2 * pairs, d))).astype(F16)
    u = np.tile([1.0, -1.0], pairs)
    a, b = seen(x1, F16), seen(x2, F16)
    assume(not ambiguous(a, -1, eps))
    dx1, dx2 = ops.cosine_similarity_grad(x1, x2, u, epsilon=eps)
    for got, want, tol, what in zip(
        (dx1, dx2), ref_grad(a, b, u, 1, eps), grad_tol(a, b, u, 1, eps, F16), ("dx1", "dx2"), strict=True
    ):
        assert got.dtype == F16
        with np.errstate(invalid="ignore"):
            skip = ~(np.abs(want) + tol <= float(np.finfo(F16).max)) & ~np.isnan(want)
        assert_close(got, want, tol, what, skip)


# ---------------------------------------------------------------------------------------------------------
# Argument types the fuzz model leaves out on purpose, one assertion each
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda a: ops.cosine_similarity(a, a, axis=True),
        lambda a: ops.cosine_similarity_grad(a, a, axis=np.bool_(False)),
        lambda a: ops.l2_normalize(a, axis=True),
        lambda a: ops.l2_normalize(a, axis=(False,)),
        lambda a: losses.cosine_similarity(a, a, axis=True),
    ],
    ids=["cosine", "grad", "l2_normalize", "l2_normalize_tuple", "loss"],
)
def test_bool_axis_is_a_type_error(call):
    # A bool is not an axis (NumPy: np.sum(a, axis=True) raises TypeError); k=True and
    # set_num_threads(True) are refused the same way.
    with pytest.raises(TypeError, match="."):
        call(np.ones((2, 3), np.float32))
