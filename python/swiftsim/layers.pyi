"""Type stubs for swiftsim.layers: NumPy layers with forward and backward (CosineSimilarity, Keras's Dot)."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CosineSimilarity", "Dot", "dot"]

_Floats = NDArray[np.floating[Any]]

class CosineSimilarity:
    axis: int
    epsilon: float
    def __init__(self, axis: int = -1, epsilon: float = 1e-12) -> None: ...
    def __call__(self, inputs: Sequence[ArrayLike]) -> _Floats | np.floating[Any]: ...
    def backward(self, upstream: ArrayLike) -> tuple[_Floats, _Floats]: ...
    def get_config(self) -> dict[str, Any]: ...
    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CosineSimilarity: ...

class Dot:
    axes: int | tuple[int, int]
    normalize: bool
    epsilon: float
    def __init__(
        self, axes: int | Sequence[int], normalize: bool = False, epsilon: float = 1e-12
    ) -> None: ...
    def compute_output_shape(self, input_shape: Sequence[Sequence[int]]) -> tuple[int, ...]: ...
    def __call__(self, inputs: Sequence[ArrayLike]) -> _Floats: ...
    def backward(self, upstream: ArrayLike) -> tuple[_Floats, _Floats]: ...
    def get_config(self) -> dict[str, Any]: ...
    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dot: ...

def dot(
    inputs: Sequence[ArrayLike],
    axes: int | Sequence[int] = -1,
    normalize: bool = False,
    epsilon: float = 1e-12,
) -> _Floats: ...
