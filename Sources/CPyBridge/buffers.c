/* buffers.c — checks every array the extension is handed and turns arrays into the ABI's layout.
 *
 * Only real numpy.ndarray objects are accepted (the Python layer converts everything else), so
 * NumPy guarantees that shape and strides describe memory the array owns or views. On top of that
 * the shim checks what the kernels rely on: the dtype (float16/32/64, native byte order), alignment,
 * writeability of outputs, and every shape. */
#include "cpybridge.h"

int cpb_require_array(PyObject *obj, const char *name, int writeable, PyArrayObject **out) {
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a numpy.ndarray, got %.200s", name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyArrayObject *arr = (PyArrayObject *)obj;
    int t = PyArray_TYPE(arr);
    if (t != NPY_HALF && t != NPY_FLOAT && t != NPY_DOUBLE) {
        PyErr_Format(PyExc_TypeError, "%s must be float16, float32 or float64, got %s", name,
                     PyArray_DESCR(arr)->typeobj->tp_name);
        return -1;
    }
    if (!PyArray_ISNOTSWAPPED(arr)) {
        PyErr_Format(PyExc_ValueError, "%s must be in native byte order", name);
        return -1;
    }
    if (!PyArray_ISALIGNED(arr)) {
        PyErr_Format(PyExc_ValueError, "%s must be aligned", name);
        return -1;
    }
    if (writeable && !PyArray_ISWRITEABLE(arr)) {
        PyErr_Format(PyExc_ValueError, "%s must be writeable", name);
        return -1;
    }
    *out = arr;
    return 0;
}

int cpb_require_same_dtype(PyArrayObject *ref, PyArrayObject *arr, const char *ref_name, const char *name) {
    if (PyArray_TYPE(ref) != PyArray_TYPE(arr)) {
        PyErr_Format(PyExc_TypeError, "%s has dtype %s but %s has dtype %s", name,
                     PyArray_DESCR(arr)->typeobj->tp_name, ref_name, PyArray_DESCR(ref)->typeobj->tp_name);
        return -1;
    }
    return 0;
}

static void format_shape(char *buf, size_t size, int ndim, const npy_intp *shape) {
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i + 1 == ndim && ndim == 1 ? "%zd," : (i + 1 == ndim ? "%zd" : "%zd, "),
                              (Py_ssize_t)shape[i]);
    if (n < size) snprintf(buf + n, size - n, ")");
}

int cpb_require_shape(PyArrayObject *arr, const char *name, int ndim, const npy_intp *shape) {
    int ok = PyArray_NDIM(arr) == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = PyArray_DIMS(arr)[i] == shape[i];
    if (!ok) {
        char want[512], got[512];
        format_shape(want, sizeof want, ndim, shape);
        format_shape(got, sizeof got, PyArray_NDIM(arr), PyArray_DIMS(arr));
        PyErr_Format(PyExc_ValueError, "%s has shape %s, expected %s", name, got, want);
        return -1;
    }
    return 0;
}

/* Fills `layout` for arrays whose first `outer_ndim` axes are the outer index space (already checked
 * to equal `outer_shape`). A row array has one more axis (the reduced one); a row-scalar array
 * (is_row_scalar[k]) has none and gets inner stride 0. NULL arrays get zero strides. Size-1 outer
 * axes are dropped and adjacent axes that step uniformly in every operand are merged, so most calls
 * reach the kernel with one outer axis. */
int cpb_build_layout(cpb_layout *layout, int noperands, PyArrayObject **arrays, const int *is_row_scalar,
                     int outer_ndim, const npy_intp *outer_shape) {
    int64_t shape[SSIM_MAX_DIMS];
    int64_t st[CPB_MAX_OPERANDS][SSIM_MAX_DIMS];
    int n = 0;
    layout->rows = 1;
    for (int j = 0; j < outer_ndim; j++) {
        layout->rows *= (int64_t)outer_shape[j];
        if (outer_shape[j] == 1) continue;
        shape[n] = (int64_t)outer_shape[j];
        for (int k = 0; k < noperands; k++) st[k][n] = arrays[k] ? (int64_t)PyArray_STRIDES(arrays[k])[j] : 0;
        n++;
    }
    /* Merge axis j into j-1 when every operand steps over both as over one. */
    int m = 0;
    for (int j = 0; j < n; j++) {
        if (m > 0) {
            int mergeable = 1;
            for (int k = 0; k < noperands && mergeable; k++) mergeable = st[k][m - 1] == st[k][j] * shape[j];
            if (mergeable) {
                shape[m - 1] *= shape[j];
                for (int k = 0; k < noperands; k++) st[k][m - 1] = st[k][j];
                continue;
            }
        }
        shape[m] = shape[j];
        for (int k = 0; k < noperands; k++) st[k][m] = st[k][j];
        m++;
    }
    layout->ndim = m;
    for (int j = 0; j < m; j++) layout->shape[j] = shape[j];
    for (int k = 0; k < noperands; k++) {
        int64_t *row = layout->strides + k * (m + 1);
        for (int j = 0; j < m; j++) row[j] = st[k][j];
        row[m] = (arrays[k] && !is_row_scalar[k]) ? (int64_t)PyArray_STRIDES(arrays[k])[outer_ndim] : 0;
    }
    return 0;
}
