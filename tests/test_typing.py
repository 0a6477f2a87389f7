"""The package's types: annotations inline, one stub (the extension's), and the example mypy checks.

``make lint`` runs ``mypy --strict`` on ``tests/typing_example.py`` and ``stubtest`` on the stub; here
the same example runs, so every type it asserts is also the type of the value at run time.
"""

from __future__ import annotations

from pathlib import Path

import swiftsim
from tests import typing_example

PACKAGE = Path(swiftsim.__file__).parent


def test_the_typed_example_runs_and_its_values_have_the_asserted_types():
    typing_example.check()


def test_only_the_extension_has_a_stub():
    """A .pyi beside a .py module shadows it for type checkers, and drifts from it."""
    stubs = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.pyi"))
    assert stubs == ["_swiftsim.pyi"]
    assert (PACKAGE / "py.typed").exists()
