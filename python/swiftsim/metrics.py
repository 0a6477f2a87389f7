"""The Keras cosine-similarity metric (the **positive** cosine) as a running weighted mean.

Accumulation is per element, as in Keras 2 (``tf_keras``): the weights are broadcast to the per-sample
cosines and ``count`` grows by their sum, so streams whose batches change shape or use scalar weights
give Keras 2's result (Keras 3 averages per sample first; ``docs/keras.md``). The totals are
kept in float64. The cosines come from the Swift kernels (:func:`swiftsim.ops.cosine_similarity`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import NDArray

from . import ops
from ._typing import ArrayLike, F, Floats
from ._validation import (
    adjust_sample_weight,
    cast_pair,
    check_axis,
    check_epsilon,
    float_dtype_name,
    keras_ranks,
    numpy_dtype,
)

if TYPE_CHECKING:
    from ._typing import AtLeast2D, Vector

__all__ = ["cosine_similarity", "CosineSimilarity"]


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
    """Per-sample positive cosine similarity, in [-1, 1] (1: same direction, -1: opposite).

    Parameters
    ----------
    y_true, y_pred : array_like
        Targets and predictions; all axes other than ``axis`` broadcast as in NumPy, after Keras's
        rank rule (see :func:`swiftsim.losses.cosine_similarity`).
    axis : int, default -1
        The axis of each vector; it is reduced away.
    epsilon : float, default 1e-12
        Floor on each squared norm (1e-12: Keras 2; 1e-14: Keras 3). Keyword only.

    Returns
    -------
    ndarray or numpy scalar
        The broadcast shape without ``axis``, in the inputs' float dtype (ints and bools: float32);
        two 1-D vectors give a NumPy scalar.

    Notes
    -----
    ``c = (t·p) / (sqrt(max(|t|², ε)) · sqrt(max(|p|², ε)))``; the negative of
    :func:`swiftsim.losses.cosine_similarity`. A zero vector gives 0.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> y_true, y_pred = np.array([[0., 1.], [1., 1.]]), np.array([[1., 0.], [1., 1.]])
    >>> swiftsim.metrics.cosine_similarity(y_true, y_pred).round(6)
    array([0., 1.])
    """
    y_true, y_pred, _ = keras_ranks(y_true, y_pred)
    return ops.cosine_similarity(y_true, y_pred, axis, epsilon)


class CosineSimilarity:
    """Running weighted mean of the positive cosine similarity, in [-1, 1] for non-negative weights.

    Parameters
    ----------
    name : str, default "cosine_similarity"
    dtype : str, dtype, TensorFlow dtype, Keras dtype policy or None, default None
        None computes each batch in the inputs' dtype and returns a float64 result; float16,
        bfloat16, float32 or float64 (given as Keras accepts it: ``"float32"``, ``tf.float32``,
        ``"mixed_float16"``...) casts the inputs to it first, as Keras does, and the result to it.
    axis : int, default -1
        The axis of each vector.
    epsilon : float, default 1e-12
        Floor on each squared norm (1e-12: Keras 2; 1e-14: Keras 3).

    Attributes
    ----------
    total, count : float
        The float64 accumulators: Σ w·c and Σ w (or the number of values without weights).

    Notes
    -----
    For every batch, with the per-sample cosines ``c`` and the weights ``w`` broadcast to them,
    ``total += Σ w·c`` and ``count += Σ w`` (the number of cosines without weights);
    ``result() = total / count``, 0 when ``count`` is 0. ``sample_weight`` follows the rank rule of
    :class:`swiftsim.losses.CosineSimilarity`.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> m = swiftsim.metrics.CosineSimilarity()
    >>> m.update_state(np.array([[0., 1.], [1., 1.]]), np.array([[1., 0.], [1., 1.]]))
    >>> float(m.result())
    0.5
    >>> m.update_state(np.array([[1., 0.]]), np.array([[1., 0.]]), sample_weight=[2.0])
    >>> float(m.result())
    0.75
    """

    def __init__(
        self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1, epsilon: float = 1e-12
    ) -> None:
        self.name = name
        self.dtype: str | None = float_dtype_name(dtype)
        self.axis = check_axis(axis)
        self.epsilon = check_epsilon(epsilon)
        self.reset_state()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, dtype={self.dtype!r}, axis={self.axis}, "
            f"epsilon={self.epsilon!r})"
        )

    def update_state(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> None:
        """Adds one batch: ``total += Σ w·c``, ``count += Σ w`` (w broadcast to the cosines)."""
        y_true, y_pred = cast_pair(y_true, y_pred, self.dtype)
        y_true, y_pred, _ = keras_ranks(y_true, y_pred)
        cos = np.asarray(ops.cosine_similarity(y_true, y_pred, self.axis, self.epsilon))
        weights = adjust_sample_weight(sample_weight, cos.shape, cos.dtype)
        if weights is None:
            total, count = np.sum(cos, dtype=np.float64), float(cos.size)
        else:
            weights = np.broadcast_to(weights, cos.shape)
            total = np.sum(np.multiply(cos, weights, dtype=np.float64))
            count = np.sum(weights, dtype=np.float64)
        self.total += float(total)
        self.count += float(count)

    def result(self) -> np.floating[Any]:
        """The weighted mean so far, ``total / count``; 0.0 before any update or while ``count`` is 0."""
        value = self.total / self.count if self.count != 0.0 else 0.0
        result: np.floating[Any] = numpy_dtype(self.dtype or "float64").type(value)
        return result

    def reset_state(self) -> None:
        """Forgets every batch: ``total`` and ``count`` back to 0."""
        self.total: float = 0.0
        self.count: float = 0.0

    def __call__(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> np.floating[Any]:
        """:meth:`update_state` then :meth:`result`, as Keras metrics do when called."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        """``{"name", "dtype", "axis", "epsilon"}``; :meth:`from_config` round-trips it."""
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis, "epsilon": self.epsilon}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CosineSimilarity:
        """Rebuilds a metric (without its state) from :meth:`get_config`."""
        return cls(**config)
