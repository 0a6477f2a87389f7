"""``swiftsim pairs``: against ops.pairs_above and float64 brute force, block by block on a memory-mapped
corpus; its progress bar on a terminal, Ctrl-C, the memory budget and its errors (one line, exit 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from swiftsim import ops
from swiftsim._contract import value_tol
from swiftsim.cli import common, pairs
from tests.cli.helpers import assert_one_line_error, run


def corpus_with_duplicates(dtype, n=60, d=9, seed=0) -> np.ndarray:
    """Random rows, some repeated exactly (ties), a zero row and a NaN row."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x[40:45] = x[3]
    x[50] = x[17]
    x[21] = 0.0
    x[33, 4] = np.nan
    return x.astype(dtype)


def float64_pairs(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        unit = x / np.sqrt(np.maximum((x * x).sum(1, keepdims=True), 1e-12))
        s = unit @ unit.T
    r, c = np.nonzero(np.triu(s >= threshold, 1))
    return set(zip(r.tolist(), c.tolist(), strict=True))


@pytest.mark.parametrize("block", [1, 7, 60, None], ids=lambda b: f"block{b}")
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_pairs_is_pairs_above_of_the_whole_corpus(tmp_path, capsys, dtype, block):
    corpus = corpus_with_duplicates(dtype)
    np.save(tmp_path / "c.npy", corpus)
    argv = ["pairs", tmp_path / "c.npy", "--threshold", 0.3, "-o", tmp_path / "p.npz", "--no-progress"]
    code, out, err = run(argv + (["--block", block] if block else []), capsys)
    assert code == 0, err
    assert "pairs:" in out and "similarities/s" in out
    with np.load(tmp_path / "p.npz") as npz:
        assert sorted(npz.files) == ["cols", "rows", "scores", "threshold"]
        rows, cols, scores = npz["rows"], npz["cols"], npz["scores"]
        assert float(npz["threshold"]) == 0.3
    assert rows.dtype == cols.dtype == np.int64 and scores.dtype == dtype
    want = ops.pairs_above(corpus, threshold=0.3)
    for got, w in zip((rows, cols, scores), want, strict=True):
        np.testing.assert_array_equal(got, w)
    assert (rows < cols).all() and 33 not in rows and 33 not in cols
    assert {(3, 40), (40, 44), (17, 50)} <= set(zip(rows.tolist(), cols.tolist(), strict=True))
    tol = value_tol(dtype, 9)
    got = set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert float64_pairs(corpus, 0.3 + tol) <= got <= float64_pairs(corpus, 0.3 - tol)


def test_pairs_reads_the_memory_map_in_blocks():
    """Each step takes a block of rows and the rows after it, as views of the memory map."""
    data = corpus_with_duplicates(np.float32, n=103)

    class Corpus:  # records what every step asks for
        shape, dtype, ndim = data.shape, data.dtype, 2
        keys: list[slice] = []

        def __getitem__(self, key):
            self.keys.append(key)
            return data[key]

    corpus = Corpus()
    bar = common.Progress(11, "t", enabled=False)
    rows, cols, scores = pairs.pairs_blocked(corpus, 0.2, 1e-12, 10, 1 << 30, bar)  # type: ignore[arg-type]
    blocks = [k for k in corpus.keys if k.stop is not None]
    assert [(k.start, k.stop) for k in blocks] == [(i, min(i + 10, 103)) for i in range(0, 103, 10)]
    assert [k.start for k in corpus.keys if k.stop is None] == list(range(0, 103, 10))
    want = ops.pairs_above(data, threshold=0.2)
    for got, w in zip((rows, cols, scores), want, strict=True):
        np.testing.assert_array_equal(got, w)
    assert bar.done == 11 and "100% of the work" in bar.suffix


def test_pairs_on_a_corpus_without_pairs_or_rows(tmp_path, capsys):
    for name, corpus in {
        "none": np.eye(5, dtype=np.float32),
        "empty": np.empty((0, 4)),
        "one": np.ones((1, 3)),
    }.items():
        np.save(tmp_path / f"{name}.npy", corpus)
        code, out, err = run(
            ["pairs", tmp_path / f"{name}.npy", "--threshold", 0.5, "-o", tmp_path / "p.npz"], capsys
        )
        assert code == 0, err
        with np.load(tmp_path / "p.npz") as npz:
            assert npz["rows"].shape == npz["cols"].shape == npz["scores"].shape == (0,)
            assert npz["scores"].dtype == corpus.dtype


def test_pairs_working_memory_budget(tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.ones((30, 4), np.float32))  # 435 pairs of cosine 1, 20 bytes each
    argv = ["pairs", tmp_path / "c.npy", "--threshold", 0.5, "-o", tmp_path / "p.npz", "--block", 8]
    code, out, err = run([*argv, "--working-memory", 20 * 435 - 1], capsys)
    assert_one_line_error(code, err, "pairs", "--working-memory budget of 8699 bytes", "found so far")
    assert not (tmp_path / "p.npz").exists()
    code, out, err = run([*argv, "--working-memory", 20 * 435], capsys)
    assert code == 0, err
    with np.load(tmp_path / "p.npz") as npz:
        assert len(npz["rows"]) == 435


def _bad_pairs_cases(tmp_path: Path) -> dict[str, tuple[list, tuple[str, ...]]]:
    c = tmp_path / "c.npy"
    np.save(c, np.ones((10, 3), np.float32))
    np.save(tmp_path / "v.npy", np.ones(3))
    np.save(tmp_path / "i.npy", np.ones((10, 3), np.int64))
    np.save(tmp_path / "be.npy", np.ones((10, 3), ">f8"))
    (tmp_path / "text.npy").write_text("not an array\n")
    out = ["-o", tmp_path / "p.npz"]
    t = ["--threshold", 0.9]
    return {
        "missing": (["pairs", tmp_path / "nope.npy", *t, *out], ("no such file", "nope.npy")),
        "not_npy": (["pairs", tmp_path / "text.npy", *t, *out], ("text.npy",)),
        "rank": (["pairs", tmp_path / "v.npy", *t, *out], ("2-D", "(3,)")),
        "int_dtype": (["pairs", tmp_path / "i.npy", *t, *out], ("dtype int64", "astype(np.float32)")),
        "big_endian": (["pairs", tmp_path / "be.npy", *t, *out], ("dtype >f8", "native byte order")),
        "nan_threshold": (["pairs", c, "--threshold", "nan", *out], ("--threshold",)),
        "block": (["pairs", c, *t, "--block", 0, *out], ("--block",)),
        "working_memory": (["pairs", c, *t, "--working-memory", 0, *out], ("--working-memory",)),
        "epsilon": (["pairs", c, *t, "--epsilon", -1, *out], ("--epsilon",)),
        "out_dir": (["pairs", c, *t, "-o", tmp_path / "no" / "p.npz"], ("does not exist",)),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "not_npy",
        "rank",
        "int_dtype",
        "big_endian",
        "nan_threshold",
        "block",
        "working_memory",
        "epsilon",
        "out_dir",
    ],
)
def test_pairs_bad_inputs_are_one_line_and_exit_2(tmp_path, capsys, case):
    argv, needles = _bad_pairs_cases(tmp_path)[case]
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, err, "pairs", *needles)
    assert not (tmp_path / "p.npz").exists()


def test_pairs_needs_a_threshold(tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.ones((3, 2)))
    with pytest.raises(SystemExit) as exc:
        run(["pairs", tmp_path / "c.npy", "-o", tmp_path / "p.npz"], capsys)
    assert exc.value.code == 2
    assert "--threshold" in capsys.readouterr().err


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def test_pairs_draws_a_progress_bar_on_a_terminal(tmp_path):
    import pty

    np.save(tmp_path / "c.npy", corpus_with_duplicates(np.float32, n=400))
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "swiftsim", "pairs", str(tmp_path / "c.npy"), "--threshold", "0.5"]
    proc = subprocess.Popen(
        [*cmd, "-o", str(tmp_path / "p.npz"), "--block", "50"],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)
    stdout, _ = proc.communicate(timeout=120)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    screen = b"".join(chunks).decode()
    assert proc.returncode == 0, screen
    assert "pairs [" in screen and "8/8" in screen and "100% of the work" in screen, screen
    assert "pairs:" in stdout.decode()


def test_pairs_ctrl_c_stops_cleanly_and_writes_nothing(tmp_path):
    """A SIGINT while the kernel runs: exit status 130 within a moment, no output, no temporary file."""
    corpus = np.lib.format.open_memmap(tmp_path / "c.npy", mode="w+", dtype=np.float32, shape=(100_000, 128))
    rng = np.random.default_rng(0)
    for i in range(0, 100_000, 25_000):
        corpus[i : i + 25_000] = rng.standard_normal((25_000, 128), dtype=np.float32)
    corpus.flush()
    del corpus
    cmd = [sys.executable, "-m", "swiftsim", "pairs", str(tmp_path / "c.npy"), "--threshold", "0.9"]
    proc = subprocess.Popen(
        [*cmd, "-o", str(tmp_path / "p.npz"), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    time.sleep(1.5)
    assert proc.poll() is None, "the job finished before it could be interrupted"
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    took = time.perf_counter() - sent
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "swiftsim pairs: interrupted", err
    assert took < 1.0
    assert os.listdir(tmp_path) == ["c.npy"]
