"""Stress tests: leaks over 10^5 calls, 8 threads against a changing thread count, 2^31 elements.

Each runs in a fresh interpreter (its numbers are not disturbed by other tests, and a crash fails
the test instead of the run), prints a JSON summary, and the test asserts on it:

- ``test_no_leak``: RSS (``/proc/self/status`` VmRSS) and CPython's allocated blocks over 10^5
  calls of small ops, a third of which raise, after a warm-up;
- ``test_threads_hammer``: 8 Python threads call every op on fixed inputs (large enough to release
  the GIL and use the pool) while another thread changes ``swiftsim.set_num_threads`` between 1 and
  4; every result must be bitwise equal to the single-threaded one computed first;
- ``test_more_than_2_31_elements``: the cosine of a (2^24 + 1, 128) float16 array (2^31 + 128
  elements) with itself reversed, against a float64 reference; skipped when MemAvailable lacks the
  memory (6 GiB);
- the default thread count (``SWIFTSIM_NUM_THREADS``, then ``OMP_NUM_THREADS``) and threadpoolctl.

``SWIFTSIM_HAMMER_SECONDS`` (default 5) sets the hammer's duration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HAMMER_SECONDS = float(os.environ.get("SWIFTSIM_HAMMER_SECONDS", "5"))


def run_child(code: str, timeout: float, env: dict | None = None) -> dict:
    """Runs ``code`` in a fresh interpreter; returns the JSON object it prints last."""
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )
    detail = f"\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    if proc.returncode < 0:
        pytest.fail(f"the interpreter died of signal {-proc.returncode}{detail}")
    assert proc.returncode == 0, f"exit status {proc.returncode}{detail}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------
# Leaks
# ---------------------------------------------------------------------------------------------------------

LEAK_CHILD = """
import gc, json, sys
import numpy as np
from numpy.exceptions import AxisError
import swiftsim
from swiftsim import _swiftsim as S, layers, losses, metrics, ops

CALLS, WARMUP, STEP, PER_KIND = 100_000, 10_000, 10_000, 2_000

def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

rng = np.random.default_rng(0)
a, b = rng.standard_normal((2, 16, 64)).astype(np.float32)
a64, b16 = a.astype(np.float64), b.astype(np.float16)
q, w, o, o64 = a[:3], np.ones(16), np.empty(16, np.float32), np.empty(16)
cplx, scores, idx = a.astype(complex), np.empty((3, 20), np.float32), np.empty((3, 20), np.int64)  # k > n
ptr, bad = np.array([0, 1, 1, 1]), np.array([16])  # query 0 excludes corpus row 16 of 16
loss, metric, dot = losses.CosineSimilarity(), metrics.CosineSimilarity(), layers.Dot(axes=1, normalize=True)

# name -> (call, exception it must raise or None); a third of them are error paths.
KINDS = {
    "cosine": (lambda: ops.cosine_similarity(a, b), None),
    "cosine_out": (lambda: ops.cosine_similarity(a, b, out=o), None),
    "cosine_axis0_mixed": (lambda: ops.cosine_similarity(a64, b16, axis=0), None),
    "cosine_lists": (lambda: ops.cosine_similarity([[1.0, 2.0]], [[2.0, 1.0]]), None),
    "l2_normalize": (lambda: ops.l2_normalize(a), None),
    "l2_normalize_axes": (lambda: ops.l2_normalize(a, axis=(0, 1)), None),
    "grad": (lambda: ops.cosine_similarity_grad(a, b, w), None),
    "grad_broadcast": (lambda: ops.cosine_similarity_grad(a, b[:1]), None),
    "pairwise": (lambda: ops.pairwise_cosine_similarity(a, b), None),
    "top_k": (lambda: ops.top_k(q, b, 5), None),
    "loss": (lambda: loss(a, b, sample_weight=w), None),
    "loss_value_and_gradient": (lambda: loss.value_and_gradient(a, b), None),
    "metric": (lambda: (metric.update_state(a, b), metric.result()), None),
    "dot_layer": (lambda: dot([a, b]), None),
    "shim_cosine": (lambda: S.cosine(a, b, o, 1e-12), None),
    "err_shapes": (lambda: ops.cosine_similarity(a, b[:, :3]), ValueError),
    "err_epsilon": (lambda: ops.cosine_similarity(a, b, epsilon=-1.0), ValueError),
    "err_axis": (lambda: ops.l2_normalize(a, axis=5), AxisError),
    "err_dtype": (lambda: ops.cosine_similarity(cplx, b), TypeError),
    "err_k": (lambda: ops.top_k(q, b, 0), ValueError),
    "err_out_shape": (lambda: ops.pairwise_cosine_similarity(a, b, out=o), ValueError),
    "err_loss_weight": (lambda: loss(a, b, sample_weight=np.ones(5)), ValueError),
    "err_shim_dtype": (lambda: S.cosine(a, b, o64, 1e-12), TypeError),
    "err_shim_epsilon": (lambda: S.l2_normalize(a, a.copy(), -1.0), ValueError),
    "err_shim_exclude": (lambda: S.top_k(q, b, scores, idx, 1e-12, False, ptr, bad, False, 0), ValueError),
    "err_threads": (lambda: S.set_num_threads(0), ValueError),
}
calls = [k for k in KINDS.values()]

def call(kind):
    f, exc = kind
    if exc is None:
        f()
        return
    try:
        f()
    except exc:
        return
    raise AssertionError("no exception")

for name, kind in KINDS.items():  # every kind does what it says before it is counted
    try:
        call(kind)
    except Exception as e:
        sys.exit(f"{name}: {e!r}")

def sample():
    gc.collect()
    return rss_kib(), sys.getallocatedblocks()

n = len(calls)
for i in range(WARMUP):
    call(calls[i % n])
series = [sample()]
for start in range(0, CALLS, STEP):
    for i in range(start, start + STEP):
        call(calls[i % n])
    series.append(sample())
per_kind = {}
for name, kind in KINDS.items():
    before = sample()
    for _ in range(PER_KIND):
        call(kind)
    after = sample()
    per_kind[name] = [after[0] - before[0], after[1] - before[1]]
print(json.dumps({"series": series, "per_kind": per_kind, "kinds": n}))
"""


def test_no_leak():
    # Bounds: after the warm-up the process has its working set, so without a leak RSS moves by
    # less than one pymalloc arena (1 MiB) and the block count by a few dozen (free lists, caches).
    # 10^5 calls over ~26 kinds call each kind ~3800 times: one leaked small object per call of one
    # kind adds ~3800 blocks (> 1000), and one leaked buffer of >= 1 KiB (a (16, 64) float32 input
    # is 4 KiB) adds >= 3.8 MiB of RSS (> 3 MiB). Each kind alone over 2000 calls: a leaked object
    # per call adds 2000 blocks (> 200).
    # Under AddressSanitizer (make sanitize) freed blocks wait in its quarantine (256 MiB) before they
    # are reused, so RSS grows until the quarantine is full, sooner or later depending on how much the
    # calls free: the child runs without it, and RSS measures what the process keeps.
    env = None
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        options = os.environ.get("ASAN_OPTIONS", "")
        env = {"ASAN_OPTIONS": (options + ":" if options else "") + "quarantine_size_mb=0"}
    res = run_child(LEAK_CHILD, timeout=300, env=env)
    rss = [s[0] for s in res["series"]]
    blocks = [s[1] for s in res["series"]]
    growth_kib, growth_blocks = rss[-1] - rss[0], blocks[-1] - blocks[0]
    assert growth_kib < 3 * 1024, f"RSS grew by {growth_kib} KiB after the warm-up: {rss}"
    assert growth_blocks < 1000, f"allocated blocks grew by {growth_blocks} after the warm-up: {blocks}"
    leaky = {k: v for k, v in res["per_kind"].items() if v[1] >= 200 or v[0] >= 1024}
    assert not leaky, f"(RSS KiB, blocks) growth over 2000 calls of one kind: {leaky}"


# ---------------------------------------------------------------------------------------------------------
# 8 threads, a changing thread count, bitwise-equal results
# ---------------------------------------------------------------------------------------------------------

HAMMER_CHILD = """
import json, random, threading, time
import numpy as np
import swiftsim
from swiftsim import losses, ops

DURATION = {seconds}
rng = np.random.default_rng(0)
a = rng.standard_normal((4096, 64)).astype(np.float32) * 10.0 ** rng.uniform(-3, 3, (4096, 1))
b = rng.standard_normal((4096, 64)).astype(np.float32)
a[7] = 0  # a zero vector and a clamped one
a[8] *= 1e-9
a16, b16, a64, b64 = a.astype(np.float16), b.astype(np.float16), a.astype(np.float64), b.astype(np.float64)
u = rng.uniform(-2, 2, 4096)
cube = a.reshape(64, 64, 64)
OPS = {{
    "cosine_f32": lambda: ops.cosine_similarity(a, b),
    "cosine_f16": lambda: ops.cosine_similarity(a16, b16),
    "cosine_f64_axis0": lambda: ops.cosine_similarity(a64, b64, axis=0),
    "cosine_strided": lambda: ops.cosine_similarity(a[:, ::2], b[::-1, ::2]),
    "l2_normalize": lambda: ops.l2_normalize(a),
    "l2_normalize_axes": lambda: ops.l2_normalize(cube, axis=(0, 2)),
    "grad": lambda: ops.cosine_similarity_grad(a, b, u),
    "grad_f16": lambda: ops.cosine_similarity_grad(a16, b16),
    "grad_broadcast": lambda: ops.cosine_similarity_grad(a, b[:1]),
    "pairwise": lambda: ops.pairwise_cosine_similarity(a[:300], b[:200]),
    "pairwise_symmetric": lambda: ops.pairwise_cosine_similarity(a64[:257]),
    "pairwise_batched": lambda: ops.pairwise_cosine_similarity(cube[:8], cube[8:16]),
    "top_k": lambda: ops.top_k(a[:64], b, 10),
    "top_k_f16": lambda: ops.top_k(a16[:33], b16[:2000], 7),
    "loss_value_and_gradient": lambda: losses.CosineSimilarity().value_and_gradient(a, b),
}}

def flat(r):
    if isinstance(r, tuple):
        return [x for y in r for x in flat(y)]
    r = np.asarray(r)
    return [(r.dtype.str, r.shape, r.tobytes())]

swiftsim.set_num_threads(1)
REF = {{k: flat(f()) for k, f in OPS.items()}}
errors, counts, switches = [], {{k: 0 for k in OPS}}, [0]
lock = threading.Lock()
stop = time.monotonic() + DURATION

def worker(tid):
    pick = random.Random(tid)
    names = list(OPS)
    while time.monotonic() < stop:
        name = pick.choice(names)
        try:
            got = flat(OPS[name]())
        except Exception as e:
            got = repr(e)
        with lock:
            counts[name] += 1
            if got != REF[name]:
                what = got if isinstance(got, str) else "bits differ"
                errors.append(f"thread {{tid}}, {{name}}: {{what}}")

def switcher():
    while time.monotonic() < stop:
        swiftsim.set_num_threads(1 + switches[0] % 4)
        switches[0] += 1
        time.sleep(0.002)

threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)] + [threading.Thread(target=switcher)]
for t in threads:
    t.start()
for t in threads:
    t.join()
summary = {{"errors": errors[:20], "n_errors": len(errors), "counts": counts, "switches": switches[0]}}
print(json.dumps(summary))
"""


def test_threads_hammer():
    res = run_child(HAMMER_CHILD.format(seconds=HAMMER_SECONDS), timeout=HAMMER_SECONDS * 10 + 120)
    assert res["n_errors"] == 0, f"{res['n_errors']} results differ from the 1-thread ones: {res['errors']}"
    never = [k for k, n in res["counts"].items() if n == 0]
    assert not never, f"never called in {HAMMER_SECONDS} s: {never}"
    assert res["switches"] >= 10, res


# ---------------------------------------------------------------------------------------------------------
# More than 2^31 elements
# ---------------------------------------------------------------------------------------------------------

BIG_CHILD = """
import json, time
import numpy as np
from swiftsim import ops

N, D, P = 2**24 + 1, 128, 4099  # N·D = 2^31 + 128 elements; rows repeat with period P (a prime)
t0 = time.monotonic()
rng = np.random.default_rng(0)
block = (rng.standard_normal((P, D)) * 10.0 ** rng.uniform(-2, 2, (P, 1))).astype(np.float16)
a = np.empty((N, D), np.float16)
for s in range(0, N, P):
    a[s : s + P] = block[: min(P, N - s)]
# x2 is x1 reversed: row i meets row N-1-i, through a negative row stride of 2^31·2 bytes' reach.
# The first and last four rows are their own: random, then zero, NaN and parallel partners.
special = np.r_[0:4, N - 4 : N]
a[special] = rng.standard_normal((special.size, D)).astype(np.float16)
a[N - 1] = 0  # starts at element 2^31 exactly; meets row 0
a[N - 2, 5] = np.nan  # meets row 1
a[2] = a[N - 3] * 3  # parallel
b = a[::-1]
t1 = time.monotonic()
got = ops.cosine_similarity(a, b)
t2 = time.monotonic()

def ref(x, y):
    x, y = x.astype(np.float64), y.astype(np.float64)
    rx = 1 / np.sqrt(np.maximum((x * x).sum(-1), 1e-12))
    ry = 1 / np.sqrt(np.maximum((y * y).sum(-1), 1e-12))
    return (x * y).sum(-1) * rx * ry

# float64 cosine of every pair of the P periodic rows, then row i's pair looked up...
f = block.astype(np.float64)
f /= np.sqrt(np.maximum((f * f).sum(-1, keepdims=True), 1e-12))
i = np.arange(N)
want = (f @ f.T)[i % P, (N - 1 - i) % P]
want[special] = ref(a[special], b[special])  # ...and the rows of their own
err = np.abs(got.astype(np.float64) - want)
nan_ok = bool(np.array_equal(np.isnan(got), np.isnan(want)))
# A direct float64 reference, chunk by chunk: the first rows, the middle and the last ones.
chunk_err = 0.0
for s in [0, 2**15, 2**23 - 2**15, 2**23, N - 2**16, N - 2**15]:
    e = min(N, s + 2**15)
    chunk_err = max(chunk_err, float(np.nanmax(np.abs(got[s:e].astype(np.float64) - ref(a[s:e], b[s:e])))))
summary = {
    "shape": got.shape, "dtype": str(got.dtype), "max_err": float(np.nanmax(err)), "nan_ok": nan_ok,
    "chunk_err": chunk_err, "zero_rows": [float(got[0]), float(got[N - 1])],
    "parallel_rows": [float(got[2]), float(got[N - 3])], "fill_s": t1 - t0, "kernel_s": t2 - t1,
}
print(json.dumps(summary))
"""


def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def test_more_than_2_31_elements():
    need = (2**24 + 1) * 128 * 2 + (2 << 30)  # the 4 GiB float16 input and 2 GiB for the rest
    have = _mem_available()
    if have < need:
        pytest.skip(f"needs {need / 2**30:.1f} GiB of MemAvailable, the machine has {have / 2**30:.1f} GiB")
    res = run_child(BIG_CHILD, timeout=600)
    assert res["shape"] == [2**24 + 1] and res["dtype"] == "float16"
    assert res["nan_ok"], "NaN exactly in the row holding NaN"
    assert res["max_err"] <= 5e-3, res  # conftest.VALUE_TOL[float16] (D = 128)
    assert res["chunk_err"] <= 5e-3, res
    assert res["zero_rows"] == [0.0, 0.0], res
    assert all(abs(c - 1.0) <= 5e-3 for c in res["parallel_rows"]), res


# ---------------------------------------------------------------------------------------------------------
# The default thread count and threadpoolctl
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"SWIFTSIM_NUM_THREADS": "3"}, 3),
        ({"OMP_NUM_THREADS": "3"}, 3),
        ({"SWIFTSIM_NUM_THREADS": "2", "OMP_NUM_THREADS": "3"}, 2),
    ],
    ids=["swiftsim", "omp", "swiftsim_before_omp"],
)
def test_default_thread_count(env, expected):
    base = {k: v for k, v in os.environ.items() if k not in ("SWIFTSIM_NUM_THREADS", "OMP_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, "-c", "import json, swiftsim; print(json.dumps(swiftsim.get_num_threads()))"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(base, **env),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected


THREADPOOLCTL_CHILD = """
import json, os
import swiftsim
from threadpoolctl import threadpool_info, threadpool_limits

swiftsim.set_num_threads(3)
package = os.path.realpath(os.path.dirname(swiftsim.__file__))
ours = [i for i in threadpool_info() if os.path.realpath(i.get("filepath", "")).startswith(package)]
with threadpool_limits(limits=1):
    inside = swiftsim.get_num_threads()
print(json.dumps({"ours": ours, "inside": inside, "after": swiftsim.get_num_threads()}))
"""


def test_threadpoolctl_controls_swiftsim():
    res = run_child(THREADPOOLCTL_CHILD, timeout=120)
    assert len(res["ours"]) == 1, f"threadpool_info() should list swiftsim once: {res['ours']}"
    assert res["ours"][0]["num_threads"] == 3, res
    assert res["inside"] == 1 and res["after"] == 3, res
