/* module.c — the extension module swiftsim._swiftsim: init, the method table, threads, build info. */
#define CPYBRIDGE_MODULE_C
#include "cpybridge.h"

#ifndef SWIFTSIM_SWIFT_VERSION
#define SWIFTSIM_SWIFT_VERSION "unknown"
#endif
#ifndef SWIFTSIM_VECTOR_BITS
#define SWIFTSIM_VECTOR_BITS 0
#endif
#ifndef SWIFTSIM_TARGET_CPU
#define SWIFTSIM_TARGET_CPU "unknown"
#endif

static int32_t g_threads = 1;

int32_t cpb_threads(void) { return __atomic_load_n(&g_threads, __ATOMIC_RELAXED); }

static PyObject *set_num_threads(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyLong_Check(arg) || PyBool_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "the number of threads must be an int, got %.200s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    int overflow = 0;
    long n = PyLong_AsLongAndOverflow(arg, &overflow);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (overflow || n < 1 || n > 1024) {
        PyErr_Format(PyExc_ValueError, "the number of threads must be between 1 and 1024, got %S", arg);
        return NULL;
    }
    __atomic_store_n(&g_threads, (int32_t)n, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

static PyObject *get_num_threads(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromLong(cpb_threads());
}

static PyObject *build_info(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyObject *features = PyList_New(0);
    if (!features) return NULL;
#if defined(__x86_64__)
    __builtin_cpu_init();
    static const char *names[] = {"sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                                  "avx512fp16", "avx512bf16"};
    int have[] = {__builtin_cpu_supports("sse4.2"),   __builtin_cpu_supports("avx"),
                  __builtin_cpu_supports("avx2"),     __builtin_cpu_supports("fma"),
                  __builtin_cpu_supports("f16c"),     __builtin_cpu_supports("avx512f"),
                  __builtin_cpu_supports("avx512bw"), __builtin_cpu_supports("avx512vl"),
                  __builtin_cpu_supports("avx512fp16"), __builtin_cpu_supports("avx512bf16")};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!have[i]) continue;
        PyObject *s = PyUnicode_FromString(names[i]);
        if (!s || PyList_Append(features, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(features);
            return NULL;
        }
        Py_DECREF(s);
    }
#endif
    return Py_BuildValue("{s:s,s:s,s:i,s:s,s:N}", "swift_version", SWIFTSIM_SWIFT_VERSION, "target_cpu",
                         SWIFTSIM_TARGET_CPU, "simd_bits", SWIFTSIM_VECTOR_BITS, "kernels", ssim_build_info(),
                         "cpu_features", features);
}

static PyMethodDef methods[] = {
    {"cosine", (PyCFunction)(void (*)(void))cpb_cosine, METH_FASTCALL,
     "cosine(x1, x2, out, epsilon): row-wise cosine over the last axis into out."},
    {"cosine_auto", (PyCFunction)(void (*)(void))cpb_cosine_auto, METH_FASTCALL,
     "cosine_auto(x1, x2, epsilon, out): the short path for same-shape float arrays over the last axis, or None."},
    {"l2_normalize", (PyCFunction)(void (*)(void))cpb_l2_normalize, METH_FASTCALL,
     "l2_normalize(x, out, epsilon): rows of x scaled to unit length into out."},
    {"l2_normalize_grad", (PyCFunction)(void (*)(void))cpb_l2_normalize_grad, METH_FASTCALL,
     "l2_normalize_grad(x, upstream, dx, epsilon): the gradient of sum(upstream * l2_normalize(x)) into dx."},
    {"cosine_grad", (PyCFunction)(void (*)(void))cpb_cosine_grad, METH_FASTCALL,
     "cosine_grad(x1, x2, upstream, dx1, dx2, cos, epsilon): fused cosine and gradient."},
    {"merge_top_k", (PyCFunction)(void (*)(void))cpb_merge_top_k, METH_FASTCALL,
     "merge_top_k(scores_parts, indices_parts, out_scores, out_indices): the k best of sharded top-k results."},
    {"pairs_above", (PyCFunction)(void (*)(void))cpb_pairs_above, METH_FASTCALL,
     "pairs_above(x, y, rows, cols, scores, threshold, diagonal, first_row, epsilon) -> (written, found, "
     "next_row, complete): every pair with cosine >= threshold."},
    {"from_dlpack", cpb_from_dlpack, METH_O,
     "from_dlpack(capsule) -> ndarray: a read-only view of a CPU DLPack tensor (bfloat16 included) that owns it."},
    {"set_num_threads", set_num_threads, METH_O, "set_num_threads(n): threads used by every kernel."},
    {"get_num_threads", get_num_threads, METH_NOARGS, "get_num_threads() -> int."},
    {"build_info", build_info, METH_NOARGS, "build_info() -> dict describing the compiled kernels."},
    {"pairwise_cosine", (PyCFunction)(void (*)(void))cpb_pairwise_cosine, METH_FASTCALL,
     "pairwise_cosine(x, y, out, epsilon): all-pairs cosine (..., n, d) x (..., m, d) into out (..., n, m)."},
    {"top_k", (PyCFunction)(void (*)(void))cpb_top_k, METH_FASTCALL,
     "top_k(queries, corpus, scores, indices, epsilon, assume_normalized[, exclude_indptr, exclude_indices, exclude_self, "
     "method]): k best corpus rows per query."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "swiftsim._swiftsim", "Swift cosine-similarity kernels (C ABI bridge).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__swiftsim(void) {
    import_array();
    if (cpb_interrupt_init() < 0) return NULL;
    return PyModule_Create(&moduledef);
}
