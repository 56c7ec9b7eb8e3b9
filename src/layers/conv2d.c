/* conv2d.c: Conv2D, channels-last. One op: im2col + GEMM with bias and activation applied to
 * the output in place; a 1x1, stride-1, unpadded convolution skips im2col (the input already is
 * the column matrix). Kernel (KH, KW, C, filters) as Keras stores it. */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

typedef struct conv_cfg {
    keel_conv2d_opts o;
    keel_act act;
    bool same;
    bool one_d;  /* Conv1D: the 2-D op on a (1, steps, channels) view, kernel (k, C, filters) */
    bool causal; /* Conv1D padding "causal": (k - 1) * dilation zeros before the steps only */
} conv_cfg;

/* A call's buffers (node->state, one block): the direct path's per-thread dW / db sums, db when
 * there is no bias or it is frozen, and dW / db of a call that adds to another call's (a layer
 * called twice: the direct kernel writes, so it writes here and the sum is added). */
typedef struct conv_state {
    float *partial, *db_tmp, *dw_acc, *db_acc;
    int partial_threads;
} conv_state;

static bool pointwise(const keel_conv_geom *g) {
    return g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PT == 0 && g->PL == 0;
}

static keel_status conv_infer(keel_node *nd) {
    conv_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank != 3)
        KEEL_FAIL(
            KEEL_ERR_SHAPE, "%s: Conv2D expects input (batch, height, width, channels), got %s%s",
            nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a),
            in->rank == 2
                ? " (add keel_reshape(.target_shape = {H, W, 1}) or give input_shape with channels)"
                : "");
    keel_conv_geom *g = &nd->geom;
    g->H = in->dims[0], g->W = in->dims[1], g->C = in->dims[2], g->OC = c->o.filters;
    g->KH = c->o.kernel_size[0], g->KW = c->o.kernel_size[1];
    g->SH = c->o.strides[0], g->SW = c->o.strides[1];
    g->DH = c->o.dilation_rate[0], g->DW = c->o.dilation_rate[1];
    if (keel_conv_out(g->H, g->KH, g->SH, g->DH, c->same, &g->OH, &g->PT) ||
        keel_conv_out(g->W, g->KW, g->SW, g->DW, c->same || c->causal, &g->OW, &g->PL))
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: a %lldx%lld kernel (dilation %lldx%lld) does not fit input %s with padding "
                  "\"valid\": "
                  "the output would be empty",
                  nd->layer->name, (long long)g->KH, (long long)g->KW, (long long)g->DH,
                  (long long)g->DW, keel_dims_str(in->rank, in->dims, true, a, sizeof a));
    if (c->causal) { /* Keras: pad (k - 1) * dilation on the left, then a valid convolution */
        g->PL = g->DW * (g->KW - 1);
        g->OW = (g->W - 1) / g->SW + 1;
    }
    nd->rank = 3;
    nd->dims[0] = g->OH, nd->dims[1] = g->OW, nd->dims[2] = g->OC;
    return KEEL_OK;
}

static int64_t conv_scratch(const keel_node *nd) {
    const keel_conv_geom *g = &nd->geom;
    return pointwise(g) ? 0 : g->OH * g->OW * g->KH * g->KW * g->C;
}

static void conv_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const keel_layer *l = nd->layer;
    const keel_conv_geom *g = &nd->geom;
    int64_t K = g->KH * g->KW * g->C, rows = n * g->OH * g->OW;
    if (keel_conv_direct_ok(g)) {
        bool relu = nd->act.kind == KEEL_ACT_RELU && !nd->keep_pre;
        /* a first layer (no input gradient) with ReLU, feeding only a 2x2 max pool: the pool is
         * computed here and the convolution's output is never written; the pool's backward
         * applies the ReLU mask (a winner's value is > 0 exactly where its ReLU passed) */
        keel_node *next = nd->consumers == 1 ? nd->consumer : NULL;
        bool fuse = relu && !nd->loss_fused && !nd->in[0]->needs_grad && next &&
                    keel_pool_is_max2x2(next) && keel_conv_direct_pool_ok(g);
        nd->fused_next = fuse;
        if (next) next->fused_by_prev = fuse;
        if (fuse) {
            keel_conv_direct_relu_pool(g, nd->in[0]->val, l->params[0].w,
                                       l->n_params > 1 ? l->params[1].w : NULL, next->val,
                                       (int32_t *)next->scratch, n);
            return;
        }
        keel_conv_direct_forward(g, nd->in[0]->val, l->params[0].w,
                                 l->n_params > 1 ? l->params[1].w : NULL, nd->val, n, relu);
        if (relu) return;
        if (nd->keep_pre) {
            memcpy(nd->pre, nd->val, (size_t)(rows * g->OC) * sizeof(float));
            keel_act_forward(nd->act, nd->pre, nd->val, rows, g->OC);
        } else {
            keel_act_forward(nd->act, nd->val, nd->val, rows, g->OC);
        }
        return;
    }
    const float *col = nd->in[0]->val;
    if (!pointwise(g)) {
        keel_im2col(g, nd->in[0]->val, nd->scratch, n);
        col = nd->scratch;
    }
    float *z = nd->val;
    keel_gemm(false, false, rows, g->OC, K, 1.0f, col, K, l->params[0].w, g->OC, 0.0f, z, g->OC);
    keel_bias_act(nd->act, z, l->n_params > 1 ? l->params[1].w : NULL,
                  nd->keep_pre ? nd->pre : NULL, rows, g->OC);
}

static void conv_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    keel_layer *l = nd->layer;
    const keel_conv_geom *g = &nd->geom;
    int64_t K = g->KH * g->KW * g->C, rows = n * g->OH * g->OW;
    float *dz = nd->grad;
    bool pw = pointwise(g);
    keel_param *W = &l->params[0];
    conv_state *c = nd->state;
    /* a first layer with ReLU needs dZ only for dW and db: the direct pass masks it itself */
    bool fold_relu = keel_conv_direct_ok(g) && W->trainable && !in->needs_grad && !nd->loss_fused &&
                     nd->act.kind == KEEL_ACT_RELU;
    /* fused with the pool after it: the pool's backward has applied the ReLU mask */
    if (!nd->loss_fused && !fold_relu && !nd->fused_next)
        keel_act_backward(nd->act, nd->pre, nd->val, dz, dz, rows, g->OC);
    if (keel_conv_direct_ok(g) && W->trainable) { /* dW and db in one pass, no columns */
        bool has_b = l->n_params > 1 && l->params[1].trainable, acc = nd->acc_w[0];
        keel_conv_direct_dw(g, in->val, dz, fold_relu && !nd->fused_next ? nd->val : NULL,
                            acc ? c->dw_acc : W->g,
                            has_b ? (acc ? c->db_acc : l->params[1].g) : c->db_tmp, c->partial,
                            c->partial_threads, n);
        if (acc) { /* another call of this layer wrote first: add this call's share */
            for (int64_t i = 0; i < W->size; i++)
                W->g[i] += c->dw_acc[i];
            for (int64_t i = 0; has_b && i < g->OC; i++)
                l->params[1].g[i] += c->db_acc[i];
        }
    } else {
        const float *col =
            pw ? in->val : nd->scratch; /* the im2col forward pass left the columns */
        if (W->trainable)               /* dW = col^T dZ */
            keel_gemm(true, false, K, g->OC, rows, 1.0f, col, K, dz, g->OC,
                      nd->acc_w[0] ? 1.0f : 0.0f, W->g, g->OC);
        if (l->n_params > 1 && l->params[1].trainable)
            keel_sum_rows(dz, l->params[1].g, rows, g->OC, nd->acc_w[1]);
    }
    if (!in->needs_grad) return;
    float beta = nd->acc_in[0] ? 1.0f : 0.0f;
    if (pw) { /* dX (+)= dZ W^T directly */
        keel_gemm(false, true, rows, K, g->OC, 1.0f, dz, g->OC, W->w, g->OC, beta, in->grad, K);
        return;
    }
    /* dcol = dZ W^T into the column buffer (no longer needed), then fold it back */
    keel_gemm(false, true, rows, K, g->OC, 1.0f, dz, g->OC, W->w, g->OC, 0.0f, nd->scratch, K);
    if (!nd->acc_in[0]) memset(in->grad, 0, (size_t)(n * in->size) * sizeof(float));
    keel_col2im(g, nd->scratch, in->grad, n);
}

static const keel_op conv_op = {.name = "conv2d",
                                .infer = conv_infer,
                                .scratch = conv_scratch,
                                .forward = conv_forward,
                                .backward = conv_backward};

static keel_node *conv_build(keel_layer *l, keel_graph *g, keel_node *in) {
    conv_cfg *c = l->cfg;
    keel_node *view = NULL;
    if (c->one_d) { /* (steps, channels) -> (1, steps, channels), and back at the end */
        char a[128];
        if (in->rank != 2) {
            keel_error(KEEL_ERR_SHAPE, "%s: Conv1D expects input (batch, steps, channels), got %s",
                       l->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a));
            return NULL;
        }
        if (!(view = keel_graph_add(g, &keel_op_view1d, NULL, &in, 1))) return NULL;
        in = view;
    }
    /* the kernel's shape needs the input channels: infer first on a provisional node */
    int64_t C = in->rank == 3 ? in->dims[2] : 1;
    if (c->one_d ? !keel_layer_param(
                       l, "kernel", 3, (int64_t[]){c->o.kernel_size[1], C, c->o.filters},
                       c->o.kernel_initializer ? c->o.kernel_initializer : "glorot_uniform",
                       c->o.kernel_regularizer)
                 : !keel_layer_param(
                       l, "kernel", 4,
                       (int64_t[]){c->o.kernel_size[0], c->o.kernel_size[1], C, c->o.filters},
                       c->o.kernel_initializer ? c->o.kernel_initializer : "glorot_uniform",
                       c->o.kernel_regularizer))
        return NULL;
    if (c->o.use_bias && !keel_layer_param(l, "bias", 1, (int64_t[]){c->o.filters},
                                           c->o.bias_initializer ? c->o.bias_initializer : "zeros",
                                           c->o.bias_regularizer))
        return NULL;
    keel_node *nd = keel_graph_add(g, &conv_op, l, &in, 1);
    if (!nd) return NULL;
    /* the direct path's per-thread partial sums, for as many threads as there are now */
    const keel_conv_geom *ge = &nd->geom;
    int64_t KO = ge->KH * ge->KW * ge->C * ge->OC, T = KEEL_MAX(1, keel_threads());
    int64_t floats = (T - 1) * (KO + ge->OC) + 1 + ge->OC + KO + ge->OC;
    conv_state *st = keel_alloc(sizeof(conv_state) + 64 + (size_t)floats * sizeof(float));
    if (!st) return NULL;
    nd->state = st;
    float *f = (float *)(st + 1);
    f += (64 - ((uintptr_t)f & 63)) / sizeof(float); /* 64-byte aligned, for the kernels */
    st->partial_threads = (int)T;
    st->partial = f, f += (T - 1) * (KO + ge->OC) + 1;
    st->db_tmp = f, f += ge->OC;
    st->dw_acc = f, f += KO;
    st->db_acc = f;
    nd->act = c->act;
    nd->keep_pre = keel_act_needs_input(c->act.kind);
    return c->one_d ? keel_graph_add(g, &keel_op_view1d, NULL, &nd, 1) : nd;
}

static void conv_free(keel_layer *l) {
    conv_cfg *c = l->cfg;
    if (!c) return;
    keel_cfg_str_free(c->o.activation);
    keel_cfg_str_free(c->o.kernel_initializer);
    keel_cfg_str_free(c->o.bias_initializer);
    keel_cfg_str_free(c->o.kernel_regularizer);
    keel_cfg_str_free(c->o.bias_regularizer);
}

static keel_status conv_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind conv_kind = {.type = "Conv2D",
                                          .prefix = "conv2d",
                                          .build = conv_build,
                                          .free_cfg = conv_free,
                                          .get_config = conv_get_config};
static const keel_layer_kind conv1d_kind = {.type = "Conv1D",
                                            .prefix = "conv1d",
                                            .build = conv_build,
                                            .free_cfg = conv_free,
                                            .get_config = conv_get_config};

/* {k} means {k, k}; {0, 0} means the default */
bool keel_pair(int64_t *p, int64_t dflt) {
    if (p[0] == 0 && p[1] == 0)
        p[0] = p[1] = dflt;
    else if (p[1] == 0)
        p[1] = p[0];
    return p[0] > 0 && p[1] > 0;
}

bool keel_padding_same(const char *padding, bool *same, const char *what) {
    if (!padding || !strcmp(padding, "valid"))
        *same = false;
    else if (!strcmp(padding, "same"))
        *same = true;
    else {
        keel_error(KEEL_ERR_ARG, "%s: padding must be \"valid\" or \"same\", got \"%s\"", what,
                   padding);
        return false;
    }
    return true;
}

static keel_layer *conv_new(const keel_layer_kind *kind, keel_conv2d_opts o, bool one_d,
                            bool causal);

keel_layer *keel_conv2d_(keel_conv2d_opts o) {
    return conv_new(&conv_kind, o, false, false);
}

/* Conv1D(filters, kernel_size, strides=1, padding="valid", dilation_rate=1): Conv2D with a
 * height of 1 on a view of (steps, channels) */
keel_layer *keel_conv1d_(keel_conv1d_opts o) {
    const char *what = o.name ? o.name : "conv1d";
    bool causal = o.padding && !strcmp(o.padding, "causal");
    if (o.kernel_size <= 0 || o.strides < 0 || o.dilation_rate < 0) {
        keel_error(
            KEEL_ERR_ARG,
            "%s: kernel_size must be positive (it is required), strides and dilation_rate too",
            what);
        return NULL;
    }
    keel_conv2d_opts c = {.filters = o.filters,
                          .kernel_size = {1, o.kernel_size},
                          .strides = {1, o.strides ? o.strides : 1},
                          .padding = causal ? "valid" : o.padding,
                          .dilation_rate = {1, o.dilation_rate ? o.dilation_rate : 1},
                          .activation = o.activation,
                          .use_bias = o.use_bias,
                          .kernel_initializer = o.kernel_initializer,
                          .bias_initializer = o.bias_initializer,
                          .kernel_regularizer = o.kernel_regularizer,
                          .bias_regularizer = o.bias_regularizer,
                          .name = o.name};
    memcpy(c.input_shape, o.input_shape, sizeof c.input_shape);
    if (o.padding && !causal && strcmp(o.padding, "valid") && strcmp(o.padding, "same")) {
        keel_error(KEEL_ERR_ARG,
                   "%s: padding must be \"valid\", \"same\" or \"causal\", got \"%s\"", what,
                   o.padding);
        return NULL;
    }
    return conv_new(&conv1d_kind, c, true, causal);
}

static keel_layer *conv_new(const keel_layer_kind *kind, keel_conv2d_opts o, bool one_d,
                            bool causal) {
    const char *what = o.name ? o.name : kind->prefix;
    if (o.filters <= 0) {
        keel_error(KEEL_ERR_ARG, "%s: filters must be positive, got %lld", what,
                   (long long)o.filters);
        return NULL;
    }
    conv_cfg c = {.o = o, .one_d = one_d, .causal = causal};
    if (!keel_pair(c.o.kernel_size, 0) || !keel_pair(c.o.strides, 1) ||
        !keel_pair(c.o.dilation_rate, 1)) {
        keel_error(
            KEEL_ERR_ARG,
            "%s: kernel_size, strides and dilation_rate must be positive (kernel_size is required)",
            what);
        return NULL;
    }
    if ((c.o.strides[0] > 1 || c.o.strides[1] > 1) &&
        (c.o.dilation_rate[0] > 1 || c.o.dilation_rate[1] > 1)) {
        keel_error(KEEL_ERR_ARG,
                   "%s: strides > 1 together with dilation_rate > 1 is not supported (as in Keras)",
                   what);
        return NULL;
    }
    if (!keel_padding_same(o.padding, &c.same, what)) return NULL;
    if (keel_act_parse(o.activation, &c.act, what) != KEEL_OK) return NULL;
    c.o.activation = c.o.kernel_initializer = c.o.bias_initializer = c.o.kernel_regularizer =
        c.o.bias_regularizer = NULL;
    c.o.name = c.o.padding = NULL;
    keel_layer *l = keel_layer_new(kind, o.name, &c, sizeof c, o.input_shape);
    if (!l) return NULL;
    conv_cfg *lc = l->cfg;
    if (!keel_cfg_str(&lc->o.activation, o.activation) ||
        !keel_cfg_str(&lc->o.kernel_initializer, o.kernel_initializer) ||
        !keel_cfg_str(&lc->o.bias_initializer, o.bias_initializer) ||
        !keel_cfg_str(&lc->o.kernel_regularizer, o.kernel_regularizer) ||
        !keel_cfg_str(&lc->o.bias_regularizer, o.bias_regularizer)) {
        keel_layer_free(l);
        return NULL;
    }
    return l;
}

/* ---------------------------------------------------------------- Keras configs (save/config.h)
 * Conv2D and Conv1D: Keras 3 writes each size as a list (Conv1D's of one entry). */

static keel_status conv_get_config(const keel_layer *l, json_t *cfg) {
    const conv_cfg *c = l->cfg;
    const keel_conv2d_opts *o = &c->o;
    const int n = c->one_d ? 1 : 2, at = c->one_d ? 1 : 0; /* Conv1D: the width entries */
    keel_status st;
    if ((st = keel_cfg_put_int(cfg, "filters", o->filters)) ||
        (st = keel_cfg_put_ints(cfg, "kernel_size", n, o->kernel_size + at)) ||
        (st = keel_cfg_put_ints(cfg, "strides", n, o->strides + at)) ||
        (st = keel_cfg_put_str(cfg, "padding",
                               c->causal ? "causal"
                               : c->same ? "same"
                                         : "valid")) ||
        (st = keel_cfg_put_str(cfg, "data_format", "channels_last")) ||
        (st = keel_cfg_put_ints(cfg, "dilation_rate", n, o->dilation_rate + at)) ||
        (st = keel_cfg_put_int(cfg, "groups", 1)) ||
        (st = keel_cfg_put_activation(cfg, "activation", c->act, l)) ||
        (st = keel_cfg_put_bool(cfg, "use_bias", o->use_bias)) ||
        (st = keel_cfg_put_initializer(
             cfg, "kernel_initializer",
             o->kernel_initializer ? o->kernel_initializer : "glorot_uniform", l)) ||
        (st = keel_cfg_put_initializer(cfg, "bias_initializer",
                                       o->bias_initializer ? o->bias_initializer : "zeros", l)) ||
        (st = keel_cfg_put_regularizer(cfg, "kernel_regularizer", o->kernel_regularizer, l)) ||
        (st = keel_cfg_put_regularizer(cfg, "bias_regularizer", o->bias_regularizer, l)) ||
        (st = keel_cfg_put_null(cfg, "activity_regularizer")) ||
        (st = keel_cfg_put_null(cfg, "kernel_constraint")) ||
        (st = keel_cfg_put_null(cfg, "bias_constraint")))
        return st;
    return KEEL_OK;
}

/* The fields Conv2D and Conv1D share, into o (n: 2 or 1 entries per size) */
typedef struct conv_read {
    char name[64], ki[KEEL_CFG_SPEC_CAP], kr[KEEL_CFG_SPEC_CAP], bi[KEEL_CFG_SPEC_CAP],
        br[KEEL_CFG_SPEC_CAP];
    bool trainable;
    int64_t filters, kernel[2], strides[2], dilation[2];
    int use_bias;
    const char *padding, *activation, *kernel_initializer, *bias_initializer, *kernel_regularizer,
        *bias_regularizer;
} conv_read;

static keel_status conv_read_config(const json_t *cfg, int n, conv_read *r, const char *where) {
    static const char *const keys[] = {
        "filters",          "kernel_size",        "strides",          "padding",
        "data_format",      "dilation_rate",      "groups",           "activation",
        "use_bias",         "kernel_initializer", "bias_initializer", "kernel_regularizer",
        "bias_regularizer", "kernel_constraint",  "bias_constraint",  NULL};
    r->strides[0] = r->strides[1] = r->dilation[0] = r->dilation[1] = 1;
    r->use_bias = 1;
    r->activation = NULL;
    keel_status st;
    if ((st = keel_cfg_check_keys(cfg, keys, where)) ||
        (st = keel_cfg_get_base(cfg, where, r->name, &r->trainable)) ||
        (st = keel_cfg_size(cfg, "filters", false, &r->filters, where)) ||
        (st = keel_cfg_sizes(cfg, "kernel_size", false, n, r->kernel, where)) ||
        (st = keel_cfg_sizes(cfg, "strides", true, n, r->strides, where)) ||
        (st = keel_cfg_padding(cfg, n == 1, &r->padding, where)) ||
        (st = keel_cfg_data_format(cfg, where)) ||
        (st = keel_cfg_sizes(cfg, "dilation_rate", true, n, r->dilation, where)) ||
        (st = keel_cfg_require_number(cfg, "groups", 1, where)) ||
        (st = keel_cfg_activation(cfg, "activation", &r->activation, where)) ||
        (st = keel_cfg_bool(cfg, "use_bias", true, &r->use_bias, where)) ||
        (st = keel_cfg_weight(cfg, "kernel", r->ki, &r->kernel_initializer, r->kr,
                              &r->kernel_regularizer, where)) ||
        (st = keel_cfg_weight(cfg, "bias", r->bi, &r->bias_initializer, r->br, &r->bias_regularizer,
                              where)))
        return st;
    return KEEL_OK;
}

keel_layer *keel_conv2d_from_config(const json_t *cfg, const char *where) {
    conv_read r;
    if (conv_read_config(cfg, 2, &r, where)) return NULL;
    keel_conv2d_opts o = {.filters = r.filters,
                          .kernel_size = {r.kernel[0], r.kernel[1]},
                          .strides = {r.strides[0], r.strides[1]},
                          .padding = r.padding,
                          .dilation_rate = {r.dilation[0], r.dilation[1]},
                          .activation = r.activation,
                          .use_bias = r.use_bias,
                          .kernel_initializer = r.kernel_initializer,
                          .bias_initializer = r.bias_initializer,
                          .kernel_regularizer = r.kernel_regularizer,
                          .bias_regularizer = r.bias_regularizer,
                          .name = r.name[0] ? r.name : NULL};
    keel_layer *l = keel_conv2d_(o);
    if (l) keel_cfg_apply_base(l, r.trainable);
    return l;
}

keel_layer *keel_conv1d_from_config(const json_t *cfg, const char *where) {
    conv_read r;
    if (conv_read_config(cfg, 1, &r, where)) return NULL;
    keel_conv1d_opts o = {.filters = r.filters,
                          .kernel_size = r.kernel[0],
                          .strides = r.strides[0],
                          .padding = r.padding,
                          .dilation_rate = r.dilation[0],
                          .activation = r.activation,
                          .use_bias = r.use_bias,
                          .kernel_initializer = r.kernel_initializer,
                          .bias_initializer = r.bias_initializer,
                          .kernel_regularizer = r.kernel_regularizer,
                          .bias_regularizer = r.bias_regularizer,
                          .name = r.name[0] ? r.name : NULL};
    keel_layer *l = keel_conv1d_(o);
    if (l) keel_cfg_apply_base(l, r.trainable);
    return l;
}
