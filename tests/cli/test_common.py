"""The pieces the subcommands share: the progress bar and .npy loading."""

from __future__ import annotations

import io

import numpy as np

from swiftsim.cli import common


def test_progress_bar_draws_and_ends_its_line():
    stream = io.StringIO()
    bar = common.Progress(4, "work", enabled=True, stream=stream, width=8)
    for _ in range(4):
        bar.update(1, "x")
    bar.close()
    text = stream.getvalue()
    assert "\rwork [########] 4/4" in text
    assert text.endswith("\n")
    quiet = io.StringIO()
    with common.Progress(4, "work", enabled=False, stream=quiet) as bar:
        bar.update(4)
    assert quiet.getvalue() == ""


def test_load_npy_is_memory_mapped_and_read_only(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(12.0).reshape(3, 4))
    arr = common.load_npy(str(path), "x")
    assert isinstance(arr, np.memmap)
    assert not arr.flags.writeable
