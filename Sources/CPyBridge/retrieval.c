/* retrieval.c — the retrieval kernels besides top_k: the merge of sharded top-k results, and every
 * pair of rows above a cosine threshold.
 *
 *   merge_top_k(scores_parts, indices_parts, out_scores, out_indices)
 *       two sequences of P >= 1 arrays: part p is scores (q, k_p) of one float dtype and indices
 *       (q, k_p) int64, any strides; out_scores (q, k) of that dtype and out_indices (q, k) int64,
 *       both C-contiguous; k is read from the outputs' shape.
 *   pairs_above(x, y, rows, cols, scores, threshold, diagonal, first_row, epsilon)
 *       -> (written, found, next_row, complete)
 *       x (n, d) and y (m, d) of one float dtype; rows and cols 1-D int64, scores 1-D of that dtype,
 *       all three contiguous, writeable and of one length, the capacity. `complete` is False when the
 *       pairs did not fit: the first `written` are those of the rows before `next_row`, and `found`
 *       is how many the kernel had found when it stopped (see swiftsim.h).
 *
 * As in pairwise.c: the scalars are converted first, then every array is read once and checked
 * again for what the kernels rely on, the GIL is released for large calls, a Ctrl-C on the main
 * thread stops the kernel at the next tile (interrupt.c), and the status becomes an exception. */
#include "cpybridge.h"

/* rows x columns x d as a double, for deciding whether to release the GIL (no overflow). */
static double work_of(double rows, double cols, double d) { return rows * cols * (d > 0 ? d : 1); }

PyObject *cpb_merge_top_k(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError,
                     "merge_top_k expects 4 arguments (scores_parts, indices_parts, out_scores, out_indices), got %zd",
                     nargs);
        return NULL;
    }
    /* The sequences first: converting one may run Python code, which must not be able to change an
     * array after it was read. */
    PyObject *sseq = PySequence_Fast(args[0], "scores_parts must be a sequence of arrays");
    if (!sseq) return NULL;
    PyObject *iseq = PySequence_Fast(args[1], "indices_parts must be a sequence of arrays");
    if (!iseq) {
        Py_DECREF(sseq);
        return NULL;
    }
    PyObject *result = NULL;
    cpb_array out_s, out_i;
    int64_t nq = 0, k = 0;
    const void **sp = NULL, **ip = NULL;
    int64_t *part_k = NULL, *strides = NULL;
    double candidates = 0;
    ssim_status st;
    Py_ssize_t np = 0;
    if (cpb_require_array(args[2], "out_scores", 1, -1, &out_s) < 0 ||
        cpb_require_array(args[3], "out_indices", 1, NPY_INT64, &out_i) < 0)
        goto done;
    if (out_s.ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "out_scores must be 2-D (q, k)");
        goto done;
    }
    if (cpb_require_shape(&out_i, "out_indices", 2, out_s.dims) < 0) goto done;
    if (!out_s.c_contiguous || !out_i.c_contiguous) {
        PyErr_SetString(PyExc_ValueError, "out_scores and out_indices must be C-contiguous");
        goto done;
    }
    nq = out_s.dims[0];
    k = out_s.dims[1];
    if (k < 1) {
        PyErr_Format(PyExc_ValueError, "k must be at least 1, got %lld", (long long)k);
        goto done;
    }
    np = PySequence_Fast_GET_SIZE(sseq);
    if (np < 1 || PySequence_Fast_GET_SIZE(iseq) != np) {
        PyErr_Format(PyExc_ValueError, "merge_top_k needs as many indices parts as scores parts (at least one), got %zd and %zd",
                     np, PySequence_Fast_GET_SIZE(iseq));
        goto done;
    }
    sp = PyMem_Calloc((size_t)np, sizeof *sp);
    ip = PyMem_Calloc((size_t)np, sizeof *ip);
    part_k = PyMem_Calloc((size_t)np, sizeof *part_k);
    strides = PyMem_Calloc((size_t)np * 4, sizeof *strides);
    if (!sp || !ip || !part_k || !strides) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t p = 0; p < np; p++) {
        cpb_array s, i;
        char sname[48], iname[48];
        snprintf(sname, sizeof sname, "scores part %zd", p);
        snprintf(iname, sizeof iname, "indices part %zd", p);
        if (cpb_require_array(PySequence_Fast_GET_ITEM(sseq, p), sname, 0, -1, &s) < 0 ||
            cpb_require_array(PySequence_Fast_GET_ITEM(iseq, p), iname, 0, NPY_INT64, &i) < 0 ||
            cpb_require_same_dtype(&out_s, &s, "out_scores", sname) < 0)
            goto done;
        if (s.ndim != 2) {
            PyErr_Format(PyExc_ValueError, "%s must be 2-D (q, k)", sname);
            goto done;
        }
        npy_intp want[2] = {(npy_intp)nq, s.dims[1]};
        if (cpb_require_shape(&s, sname, 2, want) < 0 || cpb_require_shape(&i, iname, 2, want) < 0) goto done;
        sp[p] = s.data;
        ip[p] = i.data;
        part_k[p] = s.dims[1];
        strides[4 * p] = s.strides[0];
        strides[4 * p + 1] = s.strides[1];
        strides[4 * p + 2] = i.strides[0];
        strides[4 * p + 3] = i.strides[1];
        candidates += (double)s.dims[1];
    }
    int release = (double)nq * candidates >= CPB_GIL_RELEASE_ELEMENTS;
    do {
        const int32_t *stop = release ? cpb_interrupt_begin() : NULL;
        PyThreadState *ts = release ? PyEval_SaveThread() : NULL;
        switch (out_s.type) {
        case NPY_HALF:
            st = ssim_merge_top_k_f16(np, (const ssim_f16 *const *)sp, (const int64_t *const *)ip, part_k, strides, nq, k,
                                      F16(out_s.data), (int64_t *)out_i.data, cpb_threads(), stop);
            break;
        case CPB_BFLOAT16:
            st = ssim_merge_top_k_bf16(np, (const ssim_bf16 *const *)sp, (const int64_t *const *)ip, part_k, strides, nq, k,
                                      BF16(out_s.data), (int64_t *)out_i.data, cpb_threads(), stop);
            break;
        case NPY_FLOAT:
            st = ssim_merge_top_k_f32(np, (const float *const *)sp, (const int64_t *const *)ip, part_k, strides, nq, k,
                                      (float *)out_s.data, (int64_t *)out_i.data, cpb_threads(), stop);
            break;
        default:
            st = ssim_merge_top_k_f64(np, (const double *const *)sp, (const int64_t *const *)ip, part_k, strides, nq, k,
                                      (double *)out_s.data, (int64_t *)out_i.data, cpb_threads(), stop);
            break;
        }
        if (ts) PyEval_RestoreThread(ts);
        cpb_interrupt_end(stop);
    } while (st == SSIM_INTERRUPTED && PyErr_CheckSignals() == 0); /* a handler that did not raise: run again */
    if (st != SSIM_INTERRUPTED && cpb_raise_status(st, "merge_top_k") == 0) result = Py_NewRef(Py_None);
done:
    PyMem_Free(sp);
    PyMem_Free(ip);
    PyMem_Free(part_k);
    PyMem_Free(strides);
    Py_DECREF(sseq);
    Py_DECREF(iseq);
    return result;
}

/* An int argument as int64_t (TypeError for a non-int, OverflowError beyond int64). */
static int parse_int64(PyObject *obj, const char *name, int64_t *out) {
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, got %.200s", name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(obj);
    if (v == -1 && PyErr_Occurred()) return -1;
    *out = (int64_t)v;
    return 0;
}

PyObject *cpb_pairs_above(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 9) {
        PyErr_Format(PyExc_TypeError,
                     "pairs_above expects 9 arguments (x, y, rows, cols, scores, threshold, diagonal, first_row, "
                     "epsilon), got %zd",
                     nargs);
        return NULL;
    }
    double threshold, eps;
    int64_t diagonal, first_row;
    threshold = PyFloat_AsDouble(args[5]);
    if (threshold == -1.0 && PyErr_Occurred()) return NULL;
    if (threshold != threshold) {
        PyErr_SetString(PyExc_ValueError, "threshold must be a number, got NaN");
        return NULL;
    }
    if (parse_int64(args[6], "diagonal", &diagonal) < 0 || parse_int64(args[7], "first_row", &first_row) < 0 ||
        cpb_parse_epsilon(args[8], &eps) < 0)
        return NULL;
    cpb_array x, y, rows, cols, scores;
    if (cpb_require_array(args[0], "x", 0, -1, &x) < 0 || cpb_require_array(args[1], "y", 0, -1, &y) < 0 ||
        cpb_require_array(args[2], "rows", 1, NPY_INT64, &rows) < 0 ||
        cpb_require_array(args[3], "cols", 1, NPY_INT64, &cols) < 0 ||
        cpb_require_array(args[4], "scores", 1, -1, &scores) < 0 || cpb_require_same_dtype(&x, &y, "x", "y") < 0 ||
        cpb_require_same_dtype(&x, &scores, "x", "scores") < 0)
        return NULL;
    if (x.ndim != 2 || y.ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "x and y must be 2-D (rows, features)");
        return NULL;
    }
    npy_intp yshape[2] = {y.dims[0], x.dims[1]};
    if (cpb_require_shape(&y, "y", 2, yshape) < 0) return NULL;
    if (rows.ndim != 1) {
        PyErr_SetString(PyExc_ValueError, "rows must be 1-D");
        return NULL;
    }
    if (cpb_require_shape(&cols, "cols", 1, rows.dims) < 0 || cpb_require_shape(&scores, "scores", 1, rows.dims) < 0)
        return NULL;
    if (!rows.c_contiguous || !cols.c_contiguous || !scores.c_contiguous) {
        PyErr_SetString(PyExc_ValueError, "rows, cols and scores must be contiguous");
        return NULL;
    }
    int64_t n = x.dims[0], m = y.dims[0], d = x.dims[1], capacity = rows.dims[0];
    if (first_row < 0 || first_row > n) {
        PyErr_Format(PyExc_ValueError, "first_row must be between 0 and the number of rows of x (%lld), got %lld",
                     (long long)n, (long long)first_row);
        return NULL;
    }
    void *px = x.data, *py = y.data, *ps = scores.data;
    int64_t *pr = (int64_t *)rows.data, *pc = (int64_t *)cols.data;
    int64_t xr = x.strides[0], xe = x.strides[1], yr = y.strides[0], ye = y.strides[1];
    int64_t written = 0, found = 0, next_row = 0;
    int32_t threads = cpb_threads();
    int release = work_of((double)(n - first_row), (double)m, (double)d) >= CPB_GIL_RELEASE_ELEMENTS;
    ssim_status st;
    do {
        const int32_t *stop = release ? cpb_interrupt_begin() : NULL;
        PyThreadState *ts = release ? PyEval_SaveThread() : NULL;
        switch (x.type) {
        case NPY_HALF:
            st = ssim_pairs_above_f16(F16(px), F16(py), n, m, d, xr, xe, yr, ye, threshold, diagonal, first_row, eps,
                                      capacity, pr, pc, F16(ps), &written, &found, &next_row, threads, stop);
            break;
        case CPB_BFLOAT16:
            st = ssim_pairs_above_bf16(BF16(px), BF16(py), n, m, d, xr, xe, yr, ye, threshold, diagonal, first_row, eps,
                                      capacity, pr, pc, BF16(ps), &written, &found, &next_row, threads, stop);
            break;
        case NPY_FLOAT:
            st = ssim_pairs_above_f32(px, py, n, m, d, xr, xe, yr, ye, threshold, diagonal, first_row, eps, capacity, pr,
                                      pc, ps, &written, &found, &next_row, threads, stop);
            break;
        default:
            st = ssim_pairs_above_f64(px, py, n, m, d, xr, xe, yr, ye, threshold, diagonal, first_row, eps, capacity, pr,
                                      pc, ps, &written, &found, &next_row, threads, stop);
            break;
        }
        if (ts) PyEval_RestoreThread(ts);
        cpb_interrupt_end(stop);
    } while (st == SSIM_INTERRUPTED && PyErr_CheckSignals() == 0);
    if (st == SSIM_INTERRUPTED) return NULL;
    if (st != SSIM_CAPACITY_EXCEEDED && cpb_raise_status(st, "pairs_above") < 0) return NULL;
    return Py_BuildValue("(LLLO)", (long long)written, (long long)found, (long long)next_row,
                         st == SSIM_OK ? Py_True : Py_False);
}
