"""The ``swiftsim`` command's entry points (console script, ``python -m swiftsim``) and its --help."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from swiftsim import cli
from tests.cli.helpers import python_m


def test_console_script_points_to_main():
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="swiftsim")
    assert script.value == "swiftsim.__main__:main"
    assert script.load() is cli.main


@pytest.mark.parametrize(
    "command", [[], ["info"], ["demo"], ["compare"], ["topk"], ["pairs"]], ids=lambda c: c[0] if c else "top"
)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: swiftsim {command[0] if command else ''}".rstrip())
    if command:
        assert "options:" in out
    else:
        for sub in ("info", "demo", "compare", "topk", "pairs"):
            assert sub in out


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    assert "required" in capsys.readouterr().err


def test_every_subpackage_ships_in_the_wheel():
    """pyproject.toml lists its packages explicitly: a subpackage missing there is missing from wheels."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parents[2]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    source = root / "python"
    found = {".".join(p.parent.relative_to(source).parts) for p in (source / "swiftsim").rglob("__init__.py")}
    assert found <= listed, found - listed


def test_python_m_swiftsim_is_the_cli():
    proc = python_m("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: swiftsim")
