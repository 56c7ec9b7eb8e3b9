/* kernels.h: numeric kernels with explicit dimensions. Forward beside backward; every fast
 * kernel has a naive reference beside it that the tests compare against. */
#ifndef KEEL_KERNELS_H
#define KEEL_KERNELS_H

#include "../core.h"

/* C (M x N) = alpha * op(A) (M x K) * op(B) (K x N) + beta * C, row-major; ta/tb transpose.
 * lda/ldb/ldc are row strides of A, B, C as stored. */
void keel_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* How keel_gemm computes a product of these sizes: BLIS (cut across threads when M*N*K is
 * large), BLIS's GEMV on the calling thread (one row of C, or a small column), or keel's own
 * kernel for fewer than 16 rows (simd_gemm.c; where BLIS's sub-configuration has no kernels for
 * small products, and never across threads for one row). */
typedef enum keel_gemm_path { KEEL_GEMM_BLIS, KEEL_GEMM_GEMV, KEEL_GEMM_SMALL } keel_gemm_path;
keel_gemm_path keel_gemm_path_for(bool tb, int64_t M, int64_t N, int64_t K);
/* The same, with three loops in double; the tests' reference. */
void keel_gemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* ---- activations */
typedef enum keel_act_kind {
    KEEL_ACT_LINEAR,
    KEEL_ACT_RELU,
    KEEL_ACT_RELU6,
    KEEL_ACT_SIGMOID,
    KEEL_ACT_HARD_SIGMOID,
    KEEL_ACT_TANH,
    KEEL_ACT_SOFTMAX,
    KEEL_ACT_LOG_SOFTMAX,
    KEEL_ACT_ELU,
    KEEL_ACT_SELU,
    KEEL_ACT_GELU,
    KEEL_ACT_SWISH,
    KEEL_ACT_HARD_SWISH,
    KEEL_ACT_MISH,
    KEEL_ACT_LEAKY_RELU,
    KEEL_ACT_SOFTPLUS,
    KEEL_ACT_SOFTSIGN,
    KEEL_ACT_EXPONENTIAL,
    KEEL_ACT_COUNT
} keel_act_kind;

typedef struct keel_act {
    keel_act_kind kind;
    float alpha; /* elu alpha, leaky_relu negative_slope, gelu approximate flag */
} keel_act;

/* Parses "relu", "leaky_relu(negative_slope=0.1)", "elu(alpha=0.5)", "gelu(approximate=1)";
 * NULL means linear. */
keel_status keel_act_parse(const char *s, keel_act *out, const char *what);
const char *keel_act_name(keel_act_kind k);
/* Whether the backward pass needs the activation's input (else its output is enough). */
bool keel_act_needs_input(keel_act_kind k);
/* y[rows, cols] = f(x); softmax and log_softmax act along cols. x and y may alias. */
void keel_act_forward(keel_act a, const float *x, float *y, int64_t rows, int64_t cols);
/* The output of a layer after its GEMM: z[rows, cols] += b (b may be NULL), pre (when not NULL)
 * keeps a copy of that, then z = f(z); one threaded pass over the rows, bias and ReLU in the
 * same loop. */
void keel_bias_act(keel_act a, float *z, const float *b, float *pre, int64_t rows, int64_t cols);
/* dx = dy * f'(x), as a vector-Jacobian product for softmax. x may be NULL unless
 * keel_act_needs_input; dx may alias dy. */
void keel_act_backward(keel_act a, const float *x, const float *y, const float *dy, float *dx,
                       int64_t rows, int64_t cols);

/* ---- small vector helpers */
/* db (+)= sum over rows of dy. */
void keel_sum_rows(const float *dy, float *db, int64_t rows, int64_t cols, bool accumulate);

/* ---- convolution and pooling geometry (NHWC); P* are the padding before each axis */
typedef struct keel_conv_geom {
    int64_t H, W, C, OH, OW, OC, KH, KW, SH, SW, DH, DW, PT, PL;
} keel_conv_geom;
/* Output size and leading padding of one axis ("valid" or TensorFlow's "same");
 * KEEL_ERR_SHAPE when the output would be empty. */
keel_status keel_conv_out(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same,
                          int64_t *out, int64_t *pad_before);
/* col (n*OH*OW, KH*KW*C) from x (n, H, W, C); padding reads as zero */
void keel_im2col(const keel_conv_geom *g, const float *x, float *col, int64_t n);
/* dx (n, H, W, C) += col2im(col) */
void keel_col2im(const keel_conv_geom *g, const float *col, float *dx, int64_t n);
/* The direct forward path: worth it when KH*KW*C <= 32 (im2col would copy a few floats per
 * pixel) and OC is a multiple of 8. */
bool keel_conv_direct_ok(const keel_conv_geom *g);
/* y = x (*) w + b, ReLU applied when relu; one pass, no column buffer */
void keel_conv_direct_forward(const keel_conv_geom *g, const float *x, const float *w,
                              const float *b, float *y, int64_t n, bool relu);
/* True when keel_conv_direct_relu_pool can run: the direct path with no window reaching
 * padding and OC a multiple of 16. */
bool keel_conv_direct_pool_ok(const keel_conv_geom *g);
/* ReLU(x (*) w + b) followed by a 2x2, stride-2 max pool, the convolution's output never
 * stored: pooled (n, OH/2, OW/2, OC) and, per pooled value, the winner's offset in its
 * sample's convolution output (what max pooling records). */
void keel_conv_direct_relu_pool(const keel_conv_geom *g, const float *x, const float *w,
                                const float *b, float *pooled, int32_t *arg, int64_t n);
/* dw (KH, KW, C, OC) and db (OC) from dz in one pass, on at most max_threads threads; with
 * relu_y (the ReLU's output) dz is taken as d(output) and masked where y <= 0 (and may be
 * overwritten with the masked gradient). partial holds (max_threads - 1) * (size(dw) + OC)
 * floats. Needs keel_conv_direct_ok. */
void keel_conv_direct_dw(const keel_conv_geom *g, const float *x, float *dz, const float *relu_y,
                         float *dw, float *db, float *partial, int max_threads, int64_t n);
/* y (n, OH, OW, OC) = direct convolution of x with w (KH, KW, C, OC) + b; the tests' reference */
void keel_conv2d_ref(const keel_conv_geom *g, const float *x, const float *w, const float *b,
                     float *y, int64_t n);

/* ---- threads: fn(ctx, lo, hi) over [0, n) split into one range per thread when `work`
 * (roughly the number of values touched) is large, else on the calling thread. */
typedef void (*keel_range_fn)(void *ctx, int64_t lo, int64_t hi);
void keel_parallel_for(int64_t n, int64_t work, keel_range_fn fn, void *ctx);
/* fn over [0, n), whatever the size of the work, where index k is part k of the caller's own
 * cut (a GEMM block, a thread's partial sum): up to `threads` pool threads take one index at a
 * time; run serially (one thread, nested, pool busy), a single call covers [0, n). */
void keel_parallel_run(int64_t n, int threads, keel_range_fn fn, void *ctx);
/* Regions handed to the pool's threads so far (not those run serially): for the tests. */
int64_t keel_parallel_regions(void);

#endif
