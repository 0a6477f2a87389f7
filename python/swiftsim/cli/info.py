"""``python -m swiftsim info``: what was compiled (versions, CPU target, SIMD width, dtypes, threads)."""

from __future__ import annotations

from .. import build_info


def add_arguments(p) -> None:
    """``info`` takes no options."""


def run(args) -> int:
    info = build_info()
    kernels = info.get("kernels", {})
    rows = [
        ("swiftsim", info["version"]),
        ("Swift", info["swift_version"]),
        (
            "CPU target",
            f"{info['target_cpu']} (variant {info['variant']} of the builds, chosen for this CPU)",
        ),
        ("CPU features", " ".join(info["cpu_features"]) or "-"),
        ("SIMD width", f"{info['simd_bits']} bits"),
        (
            "accumulators",
            ", ".join(f"{k[4:]} in {v}" for k, v in kernels.items() if k.startswith("acc_")) or "-",
        ),
        ("dtypes", ", ".join(info["dtypes"]) + " (ints and bools compute in float32)"),
        (
            "threads",
            f"{info['num_threads']} (default {info['default_num_threads']}: SWIFTSIM_NUM_THREADS, else "
            "OMP_NUM_THREADS, else the usable CPUs; threadpoolctl limits it)",
        ),
    ]
    for key, value in rows:
        print(f"{key:>13}: {value}")
    return 0
