/* errors.c — the one place where a kernel status becomes a Python exception. */
#include "cpybridge.h"

int cpb_raise_status(ssim_status status, const char *op) {
    switch (status) {
    case SSIM_OK:
        return 0;
    case SSIM_ERR_NULL_POINTER:
        PyErr_Format(PyExc_ValueError, "%s: a required buffer was missing", op);
        return -1;
    case SSIM_ERR_BAD_SHAPE:
        PyErr_Format(PyExc_ValueError, "%s: inconsistent shapes or reduced lengths", op);
        return -1;
    case SSIM_ERR_BAD_EPSILON:
        PyErr_Format(PyExc_ValueError, "%s: epsilon must be a non-negative number", op);
        return -1;
    case SSIM_ERR_NO_MEMORY:
        PyErr_Format(PyExc_MemoryError, "%s: the kernel could not allocate its workspace", op);
        return -1;
    case SSIM_ERR_BAD_INDEX:
        PyErr_Format(PyExc_ValueError, "%s: an index list is out of range, unsorted or inconsistent with its offsets", op);
        return -1;
    case SSIM_INTERRUPTED:
        PyErr_SetNone(PyExc_KeyboardInterrupt);
        return -1;
    case SSIM_ERR_BAD_CANDIDATE:
        PyErr_Format(PyExc_ValueError, "%s: an index below -1 (-1 marks padding)", op);
        return -1;
    case SSIM_ERR_BAD_THRESHOLD:
        PyErr_Format(PyExc_ValueError, "%s: threshold must be a number, got NaN", op);
        return -1;
    case SSIM_CAPACITY_EXCEEDED:
        PyErr_Format(PyExc_ValueError, "%s: the result did not fit the buffers it was given", op);
        return -1;
    }
    PyErr_Format(PyExc_RuntimeError, "%s: unknown kernel status %d", op, (int)status);
    return -1;
}
