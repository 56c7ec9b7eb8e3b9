/* optimizers.c: SGD, Adam, AdamW, RMSprop and Adagrad with Keras's defaults and update rules
 * (reference §1.11). The per-step pipeline is Keras's: clip (clipnorm per tensor, else
 * global_clipnorm, else clipvalue), decoupled weight decay w -= w * wd * lr, then the update.
 * State slots are flat arrays parallel to the model's flat weights. */
#include "train.h"

#include <stdio.h>

static const char *const opt_names[KEEL_OPT_COUNT + 1] = {
    [KEEL_OPT_SGD] = "sgd",         [KEEL_OPT_ADAM] = "adam",       [KEEL_OPT_ADAMW] = "adamw",
    [KEEL_OPT_RMSPROP] = "rmsprop", [KEEL_OPT_ADAGRAD] = "adagrad", [KEEL_OPT_COUNT] = NULL};

const char *keel_optimizer_name(keel_opt_kind k) {
    return opt_names[k];
}

/* The arguments each optimizer takes in its name string ("adam(learning_rate=0.01)"), Keras's
 * keyword names; the clipping and decay arguments every optimizer has come after them. */
static const char *const opt_keys[KEEL_OPT_COUNT][13] = {
    [KEEL_OPT_SGD] = {"learning_rate", "momentum", "nesterov", "weight_decay", "clipnorm",
                      "global_clipnorm", "clipvalue", NULL},
    [KEEL_OPT_ADAM] = {"learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay",
                       "clipnorm", "global_clipnorm", "clipvalue", NULL},
    [KEEL_OPT_ADAMW] = {"learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad",
                        "clipnorm", "global_clipnorm", "clipvalue", NULL},
    [KEEL_OPT_RMSPROP] = {"learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay",
                          "clipnorm", "global_clipnorm", "clipvalue", NULL},
    [KEEL_OPT_ADAGRAD] = {"learning_rate", "initial_accumulator_value", "epsilon", "weight_decay",
                          "clipnorm", "global_clipnorm", "clipvalue", NULL},
};

/* Arguments given in the name string set the matching fields of o (they win over the typed
 * struct: the string is what the user wrote last, next to the name). */
static keel_status apply_spec(const keel_spec *spec, keel_opt_kind kind, keel_optimizer_opts *o) {
    const char *const *keys = opt_keys[kind];
    keel_status st = keel_spec_check(spec, keys, "keel_compile: optimizer");
    if (st) return st;
    for (int k = 0; keys[k]; k++) {
        double v = keel_spec_get(spec, keys[k], k, NAN);
        if (isnan(v)) continue;
        const char *key = keys[k];
        if (!strcmp(key, "learning_rate"))
            o->learning_rate = (float)v;
        else if (!strcmp(key, "momentum"))
            o->momentum = (float)v;
        else if (!strcmp(key, "nesterov"))
            o->nesterov = v != 0;
        else if (!strcmp(key, "beta_1"))
            o->beta_1 = (float)v;
        else if (!strcmp(key, "beta_2"))
            o->beta_2 = (float)v;
        else if (!strcmp(key, "epsilon"))
            o->epsilon = (float)v;
        else if (!strcmp(key, "amsgrad"))
            o->amsgrad = v != 0;
        else if (!strcmp(key, "rho"))
            o->rho = (float)v;
        else if (!strcmp(key, "centered"))
            o->centered = v != 0;
        else if (!strcmp(key, "initial_accumulator_value"))
            o->initial_accumulator_value = (float)v;
        else if (!strcmp(key, "weight_decay"))
            o->weight_decay = (float)v;
        else if (!strcmp(key, "clipnorm"))
            o->clipnorm = (float)v;
        else if (!strcmp(key, "global_clipnorm"))
            o->global_clipnorm = (float)v;
        else if (!strcmp(key, "clipvalue"))
            o->clipvalue = (float)v;
    }
    return KEEL_OK;
}

keel_status keel_optimizer_init(keel_optimizer *opt, const char *name, keel_optimizer_opts o,
                                int64_t n) {
    memset(opt, 0, sizeof *opt);
    if (!name)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_compile: optimizer is NULL (e.g. .optimizer = \"adam\")");
    keel_spec spec;
    keel_status st = keel_spec_parse(name, &spec, "keel_compile: optimizer");
    if (st) return st;
    char low[64];
    size_t i = 0;
    for (; spec.name[i] && i + 1 < sizeof low; i++)
        low[i] =
            (char)(spec.name[i] >= 'A' && spec.name[i] <= 'Z' ? spec.name[i] + 32 : spec.name[i]);
    low[i] = 0;
    int kind = -1;
    for (int k = 0; k < KEEL_OPT_COUNT; k++)
        if (!strcmp(low, opt_names[k])) kind = k;
    if (kind < 0) {
        const char *near = keel_nearest_name(low, opt_names);
        KEEL_FAIL(KEEL_ERR_ARG, "keel_compile: unknown optimizer \"%s\"%s%s%s", spec.name,
                  near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    opt->kind = (keel_opt_kind)kind;
    if ((st = apply_spec(&spec, opt->kind, &o))) return st;
    /* written as !(x >= 0) so that a NaN fails too */
    if (!(o.learning_rate >= 0) || !(o.momentum >= 0) || !(o.epsilon >= 0) ||
        !(o.weight_decay >= 0) || !(o.clipnorm >= 0) || !(o.clipvalue >= 0) ||
        !(o.global_clipnorm >= 0) || !(o.beta_1 >= 0) || !(o.beta_1 < 1) || !(o.beta_2 >= 0) ||
        !(o.beta_2 < 1) || !(o.rho >= 0) || !(o.initial_accumulator_value >= 0) ||
        !isfinite(o.learning_rate) || !isfinite(o.epsilon))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "keel_compile: %s: hyper-parameters must be finite and >= 0 (betas < 1)", low);
    if (o.learning_rate == 0) o.learning_rate = kind == KEEL_OPT_SGD ? 0.01f : 0.001f;
    if (o.beta_1 == 0) o.beta_1 = 0.9f;
    if (o.beta_2 == 0) o.beta_2 = 0.999f;
    if (o.epsilon == 0) o.epsilon = 1e-7f;
    if (o.rho == 0) o.rho = 0.9f;
    if (o.initial_accumulator_value == 0) o.initial_accumulator_value = 0.1f;
    if (o.weight_decay == 0 && kind == KEEL_OPT_ADAMW) o.weight_decay = 0.004f;
    opt->o = o;
    if ((st = keel_schedule_parse(o.learning_rate_schedule, &opt->schedule))) return st;
    opt->o.learning_rate_schedule = NULL; /* parsed: the caller's string need not outlive compile */
    opt->n = n;
    bool s1 =
        kind != KEEL_OPT_SGD || o.momentum > 0 || (kind == KEEL_OPT_RMSPROP && o.momentum > 0);
    bool s2 = kind == KEEL_OPT_ADAM || kind == KEEL_OPT_ADAMW ||
              (kind == KEEL_OPT_RMSPROP && o.momentum > 0);
    bool s3 = ((kind == KEEL_OPT_ADAM || kind == KEEL_OPT_ADAMW) && o.amsgrad) ||
              (kind == KEEL_OPT_RMSPROP && o.centered);
    if ((s1 && !(opt->s1 = keel_alloc((size_t)n * sizeof(float)))) ||
        (s2 && !(opt->s2 = keel_alloc((size_t)n * sizeof(float)))) ||
        (s3 && !(opt->s3 = keel_alloc((size_t)n * sizeof(float))))) {
        keel_optimizer_free(opt);
        return KEEL_ERR_NOMEM;
    }
    if (kind == KEEL_OPT_ADAGRAD)
        for (int64_t k = 0; k < n; k++)
            opt->s1[k] = o.initial_accumulator_value;
    return KEEL_OK;
}

void keel_optimizer_free(keel_optimizer *opt) {
    keel_free(opt->s1);
    keel_free(opt->s2);
    keel_free(opt->s3);
    opt->s1 = opt->s2 = opt->s3 = NULL;
}

static double sumsq(const float *g, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return s;
}

/* the update of one weight tensor: w, g and slots at offset off */
KEEL_CLONES static void update(keel_optimizer *opt, float *restrict w, float *restrict g,
                               int64_t off, int64_t n, float scale_g, float cv) {
    const keel_optimizer_opts *o = &opt->o;
    const float lr = o->learning_rate, eps = o->epsilon;
    float *restrict s1 = opt->s1 ? opt->s1 + off : NULL,
                    *restrict s2 = opt->s2 ? opt->s2 + off : NULL,
                    *restrict s3 = opt->s3 ? opt->s3 + off : NULL;
    const float wd = o->weight_decay * lr;
    double t = (double)(opt->iterations + 1);
    switch (opt->kind) {
    case KEEL_OPT_SGD: {
        const float m = o->momentum;
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] * scale_g;
            if (cv > 0) gi = gi > cv ? cv : (gi < -cv ? -cv : gi);
            if (wd > 0) w[i] -= w[i] * wd;
            if (m > 0) {
                s1[i] = m * s1[i] - lr * gi;
                w[i] += o->nesterov ? m * s1[i] - lr * gi : s1[i];
            } else {
                w[i] -= lr * gi;
            }
        }
        break;
    }
    case KEEL_OPT_ADAM:
    case KEEL_OPT_ADAMW: {
        const float b1 = o->beta_1, b2 = o->beta_2;
        const float alpha = (float)(lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t)));
        const bool ams = o->amsgrad;
        if (!ams && cv == 0 && wd == 0 && scale_g == 1.0f) {
            /* the common case, branch-free so that it vectorizes */
#pragma omp simd
            for (int64_t i = 0; i < n; i++) {
                float gi = g[i];
                float m = s1[i] + (gi - s1[i]) * (1 - b1);
                float v = s2[i] + (gi * gi - s2[i]) * (1 - b2);
                s1[i] = m, s2[i] = v;
                w[i] -= alpha * m / (sqrtf(v) + eps);
            }
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] * scale_g;
            if (cv > 0) gi = gi > cv ? cv : (gi < -cv ? -cv : gi);
            if (wd > 0) w[i] -= w[i] * wd;
            s1[i] += (gi - s1[i]) * (1 - b1);
            s2[i] += (gi * gi - s2[i]) * (1 - b2);
            float v = s2[i];
            if (ams) v = s3[i] = s3[i] > v ? s3[i] : v;
            w[i] -= alpha * s1[i] / (sqrtf(v) + eps);
        }
        break;
    }
    case KEEL_OPT_RMSPROP: {
        const float rho = o->rho, mom = o->momentum;
        const bool centered = o->centered;
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] * scale_g;
            if (cv > 0) gi = gi > cv ? cv : (gi < -cv ? -cv : gi);
            if (wd > 0) w[i] -= w[i] * wd;
            s1[i] = rho * s1[i] + (1 - rho) * gi * gi;
            float denom = s1[i];
            if (centered) {
                s3[i] = rho * s3[i] + (1 - rho) * gi;
                denom -= s3[i] * s3[i];
            }
            float inc = lr * gi / sqrtf(denom + eps);
            if (mom > 0) {
                s2[i] = mom * s2[i] + inc;
                w[i] -= s2[i];
            } else {
                w[i] -= inc;
            }
        }
        break;
    }
    case KEEL_OPT_ADAGRAD:
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] * scale_g;
            if (cv > 0) gi = gi > cv ? cv : (gi < -cv ? -cv : gi);
            if (wd > 0) w[i] -= w[i] * wd;
            s1[i] += gi * gi;
            w[i] -= lr * gi / sqrtf(s1[i] + eps);
        }
        break;
    case KEEL_OPT_COUNT: KEEL_ASSERT(0);
    }
}

typedef struct update_job {
    keel_optimizer *opt;
    keel_param *p;
    float scale, cv;
} update_job;

/* large tensors are split into one contiguous range per thread */
static void update_range(void *ctx, int64_t lo, int64_t hi) {
    const update_job *j = ctx;
    update(j->opt, j->p->w + lo, j->p->g + lo, j->p->offset + lo, hi - lo, j->scale, j->cv);
}

void keel_optimizer_step(keel_optimizer *opt, keel_param **params, int n) {
    if (opt->schedule.kind)
        opt->o.learning_rate = (float)keel_schedule_lr(&opt->schedule, opt->iterations);
    const keel_optimizer_opts *o = &opt->o;
    float global = 1.0f;
    if (o->clipnorm <= 0 && o->global_clipnorm > 0) {
        double s = 0;
        for (int k = 0; k < n; k++)
            if (params[k]->trainable) s += sumsq(params[k]->g, params[k]->size);
        double norm = sqrt(s);
        if (norm > o->global_clipnorm) global = (float)(o->global_clipnorm / norm);
    }
    for (int k = 0; k < n; k++) {
        keel_param *p = params[k];
        if (!p->trainable) continue;
        float scale = global;
        if (o->clipnorm > 0) { /* tf.clip_by_norm: g * clipnorm / max(norm, clipnorm) */
            double norm = sqrt(sumsq(p->g, p->size));
            if (norm > o->clipnorm) scale = (float)(o->clipnorm / norm);
        }
        /* Keras applies one kind of clipping: clipnorm, else global_clipnorm, else clipvalue */
        float cv = (o->clipnorm > 0 || o->global_clipnorm > 0) ? 0.0f : o->clipvalue;
        update_job j = {opt, p, scale, cv};
        keel_parallel_for(p->size, p->size, update_range, &j);
    }
    opt->iterations++;
}
