"""``python -m swiftsim info``: what was compiled (versions, CPU target, SIMD width, dtypes, threads)."""

from __future__ import annotations

from .. import build_info

#: What build_info()'s kernels["dot_bf16"] means.
_BF16_PATHS = {
    "vdpbf16ps": "vdpbf16ps (AVX512_BF16 dot products of bfloat16 pairs into float32)",
    "widen": "widened to float32 (FMA chains; this build has no AVX512_BF16)",
}


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
        ("bfloat16 all-pairs", _BF16_PATHS.get(kernels.get("dot_bf16", ""), kernels.get("dot_bf16", "-"))),
        (
            "threads",
            f"{info['num_threads']} (default {info['default_num_threads']}: SWIFTSIM_NUM_THREADS, else "
            "OMP_NUM_THREADS, else the usable CPUs; threadpoolctl limits it)",
        ),
    ]
    for key, value in rows:
        print(f"{key:>18}: {value}")
    return 0
