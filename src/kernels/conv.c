/* conv.c: 2-D convolution helpers, channels-last (NHWC), kernels HWIO.
 *
 * Convolution is im2col + one GEMM over the whole batch: each output pixel (n, oh, ow) gets a
 * row of KH*KW*C input values in (kh, kw, c) order, which is exactly the row order of an HWIO
 * kernel seen as a (KH*KW*C, OC) matrix, so Y (N*OH*OW, OC) = col @ W needs no transposition
 * and lands in NHWC. The backward pass is the mirror: dW = col^T dY, dcol = dY W^T, then col2im
 * adds dcol back into dX. A naive direct convolution stays beside it for the tests. */
#include "kernels.h"

typedef struct conv_job {
    const keel_conv_geom *g;
    const float *src;
    float *dst;
} conv_job;

static void im2col_rows(void *ctx, int64_t lo, int64_t hi) {
    const conv_job *j = ctx;
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
                    memcpy(d, j->src + ((b * g->H + ih) * g->W + iw) * g->C, (size_t)g->C * sizeof *d);
                }
            }
        }
    }
}

void keel_im2col(const keel_conv_geom *g, const float *x, float *col, int64_t n) {
    conv_job j = {g, x, col};
    int64_t rows = n * g->OH * g->OW;
    keel_parallel_for(rows, rows * g->KH * g->KW * g->C, im2col_rows, &j);
}

/* samples are independent: a range of samples per thread, no write conflicts */
static void col2im_samples(void *ctx, int64_t lo, int64_t hi) {
    const conv_job *j = ctx;
    const keel_conv_geom *g = j->g;
    const int64_t K = g->KH * g->KW * g->C;
    for (int64_t b = lo; b < hi; b++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                const float *src = j->src + ((b * g->OH + oh) * g->OW + ow) * K;
                for (int64_t kh = 0; kh < g->KH; kh++) {
                    int64_t ih = oh * g->SH - g->PT + kh * g->DH;
                    if (ih < 0 || ih >= g->H) continue;
                    for (int64_t kw = 0; kw < g->KW; kw++) {
                        int64_t iw = ow * g->SW - g->PL + kw * g->DW;
                        if (iw < 0 || iw >= g->W) continue;
                        float *d = j->dst + ((b * g->H + ih) * g->W + iw) * g->C;
                        const float *s = src + (kh * g->KW + kw) * g->C;
#pragma omp simd
                        for (int64_t c = 0; c < g->C; c++) d[c] += s[c];
                    }
                }
            }
}

void keel_col2im(const keel_conv_geom *g, const float *col, float *dx, int64_t n) {
    conv_job j = {g, col, dx};
    keel_parallel_for(n, n * g->OH * g->OW * g->KH * g->KW * g->C, col2im_samples, &j);
}

void keel_conv2d_ref(const keel_conv_geom *g, const float *x, const float *w, const float *b, float *y,
                     int64_t n) {
    for (int64_t s = 0; s < n; s++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++)
                for (int64_t o = 0; o < g->OC; o++) {
                    double acc = b ? b[o] : 0.0;
                    for (int64_t kh = 0; kh < g->KH; kh++)
                        for (int64_t kw = 0; kw < g->KW; kw++) {
                            int64_t ih = oh * g->SH - g->PT + kh * g->DH, iw = ow * g->SW - g->PL + kw * g->DW;
                            if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                            for (int64_t c = 0; c < g->C; c++)
                                acc += (double)x[((s * g->H + ih) * g->W + iw) * g->C + c] *
                                       w[((kh * g->KW + kw) * g->C + c) * g->OC + o];
                        }
                    y[((s * g->OH + oh) * g->OW + ow) * g->OC + o] = (float)acc;
                }
}

keel_status keel_conv_out(int64_t in, int64_t k, int64_t stride, int64_t dilation, bool same, int64_t *out,
                          int64_t *pad_before) {
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
