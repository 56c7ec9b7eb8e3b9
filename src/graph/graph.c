/* graph.c: node creation, the memory plan and the forward / backward walks. */
#include "graph.h"

#include <stdio.h>
#include <time.h>

keel_status keel_graph_weight_budget(const keel_graph *g, const keel_layer *l) {
    if (g->max_weights <= 0 || l->built) return KEEL_OK;
    int64_t left = g->max_weights - g->weights_made;
    for (int k = 0; k < l->n_params; k++) {
        const keel_param *p = &l->params[k];
        if (p->size > left) {
            char shape[160];
            KEEL_FAIL(KEEL_ERR_FORMAT,
                      "%s: weight %s of shape %s takes the model past %lld weights, more than "
                      "its file can hold",
                      l->name, p->name, keel_dims_str(p->rank, p->dims, false, shape, sizeof shape),
                      (long long)g->max_weights);
        }
        left -= p->size;
    }
    return KEEL_OK;
}

keel_node *keel_graph_add(keel_graph *g, const keel_op *op, keel_layer *layer, keel_node **in,
                          int n_in) {
    KEEL_ASSERT(n_in <= KEEL_MAX_IN);
    if (layer && keel_graph_weight_budget(g, layer)) return NULL;
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 16;
        keel_node **nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            keel_error(KEEL_ERR_NOMEM, "out of memory building the graph");
            return NULL;
        }
        g->nodes = nn, g->cap = cap;
    }
    keel_node *node = keel_alloc(sizeof *node);
    if (!node) return NULL;
    node->op = op;
    node->layer = layer;
    node->n_in = n_in;
    node->id = g->n;
    for (int i = 0; i < n_in; i++) {
        node->in[i] = in[i];
        in[i]->consumers++;
        in[i]->consumer = node;
        node->needs_grad |= in[i]->needs_grad;
    }
    if (layer)
        for (int i = 0; i < layer->n_params; i++)
            node->needs_grad |= layer->params[i].trainable;
    if (op->keeps_mask && n_in >= 1) node->mask_node = in[0]->mask_node;
    if (op->infer && op->infer(node) != KEEL_OK) {
        keel_free(node);
        for (int i = 0; i < n_in; i++)
            in[i]->consumers--;
        return NULL;
    }
    node->size = 1;
    for (int i = 0; i < node->rank; i++)
        if (!keel_mul_ok(node->size, node->dims[i], &node->size)) {
            char buf[160];
            keel_error(KEEL_ERR_SHAPE, "%s: output shape %s is too large",
                       layer ? layer->name : "input",
                       keel_dims_str(node->rank, node->dims, true, buf, sizeof buf));
            keel_free(node);
            for (int i2 = 0; i2 < n_in; i2++)
                in[i2]->consumers--;
            return NULL;
        }
    g->nodes[g->n++] = node;
    return node;
}

keel_status keel_graph_plan(keel_graph *g, int64_t batch) {
    if (batch <= g->batch_cap) return KEEL_OK;
    /* count the floats, then carve one block */
    int64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        float *p = g->arena;
        for (int i = 0; i < g->n; i++) {
            keel_node *nd = g->nodes[i];
            int64_t per;
            if (!keel_mul_ok(nd->size, batch, &per) || per > INT64_MAX / 8 - total)
                KEEL_FAIL(KEEL_ERR_NOMEM,
                          "batch of %lld samples is too large for %s (%lld values per sample)",
                          (long long)batch, nd->layer ? nd->layer->name : "the input",
                          (long long)nd->size);
            int64_t pad = (per + 15) & ~(int64_t)15; /* keep 64-byte alignment */
            int64_t scratch =
                nd->op->scratch ? ((nd->op->scratch(nd) * batch + 15) & ~(int64_t)15) : 0;
            if (nd->op->scratch_batch)
                scratch = (nd->op->scratch_batch(nd, batch) + 15) & ~(int64_t)15;
            if (pass == 0) {
                if (!nd->op->alias_input) total += pad + (nd->needs_grad ? pad : 0);
                if (nd->keep_pre) total += pad;
                total += scratch;
                continue;
            }
            if (nd->op->alias_input) {
                nd->val = nd->in[0]->val;
                nd->grad = nd->in[0]->grad;
            } else {
                nd->val = p, p += pad;
                nd->grad = nd->needs_grad ? p : NULL;
                if (nd->needs_grad) p += pad;
            }
            nd->pre = nd->keep_pre ? p : NULL;
            if (nd->keep_pre) p += pad;
            nd->scratch = scratch ? p : NULL;
            p += scratch;
        }
        if (pass == 0) {
            float *arena = keel_alloc((size_t)total * sizeof(float));
            if (!arena) return KEEL_ERR_NOMEM;
            keel_free(g->arena);
            g->arena = arena;
        }
    }
    g->batch_cap = batch;
    return KEEL_OK;
}

/* KEEL_PROFILE=1 in the environment: time spent per op, printed when the graph is freed. A
 * developer's tool for finding the slow op; off, it costs one branch per op. */
static int profile = -1;
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void keel_graph_forward(keel_graph *g, int64_t n, const keel_ctx *ctx) {
    if (profile < 0) profile = getenv("KEEL_PROFILE") != NULL;
    for (int i = 0; i < g->n; i++) {
        keel_node *nd = g->nodes[i];
        if (!nd->op->forward) continue;
        double t0 = profile ? now_s() : 0;
        nd->op->forward(nd, n, ctx);
        if (profile) nd->t_fwd += now_s() - t0;
    }
}

/* the node whose buffers an alias (Flatten, Reshape) shares */
static const keel_node *owner(const keel_node *nd) {
    while (nd->op->alias_input)
        nd = nd->in[0];
    return nd;
}

void keel_graph_finish(keel_graph *g, keel_node *const *outputs, int n) {
    /* ids are positions in g->nodes; written[] marks the gradient buffers some later node (in
     * backward order) has already written, wl the layers whose weight gradients are written */
    bool *written = calloc((size_t)g->n + 1, sizeof *written);
    keel_layer **wl = calloc((size_t)g->n + 1, sizeof *wl);
    int n_wl = 0;
    KEEL_ASSERT(written && wl);
    for (int i = 0; i < n; i++)
        written[owner(outputs[i])->id] = true;
    for (int i = g->n - 1; i >= 0; i--) {
        keel_node *nd = g->nodes[i];
        memset(nd->acc_in, 0, sizeof nd->acc_in);
        memset(nd->acc_w, 0, sizeof nd->acc_w);
        nd->dead = false;
        if (!nd->needs_grad || !nd->op->backward) continue;
        /* every consumer has been visited: nothing wrote this gradient, so it is zero and
         * neither the inputs nor (beyond zeroing them) the weights get anything from here */
        nd->dead = !written[owner(nd)->id];
        for (int k = 0; k < nd->n_in && !nd->dead; k++) {
            if (!nd->in[k]->needs_grad) continue;
            int o = owner(nd->in[k])->id;
            nd->acc_in[k] = written[o];
            written[o] = true;
        }
        if (!nd->layer) continue;
        bool seen = false; /* a later call of the same layer wrote its weight gradients */
        for (int k = 0; k < n_wl && !seen; k++)
            seen = wl[k] == nd->layer;
        if (!seen) wl[n_wl++] = nd->layer;
        for (int k = 0; k < nd->layer->n_params; k++)
            nd->acc_w[k] = seen;
    }
    free(written);
    free(wl);
}

/* a dead node's weight gradients, when it is the first call of its layer to write them: zero */
static void zero_weight_grads(const keel_node *nd) {
    for (int k = 0; nd->layer && k < nd->layer->n_params; k++) {
        const keel_param *p = &nd->layer->params[k];
        if (!nd->acc_w[k] && p->trainable && p->g) memset(p->g, 0, (size_t)p->size * sizeof *p->g);
    }
}

void keel_graph_backward(keel_graph *g, int64_t n, const keel_ctx *ctx) {
    for (int i = g->n - 1; i >= 0; i--) {
        keel_node *nd = g->nodes[i];
        if (!nd->needs_grad || !nd->op->backward) continue;
        if (nd->dead) {
            zero_weight_grads(nd);
            continue;
        }
        double t0 = profile > 0 ? now_s() : 0;
        nd->op->backward(nd, n, ctx);
        if (profile > 0) nd->t_bwd += now_s() - t0;
    }
}

void keel_graph_free(keel_graph *g) {
    for (int i = 0; profile > 0 && i < g->n; i++)
        fprintf(stderr, "keel profile: %-24s %-14s forward %8.3fs backward %8.3fs\n",
                g->nodes[i]->layer ? g->nodes[i]->layer->name : "(input)", g->nodes[i]->op->name,
                g->nodes[i]->t_fwd, g->nodes[i]->t_bwd);
    for (int i = 0; i < g->n; i++) {
        keel_node *nd = g->nodes[i];
        if (nd->layer && nd->layer->node == nd) nd->layer->node = NULL;
        keel_free(nd->state);
        keel_free(nd->parts);
        keel_free(nd);
    }
    free(g->nodes);
    keel_free(g->arena);
    memset(g, 0, sizeof *g);
}

keel_param *keel_layer_param(keel_layer *l, const char *name, int rank, const int64_t *dims,
                             const char *init, const char *regularizer) {
    if (l->built) { /* called again: the same weight, which must fit this input too */
        KEEL_ASSERT(l->cursor < l->n_params);
        keel_param *p = &l->params[l->cursor++];
        bool same = p->rank == rank;
        for (int i = 0; same && i < rank; i++)
            same = p->dims[i] == dims[i];
        if (!same) {
            char a[160], b[160];
            keel_error(KEEL_ERR_SHAPE,
                       "%s: its %s was built with shape %s; this call needs %s (a shared layer "
                       "must be called on inputs of the same shape)",
                       l->name, p->name, keel_dims_str(p->rank, p->dims, false, a, sizeof a),
                       keel_dims_str(rank, dims, false, b, sizeof b));
            return NULL;
        }
        return p;
    }
    KEEL_ASSERT(l->n_params < KEEL_MAX_PARAMS && rank <= 4);
    keel_param *p = &l->params[l->n_params++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rank = rank;
    memcpy(p->dims, dims, (size_t)rank * sizeof *dims);
    p->size = 1;
    for (int i = 0; i < rank; i++)
        if (!keel_mul_ok(p->size, dims[i], &p->size)) {
            char buf[160];
            keel_error(KEEL_ERR_ARG, "%s: weight %s of shape %s is too large", l->name, name,
                       keel_dims_str(rank, dims, false, buf, sizeof buf));
            l->n_params--;
            return NULL;
        }
    p->init = init;
    p->regularizer = regularizer;
    p->own_trainable = true;
    p->trainable = l->trainable;
    snprintf(p->label, sizeof p->label, "%s/%s", l->name, name);
    return p;
}

/* A declared per-sample shape: positive dimensions, then zeros to the end ({28, 0, 28} is a
 * mistake, not (28,)), of a size that fits. */
static keel_status check_input_shape(const char *what, const int64_t *dims) {
    int r = keel_dims_rank(dims);
    int64_t size = 1;
    char buf[160];
    for (int i = 0; i < KEEL_MAX_RANK; i++) {
        if (i >= r && dims[i] != 0)
            KEEL_FAIL(
                KEEL_ERR_ARG,
                "%s: input_shape has a zero dimension at axis %d before a nonzero one (%lld); "
                "every dimension must be positive",
                what, r, (long long)dims[i]);
        if (i < r && dims[i] < 0)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: input_shape %s has a negative dimension at axis %d", what,
                      keel_dims_str(r, dims, true, buf, sizeof buf), i);
        if (i < r && !keel_mul_ok(size, dims[i], &size))
            KEEL_FAIL(KEEL_ERR_ARG,
                      "%s: input_shape %s is too large (more than 2^61 values per sample)", what,
                      keel_dims_str(r, dims, true, buf, sizeof buf));
    }
    return KEEL_OK;
}

keel_layer *keel_layer_new(const keel_layer_kind *kind, const char *name, const void *cfg,
                           size_t cfg_size, const int64_t *input_dims) {
    keel_runtime_init();
    if (input_dims && check_input_shape(name ? name : kind->prefix, input_dims)) return NULL;
    keel_layer *l = keel_alloc(sizeof *l);
    if (!l) return NULL;
    l->kind = kind;
    l->trainable = true;
    l->floating = true;
    l->refs = 1;
    if (name) snprintf(l->name, sizeof l->name, "%s", name);
    if (cfg_size) {
        l->cfg = keel_alloc(cfg_size);
        if (!l->cfg) {
            keel_free(l);
            return NULL;
        }
        memcpy(l->cfg, cfg, cfg_size);
    }
    if (input_dims) {
        l->input_rank = keel_dims_rank(input_dims);
        memcpy(l->input_dims, input_dims, sizeof l->input_dims);
    }
    return l;
}

static void layer_destroy(keel_layer *l) {
    if (l->kind->free_cfg) l->kind->free_cfg(l);
    for (int i = 0; i < l->n_wrapped; i++)
        keel_layer_release(l->wrapped[i]);
    for (int k = 0; k < l->n_params; k++)
        keel_free(l->params[k].w);
    keel_free(l->cfg);
    keel_free(l);
}

void keel_layer_retain(keel_layer *l) {
    if (l->floating)
        l->floating = false;
    else
        l->refs++;
}

void keel_layer_release(keel_layer *l) {
    if (l && --l->refs == 0) layer_destroy(l);
}

/* A held layer belongs to the models that hold it: freeing it here would pull it from under
 * them, so only a layer never taken by a model is freed. */
void keel_layer_free(keel_layer *l) {
    if (l && l->floating) layer_destroy(l);
}

const char *keel_layer_name(const keel_layer *l) {
    return l ? l->name : "";
}

int keel_layer_weight_count(const keel_layer *l) {
    return l ? l->n_params : 0;
}

/* the weight `index` of a built layer, or NULL with the error recorded */
static keel_param *layer_param(const char *fn, keel_layer *l, int index) {
    if (!l) {
        keel_error(KEEL_ERR_ARG, "%s: layer is NULL", fn);
        return NULL;
    }
    if (!l->node || l->n_params == 0 || !l->params[0].w) {
        keel_error(KEEL_ERR_STATE,
                   "%s: %s has no weights yet (compile the model that holds it first)", fn,
                   l->name);
        return NULL;
    }
    if (index < 0 || index >= l->n_params) {
        keel_error(KEEL_ERR_ARG, "%s: %s has %d weight%s, no weight %d", fn, l->name, l->n_params,
                   l->n_params == 1 ? "" : "s", index);
        return NULL;
    }
    return &l->params[index];
}

int keel_get_weights(keel_layer *l, keel_tensor **out, int cap) {
    if (l && l->node && l->n_params == 0) return 0;
    if (!layer_param("keel_get_weights", l, 0)) return KEEL_ERR_STATE;
    if (cap < 0 || (cap > 0 && !out))
        return (int)keel_error(KEEL_ERR_ARG, "keel_get_weights: out is NULL");
    for (int k = 0; k < l->n_params && k < cap; k++) {
        keel_param *p = &l->params[k];
        out[k] = keel_tensor_from_data(p->rank, p->dims, p->w);
        if (!out[k]) {
            while (k > 0)
                keel_tensor_free(out[--k]);
            return KEEL_ERR_NOMEM;
        }
    }
    return l->n_params;
}

keel_status keel_set_weights(keel_layer *l, const keel_tensor *const *w, int n) {
    if (!layer_param("keel_set_weights", l, 0)) return KEEL_ERR_STATE;
    if (n != l->n_params || !w)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_set_weights: %s has %d weights, got %d", l->name, l->n_params,
                  w ? n : 0);
    for (int k = 0; k < n; k++) { /* all shapes first: a mismatch changes nothing */
        const keel_param *p = &l->params[k];
        bool ok = w[k] && w[k]->rank == p->rank && w[k]->dtype == KEEL_FLOAT32;
        for (int i = 0; ok && i < p->rank; i++)
            ok = w[k]->dims[i] == p->dims[i];
        if (!ok) {
            char a[160], b[160];
            KEEL_FAIL(KEEL_ERR_SHAPE, "keel_set_weights: %s's %s has shape %s, got %s", l->name,
                      p->name, keel_dims_str(p->rank, p->dims, false, a, sizeof a),
                      w[k] ? keel_tensor_shape_str(w[k], b, sizeof b) : "NULL");
        }
    }
    for (int k = 0; k < n; k++)
        memcpy(l->params[k].w, w[k]->data, (size_t)l->params[k].size * sizeof(float));
    return KEEL_OK;
}

float *keel_layer_weight(keel_layer *l, int index, int64_t *count) {
    if (!l || index < 0 || index >= l->n_params || !l->params[index].w) {
        keel_error(KEEL_ERR_ARG, "keel_layer_weight: %s has no weight %d%s", l ? l->name : "(null)",
                   index,
                   (l && l->n_params && !l->params[0].w) ? " (compile the model first)" : "");
        return NULL;
    }
    if (count) *count = l->params[index].size;
    return l->params[index].w;
}
