"""NumPy layers with a forward and a backward pass: a cosine-similarity layer and Keras's ``Dot``.

Calling a layer on ``[a, b]`` computes its output and remembers the inputs; ``backward(upstream)``
then returns the gradients of ``sum(upstream * output)`` with respect to both inputs. ``Dot`` follows
``keras.layers.Dot`` (axes rules, output shapes and error messages; ``docs/keras.md``), except
that the output keeps the inputs' float dtype instead of Keras's float32.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import ops
from ._typing import ArrayLike, Floats
from ._validation import AxisError, as_float_array, check_axis, check_epsilon, common_dtype, native

__all__ = ["CosineSimilarity", "Dot", "dot"]


def _two_inputs(inputs: Any, layer: str) -> tuple[Any, Any]:
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        count = len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs).__name__
        raise ValueError(f"A `{layer}` layer should be called on exactly 2 inputs. Received: {count}")
    return inputs[0], inputs[1]


def _no_forward(layer: object) -> RuntimeError:
    return RuntimeError(
        f"{type(layer).__name__}.backward() needs a forward pass: call the layer on [a, b] first"
    )


class CosineSimilarity:
    """Layer computing the positive cosine similarity of two inputs, in [-1, 1].

    Parameters
    ----------
    axis : int, default -1
        The axis of each vector; it is reduced away, the other axes broadcast.
    epsilon : float, default 1e-12
        Floor on each squared norm (1e-12: Keras 2; 1e-14: Keras 3).

    Notes
    -----
    Forward: ``c = (a·b) · r_a · r_b`` with ``r_x = 1/sqrt(max(|x|², ε))``. Backward, for the
    upstream gradient ``u``: ``da = u · r_a · (b̂ − [|a|² ≥ ε] · c · â)`` and symmetrically ``db``,
    each summed back to its input's shape when the input was broadcast.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> layer = swiftsim.layers.CosineSimilarity()
    >>> layer([np.array([[1., 0.]]), np.array([[0., 2.]])])
    array([0.])
    >>> da, db = layer.backward(np.ones(1))
    >>> da, db
    (array([[0., 1.]]), array([[0.5, 0. ]]))
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-12) -> None:
        self.axis = check_axis(axis)
        self.epsilon = check_epsilon(epsilon)
        self._inputs: tuple[NDArray[Any], NDArray[Any]] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(axis={self.axis}, epsilon={self.epsilon!r})"

    def __call__(self, inputs: Sequence[ArrayLike]) -> Floats | np.floating[Any]:
        """Calls the layer: :meth:`call`, as calling a Keras layer runs its ``call``."""
        return self.call(inputs)

    def call(self, inputs: Sequence[ArrayLike]) -> Floats | np.floating[Any]:
        """The cosine of ``inputs = [a, b]`` along ``axis``; the inputs are kept for :meth:`backward`."""
        a, b = _two_inputs(inputs, "CosineSimilarity")
        a, b = as_float_array(a, "a"), as_float_array(b, "b")
        out: Floats | np.floating[Any] = ops.cosine_similarity(a, b, self.axis, self.epsilon)
        self._inputs = (a, b)
        return out

    def backward(self, upstream: ArrayLike) -> tuple[Floats, Floats]:
        """``(da, db)``, the gradients of ``sum(upstream * output)`` for the last call; shapes of a and b.

        ``upstream`` broadcasts to the output's shape. RuntimeError before any call.
        """
        if self._inputs is None:
            raise _no_forward(self)
        a, b = self._inputs
        _, da, db = ops.cosine_value_and_grad(a, b, upstream, self.axis, self.epsilon)
        assert da is not None and db is not None  # both were asked for
        return da, db

    def get_config(self) -> dict[str, Any]:
        """``{"axis", "epsilon"}``; :meth:`from_config` round-trips it."""
        return {"axis": self.axis, "epsilon": self.epsilon}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CosineSimilarity:
        """Rebuilds a layer from :meth:`get_config`."""
        return cls(**config)


class Dot:
    """Keras's ``Dot`` layer: batched dot products along one axis of each input, unbounded.

    With ``normalize=True`` the outputs are cosine similarities, in [-1, 1].

    Parameters
    ----------
    axes : int or pair of ints
        The axis of ``x`` and of ``y`` that is contracted. An int is used for both inputs; a negative
        value is mapped per input (``axes % ndim``). The batch axis 0 cannot be contracted.
    normalize : bool, default False
        l2-normalise each input along its dot axis first (:func:`swiftsim.ops.l2_normalize`).
    epsilon : float, default 1e-12
        Floor on each squared norm when normalising (1e-12: Keras 2; 1e-14: Keras 3).

    Notes
    -----
    ``out[b, i..., j...] = Σ_k x[b, i..., k, ...] · y[b, j..., k, ...]`` (``k`` on each dot axis): the
    output is ``x``'s shape without the batch and dot axes followed by ``y``'s, batch first, and a
    rank-1 result is reshaped to ``(B, 1)``. So ``(B, D)·(B, D)`` gives ``(B, 1)``,
    ``(B, N, D)·(B, M, D)`` with ``axes=2`` gives ``(B, N, M)`` and ``(B, 3, 5)·(B, 3, 5)`` with
    ``axes=1`` gives ``(B, 5, 5)``. The output keeps the inputs' float dtype (Keras: float32).

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> x = np.arange(10.).reshape(1, 5, 2)
    >>> y = np.arange(10., 20.).reshape(1, 2, 5)
    >>> swiftsim.layers.Dot(axes=(1, 2))([x, y])
    array([[[260., 360.],
            [320., 445.]]])
    >>> swiftsim.layers.Dot(axes=1, normalize=True)([np.array([[3., 4.]]), np.array([[4., 3.]])])
    array([[0.96]])
    """

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, epsilon: float = 1e-12) -> None:
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(
                    "Invalid format for argument `axes`: it should contain two elements. "
                    f"Received: axes={axes}"
                )
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
                raise ValueError(
                    "Invalid format for argument `axes`: list elements should be integers. "
                    f"Received: axes={axes}"
                )
            axes = (operator.index(axes[0]), operator.index(axes[1]))
        elif isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
            axes = operator.index(axes)
        else:
            raise TypeError(
                f"Invalid type for argument `axes`: it should be a list or an int. Received: axes={axes}"
            )
        self.axes: int | tuple[int, int] = axes
        self.normalize = bool(normalize)
        self.epsilon = check_epsilon(epsilon)
        self._saved: tuple[NDArray[Any], NDArray[Any], int, int, np.dtype] | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(axes={self.axes!r}, normalize={self.normalize}, epsilon={self.epsilon!r})"
        )

    def _resolve_axes(self, shape1: tuple[int, ...], shape2: tuple[int, ...]) -> tuple[int, int]:
        """The dot axes as non-negative indices, after Keras's checks (ValueError with the shapes)."""
        if len(shape1) < 2 or len(shape2) < 2:
            raise ValueError(
                "Cannot do batch_dot on inputs with rank < 2. "
                f"Received inputs with shapes {shape1} and {shape2}."
            )
        raw = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        axes = tuple(a % len(s) if a < 0 else a for a, s in zip(raw, (shape1, shape2), strict=True))
        if 0 in axes:
            raise ValueError(
                "Cannot perform batch_dot over axis 0. If your inputs are not batched, add a dummy batch "
                "dimension to your inputs using np.expand_dims(x, 0)"
            )
        for a, s in zip(axes, (shape1, shape2), strict=True):
            if a >= len(s):
                raise AxisError(a, len(s), f"Dot axes={self.axes!r} for input shapes {shape1}, {shape2}")
        if shape1[0] != shape2[0]:
            raise ValueError(
                "Cannot do batch_dot on inputs with different batch sizes. "
                f"Received inputs with shapes {shape1} and {shape2}."
            )
        if shape1[axes[0]] != shape2[axes[1]]:
            raise ValueError(
                f"Incompatible input shapes: axis values {shape1[axes[0]]} (at axis {axes[0]}) != "
                f"{shape2[axes[1]]} (at axis {axes[1]}). Full input shapes: {shape1}, {shape2}"
            )
        return axes[0], axes[1]

    def compute_output_shape(self, input_shape: Sequence[Sequence[int]]) -> tuple[int, ...]:
        """The output shape for ``input_shape = [shape_x, shape_y]``, as Keras computes it."""
        shape1, shape2 = (tuple(s) for s in _two_inputs(input_shape, "Dot"))
        a1, a2 = self._resolve_axes(shape1, shape2)
        out = shape1[:a1] + shape1[a1 + 1 :] + shape2[1:a2] + shape2[a2 + 1 :]
        return out if len(out) > 1 else out + (1,)

    def __call__(self, inputs: Sequence[ArrayLike]) -> Floats:
        """Calls the layer: :meth:`call`, as calling a Keras layer runs its ``call``."""
        return self.call(inputs)

    def call(self, inputs: Sequence[ArrayLike]) -> Floats:
        """The batched dot product of ``inputs = [x, y]``; the inputs are kept for :meth:`backward`."""
        x, y = _two_inputs(inputs, "Dot")
        x, y = as_float_array(x, "x"), as_float_array(y, "y")
        dtype = common_dtype(x, y, names=("x", "y"))
        ax, ay = self._resolve_axes(x.shape, y.shape)
        x, y = native(x, dtype), native(y, dtype)
        batch, k = x.shape[0], x.shape[ax]
        x_rest = x.shape[1:ax] + x.shape[ax + 1 :]
        y_rest = y.shape[1:ay] + y.shape[ay + 1 :]
        self._saved = (x, y, ax, ay, dtype)
        if self.normalize:
            # Normalised dot products are cosines: the all-pairs kernel, norms fused, no copies of x̂, ŷ.
            xr = np.moveaxis(x, ax, -1).reshape(batch, math.prod(x_rest), k)
            yr = np.moveaxis(y, ay, -1).reshape(batch, math.prod(y_rest), k)
            out = ops.pairwise_cosine_similarity(xr, yr, self.epsilon)
        else:
            _, _, x3, y3 = self._operands()
            out = np.matmul(x3, y3).astype(dtype, copy=False)  # float16, bfloat16 accumulated in float32
        shape = (batch,) + x_rest + y_rest
        return out.reshape(shape if len(shape) > 1 else (batch, 1))

    def _operands(self) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
        """For the last call: x̂, ŷ (or x, y) and their (B, P, K) and (B, K, Q) matrix views."""
        assert self._saved is not None  # after a call
        x, y, ax, ay, dtype = self._saved
        xn = ops.l2_normalize(x, ax, self.epsilon) if self.normalize else x
        yn = ops.l2_normalize(y, ay, self.epsilon) if self.normalize else y
        acc = np.float32 if dtype.itemsize == 2 else dtype  # float16 and bfloat16 accumulate in float32
        xm = np.moveaxis(xn, ax, -1)
        ym = np.moveaxis(yn, ay, 1)
        batch, k = x.shape[0], x.shape[ax]
        x3 = xm.reshape(batch, math.prod(xm.shape[1:-1]), k).astype(acc, copy=False)
        y3 = ym.reshape(batch, k, math.prod(ym.shape[2:])).astype(acc, copy=False)
        return xn, yn, x3, y3

    def backward(self, upstream: ArrayLike) -> tuple[Floats, Floats]:
        """``(dx, dy)``, the gradients of ``sum(upstream * output)`` for the last call; shapes of x and y.

        ``upstream`` broadcasts to the output's shape. With ``normalize=True`` the gradient goes
        through the normalisation: ``dx = r·(g − [|x|² ≥ ε]·x̂·(x̂·g))`` along the dot axis, where ``g``
        is the gradient with respect to ``x̂``. RuntimeError before any call.
        """
        if self._saved is None:
            raise _no_forward(self)
        x, y, ax, ay, dtype = self._saved
        xn, yn, x3, y3 = self._operands()
        batch, p, q = x3.shape[0], x3.shape[1], y3.shape[2]
        out_shape = (batch,) + np.moveaxis(xn, ax, -1).shape[1:-1] + np.moveaxis(yn, ay, 1).shape[2:]
        out_shape = out_shape if len(out_shape) > 1 else (batch, 1)
        u = as_float_array(upstream, "upstream")
        try:
            u = np.broadcast_to(u, out_shape)
        except ValueError:
            raise ValueError(
                f"upstream of shape {u.shape} does not broadcast to the output shape {out_shape}"
            ) from None
        g = u.reshape(batch, p, q).astype(x3.dtype, copy=False)
        gx = np.matmul(g, np.swapaxes(y3, 1, 2))  # (B, P, K)
        gy = np.matmul(np.swapaxes(x3, 1, 2), g)  # (B, K, Q)
        gx = np.moveaxis(gx.reshape(np.moveaxis(xn, ax, -1).shape), -1, ax)
        gy = np.moveaxis(gy.reshape(np.moveaxis(yn, ay, 1).shape), 1, ay)
        if self.normalize:
            gx = self._through_normalize(x, xn, gx, ax)
            gy = self._through_normalize(y, yn, gy, ay)
        return gx.astype(dtype, copy=False), gy.astype(dtype, copy=False)

    def _through_normalize(self, x: NDArray[Any], xn: NDArray[Any], g: NDArray[Any], axis: int) -> Any:
        """The gradient with respect to ``x`` of ``sum(g * l2_normalize(x))``: TensorFlow's rule."""
        return ops.l2_normalize_grad(x.astype(g.dtype, copy=False), g, axis, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        """``{"axes", "normalize", "epsilon"}``; :meth:`from_config` round-trips it."""
        return {"axes": self.axes, "normalize": self.normalize, "epsilon": self.epsilon}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dot:
        """Rebuilds a layer from :meth:`get_config`."""
        return cls(**config)


def dot(
    inputs: Sequence[ArrayLike],
    axes: int | Sequence[int] = -1,
    normalize: bool = False,
    epsilon: float = 1e-12,
) -> Floats:
    """Functional form of :class:`Dot`, as ``keras.layers.dot``; unbounded (cosines if normalised).

    Parameters
    ----------
    inputs : list of two array_like
        ``[x, y]``, each of rank >= 2 with the same batch size.
    axes : int or pair of ints, default -1
    normalize : bool, default False
    epsilon : float, default 1e-12

    Returns
    -------
    ndarray
        The batched dot products, shaped as described in :class:`Dot`.

    Notes
    -----
    ``Dot(axes, normalize, epsilon)(inputs)``; see :class:`Dot` for the formula and shapes.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> swiftsim.layers.dot([np.array([[1., 2.]]), np.array([[3., 4.]])], axes=1)
    array([[11.]])
    """
    return Dot(axes, normalize, epsilon)(inputs)
