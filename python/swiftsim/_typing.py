"""Type aliases of the public signatures; what they name is for type checkers and has no runtime role.

The overloads built from them give array results the types of their inputs: a float32 matrix in, a
float32 array out; ``out=`` in, the same ``out`` back. A cosine of two 1-D vectors is a NumPy scalar,
so only inputs whose type says they have at least two axes (an ``NDArray`` of unknown shape counts)
type their cosines as arrays; 1-D inputs typed as such give a scalar, other inputs (lists) a union.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

#: A float scalar type, solved from an input's dtype (``np.float32`` for a float32 array).
F = TypeVar("F", bound=np.floating[Any])
#: The type of an ``out=`` array, returned as given.
ArrayT = TypeVar("ArrayT", bound=np.ndarray[Any, Any])


def _named(name: str, value: Any) -> Any:
    """``value`` as an alias that prints as ``name`` (so the API reference shows ``ArrayLike``, not
    its twenty-line expansion), when ``typing_extensions`` is there to make one; else ``value``."""
    try:
        from typing_extensions import TypeAliasType
    except ImportError:  # pragma: no cover - the aliases only matter to documentation tools
        return value
    return TypeAliasType(name, value)


if TYPE_CHECKING:
    from typing import TypeAlias

    from numpy.typing import ArrayLike as ArrayLike

    #: A float array of any float dtype.
    Floats: TypeAlias = NDArray[np.floating[Any]]
    #: Every ``reduction`` a loss accepts.
    Reduction: TypeAlias = (
        Literal["sum_over_batch_size", "auto", "mean", "sum", "mean_with_sample_weight", "none"] | None
    )
else:
    ArrayLike = _named("ArrayLike", npt.ArrayLike)
    Floats = _named("Floats", NDArray[np.floating[Any]])
    Reduction = _named(
        "Reduction",
        Literal["sum_over_batch_size", "auto", "mean", "sum", "mean_with_sample_weight", "none"] | None,
    )


class BuildInfo(TypedDict):
    """What :func:`swiftsim.build_info` returns."""

    version: str
    swift_version: str
    variant: str  # which per-CPU build was loaded (x86_64_v4, x86_64_v3, ...)
    target_cpu: str
    simd_bits: int
    kernels: dict[str, str]
    cpu_features: list[str]
    dtypes: list[str]
    num_threads: int
    default_num_threads: int


if TYPE_CHECKING:
    from typing import TypeAlias

    from typing_extensions import Unpack

    #: An array typed as one vector (shape ``tuple[int]``) of the float type ``F``.
    Vector: TypeAlias = np.ndarray[tuple[int], np.dtype[F]]
    #: An array of ``F`` typed with no axes.
    Scalar0D: TypeAlias = np.ndarray[tuple[()], np.dtype[F]]
    #: An array of ``F`` with at least one axis, or of unknown shape.
    AtLeast1D: TypeAlias = np.ndarray[tuple[int, Unpack[tuple[int, ...]]], np.dtype[F]]
    #: An array of ``F`` with at least two axes, or of unknown shape.
    AtLeast2D: TypeAlias = np.ndarray[tuple[int, int, Unpack[tuple[int, ...]]], np.dtype[F]]
