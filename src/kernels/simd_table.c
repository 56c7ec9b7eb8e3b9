/* simd_table.c: one copy's table (simd.h), and the small vector loops of gemm.c that have no
 * file of their own: the sum of a cut GEMM's partial products and keel_sum_rows. Compiled
 * once per level, like the other simd_*.c files. */
#include "simd.h"

void KEEL_SIMD_NAME(keel_simd_add)(float *dst, const float *src, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

void KEEL_SIMD_NAME(keel_simd_sum_rows)(const float *dy, float *db, int64_t rows, int64_t cols,
                                        bool accumulate) {
    if (!accumulate) memset(db, 0, (size_t)cols * sizeof *db);
    for (int64_t r = 0; r < rows; r++) {
        const float *d = dy + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++)
            db[c] += d[c];
    }
}

/* keel_simd_base, keel_simd_avx2 or keel_simd_avx512 */
const keel_simd KEEL_SIMD_NAME(keel_simd) = {
    .isa = KEEL_SIMD_LEVEL,
    .conv_direct = KEEL_SIMD_NAME(keel_simd_conv_direct),
    .conv_relu_pool = KEEL_SIMD_NAME(keel_simd_conv_relu_pool),
    .col2im = KEEL_SIMD_NAME(keel_simd_col2im),
    .conv_dw = KEEL_SIMD_NAME(keel_simd_conv_dw),
    .act_forward = KEEL_SIMD_NAME(keel_simd_act_forward),
    .act_backward = KEEL_SIMD_NAME(keel_simd_act_backward),
    .bias_act = KEEL_SIMD_NAME(keel_simd_bias_act),
    .add = KEEL_SIMD_NAME(keel_simd_add),
    .sum_rows = KEEL_SIMD_NAME(keel_simd_sum_rows),
};
