/* pooling1d.c: MaxPooling1D, AveragePooling1D (pool_size, strides, padding valid / same) and
 * GlobalMaxPooling1D, GlobalAveragePooling1D over (batch, steps, channels). Plain loops over
 * contiguous channels: for text models these run on a few thousand values per sample, next to
 * GEMMs a thousand times larger. GlobalAveragePooling1D honours a time-step mask (the mean over
 * the unmasked steps, as Keras computes it); the others drop it, as Keras does. */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

typedef struct pool1d_cfg {
    int64_t pool, stride;
    bool same, max, global;
} pool1d_cfg;

static keel_status pool1d_infer(keel_node *nd) {
    const pool1d_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank != 2)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: expects input (batch, steps, channels), got %s",
                  nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a));
    const int64_t T = in->dims[0], C = in->dims[1];
    if (c->global) {
        nd->rank = 1;
        nd->dims[0] = C;
        return KEEL_OK;
    }
    int64_t OT, pad;
    if (keel_conv_out(T, c->pool, c->stride, 1, c->same, &OT, &pad))
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: pool_size %lld is larger than the %lld steps (padding \"valid\")",
                  nd->layer->name, (long long)c->pool, (long long)T);
    nd->rank = 2;
    nd->dims[0] = OT, nd->dims[1] = C;
    nd->geom =
        (keel_conv_geom){.W = T, .C = C, .OW = OT, .KW = c->pool, .SW = c->stride, .PL = pad};
    return KEEL_OK;
}

/* the winner of each max (an input offset within the sample), for the backward pass */
static int64_t pool1d_scratch(const keel_node *nd) {
    const pool1d_cfg *c = nd->layer->cfg;
    return c->max ? nd->size : 0;
}

/* the window of output step o: [lo, hi) of the input steps, padding excluded */
static void window(const keel_conv_geom *g, int64_t o, int64_t *lo, int64_t *hi) {
    int64_t a = o * g->SW - g->PL;
    *lo = KEEL_MAX(a, 0), *hi = KEEL_MIN(a + g->KW, g->W);
}

static void pool1d_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const pool1d_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    const int64_t T = in->dims[0], C = in->dims[1];
    const float *mask = in->mask_node ? in->mask_node->scratch : NULL;
    int32_t *arg = (int32_t *)nd->scratch;
    for (int64_t b = 0; b < n; b++) {
        const float *x = in->val + b * T * C;
        float *y = nd->val + b * nd->size;
        if (c->global) {
            float cnt = 0;
            for (int64_t ch = 0; ch < C; ch++) {
                y[ch] = c->max ? -INFINITY : 0;
                if (c->max) arg[b * C + ch] = (int32_t)ch;
            }
            for (int64_t t = 0; t < T; t++) {
                float m = (!c->max && mask) ? mask[b * T + t] : 1.0f;
                cnt += m;
                for (int64_t ch = 0; ch < C; ch++) {
                    float v = x[t * C + ch];
                    if (c->max) {
                        if (v > y[ch]) y[ch] = v, arg[b * C + ch] = (int32_t)(t * C + ch);
                    } else
                        y[ch] += m * v;
                }
            }
            if (!c->max)
                for (int64_t ch = 0; ch < C; ch++)
                    y[ch] = cnt > 0 ? y[ch] / cnt : 0.0f;
            continue;
        }
        for (int64_t o = 0; o < nd->geom.OW; o++) {
            int64_t lo, hi;
            window(&nd->geom, o, &lo, &hi);
            for (int64_t ch = 0; ch < C; ch++) {
                float acc = c->max ? -INFINITY : 0;
                int32_t win = (int32_t)(lo * C + ch);
                for (int64_t t = lo; t < hi; t++) {
                    float v = x[t * C + ch];
                    if (!c->max)
                        acc += v;
                    else if (v > acc)
                        acc = v, win = (int32_t)(t * C + ch);
                }
                y[o * C + ch] = c->max ? acc : acc / (float)(hi - lo);
                if (c->max) arg[(b * nd->geom.OW + o) * C + ch] = win;
            }
        }
    }
}

static void pool1d_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const pool1d_cfg *c = nd->layer->cfg;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    const int64_t T = in->dims[0], C = in->dims[1];
    const float *mask = in->mask_node ? in->mask_node->scratch : NULL;
    const int32_t *arg = (const int32_t *)nd->scratch;
    if (!nd->acc_in[0]) memset(in->grad, 0, (size_t)(n * in->size) * sizeof(float));
    for (int64_t b = 0; b < n; b++) {
        float *dx = in->grad + b * T * C;
        const float *dy = nd->grad + b * nd->size;
        if (c->max) { /* the winners take the gradient */
            for (int64_t i = 0; i < nd->size; i++)
                dx[arg[b * nd->size + i]] += dy[i];
            continue;
        }
        if (c->global) {
            float cnt = 0;
            for (int64_t t = 0; t < T; t++)
                cnt += mask ? mask[b * T + t] : 1.0f;
            for (int64_t t = 0; t < T && cnt > 0; t++) {
                float m = (mask ? mask[b * T + t] : 1.0f) / cnt;
                for (int64_t ch = 0; ch < C; ch++)
                    dx[t * C + ch] += m * dy[ch];
            }
            continue;
        }
        for (int64_t o = 0; o < nd->geom.OW; o++) {
            int64_t lo, hi;
            window(&nd->geom, o, &lo, &hi);
            float w = 1.0f / (float)(hi - lo);
            for (int64_t t = lo; t < hi; t++)
                for (int64_t ch = 0; ch < C; ch++)
                    dx[t * C + ch] += w * dy[o * C + ch];
        }
    }
}

static const keel_op pool1d_op = {.name = "pooling1d",
                                  .infer = pool1d_infer,
                                  .scratch = pool1d_scratch,
                                  .forward = pool1d_forward,
                                  .backward = pool1d_backward};

static keel_node *pool1d_build(keel_layer *l, keel_graph *g, keel_node *in) {
    return keel_graph_add(g, &pool1d_op, l, &in, 1);
}

static keel_status pool1d_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind max1_kind = {.type = "MaxPooling1D",
                                          .prefix = "max_pooling1d",
                                          .build = pool1d_build,
                                          .get_config = pool1d_get_config};
static const keel_layer_kind avg1_kind = {.type = "AveragePooling1D",
                                          .prefix = "average_pooling1d",
                                          .build = pool1d_build,
                                          .get_config = pool1d_get_config};
static const keel_layer_kind gmax1_kind = {.type = "GlobalMaxPooling1D",
                                           .prefix = "global_max_pooling1d",
                                           .build = pool1d_build,
                                           .get_config = pool1d_get_config};
static const keel_layer_kind gavg1_kind = {.type = "GlobalAveragePooling1D",
                                           .prefix = "global_average_pooling1d",
                                           .build = pool1d_build,
                                           .get_config = pool1d_get_config};

static keel_layer *pool1d_new(keel_pool1d_opts o, bool max) {
    const char *what = o.name ? o.name : max ? "max_pooling1d" : "average_pooling1d";
    pool1d_cfg c = {.pool = o.pool_size ? o.pool_size : 2, .max = max};
    c.stride = o.strides ? o.strides : c.pool; /* strides=None means pool_size */
    if (c.pool < 0 || c.stride < 0) {
        keel_error(KEEL_ERR_ARG, "%s: pool_size and strides must be positive", what);
        return NULL;
    }
    if (!keel_padding_same(o.padding, &c.same, what)) return NULL;
    return keel_layer_new(max ? &max1_kind : &avg1_kind, o.name, &c, sizeof c, o.input_shape);
}

keel_layer *keel_max_pooling1d_(keel_pool1d_opts o) {
    return pool1d_new(o, true);
}
keel_layer *keel_average_pooling1d_(keel_pool1d_opts o) {
    return pool1d_new(o, false);
}

keel_layer *keel_global_max_pooling1d_(keel_global_pool1d_opts o) {
    pool1d_cfg c = {.max = true, .global = true};
    return keel_layer_new(&gmax1_kind, o.name, &c, sizeof c, o.input_shape);
}

keel_layer *keel_global_average_pooling1d_(keel_global_pool1d_opts o) {
    pool1d_cfg c = {.global = true};
    return keel_layer_new(&gavg1_kind, o.name, &c, sizeof c, o.input_shape);
}

/* ---------------------------------------------------------------- Keras configs (save/config.h) */

static keel_status pool1d_get_config(const keel_layer *l, json_t *cfg) {
    const pool1d_cfg *c = l->cfg;
    keel_status st;
    if (c->global) {
        if ((st = keel_cfg_put_str(cfg, "data_format", "channels_last")) ||
            (st = keel_cfg_put_bool(cfg, "keepdims", false)))
            return st;
        return KEEL_OK;
    }
    /* strides=None is written as the pool size, as Keras 3 resolves it */
    if ((st = keel_cfg_put_ints(cfg, "pool_size", 1, &c->pool)) ||
        (st = keel_cfg_put_str(cfg, "padding", c->same ? "same" : "valid")) ||
        (st = keel_cfg_put_ints(cfg, "strides", 1, &c->stride)) ||
        (st = keel_cfg_put_str(cfg, "data_format", "channels_last")))
        return st;
    return KEEL_OK;
}

static keel_layer *pool1d_from_config(const json_t *cfg, const char *where, bool max) {
    static const char *const keys[] = {"pool_size", "strides", "padding", "data_format", NULL};
    char name[64];
    bool trainable;
    keel_pool1d_opts o = {.pool_size = 2};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_sizes(cfg, "pool_size", true, 1, &o.pool_size, where) ||
        keel_cfg_sizes(cfg, "strides", true, 1, &o.strides, where) ||
        keel_cfg_padding(cfg, false, &o.padding, where) || keel_cfg_data_format(cfg, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = max ? keel_max_pooling1d_(o) : keel_average_pooling1d_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_max_pooling1d_from_config(const json_t *cfg, const char *where) {
    return pool1d_from_config(cfg, where, true);
}
keel_layer *keel_average_pooling1d_from_config(const json_t *cfg, const char *where) {
    return pool1d_from_config(cfg, where, false);
}

static keel_layer *gpool1d_from_config(const json_t *cfg, const char *where, bool max) {
    static const char *const keys[] = {"data_format", "keepdims", NULL};
    char name[64];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_data_format(cfg, where) || keel_cfg_require_default(cfg, "keepdims", NULL, where))
        return NULL;
    keel_global_pool1d_opts o = {.name = name[0] ? name : NULL};
    keel_layer *l = max ? keel_global_max_pooling1d_(o) : keel_global_average_pooling1d_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_global_max_pooling1d_from_config(const json_t *cfg, const char *where) {
    return gpool1d_from_config(cfg, where, true);
}
keel_layer *keel_global_average_pooling1d_from_config(const json_t *cfg, const char *where) {
    return gpool1d_from_config(cfg, where, false);
}
