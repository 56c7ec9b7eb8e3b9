/* basic.c: the layers without weights that only move or gate values: Input, Activation,
 * Dropout, Flatten, Reshape. */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

bool keel_cfg_str(const char **dst, const char *src) {
    *dst = NULL;
    if (!src) return true;
    *dst = keel_strdup(src);
    return *dst != NULL;
}

void keel_cfg_str_free(const char *s) {
    keel_free((void *)s);
}

/* ---------------------------------------------------------------- Input */

static keel_node *input_build(keel_layer *l, keel_graph *g, keel_node *in) {
    (void)l, (void)g;
    return in; /* the model made the input node from this layer's shape */
}

static keel_status input_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind input_kind = {
    .type = "InputLayer", .prefix = "input", .build = input_build, .get_config = input_get_config};

keel_layer *keel_input_(keel_input_opts o) {
    int r = keel_dims_rank(o.shape);
    if (r == 0) {
        keel_error(KEEL_ERR_ARG,
                   "input: shape is empty (give the per-sample shape, e.g. .shape = {784})");
        return NULL;
    }
    for (int i = r; i < KEEL_MAX_RANK; i++)
        if (o.shape[i] != 0) {
            keel_error(KEEL_ERR_ARG, "input: shape has a zero dimension at axis %d", r);
            return NULL;
        }
    for (int i = 0; i < r; i++)
        if (o.shape[i] < 0) {
            keel_error(KEEL_ERR_ARG, "input: dimension %d is negative (%lld)", i,
                       (long long)o.shape[i]);
            return NULL;
        }
    return keel_layer_new(&input_kind, o.name, NULL, 0, o.shape);
}

static keel_status input_infer(keel_node *nd) {
    (void)nd;
    return KEEL_OK;
}
const keel_op keel_op_input = {.name = "input", .infer = input_infer};

/* ---------------------------------------------------------------- Activation */

static keel_status same_infer(keel_node *nd) {
    nd->rank = nd->in[0]->rank;
    memcpy(nd->dims, nd->in[0]->dims, sizeof nd->dims);
    return KEEL_OK;
}

static void activation_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    int64_t cols = nd->dims[nd->rank - 1], rows = n * nd->size / cols;
    if (nd->keep_pre) memcpy(nd->pre, nd->in[0]->val, (size_t)(n * nd->size) * sizeof(float));
    keel_act_forward(nd->act, nd->in[0]->val, nd->val, rows, cols);
}

/* d(in) (+)= act'(in) * d(out); the gradient buffer is turned into d(in) in place first */
static void activation_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    int64_t cols = nd->dims[nd->rank - 1], rows = n * nd->size / cols, total = n * nd->size;
    if (!nd->loss_fused)
        keel_act_backward(nd->act, nd->pre, nd->val, nd->grad, nd->grad, rows, cols);
    if (nd->acc_in[0])
        for (int64_t i = 0; i < total; i++)
            in->grad[i] += nd->grad[i];
    else
        memcpy(in->grad, nd->grad, (size_t)total * sizeof(float));
}

const keel_op keel_op_activation = {.keeps_mask = true,
                                    .name = "activation",
                                    .infer = same_infer,
                                    .forward = activation_forward,
                                    .backward = activation_backward};

typedef struct activation_cfg {
    keel_act act;
} activation_cfg;

static keel_node *activation_build(keel_layer *l, keel_graph *g, keel_node *in) {
    keel_node *nd = keel_graph_add(g, &keel_op_activation, l, &in, 1);
    if (!nd) return NULL;
    nd->act = ((activation_cfg *)l->cfg)->act;
    nd->keep_pre = keel_act_needs_input(nd->act.kind);
    return nd;
}

static keel_status activation_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind activation_kind = {.type = "Activation",
                                                .prefix = "activation",
                                                .build = activation_build,
                                                .get_config = activation_get_config};

keel_layer *keel_activation_(keel_activation_opts o) {
    activation_cfg c;
    if (!o.activation) {
        keel_error(KEEL_ERR_ARG, "%s: activation is NULL (give a name such as \"relu\")",
                   o.name ? o.name : "activation");
        return NULL;
    }
    if (keel_act_parse(o.activation, &c.act, o.name ? o.name : "activation") != KEEL_OK)
        return NULL;
    return keel_layer_new(&activation_kind, o.name, &c, sizeof c, o.input_shape);
}

/* ---------------------------------------------------------------- Dropout */

typedef struct dropout_cfg {
    float rate;
    uint64_t seed;
} dropout_cfg;

static int64_t dropout_scratch(const keel_node *nd) {
    return nd->size;
}

/* mask[i] = 1/keep with probability keep, else 0; drawn from (seed, layer, step, i) so a mask
 * does not depend on the thread count */
typedef struct drop_job {
    const float *x;
    float *y, *mask;
    uint64_t base;
    float keep;
} drop_job;

/* mask[i] = 1/keep with probability keep, else 0: the i-th value of the step's counter-based
 * stream, so the mask does not depend on how the range is cut */
static void drop_range(void *ctx, int64_t lo, int64_t hi) {
    const drop_job *j = ctx;
    const float scale = j->keep > 0 ? 1.0f / j->keep : 0.0f;
    for (int64_t i = lo; i < hi; i++) {
        j->mask[i] = keel_rand_uniform_at(j->base, (uint64_t)i) < j->keep ? scale : 0.0f;
        j->y[i] = j->x[i] * j->mask[i];
    }
}

static void dropout_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    const dropout_cfg *c = nd->layer->cfg;
    const float *x = nd->in[0]->val;
    float *y = nd->val, *mask = nd->scratch;
    int64_t total = n * nd->size;
    if (!ctx->training || c->rate == 0) {
        memcpy(y, x, (size_t)total * sizeof *y);
        if (ctx->training) /* backward still reads the mask */
            for (int64_t i = 0; i < total; i++)
                mask[i] = 1.0f;
        return;
    }
    uint64_t seed = c->seed ? c->seed : ctx->seed,
             stream = keel_mix64((uint64_t)nd->id + 1) ^ ctx->step;
    drop_job j = {x, y, mask, keel_rand_base(seed, stream), 1.0f - c->rate};
    keel_parallel_for(total, total * 8, drop_range, &j);
}

static void dropout_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    int64_t total = n * nd->size;
    const float *mask = nd->scratch, *dy = nd->grad;
    if (nd->acc_in[0])
        for (int64_t i = 0; i < total; i++)
            in->grad[i] += dy[i] * mask[i];
    else
        for (int64_t i = 0; i < total; i++)
            in->grad[i] = dy[i] * mask[i];
}

const keel_op keel_op_dropout = {.keeps_mask = true,
                                 .name = "dropout",
                                 .infer = same_infer,
                                 .scratch = dropout_scratch,
                                 .forward = dropout_forward,
                                 .backward = dropout_backward};

static keel_node *dropout_build(keel_layer *l, keel_graph *g, keel_node *in) {
    return keel_graph_add(g, &keel_op_dropout, l, &in, 1);
}

static keel_status dropout_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind dropout_kind = {.type = "Dropout",
                                             .prefix = "dropout",
                                             .build = dropout_build,
                                             .get_config = dropout_get_config};

keel_layer *keel_dropout_(keel_dropout_opts o) {
    if (!(o.rate >= 0 && o.rate <= 1)) {
        keel_error(KEEL_ERR_ARG, "%s: rate must be in [0, 1], got %g", o.name ? o.name : "dropout",
                   o.rate);
        return NULL;
    }
    dropout_cfg c = {.rate = o.rate, .seed = o.seed};
    return keel_layer_new(&dropout_kind, o.name, &c, sizeof c, NULL);
}

/* ---------------------------------------------------------------- Flatten, Reshape */

typedef struct reshape_cfg {
    int rank; /* 0: flatten */
    int64_t dims[KEEL_MAX_RANK];
} reshape_cfg;

static keel_status reshape_infer(keel_node *nd) {
    const reshape_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    if (c->rank == 0) {
        nd->rank = 1;
        nd->dims[0] = in->size;
        return KEEL_OK;
    }
    int64_t known = 1;
    int unknown = -1;
    for (int i = 0; i < c->rank; i++) {
        if (c->dims[i] == -1)
            unknown = i;
        else
            known *= c->dims[i];
    }
    nd->rank = c->rank;
    memcpy(nd->dims, c->dims, sizeof nd->dims);
    char a[128], b[128];
    if (unknown >= 0) {
        if (known == 0 || in->size % known != 0)
            KEEL_FAIL(KEEL_ERR_SHAPE, "%s: cannot reshape input %s (%lld values per sample) to %s",
                      nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a),
                      (long long)in->size, keel_dims_str(c->rank, c->dims, true, b, sizeof b));
        nd->dims[unknown] = in->size / known;
    } else if (known != in->size) {
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: cannot reshape input %s (%lld values per sample) to %s (%lld values)",
                  nd->layer->name, keel_dims_str(in->rank, in->dims, true, a, sizeof a),
                  (long long)in->size, keel_dims_str(c->rank, c->dims, true, b, sizeof b),
                  (long long)known);
    }
    return KEEL_OK;
}

const keel_op keel_op_reshape = {.name = "reshape", .infer = reshape_infer, .alias_input = true};

static keel_node *reshape_build(keel_layer *l, keel_graph *g, keel_node *in) {
    return keel_graph_add(g, &keel_op_reshape, l, &in, 1);
}

static keel_status flatten_get_config(const keel_layer *l, json_t *cfg);
static keel_status reshape_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind flatten_kind = {.type = "Flatten",
                                             .prefix = "flatten",
                                             .build = reshape_build,
                                             .get_config = flatten_get_config};
static const keel_layer_kind reshape_kind = {.type = "Reshape",
                                             .prefix = "reshape",
                                             .build = reshape_build,
                                             .get_config = reshape_get_config};

keel_layer *keel_flatten_(keel_flatten_opts o) {
    reshape_cfg c = {0};
    return keel_layer_new(&flatten_kind, o.name, &c, sizeof c, o.input_shape);
}

keel_layer *keel_reshape_(keel_reshape_opts o) {
    reshape_cfg c = {0};
    c.rank = keel_dims_rank(o.target_shape);
    const char *what = o.name ? o.name : "reshape";
    if (c.rank == 0) {
        keel_error(KEEL_ERR_ARG, "%s: target_shape is empty", what);
        return NULL;
    }
    int unknown = 0;
    for (int i = 0; i < c.rank; i++) {
        if (o.target_shape[i] == -1)
            unknown++;
        else if (o.target_shape[i] < 0) {
            keel_error(KEEL_ERR_ARG, "%s: target_shape[%d] is %lld (only one -1 is allowed)", what,
                       i, (long long)o.target_shape[i]);
            return NULL;
        }
    }
    if (unknown > 1) {
        keel_error(KEEL_ERR_ARG, "%s: target_shape can have only one -1, has %d", what, unknown);
        return NULL;
    }
    memcpy(c.dims, o.target_shape, sizeof c.dims);
    return keel_layer_new(&reshape_kind, o.name, &c, sizeof c, o.input_shape);
}

/* ---------------------------------------------------------------- the 1-D view */

/* (T, C) <-> (1, T, C): a 1-D layer (Conv1D) runs the 2-D op on a view of its input with a
 * height of 1, and views the result back; no copy either way. */
static keel_status view1d_infer(keel_node *nd) {
    const keel_node *in = nd->in[0];
    if (in->rank == 2) {
        nd->rank = 3;
        nd->dims[0] = 1, nd->dims[1] = in->dims[0], nd->dims[2] = in->dims[1];
    } else {
        KEEL_ASSERT(in->rank == 3 && in->dims[0] == 1);
        nd->rank = 2;
        nd->dims[0] = in->dims[1], nd->dims[1] = in->dims[2];
    }
    return KEEL_OK;
}

const keel_op keel_op_view1d = {.name = "view1d", .infer = view1d_infer, .alias_input = true};

/* ---------------------------------------------------------------- Keras configs
 * (save/config.h): each kind's get_config writes the fields Keras 3 writes for it, and its
 * from_config reads either Keras's and calls the constructor above. */

/* An InputLayer read from a file may declare int32 (token ids); keel's Input has no dtype
 * option, so the layer keeps it here only to write it back. NULL cfg: float32. */
typedef struct input_cfg {
    keel_dtype dtype;
} input_cfg;

static keel_status input_get_config(const keel_layer *l, json_t *cfg) {
    /* Keras 3's InputLayer has neither trainable nor a DTypePolicy: its own keys, its order */
    const input_cfg *c = l->cfg;
    json_object_clear(cfg);
    keel_status st;
    if ((st = keel_cfg_put_ints(cfg, "batch_shape", 0, NULL))) return st;
    json_t *shape = json_object_get(cfg, "batch_shape");
    if (json_array_append_new(shape, json_null()))
        KEEL_FAIL(KEEL_ERR_NOMEM, "%s: saving the config: out of memory", l->name);
    for (int i = 0; i < l->input_rank; i++)
        if (json_array_append_new(shape, json_integer(l->input_dims[i])))
            KEEL_FAIL(KEEL_ERR_NOMEM, "%s: saving the config: out of memory", l->name);
    if ((st = keel_cfg_put_str(cfg, "dtype", c && c->dtype == KEEL_INT32 ? "int32" : "float32")) ||
        (st = keel_cfg_put_bool(cfg, "sparse", false)) ||
        (st = keel_cfg_put_bool(cfg, "ragged", false)) ||
        (st = keel_cfg_put_str(cfg, "name", l->name[0] ? l->name : "input_layer")) ||
        (st = keel_cfg_put_bool(cfg, "optional", false)))
        return st;
    return KEEL_OK;
}

keel_layer *keel_input_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"batch_shape", "sparse", "ragged", "optional", NULL};
    const char *name = NULL, *dtype = NULL;
    static const char *const dtypes[] = {"int32", NULL};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_string(cfg, "name", true, &name, where) ||
        keel_cfg_dtype(cfg, dtypes, &dtype, where) ||
        keel_cfg_require_default(cfg, "sparse", NULL, where) ||
        keel_cfg_require_default(cfg, "ragged", NULL, where) ||
        keel_cfg_require_default(cfg, "optional", NULL, where))
        return NULL;
    if (name && strlen(name) >= 64) {
        keel_error(KEEL_ERR_UNSUPPORTED, "%s: config.name is %zu characters; keel keeps 63", where,
                   strlen(name));
        return NULL;
    }
    /* Keras 3 writes batch_shape, tf.keras 2 batch_input_shape */
    const char *key = json_object_get(cfg, "batch_shape") ? "batch_shape" : "batch_input_shape";
    const json_t *shape = json_object_get(cfg, key);
    if (!shape || json_is_null(shape)) {
        keel_error(KEEL_ERR_FORMAT, "%s: config.batch_shape is missing", where);
        return NULL;
    }
    keel_input_opts o = {.name = name};
    int rank;
    if (keel_cfg_shape(shape, key, &rank, o.shape, where)) return NULL;
    keel_layer *l = keel_input_(o);
    if (l && !strcmp(dtype, "int32")) {
        input_cfg *c = keel_alloc(sizeof *c);
        if (!c) {
            keel_layer_free(l);
            return NULL;
        }
        c->dtype = KEEL_INT32;
        l->cfg = c;
    }
    return l;
}

static keel_status activation_get_config(const keel_layer *l, json_t *cfg) {
    return keel_cfg_put_activation(cfg, "activation", ((const activation_cfg *)l->cfg)->act, l);
}

keel_layer *keel_activation_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"activation", NULL};
    char name[64];
    bool trainable;
    const char *act = "";
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_activation(cfg, "activation", &act, where))
        return NULL;
    if (act && !act[0]) { /* absent: Activation's argument is required */
        keel_error(KEEL_ERR_FORMAT, "%s: config.activation is missing", where);
        return NULL;
    }
    keel_layer *l =
        keel_activation(.activation = act ? act : "linear", .name = name[0] ? name : NULL);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

static keel_status dropout_get_config(const keel_layer *l, json_t *cfg) {
    const dropout_cfg *c = l->cfg;
    keel_status st;
    if ((st = keel_cfg_put_float(cfg, "rate", c->rate)) ||
        (st = c->seed ? keel_cfg_put_int(cfg, "seed", (int64_t)c->seed)
                      : keel_cfg_put_null(cfg, "seed")) ||
        (st = keel_cfg_put_null(cfg, "noise_shape")))
        return st;
    return KEEL_OK;
}

keel_layer *keel_dropout_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"rate", "seed", "noise_shape", NULL};
    char name[64];
    bool trainable;
    keel_dropout_opts o = {0};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_float(cfg, "rate", false, &o.rate, where) ||
        keel_cfg_seed(cfg, "seed", &o.seed, where) ||
        keel_cfg_require_default(cfg, "noise_shape", NULL, where))
        return NULL;
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_dropout_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

static keel_status flatten_get_config(const keel_layer *l, json_t *cfg) {
    (void)l;
    return keel_cfg_put_str(cfg, "data_format", "channels_last");
}

keel_layer *keel_flatten_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"data_format", NULL};
    char name[64];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_data_format(cfg, where))
        return NULL;
    keel_layer *l = keel_flatten(.name = name[0] ? name : NULL);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

static keel_status reshape_get_config(const keel_layer *l, json_t *cfg) {
    const reshape_cfg *c = l->cfg;
    return keel_cfg_put_ints(cfg, "target_shape", c->rank, c->dims);
}

keel_layer *keel_reshape_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"target_shape", NULL};
    char name[64];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable))
        return NULL;
    const json_t *t = json_object_get(cfg, "target_shape");
    if (!json_is_array(t)) {
        keel_error(KEEL_ERR_FORMAT, "%s: config.target_shape is %s, expected a list of integers",
                   where, t ? keel_json_type(t) : "missing");
        return NULL;
    }
    size_t n = json_array_size(t);
    if (n == 0 || n > KEEL_MAX_RANK) {
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: config.target_shape has %zu entries; keel takes 1 to %d", where, n,
                   KEEL_MAX_RANK);
        return NULL;
    }
    keel_reshape_opts o = {.name = name[0] ? name : NULL};
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(t, i);
        json_int_t v = json_is_integer(e) ? json_integer_value(e) : 0;
        if (!json_is_integer(e) || v == 0 || v < -1 || v > KEEL_CFG_SIZE_MAX) {
            keel_error(KEEL_ERR_FORMAT,
                       "%s: config.target_shape[%zu] is %s, expected a positive integer or -1",
                       where, i, json_is_integer(e) ? "out of range" : keel_json_type(e));
            return NULL;
        }
        o.target_shape[i] = v;
    }
    keel_layer *l = keel_reshape_(o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
