/* resample_layers.c: the layers that make images larger, over the kernels of
 * src/kernels/resample.h: UpSampling2D(size, interpolation) and Conv2DTranspose(filters,
 * kernel_size, strides, padding, output_padding, activation, use_bias, ...). Per-call geometry
 * lives in node->state. */
#include "../kernels/resample.h"
#include "layers.h"

#include <stdio.h>

static const char *rank_hint(const keel_node *in) {
    return in->rank == 2 ? " (the input has no channel axis: reshape to (H, W, 1))" : "";
}

/* ---------------------------------------------------------------- UpSampling2D */

typedef struct up_cfg {
    int64_t size[2];
    keel_interp interp;
} up_cfg;

static keel_status up_infer(keel_node *nd) {
    const up_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank != 3)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: UpSampling2D expects input (batch, height, width, channels), got %s%s",
                  nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a),
                  rank_hint(in));
    keel_upsample_geom g = {.H = in->dims[0],
                            .W = in->dims[1],
                            .C = in->dims[2],
                            .SH = c->size[0],
                            .SW = c->size[1],
                            .interp = c->interp};
    keel_status st = keel_upsample_geom_init(&g, nd->layer->name);
    if (st) return st;
    nd->rank = 3;
    nd->dims[0] = g.OH, nd->dims[1] = g.OW, nd->dims[2] = g.C;
    return KEEL_OK;
}

static keel_upsample_geom up_geom(const keel_node *nd) {
    const up_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    return (keel_upsample_geom){.H = in->dims[0],
                                .W = in->dims[1],
                                .C = in->dims[2],
                                .SH = c->size[0],
                                .SW = c->size[1],
                                .interp = c->interp,
                                .OH = nd->dims[0],
                                .OW = nd->dims[1]};
}

static void up_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_upsample_geom g = up_geom(nd);
    keel_upsample_forward(&g, nd->in[0]->val, nd->val, n);
}

static void up_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    if (!nd->in[0]->needs_grad) return;
    keel_upsample_geom g = up_geom(nd);
    keel_upsample_backward(&g, nd->grad, nd->in[0]->grad, n, nd->acc_in[0]);
}

static const keel_op up_op = {
    .name = "upsampling2d", .infer = up_infer, .forward = up_forward, .backward = up_backward};

static keel_node *up_build(keel_layer *l, keel_graph *g, keel_node *in) {
    return keel_graph_add(g, &up_op, l, &in, 1);
}

static const keel_layer_kind up_kind = {
    .type = "UpSampling2D", .prefix = "up_sampling2d", .build = up_build};

keel_layer *keel_upsampling2d_(keel_upsampling2d_opts o) {
    const char *what = o.name ? o.name : "up_sampling2d";
    up_cfg c = {.size = {o.size[0], o.size[1]}};
    if (!keel_pair(c.size, 2)) {
        keel_error(KEEL_ERR_ARG, "%s: size must be positive, got (%lld, %lld)", what,
                   (long long)o.size[0], (long long)o.size[1]);
        return NULL;
    }
    if (keel_interp_parse(o.interpolation, &c.interp, what)) return NULL;
    return keel_layer_new(&up_kind, o.name, &c, sizeof c, o.input_shape);
}

/* ---------------------------------------------------------------- Conv2DTranspose */

typedef struct deconv_cfg {
    keel_conv2d_transpose_opts o;
    keel_act act;
    bool same;
} deconv_cfg;

static keel_status deconv_geom(const keel_node *nd, keel_deconv_geom *g) {
    const deconv_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    *g = (keel_deconv_geom){.H = in->dims[0],
                            .W = in->dims[1],
                            .C = in->dims[2],
                            .OC = c->o.filters,
                            .KH = c->o.kernel_size[0],
                            .KW = c->o.kernel_size[1],
                            .SH = c->o.strides[0],
                            .SW = c->o.strides[1],
                            .same = c->same,
                            .OPH = c->o.output_padding[0],
                            .OPW = c->o.output_padding[1]};
    return keel_deconv_geom_init(g, nd->layer->name);
}

static keel_status deconv_infer(keel_node *nd) {
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank != 3)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: Conv2DTranspose expects input (batch, height, width, channels), got %s%s",
                  nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a),
                  rank_hint(in));
    keel_deconv_geom g;
    keel_status st = deconv_geom(nd, &g);
    if (st) return st;
    nd->rank = 3;
    nd->dims[0] = g.OH, nd->dims[1] = g.OW, nd->dims[2] = g.OC;
    return KEEL_OK;
}

static int64_t deconv_scratch(const keel_node *nd) {
    return keel_deconv_scratch(nd->state);
}

static void deconv_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const keel_deconv_geom *g = nd->state;
    const keel_layer *l = nd->layer;
    keel_deconv_forward(g, nd->in[0]->val, l->params[0].w, NULL, nd->val, n, nd->scratch);
    keel_bias_act(nd->act, nd->val, l->n_params > 1 ? l->params[1].w : NULL,
                  nd->keep_pre ? nd->pre : NULL, n * g->OH * g->OW, g->OC);
}

static void deconv_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const keel_deconv_geom *g = nd->state;
    keel_layer *l = nd->layer;
    keel_node *in = nd->in[0];
    float *dz = nd->grad;
    if (!nd->loss_fused)
        keel_act_backward(nd->act, nd->pre, nd->val, dz, dz, n * g->OH * g->OW, g->OC);
    bool has_b = l->n_params > 1 && l->params[1].trainable;
    keel_deconv_grads gr = {.dx = in->needs_grad ? in->grad : NULL,
                            .dw = l->params[0].trainable ? l->params[0].g : NULL,
                            .db = has_b ? l->params[1].g : NULL,
                            .accumulate_dx = nd->acc_in[0],
                            .accumulate_dw = nd->acc_w[0]};
    keel_deconv_backward(g, in->val, l->params[0].w, dz, gr, n, nd->scratch);
}

static const keel_op deconv_op = {.name = "conv2d_transpose",
                                  .infer = deconv_infer,
                                  .scratch = deconv_scratch,
                                  .forward = deconv_forward,
                                  .backward = deconv_backward};

static keel_node *deconv_build(keel_layer *l, keel_graph *g, keel_node *in) {
    const deconv_cfg *c = l->cfg;
    int64_t C = in->rank == 3 ? in->dims[2] : 1;
    /* Keras stores a transposed kernel with the output channels first: (KH, KW, filters, in) */
    if (!keel_layer_param(l, "kernel", 4,
                          (int64_t[]){c->o.kernel_size[0], c->o.kernel_size[1], c->o.filters, C},
                          c->o.kernel_initializer ? c->o.kernel_initializer : "glorot_uniform",
                          c->o.kernel_regularizer))
        return NULL;
    if (c->o.use_bias && !keel_layer_param(l, "bias", 1, (int64_t[]){c->o.filters},
                                           c->o.bias_initializer ? c->o.bias_initializer : "zeros",
                                           c->o.bias_regularizer))
        return NULL;
    keel_node *nd = keel_graph_add(g, &deconv_op, l, &in, 1);
    if (!nd) return NULL;
    keel_deconv_geom *geom = keel_alloc(sizeof *geom); /* infer checked it: init cannot fail now */
    if (!geom) return NULL;
    nd->state = geom;
    deconv_geom(nd, geom);
    nd->act = c->act;
    nd->keep_pre = keel_act_needs_input(c->act.kind);
    return nd;
}

static void deconv_free(keel_layer *l) {
    deconv_cfg *c = l->cfg;
    if (!c) return;
    keel_cfg_str_free(c->o.activation);
    keel_cfg_str_free(c->o.kernel_initializer);
    keel_cfg_str_free(c->o.bias_initializer);
    keel_cfg_str_free(c->o.kernel_regularizer);
    keel_cfg_str_free(c->o.bias_regularizer);
}

static const keel_layer_kind deconv_kind = {.type = "Conv2DTranspose",
                                            .prefix = "conv2d_transpose",
                                            .build = deconv_build,
                                            .free_cfg = deconv_free};

keel_layer *keel_conv2d_transpose_(keel_conv2d_transpose_opts o) {
    const char *what = o.name ? o.name : "conv2d_transpose";
    if (o.filters <= 0) {
        keel_error(KEEL_ERR_ARG, "%s: filters must be positive, got %lld", what,
                   (long long)o.filters);
        return NULL;
    }
    deconv_cfg c = {.o = o};
    if (!keel_pair(c.o.kernel_size, 0) || !keel_pair(c.o.strides, 1)) {
        keel_error(KEEL_ERR_ARG,
                   "%s: kernel_size and strides must be positive (kernel_size is required)", what);
        return NULL;
    }
    /* output_padding: {-1, -1} (the macro's default) is None; {p} (read as {p, 0}) means {p, p} */
    if (c.o.output_padding[0] > 0 && c.o.output_padding[1] == 0)
        c.o.output_padding[1] = c.o.output_padding[0];
    if (!keel_padding_same(o.padding, &c.same, what)) return NULL;
    if (keel_act_parse(o.activation, &c.act, what) != KEEL_OK) return NULL;
    c.o.activation = c.o.kernel_initializer = c.o.bias_initializer = NULL;
    c.o.kernel_regularizer = c.o.bias_regularizer = NULL;
    c.o.name = c.o.padding = NULL;
    keel_layer *l = keel_layer_new(&deconv_kind, o.name, &c, sizeof c, o.input_shape);
    if (!l) return NULL;
    deconv_cfg *lc = l->cfg;
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
