"""bfloat16 (``ml_dtypes.bfloat16``) computed by the bfloat16 kernels: every op against a float64
reference of the same bfloat16 values (within one bfloat16 ulp, the contract's bound), the dtype rules
(bfloat16 in, bfloat16 out; promotion with other dtypes), no float32 copy of a bfloat16 input, the
same bits for any thread count, and Keras 3 run live on bfloat16 tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import swiftsim
from swiftsim import _validation, layers, losses, metrics, ops
from swiftsim._contract import KERAS3_EPSILON, grad_tol_unit, value_tol, widen

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
EPS = 1e-12


def ulp(x: np.ndarray) -> np.ndarray:
    """One bfloat16 ulp at each value's magnitude (normal range; the least subnormal below it)."""
    a = np.abs(np.asarray(x, np.float64))
    e = np.floor(np.log2(np.where(a >= 2.0**-126, a, 2.0**-126)))
    return 2.0 ** (e - 7)


def assert_within_one_ulp(got, want, what: str) -> None:
    got = np.asarray(got)
    assert got.dtype == BF16, f"{what}: dtype {got.dtype}, expected bfloat16"
    g = got.astype(np.float64)
    want = np.asarray(want, np.float64)
    assert g.shape == want.shape
    assert np.array_equal(np.isnan(g), np.isnan(want)), f"{what}: NaN positions differ"
    with np.errstate(invalid="ignore"):
        err = np.where(np.isnan(want), 0.0, np.abs(g - want))
    bad = ~(err <= ulp(want))
    assert not bad.any(), f"{what}: {int(bad.sum())} values beyond one ulp; max |diff| {err.max():.3e}"


def rows(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale).astype(BF16)


def f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def ref_norm(x: np.ndarray, eps: float = EPS) -> np.ndarray:
    return 1.0 / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), eps))


def ref_cos(a: np.ndarray, b: np.ndarray, eps: float = EPS) -> np.ndarray:
    a, b = f64(a), f64(b)
    return ((a * ref_norm(a, eps)) * (b * ref_norm(b, eps))).sum(-1)


def ref_pairwise(x: np.ndarray, y: np.ndarray, eps: float = EPS) -> np.ndarray:
    x, y = f64(x), f64(y)
    return (x * ref_norm(x, eps)) @ (y * ref_norm(y, eps)).T


# ---------------------------------------------------------------------------------------------------------
# Row-wise ops
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3, 16, 31, 128, 257, 768, 4096])
def test_cosine_is_within_one_ulp(d):
    a, b = rows(d, (64, d)), rows(d + 1, (64, d))
    b[::4] = a[::4]  # parallel rows: cosines at 1
    assert_within_one_ulp(ops.cosine_similarity(a, b), ref_cos(a, b), "cosine")


def test_strided_broadcast_and_size1_axis():
    a, b = rows(1, (6, 40, 2)), rows(2, (40, 1))
    got = ops.cosine_similarity(a, b, axis=1)  # (6, 2) against (1,): strided rows, broadcast
    want = ref_cos(np.moveaxis(a, 1, -1), np.moveaxis(np.broadcast_to(b, (6, 40, 2)), 1, -1))
    assert_within_one_ulp(got, want, "strided cosine")
    one = rows(3, (5, 1))
    x = rows(4, (5, 33))
    want1 = np.sign(f64(one)[:, 0]) * (f64(x) * ref_norm(f64(x))).sum(-1)
    got1 = ops.cosine_similarity(one, x)
    assert got1.dtype == BF16
    assert np.all(np.abs(f64(got1) - want1) <= ulp(want1))


@pytest.mark.parametrize("d", [1, 7, 64, 300])
def test_l2_normalize_is_within_one_ulp(d):
    x = rows(10 + d, (50, d), scale=3.0)
    x[0] = 0
    assert_within_one_ulp(ops.l2_normalize(x), f64(x) * ref_norm(f64(x)), "l2_normalize")
    out = np.empty_like(x)
    assert ops.l2_normalize(x, out=out) is out


def test_special_values():
    x = rows(5, (4, 20))
    x[1, 3] = np.nan
    x[2, 0] = np.inf
    x[3] = 0
    c = ops.cosine_similarity(x, rows(6, (4, 20)))
    assert c.dtype == BF16
    assert not np.isnan(f64(c)[0]) and np.isnan(f64(c)[1:3]).all() and f64(c)[3] == 0
    big = np.full((1, 8), 3e38, np.float32).astype(BF16)  # squares overflow float32: the exact cosine
    assert f64(ops.cosine_similarity(big, big))[0] == 1.0


@pytest.mark.parametrize("d", [2, 33, 500])
def test_gradients_are_within_the_contract(d):
    a, b = rows(20 + d, (40, d)), rows(21 + d, (40, d), scale=5.0)
    u = rows(22 + d, (40,))
    dx1, dx2 = ops.cosine_similarity_grad(a, b, u)
    assert dx1.dtype == dx2.dtype == BF16
    a64, b64, u64 = f64(a), f64(b), f64(u)[:, None]
    ra, rb = ref_norm(a64), ref_norm(b64)
    c = ref_cos(a64, b64)[:, None]
    tol = grad_tol_unit(BF16, d)
    for got, x, r, y, ry in ((dx1, a64, ra, b64, rb), (dx2, b64, rb, a64, ra)):
        want = u64 * r * (y * ry - c * x * r)
        assert np.all(np.abs(f64(got) - want) <= tol * np.abs(u64) * r + ulp(want)), "gradient"
    g = rows(23 + d, (40, d))
    dx = ops.l2_normalize_grad(a, g)
    xh = a64 * ra
    want = ra * (f64(g) - (xh * f64(g)).sum(-1, keepdims=True) * xh)
    assert dx.dtype == BF16
    assert np.all(np.abs(f64(dx) - want) <= tol * np.abs(f64(g)).max() * ra + ulp(want))


def test_losses_metrics_and_layers_stay_bfloat16():
    a, b = rows(30, (32, 48)), rows(31, (32, 48))
    want = ref_cos(a, b)
    per = losses.cosine_similarity(a, b)
    assert_within_one_ulp(per, -want, "losses.cosine_similarity")
    loss = losses.CosineSimilarity()
    value, grad = loss.value_and_gradient(a, b)
    assert np.asarray(value).dtype == BF16 and grad.dtype == BF16
    # the per-sample values are rounded to bfloat16 before the reduction: the contract's reduced-loss bound
    assert abs(float(value) + want.mean()) <= value_tol(BF16, 48) + ulp(want.mean())
    m = metrics.CosineSimilarity()
    m.update_state(a, b)
    assert abs(float(m.result()) - want.mean()) <= value_tol(BF16, 48)  # mean of the bfloat16 cosines
    dot = layers.Dot(axes=2, normalize=True)([rows(32, (2, 5, 16)), rows(33, (2, 7, 16))])
    assert dot.dtype == BF16


@pytest.mark.parametrize(
    "other, expected",
    [(np.float32, np.float32), (np.float16, np.float32), (np.float64, np.float64), (np.int32, np.float32)],
    ids=["float32", "float16", "float64", "int32"],
)
def test_promotion(other, expected):
    a, b = rows(40, (8, 24)), rows(41, (8, 24), scale=10.0)
    b2 = b.astype(other)
    got = ops.cosine_similarity(a, b2)
    assert got.dtype == expected
    assert ops.pairwise_cosine_similarity(a, b2).dtype == expected
    assert ops.top_k(a, b2, k=2)[0].dtype == expected
    want = ref_cos(f64(a), f64(b2))
    assert np.all(np.abs(f64(got) - want) <= value_tol(expected, 24))


def test_bfloat16_inputs_reach_the_kernels_without_a_copy():
    a, b = rows(50, (100, 64)), rows(51, (100, 64))
    pa, pb, _, dtype = _validation.prepare_pair(a, b, -1)
    assert dtype == BF16 and pa.dtype == BF16
    assert np.shares_memory(pa, a) and np.shares_memory(pb, b)
    assert _validation.native(a, BF16) is a
    a.flags.writeable = False  # read-only inputs are used as they are
    assert ops.cosine_similarity(a, b).dtype == BF16


# ---------------------------------------------------------------------------------------------------------
# All-pairs ops
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, m, d", [(1, 1, 1), (13, 37, 31), (50, 70, 300), (30, 200, 1000)])
def test_pairwise_is_within_one_ulp(n, m, d):
    x, y = rows(n, (n, d)), rows(m, (m, d))
    assert_within_one_ulp(ops.pairwise_cosine_similarity(x, y), ref_pairwise(x, y), "pairwise")
    p = ops.pairwise_cosine_similarity(x)
    assert np.array_equal(p.view(np.uint16), p.T.view(np.uint16))


def test_same_bits_for_any_thread_count():
    x, y = rows(60, (300, 200)), rows(61, (1000, 200))
    n = swiftsim.get_num_threads()
    try:
        swiftsim.set_num_threads(1)
        p1, (s1, i1) = ops.pairwise_cosine_similarity(x, y), ops.top_k(x, y, k=7)
        c1 = ops.cosine_similarity(y, y[::-1])
        swiftsim.set_num_threads(4)
        p4, (s4, i4) = ops.pairwise_cosine_similarity(x, y), ops.top_k(x, y, k=7)
        c4 = ops.cosine_similarity(y, y[::-1])
    finally:
        swiftsim.set_num_threads(n)
    assert np.array_equal(p1.view(np.uint16), p4.view(np.uint16))
    assert np.array_equal(s1.view(np.uint16), s4.view(np.uint16)) and np.array_equal(i1, i4)
    assert np.array_equal(c1.view(np.uint16), c4.view(np.uint16))


@pytest.mark.parametrize("nq", [1, 5, 300], ids=lambda q: f"q{q}")  # the streaming and the packed paths
def test_top_k_scores_are_pairwise_bits(nq):
    q, c = rows(70 + nq, (nq, 96)), rows(71, (2000, 96))
    scores, idx = ops.top_k(q, c, k=10)
    assert scores.dtype == BF16 and idx.dtype == np.int64
    p = ops.pairwise_cosine_similarity(q, c)
    assert np.array_equal(scores.view(np.uint16), np.take_along_axis(p, idx, 1).view(np.uint16))
    # ranked by the bfloat16 scores: descending, equal scores by increasing index, nothing better left out
    s = f64(scores)
    assert np.all((s[:, :-1] > s[:, 1:]) | ((s[:, :-1] == s[:, 1:]) & (idx[:, :-1] < idx[:, 1:])))
    kth = s[:, -1:]
    better = (f64(p) > kth).sum(1)
    assert np.all(better <= 10)
    excl = [np.asarray(idx[i, :3]) for i in range(nq)]
    s2, i2 = ops.top_k(q, c, k=10, exclude=excl)
    assert not any(np.isin(i2[i], excl[i]).any() for i in range(nq))
    assert np.array_equal(s2.view(np.uint16), np.take_along_axis(p, i2, 1).view(np.uint16))


@pytest.mark.parametrize("nq", [1, 2, 3, 5, 8, 9, 13, 25])
@pytest.mark.parametrize("d", [1, 31, 33, 64, 129, 200])
def test_top_k_streaming_gives_the_packed_bits(nq, d, monkeypatch):
    """Up to 256 queries stream the corpus (with vdpbf16ps: bfloat16 pairs transposed as 32-bit words,
    multiplied in registers for at most eight queries, through a slice of words and full micro-kernel
    tiles beyond); the scores must be those of the packed path and of pairwise_cosine_similarity, bit for
    bit, through every route: full and partial groups of rows, a last pair with one element, rows whose
    scale needs a power-of-two factor (tiny and overflowing ones), strided rows, and any thread count."""
    import swiftsim._pairwise as P

    q, c = rows(100 + nq, (nq, d)), rows(101 + d, (150, d))
    c[7] = (f64(c[7]) * 1e-25).astype(BF16)  # its scale exceeds √max: a factor
    c[40] = (f64(c[40]) * 1e30).astype(BF16)  # its squared norm overflows float32: a factor
    if d > 40:
        # ±2²⁰ that cancel around small values: the float32 sum, and so the bfloat16 score, depends on the
        # order of every step (a score rounded to bfloat16 would hide a changed order on ordinary rows)
        q[0] = 1
        c[10:30] = (f64(c[10:30]) * 2.0**-4).astype(BF16)
        c[10:30, 0], c[10:30, 33] = 2.0**20, -(2.0**20)
    strided = np.repeat(c, 2, axis=0)[::2]  # the same rows, two rows apart
    p = ops.pairwise_cosine_similarity(q, c)
    results = []
    for limit in (1 << 40, 0):  # streaming, then packed
        monkeypatch.setattr(P, "top_k_stream_queries", limit)
        for threads in (1, 3):
            n = swiftsim.get_num_threads()
            try:
                swiftsim.set_num_threads(threads)
                results += [ops.top_k(q, c, k=150), ops.top_k(q, strided, k=150)]
            finally:
                swiftsim.set_num_threads(n)
    for s, i in results:
        assert np.array_equal(s.view(np.uint16), np.take_along_axis(p, i, 1).view(np.uint16))
        assert np.array_equal(s.view(np.uint16), results[-1][0].view(np.uint16))
        assert np.array_equal(i, results[-1][1])


def test_top_k_exclude_self_and_merge():
    x = rows(80, (500, 64))
    s, i = ops.top_k(x, x, k=5, exclude_self=True)
    assert not (i == np.arange(500)[:, None]).any()
    parts = [ops.top_k(x[:50], x[:200], k=5), ops.top_k(x[:50], x[200:], k=5)]
    parts[1] = (parts[1][0], parts[1][1] + 200)
    ms, mi = ops.merge_top_k(parts, k=5)
    ws, wi = ops.top_k(x[:50], x, k=5)
    assert ms.dtype == BF16
    assert np.array_equal(ms.view(np.uint16), ws.view(np.uint16)) and np.array_equal(mi, wi)


def test_pairs_above():
    x = rows(90, (400, 32))
    x[200:210] = x[:10]
    r, c, s = ops.pairs_above(x, threshold=0.5)
    assert s.dtype == BF16
    p = ops.pairwise_cosine_similarity(x)
    assert np.array_equal(s.view(np.uint16), p[r, c].view(np.uint16))
    th = BF16.type(0.5)
    iu, ju = np.triu_indices(400, 1)
    want = f64(p)[iu, ju] >= float(th)
    assert np.array_equal(np.stack([r, c]), np.stack([iu[want], ju[want]]))


# ---------------------------------------------------------------------------------------------------------
# Keras 3 on bfloat16 tensors
# ---------------------------------------------------------------------------------------------------------


def keras_numpy(keras3, t) -> np.ndarray:
    """A Keras (TensorFlow backend) tensor as NumPy: ``.numpy()``, since ``np.array`` fails on a 0-d
    bfloat16 TensorFlow tensor."""
    return np.asarray(t.numpy())


@pytest.mark.parametrize("d", [8, 300, 2000])
def test_keras3_parity_on_bfloat16_tensors(keras3, d):
    """Keras computes in bfloat16 itself (its sums rounded at every step): it is within a few bfloat16
    ulps of the exact value, swiftsim within one; both come back in bfloat16."""
    a, b = rows(100 + d, (64, d)), rows(101 + d, (64, d))
    b[:8] = a[:8]
    ta, tb = keras3.ops.convert_to_tensor(a), keras3.ops.convert_to_tensor(b)
    assert keras3.backend.standardize_dtype(ta.dtype) == "bfloat16"
    k_cos = keras_numpy(keras3, -keras3.losses.cosine_similarity(ta, tb))
    ours = ops.cosine_similarity(a, b, epsilon=KERAS3_EPSILON)
    assert k_cos.dtype == ours.dtype == BF16
    tol = 8 * 2.0**-8 * widen(d)
    assert np.all(np.abs(f64(ours) - f64(k_cos)) <= tol)
    assert_within_one_ulp(ours, ref_cos(a, b, KERAS3_EPSILON), "cosine")
    k_norm = keras_numpy(keras3, keras3.ops.normalize(ta))
    n = ops.l2_normalize(a, epsilon=KERAS3_EPSILON)
    assert k_norm.dtype == n.dtype == BF16
    assert np.all(np.abs(f64(n) - f64(k_norm)) <= tol)
    k_loss = keras3.losses.CosineSimilarity(dtype="bfloat16")(ta, tb)
    loss = losses.CosineSimilarity(dtype="bfloat16", epsilon=KERAS3_EPSILON)(a, b)
    assert np.asarray(loss).dtype == BF16
    assert abs(float(loss) - float(keras_numpy(keras3, k_loss))) <= tol
    assert math.isfinite(float(loss))
