/* losses.c: Keras losses with reduction "sum_over_batch_size": each sample's loss is the mean
 * over its last axis (crossentropies: the sum over classes), and the batch loss is the mean of
 * those. When the model ends in sigmoid (softmax) and the loss is binary (categorical / sparse)
 * crossentropy, the activation is folded into the loss and computed from the logits, as
 * TensorFlow's Keras does: no 1e-7 clipping and a stable gradient p - y. */
#include "train.h"

#include <stdio.h>

#define EPS 1e-7f

static const char *const loss_names[KEEL_LOSS_COUNT + 1] = {
    [KEEL_LOSS_MSE] = "mean_squared_error",
    [KEEL_LOSS_MAE] = "mean_absolute_error",
    [KEEL_LOSS_HUBER] = "huber",
    [KEEL_LOSS_BCE] = "binary_crossentropy",
    [KEEL_LOSS_CCE] = "categorical_crossentropy",
    [KEEL_LOSS_SPARSE_CCE] = "sparse_categorical_crossentropy",
    [KEEL_LOSS_COUNT] = NULL};

static const struct {
    const char *alias;
    keel_loss_kind kind;
} loss_aliases[] = {{"mse", KEEL_LOSS_MSE}, {"MSE", KEEL_LOSS_MSE},          {"mae", KEEL_LOSS_MAE},
                    {"MAE", KEEL_LOSS_MAE}, {"huber_loss", KEEL_LOSS_HUBER}, {"bce", KEEL_LOSS_BCE},
                    {"BCE", KEEL_LOSS_BCE}};

const char *keel_loss_name(keel_loss_kind k) {
    return loss_names[k];
}

keel_status keel_loss_parse(const char *name, keel_loss_opts o, keel_loss *out) {
    memset(out, 0, sizeof *out);
    if (!name) KEEL_FAIL(KEEL_ERR_ARG, "keel_compile: loss is NULL (e.g. .loss = \"mse\")");
    int kind = -1;
    for (int i = 0; i < KEEL_LOSS_COUNT; i++)
        if (!strcmp(name, loss_names[i])) kind = i;
    for (size_t i = 0; i < sizeof loss_aliases / sizeof loss_aliases[0]; i++)
        if (!strcmp(name, loss_aliases[i].alias)) kind = (int)loss_aliases[i].kind;
    if (kind < 0) {
        static const char *const all[] = {"mean_squared_error",
                                          "mean_absolute_error",
                                          "huber",
                                          "binary_crossentropy",
                                          "categorical_crossentropy",
                                          "sparse_categorical_crossentropy",
                                          "mse",
                                          "mae",
                                          NULL};
        const char *near = keel_nearest_name(name, all);
        KEEL_FAIL(KEEL_ERR_ARG, "keel_compile: unknown loss \"%s\"%s%s%s", name,
                  near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    out->kind = (keel_loss_kind)kind;
    out->from_logits = o.from_logits != 0;
    out->label_smoothing = o.label_smoothing;
    out->delta = o.delta > 0 ? o.delta : 1.0f;
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1))
        KEEL_FAIL(KEEL_ERR_ARG, "keel_compile: label_smoothing must be in [0, 1], got %g",
                  o.label_smoothing);
    return KEEL_OK;
}

static inline float sigm(float z) {
    if (z >= 0) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

/* Regression losses and binary crossentropy: elementwise, mean over all n * d values. */
static double elementwise(const keel_loss *l, keel_node *out, const float *y, int64_t n,
                          bool grad) {
    int64_t total = n * out->size;
    const float *p = out->val;
    float *g = grad ? out->grad : NULL;
    double sum = 0;
    float inv = 1.0f / (float)total, ls = l->label_smoothing, d = l->delta;
    for (int64_t i = 0; i < total; i++) {
        float e = p[i] - y[i];
        switch (l->kind) {
        case KEEL_LOSS_MSE:
            sum += (double)e * e;
            if (g) g[i] = 2.0f * e * inv;
            break;
        case KEEL_LOSS_MAE:
            sum += fabsf(e);
            if (g) g[i] = (float)((e > 0) - (e < 0)) * inv;
            break;
        case KEEL_LOSS_HUBER: {
            float a = fabsf(e);
            sum += a <= d ? 0.5 * (double)e * e : (double)d * a - 0.5 * (double)d * d;
            if (g) g[i] = (a <= d ? e : d * (float)((e > 0) - (e < 0))) * inv;
            break;
        }
        case KEEL_LOSS_BCE: {
            float t = y[i] * (1 - ls) + 0.5f * ls;
            if (l->fused || l->from_logits) {
                float z = l->fused ? out->pre[i] : p[i];
                sum += (z > 0 ? z : 0) - z * t + log1pf(expf(-fabsf(z)));
                if (g) g[i] = (sigm(z) - t) * inv;
            } else {
                /* tf.keras 2: clip to [eps, 1-eps] and add eps inside the logs */
                float q = p[i] < EPS ? EPS : (p[i] > 1 - EPS ? 1 - EPS : p[i]);
                sum += -(t * logf(q + EPS) + (1 - t) * logf(1 - q + EPS));
                if (g) g[i] = (p[i] == q) ? -(t / (q + EPS) - (1 - t) / (1 - q + EPS)) * inv : 0.0f;
            }
            break;
        }
        default: KEEL_ASSERT(0);
        }
    }
    return sum / (double)total;
}

/* Categorical crossentropy over rows of C classes; sparse targets give the class index. */
static double categorical(const keel_loss *l, keel_node *out, const float *y, int64_t n,
                          bool grad) {
    int64_t C = out->dims[out->rank - 1], rows = n * (out->size / C);
    bool sparse = l->kind == KEEL_LOSS_SPARSE_CCE, logits = l->fused || l->from_logits;
    const float *src = l->fused ? out->pre : out->val;
    float ls = sparse ? 0.0f : l->label_smoothing, inv = 1.0f / (float)rows;
    double sum = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *z = src + r * C;
        float *g = grad ? out->grad + r * C : NULL;
        int64_t label = sparse ? (int64_t)y[r] : -1;
        const float *t = sparse ? NULL : y + r * C;
#define TARGET(c) (sparse ? (float)((c) == label) : t[c] * (1 - ls) + ls / (float)C)
        if (logits) {
            float mx = z[0];
            for (int64_t c = 1; c < C; c++)
                mx = z[c] > mx ? z[c] : mx;
            double se = 0;
            for (int64_t c = 0; c < C; c++)
                se += exp((double)(z[c] - mx));
            double lse = mx + log(se), tsum = 0, dot = 0;
            for (int64_t c = 0; c < C; c++)
                tsum += TARGET(c), dot += TARGET(c) * (double)z[c];
            sum += lse * tsum - dot;
            if (g)
                for (int64_t c = 0; c < C; c++)
                    g[c] = (float)((exp((double)(z[c]) - lse) * tsum - TARGET(c)) * inv);
        } else if (sparse) {
            /* tf.keras 2 sparse: clip the raw probabilities, take logs, then softmax
             * crossentropy: -log(pc[y] / sum pc); a clipped entry passes no gradient */
            double s = 0;
            for (int64_t c = 0; c < C; c++)
                s += z[c] < EPS ? EPS : (z[c] > 1 - EPS ? 1 - EPS : z[c]);
            float zy = z[label], py = zy < EPS ? EPS : (zy > 1 - EPS ? 1 - EPS : zy);
            sum += -log((double)py) + log(s);
            if (g)
                for (int64_t c = 0; c < C; c++) {
                    bool clipped = z[c] < EPS || z[c] > 1 - EPS;
                    g[c] =
                        clipped ? 0.0f : (float)((1.0 / s - (c == label ? 1.0 / z[c] : 0.0)) * inv);
                }
        } else {
            /* tf.keras 2 categorical: normalize, clip to [eps, 1-eps], -sum t log q. With
             * q = z / S the gradient is -t_j / z_j + (sum of t over unclipped classes) / S,
             * the first term only where q_j was not clipped. */
            double s = 0;
            for (int64_t c = 0; c < C; c++)
                s += z[c];
            if (s <= 0) s = EPS;
            double tsum = 0;
            for (int64_t c = 0; c < C; c++) {
                double q = z[c] / s, qc = q < EPS ? EPS : (q > 1 - EPS ? 1 - EPS : q);
                sum -= TARGET(c) * log(qc);
                if (qc == q) tsum += TARGET(c);
            }
            if (g)
                for (int64_t c = 0; c < C; c++) {
                    double q = z[c] / s;
                    double dq = (q >= EPS && q <= 1 - EPS) ? -TARGET(c) / z[c] : 0.0;
                    g[c] = (float)((dq + tsum / s) * inv);
                }
        }
#undef TARGET
    }
    return sum / (double)rows;
}

double keel_loss_compute(const keel_loss *l, keel_node *out, const float *y, int64_t n, bool grad) {
    if (l->kind == KEEL_LOSS_CCE || l->kind == KEEL_LOSS_SPARSE_CCE)
        return categorical(l, out, y, n, grad);
    return elementwise(l, out, y, n, grad);
}

/* ---------------------------------------------------------------- metrics */

static const char *const metric_names[] = {"accuracy",
                                           "acc",
                                           "binary_accuracy",
                                           "categorical_accuracy",
                                           "sparse_categorical_accuracy",
                                           "mae",
                                           "mean_absolute_error",
                                           "mse",
                                           "mean_squared_error",
                                           NULL};

keel_status keel_metric_parse(const char *name, keel_metric *out) {
    memset(out, 0, sizeof *out);
    static const keel_metric_kind kinds[] = {KEEL_METRIC_ACCURACY,
                                             KEEL_METRIC_ACCURACY,
                                             KEEL_METRIC_BINARY_ACCURACY,
                                             KEEL_METRIC_CATEGORICAL_ACCURACY,
                                             KEEL_METRIC_SPARSE_ACCURACY,
                                             KEEL_METRIC_MAE,
                                             KEEL_METRIC_MAE,
                                             KEEL_METRIC_MSE,
                                             KEEL_METRIC_MSE};
    for (int i = 0; metric_names[i]; i++)
        if (!strcmp(name, metric_names[i])) {
            out->kind = out->resolved = kinds[i];
            snprintf(out->name, sizeof out->name, "%s", name);
            return KEEL_OK;
        }
    const char *near = keel_nearest_name(name, metric_names);
    KEEL_FAIL(KEEL_ERR_ARG, "keel_compile: unknown metric \"%s\"%s%s%s", name,
              near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
}

void keel_metric_resolve(keel_metric *m, int64_t out_last, bool sparse_targets) {
    if (m->kind != KEEL_METRIC_ACCURACY) return;
    m->resolved = out_last == 1    ? KEEL_METRIC_BINARY_ACCURACY
                  : sparse_targets ? KEEL_METRIC_SPARSE_ACCURACY
                                   : KEEL_METRIC_CATEGORICAL_ACCURACY;
}

static int64_t argmax(const float *v, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

void keel_metric_update(const keel_metric *m, const keel_node *out, const float *y, int64_t n,
                        double *total) {
    const float *p = out->val;
    int64_t d = out->size, C = out->dims[out->rank - 1], pos = d / C;
    for (int64_t s = 0; s < n; s++) {
        double v = 0;
        switch (m->resolved) {
        case KEEL_METRIC_BINARY_ACCURACY:
            for (int64_t i = 0; i < d; i++)
                v += (float)(p[s * d + i] > 0.5f) == y[s * d + i];
            v /= (double)d;
            break;
        case KEEL_METRIC_CATEGORICAL_ACCURACY:
            for (int64_t q = 0; q < pos; q++)
                v += argmax(p + s * d + q * C, C) == argmax(y + s * d + q * C, C);
            v /= (double)pos;
            break;
        case KEEL_METRIC_SPARSE_ACCURACY:
            for (int64_t q = 0; q < pos; q++)
                v += argmax(p + s * d + q * C, C) == (int64_t)y[s * pos + q];
            v /= (double)pos;
            break;
        case KEEL_METRIC_MAE:
            for (int64_t i = 0; i < d; i++)
                v += fabsf(p[s * d + i] - y[s * d + i]);
            v /= (double)d;
            break;
        case KEEL_METRIC_MSE:
            for (int64_t i = 0; i < d; i++) {
                double e = p[s * d + i] - y[s * d + i];
                v += e * e;
            }
            v /= (double)d;
            break;
        default: KEEL_ASSERT(0);
        }
        *total += v;
    }
}
