"""Type stubs for the compiled kernels (swiftsim._swiftsim): ndarray checks, no Keras semantics."""

from collections.abc import Sequence

import numpy as np

def from_dlpack(capsule: object, /) -> np.ndarray: ...
def cosine(x1: np.ndarray, x2: np.ndarray, out: np.ndarray, epsilon: float, /) -> None: ...
def cosine_auto(
    x1: object, x2: object, epsilon: object, out: object, /
) -> np.ndarray | np.floating | None: ...
def l2_normalize(x: np.ndarray, out: np.ndarray, epsilon: float, /) -> None: ...
def l2_normalize_grad(x: np.ndarray, upstream: np.ndarray, dx: np.ndarray, epsilon: float, /) -> None: ...
def cosine_grad(
    x1: np.ndarray,
    x2: np.ndarray,
    upstream: np.ndarray,
    dx1: np.ndarray | None,
    dx2: np.ndarray | None,
    cos: np.ndarray | None,
    epsilon: float,
    /,
) -> None: ...
def pairwise_cosine(x: np.ndarray, y: np.ndarray, out: np.ndarray, epsilon: float, /) -> None: ...
def top_k(
    queries: np.ndarray,
    corpus: np.ndarray,
    scores: np.ndarray,
    indices: np.ndarray,
    epsilon: float,
    assume_normalized: bool,
    exclude_indptr: np.ndarray | None = ...,
    exclude_indices: np.ndarray | None = ...,
    exclude_self: bool = ...,
    method: int = ...,
    /,
) -> None: ...
def merge_top_k(
    scores_parts: Sequence[np.ndarray],
    indices_parts: Sequence[np.ndarray],
    out_scores: np.ndarray,
    out_indices: np.ndarray,
    /,
) -> None: ...
def pairs_above(
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    diagonal: int,
    first_row: int,
    epsilon: float,
    /,
) -> tuple[int, int, int, bool]: ...
def set_num_threads(n: int, /) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, object]: ...
