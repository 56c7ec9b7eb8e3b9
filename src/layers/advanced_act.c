/* advanced_act.c: the activation layers GANs use: LeakyReLU (tf.keras 2's default alpha 0.3,
 * not the 0.2 of the "leaky_relu" function), ReLU, ELU, Softmax, which run the Activation op
 * with a fixed function, and PReLU, whose slope is a weight. */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

typedef struct act_cfg {
    keel_act act;
} act_cfg;

static keel_node *act_build(keel_layer *l, keel_graph *g, keel_node *in) {
    keel_node *nd = keel_graph_add(g, &keel_op_activation, l, &in, 1);
    if (!nd) return NULL;
    nd->act = ((act_cfg *)l->cfg)->act;
    nd->keep_pre = keel_act_needs_input(nd->act.kind);
    return nd;
}

static keel_status act_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind leaky_kind = {
    .type = "LeakyReLU", .prefix = "leaky_re_lu", .build = act_build, .get_config = act_get_config};
static const keel_layer_kind relu_kind = {
    .type = "ReLU", .prefix = "re_lu", .build = act_build, .get_config = act_get_config};
static const keel_layer_kind elu_kind = {
    .type = "ELU", .prefix = "elu", .build = act_build, .get_config = act_get_config};
static const keel_layer_kind softmax_kind = {
    .type = "Softmax", .prefix = "softmax", .build = act_build, .get_config = act_get_config};

static keel_layer *act_layer(const keel_layer_kind *kind, keel_act a, const char *name,
                             const int64_t *input_shape) {
    act_cfg c = {a};
    return keel_layer_new(kind, name, &c, sizeof c, input_shape);
}

keel_layer *keel_leaky_relu_(keel_leaky_relu_opts o) {
    if (!(o.alpha >= 0) || !isfinite(o.alpha)) {
        keel_error(KEEL_ERR_ARG, "%s: alpha must be a finite number >= 0, got %g",
                   o.name ? o.name : "leaky_re_lu", o.alpha);
        return NULL;
    }
    return act_layer(&leaky_kind, (keel_act){KEEL_ACT_LEAKY_RELU, o.alpha}, o.name, o.input_shape);
}

keel_layer *keel_relu_(keel_relu_opts o) {
    return act_layer(&relu_kind, (keel_act){KEEL_ACT_RELU, 0}, o.name, o.input_shape);
}

keel_layer *keel_elu_(keel_elu_opts o) {
    if (!isfinite(o.alpha)) {
        keel_error(KEEL_ERR_ARG, "%s: alpha must be finite", o.name ? o.name : "elu");
        return NULL;
    }
    return act_layer(&elu_kind, (keel_act){KEEL_ACT_ELU, o.alpha}, o.name, o.input_shape);
}

keel_layer *keel_softmax_(keel_softmax_opts o) {
    if (o.axis != -1 && o.axis != 0) {
        keel_error(KEEL_ERR_ARG,
                   "%s: keel's Softmax layer works along the last axis (axis=-1), got %d",
                   o.name ? o.name : "softmax", o.axis);
        return NULL;
    }
    return act_layer(&softmax_kind, (keel_act){KEEL_ACT_SOFTMAX, 0}, o.name, o.input_shape);
}

/* ---------------------------------------------------------------- PReLU
 * y = x for x > 0, alpha * x otherwise, with alpha a weight of the input's per-sample shape,
 * size 1 along the shared axes. The backward follows TensorFlow's relu(x) - alpha relu(-x):
 * at exactly 0 both parts pass no gradient. */

typedef struct prelu_cfg {
    keel_prelu_opts o;
    int shared; /* bit d: per-sample axis d is shared */
} prelu_cfg;

static keel_status prelu_infer(keel_node *nd) {
    nd->rank = nd->in[0]->rank;
    memcpy(nd->dims, nd->in[0]->dims, sizeof nd->dims);
    return KEEL_OK;
}

/* The positions of a sample in order, with the index k of each one's alpha: an odometer over
 * the per-sample axes, where an axis alpha has size 1 along (shared) does not move k. Walked,
 * not looked up: a table of an index per position, made at build, cost as much memory as the
 * layer's input (gigabytes for a shape a model file merely declares). */
typedef struct prelu_pos {
    int rank;
    int64_t dims[4], step[4], coord[4], k;
} prelu_pos;

static prelu_pos prelu_start(const keel_node *nd) {
    prelu_pos p = {.rank = nd->rank};
    const int64_t *adims = nd->layer->params[0].dims;
    for (int64_t d = nd->rank - 1, s = 1; d >= 0; d--) {
        p.dims[d] = nd->dims[d];
        p.step[d] = adims[d] == 1 ? 0 : s;
        s *= adims[d];
    }
    return p;
}

static inline void prelu_next(prelu_pos *p) {
    for (int d = p->rank - 1; d >= 0; d--) {
        p->k += p->step[d];
        if (++p->coord[d] < p->dims[d]) return;
        p->k -= p->step[d] * p->dims[d];
        p->coord[d] = 0;
    }
}

static void prelu_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const float *x = nd->in[0]->val, *alpha = nd->layer->params[0].w;
    float *y = nd->val;
    for (int64_t b = 0; b < n; b++) {
        prelu_pos p = prelu_start(nd);
        for (int64_t i = 0; i < nd->size; i++, prelu_next(&p)) {
            float v = x[b * nd->size + i];
            y[b * nd->size + i] = v > 0 ? v : alpha[p.k] * v;
        }
    }
}

static void prelu_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    keel_param *A = &nd->layer->params[0];
    const float *x = in->val, *dy = nd->grad;
    if (A->trainable) { /* dalpha[k] (+)= sum of dy * x where x < 0, over the positions sharing k */
        if (!nd->acc_w[0]) memset(A->g, 0, (size_t)A->size * sizeof(float));
        for (int64_t b = 0; b < n; b++) {
            prelu_pos p = prelu_start(nd);
            for (int64_t i = 0; i < nd->size; i++, prelu_next(&p)) {
                float v = x[b * nd->size + i];
                if (v < 0) A->g[p.k] += dy[b * nd->size + i] * v;
            }
        }
    }
    if (!in->needs_grad) return;
    for (int64_t b = 0; b < n; b++) {
        prelu_pos p = prelu_start(nd);
        for (int64_t i = 0; i < nd->size; i++, prelu_next(&p)) {
            int64_t j = b * nd->size + i;
            float v = x[j], g = v > 0 ? dy[j] : v < 0 ? A->w[p.k] * dy[j] : 0.0f;
            in->grad[j] = nd->acc_in[0] ? in->grad[j] + g : g;
        }
    }
}

static const keel_op prelu_op = {
    .name = "prelu", .infer = prelu_infer, .forward = prelu_forward, .backward = prelu_backward};

static keel_node *prelu_build(keel_layer *l, keel_graph *g, keel_node *in) {
    const prelu_cfg *c = l->cfg;
    int64_t adims[4];
    int rank = in->rank;
    if (rank > 4) {
        keel_error(KEEL_ERR_SHAPE,
                   "%s: PReLU takes inputs of up to 4 dimensions per sample, got %d", l->name,
                   rank);
        return NULL;
    }
    for (int d = 0; d < rank; d++)
        adims[d] = (c->shared >> d & 1) ? 1 : in->dims[d];
    if (!keel_layer_param(l, "alpha", rank, adims,
                          c->o.alpha_initializer ? c->o.alpha_initializer : "zeros", NULL))
        return NULL;
    return keel_graph_add(g, &prelu_op, l, &in, 1);
}

static void prelu_free(keel_layer *l) {
    prelu_cfg *c = l->cfg;
    if (c) keel_cfg_str_free(c->o.alpha_initializer);
}

static keel_status prelu_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind prelu_kind = {.type = "PReLU",
                                           .prefix = "p_re_lu",
                                           .build = prelu_build,
                                           .free_cfg = prelu_free,
                                           .get_config = prelu_get_config};

keel_layer *keel_prelu_(keel_prelu_opts o) {
    const char *what = o.name ? o.name : "p_re_lu";
    prelu_cfg c = {.o = o};
    for (int i = 0; i < KEEL_MAX_RANK && o.shared_axes[i]; i++) {
        /* Keras counts the batch axis: shared_axes=[1, 2] shares height and width */
        if (o.shared_axes[i] < 1 || o.shared_axes[i] > 4) {
            keel_error(KEEL_ERR_ARG,
                       "%s: shared_axes entries count from 1 (the batch axis is 0), got %d", what,
                       o.shared_axes[i]);
            return NULL;
        }
        c.shared |= 1 << (o.shared_axes[i] - 1);
    }
    c.o.alpha_initializer = NULL;
    c.o.name = NULL;
    keel_layer *l = keel_layer_new(&prelu_kind, o.name, &c, sizeof c, o.input_shape);
    if (!l) return NULL;
    if (!keel_cfg_str(&((prelu_cfg *)l->cfg)->o.alpha_initializer, o.alpha_initializer)) {
        keel_layer_free(l);
        return NULL;
    }
    return l;
}

/* ---------------------------------------------------------------- Keras configs (save/config.h) */

static keel_status act_get_config(const keel_layer *l, json_t *cfg) {
    keel_act a = ((const act_cfg *)l->cfg)->act;
    keel_status st;
    switch (a.kind) {
    case KEEL_ACT_LEAKY_RELU: return keel_cfg_put_float(cfg, "negative_slope", a.alpha);
    case KEEL_ACT_ELU: return keel_cfg_put_float(cfg, "alpha", a.alpha);
    case KEEL_ACT_SOFTMAX: return keel_cfg_put_int(cfg, "axis", -1);
    default: /* ReLU: the plain one, which is all keel's layer is */
        if ((st = keel_cfg_put_null(cfg, "max_value")) ||
            (st = keel_cfg_put_float(cfg, "negative_slope", 0.0f)) ||
            (st = keel_cfg_put_float(cfg, "threshold", 0.0f)))
            return st;
        return KEEL_OK;
    }
}

keel_layer *keel_leaky_relu_from_config(const json_t *cfg, const char *where) {
    /* Keras 3 names the slope negative_slope, tf.keras 2 alpha */
    static const char *const keys[] = {"negative_slope", "alpha", NULL};
    char name[64];
    bool trainable;
    keel_leaky_relu_opts o = {.alpha = 0.3f};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_float(cfg, json_object_get(cfg, "negative_slope") ? "negative_slope" : "alpha",
                       true, &o.alpha, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_leaky_relu_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_relu_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"max_value", "negative_slope", "threshold", NULL};
    char name[64];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_require_default(cfg, "max_value", NULL, where) ||
        keel_cfg_require_number(cfg, "negative_slope", 0, where) ||
        keel_cfg_require_number(cfg, "threshold", 0, where))
        return NULL;
    keel_layer *l = keel_relu(.name = name[0] ? name : NULL);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_elu_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"alpha", NULL};
    char name[64];
    bool trainable;
    keel_elu_opts o = {.alpha = 1.0f};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_float(cfg, "alpha", true, &o.alpha, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_elu_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_softmax_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"axis", NULL};
    char name[64];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_require_number(cfg, "axis", -1, where))
        return NULL;
    keel_layer *l = keel_softmax(.name = name[0] ? name : NULL);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

static keel_status prelu_get_config(const keel_layer *l, json_t *cfg) {
    const prelu_cfg *c = l->cfg;
    int64_t axes[KEEL_MAX_RANK];
    int n = 0;
    for (; n < KEEL_MAX_RANK && c->o.shared_axes[n]; n++)
        axes[n] = c->o.shared_axes[n];
    keel_status st;
    if ((st = keel_cfg_put_initializer(cfg, "alpha_initializer",
                                       c->o.alpha_initializer ? c->o.alpha_initializer : "zeros",
                                       l)) ||
        (st = keel_cfg_put_null(cfg, "alpha_regularizer")) ||
        (st = keel_cfg_put_null(cfg, "alpha_constraint")) ||
        (st = n ? keel_cfg_put_ints(cfg, "shared_axes", n, axes)
                : keel_cfg_put_null(cfg, "shared_axes")))
        return st;
    return KEEL_OK;
}

keel_layer *keel_prelu_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"alpha_initializer", "alpha_regularizer", "alpha_constraint",
                                       "shared_axes", NULL};
    char name[64], ai[KEEL_CFG_SPEC_CAP], ar[KEEL_CFG_SPEC_CAP];
    const char *reg = NULL;
    bool trainable;
    keel_prelu_opts o = {0};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_weight(cfg, "alpha", ai, &o.alpha_initializer, ar, &reg, where))
        return NULL;
    if (reg) {
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: config.alpha_regularizer = %s is not supported by keel's PReLU", where,
                   reg);
        return NULL;
    }
    /* shared_axes: null, one axis or a list (Keras's numbering, the batch axis 0) */
    const json_t *v = json_object_get(cfg, "shared_axes");
    if (v && !json_is_null(v)) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (n > KEEL_MAX_RANK) {
            keel_error(KEEL_ERR_FORMAT, "%s: config.shared_axes has %zu entries", where, n);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_integer(e) || json_integer_value(e) < 1 ||
                json_integer_value(e) > KEEL_MAX_RANK) {
                keel_error(KEEL_ERR_FORMAT,
                           "%s: config.shared_axes[%zu] is not an axis from 1 to %d", where, i,
                           KEEL_MAX_RANK);
                return NULL;
            }
            o.shared_axes[i] = (int)json_integer_value(e);
        }
    }
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_prelu_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
