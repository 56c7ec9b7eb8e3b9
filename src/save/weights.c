/* weights.c: a model's weights and optimizer state in HDF5.
 *
 * Keras 3 stores each layer under a path made from its class, not its name:
 * layers/<snake_case class, made unique in its container with _1, _2...>/vars/<i>, with the
 * recurrent layers' weights in their cell (layers/lstm/cell/vars/0), a Bidirectional's in
 * forward_layer/ and backward_layer/, a TimeDistributed's in layer/, a nested model's under its
 * own layers/. Every level also has a (possibly empty) vars group whose "name" attribute is the
 * object's name. The optimizer's variables are optimizer/vars/<i>: iterations, the learning
 * rate (absent under a schedule), then its slots by trainable variable in the model's order.
 * tf.keras 2 stores by layer name instead (see keel_weights_read_legacy). */
#include "save.h"

#include <stdio.h>

typedef struct wentry {
    char path[320];  /* the dataset, or the vars group when p is NULL */
    keel_param *p;   /* NULL: an empty vars group naming an object */
    const char *obj; /* that object's name (the vars group's attribute) */
} wentry;

typedef struct wlist {
    wentry *e;
    int n, cap;
} wlist;

static keel_status add(wlist *w, const char *path, keel_param *p, const char *obj) {
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 32;
        wentry *ne = keel_alloc((size_t)cap * sizeof *ne);
        if (!ne) return KEEL_ERR_NOMEM;
        if (w->n) memcpy(ne, w->e, (size_t)w->n * sizeof *ne);
        keel_free(w->e);
        w->e = ne, w->cap = cap;
    }
    wentry *e = &w->e[w->n++];
    if (snprintf(e->path, sizeof e->path, "%s", path) >= (int)sizeof e->path)
        KEEL_FAIL(KEEL_ERR_ARG, "the model is nested too deeply to save (%s)", path);
    e->p = p, e->obj = obj;
    return KEEL_OK;
}

static keel_status walk_model(wlist *w, keel_model *m, const char *prefix, int depth);

/* The vars group of an object at prefix, then its own weights. */
static keel_status add_vars(wlist *w, const char *prefix, keel_layer *l, const char *obj) {
    char path[320];
    snprintf(path, sizeof path, "%s%svars", prefix, prefix[0] ? "/" : "");
    keel_status st = add(w, path, NULL, obj);
    for (int k = 0; l && !st && k < l->n_params; k++) {
        snprintf(path, sizeof path, "%s%svars/%d", prefix, prefix[0] ? "/" : "", k);
        st = add(w, path, &l->params[k], obj);
    }
    return st;
}

static bool is_rnn(const keel_layer *l) {
    const char *t = l->kind->type;
    return !strcmp(t, "LSTM") || !strcmp(t, "GRU") || !strcmp(t, "SimpleRNN");
}

static const char *cell_name(const keel_layer *l) {
    const char *t = l->kind->type;
    return !strcmp(t, "LSTM") ? "lstm_cell" : !strcmp(t, "GRU") ? "gru_cell" : "simple_rnn_cell";
}

static keel_status walk_layer(wlist *w, keel_layer *l, const char *prefix, int depth) {
    char path[320];
    if (depth > 64) KEEL_FAIL(KEEL_ERR_ARG, "the model is nested too deeply to save");
    if (l->sub) return walk_model(w, l->sub, prefix, depth + 1);
    keel_status st = add_vars(w, prefix, is_rnn(l) || l->n_wrapped ? NULL : l, l->name);
    if (!st && is_rnn(l)) {
        snprintf(path, sizeof path, "%s/cell", prefix);
        st = add_vars(w, path, l, cell_name(l));
    }
    if (!st && !strcmp(l->kind->type, "Bidirectional") && l->n_wrapped == 2) {
        snprintf(path, sizeof path, "%s/forward_layer", prefix);
        if (!(st = walk_layer(w, l->wrapped[0], path, depth + 1))) {
            snprintf(path, sizeof path, "%s/backward_layer", prefix);
            st = walk_layer(w, l->wrapped[1], path, depth + 1);
        }
    } else if (!st && l->n_wrapped == 1) {
        snprintf(path, sizeof path, "%s/layer", prefix);
        st = walk_layer(w, l->wrapped[0], path, depth + 1);
    }
    return st;
}

static keel_status walk_model(wlist *w, keel_model *m, const char *prefix, int depth) {
    keel_kop *ops = keel_alloc((size_t)(m->n_layers + m->n_inputs + 1) * sizeof *ops);
    if (!ops) return KEEL_ERR_NOMEM;
    int n = keel_keras_ops(m, ops);
    keel_status st = n < 0 ? KEEL_ERR_NOMEM : KEEL_OK;
    /* names made unique per container, in order: dense, dense_1, ... */
    char(*used)[64] = keel_alloc((size_t)(n > 0 ? n : 1) * sizeof *used);
    int *counts = keel_alloc((size_t)(n > 0 ? n : 1) * sizeof *counts);
    int n_used = 0;
    if (!used || !counts) st = KEEL_ERR_NOMEM;
    for (int i = 0; !st && i < n; i++) {
        keel_layer *l = ops[i].layer;
        const char *cls = !l       ? "InputLayer"
                          : l->sub ? (l->sub->functional ? "Functional" : "Sequential")
                                   : l->kind->type;
        char snake[64], path[320];
        keel_snake_case(cls, snake, sizeof snake);
        int k = 0;
        while (k < n_used && strcmp(used[k], snake))
            k++;
        if (k == n_used) snprintf(used[n_used++], 64, "%s", snake), counts[k] = 0;
        if (counts[k])
            snprintf(path, sizeof path, "%s%slayers/%s_%d", prefix, prefix[0] ? "/" : "", snake,
                     counts[k]);
        else
            snprintf(path, sizeof path, "%s%slayers/%s", prefix, prefix[0] ? "/" : "", snake);
        counts[k]++;
        st = l ? walk_layer(w, l, path, depth + 1)
               : add_vars(w, path, NULL, m->calls[ops[i].call].name);
    }
    if (!st) st = add_vars(w, prefix, NULL, m->name);
    keel_free(used), keel_free(counts), keel_free(ops);
    return st;
}

/* the index of p in m->params; -1 when the model's graph does not reach it */
static int param_index(const keel_model *m, const keel_param *p) {
    for (int k = 0; k < m->n_params; k++)
        if (m->params[k] == p) return k;
    return -1;
}

/* ---------------------------------------------------------------- optimizer slots */

/* Keras 3's slot groups for the compiled optimizer: within a group, the slots of one variable
 * are interleaved (Adam: m, v per variable); groups follow each other (Adam's amsgrad vhat,
 * RMSprop's velocity then momentum then average_gradient, each over all variables). */
typedef struct slot_groups {
    int n;
    int width[3];
    float *slots[3][2];
} slot_groups;

static slot_groups optimizer_groups(const keel_optimizer *o) {
    slot_groups g = {0};
    switch (o->kind) {
    case KEEL_OPT_SGD:
        if (o->s1) g.width[g.n] = 1, g.slots[g.n++][0] = o->s1;
        break;
    case KEEL_OPT_ADAM:
    case KEEL_OPT_ADAMW:
        g.width[g.n] = 2, g.slots[g.n][0] = o->s1, g.slots[g.n++][1] = o->s2;
        if (o->s3) g.width[g.n] = 1, g.slots[g.n++][0] = o->s3;
        break;
    case KEEL_OPT_RMSPROP:
        g.width[g.n] = 1, g.slots[g.n++][0] = o->s1;
        if (o->s2) g.width[g.n] = 1, g.slots[g.n++][0] = o->s2;
        if (o->s3) g.width[g.n] = 1, g.slots[g.n++][0] = o->s3;
        break;
    case KEEL_OPT_ADAGRAD: g.width[g.n] = 1, g.slots[g.n++][0] = o->s1; break;
    case KEEL_OPT_COUNT: break;
    }
    return g;
}

/* The trainable weights in Keras's order (the walk's), as indices into m->params. */
static int trainable_order(const keel_model *m, const wlist *w, int *out) {
    int n = 0;
    for (int i = 0; i < w->n; i++) {
        if (!w->e[i].p) continue;
        int k = param_index(m, w->e[i].p);
        bool seen = false;
        for (int j = 0; j < n && !seen; j++)
            seen = out[j] == k;
        if (k >= 0 && m->ptrain[k] && !seen) out[n++] = k;
    }
    return n;
}

static keel_status write_optimizer(keel_model *m, hid_t f, const wlist *w) {
    hid_t g = keel_h5_group(f, "optimizer/vars");
    if (g < 0) return keel_last_status();
    keel_status st = keel_h5_attr_str(g, "name", keel_optimizer_name(m->opt.kind));
    int idx = 0;
    char name[32];
    if (!st) st = keel_h5_write_i64_scalar(g, "0", m->opt.iterations), idx++;
    if (!st && !m->opt.schedule.kind) {
        snprintf(name, sizeof name, "%d", idx++);
        st = keel_h5_write_f32(g, name, 0, NULL, &m->opt.o.learning_rate);
    }
    int *order = keel_alloc((size_t)(m->n_params + 1) * sizeof *order);
    if (!order) st = KEEL_ERR_NOMEM;
    int n = st ? 0 : trainable_order(m, w, order);
    slot_groups sg = optimizer_groups(&m->opt);
    for (int gi = 0; !st && gi < sg.n; gi++)
        for (int v = 0; !st && v < n; v++)
            for (int s = 0; !st && s < sg.width[gi]; s++) {
                const keel_param *p = m->params[order[v]];
                snprintf(name, sizeof name, "%d", idx++);
                st = keel_h5_write_f32(g, name, p->rank, p->dims,
                                       sg.slots[gi][s] + m->offsets[order[v]]);
            }
    keel_free(order);
    H5Gclose(g);
    return st;
}

keel_status keel_weights_write(keel_model *m, hid_t f, bool with_optimizer) {
    wlist w = {0};
    keel_status st = walk_model(&w, m, "", 0);
    for (int i = 0; !st && i < w.n; i++) {
        const wentry *e = &w.e[i];
        if (!e->p) {
            hid_t g = keel_h5_group(f, e->path);
            if (g < 0) {
                st = keel_last_status();
                break;
            }
            st = keel_h5_attr_str(g, "name", e->obj);
            H5Gclose(g);
            continue;
        }
        char *slash = strrchr(e->path, '/');
        *slash = 0;
        hid_t g = keel_h5_group(f, e->path);
        *slash = '/';
        if (g < 0) {
            st = keel_last_status();
            break;
        }
        st = keel_h5_write_f32(g, slash + 1, e->p->rank, e->p->dims, e->p->w);
        H5Gclose(g);
    }
    if (!st && with_optimizer && m->compiled) st = write_optimizer(m, f, &w);
    keel_free(w.e);
    return st;
}

/* ---------------------------------------------------------------- reading */

/* The slot datasets' names: Keras 3's optimizer/vars/<first + i>, or tf.keras 2's
 * optimizer_weights/<weight_names[first + i]>. */
typedef struct slot_names {
    int first;
    char **legacy; /* NULL: Keras 3's numbering */
} slot_names;

static void slot_name(const slot_names *sn, int i, char *buf, size_t cap) {
    if (sn->legacy)
        snprintf(buf, cap, "optimizer_weights/%s", sn->legacy[sn->first + i]);
    else
        snprintf(buf, cap, "optimizer/vars/%d", sn->first + i);
}

/* Reads every slot of the n trainable variables in order[] (Keras's order: the groups one
 * after another, a group's slots interleaved by variable) into a staging copy, and only when
 * all of them read, copies them into the optimizer: a failure halfway changes nothing. */
static keel_status read_slots(keel_model *m, hid_t f, const int *order, int n, const slot_names *sn,
                              const char *what) {
    slot_groups sg = optimizer_groups(&m->opt);
    int64_t n_slots = 0;
    for (int gi = 0; gi < sg.n; gi++)
        n_slots += sg.width[gi];
    float *stage = keel_alloc((size_t)(n_slots * m->n_weights + 1) * sizeof(float));
    if (!stage) return KEEL_ERR_NOMEM;
    keel_status st = KEEL_OK;
    char name[512];
    int idx = 0;
    int64_t base = 0;
    for (int gi = 0; !st && gi < sg.n; gi++) {
        for (int v = 0; !st && v < n; v++)
            for (int s = 0; !st && s < sg.width[gi]; s++) {
                const keel_param *p = m->params[order[v]];
                slot_name(sn, idx++, name, sizeof name);
                st = keel_h5_read_f32(f, name, p->rank, p->dims,
                                      stage + (base + s) * m->n_weights + m->offsets[order[v]],
                                      what);
            }
        base += sg.width[gi];
    }
    base = 0;
    for (int gi = 0; !st && gi < sg.n; gi++) {
        for (int s = 0; s < sg.width[gi]; s++)
            for (int v = 0; v < n; v++) {
                int64_t off = m->offsets[order[v]];
                memcpy(sg.slots[gi][s] + off, stage + (base + s) * m->n_weights + off,
                       (size_t)m->params[order[v]]->size * sizeof(float));
            }
        base += sg.width[gi];
    }
    keel_free(stage);
    return st;
}

static keel_status read_optimizer(keel_model *m, hid_t f, const wlist *w, const char *what) {
    if (!keel_h5_exists(f, "optimizer/vars")) return KEEL_OK; /* saved before any compile */
    int64_t have = keel_h5_count(f, "optimizer/vars", what);
    if (have < 0) return keel_last_status();
    int *order = keel_alloc((size_t)(m->n_params + 1) * sizeof *order);
    if (!order) return KEEL_ERR_NOMEM;
    int n = trainable_order(m, w, order);
    slot_groups sg = optimizer_groups(&m->opt);
    int64_t want = 1 + (m->opt.schedule.kind ? 0 : 1);
    for (int gi = 0; gi < sg.n; gi++)
        want += (int64_t)sg.width[gi] * n;
    keel_status st = KEEL_OK;
    /* tf.keras 2.15's .keras files keep no learning-rate variable */
    bool has_lr = !m->opt.schedule.kind && have == want;
    if (!m->opt.schedule.kind && have == want - 1) want--;
    if (have != want) {
        /* an optimizer of another kind or options: Keras warns and skips it too */
        keel_warn("%s: the file's optimizer state has %lld variables, this model's %s expects "
                  "%lld; the optimizer starts fresh",
                  what, (long long)have, keel_optimizer_name(m->opt.kind), (long long)want);
        keel_free(order);
        return KEEL_OK;
    }
    int64_t iters = 0;
    double lr = m->opt.o.learning_rate;
    st = keel_h5_read_i64_scalar(f, "optimizer/vars/0", &iters, what);
    if (!st && has_lr) st = keel_h5_read_f64_scalar(f, "optimizer/vars/1", &lr, what);
    if (!st && (iters < 0 || !(lr >= 0) || !isfinite(lr)))
        st = keel_error(KEEL_ERR_FORMAT,
                        "%s: the optimizer's iterations (%lld) or learning rate "
                        "(%g) is out of range",
                        what, (long long)iters, lr);
    if (!st) st = read_slots(m, f, order, n, &(slot_names){.first = has_lr ? 2 : 1}, what);
    if (!st) {
        m->opt.iterations = iters;
        m->opt.o.learning_rate = (float)lr;
    }
    keel_free(order);
    return st;
}

keel_status keel_weights_read(keel_model *m, hid_t f, bool with_optimizer, const char *what) {
    wlist w = {0};
    keel_status st = walk_model(&w, m, "", 0);
    float *stage = st ? NULL : keel_alloc((size_t)(m->n_weights + 1) * sizeof(float));
    if (!st && !stage) st = KEEL_ERR_NOMEM;
    if (!st) keel_model_get_flat(m, stage);
    for (int i = 0; !st && i < w.n; i++) {
        const wentry *e = &w.e[i];
        int k = e->p ? param_index(m, e->p) : -1;
        if (k < 0) continue;
        st = keel_h5_read_f32(f, e->path, e->p->rank, e->p->dims, stage + m->offsets[k], what);
        if (st == KEEL_ERR_FORMAT && !keel_h5_exists(f, e->path))
            st = keel_error(KEEL_ERR_FORMAT, "%s: no weights for %s (expected at %s)", what,
                            e->p->label[0] ? e->p->label : e->obj, e->path);
    }
    /* the optimizer commits only when all of it read, and before the weights do */
    if (!st && with_optimizer && m->compiled) st = read_optimizer(m, f, &w, what);
    if (!st) keel_model_set_flat(m, stage);
    keel_free(stage), keel_free(w.e);
    return st;
}

/* ---------------------------------------------------------------- tf.keras 2 (legacy .h5) */

/* A layer's weights in tf.keras 2's order (layer.trainable_weights + non_trainable_weights, a
 * nested model's over all its layers), appended to out. */
static int legacy_collect(keel_layer *l, keel_param **out, bool *train, int n, int depth) {
    if (depth > 64) return n;
    if (l->sub) {
        keel_model *s = l->sub;
        keel_kop *ops = keel_alloc((size_t)(s->n_layers + s->n_inputs + 1) * sizeof *ops);
        int k = ops ? keel_keras_ops(s, ops) : -1;
        for (int i = 0; i < k; i++)
            if (ops[i].layer) n = legacy_collect(ops[i].layer, out, train, n, depth + 1);
        keel_free(ops);
        return n;
    }
    for (int i = 0; i < l->n_wrapped; i++)
        n = legacy_collect(l->wrapped[i], out, train, n, depth + 1);
    for (int k = 0; k < l->n_params; k++) {
        out[n] = &l->params[k];
        train[n++] = l->trainable && l->params[k].own_trainable;
    }
    return n;
}

static int count_params(const keel_layer *l, int depth) {
    int n = l->n_params;
    for (int i = 0; i < l->n_wrapped; i++)
        n += count_params(l->wrapped[i], depth + 1);
    for (int i = 0; l->sub && depth < 64 && i < l->sub->n_layers; i++)
        n += count_params(l->sub->layers[i], depth + 1);
    return n;
}

static keel_status legacy_layer(keel_model *m, hid_t g, keel_layer *l, float *stage,
                                const char *what) {
    int cap = count_params(l, 0);
    keel_param **ps = keel_alloc((size_t)(cap + 1) * sizeof *ps);
    bool *tr = keel_alloc((size_t)(cap + 1) * sizeof *tr);
    keel_param **ordered = keel_alloc((size_t)(cap + 1) * sizeof *ordered);
    if (!ps || !tr || !ordered) {
        keel_free(ps), keel_free(tr), keel_free(ordered);
        return KEEL_ERR_NOMEM;
    }
    int n = legacy_collect(l, ps, tr, 0, 0), k = 0;
    for (int pass = 0; pass < 2; pass++) /* trainable first, each group in order */
        for (int i = 0; i < n; i++)
            if (tr[i] == (pass == 0)) ordered[k++] = ps[i];
    char **names = NULL;
    int n_names = 0;
    keel_status st = KEEL_OK;
    if (!keel_h5_exists(g, l->name)) {
        if (n) st = keel_error(KEEL_ERR_FORMAT, "%s: no weights for layer %s", what, l->name);
    } else {
        st = keel_h5_attr_strings(g, l->name, "weight_names", false, &names, &n_names, what);
        if (!st && n_names != n)
            st = keel_error(KEEL_ERR_SHAPE,
                            "%s: layer %s has %d weights in the file, the model's "
                            "has %d",
                            what, l->name, n_names, n);
    }
    for (int i = 0; !st && i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", l->name, names[i]);
        int j = param_index(m, ordered[i]);
        if (j < 0) continue;
        st = keel_h5_read_f32(g, path, ordered[i]->rank, ordered[i]->dims, stage + m->offsets[j],
                              what);
    }
    keel_h5_strings_free(names, n_names);
    keel_free(ps), keel_free(tr), keel_free(ordered);
    return st;
}

keel_status keel_weights_read_legacy(keel_model *m, hid_t g, const char *what) {
    keel_kop *ops = keel_alloc((size_t)(m->n_layers + m->n_inputs + 1) * sizeof *ops);
    float *stage = keel_alloc((size_t)(m->n_weights + 1) * sizeof(float));
    int n = ops ? keel_keras_ops(m, ops) : -1;
    keel_status st = n < 0 || !stage ? KEEL_ERR_NOMEM : KEEL_OK;
    if (!st) keel_model_get_flat(m, stage);
    for (int i = 0; !st && i < n; i++)
        if (ops[i].layer) st = legacy_layer(m, g, ops[i].layer, stage, what);
    if (!st) keel_model_set_flat(m, stage);
    keel_free(ops), keel_free(stage);
    return st;
}

keel_status keel_optimizer_read_legacy(keel_model *m, hid_t f, const char *what) {
    if (!m->compiled || !keel_h5_exists(f, "optimizer_weights")) return KEEL_OK;
    char **names = NULL;
    int n_names = 0;
    keel_status st =
        keel_h5_attr_strings(f, "optimizer_weights", "weight_names", true, &names, &n_names, what);
    if (st) return st;
    wlist w = {0};
    int *order = keel_alloc((size_t)(m->n_params + 1) * sizeof *order);
    if (!order || (st = walk_model(&w, m, "", 0))) {
        keel_free(order), keel_free(w.e), keel_h5_strings_free(names, n_names);
        return st ? st : KEEL_ERR_NOMEM;
    }
    int n = trainable_order(m, &w, order);
    slot_groups sg = optimizer_groups(&m->opt);
    int want = 1;
    for (int gi = 0; gi < sg.n; gi++)
        want += sg.width[gi] * n;
    int64_t iters = 0;
    bool ok = n_names == want;
    if (ok) {
        char path[512];
        snprintf(path, sizeof path, "optimizer_weights/%s", names[0]);
        ok = !keel_h5_read_i64_scalar(f, path, &iters, what) && iters >= 0 &&
             !read_slots(m, f, order, n, &(slot_names){.first = 1, .legacy = names}, what);
        if (ok) m->opt.iterations = iters;
    }
    if (!ok)
        keel_warn("%s: the file's optimizer state (%d variables) does not fit this model's %s "
                  "(%d expected); the optimizer starts fresh",
                  what, n_names, keel_optimizer_name(m->opt.kind), want);
    keel_free(order), keel_free(w.e);
    keel_h5_strings_free(names, n_names);
    return KEEL_OK;
}
