/* bench_kernels.c: the demo CNN's hot kernels alone, at 1 thread and at all threads: the Dense
 * 5408x128 layer's three GEMMs (forward X.W, dW = X^T dZ, dX = dZ W^T) at batch 32 and 128 in
 * GFLOP/s, and the first convolution's kernels (direct forward, forward fused with ReLU and a
 * 2x2 max pool, dW/db) in microseconds per 28x28 sample. For finding where an epoch's time goes
 * beyond KEEL_PROFILE's per-layer split; keel beside PyTorch is bench/compare_pytorch.sh.
 *
 * usage: bench_kernels [--seconds S]   (each measurement runs about S seconds, default 0.5) */
#include <keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *filled(int64_t n, unsigned seed) {
    float *p = malloc((size_t)n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
    }
    return p;
}

static void gemm_case(const char *name, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                      double seconds) {
    float *A = filled(M * K, 1), *B = filled(K * N, 2), *C = filled(M * N, 3);
    int reps = 0;
    double t0 = now(), t;
    do {
        keel_gemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);
        reps++;
    } while ((t = now() - t0) < seconds);
    printf("gemm %-9s %5lldx%5lldx%5lld threads=%d gflops=%.1f us_per_call=%.1f\n", name,
           (long long)M, (long long)N, (long long)K, keel_get_threads(),
           2.0 * (double)(M * N * K) * reps / t / 1e9, t / reps * 1e6);
    free(A), free(B), free(C);
}

static void conv_cases(double seconds) {
    keel_conv_geom g = {
        .H = 28, .W = 28, .C = 1, .OC = 32, .KH = 3, .KW = 3, .SH = 1, .SW = 1, .DH = 1, .DW = 1};
    keel_conv_out(g.H, g.KH, g.SH, g.DH, false, &g.OH, &g.PT);
    keel_conv_out(g.W, g.KW, g.SW, g.DW, false, &g.OW, &g.PL);
    const int64_t n = 32, out = n * g.OH * g.OW * g.OC, pooled = n * (g.OH / 2) * (g.OW / 2) * g.OC;
    float *x = filled(n * g.H * g.W, 4), *w = filled(9 * g.OC, 5), *b = filled(g.OC, 6),
          *y = filled(out, 7);
    float *dz = filled(out, 8), *p = filled(pooled, 9), *dw = filled(9 * g.OC, 10),
          *db = filled(g.OC, 11);
    float *partial = filled((int64_t)keel_get_threads() * (9 * g.OC + g.OC), 12);
    int32_t *arg = malloc((size_t)pooled * sizeof *arg);
    const char *names[3] = {"direct_forward", "relu_pool_forward", "direct_dw"};
    for (int k = 0; k < 3; k++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            if (k == 0)
                keel_conv_direct_forward(&g, x, w, b, y, n, true);
            else if (k == 1)
                keel_conv_direct_relu_pool(&g, x, w, b, p, arg, n);
            else
                keel_conv_direct_dw(&g, x, dz, NULL, dw, db, partial, keel_get_threads(), n);
            reps++;
        } while ((t = now() - t0) < seconds);
        double us = t / reps / (double)n * 1e6;
        printf("conv %-17s 28x28x1 -> 26x26x32 threads=%d us_per_sample=%.2f gflops=%.1f\n",
               names[k], keel_get_threads(), us, 2.0 * (double)(g.OH * g.OW * g.OC * 9) / us / 1e3);
    }
    free(x), free(w), free(b), free(y), free(dz), free(p), free(dw), free(db), free(partial),
        free(arg);
}

int main(int argc, char **argv) {
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    if (!(seconds > 0)) seconds = 0.5;
    int all = keel_get_threads();
    for (int threads = 1; threads <= all; threads += all > 1 ? all - 1 : 1) {
        keel_set_threads(threads);
        for (int64_t batch = 32; batch <= 128; batch *= 4) {
            char fwd[16], dW[16], dX[16];
            snprintf(fwd, sizeof fwd, "X.W/%lld", (long long)batch);
            snprintf(dW, sizeof dW, "dW/%lld", (long long)batch);
            snprintf(dX, sizeof dX, "dX/%lld", (long long)batch);
            gemm_case(fwd, false, false, batch, 128, 5408, seconds);
            gemm_case(dW, true, false, 5408, 128, batch, seconds);
            gemm_case(dX, false, true, batch, 5408, 128, seconds);
        }
        conv_cases(seconds);
    }
    return 0;
}
