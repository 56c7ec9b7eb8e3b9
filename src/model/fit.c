/* fit.c: fit, evaluate, predict and the *_on_batch calls. One training step gathers a batch
 * into buffers laid out at the first call, runs the graph forward, the loss, the graph
 * backward, the regularizers and the optimizer, and allocates nothing. */
#include "model.h"

#include "../data/flow.h"

#include <stdio.h>

/* per-sample floats of output k's targets (class indices for a sparse loss) */
static int64_t target_size(const keel_model *m, int k) {
    const keel_node *out = m->out_nodes[k];
    if (keel_loss_sparse(&m->losses[k])) return out->size / out->dims[out->rank - 1];
    return out->size;
}

int64_t keel_target_size(const keel_model *m) {
    return target_size(m, 0);
}

keel_status keel_model_reserve(keel_model *m, int64_t n) {
    keel_status st = keel_graph_plan(&m->g, n);
    if (st) return st;
    for (int k = 0; k < m->n_out_nodes; k++) {
        int64_t need = n * target_size(m, k);
        if (need > m->ybuf_caps[k]) {
            float *b = keel_alloc((size_t)need * sizeof(float));
            if (!b) return KEEL_ERR_NOMEM;
            keel_free(m->ybufs[k]);
            m->ybufs[k] = b, m->ybuf_caps[k] = need;
        }
    }
    m->ybuf = m->ybufs[0];
    return KEEL_OK;
}

static const char *first_layer_name(const keel_model *m) {
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i]->kind->type, "InputLayer")) return m->layers[i]->name;
    return m->layers[0]->name;
}

/* one input tensor against its input node */
static keel_status check_input(keel_model *m, const char *fn, const char *name,
                               const keel_tensor *x, const keel_node *in) {
    char a[160], b[160];
    bool ok = x->rank == in->rank + 1;
    for (int i = 0; ok && i < in->rank; i++)
        ok = x->dims[i + 1] == in->dims[i];
    /* Keras reads a 1-D x as N samples of one feature when the model takes one feature */
    if (x->rank == 1 && in->rank == 1 && in->dims[0] == 1) ok = true;
    if (ok) return KEEL_OK;
    const char *hint = "";
    if (x->rank > in->rank + 1 && x->size / (x->dims[0] ? x->dims[0] : 1) == in->size)
        hint = " (add keel_flatten() before it, or reshape x)";
    else if (x->rank == 1)
        hint = " (a 1-D x is read as samples of one feature; this model takes more per sample)";
    else if (x->rank == in->rank && x->size == in->size)
        hint = " (x is one sample without its batch axis: give it shape (1, ...))";
    KEEL_FAIL(KEEL_ERR_SHAPE, "%s: %s has shape %s but %s expects input of shape %s%s", fn, name,
              keel_tensor_shape_str(x, a, sizeof a),
              m->n_in_nodes > 1 ? "the model" : first_layer_name(m),
              keel_dims_str(in->rank, in->dims, true, b, sizeof b), hint);
}

/* y for output k: its samples, its per-sample size for the loss, class indices in range; then
 * "accuracy" resolved for this output by Keras's shape rule */
static keel_status check_target(keel_model *m, const char *fn, int k, const char *name,
                                const keel_tensor *y, int64_t samples) {
    const keel_node *out = m->out_nodes[k];
    const keel_loss *loss = &m->losses[k];
    char a[160], b[160];
    if (y->dims[0] != samples)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: x has %lld samples but %s has %lld", fn, (long long)samples,
                  name, (long long)y->dims[0]);
    int64_t per = y->size / y->dims[0], want = target_size(m, k), C = out->dims[out->rank - 1];
    keel_dims_str(out->rank, out->dims, true, b, sizeof b);
    if (per != want) {
        const char *hint = "";
        if (loss->kind == KEEL_LOSS_CCE && per * C == want)
            hint = " (y holds class indices: use sparse_categorical_crossentropy, or one-hot "
                   "encode y)";
        else if (keel_loss_sparse(loss) && per == out->size)
            hint = " (y is one-hot: use categorical_crossentropy)";
        else if (out->rank > 1 && per != want)
            hint = " (did you forget a Flatten before the Dense layers?)";
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: %s has shape %s but the model outputs %s for loss %s%s", fn,
                  name, keel_tensor_shape_str(y, a, sizeof a), b, keel_loss_name(loss->kind), hint);
    }
    bool sparse = keel_loss_sparse(loss) || (per * C == out->size && C > 1 && per != out->size);
    if (keel_loss_sparse(loss)) {
        for (int64_t i = 0; i < y->size; i++) {
            float v = (float)keel_tensor_at(y, i);
            if (!(v >= 0 && v < (float)C) || v != floorf(v))
                KEEL_FAIL(KEEL_ERR_ARG, "%s: %s[%lld] = %g is not a class index in [0, %lld)", fn,
                          name, (long long)i, (double)v, (long long)C);
        }
    }
    for (int i = 0; i < m->n_metrics; i++)
        keel_metric_resolve(&m->metrics[k][i], C, sparse);
    return KEEL_OK;
}

keel_status keel_check_data(keel_model *m, const char *fn, const keel_tensor *x,
                            const keel_tensor *y) {
    keel_status st = keel_model_check(m, fn);
    if (st) return st;
    /* predict needs no compile, as in Keras: the model is built on first use */
    if (!m->compiled && (y || (st = keel_model_build(m, fn))))
        return st ? st
                  : keel_error(KEEL_ERR_STATE, "%s: you must call keel_compile() before using %s",
                               fn, m->name);
    if (!x) KEEL_FAIL(KEEL_ERR_ARG, "%s: x is NULL", fn);
    keel_model_bind(m, false); /* this model's view of weights it may share with others */
    const keel_tensor *xs[KEEL_MAX_IO];
    int nx = keel_tensor_unpack(x, xs, KEEL_MAX_IO);
    if (nx != m->n_in_nodes)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: %s takes %d input%s but x gives %d%s", fn, m->name,
                  m->n_in_nodes, m->n_in_nodes == 1 ? "" : "s", nx,
                  nx == 1 ? " (pass the inputs as keel_tensor_list(n, xs))" : "");
    for (int i = 0; i < nx; i++) {
        char name[32];
        snprintf(name, sizeof name, nx > 1 ? "x[%d]" : "x", i);
        if (!xs[i]) KEEL_FAIL(KEEL_ERR_ARG, "%s: %s is NULL", fn, name);
        if ((st = check_input(m, fn, name, xs[i], m->in_nodes[i]))) return st;
        for (int k = 0; k < m->g.n;
             k++) { /* what the first layers need of the data (token indices) */
            const keel_node *nd = m->g.nodes[k];
            if (nd->op->validate && nd->in[0] == m->in_nodes[i] &&
                (st = nd->op->validate(nd, xs[i], xs[i]->dims[0], m->in_nodes[i]->size, fn, name)))
                return st;
        }
        if (xs[i]->dims[0] != xs[0]->dims[0])
            KEEL_FAIL(KEEL_ERR_SHAPE, "%s: x[0] has %lld samples but x[%d] has %lld", fn,
                      (long long)xs[0]->dims[0], i, (long long)xs[i]->dims[0]);
    }
    if (x->dims[0] == 0) KEEL_FAIL(KEEL_ERR_ARG, "%s: x has no samples", fn);
    if (!y) return KEEL_OK;
    const keel_tensor *ys[KEEL_MAX_IO];
    int ny = keel_tensor_unpack(y, ys, KEEL_MAX_IO);
    if (ny != m->n_out_nodes)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: %s has %d output%s but y gives %d%s", fn, m->name,
                  m->n_out_nodes, m->n_out_nodes == 1 ? "" : "s", ny,
                  ny == 1 ? " (pass one y per output as keel_tensor_list)" : "");
    for (int k = 0; k < ny; k++) {
        char name[16];
        snprintf(name, sizeof name, ny > 1 ? "y[%d]" : "y", k);
        if (!ys[k]) KEEL_FAIL(KEEL_ERR_ARG, "%s: %s is NULL", fn, name);
        if ((st = check_target(m, fn, k, name, ys[k], x->dims[0]))) return st;
    }
    return KEEL_OK;
}

/* dst = src[0..n) and whether every value is finite: v * 0 is 0 for a finite v and NaN for a
 * NaN or an infinity, so one sum, in the copy's own pass, tells (no extra pass over the data) */
static bool copy_finite(float *restrict dst, const float *restrict src, int64_t n) {
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) {
        dst[i] = src[i];
        acc += src[i] * 0.0f;
    }
    return acc == 0;
}

/* The error for the first non-finite value of sample `row` (per values each, shaped like t
 * without its batch axis): "x[12, 3] is nan". */
static keel_status bad_value(const char *fn, const char *what, const keel_tensor *t, int64_t row) {
    int64_t per = t->size / t->dims[0], k = 0;
    const float *v = t->data + row * per;
    while (k < per - 1 && isfinite(v[k]))
        k++;
    char at[160];
    int len = snprintf(at, sizeof at, "%lld", (long long)row);
    int64_t rest = k, stride = per;
    for (int a = 1; a < t->rank && len < (int)sizeof at; a++) {
        stride /= t->dims[a];
        len += snprintf(at + len, sizeof at - (size_t)len, ", %lld", (long long)(rest / stride));
        rest %= stride;
    }
    KEEL_FAIL(KEEL_ERR_ARG,
              "%s: %s[%s] is %s (sample %lld, feature %lld); %s must hold finite numbers", fn, what,
              at,
              isnan(v[k]) ? "nan"
              : v[k] > 0  ? "inf"
                          : "-inf",
              (long long)row, (long long)k, what);
}

/* Rows idx[start..start+n) (or start..start+n when idx is NULL) of t, `per` floats each, into
 * dst; with check, a non-finite value is an error naming it (`what` is "x" or "y"). */
static keel_status gather_rows(const char *fn, const char *what, const keel_tensor *t, float *dst,
                               int64_t per, const int64_t *idx, int64_t start, int64_t n,
                               bool check) {
    if (t->dtype == KEEL_INT32) { /* token ids, labels: whole numbers, always finite */
        for (int64_t i = 0; i < n; i++) {
            const int32_t *src = t->ints + (idx ? idx[start + i] : start + i) * per;
            for (int64_t k = 0; k < per; k++)
                dst[i * per + k] = (float)src[k];
        }
        return KEEL_OK;
    }
    bool ok = true;
    if (!idx) {
        if (!check)
            memcpy(dst, t->data + start * per, (size_t)(n * per) * sizeof(float));
        else
            ok = copy_finite(dst, t->data + start * per, n * per);
    } else {
        for (int64_t i = 0; i < n; i++)
            ok &= copy_finite(dst + i * per, t->data + idx[start + i] * per, per);
    }
    if (ok || !check) return KEEL_OK;
    for (int64_t i = 0; i < n; i++) { /* rare: find the row */
        int64_t r = idx ? idx[start + i] : start + i;
        if (!copy_finite(dst, t->data + r * per, per)) return bad_value(fn, what, t, r);
    }
    return KEEL_OK;
}

/* Copies a batch of x (each input of the model) and y into the buffers. With check (training
 * and evaluation data), a non-finite value is an error naming it; predict passes NaN through,
 * as Keras does. */
static keel_status gather(keel_model *m, const char *fn, const keel_tensor *x, const keel_tensor *y,
                          const int64_t *idx, int64_t start, int64_t n, bool check) {
    const keel_tensor *xs[KEEL_MAX_IO];
    int nx = keel_tensor_unpack(x, xs, KEEL_MAX_IO);
    keel_status st;
    for (int i = 0; i < nx; i++) {
        char name[16];
        snprintf(name, sizeof name, nx > 1 ? "x[%d]" : "x", i);
        if ((st = gather_rows(fn, name, xs[i], m->in_nodes[i]->val, m->in_nodes[i]->size, idx,
                              start, n, check)))
            return st;
    }
    const keel_tensor *ys[KEEL_MAX_IO];
    int ny = y ? keel_tensor_unpack(y, ys, KEEL_MAX_IO) : 0;
    for (int k = 0; k < ny; k++) {
        char name[16];
        snprintf(name, sizeof name, ny > 1 ? "y[%d]" : "y", k);
        if ((st = gather_rows(fn, name, ys[k], m->ybufs[k], ys[k]->size / ys[k]->dims[0], idx,
                              start, n, check)))
            return st;
    }
    return KEEL_OK;
}

/* The weighted loss of every output on the batch after the forward pass; with grad, each
 * output's gradient (scaled by its weight). losses[k] gets output k's own loss. */
static double outputs_loss(keel_model *m, int64_t n, bool grad, double *losses) {
    double total = 0;
    for (int k = 0; k < m->n_out_nodes; k++) {
        keel_node *out = m->out_nodes[k];
        bool g = grad && out->needs_grad;
        losses[k] = keel_loss_compute(&m->losses[k], out, m->ybufs[k], n, g);
        total += m->loss_w[k] * losses[k];
        if (g && m->loss_w[k] != 1.0f)
            for (int64_t i = 0; i < n * out->size; i++)
                out->grad[i] *= m->loss_w[k];
    }
    return total;
}

/* sums of one batch in the order of m->names: the loss, each output's loss (several outputs),
 * each output's metrics (a per-sample mean each) */
static void batch_metrics(keel_model *m, int64_t n, double loss, const double *losses,
                          double *sums) {
    int j = 0;
    sums[j++] += loss * (double)n;
    for (int k = 0; m->n_out_nodes > 1 && k < m->n_out_nodes; k++)
        sums[j++] += losses[k] * (double)n;
    for (int k = 0; k < m->n_out_nodes; k++)
        for (int i = 0; i < m->n_metrics; i++, j++)
            keel_metric_update(&m->metrics[k][i], m->out_nodes[k], m->ybufs[k], n, &sums[j]);
}

/* One training step on the gathered batch; KEEL_ERR_NAN (weights untouched) if the loss is
 * not finite. */
static keel_status train_step_(keel_model *m, int64_t n, double *sums, double *loss_out,
                               bool apply) {
    keel_model_bind(m, true);
    m->ctx.training = true;
    m->ctx.seed = m->seed;
    keel_graph_forward(&m->g, n, &m->ctx);
    double losses[KEEL_MAX_IO];
    double loss = outputs_loss(m, n, true, losses);
    loss += keel_reg_apply(m->params, m->n_params, false);
    *loss_out = loss;
    if (!isfinite(loss)) return KEEL_ERR_NAN;
    batch_metrics(m, n, loss, losses, sums);
    bool any = false;
    for (int k = 0; k < m->n_out_nodes; k++)
        any |= m->out_nodes[k]->needs_grad;
    if (any) {
        keel_graph_backward(&m->g, n, &m->ctx);
        keel_reg_apply(m->params, m->n_params, true);
        if (apply) keel_optimizer_step(&m->opt, m->params, m->n_params);
    } else if (!apply) { /* nothing trainable: the gradients are zero, not stale */
        memset(m->grads, 0, (size_t)m->n_weights * sizeof(float));
    }
    m->ctx.step++;
    return KEEL_OK;
}

static keel_status train_step(keel_model *m, int64_t n, double *sums, double *loss_out) {
    return train_step_(m, n, sums, loss_out, true);
}

static double test_batch(keel_model *m, int64_t n, double *sums) {
    m->ctx.training = false;
    keel_graph_forward(&m->g, n, &m->ctx);
    double losses[KEEL_MAX_IO];
    double loss = outputs_loss(m, n, false, losses);
    batch_metrics(m, n, loss, losses, sums);
    return loss;
}

/* Where batches come from: rows of tensors (in a shuffled order for training), or a flow. */
typedef struct source {
    const keel_tensor *x, *y;
    int64_t start, n;    /* rows [start, start + n) */
    const int64_t *perm; /* training order of those rows, or NULL */
    keel_flow *flow;     /* or batches of a flow */
    int64_t epoch;
    const char *fn; /* the public call, for messages */
} source;

/* ceil(n / bs) without the overflow of n + bs - 1 (bs may be as large as INT64_MAX) */
static int64_t source_steps(const source *s, int64_t bs) {
    return s->flow ? keel_flow_steps(s->flow) : s->n / bs + (s->n % bs != 0);
}

/* loads batch `step` into the input and target buffers; its size, or a negative status */
static int64_t source_batch(keel_model *m, const source *s, int64_t step, int64_t bs, bool want_y) {
    if (s->flow)
        return keel_flow_batch(s->flow, s->epoch, step, m->input->val, want_y ? m->ybuf : NULL);
    int64_t n = KEEL_MIN(bs, s->n - step * bs);
    keel_status st;
    if (s->perm)
        st = gather(m, s->fn, s->x, want_y ? s->y : NULL, s->perm, step * bs, n, want_y);
    else
        st = gather(m, s->fn, s->x, want_y ? s->y : NULL, NULL, s->start + step * bs, n, want_y);
    return st ? st : n;
}

/* mean loss (plus the regularization penalty) and metrics over a source */
static keel_status evaluate_source(keel_model *m, const source *src, int64_t bs, double *out,
                                   keel_progbar *pb) {
    double sums[KEEL_MAX_LOGS] = {0};
    int64_t steps = source_steps(src, bs), seen = 0;
    for (int64_t s = 0; s < steps; s++) {
        int64_t n = source_batch(m, src, s, bs, true);
        if (n < 0) return (keel_status)n;
        test_batch(m, n, sums);
        seen += n;
        if (pb) {
            double vals[KEEL_MAX_LOGS];
            for (int i = 0; i < m->n_logs; i++)
                vals[i] = sums[i] / (double)seen;
            vals[0] += keel_reg_apply(m->params, m->n_params, false);
            keel_logs logs = {m->n_logs, m->names, vals};
            keel_progbar_update(pb, s + 1, &logs, s + 1 == steps);
        }
    }
    for (int i = 0; i < m->n_logs; i++)
        out[i] = sums[i] / (double)seen;
    out[0] += keel_reg_apply(m->params, m->n_params, false);
    return KEEL_OK;
}

/* ---------------------------------------------------------------- ModelCheckpoint */

keel_status keel_ckpt_init(keel_ckpt_state *c, const keel_model_checkpoint_opts *o,
                           const char *fn) {
    memset(c, 0, sizeof *c);
    if (!o) return KEEL_OK;
    if (!o->filepath || !o->filepath[0])
        KEEL_FAIL(KEEL_ERR_ARG, "%s: model_checkpoint.filepath is %s", fn,
                  o->filepath ? "empty" : "NULL");
    const char *mode = o->mode ? o->mode : "auto", *mon = o->monitor ? o->monitor : "val_loss";
    if (!strcmp(mode, "max"))
        c->max_mode = true;
    else if (!strcmp(mode, "auto")) /* tf.keras 2: "acc" anywhere, or fmeasure..., maximizes */
        c->max_mode = strstr(mon, "acc") || !strncmp(mon, "fmeasure", 8);
    else if (strcmp(mode, "min"))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: model_checkpoint.mode must be \"auto\", \"min\" or \"max\", got \"%s\"", fn,
                  mode);
    c->best = c->max_mode ? -INFINITY : INFINITY;
    return KEEL_OK;
}

/* tf.keras 2.15's ModelCheckpoint._save_model at the end of an epoch (0-based here). */
keel_status keel_ckpt_epoch_end(keel_model *m, keel_ckpt_state *c,
                                const keel_model_checkpoint_opts *o, int epoch,
                                const keel_logs *logs, FILE *out, const char *fn) {
    if (!o) return KEEL_OK;
    char path[4096];
    if (keel_format_filepath(o->filepath, epoch, logs, path, sizeof path))
        return keel_error_prefix("keel_fit: model_checkpoint");
    const char *mon = o->monitor ? o->monitor : "val_loss";
    if (o->save_best_only) {
        double cur;
        if (!keel_logs_get(logs, mon, &cur)) {
            keel_warn("Can save best model only with %s available, skipping.", mon);
            return KEEL_OK;
        }
        bool better = c->max_mode ? cur > c->best : cur < c->best;
        if (!better) {
            if (o->verbose > 0)
                fprintf(out, "\nEpoch %d: %s did not improve from %0.5f\n", epoch + 1, mon,
                        c->best);
            return KEEL_OK;
        }
        if (o->verbose > 0)
            fprintf(out, "\nEpoch %d: %s improved from %0.5f to %0.5f, saving model to %s\n",
                    epoch + 1, mon, c->best, cur, path);
        c->best = cur;
    } else if (o->verbose > 0) {
        fprintf(out, "\nEpoch %d: saving model to %s\n", epoch + 1, path);
    }
    keel_status st = o->save_weights_only ? keel_save_weights(m, path) : keel_save(m, path);
    return st ? keel_error_prefix(fn) : KEEL_OK;
}

/* ---------------------------------------------------------------- fit */

typedef struct early_state {
    bool on, max_mode, warned;
    double best;
    int wait;
    float *best_weights;
} early_state;

static keel_status early_init(keel_model *m, early_state *es, const keel_early_stopping_opts *o) {
    memset(es, 0, sizeof *es);
    if (!o) return KEEL_OK;
    if (!o->monitor) KEEL_FAIL(KEEL_ERR_ARG, "keel_fit: early_stopping.monitor is NULL");
    const char *mode = o->mode ? o->mode : "auto";
    size_t len = strlen(o->monitor);
    if (!strcmp(mode, "max"))
        es->max_mode = true;
    else if (!strcmp(mode, "min"))
        es->max_mode = false;
    else if (!strcmp(mode, "auto"))
        /* tf.keras 2: names ending in acc / accuracy / auc are maximized */
        es->max_mode = (len >= 3 && !strcmp(o->monitor + len - 3, "acc")) ||
                       (len >= 8 && !strcmp(o->monitor + len - 8, "accuracy")) ||
                       (len >= 3 && !strcmp(o->monitor + len - 3, "auc"));
    else
        KEEL_FAIL(KEEL_ERR_ARG,
                  "keel_fit: early_stopping.mode must be \"auto\", \"min\" or \"max\", got \"%s\"",
                  mode);
    if (o->patience < 0) KEEL_FAIL(KEEL_ERR_ARG, "keel_fit: early_stopping.patience must be >= 0");
    es->on = true;
    es->best = es->max_mode ? -INFINITY : INFINITY;
    if (o->restore_best_weights) {
        es->best_weights = keel_alloc((size_t)(m->n_weights ? m->n_weights : 1) * sizeof(float));
        if (!es->best_weights) return KEEL_ERR_NOMEM;
    }
    return KEEL_OK;
}

/* true when training should stop */
static bool early_epoch_end(keel_model *m, early_state *es, const keel_early_stopping_opts *o,
                            int epoch, const keel_logs *logs, bool *restored) {
    double cur;
    if (!es->on) return false;
    if (!keel_logs_get(logs, o->monitor, &cur)) {
        /* tf.keras 2 warns and carries on without stopping; keel warns once per fit */
        if (!es->warned) {
            char avail[256];
            size_t len = 0;
            avail[0] = 0;
            for (int i = 0; i < logs->count && len < sizeof avail; i++)
                len += (size_t)snprintf(avail + len, sizeof avail - len, "%s%s", i ? "," : "",
                                        logs->names[i]);
            keel_warn("Early stopping conditioned on metric `%s` which is not available. Available "
                      "metrics are: %s",
                      o->monitor, avail);
            es->warned = true;
        }
        return false;
    }
    bool better = es->max_mode ? cur - o->min_delta > es->best : cur + o->min_delta < es->best;
    if (better) {
        es->best = cur;
        es->wait = 0;
        if (es->best_weights) keel_model_get_flat(m, es->best_weights);
        return false;
    }
    es->wait++;
    if (es->wait >= o->patience && epoch > 0) {
        if (es->best_weights && es->best != INFINITY && es->best != -INFINITY) {
            keel_model_set_flat(m, es->best_weights);
            *restored = true;
        }
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------- ReduceLROnPlateau, CSVLogger */

typedef struct plateau_state {
    bool max_mode;
    double best;
    int wait, cooldown;
} plateau_state;

static keel_status plateau_init(plateau_state *p, const keel_reduce_lr_opts *o, const char *fn) {
    memset(p, 0, sizeof *p);
    if (!o) return KEEL_OK;
    if (!o->monitor) KEEL_FAIL(KEEL_ERR_ARG, "%s: reduce_lr_on_plateau.monitor is NULL", fn);
    if (!(o->factor < 1.0f) || !(o->factor >= 0) || o->patience < 0 || o->cooldown < 0 ||
        !(o->min_lr >= 0))
        KEEL_FAIL(
            KEEL_ERR_ARG,
            "%s: reduce_lr_on_plateau needs factor in [0, 1) (Keras: factor >= 1.0 is an error), "
            "patience, cooldown and min_lr >= 0",
            fn);
    const char *mode = o->mode ? o->mode : "auto";
    if (!strcmp(mode, "max"))
        p->max_mode = true;
    else if (!strcmp(mode, "auto"))
        p->max_mode = strstr(o->monitor, "acc") != NULL; /* Keras: "acc" in monitor */
    else if (strcmp(mode, "min"))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: reduce_lr_on_plateau.mode must be \"auto\", \"min\" or \"max\"", fn);
    p->best = p->max_mode ? -INFINITY : INFINITY;
    return KEEL_OK;
}

/* tf.keras 2's on_epoch_end, step by step */
static void plateau_epoch_end(keel_model *m, plateau_state *p, const keel_reduce_lr_opts *o,
                              int epoch, const keel_logs *logs, FILE *out) {
    double cur;
    if (!o || !keel_logs_get(logs, o->monitor, &cur)) {
        if (o)
            keel_warn(
                "Learning rate reduction is conditioned on metric `%s` which is not available",
                o->monitor);
        return;
    }
    if (p->cooldown > 0) p->cooldown--, p->wait = 0;
    bool better = p->max_mode ? cur > p->best + o->min_delta : cur < p->best - o->min_delta;
    if (better) {
        p->best = cur, p->wait = 0;
        return;
    }
    /* still cooling down after the decrement: no counting (Keras checks in_cooldown() again) */
    if (p->cooldown > 0 || ++p->wait < o->patience) return;
    float old = m->opt.o.learning_rate;
    if (old > o->min_lr) {
        float lr = KEEL_MAX(old * o->factor, o->min_lr);
        m->opt.o.learning_rate = lr;
        if (o->verbose)
            fprintf(out, "\nEpoch %d: ReduceLROnPlateau reducing learning rate to %.9g.\n",
                    epoch + 1, lr);
        p->cooldown = o->cooldown, p->wait = 0;
    }
}

/* Python's repr of a double (1500.0, not %g's 1.5e+03), as Keras's CSVLogger writes it */
static void repr_double(char *buf, size_t cap, double v) {
    keel_repr_double(v, buf, cap);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* one row: epoch, then the values in sorted key order; the header first when the file is new */
static keel_status csv_log(FILE *f, const keel_csv_logger_opts *o, int epoch, const keel_logs *logs,
                           bool header) {
    const char *const *order[2 * KEEL_MAX_LOGS];
    int n = logs->count;
    for (int i = 0; i < n; i++)
        order[i] = &logs->names[i];
    qsort(order, (size_t)n, sizeof *order, cmp_name);
    if (header) {
        fprintf(f, "epoch");
        for (int i = 0; i < n; i++)
            fprintf(f, "%c%s", o->separator, *order[i]);
        fputc('\n', f);
    }
    fprintf(f, "%d", epoch);
    for (int i = 0; i < n; i++) {
        char v[40];
        repr_double(v, sizeof v, logs->values[order[i] - logs->names]);
        fprintf(f, "%c%s", o->separator, v);
    }
    fputc('\n', f);
    return fflush(f) == 0
               ? KEEL_OK
               : keel_error(KEEL_ERR_IO, "keel_fit: csv_logger: cannot write %s", o->filename);
}

/* The epoch loop shared by keel_fit and keel_fit_flow. train->perm (when shuffling tensors)
 * is filled here each epoch. */
static keel_status fit_loop(keel_model *m, source *train, source *val, int64_t bs, keel_fit_opts o,
                            const char *fn) {
    FILE *out = o.out ? o.out : stdout;
    early_state es;
    plateau_state plateau;
    FILE *csv = NULL;
    bool csv_header = true;
    keel_status st;
    if ((st = early_init(m, &es, o.early_stopping))) return st;
    if ((st = plateau_init(&plateau, o.reduce_lr_on_plateau, fn))) goto done;
    keel_ckpt_state ckpt;
    if ((st = keel_ckpt_init(&ckpt, o.model_checkpoint, fn))) goto done;
    if (o.csv_logger) {
        if (!o.csv_logger->filename) {
            st = keel_error(KEEL_ERR_ARG, "%s: csv_logger.filename is NULL", fn);
            goto done;
        }
        FILE *probe = o.csv_logger->append ? fopen(o.csv_logger->filename, "r") : NULL;
        if (probe) { /* appending to a file that has rows: no second header (Keras) */
            csv_header = fgetc(probe) == EOF;
            fclose(probe);
        }
        if (!(csv = fopen(o.csv_logger->filename, o.csv_logger->append ? "a" : "w"))) {
            st = keel_error(KEEL_ERR_IO, "%s: csv_logger: cannot open %s for writing", fn,
                            o.csv_logger->filename);
            goto done;
        }
    }
    keel_history_reset(&m->hist);
    int nm = m->n_logs;
    const char *names[2 * KEEL_MAX_LOGS];
    char val_names[KEEL_MAX_LOGS][56];
    for (int i = 0; i < nm; i++) {
        names[i] = m->names[i];
        snprintf(val_names[i], sizeof val_names[i], "val_%s", m->names[i]);
        names[nm + i] = val_names[i];
    }
    int64_t steps = source_steps(train, bs);
    int64_t *perm = (int64_t *)train->perm;
    bool stop = false;
    for (int epoch = o.initial_epoch; epoch < o.epochs && !stop; epoch++) {
        if (o.verbose && o.epochs > 1) fprintf(out, "Epoch %d/%d\n", epoch + 1, o.epochs);
        if (o.lr_scheduler.schedule) { /* LearningRateScheduler: on_epoch_begin */
            double lr = o.lr_scheduler.schedule(epoch, m->opt.o.learning_rate, o.lr_scheduler.user);
            if (!(lr >= 0) || !isfinite(lr)) {
                st = keel_error(
                    KEEL_ERR_ARG,
                    "%s: lr_scheduler gave %g for epoch %d; a rate must be finite and >= 0", fn, lr,
                    epoch);
                goto done;
            }
            m->opt.o.learning_rate = (float)lr;
        }
        keel_progbar pb;
        keel_progbar_start(&pb, out, o.verbose, steps);
        train->epoch = epoch;
        if (perm) { /* Fisher-Yates from (seed, epoch): the same order for the same seed */
            keel_rng r = {.seed = m->seed, .stream = 0x5348554646ull + (uint64_t)epoch};
            for (int64_t i = 0; i < train->n; i++)
                perm[i] = train->start + i;
            for (int64_t i = train->n - 1; i > 0; i--) {
                int64_t j = (int64_t)(keel_rng_uniform(&r) * (double)(i + 1));
                int64_t t = perm[i];
                perm[i] = perm[j], perm[j] = t;
            }
        }
        double sums[KEEL_MAX_LOGS] = {0}, vals[2 * KEEL_MAX_LOGS];
        keel_logs logs = {nm, names, vals};
        int64_t seen = 0;
        for (int64_t s = 0; s < steps && !stop; s++) {
            int64_t n = source_batch(m, train, s, bs, true);
            if (n < 0) {
                if (o.verbose == 1 && pb.dynamic) fputc('\n', out);
                st = (keel_status)n;
                goto done;
            }
            double loss;
            if (train_step(m, n, sums, &loss) == KEEL_ERR_NAN) {
                if (o.verbose == 1 && pb.dynamic) fputc('\n', out);
                st = keel_error(KEEL_ERR_NAN,
                                "%s: loss became %s at epoch %d, batch %lld (of %lld); "
                                "training stopped with the weights of the batch before",
                                fn, isnan(loss) ? "nan" : "inf", epoch + 1, (long long)s + 1,
                                (long long)steps);
                goto done;
            }
            seen += n;
            for (int i = 0; i < nm; i++)
                vals[i] = sums[i] / (double)seen;
            if (o.callback.on_batch_end &&
                o.callback.on_batch_end(m, epoch, (int)s, &logs, o.callback.user))
                stop = true;
            if (s + 1 < steps || !val)
                keel_progbar_update(&pb, s + 1, &logs, s + 1 == steps && !val);
        }
        if ((st = keel_model_check_weights(m, fn, epoch))) {
            if (o.verbose == 1 && pb.dynamic) fputc('\n', out);
            goto done;
        }
        if (val) {
            val->epoch = 0;
            if ((st = evaluate_source(m, val, bs, vals + nm, NULL))) goto done;
            logs.count = 2 * nm;
            keel_progbar_update(&pb, steps, &logs, true);
        }
        if ((st = keel_history_append(&m->hist, &logs))) goto done;
        if (csv && (st = csv_log(csv, o.csv_logger, epoch, &logs, csv_header))) goto done;
        csv_header = false;
        if ((st = keel_ckpt_epoch_end(m, &ckpt, o.model_checkpoint, epoch, &logs, out, fn)))
            goto done;
        plateau_epoch_end(m, &plateau, o.reduce_lr_on_plateau, epoch, &logs, out);
        bool restored = false;
        if (early_epoch_end(m, &es, o.early_stopping, epoch, &logs, &restored)) {
            stop = true;
            if (o.verbose) {
                if (restored)
                    fprintf(out, "Restoring model weights from the end of the best epoch.\n");
                fprintf(out, "Epoch %d: early stopping\n", epoch + 1);
            }
        }
        if (o.callback.on_epoch_end && o.callback.on_epoch_end(m, epoch, &logs, o.callback.user))
            stop = true;
    }
done:
    keel_free(es.best_weights);
    if (csv) fclose(csv);
    return st;
}

static keel_status check_fit_opts(keel_fit_opts *o, const char *fn) {
    /* zero is the Keras default, as for every option; a negative count is a mistake */
    if (o->batch_size < 0)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: batch_size must be positive, got %lld", fn,
                  (long long)o->batch_size);
    if (o->epochs < 0) KEEL_FAIL(KEEL_ERR_ARG, "%s: epochs must be >= 1, got %d", fn, o->epochs);
    if (o->batch_size == 0) o->batch_size = 32;
    if (o->epochs == 0) o->epochs = 1;
    if (o->verbose < 0 || o->verbose > 2)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: verbose must be 0, 1 or 2, got %d", fn, o->verbose);
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        KEEL_FAIL(KEEL_ERR_ARG, "%s: validation_split must be in [0, 1), got %g", fn,
                  o->validation_split);
    if (o->initial_epoch < 0) KEEL_FAIL(KEEL_ERR_ARG, "%s: initial_epoch must be >= 0", fn);
    return KEEL_OK;
}

keel_status keel_fit_(keel_model *m, const keel_tensor *x, const keel_tensor *y, keel_fit_opts o) {
    keel_status st = keel_check_data(m, "keel_fit", x, y);
    if (!st && !y) st = keel_error(KEEL_ERR_ARG, "keel_fit: y is NULL");
    if (st || (st = check_fit_opts(&o, "keel_fit"))) return st;
    int64_t N = x->dims[0];
    source train = {.x = x, .y = y, .n = N, .fn = "keel_fit"}, val = {.fn = "keel_fit"};
    bool has_val = false;
    if (o.validation_data.x || o.validation_data.y) {
        if (!o.validation_data.x || !o.validation_data.y)
            KEEL_FAIL(KEEL_ERR_ARG, "keel_fit: validation_data needs both x and y");
        if ((st = keel_check_data(m, "keel_fit: validation_data", o.validation_data.x,
                                  o.validation_data.y)))
            return st;
        keel_check_data(m, "keel_fit", x, y); /* resolve metrics for the training targets again */
        val = (source){.x = o.validation_data.x,
                       .y = o.validation_data.y,
                       .n = o.validation_data.x->dims[0],
                       .fn = "keel_fit: validation_data"};
        has_val = true;
    } else if (o.validation_split > 0) {
        /* the last fraction, taken before shuffling (Keras: split_at = floor(N * (1 - split))) */
        int64_t n_train = keel_split_at(N, o.validation_split);
        if (n_train == 0 || n_train == N)
            KEEL_FAIL(KEEL_ERR_ARG,
                      "keel_fit: validation_split %g of %lld samples leaves an empty %s set",
                      o.validation_split, (long long)N, n_train == 0 ? "training" : "validation");
        train.n = n_train;
        val = (source){.x = x, .y = y, .start = n_train, .n = N - n_train, .fn = "keel_fit"};
        has_val = true;
    }
    int64_t *perm = NULL;
    if ((st = keel_model_reserve(m, KEEL_MIN(o.batch_size, N)))) return st;
    if (o.shuffle && !(perm = keel_alloc((size_t)train.n * sizeof *perm))) return KEEL_ERR_NOMEM;
    train.perm = perm;
    st = fit_loop(m, &train, has_val ? &val : NULL, o.batch_size, o, "keel_fit");
    keel_free(perm);
    return st;
}

/* ---------------------------------------------------------------- evaluate / predict */

keel_status keel_evaluate_(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                           double *results, int cap, keel_evaluate_opts o) {
    keel_status st = keel_check_data(m, "keel_evaluate", x, y);
    if (!st && !y) st = keel_error(KEEL_ERR_ARG, "keel_evaluate: y is NULL");
    if (st) return st;
    if (o.batch_size < 0)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_evaluate: batch_size must be positive, got %lld",
                  (long long)o.batch_size);
    if (o.batch_size == 0) o.batch_size = 32;
    int64_t N = x->dims[0], bs = KEEL_MIN(o.batch_size, N);
    if ((st = keel_model_reserve(m, bs))) return st;
    double vals[KEEL_MAX_LOGS];
    keel_progbar pb;
    if (o.verbose) keel_progbar_start(&pb, o.out ? o.out : stdout, o.verbose, (N + bs - 1) / bs);
    source src = {.x = x, .y = y, .n = N, .fn = "keel_evaluate"};
    if ((st = evaluate_source(m, &src, bs, vals, o.verbose ? &pb : NULL))) return st;
    if (results)
        for (int i = 0; i < cap && i < m->n_logs; i++)
            results[i] = vals[i];
    return KEEL_OK;
}

/* The forward pass over x in batches of bs, into res (N, outputs...) */
/* The forward pass over x in batches of bs; output k into res[k] (n_res of them) */
static void predict_outputs(keel_model *m, const keel_tensor *x, int64_t bs,
                            keel_tensor *const *res, int n_res) {
    int64_t N = x->dims[0];
    m->ctx.training = false;
    for (int64_t s = 0; s < N; s += bs) {
        int64_t n = KEEL_MIN(bs, N - s);
        gather(m, "keel_predict", x, NULL, NULL, s, n, false);
        keel_graph_forward(&m->g, n, &m->ctx);
        for (int k = 0; k < n_res; k++) {
            int64_t os = m->out_nodes[k]->size;
            memcpy(res[k]->data + s * os, m->out_nodes[k]->val, (size_t)(n * os) * sizeof(float));
        }
    }
}

static void predict_into(keel_model *m, const keel_tensor *x, int64_t bs, keel_tensor *res) {
    predict_outputs(m, x, bs, &res, 1);
}

int keel_predict_outputs(keel_model *m, const keel_tensor *x, keel_tensor **out, int cap) {
    if (keel_check_data(m, "keel_predict_outputs", x, NULL)) return keel_last_status();
    if (!out || cap < m->n_out_nodes)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_predict_outputs: %s has %d outputs, room for %d", m->name,
                  m->n_out_nodes, out ? cap : 0);
    int64_t N = x->dims[0], bs = KEEL_MIN(32, N);
    keel_status st = keel_model_reserve(m, bs);
    if (st) return keel_model_fail(m, st);
    for (int k = 0; k < m->n_out_nodes; k++) {
        int64_t dims[KEEL_MAX_RANK];
        dims[0] = N;
        memcpy(dims + 1, m->out_nodes[k]->dims, (size_t)m->out_nodes[k]->rank * sizeof *dims);
        if (!(out[k] = keel_tensor_new(m->out_nodes[k]->rank + 1, dims))) {
            while (k > 0)
                keel_tensor_free(out[--k]);
            return KEEL_ERR_NOMEM;
        }
    }
    predict_outputs(m, x, bs, out, m->n_out_nodes);
    return m->n_out_nodes;
}

static keel_tensor *predict_rows(keel_model *m, const keel_tensor *x, int64_t bs) {
    int64_t N = x->dims[0];
    bs = KEEL_MIN(bs, N);
    if (keel_model_fail(m, keel_model_reserve(m, bs))) return NULL;
    int64_t dims[KEEL_MAX_RANK];
    dims[0] = N;
    memcpy(dims + 1, m->output->dims, (size_t)m->output->rank * sizeof *dims);
    keel_tensor *res = keel_tensor_new(m->output->rank + 1, dims);
    if (res) predict_into(m, x, bs, res);
    return res;
}

keel_tensor *keel_predict(keel_model *m, const keel_tensor *x, const keel_predict_opts *opts) {
    if (keel_check_data(m, "keel_predict", x, NULL)) return NULL;
    if (opts && opts->batch_size < 0) {
        keel_error(KEEL_ERR_ARG, "keel_predict: batch_size must be positive, got %lld",
                   (long long)opts->batch_size);
        return NULL;
    }
    int64_t bs = opts && opts->batch_size > 0 ? opts->batch_size : 32;
    return predict_rows(m, x, bs);
}

keel_tensor *keel_predict_on_batch(keel_model *m, const keel_tensor *x) {
    if (keel_check_data(m, "keel_predict_on_batch", x, NULL)) return NULL;
    return predict_rows(m, x, x->dims[0]);
}

keel_status keel_predict_into(keel_model *m, const keel_tensor *x, keel_tensor *out) {
    keel_status st = keel_check_data(m, "keel_predict_into", x, NULL);
    if (st) return st;
    if (!out || out->dtype != KEEL_FLOAT32)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_predict_into: out is %s",
                  out ? "not a float32 tensor" : "NULL");
    const keel_node *o = m->output;
    bool ok = out->rank == o->rank + 1 && out->dims[0] == x->dims[0];
    for (int i = 0; ok && i < o->rank; i++)
        ok = out->dims[i + 1] == o->dims[i];
    if (!ok) {
        char a[160], b[160];
        int64_t dims[KEEL_MAX_RANK];
        dims[0] = x->dims[0];
        memcpy(dims + 1, o->dims, (size_t)o->rank * sizeof *dims);
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "keel_predict_into: out has shape %s but the predictions have shape %s",
                  keel_tensor_shape_str(out, a, sizeof a),
                  keel_dims_str(o->rank + 1, dims, false, b, sizeof b));
    }
    if ((st = keel_model_reserve(m, x->dims[0]))) return keel_model_fail(m, st);
    predict_into(m, x, x->dims[0], out);
    return KEEL_OK;
}

enum { TEST, TRAIN, GRADS };

static keel_status on_batch(keel_model *m, const char *fn, const keel_tensor *x,
                            const keel_tensor *y, double *results, int cap, int mode) {
    keel_status st = keel_check_data(m, fn, x, y);
    if (!st && !y) st = keel_error(KEEL_ERR_ARG, "%s: y is NULL", fn);
    if (st) return st;
    int64_t n = x->dims[0];
    if ((st = keel_model_reserve(m, n))) return st;
    if ((st = gather(m, fn, x, y, NULL, 0, n, true))) return st;
    double sums[KEEL_MAX_LOGS] = {0}, loss;
    if (mode != TEST) {
        if (train_step_(m, n, sums, &loss, mode == TRAIN) == KEEL_ERR_NAN)
            KEEL_FAIL(KEEL_ERR_NAN, "%s: loss is %s; the weights were not updated", fn,
                      isnan(loss) ? "nan" : "inf");
        if (mode == GRADS)
            for (int k = 0; k < m->n_params; k++) /* frozen weights have no gradient: say 0 */
                if (!m->ptrain[k])
                    memset(m->grads + m->offsets[k], 0, (size_t)m->params[k]->size * sizeof(float));
    } else {
        test_batch(m, n, sums);
        sums[0] += keel_reg_apply(m->params, m->n_params, false) * (double)n;
    }
    if (results)
        for (int i = 0; i < cap && i < m->n_logs; i++)
            results[i] = sums[i] / (double)n;
    return KEEL_OK;
}

keel_status keel_train_on_batch(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                                double *results, int cap) {
    return on_batch(m, "keel_train_on_batch", x, y, results, cap, TRAIN);
}

keel_status keel_test_on_batch(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                               double *results, int cap) {
    return on_batch(m, "keel_test_on_batch", x, y, results, cap, TEST);
}

keel_status keel_compute_gradients(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                                   double *results, int cap) {
    return on_batch(m, "keel_compute_gradients", x, y, results, cap, GRADS);
}

float *keel_model_gradients(keel_model *m, int64_t *count) {
    if (!m || !m->compiled) {
        keel_error(KEEL_ERR_STATE, "keel_model_gradients: the model is not compiled");
        return NULL;
    }
    if (count) *count = m->n_weights;
    return m->grads;
}

keel_status keel_apply_gradients(keel_model *m, const float *grads, int64_t count) {
    keel_status st = keel_model_check(m, "keel_apply_gradients");
    if (st) return st;
    if (!m->compiled) KEEL_FAIL(KEEL_ERR_STATE, "keel_apply_gradients: compile %s first", m->name);
    if (grads) {
        if (count != m->n_weights)
            KEEL_FAIL(KEEL_ERR_SHAPE,
                      "keel_apply_gradients: %s has %lld weights, got %lld gradients", m->name,
                      (long long)m->n_weights, (long long)count);
        for (int64_t i = 0; i < count; i++)
            if (!isfinite(grads[i]))
                KEEL_FAIL(KEEL_ERR_ARG,
                          "keel_apply_gradients: gradient %lld is %s; nothing was applied",
                          (long long)i, isnan(grads[i]) ? "nan" : "inf");
        memcpy(m->grads, grads, (size_t)count * sizeof(float));
    }
    keel_model_bind(m, true);
    keel_optimizer_step(&m->opt, m->params, m->n_params);
    return KEEL_OK;
}

/* ---------------------------------------------------------------- flows */

/* The flow's images and labels against the compiled model; resolves "accuracy". */
static keel_status check_flow(keel_model *m, const char *fn, keel_flow *f, bool need_y) {
    keel_status st = keel_model_check(m, fn);
    if (st) return st;
    if (!m->compiled)
        KEEL_FAIL(KEEL_ERR_STATE, "%s: you must call keel_compile() before using %s", fn, m->name);
    if (!f) KEEL_FAIL(KEEL_ERR_ARG, "%s: flow is NULL", fn);
    if (m->n_out_nodes != 1 || m->n_in_nodes != 1)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: %s has %d inputs and %d outputs; a flow feeds models with one of each", fn,
                  m->name, m->n_in_nodes, m->n_out_nodes);
    keel_model_bind(m, false);
    int64_t dims[3], ysize;
    keel_flow_dims(f, dims, &ysize);
    const keel_node *in = m->input, *out = m->output;
    char a[128], b[128];
    if (in->rank != 3 || in->dims[0] != dims[0] || in->dims[1] != dims[1] || in->dims[2] != dims[2])
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: the flow gives images of shape %s but %s expects input of shape %s "
                  "(match target_size and color_mode to the model)",
                  fn, keel_dims_str(3, dims, true, a, sizeof a), first_layer_name(m),
                  keel_dims_str(in->rank, in->dims, true, b, sizeof b));
    if (!need_y) return KEEL_OK;
    int64_t want = keel_target_size(m), C = out->dims[out->rank - 1];
    keel_dims_str(out->rank, out->dims, true, b, sizeof b);
    if (ysize == 0)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: the flow has class_mode \"none\" (no labels); use \"binary\", "
                  "\"categorical\" or \"sparse\"",
                  fn);
    if (ysize != want)
        KEEL_FAIL(
            KEEL_ERR_SHAPE,
            "%s: the flow gives %lld label value%s per image but the model outputs %s for loss %s "
            "(binary: Dense(1, sigmoid) + binary_crossentropy; categorical: Dense(%d, softmax) + "
            "categorical_crossentropy)",
            fn, (long long)ysize, ysize == 1 ? "" : "s", b, keel_loss_name(m->loss.kind),
            keel_flow_num_classes(f));
    if (keel_loss_sparse(&m->loss) && keel_flow_num_classes(f) > C)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: the flow has %d classes but the model outputs %s", fn,
                  keel_flow_num_classes(f), b);
    if (m->loss.kind == KEEL_LOSS_CCE && keel_flow_num_classes(f) != C)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: the flow has %d classes but the model outputs %s", fn,
                  keel_flow_num_classes(f), b);
    bool sparse = ysize * C == out->size && C > 1 && ysize != out->size;
    for (int i = 0; i < m->n_metrics; i++)
        keel_metric_resolve(&m->metrics[0][i], C, sparse);
    return KEEL_OK;
}

keel_status keel_fit_flow_(keel_model *m, keel_flow *train, keel_fit_opts o) {
    keel_status st = check_flow(m, "keel_fit_flow", train, true);
    if (st || (st = check_fit_opts(&o, "keel_fit_flow"))) return st;
    if (o.validation_flow &&
        (st = check_flow(m, "keel_fit_flow: validation_flow", o.validation_flow, true)))
        return st;
    if (o.validation_flow) check_flow(m, "keel_fit_flow", train, true);
    int64_t bs = keel_flow_batch_size(train);
    int64_t vbs = o.validation_flow ? keel_flow_batch_size(o.validation_flow) : 0;
    if ((st = keel_model_reserve(m, KEEL_MAX(bs, vbs)))) return st;
    source src = {.flow = train, .n = keel_flow_samples(train)}, val = {.flow = o.validation_flow};
    /* No cores are set aside for the flow's workers: keel's pool yields the core to them while
     * it waits (src/kernels/parallel.c); keeping both cores for the kernels was 1.6x faster on
     * cats_vs_dogs than giving one to the workers (6.5 s against 10.4 s for 3 epochs). */
    st = fit_loop(m, &src, o.validation_flow ? &val : NULL, bs, o, "keel_fit_flow");
    return st;
}

keel_status keel_evaluate_flow(keel_model *m, keel_flow *f, double *results, int cap) {
    keel_status st = check_flow(m, "keel_evaluate_flow", f, true);
    if (st || (st = keel_model_reserve(m, keel_flow_batch_size(f)))) return st;
    double vals[KEEL_MAX_LOGS];
    source src = {.flow = f};
    if ((st = evaluate_source(m, &src, keel_flow_batch_size(f), vals, NULL))) return st;
    for (int i = 0; results && i < cap && i < m->n_logs; i++)
        results[i] = vals[i];
    return KEEL_OK;
}

keel_tensor *keel_predict_flow(keel_model *m, keel_flow *f) {
    if (check_flow(m, "keel_predict_flow", f, false)) return NULL;
    int64_t bs = keel_flow_batch_size(f), N = keel_flow_samples(f);
    if (keel_model_reserve(m, bs)) return NULL;
    int64_t dims[KEEL_MAX_RANK];
    dims[0] = N;
    memcpy(dims + 1, m->output->dims, (size_t)m->output->rank * sizeof *dims);
    keel_tensor *res = keel_tensor_new(m->output->rank + 1, dims);
    if (!res) return NULL;
    source src = {.flow = f};
    int64_t os = m->output->size, done = 0;
    m->ctx.training = false;
    for (int64_t s = 0; s < keel_flow_steps(f); s++) {
        int64_t n = source_batch(m, &src, s, bs, false);
        if (n < 0) {
            keel_tensor_free(res);
            return NULL;
        }
        keel_graph_forward(&m->g, n, &m->ctx);
        memcpy(res->data + done * os, m->output->val, (size_t)(n * os) * sizeof(float));
        done += n;
    }
    return res;
}
