"""Retrieval beyond one top-k call: merging sharded top-k results.

Computed by the Swift kernels of ``swiftsim._swiftsim`` (a bounded heap per query); this module
validates and shapes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from . import _swiftsim
from ._typing import ArrayLike, F, Floats
from ._validation import FLOAT_DTYPES, native

__all__ = ["merge_top_k"]


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
        scores, indices = np.asarray(item[0]), np.asarray(item[1])
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"merge_top_k: parts[{p}] could not be converted to arrays: {exc}") from None
    if np.dtype(scores.dtype.type) not in FLOAT_DTYPES:  # float16/32/64 in either byte order
        raise TypeError(
            f"merge_top_k: the scores of parts[{p}] have dtype {scores.dtype}; expected float16, float32 or "
            "float64 (what top_k returns)"
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
        For a part that is not a pair, scores that are not float16/32/64, parts of different dtypes,
        or indices that are not integers.
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
