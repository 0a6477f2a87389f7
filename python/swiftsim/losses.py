"""The Keras cosine-similarity loss (the **negative** cosine) on NumPy arrays, with its gradient.

A function for the per-sample values and a class that weights and reduces them, with Keras's names,
defaults and reductions. Where Keras 2 (``tf_keras``) and Keras 3 differ, the contract follows Keras 2
for the ``sample_weight`` rank rule and the empty batch, and the input for the output dtype
(``docs/keras.md``; the choices are listed in ``docs/contract.md``). The cosines and their gradients
come from the Swift kernels (:func:`swiftsim.ops.cosine_value_and_grad`); this module only weights
and reduces per-sample values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import numpy as np
from numpy.typing import NDArray

from . import ops
from ._typing import ArrayLike, F, Floats, Reduction
from ._validation import (
    adjust_sample_weight,
    cast_pair,
    check_axis,
    check_epsilon,
    check_out,
    float_dtype_name,
    keras_ranks,
    numpy_dtype,
    prepare_pair,
)

if TYPE_CHECKING:
    from ._typing import AtLeast2D, Vector

__all__ = ["cosine_similarity", "CosineSimilarity", "REDUCTIONS"]

REDUCTIONS: tuple[Reduction, ...] = (
    "sum_over_batch_size",
    "auto",
    "mean",
    "sum",
    "mean_with_sample_weight",
    "none",
    None,
)
"""Every accepted ``reduction``: Keras 3's names plus Keras 2's ``"auto"``."""
_MEANS = ("sum_over_batch_size", "auto", "mean")
_UNWEIGHTED_FAST = (*_MEANS, "mean_with_sample_weight", "sum")
_ADD_REDUCE = np.add.reduce
_T = TypeVar("_T", bound="Floats | np.floating[Any]")


@overload
def cosine_similarity(
    y_true: AtLeast2D[F], y_pred: ArrayLike, axis: int = -1, *, epsilon: float = 1e-12
) -> NDArray[F]: ...
@overload
def cosine_similarity(
    y_true: ArrayLike, y_pred: AtLeast2D[F], axis: int = -1, *, epsilon: float = 1e-12
) -> NDArray[F]: ...
@overload
def cosine_similarity(
    y_true: Vector[F], y_pred: Vector[F], axis: int = -1, *, epsilon: float = 1e-12
) -> F: ...
@overload
def cosine_similarity(
    y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1, *, epsilon: float = 1e-12
) -> Floats | np.floating[Any]: ...
def cosine_similarity(
    y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1, *, epsilon: float = 1e-12
) -> Floats | np.floating[Any]:
    """Per-sample negative cosine similarity, in [-1, 1] (-1: same direction, 1: opposite).

    Parameters
    ----------
    y_true, y_pred : array_like
        Targets and predictions; all axes other than ``axis`` broadcast as in NumPy. When their
        ranks differ by one and the longer ends in a size-1 axis, that axis is squeezed first, as
        Keras does (``(B, D, 1)`` against ``(B, D)`` is a cosine over ``D``); a ``(B, 1)`` input
        against a ``(B,)`` one is a ValueError.
    axis : int, default -1
        The axis of each vector; it is reduced away.
    epsilon : float, default 1e-12
        Floor on each squared norm (1e-12: Keras 2 / ``tf.nn``; 1e-14: Keras 3). Keyword only.

    Returns
    -------
    ndarray or numpy scalar
        The broadcast shape without ``axis``, in the inputs' float dtype (ints and bools: float32);
        two 1-D vectors give a NumPy scalar.

    Notes
    -----
    ``loss = -(t·p) / (sqrt(max(|t|², ε)) · sqrt(max(|p|², ε)))``, Keras's
    ``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``. A zero vector gives -0.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> y_true = np.array([[0., 1.], [1., 1.], [1., 1.]])
    >>> y_pred = np.array([[1., 0.], [1., 1.], [-1., -1.]])
    >>> swiftsim.losses.cosine_similarity(y_true, y_pred).round(6)
    array([-0., -1.,  1.])
    """
    y_true, y_pred, _ = keras_ranks(y_true, y_pred)
    return np.negative(ops.cosine_similarity(y_true, y_pred, axis, epsilon))


class CosineSimilarity:
    """Weighted, reduced negative cosine similarity, in [-Σ|w|, Σ|w|] (in [-1, 1] for the means).

    Parameters
    ----------
    axis : int, default -1
        The axis of each vector.
    reduction : str or None, default "sum_over_batch_size"
        ``"sum_over_batch_size"`` (= ``"auto"`` = ``"mean"``): Σ(w·loss) / number of loss values
        (0 when there are none); ``"sum"``: Σ(w·loss); ``"mean_with_sample_weight"``: Σ(w·loss) / Σw
        (0 when Σw = 0); ``"none"`` or None: the weighted per-sample values.
    name : str, default "cosine_similarity"
    dtype : str, dtype, TensorFlow dtype, Keras dtype policy or None, default None
        None computes in the inputs' dtype; float16, bfloat16, float32 or float64 (given as Keras
        accepts it: ``"float32"``, ``np.float32``, ``tf.float32``, ``"mixed_bfloat16"``...) casts both
        inputs to it first and returns the loss in it, as the Keras 3 classes do. bfloat16 is
        computed by the bfloat16 kernels, accumulated in float32 (``ml_dtypes`` provides the dtype).
    epsilon : float, default 1e-12
        Floor on each squared norm (1e-12: Keras 2; 1e-14: Keras 3).

    Notes
    -----
    With ``loss_i = -cos_i`` and the weights ``w`` broadcast to the per-sample values,
    ``L = scale · Σ_i w_i · loss_i`` where ``scale`` is 1 (``sum``), ``1/N`` (``sum_over_batch_size``)
    or ``1/Σw`` (``mean_with_sample_weight``, Σ over the weights as given, Keras 3's rule).
    ``sample_weight`` follows Keras 2's rank rule: a scalar weighs everything, a weight with one axis
    fewer than the per-sample values gets a trailing axis ((B,) on (B, T) values means (B, 1)),
    a weight with one axis more must end in 1, which is squeezed. An empty batch reduces to 0.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> y_true = np.array([[0., 1.], [1., 1.]])
    >>> y_pred = np.array([[1., 0.], [1., 1.]])
    >>> loss = swiftsim.losses.CosineSimilarity()
    >>> float(loss(y_true, y_pred))
    -0.5
    >>> float(loss(y_true, y_pred, sample_weight=[0.5, 1.5]))
    -0.75
    >>> value, grad = loss.value_and_gradient(y_true, y_pred)
    >>> grad.round(6) + 0.0  # dLoss/dy_pred; the parallel pair's gradient is 0 up to rounding
    array([[ 0. , -0.5],
           [ 0. ,  0. ]])
    """

    def __init__(
        self,
        axis: int = -1,
        reduction: Reduction = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype: Any = None,
        epsilon: float = 1e-12,
    ) -> None:
        self.axis = check_axis(axis)
        self.reduction: Reduction = _check_reduction(reduction)
        self.name = name
        self.dtype: str | None = float_dtype_name(dtype)
        self.epsilon = check_epsilon(epsilon)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(axis={self.axis}, reduction={self.reduction!r}, name={self.name!r}, "
            f"dtype={self.dtype!r}, epsilon={self.epsilon!r})"
        )

    def __call__(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> Floats | np.floating[Any]:
        """The weighted, reduced loss: a scalar, or the weighted per-sample values for ``"none"``."""
        y_true, y_pred, _ = keras_ranks(y_true, y_pred)
        if sample_weight is None and self.dtype is None and self.reduction in _UNWEIGHTED_FAST:
            # The common unweighted call: one kernel call and one float64 sum, nothing else.
            cos = ops.cosine_similarity(y_true, y_pred, self.axis, self.epsilon)
            if isinstance(cos, np.ndarray):
                n = cos.size
                if n == 0:
                    return cos.dtype.type(0.0)  # an empty batch reduces to 0 (Keras 2)
                total = _ADD_REDUCE(cos, None, np.float64)
            else:  # one vector: a NumPy scalar
                n, total = 1, float(cos)
            scale = 1.0 / n if self.reduction != "sum" else 1.0
            return np.dtype(cos.dtype).type(-total * scale)
        _check_reduction(self.reduction)  # it may have been set after construction: checked per call
        y_true, y_pred = cast_pair(y_true, y_pred, self.dtype)
        cos = np.asarray(ops.cosine_similarity(y_true, y_pred, self.axis, self.epsilon))
        weights = adjust_sample_weight(sample_weight, cos.shape, cos.dtype)
        return self._in_dtype(self._reduce(np.negative(cos), weights))

    def gradient(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        out: NDArray[Any] | None = None,
    ) -> Floats:
        """dLoss/dy_pred, shaped like ``y_pred``; for ``"none"``, the gradient of the values' sum.

        ``out`` (optional) receives it: y_pred's shape, the result dtype, C-contiguous, writeable.
        """
        return self.value_and_gradient(y_true, y_pred, sample_weight, out=out)[1]

    def value_and_gradient(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        out: NDArray[Any] | None = None,
    ) -> tuple[Floats | np.floating[Any], Floats]:
        """``(loss, dLoss/dy_pred)`` from one kernel pass; each gradient component in [-r, r]·Σ|u|.

        The reduction's scale is folded into the kernel's upstream weights, ``u = -w · scale``, so
        no (N, D) temporary is made here. ``out`` (optional) receives the gradient (y_pred's shape,
        the result dtype, C-contiguous, writeable): reusing it avoids the cost of fresh pages.
        """
        _check_reduction(self.reduction)
        y_true, y_pred = cast_pair(y_true, y_pred, self.dtype)
        pred_shape = np.shape(y_pred)
        y_true, y_pred, squeezed = keras_ranks(y_true, y_pred)
        _, _, outer, dtype = prepare_pair(y_true, y_pred, self.axis, names=("y_true", "y_pred"))  # views
        grad_out = out
        if out is not None:
            check_out(out, pred_shape, dtype)
            grad_out = out.reshape(np.shape(y_pred))  # a view: out is C-contiguous
        weights = adjust_sample_weight(sample_weight, outer, dtype)
        scale = self._scale(weights, outer)
        upstream = -scale if weights is None else np.multiply(weights, -scale, dtype=np.float64)
        cos, _, grad = ops.cosine_value_and_grad(
            y_true, y_pred, upstream, self.axis, self.epsilon, need=(False, True), out=(None, grad_out)
        )
        assert grad is not None  # need=(False, True)
        if out is not None:
            grad = out
        elif squeezed == "y_pred":
            grad = grad.reshape(pred_shape)
        return self._in_dtype(self._reduce(np.negative(cos), weights)), self._in_dtype(grad)

    def _in_dtype(self, value: _T) -> _T:
        """``value`` in the loss's dtype when that is bfloat16 (the kernels' bfloat16 results already are)."""
        if self.dtype != "bfloat16" or value.dtype.name == "bfloat16":
            return value
        dt = numpy_dtype("bfloat16")
        return cast(_T, value.astype(dt) if isinstance(value, np.ndarray) else dt.type(value))

    def _scale(self, weights: NDArray[Any] | None, shape: tuple[int, ...]) -> float:
        """The factor the reduction applies to Σ w·loss (0 where Keras divides by zero)."""
        if self.reduction in _MEANS or (self.reduction == "mean_with_sample_weight" and weights is None):
            divisor = float(np.prod(shape))
        elif self.reduction == "mean_with_sample_weight" and weights is not None:
            divisor = float(np.sum(weights, dtype=np.float64))
        else:
            return 1.0
        return 1.0 / divisor if divisor != 0.0 else 0.0

    def _reduce(self, values: Floats, weights: NDArray[Any] | None) -> Floats | np.floating[Any]:
        weighted = values if weights is None else values * weights
        if self.reduction is None or self.reduction == "none":
            return weighted
        total = np.sum(weighted, dtype=np.float64) * self._scale(weights, np.shape(values))
        return values.dtype.type(total)

    def get_config(self) -> dict[str, Any]:
        """``{"name", "reduction", "axis", "dtype", "epsilon"}``; :meth:`from_config` round-trips it."""
        return {
            "name": self.name,
            "reduction": self.reduction,
            "axis": self.axis,
            "dtype": self.dtype,
            "epsilon": self.epsilon,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CosineSimilarity:
        """Rebuilds a loss from :meth:`get_config`; a Keras 2 config's ``"fn"`` entry is ignored."""
        return cls(**{k: v for k, v in config.items() if k != "fn"})


def _check_reduction(reduction: Any) -> Reduction:
    if not (reduction is None or (isinstance(reduction, str) and reduction in REDUCTIONS)):
        allowed = ", ".join(repr(r) for r in REDUCTIONS)
        raise ValueError(
            f"Invalid value for argument reduction. Expected one of {allowed}. Received: {reduction!r}"
        )
    return reduction
