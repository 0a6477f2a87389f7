/* fork.c — registers the thread pool's fork handlers when the library is loaded.
 *
 * A constructor runs once, at load time, before any kernel can start the pool, so there is no window in
 * which a fork() could find the registration (or the pool) half done. */
#include <pthread.h>

#include "swiftsim_threads.h"

__attribute__((constructor)) static void ssim_register_fork_handlers(void) {
    pthread_atfork(ssim_pool_prepare_fork, ssim_pool_parent_after_fork, ssim_pool_child_after_fork);
}
