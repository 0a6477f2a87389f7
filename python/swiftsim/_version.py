"""The version of swiftsim, written here alone (pyproject.toml reads it from this file)."""

__version__ = "0.1.0"
