/* dlpack.c — framework tensors in without a copy: a DLPack capsule (from `__dlpack__`) as an ndarray view.
 *
 *   from_dlpack(capsule) -> ndarray
 *
 * NumPy's own np.from_dlpack cannot import bfloat16 (DLPack's kDLBfloat), which JAX and PyTorch
 * tensors are often stored in, so the capsule is read here. Both layouts are accepted: the legacy
 * DLManagedTensor ("dltensor") and DLManagedTensorVersioned ("dltensor_versioned", major version 1).
 * The tensor must be on the CPU (kDLCPU), of one lane of a dtype NumPy (or ml_dtypes, for bfloat16)
 * has, with at most NPY_MAXDIMS axes, non-negative sizes and strides that fit in bytes. The view is
 * read-only (the kernels only read their inputs), and its base object owns the tensor: when the
 * view dies, the producer's deleter is called, exactly once. The capsule is renamed "used_..." only
 * once the view owns the tensor, as the protocol asks; until then, any error leaves the capsule to
 * its producer, whose own destructor frees the tensor. */
#include "cpybridge.h"

/* The DLPack structures (dlpack.h, version 1.x; the ABI is fixed by the standard). */
typedef struct {
    int32_t device_type;
    int32_t device_id;
} DLDevice;
typedef struct {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
} DLDataType;
typedef struct {
    void *data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape;
    int64_t *strides;
    uint64_t byte_offset;
} DLTensor;
typedef struct DLManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensor *self);
} DLManagedTensor;
typedef struct {
    uint32_t major;
    uint32_t minor;
} DLPackVersion;
typedef struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
} DLManagedTensorVersioned;

enum { kDLCPU = 1, kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLBool = 6 };

/* The owners: a capsule holding the managed tensor, whose destructor calls the producer's deleter. */
static void free_legacy(PyObject *owner) {
    if (!PyCapsule_IsValid(owner, "swiftsim.dlpack_owner")) return;
    DLManagedTensor *t = PyCapsule_GetPointer(owner, "swiftsim.dlpack_owner");
    if (t->deleter) t->deleter(t);
}
static void free_versioned(PyObject *owner) {
    if (!PyCapsule_IsValid(owner, "swiftsim.dlpack_owner_versioned")) return;
    DLManagedTensorVersioned *t = PyCapsule_GetPointer(owner, "swiftsim.dlpack_owner_versioned");
    if (t->deleter) t->deleter(t);
}

/* The NumPy descriptor of a DLPack dtype (a new reference), or NULL with TypeError. */
static PyArray_Descr *descr_of(DLDataType t) {
    int type = -1;
    if (t.lanes == 1) {
        switch (t.code) {
        case kDLFloat: type = t.bits == 16 ? NPY_HALF : t.bits == 32 ? NPY_FLOAT : t.bits == 64 ? NPY_DOUBLE : -1; break;
        case kDLInt:
            type = t.bits == 8 ? NPY_INT8 : t.bits == 16 ? NPY_INT16 : t.bits == 32 ? NPY_INT32 : t.bits == 64 ? NPY_INT64 : -1;
            break;
        case kDLUInt:
            type = t.bits == 8    ? NPY_UINT8
                   : t.bits == 16 ? NPY_UINT16
                   : t.bits == 32 ? NPY_UINT32
                   : t.bits == 64 ? NPY_UINT64
                                  : -1;
            break;
        case kDLBool: type = t.bits == 8 ? NPY_BOOL : -1; break;
        case kDLBfloat:
            if (t.bits == 16) {
                PyArray_Descr *d = cpb_bfloat16_descr();
                if (!d) {
                    PyErr_SetString(PyExc_TypeError, "a bfloat16 DLPack tensor needs the ml_dtypes package: pip install ml_dtypes");
                    return NULL;
                }
                Py_INCREF(d);
                return d;
            }
            break;
        default: break;
        }
    }
    if (type < 0) {
        PyErr_Format(PyExc_TypeError,
                     "unsupported DLPack dtype (type code %d, %d bits, %d lanes): swiftsim takes float16, bfloat16, "
                     "float32, float64, integers and bool",
                     (int)t.code, (int)t.bits, (int)t.lanes);
        return NULL;
    }
    return PyArray_DescrFromType(type);
}

/* A read-only view of `t` (no base yet), or NULL with an exception. */
static PyObject *view_of(const DLTensor *t) {
    if (t->device.device_type != kDLCPU) {
        PyErr_Format(PyExc_ValueError,
                     "the tensor is on a DLPack device of type %d (id %d), not the CPU: move it to the CPU first "
                     "(for example jax.device_get(x), x.cpu() in PyTorch)",
                     (int)t->device.device_type, (int)t->device.device_id);
        return NULL;
    }
    if (t->ndim < 0 || t->ndim > NPY_MAXDIMS) {
        PyErr_Format(PyExc_ValueError, "a DLPack tensor of %d axes: at most %d are supported", (int)t->ndim, NPY_MAXDIMS);
        return NULL;
    }
    PyArray_Descr *descr = descr_of(t->dtype);
    if (!descr) return NULL;
    npy_intp itemsize = PyDataType_ELSIZE(descr);
    npy_intp dims[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    int empty = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (!t->shape || t->shape[i] < 0) {
            Py_DECREF(descr);
            PyErr_SetString(PyExc_ValueError, "a DLPack tensor with a missing or negative size");
            return NULL;
        }
        dims[i] = (npy_intp)t->shape[i];
        empty |= dims[i] == 0;
    }
    /* Strides are in elements; NULL means C order (DLPack < 1.2 allows it). */
    npy_intp step = itemsize;
    for (int i = t->ndim - 1; i >= 0; i--) {
        int64_t s;
        if (t->strides) {
            if (__builtin_mul_overflow(t->strides[i], (int64_t)itemsize, &s)) {
                Py_DECREF(descr);
                PyErr_SetString(PyExc_ValueError, "a DLPack tensor whose strides overflow");
                return NULL;
            }
        } else {
            s = step;
            if (!empty && __builtin_mul_overflow(step, dims[i] > 0 ? dims[i] : 1, &step)) {
                Py_DECREF(descr);
                PyErr_SetString(PyExc_ValueError, "a DLPack tensor whose size overflows");
                return NULL;
            }
        }
        strides[i] = (npy_intp)s;
    }
    if (!t->data && !empty) {
        Py_DECREF(descr);
        PyErr_SetString(PyExc_ValueError, "a DLPack tensor without data");
        return NULL;
    }
    char *data = (char *)t->data + t->byte_offset;
    /* steals descr; flags 0: not writeable, alignment and contiguity computed from the strides */
    return PyArray_NewFromDescr(&PyArray_Type, descr, t->ndim, dims, strides, data, 0, NULL);
}

PyObject *cpb_from_dlpack(PyObject *self, PyObject *capsule) {
    (void)self;
    int versioned = PyCapsule_IsValid(capsule, "dltensor_versioned");
    if (!versioned && !PyCapsule_IsValid(capsule, "dltensor")) {
        PyErr_Format(PyExc_TypeError,
                     "from_dlpack expects an unused DLPack capsule (\"dltensor\" or \"dltensor_versioned\"), got %.200s",
                     Py_TYPE(capsule)->tp_name);
        return NULL;
    }
    void *managed = PyCapsule_GetPointer(capsule, versioned ? "dltensor_versioned" : "dltensor");
    if (!managed) return NULL;
    const DLTensor *t;
    if (versioned) {
        DLManagedTensorVersioned *v = managed;
        if (v->version.major != 1) {
            PyErr_Format(PyExc_BufferError, "DLPack version %u.%u is not supported (1.x is)", v->version.major,
                         v->version.minor);
            return NULL;
        }
        t = &v->dl_tensor;
    } else {
        t = &((DLManagedTensor *)managed)->dl_tensor;
    }
    PyObject *arr = view_of(t);
    if (!arr) return NULL;
    PyObject *owner = PyCapsule_New(managed, versioned ? "swiftsim.dlpack_owner_versioned" : "swiftsim.dlpack_owner",
                                    versioned ? free_versioned : free_legacy);
    if (!owner) {
        Py_DECREF(arr);
        return NULL;
    }
    /* From here the owner alone frees the tensor: the renamed capsule's destructor leaves it alone. */
    if (PyCapsule_SetName(capsule, versioned ? "used_dltensor_versioned" : "used_dltensor") < 0) {
        PyCapsule_SetDestructor(owner, NULL);
        Py_DECREF(owner);
        Py_DECREF(arr);
        return NULL;
    }
    if (PyArray_SetBaseObject((PyArrayObject *)arr, owner) < 0) { /* steals owner, even on failure */
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}
