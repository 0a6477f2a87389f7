"""Pieces shared by the ``python -m swiftsim`` subcommands: errors, array files, TensorFlow, progress.

Nothing here is public API. A :class:`CliError` is what a subcommand raises for a bad file, shape or
option; :func:`swiftsim.cli.main` prints it as one line on stderr and exits with status 2.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: How to get the optional pieces, quoted in the error messages.
INSTALL_TF = "pip install tensorflow-cpu tf_keras"
INSTALL_PLOT = "pip install 'swiftsim[plot]'  (or: pip install matplotlib)"
INSTALL_DASK = "pip install 'swiftsim[dask]'  (or: pip install 'dask[array,dataframe]' distributed)"


class CliError(Exception):
    """A user-facing error: printed as ``swiftsim <command>: error: <message>``, exit status 2."""


def load_npy(path: str, what: str, *, mmap: bool = True) -> np.ndarray:
    """A ``.npy`` file as an array, memory-mapped read-only when it can be (no pickles, ever).

    Every failure (missing file, not a ``.npy``, object dtype) is a :class:`CliError` naming the file.
    """
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise CliError(f"{what}: no such file: {path}") from None
    except IsADirectoryError:
        raise CliError(f"{what}: {path} is a directory, not a .npy file") from None
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(f"{what}: cannot read {path} as a .npy array ({reason})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        names = ", ".join(arr.files)
        arr.close()
        raise CliError(f"{what}: {path} is an .npz archive ({names}); pass one .npy array")
    if arr.dtype.kind not in "fiub":
        raise CliError(f"{what}: {path} has dtype {arr.dtype}; expected a float, integer or bool array")
    return arr


class Corpus:
    """A corpus on disk: one ``.npy`` file or a folder of ``.npy`` shards (in name order), memory-mapped.

    ``shape`` is ``(rows of every shard, features)`` for a folder (the file's own shape for one file,
    so that its rank is checked by the caller), ``shards`` the memory-mapped arrays, ``files`` their
    paths."""

    def __init__(self, path: str, what: str):
        if os.path.isdir(path):
            names = sorted(f for f in os.listdir(path) if f.endswith(".npy"))
            if not names:
                raise CliError(f"{what}: the folder {path} holds no .npy shards")
            self.files = [os.path.join(path, f) for f in names]
        else:
            self.files = [path]
        self.shards = [load_npy(f, what) for f in self.files]
        first = self.shards[0]
        if len(self.shards) == 1:
            self.shape: tuple[int, ...] = first.shape
        else:
            for f, arr in zip(self.files, self.shards, strict=True):
                if arr.ndim != 2 or arr.shape[1:] != first.shape[1:] or arr.dtype != first.dtype:
                    raise CliError(
                        f"{what}: the shard {f} has shape {arr.shape} and dtype {arr.dtype}, but "
                        f"{self.files[0]} has shape {first.shape} and dtype {first.dtype}; every shard "
                        "must be 2-D with the same features and dtype"
                    )
            self.shape = (sum(a.shape[0] for a in self.shards), first.shape[1])
        self.dtype = first.dtype
        self.ndim = len(self.shape)


def add_dask_arguments(p) -> None:
    """``--scheduler ADDRESS`` / ``--dask-workers N``: run on a Dask cluster (needs swiftsim[dask])."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://host:8786); "
        "every worker must see the .npy files at the same path",
    )
    group.add_argument(
        "--dask-workers",
        type=int,
        metavar="N",
        help="run on a local Dask cluster of N worker processes, the CPUs shared between them",
    )


def uses_dask(args) -> bool:
    return args.scheduler is not None or args.dask_workers is not None


@contextmanager
def dask_client(args) -> Iterator[Any]:  # a distributed.Client (imported only here)
    """A ``distributed.Client`` for ``--scheduler`` or a new local cluster of ``--dask-workers``,
    the default scheduler while the block runs; closed (the local cluster shut down) after."""
    if args.dask_workers is not None and args.dask_workers < 1:
        raise CliError(f"--dask-workers must be a positive number of workers, got {args.dask_workers}")
    try:
        import distributed

        import swiftsim.dask  # noqa: F401  (fails early when dask is missing)
    except ImportError as exc:
        raise CliError(f"--scheduler and --dask-workers need Dask ({exc}): {INSTALL_DASK}") from None
    import logging

    if args.scheduler is not None:
        try:
            client = distributed.Client(args.scheduler, timeout="30s")
        except OSError as exc:
            raise CliError(f"--scheduler: cannot connect to {args.scheduler} ({exc})") from None
        with client:
            yield client
        return
    from .._threads import _usable_cpus

    threads = max(1, _usable_cpus() // args.dask_workers)
    with (
        distributed.LocalCluster(
            n_workers=args.dask_workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def save_npz_atomic(path: str, **arrays) -> None:
    """``np.savez`` to a temporary file beside ``path``, then renamed: never a half-written result.

    The temporary file (``.swiftsim-*.npz``) is removed on any failure, a Ctrl-C included; an
    :class:`OSError` becomes a :class:`CliError`.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".swiftsim-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        os.unlink(tmp)
        raise


def import_tensorflow(command: str):
    """``tensorflow``, imported quietly; a :class:`CliError` that says how to install it when missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow's C++ start-up lines (oneDNN, CUDA probing) ignore TF_CPP_MIN_LOG_LEVEL: silence the
    # process's stderr while it loads; a failed import still raises (Python exceptions do not use it).
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                import tensorflow as tf  # type: ignore[import-untyped,unused-ignore]
            finally:
                os.dup2(saved, 2)
    except ImportError:
        raise CliError(f"{command} needs TensorFlow, which is not installed: {INSTALL_TF}") from None
    finally:
        os.close(saved)
    return tf


def tensorflow_or_none():
    """``tensorflow`` when it is installed, else None (for the subcommands where it is optional)."""
    try:
        return import_tensorflow("")
    except CliError:
        return None


def best_time(fn: Callable[[], T], repeat: int = 3) -> tuple[T, float]:
    """``(fn(), best wall time in seconds of `repeat` calls)``, after one untimed warm-up call."""
    result = fn()
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, best


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class Progress:
    """A small progress bar on stderr (no dependency): ``label [#####.....] 12/40 3.1 s``.

    It draws only when stderr is a terminal (or ``enabled=True``), at most every 0.1 s, and
    :meth:`close` always ends the line, so logs of non-interactive runs stay clean.
    """

    def __init__(self, total: int, label: str, *, enabled: bool | None = None, stream=None, width: int = 30):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.done = 0
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._drawn = -1  # `done` when the bar was last drawn
        self.suffix = ""

    def update(self, n: int = 1, suffix: str | None = None) -> None:
        self.done = min(self.done + n, self.total)
        if suffix is not None:
            self.suffix = suffix
        now = time.perf_counter()
        if self.enabled and (now - self._last >= 0.1 or self.done == self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._drawn = self.done
        filled = self.width * self.done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        extra = f" {self.suffix}" if self.suffix else ""
        self.stream.write(
            f"\r{self.label} [{bar}] {self.done}/{self.total} {now - self.t0:.1f} s{extra}\x1b[K"
        )
        self.stream.flush()

    def close(self) -> float:
        """Ends the bar's line; returns the elapsed seconds."""
        elapsed = time.perf_counter() - self.t0
        if self.enabled:
            if self._drawn != self.done:
                self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
        return elapsed

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
