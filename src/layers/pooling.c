/* pooling.c: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D and
 * ZeroPadding2D, channels-last. Windows are walked with the channel axis innermost, so every
 * inner loop runs over contiguous channels and vectorizes. Max pooling records the winning
 * input index per output for the backward pass. */
#include "../save/config.h"
#include "layers.h"

/* 8 lanes of float / int32: one AVX register each where there is AVX */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#include <stdio.h>

typedef struct pool_cfg {
    int64_t pool[2], strides[2];
    bool same, max;
    bool global;
    int64_t pads[4]; /* zero padding: top, bottom, left, right */
} pool_cfg;

static const char *shape_hint(const keel_node *in) {
    return in->rank == 2 ? " (the input has no channel axis: reshape to (H, W, 1))" : "";
}

static keel_status pool_infer(keel_node *nd) {
    pool_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank != 3)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: expects input (batch, height, width, channels), got %s%s",
                  nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a),
                  shape_hint(in));
    keel_conv_geom *g = &nd->geom;
    g->H = in->dims[0], g->W = in->dims[1], g->C = g->OC = in->dims[2];
    if (c->global) {
        nd->rank = 1;
        nd->dims[0] = g->C;
        return KEEL_OK;
    }
    g->KH = c->pool[0], g->KW = c->pool[1], g->SH = c->strides[0], g->SW = c->strides[1],
    g->DH = g->DW = 1;
    if (keel_conv_out(g->H, g->KH, g->SH, 1, c->same, &g->OH, &g->PT) ||
        keel_conv_out(g->W, g->KW, g->SW, 1, c->same, &g->OW, &g->PL))
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: pool_size %lldx%lld is larger than the input %s (padding \"valid\")",
                  nd->layer->name, (long long)g->KH, (long long)g->KW,
                  keel_dims_str(in->rank, in->dims, true, a, sizeof a));
    nd->rank = 3;
    nd->dims[0] = g->OH, nd->dims[1] = g->OW, nd->dims[2] = g->C;
    return KEEL_OK;
}

static int64_t pool_scratch(const keel_node *nd) {
    const pool_cfg *c = nd->layer->cfg;
    return c->max ? nd->size : 0; /* argmax per output (int32) */
}

KEEL_CLONES static void pool_forward_samples(void *ctx, int64_t lo, int64_t hi) {
    keel_node *nd = ctx;
    const pool_cfg *c = nd->layer->cfg;
    const keel_conv_geom *g = &nd->geom;
    const float *x = nd->in[0]->val;
    float *y = nd->val;
    int32_t *arg = (int32_t *)nd->scratch;
    const int64_t C = g->C;
    for (int64_t b = lo; b < hi; b++) {
        const float *xb = x + b * g->H * g->W * C;
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float *yo = y + ((b * g->OH + oh) * g->OW + ow) * C;
                int32_t *ao = c->max ? arg + ((b * g->OH + oh) * g->OW + ow) * C : NULL;
                int64_t h0 = oh * g->SH - g->PT, w0 = ow * g->SW - g->PL;
                int64_t h1 = KEEL_MIN(h0 + g->KH, g->H), w1 = KEEL_MIN(w0 + g->KW, g->W);
                h0 = KEEL_MAX(h0, 0), w0 = KEEL_MAX(w0, 0);
                /* padded cells are skipped: they never win a max and do not count in an average */
                if (c->max && C % 8 == 0) {
                    /* 8 channels per vector: running max and its input index, kept in
                     * registers across the window */
                    for (int64_t ch = 0; ch < C; ch += 8) {
                        v8f m = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                                 -INFINITY, -INFINITY, -INFINITY, -INFINITY};
                        v8i lane = {0, 1, 2, 3, 4, 5, 6, 7},
                            idx = lane + (int32_t)((h0 * g->W + w0) * C + ch);
                        for (int64_t ih = h0; ih < h1; ih++)
                            for (int64_t iw = w0; iw < w1; iw++) {
                                int32_t base = (int32_t)((ih * g->W + iw) * C + ch);
                                v8f v;
                                memcpy(&v, xb + base, sizeof v);
                                v8i gt = v > m;
                                m = (v8f)(((v8i)v & gt) | ((v8i)m & ~gt));
                                idx = ((lane + base) & gt) | (idx & ~gt);
                            }
                        memcpy(yo + ch, &m, sizeof m);
                        memcpy(ao + ch, &idx, sizeof idx);
                    }
                } else if (c->max) {
                    for (int64_t ch = 0; ch < C; ch++)
                        yo[ch] = -INFINITY, ao[ch] = (int32_t)((h0 * g->W + w0) * C + ch);
                    for (int64_t ih = h0; ih < h1; ih++)
                        for (int64_t iw = w0; iw < w1; iw++) {
                            const float *xi = xb + (ih * g->W + iw) * C;
                            int32_t base = (int32_t)((ih * g->W + iw) * C);
                            /* selects, not branches, so the channel loop vectorizes */
#pragma omp simd
                            for (int64_t ch = 0; ch < C; ch++) {
                                bool gt = xi[ch] > yo[ch];
                                yo[ch] = gt ? xi[ch] : yo[ch];
                                ao[ch] = gt ? base + (int32_t)ch : ao[ch];
                            }
                        }
                } else {
                    for (int64_t ch = 0; ch < C; ch++)
                        yo[ch] = 0;
                    for (int64_t ih = h0; ih < h1; ih++)
                        for (int64_t iw = w0; iw < w1; iw++) {
                            const float *xi = xb + (ih * g->W + iw) * C;
#pragma omp simd
                            for (int64_t ch = 0; ch < C; ch++)
                                yo[ch] += xi[ch];
                        }
                    float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
                    for (int64_t ch = 0; ch < C; ch++)
                        yo[ch] *= inv;
                }
            }
    }
}

static void pool_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    if (nd->fused_by_prev) return; /* the convolution before wrote val and the winners */
    keel_parallel_for(n, n * nd->in[0]->size, pool_forward_samples, nd);
}

/* Max pooling with windows that tile the input (stride = pool, no padding, 8k channels, one
 * consumer): every input cell is in at most one window, so each is written once, the window's
 * gradient where it won and 0 elsewhere, with no zeroing pass and no scatter. Cells past the
 * last window (an odd edge) get 0. */
KEEL_CLONES static void max_tiles_backward(const keel_conv_geom *g, const float *dy,
                                           const int32_t *arg, const float *relu_y, float *dx) {
    const int64_t C = g->C, row = g->W * C;
    const v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int64_t oh = 0; oh < g->OH; oh++) {
        for (int64_t ow = 0; ow < g->OW; ow++) {
            const int64_t o = (oh * g->OW + ow) * C;
            for (int64_t kh = 0; kh < g->KH; kh++)
                for (int64_t kw = 0; kw < g->KW; kw++) {
                    const int64_t at = ((oh * g->KH + kh) * g->W + ow * g->KW + kw) * C;
                    for (int64_t ch = 0; ch < C; ch += 8) {
                        v8i a, d;
                        memcpy(&a, arg + o + ch, sizeof a);
                        memcpy(&d, dy + o + ch, sizeof d);
                        d &= a == lane + (int32_t)(at + ch);
                        if (relu_y) { /* the ReLU before, fused: it passed where the max is > 0 */
                            v8f y;
                            memcpy(&y, relu_y + o + ch, sizeof y);
                            d &= y > 0;
                        }
                        memcpy(dx + at + ch, &d, sizeof d);
                    }
                }
        }
        if (g->OW * g->KW < g->W) /* the columns no window reaches, on these rows */
            for (int64_t kh = 0; kh < g->KH; kh++)
                memset(dx + (oh * g->KH + kh) * row + g->OW * g->KW * C, 0,
                       (size_t)((g->W - g->OW * g->KW) * C) * sizeof(float));
    }
    if (g->OH * g->KH < g->H)
        memset(dx + g->OH * g->KH * row, 0, (size_t)((g->H - g->OH * g->KH) * row) * sizeof(float));
}

KEEL_CLONES static void pool_backward_samples(void *ctx, int64_t lo, int64_t hi) {
    keel_node *nd = ctx;
    keel_node *in = nd->in[0];
    const pool_cfg *c = nd->layer->cfg;
    const keel_conv_geom *g = &nd->geom;
    const float *dy = nd->grad;
    const int32_t *arg = (const int32_t *)nd->scratch;
    const int64_t C = g->C, in_size = g->H * g->W * C, row = g->W * C;
    /* Rows of windows that neither overlap nor start in padding own their input rows: each
     * band is zeroed just before it is scattered into (cache-hot), instead of a separate pass
     * over the whole gradient. */
    const bool bands = !nd->acc_in[0] && g->SH == g->KH && g->PT == 0;
    if (bands && c->max && g->SW == g->KW && g->PL == 0 && C % 8 == 0) {
        for (int64_t b = lo; b < hi; b++) {
            const int64_t o = b * g->OH * g->OW * C;
            max_tiles_backward(g, dy + o, arg + o, nd->fused_by_prev ? nd->val + o : NULL,
                               in->grad + b * in_size);
        }
        return;
    }
    for (int64_t b = lo; b < hi; b++) {
        float *dx = in->grad + b * in_size;
        if (bands && g->OH * g->KH < g->H) /* rows no window covers */
            memset(dx + g->OH * g->KH * row, 0,
                   (size_t)((g->H - g->OH * g->KH) * row) * sizeof(float));
        for (int64_t oh = 0; oh < g->OH; oh++) {
            if (bands) /* the last band may be cut short by the bottom edge ("same" padding) */
                memset(dx + oh * g->KH * row, 0,
                       (size_t)(KEEL_MIN(g->KH, g->H - oh * g->KH) * row) * sizeof(float));
            for (int64_t ow = 0; ow < g->OW; ow++) {
                int64_t o = ((b * g->OH + oh) * g->OW + ow) * C;
                if (c->max) {
                    for (int64_t ch = 0; ch < C; ch++)
                        dx[arg[o + ch]] += dy[o + ch];
                    continue;
                }
                int64_t h0 = oh * g->SH - g->PT, w0 = ow * g->SW - g->PL;
                int64_t h1 = KEEL_MIN(h0 + g->KH, g->H), w1 = KEEL_MIN(w0 + g->KW, g->W);
                h0 = KEEL_MAX(h0, 0), w0 = KEEL_MAX(w0, 0);
                float inv = 1.0f / (float)((h1 - h0) * (w1 - w0));
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) {
                        float *d = dx + (ih * g->W + iw) * C;
#pragma omp simd
                        for (int64_t ch = 0; ch < C; ch++)
                            d[ch] += dy[o + ch] * inv;
                    }
            }
        }
    }
}

static void pool_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    const keel_conv_geom *g = &nd->geom;
    bool bands = !nd->acc_in[0] && g->SH == g->KH && g->PT == 0; /* see pool_backward_samples */
    if (!nd->acc_in[0] && !bands) memset(in->grad, 0, (size_t)(n * in->size) * sizeof(float));
    keel_parallel_for(n, n * in->size, pool_backward_samples, nd);
}

static const keel_op pool_op;

bool keel_pool_is_max2x2(const keel_node *nd) {
    if (nd->op != &pool_op) return false;
    const pool_cfg *c = nd->layer->cfg;
    const keel_conv_geom *g = &nd->geom;
    return c->max && g->KH == 2 && g->KW == 2 && g->SH == 2 && g->SW == 2 && g->PT == 0 &&
           g->PL == 0 && g->OH == g->H / 2 && g->OW == g->W / 2 && g->C % 8 == 0;
}

static const keel_op pool_op = {.name = "pool2d",
                                .infer = pool_infer,
                                .scratch = pool_scratch,
                                .forward = pool_forward,
                                .backward = pool_backward};

/* global pooling: (H, W, C) -> (C) */
static void gpool_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const pool_cfg *c = nd->layer->cfg;
    const int64_t HW = nd->geom.H * nd->geom.W, C = nd->geom.C;
    int32_t *arg = (int32_t *)nd->scratch;
    for (int64_t b = 0; b < n; b++) {
        const float *x = nd->in[0]->val + b * HW * C;
        float *y = nd->val + b * C;
        for (int64_t ch = 0; ch < C; ch++)
            y[ch] = c->max ? x[ch] : 0, c->max ? (void)(arg[b * C + ch] = (int32_t)ch) : (void)0;
        for (int64_t p = c->max ? 1 : 0; p < HW; p++)
            for (int64_t ch = 0; ch < C; ch++) {
                float v = x[p * C + ch];
                if (!c->max)
                    y[ch] += v;
                else if (v > y[ch])
                    y[ch] = v, arg[b * C + ch] = (int32_t)(p * C + ch);
            }
        if (!c->max)
            for (int64_t ch = 0; ch < C; ch++)
                y[ch] /= (float)HW;
    }
}

static void gpool_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    const pool_cfg *c = nd->layer->cfg;
    const int64_t HW = nd->geom.H * nd->geom.W, C = nd->geom.C;
    const int32_t *arg = (const int32_t *)nd->scratch;
    if (!nd->acc_in[0]) memset(in->grad, 0, (size_t)(n * HW * C) * sizeof(float));
    for (int64_t b = 0; b < n; b++) {
        float *dx = in->grad + b * HW * C;
        const float *dy = nd->grad + b * C;
        if (c->max)
            for (int64_t ch = 0; ch < C; ch++)
                dx[arg[b * C + ch]] += dy[ch];
        else
            for (int64_t p = 0; p < HW; p++)
                for (int64_t ch = 0; ch < C; ch++)
                    dx[p * C + ch] += dy[ch] / (float)HW;
    }
}

static int64_t gpool_scratch(const keel_node *nd) {
    return ((const pool_cfg *)nd->layer->cfg)->max ? nd->size : 0;
}

static const keel_op gpool_op = {.name = "global_pool2d",
                                 .infer = pool_infer,
                                 .scratch = gpool_scratch,
                                 .forward = gpool_forward,
                                 .backward = gpool_backward};

static keel_node *pool_build(keel_layer *l, keel_graph *g, keel_node *in) {
    return keel_graph_add(g, ((pool_cfg *)l->cfg)->global ? &gpool_op : &pool_op, l, &in, 1);
}

static keel_status pool_get_config(const keel_layer *l, json_t *cfg);
static keel_status gpool_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind max_kind = {.type = "MaxPooling2D",
                                         .prefix = "max_pooling2d",
                                         .build = pool_build,
                                         .get_config = pool_get_config};
static const keel_layer_kind avg_kind = {.type = "AveragePooling2D",
                                         .prefix = "average_pooling2d",
                                         .build = pool_build,
                                         .get_config = pool_get_config};
static const keel_layer_kind gmax_kind = {.type = "GlobalMaxPooling2D",
                                          .prefix = "global_max_pooling2d",
                                          .build = pool_build,
                                          .get_config = gpool_get_config};
static const keel_layer_kind gavg_kind = {.type = "GlobalAveragePooling2D",
                                          .prefix = "global_average_pooling2d",
                                          .build = pool_build,
                                          .get_config = gpool_get_config};

static keel_layer *pool_new(keel_pool2d_opts o, bool max) {
    const char *what = o.name ? o.name : (max ? "max_pooling2d" : "average_pooling2d");
    pool_cfg c = {.max = max};
    memcpy(c.pool, o.pool_size, sizeof c.pool);
    memcpy(c.strides, o.strides, sizeof c.strides);
    if (!keel_pair(c.pool, 2)) {
        keel_error(KEEL_ERR_ARG, "%s: pool_size must be positive", what);
        return NULL;
    }
    if (c.strides[0] == 0 && c.strides[1] == 0)
        memcpy(c.strides, c.pool, sizeof c.strides); /* Keras: None */
    if (!keel_pair(c.strides, 1)) {
        keel_error(KEEL_ERR_ARG, "%s: strides must be positive", what);
        return NULL;
    }
    if (!keel_padding_same(o.padding, &c.same, what)) return NULL;
    return keel_layer_new(max ? &max_kind : &avg_kind, o.name, &c, sizeof c, o.input_shape);
}

keel_layer *keel_max_pooling2d_(keel_pool2d_opts o) {
    return pool_new(o, true);
}
keel_layer *keel_average_pooling2d_(keel_pool2d_opts o) {
    return pool_new(o, false);
}

static keel_layer *gpool_new(keel_global_pool2d_opts o, bool max) {
    pool_cfg c = {.max = max, .global = true};
    return keel_layer_new(max ? &gmax_kind : &gavg_kind, o.name, &c, sizeof c, o.input_shape);
}

keel_layer *keel_global_average_pooling2d_(keel_global_pool2d_opts o) {
    return gpool_new(o, false);
}
keel_layer *keel_global_max_pooling2d_(keel_global_pool2d_opts o) {
    return gpool_new(o, true);
}

/* ---------------------------------------------------------------- ZeroPadding2D */

static keel_status zpad_infer(keel_node *nd) {
    pool_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank != 3)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: expects input (batch, height, width, channels), got %s%s",
                  nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a),
                  shape_hint(in));
    nd->geom.H = in->dims[0], nd->geom.W = in->dims[1], nd->geom.C = in->dims[2];
    nd->rank = 3;
    nd->dims[0] = in->dims[0] + c->pads[0] + c->pads[1];
    nd->dims[1] = in->dims[1] + c->pads[2] + c->pads[3];
    nd->dims[2] = in->dims[2];
    return KEEL_OK;
}

/* copies between the input and the interior of the padded output; dir 0 in -> out */
static void zpad_copy(const keel_node *nd, int64_t n, float *in, float *out, bool to_out) {
    const pool_cfg *c = nd->layer->cfg;
    const int64_t H = nd->geom.H, W = nd->geom.W, C = nd->geom.C, OW = nd->dims[1];
    for (int64_t b = 0; b < n; b++)
        for (int64_t h = 0; h < H; h++) {
            float *o = out + ((b * nd->dims[0] + h + c->pads[0]) * OW + c->pads[2]) * C;
            float *i = in + ((b * H + h) * W) * C;
            if (to_out)
                memcpy(o, i, (size_t)(W * C) * sizeof(float));
            else
                for (int64_t k = 0; k < W * C; k++)
                    i[k] += o[k];
        }
}

static void zpad_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    memset(nd->val, 0, (size_t)(n * nd->size) * sizeof(float));
    zpad_copy(nd, n, nd->in[0]->val, nd->val, true);
}

static void zpad_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    if (!nd->acc_in[0]) memset(in->grad, 0, (size_t)(n * in->size) * sizeof(float));
    zpad_copy(nd, n, in->grad, nd->grad, false);
}

static const keel_op zpad_op = {.name = "zero_padding2d",
                                .infer = zpad_infer,
                                .forward = zpad_forward,
                                .backward = zpad_backward};

static keel_node *zpad_build(keel_layer *l, keel_graph *g, keel_node *in) {
    return keel_graph_add(g, &zpad_op, l, &in, 1);
}

static keel_status zpad_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind zpad_kind = {.type = "ZeroPadding2D",
                                          .prefix = "zero_padding2d",
                                          .build = zpad_build,
                                          .get_config = zpad_get_config};

keel_layer *keel_zero_padding2d_(keel_zero_padding2d_opts o) {
    pool_cfg c = {0};
    bool explicit4 = o.pads[0] || o.pads[1] || o.pads[2] || o.pads[3];
    if (explicit4)
        memcpy(c.pads, o.pads, sizeof c.pads);
    else
        c.pads[0] = c.pads[1] = o.padding[0], c.pads[2] = c.pads[3] = o.padding[1];
    for (int i = 0; i < 4; i++)
        if (c.pads[i] < 0) {
            keel_error(KEEL_ERR_ARG, "%s: padding must be >= 0",
                       o.name ? o.name : "zero_padding2d");
            return NULL;
        }
    return keel_layer_new(&zpad_kind, o.name, &c, sizeof c, o.input_shape);
}

/* ---------------------------------------------------------------- Keras configs (save/config.h) */

static keel_status pool_get_config(const keel_layer *l, json_t *cfg) {
    const pool_cfg *c = l->cfg;
    keel_status st;
    /* strides=None is written as the pool size, as Keras 3 resolves it at construction */
    if ((st = keel_cfg_put_ints(cfg, "pool_size", 2, c->pool)) ||
        (st = keel_cfg_put_str(cfg, "padding", c->same ? "same" : "valid")) ||
        (st = keel_cfg_put_ints(cfg, "strides", 2, c->strides)) ||
        (st = keel_cfg_put_str(cfg, "data_format", "channels_last")))
        return st;
    return KEEL_OK;
}

static keel_layer *pool_from_config(const json_t *cfg, const char *where, bool max) {
    static const char *const keys[] = {"pool_size", "strides", "padding", "data_format", NULL};
    char name[64];
    bool trainable;
    keel_pool2d_opts o = {.pool_size = {2, 2}};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_sizes(cfg, "pool_size", true, 2, o.pool_size, where) ||
        keel_cfg_sizes(cfg, "strides", true, 2, o.strides, where) ||
        keel_cfg_padding(cfg, false, &o.padding, where) || keel_cfg_data_format(cfg, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = max ? keel_max_pooling2d_(o) : keel_average_pooling2d_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_max_pooling2d_from_config(const json_t *cfg, const char *where) {
    return pool_from_config(cfg, where, true);
}
keel_layer *keel_average_pooling2d_from_config(const json_t *cfg, const char *where) {
    return pool_from_config(cfg, where, false);
}

static keel_status gpool_get_config(const keel_layer *l, json_t *cfg) {
    (void)l;
    keel_status st;
    if ((st = keel_cfg_put_str(cfg, "data_format", "channels_last")) ||
        (st = keel_cfg_put_bool(cfg, "keepdims", false)))
        return st;
    return KEEL_OK;
}

static keel_layer *gpool_from_config(const json_t *cfg, const char *where, bool max) {
    static const char *const keys[] = {"data_format", "keepdims", NULL};
    char name[64];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_data_format(cfg, where) || keel_cfg_require_default(cfg, "keepdims", NULL, where))
        return NULL;
    keel_global_pool2d_opts o = {.name = name[0] ? name : NULL};
    keel_layer *l = max ? keel_global_max_pooling2d_(o) : keel_global_average_pooling2d_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_global_max_pooling2d_from_config(const json_t *cfg, const char *where) {
    return gpool_from_config(cfg, where, true);
}
keel_layer *keel_global_average_pooling2d_from_config(const json_t *cfg, const char *where) {
    return gpool_from_config(cfg, where, false);
}

static keel_status zpad_get_config(const keel_layer *l, json_t *cfg) {
    const pool_cfg *c = l->cfg;
    json_t *p = json_pack("[[I, I], [I, I]]", (json_int_t)c->pads[0], (json_int_t)c->pads[1],
                          (json_int_t)c->pads[2], (json_int_t)c->pads[3]);
    if (!keel_cfg_set(cfg, "padding", p)) return keel_last_status();
    return keel_cfg_put_str(cfg, "data_format", "channels_last");
}

/* padding: 2, [rows, cols] or [[top, bottom], [left, right]] */
static keel_status zpad_read(const json_t *cfg, int64_t pads[4], const char *where) {
    const json_t *v = json_object_get(cfg, "padding");
    if (!v || json_is_null(v)) {
        pads[0] = pads[1] = pads[2] = pads[3] = 1;
        return KEEL_OK;
    }
    if (json_is_array(v) && json_array_size(v) == 2 && json_is_array(json_array_get(v, 0)) &&
        json_is_array(json_array_get(v, 1))) {
        for (int a = 0; a < 2; a++) {
            const json_t *p = json_array_get(v, (size_t)a);
            if (json_array_size(p) != 2) goto bad;
            for (int s = 0; s < 2; s++) {
                const json_t *e = json_array_get(p, (size_t)s);
                if (!json_is_integer(e)) goto bad;
                pads[2 * a + s] = json_integer_value(e);
            }
        }
    } else {
        int64_t rc[2];
        keel_status st = keel_cfg_ints(cfg, "padding", false, 2, rc, where);
        if (st) return st;
        pads[0] = pads[1] = rc[0], pads[2] = pads[3] = rc[1];
    }
    for (int i = 0; i < 4; i++)
        if (pads[i] < 0 || pads[i] > KEEL_CFG_SIZE_MAX)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.padding holds %lld, expected sizes >= 0", where,
                      (long long)pads[i]);
    return KEEL_OK;
bad:
    KEEL_FAIL(KEEL_ERR_FORMAT,
              "%s: config.padding is not an integer, a pair or a pair of pairs of integers", where);
}

keel_layer *keel_zero_padding2d_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"padding", "data_format", NULL};
    char name[64];
    bool trainable;
    keel_zero_padding2d_opts o = {0};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        zpad_read(cfg, o.pads, where) || keel_cfg_data_format(cfg, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_zero_padding2d_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
