/* fixture.h: reads the plain-text fixtures that tools/make_*fixtures.py write with real
 * tf.keras: one record per line, "name n v1 ... vn"; lines starting with # are comments.
 * Also the helpers both fixture suites use to set a model's weights and read its gradients.
 * Header-only, for the test files. */
#ifndef KEEL_TEST_FIXTURE_H
#define KEEL_TEST_FIXTURE_H

#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fx_rec {
    char name[128];
    int n;
    double *v;
} fx_rec;

typedef struct fx_file {
    char path[512];
    fx_rec *r;
    int n, cap;
} fx_file;

/* Loads tests/fixtures/<file>; `tool` names the script that regenerates it. */
static void fx_load_from(fx_file *f, const char *file, const char *tool) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/tests/fixtures/%s", KEEL_SOURCE_DIR, file);
    FILE *fp = fopen(f->path, "r");
    cr_assert_not_null(fp, "cannot open %s (regenerate: python3 tools/%s tests/fixtures)", f->path, tool);
    char tok[128];
    while (fscanf(fp, " %127s", tok) == 1) {
        if (tok[0] == '#') {
            int c;
            while ((c = fgetc(fp)) != '\n' && c != EOF) {}
            continue;
        }
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 64;
            f->r = realloc(f->r, (size_t)f->cap * sizeof *f->r);
            cr_assert_not_null(f->r);
        }
        fx_rec *r = &f->r[f->n++];
        snprintf(r->name, sizeof r->name, "%s", tok);
        cr_assert_eq(fscanf(fp, "%d", &r->n), 1, "%s: record %s has no count", f->path, tok);
        cr_assert(r->n > 0, "%s: record %s: bad count %d", f->path, tok, r->n);
        r->v = malloc((size_t)r->n * sizeof *r->v);
        cr_assert_not_null(r->v);
        for (int i = 0; i < r->n; i++)
            cr_assert_eq(fscanf(fp, "%lf", &r->v[i]), 1, "%s: record %s: value %d missing", f->path, tok, i);
    }
    fclose(fp);
}

static inline void fx_free(fx_file *f) {
    for (int i = 0; i < f->n; i++) free(f->r[i].v);
    free(f->r);
    memset(f, 0, sizeof *f);
}

/* ---- comparison against the fixtures: |got - want| <= max(ATOL, rtol |want|) */

#ifndef ATOL
#define ATOL 1e-6
#endif

/* Expects got[i] close to want[i]; reports the first few mismatches one by one, then a count.
 * Returns the number of mismatches. */
static inline int expect_close(const char *ctx, const char *what, const double *got, const double *want, int64_t n,
                        double rtol) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double tol = fmax(ATOL, rtol * fabs(want[i])), d = fabs(got[i] - want[i]);
        if (d <= tol) continue; /* also false for NaN */
        if (++bad <= 6)
            cr_expect(0, "%s: %s[%lld]: keel %.9g, keras %.9g (|diff| %.3g > tol %.3g)", ctx, what, (long long)i,
                      got[i], want[i], d, tol);
    }
    if (bad > 6) cr_expect(0, "%s: %s: %d of %lld values differ", ctx, what, bad, (long long)n);
    return bad;
}

static inline int expect_close_f(const char *ctx, const char *what, const float *got, const double *want, int64_t n,
                          double rtol) {
    double *g = malloc((size_t)(n ? n : 1) * sizeof *g);
    cr_assert_not_null(g);
    for (int64_t i = 0; i < n; i++) g[i] = got[i];
    int bad = expect_close(ctx, what, g, want, n, rtol);
    free(g);
    return bad;
}

static inline void expect_scalar(const char *ctx, const char *what, double got, double want, double rtol) {
    expect_close(ctx, what, &got, &want, 1, rtol);
}

/* ---- keel models: weights read and written by layer index, the gradient from one SGD step */

static inline void check_ok(keel_status st, const char *ctx, const char *call) {
    cr_assert_eq(st, KEEL_OK, "%s: %s failed: %s", ctx, call, keel_last_error());
}

static inline float *weight(keel_model *m, int layer, int index, int64_t expect) {
    keel_layer *l = keel_model_layer(m, layer);
    cr_assert_not_null(l, "%s", keel_last_error());
    int64_t n = 0;
    float *w = keel_layer_weight(l, index, &n);
    cr_assert_not_null(w, "layer %d (%s) has no weight %d: %s", layer, keel_layer_name(l), index, keel_last_error());
    cr_assert_eq(n, expect, "layer %d (%s) weight %d has %lld values, expected %lld", layer, keel_layer_name(l), index,
                 (long long)n, (long long)expect);
    return w;
}

static inline void set_weight(keel_model *m, int layer, int index, const double *v, int64_t n) {
    float *w = weight(m, layer, index, n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)v[i];
}

static inline void set_identity(keel_model *m, int layer, int64_t d) {
    float *w = weight(m, layer, 0, d * d);
    for (int64_t i = 0; i < d * d; i++) w[i] = (i % (d + 1)) == 0 ? 1.0f : 0.0f;
}

static inline double *snapshot(keel_model *m, int layer, int index, int64_t n) {
    float *w = weight(m, layer, index, n);
    double *s = malloc((size_t)n * sizeof *s);
    cr_assert_not_null(s);
    for (int64_t i = 0; i < n; i++) s[i] = w[i];
    return s;
}

/* grad = before - after, after one SGD step with learning rate 1 */
static inline void grad_from_step(keel_model *m, int layer, int index, const double *before, double *grad, int64_t n) {
    float *w = weight(m, layer, index, n);
    for (int64_t i = 0; i < n; i++) grad[i] = before[i] - (double)w[i];
}

static const keel_optimizer_opts SGD_LR1 = {.learning_rate = 1.0f};

#endif
