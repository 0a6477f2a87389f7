/* pairwise.c — the all-pairs kernels: pairwise cosine similarity and top-k retrieval.
 *
 *   pairwise_cosine(x, y, out, epsilon)
 *       x (..., n, d), y (..., m, d), out (..., n, m) with the same leading (batch) shape; out's last
 *       axis contiguous. Passing the same array as x and y lets the kernel compute one triangle.
 *   top_k(queries, corpus, scores, indices, epsilon, assume_normalized)
 *       queries (q, d), corpus (n, d), scores (q, k) of their dtype, indices (q, k) int64, both
 *       C-contiguous; k is read from scores' shape.
 *
 * The Python layer broadcasts, converts and checks the memory budget; this file checks again what the
 * kernels rely on (dtypes, shapes, writeability, contiguity), releases the GIL and maps the status. */
#include "cpybridge.h"


PyObject *cpb_pairwise_cosine(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "pairwise_cosine expects 4 arguments (x, y, out, epsilon), got %zd", nargs);
        return NULL;
    }
    PyArrayObject *x, *y, *out;
    double eps;
    if (cpb_require_array(args[0], "x", 0, &x) < 0 || cpb_require_array(args[1], "y", 0, &y) < 0 ||
        cpb_require_array(args[2], "out", 1, &out) < 0 || cpb_require_same_dtype(x, y, "x", "y") < 0 ||
        cpb_require_same_dtype(x, out, "x", "out") < 0 || cpb_parse_epsilon(args[3], &eps) < 0)
        return NULL;
    int nd = PyArray_NDIM(x);
    if (nd < 2 || nd > SSIM_MAX_DIMS + 2) {
        PyErr_Format(PyExc_ValueError, "x must have between 2 and %d axes (..., n, d), got %d", SSIM_MAX_DIMS + 2, nd);
        return NULL;
    }
    npy_intp want[NPY_MAXDIMS];
    for (int i = 0; i < nd; i++) want[i] = PyArray_DIMS(x)[i];
    want[nd - 2] = PyArray_NDIM(y) == nd ? PyArray_DIMS(y)[nd - 2] : 0;
    if (cpb_require_shape(y, "y", nd, want) < 0) return NULL;
    int64_t n = PyArray_DIMS(x)[nd - 2], m = PyArray_DIMS(y)[nd - 2], d = PyArray_DIMS(x)[nd - 1];
    want[nd - 2] = n;
    want[nd - 1] = m;
    if (cpb_require_shape(out, "out", nd, want) < 0) return NULL;
    if (m > 1 && PyArray_STRIDES(out)[nd - 1] != PyArray_ITEMSIZE(out)) {
        PyErr_SetString(PyExc_ValueError, "out must be contiguous along its last axis");
        return NULL;
    }
    cpb_layout L;
    PyArrayObject *ops[3] = {x, y, out};
    const int scalar[3] = {0, 0, 0};
    cpb_build_layout(&L, 3, ops, scalar, nd - 2, PyArray_DIMS(x));
    int64_t xs = PyArray_STRIDES(x)[nd - 1], ys = PyArray_STRIDES(y)[nd - 1];
    void *px = PyArray_DATA(x), *py = PyArray_DATA(y), *po = PyArray_DATA(out);
    int32_t threads = cpb_threads();
    double work = (double)L.rows * (double)n * (double)m * (double)(d > 0 ? d : 1);
    PyThreadState *ts = work >= CPB_GIL_RELEASE_ELEMENTS ? PyEval_SaveThread() : NULL;
    ssim_status st;
    switch (PyArray_TYPE(x)) {
    case NPY_HALF:
        st = ssim_pairwise_cosine_f16(F16(px), F16(py), F16(po), n, m, d, xs, ys, L.ndim, L.shape, L.strides, eps, threads);
        break;
    case NPY_FLOAT:
        st = ssim_pairwise_cosine_f32(px, py, po, n, m, d, xs, ys, L.ndim, L.shape, L.strides, eps, threads);
        break;
    default:
        st = ssim_pairwise_cosine_f64(px, py, po, n, m, d, xs, ys, L.ndim, L.shape, L.strides, eps, threads);
        break;
    }
    if (ts) PyEval_RestoreThread(ts);
    if (cpb_raise_status(st, "pairwise_cosine") < 0) return NULL;
    Py_RETURN_NONE;
}

PyObject *cpb_top_k(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError,
                     "top_k expects 6 arguments (queries, corpus, scores, indices, epsilon, assume_normalized), got %zd",
                     nargs);
        return NULL;
    }
    PyArrayObject *q, *c, *scores, *indices;
    double eps;
    if (cpb_require_array(args[0], "queries", 0, &q) < 0 || cpb_require_array(args[1], "corpus", 0, &c) < 0 ||
        cpb_require_array(args[2], "scores", 1, &scores) < 0 || cpb_require_same_dtype(q, c, "queries", "corpus") < 0 ||
        cpb_require_same_dtype(q, scores, "queries", "scores") < 0 || cpb_parse_epsilon(args[4], &eps) < 0)
        return NULL;
    if (!PyArray_Check(args[3]) || PyArray_TYPE((PyArrayObject *)args[3]) != NPY_INT64) {
        PyErr_SetString(PyExc_TypeError, "indices must be a numpy.ndarray of dtype int64");
        return NULL;
    }
    indices = (PyArrayObject *)args[3];
    int normalized = PyObject_IsTrue(args[5]);
    if (normalized < 0) return NULL;
    if (PyArray_NDIM(q) != 2 || PyArray_NDIM(c) != 2 || PyArray_NDIM(scores) != 2) {
        PyErr_SetString(PyExc_ValueError, "queries, corpus and scores must be 2-D");
        return NULL;
    }
    int64_t nq = PyArray_DIMS(q)[0], d = PyArray_DIMS(q)[1], n = PyArray_DIMS(c)[0], k = PyArray_DIMS(scores)[1];
    npy_intp cshape[2] = {(npy_intp)n, (npy_intp)d}, oshape[2] = {(npy_intp)nq, (npy_intp)k};
    if (cpb_require_shape(c, "corpus", 2, cshape) < 0 || cpb_require_shape(scores, "scores", 2, oshape) < 0 ||
        cpb_require_shape(indices, "indices", 2, oshape) < 0)
        return NULL;
    if (!PyArray_IS_C_CONTIGUOUS(scores) || !PyArray_IS_C_CONTIGUOUS(indices) || !PyArray_ISWRITEABLE(indices) ||
        !PyArray_ISALIGNED(indices) || !PyArray_ISNOTSWAPPED(indices)) {
        PyErr_SetString(PyExc_ValueError, "scores and indices must be C-contiguous, aligned and writeable");
        return NULL;
    }
    if (k < 1 || k > n) {
        PyErr_Format(PyExc_ValueError, "k must be between 1 and the number of corpus rows (%lld), got %lld",
                     (long long)n, (long long)k);
        return NULL;
    }
    const npy_intp *qs = PyArray_STRIDES(q), *cs = PyArray_STRIDES(c);
    void *pq = PyArray_DATA(q), *pc = PyArray_DATA(c), *ps = PyArray_DATA(scores);
    int64_t *pi = (int64_t *)PyArray_DATA(indices);
    int32_t threads = cpb_threads();
    double work = (double)nq * (double)n * (double)(d > 0 ? d : 1);
    PyThreadState *ts = work >= CPB_GIL_RELEASE_ELEMENTS ? PyEval_SaveThread() : NULL;
    ssim_status st;
    switch (PyArray_TYPE(q)) {
    case NPY_HALF:
        st = ssim_top_k_f16(F16(pq), F16(pc), F16(ps), pi, nq, n, d, k, qs[0], qs[1], cs[0], cs[1], eps, normalized,
                            threads);
        break;
    case NPY_FLOAT:
        st = ssim_top_k_f32(pq, pc, ps, pi, nq, n, d, k, qs[0], qs[1], cs[0], cs[1], eps, normalized, threads);
        break;
    default:
        st = ssim_top_k_f64(pq, pc, ps, pi, nq, n, d, k, qs[0], qs[1], cs[0], cs[1], eps, normalized, threads);
        break;
    }
    if (ts) PyEval_RestoreThread(ts);
    if (cpb_raise_status(st, "top_k") < 0) return NULL;
    Py_RETURN_NONE;
}
