"""Input validation shared by the public functions: dtypes, axes, broadcasting, ``out=``, and the
Keras-style arguments (``dtype=``, the rank rule, ``sample_weight``) of the losses and metrics.

The checks more than one function needs live here, so that their messages are uniform (they name
the shapes and dtypes, like NumPy's) and the compiled extension only ever sees float16, bfloat16,
float32 or float64 ndarrays in native byte order. A check that belongs to one function stays beside
it: the all-pairs operand shapes and ``k`` in ``_pairwise.py``, repeated axes in
``ops.l2_normalize``, reduction names in ``losses.py``, the working-memory budget in ``_config.py``.
The C shim checks every array again before a kernel sees it.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _swiftsim

try:  # NumPy >= 2.0
    from numpy.exceptions import AxisError
    from numpy.lib.array_utils import normalize_axis_index
except ImportError:  # pragma: no cover - NumPy 1.25/1.26
    from numpy import AxisError  # type: ignore[attr-defined,no-redef]
    from numpy.core.multiarray import normalize_axis_index  # type: ignore[no-redef]

__all__ = [
    "AxisError",
    "as_array",
    "as_float_array",
    "from_dlpack",
    "common_dtype",
    "is_kernel_float",
    "check_epsilon",
    "normalize_axis",
    "prepare_pair",
    "check_out",
    "check_axis",
    "float_dtype_name",
    "numpy_dtype",
    "cast_pair",
    "keras_ranks",
    "adjust_sample_weight",
    "native",
    "needs_temporary",
]

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _is_bfloat16(dtype: np.dtype) -> bool:
    return dtype.name == "bfloat16"


def is_kernel_float(dtype: np.dtype) -> bool:
    """Whether the kernels compute in ``dtype`` itself (float16, bfloat16, float32, float64)."""
    return (dtype.kind == "f" and dtype.itemsize in (2, 4, 8)) or _is_bfloat16(dtype)


def kernel_dtype(dtype: np.dtype, name: str) -> np.dtype:
    """The dtype an input of ``dtype`` is computed in (the contract's dtype policy)."""
    if is_kernel_float(dtype):
        return np.dtype(dtype.type)  # native byte order of the same float type; bfloat16 as it is
    if dtype.kind in "biu":
        return np.dtype(np.float32)  # Keras floatx
    raise TypeError(
        f"{name} has dtype {dtype}, which swiftsim does not compute with; "
        "use float16, float32, float64, an integer or bool dtype, or bfloat16"
    )


#: DLPack's device type of the CPU (``kDLCPU``).
_DLPACK_CPU = 1


#: The dtypes worth asking a DLPack producer for (by name: NumPy, JAX, TensorFlow, PyTorch spell them
#: alike). Others go to ``np.asarray``: some producers abort the process on a dtype DLPack cannot carry
#: (TensorFlow on a string tensor) instead of raising.
_DLPACK_DTYPES = frozenset(
    ["float16", "bfloat16", "float32", "float64", "bool"]
    + [f"{s}int{b}" for s in ("", "u") for b in (8, 16, 32, 64)]
)


def _dlpack_dtype_ok(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return True  # nothing to go by: the producer's __dlpack__ decides
    name = getattr(dtype, "name", None)
    return str(name if isinstance(name, str) else dtype).rsplit(".", 1)[-1] in _DLPACK_DTYPES


def from_dlpack(x: Any, name: str) -> NDArray[Any] | None:
    """A read-only NumPy view of an object exposing ``__dlpack__`` (JAX, PyTorch, TensorFlow, CuPy...),
    without a copy, bfloat16 included; None when the producer cannot export its dtype (the caller
    then tries ``np.asarray``). A tensor on another device is a ValueError that says to move it."""
    device = getattr(x, "__dlpack_device__", None)
    if device is not None:
        kind, index = device()
        if int(kind) != _DLPACK_CPU:
            raise ValueError(
                f"{name} is a tensor on DLPack device type {int(kind)} (id {index}), not the CPU: move it "
                "to the CPU first (for example jax.device_get(x), x.cpu() in PyTorch, or copy it with "
                "numpy.asarray on its framework's side)"
            )
    try:
        try:
            capsule = x.__dlpack__(max_version=(1, 0))
        except TypeError:  # a producer of DLPack before 1.0 has no max_version
            capsule = x.__dlpack__()
    except (BufferError, TypeError, ValueError, NotImplementedError, RuntimeError):
        return (
            None  # a dtype, layout or state DLPack cannot carry (a tensor needing grad): np.asarray decides
        )
    return _swiftsim.from_dlpack(capsule)


def as_array(x: Any, name: str) -> NDArray[Any]:
    """``x`` as an ndarray: itself, a zero-copy view of a ``__dlpack__`` tensor, or ``np.asarray(x)``."""
    if isinstance(x, (np.ndarray, np.generic)):  # NumPy's own: no copy (subclasses become ndarray views)
        return np.asarray(x)
    if hasattr(type(x), "__dlpack__") and _dlpack_dtype_ok(x):
        arr = from_dlpack(x, name)
        if arr is not None:
            return arr
    try:
        return np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None


def as_float_array(x: Any, name: str) -> NDArray[Any]:
    """:func:`as_array`, refusing non-numeric dtypes (TypeError) without converting yet."""
    arr = as_array(x, name)
    kernel_dtype(arr.dtype, name)
    return arr


def common_dtype(*arrays: NDArray[Any], names: tuple[str, ...]) -> np.dtype:
    """NumPy promotion of the kernel dtypes of ``arrays`` (ints and bools count as float32).

    bfloat16 follows ml_dtypes' promotion (bfloat16 with bfloat16 stays bfloat16, with float32 gives
    float32, with float64 float64); bfloat16 with float16, which NumPy cannot promote (each holds values
    the other cannot), gives float32, as JAX does.
    """
    dtypes = [kernel_dtype(a.dtype, n) for a, n in zip(arrays, names, strict=True)]
    try:
        return np.result_type(*dtypes)
    except TypeError:  # bfloat16 with float16: NumPy's DTypePromotionError is a TypeError
        return np.result_type(np.float32, *(d for d in dtypes if not _is_bfloat16(d) and d != np.float16))


def native(arr: NDArray[Any], dtype: np.dtype) -> NDArray[Any]:
    """``arr`` as ``dtype`` in native byte order and aligned; no copy when it already is."""
    if arr.dtype == dtype and arr.dtype.isnative and arr.flags.aligned:
        return arr
    return np.asarray(arr, dtype=dtype) if arr.flags.aligned else np.array(arr, dtype=dtype)


def check_epsilon(epsilon: Any) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise TypeError(f"epsilon must be a real number, got {type(epsilon).__name__}")
    try:
        value = float(epsilon)
    except OverflowError:  # an int beyond the range of a double, e.g. 10**400
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}") from None
    if not (value >= 0.0) or value == float("inf"):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    return value


def normalize_axis(axis: Any, ndim: int) -> int:
    """A single axis as a non-negative index; AxisError when out of range, TypeError when not an int."""
    axis = check_axis(axis)
    if not -max(ndim, 1) <= axis < max(ndim, 1):  # also for ints beyond int64, which NumPy would not take
        raise AxisError(axis, ndim)
    return normalize_axis_index(axis, ndim)


def prepare_pair(
    x1: Any, x2: Any, axis: Any, names: tuple[str, str] = ("x1", "x2")
) -> tuple[NDArray[Any], NDArray[Any], tuple[int, ...], np.dtype]:
    """Validates two inputs of a row-wise op.

    Returns ``(a, b, outer, dtype)``: both inputs as native arrays of the common dtype, padded to the
    same rank, with the reduced axis moved last and the other axes broadcast (views, stride 0 where
    broadcast, never copies of contiguous data); ``outer`` is the result shape.
    """
    a = as_float_array(x1, names[0])
    b = as_float_array(x2, names[1])
    dtype = common_dtype(a, b, names=names)
    ndim = max(a.ndim, b.ndim)
    ax = normalize_axis(axis, ndim)
    a = native(a, dtype)
    b = native(b, dtype)
    a = a.reshape((1,) * (ndim - a.ndim) + a.shape)
    b = b.reshape((1,) * (ndim - b.ndim) + b.shape)
    la, lb = a.shape[ax], b.shape[ax]
    if la != lb and la != 1 and lb != 1:
        raise ValueError(
            f"{names[0]} and {names[1]} have different lengths along axis {axis}: "
            f"shapes {np.shape(x1)} and {np.shape(x2)}"
        )
    a = np.moveaxis(a, ax, -1)
    b = np.moveaxis(b, ax, -1)
    try:
        outer = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ValueError(
            f"{names[0]} and {names[1]} cannot be broadcast together: "
            f"shapes {np.shape(x1)} and {np.shape(x2)}"
        ) from None
    a = np.broadcast_to(a, outer + a.shape[-1:])
    b = np.broadcast_to(b, outer + b.shape[-1:])
    return a, b, outer, dtype


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> NDArray[Any]:
    """``out=`` must be an ndarray of exactly ``shape`` and ``dtype``, C-contiguous and writeable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}, expected {dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return out


#: The largest rank NumPy arrays have: no axis outside [-MAX_RANK, MAX_RANK) can ever be valid.
MAX_RANK = 64


def check_axis(axis: Any) -> int:
    """``axis`` as an int (TypeError for anything that is not an integer; AxisError outside
    [-64, 64), where no NumPy array has an axis). Its range for a given array is checked later.
    A bool is not an axis (TypeError), as in NumPy."""
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError("axis must be an integer, got bool")
    try:
        value = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}") from None
    if not -MAX_RANK <= value < MAX_RANK:
        raise AxisError(f"axis {value} is out of bounds for arrays of at most {MAX_RANK} dimensions")
    return value


def needs_temporary(out: np.ndarray, *inputs: np.ndarray) -> bool:
    """True when a kernel cannot write into ``out`` directly: ``out`` overlaps an input, or its address
    is not aligned for its dtype (the result is then computed into a temporary and copied)."""
    return not out.flags.aligned or any(np.may_share_memory(out, x) for x in inputs)


#: Keras dtype-policy names that stand for their compute dtype.
_POLICY_COMPUTE = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
_CLASS_DTYPES = ("float16", "bfloat16", "float32", "float64")


def float_dtype_name(dtype: Any) -> str | None:
    """The name of the float dtype a loss's or metric's ``dtype=`` stands for, or None for None.

    Accepts what Keras accepts: a name (``"float32"``, ``"bfloat16"``), a NumPy dtype or type, a
    TensorFlow dtype (``tf.float32``: anything with ``as_numpy_dtype`` and a ``name``), or a Keras
    dtype policy (its ``compute_dtype``; the names ``"mixed_float16"`` and ``"mixed_bfloat16"``
    too). The result is ``"float16"``, ``"bfloat16"``, ``"float32"`` or ``"float64"``; anything
    else is a TypeError. ``"bfloat16"`` needs the ``ml_dtypes`` package.
    """
    if dtype is None:
        return None
    given = dtype
    compute = getattr(dtype, "compute_dtype", None)  # a Keras DTypePolicy
    if isinstance(compute, str):
        dtype = compute
    elif hasattr(dtype, "as_numpy_dtype") and isinstance(getattr(dtype, "name", None), str):
        dtype = dtype.name  # a TensorFlow DType: tf.float32.name == "float32"
    if isinstance(dtype, str):
        dtype = _POLICY_COMPUTE.get(dtype, dtype)
    if dtype == "bfloat16":
        numpy_dtype("bfloat16")  # TypeError now, not at the first call, when ml_dtypes is missing
        return "bfloat16"
    try:
        name: str = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype must be None or a float dtype, got {given!r}") from None
    if name not in _CLASS_DTYPES:
        raise TypeError(f"dtype must be None, float16, bfloat16, float32 or float64, got {given!r}")
    return name


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a name returned by :func:`float_dtype_name` (bfloat16 from ``ml_dtypes``)."""
    if name != "bfloat16":
        return np.dtype(name)
    try:
        import ml_dtypes  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise TypeError("dtype='bfloat16' needs the ml_dtypes package: pip install ml_dtypes") from None
    return np.dtype(ml_dtypes.bfloat16)  # type: ignore[no-any-return,unused-ignore]


def cast_pair(y_true: Any, y_pred: Any, dtype: str | None) -> tuple[Any, Any]:
    """Both inputs cast to ``dtype`` (a class's ``dtype=`` argument); unchanged when it is None."""
    if dtype is None:
        return y_true, y_pred
    dt = numpy_dtype(dtype)
    return (
        as_float_array(y_true, "y_true").astype(dt, copy=False),
        as_float_array(y_pred, "y_pred").astype(dt, copy=False),
    )


def keras_ranks(y_true: Any, y_pred: Any) -> tuple[Any, Any, str | None]:
    """Keras's rank rule for the two inputs of a loss or metric; ``(y_true, y_pred, squeezed)``.

    When the ranks differ by one and the longer input ends in a size-1 axis, that axis is squeezed,
    so ``(B, D, 1)`` against ``(B, D)`` is a cosine over ``D`` (``squeezed`` says which input lost it:
    ``"y_true"``, ``"y_pred"`` or None). A rank-1 partner, ``(B, 1)`` against ``(B,)``, is refused
    with a ValueError: Keras gives three different answers for it.
    """
    try:  # ndarrays and tensors: no conversion
        t_ndim, p_ndim = y_true.ndim, y_pred.ndim
    except AttributeError:
        t_ndim, p_ndim = np.ndim(y_true), np.ndim(y_pred)
    if t_ndim == p_ndim:
        return y_true, y_pred, None
    if abs(t_ndim - p_ndim) != 1 or min(t_ndim, p_ndim) == 0:
        return y_true, y_pred, None
    name = "y_true" if t_ndim > p_ndim else "y_pred"
    longer = as_float_array(y_true if name == "y_true" else y_pred, name)
    if longer.shape[-1] != 1:
        return y_true, y_pred, None
    if min(t_ndim, p_ndim) == 1:
        raise ValueError(
            f"y_true of shape {np.shape(y_true)} and y_pred of shape {np.shape(y_pred)}: a (B, 1) input "
            "against a (B,) one is ambiguous (Keras squeezes, expands or broadcasts it depending on the "
            "version); give both the same shape"
        )
    if name == "y_true":
        return longer[..., 0], y_pred, name
    return y_true, longer[..., 0], name


def adjust_sample_weight(sample_weight: Any, shape: tuple[int, ...], dtype: np.dtype) -> NDArray[Any] | None:
    """``sample_weight`` in ``dtype``, rank-adjusted to per-sample values of ``shape`` (Keras 2's rule).

    Returns None for no weights, else an array that broadcasts to ``shape``; ValueError otherwise.
    """
    if sample_weight is None:
        return None
    given = as_float_array(sample_weight, "sample_weight")
    w = given.astype(dtype, copy=False)
    if w.ndim == 0:
        return w
    if w.ndim == len(shape) + 1:
        if w.shape[-1] != 1:
            raise ValueError(
                f"sample_weight of shape {given.shape} does not match the per-sample loss of shape {shape}: "
                f"its last axis (of length {w.shape[-1]}) must have length 1 to be squeezed"
            )
        w = w[..., 0]
    elif w.ndim + 1 == len(shape):
        w = w[..., np.newaxis]
    try:
        np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {given.shape} does not match the per-sample loss of shape {shape}"
        ) from None
    return w
