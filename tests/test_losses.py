"""swiftsim.losses against Keras 2 (tf_keras), Keras 3 and a float64 reference written from the contract.

Keras 2 is compared with epsilon=1e-12 and Keras 3 with epsilon=1e-14 wherever each accepts the case
(docs/keras.md): Keras 2 has no "mean", None or "mean_with_sample_weight"; Keras 3 has no "auto",
refuses a (B,) weight on (B, T) values and returns (B, 1) for "none" with a (B, 1) weight on (B,) values.
Where they differ, the contract's flavour (Keras 2 rank rules, empty batch → 0.0, output dtype = input
dtype) is what is tested. The inputs contain a zero prediction, a zero target, a prediction of norm 3e-7
(clamped by Keras 2, not by Keras 3), one of norm 2e-8 (clamped by both) and a target of norm 5e-7.

Tolerances (docs/contract.md): values swiftsim._contract.value_tol · Σ|u|, gradients 16·ε_dtype·|u|·r per row,
with u = w·scale the weight the reduction gives each per-sample value and r = 1/max(|y_pred|, √ε).
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftsim
from swiftsim import losses, ops
from swiftsim._contract import KERAS2_EPSILON as EPS_K2
from swiftsim._contract import KERAS3_EPSILON as EPS_K3
from swiftsim._contract import grad_tol_unit, value_tol

B, T, D = 6, 3, 5
K2_REDUCTIONS = {"sum_over_batch_size", "auto", "sum", "none"}
K3_REDUCTIONS = {"sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None}
ALL_REDUCTIONS = ["sum_over_batch_size", "auto", "mean", "sum", "mean_with_sample_weight", "none", None]
MEANS = {"sum_over_batch_size", "auto", "mean"}

# input layout -> (shape, axis); the per-sample values then have shape S
LAYOUTS = {"2d": ((B, D), -1), "3d": ((B, T, D), -1), "3d_axis1": ((B, T, D), 1)}
# weight kinds: none, scalar, (B,), (B, 1), the values' shape S, S + (1,) (squeezed)
WEIGHTS = {"2d": ["none", "scalar", "B", "B1"], "3d": ["none", "scalar", "B", "B1", "S", "S1"]}
WEIGHTS["3d_axis1"] = WEIGHTS["3d"]
CASES = [(layout, w) for layout in LAYOUTS for w in WEIGHTS[layout]]


# ---------------------------------------------------------------------------------------------------------
# Inputs and the float64 reference
# ---------------------------------------------------------------------------------------------------------


def make_inputs(layout: str, dtype, seed: int = 0):
    """(y_true, y_pred, axis) with the special vectors (zero, tiny) planted along the reduced axis."""
    shape, axis = LAYOUTS[layout]
    rng = np.random.default_rng(seed)
    yt, yp = rng.normal(size=shape), rng.normal(size=shape)
    tm, pm = np.moveaxis(yt, axis, -1), np.moveaxis(yp, axis, -1)  # views: writes land in yt, yp
    outer = tm.shape[:-1]
    at = [np.unravel_index(k, outer) for k in range(5)]
    pm[at[0]] = 0.0
    tm[at[1]] = 0.0
    pm[at[2]] *= 3e-7 / np.linalg.norm(pm[at[2]])
    pm[at[3]] *= 2e-8 / np.linalg.norm(pm[at[3]])
    tm[at[4]] *= 5e-7 / np.linalg.norm(tm[at[4]])
    return yt.astype(dtype), yp.astype(dtype), axis


def make_weight(kind: str, values_shape: tuple, seed: int = 1):
    """(sample_weight as given, the same broadcast to the values in float64, Σ of the given weights)."""
    rng = np.random.default_rng(seed)
    b = values_shape[0]
    if kind == "none":
        return None, np.ones(values_shape), None
    if kind == "scalar":
        return 0.7, np.full(values_shape, 0.7), 0.7
    if kind in ("B", "B1"):
        w = rng.uniform(0.2, 2.0, size=b)
        w[2] = 0.0
        given = w if kind == "B" else w[:, None]
        return given, np.broadcast_to(w.reshape((b,) + (1,) * (len(values_shape) - 1)), values_shape), w.sum()
    w = rng.uniform(0.2, 2.0, size=values_shape)
    w[0, 0] = 0.0
    return (w if kind == "S" else w[..., None]), w, w.sum()


def ref_cos(yt, yp, axis, eps):
    """Positive cosine per sample, float64, each input normalised with its own shape."""
    t, p = np.asarray(yt, np.float64), np.asarray(yp, np.float64)
    rt = 1.0 / np.sqrt(np.maximum(np.sum(t * t, axis=axis, keepdims=True), eps))
    rp = 1.0 / np.sqrt(np.maximum(np.sum(p * p, axis=axis, keepdims=True), eps))
    return np.sum(t * rt * p * rp, axis=axis)


def ref_dcos_dpred(yt, yp, axis, eps):
    """∂c/∂y_pred per element (same shape as the broadcast inputs), float64: r_p·(t̂ − [s_p ≥ ε]·c·p̂)."""
    t, p = np.asarray(yt, np.float64), np.asarray(yp, np.float64)
    st = np.sum(t * t, axis=axis, keepdims=True)
    sp = np.sum(p * p, axis=axis, keepdims=True)
    rt, rp = 1.0 / np.sqrt(np.maximum(st, eps)), 1.0 / np.sqrt(np.maximum(sp, eps))
    c = np.sum(t * rt * p * rp, axis=axis, keepdims=True)
    return rp * (t * rt - (sp >= eps) * c * p * rp)


def ref_scale(reduction, n: int, sum_w):
    if reduction in MEANS or (reduction == "mean_with_sample_weight" and sum_w is None):
        return 1.0 / n if n else 0.0
    if reduction == "mean_with_sample_weight":
        return 1.0 / sum_w if sum_w else 0.0
    return 1.0


def ref_loss(yt, yp, axis, eps, w_b, sum_w, reduction):
    weighted = -ref_cos(yt, yp, axis, eps) * w_b
    if reduction in (None, "none"):
        return weighted
    return weighted.sum() * ref_scale(reduction, weighted.size, sum_w)


def r_pred(yp, axis, eps):
    """r = 1/max(|y_pred|, √ε) per vector, broadcast along ``axis``."""
    norm = np.sqrt(np.sum(np.asarray(yp, np.float64) ** 2, axis=axis, keepdims=True))
    return 1.0 / np.maximum(norm, np.sqrt(eps))


def assert_within(err, tol, err_msg=""):
    """Every |error| strictly below its tolerance (tol broadcast to err's shape)."""
    err = np.asarray(err, np.float64)
    np.testing.assert_array_less(err, np.broadcast_to(tol, err.shape), err_msg=err_msg)


# ---------------------------------------------------------------------------------------------------------
# Keras references
# ---------------------------------------------------------------------------------------------------------


def k2_loss(tf_keras, reduction, axis):
    return tf_keras.losses.CosineSimilarity(axis=axis, reduction=reduction)


def k3_loss(keras3, reduction, axis, dtype):
    return keras3.losses.CosineSimilarity(axis=axis, reduction=reduction, dtype=np.dtype(dtype).name)


def k3_accepts(reduction, layout, kind) -> bool:
    if reduction not in K3_REDUCTIONS:
        return False
    if kind == "B" and layout != "2d":  # Keras 3 does not expand a (B,) weight on (B, T) values
        return False
    if kind == "B1" and layout == "2d" and reduction in (None, "none"):  # Keras 3 returns (B, 1)
        return False
    return True


def as_weight(sw, dtype):
    """The weight for Keras: tf.convert_to_tensor would make a Python float a float32 (0.7 → 0.69999999)."""
    return None if sw is None else np.asarray(sw, dtype)


def tf_value_and_grad(tf, loss_obj, yt, yp, sw):
    yp_t = tf.constant(yp)
    with tf.GradientTape() as tape:
        tape.watch(yp_t)
        value = loss_obj(
            tf.constant(yt), yp_t, sample_weight=None if sw is None else tf.constant(sw, yp.dtype)
        )
    return value.numpy(), tape.gradient(value, yp_t).numpy()


def flavours(tf_keras, keras3, reduction, layout, kind, axis, dtype):
    """(label, epsilon, Keras loss) for every Keras that accepts this case."""
    out = []
    if reduction in K2_REDUCTIONS:
        out.append(("keras2", EPS_K2, k2_loss(tf_keras, reduction, axis)))
    if k3_accepts(reduction, layout, kind):
        out.append(("keras3", EPS_K3, k3_loss(keras3, reduction, axis, dtype)))
    return out


# ---------------------------------------------------------------------------------------------------------
# Values and gradients: every reduction × weight shape × dtype × layout
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ALL_REDUCTIONS)
@pytest.mark.parametrize("layout,kind", CASES)
def test_loss_value_matches_keras(tf, tf_keras, keras3, layout, kind, reduction, dtype):
    yt, yp, axis = make_inputs(layout, dtype)
    values_shape = ref_cos(yt, yp, axis, EPS_K2).shape
    sw, w_b, sum_w = make_weight(kind, values_shape)
    scale = ref_scale(reduction, int(np.prod(values_shape)), sum_w)
    for label, eps, keras_loss in flavours(tf_keras, keras3, reduction, layout, kind, axis, dtype):
        ours = losses.CosineSimilarity(axis=axis, reduction=reduction, epsilon=eps)
        got = ours(yt, yp, sample_weight=sw)
        want = keras_loss(yt, yp, sample_weight=as_weight(sw, dtype)).numpy()
        ref = ref_loss(yt, yp, axis, eps, w_b, sum_w, reduction)
        assert np.asarray(got).dtype == dtype, label
        assert np.shape(got) == np.shape(ref) == np.shape(want), label
        if reduction in (None, "none"):
            tol = value_tol(dtype, D) * np.abs(w_b) + 1e-30
        else:
            tol = value_tol(dtype, D) * np.abs(w_b * scale).sum() + 1e-30
        assert_within(np.abs(got - want), tol, err_msg=f"{label} vs swiftsim")
        assert_within(np.abs(got - ref), tol, err_msg=f"float64 reference ({label} eps)")
    if reduction == "mean_with_sample_weight" and kind == "B" and layout != "2d":
        # no Keras computes this case: only the float64 reference of the contract applies
        got = losses.CosineSimilarity(axis=axis, reduction=reduction)(yt, yp, sample_weight=sw)
        ref = ref_loss(yt, yp, axis, EPS_K2, w_b, sum_w, reduction)
        assert abs(got - ref) < value_tol(dtype, D) * np.abs(w_b * scale).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ALL_REDUCTIONS)
@pytest.mark.parametrize("layout,kind", CASES)
def test_loss_gradient_matches_gradient_tape(tf, tf_keras, keras3, layout, kind, reduction, dtype):
    yt, yp, axis = make_inputs(layout, dtype)
    values_shape = ref_cos(yt, yp, axis, EPS_K2).shape
    sw, w_b, sum_w = make_weight(kind, values_shape)
    u = w_b * ref_scale(reduction, int(np.prod(values_shape)), sum_w)  # weight of each per-sample value
    cases = flavours(tf_keras, keras3, reduction, layout, kind, axis, dtype)
    if not cases:  # mean_with_sample_weight with a (B,) weight on (B, T) values: the closed form only
        cases = [("float64 reference", EPS_K2, None)]
    for label, eps, keras_loss in cases:
        ours = losses.CosineSimilarity(axis=axis, reduction=reduction, epsilon=eps)
        value, grad = ours.value_and_gradient(yt, yp, sample_weight=sw)
        assert grad.shape == yp.shape and grad.dtype == dtype
        tol = grad_tol_unit(dtype) * np.expand_dims(np.abs(u), axis) * r_pred(yp, axis, eps) + 1e-30
        ref = -np.expand_dims(u, axis) * ref_dcos_dpred(yt, yp, axis, eps)
        assert_within(np.abs(grad - ref), tol, err_msg=f"closed form ({label} eps)")
        if keras_loss is None:
            continue
        want_value, want_grad = tf_value_and_grad(tf, keras_loss, yt, yp, sw)
        assert_within(np.abs(grad - want_grad), tol, err_msg=f"{label} GradientTape")
        vtol = value_tol(dtype, D) * (np.abs(u) if reduction in (None, "none") else np.abs(u).sum()) + 1e-30
        assert_within(np.abs(value - want_value), vtol, err_msg=f"{label} value")
        np.testing.assert_array_equal(ours.gradient(yt, yp, sample_weight=sw), grad)


def test_value_and_gradient_is_one_fused_kernel_call(monkeypatch):
    """The reduction's scale goes into the upstream of ONE cosine_value_and_grad call, need=(False, True)."""
    calls = []
    real = ops.cosine_value_and_grad

    def spy(x1, x2, upstream=None, axis=-1, epsilon=1e-12, *, need=(True, True), out=(None, None)):
        calls.append((np.shape(x1), np.shape(x2), np.shape(upstream), need))
        return real(x1, x2, upstream, axis, epsilon, need=need, out=out)

    monkeypatch.setattr(ops, "cosine_value_and_grad", spy)
    yt, yp, axis = make_inputs("3d", np.float64)
    w = np.linspace(0.5, 1.5, B)
    loss = losses.CosineSimilarity(reduction="mean_with_sample_weight")
    value, grad = loss.value_and_gradient(yt, yp, sample_weight=w)
    assert len(calls) == 1 and calls[0][3] == (False, True)
    assert calls[0][2] in ((B, 1), (B, T))  # the per-sample weights, not an (N, D) array
    ref = ref_loss(
        yt, yp, axis, EPS_K2, np.broadcast_to(w[:, None], (B, T)), w.sum(), "mean_with_sample_weight"
    )
    assert abs(value - ref) < 1e-12


# ---------------------------------------------------------------------------------------------------------
# Where Keras 2 and Keras 3 differ: the contract's flavour
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_batch_reduces_to_zero(tf_keras, reduction, dtype):
    yt, yp = np.zeros((0, D), dtype), np.zeros((0, D), dtype)
    loss = losses.CosineSimilarity(reduction=reduction)
    for sw in (None, np.zeros(0), 2.0):
        value, grad = loss.value_and_gradient(yt, yp, sample_weight=sw)
        assert value == 0.0 and np.asarray(value).dtype == dtype and np.ndim(value) == 0
        assert grad.shape == (0, D) and grad.dtype == dtype
        assert loss(yt, yp, sample_weight=sw) == 0.0
    if reduction in K2_REDUCTIONS:
        assert float(tf_keras.losses.CosineSimilarity(reduction=reduction)(yt, yp)) == 0.0


def test_empty_batch_none_is_empty(tf_keras):
    yt = np.zeros((0, D), np.float32)
    got = losses.CosineSimilarity(reduction="none")(yt, yt)
    assert got.shape == (0,) == tuple(tf_keras.losses.CosineSimilarity(reduction="none")(yt, yt).shape)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_output_dtype_follows_input(dtype):
    yt, yp, _ = make_inputs("2d", np.float64)
    yt, yp = yt.astype(dtype), yp.astype(dtype)
    for reduction in ALL_REDUCTIONS:
        loss = losses.CosineSimilarity(reduction=reduction)
        assert np.asarray(loss(yt, yp)).dtype == dtype
        assert loss.gradient(yt, yp).dtype == dtype
    assert losses.cosine_similarity(yt, yp).dtype == dtype


def test_int_inputs_compute_in_float32(tf_keras):
    yt = np.array([[1, 2, 3], [0, 0, 0], [4, -1, 2]])
    yp = np.array([[1, 0, 0], [1, 1, 1], [4, -1, 2]])
    got = losses.CosineSimilarity(reduction="none")(yt, yp)
    assert got.dtype == np.float32
    want = tf_keras.losses.cosine_similarity(yt.astype(np.float32), yp.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, want, atol=value_tol(np.float32, 3))


def test_dtype_float32_casts_like_keras3(keras3):
    yt, yp, _ = make_inputs("3d", np.float64)
    sw = np.linspace(0.1, 1.0, B)[:, None]
    ours = losses.CosineSimilarity(dtype="float32", epsilon=EPS_K3)
    got = ours(yt, yp, sample_weight=sw)
    want = keras3.losses.CosineSimilarity()(yt, yp, sample_weight=sw)  # Keras 3 default: float32
    assert np.asarray(got).dtype == np.float32 and want.dtype == "float32"
    assert abs(got - want.numpy()) < value_tol(np.float32, D)
    assert ours.gradient(yt, yp, sample_weight=sw).dtype == np.float32


# dtype= as Keras accepts it: names, TensorFlow dtypes, dtype policies; bfloat16 returned as bfloat16
KERAS_DTYPES = [
    "tf.float32",
    "tf.float64",
    "tf.bfloat16",
    "bfloat16",
    "mixed_bfloat16",
    "mixed_float16",
    "policy",
]


def keras_dtype(spec: str, tf, keras3):
    """The ``dtype=`` argument a Keras user writes, from its test id."""
    if spec.startswith("tf."):
        return getattr(tf, spec[3:])
    if spec == "policy":
        return keras3.DTypePolicy("float64")
    return spec


def result_tol(name: str, d: int) -> float:
    """Both sides' error: Keras computes in ``name``, swiftsim rounds a float32 result to it."""
    if name == "bfloat16":
        return 4 * 2.0**-8
    return 2 * value_tol(name, d)


@pytest.mark.parametrize("spec", KERAS_DTYPES)
def test_dtype_as_keras_accepts_it(tf, keras3, spec):
    dtype = keras_dtype(spec, tf, keras3)
    rng = np.random.default_rng(3)  # no zero vectors: Keras gives NaN for them in float16 (a divergence)
    yt, yp = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, D))
    sw = np.linspace(0.1, 1.0, B)[:, None]
    theirs = keras3.losses.CosineSimilarity(dtype=dtype)(yt, yp, sample_weight=sw)
    ours = losses.CosineSimilarity(dtype=dtype, epsilon=EPS_K3)
    got = ours(yt, yp, sample_weight=sw)
    assert got.dtype.name == theirs.dtype.name
    assert abs(float(got) - float(theirs)) < result_tol(got.dtype.name, D)
    assert ours.get_config()["dtype"] == got.dtype.name
    assert losses.CosineSimilarity.from_config(ours.get_config()).dtype == ours.dtype
    value, grad = ours.value_and_gradient(yt, yp, sample_weight=sw)
    assert value.dtype == got.dtype and grad.dtype == got.dtype and grad.shape == yp.shape
    out = np.zeros(yp.shape, got.dtype)
    assert ours.gradient(yt, yp, sample_weight=sw, out=out) is out
    np.testing.assert_array_equal(out, grad)
    values = losses.CosineSimilarity(reduction="none", dtype=dtype)(yt, yp)
    assert values.dtype == got.dtype and values.shape == (B, T)


def test_bfloat16_loss_is_the_rounded_float32_loss():
    """bfloat16 inputs are rounded as Keras rounds them, then computed in float32: within one bfloat16 ulp."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    yt, yp, _ = make_inputs("2d", np.float64)
    bf = np.dtype(ml_dtypes.bfloat16)
    got = losses.CosineSimilarity(reduction="none", dtype="bfloat16")(yt, yp)
    ref = -ref_cos(yt.astype(bf), yp.astype(bf), -1, EPS_K2)
    eps = float(ml_dtypes.finfo(bf).eps)
    assert_within(np.abs(got.astype(np.float64) - ref), eps * np.abs(ref) + value_tol(np.float32))


@pytest.mark.parametrize("bad", ["int32", "float8_e4m3fn", "complex64", "mixed_int8", object()], ids=repr)
def test_dtype_refuses_non_float(bad):
    with pytest.raises(TypeError, match="dtype"):
        losses.CosineSimilarity(dtype=bad)


def test_none_with_b1_weight_keeps_keras2_shape(tf_keras, keras3):
    yt, yp, _ = make_inputs("2d", np.float32)
    sw = np.linspace(0.5, 1.5, B)[:, None]
    got = losses.CosineSimilarity(reduction="none")(yt, yp, sample_weight=sw)
    k2 = tf_keras.losses.CosineSimilarity(reduction="none")(yt, yp, sample_weight=sw).numpy()
    k3 = keras3.losses.CosineSimilarity(reduction="none")(yt, yp, sample_weight=sw).numpy()
    assert got.shape == k2.shape == (B,) and k3.shape == (B, 1)
    np.testing.assert_allclose(got, k2, atol=value_tol(np.float32, D))


@pytest.mark.parametrize("which", ["pred", "true"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_broadcast_inputs_against_gradient_tape(tf, tf_keras, which, reduction):
    """A (1, D) input against a (B, D) one: the gradient of a broadcast y_pred is summed back."""
    rng = np.random.default_rng(3)
    yt, yp = rng.normal(size=(B, D)), rng.normal(size=(B, D))
    if which == "pred":
        yp = yp[:1]
    else:
        yt = yt[:1]
    sw = np.linspace(0.5, 1.5, B)
    ours = losses.CosineSimilarity(reduction=reduction)
    value, grad = ours.value_and_gradient(yt, yp, sample_weight=sw)
    want_value, want_grad = tf_value_and_grad(tf, k2_loss(tf_keras, reduction, -1), yt, yp, sw)
    assert grad.shape == yp.shape == want_grad.shape
    np.testing.assert_allclose(value, want_value, rtol=0, atol=1e-12 * B)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=grad_tol_unit(np.float64) * B * 10)


def test_nan_row_stays_in_its_row(tf, tf_keras):
    yt, yp, _ = make_inputs("2d", np.float32)
    yp[1, 2] = np.nan
    got = losses.CosineSimilarity(reduction="none")(yt, yp)
    assert np.isnan(got[1]) and np.isfinite(np.delete(got, 1)).all()
    _, grad = losses.CosineSimilarity().value_and_gradient(yt, yp)
    _, want = tf_value_and_grad(tf, k2_loss(tf_keras, "sum_over_batch_size", -1), yt, yp, None)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(want))
    assert np.isnan(losses.CosineSimilarity()(yt, yp))


def test_function_is_negative_cosine(tf_keras, keras3):
    yt = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], np.float32)
    yp = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], np.float32)
    got = losses.cosine_similarity(yt, yp, axis=1)
    np.testing.assert_allclose(
        got, tf_keras.losses.cosine_similarity(yt, yp, axis=1).numpy(), atol=value_tol(np.float32)
    )
    np.testing.assert_allclose(
        got, keras3.losses.cosine_similarity(yt, yp, axis=1).numpy(), atol=value_tol(np.float32)
    )
    np.testing.assert_allclose(got, [0.0, -1.0, 1.0], atol=value_tol(np.float32))
    assert swiftsim.losses.cosine_similarity is losses.cosine_similarity


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_function_matches_keras_with_clamped_rows(tf_keras, keras3, layout):
    yt, yp, axis = make_inputs(layout, np.float32)
    k2 = tf_keras.losses.cosine_similarity(yt, yp, axis=axis).numpy()
    k3 = keras3.losses.cosine_similarity(yt, yp, axis=axis).numpy()
    np.testing.assert_allclose(losses.cosine_similarity(yt, yp, axis), k2, rtol=0, atol=value_tol(np.float32))
    np.testing.assert_allclose(
        losses.cosine_similarity(yt, yp, axis, epsilon=EPS_K3), k3, rtol=0, atol=value_tol(np.float32)
    )
    assert np.abs(k2 - k3).max() > 0.1  # the clamp region really differs, so both flavours are tested


# ---------------------------------------------------------------------------------------------------------
# Finite differences in float64 (independent of TensorFlow)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ALL_REDUCTIONS)
@pytest.mark.parametrize("kind", ["none", "scalar", "B", "S1"])
def test_gradient_finite_differences(reduction, kind):
    rng = np.random.default_rng(7)
    yt, yp = rng.normal(size=(3, 2, 4)), rng.normal(size=(3, 2, 4))
    yt[1, 0] = 0.0  # a zero target: its prediction gets no gradient
    axis = 1
    sw, _, _ = make_weight(kind, (3, 4)) if kind != "B" else (np.array([0.5, 2.0, 1.0]), None, None)
    loss = losses.CosineSimilarity(axis=axis, reduction=reduction)

    def f(p):
        return float(np.sum(loss(yt, p, sample_weight=sw)))

    grad = loss.gradient(yt, yp, sample_weight=sw)
    h = 1e-6
    fd = np.empty_like(yp)
    for idx in np.ndindex(yp.shape):
        e = np.zeros_like(yp)
        e[idx] = h
        fd[idx] = (f(yp + e) - f(yp - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------------------------
# Construction, config and errors
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["SUM", "Auto", "weighted_mean", "", 3, "none "])
def test_invalid_reduction(bad):
    with pytest.raises(ValueError, match="sum_over_batch_size.*mean_with_sample_weight"):
        losses.CosineSimilarity(reduction=bad)


@pytest.mark.parametrize("bad", ["Bar", "SUM", 3])
def test_reduction_set_after_construction_is_checked_at_call_time(tf_keras, keras3, bad):
    """Keras raises a ValueError when called with a bad ``loss.reduction``; it never reduces silently."""
    y = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    for module in (tf_keras, keras3):
        theirs = module.losses.CosineSimilarity()
        theirs.reduction = bad
        with pytest.raises(ValueError):
            theirs(y, y)
    ours = losses.CosineSimilarity()
    ours.reduction = bad
    for call in (
        lambda: ours(y, y),
        lambda: ours(y, y, sample_weight=np.ones(4)),
        lambda: ours.gradient(y, y),
        lambda: ours.value_and_gradient(y, y),
    ):
        with pytest.raises(ValueError, match="Invalid value for argument reduction"):
            call()
    ours.reduction = "sum"  # a valid value set later is used
    assert float(ours(y, y)) == pytest.approx(-4.0, abs=4 * value_tol(np.float32))


def test_defaults_match_keras(keras3):
    ours = losses.CosineSimilarity()
    k3 = keras3.losses.CosineSimilarity()
    assert (ours.name, ours.reduction, ours.axis) == (k3.name, k3.reduction, -1)
    assert ours.epsilon == 1e-12 and ours.dtype is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": 1, "reduction": None, "name": "cos", "dtype": "float64", "epsilon": 1e-14},
        {"reduction": "auto", "dtype": np.float32},
        {"reduction": "mean_with_sample_weight", "axis": -2},
    ],
)
def test_config_round_trip(kwargs):
    loss = losses.CosineSimilarity(**kwargs)
    config = loss.get_config()
    assert set(config) == {"name", "reduction", "axis", "dtype", "epsilon"}
    again = losses.CosineSimilarity.from_config(config)
    assert again.get_config() == config
    yt, yp, _ = make_inputs("3d", np.float64)
    np.testing.assert_array_equal(again(yt, yp), loss(yt, yp))


def test_from_keras_configs(tf_keras, keras3):
    k2 = tf_keras.losses.CosineSimilarity(axis=1, reduction="sum").get_config()  # has "fn"
    assert losses.CosineSimilarity.from_config(k2).get_config()["axis"] == 1
    k3 = keras3.losses.CosineSimilarity(axis=1, reduction="sum").get_config()
    assert "axis" not in k3  # Keras 3 loses the axis; ours keeps it
    assert losses.CosineSimilarity.from_config(k3).reduction == "sum"


@pytest.mark.parametrize(
    "values_shape,sw",
    [
        ((B,), np.ones((B, 5))),
        ((B,), np.ones(B + 1)),
        ((B, T), np.ones((B, T, 2))),
        ((B, T), np.ones(T)),
        ((B, T), np.ones((B + 1, 1))),
        ((B,), np.ones((1, B))),
    ],
    ids=["B5_on_B", "B+1_on_B", "BT2_on_BT", "T_on_BT", "B+1x1_on_BT", "1B_on_B"],
)
def test_bad_sample_weight_shapes(values_shape, sw):
    yt = np.ones(values_shape + (D,))
    loss = losses.CosineSimilarity()
    with pytest.raises(ValueError, match=r"sample_weight of shape .* per-sample loss of shape"):
        loss(yt, yt, sample_weight=sw)
    with pytest.raises(ValueError, match=r"sample_weight of shape"):
        loss.gradient(yt, yt, sample_weight=sw)


def test_bad_arguments():
    with pytest.raises(TypeError):
        losses.CosineSimilarity(axis=1.5)
    with pytest.raises(TypeError):
        losses.CosineSimilarity(dtype="int32")
    with pytest.raises(ValueError):
        losses.CosineSimilarity(epsilon=-1.0)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        losses.CosineSimilarity()(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(np.exceptions.AxisError):
        losses.CosineSimilarity(axis=3)(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(TypeError):
        losses.CosineSimilarity()(np.array([["a"]]), np.ones((1, 1)))


def test_inputs_are_not_modified():
    yt, yp, _ = make_inputs("3d_axis1", np.float32)
    sw = np.linspace(0.0, 1.0, B)
    copies = (yt.copy(), yp.copy(), sw.copy())
    losses.CosineSimilarity(axis=1, reduction="mean_with_sample_weight").value_and_gradient(yt, yp, sw)
    for a, b in zip((yt, yp, sw), copies, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reduction", ["mean_with_sample_weight", "sum_over_batch_size"])
def test_zero_divisor_gives_zero_value_and_gradient(tf, keras3, reduction):
    """Σw = 0 with non-zero weights (mean_with_sample_weight) and all-zero weights: divide_no_nan → 0."""
    yt, yp, _ = make_inputs("2d", np.float64)
    sw = (
        np.array([1.0, -1.0, 0.5, -0.5, 2.0, -2.0]) if reduction == "mean_with_sample_weight" else np.zeros(B)
    )
    ours = losses.CosineSimilarity(reduction=reduction, epsilon=EPS_K3)
    value, grad = ours.value_and_gradient(yt, yp, sample_weight=sw)
    want_value, want_grad = tf_value_and_grad(tf, k3_loss(keras3, reduction, -1, np.float64), yt, yp, sw)
    assert value == 0.0 == want_value
    np.testing.assert_array_equal(grad, want_grad)
    np.testing.assert_array_equal(grad, np.zeros_like(yp))


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"])
def test_value_and_gradient_out_is_filled_and_returned(reduction):
    rng = np.random.default_rng(7)
    y_true, y_pred = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    w = rng.random(6)
    loss = swiftsim.losses.CosineSimilarity(reduction=reduction)
    expected_value, expected_grad = loss.value_and_gradient(y_true, y_pred, w)
    out = np.full_like(y_pred, np.nan)
    value, grad = loss.value_and_gradient(y_true, y_pred, w, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, expected_grad)
    np.testing.assert_array_equal(value, expected_value)
    assert loss.gradient(y_true, y_pred, w, out=out) is out


@pytest.mark.parametrize(
    "bad, error",
    [
        (np.empty((6, 4)), ValueError),
        (np.empty((6, 5), np.float32), TypeError),
        (np.empty((5, 6)).T, ValueError),
    ],
)
def test_value_and_gradient_bad_out(bad, error):
    y = np.ones((6, 5))
    with pytest.raises(error, match="out"):
        swiftsim.losses.CosineSimilarity().value_and_gradient(y, y, out=bad)


# ---------------------------------------------------------------------------------------------------------
# Keras's rank rule: ranks differing by one, the longer ending in 1
# ---------------------------------------------------------------------------------------------------------

SQUEEZE_CASES = [((B, D, 1), (B, D)), ((B, D), (B, D, 1)), ((B, T, D, 1), (B, T, D))]
SQUEEZE_IDS = [f"{t}-{p}" for t, p in SQUEEZE_CASES]


def squeeze_inputs(shape_true, shape_pred, seed=7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape_true).astype(np.float32), rng.normal(size=shape_pred).astype(np.float32)


@pytest.mark.parametrize("shape_true,shape_pred", SQUEEZE_CASES, ids=SQUEEZE_IDS)
def test_trailing_size1_axis_is_squeezed_like_keras3_function(keras3, shape_true, shape_pred):
    yt, yp = squeeze_inputs(shape_true, shape_pred)
    want = np.asarray(keras3.losses.cosine_similarity(yt, yp))
    got = losses.cosine_similarity(yt, yp, epsilon=EPS_K3)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=value_tol(np.float32, D))


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("shape_true,shape_pred", SQUEEZE_CASES, ids=SQUEEZE_IDS)
def test_trailing_size1_axis_is_squeezed_like_keras_classes(
    tf, tf_keras, keras3, shape_true, shape_pred, reduction
):
    """The Keras 2 class (on tensors) and the Keras 3 class squeeze; so do the loss, its gradient and out=."""
    yt, yp = squeeze_inputs(shape_true, shape_pred)
    for module, eps in ((tf_keras, EPS_K2), (keras3, EPS_K3)):
        theirs = module.losses.CosineSimilarity(reduction=reduction)
        ours = losses.CosineSimilarity(reduction=reduction, epsilon=eps)
        t_true, t_pred = tf.constant(yt), tf.constant(yp)
        with tf.GradientTape() as tape:
            tape.watch(t_pred)
            value = theirs(t_true, t_pred)
        want_grad = tape.gradient(value, t_pred).numpy()
        got = ours(yt, yp)
        assert np.shape(got) == tuple(value.shape), module.__name__
        n = np.size(losses.cosine_similarity(yt, yp))  # the number of per-sample values
        tol = value_tol(np.float32, D) * (n if reduction == "sum" else 1)
        np.testing.assert_allclose(got, value.numpy(), rtol=0, atol=tol, err_msg=module.__name__)
        got_value, grad = ours.value_and_gradient(yt, yp)
        assert grad.shape == yp.shape
        u = 1.0 / n if reduction == "sum_over_batch_size" else 1.0
        squeezed = yp.reshape(yp.shape[:-1]) if yp.shape[-1] == 1 else yp
        r = r_pred(squeezed, -1, eps).reshape(squeezed.shape[:-1] + (1,) * (yp.ndim - squeezed.ndim + 1))
        assert_within(np.abs(grad - want_grad), grad_tol_unit(np.float32) * u * r + 1e-30, module.__name__)
        out = np.full(yp.shape, np.nan, np.float32)
        _, same = ours.value_and_gradient(yt, yp, out=out)
        assert same is out
        np.testing.assert_array_equal(out, grad)
        np.testing.assert_array_equal(got_value, got)


@pytest.mark.parametrize("pair", [((B, 1), (B,)), ((B,), (B, 1))], ids=["B1-B", "B-B1"])
def test_rank1_partner_is_a_value_error(pair):
    """(B, 1) against (B,): Keras squeezes, expands or broadcasts it depending on the version."""
    yt, yp = squeeze_inputs(*pair)
    loss = losses.CosineSimilarity()
    for call in (
        lambda: losses.cosine_similarity(yt, yp),
        lambda: loss(yt, yp),
        lambda: loss.gradient(yt, yp),
        lambda: loss(yt, yp, sample_weight=np.ones(B)),
    ):
        with pytest.raises(ValueError, match=r"\(B, 1\) input"):
            call()
