/* test_cnn_fixtures.c: keel's Conv2D, pooling, ZeroPadding2D and BatchNormalization layers, and
 * a small CNN, against numbers produced by the real tf.keras 2 (TensorFlow 2.15.1, Keras 2.15).
 * tools/make_cnn_fixtures.py wrote tests/fixtures/keras_cnn.txt (format and conventions as in
 * test_keras_fixtures.c: records `name n v1 ... vn`, '#' comments, row-major NHWC, Conv2D
 * kernels HWIO); this test needs no Python.
 *
 * Each layer case is one layer after keel_input (so the layer is model layer 1); its weights
 * are copied in with keel_layer_weight. Keras's gradients are those of L = sum(y * r):
 *
 *  - y: keel_predict (BatchNormalization's training-mode output: one forward pass of the
 *    internal graph with the training flag set, since no public call returns it).
 *  - dL/d(weight): compile with SGD, learning rate 1, and loss mse, and train on the target
 *    t = y - r * (N * S) / 2 (S the per-sample output size, t built from keel's own y): then
 *    d mse / dy = 2 (y - t) / (N * S) = r, and one keel_train_on_batch moves each weight by
 *    exactly minus dL/d(weight), so grad = w_before - w_after.
 *  - dL/dx: keel computes no gradient for the model's input, so a Dense(C, use_bias=False)
 *    with an identity kernel goes in front (h = x exactly: Dense contracts the last axis) and
 *    the gradient of its output node, dL/dh = dL/dx, is read from the internal graph
 *    (model/model.h) after the same train_on_batch step.
 *
 * BatchNormalization: the training output and the gamma / beta gradients as above; the moving
 * statistics (weights 2 and 3, which no optimizer touches) after that one training step against
 * Keras's after one training call; the inference output (keel_predict) with Keras's updated
 * moving statistics and the original gamma / beta.
 *
 * Tolerances as in test_keras_fixtures.c: |keel - keras| <= max(1e-6, rtol * |keras|) with rtol
 * 1e-4 for values (outputs, losses, moving statistics) and 1e-3 for gradients and for the
 * update of a moving statistic. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel.h"
#include "model/model.h"

#define RTOL_VALUE 1e-4
#define RTOL_GRAD 1e-3
#define ATOL 1e-6

/* ------------------------------------------------------------------ fixtures */

#include "fixture.h"

static void fx_load(fx_file *f, const char *file) {
    fx_load_from(f, file, "make_cnn_fixtures.py");
}

/* The record `cs.what`. */
static const fx_rec *fx_rec_of(const fx_file *f, const char *cs, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", cs, what);
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->r[i].name, name)) return &f->r[i];
    cr_assert_fail("%s: no record %s (regenerate the fixtures?)", f->path, name);
    return NULL;
}

/* The values of `cs.what`, which must hold n numbers (n < 0: any count). */
static const double *fx_get(const fx_file *f, const char *cs, const char *what, int64_t n) {
    const fx_rec *r = fx_rec_of(f, cs, what);
    cr_assert(n < 0 || r->n == n, "%s: record %s has %d values, expected %lld", f->path, r->name,
              r->n, (long long)n);
    return r->v;
}

/* A shape record (`cs.x_shape`, `cs.y_shape`): the batch axis first. */
typedef struct shape {
    int rank;
    int64_t d[KEEL_MAX_RANK];
    int64_t size, per; /* all values; one sample's */
} shape;

static shape fx_shape(const fx_file *f, const char *cs, const char *what) {
    const fx_rec *r = fx_rec_of(f, cs, what);
    cr_assert(r->n >= 2 && r->n <= KEEL_MAX_RANK, "%s: %s: bad rank %d", f->path, r->name, r->n);
    shape s = {.rank = r->n, .size = 1, .per = 1};
    for (int i = 0; i < r->n; i++) {
        s.d[i] = (int64_t)r->v[i];
        s.size *= s.d[i];
        if (i) s.per *= s.d[i];
    }
    return s;
}

static keel_tensor *tensor_of(const double *v, const shape *s) {
    float *data = malloc((size_t)s->size * sizeof *data);
    cr_assert_not_null(data);
    for (int64_t i = 0; i < s->size; i++)
        data[i] = (float)v[i];
    keel_tensor *t = keel_tensor_from_data(s->rank, s->d, data);
    free(data);
    cr_assert_not_null(t, "%s", keel_last_error());
    return t;
}

/* ------------------------------------------------------------------ keel models */

typedef keel_layer *(*layer_maker)(void);

/* Input(x's per-sample shape) [-> Dense(C, use_bias=False) with an identity kernel] -> the
 * layer; compiled with SGD (lr 1) and mse. The layer under test is layer 1, or 2. */
static keel_model *layer_model(const char *ctx, const shape *xs, layer_maker make,
                               bool identity_front) {
    keel_model *m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_input_opts io = {0};
    for (int i = 1; i < xs->rank; i++)
        io.shape[i - 1] = xs->d[i];
    keel_add(m, keel_input_(io));
    int64_t C = xs->d[xs->rank - 1];
    if (identity_front) keel_add(m, keel_dense(.units = C, .use_bias = 0));
    keel_add(m, make());
    check_ok(keel_compile(m, .optimizer = "sgd", .optimizer_opts = SGD_LR1, .loss = "mse"), ctx,
             identity_front ? "keel_compile (identity Dense in front)" : "keel_compile");
    if (identity_front) set_identity(m, 1, C);
    return m;
}

static void expect_shape(const char *ctx, const char *what, int rank, const int64_t *dims,
                         const shape *want) {
    bool same = rank == want->rank;
    for (int i = 0; same && i < rank; i++)
        same = dims[i] == want->d[i];
    char got[128] = "", exp[128] = "";
    for (int i = 0; i < rank; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                 (long long)dims[i]);
    for (int i = 0; i < want->rank; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? ", " : "",
                 (long long)want->d[i]);
    cr_assert(same, "%s: %s shape: keel (%s), keras (%s)", ctx, what, got, exp);
}

/* y for x: keel_predict, or (training) one forward pass of the graph in training mode. A new
 * buffer of ys->size floats, its shape checked against ys. */
static float *forward(const char *ctx, keel_model *m, const keel_tensor *x, const shape *ys,
                      bool training) {
    float *y = malloc((size_t)ys->size * sizeof *y);
    cr_assert_not_null(y);
    if (!training) {
        keel_tensor *t = keel_predict(m, x, NULL);
        cr_assert_not_null(t, "%s: keel_predict: %s", ctx, keel_last_error());
        int64_t dims[KEEL_MAX_RANK];
        int rank = keel_tensor_rank(t);
        for (int i = 0; i < rank && i < KEEL_MAX_RANK; i++)
            dims[i] = keel_tensor_dim(t, i);
        expect_shape(ctx, "y", rank, dims, ys);
        memcpy(y, keel_tensor_cdata(t), (size_t)ys->size * sizeof *y);
        keel_tensor_free(t);
        return y;
    }
    int64_t n = keel_tensor_dim(x, 0);
    check_ok(keel_model_reserve(m, n), ctx, "keel_model_reserve");
    memcpy(m->input->val, keel_tensor_cdata(x), (size_t)keel_tensor_size(x) * sizeof(float));
    m->ctx.training = true;
    m->ctx.seed = m->seed;
    keel_graph_forward(&m->g, n, &m->ctx);
    int64_t dims[KEEL_MAX_RANK] = {n};
    for (int i = 0; i < m->output->rank && i + 1 < KEEL_MAX_RANK; i++)
        dims[i + 1] = m->output->dims[i];
    expect_shape(ctx, "y (training forward)", m->output->rank + 1, dims, ys);
    memcpy(y, m->output->val, (size_t)ys->size * sizeof *y);
    return y;
}

/* The mse target whose gradient dmse/dy is r: t = y - r * size / 2. */
static keel_tensor *mse_target(const float *y, const double *r, const shape *ys) {
    keel_tensor *t = keel_tensor_new(ys->rank, ys->d);
    cr_assert_not_null(t, "%s", keel_last_error());
    float *d = keel_tensor_data(t);
    for (int64_t i = 0; i < ys->size; i++)
        d[i] = (float)((double)y[i] - r[i] * ((double)ys->size / 2.0));
    return t;
}

/* dL/dx through the identity Dense in front (layer 1): its output node's gradient after one
 * training step on the target for r. `training`: the layer's forward in training mode. */
static void check_dx(const char *ctx, const fx_file *f, const char *cs, layer_maker make,
                     void (*set)(keel_model *, int, const fx_file *, const char *), bool training) {
    shape xs = fx_shape(f, cs, "x_shape"), ys = fx_shape(f, cs, "y_shape");
    const double *x = fx_get(f, cs, "x", xs.size), *r = fx_get(f, cs, "r", ys.size);
    const double *want = fx_get(f, cs, "dx", xs.size);
    keel_model *m = layer_model(ctx, &xs, make, true);
    if (set) set(m, 2, f, cs);
    keel_tensor *xt = tensor_of(x, &xs);
    float *y = forward(ctx, m, xt, &ys, training);
    keel_tensor *t = mse_target(y, r, &ys);
    check_ok(keel_train_on_batch(m, xt, t, NULL, 0), ctx,
             "keel_train_on_batch (identity Dense in front)");
    keel_node *h = m->layers[1]->node;
    cr_assert_not_null(h);
    cr_assert_not_null(h->grad, "%s: the identity Dense's output has no gradient buffer", ctx);
    cr_assert_eq(h->size, xs.per);
    expect_close_f(ctx, "dL/dx", h->grad, want, xs.size, RTOL_GRAD);
    free(y);
    keel_tensor_free(t);
    keel_tensor_free(xt);
    keel_model_free(m);
}

/* ------------------------------------------------------------------ layers with kernel / bias */

static const char *const WEIGHTS[] = {"kernel", "bias"};

/* Copies the case's kernel (and bias) into layer `layer`. */
static void set_kernel_bias(keel_model *m, int layer, const fx_file *f, const char *cs) {
    keel_layer *l = keel_model_layer(m, layer);
    cr_assert_not_null(l);
    for (int k = 0; k < 2; k++) {
        char name[128];
        snprintf(name, sizeof name, "%s.%s", cs, WEIGHTS[k]);
        bool has = false;
        for (int i = 0; i < f->n; i++)
            has |= !strcmp(f->r[i].name, name);
        if (!has) {
            int64_t n = 0;
            cr_assert_null(keel_layer_weight(l, k, &n),
                           "%s: keel has weight %d (%lld values); Keras has no %s", cs, k,
                           (long long)n, WEIGHTS[k]);
            continue;
        }
        const fx_rec *r = fx_rec_of(f, cs, WEIGHTS[k]);
        set_weight(m, layer, k, r->v, r->n);
    }
}

/* One layer after Input: forward against Keras's y; for layers with weights, dL/dkernel and
 * dL/dbias from one SGD step; then dL/dx through the identity Dense in front. */
static void layer_case(const char *cs, const char *desc, layer_maker make, bool has_weights) {
    fx_file f;
    fx_load(&f, "keras_cnn.txt");
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%s: %s", cs, desc);
    shape xs = fx_shape(&f, cs, "x_shape"), ys = fx_shape(&f, cs, "y_shape");
    const double *x = fx_get(&f, cs, "x", xs.size), *r = fx_get(&f, cs, "r", ys.size);
    const double *want_y = fx_get(&f, cs, "y", ys.size);

    keel_model *m = layer_model(ctx, &xs, make, false);
    if (has_weights) set_kernel_bias(m, 1, &f, cs);
    keel_tensor *xt = tensor_of(x, &xs);
    float *y = forward(ctx, m, xt, &ys, false);
    expect_close_f(ctx, "y", y, want_y, ys.size, RTOL_VALUE);

    if (has_weights) {
        keel_tensor *t = mse_target(y, r, &ys);
        int nw = 0;
        double *before[2] = {0};
        int64_t count[2] = {0};
        for (int k = 0; k < 2; k++) {
            int64_t n = 0;
            if (!keel_layer_weight(keel_model_layer(m, 1), k, &n)) break;
            count[k] = n;
            before[k] = snapshot(m, 1, k, n);
            nw++;
        }
        check_ok(keel_train_on_batch(m, xt, t, NULL, 0), ctx, "keel_train_on_batch");
        for (int k = 0; k < nw; k++) {
            char what[32], rec[32];
            snprintf(what, sizeof what, "dL/d%s", WEIGHTS[k]);
            snprintf(rec, sizeof rec, "d%s", WEIGHTS[k]);
            const double *want = fx_get(&f, cs, rec, count[k]);
            double *g = malloc((size_t)count[k] * sizeof *g);
            cr_assert_not_null(g);
            grad_from_step(m, 1, k, before[k], g, count[k]);
            expect_close(ctx, what, g, want, count[k], RTOL_GRAD);
            free(g);
            free(before[k]);
        }
        keel_tensor_free(t);
    }
    free(y);
    keel_tensor_free(xt);
    keel_model_free(m);

    check_dx(ctx, &f, cs, make, has_weights ? set_kernel_bias : NULL, false);
    fx_free(&f);
}

/* The layers, configured as make_cnn_fixtures.py configures Keras's (pairs spelled out). */
#define LAYER_MAKER(id, expr)                                                                      \
    static keel_layer *make_##id(void) {                                                           \
        return expr;                                                                               \
    }

LAYER_MAKER(conv_a, keel_conv2d(.filters = 4, .kernel_size = {3, 3}))
LAYER_MAKER(conv_b,
            keel_conv2d(.filters = 5, .kernel_size = {3, 3}, .strides = {2, 2}, .padding = "same"))
LAYER_MAKER(conv_c, keel_conv2d(.filters = 3, .kernel_size = {2, 3}, .dilation_rate = {2, 2}))
LAYER_MAKER(conv_d, keel_conv2d(.filters = 3, .kernel_size = {1, 1}))
LAYER_MAKER(conv_e, keel_conv2d(.filters = 4, .kernel_size = {3, 3}, .padding = "same",
                                .activation = "relu"))
LAYER_MAKER(conv_f,
            keel_conv2d(.filters = 3, .kernel_size = {3, 3}, .strides = {2, 1}, .use_bias = 0))
LAYER_MAKER(conv_g, keel_conv2d(.filters = 2, .kernel_size = {2, 2}, .padding = "same"))
LAYER_MAKER(conv_h, keel_conv2d(.filters = 2, .kernel_size = {3, 3}, .padding = "same",
                                .dilation_rate = {2, 2}))
LAYER_MAKER(maxpool_a, keel_max_pooling2d())
LAYER_MAKER(maxpool_b,
            keel_max_pooling2d(.pool_size = {3, 3}, .strides = {2, 2}, .padding = "same"))
LAYER_MAKER(maxpool_c, keel_max_pooling2d(.pool_size = {2, 2}, .strides = {1, 1}))
LAYER_MAKER(maxpool_d,
            keel_max_pooling2d(.pool_size = {3, 3}, .strides = {2, 2}, .padding = "same"))
LAYER_MAKER(avgpool_a, keel_average_pooling2d())
LAYER_MAKER(avgpool_b,
            keel_average_pooling2d(.pool_size = {3, 3}, .strides = {2, 2}, .padding = "same"))
LAYER_MAKER(avgpool_c,
            keel_average_pooling2d(.pool_size = {3, 3}, .strides = {2, 2}, .padding = "same"))
LAYER_MAKER(gap, keel_global_average_pooling2d())
LAYER_MAKER(gmp, keel_global_max_pooling2d())
LAYER_MAKER(zpad_a, keel_zero_padding2d(.padding = {1, 2}))
LAYER_MAKER(zpad_b, keel_zero_padding2d(.pads = {1, 0, 2, 3}))
LAYER_MAKER(bn, keel_batch_normalization())

#define LAYER_TEST(suite, id, desc, weights)                                                       \
    Test(suite, id) {                                                                              \
        layer_case(#id, desc, make_##id, weights);                                                 \
    }

/* 1. Conv2D */
LAYER_TEST(keras_conv2d, conv_a, "Conv2D(4, 3) valid on (1, 7, 6, 1)", true)
LAYER_TEST(keras_conv2d, conv_b, "Conv2D(5, 3, strides=2, padding=same) on (2, 7, 8, 3)", true)
LAYER_TEST(keras_conv2d, conv_c, "Conv2D(3, (2, 3), dilation_rate=2) valid on (1, 9, 8, 2)", true)
LAYER_TEST(keras_conv2d, conv_d, "Conv2D(3, 1) on (2, 4, 5, 4)", true)
LAYER_TEST(keras_conv2d, conv_e, "Conv2D(4, 3, padding=same, activation=relu) on (2, 5, 6, 2)",
           true)
LAYER_TEST(keras_conv2d, conv_f,
           "Conv2D(3, 3, strides=(2, 1), use_bias=False) valid on (2, 8, 7, 2)", true)
LAYER_TEST(keras_conv2d, conv_g, "Conv2D(2, 2, padding=same) on (1, 5, 6, 2)", true)
LAYER_TEST(keras_conv2d, conv_h, "Conv2D(2, 3, padding=same, dilation_rate=2) on (1, 7, 7, 1)",
           true)
/* 2. MaxPooling2D */
LAYER_TEST(keras_pooling, maxpool_a, "MaxPooling2D(2) valid on (2, 6, 7, 3)", false)
LAYER_TEST(keras_pooling, maxpool_b, "MaxPooling2D(3, strides=2, padding=same) on (1, 7, 7, 2)",
           false)
LAYER_TEST(keras_pooling, maxpool_c, "MaxPooling2D(2, strides=1) valid on (1, 5, 5, 2)", false)
LAYER_TEST(keras_pooling, maxpool_d, "MaxPooling2D(3, strides=2, padding=same) on (1, 8, 6, 2)",
           false)
/* 3. AveragePooling2D ("same": padded cells are not counted, as TF does) */
LAYER_TEST(keras_pooling, avgpool_a, "AveragePooling2D(2) valid on (2, 6, 7, 3)", false)
LAYER_TEST(keras_pooling, avgpool_b, "AveragePooling2D(3, strides=2, padding=same) on (1, 7, 7, 2)",
           false)
LAYER_TEST(keras_pooling, avgpool_c, "AveragePooling2D(3, strides=2, padding=same) on (1, 8, 6, 2)",
           false)
/* 4. global pooling */
LAYER_TEST(keras_pooling, gap, "GlobalAveragePooling2D on (2, 5, 4, 3)", false)
LAYER_TEST(keras_pooling, gmp, "GlobalMaxPooling2D on (2, 5, 4, 3)", false)
/* 5. ZeroPadding2D */
LAYER_TEST(keras_zero_padding2d, zpad_a, "ZeroPadding2D(padding=(1, 2)) on (2, 3, 4, 2)", false)
LAYER_TEST(keras_zero_padding2d, zpad_b, "ZeroPadding2D(padding=((1, 0), (2, 3))) on (2, 3, 4, 2)",
           false)

/* ------------------------------------------------------------------ 6. BatchNormalization */

static const char *const BN_WEIGHTS[] = {"gamma", "beta", "moving_mean", "moving_variance"};

static void set_bn(keel_model *m, int layer, const fx_file *f, const char *cs) {
    for (int k = 0; k < 4; k++) {
        const fx_rec *r = fx_rec_of(f, cs, BN_WEIGHTS[k]);
        set_weight(m, layer, k, r->v, r->n);
    }
}

static void bn_case(const char *cs, const char *desc) {
    fx_file f;
    fx_load(&f, "keras_cnn.txt");
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%s: BatchNormalization() on %s", cs, desc);
    shape xs = fx_shape(&f, cs, "x_shape"), ys = fx_shape(&f, cs, "y_shape");
    int64_t C = xs.d[xs.rank - 1];
    const double *x = fx_get(&f, cs, "x", xs.size), *r = fx_get(&f, cs, "r", ys.size);
    const double *mm = fx_get(&f, cs, "moving_mean", C), *mv = fx_get(&f, cs, "moving_variance", C);
    const double *want_mm = fx_get(&f, cs, "moving_mean_after", C),
                 *want_mv = fx_get(&f, cs, "moving_variance_after", C);
    const double *mv_biased = fx_get(&f, cs, "moving_variance_if_biased", C);
    const double *mv_unbiased = fx_get(&f, cs, "moving_variance_if_unbiased", C);

    keel_model *m = layer_model(ctx, &xs, make_bn, false);
    set_bn(m, 1, &f, cs);
    keel_tensor *xt = tensor_of(x, &xs);

    /* (i) the training-mode output; the weights are set again in case that forward pass moved
     * the moving statistics */
    float *y = forward(ctx, m, xt, &ys, true);
    expect_close_f(ctx, "y (training)", y, fx_get(&f, cs, "y", ys.size), ys.size, RTOL_VALUE);
    set_bn(m, 1, &f, cs);

    /* gamma / beta gradients and (ii) the moving statistics after one training step */
    keel_tensor *t = mse_target(y, r, &ys);
    double *g0 = snapshot(m, 1, 0, C), *b0 = snapshot(m, 1, 1, C),
           *g = calloc((size_t)C, sizeof *g);
    cr_assert_not_null(g);
    check_ok(keel_train_on_batch(m, xt, t, NULL, 0), ctx, "keel_train_on_batch");
    grad_from_step(m, 1, 0, g0, g, C);
    expect_close(ctx, "dL/dgamma", g, fx_get(&f, cs, "dgamma", C), C, RTOL_GRAD);
    grad_from_step(m, 1, 1, b0, g, C);
    expect_close(ctx, "dL/dbeta", g, fx_get(&f, cs, "dbeta", C), C, RTOL_GRAD);

    const float *kmm = weight(m, 1, 2, C), *kmv = weight(m, 1, 3, C);
    expect_close_f(ctx, "moving_mean after one step", kmm, want_mm, C, RTOL_VALUE);
    int bad = expect_close_f(ctx, "moving_variance after one step", kmv, want_mv, C, RTOL_VALUE);
    /* the updates themselves (moving - before), which tell the biased batch variance from the
     * Bessel-corrected one by a factor n / (n - 1) */
    double got_u[16] = {0}, want_u[16] = {0};
    cr_assert(C <= 16);
    for (int64_t c = 0; c < C; c++)
        got_u[c] = (double)kmm[c] - (double)(float)mm[c],
        want_u[c] = want_mm[c] - (double)(float)mm[c];
    expect_close(ctx, "moving_mean update", got_u, want_u, C, RTOL_GRAD);
    for (int64_t c = 0; c < C; c++)
        got_u[c] = (double)kmv[c] - (double)(float)mv[c],
        want_u[c] = want_mv[c] - (double)(float)mv[c];
    bad += expect_close(ctx, "moving_variance update", got_u, want_u, C, RTOL_GRAD);
    if (bad) {
        double eb = 0, eu = 0;
        for (int64_t c = 0; c < C; c++) {
            eb = fmax(eb, fabs((double)kmv[c] - mv_biased[c]));
            eu = fmax(eu, fabs((double)kmv[c] - mv_unbiased[c]));
        }
        cr_expect(0,
                  "%s: keel's moving_variance is within %.3g of the biased-variance update and "
                  "%.3g of the "
                  "Bessel-corrected one; Keras's is the %s one here",
                  ctx, eb, eu,
                  fabs(want_mv[0] - mv_biased[0]) < fabs(want_mv[0] - mv_unbiased[0])
                      ? "biased"
                      : "Bessel-corrected");
    }

    /* (iii) the inference output with the updated moving statistics (Keras's) and the original
     * gamma and beta */
    set_bn(m, 1, &f, cs);
    set_weight(m, 1, 2, want_mm, C);
    set_weight(m, 1, 3, want_mv, C);
    float *yi = forward(ctx, m, xt, &ys, false);
    expect_close_f(ctx, "y (inference, updated moving statistics)", yi,
                   fx_get(&f, cs, "y_infer", ys.size), ys.size, RTOL_VALUE);
    free(yi);
    free(g0);
    free(b0);
    free(g);
    free(y);
    keel_tensor_free(t);
    keel_tensor_free(xt);
    keel_model_free(m);

    /* dL/dx in training mode (through the batch statistics) */
    check_dx(ctx, &f, cs, make_bn, set_bn, true);
    fx_free(&f);
}

/* tf.keras 2.15 takes the fused kernel for this 4-D input: its moving variance uses the
 * Bessel-corrected batch variance (see the fixture's comments) */
Test(keras_batch_normalization, bn4) {
    bn_case("bn4", "(4, 3, 3, 2) (fused kernel in tf.keras 2)");
}
/* and the non-fused path for 2-D input: the biased batch variance */
Test(keras_batch_normalization, bn2) {
    bn_case("bn2", "(6, 5)");
}

/* ------------------------------------------------------------------ 7. a small CNN */

/* Conv2D(4, 3, relu) -> MaxPooling2D() -> Flatten -> Dense(3, softmax) +
 * sparse_categorical_crossentropy on x (2, 8, 8, 1), labels [2, 0]: the probabilities, the
 * loss of test_on_batch and train_on_batch (from the logits, as tf.keras 2 inside tf.function)
 * and the gradient of that loss for every weight. The Dense kernel's rows follow Flatten's
 * NHWC order. */
Test(keras_cnn, conv_pool_flatten_dense) {
    const char *cs = "cnn",
               *ctx =
                   "cnn: Conv2D(4, 3, relu) -> MaxPooling2D -> Flatten -> Dense(3, softmax) + scce";
    fx_file f;
    fx_load(&f, "keras_cnn.txt");
    shape xs = fx_shape(&f, cs, "x_shape");
    cr_assert_eq(xs.rank, 4);
    int64_t N = xs.d[0];
    const double *x = fx_get(&f, cs, "x", xs.size), *labels = fx_get(&f, cs, "labels", N);
    static const struct {
        const char *rec, *drec, *what;
        int layer, index;
        int64_t n;
    } W[] = {{"conv.kernel", "conv.dkernel", "dL/d conv kernel", 1, 0, 3 * 3 * 1 * 4},
             {"conv.bias", "conv.dbias", "dL/d conv bias", 1, 1, 4},
             {"dense.kernel", "dense.dkernel", "dL/d dense kernel", 4, 0, 36 * 3},
             {"dense.bias", "dense.dbias", "dL/d dense bias", 4, 1, 3}};

    keel_model *m = keel_sequential(NULL);
    cr_assert_not_null(m);
    keel_add(m, keel_input(.shape = {8, 8, 1}));
    keel_add(m, keel_conv2d(.filters = 4, .kernel_size = {3, 3}, .activation = "relu"));
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 3, .activation = "softmax"));
    check_ok(keel_compile(m, .optimizer = "sgd", .optimizer_opts = SGD_LR1,
                          .loss = "sparse_categorical_crossentropy"),
             ctx, "keel_compile");
    for (int k = 0; k < 4; k++)
        set_weight(m, W[k].layer, W[k].index, fx_get(&f, cs, W[k].rec, W[k].n), W[k].n);

    keel_tensor *xt = tensor_of(x, &xs);
    float lab[8];
    cr_assert(N <= 8);
    for (int64_t i = 0; i < N; i++)
        lab[i] = (float)labels[i];
    keel_tensor *yt = keel_tensor_from_data(KEEL_SHAPE(N), lab);
    cr_assert_not_null(yt);
    shape ps = {.rank = 2, .d = {N, 3}, .size = N * 3, .per = 3};
    float *probs = forward(ctx, m, xt, &ps, false);
    expect_close_f(ctx, "probabilities", probs, fx_get(&f, cs, "probs", N * 3), N * 3, RTOL_VALUE);
    free(probs);

    double want = fx_get(&f, cs, "loss", 1)[0], loss = NAN;
    check_ok(keel_test_on_batch(m, xt, yt, &loss, 1), ctx, "keel_test_on_batch");
    expect_scalar(ctx, "test_on_batch loss", loss, want, RTOL_VALUE);
    double *before[4];
    for (int k = 0; k < 4; k++)
        before[k] = snapshot(m, W[k].layer, W[k].index, W[k].n);
    loss = NAN;
    check_ok(keel_train_on_batch(m, xt, yt, &loss, 1), ctx, "keel_train_on_batch");
    expect_scalar(ctx, "train_on_batch loss", loss, want, RTOL_VALUE);
    for (int k = 0; k < 4; k++) {
        double g[36 * 3];
        grad_from_step(m, W[k].layer, W[k].index, before[k], g, W[k].n);
        expect_close(ctx, W[k].what, g, fx_get(&f, cs, W[k].drec, W[k].n), W[k].n, RTOL_GRAD);
        free(before[k]);
    }
    keel_tensor_free(xt);
    keel_tensor_free(yt);
    keel_model_free(m);
    fx_free(&f);
}
