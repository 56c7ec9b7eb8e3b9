/* dense.c: Dense(units): y = activation(x @ kernel + bias), with kernel (in, units) and bias
 * (units). The GEMM, bias and activation are one op; for input of rank > 1 the last axis is
 * contracted, as Keras does. */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

typedef struct dense_cfg {
    keel_dense_opts o;
    keel_act act;
} dense_cfg;

static keel_status dense_infer(keel_node *nd) {
    const keel_node *in = nd->in[0];
    dense_cfg *c = nd->layer->cfg;
    nd->rank = in->rank;
    memcpy(nd->dims, in->dims, sizeof nd->dims);
    nd->dims[nd->rank - 1] = c->o.units;
    return KEEL_OK;
}

/* z (U) = x (K) W (K, U) for one row: the weights streamed once, row by row, skipping the
 * rows whose x is 0 (half of a Fashion-MNIST image's pixels, many ReLU outputs). For one sample
 * a GEMM library's packing costs more than the product itself: this is predict's latency path. */
KEEL_CLONES static void dense_row(const float *restrict x, const float *restrict w,
                                  float *restrict z, int64_t K, int64_t U) {
    memset(z, 0, (size_t)U * sizeof *z);
    for (int64_t k = 0; k < K; k++) {
        const float xk = x[k];
        if (xk == 0) continue;
        const float *restrict wk = w + k * U;
#pragma omp simd
        for (int64_t u = 0; u < U; u++)
            z[u] += xk * wk[u];
    }
}

/* x (rows, K) where rows = n * (in size / K); y (rows, U) */
static void dense_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const keel_node *in = nd->in[0];
    const keel_layer *l = nd->layer;
    int64_t K = l->params[0].dims[0], U = l->params[0].dims[1], rows = n * (in->size / K);
    float *z = nd->val;
    if (rows == 1)
        dense_row(in->val, l->params[0].w, z, K, U);
    else
        keel_gemm(false, false, rows, U, K, 1.0f, in->val, K, l->params[0].w, U, 0.0f, z, U);
    keel_bias_act(nd->act, z, l->n_params > 1 ? l->params[1].w : NULL,
                  nd->keep_pre ? nd->pre : NULL, rows, U);
}

static void dense_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    keel_layer *l = nd->layer;
    int64_t K = l->params[0].dims[0], U = l->params[0].dims[1], rows = n * (in->size / K);
    float *dz = nd->grad; /* dL/dy becomes dL/dz in place */
    if (!nd->loss_fused) keel_act_backward(nd->act, nd->pre, nd->val, dz, dz, rows, U);
    keel_param *W = &l->params[0];
    if (W->trainable) /* dW (+)= X^T dZ */
        keel_gemm(true, false, K, U, rows, 1.0f, in->val, K, dz, U, nd->acc_w[0] ? 1.0f : 0.0f,
                  W->g, U);
    if (l->n_params > 1 && l->params[1].trainable) /* db (+)= sum_rows dZ */
        keel_sum_rows(dz, l->params[1].g, rows, U, nd->acc_w[1]);
    if (in->needs_grad) /* dX (+)= dZ W^T */
        keel_gemm(false, true, rows, K, U, 1.0f, dz, U, W->w, U, nd->acc_in[0] ? 1.0f : 0.0f,
                  in->grad, K);
}

const keel_op keel_op_dense = {.keeps_mask = true,
                               .name = "dense",
                               .infer = dense_infer,
                               .forward = dense_forward,
                               .backward = dense_backward};

static keel_node *dense_build(keel_layer *l, keel_graph *g, keel_node *in) {
    dense_cfg *c = l->cfg;
    int64_t K = in->dims[in->rank - 1];
    if (!keel_layer_param(l, "kernel", 2, (int64_t[]){K, c->o.units},
                          c->o.kernel_initializer ? c->o.kernel_initializer : "glorot_uniform",
                          c->o.kernel_regularizer))
        return NULL;
    if (c->o.use_bias && !keel_layer_param(l, "bias", 1, (int64_t[]){c->o.units},
                                           c->o.bias_initializer ? c->o.bias_initializer : "zeros",
                                           c->o.bias_regularizer))
        return NULL;
    keel_node *nd = keel_graph_add(g, &keel_op_dense, l, &in, 1);
    if (!nd) return NULL;
    nd->act = c->act;
    nd->keep_pre = keel_act_needs_input(c->act.kind);
    return nd;
}

static void dense_free(keel_layer *l) {
    dense_cfg *c = l->cfg;
    if (!c) return;
    keel_cfg_str_free(c->o.activation);
    keel_cfg_str_free(c->o.kernel_initializer);
    keel_cfg_str_free(c->o.bias_initializer);
    keel_cfg_str_free(c->o.kernel_regularizer);
    keel_cfg_str_free(c->o.bias_regularizer);
}

static keel_status dense_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind dense_kind = {.type = "Dense",
                                           .prefix = "dense",
                                           .build = dense_build,
                                           .free_cfg = dense_free,
                                           .get_config = dense_get_config};

keel_layer *keel_dense_(keel_dense_opts o) {
    char what[96];
    snprintf(what, sizeof what, "%s", o.name ? o.name : "dense");
    if (o.units <= 0) {
        keel_error(KEEL_ERR_ARG, "%s: units must be positive, got %lld", what, (long long)o.units);
        return NULL;
    }
    dense_cfg c = {.o = o};
    if (keel_act_parse(o.activation, &c.act, what) != KEEL_OK) return NULL;
    int64_t dims[KEEL_MAX_RANK] = {0};
    if (o.input_dim < 0) {
        keel_error(KEEL_ERR_ARG, "%s: input_dim must be positive, got %lld", what,
                   (long long)o.input_dim);
        return NULL;
    }
    if (o.input_dim > 0)
        dims[0] = o.input_dim;
    else
        memcpy(dims, o.input_shape, sizeof dims);
    /* strings are copied so the caller's may be temporary */
    c.o.activation = c.o.kernel_initializer = c.o.bias_initializer = NULL;
    c.o.kernel_regularizer = c.o.bias_regularizer = NULL;
    keel_layer *l = keel_layer_new(&dense_kind, o.name, &c, sizeof c, dims);
    if (!l) return NULL;
    dense_cfg *lc = l->cfg;
    if (!keel_cfg_str(&lc->o.activation, o.activation) ||
        !keel_cfg_str(&lc->o.kernel_initializer, o.kernel_initializer) ||
        !keel_cfg_str(&lc->o.bias_initializer, o.bias_initializer) ||
        !keel_cfg_str(&lc->o.kernel_regularizer, o.kernel_regularizer) ||
        !keel_cfg_str(&lc->o.bias_regularizer, o.bias_regularizer)) {
        keel_layer_free(l);
        return NULL;
    }
    lc->o.name = NULL;
    return l;
}

/* ---------------------------------------------------------------- Keras config (save/config.h) */

static keel_status dense_get_config(const keel_layer *l, json_t *cfg) {
    const dense_cfg *c = l->cfg;
    const keel_dense_opts *o = &c->o;
    keel_status st;
    if ((st = keel_cfg_put_int(cfg, "units", o->units)) ||
        (st = keel_cfg_put_activation(cfg, "activation", c->act, l)) ||
        (st = keel_cfg_put_bool(cfg, "use_bias", o->use_bias)) ||
        (st = keel_cfg_put_initializer(
             cfg, "kernel_initializer",
             o->kernel_initializer ? o->kernel_initializer : "glorot_uniform", l)) ||
        (st = keel_cfg_put_initializer(cfg, "bias_initializer",
                                       o->bias_initializer ? o->bias_initializer : "zeros", l)) ||
        (st = keel_cfg_put_regularizer(cfg, "kernel_regularizer", o->kernel_regularizer, l)) ||
        (st = keel_cfg_put_regularizer(cfg, "bias_regularizer", o->bias_regularizer, l)) ||
        (st = keel_cfg_put_null(cfg, "kernel_constraint")) ||
        (st = keel_cfg_put_null(cfg, "bias_constraint")) ||
        (st = keel_cfg_put_null(cfg, "quantization_config")))
        return st;
    return KEEL_OK;
}

keel_layer *keel_dense_from_config(const json_t *cfg, const char *where) {
    /* lora_rank / lora_alpha and quantization_config (Keras 3) are accepted at null only */
    static const char *const keys[] = {"units",
                                       "activation",
                                       "use_bias",
                                       "kernel_initializer",
                                       "bias_initializer",
                                       "kernel_regularizer",
                                       "bias_regularizer",
                                       "kernel_constraint",
                                       "bias_constraint",
                                       NULL};
    char name[64], ki[KEEL_CFG_SPEC_CAP], kr[KEEL_CFG_SPEC_CAP], bi[KEEL_CFG_SPEC_CAP],
        br[KEEL_CFG_SPEC_CAP];
    bool trainable;
    keel_dense_opts o = {.use_bias = 1};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_size(cfg, "units", false, &o.units, where) ||
        keel_cfg_activation(cfg, "activation", &o.activation, where) ||
        keel_cfg_bool(cfg, "use_bias", true, &o.use_bias, where) ||
        keel_cfg_weight(cfg, "kernel", ki, &o.kernel_initializer, kr, &o.kernel_regularizer,
                        where) ||
        keel_cfg_weight(cfg, "bias", bi, &o.bias_initializer, br, &o.bias_regularizer, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_dense_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
