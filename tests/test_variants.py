"""Every per-CPU build that this machine can run gives the contract's results.

setup.py compiles the kernels once per CPU level into one library (swiftsim/_native/_swiftsim.*.so,
a module per level); the loader picks the best one, so the others are only exercised here, each in
a fresh interpreter (a process loads one build), against a float64 NumPy reference computed in that
same process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from swiftsim import _loader

SCRIPT = r"""
import json, sys
import numpy as np
import swiftsim
from swiftsim import ops
from swiftsim._contract import VALUE_TOL, widen

rng = np.random.default_rng(3)
report = {"variant": swiftsim.build_info()["variant"], "errors": {}}
for dtype in ("float16", "float32", "float64"):
    tol = VALUE_TOL[np.dtype(dtype)]
    for d in (1, 7, 16, 33, 100, 1000):
        a = rng.standard_normal((257, d)).astype(dtype)
        b = rng.standard_normal((257, d)).astype(dtype)
        if dtype != "float16":  # a zero row's gradient is b/sqrt(eps) = 1e6: beyond float16's range
            a[3] = 0
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        ra = 1 / np.sqrt(np.maximum((a64 * a64).sum(-1), 1e-12))
        rb = 1 / np.sqrt(np.maximum((b64 * b64).sum(-1), 1e-12))
        c = (a64 * b64).sum(-1) * ra * rb
        cos = ops.cosine_similarity(a, b).astype(np.float64)
        norm = ops.l2_normalize(b).astype(np.float64)
        _, da, _ = ops.cosine_value_and_grad(a, b)
        unclamped = ((a64 * a64).sum(-1, keepdims=True) >= 1e-12)
        ref_da = ra[:, None] * (b64 * rb[:, None] - unclamped * c[:, None] * a64 * ra[:, None])
        scale = widen(d)
        report["errors"][f"{dtype}/{d}"] = [
            float(np.max(np.abs(cos - c))) / (tol * scale),
            float(np.max(np.abs(norm - b64 * rb[:, None]))) / (tol * scale),
            float(np.max(np.abs(da - ref_da) / np.maximum(ra[:, None], 1.0))) / (16 * tol * scale),
        ]
# top_k through both paths (streaming: the fused route up to 8 queries, the slice route above; packed) on
# this build's tile shapes: every score bitwise pairwise_cosine_similarity's, the same order either way
import swiftsim._pairwise as P

report["top_k_mismatches"] = []
for dtype in ("float16", "float32", "float64"):
    for nq in (1, 3, 5, 6, 8, 13):
        for d in (1, 33, 200):
            q = rng.standard_normal((nq, d)).astype(dtype)
            c = rng.standard_normal((150, d)).astype(dtype)
            p = ops.pairwise_cosine_similarity(q, c)
            got = []
            for limit in (1 << 40, 0):
                P.top_k_stream_queries = limit
                s, i = ops.top_k(q, c, 150)
                got.append(i)
                if not np.array_equal(s, np.take_along_axis(p, i, 1)):
                    report["top_k_mismatches"].append(f"{dtype} q{nq} d{d} limit {limit}: scores")
            if not np.array_equal(got[0], got[1]):
                report["top_k_mismatches"].append(f"{dtype} q{nq} d{d}: order")
print(json.dumps(report))
"""


@pytest.mark.parametrize("variant", _loader.available())
def test_variant_matches_reference(variant):
    env = dict(os.environ, SWIFTSIM_KERNELS=variant)
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["variant"] == variant
    worst = {case: max(ratios) for case, ratios in report["errors"].items()}
    assert all(r <= 1.0 for r in worst.values()), worst
    assert report["top_k_mismatches"] == []


def test_every_x86_64_level_is_built_and_usable_here():
    built = _loader.built()
    flags = _loader.cpu_flags() or set()
    if "custom" in built or "generic" in built:
        pytest.skip("a single-variant build (SWIFTSIM_TARGET_CPU or a non-x86-64 machine)")
    assert built == ["x86_64_v4_bf16", "x86_64_v4", "x86_64_v3", "x86_64_v2"]
    if _loader.REQUIREMENTS["x86_64_v4_bf16"] <= flags:
        assert _loader.available()[0] == "x86_64_v4_bf16"
    elif {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        assert _loader.available()[0] == "x86_64_v4"


def test_forcing_a_missing_build_is_an_import_error():
    env = dict(os.environ, SWIFTSIM_KERNELS="no_such_build")
    run = subprocess.run([sys.executable, "-c", "import swiftsim"], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "SWIFTSIM_KERNELS" in run.stderr


def test_one_library_holds_every_variant():
    files = sorted(f for f in os.listdir(_loader.NATIVE) if not f.startswith("."))
    assert files == [os.path.basename(_loader.library())], files
    assert _loader.built() and set(_loader.built()) <= set(_loader.REQUIREMENTS)


def test_the_cpu_decides_which_builds_are_available(monkeypatch):
    if _loader.built() != ["x86_64_v4_bf16", "x86_64_v4", "x86_64_v3", "x86_64_v2"]:
        pytest.skip("a single-variant build")
    monkeypatch.setattr(_loader, "cpu_flags", lambda: {"sse4_2", "popcnt"})
    assert _loader.available() == ["x86_64_v2"]
    monkeypatch.setattr(_loader, "cpu_flags", lambda: {"sse4_2", "popcnt", "avx2", "fma", "f16c", "bmi2"})
    assert _loader.available() == ["x86_64_v3", "x86_64_v2"]
    avx512 = {
        "sse4_2",
        "popcnt",
        "avx2",
        "fma",
        "f16c",
        "bmi2",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512dq",
    }
    monkeypatch.setattr(_loader, "cpu_flags", lambda: avx512)
    assert _loader.available() == ["x86_64_v4", "x86_64_v3", "x86_64_v2"]  # AVX-512 without BF16
    monkeypatch.setenv("SWIFTSIM_KERNELS", "x86_64_v4_bf16")
    with pytest.raises(ImportError, match="lacks its instructions"):
        _loader.load()


@pytest.mark.parametrize("variant", _loader.available())
def test_forcing_a_build_selects_its_module_in_the_library(variant):
    env = dict(os.environ, SWIFTSIM_KERNELS=variant)
    code = "import swiftsim, sys; print(swiftsim.build_info()['variant'], swiftsim._swiftsim.__spec__.name)"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [variant, f"swiftsim._native.{variant}"]
