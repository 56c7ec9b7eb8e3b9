/* resample_layers.c: the layers that make images larger, over the kernels of
 * src/kernels/resample.h: UpSampling2D(size, interpolation) and Conv2DTranspose(filters,
 * kernel_size, strides, padding, output_padding, activation, use_bias, ...). Per-call geometry
 * lives in node->state. */
#include "../kernels/resample.h"
#include "../save/config.h"
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

static keel_status up_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind up_kind = {.type = "UpSampling2D",
                                        .prefix = "up_sampling2d",
                                        .build = up_build,
                                        .get_config = up_get_config};

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

static keel_status deconv_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind deconv_kind = {.type = "Conv2DTranspose",
                                            .prefix = "conv2d_transpose",
                                            .build = deconv_build,
                                            .free_cfg = deconv_free,
                                            .get_config = deconv_get_config};

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

/* ---------------------------------------------------------------- Keras configs (save/config.h) */

static keel_status up_get_config(const keel_layer *l, json_t *cfg) {
    const up_cfg *c = l->cfg;
    keel_status st;
    if ((st = keel_cfg_put_ints(cfg, "size", 2, c->size)) ||
        (st = keel_cfg_put_str(cfg, "data_format", "channels_last")) ||
        (st = keel_cfg_put_str(cfg, "interpolation", keel_interp_name(c->interp))))
        return st;
    return KEEL_OK;
}

keel_layer *keel_upsampling2d_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"size", "data_format", "interpolation", NULL};
    char name[64];
    bool trainable;
    keel_upsampling2d_opts o = {.size = {2, 2}};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_sizes(cfg, "size", true, 2, o.size, where) || keel_cfg_data_format(cfg, where) ||
        keel_cfg_string(cfg, "interpolation", true, &o.interpolation, where))
        return NULL;
    keel_interp k;
    /* Keras's other methods (bicubic, area, lanczos3, ...) are valid files keel cannot run */
    if (keel_interp_parse(o.interpolation, &k, "interpolation")) {
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: config.interpolation = '%.40s' is not supported by keel (nearest or "
                   "bilinear)",
                   where, o.interpolation);
        return NULL;
    }
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_upsampling2d_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

static keel_status deconv_get_config(const keel_layer *l, json_t *cfg) {
    const deconv_cfg *c = l->cfg;
    const keel_conv2d_transpose_opts *o = &c->o;
    static const int64_t one[2] = {1, 1};
    bool no_pad = o->output_padding[0] < 0; /* {-1, -1}: None */
    keel_status st;
    if ((st = keel_cfg_put_int(cfg, "filters", o->filters)) ||
        (st = keel_cfg_put_ints(cfg, "kernel_size", 2, o->kernel_size)) ||
        (st = keel_cfg_put_ints(cfg, "strides", 2, o->strides)) ||
        (st = keel_cfg_put_str(cfg, "padding", c->same ? "same" : "valid")) ||
        (st = no_pad ? keel_cfg_put_null(cfg, "output_padding")
                     : keel_cfg_put_ints(cfg, "output_padding", 2, o->output_padding)) ||
        (st = keel_cfg_put_str(cfg, "data_format", "channels_last")) ||
        (st = keel_cfg_put_ints(cfg, "dilation_rate", 2, one)) ||
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

/* output_padding: null (None), an integer or a pair, each >= 0 */
static keel_status deconv_output_padding(const json_t *cfg, int64_t op[2], const char *where) {
    op[0] = op[1] = -1;
    if (!json_object_get(cfg, "output_padding") ||
        json_is_null(json_object_get(cfg, "output_padding")))
        return KEEL_OK;
    keel_status st = keel_cfg_ints(cfg, "output_padding", false, 2, op, where);
    if (st) return st;
    if (op[0] < 0 || op[1] < 0 || op[0] > KEEL_CFG_SIZE_MAX || op[1] > KEEL_CFG_SIZE_MAX)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.output_padding = (%lld, %lld), expected sizes >= 0",
                  where, (long long)op[0], (long long)op[1]);
    /* keel's option reads {p, 0} as {p, p} */
    if (op[0] > 0 && op[1] == 0)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.output_padding = (%lld, 0) is not supported by keel", where,
                  (long long)op[0]);
    return KEEL_OK;
}

keel_layer *keel_conv2d_transpose_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"filters",
                                       "kernel_size",
                                       "strides",
                                       "padding",
                                       "output_padding",
                                       "data_format",
                                       "dilation_rate",
                                       "groups",
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
    int64_t dilation[2] = {1, 1};
    keel_conv2d_transpose_opts o = {.strides = {1, 1}, .use_bias = 1};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_size(cfg, "filters", false, &o.filters, where) ||
        keel_cfg_sizes(cfg, "kernel_size", false, 2, o.kernel_size, where) ||
        keel_cfg_sizes(cfg, "strides", true, 2, o.strides, where) ||
        keel_cfg_padding(cfg, false, &o.padding, where) ||
        deconv_output_padding(cfg, o.output_padding, where) || keel_cfg_data_format(cfg, where) ||
        keel_cfg_sizes(cfg, "dilation_rate", true, 2, dilation, where) ||
        keel_cfg_require_number(cfg, "groups", 1, where) ||
        keel_cfg_activation(cfg, "activation", &o.activation, where) ||
        keel_cfg_bool(cfg, "use_bias", true, &o.use_bias, where) ||
        keel_cfg_weight(cfg, "kernel", ki, &o.kernel_initializer, kr, &o.kernel_regularizer,
                        where) ||
        keel_cfg_weight(cfg, "bias", bi, &o.bias_initializer, br, &o.bias_regularizer, where))
        return NULL;
    if (dilation[0] != 1 || dilation[1] != 1) {
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: config.dilation_rate = (%lld, %lld) is not supported by keel's "
                   "Conv2DTranspose",
                   where, (long long)dilation[0], (long long)dilation[1]);
        return NULL;
    }
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_conv2d_transpose_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
