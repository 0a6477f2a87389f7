"""Retrieval beyond one top-k call: merging sharded top-k results, and every pair above a threshold.

Both are computed by the Swift kernels of ``swiftsim._swiftsim`` (a bounded heap per query for the
merge; the all-pairs GEMM engine with a threshold filter and an ordered, per-pass staging of the
pairs for ``pairs_above``); this module validates, shapes, and holds ``pairs_above`` to the
working-memory budget (``swiftsim.config.working_memory``).
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from . import _swiftsim
from ._config import config
from ._pairwise import _format_bytes
from ._typing import ArrayLike, F, Floats
from ._validation import (
    as_array,
    as_float_array,
    check_epsilon,
    common_dtype,
    is_kernel_float,
    kernel_dtype,
    native,
)

__all__ = ["merge_top_k", "pairs_above"]

#: ``diagonal`` for "every pair" (the kernel keeps pairs with ``j - i >= diagonal``).
ALL_PAIRS = -(2**63)
#: Pairs the first buffers of ``pairs_above`` hold; they grow 4× at a time up to the budget.
FIRST_CAPACITY = 1 << 16


def _check_k(k: Any) -> int:
    if isinstance(k, (bool, np.bool_)):
        raise TypeError("k must be an integer, got bool")
    try:
        value = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {type(k).__name__}") from None
    if value < 1:
        raise ValueError(f"k must be at least 1, got {value}")
    return value


def _part(item: Any, p: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """Part ``p`` of ``merge_top_k`` as ``(scores, indices)`` arrays, dtypes checked, not converted."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise TypeError(
            f"merge_top_k: parts[{p}] must be a (scores, indices) pair, got {type(item).__name__}"
            + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
        )
    try:
        scores = as_array(item[0], f"merge_top_k: the scores of parts[{p}]")
        indices = as_array(item[1], f"merge_top_k: the indices of parts[{p}]")
    except ValueError as exc:  # ragged lists and the like
        if "DLPack device" in str(exc):
            raise
        raise ValueError(f"merge_top_k: parts[{p}] could not be converted to arrays: {exc}") from None
    if not is_kernel_float(scores.dtype):  # float16, bfloat16, float32, float64 in either byte order
        raise TypeError(
            f"merge_top_k: the scores of parts[{p}] have dtype {scores.dtype}; expected float16, bfloat16, "
            "float32 or float64 (what top_k returns)"
        )
    if indices.dtype.kind not in "iu" or not np.can_cast(indices.dtype, np.int64, "safe"):
        raise TypeError(
            f"merge_top_k: the indices of parts[{p}] have dtype {indices.dtype}; expected int64 (or an "
            "integer dtype that converts to it exactly)"
        )
    if scores.shape != indices.shape:
        raise ValueError(
            f"merge_top_k: parts[{p}] has scores of shape {scores.shape} but indices of shape {indices.shape}"
        )
    if scores.ndim not in (1, 2):
        raise ValueError(
            f"merge_top_k: parts[{p}] has shape {scores.shape}; expected (q, k) or (k,) for one query"
        )
    return scores, indices


@overload
def merge_top_k(
    parts: Iterable[tuple[NDArray[F], ArrayLike]], k: int
) -> tuple[NDArray[F], NDArray[np.int64]]: ...
@overload
def merge_top_k(parts: Iterable[tuple[ArrayLike, ArrayLike]], k: int) -> tuple[Floats, NDArray[np.int64]]: ...
def merge_top_k(parts: Iterable[tuple[ArrayLike, ArrayLike]], k: int) -> tuple[Floats, NDArray[np.int64]]:
    """The ``k`` best of several top-k results (one per shard of a corpus), in :func:`top_k`'s order.

    Merging the ``top_k`` results of the shards of a corpus, their indices made global, gives exactly
    (bit for bit) the ``top_k`` of the whole corpus.

    Parameters
    ----------
    parts : iterable of (scores, indices)
        One ``(scores, indices)`` pair per shard: scores of shape ``(q, k_i)`` (or ``(k_i,)`` for one
        query) in one float dtype for every part, indices of the same shape, int64 (or an integer
        dtype that converts exactly). ``k_i`` may differ between parts and may be smaller than ``k``
        (a shard with fewer rows). Index -1 marks padding and is never a candidate. The parts need
        not be sorted.
    k : int
        Results per query, at least 1; may exceed the candidates there are.

    Returns
    -------
    (scores, indices) : tuple of ndarray, shapes (q, k) (or (k,) for 1-D parts)
        Per query, the candidates in descending score; equal scores by lower index; NaN scores after
        every number, among themselves by index; then, when a query has fewer than ``k``
        candidates, padding: index -1 with score NaN. Scores in the parts' dtype, copied bit for bit;
        indices int64.

    Raises
    ------
    TypeError
        For a part that is not a pair, scores that are not float16, bfloat16, float32 or float64,
        parts of different dtypes, or indices that are not integers.
    ValueError
        For no parts, mismatched shapes, different query counts, ``k < 1``, or an index below -1.

    Notes
    -----
    The kernel keeps a bounded heap of ``k`` per query (one comparison rejects a candidate once ``k``
    better ones are held), queries spread over threads: memory is ``k`` candidates per thread. A
    real index given twice is kept twice: shards are expected to be disjoint.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> corpus = np.array([[1., 0.], [0., 1.], [1., 1.], [1., .5]])
    >>> q = np.array([[1., .2]])
    >>> a = swiftsim.ops.top_k(q, corpus[:2], 2)
    >>> s, i = swiftsim.ops.top_k(q, corpus[2:], 2)
    >>> swiftsim.ops.merge_top_k([a, (s, i + 2)], 3)  # = top_k(q, corpus, 3)
    (array([[0.98058068, 0.96476382, 0.83205029]]), array([[0, 3, 2]]))
    >>> swiftsim.ops.merge_top_k([a], 3)  # fewer candidates than k: padded
    (array([[0.98058068, 0.19611614,        nan]]), array([[ 0,  1, -1]]))
    """
    k = _check_k(k)
    if isinstance(parts, (str, bytes, np.ndarray)) or not isinstance(parts, Iterable):
        raise TypeError(
            f"merge_top_k: parts must be a sequence of (scores, indices) pairs, got {type(parts).__name__}"
        )
    items = [_part(item, p) for p, item in enumerate(parts)]
    if not items:
        raise ValueError("merge_top_k: parts is empty; give at least one (scores, indices) pair")
    dtype = np.dtype(items[0][0].dtype.type)  # native byte order
    single = items[0][0].ndim == 1
    q = 1 if single else items[0][0].shape[0]
    scores_parts: list[NDArray[Any]] = []
    indices_parts: list[NDArray[Any]] = []
    for p, (s, i) in enumerate(items):
        if s.dtype.type != dtype.type:
            raise TypeError(
                f"merge_top_k: parts[0] has {dtype} scores but parts[{p}] has {s.dtype.name}; "
                "merge parts of one dtype"
            )
        if (s.ndim == 1) != single:
            raise ValueError(
                f"merge_top_k: parts[0] has shape {items[0][0].shape} but parts[{p}] has shape {s.shape}; "
                "give every part for one query (1-D) or every part 2-D"
            )
        if not single and s.shape[0] != q:
            raise ValueError(
                f"merge_top_k: parts[0] has {q} queries (shape {items[0][0].shape}) but parts[{p}] has "
                f"{s.shape[0]} (shape {s.shape})"
            )
        s = native(s, dtype)
        i = native(i, np.dtype(np.int64))
        scores_parts.append(s.reshape(1, -1) if single else s)
        indices_parts.append(i.reshape(1, -1) if single else i)
    out_scores = np.empty((q, k), dtype)
    out_indices = np.empty((q, k), np.int64)
    _swiftsim.merge_top_k(scores_parts, indices_parts, out_scores, out_indices)
    return (out_scores[0], out_indices[0]) if single else (out_scores, out_indices)


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number, got {type(threshold).__name__}")
    value = float(threshold)
    if math.isnan(value):
        raise ValueError("threshold must be a number, got nan")
    return value


class PairsBudgetError(ValueError):
    """The pairs found do not fit the memory budget (a ValueError; ``found`` and ``next_row`` say how
    far the search got)."""

    def __init__(self, message: str, found: int, next_row: int):
        super().__init__(message)
        self.found = found
        self.next_row = next_row


def find_pairs(
    a: NDArray[Any],
    b: NDArray[Any],
    threshold: float,
    epsilon: float,
    diagonal: int,
    budget: int,
    *,
    max_pairs: int,
    what: str,
    advice: str,
) -> tuple[NDArray[np.int64], NDArray[np.int64], Floats]:
    """The kernel's pairs of native 2-D ``a``, ``b`` (one dtype) with ``j - i >= diagonal``, in
    buffers that grow 4× at a time (the kernel resumes at the pass of rows that did not fit) up to
    ``budget`` bytes (``max_pairs`` bounds the count); beyond it a :class:`PairsBudgetError` whose
    message starts with ``what`` and ends with ``advice``."""
    dtype = a.dtype
    per_pair = 16 + dtype.itemsize
    limit = budget // per_pair
    bound = min(limit, max_pairs)
    cap = min(bound, FIRST_CAPACITY)
    rows = np.empty(cap, np.int64)
    cols = np.empty(cap, np.int64)
    scores = np.empty(cap, dtype)
    done, first = 0, 0
    while True:
        written, found, next_row, complete = _swiftsim.pairs_above(
            a, b, rows[done:], cols[done:], scores[done:], threshold, diagonal, first, epsilon
        )
        if complete:
            done += written
            break
        if cap >= bound:
            raise PairsBudgetError(
                f"{what}the pairs with cosine >= {threshold} do not fit the working-memory budget of "
                f"{budget} bytes ({_format_bytes(budget)}: {limit} pairs of {per_pair} bytes): "
                f"{done + found} found so far, the search stopped in the rows from {next_row} on; {advice}",
                done + found,
                next_row,
            )
        done += written
        first = next_row
        cap = min(bound, max(4 * cap, done + 2 * (found - written)))
        for arr in (rows, cols, scores):
            arr.resize((cap,), refcheck=False)
    for arr in (rows, cols, scores):
        arr.resize((done,), refcheck=False)
    return rows, cols, scores


@overload
def pairs_above(
    x: NDArray[F], y: NDArray[F] | None = None, *, threshold: float, epsilon: float = 1e-12
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[F]]: ...
@overload
def pairs_above(
    x: ArrayLike, y: ArrayLike | None = None, *, threshold: float, epsilon: float = 1e-12
) -> tuple[NDArray[np.int64], NDArray[np.int64], Floats]: ...
def pairs_above(
    x: ArrayLike, y: ArrayLike | None = None, *, threshold: float, epsilon: float = 1e-12
) -> tuple[NDArray[np.int64], NDArray[np.int64], Floats]:
    """Every pair of rows whose cosine similarity is at least ``threshold`` (near-duplicates).

    Parameters
    ----------
    x : array_like, shape (n, d)
    y : array_like, shape (m, d), optional
        Default ``x``: then only the pairs ``i < j`` (each unordered pair once, no row with itself).
    threshold : float
        The smallest cosine kept, compared in the result's dtype (rounded to it first, as NumPy
        compares a float32 array with a Python float); NaN is a ValueError.
    epsilon : float, default 1e-12
        Floor on each squared norm, as in :func:`pairwise_cosine_similarity`.

    Returns
    -------
    (rows, cols, scores) : tuple of ndarray, shape (p,) each
        ``rows`` and ``cols`` int64 indices into ``x`` and ``y``, sorted by ``(row, col)``;
        ``scores`` their cosines in [-1, 1], in the inputs' (promoted) float dtype, bitwise
        ``pairwise_cosine_similarity(x, y)[rows, cols]``. Rows holding NaN or Inf are in no pair.

    Raises
    ------
    ValueError
        For mismatched shapes, a NaN threshold, or when the pairs found would take more than
        ``swiftsim.config.working_memory`` bytes (16 bytes of indices plus the score per pair); the
        message says how many were found so far.

    Notes
    -----
    The product is streamed tile by tile through the kernel of :func:`pairwise_cosine_similarity`
    and a tile row none of whose scores reaches the threshold is rejected with two vector compares,
    so memory is the result plus the packed panels of one block of rows, never ``n·m``. With
    ``y=None`` only the tiles on and above the diagonal are computed. The result does not depend on
    the thread count.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> x = np.array([[1., 0.], [0., 1.], [2., 0.01], [1., 1.]])
    >>> rows, cols, scores = swiftsim.ops.pairs_above(x, threshold=0.7)
    >>> rows, cols
    (array([0, 0, 1, 2]), array([2, 3, 3, 3]))
    >>> scores
    array([0.9999875 , 0.70710678, 0.70710678, 0.71063343])
    """
    eps = check_epsilon(epsilon)
    thr = _check_threshold(threshold)
    a = as_float_array(x, "x")
    b = None if y is None else as_float_array(y, "y")
    dtype = kernel_dtype(a.dtype, "x") if b is None else common_dtype(a, b, names=("x", "y"))
    for arr, name in ((a, "x"), (b, "y")):
        if arr is not None and arr.ndim != 2:
            raise ValueError(f"{name} must have shape (rows, features), got {arr.shape}")
    if b is not None and a.shape[1] != b.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features (last axis): shapes {a.shape} and {b.shape}"
        )
    a = native(a, dtype)
    b = a if b is None else native(b, dtype)
    n, m = a.shape[0], b.shape[0]
    return find_pairs(
        a,
        b,
        thr,
        eps,
        1 if y is None else ALL_PAIRS,
        config.working_memory,
        max_pairs=n * (n - 1) // 2 if y is None else n * m,
        what="pairs_above: ",
        advice="raise the threshold, pass x in row blocks, or raise swiftsim.config.working_memory",
    )
