/* conv.c: 2-D convolution helpers, channels-last (NHWC), kernels HWIO.
 *
 * Convolution is im2col + one GEMM over the whole batch: each output pixel (n, oh, ow) gets a
 * row of KH*KW*C input values in (kh, kw, c) order, which is exactly the row order of an HWIO
 * kernel seen as a (KH*KW*C, OC) matrix, so Y (N*OH*OW, OC) = col @ W needs no transposition
 * and lands in NHWC. The backward pass is the mirror: dW = col^T dY, dcol = dY W^T, then col2im
 * adds dcol back into dX. A naive direct convolution stays beside it for the tests.
 *
 * For few input values per output pixel (KH*KW*C <= 32) a direct pass replaces im2col + GEMM;
 * its loops, and col2im's, are in simd_conv.c, one copy per instruction-set level (simd.h);
 * this file cuts the work across threads and calls the copy this process runs. */
#include "simd.h"

static void im2col_rows(void *ctx, int64_t lo, int64_t hi) {
    const keel_conv_job *j = ctx;
    const keel_conv_geom *g = j->g;
    const int64_t K = g->KH * g->KW * g->C;
    for (int64_t r = lo; r < hi; r++) {
        int64_t ow = r % g->OW, oh = (r / g->OW) % g->OH, b = r / (g->OW * g->OH);
        float *dst = j->dst + r * K;
        for (int64_t kh = 0; kh < g->KH; kh++) {
            int64_t ih = oh * g->SH - g->PT + kh * g->DH;
            for (int64_t kw = 0; kw < g->KW; kw++) {
                int64_t iw = ow * g->SW - g->PL + kw * g->DW;
                float *d = dst + (kh * g->KW + kw) * g->C;
                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) {
                    memset(d, 0, (size_t)g->C * sizeof *d);
                } else {
                    memcpy(d, j->src + ((b * g->H + ih) * g->W + iw) * g->C,
                           (size_t)g->C * sizeof *d);
                }
            }
        }
    }
}

void keel_im2col(const keel_conv_geom *g, const float *x, float *col, int64_t n) {
    keel_conv_job j = {g, x, col};
    int64_t rows = n * g->OH * g->OW;
    keel_parallel_for(rows, rows * g->KH * g->KW * g->C, im2col_rows, &j);
}

void keel_col2im(const keel_conv_geom *g, const float *col, float *dx, int64_t n) {
    keel_conv_job j = {g, col, dx};
    keel_parallel_for(n, n * g->OH * g->OW * g->KH * g->KW * g->C, keel_simd_get()->col2im, &j);
}

void keel_conv2d_ref(const keel_conv_geom *g, const float *x, const float *w, const float *b,
                     float *y, int64_t n) {
    for (int64_t s = 0; s < n; s++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++)
                for (int64_t o = 0; o < g->OC; o++) {
                    double acc = b ? b[o] : 0.0;
                    for (int64_t kh = 0; kh < g->KH; kh++)
                        for (int64_t kw = 0; kw < g->KW; kw++) {
                            int64_t ih = oh * g->SH - g->PT + kh * g->DH,
                                    iw = ow * g->SW - g->PL + kw * g->DW;
                            if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                            for (int64_t c = 0; c < g->C; c++)
                                acc += (double)x[((s * g->H + ih) * g->W + iw) * g->C + c] *
                                       w[((kh * g->KW + kw) * g->C + c) * g->OC + o];
                        }
                    y[((s * g->OH + oh) * g->OW + ow) * g->OC + o] = (float)acc;
                }
}

bool keel_conv_direct_pool_ok(const keel_conv_geom *g) {
    int64_t off[32];
    return keel_conv_direct_ok(g) && g->OC % 16 == 0 && g->OH >= 2 && g->OW >= 2 &&
           keel_tap_offsets(g, off);
}

void keel_conv_direct_relu_pool(const keel_conv_geom *g, const float *x, const float *w,
                                const float *b, float *pooled, int32_t *arg, int64_t n) {
    keel_direct_job j = {
        .g = g, .x = x, .w = w, .b = b, .pooled = pooled, .arg = arg, .relu = true};
    keel_parallel_for(n, n * g->OH * g->OW * g->KH * g->KW * g->C * g->OC / 8,
                      keel_simd_get()->conv_relu_pool, &j);
}

bool keel_conv_direct_ok(const keel_conv_geom *g) {
    return g->KH * g->KW * g->C <= 32 && g->OC % 8 == 0 && g->OC <= 256;
}

void keel_conv_direct_forward(const keel_conv_geom *g, const float *x, const float *w,
                              const float *b, float *y, int64_t n, bool relu) {
    keel_direct_job j = {.g = g, .x = x, .w = w, .b = b, .y = y, .relu = relu};
    keel_parallel_for(n, n * g->OH * g->OW * g->KH * g->KW * g->C * g->OC / 8,
                      keel_simd_get()->conv_direct, &j);
}

typedef struct dw_job {
    const keel_conv_geom *g;
    const float *x, *relu_y;
    float *dz, *dw, *db, *partial;
    int64_t n;
    int T;
} dw_job;

/* thread t sums samples [n*t/T, n*(t+1)/T) into dw (t = 0) or its own partial buffer */
static void dw_thread(void *ctx, int64_t lo, int64_t hi) {
    const dw_job *j = ctx;
    const int64_t KO = j->g->KH * j->g->KW * j->g->C * j->g->OC;
    for (int64_t t = lo; t < hi; t++) {
        float *pw = t == 0 ? j->dw : j->partial + (t - 1) * (KO + j->g->OC);
        float *pb = t == 0 ? j->db : pw + KO;
        keel_simd_get()->conv_dw(j->g, j->x, j->dz, j->relu_y, pw, pb, j->n * t / j->T,
                                 j->n * (t + 1) / j->T);
    }
}

void keel_conv_direct_dw(const keel_conv_geom *g, const float *x, float *dz, const float *relu_y,
                         float *dw, float *db, float *partial, int max_threads, int64_t n) {
    const int64_t OC = g->OC, KO = g->KH * g->KW * g->C * OC;
    int T = KEEL_MIN(keel_threads(), max_threads);
    if (T <= 1 || n < 2 || n * g->OH * g->OW * KO / 8 < 65536) {
        keel_simd_get()->conv_dw(g, x, dz, relu_y, dw, db, 0, n);
        return;
    }
    dw_job j = {g, x, relu_y, dz, dw, db, partial, n, T};
    keel_parallel_run(T, T, dw_thread, &j);
    for (int t = 1; t < T; t++) {
        const float *pw = partial + (int64_t)(t - 1) * (KO + OC);
        for (int64_t i = 0; i < KO; i++)
            dw[i] += pw[i];
        for (int64_t i = 0; i < OC; i++)
            db[i] += pw[KO + i];
    }
}

keel_status keel_conv_out(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same,
                          int64_t *out, int64_t *pad_before) {
    int64_t eff = (k - 1) * dilation + 1;
    if (same) {
        *out = (in + stride - 1) / stride;
        int64_t total = (*out - 1) * stride + eff - in;
        if (total < 0) total = 0;
        *pad_before = total / 2; /* TensorFlow: the odd pixel goes after */
    } else {
        *out = in >= eff ? (in - eff) / stride + 1 : 0;
        *pad_before = 0;
    }
    return *out > 0 ? KEEL_OK : KEEL_ERR_SHAPE;
}
