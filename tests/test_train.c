/* test_train.c: end-to-end training that must reach a stated result, and the behaviour of
 * fit / evaluate / predict / *_on_batch / history / callbacks / progress bar / summary that a
 * Keras user relies on. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FMNIST "/usr/share/datasets/fashion-mnist"

static keel_tensor *from(int64_t r, int64_t c, const float *d) {
    return keel_tensor_from_data(KEEL_SHAPE(r, c), d);
}

Test(train, hello_y_equals_2x) {
    float xs[] = {1, 2, 3, 4, 5}, ys[] = {2, 4, 6, 8, 10}, six[] = {6};
    keel_tensor *x = from(5, 1, xs), *y = from(5, 1, ys), *x6 = from(1, 1, six);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 1, .activation = "linear"));
    keel_compile(m, .optimizer = "sgd", .loss = "mean_squared_error");
    cr_assert_eq(keel_fit(m, x, y, .epochs = 1000, .verbose = 0), KEEL_OK, "%s", keel_last_error());
    keel_tensor *p = keel_predict(m, x6, NULL);
    cr_assert_not_null(p);
    cr_expect(fabsf(keel_tensor_data(p)[0] - 12.0f) < 0.5f, "prediction for 6: %f",
              keel_tensor_data(p)[0]);
    keel_tensor_free(p), keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(x6);
    keel_model_free(m);
}

Test(train, xor_binary_crossentropy) {
    float xs[] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[] = {0, 1, 1, 0};
    keel_tensor *x = from(4, 2, xs), *y = from(4, 1, ys);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 8, .input_dim = 2, .activation = "tanh"));
    keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
    keel_compile(m, .optimizer = "adam", .optimizer_opts = {.learning_rate = 0.05f},
                 .loss = "binary_crossentropy", .metrics = {"accuracy"});
    cr_assert_eq(keel_fit(m, x, y, .epochs = 300, .batch_size = 4, .verbose = 0), KEEL_OK);
    double r[2];
    keel_evaluate(m, x, y, r, 2);
    cr_expect_eq(r[1], 1.0, "xor accuracy %g (loss %g)", r[1], r[0]);
    cr_expect(r[0] < 0.1, "xor loss %g", r[0]);
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

static keel_tensor *idx(const char *name, float scale, int64_t rows) {
    char p[512];
    snprintf(p, sizeof p, FMNIST "/%s.gz", name);
    keel_tensor *t = keel_load_idx(p);
    cr_assert_not_null(t, "%s", keel_last_error());
    for (int64_t i = 0; i < keel_tensor_size(t); i++)
        keel_tensor_data(t)[i] *= scale;
    keel_tensor *s = keel_tensor_slice(t, 0, rows);
    keel_tensor_free(t);
    return s;
}

Test(train, fashion_mnist_mlp_subset) {
    if (access(FMNIST "/train-images-idx3-ubyte.gz", R_OK))
        cr_skip_test("dataset-fashion-mnist not installed");
    keel_tensor *x = idx("train-images-idx3-ubyte", 1.0f / 255, 12000),
                *y = idx("train-labels-idx1-ubyte", 1, 12000);
    keel_tensor *xt = idx("t10k-images-idx3-ubyte", 1.0f / 255, 10000),
                *yt = idx("t10k-labels-idx1-ubyte", 1, 10000);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_flatten(.input_shape = {28, 28}));
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dropout(.rate = 0.2f));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    cr_assert_eq(keel_fit(m, x, y, .epochs = 3, .verbose = 0), KEEL_OK, "%s", keel_last_error());
    double r[2];
    cr_assert_eq(keel_evaluate(m, xt, yt, r, 2), KEEL_OK);
    /* tf.keras 2.15 reaches about 0.83 after 3 epochs on 12000 images */
    cr_expect(r[1] >= 0.80, "test accuracy %g", r[1]);
    const double *loss = keel_history_get(keel_model_history(m), "loss");
    cr_expect(loss[2] < loss[0], "loss falls: %g -> %g", loss[0], loss[2]);
    /* evaluate agrees with predict + argmax */
    keel_tensor *p = keel_predict(m, xt, NULL);
    int correct = 0;
    for (int i = 0; i < 10000; i++) {
        const float *row = keel_tensor_data(p) + i * 10;
        int best = 0;
        for (int c = 1; c < 10; c++)
            best = row[c] > row[best] ? c : best;
        correct += best == (int)keel_tensor_data(yt)[i];
    }
    cr_expect_float_eq(r[1], correct / 10000.0, 1e-9);
    keel_tensor_free(p), keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(xt),
        keel_tensor_free(yt);
    keel_model_free(m);
}

Test(train, house_prices_csv) {
    keel_csv *c = keel_csv_load(KEEL_SOURCE_DIR "/data/house_prices.csv", .target = "price");
    cr_assert_not_null(c, "%s", keel_last_error());
    float *y = keel_tensor_data(c->y);
    int64_t n = keel_tensor_dim(c->y, 0);
    for (int64_t i = 0; i < n; i++)
        y[i] /= 10000.0f; /* tens of thousands of dollars */
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 64, .activation = "relu", .input_dim = c->n_features));
    keel_add(m, keel_dense(.units = 1));
    keel_compile(m, .optimizer = "adam", .optimizer_opts = {.learning_rate = 0.01f}, .loss = "mse",
                 .metrics = {"mae"});
    cr_assert_eq(keel_fit(m, c->x, c->y, .epochs = 60, .validation_split = 0.2f, .verbose = 0),
                 KEEL_OK);
    const double *vmae = keel_history_get(keel_model_history(m), "val_mae");
    cr_assert_not_null(vmae);
    /* the mean price is about 68,000; predicting the mean gives an MAE near 20,000 */
    cr_expect(vmae[59] * 10000 < 16000, "val_mae %g dollars", vmae[59] * 10000);
    keel_csv_free(c);
    keel_model_free(m);
}

static keel_model *small_model(uint64_t seed, float dropout) {
    keel_model *m = keel_sequential(NULL);
    keel_model_set_seed(m, seed);
    keel_add(m, keel_dense(.units = 16, .input_dim = 6, .activation = "relu"));
    keel_add(m, keel_dropout(.rate = dropout));
    keel_add(m, keel_dense(.units = 3, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    return m;
}

static void toy(keel_tensor **x, keel_tensor **y, int n) {
    *x = keel_tensor_new(KEEL_SHAPE(n, 6));
    *y = keel_tensor_new(KEEL_SHAPE(n));
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int j = 0; j < 6; j++)
            s += (keel_tensor_data(*x)[i * 6 + j] = sinf((float)(i * 6 + j) * 0.37f));
        keel_tensor_data(*y)[i] = s > 0.5f ? 2.0f : (s > -0.5f ? 1.0f : 0.0f);
    }
}

Test(train, same_seed_same_weights_bit_for_bit) {
    keel_tensor *x, *y;
    toy(&x, &y, 200);
    keel_model *a = small_model(7, 0.3f), *b = small_model(7, 0.3f), *c = small_model(8, 0.3f);
    keel_fit(a, x, y, .epochs = 3, .batch_size = 16, .verbose = 0);
    keel_fit(b, x, y, .epochs = 3, .batch_size = 16, .verbose = 0);
    keel_fit(c, x, y, .epochs = 3, .batch_size = 16, .verbose = 0);
    int64_t n;
    float *wa = keel_model_weights(a, &n), *wb = keel_model_weights(b, NULL),
          *wc = keel_model_weights(c, NULL);
    cr_expect_eq(memcmp(wa, wb, (size_t)n * sizeof(float)), 0, "same seed, same weights");
    cr_expect_neq(memcmp(wa, wc, (size_t)n * sizeof(float)), 0, "another seed, other weights");
    keel_model_free(a), keel_model_free(b), keel_model_free(c);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(train, on_batch_calls_report_pre_update_values) {
    keel_tensor *x, *y;
    toy(&x, &y, 64);
    keel_model *m = small_model(1, 0);
    double before[2], step[2], after[2];
    cr_assert_eq(keel_test_on_batch(m, x, y, before, 2), KEEL_OK);
    cr_assert_eq(keel_train_on_batch(m, x, y, step, 2), KEEL_OK);
    cr_assert_eq(keel_test_on_batch(m, x, y, after, 2), KEEL_OK);
    cr_expect_float_eq(step[0], before[0], 1e-6,
                       "train_on_batch loss is computed before the update");
    cr_expect_float_eq(step[1], before[1], 1e-9);
    cr_expect(after[0] < before[0], "one step lowers the loss: %g -> %g", before[0], after[0]);
    double ev[2];
    keel_evaluate(m, x, y, ev, 2, .batch_size = 5);
    cr_expect_float_eq(ev[0], after[0], 1e-5, "evaluate over batches of 5 == one batch");
    keel_tensor *p = keel_predict_on_batch(m, x);
    cr_expect_eq(keel_tensor_dim(p, 0), 64);
    cr_expect_eq(keel_tensor_dim(p, 1), 3);
    keel_tensor_free(p);
    const char *names[4];
    cr_expect_eq(keel_model_metric_names(m, names, 4), 2);
    cr_expect_str_eq(names[0], "loss");
    cr_expect_str_eq(names[1], "accuracy");
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(train, validation_split_is_the_last_fraction) {
    keel_tensor *x, *y;
    toy(&x, &y, 100);
    keel_model *m = small_model(3, 0);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 2, .validation_split = 0.25f, .verbose = 0), KEEL_OK);
    const keel_history *h = keel_model_history(m);
    cr_expect_eq(keel_history_epochs(h), 2);
    const char *keys[8];
    cr_expect_eq(keel_history_keys(h, keys, 8), 4);
    cr_expect_str_eq(keys[2], "val_loss");
    keel_tensor *xv = keel_tensor_slice(x, 75, 25), *yv = keel_tensor_slice(y, 75, 25);
    double r[2];
    keel_evaluate(m, xv, yv, r, 2);
    cr_expect_float_eq(keel_history_get(h, "val_loss")[1], r[0], 1e-6);
    cr_expect_float_eq(keel_history_get(h, "val_accuracy")[1], r[1], 1e-9);
    keel_tensor_free(xv), keel_tensor_free(yv), keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

Test(train, early_stopping_restores_best_weights) {
    keel_tensor *x, *y;
    toy(&x, &y, 64);
    /* "max" on a falling loss: epoch 0 stays best, patience 1 stops after epoch 1 */
    keel_model *m = small_model(5, 0), *ref = small_model(5, 0);
    cr_assert_eq(
        keel_fit(m, x, y, .epochs = 10, .verbose = 0,
                 .early_stopping = keel_early_stopping(.monitor = "loss", .mode = "max",
                                                       .patience = 1, .restore_best_weights = 1)),
        KEEL_OK);
    cr_expect_eq(keel_history_epochs(keel_model_history(m)), 2);
    keel_fit(ref, x, y, .epochs = 1, .verbose = 0);
    int64_t n;
    float *wm = keel_model_weights(m, &n);
    cr_expect_eq(memcmp(wm, keel_model_weights(ref, NULL), (size_t)n * 4), 0,
                 "weights are those after epoch 1");
    keel_model_free(m), keel_model_free(ref);
    keel_tensor_free(x), keel_tensor_free(y);
}

static int stop_at_2(keel_model *m, int epoch, const keel_logs *logs, void *user) {
    double v;
    *(int *)user += keel_logs_get(logs, "accuracy", &v);
    return epoch == 2;
}

Test(train, callback_can_stop_training) {
    keel_tensor *x, *y;
    toy(&x, &y, 64);
    keel_model *m = small_model(5, 0);
    int seen = 0;
    cr_assert_eq(keel_fit(m, x, y, .epochs = 10, .verbose = 0,
                          .callback = {.on_epoch_end = stop_at_2, .user = &seen}),
                 KEEL_OK);
    cr_expect_eq(keel_history_epochs(keel_model_history(m)), 3);
    cr_expect_eq(seen, 3);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

static char *capture(keel_model *m, const keel_tensor *x, const keel_tensor *y, int verbose) {
    FILE *f = tmpfile();
    keel_fit(m, x, y, .epochs = 2, .batch_size = 16, .verbose = verbose, .out = f);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

Test(train, progress_bar_in_a_file_is_one_line_per_epoch) {
    keel_tensor *x, *y;
    toy(&x, &y, 64);
    keel_model *m = small_model(5, 0);
    char *s = capture(m, x, y, 1);
    cr_expect(strncmp(s, "Epoch 1/2\n4/4 [==============================] - ", 49) == 0, "got: %s",
              s);
    cr_expect(strstr(s, "/step - loss: ") && strstr(s, " - accuracy: "), "got: %s", s);
    cr_expect(strchr(s, '\r') == NULL && strchr(s, '\b') == NULL, "no redraw characters in a file");
    int lines = 0;
    for (char *p = s; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, 4, "got: %s", s);
    free(s);
    s = capture(m, x, y, 2);
    cr_expect(strncmp(s, "Epoch 1/2\n4/4 - ", 16) == 0, "got: %s", s);
    cr_expect(strstr(s, "/epoch - ") && strstr(s, "/step\n"), "got: %s", s);
    free(s);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(train, summary_is_the_tf_keras_table) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_flatten(.input_shape = {28, 28}));
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dropout(.rate = 0.2f));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy");
    FILE *f = tmpfile();
    cr_assert_eq(keel_summary(m, f), KEEL_OK);
    long n = ftell(f);
    rewind(f);
    char s[4096] = {0};
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    const char *want = "Model: \"sequential\"\n"
                       "_________________________________________________________________\n"
                       " Layer (type)                Output Shape              Param #\n"
                       "=================================================================\n"
                       " flatten (Flatten)           (None, 784)               0\n"
                       "\n"
                       " dense (Dense)               (None, 128)               100480\n"
                       "\n"
                       " dropout (Dropout)           (None, 128)               0\n"
                       "\n"
                       " dense_1 (Dense)             (None, 10)                1290\n"
                       "=================================================================\n"
                       "Total params: 101770 (397.54 KB)\n"
                       "Trainable params: 101770 (397.54 KB)\n"
                       "Non-trainable params: 0 (0.00 Byte)\n"
                       "_________________________________________________________________\n";
    cr_expect_str_eq(s, want);
    cr_expect_eq(keel_model_count_params(m), 101770);
    keel_model_free(m);
}

Test(train, threads_setting) {
    keel_set_threads(1);
    cr_expect_eq(keel_get_threads(), 1);
    keel_set_threads(0);
    cr_expect_geq(keel_get_threads(), 1);
    cr_expect(strstr(keel_gemm_backend(), "blis") != NULL);
}
