/* merge.c: the merge layers of the functional API: Add, Subtract, Multiply, Average, Maximum,
 * Minimum (elementwise over inputs of one shape) and Concatenate (along an axis). Each is one
 * op over up to KEEL_MAX_IN inputs. Maximum / Minimum send the gradient to the first input
 * holding the extreme value, as tf.keras's pairwise fold of tf.maximum does (ties go to the
 * earlier input). Shapes must match exactly: tf.keras 2 would broadcast some, keel says which
 * two differ. */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

typedef enum merge_kind { M_ADD, M_SUB, M_MUL, M_AVG, M_MAX, M_MIN, M_CONCAT } merge_kind;

typedef struct merge_cfg {
    merge_kind kind;
    int axis; /* Concatenate: Keras's axis, counting the batch axis (default -1) */
} merge_cfg;

static const char *in_name(const keel_node *nd) {
    return nd->layer ? nd->layer->name : "the input";
}

static keel_status shape_mismatch(const keel_node *nd, int a, int b, const char *what) {
    char x[160], y[160];
    KEEL_FAIL(
        KEEL_ERR_SHAPE, "%s: inputs have %s shapes: %s from %s and %s from %s", nd->layer->name,
        what, keel_dims_str(nd->in[a]->rank, nd->in[a]->dims, true, x, sizeof x),
        in_name(nd->in[a]), keel_dims_str(nd->in[b]->rank, nd->in[b]->dims, true, y, sizeof y),
        in_name(nd->in[b]));
}

/* the per-sample axis a Concatenate joins on, or -1 */
static int concat_axis(const merge_cfg *c, int rank) {
    int a = c->axis < 0 ? rank + 1 + c->axis : c->axis; /* Keras's axis counts the batch axis */
    return a >= 1 && a <= rank ? a - 1 : -1;
}

static keel_status merge_infer(keel_node *nd) {
    const merge_cfg *c = nd->layer->cfg;
    const keel_node *x0 = nd->in[0];
    if (nd->n_in < 2)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: a merge layer needs at least 2 inputs, got %d",
                  nd->layer->name, nd->n_in);
    if (c->kind == M_SUB && nd->n_in != 2)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: Subtract takes exactly 2 inputs, got %d", nd->layer->name,
                  nd->n_in);
    nd->rank = x0->rank;
    memcpy(nd->dims, x0->dims, sizeof nd->dims);
    if (c->kind != M_CONCAT) {
        for (int i = 1; i < nd->n_in; i++) {
            bool same = nd->in[i]->rank == x0->rank;
            for (int d = 0; same && d < x0->rank; d++)
                same = nd->in[i]->dims[d] == x0->dims[d];
            if (!same) return shape_mismatch(nd, 0, i, "different");
        }
        return KEEL_OK;
    }
    int a = concat_axis(c, x0->rank);
    if (a < 0)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: axis %d is out of range for inputs of rank %d (with the batch axis)",
                  nd->layer->name, c->axis, x0->rank + 1);
    for (int i = 1; i < nd->n_in; i++) {
        const keel_node *xi = nd->in[i];
        bool ok = xi->rank == x0->rank;
        for (int d = 0; ok && d < x0->rank; d++)
            ok = d == a || xi->dims[d] == x0->dims[d];
        if (!ok)
            return shape_mismatch(nd, 0, i, "incompatible (they may differ only along the axis)");
        nd->dims[a] += xi->dims[a];
    }
    return KEEL_OK;
}

static void merge_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const merge_cfg *c = nd->layer->cfg;
    float *y = nd->val;
    const int k = nd->n_in;
    if (c->kind == M_CONCAT) {
        int a = concat_axis(c, nd->rank);
        int64_t outer = n, off = 0, row = 1;
        for (int d = 0; d < a; d++)
            outer *= nd->dims[d];
        for (int d = a; d < nd->rank; d++)
            row *= nd->dims[d];
        for (int i = 0; i < k; i++) {
            int64_t part = nd->in[i]->size / (nd->size / row); /* input i's share of one row */
            for (int64_t o = 0; o < outer; o++)
                memcpy(y + o * row + off, nd->in[i]->val + o * part, (size_t)part * sizeof(float));
            off += part;
        }
        return;
    }
    const int64_t total = n * nd->size;
    const float *x0 = nd->in[0]->val;
    memcpy(y, x0, (size_t)total * sizeof(float));
    for (int i = 1; i < k; i++) {
        const float *x = nd->in[i]->val;
        switch (c->kind) {
        case M_ADD:
        case M_AVG:
            for (int64_t j = 0; j < total; j++)
                y[j] += x[j];
            break;
        case M_SUB:
            for (int64_t j = 0; j < total; j++)
                y[j] -= x[j];
            break;
        case M_MUL:
            for (int64_t j = 0; j < total; j++)
                y[j] *= x[j];
            break;
        case M_MAX:
            for (int64_t j = 0; j < total; j++)
                y[j] = x[j] > y[j] ? x[j] : y[j];
            break;
        case M_MIN:
            for (int64_t j = 0; j < total; j++)
                y[j] = x[j] < y[j] ? x[j] : y[j];
            break;
        case M_CONCAT: break;
        }
    }
    if (c->kind == M_AVG)
        for (int64_t j = 0; j < total; j++)
            y[j] /= (float)k;
}

/* dx_i (+)= v, by the graph's accumulation flag for that edge */
static inline void put(keel_node *nd, int i, int64_t j, float v) {
    if (nd->acc_in[i])
        nd->in[i]->grad[j] += v;
    else
        nd->in[i]->grad[j] = v;
}

static void merge_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const merge_cfg *c = nd->layer->cfg;
    const float *dy = nd->grad;
    const int k = nd->n_in;
    if (c->kind == M_CONCAT) { /* each input takes its slice of every row back */
        int a = concat_axis(c, nd->rank);
        int64_t outer = n, off = 0, row = 1;
        for (int d = 0; d < a; d++)
            outer *= nd->dims[d];
        for (int d = a; d < nd->rank; d++)
            row *= nd->dims[d];
        for (int i = 0; i < k; i++) {
            int64_t part = nd->in[i]->size / (nd->size / row);
            if (nd->in[i]->needs_grad)
                for (int64_t o = 0; o < outer; o++)
                    for (int64_t j = 0; j < part; j++)
                        put(nd, i, o * part + j, dy[o * row + off + j]);
            off += part;
        }
        return;
    }
    const int64_t total = n * nd->size;
    for (int i = 0; i < k; i++) {
        if (!nd->in[i]->needs_grad) continue;
        for (int64_t j = 0; j < total; j++) {
            float g = dy[j];
            switch (c->kind) {
            case M_SUB: g = i == 0 ? g : -g; break;
            case M_AVG: g /= (float)k; break;
            case M_MUL: /* d(prod)/dx_i = prod of the others */
                for (int q = 0; q < k; q++)
                    if (q != i) g *= nd->in[q]->val[j];
                break;
            case M_MAX:
            case M_MIN: { /* the first input holding the extreme value takes it all */
                int win = 0;
                for (int q = 1; q < k; q++) {
                    float v = nd->in[q]->val[j], w = nd->in[win]->val[j];
                    if (c->kind == M_MAX ? v > w : v < w) win = q;
                }
                g = win == i ? g : 0.0f;
                break;
            }
            default: break;
            }
            put(nd, i, j, g);
        }
    }
}

static const keel_op merge_op = {
    .name = "merge", .infer = merge_infer, .forward = merge_forward, .backward = merge_backward};

static keel_node *merge_build_n(keel_layer *l, keel_graph *g, keel_node **in, int n) {
    return keel_graph_add(g, &merge_op, l, in, n);
}

static keel_status merge_get_config(const keel_layer *l, json_t *cfg);
#define MERGE_KIND(var, type_name, prefix_name)                                                    \
    static const keel_layer_kind var = {.type = type_name,                                         \
                                        .prefix = prefix_name,                                     \
                                        .build_n = merge_build_n,                                  \
                                        .get_config = merge_get_config}
MERGE_KIND(add_kind, "Add", "add");
MERGE_KIND(sub_kind, "Subtract", "subtract");
MERGE_KIND(mul_kind, "Multiply", "multiply");
MERGE_KIND(avg_kind, "Average", "average");
MERGE_KIND(max_kind, "Maximum", "maximum");
MERGE_KIND(min_kind, "Minimum", "minimum");
MERGE_KIND(cat_kind, "Concatenate", "concatenate");

static keel_layer *merge_new(const keel_layer_kind *kind, merge_kind mk, int axis,
                             const char *name) {
    merge_cfg c = {.kind = mk, .axis = axis};
    return keel_layer_new(kind, name, &c, sizeof c, NULL);
}

keel_layer *keel_merge_add_(keel_merge_opts o) {
    return merge_new(&add_kind, M_ADD, 0, o.name);
}
keel_layer *keel_merge_subtract_(keel_merge_opts o) {
    return merge_new(&sub_kind, M_SUB, 0, o.name);
}
keel_layer *keel_merge_multiply_(keel_merge_opts o) {
    return merge_new(&mul_kind, M_MUL, 0, o.name);
}
keel_layer *keel_merge_average_(keel_merge_opts o) {
    return merge_new(&avg_kind, M_AVG, 0, o.name);
}
keel_layer *keel_merge_maximum_(keel_merge_opts o) {
    return merge_new(&max_kind, M_MAX, 0, o.name);
}
keel_layer *keel_merge_minimum_(keel_merge_opts o) {
    return merge_new(&min_kind, M_MIN, 0, o.name);
}

/* axis 0 (the batch axis, which Keras cannot join either) is the zero of an option struct, so
 * it means the default, -1 */
keel_layer *keel_concatenate_(keel_concatenate_opts o) {
    return merge_new(&cat_kind, M_CONCAT, o.axis ? o.axis : -1, o.name);
}

/* ---------------------------------------------------------------- Keras configs (save/config.h)
 * The elementwise merges have only the shared fields; Concatenate adds its axis. */

static keel_status merge_get_config(const keel_layer *l, json_t *cfg) {
    const merge_cfg *c = l->cfg;
    return c->kind == M_CONCAT ? keel_cfg_put_int(cfg, "axis", c->axis) : KEEL_OK;
}

static keel_layer *merge_from_config(const json_t *cfg, const char *where,
                                     keel_layer *(*make)(keel_merge_opts)) {
    static const char *const keys[] = {NULL};
    char name[64];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable))
        return NULL;
    keel_layer *l = make((keel_merge_opts){.name = name[0] ? name : NULL});
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_add_from_config(const json_t *cfg, const char *where) {
    return merge_from_config(cfg, where, keel_merge_add_);
}
keel_layer *keel_subtract_from_config(const json_t *cfg, const char *where) {
    return merge_from_config(cfg, where, keel_merge_subtract_);
}
keel_layer *keel_multiply_from_config(const json_t *cfg, const char *where) {
    return merge_from_config(cfg, where, keel_merge_multiply_);
}
keel_layer *keel_average_from_config(const json_t *cfg, const char *where) {
    return merge_from_config(cfg, where, keel_merge_average_);
}
keel_layer *keel_maximum_from_config(const json_t *cfg, const char *where) {
    return merge_from_config(cfg, where, keel_merge_maximum_);
}
keel_layer *keel_minimum_from_config(const json_t *cfg, const char *where) {
    return merge_from_config(cfg, where, keel_merge_minimum_);
}

keel_layer *keel_concatenate_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"axis", NULL};
    char name[64];
    bool trainable;
    int64_t axis = -1;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_int(cfg, "axis", true, &axis, where))
        return NULL;
    /* axis 0 joins along the batch axis, which keel's option reads as "the default" */
    if (axis == 0 || axis < -KEEL_MAX_RANK || axis > KEEL_MAX_RANK) {
        keel_error(axis == 0 ? KEEL_ERR_UNSUPPORTED : KEEL_ERR_FORMAT,
                   "%s: config.axis = %lld is not supported by keel (1 to %d, or negative)", where,
                   (long long)axis, KEEL_MAX_RANK);
        return NULL;
    }
    keel_layer *l = keel_concatenate(.axis = (int)axis, .name = name[0] ? name : NULL);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
