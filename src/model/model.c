/* model.c: models as views over shared layers: holding layers (keel_add), compiling (expanding
 * the recipe into a graph, building each layer's weights once, collecting the weights reached
 * with their trainable flags, the model's own gradient and optimizer buffers, loss, metrics),
 * binding a model's view before it runs, the kept error and weight access. The functional
 * recipe (inputs, calls, outputs, models used as layers) is in functional.c; training loops
 * in fit.c. */
#include "model.h"

#include <stdio.h>

#define DEFAULT_SEED 1337

keel_model *keel_model_alloc(const char *name, bool functional) {
    keel_runtime_init();
    keel_model *m = keel_alloc(sizeof *m);
    if (!m) return NULL;
    snprintf(m->name, sizeof m->name, "%s", name ? name : functional ? "model" : "sequential");
    m->seed = DEFAULT_SEED;
    m->refs = 1;
    m->functional = functional;
    return m;
}

keel_model *keel_sequential(const char *name) {
    return keel_model_alloc(name, false);
}

static void drop_compiled(keel_model *m) {
    keel_graph_free(&m->g); /* first: its profile report names the layers */
    keel_free(m->layer_nodes);
    keel_free(m->params);
    keel_free(m->offsets);
    keel_free(m->ptrain);
    keel_free(m->grads);
    keel_free(m->flat);
    m->layer_nodes = NULL, m->params = NULL, m->offsets = NULL, m->ptrain = NULL;
    m->grads = m->flat = NULL;
    m->n_params = 0, m->n_weights = 0;
    keel_optimizer_free(&m->opt);
    m->built = false;
    m->n_in_nodes = m->n_out_nodes = 0;
}

/* Drops one reference; the last frees the model and releases what it holds. */
void keel_model_free(keel_model *m) {
    if (!m || --m->refs > 0) return;
    drop_compiled(m);
    for (int i = 0; i < m->n_layers; i++)
        keel_layer_release(m->layers[i]);
    for (int i = 0; i < m->n_calls; i++)
        keel_free(m->syms[i]);
    keel_free(m->layers);
    keel_free(m->calls);
    keel_free(m->syms);
    for (int k = 0; k < KEEL_MAX_IO; k++)
        keel_free(m->ybufs[k]);
    keel_history_free(&m->hist);
    keel_free(m);
}

keel_status keel_model_fail(keel_model *m, keel_status err) {
    if (m && m->status == KEEL_OK && err != KEEL_OK) {
        m->status = err;
        snprintf(m->error, sizeof m->error, "%s", keel_last_error());
    }
    return err;
}

keel_status keel_model_check(keel_model *m, const char *fn) {
    if (!m) KEEL_FAIL(KEEL_ERR_ARG, "%s: model is NULL", fn);
    if (m->status != KEEL_OK) {
        keel_error(m->status, "%s", m->error);
        return m->status;
    }
    return KEEL_OK;
}

keel_status keel_model_status(const keel_model *m) {
    return m ? m->status : KEEL_ERR_ARG;
}
const char *keel_model_error(const keel_model *m) {
    return m ? m->error : "model is NULL";
}

keel_status keel_model_set_seed(keel_model *m, uint64_t seed) {
    keel_status st = keel_model_check(m, "keel_model_set_seed");
    if (st) return st;
    if (m->compiled)
        return keel_model_fail(m, keel_error(KEEL_ERR_STATE,
                                             "keel_model_set_seed: %s is already compiled "
                                             "(set the seed before keel_compile)",
                                             m->name));
    m->seed = seed;
    return KEEL_OK;
}

/* Appends a held layer (the reference is taken by the caller). */
keel_status keel_model_hold(keel_model *m, keel_layer *l) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i] == l)
            return KEEL_OK; /* a functional model calling a layer twice holds it once */
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        keel_layer **nl = keel_alloc((size_t)cap * sizeof *nl);
        if (!nl) return KEEL_ERR_NOMEM;
        if (m->n_layers) memcpy(nl, m->layers, (size_t)m->n_layers * sizeof *nl);
        keel_free(m->layers);
        m->layers = nl, m->cap_layers = cap;
    }
    keel_layer_retain(l);
    m->layers[m->n_layers++] = l;
    return KEEL_OK;
}

keel_status keel_add(keel_model *m, keel_layer *layer) {
    if (!m) {
        keel_layer_free(layer);
        KEEL_FAIL(KEEL_ERR_ARG, "keel_add: model is NULL");
    }
    if (!layer) {
        /* the constructor left its reason as the last error */
        char why[KEEL_ERR_CAP];
        snprintf(why, sizeof why, "%s", keel_last_error());
        return keel_model_fail(m, keel_error(KEEL_ERR_ARG, "keel_add: layer %d of %s is NULL (%s)",
                                             m->n_layers + 1, m->name,
                                             why[0] ? why : "its constructor failed"));
    }
    keel_status st = keel_model_check(m, "keel_add");
    if (st == KEEL_OK && m->functional)
        st = keel_model_fail(m, keel_error(KEEL_ERR_STATE,
                                           "keel_add: %s is a functional model; apply layers with "
                                           "keel_call and set its outputs instead",
                                           m->name));
    if (st == KEEL_OK && m->compiled)
        st = keel_model_fail(
            m, keel_error(KEEL_ERR_STATE,
                          "keel_add: %s is already compiled; add layers before keel_compile",
                          m->name));
    if (st == KEEL_OK && layer->sub && keel_model_contains(layer->sub, m))
        st = keel_model_fail(m, keel_error(KEEL_ERR_ARG,
                                           "keel_add: %s cannot be added to %s: a model cannot "
                                           "contain itself",
                                           layer->sub->name, m->name));
    if (st == KEEL_OK && keel_layer_outputs(layer) > 1) /* Keras says the same */
        st = keel_model_fail(
            m, keel_error(KEEL_ERR_ARG,
                          "keel_add: %s returns %d outputs (return_state or merge_mode \"none\"); "
                          "all layers in a Sequential model should have a single output (use "
                          "the functional API: keel_apply_outputs)",
                          layer->name[0] ? layer->name : layer->kind->prefix,
                          keel_layer_outputs(layer)));
    if (st == KEEL_OK) {
        /* a layer already in this Sequential would be two calls of it in one chain: allowed in
         * a functional model, but in a Sequential it is almost surely a mistake */
        for (int i = 0; i < m->n_layers; i++)
            if (m->layers[i] == layer)
                st = keel_model_fail(m, keel_error(KEEL_ERR_ARG,
                                                   "keel_add: %s is already in %s (to call a "
                                                   "layer twice, use the functional API)",
                                                   layer->name[0] ? layer->name : "the layer",
                                                   m->name));
    }
    if (st == KEEL_OK) st = keel_model_fail(m, keel_model_hold(m, layer));
    if (st) keel_layer_free(layer); /* frees it only if no model holds it */
    return st;
}

/* Keras names unnamed layers by type: dense, dense_1, dense_2, ... A name is given for good the
 * first time a model names the layer, so a shared layer keeps one name in every model. */
static void name_layer(keel_layer *l, int *counts, const keel_layer_kind **kinds, int *n_kinds) {
    if (l->name[0]) return;
    int k = 0;
    while (k < *n_kinds && kinds[k] != l->kind)
        k++;
    if (k == *n_kinds) kinds[(*n_kinds)++] = l->kind, counts[k] = 0;
    const char *prefix = l->sub ? (l->sub->functional ? "model" : "sequential") : l->kind->prefix;
    if (l->sub)
        snprintf(l->name, sizeof l->name, "%s", l->sub->name);
    else if (counts[k])
        snprintf(l->name, sizeof l->name, "%s_%d", prefix, counts[k]);
    else
        snprintf(l->name, sizeof l->name, "%s", prefix);
    counts[k]++;
    for (int i = 0; i < l->n_params; i++)
        snprintf(l->params[i].label, sizeof l->params[i].label, "%s/%s", l->name,
                 l->params[i].name);
}

static void name_layers_rec(keel_model *m, int *counts, const keel_layer_kind **kinds, int *n_kinds,
                            int depth) {
    for (int i = 0; i < m->n_layers && depth < 64; i++) {
        name_layer(m->layers[i], counts, kinds, n_kinds);
        if (m->layers[i]->sub)
            name_layers_rec(m->layers[i]->sub, counts, kinds, n_kinds, depth + 1);
        for (int k = 0; k < m->layers[i]->n_wrapped; k++)
            name_layer(m->layers[i]->wrapped[k], counts, kinds, n_kinds);
    }
}

/* ---------------------------------------------------------------- building the graph */

/* Builds one call of l on in[0..n): the layer's weights the first time (allocated and
 * initialized from the compiling model's seed), a node every time. */
keel_node *keel_build_call(build_ctx *bc, keel_layer *l, keel_graph *g, keel_node **in, int n) {
    int stream = bc->counter++;
    /* the shapes of the call that builds the layer, as Keras keeps them for build_config (a
     * layer called again on other shapes does not change them) */
    if (!l->built) {
        l->call_n_in = n < KEEL_MAX_IN ? n : KEEL_MAX_IN;
        for (int k = 0; k < l->call_n_in; k++) {
            l->call_rank[k] = in[k]->rank;
            memcpy(l->call_dims[k], in[k]->dims, sizeof l->call_dims[k]);
        }
    }
    if (l->sub) return keel_model_expand(l->sub, bc, g, in, n);
    if (l->kind->expand) {
        keel_node *nd = l->kind->expand(bc, l, g, in, n);
        if (nd) l->node = nd, l->built = true;
        return nd;
    }
    if (!l->built) { /* a build that failed may have declared (and allocated) weights: anew */
        for (int k = 0; k < l->n_params; k++)
            keel_free(l->params[k].w), l->params[k].w = NULL;
        l->n_params = 0;
    }
    l->cursor = 0;
    for (int k = 0; k < l->n_params; k++)
        l->params[k].trainable = l->trainable && l->params[k].own_trainable;
    keel_node *nd;
    if (l->kind->build_n)
        nd = l->kind->build_n(l, g, in, n);
    else if (n != 1) {
        keel_error(KEEL_ERR_ARG, "%s: a %s layer takes one input, got %d", l->name, l->kind->type,
                   n);
        return NULL;
    } else
        nd = l->kind->build(l, g, in[0]);
    if (!nd) return NULL;
    nd->frozen = !l->trainable;
    l->node = nd;
    if (l->built) return nd;
    if (keel_graph_weight_budget(g, l)) return NULL;
    for (int k = 0; k < l->n_params; k++) {
        keel_param *p = &l->params[k];
        g->weights_made += p->size;
        char what[128];
        snprintf(what, sizeof what, "%s: %s", l->name, p->name);
        if (!(p->w = keel_alloc((size_t)p->size * sizeof(float)))) return NULL;
        uint64_t at = (uint64_t)(stream * KEEL_MAX_PARAMS + k + 1);
        if ((bc->top->skip_init ? keel_init_check(p->init, what)
                                : keel_init_param(p, bc->top->seed, at, what)) ||
            keel_reg_parse(p->regularizer, &p->l1, &p->l2, what))
            return NULL;
    }
    l->built = true;
    return nd;
}

/* The per-sample shape a Sequential declares on its first layer (or on the first layer of a
 * model it starts with); rank 0 when none. */
int keel_model_declared_input(const keel_model *m, int64_t *dims) {
    for (int depth = 0; m && m->n_layers && depth < 64; depth++) {
        const keel_layer *first = m->layers[0];
        if (m->functional) {
            const keel_callrec *c = &m->calls[m->inputs[0]];
            memcpy(dims, c->dims, sizeof c->dims);
            return m->n_inputs ? c->rank : 0;
        }
        if (!first->sub) {
            memcpy(dims, first->input_dims, sizeof first->input_dims);
            return first->input_rank;
        }
        m = first->sub;
    }
    return 0;
}

static bool same_shape(const keel_node *nd, int rank, const int64_t *dims) {
    bool ok = nd->rank == rank;
    for (int i = 0; ok && i < rank; i++)
        ok = nd->dims[i] == dims[i];
    return ok;
}

/* Expands a Sequential's chain on one input node; its last node. */
static keel_node *expand_sequential(keel_model *m, build_ctx *bc, keel_graph *g, keel_node *cur) {
    if (m->n_layers == 0) {
        keel_error(KEEL_ERR_STATE, "%s has no layers", m->name);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        keel_layer *l = m->layers[i];
        if (!strcmp(l->kind->type, "InputLayer") && i > 0) {
            keel_error(KEEL_ERR_STATE,
                       "%s: %s is an Input layer at position %d; it must come first", m->name,
                       l->name, i + 1);
            return NULL;
        }
        if (l->input_rank && !same_shape(cur, l->input_rank, l->input_dims)) {
            char a[160], b[160];
            keel_error(KEEL_ERR_SHAPE, "%s: %s declares input %s but receives %s", m->name, l->name,
                       keel_dims_str(l->input_rank, l->input_dims, true, a, sizeof a),
                       keel_dims_str(cur->rank, cur->dims, true, b, sizeof b));
            return NULL;
        }
        keel_node *nd = keel_build_call(bc, l, g, &cur, 1);
        if (!nd) return NULL;
        KEEL_ASSERT(nd->n_parts == 0); /* keel_add refuses layers with several outputs */
        if (m == bc->top) m->layer_nodes[i] = nd;
        cur = nd;
    }
    return cur;
}

keel_node *keel_model_expand(keel_model *m, build_ctx *bc, keel_graph *g, keel_node **in, int n) {
    if (++bc->depth > 64) {
        keel_error(KEEL_ERR_STATE, "%s: models nested more than 64 deep", m->name);
        return NULL;
    }
    keel_node *out;
    if (!m->functional) {
        if (n != 1) {
            keel_error(KEEL_ERR_ARG, "%s: a Sequential model takes one input, got %d", m->name, n);
            return NULL;
        }
        out = expand_sequential(m, bc, g, in[0]);
    } else {
        out = keel_functional_expand(m, bc, g, in, n, NULL);
    }
    bc->depth--;
    return out;
}

/* Input nodes for the model being compiled, from its declared shapes. */
static keel_status make_inputs(keel_model *m) {
    int n = m->functional ? m->n_inputs : 1;
    for (int i = 0; i < n; i++) {
        int64_t dims[KEEL_MAX_RANK] = {0};
        int rank = m->functional ? m->calls[m->inputs[i]].rank : keel_model_declared_input(m, dims);
        if (m->functional) memcpy(dims, m->calls[m->inputs[i]].dims, sizeof dims);
        if (rank == 0)
            KEEL_FAIL(KEEL_ERR_STATE,
                      "%s's first layer %s has no input shape (add keel_input(.shape "
                      "= {...}) "
                      "first, or give it .input_dim / .input_shape)",
                      m->name, m->n_layers ? m->layers[0]->name : "(none)");
        keel_node *in = keel_graph_add(&m->g, &keel_op_input, NULL, NULL, 0);
        if (!in) return KEEL_ERR_NOMEM;
        in->rank = rank;
        memcpy(in->dims, dims, sizeof in->dims);
        in->size = keel_dims_prod(in->rank, in->dims);
        m->in_nodes[m->n_in_nodes++] = in;
    }
    m->input = m->in_nodes[0];
    return KEEL_OK;
}

static keel_status build_graph(keel_model *m) {
    keel_status st;
    m->g.max_weights = m->max_weights, m->g.weights_made = 0;
    if ((st = make_inputs(m))) return st;
    if (!(m->layer_nodes = keel_alloc((size_t)(m->n_layers + 1) * sizeof *m->layer_nodes)))
        return KEEL_ERR_NOMEM;
    build_ctx bc = {.top = m};
    if (!m->functional) {
        keel_node *out = keel_model_expand(m, &bc, &m->g, m->in_nodes, 1);
        if (!out) return keel_last_status();
        m->out_nodes[0] = out;
        m->n_out_nodes = 1;
    } else {
        bc.depth = 1;
        if (!keel_functional_expand(m, &bc, &m->g, m->in_nodes, m->n_in_nodes, m->out_nodes))
            return keel_last_status();
        m->n_out_nodes = m->n_outputs;
    }
    m->output = m->out_nodes[0];
    if (m->output == m->input) KEEL_FAIL(KEEL_ERR_STATE, "%s has only an Input layer", m->name);
    return KEEL_OK;
}

/* every weight the graph reaches, once each, with this model's offsets and trainable flags */
static keel_status collect_weights(keel_model *m) {
    int cap = 0;
    for (int i = 0; i < m->g.n; i++)
        if (m->g.nodes[i]->layer) cap += m->g.nodes[i]->layer->n_params;
    m->params = keel_alloc((size_t)(cap + 1) * sizeof *m->params);
    m->offsets = keel_alloc((size_t)(cap + 1) * sizeof *m->offsets);
    m->ptrain = keel_alloc((size_t)(cap + 1) * sizeof *m->ptrain);
    if (!m->params || !m->offsets || !m->ptrain) return KEEL_ERR_NOMEM;
    int64_t total = 0;
    for (int i = 0; i < m->g.n; i++) {
        keel_layer *l = m->g.nodes[i]->layer;
        if (!l) continue;
        for (int k = 0; k < l->n_params; k++) {
            keel_param *p = &l->params[k];
            bool seen = false;
            for (int j = 0; j < m->n_params && !seen; j++)
                seen = m->params[j] == p;
            if (seen) continue;
            if (p->size > INT64_MAX / 8 - total)
                KEEL_FAIL(KEEL_ERR_NOMEM, "%s has too many weights (more than 2^60)", m->name);
            m->params[m->n_params] = p;
            m->offsets[m->n_params] = total;
            m->ptrain[m->n_params] = l->trainable && p->own_trainable;
            m->n_params++;
            total += p->size;
        }
    }
    m->n_weights = total;
    m->grads = keel_alloc((size_t)(total ? total : 1) * sizeof(float));
    m->flat = keel_alloc((size_t)(total ? total : 1) * sizeof(float));
    if (!m->grads || !m->flat) return KEEL_ERR_NOMEM;
    return KEEL_OK;
}

void keel_model_bind(keel_model *m, bool training) {
    for (int k = 0; k < m->n_params; k++) {
        keel_param *p = m->params[k];
        p->g = m->grads + m->offsets[k];
        p->offset = m->offsets[k];
        p->trainable = m->ptrain[k];
    }
    if (!training || m->warned_trainable) return;
    for (int i = 0; i < m->g.n; i++) {
        const keel_layer *l = m->g.nodes[i]->layer;
        if (l && l->n_params && l->trainable == m->g.nodes[i]->frozen) {
            /* tf.keras 2 trains with the compile-time flags and says so */
            keel_warn("Discrepancy between trainable weights and collected trainable weights in "
                      "%s: %s was made %s "
                      "after %s was compiled; the flags of the compile are used (compile again to "
                      "use the new ones)",
                      m->name, l->name, l->trainable ? "trainable" : "non-trainable", m->name);
            m->warned_trainable = true;
            return;
        }
    }
}

void keel_model_get_flat(const keel_model *m, float *dst) {
    for (int k = 0; k < m->n_params; k++)
        memcpy(dst + m->offsets[k], m->params[k]->w, (size_t)m->params[k]->size * sizeof(float));
}

void keel_model_set_flat(keel_model *m, const float *src) {
    for (int k = 0; k < m->n_params; k++)
        memcpy(m->params[k]->w, src + m->offsets[k], (size_t)m->params[k]->size * sizeof(float));
}

static void fuse_loss(keel_model *m, int k) {
    keel_node *out = m->out_nodes[k];
    keel_loss *loss = &m->losses[k];
    keel_act_kind a = out->act.kind;
    bool is_act_node = out->op == &keel_op_dense || out->op == &keel_op_activation;
    loss->fused = false;
    out->loss_fused = false;
    out->keep_pre = keel_act_needs_input(a);
    /* an output another layer also reads must keep d(output) in its gradient: not fused */
    if (!is_act_node || loss->from_logits || out->consumers > 0) return;
    if ((loss->kind == KEEL_LOSS_BCE && a == KEEL_ACT_SIGMOID) ||
        ((loss->kind == KEEL_LOSS_CCE || loss->kind == KEEL_LOSS_SPARSE_CCE) &&
         a == KEEL_ACT_SOFTMAX)) {
        loss->fused = out->loss_fused = out->keep_pre = true;
    }
}

/* graph and weights from the recipe, with the trainable flags of now */
static keel_status build_all(keel_model *m) {
    drop_compiled(m);
    m->warned_trainable = false;
    int counts[64];
    const keel_layer_kind *kinds[64];
    int n_kinds = 0;
    name_layers_rec(m, counts, kinds, &n_kinds, 0);
    keel_status st;
    if ((st = build_graph(m)) || (st = collect_weights(m))) return st;
    keel_graph_finish(&m->g, m->out_nodes, m->n_out_nodes);
    m->built = true;
    keel_model_bind(m, false);
    return KEEL_OK;
}

keel_status keel_model_build(keel_model *m, const char *fn) {
    keel_status st = keel_model_check(m, fn);
    if (st || m->built) return st;
    if (!m->functional && m->n_layers == 0)
        return keel_model_fail(m, keel_error(KEEL_ERR_STATE, "%s: %s has no layers", fn, m->name));
    if (m->functional && m->n_outputs == 0)
        return keel_model_fail(m, keel_error(KEEL_ERR_STATE, "%s: %s has no outputs", fn, m->name));
    if ((st = build_all(m))) {
        keel_status kept = keel_error_prefix(fn);
        drop_compiled(m);
        return keel_model_fail(m, kept);
    }
    return KEEL_OK;
}

/* one loss per output: .losses[k], or .loss for all; weights from .loss_weights (0: 1) */
static keel_status set_losses(keel_model *m, const keel_compile_opts *o) {
    int given = 0;
    while (given < KEEL_MAX_OUTPUTS && o->losses[given])
        given++;
    if (given && given != m->n_out_nodes)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_compile: %s has %d output%s but %d losses were given",
                  m->name, m->n_out_nodes, m->n_out_nodes == 1 ? "" : "s", given);
    for (int k = 0; k < m->n_out_nodes; k++) {
        keel_status st =
            keel_loss_parse(given ? o->losses[k] : o->loss, o->loss_opts, &m->losses[k]);
        if (st) return st;
        float w = k < KEEL_MAX_OUTPUTS ? o->loss_weights[k] : 0;
        if (!(w >= 0) || !isfinite(w))
            KEEL_FAIL(KEEL_ERR_ARG,
                      "keel_compile: loss_weights[%d] must be a finite number >= 0, got %g", k, w);
        m->loss_w[k] = w == 0 ? 1.0f : w;
    }
    return KEEL_OK;
}

/* Keras's log names: "loss", then with several outputs "<output>_loss" each, then the metrics,
 * "<output>_<metric>" with several outputs */
static void name_logs(keel_model *m) {
    int n = 0;
    const int K = m->n_out_nodes;
    m->names[n++] = "loss";
    char out_name[KEEL_MAX_IO][64];
    for (int k = 0; k < K; k++)
        snprintf(out_name[k], sizeof out_name[k], "%s",
                 m->out_nodes[k]->layer ? m->out_nodes[k]->layer->name : "output");
    for (int k = 0; K > 1 && k < K; k++) {
        snprintf(m->name_store[n], sizeof m->name_store[n], "%.50s_loss", out_name[k]);
        m->names[n] = m->name_store[n], n++;
    }
    for (int k = 0; k < K; k++)
        for (int i = 0; i < m->n_metrics; i++) {
            if (K > 1)
                snprintf(m->name_store[n], sizeof m->name_store[n], "%.30s_%.30s", out_name[k],
                         m->metrics[k][i].name);
            else
                snprintf(m->name_store[n], sizeof m->name_store[n], "%s", m->metrics[k][i].name);
            m->names[n] = m->name_store[n], n++;
        }
    m->n_logs = n;
}

keel_status keel_compile_(keel_model *m, keel_compile_opts o) {
    keel_status st = keel_model_check(m, "keel_compile");
    if (st) return st;
    if (!m->functional && m->n_layers == 0)
        return keel_model_fail(m, keel_error(KEEL_ERR_STATE,
                                             "keel_compile: %s has no layers (keel_add some first)",
                                             m->name));
    if (m->functional && m->n_outputs == 0)
        return keel_model_fail(
            m, keel_error(KEEL_ERR_STATE,
                          "keel_compile: %s has no outputs (keel_model_outputs first)", m->name));
    keel_metric metrics[KEEL_MAX_METRICS];
    int nm = 0;
    for (; nm < KEEL_MAX_METRICS && o.metrics[nm]; nm++)
        if ((st = keel_metric_parse(o.metrics[nm], &metrics[nm]))) return keel_model_fail(m, st);
    /* the graph is built anew at each compile: the trainable flags of this moment decide which
     * nodes need gradients (tf.keras 2's rule); the weights live in the layers and stay */
    m->compiled = false;
    if ((st = build_all(m))) return keel_model_fail(m, keel_error_prefix("keel_compile"));
    if ((st = set_losses(m, &o))) return keel_model_fail(m, st);
    if ((st = keel_optimizer_init(&m->opt, o.optimizer, o.optimizer_opts, m->n_weights)))
        return keel_model_fail(m, st);
    m->n_metrics = nm;
    for (int k = 0; k < m->n_out_nodes; k++)
        memcpy(m->metrics[k], metrics, sizeof metrics);
    name_logs(m);
    for (int k = 0; k < m->n_out_nodes; k++)
        fuse_loss(m, k);
    m->loss = m->losses[0];
    m->compiled = true;
    keel_model_bind(m, false);
    return KEEL_OK;
}

int64_t keel_split_at(int64_t N, float split) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) { /* shortest decimal that reads back as split */
        snprintf(buf, sizeof buf, "%.*g", digits, (double)split);
        if (strtof(buf, NULL) == split) break;
    }
    return (int64_t)floor((double)N * (1.0 - strtod(buf, NULL)));
}

keel_status keel_model_check_weights(keel_model *m, const char *fn, int epoch) {
    for (int k = 0; k < m->n_params; k++) {
        const keel_param *p = m->params[k];
        float acc = 0; /* v * 0 is NaN exactly for a NaN or an infinity */
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < p->size; i++)
            acc += p->w[i] * 0.0f;
        if (acc == 0) continue;
        int64_t i = 0;
        while (i < p->size - 1 && isfinite(p->w[i]))
            i++;
        KEEL_FAIL(
            KEEL_ERR_NAN,
            "%s: weight %s[%lld] became %s during epoch %d; training stopped (lower the learning "
            "rate, or check the data and the loss)",
            fn, p->label, (long long)i, isnan(p->w[i]) ? "nan" : "inf", epoch + 1);
    }
    return KEEL_OK;
}

int keel_model_metric_names(const keel_model *m, const char **names, int cap) {
    if (!m || !m->compiled) return 0;
    for (int i = 0; i < m->n_logs && i < cap; i++)
        names[i] = m->names[i];
    return m->n_logs;
}

double keel_model_learning_rate(const keel_model *m) {
    return m && m->compiled ? (double)m->opt.o.learning_rate : 0.0;
}

int64_t keel_model_count_params(const keel_model *m) {
    if (!m) return 0;
    int64_t total = 0;
    for (int k = 0; k < m->n_params; k++)
        total += m->params[k]->size;
    return total;
}

float *keel_model_weights(keel_model *m, int64_t *count) {
    if (!m || !m->compiled) {
        keel_error(KEEL_ERR_STATE, "keel_model_weights: the model is not compiled");
        return NULL;
    }
    keel_model_get_flat(m, m->flat);
    if (count) *count = m->n_weights;
    return m->flat;
}

keel_layer *keel_model_layer(keel_model *m, int index) {
    if (!m || index < 0 || index >= m->n_layers) {
        keel_error(KEEL_ERR_ARG, "keel_model_layer: no layer %d (the model has %d)", index,
                   m ? m->n_layers : 0);
        return NULL;
    }
    return m->layers[index];
}

int keel_model_layer_count(const keel_model *m) {
    return m ? m->n_layers : 0;
}

static int io_shape(keel_model *m, int index, int64_t *dims, bool input) {
    const char *fn = input ? "keel_model_input_shape" : "keel_model_output_shape";
    if (!m || !dims) KEEL_FAIL(KEEL_ERR_ARG, "%s: %s is NULL", fn, m ? "dims" : "model");
    keel_status st = keel_model_build(m, fn);
    if (st) return st;
    int n = input ? m->n_in_nodes : m->n_out_nodes;
    if (index < 0 || index >= n)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: %s has no %s %d (it has %d)", fn, m->name,
                  input ? "input" : "output", index, n);
    const keel_node *nd = input ? m->in_nodes[index] : m->out_nodes[index];
    memcpy(dims, nd->dims, (size_t)nd->rank * sizeof *dims);
    return nd->rank;
}

int keel_model_input_shape(keel_model *m, int index, int64_t *dims) {
    return io_shape(m, index, dims, true);
}

int keel_model_output_shape(keel_model *m, int index, int64_t *dims) {
    return io_shape(m, index, dims, false);
}

int keel_model_num_inputs(keel_model *m) {
    return m && !keel_model_build(m, "keel_model_num_inputs") ? m->n_in_nodes : 0;
}

int keel_model_num_outputs(keel_model *m) {
    return m && !keel_model_build(m, "keel_model_num_outputs") ? m->n_out_nodes : 0;
}

int keel_model_is_compiled(const keel_model *m) {
    return m && m->compiled;
}

const keel_history *keel_model_history(const keel_model *m) {
    return m ? &m->hist : NULL;
}
