"""The ``swiftsim`` command (``python -m swiftsim``): build info, a demo, a check against TensorFlow, top-k,
near-duplicate pairs.

    python -m swiftsim info                     what was compiled: versions, CPU target, SIMD width, threads
    python -m swiftsim demo [--plot PNG]        the three Keras cosine-similarity patterns, next to TensorFlow
    python -m swiftsim compare [--x1 A.npy --x2 B.npy] [--axis N] [--keras 2|3 | --epsilon E]
    python -m swiftsim topk QUERIES.npy CORPUS.npy -k K -o OUT.npz
    python -m swiftsim pairs CORPUS.npy --threshold T -o PAIRS.npz

Exit status: 0 success, 1 ``compare`` found a value outside the contract's tolerance, 2 a usage
error, a bad file or shape, or a missing optional dependency (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys

from . import common, compare, demo, info, pairs, topk

__all__ = ["main", "build_parser"]

DESCRIPTION = "Cosine similarity with Keras semantics, computed by Swift SIMD kernels."
DEMO_HELP = "the three Keras cosine-similarity patterns in swiftsim, next to TensorFlow when installed"
DEMO_DESCRIPTION = (
    "The three patterns of 'how do I use Keras' CosineSimilarity': pairs scored by a Lambda layer, "
    "per-batch similarity matrices in a custom layer, and a recommender scored by the cosine of two "
    "embeddings (trained with Adam on swiftsim's gradients, evaluated by top-k retrieval). With "
    "TensorFlow installed, each also runs in TensorFlow on the same inputs: the largest difference "
    "and the time of each side."
)
COMPARE_HELP = "every op in swiftsim and in TensorFlow: errors, ulps, times; exit 1 if out of tolerance"
COMPARE_DESCRIPTION = (
    "Runs every op (cosine, l2_normalize, both gradients, the loss with each reduction and its "
    "gradient, the metric, Dot, pairwise) in swiftsim and in TensorFlow on the same arrays, and "
    "prints the largest error (absolute and in ulps) and the time of each side. Exit status 1 when "
    "a value is outside the contract's tolerance (docs/contract.md), 2 when TensorFlow is missing or the "
    "inputs are bad."
)
TOPK_HELP = "the k most similar corpus rows of every query, the corpus read from disk in tiles"
TOPK_DESCRIPTION = (
    "The k most similar corpus rows (cosine) of every query, best first, ties to the lower index. "
    "Both .npy files are memory-mapped and the corpus is scored one tile of rows at a time, so it "
    "may be larger than RAM; it may also be a folder of .npy shards. With --scheduler or "
    "--dask-workers it runs on a Dask cluster, each worker opening its tiles itself; the result is the "
    "same. Writes an .npz with 'scores' (q, k) and 'indices' (q, k, int64)."
)
PAIRS_HELP = "semantic de-duplication: every pair of corpus rows with cosine >= a threshold"
PAIRS_DESCRIPTION = (
    "Every pair i < j of corpus rows whose cosine is >= --threshold, sorted by (i, j). The .npy corpus "
    "is memory-mapped and compared in blocks of rows against every later row, the product streamed "
    "tile by tile, so it may be larger than RAM; memory is the pairs found (capped by --working-memory) "
    "and a few MiB. Writes an .npz with 'rows', 'cols' (int64), 'scores' (the corpus dtype) and "
    "'threshold'. Ctrl-C stops it cleanly: nothing is written, exit status 130. With --scheduler or "
    "--dask-workers it runs on a Dask cluster (the corpus may then be a folder of .npy shards)."
)


def build_parser() -> argparse.ArgumentParser:
    """The ``swiftsim`` argument parser: one subcommand each for info, demo, compare, topk and pairs."""
    parser = argparse.ArgumentParser(
        prog="swiftsim",
        description=DESCRIPTION,
        epilog="Run 'swiftsim COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="what was compiled: versions, CPU target, SIMD width, dtypes, threads")
    info.add_arguments(p)
    p.set_defaults(func=info.run)

    p = sub.add_parser("demo", help=DEMO_HELP, description=DEMO_DESCRIPTION)
    demo.add_arguments(p)
    p.set_defaults(func=demo.run)

    p = sub.add_parser("compare", help=COMPARE_HELP, description=COMPARE_DESCRIPTION)
    compare.add_arguments(p)
    p.set_defaults(func=compare.run)

    p = sub.add_parser("topk", help=TOPK_HELP, description=TOPK_DESCRIPTION)
    topk.add_arguments(p)
    p.set_defaults(func=topk.run)

    p = sub.add_parser("pairs", help=PAIRS_HELP, description=PAIRS_DESCRIPTION)
    pairs.add_arguments(p)
    p.set_defaults(func=pairs.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand; returns the exit status (argparse exits by itself on bad options)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except common.CliError as exc:
        return _fail(args.command, str(exc))
    except (ValueError, TypeError, OSError, MemoryError) as exc:  # e.g. raised by swiftsim on a bad input
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _fail(args.command, f"{message} ({type(exc).__name__})")
    except KeyboardInterrupt:
        print(f"swiftsim {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(command: str, message: str) -> int:
    print(f"swiftsim {command}: error: {message}", file=sys.stderr)
    return 2
