"""Process-wide settings: ``swiftsim.config``.

>>> import swiftsim
>>> swiftsim.config.working_memory  # bytes one result may take (4 GiB)
4294967296
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["Config", "config"]

DEFAULT_WORKING_MEMORY = 4 << 30


class Config:
    """Settings read by the functions that could allocate large results.

    Attributes
    ----------
    working_memory : int
        Bytes one result of :func:`swiftsim.ops.pairwise_cosine_similarity` may take before the call
        refuses (pass ``out=``, or iterate with :func:`swiftsim.ops.pairwise_chunks`, which sizes its
        row blocks to this budget). Default 4 GiB. Settable: ``swiftsim.config.working_memory = 2**30``.
    """

    __slots__ = ("_working_memory",)

    def __init__(self) -> None:
        self._working_memory = DEFAULT_WORKING_MEMORY

    @property
    def working_memory(self) -> int:
        return self._working_memory

    @working_memory.setter
    def working_memory(self, value: Any) -> None:
        self._working_memory = check_working_memory(value)

    def __repr__(self) -> str:
        return f"swiftsim.config(working_memory={self._working_memory})"


def check_working_memory(value: Any) -> int:
    """A positive number of bytes, as an int (TypeError for non-integers, ValueError for <= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"working_memory must be an integer number of bytes, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"working_memory must be a positive number of bytes, got {value}")
    return int(value)


config = Config()
