"""``python -m swiftsim pairs``: semantic de-duplication, every pair of rows with cosine >= a threshold.

The ``.npy`` corpus is memory-mapped and never loaded whole: it is processed in blocks of rows, each
block against every later row (the pairs ``i < j``) by the kernel of
:func:`swiftsim.ops.pairs_above`, which streams the product tile by tile. Memory is the pairs found
(capped by ``--working-memory``) plus the kernel's packed panels of a few thousand rows; the corpus
pages come and go as the OS sees fit, so a corpus larger than RAM works. The result is the same as
``ops.pairs_above(corpus, threshold=...)`` on the whole corpus: ``rows < cols``, sorted by
``(row, col)``, scores bitwise those of ``pairwise_cosine_similarity``.

With ``--scheduler ADDRESS`` or ``--dask-workers N`` the job runs on a Dask cluster through
:func:`swiftsim.dask.pairs_above` (block pairs on and above the diagonal, each worker opening its
rows memory-mapped), and the corpus may be a folder of ``.npy`` shards (in name order); the result
is the same. There the pairs of each pair of blocks are bounded by the workers'
``swiftsim.config.working_memory``, and ``--working-memory`` is not taken.

A progress bar is drawn on a terminal. Ctrl-C stops the job within a tile: nothing is written, and the
exit status is 130.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from .._config import config
from .._contract import KERAS2_EPSILON
from .._retrieval import PairsBudgetError, find_pairs
from .common import (
    CliError,
    Corpus,
    Progress,
    add_dask_arguments,
    dask_client,
    fmt_bytes,
    save_npz_atomic,
    uses_dask,
)

DEFAULT_BLOCK_ROWS = 4096  # rows of the corpus per kernel call: one pass of the kernel


def add_arguments(p) -> None:
    p.add_argument(
        "corpus",
        metavar="CORPUS",
        help="(n, d) corpus, float16/32/64, read memory-mapped: a .npy file, or with --scheduler or "
        "--dask-workers also a folder of .npy shards (name order)",
    )
    p.add_argument(
        "--threshold", type=float, required=True, help="keep the pairs whose cosine is >= this (e.g. 0.95)"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="PAIRS.npz", help="writes arrays 'rows', 'cols' and 'scores'"
    )
    p.add_argument(
        "--epsilon",
        type=float,
        default=KERAS2_EPSILON,
        help=f"floor on each squared norm (default {KERAS2_EPSILON:g})",
    )
    p.add_argument(
        "--block",
        type=int,
        default=DEFAULT_BLOCK_ROWS,
        metavar="ROWS",
        help=f"corpus rows compared with every later row per step (default {DEFAULT_BLOCK_ROWS})",
    )
    p.add_argument(
        "--working-memory",
        type=int,
        metavar="BYTES",
        help="most bytes the pairs may take (16 + the score's size each; default "
        "swiftsim.config.working_memory, 4 GiB unless changed)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_dask_arguments(p)


def _check(corpus, args) -> None:
    if corpus.ndim != 2:
        raise CliError(f"CORPUS must be 2-D (rows, features), got shape {corpus.shape}")
    if corpus.dtype.kind != "f" or corpus.dtype.itemsize not in (2, 4, 8) or not corpus.dtype.isnative:
        raise CliError(
            f"CORPUS has dtype {corpus.dtype}; the pairs job reads the corpus in place and needs float16, "
            "float32 or float64 in native byte order (convert it once, e.g. "
            "np.save('c32.npy', np.load('c.npy').astype(np.float32)))"
        )
    if math.isnan(args.threshold):
        raise CliError("--threshold must be a number, got nan")
    if not (0.0 <= args.epsilon < float("inf")):
        raise CliError(f"--epsilon must be a finite number >= 0, got {args.epsilon}")
    if args.block < 1:
        raise CliError(f"--block must be a positive number of rows, got {args.block}")
    if args.working_memory is not None and args.working_memory < 1:
        raise CliError(f"--working-memory must be a positive number of bytes, got {args.working_memory}")


def pairs_blocked(
    corpus: np.ndarray, threshold: float, epsilon: float, block: int, budget: int, progress: Progress
):
    """``(rows, cols, scores)`` of every pair ``i < j`` of ``corpus`` rows with cosine >= ``threshold``,
    ``block`` rows at a time against all later rows; a :class:`CliError` beyond ``budget`` bytes."""
    n = corpus.shape[0]
    per_pair = 16 + corpus.dtype.itemsize
    total_work = max(1, n * (n - 1) // 2)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    found = work = 0
    for i0 in range(0, n, block):
        b = min(block, n - i0)
        x = np.asarray(corpus[i0 : i0 + b])  # views of the memory map: nothing is read yet
        y = np.asarray(corpus[i0:])
        m = n - i0
        block_pairs = b * (m - 1) - b * (b - 1) // 2  # the pairs i < j with i in this block
        try:
            r, c, s = find_pairs(
                x,
                y,
                threshold,
                epsilon,
                1,
                budget - found * per_pair,
                max_pairs=block_pairs,
                what="",
                advice="",
            )
        except PairsBudgetError as exc:
            raise CliError(
                f"the pairs with cosine >= {threshold} take more than the --working-memory budget of "
                f"{budget} bytes ({fmt_bytes(budget)}, {per_pair} bytes a pair): {found + exc.found} found "
                f"so far (the rows before {i0 + exc.next_row} complete); raise --threshold or "
                "--working-memory"
            ) from None
        r += i0
        c += i0
        parts.append((r, c, s))
        found += len(r)
        work += block_pairs
        progress.update(1, f"{found:,} pairs, {100 * work / total_work:.0f}% of the work")
    if not parts:
        empty = np.empty(0, np.int64)
        return empty, empty.copy(), np.empty(0, corpus.dtype)
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def run(args) -> int:
    shards = Corpus(args.corpus, "CORPUS")
    _check(shards, args)
    if len(shards.shards) > 1 and not uses_dask(args):
        raise CliError(
            f"CORPUS: {args.corpus} is a folder of {len(shards.shards)} shards; the pairs of a sharded "
            "corpus are found on a Dask cluster: add --dask-workers N or --scheduler ADDRESS"
        )
    if uses_dask(args) and args.working_memory is not None:
        raise CliError(
            "--working-memory bounds the in-process job; on a Dask cluster each task's pairs are bounded "
            "by the workers' swiftsim.config.working_memory"
        )
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise CliError(f"-o: the directory {out_dir} does not exist")
    budget = config.working_memory if args.working_memory is None else args.working_memory
    n, d = shards.shape
    blocks = max(1, -(-n // args.block))
    t0 = time.perf_counter()
    where = ""
    if uses_dask(args):
        with dask_client(args) as client:
            t0 = time.perf_counter()  # the job, not the cluster's start
            rows, cols, scores = _pairs_on_dask(shards, args)
            where = f" on {len(client.scheduler_info()['workers'])} Dask worker(s)"
    else:
        corpus = shards.shards[0]
        with Progress(blocks, "pairs", enabled=False if args.no_progress else None) as bar:
            rows, cols, scores = pairs_blocked(corpus, args.threshold, args.epsilon, args.block, budget, bar)
    elapsed = time.perf_counter() - t0
    save_npz_atomic(args.output, rows=rows, cols=cols, scores=scores, threshold=np.float64(args.threshold))
    compared = n * (n - 1) // 2
    print(
        f"pairs: {n} rows (d={d}, {shards.dtype}), cosine >= {args.threshold:g}: {len(rows)} pairs, "
        f"{blocks} block(s) of <= {min(args.block, max(n, 1))} rows{where}: {elapsed:.2f} s, "
        f"{compared / max(elapsed, 1e-9):,.0f} similarities/s -> {args.output}"
    )
    return 0


def _pairs_on_dask(corpus: Corpus, args):
    """``swiftsim.dask.pairs_above`` over the shards opened by the workers, as three arrays."""
    from .. import dask as sdask

    c = sdask.from_npy(corpus.files, chunk_rows=args.block)
    frame = sdask.pairs_above(c, threshold=args.threshold, epsilon=args.epsilon).compute()
    return (
        frame["row"].to_numpy(np.int64),
        frame["col"].to_numpy(np.int64),
        frame["score"].to_numpy(corpus.dtype),
    )
