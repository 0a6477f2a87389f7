"""swiftsim.dask on a real ``distributed.LocalCluster`` (2 worker processes, 1 thread each).

Every result is compared, bit for bit, with the in-memory function of ``swiftsim.ops`` computed in
the same run on the same arrays. The cluster's workers are started with ``OMP_NUM_THREADS=2`` so that
their default thread count differs from their budget (1 thread each): the budget test can fail.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import swiftsim
from swiftsim import ops
from tests.helpers import require

# Skipped without Dask, except under `make test`/CI, where a missing Dask fails the run.
distributed = require("distributed")
da = require("dask.array")
import dask  # noqa: E402

sd = require("swiftsim.dask")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    environ = dict(os.environ)  # a nanny writes OMP_NUM_THREADS=1 and the like into its own process's
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env={"OMP_NUM_THREADS": "2"},
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        os.environ.clear()
        os.environ.update(environ)


def corpus(n: int = 300, d: int = 24, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    """Random rows with NaN rows, a zero row, and the same row repeated in far-apart places (ties
    that cross any chunking)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    x[n // 3] = np.nan
    x[n - 2, 3] = np.inf
    x[n // 2] = 0
    for r in (n // 4, n // 2 + 7, n - 1):
        x[r] = x[10]
    return x


def equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


CHUNKINGS = {
    "one-chunk": lambda n: (n,),
    "uneven": lambda n: (7, 100, 3, n - 110),
    "smaller-than-k": lambda n: (3,) * (n // 3) + ((n % 3,) if n % 3 else ()),
}


# ---------------------------------------------------------------------------------------------------
# The cluster itself
# ---------------------------------------------------------------------------------------------------


def test_importing_swiftsim_does_not_import_dask():
    code = (
        "import sys, swiftsim, swiftsim.ops, swiftsim.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_the_workers_import_this_swiftsim(client):
    files = client.run(lambda: __import__("swiftsim").__file__)
    assert len(files) == 2
    assert set(files.values()) == {swiftsim.__file__}


def test_tasks_use_the_workers_thread_budget(client):
    defaults = client.run(lambda: __import__("swiftsim")._threads.default_threads())
    assert set(defaults.values()) == {2}  # what the workers would use on their own
    client.run(lambda: __import__("swiftsim").set_num_threads(2))
    x = corpus()
    c = da.from_array(x, chunks=50)
    s, i = sd.top_k(x[:20], c, 5)
    dask.compute(s, i)
    assert set(client.run(lambda: __import__("swiftsim").get_num_threads()).values()) == {1}


def test_the_thread_budget_is_none_outside_a_worker():
    assert sd.worker_threads() is None


# ---------------------------------------------------------------------------------------------------
# top_k
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunking", list(CHUNKINGS), ids=str)
@pytest.mark.parametrize("k", [1, 5, 40, 400])
@pytest.mark.parametrize("exclude_self", [False, True], ids=["all", "exclude_self"])
def test_top_k_is_bitwise_the_in_memory_one(client, chunking, k, exclude_self):
    x = corpus()
    queries = x[:60]
    c = da.from_array(x, chunks=(CHUNKINGS[chunking](len(x)), (8, 16)))  # a chunked d is rechunked
    s, i = dask.compute(*sd.top_k(queries, c, k, exclude_self=exclude_self, split_every=3))
    s0, i0 = ops.top_k(queries, x, k, exclude_self=exclude_self)
    assert equal(s, s0) and equal(i, i0)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_top_k_with_chunked_queries(client, dtype):
    x = corpus(dtype=dtype)
    q = da.from_array(x[40:200], chunks=((13, 100, 47), -1))
    c = da.from_array(x, chunks=(40, -1))
    for split_every in (None, 2):
        s, i = sd.top_k(q, c, 9, exclude_self=True, split_every=split_every)
        assert s.chunks == ((13, 100, 47), (9,))
        s, i = dask.compute(s, i)
        s0, i0 = ops.top_k(x[40:200], x, 9, exclude_self=True)  # query r never returns corpus row r
        assert equal(s, s0) and equal(i, i0)


def test_top_k_of_one_query_and_normalized_rows(client):
    x = ops.l2_normalize(corpus()[:250])
    x[83] = x[10]
    c = da.from_array(x, chunks=33)
    s, i = dask.compute(*sd.top_k(x[10], c, 6, assume_normalized=True))
    s0, i0 = ops.top_k(x[10], x, 6, assume_normalized=True)
    assert s.shape == (6,) and equal(s, s0) and equal(i, i0)


def test_top_k_rejects_bad_input():
    c = da.zeros((10, 4), chunks=5)
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        sd.top_k(np.zeros((3, 5)), c, 2)
    with pytest.raises(TypeError, match="bool"):
        sd.top_k(np.zeros((3, 4)), c, True)
    with pytest.raises(ValueError, match="at least 1"):
        sd.top_k(np.zeros((3, 4)), c, 0)
    with pytest.raises(ValueError, match="split_every"):
        sd.top_k(np.zeros((3, 4)), c, 2, split_every=1)
    with pytest.raises(ValueError, match="corpus must have shape"):
        sd.top_k(np.zeros((3, 4)), da.zeros((10,), chunks=5), 2)
    unknown = da.zeros((10, 4), chunks=5)
    unknown = unknown[unknown[:, 0] == 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        sd.top_k(np.zeros((3, 4)), unknown, 2)
    with pytest.raises(TypeError, match="float"):
        sd.top_k(np.zeros((3, 4), np.complex64), c, 2)


# ---------------------------------------------------------------------------------------------------
# All pairs
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunking", ["one-chunk", "uneven"], ids=str)
@pytest.mark.parametrize("symmetric", [True, False], ids=["y=None", "x,y"])
def test_pairwise_blocks_are_bitwise_the_in_memory_ones(client, chunking, symmetric):
    x = corpus()
    a = da.from_array(x, chunks=(CHUNKINGS[chunking](len(x)), 12))
    y = None if symmetric else da.from_array(x[::-1][:130], chunks=((50, 1, 79), -1))
    got = sd.pairwise_cosine_similarity(a, y)
    assert got.chunks[0] == a.chunks[0]
    want = ops.pairwise_cosine_similarity(x, None if symmetric else x[::-1][:130])
    assert equal(got.compute(), want)


@pytest.mark.parametrize("threshold", [0.3, 0.999])
@pytest.mark.parametrize("symmetric", [True, False], ids=["y=None", "x,y"])
def test_pairs_above_is_the_in_memory_result(client, threshold, symmetric):
    x = corpus()
    a = da.from_array(x, chunks=((7, 100, 3, 190), -1))
    yy = None if symmetric else x[50:250]
    y = None if yy is None else da.from_array(yy, chunks=77)
    frame = sd.pairs_above(a, y, threshold=threshold)
    assert frame.npartitions == 4
    got = frame.compute()
    rows, cols, scores = ops.pairs_above(x, yy, threshold=threshold)
    assert len(rows) > 0
    assert equal(got["row"].to_numpy(), rows)
    assert equal(got["col"].to_numpy(), cols)
    assert equal(got["score"].to_numpy(), scores)


def test_pairs_above_rejects_bad_input():
    a = da.zeros((10, 4), chunks=5)
    with pytest.raises(ValueError, match="nan"):
        sd.pairs_above(a, threshold=float("nan"))
    with pytest.raises(ValueError, match=r"\(10, 4\) and \(3, 5\)"):
        sd.pairs_above(a, np.zeros((3, 5)), threshold=0.5)
    with pytest.raises(TypeError, match="threshold"):
        sd.pairs_above(a, threshold="high")


# ---------------------------------------------------------------------------------------------------
# Row-wise
# ---------------------------------------------------------------------------------------------------


def test_cosine_similarity_and_l2_normalize_blockwise(client):
    x = corpus()
    y = corpus(seed=1)
    a = da.from_array(x, chunks=(70, 5))  # the reduced axis is rechunked
    b = da.from_array(y, chunks=(33, 24))
    assert equal(sd.cosine_similarity(a, b).compute(), ops.cosine_similarity(x, y))
    assert equal(sd.cosine_similarity(a, b, axis=0).compute(), ops.cosine_similarity(x, y, axis=0))
    assert equal(sd.cosine_similarity(a, y[4]).compute(), ops.cosine_similarity(x, y[4]))
    assert equal(sd.l2_normalize(a).compute(), ops.l2_normalize(x))
    assert equal(sd.l2_normalize(a, axis=0).compute(), ops.l2_normalize(x, axis=0))
    assert equal(sd.l2_normalize(a, axis=(0, 1)).compute(), ops.l2_normalize(x, axis=(0, 1)))
    with pytest.raises(np.exceptions.AxisError):
        sd.l2_normalize(a, axis=2)
    with pytest.raises(ValueError, match=r"\(300, 24\) and \(7, 3\)"):
        sd.cosine_similarity(a, np.zeros((7, 3)))


# ---------------------------------------------------------------------------------------------------
# Corpora on disk
# ---------------------------------------------------------------------------------------------------


def _arrays_in(obj: Any) -> bool:
    if isinstance(obj, np.ndarray):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_arrays_in(o) for o in obj)
    if isinstance(obj, dict):
        return any(_arrays_in(o) for o in obj.values())
    return False


@pytest.fixture
def shards(tmp_path) -> tuple[Path, np.ndarray]:
    x = corpus(n=200)
    folder = tmp_path / "corpus"
    folder.mkdir()
    for n, (a, b) in enumerate([(0, 4), (4, 4), (4, 90), (90, 93), (93, 200)]):  # empty and tiny shards
        np.save(folder / f"part-{n:05d}.npy", x[a:b])
    (folder / "notes.txt").write_text("not a shard")
    return folder, x


def test_a_folder_of_shards_is_opened_by_the_workers(client, shards):
    folder, x = shards
    c = sd.from_npy(folder, chunk_rows=40)
    assert c.shape == x.shape and c.dtype == x.dtype
    assert max(c.chunks[0]) <= 40
    graph = dict(c.__dask_graph__())
    assert not any(_arrays_in(task) for task in graph.values()), "the graph must carry paths, not data"
    assert equal(c.compute(), x)
    s, i = dask.compute(*sd.top_k(x[:30], c, 12, exclude_self=True))
    s0, i0 = ops.top_k(x[:30], x, 12, exclude_self=True)
    assert equal(s, s0) and equal(i, i0)
    got = sd.pairs_above(c, threshold=0.5).compute()
    rows, cols, scores = ops.pairs_above(x, threshold=0.5)
    assert equal(got["row"].to_numpy(), rows) and equal(got["score"].to_numpy(), scores)


def test_from_npy_takes_a_file_or_a_list_and_checks_the_shards(shards, tmp_path):
    folder, x = shards
    files = sorted(folder.glob("*.npy"))
    assert equal(sd.from_npy(files[2]).compute(scheduler="sync"), x[4:90])
    assert equal(sd.from_npy(files[3:]).compute(scheduler="sync"), x[90:])
    np.save(tmp_path / "other.npy", np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(3, 5\)"):
        sd.from_npy([files[2], tmp_path / "other.npy"])
    with pytest.raises(ValueError, match="neither a .npy file nor a folder"):
        sd.from_npy(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no .npy files"):
        sd.from_npy(tmp_path / "empty")
    with pytest.raises(ValueError, match="at least 1"):
        sd.from_npy(folder, chunk_rows=0)


def test_from_zarr_works_when_zarr_is_installed(client, tmp_path):
    zarr = require("zarr")
    x = corpus()
    z = zarr.open_array(str(tmp_path / "c.zarr"), mode="w", shape=x.shape, chunks=(64, 24), dtype=x.dtype)
    z[:] = x
    c = da.from_zarr(str(tmp_path / "c.zarr"))
    s, i = dask.compute(*sd.top_k(x[:10], c, 7))
    s0, i0 = ops.top_k(x[:10], x, 7)
    assert equal(s, s0) and equal(i, i0)


# ---------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------


def swiftsim_cli(*argv: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swiftsim", *map(str, argv)], capture_output=True, text=True, env=os.environ
    )


def test_the_cli_topk_on_a_local_cluster_of_two_workers(client, shards, tmp_path):
    folder, x = shards
    np.save(tmp_path / "q.npy", x[:25])
    out = swiftsim_cli(
        "topk",
        tmp_path / "q.npy",
        folder,
        "-k",
        9,
        "--tile",
        30,
        "-o",
        tmp_path / "o.npz",
        "--dask-workers",
        2,
    )
    assert out.returncode == 0, out.stderr
    assert "on 2 Dask worker(s)" in out.stdout
    got = np.load(tmp_path / "o.npz")
    s0, i0 = ops.top_k(x[:25], x, 9)
    assert equal(got["scores"], s0) and equal(got["indices"], i0)
    out = swiftsim_cli(
        "topk", tmp_path / "q.npy", folder, "-k", 9, "--tile", 30, "-o", tmp_path / "p.npz", "--no-progress"
    )  # in process, shard by shard
    assert out.returncode == 0, out.stderr
    got = np.load(tmp_path / "p.npz")
    assert equal(got["scores"], s0) and equal(got["indices"], i0)


def test_the_cli_pairs_on_a_running_scheduler(client, shards, tmp_path):
    folder, x = shards
    out = swiftsim_cli(
        "pairs",
        folder,
        "--threshold",
        0.4,
        "--block",
        32,
        "-o",
        tmp_path / "o.npz",
        "--scheduler",
        client.scheduler.address,
    )
    assert out.returncode == 0, out.stderr
    got = np.load(tmp_path / "o.npz")
    rows, cols, scores = ops.pairs_above(x, threshold=0.4)
    assert equal(got["rows"], rows) and equal(got["cols"], cols) and equal(got["scores"], scores)


def test_the_cli_explains_what_a_sharded_pairs_job_needs(shards, tmp_path):
    folder, _ = shards
    out = swiftsim_cli("pairs", folder, "--threshold", 0.4, "-o", tmp_path / "o.npz")
    assert out.returncode == 2 and "--dask-workers" in out.stderr
    out = swiftsim_cli("pairs", folder, "--threshold", 0.4, "-o", tmp_path / "o.npz", "--dask-workers", 0)
    assert out.returncode == 2 and "--dask-workers must be a positive" in out.stderr
    out = swiftsim_cli(
        "pairs",
        folder,
        "--threshold",
        0.4,
        "-o",
        tmp_path / "o.npz",
        "--dask-workers",
        1,
        "--working-memory",
        1000,
    )
    assert out.returncode == 2 and "--working-memory" in out.stderr
    assert not (tmp_path / "o.npz").exists()


# ---------------------------------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------------------------------


def test_a_worker_killed_mid_computation_still_gives_the_exact_result(client, tmp_path):
    marker = str(tmp_path / "killed")

    def die_once(block: np.ndarray) -> np.ndarray:
        """On its first attempt this task kills its worker process; Dask retries it elsewhere."""
        if block.shape[0] and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(1)
        return block

    x = corpus()
    c = da.from_array(x, chunks=60).map_blocks(die_once, dtype=x.dtype)
    s, i = dask.compute(*sd.top_k(x[:25], c, 8, split_every=2))
    assert os.path.exists(marker), "no worker was killed"
    s0, i0 = ops.top_k(x[:25], x, 8)
    assert equal(s, s0) and equal(i, i0)
    client.wait_for_workers(2, timeout=60)
