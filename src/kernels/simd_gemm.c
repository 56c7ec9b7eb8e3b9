/* simd_gemm.c: the GEMM loops keel runs itself, once per instruction-set level (simd.h): a
 * product with few rows of C, the sum of a cut GEMM's partial products, and keel_sum_rows.
 *
 * Why a small-M GEMM of its own: BLIS 0.9 packs all of B before its kernels start, and only its
 * haswell and zen sub-configurations have "small/unpacked" kernels that skip that for small
 * products; skx has none. For C = A (2 x 784) B (784 x 128) that made skx take 27 us against
 * zen3's 6.8 (this machine, one thread). Here each block of up to 4 rows of C reads B once, row
 * by row, straight from where it lies, with the block's outputs in registers: 64 columns (four
 * AVX-512 registers per row) in the avx512 copy, 32 elsewhere. Sums run in k order, serially,
 * so the result does not depend on the thread count. */
#include "simd.h"

/* One register of floats: 16 in the avx512 copy, 8 in the avx2 one, 4 in the x86-64 one. Per
 * block of ROWS rows, VECS registers per row: 4 x 4 accumulators take half of the 32 zmm
 * registers; 4 x 2 and the two B vectors, 10 of the 16 ymm or xmm ones. (A 16-float type in
 * the avx2 copy, split by gcc into ymm pairs, ran 15x slower: it spilled.) */
#if defined(__AVX512F__)
#define VL 16
#define VECS 4
#elif defined(__AVX__)
#define VL 8
#define VECS 2
#else
#define VL 4
#define VECS 2
#endif
typedef float vec __attribute__((vector_size(VL * 4)));
#define ROWS 4

/* C[0..R) x [0..VL*V) of the block at C; R and V are constants after inlining */
static inline __attribute__((always_inline)) void tile(const int R, const int V, bool ta, int64_t K,
                                                       float alpha, const float *A, int64_t lda,
                                                       const float *B, int64_t ldb, float beta,
                                                       float *C, int64_t ldc) {
    vec acc[ROWS][VECS];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++)
            acc[r][v] = (vec){0};
    for (int64_t k = 0; k < K; k++) {
        vec b[VECS];
        for (int v = 0; v < V; v++)
            memcpy(&b[v], B + k * ldb + VL * v, sizeof b[v]);
        for (int r = 0; r < R; r++) {
            const float a = ta ? A[k * lda + r] : A[r * lda + k];
            for (int v = 0; v < V; v++)
                acc[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) {
            float *c = C + r * ldc + VL * v;
            vec out = alpha * acc[r][v];
            if (beta != 0) { /* beta 0 never reads C, as BLIS (C may hold garbage) */
                vec old;
                memcpy(&old, c, sizeof old);
                out += beta * old;
            }
            memcpy(c, &out, sizeof out);
        }
}

/* the last columns, fewer than VL, one at a time */
static void tail(int R, int64_t cols, bool ta, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int r = 0; r < R; r++)
        for (int64_t j = 0; j < cols; j++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (ta ? A[k * lda + r] : A[r * lda + k]) * B[k * ldb + j];
            C[r * ldc + j] = alpha * s + (beta != 0 ? beta * C[r * ldc + j] : 0.0f);
        }
}

/* the rows [0, R) of C, R <= 4, all columns; R is a constant after inlining */
static inline __attribute__((always_inline)) void
row_block(const int R, bool ta, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
          const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    int64_t j = 0;
    for (; j + VL * VECS <= N; j += VL * VECS)
        tile(R, VECS, ta, K, alpha, A, lda, B + j, ldb, beta, C + j, ldc);
    for (; j + VL <= N; j += VL)
        tile(R, 1, ta, K, alpha, A, lda, B + j, ldb, beta, C + j, ldc);
    if (j < N) tail(R, N - j, ta, K, alpha, A, lda, B + j, ldb, beta, C + j, ldc);
}

void KEEL_SIMD_NAME(keel_simd_gemm_small)(bool ta, int64_t M, int64_t N, int64_t K, float alpha,
                                          const float *A, int64_t lda, const float *B, int64_t ldb,
                                          float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i += ROWS) {
        /* row i of op(A): A[i][k] at A + i * lda, or A[k][i] at A + i when transposed */
        const float *Ai = ta ? A + i : A + i * lda;
        float *Ci = C + i * ldc;
        switch (M - i >= ROWS ? ROWS : (int)(M - i)) {
        case 4: row_block(4, ta, N, K, alpha, Ai, lda, B, ldb, beta, Ci, ldc); break;
        case 3: row_block(3, ta, N, K, alpha, Ai, lda, B, ldb, beta, Ci, ldc); break;
        case 2: row_block(2, ta, N, K, alpha, Ai, lda, B, ldb, beta, Ci, ldc); break;
        default: row_block(1, ta, N, K, alpha, Ai, lda, B, ldb, beta, Ci, ldc); break;
        }
    }
}

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
