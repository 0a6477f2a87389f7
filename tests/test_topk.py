"""swiftsim.ops.top_k: both kernel paths, exclusions, padding, against brute-force float64 NumPy.

The kernel streams the corpus for few queries and packs it for many (``_pairwise.top_k_stream_queries``
forces one or the other); both must give the scores of ``pairwise_cosine_similarity`` bit for bit, the
same ranking (higher first, ties by lower index, NaN after numbers, padding last) and the same result
for any thread count. Shapes put tails in every dimension: the streaming kernel works in groups of 32
or 64 corpus rows (16 or 32 for float64), K blocks of 128 elements, panels of 12 queries (narrow tiles
of 1, 2, 4 and 8 for the rest).
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftsim
import swiftsim._pairwise as P
from swiftsim import _swiftsim as S
from swiftsim import ops
from swiftsim._contract import value_tol

DTYPES = [np.float16, np.float32, np.float64]
PATHS = {"stream": 1 << 40, "packed": 0}


@pytest.fixture
def threads():
    before = swiftsim.get_num_threads()
    yield swiftsim.set_num_threads
    swiftsim.set_num_threads(before)


@pytest.fixture(params=list(PATHS), ids=list(PATHS))
def path(request, monkeypatch):
    """Forces one kernel path for the test."""
    monkeypatch.setattr(P, "top_k_stream_queries", PATHS[request.param])
    return request.param


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def reference(q, c, eps=1e-12):
    """float64 cosines of every query with every corpus row (TF's rule, each squared norm floored)."""
    q, c = np.asarray(q, np.float64), np.asarray(c, np.float64)
    with np.errstate(all="ignore"):  # NaN and Inf rows give NaN
        rq = 1 / np.sqrt(np.maximum((q * q).sum(-1), eps))
        rc = 1 / np.sqrt(np.maximum((c * c).sum(-1), eps))
        return (q @ c.T) * rq[:, None] * rc[None, :]


def ranking(p, k, exclude=None):
    """The top-k corpus indices of each row of scores ``p``, padded with -1: higher first, ties by lower
    index, NaN after every number, the rows in ``exclude[i]`` left out."""
    out = np.full((p.shape[0], k), -1, np.int64)
    for i, row in enumerate(p):
        keep = np.setdiff1d(np.arange(row.size), [] if exclude is None else exclude[i])
        vals = row[keep].astype(np.float64)
        nan = np.isnan(vals)
        order = keep[np.lexsort((keep, np.where(nan, 0.0, -vals), nan))][:k]
        out[i, : order.size] = order
    return out


def check_against_pairwise(q, c, k, scores, idx, exclude=None, eps=1e-12):
    """idx is the ranking of the kernel's own pairwise scores (bitwise), padding is -1/NaN, and the scores
    are within the contract's tolerance of float64."""
    p = ops.pairwise_cosine_similarity(q, c, eps)
    want = ranking(p, k, exclude)
    np.testing.assert_array_equal(idx, want)
    real = want >= 0
    np.testing.assert_array_equal(scores[real], p[np.nonzero(real)[0], want[real]])
    assert np.isnan(scores[~real]).all()
    ref = reference(q, c, eps)
    tol = value_tol(scores.dtype, c.shape[1])
    got = scores[real].astype(np.float64)
    exact = ref[np.nonzero(real)[0], want[real]]
    finite = np.isfinite(exact)
    np.testing.assert_allclose(got[finite], exact[finite], rtol=0, atol=2 * tol)


# MARK: both paths against brute force


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize(
    "nq,n,d,k",
    [
        (1, 1, 1, 1),
        (1, 200, 768, 10),  # one query: wide groups, six K blocks
        (2, 130, 129, 7),  # a K-block tail of one element
        (3, 64, 17, 64),
        (4, 65, 48, 5),
        (5, 97, 300, 9),  # narrow 8-row tiles
        (8, 33, 16, 33),
        (13, 70, 5, 12),  # one full panel and a 1-row tile
        (30, 150, 64, 4),  # 12 + 12 + 6 → a narrow 8-row tile
    ],
)
def test_matches_brute_force(nq, n, d, k, dtype, path):
    rng = np.random.default_rng(nq * 1000 + n + d)
    q, c = rand(rng, (nq, d), dtype), rand(rng, (n, d), dtype)
    scores, idx = ops.top_k(q, c, k)
    assert scores.shape == idx.shape == (nq, k) and scores.dtype == np.dtype(dtype) and idx.dtype == np.int64
    check_against_pairwise(q, c, k, scores, idx)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("nq", [1, 2, 3, 4, 7, 8, 12, 17, 40])
def test_paths_and_thread_counts_give_the_same_bits(nq, dtype, threads, monkeypatch):
    rng = np.random.default_rng(nq)
    q, c = rand(rng, (nq, 200), dtype), rand(rng, (3000, 200), dtype)
    c[100:110] = c[5]  # exact ties inside and across groups
    results = []
    for limit in PATHS.values():
        monkeypatch.setattr(P, "top_k_stream_queries", limit)
        for t in (1, 2, 3):
            threads(t)
            results.append(ops.top_k(q, c, 25))
    for s, i in results[1:]:
        np.testing.assert_array_equal(s, results[0][0])
        np.testing.assert_array_equal(i, results[0][1])
    check_against_pairwise(q, c, 25, *results[0])


def test_ties_across_the_automatic_switch():
    """256 queries stream (at d=64), 257 are packed: the first 256 rows of both calls are the same bits, and
    ties (each corpus row repeated) go to the lower index on both sides."""
    rng = np.random.default_rng(3)
    base = rand(rng, (40, 64), np.float32)
    c = np.concatenate([base] * 30)  # 1200 rows, every score 30 times
    q = rand(rng, (257, 64), np.float32)
    s1, i1 = ops.top_k(q[:256], c, 70)
    s2, i2 = ops.top_k(q, c, 70)
    np.testing.assert_array_equal(s1, s2[:256])
    np.testing.assert_array_equal(i1, i2[:256])
    check_against_pairwise(q, c, 70, s2, i2)


def test_scaled_rows_and_tiny_epsilon(path):
    """Rows whose squared norm overflows float32, or whose scale exceeds √max under a tiny ε, are scaled by
    a power of two first: the same bits as pairwise on both paths."""
    rng = np.random.default_rng(4)
    c = rand(rng, (150, 130), np.float32)
    c[3] *= 1e37
    c[70] *= 1e-30
    c[80] = 0
    q = rand(rng, (2, 130), np.float32)
    q[1] *= 1e-25
    for eps in (1e-12, 1e-50):
        scores, idx = ops.top_k(q, c, 150, eps)
        p = ops.pairwise_cosine_similarity(q, c, eps)
        np.testing.assert_array_equal(idx, ranking(p, 150))
        np.testing.assert_array_equal(scores, np.take_along_axis(p, idx, 1))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
def test_assume_normalized_is_the_plain_dot_product(dtype, path):
    rng = np.random.default_rng(5)
    q, c = rand(rng, (3, 40), np.float64), rand(rng, (300, 40), np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    q, c = q.astype(dtype), c.astype(dtype)
    s, i = ops.top_k(q, c, 8, assume_normalized=True)
    s2, i2 = ops.top_k(q, 2 * c, 8, assume_normalized=True)  # not renormalised: the scores double
    np.testing.assert_array_equal(i, i2)
    np.testing.assert_allclose(
        s2.astype(np.float64), 2 * s.astype(np.float64), rtol=1e-2 if dtype == np.float16 else 1e-6
    )
    ref = q.astype(np.float64) @ c.astype(np.float64).T
    np.testing.assert_allclose(
        s.astype(np.float64), np.sort(ref, axis=1)[:, ::-1][:, :8], rtol=0, atol=2 * value_tol(dtype, 40)
    )


def test_layouts(path):
    rng = np.random.default_rng(6)
    c = rand(rng, (140, 50), np.float32)
    q = rand(rng, (3, 50), np.float32)
    want = ops.top_k(q, c, 6)
    for name, view in {
        "fortran": np.asfortranarray(c),
        "reversed rows": c[::-1].copy()[::-1],
        "strided": np.repeat(c, 2, axis=1)[:, ::2],
        "padded rows": np.pad(c, ((0, 0), (0, 3)))[:, :50],
    }.items():
        got = ops.top_k(q, view, 6)
        np.testing.assert_array_equal(got[1], want[1], err_msg=name)
        np.testing.assert_array_equal(got[0], want[0], err_msg=name)


# MARK: fewer candidates than k


def test_k_above_n_pads_with_minus_one_and_nan(path):
    rng = np.random.default_rng(7)
    q, c = rand(rng, (3, 8), np.float64), rand(rng, (5, 8), np.float64)
    s, i = ops.top_k(q, c, 9)
    assert s.shape == i.shape == (3, 9)
    np.testing.assert_array_equal(i[:, 5:], -1)
    assert np.isnan(s[:, 5:]).all() and np.isfinite(s[:, :5]).all()
    check_against_pairwise(q, c, 9, s, i)
    s1, i1 = ops.top_k(q[0], c, 6)  # one 1-D query
    np.testing.assert_array_equal(i1, i[0, :6])


def test_nan_rows_rank_after_numbers_and_before_padding(path):
    rng = np.random.default_rng(8)
    c = rand(rng, (70, 6), np.float32)
    c[[3, 17, 40]] = np.nan
    c[20, 2] = np.inf
    q = rand(rng, (2, 6), np.float32)
    s, i = ops.top_k(q, c, 75)
    np.testing.assert_array_equal(i[:, 66:70], [[3, 17, 20, 40]] * 2)
    np.testing.assert_array_equal(i[:, 70:], -1)
    assert np.isnan(s[:, 66:]).all() and np.isfinite(s[:, :66]).all()
    check_against_pairwise(q, c, 75, s, i)


def test_empty_corpus_is_all_padding():
    s, i = ops.top_k(np.ones((2, 3)), np.ones((0, 3)), 4)
    np.testing.assert_array_equal(i, -1)
    assert np.isnan(s).all() and s.dtype == np.float64


# MARK: exclusions


def test_exclusions_are_skipped_inside_the_selection(path, threads):
    rng = np.random.default_rng(9)
    nq, n = 6, 400
    q, c = rand(rng, (nq, 32), np.float32), rand(rng, (n, 32), np.float32)
    full = ops.pairwise_cosine_similarity(q, c)
    best = ranking(full, 10)
    lists = [
        [],  # nothing excluded
        best[1],  # the ten best: the next ten come back, no over-fetching needed
        np.setdiff1d(np.arange(n), [5, 77, 300]),  # every row but three: three results, then padding
        [399, 0, 399, 7, 7],  # unsorted, repeated
        np.arange(0, n, 2),
        np.array([], np.int64),
    ]
    for t in (1, 2):
        threads(t)
        s, i = ops.top_k(q, c, 10, exclude=lists)
        check_against_pairwise(q, c, 10, s, i, exclude=lists)
        assert sorted(i[2, :3]) == [5, 77, 300] and (i[2, 3:] == -1).all()
        assert not np.isin(i[1], best[1]).any()


def test_exclude_self_is_the_diagonal(path):
    rng = np.random.default_rng(10)
    x = rand(rng, (90, 20), np.float32)
    s, i = ops.top_k(x, x, 5, exclude_self=True)
    assert (i != np.arange(90)[:, None]).all()
    check_against_pairwise(x, x, 5, s, i, exclude=[[r] for r in range(90)])
    # Combined with lists; more queries than corpus rows (query 95 has no row 95 to skip).
    q = rand(rng, (96, 20), np.float32)
    lists = [[0, 1]] * 96
    s, i = ops.top_k(q, x, 5, exclude=lists, exclude_self=True)
    check_against_pairwise(q, x, 5, s, i, exclude=[[0, 1, r] for r in range(96)])


def test_exclude_as_csr(path):
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(11)
    q, c = rand(rng, (4, 16), np.float64), rand(rng, (50, 16), np.float64)
    rows = [[3, 9], [], list(range(48)), [49]]
    dense = np.zeros((4, 50))
    for r, cols in enumerate(rows):
        dense[r, cols] = 1
    for matrix in (sparse.csr_array(dense), sparse.csr_matrix(dense), sparse.coo_array(dense)):
        s, i = ops.top_k(q, c, 4, exclude=matrix)
        check_against_pairwise(q, c, 4, s, i, exclude=rows)
    # Stored entries count, whatever their value; unsorted and repeated indices are accepted.
    m = sparse.csr_array(
        (np.array([0.0, 5.0, 1.0]), np.array([9, 3, 9]), np.array([0, 3, 3, 3, 3])), shape=(4, 50)
    )
    s, i = ops.top_k(q, c, 4, exclude=m)
    check_against_pairwise(q, c, 4, s, i, exclude=[[3, 9], [], [], []])
    with pytest.raises(ValueError, match=r"shape \(queries, corpus rows\) = \(4, 50\), got \(4, 49\)"):
        ops.top_k(q, c, 4, exclude=sparse.csr_array(dense[:, :49]))


def test_exclude_for_one_1d_query():
    c = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    s, i = ops.top_k(np.array([1.0, 0.0]), c, 3, exclude=[0, 0])
    np.testing.assert_array_equal(i, [1, 2, -1])
    assert np.isnan(s[2])


@pytest.mark.parametrize(
    "exclude,error,match",
    [
        ([[0], [5]], ValueError, r"query 1 excludes corpus row 5, outside \[0, 5\)"),
        ([[-1], []], ValueError, r"query 0 excludes corpus row -1"),
        ([[0]], ValueError, "one array of corpus rows per query: 2 queries, 1 arrays"),
        ([[0], [1], [2]], ValueError, "2 queries, 3 arrays"),
        ([[[0, 1]], []], ValueError, r"exclude\[0\] must be a 1-D array"),
        ([[0.5], []], TypeError, r"exclude\[0\] must hold integers"),
        ([[True], []], TypeError, r"exclude\[0\] must hold integers"),
        (3, TypeError, "sequence of integer arrays"),
        ("01", TypeError, "sequence of integer arrays"),
    ],
)
def test_bad_exclusions(exclude, error, match):
    with pytest.raises(error, match=match):
        ops.top_k(np.ones((2, 3)), np.ones((5, 3)), 2, exclude=exclude)


def test_exclusion_flags_and_k():
    q, c = np.ones((2, 3)), np.ones((5, 3))
    with pytest.raises(TypeError, match="exclude_self must be a bool"):
        ops.top_k(q, c, 2, exclude_self=1)
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        ops.top_k(q, c, 0)


# MARK: the shim checks the exclusion arrays again


@pytest.mark.parametrize(
    "indptr,indices,error,match",
    [
        ([1, 1, 1], [], ValueError, "must start at 0"),
        ([0, 2, 1], [0], ValueError, "non-decreasing"),
        ([0, 2, 2], [1, 1], ValueError, "strictly increasing"),
        ([0, 1, 1], [5], ValueError, r"in \[0, 5\), got 5"),
        ([0, 1], [0], ValueError, r"shape \(2,\), expected \(3,\)"),
        ([0, 1, 1], [0.0], TypeError, "int64"),
    ],
)
def test_shim_refuses_bad_exclusion_arrays(indptr, indices, error, match):
    q, c = np.ones((2, 3)), np.ones((5, 3))
    s, i = np.empty((2, 2)), np.empty((2, 2), np.int64)
    ip = np.array(indptr, np.int64)
    ix = np.array(indices, np.int64 if error is ValueError else np.float64)
    with pytest.raises(error, match=match):
        S.top_k(q, c, s, i, 1e-12, False, ip, ix, False, 0)


def test_shim_method_and_argument_count():
    q, c = np.ones((2, 3)), np.ones((5, 3))
    s, i = np.empty((2, 2)), np.empty((2, 2), np.int64)
    with pytest.raises(ValueError, match="method must be"):
        S.top_k(q, c, s, i, 1e-12, False, None, None, False, 3)
    with pytest.raises(TypeError, match="6 or 10 arguments"):
        S.top_k(q, c, s, i, 1e-12, False, None)
    with pytest.raises(TypeError, match="both be arrays or both None"):
        S.top_k(q, c, s, i, 1e-12, False, np.zeros(3, np.int64), None, False, 0)
    S.top_k(q, c, s, i, 1e-12, False, None, None, True, 1)
    np.testing.assert_array_equal(i, [[1, 2], [0, 2]])
