/* test_keras_fixtures.c: keel against numbers produced by the real tf.keras 2 (TensorFlow 2.15.1,
 * Keras 2.15). tools/make_fixtures.py wrote tests/fixtures/keras_*.txt; this test needs no
 * Python. Each record is a line `name n v1 ... vn`; lines starting with '#' are comments.
 *
 * Everything goes through the public API (keel.h) except the loss functions of case b, which
 * are also called directly (keel_loss_compute, src/train/train.h) to read d loss / d y_pred.
 *
 * How gradients are read through the public API: compile with SGD, learning rate 1, and run
 * one keel_train_on_batch; the weights move by exactly minus the gradient, so
 * grad = w_before - w_after (a float subtraction that loses < 1e-7 here).
 *
 * Tolerances: |keel - keras| <= max(1e-6, rtol * |keras|) with rtol 1e-4 for values (outputs,
 * losses, weights) and 1e-3 for gradients and optimizer steps (float32 on both sides). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel.h"
#include "train/train.h"

#define RTOL_VALUE 1e-4
#define RTOL_GRAD 1e-3
#define ATOL 1e-6

/* ------------------------------------------------------------------ fixtures */

#include "fixture.h"

static void fx_load(fx_file *f, const char *file) {
    fx_load_from(f, file, "make_fixtures.py");
}

/* The values of a record that must hold n numbers (n < 0: any count). */
static const double *fx_get(const fx_file *f, const char *name, int n) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->r[i].name, name)) {
            cr_assert(n < 0 || f->r[i].n == n, "%s: record %s has %d values, expected %d", f->path,
                      name, f->r[i].n, n);
            return f->r[i].v;
        }
    cr_assert_fail("%s: no record %s (regenerate the fixtures?)", f->path, name);
    return NULL;
}

static const double *fx_getf(const fx_file *f, int n, const char *fmt, const char *a) {
    char name[128];
    snprintf(name, sizeof name, fmt, a);
    return fx_get(f, name, n);
}

/* A float copy of n doubles (the fixtures hold float32 values printed with %.9g: exact). */
static float *to_f32(const double *v, int64_t n) {
    float *o = malloc((size_t)n * sizeof *o);
    cr_assert_not_null(o);
    for (int64_t i = 0; i < n; i++)
        o[i] = (float)v[i];
    return o;
}

static keel_tensor *tensor2(const double *v, int64_t rows, int64_t cols) {
    float *f = to_f32(v, rows * cols);
    keel_tensor *t = keel_tensor_from_data(KEEL_SHAPE(rows, cols), f);
    free(f);
    cr_assert_not_null(t, "%s", keel_last_error());
    return t;
}

static keel_tensor *tensor1(const double *v, int64_t n) {
    float *f = to_f32(v, n);
    keel_tensor *t = keel_tensor_from_data(KEEL_SHAPE(n), f);
    free(f);
    cr_assert_not_null(t, "%s", keel_last_error());
    return t;
}

/* ------------------------------------------------------------------ keel models */

/* ------------------------------------------------------------------ a. Dense forward + backward */

/* y = act(x @ kernel + bias) on x (4, 5), kernel (5, 3); Keras's gradients are those of
 * L = sum(y * r). keel has no such loss, but mse with the target t = y - r * N * units / 2 has
 * d mse / dy = 2 (y - t) / (N * units) = r: the same dL/dy, hence the same gradients of the
 * weights (t is built from keel's own y, so the check of the gradients does not depend on the
 * forward check).
 *
 * dL/dx: keel computes no gradient for the model's input, so a Dense(5, use_bias=False) with
 * an identity kernel goes in front (h = x exactly). Its kernel gradient is x^T dL/dh; one
 * sample at a time (N = 1, t = y - r * units / 2) that is the outer product x_i^T g_i, and
 * g_i[k] = dW[j, k] / x_i[j] for the j where |x_i[j]| is largest. L is a sum over samples, so
 * sample i alone has Keras's dL/dx row i. */
static void dense_case(const char *act) {
    enum { N = 4, IN = 5, U = 3 };
    fx_file f;
    fx_load(&f, "keras_dense.txt");
    const double *x = fx_get(&f, "dense.x", N * IN), *kernel = fx_get(&f, "dense.kernel", IN * U),
                 *bias = fx_get(&f, "dense.bias", U), *r = fx_get(&f, "dense.r", N * U);
    const double *want_y = fx_getf(&f, N * U, "dense.%s.y", act);
    const double *want_dk = fx_getf(&f, IN * U, "dense.%s.dkernel", act);
    const double *want_db = fx_getf(&f, U, "dense.%s.dbias", act);
    const double *want_dx = fx_getf(&f, N * IN, "dense.%s.dx", act);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "Dense(3, activation=\"%s\")", act);

    /* forward and weight gradients */
    keel_model *m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_add(m, keel_dense(.units = U, .input_dim = IN, .activation = act));
    check_ok(keel_compile(m, .optimizer = "sgd", .optimizer_opts = SGD_LR1, .loss = "mse"), ctx,
             "keel_compile");
    set_weight(m, 0, 0, kernel, IN * U);
    set_weight(m, 0, 1, bias, U);
    keel_tensor *xt = tensor2(x, N, IN);
    keel_tensor *y = keel_predict(m, xt, NULL);
    cr_assert_not_null(y, "%s: keel_predict: %s", ctx, keel_last_error());
    expect_close_f(ctx, "y", keel_tensor_cdata(y), want_y, N * U, RTOL_VALUE);

    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(N, U));
    for (int i = 0; i < N * U; i++)
        keel_tensor_data(t)[i] = (float)(keel_tensor_cdata(y)[i] - r[i] * (N * U / 2.0));
    double *k0 = snapshot(m, 0, 0, IN * U), *b0 = snapshot(m, 0, 1, U), dk[IN * U], db[U];
    check_ok(keel_train_on_batch(m, xt, t, NULL, 0), ctx, "keel_train_on_batch");
    grad_from_step(m, 0, 0, k0, dk, IN * U);
    grad_from_step(m, 0, 1, b0, db, U);
    expect_close(ctx, "dL/dkernel", dk, want_dk, IN * U, RTOL_GRAD);
    expect_close(ctx, "dL/dbias", db, want_db, U, RTOL_GRAD);
    free(k0);
    free(b0);
    keel_tensor_free(t);
    keel_tensor_free(y);
    keel_model_free(m);

    /* dL/dx through an identity layer in front, one sample at a time */
    m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_add(m, keel_dense(.units = IN, .input_dim = IN, .use_bias = 0));
    keel_add(m, keel_dense(.units = U, .activation = act));
    check_ok(keel_compile(m, .optimizer = "sgd", .optimizer_opts = SGD_LR1, .loss = "mse"), ctx,
             "keel_compile (identity in front)");
    double dx[N * IN];
    for (int i = 0; i < N; i++) {
        set_identity(m, 0, IN);
        set_weight(m, 1, 0, kernel, IN * U);
        set_weight(m, 1, 1, bias, U);
        keel_tensor *xi = tensor2(x + i * IN, 1, IN);
        keel_tensor *yi = keel_predict(m, xi, NULL);
        cr_assert_not_null(yi, "%s: keel_predict: %s", ctx, keel_last_error());
        keel_tensor *ti = keel_tensor_new(KEEL_SHAPE(1, U));
        for (int k = 0; k < U; k++)
            keel_tensor_data(ti)[k] = (float)(keel_tensor_cdata(yi)[k] - r[i * U + k] * (U / 2.0));
        check_ok(keel_train_on_batch(m, xi, ti, NULL, 0), ctx,
                 "keel_train_on_batch (identity in front)");
        const float *w1 = weight(m, 0, 0, IN * IN);
        int j = 0;
        for (int c = 1; c < IN; c++)
            if (fabs(x[i * IN + c]) > fabs(x[i * IN + j])) j = c;
        for (int k = 0; k < IN; k++) {
            double before = j == k ? 1.0 : 0.0;
            dx[i * IN + k] = (before - (double)w1[j * IN + k]) / (double)(float)x[i * IN + j];
        }
        keel_tensor_free(xi);
        keel_tensor_free(yi);
        keel_tensor_free(ti);
    }
    expect_close(ctx, "dL/dx", dx, want_dx, N * IN, RTOL_GRAD);
    keel_model_free(m);
    keel_tensor_free(xt);
    fx_free(&f);
}

#define DENSE_TEST(act)                                                                            \
    Test(keras_dense, act) {                                                                       \
        dense_case(#act);                                                                          \
    }
DENSE_TEST(linear)
DENSE_TEST(relu)
DENSE_TEST(sigmoid)
DENSE_TEST(tanh)
DENSE_TEST(softmax)
DENSE_TEST(elu)
DENSE_TEST(selu)
DENSE_TEST(gelu)
DENSE_TEST(swish)
DENSE_TEST(silu)
DENSE_TEST(leaky_relu)
DENSE_TEST(softplus)
DENSE_TEST(softsign)
DENSE_TEST(hard_sigmoid)
DENSE_TEST(exponential)
DENSE_TEST(relu6)
DENSE_TEST(mish)
DENSE_TEST(log_softmax)

/* ------------------------------------------------------------------ b. losses */

typedef struct loss_case {
    const char *name; /* the fixture's case */
    const char *loss; /* keel's (and Keras's) loss name */
    keel_loss_opts opts;
} loss_case;

static const loss_case LOSS_CASES[] = {
    {"mse", "mse", {0}},
    {"mae", "mae", {0}},
    {"huber", "huber", {0}},
    {"huber_delta_0_5", "huber", {.delta = 0.5f}},
    {"bce", "binary_crossentropy", {0}},
    {"bce_edge", "binary_crossentropy", {0}},
    {"bce_smooth", "binary_crossentropy", {.label_smoothing = 0.1f}},
    {"bce_logits", "binary_crossentropy", {.from_logits = 1}},
    {"bce_logits_smooth", "binary_crossentropy", {.from_logits = 1, .label_smoothing = 0.2f}},
    {"cce", "categorical_crossentropy", {0}},
    {"cce_soft", "categorical_crossentropy", {0}},
    {"cce_unnorm", "categorical_crossentropy", {0}},
    {"cce_edge", "categorical_crossentropy", {0}},
    {"cce_smooth", "categorical_crossentropy", {.label_smoothing = 0.1f}},
    {"cce_logits", "categorical_crossentropy", {.from_logits = 1}},
    {"cce_logits_soft", "categorical_crossentropy", {.from_logits = 1}},
    {"scce", "sparse_categorical_crossentropy", {0}},
    {"scce_unnorm", "sparse_categorical_crossentropy", {0}},
    {"scce_edge", "sparse_categorical_crossentropy", {0}},
    {"scce_logits", "sparse_categorical_crossentropy", {.from_logits = 1}},
};

/* y_pred (4, 3); y_true (4, 3), or (4) class indices for the sparse loss.
 * 1. keel_loss_compute on a node holding y_pred: the loss and d loss / d y_pred.
 * 2. The same through a model: Dense(3) with kernel I and bias 0 outputs y_pred exactly;
 *    keel_test_on_batch gives the loss, and one SGD step (lr 1) the gradients
 *    dL/dkernel = y_pred^T dL/dy_pred and dL/dbias = sum over rows of dL/dy_pred, compared with
 *    the same products of Keras's dL/dy_pred. */
static void loss_case_run(const char *name) {
    enum { N = 4, C = 3 };
    const loss_case *lc = NULL;
    for (size_t i = 0; i < sizeof LOSS_CASES / sizeof LOSS_CASES[0]; i++)
        if (!strcmp(LOSS_CASES[i].name, name)) lc = &LOSS_CASES[i];
    cr_assert_not_null(lc, "no loss case %s", name);
    bool sparse = !strcmp(lc->loss, "sparse_categorical_crossentropy");
    int nt = sparse ? N : N * C;
    fx_file f;
    fx_load(&f, "keras_losses.txt");
    const double *yt = fx_getf(&f, nt, "loss.%s.y_true", name),
                 *yp = fx_getf(&f, N * C, "loss.%s.y_pred", name);
    double want = fx_getf(&f, 1, "loss.%s.value", name)[0];
    const double *want_g = fx_getf(&f, N * C, "loss.%s.grad", name);
    char ctx[96];
    snprintf(ctx, sizeof ctx, "loss %s (%s)", name, lc->loss);

    /* 1. the loss function itself */
    keel_loss l;
    check_ok(keel_loss_parse(lc->loss, lc->opts, &l), ctx, "keel_loss_parse");
    float *val = to_f32(yp, N * C), *tgt = to_f32(yt, nt), grad[N * C];
    keel_node out;
    memset(&out, 0, sizeof out);
    out.rank = 1;
    out.dims[0] = C;
    out.size = C;
    out.val = val;
    out.grad = grad;
    double got = keel_loss_compute(&l, &out, tgt, N, true);
    expect_scalar(ctx, "keel_loss_compute value", got, want, RTOL_VALUE);
    expect_close_f(ctx, "keel_loss_compute d loss/d y_pred", grad, want_g, N * C, RTOL_GRAD);

    /* 2. through a model */
    keel_model *m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_add(m, keel_dense(.units = C, .input_dim = C));
    check_ok(keel_compile(m, .optimizer = "sgd", .optimizer_opts = SGD_LR1, .loss = lc->loss,
                          .loss_opts = lc->opts),
             ctx, "keel_compile");
    set_identity(m, 0, C);
    set_weight(m, 0, 1, (const double[C]){0}, C);
    keel_tensor *x = tensor2(yp, N, C), *y = sparse ? tensor1(yt, N) : tensor2(yt, N, C);
    double res = NAN;
    check_ok(keel_test_on_batch(m, x, y, &res, 1), ctx, "keel_test_on_batch");
    expect_scalar(ctx, "test_on_batch loss", res, want, RTOL_VALUE);
    double *k0 = snapshot(m, 0, 0, C * C), *b0 = snapshot(m, 0, 1, C), dk[C * C], db[C];
    double want_dk[C * C] = {0}, want_db[C] = {0};
    for (int i = 0; i < N; i++)
        for (int a = 0; a < C; a++) {
            want_db[a] += want_g[i * C + a];
            for (int b = 0; b < C; b++)
                want_dk[a * C + b] += (double)(float)yp[i * C + a] * want_g[i * C + b];
        }
    check_ok(keel_train_on_batch(m, x, y, NULL, 0), ctx, "keel_train_on_batch");
    grad_from_step(m, 0, 0, k0, dk, C * C);
    grad_from_step(m, 0, 1, b0, db, C);
    expect_close(ctx, "model dL/dkernel (= y_pred^T dL/dy_pred)", dk, want_dk, C * C, RTOL_GRAD);
    expect_close(ctx, "model dL/dbias (= sum_rows dL/dy_pred)", db, want_db, C, RTOL_GRAD);
    free(k0);
    free(b0);
    free(val);
    free(tgt);
    keel_tensor_free(x);
    keel_tensor_free(y);
    keel_model_free(m);
    fx_free(&f);
}

#define LOSS_TEST(name)                                                                            \
    Test(keras_losses, name) {                                                                     \
        loss_case_run(#name);                                                                      \
    }
LOSS_TEST(mse)
LOSS_TEST(mae)
LOSS_TEST(huber)
LOSS_TEST(huber_delta_0_5)
LOSS_TEST(bce)
LOSS_TEST(bce_edge)
LOSS_TEST(bce_smooth)
LOSS_TEST(bce_logits)
LOSS_TEST(bce_logits_smooth)
LOSS_TEST(cce)
LOSS_TEST(cce_soft)
LOSS_TEST(cce_unnorm)
LOSS_TEST(cce_edge)
LOSS_TEST(cce_smooth)
LOSS_TEST(cce_logits)
LOSS_TEST(cce_logits_soft)
LOSS_TEST(scce)
LOSS_TEST(scce_unnorm)
LOSS_TEST(scce_edge)
LOSS_TEST(scce_logits)

/* Fused: Dense(units, softmax / sigmoid) + the matching crossentropy. tf.keras 2 computes that
 * loss from the logits (the fixture's `unfused` value, the clipped probability formula, is
 * different on purpose: one row has logits of about +-20). */
static void fused_case(const char *name, const char *act, const char *loss, int64_t units,
                       bool sparse) {
    enum { N = 4, IN = 5 };
    fx_file f;
    fx_load(&f, "keras_losses.txt");
    const double *x = fx_getf(&f, N * IN, "fused.%s.x", name);
    const double *kernel = fx_getf(&f, (int)(IN * units), "fused.%s.kernel", name);
    const double *bias = fx_getf(&f, (int)units, "fused.%s.bias", name);
    const double *yt = fx_getf(&f, sparse ? N : (int)(N * units), "fused.%s.y_true", name);
    double want = fx_getf(&f, 1, "fused.%s.value", name)[0];
    const double *want_dk = fx_getf(&f, (int)(IN * units), "fused.%s.dkernel", name);
    const double *want_db = fx_getf(&f, (int)units, "fused.%s.dbias", name);
    char ctx[96];
    snprintf(ctx, sizeof ctx, "fused %s: Dense(%lld, %s) + %s", name, (long long)units, act, loss);

    keel_model *m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_add(m, keel_dense(.units = units, .input_dim = IN, .activation = act));
    check_ok(keel_compile(m, .optimizer = "sgd", .optimizer_opts = SGD_LR1, .loss = loss), ctx,
             "keel_compile");
    set_weight(m, 0, 0, kernel, IN * units);
    set_weight(m, 0, 1, bias, units);
    keel_tensor *xt = tensor2(x, N, IN), *y = sparse ? tensor1(yt, N) : tensor2(yt, N, units);
    double res = NAN, res_train = NAN;
    check_ok(keel_test_on_batch(m, xt, y, &res, 1), ctx, "keel_test_on_batch");
    expect_scalar(ctx, "test_on_batch loss", res, want, RTOL_VALUE);
    double ev = NAN;
    check_ok(keel_evaluate(m, xt, y, &ev, 1, .batch_size = N), ctx, "keel_evaluate");
    expect_scalar(ctx, "evaluate loss", ev, want, RTOL_VALUE);
    double *k0 = snapshot(m, 0, 0, IN * units), *b0 = snapshot(m, 0, 1, units);
    double *dk = malloc(sizeof(double) * (size_t)(IN * units)),
           *db = malloc(sizeof(double) * (size_t)units);
    check_ok(keel_train_on_batch(m, xt, y, &res_train, 1), ctx, "keel_train_on_batch");
    expect_scalar(ctx, "train_on_batch loss", res_train, want, RTOL_VALUE);
    grad_from_step(m, 0, 0, k0, dk, IN * units);
    grad_from_step(m, 0, 1, b0, db, units);
    expect_close(ctx, "dL/dkernel", dk, want_dk, IN * units, RTOL_GRAD);
    expect_close(ctx, "dL/dbias", db, want_db, units, RTOL_GRAD);
    free(k0);
    free(b0);
    free(dk);
    free(db);
    keel_tensor_free(xt);
    keel_tensor_free(y);
    keel_model_free(m);
    fx_free(&f);
}

Test(keras_fused, softmax_categorical_crossentropy) {
    fused_case("softmax_cce", "softmax", "categorical_crossentropy", 3, false);
}
Test(keras_fused, softmax_sparse_categorical_crossentropy) {
    fused_case("softmax_scce", "softmax", "sparse_categorical_crossentropy", 3, true);
}
Test(keras_fused, sigmoid_binary_crossentropy) {
    fused_case("sigmoid_bce", "sigmoid", "binary_crossentropy", 1, false);
}

/* ------------------------------------------------------------------ c. optimizers */

/* Dense(3) (input 5, linear) + mse on x (8, 5), y (8, 3); three train_on_batch calls on the
 * whole batch. Checked: the loss each call returns (computed before its step), the weights
 * after each step (1e-4), and each step w_t - w_{t-1} (1e-3: the update itself, which is small
 * beside the weights). */
static void optimizer_case(const char *name, const char *opt, keel_optimizer_opts o) {
    enum { N = 8, IN = 5, U = 3, STEPS = 3 };
    fx_file f;
    fx_load(&f, "keras_optimizers.txt");
    const double *x = fx_get(&f, "opt.x", N * IN), *yv = fx_get(&f, "opt.y", N * U);
    const double *kernel = fx_get(&f, "opt.kernel", IN * U), *bias = fx_get(&f, "opt.bias", U);
    const double *want_loss = fx_getf(&f, STEPS, "opt.%s.loss", name);
    char ctx[96];
    snprintf(ctx, sizeof ctx, "optimizer %s", name);

    keel_model *m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_add(m, keel_dense(.units = U, .input_dim = IN));
    check_ok(keel_compile(m, .optimizer = opt, .optimizer_opts = o, .loss = "mse"), ctx,
             "keel_compile");
    set_weight(m, 0, 0, kernel, IN * U);
    set_weight(m, 0, 1, bias, U);
    keel_tensor *xt = tensor2(x, N, IN), *yt = tensor2(yv, N, U);
    double prev_k[IN * U], prev_b[U], want_prev_k[IN * U], want_prev_b[U];
    for (int i = 0; i < IN * U; i++)
        prev_k[i] = (float)kernel[i], want_prev_k[i] = kernel[i];
    for (int i = 0; i < U; i++)
        prev_b[i] = (float)bias[i], want_prev_b[i] = bias[i];
    for (int s = 1; s <= STEPS; s++) {
        char what[64], rec[96];
        double loss = NAN;
        check_ok(keel_train_on_batch(m, xt, yt, &loss, 1), ctx, "keel_train_on_batch");
        snprintf(what, sizeof what, "step %d loss", s);
        expect_scalar(ctx, what, loss, want_loss[s - 1], RTOL_VALUE);

        snprintf(rec, sizeof rec, "opt.%s.step%d.kernel", name, s);
        const double *want_k = fx_get(&f, rec, IN * U);
        snprintf(rec, sizeof rec, "opt.%s.step%d.bias", name, s);
        const double *want_b = fx_get(&f, rec, U);
        const float *k = weight(m, 0, 0, IN * U), *b = weight(m, 0, 1, U);
        snprintf(what, sizeof what, "step %d kernel", s);
        expect_close_f(ctx, what, k, want_k, IN * U, RTOL_VALUE);
        snprintf(what, sizeof what, "step %d bias", s);
        expect_close_f(ctx, what, b, want_b, U, RTOL_VALUE);

        double got_dk[IN * U], want_dk[IN * U], got_db[U], want_db[U];
        for (int i = 0; i < IN * U; i++) {
            got_dk[i] = k[i] - prev_k[i], want_dk[i] = want_k[i] - want_prev_k[i];
            prev_k[i] = k[i], want_prev_k[i] = want_k[i];
        }
        for (int i = 0; i < U; i++) {
            got_db[i] = b[i] - prev_b[i], want_db[i] = want_b[i] - want_prev_b[i];
            prev_b[i] = b[i], want_prev_b[i] = want_b[i];
        }
        snprintf(what, sizeof what, "step %d kernel update", s);
        expect_close(ctx, what, got_dk, want_dk, IN * U, RTOL_GRAD);
        snprintf(what, sizeof what, "step %d bias update", s);
        expect_close(ctx, what, got_db, want_db, U, RTOL_GRAD);
    }
    keel_tensor_free(xt);
    keel_tensor_free(yt);
    keel_model_free(m);
    fx_free(&f);
}

Test(keras_optimizers, sgd) {
    optimizer_case("sgd", "sgd", (keel_optimizer_opts){.learning_rate = 0.01f});
}
Test(keras_optimizers, sgd_momentum) {
    optimizer_case("sgd_momentum", "sgd",
                   (keel_optimizer_opts){.learning_rate = 0.01f, .momentum = 0.9f});
}
Test(keras_optimizers, sgd_nesterov) {
    optimizer_case("sgd_nesterov", "sgd",
                   (keel_optimizer_opts){.learning_rate = 0.01f, .momentum = 0.9f, .nesterov = 1});
}
Test(keras_optimizers, adam) {
    optimizer_case("adam", "adam", (keel_optimizer_opts){0});
}
Test(keras_optimizers, adamw) {
    optimizer_case("adamw", "adamw", (keel_optimizer_opts){0});
}
Test(keras_optimizers, rmsprop) {
    optimizer_case("rmsprop", "rmsprop", (keel_optimizer_opts){0});
}
Test(keras_optimizers, rmsprop_centered_momentum) {
    optimizer_case("rmsprop_centered_momentum", "rmsprop",
                   (keel_optimizer_opts){.centered = 1, .momentum = 0.5f});
}
Test(keras_optimizers, adagrad) {
    optimizer_case("adagrad", "adagrad", (keel_optimizer_opts){0});
}
Test(keras_optimizers, adam_clipnorm) {
    optimizer_case("adam_clipnorm", "adam", (keel_optimizer_opts){.clipnorm = 0.1f});
}
Test(keras_optimizers, sgd_clipvalue) {
    optimizer_case("sgd_clipvalue", "sgd",
                   (keel_optimizer_opts){.learning_rate = 0.01f, .clipvalue = 0.01f});
}

/* ------------------------------------------------------------------ d. regularizers */

/* Dense(3, kernel_regularizer=l2(0.01), bias_regularizer=l1(0.02)) + mse: the loss of
 * test_on_batch, evaluate and train_on_batch includes the penalty, and so do the gradients. */
Test(keras_regularizers, l2_kernel_l1_bias) {
    enum { N = 8, IN = 5, U = 3 };
    const char *ctx =
        "Dense(3, kernel_regularizer=\"l2(0.01)\", bias_regularizer=\"l1(0.02)\") + mse";
    fx_file f;
    fx_load(&f, "keras_regularizers.txt");
    const double *x = fx_get(&f, "reg.x", N * IN), *yv = fx_get(&f, "reg.y", N * U);
    const double *kernel = fx_get(&f, "reg.kernel", IN * U), *bias = fx_get(&f, "reg.bias", U);
    double want_test = fx_get(&f, "reg.test_on_batch", 1)[0],
           want_eval = fx_get(&f, "reg.evaluate", 1)[0];
    const double *want_dk = fx_get(&f, "reg.dkernel", IN * U),
                 *want_db = fx_get(&f, "reg.dbias", U);

    keel_model *m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_add(m, keel_dense(.units = U, .input_dim = IN, .kernel_regularizer = "l2(0.01)",
                           .bias_regularizer = "l1(0.02)"));
    check_ok(keel_compile(m, .optimizer = "sgd", .optimizer_opts = SGD_LR1, .loss = "mse"), ctx,
             "keel_compile");
    set_weight(m, 0, 0, kernel, IN * U);
    set_weight(m, 0, 1, bias, U);
    keel_tensor *xt = tensor2(x, N, IN), *yt = tensor2(yv, N, U);
    double res = NAN, ev = NAN, tr = NAN;
    check_ok(keel_test_on_batch(m, xt, yt, &res, 1), ctx, "keel_test_on_batch");
    expect_scalar(ctx, "test_on_batch loss", res, want_test, RTOL_VALUE);
    check_ok(keel_evaluate(m, xt, yt, &ev, 1, .batch_size = N), ctx, "keel_evaluate");
    expect_scalar(ctx, "evaluate loss", ev, want_eval, RTOL_VALUE);
    double *k0 = snapshot(m, 0, 0, IN * U), *b0 = snapshot(m, 0, 1, U), dk[IN * U], db[U];
    check_ok(keel_train_on_batch(m, xt, yt, &tr, 1), ctx, "keel_train_on_batch");
    expect_scalar(ctx, "train_on_batch loss", tr, want_test, RTOL_VALUE);
    grad_from_step(m, 0, 0, k0, dk, IN * U);
    grad_from_step(m, 0, 1, b0, db, U);
    expect_close(ctx, "dL/dkernel", dk, want_dk, IN * U, RTOL_GRAD);
    expect_close(ctx, "dL/dbias", db, want_db, U, RTOL_GRAD);
    free(k0);
    free(b0);
    keel_tensor_free(xt);
    keel_tensor_free(yt);
    keel_model_free(m);
    fx_free(&f);
}
