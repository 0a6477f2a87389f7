"""The benchmark cases and every library's implementation of them, for ``benchmarks/run.py``.

Each ``case_*`` function makes its arrays, a float64 reference (computed once, lazily, in blocks of
rows) and the list of implementations; libraries that are not installed are simply absent. Inputs are
converted to each library's own tensors before timing (untimed); results stay in each library's own
type (conversion for verification is untimed), except in the tiny-call cases, which pass NumPy arrays
to every library because that per-call conversion is part of what those cases measure.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import math
import os
import sys
import warnings
from collections.abc import Callable

import numpy as np
from bench_core import Case, Chunker, Impl, max_error, stream_combine, stream_copy, stream_read

from swiftsim._contract import KERAS2_EPSILON as EPS
from swiftsim._contract import value_tol

DIST_NAMES = [  # distributions whose versions go into the report
    "swiftsim",
    "numpy",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf_keras",
    "jax",
    "jaxlib",
    "torch",
    "numkong",
    "simsimd",
    "scikit-learn",
    "faiss-cpu",
    "usearch",
    "matplotlib",
    "threadpoolctl",
    "ml_dtypes",
]


@contextlib.contextmanager
def _quiet_stderr():
    """Silences file descriptor 2 (the C++ start-up logging of TensorFlow and XLA); Python errors are
    still raised and reported."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class Libs:
    """The libraries to compare, imported once; an attribute is None when the library is missing or
    was excluded with ``--skip-lib``."""

    def __init__(self, threads: int, skip: set[str]):
        self.threads = threads
        self.missing: dict[str, str] = {}
        self.versions: dict[str, str | None] = {}
        for dist in DIST_NAMES:
            try:
                self.versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                self.versions[dist] = None

        import swiftsim

        self.ss = swiftsim
        swiftsim.set_num_threads(threads)
        self.tf = self._load("tensorflow", skip)
        if self.tf is not None:
            self.tf.get_logger().setLevel("ERROR")  # retracing notes: each case wraps the same functions
            try:
                self.tf.config.threading.set_intra_op_parallelism_threads(threads)
                self.tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # already initialised
                pass
        self.keras = self._load("keras", skip) if self.tf is not None else None
        self.tf_keras = self._load("tf_keras", skip) if self.tf is not None else None
        if self.tf is None:
            self.missing.update(keras="left out (needs tensorflow)", tf_keras="left out (needs tensorflow)")
        self.jax = self._load("jax", skip)
        if self.jax is not None:
            self.jax.config.update("jax_enable_x64", True)  # float64 case; float32 inputs stay float32
            import jax.numpy as jnp

            self.jnp = jnp
        self.torch = self._load("torch", skip)
        if self.torch is not None:
            self.torch.set_num_threads(threads)
            import torch.nn.functional as F  # noqa: N812

            self.F = F
        self.numkong = self._load("numkong", skip)
        self.simsimd = self._load("simsimd", skip)
        self.sklearn = self._load("sklearn", skip, "sklearn.metrics.pairwise")
        self.faiss = self._load("faiss", skip)
        self.usearch = self._load("usearch", skip, "usearch.index")
        self.chunker = Chunker(threads)

    def _load(self, name: str, skip: set[str], module: str | None = None):
        if name in skip or (name == "sklearn" and "scikit-learn" in skip):
            self.missing[name] = "skipped (--skip-lib)"
            return None
        try:
            with warnings.catch_warnings(), _quiet_stderr():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(module or name)
            return mod
        except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
            self.missing[name] = f"not available ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})"
            return None

    def swiftsim_has(self, dotted: str) -> bool:
        """Whether ``swiftsim.<dotted>`` exists (submodules such as ``losses`` are imported)."""
        obj, path = self.ss, "swiftsim"
        for part in dotted.split("."):
            path += "." + part
            if not hasattr(obj, part):
                try:
                    importlib.import_module(path)
                except ImportError:
                    return False
                if not hasattr(obj, part):
                    return False
            obj = getattr(obj, part)
        return True


# --------------------------------------------------------------------------------------------------
# data and float64 references


def make_pair(n: int, d: int, dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``a`` Gaussian; ``b = c·a + noise`` with ``c`` uniform in [-1, 1] per row, so the cosines spread
    over about [-0.9, 0.9] instead of clustering at 0 (random high-dimensional vectors)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = rng.standard_normal((n, d), dtype=np.float32)
    b *= 0.5
    c = rng.uniform(-1.0, 1.0, (n, 1)).astype(np.float32)
    for s in range(0, n, 1 << 15):
        b[s : s + (1 << 15)] += c[s : s + (1 << 15)] * a[s : s + (1 << 15)]
    if np.dtype(dtype) != np.float32:
        a, b = a.astype(dtype), b.astype(dtype)
    return a, b


def _rows(n: int, d: int) -> int:
    return max(1, (1 << 22) // max(d, 1))


def ref_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape[0])
    step = _rows(*a.shape)
    for s in range(0, a.shape[0], step):
        x = a[s : s + step].astype(np.float64)
        y = b[s : s + step].astype(np.float64)
        rx = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", x, x), EPS))
        ry = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", y, y), EPS))
        out[s : s + step] = np.einsum("ij,ij->i", x, y) * rx * ry
    return out


def ref_grad(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of sum(cos(a, b)) in float64: ``r_a·(b̂ − c·â)`` and ``r_b·(â − c·b̂)``."""
    da = np.empty(a.shape)
    db = np.empty(b.shape)
    step = _rows(*a.shape)
    for s in range(0, a.shape[0], step):
        x = a[s : s + step].astype(np.float64)
        y = b[s : s + step].astype(np.float64)
        rx = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", x, x), EPS))[:, None]
        ry = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", y, y), EPS))[:, None]
        xh, yh = x * rx, y * ry
        c = np.einsum("ij,ij->i", xh, yh)[:, None]
        da[s : s + step] = rx * (yh - c * xh)
        db[s : s + step] = ry * (xh - c * yh)
    return da, db


def tol_for(dtype, d: int) -> float:
    """Every implementation is verified at the tolerance swiftsim's contract states (docs/contract.md)."""
    return value_tol(dtype, d)


def _lazy(fn: Callable[[], object]) -> Callable[[], object]:
    cache: list = []

    def get():
        if not cache:
            cache.append(fn())
        return cache[0]

    return get


def _np(x) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)


def _torch_np(x) -> np.ndarray:
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _sizes(a: np.ndarray, b: np.ndarray, extra: str = "") -> str:
    return f"{a.dtype.name} {a.shape} x {b.shape}{extra}"


# --------------------------------------------------------------------------------------------------
# per-library cosine expressions


def _tf_cos(tf):
    def cos(x, y):
        return tf.reduce_sum(tf.nn.l2_normalize(x, -1) * tf.nn.l2_normalize(y, -1), -1)

    return cos


def _jax_cos(L: Libs):
    jnp, lax = L.jnp, L.jax.lax

    def cos(x, y):
        rx = lax.rsqrt(jnp.maximum(jnp.sum(x * x, -1), EPS))
        ry = lax.rsqrt(jnp.maximum(jnp.sum(y * y, -1), EPS))
        return jnp.sum(x * y, -1) * rx * ry

    return cos


def _np_natural(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def _np_einsum(a, b):
    return np.einsum("...i,...i->...", a, b) / np.sqrt(
        np.einsum("...i,...i->...", a, a) * np.einsum("...i,...i->...", b, b)
    )


def _rowwise_threaded(L: Libs, fn, a: np.ndarray, b: np.ndarray, out: np.ndarray):
    """Calls ``fn(a_block, b_block, out=out_block)`` on one row block per thread (both libraries
    release the GIL; neither has a threaded row-wise entry point)."""

    def block(x, y, o):
        fn(x, y, out=o)

    return L.chunker.over_rows(block, a, b, out)


def forward_impls(L: Libs, a: np.ndarray, b: np.ndarray, tiny: bool = False) -> list[Impl]:
    """Positive row-wise cosine similarity of ``a`` and ``b`` (2-D) in every library available."""
    n = a.shape[0]
    ss = L.ss
    impls = [
        Impl(
            "swiftsim (out=)",
            "swiftsim",
            lambda: (lambda out: lambda: ss.ops.cosine_similarity(a, b, out=out))(np.empty(n, a.dtype)),
        ),
        Impl("swiftsim", "swiftsim", lambda: lambda: ss.ops.cosine_similarity(a, b)),
        Impl(
            "numpy natural",
            "numpy",
            lambda: lambda: _np_natural(a, b),
            note="(a*b).sum(-1)/(norm(a)*norm(b))",
        ),
        Impl("numpy einsum", "numpy", lambda: lambda: _np_einsum(a, b)),
    ]
    if L.sklearn is not None and not tiny:
        pcd = L.sklearn.paired_cosine_distances
        impls.append(
            Impl(
                "sklearn paired_cosine_distances",
                "sklearn",
                lambda: lambda: pcd(a, b),
                result=lambda r: 1.0 - np.asarray(r),
                note="distance 1-cos, converted",
            )
        )
    tf = L.tf
    if tf is not None:
        cos = _tf_cos(tf)
        tf_inputs = _lazy(lambda: (tf.constant(a), tf.constant(b)))  # one copy shared by the variants

        def tf_make(kind):
            def make():
                x, y = (a, b) if tiny else tf_inputs()
                if kind == "keras":
                    return lambda: -tf.keras.losses.cosine_similarity(x, y, axis=-1)
                if kind == "eager":
                    return lambda: cos(x, y)
                f = tf.function(cos, jit_compile=(kind == "xla"))
                return lambda: f(x, y)

            return make

        impls += [
            Impl("tf eager -tf.keras.losses.cosine_similarity", "tensorflow", tf_make("keras"), _np),
            Impl("tf eager (tf.nn ops)", "tensorflow", tf_make("eager"), _np),
            Impl("tf.function", "tensorflow", tf_make("function"), _np),
            Impl("tf.function(jit_compile=True)", "tensorflow", tf_make("xla"), _np),
        ]
    if L.jax is not None:
        jcos = L.jax.jit(_jax_cos(L))

        def jax_make():
            x, y = (a, b) if tiny else (L.jax.device_put(a), L.jax.device_put(b))
            return lambda: jcos(x, y).block_until_ready()

        impls.append(Impl("jax.jit", "jax", jax_make, np.asarray))
    if L.torch is not None:
        torch, F = L.torch, L.F

        def torch_make():
            if tiny:
                return lambda: F.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b), dim=-1)
            x, y = torch.from_numpy(a), torch.from_numpy(b)
            return lambda: F.cosine_similarity(x, y, dim=-1)

        impls.append(Impl("torch F.cosine_similarity", "torch", torch_make, _torch_np))
    out_dt = np.float64 if a.dtype == np.float64 else np.float32
    out_name = np.dtype(out_dt).name
    threads = "" if tiny else f" ({L.threads} thread{'s' * (L.threads > 1)})"
    if L.numkong is not None:
        angular = L.numkong.angular

        def nk_make():
            out = np.empty(n, out_dt)
            run = (lambda: angular(a, b, out=out)) if tiny else _rowwise_threaded(L, angular, a, b, out)

            def call():
                run()
                return out

            return call

        impls.append(
            Impl(
                f"numkong.angular{threads}",
                "numkong",
                nk_make,
                result=lambda r: 1.0 - np.asarray(r),
                note=f"distance 1-cos into a reused {out_name} out=, converted",
            )
        )
    if L.simsimd is not None:
        # No out= here: simsimd 6.5 returns None from an out= call without taking a reference to it,
        # and after enough calls the interpreter aborts ("none_dealloc"). Each call (each row block)
        # allocates its result instead, like swiftsim without out=.
        cosine = L.simsimd.cosine

        def sd_make():
            if tiny:
                return lambda: [cosine(a, b, out_dtype=out_name)]

            def block(x, y):
                return cosine(x, y, out_dtype=out_name)

            return L.chunker.map_rows(block, a, b)

        impls.append(
            Impl(
                f"simsimd.cosine{threads}",
                "simsimd",
                sd_make,
                result=lambda r: 1.0 - np.concatenate([np.asarray(x).reshape(-1) for x in r]),
                note=f"distance 1-cos, a new {out_name} result per row block, converted",
            )
        )
    return impls


# --------------------------------------------------------------------------------------------------
# cases


def case_cosine(L: Libs, n: int, d: int, dtype) -> Case:
    a, b = make_pair(n, d, dtype)
    ref = _lazy(lambda: ref_cosine(a, b))
    impls = forward_impls(L, a, b) + stream_read(L.chunker, [a, b])
    dt = np.dtype(dtype)
    return Case(
        name=f"cos_{dt.name}_{n}x{d}",
        group="cosine_similarity",
        title=f"cosine_similarity  {_sizes(a, b)}",
        bytes_min=a.nbytes + b.nbytes + n * dt.itemsize,
        impls=impls,
        check=lambda r: max_error([(r, ref(), 1.0)]),
        tol=tol_for(dtype, d),
        flops=6.0 * n * d,
    )


def case_grad(L: Libs, n: int, d: int, dtype) -> Case:
    a, b = make_pair(n, d, dtype, seed=1)
    ref = _lazy(lambda: ref_grad(a, b))
    ss = L.ss

    def check(r):
        da, db = ref()
        return max_error([(r[0], da, None), (r[1], db, None)])

    def np_grad(x, y):
        rx = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", x, x), EPS))[:, None]
        ry = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", y, y), EPS))[:, None]
        xh, yh = x * rx, y * ry
        c = np.einsum("ij,ij->i", xh, yh)[:, None]
        return rx * (yh - c * xh), ry * (xh - c * yh)

    impls = []
    if "out" in inspect.signature(ss.ops.cosine_similarity_grad).parameters:
        impls.append(
            Impl(
                "swiftsim cosine_similarity_grad (out=)",
                "swiftsim",
                lambda: (lambda out: lambda: ss.ops.cosine_similarity_grad(a, b, out=out))(
                    (np.empty_like(a), np.empty_like(b))
                ),
            )
        )
    impls += [
        Impl(
            "swiftsim cosine_similarity_grad", "swiftsim", lambda: lambda: ss.ops.cosine_similarity_grad(a, b)
        ),
        Impl("numpy closed form", "numpy", lambda: lambda: np_grad(a, b), note="r_x·(ŷ − c·x̂)"),
    ]
    tf = L.tf
    if tf is not None:
        cos = _tf_cos(tf)
        tf_inputs = _lazy(lambda: (tf.constant(a), tf.constant(b)))  # one copy shared by the variants

        def grad(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                tape.watch(y)
                s = tf.reduce_sum(cos(x, y))
            return tape.gradient(s, [x, y])

        def tf_make(kind):
            def make():
                x, y = tf_inputs()
                f = grad if kind == "eager" else tf.function(grad, jit_compile=(kind == "xla"))
                return lambda: f(x, y)

            return make

        conv = lambda r: (_np(r[0]), _np(r[1]))  # noqa: E731
        impls += [
            Impl("tf GradientTape eager", "tensorflow", tf_make("eager"), conv),
            Impl("tf GradientTape tf.function", "tensorflow", tf_make("function"), conv),
            Impl("tf GradientTape tf.function(jit_compile=True)", "tensorflow", tf_make("xla"), conv),
        ]
    if L.jax is not None:
        jcos = _jax_cos(L)
        jgrad = L.jax.jit(L.jax.grad(lambda x, y: L.jnp.sum(jcos(x, y)), argnums=(0, 1)))

        def jax_make():
            x, y = L.jax.device_put(a), L.jax.device_put(b)
            return lambda: L.jax.block_until_ready(jgrad(x, y))

        impls.append(
            Impl("jax.jit(jax.grad)", "jax", jax_make, lambda r: (np.asarray(r[0]), np.asarray(r[1])))
        )
    if L.torch is not None:
        torch, F = L.torch, L.F

        def torch_make():
            x = torch.from_numpy(a).requires_grad_()
            y = torch.from_numpy(b).requires_grad_()
            return lambda: torch.autograd.grad(F.cosine_similarity(x, y, dim=-1).sum(), (x, y))

        impls.append(
            Impl("torch autograd", "torch", torch_make, lambda r: (_torch_np(r[0]), _torch_np(r[1])))
        )
    impls += stream_copy(L.chunker, [a, b])
    dt = np.dtype(dtype)
    return Case(
        name=f"grad_{dt.name}_{n}x{d}",
        group="cosine_similarity_grad",
        title=f"cosine_similarity_grad -> (dx1, dx2)  {_sizes(a, b)}",
        bytes_min=2 * (a.nbytes + b.nbytes),
        impls=impls,
        check=check,
        tol=tol_for(dtype, d),
    )


def case_loss(L: Libs, n: int, d: int, dtype) -> Case:
    yt, yp = make_pair(n, d, dtype, seed=2)

    def reference():
        c = ref_cosine(yt, yp)
        return -c.mean(), -ref_grad(yt, yp)[1] / n

    ref = _lazy(reference)

    def check(r):
        loss, g = ref()
        return max_error([(np.asarray(r[0]), np.asarray(loss), 1.0), (r[1], g, None)])

    loss_obj = L.ss.losses.CosineSimilarity()

    def np_vg(t, p):
        rt = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", t, t), EPS))[:, None]
        rp = 1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", p, p), EPS))[:, None]
        th, ph = t * rt, p * rp
        c = np.einsum("ij,ij->i", th, ph)[:, None]
        return -c.mean(), (rp * (c * ph - th)) / p.shape[0]

    impls = []
    if "out" in inspect.signature(loss_obj.value_and_gradient).parameters:
        impls.append(
            Impl(
                "swiftsim losses.CosineSimilarity().value_and_gradient (out=)",
                "swiftsim",
                lambda: (lambda out: lambda: loss_obj.value_and_gradient(yt, yp, out=out))(np.empty_like(yp)),
            )
        )
    impls += [
        Impl(
            "swiftsim losses.CosineSimilarity().value_and_gradient",
            "swiftsim",
            lambda: lambda: loss_obj.value_and_gradient(yt, yp),
        ),
        Impl("numpy closed form", "numpy", lambda: lambda: np_vg(yt, yp)),
    ]
    tf = L.tf
    conv = lambda r: (_np(r[0]), _np(r[1]))  # noqa: E731
    tf_inputs = _lazy(lambda: (tf.constant(yt), tf.constant(yp)))  # one copy shared by the variants
    for lib, mod in (("keras", L.keras), ("tf_keras", L.tf_keras)):
        if mod is None:
            continue
        kloss = mod.losses.CosineSimilarity()

        def vg(t, p, kloss=kloss):
            with tf.GradientTape() as tape:
                tape.watch(p)
                v = kloss(t, p)
            return v, tape.gradient(v, p)

        def make(kind, vg=vg):
            def m():
                t, p = tf_inputs()
                f = vg if kind == "eager" else tf.function(vg)
                return lambda: f(t, p)

            return m

        label = "keras 3" if lib == "keras" else "tf_keras (Keras 2)"
        impls += [
            Impl(f"{label} CosineSimilarity GradientTape eager", lib, make("eager"), conv),
            Impl(f"{label} CosineSimilarity GradientTape tf.function", lib, make("function"), conv),
        ]
    if L.jax is not None:
        jcos = _jax_cos(L)
        jvg = L.jax.jit(L.jax.value_and_grad(lambda p, t: -L.jnp.mean(jcos(t, p))))

        def jax_make():
            t, p = L.jax.device_put(yt), L.jax.device_put(yp)
            return lambda: L.jax.block_until_ready(jvg(p, t))

        impls.append(
            Impl(
                "jax.jit(jax.value_and_grad)", "jax", jax_make, lambda r: (np.asarray(r[0]), np.asarray(r[1]))
            )
        )
    if L.torch is not None:
        torch, F = L.torch, L.F

        def torch_make():
            t = torch.from_numpy(yt)
            p = torch.from_numpy(yp).requires_grad_()

            def call():
                v = -F.cosine_similarity(t, p, dim=-1).mean()
                return v, torch.autograd.grad(v, p)[0]

            return call

        impls.append(
            Impl("torch autograd", "torch", torch_make, lambda r: (_torch_np(r[0]), _torch_np(r[1])))
        )
    impls += stream_combine(L.chunker, yt, yp)
    dt = np.dtype(dtype)
    return Case(
        name=f"loss_{dt.name}_{n}x{d}",
        group="loss_value_and_gradient",
        title=f"losses.CosineSimilarity value_and_gradient -> (loss, dL/dy_pred)  {_sizes(yt, yp)}",
        bytes_min=yt.nbytes + 2 * yp.nbytes,
        impls=impls,
        check=check,
        tol=tol_for(dtype, d),
    )


def case_tiny_cos(L: Libs, d: int = 128) -> Case:
    a, b = make_pair(1, d, np.float32, seed=3)
    ref = ref_cosine(a, b)
    return Case(
        name=f"tiny_cos_float32_1x{d}",
        group="tiny",
        title=f"tiny call: ops.cosine_similarity  {_sizes(a, b)}, NumPy inputs",
        bytes_min=a.nbytes + b.nbytes + 4,
        impls=forward_impls(L, a, b, tiny=True),
        check=lambda r: max_error([(np.asarray(r).reshape(-1), ref, 1.0)]),
        tol=tol_for(np.float32, d),
        stream_limit=False,
    )


def case_tiny_loss(L: Libs, d: int = 128) -> Case:
    yt, yp = make_pair(1, d, np.float32, seed=4)
    ref = -ref_cosine(yt, yp).mean()
    obj = L.ss.losses.CosineSimilarity()
    impls = [
        Impl("swiftsim losses.CosineSimilarity()(a, b)", "swiftsim", lambda: lambda: obj(yt, yp)),
        Impl("numpy natural -mean(cos)", "numpy", lambda: lambda: -_np_natural(yt, yp).mean()),
    ]
    if L.keras is not None:
        k3 = L.keras.losses.CosineSimilarity()
        impls.append(
            Impl("keras 3 CosineSimilarity()(a, b) on NumPy", "keras", lambda: lambda: k3(yt, yp), _np)
        )
    if L.tf_keras is not None:
        k2 = L.tf_keras.losses.CosineSimilarity()
        impls.append(
            Impl("tf_keras CosineSimilarity()(a, b) on NumPy", "tf_keras", lambda: lambda: k2(yt, yp), _np)
        )
    if L.jax is not None:
        jcos = _jax_cos(L)
        jl = L.jax.jit(lambda t, p: -L.jnp.mean(jcos(t, p)))
        impls.append(
            Impl("jax.jit -mean(cos)", "jax", lambda: lambda: jl(yt, yp).block_until_ready(), np.asarray)
        )
    if L.torch is not None:
        torch, F = L.torch, L.F
        impls.append(
            Impl(
                "torch -F.cosine_similarity().mean()",
                "torch",
                lambda: lambda: -F.cosine_similarity(torch.from_numpy(yt), torch.from_numpy(yp)).mean(),
                _torch_np,
            )
        )
    return Case(
        name=f"tiny_loss_float32_1x{d}",
        group="tiny",
        title=f"tiny call: losses.CosineSimilarity()(a, b)  {_sizes(yt, yp)}, NumPy inputs",
        bytes_min=yt.nbytes + yp.nbytes + 4,
        impls=impls,
        check=lambda r: max_error([(np.asarray(r), np.asarray(ref), 1.0)]),
        tol=tol_for(np.float32, d),
        stream_limit=False,
    )


def _normalize_np(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.maximum(np.einsum("ij,ij->i", x, x), EPS))[:, None]


def case_pairwise(L: Libs, n: int, m: int, d: int, dtype=np.float32) -> Case:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, d), dtype=np.float32).astype(dtype, copy=False)
    y = rng.standard_normal((m, d), dtype=np.float32).astype(dtype, copy=False)
    ref = _lazy(lambda: _normalize_np(x.astype(np.float64)) @ _normalize_np(y.astype(np.float64)).T)
    pw = L.ss.ops.pairwise_cosine_similarity
    impls = [
        Impl(
            "swiftsim (out=)",
            "swiftsim",
            lambda: (lambda out: lambda: pw(x, y, out=out))(np.empty((n, m), x.dtype)),
        ),
        Impl("swiftsim", "swiftsim", lambda: lambda: pw(x, y)),
        Impl(
            "numpy normalize + matmul (BLAS)", "numpy", lambda: lambda: _normalize_np(x) @ _normalize_np(y).T
        ),
    ]
    if L.sklearn is not None:
        skc = L.sklearn.cosine_similarity
        impls.append(Impl("sklearn cosine_similarity", "sklearn", lambda: lambda: skc(x, y)))
    if L.tf is not None:
        tf = L.tf

        def tf_pw(p, q):
            return tf.matmul(tf.nn.l2_normalize(p, -1), tf.nn.l2_normalize(q, -1), transpose_b=True)

        def tf_make():
            p, q = tf.constant(x), tf.constant(y)
            f = tf.function(tf_pw)
            return lambda: f(p, q)

        impls.append(Impl("tf.function normalize + matmul", "tensorflow", tf_make, _np))
    if L.jax is not None:
        jnp, lax = L.jnp, L.jax.lax

        def jpw(p, q):
            p = p * lax.rsqrt(jnp.maximum(jnp.sum(p * p, -1, keepdims=True), EPS))
            q = q * lax.rsqrt(jnp.maximum(jnp.sum(q * q, -1, keepdims=True), EPS))
            return p @ q.T

        jf = L.jax.jit(jpw)

        def jax_make():
            p, q = L.jax.device_put(x), L.jax.device_put(y)
            return lambda: jf(p, q).block_until_ready()

        impls.append(Impl("jax.jit normalize + matmul", "jax", jax_make, np.asarray))
    if L.torch is not None:
        torch, F = L.torch, L.F

        def torch_make():
            p, q = torch.from_numpy(x), torch.from_numpy(y)
            return lambda: F.normalize(p, dim=-1) @ F.normalize(q, dim=-1).T

        impls.append(Impl("torch normalize + mm", "torch", torch_make, _torch_np))
    if L.simsimd is not None:
        sd = L.simsimd
        impls.append(
            Impl(
                f"simsimd.cdist cosine ({L.threads} threads)",
                "simsimd",
                lambda: lambda: sd.cdist(x, y, "cosine", threads=L.threads, out_dtype="float32"),
                lambda r: 1.0 - np.asarray(r),
                note="distance 1-cos, converted",
            )
        )
    if L.numkong is not None:
        nk = L.numkong

        def nk_make():
            out = np.empty((n, m), np.float32)

            def block(p, o):
                nk.cdist(p, y, "angular", out=o, out_dtype="float32")

            run = L.chunker.over_rows(block, x, out)

            def call():
                run()
                return out

            return call

        impls.append(
            Impl(
                f"numkong.cdist angular ({L.threads} threads)",
                "numkong",
                nk_make,
                lambda r: 1.0 - np.asarray(r),
                note="distance 1-cos, row blocks per thread",
            )
        )
    return Case(
        name=f"pairwise_{np.dtype(dtype).name}_{n}x{m}x{d}",
        group="pairwise",
        title=f"pairwise_cosine_similarity  {_sizes(x, y)} -> ({n}, {m})",
        bytes_min=x.nbytes + y.nbytes + n * m * np.dtype(dtype).itemsize,
        impls=impls,
        check=lambda r: max_error([(r, ref(), 1.0)]),
        tol=tol_for(dtype, d),
        flops=2.0 * n * m * d,
        stream_limit=False,
        notes=["compute-bound (a matrix product): no streaming limit; GFLOP/s counts 2·n·m·d"],
    )


def case_top_k(L: Libs, q: int, n: int, d: int, k: int = 10, dtype=np.float32) -> Case:
    rng = np.random.default_rng(6)
    queries = rng.standard_normal((q, d), dtype=np.float32).astype(dtype, copy=False)
    corpus = rng.standard_normal((n, d), dtype=np.float32).astype(dtype, copy=False)

    def reference():
        s = _normalize_np(queries.astype(np.float64)) @ _normalize_np(corpus.astype(np.float64)).T
        best = -np.sort(-s, axis=1)[:, :k]
        return s, best

    ref = _lazy(reference)

    def check(r):
        scores, idx = (np.asarray(r[0], dtype=np.float64), np.asarray(r[1]).astype(np.int64))
        s, best = ref()
        if idx.shape != best.shape or idx.min() < 0 or idx.max() >= n:
            return math.inf
        true_at_idx = np.take_along_axis(s, idx, axis=1)  # ties: any index with the k-th score is right
        return max(max_error([(scores, best, 1.0)]), max_error([(true_at_idx, best, 1.0)]))

    ss = L.ss

    def np_topk(qs, cs):
        s = _normalize_np(qs) @ _normalize_np(cs).T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        return np.take_along_axis(vals, order, axis=1), np.take_along_axis(part, order, axis=1)

    impls = [
        Impl("swiftsim top_k", "swiftsim", lambda: lambda: ss.ops.top_k(queries, corpus, k)),
        Impl("numpy matmul + argpartition", "numpy", lambda: lambda: np_topk(queries, corpus)),
    ]
    if L.faiss is not None:
        faiss = L.faiss

        def faiss_call():
            return faiss.knn(
                _normalize_np(queries), _normalize_np(corpus), k, metric=faiss.METRIC_INNER_PRODUCT
            )

        impls.append(Impl("faiss.knn inner product (normalize inside)", "faiss", lambda: faiss_call))
    if L.usearch is not None:
        us = L.usearch

        def us_call():
            return us.search(corpus, queries, k, us.MetricKind.Cos, exact=True, threads=L.threads)

        impls.append(
            Impl(
                "usearch exact search (Cos)",
                "usearch",
                lambda: us_call,
                lambda r: (1.0 - np.asarray(r.distances, dtype=np.float64), np.asarray(r.keys)),
            )
        )
    if L.torch is not None:
        torch, F = L.torch, L.F

        def torch_make():
            qs, cs = torch.from_numpy(queries), torch.from_numpy(corpus)
            return lambda: torch.topk(F.normalize(qs, dim=-1) @ F.normalize(cs, dim=-1).T, k, dim=1)

        impls.append(
            Impl(
                "torch normalize + mm + topk",
                "torch",
                torch_make,
                lambda r: (_torch_np(r.values), _torch_np(r.indices)),
            )
        )
    if L.jax is not None:
        jnp, lax = L.jnp, L.jax.lax

        def jtop(p, c):
            p = p * lax.rsqrt(jnp.maximum(jnp.sum(p * p, -1, keepdims=True), EPS))
            c = c * lax.rsqrt(jnp.maximum(jnp.sum(c * c, -1, keepdims=True), EPS))
            return lax.top_k(p @ c.T, k)

        jf = L.jax.jit(jtop)

        def jax_make():
            p, c = L.jax.device_put(queries), L.jax.device_put(corpus)
            return lambda: L.jax.block_until_ready(jf(p, c))

        impls.append(
            Impl(
                "jax.jit matmul + lax.top_k", "jax", jax_make, lambda r: (np.asarray(r[0]), np.asarray(r[1]))
            )
        )
    if L.tf is not None:
        tf = L.tf

        def tf_top(p, c):
            s = tf.matmul(tf.nn.l2_normalize(p, -1), tf.nn.l2_normalize(c, -1), transpose_b=True)
            return tf.math.top_k(s, k)

        def tf_make():
            p, c = tf.constant(queries), tf.constant(corpus)
            f = tf.function(tf_top)
            return lambda: f(p, c)

        impls.append(
            Impl(
                "tf.function matmul + tf.math.top_k", "tensorflow", tf_make, lambda r: (_np(r[0]), _np(r[1]))
            )
        )
    return Case(
        name=f"topk_{np.dtype(dtype).name}_{q}q_{n}x{d}_k{k}",
        group="top_k",
        title=f"top_k  queries {queries.shape}, corpus {corpus.shape}, k={k}, {np.dtype(dtype).name}",
        bytes_min=queries.nbytes + corpus.nbytes + q * k * (np.dtype(dtype).itemsize + 8),
        impls=impls,
        check=check,
        tol=tol_for(dtype, d),
        flops=2.0 * q * n * d,
        stream_limit=False,
        notes=["compute-bound (a matrix product): no streaming limit; GFLOP/s counts 2·q·n·d"],
    )


def near_duplicates(n: int, d: int, seed: int = 7) -> np.ndarray:
    """Gaussian rows, a tenth of them noisy copies of other rows (cosine about 0.995 with their
    source; some sources are copied twice), so a de-duplication threshold of 0.9 finds about n/10
    pairs and random pairs (cosines ~ N(0, 1/d)) none."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    dup = rng.choice(n, n // 10, replace=False)
    src = rng.integers(0, n, dup.size)
    keep = src != dup
    x[dup[keep]] = x[src[keep]] + 0.1 * rng.standard_normal((int(keep.sum()), d), dtype=np.float32)
    return x


def _pairs_sorted(rows, cols, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, scores)`` as int64, int64, float64 arrays of the pairs i < j, sorted by (i, j)."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    scores = np.asarray(scores, np.float64)
    keep = rows < cols
    rows, cols, scores = rows[keep], cols[keep], scores[keep]
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], scores[order]


def case_pairs_above(L: Libs, n: int, d: int, threshold: float = 0.9, dtype=np.float32) -> Case:
    x = near_duplicates(n, d).astype(dtype, copy=False)
    tol = tol_for(dtype, d)

    def reference():
        """float64 keys (i·n + j) and cosines of every pair i < j within tol of the threshold or above."""
        unit = _normalize_np(x.astype(np.float64))
        keys, vals = [], []
        step = max(1, (1 << 24) // n)
        for s in range(0, n, step):
            block = unit[s : s + step] @ unit.T
            r, c = np.nonzero(block >= threshold - tol)
            r += s
            upper = c > r
            keys.append(r[upper] * n + c[upper])
            vals.append(block[r[upper] - s, c[upper]])
        return np.concatenate(keys), np.concatenate(vals)

    ref = _lazy(reference)

    def check(r):
        """Every pair clearly above the threshold found, none clearly below, scores within tolerance."""
        rows, cols, scores = _pairs_sorted(*r)
        keys, vals = ref()
        got = rows * n + cols
        at = np.searchsorted(keys, got)
        at_ok = at < keys.size
        if not at_ok.all() or not (keys[at] == got).all():
            return math.inf  # a pair below threshold - tol
        if not np.isin(keys[vals >= threshold + tol], got).all():
            return math.inf  # a pair clearly above the threshold is missing
        return float(np.max(np.abs(scores - vals[at]))) if got.size else 0.0

    pa = L.ss.ops.pairs_above

    def np_pairs(p):
        u = _normalize_np(p)
        rows, cols, vals = [], [], []
        step = max(1, (1 << 24) // n)
        for s in range(0, n, step):
            block = u[s : s + step] @ u[s:].T  # the upper part only: columns from s on
            r, c = np.nonzero(block >= threshold)
            upper = c > r
            rows.append(r[upper] + s)
            cols.append(c[upper] + s)
            vals.append(block[r[upper], c[upper]])
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    impls = [
        Impl("swiftsim pairs_above", "swiftsim", lambda: lambda: pa(x, threshold=threshold)),
        Impl("numpy normalize + blocked matmul + nonzero", "numpy", lambda: lambda: np_pairs(x)),
    ]
    if L.sklearn is not None:
        neighbors = importlib.import_module("sklearn.neighbors")

        def sk_call():
            nn = neighbors.NearestNeighbors(
                radius=1.0 - threshold, metric="cosine", algorithm="brute", n_jobs=L.threads
            ).fit(x)
            return nn.radius_neighbors(x, return_distance=True)

        def sk_result(r):
            dist, ind = r
            counts = np.fromiter((len(i) for i in ind), np.int64, len(ind))
            rows = np.repeat(np.arange(len(ind)), counts)
            cols = np.concatenate(ind) if len(ind) else np.empty(0, np.int64)
            return rows, cols, 1.0 - np.concatenate(dist).astype(np.float64)

        impls.append(
            Impl(
                "sklearn radius_neighbors (cosine, brute)",
                "sklearn",
                lambda: sk_call,
                sk_result,
                note="fit + radius_neighbors(radius = 1 - threshold); both orders of each pair",
            )
        )
    if L.faiss is not None:
        faiss = L.faiss

        def faiss_call():
            u = _normalize_np(x.astype(np.float32, copy=False))
            index = faiss.IndexFlatIP(d)
            index.add(u)
            return index.range_search(u, threshold)

        def faiss_result(r):
            lims, dist, ind = r
            rows = np.repeat(np.arange(n), np.diff(np.asarray(lims, np.int64)))
            return rows, ind, dist

        impls.append(
            Impl(
                "faiss IndexFlatIP range_search (normalize inside)",
                "faiss",
                lambda: faiss_call,
                faiss_result,
                note="inner product > threshold on unit rows; both orders of each pair",
            )
        )
    return Case(
        name=f"pairs_above_{np.dtype(dtype).name}_{n}x{d}_t{threshold:g}",
        group="pairs_above",
        title=f"pairs_above  {np.dtype(dtype).name} {x.shape}, y=None, threshold {threshold:g}, "
        "near-duplicates",
        bytes_min=x.nbytes,
        impls=impls,
        check=check,
        tol=tol,
        flops=float(n) * n * d,
        stream_limit=False,
        notes=[
            "compute-bound (half a matrix product): no streaming limit; GFLOP/s counts n·n·d (the pairs "
            "i < j); the other libraries compute both orders of each pair",
            "check: every pair above threshold + tol found, none below threshold - tol, scores within tol",
        ],
    )


# --------------------------------------------------------------------------------------------------
# the plan


def plan(quick: bool) -> list[tuple[str, str, str | None, Callable[[Libs], Case]]]:
    """``(name, group, required swiftsim attribute, builder)`` for every case, in run order."""
    big = 100_000 if quick else 1_000_000
    mid = 10_000 if quick else 100_000
    wide = 2_000 if quick else 10_000
    pw = (1024, 1024, 768) if quick else (4096, 4096, 768)
    tk = (64, 20_000, 768) if quick else (256, 100_000, 768)
    pa = (4_000, 128) if quick else (20_000, 256)
    f32, f16, f64 = np.float32, np.float16, np.float64
    return [
        (f"cos_float32_{big}x128", "cosine_similarity", None, lambda L: case_cosine(L, big, 128, f32)),
        (f"cos_float32_{mid}x768", "cosine_similarity", None, lambda L: case_cosine(L, mid, 768, f32)),
        (f"cos_float32_{wide}x4096", "cosine_similarity", None, lambda L: case_cosine(L, wide, 4096, f32)),
        (f"cos_float16_{big}x128", "cosine_similarity", None, lambda L: case_cosine(L, big, 128, f16)),
        (f"cos_float64_{big}x128", "cosine_similarity", None, lambda L: case_cosine(L, big, 128, f64)),
        (
            f"grad_float32_{mid}x768",
            "cosine_similarity_grad",
            "ops.cosine_similarity_grad",
            lambda L: case_grad(L, mid, 768, f32),
        ),
        (
            f"loss_float32_{mid}x768",
            "loss_value_and_gradient",
            "losses.CosineSimilarity",
            lambda L: case_loss(L, mid, 768, f32),
        ),
        ("tiny_cos_float32_1x128", "tiny", None, lambda L: case_tiny_cos(L)),
        ("tiny_loss_float32_1x128", "tiny", "losses.CosineSimilarity", lambda L: case_tiny_loss(L)),
        (
            f"pairwise_float32_{pw[0]}x{pw[1]}x{pw[2]}",
            "pairwise",
            "ops.pairwise_cosine_similarity",
            lambda L: case_pairwise(L, *pw),
        ),
        (f"topk_float32_{tk[0]}q_{tk[1]}x{tk[2]}_k10", "top_k", "ops.top_k", lambda L: case_top_k(L, *tk)),
        (
            f"pairs_above_float32_{pa[0]}x{pa[1]}_t0.9",
            "pairs_above",
            "ops.pairs_above",
            lambda L: case_pairs_above(L, *pa),
        ),
    ] + (bf16_plan(quick) if bfloat16_dtype() is not None else [])


def bf16_plan(quick: bool) -> list[tuple[str, str, str | None, Callable[[Libs], Case]]]:
    """The bfloat16 cases: the float32 cases' shapes, each timed against float32 on the same values."""
    big = 100_000 if quick else 1_000_000
    mid = 10_000 if quick else 100_000
    pw = (1024, 1024, 768) if quick else (4096, 4096, 768)
    tk = (64, 20_000, 768) if quick else (256, 100_000, 768)
    few = (4, 20_000, 768) if quick else (4, 100_000, 768)
    return [
        (f"cos_bfloat16_{big}x128", "cosine_similarity", None, lambda L: case_cosine_bf16(L, big, 128)),
        (f"cos_bfloat16_{mid}x768", "cosine_similarity", None, lambda L: case_cosine_bf16(L, mid, 768)),
        (
            f"pairwise_bfloat16_{pw[0]}x{pw[1]}x{pw[2]}",
            "pairwise",
            "ops.pairwise_cosine_similarity",
            lambda L: case_pairwise_bf16(L, *pw),
        ),
        (
            f"topk_bfloat16_{tk[0]}q_{tk[1]}x{tk[2]}_k10",
            "top_k",
            "ops.top_k",
            lambda L: case_top_k_bf16(L, *tk),
        ),
        (
            f"topk_bfloat16_{few[0]}q_{few[1]}x{few[2]}_k10",
            "top_k",
            "ops.top_k",
            lambda L: case_top_k_bf16(L, *few),
        ),
    ]


# --------------------------------------------------------------------------------------------------
# bfloat16 against float32 on the same shapes and values


def bfloat16_dtype():
    """``ml_dtypes.bfloat16`` as a NumPy dtype, or None when ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


def _f32_copy(*arrays: np.ndarray) -> Callable[[], tuple[np.ndarray, ...]]:
    """The float32 copies of bfloat16 arrays (the same values), made once and outside the timing."""
    return _lazy(lambda: tuple(x.astype(np.float32) for x in arrays))  # type: ignore[return-value]


def _bf16_note() -> list[str]:
    return [
        "bfloat16 against float32: 'swiftsim float32' runs the float32 kernels on the same values, so its "
        "ratio is the bfloat16 speed-up (the issue's target: bfloat16 at most 0.6x the float32 time)"
    ]


def case_cosine_bf16(L: Libs, n: int, d: int) -> Case:
    bf = bfloat16_dtype()
    a, b = make_pair(n, d, bf)
    ref = _lazy(lambda: ref_cosine(a, b))
    f32 = _f32_copy(a, b)
    cos = L.ss.ops.cosine_similarity
    impls = [
        Impl(
            "swiftsim (out=)", "swiftsim", lambda: (lambda out: lambda: cos(a, b, out=out))(np.empty(n, bf))
        ),
        Impl("swiftsim", "swiftsim", lambda: lambda: cos(a, b)),
        Impl(
            "swiftsim float32 (out=), same values",
            "swiftsim float32",
            lambda: (lambda x, y, out: lambda: cos(x, y, out=out))(*f32(), np.empty(n, np.float32)),
        ),
    ] + stream_read(L.chunker, [a, b])
    return Case(
        name=f"cos_bfloat16_{n}x{d}",
        group="cosine_similarity",
        title=f"cosine_similarity  {_sizes(a, b)}, against float32",
        bytes_min=a.nbytes + b.nbytes + n * 2,
        impls=impls,
        check=lambda r: max_error([(r, ref(), 1.0)]),
        tol=tol_for(bf, d),
        flops=6.0 * n * d,
        notes=_bf16_note(),
    )


def case_pairwise_bf16(L: Libs, n: int, m: int, d: int) -> Case:
    bf = bfloat16_dtype()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, d), dtype=np.float32).astype(bf)
    y = rng.standard_normal((m, d), dtype=np.float32).astype(bf)
    ref = _lazy(lambda: _normalize_np(x.astype(np.float64)) @ _normalize_np(y.astype(np.float64)).T)
    f32 = _f32_copy(x, y)
    pw = L.ss.ops.pairwise_cosine_similarity
    impls = [
        Impl(
            "swiftsim (out=)",
            "swiftsim",
            lambda: (lambda out: lambda: pw(x, y, out=out))(np.empty((n, m), bf)),
        ),
        Impl(
            "swiftsim float32 (out=), same values",
            "swiftsim float32",
            lambda: (lambda p, q, out: lambda: pw(p, q, out=out))(*f32(), np.empty((n, m), np.float32)),
        ),
    ]
    return Case(
        name=f"pairwise_bfloat16_{n}x{m}x{d}",
        group="pairwise",
        title=f"pairwise_cosine_similarity  {_sizes(x, y)} -> ({n}, {m}), against float32",
        bytes_min=x.nbytes + y.nbytes + n * m * 2,
        impls=impls,
        check=lambda r: max_error([(r, ref(), 1.0)]),
        tol=tol_for(bf, d),
        flops=2.0 * n * m * d,
        stream_limit=False,
        notes=["compute-bound: no streaming limit; GFLOP/s counts 2·n·m·d", *_bf16_note()],
    )


def case_top_k_bf16(L: Libs, q: int, n: int, d: int, k: int = 10) -> Case:
    bf = bfloat16_dtype()
    rng = np.random.default_rng(6)
    queries = rng.standard_normal((q, d), dtype=np.float32).astype(bf)
    corpus = rng.standard_normal((n, d), dtype=np.float32).astype(bf)

    def reference():
        s = _normalize_np(queries.astype(np.float64)) @ _normalize_np(corpus.astype(np.float64)).T
        return s, -np.sort(-s, axis=1)[:, :k]

    ref = _lazy(reference)

    def check(r):
        scores, idx = np.asarray(r[0]).astype(np.float64), np.asarray(r[1]).astype(np.int64)
        s, best = ref()
        if idx.shape != best.shape or idx.min() < 0 or idx.max() >= n:
            return math.inf
        true_at_idx = np.take_along_axis(s, idx, axis=1)  # ties: any index with the k-th score is right
        return max(max_error([(scores, best, 1.0)]), max_error([(true_at_idx, best, 1.0)]))

    f32 = _f32_copy(queries, corpus)
    tk = L.ss.ops.top_k
    impls = [
        Impl("swiftsim top_k", "swiftsim", lambda: lambda: tk(queries, corpus, k)),
        Impl(
            "swiftsim float32 top_k, same values",
            "swiftsim float32",
            lambda: (lambda p, c: lambda: tk(p, c, k))(*f32()),
        ),
    ]
    return Case(
        name=f"topk_bfloat16_{q}q_{n}x{d}_k{k}",
        group="top_k",
        title=f"top_k  {q} queries x {_sizes(corpus, corpus)}, k={k}, against float32",
        bytes_min=queries.nbytes + corpus.nbytes,
        impls=impls,
        check=check,
        tol=tol_for(bf, d),
        flops=2.0 * q * n * d,
        stream_limit=False,
        notes=["GFLOP/s counts 2·q·n·d", *_bf16_note()],
    )


def blas_info() -> list[dict] | None:
    """threadpoolctl's view of the BLAS/OpenMP libraries loaded in this process (None if missing)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return threadpool_info()


def env_snapshot() -> dict:
    keys = (
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "SWIFTSIM_NUM_THREADS",
        "XLA_FLAGS",
        "KERAS_BACKEND",
        "TF_CPP_MIN_LOG_LEVEL",
    )
    return {k: os.environ.get(k) for k in keys}
