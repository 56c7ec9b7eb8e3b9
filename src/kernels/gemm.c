/* gemm.c: single-precision GEMM through BLIS, and the naive reference.
 *
 * Why BLIS: measured on this machine (AMD EPYC Zen3, 2 cores) BLIS, OpenBLAS and oneDNN's
 * dnnl_sgemm reach similar speed on the MLP's shapes (100-150 GFLOP/s on 2 threads), but only
 * BLIS makes no heap allocation per call after the first (OpenBLAS allocates 1 buffer per call,
 * dnnl_sgemm 3), runs on the same OpenMP pool as keel, and chooses its kernel from the CPU
 * itself without an environment variable. Its strided interface also covers the transposes. */
#include "kernels.h"

#include <blis.h>

void keel_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    /* row-major A (M x K): element (i, k) at A[i*lda + k]; transposed storage swaps strides */
    inc_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
    inc_t rsb = tb ? 1 : ldb, csb = tb ? ldb : 1;
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N, (dim_t)K, &alpha,
              (float *)A, rsa, csa, (float *)B, rsb, csb, &beta, C, (inc_t)ldc, 1);
}

void keel_gemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            C[i * ldc + j] = (float)(alpha * s + (beta == 0 ? 0.0 : beta * C[i * ldc + j]));
        }
}

void keel_add_bias(float *y, const float *b, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) yr[c] += b[c];
    }
}

void keel_sum_rows(const float *dy, float *db, int64_t rows, int64_t cols, bool accumulate) {
    if (!accumulate) memset(db, 0, (size_t)cols * sizeof *db);
    for (int64_t r = 0; r < rows; r++) {
        const float *d = dy + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) db[c] += d[c];
    }
}
