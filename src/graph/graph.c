/* graph.c: node creation, the memory plan and the forward / backward walks. */
#include "graph.h"

#include <stdio.h>
#include <time.h>

keel_node *keel_graph_add(keel_graph *g, const keel_op *op, keel_layer *layer, keel_node **in, int n_in) {
    KEEL_ASSERT(n_in <= KEEL_MAX_IN);
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
        for (int i = 0; i < layer->n_params; i++) node->needs_grad |= layer->params[i].trainable;
    if (op->infer && op->infer(node) != KEEL_OK) {
        keel_free(node);
        for (int i = 0; i < n_in; i++) in[i]->consumers--;
        return NULL;
    }
    node->size = keel_dims_prod(node->rank, node->dims);
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
            int64_t per = nd->size * batch;
            int64_t pad = (per + 15) & ~(int64_t)15; /* keep 64-byte alignment */
            int64_t scratch = nd->op->scratch ? ((nd->op->scratch(nd) * batch + 15) & ~(int64_t)15) : 0;
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

void keel_graph_backward(keel_graph *g, int64_t n, const keel_ctx *ctx) {
    /* a gradient fed by several consumers is accumulated, so it starts at zero */
    for (int i = 0; i < g->n; i++) {
        keel_node *nd = g->nodes[i];
        if (nd->needs_grad && nd->consumers > 1 && !nd->op->alias_input)
            memset(nd->grad, 0, (size_t)(nd->size * n) * sizeof(float));
    }
    for (int i = g->n - 1; i >= 0; i--) {
        keel_node *nd = g->nodes[i];
        if (!nd->needs_grad || !nd->op->backward) continue;
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
    for (int i = 0; i < g->n; i++) keel_free(g->nodes[i]);
    free(g->nodes);
    keel_free(g->arena);
    memset(g, 0, sizeof *g);
}

keel_param *keel_layer_param(keel_layer *l, const char *name, int rank, const int64_t *dims,
                             const char *init, const char *regularizer) {
    KEEL_ASSERT(l->n_params < KEEL_MAX_PARAMS && rank <= 4);
    keel_param *p = &l->params[l->n_params++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->rank = rank;
    memcpy(p->dims, dims, (size_t)rank * sizeof *dims);
    p->size = keel_dims_prod(rank, dims);
    p->init = init;
    p->regularizer = regularizer;
    p->trainable = l->trainable;
    return p;
}

keel_layer *keel_layer_new(const keel_layer_kind *kind, const char *name, const void *cfg,
                           size_t cfg_size, const int64_t *input_dims) {
    keel_runtime_init();
    keel_layer *l = keel_alloc(sizeof *l);
    if (!l) return NULL;
    l->kind = kind;
    l->trainable = true;
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

void keel_layer_free(keel_layer *l) {
    if (!l) return;
    if (l->kind->free_cfg) l->kind->free_cfg(l);
    keel_free(l->cfg);
    keel_free(l);
}

const char *keel_layer_name(const keel_layer *l) { return l ? l->name : ""; }

float *keel_layer_weight(keel_layer *l, int index, int64_t *count) {
    if (!l || index < 0 || index >= l->n_params || !l->params[index].w) {
        keel_error(KEEL_ERR_ARG, "keel_layer_weight: %s has no weight %d%s", l ? l->name : "(null)",
                   index, (l && l->n_params && !l->params[0].w) ? " (compile the model first)" : "");
        return NULL;
    }
    if (count) *count = l->params[index].size;
    return l->params[index].w;
}
