/*
 * swiftsim_threads.h — process-level hooks of the kernels' thread pool and the flag long kernels poll
 * (internal to the kernels, like swiftsim_simd.h; not part of the C ABI).
 */
#ifndef SWIFTSIM_THREADS_H
#define SWIFTSIM_THREADS_H

#include <stdbool.h>
#include <stdint.h>

/* Implemented in Swift (Sources/SwiftSimCore/ThreadPool.swift) and registered with pthread_atfork by
 * fork.c when the library is loaded, before any thread can use the pool: the prepare handler holds
 * the pool's lock across fork(), the child handler forgets the helper threads the child lacks. */
void ssim_pool_prepare_fork(void);
void ssim_pool_parent_after_fork(void);
void ssim_pool_child_after_fork(void);

/* A relaxed atomic read of a flag another thread (or a signal handler) may set during the call, so the
 * compiler reads memory each time instead of hoisting the load out of the kernel's loops. */
static inline bool ssim_flag_is_set(const int32_t *flag) {
    return flag != 0 && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}

#endif /* SWIFTSIM_THREADS_H */
