/* parallel.c: keel_parallel_for, the one way keel's own kernels use threads.
 *
 * Small work runs on the calling thread with no OpenMP region at all: an `if` clause would not
 * do, because libgomp allocates a team even for a region that runs serially, and a training
 * step must allocate nothing. Large work is cut into one contiguous range per thread, so each
 * thread touches its own memory and the split depends only on the thread count. */
#include "kernels.h"

#include <omp.h>

void keel_parallel_for(int64_t n, int64_t work, keel_range_fn fn, void *ctx) {
    int nt = keel_threads();
    if (nt <= 1 || n < 2 || work < 65536) {
        fn(ctx, 0, n);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t lo = n * t / T, hi = n * (t + 1) / T;
        if (lo < hi) fn(ctx, lo, hi);
    }
}
