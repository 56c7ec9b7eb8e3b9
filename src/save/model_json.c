/* model_json.c: a model as Keras's JSON config and back.
 *
 * Writing follows Keras 3 (what a .keras file's config.json holds); reading takes Keras 3's
 * schema and tf.keras 2's (the "model_config" of a legacy .h5): the differences are the input
 * shape key (batch_shape / batch_input_shape) and a functional model's inbound nodes, which
 * Keras 3 writes as {"args": [tensors], "kwargs": {}} with each tensor a "__keras_tensor__"
 * carrying its keras_history [layer, node, tensor], and tf.keras 2 as lists
 * [[layer, node, tensor, kwargs], ...]. */
#include "save.h"

#include <stdio.h>

/* ---------------------------------------------------------------- writing */

static json_t *shape_json(int rank, const int64_t *dims) {
    json_t *a = json_array();
    if (!a) return NULL;
    json_array_append_new(a, json_null());
    for (int i = 0; i < rank; i++)
        json_array_append_new(a, json_integer(dims[i]));
    return a;
}

static json_t *dtype_policy(void) {
    return json_pack("{s:s, s:s, s:{s:s}, s:n}", "module", "keras", "class_name", "DTypePolicy",
                     "config", "name", "float32", "registered_name");
}

static json_t *input_layer_json(const char *name, int rank, const int64_t *dims) {
    return json_pack("{s:s, s:s, s:{s:o, s:s, s:b, s:b, s:s, s:b}, s:n}", "module", "keras.layers",
                     "class_name", "InputLayer", "config", "batch_shape", shape_json(rank, dims),
                     "dtype", "float32", "sparse", 0, "ragged", 0, "name", name, "optional", 0,
                     "registered_name");
}

/* build_config {"input_shape": shape, or a list of shapes for a layer of several inputs} */
static json_t *build_config(const keel_layer *l) {
    if (l->call_n_in <= 0) return NULL;
    json_t *shape;
    if (l->call_n_in == 1) {
        shape = shape_json(l->call_rank[0], l->call_dims[0]);
    } else {
        shape = json_array();
        for (int k = 0; shape && k < l->call_n_in; k++)
            json_array_append_new(shape, shape_json(l->call_rank[k], l->call_dims[k]));
    }
    return json_pack("{s:o}", "input_shape", shape);
}

/* A layer as its model lists it (no inbound nodes yet). */
static json_t *layer_entry(const keel_layer *l) {
    json_t *j = l->sub ? keel_model_layer_to_json(l) : keel_layer_to_json(l, -1, NULL);
    if (!j) return NULL;
    json_t *bc = build_config(l);
    if (bc) json_object_set_new(j, "build_config", bc);
    return j;
}

static json_t *model_json(keel_model *m, bool nested);

json_t *keel_model_layer_to_json(const keel_layer *l) {
    return model_json(l->sub, true);
}

static json_t *sequential_json(keel_model *m) {
    json_t *layers = json_array();
    const keel_layer *first = m->n_layers ? m->layers[0] : NULL;
    int64_t dims[KEEL_MAX_RANK] = {0};
    int rank = keel_model_declared_input(m, dims);
    if (!rank && first && first->call_n_in)
        rank = first->call_rank[0], memcpy(dims, first->call_dims[0], sizeof dims);
    const char *in_name = first && !strcmp(first->kind->type, "InputLayer") && first->name[0]
                              ? first->name
                              : "input_layer";
    if (!layers || json_array_append_new(layers, input_layer_json(in_name, rank, dims))) {
        json_decref(layers);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (!strcmp(m->layers[i]->kind->type, "InputLayer")) continue;
        json_t *e = layer_entry(m->layers[i]);
        if (!e || json_array_append_new(layers, e)) {
            json_decref(layers);
            return NULL;
        }
    }
    return json_pack("{s:s, s:s, s:{s:s, s:b, s:o, s:o, s:o}, s:n, s:{s:o}}", "module", "keras",
                     "class_name", "Sequential", "config", "name", m->name, "trainable",
                     m->as_layer ? m->as_layer->trainable : 1, "dtype", dtype_policy(), "layers",
                     layers, "build_input_shape", shape_json(rank, dims), "registered_name",
                     "build_config", "input_shape", shape_json(rank, dims));
}

static const char *call_name(const keel_model *m, int c) {
    return m->calls[c].layer ? m->calls[c].layer->name : m->calls[c].name;
}

/* node[c]: the index of call c among its layer's calls that reach the outputs (Keras numbers
 * only those) */
static json_t *history(const keel_model *m, const int *node, int c) {
    int src = keel_keras_source(m, c), part = m->calls[c].pick ? m->calls[c].part : 0;
    return json_pack("[s, i, i]", call_name(m, src), node[src], part);
}

static bool takes_states(const keel_layer *l) {
    const char *t = l->kind->type;
    return !strcmp(t, "LSTM") || !strcmp(t, "GRU") || !strcmp(t, "SimpleRNN");
}

static json_t *keras_tensor(const keel_model *m, const int *node, int c) {
    const keel_callrec *r = &m->calls[c];
    return json_pack("{s:s, s:{s:o, s:s, s:o}}", "class_name", "__keras_tensor__", "config",
                     "shape", shape_json(r->out_rank, r->out_dims), "dtype", "float32",
                     "keras_history", history(m, node, c));
}

/* reach[c]: call c is one the outputs read, at any distance (a stack, not recursion: a chain of
 * thousands of calls) */
static void mark_reach(const keel_model *m, bool *reach, int *stack) {
    int top = 0;
    for (int i = 0; i < m->n_outputs; i++) {
        int c = keel_keras_source(m, m->outputs[i]);
        if (!reach[c]) reach[c] = true, stack[top++] = c;
    }
    while (top) {
        const keel_callrec *r = &m->calls[stack[--top]];
        for (int i = 0; r->layer && i < r->n_in; i++) {
            int p = keel_keras_source(m, r->in[i]);
            if (!reach[p]) reach[p] = true, stack[top++] = p;
        }
    }
}

/* The inbound node of call r, as Keras 3 writes it. */
static json_t *node_json(const keel_model *m, const int *node, const keel_callrec *r) {
    json_t *args, *kwargs = json_object();
    if (r->n_in == 1 || takes_states(r->layer)) {
        args = json_pack("[o]", keras_tensor(m, node, r->in[0]));
        json_t *states = r->n_in > 1 ? json_array() : NULL;
        for (int k = 1; states && k < r->n_in; k++)
            json_array_append_new(states, keras_tensor(m, node, r->in[k]));
        if (states) json_object_set_new(kwargs, "initial_state", states);
    } else {
        json_t *list = json_array();
        for (int k = 0; list && k < r->n_in; k++)
            json_array_append_new(list, keras_tensor(m, node, r->in[k]));
        args = json_pack("[o]", list);
    }
    return json_pack("{s:o, s:o}", "args", args, "kwargs", kwargs);
}

static json_t *functional_json(keel_model *m) {
    /* inputs get Keras's default names when they have none: input_layer, input_layer_1, ... */
    for (int i = 0; i < m->n_inputs; i++) {
        keel_callrec *r = &m->calls[m->inputs[i]];
        if (r->name[0]) continue;
        if (i == 0)
            snprintf(r->name, sizeof r->name, "input_layer");
        else
            snprintf(r->name, sizeof r->name, "input_layer_%d", i);
    }
    int C = m->n_calls, n_ops = 0;
    size_t sz = (size_t)(C + 1) * sizeof(int);
    bool *reach = keel_alloc((size_t)(C + 1) * sizeof *reach);
    int *node = keel_alloc(sz), *stack = keel_alloc(sz), *next = keel_alloc(sz),
        *head = keel_alloc(sz), *count = keel_alloc(sz);
    int *op = keel_keras_op_ids(m, &n_ops);
    keel_kop *ops = keel_alloc((size_t)(m->n_layers + m->n_inputs + 1) * sizeof *ops);
    bool ok = reach && node && stack && next && head && count && op && ops;
    int n = ok ? keel_keras_ops(m, ops) : -1;
    json_t *layers = n < 0 ? NULL : json_array();
    ok = layers != NULL;
    if (ok) {
        mark_reach(m, reach, stack);
        /* each layer's calls in order (head, next), and their node indices */
        for (int c = C - 1; c >= 0; c--)
            next[c] = head[op[c]] - 1, head[op[c]] = c + 1; /* head: first call + 1 */
        for (int c = 0; c < C; c++) {
            node[c] = m->calls[c].layer ? count[op[c]] : 0;
            if (reach[c]) count[op[c]]++;
        }
    }
    for (int i = 0; ok && i < n; i++) {
        keel_layer *l = ops[i].layer;
        json_t *e, *nodes = json_array();
        if (!l) {
            const keel_callrec *r = &m->calls[ops[i].call];
            e = input_layer_json(r->name, r->rank, r->dims);
        } else {
            e = layer_entry(l);
            for (int c = head[op[ops[i].call]] - 1; e && nodes && c >= 0; c = next[c])
                if (reach[c]) json_array_append_new(nodes, node_json(m, node, &m->calls[c]));
        }
        ok = e && nodes &&
             !json_object_set_new(e, "name",
                                  json_string(l ? l->name : m->calls[ops[i].call].name)) &&
             !json_object_set_new(e, "inbound_nodes", nodes) && !json_array_append_new(layers, e);
        if (!ok) json_decref(e), json_decref(nodes);
    }
    /* Keras 3 writes a single input or output as the bare [name, node, tensor]: a list of one
     * makes it expect a list when it predicts (and warn about the structure) */
    json_t *ins = m->n_inputs == 1 ? history(m, node, m->inputs[0]) : json_array();
    json_t *outs = m->n_outputs == 1 ? history(m, node, m->outputs[0]) : json_array();
    for (int i = 0; ok && ins && m->n_inputs > 1 && i < m->n_inputs; i++)
        json_array_append_new(ins, history(m, node, m->inputs[i]));
    for (int i = 0; ok && outs && m->n_outputs > 1 && i < m->n_outputs; i++)
        json_array_append_new(outs, history(m, node, m->outputs[i]));
    keel_free(reach), keel_free(node), keel_free(stack), keel_free(next), keel_free(head);
    keel_free(count), keel_free(op), keel_free(ops);
    if (!ok || !ins || !outs) {
        json_decref(layers), json_decref(ins), json_decref(outs);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:{s:s, s:b, s:o, s:o, s:o}, s:s, s:{s:n}}", "module",
                     "keras.src.models.functional", "class_name", "Functional", "config", "name",
                     m->name, "trainable", m->as_layer ? m->as_layer->trainable : 1, "layers",
                     layers, "input_layers", ins, "output_layers", outs, "registered_name",
                     "Functional", "build_config", "input_shape");
}

/* ---- compile config */

static json_t *schedule_json(const keel_schedule *s) {
    const double *a = s->a;
    switch (s->kind) {
    case 1:
    case 3:
        return json_pack("{s:s, s:s, s:{s:f, s:f, s:f, s:b, s:s}, s:n}", "module",
                         "keras.optimizers.schedules", "class_name",
                         s->kind == 1 ? "ExponentialDecay" : "InverseTimeDecay", "config",
                         "initial_learning_rate", a[0], "decay_steps", a[1], "decay_rate", a[2],
                         "staircase", !isnan(a[3]) && a[3] != 0, "name",
                         s->kind == 1 ? "ExponentialDecay" : "InverseTimeDecay", "registered_name");
    case 2: {
        json_t *b = json_array(), *v = json_array();
        for (int i = 0; i + 1 < s->n; i += 2)
            json_array_append_new(b, json_real(a[i])),
                json_array_append_new(v, json_real(a[i + 1]));
        json_array_append_new(v, json_real(a[s->n - 1]));
        return json_pack("{s:s, s:s, s:{s:o, s:o, s:s}, s:n}", "module",
                         "keras.optimizers.schedules", "class_name", "PiecewiseConstantDecay",
                         "config", "boundaries", b, "values", v, "name", "PiecewiseConstant",
                         "registered_name");
    }
    case 4:
        return json_pack("{s:s, s:s, s:{s:f, s:f, s:f, s:f, s:b, s:s}, s:n}", "module",
                         "keras.optimizers.schedules", "class_name", "PolynomialDecay", "config",
                         "initial_learning_rate", a[0], "decay_steps", a[1], "end_learning_rate",
                         isnan(a[2]) ? 1e-4 : a[2], "power", isnan(a[3]) ? 1.0 : a[3], "cycle",
                         !isnan(a[4]) && a[4] != 0, "name", "PolynomialDecay", "registered_name");
    case 5: {
        json_t *j = json_pack("{s:s, s:s, s:{s:f, s:f, s:f, s:s, s:o, s:f}, s:n}", "module",
                              "keras.optimizers.schedules", "class_name", "CosineDecay", "config",
                              "initial_learning_rate", a[0], "decay_steps", a[1], "alpha",
                              isnan(a[2]) ? 0.0 : a[2], "name", "CosineDecay", "warmup_target",
                              isnan(a[3]) ? json_null() : json_real(a[3]), "warmup_steps",
                              isnan(a[4]) ? 0.0 : a[4], "registered_name");
        return j;
    }
    default: return NULL;
    }
}

static json_t *optimizer_json(const keel_optimizer *opt) {
    static const char *const cls[KEEL_OPT_COUNT] = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"};
    const keel_optimizer_opts *o = &opt->o;
    json_t *c = json_object();
    if (!c) return NULL;
    json_object_set_new(c, "name", json_string(keel_optimizer_name(opt->kind)));
    json_object_set_new(c, "learning_rate",
                        opt->schedule.kind ? schedule_json(&opt->schedule)
                                           : json_real(o->learning_rate));
    json_object_set_new(c, "weight_decay",
                        o->weight_decay > 0 ? json_real(o->weight_decay) : json_null());
    json_object_set_new(c, "clipnorm", o->clipnorm > 0 ? json_real(o->clipnorm) : json_null());
    json_object_set_new(c, "global_clipnorm",
                        o->global_clipnorm > 0 ? json_real(o->global_clipnorm) : json_null());
    json_object_set_new(c, "clipvalue", o->clipvalue > 0 ? json_real(o->clipvalue) : json_null());
    json_object_set_new(c, "use_ema", json_false());
    json_object_set_new(c, "ema_momentum", json_real(0.99));
    json_object_set_new(c, "ema_overwrite_frequency", json_null());
    json_object_set_new(c, "loss_scale_factor", json_null());
    json_object_set_new(c, "gradient_accumulation_steps", json_null());
    switch (opt->kind) {
    case KEEL_OPT_SGD:
        json_object_set_new(c, "momentum", json_real(o->momentum));
        json_object_set_new(c, "nesterov", json_boolean(o->nesterov));
        break;
    case KEEL_OPT_ADAM:
    case KEEL_OPT_ADAMW:
        json_object_set_new(c, "beta_1", json_real(o->beta_1));
        json_object_set_new(c, "beta_2", json_real(o->beta_2));
        json_object_set_new(c, "epsilon", json_real(o->epsilon));
        json_object_set_new(c, "amsgrad", json_boolean(o->amsgrad));
        break;
    case KEEL_OPT_RMSPROP:
        json_object_set_new(c, "rho", json_real(o->rho));
        json_object_set_new(c, "momentum", json_real(o->momentum));
        json_object_set_new(c, "epsilon", json_real(o->epsilon));
        json_object_set_new(c, "centered", json_boolean(o->centered));
        break;
    case KEEL_OPT_ADAGRAD:
        json_object_set_new(c, "initial_accumulator_value",
                            json_real(o->initial_accumulator_value));
        json_object_set_new(c, "epsilon", json_real(o->epsilon));
        break;
    case KEEL_OPT_COUNT: break;
    }
    return json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.optimizers", "class_name",
                     cls[opt->kind], "config", c, "registered_name");
}

static json_t *loss_json(const keel_loss *l) {
    static const char *const cls[] = {
        "MeanSquaredError",   "MeanAbsoluteError",       "Huber",
        "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy"};
    const char *name = keel_loss_name(l->kind);
    bool plain = !l->from_logits && l->label_smoothing == 0 &&
                 (l->kind != KEEL_LOSS_HUBER || l->delta == 1.0f);
    if (plain) return json_string(name);
    json_t *c = json_pack("{s:s}", "name", name);
    if (l->kind == KEEL_LOSS_HUBER) {
        json_object_set_new(c, "delta", json_real(l->delta));
    } else {
        json_object_set_new(c, "from_logits", json_boolean(l->from_logits));
        if (l->kind != KEEL_LOSS_SPARSE_CCE)
            json_object_set_new(c, "label_smoothing", json_real(l->label_smoothing));
    }
    return json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.losses", "class_name", cls[l->kind],
                     "config", c, "registered_name");
}

static json_t *compile_json(const keel_model *m) {
    int K = m->n_out_nodes;
    json_t *loss, *metrics = json_null(), *weights = json_null();
    if (K == 1) {
        loss = loss_json(&m->losses[0]);
    } else {
        loss = json_array();
        weights = json_array();
        for (int k = 0; k < K; k++) {
            json_array_append_new(loss, loss_json(&m->losses[k]));
            json_array_append_new(weights, json_real(m->loss_w[k]));
        }
    }
    if (m->n_metrics) {
        json_decref(metrics);
        metrics = json_array();
        for (int k = 0; k < K; k++) {
            json_t *list = K == 1 ? metrics : json_array();
            for (int i = 0; i < m->n_metrics; i++)
                json_array_append_new(list, json_string(m->metrics[k][i].name));
            if (K > 1) json_array_append_new(metrics, list);
        }
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:n, s:b, s:i, s:b}", "optimizer",
                     optimizer_json(&m->opt), "loss", loss, "loss_weights", weights, "metrics",
                     metrics, "weighted_metrics", "run_eagerly", 0, "steps_per_execution", 1,
                     "jit_compile", 0);
}

static json_t *model_json(keel_model *m, bool nested) {
    json_t *j = m->functional ? functional_json(m) : sequential_json(m);
    if (j && !nested && m->compiled) json_object_set_new(j, "compile_config", compile_json(m));
    if (!j)
        keel_error(KEEL_ERR_NOMEM, "%s: cannot write the model's config (out of memory)", m->name);
    return j;
}

json_t *keel_model_to_json(keel_model *m) {
    return model_json(m, false);
}

/* ---------------------------------------------------------------- reading */

static keel_model *from_json(const json_t *obj, const char *where, int depth);

static keel_layer *model_layer_from(const json_t *obj, const char *where, int depth) {
    keel_model *sub = from_json(obj, where, depth);
    if (!sub) return NULL;
    keel_layer *l = keel_model_as_layer(sub);
    keel_model_free(sub); /* the layer holds it now */
    if (!l) keel_error(KEEL_ERR_NOMEM, "%s: out of memory", where);
    return l;
}

keel_layer *keel_model_layer_from_json(const json_t *obj, const char *where) {
    return model_layer_from(obj, where, 1);
}

static bool is_model_class(const char *c) {
    return !strcmp(c, "Sequential") || !strcmp(c, "Functional") || !strcmp(c, "Model");
}

static const char *class_of(const json_t *obj);

/* A layer entry of any class; models nested in models are counted so that a hostile file
 * cannot recurse without end. */
static keel_layer *any_layer_from(const json_t *e, const char *where, int depth) {
    if (!is_model_class(class_of(e))) return keel_layer_from_json(e, where);
    if (depth >= 32) {
        keel_error(KEEL_ERR_FORMAT, "%s: models nested more than 32 deep", where);
        return NULL;
    }
    return model_layer_from(e, where, depth + 1);
}

/* An InputLayer entry's shape and name. */
static keel_status input_of(const json_t *entry, const char *where, int *rank, int64_t *dims,
                            const char **name) {
    const json_t *cfg = json_object_get(entry, "config");
    if (!json_is_object(cfg)) KEEL_FAIL(KEEL_ERR_FORMAT, "%s: an InputLayer has no config", where);
    const json_t *shape = json_object_get(cfg, "batch_shape");
    const char *key = "batch_shape";
    if (!shape) shape = json_object_get(cfg, "batch_input_shape"), key = "batch_input_shape";
    keel_status st = keel_cfg_shape(shape, key, rank, dims, where);
    if (st) return st;
    *name = "";
    keel_cfg_string(cfg, "name", true, name, where);
    const char *dtype = NULL;
    keel_cfg_string(cfg, "dtype", true, &dtype, where);
    if (dtype && strcmp(dtype, "float32") && strcmp(dtype, "int32") && strcmp(dtype, "int64") &&
        strcmp(dtype, "float64"))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: input %s has dtype %s, keel takes float32 or int32",
                  where, *name, dtype);
    return KEEL_OK;
}

static const char *class_of(const json_t *obj) {
    const char *c = json_string_value(json_object_get(obj, "class_name"));
    return c ? c : "";
}

static keel_model *sequential_from(const json_t *cfg, const char *name, const char *where,
                                   int depth) {
    const json_t *layers = json_object_get(cfg, "layers");
    if (!json_is_array(layers)) {
        keel_error(KEEL_ERR_FORMAT, "%s: the Sequential %s has no layers list", where, name);
        return NULL;
    }
    if (json_array_size(layers) > KEEL_MAX_FILE_LAYERS) {
        keel_error(KEEL_ERR_FORMAT, "%s: %s lists %zu layers; keel reads at most %d", where, name,
                   json_array_size(layers), KEEL_MAX_FILE_LAYERS);
        return NULL;
    }
    keel_model *m = keel_sequential(name);
    if (!m) return NULL;
    size_t i;
    const json_t *e;
    json_array_foreach(layers, i, e) {
        char w[320];
        const json_t *lc = json_object_get(e, "config");
        const char *lname = json_string_value(json_object_get(lc, "name"));
        snprintf(w, sizeof w, "%s: %s.layers[%zu]%s%s%s", where, name, i, lname ? " (" : "",
                 lname ? lname : "", lname ? ")" : "");
        keel_layer *l;
        if (!strcmp(class_of(e), "InputLayer")) {
            int rank;
            int64_t dims[KEEL_MAX_RANK] = {0};
            const char *iname;
            if (input_of(e, w, &rank, dims, &iname)) goto fail;
            keel_input_opts o = {.name = iname[0] ? iname : NULL};
            memcpy(o.shape, dims, sizeof o.shape);
            l = keel_input_(o);
        } else {
            l = any_layer_from(e, w, depth);
        }
        if (!l || keel_add(m, l)) goto fail;
    }
    return m;
fail:
    keel_model_free(m);
    return NULL;
}

/* A reference to a tensor: [layer name, node index, tensor index]. */
typedef struct tref {
    const char *layer;
    int64_t node, tensor;
} tref;

static bool parse_history(const json_t *h, tref *t) {
    if (!json_is_array(h) || json_array_size(h) < 3) return false;
    t->layer = json_string_value(json_array_get(h, 0));
    const json_t *n = json_array_get(h, 1), *k = json_array_get(h, 2);
    if (!t->layer || !json_is_integer(n) || !json_is_integer(k)) return false;
    t->node = json_integer_value(n), t->tensor = json_integer_value(k);
    return t->node >= 0 && t->node < 1 << 20 && t->tensor >= 0 && t->tensor < 64;
}

/* The input tensors of one inbound node, in either schema; -1 when malformed. */
static int parse_node(const json_t *node, tref *out, int cap) {
    int n = 0;
    if (json_is_object(node)) { /* Keras 3 */
        const json_t *args = json_object_get(node, "args");
        const json_t *first = json_array_get(args, 0);
        if (!json_is_array(args) || json_array_size(args) != 1 || !first) return -1;
        const json_t *list = json_is_array(first) ? first : NULL;
        size_t cnt = list ? json_array_size(list) : 1;
        for (size_t i = 0; i < cnt; i++) {
            const json_t *t = list ? json_array_get(list, i) : first;
            if (n == cap || strcmp(class_of(t), "__keras_tensor__")) return -1;
            if (!parse_history(json_object_get(json_object_get(t, "config"), "keras_history"),
                               &out[n++]))
                return -1;
        }
        /* a recurrent layer's initial_state: more inputs after the sequence, as keel takes them */
        const json_t *states = json_object_get(json_object_get(node, "kwargs"), "initial_state"),
                     *t;
        size_t i;
        json_array_foreach(states, i, t) {
            if (n == cap || strcmp(class_of(t), "__keras_tensor__") ||
                !parse_history(json_object_get(json_object_get(t, "config"), "keras_history"),
                               &out[n++]))
                return -1;
        }
        return n;
    }
    if (!json_is_array(node)) return -1; /* tf.keras 2: [[name, node, tensor, kwargs], ...] */
    size_t i;
    const json_t *t;
    json_array_foreach(node, i, t) {
        if (n == cap || !parse_history(t, &out[n++])) return -1;
    }
    return n;
}

typedef struct fentry {
    const json_t *json;
    const char *name;
    keel_layer *layer;               /* NULL for an input */
    const json_t *nodes;             /* inbound_nodes */
    size_t done;                     /* nodes applied so far */
    keel_sym *(*outs)[KEEL_MAX_OUT]; /* per node, its outputs */
    bool held;                       /* the model took the layer */
    int skip; /* tf.keras 2 counts a nested model's own first node: node k is call k-1 */
} fentry;

/* The entries by name, for lookups in log n (a file may list thousands of layers). */
typedef struct named {
    const char *name;
    int i;
} named;

typedef struct entries {
    fentry *es;
    int n;
    named *by_name; /* sorted by name, then index */
} entries;

static int by_name(const void *pa, const void *pb) {
    const named *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

static fentry *find_entry(const entries *t, const char *name) {
    int lo = 0, hi = t->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(t->by_name[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && !strcmp(t->by_name[lo].name, name) ? &t->es[t->by_name[lo].i] : NULL;
}

/* The tensor t names, when its node has been applied; NULL otherwise (*wait: the entry it
 * waits for, if any). */
static keel_sym *resolve(const entries *t, const tref *r, fentry **wait) {
    fentry *e = find_entry(t, r->layer);
    int64_t node = e ? r->node - e->skip : -1;
    *wait = e;
    if (!e || r->tensor >= KEEL_MAX_OUT || node < 0 || (size_t)node >= e->done) return NULL;
    return e->outs[node][r->tensor];
}

/* The entries of a functional model's layers list: names checked and indexed, layers made. */
static keel_status read_entries(const json_t *layers, entries *t, const char *name,
                                const char *where, int depth) {
    size_t n = json_array_size(layers);
    if (n > KEEL_MAX_FILE_LAYERS)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s lists %zu layers; keel reads at most %d", where, name, n,
                  KEEL_MAX_FILE_LAYERS);
    t->n = (int)n;
    t->es = keel_alloc((n + 1) * sizeof *t->es);
    t->by_name = keel_alloc((n + 1) * sizeof *t->by_name);
    if (!t->es || !t->by_name) return KEEL_ERR_NOMEM;
    char w[320];
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(layers, i);
        fentry *f = &t->es[i];
        f->json = e;
        f->name = json_string_value(json_object_get(e, "name"));
        if (!f->name)
            f->name = json_string_value(json_object_get(json_object_get(e, "config"), "name"));
        f->nodes = json_object_get(e, "inbound_nodes");
        snprintf(w, sizeof w, "%s: %s.layers[%zu] (%s)", where, name, i, f->name ? f->name : "?");
        if (!f->name || (f->nodes && !json_is_array(f->nodes)) || json_array_size(f->nodes) > 4096)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: a layer entry without a name or with bad inbound_nodes",
                      w);
        t->by_name[i] = (named){f->name, (int)i};
    }
    qsort(t->by_name, n, sizeof *t->by_name, by_name);
    for (size_t k = 1; k < n; k++)
        if (!strcmp(t->by_name[k].name, t->by_name[k - 1].name)) {
            int i = t->by_name[k].i;
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s.layers[%d] (%s): the name %s is used twice", where,
                      name, i, t->es[i].name, t->es[i].name);
        }
    for (size_t i = 0; i < n; i++) {
        fentry *f = &t->es[i];
        const json_t *e = f->json;
        snprintf(w, sizeof w, "%s: %s.layers[%zu] (%s)", where, name, i, f->name);
        if (!(f->outs = keel_alloc((json_array_size(f->nodes) + 1) * sizeof *f->outs)))
            return KEEL_ERR_NOMEM;
        /* Keras 3 records the mask an Embedding(mask_zero) makes, ops.not_equal(ids, 0), as an
         * operation of its own whose output layers read as their "mask" argument; keel carries
         * that mask along the graph by itself, so the operation is left out */
        if (!strcmp(class_of(e), "NotEqual")) continue;
        /* Keras refers to a layer by its entry's name and names it by its config's: one name,
         * or the model would hold two layers of one name and write a file it cannot read */
        const char *cname =
            json_string_value(json_object_get(json_object_get(e, "config"), "name"));
        if (cname && strcmp(cname, f->name))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: the entry's name is not its config.name (%.63s)", w,
                      cname);
        if (strlen(f->name) >= sizeof t->es[0].layer->name)
            KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: keel keeps names of at most 63 characters", w);
        if (strcmp(class_of(e), "InputLayer") && !(f->layer = any_layer_from(e, w, depth)))
            return keel_last_status();
        if (f->layer && !cname) { /* unnamed in its config: the entry's name, not a default */
            snprintf(f->layer->name, sizeof f->layer->name, "%s", f->name);
            if (f->layer->sub)
                snprintf(f->layer->sub->name, sizeof f->layer->sub->name, "%s", f->name);
        }
        /* tf.keras 2 (inbound nodes as lists) numbers a nested model's nodes from its own first
         * one, made when it was built on its Input: the functional model's calls start at 1
         * (keras/engine/functional.py, _should_skip_first_node) */
        const json_t *node0 = json_array_get(f->nodes, 0);
        const json_t *sub_layers = json_object_get(json_object_get(e, "config"), "layers");
        const char *cls = class_of(e);
        if (json_is_array(node0) &&
            (!strcmp(cls, "Functional") || !strcmp(cls, "Model") ||
             (!strcmp(cls, "Sequential") &&
              !strcmp(class_of(json_array_get(sub_layers, 0)), "InputLayer"))))
            f->skip = 1;
    }
    return KEEL_OK;
}

static void free_entries(entries *t) {
    for (int i = 0; t->es && i < t->n; i++) {
        if (t->es[i].layer && !t->es[i].held) keel_layer_free(t->es[i].layer);
        keel_free(t->es[i].outs);
    }
    keel_free(t->es), keel_free(t->by_name);
}

/* Entries waiting their turn: a min-heap of pass * (n + 1) + entry. */
typedef struct turns {
    int64_t *key;
    int size;
    bool *queued;
    int *waiters, *next_waiter; /* per entry: who waits for it (first / next, + 1; 0 none) */
} turns;

static void push_turn(turns *q, int64_t pass, int i, int n) {
    if (q->queued[i]) return;
    q->queued[i] = true;
    int64_t k = pass * (n + 1) + i;
    int at = q->size++;
    for (; at > 0 && q->key[(at - 1) / 2] > k; at = (at - 1) / 2)
        q->key[at] = q->key[(at - 1) / 2];
    q->key[at] = k;
}

static int64_t pop_turn(turns *q) {
    int64_t top = q->key[0], last = q->key[--q->size];
    int at = 0;
    for (int c; (c = 2 * at + 1) < q->size; at = c) {
        if (c + 1 < q->size && q->key[c + 1] < q->key[c]) c++;
        if (q->key[c] >= last) break;
        q->key[at] = q->key[c];
    }
    q->key[at] = last;
    return top;
}

/* Applies entry f's inbound nodes while what they read exists; when one cannot be, f waits for
 * the entry it reads (*wait, NULL when that is no entry at all). Returns KEEL_OK, or the error
 * of a malformed node or a failed call. */
static keel_status apply_ready(keel_model *m, const entries *t, fentry *f, fentry **wait,
                               const char *name, const char *where) {
    *wait = NULL;
    while (f->done < json_array_size(f->nodes)) {
        tref refs[KEEL_MAX_IN];
        int cnt = parse_node(json_array_get(f->nodes, f->done), refs, KEEL_MAX_IN);
        if (cnt < 1)
            KEEL_FAIL(KEEL_ERR_FORMAT,
                      "%s: %s: inbound node %zu of %s is malformed (or reads more than %d "
                      "tensors)",
                      where, name, f->done, f->name, KEEL_MAX_IN);
        keel_sym *xs[KEEL_MAX_IN];
        for (int j = 0; j < cnt; j++)
            if (!(xs[j] = resolve(t, &refs[j], wait))) return KEEL_OK;
        int got = keel_apply_outputs(m, f->layer, cnt, xs, KEEL_MAX_OUT, f->outs[f->done]);
        f->held = true; /* the call took (or freed) the floating reference */
        if (got < 1) return keel_last_status() ? keel_last_status() : KEEL_ERR_FORMAT;
        f->done++;
    }
    *wait = NULL; /* all applied: waits for nothing */
    return KEEL_OK;
}

/* The layer calls. The order is the one of passes over the list, each applying every node
 * whose inputs exist, until a pass applies none (so a model's calls, and its layers, come in
 * the file's order when the file lists them in an order that can be applied, as Keras writes
 * them); but an entry is looked at again only when the one it waits for has moved, at the pass
 * where a scan would have looked: the same pass when that one comes earlier in the list, the
 * next otherwise. A list in reverse order then costs n turns, not n passes of n. */
static keel_status apply_calls(keel_model *m, const entries *t, const char *name,
                               const char *where) {
    int n = t->n;
    turns q = {.key = keel_alloc((size_t)(n + 1) * sizeof *q.key),
               .queued = keel_alloc((size_t)(n + 1) * sizeof *q.queued),
               .waiters = keel_alloc((size_t)(n + 1) * sizeof *q.waiters),
               .next_waiter = keel_alloc((size_t)(n + 1) * sizeof *q.next_waiter)};
    keel_status st = q.key && q.queued && q.waiters && q.next_waiter ? KEEL_OK : KEEL_ERR_NOMEM;
    for (int i = 0; !st && i < n; i++)
        if (t->es[i].layer) push_turn(&q, 0, i, n);
    while (!st && q.size) {
        int64_t k = pop_turn(&q), pass = k / (n + 1);
        int i = (int)(k % (n + 1));
        fentry *f = &t->es[i], *wait;
        q.queued[i] = false;
        size_t before = f->done;
        st = apply_ready(m, t, f, &wait, name, where);
        if (st) break;
        if (f->done > before) /* wake those waiting for f, at their turn */
            for (int w = q.waiters[i]; w; w = q.next_waiter[w - 1])
                push_turn(&q, w - 1 > i ? pass : pass + 1, w - 1, n);
        if (f->done > before) q.waiters[i] = 0;
        if (wait) { /* f waits for wait; a name no entry has never comes */
            int j = (int)(wait - t->es);
            q.next_waiter[i] = q.waiters[j], q.waiters[j] = i + 1;
        }
    }
    keel_free(q.key), keel_free(q.queued), keel_free(q.waiters), keel_free(q.next_waiter);
    for (int i = 0; !st && i < n; i++)
        if (t->es[i].layer && t->es[i].done < json_array_size(t->es[i].nodes))
            st = keel_error(KEEL_ERR_FORMAT,
                            "%s: %s: layer %s reads a tensor no layer makes (a missing or "
                            "circular reference)",
                            where, name, t->es[i].name);
    return st;
}

static keel_model *functional_from(const json_t *cfg, const char *name, const char *where,
                                   int depth) {
    const json_t *layers = json_object_get(cfg, "layers");
    const json_t *ins = json_object_get(cfg, "input_layers"),
                 *outs = json_object_get(cfg, "output_layers");
    if (!json_is_array(layers) || !json_is_array(ins) || !json_is_array(outs)) {
        keel_error(KEEL_ERR_FORMAT,
                   "%s: the functional model %s lacks layers, input_layers or "
                   "output_layers",
                   where, name);
        return NULL;
    }
    entries t = {0};
    keel_model *m = keel_model_new(name);
    if (!m || read_entries(layers, &t, name, where, depth)) goto fail;
    /* inputs first, in the order input_layers gives (the order data is fed); Keras 3 writes a
     * single input as [name, node, tensor], not in a list */
    bool one_in = json_is_string(json_array_get(ins, 0));
    size_t k;
    for (k = 0; k < (one_in ? 1 : json_array_size(ins)); k++) {
        const json_t *h = one_in ? ins : json_array_get(ins, k);
        tref r;
        fentry *f = parse_history(h, &r) ? find_entry(&t, r.layer) : NULL;
        int rank;
        int64_t dims[KEEL_MAX_RANK] = {0};
        const char *iname;
        if (!f || f->layer || f->done) {
            keel_error(KEEL_ERR_FORMAT, "%s: %s.input_layers[%zu] names no InputLayer", where, name,
                       k);
            goto fail;
        }
        if (input_of(f->json, where, &rank, dims, &iname)) goto fail;
        keel_input_opts o = {.name = f->name};
        memcpy(o.shape, dims, sizeof o.shape);
        if (!(f->outs[0][0] = keel_model_input_(m, o))) goto fail;
        f->done = 1;
    }
    if (apply_calls(m, &t, name, where)) goto fail;
    keel_sym *os[KEEL_MAX_IO];
    int n_out = 0;
    /* Keras 3 writes a single output as [name, node, tensor], not in a list */
    bool single = json_is_string(json_array_get(outs, 0));
    size_t n_outs = single ? 1 : json_array_size(outs);
    for (k = 0; k < n_outs; k++) {
        tref r;
        const json_t *o = single ? outs : json_array_get(outs, k);
        fentry *unused;
        if (n_out == KEEL_MAX_IO || !parse_history(o, &r) ||
            !(os[n_out++] = resolve(&t, &r, &unused))) {
            keel_error(KEEL_ERR_FORMAT,
                       "%s: %s.output_layers[%zu] names no tensor of the model "
                       "(or there are more than %d outputs)",
                       where, name, k, KEEL_MAX_IO);
            goto fail;
        }
    }
    if (keel_model_outputs(m, n_out, os)) goto fail;
    free_entries(&t);
    return m;
fail:
    free_entries(&t);
    if (m && m->status && keel_last_status() == KEEL_OK) keel_error(m->status, "%s", m->error);
    keel_model_free(m);
    return NULL;
}

static keel_model *from_json(const json_t *obj, const char *where, int depth) {
    const char *cls = class_of(obj);
    const json_t *cfg = json_object_get(obj, "config");
    if (!json_is_object(cfg)) {
        keel_error(KEEL_ERR_FORMAT, "%s: the model has no config object", where);
        return NULL;
    }
    const char *name = json_string_value(json_object_get(cfg, "name"));
    if (!name) name = !strcmp(cls, "Sequential") ? "sequential" : "model";
    keel_model *m = NULL;
    if (!strcmp(cls, "Sequential"))
        m = sequential_from(cfg, name, where, depth);
    else if (!strcmp(cls, "Functional") || !strcmp(cls, "Model"))
        m = functional_from(cfg, name, where, depth);
    else
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: the model class '%s' is not one keel reads "
                   "(Sequential, Functional)",
                   where, cls);
    if (m && m->status) {
        keel_error(m->status, "%s: %s", where, m->error);
        keel_model_free(m);
        return NULL;
    }
    const json_t *tr = json_object_get(cfg, "trainable");
    if (m && json_is_false(tr)) keel_model_set_trainable(m, 0);
    return m;
}

keel_model *keel_model_from_json(const json_t *obj, const char *where) {
    return from_json(obj, where, 0);
}

/* ---------------------------------------------------------------- compile config */

/* A loss entry (a name, or {"class_name", "config"}) as keel's name and options; false when
 * keel has no such loss. */
static bool loss_from(const json_t *v, const char **name, keel_loss_opts *o) {
    static const char *const map[][2] = {
        {"MeanSquaredError", "mean_squared_error"},
        {"MeanAbsoluteError", "mean_absolute_error"},
        {"Huber", "huber"},
        {"BinaryCrossentropy", "binary_crossentropy"},
        {"CategoricalCrossentropy", "categorical_crossentropy"},
        {"SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"}};
    if (json_is_string(v)) {
        *name = json_string_value(v);
        keel_loss probe;
        return keel_loss_parse(*name, (keel_loss_opts){0}, &probe) == KEEL_OK;
    }
    const char *cls = class_of(v);
    const json_t *c = json_object_get(v, "config");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(cls, map[i][0])) {
            *name = map[i][1];
            o->from_logits = json_is_true(json_object_get(c, "from_logits"));
            const json_t *ls = json_object_get(c, "label_smoothing"),
                         *d = json_object_get(c, "delta");
            if (json_is_number(ls)) o->label_smoothing = (float)json_number_value(ls);
            if (json_is_number(d)) o->delta = (float)json_number_value(d);
            return true;
        }
    return false;
}

/* A metric entry: "mae", or tf.keras 2's {"class_name": "MeanMetricWrapper", "config":
 * {"name": "mae", ...}}. */
static const char *metric_from(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    const char *n = json_string_value(json_object_get(json_object_get(v, "config"), "name"));
    return n ? n : class_of(v);
}

/* A schedule object as keel's spec string; false when keel lacks it. */
static bool schedule_from(const json_t *v, char *buf, size_t cap) {
    const char *cls = class_of(v);
    const json_t *c = json_object_get(v, "config");
    double a[5];
    const char *keys[5];
    int n = 0;
    const char *name = NULL;
    if (!strcmp(cls, "ExponentialDecay") || !strcmp(cls, "InverseTimeDecay")) {
        name = !strcmp(cls, "ExponentialDecay") ? "exponential_decay" : "inverse_time_decay";
        keys[0] = "initial_learning_rate", keys[1] = "decay_steps", keys[2] = "decay_rate",
        keys[3] = "staircase", n = 4;
    } else if (!strcmp(cls, "PolynomialDecay")) {
        name = "polynomial_decay";
        keys[0] = "initial_learning_rate", keys[1] = "decay_steps", keys[2] = "end_learning_rate",
        keys[3] = "power", keys[4] = "cycle", n = 5;
    } else if (!strcmp(cls, "CosineDecay")) {
        name = "cosine_decay";
        keys[0] = "initial_learning_rate", keys[1] = "decay_steps", keys[2] = "alpha",
        keys[3] = "warmup_target", keys[4] = "warmup_steps", n = 5;
    } else if (!strcmp(cls, "PiecewiseConstantDecay")) {
        const json_t *b = json_object_get(c, "boundaries"), *vals = json_object_get(c, "values");
        size_t nb = json_array_size(b);
        if (nb < 1 || nb > 2 || json_array_size(vals) != nb + 1) return false;
        int o = snprintf(buf, cap, "piecewise_constant_decay(");
        for (size_t i = 0; i < nb; i++)
            o += snprintf(buf + o, cap - (size_t)o, "%.17g, %.17g, ",
                          json_number_value(json_array_get(b, i)),
                          json_number_value(json_array_get(vals, i)));
        snprintf(buf + o, cap - (size_t)o, "%.17g)", json_number_value(json_array_get(vals, nb)));
        return true;
    }
    if (!name) return false;
    int o = snprintf(buf, cap, "%s(", name);
    for (int i = 0; i < n; i++) {
        const json_t *x = json_object_get(c, keys[i]);
        if (json_is_boolean(x))
            a[i] = json_is_true(x);
        else if (json_is_number(x))
            a[i] = json_number_value(x);
        else
            continue;
        o += snprintf(buf + o, cap - (size_t)o, "%s%s=%.17g", buf[o - 1] == '(' ? "" : ", ",
                      keys[i], a[i]);
    }
    snprintf(buf + o, cap - (size_t)o, ")");
    return true;
}

static void opt_num(const json_t *c, const char *key, float *out) {
    const json_t *v = json_object_get(c, key);
    if (json_is_number(v)) *out = (float)json_number_value(v);
    if (json_is_boolean(v)) *out = json_is_true(v) ? 1.0f : 0.0f;
}

keel_status keel_model_compile_json(keel_model *m, const json_t *cfg, bool legacy,
                                    const char *where) {
    if (!json_is_object(cfg) || json_object_size(cfg) == 0) return KEEL_OK;
    const json_t *opt = json_object_get(cfg, legacy ? "optimizer_config" : "optimizer");
    const json_t *oc = json_object_get(opt, "config");
    char opt_name[32] = "", sched[256] = "";
    const char *cls = json_is_string(opt) ? json_string_value(opt) : class_of(opt);
    if (!strncmp(cls, "Custom>", 7)) cls += 7; /* tf.keras 2.11+ names its new optimizers so */
    size_t i = 0;
    for (; cls[i] && i + 1 < sizeof opt_name; i++)
        opt_name[i] = (char)(cls[i] >= 'A' && cls[i] <= 'Z' ? cls[i] + 32 : cls[i]);
    opt_name[i] = 0;
    keel_compile_opts o = {.optimizer = opt_name};
    keel_optimizer_opts *oo = &o.optimizer_opts;
    const json_t *lr = json_object_get(oc, "learning_rate");
    if (json_is_object(lr) && !schedule_from(lr, sched, sizeof sched)) {
        keel_warn("%s: the learning-rate schedule %s is not one keel has; the model is loaded "
                  "uncompiled",
                  where, class_of(lr));
        return KEEL_OK;
    }
    if (sched[0])
        oo->learning_rate_schedule = sched;
    else
        opt_num(oc, "learning_rate", &oo->learning_rate);
    float nesterov = 0, amsgrad = 0, centered = 0;
    opt_num(oc, "momentum", &oo->momentum);
    opt_num(oc, "nesterov", &nesterov);
    opt_num(oc, "beta_1", &oo->beta_1);
    opt_num(oc, "beta_2", &oo->beta_2);
    opt_num(oc, "amsgrad", &amsgrad);
    opt_num(oc, "epsilon", &oo->epsilon);
    opt_num(oc, "rho", &oo->rho);
    opt_num(oc, "centered", &centered);
    opt_num(oc, "initial_accumulator_value", &oo->initial_accumulator_value);
    opt_num(oc, "weight_decay", &oo->weight_decay);
    opt_num(oc, "clipnorm", &oo->clipnorm);
    opt_num(oc, "global_clipnorm", &oo->global_clipnorm);
    opt_num(oc, "clipvalue", &oo->clipvalue);
    oo->nesterov = nesterov != 0, oo->amsgrad = amsgrad != 0, oo->centered = centered != 0;
    /* losses: one, a list by output, or an object by output name */
    const json_t *loss = json_object_get(cfg, "loss");
    const json_t *lw = json_object_get(cfg, "loss_weights");
    int K = m->functional ? m->n_outputs : 1;
    bool ok = K <= KEEL_MAX_OUTPUTS;
    for (int k = 0; ok && k < K; k++) {
        const json_t *lk = loss;
        const char *out_name = m->functional && m->calls[m->outputs[k]].layer
                                   ? m->calls[m->outputs[k]].layer->name
                                   : "";
        if (json_is_array(loss))
            lk = json_array_get(loss, (size_t)k);
        else if (json_is_object(loss) && !json_object_get(loss, "class_name"))
            lk = json_object_get(loss, out_name);
        keel_loss_opts lo = {0};
        const char *name = NULL;
        ok = lk && loss_from(lk, &name, &lo);
        if (!ok) break;
        if (K == 1)
            o.loss = name, o.loss_opts = lo;
        else
            o.losses[k] = name, o.loss_opts = lo;
        const json_t *wk =
            json_is_array(lw) ? json_array_get(lw, (size_t)k) : json_object_get(lw, out_name);
        if (json_is_number(wk)) o.loss_weights[k] = (float)json_number_value(wk);
    }
    if (!ok) {
        char *txt = loss ? keel_json_dumps(loss) : NULL;
        keel_warn("%s: the loss %.200s is not one keel has; the model is loaded uncompiled", where,
                  txt ? txt : "(none)");
        free(txt);
        return KEEL_OK;
    }
    /* metrics: keel compiles one list for every output, so a model whose outputs had lists of
     * their own gets their union (tf.keras 2 names them "<output>_<metric>") */
    const json_t *mets = json_object_get(cfg, "metrics");
    const json_t *lists[KEEL_MAX_OUTPUTS];
    int n_lists = 0;
    if (json_is_array(mets) && json_is_array(json_array_get(mets, 0))) {
        for (size_t q = 0; q < json_array_size(mets) && n_lists < KEEL_MAX_OUTPUTS; q++)
            lists[n_lists++] = json_array_get(mets, q);
    } else if (json_is_object(mets) && !json_object_get(mets, "class_name")) {
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)mets, key, val) {
            if (n_lists < KEEL_MAX_OUTPUTS) lists[n_lists++] = val;
        }
    } else if (mets) {
        lists[n_lists++] = mets;
    }
    int nm = 0;
    char mstore[KEEL_MAX_METRICS][48];
    for (int q = 0; q < n_lists; q++) {
        const json_t *mv;
        size_t mi;
        const json_t *list = lists[q];
        if (!json_is_array(list)) continue;
        json_array_foreach(list, mi, mv) {
            const char *name = metric_from(mv);
            for (int k = 0; name && k < K && m->functional; k++) {
                const keel_layer *ol = m->calls[m->outputs[k]].layer;
                size_t len = ol ? strlen(ol->name) : 0;
                if (len && !strncmp(name, ol->name, len) && name[len] == '_') name += len + 1;
            }
            keel_metric probe;
            bool dup = false;
            for (int j = 0; name && j < nm; j++)
                dup |= !strcmp(mstore[j], name);
            if (dup) continue;
            if (nm < KEEL_MAX_METRICS && name && strlen(name) < 48 &&
                !keel_metric_parse(name, &probe)) {
                snprintf(mstore[nm], sizeof mstore[nm], "%s", name);
                o.metrics[nm] = mstore[nm];
                nm++;
            } else {
                keel_warn("%s: the metric %s is not one keel has; it is left out", where,
                          name ? name : "?");
            }
        }
    }
    keel_status st = keel_compile_(m, o);
    if (st == KEEL_ERR_ARG && m->built) {
        /* an optimizer keel lacks (Nadam, ...): Keras warns and loads the model uncompiled. (A
         * model that did not build is the config's fault, not the compile's: an error.) */
        keel_warn("%s: cannot compile the loaded model as saved (%s); it is loaded uncompiled",
                  where, keel_last_error());
        m->status = KEEL_OK, m->error[0] = 0;
        return KEEL_OK;
    }
    return st;
}
