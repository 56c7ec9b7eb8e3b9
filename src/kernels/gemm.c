/* gemm.c: single-precision GEMM through BLIS, and the naive reference.
 *
 * Why BLIS: measured on an AMD EPYC Zen3 (2 cores) BLIS, OpenBLAS and oneDNN's dnnl_sgemm
 * reach similar speed on the MLP's shapes (100-150 GFLOP/s on 2 threads), but only BLIS makes
 * no heap allocation per call after the first (OpenBLAS allocates 1 buffer per call,
 * dnnl_sgemm 3). Its strided interface also covers the transposes. keel links BLIS's serial
 * build, chooses its sub-configuration (cpu.c, runtime.c) and threads it itself (keel_gemm
 * below). */
#include "simd.h"

#include <blis.h>
#include <pthread.h>

static void gemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    /* row-major A (M x K): element (i, k) at A[i*lda + k]; transposed storage swaps strides */
    inc_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
    inc_t rsb = tb ? 1 : ldb, csb = tb ? ldb : 1;
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)M, (dim_t)N, (dim_t)K, &alpha,
              (float *)A, rsa, csa, (float *)B, rsb, csb, &beta, C, (inc_t)ldc, 1);
}

/* A matrix-vector product when C is one row or one column. With no small-matrix kernels (the
 * skx sub-configuration has none in BLIS 0.9) a GEMM packs all of B for one row of A:
 * measured here, 1x784 @ 784x128 takes 43 us as a GEMM on skx, 9.5 on zen3, 5.4 as a GEMV on
 * either; 1x5408 @ 5408x128 (the demo CNN's Dense on one sample) 225, 46 and 36 us. */
static void gemv1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 1) { /* c^T (N) = op(B)^T (N x K) a^T (K) */
        inc_t rs = tb ? ldb : 1, cs = tb ? 1 : ldb;
        bli_sgemv(BLIS_NO_TRANSPOSE, BLIS_NO_CONJUGATE, (dim_t)N, (dim_t)K, &alpha, (float *)B, rs,
                  cs, (float *)A, ta ? (inc_t)lda : 1, &beta, C, 1);
    } else { /* c (M) = op(A) (M x K) b (K), c strided by ldc */
        inc_t rs = ta ? 1 : lda, cs = ta ? lda : 1;
        bli_sgemv(BLIS_NO_TRANSPOSE, BLIS_NO_CONJUGATE, (dim_t)M, (dim_t)K, &alpha, (float *)A, rs,
                  cs, (float *)B, tb ? 1 : (inc_t)ldb, &beta, C, (inc_t)ldc);
    }
}

/* BLIS's register block of C for the sub-configuration in use, as rows x columns of keel's
 * row-major C: a kernel that prefers columns (skx: 32x12) runs on the transpose, so its 32
 * lies along keel's columns. Cuts fall on these multiples so that no thread gets a ragged
 * edge block that the other would not. And whether it has small/unpacked ("sup") kernels:
 * haswell and the zens do, skx and the older ones do not (their thresholds are 0). */
static pthread_once_t blis_once = PTHREAD_ONCE_INIT;
static int64_t block_m = 6, block_n = 16;
static bool blis_sup;
static void blis_query(void) {
    cntx_t *cx = bli_gks_query_cntx();
    int64_t mr = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, cx);
    int64_t nr = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, cx);
    bool rows = bli_cntx_l3_nat_ukr_prefers_rows_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cx);
    if (mr > 0 && nr > 0) block_m = rows ? mr : nr, block_n = rows ? nr : mr;
    blis_sup = bli_cntx_get_l3_sup_thresh_dt(BLIS_FLOAT, BLIS_MT, cx) > 0;
}

/* ---- few rows of C: keel's own kernel (simd_gemm.c) where BLIS has no sup kernels. Measured
 * on this machine, one thread, C = A (M x 784) B (784 x 128): BLIS skx 26 us for any M up to
 * 12, keel's avx512 kernel 2.9 (M = 1), 4.4 (4), 7.5 (8), 12 (12), 15 (16); BLIS zen3, which
 * has sup kernels, 6.0, 8.0, 15, 21, 29, and keel's avx2 kernel about the same up to M = 4
 * but up to 1.4x slower beyond (K = 5408), so BLIS keeps those. */
#define SMALL_M 16    /* fewer rows of C */
#define SMALL_N 16    /* at least this many columns (the last few columns run scalar) */
#define SMALL_COLS 64 /* threads cut C's columns on the kernel's widest block */
/* M*N*K from which the columns are cut across threads. A parallel region costs little while
 * the workers spin (measured with the other core idle at that moment, 8x128x784: 8.2 us on one
 * thread, 4.7 on two) but up to STEAL_NS (100 us) when a worker is off its core, which on a
 * shared 2-core machine was the median case (1x784 @ 784x128: 3.2 us here on the calling
 * thread; cut in two, 27 us as BLIS GEMVs, 106 us for the skx GEMM). So only products of
 * 10 us and more on one thread are cut. */
#define SMALL_PARALLEL 1000000

typedef struct small_job {
    bool ta;
    int64_t M, N, K, lda, ldb, ldc, parts;
    float alpha, beta;
    const float *A, *B;
    float *C;
} small_job;

/* part p: columns [a, b) of C; each column is summed by one thread in k order, so the result
 * is the same for any number of parts */
static void small_part(void *ctx, int64_t lo, int64_t hi) {
    const small_job *j = ctx;
    const keel_simd *v = keel_simd_get();
    for (int64_t p = lo; p < hi; p++) {
        int64_t a = j->N * p / j->parts / SMALL_COLS * SMALL_COLS;
        int64_t b = p + 1 == j->parts ? j->N : j->N * (p + 1) / j->parts / SMALL_COLS * SMALL_COLS;
        if (a < b)
            v->gemm_small(j->ta, j->M, b - a, j->K, j->alpha, j->A, j->lda, j->B + a, j->ldb,
                          j->beta, j->C + a, j->ldc);
    }
}

enum { CUT_M, CUT_N, CUT_K };

/* M*N*K below which BLIS runs on the calling thread (a few us) */
#define GEMM_SERIAL_MNK 200000

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
            gemm1(j->ta, j->tb, j->M, b - a, j->K, j->alpha, j->A, j->lda,
                  j->tb ? j->B + a * j->ldb : j->B + a, j->ldb, j->beta, j->C + a, j->ldc);
        else if (j->cut == CUT_M)
            gemm1(j->ta, j->tb, b - a, j->N, j->K, j->alpha, j->ta ? j->A + a : j->A + a * j->lda,
                  j->lda, j->B, j->ldb, j->beta, j->C + a * j->ldc, j->ldc);
        else
            gemm1(j->ta, j->tb, j->M, j->N, b - a, j->alpha, j->ta ? j->A + a * j->lda : j->A + a,
                  j->lda, j->tb ? j->B + a : j->B + a * j->ldb, j->ldb, p ? 0.0f : j->beta,
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

keel_gemm_path keel_gemm_path_for(bool tb, int64_t M, int64_t N, int64_t K) {
    keel_runtime_init(); /* BLIS set up on keel's sub-configuration before it is asked */
    pthread_once(&blis_once, blis_query);
    if (K > 0 && !tb && M < SMALL_M && N >= SMALL_N && !blis_sup) return KEEL_GEMM_SMALL;
    /* One row of C (a prediction on one sample) or a small column (a Dense layer of one unit)
     * is a GEMV on the calling thread: it reads B once, faster than the pool can wake. */
    if (K > 0 && (M == 1 || (N == 1 && M * K < GEMM_SERIAL_MNK))) return KEEL_GEMM_GEMV;
    return KEEL_GEMM_BLIS;
}

/* keel runs the serial BLIS on its own pool (see parallel.c for why), one block per thread, so
 * no thread ever waits inside BLIS. Each thread packs its share of the operands plus all of
 * the one it does not cut, so the cut is the one that copies least: rows of C (and A) on
 * BLIS's register blocks (blis_query), columns of C (and B) likewise, or, when C is
 * small beside the inner dimension (the Dense layer's X.W at 5408 inputs), the inner
 * dimension, whose partial products are then summed. */
void keel_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    int64_t T = keel_threads();
    keel_gemm_path path = keel_gemm_path_for(tb, M, N, K);
    if (path == KEEL_GEMM_SMALL) {
        small_job j = {ta, M, N, K, lda, ldb, ldc, 1, alpha, beta, A, B, C};
        /* one row (a prediction on one sample) always on the calling thread; more rows in
         * column blocks when large enough to repay a parallel region */
        if (M > 1 && T > 1 && M * N * K >= SMALL_PARALLEL) j.parts = KEEL_MIN(T, N / SMALL_COLS);
        if (j.parts > 1)
            keel_parallel_run(j.parts, (int)j.parts, small_part, &j);
        else
            small_part(&j, 0, 1);
        return;
    }
    if (path == KEEL_GEMM_GEMV) {
        gemv1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (T < 2 || M * N * K < GEMM_SERIAL_MNK) {
        gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* floats copied beyond an even share: all of A (cut N), all of B (cut M), partials (cut K) */
    int64_t copy_n = M * K, copy_m = N * K, copy_k = 3 * M * N * (T - 1);
    gemm_job j = {ta, tb, CUT_N, M, N, K, lda, ldb, ldc, block_n, 0, alpha, beta, A, B, C, NULL};
    if (copy_k < KEEL_MIN(copy_n, copy_m) && K >= 256 * T &&
        (j.partial = partial_buffer((T - 1) * M * N)))
        j.cut = CUT_K, j.unit = 8;
    else if (copy_m < copy_n || N < block_n * T)
        j.cut = CUT_M, j.unit = block_m;
    int64_t len = j.cut == CUT_M ? M : j.cut == CUT_N ? N : K;
    j.parts = KEEL_MIN(T, len / j.unit);
    if (j.parts < 2) {
        gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    keel_parallel_run(j.parts, (int)j.parts, gemm_part, &j);
    if (j.cut == CUT_K) {
        const keel_simd *v = keel_simd_get();
        for (int64_t p = 1; p < j.parts; p++)
            for (int64_t r = 0; r < M; r++)
                v->add(C + r * ldc, j.partial + ((p - 1) * M + r) * N, N);
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
    keel_simd_get()->sum_rows(dy, db, rows, cols, accumulate);
}
