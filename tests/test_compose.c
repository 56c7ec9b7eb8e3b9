/* test_compose.c: layers shared between models, models as layers, tf.keras 2's trainable rule
 * in both GAN idioms, the functional API end to end (several inputs through fit / evaluate /
 * predict), the summary of a nested model, and one test per composition error. Freeing in any
 * order is exercised here and checked by the ASan run of the suite. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EXPECT_MSG(...)                                                                            \
    do {                                                                                           \
        const char *want_[] = {__VA_ARGS__};                                                       \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++)                               \
            cr_expect(strstr(keel_last_error(), want_[i_]), "message \"%s\" lacks \"%s\"",         \
                      keel_last_error(), want_[i_]);                                               \
    } while (0)

static keel_tensor *ramp(int64_t n, int64_t f, float scale) {
    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(n, f));
    for (int64_t i = 0; i < n * f; i++)
        keel_tensor_data(t)[i] = scale * (float)((i * 7) % 11 - 5);
    return t;
}

/* all weights of layer l, copied */
static float *copy_weights(keel_layer *l, int64_t *total) {
    static float buf[4096];
    int64_t off = 0;
    for (int k = 0; k < keel_layer_weight_count(l); k++) {
        int64_t n;
        float *w = keel_layer_weight(l, k, &n);
        cr_assert_not_null(w, "%s", keel_last_error());
        cr_assert_leq(off + n, 4096);
        memcpy(buf + off, w, (size_t)n * sizeof(float));
        off += n;
    }
    *total = off;
    float *c = malloc((size_t)(off ? off : 1) * sizeof(float));
    memcpy(c, buf, (size_t)off * sizeof(float));
    return c;
}

static bool same_weights(keel_layer *l, const float *before) {
    int64_t n;
    float *now = copy_weights(l, &n);
    bool same = memcmp(now, before, (size_t)n * sizeof(float)) == 0;
    free(now);
    return same;
}

/* ---------------------------------------------------------------- shared layers */

Test(compose, one_layer_in_two_models_is_one_set_of_weights) {
    keel_layer *d = keel_dense(.units = 3, .input_dim = 4);
    keel_model *a = keel_sequential("a"), *b = keel_sequential("b");
    cr_assert_eq(keel_add(a, d), KEEL_OK);
    cr_assert_eq(keel_add(b, d), KEEL_OK);
    cr_assert_eq(keel_compile(a, .optimizer = "sgd", .loss = "mse"), KEEL_OK, "%s",
                 keel_last_error());
    cr_assert_eq(keel_compile(b, .optimizer = "sgd", .loss = "mse"), KEEL_OK, "%s",
                 keel_last_error());
    /* the bug this redesign fixed: compiling b doubled both counts and moved the kernel */
    cr_expect_eq(keel_model_count_params(a), 15);
    cr_expect_eq(keel_model_count_params(b), 15);
    keel_tensor *x = ramp(8, 4, 0.1f), *y = ramp(8, 3, 0.2f);
    keel_tensor *pb0 = keel_predict(b, x, NULL);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(keel_train_on_batch(a, x, y, NULL, 0), KEEL_OK);
    keel_tensor *pa = keel_predict(a, x, NULL), *pb = keel_predict(b, x, NULL);
    cr_expect_eq(memcmp(keel_tensor_data(pa), keel_tensor_data(pb), 24 * sizeof(float)), 0,
                 "b predicts with the weights a trained");
    cr_expect_neq(memcmp(keel_tensor_data(pb0), keel_tensor_data(pb), 24 * sizeof(float)), 0);
    keel_tensor_free(pa), keel_tensor_free(pb), keel_tensor_free(pb0);
    keel_model_free(a); /* b keeps the layer alive */
    pb = keel_predict(b, x, NULL);
    cr_expect_not_null(pb);
    keel_tensor_free(pb);
    keel_model_free(b);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(compose, each_model_has_its_own_optimizer_state) {
    keel_layer *d = keel_dense(.units = 2, .input_dim = 3);
    keel_model *a = keel_sequential("a"), *b = keel_sequential("b");
    keel_add(a, d), keel_add(b, d);
    cr_assert_eq(keel_compile(a, .optimizer = "adam", .loss = "mse"), KEEL_OK);
    cr_assert_eq(keel_compile(b, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(4, 3, 0.3f), *y = ramp(4, 2, 0.1f);
    /* one Adam step moves every weight by about the learning rate, whatever its gradient; an
     * SGD step with b's own (empty) slots must not see a's moments */
    int64_t n;
    float *w0 = copy_weights(d, &n);
    cr_assert_eq(keel_train_on_batch(a, x, y, NULL, 0), KEEL_OK);
    float *w1 = copy_weights(d, &n);
    for (int64_t i = 0; i < n; i++)
        cr_expect(fabsf(fabsf(w1[i] - w0[i]) - 1e-3f) < 2e-5f, "adam step %g", w1[i] - w0[i]);
    cr_assert_eq(keel_train_on_batch(b, x, y, NULL, 0), KEEL_OK);
    cr_expect(!same_weights(d, w1), "sgd moved the shared weights");
    free(w0), free(w1);
    keel_model_free(b);
    keel_model_free(a);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* ---------------------------------------------------------------- GANs */

typedef struct gan {
    keel_model *g, *d, *gan;
    keel_layer *d_first, *g_first;
} gan;

static gan make_gan(bool freeze_between_compiles) {
    gan s;
    s.g = keel_sequential("generator");
    s.g_first = keel_dense(.units = 8, .input_dim = 4, .activation = "relu");
    keel_add(s.g, s.g_first);
    keel_add(s.g, keel_dense(.units = 6, .activation = "sigmoid"));
    s.d = keel_sequential("discriminator");
    s.d_first = keel_dense(.units = 8, .input_dim = 6, .activation = "relu");
    keel_add(s.d, s.d_first);
    keel_add(s.d, keel_dense(.units = 1, .activation = "sigmoid"));
    cr_assert_eq(keel_compile(s.d, .optimizer = "adam", .loss = "binary_crossentropy",
                              .metrics = {"accuracy"}),
                 KEEL_OK, "%s", keel_last_error());
    if (freeze_between_compiles) keel_model_set_trainable(s.d, 0);
    s.gan = keel_sequential("gan");
    cr_assert_eq(keel_add_model(s.gan, s.g), KEEL_OK, "%s", keel_last_error());
    cr_assert_eq(keel_add_model(s.gan, s.d), KEEL_OK, "%s", keel_last_error());
    if (!freeze_between_compiles)
        keel_model_set_trainable(s.d, 0); /* the toggle idiom freezes before its compile */
    cr_assert_eq(keel_compile(s.gan, .optimizer = "adam", .loss = "binary_crossentropy"), KEEL_OK,
                 "%s", keel_last_error());
    return s;
}

static void free_gan(gan *s, int order) {
    if (order == 0)
        keel_model_free(s->gan), keel_model_free(s->g), keel_model_free(s->d);
    else
        keel_model_free(s->d), keel_model_free(s->g), keel_model_free(s->gan);
}

Test(compose, gan_frozen_between_the_two_compiles) {
    gan s = make_gan(true);
    cr_expect_eq(keel_model_count_params(s.gan), 4 * 8 + 8 + 8 * 6 + 6 + 6 * 8 + 8 + 8 + 1);
    keel_tensor *z = ramp(16, 4, 0.2f), *ones = keel_tensor_new(KEEL_SHAPE(16, 1));
    for (int i = 0; i < 16; i++)
        keel_tensor_data(ones)[i] = 1;
    int64_t n;
    float *d0 = copy_weights(s.d_first, &n), *g0 = copy_weights(s.g_first, &n);
    double r[1];
    cr_assert_eq(keel_train_on_batch(s.gan, z, ones, r, 1), KEEL_OK, "%s", keel_last_error());
    cr_expect(same_weights(s.d_first, d0),
              "the frozen discriminator is bit-identical after a generator step");
    cr_expect(!same_weights(s.g_first, g0), "the generator learned");
    /* the discriminator alone was compiled trainable: its own step changes it */
    keel_tensor *fake = keel_predict(s.g, z, NULL);
    cr_assert_not_null(fake);
    cr_assert_eq(keel_train_on_batch(s.d, fake, ones, NULL, 0), KEEL_OK, "%s", keel_last_error());
    cr_expect(!same_weights(s.d_first, d0), "a discriminator step changes it");
    /* the combined model predicts what its parts predict one after the other */
    keel_tensor *p = keel_predict(s.gan, z, NULL), *q = keel_predict(s.d, fake, NULL);
    cr_assert(p && q);
    for (int i = 0; i < 16; i++)
        cr_expect_float_eq(keel_tensor_data(p)[i], keel_tensor_data(q)[i], 1e-6);
    keel_tensor_free(p), keel_tensor_free(q), keel_tensor_free(fake);
    free(d0), free(g0);
    free_gan(&s, 0);
    keel_tensor_free(z), keel_tensor_free(ones);
}

static int n_warn;
static char last_warn[512];
static void on_warn(const char *msg, void *user) {
    (void)user;
    n_warn++;
    snprintf(last_warn, sizeof last_warn, "%s", msg);
}

Test(compose, gan_toggled_before_each_step) {
    gan s = make_gan(false);
    keel_tensor *z = ramp(16, 4, 0.2f), *ones = keel_tensor_new(KEEL_SHAPE(16, 1));
    for (int i = 0; i < 16; i++)
        keel_tensor_data(ones)[i] = 1;
    keel_set_warning_handler(on_warn, NULL);
    n_warn = 0;
    int64_t n;
    for (int step = 0; step < 3; step++) {
        keel_model_set_trainable(s.d, 1); /* Géron's toggle: on for the discriminator's step */
        float *d0 = copy_weights(s.d_first, &n);
        keel_tensor *fake = keel_predict(s.g, z, NULL);
        cr_assert_eq(keel_train_on_batch(s.d, fake, ones, NULL, 0), KEEL_OK);
        cr_expect(!same_weights(s.d_first, d0));
        free(d0);
        keel_model_set_trainable(s.d, 0); /* off for the generator's */
        d0 = copy_weights(s.d_first, &n);
        cr_assert_eq(keel_train_on_batch(s.gan, z, ones, NULL, 0), KEEL_OK);
        cr_expect(same_weights(s.d_first, d0),
                  "step %d: the discriminator did not move in the combined step", step);
        free(d0);
        keel_tensor_free(fake);
    }
    /* every model was trained with the flags it was compiled with: no warning */
    cr_expect_eq(n_warn, 0, "%s", last_warn);
    /* now the flags differ from the combined model's compile: it warns once, keeps its snapshot */
    keel_model_set_trainable(s.d, 1);
    float *d0 = copy_weights(s.d_first, &n);
    cr_assert_eq(keel_train_on_batch(s.gan, z, ones, NULL, 0), KEEL_OK);
    cr_assert_eq(keel_train_on_batch(s.gan, z, ones, NULL, 0), KEEL_OK);
    cr_expect_eq(n_warn, 1);
    cr_expect(strstr(last_warn, "Discrepancy between trainable weights"), "%s", last_warn);
    cr_expect(same_weights(s.d_first, d0),
              "the compile-time snapshot still freezes the discriminator");
    free(d0);
    keel_set_warning_handler(NULL, NULL);
    free_gan(&s, 1);
    keel_tensor_free(z), keel_tensor_free(ones);
}

Test(compose, summary_shows_a_nested_model_as_one_row) {
    gan s = make_gan(true);
    char buf[8192] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    cr_assert_eq(keel_summary(s.gan, f), KEEL_OK);
    fclose(f);
    cr_expect(strstr(buf, " generator (Sequential)      (None, 6)                 94\n"), "%s",
              buf);
    cr_expect(strstr(buf, " discriminator (Sequential)  (None, 1)                 65\n"), "%s",
              buf);
    cr_expect(strstr(buf, "Total params: 159 "), "%s", buf);
    cr_expect(strstr(buf, "Trainable params: 94 "), "%s", buf);
    cr_expect(strstr(buf, "Non-trainable params: 65 "), "%s", buf);
    free_gan(&s, 1);
}

Test(compose, frozen_batch_normalization_runs_in_inference_mode) {
    keel_model *m = keel_sequential(NULL);
    keel_layer *bn = keel_batch_normalization(.input_shape = {3});
    keel_add(m, bn);
    keel_add(m, keel_dense(.units = 1));
    keel_layer_set_trainable(bn, 0);
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    keel_tensor *x = ramp(8, 3, 1.0f), *y = ramp(8, 1, 1.0f);
    cr_assert_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_OK);
    int64_t n;
    float *mv = keel_layer_weight(bn, 2, &n); /* moving_mean: untouched in inference mode */
    for (int i = 0; i < 3; i++)
        cr_expect_eq(mv[i], 0.0f);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* ---------------------------------------------------------------- the functional API */

static keel_model *two_towers(void) {
    keel_model *m = keel_model_new("two_towers");
    keel_sym *a = keel_model_input(m, .shape = {4}), *b = keel_model_input(m, .shape = {3});
    keel_sym *h = keel_apply_n(
        m, keel_concatenate(), 2,
        (keel_sym *[]){keel_apply(m, keel_dense(.units = 8, .activation = "relu"), a),
                       keel_apply(m, keel_dense(.units = 8, .activation = "relu"), b)});
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 1), h)});
    return m;
}

Test(compose, a_two_input_model_fits_evaluates_and_predicts) {
    keel_model *m = two_towers();
    cr_assert_eq(keel_compile(m, .optimizer = "adam(learning_rate=0.01)", .loss = "mse"), KEEL_OK,
                 "%s", keel_last_error());
    keel_tensor *a = ramp(64, 4, 0.1f), *b = ramp(64, 3, 0.3f),
                *y = keel_tensor_new(KEEL_SHAPE(64, 1));
    for (int i = 0; i < 64; i++) /* y = sum(a) - b[0]: learnable from both inputs together */
        keel_tensor_data(y)[i] = keel_tensor_data(a)[4 * i] + keel_tensor_data(a)[4 * i + 1] -
                                 keel_tensor_data(b)[3 * i];
    keel_tensor *x = keel_tensor_list(2, (const keel_tensor *[]){a, b});
    double before[1], after[1];
    cr_assert_eq(keel_evaluate(m, x, y, before, 1), KEEL_OK, "%s", keel_last_error());
    cr_assert_eq(keel_fit(m, x, y, .epochs = 60, .verbose = 0, .validation_split = 0.25f), KEEL_OK,
                 "%s", keel_last_error());
    cr_assert_eq(keel_evaluate(m, x, y, after, 1), KEEL_OK);
    cr_expect_lt(after[0], before[0] * 0.1, "mse %g -> %g", before[0], after[0]);
    keel_tensor *p = keel_predict(m, x, NULL);
    cr_assert_not_null(p);
    cr_expect_eq(keel_tensor_dim(p, 0), 64);
    keel_tensor_free(p);
    /* one x for a two-input model says how to pass two */
    cr_expect_eq(keel_fit(m, a, y, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("takes 2 inputs but x gives 1", "keel_tensor_list");
    keel_tensor *bad = keel_tensor_list(2, (const keel_tensor *[]){b, a});
    cr_expect_eq(keel_fit(m, bad, y, .verbose = 0), KEEL_ERR_SHAPE);
    EXPECT_MSG("x[0] has shape (64, 3)", "(None, 4)");
    keel_tensor_free(bad);
    keel_tensor_free(x);
    keel_model_free(m);
    keel_tensor_free(a), keel_tensor_free(b), keel_tensor_free(y);
}

Test(compose, a_model_applied_as_a_layer_shares_its_weights) {
    keel_model *enc = keel_sequential("encoder");
    keel_layer *e = keel_dense(.units = 2, .input_dim = 3, .activation = "tanh");
    keel_add(enc, e);
    keel_model *m = keel_model_new("siamese");
    keel_sym *a = keel_model_input(m, .shape = {3}), *b = keel_model_input(m, .shape = {3});
    keel_sym *ea = keel_apply_model(m, enc, 1, &a), *eb = keel_apply_model(m, enc, 1, &b);
    keel_model_outputs(
        m, 1, (keel_sym *[]){keel_apply_n(m, keel_merge_subtract(), 2, (keel_sym *[]){ea, eb})});
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK, "%s",
                 keel_last_error());
    cr_expect_eq(keel_model_count_params(m), 8, "the encoder's weights once");
    cr_assert_eq(keel_compile(enc, .loss = "mse"), KEEL_OK);
    keel_tensor *xa = ramp(5, 3, 0.2f), *xb = ramp(5, 3, -0.1f), *y = ramp(5, 2, 0.05f);
    keel_tensor *x = keel_tensor_list(2, (const keel_tensor *[]){xa, xb});
    int64_t n;
    float *w0 = copy_weights(e, &n);
    cr_assert_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_OK, "%s", keel_last_error());
    cr_expect(!same_weights(e, w0), "training the siamese model trained the encoder");
    free(w0);
    keel_model_free(enc); /* the siamese model still holds it */
    cr_assert_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_OK);
    keel_tensor_free(x);
    keel_model_free(m);
    keel_tensor_free(xa), keel_tensor_free(xb), keel_tensor_free(y);
}

/* ---------------------------------------------------------------- errors */

Test(compose, merge_of_incompatible_shapes_names_both) {
    keel_model *m = keel_model_new(NULL);
    keel_sym *a = keel_model_input(m, .shape = {4});
    keel_sym *p = keel_apply(m, keel_dense(.units = 4, .name = "left"), a);
    keel_sym *q = keel_apply(m, keel_dense(.units = 3, .name = "right"), a);
    keel_model_outputs(m, 1,
                       (keel_sym *[]){keel_apply_n(m, keel_merge_add(), 2, (keel_sym *[]){p, q})});
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_SHAPE);
    EXPECT_MSG("(None, 4) from left", "(None, 3) from right");
    keel_model_free(m);
    m = keel_model_new(NULL);
    a = keel_model_input(m, .shape = {2, 3});
    keel_sym *b = keel_model_input(m, .shape = {3, 3});
    keel_model_outputs(
        m, 1, (keel_sym *[]){keel_apply_n(m, keel_concatenate(), 2, (keel_sym *[]){a, b})});
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_SHAPE);
    EXPECT_MSG("may differ only along the axis");
    keel_model_free(m);
}

Test(compose, a_symbol_of_another_model_is_refused) {
    keel_model *m1 = keel_model_new("m1"), *m2 = keel_model_new("m2");
    keel_sym *a = keel_model_input(m1, .shape = {3});
    keel_model_input(m2, .shape = {3});
    cr_expect_null(keel_apply(m2, keel_dense(.units = 2), a));
    EXPECT_MSG("belongs to model m1, not m2");
    cr_expect_eq(keel_model_status(m2), KEEL_ERR_ARG, "the error is kept for compile");
    cr_expect_eq(keel_compile(m2, .loss = "mse"), KEEL_ERR_ARG);
    keel_model_free(m1), keel_model_free(m2);
}

Test(compose, a_model_cannot_contain_itself) {
    keel_model *m = keel_sequential("m");
    keel_add(m, keel_dense(.units = 2, .input_dim = 2));
    cr_expect_eq(keel_add_model(m, m), KEEL_ERR_ARG);
    EXPECT_MSG("cannot contain itself");
    keel_model_free(m);
    keel_model *a = keel_sequential("a"), *b = keel_sequential("b");
    keel_add(a, keel_dense(.units = 2, .input_dim = 2));
    cr_assert_eq(keel_add_model(b, a), KEEL_OK);
    cr_expect_eq(keel_add_model(a, b), KEEL_ERR_ARG, "a cycle through b");
    keel_model_free(a), keel_model_free(b);
}

Test(compose, an_input_not_connected_to_the_outputs) {
    keel_model *m = keel_model_new("m");
    keel_sym *a = keel_model_input(m, .shape = {3});
    keel_model_input(m, .shape = {2});
    cr_expect_eq(keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 1), a)}),
                 KEEL_ERR_ARG);
    EXPECT_MSG("input 1 of m is not connected");
    keel_model_free(m);
}

Test(compose, wrong_kind_of_model_calls) {
    keel_model *seq = keel_sequential("seq"), *fun = keel_model_new("fun");
    cr_expect_null(keel_model_input(seq, .shape = {3}));
    EXPECT_MSG("is a Sequential model");
    keel_model_input(fun, .shape = {3});
    cr_expect_eq(keel_add(fun, keel_dense(.units = 2)), KEEL_ERR_STATE);
    EXPECT_MSG("functional model");
    keel_model *empty = keel_model_new("empty");
    cr_expect_eq(keel_compile(empty, .loss = "mse"), KEEL_ERR_STATE);
    EXPECT_MSG("has no outputs");
    keel_model_free(seq), keel_model_free(fun), keel_model_free(empty);
}

Test(compose, a_shared_layer_on_another_shape) {
    keel_layer *d = keel_dense(.units = 2);
    keel_model *m = keel_model_new("m");
    keel_sym *a = keel_model_input(m, .shape = {3}), *b = keel_model_input(m, .shape = {4});
    keel_sym *pa = keel_apply(m, d, a), *pb = keel_apply(m, d, b);
    keel_model_outputs(
        m, 1, (keel_sym *[]){keel_apply_n(m, keel_merge_add(), 2, (keel_sym *[]){pa, pb})});
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_SHAPE);
    EXPECT_MSG("kernel was built with shape (3, 2); this call needs (4, 2)");
    keel_model_free(m);
}

Test(compose, one_layer_twice_in_a_sequential) {
    keel_layer *d = keel_dense(.units = 2, .input_dim = 2);
    keel_model *m = keel_sequential("m");
    keel_add(m, d);
    cr_expect_eq(keel_add(m, d), KEEL_ERR_ARG);
    EXPECT_MSG("already in m", "functional API");
    keel_model_free(m);
}

/* ---------------------------------------------------------------- custom training steps */

static keel_model *small(void) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4, .input_dim = 3, .activation = "tanh"));
    keel_add(m, keel_dropout(.rate = 0.25f));
    keel_add(m, keel_dense(.units = 2));
    keel_compile(m, .optimizer = "adam", .loss = "mse");
    return m;
}

Test(compose, compute_then_apply_is_train_on_batch) {
    keel_model *a = small(), *b = small();
    keel_tensor *x = ramp(6, 3, 0.2f), *y = ramp(6, 2, 0.1f);
    for (int step = 0; step < 3; step++) {
        double ra[1], rb[1];
        cr_assert_eq(keel_train_on_batch(a, x, y, ra, 1), KEEL_OK);
        int64_t n0, n1;
        float *w_before = keel_model_weights(b, &n0);
        float before[64];
        memcpy(before, w_before, (size_t)n0 * sizeof(float));
        cr_assert_eq(keel_compute_gradients(b, x, y, rb, 1), KEEL_OK, "%s", keel_last_error());
        cr_expect_eq(memcmp(before, keel_model_weights(b, &n1), (size_t)n0 * sizeof(float)), 0,
                     "computing gradients changed no weight");
        cr_expect_eq(ra[0], rb[0], "the same loss");
        cr_assert_eq(keel_apply_gradients(b, NULL, 0), KEEL_OK);
    }
    int64_t n;
    float wa[64];
    const float *pa = keel_model_weights(a, &n); /* n is set by the call: read it after */
    memcpy(wa, pa, (size_t)n * sizeof(float));
    cr_expect_eq(memcmp(wa, keel_model_weights(b, NULL), (size_t)n * sizeof(float)), 0,
                 "bit-identical after 3 steps");
    /* a gradient of the user's own: zeros leave Adam's weights where they are */
    int64_t ng;
    float *g = keel_model_gradients(b, &ng);
    cr_assert_eq(ng, n);
    float zeros[64] = {0};
    memcpy(wa, keel_model_weights(b, NULL), (size_t)n * sizeof(float));
    cr_expect_eq(keel_apply_gradients(b, zeros, ng), KEEL_OK);
    (void)g;
    cr_expect_eq(keel_apply_gradients(b, zeros, ng - 1), KEEL_ERR_SHAPE);
    EXPECT_MSG("has 26 weights, got 25 gradients");
    zeros[3] = NAN;
    cr_expect_eq(keel_apply_gradients(b, zeros, ng), KEEL_ERR_ARG);
    EXPECT_MSG("gradient 3 is nan");
    keel_model_free(a), keel_model_free(b);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(compose, gradients_of_frozen_weights_are_zero) {
    gan s = make_gan(true);
    keel_tensor *z = ramp(8, 4, 0.2f), *ones = keel_tensor_new(KEEL_SHAPE(8, 1));
    for (int i = 0; i < 8; i++)
        keel_tensor_data(ones)[i] = 1;
    cr_assert_eq(keel_compute_gradients(s.gan, z, ones, NULL, 0), KEEL_OK);
    int64_t n;
    float *g = keel_model_gradients(s.gan, &n);
    cr_assert_eq(n, 159);
    double gen = 0, disc = 0;
    for (int64_t i = 0; i < 94; i++)
        gen += fabsf(g[i]); /* the generator's weights come first */
    for (int64_t i = 94; i < 159; i++)
        disc += fabsf(g[i]);
    cr_expect_gt(gen, 0);
    cr_expect_eq(disc, 0);
    free_gan(&s, 0);
    keel_tensor_free(z), keel_tensor_free(ones);
}

/* ---------------------------------------------------------------- several outputs */

/* a trunk and two heads: a value (mse) and a class (binary crossentropy, weight 0.5) */
static keel_model *two_heads(void) {
    keel_model *m = keel_model_new("two_heads");
    keel_sym *x = keel_model_input(m, .shape = {4});
    keel_sym *h = keel_apply(m, keel_dense(.units = 6, .activation = "tanh", .name = "trunk"), x);
    keel_sym *v = keel_apply(m, keel_dense(.units = 1, .name = "value"), h);
    keel_sym *c =
        keel_apply(m, keel_dense(.units = 1, .activation = "sigmoid", .name = "class"), h);
    keel_model_outputs(m, 2, (keel_sym *[]){v, c});
    keel_compile(m, .optimizer = "adam(learning_rate=0.02)",
                 .losses = {"mse", "binary_crossentropy"}, .loss_weights = {1.0f, 0.5f},
                 .metrics = {"mae"});
    return m;
}

Test(compose, two_outputs_train_with_keras_log_names) {
    keel_model *m = two_heads();
    cr_assert_eq(keel_model_status(m), KEEL_OK, "%s", keel_model_error(m));
    const char *names[16];
    int n = keel_model_metric_names(m, names, 16);
    cr_assert_eq(n, 5);
    const char *want[] = {"loss", "value_loss", "class_loss", "value_mae", "class_mae"};
    for (int i = 0; i < 5; i++)
        cr_expect_str_eq(names[i], want[i]);
    keel_tensor *x = ramp(64, 4, 0.2f), *yv = keel_tensor_new(KEEL_SHAPE(64, 1)),
                *yc = keel_tensor_new(KEEL_SHAPE(64, 1));
    for (int i = 0; i < 64; i++) {
        const float *r = keel_tensor_data(x) + 4 * i;
        keel_tensor_data(yv)[i] = r[0] - r[1];
        keel_tensor_data(yc)[i] = r[2] > 0 ? 1.0f : 0.0f;
    }
    keel_tensor *y = keel_tensor_list(2, (const keel_tensor *[]){yv, yc});
    double before[5], after[5];
    cr_assert_eq(keel_evaluate(m, x, y, before, 5), KEEL_OK, "%s", keel_last_error());
    cr_expect(fabs(before[0] - (before[1] + 0.5 * before[2])) < 1e-5,
              "loss = value_loss + 0.5 class_loss");
    cr_assert_eq(keel_fit(m, x, y, .epochs = 40, .verbose = 0), KEEL_OK, "%s", keel_last_error());
    cr_assert_eq(keel_evaluate(m, x, y, after, 5), KEEL_OK);
    cr_expect_lt(after[1], before[1] * 0.3, "value_loss %g -> %g", before[1], after[1]);
    cr_expect_lt(after[2], before[2] * 0.7, "class_loss %g -> %g", before[2], after[2]);
    cr_expect_not_null(keel_history_get(keel_model_history(m), "class_mae"));
    keel_tensor *outs[2];
    cr_assert_eq(keel_predict_outputs(m, x, outs, 2), 2, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_dim(outs[1], 1), 1);
    keel_tensor_free(outs[0]), keel_tensor_free(outs[1]);
    /* one y for two outputs says how to give two */
    cr_expect_eq(keel_fit(m, x, yv, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("has 2 outputs but y gives 1", "keel_tensor_list");
    keel_tensor_free(y);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(yv), keel_tensor_free(yc);
    m = keel_model_new("bad");
    keel_sym *a = keel_model_input(m, .shape = {2});
    keel_model_outputs(m, 2,
                       (keel_sym *[]){keel_apply(m, keel_dense(.units = 1), a),
                                      keel_apply(m, keel_dense(.units = 1), a)});
    cr_expect_eq(keel_compile(m, .losses = {"mse"}), KEEL_ERR_ARG);
    EXPECT_MSG("has 2 outputs but 1 losses were given");
    keel_model_free(m);
}

/* the weighted sum's gradient, checked against finite differences of the evaluated loss, through
 * the public API: d(value_loss + 0.5 class_loss)/d(trunk kernel) */
Test(compose, two_outputs_gradient_matches_finite_differences) {
    keel_model *m = two_heads();
    keel_tensor *x = ramp(8, 4, 0.3f), *yv = ramp(8, 1, 0.5f),
                *yc = keel_tensor_new(KEEL_SHAPE(8, 1));
    for (int i = 0; i < 8; i += 2)
        keel_tensor_data(yc)[i] = 1;
    keel_tensor *y = keel_tensor_list(2, (const keel_tensor *[]){yv, yc});
    cr_assert_eq(keel_compute_gradients(m, x, y, NULL, 0), KEEL_OK, "%s", keel_last_error());
    int64_t ng;
    float g[64];
    const float *gp = keel_model_gradients(m, &ng);
    memcpy(g, gp, (size_t)ng * sizeof(float));
    keel_layer *trunk = keel_model_layer(m, 0);
    float *w = keel_layer_weight(trunk, 0, NULL);
    for (int i = 0; i < 24; i += 5) {
        const float eps = 1e-3f, w0 = w[i];
        double lp[1], lm[1];
        w[i] = w0 + eps;
        keel_test_on_batch(m, x, y, lp, 1);
        w[i] = w0 - eps;
        keel_test_on_batch(m, x, y, lm, 1);
        w[i] = w0;
        double num = (lp[0] - lm[0]) / (2 * eps);
        cr_expect(fabs(num - g[i]) < 1e-2 * fabs(num) + 2e-4, "dL/dw[%d]: %g vs numeric %g", i,
                  g[i], num);
    }
    keel_tensor_free(y);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(yv), keel_tensor_free(yc);
}
