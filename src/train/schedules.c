/* schedules.c: Keras's learning-rate schedules by name, a function of the optimizer's step count
 * (iterations before the update, as Keras passes it): ExponentialDecay, PiecewiseConstantDecay,
 * InverseTimeDecay, PolynomialDecay, CosineDecay (with linear warmup). The formulas are
 * tf.keras 2.15's (keras/optimizers/schedules/learning_rate_schedule.py), in double. */
#include "train.h"

#include <stdio.h>

static const char *const names[] = {"exponential_decay",  "piecewise_constant_decay",
                                    "inverse_time_decay", "polynomial_decay",
                                    "cosine_decay",       NULL};
/* Keras's class names map to the same */
static const char *const classes[] = {"ExponentialDecay", "PiecewiseConstantDecay",
                                      "InverseTimeDecay", "PolynomialDecay",
                                      "CosineDecay",      NULL};

keel_status keel_schedule_parse(const char *s, keel_schedule *out) {
    memset(out, 0, sizeof *out);
    if (!s) return KEEL_OK;
    const char *what = "keel_compile: learning_rate_schedule";
    keel_spec spec;
    keel_status st = keel_spec_parse(s, &spec, what);
    if (st) return st;
    int kind = -1;
    for (int i = 0; names[i]; i++)
        if (!strcmp(spec.name, names[i]) || !strcmp(spec.name, classes[i])) kind = i;
    if (kind < 0) {
        const char *near = keel_nearest_name(spec.name, names);
        KEEL_FAIL(KEEL_ERR_ARG, "%s: unknown schedule \"%s\"%s%s%s", what, spec.name,
                  near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    out->kind = kind + 1;
    static const char *const k_exp[] = {"initial_learning_rate", "decay_steps", "decay_rate",
                                        "staircase", NULL},
                             *const k_poly[] = {"initial_learning_rate",
                                                "decay_steps",
                                                "end_learning_rate",
                                                "power",
                                                "cycle",
                                                NULL},
                             *const k_cos[] = {"initial_learning_rate", "decay_steps",  "alpha",
                                               "warmup_target",         "warmup_steps", NULL},
                             *const k_piece[] = {"b0", "v0", "b1", "v1", "b2", "v2", NULL};
    const char *const *keys = kind == 1 ? k_piece : kind == 3 ? k_poly : kind == 4 ? k_cos : k_exp;
    if ((st = keel_spec_check(&spec, keys, what))) return st;
    double *a = out->a;
    for (int i = 0; keys[i]; i++)
        a[i] = keel_spec_get(&spec, keys[i], i, NAN);
    if (kind == 1) { /* b0, v0, b1, v1, ..., the last value: given positionally, in order */
        out->n = spec.n;
        if (spec.n < 1 || spec.n % 2 == 0)
            KEEL_FAIL(
                KEEL_ERR_ARG,
                "%s: piecewise_constant_decay(b0, v0, b1, v1, ..., v_last) takes an odd number "
                "of arguments (up to 2 boundaries), got %d",
                what, spec.n);
        for (int i = 0; i + 2 < spec.n; i += 2)
            if (i >= 2 && !(a[i] > a[i - 2]))
                KEEL_FAIL(KEEL_ERR_ARG, "%s: boundaries must increase (\"%s\")", what, s);
        return KEEL_OK;
    }
    if (isnan(a[0]) || isnan(a[1]) || !(a[1] > 0))
        KEEL_FAIL(KEEL_ERR_ARG, "%s: %s needs initial_learning_rate and decay_steps > 0 (\"%s\")",
                  what, names[kind], s);
    if (kind == 0 || kind == 2) {
        if (isnan(a[2]))
            KEEL_FAIL(KEEL_ERR_ARG, "%s: %s needs decay_rate (\"%s\")", what, names[kind], s);
        if (isnan(a[3])) a[3] = 0;
    } else if (kind == 3) { /* end_learning_rate 0.0001, power 1, cycle False */
        if (isnan(a[2])) a[2] = 0.0001;
        if (isnan(a[3])) a[3] = 1.0;
        if (isnan(a[4])) a[4] = 0;
    } else { /* alpha 0, no warmup */
        if (isnan(a[2])) a[2] = 0;
        if (isnan(a[4])) a[4] = 0;
    }
    return KEEL_OK;
}

double keel_schedule_lr(const keel_schedule *sc, int64_t iterations) {
    const double *a = sc->a, step = (double)iterations;
    switch (sc->kind) {
    case 1: { /* exponential: init * rate^(step / decay_steps), the exponent floored with staircase
               */
        double p = step / a[1];
        return a[0] * pow(a[2], a[3] != 0 ? floor(p) : p);
    }
    case 2: { /* piecewise: v_i while step <= b_i */
        for (int i = 0; i + 2 < sc->n; i += 2)
            if (step <= a[i]) return a[i + 1];
        return a[sc->n - 1];
    }
    case 3: { /* inverse time: init / (1 + rate * step / decay_steps) */
        double p = step / a[1];
        return a[0] / (1.0 + a[2] * (a[3] != 0 ? floor(p) : p));
    }
    case 4: { /* polynomial: (init - end) (1 - step / steps)^power + end, steps clamped or cycled */
        double steps = a[1], s = step;
        if (a[4] != 0)
            steps = a[1] * (step == 0 ? 1.0 : ceil(step / a[1]));
        else
            s = fmin(step, a[1]);
        return (a[0] - a[2]) * pow(1.0 - s / steps, a[3]) + a[2];
    }
    case 5: { /* cosine, after a linear warmup from init to warmup_target over warmup_steps */
        double init = a[0], steps = a[1], alpha = a[2], target = a[3], warm = a[4];
        if (!isnan(target) && step < warm) return init + (target - init) * (step / warm);
        double peak = isnan(target) ? init : target, s = isnan(target) ? step : step - warm;
        double done = fmin(s, steps) / steps,
               cosine = 0.5 * (1.0 + cos(3.14159265358979323846 * done));
        return peak * ((1.0 - alpha) * cosine + alpha);
    }
    default: return NAN;
    }
}
