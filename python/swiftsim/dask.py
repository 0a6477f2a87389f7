"""swiftsim on Dask: exact top-k, all-pairs and near-duplicate pairs over ``dask.array`` arrays.

Every function takes and returns Dask collections and is lazy, like ``dask.array`` itself: nothing
runs until ``.compute()`` (or ``dask.compute``, ``persist``) on whichever scheduler is active, a
``distributed.Client`` included. Each task calls the in-memory function of :mod:`swiftsim.ops` on
its blocks, so the results are bitwise those of the in-memory functions for any chunking:

- :func:`top_k`: per corpus block ``ops.top_k`` (indices made global), then a tree of
  ``ops.merge_top_k`` (``split_every`` bounds each merge's fan-in), as ``da.argtopk`` reduces.
- :func:`pairwise_cosine_similarity`: blockwise; with ``y=None`` the blocks below the diagonal are
  the mirrored blocks above it, as in memory.
- :func:`pairs_above`: per block pair (with ``y=None`` only on and above the diagonal), a
  ``dask.dataframe`` of ``(row, col, score)`` with global indices, one partition per row block.
- :func:`cosine_similarity`, :func:`l2_normalize`: blockwise, the reduced axis in one chunk.
- :func:`from_npy`: a corpus stored as ``.npy`` files (one, several, or a folder of shards) as a
  dask array whose tasks open their file memory-mapped on the worker: the graph holds paths and row
  ranges, never the data.

Threads: each task first sets swiftsim's thread count to the budget of the Dask worker running it
(its thread count, ``distributed.get_worker().state.nthreads``), so ``n_workers × threads`` stays
within the cores the cluster was given; ``SWIFTSIM_NUM_THREADS`` in a worker's environment takes
precedence. Outside a distributed worker (the threaded or synchronous scheduler) the process's own
setting is used.

Install with ``pip install swiftsim[dask]``; ``import swiftsim`` never imports Dask.
"""

# Dask's array API is not annotated: its calls are untyped here, the values typed by this module.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import delayed
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from numpy.typing import NDArray

from . import ops
from ._retrieval import _check_threshold
from ._threads import get_num_threads, set_num_threads
from ._validation import check_epsilon

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = [
    "cosine_similarity",
    "from_npy",
    "l2_normalize",
    "pairs_above",
    "pairwise_cosine_similarity",
    "top_k",
    "worker_threads",
]

#: The fan-in of each merge of the top-k tree when ``split_every`` is not given.
DEFAULT_SPLIT_EVERY = 8
_MAX_THREADS = 1024


# ---------------------------------------------------------------------------------------------------
# The thread budget of a task
# ---------------------------------------------------------------------------------------------------


def worker_threads() -> int | None:
    """The thread budget of the Dask worker running the current task: its thread count; None outside
    a distributed worker, or when ``SWIFTSIM_NUM_THREADS`` is set (an explicit setting wins)."""
    if os.environ.get("SWIFTSIM_NUM_THREADS"):
        return None
    try:
        from distributed import get_worker
    except ImportError:  # pragma: no cover - dask without distributed
        return None
    try:
        worker = get_worker()
    except ValueError:  # not inside a worker's task
        return None
    state = getattr(worker, "state", None)
    n = getattr(state, "nthreads", None) or getattr(worker, "nthreads", None)
    if not isinstance(n, int) or n < 1:
        return None
    return min(n, _MAX_THREADS)


def _apply_thread_budget() -> int:
    """Sets the kernels' thread count to the worker's budget (when in a worker); returns the count."""
    n = worker_threads()
    if n is not None and get_num_threads() != n:
        set_num_threads(n)
    return get_num_threads()


# ---------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------


def _check_known_chunks(x: da.Array, name: str) -> None:
    for axis, sizes in enumerate(x.chunks):
        if any(math.isnan(s) for s in sizes):
            raise ValueError(
                f"{name} has unknown chunk sizes along axis {axis} (shape {x.shape}); call "
                f"{name}.compute_chunk_sizes() first"
            )


def _as_dask(x: Any, name: str) -> da.Array:
    """``x`` as a dask array: dask arrays as they are, anything else in one chunk."""
    if isinstance(x, da.Array):
        _check_known_chunks(x, name)
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    out: da.Array = da.from_array(arr, chunks=arr.shape or ())
    return out


def _rows(x: da.Array, name: str) -> da.Array:
    """A 2-D ``(rows, features)`` dask array with the features in one chunk."""
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (rows, features), got {x.shape}")
    if len(x.chunks[1]) > 1:
        x = x.rechunk({1: -1})
    return x


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _check_split_every(split_every: Any) -> int:
    if split_every is None:
        return DEFAULT_SPLIT_EVERY
    if isinstance(split_every, (bool, np.bool_)):
        raise TypeError("split_every must be an integer, got bool")
    try:
        value = operator.index(split_every)
    except TypeError:
        raise TypeError(f"split_every must be an integer, got {type(split_every).__name__}") from None
    if value < 2:
        raise ValueError(f"split_every must be at least 2 (parts merged per task), got {value}")
    return value


def _offsets(sizes: Sequence[int]) -> list[int]:
    out = [0]
    for s in sizes:
        out.append(out[-1] + int(s))
    return out


def _probe_dtype(*dtypes: np.dtype[Any], name: str, d: int = 1) -> np.dtype[Any]:
    """The float dtype the kernels compute in for inputs of ``dtypes`` (validated by ``ops``)."""
    arrays = [np.zeros((1, d), dt) for dt in dtypes]
    if name == "top_k":
        return np.dtype(ops.top_k(arrays[0], arrays[1], 1)[0].dtype)
    other = arrays[1] if len(arrays) > 1 else None
    return np.dtype(ops.pairwise_cosine_similarity(arrays[0], other).dtype)


def _graph(name: str, layer: dict[Any, Any], dependencies: Sequence[Any]) -> HighLevelGraph:
    return HighLevelGraph.from_collections(name, layer, dependencies=list(dependencies))


# ---------------------------------------------------------------------------------------------------
# Task functions (run on the workers; module-level so that they pickle by reference)
# ---------------------------------------------------------------------------------------------------


def _block_top_k(
    queries: NDArray[Any],
    block: NDArray[Any],
    k: int,
    epsilon: float,
    assume_normalized: bool,
    exclude_self: bool,
    query_offset: int,
    block_offset: int,
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """``ops.top_k`` of one query block in one corpus block, indices made global (padding stays -1).
    ``exclude_self`` excludes, for the query of global row ``g``, the corpus row ``g``."""
    _apply_thread_budget()
    q, n = queries.shape[0], block.shape[0]
    lo, hi = max(query_offset, block_offset), min(query_offset + q, block_offset + n)
    same = exclude_self and query_offset == block_offset
    exclude: list[NDArray[np.int64]] | None = None
    if exclude_self and not same and lo < hi:
        empty = np.empty(0, np.int64)
        exclude = [empty] * q
        for g in range(lo, hi):
            exclude[g - query_offset] = np.array([g - block_offset], np.int64)
    scores, indices = ops.top_k(
        queries, block, k, epsilon, assume_normalized=assume_normalized, exclude=exclude, exclude_self=same
    )
    if block_offset:
        indices[indices >= 0] += block_offset
    return scores, indices


def _merge(
    parts: list[tuple[NDArray[Any], NDArray[np.int64]]], k: int
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    _apply_thread_budget()
    if len(parts) == 1:
        return parts[0]
    return ops.merge_top_k(parts, k)


def _pairwise_block(a: NDArray[Any], b: NDArray[Any] | None, epsilon: float) -> NDArray[Any]:
    _apply_thread_budget()
    return ops.pairwise_cosine_similarity(a, b, epsilon)


def _pairs_block(
    a: NDArray[Any],
    b: NDArray[Any] | None,
    threshold: float,
    epsilon: float,
    row_offset: int,
    col_offset: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[Any]]:
    _apply_thread_budget()
    rows, cols, scores = ops.pairs_above(a, b, threshold=threshold, epsilon=epsilon)
    return rows + row_offset, cols + col_offset, scores


def _pairs_partition(
    pieces: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[Any]]], dtype: np.dtype[Any]
) -> Any:
    """One row block's pairs as a DataFrame sorted by ``(row, col)``. The pieces (one per column
    block, in column order) are each sorted and hold ascending column ranges, so a stable sort by
    row orders them by ``(row, col)``."""
    import pandas as pd  # type: ignore[import-untyped]

    if pieces:
        rows = np.concatenate([p[0] for p in pieces])
        cols = np.concatenate([p[1] for p in pieces])
        scores = np.concatenate([p[2] for p in pieces]).astype(dtype, copy=False)
        if len(pieces) > 1:
            order = np.argsort(rows, kind="stable")
            rows, cols, scores = rows[order], cols[order], scores[order]
    else:
        rows, cols, scores = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, dtype)
    return pd.DataFrame({"row": rows, "col": cols, "score": scores})


def _cosine_block(a: NDArray[Any], b: NDArray[Any], axis: int, epsilon: float) -> NDArray[Any]:
    _apply_thread_budget()
    return np.asarray(ops.cosine_similarity(a, b, axis, epsilon))


def _normalize_block(x: NDArray[Any], axis: tuple[int, ...], epsilon: float) -> NDArray[Any]:
    _apply_thread_budget()
    return np.asarray(ops.l2_normalize(x, axis, epsilon))


def _load_rows(path: str, start: int, stop: int) -> NDArray[Any]:
    """Rows ``[start, stop)`` of the ``.npy`` file at ``path``, memory-mapped (nothing read yet)."""
    mm = np.load(path, mmap_mode="r")
    return np.asarray(mm[start:stop])


# ---------------------------------------------------------------------------------------------------
# top_k
# ---------------------------------------------------------------------------------------------------


def top_k(
    queries: Any,
    corpus: Any,
    k: int,
    epsilon: float = 1e-12,
    *,
    assume_normalized: bool = False,
    exclude_self: bool = False,
    split_every: int | None = None,
) -> tuple[da.Array, da.Array]:
    """The ``k`` corpus rows most cosine-similar to each query, as lazy dask arrays; exact.

    Parameters
    ----------
    queries : dask array or array_like, shape (q, d) or (d,)
        A NumPy array becomes one chunk; a dask array keeps its row chunks (the result has them).
    corpus : dask array or array_like, shape (n, d)
        Chunked by rows, any sizes (a chunked ``d`` is rechunked into one chunk); for example
        :func:`from_npy` of a folder of shards.
    k, epsilon, assume_normalized, exclude_self
        As in :func:`swiftsim.ops.top_k`; ``exclude_self`` means query ``i`` (its global row) never
        returns corpus row ``i``.
    split_every : int, optional
        The most parts each merge task takes (default 8): the merge tree has
        ``ceil(log_split_every(blocks))`` levels.

    Returns
    -------
    (scores, indices) : tuple of dask arrays, shapes (q, k) (or (k,) for one 1-D query)
        Bitwise equal to ``ops.top_k(queries, corpus, k, ...)`` on the whole corpus, for any
        chunking: descending scores, ties by lower index, NaN after numbers, and index -1 with a NaN
        score where a query has fewer than ``k`` candidates. Indices are global rows of ``corpus``.

    Examples
    --------
    >>> import dask, numpy as np, swiftsim.dask
    >>> corpus = dask.array.from_array(np.eye(5), chunks=2)
    >>> s, i = swiftsim.dask.top_k(np.array([[1., .5, 0, 0, 0]]), corpus, 2)
    >>> i.compute()
    array([[0, 1]])
    """
    eps = check_epsilon(epsilon)
    an = _check_flag(assume_normalized, "assume_normalized")
    es = _check_flag(exclude_self, "exclude_self")
    fan_in = _check_split_every(split_every)
    from ._retrieval import _check_k

    k = _check_k(k)
    q = _as_dask(queries, "queries")
    single = q.ndim == 1
    if q.ndim not in (1, 2):
        raise ValueError(f"queries must have shape (q, d) or (d,), got {q.shape}")
    if single:
        q = q.reshape(1, -1)
    q = _rows(q, "queries")
    c = _rows(_as_dask(corpus, "corpus"), "corpus")
    if q.shape[1] != c.shape[1]:
        raise ValueError(
            f"queries and corpus must have the same number of features: shapes {q.shape} and {c.shape}"
        )
    dtype = _probe_dtype(q.dtype, c.dtype, name="top_k", d=max(1, q.shape[1]))
    token = tokenize(q, c, k, eps, an, es, fan_in)
    qoff, coff = _offsets(q.chunks[0]), _offsets(c.chunks[0])
    nq, nc = len(q.chunks[0]), len(c.chunks[0])
    name = f"swiftsim-top-k-{token}"
    layer: dict[Any, Any] = {}
    for i in range(nq):
        level = [(f"{name}-block", i, j) for j in range(nc)]
        for j, key in enumerate(level):
            layer[key] = (_block_top_k, (q.name, i, 0), (c.name, j, 0), k, eps, an, es, qoff[i], coff[j])
        depth = 0
        while len(level) > 1:
            depth += 1
            nxt = []
            for g in range(0, len(level), fan_in):
                key = (f"{name}-merge-{depth}", i, g // fan_in)
                layer[key] = (_merge, list(level[g : g + fan_in]), k)
                nxt.append(key)
            level = nxt
        layer[(f"{name}-scores", i, 0)] = (operator.getitem, level[0], 0)
        layer[(f"{name}-indices", i, 0)] = (operator.getitem, level[0], 1)
    scores_layer = {key: v for key, v in layer.items() if key[0] == f"{name}-scores"}
    indices_layer = {key: v for key, v in layer.items() if key[0] == f"{name}-indices"}
    tree_layer = {key: v for key, v in layer.items() if key not in scores_layer and key not in indices_layer}
    tree = _graph(f"{name}-tree", tree_layer, [q, c])
    layers = dict(tree.layers)
    deps = dict(tree.dependencies)
    layers[f"{name}-scores"] = MaterializedLayer(scores_layer)
    layers[f"{name}-indices"] = MaterializedLayer(indices_layer)
    deps[f"{name}-scores"] = {f"{name}-tree"}
    deps[f"{name}-indices"] = {f"{name}-tree"}
    graph = HighLevelGraph(layers, deps)
    chunks = (q.chunks[0], (k,))
    scores = da.Array(graph, f"{name}-scores", chunks, dtype=dtype)
    indices = da.Array(graph, f"{name}-indices", chunks, dtype=np.int64)
    if single:
        return scores[0], indices[0]
    return scores, indices


# ---------------------------------------------------------------------------------------------------
# All pairs
# ---------------------------------------------------------------------------------------------------


def pairwise_cosine_similarity(x: Any, y: Any = None, epsilon: float = 1e-12) -> da.Array:
    """Cosine similarity of every row of ``x`` with every row of ``y``, as a lazy ``(n, m)`` dask array.

    Parameters
    ----------
    x : dask array or array_like, shape (n, d)
    y : dask array or array_like, shape (m, d), optional
        Default ``x``: then the blocks below the diagonal are the transposed blocks above it (and
        the diagonal blocks are symmetric), so the result is exactly symmetric, as in memory.
    epsilon : float, default 1e-12
        Floor on each squared norm.

    Returns
    -------
    dask array, shape (n, m), chunks (x's row chunks, y's row chunks)
        Each block bitwise equal to the same block of ``ops.pairwise_cosine_similarity(x, y)``.
        Each block must fit the worker's ``swiftsim.config.working_memory``.
    """
    eps = check_epsilon(epsilon)
    a = _rows(_as_dask(x, "x"), "x")
    if y is None:
        dtype = _probe_dtype(a.dtype, name="pairwise", d=max(1, a.shape[1]))
        name = f"swiftsim-pairwise-{tokenize(a, eps)}"
        nb = len(a.chunks[0])
        layer: dict[Any, Any] = {}
        for i in range(nb):
            for j in range(nb):
                if i == j:
                    layer[(name, i, j)] = (_pairwise_block, (a.name, i, 0), None, eps)
                elif i < j:
                    layer[(name, i, j)] = (_pairwise_block, (a.name, i, 0), (a.name, j, 0), eps)
                else:
                    layer[(name, i, j)] = (np.transpose, (name, j, i))
        graph = _graph(name, layer, [a])
        return da.Array(graph, name, (a.chunks[0], a.chunks[0]), dtype=dtype)
    b = _rows(_as_dask(y, "y"), "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features (last axis): shapes {a.shape} and {b.shape}"
        )
    dtype = _probe_dtype(a.dtype, b.dtype, name="pairwise", d=max(1, a.shape[1]))
    out: da.Array = da.blockwise(
        _pairwise_block, "ij", a, "ik", b, "jk", dtype=dtype, concatenate=True, epsilon=eps
    )
    return out


def pairs_above(x: Any, y: Any = None, *, threshold: float, epsilon: float = 1e-12) -> dd.DataFrame:
    """Every pair of rows whose cosine similarity is at least ``threshold``, as a lazy dask DataFrame.

    Parameters
    ----------
    x : dask array or array_like, shape (n, d)
    y : dask array or array_like, shape (m, d), optional
        Default ``x``: then only the pairs ``i < j``, and only the block pairs on and above the
        diagonal are computed.
    threshold, epsilon
        As in :func:`swiftsim.ops.pairs_above`.

    Returns
    -------
    dask.dataframe.DataFrame with columns ``row``, ``col`` (int64, global indices) and ``score``
        One partition per row block of ``x``, each sorted by ``(row, col)``, so the computed frame
        holds exactly the pairs of ``ops.pairs_above(x, y, ...)`` in its order, scores bitwise equal.
        The pairs of each block pair must fit the worker's ``swiftsim.config.working_memory``.
    """
    import dask.dataframe as ddf

    eps = check_epsilon(epsilon)
    thr = _check_threshold(threshold)
    a = _rows(_as_dask(x, "x"), "x")
    b = a if y is None else _rows(_as_dask(y, "y"), "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"x and y must have the same number of features (last axis): shapes {a.shape} and {b.shape}"
        )
    dtype = _probe_dtype(a.dtype, *(() if y is None else (b.dtype,)), name="pairs", d=max(1, a.shape[1]))
    xb, yb = a.to_delayed()[:, 0], b.to_delayed()[:, 0]
    xoff, yoff = _offsets(a.chunks[0]), _offsets(b.chunks[0])
    block = delayed(_pairs_block, pure=True)
    partition = delayed(_pairs_partition, pure=True)
    parts = []
    for i in range(len(xb)):
        if y is None:
            pieces = [block(xb[i], None, thr, eps, xoff[i], xoff[i])]
            pieces += [block(xb[i], yb[j], thr, eps, xoff[i], yoff[j]) for j in range(i + 1, len(yb))]
        else:
            pieces = [block(xb[i], yb[j], thr, eps, xoff[i], yoff[j]) for j in range(len(yb))]
        parts.append(partition(pieces, dtype))
    meta = _pairs_partition([], dtype)  # the empty frame: columns and dtypes
    frame: dd.DataFrame = ddf.from_delayed(parts, meta=meta, verify_meta=False)
    return frame


# ---------------------------------------------------------------------------------------------------
# Row-wise
# ---------------------------------------------------------------------------------------------------


def _axis(axis: Any, ndim: int, name: str) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}")
    if not -ndim <= int(axis) < ndim:
        raise np.exceptions.AxisError(int(axis), ndim, f"{name} has shape ")
    return int(axis) % ndim


def cosine_similarity(x1: Any, x2: Any, axis: int = -1, epsilon: float = 1e-12) -> da.Array:
    """The positive cosine of ``x1`` and ``x2`` along ``axis``, blockwise, as a lazy dask array.

    The inputs broadcast as in :func:`swiftsim.ops.cosine_similarity` (same rank after broadcasting);
    the reduced axis is rechunked into one chunk and the other axes keep their chunks. Each block is
    ``ops.cosine_similarity`` of the same blocks, so the result is bitwise the in-memory one.
    """
    eps = check_epsilon(epsilon)
    a, b = _as_dask(x1, "x1"), _as_dask(x2, "x2")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"x1 and x2 could not be broadcast together: shapes {a.shape} and {b.shape}"
        ) from None
    if not shape:
        raise ValueError(f"cosine_similarity needs at least one axis; got shapes {a.shape} and {b.shape}")
    ax = _axis(axis, len(shape), f"x1 and x2 broadcast to shape {shape}; axis {axis} is out of range:")
    a, b = da.broadcast_to(a, shape), da.broadcast_to(b, shape)
    a, b = a.rechunk({ax: -1}), b.rechunk({ax: -1})
    index = tuple(range(len(shape)))
    _, (a, b) = da.core.unify_chunks(a, index, b, index)
    probe = ops.cosine_similarity(np.zeros((1, 1), a.dtype), np.zeros((1, 1), b.dtype))
    dtype = np.asarray(probe).dtype
    out: da.Array = da.map_blocks(_cosine_block, a, b, ax, eps, drop_axis=ax, dtype=dtype)
    return out


def l2_normalize(x: Any, axis: int | Sequence[int] = -1, epsilon: float = 1e-12) -> da.Array:
    """``x`` scaled to unit l2 norm along ``axis`` (an axis or several), blockwise, as a dask array.

    The normalised axes are rechunked into one chunk each, the other axes keep their chunks; each
    block is ``ops.l2_normalize`` of the same block, bitwise the in-memory result.
    """
    eps = check_epsilon(epsilon)
    a = _as_dask(x, "x")
    if a.ndim == 0:
        raise ValueError("l2_normalize needs at least one axis; got a 0-d array")
    axes = (axis,) if isinstance(axis, numbers.Integral) and not isinstance(axis, bool) else tuple(axis)  # type: ignore[arg-type]
    norm = tuple(
        sorted({_axis(ax, a.ndim, f"x has shape {a.shape}; axis {ax} is out of range:") for ax in axes})
    )
    if not norm:
        raise ValueError("l2_normalize: axis is empty; give at least one axis")
    a = a.rechunk({ax: -1 for ax in norm})
    dtype = np.asarray(ops.l2_normalize(np.zeros((1,), a.dtype))).dtype
    out: da.Array = da.map_blocks(_normalize_block, a, norm, eps, dtype=dtype)
    return out


# ---------------------------------------------------------------------------------------------------
# Corpora on disk
# ---------------------------------------------------------------------------------------------------


def _npy_files(path: Any) -> list[str]:
    if isinstance(path, (str, os.PathLike)):
        p = os.fspath(path)
        if os.path.isdir(p):
            files = sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".npy"))
            if not files:
                raise ValueError(f"from_npy: the folder {p} holds no .npy files")
            return [os.path.abspath(f) for f in files]
        if not os.path.isfile(p):
            raise ValueError(f"from_npy: {p} is neither a .npy file nor a folder of them")
        return [os.path.abspath(p)]
    if isinstance(path, Sequence) and not isinstance(path, bytes):
        files = [os.fspath(f) for f in path]
        if not files:
            raise ValueError("from_npy: no files given")
        for f in files:
            if not os.path.isfile(f):
                raise ValueError(f"from_npy: {f} is not a file")
        return [os.path.abspath(f) for f in files]
    raise TypeError(f"from_npy: path must be a path or a sequence of paths, got {type(path).__name__}")


def from_npy(path: Any, *, chunk_rows: int | None = None) -> da.Array:
    """A corpus stored as ``.npy`` files, as a dask array whose tasks open their file memory-mapped.

    Parameters
    ----------
    path : path, folder, or sequence of paths
        One ``.npy`` file; a folder, whose ``*.npy`` files are the shards in name order (name them
        with zero-padded numbers: ``part-00000.npy``, ...); or a list of files, in order. Every
        shard is 2-D with the same feature count and dtype; the corpus is their rows, concatenated.
    chunk_rows : int, optional
        The most rows per chunk (a shard is split into chunks of at most this many rows; a chunk
        never spans two shards). Default: Dask's ``array.chunk-size`` worth of rows.

    Returns
    -------
    dask array, shape (n, d)
        Each task opens its file with ``np.load(path, mmap_mode="r")`` on the worker that runs it
        and returns a view of its rows: the graph holds paths and row ranges, never the data, so
        every worker must see the files at the same path (a shared or replicated filesystem).
    """
    files = _npy_files(path)
    if chunk_rows is not None:
        if isinstance(chunk_rows, (bool, np.bool_)) or not isinstance(chunk_rows, numbers.Integral):
            raise TypeError(f"chunk_rows must be an integer, got {type(chunk_rows).__name__}")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    shapes: list[tuple[int, ...]] = []
    dtype: np.dtype[Any] | None = None
    for f in files:
        try:
            mm = np.load(f, mmap_mode="r")  # reads the header only
        except Exception as exc:
            raise ValueError(f"from_npy: {f} is not a readable .npy file: {exc}") from None
        if mm.ndim != 2:
            raise ValueError(f"from_npy: {f} has shape {mm.shape}; every shard must be 2-D (rows, features)")
        if dtype is None:
            dtype, d = mm.dtype, mm.shape[1]
        elif mm.dtype != dtype or mm.shape[1] != d:
            raise ValueError(
                f"from_npy: {f} has shape {mm.shape} and dtype {mm.dtype}, but {files[0]} has {d} features "
                f"and dtype {dtype}; every shard needs the same"
            )
        shapes.append(mm.shape)
        del mm
    assert dtype is not None
    if chunk_rows is None:
        limit = dask.utils.parse_bytes(dask.config.get("array.chunk-size"))
        chunk_rows = max(1, limit // max(1, d * dtype.itemsize))
    stats = [(f, os.stat(f).st_mtime_ns, os.stat(f).st_size) for f in files]
    name = f"swiftsim-npy-{tokenize(stats, chunk_rows)}"
    layer: dict[Any, Any] = {}
    sizes: list[int] = []
    for f, shape in zip(files, shapes, strict=True):
        n = shape[0]
        starts = range(0, n, chunk_rows) if n else range(1)
        for s in starts:
            e = min(n, s + chunk_rows)
            layer[(name, len(sizes), 0)] = (_load_rows, f, s, e)
            sizes.append(e - s)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[])
    return da.Array(graph, name, (tuple(sizes), (d,)), dtype=dtype)
