"""``swiftsim.dask.top_k`` on a local Dask cluster against in-process ``ops.top_k`` and against
``da.matmul`` + ``da.argtopk`` on the same cluster.

    python benchmarks/dask_bench.py                    # 1000 queries x (1 000 000, 128) float32, k=10
    python benchmarks/dask_bench.py --quick            # 200 queries x (100 000, 128): about a minute
    python benchmarks/dask_bench.py --json dask.json   # also writes the medians and ratios

The corpus is written once as ``.npy`` shards into a temporary folder (``--dir`` to choose it) and
read from there (the page cache is warm after the untimed first calls):

  in-process      ops.top_k(queries, corpus, k) on the corpus in memory (the shards concatenated),
                  --threads threads (default: workers x threads per worker, the cores the cluster has)
  swiftsim.dask   swiftsim.dask.top_k(queries, swiftsim.dask.from_npy(folder, chunk_rows=...), k)
                  on a LocalCluster of --workers processes with --threads-per-worker threads each
  matmul+argtopk  the dask.array expression on the same cluster and the same chunks: the normalised
                  queries @ (corpus / its row norms).T, then da.argtopk (indices only: argtopk drops
                  the scores, so this route is timed without gathering them)

Before timing, the swiftsim.dask result must be bitwise the in-process one, and the matmul route's
k best must agree with it within float32 tolerances (a near-tie may be broken either way). Timing:
per round each contender runs once, in an order that rotates from round to round; the table shows
medians and the two ratios: the overhead (swiftsim.dask / in-process) and the speed-up over the
matmul route (matmul+argtopk / swiftsim.dask). The machine may be shared: compare the ratios, which
are measured in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import swiftsim
from swiftsim import ops


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (a smoke test)")
    p.add_argument("--queries", type=int, help="number of queries (default 1000; --quick 200)")
    p.add_argument("--rows", type=int, help="corpus rows (default 1 000 000; --quick 100 000)")
    p.add_argument("--dim", type=int, default=128, help="features per row (default 128)")
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--shards", type=int, default=8, help=".npy shards the corpus is written as (default 8)")
    p.add_argument("--chunk-rows", type=int, help="rows per dask chunk (default 50 000; --quick 12 500)")
    p.add_argument("--workers", type=int, default=2, help="local Dask worker processes (default 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="threads per worker (default 1)")
    p.add_argument("--threads", type=int, help="in-process threads (default workers x threads-per-worker)")
    p.add_argument("--rounds", type=int, help="timing rounds (default 7; --quick 3)")
    p.add_argument("--dir", help="folder for the corpus shards (default: a temporary folder, removed after)")
    p.add_argument("--json", metavar="OUT.json", help="write the medians and ratios here")
    args = p.parse_args(argv)
    args.queries = args.queries or (200 if args.quick else 1000)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.chunk_rows = args.chunk_rows or (12_500 if args.quick else 50_000)
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.threads = args.threads or args.workers * args.threads_per_worker
    return args


def write_shards(folder: str, rows: int, dim: int, shards: int, seed: int = 0) -> None:
    """A float32 corpus of ``rows`` random rows as ``shards`` files ``part-00000.npy``, ...; a few rows
    repeated across shards, so that exact ties cross the shard boundaries."""
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, rows, shards + 1).astype(int)
    first = None
    for s in range(shards):
        block = rng.standard_normal((bounds[s + 1] - bounds[s], dim), dtype=np.float32)
        if first is None:
            first = block[:4].copy()
        elif len(block) >= 4:
            block[:4] = first
        np.save(os.path.join(folder, f"part-{s:05d}.npy"), block)


def matmul_argtopk(da: Any, queries: np.ndarray, corpus: Any, k: int) -> Any:
    """The dask.array route: the normalised product, then ``da.argtopk`` along the corpus (indices
    only: ``da.argtopk`` drops the values, so this route is timed without gathering the scores)."""
    qn = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-6)
    cn = corpus / da.maximum(da.linalg.norm(corpus, axis=1, keepdims=True), 1e-6)
    sims = da.matmul(qn.astype(np.float32), cn.T)
    return da.argtopk(sims, k, axis=1)


def check_matmul_route(
    ours: tuple[np.ndarray, np.ndarray], theirs_idx: np.ndarray, q: np.ndarray, c: np.ndarray
) -> float:
    """The largest difference, in float64, between the k best scores of the two routes."""

    def score(idx: np.ndarray) -> np.ndarray:
        qq = q.astype(np.float64)
        cc = c[np.asarray(idx)].astype(np.float64)
        qn = qq / np.linalg.norm(qq, axis=1, keepdims=True)
        cn = cc / np.linalg.norm(cc, axis=2, keepdims=True)
        return -np.sort(-np.einsum("qd,qkd->qk", qn, cn), axis=1)

    return float(np.abs(score(ours[1]) - score(theirs_idx)).max())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import dask
        import dask.array as da
        import distributed

        import swiftsim.dask as sdask
    except ImportError as exc:
        print(f"dask_bench: needs swiftsim[dask] ({exc}): pip install 'swiftsim[dask]'", file=sys.stderr)
        return 2

    folder = args.dir or tempfile.mkdtemp(prefix="swiftsim-dask-bench-")
    os.makedirs(folder, exist_ok=True)
    print(
        f"dask_bench: {args.queries} queries x ({args.rows}, {args.dim}) float32, k={args.k}; "
        f"{args.workers} workers x {args.threads_per_worker} thread(s) vs {args.threads} thread(s) "
        "in process; "
        f"chunks of {args.chunk_rows} rows; shards in {folder}"
    )
    environ = dict(os.environ)
    try:
        t = time.perf_counter()
        write_shards(folder, args.rows, args.dim, args.shards)
        print(f"  wrote {args.shards} shards in {time.perf_counter() - t:.1f} s")
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".npy"))
        corpus_mm = np.concatenate([np.load(f, mmap_mode="r") for f in files])  # in-process: one array
        queries = np.random.default_rng(1).standard_normal((args.queries, args.dim), dtype=np.float32)
        queries[:2] = corpus_mm[:2]

        with (
            distributed.LocalCluster(
                n_workers=args.workers,
                threads_per_worker=args.threads_per_worker,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            os.environ.clear()  # a nanny writes OMP_NUM_THREADS=1 into this process's environment
            os.environ.update(environ)
            corpus = sdask.from_npy(folder, chunk_rows=args.chunk_rows)
            swiftsim.set_num_threads(args.threads)

            def in_process() -> tuple[np.ndarray, np.ndarray]:
                return ops.top_k(queries, corpus_mm, args.k)

            def on_dask() -> tuple[np.ndarray, np.ndarray]:
                return dask.compute(*sdask.top_k(queries, corpus, args.k))

            def argtopk_route() -> np.ndarray:
                return matmul_argtopk(da, queries, corpus, args.k).compute()

            contenders: dict[str, Callable[[], Any]] = {
                "in-process ops.top_k": in_process,
                "swiftsim.dask.top_k": on_dask,
                "da.matmul + da.argtopk": argtopk_route,
            }
            # Verify before timing (these calls also warm the page cache and the workers).
            want = in_process()
            got = on_dask()
            if not (np.array_equal(got[0], want[0], equal_nan=True) and np.array_equal(got[1], want[1])):
                print("dask_bench: swiftsim.dask.top_k is not bitwise the in-process top_k", file=sys.stderr)
                return 1
            theirs = argtopk_route()
            err = check_matmul_route(want, theirs, queries, corpus_mm)
            if err > 1e-5:
                print(f"dask_bench: the matmul route's k best differ by {err:g}", file=sys.stderr)
                return 1
            budgets = client.run(swiftsim.get_num_threads)
            print(
                f"  verified: bitwise equal; matmul route within {err:.1e}; threads in the workers: "
                f"{sorted(budgets.values())}"
            )

            times: dict[str, list[float]] = {name: [] for name in contenders}
            names = list(contenders)
            for r in range(args.rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    t = time.perf_counter()
                    contenders[name]()
                    times[name].append(time.perf_counter() - t)
            med = {name: statistics.median(v) for name, v in times.items()}
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)

    overhead = med["swiftsim.dask.top_k"] / med["in-process ops.top_k"]
    speedup = med["da.matmul + da.argtopk"] / med["swiftsim.dask.top_k"]
    print(f"\n  {'contender':<26} {'median':>10}   (of {args.rounds} rounds)")
    for name, m in med.items():
        print(f"  {name:<26} {m * 1e3:>8.1f} ms")
    print(f"\n  overhead: swiftsim.dask / in-process = {overhead:.2f}x")
    print(f"  swiftsim.dask vs da.matmul + da.argtopk: {speedup:.2f}x faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "args": {k: v for k, v in vars(args).items() if k != "json"},
                    "median_s": med,
                    "times_s": times,
                    "overhead": overhead,
                    "speedup_vs_argtopk": speedup,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
