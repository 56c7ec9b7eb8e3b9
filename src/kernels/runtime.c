/* runtime.c: threads and the GEMM library's set-up.
 *
 * keel runs everything, BLIS's serial GEMM included, on its own pool (parallel.c), so there is
 * never a second busy-waiting pool fighting for the cores. The default thread count is the
 * number of CPUs this process may run on (OMP_NUM_THREADS, when set, is honoured as PyTorch and
 * NumPy's BLAS do). BLIS picks its kernel for this CPU at run time (zen3 here, skx on a Xeon),
 * so no environment variable is needed for the fast path. */
#include "../core.h"

#include <blis.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_int n_threads; /* read by every kernel, set by keel_set_threads from any thread */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char backend[64];

static int default_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (end != e && v >= 1 && v <= 256) return (int)v;
    }
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : n;
}

static void init_once(void) {
    n_threads = default_threads();
    snprintf(backend, sizeof backend, "blis %s (%s)", bli_info_get_version_str(),
             bli_arch_string(bli_arch_query_id()));
}

void keel_runtime_init(void) { pthread_once(&once, init_once); }

void keel_set_threads(int n) {
    keel_runtime_init();
    if (n <= 0) n = default_threads();
    n_threads = n > 256 ? 256 : n;
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
