"""The FMA peak of this machine: the limit compute-bound cases (all-pairs, many-query top_k) are read
against, measured rather than taken from a datasheet.

    python benchmarks/fma_peak.py --threads 2      # GFLOP/s of float32 fused multiply-adds

A small C loop (12 independent chains of full-width vector FMAs per thread: enough to cover the FMA
latency on every x86-64 and AArch64 core this project targets) is compiled with the C compiler of the
Swift toolchain (or $CC), for this CPU, into a temporary folder, and run on the given number of threads;
the best of a few runs is the peak. Every FMA counts two floating-point operations per lane.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

SOURCE = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__) || defined(__aarch64__)
#define LANES 8
#else
#define LANES 4
#endif
typedef float vec __attribute__((ext_vector_type(LANES)));
#define CHAINS 12
static long iterations;
static void *work(void *out) {
    vec acc[CHAINS], x = (vec){} + 1.0000001f, y = (vec){} + 1e-7f;
    for (int c = 0; c < CHAINS; c++) acc[c] = (vec){} + (float)c;
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = __builtin_elementwise_fma(acc[c], x, y);
    float s = 0;
    for (int c = 0; c < CHAINS; c++)
        for (int l = 0; l < LANES; l++) s += acc[c][l];
    *(float *)out = s;
    return NULL;
}
int main(int argc, char **argv) {
    int threads = atoi(argv[1]);
    iterations = atol(argv[2]);
    pthread_t t[1024];
    float sink[1024];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, work, &sink[i]);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    printf("%.6f %d %g\n", 2.0 * LANES * CHAINS * iterations * threads / s / 1e9, LANES, sink[0]);
    return 0;
}
"""


def compiler() -> str:
    """$CC, else the clang next to the Swift toolchain's swift, else clang or cc on the PATH."""
    if os.environ.get("CC"):
        return os.environ["CC"]
    swift = shutil.which("swift")
    if swift:
        clang = os.path.join(os.path.dirname(os.path.realpath(swift)), "clang")
        if os.path.exists(clang):
            return clang
    for name in ("clang", "cc"):
        if shutil.which(name):
            return name
    raise SystemExit("fma_peak: no C compiler found (set CC)")


def measure(threads: int, runs: int = 5, seconds: float = 0.3) -> tuple[float, int]:
    """(GFLOP/s, lanes per vector): the best of `runs` runs of about `seconds` each."""
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "fma.c"), os.path.join(tmp, "fma")
        with open(src, "w") as f:
            f.write(SOURCE)
        flags = ["-O2", "-march=native"] if sys.platform != "darwin" else ["-O2", "-mcpu=native"]
        subprocess.run([compiler(), *flags, "-pthread", "-o", exe, src], check=True)
        # Calibrate: iterations for about `seconds` on one run.
        iters = 1_000_000
        while True:
            out = subprocess.run(
                [exe, str(threads), str(iters)], check=True, capture_output=True, text=True
            ).stdout.split()
            took = 2.0 * int(out[1]) * 12 * iters * threads / (float(out[0]) * 1e9)
            if took > seconds / 4 or iters > 1 << 40:
                break
            iters *= 4
        iters = max(1, int(iters * seconds / max(took, 1e-9)))
        best, lanes = 0.0, 0
        for _ in range(runs):
            out = subprocess.run(
                [exe, str(threads), str(iters)], check=True, capture_output=True, text=True
            ).stdout.split()
            best, lanes = max(best, float(out[0])), int(out[1])
    return best, lanes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="threads (default: usable CPUs)"
    )
    args = ap.parse_args()
    gflops, lanes = measure(args.threads)
    print(f"FMA peak: {gflops:.1f} GFLOP/s float32 on {args.threads} thread(s) ({lanes}-lane vectors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
