"""swiftsim.ops.merge_top_k and pairs_above against float64 NumPy brute force, and against the kernels'
own pairwise and top_k results, bit for bit.

The shard tests build every shard's expected result themselves (``top_k`` with ``k = min(k, rows)``,
padded with -1/NaN where a shard is smaller than ``k``), so they hold whether or not ``top_k`` pads.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import swiftsim
from swiftsim import _swiftsim, ops
from swiftsim._contract import value_tol
from tests.test_abuse import RNG, retype, run_case

DTYPES = [np.float16, np.float32, np.float64]
dtype_ids = pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)


def reference(x, y, eps=1e-12):
    """float64 cosine of every row pair: (x·y) / (sqrt(max(|x|², ε)) · sqrt(max(|y|², ε)))."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and Inf rows give NaN
        rx = 1 / np.sqrt(np.maximum((x * x).sum(-1), eps))
        ry = 1 / np.sqrt(np.maximum((y * y).sum(-1), eps))
        return (x @ y.T) * rx[:, None] * ry[None, :]


def ranked(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k best: descending, ties to the lower index, NaN last (by index)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def padded(scores: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A (q, k') result padded to k columns with NaN scores and index -1."""
    q, have = scores.shape
    s = np.full((q, k), np.nan, scores.dtype)
    i = np.full((q, k), -1, np.int64)
    s[:, :have], i[:, :have] = scores, indices
    return s, i


def shard_results(queries, corpus, k, cuts):
    """The top_k of each shard corpus[a:b] (k capped at its rows), indices made global."""
    parts = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        s, i = ops.top_k(queries, corpus[a:b], min(k, b - a))
        parts.append((s, i + a))
    return parts


def tied_corpus(dtype, n_base=30, d=7, seed=0):
    """Rows 0..n_base, then copies of the first rows (exact ties across shards), a NaN row, an Inf
    row and a zero row; and queries, one equal to a corpus row."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_base, d))
    base[4] = np.nan
    base[11, 2] = np.inf
    base[13] = 0.0
    corpus = np.vstack([base, base[:17], base[:6]]).astype(dtype)
    queries = rng.standard_normal((6, d)).astype(dtype)
    queries[1] = corpus[3]
    return queries, corpus


@pytest.fixture
def threads():
    before = swiftsim.get_num_threads()
    yield swiftsim.set_num_threads
    swiftsim.set_num_threads(before)


@pytest.fixture
def budget():
    before = swiftsim.config.working_memory
    yield swiftsim.config
    swiftsim.config.working_memory = before


# MARK: merge_top_k


CUTS = {
    "one": [0, 53],
    "uneven": [0, 2, 9, 10, 31, 53],
    "all_smaller_than_k": [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 53],
    "singletons_then_rest": [0, 1, 2, 3, 53],
}


@dtype_ids
@pytest.mark.parametrize("cuts", list(CUTS), ids=str)
@pytest.mark.parametrize("k", [1, 5, 12])
def test_merge_of_shards_is_the_whole_top_k_bitwise(dtype, cuts, k):
    queries, corpus = tied_corpus(dtype)
    parts = shard_results(queries, corpus, k, CUTS[cuts])
    scores, idx = ops.merge_top_k(parts, k)
    want_s, want_i = ops.top_k(queries, corpus, k)
    assert scores.dtype == np.dtype(dtype) and idx.dtype == np.int64 and scores.shape == (6, k)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_array_equal(scores.view(np.uint8), want_s.view(np.uint8))  # the bits
    # Against float64 brute force: the same ranking up to near-ties, the scores within tolerance.
    ref = reference(queries, corpus)
    ref_best = np.take_along_axis(ref, ranked(ref, k), 1)
    tol = 2 * value_tol(dtype, 7)
    finite = np.isfinite(ref_best)
    np.testing.assert_allclose(scores.astype(np.float64)[finite], ref_best[finite], rtol=0, atol=tol)
    np.testing.assert_allclose(np.take_along_axis(ref, idx, 1)[finite], ref_best[finite], rtol=0, atol=tol)


@dtype_ids
def test_merge_pads_when_the_corpus_is_smaller_than_k(dtype):
    queries, corpus = tied_corpus(dtype)
    n = corpus.shape[0]
    parts = shard_results(queries, corpus, 80, CUTS["uneven"])
    scores, idx = ops.merge_top_k(parts, 80)
    want_s, want_i = padded(*ops.top_k(queries, corpus, n), 80)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_array_equal(scores, want_s)
    assert (idx[:, n:] == -1).all() and np.isnan(scores[:, n:]).all()
    # Padded parts (as a padding top_k returns them) merge the same way.
    again = ops.merge_top_k([padded(s, i, 80) for s, i in parts], 80)
    np.testing.assert_array_equal(again[1], want_i)
    np.testing.assert_array_equal(again[0], want_s)


def test_merge_ties_across_shards_go_to_the_lower_index(threads):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((8, 5)).astype(np.float32)
    corpus = np.concatenate([base] * 300)  # every score 300 times, in every shard
    q = rng.standard_normal((40, 5)).astype(np.float32)
    cuts = [0, 7, 500, 501, 1999, 2400]
    for t in (1, 2):
        threads(t)
        parts = shard_results(q, corpus, 700, cuts)
        s, i = ops.merge_top_k(parts[::-1], 700)  # the parts' order does not matter
        np.testing.assert_array_equal(i, ops.top_k(q, corpus, 700)[1])
        full = ops.pairwise_cosine_similarity(q, corpus)
        np.testing.assert_array_equal(i, ranked(full.astype(np.float64), 700))
        np.testing.assert_array_equal(s, np.take_along_axis(full, i, 1))


def test_merge_orders_unsorted_parts_nan_and_padding():
    nan = np.nan
    a = (np.array([[0.5, nan, 0.9, 0.5]]), np.array([[8, 2, 4, 1]]))
    b = (np.array([[0.9, nan, nan, -1.0]]), np.array([[3, -1, 0, 6]]))
    s, i = ops.merge_top_k([a, b], 9)
    np.testing.assert_array_equal(i, [[3, 4, 1, 8, 6, 0, 2, -1, -1]])
    np.testing.assert_array_equal(s[0, :5], [0.9, 0.9, 0.5, 0.5, -1.0])
    assert np.isnan(s[0, 5:]).all()
    s, i = ops.merge_top_k([a, b], 2)
    np.testing.assert_array_equal(i, [[3, 4]])


def test_merge_one_query_parts_of_any_layout_and_integer_indices():
    queries, corpus = tied_corpus(np.float64)
    q = queries[2]
    parts = shard_results(q, corpus, 6, CUTS["uneven"])
    s, i = ops.merge_top_k(parts, 6)
    ws, wi = ops.top_k(q, corpus, 6)
    assert s.shape == i.shape == (6,)
    np.testing.assert_array_equal(i, wi)
    np.testing.assert_array_equal(s, ws)
    # Strided, reversed, Fortran-ordered, big-endian and int32 parts: the same merge.
    parts2 = shard_results(queries, corpus, 6, CUTS["uneven"])
    odd = []
    for p, (sc, ix) in enumerate(parts2):
        if p == 0:
            sc, ix = np.asfortranarray(sc), np.asfortranarray(ix)
        elif p == 1:
            sc, ix = np.repeat(sc, 2, axis=1)[:, ::2], ix.astype(np.int32)
        elif p == 2:
            sc, ix = sc.astype(sc.dtype.newbyteorder()), ix.astype(np.uint16)
        elif p == 3:
            sc, ix = sc[:, ::-1], ix[:, ::-1]  # reversed: unsorted
        odd.append((sc, ix.tolist() if p == 4 else ix))
    s2, i2 = ops.merge_top_k(odd, 6)
    np.testing.assert_array_equal(i2, ops.top_k(queries, corpus, 6)[1])
    np.testing.assert_array_equal(s2, ops.top_k(queries, corpus, 6)[0])
    empty = ops.merge_top_k([(np.empty((0, 3)), np.empty((0, 3), np.int64))], 4)
    assert empty[0].shape == empty[1].shape == (0, 4)


def test_merge_many_queries_is_the_same_on_any_thread_count(threads):
    rng = np.random.default_rng(2)
    q = 5000
    parts = [
        (
            (np.round(rng.standard_normal((q, kk)) * 8) / 8).astype(np.float32),  # many exact ties
            rng.integers(0, 10**6, (q, kk)),
        )
        for kk in (10, 3, 10, 1)
    ]
    results = []
    for t in (1, 2, 3):
        threads(t)
        results.append(ops.merge_top_k(parts, 10))
    for s, i in results[1:]:
        np.testing.assert_array_equal(s, results[0][0])
        np.testing.assert_array_equal(i, results[0][1])
    s_all = np.concatenate([p[0] for p in parts], 1).astype(np.float64)
    i_all = np.concatenate([p[1] for p in parts], 1)
    order = np.lexsort((i_all, -s_all), axis=1)[:, :10]
    np.testing.assert_array_equal(results[0][1], np.take_along_axis(i_all, order, 1))


@pytest.mark.parametrize(
    "parts,k,error,match",
    [
        ([], 3, ValueError, "parts is empty"),
        ("abc", 3, TypeError, "sequence of"),
        (np.ones((2, 3)), 3, TypeError, "sequence of"),
        ([np.ones((2, 3))], 3, TypeError, r"parts\[0\] must be a \(scores, indices\) pair, got ndarray"),
        ([(np.ones((2, 3)),)], 3, TypeError, "of length 1"),
        (
            [(np.ones((2, 3), int), np.zeros((2, 3), int))],
            3,
            TypeError,
            "scores of parts.0. have dtype int64",
        ),
        ([(np.ones((2, 3)), np.zeros((2, 3)))], 3, TypeError, "indices of parts.0. have dtype float64"),
        ([(np.ones((2, 3)), np.zeros((2, 3), np.uint64))], 3, TypeError, "uint64"),
        (
            [(np.ones((2, 3)), np.zeros((2, 4), int))],
            3,
            ValueError,
            r"\(2, 3\) but indices of shape \(2, 4\)",
        ),
        ([(np.ones((1, 2, 3)), np.zeros((1, 2, 3), int))], 3, ValueError, r"expected \(q, k\) or \(k,\)"),
        (
            [(np.ones((2, 3)), np.zeros((2, 3), int)), (np.ones((2, 3), np.float32), np.zeros((2, 3), int))],
            3,
            TypeError,
            "float64 scores but parts.1. has float32",
        ),
        (
            [(np.ones((2, 3)), np.zeros((2, 3), int)), (np.ones((4, 3)), np.zeros((4, 3), int))],
            3,
            ValueError,
            r"2 queries .* has 4",
        ),
        ([(np.ones((2, 3)), np.zeros((2, 3), int)), (np.ones(3), np.zeros(3, int))], 3, ValueError, "1-D"),
        ([(np.ones(3), np.zeros(3, int))], 0, ValueError, "at least 1"),
        ([(np.ones(3), np.zeros(3, int))], True, TypeError, "bool"),
        ([(np.ones(3), np.zeros(3, int))], 2.0, TypeError, "integer"),
        ([(np.ones(3), np.array([0, -2, 1]))], 2, ValueError, "index below -1"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_merge_errors(parts, k, error, match):
    with pytest.raises(error, match=match):
        ops.merge_top_k(parts, k)


def test_merge_shim_checks_again():
    s, i = np.ones((2, 3)), np.zeros((2, 3), np.int64)
    out_s, out_i = np.empty((2, 2)), np.empty((2, 2), np.int64)
    with pytest.raises(TypeError, match="sequence"):
        _swiftsim.merge_top_k(5, [i], out_s, out_i)
    with pytest.raises(ValueError, match="as many indices parts"):
        _swiftsim.merge_top_k([s], [], out_s, out_i)
    with pytest.raises(TypeError, match="scores part 0 has dtype float32"):
        _swiftsim.merge_top_k([s.astype(np.float32)], [i], out_s, out_i)
    with pytest.raises(TypeError, match="indices part 0 must have dtype int64"):
        _swiftsim.merge_top_k([s], [i.astype(np.int32)], out_s, out_i)
    with pytest.raises(ValueError, match=r"indices part 0 has shape \(2, 4\), expected \(2, 3\)"):
        _swiftsim.merge_top_k([s], [np.zeros((2, 4), np.int64)], out_s, out_i)
    with pytest.raises(ValueError, match=r"scores part 0 has shape \(3, 3\)"):
        _swiftsim.merge_top_k([np.ones((3, 3))], [np.zeros((3, 3), np.int64)], out_s, out_i)
    with pytest.raises(ValueError, match="C-contiguous"):
        _swiftsim.merge_top_k([s], [i], np.empty((2, 2)).T, out_i)
    with pytest.raises(ValueError, match="writeable"):
        ro = np.empty((2, 2))
        ro.flags.writeable = False
        _swiftsim.merge_top_k([s], [i], ro, out_i)
    with pytest.raises(ValueError, match="at least 1"):
        _swiftsim.merge_top_k([s], [i], np.empty((2, 0)), np.empty((2, 0), np.int64))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        _swiftsim.merge_top_k([[1.0, 2.0]], [i], out_s, out_i)


# MARK: pairs_above


def pairs_of(matrix: np.ndarray, threshold, upper: bool = False):
    """(rows, cols, scores) of ``matrix >= threshold`` in row-major order (the strict upper triangle)."""
    keep = matrix >= threshold
    if upper:
        keep &= np.triu(np.ones(matrix.shape, bool), 1)
    r, c = np.nonzero(keep)
    return r, c, matrix[r, c]


def check_against_float64(rows, cols, scores, ref, threshold, dtype, d, upper=False):
    """Brute force in float64: every pair clearly above the threshold is there, none clearly below,
    and each score is within the contract's tolerance of its float64 cosine."""
    tol = value_tol(dtype, d)
    got = set(zip(rows.tolist(), cols.tolist(), strict=True))
    sure, _, _ = pairs_of(ref, threshold + tol, upper)
    sure_c = pairs_of(ref, threshold + tol, upper)[1]
    assert set(zip(sure.tolist(), sure_c.tolist(), strict=True)) <= got
    maybe_r, maybe_c, _ = pairs_of(ref, threshold - tol, upper)
    assert got <= set(zip(maybe_r.tolist(), maybe_c.tolist(), strict=True))
    if len(rows):
        np.testing.assert_allclose(scores.astype(np.float64), ref[rows, cols], rtol=0, atol=tol)


@dtype_ids
@pytest.mark.parametrize("shape", [(1, 1, 1), (13, 33, 17), (25, 65, 257), (40, 70, 5)], ids=str)
@pytest.mark.parametrize("threshold", [-1.0, 0.0, 0.35, 0.9])
def test_pairs_above_is_the_filtered_pairwise_matrix(dtype, shape, threshold):
    n, m, d = shape
    rng = np.random.default_rng(n + m + d)
    x = rng.standard_normal((n, d)).astype(dtype)
    y = rng.standard_normal((m, d)).astype(dtype)
    y[m // 2] = x[n // 2]  # an exact duplicate
    rows, cols, scores = ops.pairs_above(x, y, threshold=threshold)
    assert rows.dtype == cols.dtype == np.int64 and scores.dtype == np.dtype(dtype)
    full = ops.pairwise_cosine_similarity(x, y)
    want = pairs_of(full, full.dtype.type(threshold))
    np.testing.assert_array_equal(rows, want[0])
    np.testing.assert_array_equal(cols, want[1])
    np.testing.assert_array_equal(scores.view(np.uint8), want[2].view(np.uint8))
    check_against_float64(rows, cols, scores, reference(x, y), threshold, dtype, d)


@dtype_ids
@pytest.mark.parametrize("n,d", [(1, 3), (2, 3), (45, 9), (140, 33)])
def test_pairs_above_without_y_is_the_upper_triangle(dtype, n, d):
    rng = np.random.default_rng(n * d)
    x = rng.standard_normal((n, d)).astype(dtype)
    if n > 40:
        x[30] = x[7]  # duplicates: ties
        x[31] = x[7]
        x[12] = np.nan  # in no pair
        x[13] = 0.0  # cosine 0 with everything
    rows, cols, scores = ops.pairs_above(x, threshold=0.0)
    assert (rows < cols).all()
    full = ops.pairwise_cosine_similarity(x)
    want = pairs_of(full, 0.0, upper=True)
    np.testing.assert_array_equal(rows, want[0])
    np.testing.assert_array_equal(cols, want[1])
    np.testing.assert_array_equal(scores, want[2])
    check_against_float64(rows, cols, scores, reference(x, x), 0.0, dtype, d, upper=True)
    if n > 40:
        assert 12 not in rows and 12 not in cols
        assert {(7, 30), (7, 31), (30, 31)} <= set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_pairs_above_thresholds_and_special_values():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 4))
    x[5, 1] = np.nan
    n_ok = 19 * 18 // 2
    assert len(ops.pairs_above(x, threshold=-np.inf)[0]) == n_ok  # every pair without the NaN row
    assert len(ops.pairs_above(x, threshold=np.inf)[0]) == 0
    assert len(ops.pairs_above(x, threshold=1.5)[0]) == 0
    # The threshold is rounded to the dtype: a float32 score equal to float32(0.95) is kept.
    v = np.array([[1.0, 0.0], [0.95, np.sqrt(1 - 0.95**2)]], np.float32)
    s = ops.pairwise_cosine_similarity(v)[0, 1]
    rows, _, scores = ops.pairs_above(v, threshold=float(s))
    assert len(rows) == 1 and scores[0] == s
    assert len(ops.pairs_above(v, threshold=float(np.nextafter(s, np.float32(2))))[0]) == 0
    # Zero rows have cosine 0: kept by a threshold of 0; d = 0 is all zero rows.
    z = np.zeros((3, 4))
    assert len(ops.pairs_above(z, threshold=0.0)[0]) == 3
    r, c, sc = ops.pairs_above(np.zeros((3, 0)), np.zeros((2, 0)), threshold=0.0)
    np.testing.assert_array_equal(r, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(sc, 0)


def test_pairs_above_dtypes_layouts_and_empty_inputs():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((30, 12))
    want = ops.pairs_above(base, threshold=0.2)
    layouts = {
        "fortran": np.asfortranarray(base),
        "negative": base[::-1][::-1],
        "strided": np.repeat(base, 2, axis=1)[:, ::2],
        "byteswapped": base.astype(base.dtype.newbyteorder()),
        "list": base.tolist(),
    }
    for name, x in layouts.items():
        got = ops.pairs_above(x, threshold=0.2)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert ops.pairs_above(np.arange(12).reshape(3, 4), threshold=0.5)[2].dtype == np.float32
    mixed = ops.pairs_above(base.astype(np.float32), base.astype(np.float16), threshold=0.5)
    assert mixed[2].dtype == np.float32
    for x, y in [(np.empty((0, 3)), None), (np.ones((1, 3)), None), (np.ones((2, 3)), np.empty((0, 3)))]:
        r, c, s = ops.pairs_above(x, y, threshold=0.0)
        assert r.shape == c.shape == s.shape == (0,)


def test_pairs_above_is_the_same_on_any_thread_count(threads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((700, 64)).astype(np.float32)
    y = rng.standard_normal((900, 64)).astype(np.float32)
    results = []
    for t in (1, 2, 3):
        threads(t)
        results.append((ops.pairs_above(x, y, threshold=0.3), ops.pairs_above(x, threshold=0.3)))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            for u, v in zip(a, b, strict=True):
                np.testing.assert_array_equal(u, v)
    assert len(results[0][0][0]) > 100


def test_pairs_above_grows_its_buffers_across_passes():
    """More pairs than the first buffers hold, found in more than one pass of rows: the buffers grow
    and the kernel resumes where the first pass that did not fit began."""
    rng = np.random.default_rng(6)
    angles = rng.uniform(0, 2 * np.pi, 5000)
    x = np.stack([np.cos(angles), np.sin(angles)], 1)
    rows, cols, scores = ops.pairs_above(x, threshold=0.999)
    assert len(rows) > 2 * (1 << 16)
    want_r, want_c = [], []
    for sl, block in ops.pairwise_chunks(x, working_memory=1 << 24):
        r, c = np.nonzero(
            (block >= 0.999) & (np.arange(5000)[None, :] > np.arange(sl.start, sl.stop)[:, None])
        )
        want_r.append(r + sl.start)
        want_c.append(c)
    np.testing.assert_array_equal(rows, np.concatenate(want_r))
    np.testing.assert_array_equal(cols, np.concatenate(want_c))
    np.testing.assert_array_equal(scores, ops.pairwise_cosine_similarity(x)[rows, cols])


def test_pairs_above_working_memory_refusal(budget):
    x = np.ones((100, 4), np.float32)  # 4950 pairs, all with cosine 1
    budget.working_memory = 4950 * 20 - 1
    fits = r"^pairs_above: the pairs with cosine >= 0.5 do not fit the working-memory budget of 98999 bytes"
    with pytest.raises(ValueError, match=fits) as err:
        ops.pairs_above(x, threshold=0.5)
    message = str(err.value)
    assert "4949 pairs of 20 bytes" in message and "found so far" in message
    assert int(message.split(" found so far")[0].split()[-1]) > 4949
    assert "raise the threshold" in message and "working_memory" in message
    budget.working_memory = 4950 * 20
    assert len(ops.pairs_above(x, threshold=0.5)[0]) == 4950
    budget.working_memory = 1  # no room for one pair: fine while there is none
    assert len(ops.pairs_above(x, threshold=1.5)[0]) == 0


def test_pairs_above_memory_is_bounded():
    """16384 rows (a 1 GiB float32 matrix): the result's buffers and nothing of O(n·m)."""
    import tracemalloc

    x = np.broadcast_to(np.linspace(-1, 1, 8, dtype=np.float32)[None], (1 << 14, 8))
    tracemalloc.start()
    rows, _, _ = ops.pairs_above(x, threshold=1.5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(rows) == 0
    assert peak < 4 << 20


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"threshold": np.nan}, ValueError, "threshold must be a number"),
        ({"threshold": True}, TypeError, "threshold must be a real number, got bool"),
        ({"threshold": "0.9"}, TypeError, "threshold must be a real number"),
        ({"threshold": 0.5, "epsilon": -1.0}, ValueError, "epsilon"),
        (
            {"threshold": 0.5, "y": np.ones((2, 5))},
            ValueError,
            r"same number of features.*\(3, 4\) and \(2, 5\)",
        ),
        ({"threshold": 0.5, "y": np.ones(4)}, ValueError, r"y must have shape \(rows, features\)"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_pairs_above_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.pairs_above(np.ones((3, 4)), **kwargs)


def test_pairs_above_needs_a_threshold_and_2d_x():
    with pytest.raises(TypeError, match="threshold"):
        ops.pairs_above(np.ones((3, 4)))  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"x must have shape \(rows, features\), got \(4,\)"):
        ops.pairs_above(np.ones(4), threshold=0.5)


def test_pairs_above_shim_checks_again():
    x = np.ones((3, 4))
    r, c, s = np.empty(5, np.int64), np.empty(5, np.int64), np.empty(5)
    with pytest.raises(ValueError, match="NaN"):
        _swiftsim.pairs_above(x, x, r, c, s, float("nan"), 1, 0, 1e-12)
    with pytest.raises(ValueError, match="first_row"):
        _swiftsim.pairs_above(x, x, r, c, s, 0.5, 1, 4, 1e-12)
    with pytest.raises(TypeError, match="diagonal must be an int"):
        _swiftsim.pairs_above(x, x, r, c, s, 0.5, 1.0, 0, 1e-12)
    with pytest.raises(ValueError, match=r"cols has shape \(4,\), expected \(5,\)"):
        _swiftsim.pairs_above(x, x, r, c[:4], s, 0.5, 1, 0, 1e-12)
    with pytest.raises(ValueError, match="contiguous"):
        _swiftsim.pairs_above(x, x, r, np.empty(10, np.int64)[::2], s, 0.5, 1, 0, 1e-12)
    with pytest.raises(TypeError, match="scores has dtype float32"):
        _swiftsim.pairs_above(x, x, r, c, s.astype(np.float32), 0.5, 1, 0, 1e-12)
    with pytest.raises(ValueError, match=r"y has shape \(3, 5\)"):
        _swiftsim.pairs_above(x, np.ones((3, 5)), r, c, s, 0.5, 1, 0, 1e-12)
    assert _swiftsim.pairs_above(x, x, r, c, s, 0.5, 1, 0, 1e-12) == (3, 3, 3, True)
    assert _swiftsim.pairs_above(x, x, r[:2], c[:2], s[:2], 0.5, 1, 0, 1e-12) == (0, 3, 0, False)


def test_ctrl_c_stops_pairs_above(tmp_path):
    """A SIGINT during a call of several seconds raises KeyboardInterrupt within 200 ms."""
    import subprocess
    import sys

    code = textwrap.dedent(
        """
        import os, signal, threading, time, numpy as np
        from swiftsim import ops
        x = np.random.default_rng(0).standard_normal((60000, 256), dtype=np.float32)
        sent = []
        def fire():
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        threading.Timer(0.5, fire).start()
        try:
            ops.pairs_above(x, threshold=0.5)
            print("completed", 0)
        except KeyboardInterrupt:
            print("interrupted", time.perf_counter() - sent[0])
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    word, seconds = r.stdout.split()
    assert word == "interrupted", r.stdout + r.stderr
    assert float(seconds) < 0.2


# MARK: hostile calls into the shim (each in a fresh interpreter, as tests/test_abuse.py does)

HOSTILE = {
    "pairs_threshold_retypes_inputs": (
        "TypeError|ValueError",
        retype("x", "y"),
        """
        x, y = np.ones((5, 8), f32), np.ones((6, 8), f32)
        r, c, s = np.empty(40, np.int64), np.empty(40, np.int64), np.empty(40, f32)
        run(lambda: S.pairs_above(x, y, r, c, s, Evil(), -2**63, 0, EPS))
        """,
    ),
    "pairs_epsilon_retypes_scores": (
        "TypeError",
        retype("s"),
        """
        x = np.ones((5, 8), f32)
        r, c, s = np.empty(40, np.int64), np.empty(40, np.int64), np.empty(40, f32)
        run(lambda: S.pairs_above(x, x, r, c, s, 0.5, 1, 0, Evil()))
        """,
    ),
    "pairs_threshold_shrinks_outputs": (
        "ok|ValueError",
        "class Evil:\n    def __float__(self):\n        r.shape = (5, 8)\n        return 0.5\n",
        """
        x = np.ones((5, 8), f32)
        r, c, s = np.empty(40, np.int64), np.empty(40, np.int64), np.empty(40, f32)
        run(lambda: S.pairs_above(x, x, r, c, s, Evil(), 1, 0, EPS))
        """,
    ),
    "pairs_never_write_past_the_capacity": (
        "ok",
        "",
        """
        x = np.ones((50, 8), f32)  # 1225 pairs i < j, all of cosine 1
        (r, br, nr), (c, bc, nc) = guarded((100,), np.int64), guarded((100,), np.int64)
        s, bs, ns = guarded((100,), f32)
        def check(res):
            expect(res[3] is False and res[0] <= 100 and res[1] > 100, res)
            intact(br, nr)
            intact(bc, nc)
            intact(bs, ns)
        run(lambda: S.pairs_above(x, x, r, c, s, 0.5, 1, 0, EPS), check)
        """,
    ),
    "merge_sequence_retypes_outputs": (
        "TypeError",
        "",
        """
        s1, i1 = np.ones((3, 2), f32), np.zeros((3, 2), np.int64)
        out_s, out_i = np.empty((3, 2), f32), np.empty((3, 2), np.int64)
        class Parts:
            def __iter__(self):
                out_s.dtype = np.int32
                return iter([s1])
        run(lambda: S.merge_top_k(Parts(), [i1], out_s, out_i))
        """,
    ),
    "merge_sequence_reshapes_a_part": (
        "ok|ValueError",
        "",
        """
        s1, i1 = np.ones((3, 2), f32), np.zeros((3, 2), np.int64)
        (out_s, bs, ns), (out_i, bi, ni) = guarded((3, 2), f32), guarded((3, 2), np.int64)
        class Parts:
            def __iter__(self):
                i1.shape = (2, 3)
                return iter([i1])
        def check(r):
            intact(bs, ns)
            intact(bi, ni)
        run(lambda: S.merge_top_k([s1], Parts(), out_s, out_i), check)
        """,
    ),
    "merge_writes_exactly_q_by_k": (
        "ok",
        "",
        """
        s1, i1 = np.ones((3, 5), f32), np.arange(15).reshape(3, 5)
        (out_s, bs, ns), (out_i, bi, ni) = guarded((3, 9), f32), guarded((3, 9), np.int64)
        def check(r):
            intact(bs, ns)
            intact(bi, ni)
            expect((out_i[:, 5:] == -1).all() and (out_i[:, :5] == i1).all(), out_i)
        run(lambda: S.merge_top_k((s1,), (i1,), out_s, out_i), check)
        """,
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_calls_raise_or_work(case):
    expected, evil, code = HOSTILE[case]
    proc = run_case(RNG + evil + textwrap.dedent(code))
    detail = f"\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"exit status {proc.returncode}{detail}"
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith(("RAISED", "RETURNED"))]
    outcome = "ok" if line.startswith("RETURNED") else line.split()[1]
    assert outcome in expected.split("|"), f"{line}, expected {expected}{detail}"
