"""The demo's recommender: user and item embeddings scored by their cosine, trained with Adam.

Formulation (what the demo prints):

* **Data.** Implicit feedback generated from hidden ground truth: user and item vectors ``U*``,
  ``V*`` of rank ``true_dim``; each user interacts with ``positives`` items drawn without
  replacement with probability ∝ ``exp(cos(U*_u, V*_i) / temperature)`` (Gumbel top-k), so taste
  is real but noisy. Each user's interactions are split into train and held-out ones.
* **Objective.** ``score = cos(user_emb[u], item_emb[i])``; target ``y = 1`` for an interaction and
  ``y = 0`` for a sampled non-interaction ("unrelated", orthogonal; not "opposite", since an item a
  user never saw is not one they dislike). Loss: MSE ``mean((score − y)²)``. Every epoch pairs each
  train interaction with one fresh negative, drawn uniformly from the items outside the user's
  train interactions, shuffled into minibatches.
* **Held-out loss.** The same MSE on the held-out interactions plus as many fixed negatives drawn
  once from the items the user never interacted with.
* **Retrieval.** recall@k of ``swiftsim.ops.top_k`` (each user's embedding against every item),
  **excluding the user's train interactions** (as recommenders do: they are known), so a
  held-out item competes with the ``n_items − n_train(u)`` others. The random baseline is exact:
  ``mean_u k / (n_items − n_train(u))``.
* **Optimiser.** Adam (Kingma & Ba, with bias correction) on the full tables, the NumPy one here
  and the same formulas in TF ops on ``tf.Variable`` tables, on the same initial weights and
  batches, so that the two runs stay comparable step by step.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .. import ops
from .._contract import KERAS2_EPSILON
from .common import Progress


@dataclasses.dataclass(frozen=True)
class RecConfig:
    n_users: int = 600
    n_items: int = 500
    true_dim: int = 8
    dim: int = 16
    positives: int = 25
    held_out: int = 5
    temperature: float = 0.1
    epochs: int = 8
    batch_size: int = 500
    lr: float = 0.02
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-7  # Keras's default
    init_scale: float = 0.1
    k: int = 10
    seed: int = 0
    epsilon: float = KERAS2_EPSILON  # swiftsim's floor on |x|² (the demo sets the TF twin's flavour)


@dataclasses.dataclass
class RecData:
    train_users: np.ndarray  # (n_train,) int64: the train interactions
    train_items: np.ndarray
    held_users: np.ndarray  # (n_held,) held-out interactions, then as many fixed negatives
    held_items: np.ndarray
    held_targets: np.ndarray  # float32 in {0, 1}
    train_sets: list[set[int]]  # per user: train items (excluded from retrieval, never negatives)
    held_sets: list[set[int]]  # per user: held-out items (the retrieval targets)
    user0: np.ndarray  # (n_users, dim) float32 initial weights, shared by both runs
    item0: np.ndarray
    epochs: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]]  # per epoch: (users, items, targets)


def make_data(cfg: RecConfig) -> RecData:
    """The synthetic data set, initial weights and every epoch's minibatches, from ``cfg.seed``."""
    rng = np.random.default_rng(cfg.seed)
    u_true = rng.standard_normal((cfg.n_users, cfg.true_dim))
    v_true = rng.standard_normal((cfg.n_items, cfg.true_dim))
    affinity = ops.pairwise_cosine_similarity(u_true, v_true)  # (n_users, n_items), float64
    gumbel = rng.gumbel(size=affinity.shape)
    chosen = np.argsort(-(affinity / cfg.temperature + gumbel), axis=1, kind="stable")[:, : cfg.positives]
    n_train = cfg.positives - cfg.held_out
    train_sets = [set(row[:n_train].tolist()) for row in chosen]  # the Gumbel order is random: a random split
    held_sets = [set(row[n_train:].tolist()) for row in chosen]

    users = np.arange(cfg.n_users)
    train_users = np.repeat(users, n_train)
    train_items = chosen[:, :n_train].reshape(-1)
    held_pos_users = np.repeat(users, cfg.held_out)
    held_pos_items = chosen[:, n_train:].reshape(-1)
    seen = [t | h for t, h in zip(train_sets, held_sets, strict=True)]
    held_neg_items = _negatives(rng, held_pos_users, seen, cfg.n_items)
    held_users = np.concatenate([held_pos_users, held_pos_users])
    held_items = np.concatenate([held_pos_items, held_neg_items])
    held_targets = np.concatenate([np.ones(held_pos_users.size), np.zeros(held_pos_users.size)]).astype(
        np.float32
    )

    user0 = (cfg.init_scale * rng.standard_normal((cfg.n_users, cfg.dim))).astype(np.float32)
    item0 = (cfg.init_scale * rng.standard_normal((cfg.n_items, cfg.dim))).astype(np.float32)

    epochs = []
    for _ in range(cfg.epochs):
        neg = _negatives(rng, train_users, train_sets, cfg.n_items)
        u = np.concatenate([train_users, train_users])
        i = np.concatenate([train_items, neg])
        y = np.concatenate([np.ones(train_users.size), np.zeros(train_users.size)]).astype(np.float32)
        order = rng.permutation(u.size)
        epochs.append(
            [
                (
                    u[order[s : s + cfg.batch_size]],
                    i[order[s : s + cfg.batch_size]],
                    y[order[s : s + cfg.batch_size]],
                )
                for s in range(0, u.size, cfg.batch_size)
            ]
        )
    return RecData(
        train_users.astype(np.int64),
        train_items.astype(np.int64),
        held_users.astype(np.int64),
        held_items.astype(np.int64),
        held_targets,
        train_sets,
        held_sets,
        user0,
        item0,
        epochs,
    )


def _negatives(rng, users: np.ndarray, excluded: list[set[int]], n_items: int) -> np.ndarray:
    """One item per entry of ``users``, uniform over the items outside ``excluded[user]``."""
    items = rng.integers(0, n_items, users.size)
    bad = np.array([i in excluded[u] for u, i in zip(users.tolist(), items.tolist(), strict=True)])
    while bad.any():  # rejection: interactions are a few percent of the items
        idx = np.flatnonzero(bad)
        items[idx] = rng.integers(0, n_items, idx.size)
        bad[idx] = [items[j] in excluded[users[j]] for j in idx.tolist()]
    return items


# ---------------------------------------------------------------------------------------------------
# The swiftsim run


class Adam:
    """Adam on a list of NumPy arrays, Keras's formulas (bias-corrected step size, ε outside the sqrt).

    ``m ← β1·m + (1−β1)·g``; ``v ← β2·v + (1−β2)·g²``; ``w ← w − lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)``.
    """

    def __init__(self, params: list[np.ndarray], lr: float, beta1: float, beta2: float, eps: float):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        dtype = self.params[0].dtype.type
        # the bias-corrected step size in float64, then the parameters' dtype; the rest in that dtype
        alpha = dtype(self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t))
        b1, b2, eps = dtype(self.beta1), dtype(self.beta2), dtype(self.eps)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m += (1 - b1) * (g - m)
            v += (1 - b2) * (np.square(g) - v)
            p -= alpha * m / (np.sqrt(v) + eps)


@dataclasses.dataclass
class RecRun:
    train_loss: list[float]  # mean of the minibatch losses of each epoch (before each step)
    held_loss: list[float]  # index 0: before training; then after each epoch
    user: np.ndarray
    item: np.ndarray
    seconds: float


def mse_and_grads(user, item, u, i, y, epsilon):
    """``(loss, d_user_table, d_item_table)`` of ``mean((cos(user[u], item[i]) − y)²)``.

    One fused kernel pass gives the cosines and both row gradients of ``Σ cos``; since MSE's
    ``dL/dcos = 2(cos − y)/B`` needs the cosines first, the gradient rows are scaled afterwards (exact
    by linearity: ``∂(Σ gᵢ·cᵢ)/∂xᵢ = gᵢ·∂cᵢ/∂xᵢ``). ``np.add.at`` scatters the rows into the tables
    (a user or an item can appear several times in a batch).
    """
    cos, du, di = ops.cosine_value_and_grad(user[u], item[i], epsilon=epsilon, need=(True, True))
    err = cos - y
    dl_dc = (2.0 / y.size) * err
    g_user = np.zeros_like(user)
    g_item = np.zeros_like(item)
    np.add.at(g_user, u, du * dl_dc[:, None])
    np.add.at(g_item, i, di * dl_dc[:, None])
    return float(np.mean(np.square(err), dtype=np.float64)), g_user, g_item


def held_out_loss(user: np.ndarray, item: np.ndarray, data: RecData, epsilon: float) -> float:
    cos = ops.cosine_similarity(user[data.held_users], item[data.held_items], epsilon=epsilon)
    return float(np.mean(np.square(cos - data.held_targets), dtype=np.float64))


def train_swiftsim(cfg: RecConfig, data: RecData, progress: Progress | None = None) -> RecRun:
    user, item = data.user0.copy(), data.item0.copy()
    adam = Adam([user, item], cfg.lr, cfg.beta1, cfg.beta2, cfg.adam_eps)
    train_loss, held = [], [held_out_loss(user, item, data, cfg.epsilon)]
    t0 = time.perf_counter()
    for batches in data.epochs:
        total = 0.0
        for u, i, y in batches:
            loss, g_user, g_item = mse_and_grads(user, item, u, i, y, cfg.epsilon)
            adam.step([g_user, g_item])
            total += loss
            if progress is not None:
                progress.update(1, f"loss {loss:.4f}")
        train_loss.append(total / len(batches))
        held.append(held_out_loss(user, item, data, cfg.epsilon))
    return RecRun(train_loss, held, user, item, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------
# The TensorFlow twin


def train_tensorflow(tf, cfg: RecConfig, data: RecData, progress: Progress | None = None) -> RecRun:
    """The same model, data, batches and Adam in TensorFlow: ``tf.Variable`` tables, GradientTape on
    ``-tf.keras.losses.cosine_similarity`` (the loss is the negative cosine), Adam in TF ops."""
    user = tf.Variable(data.user0)
    item = tf.Variable(data.item0)
    # Adam's slots: m_user, m_item, v_user, v_item
    slots = [tf.Variable(tf.zeros_like(v)) for v in (user, item, user, item)]
    step_count = tf.Variable(0.0, dtype=tf.float64)
    b1, b2 = tf.constant(cfg.beta1, tf.float32), tf.constant(cfg.beta2, tf.float32)
    beta1_64, beta2_64 = tf.constant(cfg.beta1, tf.float64), tf.constant(cfg.beta2, tf.float64)

    def cosine(u_idx, i_idx):
        return -tf.keras.losses.cosine_similarity(tf.gather(user, u_idx), tf.gather(item, i_idx), axis=-1)

    spec = [
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([None], tf.float32),
    ]

    @tf.function(input_signature=spec)
    def train_step(u_idx, i_idx, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(cosine(u_idx, i_idx) - y))
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, [user, item])]  # IndexedSlices → dense
        step_count.assign_add(1.0)
        # the step size in float64, then float32, as the NumPy Adam computes it
        b1_t, b2_t = tf.pow(beta1_64, step_count), tf.pow(beta2_64, step_count)
        alpha = tf.cast(cfg.lr * tf.sqrt(1.0 - b2_t) / (1.0 - b1_t), tf.float32)
        for var, g, m, v in zip((user, item), grads, slots[:2], slots[2:], strict=True):
            m.assign_add((1.0 - b1) * (g - m))
            v.assign_add((1.0 - b2) * (tf.square(g) - v))
            var.assign_sub(alpha * m / (tf.sqrt(v) + cfg.adam_eps))
        return loss

    @tf.function(input_signature=spec)
    def eval_loss(u_idx, i_idx, y):
        return tf.reduce_mean(tf.square(cosine(u_idx, i_idx) - y))

    held_args = (data.held_users, data.held_items, data.held_targets)
    train_loss, held = [], [float(eval_loss(*held_args))]
    t0 = time.perf_counter()
    for batches in data.epochs:
        total = 0.0
        for u, i, y in batches:
            loss = float(train_step(u, i, y))
            total += loss
            if progress is not None:
                progress.update(1, f"loss {loss:.4f}")
        train_loss.append(total / len(batches))
        held.append(float(eval_loss(*held_args)))
    return RecRun(train_loss, held, user.numpy(), item.numpy(), time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------
# Retrieval


def recall_at_k(
    user: np.ndarray, item: np.ndarray, data: RecData, k: int, epsilon: float
) -> tuple[float, float]:
    """``(recall@k, random baseline)`` of :func:`swiftsim.ops.top_k` retrieval, train items excluded.

    recall@k = mean over users of |top-k ∩ held-out| / |held-out|; the baseline is its expectation
    for a random ranking, ``mean_u k / (n_items − n_train(u))``.
    """
    n_items = item.shape[0]
    train_rows = [np.fromiter(s, np.int64, len(s)) for s in data.train_sets]
    _, idx = ops.top_k(user, item, k, epsilon, exclude=train_rows)  # skipped inside the selection
    recalls, baseline = [], []
    for row, train, held in zip(idx.tolist(), data.train_sets, data.held_sets, strict=True):
        top = [j for j in row if j >= 0]  # -1: a user with fewer than k items left
        recalls.append(len(held.intersection(top)) / len(held))
        baseline.append(k / (n_items - len(train)))
    return float(np.mean(recalls)), float(np.mean(baseline))
