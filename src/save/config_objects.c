/* config_objects.c: the objects inside a layer config, both ways: activations (names),
 * initializers and regularizers (objects with a class and a config of their own) between
 * Keras's spelling and keel's spec strings ("random_normal(mean=0, stddev=0.02)", "l2(0.01)",
 * src/train/init.c).
 *
 * Read: Keras 3's objects {"module", "class_name", "config", "registered_name"}, tf.keras 2's
 * legacy {"class_name", "config"} and bare names ("glorot_uniform", tf.keras 2's strings for the
 * defaults). Written: Keras 3.15's objects, key for key (GlorotUniform's config holds
 * input_axes / output_axes; L1 writes its factor rounded through float32, as Keras 3's L1 does
 * by keeping it as a tensor). A Keras object keel has no counterpart for is
 * KEEL_ERR_UNSUPPORTED naming it; so is a keel spec Keras cannot spell, on the way out. */
#include "../train/train.h"
#include "config.h"

#include <float.h>
#include <stdio.h>

/* ---------------------------------------------------------------- activations */

/* Keras's names (both Kerases) and keel's; NULL is linear */
static const struct {
    const char *keras, *keel;
} act_map[] = {
    {"linear", NULL},
    {"relu", "relu"},
    {"relu6", "relu6"},
    {"sigmoid", "sigmoid"},
    {"hard_sigmoid", "hard_sigmoid"},
    {"tanh", "tanh"},
    {"softmax", "softmax"},
    {"log_softmax", "log_softmax"},
    {"elu", "elu"},
    {"selu", "selu"},
    {"gelu", "gelu"},
    {"silu", "swish"}, /* Keras 3 writes silu, tf.keras 2 swish */
    {"swish", "swish"},
    {"hard_silu", "hard_swish"},
    {"hard_swish", "hard_swish"},
    {"mish", "mish"},
    {"leaky_relu", "leaky_relu"},
    {"softplus", "softplus"},
    {"softsign", "softsign"},
    {"exponential", "exponential"},
};

keel_status keel_cfg_activation(const json_t *cfg, const char *key, const char **out,
                                const char *where) {
    const json_t *v = json_object_get(cfg, key);
    if (!v) return KEEL_OK; /* absent: the layer's default stays */
    if (json_is_null(v)) {  /* activations.get(None) is linear */
        *out = NULL;
        return KEEL_OK;
    }
    const char *name = NULL;
    if (json_is_string(v)) {
        name = json_string_value(v);
    } else if (json_is_object(v)) {
        /* a serialized function: {"class_name": "function", "config": "relu", ...} */
        const json_t *cls = json_object_get(v, "class_name"), *c = json_object_get(v, "config");
        if (!json_is_string(cls) || strcmp(json_string_value(cls), "function") ||
            !json_is_string(c))
            KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                      "%s: config.%s is an object of class '%.40s', not an activation keel has "
                      "(a custom function or a layer)",
                      where, key, json_is_string(cls) ? json_string_value(cls) : "?");
        name = json_string_value(c);
    } else {
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is %s, expected an activation name", where, key,
                  keel_json_type(v));
    }
    for (size_t i = 0; i < sizeof act_map / sizeof act_map[0]; i++)
        if (!strcmp(name, act_map[i].keras)) {
            *out = act_map[i].keel;
            return KEEL_OK;
        }
    KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.%s = '%.40s' is an activation keel does not have",
              where, key, name);
}

keel_status keel_cfg_put_activation(json_t *cfg, const char *key, keel_act a, const keel_layer *l) {
    /* a Keras activation in a config is a name: the function's defaults, no arguments */
    float dflt = a.kind == KEEL_ACT_ELU ? 1.0f : a.kind == KEEL_ACT_LEAKY_RELU ? 0.2f : 0.0f;
    bool has_args =
        a.kind == KEEL_ACT_ELU || a.kind == KEEL_ACT_LEAKY_RELU || a.kind == KEEL_ACT_GELU;
    if (has_args && a.alpha != dflt)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: %s = %s(%s=%g) has no Keras spelling (a Keras activation name takes no "
                  "arguments; use the %s layer)",
                  l->name, key, keel_act_name(a.kind),
                  a.kind == KEEL_ACT_ELU          ? "alpha"
                  : a.kind == KEEL_ACT_LEAKY_RELU ? "negative_slope"
                                                  : "approximate",
                  a.alpha,
                  a.kind == KEEL_ACT_ELU          ? "ELU"
                  : a.kind == KEEL_ACT_LEAKY_RELU ? "LeakyReLU"
                                                  : "Activation");
    const char *name = a.kind == KEEL_ACT_SWISH        ? "silu"
                       : a.kind == KEEL_ACT_HARD_SWISH ? "hard_silu"
                                                       : keel_act_name(a.kind);
    return keel_cfg_put_str(cfg, key, name);
}

/* ---------------------------------------------------------------- numbers in specs */

/* The shortest decimal that reads back to v, as Python's repr writes a float */
static void fmt_double(char *buf, size_t cap, double v) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* Appends ", key=value" (or "key=value" first) to buf; false when it does not fit */
static bool append_arg(char *buf, size_t cap, const char *key, double v) {
    char num[40];
    fmt_double(num, sizeof num, v);
    size_t n = strlen(buf);
    int w = snprintf(buf + n, cap - n, "%s%s=%s", buf[n - 1] == '(' ? "" : ", ", key, num);
    return w > 0 && (size_t)w < cap - n;
}

/* ---------------------------------------------------------------- initializers */

typedef enum init_args {
    A_SEED,    /* seed (the variance-scaling family) */
    A_NONE,    /* no arguments */
    A_CONST,   /* value */
    A_UNIFORM, /* minval, maxval, seed */
    A_NORMAL,  /* mean, stddev, seed */
    A_ORTH,    /* gain, seed */
    A_IDENT,   /* gain */
    A_VS       /* VarianceScaling: scale, mode, distribution, seed */
} init_args;

/* Keras's class, its snake_case name and an alias (either Keras), keel's spec name */
static const struct {
    const char *cls, *snake, *alias, *keel;
    init_args args;
} inits[] = {
    {"GlorotUniform", "glorot_uniform", NULL, "glorot_uniform", A_SEED},
    {"GlorotNormal", "glorot_normal", NULL, "glorot_normal", A_SEED},
    {"HeUniform", "he_uniform", NULL, "he_uniform", A_SEED},
    {"HeNormal", "he_normal", NULL, "he_normal", A_SEED},
    {"LecunUniform", "lecun_uniform", NULL, "lecun_uniform", A_SEED},
    {"LecunNormal", "lecun_normal", NULL, "lecun_normal", A_SEED},
    {"Zeros", "zeros", "zero", "zeros", A_NONE},
    {"Ones", "ones", "one", "ones", A_NONE},
    {"Constant", "constant", NULL, "constant", A_CONST},
    {"RandomUniform", "random_uniform", "uniform", "random_uniform", A_UNIFORM},
    {"RandomNormal", "random_normal", "normal", "random_normal", A_NORMAL},
    {"TruncatedNormal", "truncated_normal", NULL, "truncated_normal", A_NORMAL},
    {"Orthogonal", "orthogonal", "OrthogonalInitializer", "orthogonal", A_ORTH},
    {"Identity", "identity", "IdentityInitializer", "identity", A_IDENT},
    {"VarianceScaling", "variance_scaling", NULL, NULL, A_VS},
};
#define N_INITS (int)(sizeof inits / sizeof inits[0])

/* The keys each kind of config may hold (input_axes / output_axes: Keras 3.15's, null) */
static const char *const *init_keys(init_args a) {
    static const char *const
        seed[] = {"seed", "input_axes", "output_axes", NULL},
        *const none[] = {NULL}, *const value[] = {"value", NULL},
        *const uniform[] = {"minval", "maxval", "seed", NULL},
        *const normal[] = {"mean", "stddev", "seed", NULL}, *const orth[] = {"gain", "seed", NULL},
        *const ident[] = {"gain", NULL}, *const vs[] = {"scale", "mode",       "distribution",
                                                        "seed",  "input_axes", "output_axes",
                                                        NULL};
    switch (a) {
    case A_SEED: return seed;
    case A_NONE: return none;
    case A_CONST: return value;
    case A_UNIFORM: return uniform;
    case A_NORMAL: return normal;
    case A_ORTH: return orth;
    case A_IDENT: return ident;
    case A_VS: return vs;
    }
    return none;
}

/* A number argument of an initializer's config: absent or null is dflt */
static keel_status init_num(const json_t *c, const char *arg, double dflt, double *out,
                            const char *key, const char *where) {
    const json_t *v = c ? json_object_get(c, arg) : NULL;
    *out = dflt;
    if (!v || json_is_null(v)) return KEEL_OK;
    if (!json_is_number(v))
        KEEL_FAIL(json_is_array(v) ? KEEL_ERR_UNSUPPORTED : KEEL_ERR_FORMAT,
                  "%s: config.%s.config.%s is %s, expected a number", where, key, arg,
                  keel_json_type(v));
    *out = json_number_value(v);
    return KEEL_OK;
}

/* The seed argument, appended to buf when set: a whole number in [0, 2^53] as init.c takes */
static keel_status init_seed(const json_t *c, char *buf, size_t cap, const char *key,
                             const char *where) {
    const json_t *v = c ? json_object_get(c, "seed") : NULL;
    if (!v || json_is_null(v)) return KEEL_OK;
    if (!json_is_integer(v))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s.config.seed is %s, expected an integer", where,
                  key, keel_json_type(v));
    json_int_t s = json_integer_value(v);
    if (s < 0 || s > ((json_int_t)1 << 53))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s.config.seed = %lld: keel takes seeds in [0, 2^53]", where, key,
                  (long long)s);
    if (!append_arg(buf, cap, "seed", (double)s))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is too long", where, key);
    return KEEL_OK;
}

/* VarianceScaling as the named initializer it equals, or unsupported */
static keel_status variance_scaling(const json_t *c, const char **name, const char *key,
                                    const char *where) {
    double scale;
    keel_status st = init_num(c, "scale", 1.0, &scale, key, where);
    if (st) return st;
    const json_t *m = c ? json_object_get(c, "mode") : NULL,
                 *d = c ? json_object_get(c, "distribution") : NULL;
    const char *mode = json_is_string(m) ? json_string_value(m) : "fan_in",
               *dist = json_is_string(d) ? json_string_value(d) : "truncated_normal";
    if ((m && !json_is_null(m) && !json_is_string(m)) ||
        (d && !json_is_null(d) && !json_is_string(d)))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s: mode and distribution must be strings", where,
                  key);
    bool uniform = !strcmp(dist, "uniform"),
         trunc = !strcmp(dist, "truncated_normal") || !strcmp(dist, "normal");
    bool fan_in = !strcmp(mode, "fan_in"), fan_avg = !strcmp(mode, "fan_avg");
    *name = NULL;
    if (scale == 1.0 && fan_avg)
        *name = uniform ? "glorot_uniform" : trunc ? "glorot_normal" : NULL;
    else if (scale == 2.0 && fan_in)
        *name = uniform ? "he_uniform" : trunc ? "he_normal" : NULL;
    else if (scale == 1.0 && fan_in)
        *name = uniform ? "lecun_uniform" : trunc ? "lecun_normal" : NULL;
    if (!*name)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s = VarianceScaling(scale=%g, mode='%.20s', distribution='%.20s') "
                  "is not supported by keel (it has the Glorot, He and LeCun cases)",
                  where, key, scale, mode, dist);
    return KEEL_OK;
}

/* Checks that an object is Keras's own (module keras.*, no registered custom name) */
static keel_status builtin_object(const json_t *v, const char *cls, const char *key,
                                  const char *where) {
    const json_t *mod = json_object_get(v, "module"), *reg = json_object_get(v, "registered_name");
    if ((mod && !json_is_null(mod) &&
         (!json_is_string(mod) || strncmp(json_string_value(mod), "keras", 5))) ||
        (reg && !json_is_null(reg) &&
         (!json_is_string(reg) || strcmp(json_string_value(reg), cls))))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s is a custom object ('%.40s' from module '%.40s'), not supported "
                  "by keel",
                  where, key, cls, json_is_string(mod) ? json_string_value(mod) : "?");
    return KEEL_OK;
}

keel_status keel_cfg_initializer(const json_t *cfg, const char *key, char *buf, size_t cap,
                                 const char **out, const char *where) {
    const json_t *v = json_object_get(cfg, key), *c = NULL;
    *out = NULL;
    if (!v || json_is_null(v)) return KEEL_OK; /* Keras: the layer's default */
    const char *cls;
    if (json_is_string(v)) {
        cls = json_string_value(v);
    } else if (json_is_object(v)) {
        const json_t *cn = json_object_get(v, "class_name");
        if (!json_is_string(cn))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s has no class_name", where, key);
        cls = json_string_value(cn);
        c = json_object_get(v, "config");
        if (c && !json_is_null(c) && !json_is_object(c))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s.config is %s, expected an object", where, key,
                      keel_json_type(c));
        keel_status st = builtin_object(v, cls, key, where);
        if (st) return st;
    } else {
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is %s, expected an initializer", where, key,
                  keel_json_type(v));
    }
    int k = -1;
    for (int i = 0; i < N_INITS && k < 0; i++)
        if (!strcmp(cls, inits[i].cls) || !strcmp(cls, inits[i].snake) ||
            (inits[i].alias && !strcmp(cls, inits[i].alias)))
            k = i;
    if (k < 0)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s is initializer '%.40s', which keel does not have", where, key,
                  cls);
    init_args a = inits[k].args;
    /* every field of the initializer's config is one keel reads, or null */
    if (json_is_object(c)) {
        const char *ck;
        json_t *cv;
        json_object_foreach((json_t *)c, ck, cv) {
            bool known = false;
            for (const char *const *p = init_keys(a); *p && !known; p++)
                known = !strcmp(*p, ck);
            if ((!known || !strcmp(ck, "input_axes") || !strcmp(ck, "output_axes")) &&
                !json_is_null(cv))
                KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                          "%s: config.%s.config.%.40s is not supported by keel (%s)", where, key,
                          ck, known ? "keel's initializers take no axes" : "an unknown field");
        }
    }
    const char *name = inits[k].keel;
    keel_status st;
    if (a == A_VS && (st = variance_scaling(c, &name, key, where))) return st;
    if ((size_t)snprintf(buf, cap, "%s(", name) >= cap)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is too long", where, key);
    double x, y;
    bool ok = true;
    switch (a) {
    case A_CONST:
        if ((st = init_num(c, "value", 0.0, &x, key, where))) return st;
        ok = append_arg(buf, cap, "value", x);
        break;
    case A_UNIFORM:
        if ((st = init_num(c, "minval", -0.05, &x, key, where)) ||
            (st = init_num(c, "maxval", 0.05, &y, key, where)))
            return st;
        if (x > y)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s: minval %g is greater than maxval %g", where,
                      key, x, y);
        ok = append_arg(buf, cap, "minval", x) && append_arg(buf, cap, "maxval", y);
        break;
    case A_NORMAL:
        if ((st = init_num(c, "mean", 0.0, &x, key, where)) ||
            (st = init_num(c, "stddev", 0.05, &y, key, where)))
            return st;
        if (y < 0)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s: stddev %g is negative", where, key, y);
        ok = append_arg(buf, cap, "mean", x) && append_arg(buf, cap, "stddev", y);
        break;
    case A_ORTH:
    case A_IDENT:
        if ((st = init_num(c, "gain", 1.0, &x, key, where))) return st;
        ok = append_arg(buf, cap, "gain", x);
        break;
    default: break;
    }
    if (!ok) KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is too long", where, key);
    if (a != A_NONE && a != A_CONST && a != A_IDENT && (st = init_seed(c, buf, cap, key, where)))
        return st;
    size_t n = strlen(buf);
    if (buf[n - 1] == '(')
        buf[n - 1] = '\0'; /* no arguments: the bare name */
    else if (n + 1 < cap)
        buf[n] = ')', buf[n + 1] = '\0';
    else
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is too long", where, key);
    /* the spec must be one keel's initializers take (init.c checks it again when it runs) */
    if ((st = keel_init_check(buf, where)))
        return keel_error(KEEL_ERR_FORMAT, "%s: config.%s: %s", where, key, keel_last_error());
    *out = buf;
    return KEEL_OK;
}

json_t *keel_initializer_to_json(const char *spec) {
    if (!spec) return json_null();
    keel_spec sp;
    if (keel_spec_parse(spec, &sp, "initializer")) return NULL;
    int k = -1;
    for (int i = 0; i < N_INITS && k < 0; i++)
        if (inits[i].keel && (!strcmp(sp.name, inits[i].keel) ||
                              (inits[i].alias && !strcmp(sp.name, inits[i].alias))))
            k = i;
    if (k < 0) {
        keel_error(KEEL_ERR_UNSUPPORTED, "initializer \"%s\" has no Keras counterpart", spec);
        return NULL;
    }
    init_args a = inits[k].args;
    static const char *const k_seed[] = {"seed", NULL};
    if (keel_spec_check(&sp, a == A_SEED ? k_seed : init_keys(a), "initializer")) return NULL;
    double seed = keel_spec_get(&sp, "seed", -1, NAN);
    json_t *sj = isnan(seed) ? json_null() : json_integer((json_int_t)seed);
    if (!isnan(seed) && !(seed >= 0 && seed <= 9007199254740992.0 && seed == floor(seed))) {
        json_decref(sj);
        keel_error(KEEL_ERR_ARG, "initializer \"%s\": seed must be a whole number in [0, 2^53]",
                   spec);
        return NULL;
    }
    json_t *c = NULL;
    /* Keras 3.15's keys, in its order */
    switch (a) {
    case A_SEED: c = json_pack("{s:o, s:n, s:n}", "seed", sj, "input_axes", "output_axes"); break;
    case A_NONE: c = json_object(); break;
    case A_CONST: c = json_pack("{s:f}", "value", keel_spec_get(&sp, "value", 0, 0.0)); break;
    case A_UNIFORM:
        c = json_pack("{s:o, s:f, s:f}", "seed", sj, "minval",
                      keel_spec_get(&sp, "minval", 0, -0.05), "maxval",
                      keel_spec_get(&sp, "maxval", 1, 0.05));
        break;
    case A_NORMAL:
        c = json_pack("{s:o, s:f, s:f}", "seed", sj, "mean", keel_spec_get(&sp, "mean", 0, 0.0),
                      "stddev", keel_spec_get(&sp, "stddev", 1, 0.05));
        break;
    case A_ORTH:
        c = json_pack("{s:o, s:f}", "seed", sj, "gain", keel_spec_get(&sp, "gain", 0, 1.0));
        break;
    case A_IDENT: {
        /* Keras 3.15 writes Identity's config as {} whatever its gain (its get_config leaves the
         * gain out); a gain other than 1 is written, which Identity(gain=...) reads back */
        double gain = keel_spec_get(&sp, "gain", 0, 1.0);
        c = gain == 1.0 ? json_object() : json_pack("{s:f}", "gain", gain);
        break;
    }
    case A_VS: break;
    }
    if (a != A_SEED && a != A_UNIFORM && a != A_NORMAL && a != A_ORTH) json_decref(sj);
    json_t *obj = c ? json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.initializers",
                                "class_name", inits[k].cls, "config", c, "registered_name")
                    : NULL;
    if (!obj) keel_error(KEEL_ERR_NOMEM, "initializer \"%s\": out of memory", spec);
    return obj;
}

/* ---------------------------------------------------------------- regularizers */

/* a regularizer factor: a number >= 0 within float32 (keel keeps it as one) */
static keel_status reg_factor(const json_t *c, const char *arg, double dflt, float *out,
                              const char *key, const char *where) {
    double d;
    keel_status st = init_num(c, arg, dflt, &d, key, where);
    if (st) return st;
    if (!(d >= 0 && d <= FLT_MAX))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s.config.%s = %g, expected a number >= 0", where,
                  key, arg, d);
    *out = (float)d;
    return KEEL_OK;
}

keel_status keel_cfg_regularizer(const json_t *cfg, const char *key, char *buf, size_t cap,
                                 const char **out, const char *where) {
    const json_t *v = json_object_get(cfg, key), *c = NULL;
    *out = NULL;
    if (!v || json_is_null(v)) return KEEL_OK;
    const char *cls;
    if (json_is_string(v)) {
        cls = json_string_value(v);
    } else if (json_is_object(v)) {
        const json_t *cn = json_object_get(v, "class_name");
        if (!json_is_string(cn))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s has no class_name", where, key);
        cls = json_string_value(cn);
        c = json_object_get(v, "config");
        keel_status st = builtin_object(v, cls, key, where);
        if (st) return st;
    } else {
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is %s, expected a regularizer", where, key,
                  keel_json_type(v));
    }
    /* L1(l1=0.01), L2(l2=0.01), L1L2(l1=0, l2=0); the strings "l1", "l2" are the class with its
     * default and "l1_l2" tf.keras 2's function (both 0.01) */
    bool l1 = !strcmp(cls, "L1") || !strcmp(cls, "l1"),
         l2 = !strcmp(cls, "L2") || !strcmp(cls, "l2"),
         both = !strcmp(cls, "L1L2") || !strcmp(cls, "l1_l2");
    if (!l1 && !l2 && !both)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s is regularizer '%.40s', which keel does not have (L1, L2, L1L2)",
                  where, key, cls);
    if (json_is_object(c)) {
        const char *ck;
        json_t *cv;
        json_object_foreach((json_t *)c, ck, cv) {
            if ((!strcmp(ck, "l1") && (l1 || both)) || (!strcmp(ck, "l2") && (l2 || both)))
                continue;
            KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.%s.config.%.40s is not supported by keel",
                      where, key, ck);
        }
    }
    double d = (both && strcmp(cls, "l1_l2")) ? 0.0 : 0.01;
    float f1 = 0, f2 = 0;
    keel_status st;
    if ((l1 || both) && (st = reg_factor(c, "l1", d, &f1, key, where))) return st;
    if ((l2 || both) && (st = reg_factor(c, "l2", d, &f2, key, where))) return st;
    char a[40], b[40];
    fmt_double(a, sizeof a, keel_cfg_real(f1));
    fmt_double(b, sizeof b, keel_cfg_real(f2));
    int w = l1   ? snprintf(buf, cap, "l1(%s)", a)
            : l2 ? snprintf(buf, cap, "l2(%s)", b)
                 : snprintf(buf, cap, "l1_l2(l1=%s, l2=%s)", a, b);
    if (w < 0 || (size_t)w >= cap)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is too long", where, key);
    *out = buf;
    return KEEL_OK;
}

json_t *keel_regularizer_to_json(const char *spec) {
    if (!spec) return json_null();
    float l1, l2;
    keel_spec sp;
    if (keel_reg_parse(spec, &l1, &l2, "regularizer") || keel_spec_parse(spec, &sp, "regularizer"))
        return NULL;
    json_t *c;
    const char *cls;
    if (!strcmp(sp.name, "l1") || !strcmp(sp.name, "L1")) {
        /* Keras 3's L1 keeps its factor as a float32 tensor and writes float() of it */
        cls = "L1", c = json_pack("{s:f}", "l1", (double)l1);
    } else if (!strcmp(sp.name, "l2") || !strcmp(sp.name, "L2")) {
        cls = "L2", c = json_pack("{s:f}", "l2", keel_cfg_real(l2));
    } else {
        cls = "L1L2", c = json_pack("{s:f, s:f}", "l1", keel_cfg_real(l1), "l2", keel_cfg_real(l2));
    }
    json_t *obj = c ? json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.regularizers",
                                "class_name", cls, "config", c, "registered_name")
                    : NULL;
    if (!obj) keel_error(KEEL_ERR_NOMEM, "regularizer \"%s\": out of memory", spec);
    return obj;
}

keel_status keel_cfg_put_initializer(json_t *cfg, const char *key, const char *spec,
                                     const keel_layer *l) {
    json_t *j = keel_initializer_to_json(spec);
    if (!j) {
        char p[128];
        snprintf(p, sizeof p, "%s: %s", l->name, key);
        return keel_error_prefix(p);
    }
    return keel_cfg_set(cfg, key, j) ? KEEL_OK : keel_last_status();
}

keel_status keel_cfg_put_regularizer(json_t *cfg, const char *key, const char *spec,
                                     const keel_layer *l) {
    json_t *j = keel_regularizer_to_json(spec);
    if (!j) {
        char p[128];
        snprintf(p, sizeof p, "%s: %s", l->name, key);
        return keel_error_prefix(p);
    }
    return keel_cfg_set(cfg, key, j) ? KEEL_OK : keel_last_status();
}
