"""The README's tour runs as written, and its shapes are what it says."""

from __future__ import annotations

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_tour_runs_and_matches_a_float64_reference():
    text = README.read_text()
    code = re.search(r"## A 30-second tour\n\n```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)  # noqa: S102 - the project's own README
    a, b = scope["a"].astype(np.float64), scope["b"].astype(np.float64)
    ref = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    np.testing.assert_allclose(scope["ops"].cosine_similarity(scope["a"], scope["b"]), ref, atol=2e-6)
    assert scope["grad"].shape == scope["b"].shape and scope["idx"].shape == (10, 5)
    np.testing.assert_array_equal(scope["idx"][:, 0], np.arange(10))  # each row is its own best match
