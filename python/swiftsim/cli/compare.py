"""``python -m swiftsim compare``: every op in swiftsim and in TensorFlow on the same arrays.

Each row of the table is a :class:`Case`: the swiftsim side is looked up by name in :data:`SWIFTSIM`
(a table of callables, so a test can plug in a perturbed implementation and watch ``compare`` fail),
the reference side comes from :class:`Reference` (Keras 2 = ``tf_keras`` with ε = 1e-12, or Keras 3
= ``keras`` with ε = 1e-14, or Keras 3 with ``keras.config.set_epsilon(√E)`` for ``--epsilon E``).

Tolerances are the contract's (``docs/contract.md``; the numbers come from ``swiftsim._contract``),
absolute, per element:

* values: f32 2e-6, f64 1e-12, f16 5e-3, widened by √(D/256) for D > 256;
* reductions: that × Σ|w| for ``sum``, × mean|w| for ``sum_over_batch_size``, × Σ|w|/|Σw| for weighted
  means; ``none``: × |w| per value;
* gradients of Σ u·cos: 16·ε_dtype·|u|·r per row (32·ε for f16), r = 1/max(|x|, √ε), same widening.

"ulps" is the error in units of the dtype's ε at 1 (for gradients and reductions: of ε times the
scale above). TensorFlow computes float16 in float16, where its ε underflows and its squares
overflow (``docs/keras.md``, "Bad inputs"); swiftsim accumulates float16 in float32 as the contract says, so
for float16 inputs the reference runs on the inputs cast to float32 and is compared at float16
tolerance.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from .. import layers, losses, metrics, ops
from .._contract import GRAD_ULPS, KERAS2_EPSILON, KERAS3_EPSILON, VALUE_TOL, value_tol, widen
from .._typing import Reduction
from .._validation import kernel_dtype
from .common import CliError, best_time, fmt_time, import_tensorflow, load_npy

PAIRWISE_ROWS = 512  # rows of each input used by the pairwise rows (a (512, 512) result)


@dataclasses.dataclass
class Inputs:
    """What every case sees: the arrays, the axis, the weights and the epsilon of the swiftsim side."""

    x1: np.ndarray
    x2: np.ndarray
    axis: int
    epsilon: float
    upstream: np.ndarray  # (outer) gradient weights u
    weights: np.ndarray  # (outer) sample weights w, in [0, 2)
    dtype: np.dtype  # the dtype swiftsim computes in
    d: int  # length of the reduced axis
    rows1: np.ndarray  # (n, d) and (m, d): the axis moved last, flattened, first PAIRWISE_ROWS rows
    rows2: np.ndarray


def _loss(reduction: Reduction) -> Callable[[Inputs], object]:
    def run(c: Inputs) -> object:
        return losses.CosineSimilarity(c.axis, reduction=reduction, epsilon=c.epsilon)(c.x1, c.x2, c.weights)

    return run


def _metric(c: Inputs):
    m = metrics.CosineSimilarity(axis=c.axis, epsilon=c.epsilon)
    m.update_state(c.x1, c.x2, sample_weight=c.weights)
    return m.result()


#: The swiftsim side of every case, by name. Replace an entry to check another implementation.
SWIFTSIM: dict[str, Callable[[Inputs], object]] = {
    "cosine_similarity": lambda c: ops.cosine_similarity(c.x1, c.x2, c.axis, c.epsilon),
    "l2_normalize": lambda c: ops.l2_normalize(c.x1, c.axis, c.epsilon),
    "cosine_similarity_grad dx1": lambda c: ops.cosine_similarity_grad(
        c.x1, c.x2, c.upstream, c.axis, c.epsilon
    )[0],
    "cosine_similarity_grad dx2": lambda c: ops.cosine_similarity_grad(
        c.x1, c.x2, c.upstream, c.axis, c.epsilon
    )[1],
    "losses.cosine_similarity": lambda c: losses.cosine_similarity(c.x1, c.x2, c.axis, epsilon=c.epsilon),
    "loss sum_over_batch_size": _loss("sum_over_batch_size"),
    "loss sum": _loss("sum"),
    "loss none": _loss("none"),
    "loss mean_with_sample_weight": _loss("mean_with_sample_weight"),
    "loss gradient": lambda c: losses.CosineSimilarity(c.axis, epsilon=c.epsilon).gradient(
        c.x1, c.x2, c.weights
    ),
    "metrics.CosineSimilarity": _metric,
    "layers.Dot(normalize=True)": lambda c: layers.Dot(axes=2, normalize=True, epsilon=c.epsilon)(
        [c.rows1[None], c.rows2[None]]
    ),
    "pairwise_cosine_similarity": lambda c: ops.pairwise_cosine_similarity(c.rows1, c.rows2, c.epsilon),
}


# ---------------------------------------------------------------------------------------------------
# The TensorFlow side


class Reference:
    """One Keras flavour on TensorFlow tensors: what each case is compared with."""

    def __init__(self, tf, flavour: str, epsilon: float | None):
        self.tf = tf
        if flavour == "2":
            try:
                import tf_keras as keras  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                raise CliError(
                    "--keras 2 needs tf_keras, which is not installed: pip install tf_keras"
                ) from None
            self.name = f"Keras 2 (tf_keras {keras.__version__}, the tf.keras of TF 2.7-2.15)"
            self.reductions: tuple[str, ...] = (
                "sum_over_batch_size",
                "sum",
                "none",
            )  # Keras 2 has no mean_with_sample_weight
        else:
            try:
                import keras  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                raise CliError("--keras 3 needs keras 3, which is not installed: pip install keras") from None
            if not keras.__version__.startswith("3") or keras.config.backend() != "tensorflow":
                raise CliError(
                    f"--keras 3 needs keras 3 on the TensorFlow backend; found keras {keras.__version__} "
                    f"on {getattr(keras.config, 'backend', lambda: '?')()} (set KERAS_BACKEND=tensorflow)"
                )
            self.name = f"Keras 3 (keras {keras.__version__})"
            self.reductions = ("sum_over_batch_size", "sum", "none", "mean_with_sample_weight")
        self.keras, self.flavour = keras, flavour
        self.eps = epsilon if epsilon is not None else (KERAS2_EPSILON if flavour == "2" else KERAS3_EPSILON)
        self.norm_eps = None if epsilon is None else math.sqrt(epsilon)  # Keras 3 floors the norm itself

    def __enter__(self) -> Reference:
        if self.norm_eps is not None:
            self._saved = self.keras.config.epsilon()
            self.keras.config.set_epsilon(self.norm_eps)
        return self

    def __exit__(self, *exc) -> None:
        if self.norm_eps is not None:
            self.keras.config.set_epsilon(self._saved)

    def describe(self) -> str:
        if self.flavour == "2":
            return f"{self.name}, epsilon {self.eps:g} on |x|²"
        how = "default" if self.norm_eps is None else "keras.config.set_epsilon"
        return f"{self.name}, epsilon {math.sqrt(self.eps):g} on |x| ({how}) = {self.eps:g} on |x|²"

    # -- the reference ops, on tf tensors ----------------------------------------------------------
    def cos(self, a, b, axis: int):
        return -self.keras.losses.cosine_similarity(a, b, axis=axis)

    def l2n(self, x, axis: int):
        if self.flavour == "2":
            return self.tf.nn.l2_normalize(x, axis=axis, epsilon=self.eps)
        return self.keras.ops.normalize(x, axis=axis)

    def loss_object(self, reduction: str, axis: int, dtype: np.dtype):
        if self.flavour == "2":
            return self.keras.losses.CosineSimilarity(axis=axis, reduction=reduction)
        return self.keras.losses.CosineSimilarity(axis=axis, reduction=reduction, dtype=dtype.name)

    # -- what each case compares, on the case's inputs ----------------------------------------------
    def cosine(self, c: Inputs):
        return self.cos(_tf(c, c.x1), _tf(c, c.x2), c.axis)

    def loss_values(self, c: Inputs):
        return -self.cosine(c)

    def normalized(self, c: Inputs):
        return self.l2n(_tf(c, c.x1), c.axis)

    def grads(self, c: Inputs):
        """d(Σ u·cos)/dx1 and /dx2 with GradientTape."""
        tf = self.tf
        a, b = tf.constant(_tf(c, c.x1)), tf.constant(_tf(c, c.x2))
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            total = tf.reduce_sum(tf.constant(_tf(c, c.upstream)) * self.cos(a, b, c.axis))
        return tape.gradient(total, [a, b])

    def loss(self, reduction: str, c: Inputs):
        a = _tf(c, c.x1)
        return self.loss_object(reduction, c.axis, a.dtype)(a, _tf(c, c.x2), sample_weight=_tf(c, c.weights))

    def loss_gradient(self, c: Inputs):
        """dLoss/dy_pred of the ``sum_over_batch_size`` loss class, with GradientTape."""
        tf = self.tf
        loss = self.loss_object("sum_over_batch_size", c.axis, _tf(c, c.x1).dtype)
        y_true, y_pred = tf.constant(_tf(c, c.x1)), tf.constant(_tf(c, c.x2))
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss(y_true, y_pred, sample_weight=tf.constant(_tf(c, c.weights)))
        return tape.gradient(value, y_pred)

    def metric(self, c: Inputs):
        a = _tf(c, c.x1)
        m = self.keras.metrics.CosineSimilarity(axis=c.axis, dtype=a.dtype.name)
        m.update_state(a, _tf(c, c.x2), sample_weight=_tf(c, c.weights))
        return m.result()

    def dot(self, c: Inputs):
        r1, r2 = _tf(c, c.rows1), _tf(c, c.rows2)
        layer = self.keras.layers.Dot(axes=2, normalize=True, dtype=r1.dtype.name)
        return layer([self.tf.constant(r1[None]), self.tf.constant(r2[None])])

    def pairwise(self, c: Inputs):
        return self.tf.linalg.matmul(
            self.l2n(_tf(c, c.rows1), -1), self.l2n(_tf(c, c.rows2), -1), transpose_b=True
        )


def _tf(c: Inputs, x: np.ndarray) -> np.ndarray:
    """An input of the TensorFlow side: float16 is computed in float32 there (see the module doc)."""
    return x.astype(np.float32 if c.dtype == np.float16 else c.dtype, copy=False)


# ---------------------------------------------------------------------------------------------------
# Tolerances


def value_scale(c: Inputs, want: np.ndarray) -> np.ndarray:
    return np.ones_like(want, dtype=np.float64)


def grad_scale(which: int) -> Callable[[Inputs, np.ndarray], np.ndarray]:
    """|u|·r per element of d(Σ u·cos)/dx, summed back over broadcast rows (docs/contract.md)."""

    def scale(c: Inputs, want: np.ndarray) -> np.ndarray:
        return _grad_scale(c, np.abs(c.upstream.astype(np.float64)), which)

    return scale


def _pad(shape: tuple, nd: int) -> tuple:
    return (1,) * (nd - len(shape)) + tuple(shape)


def _grad_scale(c: Inputs, u: np.ndarray, which: int) -> np.ndarray:
    x = (c.x1, c.x2)[which]
    nd = max(c.x1.ndim, c.x2.ndim)
    ax = c.axis % nd
    padded = np.asarray(x, np.float64).reshape(_pad(x.shape, nd))
    full = np.broadcast_shapes(_pad(c.x1.shape, nd), _pad(c.x2.shape, nd))
    with np.errstate(all="ignore"):
        r = 1.0 / np.sqrt(np.maximum(np.sum(padded * padded, axis=ax, keepdims=True), c.epsilon))
        fac = math.sqrt(c.d) if padded.shape[ax] == 1 and c.d > 1 else 1.0  # size-1 reduced axis: Σ over ŷ
        per = np.broadcast_to(np.expand_dims(u, ax) * r, full)
        summed = tuple(i for i, n in enumerate(padded.shape) if n == 1 and full[i] != 1)
        t = (per.sum(axis=summed, keepdims=True) if summed else per) * fac
    return np.nan_to_num(t, nan=0.0, posinf=0.0).reshape(x.shape)


def loss_scale(reduction: str) -> Callable[[Inputs, np.ndarray], np.ndarray]:
    def scale(c: Inputs, want: np.ndarray) -> np.ndarray:
        w = np.abs(c.weights.astype(np.float64))
        if reduction == "none":
            return np.broadcast_to(w, want.shape)
        if reduction == "sum":
            return np.asarray(w.sum())
        if reduction == "sum_over_batch_size":
            return np.asarray(w.mean() if w.size else 0.0)
        return np.asarray(w.sum() / max(abs(float(c.weights.astype(np.float64).sum())), 1e-300))

    return scale


def loss_grad_scale(c: Inputs, want: np.ndarray) -> np.ndarray:
    u = np.abs(c.weights.astype(np.float64)) / max(c.weights.size, 1)
    return _grad_scale(c, u, 1)


def ulp_factor(dtype: np.dtype, kind: str) -> float:
    """The tolerance per unit of scale: the value tolerance, or k·ε_dtype for gradients."""
    if kind == "grad":
        return GRAD_ULPS[dtype] * float(np.finfo(dtype).eps)
    return VALUE_TOL[dtype]


# ---------------------------------------------------------------------------------------------------
# The cases


@dataclasses.dataclass
class Case:
    name: str
    reference: Callable[[Reference, Inputs], object]  # the TensorFlow side
    scale: Callable[[Inputs, np.ndarray], np.ndarray]
    kind: str = "value"  # "value" or "grad": how the tolerance is formed from the scale
    d_of: Callable[[Inputs], int] = lambda c: c.d  # the length whose √(D/256) widens the tolerance
    reduction: str | None = None  # loss rows only: skipped when the flavour lacks it


def _ref_loss(reduction: str) -> Callable[[Reference, Inputs], object]:
    return lambda ref, c: ref.loss(reduction, c)


CASES = [
    Case("cosine_similarity", Reference.cosine, value_scale),
    Case("l2_normalize", Reference.normalized, value_scale),
    Case("cosine_similarity_grad dx1", lambda r, c: r.grads(c)[0], grad_scale(0), "grad"),
    Case("cosine_similarity_grad dx2", lambda r, c: r.grads(c)[1], grad_scale(1), "grad"),
    Case("losses.cosine_similarity", Reference.loss_values, value_scale),
    *(
        Case(f"loss {red}", _ref_loss(red), loss_scale(red), reduction=red)
        for red in ("sum_over_batch_size", "sum", "none", "mean_with_sample_weight")
    ),
    Case("loss gradient", Reference.loss_gradient, loss_grad_scale, "grad"),
    # a weighted mean: tolerance × Σ|w| / |Σw|
    Case("metrics.CosineSimilarity", Reference.metric, loss_scale("mean_with_sample_weight")),
    Case("layers.Dot(normalize=True)", Reference.dot, value_scale),
    Case("pairwise_cosine_similarity", Reference.pairwise, value_scale),
]


@dataclasses.dataclass
class Row:
    name: str
    max_err: float
    ulps: float
    ratio: float  # max err / tolerance: ≤ 1 passes
    t_ours: float
    t_theirs: float
    problem: str = ""  # why it fails beyond the tolerance (shape, dtype, NaN placement)

    @property
    def ok(self) -> bool:
        return not self.problem and self.ratio <= 1.0


def compare_case(case: Case, ref: Reference, c: Inputs, repeat: int) -> Row:
    ours_fn = SWIFTSIM[case.name]
    ours, t_ours = best_time(lambda: ours_fn(c), repeat)
    theirs, t_theirs = best_time(lambda: np.asarray(case.reference(ref, c)), repeat)
    got = np.asarray(ours)
    want = np.asarray(theirs)
    if c.dtype == np.float16:  # computed in float32 (module doc): stored as float16, as swiftsim stores it
        with np.errstate(over="ignore"):  # a float32 gradient beyond 65504 is inf in float16, as swiftsim's
            want = want.astype(np.float16)
    want = want.astype(np.float64)
    problem = ""
    if got.shape != want.shape:
        problem = f"shape {got.shape}, TF {want.shape}"
        return Row(case.name, math.inf, math.inf, math.inf, t_ours, t_theirs, problem)
    if got.dtype != c.dtype and not (case.name == "metrics.CosineSimilarity" and got.dtype == np.float64):
        problem = f"dtype {got.dtype}, expected {c.dtype}"
    g = got.astype(np.float64)
    nan_g, nan_w = np.isnan(g), np.isnan(want)
    if not np.array_equal(nan_g, nan_w):
        problem = f"NaN in {int(nan_g.sum())} values, TF in {int(nan_w.sum())}"
    with np.errstate(invalid="ignore"):
        err = np.where(nan_w | nan_g | (g == want), 0.0, np.abs(g - want))  # g == want: equal infinities
    scale = np.broadcast_to(case.scale(c, want), err.shape)
    unit = ulp_factor(c.dtype, case.kind) * widen(case.d_of(c))
    # A value stored in the dtype is no closer than its spacing near 0 (float16 subnormals: 6e-8).
    floor = float(np.finfo(c.dtype).smallest_subnormal)
    eps = float(np.finfo(c.dtype).eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / (unit * scale + floor))
        ulps = np.where(err == 0, 0.0, err / (eps * scale + floor))
    top = lambda a: float(np.max(a)) if a.size else 0.0  # noqa: E731
    return Row(case.name, top(err), top(ulps), top(ratio), t_ours, t_theirs, problem)


# ---------------------------------------------------------------------------------------------------
# The command


def add_arguments(p) -> None:
    p.add_argument("--x1", metavar="A.npy", help="first input (.npy); default: random")
    p.add_argument("--x2", metavar="B.npy", help="second input (.npy), broadcastable to x1; default: random")
    p.add_argument("--axis", type=int, default=-1, help="the axis of each vector (default -1)")
    flavour = p.add_mutually_exclusive_group()
    flavour.add_argument(
        "--keras",
        choices=("2", "3"),
        default="2",
        help="reference: 2 = tf_keras, swiftsim epsilon 1e-12 (default); 3 = keras 3, swiftsim epsilon 1e-14",
    )
    flavour.add_argument(
        "--epsilon",
        type=float,
        metavar="E",
        help="swiftsim's floor on |x|²; the reference is Keras 3 with keras.config.set_epsilon(sqrt(E))",
    )
    p.add_argument("--rows", type=int, default=1024, help="random inputs: rows (default 1024)")
    p.add_argument("--dim", type=int, default=128, help="random inputs: features (default 128)")
    p.add_argument(
        "--dtype", default="float32", choices=("float16", "float32", "float64"), help="random inputs"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights (default 0)")
    p.add_argument("--repeat", type=int, default=3, help="timed calls per side, best kept (default 3)")


def make_inputs(args) -> tuple[Inputs, str]:
    rng = np.random.default_rng(args.seed)
    if (args.x1 is None) != (args.x2 is None):
        raise CliError("pass both --x1 and --x2, or neither (random inputs)")
    if args.x1 is not None:
        x1 = np.asarray(load_npy(args.x1, "--x1"))
        x2 = np.asarray(load_npy(args.x2, "--x2"))
        origin = f"x1 {x1.shape} {x1.dtype} from {args.x1}, x2 {x2.shape} {x2.dtype} from {args.x2}"
    else:
        if args.rows < 1 or args.dim < 1:
            raise CliError("--rows and --dim must be positive")
        x1 = rng.standard_normal((args.rows, args.dim)).astype(args.dtype)
        x2 = rng.standard_normal((args.rows, args.dim)).astype(args.dtype)
        origin = f"x1, x2 random {x1.shape} {x1.dtype} (seed {args.seed})"
    if args.epsilon is not None and not (0.0 < args.epsilon < math.inf):
        raise CliError(f"--epsilon must be a positive finite number, got {args.epsilon}")
    try:
        cos = np.asarray(ops.cosine_similarity(x1, x2, args.axis))  # validates shapes, axis and dtypes
    except (ValueError, TypeError) as exc:  # AxisError is a ValueError
        raise CliError(str(exc).splitlines()[0]) from None
    if x1.ndim == 0 or x2.ndim == 0:
        raise CliError(f"x1 and x2 need at least one axis, got shapes {x1.shape} and {x2.shape}")
    dtype = np.result_type(kernel_dtype(x1.dtype, "x1"), kernel_dtype(x2.dtype, "x2"))
    x1, x2 = x1.astype(dtype, copy=False), x2.astype(dtype, copy=False)
    nd = max(x1.ndim, x2.ndim)
    ax = args.axis % nd
    d = max(_pad(x1.shape, nd)[ax], _pad(x2.shape, nd)[ax])

    def rows(x):
        padded = x.reshape(_pad(x.shape, nd))
        flat = np.moveaxis(padded, ax, -1).reshape(-1, padded.shape[ax])
        return np.ascontiguousarray(np.broadcast_to(flat, (flat.shape[0], d))[:PAIRWISE_ROWS])

    weights = np.asarray(rng.uniform(0.0, 2.0, cos.shape), dtype)
    upstream = np.asarray(rng.standard_normal(cos.shape), dtype)
    return Inputs(x1, x2, args.axis, 0.0, upstream, weights, np.dtype(dtype), d, rows(x1), rows(x2)), origin


def run(args) -> int:
    tf = import_tensorflow("compare")
    inputs, origin = make_inputs(args)
    ref = Reference(tf, "3" if args.epsilon is not None else args.keras, args.epsilon)
    inputs.epsilon = ref.eps
    tol = value_tol(inputs.dtype, inputs.d)
    print(f"swiftsim compare: {origin}, axis {args.axis}")
    print(f"reference: {ref.describe()}; TensorFlow {tf.__version__}")
    print(
        f"tolerance (docs/contract.md): values {tol:.1e} (D={inputs.d}), reductions × Σ|w| or mean|w|, "
        f"gradients {ulp_factor(inputs.dtype, 'grad') / float(np.finfo(inputs.dtype).eps):.0f}·ε·|u|·r"
        + ("; the TF side computes float16 in float32" if inputs.dtype == np.float16 else "")
    )
    print(
        f"{'op':<30} {'max |err|':>10} {'ulps':>7} {'err/tol':>8} {'swiftsim':>10} {'TensorFlow':>11}  status"
    )
    failed = []
    with ref:
        for case in CASES:
            if case.reduction is not None and case.reduction not in ref.reductions:
                continue
            row = compare_case(case, ref, inputs, args.repeat)
            status = "ok" if row.ok else "FAIL" + (f": {row.problem}" if row.problem else "")
            print(
                f"{row.name:<30} {row.max_err:>10.2e} {row.ulps:>7.1f} {row.ratio:>8.3f} "
                f"{fmt_time(row.t_ours):>10} {fmt_time(row.t_theirs):>11}  {status}"
            )
            if not row.ok:
                failed.append(row.name)
    if failed:
        print(f"FAILED: {len(failed)} op(s) outside the contract's tolerance: {', '.join(failed)}")
        return 1
    print("all ops within tolerance")
    return 0
