/* pairwise.c — the all-pairs kernels: pairwise cosine similarity and top-k retrieval.
 *
 *   pairwise_cosine(x, y, out, epsilon)
 *       x (..., n, d), y (..., m, d), out (..., n, m) with the same leading (batch) shape; out's last
 *       axis contiguous. Passing the same array as x and y lets the kernel compute one triangle.
 *   top_k(queries, corpus, scores, indices, epsilon, assume_normalized
 *         [, exclude_indptr, exclude_indices, exclude_self, method])
 *       queries (q, d), corpus (n, d), scores (q, k) of their dtype, indices (q, k) int64, both
 *       C-contiguous; k is read from scores' shape (k > n is allowed: the rest is padding). The
 *       exclusions are None or CSR-like int64 arrays (see parse_exclusions); method is one of the
 *       SSIM_TOP_K_* values (swiftsim.h).
 *
 * The Python layer broadcasts, converts and checks the memory budget; this file converts the scalars
 * first, then checks again what the kernels rely on (dtypes, shapes, writeability, contiguity),
 * releases the GIL and maps the status. These calls can take seconds: on the main thread a Ctrl-C
 * stops them at the next tile (interrupt.c) and raises KeyboardInterrupt. */
#include "cpybridge.h"

/* Whether an array holds any element (an empty one's strides describe no memory). */
static int has_elements(const cpb_array *a) {
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] == 0) return 0;
    return 1;
}

/* x·y·d as a double, for deciding whether to release the GIL (no overflow). */
static double work_of(double a, double b, double c, double d) { return a * b * c * (d > 0 ? d : 1); }

PyObject *cpb_pairwise_cosine(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "pairwise_cosine expects 4 arguments (x, y, out, epsilon), got %zd", nargs);
        return NULL;
    }
    cpb_array x, y, out;
    double eps;
    if (cpb_parse_epsilon(args[3], &eps) < 0 || cpb_require_array(args[0], "x", 0, -1, &x) < 0 ||
        cpb_require_array(args[1], "y", 0, -1, &y) < 0 || cpb_require_array(args[2], "out", 1, -1, &out) < 0 ||
        cpb_require_same_dtype(&x, &y, "x", "y") < 0 || cpb_require_same_dtype(&x, &out, "x", "out") < 0)
        return NULL;
    int nd = x.ndim;
    if (nd < 2 || nd > SSIM_MAX_DIMS + 2) {
        PyErr_Format(PyExc_ValueError, "x must have between 2 and %d axes (..., n, d), got %d", SSIM_MAX_DIMS + 2, nd);
        return NULL;
    }
    npy_intp want[NPY_MAXDIMS];
    for (int i = 0; i < nd; i++) want[i] = x.dims[i];
    want[nd - 2] = y.ndim == nd ? y.dims[nd - 2] : 0;
    if (cpb_require_shape(&y, "y", nd, want) < 0) return NULL;
    int64_t n = x.dims[nd - 2], m = y.dims[nd - 2], d = x.dims[nd - 1];
    want[nd - 2] = n;
    want[nd - 1] = m;
    if (cpb_require_shape(&out, "out", nd, want) < 0) return NULL;
    if (m > 1 && has_elements(&out) && out.strides[nd - 1] != out.itemsize) {
        PyErr_SetString(PyExc_ValueError, "out must be contiguous along its last axis");
        return NULL;
    }
    cpb_layout L;
    const cpb_array *ops[3] = {&x, &y, &out};
    const int scalar[3] = {0, 0, 0};
    cpb_build_layout(&L, 3, ops, scalar, nd - 2, x.dims);
    int64_t xs = x.strides[nd - 1], ys = y.strides[nd - 1];
    void *px = x.data, *py = y.data, *po = out.data;
    int32_t threads = cpb_threads();
    int release = work_of((double)L.rows, (double)n, (double)m, (double)d) >= CPB_GIL_RELEASE_ELEMENTS;
    ssim_status st;
    do {
        const int32_t *stop = release ? cpb_interrupt_begin() : NULL;
        PyThreadState *ts = release ? PyEval_SaveThread() : NULL;
        switch (x.type) {
        case NPY_HALF:
            st = ssim_pairwise_cosine_f16(F16(px), F16(py), F16(po), n, m, d, xs, ys, L.ndim, L.shape, L.strides, eps,
                                          threads, stop);
            break;
        case CPB_BFLOAT16:
            st = ssim_pairwise_cosine_bf16(BF16(px), BF16(py), BF16(po), n, m, d, xs, ys, L.ndim, L.shape, L.strides, eps,
                                          threads, stop);
            break;
        case NPY_FLOAT:
            st = ssim_pairwise_cosine_f32(px, py, po, n, m, d, xs, ys, L.ndim, L.shape, L.strides, eps, threads, stop);
            break;
        default:
            st = ssim_pairwise_cosine_f64(px, py, po, n, m, d, xs, ys, L.ndim, L.shape, L.strides, eps, threads, stop);
            break;
        }
        if (ts) PyEval_RestoreThread(ts);
        cpb_interrupt_end(stop);
    } while (st == SSIM_INTERRUPTED && PyErr_CheckSignals() == 0); /* a handler that did not raise: run again */
    if (st == SSIM_INTERRUPTED) return NULL;
    if (cpb_raise_status(st, "pairwise_cosine") < 0) return NULL;
    Py_RETURN_NONE;
}

/* The exclusion lists of a top_k call: None, or an int64 indptr (nq + 1,) and indices (nnz,), both
 * C-contiguous, indptr[0] = 0, non-decreasing, indptr[nq] = nnz, each query's indices strictly
 * increasing in [0, n). Checked here, with the GIL held, before the kernel (which checks again). */
static int parse_exclusions(PyObject *indptr_obj, PyObject *indices_obj, int64_t nq, int64_t n, cpb_array *indptr,
                            cpb_array *indices, ssim_top_k_exclusions *out) {
    out->indptr = NULL;
    out->indices = NULL;
    out->count = 0;
    if (indptr_obj == Py_None && indices_obj == Py_None) return 0;
    if (indptr_obj == Py_None || indices_obj == Py_None) {
        PyErr_SetString(PyExc_TypeError, "exclude_indptr and exclude_indices must both be arrays or both None");
        return -1;
    }
    if (cpb_require_array(indptr_obj, "exclude_indptr", 0, NPY_INT64, indptr) < 0 ||
        cpb_require_array(indices_obj, "exclude_indices", 0, NPY_INT64, indices) < 0)
        return -1;
    if (indptr->ndim != 1 || indices->ndim != 1 || !indptr->c_contiguous || !indices->c_contiguous) {
        PyErr_SetString(PyExc_ValueError, "exclude_indptr and exclude_indices must be 1-D and C-contiguous");
        return -1;
    }
    npy_intp want[1] = {(npy_intp)(nq + 1)};
    if (cpb_require_shape(indptr, "exclude_indptr", 1, want) < 0) return -1;
    const int64_t *ptr = (const int64_t *)indptr->data, *idx = (const int64_t *)indices->data;
    int64_t nnz = indices->dims[0];
    if (ptr[0] != 0 || ptr[nq] != nnz) {
        PyErr_Format(PyExc_ValueError, "exclude_indptr must start at 0 and end at the number of indices (%lld)",
                     (long long)nnz);
        return -1;
    }
    for (int64_t q = 0; q < nq; q++) {
        if (ptr[q + 1] < ptr[q] || ptr[q + 1] > nnz) {
            PyErr_Format(PyExc_ValueError, "exclude_indptr must be non-decreasing and at most %lld (query %lld)",
                         (long long)nnz, (long long)q);
            return -1;
        }
        for (int64_t i = ptr[q]; i < ptr[q + 1]; i++) {
            if (idx[i] < 0 || idx[i] >= n || (i > ptr[q] && idx[i] <= idx[i - 1])) {
                PyErr_Format(PyExc_ValueError,
                             "the excluded rows of query %lld must be strictly increasing corpus rows in [0, %lld), got %lld",
                             (long long)q, (long long)n, (long long)idx[i]);
                return -1;
            }
        }
    }
    out->indptr = ptr;
    out->indices = idx;
    out->count = nnz;
    return 0;
}

PyObject *cpb_top_k(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6 && nargs != 10) {
        PyErr_Format(PyExc_TypeError,
                     "top_k expects 6 or 10 arguments (queries, corpus, scores, indices, epsilon, assume_normalized"
                     "[, exclude_indptr, exclude_indices, exclude_self, method]), got %zd",
                     nargs);
        return NULL;
    }
    cpb_array q, c, scores, indices, ex_ptr, ex_idx;
    double eps;
    if (cpb_parse_epsilon(args[4], &eps) < 0) return NULL;
    int normalized = PyObject_IsTrue(args[5]);
    if (normalized < 0) return NULL;
    int exclude_self = 0;
    long method = SSIM_TOP_K_AUTO;
    if (nargs == 10) {
        exclude_self = PyObject_IsTrue(args[8]);
        if (exclude_self < 0) return NULL;
        if (!PyLong_Check(args[9]) || PyBool_Check(args[9])) {
            PyErr_Format(PyExc_TypeError, "method must be an int, got %.200s", Py_TYPE(args[9])->tp_name);
            return NULL;
        }
        method = PyLong_AsLong(args[9]);
        if (method == -1 && PyErr_Occurred()) return NULL;
        if (method != SSIM_TOP_K_AUTO && method != SSIM_TOP_K_STREAM && method != SSIM_TOP_K_PACKED) {
            PyErr_Format(PyExc_ValueError, "method must be %d (auto), %d (stream) or %d (packed), got %ld", SSIM_TOP_K_AUTO,
                         SSIM_TOP_K_STREAM, SSIM_TOP_K_PACKED, method);
            return NULL;
        }
    }
    if (cpb_require_array(args[0], "queries", 0, -1, &q) < 0 || cpb_require_array(args[1], "corpus", 0, -1, &c) < 0 ||
        cpb_require_array(args[2], "scores", 1, -1, &scores) < 0 ||
        cpb_require_array(args[3], "indices", 1, NPY_INT64, &indices) < 0 ||
        cpb_require_same_dtype(&q, &c, "queries", "corpus") < 0 ||
        cpb_require_same_dtype(&q, &scores, "queries", "scores") < 0)
        return NULL;
    if (q.ndim != 2 || c.ndim != 2 || scores.ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "queries, corpus and scores must be 2-D");
        return NULL;
    }
    int64_t nq = q.dims[0], d = q.dims[1], n = c.dims[0], k = scores.dims[1];
    npy_intp cshape[2] = {(npy_intp)n, (npy_intp)d}, oshape[2] = {(npy_intp)nq, (npy_intp)k};
    if (cpb_require_shape(&c, "corpus", 2, cshape) < 0 || cpb_require_shape(&scores, "scores", 2, oshape) < 0 ||
        cpb_require_shape(&indices, "indices", 2, oshape) < 0)
        return NULL;
    if (!scores.c_contiguous || !indices.c_contiguous) {
        PyErr_SetString(PyExc_ValueError, "scores and indices must be C-contiguous");
        return NULL;
    }
    if (k < 1) {
        PyErr_Format(PyExc_ValueError, "k must be at least 1, got %lld", (long long)k);
        return NULL;
    }
    ssim_top_k_exclusions ex;
    if (parse_exclusions(nargs == 10 ? args[6] : Py_None, nargs == 10 ? args[7] : Py_None, nq, n, &ex_ptr, &ex_idx, &ex) < 0)
        return NULL;
    ex.exclude_self = exclude_self;
    const ssim_top_k_exclusions *pex = (ex.indptr || exclude_self) ? &ex : NULL;
    void *pq = q.data, *pc = c.data, *ps = scores.data;
    int64_t *pi = (int64_t *)indices.data;
    int32_t threads = cpb_threads();
    int release = work_of((double)nq, (double)n, 1.0, (double)d) >= CPB_GIL_RELEASE_ELEMENTS;
    ssim_status st;
    do {
        const int32_t *stop = release ? cpb_interrupt_begin() : NULL;
        PyThreadState *ts = release ? PyEval_SaveThread() : NULL;
        switch (q.type) {
        case NPY_HALF:
            st = ssim_top_k_f16(F16(pq), F16(pc), F16(ps), pi, nq, n, d, k, q.strides[0], q.strides[1], c.strides[0],
                                c.strides[1], pex, eps, normalized, (int32_t)method, threads, stop);
            break;
        case CPB_BFLOAT16:
            st = ssim_top_k_bf16(BF16(pq), BF16(pc), BF16(ps), pi, nq, n, d, k, q.strides[0], q.strides[1], c.strides[0],
                                c.strides[1], pex, eps, normalized, (int32_t)method, threads, stop);
            break;
        case NPY_FLOAT:
            st = ssim_top_k_f32(pq, pc, ps, pi, nq, n, d, k, q.strides[0], q.strides[1], c.strides[0], c.strides[1], pex, eps,
                                normalized, (int32_t)method, threads, stop);
            break;
        default:
            st = ssim_top_k_f64(pq, pc, ps, pi, nq, n, d, k, q.strides[0], q.strides[1], c.strides[0], c.strides[1], pex, eps,
                                normalized, (int32_t)method, threads, stop);
            break;
        }
        if (ts) PyEval_RestoreThread(ts);
        cpb_interrupt_end(stop);
    } while (st == SSIM_INTERRUPTED && PyErr_CheckSignals() == 0);
    if (st == SSIM_INTERRUPTED) return NULL;
    if (cpb_raise_status(st, "top_k") < 0) return NULL;
    Py_RETURN_NONE;
}
