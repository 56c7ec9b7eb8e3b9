/* config.c: the helpers every layer's get_config / from_config is written with (config.h):
 * the fields all layers share, typed readers that name the field and what was wrong with it,
 * and writers that put keel's values in Keras 3's spelling. Activations, initializers and
 * regularizers, which are objects of their own, are in config_objects.c.
 *
 * Reading is strict on purpose: a config field keel cannot honour is an error naming it, never
 * dropped (keel_cfg_check_keys refuses a key no layer reads unless it holds null or false), and
 * a number out of range is an error before it reaches a constructor that would allocate for
 * it. Writing puts float32 hyper-parameters back as the shortest decimal that reads to the same
 * float (keel_cfg_real), which is what Python writes for the number the user typed in Keras. */
#include "config.h"

#include <float.h>
#include <stdio.h>

/* ---------------------------------------------------------------- small pieces */

/* The value under key, NULL when absent or null (Keras's None: the default). */
static const json_t *field(const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    return json_is_null(v) ? NULL : v;
}

static keel_status missing(const char *key, const char *where) {
    KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is missing", where, key);
}

static keel_status wrong_type(const char *key, const json_t *v, const char *expected,
                              const char *where) {
    KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is %s, expected %s", where, key, keel_json_type(v),
              expected);
}

/* A value for a message: its JSON, cut at 60 characters. */
static void show(const json_t *v, char *buf, size_t cap) {
    char *s = keel_json_dumps(v);
    if (!s) {
        snprintf(buf, cap, "%s", keel_json_type(v));
        return;
    }
    if (strlen(s) > 60)
        snprintf(buf, cap, "%.57s...", s);
    else
        snprintf(buf, cap, "%s", s);
    free(s);
}

bool keel_cfg_set(json_t *obj, const char *key, json_t *v) {
    /* json_object_set_new takes v's reference even when it fails */
    if (!v || json_object_set_new(obj, key, v) != 0) {
        keel_error(KEEL_ERR_NOMEM, "saving a layer config: out of memory (at \"%s\")", key);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- the fields all layers share */

keel_status keel_cfg_put_base(json_t *cfg, const keel_layer *l) {
    json_t *policy = json_pack("{s:s, s:s, s:{s:s}, s:n}", "module", "keras", "class_name",
                               "DTypePolicy", "config", "name", "float32", "registered_name");
    if (!keel_cfg_set(cfg, "name", json_string(l->name[0] ? l->name : l->kind->prefix)) ||
        !keel_cfg_set(cfg, "trainable", json_boolean(l->trainable)) ||
        !keel_cfg_set(cfg, "dtype", policy))
        return keel_last_status();
    return KEEL_OK;
}

keel_status keel_cfg_get_base(const json_t *cfg, const char *where, char name[64],
                              bool *trainable) {
    name[0] = '\0';
    *trainable = true;
    const char *s = NULL;
    int t = 1;
    keel_status st;
    if ((st = keel_cfg_string(cfg, "name", true, &s, where)) ||
        (st = keel_cfg_bool(cfg, "trainable", true, &t, where)) ||
        (st = keel_cfg_dtype(cfg, NULL, NULL, where)) ||
        (st = keel_cfg_require_default(cfg, "activity_regularizer", NULL, where)))
        return st;
    if (s) {
        if (strlen(s) >= 64)
            KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                      "%s: config.name is %zu characters long; keel keeps names of at most 63",
                      where, strlen(s));
        snprintf(name, 64, "%s", s);
    }
    *trainable = t != 0;
    return KEEL_OK;
}

void keel_cfg_apply_base(keel_layer *l, bool trainable) {
    l->trainable = trainable;
}

keel_status keel_cfg_dtype(const json_t *cfg, const char *const *ok, const char **out,
                           const char *where) {
    const json_t *v = field(cfg, "dtype");
    const char *name = "float32";
    if (json_is_string(v)) {
        name = json_string_value(v);
    } else if (json_is_object(v)) {
        /* Keras 3's DTypePolicy, tf.keras 2's mixed-precision Policy: {"config": {"name"}} */
        const json_t *cls = json_object_get(v, "class_name"), *c = json_object_get(v, "config");
        const json_t *n = json_is_object(c) ? json_object_get(c, "name") : NULL;
        if (!json_is_string(n))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.dtype is an object without config.name", where);
        if (json_is_string(cls) && strcmp(json_string_value(cls), "DTypePolicy") &&
            strcmp(json_string_value(cls), "Policy") &&
            strcmp(json_string_value(cls), "FloatDTypePolicy"))
            KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.dtype is a %s, not supported by keel",
                      where, json_string_value(cls));
        name = json_string_value(n);
    } else if (v) {
        return wrong_type("dtype", v, "a dtype name or a DTypePolicy", where);
    }
    bool good = !strcmp(name, "float32");
    for (int i = 0; ok && ok[i] && !good; i++)
        good = !strcmp(name, ok[i]);
    if (!good)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.dtype = '%.40s' is not supported by keel (%s)",
                  where, name, ok ? "float32 or int32" : "float32 only");
    if (out) *out = name;
    return KEEL_OK;
}

/* ---------------------------------------------------------------- typed readers */

keel_status keel_cfg_int(const json_t *cfg, const char *key, bool optional, int64_t *out,
                         const char *where) {
    const json_t *v = field(cfg, key);
    if (!v) return optional ? KEEL_OK : missing(key, where);
    if (!json_is_integer(v)) return wrong_type(key, v, "an integer", where);
    *out = json_integer_value(v);
    return KEEL_OK;
}

/* A number as a double: an integer or a real, finite */
static keel_status number(const json_t *v, const char *key, double *out, const char *where) {
    if (!json_is_number(v)) return wrong_type(key, v, "a number", where);
    *out = json_number_value(v);
    return KEEL_OK;
}

keel_status keel_cfg_float(const json_t *cfg, const char *key, bool optional, float *out,
                           const char *where) {
    const json_t *v = field(cfg, key);
    if (!v) return optional ? KEEL_OK : missing(key, where);
    double d = 0;
    keel_status st = number(v, key, &d, where);
    if (st) return st;
    /* Jansson refuses NaN and infinities when it parses; a huge number still gets here */
    if (!(fabs(d) <= FLT_MAX))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s = %g is out of range for a float32", where, key,
                  d);
    *out = (float)d;
    return KEEL_OK;
}

keel_status keel_cfg_bool(const json_t *cfg, const char *key, bool optional, int *out,
                          const char *where) {
    const json_t *v = field(cfg, key);
    if (!v) return optional ? KEEL_OK : missing(key, where);
    if (!json_is_boolean(v)) return wrong_type(key, v, "true or false", where);
    *out = json_is_true(v);
    return KEEL_OK;
}

keel_status keel_cfg_string(const json_t *cfg, const char *key, bool optional, const char **out,
                            const char *where) {
    const json_t *v = field(cfg, key);
    if (!v) return optional ? KEEL_OK : missing(key, where);
    if (!json_is_string(v)) return wrong_type(key, v, "a string", where);
    *out = json_string_value(v);
    return KEEL_OK;
}

keel_status keel_cfg_ints(const json_t *cfg, const char *key, bool optional, int n, int64_t *out,
                          const char *where) {
    const json_t *v = field(cfg, key);
    if (!v) return optional ? KEEL_OK : missing(key, where);
    if (json_is_integer(v)) {
        for (int i = 0; i < n; i++)
            out[i] = json_integer_value(v);
        return KEEL_OK;
    }
    if (!json_is_array(v)) return wrong_type(key, v, "an integer or a list of integers", where);
    if (json_array_size(v) != (size_t)n)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s has %zu entries, expected %d", where, key,
                  json_array_size(v), n);
    for (int i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_integer(e))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s[%d] is %s, expected an integer", where, key,
                      i, keel_json_type(e));
        out[i] = json_integer_value(e);
    }
    return KEEL_OK;
}

static keel_status size_range(const char *key, int i, int64_t v, const char *where) {
    char at[16] = "";
    if (i >= 0) snprintf(at, sizeof at, "[%d]", i);
    if (v < 1)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s%s = %lld, expected a positive integer", where,
                  key, at, (long long)v);
    if (v > KEEL_CFG_SIZE_MAX)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s%s = %lld is too large (at most %lld)", where, key,
                  at, (long long)v, (long long)KEEL_CFG_SIZE_MAX);
    return KEEL_OK;
}

keel_status keel_cfg_size(const json_t *cfg, const char *key, bool optional, int64_t *out,
                          const char *where) {
    int64_t v = 0;
    keel_status st = keel_cfg_int(cfg, key, optional, &v, where);
    if (st || !field(cfg, key)) return st;
    if ((st = size_range(key, -1, v, where))) return st;
    *out = v;
    return KEEL_OK;
}

keel_status keel_cfg_sizes(const json_t *cfg, const char *key, bool optional, int n, int64_t *out,
                           const char *where) {
    int64_t v[KEEL_MAX_RANK];
    KEEL_ASSERT(n <= KEEL_MAX_RANK);
    keel_status st = keel_cfg_ints(cfg, key, optional, n, v, where);
    if (st || !field(cfg, key)) return st;
    for (int i = 0; i < n; i++)
        if ((st = size_range(key, json_is_array(field(cfg, key)) ? i : -1, v[i], where))) return st;
    memcpy(out, v, (size_t)n * sizeof *out);
    return KEEL_OK;
}

keel_status keel_cfg_shape(const json_t *v, const char *key, int *rank, int64_t *dims,
                           const char *where) {
    if (!json_is_array(v)) return wrong_type(key, v, "a shape list", where);
    size_t n = json_array_size(v);
    if (n == 0)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is empty (expected [null, dims...])", where, key);
    const json_t *batch = json_array_get(v, 0);
    if (json_is_integer(batch))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s fixes the batch size to %lld; keel models take any batch size",
                  where, key, (long long)json_integer_value(batch));
    if (!json_is_null(batch))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s[0] is %s, expected null (the batch axis)", where,
                  key, keel_json_type(batch));
    if (n == 1)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s is [null]: a scalar per sample is not supported by keel", where,
                  key);
    if (n - 1 > KEEL_MAX_RANK)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s has %zu dimensions per sample; keel supports at most %d", where,
                  key, n - 1, KEEL_MAX_RANK);
    int64_t d[KEEL_MAX_RANK] = {0}, size = 1;
    for (size_t i = 1; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (json_is_null(e))
            KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                      "%s: config.%s[%zu] is null (a variable length); keel needs every "
                      "dimension of a sample",
                      where, key, i);
        if (!json_is_integer(e))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s[%zu] is %s, expected an integer", where, key,
                      i, keel_json_type(e));
        keel_status st = size_range(key, (int)i, json_integer_value(e), where);
        if (st) return st;
        d[i - 1] = json_integer_value(e);
        if (!keel_mul_ok(size, d[i - 1], &size))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s holds more than 2^61 values per sample",
                      where, key);
    }
    *rank = (int)(n - 1);
    memcpy(dims, d, sizeof d);
    return KEEL_OK;
}

keel_status keel_cfg_data_format(const json_t *cfg, const char *where) {
    const char *s = NULL;
    keel_status st = keel_cfg_string(cfg, "data_format", true, &s, where);
    if (st || !s || !strcmp(s, "channels_last")) return st;
    if (!strcmp(s, "channels_first"))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.data_format = 'channels_first' is not supported by keel "
                  "(channels_last only)",
                  where);
    KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.data_format = '%.40s', expected 'channels_last'", where,
              s);
}

keel_status keel_cfg_padding(const json_t *cfg, bool causal_ok, const char **out,
                             const char *where) {
    const char *s = NULL;
    keel_status st = keel_cfg_string(cfg, "padding", true, &s, where);
    if (st) return st;
    if (!s || !strcmp(s, "valid"))
        *out = "valid";
    else if (!strcmp(s, "same"))
        *out = "same";
    else if (causal_ok && !strcmp(s, "causal"))
        *out = "causal";
    else
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.padding = '%.40s', expected 'valid', 'same'%s",
                  where, s, causal_ok ? " or 'causal'" : "");
    return KEEL_OK;
}

keel_status keel_cfg_weight(const json_t *cfg, const char *prefix, char *ibuf, const char **init,
                            char *rbuf, const char **reg, const char *where) {
    char k_init[64], k_reg[64], k_con[64];
    snprintf(k_init, sizeof k_init, "%s_initializer", prefix);
    snprintf(k_reg, sizeof k_reg, "%s_regularizer", prefix);
    snprintf(k_con, sizeof k_con, "%s_constraint", prefix);
    keel_status st;
    if ((st = keel_cfg_initializer(cfg, k_init, ibuf, KEEL_CFG_SPEC_CAP, init, where)) ||
        (st = keel_cfg_regularizer(cfg, k_reg, rbuf, KEEL_CFG_SPEC_CAP, reg, where)) ||
        (st = keel_cfg_require_default(cfg, k_con, NULL, where)))
        return st;
    return KEEL_OK;
}

keel_status keel_cfg_seed(const json_t *cfg, const char *key, uint64_t *out, const char *where) {
    *out = 0;
    int64_t s = 0;
    keel_status st = keel_cfg_int(cfg, key, true, &s, where);
    if (st || !field(cfg, key)) return st;
    if (s < 0 || s > ((int64_t)1 << 53))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.%s = %lld: keel takes seeds in [1, 2^53]",
                  where, key, (long long)s);
    if (s == 0)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.%s = 0 is not supported by keel (0 means \"no seed\" there)", where,
                  key);
    *out = (uint64_t)s;
    return KEEL_OK;
}

keel_status keel_cfg_require_default(const json_t *cfg, const char *key, const json_t *dflt,
                                     const char *where) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v) || json_is_false(v)) return KEEL_OK;
    if (dflt && (json_equal((json_t *)v, (json_t *)dflt) ||
                 (json_is_number(v) && json_is_number(dflt) &&
                  json_number_value(v) == json_number_value(dflt))))
        return KEEL_OK;
    char buf[80];
    show(v, buf, sizeof buf);
    KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.%s = %s is not supported by keel", where, key, buf);
}

keel_status keel_cfg_require_number(const json_t *cfg, const char *key, double dflt,
                                    const char *where) {
    json_t *d = json_real(dflt);
    if (!d) KEEL_FAIL(KEEL_ERR_NOMEM, "%s: out of memory", where);
    keel_status st = keel_cfg_require_default(cfg, key, d, where);
    json_decref(d);
    return st;
}

/* Keys every layer's config may hold, read by keel_cfg_get_base or the registry. */
static const char *const base_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "batch_input_shape", NULL};

static bool listed(const char *key, const char *const *list) {
    for (int i = 0; list && list[i]; i++)
        if (!strcmp(key, list[i])) return true;
    return false;
}

keel_status keel_cfg_check_keys(const json_t *cfg, const char *const *known, const char *where) {
    const char *key;
    json_t *v;
    /* json_object_foreach takes a non-const object; it only reads here */
    json_object_foreach((json_t *)cfg, key, v) {
        if (listed(key, known) || listed(key, base_keys) || json_is_null(v) || json_is_false(v))
            continue;
        char buf[80];
        show(v, buf, sizeof buf);
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.%.60s = %s is not a field keel knows", where,
                  key, buf);
    }
    return KEEL_OK;
}

/* ---------------------------------------------------------------- writers */

double keel_cfg_real(float v) {
    /* the fewest significant digits that read back to v (at most 9 for a float32) */
    char buf[40];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        double d = strtod(buf, NULL);
        if ((float)d == v) return d;
    }
    return (double)v;
}

static keel_status put(json_t *cfg, const char *key, json_t *v) {
    return keel_cfg_set(cfg, key, v) ? KEEL_OK : keel_last_status();
}

keel_status keel_cfg_put_int(json_t *cfg, const char *key, int64_t v) {
    return put(cfg, key, json_integer(v));
}

keel_status keel_cfg_put_float(json_t *cfg, const char *key, float v) {
    if (!isfinite(v)) /* Jansson cannot hold it; the constructors refuse such values */
        KEEL_FAIL(KEEL_ERR_ARG, "saving a layer config: %s is %g, not a finite number", key, v);
    return put(cfg, key, json_real(keel_cfg_real(v)));
}

keel_status keel_cfg_put_bool(json_t *cfg, const char *key, bool v) {
    return put(cfg, key, json_boolean(v));
}

keel_status keel_cfg_put_str(json_t *cfg, const char *key, const char *s) {
    return put(cfg, key, s ? json_string(s) : json_null());
}

keel_status keel_cfg_put_null(json_t *cfg, const char *key) {
    return put(cfg, key, json_null());
}

keel_status keel_cfg_put_ints(json_t *cfg, const char *key, int n, const int64_t *v) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i]))) {
            json_decref(a);
            a = NULL;
        }
    return put(cfg, key, a);
}
