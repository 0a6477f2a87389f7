"""Shared fixtures: the TensorFlow flavours the parity tests compare against.

TensorFlow is required when SWIFTSIM_REQUIRE_TF=1 or CI=true (the README's test command sets the
former): a missing TensorFlow then fails the run instead of skipping the parity tests.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

REQUIRE_TF = os.environ.get("SWIFTSIM_REQUIRE_TF") == "1" or os.environ.get("CI", "").lower() == "true"

# Absolute tolerances of the contract (API.md), widened by sqrt(D/256) for D > 256.
VALUE_TOL = {np.dtype(np.float16): 5e-3, np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}


def value_tol(dtype, d: int) -> float:
    return VALUE_TOL[np.dtype(dtype)] * max(1.0, (d / 256) ** 0.5)


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if REQUIRE_TF:
            pytest.fail(f"{module} is required for the parity tests (SWIFTSIM_REQUIRE_TF/CI): {exc}")
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="session")
def tf():
    """tensorflow (its tf.keras is Keras 3 on TF >= 2.16)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return _require("tensorflow")


@pytest.fixture(scope="session")
def tf_keras(tf):
    """Keras 2 (tf_keras): the tf.keras of TF 2.7-2.15, epsilon 1e-12."""
    return _require("tf_keras")


@pytest.fixture(scope="session")
def keras3(tf):
    """Keras 3 (epsilon 1e-7 on the norm = 1e-14 on the squared norm)."""
    keras = _require("keras")
    if not keras.__version__.startswith("3"):
        pytest.fail(f"keras 3 expected, found {keras.__version__}")
    return keras
