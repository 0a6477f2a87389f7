"""Framework tensors in through DLPack: objects exposing ``__dlpack__`` on the CPU reach the kernels
without a copy, bfloat16 included (DLPack's kDLBfloat, which NumPy's own ``from_dlpack`` refuses);
the producer's deleter runs exactly once; a tensor on another device is refused with a message that
says to move it to the CPU."""

from __future__ import annotations

import ctypes
import gc
import sys

import numpy as np
import pytest

from swiftsim import _swiftsim, _validation, losses, ops
from tests.helpers import require

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)


class Exporter:
    """The smallest DLPack producer: NumPy's own ``__dlpack__`` behind another type."""

    def __init__(self, a: np.ndarray, device: tuple[int, int] | None = None):
        self.a = a
        self.device = device

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.device or self.a.__dlpack_device__()


def test_numpy_backed_tensors_are_viewed_and_released():
    a = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    b = a[::-1].copy()
    view = _validation.as_array(Exporter(a), "x")
    assert view.ctypes.data == a.ctypes.data and not view.flags.writeable
    del view
    before = sys.getrefcount(a)
    for _ in range(200):
        got = ops.cosine_similarity(Exporter(a), Exporter(b))
    gc.collect()
    assert sys.getrefcount(a) == before  # every view released its tensor, none twice
    np.testing.assert_array_equal(got, ops.cosine_similarity(a, b))
    strided = np.asfortranarray(a)[:, ::2]
    np.testing.assert_array_equal(ops.l2_normalize(Exporter(strided)), ops.l2_normalize(strided))


@pytest.mark.parametrize("device", [(2, 0), (13, 1)], ids=["cuda", "oneapi"])
def test_other_devices_are_refused(device):
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"x1 is a tensor on DLPack device type \d+ .*move it to the CPU"):
        ops.cosine_similarity(Exporter(a, device), a)
    with pytest.raises(ValueError, match="corpus is a tensor on DLPack device"):
        ops.top_k(a, Exporter(a, device), k=1)
    with pytest.raises(ValueError, match="DLPack device"):
        ops.merge_top_k([(Exporter(a, device), np.zeros((3, 4), np.int64))], k=1)


# ---------------------------------------------------------------------------------------------------------
# The capsule itself, built with ctypes: a counting deleter
# ---------------------------------------------------------------------------------------------------------


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    pass


DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DELETER)]

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_NAME = b"dltensor"


class Producer:
    """A DLManagedTensor over `data` (kept alive here) whose deleter counts its calls."""

    def __init__(self, data: np.ndarray, code: int, bits: int, *, device=1, lanes=1, strides=None, offset=0):
        self.data, self.calls = data, 0
        shape = data.shape if strides is None else strides[0]
        self.shape = (ctypes.c_int64 * max(1, len(shape)))(*shape)
        self.strides = None if strides is None else (ctypes.c_int64 * len(strides[1]))(*strides[1])
        self.deleter = DELETER(self._delete)
        t = DLTensor(
            data.ctypes.data, DLDevice(device, 0), len(shape), DLDataType(code, bits, lanes), self.shape,
            self.strides, offset,
        )  # fmt: skip
        self.managed = DLManagedTensor(t, None, self.deleter)
        self.capsule = _capsule_new(ctypes.addressof(self.managed), _NAME, None)

    def _delete(self, _ptr):
        self.calls += 1


def test_bfloat16_capsule_gives_a_view_that_deletes_once():
    src = np.arange(15, dtype=np.float32).reshape(3, 5).astype(BF16)
    p = Producer(src, code=4, bits=16)
    arr = _swiftsim.from_dlpack(p.capsule)
    assert arr.dtype == BF16 and arr.shape == (3, 5) and arr.ctypes.data == src.ctypes.data
    np.testing.assert_array_equal(arr.astype(np.float32), src.astype(np.float32))
    assert p.calls == 0
    with pytest.raises(TypeError, match="unused DLPack capsule"):  # consumed: renamed "used_dltensor"
        _swiftsim.from_dlpack(p.capsule)
    del arr
    gc.collect()
    assert p.calls == 1


def test_strides_and_byte_offset():
    src = np.arange(24, dtype=np.float32)
    # a (3, 4) view in elements: strides (1, 3), starting 2 elements in (8 bytes)
    p = Producer(src, code=2, bits=32, strides=((3, 4), (1, 3)), offset=8)
    arr = _swiftsim.from_dlpack(p.capsule)
    np.testing.assert_array_equal(arr, np.lib.stride_tricks.as_strided(src[2:], (3, 4), (4, 12)))
    del arr
    gc.collect()
    assert p.calls == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(code=2, bits=32, device=2), ValueError, "not the CPU: move it to the CPU"),
        (dict(code=2, bits=32, lanes=2), TypeError, "unsupported DLPack dtype"),
        (dict(code=5, bits=64), TypeError, "unsupported DLPack dtype"),
        (dict(code=4, bits=32), TypeError, "unsupported DLPack dtype"),
        (dict(code=2, bits=32, strides=((-1, 4), (4, 1))), ValueError, "negative size"),
    ],
    ids=["device", "lanes", "complex", "bfloat32", "negative-size"],
)
def test_bad_capsules_are_refused_and_left_to_their_producer(kwargs, error, match):
    p = Producer(np.zeros((4, 4), np.float32), **kwargs)
    with pytest.raises(error, match=match):
        _swiftsim.from_dlpack(p.capsule)
    gc.collect()
    assert p.calls == 0  # not consumed: the producer frees it
    assert ctypes.pythonapi.PyCapsule_IsValid(ctypes.py_object(p.capsule), _NAME) == 1


def test_not_a_capsule():
    with pytest.raises(TypeError, match="DLPack capsule"):
        _swiftsim.from_dlpack(np.zeros(3))


# ---------------------------------------------------------------------------------------------------------
# JAX
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jnp():
    jax = require("jax")  # skipped without JAX, except under `make test`/CI, where it fails
    jax.config.update("jax_platforms", "cpu")
    return require("jax.numpy")


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_jax_arrays_go_in_without_a_copy(jnp, dtype):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((300, 64)), dtype=dtype)
    y = jnp.asarray(rng.standard_normal((300, 64)), dtype=dtype)
    want = np.dtype(BF16 if dtype == "bfloat16" else np.float32)
    view = _validation.as_array(x, "x")
    assert view.dtype == want and view.ctypes.data == x.unsafe_buffer_pointer()
    xn, yn = np.asarray(x), np.asarray(y)  # the same values, through NumPy
    assert xn.dtype == want

    def same(got, ref):
        got, ref = np.asarray(got), np.asarray(ref)
        assert got.dtype == ref.dtype == want
        assert np.array_equal(got.view(np.uint8), ref.view(np.uint8))

    same(ops.cosine_similarity(x, y), ops.cosine_similarity(xn, yn))
    same(ops.l2_normalize(x), ops.l2_normalize(xn))
    for g, r in zip(ops.cosine_similarity_grad(x, y), ops.cosine_similarity_grad(xn, yn), strict=True):
        same(g, r)
    same(ops.pairwise_cosine_similarity(x, y), ops.pairwise_cosine_similarity(xn, yn))
    s, i = ops.top_k(x, y, k=5, exclude=[np.array([0])] * 300)
    s2, i2 = ops.top_k(xn, yn, k=5, exclude=[np.array([0])] * 300)
    same(s, s2)
    assert np.array_equal(i, i2)
    ms, mi = ops.merge_top_k([(jnp.asarray(s), jnp.asarray(i))], k=3)
    same(ms, s2[:, :3])
    r, c, sc = ops.pairs_above(x, threshold=0.3)
    r2, c2, sc2 = ops.pairs_above(xn, threshold=0.3)
    assert np.array_equal(r, r2) and np.array_equal(c, c2)
    same(sc, sc2)
    same(losses.CosineSimilarity(reduction="none")(x, y), losses.CosineSimilarity(reduction="none")(xn, yn))


# ---------------------------------------------------------------------------------------------------------
# TensorFlow
# ---------------------------------------------------------------------------------------------------------


def test_tensorflow_tensors_go_through_dlpack_and_other_dtypes_do_not(tf):
    x = np.random.default_rng(2).standard_normal((20, 16)).astype(BF16)
    t = tf.constant(x)
    view = _validation.as_array(t, "x")
    assert view.dtype == BF16 and np.array_equal(view.view(np.uint16), x.view(np.uint16))
    assert ops.cosine_similarity(t, t).dtype == BF16
    # a dtype DLPack cannot carry is never asked for (TensorFlow aborts the process on a string tensor)
    with pytest.raises(TypeError, match="x1 has dtype"):
        ops.cosine_similarity(tf.constant([["a", "b"]]), np.ones((1, 2)))
    with pytest.raises(TypeError, match="complex"):
        ops.cosine_similarity(tf.constant([[1j, 2]]), np.ones((1, 2)))
