/* ops.c — one Python-callable function per row-wise kernel family: convert the scalar arguments, check
 * every array (reading each one's description once), build the layout, pick the dtype's entry point,
 * release the GIL for large calls, map the status.
 *
 *   cosine(a, b, out, epsilon)                   a (..., da), b (..., db), out (...)
 *   l2_normalize(x, out, epsilon)                x, out (..., d)
 *   l2_normalize_grad(x, g, dx, epsilon)         x, g, dx (..., d)
 *   cosine_grad(a, b, u, da, db, cos, epsilon)   u, cos (...); da like a, db like b; da/db/cos may be None
 *
 * All arrays share one float dtype and the outer shape `...`; the reduced lengths da, db are equal,
 * or one of them is 1 (a size-1 reduced axis). Scalars are converted before any array is read:
 * converting one may run Python code (`__float__`), which must not be able to change an array
 * between its check and its use. */
#include "cpybridge.h"

int cpb_parse_epsilon(PyObject *obj, double *eps) {
    *eps = PyFloat_AsDouble(obj);
    if (*eps == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "epsilon must be a finite number >= 0 (it overflows a double)");
        }
        return -1;
    }
    if (!(*eps >= 0.0)) {
        PyErr_SetString(PyExc_ValueError, "epsilon must be a non-negative number");
        return -1;
    }
    return 0;
}

/* Checks a (..., da) and b (..., db) against each other; sets *d to the broadcast reduced length. */
static int check_row_pair(const cpb_array *a, const cpb_array *b, int64_t *d) {
    int nd = a->ndim;
    if (nd < 1 || b->ndim != nd) {
        PyErr_Format(PyExc_ValueError, "x1 and x2 must have the same number of axes (at least one), got %d and %d",
                     nd, b->ndim);
        return -1;
    }
    npy_intp want[NPY_MAXDIMS];
    for (int i = 0; i < nd; i++) want[i] = a->dims[i];
    want[nd - 1] = b->dims[nd - 1];
    if (cpb_require_shape(b, "x2", nd, want) < 0) return -1;
    int64_t la = a->dims[nd - 1], lb = b->dims[nd - 1];
    if (la != lb && la != 1 && lb != 1) {
        PyErr_Format(PyExc_ValueError, "reduced lengths %lld and %lld cannot be broadcast together", (long long)la,
                     (long long)lb);
        return -1;
    }
    *d = la == 1 ? lb : la; /* NumPy broadcasting: (1) with (0) gives (0) */
    return 0;
}

/* rows × d, for deciding whether a call is large enough to release the GIL (saturating). */
static int large_call(int64_t rows, int64_t d) {
    int64_t work;
    if (__builtin_mul_overflow(rows, d > 0 ? d : 1, &work)) return 1;
    return work >= CPB_GIL_RELEASE_ELEMENTS;
}

PyObject *cpb_cosine(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "cosine expects 4 arguments (a, b, out, epsilon), got %zd", nargs);
        return NULL;
    }
    cpb_array a, b, out;
    double eps;
    int64_t d;
    if (cpb_parse_epsilon(args[3], &eps) < 0 || cpb_require_array(args[0], "x1", 0, -1, &a) < 0 ||
        cpb_require_array(args[1], "x2", 0, -1, &b) < 0 || cpb_require_array(args[2], "out", 1, -1, &out) < 0 ||
        cpb_require_same_dtype(&a, &b, "x1", "x2") < 0 || cpb_require_same_dtype(&a, &out, "x1", "out") < 0 ||
        check_row_pair(&a, &b, &d) < 0)
        return NULL;
    int outer_nd = a.ndim - 1;
    if (cpb_require_shape(&out, "out", outer_nd, a.dims) < 0) return NULL;

    cpb_layout L;
    const cpb_array *ops[3] = {&a, &b, &out};
    const int scalar[3] = {0, 0, 1};
    cpb_build_layout(&L, 3, ops, scalar, outer_nd, a.dims);
    int64_t la = a.dims[outer_nd], lb = b.dims[outer_nd];
    void *pa = a.data, *pb = b.data, *po = out.data;
    int32_t threads = cpb_threads();
    ssim_status st = SSIM_OK;
    PyThreadState *ts = large_call(L.rows, d) ? PyEval_SaveThread() : NULL;
    switch (a.type) {
    case NPY_HALF: st = ssim_cosine_f16(F16(pa), F16(pb), F16(po), d, la, lb, L.ndim, L.shape, L.strides, eps, threads); break;
    case CPB_BFLOAT16: st = ssim_cosine_bf16(BF16(pa), BF16(pb), BF16(po), d, la, lb, L.ndim, L.shape, L.strides, eps, threads); break;
    case NPY_FLOAT: st = ssim_cosine_f32(pa, pb, po, d, la, lb, L.ndim, L.shape, L.strides, eps, threads); break;
    default: st = ssim_cosine_f64(pa, pb, po, d, la, lb, L.ndim, L.shape, L.strides, eps, threads); break;
    }
    if (ts) PyEval_RestoreThread(ts);
    if (cpb_raise_status(st, "cosine") < 0) return NULL;
    Py_RETURN_NONE;
}

PyObject *cpb_l2_normalize(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "l2_normalize expects 3 arguments (x, out, epsilon), got %zd", nargs);
        return NULL;
    }
    cpb_array x, out;
    double eps;
    if (cpb_parse_epsilon(args[2], &eps) < 0 || cpb_require_array(args[0], "x", 0, -1, &x) < 0 ||
        cpb_require_array(args[1], "out", 1, -1, &out) < 0 || cpb_require_same_dtype(&x, &out, "x", "out") < 0)
        return NULL;
    int nd = x.ndim;
    if (nd < 1) {
        PyErr_SetString(PyExc_ValueError, "x must have at least one axis");
        return NULL;
    }
    if (cpb_require_shape(&out, "out", nd, x.dims) < 0) return NULL;
    cpb_layout L;
    const cpb_array *ops[2] = {&x, &out};
    const int scalar[2] = {0, 0};
    cpb_build_layout(&L, 2, ops, scalar, nd - 1, x.dims);
    int64_t d = x.dims[nd - 1];
    void *px = x.data, *po = out.data;
    int32_t threads = cpb_threads();
    ssim_status st = SSIM_OK;
    PyThreadState *ts = large_call(L.rows, d) ? PyEval_SaveThread() : NULL;
    switch (x.type) {
    case NPY_HALF: st = ssim_l2_normalize_f16(F16(px), F16(po), d, L.ndim, L.shape, L.strides, eps, threads); break;
    case CPB_BFLOAT16: st = ssim_l2_normalize_bf16(BF16(px), BF16(po), d, L.ndim, L.shape, L.strides, eps, threads); break;
    case NPY_FLOAT: st = ssim_l2_normalize_f32(px, po, d, L.ndim, L.shape, L.strides, eps, threads); break;
    default: st = ssim_l2_normalize_f64(px, po, d, L.ndim, L.shape, L.strides, eps, threads); break;
    }
    if (ts) PyEval_RestoreThread(ts);
    if (cpb_raise_status(st, "l2_normalize") < 0) return NULL;
    Py_RETURN_NONE;
}

PyObject *cpb_l2_normalize_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "l2_normalize_grad expects 4 arguments (x, g, dx, epsilon), got %zd", nargs);
        return NULL;
    }
    cpb_array x, g, dx;
    double eps;
    if (cpb_parse_epsilon(args[3], &eps) < 0 || cpb_require_array(args[0], "x", 0, -1, &x) < 0 ||
        cpb_require_array(args[1], "upstream", 0, -1, &g) < 0 || cpb_require_array(args[2], "dx", 1, -1, &dx) < 0 ||
        cpb_require_same_dtype(&x, &g, "x", "upstream") < 0 || cpb_require_same_dtype(&x, &dx, "x", "dx") < 0)
        return NULL;
    int nd = x.ndim;
    if (nd < 1) {
        PyErr_SetString(PyExc_ValueError, "x must have at least one axis");
        return NULL;
    }
    if (cpb_require_shape(&g, "upstream", nd, x.dims) < 0 || cpb_require_shape(&dx, "dx", nd, x.dims) < 0) return NULL;
    cpb_layout L;
    const cpb_array *ops[3] = {&x, &g, &dx};
    const int scalar[3] = {0, 0, 0};
    cpb_build_layout(&L, 3, ops, scalar, nd - 1, x.dims);
    int64_t d = x.dims[nd - 1];
    void *px = x.data, *pg = g.data, *po = dx.data;
    int32_t threads = cpb_threads();
    ssim_status st = SSIM_OK;
    PyThreadState *ts = large_call(L.rows, d) ? PyEval_SaveThread() : NULL;
    switch (x.type) {
    case NPY_HALF:
        st = ssim_l2_normalize_grad_f16(F16(px), F16(pg), F16(po), d, L.ndim, L.shape, L.strides, eps, threads);
        break;
    case CPB_BFLOAT16:
        st = ssim_l2_normalize_grad_bf16(BF16(px), BF16(pg), BF16(po), d, L.ndim, L.shape, L.strides, eps, threads);
        break;
    case NPY_FLOAT: st = ssim_l2_normalize_grad_f32(px, pg, po, d, L.ndim, L.shape, L.strides, eps, threads); break;
    default: st = ssim_l2_normalize_grad_f64(px, pg, po, d, L.ndim, L.shape, L.strides, eps, threads); break;
    }
    if (ts) PyEval_RestoreThread(ts);
    if (cpb_raise_status(st, "l2_normalize_grad") < 0) return NULL;
    Py_RETURN_NONE;
}

/* An optional output: None (out->data = NULL), or a writeable array of `ref`'s dtype and the given shape. */
static int optional_output(PyObject *obj, const char *name, const cpb_array *ref, int ndim, const npy_intp *shape,
                           cpb_array *out, const cpb_array **slot) {
    *slot = NULL;
    if (obj == Py_None) return 0;
    if (cpb_require_array(obj, name, 1, -1, out) < 0 || cpb_require_same_dtype(ref, out, "x1", name) < 0 ||
        cpb_require_shape(out, name, ndim, shape) < 0)
        return -1;
    *slot = out;
    return 0;
}

PyObject *cpb_cosine_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "cosine_grad expects 7 arguments (a, b, u, da, db, cos, epsilon), got %zd",
                     nargs);
        return NULL;
    }
    cpb_array a, b, u, ga, gb, gc;
    const cpb_array *pga, *pgb, *pgc;
    double eps;
    int64_t d;
    if (cpb_parse_epsilon(args[6], &eps) < 0 || cpb_require_array(args[0], "x1", 0, -1, &a) < 0 ||
        cpb_require_array(args[1], "x2", 0, -1, &b) < 0 || cpb_require_array(args[2], "upstream", 0, -1, &u) < 0 ||
        cpb_require_same_dtype(&a, &b, "x1", "x2") < 0 || cpb_require_same_dtype(&a, &u, "x1", "upstream") < 0 ||
        check_row_pair(&a, &b, &d) < 0)
        return NULL;
    int outer_nd = a.ndim - 1;
    if (cpb_require_shape(&u, "upstream", outer_nd, a.dims) < 0 ||
        optional_output(args[3], "dx1", &a, outer_nd + 1, a.dims, &ga, &pga) < 0 ||
        optional_output(args[4], "dx2", &a, outer_nd + 1, b.dims, &gb, &pgb) < 0 ||
        optional_output(args[5], "cos", &a, outer_nd, a.dims, &gc, &pgc) < 0)
        return NULL;
    cpb_layout L;
    const cpb_array *ops[6] = {&a, &b, &u, pga, pgb, pgc};
    const int scalar[6] = {0, 0, 1, 0, 0, 1};
    cpb_build_layout(&L, 6, ops, scalar, outer_nd, a.dims);
    int64_t la = a.dims[outer_nd], lb = b.dims[outer_nd];
    void *pa = a.data, *pb = b.data, *pu = u.data;
    void *oa = pga ? pga->data : NULL, *ob = pgb ? pgb->data : NULL, *oc = pgc ? pgc->data : NULL;
    int32_t threads = cpb_threads();
    ssim_status st = SSIM_OK;
    PyThreadState *ts = large_call(L.rows, d) ? PyEval_SaveThread() : NULL;
    switch (a.type) {
    case NPY_HALF:
        st = ssim_cosine_grad_f16(F16(pa), F16(pb), F16(pu), F16(oa), F16(ob), F16(oc), d, la, lb, L.ndim, L.shape,
                                  L.strides, eps, threads);
        break;
    case CPB_BFLOAT16:
        st = ssim_cosine_grad_bf16(BF16(pa), BF16(pb), BF16(pu), BF16(oa), BF16(ob), BF16(oc), d, la, lb, L.ndim, L.shape,
                                  L.strides, eps, threads);
        break;
    case NPY_FLOAT:
        st = ssim_cosine_grad_f32(pa, pb, pu, oa, ob, oc, d, la, lb, L.ndim, L.shape, L.strides, eps, threads);
        break;
    default:
        st = ssim_cosine_grad_f64(pa, pb, pu, oa, ob, oc, d, la, lb, L.ndim, L.shape, L.strides, eps, threads);
        break;
    }
    if (ts) PyEval_RestoreThread(ts);
    if (cpb_raise_status(st, "cosine_grad") < 0) return NULL;
    Py_RETURN_NONE;
}

/* The bytes an array's elements span: [lo, hi). */
static void byte_bounds(PyArrayObject *x, char **lo, char **hi) {
    char *p = PyArray_BYTES(x), *l = p, *h = p + PyArray_ITEMSIZE(x);
    for (int i = 0; i < PyArray_NDIM(x); i++) {
        npy_intp n = PyArray_DIMS(x)[i], st = PyArray_STRIDES(x)[i];
        if (n == 0) {
            *lo = *hi = p;
            return;
        }
        if (st < 0) l += (n - 1) * st;
        else h += (n - 1) * st;
    }
    *lo = l;
    *hi = h;
}

static int overlaps(PyArrayObject *x, PyArrayObject *y) {
    char *xl, *xh, *yl, *yh;
    byte_bounds(x, &xl, &xh);
    byte_bounds(y, &yl, &yh);
    return xl < yh && yl < xh;
}

/* cosine_auto(a, b, epsilon, out) -> result or None.
 * The short path for the most common call: two ndarrays of one float dtype (native, aligned) and the
 * same shape, reduced over the last axis, epsilon a float >= 0, and out None or a C-contiguous,
 * writeable array of the result's shape and dtype that overlaps neither input. Returns out, or a new
 * result (a scalar for 1-D inputs, as NumPy does). Returns None, without an exception, for anything
 * else: the Python layer then takes the general path and raises the precise error. No Python code
 * runs here (epsilon must be an exact float), so the arrays cannot change under the checks. */
PyObject *cpb_cosine_auto(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4 || !PyArray_CheckExact(args[0]) || !PyArray_CheckExact(args[1]) || !PyFloat_CheckExact(args[2]))
        Py_RETURN_NONE;
    PyArrayObject *a = (PyArrayObject *)args[0], *b = (PyArrayObject *)args[1];
    double eps = PyFloat_AS_DOUBLE(args[2]);
    int t = PyArray_TYPE(a), nd = PyArray_NDIM(a);
    if (!(eps >= 0.0 && eps <= 1.7976931348623157e308) ||
        (t != NPY_FLOAT && t != NPY_DOUBLE && t != NPY_HALF && !cpb_is_bfloat16(t)) ||
        PyArray_TYPE(b) != t || nd < 1 || PyArray_NDIM(b) != nd || !PyArray_ISNOTSWAPPED(a) ||
        !PyArray_ISNOTSWAPPED(b) || !PyArray_ISALIGNED(a) || !PyArray_ISALIGNED(b) ||
        !PyArray_CompareLists(PyArray_DIMS(a), PyArray_DIMS(b), nd))
        Py_RETURN_NONE;
    PyArrayObject *out;
    if (args[3] == Py_None) {
        out = (PyArrayObject *)PyArray_SimpleNew(nd - 1, PyArray_DIMS(a), t);
        if (!out) return NULL;
    } else {
        out = (PyArrayObject *)args[3];
        if (!PyArray_CheckExact(args[3]) || PyArray_TYPE(out) != t || !PyArray_ISNOTSWAPPED(out) ||
            PyArray_NDIM(out) != nd - 1 || !PyArray_CompareLists(PyArray_DIMS(out), PyArray_DIMS(a), nd - 1) ||
            !PyArray_IS_C_CONTIGUOUS(out) || !PyArray_ISWRITEABLE(out) || !PyArray_ISALIGNED(out) ||
            overlaps(out, a) || overlaps(out, b))
            Py_RETURN_NONE;
        Py_INCREF(out);
    }
    PyObject *call[4] = {(PyObject *)a, (PyObject *)b, (PyObject *)out, args[2]};
    PyObject *r = cpb_cosine(NULL, call, 4);
    if (!r) {
        Py_DECREF(out);
        return NULL;
    }
    Py_DECREF(r);
    return args[3] == Py_None ? PyArray_Return(out) : (PyObject *)out;
}
