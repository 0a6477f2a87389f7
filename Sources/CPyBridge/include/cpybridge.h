/* cpybridge.h — internal declarations of the CPython extension swiftsim._swiftsim.
 * The shim knows buffers, the GIL and exceptions; it knows nothing of Keras. */
#ifndef CPYBRIDGE_H
#define CPYBRIDGE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL swiftsim_ARRAY_API
#ifndef CPYBRIDGE_MODULE_C
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include "swiftsim.h"

/* A float16 array's data as the ABI's binary16 bit patterns; a bfloat16 one's as bfloat16 bits. */
#define F16(p) ((ssim_f16 *)(p))
#define BF16(p) ((ssim_bf16 *)(p))

/* cpb_array.type of an ml_dtypes bfloat16 array (a user-defined NumPy dtype, whose type number is only
 * known at run time: cpb_bfloat16_type). */
#define CPB_BFLOAT16 (-2)

/* The most operands one call has (cosine grad: a, b, u, da, db, cos). */
#define CPB_MAX_OPERANDS 6

/* What the shim knows of one array, read once from the ndarray after every scalar argument has been
 * converted (converting a scalar may run Python code, which could re-type or reshape the array): every
 * later check and the kernel call use this copy, never the ndarray again. */
typedef struct {
    int type;       /* NumPy type number, or CPB_BFLOAT16 */
    int ndim;
    npy_intp itemsize;
    npy_intp dims[NPY_MAXDIMS];
    npy_intp strides[NPY_MAXDIMS];
    char *data;
    int c_contiguous;
} cpb_array;

/* The outer index space of one call, in the layout the C ABI takes. */
typedef struct {
    int32_t ndim;
    int64_t rows;
    int64_t shape[SSIM_MAX_DIMS];
    int64_t strides[CPB_MAX_OPERANDS * (SSIM_MAX_DIMS + 1)];
} cpb_layout;

/* buffers.c: `cpb_require_array` checks `obj` (an ndarray of float16/bfloat16/32/64, or of `type` when
 * >= 0, in native byte order, aligned, writeable when asked) and fills *out; the rest work on that copy.
 * `cpb_bfloat16_type` is the NumPy type number of ml_dtypes' bfloat16, or -1 (no exception set) when
 * ml_dtypes cannot be imported; `cpb_is_bfloat16` says whether a type number is that one. */
int cpb_bfloat16_type(void);
int cpb_is_bfloat16(int type);
PyArray_Descr *cpb_bfloat16_descr(void);
int cpb_require_array(PyObject *obj, const char *name, int writeable, int type, cpb_array *out);
int cpb_require_same_dtype(const cpb_array *ref, const cpb_array *arr, const char *ref_name, const char *name);
int cpb_require_shape(const cpb_array *arr, const char *name, int ndim, const npy_intp *shape);
void cpb_build_layout(cpb_layout *layout, int noperands, const cpb_array *const *arrays, const int *is_row_scalar,
                      int outer_ndim, const npy_intp *outer_shape);

/* errors.c */
int cpb_raise_status(ssim_status status, const char *op);

/* ops.c: epsilon as a C double, ValueError unless >= 0 */
int cpb_parse_epsilon(PyObject *obj, double *eps);

/* interrupt.c: around a long GIL-free kernel call on the main thread, a SIGINT sets the flag that
 * cpb_interrupt_begin returns (NULL where Ctrl-C cannot be caught: another thread, or no Python
 * handler) and still reaches Python's own handler; cpb_interrupt_end restores the handler. Called with
 * the GIL held. */
const int32_t *cpb_interrupt_begin(void);
void cpb_interrupt_end(const int32_t *flag);
int cpb_interrupt_init(void);

/* ops.c */
PyObject *cpb_cosine(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cpb_cosine_auto(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cpb_l2_normalize(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cpb_l2_normalize_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cpb_cosine_grad(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* pairwise.c */
PyObject *cpb_pairwise_cosine(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cpb_top_k(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* retrieval.c */
PyObject *cpb_merge_top_k(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *cpb_pairs_above(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* dlpack.c: a DLPack capsule as a read-only ndarray view that owns the tensor */
PyObject *cpb_from_dlpack(PyObject *self, PyObject *capsule);

/* module.c: the thread count every kernel call uses, and the size above which the GIL is released. */
int32_t cpb_threads(void);
#define CPB_GIL_RELEASE_ELEMENTS 4096

#endif
