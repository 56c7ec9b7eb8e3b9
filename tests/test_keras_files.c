/* test_keras_files.c: model files written by real Keras load in keel and predict what Keras
 * predicted: tf.keras 2.15's legacy .h5 and .keras, Keras 3.15's .keras and .weights.h5, for
 * every layer kind keel implements (tests/fixtures/saved/, made by tools/make_save_fixtures.py;
 * MANIFEST.json lists each model's files, data, evaluate values and, for the models without
 * dropout, the result of one more train_on_batch, which checks that the optimizer's state was
 * restored: Keras's own "uninterrupted" step gives the same numbers). */
#include "../src/data/json.h"

#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static char root[512];

static json_t *manifest(void) {
    snprintf(root, sizeof root, "%s/tests/fixtures/saved", KEEL_SOURCE_DIR);
    char p[600];
    snprintf(p, sizeof p, "%s/MANIFEST.json", root);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f, "%s missing (tools/make_save_fixtures.py)", p);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    json_t *j = keel_json_parse(buf, n, p);
    cr_assert_not_null(j, "%s", keel_last_error());
    return j;
}

static keel_tensor *npy(const char *rel) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    keel_tensor *t = keel_load_npy(p);
    cr_assert_not_null(t, "%s", keel_last_error());
    return t;
}

/* x of a manifest entry: one tensor, or a list of them (kept in parts for freeing) */
static keel_tensor *inputs(const json_t *list, keel_tensor **parts, int *n) {
    *n = (int)json_array_size(list);
    for (int i = 0; i < *n; i++)
        parts[i] = npy(json_string_value(json_object_get(json_array_get(list, (size_t)i), "file")));
    if (*n == 1) return parts[0];
    return keel_tensor_list(*n, (const keel_tensor *const *)parts);
}

static void free_inputs(keel_tensor *x, keel_tensor **parts, int n) {
    if (n > 1) keel_tensor_free(x);
    for (int i = 0; i < n; i++)
        keel_tensor_free(parts[i]);
}

static void expect_close(const keel_tensor *got, const keel_tensor *want, double rel,
                         const char *what) {
    cr_assert_eq(keel_tensor_size(got), keel_tensor_size(want), "%s: sizes differ", what);
    const float *g = keel_tensor_cdata(got), *w = keel_tensor_cdata(want);
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < keel_tensor_size(got); i++) {
        double d = fabs((double)g[i] - w[i]) / fmax(fabs((double)w[i]), 1.0);
        if (d > worst || isnan(d)) worst = d, at = i;
    }
    cr_expect(worst <= rel, "%s: element %lld: keel %.9g, Keras %.9g (relative %.3g)", what,
              (long long)at, (double)g[at], (double)w[at], worst);
}

static void check_predictions(keel_model *m, const json_t *entry, const json_t *outs,
                              const char *what) {
    keel_tensor *parts[8];
    int nin;
    keel_tensor *x = inputs(json_object_get(entry, "inputs"), parts, &nin);
    size_t nout = json_array_size(outs);
    keel_tensor *pred[8] = {0};
    cr_assert_eq(keel_predict_outputs(m, x, pred, 8), (int)nout, "%s: %s", what, keel_last_error());
    for (size_t k = 0; k < nout; k++) {
        keel_tensor *want =
            npy(json_string_value(json_object_get(json_array_get(outs, k), "file")));
        expect_close(pred[k], want, 1e-5, what);
        keel_tensor_free(want), keel_tensor_free(pred[k]);
    }
    free_inputs(x, parts, nin);
}

static void check_evaluate(keel_model *m, const json_t *entry, const char *what) {
    const json_t *ev = json_object_get(entry, "evaluate");
    if (!json_is_object(ev) || !keel_model_is_compiled(m)) return;
    keel_tensor *xp[8], *tp[8];
    int nx, nt;
    keel_tensor *x = inputs(json_object_get(entry, "inputs"), xp, &nx);
    keel_tensor *t = inputs(json_object_get(entry, "targets"), tp, &nt);
    double res[32];
    const char *names[32];
    int n = keel_model_metric_names(m, names, 32);
    cr_assert_eq(keel_evaluate(m, x, t, res, 32, .verbose = 0), KEEL_OK, "%s: %s", what,
                 keel_last_error());
    for (int i = 0; i < n; i++) {
        const json_t *v = json_object_get(ev, names[i]);
        if (!v) continue;
        double want = json_number_value(v);
        cr_expect(fabs(res[i] - want) <= 1e-4 * fmax(fabs(want), 1.0),
                  "%s: %s keel %.7g Keras %.7g", what, names[i], res[i], want);
    }
    free_inputs(x, xp, nx), free_inputs(t, tp, nt);
}

static void check_continue(keel_model *m, const json_t *entry, const json_t *c, const char *what) {
    keel_tensor *xp[8], *tp[8];
    int nx, nt;
    keel_tensor *x = inputs(json_object_get(entry, "inputs"), xp, &nx);
    keel_tensor *t = inputs(json_object_get(entry, "targets"), tp, &nt);
    double res[32];
    cr_assert(keel_model_is_compiled(m), "%s: not compiled", what);
    cr_assert_eq(keel_train_on_batch(m, x, t, res, 32), KEEL_OK, "%s: %s", what, keel_last_error());
    double want = json_number_value(json_object_get(json_object_get(c, "train_on_batch"), "loss"));
    cr_expect(fabs(res[0] - want) <= 1e-4 * fmax(fabs(want), 1.0),
              "%s: train_on_batch loss keel %.7g Keras %.7g", what, res[0], want);
    free_inputs(x, xp, nx), free_inputs(t, tp, nt);
    /* the step moved the weights as Keras's did: the optimizer state came back */
    check_predictions(m, entry, json_object_get(c, "predictions_after"), what);
}

static void run_version(const char *version) {
    json_t *man = manifest();
    const json_t *models = json_object_get(man, "models"), *e;
    size_t i;
    int files = 0;
    json_array_foreach(models, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "version")), version)) continue;
        const json_t *f;
        size_t k;
        json_array_foreach(json_object_get(e, "files"), k, f) {
            const char *rel = json_string_value(json_object_get(f, "file"));
            const char *fmt = json_string_value(json_object_get(f, "format"));
            char p[700], what[760];
            snprintf(p, sizeof p, "%s/%s", root, rel);
            snprintf(what, sizeof what, "%s (%s)", rel, fmt);
            keel_model *m;
            if (!strcmp(fmt, "k3-weights-h5")) {
                /* the architecture from the model's .keras, then these weights */
                char arch[700];
                snprintf(arch, sizeof arch, "%s/%.*s.keras", root, (int)(strlen(rel) - 11), rel);
                m = keel_load(arch);
                cr_assert_not_null(m, "%s: %s", arch, keel_last_error());
                cr_assert_eq(keel_load_weights(m, p), KEEL_OK, "%s: %s", what, keel_last_error());
            } else {
                m = keel_load(p);
                cr_assert_not_null(m, "%s: %s", what, keel_last_error());
            }
            files++;
            check_predictions(m, e, json_object_get(e, "outputs"), what);
            if (strcmp(fmt, "k3-weights-h5")) check_evaluate(m, e, what);
            const json_t *c = json_object_get(json_object_get(e, "continue"), rel);
            if (c && strcmp(fmt, "k3-weights-h5")) check_continue(m, e, c, what);
            keel_model_free(m);
        }
    }
    cr_expect_gt(files, 7, "only %d %s files", files, version);
    json_decref(man);
}

Test(keras_files, tf_keras_2_15_h5_and_keras) {
    run_version("tf2");
}

Test(keras_files, keras_3_keras_and_weights) {
    run_version("k3");
}
