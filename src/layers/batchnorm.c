/* batchnorm.c: BatchNormalization over the last axis (channels-last). Training normalizes
 * with the batch statistics over every other axis and moves the moving statistics toward
 * them; inference uses the moving statistics. Weights in Keras's order: gamma, beta
 * (trainable), moving_mean, moving_variance (not trainable, never touched by the optimizer). */
#include "layers.h"

#include <stdio.h>

typedef struct bn_cfg {
    keel_batch_normalization_opts o;
    int64_t C;
    float *mean, *invstd; /* of the last training batch, for the backward pass */
    double *acc;          /* 2C accumulators, allocated once so a step allocates nothing */
} bn_cfg;

static keel_status bn_infer(keel_node *nd) {
    nd->rank = nd->in[0]->rank;
    memcpy(nd->dims, nd->in[0]->dims, sizeof nd->dims);
    return KEEL_OK;
}

/* x-hat of the training batch, kept for the backward pass */
static int64_t bn_scratch(const keel_node *nd) { return nd->size; }

static void bn_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    keel_layer *l = nd->layer;
    bn_cfg *c = l->cfg;
    const int64_t C = c->C, rows = n * nd->size / C;
    const float *x = nd->in[0]->val, *gamma = c->o.scale ? l->params[0].w : NULL,
                *beta = c->o.center ? l->params[c->o.scale ? 1 : 0].w : NULL;
    int k = (c->o.scale ? 1 : 0) + (c->o.center ? 1 : 0);
    float *mm = l->params[k].w, *mv = l->params[k + 1].w, *y = nd->val, *xh = nd->scratch;
    const float eps = c->o.epsilon, mom = c->o.momentum;
    const bool bessel = nd->rank == 3 || nd->rank == 4;
    if (!ctx->training) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t ch = 0; ch < C; ch++) {
                float v = (x[r * C + ch] - mm[ch]) / sqrtf(mv[ch] + eps);
                y[r * C + ch] = (gamma ? gamma[ch] : 1.0f) * v + (beta ? beta[ch] : 0.0f);
            }
        return;
    }
    /* mean and biased variance per channel, accumulated in double */
    double *s = c->acc;
    memset(s, 0, (size_t)(2 * C) * sizeof *s);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ch = 0; ch < C; ch++) s[ch] += x[r * C + ch];
    for (int64_t ch = 0; ch < C; ch++) s[ch] /= (double)rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ch = 0; ch < C; ch++) {
            double d = x[r * C + ch] - s[ch];
            s[C + ch] += d * d;
        }
    for (int64_t ch = 0; ch < C; ch++) {
        double var = s[C + ch] / (double)rows;
        c->mean[ch] = (float)s[ch];
        c->invstd[ch] = (float)(1.0 / sqrt(var + eps));
        /* tf.keras 2 runs its fused kernel on 4-D and 5-D input, which moves the moving
         * variance toward the Bessel-corrected batch variance; other ranks use the biased one */
        double mvar = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
        mm[ch] = (float)(mm[ch] * mom + s[ch] * (1 - mom));
        mv[ch] = (float)(mv[ch] * mom + (bessel ? mvar : var) * (1 - mom));
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ch = 0; ch < C; ch++) {
            float v = (x[r * C + ch] - c->mean[ch]) * c->invstd[ch];
            xh[r * C + ch] = v;
            y[r * C + ch] = (gamma ? gamma[ch] : 1.0f) * v + (beta ? beta[ch] : 0.0f);
        }
}

/* dgamma = sum dy x-hat; dbeta = sum dy;
 * dx = gamma invstd / M (M dy - sum dy - x-hat sum dy x-hat) */
static void bn_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_layer *l = nd->layer;
    bn_cfg *c = l->cfg;
    keel_node *in = nd->in[0];
    const int64_t C = c->C, rows = n * nd->size / C;
    const float *dy = nd->grad, *xh = nd->scratch, *gamma = c->o.scale ? l->params[0].w : NULL;
    double *s = c->acc;
    memset(s, 0, (size_t)(2 * C) * sizeof *s);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ch = 0; ch < C; ch++) {
            s[ch] += dy[r * C + ch];
            s[C + ch] += (double)dy[r * C + ch] * xh[r * C + ch];
        }
    if (c->o.scale && l->params[0].trainable)
        for (int64_t ch = 0; ch < C; ch++) l->params[0].g[ch] = (float)s[C + ch];
    if (c->o.center && l->params[c->o.scale ? 1 : 0].trainable)
        for (int64_t ch = 0; ch < C; ch++) l->params[c->o.scale ? 1 : 0].g[ch] = (float)s[ch];
    if (in->needs_grad) {
        float beta_acc = in->consumers > 1 ? 1.0f : 0.0f;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t ch = 0; ch < C; ch++) {
                double k = (gamma ? gamma[ch] : 1.0) * c->invstd[ch] / (double)rows;
                double v = k * ((double)rows * dy[r * C + ch] - s[ch] - xh[r * C + ch] * s[C + ch]);
                in->grad[r * C + ch] = (float)v + beta_acc * in->grad[r * C + ch];
            }
    }
}

static const keel_op bn_op = {
    .name = "batch_normalization", .infer = bn_infer, .scratch = bn_scratch, .forward = bn_forward, .backward = bn_backward};

static keel_node *bn_build(keel_layer *l, keel_graph *g, keel_node *in) {
    bn_cfg *c = l->cfg;
    c->C = in->dims[in->rank - 1];
    int64_t dims[1] = {c->C};
    if (c->o.scale) keel_layer_param(l, "gamma", 1, dims, "ones", NULL);
    if (c->o.center) keel_layer_param(l, "beta", 1, dims, "zeros", NULL);
    keel_param *mm = keel_layer_param(l, "moving_mean", 1, dims, "zeros", NULL);
    keel_param *mv = keel_layer_param(l, "moving_variance", 1, dims, "ones", NULL);
    mm->trainable = mv->trainable = false;
    c->mean = keel_alloc((size_t)c->C * sizeof(float));
    c->invstd = keel_alloc((size_t)c->C * sizeof(float));
    c->acc = keel_alloc((size_t)(2 * c->C) * sizeof(double));
    if (!c->mean || !c->invstd || !c->acc) return NULL;
    return keel_graph_add(g, &bn_op, l, &in, 1);
}

static void bn_free(keel_layer *l) {
    bn_cfg *c = l->cfg;
    if (!c) return;
    keel_free(c->mean);
    keel_free(c->invstd);
    keel_free(c->acc);
}

static const keel_layer_kind bn_kind = {
    .type = "BatchNormalization", .prefix = "batch_normalization", .build = bn_build, .free_cfg = bn_free};

keel_layer *keel_batch_normalization_(keel_batch_normalization_opts o) {
    const char *what = o.name ? o.name : "batch_normalization";
    if (o.momentum == 0) o.momentum = 0.99f;
    if (o.epsilon == 0) o.epsilon = 1e-3f;
    if (!(o.momentum >= 0 && o.momentum <= 1) || !(o.epsilon > 0)) {
        keel_error(KEEL_ERR_ARG, "%s: momentum must be in [0, 1] and epsilon > 0", what);
        return NULL;
    }
    bn_cfg c = {.o = o};
    c.o.name = NULL;
    return keel_layer_new(&bn_kind, o.name, &c, sizeof c, keel_dims_rank(o.input_shape) ? o.input_shape : NULL);
}
