"""``swiftsim compare``: passes on swiftsim, fails on perturbed implementations, checks the flavours.

TensorFlow is imported once per session by the ``tf`` fixture of conftest.py (skipped when missing,
unless SWIFTSIM_REQUIRE_TF=1); the inputs are small to keep the file fast.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from swiftsim import ops
from swiftsim.cli import compare
from tests.cli.helpers import assert_one_line_error, python_m, run

SMALL = ["compare", "--rows", "48", "--dim", "16", "--repeat", "1"]


def test_compare_passes_and_lists_every_op(tf, capsys):
    code, out, err = run(SMALL, capsys)
    assert code == 0, out + err
    for name in compare.SWIFTSIM:
        if name != "loss mean_with_sample_weight":  # Keras 2 has no such reduction
            assert f"\n{name} " in out, name
    assert "FAIL" not in out
    assert "Keras 2 (tf_keras" in out


@pytest.mark.parametrize(
    "flags", [["--keras", "3"], ["--epsilon", "1e-10"], ["--dtype", "float64"], ["--dtype", "float16"]]
)
def test_compare_flavours_and_dtypes_pass(tf, capsys, flags):
    code, out, err = run(SMALL + flags, capsys)
    assert code == 0, out + err
    if flags[0] != "--dtype":
        assert "loss mean_with_sample_weight" in out  # a Keras 3 reduction


def _perturbed(name: str, fn):
    original = compare.SWIFTSIM[name]
    return lambda c: fn(np.asarray(original(c)), c)


@pytest.mark.parametrize(
    "name, perturb",
    [
        # 2.5x the float32 value tolerance of 2e-6
        ("cosine_similarity", lambda v, c: v + np.float32(5e-6)),
        # one value of the whole matrix, 5x the tolerance
        (
            "pairwise_cosine_similarity",
            lambda v, c: v + (np.arange(v.size).reshape(v.shape) == 7) * np.float32(1e-5),
        ),
        # a relative 1e-4 on the gradient (its tolerance is 16·ε·|u|·r ≈ 2e-6·|u|·r)
        ("cosine_similarity_grad dx2", lambda v, c: v * np.float32(1 + 1e-4)),
        # the tolerance of a sum is 2e-6·Σ|w| ≈ 1e-4 here
        ("loss sum", lambda v, c: v + np.float32(1e-3)),
        # a weighted mean: 2e-6·Σ|w|/|Σw| = 2e-6
        ("metrics.CosineSimilarity", lambda v, c: v + 1e-5),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_compare_fails_on_a_perturbed_implementation(tf, capsys, monkeypatch, name, perturb):
    monkeypatch.setitem(compare.SWIFTSIM, name, _perturbed(name, perturb))
    code, out, _ = run(SMALL, capsys)
    assert code == 1
    failing = [
        line.split("  ")[0].strip()
        for line in out.splitlines()
        if "FAIL" in line and not line.startswith("FAILED")
    ]
    assert failing == [name], out
    assert f"FAILED: 1 op(s) outside the contract's tolerance: {name}" in out


def test_compare_tolerates_a_perturbation_inside_the_tolerance(tf, capsys, monkeypatch):
    name = "cosine_similarity"
    monkeypatch.setitem(compare.SWIFTSIM, name, _perturbed(name, lambda v, c: v + np.float32(5e-7)))
    code, out, _ = run(SMALL, capsys)
    assert code == 0, out


def test_compare_checks_the_flavours_epsilon(tf, capsys, monkeypatch, tmp_path):
    # Rows of norm 3e-7 are clamped by Keras 2's ε (1e-12 on |x|²) and not by Keras 3's (1e-14).
    rng = np.random.default_rng(2)
    x1 = rng.standard_normal((16, 8)).astype(np.float32)
    x1[::4] *= 3e-7 / np.linalg.norm(x1[::4], axis=1, keepdims=True)
    x2 = rng.standard_normal((16, 8)).astype(np.float32)
    np.save(tmp_path / "a.npy", x1)
    np.save(tmp_path / "b.npy", x2)
    files = ["compare", "--x1", tmp_path / "a.npy", "--x2", tmp_path / "b.npy", "--repeat", "1"]
    for flags in ([], ["--keras", "3"], ["--epsilon", "1e-14"]):
        code, out, err = run(files + flags, capsys)
        assert code == 0, out + err
    # an implementation that ignores the flavour (always Keras 2's ε) fails against Keras 3
    monkeypatch.setitem(
        compare.SWIFTSIM, "cosine_similarity", lambda c: ops.cosine_similarity(c.x1, c.x2, c.axis, 1e-12)
    )
    code, out, _ = run([*files, "--keras", "3"], capsys)
    assert code == 1 and "cosine_similarity" in out.splitlines()[-1]


def test_compare_on_files_with_an_axis_and_broadcasting(tf, capsys, tmp_path):
    rng = np.random.default_rng(3)
    np.save(tmp_path / "a.npy", rng.standard_normal((3, 6, 4)))
    np.save(tmp_path / "b.npy", rng.standard_normal((1, 6, 4)))
    argv = ["compare", "--x1", tmp_path / "a.npy", "--x2", tmp_path / "b.npy", "--axis", "1", "--repeat", "1"]
    code, out, err = run(argv, capsys)
    assert code == 0, out + err
    assert "x1 (3, 6, 4) float64" in out


def test_compare_without_tensorflow_says_how_to_install_it(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow → ImportError
    code, out, err = run(["compare"], capsys)
    assert_one_line_error(code, err, "compare", "pip install tensorflow-cpu tf_keras")
    assert out == ""


def test_compare_without_tensorflow_as_a_process():
    code = (
        "import sys; sys.modules['tensorflow'] = None; from swiftsim.cli import main; "
        "sys.exit(main(['compare']))"
    )
    proc = python_m(code=code)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "swiftsim compare: error: compare needs TensorFlow, which is not installed: "
        "pip install tensorflow-cpu tf_keras"
    ]


def test_compare_bad_inputs_are_one_line_and_exit_2(tf, capsys, tmp_path):
    np.save(tmp_path / "a.npy", np.ones((4, 3)))
    np.save(tmp_path / "b.npy", np.ones((5, 3)))
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    cases = [
        (["--x1", a, "--x2", b], ("(4, 3)", "(5, 3)")),
        (["--x1", a], ("both --x1 and --x2",)),
        (["--x1", a, "--x2", a, "--axis", "2"], ("axis 2",)),
        (["--x1", a, "--x2", tmp_path / "none.npy"], ("no such file",)),
        (["--epsilon", "-1"], ("--epsilon",)),
    ]
    for flags, needles in cases:
        code, _, err = run(["compare", *flags], capsys)
        assert_one_line_error(code, err, "compare", *needles)
