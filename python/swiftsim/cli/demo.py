"""``python -m swiftsim demo``: the three patterns of "how do I use Keras' CosineSimilarity", in swiftsim.

1. Pairs: a batch ``x`` of shape (B, 2, D) scored row by row, ``cos(x[:, 0], x[:, 1])`` → (B,), on
   strided views of ``x`` (no copies). Keras users write a ``Lambda`` layer for this.
2. Per-batch similarity matrices: (B, N, D) → (B, N, N) with ``swiftsim.layers.Dot(axes=2,
   normalize=True)`` and ``swiftsim.ops.pairwise_cosine_similarity``. Keras users write a custom layer.
3. A recommender whose score is the cosine of a user and an item embedding, trained with Adam on
   swiftsim's fused gradients, evaluated by ``swiftsim.ops.top_k`` retrieval (see
   :mod:`swiftsim.cli.recommender`).

When TensorFlow is installed, each pattern also runs in TensorFlow on the same inputs and the demo
prints the largest difference and the time of each side.
"""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np

from .. import layers, ops
from .._contract import KERAS2_EPSILON, KERAS3_EPSILON
from . import recommender
from .common import (
    INSTALL_PLOT,
    INSTALL_TF,
    CliError,
    Progress,
    best_time,
    fmt_bytes,
    fmt_time,
    tensorflow_or_none,
)

NOT_IN_KERAS = """\
Note: tf.keras.backend.cosine_similarity does not exist, in Keras 2 or Keras 3{checked}. Use:
  TensorFlow  -tf.keras.losses.cosine_similarity(a, b, axis=-1)  # the LOSS is the negative cosine
              tf.keras.layers.Dot(axes=-1, normalize=True)([a, b])  # (B, 1) positive cosine
              tf.keras.metrics.CosineSimilarity()  # running mean of the positive cosine
  swiftsim    swiftsim.ops.cosine_similarity(a, b)  # (B,) positive cosine, any axis, broadcasting
              swiftsim.losses.cosine_similarity(a, b)  # Keras's negative loss, same sign as tf.keras
              swiftsim.ops.cosine_similarity_grad(a, b) / ops.cosine_value_and_grad(a, b)  # gradients"""


def add_arguments(p) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of every random input (default 0)")
    p.add_argument(
        "--pairs", type=int, default=50_000, metavar="B", help="pattern 1: number of pairs (50000)"
    )
    p.add_argument("--dim", type=int, default=64, metavar="D", help="patterns 1-2: features per vector (64)")
    p.add_argument(
        "--epochs", type=int, default=recommender.RecConfig.epochs, help="pattern 3: training epochs (8)"
    )
    p.add_argument(
        "--plot", metavar="PATH", help="write the recommender's loss curves to a PNG (needs matplotlib)"
    )
    p.add_argument("--no-tf", action="store_true", help="skip the TensorFlow side even when it is installed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")


def run(args) -> int:
    if args.pairs < 1 or args.dim < 1 or args.epochs < 1:
        raise CliError("--pairs, --dim and --epochs must be positive")
    plt = _pyplot() if args.plot else None  # fail before the work, not after it
    tf = None if args.no_tf else tensorflow_or_none()
    rng = np.random.default_rng(args.seed)
    print(f"swiftsim demo: seed {args.seed}, {'with' if tf else 'without'} TensorFlow", end="")
    print(f" {tf.__version__} (tf.keras {_keras_version(tf)})" if tf else f" (to compare: {INSTALL_TF})")
    print(NOT_IN_KERAS.format(checked=_checked(tf)))
    pattern_pairs(rng, args.pairs, args.dim, tf)
    pattern_matrices(rng, args.dim, tf)
    result = pattern_recommender(args.seed, args.epochs, tf, progress=not args.no_progress)
    if plt is not None:
        plot_losses(plt, result, args.plot)
        print(f"loss curves written to {args.plot}")
    return 0


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CliError(f"--plot needs matplotlib, which is not installed: {INSTALL_PLOT}") from None
    return plt


def _keras_version(tf) -> str:
    return str(getattr(tf.keras, "__version__", "?"))


def _keras_eps(tf) -> float:
    """The squared-norm floor of ``tf.keras``'s losses: Keras 3 (TF ≥ 2.16) 1e-14, Keras 2 1e-12."""
    return KERAS3_EPSILON if _keras_version(tf).startswith("3") else KERAS2_EPSILON


def _checked(tf) -> str:
    if tf is None:
        return ""
    return f" (here: hasattr is {hasattr(tf.keras.backend, 'cosine_similarity')})"


def _row(label: str, ours: float, theirs: float | None, diff: float | None) -> None:
    if theirs is None:
        print(f"  {label:<34} swiftsim {fmt_time(ours):>9}")
    else:
        print(
            f"  {label:<34} swiftsim {fmt_time(ours):>9}   TensorFlow {fmt_time(theirs):>9}"
            f"   ({theirs / ours:.1f}x)   max |diff| {diff:.2e}"
        )


# ---------------------------------------------------------------------------------------------------
# 1. Pairs (B, 2, D) → (B,)


def pattern_pairs(rng, batch: int, dim: int, tf) -> None:
    x = rng.standard_normal((batch, 2, dim), dtype=np.float32)
    a, b = x[:, 0], x[:, 1]  # strided views: row stride 2·D floats
    print(f"\n1. Pairs: x of shape {x.shape} float32 → cosine(x[:, 0], x[:, 1]) of shape ({batch},)")
    print(
        f"   x[:, 0] and x[:, 1] are views of x: np.shares_memory = {np.shares_memory(a, x)}, "
        f"{np.shares_memory(b, x)}; C-contiguous: {a.flags.c_contiguous}; strides {a.strides}"
    )
    tracemalloc.start()
    cos = ops.cosine_similarity(a, b)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"   NumPy memory allocated by the call: {fmt_bytes(peak)} peak, the ({batch},) result is "
        f"{fmt_bytes(cos.nbytes)}; a contiguous copy of one input would be {fmt_bytes(a.size * a.itemsize)}"
    )
    cos, t_ours = best_time(lambda: ops.cosine_similarity(a, b))
    if tf is None:
        _row("ops.cosine_similarity", t_ours, None, None)
        return
    # Keras users' version: a Lambda layer on the (B, 2, D) tensor, negating the loss.
    pair_layer = tf.keras.layers.Lambda(
        lambda t: -tf.keras.losses.cosine_similarity(t[:, 0], t[:, 1], axis=-1)
    )
    tx = tf.constant(x)
    theirs, t_tf = best_time(lambda: pair_layer(tx).numpy())
    _row("ops.cosine_similarity vs Lambda", t_ours, t_tf, float(np.max(np.abs(cos - theirs))))


# ---------------------------------------------------------------------------------------------------
# 2. Per-batch similarity matrices (B, N, D) → (B, N, N)


def pattern_matrices(rng, dim: int, tf, batch: int = 32, n: int = 256) -> None:
    x = rng.standard_normal((batch, n, dim), dtype=np.float32)
    print(f"\n2. Per-batch similarity matrices: x of shape {x.shape} float32 → ({batch}, {n}, {n})")
    dot = layers.Dot(axes=2, normalize=True)
    by_layer, t_layer = best_time(lambda: dot([x, x]))
    by_op, t_op = best_time(lambda: ops.pairwise_cosine_similarity(x))
    agree = float(np.max(np.abs(by_layer - by_op)))
    diagonal = float(np.max(np.abs(np.diagonal(by_op, axis1=1, axis2=2) - 1)))
    print(
        f"   layers.Dot(axes=2, normalize=True)([x, x]) and ops.pairwise_cosine_similarity(x) agree to "
        f"{agree:.2e}; the diagonal is within {diagonal:.1e} of 1"
    )
    if tf is None:
        _row("layers.Dot(normalize=True)", t_layer, None, None)
        _row("ops.pairwise_cosine_similarity", t_op, None, None)
        return

    class PairwiseCosine(tf.keras.layers.Layer):
        """What Keras users write: a custom layer normalising each row, then a batched matmul."""

        def call(self, inputs):
            unit = tf.math.l2_normalize(inputs, axis=-1)
            return tf.linalg.matmul(unit, unit, transpose_b=True)

    tx = tf.constant(x)
    custom = PairwiseCosine()
    tf_dot = tf.keras.layers.Dot(axes=2, normalize=True)
    theirs, t_custom = best_time(lambda: custom(tx).numpy())
    theirs_dot, t_dot = best_time(lambda: tf_dot([tx, tx]).numpy())
    _row("layers.Dot vs keras Dot", t_layer, t_dot, float(np.max(np.abs(by_layer - theirs_dot))))
    _row("pairwise op vs custom layer", t_op, t_custom, float(np.max(np.abs(by_op - theirs))))


# ---------------------------------------------------------------------------------------------------
# 3. The recommender


@dataclasses.dataclass
class RecResult:
    cfg: recommender.RecConfig
    ours: recommender.RecRun
    theirs: recommender.RecRun | None
    recall: float
    baseline: float
    recall_tf: float | None


def pattern_recommender(seed: int, epochs: int, tf, *, progress: bool = True, **overrides) -> RecResult:
    eps = _keras_eps(tf) if tf is not None else KERAS2_EPSILON
    cfg = recommender.RecConfig(seed=seed, epochs=epochs, epsilon=eps, **overrides)
    data = recommender.make_data(cfg)
    n_train = data.train_users.size
    steps = sum(len(b) for b in data.epochs)
    print(
        f"\n3. Recommender: {cfg.n_users} users x {cfg.n_items} items, implicit feedback from hidden rank-"
        f"{cfg.true_dim} tastes; {n_train} train / {data.held_users.size // 2} held-out interactions"
    )
    print(
        f"   score = cos(user_emb[u], item_emb[i]) (dim {cfg.dim}); MSE to y = 1 (interaction) or y = 0"
        f" (one sampled non-interaction per interaction, fresh each epoch)"
    )
    print(
        f"   Adam lr {cfg.lr} (beta {cfg.beta1}, {cfg.beta2}, eps {cfg.adam_eps}), batches of "
        f"{cfg.batch_size}, {epochs} epochs = {steps} steps; gradients: one fused ops.cosine_value_and_grad "
        "pass per batch"
    )
    bar = Progress(steps, "   swiftsim  ", enabled=None if progress else False)
    ours = recommender.train_swiftsim(cfg, data, bar)
    bar.close()
    theirs = None
    if tf is not None:
        bar = Progress(steps, "   TensorFlow", enabled=None if progress else False)
        theirs = recommender.train_tensorflow(tf, cfg, data, bar)
        bar.close()
    _print_epochs(ours, theirs)
    recall, baseline = recommender.recall_at_k(ours.user, ours.item, data, cfg.k, eps)
    recall_tf = recommender.recall_at_k(theirs.user, theirs.item, data, cfg.k, eps)[0] if theirs else None
    print(
        f"   recall@{cfg.k} of ops.top_k (each user against all {cfg.n_items} items, train items excluded): "
        f"{recall:.3f}" + (f" (TF weights: {recall_tf:.3f})" if theirs else "") + f"; random: {baseline:.3f}"
        f" ({recall / baseline:.1f}x)"
    )
    if theirs is None:
        print(f"   swiftsim: {fmt_time(ours.seconds)}")
    else:
        drift = max(np.abs(ours.user - theirs.user).max(), np.abs(ours.item - theirs.item).max())
        print(
            f"   time: swiftsim {fmt_time(ours.seconds)}, TensorFlow {fmt_time(theirs.seconds)} "
            f"({theirs.seconds / ours.seconds:.1f}x; tf.function, first call traces); final weights differ "
            f"by at most {drift:.1e}"
        )
    return RecResult(cfg, ours, theirs, recall, baseline, recall_tf)


def _print_epochs(ours: recommender.RecRun, theirs: recommender.RecRun | None) -> None:
    head = f"   {'epoch':>5}  {'train loss':>10}  {'held-out':>9}"
    if theirs is not None:
        head += f"  {'TF train':>9}  {'TF held-out':>11}  {'max |diff|':>10}"
    print(head)
    for e, held in enumerate(ours.held_loss):
        train = f"{ours.train_loss[e - 1]:10.5f}" if e else f"{'-':>10}"
        line = f"   {e:>5}  {train}  {held:9.5f}"
        if theirs is not None:
            t_train = f"{theirs.train_loss[e - 1]:9.5f}" if e else f"{'-':>9}"
            diff = abs(held - theirs.held_loss[e])
            if e:
                diff = max(diff, abs(ours.train_loss[e - 1] - theirs.train_loss[e - 1]))
            line += f"  {t_train}  {theirs.held_loss[e]:11.5f}  {diff:10.1e}"
        print(line)


def plot_losses(plt, result: RecResult, path: str) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    ours, theirs = result.ours, result.theirs
    epochs = np.arange(len(ours.held_loss))
    ax.plot(epochs[1:], ours.train_loss, "o-", color="C0", label="swiftsim train")
    ax.plot(epochs, ours.held_loss, "s-", color="C1", label="swiftsim held-out")
    if theirs is not None:
        ax.plot(epochs[1:], theirs.train_loss, "x--", color="C2", label="TensorFlow train")
        ax.plot(epochs, theirs.held_loss, "+--", color="C3", label="TensorFlow held-out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE of cos(user, item) to y ∈ {0, 1}")
    ax.set_title(
        f"Cosine recommender (recall@{result.cfg.k} {result.recall:.3f}, random {result.baseline:.3f})"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise CliError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
