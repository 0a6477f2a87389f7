"""``swiftsim topk``: against the float64 argsort, tile by tile, and its errors (one line, exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from swiftsim import ops
from swiftsim._contract import value_tol
from swiftsim.cli import common, topk
from tests.cli.helpers import assert_one_line_error, python_m, run


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


def test_the_running_merge_keeps_ties_to_the_lower_index():
    best = (np.array([[0.9, 0.5, 0.5]]), np.array([[3, 1, 7]]))
    new = (np.array([[0.9, 0.5, 0.2]]), np.array([[10, 8, 12]]))
    s, i = ops.merge_top_k([best, new], 4)  # what topk_tiled merges tiles with
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
    np.testing.assert_allclose(scores, want_s, rtol=0, atol=value_tol(dtype))
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
    bar = common.Progress(11, "t", enabled=False)
    scores, indices = topk.topk_tiled(queries, corpus, 5, 10, 1e-12, False, bar)
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


@pytest.mark.parametrize("tile", [3, 100])
def test_topk_with_k_beyond_the_corpus_pads_as_top_k_does(tmp_path, capsys, tile):
    # 7 corpus rows in two shards (4 + 3), k = 10: the last three positions of every query are
    # padding (index -1, NaN score), after the seven real candidates, exactly as ops.top_k gives them.
    rng = np.random.default_rng(5)
    queries = rng.standard_normal((3, 6)).astype(np.float32)
    corpus = rng.standard_normal((7, 6)).astype(np.float32)
    np.save(tmp_path / "q.npy", queries)
    np.save(tmp_path / "c.npy", corpus)
    (tmp_path / "shards").mkdir()
    np.save(tmp_path / "shards" / "a.npy", corpus[:4])
    np.save(tmp_path / "shards" / "b.npy", corpus[4:])
    want_s, want_i = ops.top_k(queries, corpus, 10)
    assert (want_i[:, 7:] == -1).all()
    for source in ("c.npy", "shards"):
        out = tmp_path / f"{source}.npz"
        argv = ["topk", tmp_path / "q.npy", tmp_path / source, "-k", 10, "-o", out, "--tile", tile]
        code, _, err = run([*argv, "--no-progress"], capsys)
        assert code == 0, err
        with np.load(out) as npz:
            np.testing.assert_array_equal(npz["indices"], want_i)
            np.testing.assert_array_equal(npz["scores"], want_s)  # NaN == NaN for assert_array_equal


def _bad_topk_cases(tmp_path: Path) -> dict[str, tuple[list, tuple[str, ...]]]:
    rng = np.random.default_rng(0)
    q, c = tmp_path / "q.npy", tmp_path / "c.npy"
    np.save(q, rng.standard_normal((4, 3)))
    np.save(c, rng.standard_normal((10, 3)))
    np.save(tmp_path / "c4.npy", rng.standard_normal((10, 4)))
    np.save(tmp_path / "c0.npy", np.zeros((0, 3)))
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
        "empty_corpus": (["topk", q, tmp_path / "c0.npy", "-k", 2, *out], ("no rows", "(0, 3)")),
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
        "empty_corpus",
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
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".swiftsim-")]


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
