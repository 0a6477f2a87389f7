#!/usr/bin/env python3
"""swiftsim benchmarks: every implementation verified against float64, then timed in the same run.

    python benchmarks/run.py [--quick] [--json PATH] [--plot PATH] [--only NAME...] [--threads N]

See benchmarks/README.md for what each column means. In short, per case and implementation:

  median / IQR   time per call over interleaved rounds (each round runs every implementation once,
                 the order rotated each round), and the interquartile range of those samples;
  GB/s           the bytes the operation must at least move (read each input once, write each
                 output once) divided by the median time;
  vs best other  median / median of the fastest implementation from any *other* library
                 (< 1: faster than every other library);
  vs stream      median / the streaming limit: the time the fastest of a few swiftsim-independent
                 NumPy streaming kernels (run with the same thread count, on the case's own arrays,
                 in the same rounds) takes to move the case's minimum bytes (1.00 = at memory speed).

Environment: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, set on some machines for old OpenBLAS builds,
slow a current NumPy; when either is set the script re-executes itself once without them (before
NumPy is imported) and says so. ``--keep-blas-env`` keeps them.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import json
import os
import sys
import time

BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_MARK = "SWIFTSIM_BENCH_UNSET_BLAS_ENV"
STREAM_LIMIT_DEFINITION = (
    "the time of the fastest swiftsim-independent streaming kernel, scaled to the case's minimum bytes "
    "(read each input once + write each output once): min over kernels k of median(k) * bytes_min / "
    "bytes(k). Kernels run on the case's own arrays, split by row blocks over the same number of "
    "threads, interleaved in the same rounds: int64 bitwise_or-reduce or float max-reduce over the "
    "inputs, the BLAS dot of the two inputs (threaded by the BLAS); np.copyto or int64 bitwise_not into "
    "same-sized outputs; int64 bitwise_xor of two inputs into one output, or copy one + read the other. "
    "'vs stream' = time / limit: 1.00 = the bytes move as fast as the best simple kernel moves them"
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark swiftsim against NumPy, TensorFlow/Keras, JAX, PyTorch, NumKong, SimSIMD, ...",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (< 1 minute)")
    p.add_argument("--json", metavar="PATH", help="write every raw sample, statistic and machine info here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart here (needs matplotlib)")
    p.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="cases to run: a case name, a glob (cos_*), a substring or a group name",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for swiftsim and every library (default: the usable CPUs)",
    )
    p.add_argument(
        "--rounds", type=int, default=None, help="most timing rounds per case (default 5 quick, 21 full)"
    )
    p.add_argument(
        "--skip-lib",
        nargs="+",
        default=[],
        metavar="LIB",
        help="do not import these (tensorflow, keras, tf_keras, jax, torch, numkong, simsimd, "
        "sklearn, faiss, usearch)",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument(
        "--keep-blas-env",
        action="store_true",
        help=f"do not unset {' / '.join(BLAS_OVERRIDES)} (see the module docstring)",
    )
    return p.parse_args(argv)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _prepare_environment(args: argparse.Namespace) -> None:
    """Before NumPy or any library is imported: drop the OpenBLAS core-type overrides (by re-executing
    this script, so that nothing loaded already saw them) and pin every library's thread count."""
    found = {k: os.environ[k] for k in BLAS_OVERRIDES if k in os.environ}
    if found and not args.keep_blas_env and "numpy" not in sys.modules:
        env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
        env[_UNSET_MARK] = json.dumps(found)
        print(
            f"re-executing without {', '.join(f'{k}={v}' for k, v in found.items())} "
            "(they slow a current NumPy; --keep-blas-env keeps them)",
            flush=True,
        )
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    threads = str(args.threads)
    for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[key] = threads
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if args.threads == 1:  # XLA (JAX) otherwise uses every core; there is no flag for 1 < N < all
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _selected(name: str, group: str, patterns: list[str] | None) -> bool:
    if not patterns:
        return True
    for p in patterns:
        if any(ch in p for ch in "*?[") and fnmatch.fnmatch(name, p):
            return True
        if p == group or p in name:
            return True
    return False


# --------------------------------------------------------------------------------------------------
# output


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.3f} s"


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def print_case(res: dict, tiny: bool) -> None:
    limit = res["stream_limit_s"]
    lim = (
        f"stream limit {_fmt_time(limit)} ({res['stream_kernel']}, scaled to {res['bytes_min'] / 1e6:.1f} MB)"
        if limit
        else "no stream limit"
    )
    print(f"   min bytes {res['bytes_min'] / 1e6:.1f} MB, {res['rounds']} rounds, {lim}")
    for note in res["notes"]:
        print(f"   note: {note}")
    compute = not res["stream_limit_s"] and bool(res["flops"]) and not tiny
    rows = [
        (
            "implementation",
            "median",
            "IQR",
            "GFLOP/s" if compute else "GB/s",
            "vs best other",
            "vs stream",
            "check",
        )
    ]
    ok = [e for e in res["results"] if e["samples"]]
    ok.sort(key=lambda e: (e["kind"] != "impl", e["median"]))
    for e in ok:
        check = (
            "-"
            if e["kind"] == "stream"
            else (f"ok {e['verify_error']:.0e}" if e["verify_error"] is not None else "ok")
        )
        gbps = "-" if tiny and e["kind"] == "impl" else f"{e['gbps']:.1f}"
        if compute:
            gbps = f"{e['gflops']:.1f}" if "gflops" in e else "-"
        rows.append(
            (
                e["name"],
                _fmt_time(e["median"]),
                _fmt_time(e["iqr"]),
                gbps,
                _fmt_ratio(e.get("vs_best_other")),
                _fmt_ratio(e.get("vs_stream")),
                check,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        cells = (
            [r[0].ljust(widths[0])]
            + [c.rjust(w) for c, w in zip(r[1:-1], widths[1:-1], strict=True)]
            + [r[-1]]
        )
        print("   " + "  ".join(cells))
        if j == 0:
            print("   " + "-" * (sum(widths) + 2 * (len(widths) - 1)))
    for e in res["results"]:
        if not e["samples"]:
            print(f"   {e['name']}: {e['status'].upper()}: {e['message']}")
    print()


def summary_lines(results: list[dict]) -> list[str]:
    lines = []
    for res in results:
        impls = [e for e in res["results"] if e["samples"] and e["kind"] == "impl"]
        mine = [e for e in impls if e["library"] == "swiftsim"]
        other = [e for e in impls if e["library"] != "swiftsim"]
        if not mine:
            lines.append(f"{res['name']}: swiftsim not timed")
            continue
        best = min(mine, key=lambda e: e["median"])
        text = f"{res['name']}: swiftsim {_fmt_time(best['median'])} ({best['name']})"
        if other:
            rival = min(other, key=lambda e: e["median"])
            speed = rival["median"] / best["median"]
            word = "faster" if speed >= 1 else "slower"
            factor = speed if speed >= 1 else 1 / speed
            text += (
                f", {factor:.2f}x {word} than the best other: {rival['name']} {_fmt_time(rival['median'])}"
            )
        if best.get("vs_stream"):
            text += f"; {best['vs_stream']:.2f}x the stream-limit time"
        lines.append(text)
    return lines


def plot(results: list[dict], path: str) -> str | None:
    """A horizontal bar chart per case (median time, IQR whiskers, stream limit dashed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no plot written"
    shown = [r for r in results if any(e["samples"] for e in r["results"])]
    if not shown:
        return "nothing was timed: no plot written"
    heights = [0.8 + 0.28 * sum(1 for e in r["results"] if e["samples"]) for r in shown]
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(11, sum(heights) + 0.6), gridspec_kw={"height_ratios": heights}, squeeze=False
    )
    for ax, res in zip(axes[:, 0], shown, strict=True):
        rows = sorted((e for e in res["results"] if e["samples"]), key=lambda e: e["median"], reverse=True)
        scale, unit = (1e6, "us") if max(e["median"] for e in rows) < 1e-3 else (1e3, "ms")
        med = [e["median"] * scale for e in rows]
        err = [
            [(e["median"] - e["q1"]) * scale for e in rows],
            [(e["q3"] - e["median"]) * scale for e in rows],
        ]
        colors = [
            "tab:orange"
            if e["library"] == "swiftsim"
            else "tab:gray"
            if e["kind"] == "stream"
            else "tab:blue"
            for e in rows
        ]
        ax.barh(range(len(rows)), med, xerr=err, color=colors, capsize=2)
        ax.set_xscale("log")
        ax.set_yticks(range(len(rows)), [e["name"] for e in rows], fontsize=7)
        for y, (e, m) in enumerate(zip(rows, med, strict=True)):
            ax.text(m * 1.04, y, _fmt_time(e["median"]), va="center", fontsize=6)
        ax.set_xlim(min(med) / 1.5, max(med) * 3)
        if res["stream_limit_s"]:
            ax.axvline(res["stream_limit_s"] * scale, color="tab:red", linestyle="--", linewidth=1)
        ax.set_title(f"{res['name']}  ({res['title']})", fontsize=8, loc="left")
        ax.set_xlabel(
            f"median time per call ({unit}, log scale, whiskers = IQR); orange swiftsim, grey stream "
            "kernels, red dashed stream limit",
            fontsize=7,
        )
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    args.threads = args.threads or _usable_cpus()
    if args.threads < 1:
        print("--threads must be >= 1", file=sys.stderr)
        return 2
    _prepare_environment(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

    import warnings

    import numpy as np  # noqa: F401 - imported here, after the environment is prepared

    warnings.filterwarnings("ignore", message=".*CUDA initialization.*")  # torch's CUDA wheel on a CPU box

    import bench_cases as bc
    import bench_core as core

    plan = bc.plan(args.quick)
    if args.list:
        for name, group, need, _ in plan:
            print(f"{name:40s} group={group}" + (f"  (needs swiftsim.{need})" if need else ""))
        return 0
    selected = [p for p in plan if _selected(p[0], p[1], args.only)]
    if not selected:
        print(f"no case matches {args.only}; --list shows them", file=sys.stderr)
        return 2

    t_start = time.perf_counter()
    unset = json.loads(os.environ.get(_UNSET_MARK, "{}"))
    libs = bc.Libs(args.threads, set(args.skip_lib))
    machine = core.machine_info()
    blas = bc.blas_info()
    build = libs.ss.build_info()
    print(f"swiftsim benchmarks ({'quick' if args.quick else 'full'} mode), {args.threads} thread(s)")
    print(
        f"machine: {machine.get('cpu_model', '?')}, {machine.get('usable_cpus', '?')} usable CPUs, "
        f"{machine.get('mem_total', '?')}, load average {core.loadavg()}"
    )
    print(
        f"swiftsim {build.get('version')}: Swift {build.get('swift_version')}, "
        f"{build.get('simd_bits')}-bit SIMD, target {build.get('target_cpu')}, kernels {build.get('kernels')}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in libs.versions.items() if v and k != "swiftsim"))
    if unset:
        print(f"unset for this process (re-exec): {unset}")
    elif any(os.environ.get(k) for k in BLAS_OVERRIDES):
        print(
            f"WARNING: {[k for k in BLAS_OVERRIDES if os.environ.get(k)]} still set (--keep-blas-env): "
            "NumPy's BLAS may run a slower kernel"
        )
    if blas is None:
        print("BLAS: threadpoolctl not installed, kernel unknown")
    else:
        for lib in blas:
            if lib.get("user_api") == "blas":
                path = lib.get("filepath") or ""
                owner = "NumPy's BLAS" if "numpy" in path else "BLAS of another library"
                print(
                    f"{owner} (threadpoolctl): {lib.get('internal_api')} {lib.get('version')}, "
                    f"kernel {lib.get('architecture')}, {lib.get('num_threads')} threads, "
                    f"{os.path.basename(path)}"
                )
    for name, why in libs.missing.items():
        print(f"library {name}: {why}")
    print("stream limit: " + STREAM_LIMIT_DEFINITION)
    print()

    cfg = core.Config(
        rounds=args.rounds or (5 if args.quick else 21),
        min_rounds=2 if args.quick else 5,
        warmup=1,
        target_sample_s=0.004 if args.quick else 0.02,
        case_budget_s=1.0 if args.quick else 40.0,
        threads=args.threads,
    )
    results, skipped = [], []
    for name, group, need, build_case in selected:
        if need and not libs.swiftsim_has(need):
            msg = f"{name}: skipped, swiftsim.{need} does not exist yet"
            print(f"== {msg}\n")
            skipped.append(msg)
            continue
        gc.collect()
        t0 = time.perf_counter()
        load0 = core.loadavg()
        try:
            case = build_case(libs)
        except MemoryError as exc:
            print(f"== {name}: skipped, out of memory building its data ({exc})\n")
            skipped.append(f"{name}: out of memory")
            continue
        print(f"== {name}: {case.title}", flush=True)
        res = core.run_case(case, cfg, lambda s: print(s, flush=True))
        del case
        res["seconds"] = time.perf_counter() - t0
        res["loadavg_before"] = load0
        res["loadavg_after"] = core.loadavg()
        results.append(res)
        print_case(res, tiny=group == "tiny")
        sys.stdout.flush()
        gc.collect()

    print("summary (ratios from the same run; 'x faster' = best other library's median / swiftsim's):")
    for line in summary_lines(results):
        print("  " + line)
    for line in skipped:
        print("  " + line)
    total = time.perf_counter() - t_start
    print(f"total {total:.1f} s, load average now {core.loadavg()}")

    if args.json:
        doc = {
            "mode": "quick" if args.quick else "full",
            "argv": sys.argv,
            "threads": args.threads,
            "config": cfg.__dict__,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "total_seconds": total,
            "machine": machine,
            "swiftsim_build_info": build,
            "versions": libs.versions,
            "missing_libraries": libs.missing,
            "blas_threadpoolctl": blas,
            "blas_env_unset_by_reexec": unset,
            "environment": bc.env_snapshot(),
            "stream_limit_definition": STREAM_LIMIT_DEFINITION,
            "skipped": skipped,
            "cases": results,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        print(f"wrote {args.json}")
    if args.plot:
        problem = plot(results, args.plot)
        print(problem or f"wrote {args.plot}")
    libs.chunker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
