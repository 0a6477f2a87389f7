"""Hostile calls straight into the extension ``swiftsim._swiftsim``, each in a fresh interpreter.

The Python layer validates everything before the shim sees it, so these cases go around it: wrong
argument counts, non-arrays, wrong dtypes and byte orders, unaligned/read-only/non-contiguous
outputs, mismatched shapes, 0-d and 64-d arrays, bad epsilon and k, and objects whose ``__float__``
or ``__bool__`` re-type or reshape an array in the middle of the argument checks. The shim's promise
(``Sources/CPyBridge/buffers.c``, ``swiftsim.h``: "nothing here traps") is that each one either works
or raises a Python exception; a segfault, an abort or a write past a buffer is a failure.

Each case runs in its own subprocess (``python -X faulthandler -c ...``), so a crash fails that case
and no other; the child prints ``RAISED <type> | <message>`` or ``RETURNED <type>`` and the test checks
it against the expected outcome. Writes past a buffer are caught with guard elements around the
output (``guarded``): they must still hold their sentinel after the call.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import sys
import numpy as np
from swiftsim import _swiftsim as S

f16, f32, f64 = np.float16, np.float32, np.float64
EPS = 1e-12


def guarded(shape, dtype, pad=64, fill=7.0):
    # An array of `shape` inside a larger one whose other elements must keep `fill`.
    n = int(np.prod(shape))
    buf = np.full(n + pad, fill, dtype)
    return buf[:n].reshape(shape), buf, n


def intact(buf, n, fill=7.0):
    assert (buf[n:] == fill).all(), f"wrote past the output: {buf[n:n + 8]!r}"


def unaligned(shape, dtype):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    return np.zeros(n + dtype.itemsize + 1, np.uint8)[1 : 1 + n].view(dtype).reshape(shape)


def ref_cos(a, b):
    a, b = np.asarray(a, f64), np.asarray(b, f64)
    ra = 1 / np.sqrt(np.maximum((a * a).sum(-1), EPS))
    rb = 1 / np.sqrt(np.maximum((b * b).sum(-1), EPS))
    return (a * b).sum(-1) * ra * rb


def expect(condition, what):
    assert condition, what


def run(call, check=None):
    try:
        result = call()
    except Exception as exc:
        print("RAISED", type(exc).__name__, "|", str(exc).replace("\\n", " ")[:300])
        return
    if check is not None:
        check(result)
    print("RETURNED", type(result).__name__)
"""

RNG = """
rng = np.random.default_rng(0)
a = rng.standard_normal((6, 5)).astype(f32)
b = rng.standard_normal((6, 5)).astype(f32)
out = np.empty(6, f32)
u6 = np.ones(6, f32)
p66 = np.empty((6, 6), f32)
s1 = np.empty((6, 1), f32)
i1 = np.empty((6, 1), np.int64)
"""


def case(name: str, expected: str, code: str, evil: str = ""):
    """One abuse case: ``expected`` is "ok" (returns and the case's checks hold), an exception name,
    or several separated by "|" ("ok|ValueError": either works or raises ValueError); ``evil`` is a
    class definition from :func:`retype`, put before the code."""
    return pytest.param(expected, RNG + evil + textwrap.dedent(code), id=name)


def retype(*names: str, to: str = "f64", method: str = "__float__", value: str = "1e-12") -> str:
    """A class whose ``method`` changes the dtype (or, for ``to="shape"``, the shape) of arrays."""
    body = "".join(
        f"        {n}.shape = ({n}.shape[1], {n}.shape[0])\n"
        if to == "shape"
        else f"        {n}.dtype = {to}\n"
        for n in names
    )
    return f"class Evil:\n    def {method}(self):\n{body}        return {value}\n"


CASES = [
    # --- argument counts and keywords -------------------------------------------------------------
    case("cosine_no_args", "TypeError", "run(lambda: S.cosine())"),
    case("cosine_3_args", "TypeError", "run(lambda: S.cosine(a, b, out))"),
    case("cosine_5_args", "TypeError", "run(lambda: S.cosine(a, b, out, EPS, EPS))"),
    case("cosine_keywords", "TypeError", "run(lambda: S.cosine(a, b, out, epsilon=EPS))"),
    case("l2_normalize_2_args", "TypeError", "run(lambda: S.l2_normalize(a, a.copy()))"),
    case("cosine_grad_6_args", "TypeError", "run(lambda: S.cosine_grad(a, b, u6, None, None, None))"),
    case("pairwise_3_args", "TypeError", "run(lambda: S.pairwise_cosine(a, b, p66))"),
    case("top_k_5_args", "TypeError", "run(lambda: S.top_k(a, b, s1, i1, EPS))"),
    case("set_num_threads_no_args", "TypeError", "run(lambda: S.set_num_threads())"),
    case("get_num_threads_1_arg", "TypeError", "run(lambda: S.get_num_threads(1))"),
    case("build_info_1_arg", "TypeError", "run(lambda: S.build_info(1))"),
    case("cosine_auto_3_args", "ok", "run(lambda: S.cosine_auto(a, b, EPS), lambda r: expect(r is None, r))"),
    # --- not arrays --------------------------------------------------------------------------------
    case("cosine_lists", "TypeError", "run(lambda: S.cosine(a.tolist(), b.tolist(), out, EPS))"),
    case("cosine_out_list", "TypeError", "run(lambda: S.cosine(a, b, [0.0] * 6, EPS))"),
    case("cosine_out_none", "TypeError", "run(lambda: S.cosine(a, b, None, EPS))"),
    case("l2_normalize_none", "TypeError", "run(lambda: S.l2_normalize(None, a, EPS))"),
    case("l2_normalize_memoryview", "TypeError", "run(lambda: S.l2_normalize(memoryview(a), a.copy(), EPS))"),
    case(
        "cosine_grad_upstream_float",
        "TypeError",
        "run(lambda: S.cosine_grad(a, b, 1.0, None, None, out, EPS))",
    ),
    case("pairwise_scalars", "TypeError", "run(lambda: S.pairwise_cosine(1.0, 2.0, 3.0, EPS))"),
    case("top_k_indices_list", "TypeError", "run(lambda: S.top_k(a, b, s1, [[0]] * 6, EPS, False))"),
    case(
        "cosine_auto_lists",
        "ok",
        "run(lambda: S.cosine_auto(a.tolist(), b.tolist(), EPS, None), lambda r: expect(r is None, r))",
    ),
    case(
        "cosine_masked_array", "ok", "run(lambda: S.cosine(np.ma.masked_array(a, mask=a > 0), b, out, EPS))"
    ),
    # --- dtypes and byte order ---------------------------------------------------------------------
    case(
        "cosine_int32",
        "TypeError",
        "i = np.int32\nrun(lambda: S.cosine(a.astype(i), b.astype(i), out.astype(i), EPS))",
    ),
    case("cosine_bool", "TypeError", "run(lambda: S.cosine(a > 0, b > 0, out, EPS))"),
    case(
        "cosine_complex",
        "TypeError",
        "c = complex\nrun(lambda: S.cosine(a.astype(c), b.astype(c), out.astype(c), EPS))",
    ),
    case(
        "cosine_object",
        "TypeError",
        "o = object\nrun(lambda: S.cosine(a.astype(o), b.astype(o), out.astype(o), EPS))",
    ),
    case(
        "cosine_longdouble",
        "TypeError",
        "g = np.longdouble\nrun(lambda: S.cosine(a.astype(g), b.astype(g), out.astype(g), EPS))",
    ),
    case("cosine_mixed_f32_f64", "TypeError", "run(lambda: S.cosine(a, b.astype(f64), out, EPS))"),
    case("cosine_out_f64", "TypeError", "run(lambda: S.cosine(a, b, out.astype(f64), EPS))"),
    case("l2_normalize_out_f16", "TypeError", "run(lambda: S.l2_normalize(a, a.astype(f16), EPS))"),
    case(
        "cosine_grad_upstream_f64",
        "TypeError",
        "run(lambda: S.cosine_grad(a, b, np.ones(6), None, None, out, EPS))",
    ),
    case(
        "cosine_grad_dx_f64",
        "TypeError",
        "run(lambda: S.cosine_grad(a, b, u6, np.empty((6, 5)), None, None, EPS))",
    ),
    case("pairwise_out_f16", "TypeError", "run(lambda: S.pairwise_cosine(a, b, p66.astype(f16), EPS))"),
    case(
        "top_k_indices_int32", "TypeError", "run(lambda: S.top_k(a, b, s1, i1.astype(np.int32), EPS, False))"
    ),
    case("top_k_scores_f64", "TypeError", "run(lambda: S.top_k(a, b, s1.astype(f64), i1, EPS, False))"),
    case("cosine_big_endian", "ValueError", "run(lambda: S.cosine(a.astype('>f4'), b, out, EPS))"),
    case(
        "cosine_out_big_endian", "TypeError|ValueError", "run(lambda: S.cosine(a, b, out.astype('>f4'), EPS))"
    ),
    case(
        "top_k_indices_big_endian",
        "TypeError|ValueError",
        "run(lambda: S.top_k(a, b, s1, i1.astype('>i8'), EPS, False))",
    ),
    # --- memory layout of inputs and outputs ---------------------------------------------------------
    case(
        "cosine_unaligned_input",
        "ValueError",
        "x = unaligned(a.shape, f32)\nx[...] = a\nrun(lambda: S.cosine(x, b, out, EPS))",
    ),
    case(
        "cosine_unaligned_out",
        "ok|ValueError",
        """
        o = unaligned((6,), f32)
        run(lambda: S.cosine(a, b, o, EPS), lambda r: np.testing.assert_allclose(o, ref_cos(a, b), atol=2e-6))
        """,
    ),
    case(
        "cosine_readonly_out",
        "ValueError",
        "out.flags.writeable = False\nrun(lambda: S.cosine(a, b, out, EPS))",
    ),
    case(
        "cosine_strided_out",
        "ok",
        """
        big, buf, n = guarded((12,), f32)
        o = big[::2]
        def check(r):
            np.testing.assert_allclose(o, ref_cos(a, b), atol=2e-6)
            expect((big[1::2] == 7).all(), "wrote between the strided elements")
            intact(buf, n)
        run(lambda: S.cosine(a, b, o, EPS), check)
        """,
    ),
    case(
        "cosine_negative_strides",
        "ok",
        """
        x, y, o = a[::-1, ::-1], b[::-1, ::-1], np.empty(6, f32)[::-1]
        run(lambda: S.cosine(x, y, o, EPS), lambda r: np.testing.assert_allclose(o, ref_cos(x, y), atol=2e-6))
        """,
    ),
    case(
        "cosine_stride0_inputs",
        "ok",
        """
        x = np.broadcast_to(a[:1], a.shape)
        want = ref_cos(x, b)
        run(lambda: S.cosine(x, b, out, EPS), lambda r: np.testing.assert_allclose(out, want, atol=2e-6))
        """,
    ),
    case(
        "cosine_stride0_writeable_out",
        "ok",
        """
        o = np.lib.stride_tricks.as_strided(np.zeros(1, f32), (6,), (0,), writeable=True)
        run(lambda: S.cosine(a, b, o, EPS))
        """,
    ),
    case(
        "cosine_out_overlaps_input",
        "ok|ValueError",
        "x = a.copy()\nrun(lambda: S.cosine(x, b, x[:, 0], EPS))",
    ),
    case(
        "l2_normalize_in_place",
        "ok",
        """
        x = a.copy()
        want = a / np.linalg.norm(a.astype(f64), axis=-1, keepdims=True)
        run(lambda: S.l2_normalize(x, x, EPS), lambda r: np.testing.assert_allclose(x, want, atol=2e-6))
        """,
    ),
    case(
        "l2_normalize_readonly_out",
        "ValueError",
        "o = np.empty_like(a)\no.flags.writeable = False\nrun(lambda: S.l2_normalize(a, o, EPS))",
    ),
    case(
        "pairwise_out_strided_last_axis",
        "ValueError",
        "o = np.empty((6, 12), f32)[:, ::2]\nrun(lambda: S.pairwise_cosine(a, b, o, EPS))",
    ),
    case(
        "pairwise_out_readonly",
        "ValueError",
        "p66.flags.writeable = False\nrun(lambda: S.pairwise_cosine(a, b, p66, EPS))",
    ),
    case(
        "pairwise_x_is_y",
        "ok",
        "run(lambda: S.pairwise_cosine(a, a, p66, EPS), lambda r: np.testing.assert_array_equal(p66, p66.T))",
    ),
    case(
        "pairwise_out_overlaps_x",
        "ok|ValueError",
        "x = np.zeros((6, 6), f32)\nx[:, :5] = a\nrun(lambda: S.pairwise_cosine(x, x, x, EPS))",
    ),
    case(
        "top_k_scores_not_contiguous",
        "ValueError",
        "s = np.empty((6, 2), f32)[:, :1]\nrun(lambda: S.top_k(a, b, s, i1, EPS, False))",
    ),
    case(
        "top_k_indices_readonly",
        "ValueError",
        "i1.flags.writeable = False\nrun(lambda: S.top_k(a, b, s1, i1, EPS, False))",
    ),
    case(
        "top_k_indices_unaligned",
        "ValueError",
        "run(lambda: S.top_k(a, b, s1, unaligned((6, 1), np.int64), EPS, False))",
    ),
    case(
        "top_k_scores_readonly",
        "ValueError",
        "s1.flags.writeable = False\nrun(lambda: S.top_k(a, b, s1, i1, EPS, False))",
    ),
    # --- shapes --------------------------------------------------------------------------------------
    case("cosine_d_mismatch", "ValueError", "run(lambda: S.cosine(a, b[:, :4], out, EPS))"),
    case("cosine_rows_mismatch", "ValueError", "run(lambda: S.cosine(a, b[:5], out, EPS))"),
    case("cosine_ndim_mismatch", "ValueError", "run(lambda: S.cosine(a, b[None], out, EPS))"),
    case("cosine_out_shape", "ValueError", "run(lambda: S.cosine(a, b, np.empty(5, f32), EPS))"),
    case("cosine_out_2d", "ValueError", "run(lambda: S.cosine(a, b, np.empty((6, 1), f32), EPS))"),
    case(
        "cosine_0d", "ValueError", "run(lambda: S.cosine(np.array(1.0), np.array(1.0), np.array(0.0), EPS))"
    ),
    case(
        "cosine_size1_reduced",
        "ok",
        """
        want = a.astype(f64).sum(-1) / np.linalg.norm(a.astype(f64), axis=-1) * np.sign(b[:, 0])
        check = lambda r: np.testing.assert_allclose(out, want, atol=2e-6)  # noqa: E731
        run(lambda: S.cosine(a, b[:, :1], out, EPS), check)
        """,
    ),
    case(
        "cosine_size1_vs_0",
        "ok",
        """
        o = np.empty(3)
        run(lambda: S.cosine(np.ones((3, 1)), np.ones((3, 0)), o, EPS), lambda r: expect((o == 0).all(), o))
        """,
    ),
    case(
        "cosine_empty",
        "ok",
        "run(lambda: S.cosine(np.ones((0, 4), f32), np.ones((0, 4), f32), np.empty(0, f32), EPS))",
    ),
    case("l2_normalize_0d", "ValueError", "run(lambda: S.l2_normalize(np.array(1.0), np.array(0.0), EPS))"),
    case(
        "l2_normalize_out_shape", "ValueError", "run(lambda: S.l2_normalize(a, np.empty((6, 4), f32), EPS))"
    ),
    case(
        "cosine_grad_upstream_shape",
        "ValueError",
        "run(lambda: S.cosine_grad(a, b, u6[:5], None, None, out, EPS))",
    ),
    case(
        "cosine_grad_dx_shape",
        "ValueError",
        "run(lambda: S.cosine_grad(a, b, u6, np.empty((6, 4), f32), None, None, EPS))",
    ),
    case(
        "cosine_grad_db_of_a_shape",
        "ValueError",
        "run(lambda: S.cosine_grad(a, b[:, :1], u6, None, np.empty((6, 5), f32), None, EPS))",
    ),
    case(
        "cosine_grad_outputs_alias_inputs",
        "ok|ValueError",
        "x, y = a.copy(), b.copy()\nrun(lambda: S.cosine_grad(x, y, u6, x, y, None, EPS))",
    ),
    case(
        "cosine_grad_outputs_alias_each_other",
        "ok|ValueError",
        "g = np.empty_like(a)\nrun(lambda: S.cosine_grad(a, b, u6, g, g, None, EPS))",
    ),
    case("cosine_grad_all_outputs_none", "ok", "run(lambda: S.cosine_grad(a, b, u6, None, None, None, EPS))"),
    case(
        "cosine_grad_guarded",
        "ok",
        """
        (da, ba, na), (db, bb, nb) = guarded((6, 5), f32), guarded((6, 1), f32)
        c, bc, nc = guarded((6,), f32)
        def check(r):
            intact(ba, na)
            intact(bb, nb)
            intact(bc, nc)
        run(lambda: S.cosine_grad(a, b[:, :1], u6, da, db, c, EPS), check)
        """,
    ),
    case(
        "pairwise_1d",
        "ValueError",
        "run(lambda: S.pairwise_cosine(np.ones(4), np.ones(4), np.empty(1), EPS))",
    ),
    case("pairwise_d_mismatch", "ValueError", "run(lambda: S.pairwise_cosine(a, b[:, :4], p66, EPS))"),
    case("pairwise_y_ndim", "ValueError", "run(lambda: S.pairwise_cosine(a[None], b, p66[None], EPS))"),
    case(
        "pairwise_batch_mismatch",
        "ValueError",
        "run(lambda: S.pairwise_cosine(np.ones((2, 3, 4)), np.ones((3, 3, 4)), np.empty((2, 3, 3)), EPS))",
    ),
    case(
        "pairwise_out_shape", "ValueError", "run(lambda: S.pairwise_cosine(a, b, np.empty((6, 5), f32), EPS))"
    ),
    case(
        "pairwise_guarded",
        "ok",
        """
        x, y = np.ones((13, 40), f32), np.ones((33, 40), f32)
        o, buf, n = guarded((13, 33), f32)
        run(lambda: S.pairwise_cosine(x, y, o, EPS), lambda r: intact(buf, n))
        """,
    ),
    case(
        "pairwise_empty",
        "ok",
        "run(lambda: S.pairwise_cosine(np.ones((0, 4)), np.ones((3, 4)), np.empty((0, 3)), EPS))",
    ),
    case("top_k_k0", "ValueError", "run(lambda: S.top_k(a, b, s1[:, :0], i1[:, :0], EPS, False))"),
    case(
        "top_k_k_above_n",
        "ok",
        """
        i = np.empty((6, 7), np.int64)
        pad = lambda r: expect((i[:, 6:] == -1).all() and (i[:, :6] >= 0).all(), i)
        run(lambda: S.top_k(a, b, np.empty((6, 7), f32), i, EPS, False), pad)
        """,
    ),
    case(
        "top_k_empty_corpus",
        "ok",
        """
        pad = lambda r: expect((i1 == -1).all() and np.isnan(s1).all(), i1)
        run(lambda: S.top_k(a, b[:0], s1, i1, EPS, False), pad)
        """,
    ),
    case(
        "top_k_exclusions_out_of_range",
        "ValueError",
        "run(lambda: S.top_k(a, b, s1, i1, EPS, False, np.array([0, 1] + [1] * 5), np.array([6]), False, 0))",
    ),
    case(
        "top_k_exclusions_huge_indptr",
        "ValueError",
        """
        ptr = np.array([0] + [2**62] * 6)
        run(lambda: S.top_k(a, b, s1, i1, EPS, False, ptr, np.array([0]), False, 0))
        """,
    ),
    case(
        "top_k_exclusions_indptr_strided",
        "ValueError",
        """
        ptr = np.zeros(14, np.int64)[::2]
        run(lambda: S.top_k(a, b, s1, i1, EPS, False, ptr, ptr[:0], False, 0))
        """,
    ),
    case("top_k_1d_queries", "ValueError", "run(lambda: S.top_k(a[0], b, s1[:1], i1[:1], EPS, False))"),
    case(
        "top_k_indices_shape",
        "ValueError",
        "run(lambda: S.top_k(a, b, np.empty((6, 2), f32), i1, EPS, False))",
    ),
    case(
        "top_k_guarded",
        "ok",
        """
        x = np.random.default_rng(1).standard_normal((7, 20)).astype(f32)
        (s, bs, ns), (i, bi, ni) = guarded((7, 3), f32), guarded((7, 3), np.int64)
        def check(r):
            intact(bs, ns)
            intact(bi, ni)
            expect(((i >= 0) & (i < 7)).all(), i)
        run(lambda: S.top_k(x, x, s, i, EPS, False), check)
        """,
    ),
    # --- 0-d and 64-d arrays -------------------------------------------------------------------------
    case(
        "cosine_64d_size1",
        "ok",
        "x = np.ones((1,) * 63 + (4,))\nrun(lambda: S.cosine(x, x, np.empty((1,) * 63), EPS))",
    ),
    case(
        "cosine_64d_empty",
        "ok",
        """
        x = np.ones((2,) * 50 + (0,) * 13 + (4,))
        run(lambda: S.cosine(x, x, np.empty(x.shape[:-1]), EPS))
        """,
    ),
    case(
        "cosine_64d_broadcast",
        "ok",
        """
        x = np.broadcast_to(np.ones(4), (2,) * 10 + (1,) * 53 + (4,))
        o = np.empty(x.shape[:-1])
        run(lambda: S.cosine(x, x, o, EPS), lambda r: np.testing.assert_allclose(o, 1.0))
        """,
    ),
    case(
        "l2_normalize_64d",
        "ok",
        "x = np.ones((1,) * 62 + (2, 4))\nrun(lambda: S.l2_normalize(x, np.empty_like(x), EPS))",
    ),
    case(
        "cosine_grad_64d",
        "ok",
        """
        x = np.ones((1,) * 63 + (4,))
        run(lambda: S.cosine_grad(x, x, np.ones((1,) * 63), np.empty_like(x), np.empty_like(x), None, EPS))
        """,
    ),
    case(
        "pairwise_64d",
        "ok",
        """
        x = np.ones((1,) * 62 + (3, 4))
        run(lambda: S.pairwise_cosine(x, x, np.empty((1,) * 62 + (3, 3)), EPS))
        """,
    ),
    # --- epsilon, flags ------------------------------------------------------------------------------
    case("eps_negative", "ValueError", "run(lambda: S.cosine(a, b, out, -1e-12))"),
    case("eps_nan", "ValueError", "run(lambda: S.cosine(a, b, out, float('nan')))"),
    case(
        "eps_inf",
        "ok|ValueError",
        "run(lambda: S.cosine(a, b, out, float('inf')), lambda r: expect(np.isfinite(out).all(), out))",
    ),
    case(
        "eps_huge_float",
        "ok",
        "run(lambda: S.cosine(a, b, out, 1e308), lambda r: expect((np.abs(out) < 1e-6).all(), out))",
    ),
    case("eps_huge_int", "TypeError|ValueError", "run(lambda: S.cosine(a, b, out, 10**400))"),
    case("eps_str", "TypeError", "run(lambda: S.cosine(a, b, out, '1e-12'))"),
    case("eps_none", "TypeError", "run(lambda: S.l2_normalize(a, a.copy(), None))"),
    case("eps_complex", "TypeError", "run(lambda: S.pairwise_cosine(a, b, p66, 1j))"),
    case("eps_numpy_0d", "ok", "run(lambda: S.cosine(a, b, out, np.array(1e-12)))"),
    case(
        "eps_float_raises",
        "ZeroDivisionError",
        "run(lambda: S.cosine(a, b, out, Evil()))",
        evil=retype(value="1 / 0"),
    ),
    case(
        "eps_float_returns_str",
        "TypeError",
        "run(lambda: S.top_k(a, b, s1, i1, Evil(), False))",
        evil=retype(value="'x'"),
    ),
    case(
        "top_k_flag_raises",
        "ZeroDivisionError",
        "run(lambda: S.top_k(a, b, s1, i1, EPS, Evil()))",
        evil=retype(method="__bool__", value="1 / 0"),
    ),
    case(
        "top_k_flag_returns_int",
        "TypeError",
        "run(lambda: S.top_k(a, b, s1, i1, EPS, Evil()))",
        evil=retype(method="__bool__", value="1"),
    ),
    # --- scalars that re-type or reshape an array during the checks (the shim must read them first) ---
    case(
        "cosine_float_retypes_inputs",
        "TypeError|ValueError",
        """
        o, buf, n = guarded((6,), f32)
        a, b = np.ones((6, 4), f32), np.ones((6, 4), f32)
        run(lambda: S.cosine(a, b, o, Evil()), lambda r: intact(buf, n))
        """,
        evil=retype("a", "b"),
    ),
    case(
        "cosine_float_reshapes_inputs",
        "TypeError|ValueError",
        "run(lambda: S.cosine(a, b, out, Evil()))",
        evil=retype("a", "b", to="shape"),
    ),
    case(
        "cosine_float_retypes_out",
        "TypeError|ValueError",
        """
        buf = np.full(32, 7.0, f32)
        o = buf[:12].view(f64)
        x, y = a.astype(f64), b.astype(f64)
        run(lambda: S.cosine(x, y, o, Evil()), lambda r: expect((buf[12:] == 7).all(), buf))
        """,
        evil=retype("o", to="f32"),
    ),
    case(
        "cosine_auto_float_subclass_retypes",
        "ok|TypeError|ValueError",
        """
        class Evil(float):
            def __float__(self):
                x.dtype = f64
                return 1e-12
        x = np.ones((6, 4), f32)
        run(lambda: S.cosine_auto(x, x.copy(), Evil(1e-12), None))
        """,
    ),
    case(
        "l2_normalize_float_retypes_input",
        "TypeError|ValueError",
        """
        x = np.ones((6, 4), f32)
        o, buf, n = guarded((6, 4), f32)
        run(lambda: S.l2_normalize(x, o, Evil()), lambda r: intact(buf, n))
        """,
        evil=retype("x"),
    ),
    case(
        "l2_normalize_float_retypes_both",
        "ok|TypeError|ValueError",
        """
        x = np.ones((6, 4), f32)
        buf = np.full(64, 7.0, f32)
        o = buf[:24].reshape(6, 4)
        run(lambda: S.l2_normalize(x, o, Evil()), lambda r: expect((buf[24:] == 7).all(), buf))
        """,
        evil=retype("x", "o"),
    ),
    case(
        "cosine_grad_float_retypes_inputs",
        "TypeError|ValueError",
        """
        a, b = np.ones((6, 4), f32), np.ones((6, 4), f32)
        (da, ba, na), (c, bc, nc) = guarded((6, 4), f32), guarded((6,), f32)
        def check(r):
            intact(ba, na)
            intact(bc, nc)
        run(lambda: S.cosine_grad(a, b, u6, da, None, c, Evil()), check)
        """,
        evil=retype("a", "b"),
    ),
    case(
        "cosine_grad_float_retypes_upstream",
        "TypeError|ValueError",
        "c, bc, nc = guarded((6,), f32)\nrun(lambda: S.cosine_grad(a, b, u6, None, None, c, Evil()))",
        evil=retype("u6"),
    ),
    case(
        "pairwise_float_retypes_inputs",
        "TypeError|ValueError",
        """
        x, y = np.ones((5, 8), f32), np.ones((6, 8), f32)
        o, buf, n = guarded((5, 6), f32)
        run(lambda: S.pairwise_cosine(x, y, o, Evil()), lambda r: intact(buf, n))
        """,
        evil=retype("x", "y"),
    ),
    case(
        "top_k_float_retypes_inputs",
        "TypeError|ValueError",
        """
        q, c = np.ones((4, 8), f32), np.ones((6, 8), f32)
        s, buf, n = guarded((4, 2), f32)
        run(lambda: S.top_k(q, c, s, np.zeros((4, 2), np.int64), Evil(), False), lambda r: intact(buf, n))
        """,
        evil=retype("q", "c"),
    ),
    case(
        "top_k_bool_retypes_inputs",
        "TypeError|ValueError",
        """
        q, c = np.ones((4, 8), f32), np.ones((6, 8), f32)
        s, buf, n = guarded((4, 2), f32)
        run(lambda: S.top_k(q, c, s, np.zeros((4, 2), np.int64), EPS, Evil()), lambda r: intact(buf, n))
        """,
        evil=retype("q", "c", method="__bool__", value="False"),
    ),
    case(
        "top_k_bool_reshapes_corpus",
        "ok|TypeError|ValueError",
        """
        q, c = np.ones((4, 8), f32), np.ones((6, 8), f32)
        (s, bs, ns), (i, bi, ni) = guarded((4, 2), f32), guarded((4, 2), np.int64)
        def check(r):
            intact(bs, ns)
            intact(bi, ni)
        run(lambda: S.top_k(q, c, s, i, EPS, Evil()), check)
        """,
        evil=retype("c", to="shape", method="__bool__", value="False"),
    ),
    # --- threads ---------------------------------------------------------------------------------------
    case("threads_zero", "ValueError", "run(lambda: S.set_num_threads(0))"),
    case("threads_negative", "ValueError", "run(lambda: S.set_num_threads(-1))"),
    case("threads_1025", "ValueError", "run(lambda: S.set_num_threads(1025))"),
    case("threads_2_pow_64", "ValueError|TypeError", "run(lambda: S.set_num_threads(2**64))"),
    case("threads_minus_2_pow_64", "ValueError|TypeError", "run(lambda: S.set_num_threads(-(2**64)))"),
    case("threads_bool", "TypeError", "run(lambda: S.set_num_threads(True))"),
    case("threads_float", "TypeError", "run(lambda: S.set_num_threads(2.0))"),
    case("threads_str", "TypeError", "run(lambda: S.set_num_threads('2'))"),
    case(
        "threads_unchanged_after_errors",
        "ok",
        """
        S.set_num_threads(3)
        for bad in (0, -1, 1025, 2**64, True, 2.0, None):
            try:
                S.set_num_threads(bad)
            except Exception:
                pass
        run(lambda: S.get_num_threads(), lambda r: expect(r == 3, r))
        """,
    ),
    case(
        "build_info_keys",
        "ok",
        """
        keys = {"swift_version", "target_cpu", "simd_bits", "kernels", "cpu_features"}
        run(S.build_info, lambda r: expect(keys <= set(r), r))
        """,
    ),
]

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def run_case(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SWIFTSIM_NUM_THREADS=os.environ.get("SWIFTSIM_NUM_THREADS", "2"))
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", PRELUDE + code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize("expected,code", CASES)
def test_extension_survives(expected, code):
    proc = run_case(code)
    detail = f"\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-3000:]}"
    if proc.returncode < 0:
        pytest.fail(f"the interpreter died of signal {-proc.returncode}{detail}")
    assert proc.returncode == 0, f"exit status {proc.returncode}{detail}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("RAISED", "RETURNED"))]
    assert len(lines) == 1, f"no outcome printed{detail}"
    outcome = lines[0].split()
    allowed = expected.split("|")
    if outcome[0] == "RETURNED":
        assert "ok" in allowed, f"returned normally, expected {expected}{detail}"
    else:
        name = outcome[1]
        message = lines[0].split("|", 1)[1].strip()
        assert name in allowed, f"raised {name}, expected {expected}{detail}"
        assert message, f"{name} without a message{detail}"
