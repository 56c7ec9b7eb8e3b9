/* embedding.c: Embedding(input_dim, output_dim) and Masking(mask_value), the layers that start
 * a sequence model. Embedding maps token indices (floats holding whole numbers, checked before
 * the first batch) to rows of its (input_dim, output_dim) weight; with mask_zero, index 0 is
 * padding and the time-step mask (1 where the index is not 0) travels to the layers after it
 * (graph.h: mask_node). Masking(mask_value) masks the steps whose features all equal the value,
 * and zeroes them. */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

typedef struct embedding_cfg {
    int64_t input_dim, output_dim;
    bool mask_zero;
    const char *initializer, *regularizer;
} embedding_cfg;

static keel_status embedding_infer(keel_node *nd) {
    const keel_node *in = nd->in[0];
    const embedding_cfg *c = nd->layer->cfg;
    char a[128];
    if (in->rank + 1 > KEEL_MAX_RANK)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: input %s has too many axes", nd->layer->name,
                  keel_dims_str(in->rank, in->dims, true, a, sizeof a));
    nd->rank = in->rank + 1;
    memcpy(nd->dims, in->dims, sizeof nd->dims);
    nd->dims[in->rank] = c->output_dim;
    return KEEL_OK;
}

/* the mask: one float per index of the input (0 where the index is 0) */
static int64_t embedding_scratch(const keel_node *nd) {
    return ((const embedding_cfg *)nd->layer->cfg)->mask_zero ? nd->in[0]->size : 0;
}

static void embedding_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const embedding_cfg *c = nd->layer->cfg;
    const float *x = nd->in[0]->val, *w = nd->layer->params[0].w;
    const int64_t D = c->output_dim, count = n * nd->in[0]->size;
    float *y = nd->val;
    for (int64_t i = 0; i < count; i++) {
        /* the data were checked (embedding_validate); an index that still is not one (a model
         * whose Embedding is not on an input) reads as a zero vector, never out of bounds */
        float v = x[i];
        if (v >= 0 && v < (float)c->input_dim && v == floorf(v))
            memcpy(y + i * D, w + (int64_t)v * D, (size_t)D * sizeof(float));
        else
            memset(y + i * D, 0, (size_t)D * sizeof(float));
        if (c->mask_zero) nd->scratch[i] = v != 0 ? 1.0f : 0.0f;
    }
}

/* dW[index] += dy of every position holding that index (a scatter-add; the input, indices, has
 * no gradient) */
static void embedding_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const embedding_cfg *c = nd->layer->cfg;
    keel_param *W = &nd->layer->params[0];
    if (!W->trainable) return;
    const float *x = nd->in[0]->val, *dy = nd->grad;
    const int64_t D = c->output_dim, count = n * nd->in[0]->size;
    if (!nd->acc_w[0]) memset(W->g, 0, (size_t)W->size * sizeof(float));
    for (int64_t i = 0; i < count; i++) {
        float v = x[i];
        if (!(v >= 0 && v < (float)c->input_dim && v == floorf(v))) continue;
        float *g = W->g + (int64_t)v * D;
        const float *d = dy + i * D;
#pragma omp simd
        for (int64_t k = 0; k < D; k++)
            g[k] += d[k];
    }
}

static keel_status embedding_validate(const keel_node *nd, const keel_tensor *x, int64_t rows,
                                      int64_t per, const char *fn, const char *name) {
    const embedding_cfg *c = nd->layer->cfg;
    for (int64_t i = 0; i < rows * per; i++) {
        double v = keel_tensor_at(x, i);
        if (v >= 0 && v < (double)c->input_dim && v == floor(v)) continue;
        const char *why = v != v          ? "is nan, not a token index"
                          : v != floor(v) ? "is not a whole number (Embedding takes token indices)"
                          : v < 0         ? "is negative (token indices start at 0)"
                                          : "is not below input_dim";
        KEEL_FAIL(KEEL_ERR_ARG, "%s: %s[%lld, %lld] = %g %s; %s has input_dim %lld", fn, name,
                  (long long)(i / per), (long long)(i % per), v, why, nd->layer->name,
                  (long long)c->input_dim);
    }
    return KEEL_OK;
}

static const keel_op embedding_op = {.name = "embedding",
                                     .infer = embedding_infer,
                                     .scratch = embedding_scratch,
                                     .forward = embedding_forward,
                                     .backward = embedding_backward,
                                     .validate = embedding_validate};

static keel_node *embedding_build(keel_layer *l, keel_graph *g, keel_node *in) {
    const embedding_cfg *c = l->cfg;
    if (!keel_layer_param(l, "embeddings", 2, (int64_t[]){c->input_dim, c->output_dim},
                          c->initializer ? c->initializer : "uniform", c->regularizer))
        return NULL;
    keel_node *nd = keel_graph_add(g, &embedding_op, l, &in, 1);
    if (nd && c->mask_zero) nd->mask_node = nd;
    return nd;
}

static void embedding_free(keel_layer *l) {
    embedding_cfg *c = l->cfg;
    if (!c) return;
    keel_cfg_str_free(c->initializer);
    keel_cfg_str_free(c->regularizer);
}

static keel_status embedding_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind embedding_kind = {.type = "Embedding",
                                               .prefix = "embedding",
                                               .build = embedding_build,
                                               .free_cfg = embedding_free,
                                               .get_config = embedding_get_config};

keel_layer *keel_embedding_(keel_embedding_opts o) {
    const char *what = o.name ? o.name : "embedding";
    if (o.input_dim <= 0 || o.output_dim <= 0) {
        keel_error(KEEL_ERR_ARG, "%s: input_dim and output_dim must be positive, got %lld and %lld",
                   what, (long long)o.input_dim, (long long)o.output_dim);
        return NULL;
    }
    if (o.input_length < 0) {
        keel_error(KEEL_ERR_ARG, "%s: input_length must be positive, got %lld", what,
                   (long long)o.input_length);
        return NULL;
    }
    embedding_cfg c = {
        .input_dim = o.input_dim, .output_dim = o.output_dim, .mask_zero = o.mask_zero != 0};
    int64_t dims[KEEL_MAX_RANK] = {0};
    if (o.input_length)
        dims[0] = o.input_length; /* input_length=T stands for Input(shape=(T,)) */
    else
        memcpy(dims, o.input_shape, sizeof dims);
    keel_layer *l = keel_layer_new(&embedding_kind, o.name, &c, sizeof c, dims);
    if (!l) return NULL;
    embedding_cfg *lc = l->cfg;
    if (!keel_cfg_str(&lc->initializer, o.embeddings_initializer) ||
        !keel_cfg_str(&lc->regularizer, o.embeddings_regularizer)) {
        keel_layer_free(l);
        return NULL;
    }
    return l;
}

/* ---------------------------------------------------------------- Masking */

typedef struct masking_cfg {
    float value;
} masking_cfg;

static keel_status masking_infer(keel_node *nd) {
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank < 2)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: Masking expects (batch, timesteps, features), got %s",
                  nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a));
    nd->rank = in->rank;
    memcpy(nd->dims, in->dims, sizeof nd->dims);
    return KEEL_OK;
}

/* one mask value per time step: the per-sample size over the features of one step */
static int64_t masking_steps(const keel_node *nd) {
    return nd->dims[0];
}
static int64_t masking_scratch(const keel_node *nd) {
    return masking_steps(nd);
}

static void masking_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const float value = ((const masking_cfg *)nd->layer->cfg)->value;
    const int64_t T = masking_steps(nd), F = nd->size / T;
    const float *x = nd->in[0]->val;
    for (int64_t s = 0; s < n * T; s++) {
        bool keep = false; /* Keras: any feature differs from mask_value */
        for (int64_t f = 0; f < F && !keep; f++)
            keep = x[s * F + f] != value;
        nd->scratch[s] = keep ? 1.0f : 0.0f;
        for (int64_t f = 0; f < F; f++)
            nd->val[s * F + f] = keep ? x[s * F + f] : 0.0f;
    }
}

static void masking_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    const int64_t T = masking_steps(nd), F = nd->size / T;
    for (int64_t s = 0; s < n * T; s++)
        for (int64_t f = 0; f < F; f++) {
            float g = nd->scratch[s] * nd->grad[s * F + f];
            in->grad[s * F + f] = nd->acc_in[0] ? in->grad[s * F + f] + g : g;
        }
}

static const keel_op masking_op = {.name = "masking",
                                   .infer = masking_infer,
                                   .scratch = masking_scratch,
                                   .forward = masking_forward,
                                   .backward = masking_backward};

static keel_node *masking_build(keel_layer *l, keel_graph *g, keel_node *in) {
    keel_node *nd = keel_graph_add(g, &masking_op, l, &in, 1);
    if (nd) nd->mask_node = nd;
    return nd;
}

static keel_status masking_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind masking_kind = {.type = "Masking",
                                             .prefix = "masking",
                                             .build = masking_build,
                                             .get_config = masking_get_config};

keel_layer *keel_masking_(keel_masking_opts o) {
    if (!isfinite(o.mask_value)) {
        keel_error(KEEL_ERR_ARG, "%s: mask_value must be finite", o.name ? o.name : "masking");
        return NULL;
    }
    masking_cfg c = {o.mask_value};
    return keel_layer_new(&masking_kind, o.name, &c, sizeof c, o.input_shape);
}

/* ---------------------------------------------------------------- Keras configs (save/config.h) */

static keel_status embedding_get_config(const keel_layer *l, json_t *cfg) {
    const embedding_cfg *c = l->cfg;
    keel_status st;
    if ((st = keel_cfg_put_int(cfg, "input_dim", c->input_dim)) ||
        (st = keel_cfg_put_int(cfg, "output_dim", c->output_dim)) ||
        (st = keel_cfg_put_initializer(cfg, "embeddings_initializer",
                                       c->initializer ? c->initializer : "uniform", l)) ||
        (st = keel_cfg_put_regularizer(cfg, "embeddings_regularizer", c->regularizer, l)) ||
        (st = keel_cfg_put_null(cfg, "activity_regularizer")) ||
        (st = keel_cfg_put_null(cfg, "embeddings_constraint")) ||
        (st = keel_cfg_put_bool(cfg, "mask_zero", c->mask_zero)) ||
        (st = keel_cfg_put_null(cfg, "quantization_config")))
        return st;
    return KEEL_OK;
}

keel_layer *keel_embedding_from_config(const json_t *cfg, const char *where) {
    /* input_length: tf.keras 2's (Keras 3 dropped it); it declares the input shape */
    static const char *const keys[] = {"input_dim",
                                       "output_dim",
                                       "embeddings_initializer",
                                       "embeddings_regularizer",
                                       "embeddings_constraint",
                                       "mask_zero",
                                       "input_length",
                                       NULL};
    char name[64], ei[KEEL_CFG_SPEC_CAP], er[KEEL_CFG_SPEC_CAP];
    bool trainable;
    keel_embedding_opts o = {0};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_size(cfg, "input_dim", false, &o.input_dim, where) ||
        keel_cfg_size(cfg, "output_dim", false, &o.output_dim, where) ||
        keel_cfg_weight(cfg, "embeddings", ei, &o.embeddings_initializer, er,
                        &o.embeddings_regularizer, where) ||
        keel_cfg_bool(cfg, "mask_zero", true, &o.mask_zero, where) ||
        keel_cfg_size(cfg, "input_length", true, &o.input_length, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_embedding_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

static keel_status masking_get_config(const keel_layer *l, json_t *cfg) {
    return keel_cfg_put_float(cfg, "mask_value", ((const masking_cfg *)l->cfg)->value);
}

keel_layer *keel_masking_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"mask_value", NULL};
    char name[64];
    bool trainable;
    keel_masking_opts o = {0};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_float(cfg, "mask_value", true, &o.mask_value, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_masking_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
