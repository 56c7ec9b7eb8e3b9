/* test_save_hostile.c: keel_load on hostile and damaged model files. Each is a clear error (a
 * status and one line naming the file and what is wrong), found quickly and without memory
 * out of proportion to the file. The files are made here: .keras archives with libzip around
 * keel's own saves edited through HDF5's C API, and copies of the committed tf.keras 2 fixtures
 * edited the same way; no Python. Cases marked "fuzz:" are what tests/fuzz/fuzz_keras_*.c found
 * (each fix is named in the commit that made it); the others are the hostile files the model
 * file issue lists. (Damaged archives, a zip bomb and deep JSON are in test_save.c.) */
#include "../src/save/save.h"

#include <criterion/criterion.h>
#include <keel.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

static char dir[256];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/keel_hostile_%d", (int)getpid());
    mkdir(dir, 0755);
}

TestSuite(hostile, .init = setup);

static const char *path_of(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---------------------------------------------------------------- files */

static const char *const META = "{\"keras_version\": \"3.15.1\"}";

/* a .keras archive of three stored members */
static void write_keras(const char *p, const char *config, const void *w, size_t wlen) {
    int err;
    unlink(p);
    zip_t *z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);
    cr_assert_not_null(z);
    zip_file_add(z, "metadata.json", zip_source_buffer(z, META, strlen(META), 0), 0);
    zip_file_add(z, "config.json", zip_source_buffer(z, config, strlen(config), 0), 0);
    zip_file_add(z, "model.weights.h5", zip_source_buffer(z, w, wlen, 0), 0);
    cr_assert_eq(zip_close(z), 0);
}

static void *member(const char *p, const char *name, size_t *n) {
    int err;
    zip_t *z = zip_open(p, ZIP_RDONLY, &err);
    cr_assert_not_null(z);
    zip_stat_t s;
    cr_assert_eq(zip_stat(z, name, 0, &s), 0);
    char *b = calloc(1, s.size + 1);
    zip_file_t *zf = zip_fopen(z, name, 0);
    cr_assert_eq(zip_fread(zf, b, s.size), (zip_int64_t)s.size);
    zip_fclose(zf);
    zip_discard(z);
    *n = s.size;
    return b;
}

/* Dense(8) on 5 features, BatchNormalization, Dense(3): saved by keel, compiled with Adam and
 * trained a step (so the optimizer has state); its config.json and model.weights.h5 */
typedef struct saved {
    char *config;
    void *w;
    size_t wlen;
} saved;

static saved mlp_files(void) {
    keel_model *m = keel_sequential("mlp");
    keel_add(m, keel_dense(.units = 8, .activation = "relu", .input_dim = 5));
    keel_add(m, keel_batch_normalization());
    keel_add(m, keel_dense(.units = 3, .activation = "softmax"));
    cr_assert_eq(keel_compile(m, .optimizer = "adam", .loss = "categorical_crossentropy"), KEEL_OK);
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(4, 5)), *y = keel_tensor_new(KEEL_SHAPE(4, 3));
    for (int i = 0; i < 20; i++)
        keel_tensor_data(x)[i] = 0.1f * (float)i;
    for (int i = 0; i < 4; i++)
        keel_tensor_data(y)[i * 3 + i % 3] = 1;
    cr_assert_eq(keel_fit(m, x, y, .epochs = 1, .batch_size = 4, .verbose = 0), KEEL_OK);
    cr_assert_eq(keel_save(m, path_of("mlp.keras")), KEEL_OK, "%s", keel_last_error());
    keel_model_free(m), keel_tensor_free(x), keel_tensor_free(y);
    saved s;
    size_t n;
    s.config = member(path_of("mlp.keras"), "config.json", &n);
    s.w = member(path_of("mlp.keras"), "model.weights.h5", &s.wlen);
    return s;
}

static void saved_free(saved *s) {
    free(s->config), free(s->w);
}

/* An HDF5 image changed by edit: opened read-write in memory, edited, its new bytes
 * (keel_free) */
static void *edit_image(const void *img, size_t n, void (*edit)(hid_t f), size_t *out_n) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    cr_assert(H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0);
    cr_assert(H5Pset_file_image(fapl, (void *)img, n) >= 0);
    hid_t f = H5Fopen("edit.h5", H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    cr_assert(f >= 0);
    edit(f);
    void *out;
    cr_assert_eq(keel_h5_image(f, &out, out_n), KEEL_OK);
    H5Fclose(f);
    return out;
}

/* A copy of a committed tf.keras 2 .h5 under the test directory, edited in place. */
static const char *edit_legacy(const char *fixture, const char *name, void (*edit)(hid_t f)) {
    char src[512];
    snprintf(src, sizeof src, "%s/tests/fixtures/saved/tf2/%s", KEEL_SOURCE_DIR, fixture);
    const char *dst = path_of(name);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    cr_assert(in && out);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, got, out), got);
    fclose(in), fclose(out);
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0);
    edit(f);
    H5Fclose(f);
    return dst;
}

/* dataset path replaced by one of the given type and shape (rank 0: a scalar) */
static void replace_ds(hid_t f, const char *path, hid_t type, int rank, const hsize_t *dims,
                       const void *data) {
    cr_assert(H5Ldelete(f, path, H5P_DEFAULT) >= 0, "%s", path);
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(f, path, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(ds >= 0, "%s", path);
    cr_assert(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(ds), H5Sclose(sp);
}

/* a root (or group) attribute rewritten as a list of variable-length strings */
static void replace_strings(hid_t f, const char *obj, const char *attr, int n, const char **v) {
    if (H5Aexists_by_name(f, obj, attr, H5P_DEFAULT) > 0)
        cr_assert(H5Adelete_by_name(f, obj, attr, H5P_DEFAULT) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate_by_name(f, obj, attr, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(a >= 0);
    cr_assert(H5Awrite(a, t, v) >= 0);
    H5Aclose(a), H5Sclose(sp), H5Tclose(t);
}

/* ---------------------------------------------------------------- checks */

static void expect_error(keel_model *m, keel_status want, const char *needle, const char *what) {
    cr_expect_null(m, "%s: loaded", what);
    keel_model_free(m);
    cr_expect_eq(keel_last_status(), want, "%s: status %d: %s", what, keel_last_status(),
                 keel_last_error());
    cr_expect(strstr(keel_last_error(), needle), "%s: '%s' not in: %s", what, needle,
              keel_last_error());
    cr_expect(!strchr(keel_last_error(), '\n'), "%s: not one line", what);
}

/* keel_load of a .keras made of config and the mlp's weights */
static void expect_config_error(const char *config, keel_status want, const char *needle,
                                const char *name) {
    saved s = mlp_files();
    write_keras(path_of(name), config, s.w, s.wlen);
    keel_model *m = keel_load(path_of(name));
    expect_error(m, want, needle, name);
    cr_expect(strstr(keel_last_error(), name), "%s: the file is not named: %s", name,
              keel_last_error());
    saved_free(&s);
}

/* keel_load of the mlp with its weights file edited */
static keel_model *load_edited(void (*edit)(hid_t f), const char *name) {
    saved s = mlp_files();
    size_t n;
    void *w = edit_image(s.w, s.wlen, edit, &n);
    write_keras(path_of(name), s.config, w, n);
    keel_free(w);
    saved_free(&s);
    return keel_load(path_of(name));
}

/* A Sequential config: an InputLayer of shape [null, 5], then the layers given (JSON). */
static char *seq_config(const char *layers) {
    const char *head = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": "
                       "[{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 5], "
                       "\"name\": \"in\"}}, ";
    char *s = malloc(strlen(head) + strlen(layers) + 8);
    sprintf(s, "%s%s]}}", head, layers);
    return s;
}

/* ---------------------------------------------------------------- found by fuzzing */

/* fuzz: an InputLayer with neither batch_shape nor batch_input_shape crashed (keel_json_type
 * read through the NULL of the absent key) */
Test(hostile, fuzz_input_layer_without_a_shape) {
    const char *cfg = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": "
                      "[{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"in\"}}, "
                      "{\"class_name\": \"Dense\", \"config\": {\"units\": 2}}]}}";
    expect_config_error(cfg, KEEL_ERR_FORMAT, "batch_input_shape is missing", "noshape.keras");
    cr_expect_str_eq(keel_json_type(NULL), "missing");
}

/* fuzz: a config of a few bytes could declare billions of weights, allocated and initialized
 * before the weights file was looked at; now a model may hold one weight per byte of its
 * weights file (a Keras file takes four), and the check comes before any allocation */
Test(hostile, fuzz_weights_beyond_what_the_file_holds) {
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    double t0 = now();
    char *cfg = seq_config("{\"class_name\": \"Dense\", \"config\": {\"name\": \"big\", "
                           "\"units\": 2147483647}}");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "more than its file can hold", "toobig.keras");
    cr_expect(strstr(keel_last_error(), "big"), "%s", keel_last_error());
    free(cfg);
    /* 2^31 x 5 weights is 40 GiB: none of it was touched */
    getrusage(RUSAGE_SELF, &after);
    cr_expect_lt(after.ru_maxrss - before.ru_maxrss, 256 << 10, "grew %ld KiB",
                 after.ru_maxrss - before.ru_maxrss);
    cr_expect_lt(now() - t0, 10.0);
    /* the same through the reader keel_load uses, with the limit set as it sets it */
    const char *txt = "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
                      "{\"class_name\": \"Dense\", \"config\": {\"units\": 100000, "
                      "\"batch_input_shape\": [null, 1000]}}]}}";
    json_t *j = keel_json_parse(txt, strlen(txt), "t");
    cr_assert_not_null(j, "%s", keel_last_error());
    keel_model *m = keel_model_from_json(j, "t");
    cr_assert_not_null(m, "%s", keel_last_error());
    m->max_weights = 1 << 20;
    cr_expect_eq(keel_model_build(m, "t"), KEEL_ERR_FORMAT);
    cr_expect(strstr(keel_last_error(), "(1000, 100000)"), "%s", keel_last_error());
    m->max_weights = 0; /* no limit: a model made in code is the caller's to size */
    keel_model_free(m);
    json_decref(j);
}

/* A functional chain of n Activation layers (Keras 3 schema), listed in reverse order when
 * reverse (an order a pass over the list applies one layer of). */
static char *chain_config(int n, bool reverse) {
    size_t cap = (size_t)n * 260 + 512, len = 0;
    char *s = malloc(cap);
    len += (size_t)sprintf(s + len, "{\"class_name\": \"Functional\", \"config\": {\"name\": "
                                    "\"chain\", \"layers\": [{\"class_name\": \"InputLayer\", "
                                    "\"name\": \"in\", \"config\": {\"batch_shape\": [null, 4], "
                                    "\"name\": \"in\"}, \"inbound_nodes\": []}");
    for (int k = 0; k < n; k++) {
        int i = reverse ? n - 1 - k : k;
        char prev[16];
        if (i)
            snprintf(prev, sizeof prev, "a%d", i - 1);
        else
            snprintf(prev, sizeof prev, "in");
        len += (size_t)sprintf(s + len,
                               ", {\"class_name\": \"Activation\", \"name\": \"a%d\", \"config\": "
                               "{\"name\": \"a%d\", \"activation\": \"relu\"}, \"inbound_nodes\": "
                               "[{\"args\": [{\"class_name\": \"__keras_tensor__\", \"config\": "
                               "{\"keras_history\": [\"%s\", 0, 0]}}], \"kwargs\": {}}]}",
                               i, i, prev);
    }
    sprintf(s + len,
            "], \"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"a%d\", 0, "
            "0]]}}",
            n - 1);
    return s;
}

/* fuzz (by a hang, then a count): reading a functional config of n layers took passes of n
 * lookups of n names each when the list was in reverse order (n^3), and writing it (Keras's
 * layer order) as much; a chain of 9,999 took hours. Now both are n log n, and the walks keep
 * their own stacks. */
Test(hostile, fuzz_long_chains_read_and_write_quickly) {
    int n = KEEL_MAX_FILE_LAYERS - 1; /* and the InputLayer */
    for (int reverse = 0; reverse < 2; reverse++) {
        char *cfg = chain_config(n, reverse);
        double t0 = now();
        json_t *j = keel_json_parse(cfg, strlen(cfg), "chain");
        keel_model *m = j ? keel_model_from_json(j, "chain") : NULL;
        cr_assert_not_null(m, "%s", keel_last_error());
        cr_assert_eq(keel_model_build(m, "chain"), KEEL_OK, "%s", keel_last_error());
        /* the calls come in dependency order whatever the list's */
        cr_expect_str_eq(keel_model_layer(m, 0)->name, "a0");
        cr_expect_str_eq(keel_model_layer(m, n - 1)->name, "a9998");
        json_t *out = keel_model_to_json(m);
        cr_assert_not_null(out, "%s", keel_last_error());
        /* Keras's order: the input, then the chain from its start */
        const json_t *ls = json_object_get(json_object_get(out, "config"), "layers");
        cr_expect_eq(json_array_size(ls), (size_t)n + 1);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(ls, 1), "name")), "a0");
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(ls, (size_t)n), "name")),
                         "a9998");
        double took = now() - t0;
        cr_expect_lt(took, 30.0, "%s order: %.1f s", reverse ? "reverse" : "forward", took);
        json_decref(out), json_decref(j);
        keel_model_free(m);
        free(cfg);
    }
}

/* ---------------------------------------------------------------- sizes in the config */

Test(hostile, dense_units_two_to_the_forty) {
    char *cfg = seq_config("{\"class_name\": \"Dense\", \"config\": {\"units\": 1099511627776}}");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "units = 1099511627776 is too large", "u40.keras");
    free(cfg);
}

Test(hostile, negative_sizes) {
    char *cfg = seq_config("{\"class_name\": \"Dense\", \"config\": {\"units\": -5}}");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "units = -5, expected a positive integer",
                        "neg.keras");
    free(cfg);
    const char *shape = "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
                        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, "
                        "-3]}}, {\"class_name\": \"Dense\", \"config\": {\"units\": 2}}]}}";
    expect_config_error(shape, KEEL_ERR_FORMAT, "batch_shape[1] = -3", "negshape.keras");
    cfg = seq_config("{\"class_name\": \"Conv1D\", \"config\": {\"filters\": 2, "
                     "\"kernel_size\": [-1]}}");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "kernel_size", "negkernel.keras");
    free(cfg);
}

/* a Conv2D whose kernel (2^31 - 1)^2 x 3 x (2^31 - 1) overflows 64 bits */
Test(hostile, conv2d_kernel_overflowing_its_weight) {
    const char *cfg = "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
                      "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 8, "
                      "8, 3]}}, {\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c\", "
                      "\"filters\": 2147483647, \"kernel_size\": [2147483647, 2147483647], "
                      "\"padding\": \"same\"}}]}}";
    expect_config_error(cfg, KEEL_ERR_FORMAT, "too large", "conv.keras");
    /* one that fits in 64 bits but not in the file: 8 x 8 x 3 x 2^30 */
    cfg = "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
          "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 8, 8, 3]}}, "
          "{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c\", \"filters\": 1073741824, "
          "\"kernel_size\": [8, 8]}}]}}";
    expect_config_error(cfg, KEEL_ERR_FORMAT, "more than its file can hold", "conv2.keras");
    /* fuzz: Conv2D's build allocated its partial sums (threads x its weights) before the
     * weights were checked: 8 x 8 x 3 x 2^24 fits the size checks, and took 25 GiB */
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    cfg = "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
          "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 8, 8, 3]}}, "
          "{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c\", \"filters\": 16777216, "
          "\"kernel_size\": [8, 8]}}]}}";
    expect_config_error(cfg, KEEL_ERR_FORMAT, "weight kernel of shape (8, 8, 3, 16777216)",
                        "conv3.keras");
    getrusage(RUSAGE_SELF, &after);
    cr_expect_lt(after.ru_maxrss - before.ru_maxrss, 256 << 10, "grew %ld KiB",
                 after.ru_maxrss - before.ru_maxrss);
}

/* ---------------------------------------------------------------- the weights file */

static void kernel_wrong_shape(hid_t f) {
    float v[32] = {0};
    replace_ds(f, "layers/dense/vars/0", H5T_NATIVE_FLOAT, 2, (hsize_t[]){4, 8}, v);
}

static void kernel_as_strings(hid_t f) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    char v[40][4] = {{0}};
    replace_ds(f, "layers/dense/vars/0", t, 2, (hsize_t[]){5, 8}, v);
    H5Tclose(t);
}

static void kernel_as_scalar(hid_t f) {
    float v = 1;
    replace_ds(f, "layers/dense/vars/0", H5T_NATIVE_FLOAT, 0, NULL, &v);
}

static void kernel_missing(hid_t f) {
    cr_assert(H5Ldelete(f, "layers/dense/vars/0", H5P_DEFAULT) >= 0);
}

static void kernel_a_group(hid_t f) {
    cr_assert(H5Ldelete(f, "layers/dense/vars/0", H5P_DEFAULT) >= 0);
    H5Gclose(H5Gcreate2(f, "layers/dense/vars/0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
}

static void kernel_rank_9(hid_t f) {
    float v = 0;
    hsize_t d[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    replace_ds(f, "layers/dense/vars/0", H5T_NATIVE_FLOAT, 9, d, &v);
}

Test(hostile, weight_datasets_of_the_wrong_shape_type_or_kind) {
    expect_error(load_edited(kernel_wrong_shape, "wshape.keras"), KEEL_ERR_SHAPE,
                 "layers/dense/vars/0 has shape (4, 8), the model's weight is (5, 8)", "shape");
    expect_error(load_edited(kernel_as_strings, "wstr.keras"), KEEL_ERR_FORMAT,
                 "layers/dense/vars/0 does not hold numbers", "strings");
    expect_error(load_edited(kernel_as_scalar, "wscalar.keras"), KEEL_ERR_SHAPE,
                 "layers/dense/vars/0 has shape (), the model's weight is (5, 8)", "scalar");
    expect_error(load_edited(kernel_missing, "wmissing.keras"), KEEL_ERR_FORMAT,
                 "no weights for dense/kernel (expected at layers/dense/vars/0)", "missing");
    expect_error(load_edited(kernel_a_group, "wgroup.keras"), KEEL_ERR_FORMAT,
                 "layers/dense/vars/0 is not a dataset", "group");
    expect_error(load_edited(kernel_rank_9, "wrank.keras"), KEEL_ERR_FORMAT,
                 "layers/dense/vars/0 has rank 9 (keel reads up to 8)", "rank 9");
    cr_expect(strstr(keel_last_error(), "wrank.keras: model.weights.h5"), "%s", keel_last_error());
}

Test(hostile, truncated_weights_file) {
    saved s = mlp_files();
    write_keras(path_of("cut.keras"), s.config, s.w, s.wlen / 3);
    expect_error(keel_load(path_of("cut.keras")), KEEL_ERR_FORMAT, "model.weights.h5", "truncated");
    saved_free(&s);
}

/* the mlp's optimizer state: 0 iterations, 1 the learning rate, then Adam's m and v of each of
 * its 6 trainable weights (2..13) */
static void optimizer_two_short(hid_t f) {
    cr_assert(H5Ldelete(f, "optimizer/vars/13", H5P_DEFAULT) >= 0);
    cr_assert(H5Ldelete(f, "optimizer/vars/12", H5P_DEFAULT) >= 0);
}

static void optimizer_slot_wrong_size(hid_t f) {
    float v[7] = {0};
    replace_ds(f, "optimizer/vars/4", H5T_NATIVE_FLOAT, 1, (hsize_t[]){7}, v);
}

static void optimizer_negative_iterations(hid_t f) {
    int64_t v = -3;
    replace_ds(f, "optimizer/vars/0", H5T_NATIVE_INT64, 0, NULL, &v);
}

static void optimizer_iterations_an_array(hid_t f) {
    int64_t v[2] = {1, 2};
    replace_ds(f, "optimizer/vars/0", H5T_NATIVE_INT64, 1, (hsize_t[]){2}, v);
}

static char warned[KEEL_ERR_CAP];
static void catch_warning(const char *msg, void *user) {
    (void)user;
    snprintf(warned, sizeof warned, "%s", msg);
}

Test(hostile, optimizer_state_of_the_wrong_size) {
    /* another optimizer's count of variables: Keras warns and starts it fresh, so does keel */
    keel_set_warning_handler(catch_warning, NULL);
    warned[0] = 0;
    keel_model *m = load_edited(optimizer_two_short, "opt_count.keras");
    keel_set_warning_handler(NULL, NULL);
    cr_assert_not_null(m, "%s", keel_last_error());
    cr_expect(strstr(warned, "12 variables") && strstr(warned, "starts fresh"), "%s", warned);
    cr_expect_eq(m->opt.iterations, 0);
    keel_model_free(m);
    /* the right count with a slot of the wrong shape: an error naming it, as Keras's assign */
    expect_error(load_edited(optimizer_slot_wrong_size, "opt_slot.keras"), KEEL_ERR_SHAPE,
                 "optimizer/vars/4 has shape (7,), the model's weight is (8,)", "slot");
    expect_error(load_edited(optimizer_negative_iterations, "opt_iter.keras"), KEEL_ERR_FORMAT,
                 "iterations (-3)", "iterations");
    expect_error(load_edited(optimizer_iterations_an_array, "opt_iter2.keras"), KEEL_ERR_FORMAT,
                 "optimizer/vars/0 is not a readable scalar", "iterations array");
}

/* ---------------------------------------------------------------- legacy .h5 */

static void weight_names_missing_dataset(hid_t f) {
    const char *names[2] = {"dense/kernel:0", "dense/nothing:0"};
    replace_strings(f, "model_weights/dense", "weight_names", 2, names);
}

static void weight_names_too_few(hid_t f) {
    const char *names[1] = {"dense/kernel:0"};
    replace_strings(f, "model_weights/dense", "weight_names", 1, names);
}

static void model_config_not_json(hid_t f) {
    const char *v[1] = {"{\"class_name\": \"Sequential\", "};
    replace_strings(f, "/", "model_config", 1, v);
}

static void model_config_a_number(hid_t f) {
    cr_assert(H5Adelete(f, "model_config") >= 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "model_config", H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT);
    int v = 7;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a), H5Sclose(sp);
}

static void training_config_not_json(hid_t f) {
    const char *v[1] = {"{oops"};
    replace_strings(f, "/", "training_config", 1, v);
}

static void model_weights_a_dataset(hid_t f) {
    cr_assert(H5Ldelete(f, "model_weights", H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t ds =
        H5Dcreate2(f, "model_weights", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(ds >= 0);
    H5Dclose(ds), H5Sclose(sp);
}

Test(hostile, legacy_h5_damaged) {
    expect_error(keel_load(edit_legacy("mlp.h5", "wn.h5", weight_names_missing_dataset)),
                 KEEL_ERR_FORMAT, "dense/dense/nothing:0 is missing", "weight_names");
    expect_error(keel_load(edit_legacy("mlp.h5", "wn2.h5", weight_names_too_few)), KEEL_ERR_SHAPE,
                 "layer dense has 1 weights in the file, the model's has 2", "too few");
    expect_error(keel_load(edit_legacy("mlp.h5", "mc.h5", model_config_not_json)), KEEL_ERR_FORMAT,
                 "model_config: not valid JSON", "model_config");
    expect_error(keel_load(edit_legacy("mlp.h5", "mc2.h5", model_config_a_number)), KEEL_ERR_FORMAT,
                 "model_config is not a list of strings", "model_config int");
    expect_error(keel_load(edit_legacy("mlp.h5", "tc.h5", training_config_not_json)),
                 KEEL_ERR_FORMAT, "training_config: not valid JSON", "training_config");
    expect_error(keel_load(edit_legacy("mlp.h5", "mw.h5", model_weights_a_dataset)),
                 KEEL_ERR_FORMAT, "model_weights is not a group", "model_weights");
}

/* ---------------------------------------------------------------- functional graphs */

/* a functional config: an input "in" [null, 4], the layer entries given, the outputs given */
static char *functional_config(const char *entries, const char *inputs, const char *outputs) {
    char *s = malloc(strlen(entries) + strlen(inputs) + strlen(outputs) + 512);
    sprintf(s,
            "{\"class_name\": \"Functional\", \"config\": {\"name\": \"f\", \"layers\": ["
            "{\"class_name\": \"InputLayer\", \"name\": \"in\", \"config\": {\"batch_shape\": "
            "[null, 4], \"name\": \"in\"}, \"inbound_nodes\": []}, %s], \"input_layers\": %s, "
            "\"output_layers\": %s}}",
            entries, inputs, outputs);
    return s;
}

#define T(name, node)                                                                              \
    "{\"class_name\": \"__keras_tensor__\", \"config\": {\"keras_history\": [\"" name "\", " #node \
    ", 0]}}"
#define RELU(name, in)                                                                             \
    "{\"class_name\": \"Activation\", \"name\": \"" name "\", \"config\": {\"name\": \"" name      \
    "\", \"activation\": \"relu\"}, \"inbound_nodes\": [{\"args\": [" in "], \"kwargs\": {}}]}"

Test(hostile, functional_graphs_that_do_not_hold_together) {
    char *cfg = functional_config(RELU("a", T("in", 0)), "[[\"a\", 0, 0]]", "[[\"a\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "input_layers[0] names no InputLayer", "ni.keras");
    free(cfg);
    /* a cycle: a reads b, b reads a */
    cfg = functional_config(RELU("a", T("b", 0)) ", " RELU("b", T("a", 0)), "[[\"in\", 0, 0]]",
                            "[[\"b\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "circular reference", "cycle.keras");
    free(cfg);
    /* a layer reading its own output */
    cfg = functional_config(RELU("a", T("a", 0)), "[[\"in\", 0, 0]]", "[[\"a\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "layer a reads a tensor no layer makes",
                        "self.keras");
    free(cfg);
    /* node 1000000 of a layer called once */
    cfg = functional_config(RELU("a", T("in", 0)) ", " RELU("b", T("a", 1000000)),
                            "[[\"in\", 0, 0]]", "[[\"b\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "layer b reads a tensor no layer makes",
                        "node.keras");
    free(cfg);
    /* and past what keel takes for a node index at all */
    cfg = functional_config(RELU("a", T("in", 4294967296)), "[[\"in\", 0, 0]]", "[[\"a\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "inbound node 0 of a is malformed", "node2.keras");
    free(cfg);
    cfg = functional_config(RELU("a", T("nobody", 0)), "[[\"in\", 0, 0]]", "[[\"a\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "layer a reads a tensor no layer makes",
                        "nobody.keras");
    free(cfg);
    cfg = functional_config(RELU("a", T("in", 0)), "[[\"in\", 0, 0]]", "[[\"a\", 3, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "output_layers[0] names no tensor", "out.keras");
    free(cfg);
    cfg = functional_config(RELU("a", T("in", 0)) ", " RELU("a", T("in", 0)), "[[\"in\", 0, 0]]",
                            "[[\"a\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "layers[2] (a): the name a is used twice",
                        "twice.keras");
    free(cfg);
}

/* 100,000 layers listed: refused before any is read (KEEL_MAX_FILE_LAYERS) */
Test(hostile, a_hundred_thousand_layers) {
    size_t n = 100000, cap = n * 120 + 512, len = 0;
    for (int functional = 0; functional < 2; functional++) {
        char *s = malloc(cap);
        len = (size_t)sprintf(s,
                              "{\"class_name\": \"%s\", \"config\": {\"name\": \"big\", "
                              "\"layers\": [",
                              functional ? "Functional" : "Sequential");
        for (size_t i = 0; i < n; i++)
            len += (size_t)sprintf(s + len,
                                   "%s{\"class_name\": \"Activation\", \"name\": \"l%zu\", "
                                   "\"config\": {\"activation\": \"relu\"}}",
                                   i ? ", " : "", i);
        sprintf(s + len, "], \"input_layers\": [], \"output_layers\": []}}");
        double t0 = now();
        expect_config_error(s, KEEL_ERR_FORMAT, "lists 100000 layers; keel reads at most 10000",
                            functional ? "many_f.keras" : "many_s.keras");
        cr_expect_lt(now() - t0, 30.0);
        free(s);
    }
}

/* models inside models, deeper than keel reads: an error, not a stack overflow */
Test(hostile, models_nested_too_deep) {
    int depth = 200;
    size_t cap = (size_t)depth * 200 + 512, len = 0;
    char *s = malloc(cap);
    for (int i = 0; i < depth; i++)
        len += (size_t)sprintf(s + len,
                               "{\"class_name\": \"Sequential\", \"config\": {\"name\": "
                               "\"s%d\", \"layers\": [",
                               i);
    len += (size_t)sprintf(s + len, "{\"class_name\": \"Dense\", \"config\": {\"units\": 1, "
                                    "\"batch_input_shape\": [null, 2]}}");
    for (int i = 0; i < depth; i++)
        len += (size_t)sprintf(s + len, "]}}");
    expect_config_error(s, KEEL_ERR_FORMAT, "nested more than 32 deep", "deep.keras");
    free(s);
    /* wrappers and models in turn: Bidirectional(Sequential(Bidirectional(...))) */
    len = 0;
    s = malloc((size_t)depth * 300 + 512);
    for (int i = 0; i < depth; i++)
        len += (size_t)sprintf(s + len,
                               "{\"class_name\": \"Sequential\", \"config\": {\"name\": "
                               "\"s%d\", \"layers\": [{\"class_name\": \"TimeDistributed\", "
                               "\"config\": {\"name\": \"t%d\", \"layer\": ",
                               i, i);
    len += (size_t)sprintf(s + len, "{\"class_name\": \"Dense\", \"config\": {\"units\": 1}}");
    for (int i = 0; i < depth; i++)
        len += (size_t)sprintf(s + len, "}}]}}");
    expect_config_error(s, KEEL_ERR_FORMAT, "nested more than", "deep2.keras");
    free(s);
}

/* fuzz (round trip): a frozen Bidirectional saved, then loaded, was refused: keel made its
 * backward layer as a trainable copy of the (frozen) forward one, which then differed from the
 * frozen backward layer in the file. Keras copies the forward layer's config, trainable and
 * all; so does keel now. */
Test(hostile, fuzz_frozen_bidirectional_round_trip) {
    keel_model *m = keel_sequential("frozen");
    keel_add(m, keel_input(.shape = {5, 4}));
    keel_layer *bi = keel_bidirectional(.layer = keel_gru(.units = 3), .merge_mode = "ave");
    keel_add(m, bi);
    keel_add(m, keel_dense(.units = 2));
    keel_layer_set_trainable(bi, 0);
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK, "%s",
                 keel_last_error());
    cr_assert_eq(keel_save(m, path_of("frozen.keras")), KEEL_OK, "%s", keel_last_error());
    keel_model *l = keel_load(path_of("frozen.keras"));
    cr_assert_not_null(l, "%s", keel_last_error());
    const keel_layer *lb = keel_model_layer(l, 1);
    cr_expect_eq(keel_layer_trainable(lb), 0);
    cr_expect_eq(keel_layer_trainable(lb->wrapped[0]), 0);
    cr_expect_eq(keel_layer_trainable(lb->wrapped[1]), 0);
    /* only the Dense trains: its kernel and bias */
    int trained = 0;
    for (int k = 0; k < l->n_params; k++)
        trained += l->ptrain[k];
    cr_expect_eq(trained, 2);
    keel_model_free(l), keel_model_free(m);
    /* and a forward layer frozen on its own makes a frozen backward copy */
    keel_layer *fw = keel_lstm(.units = 2);
    keel_layer_set_trainable(fw, 0);
    keel_layer *b2 = keel_bidirectional(.layer = fw);
    cr_expect_eq(keel_layer_trainable(b2->wrapped[1]), 0);
    keel_layer_free(b2);
}

/* fuzz (an abort): a layer whose build failed after it declared its weights (an LSTM with the
 * softmax activation, which keel cannot run step by step) kept them, and the next build
 * declared them again behind: past four, an internal assertion. keel_model_compile_json had
 * taken the failed build for an optimizer keel lacks (loaded uncompiled) and built again. Now
 * a build starts a layer's weights anew, and a model that does not build is an error. */
Test(hostile, fuzz_failed_build_then_build_again) {
    const char *cfg = "{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
                      "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 5, "
                      "3]}}, {\"class_name\": \"LSTM\", \"config\": {\"name\": \"l\", \"units\": "
                      "2, \"activation\": \"softmax\"}}]}, \"compile_config\": {\"optimizer\": "
                      "\"adam\", \"loss\": \"mse\"}}";
    expect_config_error(cfg, KEEL_ERR_FORMAT, "l: LSTM activation softmax is not elementwise",
                        "softmax_lstm.keras");
    /* the same layer in two models, each build failing: the second as the first */
    keel_layer *lstm = keel_lstm(.units = 2, .activation = "softmax");
    cr_assert_not_null(lstm, "%s", keel_last_error());
    keel_model *a = keel_sequential("a"), *b = keel_sequential("b");
    keel_add(a, keel_input(.shape = {5, 3}));
    keel_add(b, keel_input(.shape = {5, 3}));
    keel_add(a, lstm);
    keel_add(b, lstm); /* shared: a layer a model holds already */
    for (int k = 0; k < 2; k++) {
        keel_status st = keel_compile(k ? b : a, .optimizer = "sgd", .loss = "mse");
        cr_expect_eq(st, KEEL_ERR_ARG, "%s", keel_last_error());
        cr_expect(strstr(keel_last_error(), "not elementwise"), "%s", keel_last_error());
        cr_expect_leq(lstm->n_params, 3);
    }
    keel_model_free(a), keel_model_free(b);
}

/* fuzz (a timeout): loading built the model with its initializers before reading the file's
 * weights over them, and keel's Orthogonal (Gram-Schmidt, O(n^3)) took two minutes for a
 * SimpleRNN of 2048 units. keel_load now leaves new weights at zero for the file to fill. */
Test(hostile, fuzz_load_skips_the_initializers) {
    const char *txt = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
                      "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 4, 3],"
                      " \"name\": \"in\"}}, {\"class_name\": \"SimpleRNN\", \"config\": {\"name\":"
                      " \"r\", \"units\": 1024}}]}}";
    json_t *j = keel_json_parse(txt, strlen(txt), "t");
    keel_model *m = j ? keel_model_from_json(j, "t") : NULL;
    cr_assert_not_null(m, "%s", keel_last_error());
    m->skip_init = true; /* here too, or this test would wait for Orthogonal itself */
    cr_assert_eq(keel_model_build(m, "t"), KEEL_OK, "%s", keel_last_error());
    m->skip_init = false;
    keel_layer *r = keel_model_layer(m, 1);
    for (int k = 0; k < r->n_params; k++)
        for (int64_t i = 0; i < r->params[k].size; i++)
            r->params[k].w[i] = (float)((i * 7 + k) % 13) * 0.01f;
    cr_assert_eq(keel_save(m, path_of("rnn1024.keras")), KEEL_OK, "%s", keel_last_error());
    double t0 = now();
    keel_model *l = keel_load(path_of("rnn1024.keras"));
    double took = now() - t0;
    cr_assert_not_null(l, "%s", keel_last_error());
    cr_expect_lt(took, 10.0, "keel_load took %.1f s", took);
    /* the file's values, every one */
    keel_layer *lr = keel_model_layer(l, 1);
    cr_assert_eq(lr->n_params, r->n_params);
    for (int k = 0; k < r->n_params; k++)
        cr_expect_eq(
            memcmp(lr->params[k].w, r->params[k].w, (size_t)r->params[k].size * sizeof(float)), 0,
            "%s", r->params[k].name);
    cr_expect(!l->skip_init && l->max_weights == 0, "the load's limits stay on the model");
    keel_model_free(l), keel_model_free(m);
    json_decref(j);
}

/* what keel writes of m, read again and written again: the same text */
static void expect_round_trip(const char *txt) {
    json_t *j = keel_json_parse(txt, strlen(txt), "t");
    keel_model *m = j ? keel_model_from_json(j, "t") : NULL;
    cr_assert_not_null(m, "%s", keel_last_error());
    cr_assert_eq(keel_model_build(m, "t"), KEEL_OK, "%s", keel_last_error());
    json_t *o1 = keel_model_to_json(m);
    char *t1 = o1 ? keel_json_dumps(o1) : NULL;
    cr_assert_not_null(t1, "%s", keel_last_error());
    json_t *j2 = keel_json_parse(t1, strlen(t1), "t2");
    keel_model *m2 = j2 ? keel_model_from_json(j2, "t2") : NULL;
    cr_assert_not_null(m2, "%s", keel_last_error());
    cr_assert_eq(keel_model_build(m2, "t2"), KEEL_OK, "%s", keel_last_error());
    json_t *o2 = keel_model_to_json(m2);
    char *t2 = o2 ? keel_json_dumps(o2) : NULL;
    cr_assert_not_null(t2, "%s", keel_last_error());
    cr_expect_str_eq(t1, t2);
    free(t1), free(t2);
    json_decref(o1), json_decref(o2), json_decref(j), json_decref(j2);
    keel_model_free(m), keel_model_free(m2);
}

/* fuzz (round trip): a layer called twice on different shapes (a Concatenate of two tensors,
 * then of three) wrote its last call's shapes as build_config, and the file it wrote (which
 * keeps only the calls the outputs read) wrote the first call's: the text changed from one
 * round trip to the next. Keras keeps the shapes of the call that built the layer; so does
 * keel now. */
Test(hostile, fuzz_build_config_is_the_first_calls) {
    char *cfg = functional_config(
        RELU("a", T("in", 0)) ", "
                              "{\"class_name\": \"Concatenate\", \"name\": \"cat\", \"config\": "
                              "{\"name\": \"cat\"}, "
                              "\"inbound_nodes\": [{\"args\": [[" T("in", 0) ", " T(
                                  "a", 0) "]], \"kwargs\": {}}, "
                                          "{\"args\": [[" T("in", 0) ", " T("a", 0) ", " T(
                                              "in", 0) "]], \"kwargs\": {}}]}",
        "[[\"in\", 0, 0]]", "[[\"cat\", 0, 0]]");
    json_t *j = keel_json_parse(cfg, strlen(cfg), "t");
    keel_model *m = j ? keel_model_from_json(j, "t") : NULL;
    cr_assert_not_null(m, "%s", keel_last_error());
    cr_assert_eq(keel_model_build(m, "t"), KEEL_OK, "%s", keel_last_error());
    json_t *o = keel_model_to_json(m);
    cr_assert_not_null(o, "%s", keel_last_error());
    const json_t *cat = json_array_get(json_object_get(json_object_get(o, "config"), "layers"), 2);
    cr_assert_str_eq(json_string_value(json_object_get(cat, "name")), "cat");
    const json_t *shapes = json_object_get(json_object_get(cat, "build_config"), "input_shape");
    cr_expect_eq(json_array_size(shapes), 2, "build_config of the call that built it");
    json_decref(o), json_decref(j);
    keel_model_free(m);
    expect_round_trip(cfg);
    free(cfg);
}

/* fuzz (round trip): a functional entry named "conv2d" whose config named it
 * "average_pooling2d", beside the real average_pooling2d, loaded as a model with two layers of
 * one name, and wrote a file keel refused. The two names must agree; an entry whose config has
 * no name takes the entry's. */
Test(hostile, fuzz_entry_name_is_the_config_name) {
    char *cfg = functional_config(
        "{\"class_name\": \"Activation\", \"name\": \"x\", \"config\": {\"name\": \"y\", "
        "\"activation\": \"relu\"}, \"inbound_nodes\": [{\"args\": [" T("in",
                                                                        0) "], "
                                                                           "\"kwargs\": {}}]}",
        "[[\"in\", 0, 0]]", "[[\"x\", 0, 0]]");
    expect_config_error(cfg, KEEL_ERR_FORMAT, "(x): the entry's name is not its config.name (y)",
                        "names.keras");
    free(cfg);
    cfg = functional_config(
        "{\"class_name\": \"Dense\", \"name\": \"dense\", \"config\": {\"units\": 2}, "
        "\"inbound_nodes\": [{\"args\": [" T(
            "in", 0) "], \"kwargs\": {}}]}, "
                     "{\"class_name\": \"Dense\", \"name\": \"head\", \"config\": {\"units\": 2}, "
                     "\"inbound_nodes\": [{\"args\": [" T("dense", 0) "], \"kwargs\": {}}]}",
        "[[\"in\", 0, 0]]", "[[\"head\", 0, 0]]");
    json_t *j = keel_json_parse(cfg, strlen(cfg), "t");
    keel_model *m = j ? keel_model_from_json(j, "t") : NULL;
    cr_assert_not_null(m, "%s", keel_last_error());
    cr_expect_str_eq(keel_model_layer(m, 0)->name, "dense");
    cr_expect_str_eq(keel_model_layer(m, 1)->name, "head");
    keel_model_free(m), json_decref(j);
    expect_round_trip(cfg);
    free(cfg);
}
