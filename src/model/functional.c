/* functional.c: the functional API (keras.Model(inputs, outputs)): inputs, layer calls on
 * symbolic tensors, outputs; a model used as a layer (in a Sequential or a functional call);
 * trainable flags. A functional model records a recipe, a list of calls each naming earlier
 * calls as its inputs, so it cannot hold a cycle; compiling expands the recipe into a graph
 * (model.c), once per model that uses it. A call with several outputs (keel_apply_outputs) is
 * recorded as the call, whose node holds them all, and one pick per output (src/graph/parts.c);
 * only the picks are handed out. */
#include "model.h"

#include <stdio.h>

/* ---------------------------------------------------------------- models as layers */

static void model_layer_free(keel_layer *l) {
    if (l->sub->as_layer == l) l->sub->as_layer = NULL;
    keel_model_free(l->sub); /* the wrapper's reference */
}

static const keel_layer_kind model_kind = {
    .type = "Model", .prefix = "model", .free_cfg = model_layer_free};

keel_layer *keel_model_as_layer(keel_model *m) {
    if (m->as_layer) return m->as_layer; /* held already: the caller's hold adds a reference */
    keel_layer *l = keel_layer_new(&model_kind, m->name, NULL, 0, NULL);
    if (!l) return NULL;
    l->sub = m;
    m->refs++;
    m->as_layer = l;
    return l;
}

bool keel_model_contains(const keel_model *inner, const keel_model *m) {
    if (inner == m) return true;
    for (int i = 0; i < inner->n_layers; i++)
        if (inner->layers[i]->sub && keel_model_contains(inner->layers[i]->sub, m)) return true;
    return false;
}

keel_status keel_add_model(keel_model *m, keel_model *inner) {
    if (!m) KEEL_FAIL(KEEL_ERR_ARG, "keel_add_model: model is NULL");
    if (!inner)
        return keel_model_fail(
            m, keel_error(KEEL_ERR_ARG, "keel_add_model: the model to add to %s is NULL", m->name));
    if (keel_model_contains(inner, m))
        return keel_model_fail(
            m, keel_error(KEEL_ERR_ARG,
                          "keel_add_model: %s cannot be added to %s: a model cannot contain itself",
                          inner->name, m->name));
    keel_layer *l = keel_model_as_layer(inner);
    if (!l) return keel_model_fail(m, KEEL_ERR_NOMEM);
    return keel_add(m, l);
}

keel_status keel_layer_set_trainable(keel_layer *l, int trainable) {
    if (!l) KEEL_FAIL(KEEL_ERR_ARG, "keel_layer_set_trainable: layer is NULL");
    l->trainable = trainable != 0;
    if (l->sub) keel_model_set_trainable(l->sub, trainable);
    for (int i = 0; i < l->n_wrapped; i++)
        keel_layer_set_trainable(l->wrapped[i], trainable);
    return KEEL_OK;
}

keel_status keel_model_set_trainable(keel_model *m, int trainable) {
    if (!m) KEEL_FAIL(KEEL_ERR_ARG, "keel_model_set_trainable: model is NULL");
    /* Keras 2: model.trainable = False freezes every layer below it */
    for (int i = 0; i < m->n_layers; i++)
        keel_layer_set_trainable(m->layers[i], trainable);
    if (m->as_layer) m->as_layer->trainable = trainable != 0;
    return KEEL_OK;
}

int keel_layer_trainable(const keel_layer *l) {
    return l ? l->trainable : 0;
}

/* ---------------------------------------------------------------- recipes */

keel_model *keel_model_new(const char *name) {
    return keel_model_alloc(name, true);
}

/* a new call and its symbolic tensor; NULL when out of memory */
static keel_sym *new_call(keel_model *m, const keel_callrec *c) {
    if (m->n_calls == m->cap_calls) {
        int cap = m->cap_calls ? 2 * m->cap_calls : 16;
        keel_callrec *nc = keel_alloc((size_t)cap * sizeof *nc);
        keel_sym **ns = keel_alloc((size_t)cap * sizeof *ns);
        if (!nc || !ns) {
            keel_free(nc), keel_free(ns);
            return NULL;
        }
        if (m->n_calls) {
            memcpy(nc, m->calls, (size_t)m->n_calls * sizeof *nc);
            memcpy(ns, m->syms, (size_t)m->n_calls * sizeof *ns);
        }
        keel_free(m->calls), keel_free(m->syms);
        m->calls = nc, m->syms = ns, m->cap_calls = cap;
    }
    keel_sym *s = keel_alloc(sizeof *s);
    if (!s) return NULL;
    s->model = m;
    s->call = m->n_calls;
    m->calls[m->n_calls] = *c;
    m->syms[m->n_calls++] = s;
    return s;
}

static keel_sym *fail_sym(keel_model *m, keel_status st) {
    keel_model_fail(m, st);
    return NULL;
}

/* the state checks every recipe call starts with */
static keel_status recipe_check(keel_model *m, const char *fn) {
    keel_status st = keel_model_check(m, fn);
    if (st) return st;
    if (!m->functional)
        return keel_model_fail(m,
                               keel_error(KEEL_ERR_STATE,
                                          "%s: %s is a Sequential model (use keel_add, or make a "
                                          "functional model with keel_model_new)",
                                          fn, m->name));
    if (m->compiled)
        return keel_model_fail(
            m, keel_error(KEEL_ERR_STATE, "%s: %s is already compiled", fn, m->name));
    return KEEL_OK;
}

keel_sym *keel_model_input_(keel_model *m, keel_input_opts o) {
    if (recipe_check(m, "keel_model_input")) return NULL;
    if (m->n_inputs == KEEL_MAX_IO)
        return fail_sym(
            m, keel_error(KEEL_ERR_ARG,
                          "keel_model_input: %s has %d inputs already (the most keel takes)",
                          m->name, KEEL_MAX_IO));
    keel_layer *probe = keel_input_(o); /* the same checks as keel_input */
    if (!probe) return fail_sym(m, KEEL_ERR_ARG);
    keel_callrec c = {.rank = probe->input_rank};
    memcpy(c.dims, probe->input_dims, sizeof c.dims);
    if (o.name) snprintf(c.name, sizeof c.name, "%s", o.name);
    keel_layer_free(probe);
    keel_sym *s = new_call(m, &c);
    if (!s) return fail_sym(m, KEEL_ERR_NOMEM);
    m->inputs[m->n_inputs++] = s->call;
    return s;
}

/* The checks and the record of one layer call by `fn`; its symbolic tensor, or NULL with the
 * error on the model (the layer freed when no model holds it). A layer with several outputs is
 * refused unless `multi` (keel_apply_outputs, which adds the picks). */
static keel_sym *add_call(keel_model *m, keel_layer *layer, int n, keel_sym *const *xs,
                          const char *fn, bool multi) {
    if (!m) {
        keel_layer_free(layer);
        keel_error(KEEL_ERR_ARG, "%s: model is NULL", fn);
        return NULL;
    }
    if (!layer) {
        char why[KEEL_ERR_CAP];
        snprintf(why, sizeof why, "%s", keel_last_error());
        return fail_sym(m, keel_error(KEEL_ERR_ARG, "%s: the layer applied in %s is NULL (%s)", fn,
                                      m->name, why[0] ? why : "its constructor failed"));
    }
    const char *lname = layer->name[0] ? layer->name : layer->kind->prefix;
    keel_status st = recipe_check(m, fn);
    if (!st && (n < 1 || n > KEEL_MAX_IN || !xs))
        st = keel_model_fail(m, keel_error(KEEL_ERR_ARG, "%s: %s takes 1 to %d inputs, got %d", fn,
                                           lname, KEEL_MAX_IN, n));
    for (int i = 0; !st && i < n; i++) {
        if (!xs[i])
            st = keel_model_fail(m, keel_error(KEEL_ERR_ARG,
                                               "%s: input %d of %s is NULL (an earlier call "
                                               "failed: %s)",
                                               fn, i, lname, m->error));
        else if (xs[i]->model != m)
            st = keel_model_fail(m, keel_error(KEEL_ERR_ARG,
                                               "%s: input %d of %s belongs to model %s, not %s "
                                               "(a symbolic tensor is used in the model that "
                                               "made it)",
                                               fn, i, lname, xs[i]->model->name, m->name));
    }
    if (!st && layer->sub && keel_model_contains(layer->sub, m))
        st = keel_model_fail(
            m, keel_error(KEEL_ERR_ARG, "%s: %s cannot be applied inside itself", fn, m->name));
    const int outs = keel_layer_outputs(layer);
    if (!st && outs > 1 && !multi)
        st = keel_model_fail(m, keel_error(KEEL_ERR_ARG,
                                           "%s: %s returns %d outputs (return_state or "
                                           "merge_mode \"none\"); apply it with "
                                           "keel_apply_outputs",
                                           fn, lname, outs));
    if (st) {
        keel_layer_free(layer);
        return NULL;
    }
    keel_callrec c = {.layer = layer, .n_in = n};
    for (int i = 0; i < n; i++)
        c.in[i] = xs[i]->call;
    if ((st = keel_model_hold(m, layer))) {
        keel_layer_free(layer);
        return fail_sym(m, st);
    }
    keel_sym *s = new_call(m, &c);
    return s ? s : fail_sym(m, KEEL_ERR_NOMEM);
}

keel_sym *keel_apply_n(keel_model *m, keel_layer *layer, int n, keel_sym *const *xs) {
    return add_call(m, layer, n, xs, "keel_apply", false);
}

keel_sym *keel_apply(keel_model *m, keel_layer *layer, keel_sym *x) {
    return keel_apply_n(m, layer, 1, &x);
}

int keel_apply_outputs(keel_model *m, keel_layer *layer, int n_in, keel_sym *const *xs, int max_out,
                       keel_sym **outs) {
    const char *fn = "keel_apply_outputs";
    const int count = layer ? keel_layer_outputs(layer) : 1;
    if (m && layer && (!outs || max_out < count)) {
        keel_status st = keel_model_fail(
            m, keel_error(KEEL_ERR_ARG, "%s: %s returns %d output%s; outs has room for %d", fn,
                          layer->name[0] ? layer->name : layer->kind->prefix, count,
                          count == 1 ? "" : "s", outs ? max_out : 0));
        keel_layer_free(layer);
        return st;
    }
    keel_sym *call = add_call(m, layer, n_in, xs, fn, true);
    if (!call) return m ? keel_model_check(m, fn) : keel_last_status();
    if (count == 1) {
        outs[0] = call;
        return 1;
    }
    for (int k = 0; k < count; k++) {
        keel_callrec c = {.pick = true, .part = k, .n_in = 1, .in = {call->call}};
        if (!(outs[k] = new_call(m, &c))) return keel_model_fail(m, KEEL_ERR_NOMEM);
    }
    return count;
}

keel_sym *keel_apply_model(keel_model *m, keel_model *inner, int n, keel_sym *const *xs) {
    if (!m || !inner) {
        if (m)
            return fail_sym(m, keel_error(KEEL_ERR_ARG,
                                          "keel_apply_model: the model applied in %s is NULL",
                                          m->name));
        keel_error(KEEL_ERR_ARG, "keel_apply_model: model is NULL");
        return NULL;
    }
    if (keel_model_contains(inner, m))
        return fail_sym(m, keel_error(KEEL_ERR_ARG,
                                      "keel_apply_model: %s cannot be applied inside itself",
                                      m->name));
    keel_layer *l = keel_model_as_layer(inner);
    if (!l) return fail_sym(m, KEEL_ERR_NOMEM);
    return keel_apply_n(m, l, n, xs);
}

/* marks the calls an output depends on */
static void reach(const keel_model *m, int call, bool *seen) {
    if (seen[call]) return;
    seen[call] = true;
    for (int k = 0; k < m->calls[call].n_in; k++)
        reach(m, m->calls[call].in[k], seen);
}

keel_status keel_model_outputs(keel_model *m, int n, keel_sym *const *outs) {
    keel_status st = recipe_check(m, "keel_model_outputs");
    if (st) return st;
    if (n < 1 || n > KEEL_MAX_IO || !outs)
        return keel_model_fail(m, keel_error(KEEL_ERR_ARG,
                                             "keel_model_outputs: %s takes 1 to %d outputs, got %d",
                                             m->name, KEEL_MAX_IO, n));
    if (m->n_inputs == 0)
        return keel_model_fail(m,
                               keel_error(KEEL_ERR_STATE,
                                          "keel_model_outputs: %s has no inputs (keel_model_input "
                                          "first)",
                                          m->name));
    for (int i = 0; i < n; i++) {
        if (!outs[i])
            return keel_model_fail(m, keel_error(KEEL_ERR_ARG,
                                                 "keel_model_outputs: output %d of %s is NULL", i,
                                                 m->name));
        if (outs[i]->model != m)
            return keel_model_fail(m,
                                   keel_error(KEEL_ERR_ARG,
                                              "keel_model_outputs: output %d belongs to model %s, "
                                              "not %s",
                                              i, outs[i]->model->name, m->name));
    }
    bool *seen = keel_alloc((size_t)m->n_calls);
    if (!seen) return keel_model_fail(m, KEEL_ERR_NOMEM);
    for (int i = 0; i < n; i++)
        reach(m, outs[i]->call, seen);
    for (int i = 0; i < m->n_inputs; i++)
        if (!seen[m->inputs[i]]) {
            keel_free(seen);
            return keel_model_fail(
                m, keel_error(KEEL_ERR_ARG,
                              "keel_model_outputs: input %d of %s is not connected to any output",
                              i, m->name));
        }
    keel_free(seen);
    for (int i = 0; i < n; i++)
        m->outputs[i] = outs[i]->call;
    m->n_outputs = n;
    return KEEL_OK;
}

keel_node *keel_functional_expand(keel_model *m, build_ctx *bc, keel_graph *g, keel_node **in,
                                  int n, keel_node **outs) {
    if (n != m->n_inputs) {
        keel_error(KEEL_ERR_ARG, "%s takes %d input%s, got %d", m->name, m->n_inputs,
                   m->n_inputs == 1 ? "" : "s", n);
        return NULL;
    }
    if (m->n_outputs == 0) {
        keel_error(KEEL_ERR_STATE, "%s has no outputs (keel_model_outputs)", m->name);
        return NULL;
    }
    if (!outs && m->n_outputs > 1) {
        keel_error(KEEL_ERR_ARG, "%s has %d outputs; a model used as a layer must have one",
                   m->name, m->n_outputs);
        return NULL;
    }
    keel_node **node_of = keel_alloc((size_t)m->n_calls * sizeof *node_of);
    if (!node_of) return NULL;
    int next_input = 0;
    for (int c = 0; c < m->n_calls; c++) {
        const keel_callrec *rec = &m->calls[c];
        if (rec->pick) { /* one output of the call before it */
            keel_node *src = node_of[rec->in[0]];
            KEEL_ASSERT(rec->part < src->n_parts);
            if (!(node_of[c] = keel_graph_pick(g, src, rec->part))) {
                keel_free(node_of);
                return NULL;
            }
            m->calls[c].out_rank = node_of[c]->rank;
            memcpy(m->calls[c].out_dims, node_of[c]->dims, sizeof node_of[c]->dims);
            continue;
        }
        if (!rec->layer) {
            keel_node *x = in[next_input++];
            bool ok = x->rank == rec->rank;
            for (int i = 0; ok && i < rec->rank; i++)
                ok = x->dims[i] == rec->dims[i];
            if (!ok) {
                char a[160], b[160];
                keel_error(KEEL_ERR_SHAPE, "%s: input %d expects %s, got %s", m->name,
                           next_input - 1, keel_dims_str(rec->rank, rec->dims, true, a, sizeof a),
                           keel_dims_str(x->rank, x->dims, true, b, sizeof b));
                keel_free(node_of);
                return NULL;
            }
            node_of[c] = x;
            m->calls[c].out_rank = x->rank;
            memcpy(m->calls[c].out_dims, x->dims, sizeof x->dims);
            continue;
        }
        keel_node *ins[KEEL_MAX_IN];
        for (int k = 0; k < rec->n_in; k++)
            ins[k] = node_of[rec->in[k]];
        node_of[c] = keel_build_call(bc, rec->layer, g, ins, rec->n_in);
        if (!node_of[c]) {
            keel_free(node_of);
            return NULL;
        }
        m->calls[c].out_rank = node_of[c]->rank;
        memcpy(m->calls[c].out_dims, node_of[c]->dims, sizeof node_of[c]->dims);
        if (m == bc->top)
            for (int i = 0; i < m->n_layers; i++)
                if (m->layers[i] == rec->layer) m->layer_nodes[i] = node_of[c];
    }
    for (int i = 0; outs && i < m->n_outputs; i++)
        outs[i] = node_of[m->outputs[i]];
    keel_node *first = node_of[m->outputs[0]];
    keel_free(node_of);
    return first;
}
