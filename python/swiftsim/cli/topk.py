"""``python -m swiftsim topk``: the k most similar corpus rows of every query, corpus from disk in tiles.

Both ``.npy`` files are opened memory-mapped, and the corpus is read one tile of rows at a time:
:func:`swiftsim.ops.top_k` gives each tile's best k (indices shifted by the tile's offset), and
:func:`swiftsim.ops.merge_top_k` keeps the best k so far, in top_k's order. Memory is the queries,
O(q·k) for the results and one tile, so a corpus larger than RAM works. The result is bitwise the
same as one ``top_k`` over the whole corpus: ties go to the lower index, as
``np.argsort(-scores, kind="stable")`` and ``tf.math.top_k`` order them.

The corpus may also be a folder of ``.npy`` shards (in name order, their rows concatenated). With
``--scheduler ADDRESS`` or ``--dask-workers N`` the work runs on a Dask cluster through
:func:`swiftsim.dask.top_k`, each worker opening its tiles of the shards memory-mapped; the result
is the same, bit for bit.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .. import ops
from .._contract import KERAS2_EPSILON
from .common import (
    CliError,
    Corpus,
    Progress,
    add_dask_arguments,
    dask_client,
    fmt_bytes,
    load_npy,
    save_npz_atomic,
    uses_dask,
)

DEFAULT_TILE_BYTES = 64 << 20  # a corpus tile of ~64 MiB unless --tile says otherwise


def add_arguments(p) -> None:
    p.add_argument("queries", metavar="QUERIES.npy", help="(q, d) queries")
    p.add_argument(
        "corpus",
        metavar="CORPUS",
        help="(n, d) corpus: a .npy file or a folder of .npy shards (name order), read memory-mapped "
        "tile by tile",
    )
    p.add_argument(
        "-k",
        type=int,
        required=True,
        help="results per query (>= 1); past the corpus size, index -1 and a NaN score",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT.npz", help="writes arrays 'scores' and 'indices'"
    )
    p.add_argument(
        "--tile",
        type=int,
        metavar="ROWS",
        help=f"corpus rows per tile (default: ~{fmt_bytes(DEFAULT_TILE_BYTES)})",
    )
    p.add_argument(
        "--epsilon",
        type=float,
        default=KERAS2_EPSILON,
        help=f"floor on each squared norm (default {KERAS2_EPSILON:g})",
    )
    p.add_argument(
        "--assume-normalized", action="store_true", help="rows are unit vectors already: skip the norms"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_dask_arguments(p)


def topk_tiled(
    queries, corpus, k: int, tile: int, epsilon: float, assume_normalized: bool, progress: Progress
):
    """``(scores, indices)`` of shape (q, k) over the corpus read ``tile`` rows at a time."""
    n = corpus.shape[0]
    best: tuple[np.ndarray, np.ndarray] | None = None
    for start in range(0, n, tile):
        block = np.asarray(corpus[start : start + tile])  # reads this tile (a view when not memory-mapped)
        s, i = ops.top_k(queries, block, k, epsilon, assume_normalized=assume_normalized)
        i = np.where(i >= 0, i + start, i)  # padding (-1) stays -1
        best = (s, i) if best is None else ops.merge_top_k([best, (s, i)], k)
        progress.update(1)
    assert best is not None  # n >= 1: at least one tile
    return best


def topk_sharded(
    queries, shards, k: int, tile: int, epsilon: float, assume_normalized: bool, progress: Progress
):
    """:func:`topk_tiled` over each shard in turn, the shards' indices shifted by their offsets."""
    best: tuple[np.ndarray, np.ndarray] | None = None
    offset = 0
    for shard in shards:
        n = shard.shape[0]
        if n:
            s, i = topk_tiled(queries, shard, k, tile, epsilon, assume_normalized, progress)
            i = np.where(i >= 0, i + offset, i)
            best = (s, i) if best is None else ops.merge_top_k([best, (s, i)], k)
        offset += n
    assert best is not None  # n >= 1: at least one row
    return best


def _check(queries: np.ndarray, corpus, args) -> int:
    if queries.ndim != 2 or corpus.ndim != 2:
        raise CliError(
            f"queries and corpus must be 2-D (rows, features); got shapes {queries.shape} and {corpus.shape}"
        )
    if queries.shape[1] != corpus.shape[1]:
        raise CliError(
            f"queries and corpus have different feature counts: shapes {queries.shape} and {corpus.shape}"
        )
    n = corpus.shape[0]
    if n == 0:
        raise CliError(f"the corpus has no rows: shape {corpus.shape}")
    if args.k < 1:
        raise CliError(f"-k must be at least 1, got {args.k}")
    if args.tile is not None and args.tile < 1:
        raise CliError(f"--tile must be a positive number of rows, got {args.tile}")
    if not (0.0 <= args.epsilon < float("inf")):
        raise CliError(f"--epsilon must be a finite number >= 0, got {args.epsilon}")
    row_bytes = max(1, corpus.shape[1] * corpus.dtype.itemsize)
    return args.tile or max(1, DEFAULT_TILE_BYTES // row_bytes)


def run(args) -> int:
    queries_mm = load_npy(args.queries, "QUERIES")
    corpus = Corpus(args.corpus, "CORPUS")
    tile = _check(queries_mm, corpus, args)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise CliError(f"-o: the directory {out_dir} does not exist")
    queries = np.asarray(queries_mm)  # every tile is scored against all queries: read them once
    q, d = queries.shape
    n = corpus.shape[0]
    tiles = sum(-(-shard.shape[0] // tile) for shard in corpus.shards)
    t0 = time.perf_counter()
    where = ""
    if uses_dask(args):
        with dask_client(args) as client:
            t0 = time.perf_counter()  # the job, not the cluster's start
            scores, indices = _topk_on_dask(queries, corpus, args, tile)
            where = f" on {len(client.scheduler_info()['workers'])} Dask worker(s)"
    else:
        with Progress(tiles, "topk", enabled=False if args.no_progress else None) as bar:
            scores, indices = topk_sharded(
                queries, corpus.shards, args.k, tile, args.epsilon, args.assume_normalized, bar
            )
    elapsed = time.perf_counter() - t0
    save_npz_atomic(args.output, scores=scores, indices=indices)
    print(
        f"topk: {q} queries x {n} corpus rows (d={d}, {scores.dtype}), k={args.k}, {tiles} tile(s) of "
        f"<= {min(tile, n)} rows{where}: {elapsed:.2f} s, {n / max(elapsed, 1e-9):,.0f} corpus rows/s "
        f"({q * n / max(elapsed, 1e-9):,.0f} similarities/s) -> {args.output}"
    )
    return 0


def _topk_on_dask(queries: np.ndarray, corpus: Corpus, args, tile: int):
    """``swiftsim.dask.top_k`` over the shards opened by the workers, computed on the active client."""
    import dask

    from .. import dask as sdask

    c = sdask.from_npy(corpus.files, chunk_rows=tile)
    lazy = sdask.top_k(queries, c, args.k, args.epsilon, assume_normalized=args.assume_normalized)
    return dask.compute(*lazy)
