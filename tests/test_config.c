/* test_config.c: layers as Keras configs (src/save/config.h), both ways.
 *
 * The fixtures (tools/make_config_fixtures.py) hold what the real Keras 3.15 and tf.keras 2.15
 * serialize for ~85 layers covering every kind keel reads, with options away from their
 * defaults. Each object of either file must load in keel, and keel_layer_to_json of the result
 * must equal, by json_equal (every key, every value, integers apart from reals), the object
 * Keras 3 wrote for the same layer: so what keel writes is what Keras 3 deserializes, and what
 * tf.keras 2 wrote reads as the same layer. No key is dropped before comparing: the fixtures
 * hold no object-identity keys (Keras 3's shared_object_id appears only on objects shared
 * inside a model, which the model writer handles); a merge layer's build_config (a list of
 * shapes, one per input) is left to the model writer too and is the one thing taken out.
 *
 * Then every refusal: a config keel cannot honour, or a broken or hostile one, gives the right
 * status and a message naming the layer and the field; ASan runs of this file show none of
 * those paths leaks or crashes. */
#include <criterion/criterion.h>
#include <keel.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph.h"
#include "save/config.h"

/* ---------------------------------------------------------------- fixtures */

static json_t *load_fixture(const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", KEEL_SOURCE_DIR, file);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (see tools/make_config_fixtures.py)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    json_t *doc = keel_json_parse(text, (size_t)n, path);
    free(text);
    cr_assert_not_null(doc, "%s", keel_last_error());
    return doc;
}

static const json_t *find_case(const json_t *doc, const char *id) {
    const json_t *cases = json_object_get(doc, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        if (!strcmp(json_string_value(json_object_get(c, "id")), id)) return c;
    }
    return NULL;
}

static void expect_json_equal(const json_t *got, const json_t *want, const char *what) {
    if (json_equal((json_t *)got, (json_t *)want)) return;
    char *g = keel_json_dumps(got), *w = keel_json_dumps(want);
    cr_expect_fail("%s: keel wrote\n  %s\nKeras 3 wrote\n  %s", what, g, w);
    free(g);
    free(w);
}

/* Reads every case of `file`, writes it back and compares with the Keras 3 twin */
static void round_trip_file(const char *file) {
    json_t *doc = load_fixture(file), *k3 = load_fixture("layer_configs_k3.json");
    const json_t *cases = json_object_get(doc, "cases");
    cr_assert_gt(json_array_size(cases), 80, "%s has only %zu cases", file, json_array_size(cases));
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        const char *id = json_string_value(json_object_get(c, "id")),
                   *twin = json_string_value(json_object_get(c, "expect"));
        char where[160];
        snprintf(where, sizeof where, "%s: %s", file, id);
        keel_layer *l = keel_layer_from_json(json_object_get(c, "object"), where);
        cr_expect_not_null(l, "%s", keel_last_error());
        if (!l) continue;
        const json_t *t = find_case(k3, twin);
        cr_assert_not_null(t, "%s: no Keras 3 case '%s'", where, twin);
        json_t *want = json_deep_copy(json_object_get(t, "object"));
        /* the shape Keras 3 built the layer on, given to keel whether or not Keras wrote a
         * build_config for it (keel must leave it out where Keras does); a merge's list of
         * shapes is the model writer's, and taken out */
        int rank = -1;
        int64_t dims[KEEL_MAX_RANK] = {0};
        const json_t *shape = json_object_get(t, "input_shape");
        if (json_is_array(shape) && json_is_array(json_array_get(shape, 0)))
            json_object_del(want, "build_config");
        else if (json_is_array(shape))
            cr_assert_eq(keel_cfg_shape(shape, "input_shape", &rank, dims, where), KEEL_OK, "%s",
                         keel_last_error());
        json_t *got = keel_layer_to_json(l, rank, dims);
        cr_expect_not_null(got, "%s: %s", where, keel_last_error());
        if (got) expect_json_equal(got, want, where);
        json_decref(got);
        json_decref(want);
        keel_layer_free(l);
    }
    json_decref(k3);
    json_decref(doc);
}

Test(config, keras3_objects_round_trip) {
    round_trip_file("layer_configs_k3.json");
}

Test(config, tf_keras2_objects_read_as_keras3_writes_them) {
    round_trip_file("layer_configs_tf2.json");
}

/* The fixtures cover every class the registry reads (so coverage cannot shrink unseen) */
Test(config, fixtures_cover_every_layer_kind) {
    static const char *const classes[] = {"InputLayer",
                                          "Dense",
                                          "Activation",
                                          "Dropout",
                                          "Flatten",
                                          "Reshape",
                                          "Conv2D",
                                          "MaxPooling2D",
                                          "AveragePooling2D",
                                          "GlobalAveragePooling2D",
                                          "GlobalMaxPooling2D",
                                          "BatchNormalization",
                                          "ZeroPadding2D",
                                          "Embedding",
                                          "Masking",
                                          "Conv1D",
                                          "MaxPooling1D",
                                          "AveragePooling1D",
                                          "GlobalMaxPooling1D",
                                          "GlobalAveragePooling1D",
                                          "UpSampling2D",
                                          "Conv2DTranspose",
                                          "Add",
                                          "Subtract",
                                          "Multiply",
                                          "Average",
                                          "Maximum",
                                          "Minimum",
                                          "Concatenate",
                                          "LeakyReLU",
                                          "ReLU",
                                          "ELU",
                                          "Softmax",
                                          "PReLU",
                                          "LSTM",
                                          "GRU",
                                          "SimpleRNN",
                                          "Bidirectional",
                                          "TimeDistributed"};
    const char *files[] = {"layer_configs_k3.json", "layer_configs_tf2.json"};
    for (int f = 0; f < 2; f++) {
        json_t *doc = load_fixture(files[f]);
        const json_t *cases = json_object_get(doc, "cases");
        for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++) {
            bool seen = false;
            for (size_t i = 0; i < json_array_size(cases) && !seen; i++) {
                const json_t *o = json_object_get(json_array_get(cases, i), "object");
                seen = !strcmp(json_string_value(json_object_get(o, "class_name")), classes[k]);
            }
            cr_expect(seen, "%s has no %s case", files[f], classes[k]);
        }
        json_decref(doc);
    }
}

/* ---------------------------------------------------------------- helpers, both ways */

static json_t *parse(const char *text) {
    json_t *v = keel_json_parse(text, strlen(text), "test");
    cr_assert_not_null(v, "%s", keel_last_error());
    return v;
}

static keel_layer *load(const char *text) {
    json_t *v = parse(text);
    keel_layer *l = keel_layer_from_json(v, "t");
    json_decref(v);
    return l;
}

static void expect_text(json_t *got, const char *want_text, const char *what) {
    cr_assert_not_null(got, "%s: %s", what, keel_last_error());
    json_t *want = parse(want_text);
    expect_json_equal(got, want, what);
    json_decref(want);
    json_decref(got);
}

Test(config, initializers_to_keras3) {
    static const struct {
        const char *spec, *json;
    } cases[] = {
        {"glorot_uniform", "{\"seed\": null, \"input_axes\": null, \"output_axes\": null}"},
        {"he_normal(seed=3)", "{\"seed\": 3, \"input_axes\": null, \"output_axes\": null}"},
        {"zeros", "{}"},
        {"one", "{}"},
        {"constant(value=0.25)", "{\"value\": 0.25}"},
        {"random_normal(stddev=0.02)", "{\"seed\": null, \"mean\": 0.0, \"stddev\": 0.02}"},
        {"normal(0.5, 2)", "{\"seed\": null, \"mean\": 0.5, \"stddev\": 2.0}"},
        {"uniform", "{\"seed\": null, \"minval\": -0.05, \"maxval\": 0.05}"},
        {"random_uniform(minval=-1, maxval=1, seed=7)",
         "{\"seed\": 7, \"minval\": -1.0, \"maxval\": 1.0}"},
        {"truncated_normal(mean=0.1, stddev=0.3, seed=5)",
         "{\"seed\": 5, \"mean\": 0.1, \"stddev\": 0.3}"},
        {"orthogonal(gain=2)", "{\"seed\": null, \"gain\": 2.0}"},
        {"identity", "{}"},
        {"identity(gain=0.5)", "{\"gain\": 0.5}"},
    };
    static const char *const cls[] = {
        "GlorotUniform", "HeNormal",     "Zeros",         "Ones",          "Constant",
        "RandomNormal",  "RandomNormal", "RandomUniform", "RandomUniform", "TruncatedNormal",
        "Orthogonal",    "Identity",     "Identity"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[512];
        snprintf(want, sizeof want,
                 "{\"module\": \"keras.initializers\", \"class_name\": \"%s\", \"config\": %s, "
                 "\"registered_name\": null}",
                 cls[i], cases[i].json);
        expect_text(keel_initializer_to_json(cases[i].spec), want, cases[i].spec);
    }
    /* keel's internal LSTM bias has no Keras class: an error, not a guess */
    cr_expect_null(keel_initializer_to_json("unit_forget_bias"));
    cr_expect_eq(keel_last_status(), KEEL_ERR_UNSUPPORTED);
    cr_expect(strstr(keel_last_error(), "unit_forget_bias") != NULL, "%s", keel_last_error());
}

Test(config, regularizers_to_keras3) {
    /* Keras 3's L1 writes its factor through float32 (0.01 -> 0.009999999776482582); L2 and
     * L1L2 write the number as given */
    expect_text(keel_regularizer_to_json("l1(0.01)"),
                "{\"module\": \"keras.regularizers\", \"class_name\": \"L1\", \"config\": "
                "{\"l1\": 0.009999999776482582}, \"registered_name\": null}",
                "l1");
    expect_text(keel_regularizer_to_json("l2"),
                "{\"module\": \"keras.regularizers\", \"class_name\": \"L2\", \"config\": "
                "{\"l2\": 0.01}, \"registered_name\": null}",
                "l2");
    expect_text(keel_regularizer_to_json("l1_l2(l1=0.001, l2=0.002)"),
                "{\"module\": \"keras.regularizers\", \"class_name\": \"L1L2\", \"config\": "
                "{\"l1\": 0.001, \"l2\": 0.002}, \"registered_name\": null}",
                "l1_l2");
    json_t *n = keel_regularizer_to_json(NULL);
    cr_expect(json_is_null(n));
    json_decref(n);
}

/* The config of a layer loaded from text, re-serialized: its "config" field */
static json_t *config_of(keel_layer *l) {
    cr_assert_not_null(l, "%s", keel_last_error());
    json_t *j = keel_layer_to_json(l, -1, NULL);
    cr_assert_not_null(j, "%s", keel_last_error());
    json_t *c = json_incref(json_object_get(j, "config"));
    json_decref(j);
    keel_layer_free(l);
    return c;
}

/* tf.keras 2 before 2.13 and hand-written files: bare initializer names, legacy objects
 * without module, a serialized function as activation */
Test(config, older_spellings_read) {
    json_t *c = config_of(load(
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 3, "
        "\"kernel_initializer\": \"he_uniform\", \"bias_initializer\": {\"class_name\": "
        "\"RandomNormal\", \"config\": {\"mean\": 0.0, \"stddev\": 0.5, \"seed\": null}}, "
        "\"kernel_regularizer\": {\"class_name\": \"L1L2\", \"config\": {\"l1\": 0.0, \"l2\": "
        "0.009999999776482582}}, \"activation\": {\"module\": \"keras.activations\", "
        "\"class_name\": \"function\", \"config\": \"swish\", \"registered_name\": \"swish\"}}}"));
    cr_expect_str_eq(json_string_value(json_object_get(c, "activation")), "silu");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(c, "kernel_initializer"), "class_name")),
        "HeUniform");
    const json_t *bi = json_object_get(json_object_get(c, "bias_initializer"), "config");
    cr_expect_eq(json_real_value(json_object_get(bi, "stddev")), 0.5);
    /* tf.keras 2's float32-rounded factor reads as the float the user typed */
    const json_t *kr = json_object_get(json_object_get(c, "kernel_regularizer"), "config");
    cr_expect_eq(json_real_value(json_object_get(kr, "l2")), 0.01);
    cr_expect_eq(json_real_value(json_object_get(kr, "l1")), 0.0);
    json_decref(c);
    /* VarianceScaling that is a named initializer reads as that one */
    c = config_of(load("{\"class_name\": \"Dense\", \"config\": {\"units\": 2, "
                       "\"kernel_initializer\": {\"class_name\": \"VarianceScaling\", \"config\": "
                       "{\"scale\": 1.0, \"mode\": \"fan_avg\", \"distribution\": \"uniform\", "
                       "\"seed\": 4}}}}"));
    const json_t *ki = json_object_get(c, "kernel_initializer");
    cr_expect_str_eq(json_string_value(json_object_get(ki, "class_name")), "GlorotUniform");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(ki, "config"), "seed")), 4);
    json_decref(c);
}

Test(config, batch_input_shape_declares_the_input) {
    keel_layer *l = load("{\"class_name\": \"Dense\", \"config\": {\"units\": 2, "
                         "\"batch_input_shape\": [null, 6, 3]}}");
    cr_assert_not_null(l, "%s", keel_last_error());
    cr_expect_eq(l->input_rank, 2);
    cr_expect_eq(l->input_dims[0], 6);
    cr_expect_eq(l->input_dims[1], 3);
    keel_layer_free(l);
    /* tf.keras 2's Embedding without input_length writes [null, null]: nothing to declare */
    l = load("{\"class_name\": \"Embedding\", \"config\": {\"input_dim\": 5, \"output_dim\": 2, "
             "\"batch_input_shape\": [null, null]}}");
    cr_assert_not_null(l, "%s", keel_last_error());
    cr_expect_eq(l->input_rank, 0);
    keel_layer_free(l);
    l = load("{\"class_name\": \"Embedding\", \"config\": {\"input_dim\": 5, \"output_dim\": 2, "
             "\"input_length\": 7}}");
    cr_assert_not_null(l, "%s", keel_last_error());
    cr_expect_eq(l->input_rank, 1);
    cr_expect_eq(l->input_dims[0], 7);
    keel_layer_free(l);
}

/* A loaded layer is a layer: it builds and trains in a model like a constructed one */
Test(config, loaded_layers_build_in_a_model) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, load("{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
                     "[null, 4, 4, 3], \"name\": \"img\"}}"));
    keel_add(m, load("{\"class_name\": \"BatchNormalization\", \"config\": {\"axis\": [3]}}"));
    keel_add(m, load("{\"class_name\": \"Flatten\", \"config\": {}}"));
    keel_add(m, load("{\"class_name\": \"Dense\", \"config\": {\"units\": 2, \"activation\": "
                     "\"softmax\", \"kernel_initializer\": \"zeros\"}}"));
    cr_expect_eq(keel_compile(m, .optimizer = "sgd", .loss = "categorical_crossentropy"), KEEL_OK,
                 "%s", keel_last_error());
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(1, 4, 4, 3));
    keel_tensor *p = keel_predict(m, x, NULL);
    cr_assert_not_null(p, "%s", keel_last_error());
    /* zero kernel, zero bias: softmax of zeros */
    cr_expect_float_eq(keel_tensor_data(p)[0], 0.5f, 1e-6);
    keel_tensor_free(p);
    keel_tensor_free(x);
    keel_model_free(m);
    /* BatchNormalization(axis=[3]) on input of rank 2 per sample: axis 3 is not its last */
    m = keel_sequential(NULL);
    keel_add(m, keel_input(.shape = {4, 3}));
    keel_add(m, load("{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", "
                     "\"axis\": [3]}}"));
    cr_expect_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_ERR_UNSUPPORTED);
    cr_expect(strstr(keel_last_error(), "bn: axis 3") != NULL, "%s", keel_last_error());
    keel_model_free(m);
}

/* keel's own layers, with the option macros' defaults, write configs that read back the same */
Test(config, keel_layers_round_trip) {
    keel_layer *ls[] = {
        keel_dense(.units = 3, .name = "a"),
        keel_dense(.units = 2, .activation = "swish", .kernel_initializer = "he_normal(seed=9)",
                   .kernel_regularizer = "l1_l2(l1=0.01, l2=0.02)", .name = "b"),
        keel_conv1d(.filters = 4, .kernel_size = 3, .padding = "causal", .dilation_rate = 2,
                    .name = "c"),
        keel_conv2d(.filters = 2, .kernel_size = {3}, .strides = {2}, .name = "d"),
        keel_max_pooling2d(.name = "e"),
        keel_average_pooling1d(.pool_size = 3, .padding = "same", .name = "f"),
        keel_conv2d_transpose(.filters = 2, .kernel_size = {3}, .output_padding = {0, 0},
                              .name = "g"),
        keel_lstm(.units = 4, .bias_initializer = "ones", .name = "h"),
        keel_gru(.units = 4, .reset_after = 0, .return_sequences = 1, .name = "i"),
        keel_bidirectional(.layer = keel_simple_rnn(.units = 2), .merge_mode = "ave", .name = "j"),
        keel_time_distributed(.layer = keel_dense(.units = 2), .name = "k"),
        keel_prelu(.shared_axes = {1}, .name = "l"),
        keel_zero_padding2d(.pads = {1, 2, 3, 4}, .name = "m"),
        keel_upsampling2d(.size = {3}, .interpolation = "bilinear", .name = "n"),
        keel_batch_normalization(.momentum = 0.8f, .scale = 0, .name = "o"),
        keel_embedding(.input_dim = 9, .output_dim = 2, .mask_zero = 1, .name = "p"),
        keel_leaky_relu(.name = "q"),
        keel_concatenate(.axis = 1, .name = "r"),
    };
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
        cr_assert_not_null(ls[i], "layer %zu: %s", i, keel_last_error());
        json_t *a = keel_layer_to_json(ls[i], -1, NULL);
        cr_assert_not_null(a, "%s: %s", ls[i]->name, keel_last_error());
        keel_layer *back = keel_layer_from_json(a, "back");
        cr_assert_not_null(back, "%s: %s", ls[i]->name, keel_last_error());
        json_t *b = keel_layer_to_json(back, -1, NULL);
        expect_json_equal(b, a, ls[i]->name);
        if (i == 2) { /* Conv1D: sizes are one-entry lists, causal padding kept */
            json_t *c = json_object_get(a, "config");
            cr_expect_eq(json_integer_value(json_array_get(json_object_get(c, "kernel_size"), 0)),
                         3);
            cr_expect_str_eq(json_string_value(json_object_get(c, "padding")), "causal");
        }
        if (i == 7) /* an explicit bias initializer: keel applies no forget-gate ones */
            cr_expect(
                json_is_false(json_object_get(json_object_get(a, "config"), "unit_forget_bias")));
        json_decref(a);
        json_decref(b);
        keel_layer_free(back);
        keel_layer_free(ls[i]);
    }
}

Test(config, input_layer_keeps_int32) {
    json_t *c = config_of(load("{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": "
                               "[null, 20], \"dtype\": \"int32\", \"name\": \"tokens\"}}"));
    cr_expect_str_eq(json_string_value(json_object_get(c, "dtype")), "int32");
    cr_expect_eq(json_integer_value(json_array_get(json_object_get(c, "batch_shape"), 1)), 20);
    json_decref(c);
}

/* Options with no Keras spelling are errors on the way out, naming the layer */
Test(config, unwritable_options_refused) {
    keel_layer *l = keel_dense(.units = 2, .activation = "elu(alpha=0.5)", .name = "d_elu");
    cr_assert_not_null(l);
    cr_expect_null(keel_layer_to_json(l, -1, NULL));
    cr_expect_eq(keel_last_status(), KEEL_ERR_UNSUPPORTED);
    cr_expect(strstr(keel_last_error(), "d_elu") && strstr(keel_last_error(), "alpha=0.5"), "%s",
              keel_last_error());
    keel_layer_free(l);
    l = keel_dense(.units = 2, .kernel_initializer = "unit_forget_bias", .name = "d_ufb");
    cr_expect_null(keel_layer_to_json(l, -1, NULL));
    cr_expect(strstr(keel_last_error(), "d_ufb: kernel_initializer") != NULL, "%s",
              keel_last_error());
    keel_layer_free(l);
}

/* ---------------------------------------------------------------- refusals */

typedef struct refusal {
    const char *json;
    keel_status status;
    const char *needle[2];
} refusal;

#define DENSE(extra)                                                                               \
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": 4" extra "}}"

static const refusal refusals[] = {
    /* fields keel cannot honour */
    {DENSE(
         ", \"kernel_constraint\": {\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 2}}"),
     KEEL_ERR_UNSUPPORTED,
     {"Dense 'd1'", "config.kernel_constraint"}},
    {"{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c1\", \"filters\": 2, \"kernel_size\": "
     "3, \"data_format\": \"channels_first\"}}",
     KEEL_ERR_UNSUPPORTED,
     {"Conv2D 'c1'", "config.data_format = 'channels_first'"}},
    {DENSE(", \"activity_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": 0.1}}"),
     KEEL_ERR_UNSUPPORTED,
     {"'d1'", "config.activity_regularizer"}},
    {DENSE(", \"lora_rank\": 4"), KEEL_ERR_UNSUPPORTED, {"'d1'", "config.lora_rank = 4"}},
    {DENSE(", \"activation\": \"celu\""), KEEL_ERR_UNSUPPORTED, {"'d1'", "'celu'"}},
    {DENSE(", \"kernel_initializer\": {\"class_name\": \"VarianceScaling\", \"config\": "
           "{\"scale\": 3.0, \"mode\": \"fan_out\", \"distribution\": \"untruncated_normal\"}}"),
     KEEL_ERR_UNSUPPORTED,
     {"'d1'", "config.kernel_initializer = VarianceScaling(scale=3"}},
    {DENSE(", \"kernel_initializer\": {\"class_name\": \"STFT\", \"config\": {}}"),
     KEEL_ERR_UNSUPPORTED,
     {"'d1'", "initializer 'STFT'"}},
    {DENSE(", \"kernel_initializer\": {\"class_name\": \"GlorotUniform\", \"config\": "
           "{\"seed\": null, \"input_axes\": [0]}}"),
     KEEL_ERR_UNSUPPORTED,
     {"'d1'", "config.kernel_initializer.config.input_axes"}},
    {DENSE(", \"kernel_regularizer\": {\"class_name\": \"OrthogonalRegularizer\", \"config\": "
           "{\"factor\": 0.01}}"),
     KEEL_ERR_UNSUPPORTED,
     {"'d1'", "regularizer 'OrthogonalRegularizer'"}},
    {DENSE(", \"dtype\": \"float64\""), KEEL_ERR_UNSUPPORTED, {"'d1'", "config.dtype = 'float64'"}},
    {DENSE(", \"dtype\": {\"module\": \"keras\", \"class_name\": \"DTypePolicy\", \"config\": "
           "{\"name\": \"mixed_float16\"}, \"registered_name\": null}"),
     KEEL_ERR_UNSUPPORTED,
     {"'d1'", "mixed_float16"}},
    {DENSE(", \"batch_input_shape\": [32, 6]"),
     KEEL_ERR_UNSUPPORTED,
     {"'d1'", "config.batch_input_shape fixes the batch size to 32"}},
    {"{\"class_name\": \"LSTM\", \"config\": {\"name\": \"l1\", \"units\": 3, \"stateful\": true}}",
     KEEL_ERR_UNSUPPORTED,
     {"LSTM 'l1'", "config.stateful = true"}},
    {"{\"class_name\": \"GRU\", \"config\": {\"name\": \"g1\", \"units\": 3, \"unroll\": true}}",
     KEEL_ERR_UNSUPPORTED,
     {"GRU 'g1'", "config.unroll"}},
    {"{\"class_name\": \"LSTM\", \"config\": {\"name\": \"l2\", \"units\": 3, "
     "\"bias_initializer\": "
     "\"ones\"}}",
     KEEL_ERR_UNSUPPORTED,
     {"LSTM 'l2'", "config.unit_forget_bias"}},
    {"{\"class_name\": \"SimpleRNN\", \"config\": {\"name\": \"s1\", \"units\": 3, "
     "\"recurrent_activation\": \"sigmoid\"}}",
     KEEL_ERR_UNSUPPORTED,
     {"SimpleRNN 's1'", "config.recurrent_activation"}},
    {"{\"class_name\": \"Dropout\", \"config\": {\"name\": \"dr\", \"rate\": 0.5, \"noise_shape\": "
     "[null, 1]}}",
     KEEL_ERR_UNSUPPORTED,
     {"Dropout 'dr'", "config.noise_shape = [null, 1]"}},
    {"{\"class_name\": \"Dropout\", \"config\": {\"name\": \"dr\", \"rate\": 0.5, \"seed\": 0}}",
     KEEL_ERR_UNSUPPORTED,
     {"Dropout 'dr'", "config.seed = 0"}},
    {"{\"class_name\": \"GlobalMaxPooling2D\", \"config\": {\"name\": \"gp\", \"keepdims\": true}}",
     KEEL_ERR_UNSUPPORTED,
     {"GlobalMaxPooling2D 'gp'", "config.keepdims = true"}},
    {"{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", \"axis\": [1, 2]}}",
     KEEL_ERR_UNSUPPORTED,
     {"BatchNormalization 'bn'", "config.axis holds 2 axes"}},
    {"{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", \"renorm\": true}}",
     KEEL_ERR_UNSUPPORTED,
     {"'bn'", "config.renorm = true"}},
    {"{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", "
     "\"gamma_initializer\": \"zeros\"}}",
     KEEL_ERR_UNSUPPORTED,
     {"'bn'", "config.gamma_initializer = zeros"}},
    {"{\"class_name\": \"UpSampling2D\", \"config\": {\"name\": \"up\", \"interpolation\": "
     "\"bicubic\"}}",
     KEEL_ERR_UNSUPPORTED,
     {"UpSampling2D 'up'", "config.interpolation = 'bicubic'"}},
    {"{\"class_name\": \"Conv2DTranspose\", \"config\": {\"name\": \"ct\", \"filters\": 2, "
     "\"kernel_size\": 3, \"dilation_rate\": 2}}",
     KEEL_ERR_UNSUPPORTED,
     {"Conv2DTranspose 'ct'", "config.dilation_rate = (2, 2)"}},
    {"{\"class_name\": \"ReLU\", \"config\": {\"name\": \"r\", \"max_value\": 6.0}}",
     KEEL_ERR_UNSUPPORTED,
     {"ReLU 'r'", "config.max_value = 6.0"}},
    {"{\"class_name\": \"Softmax\", \"config\": {\"name\": \"sm\", \"axis\": 1}}",
     KEEL_ERR_UNSUPPORTED,
     {"Softmax 'sm'", "config.axis = 1"}},
    {"{\"class_name\": \"Concatenate\", \"config\": {\"name\": \"cat\", \"axis\": 0}}",
     KEEL_ERR_UNSUPPORTED,
     {"Concatenate 'cat'", "config.axis = 0"}},
    {"{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bi\", \"merge_mode\": \"max\", "
     "\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"units\": 2}}}}",
     KEEL_ERR_FORMAT,
     {"Bidirectional 'bi'", "config.merge_mode = 'max'"}},
    {"{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bi\", \"layer\": "
     "{\"class_name\": "
     "\"LSTM\", \"config\": {\"name\": \"f\", \"units\": 2}}, \"backward_layer\": {\"class_name\": "
     "\"LSTM\", \"config\": {\"name\": \"b\", \"units\": 3, \"go_backwards\": true}}}}",
     KEEL_ERR_UNSUPPORTED,
     {"Bidirectional 'bi'", "config.backward_layer differs"}},
    {"{\"class_name\": \"TimeDistributed\", \"config\": {\"name\": \"td\", \"layer\": "
     "{\"class_name\": \"Dense\", \"config\": {\"name\": \"in\", \"units\": 2, "
     "\"bias_constraint\": {\"class_name\": \"NonNeg\", \"config\": {}}}}}}",
     KEEL_ERR_UNSUPPORTED,
     {"TimeDistributed 'td': config.layer: Dense 'in'", "bias_constraint"}},
    {"{\"class_name\": \"MultiHeadAttention\", \"config\": {\"name\": \"mha\"}}",
     KEEL_ERR_UNSUPPORTED,
     {"t: layer class 'MultiHeadAttention'", "not supported"}},
    {"{\"module\": \"my_pkg.layers\", \"class_name\": \"Dense\", \"config\": {\"units\": 2}, "
     "\"registered_name\": \"my_pkg>Dense\"}",
     KEEL_ERR_UNSUPPORTED,
     {"layer class 'Dense' (a custom layer", "not supported"}},
    {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": 5}}",
     KEEL_ERR_FORMAT,
     {"t", "has no layers list"}},
    {"{\"class_name\": \"Dense\", \"config\": {\"name\": "
     "\"a_name_that_is_longer_than_sixty_three_characters_which_keel_cannot_keep\", \"units\": "
     "2}}",
     KEEL_ERR_UNSUPPORTED,
     {"config.name is 72 characters", "63"}},
    /* broken or hostile files */
    {"{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\"}}",
     KEEL_ERR_FORMAT,
     {"Dense 'd1'", "config.units is missing"}},
    {DENSE(", \"use_bias\": \"yes\""),
     KEEL_ERR_FORMAT,
     {"Dense 'd1'", "config.use_bias is a string, expected true or false"}},
    {"{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": \"64\"}}",
     KEEL_ERR_FORMAT,
     {"Dense 'd1'", "config.units is a string, expected an integer"}},
    {"{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": 64.0}}",
     KEEL_ERR_FORMAT,
     {"'d1'", "config.units is a real number, expected an integer"}},
    {"{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": 9223372036854775807}}",
     KEEL_ERR_FORMAT,
     {"'d1'", "config.units = 9223372036854775807 is too large"}},
    {"{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": -3}}",
     KEEL_ERR_FORMAT,
     {"'d1'", "config.units = -3, expected a positive integer"}},
    {"{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c1\", \"filters\": 2, \"kernel_size\": "
     "[3, -1]}}",
     KEEL_ERR_FORMAT,
     {"Conv2D 'c1'", "config.kernel_size[1] = -1"}},
    {"{\"class_name\": \"Conv1D\", \"config\": {\"name\": \"c1\", \"filters\": 2, \"kernel_size\": "
     "[3, 3]}}",
     KEEL_ERR_FORMAT,
     {"Conv1D 'c1'", "config.kernel_size has 2 entries, expected 1"}},
    {"{\"class_name\": \"Dropout\", \"config\": {\"name\": \"dr\", \"rate\": 1e300}}",
     KEEL_ERR_FORMAT,
     {"Dropout 'dr'", "config.rate = 1e+300 is out of range"}},
    {"{\"class_name\": \"Dropout\", \"config\": {\"name\": \"dr\", \"rate\": 1.5}}",
     KEEL_ERR_FORMAT,
     {"Dropout: dr", "rate must be in [0, 1]"}},
    {"{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c1\", \"filters\": 2, \"kernel_size\": "
     "3, \"strides\": 2, \"dilation_rate\": 2}}",
     KEEL_ERR_FORMAT,
     {"Conv2D: c1", "strides > 1 together with dilation_rate > 1"}},
    {"{\"class_name\": \"Embedding\", \"config\": {\"name\": \"e\", \"input_dim\": 5, "
     "\"output_dim\": 2, \"embeddings_initializer\": {\"class_name\": \"RandomNormal\", "
     "\"config\": {\"stddev\": \"big\"}}}}",
     KEEL_ERR_FORMAT,
     {"Embedding 'e'", "config.embeddings_initializer.config.stddev is a string"}},
    {"{\"class_name\": \"Embedding\", \"config\": {\"name\": \"e\", \"input_dim\": 5, "
     "\"output_dim\": 2, \"embeddings_initializer\": {\"class_name\": \"RandomUniform\", "
     "\"config\": {\"minval\": 1.0, \"maxval\": -1.0}}}}",
     KEEL_ERR_FORMAT,
     {"'e'", "minval 1 is greater than maxval -1"}},
    {"{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": 2, "
     "\"kernel_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": -0.5}}}}",
     KEEL_ERR_FORMAT,
     {"'d1'", "config.kernel_regularizer.config.l2 = -0.5"}},
    {"{\"class_name\": \"Reshape\", \"config\": {\"name\": \"rs\", \"target_shape\": [4, 0]}}",
     KEEL_ERR_FORMAT,
     {"Reshape 'rs'", "config.target_shape[1]"}},
    {"{\"class_name\": \"ZeroPadding2D\", \"config\": {\"name\": \"zp\", \"padding\": [[1], [2, "
     "3]]}}",
     KEEL_ERR_FORMAT,
     {"ZeroPadding2D 'zp'", "config.padding"}},
    {"{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", \"batch_shape\": [null, "
     "2147483648]}}",
     KEEL_ERR_FORMAT,
     {"InputLayer 'in'", "config.batch_shape[1] = 2147483648 is too large"}},
    {"{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", \"batch_shape\": [null, "
     "2147483647, 2147483647, 2147483647]}}",
     KEEL_ERR_FORMAT,
     {"InputLayer 'in'", "config.batch_shape holds more than 2^61 values"}},
    {DENSE(", \"batch_input_shape\": [null, 2147483647, 2147483647, 2147483647]"),
     KEEL_ERR_FORMAT,
     {"Dense 'd1'", "config.batch_input_shape holds more than 2^61 values"}},
    {"{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\", \"batch_shape\": "
     "[null, null, 3]}}",
     KEEL_ERR_UNSUPPORTED,
     {"InputLayer 'in'", "config.batch_shape[1] is null"}},
    {"{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\"}}",
     KEEL_ERR_FORMAT,
     {"InputLayer 'in'", "config.batch_shape is missing"}},
    {"{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bi\", \"layer\": "
     "{\"class_name\": "
     "\"Dense\", \"config\": {\"units\": 2}}}}",
     KEEL_ERR_FORMAT,
     {"Bidirectional: bi", "LSTM, GRU or SimpleRNN"}},
    {"{\"class_name\": \"TimeDistributed\", \"config\": {\"name\": \"td\", \"layer\": 3}}",
     KEEL_ERR_FORMAT,
     {"TimeDistributed 'td': config.layer", "a layer is an integer"}},
    {"{\"class_name\": \"Dense\", \"config\": [1, 2]}",
     KEEL_ERR_FORMAT,
     {"t: Dense: config is an array", "expected an object"}},
    {"{\"config\": {\"units\": 2}}",
     KEEL_ERR_FORMAT,
     {"t: the layer object has no class_name", ""}},
    {"[1, 2, 3]", KEEL_ERR_FORMAT, {"t: a layer is an array", "expected an object"}},
};

Test(config, refusals_name_the_layer_and_the_field) {
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const refusal *r = &refusals[i];
        keel_layer *l = load(r->json);
        cr_expect_null(l, "case %zu was accepted: %s", i, r->json);
        keel_layer_free(l);
        cr_expect_eq(keel_last_status(), r->status, "case %zu: status %d (%s), expected %d", i,
                     keel_last_status(), keel_last_error(), r->status);
        for (int k = 0; k < 2; k++)
            cr_expect(strstr(keel_last_error(), r->needle[k]) != NULL,
                      "case %zu: message \"%s\" lacks \"%s\"", i, keel_last_error(), r->needle[k]);
        cr_expect(strchr(keel_last_error(), '\n') == NULL, "case %zu: message is not one line", i);
    }
}

/* A layer object nested 10,000 deep through the wrappers' "layer" (built in memory: the JSON
 * parser itself stops at 2048 levels) is refused at a fixed depth, without exhausting the
 * stack, and frees everything it made on the way down */
Test(config, deep_nesting_refused) {
    for (int kind = 0; kind < 2; kind++) {
        json_t *obj = json_pack("{s:s, s:{s:i}}", "class_name", "LSTM", "config", "units", 2);
        for (int i = 0; i < 10000; i++) {
            json_t *outer =
                json_pack("{s:s, s:{s:o}}", "class_name",
                          kind ? "Bidirectional" : "TimeDistributed", "config", "layer", obj);
            cr_assert_not_null(outer);
            obj = outer;
        }
        keel_layer *l = keel_layer_from_json(obj, "deep.keras");
        cr_expect_null(l);
        keel_layer_free(l);
        cr_expect_eq(keel_last_status(), KEEL_ERR_FORMAT, "%s", keel_last_error());
        cr_expect(strstr(keel_last_error(), "nested more than 32 deep") != NULL, "%s",
                  keel_last_error());
        cr_expect(strstr(keel_last_error(), "config.layer") != NULL, "%s", keel_last_error());
        json_decref(obj);
    }
    /* the same depth as text stops in the parser, with its own message */
    size_t n = 10000 * 64 + 64;
    char *text = malloc(n), *p = text;
    for (int i = 0; i < 10000; i++)
        p += sprintf(p, "{\"class_name\": \"TimeDistributed\", \"config\": {\"layer\": ");
    p += sprintf(p, "null");
    for (int i = 0; i < 10000; i++)
        p += sprintf(p, "}}");
    json_t *v = keel_json_parse(text, (size_t)(p - text), "deep.json");
    cr_expect_null(v);
    cr_expect_eq(keel_last_status(), KEEL_ERR_FORMAT);
    json_decref(v);
    free(text);
}
