/* interrupt.c — Ctrl-C during a long GIL-free kernel call.
 *
 * Python's SIGINT handler only records the signal; the KeyboardInterrupt is raised when the main
 * thread next runs Python code, which for a kernel call of several seconds is when the call ends. So
 * for the duration of a long call on the main thread, the shim puts its own handler in front of
 * Python's: it sets a flag the kernels poll at every tile boundary, then calls Python's handler as if
 * it had been called directly. The kernel stops within a tile, the shim restores Python's handler and
 * lets Python run its signal handlers (PyErr_CheckSignals), which raise KeyboardInterrupt.
 *
 * Only the main thread installs the handler (Python runs signal handlers on the main thread alone, and
 * only the main thread can change them, so no two calls ever race on it), and only when Python's own C
 * handler is installed for SIGINT: with SIG_IGN or SIG_DFL nothing is changed. */
#include <signal.h>
#include <string.h>

#include "cpybridge.h"

static int32_t g_flag;                  /* set by the handler, read by the kernels */
static struct sigaction g_python;       /* the handler in place before the call (Python's) */
static unsigned long g_main_thread;     /* threading.main_thread().ident */

static void on_sigint(int sig, siginfo_t *info, void *context) {
    __atomic_store_n(&g_flag, 1, __ATOMIC_RELAXED);
    if (g_python.sa_flags & SA_SIGINFO) g_python.sa_sigaction(sig, info, context);
    else if (g_python.sa_handler != SIG_DFL && g_python.sa_handler != SIG_IGN) g_python.sa_handler(sig);
}

int cpb_interrupt_init(void) {
    PyObject *threading = PyImport_ImportModule("threading");
    if (!threading) return -1;
    PyObject *main = PyObject_CallMethod(threading, "main_thread", NULL);
    Py_DECREF(threading);
    if (!main) return -1;
    PyObject *ident = PyObject_GetAttrString(main, "ident");
    Py_DECREF(main);
    if (!ident) return -1;
    g_main_thread = PyLong_AsUnsignedLong(ident);
    Py_DECREF(ident);
    return PyErr_Occurred() ? -1 : 0;
}

const int32_t *cpb_interrupt_begin(void) {
    if (PyThread_get_thread_ident() != g_main_thread) return NULL;
    struct sigaction current;
    if (sigaction(SIGINT, NULL, &current) != 0) return NULL;
    int is_function = (current.sa_flags & SA_SIGINFO) ||
                      (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN);
    if (!is_function) return NULL;
    g_python = current;
    __atomic_store_n(&g_flag, 0, __ATOMIC_RELAXED);
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_sigint;
    ours.sa_mask = current.sa_mask;
    ours.sa_flags = (current.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    if (sigaction(SIGINT, &ours, NULL) != 0) return NULL;
    return &g_flag;
}

void cpb_interrupt_end(const int32_t *flag) {
    if (flag) sigaction(SIGINT, &g_python, NULL);
}
