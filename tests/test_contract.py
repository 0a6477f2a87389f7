"""swiftsim._contract, the numbers every test uses, against what docs/contract.md says they are."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from swiftsim import _contract

CONTRACT = (Path(__file__).resolve().parents[1] / "docs" / "contract.md").read_text()
DTYPES = ["float16", "bfloat16", "float32", "float64"]
_SUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    return np.dtype(name)


def number(cell: str) -> float:
    """A table cell's number: ``5e-3`` or a power of two written ``2⁻⁸``."""
    if cell.startswith("2") and len(cell) > 1 and cell[1] in "⁻⁰¹²³⁴⁵⁶⁷⁸⁹":
        return 2.0 ** int(cell[1:].translate(_SUPERSCRIPT))
    return float(cell)


def table_row(label: str) -> list[str]:
    """The cells after ``label`` in the contract's tolerance table."""
    (line,) = [row for row in CONTRACT.splitlines() if row.startswith(f"| {label} |")]
    return [cell.strip() for cell in line.strip("|").split("|")[1:]]


def test_value_tolerances_are_the_documented_ones():
    cells = table_row("a cosine, or a component of a normalised vector")
    assert [number(c) for c in cells] == [_contract.VALUE_TOL[dtype(d)] for d in DTYPES]


def test_gradient_factors_are_the_documented_ones():
    cells = table_row("a gradient component, per unit of `abs(u)·r`")
    assert [int(re.match(r"(\d+)·ε", c).group(1)) for c in cells] == [
        _contract.GRAD_ULPS[dtype(d)] for d in DTYPES
    ]


def test_bfloat16_tolerances_are_not_widened():
    bf = dtype("bfloat16")
    assert _contract.value_tol(bf, 4096) == 2.0**-8
    assert _contract.grad_tol_unit(bf, 4096) == 2 * 2.0**-7


def test_epsilons_are_the_documented_ones():
    assert _contract.KERAS2_EPSILON == 1e-12 and "`epsilon=1e-12` (the default)" in CONTRACT
    assert _contract.KERAS3_EPSILON == 1e-14 and "`epsilon=1e-14` reproduces Keras" in CONTRACT
    assert _contract.KERAS3_NORM_EPSILON**2 == pytest.approx(_contract.KERAS3_EPSILON, rel=1e-12)


@pytest.mark.parametrize("d,factor", [(1, 1.0), (256, 1.0), (1024, 2.0), (4096, 4.0)])
def test_tolerances_widen_with_the_square_root_of_the_length(d, factor):
    assert "`sqrt(D/256)`" in CONTRACT
    assert _contract.widen(d) == factor
    assert _contract.value_tol(np.float32, d) == 2e-6 * factor
    assert _contract.grad_tol_unit("float64", d) == 16 * 2.0**-52 * factor


def test_unknown_dtypes_have_no_tolerance():
    with pytest.raises(KeyError):
        _contract.value_tol(np.int32)
