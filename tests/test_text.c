/* test_text.c: Tokenizer and pad_sequences against tf.keras 2.15 (tests/fixtures/keras_text.txt,
 * made by tools/make_text_fixtures.py: one JSON record a line), keel's JSON read by Keras and
 * Keras's read by keel (byte for byte back), the tokenize tool, and every error: bad arguments,
 * invalid UTF-8, and hostile JSON (every truncation of a real one, wrong types, huge numbers,
 * deep nesting) giving a message, never a crash. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h" /* keel_last_status */

/* ---- the fixture */

static json_t **records;
static int n_records;

static void load_fixture(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/keras_text.txt", KEEL_SOURCE_DIR);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "cannot open %s (python3 tools/make_text_fixtures.py %s)", path, path);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        if (line[0] == '#') continue;
        json_error_t e;
        json_t *r = json_loads(line, 0, &e);
        cr_assert_not_null(r, "%s: %s", path, e.text);
        records = realloc(records, (size_t)(n_records + 1) * sizeof *records);
        records[n_records++] = r;
    }
    free(line);
    fclose(fp);
    cr_assert(n_records > 20, "%s: only %d records", path, n_records);
}

static void free_fixture(void) {
    for (int i = 0; i < n_records; i++)
        json_decref(records[i]);
    free(records);
    records = NULL;
    n_records = 0;
}

TestSuite(text, .init = load_fixture, .fini = free_fixture);

static const char *kind_of(const json_t *r) {
    return json_string_value(json_object_get(r, "kind"));
}

/* A fixture text array as C strings: a JSON string as it is, {"hex": ...} as its bytes. */
typedef struct text_list {
    char **s;
    int64_t n;
} text_list;

static text_list get_texts(const json_t *arr) {
    text_list t = {calloc(json_array_size(arr) + 1, sizeof(char *)), (int64_t)json_array_size(arr)};
    for (int64_t i = 0; i < t.n; i++) {
        const json_t *v = json_array_get(arr, (size_t)i);
        if (json_is_string(v)) {
            t.s[i] = strdup(json_string_value(v));
            continue;
        }
        const char *hex = json_string_value(json_object_get(v, "hex"));
        size_t len = strlen(hex) / 2;
        t.s[i] = calloc(len + 1, 1);
        for (size_t k = 0; k < len; k++) {
            unsigned b;
            sscanf(hex + 2 * k, "%2x", &b);
            t.s[i][k] = (char)b;
        }
    }
    return t;
}

static void free_texts(text_list t) {
    for (int64_t i = 0; i < t.n; i++)
        free(t.s[i]);
    free(t.s);
}

#define CTEXTS(t) ((const char *const *)(t).s)

static keel_tokenizer *tokenizer_for(const json_t *opts) {
    const json_t *v;
    keel_tokenizer_opts o = {.lower = 1};
    if ((v = json_object_get(opts, "num_words"))) o.num_words = json_integer_value(v);
    if ((v = json_object_get(opts, "filters"))) o.filters = json_string_value(v);
    if ((v = json_object_get(opts, "lower"))) o.lower = json_is_true(v);
    if ((v = json_object_get(opts, "split"))) o.split = json_string_value(v);
    if ((v = json_object_get(opts, "char_level"))) o.char_level = json_is_true(v);
    if ((v = json_object_get(opts, "oov_token"))) o.oov_token = json_string_value(v);
    keel_tokenizer *t = keel_tokenizer_new_(o);
    cr_assert_not_null(t, "%s", keel_last_error());
    return t;
}

/* A fixture list of lists of integers as a keel_sequences the test owns (free_seqs). */
static keel_sequences seqs_of(const json_t *arr) {
    keel_sequences s = {.count = (int64_t)json_array_size(arr)};
    s.offsets = calloc((size_t)s.count + 1, sizeof *s.offsets);
    size_t total = 0, i;
    json_t *row;
    json_array_foreach(arr, i, row) total += json_array_size(row);
    s.values = calloc(total + 1, sizeof *s.values);
    int64_t k = 0;
    json_array_foreach(arr, i, row) {
        size_t j;
        json_t *v;
        json_array_foreach(row, j, v) s.values[k++] = (int32_t)json_integer_value(v);
        s.offsets[i + 1] = k;
    }
    return s;
}

static void free_seqs(keel_sequences s) {
    free(s.offsets);
    free(s.values);
}

static void expect_sequences(const keel_sequences *got, const json_t *want, const char *what) {
    cr_assert_not_null(got, "%s: %s", what, keel_last_error());
    cr_assert_eq(got->count, (int64_t)json_array_size(want), "%s: count", what);
    for (int64_t i = 0; i < got->count; i++) {
        const json_t *row = json_array_get(want, (size_t)i);
        cr_assert_eq(keel_sequences_length(got, i), (int64_t)json_array_size(row),
                     "%s: sequence %lld length", what, (long long)i);
        for (int64_t k = 0; k < keel_sequences_length(got, i); k++)
            cr_expect_eq(keel_sequences_at(got, i)[k],
                         json_integer_value(json_array_get(row, (size_t)k)),
                         "%s: sequence %lld value %lld", what, (long long)i, (long long)k);
    }
}

/* Rows of numbers (a matrix from Keras) against an (n, W) tensor; tfidf within 1e-6. */
static void expect_matrix(keel_tensor *x, const json_t *want, double tol, const char *what) {
    cr_assert_not_null(x, "%s: %s", what, keel_last_error());
    cr_assert_eq(keel_tensor_dim(x, 0), (int64_t)json_array_size(want), "%s: rows", what);
    for (size_t i = 0; i < json_array_size(want); i++) {
        const json_t *row = json_array_get(want, i);
        cr_assert_eq(keel_tensor_dim(x, 1), (int64_t)json_array_size(row), "%s: columns", what);
        for (size_t j = 0; j < json_array_size(row); j++) {
            float w = (float)json_number_value(json_array_get(row, j));
            float g = keel_tensor_data(x)[i * json_array_size(row) + j];
            cr_expect(tol ? fabsf(g - w) <= tol * fmaxf(1, fabsf(w)) : g == w,
                      "%s: [%zu][%zu] = %.9g, Keras %.9g", what, i, j, g, w);
        }
    }
    keel_tensor_free(x);
}

/* The dict `field` of a tokenizer JSON's config, parsed. */
static json_t *config_dict(const char *tokenizer_json, const char *field) {
    json_t *root = json_loads(tokenizer_json, 0, NULL);
    cr_assert_not_null(root);
    const char *s = json_string_value(json_object_get(json_object_get(root, "config"), field));
    cr_assert_not_null(s, "config.%s", field);
    json_t *d = json_loads(s, 0, NULL);
    json_decref(root);
    return d;
}

/* ---- Tokenizer against Keras */

static void check_fitted(keel_tokenizer *t, const json_t *r, const char *name) {
    const json_t *wi = json_object_get(r, "word_index"), *p;
    size_t i;
    cr_assert_eq(keel_tokenizer_word_index_size(t), (int64_t)json_array_size(wi), "%s", name);
    json_array_foreach(wi, i, p) {
        int64_t index = -1;
        const char *w = keel_tokenizer_word_index_item(t, (int64_t)i, &index);
        const char *kw = json_string_value(json_array_get(p, 0));
        cr_assert_not_null(w, "%s: word_index[%zu]", name, i);
        cr_expect_str_eq(w, kw, "%s: word_index entry %zu", name, i);
        cr_expect_eq(index, json_integer_value(json_array_get(p, 1)), "%s: %s", name, kw);
        cr_expect_eq(keel_tokenizer_word_index(t, kw), index, "%s: lookup %s", name, kw);
    }
    const json_t *wc = json_object_get(r, "word_counts");
    cr_assert_eq(keel_tokenizer_word_counts_size(t), (int64_t)json_array_size(wc), "%s", name);
    json_array_foreach(wc, i, p) {
        int64_t count = -1;
        const char *w = keel_tokenizer_word_counts_item(t, (int64_t)i, &count);
        cr_expect_str_eq(w, json_string_value(json_array_get(p, 0)), "%s: word_counts", name);
        cr_expect_eq(count, json_integer_value(json_array_get(p, 1)), "%s: count of %s", name, w);
        cr_expect_eq(keel_tokenizer_word_count(t, w), count, "%s", name);
    }
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(r, "word_docs"), key, v) cr_expect_eq(
        keel_tokenizer_word_docs(t, key), json_integer_value(v), "%s: docs %s", name, key);
    int has_index_1 = 0;
    json_array_foreach(json_object_get(r, "index_word"), i, p) {
        int64_t index = atoll(json_string_value(json_array_get(p, 0)));
        has_index_1 |= index == 1;
        const char *w = keel_tokenizer_index_word(t, index);
        cr_assert_not_null(w, "%s: index_word[%lld]", name, (long long)index);
        cr_expect_str_eq(w, json_string_value(json_array_get(p, 1)), "%s", name);
    }
    if (!has_index_1) cr_expect_null(keel_tokenizer_index_word(t, 1), "%s: index 1", name);
    cr_expect_eq(keel_tokenizer_document_count(t),
                 json_integer_value(json_object_get(r, "document_count")), "%s: document_count",
                 name);
}

/* Sequences, sequences_to_texts and the four matrices of a fitted or loaded tokenizer. */
static void check_outputs(keel_tokenizer *t, const json_t *r, const char *name) {
    text_list apply = get_texts(json_object_get(r, "apply"));
    keel_sequences *s = keel_tokenizer_texts_to_sequences(t, CTEXTS(apply), apply.n);
    expect_sequences(s, json_object_get(r, "sequences"), name);
    keel_sequences_free(s);
    keel_sequences in = seqs_of(json_object_get(r, "seq_in"));
    char **out = keel_tokenizer_sequences_to_texts(t, &in);
    cr_assert_not_null(out, "%s: %s", name, keel_last_error());
    const json_t *want = json_object_get(r, "texts_out");
    for (int64_t i = 0; i < in.count; i++)
        cr_expect_str_eq(out[i], json_string_value(json_array_get(want, (size_t)i)),
                         "%s: sequences_to_texts %lld", name, (long long)i);
    cr_expect_null(out[in.count]);
    free(out);
    const char *key;
    json_t *m;
    json_object_foreach(json_object_get(r, "matrix"), key, m) {
        char what[128];
        snprintf(what, sizeof what, "%s: texts_to_matrix %s", name, key);
        expect_matrix(keel_tokenizer_texts_to_matrix(t, CTEXTS(apply), apply.n, key), m,
                      strcmp(key, "tfidf") ? 0 : 1e-6, what);
    }
    json_object_foreach(json_object_get(r, "seq_matrix"), key, m) {
        char what[128];
        snprintf(what, sizeof what, "%s: sequences_to_matrix %s", name, key);
        expect_matrix(keel_tokenizer_sequences_to_matrix(t, &in, key), m,
                      strcmp(key, "tfidf") ? 0 : 1e-6, what);
    }
    free_seqs(in);
    free_texts(apply);
}

/* keel's to_json of the same fit: the same bytes for every field but word_docs / index_docs,
 * whose order in Keras is a Python set's; those are compared as dictionaries. */
static void check_json(keel_tokenizer *t, const json_t *r, const char *name) {
    const char *keras = json_string_value(json_object_get(r, "json"));
    char *mine = keel_tokenizer_to_json(t);
    cr_assert_not_null(mine, "%s", keel_last_error());
    json_t *a = json_loads(mine, 0, NULL), *b = json_loads(keras, 0, NULL);
    cr_assert_not_null(a, "%s: keel's JSON does not parse", name);
    json_t *ca = json_object_get(a, "config"), *cb = json_object_get(b, "config");
    cr_expect_eq(json_object_size(ca), json_object_size(cb));
    const char *key;
    json_t *v;
    json_object_foreach(cb, key, v) {
        if (!strcmp(key, "word_docs") || !strcmp(key, "index_docs")) {
            json_t *da = config_dict(mine, key), *db = config_dict(keras, key);
            cr_expect(json_equal(da, db), "%s: %s differs", name, key);
            json_decref(da);
            json_decref(db);
        } else {
            cr_expect(json_equal(json_object_get(ca, key), v), "%s: config.%s differs", name, key);
        }
    }
    cr_expect(json_equal(json_object_get(a, "class_name"), json_object_get(b, "class_name")));
    json_decref(a);
    json_decref(b);
    free(mine);
}

Test(text, tokenizer_matches_keras) {
    int cases = 0;
    for (int k = 0; k < n_records; k++) {
        const json_t *r = records[k];
        if (strcmp(kind_of(r), "tokenizer")) continue;
        const char *name = json_string_value(json_object_get(r, "name"));
        keel_tokenizer *t = tokenizer_for(json_object_get(r, "opts"));
        text_list fit = get_texts(json_object_get(r, "fit"));
        cr_assert_eq(keel_tokenizer_fit_on_texts(t, CTEXTS(fit), fit.n), KEEL_OK, "%s: %s", name,
                     keel_last_error());
        free_texts(fit);
        if (json_object_get(r, "fit2")) {
            text_list fit2 = get_texts(json_object_get(r, "fit2"));
            cr_assert_eq(keel_tokenizer_fit_on_texts(t, CTEXTS(fit2), fit2.n), KEEL_OK);
            free_texts(fit2);
        }
        check_fitted(t, r, name);
        check_outputs(t, r, name);
        check_json(t, r, name);
        keel_tokenizer_free(t);
        cases++;
    }
    cr_expect_geq(cases, 10);
}

/* A tokenizer that Keras wrote, read by keel: the same results, and to_json gives back the
 * very bytes Keras wrote. */
Test(text, keras_json_loads_in_keel) {
    for (int k = 0; k < n_records; k++) {
        const json_t *r = records[k];
        if (strcmp(kind_of(r), "tokenizer")) continue;
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *keras = json_string_value(json_object_get(r, "json"));
        keel_tokenizer *t = keel_tokenizer_from_json(keras);
        cr_assert_not_null(t, "%s: %s", name, keel_last_error());
        check_fitted(t, r, name);
        check_outputs(t, r, name);
        char *back = keel_tokenizer_to_json(t);
        cr_expect_str_eq(back, keras, "%s: keel's to_json of Keras's JSON", name);
        free(back);
        keel_tokenizer_free(t);
    }
}

/* keel's JSON, read by Keras in the fixture script: every attribute equal to a tokenizer Keras
 * fitted itself. keel must still write those very bytes for the verdict to hold. */
Test(text, keel_json_loads_in_keras) {
    int cases = 0;
    for (int k = 0; k < n_records; k++) {
        const json_t *r = records[k];
        if (strcmp(kind_of(r), "c_json")) continue;
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(r, "checks"), key, v)
            cr_expect(json_is_true(v), "Keras read keel's JSON with a different %s", key);
        keel_tokenizer *t = tokenizer_for(json_object_get(r, "opts"));
        text_list fit = get_texts(json_object_get(r, "fit"));
        cr_assert_eq(keel_tokenizer_fit_on_texts(t, CTEXTS(fit), fit.n), KEEL_OK);
        char *mine = keel_tokenizer_to_json(t);
        cr_expect_str_eq(mine, json_string_value(json_object_get(r, "c_json")),
                         "keel's JSON changed since Keras checked it: rerun the fixture script");
        text_list apply = get_texts(json_object_get(r, "apply"));
        keel_sequences *s = keel_tokenizer_texts_to_sequences(t, CTEXTS(apply), apply.n);
        expect_sequences(s, json_object_get(r, "sequences"), "c_json");
        keel_sequences_free(s);
        free(mine);
        free_texts(fit);
        free_texts(apply);
        keel_tokenizer_free(t);
        cases++;
    }
    cr_expect_eq(cases, 3);
}

/* ---- pad_sequences against Keras */

Test(text, pad_sequences_matches_keras) {
    int cases = 0;
    for (int k = 0; k < n_records; k++) {
        const json_t *r = records[k];
        if (strcmp(kind_of(r), "pad")) continue;
        const json_t *o = json_object_get(r, "opts"), *v;
        keel_pad_opts po = {.padding = "pre", .truncating = "pre"};
        if ((v = json_object_get(o, "maxlen"))) po.maxlen = json_integer_value(v);
        if ((v = json_object_get(o, "padding"))) po.padding = json_string_value(v);
        if ((v = json_object_get(o, "truncating"))) po.truncating = json_string_value(v);
        if ((v = json_object_get(o, "value"))) po.value = (float)json_number_value(v);
        keel_sequences s = seqs_of(json_object_get(r, "sequences"));
        keel_tensor *x = keel_pad_sequences_(&s, po);
        if ((v = json_object_get(r, "shape"))) {
            cr_assert_not_null(x, "%s", keel_last_error());
            cr_expect_eq(keel_tensor_dim(x, 0), json_integer_value(json_array_get(v, 0)));
            cr_expect_eq(keel_tensor_dim(x, 1), json_integer_value(json_array_get(v, 1)));
            keel_tensor_free(x);
        } else {
            expect_matrix(x, json_object_get(r, "expected"), 0, "pad_sequences");
        }
        free_seqs(s);
        cases++;
    }
    cr_expect_eq(cases, 10);
}

Test(text, pad_sequences_defaults_and_shapes) {
    keel_sequences s = {
        .count = 3, .offsets = (int64_t[]){0, 1, 3, 6}, .values = (int32_t[]){1, 2, 3, 4, 5, 6}};
    keel_tensor *x = keel_pad_sequences(&s);
    cr_assert_not_null(x);
    const float want[9] = {0, 0, 1, 0, 2, 3, 4, 5, 6}; /* Keras's docstring example */
    for (int i = 0; i < 9; i++)
        cr_expect_eq(keel_tensor_data(x)[i], want[i]);
    keel_tensor_free(x);
    /* no sequences but a maxlen: (0, maxlen), as np.full((0, 3)) */
    keel_sequences none = {.count = 0, .offsets = (int64_t[]){0}};
    x = keel_pad_sequences(&none, .maxlen = 3);
    cr_assert_not_null(x, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_dim(x, 0), 0);
    cr_expect_eq(keel_tensor_dim(x, 1), 3);
    keel_tensor_free(x);
    /* value -0.5 pads with 0 (int32 truncation), never -0 */
    x = keel_pad_sequences(&s, .maxlen = 4, .value = -0.5f);
    cr_assert_not_null(x);
    cr_expect(!signbit(keel_tensor_data(x)[0]));
    keel_tensor_free(x);
}

/* ---- behaviour keel defines (invalid UTF-8, Unicode lowercasing, fitting after loading) */

Test(text, invalid_utf8_is_replaced_like_python) {
    keel_tokenizer *t = keel_tokenizer_new();
    const char *texts[] = {"a\xff"
                           "b \xe2\x82 c\xc3\xa9",
                           "\xed\xa0\x80"};
    cr_assert_eq(keel_tokenizer_fit_on_texts(t, texts, 2), KEEL_OK);
    /* b"a\xffb".decode("utf-8", "replace") == "a\ufffdb"; a truncated sequence is one U+FFFD,
     * a surrogate (not UTF-8) three, one per byte */
    cr_expect_gt(keel_tokenizer_word_index(t, "a\xEF\xBF\xBD"
                                              "b"),
                 0);
    cr_expect_gt(keel_tokenizer_word_index(t, "\xEF\xBF\xBD"), 0);
    cr_expect_gt(keel_tokenizer_word_index(t, "c\xc3\xa9"), 0);
    cr_expect_gt(keel_tokenizer_word_index(t, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"), 0);
    cr_expect_eq(keel_tokenizer_word_index_size(t), 4);
    /* what keel writes stays valid JSON, so Keras can read it */
    char *json = keel_tokenizer_to_json(t);
    json_t *root = json_loads(json, 0, NULL);
    cr_expect_not_null(root);
    json_decref(root);
    free(json);
    keel_tokenizer_free(t);
}

Test(text, lowercase_is_pythons) {
    keel_tokenizer *t = keel_tokenizer_new();
    const char *texts[] = {"İSTANBUL ΟΔΟΣ ẞ ǅ \xc7\x84 ΣΑ"};
    cr_assert_eq(keel_tokenizer_fit_on_texts(t, texts, 1), KEEL_OK);
    /* "İ".lower() == "i̇" (i + U+0307); final sigma; capital sharp s; titlecase digraph */
    const char *words[] = {"i\xcc\x87stanbul", "οδος", "ß", "ǆ", "ǆ", "σα"};
    for (int i = 0; i < 6; i++)
        cr_expect_gt(keel_tokenizer_word_index(t, words[i]), 0, "%s", words[i]);
    cr_expect_eq(keel_tokenizer_word_count(t, "ǆ"), 2);
    keel_tokenizer_free(t);
}

Test(text, keel_json_round_trips_and_fits_further) {
    keel_tokenizer *t = keel_tokenizer_new(.oov_token = "<unk>", .num_words = 10);
    const char *texts[] = {"one two two three three three", "ünï \x7f del"};
    cr_assert_eq(keel_tokenizer_fit_on_texts(t, texts, 2), KEEL_OK);
    char *a = keel_tokenizer_to_json(t);
    cr_expect_not_null(strstr(a, "\\\\u007f"), "DEL is escaped, as Python's json.dumps does");
    keel_tokenizer *u = keel_tokenizer_from_json(a);
    cr_assert_not_null(u, "%s", keel_last_error());
    char *b = keel_tokenizer_to_json(u);
    cr_expect_str_eq(a, b);
    /* Keras raises KeyError fitting a loaded tokenizer on a new word; keel carries on */
    const char *more[] = {"four two"};
    cr_assert_eq(keel_tokenizer_fit_on_texts(u, more, 1), KEEL_OK);
    cr_assert_eq(keel_tokenizer_fit_on_texts(t, more, 1), KEEL_OK);
    char *c = keel_tokenizer_to_json(t), *d = keel_tokenizer_to_json(u);
    cr_expect_str_eq(c, d, "a loaded tokenizer fits on as the original does");
    cr_expect_eq(keel_tokenizer_word_index(u, "two"), 2);
    cr_expect_eq(keel_tokenizer_word_docs(u, "two"), 2);
    free(a), free(b), free(c), free(d);
    keel_tokenizer_free(t);
    keel_tokenizer_free(u);
}

Test(text, empty_inputs_follow_keras) {
    keel_tokenizer *t = keel_tokenizer_new();
    /* fit_on_texts([]) and texts_to_sequences([]) are fine in Keras */
    cr_expect_eq(keel_tokenizer_fit_on_texts(t, NULL, 0), KEEL_OK);
    keel_sequences *s = keel_tokenizer_texts_to_sequences(t, NULL, 0);
    cr_assert_not_null(s);
    cr_expect_eq(s->count, 0);
    keel_sequences_free(s);
    /* an unfitted tokenizer without an OOV token gives empty sequences, as Keras */
    const char *texts[] = {"hello world", ""};
    s = keel_tokenizer_texts_to_sequences(t, texts, 2);
    cr_assert_not_null(s);
    cr_expect_eq(keel_sequences_length(s, 0), 0);
    cr_expect_eq(keel_sequences_length(s, 9), 0);
    cr_expect_null(keel_sequences_at(s, -1));
    keel_sequences_free(s);
    cr_expect_eq(keel_tokenizer_fit_on_texts(t, texts, 2), KEEL_OK);
    cr_expect_eq(keel_tokenizer_document_count(t), 2);
    cr_expect_null(keel_tokenizer_word_index_item(t, 2, NULL));
    cr_expect_null(keel_tokenizer_word_counts_item(t, -1, NULL));
    cr_expect_null(keel_tokenizer_index_word(t, 0));
    cr_expect_eq(keel_tokenizer_word_index(t, NULL), 0);
    cr_expect_eq(keel_tokenizer_word_index(NULL, "hello"), 0);
    cr_expect_eq(keel_tokenizer_word_index_size(NULL), 0);
    keel_tokenizer_free(t);
    keel_tokenizer_free(NULL);
    keel_sequences_free(NULL);
}

/* ---- errors: each a status and a line naming what is wrong */

/* call returns `status` (or NULL with it recorded), and the message holds `word` */
#define EXPECT_FAIL(call, status, word)                                                            \
    do {                                                                                           \
        cr_expect_eq((call), (status), "%s: message \"%s\"", #call, keel_last_error());            \
        cr_expect_not_null(strstr(keel_last_error(), word), "%s: \"%s\" lacks \"%s\"", #call,      \
                           keel_last_error(), word);                                               \
    } while (0)
#define EXPECT_NULL(call, status, word)                                                            \
    do {                                                                                           \
        void *p_ = (void *)(call);                                                                 \
        cr_expect_null(p_, "%s should fail", #call);                                               \
        cr_expect_eq(keel_last_status(), (status), "%s: %s", #call, keel_last_error());            \
        cr_expect_not_null(strstr(keel_last_error(), word), "%s: \"%s\" lacks \"%s\"", #call,      \
                           keel_last_error(), word);                                               \
    } while (0)

Test(text, argument_errors) {
    EXPECT_NULL(keel_tokenizer_new(.num_words = -1), KEEL_ERR_ARG, "num_words is -1");
    EXPECT_NULL(keel_tokenizer_new(.split = ""), KEEL_ERR_ARG, "split is empty");
    EXPECT_NULL(keel_tokenizer_new(.filters = "\xff"), KEEL_ERR_ARG, "filters is not valid UTF-8");
    EXPECT_NULL(keel_tokenizer_new(.oov_token = "\xc3"), KEEL_ERR_ARG,
                "oov_token is not valid UTF-8");
    keel_tokenizer *c = keel_tokenizer_new(.split = "", .char_level = 1);
    cr_expect_not_null(c, "an empty split is fine at char level (never used)");
    keel_tokenizer_free(c);

    keel_tokenizer *t = keel_tokenizer_new(.oov_token = "<unk>");
    const char *texts[] = {"a b", NULL};
    EXPECT_FAIL(keel_tokenizer_fit_on_texts(NULL, texts, 1), KEEL_ERR_ARG, "tokenizer is NULL");
    EXPECT_FAIL(keel_tokenizer_fit_on_texts(t, NULL, 1), KEEL_ERR_ARG, "texts is NULL");
    EXPECT_FAIL(keel_tokenizer_fit_on_texts(t, texts, 2), KEEL_ERR_ARG, "texts[1] is NULL");
    EXPECT_FAIL(keel_tokenizer_fit_on_texts(t, texts, -1), KEEL_ERR_ARG, "n is -1");
    cr_expect_eq(keel_tokenizer_document_count(t), 0, "a refused call changes nothing");
    /* an OOV token with no index yet: Keras would put None in the sequence */
    EXPECT_NULL(keel_tokenizer_texts_to_sequences(t, texts, 1), KEEL_ERR_STATE,
                "texts[0]: the OOV token");
    EXPECT_NULL(keel_tokenizer_texts_to_sequences(t, texts, 2), KEEL_ERR_ARG, "texts[1] is NULL");
    EXPECT_NULL(keel_tokenizer_texts_to_matrix(t, texts, 1, "binary"), KEEL_ERR_STATE, "OOV token");
    EXPECT_NULL(
        keel_tokenizer_sequences_to_matrix(t, &(keel_sequences){0, (int64_t[]){0}, NULL}, "binary"),
        KEEL_ERR_STATE, "fit on some text first");
    cr_assert_eq(keel_tokenizer_fit_on_texts(t, texts, 1), KEEL_OK);
    keel_sequences bad = {.count = 2, .offsets = (int64_t[]){0, 2, 1}, .values = (int32_t[]){1, 2}};
    keel_sequences neg = {.count = 1, .offsets = (int64_t[]){0, 2}, .values = (int32_t[]){1, -2}};
    EXPECT_NULL(keel_tokenizer_texts_to_matrix(t, texts, 1, "tf-idf"), KEEL_ERR_ARG,
                "unknown mode \"tf-idf\"");
    EXPECT_NULL(keel_tokenizer_sequences_to_matrix(t, &neg, "count"), KEEL_ERR_ARG,
                "negative index (-2)");
    EXPECT_NULL(keel_tokenizer_sequences_to_matrix(t, &bad, "count"), KEEL_ERR_ARG,
                "offsets decrease at 1");
    EXPECT_NULL(keel_tokenizer_sequences_to_matrix(NULL, &bad, "count"), KEEL_ERR_ARG,
                "tokenizer is NULL");
    EXPECT_NULL(keel_tokenizer_sequences_to_texts(t, NULL), KEEL_ERR_ARG, "sequences is NULL");
    EXPECT_NULL(keel_tokenizer_sequences_to_texts(t, &bad), KEEL_ERR_ARG, "offsets decrease");
    EXPECT_NULL(keel_tokenizer_sequences_to_texts(NULL, &neg), KEEL_ERR_ARG, "tokenizer is NULL");
    EXPECT_NULL(keel_tokenizer_to_json(NULL), KEEL_ERR_ARG, "tokenizer is NULL");
    keel_tokenizer_free(t);
    keel_tokenizer *u = keel_tokenizer_new(.num_words = 5);
    EXPECT_NULL(keel_tokenizer_texts_to_matrix(u, texts, 1, "tfidf"), KEEL_ERR_STATE,
                "tfidf needs a fitted");
    keel_tokenizer_free(u);

    keel_sequences s = {.count = 1, .offsets = (int64_t[]){0, 2}, .values = (int32_t[]){1, 2}};
    EXPECT_NULL(keel_pad_sequences(&s, .maxlen = -1), KEEL_ERR_ARG, "maxlen is -1");
    EXPECT_NULL(keel_pad_sequences(&s, .padding = "middle"), KEEL_ERR_ARG,
                "padding \"middle\" not understood");
    EXPECT_NULL(keel_pad_sequences(&s, .truncating = "end"), KEEL_ERR_ARG, "truncating \"end\"");
    EXPECT_NULL(keel_pad_sequences(&s, .value = NAN), KEEL_ERR_ARG, "value nan");
    EXPECT_NULL(keel_pad_sequences(&s, .value = 1e8f), KEEL_ERR_ARG, "value 1e+08");
    EXPECT_NULL(keel_pad_sequences(NULL), KEEL_ERR_ARG, "sequences is NULL");
    EXPECT_NULL(keel_pad_sequences(&bad), KEEL_ERR_ARG, "offsets decrease at 1");
    keel_sequences big = {
        .count = 1, .offsets = (int64_t[]){0, 1}, .values = (int32_t[]){16777217}};
    EXPECT_NULL(keel_pad_sequences(&big), KEEL_ERR_ARG, "holds 16777217");
    keel_sequences none = {.count = 0, .offsets = (int64_t[]){0}};
    EXPECT_NULL(keel_pad_sequences(&none), KEEL_ERR_ARG, "no sequences and no maxlen");
    keel_sequences nullv = {.count = 1, .offsets = (int64_t[]){0, 3}};
    EXPECT_NULL(keel_pad_sequences(&nullv), KEEL_ERR_ARG, "values is NULL");
    keel_sequences negoff = {.count = 1, .offsets = (int64_t[]){-1, 0}, .values = s.values};
    EXPECT_NULL(keel_pad_sequences(&negoff), KEEL_ERR_ARG, "offsets[0] is -1");
}

/* Every proper prefix of a real Keras JSON is refused with a message, never a crash. */
Test(text, truncated_json_is_refused) {
    const char *keras = NULL;
    for (int k = 0; k < n_records && !keras; k++)
        if (!strcmp(kind_of(records[k]), "tokenizer"))
            keras = json_string_value(json_object_get(records[k], "json"));
    size_t n = strlen(keras);
    char *buf = malloc(n + 1);
    for (size_t len = 0; len < n; len++) {
        memcpy(buf, keras, len);
        buf[len] = '\0';
        keel_tokenizer *t = keel_tokenizer_from_json(buf);
        cr_assert_null(t, "a prefix of %zu bytes loaded", len);
        cr_assert_neq(keel_last_error()[0], '\0');
    }
    free(buf);
    EXPECT_NULL(keel_tokenizer_from_json(""), KEEL_ERR_FORMAT, "not valid JSON at line 1");
    EXPECT_NULL(keel_tokenizer_from_json(NULL), KEEL_ERR_ARG, "json is NULL");
}

/* A config around one dict string, the others empty. */
static char *config_with(const char *extra, const char *word_counts, const char *word_docs,
                         const char *index_word) {
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "word_counts", word_counts, "word_docs", word_docs,
                  "index_docs", "{}", "index_word", index_word, "word_index", "{}");
    json_t *e = json_loads(extra, 0, NULL);
    cr_assert_not_null(e, "%s", extra);
    json_object_update(c, e);
    json_decref(e);
    json_t *root = json_pack("{s:s, s:o}", "class_name", "Tokenizer", "config", c);
    char *s = json_dumps(root, 0);
    json_decref(root);
    return s;
}

static void expect_refused(const char *extra, const char *wc, const char *wd, const char *iw,
                           const char *word) {
    char *j = config_with(extra, wc, wd, iw);
    keel_tokenizer *t = keel_tokenizer_from_json(j);
    cr_expect_null(t, "accepted: %s", j);
    cr_expect_not_null(strstr(keel_last_error(), word), "\"%s\" lacks \"%s\" for %s",
                       keel_last_error(), word, j);
    keel_tokenizer_free(t);
    free(j);
}

Test(text, hostile_json_is_refused) {
    char *ok = config_with("{}", "{\"a\": 1}", "{\"a\": 1}", "{\"1\": \"a\"}");
    keel_tokenizer *t = keel_tokenizer_from_json(ok);
    cr_expect_not_null(t, "%s", keel_last_error());
    keel_tokenizer_free(t);
    free(ok);
    /* wrong types and values of the settings */
    expect_refused("{\"num_words\": \"10\"}", "{}", "{}", "{}", "config.num_words is a string");
    expect_refused("{\"num_words\": 2.5}", "{}", "{}", "{}", "config.num_words is a real number");
    expect_refused("{\"num_words\": -3}", "{}", "{}", "{}", "num_words is -3");
    expect_refused("{\"lower\": 1}", "{}", "{}", "{}", "config.lower is an integer");
    expect_refused("{\"filters\": null}", "{}", "{}", "{}", "config.filters is null");
    expect_refused("{\"split\": \"\"}", "{}", "{}", "{}", "split is empty");
    expect_refused("{\"oov_token\": 7}", "{}", "{}", "{}", "config.oov_token is an integer");
    expect_refused("{\"document_count\": -1}", "{}", "{}", "{}", "document_count is -1");
    expect_refused("{\"analyzer\": \"split\"}", "{}", "{}", "{}", "config.analyzer");
    expect_refused("{\"nonsense\": 1}", "{}", "{}", "{}", "unknown key \"nonsense\"");
    expect_refused("{\"word_index\": {}}", "{}", "{}", "{}", "config.word_index is an object");
    /* the dicts */
    expect_refused("{}", "{\"a\": \"1\"}", "{}", "{}", "\"a\" maps to a string");
    expect_refused("{}", "{\"a\": -1}", "{}", "{}", "\"a\" maps to -1");
    expect_refused("{}", "[1, 2]", "{}", "{}", "config.word_counts holds an array");
    expect_refused("{}", "{\"a\": 1", "{}", "{}", "config.word_counts: not valid JSON");
    expect_refused("{}", "{\"a\": 1}", "{\"b\": 1}", "{}", "\"b\", which word_counts lacks");
    expect_refused("{}", "{}", "{}", "{\"x1\": \"a\"}", "key \"x1\" is not a decimal integer");
    expect_refused("{}", "{}", "{}", "{\"2147483648\": \"a\"}", "index 2147483648 out of range");
    expect_refused("{}", "{}", "{}", "{\"-1\": \"a\"}", "index -1 out of range");
    expect_refused("{}", "{}", "{}", "{\"1\": 1}", "maps to an integer, expected a string");
    /* huge numbers */
    expect_refused("{}", "{\"a\": 123456789012345678901234567890}", "{}", "{}", "too big integer");
    expect_refused("{}", "{\"a\": 1e400}", "{}", "{}", "real number overflow");
    EXPECT_NULL(keel_tokenizer_from_json("{\"config\": {\"document_count\": 1e400}}"),
                KEEL_ERR_FORMAT, "real number overflow");
    expect_refused("{}", "{\"a\": 1.0}", "{}", "{}", "maps to a real number");
    /* "\u0000" and bad escapes inside a word */
    expect_refused("{}", "{\"a\\u0000b\": 1}", "{}", "{}", "NUL byte in object key");
    expect_refused("{}", "{\"\\ud800\": 1}", "{}", "{}", "invalid Unicode");
    /* deep nesting, outside and inside the dict strings */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    EXPECT_NULL(keel_tokenizer_from_json(deep), KEEL_ERR_FORMAT, "maximum parsing depth reached");
    expect_refused("{}", deep, "{}", "{}", "maximum parsing depth");
    free(deep);
    /* not the shape of a tokenizer, invalid UTF-8, text after the value */
    EXPECT_NULL(keel_tokenizer_from_json("[1, 2]"), KEEL_ERR_FORMAT, "found an array");
    EXPECT_NULL(keel_tokenizer_from_json("{\"class_name\": \"Tokenizer\"}"), KEEL_ERR_FORMAT,
                "no config object");
    EXPECT_NULL(keel_tokenizer_from_json("{\"config\": {}}"), KEEL_ERR_FORMAT,
                "config has no \"word_counts\"");
    EXPECT_NULL(keel_tokenizer_from_json("{\"config\": {\"filters\": \"\xff\"}}"), KEEL_ERR_FORMAT,
                "not valid JSON");
    EXPECT_NULL(keel_tokenizer_from_json("{\"config\": {}} x"), KEEL_ERR_FORMAT,
                "end of file expected");
}

/* ---- the tokenize tool */

/* Runs build/tools/tokenize with args (shell words, already quoted) on input; returns the exit
 * status and the output in out (malloc'd), stderr in err. */
static int run_tool(const char *args, const char *input, char **out, char **err) {
    char dir[] = "/tmp/keel_test_text_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char in[256], o[256], e[256], cmd[4096];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(o, sizeof o, "%s/out.txt", dir);
    snprintf(e, sizeof e, "%s/err.txt", dir);
    FILE *f = fopen(in, "w");
    fputs(input, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s/tools/tokenize' %s < '%s' > '%s' 2> '%s'", KEEL_BINARY_DIR, args,
             in, o, e);
    int rc = system(cmd);
    const char *paths[2] = {o, e};
    char **dst[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        f = fopen(paths[i], "r");
        cr_assert_not_null(f);
        *dst[i] = calloc(1 << 16, 1);
        size_t got = fread(*dst[i], 1, (1 << 16) - 1, f);
        (*dst[i])[got] = '\0';
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Quotes each argument of a fixture record for the shell. */
static void shell_args(const json_t *arr, char *buf, size_t cap) {
    size_t i, n = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v) n +=
        (size_t)snprintf(buf + n, cap - n, "'%s' ", json_string_value(v));
}

Test(text, tokenize_tool_matches_keras) {
    int cases = 0;
    for (int k = 0; k < n_records; k++) {
        const json_t *r = records[k];
        if (strcmp(kind_of(r), "tool")) continue;
        char args[1024], input[4096] = "", want[4096] = "";
        shell_args(json_object_get(r, "args"), args, sizeof args);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(r, "input"), i, v) {
            strcat(input, json_string_value(v));
            strcat(input, "\n");
        }
        json_array_foreach(json_object_get(r, "expected"), i, v) {
            strcat(want, json_string_value(v));
            strcat(want, "\n");
        }
        char *out, *err;
        cr_expect_eq(run_tool(args, input, &out, &err), 0, "tokenize %s: %s", args, err);
        cr_expect_str_eq(out, want, "tokenize %s", args);
        free(out);
        free(err);
        cases++;
    }
    cr_expect_eq(cases, 4);
}

/* A tokenizer made by Keras, used by the tool. */
Test(text, tokenize_tool_loads_keras_json) {
    const json_t *r = NULL;
    for (int k = 0; k < n_records && !r; k++)
        if (!strcmp(kind_of(records[k]), "tokenizer") &&
            !strcmp(json_string_value(json_object_get(records[k], "name")), "oov_num_words"))
            r = records[k];
    cr_assert_not_null(r);
    char path[] = "/tmp/keel_test_text_json_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *json = json_string_value(json_object_get(r, "json"));
    cr_assert_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    char args[512], input[1024] = "", want[1024] = "", *out, *err;
    snprintf(args, sizeof args, "--load-json '%s'", path);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "apply"), i, v) {
        strcat(input, json_string_value(v));
        strcat(input, "\n");
    }
    json_array_foreach(json_object_get(r, "sequences"), i, v) {
        size_t j;
        json_t *x;
        json_array_foreach(v, j, x) {
            char num[32];
            snprintf(num, sizeof num, j ? " %lld" : "%lld", (long long)json_integer_value(x));
            strcat(want, num);
        }
        strcat(want, "\n");
    }
    cr_expect_eq(run_tool(args, input, &out, &err), 0, "%s", err);
    cr_expect_str_eq(out, want);
    free(out), free(err);
    unlink(path);
}

Test(text, tokenize_tool_errors) {
    struct {
        const char *args, *input;
        int status;
        const char *message;
    } cases[] = {
        {"--bogus", "", 2, "tokenize: unknown option --bogus"},
        {"--maxlen 0", "", 2, "--maxlen 0: expected a whole number above 0"},
        {"--maxlen", "", 2, "--maxlen needs a value"},
        {"--padding post", "a\n", 2, "need --maxlen"},
        {"--maxlen 3 --padding middle", "a\n", 2, "--padding middle: expected pre or post"},
        {"--num-words x", "", 2, "--num-words x: not a whole number"},
        {"--num-words -2", "a\n", 1, "num_words is -2"},
        {"--split ''", "a\n", 1, "split is empty"},
        {"/nonexistent/texts.txt", "", 1, "/nonexistent/texts.txt: No such file"},
        {"--load-json /nonexistent.json", "a\n", 1, "/nonexistent.json: No such file"},
        {"--maxlen 2 --value 1e9", "a\n", 1, "value 1e+09"},
        {"a.txt b.txt", "", 2, "one input file at most"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        int rc = run_tool(cases[i].args, cases[i].input, &out, &err);
        cr_expect_eq(rc, cases[i].status, "tokenize %s: status %d", cases[i].args, rc);
        cr_expect_not_null(strstr(err, cases[i].message), "tokenize %s: \"%s\"", cases[i].args,
                           err);
        char *nl = strchr(err, '\n');
        cr_expect(nl && nl[1] == '\0', "tokenize %s: one line, got \"%s\"", cases[i].args, err);
        free(out);
        free(err);
    }
    char *out, *err;
    cr_expect_eq(run_tool("--help", "", &out, &err), 0);
    cr_expect_not_null(strstr(out, "usage: tokenize"));
    free(out), free(err);
    /* CRLF lines lose their \r */
    cr_expect_eq(run_tool("", "a b\r\nb\r\n", &out, &err), 0);
    cr_expect_str_eq(out, "2 1\n1\n");
    free(out), free(err);
    /* a line with a NUL byte is refused (texts are C strings) */
    char cmd[1024];
    snprintf(
        cmd, sizeof cmd,
        "printf 'a\\n\\000b\\n' | '%s/tools/tokenize' 2>&1 | grep -q 'line 2 holds a NUL byte'",
        KEEL_BINARY_DIR);
    cr_expect_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd,
             "printf 'a\\n\\000b\\n' | '%s/tools/tokenize' >/dev/null 2>&1; test $? -eq 1",
             KEEL_BINARY_DIR);
    cr_expect_eq(system(cmd), 0, "%s", cmd);
}
