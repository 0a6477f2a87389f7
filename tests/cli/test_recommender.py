"""The demo's recommender: its gradients (finite differences), its Adam (Keras's), its TF twin."""

from __future__ import annotations

import numpy as np
import pytest

from swiftsim._contract import value_tol
from swiftsim.cli import demo, recommender


def test_recommender_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    user, item = rng.standard_normal((5, 4)), rng.standard_normal((6, 4))
    u, i = np.array([0, 1, 1, 4, 0]), np.array([2, 2, 5, 0, 2])  # repeated rows and pairs
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    _, g_user, g_item = recommender.mse_and_grads(user, item, u, i, y, 1e-12)

    def loss(uu, ii):
        a, b = uu[u], ii[i]
        c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        return np.mean((c - y) ** 2)

    h = 1e-6
    for table, grad, which in ((user, g_user, 0), (item, g_item, 1)):
        num = np.zeros_like(table)
        for idx in np.ndindex(table.shape):
            plus, minus = table.copy(), table.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = (plus, item) if which == 0 else (user, plus)
            args_m = (minus, item) if which == 0 else (user, minus)
            num[idx] = (loss(*args_p) - loss(*args_m)) / (2 * h)
        np.testing.assert_allclose(grad, num, atol=1e-8)
    assert not g_user[[2, 3]].any()  # users never in the batch get no gradient


def test_numpy_adam_is_keras_adam(tf):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) * 10.0**-k for k in range(6)]  # down to tiny gradients
    ours = w0.copy()
    adam = recommender.Adam([ours], lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7)
    var = keras.Variable(w0, dtype="float64")
    opt = keras.optimizers.Adam(learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    for g in grads:
        adam.step([g])
        opt.apply_gradients([(tf.constant(g), var)])
    # Keras's bias-corrected step size comes out 6.7e-6 smaller (relative) even for float64 variables
    # (float32 scalars inside), so each step of size <= lr may differ by ~lr·1e-5: 6 steps, 6·0.05·2e-5.
    # A formula error (no bias correction, ε inside the sqrt, β's swapped) differs by 1e-3 or more.
    np.testing.assert_allclose(ours, np.asarray(var), rtol=0, atol=6e-6)
    assert np.abs(ours - w0).max() > 0.1  # it did move


def test_recommender_learns(capsys):
    result = demo.pattern_recommender(0, 6, None, progress=False)
    held = result.ours.held_loss
    # Random unit-ish embeddings give cos ≈ 0, so the held-out MSE starts near 0.5·1 + 0.5·0 plus the
    # spread of cos; learning must take it well below half of that.
    assert 0.45 < held[0] < 0.7
    assert held[-1] < 0.45 * held[0]
    assert all(b < a for a, b in zip(result.ours.train_loss, result.ours.train_loss[1:], strict=False))
    assert result.baseline == pytest.approx(
        10 / (result.cfg.n_items - (result.cfg.positives - result.cfg.held_out))
    )
    assert result.recall > 5 * result.baseline
    out = capsys.readouterr().out
    assert "recall@10" in out and "train items excluded" in out


def test_recommender_swiftsim_and_tensorflow_agree_epoch_by_epoch(tf, capsys):
    result = demo.pattern_recommender(0, 5, tf, progress=False)
    ours, theirs = result.ours, result.theirs
    assert theirs is not None and result.cfg.epsilon == demo._keras_eps(tf)
    # Tolerance. Both runs do the same float32 operations (Adam's step size in float64 then float32 on
    # both sides), in different orders: the cosine's norms and dot products, its gradient, the
    # scatter-add of repeated rows, the loss's mean. Each step therefore differs by rounding (~1e-7
    # relative), and Adam's scale-free m/(√v + ε) can turn a rounding difference in a near-zero
    # gradient into a larger step difference; 240 steps accumulate these. Measured over seeds 0-2:
    # at most 8e-8 on the losses and 8e-7 on the weights (|w| <= 0.9). The tolerances are 25x that;
    # a learning rate 0.1% off already moves the held-out loss by 6e-5 (next test).
    np.testing.assert_allclose(ours.train_loss, theirs.train_loss, rtol=0, atol=value_tol(np.float32))
    np.testing.assert_allclose(ours.held_loss, theirs.held_loss, rtol=0, atol=value_tol(np.float32))
    np.testing.assert_allclose(ours.user, theirs.user, rtol=0, atol=2e-5)
    np.testing.assert_allclose(ours.item, theirs.item, rtol=0, atol=2e-5)
    assert result.recall_tf == pytest.approx(result.recall, abs=0.01)
    assert ours.held_loss[-1] < 0.5 * ours.held_loss[0]  # and the shared trajectory learns


def test_recommender_tolerance_detects_a_slightly_different_learning_rate(tf):
    # The agreement test above can fail: a learning rate 0.1% higher on the TF side is far outside it.
    cfg = recommender.RecConfig(epochs=2)
    data = recommender.make_data(cfg)
    ours = recommender.train_swiftsim(cfg, data)
    theirs = recommender.train_tensorflow(tf, recommender.RecConfig(epochs=2, lr=cfg.lr * 1.001), data)
    assert np.max(np.abs(np.subtract(ours.held_loss, theirs.held_loss))) > 10 * value_tol(np.float32)
