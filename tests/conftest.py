"""Shared fixtures: the TensorFlow flavours the parity tests compare against, computed in the same run.

The helpers the test modules import are in ``tests/helpers.py``; the tolerances and epsilons in
``swiftsim._contract``.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import require


@pytest.fixture(scope="session")
def tf():
    """tensorflow (its tf.keras is Keras 3 on TF >= 2.16)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return require("tensorflow")


@pytest.fixture(scope="session")
def tf_keras(tf):
    """Keras 2 (tf_keras): the tf.keras of TF 2.7-2.15, epsilon 1e-12 on the squared norm."""
    return require("tf_keras")


@pytest.fixture(scope="session")
def keras3(tf):
    """Keras 3 (epsilon 1e-7 on the norm = 1e-14 on the squared norm)."""
    keras = require("keras")
    if not keras.__version__.startswith("3"):
        pytest.fail(f"keras 3 expected, found {keras.__version__}")
    return keras
