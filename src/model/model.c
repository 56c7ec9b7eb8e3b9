/* model.c: Sequential models: adding layers, compiling (graph, weights, optimizer, loss,
 * metrics), the model's kept error, weight access. Training loops live in fit.c. */
#include "model.h"

#include <stdio.h>

#define DEFAULT_SEED 1337

keel_model *keel_sequential(const char *name) {
    keel_runtime_init();
    keel_model *m = keel_alloc(sizeof *m);
    if (!m) return NULL;
    snprintf(m->name, sizeof m->name, "%s", name ? name : "sequential");
    m->seed = DEFAULT_SEED;
    return m;
}

void keel_model_free(keel_model *m) {
    if (!m) return;
    keel_graph_free(&m->g); /* first: its profile report names the layers */
    for (int i = 0; i < m->n_layers; i++)
        keel_layer_free(m->layers[i]);
    keel_free(m->layers);
    keel_free(m->params);
    keel_free(m->weights);
    keel_free(m->grads);
    keel_optimizer_free(&m->opt);
    keel_free(m->ybuf);
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
    if (st == KEEL_OK && m->compiled)
        st = keel_model_fail(
            m, keel_error(KEEL_ERR_STATE,
                          "keel_add: %s is already compiled; add layers before keel_compile",
                          m->name));
    if (st == KEEL_OK && m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        keel_layer **nl = keel_alloc((size_t)cap * sizeof *nl);
        if (!nl)
            st = keel_model_fail(m, KEEL_ERR_NOMEM);
        else {
            if (m->n_layers) memcpy(nl, m->layers, (size_t)m->n_layers * sizeof *nl);
            keel_free(m->layers);
            m->layers = nl, m->cap_layers = cap;
        }
    }
    if (st) {
        keel_layer_free(layer);
        return st;
    }
    m->layers[m->n_layers++] = layer;
    return KEEL_OK;
}

/* Keras names unnamed layers by type: dense, dense_1, dense_2, ... */
static void name_layers(keel_model *m) {
    for (int i = 0; i < m->n_layers; i++) {
        keel_layer *l = m->layers[i];
        if (l->name[0]) continue;
        int count = 0;
        for (int j = 0; j < i; j++)
            count += m->layers[j]->kind == l->kind;
        if (count)
            snprintf(l->name, sizeof l->name, "%s_%d", l->kind->prefix, count);
        else
            snprintf(l->name, sizeof l->name, "%s", l->kind->prefix);
    }
}

static keel_status build_graph(keel_model *m) {
    keel_layer *first = m->layers[0];
    if (first->input_rank == 0)
        KEEL_FAIL(
            KEEL_ERR_STATE,
            "keel_compile: %s's first layer %s has no input shape (add keel_input(.shape = {...}) "
            "first, or give it .input_dim / .input_shape)",
            m->name, first->name);
    keel_node *in = keel_graph_add(&m->g, &keel_op_input, NULL, NULL, 0);
    if (!in) return KEEL_ERR_NOMEM;
    in->rank = first->input_rank;
    memcpy(in->dims, first->input_dims, sizeof in->dims);
    in->size = keel_dims_prod(in->rank, in->dims);
    m->input = in;
    keel_node *cur = in;
    for (int i = 0; i < m->n_layers; i++) {
        keel_layer *l = m->layers[i];
        if (!strcmp(l->kind->type, "InputLayer") && i > 0)
            KEEL_FAIL(KEEL_ERR_STATE,
                      "keel_compile: %s is an Input layer at position %d; it must come first",
                      l->name, i + 1);
        keel_node *nd = l->kind->build(l, &m->g, cur);
        if (!nd) return KEEL_ERR_SHAPE;
        l->node = nd;
        cur = nd;
    }
    m->output = cur;
    if (cur == in) KEEL_FAIL(KEEL_ERR_STATE, "keel_compile: %s has only an Input layer", m->name);
    return KEEL_OK;
}

/* collate every weight in one flat buffer, then initialize each */
static keel_status build_weights(keel_model *m) {
    int np = 0;
    int64_t total = 0;
    for (int i = 0; i < m->n_layers; i++)
        np += m->layers[i]->n_params;
    m->params = keel_alloc((size_t)(np ? np : 1) * sizeof *m->params);
    if (!m->params) return KEEL_ERR_NOMEM;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_params; k++) {
            keel_param *p = &m->layers[i]->params[k];
            p->offset = total;
            if (p->size > INT64_MAX / 8 - total)
                KEEL_FAIL(KEEL_ERR_NOMEM, "keel_compile: %s has too many weights (more than 2^60)",
                          m->name);
            total += p->size;
            m->params[m->n_params++] = p;
        }
    m->n_weights = total;
    m->weights = keel_alloc((size_t)(total ? total : 1) * sizeof(float));
    m->grads = keel_alloc((size_t)(total ? total : 1) * sizeof(float));
    if (!m->weights || !m->grads) return KEEL_ERR_NOMEM;
    for (int i = 0; i < m->n_layers; i++) {
        keel_layer *l = m->layers[i];
        for (int k = 0; k < l->n_params; k++) {
            keel_param *p = &l->params[k];
            p->w = m->weights + p->offset;
            p->g = m->grads + p->offset;
            char what[128];
            snprintf(what, sizeof what, "%s: %s", l->name, p->name);
            snprintf(p->label, sizeof p->label, "%s/%s", l->name, p->name);
            keel_status st =
                keel_init_param(p, m->seed, (uint64_t)(i * KEEL_MAX_PARAMS + k + 1), what);
            if (st) return st;
            st = keel_reg_parse(p->regularizer, &p->l1, &p->l2, what);
            if (st) return st;
        }
    }
    return KEEL_OK;
}

/* Folds a final sigmoid / softmax into a crossentropy loss (see losses.c). */
static void fuse_loss(keel_model *m) {
    keel_node *out = m->output;
    keel_act_kind a = out->act.kind;
    bool is_act_node = out->op == &keel_op_dense || out->op == &keel_op_activation;
    m->loss.fused = false;
    out->loss_fused = false;
    out->keep_pre = keel_act_needs_input(a);
    if (!is_act_node || m->loss.from_logits) return;
    if ((m->loss.kind == KEEL_LOSS_BCE && a == KEEL_ACT_SIGMOID) ||
        ((m->loss.kind == KEEL_LOSS_CCE || m->loss.kind == KEEL_LOSS_SPARSE_CCE) &&
         a == KEEL_ACT_SOFTMAX)) {
        m->loss.fused = out->loss_fused = out->keep_pre = true;
    }
}

keel_status keel_compile_(keel_model *m, keel_compile_opts o) {
    keel_status st = keel_model_check(m, "keel_compile");
    if (st) return st;
    if (m->n_layers == 0)
        return keel_model_fail(m, keel_error(KEEL_ERR_STATE,
                                             "keel_compile: %s has no layers (keel_add some first)",
                                             m->name));
    keel_loss loss;
    keel_metric metrics[KEEL_MAX_METRICS];
    int nm = 0;
    if ((st = keel_loss_parse(o.loss, o.loss_opts, &loss))) return keel_model_fail(m, st);
    for (; nm < KEEL_MAX_METRICS && o.metrics[nm]; nm++)
        if ((st = keel_metric_parse(o.metrics[nm], &metrics[nm]))) return keel_model_fail(m, st);
    if (!m->compiled) {
        name_layers(m);
        if ((st = build_graph(m)) || (st = build_weights(m))) return keel_model_fail(m, st);
    }
    keel_optimizer_free(&m->opt);
    if ((st = keel_optimizer_init(&m->opt, o.optimizer, o.optimizer_opts, m->n_weights)))
        return keel_model_fail(m, st);
    m->loss = loss;
    memcpy(m->metrics, metrics, sizeof metrics);
    m->n_metrics = nm;
    m->names[0] = "loss";
    for (int i = 0; i < nm; i++)
        m->names[i + 1] = m->metrics[i].name;
    fuse_loss(m);
    /* buffers are laid out again at the next call: the fused loss may need a new buffer */
    keel_free(m->g.arena);
    m->g.arena = NULL;
    m->g.batch_cap = 0;
    m->compiled = true;
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
    for (int i = 0; i < m->n_metrics + 1 && i < cap; i++)
        names[i] = m->names[i];
    return m->n_metrics + 1;
}

int64_t keel_model_count_params(const keel_model *m) {
    if (!m) return 0;
    int64_t total = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_params; k++)
            total += m->layers[i]->params[k].size;
    return total;
}

float *keel_model_weights(keel_model *m, int64_t *count) {
    if (!m || !m->compiled) {
        keel_error(KEEL_ERR_STATE, "keel_model_weights: the model is not compiled");
        return NULL;
    }
    if (count) *count = m->n_weights;
    return m->weights;
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

const keel_history *keel_model_history(const keel_model *m) {
    return m ? &m->hist : NULL;
}
