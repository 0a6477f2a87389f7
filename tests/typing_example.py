"""What a type checker sees of swiftsim: ``make lint`` runs ``mypy --strict`` on this file.

Each ``assert_type`` states the static type of a call; :func:`check` also runs every call and checks
that the value has that type at run time (``tests/test_typing.py``), so the annotations cannot drift
from the behaviour. A line ending in ``# type: ignore[...]`` must be an error for mypy (``--strict``
reports an ignore that is not needed), which is how the refused calls are tested.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray
from typing_extensions import assert_type

import swiftsim
from swiftsim import layers, losses, metrics, ops

Floats = NDArray[np.floating[Any]]


def is_array(value: object, dtype: type[np.generic]) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == dtype


def is_scalar(value: object, dtype: type[np.generic]) -> bool:
    return isinstance(value, dtype)


def check() -> None:
    """Every call below, with its static type asserted and its run-time type checked."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 4), dtype=np.float32)  # NDArray[float32] of unknown shape
    b = rng.standard_normal((8, 4), dtype=np.float32)
    m = np.zeros((8, 4), np.float64) + 1.0  # shape typed (int, int)
    v = np.ones(4, np.float32)  # shape typed (int,)

    # ops: arrays in, arrays of the same float type out; two 1-D vectors give a scalar
    assert is_array(assert_type(ops.cosine_similarity(a, b), NDArray[np.float32]), np.float32)
    assert is_array(
        assert_type(ops.cosine_similarity(m, [1.0, 0.0, 0.0, 0.0]), NDArray[np.float64]), np.float64
    )
    assert is_scalar(assert_type(ops.cosine_similarity(v, v), np.float32), np.float32)
    assert is_scalar(ops.cosine_similarity([1.0, 2.0], [2.0, 1.0]), np.floating)  # lists: array or scalar
    out = np.empty(8, np.float32)
    assert (
        assert_type(ops.cosine_similarity(a, b, out=out), np.ndarray[tuple[int], np.dtype[np.float32]]) is out
    )
    assert is_array(assert_type(ops.l2_normalize(a), NDArray[np.float32]), np.float32)
    assert is_array(assert_type(ops.l2_normalize(m, axis=None), NDArray[np.float64]), np.float64)
    dx1, dx2 = assert_type(ops.cosine_similarity_grad(a, b), tuple[NDArray[np.float32], NDArray[np.float32]])
    assert is_array(dx1, np.float32) and is_array(dx2, np.float32)
    cos, g1, g2 = ops.cosine_value_and_grad(a, b, need=(True, False))
    assert_type(g1, Floats | None)
    assert is_array(cos, np.float32) and is_array(g1, np.float32) and g2 is None
    assert is_array(assert_type(ops.pairwise_cosine_similarity(a), NDArray[np.float32]), np.float32)
    chunks = assert_type(ops.pairwise_chunks(a, b), Iterator[tuple[slice, NDArray[np.float32]]])
    assert all(isinstance(s, slice) and is_array(block, np.float32) for s, block in chunks)
    scores, idx = assert_type(ops.top_k(a, b, 3), tuple[NDArray[np.float32], NDArray[np.int64]])
    assert is_array(scores, np.float32) and is_array(idx, np.int64)

    # losses and metrics
    assert is_array(assert_type(losses.cosine_similarity(a, b), NDArray[np.float32]), np.float32)
    loss = losses.CosineSimilarity(reduction="sum", dtype="float64")
    value, grad = loss.value_and_gradient(a, b)
    assert_type(grad, Floats)
    assert is_scalar(value, np.float64) and is_array(grad, np.float64)
    assert is_scalar(assert_type(loss(a, b), Floats | np.floating[Any]), np.float64)
    try:
        losses.CosineSimilarity(reduction="bar")  # type: ignore[arg-type]
    except ValueError:
        pass
    else:
        raise AssertionError("an unknown reduction is refused at run time too")
    metric = metrics.CosineSimilarity()
    metric.update_state(a, b)
    assert is_scalar(assert_type(metric.result(), np.floating[Any]), np.float64)
    assert is_array(assert_type(metrics.cosine_similarity(a, b), NDArray[np.float32]), np.float32)

    # layers
    dot = layers.Dot(axes=1, normalize=True)
    assert is_array(assert_type(dot([a, b]), Floats), np.float32)
    da, db = assert_type(dot.backward(np.ones((8, 1))), tuple[Floats, Floats])
    assert da.shape == a.shape and db.shape == b.shape
    assert is_array(
        assert_type(layers.CosineSimilarity().call([a, b]), Floats | np.floating[Any]), np.float32
    )

    # the package
    info = swiftsim.build_info()
    assert isinstance(assert_type(info["simd_bits"], int), int)
    assert isinstance(assert_type(swiftsim.get_num_threads(), int), int)
    assert isinstance(assert_type(swiftsim.config.working_memory, int), int)


if __name__ == "__main__":
    check()
