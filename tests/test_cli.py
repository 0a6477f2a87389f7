"""The ``swiftsim`` command: info, demo, compare and topk, in process (``main([...])``) and as a process.

Reference values come from elsewhere than the code under test: float64 NumPy (top-k order, finite
differences), TensorFlow/Keras (Adam, the recommender's twin) or hand-made ties. The demo and
``compare`` run on small inputs to keep the file well under a minute; TensorFlow is imported once
per session by the ``tf`` fixture of conftest.py (skipped when missing, unless SWIFTSIM_REQUIRE_TF=1).
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swiftsim import __main__ as cli
from swiftsim import _cli_common, _cli_compare, _cli_demo, _cli_recsys, _cli_topk, ops


def run(argv, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, command: str, *needles: str) -> None:
    """Exit status 2 and exactly one line on stderr, naming the command, without a traceback."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"swiftsim {command}: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def python_m(*args: str, code: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "swiftsim", *args]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


# ---------------------------------------------------------------------------------------------------
# The entry points, --help, info


def test_console_script_points_to_main():
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="swiftsim")
    assert script.value == "swiftsim.__main__:main"
    assert script.load() is cli.main


@pytest.mark.parametrize(
    "command", [[], ["info"], ["demo"], ["compare"], ["topk"]], ids=lambda c: c[0] if c else "top"
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
        for sub in ("info", "demo", "compare", "topk"):
            assert sub in out


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    assert "required" in capsys.readouterr().err


def test_info_as_a_process():
    proc = python_m("info")
    assert proc.returncode == 0, proc.stderr
    import swiftsim

    info = swiftsim.build_info()
    lines = dict(line.strip().split(": ", 1) for line in proc.stdout.splitlines())
    assert lines["swiftsim"] == swiftsim.__version__
    assert lines["Swift"] == info["swift_version"]
    assert lines["SIMD width"] == f"{info['simd_bits']} bits"
    assert lines["CPU target"].startswith(info["target_cpu"])
    assert "float16, float32, float64" in lines["dtypes"]
    assert lines["threads"].startswith(str(swiftsim.get_num_threads()))


def test_info_follows_the_thread_setting(capsys):
    import swiftsim

    before = swiftsim.get_num_threads()
    try:
        swiftsim.set_num_threads(1)
        code, out, _ = run(["info"], capsys)
    finally:
        swiftsim.set_num_threads(before)
    assert code == 0
    assert "threads: 1 (default" in out


# ---------------------------------------------------------------------------------------------------
# Progress bar and .npy loading


def test_progress_bar_draws_and_ends_its_line():
    stream = io.StringIO()
    bar = _cli_common.Progress(4, "work", enabled=True, stream=stream, width=8)
    for _ in range(4):
        bar.update(1, "x")
    bar.close()
    text = stream.getvalue()
    assert "\rwork [########] 4/4" in text
    assert text.endswith("\n")
    quiet = io.StringIO()
    with _cli_common.Progress(4, "work", enabled=False, stream=quiet) as bar:
        bar.update(4)
    assert quiet.getvalue() == ""


def test_load_npy_is_memory_mapped_and_read_only(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(12.0).reshape(3, 4))
    arr = _cli_common.load_npy(str(path), "x")
    assert isinstance(arr, np.memmap)
    assert not arr.flags.writeable


# ---------------------------------------------------------------------------------------------------
# topk


def exact_topk(queries: np.ndarray, corpus: np.ndarray, k: int):
    """The reference: float64 matmul of the normalised rows, np.argsort(-s, kind="stable")."""

    def unit(x):
        x = np.asarray(x, np.float64)
        return x / np.sqrt(np.maximum((x * x).sum(1, keepdims=True), 1e-12))

    scores = unit(queries) @ unit(corpus).T
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, idx, 1), idx


def tied_inputs(dtype, seed=0):
    """Queries (7, 5) and a corpus (23, 5) whose rows 18-22 repeat rows 0-4 (exact ties) with a zero row."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((18, 5))
    base[9] = 0.0
    corpus = np.vstack([base, base[:5]]).astype(dtype)
    queries = rng.standard_normal((7, 5)).astype(dtype)
    queries[3] = corpus[2]  # best matches: rows 2 and 20, tied
    return queries, corpus


def test_merge_keeps_ties_to_the_lower_index():
    best_s = np.array([[0.9, 0.5, 0.5]])
    best_i = np.array([[3, 1, 7]])
    new_s = np.array([[0.9, 0.5, 0.2]])
    new_i = np.array([[10, 8, 12]])
    s, i = _cli_topk.merge_topk(best_s, best_i, new_s, new_i, 4)
    np.testing.assert_array_equal(s, [[0.9, 0.9, 0.5, 0.5]])
    np.testing.assert_array_equal(i, [[3, 10, 1, 7]])


@pytest.mark.parametrize("tile", [1, 4, 7, 23, None], ids=lambda t: f"tile{t}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_topk_matches_argsort_of_the_float64_matmul(tmp_path, capsys, dtype, tile):
    queries, corpus = tied_inputs(dtype)
    np.save(tmp_path / "q.npy", queries)
    np.save(tmp_path / "c.npy", corpus)
    k = 6
    argv = [
        "topk",
        tmp_path / "q.npy",
        tmp_path / "c.npy",
        "-k",
        k,
        "-o",
        tmp_path / "out.npz",
        "--no-progress",
    ]
    code, out, err = run(argv + (["--tile", tile] if tile else []), capsys)
    assert code == 0, err
    assert "corpus rows/s" in out
    want_s, want_i = exact_topk(queries, corpus, k)
    with np.load(tmp_path / "out.npz") as npz:
        assert sorted(npz.files) == ["indices", "scores"]
        scores, indices = npz["scores"], npz["indices"]
    assert indices.dtype == np.int64 and scores.dtype == dtype
    np.testing.assert_array_equal(indices, want_i)
    np.testing.assert_allclose(scores, want_s, rtol=0, atol=2e-6 if dtype == np.float32 else 1e-12)
    assert indices[3, 0] == 2 and indices[3, 1] == 20  # the tie, lower index first


def test_topk_reads_the_corpus_one_tile_at_a_time():
    rng = np.random.default_rng(5)
    queries = rng.standard_normal((9, 8)).astype(np.float32)
    data = rng.standard_normal((103, 8)).astype(np.float32)

    class Corpus:  # records the rows of every read
        shape, dtype = data.shape, data.dtype
        reads: list[int] = []

        def __getitem__(self, key):
            rows = data[key]
            self.reads.append(rows.shape[0])
            return rows

    corpus = Corpus()
    bar = _cli_common.Progress(11, "t", enabled=False)
    scores, indices = _cli_topk.topk_tiled(queries, corpus, 5, 10, 1e-12, False, bar)
    assert max(corpus.reads) == 10 and sum(corpus.reads) == 103
    _, want_i = exact_topk(queries, data, 5)
    np.testing.assert_array_equal(indices, want_i)
    whole_s, whole_i = ops.top_k(queries, data, 5)  # one call over everything gives the same
    np.testing.assert_array_equal(indices, whole_i)
    np.testing.assert_array_equal(scores, whole_s)


def test_topk_assume_normalized(tmp_path, capsys):
    queries, corpus = tied_inputs(np.float64, seed=3)
    corpus[9] = 1.0  # no zero row: unit rows below
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    np.save(tmp_path / "q.npy", unit(queries))
    np.save(tmp_path / "c.npy", unit(corpus))
    argv = ["topk", tmp_path / "q.npy", tmp_path / "c.npy", "-k", 4, "-o", tmp_path / "o.npz", "--tile", 5]
    code, _, err = run([*argv, "--assume-normalized", "--no-progress"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "o.npz") as npz:
        np.testing.assert_array_equal(npz["indices"], exact_topk(queries, corpus, 4)[1])


def _bad_topk_cases(tmp_path: Path) -> dict[str, tuple[list, tuple[str, ...]]]:
    rng = np.random.default_rng(0)
    q, c = tmp_path / "q.npy", tmp_path / "c.npy"
    np.save(q, rng.standard_normal((4, 3)))
    np.save(c, rng.standard_normal((10, 3)))
    np.save(tmp_path / "c4.npy", rng.standard_normal((10, 4)))
    np.save(tmp_path / "c3d.npy", rng.standard_normal((2, 10, 3)))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    np.savez(tmp_path / "arch.npz", a=np.ones(3))
    (tmp_path / "text.npy").write_text("not an array\n")
    out = ["-o", tmp_path / "o.npz"]
    return {
        "missing": (["topk", tmp_path / "nope.npy", c, "-k", 2, *out], ("no such file", "nope.npy")),
        "not_npy": (["topk", tmp_path / "text.npy", c, "-k", 2, *out], ("text.npy",)),
        "npz": (["topk", q, tmp_path / "arch.npz", "-k", 2, *out], (".npz archive",)),
        "pickle": (["topk", q, tmp_path / "obj.npy", "-k", 2, *out], ("obj.npy",)),
        "strings": (["topk", q, tmp_path / "str.npy", "-k", 2, *out], ("dtype <U1",)),
        "directory": (["topk", tmp_path, c, "-k", 2, *out], ("directory",)),
        "features": (["topk", q, tmp_path / "c4.npy", "-k", 2, *out], ("(4, 3)", "(10, 4)")),
        "rank": (["topk", q, tmp_path / "c3d.npy", "-k", 2, *out], ("2-D", "(2, 10, 3)")),
        "k_too_big": (["topk", q, c, "-k", 11, *out], ("corpus size 10",)),
        "k_zero": (["topk", q, c, "-k", 0, *out], ("-k",)),
        "tile": (["topk", q, c, "-k", 2, "--tile", 0, *out], ("--tile",)),
        "out_dir": (["topk", q, c, "-k", 2, "-o", tmp_path / "no" / "o.npz"], ("does not exist",)),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "not_npy",
        "npz",
        "pickle",
        "strings",
        "directory",
        "features",
        "rank",
        "k_too_big",
        "k_zero",
        "tile",
        "out_dir",
    ],
)
def test_topk_bad_inputs_are_one_line_and_exit_2(tmp_path, capsys, case):
    argv, needles = _bad_topk_cases(tmp_path)[case]
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, "topk", *needles)
    assert not (tmp_path / "o.npz").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".swiftsim-topk-")]


def test_topk_as_a_process_bad_shape_and_success(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "q.npy", rng.standard_normal((3, 4)).astype(np.float32))
    np.save(tmp_path / "c.npy", rng.standard_normal((50, 4)).astype(np.float32))
    np.save(tmp_path / "bad.npy", rng.standard_normal((50, 5)).astype(np.float32))
    proc = python_m(
        "topk", str(tmp_path / "q.npy"), str(tmp_path / "bad.npy"), "-k", "3", "-o", str(tmp_path / "o.npz")
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    proc = python_m(
        "topk", str(tmp_path / "q.npy"), str(tmp_path / "c.npy"), "-k", "3", "-o", str(tmp_path / "o.npz")
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "o.npz") as npz:
        np.testing.assert_array_equal(
            npz["indices"], exact_topk(np.load(tmp_path / "q.npy"), np.load(tmp_path / "c.npy"), 3)[1]
        )


# ---------------------------------------------------------------------------------------------------
# compare


SMALL = ["compare", "--rows", "48", "--dim", "16", "--repeat", "1"]


def test_compare_passes_and_lists_every_op(tf, capsys):
    code, out, err = run(SMALL, capsys)
    assert code == 0, out + err
    for name in _cli_compare.SWIFTSIM:
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
    original = _cli_compare.SWIFTSIM[name]
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
    monkeypatch.setitem(_cli_compare.SWIFTSIM, name, _perturbed(name, perturb))
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
    monkeypatch.setitem(_cli_compare.SWIFTSIM, name, _perturbed(name, lambda v, c: v + np.float32(5e-7)))
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
        _cli_compare.SWIFTSIM, "cosine_similarity", lambda c: ops.cosine_similarity(c.x1, c.x2, c.axis, 1e-12)
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
        "import sys; sys.modules['tensorflow'] = None; from swiftsim.__main__ import main; "
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


# ---------------------------------------------------------------------------------------------------
# The recommender


def test_recommender_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    user, item = rng.standard_normal((5, 4)), rng.standard_normal((6, 4))
    u, i = np.array([0, 1, 1, 4, 0]), np.array([2, 2, 5, 0, 2])  # repeated rows and pairs
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    _, g_user, g_item = _cli_recsys.mse_and_grads(user, item, u, i, y, 1e-12)

    def loss(uu, ii):
        a, b = uu[u], ii[i]
        c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        return np.mean((c - y) ** 2)

    h = 1e-6
    for table, grad, which in ((user, g_user, 0), (item, g_item, 1)):
        num = np.zeros_like(table)
        for idx in np.ndindex(table.shape):
            plus, minus = table.copy(), table.copy()
            plus[idx] += h
            minus[idx] -= h
            args_p = (plus, item) if which == 0 else (user, plus)
            args_m = (minus, item) if which == 0 else (user, minus)
            num[idx] = (loss(*args_p) - loss(*args_m)) / (2 * h)
        np.testing.assert_allclose(grad, num, atol=1e-8)
    assert not g_user[[2, 3]].any()  # users never in the batch get no gradient


def test_numpy_adam_is_keras_adam(tf):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) * 10.0**-k for k in range(6)]  # down to tiny gradients
    ours = w0.copy()
    adam = _cli_recsys.Adam([ours], lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7)
    var = keras.Variable(w0, dtype="float64")
    opt = keras.optimizers.Adam(learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    for g in grads:
        adam.step([g])
        opt.apply_gradients([(tf.constant(g), var)])
    # Keras's bias-corrected step size comes out 6.7e-6 smaller (relative) even for float64 variables
    # (float32 scalars inside), so each step of size <= lr may differ by ~lr·1e-5: 6 steps, 6·0.05·2e-5.
    # A formula error (no bias correction, ε inside the sqrt, β's swapped) differs by 1e-3 or more.
    np.testing.assert_allclose(ours, np.asarray(var), rtol=0, atol=6e-6)
    assert np.abs(ours - w0).max() > 0.1  # it did move


def test_recommender_learns(capsys):
    result = _cli_demo.pattern_recommender(0, 6, None, progress=False)
    held = result.ours.held_loss
    # Random unit-ish embeddings give cos ≈ 0, so the held-out MSE starts near 0.5·1 + 0.5·0 plus the
    # spread of cos; learning must take it well below half of that.
    assert 0.45 < held[0] < 0.7
    assert held[-1] < 0.45 * held[0]
    assert all(b < a for a, b in zip(result.ours.train_loss, result.ours.train_loss[1:], strict=False))
    assert result.baseline == pytest.approx(
        10 / (result.cfg.n_items - (result.cfg.positives - result.cfg.held_out))
    )
    assert result.recall > 5 * result.baseline
    out = capsys.readouterr().out
    assert "recall@10" in out and "train items excluded" in out


def test_recommender_swiftsim_and_tensorflow_agree_epoch_by_epoch(tf, capsys):
    result = _cli_demo.pattern_recommender(0, 5, tf, progress=False)
    ours, theirs = result.ours, result.theirs
    assert theirs is not None and result.cfg.epsilon == _cli_demo._keras_eps(tf)
    # Tolerance. Both runs do the same float32 operations (Adam's step size in float64 then float32 on
    # both sides), in different orders: the cosine's norms and dot products, its gradient, the
    # scatter-add of repeated rows, the loss's mean. Each step therefore differs by rounding (~1e-7
    # relative), and Adam's scale-free m/(√v + ε) can turn a rounding difference in a near-zero
    # gradient into a larger step difference; 240 steps accumulate these. Measured over seeds 0-2:
    # at most 8e-8 on the losses and 8e-7 on the weights (|w| <= 0.9). The tolerances are 25x that;
    # a learning rate 0.1% off already moves the held-out loss by 6e-5 (next test).
    np.testing.assert_allclose(ours.train_loss, theirs.train_loss, rtol=0, atol=2e-6)
    np.testing.assert_allclose(ours.held_loss, theirs.held_loss, rtol=0, atol=2e-6)
    np.testing.assert_allclose(ours.user, theirs.user, rtol=0, atol=2e-5)
    np.testing.assert_allclose(ours.item, theirs.item, rtol=0, atol=2e-5)
    assert result.recall_tf == pytest.approx(result.recall, abs=0.01)
    assert ours.held_loss[-1] < 0.5 * ours.held_loss[0]  # and the shared trajectory learns


def test_recommender_tolerance_detects_a_slightly_different_learning_rate(tf):
    # The agreement test above can fail: a learning rate 0.1% higher on the TF side is far outside it.
    cfg = _cli_recsys.RecConfig(epochs=2)
    data = _cli_recsys.make_data(cfg)
    ours = _cli_recsys.train_swiftsim(cfg, data)
    theirs = _cli_recsys.train_tensorflow(tf, _cli_recsys.RecConfig(epochs=2, lr=cfg.lr * 1.001), data)
    assert np.max(np.abs(np.subtract(ours.held_loss, theirs.held_loss))) > 10 * 2e-6


# ---------------------------------------------------------------------------------------------------
# demo


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
