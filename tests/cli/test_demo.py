"""``swiftsim demo``: every pattern next to TensorFlow, without it, and --plot without matplotlib."""

from __future__ import annotations

import sys

from tests.cli.helpers import assert_one_line_error, run


def test_demo_runs_every_pattern_next_to_tensorflow(tf, capsys, tmp_path):
    png = tmp_path / "loss.png"
    argv = ["demo", "--pairs", "3000", "--dim", "16", "--epochs", "2", "--no-progress", "--plot", png]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "tf.keras.backend.cosine_similarity does not exist" in out
    assert "-tf.keras.losses.cosine_similarity(a, b, axis=-1)" in out
    assert "np.shares_memory = True, True; C-contiguous: False" in out
    for section in ("1. Pairs", "2. Per-batch similarity matrices", "3. Recommender"):
        assert section in out
    assert out.count("TensorFlow") >= 4 and out.count("max |diff|") >= 4
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the reported differences are small: parse "max |diff| X" of the pattern rows
    diffs = [float(line.rsplit("max |diff| ", 1)[1]) for line in out.splitlines() if "max |diff| " in line]
    assert diffs and max(diffs) < 1e-5, diffs


def test_demo_without_tensorflow(capsys):
    code, out, err = run(
        ["demo", "--no-tf", "--pairs", "500", "--dim", "8", "--epochs", "1", "--no-progress"], capsys
    )
    assert code == 0, err
    assert "without TensorFlow" in out and "TF held-out" not in out


def test_demo_plot_without_matplotlib_fails_first(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run(["demo", "--no-tf", "--plot", tmp_path / "x.png"], capsys)
    assert_one_line_error(code, err, "demo", "matplotlib", "pip install")
    assert out == ""  # refused before doing any work
    assert not (tmp_path / "x.png").exists()
