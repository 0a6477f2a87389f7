"""swiftsim.ops against a float64 NumPy reference of the contract's formulas (docs/contract.md).

The reference below is written from the contract, not from the implementation:

    r_x = 1 / sqrt(max(|x|², ε)),   x̂ = r_x·x,   c = Σ x̂·ŷ   (each input normalised with its own shape)
    ∂c/∂x = r_x·(ŷ − [|x|² ≥ ε]·c·x̂)   (clamped: ŷ/√ε)

Gradients of broadcast inputs are computed with the Jacobian of the normalisation,
r_x·(G − [|x|² ≥ ε]·(G·x̂)·x̂) with G = Σ_broadcast u·ŷ, which equals the per-row closed form summed back.
Tolerances (docs/contract.md): values use swiftsim._contract.value_tol; gradients 16·ε_dtype·Σ|u|·r with
r = 1/max(|x|, √ε) (32·ε for float16), widened by sqrt(D/256) for D > 256 like the values.
"""

from __future__ import annotations

import importlib.metadata
import math

import numpy as np
import pytest
from numpy.exceptions import AxisError

import swiftsim
from swiftsim import ops
from swiftsim._contract import KERAS2_EPSILON as EPS
from swiftsim._contract import grad_tol_unit, value_tol

FLOATS = [np.float16, np.float32, np.float64]

# ---------------------------------------------------------------------------------------------------------
# The float64 reference
# ---------------------------------------------------------------------------------------------------------


def _f64(x) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def _pad(x: np.ndarray, nd: int) -> np.ndarray:
    return x.reshape((1,) * (nd - x.ndim) + x.shape)


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sums ``g`` (same rank as ``shape``) over the axes where ``shape`` has 1 and ``g`` does not."""
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def ref_normalize(x: np.ndarray, axis, eps: float):
    """(x̂, r, s) in float64; ``axis`` an int, a tuple or None (all axes)."""
    with np.errstate(all="ignore"):
        s = np.sum(x * x, axis=axis, keepdims=True)
        r = 1.0 / np.sqrt(np.maximum(s, eps))
        return x * r, r, s


def ref_l2_normalize(x, axis=-1, eps=EPS) -> np.ndarray:
    """x̂; a vector holding NaN or ±Inf is NaN throughout (the contract's row rule; plain TF arithmetic
    would give NaN only at the infinite component and 0 elsewhere)."""
    x = _f64(x)
    if x.ndim == 0:
        return ref_l2_normalize(x.reshape(1), None, eps).reshape(())
    xh = ref_normalize(x, axis, eps)[0]
    bad = ~np.all(np.isfinite(x), axis=axis, keepdims=True)
    return np.where(bad, np.nan, xh)


def ref_cos(x1, x2, axis=-1, eps=EPS) -> np.ndarray:
    a, b = _f64(x1), _f64(x2)
    nd = max(a.ndim, b.ndim)
    a, b = _pad(a, nd), _pad(b, nd)
    ah = ref_normalize(a, axis, eps)[0]
    bh = ref_normalize(b, axis, eps)[0]
    with np.errstate(all="ignore"):
        return np.sum(ah * bh, axis=axis)


def ref_grad(x1, x2, upstream=None, axis=-1, eps=EPS):
    """(dx1, dx2) of sum(upstream·c), each shaped like its input."""
    a0, b0 = _f64(x1), _f64(x2)
    nd = max(a0.ndim, b0.ndim)
    ax = axis % nd
    a, b = _pad(a0, nd), _pad(b0, nd)
    ah, ra, sa = ref_normalize(a, ax, eps)
    bh, rb, sb = ref_normalize(b, ax, eps)
    full = np.broadcast_shapes(a.shape, b.shape)
    outer = full[:ax] + full[ax + 1 :]
    u = np.ones(outer) if upstream is None else np.broadcast_to(_f64(upstream), outer)
    u = np.expand_dims(u, ax)
    with np.errstate(all="ignore"):
        ga = _sum_to(np.broadcast_to(u * bh, full), a.shape)
        gb = _sum_to(np.broadcast_to(u * ah, full), b.shape)
        da = ra * (ga - (sa >= eps) * np.sum(ga * ah, axis=ax, keepdims=True) * ah)
        db = rb * (gb - (sb >= eps) * np.sum(gb * bh, axis=ax, keepdims=True) * bh)
    return da.reshape(a0.shape), db.reshape(b0.shape)


def grad_tol(x1, x2, upstream=None, axis=-1, eps=EPS, dtype=np.float32):
    """Per-element tolerances 16·ε·Σ|u|·r_x (32·ε in float16) for (dx1, dx2), summed back like dx."""
    dtype = np.dtype(dtype)
    a0, b0 = _f64(x1), _f64(x2)
    nd = max(a0.ndim, b0.ndim)
    ax = axis % nd
    a, b = _pad(a0, nd), _pad(b0, nd)
    d = max(a.shape[ax], b.shape[ax])
    k = grad_tol_unit(dtype, d)
    ra = ref_normalize(a, ax, eps)[1]
    rb = ref_normalize(b, ax, eps)[1]
    full = np.broadcast_shapes(a.shape, b.shape)
    outer = full[:ax] + full[ax + 1 :]
    u = np.ones(outer) if upstream is None else np.broadcast_to(np.abs(_f64(upstream)), outer)
    u = np.expand_dims(u, ax)
    out = []
    for x0, x, r in ((a0, a, ra), (b0, b, rb)):
        # A size-1 reduced axis sums over the partner's D components (|Σ ŷ| ≤ √D).
        fac = math.sqrt(d) if x.shape[ax] == 1 and d > 1 else 1.0
        with np.errstate(all="ignore"):
            t = _sum_to(np.broadcast_to(u * r, full), x.shape) * k * fac
        out.append(np.nan_to_num(t, nan=0.0, posinf=0.0).reshape(x0.shape))
    return out


def assert_close(got, want, tol, what="result"):
    """|got − want| ≤ tol elementwise (tol may be an array); NaN exactly where the reference is NaN."""
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    g = got.astype(np.float64)
    nan_w = np.isnan(want)
    nan_g = np.isnan(g)
    assert np.array_equal(nan_g, nan_w), (
        f"{what}: NaN at {np.argwhere(nan_g).tolist()[:8]}, expected at {np.argwhere(nan_w).tolist()[:8]}"
    )
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), want.shape)
    with np.errstate(invalid="ignore"):
        err = np.where(nan_w, 0.0, np.abs(g - want))
    bad = ~(err <= tol)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {want.size} elements out of tolerance; "
            f"first at {i}: got {g[i]!r}, expected {want[i]!r}, |diff|={err[i]:.3e} > tol {tol[i]:.3e}; "
            f"max |diff| {np.nanmax(err):.3e}"
        )


def _reduced_len(x1, x2, axis) -> int:
    s1, s2 = np.shape(x1), np.shape(x2)
    nd = max(len(s1), len(s2), 1)
    p1, p2 = (1,) * (nd - len(s1)) + s1, (1,) * (nd - len(s2)) + s2
    return max(p1[axis], p2[axis])


def check_cos(x1, x2, axis=-1, eps=EPS, dtype=None, **kw):
    """Runs ops.cosine_similarity and compares with the reference; returns the result."""
    got = ops.cosine_similarity(x1, x2, axis, eps, **kw)
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(got).dtype
    assert np.asarray(got).dtype == dtype
    assert_close(got, ref_cos(x1, x2, axis, eps), value_tol(dtype, _reduced_len(x1, x2, axis)), "cosine")
    return got


def check_grad(x1, x2, upstream=None, axis=-1, eps=EPS, dtype=None):
    dx1, dx2 = ops.cosine_similarity_grad(x1, x2, upstream, axis, eps)
    dtype = np.dtype(dtype) if dtype is not None else dx1.dtype
    assert dx1.dtype == dtype and dx2.dtype == dtype
    w1, w2 = ref_grad(x1, x2, upstream, axis, eps)
    t1, t2 = grad_tol(x1, x2, upstream, axis, eps, dtype)
    assert_close(dx1, w1, t1, "dx1")
    assert_close(dx2, w2, t2, "dx2")
    return dx1, dx2


def check_l2n(x, axis=-1, eps=EPS, dtype=None, **kw):
    got = ops.l2_normalize(x, axis, eps, **kw)
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(got).dtype
    assert np.asarray(got).dtype == dtype
    d = np.size(x) if axis is None else np.prod([np.shape(x)[a] for a in np.atleast_1d(axis)], dtype=int)
    assert_close(got, ref_l2_normalize(x, axis, eps), value_tol(dtype, int(d)), "l2_normalize")
    return got


def rand_pair(seed: int, shape: tuple, dtype, lo: float = -2.0, hi: float = 2.0):
    """Random rows at mixed scales 10**U(lo, hi), with parallel and antiparallel rows when possible."""
    rng = np.random.default_rng(seed)
    scale_shape = shape[:-1] + (1,) if len(shape) else ()
    a = rng.standard_normal(shape) * 10.0 ** rng.uniform(lo, hi, scale_shape)
    b = rng.standard_normal(shape) * 10.0 ** rng.uniform(lo, hi, scale_shape)
    if len(shape) == 2 and shape[0] >= 3:
        b[0] = 3.0 * a[0]
        b[1] = -0.5 * a[1]
    return a.astype(dtype), b.astype(dtype)


@pytest.fixture
def restore_threads():
    n = swiftsim.get_num_threads()
    yield
    swiftsim.set_num_threads(n)


# ---------------------------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_float_dtypes_keep_dtype(dtype):
    a, b = rand_pair(1, (6, 19), dtype)
    check_cos(a, b, dtype=dtype)
    check_grad(a, b, dtype=dtype)
    check_l2n(a, dtype=dtype)


def test_float16_zero_vector_gives_zero_not_nan():
    # Contract: float16 accumulates in float32, so ε = 1e-12 does not underflow (TF gives NaN here).
    z = np.zeros((2, 3), np.float16)
    b = np.array([[1, 2, 3], [0, 0, 0]], np.float16)
    got = ops.cosine_similarity(z, b)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, np.zeros(2, np.float16))
    np.testing.assert_array_equal(ops.l2_normalize(z), z)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_], ids=lambda t: np.dtype(t).name
)
def test_ints_and_bools_compute_in_float32(dtype):
    rng = np.random.default_rng(2)
    if dtype is np.bool_:
        a, b = rng.random((5, 7)) < 0.6, rng.random((5, 7)) < 0.6
    else:
        a = rng.integers(0, 50, (5, 7)).astype(dtype)
        b = rng.integers(0, 50, (5, 7)).astype(dtype)
    check_cos(a, b, dtype=np.float32)
    check_grad(a, b, dtype=np.float32)
    check_l2n(a, dtype=np.float32)


def test_python_lists_and_scalars():
    check_cos([[1, 2, 3], [4, 5, 6]], [1.0, 0.0, 0.0], dtype=np.float64)
    check_cos([1, 2, 3], [3, 2, 1], dtype=np.float32)  # ints → float32
    got = ops.cosine_similarity([1.0, 1.0], [1.0, 0.0])  # 1-D inputs give a 0-d result
    assert np.ndim(got) == 0
    assert abs(float(got) - math.sqrt(0.5)) < 1e-12


@pytest.mark.parametrize(
    "t1,t2,expected",
    [
        (np.float16, np.float32, np.float32),
        (np.float32, np.float16, np.float32),
        (np.float32, np.float64, np.float64),
        (np.float16, np.float64, np.float64),
        (np.int32, np.float64, np.float64),
        (np.int64, np.float16, np.float32),
        (np.bool_, np.float16, np.float32),
        (np.int16, np.int64, np.float32),
    ],
    ids=lambda t: np.dtype(t).name,
)
def test_mixed_dtypes_follow_numpy_promotion(t1, t2, expected):
    a, b = rand_pair(3, (4, 9), np.float64, 0.0, 1.0)
    a = (a * 10).astype(t1) if np.dtype(t1).kind != "b" else a > 0
    b = (b * 10).astype(t2)
    check_cos(a, b, dtype=expected)
    check_grad(a, b, dtype=expected)


def test_bfloat16_is_computed_in_bfloat16():
    """bfloat16 in, bfloat16 out; with float32 or float16 it promotes to float32, with float64 to float64."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf = np.dtype(ml_dtypes.bfloat16)
    a, b = rand_pair(4, (5, 33), np.float32)
    a16, b16 = a.astype(bf), b.astype(bf)
    check_cos(a16, b16, dtype=bf)
    check_grad(a16, b16, dtype=bf)
    check_l2n(a16, dtype=bf)
    check_cos(a16, b, dtype=np.float32)
    check_cos(a16, b.astype(np.float16), dtype=np.float32)
    check_cos(a16, b.astype(np.float64), dtype=np.float64)
    check_cos(a16, (b * 10).astype(np.int32), dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------
# Reduced lengths: SIMD tails
# ---------------------------------------------------------------------------------------------------------

LENGTHS = list(range(68)) + [127, 255, 256, 257, 1000, 4096]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("d", LENGTHS, ids=lambda d: f"D{d}")
def test_cosine_every_length(d, dtype):
    a, b = rand_pair(100 + d, (4, d), dtype)
    check_cos(a, b, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("d", LENGTHS, ids=lambda d: f"D{d}")
def test_grad_every_length(d, dtype):
    a, b = rand_pair(200 + d, (4, d), dtype)
    u = np.array([1.0, -2.0, 0.5, 3.0])
    check_grad(a, b, u, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("d", LENGTHS, ids=lambda d: f"D{d}")
def test_l2_normalize_every_length(d, dtype):
    a, _ = rand_pair(300 + d, (4, d), dtype)
    check_l2n(a, dtype=dtype)


def test_empty_batch_and_zero_length():
    for shape in [(0, 5), (3, 0), (0, 0), (2, 0, 4)]:
        a = np.ones(shape, np.float32)
        c = ops.cosine_similarity(a, a)
        assert c.shape == shape[:-1] and c.dtype == np.float32
        np.testing.assert_array_equal(c, np.zeros(shape[:-1], np.float32))
        dx1, dx2 = ops.cosine_similarity_grad(a, a)
        assert dx1.shape == shape and dx2.shape == shape
        assert ops.l2_normalize(a).shape == shape


# ---------------------------------------------------------------------------------------------------------
# Zero vectors, the epsilon boundary, NaN/Inf, overflow, subnormals
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_zero_vectors(dtype):
    a = np.array([[0, 0, 0], [0, 0, 0], [1, 2, 3], [1e-30, 0, 0]], dtype)
    b = np.array([[1, 2, 3], [0, 0, 0], [0, 0, 0], [1, 0, 0]], dtype)
    c = check_cos(a, b, dtype=dtype)
    np.testing.assert_array_equal(c[:3], np.zeros(3, dtype))
    check_l2n(a, dtype=dtype)
    if dtype != np.float16:  # the clamped gradient ŷ/√ε = 1e6·ŷ is beyond float16's range
        dx1, dx2 = check_grad(a, b, dtype=dtype)
        np.testing.assert_array_equal(dx1[1], 0)
        np.testing.assert_array_equal(dx2[1], 0)
        np.testing.assert_array_equal(dx2[0], 0)


def _neighbours(s: float, dtype) -> dict:
    """ε values putting the squared norm ``s`` just below, at and just above ε, representable in ``dtype``."""
    t = np.float64 if dtype == np.float64 else np.float32  # float16 computes in float32
    s_t = t(s)
    return {
        "below": float(np.nextafter(s_t, t(np.inf))),  # s < ε: clamped
        "at": float(s_t),  # s ≥ ε (inclusive): not clamped
        "above": float(np.nextafter(s_t, t(0))),  # s > ε: not clamped
    }


@pytest.mark.parametrize("where", ["below", "at", "above"])
@pytest.mark.parametrize("scale", [1.0, 2.0**-22], ids=["s25", "s25x2^-44"])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_epsilon_boundary(dtype, scale, where):
    if dtype == np.float16 and scale != 1.0:
        scale = 2.0**-10
    a = np.array([[3.0, 4.0], [4.0, -3.0]]) * scale  # |a|² = 25·scale², exact in every dtype
    b = np.array([[30.0, 0.0], [1.0, 2.0]]) * 1e3 * scale  # never clamped
    s = 25.0 * scale * scale
    eps = _neighbours(s, dtype)[where]
    a, b = a.astype(dtype), b.astype(dtype)
    check_cos(a, b, eps=eps, dtype=dtype)
    check_l2n(a, eps=eps, dtype=dtype)
    dx1, _ = check_grad(a, b, eps=eps, dtype=dtype)
    # The two branches differ by far more than the tolerance: make the expected branch explicit.
    bh = b[0].astype(np.float64) / np.linalg.norm(b[0].astype(np.float64))
    clamped = bh / math.sqrt(eps)
    ah = a[0].astype(np.float64) / math.sqrt(s)
    free = (bh - (ah @ bh) * ah) / math.sqrt(s)
    expected = clamped if where == "below" else free
    np.testing.assert_allclose(dx1[0].astype(np.float64), expected, rtol=2e-3, atol=2e-3 / math.sqrt(s))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("col", ["first", "middle", "last"])
@pytest.mark.parametrize("which", ["x1", "x2"])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_nonfinite_poisons_only_its_row(dtype, which, col, value):
    d = 37
    a, b = rand_pair(5, (6, d), dtype, -1, 1)
    j = {"first": 0, "middle": d // 2, "last": d - 1}[col]
    (a if which == "x1" else b)[2, j] = value
    c = check_cos(a, b, dtype=dtype)
    assert np.isnan(c[2]) and np.isfinite(np.delete(c, 2)).all()
    dx1, dx2 = check_grad(a, b, dtype=dtype)
    assert np.isnan(dx1[2]).all() and np.isnan(dx2[2]).all(), "every gradient component of that row is NaN"
    assert np.isfinite(np.delete(dx1, 2, axis=0)).all() and np.isfinite(np.delete(dx2, 2, axis=0)).all()
    n = check_l2n(a, dtype=dtype)
    assert np.isnan(n[2]).all() == (which == "x1")


@pytest.mark.parametrize(
    "a,b",
    [
        ([1e20, 1e20, 0.0], [1.0, 1.0, 0.0]),
        ([1e20, 0.0, 0.0], [1.0, 1.0, 0.0]),
        ([1e20, -3e19, 5e19], [1e20, 1e20, 1e20]),
        ([3e38, 3e38, 0.0], [-1.0, -1.0, 0.0]),
    ],
    ids=["parallel", "45deg", "both_huge", "near_max"],
)
def test_float32_overflowing_squared_norm(a, b):
    # Contract (§8): either TF's 0 or the exact value, finite. swiftsim gives the exact one.
    a32, b32 = np.array([a], np.float32), np.array([b], np.float32)
    exact = ref_cos(a32, b32)
    got = ops.cosine_similarity(a32, b32)
    assert np.isfinite(got).all()
    tol = value_tol(np.float32, 3)
    assert abs(float(got[0]) - exact[0]) <= tol or abs(float(got[0])) <= tol, (got, exact)
    n = ops.l2_normalize(a32)
    assert np.isfinite(n).all()
    wn = ref_l2_normalize(a32)
    assert np.all(np.abs(n - wn) <= tol) or np.all(np.abs(n) <= tol), (n, wn)
    dx1, dx2 = ops.cosine_similarity_grad(a32, b32)
    assert np.isfinite(dx1).all() and np.isfinite(dx2).all()
    for got_g, want, t in zip((dx1, dx2), ref_grad(a32, b32), grad_tol(a32, b32), strict=True):
        assert np.all(np.abs(got_g - want) <= t) or np.all(np.abs(got_g) <= t), (got_g, want)


def test_float32_1e20_gives_the_exact_value():
    # The implementation claims the exact value (an overflow-safe accumulation), not TF's 0.
    a = np.array([[1e20, 1e20, 0.0], [1e20, 0.0, 0.0]], np.float32)
    b = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], np.float32)
    check_cos(a, b, dtype=np.float32)
    check_l2n(a, dtype=np.float32)
    check_grad(a, b, dtype=np.float32)


def test_float64_overflowing_squared_norm():
    a = np.array([[1e200, 1e200, 0.0], [1e200, 0.0, 0.0]])
    b = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]])
    exact = np.array([1.0, math.sqrt(0.5)])  # by hand
    got = ops.cosine_similarity(a, b)
    assert np.isfinite(got).all()
    ok = (np.abs(got - exact) <= 1e-12) | (np.abs(got) <= 1e-12)
    assert ok.all(), got


def test_float16_large_and_tiny_values_use_float32_accumulation():
    # TF gives 0 for [200, 200] (x² overflows float16) and 0.9937 / NaN for tiny values; the contract
    # accumulates float16 in float32, so these are exact.
    a = np.array([[200, 200], [6e4, -6e4], [1e-3, 1e-3], [1e-4, 0], [6e-8, 0]], np.float16)
    b = np.array([[1, 1], [1, -1], [1, 1], [1, 0], [1, 0]], np.float16)
    c = check_cos(a, b, dtype=np.float16)
    np.testing.assert_allclose(c[:4].astype(np.float64), 1.0, atol=5e-3)
    check_l2n(a, dtype=np.float16)
    check_grad(a[:4], b[:4], dtype=np.float16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_subnormals(dtype):
    tiny = float(np.finfo(dtype).smallest_subnormal)
    a = np.array([[tiny, 0, 0], [1e3 * tiny, -tiny, 0], [tiny, tiny, tiny], [1, 2, 3]], dtype)
    b = np.array([[1, 0, 0], [1, 1, 0], [tiny, 0, tiny], [tiny, 0, 0]], dtype)
    check_cos(a, b, dtype=dtype)
    check_l2n(a, dtype=dtype)
    check_grad(a, b, dtype=dtype)


# ---------------------------------------------------------------------------------------------------------
# Broadcasting and axes
# ---------------------------------------------------------------------------------------------------------

BROADCAST_CASES = [
    ((1, 7), (5, 7)),
    ((5, 7), (1, 7)),
    ((7,), (5, 7)),
    ((5, 7), (7,)),
    ((2, 1, 3), (1, 4, 3)),
    ((3, 1), (3, 4)),
    ((3, 4), (3, 1)),
    ((4, 1, 6), (3, 6)),
    ((1,), (4, 5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("s1,s2", BROADCAST_CASES, ids=lambda s: "x".join(map(str, s)))
def test_broadcasting(s1, s2, dtype):
    rng = np.random.default_rng(7)
    a = rng.standard_normal(s1).astype(dtype)
    b = rng.standard_normal(s2).astype(dtype)
    c = check_cos(a, b, dtype=dtype)
    full = np.broadcast_shapes(s1, s2)
    assert np.shape(c) == full[:-1]
    dx1, dx2 = check_grad(a, b, dtype=dtype)
    assert dx1.shape == s1 and dx2.shape == s2
    u = rng.standard_normal(full[:-1])
    check_grad(a, b, u, dtype=dtype)


def test_size1_reduced_axis_is_sign_times_sum_of_normalised():
    a = np.array([[2.0], [-0.5], [0.0]])
    b = np.arange(12.0).reshape(3, 4) - 4.0
    bh = b / np.linalg.norm(b, axis=1, keepdims=True)
    expected = np.sign(a[:, 0]) * bh.sum(axis=1)  # by hand, as TF
    np.testing.assert_allclose(ops.cosine_similarity(a, b), expected, rtol=0, atol=1e-12)
    dx1, dx2 = check_grad(a, b)
    assert dx1.shape == (3, 1)
    np.testing.assert_allclose(dx1[:2, 0], 0.0, atol=1e-9)  # unclamped scalars: d sign(a)/da = 0
    np.testing.assert_allclose(dx1[2, 0], 1e6 * bh[2].sum(), rtol=1e-12)  # zero: clamped, Σŷ/√ε


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_axis_on_3d(axis, dtype):
    a, b = rand_pair(8, (3, 4, 5), dtype, -1, 1)
    c = check_cos(a, b, axis=axis, dtype=dtype)
    assert c.shape == tuple(n for i, n in enumerate(a.shape) if i != axis % 3)
    u = np.arange(c.size, dtype=np.float64).reshape(c.shape) - 3
    check_grad(a, b, u, axis=axis, dtype=dtype)
    check_l2n(a, axis=axis, dtype=dtype)


@pytest.mark.parametrize("axis", [3, -4, 10])
def test_bad_axis_raises_axis_error(axis):
    a = np.ones((2, 3, 4))
    with pytest.raises(AxisError):
        ops.cosine_similarity(a, a, axis=axis)
    with pytest.raises(AxisError):
        ops.cosine_similarity_grad(a, a, axis=axis)
    with pytest.raises(AxisError):
        ops.l2_normalize(a, axis=axis)


def test_axis_of_wrong_type_raises_type_error():
    a = np.ones((2, 3))
    with pytest.raises(TypeError):
        ops.cosine_similarity(a, a, axis=1.5)
    with pytest.raises(TypeError):
        ops.l2_normalize(a, axis="1")


@pytest.mark.parametrize("axis", [None, (0, 2), (2, 0), (-1, -2), (0, 1, 2), (1,)], ids=str)
def test_l2_normalize_multiple_axes(axis):
    x, _ = rand_pair(9, (3, 4, 5), np.float64, -1, 1)
    check_l2n(x, axis=axis, dtype=np.float64)
    check_l2n(x.astype(np.float32), axis=axis, dtype=np.float32)


def test_l2_normalize_axis_none_is_all_axes():
    x = np.array([[3.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(ops.l2_normalize(x, axis=None), x / 5.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("value", [3.0, -2.5, 0.0, 1e-7])
def test_l2_normalize_scalar(value):
    got = ops.l2_normalize(value)
    assert np.ndim(got) == 0
    want = value / max(abs(value), 1e-6)
    assert abs(float(got) - want) <= 1e-12


# ---------------------------------------------------------------------------------------------------------
# Memory layouts
# ---------------------------------------------------------------------------------------------------------


def _layouts(base: np.ndarray) -> dict:
    """Views / copies of data equal to ``base`` (B, D) in various layouts."""
    b, d = base.shape
    big = np.zeros((2 * b, 3 * d), base.dtype)
    big[::2, ::3] = base
    rev = base[::-1, ::-1].copy()
    ro = base.copy()
    ro.flags.writeable = False
    wide = np.zeros((b, 2 * d), base.dtype)
    wide[:, ::2] = base
    padded = np.zeros((b, d + 5), base.dtype)
    padded[:, :d] = base
    return {
        "noncontig_slice": big[::2, ::3],
        "negative_strides": rev[::-1, ::-1],
        "negative_row_stride": base[::-1].copy()[::-1],
        "fortran": np.asfortranarray(base),
        "big_endian": base.astype(base.dtype.newbyteorder(">")),
        "readonly": ro,
        "strided_inner": wide[:, ::2],
        "padded_rows": padded[:, :d],  # row stride > D, inner axis contiguous
    }


LAYOUTS = list(_layouts(np.zeros((2, 2))).keys())


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_match_reference(layout, dtype):
    a, b = rand_pair(10, (6, 21), dtype, -1, 1)
    xa = _layouts(a)[layout]
    xb = _layouts(b)[layout]
    np.testing.assert_array_equal(xa, a)  # the test's own construction
    before_a, before_b = xa.copy(), xb.copy()
    check_cos(xa, xb, dtype=dtype)
    check_cos(xa, b, dtype=dtype)  # mixed: one input in this layout, the other contiguous
    check_grad(xa, xb, np.arange(6.0) - 2, dtype=dtype)
    check_l2n(xa, dtype=dtype)
    check_cos(xa, xb, axis=0, dtype=dtype)  # the reduced axis first
    check_grad(xa, xb, axis=0, dtype=dtype)
    check_l2n(xa, axis=0, dtype=dtype)
    check_l2n(xa, axis=None, dtype=dtype)
    np.testing.assert_array_equal(xa, before_a)  # inputs never modified
    np.testing.assert_array_equal(xb, before_b)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_bitwise_identical_to_contiguous(layout, dtype):
    # Stricter than "any layout works": the same numbers in another layout give the same bits.
    a, b = rand_pair(10, (6, 21), dtype, -1, 1)
    xa = _layouts(a)[layout]
    xb = _layouts(b)[layout]
    np.testing.assert_array_equal(ops.cosine_similarity(xa, xb), ops.cosine_similarity(a, b))
    g, g_ref = ops.cosine_similarity_grad(xa, xb), ops.cosine_similarity_grad(a, b)
    np.testing.assert_array_equal(g[0], g_ref[0])
    np.testing.assert_array_equal(g[1], g_ref[1])
    np.testing.assert_array_equal(ops.l2_normalize(xa), ops.l2_normalize(a))


@pytest.mark.parametrize("layout", ["strided_inner", "negative_strides", "fortran"])
@pytest.mark.parametrize("d", [1000, 4096])
def test_strided_layouts_accuracy_at_large_d(layout, d):
    a, b = rand_pair(23 + d, (4, d), np.float32, -1, 1)
    xa, xb = _layouts(a)[layout], _layouts(b)[layout]
    check_cos(xa, xb, dtype=np.float32)
    check_grad(xa, xb, dtype=np.float32)
    check_l2n(xa, dtype=np.float32)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_zero_stride_broadcast_views(dtype):
    rng = np.random.default_rng(11)
    row = rng.standard_normal(13).astype(dtype)
    col = rng.standard_normal((5, 1)).astype(dtype)
    b = rng.standard_normal((5, 13)).astype(dtype)
    rows = np.broadcast_to(row, (5, 13))  # stride 0 on the batch axis
    cols = np.broadcast_to(col, (5, 13))  # stride 0 on the reduced axis
    for x in (rows, cols):
        check_cos(x, b, dtype=dtype)
        check_cos(b, x, dtype=dtype)
        check_grad(x, b, dtype=dtype)
        check_l2n(x, dtype=dtype)
        check_l2n(x, axis=0, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_zero_stride_broadcast_views_bitwise_identical_to_contiguous(dtype):
    rng = np.random.default_rng(11)
    b = rng.standard_normal((5, 13)).astype(dtype)
    views = {
        "rows": np.broadcast_to(rng.standard_normal(13).astype(dtype), (5, 13)),
        "cols": np.broadcast_to(rng.standard_normal((5, 1)).astype(dtype), (5, 13)),
    }
    for name, x in views.items():
        contiguous = np.ascontiguousarray(x)
        np.testing.assert_array_equal(
            ops.cosine_similarity(x, b), ops.cosine_similarity(contiguous, b), err_msg=name
        )
        np.testing.assert_array_equal(ops.l2_normalize(x), ops.l2_normalize(contiguous), err_msg=name)
        g, gc = ops.cosine_similarity_grad(x, b), ops.cosine_similarity_grad(contiguous, b)
        np.testing.assert_array_equal(g[1], gc[1], err_msg=name)


def test_inputs_are_never_modified():
    a, b = rand_pair(12, (7, 33), np.float64)
    a[3] = 0.0
    b[5, 2] = np.nan
    ca, cb = a.copy(), b.copy()
    ops.cosine_similarity(a, b)
    ops.cosine_similarity_grad(a, b, np.arange(7.0))
    ops.l2_normalize(a)
    ops.l2_normalize(a, axis=None)
    ops.l2_normalize(a, axis=(0, 1))
    ops.cosine_similarity(a, b, out=np.empty(7))
    np.testing.assert_array_equal(a, ca)
    np.testing.assert_array_equal(b, cb)


# ---------------------------------------------------------------------------------------------------------
# out=
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_out_is_filled_and_returned(dtype):
    a, b = rand_pair(13, (5, 17), dtype, -1, 1)
    out = np.full(5, np.nan, dtype)
    res = ops.cosine_similarity(a, b, out=out)
    assert res is out
    assert_close(out, ref_cos(a, b), value_tol(dtype, 17))
    nout = np.full((5, 17), np.nan, dtype)
    res = ops.l2_normalize(a, out=nout)
    assert res is nout
    assert_close(nout, ref_l2_normalize(a), value_tol(dtype, 17))


def test_out_for_a_0d_result():
    out = np.empty((), np.float64)
    res = ops.cosine_similarity([1.0, 0.0], [1.0, 1.0], out=out)
    assert res is out
    assert abs(float(out) - math.sqrt(0.5)) < 1e-15


def _bad_outs():
    f = np.empty((5, 2), np.float32)
    ro = np.empty(5, np.float32)
    ro.flags.writeable = False
    return {
        "wrong_shape": (np.empty(4, np.float32), ValueError),
        "wrong_shape_2d": (np.empty((5, 1), np.float32), ValueError),
        "wrong_dtype": (np.empty(5, np.float64), TypeError),
        "wrong_dtype_f16": (np.empty(5, np.float16), TypeError),
        "noncontiguous": (f[:, 0], ValueError),
        "readonly": (ro, ValueError),
        "not_an_array": ([0.0] * 5, TypeError),
    }


@pytest.mark.parametrize("case", list(_bad_outs()))
def test_bad_out_cosine(case):
    out, exc = _bad_outs()[case]
    a, b = rand_pair(14, (5, 6), np.float32)
    with pytest.raises(exc):
        ops.cosine_similarity(a, b, out=out)


@pytest.mark.parametrize(
    "case", ["wrong_shape", "wrong_dtype", "noncontiguous", "fortran", "readonly", "not_an_array"]
)
def test_bad_out_l2_normalize(case):
    a, _ = rand_pair(15, (5, 6), np.float32)
    ro = np.empty((5, 6), np.float32)
    ro.flags.writeable = False
    out, exc = {
        "wrong_shape": (np.empty((6, 5), np.float32), ValueError),
        "wrong_dtype": (np.empty((5, 6), np.float64), TypeError),
        "noncontiguous": (np.empty((5, 12), np.float32)[:, ::2], ValueError),
        "fortran": (np.empty((5, 6), np.float32, order="F"), ValueError),
        "readonly": (ro, ValueError),
        "not_an_array": (a.tolist(), TypeError),
    }[case]
    with pytest.raises(exc):
        ops.l2_normalize(a, out=out)


@pytest.mark.parametrize("where", ["first_row", "last_row", "x2"])
def test_out_aliasing_an_input(where):
    rng = np.random.default_rng(16)
    bsz, d = 6, 9
    buf = rng.standard_normal(bsz * d + bsz)
    x1 = buf[: bsz * d].reshape(bsz, d)
    other = rng.standard_normal((bsz, d))
    if where == "x2":
        x1, x2 = other, x1
        out = buf[:bsz]
    else:
        x2 = other
        out = buf[:bsz] if where == "first_row" else buf[bsz * d - bsz : bsz * d]
    want = ref_cos(x1.copy(), x2.copy())
    res = ops.cosine_similarity(x1, x2, out=out)
    assert res is out
    assert_close(out, want, 1e-12)


@pytest.mark.parametrize("axis", [-1, 0, None, (0, 1)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_l2_normalize_in_place(dtype, axis):
    x, _ = rand_pair(17, (5, 11), dtype, -1, 1)
    want = ref_l2_normalize(x.copy(), axis)
    res = ops.l2_normalize(x, axis, out=x)
    assert res is x
    assert_close(x, want, value_tol(dtype, 55))


def test_l2_normalize_out_overlapping_in_another_layout():
    rng = np.random.default_rng(18)
    base = rng.standard_normal((4, 6))
    x = base.T  # (6, 4), Fortran-ordered view of base
    out = base.reshape(6, 4)  # C-contiguous, same memory, different element order
    want = ref_l2_normalize(x.copy())
    res = ops.l2_normalize(x, out=out)
    assert res is out
    assert_close(out, want, 1e-12)


# ---------------------------------------------------------------------------------------------------------
# Gradients: upstream and finite differences
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["none", "scalar", "per_row", "numpy_scalar", "list", "bcast_row"])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_grad_upstream(dtype, kind):
    a, b = rand_pair(19, (4, 3, 10), dtype, -1, 1)
    u = {
        "none": None,
        "scalar": -2.5,
        "per_row": np.random.default_rng(0).standard_normal((4, 3)),
        "numpy_scalar": np.float32(0.5),
        "list": [[1.0, 2.0, 3.0]] * 4,
        "bcast_row": np.array([1.0, -1.0, 0.0]),
    }[kind]
    check_grad(a, b, u, dtype=dtype)


def test_grad_upstream_wrong_shape_raises():
    a = np.ones((4, 3))
    with pytest.raises(ValueError):
        ops.cosine_similarity_grad(a, a, np.ones(5))


def _fd_grad(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h[i]
        xm[i] -= h[i]
        g[i] = (f(xp) - f(xm)) / (2 * h[i])
    return g


@pytest.mark.parametrize(
    "s1,s2,eps",
    [
        ((4, 5), (4, 5), 1e-12),
        ((4, 5), (4, 5), 0.5),  # rows with |x|² < 0.5 are in the clamp region
        ((1, 5), (4, 5), 1e-12),
        ((3, 1), (3, 4), 1e-12),
        ((2, 1, 3), (1, 4, 3), 1e-12),
    ],
    ids=["plain", "clamped_rows", "bcast_row", "size1_axis", "bcast_3d"],
)
def test_grad_matches_finite_differences(s1, s2, eps):
    # Central differences in float64 of f(x1, x2) = Σ u·cos, with cos the reference formula (not swiftsim's
    # forward pass and not the closed-form gradient); independent of TensorFlow.
    rng = np.random.default_rng(20)
    a = rng.standard_normal(s1)
    b = rng.standard_normal(s2)
    if eps == 0.5:
        a[0] *= 0.1  # |a0|² well below 0.5
        b[1] *= 0.1
    full = np.broadcast_shapes(s1, s2)
    u = rng.standard_normal(full[:-1])

    def f(x1, x2):
        return float(np.sum(u * ref_cos(x1, x2, eps=eps)))

    dx1, dx2 = ops.cosine_similarity_grad(a, b, u, epsilon=eps)
    h1 = 1e-6 * np.maximum(np.abs(a), 1e-3)
    h2 = 1e-6 * np.maximum(np.abs(b), 1e-3)
    fd1 = _fd_grad(lambda x: f(x, b), a, h1)
    fd2 = _fd_grad(lambda x: f(a, x), b, h2)
    np.testing.assert_allclose(dx1, fd1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx2, fd2, rtol=1e-5, atol=1e-6)


def test_grad_closed_form_examples():
    # By hand: c = 0 for orthogonal unit-ish vectors, ∂c/∂x1 = ŷ/|x1|.
    dx1, dx2 = ops.cosine_similarity_grad(np.array([2.0, 0.0]), np.array([0.0, 3.0]))
    np.testing.assert_allclose(dx1, [0.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(dx2, [1 / 3, 0.0], atol=1e-15)
    # A zero x1: ∂c/∂x1 = ŷ/√ε (finite), ∂c/∂x2 = 0.
    dx1, dx2 = ops.cosine_similarity_grad(np.zeros(2), np.array([3.0, 4.0]))
    np.testing.assert_allclose(dx1, [6e5, 8e5], rtol=1e-12)
    np.testing.assert_array_equal(dx2, [0.0, 0.0])
    dx1, dx2 = ops.cosine_similarity_grad(np.zeros(2), np.array([3.0, 4.0]), epsilon=1e-14)
    np.testing.assert_allclose(dx1, [6e6, 8e6], rtol=1e-12)


# ---------------------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(20000, 64), (3, 300001), (257, 1031)], ids=lambda s: "x".join(map(str, s))
)
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_results_do_not_depend_on_threads(dtype, shape, restore_threads):
    a, b = rand_pair(21, shape, dtype, -1, 1)
    u = np.linspace(-1, 1, shape[0])
    results = []
    for n in (1, 2):
        swiftsim.set_num_threads(n)
        assert swiftsim.get_num_threads() == n
        results.append(
            (ops.cosine_similarity(a, b), *ops.cosine_similarity_grad(a, b, u), ops.l2_normalize(a))
        )
    for r1, r2 in zip(*results, strict=True):
        np.testing.assert_array_equal(r1, r2)
    if shape == (257, 1031):
        assert_close(results[0][0], ref_cos(a, b), value_tol(dtype, shape[1]))


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-1, ValueError), ("2", TypeError), (2.0, TypeError)])
def test_set_num_threads_rejects_bad_values(bad, exc, restore_threads):
    before = swiftsim.get_num_threads()
    with pytest.raises(exc):
        swiftsim.set_num_threads(bad)
    assert swiftsim.get_num_threads() == before


def test_get_num_threads_is_positive():
    assert isinstance(swiftsim.get_num_threads(), int) and swiftsim.get_num_threads() >= 1


# ---------------------------------------------------------------------------------------------------------
# Package level
# ---------------------------------------------------------------------------------------------------------


def test_version_matches_metadata():
    assert isinstance(swiftsim.__version__, str)
    assert swiftsim.__version__ == importlib.metadata.version("swiftsim")


def test_build_info(restore_threads):
    info = swiftsim.build_info()
    for key in ("version", "swift_version", "target_cpu", "simd_bits", "dtypes", "num_threads"):
        assert key in info, key
    assert info["version"] == swiftsim.__version__
    assert isinstance(info["swift_version"], str) and info["swift_version"]
    assert isinstance(info["target_cpu"], str) and info["target_cpu"]
    assert isinstance(info["simd_bits"], int) and info["simd_bits"] in (64, 128, 256, 512, 1024)
    assert {"float16", "float32", "float64"} <= set(info["dtypes"])
    assert info["num_threads"] == swiftsim.get_num_threads()
    swiftsim.set_num_threads(1)
    assert swiftsim.build_info()["num_threads"] == 1


# ---------------------------------------------------------------------------------------------------------
# Bad inputs (docs/keras.md, "Bad inputs")
# ---------------------------------------------------------------------------------------------------------

OPS_PAIR = {
    "cosine_similarity": lambda a, b, **kw: ops.cosine_similarity(a, b, **kw),
    "cosine_similarity_grad": lambda a, b, **kw: ops.cosine_similarity_grad(a, b, **kw),
}
OPS_ALL = {**OPS_PAIR, "l2_normalize": lambda a, b, **kw: ops.l2_normalize(a, **kw)}


@pytest.mark.parametrize("s1,s2", [((2, 3), (2, 4)), ((2, 3), (5, 3)), ((4, 2, 3), (3, 3))], ids=str)
@pytest.mark.parametrize("op", list(OPS_PAIR))
def test_shape_mismatch_names_both_shapes(op, s1, s2):
    with pytest.raises(ValueError) as info:
        OPS_PAIR[op](np.ones(s1), np.ones(s2))
    msg = str(info.value)
    assert str(s1) in msg and str(s2) in msg, msg


BAD_DTYPES = {
    "str": np.array(["a", "b", "c"]),
    "bytes": np.array([b"a", b"b", b"c"]),
    "complex64": np.ones(3, np.complex64),
    "complex128": np.ones(3, np.complex128),
    "object": np.array([1.0, None, 2.0], dtype=object),
    "datetime": np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
    "str_list": ["a", "b", "c"],
}


@pytest.mark.parametrize("case", list(BAD_DTYPES))
@pytest.mark.parametrize("op", list(OPS_ALL))
def test_non_numeric_dtypes_raise_type_error(op, case):
    bad = BAD_DTYPES[case]
    with pytest.raises(TypeError):
        OPS_ALL[op](bad, np.ones(3))
    if op != "l2_normalize":
        with pytest.raises(TypeError):
            OPS_ALL[op](np.ones(3), bad)


@pytest.mark.parametrize("op", list(OPS_ALL))
def test_ragged_lists_raise_value_error(op):
    with pytest.raises(ValueError):
        OPS_ALL[op]([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0, 4.0]])


BAD_EPSILONS = {
    "neg": (-1e-12, ValueError),
    "nan": (float("nan"), ValueError),
    "neg_half": (-0.5, ValueError),
    "str": ("1e-12", TypeError),
    "none": (None, TypeError),
    "list": ([1e-12], TypeError),
}


@pytest.mark.parametrize("case", list(BAD_EPSILONS))
@pytest.mark.parametrize("op", list(OPS_ALL))
def test_bad_epsilon(op, case):
    eps, exc = BAD_EPSILONS[case]
    with pytest.raises(exc):
        OPS_ALL[op](np.ones((2, 3)), np.ones((2, 3)), epsilon=eps)


@pytest.mark.parametrize("eps", [0, 0.0, 1, np.float32(1e-12), np.float64(1e-14)], ids=repr)
def test_epsilon_accepts_real_numbers(eps):
    a, b = rand_pair(22, (3, 4), np.float64)
    a[1] *= 1e-3  # clamped when ε = 1
    got = ops.cosine_similarity(a, b, epsilon=eps)
    assert_close(got, ref_cos(a, b, eps=float(eps)), 1e-12)


# ---------------------------------------------------------------------------------------------------------
# Defects found by fuzzing against the float64 reference and by hostile inputs
# ---------------------------------------------------------------------------------------------------------


def test_size1_reduced_axis_sums_with_simd_precision():
    """A size-1 axis broadcast against d takes the vector reduction, not a sequential float32 sum."""
    a = np.full((1, 300), np.float32(0.9047776))
    b = np.ones((1, 1), np.float32)
    exact = float(ref_cos(a, b)[0])  # = sqrt(300): this TF rule exceeds 1
    assert exact > 17
    tol = value_tol(np.float32, 300) * exact  # the tolerance is relative to |c| once |c| > 1
    for x1, x2 in ((a, b), (b, a)):
        got = float(ops.cosine_similarity(x1, x2)[0])
        assert abs(got - exact) <= tol, (got, exact)
    rng = np.random.default_rng(5)
    for d in (31, 32, 33, 2047, 2048, 2049, 5000):
        long = rng.standard_normal((3, d)).astype(np.float32) + 2
        one = np.array([[0.7], [-3.0], [0.0]], np.float32)
        want = ref_cos(one, long)
        got = ops.cosine_similarity(one, long)
        assert_close(got, want, value_tol(np.float32, d) * np.maximum(1, np.abs(want)), f"d={d}")
        for x1, x2 in ((one, long), (long, one)):
            dx1, dx2 = ops.cosine_similarity_grad(x1, x2)
            w1, w2 = ref_grad(x1, x2)
            t1, t2 = grad_tol(x1, x2)
            assert_close(dx1, w1, t1, f"dx1 d={d}")
            assert_close(dx2, w2, t2, f"dx2 d={d}")


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_epsilon_below_the_smallest_subnormal_still_floors(dtype):
    z = np.zeros((2, 8), dtype)
    o = np.ones((2, 8), dtype)
    for eps in (1e-50, 1e-320, 5e-324):
        assert np.all(ops.cosine_similarity(z, o, epsilon=eps) == 0)
        assert np.all(ops.l2_normalize(z, epsilon=eps) == 0)
        dx1, dx2 = ops.cosine_similarity_grad(z, o, epsilon=eps)
        assert np.all(np.isfinite(dx1.astype(np.float64))) or dtype == np.float16  # 1/sqrt(eps) overflows f16
        assert np.all(dx2 == 0)
        assert np.all(ops.pairwise_cosine_similarity(z, o, epsilon=eps) == 0)


def test_float32_gradient_keeps_precision_when_coefficients_are_subnormal():
    """|x| ≈ 1e17 and upstream 1e-6: u·c·r² is subnormal in float32; the gradient itself is not."""
    rng = np.random.default_rng(11)
    a = (rng.standard_normal((6, 40)) * 1e17).astype(np.float32)
    b = rng.standard_normal((6, 40)).astype(np.float32)
    b[0] = a[0] / np.float32(3e16)  # parallel rows: c = 1
    u = np.full(6, 1e-6)
    check_grad(a, b, u, dtype=np.float32)
    check_grad(b, a, u, dtype=np.float32)


@pytest.mark.parametrize("shape", [(2**34,), (3, 2**27)], ids=str)
def test_huge_broadcast_rows_need_no_scratch_memory(shape):
    """Stride-0 rows are read in place: 2**34 broadcast elements neither abort nor allocate 64 GiB (the
    scratch memory no longer grows with the row). Run in a subprocess, so an abort fails the test."""
    import subprocess
    import sys

    code = f"""
import resource, numpy as np
from swiftsim import ops
x = np.broadcast_to(np.float32(0.5), {shape!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
c = ops.cosine_similarity(x, x)
assert np.all(np.abs(c.astype(np.float64) - 1) <= 2e-6 * ({shape[-1]} / 256) ** 0.5), c
print("grown", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    grown = int(r.stdout.split("grown")[-1])
    assert grown < 64 * 1024, f"max RSS grew by {grown} KiB"


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("d", [2047, 2048, 2049, 4096 + 33, 10_000])
def test_long_strided_rows_are_staged_in_chunks_with_the_same_bits(d, dtype):
    """Rows longer than one staging chunk give exactly the bits of the same rows laid out contiguously."""
    a, b = rand_pair(d, (3, d), dtype, -1, 1)
    sa = np.empty((3, 2 * d), dtype)[:, ::2]
    sb = np.empty((d, 3), dtype).T  # Fortran order: inner stride 3 elements
    sa[...] = a
    sb[...] = b
    assert np.array_equal(ops.cosine_similarity(sa, sb), ops.cosine_similarity(a, b))
    assert np.array_equal(ops.l2_normalize(sa), ops.l2_normalize(a))
    for g1, g2 in zip(ops.cosine_similarity_grad(sa, sb), ops.cosine_similarity_grad(a, b), strict=True):
        assert np.array_equal(g1, g2)
    check_cos(sa, sb, dtype=dtype)
    one = np.broadcast_to(np.asarray(0.25, dtype), (3, d))  # stride 0, read as a filled chunk
    full = np.full((3, d), 0.25, dtype)
    assert np.array_equal(ops.cosine_similarity(one, b), ops.cosine_similarity(full, b))


def test_l2_normalize_empty_axis_tuple_normalises_each_element():
    x = np.array([[3.0, -2.0, 0.0], [1e-7, -1e-8, 5.0]])
    want = x / np.sqrt(np.maximum(x * x, EPS))  # TF: reduce_sum over no axis is x² itself
    assert_close(ops.l2_normalize(x, axis=()), want, value_tol(np.float64, 1))
    out = np.empty_like(x)
    assert ops.l2_normalize(x, axis=(), out=out) is out
    assert_close(out, want, value_tol(np.float64, 1))


def test_l2_normalize_zero_size_with_several_axes():
    for shape, axis in (((7, 16, 2, 0), (2, 1)), ((0, 5, 3), (2, 0)), ((2, 0, 3), (0, 1))):
        got = ops.l2_normalize(np.zeros(shape, np.float32), axis=axis)
        assert got.shape == shape and got.dtype == np.float32


def test_gradient_outputs_that_overlap_are_refused():
    a, b = rand_pair(3, (4, 8), np.float64)
    g = np.empty((4, 8))
    with pytest.raises(ValueError, match="overlap"):
        ops.cosine_similarity_grad(a, b, out=(g, g))
    buf = np.empty(48)
    with pytest.raises(ValueError, match="overlap"):
        ops.cosine_similarity_grad(a, b, out=(buf[:32].reshape(4, 8), buf[16:].reshape(4, 8)))
    before = a.copy()
    g1, g2 = np.empty((4, 8)), np.empty((4, 8))
    ops.cosine_similarity_grad(a, b, out=(g1, g2))  # distinct outs are fine
    w1, w2 = ref_grad(a, b)
    t1, t2 = grad_tol(a, b, dtype=np.float64)
    assert_close(g1, w1, t1)
    assert_close(g2, w2, t2)
    np.testing.assert_array_equal(a, before)


def test_float16_gradient_of_a_row_broadcast_input_is_summed_in_float32():
    """Per-row float16 gradients of a broadcast input overflow; their float32 sum is representable."""
    a = np.full((1, 4), 0.01, np.float16)  # r_a = 50
    b = np.tile(np.array([[1, 0.5, -0.75, 0.25]], np.float16), (10, 1))
    u = np.array([3000.0, -2990.0] * 5)  # per-row gradients ~1e5, beyond float16; their sum is not
    dx1, dx2 = ops.cosine_similarity_grad(a, b, u)
    w1, w2 = ref_grad(a, b, u)
    assert np.all(np.isfinite(w1)) and np.abs(w1).max() < 65504
    assert np.all(np.isfinite(dx1.astype(np.float64))), dx1
    t1, t2 = grad_tol(a, b, u, dtype=np.float16)
    assert_close(dx1, w1, t1, "dx1")
    assert_close(dx2, w2, t2, "dx2")
    c, g1, _ = ops.cosine_value_and_grad(a, b, u, need=(True, False))
    assert c.dtype == g1.dtype == np.float16
    np.testing.assert_array_equal(c, ops.cosine_similarity(a, b))  # the same bits as the float16 kernel


@pytest.mark.parametrize(
    "call",
    [
        lambda x: ops.cosine_similarity(x, x, axis=2**64),
        lambda x: ops.cosine_similarity(x, x, axis=-(2**70)),
        lambda x: ops.l2_normalize(x, axis=(0, 2**64)),
        lambda x: ops.cosine_similarity_grad(x, x, axis=2**63),
    ],
    ids=["axis 2**64", "axis -2**70", "axis tuple", "grad axis 2**63"],
)
def test_huge_axes_raise_axis_error(call):
    with pytest.raises(AxisError):
        call(np.ones((2, 3)))


def test_huge_numbers_raise_value_errors_not_overflow():
    x = np.ones((2, 3))
    for eps in (10**400, -(10**400)):
        with pytest.raises(ValueError, match="epsilon"):
            ops.cosine_similarity(x, x, epsilon=eps)
        with pytest.raises(ValueError, match="epsilon"):
            swiftsim._swiftsim.cosine(x, x, np.empty(2), eps)
    for n in (2**64, -(2**64), 2**31):
        with pytest.raises(ValueError, match="threads"):
            swiftsim.set_num_threads(n)
    with pytest.raises(AxisError):
        swiftsim.losses.CosineSimilarity(axis=2**64)
    with pytest.raises(AxisError):
        swiftsim.metrics.CosineSimilarity(axis=2**64)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
def test_unaligned_out_is_accepted(dtype):
    """A C-contiguous, writeable out= at an address not aligned for its dtype gets the same values."""
    itemsize = np.dtype(dtype).itemsize

    def unaligned(shape):
        raw = np.zeros(int(np.prod(shape)) * itemsize + 1, np.uint8)[1:]
        out = np.ndarray(shape, dtype, raw)
        assert not out.flags.aligned and out.flags.c_contiguous and out.flags.writeable
        return out

    a, b = rand_pair(9, (5, 7), dtype, -1, 1)
    o = unaligned((5,))
    assert ops.cosine_similarity(a, b, out=o) is o
    np.testing.assert_array_equal(o, ops.cosine_similarity(a, b))
    o = unaligned((5, 7))
    assert ops.l2_normalize(a, out=o) is o
    np.testing.assert_array_equal(o, ops.l2_normalize(a))
    g1, g2 = unaligned((5, 7)), unaligned((5, 7))
    r1, r2 = ops.cosine_similarity_grad(a, b, out=(g1, g2))
    w1, w2 = ops.cosine_similarity_grad(a, b)
    np.testing.assert_array_equal(r1, w1)
    np.testing.assert_array_equal(r2, w2)
    o = unaligned((5, 5))
    assert ops.pairwise_cosine_similarity(a, b, out=o) is o
    np.testing.assert_array_equal(o, ops.pairwise_cosine_similarity(a, b))


# ---------------------------------------------------------------------------------------------------------
# l2_normalize_grad
# ---------------------------------------------------------------------------------------------------------


def ref_l2_normalize_grad(x, g, axis=-1, eps=EPS):
    """float64 r·(g − [|x|² ≥ ε]·(x̂·g)·x̂); NaN for vectors holding NaN or ±Inf."""
    x, g = _f64(x), np.broadcast_to(_f64(g), np.shape(x))
    xh, r, s = ref_normalize(x, axis, eps)
    with np.errstate(all="ignore"):
        radial = np.where(s >= eps, np.sum(xh * g, axis=axis, keepdims=True), 0.0)
        dx = r * (g - radial * xh)
    bad = ~np.all(np.isfinite(x), axis=axis, keepdims=True)
    return np.where(bad, np.nan, dx)


def l2_grad_tol(x, g, axis=-1, eps=EPS, dtype=np.float32):
    dtype = np.dtype(dtype)
    k = (32 if dtype == np.float16 else 16) * float(np.finfo(dtype).eps)
    d = np.shape(x)[axis]
    r = ref_normalize(_f64(x), axis, eps)[1]
    gn = np.sqrt(np.sum(np.broadcast_to(_f64(g), np.shape(x)) ** 2, axis=axis, keepdims=True))
    with np.errstate(all="ignore"):
        return np.nan_to_num(k * max(1.0, math.sqrt(d / 256)) * r * gn, nan=0.0, posinf=0.0)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("d", [1, 7, 16, 33, 300, 2049])
def test_l2_normalize_grad_matches_the_reference(d, dtype):
    x, g = rand_pair(d, (9, d), dtype, -2, 2)
    x[0] = 0  # a zero vector: the clamped side, dx = g/√ε
    x[1] = 3e-7  # clamped too (|x|² < 1e-12) unless d is large
    got = ops.l2_normalize_grad(x, g)
    assert got.dtype == dtype and got.shape == x.shape
    want = ref_l2_normalize_grad(x, g)
    if dtype == np.float16:  # g/√ε is beyond float16's range: the clamped rows round to ±inf
        assert np.all(np.isinf(got[np.abs(want) > np.finfo(np.float16).max]))
        got, want, x, g = got[2:], want[2:], x[2:], g[2:]
    assert_close(got, want, l2_grad_tol(x, g, dtype=dtype), "l2_normalize_grad")


def test_l2_normalize_grad_layouts_axes_broadcast_and_out():
    x, g = rand_pair(4, (5, 6, 40), np.float64, -1, 1)
    want = ref_l2_normalize_grad(x, g, axis=1)
    got = ops.l2_normalize_grad(x, g, axis=1)
    assert_close(got, want, l2_grad_tol(x, g, 1, dtype=np.float64))
    xf, gf = np.asfortranarray(x), np.ascontiguousarray(g[:, ::-1, :])[:, ::-1, :]
    assert np.array_equal(ops.l2_normalize_grad(xf, gf, axis=1), got)  # any layout: the same bits
    out = np.empty_like(x)
    assert ops.l2_normalize_grad(x, g, axis=1, out=out) is out and np.array_equal(out, got)
    row = g[0, :, :1]  # upstream broadcast along the batch
    assert_close(
        ops.l2_normalize_grad(x, row, axis=1), ref_l2_normalize_grad(x, row, axis=1), l2_grad_tol(x, row, 1)
    )
    bad = x.copy()
    bad[2, 3, 0] = np.nan
    r = ops.l2_normalize_grad(bad, g, axis=1)
    assert np.isnan(r[2, :, 0]).all() and np.isfinite(np.delete(r[:, :, 0], 2, axis=0)).all()
    with pytest.raises(ValueError, match="broadcast"):
        ops.l2_normalize_grad(x, np.ones(7), axis=1)
    with pytest.raises(AxisError):
        ops.l2_normalize_grad(x, g, axis=3)
