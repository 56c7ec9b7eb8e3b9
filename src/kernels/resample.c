/* resample.c: UpSampling2D's kernels, channels-last, nearest and bilinear, forward and backward,
 * each with a naive reference in double beside it.
 *
 * What tf.keras 2.15 computes (keras/src/backend.py, resize_images): UpSampling2D calls
 * tf.image.resize(x, (H*SH, W*SW), method), for every interpolation, and tf.image.resize (v2)
 * runs ResizeNearestNeighbor / ResizeBilinear with half_pixel_centers=True. For nearest and an
 * integer factor that is exactly a repeat (source row floor((o + 0.5) / SH) = o / SH). For
 * bilinear, output row o samples the input at v = (o + 0.5) * (H / OH) - 0.5 with the scale in
 * float32, between rows max(floor v, 0) and min(ceil v, H - 1), with weight v - floor v on the
 * second; so the first and last SH / 2 rows copy the border row. Checked against the real
 * library (tools/make_compose_fixtures.py asserts this formula in NumPy float32 equals Keras's
 * output bit for bit, and tests/test_resample.c compares these kernels with its records).
 *
 * Threads: forward over output rows (or input rows for nearest: one input row makes SH output
 * rows), backward over input rows, each row gathering what lands on it, so no two threads write
 * the same value and the result does not depend on the thread count. */
#include "resample.h"

#include <stdio.h>

static const char *const interp_names[] = {"nearest", "bilinear", NULL};
_Static_assert(sizeof interp_names / sizeof interp_names[0] == KEEL_INTERP_COUNT + 1,
               "a name for each keel_interp");

const char *keel_interp_name(keel_interp k) {
    return (unsigned)k < KEEL_INTERP_COUNT ? interp_names[k] : "?";
}

keel_status keel_interp_parse(const char *s, keel_interp *out, const char *what) {
    if (!s) {
        *out = KEEL_INTERP_NEAREST; /* Keras's default */
        return KEEL_OK;
    }
    for (int k = 0; k < KEEL_INTERP_COUNT; k++)
        if (!strcmp(s, interp_names[k])) {
            *out = (keel_interp)k;
            return KEEL_OK;
        }
    const char *near = keel_nearest_name(s, interp_names);
    KEEL_FAIL(KEEL_ERR_ARG,
              "%s: interpolation must be \"nearest\" or \"bilinear\", got \"%s\"%s%s%s", what, s,
              near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
}

/* Bounds a side so that n * OH * OW * C stays far from int64 overflow for any sane batch. */
#define SIDE_MAX ((int64_t)1 << 24)

keel_status keel_upsample_geom_init(keel_upsample_geom *g, const char *what) {
    if (g->SH <= 0 || g->SW <= 0)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: size must be positive, got (%lld, %lld)", what,
                  (long long)g->SH, (long long)g->SW);
    if (g->H <= 0 || g->W <= 0 || g->C <= 0)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: UpSampling2D expects input (batch, height, width, channels) with each "
                  "positive, got (None, %lld, %lld, %lld)",
                  what, (long long)g->H, (long long)g->W, (long long)g->C);
    if ((unsigned)g->interp >= KEEL_INTERP_COUNT)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: unknown interpolation %d", what, (int)g->interp);
    if (g->H > SIDE_MAX / g->SH || g->W > SIDE_MAX / g->SW || g->C > SIDE_MAX)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: output (None, %lld x %lld, %lld x %lld, %lld) is too large",
                  what, (long long)g->H, (long long)g->SH, (long long)g->W, (long long)g->SW,
                  (long long)g->C);
    g->OH = g->H * g->SH, g->OW = g->W * g->SW;
    return KEEL_OK;
}

/* ---- TensorFlow's bilinear sample position for output index o (float32, as TF computes it):
 * the two source indices and the weight of the second. */
typedef struct lin_pos {
    int64_t lo, hi;
    float t;
} lin_pos;

static inline lin_pos lin_at(int64_t o, float scale, int64_t in) {
    /* the first rows of the output sample above row 0 (v < 0): floor gives -1, both indices
     * clamp to 0 and the weight no longer matters; likewise below the last row. The build's
     * -ffp-contract=fast fuses multiply-adds here and in the lerps, where TF rounds twice: the
     * outputs differ from Keras's by a few ulps (below 5e-7 on the fixtures' values) */
    const float v = ((float)o + 0.5f) * scale - 0.5f, f = floorf(v);
    lin_pos p = {KEEL_MAX((int64_t)f, 0), KEEL_MIN((int64_t)ceilf(v), in - 1), v - f};
    return p;
}

/* TF's CalculateResizeScale without align_corners: in / out, divided in float */
static inline float lin_scale(int64_t in, int64_t out) {
    return (float)in / (float)out;
}

/* one call's arguments for the row functions: src is x (forward) or dy (backward), dst the
 * other side; accumulate: the backward adds into dx instead of overwriting it */
typedef struct up_job {
    const keel_upsample_geom *g;
    const float *src;
    float *dst;
    bool accumulate;
} up_job;

/* nearest forward over input rows r = (b, h): row h repeated SW times across, then SH times
 * down (the later rows are copies of the first) */
static void nearest_fwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const up_job *j = ctx;
    const keel_upsample_geom *g = j->g;
    const int64_t C = g->C, rowlen = g->OW * C;
    for (int64_t r = lo; r < hi; r++) {
        const float *xr = j->src + r * g->W * C;
        float *yr = j->dst + r * g->SH * rowlen; /* (b*OH + h*SH) * OW * C */
        for (int64_t w = 0; w < g->W; w++)
            for (int64_t s = 0; s < g->SW; s++) {
                float *d = yr + (w * g->SW + s) * C;
                for (int64_t c = 0; c < C; c++)
                    d[c] = xr[w * C + c];
            }
        for (int64_t s = 1; s < g->SH; s++)
            memcpy(yr + s * rowlen, yr, (size_t)rowlen * sizeof *yr);
    }
}

/* nearest backward over input rows: dx[h, w] (+)= the sum of dy's SH x SW block, read row by
 * row of dy (contiguous) and added channel vector by channel vector */
static void nearest_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const up_job *j = ctx;
    const keel_upsample_geom *g = j->g;
    const int64_t C = g->C, rowlen = g->OW * C;
    for (int64_t r = lo; r < hi; r++) {
        float *dxr = j->dst + r * g->W * C;
        if (!j->accumulate) memset(dxr, 0, (size_t)(g->W * C) * sizeof *dxr);
        for (int64_t s = 0; s < g->SH; s++) {
            const float *dyr = j->src + (r * g->SH + s) * rowlen;
            for (int64_t w = 0; w < g->W; w++)
                for (int64_t t = 0; t < g->SW; t++) {
                    const float *d = dyr + (w * g->SW + t) * C;
#pragma omp simd
                    for (int64_t c = 0; c < C; c++)
                        dxr[w * C + c] += d[c];
                }
        }
    }
}

/* The column positions of output columns [ow0, ow0 + m), m <= TAB: the same for every row,
 * so each thread works out a block of them once and runs all its rows through it (per pixel
 * they cost as much as the lerps themselves when C is small). */
#define TAB 64
static int64_t col_table(const keel_upsample_geom *g, int64_t ow0, lin_pos *px) {
    const int64_t m = KEEL_MIN((int64_t)TAB, g->OW - ow0);
    const float sx = lin_scale(g->W, g->OW);
    for (int64_t k = 0; k < m; k++)
        px[k] = lin_at(ow0 + k, sx, g->W);
    return m;
}

/* bilinear forward over output rows r = (b, oh): lerp along the width in the two source
 * rows, then along the height, in TF's order of operations */
static void bilinear_fwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const up_job *j = ctx;
    const keel_upsample_geom *g = j->g;
    const int64_t C = g->C;
    const float sy = lin_scale(g->H, g->OH);
    lin_pos px[TAB];
    for (int64_t ow0 = 0; ow0 < g->OW; ow0 += TAB) {
        const int64_t m = col_table(g, ow0, px);
        for (int64_t r = lo; r < hi; r++) {
            const int64_t b = r / g->OH, oh = r % g->OH;
            const lin_pos py = lin_at(oh, sy, g->H);
            const float *top = j->src + (b * g->H + py.lo) * g->W * C;
            const float *bot = j->src + (b * g->H + py.hi) * g->W * C;
            float *yr = j->dst + (r * g->OW + ow0) * C;
            for (int64_t k = 0; k < m; k++) {
                const float *tl = top + px[k].lo * C, *tr = top + px[k].hi * C;
                const float *bl = bot + px[k].lo * C, *br = bot + px[k].hi * C;
                const float tx = px[k].t;
                float *y = yr + k * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    const float t = tl[c] + (tr[c] - tl[c]) * tx;
                    const float u = bl[c] + (br[c] - bl[c]) * tx;
                    y[c] = t + (u - t) * py.t;
                }
            }
        }
    }
}

/* dst[c] += src[c] * w: a separate function so that the compiler knows the two rows apart */
static inline void axpy(float *restrict dst, const float *restrict src, float w, int64_t C) {
#pragma omp simd
    for (int64_t c = 0; c < C; c++)
        dst[c] += src[c] * w;
}

/* bilinear backward over input rows r = (b, h): the output rows that read row h lie within
 * [(h - 1) * SH, (h + 2) * SH) (v = (o + 0.5) / SH - 0.5 must fall in [h - 1, h + 1)); each
 * brings its height weight for h, then spreads along the width as the forward gathered */
static void bilinear_bwd_rows(void *ctx, int64_t lo, int64_t hi) {
    const up_job *j = ctx;
    const keel_upsample_geom *g = j->g;
    const int64_t C = g->C;
    const float sy = lin_scale(g->H, g->OH);
    if (!j->accumulate)
        memset(j->dst + lo * g->W * C, 0, (size_t)((hi - lo) * g->W * C) * sizeof(float));
    lin_pos px[TAB];
    for (int64_t ow0 = 0; ow0 < g->OW; ow0 += TAB) {
        const int64_t m = col_table(g, ow0, px);
        for (int64_t r = lo; r < hi; r++) {
            const int64_t b = r / g->H, h = r % g->H;
            float *dxr = j->dst + r * g->W * C;
            const int64_t o0 = KEEL_MAX((h - 1) * g->SH, 0), o1 = KEEL_MIN((h + 2) * g->SH, g->OH);
            for (int64_t oh = o0; oh < o1; oh++) {
                const lin_pos py = lin_at(oh, sy, g->H);
                if (py.lo != h && py.hi != h) continue;
                /* both ends on h (a border row): the two weights add up to 1 */
                const float wy = (py.lo == h ? 1.0f - py.t : 0.0f) + (py.hi == h ? py.t : 0.0f);
                const float *dyr = j->src + ((b * g->OH + oh) * g->OW + ow0) * C;
                for (int64_t k = 0; k < m; k++) {
                    const float *d = dyr + k * C;
                    /* TF's order: dy * (height weight) * (width weight) */
                    if (px[k].lo == px[k].hi) {
                        axpy(dxr + px[k].lo * C, d, wy, C);
                    } else {
                        axpy(dxr + px[k].lo * C, d, wy * (1.0f - px[k].t), C);
                        axpy(dxr + px[k].hi * C, d, wy * px[k].t, C);
                    }
                }
            }
        }
    }
}

/* `work` estimates the values touched, for keel_parallel_for's decision to split: a bilinear
 * output value costs about four nearest ones (four reads, three lerps) */
void keel_upsample_forward(const keel_upsample_geom *g, const float *x, float *y, int64_t n) {
    up_job j = {g, x, y, false};
    const int64_t work = n * g->OH * g->OW * g->C;
    if (g->interp == KEEL_INTERP_NEAREST)
        keel_parallel_for(n * g->H, work, nearest_fwd_rows, &j);
    else
        keel_parallel_for(n * g->OH, 4 * work, bilinear_fwd_rows, &j);
}

void keel_upsample_backward(const keel_upsample_geom *g, const float *dy, float *dx, int64_t n,
                            bool accumulate) {
    up_job j = {g, dy, dx, accumulate};
    const int64_t work = n * g->OH * g->OW * g->C;
    if (g->interp == KEEL_INTERP_NEAREST)
        keel_parallel_for(n * g->H, work, nearest_bwd_rows, &j);
    else
        keel_parallel_for(n * g->H, 4 * work, bilinear_bwd_rows, &j);
}

/* ---- references: one output value at a time from TF's definitions, in double */

/* ResizeNearestNeighbor, half-pixel centers: source index min(floor((o + 0.5) * in / out),
 * in - 1) */
static int64_t nearest_src(int64_t o, int64_t in, int64_t out) {
    return KEEL_MIN((int64_t)floor(((double)o + 0.5) * (double)in / (double)out), in - 1);
}

/* ResizeBilinear, half-pixel centers, in double */
static void lin_ref(int64_t o, int64_t in, int64_t out, int64_t *lo, int64_t *hi, double *t) {
    double v = ((double)o + 0.5) * (double)in / (double)out - 0.5, f = floor(v);
    *lo = KEEL_MAX((int64_t)f, 0), *hi = KEEL_MIN((int64_t)ceil(v), in - 1), *t = v - f;
}

/* The four source pixels of output (oh, ow) and their weights, nearest or bilinear alike
 * (nearest: one pixel with weight 1, three with weight 0). */
static void taps_ref(const keel_upsample_geom *g, int64_t oh, int64_t ow, int64_t src[4],
                     double wt[4]) {
    if (g->interp == KEEL_INTERP_NEAREST) {
        src[0] = src[1] = src[2] = src[3] =
            nearest_src(oh, g->H, g->OH) * g->W + nearest_src(ow, g->W, g->OW);
        wt[0] = 1, wt[1] = wt[2] = wt[3] = 0;
        return;
    }
    int64_t t, b, l, r;
    double ty, tx;
    lin_ref(oh, g->H, g->OH, &t, &b, &ty);
    lin_ref(ow, g->W, g->OW, &l, &r, &tx);
    src[0] = t * g->W + l, src[1] = t * g->W + r, src[2] = b * g->W + l, src[3] = b * g->W + r;
    wt[0] = (1 - ty) * (1 - tx), wt[1] = (1 - ty) * tx, wt[2] = ty * (1 - tx), wt[3] = ty * tx;
}

/* y as the weighted sum of its four taps, in double, one value at a time */
void keel_upsample_forward_ref(const keel_upsample_geom *g, const float *x, float *y, int64_t n) {
    const int64_t C = g->C;
    for (int64_t b = 0; b < n; b++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t src[4];
                double wt[4];
                taps_ref(g, oh, ow, src, wt);
                for (int64_t c = 0; c < C; c++) {
                    double acc = 0;
                    for (int k = 0; k < 4; k++)
                        acc += wt[k] * x[(b * g->H * g->W + src[k]) * C + c];
                    y[((b * g->OH + oh) * g->OW + ow) * C + c] = (float)acc;
                }
            }
}

/* the transpose, scattered: each dy value goes back to its four taps with their weights (the
 * four taps of nearest all name the one source pixel, three of them with weight 0) */
void keel_upsample_backward_ref(const keel_upsample_geom *g, const float *dy, float *dx, int64_t n,
                                bool accumulate) {
    const int64_t C = g->C;
    if (!accumulate) memset(dx, 0, (size_t)(n * g->H * g->W * C) * sizeof *dx);
    for (int64_t b = 0; b < n; b++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t src[4];
                double wt[4];
                taps_ref(g, oh, ow, src, wt);
                for (int64_t c = 0; c < C; c++) {
                    const double d = dy[((b * g->OH + oh) * g->OW + ow) * C + c];
                    for (int k = 0; k < 4; k++)
                        dx[(b * g->H * g->W + src[k]) * C + c] += (float)(wt[k] * d);
                }
            }
}
