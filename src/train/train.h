/* train.h: initializers, regularizers, losses, metrics and optimizers. */
#ifndef KEEL_TRAIN_H
#define KEEL_TRAIN_H

#include "../graph/graph.h"

/* ---- initializers: fills p->w from the spec p->init; `what` names the layer in errors. */
keel_status keel_init_check(const char *spec, const char *what);
keel_status keel_init_param(keel_param *p, uint64_t seed, uint64_t stream, const char *what);

/* ---- regularizers: "l1(0.01)", "l2(0.01)", "l1_l2(l1=0.01, l2=0.01)"; NULL is none. */
keel_status keel_reg_parse(const char *spec, float *l1, float *l2, const char *what);
/* The penalty of all params; when add_grad, its gradient is added to each p->g. */
double keel_reg_apply(keel_param **params, int n, bool add_grad);

/* ---- losses */
typedef enum keel_loss_kind {
    KEEL_LOSS_MSE,
    KEEL_LOSS_MAE,
    KEEL_LOSS_HUBER,
    KEEL_LOSS_BCE,
    KEEL_LOSS_CCE,
    KEEL_LOSS_SPARSE_CCE,
    KEEL_LOSS_COUNT
} keel_loss_kind;

typedef struct keel_loss {
    keel_loss_kind kind;
    bool from_logits;
    float label_smoothing, delta;
    bool fused; /* the output's sigmoid / softmax is folded into the loss */
} keel_loss;

keel_status keel_loss_parse(const char *name, keel_loss_opts o, keel_loss *out);
const char *keel_loss_name(keel_loss_kind k);
/* Whether the loss reads class indices (one per position) rather than a target per output. */
static inline bool keel_loss_sparse(const keel_loss *l) {
    return l->kind == KEEL_LOSS_SPARSE_CCE;
}
/* The mean loss over the n samples of `out`; with grad, writes dL/d(out) into out->grad (or
 * dL/d(pre-activation) when fused). y holds n * (out->size or positions) targets. */
double keel_loss_compute(const keel_loss *l, keel_node *out, const float *y, int64_t n, bool grad);

/* ---- metrics */
typedef enum keel_metric_kind {
    KEEL_METRIC_ACCURACY, /* resolved by shape to one of the next three */
    KEEL_METRIC_BINARY_ACCURACY,
    KEEL_METRIC_CATEGORICAL_ACCURACY,
    KEEL_METRIC_SPARSE_ACCURACY,
    KEEL_METRIC_MAE,
    KEEL_METRIC_MSE,
    KEEL_METRIC_COUNT
} keel_metric_kind;

typedef struct keel_metric {
    keel_metric_kind kind, resolved;
    char name[48]; /* as given to compile: "accuracy", "acc", "mae" */
} keel_metric;

keel_status keel_metric_parse(const char *name, keel_metric *out);
/* Resolves "accuracy" by Keras's shape rule (output last dim, sparse targets). */
void keel_metric_resolve(keel_metric *m, int64_t out_last, bool sparse_targets);
/* Adds the metric summed over the n samples to *total (a per-sample mean each). */
void keel_metric_update(const keel_metric *m, const keel_node *out, const float *y, int64_t n,
                        double *total);

/* ---- optimizers */
typedef enum keel_opt_kind {
    KEEL_OPT_SGD,
    KEEL_OPT_ADAM,
    KEEL_OPT_ADAMW,
    KEEL_OPT_RMSPROP,
    KEEL_OPT_ADAGRAD,
    KEEL_OPT_COUNT
} keel_opt_kind;

/* A learning-rate schedule (schedules.c): kind 0 none, then exponential, piecewise constant,
 * inverse time, polynomial, cosine; a[] its arguments in Keras's order. */
typedef struct keel_schedule {
    int kind, n;
    double a[8];
} keel_schedule;
keel_status keel_schedule_parse(const char *s, keel_schedule *out);
/* The learning rate at a step count (iterations before the update). */
double keel_schedule_lr(const keel_schedule *sc, int64_t iterations);

typedef struct keel_optimizer {
    keel_opt_kind kind;
    keel_schedule schedule;
    keel_optimizer_opts o; /* defaults filled in */
    int64_t iterations;
    int64_t n;
    float *s1, *s2, *s3; /* slots: momentum / m, velocity / v / accumulator, vhat / mean grad */
} keel_optimizer;

keel_status keel_optimizer_init(keel_optimizer *opt, const char *name, keel_optimizer_opts o,
                                int64_t n);
/* One update of every trainable param (gradients in p->g, clipped here). */
void keel_optimizer_step(keel_optimizer *opt, keel_param **params, int n);
void keel_optimizer_free(keel_optimizer *opt);
const char *keel_optimizer_name(keel_opt_kind k);

#endif
