/* test_save.c: keel_save / keel_load / keel_save_weights / keel_load_weights and
 * ModelCheckpoint: round trips for Sequential, functional, nested and shared-layer models,
 * resuming training bit for bit, safe writes, and damaged or hostile files. (Files written by
 * real Keras are in test_keras_files.c.) */
#include "../src/save/save.h"

#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <ftw.h>
#include <unistd.h>
#include <zip.h>

static char dir[256];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/keel_save_%d", (int)getpid());
    mkdir(dir, 0755);
}

static const char *path_of(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static keel_tensor *ramp(int64_t n, int64_t f, float scale) {
    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(n, f));
    float *d = keel_tensor_data(t);
    for (int64_t i = 0; i < n * f; i++)
        d[i] = scale * sinf((float)i * 0.37f + 0.1f);
    return t;
}

static keel_model *mlp(const char *opt) {
    keel_model *m = keel_sequential("mlp");
    keel_add(m, keel_dense(.units = 8, .activation = "relu", .input_dim = 5));
    keel_add(m, keel_batch_normalization());
    keel_add(m, keel_dropout(.rate = 0.25f));
    keel_add(m, keel_dense(.units = 3, .activation = "softmax"));
    cr_assert_eq(keel_compile(m, .optimizer = opt, .loss = "categorical_crossentropy",
                              .metrics = {"accuracy"}),
                 KEEL_OK, "%s", keel_last_error());
    return m;
}

static keel_tensor *onehot(int64_t n, int k) {
    keel_tensor *y = keel_tensor_new(KEEL_SHAPE(n, k));
    for (int64_t i = 0; i < n; i++)
        keel_tensor_data(y)[i * k + (i * 7 % k)] = 1;
    return y;
}

static void expect_same(keel_tensor *a, keel_tensor *b, const char *what) {
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    int64_t n = 1;
    for (int i = 0; i < 2; i++)
        n *= keel_tensor_dim(a, i);
    cr_assert_eq(memcmp(keel_tensor_data(a), keel_tensor_data(b), (size_t)n * sizeof(float)), 0,
                 "%s: predictions differ", what);
}

static void expect_same_weights(keel_model *a, keel_model *b) {
    int64_t na, nb;
    float *wa = keel_model_weights(a, &na);
    float *wb = keel_model_weights(b, &nb);
    cr_assert_eq(na, nb);
    cr_expect_eq(memcmp(wa, wb, (size_t)na * sizeof(float)), 0, "weights differ");
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* the test's files go with it */
static void teardown(void) {
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(save, .init = setup, .fini = teardown);

Test(save, snake_case_is_keras) {
    /* values from keras.src.utils.naming.to_snake_case */
    const char *in[] = {"Dense",
                        "BatchNormalization",
                        "LSTM",
                        "GRU",
                        "SimpleRNN",
                        "Conv2D",
                        "Conv2DTranspose",
                        "UpSampling2D",
                        "PReLU",
                        "LeakyReLU",
                        "ReLU",
                        "ELU",
                        "GlobalAveragePooling2D",
                        "ZeroPadding2D",
                        "TimeDistributed",
                        "InputLayer"};
    const char *want[] = {"dense",
                          "batch_normalization",
                          "lstm",
                          "gru",
                          "simple_rnn",
                          "conv2d",
                          "conv2d_transpose",
                          "up_sampling2d",
                          "p_re_lu",
                          "leaky_re_lu",
                          "re_lu",
                          "elu",
                          "global_average_pooling2d",
                          "zero_padding2d",
                          "time_distributed",
                          "input_layer"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char out[64];
        keel_snake_case(in[i], out, sizeof out);
        cr_expect_str_eq(out, want[i], "%s", in[i]);
    }
}

Test(save, sequential_round_trip_with_optimizer) {
    keel_model *m = mlp("adam");
    keel_tensor *x = ramp(40, 5, 1.0f), *y = onehot(40, 3);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 2, .batch_size = 8, .verbose = 0), KEEL_OK);
    cr_assert_eq(keel_save(m, path_of("mlp.keras")), KEEL_OK, "%s", keel_last_error());
    keel_model *l = keel_load(path_of("mlp.keras"));
    cr_assert_not_null(l, "%s", keel_last_error());
    expect_same_weights(m, l);
    keel_tensor *a = keel_predict(m, x, NULL), *b = keel_predict(l, x, NULL);
    expect_same(a, b, "mlp");
    /* compiled as saved: the same loss and metric */
    double ra[2], rb[2];
    cr_assert_eq(keel_evaluate(m, x, y, ra, 2, .verbose = 0), KEEL_OK);
    cr_assert_eq(keel_evaluate(l, x, y, rb, 2, .verbose = 0), KEEL_OK, "%s", keel_last_error());
    cr_expect_eq(ra[0], rb[0]);
    cr_expect_eq(ra[1], rb[1]);
    keel_tensor_free(a), keel_tensor_free(b);
    keel_model_free(m), keel_model_free(l);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* fit 2 epochs == fit 1, save, load, fit 1 more (shuffling, dropout masks and Adam's state
 * all continue) */
static void resume_case(const char *opt) {
    keel_tensor *x = ramp(48, 5, 1.0f), *y = onehot(48, 3);
    keel_model *a = mlp(opt);
    cr_assert_eq(keel_fit(a, x, y, .epochs = 2, .batch_size = 8, .verbose = 0), KEEL_OK);
    keel_model *b = mlp(opt);
    cr_assert_eq(keel_fit(b, x, y, .epochs = 1, .batch_size = 8, .verbose = 0), KEEL_OK);
    cr_assert_eq(keel_save(b, path_of("resume.keras")), KEEL_OK, "%s", keel_last_error());
    keel_model_free(b);
    keel_model *c = keel_load(path_of("resume.keras"));
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_assert_eq(keel_fit(c, x, y, .epochs = 2, .initial_epoch = 1, .batch_size = 8, .verbose = 0),
                 KEEL_OK, "%s", keel_last_error());
    expect_same_weights(a, c);
    keel_model_free(a), keel_model_free(c);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(save, resume_is_bit_identical_adam) {
    resume_case("adam");
}
Test(save, resume_is_bit_identical_sgd_momentum) {
    resume_case("sgd(momentum=0.9, nesterov=1)");
}
Test(save, resume_is_bit_identical_rmsprop_centered) {
    resume_case("rmsprop(momentum=0.5, centered=1)");
}
Test(save, resume_is_bit_identical_adam_schedule) {
    keel_tensor *x = ramp(48, 5, 1.0f), *y = onehot(48, 3);
    keel_model *models[2];
    for (int k = 0; k < 2; k++) {
        models[k] = keel_sequential("s");
        keel_add(models[k], keel_dense(.units = 4, .activation = "tanh", .input_dim = 5));
        keel_add(models[k], keel_dense(.units = 3, .activation = "softmax"));
        cr_assert_eq(keel_compile(models[k], .optimizer = "adam(amsgrad=1)",
                                  .optimizer_opts = {.learning_rate_schedule =
                                                         "exponential_decay(0.05, 3, 0.5)"},
                                  .loss = "categorical_crossentropy"),
                     KEEL_OK, "%s", keel_last_error());
    }
    keel_fit(models[0], x, y, .epochs = 2, .batch_size = 8, .verbose = 0);
    keel_fit(models[1], x, y, .epochs = 1, .batch_size = 8, .verbose = 0);
    cr_assert_eq(keel_save(models[1], path_of("sched.keras")), KEEL_OK, "%s", keel_last_error());
    keel_model *c = keel_load(path_of("sched.keras"));
    cr_assert_not_null(c, "%s", keel_last_error());
    keel_fit(c, x, y, .epochs = 2, .initial_epoch = 1, .batch_size = 8, .verbose = 0);
    expect_same_weights(models[0], c);
    keel_model_free(models[0]), keel_model_free(models[1]), keel_model_free(c);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* two inputs, a shared layer called twice, a nested Sequential, two outputs */
static keel_model *functional(void) {
    keel_model *inner = keel_sequential("inner");
    keel_add(inner, keel_dense(.units = 4, .activation = "tanh", .input_dim = 6));
    keel_add(inner, keel_dense(.units = 2, .name = "inner_out"));
    keel_model *m = keel_model_new("two_towers");
    keel_sym *a = keel_model_input(m, .shape = {6}, .name = "left");
    keel_sym *b = keel_model_input(m, .shape = {6}, .name = "right");
    keel_layer *shared = keel_dense(.units = 6, .activation = "relu", .name = "shared");
    keel_sym *ha = keel_apply(m, shared, a), *hb = keel_apply(m, shared, b);
    keel_sym *ia = keel_apply_model(m, inner, 1, &ha), *ib = keel_apply_model(m, inner, 1, &hb);
    keel_sym *cat = keel_apply_n(m, keel_concatenate(), 2, (keel_sym *[]){ia, ib});
    keel_sym *sum = keel_apply_n(m, keel_merge_add(), 2, (keel_sym *[]){ia, ib});
    keel_sym *o1 = keel_apply(m, keel_dense(.units = 1, .name = "score"), cat);
    keel_sym *o2 =
        keel_apply(m, keel_dense(.units = 2, .activation = "softmax", .name = "kind"), sum);
    keel_model_outputs(m, 2, (keel_sym *[]){o1, o2});
    keel_model_free(inner);
    cr_assert_eq(keel_compile(m, .optimizer = "rmsprop",
                              .losses = {"mse", "categorical_crossentropy"},
                              .loss_weights = {1.0f, 0.5f}, .metrics = {"mae"}),
                 KEEL_OK, "%s", keel_last_error());
    return m;
}

Test(save, functional_nested_shared_round_trip) {
    keel_model *m = functional();
    keel_tensor *xa = ramp(16, 6, 1.0f), *xb = ramp(16, 6, -0.5f);
    const keel_tensor *xs[2] = {xa, xb};
    keel_tensor *x = keel_tensor_list(2, xs);
    keel_tensor *y1 = ramp(16, 1, 0.3f), *y2 = onehot(16, 2);
    const keel_tensor *ys[2] = {y1, y2};
    keel_tensor *y = keel_tensor_list(2, ys);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 1, .batch_size = 4, .verbose = 0), KEEL_OK, "%s",
                 keel_last_error());
    cr_assert_eq(keel_save(m, path_of("f.keras")), KEEL_OK, "%s", keel_last_error());
    keel_model *l = keel_load(path_of("f.keras"));
    cr_assert_not_null(l, "%s", keel_last_error());
    expect_same_weights(m, l);
    keel_tensor *pa[2], *pb[2];
    cr_assert_eq(keel_predict_outputs(m, x, pa, 2), 2);
    cr_assert_eq(keel_predict_outputs(l, x, pb, 2), 2, "%s", keel_last_error());
    expect_same(pa[0], pb[0], "score");
    expect_same(pa[1], pb[1], "kind");
    /* the shared layer is still one layer: training the loaded model keeps the two calls tied */
    cr_expect_eq(keel_model_count_params(l), keel_model_count_params(m));
    for (int k = 0; k < 2; k++)
        keel_tensor_free(pa[k]), keel_tensor_free(pb[k]);
    keel_model_free(m), keel_model_free(l);
    keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(xa), keel_tensor_free(xb);
    keel_tensor_free(y1), keel_tensor_free(y2);
}

Test(save, weights_only_round_trip_and_mismatch) {
    keel_model *m = mlp("adam");
    keel_tensor *x = ramp(16, 5, 1.0f), *y = onehot(16, 3);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 1, .batch_size = 4, .verbose = 0), KEEL_OK);
    keel_tensor_free(y);
    keel_tensor *before = keel_predict(m, x, NULL);
    cr_assert_eq(keel_save_weights(m, path_of("w.weights.h5")), KEEL_OK, "%s", keel_last_error());
    keel_model *fresh = mlp("sgd");
    keel_tensor *untrained = keel_predict(fresh, x, NULL);
    cr_assert_neq(memcmp(keel_tensor_data(before), keel_tensor_data(untrained), 16 * sizeof(float)),
                  0);
    keel_tensor_free(untrained);
    cr_assert_eq(keel_load_weights(fresh, path_of("w.weights.h5")), KEEL_OK, "%s",
                 keel_last_error());
    keel_tensor *after = keel_predict(fresh, x, NULL);
    expect_same(before, after, "weights only");
    /* a model of another shape: an error naming the weight, and nothing changed */
    keel_model *other = keel_sequential("mlp");
    keel_add(other, keel_dense(.units = 9, .activation = "relu", .input_dim = 5));
    keel_add(other, keel_batch_normalization());
    keel_add(other, keel_dropout(.rate = 0.25f));
    keel_add(other, keel_dense(.units = 3, .activation = "softmax"));
    keel_compile(other, .optimizer = "sgd", .loss = "mse");
    int64_t n;
    const float *cur = keel_model_weights(other, &n);
    float *w0 = malloc((size_t)n * sizeof(float));
    memcpy(w0, cur, (size_t)n * sizeof(float));
    cr_expect_eq(keel_load_weights(other, path_of("w.weights.h5")), KEEL_ERR_SHAPE);
    cr_expect(strstr(keel_last_error(), "layers/dense/vars/0"), "%s", keel_last_error());
    cr_expect(strstr(keel_last_error(), "(5, 8)") && strstr(keel_last_error(), "(5, 9)"), "%s",
              keel_last_error());
    float *w1 = keel_model_weights(other, &n);
    cr_expect_eq(memcmp(w0, w1, (size_t)n * sizeof(float)), 0, "a failed load changed weights");
    free(w0);
    keel_tensor_free(before), keel_tensor_free(after), keel_tensor_free(x);
    keel_model_free(m), keel_model_free(fresh), keel_model_free(other);
}

/* A save that fails halfway (the file-size limit is hit while writing) reports it and leaves
 * the earlier file whole. */
Test(save, failed_save_keeps_the_old_file) {
    keel_model *m = mlp("adam");
    const char *p = path_of("keep.keras");
    cr_assert_eq(keel_save(m, p), KEEL_OK, "%s", keel_last_error());
    struct stat st0;
    cr_assert_eq(stat(p, &st0), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)(st0.st_size / 2);
    setrlimit(RLIMIT_FSIZE, &lim);
    keel_status s = keel_save(m, p);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_expect_eq(s, KEEL_ERR_IO, "%s", keel_last_error());
    cr_expect(strstr(keel_last_error(), "keep.keras"), "%s", keel_last_error());
    struct stat st1;
    cr_assert_eq(stat(p, &st1), 0);
    cr_expect_eq(st1.st_size, st0.st_size);
    keel_model *l = keel_load(p);
    cr_expect_not_null(l, "the earlier file no longer loads: %s", keel_last_error());
    keel_model_free(l), keel_model_free(m);
}

Test(save, legacy_h5_is_read_only) {
    keel_model *m = mlp("adam");
    cr_expect_eq(keel_save(m, path_of("m.h5")), KEEL_ERR_UNSUPPORTED);
    cr_expect(strstr(keel_last_error(), ".keras"), "%s", keel_last_error());
    keel_model_free(m);
}

static void write_bytes(const char *p, const void *b, size_t n) {
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fwrite(b, 1, n, f);
    fclose(f);
}

/* a .keras archive with the given members (stored) */
static void write_keras(const char *p, const char *meta, const char *config, const void *w,
                        size_t wlen) {
    int err;
    unlink(p);
    zip_t *z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);
    cr_assert_not_null(z);
    if (meta) zip_file_add(z, "metadata.json", zip_source_buffer(z, meta, strlen(meta), 0), 0);
    if (config) zip_file_add(z, "config.json", zip_source_buffer(z, config, strlen(config), 0), 0);
    if (w) zip_file_add(z, "model.weights.h5", zip_source_buffer(z, w, wlen, 0), 0);
    cr_assert_eq(zip_close(z), 0);
}

static void *slurp(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void expect_load_error(const char *p, keel_status want, const char *needle) {
    keel_model *m = keel_load(p);
    cr_expect_null(m, "%s loaded", p);
    keel_model_free(m);
    cr_expect_eq(keel_last_status(), want, "%s: %s", p, keel_last_error());
    cr_expect(strstr(keel_last_error(), needle), "%s: '%s' not in: %s", p, needle,
              keel_last_error());
}

Test(save, damaged_and_hostile_files) {
    expect_load_error(path_of("missing.keras"), KEEL_ERR_IO, "missing.keras");
    write_bytes(path_of("text.keras"), "hello", 5);
    expect_load_error(path_of("text.keras"), KEEL_ERR_FORMAT, "neither");
    /* a real file cut in half */
    keel_model *m = mlp("adam");
    cr_assert_eq(keel_save(m, path_of("whole.keras")), KEEL_OK);
    size_t n;
    char *whole = slurp(path_of("whole.keras"), &n);
    write_bytes(path_of("half.keras"), whole, n / 2);
    expect_load_error(path_of("half.keras"), KEEL_ERR_FORMAT, "half.keras");
    /* its members, re-packed with changes */
    int err;
    zip_t *z = zip_open(path_of("whole.keras"), ZIP_RDONLY, &err);
    zip_stat_t s;
    zip_stat(z, "model.weights.h5", 0, &s);
    char *w = malloc(s.size);
    zip_file_t *zf = zip_fopen(z, "model.weights.h5", 0);
    zip_fread(zf, w, s.size);
    zip_fclose(zf);
    zip_stat(z, "config.json", 0, &s);
    char *cfg = calloc(1, s.size + 1);
    zf = zip_fopen(z, "config.json", 0);
    zip_fread(zf, cfg, s.size);
    zip_fclose(zf);
    zip_discard(z);
    size_t wlen = 0;
    {
        zip_t *z2 = zip_open(path_of("whole.keras"), ZIP_RDONLY, &err);
        zip_stat(z2, "model.weights.h5", 0, &s);
        wlen = s.size;
        zip_discard(z2);
    }
    const char *meta = "{\"keras_version\": \"3.15.1\"}";
    write_keras(path_of("nometa.keras"), NULL, cfg, w, wlen);
    expect_load_error(path_of("nometa.keras"), KEEL_ERR_FORMAT, "metadata.json");
    write_keras(path_of("newer.keras"), "{\"keras_version\": \"4.0.0\"}", cfg, w, wlen);
    expect_load_error(path_of("newer.keras"), KEEL_ERR_UNSUPPORTED, "Keras 4.0.0");
    write_keras(path_of("badjson.keras"), meta, "{\"class_name\": ", w, wlen);
    expect_load_error(path_of("badjson.keras"), KEEL_ERR_FORMAT, "config.json");
    write_keras(path_of("noweights.keras"), meta, cfg, NULL, 0);
    expect_load_error(path_of("noweights.keras"), KEEL_ERR_FORMAT, "model.weights.h5");
    write_keras(path_of("badweights.keras"), meta, cfg, "not hdf5 at all", 15);
    expect_load_error(path_of("badweights.keras"), KEEL_ERR_FORMAT, "model.weights.h5");
    /* a layer class keel lacks, named with the file */
    char *swapped = strdup(cfg);
    char *dense = strstr(swapped, "\"Dense\"");
    cr_assert_not_null(dense);
    memcpy(dense, "\"Dunce\"", 7);
    write_keras(path_of("unknown.keras"), meta, swapped, w, wlen);
    expect_load_error(path_of("unknown.keras"), KEEL_ERR_UNSUPPORTED, "Dunce");
    /* a weight whose shape disagrees with the config */
    free(swapped);
    swapped = strdup(cfg);
    char *units = strstr(swapped, "\"units\": 8");
    cr_assert_not_null(units);
    units[9] = '9';
    write_keras(path_of("shape.keras"), meta, swapped, w, wlen);
    expect_load_error(path_of("shape.keras"), KEEL_ERR_SHAPE, "layers/dense/vars/0");
    /* a config nested 10,000 deep */
    size_t deep_n = 10000;
    char *deep = malloc(deep_n * 2 + 64);
    size_t k = 0;
    for (size_t i = 0; i < deep_n; i++)
        deep[k++] = '[';
    for (size_t i = 0; i < deep_n; i++)
        deep[k++] = ']';
    deep[k] = 0;
    write_keras(path_of("deep.keras"), meta, deep, w, wlen);
    expect_load_error(path_of("deep.keras"), KEEL_ERR_FORMAT, "config.json");
    /* a zip bomb: a deflated member that inflates a thousandfold and more */
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    unlink(path_of("bomb.keras"));
    z = zip_open(path_of("bomb.keras"), ZIP_CREATE | ZIP_TRUNCATE, &err);
    zip_file_add(z, "metadata.json", zip_source_buffer(z, meta, strlen(meta), 0), 0);
    zip_file_add(z, "config.json", zip_source_buffer(z, zeros, big, 0), 0);
    zip_file_add(z, "model.weights.h5", zip_source_buffer(z, w, wlen, 0), 0);
    cr_assert_eq(zip_close(z), 0);
    expect_load_error(path_of("bomb.keras"), KEEL_ERR_FORMAT, "config.json");
    free(zeros), free(deep), free(swapped), free(cfg), free(w), free(whole);
    keel_model_free(m);
}

Test(save, checkpoint_best_only_and_filepath_format) {
    keel_model *m = mlp("adam");
    keel_tensor *x = ramp(32, 5, 1.0f), *y = onehot(32, 3);
    char fmt[512];
    snprintf(fmt, sizeof fmt, "%s/ck-{epoch:02d}-{loss:.3f}.keras", dir);
    cr_assert_eq(
        keel_fit(m, x, y, .epochs = 3, .batch_size = 8, .verbose = 0,
                 .model_checkpoint = keel_model_checkpoint(.filepath = fmt, .monitor = "loss")),
        KEEL_OK, "%s", keel_last_error());
    const keel_history *h = keel_model_history(m);
    double l3 = keel_history_get(h, "loss")[2];
    char want[600];
    snprintf(want, sizeof want, "%s/ck-03-%.3f.keras", dir, l3);
    keel_model *l = keel_load(want);
    cr_assert_not_null(l, "%s", keel_last_error());
    expect_same_weights(m, l);
    keel_model_free(l);
    /* save_best_only with a monitor that only gets worse saves once */
    snprintf(fmt, sizeof fmt, "%s/best-{epoch}.weights.h5", dir);
    cr_assert_eq(
        keel_fit(m, x, y, .epochs = 3, .batch_size = 8, .verbose = 0,
                 .model_checkpoint =
                     keel_model_checkpoint(.filepath = fmt, .monitor = "loss", .mode = "max",
                                           .save_best_only = 1, .save_weights_only = 1)),
        KEEL_OK, "%s", keel_last_error());
    snprintf(want, sizeof want, "%s/best-1.weights.h5", dir);
    cr_expect_eq(access(want, F_OK), 0, "%s missing", want);
    cr_expect_eq(keel_fit(m, x, y, .epochs = 1, .verbose = 0,
                          .model_checkpoint = keel_model_checkpoint(.filepath = "{nope}.keras")),
                 KEEL_ERR_ARG);
    cr_expect(strstr(keel_last_error(), "nope"), "%s", keel_last_error());
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* The model of Keras 3's own layout listing (keras 3.15.1, model.save then h5py visititems):
 * the weight paths keel writes must be exactly the ones Keras writes and reads. */
Test(save, weight_paths_are_keras3s) {
    keel_model *inner = keel_sequential("inner");
    keel_add(inner, keel_dense(.units = 4, .input_dim = 6, .name = "in_d"));
    keel_model *m = keel_model_new("functional_1");
    keel_sym *a = keel_model_input(m, .shape = {5}, .name = "a");
    keel_sym *b = keel_model_input(m, .shape = {5}, .name = "b");
    keel_sym *s = keel_model_input(m, .shape = {7, 3}, .name = "s");
    keel_sym *x = keel_apply_n(m, keel_merge_add(), 2, (keel_sym *[]){a, b});
    x = keel_apply(m, keel_dense(.units = 6), x);
    x = keel_apply(m, keel_batch_normalization(), x);
    keel_sym *y1 = keel_apply_model(m, inner, 1, &x), *y2 = keel_apply_model(m, inner, 1, &x);
    keel_sym *r = keel_apply(m, keel_bidirectional(.layer = keel_lstm(.units = 2)), s);
    keel_sym *t = keel_apply(m, keel_time_distributed(.layer = keel_dense(.units = 2)), s);
    keel_sym *g = keel_apply(m, keel_gru(.units = 2), t);
    keel_sym *o = keel_apply_n(m, keel_concatenate(), 4, (keel_sym *[]){y1, y2, r, g});
    keel_sym *o2 = keel_apply(m, keel_dense(.units = 1, .name = "o2"), o);
    keel_model_outputs(m, 2, (keel_sym *[]){o, o2});
    keel_model_free(inner);
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK, "%s",
                 keel_last_error());
    cr_assert_eq(keel_save_weights(m, path_of("paths.weights.h5")), KEEL_OK, "%s",
                 keel_last_error());
    hid_t f = H5Fopen(path_of("paths.weights.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0);
    const char *want[] = {"layers/batch_normalization/vars/3",
                          "layers/bidirectional/backward_layer/cell/vars/2",
                          "layers/bidirectional/forward_layer/cell/vars/0",
                          "layers/dense/vars/1",
                          "layers/dense_1/vars/1",
                          "layers/gru/cell/vars/2",
                          "layers/sequential/layers/dense/vars/1",
                          "layers/time_distributed/layer/vars/1",
                          "layers/input_layer_2/vars",
                          "layers/concatenate/vars",
                          "vars"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(keel_h5_exists(f, want[i]), "%s missing", want[i]);
    cr_expect(!keel_h5_exists(f, "layers/dense_2"), "a third Dense");
    char **names;
    int n;
    cr_assert_eq(keel_h5_attr_strings(f, "layers/dense_1/vars", "name", false, &names, &n, "t"),
                 KEEL_OK);
    cr_expect_str_eq(names[0], "o2");
    keel_h5_strings_free(names, n);
    cr_assert_eq(
        keel_h5_attr_strings(f, "layers/input_layer_2/vars", "name", false, &names, &n, "t"),
        KEEL_OK);
    cr_expect_str_eq(names[0], "s");
    keel_h5_strings_free(names, n);
    H5Fclose(f);
    keel_model_free(m);
}
