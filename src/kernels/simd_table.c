/* simd_table.c: one copy's table (simd.h). Compiled once per level, like the other simd_*.c
 * files. */
#include "simd.h"

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
    .gemm_small = KEEL_SIMD_NAME(keel_simd_gemm_small),
    .add = KEEL_SIMD_NAME(keel_simd_add),
    .sum_rows = KEEL_SIMD_NAME(keel_simd_sum_rows),
};
