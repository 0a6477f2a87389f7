"""swiftsim.ops against real TensorFlow / Keras computed in the same run.

* ``tf.nn.l2_normalize`` (ε = 1e-12 on the squared norm) ↔ ``ops.l2_normalize(..., epsilon=1e-12)``
* Keras 2 (``tf_keras``) ``losses.cosine_similarity``, negated ↔ ``ops.cosine_similarity(..., 1e-12)``
* Keras 3 ``keras.losses.cosine_similarity``, negated ↔ ``ops.cosine_similarity(..., 1e-14)``
* gradients of Σ u·cos via ``tf.GradientTape`` w.r.t. both inputs ↔ ``ops.cosine_similarity_grad``

Tolerances are those of docs/contract.md: values swiftsim._contract.value_tol; gradients 16·ε_dtype·Σ|u|·r
(32·ε for float16) with r = 1/max(|x|, √ε), summed back over broadcast rows.
Documented divergences (float16 zero vectors, overflowing squared norms, subnormals, float16 squares that
overflow or underflow in float16) are checked against the contract instead, each with a comment.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from swiftsim import ops
from swiftsim._contract import KERAS2_EPSILON as K2_EPS
from swiftsim._contract import KERAS3_EPSILON as K3_EPS
from swiftsim._contract import grad_tol_unit, value_tol

FLAVOURS = ["k2", "k3"]
EPS_OF = {"k2": K2_EPS, "k3": K3_EPS}


# ---------------------------------------------------------------------------------------------------------
# TensorFlow side
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfk(tf, tf_keras, keras3):
    """{flavour: negated-loss function on tf tensors} plus tf itself."""
    return {
        "tf": tf,
        "k2": lambda a, b, axis: -tf_keras.losses.cosine_similarity(a, b, axis=axis),
        "k3": lambda a, b, axis: -keras3.losses.cosine_similarity(a, b, axis=axis),
    }


def tf_cos(tfk, flavour, a, b, axis=-1):
    tf = tfk["tf"]
    return np.asarray(tfk[flavour](tf.constant(a), tf.constant(b), axis))


def tf_cos_grad(tfk, flavour, a, b, upstream=None, axis=-1):
    """(cos, d/da, d/db) of Σ u·cos with GradientTape."""
    tf = tfk["tf"]
    ta, tb = tf.constant(a), tf.constant(b)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(ta)
        tape.watch(tb)
        c = tfk[flavour](ta, tb, axis)
        u = tf.ones_like(c) if upstream is None else tf.cast(tf.constant(upstream), c.dtype)
        total = tf.reduce_sum(u * c)
    da, db = tape.gradient(total, [ta, tb])
    del tape
    return np.asarray(c), np.asarray(da), np.asarray(db)


# ---------------------------------------------------------------------------------------------------------
# Comparison helpers
# ---------------------------------------------------------------------------------------------------------


def _pad(shape: tuple, nd: int) -> tuple:
    return (1,) * (nd - len(shape)) + tuple(shape)


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _reduced_len(a, b, axis) -> int:
    nd = max(np.ndim(a), np.ndim(b), 1)
    return max(_pad(np.shape(a), nd)[axis], _pad(np.shape(b), nd)[axis])


def grad_tol(a, b, upstream, axis, eps, dtype):
    """16·ε_dtype·Σ|u|·r per element of (da, db), r = 1/max(|x|, √ε), summed back to each input's shape."""
    dtype = np.dtype(dtype)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    nd = max(a64.ndim, b64.ndim)
    ax = axis % nd
    pa, pb = a64.reshape(_pad(a64.shape, nd)), b64.reshape(_pad(b64.shape, nd))
    full = np.broadcast_shapes(pa.shape, pb.shape)
    d = full[ax] if full else 1
    k = grad_tol_unit(dtype, d)
    outer = full[:ax] + full[ax + 1 :]
    u = (
        np.ones(outer)
        if upstream is None
        else np.abs(np.broadcast_to(np.asarray(upstream, np.float64), outer))
    )
    u = np.expand_dims(u, ax)
    out = []
    for x0, x in ((a64, pa), (b64, pb)):
        with np.errstate(all="ignore"):
            r = 1.0 / np.sqrt(np.maximum(np.sum(x * x, axis=ax, keepdims=True), eps))
            fac = math.sqrt(d) if x.shape[ax] == 1 and d > 1 else 1.0  # size-1 reduced axis: Σ over ŷ
            t = _sum_to(np.broadcast_to(u * r, full), x.shape) * k * fac
        out.append(np.nan_to_num(t, nan=0.0, posinf=0.0).reshape(x0.shape))
    return out


def assert_close(got, want, tol, what="result"):
    """|got − want| ≤ tol elementwise; NaN exactly where TF has NaN."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, TF {want.shape}"
    g, w = got.astype(np.float64), want.astype(np.float64)
    nan_w, nan_g = np.isnan(w), np.isnan(g)
    assert np.array_equal(nan_g, nan_w), (
        f"{what}: NaN at {np.argwhere(nan_g).tolist()[:8]}, TF NaN at {np.argwhere(nan_w).tolist()[:8]}"
    )
    tol = np.broadcast_to(np.asarray(tol, np.float64), w.shape)
    with np.errstate(invalid="ignore"):
        err = np.where(nan_w, 0.0, np.abs(g - w))
    bad = ~(err <= tol)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())}/{w.size} out of tolerance; first at {i}: swiftsim {g[i]!r}, "
            f"TF {w[i]!r}, |diff| {err[i]:.3e} > {tol[i]:.3e}; max |diff| {np.nanmax(err):.3e}"
        )


def check_value(tfk, flavour, a, b, axis=-1):
    want = tf_cos(tfk, flavour, a, b, axis)
    got = ops.cosine_similarity(a, b, axis=axis, epsilon=EPS_OF[flavour])
    assert np.asarray(got).dtype == want.dtype
    assert_close(got, want, value_tol(want.dtype, _reduced_len(a, b, axis)), f"{flavour} cosine")
    return got, want


def check_grad(tfk, flavour, a, b, upstream=None, axis=-1):
    eps = EPS_OF[flavour]
    c, da, db = tf_cos_grad(tfk, flavour, a, b, upstream, axis)
    ga, gb = ops.cosine_similarity_grad(a, b, upstream, axis=axis, epsilon=eps)
    assert ga.dtype == da.dtype and gb.dtype == db.dtype
    ta, tb = grad_tol(a, b, upstream, axis, eps, da.dtype)
    assert_close(ga, da, ta, f"{flavour} d/dx1")
    assert_close(gb, db, tb, f"{flavour} d/dx2")
    return (ga, gb), (da, db)


def contract_grad(a, b, upstream=None, eps=K2_EPS):
    """The contract's closed form in float64 for same-shape 2-D inputs: r_x·(ŷ − [|x|² ≥ ε]·c·x̂)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    u = np.ones(a.shape[0]) if upstream is None else np.asarray(upstream, np.float64)
    with np.errstate(all="ignore"):
        sa, sb = (a * a).sum(1, keepdims=True), (b * b).sum(1, keepdims=True)
        ra, rb = 1 / np.sqrt(np.maximum(sa, eps)), 1 / np.sqrt(np.maximum(sb, eps))
        ah, bh = a * ra, b * rb
        c = (ah * bh).sum(1, keepdims=True)
        da = u[:, None] * ra * (bh - (sa >= eps) * c * ah)
        db = u[:, None] * rb * (ah - (sb >= eps) * c * bh)
    return da, db


def check_grad_vs_contract(a, b, upstream, eps):
    ga, gb = ops.cosine_similarity_grad(a, b, upstream, epsilon=eps)
    da, db = contract_grad(a, b, upstream, eps)
    ta, tb = grad_tol(a, b, upstream, -1, eps, ga.dtype)
    assert_close(ga, da, ta, "d/dx1 vs contract")
    assert_close(gb, db, tb, "d/dx2 vs contract")


def random_pair(seed, shape, dtype, lo=-3.0, hi=3.0):
    """Rows at mixed scales 10**U(lo, hi), plus parallel / antiparallel rows."""
    rng = np.random.default_rng(seed)
    sc = shape[:-1] + (1,)
    a = rng.standard_normal(shape) * 10.0 ** rng.uniform(lo, hi, sc)
    b = rng.standard_normal(shape) * 10.0 ** rng.uniform(lo, hi, sc)
    if len(shape) == 2 and shape[0] >= 4:
        b[0] = 2.0 * a[0]
        b[1] = -7.0 * a[1]
    return a.astype(dtype), b.astype(dtype)


# ---------------------------------------------------------------------------------------------------------
# tf.nn.l2_normalize
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, 1, 2, -2, None, (0, 2), (), (2, 1)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_l2_normalize_matches_tf_nn(tf, dtype, axis):
    x, _ = random_pair(1, (3, 4, 5), dtype)
    x[0, 0, :] = 0.0  # a zero vector along the last axis
    x[1, 1, :] = 3e-7  # a clamped one (norm < 1e-6)
    want = np.asarray(tf.nn.l2_normalize(tf.constant(x), axis=axis, epsilon=1e-12))
    got = ops.l2_normalize(x, axis=axis, epsilon=1e-12)
    assert got.dtype == want.dtype
    d = x.size if axis is None else int(np.prod([x.shape[i] for i in np.atleast_1d(axis)]))
    assert_close(got, want, value_tol(dtype, d), "l2_normalize")


@pytest.mark.parametrize(
    "shape,axis", [((7, 16, 2, 0), (2, 1)), ((0, 3), -1), ((4, 0, 2), (0, 2)), ((3, 0), ())]
)
def test_l2_normalize_of_empty_arrays_matches_tf_nn(tf, shape, axis):
    x = np.zeros(shape, np.float32)
    want = np.asarray(tf.nn.l2_normalize(tf.constant(x), axis=axis, epsilon=1e-12))
    got = ops.l2_normalize(x, axis=axis)
    assert got.shape == want.shape == shape and got.dtype == want.dtype


@pytest.mark.parametrize("d", [1, 3, 16, 17, 128, 300, 1024], ids=lambda d: f"D{d}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_l2_normalize_random_matches_tf_nn(tf, dtype, d):
    x, _ = random_pair(2 + d, (8, d), dtype)
    want = np.asarray(tf.nn.l2_normalize(tf.constant(x), axis=-1, epsilon=1e-12))
    assert_close(ops.l2_normalize(x), want, value_tol(dtype, d), "l2_normalize")


def test_l2_normalize_float16_well_defined_region(tf):
    # float16: tf.nn casts ε to float16 (→ 0) and squares in float16; compare only norms in [1, 100).
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 17))
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * 10 ** rng.uniform(0, 2, (16, 1))
    x = x.astype(np.float16)
    want = np.asarray(tf.nn.l2_normalize(tf.constant(x), axis=-1, epsilon=1e-12))
    assert_close(ops.l2_normalize(x), want, value_tol(np.float16, 17), "l2_normalize f16")


def test_l2_normalize_edge_rows_match_tf_nn(tf):
    x = np.array(
        [
            [0, 0, 0],
            [1e-7, 0, 0],
            [3e-7, 4e-7, 0],
            [1e-8, 0, 0],
            [np.nan, 1, 0],
            [1e19, 1e19, 0],
            [-2, 0, 1e-3],
        ],
        np.float32,
    )
    want = np.asarray(tf.nn.l2_normalize(tf.constant(x), axis=-1, epsilon=1e-12))
    assert_close(ops.l2_normalize(x), want, value_tol(np.float32, 3), "l2_normalize edge rows")


def test_l2_normalize_divergences_follow_the_contract(tf):
    # [inf, 0, 0]: TF computes inf·rsqrt(inf) = [nan, 0, 0]; the contract makes a vector holding NaN/Inf
    # NaN throughout. [1e20, 1e20, 0] (float32): TF's squared norm overflows → [0, 0, 0]; the contract
    # allows that or the exact unit vector, finite either way.
    x = np.array([[np.inf, 0, 0], [0, -np.inf, 1], [1e20, 1e20, 0], [1, 2, 2]], np.float32)
    want_tf = np.asarray(tf.nn.l2_normalize(tf.constant(x), axis=-1, epsilon=1e-12))
    assert not np.isnan(want_tf[0, 1:]).any()  # the divergence is real
    got = ops.l2_normalize(x)
    assert np.isnan(got[:2]).all()
    assert np.isfinite(got[2]).all()
    exact = np.array([math.sqrt(0.5), math.sqrt(0.5), 0.0])
    tol = value_tol(np.float32, 3)
    assert np.all(np.abs(got[2] - exact) <= tol) or np.all(np.abs(got[2]) <= tol), got[2]
    assert_close(got[3], want_tf[3], tol)


# ---------------------------------------------------------------------------------------------------------
# Random data, both Keras flavours
# ---------------------------------------------------------------------------------------------------------

RANDOM_D = [1, 3, 16, 17, 128, 300, 1024]


@pytest.mark.parametrize("d", RANDOM_D, ids=lambda d: f"D{d}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_random_values(tfk, flavour, dtype, d):
    a, b = random_pair(10 + d, (12, d), dtype)
    check_value(tfk, flavour, a, b)


@pytest.mark.parametrize("d", RANDOM_D, ids=lambda d: f"D{d}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_random_gradients(tfk, flavour, dtype, d):
    a, b = random_pair(20 + d, (12, d), dtype)
    u = np.random.default_rng(d).standard_normal(12).astype(dtype)
    check_grad(tfk, flavour, a, b, u)


@pytest.mark.parametrize("d", [3, 16, 17, 128], ids=lambda d: f"D{d}")
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_float16_where_tf_is_well_defined(tfk, flavour, d):
    # TF computes float16 in float16: compare only rows without zero vectors and with norms in [1, 100)
    # (so that no square underflows and no squared norm overflows 65504).
    rng = np.random.default_rng(30 + d)
    a, b = rng.standard_normal((2, 10, d))
    a = a / np.linalg.norm(a, axis=1, keepdims=True) * 10 ** rng.uniform(0, 2, (10, 1))
    b = b / np.linalg.norm(b, axis=1, keepdims=True) * 10 ** rng.uniform(0, 2, (10, 1))
    a, b = a.astype(np.float16), b.astype(np.float16)
    check_value(tfk, flavour, a, b)
    if d <= 8:  # §7: TF's own float16 gradient is only within 32·ε·r for small D (it drifts to ~300·ε·r)
        check_grad(tfk, flavour, a, b)


# ---------------------------------------------------------------------------------------------------------
# The edge-case table of docs/keras.md (each flavour against itself)
# ---------------------------------------------------------------------------------------------------------

E1 = [1.0, 0.0, 0.0]
EDGE_ROWS = {
    "zero_vs_b": ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]),
    "b_vs_zero": ([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]),
    "zero_vs_zero": ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    "tiny_1e-30": ([1e-30, 0.0, 0.0], E1),
    "clamp_5e-8": ([5e-8, 0.0, 0.0], E1),
    "clamp_1e-7": ([1e-7, 0.0, 0.0], E1),
    "clamp_5e-7": ([5e-7, 0.0, 0.0], E1),
    "clamp_2e-6": ([2e-6, 0.0, 0.0], E1),
    "clamp_3e-7_4e-7": ([3e-7, 4e-7, 0.0], [1.0, 1.0, 0.0]),
    "nan": ([np.nan, 1.0, 0.0], [1.0, 1.0, 1.0]),
    "inf": ([np.inf, 1.0, 0.0], [1.0, 1.0, 1.0]),
    "-inf": ([1.0, 1.0, 1.0], [0.0, -np.inf, 2.0]),
    "1e19": ([1e19, 1e19, 0.0], [1.0, 1.0, 0.0]),
    "antiparallel": ([1.0, -2.0, 3.0], [-2.0, 4.0, -6.0]),
    "orthogonal": ([1.0, 0.0, 0.0], [0.0, 5.0, 0.0]),
}


@pytest.mark.parametrize("row", list(EDGE_ROWS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_edge_row(tfk, flavour, dtype, row):
    ra, rb = EDGE_ROWS[row]
    # Each edge row sits between ordinary rows, which must stay unaffected.
    a = np.array([[1.0, 2.0, 2.0], ra, [0.5, -1.0, 0.25]], dtype)
    b = np.array([[2.0, -1.0, 1.0], rb, [1.0, 1.0, -1.0]], dtype)
    got, want = check_value(tfk, flavour, a, b)
    # The clamp region: also compare relatively, so that tiny values (1e-24 vs 1e-23) are distinguished.
    if np.isfinite(want[1]) and want[1] != 0:
        assert abs(got[1] - want[1]) <= 1e-5 * abs(want[1]) + value_tol(dtype, 3)
        if abs(want[1]) < 1e-6:
            assert abs(got[1] - want[1]) <= 1e-5 * abs(want[1])
    u = np.array([0.5, -3.0, 2.0], dtype)
    why = _grad_vs_contract(flavour, dtype, row)
    if why:  # TF's gradient is not the reference here (see GRAD_VS_CONTRACT); its value still is
        check_grad_vs_contract(a, b, None, EPS_OF[flavour])
        check_grad_vs_contract(a, b, u, EPS_OF[flavour])
    else:
        check_grad(tfk, flavour, a, b)
        check_grad(tfk, flavour, a, b, u)


# Edge rows whose TF gradient is compared with the contract's closed form instead of TF:
GRAD_VS_CONTRACT = {
    # float32 |x|² = 2e38: TF's rsqrt gradient s^(-3/2) ≈ 3.5e-58 underflows in float32, so TF loses the
    # radial term and gives r·ŷ ≈ 5e-20 where the exact gradient of parallel vectors is 0.
    ("*", np.float32, "1e19"): "TF float32 gradient underflow",
    # Exactly on Keras 3's boundary in float64: fl(1e-7²) = 9.999999999999998e-15 < 1e-14 (clamped here),
    # while K3 tests rsqrt(s) = 1e7 ≤ 1/1e-7 (not clamped). Values agree; only the one-sided gradient differs.
    ("k3", np.float64, "clamp_1e-7"): "on the K3 boundary",
}


def _grad_vs_contract(flavour, dtype, row):
    return GRAD_VS_CONTRACT.get((flavour, dtype, row)) or GRAD_VS_CONTRACT.get(("*", dtype, row))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_clamp_region_differs_between_flavours(tfk, dtype):
    # K2 and K3 give different answers for 1e-7 ≤ |a| < 1e-6; each epsilon reproduces its own flavour.
    a = np.array([[5e-8, 0, 0], [1e-7, 0, 0], [5e-7, 0, 0], [2e-6, 0, 0]], dtype)
    b = np.array([E1] * 4, dtype)
    k2, k3 = tf_cos(tfk, "k2", a, b), tf_cos(tfk, "k3", a, b)
    np.testing.assert_allclose(k2, [0.05, 0.1, 0.5, 1.0], rtol=1e-5)  # the table, as measured
    np.testing.assert_allclose(k3, [0.5, 1.0, 1.0, 1.0], rtol=1e-5)
    assert_close(ops.cosine_similarity(a, b), k2, value_tol(dtype, 3))
    assert_close(ops.cosine_similarity(a, b, epsilon=1e-14), k3, value_tol(dtype, 3))
    check_grad(tfk, "k2", a, b)
    if dtype == np.float32:
        check_grad(tfk, "k3", a, b)
    else:  # [1e-7, 0, 0] is exactly on K3's boundary in float64 (see GRAD_VS_CONTRACT)
        rows = [0, 2, 3]
        check_grad(tfk, "k3", a[rows], b[rows])
        check_grad_vs_contract(a, b, None, K3_EPS)


@pytest.mark.parametrize("shape", [(4, 0), (0, 3), (0, 0)], ids=str)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_empty_shapes(tfk, flavour, shape):
    a = np.ones(shape, np.float32)
    check_value(tfk, flavour, a, a)
    check_grad(tfk, flavour, a, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_d1_is_sign(tfk, flavour, dtype):
    a = np.array([[2.0], [-3.0], [0.5], [0.0], [3e-7]], dtype)
    b = np.array([[4.0], [5.0], [-0.25], [1.0], [1.0]], dtype)
    got, _ = check_value(tfk, flavour, a, b)
    np.testing.assert_array_equal(got[:3], np.array([1, -1, -1], dtype))
    check_grad(tfk, flavour, a, b)


# --- documented divergences: checked against the contract, not TF -------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_divergence_float16_zero_vector(tfk, flavour):
    # TF: NaN (ε underflows in float16). Contract: float16 accumulates in float32 → 0.
    a = np.array([[0, 0, 0], [1, 2, 3]], np.float16)
    b = np.array([[1, 2, 3], [1, 2, 3]], np.float16)
    tf_val = tf_cos(tfk, flavour, a, b)
    assert np.isnan(tf_val[0])  # the divergence is real
    got = ops.cosine_similarity(a, b, epsilon=EPS_OF[flavour])
    assert got.dtype == np.float16
    assert got[0] == 0
    assert_close(got[1:], tf_val[1:], value_tol(np.float16, 3))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_divergence_float16_squares_out_of_range(tfk, flavour):
    # TF squares in float16: [200, 200] → |x|² = inf → 0; [1e-3, 1e-3] → 0.9937; [1e-4, 0] → NaN.
    # Contract: float32 accumulation gives the exact value, 1.
    a = np.array([[200, 200], [1e-3, 1e-3], [1e-4, 0]], np.float16)
    b = np.array([[1, 1], [1, 1], [1, 0]], np.float16)
    tf_val = tf_cos(tfk, flavour, a, b)
    assert not np.allclose(tf_val.astype(np.float64), 1.0, atol=5e-3, equal_nan=False)
    got = ops.cosine_similarity(a, b, epsilon=EPS_OF[flavour])
    np.testing.assert_allclose(got.astype(np.float64), 1.0, atol=5e-3)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_divergence_float32_overflowing_squared_norm(tfk, flavour):
    # TF: |x|² overflows to inf, rsqrt(inf) = 0 → 0. Contract: TF's 0 or the exact value, finite.
    a = np.array([[1e20, 1e20, 0], [1e20, 1e20, 0], [1.0, 2.0, 3.0]], np.float32)
    b = np.array([[1, 1, 0], [1e20, 1e20, 0], [1.0, 2.0, 3.0]], np.float32)
    tf_val = tf_cos(tfk, flavour, a, b)
    np.testing.assert_array_equal(tf_val[:2], 0.0)  # TF's documented behaviour
    got = ops.cosine_similarity(a, b, epsilon=EPS_OF[flavour])
    assert np.isfinite(got).all()
    tol = value_tol(np.float32, 3)
    assert all(abs(g) <= tol or abs(g - 1.0) <= tol for g in got[:2]), got
    assert_close(got[2:], tf_val[2:], tol)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_divergence_float32_subnormals(tfk, flavour):
    # TF flushes float32 subnormals to zero; the contract's formula on the actual values gives
    # 1e-40·(1/√ε) ≈ 1e-34 (K2) / 1e-33 (K3). Both are 0 within the absolute value tolerance.
    a = np.array([[1e-40, 0, 0], [1e-40, 1e-40, 0]], np.float32)
    b = np.array([E1, [1e-40, 1e-40, 0]], np.float32)
    eps = EPS_OF[flavour]
    got = ops.cosine_similarity(a, b, epsilon=eps)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na = np.sqrt(np.maximum((a64 * a64).sum(1), eps))
    nb = np.sqrt(np.maximum((b64 * b64).sum(1), eps))
    exact = (a64 * b64).sum(1) / na / nb
    assert_close(got, exact, value_tol(np.float32, 3), "subnormal rows vs contract")
    assert_close(got, tf_cos(tfk, flavour, a, b), value_tol(np.float32, 3), "subnormal rows vs TF")


# ---------------------------------------------------------------------------------------------------------
# Broadcasting, axes, dtypes
# ---------------------------------------------------------------------------------------------------------

BROADCASTS = [((1, 6), (5, 6)), ((5, 6), (1, 6)), ((6,), (5, 6)), ((2, 1, 3), (1, 4, 3)), ((3, 1), (3, 4))]


@pytest.mark.parametrize("s1,s2", BROADCASTS, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_broadcasting(tfk, flavour, s1, s2):
    rng = np.random.default_rng(40)
    a = rng.standard_normal(s1).astype(np.float32)
    b = rng.standard_normal(s2).astype(np.float32)
    if s1 == (3, 1):
        a[2] = 0.0  # a clamped scalar: its gradient is Σŷ/√ε
    check_value(tfk, flavour, a, b)
    (ga, gb), _ = check_grad(tfk, flavour, a, b)
    assert ga.shape == s1 and gb.shape == s2
    full = np.broadcast_shapes(s1, s2)
    check_grad(tfk, flavour, a, b, rng.standard_normal(full[:-1]).astype(np.float32))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_axis_variants(tfk, flavour, dtype, axis):
    a, b = random_pair(50, (3, 4, 5), dtype, -1, 1)
    check_value(tfk, flavour, a, b, axis)
    c = np.asarray(tf_cos(tfk, flavour, a, b, axis))
    u = np.linspace(-1, 2, c.size).reshape(c.shape).astype(dtype)
    check_grad(tfk, flavour, a, b, u, axis)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_tf_tensors_are_accepted(tfk, flavour):
    tf = tfk["tf"]
    a, b = random_pair(60, (4, 9), np.float32)
    got = ops.cosine_similarity(tf.constant(a), tf.constant(b), epsilon=EPS_OF[flavour])
    assert_close(got, tf_cos(tfk, flavour, a, b), value_tol(np.float32, 9))


def test_k2_and_k3_agree_above_the_clamp(tfk):
    # Sanity of the setup (§1): with every norm ≥ 1e-6 the two flavours agree, and so do both epsilons.
    a, b = random_pair(70, (32, 64), np.float32, 0, 2)
    np.testing.assert_array_equal(tf_cos(tfk, "k2", a, b), tf_cos(tfk, "k3", a, b))
    assert_close(
        ops.cosine_similarity(a, b, epsilon=1e-12), tf_cos(tfk, "k3", a, b), value_tol(np.float32, 64)
    )


def test_k3_mixed_dtypes(tfk):
    # K3 casts y_true to y_pred's dtype (float64 out); swiftsim follows NumPy promotion (float64 as well).
    a, b = random_pair(80, (6, 17), np.float32)
    b = b.astype(np.float64)
    want = tf_cos(tfk, "k3", a, b)
    assert want.dtype == np.float64
    got = ops.cosine_similarity(a, b, epsilon=K3_EPS)
    assert got.dtype == np.float64
    assert_close(got, want, value_tol(np.float64, 17))
