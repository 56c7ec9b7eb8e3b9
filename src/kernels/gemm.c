/* gemm.c: single-precision GEMM through BLIS, and the naive reference.
 *
 * Why BLIS: measured on this machine (AMD EPYC Zen3, 2 cores) BLIS, OpenBLAS and oneDNN's
 * dnnl_sgemm reach similar speed on the MLP's shapes (100-150 GFLOP/s on 2 threads), but only
 * BLIS makes no heap allocation per call after the first (OpenBLAS allocates 1 buffer per call,
 * dnnl_sgemm 3), and chooses its kernel from the CPU itself without an environment variable.
 * Its strided interface also covers the transposes. keel links BLIS's serial build and threads
 * it itself (keel_gemm below). */
#include "kernels.h"

#include <blis.h>

static void gemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    /* row-major A (M x K): element (i, k) at A[i*lda + k]; transposed storage swaps strides */
    inc_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
    inc_t rsb = tb ? 1 : ldb, csb = tb ? ldb : 1;
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N, (dim_t)K, &alpha,
              (float *)A, rsa, csa, (float *)B, rsb, csb, &beta, C, (inc_t)ldc, 1);
}

enum { CUT_M, CUT_N, CUT_K };

typedef struct gemm_job {
    bool ta, tb;
    int cut;
    int64_t M, N, K, lda, ldb, ldc, unit, parts;
    float alpha, beta;
    const float *A, *B;
    float *C, *partial; /* CUT_K: parts 1.. write M x N partial products here */
} gemm_job;

/* part p of the job: a block of rows of C (and A), of columns of C (and B), or of the inner
 * dimension (a partial product, summed afterwards) */
static void gemm_part(void *ctx, int64_t lo, int64_t hi) {
    const gemm_job *j = ctx;
    int64_t len = j->cut == CUT_M ? j->M : j->cut == CUT_N ? j->N : j->K;
    for (int64_t p = lo; p < hi; p++) {
        int64_t a = (len * p / j->parts) / j->unit * j->unit;
        int64_t b = p + 1 == j->parts ? len : (len * (p + 1) / j->parts) / j->unit * j->unit;
        if (a >= b) continue;
        if (j->cut == CUT_N)
            gemm1(j->ta, j->tb, j->M, b - a, j->K, j->alpha, j->A, j->lda, j->tb ? j->B + a * j->ldb : j->B + a,
                  j->ldb, j->beta, j->C + a, j->ldc);
        else if (j->cut == CUT_M)
            gemm1(j->ta, j->tb, b - a, j->N, j->K, j->alpha, j->ta ? j->A + a : j->A + a * j->lda, j->lda, j->B,
                  j->ldb, j->beta, j->C + a * j->ldc, j->ldc);
        else
            gemm1(j->ta, j->tb, j->M, j->N, b - a, j->alpha, j->ta ? j->A + a * j->lda : j->A + a, j->lda,
                  j->tb ? j->B + a : j->B + a * j->ldb, j->ldb, p ? 0.0f : j->beta,
                  p ? j->partial + (p - 1) * j->M * j->N : j->C, p ? j->N : j->ldc);
    }
}

/* The calling thread's buffer for partial products: grown on first need, then reused, so a
 * training step after the first allocates nothing. */
static _Thread_local float *scratch;
static _Thread_local int64_t scratch_n;

static float *partial_buffer(int64_t n) {
    if (n > scratch_n) {
        float *p = realloc(scratch, (size_t)n * sizeof *p);
        if (!p) return NULL;
        scratch = p, scratch_n = n;
    }
    return scratch;
}

/* keel runs the serial BLIS on its own pool (see parallel.c for why), one block per thread, so
 * no thread ever waits inside BLIS. Each thread packs its share of the operands plus all of
 * the one it does not cut, so the cut is the one that copies least: rows of C (and A) on
 * BLIS's 6-row register blocks, columns of C (and B) on its 16-column blocks, or, when C is
 * small beside the inner dimension (the Dense layer's X.W at 5408 inputs), the inner
 * dimension, whose partial products are then summed. */
void keel_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    int64_t T = keel_threads();
    if (T < 2 || M * N * K < 200000) {
        gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* floats copied beyond an even share: all of A (cut N), all of B (cut M), partials (cut K) */
    int64_t copy_n = M * K, copy_m = N * K, copy_k = 3 * M * N * (T - 1);
    gemm_job j = {ta, tb, CUT_N, M, N, K, lda, ldb, ldc, 16, 0, alpha, beta, A, B, C, NULL};
    if (copy_k < KEEL_MIN(copy_n, copy_m) && K >= 256 * T && (j.partial = partial_buffer((T - 1) * M * N)))
        j.cut = CUT_K, j.unit = 8;
    else if (copy_m < copy_n || N < 16 * T)
        j.cut = CUT_M, j.unit = 6;
    int64_t len = j.cut == CUT_M ? M : j.cut == CUT_N ? N : K;
    j.parts = KEEL_MIN(T, len / j.unit);
    if (j.parts < 2) {
        gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    keel_parallel_run(j.parts, (int)j.parts, gemm_part, &j);
    if (j.cut == CUT_K)
        for (int64_t p = 1; p < j.parts; p++) {
            const float *src = j.partial + (p - 1) * M * N;
            for (int64_t r = 0; r < M; r++) {
                float *c = C + r * ldc;
                const float *s = src + r * N;
#pragma omp simd
                for (int64_t q = 0; q < N; q++) c[q] += s[q];
            }
        }
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

void keel_sum_rows(const float *dy, float *db, int64_t rows, int64_t cols, bool accumulate) {
    if (!accumulate) memset(db, 0, (size_t)cols * sizeof *db);
    for (int64_t r = 0; r < rows; r++) {
        const float *d = dy + r * cols;
#pragma omp simd
        for (int64_t c = 0; c < cols; c++) db[c] += d[c];
    }
}
