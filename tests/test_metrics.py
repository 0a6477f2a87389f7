"""swiftsim.metrics against tf_keras (Keras 2) metrics streamed over the same batches.

The contract accumulates per element, as Keras 2: weights broadcast to the per-sample cosines,
total += Σ w·c, count += Σ w (docs/keras.md). Keras 2 is run with dtype="float64" for float64
streams (its default float32 casts the inputs first). Keras 3 agrees on single 2-D batches and is
compared there with epsilon=1e-14. Tolerance: swiftsim._contract.value_tol for a mean of cosines.
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftsim import metrics
from swiftsim._contract import KERAS2_EPSILON as EPS_K2
from swiftsim._contract import KERAS3_EPSILON as EPS_K3
from swiftsim._contract import value_tol

D = 7


def batch(shape, seed, special=False):
    rng = np.random.default_rng(seed)
    yt, yp = rng.normal(size=shape), rng.normal(size=shape)
    if special:  # a zero prediction, a zero target and a clamped (norm 3e-7) prediction
        rows_t, rows_p = yt.reshape(-1, shape[-1]), yp.reshape(-1, shape[-1])  # views
        n = len(rows_p)
        rows_p[0] = 0.0
        if n > 1:
            rows_t[1] = 0.0
        if n > 2:
            rows_p[2] *= 3e-7 / np.linalg.norm(rows_p[2])
    return yt, yp


def weights(kind, shape, seed):
    rng = np.random.default_rng(seed + 100)
    values_shape = shape[:-1]
    b = shape[0]
    if kind is None:
        return None
    if kind == "scalar":
        return 0.5 + seed % 3
    if kind == "B":
        return rng.uniform(0.0, 2.0, size=b)
    if kind == "B1":
        return rng.uniform(0.0, 2.0, size=(b, 1))
    if kind == "S":
        return rng.uniform(0.0, 2.0, size=values_shape)
    if kind == "S1":
        return rng.uniform(0.0, 2.0, size=values_shape + (1,))
    if kind == "zeros":
        return np.zeros(b)
    if kind == "negative":
        return rng.uniform(-1.0, 2.0, size=b)
    raise AssertionError(kind)


# each stream: a list of (shape, weight kind)
STREAMS = {
    "2d_varying_B": [((4, D), None), ((7, D), None), ((1, D), None)],
    "2d_weights": [((4, D), "B"), ((5, D), "B1"), ((3, D), "scalar"), ((2, D), None)],
    "3d_varying_T": [((2, 3, D), None), ((2, 5, D), None), ((3, 1, D), None)],
    "3d_scalar_weights": [((2, 3, D), "scalar"), ((4, 5, D), "scalar"), ((1, 2, D), "scalar")],
    "3d_weight_shapes": [((3, 2, D), "B"), ((2, 4, D), "S"), ((4, 3, D), "B1"), ((2, 2, D), "S1")],
    "mixed_rank": [((5, D), "B"), ((2, 4, D), "B"), ((3, D), "scalar"), ((3, 2, D), "S")],
    "zero_weights": [((3, D), "zeros"), ((4, 2, D), "B"), ((2, D), "zeros")],
    "negative_weights": [((6, D), "negative"), ((3, 2, D), "negative")],
}


def run_stream(stream, dtype, ours, theirs, axis=-1, special=False):
    for i, (shape, kind) in enumerate(STREAMS[stream]):
        yt, yp = batch(shape, i, special)
        if axis != -1:
            yt, yp = np.moveaxis(yt, -1, axis), np.moveaxis(yp, -1, axis)
        yt, yp = yt.astype(dtype), yp.astype(dtype)
        sw = weights(kind, shape, i)
        ours.update_state(yt, yp, sample_weight=sw)
        theirs.update_state(yt, yp, sample_weight=None if sw is None else np.asarray(sw, dtype))
        yield float(ours.result()), float(theirs.result().numpy())


@pytest.mark.parametrize("special", [False, True], ids=["plain", "zero_and_clamped"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stream", list(STREAMS))
def test_stream_matches_keras2(tf_keras, stream, dtype, special):
    ours = metrics.CosineSimilarity()
    theirs = tf_keras.metrics.CosineSimilarity(dtype=np.dtype(dtype).name)
    for got, want in run_stream(stream, dtype, ours, theirs, special=special):
        assert abs(got - want) < value_tol(dtype, D), (got, want)
    assert isinstance(ours.total, float) and isinstance(ours.count, float)


@pytest.mark.parametrize("stream", ["3d_varying_T", "3d_weight_shapes", "mixed_rank"])
def test_stream_along_axis_1(tf_keras, stream):
    """The reduced axis in the middle: (B, D, T) batches with axis=1."""
    ours = metrics.CosineSimilarity(axis=1)
    theirs = tf_keras.metrics.CosineSimilarity(axis=1, dtype="float64")
    for got, want in run_stream(stream, np.float64, ours, theirs, axis=1):
        assert abs(got - want) < 1e-12


def test_per_element_accumulation_is_keras2_not_keras3(tf_keras, keras3):
    """The (2, 3, D) + (2, 5, D) stream of docs/keras.md: Keras 2 and Keras 3 give different means."""
    ours, k2, k3 = (
        metrics.CosineSimilarity(),
        tf_keras.metrics.CosineSimilarity(),
        keras3.metrics.CosineSimilarity(),
    )
    for i, shape in enumerate([(2, 3, D), (2, 5, D)]):
        yt, yp = batch(shape, 10 + i)
        yp[0] = yt[0] + 0.1 * yp[0]  # make the first sample's cosines large, so the two means differ
        for m in (ours, k2, k3):
            m.update_state(yt.astype(np.float32), yp.astype(np.float32))
    got, want2, want3 = float(ours.result()), float(k2.result()), float(k3.result())
    assert abs(got - want2) < value_tol(np.float32)
    assert abs(want2 - want3) > 1e-3


@pytest.mark.parametrize("kind", [None, "B", "B1"])
def test_single_batch_matches_keras3(keras3, kind):
    yt, yp = batch((6, D), 3, special=True)
    sw = weights(kind, (6, D), 3)
    ours = metrics.CosineSimilarity(epsilon=EPS_K3)
    k3 = keras3.metrics.CosineSimilarity(dtype="float64")
    ours.update_state(yt, yp, sample_weight=sw)
    k3.update_state(yt, yp, sample_weight=sw)
    assert abs(float(ours.result()) - float(k3.result())) < 1e-12


def test_result_before_update_and_after_reset(tf_keras):
    m = metrics.CosineSimilarity()
    assert m.result() == 0.0 == float(tf_keras.metrics.CosineSimilarity().result())
    yt, yp = batch((3, D), 0)
    m.update_state(yt, yp)
    assert m.result() != 0.0
    m.reset_state()
    assert m.result() == 0.0 and m.total == 0.0 and m.count == 0.0


def test_zero_weight_sum_gives_zero(tf_keras):
    yt, yp = batch((3, D), 0)
    m, k2 = metrics.CosineSimilarity(), tf_keras.metrics.CosineSimilarity()
    m.update_state(yt, yp, sample_weight=np.zeros(3))
    k2.update_state(yt, yp, sample_weight=np.zeros(3))
    assert m.result() == 0.0 == float(k2.result())
    m.update_state(yt, yp, sample_weight=[1.0, -1.0, 0.0])  # Σw = 0 with a non-zero total
    assert m.count == 0.0 and m.total != 0.0 and m.result() == 0.0


def test_metric_is_positive_cosine():
    yt = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    yp = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
    m = metrics.CosineSimilarity()
    m.update_state(yt, yp)
    assert abs(float(m.result()) - 0.0) < 1e-15  # (0 + 1 - 1) / 3
    np.testing.assert_allclose(metrics.cosine_similarity(yt, yp), [0.0, 1.0, -1.0], atol=1e-15)
    m.update_state(yt[1:2], yp[1:2], sample_weight=[3.0])
    np.testing.assert_allclose(float(m.result()), 3.0 / 6.0, atol=1e-15)


def test_call_updates_and_returns_result(tf_keras):
    yt, yp = batch((4, D), 1)
    m, k2 = metrics.CosineSimilarity(), tf_keras.metrics.CosineSimilarity(dtype="float64")
    for _ in range(2):
        got = m(yt, yp, sample_weight=np.arange(4.0))
        want = k2(yt, yp, sample_weight=np.arange(4.0))
        assert abs(float(got) - float(want)) < 1e-12
    assert m.count == 12.0


def test_result_dtype():
    yt, yp = batch((4, D), 1)
    m = metrics.CosineSimilarity()
    m.update_state(yt.astype(np.float32), yp.astype(np.float32))
    assert type(m.result()) is np.float64
    m32 = metrics.CosineSimilarity(dtype="float32")
    m32.update_state(yt, yp)
    assert type(m32.result()) is np.float32
    assert isinstance(m32.total, float)


@pytest.mark.parametrize(
    "spec", ["tf.float32", "tf.float64", "tf.bfloat16", "bfloat16", "mixed_float16", "float16", "policy"]
)
def test_dtype_as_keras_accepts_it(tf, tf_keras, keras3, spec):
    """The metric's dtype= takes what Keras's takes, and its result comes in that dtype."""
    dtype = {"policy": keras3.DTypePolicy("float64")}.get(spec) or (
        getattr(tf, spec[3:]) if spec.startswith("tf.") else spec
    )
    yt, yp = batch((6, D), 2)
    theirs = keras3.metrics.CosineSimilarity(dtype=dtype)
    theirs.update_state(yt, yp)
    ours = metrics.CosineSimilarity(dtype=dtype, epsilon=EPS_K3)
    ours.update_state(yt, yp)
    got, want = ours.result(), theirs.result()
    assert got.dtype.name == want.dtype.name
    tol = 4 * 2.0**-8 if got.dtype.name == "bfloat16" else 2 * value_tol(got.dtype.name, D)
    assert abs(float(got) - float(want)) < tol
    if spec in ("tf.float32", "tf.bfloat16", "float16"):  # the dtypes Keras 2's metric takes too
        k2 = tf_keras.metrics.CosineSimilarity(dtype=dtype)
        k2.update_state(yt, yp)
        assert k2.result().dtype.name == got.dtype.name
    assert metrics.CosineSimilarity.from_config(ours.get_config()).dtype == ours.dtype


def test_float64_totals_do_not_lose_small_batches():
    """Totals in float64: a float32 running sum of 2e7 would drop each added 0.5."""
    m = metrics.CosineSimilarity(dtype="float32")
    e1 = np.array([[1.0, 0.0]], np.float32)
    m.update_state(e1, e1, sample_weight=2e7)
    for _ in range(10):
        m.update_state(e1, -e1, sample_weight=0.5)
    assert m.total == 2e7 - 5.0 and m.count == 2e7 + 5.0


@pytest.mark.parametrize("kwargs", [{}, {"name": "cos", "dtype": "float64", "axis": 1, "epsilon": 1e-14}])
def test_config_round_trip(tf_keras, kwargs):
    m = metrics.CosineSimilarity(**kwargs)
    config = m.get_config()
    assert set(config) == {"name", "dtype", "axis", "epsilon"}
    again = metrics.CosineSimilarity.from_config(config)
    assert again.get_config() == config
    k2 = tf_keras.metrics.CosineSimilarity(axis=1).get_config()
    assert set(k2) <= set(config) | {"dtype"}


@pytest.mark.parametrize("sw", [np.ones(4), np.ones((3, 2)), np.ones((3, 5, 2))], ids=["B+1", "B2", "BT2"])
def test_bad_sample_weight(sw):
    yt, yp = batch((3, 5, D), 0)
    m = metrics.CosineSimilarity()
    with pytest.raises(ValueError, match="sample_weight of shape"):
        m.update_state(yt, yp, sample_weight=sw)
    assert m.count == 0.0 and m.total == 0.0  # a failed update leaves the state untouched


def test_bad_arguments():
    with pytest.raises(TypeError):
        metrics.CosineSimilarity(dtype="int64")
    with pytest.raises(TypeError):
        metrics.CosineSimilarity(axis="x")
    with pytest.raises(ValueError):
        metrics.CosineSimilarity(epsilon=float("nan"))
    with pytest.raises(ValueError):
        metrics.CosineSimilarity().update_state(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize("shapes", [((6, D, 1), (6, D)), ((6, D), (6, D, 1))], ids=["true-D1", "pred-D1"])
def test_trailing_size1_axis_is_squeezed_like_keras(tf_keras, keras3, shapes):
    """Both Kerases squeeze the longer input's trailing 1 when the ranks differ by one."""
    rng = np.random.default_rng(5)
    yt, yp = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    for module, eps in ((tf_keras, EPS_K2), (keras3, EPS_K3)):
        theirs = module.metrics.CosineSimilarity(dtype="float64")
        theirs.update_state(yt, yp)
        ours = metrics.CosineSimilarity(epsilon=eps)
        ours.update_state(yt, yp)
        assert abs(float(ours.result()) - float(theirs.result())) < 1e-12, module.__name__
    want = np.asarray(keras3.losses.cosine_similarity(yt, yp))
    np.testing.assert_allclose(metrics.cosine_similarity(yt, yp, epsilon=EPS_K3), -want, rtol=0, atol=1e-12)


def test_rank1_partner_is_a_value_error():
    m = metrics.CosineSimilarity()
    for yt, yp in ((np.ones((4, 1)), np.ones(4)), (np.ones(4), np.ones((4, 1)))):
        with pytest.raises(ValueError, match=r"\(B, 1\) input"):
            m.update_state(yt, yp)
        with pytest.raises(ValueError, match=r"\(B, 1\) input"):
            metrics.cosine_similarity(yt, yp)
    assert m.count == 0.0
