"""Timing, verification and the streaming-bandwidth limit used by ``benchmarks/run.py``.

Nothing here knows about swiftsim or any other library: a :class:`Case` holds a list of
:class:`Impl` (implementations and streaming kernels) built by ``bench_cases.py``, and
:func:`run_case` verifies, calibrates and times them in interleaved rounds.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Impl:
    """One thing to time.

    ``make()`` does the untimed preparation (conversion of the inputs to the library's own tensors,
    allocation of ``out=`` buffers, building the jitted function) and returns the zero-argument call
    that is timed. ``result`` converts what the call returns into what ``Case.check`` expects
    (untimed). ``kind`` is ``"impl"`` for an implementation and ``"stream"`` for a streaming kernel
    that defines the bandwidth limit; a stream kernel moves ``nbytes`` per call.
    """

    name: str
    library: str
    make: Callable[[], Callable[[], object]]
    result: Callable[[object], object] | None = None
    kind: str = "impl"
    nbytes: int | None = None
    note: str = ""


@dataclass
class Case:
    name: str
    group: str
    title: str
    bytes_min: int
    impls: list[Impl]
    check: Callable[[object], float] | None
    tol: float
    flops: float | None = None
    stream_limit: bool = True
    notes: list[str] = field(default_factory=list)


@dataclass
class Config:
    rounds: int
    min_rounds: int
    warmup: int
    target_sample_s: float
    case_budget_s: float
    threads: int


# --------------------------------------------------------------------------------------------------
# verification


def max_error(pairs: Sequence[tuple[object, np.ndarray, float | None]], block: int = 1 << 16) -> float:
    """Largest scaled error over ``(result, reference, scale)`` triples.

    The error of one component is ``max|result - reference| / scale``, computed in float64 over
    blocks of rows (no full-size temporaries). ``scale=None`` means ``max|reference|`` (relative to the
    largest reference value, used for gradients); cosine values use ``scale=1`` (absolute error).
    A shape mismatch or a NaN where the reference is finite gives ``inf``.
    """
    worst = 0.0
    for res, ref, scale in pairs:
        res = np.asarray(res)
        ref = np.asarray(ref)
        if res.shape != ref.shape:
            res = res.reshape(ref.shape) if res.size == ref.size else None
            if res is None:
                return math.inf
        if scale is None:
            scale = float(np.max(np.abs(ref))) if ref.size else 1.0
            scale = scale or 1.0
        if ref.ndim == 0:
            err = abs(float(res) - float(ref))
            if not math.isfinite(err):
                return math.inf
            worst = max(worst, err / scale)
            continue
        for start in range(0, ref.shape[0], block):
            r = np.asarray(res[start : start + block], dtype=np.float64)
            e = np.abs(r - np.asarray(ref[start : start + block], dtype=np.float64))
            if not np.all(np.isfinite(e)):
                return math.inf
            if e.size:
                worst = max(worst, float(e.max()) / scale)
    return worst


# --------------------------------------------------------------------------------------------------
# streaming kernels (the bandwidth limit)


class Chunker:
    """Runs a function over ``threads`` contiguous row blocks of some arrays, in a thread pool.

    NumPy's ufunc loops and reductions release the GIL, so this is real parallelism; the split is the
    same static one a parallel kernel would use.
    """

    def __init__(self, threads: int):
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def split(self, n: int) -> list[slice]:
        edges = np.linspace(0, n, self.threads + 1).astype(int)
        return [
            slice(int(edges[i]), int(edges[i + 1])) for i in range(self.threads) if edges[i + 1] > edges[i]
        ]

    def over_rows(self, fn: Callable[..., object], *arrays: np.ndarray) -> Callable[[], object]:
        slices = self.split(arrays[0].shape[0])
        blocks = [tuple(x[s] for x in arrays) for s in slices]
        if self.pool is None or len(blocks) == 1:
            (only,) = blocks[:1] or [tuple(arrays)]
            return lambda: fn(*only)
        pool = self.pool

        def run() -> None:
            for f in [pool.submit(fn, *blk) for blk in blocks]:
                f.result()

        return run

    def map_rows(self, fn: Callable[..., object], *arrays: np.ndarray) -> Callable[[], list]:
        """Like :meth:`over_rows`, but the call returns the list of the blocks' results."""
        slices = self.split(arrays[0].shape[0])
        blocks = [tuple(x[s] for x in arrays) for s in slices] or [tuple(arrays)]
        if self.pool is None or len(blocks) == 1:
            return lambda: [fn(*blk) for blk in blocks]
        pool = self.pool
        return lambda: [f.result() for f in [pool.submit(fn, *blk) for blk in blocks]]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _ints(x: np.ndarray) -> np.ndarray:
    """A flat integer view of the bytes of contiguous ``x``: int64 when the size allows, else int32
    or uint8 (integer loops are SIMD and never slowed by NaN, Inf or subnormal bit patterns)."""
    flat = x.reshape(-1)
    for t in (np.int64, np.int32):
        if flat.nbytes % np.dtype(t).itemsize == 0:
            return flat.view(t)
    return flat.view(np.uint8)


def stream_read(chunker: Chunker, inputs: Sequence[np.ndarray]) -> list[Impl]:
    """Kernels that read every input once and write nothing: an int64 ``bitwise_or`` reduction over
    the raw bytes (any dtype) and, for float32/float64, a float max-reduction and (for two inputs of
    one shape) the BLAS dot product of the flattened inputs, threaded by the BLAS itself."""

    def read_or(*blk: np.ndarray) -> None:
        for x in blk:
            np.bitwise_or.reduce(_ints(x))

    def read_max(*blk: np.ndarray) -> None:
        for x in blk:
            np.maximum.reduce(x.reshape(-1))

    nbytes = sum(x.nbytes for x in inputs)
    out = [
        Impl(
            "stream: read (int64 bitwise_or-reduce)",
            "stream",
            lambda: chunker.over_rows(read_or, *inputs),
            kind="stream",
            nbytes=nbytes,
        )
    ]
    if all(x.dtype in (np.float32, np.float64) for x in inputs):
        out.append(
            Impl(
                "stream: read (float max-reduce)",
                "stream",
                lambda: chunker.over_rows(read_max, *inputs),
                kind="stream",
                nbytes=nbytes,
            )
        )
        if len(inputs) == 2 and inputs[0].shape == inputs[1].shape and inputs[0].dtype == inputs[1].dtype:
            x, y = (v.reshape(-1) for v in inputs)
            out.append(
                Impl(
                    "stream: read (BLAS dot of the inputs)",
                    "stream",
                    lambda: lambda: np.dot(x, y),
                    kind="stream",
                    nbytes=nbytes,
                )
            )
    return out


def stream_copy(chunker: Chunker, srcs: Sequence[np.ndarray]) -> list[Impl]:
    """Kernels that read each source once and write a same-sized destination once: ``np.copyto``
    (memcpy; glibc may use non-temporal stores, so this is the most optimistic write path) and an
    integer ``bitwise_not`` ufunc (ordinary stores)."""
    dsts = [np.ones_like(x) for x in srcs]  # pages touched before timing
    pairs = [a for pair in zip(srcs, dsts, strict=True) for a in pair]

    def copy(*blk: np.ndarray) -> None:
        for i in range(0, len(blk), 2):
            np.copyto(blk[i + 1], blk[i])

    def bnot(*blk: np.ndarray) -> None:
        for i in range(0, len(blk), 2):
            np.bitwise_not(_ints(blk[i]), out=_ints(blk[i + 1]))

    nbytes = 2 * sum(x.nbytes for x in srcs)
    return [
        Impl(
            "stream: copy (np.copyto)",
            "stream",
            lambda: chunker.over_rows(copy, *pairs),
            kind="stream",
            nbytes=nbytes,
        ),
        Impl(
            "stream: copy (int64 bitwise_not)",
            "stream",
            lambda: chunker.over_rows(bnot, *pairs),
            kind="stream",
            nbytes=nbytes,
        ),
    ]


def stream_combine(chunker: Chunker, a: np.ndarray, b: np.ndarray) -> list[Impl]:
    """Kernels that read two same-sized inputs once and write one output of that size once."""
    dst = np.ones_like(a)

    def bxor(x: np.ndarray, y: np.ndarray, o: np.ndarray) -> None:
        np.bitwise_xor(_ints(x), _ints(y), out=_ints(o))

    def copy_read(x: np.ndarray, y: np.ndarray, o: np.ndarray) -> None:
        np.copyto(o, x)
        np.bitwise_or.reduce(_ints(y))

    nbytes = 3 * a.nbytes
    return [
        Impl(
            "stream: combine (int64 bitwise_xor)",
            "stream",
            lambda: chunker.over_rows(bxor, a, b, dst),
            kind="stream",
            nbytes=nbytes,
        ),
        Impl(
            "stream: copy a + read b",
            "stream",
            lambda: chunker.over_rows(copy_read, a, b, dst),
            kind="stream",
            nbytes=nbytes,
        ),
    ]


# --------------------------------------------------------------------------------------------------
# timing


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Libraries' worker threads keep spinning for a while after a call (OpenBLAS's for up to 2**28 cycles,
# 0.1 s at 2.6 GHz; OpenMP's and TensorFlow's pools too) and would share the cores with the next
# contender's threads. Before each timed sample a contender runs for at least this long, untimed: what
# the previous one left behind has settled, and the library is in the steady state of a loop of calls.
SETTLE_S = 0.12


def settle(call: Callable[[], object]) -> None:
    """Runs ``call`` untimed for at least SETTLE_S seconds (at least once)."""
    start = time.perf_counter()
    call()
    while time.perf_counter() - start < SETTLE_S:
        call()


def _sample(call: Callable[[], object], number: int) -> float:
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            call()
        return (time.perf_counter() - t0) / number
    finally:
        if gc_was:
            gc.enable()


def _stats(samples: list[float]) -> dict:
    s = sorted(samples)
    if len(s) >= 2:
        q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive")
    else:
        q1 = q3 = s[0]
    return {"median": statistics.median(s), "q1": q1, "q3": q3, "iqr": q3 - q1, "min": s[0], "max": s[-1]}


def run_case(case: Case, cfg: Config, log: Callable[[str], None]) -> dict:
    """Verifies every implementation, then times all that passed (and the stream kernels) in
    interleaved rounds with the order rotated each round. Returns a JSON-ready dict."""
    entries: list[dict] = []
    calls: list[Callable[[], object] | None] = []
    for impl in case.impls:
        e = {
            "name": impl.name,
            "library": impl.library,
            "kind": impl.kind,
            "status": "ok",
            "note": impl.note,
            "verify_error": None,
            "message": None,
            "samples": [],
            "number": 0,
        }
        call = None
        try:
            call = impl.make()
            t0 = time.perf_counter()
            res = call()  # first call: compiles/traces where the library does, and is verified
            e["first_call_s"] = time.perf_counter() - t0
            if impl.kind == "impl" and case.check is not None:
                err = case.check(impl.result(res) if impl.result is not None else res)
                e["verify_error"] = err
                if not err <= case.tol:
                    e["status"] = "failed"
                    e["message"] = f"verification failed: error {err:.3g} > tolerance {case.tol:.3g}"
            del res
        except Exception as exc:  # noqa: BLE001 - any library error is reported, not fatal
            e["status"] = "error"
            e["message"] = _first_line(exc)
        if e["status"] != "ok":
            call = None
        entries.append(e)
        calls.append(call)

    live = [i for i, c in enumerate(calls) if c is not None]

    def timed_sample(i: int, number: int) -> float | None:
        """One sample of implementation ``i``; an exception drops it from the run (reported)."""
        try:
            return _sample(calls[i], number)
        except Exception as exc:  # noqa: BLE001
            entries[i].update(status="error", message="while timing: " + _first_line(exc), samples=[])
            log(f"    {entries[i]['name']}: {entries[i]['message']}")
            live.remove(i)
            return None

    slow = set()
    for i in list(live):  # calibrate: calls per sample so a sample lasts about target_sample_s
        t = timed_sample(i, 1)
        if t is None:
            continue
        if t >= cfg.target_sample_s:  # slow: the verification call was its warm-up, this is a sample
            slow.add(i)
            entries[i]["samples"].append(t)
        elif t < cfg.target_sample_s / 4:
            t = timed_sample(i, max(1, min(1000, int(cfg.target_sample_s / 10 / max(t, 1e-9)))))
            if t is None:
                continue
        entries[i]["number"] = max(1, min(100_000, round(cfg.target_sample_s / max(t, 1e-9))))
    for _ in range(cfg.warmup):
        for i in list(live):
            if i not in slow:
                timed_sample(i, entries[i]["number"])

    # Interleaved rounds, order rotated each round. An implementation leaves the rounds once it has
    # min_rounds samples and has spent its share of the case's time budget (so one very slow library
    # does not multiply the run time); the others go on interleaved among themselves.
    share = cfg.case_budget_s / max(1, len(live))
    spent = {i: sum(entries[i]["samples"]) for i in live}
    rounds = 0
    while rounds < cfg.rounds:
        active = [i for i in live if len(entries[i]["samples"]) < cfg.min_rounds or spent[i] < share]
        if not active:
            break
        k = rounds % len(active)
        for i in active[k:] + active[:k]:
            try:
                settle(calls[i])
            except Exception:  # noqa: BLE001 — timed_sample reports it
                pass
            dt = timed_sample(i, entries[i]["number"])
            if dt is None:
                continue
            entries[i]["samples"].append(dt)
            spent[i] += dt * entries[i]["number"]
        rounds += 1
    calls.clear()

    for e in entries:
        if e["samples"]:
            e.update(_stats(e["samples"]))
    timed = [e for e in entries if e["samples"]]
    streams = [
        (e, impl)
        for e, impl in zip(entries, case.impls, strict=True)
        if e["samples"] and impl.kind == "stream"
    ]
    stream_limit = None
    stream_kernel = None
    if case.stream_limit and streams:
        best = min(streams, key=lambda p: p[0]["median"] * case.bytes_min / p[1].nbytes)
        stream_limit = best[0]["median"] * case.bytes_min / best[1].nbytes
        stream_kernel = best[0]["name"]
    for e, impl in zip(entries, case.impls, strict=True):
        if not e["samples"]:
            continue
        nbytes = impl.nbytes if impl.kind == "stream" else case.bytes_min
        e["gbps"] = nbytes / e["median"] / 1e9
        if case.flops and impl.kind == "impl":
            e["gflops"] = case.flops / e["median"] / 1e9
        others = [o for o in timed if o["kind"] == "impl" and o["library"] != e["library"]]
        if others and e["kind"] == "impl":
            best = min(others, key=lambda o: o["median"])
            e["best_other"] = best["name"]
            e["vs_best_other"] = e["median"] / best["median"]
        if stream_limit and e["kind"] == "impl":
            e["vs_stream"] = e["median"] / stream_limit
    return {
        "name": case.name,
        "group": case.group,
        "title": case.title,
        "bytes_min": case.bytes_min,
        "flops": case.flops,
        "tolerance": case.tol,
        "rounds": rounds,
        "stream_limit_s": stream_limit,
        "stream_kernel": stream_kernel,
        "notes": case.notes,
        "results": entries,
    }


# --------------------------------------------------------------------------------------------------
# machine information


def machine_info() -> dict:
    info: dict = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
    }
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and "cpu_model" not in info:
                info["cpu_model"] = value.strip()
            elif key == "flags" and "cpu_simd_flags" not in info:
                wanted = ("avx", "fma", "f16c", "sse4")
                info["cpu_simd_flags"] = [f for f in value.split() if f.startswith(wanted)]
            elif key in ("cache size", "cpu MHz") and key not in info:
                info[key] = value.strip()
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total"] = f.readline().split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    return info


def loadavg() -> list[float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None
