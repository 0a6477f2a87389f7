"""Positive cosine similarity, l2 normalisation and their gradients, on NumPy arrays.

Every function follows TensorFlow's rule for normalisation, ``x * rsqrt(max(sum(x**2), epsilon))``,
with ``epsilon`` a floor on the **squared** norm: ``1e-12`` (the default) is TF 2.x ``tf.nn`` and
Keras 2, ``1e-14`` reproduces Keras 3. The work is done by the Swift kernels of
``swiftsim._swiftsim``; this module only validates and shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast, overload

import numpy as np
from numpy.typing import NDArray

from . import _swiftsim
from ._typing import ArrayLike, ArrayT, F, Floats
from ._validation import (
    as_float_array,
    check_epsilon,
    check_out,
    kernel_dtype,
    native,
    needs_temporary,
    normalize_axis,
    prepare_pair,
)

if TYPE_CHECKING:
    from ._typing import AtLeast1D, AtLeast2D, Scalar0D, Vector

__all__ = [
    "cosine_similarity",
    "cosine_similarity_grad",
    "cosine_value_and_grad",
    "l2_normalize",
    "l2_normalize_grad",
    "merge_top_k",
    "pairs_above",
    "pairwise_chunks",
    "pairwise_cosine_similarity",
    "top_k",
]


def _result(out: Floats, user_out: object) -> Floats | np.floating[Any]:
    """NumPy's convention: a 0-d result is returned as a scalar unless the caller passed ``out``."""
    if user_out is not None or out.ndim:
        return out
    return cast("np.floating[Any]", out[()])


@overload
def cosine_similarity(
    x1: ArrayLike, x2: ArrayLike, axis: int = -1, epsilon: float = 1e-12, *, out: ArrayT
) -> ArrayT: ...
@overload
def cosine_similarity(
    x1: AtLeast2D[F], x2: ArrayLike, axis: int = -1, epsilon: float = 1e-12, *, out: None = None
) -> NDArray[F]: ...
@overload
def cosine_similarity(
    x1: ArrayLike, x2: AtLeast2D[F], axis: int = -1, epsilon: float = 1e-12, *, out: None = None
) -> NDArray[F]: ...
@overload
def cosine_similarity(
    x1: Vector[F], x2: Vector[F], axis: int = -1, epsilon: float = 1e-12, *, out: None = None
) -> F: ...
@overload
def cosine_similarity(
    x1: ArrayLike, x2: ArrayLike, axis: int = -1, epsilon: float = 1e-12, *, out: None = None
) -> Floats | np.floating[Any]: ...
def cosine_similarity(
    x1: ArrayLike,
    x2: ArrayLike,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    out: NDArray[Any] | None = None,
) -> Floats | np.floating[Any]:
    """Cosine similarity along ``axis``, in [-1, 1] (positive: 1 means same direction).

    Parameters
    ----------
    x1, x2 : array_like
        Inputs; all axes other than ``axis`` broadcast as in NumPy. Each input is normalised along
        ``axis`` with its own shape, so a size-1 reduced axis is legal (as in TensorFlow).
    axis : int, default -1
        The axis reduced.
    epsilon : float, default 1e-12
        Floor on each squared norm (1e-12: TF 2.x / Keras 2; 1e-14: Keras 3).
    out : ndarray, optional
        Receives the result: exact shape and dtype, C-contiguous, writeable.

    Returns
    -------
    ndarray or numpy scalar
        The broadcast shape without ``axis``, in the inputs' (promoted) float dtype; ints and bools
        compute in float32. Two 1-D vectors give a NumPy scalar (``out``, when given, is returned).

    Notes
    -----
    ``c = (x1·x2) / (sqrt(max(|x1|², ε)) · sqrt(max(|x2|², ε)))``. A zero vector gives 0, NaN or Inf
    in a vector gives NaN for that result only. Values are not clipped to [-1, 1].

    An input whose reduced axis has size 1 is normalised on its own and then broadcast along the
    other's axis, as TensorFlow does, so the result is ``sign(x1) · Σ x̂2`` and can exceed 1 (up to
    ``sqrt(d)``), e.g. ``cosine_similarity(np.ones((1, 4)), np.ones((1, 1)))`` is 2.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> swiftsim.ops.cosine_similarity(np.array([[1., 0.], [1., 1.]]), np.array([1., 0.]))
    array([1.        , 0.70710678])
    """
    if axis == -1:
        result = _swiftsim.cosine_auto(x1, x2, epsilon, out)  # same-shape float ndarrays: checked in C
        if result is not None:
            return result
    eps = check_epsilon(epsilon)
    a, b, outer, dtype = prepare_pair(x1, x2, axis)
    if out is not None:
        target = check_out(out, outer, dtype)
        if needs_temporary(target, a, b):
            tmp = np.empty(outer, dtype)
            _swiftsim.cosine(a, b, tmp, eps)
            target[...] = tmp
            return target
    else:
        target = np.empty(outer, dtype)
    _swiftsim.cosine(a, b, target, eps)
    return _result(target, out)


def _axes_to_last(x: NDArray[Any], axis: int | Sequence[int] | None) -> tuple[NDArray[Any], tuple[int, ...]]:
    """``x`` with the normalised axes moved last, and those axes (sorted) as a tuple."""
    if axis is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axis, (tuple, list)):
        axes = tuple(sorted(normalize_axis(a, x.ndim) for a in axis))
        if len(set(axes)) != len(axes):
            raise ValueError(f"repeated axis in {axis!r}")
    else:
        axes = (normalize_axis(axis, x.ndim),)
    return np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim))), axes


@overload
def l2_normalize(
    x: ArrayLike, axis: int | Sequence[int] | None = -1, epsilon: float = 1e-12, *, out: ArrayT
) -> ArrayT: ...
@overload
def l2_normalize(
    x: AtLeast1D[F], axis: int | Sequence[int] | None = -1, epsilon: float = 1e-12, *, out: None = None
) -> NDArray[F]: ...
@overload
def l2_normalize(
    x: Scalar0D[F], axis: int | Sequence[int] | None = -1, epsilon: float = 1e-12, *, out: None = None
) -> F: ...
@overload
def l2_normalize(
    x: ArrayLike, axis: int | Sequence[int] | None = -1, epsilon: float = 1e-12, *, out: None = None
) -> Floats | np.floating[Any]: ...
def l2_normalize(
    x: ArrayLike,
    axis: int | Sequence[int] | None = -1,
    epsilon: float = 1e-12,
    *,
    out: NDArray[Any] | None = None,
) -> Floats | np.floating[Any]:
    """``x`` scaled to unit l2 norm along ``axis``; each value in [-1, 1].

    Parameters
    ----------
    x : array_like
    axis : int, tuple of ints or None, default -1
        The axis (or axes) of each vector; None means all axes, as ``tf.nn.l2_normalize``; an empty
        tuple makes every element a vector of its own (``sign(x)``, as TensorFlow).
    epsilon : float, default 1e-12
        Floor on the squared norm.
    out : ndarray, optional
        Receives the result (shape and dtype of ``x``, C-contiguous); may be ``x`` itself.

    Returns
    -------
    ndarray or numpy scalar
        Same shape as ``x``, in its float dtype (ints and bools: float32); a 0-d ``x`` gives a
        NumPy scalar.

    Notes
    -----
    ``x / sqrt(max(sum(x**2, axis), ε))``, TensorFlow's ``tf.nn.l2_normalize``. A zero vector stays
    zero; NaN or Inf in a vector makes that vector NaN.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> swiftsim.ops.l2_normalize(np.array([3., 4.]))
    array([0.6, 0.8])
    """
    eps = check_epsilon(epsilon)
    arr = as_float_array(x, "x")
    dtype = kernel_dtype(arr.dtype, "x")
    arr = native(arr, dtype)
    shape = arr.shape
    if out is not None:
        check_out(out, shape, dtype)
    if arr.ndim == 0:  # a scalar is a vector of one element, along its own axis or none
        if isinstance(axis, (tuple, list)):
            for a in axis:
                normalize_axis(a, 1)
        elif axis is not None:
            normalize_axis(axis, 1)
        arr, axis = arr.reshape(1), None
    moved, axes = _axes_to_last(arr, axis)
    nd, k = arr.ndim, len(axes)
    dest = tuple(range(nd - k, nd))
    if k == 0:  # axis=(): every element is a vector of its own (sign(x), or x/√ε below the floor)
        rows = arr[..., np.newaxis]
    elif k > 1:  # one row per vector; copies x only if it must
        rows = moved.reshape(moved.shape[: nd - k] + (math.prod(moved.shape[nd - k :]),))
    else:
        rows = moved
    if out is not None and needs_temporary(out, arr) and not _same_layout(out.reshape(arr.shape), arr):
        out[...] = l2_normalize(arr.copy(), axis, eps).reshape(shape)  # overlapping in another layout
        return out
    target = (out if out is not None else np.empty(shape, dtype)).reshape(arr.shape)
    if k == 0:
        _swiftsim.l2_normalize(rows, target[..., np.newaxis], eps)
    elif k == 1 or axes == dest:  # the target's rows are views: write in place
        _swiftsim.l2_normalize(rows, np.moveaxis(target, axes, dest).reshape(rows.shape), eps)
    else:
        tmp = np.empty(rows.shape, dtype)
        _swiftsim.l2_normalize(rows, tmp, eps)
        np.moveaxis(target, axes, dest)[...] = tmp.reshape(moved.shape)
    if out is not None:
        return out
    return target.reshape(shape) if shape else target.reshape(())[()]


def l2_normalize_grad(
    x: ArrayLike,
    upstream: ArrayLike,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    out: NDArray[Any] | None = None,
) -> Floats:
    """Gradient of ``sum(upstream * l2_normalize(x, axis))`` with respect to ``x``; shaped like ``x``.

    Parameters
    ----------
    x : array_like
    upstream : array_like
        The gradient with respect to the normalised ``x``; broadcasts to ``x``'s shape.
    axis : int, default -1
        The axis of each vector.
    epsilon : float, default 1e-12
        Floor on the squared norm, as in :func:`l2_normalize`.
    out : ndarray, optional
        Receives the result (shape and dtype of ``x``, C-contiguous).

    Returns
    -------
    ndarray
        Shaped like ``x``, in its float dtype (ints and bools: float32); each component in
        ``[-2·r·|g|, 2·r·|g|]``, ``r = 1/max(|x|, √ε)``.

    Notes
    -----
    Per vector ``dx = r · (g − [|x|² ≥ ε] · (x̂·g) · x̂)`` with ``r = 1/sqrt(max(|x|², ε))``: below the
    floor the normalisation is a plain scaling by ``1/√ε``. This is what TensorFlow's
    ``GradientTape`` gives through ``tf.nn.l2_normalize``, computed in one kernel pass.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> swiftsim.ops.l2_normalize_grad(np.array([3., 4.]), np.array([1., 0.]))
    array([ 0.128, -0.096])
    """
    eps = check_epsilon(epsilon)
    arr = as_float_array(x, "x")
    g = as_float_array(upstream, "upstream")
    dtype = np.result_type(kernel_dtype(arr.dtype, "x"), kernel_dtype(g.dtype, "upstream"))
    arr = native(arr, dtype)
    if arr.ndim == 0:
        raise ValueError("x must have at least one axis")
    ax = normalize_axis(axis, arr.ndim)
    try:
        g = np.broadcast_to(native(g, dtype), arr.shape)
    except ValueError:
        raise ValueError(f"upstream of shape {g.shape} does not broadcast to x's shape {arr.shape}") from None
    if out is not None:
        check_out(out, arr.shape, dtype)
    target = np.empty(arr.shape, dtype) if out is None or needs_temporary(out, arr, g) else out
    _swiftsim.l2_normalize_grad(
        np.moveaxis(arr, ax, -1), np.moveaxis(g, ax, -1), np.moveaxis(target, ax, -1), eps
    )
    if out is not None and target is not out:
        out[...] = target
        return out
    return target


def _same_layout(a: NDArray[Any], b: NDArray[Any]) -> bool:
    ia, ib = a.__array_interface__, b.__array_interface__
    return ia["data"][0] == ib["data"][0] and a.strides == b.strides and a.shape == b.shape


def _sum_to_shape(g: NDArray[Any], shape: tuple[int, ...]) -> NDArray[Any]:
    """Sums a broadcast gradient back to the shape of the input it belongs to."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    summed: NDArray[Any] = g.sum(axis=axes, keepdims=True)
    return summed.reshape(shape)


def cosine_value_and_grad(
    x1: ArrayLike,
    x2: ArrayLike,
    upstream: ArrayLike | None = None,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    need: tuple[bool, bool] = (True, True),
    out: tuple[NDArray[Any] | None, NDArray[Any] | None] = (None, None),
) -> tuple[Floats | np.floating[Any], Floats | None, Floats | None]:
    """The cosine (in [-1, 1]) and the gradients of ``sum(upstream * cosine)``, from one kernel pass.

    Parameters
    ----------
    x1, x2, upstream, axis, epsilon
        As in :func:`cosine_similarity_grad`.
    need : (bool, bool), default (True, True)
        Which gradients to compute; an unneeded one is neither computed nor allocated.
    out : (ndarray or None, ndarray or None), default (None, None)
        Receive ``dx1`` and ``dx2`` (checked like every ``out=``).

    Returns
    -------
    (cos, dx1, dx2) : tuple
        ``cos`` as :func:`cosine_similarity` returns it; ``dx1`` and ``dx2`` as
        :func:`cosine_similarity_grad` returns them, or None where ``need`` is False.

    Notes
    -----
    Training loops need the forward value and the gradient together: this reads each input once
    for both. The losses, metrics and layers are built on it.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> cos, dx1, dx2 = swiftsim.ops.cosine_value_and_grad([1., 0.], [0., 2.], need=(True, False))
    >>> float(cos), dx1, dx2
    (0.0, array([0., 1.]), None)
    """
    eps = check_epsilon(epsilon)
    a, b, outer, dtype = prepare_pair(x1, x2, axis)
    if upstream is None:
        u = np.broadcast_to(np.ones((), dtype), outer)
    else:
        u = as_float_array(upstream, "upstream")
        try:
            u = np.broadcast_to(native(u, dtype), outer)
        except ValueError:
            raise ValueError(
                f"upstream of shape {u.shape} does not broadcast to the result shape {outer}"
            ) from None
    nd = max(np.ndim(x1), np.ndim(x2))
    ax = normalize_axis(axis, nd)
    if out is None or len(out) != 2:
        raise TypeError("out must be a pair (dx1, dx2) of arrays or None")
    for dest, name in ((out[0], "out[0]"), (out[1], "out[1]")):
        if dest is not None:
            check_out(dest, np.shape(x1 if name == "out[0]" else x2), dtype, name)
    if out[0] is not None and out[1] is not None and np.may_share_memory(out[0], out[1]):
        raise ValueError("out[0] and out[1] overlap: each gradient needs memory of its own")
    moved_shapes = []
    for x in (x1, x2):
        padded = (1,) * (nd - np.ndim(x)) + np.shape(x)
        moved_shapes.append(padded[:ax] + padded[ax + 1 :] + padded[ax : ax + 1])
    if dtype == np.float16 and any(w and m[:-1] != outer for w, m in zip(need, moved_shapes, strict=True)):
        # A float16 input broadcast over rows: its per-row gradients could overflow float16 before they
        # are summed, so they are computed and summed in float32 (the kernels' accumulator for float16,
        # so every value is the one the float16 kernel rounds) and rounded to float16 once.
        return _float16_via_float32(x1, x2, upstream, axis, eps, need, out)
    # per input: (gradient array, the view the kernel writes, the input's shape with axis last)
    grads: list[tuple[Any, Any, Any]] = []
    for x, full, want, dest, moved_shape in zip((x1, x2), (a, b), need, out, moved_shapes, strict=True):
        if not want:
            grads.append((None, None, None))
            continue
        padded = (1,) * (nd - np.ndim(x)) + np.shape(x)
        if moved_shape == full.shape and not (dest is not None and needs_temporary(dest, a, b, u)):
            # Not broadcast: write in the input's own layout, through a view with the axis last.
            g = np.empty(padded, dtype) if dest is None else dest.reshape(padded)
            grads.append((g, np.moveaxis(g, ax, -1), moved_shape))
        else:
            g = np.empty(full.shape, dtype)
            grads.append((g, g, moved_shape))
    cos = np.empty(outer, dtype)
    _swiftsim.cosine_grad(a, b, u, grads[0][1], grads[1][1], cos, eps)
    results: list[Any] = []
    for x, (g, view, moved_shape), dest in zip((x1, x2), grads, out, strict=True):
        if g is None:
            results.append(None)
            continue
        if g is view:  # broadcast (or aliased) input: sum back over the broadcast axes, restore the layout
            g = np.moveaxis(_sum_to_shape(g, moved_shape), -1, ax).reshape(np.shape(x))
            if dest is None:
                results.append(g if g.flags.c_contiguous else g.copy())  # 0-d stays 0-d
                continue
            dest[...] = g
        results.append(dest if dest is not None else g.reshape(np.shape(x)))
    return _result(cos, None), results[0], results[1]


def _float16_via_float32(
    x1: ArrayLike,
    x2: ArrayLike,
    upstream: ArrayLike | None,
    axis: int,
    eps: float,
    need: tuple[bool, bool],
    out: tuple[NDArray[Any] | None, NDArray[Any] | None],
) -> tuple[Any, Any, Any]:
    """cosine_value_and_grad of float16 inputs, computed in float32 and rounded once to float16."""
    up = None if upstream is None else as_float_array(upstream, "upstream").astype(np.float32)
    c, g1, g2 = cosine_value_and_grad(
        np.asarray(x1).astype(np.float32), np.asarray(x2).astype(np.float32), up, axis, eps, need=need
    )
    results: list[Any] = []
    for g, dest in zip((g1, g2), out, strict=True):
        if g is None:
            results.append(None)
        elif dest is not None:
            dest[...] = g
            results.append(dest)
        else:
            results.append(g.astype(np.float16))
    return np.float16(c) if np.ndim(c) == 0 else c.astype(np.float16), results[0], results[1]


@overload
def cosine_similarity_grad(
    x1: NDArray[F],
    x2: NDArray[F],
    upstream: ArrayLike | None = None,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    out: tuple[NDArray[Any], NDArray[Any]] | None = None,
) -> tuple[NDArray[F], NDArray[F]]: ...
@overload
def cosine_similarity_grad(
    x1: ArrayLike,
    x2: ArrayLike,
    upstream: ArrayLike | None = None,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    out: tuple[NDArray[Any], NDArray[Any]] | None = None,
) -> tuple[Floats, Floats]: ...
def cosine_similarity_grad(
    x1: ArrayLike,
    x2: ArrayLike,
    upstream: ArrayLike | None = None,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    out: tuple[NDArray[Any], NDArray[Any]] | None = None,
) -> tuple[Floats, Floats]:
    """Gradient of ``sum(upstream * cosine_similarity(x1, x2))``; each component in [-r, r], r = 1/|x|.

    Parameters
    ----------
    x1, x2 : array_like
        As in :func:`cosine_similarity`.
    upstream : array_like, optional
        Weights broadcastable to the cosine's shape; default all ones.
    axis : int, default -1
    epsilon : float, default 1e-12
    out : (ndarray, ndarray), optional
        Receive ``dx1`` and ``dx2`` (each the shape of its input, the result dtype, C-contiguous);
        reusing them avoids the cost of fresh pages on large inputs.

    Returns
    -------
    (dx1, dx2) : tuple of ndarray
        Shaped like ``x1`` and ``x2`` (gradients of broadcast inputs are summed back).

    Notes
    -----
    Per vector ``∂c/∂x = r_x · (ŷ − [|x|² ≥ ε] · c · x̂)`` with ``r_x = 1/sqrt(max(|x|², ε))``;
    below the floor it is ``ŷ/√ε`` (finite), exactly what TensorFlow's GradientTape gives.

    Examples
    --------
    >>> import numpy as np, swiftsim
    >>> dx1, dx2 = swiftsim.ops.cosine_similarity_grad(np.array([1., 0.]), np.array([0., 2.]))
    >>> dx1, dx2
    (array([0., 1.]), array([0.5, 0. ]))
    """
    _, dx1, dx2 = cosine_value_and_grad(
        x1, x2, upstream, axis, epsilon, out=(None, None) if out is None else out
    )
    assert dx1 is not None and dx2 is not None  # both were asked for
    return dx1, dx2


from ._pairwise import pairwise_chunks, pairwise_cosine_similarity, top_k  # noqa: E402
from ._retrieval import merge_top_k, pairs_above  # noqa: E402
