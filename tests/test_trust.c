/* test_trust.c: numbers never go silently wrong, and user mistakes are named: non-finite data and
 * weights, Keras's exact validation split, sizes that would overflow, malformed input shapes,
 * coercions that became errors or warnings, 1-D data as the tutorial passes it, optimizer
 * arguments in the name string, get / set weights, and the summary's wrapped rows. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

#define EXPECT_MSG(...)                                                                            \
    do {                                                                                           \
        const char *want_[] = {__VA_ARGS__};                                                       \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++)                               \
            cr_expect(strstr(keel_last_error(), want_[i_]), "message \"%s\" lacks \"%s\"",         \
                      keel_last_error(), want_[i_]);                                               \
    } while (0)

static keel_tensor *ramp(int64_t n, int64_t f) {
    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(n, f));
    for (int64_t i = 0; i < n * f; i++)
        keel_tensor_data(t)[i] = (float)(i % 7) * 0.1f;
    return t;
}

static keel_model *small_model(int64_t in, const char *act) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4, .input_dim = in, .activation = act));
    keel_add(m, keel_dense(.units = 1));
    return m;
}

/* ---------------------------------------------------------------- non-finite values */

Test(trust, nan_in_x_is_named_for_fit_evaluate_and_train_on_batch) {
    keel_model *m = small_model(3, "relu");
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(50, 3), *y = ramp(50, 1);
    keel_tensor_data(x)[17 * 3 + 2] = NAN;
    int64_t nw;
    keel_model_weights(m, &nw);
    /* shuffled: the message names the row of x, not the position in the batch */
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("keel_fit", "x[17, 2] is nan", "sample 17, feature 2");
    double r[2];
    cr_expect_eq(keel_evaluate(m, x, y, r, 2), KEEL_ERR_ARG);
    EXPECT_MSG("keel_evaluate", "x[17, 2]");
    cr_expect_eq(keel_train_on_batch(m, x, y, r, 2), KEEL_ERR_ARG);
    EXPECT_MSG("keel_train_on_batch", "x[17, 2]");
    keel_tensor_data(x)[17 * 3 + 2] = 0;
    keel_tensor_data(y)[30] = -INFINITY;
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0, .shuffle = 0), KEEL_ERR_ARG);
    EXPECT_MSG("y[30, 0] is -inf");
    /* validation rows are checked too */
    keel_tensor_data(y)[30] = 0;
    keel_tensor_data(y)[45] = INFINITY;
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0, .validation_split = 0.2f), KEEL_ERR_ARG);
    EXPECT_MSG("y[45, 0] is inf");
    /* predict passes NaN through, as Keras does */
    keel_tensor_data(x)[0] = NAN;
    keel_tensor *p = keel_predict(m, x, NULL);
    cr_assert_not_null(p);
    keel_tensor_free(p);
    /* no step ran on bad data: the weights stayed finite (the validation run trained on clean
     * rows before its validation rows were refused) */
    const float *w = keel_model_weights(m, NULL); /* a copy taken now */
    for (int64_t i = 0; i < nw; i++)
        cr_expect(isfinite(w[i]));
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

Test(trust, nan_in_x_changes_no_weight) {
    keel_model *m = small_model(3, "relu");
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(64, 3), *y = ramp(64, 1);
    keel_tensor_data(x)[40 * 3] = NAN; /* batch 2 with the default batch size */
    int64_t nw;
    float *w = keel_model_weights(m, &nw), before[64];
    memcpy(before, w, (size_t)nw * sizeof(float));
    cr_expect_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_ERR_ARG);
    cr_expect_eq(memcmp(before, keel_model_weights(m, NULL), (size_t)nw * sizeof(float)), 0,
                 "train_on_batch changed weights");
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

/* A NaN weight behind a ReLU leaves the loss finite (max(NaN, 0) is 0 in the kernel): the
 * check on the weights themselves must catch it. */
static int poison(keel_model *m, int epoch, int batch, const keel_logs *logs, void *user) {
    (void)logs, (void)user;
    if (epoch == 1 && batch == 0) keel_layer_weight(keel_model_layer(m, 0), 0, NULL)[1] = NAN;
    return 0;
}

Test(trust, a_weight_that_becomes_nan_stops_fit) {
    keel_model *m = small_model(3, "relu");
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(64, 3), *y = ramp(64, 1);
    keel_status st =
        keel_fit(m, x, y, .epochs = 5, .verbose = 0, .callback = {.on_batch_end = poison});
    cr_expect_eq(st, KEEL_ERR_NAN, "%s", keel_last_error());
    EXPECT_MSG("dense/kernel[1] became nan", "epoch 2");
    cr_expect_eq(keel_history_epochs(keel_model_history(m)), 1,
                 "stopped after epoch 2, before its history");
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

/* ---------------------------------------------------------------- validation_split */

Test(trust, validation_split_is_keras_arithmetic) {
    /* expected: Python's int(math.floor(n * (1 - split))) on the decimal the user wrote, which is
     * tf.keras 2's train_validation_split */
    struct {
        int64_t n;
        float split;
        int64_t at;
    } cases[] = {{40, 0.2f, 32},     {60000, 0.1f, 54000}, {10, 0.3f, 7},   {7, 0.33f, 4},
                 {1000, 0.15f, 850}, {3, 0.5f, 1},         {100, 0.07f, 93}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_expect_eq(keel_split_at(cases[i].n, cases[i].split), cases[i].at,
                     "n %lld split %g: %lld", (long long)cases[i].n, cases[i].split,
                     (long long)keel_split_at(cases[i].n, cases[i].split));
}

static int count_batches(keel_model *m, int epoch, int batch, const keel_logs *logs, void *user) {
    (void)m, (void)logs;
    if (epoch == 0) *(int *)user = batch + 1;
    return 0;
}

Test(trust, fit_trains_on_the_keras_split) {
    keel_model *m = small_model(3, NULL);
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(40, 3), *y = ramp(40, 1);
    int batches = 0;
    cr_assert_eq(keel_fit(m, x, y, .batch_size = 1, .verbose = 0, .validation_split = 0.2f,
                          .callback = {.on_batch_end = count_batches, .user = &batches}),
                 KEEL_OK);
    cr_expect_eq(batches, 32, "40 rows at 0.2 train on 32 (Keras), got %d", batches);
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

/* ---------------------------------------------------------------- sizes */

Test(trust, weights_too_large_are_an_error_not_an_overflow) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1LL << 31, .input_dim = 1LL << 31, .use_bias = 0));
    cr_expect_neq(keel_compile(m, .loss = "mse"), KEEL_OK);
    EXPECT_MSG("kernel", "(2147483648, 2147483648)", "too large");
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 2, .input_shape = {1LL << 40, 1LL << 40}));
    cr_expect_neq(keel_compile(m, .loss = "mse"), KEEL_OK);
    EXPECT_MSG("too large");
    keel_model_free(m);
}

Test(trust, batch_size_int64_max_trains_one_batch) {
    keel_model *m = small_model(3, NULL);
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(20, 3), *y = ramp(20, 1);
    int batches = 0;
    cr_assert_eq(keel_fit(m, x, y, .batch_size = INT64_MAX, .verbose = 0,
                          .callback = {.on_batch_end = count_batches, .user = &batches}),
                 KEEL_OK, "%s", keel_last_error());
    cr_expect_eq(batches, 1);
    const double *loss = keel_history_get(keel_model_history(m), "loss");
    cr_assert_not_null(loss);
    cr_expect(loss[0] > 0.01, "a real loss was recorded (%g)", loss[0]);
    double r[1];
    cr_expect_eq(keel_evaluate(m, x, y, r, 1, .batch_size = INT64_MAX), KEEL_OK);
    keel_tensor *p = keel_predict(m, x, &(keel_predict_opts){.batch_size = INT64_MAX});
    cr_expect_not_null(p);
    keel_tensor_free(p);
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

/* ---------------------------------------------------------------- input shapes */

Test(trust, malformed_input_shapes_are_named) {
    cr_expect_null(keel_flatten(.input_shape = {28, 0, 28}));
    EXPECT_MSG("flatten", "zero dimension at axis 1");
    cr_expect_null(keel_dense(.units = 2, .input_shape = {-5}));
    EXPECT_MSG("dense", "negative dimension at axis 0");
    cr_expect_null(keel_dense(.units = 2, .input_dim = -3));
    EXPECT_MSG("input_dim must be positive");
    cr_expect_null(keel_conv2d(.filters = 2, .kernel_size = {3}, .input_shape = {8, 8, -1}));
    EXPECT_MSG("negative");
}

/* ---------------------------------------------------------------- coercions */

Test(trust, negative_counts_are_errors) {
    keel_model *m = small_model(3, NULL);
    cr_assert_eq(keel_compile(m, .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(8, 3), *y = ramp(8, 1);
    cr_expect_eq(keel_fit(m, x, y, .epochs = -2, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("epochs must be >= 1, got -2");
    cr_expect_eq(keel_fit(m, x, y, .batch_size = -1, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("batch_size must be positive, got -1");
    cr_expect_eq(keel_evaluate(m, x, y, NULL, 0, .batch_size = -4), KEEL_ERR_ARG);
    cr_expect_null(keel_predict(m, x, &(keel_predict_opts){.batch_size = -4}));
    cr_expect_eq(keel_fit(m, x, y, .validation_split = NAN, .verbose = 0), KEEL_ERR_ARG);
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

static char warned[512];
static int n_warned;
static void catch_warning(const char *msg, void *user) {
    (void)user;
    snprintf(warned, sizeof warned, "%s", msg);
    n_warned++;
}

Test(trust, early_stopping_on_a_missing_metric_warns_with_the_available_ones) {
    keel_model *m = small_model(3, NULL);
    cr_assert_eq(keel_compile(m, .loss = "mse", .metrics = {"mae"}), KEEL_OK);
    keel_tensor *x = ramp(20, 3), *y = ramp(20, 1);
    keel_set_warning_handler(catch_warning, NULL);
    n_warned = 0;
    cr_expect_eq(keel_fit(m, x, y, .epochs = 3, .verbose = 0, .validation_split = 0.2f,
                          .early_stopping = keel_early_stopping(.monitor = "val_los")),
                 KEEL_OK);
    keel_set_warning_handler(NULL, NULL);
    cr_expect_eq(n_warned, 1, "warned once per fit, got %d", n_warned);
    cr_expect(strstr(warned, "`val_los` which is not available"), "%s", warned);
    cr_expect(strstr(warned, "loss,mae,val_loss,val_mae"), "%s", warned);
    cr_expect_eq(keel_history_epochs(keel_model_history(m)), 3, "it did not stop");
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

static keel_status compile_with_init(const char *init) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 2, .input_dim = 3, .kernel_initializer = init));
    keel_status st = keel_compile(m, .loss = "mse");
    keel_model_free(m);
    return st;
}

Test(trust, initializer_arguments_are_checked) {
    cr_expect_eq(compile_with_init("random_normal(stddev=-1)"), KEEL_ERR_ARG);
    EXPECT_MSG("stddev must be >= 0");
    cr_expect_eq(compile_with_init("random_uniform(minval=1, maxval=0)"), KEEL_ERR_ARG);
    EXPECT_MSG("minval 1 is greater than maxval 0");
    cr_expect_eq(compile_with_init("glorot_uniform(seed=-1)"), KEEL_ERR_ARG);
    EXPECT_MSG("seed must be a whole number");
    cr_expect_eq(compile_with_init("glorot_uniform(seed=1e30)"), KEEL_ERR_ARG);
    cr_expect_eq(compile_with_init("glorot_uniform(seed=2.5)"), KEEL_ERR_ARG);
    cr_expect_eq(compile_with_init("constant(nan)"), KEEL_ERR_ARG);
    EXPECT_MSG("not a finite number");
    cr_expect_eq(compile_with_init("glorot_uniform(seed=7)"), KEEL_OK);
}

Test(trust, nan_hyper_parameters_are_errors) {
    keel_model *m = small_model(3, NULL);
    cr_expect_eq(keel_compile(m, .optimizer = "adam", .optimizer_opts = {.learning_rate = NAN},
                              .loss = "mse"),
                 KEEL_ERR_ARG);
    EXPECT_MSG("finite");
    keel_model_free(m);
    m = small_model(3, NULL);
    cr_expect_eq(keel_compile(m, .optimizer = "adam(learning_rate=nan)", .loss = "mse"),
                 KEEL_ERR_ARG);
    keel_model_free(m);
    cr_expect_null(keel_dropout(.rate = NAN));
}

/* ---------------------------------------------------------------- the tutorial's 1-D data */

Test(trust, one_dimensional_x_is_samples_of_one_feature) {
    float xs[] = {1, 2, 3, 4, 5}, ys[] = {2, 4, 6, 8, 10};
    keel_tensor *x = keel_tensor_from_data(KEEL_SHAPE(5), xs),
                *y = keel_tensor_from_data(KEEL_SHAPE(5), ys);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 1));
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mean_squared_error"), KEEL_OK);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 500, .verbose = 0), KEEL_OK, "%s", keel_last_error());
    keel_tensor *p = keel_predict(m, x, NULL);
    cr_assert_not_null(p);
    cr_expect_eq(keel_tensor_rank(p), 2);
    cr_expect(fabsf(keel_tensor_data(p)[4] - 10.0f) < 0.2f, "learned y = 2x: %g",
              keel_tensor_data(p)[4]);
    keel_tensor_free(p);
    keel_model_free(m);
    /* where the model takes more than one feature, the message says so */
    m = small_model(3, NULL);
    cr_assert_eq(keel_compile(m, .loss = "mse"), KEEL_OK);
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0), KEEL_ERR_SHAPE);
    EXPECT_MSG("x has shape (5,)", "(None, 3)", "samples of one feature");
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* ---------------------------------------------------------------- optimizer strings */

static void three_steps(const char *opt, keel_optimizer_opts oo, float *w_out) {
    keel_model *m = small_model(3, NULL);
    cr_assert_eq(keel_compile_(
                     m, (keel_compile_opts){.optimizer = opt, .optimizer_opts = oo, .loss = "mse"}),
                 KEEL_OK, "%s", keel_last_error());
    keel_tensor *x = ramp(16, 3), *y = ramp(16, 1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_OK);
    int64_t nw;
    const float *w = keel_model_weights(m, &nw);
    memcpy(w_out, w, (size_t)nw * sizeof(float));
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

Test(trust, optimizer_arguments_in_the_name) {
    float a[21], b[21], c[21];
    three_steps("adam(learning_rate=0.01, beta_1=0.5)", (keel_optimizer_opts){0}, a);
    three_steps("adam", (keel_optimizer_opts){.learning_rate = 0.01f, .beta_1 = 0.5f}, b);
    three_steps("adam", (keel_optimizer_opts){0}, c);
    cr_expect_eq(memcmp(a, b, sizeof a), 0, "string and struct give the same steps");
    cr_expect_neq(memcmp(a, c, sizeof a), 0, "the arguments were used");
    three_steps("SGD(0.05)", (keel_optimizer_opts){0}, a); /* positional learning_rate */
    three_steps("sgd", (keel_optimizer_opts){.learning_rate = 0.05f}, b);
    cr_expect_eq(memcmp(a, b, sizeof a), 0);
    keel_model *m = small_model(3, NULL);
    cr_expect_eq(keel_compile(m, .optimizer = "adam(lr=0.1)", .loss = "mse"), KEEL_ERR_ARG);
    EXPECT_MSG("no argument \"lr\"");
    keel_model_free(m);
    m = small_model(3, NULL);
    cr_expect_eq(keel_compile(m, .optimizer = "sgd(rho=0.1)", .loss = "mse"), KEEL_ERR_ARG);
    keel_model_free(m);
}

/* ---------------------------------------------------------------- get / set weights */

Test(trust, get_and_set_weights) {
    keel_model *m = small_model(3, NULL);
    keel_layer *l = keel_model_layer(m, 0);
    keel_tensor *w[4];
    cr_expect_lt(keel_get_weights(l, w, 4), 0, "not built before compile");
    EXPECT_MSG("compile");
    cr_assert_eq(keel_compile(m, .loss = "mse"), KEEL_OK);
    cr_assert_eq(keel_layer_weight_count(l), 2);
    cr_assert_eq(keel_get_weights(l, w, 4), 2);
    cr_expect_eq(keel_tensor_dim(w[0], 0), 3);
    cr_expect_eq(keel_tensor_dim(w[0], 1), 4);
    cr_expect_eq(keel_tensor_dim(w[1], 0), 4);
    for (int i = 0; i < 12; i++)
        keel_tensor_data(w[0])[i] = (float)i;
    cr_expect_eq(keel_set_weights(l, (const keel_tensor *const *)w, 2), KEEL_OK);
    cr_expect_eq(keel_layer_weight(l, 0, NULL)[7], 7.0f);
    /* the wrong shape names the weight and changes nothing */
    keel_tensor *bad[2] = {keel_tensor_new(KEEL_SHAPE(4, 3)), w[1]};
    keel_tensor_data(bad[0])[7] = -1;
    cr_expect_eq(keel_set_weights(l, (const keel_tensor *const *)bad, 2), KEEL_ERR_SHAPE);
    EXPECT_MSG("dense's kernel has shape (3, 4), got (4, 3)");
    cr_expect_eq(keel_layer_weight(l, 0, NULL)[7], 7.0f);
    cr_expect_eq(keel_set_weights(l, (const keel_tensor *const *)w, 1), KEEL_ERR_ARG);
    EXPECT_MSG("has 2 weights, got 1");
    keel_tensor_free(bad[0]);
    keel_tensor_free(w[0]), keel_tensor_free(w[1]);
    keel_model_free(m);
}

/* ---------------------------------------------------------------- summary */

Test(trust, summary_wraps_a_long_name_as_tf_keras_does) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 2, .input_dim = 3, .name = "a_rather_long_dense_layer_name"));
    cr_assert_eq(keel_compile(m, .loss = "mse"), KEEL_OK);
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    cr_assert_eq(keel_summary(m, f), KEEL_OK);
    fclose(f);
    /* tf.keras 2.15 print_row: column 0 holds 26 characters, the rest goes on the next line */
    cr_expect(
        strstr(buf, "\n a_rather_long_dense_layer_  (None, 2)                 8\n name (Dense)\n"),
        "%s", buf);
    keel_model_free(m);
}

/* ---------------------------------------------------------------- predict into a tensor */

Test(trust, predict_into_one_sample_matches_the_batch) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 16, .input_dim = 9, .activation = "relu"));
    keel_add(m, keel_dense(.units = 3, .activation = "softmax"));
    cr_assert_eq(keel_compile(m, .loss = "categorical_crossentropy"), KEEL_OK);
    keel_tensor *x = ramp(5, 9), *out = keel_tensor_new(KEEL_SHAPE(1, 3));
    for (int i = 0; i < 45; i += 4)
        keel_tensor_data(x)[i] = 0; /* zeros: the one-row path skips them */
    keel_tensor *batch = keel_predict(m, x, NULL);
    cr_assert_not_null(batch);
    for (int r = 0; r < 5; r++) {
        keel_tensor *row = keel_tensor_slice(x, r, 1);
        cr_assert_eq(keel_predict_into(m, row, out), KEEL_OK, "%s", keel_last_error());
        for (int c = 0; c < 3; c++)
            cr_expect(fabsf(keel_tensor_data(out)[c] - keel_tensor_data(batch)[r * 3 + c]) < 1e-6f,
                      "row %d class %d: %g vs %g", r, c, keel_tensor_data(out)[c],
                      keel_tensor_data(batch)[r * 3 + c]);
        keel_tensor_free(row);
    }
    keel_tensor *wrong = keel_tensor_new(KEEL_SHAPE(1, 4));
    keel_tensor *row = keel_tensor_slice(x, 0, 1);
    cr_expect_eq(keel_predict_into(m, row, wrong), KEEL_ERR_SHAPE);
    EXPECT_MSG("out has shape (1, 4) but the predictions have shape (1, 3)");
    cr_expect_eq(keel_predict_into(m, row, NULL), KEEL_ERR_ARG);
    keel_tensor_free(wrong), keel_tensor_free(row);
    keel_tensor_free(batch), keel_tensor_free(out), keel_tensor_free(x);
    keel_model_free(m);
}
