"""Type stubs for swiftsim.metrics: the Keras metric, a running mean of the positive cosine."""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["cosine_similarity", "CosineSimilarity"]

def cosine_similarity(
    y_true: ArrayLike, y_pred: ArrayLike, axis: int = -1, *, epsilon: float = 1e-12
) -> NDArray[np.floating[Any]] | np.floating[Any]: ...

class CosineSimilarity:
    name: str
    dtype: str | None
    axis: int
    epsilon: float
    total: float
    count: float
    def __init__(
        self,
        name: str = "cosine_similarity",
        dtype: DTypeLike | None = None,
        axis: int = -1,
        epsilon: float = 1e-12,
    ) -> None: ...
    def update_state(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> None: ...
    def result(self) -> np.floating[Any]: ...
    def reset_state(self) -> None: ...
    def __call__(
        self, y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> np.floating[Any]: ...
    def get_config(self) -> dict[str, Any]: ...
    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CosineSimilarity: ...
