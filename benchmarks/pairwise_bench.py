"""Benchmarks of swiftsim's all-pairs kernels against BLAS (NumPy's matmul), scikit-learn and faiss.

    python benchmarks/pairwise_bench.py                 # every case, both libraries on all cores
    python benchmarks/pairwise_bench.py --threads 1     # single-threaded (both sides)
    python benchmarks/pairwise_bench.py --only pairwise_f32 topk --rounds 9

Cases (targets from the issue, as ratios of medians: swiftsim time / reference time):
  pairwise_f32   (4096, 768) x (4096, 768) float32 vs np.matmul(x, y.T)       target <= 1.2
  pairwise_f64   same in float64 vs dgemm                                        target <= 1.3
  batched_f32    (64, 256, 128) x (64, 256, 128) float32 vs batched sgemm        target <= 1.5
  topk           1000 queries x (1_000_000, 128) float32, k = 10 vs the sgemm
                 of the same product (its 4 GB result preallocated)              target <= 1.5,
                 extra peak memory <= 64 MiB (measured in a subprocess)
  pairwise_bf16  pairwise (4096, 768) x (4096, 768) bfloat16 vs float32 on the same values
                                                                                 target <= 0.6
  topk_bf16      top_k 1000 x (1_000_000, 128), k = 10, bfloat16 vs float32 on the same values
                                                                                 target <= 0.6
  (--quick shrinks the bfloat16 cases to (1024, 768)² and 256 x (100_000, 128): a smoke test)

The machine may be shared: each case alternates the contenders round by round (each timed call after
0.15 s of untimed ones, so every library runs in its steady state) and reports medians and minima.
Results are verified before they are timed. OpenBLAS is slowed by OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
on this machine, so both are removed from the environment before NumPy is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_var, None)


def _early_threads() -> int | None:
    """--threads must reach OpenBLAS before NumPy loads it."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return None


if _early_threads():
    os.environ["OPENBLAS_NUM_THREADS"] = str(_early_threads())

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fma_peak  # noqa: E402

import swiftsim  # noqa: E402
from swiftsim import ops  # noqa: E402
from swiftsim._contract import value_tol  # noqa: E402

CASES = ("pairwise_f32", "pairwise_f64", "batched_f32", "topk", "topk_memory", "pairwise_bf16", "topk_bf16")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def race(contenders: dict, rounds: int) -> dict:
    """Per round, each contender in turn warms up (untimed calls for at least 0.15 s), then runs once
    timed; returns (median, min) in seconds.

    The warm-up outlasts what the previous contender left behind (OpenBLAS's threads spin for up to
    ~0.1 s after a call and would share a core with the next contender's threads) and puts each library
    in the steady state of a loop of calls.
    """
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            while time.perf_counter() - start < 0.15:
                fn()
            times[name].append(timed(fn))
    return {name: (float(np.median(ts)), float(np.min(ts))) for name, ts in times.items()}


# The float32 FMA peak measured at the start of the run (fma_peak.py), the compute limit of the cases.
FMA_PEAK_GFLOPS: float | None = None


def report(
    title: str, times: dict, baseline: str, target: float | None = None, flops: float | None = None
) -> dict:
    """Prints median and min per contender with their ratios to the baseline's median and min; with
    ``flops`` (the floating-point operations of the product: one number, or one per contender), also
    GFLOP/s and the share of the FMA peak measured in this run."""
    base_med, base_min = times[baseline]
    print(f"\n{title}")
    rate = "   GFLOP/s  of peak" if flops and FMA_PEAK_GFLOPS else ""
    print(f"  {'':<38}{'median':>10} {'ratio':>7}   {'min':>9} {'ratio':>7}{rate}")
    for name, (med, low) in times.items():
        ratio = med / base_med
        mark = ""
        if name.startswith("swiftsim") and target is not None and name != baseline:
            mark = f"  (target <= {target:.1f}x: {'met' if ratio <= target else 'MISSED'})"
        cols = f"{med * 1e3:>8.1f}ms {ratio:>6.2f}x {low * 1e3:>9.1f}ms {low / base_min:>6.2f}x"
        if rate:
            g = (flops.get(name, 0.0) if isinstance(flops, dict) else flops) / med / 1e9
            cols += f" {g:>9.1f} {g / FMA_PEAK_GFLOPS:>7.0%}"
        print(f"  {name:<38}{cols}{mark}")
    return {
        "case": title,
        "baseline": baseline,
        "median_min_s": times,
        "target": target,
        "fma_peak_gflops": FMA_PEAK_GFLOPS,
    }


def check(got, want, dtype, d: int, sides: int = 1) -> None:
    """``got`` within the contract's tolerance of ``want`` (``sides=2`` when both are float32 results)."""
    np.testing.assert_allclose(got, want, rtol=0, atol=sides * value_tol(dtype, d))


def normalized(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-6)


def case_pairwise(dtype, rounds: int, target: float) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 768)).astype(dtype)
    y = rng.standard_normal((4096, 768)).astype(dtype)
    o_np, o_ss = np.empty((4096, 4096), dtype), np.empty((4096, 4096), dtype)
    ref = normalized(x.astype(np.float64)) @ normalized(y.astype(np.float64)).T
    check(ops.pairwise_cosine_similarity(x, y, out=o_ss), ref, dtype, 768)
    xn = normalized(x.astype(np.float64))
    check(ops.pairwise_cosine_similarity(x, out=o_ss), xn @ xn.T, dtype, 768)
    contenders = {
        "numpy matmul (BLAS gemm, no norms)": lambda: np.matmul(x, y.T, out=o_np),
        "swiftsim pairwise(x, y)": lambda: ops.pairwise_cosine_similarity(x, y, out=o_ss),
        "swiftsim pairwise(x) (symmetric)": lambda: ops.pairwise_cosine_similarity(x, out=o_ss),
    }
    try:
        from sklearn.metrics.pairwise import cosine_similarity

        contenders["sklearn cosine_similarity"] = lambda: cosine_similarity(x, y)
    except ImportError:
        pass
    name = np.dtype(dtype).name
    title = f"pairwise {name} (4096, 768) x (4096, 768)"
    full = 2.0 * 4096 * 4096 * 768  # the symmetric call computes the pairs i <= j: about half
    sym = {"swiftsim pairwise(x) (symmetric)": 2.0 * 4096 * 4097 / 2 * 768}
    flops = (
        {name: sym.get(name, full) for name in contenders} if dtype == np.float32 else None
    )  # the peak is f32's
    return report(title, race(contenders, rounds), next(iter(contenders)), target, flops)


def case_batched(rounds: int) -> dict:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 256, 128)).astype(np.float32)
    y = rng.standard_normal((64, 256, 128)).astype(np.float32)
    yt = np.ascontiguousarray(y.transpose(0, 2, 1))
    o_np, o_ss = np.empty((64, 256, 256), np.float32), np.empty((64, 256, 256), np.float32)
    ref = normalized(x.astype(np.float64)) @ normalized(y.astype(np.float64)).transpose(0, 2, 1)
    check(ops.pairwise_cosine_similarity(x, y, out=o_ss), ref, np.float32, 128)

    def per_matrix():
        for b in range(64):
            np.matmul(x[b], yt[b], out=o_np[b])

    contenders = {
        "numpy matmul(x, y^T contiguous)": lambda: np.matmul(x, yt, out=o_np),
        "numpy sgemm per matrix": per_matrix,
        "numpy matmul(x, y.transpose)": lambda: np.matmul(x, y.transpose(0, 2, 1), out=o_np),
        "swiftsim pairwise(x, y)": lambda: ops.pairwise_cosine_similarity(x, y, out=o_ss),
    }
    medians = race(contenders, rounds)
    best = min(("numpy matmul(x, y^T contiguous)", "numpy sgemm per matrix"), key=lambda k: medians[k][0])
    return report("batched float32 (64, 256, 128) x (64, 256, 128)", medians, best, 1.5)


def case_topk(rounds: int) -> dict:
    rng = np.random.default_rng(2)
    q = rng.standard_normal((1000, 128)).astype(np.float32)
    c = rng.standard_normal((1_000_000, 128)).astype(np.float32)
    # Verify on a slice of the corpus against float64.
    sub = c[:20000]
    s, i = ops.top_k(q, sub, 10)
    ref = normalized(q.astype(np.float64)) @ normalized(sub.astype(np.float64)).T
    want = np.sort(ref, axis=1)[:, ::-1][:, :10]
    check(s, want, np.float32, 128)
    check(np.take_along_axis(ref, i, 1), want, np.float32, 128)
    out = np.empty((1000, 1_000_000), np.float32)
    qn, cn = normalized(q), normalized(c)
    contenders = {
        "numpy matmul (sgemm, 4 GB result)": lambda: np.matmul(q, c.T, out=out),
        "swiftsim top_k": lambda: ops.top_k(q, c, 10),
        "swiftsim top_k(assume_normalized)": lambda: ops.top_k(qn, cn, 10, assume_normalized=True),
    }
    try:
        import faiss

        if _early_threads():
            faiss.omp_set_num_threads(_early_threads())
        index = faiss.IndexFlatIP(128)
        index.add(cn)
        fs, fi = index.search(qn, 10)
        check(fs, ops.top_k(qn, cn, 10, assume_normalized=True)[0], np.float32, 128, sides=2)
        contenders["faiss IndexFlatIP.search (normalized)"] = lambda: index.search(qn, 10)
    except ImportError:
        pass
    medians = race(contenders, rounds)
    flops = 2.0 * 1000 * 1_000_000 * 128
    return report("top_k float32 1000 x (1_000_000, 128), k=10", medians, next(iter(contenders)), 1.5, flops)


def bf16_pair(shape_x: tuple[int, int], shape_y: tuple[int, int], seed: int):
    """bfloat16 arrays and float32 arrays of the same values (None when ml_dtypes is missing)."""
    try:
        import ml_dtypes
    except ImportError:
        print("\n(bfloat16 cases left out: ml_dtypes is not installed)")
        return None
    bf = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape_x).astype(bf), rng.standard_normal(shape_y).astype(bf)
    return bf, x, y, x.astype(np.float32), y.astype(np.float32)


def case_pairwise_bf16(rounds: int, quick: bool) -> dict | None:
    n, d = (1024, 768) if quick else (4096, 768)
    made = bf16_pair((n, d), (n, d), 3)
    if made is None:
        return None
    bf, x, y, x32, y32 = made
    o16, o32 = np.empty((n, n), bf), np.empty((n, n), np.float32)
    ref = normalized(x.astype(np.float64)) @ normalized(y.astype(np.float64)).T
    check(ops.pairwise_cosine_similarity(x, y, out=o16).astype(np.float64), ref, bf, d)
    check(ops.pairwise_cosine_similarity(x32, y32, out=o32), ref, np.float32, d)
    contenders = {
        "swiftsim pairwise float32": lambda: ops.pairwise_cosine_similarity(x32, y32, out=o32),
        "swiftsim pairwise bfloat16": lambda: ops.pairwise_cosine_similarity(x, y, out=o16),
    }
    path = swiftsim.build_info()["kernels"].get("dot_bf16", "?")
    title = f"pairwise bfloat16 vs float32 ({n}, {d}) x ({n}, {d}), bfloat16 products: {path}"
    return report(title, race(contenders, rounds), "swiftsim pairwise float32", 0.6)


def case_topk_bf16(rounds: int, quick: bool) -> dict | None:
    nq, n, d = (256, 100_000, 128) if quick else (1000, 1_000_000, 128)
    made = bf16_pair((nq, d), (n, d), 4)
    if made is None:
        return None
    bf, q, c, q32, c32 = made
    sub = slice(0, 20000)
    ref = normalized(q.astype(np.float64)) @ normalized(c[sub].astype(np.float64)).T
    want = np.sort(ref, axis=1)[:, ::-1][:, :10]
    for qs, cs, dt in ((q, c, bf), (q32, c32, np.float32)):
        s, i = ops.top_k(qs, cs[sub], 10)
        check(s.astype(np.float64), want, dt, d)
        check(np.take_along_axis(ref, i, 1), want, dt, d)
    contenders = {
        "swiftsim top_k float32": lambda: ops.top_k(q32, c32, 10),
        "swiftsim top_k bfloat16": lambda: ops.top_k(q, c, 10),
    }
    path = swiftsim.build_info()["kernels"].get("dot_bf16", "?")
    title = f"top_k bfloat16 vs float32 {nq} x ({n}, {d}), k=10, bfloat16 products: {path}"
    return report(title, race(contenders, rounds), "swiftsim top_k float32", 0.6)


MEMORY_PROBE = r"""
import os, resource, sys, threading, time
import numpy as np
sys.path[:0] = {path!r}
import swiftsim
from swiftsim import ops
rng = np.random.default_rng(2)
q = rng.standard_normal((1000, 128), dtype=np.float32)  # float32 directly: no float64 peak
c = rng.standard_normal((1_000_000, 128), dtype=np.float32)
{threads}
ops.top_k(q[:12], c[:1000], 10)  # load everything loaded lazily
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before, peak_before = rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
samples, done = [before], threading.Event()
def sample():  # the kernel releases the GIL, so this thread sees the call's RSS
    while not done.is_set():
        samples.append(rss())
        time.sleep(0.0005)
t = threading.Thread(target=sample)
t.start()
ops.top_k(q, c, 10)
done.set()
t.join()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(max(samples) - before, peak - max(before, peak_before), len(samples))
"""


def case_topk_memory(threads: int | None) -> dict:
    code = MEMORY_PROBE.format(
        path=[p for p in sys.path if p],
        threads=f"swiftsim.set_num_threads({threads})" if threads else "",
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    sampled, peak_growth, count = (int(v) for v in res.stdout.split())
    mib = max(sampled, peak_growth, 0) / 2**20
    print("\ntop_k extra memory (fresh process, inputs 0.5 GB float32)")
    print(f"  RSS growth during the call: {sampled / 2**20:.1f} MiB sampled ({count} samples), ", end="")
    verdict = "met" if mib <= 64 else "MISSED"
    print(f"peak RSS growth {max(peak_growth, 0) / 2**20:.1f} MiB  (target <= 64 MiB: {verdict})")
    return {"case": "topk_memory", "extra_peak_mib": mib}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=None, help="threads for swiftsim, OpenBLAS and faiss")
    p.add_argument("--rounds", type=int, default=7, help="timed rounds per case (median reported)")
    p.add_argument("--only", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--json", help="write the medians to this file")
    p.add_argument(
        "--quick", action="store_true", help="small bfloat16 cases (a smoke test, not a measurement)"
    )
    args = p.parse_args(argv)
    if args.threads:
        swiftsim.set_num_threads(args.threads)
    print(f"swiftsim {swiftsim.__version__} from {os.path.dirname(swiftsim.__file__)}")
    print(f"numpy {np.__version__}; threads: swiftsim {swiftsim.get_num_threads()}, ", end="")
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}; ", end="")
    print(f"load average {os.getloadavg()[0]:.1f}")
    global FMA_PEAK_GFLOPS
    try:
        FMA_PEAK_GFLOPS, lanes = fma_peak.measure(swiftsim.get_num_threads())
        print(
            f"FMA peak (fma_peak.py, this run): {FMA_PEAK_GFLOPS:.1f} GFLOP/s float32, {lanes}-lane vectors"
        )
    except (OSError, subprocess.CalledProcessError, SystemExit) as exc:
        print(f"FMA peak not measured: {exc}")
    results = []
    if "pairwise_f32" in args.only:
        results.append(case_pairwise(np.float32, args.rounds, 1.2))
    if "pairwise_f64" in args.only:
        results.append(case_pairwise(np.float64, args.rounds, 1.3))
    if "batched_f32" in args.only:
        results.append(case_batched(max(args.rounds, 15)))
    if "topk" in args.only:
        results.append(case_topk(max(3, args.rounds // 3)))
    if "topk_memory" in args.only:
        results.append(case_topk_memory(args.threads))
    if "pairwise_bf16" in args.only:
        results.append(case_pairwise_bf16(args.rounds, args.quick))
    if "topk_bf16" in args.only:
        results.append(case_topk_bf16(max(3, args.rounds // 3), args.quick))
    results = [r for r in results if r is not None]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
