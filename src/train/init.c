/* init.c: Keras's initializers (K3 random_initializers.py; formulas in the reference §1.3).
 * Values are drawn from the model's seed, so they are reproducible but not bit-equal to
 * Keras's backend RNG. */
#include "train.h"

#include <stdio.h>

static const char *const init_names[] = {"unit_forget_bias",
                                         "glorot_uniform",
                                         "glorot_normal",
                                         "he_normal",
                                         "he_uniform",
                                         "lecun_normal",
                                         "lecun_uniform",
                                         "zeros",
                                         "zero",
                                         "ones",
                                         "one",
                                         "constant",
                                         "random_normal",
                                         "normal",
                                         "random_uniform",
                                         "uniform",
                                         "truncated_normal",
                                         "orthogonal",
                                         "identity",
                                         NULL};

static void fans(const keel_param *p, double *fan_in, double *fan_out) {
    if (p->rank == 1) {
        *fan_in = *fan_out = (double)p->dims[0];
    } else if (p->rank == 2) {
        *fan_in = (double)p->dims[0], *fan_out = (double)p->dims[1];
    } else {
        double receptive = 1;
        for (int i = 0; i < p->rank - 2; i++)
            receptive *= (double)p->dims[i];
        *fan_in = (double)p->dims[p->rank - 2] * receptive;
        *fan_out = (double)p->dims[p->rank - 1] * receptive;
    }
}

/* normal truncated at two standard deviations, by rejection */
static double truncated(keel_rng *r) {
    for (;;) {
        double v = keel_rng_normal(r);
        if (v >= -2 && v <= 2) return v;
    }
}

static void orthogonal(keel_param *p, keel_rng *r, double gain) {
    int64_t cols = p->dims[p->rank - 1], rows = p->size / cols;
    int64_t big = KEEL_MAX(rows, cols), small = KEEL_MIN(rows, cols);
    /* Q (big x small) from modified Gram-Schmidt on a normal matrix, columns signed like
     * q *= sign(diag(r)) (Gram-Schmidt's R has a positive diagonal, so no flip is needed) */
    double *a = malloc((size_t)(big * small) * sizeof *a);
    if (!a) { /* fall back to a scaled normal rather than fail inside compile */
        for (int64_t i = 0; i < p->size; i++)
            p->w[i] = (float)(gain * keel_rng_normal(r) / sqrt((double)big));
        return;
    }
    for (int64_t i = 0; i < big * small; i++)
        a[i] = keel_rng_normal(r);
    for (int64_t j = 0; j < small; j++) {
        for (int64_t k = 0; k < j; k++) {
            double d = 0;
            for (int64_t i = 0; i < big; i++)
                d += a[i * small + j] * a[i * small + k];
            for (int64_t i = 0; i < big; i++)
                a[i * small + j] -= d * a[i * small + k];
        }
        double nrm = 0;
        for (int64_t i = 0; i < big; i++)
            nrm += a[i * small + j] * a[i * small + j];
        nrm = sqrt(nrm) + 1e-300;
        for (int64_t i = 0; i < big; i++)
            a[i * small + j] /= nrm;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            p->w[i * cols + j] =
                (float)(gain * (rows >= cols ? a[i * small + j] : a[j * small + i]));
    free(a);
}

keel_status keel_init_check(const char *s, const char *what) {
    keel_spec spec;
    keel_status st = keel_spec_parse(s, &spec, what);
    if (st) return st;
    for (int i = 0; init_names[i]; i++)
        if (strcmp(spec.name, init_names[i]) == 0) return KEEL_OK;
    const char *near = keel_nearest_name(spec.name, init_names);
    KEEL_FAIL(KEEL_ERR_ARG, "%s: unknown initializer \"%s\"%s%s%s", what, spec.name,
              near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
}

keel_status keel_init_param(keel_param *p, uint64_t seed, uint64_t stream, const char *what) {
    keel_spec spec;
    keel_status st = keel_init_check(p->init, what);
    if (st) return st;
    keel_spec_parse(p->init, &spec, what);
    const char *nm = spec.name;
    keel_rng r = {.seed = seed, .stream = stream};
    double fi, fo;
    fans(p, &fi, &fo);
    fi = fi < 1 ? 1 : fi, fo = fo < 1 ? 1 : fo;
    double scale = 0, n = 0;
    int dist = 0; /* 1 uniform, 2 truncated normal */
    static const char *const k_none[] = {NULL}, *const k_value[] = {"value", NULL},
                             *const k_normal[] = {"mean", "stddev", "seed", NULL},
                             *const k_uniform[] = {"minval", "maxval", "seed", NULL},
                             *const k_gain[] = {"gain", "seed", NULL},
                             *const k_seed[] = {"seed", NULL}, *const k_identity[] = {"gain", NULL};
    const char *const *keys = k_seed;
    if (!strcmp(nm, "glorot_uniform"))
        scale = 1, n = (fi + fo) / 2, dist = 1;
    else if (!strcmp(nm, "glorot_normal"))
        scale = 1, n = (fi + fo) / 2, dist = 2;
    else if (!strcmp(nm, "he_normal"))
        scale = 2, n = fi, dist = 2;
    else if (!strcmp(nm, "he_uniform"))
        scale = 2, n = fi, dist = 1;
    else if (!strcmp(nm, "lecun_normal"))
        scale = 1, n = fi, dist = 2;
    else if (!strcmp(nm, "lecun_uniform"))
        scale = 1, n = fi, dist = 1;
    /* an explicit seed fixes the values whatever the layer's position, as in Keras; it is a
     * Python int there, so anything else (a fraction, a negative, beyond 2^53) is a mistake */
    double sd_seed = keel_spec_get(&spec, "seed", -1, NAN);
    if (!isnan(sd_seed)) {
        if (!(sd_seed >= 0 && sd_seed <= 9007199254740992.0 && sd_seed == floor(sd_seed)))
            KEEL_FAIL(KEEL_ERR_ARG, "%s: seed must be a whole number in [0, 2^53], got %g (\"%s\")",
                      what, sd_seed, p->init);
        if (sd_seed != 0) r.seed = (uint64_t)sd_seed, r.stream = 0;
    }
    if (dist == 1) {
        double limit = sqrt(3.0 * scale / n);
        for (int64_t i = 0; i < p->size; i++)
            p->w[i] = (float)((2 * keel_rng_uniform(&r) - 1) * limit);
    } else if (dist == 2) {
        double sd = sqrt(scale / n) / 0.87962566103423978;
        for (int64_t i = 0; i < p->size; i++)
            p->w[i] = (float)(sd * truncated(&r));
    } else if (!strcmp(nm, "zeros") || !strcmp(nm, "zero")) {
        keys = k_none;
        memset(p->w, 0, (size_t)p->size * sizeof(float));
    } else if (!strcmp(nm, "ones") || !strcmp(nm, "one")) {
        keys = k_none;
        for (int64_t i = 0; i < p->size; i++)
            p->w[i] = 1.0f;
    } else if (!strcmp(nm, "constant")) {
        keys = k_value;
        float v = (float)keel_spec_get(&spec, "value", 0, 0.0);
        for (int64_t i = 0; i < p->size; i++)
            p->w[i] = v;
    } else if (!strcmp(nm, "random_normal") || !strcmp(nm, "normal") ||
               !strcmp(nm, "truncated_normal")) {
        keys = k_normal;
        double mean = keel_spec_get(&spec, "mean", 0, 0.0),
               sd = keel_spec_get(&spec, "stddev", 1, 0.05);
        if (sd < 0)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: stddev must be >= 0, got %g (\"%s\")", what, sd, p->init);
        bool trunc = nm[0] == 't';
        for (int64_t i = 0; i < p->size; i++)
            p->w[i] = (float)(mean + sd * (trunc ? truncated(&r) : keel_rng_normal(&r)));
    } else if (!strcmp(nm, "random_uniform") || !strcmp(nm, "uniform")) {
        keys = k_uniform;
        double lo = keel_spec_get(&spec, "minval", 0, -0.05),
               hi = keel_spec_get(&spec, "maxval", 1, 0.05);
        if (lo > hi)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: minval %g is greater than maxval %g (\"%s\")", what, lo,
                      hi, p->init);
        for (int64_t i = 0; i < p->size; i++)
            p->w[i] = (float)(lo + (hi - lo) * keel_rng_uniform(&r));
    } else if (!strcmp(nm, "orthogonal")) {
        keys = k_gain;
        if (p->rank < 2)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: orthogonal needs a weight of rank >= 2, %s has rank %d",
                      what, p->name, p->rank);
        orthogonal(p, &r, keel_spec_get(&spec, "gain", 0, 1.0));
    } else if (!strcmp(nm, "unit_forget_bias")) {
        /* an LSTM's bias with Keras's unit_forget_bias=True: zeros, ones on the forget gate
         * (the second of the four blocks i, f, c, o) */
        keys = k_none;
        memset(p->w, 0, (size_t)p->size * sizeof(float));
        for (int64_t i = p->size / 4; i < p->size / 2; i++)
            p->w[i] = 1.0f;
    } else if (!strcmp(nm, "identity")) {
        keys = k_identity;
        if (p->rank != 2)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: identity needs a 2-D weight, %s has rank %d", what,
                      p->name, p->rank);
        double gain = keel_spec_get(&spec, "gain", 0, 1.0);
        memset(p->w, 0, (size_t)p->size * sizeof(float));
        for (int64_t i = 0; i < KEEL_MIN(p->dims[0], p->dims[1]); i++)
            p->w[i * p->dims[1] + i] = (float)gain;
    }
    return keel_spec_check(&spec, keys, what);
}

/* ---- regularizers (K3 regularizers.py: l1 * sum|w|, l2 * sum w^2, no 1/2) */
keel_status keel_reg_parse(const char *s, float *l1, float *l2, const char *what) {
    *l1 = *l2 = 0;
    if (!s) return KEEL_OK;
    keel_spec spec;
    keel_status st = keel_spec_parse(s, &spec, what);
    if (st) return st;
    static const char *const names[] = {"l1", "l2", "l1_l2", "L1", "L2", "L1L2", NULL};
    static const char *const k_l1[] = {"l1", NULL}, *const k_l2[] = {"l2", NULL},
                             *const k_both[] = {"l1", "l2", NULL};
    if (!strcmp(spec.name, "l1") || !strcmp(spec.name, "L1")) {
        *l1 = (float)keel_spec_get(&spec, "l1", 0, 0.01);
        st = keel_spec_check(&spec, k_l1, what);
    } else if (!strcmp(spec.name, "l2") || !strcmp(spec.name, "L2")) {
        *l2 = (float)keel_spec_get(&spec, "l2", 0, 0.01);
        st = keel_spec_check(&spec, k_l2, what);
    } else if (!strcmp(spec.name, "l1_l2") || !strcmp(spec.name, "L1L2")) {
        /* tf.keras 2's l1_l2() defaults both to 0.01 (the L1L2 class to 0) */
        double d = strcmp(spec.name, "l1_l2") == 0 ? 0.01 : 0.0;
        *l1 = (float)keel_spec_get(&spec, "l1", 0, d);
        *l2 = (float)keel_spec_get(&spec, "l2", 1, d);
        st = keel_spec_check(&spec, k_both, what);
    } else {
        const char *near = keel_nearest_name(spec.name, names);
        KEEL_FAIL(KEEL_ERR_ARG, "%s: unknown regularizer \"%s\"%s%s%s", what, spec.name,
                  near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    if (st) return st;
    if (!(*l1 >= 0) || !(*l2 >= 0))
        KEEL_FAIL(KEEL_ERR_ARG, "%s: regularizer factors must be >= 0 (\"%s\")", what, s);
    return KEEL_OK;
}

double keel_reg_apply(keel_param **params, int n, bool add_grad) {
    double total = 0;
    for (int k = 0; k < n; k++) {
        keel_param *p = params[k];
        if (!p->trainable || (p->l1 == 0 && p->l2 == 0)) continue;
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < p->size; i++)
            s1 += fabsf(p->w[i]), s2 += (double)p->w[i] * p->w[i];
        total += p->l1 * s1 + p->l2 * s2;
        if (add_grad)
            for (int64_t i = 0; i < p->size; i++) {
                float w = p->w[i];
                p->g[i] += p->l1 * (float)((w > 0) - (w < 0)) + 2.0f * p->l2 * w;
            }
    }
    return total;
}
