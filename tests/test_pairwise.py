"""swiftsim.ops.pairwise_cosine_similarity, pairwise_chunks and top_k against float64 NumPy references.

The kernels tile by 12 rows of x, 32 (float32/16) or 16 (float64) rows of y and 256 elements of d, and
stream the top-k corpus in blocks, so the shapes below put tails in every dimension.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftsim
from swiftsim import ops
from swiftsim._contract import value_tol

DTYPES = [np.float16, np.float32, np.float64]
# (n, m, d): 1×1, single rows, exact tile multiples, tails everywhere, several K blocks (d > 256).
SHAPES = [
    (1, 1, 1),
    (1, 7, 3),
    (7, 1, 3),
    (12, 32, 16),
    (13, 33, 17),
    (24, 16, 256),
    (25, 65, 257),
    (37, 70, 600),
]


def reference(x, y, eps=1e-12):
    """float64 cosine of every row pair, TF's rule: (x·y) / (sqrt(max(|x|², ε)) · sqrt(max(|y|², ε)))."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    rx = 1 / np.sqrt(np.maximum((x * x).sum(-1), eps))
    ry = 1 / np.sqrt(np.maximum((y * y).sum(-1), eps))
    return (x @ np.swapaxes(y, -1, -2)) * rx[..., :, None] * ry[..., None, :]


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def threads():
    """Sets the thread count for one test and restores it afterwards."""
    before = swiftsim.get_num_threads()
    yield swiftsim.set_num_threads
    swiftsim.set_num_threads(before)


@pytest.fixture
def budget():
    before = swiftsim.config.working_memory
    yield swiftsim.config
    swiftsim.config.working_memory = before


# MARK: pairwise values


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_pairwise_matches_reference(shape, dtype):
    n, m, d = shape
    rng = np.random.default_rng(n * 1000 + m * 10 + d)
    x, y = rand(rng, (n, d), dtype), rand(rng, (m, d), dtype)
    got = ops.pairwise_cosine_similarity(x, y)
    assert got.shape == (n, m) and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, reference(x, y), rtol=0, atol=value_tol(dtype, d))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("n,d", [(1, 5), (13, 17), (45, 300), (140, 33)])
def test_symmetric_path_is_exact_and_agrees_with_asymmetric(n, d, dtype):
    rng = np.random.default_rng(n + d)
    x = rand(rng, (n, d), dtype)
    sym = ops.pairwise_cosine_similarity(x)
    asym = ops.pairwise_cosine_similarity(x, x.copy())
    np.testing.assert_array_equal(sym, sym.T)
    np.testing.assert_array_equal(sym, asym)  # bitwise: the FMA chain and r_i·r_j are symmetric
    np.testing.assert_allclose(sym, reference(x, x), rtol=0, atol=value_tol(dtype, d))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
def test_zero_nan_and_inf_rows(dtype):
    rng = np.random.default_rng(1)
    x, y = rand(rng, (15, 40), dtype), rand(rng, (35, 40), dtype)
    x[2] = 0
    y[3] = 0
    x[5, 7] = np.nan
    y[30, 1] = np.inf
    x[9, 0] = -np.inf
    got = ops.pairwise_cosine_similarity(x, y)
    bad_rows, bad_cols = [5, 9], [30]
    assert np.isnan(got[bad_rows]).all() and np.isnan(got[:, bad_cols]).all()
    good = np.setdiff1d(np.arange(15), bad_rows)
    good_cols = np.setdiff1d(np.arange(35), bad_cols)
    sub = got[np.ix_(good, good_cols)]
    assert np.isfinite(sub).all()
    np.testing.assert_array_equal(got[2, good_cols], 0)  # a zero vector gives 0 (float16 too)
    np.testing.assert_array_equal(got[good, 3], 0)
    ref = reference(x[good], y[good_cols])
    np.testing.assert_allclose(sub, ref, rtol=0, atol=value_tol(dtype, 40))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_rows_whose_squared_norm_overflows_are_exact(dtype):
    big = np.finfo(dtype).max / 4
    x = np.array([[big, big, 0.0], [1.0, 2.0, 3.0]], dtype)
    y = np.array([[big, 0.0, big], [1.0, 1.0, 0.0], [3.0, 0.0, 4.0]], dtype)
    got = ops.pairwise_cosine_similarity(x, y)
    want = reference(x / np.abs(x).max(-1, keepdims=True), y / np.abs(y).max(-1, keepdims=True))
    np.testing.assert_allclose(got, want, rtol=0, atol=value_tol(dtype, 3))


def test_epsilon_floor_and_keras3_epsilon():
    x = np.array([[1e-4, 0.0], [3.0, 4.0]], np.float64)  # |x|² = 1e-8
    for eps in (1e-12, 1e-6, 1e-14):
        np.testing.assert_allclose(
            ops.pairwise_cosine_similarity(x, epsilon=eps), reference(x, x, eps), atol=1e-12
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
def test_empty_sizes(dtype):
    assert ops.pairwise_cosine_similarity(np.ones((0, 3), dtype), np.ones((4, 3), dtype)).shape == (0, 4)
    assert ops.pairwise_cosine_similarity(np.ones((2, 3), dtype), np.ones((0, 3), dtype)).shape == (2, 0)
    np.testing.assert_array_equal(ops.pairwise_cosine_similarity(np.ones((2, 0), dtype)), np.zeros((2, 2)))


# MARK: batches, layouts, dtypes


@pytest.mark.parametrize(
    "xs,ys",
    [
        ((2, 3, 13, 20), (3, 17, 20)),
        ((1, 9, 20), (4, 33, 20)),
        ((5, 12, 20), (12, 20)),
        ((16, 7, 20), (16, 9, 20)),
    ],
)
def test_batched_broadcasting(xs, ys, threads):
    rng = np.random.default_rng(len(xs) + xs[-2])
    x, y = rand(rng, xs, np.float32), rand(rng, ys, np.float32)
    for t in (1, 2):
        threads(t)
        got = ops.pairwise_cosine_similarity(x, y)
        ref = reference(x, y)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)


def test_batched_symmetric():
    x = rand(np.random.default_rng(2), (6, 20, 9), np.float64)
    got = ops.pairwise_cosine_similarity(x)
    np.testing.assert_array_equal(got, np.swapaxes(got, -1, -2))
    np.testing.assert_allclose(got, reference(x, x), atol=1e-12)


def test_any_memory_layout():
    rng = np.random.default_rng(3)
    base = rand(rng, (40, 30), np.float64)
    y = rand(rng, (20, 30), np.float64)
    ref = reference(base, y)
    layouts = {
        "fortran": np.asfortranarray(base),
        "negative": base[::-1][::-1],
        "strided": np.repeat(base, 2, axis=1)[:, ::2],
        "reversed_features": np.ascontiguousarray(base[:, ::-1])[:, ::-1],
        "byteswapped": base.astype(base.dtype.newbyteorder()),
    }
    for name, x in layouts.items():
        np.testing.assert_allclose(ops.pairwise_cosine_similarity(x, y), ref, atol=1e-12, err_msg=name)
    ro = base.copy()
    ro.flags.writeable = False
    np.testing.assert_allclose(ops.pairwise_cosine_similarity(ro, y), ref, atol=1e-12)


def test_dtype_policy():
    xi = np.arange(12).reshape(3, 4)
    assert ops.pairwise_cosine_similarity(xi).dtype == np.float32
    assert ops.pairwise_cosine_similarity(xi > 3).dtype == np.float32
    assert ops.pairwise_cosine_similarity(xi.astype(np.float32), xi.astype(np.float64)).dtype == np.float64
    assert ops.pairwise_cosine_similarity(xi.astype(np.float16), xi.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(ops.pairwise_cosine_similarity(xi.tolist()), reference(xi, xi), atol=2e-6)
    with pytest.raises(TypeError, match="dtype"):
        ops.pairwise_cosine_similarity(np.array([["a", "b"]]))


def test_thread_count_does_not_change_a_bit(threads):
    rng = np.random.default_rng(4)
    x, y = rand(rng, (150, 300), np.float32), rand(rng, (230, 300), np.float32)
    xb, yb = rand(rng, (9, 40, 64), np.float32), rand(rng, (9, 50, 64), np.float32)
    q, c = rand(rng, (50, 64), np.float32), rand(rng, (3000, 64), np.float32)
    results = []
    for t in (1, 2, 3):
        threads(t)
        results.append(
            (
                ops.pairwise_cosine_similarity(x, y),
                ops.pairwise_cosine_similarity(x),
                ops.pairwise_cosine_similarity(xb, yb),
                *ops.top_k(q, c, 7),
            )
        )
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


# MARK: out= and the working-memory budget


def test_out_parameter():
    rng = np.random.default_rng(5)
    x, y = rand(rng, (10, 8), np.float32), rand(rng, (6, 8), np.float32)
    out = np.full((10, 6), 7.0, np.float32)
    assert ops.pairwise_cosine_similarity(x, y, out=out) is out
    np.testing.assert_array_equal(out, ops.pairwise_cosine_similarity(x, y))
    with pytest.raises(ValueError, match=r"shape \(6, 10\), expected \(10, 6\)"):
        ops.pairwise_cosine_similarity(x, y, out=np.empty((6, 10), np.float32))
    with pytest.raises(TypeError, match="dtype float64, expected float32"):
        ops.pairwise_cosine_similarity(x, y, out=np.empty((10, 6)))
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.pairwise_cosine_similarity(x, y, out=np.empty((6, 10), np.float32).T)
    ro = np.empty((10, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        ops.pairwise_cosine_similarity(x, y, out=ro)
    with pytest.raises(TypeError, match="ndarray"):
        ops.pairwise_cosine_similarity(x, y, out=[[0.0] * 6] * 10)


def test_out_may_alias_an_input():
    x = np.random.default_rng(6).standard_normal((5, 5))
    want = ops.pairwise_cosine_similarity(x)
    assert ops.pairwise_cosine_similarity(x, out=x) is x
    np.testing.assert_array_equal(x, want)


def test_working_memory_refusal(budget):
    x = np.ones((100, 4), np.float32)
    budget.working_memory = 100 * 100 * 4 - 1
    with pytest.raises(
        ValueError, match=r"shape \(100, 100\) and dtype float32 would take 40000 bytes"
    ) as err:
        ops.pairwise_cosine_similarity(x)
    assert "working-memory budget of 39999 bytes" in str(err.value) and "pairwise_chunks" in str(err.value)
    out = np.empty((100, 100), np.float32)
    assert ops.pairwise_cosine_similarity(x, out=out) is out  # out= is never refused
    budget.working_memory = 40000
    assert ops.pairwise_cosine_similarity(x).shape == (100, 100)


def test_default_budget_and_validation(budget):
    assert budget.working_memory == 4 << 30
    with pytest.raises(ValueError, match="positive"):
        budget.working_memory = 0
    with pytest.raises(TypeError, match="integer"):
        budget.working_memory = 1.5
    with pytest.raises(TypeError, match="integer"):
        budget.working_memory = True
    big = np.broadcast_to(np.ones((1, 4), np.float32), (40000, 4))
    with pytest.raises(ValueError, match="6.0 GiB"):  # 40000² float32 > 4 GiB, refused before allocating
        ops.pairwise_cosine_similarity(big)


def test_errors():
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(4,\)"):
        ops.pairwise_cosine_similarity(np.ones(4))
    with pytest.raises(ValueError, match=r"same number of features.*\(3, 4\) and \(2, 5\)"):
        ops.pairwise_cosine_similarity(x, np.ones((2, 5)))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        ops.pairwise_cosine_similarity(np.ones((2, 3, 4)), np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match="epsilon"):
        ops.pairwise_cosine_similarity(x, epsilon=-1.0)


# MARK: pairwise_chunks


@pytest.mark.parametrize("wm", [1, 4 * 37, 4 * 37 * 10, 1 << 20])
def test_chunks_cover_the_matrix(wm):
    rng = np.random.default_rng(7)
    x, y = rand(rng, (53, 12), np.float32), rand(rng, (37, 12), np.float32)
    full = ops.pairwise_cosine_similarity(x, y)
    covered = np.zeros(53, int)
    expected_rows = max(1, min(53, wm // (37 * 4)))
    for rows, block in ops.pairwise_chunks(x, y, working_memory=wm):
        assert block.shape == (rows.stop - rows.start, 37) and block.dtype == np.float32
        assert block.shape[0] <= expected_rows
        np.testing.assert_array_equal(block, full[rows])
        covered[rows] += 1
    np.testing.assert_array_equal(covered, 1)


def test_chunks_default_budget_symmetric_and_batched(budget):
    rng = np.random.default_rng(8)
    x = rand(rng, (3, 20, 6), np.float64)
    budget.working_memory = 3 * 20 * 8 * 4  # four rows per block
    blocks = list(ops.pairwise_chunks(x))
    assert [b.shape for _, b in blocks] == [(3, 4, 20)] * 5
    np.testing.assert_allclose(np.concatenate([b for _, b in blocks], axis=1), reference(x, x), atol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        ops.pairwise_chunks(x, working_memory=-5)  # validated when called, not when iterated
    with pytest.raises(ValueError, match="same number of features"):
        ops.pairwise_chunks(x, np.ones((2, 7)))


# MARK: top_k


def reference_top_k(q, c, k, eps=1e-12):
    s = reference(q, c, eps)
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, 1), idx


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize(
    "nq,n,d,k",
    [(1, 1, 1, 1), (5, 3, 4, 3), (13, 40, 17, 5), (30, 33, 300, 33), (12, 2600, 16, 10), (3, 70, 9, 70)],
)
def test_top_k_matches_reference(nq, n, d, k, dtype):
    rng = np.random.default_rng(nq + n + d + k)
    q, c = rand(rng, (nq, d), dtype), rand(rng, (n, d), dtype)
    scores, idx = ops.top_k(q, c, k)
    assert scores.shape == idx.shape == (nq, k) and scores.dtype == np.dtype(dtype) and idx.dtype == np.int64
    # Exactly the stable argsort of the kernel's own pairwise matrix (same kernel, same bits) ...
    full = ops.pairwise_cosine_similarity(q, c)
    want_idx = np.argsort(-full.astype(np.float64), axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(scores, np.take_along_axis(full, want_idx, 1))
    # ... and within tolerance of the float64 ranking (robust to near-ties).
    ref_scores, _ = reference_top_k(q, c, k)
    tol = value_tol(dtype, d)
    np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=2 * tol)
    np.testing.assert_allclose(np.take_along_axis(reference(q, c), idx, 1), ref_scores, rtol=0, atol=2 * tol)


def test_top_k_ties_break_by_lower_index(threads):
    rng = np.random.default_rng(9)
    base = rand(rng, (8, 5), np.float32)
    corpus = np.concatenate([base] * 400)  # 3200 rows, each value 400 times: ties across blocks and threads
    q = rand(rng, (4, 5), np.float32)
    for t in (1, 2):
        threads(t)
        scores, idx = ops.top_k(q, corpus, 1000)
        full = ops.pairwise_cosine_similarity(q, corpus)
        np.testing.assert_array_equal(idx, np.argsort(-full, axis=1, kind="stable")[:, :1000])
        assert (np.diff(scores, axis=1) <= 0).all()
        for row_s, row_i in zip(scores, idx, strict=True):
            for v in np.unique(row_s):
                same = row_i[row_s == v]
                assert (np.diff(same) > 0).all()


def test_top_k_nan_ranks_last():
    rng = np.random.default_rng(10)
    c = rand(rng, (50, 6), np.float64)
    c[[3, 17, 40]] = np.nan
    c[20, 2] = np.inf
    q = rand(rng, (3, 6), np.float64)
    scores, idx = ops.top_k(q, c, 50)
    np.testing.assert_array_equal(idx[:, -4:], [[3, 17, 20, 40]] * 3)
    assert np.isnan(scores[:, -4:]).all() and np.isfinite(scores[:, :-4]).all()
    scores, idx = ops.top_k(q, c, 5)
    assert not np.isin(idx, [3, 17, 20, 40]).any()
    qn = q.copy()
    qn[1, 0] = np.nan
    scores, idx = ops.top_k(qn, c, 4)
    assert np.isnan(scores[1]).all()
    np.testing.assert_array_equal(idx[1], [0, 1, 2, 3])


def test_top_k_zero_rows_and_duplicates():
    c = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    scores, idx = ops.top_k(np.array([[3.0, 0.0], [0.0, 0.0]]), c, 5)
    np.testing.assert_array_equal(idx, [[1, 2, 0, 3, 4], [0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(scores, [[1, 1, 0, 0, -1], [0, 0, 0, 0, 0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
def test_top_k_assume_normalized(dtype):
    rng = np.random.default_rng(11)
    q, c = rand(rng, (7, 20), np.float64), rand(rng, (90, 20), np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    q, c = q.astype(dtype), c.astype(dtype)
    s1, i1 = ops.top_k(q, c, 9, assume_normalized=True)
    ref_s, _ = reference_top_k(q, c, 9)
    np.testing.assert_allclose(s1, ref_s, rtol=0, atol=2 * value_tol(dtype, 20))
    # Without normalising, scores are raw dot products: scaling the corpus scales them.
    s2, i2 = ops.top_k(q, 2 * c, 9, assume_normalized=True)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(
        s2.astype(np.float64), 2 * s1.astype(np.float64), rtol=1e-2 if dtype == np.float16 else 1e-6
    )


def test_top_k_single_query_layouts_and_dtypes():
    rng = np.random.default_rng(12)
    c = rand(rng, (64, 10), np.float32)
    q = rand(rng, (10,), np.float32)
    s, i = ops.top_k(q, c, 4)
    s2, i2 = ops.top_k(q[None], np.asfortranarray(c)[::-1][::-1], 4)
    assert s.shape == i.shape == (4,)
    np.testing.assert_array_equal(i, i2[0])
    np.testing.assert_array_equal(s, s2[0])
    s3, _ = ops.top_k(q.astype(np.float64), c, 4)
    assert s3.dtype == np.float64
    s4, _ = ops.top_k(np.arange(10), c, 4)
    assert s4.dtype == np.float32
    s5, i5 = ops.top_k(np.empty((0, 10)), c, 4)
    assert s5.shape == i5.shape == (0, 4)


def test_top_k_errors():
    q, c = np.ones((2, 3)), np.ones((5, 3))
    with pytest.raises(ValueError, match="at least 1, got 0"):
        ops.top_k(q, c, 0)
    with pytest.raises(TypeError, match="k must be an integer"):
        ops.top_k(q, c, 2.0)
    with pytest.raises(TypeError, match="k must be an integer"):
        ops.top_k(q, c, True)
    with pytest.raises(ValueError, match=r"same number of features.*\(2, 3\) and \(5, 4\)"):
        ops.top_k(q, np.ones((5, 4)), 2)
    with pytest.raises(ValueError, match=r"corpus must have shape \(n, d\)"):
        ops.top_k(q, np.ones(3), 1)
    with pytest.raises(ValueError, match="queries must have shape"):
        ops.top_k(np.ones((1, 2, 3)), c, 1)
    with pytest.raises(TypeError, match="assume_normalized"):
        ops.top_k(q, c, 1, assume_normalized="yes")


def test_top_k_memory_is_bounded():
    """One 1-D query against a corpus whose score row alone would be 8 MiB: nothing of O(q·n) is made."""
    import tracemalloc

    c = np.broadcast_to(np.linspace(-1, 1, 8)[None], (1 << 20, 8))  # no corpus memory either
    tracemalloc.start()
    s, i = ops.top_k(np.ones(8), c, 3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(i, [0, 1, 2])
    assert peak < 1 << 20


# MARK: Keras parity


def test_keras3_dot_normalize(keras3):
    rng = np.random.default_rng(13)
    a, b = rand(rng, (4, 9, 24), np.float32), rand(rng, (4, 9, 24), np.float32)
    a[1, 2] = 0  # a zero vector: Keras 3 gives 0 as well
    want = np.asarray(keras3.layers.Dot(axes=2, normalize=True)([a, b]))
    got = ops.pairwise_cosine_similarity(a, b, epsilon=1e-14)
    assert got.shape == want.shape == (4, 9, 9)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_tf_matmul_of_normalized(tf):
    rng = np.random.default_rng(14)
    x, y = rand(rng, (20, 300), np.float32), rand(rng, (31, 300), np.float32)
    nx, ny = tf.math.l2_normalize(x, axis=1), tf.math.l2_normalize(y, axis=1)
    want = tf.matmul(nx, ny, transpose_b=True).numpy()
    np.testing.assert_allclose(
        ops.pairwise_cosine_similarity(x, y), want, rtol=0, atol=value_tol(np.float32, 300)
    )


@pytest.mark.parametrize("d", [768, 4096])
def test_float32_error_does_not_grow_with_d_on_correlated_rows(d):
    """Constant rows (whose rounding errors never cancel) stay within 2e-6·sqrt(d/256) of 1: each dot
    product is a fixed sum of 128-long FMA chains, not one chain over all of d."""
    tol = value_tol(np.float32, d)
    for v in (0.1, 0.3, 0.9047776, np.pi, 7.7):
        x = np.full((200, d), np.float32(v))
        p = ops.pairwise_cosine_similarity(x)
        assert np.abs(p.astype(np.float64) - 1).max() <= tol, (v, np.abs(p - 1).max())
        s, _ = ops.top_k(x[:5], x, 3)
        assert np.abs(s.astype(np.float64) - 1).max() <= tol, (v, s)
        q = ops.pairwise_cosine_similarity(x[:13], x[7:40])  # the asymmetric path
        assert np.abs(q.astype(np.float64) - 1).max() <= tol
