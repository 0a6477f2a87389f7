"""All pairs: pairwise cosine similarity, its row-blocked form, and top-k retrieval.

The products are computed by the GEMM-class Swift kernels of ``swiftsim._swiftsim`` (packed panels,
a register-tiled FMA micro-kernel, threads over output tiles); this module validates, broadcasts and
enforces the working-memory budget (``swiftsim.config.working_memory``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from . import _swiftsim
from ._config import check_working_memory, config
from ._typing import ArrayLike, ArrayT, F, Floats
from ._validation import (
    as_float_array,
    check_epsilon,
    check_out,
    common_dtype,
    kernel_dtype,
    native,
    needs_temporary,
)

__all__ = ["pairwise_cosine_similarity", "pairwise_chunks", "top_k"]


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def _prepare(
    x: ArrayLike, y: ArrayLike | None
) -> tuple[NDArray[Any], NDArray[Any], tuple[int, ...], np.dtype[Any]]:
    """Validates the operands of the all-pairs functions.

    Returns ``(a, b, batch, dtype)``: native arrays of the common dtype broadcast to ``batch + (n, d)``
    and ``batch + (m, d)`` (views, never copies of contiguous data); ``b is a`` when ``y`` is None.
    """
    a = as_float_array(x, "x")
    b = None if y is None else as_float_array(y, "y")
    dtype = kernel_dtype(a.dtype, "x") if b is None else common_dtype(a, b, names=("x", "y"))
    for arr, name in ((a, "x"), (b, "y")):
        if arr is not None and arr.ndim < 2:
            raise ValueError(
                f"{name} must have at least 2 dimensions (..., rows, features), got shape {arr.shape}"
            )
    if b is not None and a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"x and y must have the same number of features (last axis): shapes {a.shape} and {b.shape}"
        )
    try:
        batch = np.broadcast_shapes(a.shape[:-2], () if b is None else b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the batch axes of x and y cannot be broadcast together: shapes {a.shape} and {b.shape}"  # type: ignore[union-attr]
        ) from None
    a = np.broadcast_to(native(a, dtype), batch + a.shape[-2:])
    b = a if b is None else np.broadcast_to(native(b, dtype), batch + b.shape[-2:])
    return a, b, batch, dtype


def _run(a: NDArray[Any], b: NDArray[Any], target: NDArray[Any], eps: float) -> None:
    """The kernel call; ``target`` must not overlap the inputs."""
    if a.size and b.size:
        _swiftsim.pairwise_cosine(a, b, target, eps)
    elif target.size:  # d == 0: every vector is zero
        target[...] = 0.0 if eps > 0 else np.nan


@overload
def pairwise_cosine_similarity(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, out: ArrayT
) -> ArrayT: ...
@overload
def pairwise_cosine_similarity(
    x: NDArray[F], y: NDArray[F] | None = None, epsilon: float = 1e-12, *, out: None = None
) -> NDArray[F]: ...
@overload
def pairwise_cosine_similarity(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, out: None = None
) -> Floats: ...
def pairwise_cosine_similarity(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, out: NDArray[Any] | None = None
) -> Floats:
    """Cosine similarity of every row of ``x`` with every row of ``y``; values in [-1, 1].

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    y : array_like, shape (..., m, d), optional
        Default ``x`` (then only one triangle is computed and mirrored: the result is exactly
        symmetric). Leading (batch) axes of ``x`` and ``y`` broadcast as in NumPy.
    epsilon : float, default 1e-12
        Floor on each squared norm (1e-12: TF 2.x / Keras 2; 1e-14: Keras 3).
    out : ndarray, optional
        Receives the result: exact shape and dtype, C-contiguous, writeable. With ``out`` the
        working-memory budget is not checked (the memory is already yours).

    Returns
    -------
    ndarray, shape (..., n, m)
        In the inputs' (promoted) float dtype; ints and bools compute in float32.

    Raises
    ------
    ValueError
        For mismatched shapes, or when the result would take more than
        ``swiftsim.config.working_memory`` bytes (default 4 GiB) and ``out`` is not given.

    Notes
    -----
    ``c[i, j] = (x_i·y_j) · (r_i · r_j)`` with ``r = 1/sqrt(max(|row|², ε))``, the norms computed once
    per row. A zero row gives 0; a row holding NaN or Inf gives NaN in its whole row (column).
    ``keras.layers.Dot(axes=2, normalize=True)`` on ``(B, n, d)`` and ``(B, m, d)`` is this function
    with ``epsilon=1e-14``.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> swiftsim.ops.pairwise_cosine_similarity(np.array([[1., 0.], [1., 1.]]))
    array([[1.        , 0.70710678],
           [0.70710678, 1.        ]])
    """
    eps = check_epsilon(epsilon)
    a, b, batch, dtype = _prepare(x, y)
    shape = batch + (a.shape[-2], b.shape[-2])
    if out is not None:
        target = check_out(out, shape, dtype)
        if needs_temporary(target, a, b):
            tmp = np.empty(shape, dtype)
            _run(a, b, tmp, eps)
            target[...] = tmp
        else:
            _run(a, b, target, eps)
        return target
    nbytes = math.prod(shape) * dtype.itemsize
    budget = config.working_memory
    if nbytes > budget:
        raise ValueError(
            f"pairwise_cosine_similarity: the result of shape {shape} and dtype {dtype} would take "
            f"{nbytes} bytes ({_format_bytes(nbytes)}), more than the working-memory budget of {budget} "
            f"bytes ({_format_bytes(budget)}); pass out=, iterate with pairwise_chunks, or raise "
            "swiftsim.config.working_memory"
        )
    target = np.empty(shape, dtype)
    _run(a, b, target, eps)
    return target


@overload
def pairwise_chunks(
    x: NDArray[F], y: NDArray[F] | None = None, epsilon: float = 1e-12, *, working_memory: int | None = None
) -> Iterator[tuple[slice, NDArray[F]]]: ...
@overload
def pairwise_chunks(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, working_memory: int | None = None
) -> Iterator[tuple[slice, Floats]]: ...
def pairwise_chunks(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, working_memory: int | None = None
) -> Iterator[tuple[slice, Floats]]:
    """Yields ``(row_slice, block)``: the pairwise cosine matrix in row blocks that fit a memory budget.

    ``block`` is ``pairwise_cosine_similarity(x, y)[..., row_slice, :]`` (values in [-1, 1]), computed
    on its own, so at most one block is alive per step (the idea of scikit-learn's
    ``pairwise_distances_chunked``). The blocks cover rows ``0..n`` in order.

    Parameters
    ----------
    x, y, epsilon
        As in :func:`pairwise_cosine_similarity`.
    working_memory : int, optional
        Bytes one block may take (default ``swiftsim.config.working_memory``); a block has at least
        one row even when one row is larger.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> x = np.eye(3)
    >>> [(s, b.shape) for s, b in swiftsim.ops.pairwise_chunks(x, working_memory=48)]
    [(slice(0, 2, None), (2, 3)), (slice(2, 3, None), (1, 3))]
    """
    eps = check_epsilon(epsilon)
    budget = config.working_memory if working_memory is None else check_working_memory(working_memory)
    a, b, batch, dtype = _prepare(x, y)
    n, m = a.shape[-2], b.shape[-2]
    row_bytes = math.prod(batch) * m * dtype.itemsize
    rows = max(1, min(n, budget // row_bytes if row_bytes else n))
    return _chunks(a, b, batch, dtype, eps, rows)


def _chunks(
    a: NDArray[Any], b: NDArray[Any], batch: tuple[int, ...], dtype: np.dtype[Any], eps: float, rows: int
) -> Iterator[tuple[slice, Floats]]:
    n, m = a.shape[-2], b.shape[-2]
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        block = np.empty(batch + (i1 - i0, m), dtype)
        _run(a[..., i0:i1, :], b, block, eps)
        yield slice(i0, i1), block


#: Internal, for tests and benchmarks: ``top_k`` streams the corpus (one pass, no packed copy) for at most
#: this many queries and packs it for more. None (the default) lets the kernel choose: it streams for at
#: most 256 queries whose packed rows fit 1 MiB. Both paths give the same bits.
top_k_stream_queries: int | None = None

_TOP_K_AUTO, _TOP_K_STREAM, _TOP_K_PACKED = 0, 1, 2  # SSIM_TOP_K_* in swiftsim.h


def _exclusion_lists(
    exclude: Any, q: int, n: int, single: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``exclude`` as the kernel takes it: ``(indptr, indices)`` int64, query i's excluded corpus rows
    ``indices[indptr[i]:indptr[i + 1]]`` sorted and without repeats.

    ``exclude`` is a sequence of ``q`` integer arrays (one array for a single 1-D query), or a sparse
    matrix of shape ``(q, n)`` in CSR form (anything with ``indptr``, ``indices`` and ``shape``, such as
    ``scipy.sparse.csr_array``; other scipy formats are converted with ``tocsr()``) whose stored entries
    mark the excluded rows.
    """
    if hasattr(exclude, "tocsr") and getattr(exclude, "format", "csr") != "csr":
        exclude = exclude.tocsr()  # another scipy.sparse format (COO, CSC, LIL, ...)
    if hasattr(exclude, "indptr") and hasattr(exclude, "indices") and hasattr(exclude, "shape"):
        shape = tuple(exclude.shape)
        if shape != (q, n):
            raise ValueError(
                f"exclude as a sparse matrix must have shape (queries, corpus rows) = {(q, n)}, got {shape}"
            )
        indptr = np.asarray(exclude.indptr)
        flat = np.asarray(exclude.indices)
        if (
            indptr.shape != (q + 1,)
            or flat.ndim != 1
            or indptr.dtype.kind not in "iu"
            or flat.dtype.kind not in "iu"
        ):
            raise ValueError(
                f"exclude: indptr must be {q + 1} integers and indices a 1-D integer array, got shapes "
                f"{indptr.shape} and {flat.shape}"
            )
        counts = indptr[1:].astype(np.int64) - indptr[:-1].astype(np.int64)
        if indptr[0] != 0 or (counts < 0).any() or indptr[-1] != flat.size:
            raise ValueError("exclude: indptr must rise from 0 to the number of stored indices")
    else:
        if isinstance(exclude, (str, bytes)):
            raise TypeError(f"exclude must be a sequence of integer arrays, got {type(exclude).__name__}")
        try:
            lists = [exclude] if single else list(exclude)
        except TypeError:
            raise TypeError(
                f"exclude must be a sequence of integer arrays or a CSR matrix, got {type(exclude).__name__}"
            ) from None
        if len(lists) != q:
            raise ValueError(
                f"exclude must hold one array of corpus rows per query: {q} queries, {len(lists)} arrays"
            )
        arrays = []
        for i, rows in enumerate(lists):
            a = np.asarray(rows)
            if a.ndim > 1:
                raise ValueError(f"exclude[{i}] must be a 1-D array of corpus rows, got shape {a.shape}")
            if a.size and a.dtype.kind not in "iu":
                raise TypeError(f"exclude[{i}] must hold integers (corpus rows), got dtype {a.dtype}")
            arrays.append(a.reshape(-1))
        counts = np.array([a.size for a in arrays], np.int64)
        flat = np.concatenate(arrays) if arrays else np.empty(0, np.int64)
    if flat.size and flat.dtype.kind not in "iu":
        flat = flat.astype(np.int64)  # an empty concatenation of float64 arrays
    if flat.size:
        bad = (flat < 0) | (flat >= n)
        if bad.any():
            at = int(np.argmax(bad))
            row = int(np.searchsorted(np.cumsum(counts), at, side="right"))
            raise ValueError(f"exclude: query {row} excludes corpus row {flat[at]}, outside [0, {n})")
    flat = flat.astype(np.int64, copy=False)
    rows = np.repeat(np.arange(q, dtype=np.int64), counts)
    step = np.diff(flat)
    if (step <= 0)[rows[1:] == rows[:-1]].any():  # not sorted or repeated within a query: sort, drop repeats
        order = np.lexsort((flat, rows))
        flat, rows = flat[order], rows[order]
        keep = np.ones(flat.size, bool)
        keep[1:] = (flat[1:] != flat[:-1]) | (rows[1:] != rows[:-1])
        flat, rows = flat[keep], rows[keep]
        counts = np.bincount(rows, minlength=q).astype(np.int64)
    indptr = np.zeros(q + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, np.ascontiguousarray(flat)


@overload
def top_k(
    queries: NDArray[F],
    corpus: NDArray[F],
    k: int,
    epsilon: float = 1e-12,
    *,
    assume_normalized: bool = False,
    exclude: Any = None,
    exclude_self: bool = False,
) -> tuple[NDArray[F], NDArray[np.int64]]: ...
@overload
def top_k(
    queries: ArrayLike,
    corpus: ArrayLike,
    k: int,
    epsilon: float = 1e-12,
    *,
    assume_normalized: bool = False,
    exclude: Any = None,
    exclude_self: bool = False,
) -> tuple[Floats, NDArray[np.int64]]: ...
def top_k(
    queries: ArrayLike,
    corpus: ArrayLike,
    k: int,
    epsilon: float = 1e-12,
    *,
    assume_normalized: bool = False,
    exclude: Any = None,
    exclude_self: bool = False,
) -> tuple[Floats, NDArray[np.int64]]:
    """The ``k`` corpus rows most cosine-similar to each query, best first; scores in [-1, 1].

    Parameters
    ----------
    queries : array_like, shape (q, d) or (d,)
    corpus : array_like, shape (n, d)
    k : int
        ``k >= 1``. When a query has fewer than ``k`` candidates (``k > n``, or rows excluded), its
        last positions are padding (see Returns).
    epsilon : float, default 1e-12
        Floor on each squared norm.
    assume_normalized : bool, default False
        Take every row as unit length (skip the norms): the scores are then plain dot products.
    exclude : sequence of q integer arrays, or sparse matrix of shape (q, n), optional
        Per query, the corpus rows it must never return: ``exclude[i]`` lists query ``i``'s (in any
        order, repeats allowed; one array for a single 1-D query), or the stored entries of row ``i``
        of a CSR matrix (``scipy.sparse.csr_array``/``csr_matrix``; other sparse formats are converted).
        The rows are skipped inside the selection, so ``k`` results come back whenever ``k`` rows
        remain: no over-fetching and no filtering afterwards.
    exclude_self : bool, default False
        Query ``i`` never returns corpus row ``i``: the ``top_k(x, x, k)`` case, each row's
        neighbours without itself. Combines with ``exclude``.

    Returns
    -------
    (scores, indices) : tuple of ndarray, shapes (q, k) (or (k,) for one 1-D query)
        ``scores`` in the inputs' float dtype, descending; ``indices`` int64 corpus rows. Equal
        scores are ordered by lower index; NaN scores (rows holding NaN or Inf) rank after every
        number. Positions without a candidate come after every real one and hold index -1 and a
        NaN score (faiss's convention).

    Raises
    ------
    ValueError
        For mismatched shapes, ``k < 1``, or exclusions that are out of range (not in ``[0, n)``) or
        do not have one entry per query.
    TypeError
        For a non-integer ``k``, non-bool flags, or exclusions that are not integers.

    Notes
    -----
    The scores are bitwise those of :func:`pairwise_cosine_similarity` for the same rows, for any
    thread count. Few queries stream the corpus once (its norms computed in the same pass, no packed
    copy), many queries pack it in blocks for the GEMM micro-kernel; each query's candidates go
    through a bounded heap, so memory is O(q·k + block), never O(q·n).

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> corpus = np.array([[1., 0.], [0., 1.], [1., 1.]])
    >>> swiftsim.ops.top_k(np.array([[1., 0.2]]), corpus, 2)
    (array([[0.98058068, 0.83205029]]), array([[0, 2]]))
    >>> swiftsim.ops.top_k(corpus, corpus, 2, exclude_self=True)[1]
    array([[2, 1],
           [2, 0],
           [0, 1]])
    >>> swiftsim.ops.top_k(np.array([1., 0.2]), corpus, 4, exclude=[0])
    (array([0.83205029, 0.19611614,        nan,        nan]), array([ 2,  1, -1, -1]))
    """
    eps = check_epsilon(epsilon)
    q = as_float_array(queries, "queries")
    c = as_float_array(corpus, "corpus")
    dtype = common_dtype(q, c, names=("queries", "corpus"))
    if isinstance(k, bool):
        raise TypeError("k must be an integer, got bool")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {type(k).__name__}") from None
    for flag, name in ((assume_normalized, "assume_normalized"), (exclude_self, "exclude_self")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if q.ndim not in (1, 2):
        raise ValueError(f"queries must have shape (q, d) or (d,), got {q.shape}")
    if c.ndim != 2:
        raise ValueError(f"corpus must have shape (n, d), got {c.shape}")
    if q.shape[-1] != c.shape[-1]:
        raise ValueError(
            f"queries and corpus must have the same number of features: shapes {q.shape} and {c.shape}"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    single = q.ndim == 1
    q2 = native(q, dtype).reshape(1, -1) if single else native(q, dtype)
    c2 = native(c, dtype)
    nq, n = q2.shape[0], c2.shape[0]
    indptr, flat = (None, None) if exclude is None else _exclusion_lists(exclude, nq, n, single)
    scores = np.empty((nq, k), dtype)
    indices = np.empty((nq, k), np.int64)
    if nq:
        limit = top_k_stream_queries
        method = _TOP_K_AUTO if limit is None else (_TOP_K_STREAM if nq <= limit else _TOP_K_PACKED)
        _swiftsim.top_k(
            q2, c2, scores, indices, eps, bool(assume_normalized), indptr, flat, bool(exclude_self), method
        )
    return (scores[0], indices[0]) if single else (scores, indices)
