"""Type stubs for swiftsim.ops: positive cosine similarity, l2 normalisation, gradients, pairwise, top-k."""

from collections.abc import Iterator
from typing import Any, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "cosine_similarity",
    "cosine_similarity_grad",
    "l2_normalize",
    "pairwise_chunks",
    "pairwise_cosine_similarity",
    "top_k",
]

_ArrayT = TypeVar("_ArrayT", bound=np.ndarray[Any, Any])
_Floats = NDArray[np.floating[Any]]
_Axis = int | tuple[int, ...] | list[int] | None

@overload
def cosine_similarity(
    x1: ArrayLike, x2: ArrayLike, axis: int = -1, epsilon: float = 1e-12, *, out: None = None
) -> _Floats | np.floating[Any]: ...
@overload
def cosine_similarity(
    x1: ArrayLike, x2: ArrayLike, axis: int = -1, epsilon: float = 1e-12, *, out: _ArrayT
) -> _ArrayT: ...
def cosine_similarity_grad(
    x1: ArrayLike,
    x2: ArrayLike,
    upstream: ArrayLike | None = None,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    out: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None,
) -> tuple[_Floats, _Floats]: ...
def cosine_value_and_grad(
    x1: ArrayLike,
    x2: ArrayLike,
    upstream: ArrayLike | None = None,
    axis: int = -1,
    epsilon: float = 1e-12,
    *,
    need: tuple[bool, bool] = (True, True),
    out: tuple[np.ndarray[Any, Any] | None, np.ndarray[Any, Any] | None] = (None, None),
) -> tuple[_Floats | np.floating[Any], _Floats | None, _Floats | None]: ...
@overload
def l2_normalize(
    x: ArrayLike, axis: _Axis = -1, epsilon: float = 1e-12, *, out: None = None
) -> _Floats | np.floating[Any]: ...
@overload
def l2_normalize(x: ArrayLike, axis: _Axis = -1, epsilon: float = 1e-12, *, out: _ArrayT) -> _ArrayT: ...
@overload
def pairwise_cosine_similarity(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, out: None = None
) -> _Floats: ...
@overload
def pairwise_cosine_similarity(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, out: _ArrayT
) -> _ArrayT: ...
def pairwise_chunks(
    x: ArrayLike, y: ArrayLike | None = None, epsilon: float = 1e-12, *, working_memory: int | None = None
) -> Iterator[tuple[slice, _Floats]]: ...
def top_k(
    queries: ArrayLike, corpus: ArrayLike, k: int, epsilon: float = 1e-12, *, assume_normalized: bool = False
) -> tuple[_Floats, NDArray[np.int64]]: ...
