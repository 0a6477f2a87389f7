"""swiftsim.layers against keras.layers.Dot (Keras 3), tf_keras.layers.Dot (Keras 2) and tf.GradientTape.

Keras layers compute in their dtype (float32 by default); they are built with dtype="float64" for
float64 inputs. Keras 2 normalises with epsilon 1e-12 on the squared norm, Keras 3 with 1e-7 on the norm
(= 1e-14 squared), so each is compared with its own epsilon. Backward passes are compared with
GradientTape(output_gradients=upstream) and with float64 central differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftsim import layers
from swiftsim._contract import KERAS2_EPSILON as EPS_K2
from swiftsim._contract import KERAS3_EPSILON as EPS_K3
from swiftsim._contract import grad_tol_unit, value_tol
from tests.helpers import eps_of

B = 3

# (shape x, shape y, axes, expected output shape)
DOT_CASES = [
    ((B, 5), (B, 5), 1, (B, 1)),
    ((B, 5), (B, 5), -1, (B, 1)),
    ((B, 4, 6), (B, 2, 6), 2, (B, 4, 2)),
    ((B, 4, 6), (B, 2, 6), -1, (B, 4, 2)),
    ((B, 3, 5), (B, 3, 5), 1, (B, 5, 5)),
    ((B, 4, 6), (B, 6, 2), (2, 1), (B, 4, 2)),
    ((B, 6), (B, 2, 6), (1, 2), (B, 2)),
    ((B, 4, 6), (B, 6), (-1, -1), (B, 4)),
    ((B, 2, 3, 4), (B, 4, 5), (3, 1), (B, 2, 3, 5)),
    ((B, 2, 3, 4), (B, 3, 5, 2), (2, 1), (B, 2, 4, 5, 2)),
    ((B, 3, 4), (B, 5, 3), (-2, 2), (B, 4, 5)),
]
DOT_IDS = [f"{x}.{y}-axes{a}" for x, y, a, _ in DOT_CASES]


def rand(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def keras_dot(module, axes, normalize, dtype):
    return module.layers.Dot(axes=axes, normalize=normalize, dtype=np.dtype(dtype).name)


def tf_forward_backward(tf, fn, inputs, upstream):
    ts = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        for t in ts:
            tape.watch(t)
        out = fn(ts)
    grads = tape.gradient(out, ts, output_gradients=tf.constant(upstream))
    return out.numpy(), [g.numpy() for g in grads]


def dot_tol(dtype, x, y, axes, normalize):
    """Absolute tolerance for a dot product of length K (values and gradients), K·ε·scale."""
    k = x.shape[axes[0]]
    scale = 1.0 if normalize else float(np.abs(x).max() * np.abs(y).max())
    return 16 * k * eps_of(dtype) * max(scale, 1.0) * (4 if normalize else 1)


def resolved(axes, x, y):
    raw = (axes, axes) if isinstance(axes, int) else axes
    return tuple(a % n if a < 0 else a for a, n in zip(raw, (x.ndim, y.ndim), strict=True))


# ---------------------------------------------------------------------------------------------------------
# Dot: forward and backward against both Kerases
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("shape_x,shape_y,axes,out_shape", DOT_CASES, ids=DOT_IDS)
def test_dot_matches_keras(tf, tf_keras, keras3, shape_x, shape_y, axes, out_shape, normalize, dtype):
    x, y = rand(shape_x, 1, dtype), rand(shape_y, 2, dtype)
    upstream = rand(out_shape, 3, dtype)
    tol = dot_tol(dtype, x, y, resolved(axes, x, y), normalize)
    for label, module, eps in (("keras3", keras3, EPS_K3), ("keras2", tf_keras, EPS_K2)):
        layer = layers.Dot(axes, normalize=normalize, epsilon=eps)
        out = layer([x, y])
        dx, dy = layer.backward(upstream)
        want, (want_dx, want_dy) = tf_forward_backward(
            tf, keras_dot(module, axes, normalize, dtype), [x, y], upstream
        )
        assert out.shape == want.shape == out_shape, label
        assert out.dtype == dx.dtype == dy.dtype == dtype
        assert dx.shape == x.shape and dy.shape == y.shape
        np.testing.assert_allclose(out, want, rtol=0, atol=tol, err_msg=f"{label} forward")
        gtol = tol * max(1.0, float(np.abs(upstream).sum(axis=tuple(range(1, upstream.ndim))).max()))
        np.testing.assert_allclose(dx, want_dx, rtol=0, atol=gtol, err_msg=f"{label} dx")
        np.testing.assert_allclose(dy, want_dy, rtol=0, atol=gtol, err_msg=f"{label} dy")


@pytest.mark.parametrize("shape_x,shape_y,axes,out_shape", DOT_CASES, ids=DOT_IDS)
def test_dot_output_shape(keras3, shape_x, shape_y, axes, out_shape):
    layer = layers.Dot(axes)
    assert layer.compute_output_shape([shape_x, shape_y]) == out_shape
    assert tuple(keras3.layers.Dot(axes).compute_output_shape([shape_x, shape_y])) == out_shape
    assert layers.dot([np.ones(shape_x), np.ones(shape_y)], axes).shape == out_shape


@pytest.mark.parametrize("flavour", ["keras2", "keras3"])
def test_dot_normalize_with_tiny_and_zero_rows(tf, tf_keras, keras3, flavour):
    """Norm 3e-7 is clamped by Keras 2 only; norm 2e-8 by both; zero rows give 0 and finite gradients."""
    module, eps = (tf_keras, EPS_K2) if flavour == "keras2" else (keras3, EPS_K3)
    x, y = rand((5, 4), 1, np.float32), rand((5, 4), 2, np.float32)
    x[0] = 0.0
    y[1] = 0.0
    x[2] *= 3e-7 / np.linalg.norm(x[2])
    y[3] *= 2e-8 / np.linalg.norm(y[3])
    upstream = rand((5, 1), 3, np.float32)
    layer = layers.Dot(1, normalize=True, epsilon=eps)
    out = layer([x, y])
    dx, dy = layer.backward(upstream)
    want, (want_dx, want_dy) = tf_forward_backward(
        tf, keras_dot(module, 1, True, np.float32), [x, y], upstream
    )
    np.testing.assert_allclose(out, want, rtol=0, atol=value_tol(np.float32, 4))
    # gradients scale with r = 1/max(|x|, √ε): 16·ε·|u|·r per row
    for got, ref, v in ((dx, want_dx, x), (dy, want_dy, y)):
        r = 1.0 / np.maximum(np.linalg.norm(v.astype(np.float64), axis=1, keepdims=True), np.sqrt(eps))
        tol = grad_tol_unit(np.float32) * np.abs(upstream) * r
        assert np.all(np.abs(got - ref) <= tol), np.abs(got - ref) / tol
    assert np.isfinite(dx).all() and np.isfinite(dy).all()


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize(
    "shape_x,shape_y,axes,out_shape", DOT_CASES[2:6] + DOT_CASES[8:], ids=DOT_IDS[2:6] + DOT_IDS[8:]
)
def test_dot_backward_finite_differences(shape_x, shape_y, axes, out_shape, normalize):
    x, y = rand(shape_x, 4), rand(shape_y, 5)
    upstream = rand(out_shape, 6)
    layer = layers.Dot(axes, normalize=normalize)
    layer([x, y])
    dx, dy = layer.backward(upstream)

    def f(a, b):
        return float(np.sum(upstream * layers.Dot(axes, normalize=normalize)([a, b])))

    h = 1e-6
    for which, (v, g) in enumerate(((x, dx), (y, dy))):
        fd = np.empty_like(v)
        for idx in np.ndindex(v.shape):
            e = np.zeros_like(v)
            e[idx] = h
            args_p = (x + e, y) if which == 0 else (x, y + e)
            args_m = (x - e, y) if which == 0 else (x, y - e)
            fd[idx] = (f(*args_p) - f(*args_m)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=0, atol=1e-7)


def test_dot_upstream_broadcasts_and_is_checked():
    x, y = rand((B, 4, 6), 1), rand((B, 2, 6), 2)
    layer = layers.Dot(2)
    layer([x, y])
    dx, dy = layer.backward(1.0)
    np.testing.assert_allclose(dx, np.broadcast_to(y.sum(axis=1, keepdims=True), x.shape), atol=1e-12)
    np.testing.assert_allclose(dy, np.broadcast_to(x.sum(axis=1, keepdims=True), y.shape), atol=1e-12)
    with pytest.raises(ValueError, match=r"upstream of shape \(3, 5\).*\(3, 4, 2\)"):
        layer.backward(np.ones((3, 5)))


def test_dot_float16_and_int_inputs(keras3):
    x, y = rand((B, 8), 1), rand((B, 8), 2)
    out16 = layers.Dot(1)([x.astype(np.float16), y.astype(np.float16)])
    assert out16.dtype == np.float16
    np.testing.assert_allclose(out16, layers.Dot(1)([x, y]), rtol=5e-3, atol=5e-3)
    xi, yi = np.arange(6).reshape(2, 3), np.arange(6, 12).reshape(2, 3)
    got = layers.Dot(1)([xi, yi])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, keras3.layers.Dot(1)([xi, yi]).numpy())


# ---------------------------------------------------------------------------------------------------------
# Dot: errors (Keras's messages)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape_x,shape_y,axes,message",
    [
        ((B, 5), (B, 5), 0, "Cannot perform batch_dot over axis 0"),
        ((B, 5), (B, 5), (0, 1), "Cannot perform batch_dot over axis 0"),
        ((B, 4, 5), (B, 5), -2, "Cannot perform batch_dot over axis 0"),  # -2 % 2 == 0 for y
        ((5,), (5,), -1, "rank < 2"),
        ((B, 5), (B + 1, 5), 1, "different batch sizes"),
        ((B, 5), (B, 6), 1, r"Incompatible input shapes: axis values 5 \(at axis 1\) != 6"),
        ((B, 4, 5), (B, 4, 6), (2, 2), r"Incompatible input shapes: axis values 5 \(at axis 2\) != 6"),
    ],
)
def test_dot_errors(keras3, shape_x, shape_y, axes, message):
    x, y = np.ones(shape_x, np.float32), np.ones(shape_y, np.float32)
    with pytest.raises(ValueError, match=message):
        layers.Dot(axes)([x, y])
    with pytest.raises(ValueError):  # Keras 3 refuses the same inputs
        keras3.layers.Dot(axes)([x, y])


def test_dot_axis_out_of_range():
    with pytest.raises(np.exceptions.AxisError):
        layers.Dot(3)([np.ones((2, 3)), np.ones((2, 3))])


@pytest.mark.parametrize("inputs", [[np.ones((2, 3))], [np.ones((2, 3))] * 3, np.ones((2, 2, 3))])
def test_dot_needs_exactly_two_inputs(inputs):
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Dot(1)(inputs)


@pytest.mark.parametrize("axes,error", [((1, 2, 3), ValueError), ((1, 1.5), ValueError), ("1", TypeError)])
def test_dot_bad_axes(keras3, axes, error):
    with pytest.raises(error, match="axes"):
        layers.Dot(axes)
    with pytest.raises(error):
        keras3.layers.Dot(axes)


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="call the layer"):
        layers.Dot(1).backward(np.ones((2, 1)))
    with pytest.raises(RuntimeError, match="call the layer"):
        layers.CosineSimilarity().backward(np.ones(2))


def test_dot_config_round_trip(keras3):
    layer = layers.Dot((2, 1), normalize=True, epsilon=1e-14)
    config = layer.get_config()
    assert layers.Dot.from_config(config).get_config() == config
    k3 = keras3.layers.Dot((2, 1), normalize=True).get_config()
    assert {k: k3[k] for k in ("axes", "normalize")} == {"axes": (2, 1), "normalize": True}


# ---------------------------------------------------------------------------------------------------------
# CosineSimilarity layer
# ---------------------------------------------------------------------------------------------------------

COS_CASES = {
    "2d": ((6, 5), (6, 5), -1),
    "3d_axis1": ((3, 4, 5), (3, 4, 5), 1),
    "broadcast_a": ((1, 5), (6, 5), -1),
    "broadcast_both": ((3, 1, 5), (1, 4, 5), -1),
    "rank_padded": ((5,), (4, 5), -1),
}


def plant_specials(a, b, axis):
    am, bm = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    if am.reshape(-1, am.shape[-1]).shape[0] >= 2 and bm.reshape(-1, bm.shape[-1]).shape[0] >= 3:
        am[(0,) * (am.ndim - 1)] = 0.0  # zero vector
        bm[np.unravel_index(1, bm.shape[:-1])] *= 3e-7 / np.linalg.norm(
            bm[np.unravel_index(1, bm.shape[:-1])]
        )
        bm[np.unravel_index(2, bm.shape[:-1])] = 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(COS_CASES))
def test_cosine_layer_matches_tf(tf, tf_keras, case, dtype):
    shape_a, shape_b, axis = COS_CASES[case]
    a, b = rand(shape_a, 1), rand(shape_b, 2)
    plant_specials(a, b, axis)
    a, b = a.astype(dtype), b.astype(dtype)
    layer = layers.CosineSimilarity(axis=axis)
    out = layer([a, b])
    upstream = rand(out.shape, 3, dtype)
    da, db = layer.backward(upstream)

    def fn(ts):
        return -tf_keras.losses.cosine_similarity(ts[0], ts[1], axis=axis)

    want, (want_da, want_db) = tf_forward_backward(tf, fn, [a, b], upstream)
    assert out.shape == want.shape and out.dtype == dtype
    assert da.shape == a.shape and db.shape == b.shape and da.dtype == db.dtype == dtype
    np.testing.assert_allclose(out, want, rtol=0, atol=value_tol(dtype, a.shape[axis]))
    # each input vector receives Σ|u| over the outputs it took part in, times r = 1/max(|x|, √ε)
    for got, ref, v in ((da, want_da, a), (db, want_db, b)):
        nd = max(a.ndim, b.ndim)
        v_pad = v.reshape((1,) * (nd - v.ndim) + v.shape)
        ax = axis % nd
        r = 1.0 / np.maximum(
            np.linalg.norm(v_pad.astype(np.float64), axis=ax, keepdims=True), np.sqrt(EPS_K2)
        )
        u_full = np.broadcast_to(np.expand_dims(np.abs(upstream), ax), np.broadcast_shapes(a.shape, b.shape))
        broadcast_axes = tuple(
            i for i in range(nd) if v_pad.shape[i] == 1 and u_full.shape[i] != 1 and i != ax
        )
        u_sum = u_full.sum(axis=broadcast_axes, keepdims=True) if broadcast_axes else u_full
        tol = (grad_tol_unit(dtype) * np.take(u_sum, [0], axis=ax) * r).reshape(np.shape(r)) + 1e-30
        err = np.abs(got - ref).reshape(v_pad.shape)
        assert np.all(err <= tol), (err / tol).max()


@pytest.mark.parametrize("case", list(COS_CASES))
def test_cosine_layer_backward_finite_differences(case):
    shape_a, shape_b, axis = COS_CASES[case]
    a, b = rand(shape_a, 4), rand(shape_b, 5)
    layer = layers.CosineSimilarity(axis=axis)
    out = layer([a, b])
    upstream = rand(out.shape, 6)
    da, db = layer.backward(upstream)

    def f(x, y):
        return float(np.sum(upstream * layers.CosineSimilarity(axis=axis)([x, y])))

    h = 1e-6
    for which, (v, g) in enumerate(((a, da), (b, db))):
        fd = np.empty_like(v)
        for idx in np.ndindex(v.shape):
            e = np.zeros_like(v)
            e[idx] = h
            fd[idx] = (
                f(*((a + e, b) if which == 0 else (a, b + e)))
                - f(*((a - e, b) if which == 0 else (a, b - e)))
            ) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=0, atol=1e-8)


def test_cosine_layer_keeps_last_call_and_checks_inputs():
    layer = layers.CosineSimilarity()
    a1, b1 = rand((2, 3), 1), rand((2, 3), 2)
    a2, b2 = rand((4, 3), 3), rand((4, 3), 4)
    layer([a1, b1])
    layer([a2, b2])
    da, db = layer.backward(np.ones(4))
    assert da.shape == (4, 3) and db.shape == (4, 3)
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layer([a1])
    with pytest.raises(ValueError, match="broadcast"):
        layer.backward(np.ones(5))
    config = layers.CosineSimilarity(axis=1, epsilon=1e-14).get_config()
    assert config == {"axis": 1, "epsilon": 1e-14}
    assert layers.CosineSimilarity.from_config(config).get_config() == config


@pytest.mark.parametrize("flavour", ["keras2", "keras3"])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_call_is_keras_call(tf, tf_keras, keras3, normalize, flavour):
    """Keras layers have ``call(inputs)`` beside ``__call__``; both give Keras's output here."""
    module, eps = (tf_keras, EPS_K2) if flavour == "keras2" else (keras3, EPS_K3)
    x, y = rand((B, 4, 6), 1, np.float32), rand((B, 2, 6), 2, np.float32)
    ours = layers.Dot(axes=2, normalize=normalize, epsilon=eps)
    got = ours.call([x, y])
    want = np.asarray(module.layers.Dot(axes=2, normalize=normalize).call([tf.constant(x), tf.constant(y)]))
    tol = value_tol(np.float32) if normalize else dot_tol(np.float32, x, y, (2, 2), normalize)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    np.testing.assert_array_equal(got, ours([x, y]))
    dx, dy = ours.backward(np.ones(got.shape))  # call keeps the inputs for backward, as __call__ does
    assert dx.shape == x.shape and dy.shape == y.shape


def test_cosine_layer_call_is_its_call():
    a, b = rand((4, 3), 1), rand((4, 3), 2)
    layer = layers.CosineSimilarity()
    got = layer.call([a, b])
    np.testing.assert_array_equal(got, layers.CosineSimilarity()([a, b]))
    da, db = layer.backward(np.ones(4))  # call keeps the inputs for backward, as __call__ does
    assert da.shape == a.shape and db.shape == b.shape
