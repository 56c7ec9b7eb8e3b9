/* runtime.c: threads and the GEMM library's set-up.
 *
 * keel and BLIS share one OpenMP pool (both use gcc's libgomp), so there is never a second
 * busy-waiting pool fighting for the cores. BLIS picks its kernel for this CPU at run time
 * (zen3 here, skx on a Xeon), so no environment variable is needed for the fast path. */
#include "../core.h"

#include <blis.h>
#include <omp.h>
#include <pthread.h>

static int n_threads;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char backend[64];

static void init_once(void) {
    n_threads = omp_get_num_procs();
    if (n_threads < 1) n_threads = 1;
    omp_set_num_threads(n_threads);
    bli_thread_set_num_threads(n_threads);
    snprintf(backend, sizeof backend, "blis %s (%s)", bli_info_get_version_str(),
             bli_arch_string(bli_arch_query_id()));
}

void keel_runtime_init(void) { pthread_once(&once, init_once); }

void keel_set_threads(int n) {
    keel_runtime_init();
    if (n <= 0) n = omp_get_num_procs();
    if (n < 1) n = 1;
    n_threads = n;
    omp_set_num_threads(n);
    bli_thread_set_num_threads(n);
}

int keel_get_threads(void) {
    keel_runtime_init();
    return n_threads;
}

int keel_threads(void) { return keel_get_threads(); }

const char *keel_gemm_backend(void) {
    keel_runtime_init();
    return backend;
}
