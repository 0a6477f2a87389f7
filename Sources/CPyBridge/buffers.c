/* buffers.c — checks every array the extension is handed and turns arrays into the ABI's layout.
 *
 * Only real numpy.ndarray objects are accepted (the Python layer converts everything else), so
 * NumPy guarantees that shape and strides describe memory the array owns or views. On top of that
 * the shim checks what the kernels rely on: the dtype (float16/bfloat16/32/64, native byte order), alignment,
 * writeability of outputs, and every shape. Each array's description is read once, into a cpb_array,
 * after the call's scalar arguments are converted; nothing later reads the ndarray again. */
#include "cpybridge.h"

static const char *type_name(PyArrayObject *arr) { return PyArray_DESCR(arr)->typeobj->tp_name; }

/* ml_dtypes' bfloat16 descriptor, looked up once (with the GIL held) and kept. */
static PyArray_Descr *bfloat16_descr;
static int bfloat16_looked_up;

PyArray_Descr *cpb_bfloat16_descr(void) {
    if (!bfloat16_looked_up) {
        bfloat16_looked_up = 1;
        PyObject *mod = PyImport_ImportModule("ml_dtypes");
        PyObject *type = mod ? PyObject_GetAttrString(mod, "bfloat16") : NULL;
        PyArray_Descr *descr = NULL;
        if (type && PyArray_DescrConverter(type, &descr) == NPY_SUCCEED && PyDataType_ELSIZE(descr) == 2) bfloat16_descr = descr;
        else Py_XDECREF(descr);
        Py_XDECREF(type);
        Py_XDECREF(mod);
        PyErr_Clear();
    }
    return bfloat16_descr;
}

int cpb_bfloat16_type(void) {
    PyArray_Descr *d = cpb_bfloat16_descr();
    return d ? d->type_num : -1;
}

/* Only a user-defined type can be bfloat16: built-in types never import ml_dtypes. */
int cpb_is_bfloat16(int type) { return type >= NPY_USERDEF && type == cpb_bfloat16_type(); }

int cpb_require_array(PyObject *obj, const char *name, int writeable, int type, cpb_array *out) {
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a numpy.ndarray, got %.200s", name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyArrayObject *arr = (PyArrayObject *)obj;
    int t = PyArray_TYPE(arr);
    if (type < 0 && cpb_is_bfloat16(t)) t = CPB_BFLOAT16;
    if (type >= 0 ? t != type : (t != NPY_HALF && t != NPY_FLOAT && t != NPY_DOUBLE && t != CPB_BFLOAT16)) {
        if (type == NPY_INT64)
            PyErr_Format(PyExc_TypeError, "%s must have dtype int64, got %s", name, type_name(arr));
        else
            PyErr_Format(PyExc_TypeError, "%s must be float16, bfloat16, float32 or float64, got %s", name,
                         type_name(arr));
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
    out->type = t;
    out->ndim = PyArray_NDIM(arr);
    out->itemsize = PyArray_ITEMSIZE(arr);
    for (int i = 0; i < out->ndim; i++) {
        out->dims[i] = PyArray_DIMS(arr)[i];
        out->strides[i] = PyArray_STRIDES(arr)[i];
    }
    out->data = PyArray_BYTES(arr);
    out->c_contiguous = PyArray_IS_C_CONTIGUOUS(arr);
    return 0;
}

static const char *dtype_name(int type) {
    switch (type) {
    case NPY_HALF: return "float16";
    case CPB_BFLOAT16: return "bfloat16";
    case NPY_FLOAT: return "float32";
    case NPY_DOUBLE: return "float64";
    default: return "int64";
    }
}

int cpb_require_same_dtype(const cpb_array *ref, const cpb_array *arr, const char *ref_name, const char *name) {
    if (ref->type != arr->type) {
        PyErr_Format(PyExc_TypeError, "%s has dtype %s but %s has dtype %s", name, dtype_name(arr->type), ref_name,
                     dtype_name(ref->type));
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

int cpb_require_shape(const cpb_array *arr, const char *name, int ndim, const npy_intp *shape) {
    int ok = arr->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = arr->dims[i] == shape[i];
    if (!ok) {
        char want[512], got[512];
        format_shape(want, sizeof want, ndim, shape);
        format_shape(got, sizeof got, arr->ndim, arr->dims);
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
void cpb_build_layout(cpb_layout *layout, int noperands, const cpb_array *const *arrays, const int *is_row_scalar,
                      int outer_ndim, const npy_intp *outer_shape) {
    int64_t shape[SSIM_MAX_DIMS];
    int64_t st[CPB_MAX_OPERANDS][SSIM_MAX_DIMS];
    int n = 0;
    layout->rows = 1;
    for (int j = 0; j < outer_ndim; j++) {
        layout->rows *= (int64_t)outer_shape[j];
        if (outer_shape[j] == 1) continue;
        shape[n] = (int64_t)outer_shape[j];
        for (int k = 0; k < noperands; k++) st[k][n] = arrays[k] ? (int64_t)arrays[k]->strides[j] : 0;
        n++;
    }
    /* Merge axis j into j-1 when every operand steps over both as over one. */
    int m = 0;
    for (int j = 0; j < n; j++) {
        if (m > 0) {
            int mergeable = 1;
            for (int k = 0; k < noperands && mergeable; k++) {
                int64_t step;
                mergeable = !__builtin_mul_overflow(st[k][j], shape[j], &step) && st[k][m - 1] == step;
            }
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
        row[m] = (arrays[k] && !is_row_scalar[k]) ? (int64_t)arrays[k]->strides[outer_ndim] : 0;
    }
}
