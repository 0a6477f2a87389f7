"""Command-line entry: ``python -m swiftsim {info,demo}``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import build_info, ops


def _info(_args) -> int:
    for key, value in build_info().items():
        print(f"{key:>20}: {value}")
    return 0


def _timeit(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, best


def _demo(args) -> int:
    rng = np.random.default_rng(args.seed)
    x1 = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    x2 = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    print(f"swiftsim demo: {args.rows} rows x {args.dim} features, float32")
    try:
        import tensorflow as tf
    except ImportError:
        tf = None
        print("(TensorFlow is not installed: showing swiftsim alone; `pip install tensorflow-cpu` to compare)")
    rows = [
        ("cosine_similarity", lambda: ops.cosine_similarity(x1, x2),
         (lambda: -tf.keras.losses.cosine_similarity(x1, x2).numpy()) if tf else None),
        ("l2_normalize", lambda: ops.l2_normalize(x1),
         (lambda: tf.nn.l2_normalize(x1, axis=-1).numpy()) if tf else None),
        ("cosine_similarity_grad", lambda: ops.cosine_similarity_grad(x1, x2)[1],
         (lambda: _tf_grad(tf, x1, x2)) if tf else None),
    ]
    print(f"{'op':<24}{'swiftsim':>12}{'tensorflow':>12}{'speed-up':>10}{'max |diff|':>12}")
    for name, ours, theirs in rows:
        r1, t1 = _timeit(ours)
        if theirs is None:
            print(f"{name:<24}{t1 * 1e3:>10.2f}ms")
            continue
        r2, t2 = _timeit(theirs)
        print(f"{name:<24}{t1 * 1e3:>10.2f}ms{t2 * 1e3:>10.2f}ms{t2 / t1:>9.1f}x{np.max(np.abs(r1 - r2)):>12.2e}")
    print("first cosines:", np.array2string(ops.cosine_similarity(x1[:4], x2[:4]), precision=6))
    return 0


def _tf_grad(tf, x1, x2):
    b = tf.constant(x2)
    with tf.GradientTape() as tape:
        tape.watch(b)
        c = -tf.keras.losses.cosine_similarity(tf.constant(x1), b)
        total = tf.reduce_sum(c)
    return tape.gradient(total, b).numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swiftsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="what was compiled: versions, CPU target, SIMD width, threads")
    p.set_defaults(func=_info)
    p = sub.add_parser("demo", help="the ops on real shapes, next to TensorFlow when it is installed")
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
