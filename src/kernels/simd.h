/* simd.h: keel's hot loops, compiled once per instruction-set level and chosen at run time.
 *
 * The default build targets plain x86-64 (SSE2), so that one binary runs on any x86-64 CPU and
 * under valgrind. The loops where the time goes (direct convolution, its fused pool and dW,
 * col2im, activations, bias+activation, the GEMM's partial sums) live in the simd_*.c files,
 * which CMake compiles three times: for x86-64, x86-64-v3 (AVX2+FMA) and x86-64-v4 (AVX-512),
 * each copy's names ending in _base, _avx2 or _avx512 and gathered in a keel_simd table
 * (simd_table.c). conv.c, activations.c and gemm.c call through the table of the level this
 * process runs at (keel_runtime_isa: the CPU's, or lower with KEEL_ISA). One level per process,
 * so results stay bit-identical from run to run at a fixed thread count; they differ between
 * levels in the last bits (FMA contracts a*b+c into one rounding). */
#ifndef KEEL_SIMD_H
#define KEEL_SIMD_H

#include "cpu.h"
#include "kernels.h"

/* ---- the jobs the range functions (keel_range_fn) take, shared by the dispatching files
 * and the copies */
typedef struct keel_conv_job { /* im2col, col2im */
    const keel_conv_geom *g;
    const float *src;
    float *dst;
} keel_conv_job;

typedef struct keel_direct_job { /* direct forward (y) or fused with the pool (pooled, arg) */
    const keel_conv_geom *g;
    const float *x, *w, *b;
    float *y, *pooled;
    int32_t *arg;
    bool relu;
} keel_direct_job;

typedef struct keel_bias_act_job {
    keel_act a;
    float *z, *pre;
    const float *b;
    int64_t cols;
} keel_bias_act_job;

/* Input offset of tap t = (kh, kw, c) from a window's top-left input value; false when some
 * window reaches into padding (then each tap is bounds-checked). At most 32 taps. */
static inline bool keel_tap_offsets(const keel_conv_geom *g, int64_t *off) {
    for (int64_t kh = 0, t = 0; kh < g->KH; kh++)
        for (int64_t kw = 0; kw < g->KW; kw++)
            for (int64_t c = 0; c < g->C; c++, t++)
                off[t] = ((kh * g->DH) * g->W + kw * g->DW) * g->C + c;
    return g->PT == 0 && g->PL == 0 && (g->OH - 1) * g->SH + (g->KH - 1) * g->DH < g->H &&
           (g->OW - 1) * g->SW + (g->KW - 1) * g->DW < g->W;
}

typedef struct keel_simd {
    keel_isa isa;
    /* conv: keel_direct_job over samples; keel_conv_job over samples (col2im) */
    keel_range_fn conv_direct, conv_relu_pool, col2im;
    /* dw (K*OC) and db (OC) of samples [lo, hi), overwritten; dz masked in place by relu_y */
    void (*conv_dw)(const keel_conv_geom *g, const float *x, float *dz, const float *relu_y,
                    float *dw, float *db, int64_t lo, int64_t hi);
    /* activations: keel_act_forward / keel_act_backward; keel_bias_act_job over rows */
    void (*act_forward)(keel_act a, const float *x, float *y, int64_t rows, int64_t cols);
    void (*act_backward)(keel_act a, const float *x, const float *y, const float *dy, float *dx,
                         int64_t rows, int64_t cols);
    keel_range_fn bias_act;
    /* keel_gemm for few rows of C and B not transposed (gemm.c says when) */
    void (*gemm_small)(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
    /* dst[i] += src[i], i < n */
    void (*add)(float *dst, const float *src, int64_t n);
    /* keel_sum_rows */
    void (*sum_rows)(const float *dy, float *db, int64_t rows, int64_t cols, bool accumulate);
} keel_simd;

extern const keel_simd keel_simd_base, keel_simd_avx2, keel_simd_avx512;

/* The copy this process runs (keel_runtime_isa). */
const keel_simd *keel_simd_get(void);

/* ---- inside a copy (KEEL_SIMD_ISA is base, avx2 or avx512): its own names */
#ifdef KEEL_SIMD_ISA
#define KEEL_SIMD_CAT2(a, b) a##_##b
#define KEEL_SIMD_CAT(a, b) KEEL_SIMD_CAT2(a, b)
#define KEEL_SIMD_NAME(name) KEEL_SIMD_CAT(name, KEEL_SIMD_ISA)

void KEEL_SIMD_NAME(keel_simd_conv_direct)(void *ctx, int64_t lo, int64_t hi);
void KEEL_SIMD_NAME(keel_simd_conv_relu_pool)(void *ctx, int64_t lo, int64_t hi);
void KEEL_SIMD_NAME(keel_simd_col2im)(void *ctx, int64_t lo, int64_t hi);
void KEEL_SIMD_NAME(keel_simd_conv_dw)(const keel_conv_geom *g, const float *x, float *dz,
                                       const float *relu_y, float *dw, float *db, int64_t lo,
                                       int64_t hi);
void KEEL_SIMD_NAME(keel_simd_act_forward)(keel_act a, const float *x, float *y, int64_t rows,
                                           int64_t cols);
void KEEL_SIMD_NAME(keel_simd_act_backward)(keel_act a, const float *x, const float *y,
                                            const float *dy, float *dx, int64_t rows, int64_t cols);
void KEEL_SIMD_NAME(keel_simd_bias_act)(void *ctx, int64_t lo, int64_t hi);
void KEEL_SIMD_NAME(keel_simd_gemm_small)(bool ta, int64_t M, int64_t N, int64_t K, float alpha,
                                          const float *A, int64_t lda, const float *B, int64_t ldb,
                                          float beta, float *C, int64_t ldc);
void KEEL_SIMD_NAME(keel_simd_add)(float *dst, const float *src, int64_t n);
void KEEL_SIMD_NAME(keel_simd_sum_rows)(const float *dy, float *db, int64_t rows, int64_t cols,
                                        bool accumulate);
#endif

#endif
