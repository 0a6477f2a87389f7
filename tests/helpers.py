"""Helpers the test modules share (the tolerances and epsilons themselves are in swiftsim._contract).

TensorFlow is required when SWIFTSIM_REQUIRE_TF=1 or CI=true (``make test`` sets the former): a
missing TensorFlow then fails the run instead of skipping the parity tests; so does any other
module the tests load with :func:`require` (Dask, zarr, JAX), all of them in requirements-test.txt.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import numpy as np
import pytest

REQUIRE_TF = os.environ.get("SWIFTSIM_REQUIRE_TF") == "1" or os.environ.get("CI", "").lower() == "true"


def require(module: str) -> ModuleType:
    """Imports ``module``; skips the test when it is missing, or fails it when the test dependencies
    are required (SWIFTSIM_REQUIRE_TF/CI)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if REQUIRE_TF:
            pytest.fail(f"{module} is required by the tests (SWIFTSIM_REQUIRE_TF/CI): {exc}")
        pytest.skip(f"{module} is not installed")


def eps_of(dtype) -> float:
    """The machine epsilon of ``dtype`` (the spacing of its values at 1)."""
    return float(np.finfo(dtype).eps)
