"""The thread budget and the thread pool (swiftsim._threads and the kernels' pool): the default thread
count follows the host's budget, threadpoolctl sees and limits swiftsim, a call never hangs when no
thread can be created, a fork is safe, and Ctrl-C stops a long call.

Everything that changes the process (environment, signals, fork, LD_PRELOAD) runs in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import swiftsim
from swiftsim import ops


def run(code: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    for name in ("SWIFTSIM_NUM_THREADS", "OMP_NUM_THREADS"):
        full.pop(name, None)
    full.update(env or {})
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full,
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def cpus() -> int:
    return len(os.sched_getaffinity(0))


# ---------------------------------------------------------------------------------------------------------
# The default thread count
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env,expected",
    [
        ({}, "cpus"),
        ({"OMP_NUM_THREADS": "1"}, 1),
        ({"OMP_NUM_THREADS": "3,2"}, 3),
        ({"SWIFTSIM_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}, 2),
        ({"SWIFTSIM_NUM_THREADS": "junk", "OMP_NUM_THREADS": "1"}, 1),
        ({"OMP_NUM_THREADS": "0"}, "cpus"),
        ({"SWIFTSIM_NUM_THREADS": "99999999999999999999"}, 1024),
    ],
    ids=lambda v: str(v),
)
def test_default_threads_follow_the_host_budget(env, expected):
    code = "import swiftsim, warnings; print(swiftsim.get_num_threads())"
    r = run(code, env)
    assert int(r.stdout) == (cpus() if expected == "cpus" else expected)


def test_invalid_thread_variables_warn():
    r = run(
        """
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import swiftsim
        print([str(x.message) for x in w])
        """,
        {"OMP_NUM_THREADS": "-4"},
    )
    assert "OMP_NUM_THREADS" in r.stdout


# ---------------------------------------------------------------------------------------------------------
# threadpoolctl
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["swiftsim first", "threadpoolctl first"])
def test_threadpoolctl_lists_and_limits_swiftsim(order):
    pytest.importorskip("threadpoolctl")
    first, second = (
        ("swiftsim", "threadpoolctl") if order == "swiftsim first" else ("threadpoolctl", "swiftsim")
    )
    r = run(
        f"""
        import {first}, {second}
        import threadpoolctl, swiftsim
        info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "swiftsim"]
        assert len(info) == 1, threadpoolctl.threadpool_info()
        assert info[0]["num_threads"] == swiftsim.get_num_threads() == 3, info
        assert info[0]["version"] == swiftsim.__version__
        with threadpoolctl.threadpool_limits(1):
            inside = swiftsim.get_num_threads()
        with threadpoolctl.threadpool_limits(limits=2, user_api="swiftsim"):
            limited = swiftsim.get_num_threads()
        print(inside, limited, swiftsim.get_num_threads())
        """,
        {"SWIFTSIM_NUM_THREADS": "3"},
    )
    assert r.stdout.split() == ["1", "2", "3"]


def test_importing_swiftsim_does_not_import_threadpoolctl():
    r = run("import sys, swiftsim; print('threadpoolctl' in sys.modules)")
    assert r.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------------------
# The pool when no thread can be created, and across fork()
# ---------------------------------------------------------------------------------------------------------

INTERPOSER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
/* Once enabled, every thread creation fails, as under a container's exhausted thread limit. */
static int failing;
void nothreads_enable(void) { failing = 1; }
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg) {
    if (failing) return EAGAIN;
    typedef int create_fn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    create_fn *real = (create_fn *)dlsym(RTLD_NEXT, "pthread_create");
    return real(t, a, f, arg);
}
"""


@pytest.fixture(scope="module")
def no_threads_library(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("a C compiler is needed to build the pthread_create interposer")
    folder = tmp_path_factory.mktemp("interposer")
    (folder / "nothreads.c").write_text(INTERPOSER)
    lib = folder / "libnothreads.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-o", str(lib), str(folder / "nothreads.c"), "-ldl"], check=True
    )
    return str(lib)


def test_calls_complete_when_no_thread_can_be_created(no_threads_library):
    """pthread_create always fails: every call runs on the calling thread, with the same bits."""
    code = """
    import ctypes, os, numpy as np, swiftsim
    from swiftsim import ops
    if "nothreads" in os.environ.get("LD_PRELOAD", ""):
        lib = next(p for p in os.environ["LD_PRELOAD"].split() if "nothreads" in p)
        ctypes.CDLL(lib).nothreads_enable()  # from here on, no thread can be created
    swiftsim.set_num_threads(4)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3000, 256)).astype(np.float32)
    b = rng.standard_normal((3000, 256)).astype(np.float32)
    results = [ops.cosine_similarity(a, b), ops.l2_normalize(a), *ops.cosine_similarity_grad(a, b),
               ops.pairwise_cosine_similarity(a[:700], b[:900]), *ops.top_k(a[:50], b, 7)]
    np.savez(OUT, *results)
    """
    out_pre = os.path.join(os.path.dirname(no_threads_library), "without.npz")
    out_ref = os.path.join(os.path.dirname(no_threads_library), "with.npz")
    # Keep a sanitizer runtime the test run may preload (it must come first).
    preload = " ".join(p for p in (os.environ.get("LD_PRELOAD"), no_threads_library) if p)
    run(code.replace("OUT", repr(out_pre)), {"LD_PRELOAD": preload}, timeout=60)
    run(code.replace("OUT", repr(out_ref)))
    with np.load(out_pre) as got, np.load(out_ref) as want:
        assert len(got.files) == len(want.files) == 7
        for name in want.files:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_fork_while_other_threads_use_the_pool():
    """Children forked while another thread runs parallel calls can run parallel calls themselves."""
    run(
        """
        import os, threading, numpy as np, swiftsim
        from swiftsim import ops
        swiftsim.set_num_threads(2)
        x = np.random.default_rng(1).standard_normal((2000, 256)).astype(np.float32)
        want = ops.pairwise_cosine_similarity(x[:300])
        stop = threading.Event()
        def busy():
            while not stop.is_set():
                ops.pairwise_cosine_similarity(x[:300])
                ops.cosine_similarity(x, x)
        worker = threading.Thread(target=busy)
        worker.start()
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                ok = np.array_equal(ops.pairwise_cosine_similarity(x[:300]), want)
                os._exit(0 if ok else 3)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
        stop.set()
        worker.join()
        """,
        timeout=120,
    )


# ---------------------------------------------------------------------------------------------------------
# Ctrl-C during a long call
# ---------------------------------------------------------------------------------------------------------

SIGINT_CODE = """
import os, signal, threading, time, numpy as np, swiftsim
from swiftsim import ops
rng = np.random.default_rng(0)
CALL
before = [a.copy() for a in INPUTS]
sent = []
def fire():
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
threading.Timer(0.5, fire).start()
t0 = time.perf_counter()
try:
    run()
    print("completed", time.perf_counter() - t0)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - sent[0])
assert all(np.array_equal(a, b) for a, b in zip(INPUTS, before)), "an input changed"
"""

LONG_CALLS = {
    "top_k": (
        "q = rng.standard_normal((2000, 128), dtype=np.float32)\n"
        "c = rng.standard_normal((2_000_000, 128), dtype=np.float32)\n"
        "run = lambda: ops.top_k(q, c, 10)",
        "(q, c)",
    ),
    "pairwise": (
        "x = rng.standard_normal((16000, 768), dtype=np.float32)\n"
        "run = lambda: ops.pairwise_cosine_similarity(x)",
        "(x,)",
    ),
}


@pytest.mark.parametrize("which", list(LONG_CALLS))
def test_ctrl_c_stops_a_long_call_within_200_ms(which):
    call, inputs = LONG_CALLS[which]
    r = run(SIGINT_CODE.replace("CALL", call).replace("INPUTS", inputs), timeout=300)
    word, seconds = r.stdout.split()
    assert word == "interrupted", r.stdout  # the call takes several seconds: it was stopped, not finished
    assert float(seconds) < 0.2, f"KeyboardInterrupt {seconds} s after SIGINT"


def test_a_sigint_handler_that_does_not_raise_lets_the_call_finish():
    """A handler that returns: the interrupted call runs again and returns the complete result."""
    r = run(
        """
        import os, signal, threading, time, numpy as np, swiftsim
        from swiftsim import ops
        x = np.random.default_rng(2).standard_normal((12000, 256)).astype(np.float32)
        y = x.copy()
        t0 = time.perf_counter()
        want = ops.pairwise_cosine_similarity(x, y)
        took = time.perf_counter() - t0
        seen = []
        signal.signal(signal.SIGINT, lambda *a: seen.append(time.perf_counter()))
        timer = threading.Timer(took / 4, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.perf_counter()
        got = ops.pairwise_cosine_similarity(x, y)
        end = time.perf_counter()
        timer.join()
        print(len(seen), seen[0] < end, np.array_equal(got, want))
        """
    )
    assert r.stdout.split() == ["1", "True", "True"]


def test_calls_from_other_threads_are_not_interrupted_by_sigint_handling():
    """Only the main thread's calls install the handler; a worker thread's call completes."""
    x = np.random.default_rng(3).standard_normal((600, 64)).astype(np.float32)
    results = []

    def work():
        results.append(ops.pairwise_cosine_similarity(x))

    import threading

    t = threading.Thread(target=work)
    t.start()
    t.join()
    np.testing.assert_array_equal(results[0], ops.pairwise_cosine_similarity(x))
    assert swiftsim.get_num_threads() >= 1
