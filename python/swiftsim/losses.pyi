"""Type stubs for swiftsim.losses: Keras's cosine-similarity loss (the negative cosine)."""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["cosine_similarity", "CosineSimilarity", "REDUCTIONS"]

# "sum_over_batch_size" (= "auto" = "mean"), "sum", "mean_with_sample_weight", "none" or None
_Reduction = str | None
_Floats = NDArray[np.floating[Any]]

REDUCTIONS: tuple[str | None, ...]

def cosine_similarity(
    y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1, *, epsilon: float = 1e-12
) -> _Floats: ...

class CosineSimilarity:
    axis: int
    reduction: _Reduction
    name: str
    dtype: str | None
    epsilon: float
    def __init__(
        self,
        axis: int = -1,
        reduction: _Reduction = "sum_over_batch_size",
        name: str = "cosine_similarity",
        dtype: DTypeLike | None = None,
        epsilon: float = 1e-12,
    ) -> None: ...
    def __call__(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> _Floats | np.floating[Any]: ...
    def gradient(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        out: np.ndarray[Any, Any] | None = None,
    ) -> _Floats: ...
    def value_and_gradient(
        self,
        y_true: ArrayLike,
        y_pred: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        out: np.ndarray[Any, Any] | None = None,
    ) -> tuple[_Floats | np.floating[Any], _Floats]: ...
    def get_config(self) -> dict[str, Any]: ...
    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CosineSimilarity: ...
