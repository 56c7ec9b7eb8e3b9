/* core.c: errors, memory, the RNG, the name parser and shape helpers (see core.h). */
#include "../core.h"

#include <ctype.h>
#include <stdio.h>

static _Thread_local char last_error[KEEL_ERR_CAP];
static _Thread_local keel_status last_status;

keel_status keel_last_status(void) {
    return last_status;
}

keel_status keel_error(keel_status status, const char *fmt, ...) {
    last_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* one line, always */
    for (char *p = last_error; *p; p++)
        if (*p == '\n') *p = ' ';
    return status;
}

const char *keel_last_error(void) {
    return last_error;
}

/* Warnings go to one process-wide handler (stderr by default); the handler and its user pointer
 * are read together under no lock, so set it before training starts. */
static keel_warning_fn warn_fn;
static void *warn_user;

void keel_set_warning_handler(keel_warning_fn fn, void *user) {
    warn_fn = fn;
    warn_user = user;
}

void keel_warn(const char *fmt, ...) {
    char msg[KEEL_ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (warn_fn)
        warn_fn(msg, warn_user);
    else
        fprintf(stderr, "keel: warning: %s\n", msg);
}

bool keel_mul_ok(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return false;
    if (a != 0 && b > INT64_MAX / 4 / a) return false; /* keep room for bytes and padding */
    *out = a * b;
    return true;
}

const char *keel_status_name(keel_status s) {
    switch (s) {
    case KEEL_OK: return "ok";
    case KEEL_ERR_ARG: return "bad argument";
    case KEEL_ERR_SHAPE: return "shape error";
    case KEEL_ERR_STATE: return "wrong call order";
    case KEEL_ERR_IO: return "i/o error";
    case KEEL_ERR_FORMAT: return "bad file format";
    case KEEL_ERR_NOMEM: return "out of memory";
    case KEEL_ERR_NAN: return "loss is not finite";
    case KEEL_ERR_UNSUPPORTED: return "not supported";
    default: return "unknown status";
    }
}

_Noreturn void keel_bug(const char *file, int line, const char *what) {
    fprintf(stderr, "keel: internal error at %s:%d: %s (please report)\n", file, line, what);
    abort();
}

void *keel_alloc(size_t bytes) {
    if (bytes == 0) bytes = 1;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) {
        keel_error(KEEL_ERR_NOMEM, "out of memory: %zu bytes requested", bytes);
        return NULL;
    }
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        keel_error(KEEL_ERR_NOMEM, "out of memory: %zu bytes requested", bytes);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

void keel_free(void *p) {
    free(p);
}

char *keel_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = keel_alloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

double keel_rng_uniform(keel_rng *r) {
    return (double)(keel_rand_u64(r->seed, r->stream, r->i++) >> 11) * (1.0 / 9007199254740992.0);
}

double keel_rng_normal(keel_rng *r) {
    double u1 = keel_rng_uniform(r), u2 = keel_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- nearest name: Levenshtein distance, accepted when small against the name's length */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j - 1] + c;
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *keel_nearest_name(const char *name, const char *const *names) {
    const char *best = NULL;
    int bestd = 1 << 30;
    for (int i = 0; names[i]; i++) {
        int dist = edit_distance(name, names[i]);
        if (dist < bestd) bestd = dist, best = names[i];
    }
    int len = (int)strlen(name);
    return (best && bestd <= 2 + len / 4) ? best : NULL;
}

/* ---- spec parser: name, or name(args) with args "v" or "key=v", comma separated */
keel_status keel_spec_parse(const char *s, keel_spec *spec, const char *what) {
    memset(spec, 0, sizeof *spec);
    if (!s) KEEL_FAIL(KEEL_ERR_ARG, "%s: name is NULL", what);
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = 0;
    while (*p && *p != '(' && !isspace((unsigned char)*p)) {
        if (n + 1 >= sizeof spec->name)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: name too long: \"%s\"", what, s);
        spec->name[n++] = *p++;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (n == 0) KEEL_FAIL(KEEL_ERR_ARG, "%s: empty name", what);
    if (*p == 0) return KEEL_OK;
    if (*p != '(')
        KEEL_FAIL(KEEL_ERR_ARG, "%s: cannot parse \"%s\" (expected name or name(args))", what, s);
    p++;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == ')') break;
        if (spec->n == KEEL_SPEC_MAX_ARGS)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: too many arguments in \"%s\"", what, s);
        char *key = spec->keys[spec->n];
        const char *q = p;
        size_t k = 0;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        const char *after = q;
        while (isspace((unsigned char)*after))
            after++;
        if (q > p && *after == '=' && !isdigit((unsigned char)*p)) {
            if ((size_t)(q - p) >= sizeof spec->keys[0])
                KEEL_FAIL(KEEL_ERR_ARG, "%s: argument name too long in \"%s\"", what, s);
            for (; p < q; p++)
                key[k++] = *p;
            p = after + 1;
        }
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: expected a number at \"%s\" in \"%s\"", what, p, s);
        /* "nan" and "inf" parse as numbers, but no Keras hyper-parameter takes them */
        if (!isfinite(v))
            KEEL_FAIL(KEEL_ERR_ARG, "%s: argument %d of \"%s\" is not a finite number", what,
                      spec->n + 1, s);
        spec->vals[spec->n++] = v;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ')') break;
        KEEL_FAIL(KEEL_ERR_ARG, "%s: expected ',' or ')' in \"%s\"", what, s);
    }
    p++;
    while (isspace((unsigned char)*p))
        p++;
    if (*p) KEEL_FAIL(KEEL_ERR_ARG, "%s: unexpected text after ')' in \"%s\"", what, s);
    return KEEL_OK;
}

double keel_spec_get(const keel_spec *spec, const char *key, int pos, double dflt) {
    for (int i = 0; i < spec->n; i++)
        if (strcmp(spec->keys[i], key) == 0) return spec->vals[i];
    int np = 0;
    for (int i = 0; i < spec->n; i++)
        if (spec->keys[i][0] == 0 && np++ == pos) return spec->vals[i];
    return dflt;
}

keel_status keel_spec_check(const keel_spec *spec, const char *const *keys, const char *what) {
    int positional = 0, nkeys = 0;
    while (keys[nkeys])
        nkeys++;
    for (int i = 0; i < spec->n; i++) {
        if (spec->keys[i][0] == 0) {
            if (++positional > nkeys)
                KEEL_FAIL(KEEL_ERR_ARG, "%s: %s takes at most %d argument%s", what, spec->name,
                          nkeys, nkeys == 1 ? "" : "s");
            continue;
        }
        bool ok = false;
        for (int j = 0; keys[j]; j++)
            ok |= strcmp(keys[j], spec->keys[i]) == 0;
        if (!ok) {
            const char *near = keel_nearest_name(spec->keys[i], keys);
            KEEL_FAIL(KEEL_ERR_ARG, "%s: %s has no argument \"%s\"%s%s%s", what, spec->name,
                      spec->keys[i], near ? " (did you mean \"" : "", near ? near : "",
                      near ? "\"?)" : "");
        }
    }
    return KEEL_OK;
}

int64_t keel_dims_prod(int rank, const int64_t *dims) {
    int64_t p = 1;
    for (int i = 0; i < rank; i++)
        p *= dims[i];
    return p;
}

char *keel_dims_str(int rank, const int64_t *dims, bool batch, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "(%s", batch ? "None" : "");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", (batch || i) ? ", " : "",
                              (long long)dims[i]);
    if (n < cap) snprintf(buf + n, cap - n, "%s)", (!batch && rank == 1) ? "," : "");
    return buf;
}

int keel_dims_rank(const int64_t *dims) {
    int r = 0;
    while (r < KEEL_MAX_RANK && dims[r] != 0)
        r++;
    return r;
}

keel_status keel_error_prefix(const char *prefix) {
    char copy[KEEL_ERR_CAP];
    snprintf(copy, sizeof copy, "%s", last_error);
    return keel_error(last_status ? last_status : KEEL_ERR_ARG, "%s: %s", prefix, copy);
}
