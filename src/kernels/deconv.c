/* deconv.c: Conv2DTranspose's kernels (channels-last, kernel (KH, KW, OC, C) as Keras stores
 * it, dilation 1), forward and backward, and the direct references beside them.
 *
 * A transposed convolution is the backward-data pass of an ordinary one (resample.h says which:
 * `conv`, from the output's shape to the input's), so it is built from conv.c's pieces turned
 * around: a GEMM into columns, then col2im adds each column row into the output window it came
 * from; overlapping windows (kernel larger than stride) add up. The backward pass reads dy
 * through im2col, which gives the same column matrix that a Conv2D forward would, and two GEMMs
 * finish it. No 1x1 special casing beyond the obvious one: a 1x1 kernel with stride 1 is a plain
 * matrix product, and the columns are the data themselves.
 *
 * The output size is Keras's (conv_utils.deconv_output_length) and the cut at the top and left
 * is TensorFlow's "same" padding of `conv` (total max((H - 1) * S + K - OH, 0), the smaller half
 * before), which is how conv2d_transpose places the result; tools/make_compose_fixtures.py
 * covers strides 1 to 3, both paddings, output_padding and even kernels. */
#include "resample.h"

#include <stdio.h>

/* Keras's deconv_output_length for one axis, dilation 1 (op < 0: output_padding None) */
static int64_t deconv_len(int64_t in, int64_t k, int64_t s, bool same, int64_t op) {
    if (op < 0) return same ? in * s : in * s + KEEL_MAX(k - s, 0);
    return (in - 1) * s + k - 2 * (same ? k / 2 : 0) + op;
}

/* Bounds the sides and the kernel so that no size product below can overflow int64. */
#define SIDE_MAX ((int64_t)1 << 24)

keel_status keel_deconv_geom_init(keel_deconv_geom *g, const char *what) {
    if (g->OC <= 0)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: filters must be positive, got %lld", what, (long long)g->OC);
    if (g->KH <= 0 || g->KW <= 0 || g->SH <= 0 || g->SW <= 0)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: kernel_size and strides must be positive, got kernel_size (%lld, %lld), "
                  "strides (%lld, %lld)",
                  what, (long long)g->KH, (long long)g->KW, (long long)g->SH, (long long)g->SW);
    if (g->OPH < -1 || g->OPW < -1 || g->OPH >= g->SH || g->OPW >= g->SW ||
        (g->OPH == -1) != (g->OPW == -1))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: output_padding (%lld, %lld) must be None (-1, -1) or non-negative and "
                  "smaller than the strides (%lld, %lld)",
                  what, (long long)g->OPH, (long long)g->OPW, (long long)g->SH, (long long)g->SW);
    if (g->H <= 0 || g->W <= 0 || g->C <= 0 || g->H > SIDE_MAX || g->W > SIDE_MAX)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: Conv2DTranspose expects input (batch, height, width, channels) with each "
                  "positive, got (None, %lld, %lld, %lld)",
                  what, (long long)g->H, (long long)g->W, (long long)g->C);
    if (g->KH > SIDE_MAX || g->KW > SIDE_MAX || g->SH > SIDE_MAX || g->SW > SIDE_MAX)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: kernel_size (%lld, %lld) or strides (%lld, %lld) too large",
                  what, (long long)g->KH, (long long)g->KW, (long long)g->SH, (long long)g->SW);
    /* -1 on one axis only is neither None nor a value: refused above */
    g->OH = deconv_len(g->H, g->KH, g->SH, g->same, g->OPH);
    g->OW = deconv_len(g->W, g->KW, g->SW, g->same, g->OPW);
    if (g->OH <= 0 || g->OW <= 0)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: input %lldx%lld with kernel %lldx%lld, strides (%lld, %lld), padding "
                  "\"%s\" and output_padding (%lld, %lld) gives an empty output (%lldx%lld)",
                  what, (long long)g->H, (long long)g->W, (long long)g->KH, (long long)g->KW,
                  (long long)g->SH, (long long)g->SW, g->same ? "same" : "valid", (long long)g->OPH,
                  (long long)g->OPW, (long long)g->OH, (long long)g->OW);
    /* the mirrored convolution must map the output's size back to the input's: TF's
     * conv2d_backprop_input checks that too, and fails at run time otherwise */
    int64_t bh = 0, bw = 0, pt = 0, pl = 0;
    keel_status sh = keel_conv_out(g->OH, g->KH, g->SH, 1, g->same, &bh, &pt);
    keel_status sw = keel_conv_out(g->OW, g->KW, g->SW, 1, g->same, &bw, &pl);
    if (sh || sw || bh != g->H || bw != g->W)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: output_padding (%lld, %lld) with padding \"%s\" makes output %lldx%lld, "
                  "which a %lldx%lld stride-(%lld, %lld) convolution maps to %lldx%lld, not the "
                  "input's %lldx%lld (TensorFlow refuses this too; try output_padding None)",
                  what, (long long)g->OPH, (long long)g->OPW, g->same ? "same" : "valid",
                  (long long)g->OH, (long long)g->OW, (long long)g->KH, (long long)g->KW,
                  (long long)g->SH, (long long)g->SW, (long long)bh, (long long)bw, (long long)g->H,
                  (long long)g->W);
    g->PT = pt, g->PL = pl;
    /* conv: input (OH, OW, OC) -> output (H, W, C), HWIO kernel (KH, KW, OC, C) */
    g->conv = (keel_conv_geom){.H = g->OH,
                               .W = g->OW,
                               .C = g->OC,
                               .OH = g->H,
                               .OW = g->W,
                               .OC = g->C,
                               .KH = g->KH,
                               .KW = g->KW,
                               .SH = g->SH,
                               .SW = g->SW,
                               .DH = 1,
                               .DW = 1,
                               .PT = pt,
                               .PL = pl};
    return KEEL_OK;
}

/* a 1x1 kernel with stride 1: no window overlaps, no cut, y = x W^T pixel by pixel */
static bool pointwise(const keel_deconv_geom *g) {
    return g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->OH == g->H && g->OW == g->W;
}

int64_t keel_deconv_scratch(const keel_deconv_geom *g) {
    return pointwise(g) ? 0 : g->H * g->W * g->KH * g->KW * g->OC;
}

/* the output (pixels, OC) and the bias it starts from (NULL: zeros) */
typedef struct bias_job {
    float *y;
    const float *b;
    int64_t OC;
} bias_job;

/* every output pixel starts at the bias (or 0): col2im then adds the windows onto it */
static void bias_rows(void *ctx, int64_t lo, int64_t hi) {
    const bias_job *j = ctx;
    for (int64_t p = lo; p < hi; p++) {
        float *y = j->y + p * j->OC;
        if (j->b)
            memcpy(y, j->b, (size_t)j->OC * sizeof *y);
        else
            memset(y, 0, (size_t)j->OC * sizeof *y);
    }
}

void keel_deconv_forward(const keel_deconv_geom *g, const float *x, const float *w, const float *b,
                         float *y, int64_t n, float *scratch) {
    const int64_t rows = n * g->H * g->W, KK = g->KH * g->KW * g->OC, pixels = n * g->OH * g->OW;
    bias_job bj = {y, b, g->OC};
    keel_parallel_for(pixels, pixels * g->OC, bias_rows, &bj);
    if (pointwise(g)) { /* y (rows, OC) += x (rows, C) @ W^T, W (OC, C) */
        keel_gemm(false, true, rows, g->OC, g->C, 1.0f, x, g->C, w, g->C, 1.0f, y, g->OC);
        return;
    }
    /* col (rows, KH*KW*OC) = x (rows, C) @ W^T: row (b, h, w) holds what input pixel (h, w)
     * adds to each position of its output window, in (kh, kw, oc) order */
    keel_gemm(false, true, rows, KK, g->C, 1.0f, x, g->C, w, g->C, 0.0f, scratch, KK);
    /* y += col2im(col): each window added at output (h*SH - PT + kh, w*SW - PL + kw); the
     * parts outside the output (the "same" cut) are dropped */
    keel_col2im(&g->conv, scratch, y, n);
}

void keel_deconv_backward(const keel_deconv_geom *g, const float *x, const float *w,
                          const float *dy, keel_deconv_grads gr, int64_t n, float *scratch) {
    const int64_t rows = n * g->H * g->W, KK = g->KH * g->KW * g->OC;
    /* db = sum of dy over every output pixel */
    if (gr.db) keel_sum_rows(dy, gr.db, n * g->OH * g->OW, g->OC, gr.accumulate_dw);
    if (!gr.dx && !gr.dw) return;
    /* col (rows, KH*KW*OC) = im2col(dy): for input pixel (h, w), the dy values of its output
     * window, in the order the forward's column row wrote them (zeros where it was cut) */
    const float *col = dy;
    if (!pointwise(g)) {
        keel_im2col(&g->conv, dy, scratch, n);
        col = scratch;
    }
    /* dW (KH*KW*OC, C) (+)= col^T @ x: weight (kh, kw, oc, c) met x[., c] and dy at its
     * window position, summed over every input pixel of the batch */
    if (gr.dw)
        keel_gemm(true, false, KK, g->C, rows, 1.0f, col, KK, x, g->C,
                  gr.accumulate_dw ? 1.0f : 0.0f, gr.dw, g->C);
    /* dX (rows, C) (+)= col @ W: the forward's x @ W^T, transposed */
    if (gr.dx)
        keel_gemm(false, false, rows, g->C, KK, 1.0f, col, KK, w, g->C,
                  gr.accumulate_dx ? 1.0f : 0.0f, gr.dx, g->C);
}

/* ---- references: direct loops in double. Input (ih, iw) feeds output
 * (ih*SH - PT + kh, iw*SW - PL + kw) through weight (kh, kw, ., .); an output position is
 * checked for being inside, nothing else is shared with the fast path. */

void keel_deconv_forward_ref(const keel_deconv_geom *g, const float *x, const float *w,
                             const float *b, float *y, int64_t n) {
    const int64_t C = g->C, OC = g->OC;
    for (int64_t s = 0; s < n; s++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++)
                for (int64_t o = 0; o < OC; o++) {
                    double acc = b ? b[o] : 0.0;
                    for (int64_t ih = 0; ih < g->H; ih++) {
                        const int64_t kh = oh - (ih * g->SH - g->PT);
                        if (kh < 0 || kh >= g->KH) continue;
                        for (int64_t iw = 0; iw < g->W; iw++) {
                            const int64_t kw = ow - (iw * g->SW - g->PL);
                            if (kw < 0 || kw >= g->KW) continue;
                            const float *xp = x + ((s * g->H + ih) * g->W + iw) * C;
                            const float *wp = w + ((kh * g->KW + kw) * OC + o) * C;
                            for (int64_t c = 0; c < C; c++)
                                acc += (double)xp[c] * wp[c];
                        }
                    }
                    y[((s * g->OH + oh) * g->OW + ow) * OC + o] = (float)acc;
                }
}

/* dy at the output position that (ih, iw) reaches through tap (kh, kw), or NULL if cut */
static const float *dy_at(const keel_deconv_geom *g, const float *dy, int64_t s, int64_t ih,
                          int64_t iw, int64_t kh, int64_t kw) {
    const int64_t oh = ih * g->SH - g->PT + kh, ow = iw * g->SW - g->PL + kw;
    if (oh < 0 || oh >= g->OH || ow < 0 || ow >= g->OW) return NULL;
    return dy + ((s * g->OH + oh) * g->OW + ow) * g->OC;
}

void keel_deconv_backward_ref(const keel_deconv_geom *g, const float *x, const float *w,
                              const float *dy, keel_deconv_grads gr, int64_t n) {
    const int64_t C = g->C, OC = g->OC;
    if (gr.db) /* dL/db[o] = sum of dy[., ., ., o] */
        for (int64_t o = 0; o < OC; o++) {
            double acc = gr.accumulate_dw ? gr.db[o] : 0.0;
            for (int64_t p = 0; p < n * g->OH * g->OW; p++)
                acc += dy[p * OC + o];
            gr.db[o] = (float)acc;
        }
    if (gr.dw) /* dL/dw[kh, kw, o, c] = sum over (s, ih, iw) of x[s, ih, iw, c] * dy[s, oh, ow, o]
                */
        for (int64_t kh = 0; kh < g->KH; kh++)
            for (int64_t kw = 0; kw < g->KW; kw++)
                for (int64_t o = 0; o < OC; o++)
                    for (int64_t c = 0; c < C; c++) {
                        float *d = gr.dw + ((kh * g->KW + kw) * OC + o) * C + c;
                        double acc = gr.accumulate_dw ? *d : 0.0;
                        for (int64_t s = 0; s < n; s++)
                            for (int64_t ih = 0; ih < g->H; ih++)
                                for (int64_t iw = 0; iw < g->W; iw++) {
                                    const float *dp = dy_at(g, dy, s, ih, iw, kh, kw);
                                    if (dp)
                                        acc += (double)x[((s * g->H + ih) * g->W + iw) * C + c] *
                                               dp[o];
                                }
                        *d = (float)acc;
                    }
    if (gr.dx) /* dL/dx[s, ih, iw, c] = sum over (kh, kw, o) of dy[s, oh, ow, o] * w[kh, kw, o, c]
                */
        for (int64_t s = 0; s < n; s++)
            for (int64_t ih = 0; ih < g->H; ih++)
                for (int64_t iw = 0; iw < g->W; iw++)
                    for (int64_t c = 0; c < C; c++) {
                        float *d = gr.dx + ((s * g->H + ih) * g->W + iw) * C + c;
                        double acc = gr.accumulate_dx ? *d : 0.0;
                        for (int64_t kh = 0; kh < g->KH; kh++)
                            for (int64_t kw = 0; kw < g->KW; kw++) {
                                const float *dp = dy_at(g, dy, s, ih, iw, kh, kw);
                                if (!dp) continue;
                                for (int64_t o = 0; o < OC; o++)
                                    acc += (double)dp[o] * w[((kh * g->KW + kw) * OC + o) * C + c];
                            }
                        *d = (float)acc;
                    }
}
