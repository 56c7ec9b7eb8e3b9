/* test_gradcheck.c: every op's backward pass against central finite differences.
 *
 * Each case builds a small model through the public API, then uses the internal graph to
 * compute the loss and its gradient with respect to every weight. The check is KANN's
 * directional one plus single coordinates: for a random direction d, (L(w + e d) - L(w - e d))
 * / 2e must equal g . d. The kernels run in float32; the difference quotient and the dot
 * products are formed in double. An op placed between two Dense layers is checked through the
 * first layer's weight gradient, which flows through the op's backward pass. */
#include <criterion/criterion.h>
#include <keel.h>

#include "model/model.h"

#define N_BATCH 3

static void fill(float *p, int64_t n, uint64_t seed, float lo, float hi) {
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * keel_rand_uniform(seed, 7, (uint64_t)i);
}

/* loss at the current weights; gradient into m->grads when grad */
static double eval(keel_model *m, bool grad) {
    m->ctx.training = true;
    m->ctx.step = 0; /* the same dropout mask every time */
    m->ctx.seed = m->seed;
    keel_graph_forward(&m->g, N_BATCH, &m->ctx);
    /* junk in every gradient buffer, as a previous step could leave it: by the graph's rule
     * (graph.h) the backward overwrites before it reads, and skips what nothing writes */
    for (int i = 0; grad && i < m->g.n; i++)
        for (int64_t j = 0; m->g.nodes[i]->grad && j < N_BATCH * m->g.nodes[i]->size; j++)
            m->g.nodes[i]->grad[j] = 1e30f;
    for (int64_t j = 0; grad && j < m->n_weights; j++)
        m->grads[j] = -1e30f;
    double loss = keel_loss_compute(&m->loss, m->output, m->ybuf, N_BATCH, grad);
    loss += keel_reg_apply(m->params, m->n_params, false);
    if (grad) {
        keel_graph_backward(&m->g, N_BATCH, &m->ctx);
        keel_reg_apply(m->params, m->n_params, true);
    }
    return loss;
}

/* Targets suited to the loss: class indices, one-hot rows, probabilities or values. */
static void targets(keel_model *m) {
    int64_t per = keel_target_size(m), C = m->output->dims[m->output->rank - 1];
    for (int64_t i = 0; i < N_BATCH * per; i++) {
        float u = keel_rand_uniform(99, 3, (uint64_t)i);
        switch (m->loss.kind) {
        case KEEL_LOSS_SPARSE_CCE: m->ybuf[i] = (float)((int64_t)(u * (float)C) % C); break;
        case KEEL_LOSS_CCE: m->ybuf[i] = 0; break;
        case KEEL_LOSS_BCE: m->ybuf[i] = u > 0.5f ? 1.0f : 0.0f; break;
        default: m->ybuf[i] = 2 * u - 1;
        }
    }
    if (m->loss.kind == KEEL_LOSS_CCE)
        for (int64_t r = 0; r < N_BATCH * per / C; r++)
            m->ybuf[r * C + (r % C)] = 1.0f;
}

/* whether flat weight i belongs to a weight the model froze at compile */
static bool frozen_at(const keel_model *m, int64_t i) {
    for (int k = 0; k < m->n_params; k++)
        if (i >= m->offsets[k] && i < m->offsets[k] + m->params[k]->size) return !m->ptrain[k];
    return false;
}

static void check_model(keel_model *m, const char *what) {
    cr_assert_eq(keel_model_status(m), KEEL_OK, "%s: %s", what, keel_model_error(m));
    cr_assert_eq(keel_model_reserve(m, N_BATCH), KEEL_OK);
    for (int i = 0; i < m->n_in_nodes; i++)
        fill(m->in_nodes[i]->val, N_BATCH * m->in_nodes[i]->size, 11 + (uint64_t)i, -1.5f, 1.5f);
    targets(m);
    int64_t n = m->n_weights;
    double *g = malloc((size_t)n * sizeof *g);
    float *w0 = malloc((size_t)n * sizeof *w0), *d = malloc((size_t)n * sizeof *d);
    eval(m, true);
    for (int64_t i = 0; i < n; i++)
        g[i] = m->grads[i];
    keel_model_get_flat(m, w0);
    fill(d, n, 5, -1, 1);
    /* weights frozen at compile get no gradient: the direction leaves them alone */
    for (int k = 0; k < m->n_params; k++)
        if (!m->ptrain[k]) memset(d + m->offsets[k], 0, (size_t)m->params[k]->size * sizeof *d);
    const float eps = 1e-3f;
    float *w = malloc((size_t)n * sizeof *w); /* the weights live in the layers: set through it */
    /* directional */
    for (int64_t i = 0; i < n; i++)
        w[i] = w0[i] + eps * d[i];
    keel_model_set_flat(m, w);
    double lp = eval(m, false);
    for (int64_t i = 0; i < n; i++)
        w[i] = w0[i] - eps * d[i];
    keel_model_set_flat(m, w);
    double lm = eval(m, false);
    double num = (lp - lm) / (2.0 * (double)eps), ana = 0;
    for (int64_t i = 0; i < n; i++)
        ana += g[i] * d[i];
    cr_expect(fabs(num - ana) <= 1e-2 * fabs(ana) + 2e-4,
              "%s: directional derivative %.6g (backward) vs %.6g (numeric)", what, ana, num);
    /* a few single coordinates, the first layer's among them */
    for (int64_t k = 0; k < 6; k++) {
        int64_t i = (k * 7919) % n;
        if (frozen_at(m, i)) continue;
        memcpy(w, w0, (size_t)n * sizeof *w0);
        w[i] = w0[i] + eps;
        keel_model_set_flat(m, w);
        lp = eval(m, false);
        w[i] = w0[i] - eps;
        keel_model_set_flat(m, w);
        lm = eval(m, false);
        num = (lp - lm) / (2.0 * (double)eps);
        cr_expect(fabs(num - g[i]) <= 1e-2 * fabs(g[i]) + 2e-4,
                  "%s: dL/dw[%lld] %.6g (backward) vs %.6g (numeric)", what, (long long)i, g[i],
                  num);
    }
    keel_model_set_flat(m, w0);
    free(g), free(w0), free(d), free(w);
}

/* Dense(5 -> 4, act) -> Dense(3) with mse: act's backward feeds the first kernel's gradient */
Test(gradcheck, dense_every_activation) {
    static const char *const acts[] = {"linear",
                                       "relu",
                                       "relu6",
                                       "sigmoid",
                                       "hard_sigmoid",
                                       "tanh",
                                       "softmax",
                                       "log_softmax",
                                       "elu",
                                       "elu(alpha=0.5)",
                                       "selu",
                                       "gelu",
                                       "gelu(approximate=1)",
                                       "swish",
                                       "hard_swish",
                                       "mish",
                                       "leaky_relu",
                                       "leaky_relu(negative_slope=0.3)",
                                       "softplus",
                                       "softsign",
                                       "exponential"};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        keel_model *m = keel_sequential(NULL);
        keel_add(m, keel_dense(.units = 4, .input_dim = 5, .activation = acts[a]));
        keel_add(m, keel_dense(.units = 3));
        keel_compile(m, .optimizer = "sgd", .loss = "mse");
        /* keep pre-activations away from the kinks of relu-like functions */
        check_model(m, acts[a]);
        keel_model_free(m);
    }
}

Test(gradcheck, activation_dropout_reshape_layers) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_input(.shape = {2, 3}));
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 6));
    keel_add(m, keel_activation(.activation = "tanh"));
    keel_add(m, keel_dropout(.rate = 0.5f));
    keel_add(m, keel_reshape(.target_shape = {2, 3}));
    keel_add(m, keel_dense(.units = 2, .activation = "gelu")); /* contracts the last axis: (2, 2) */
    keel_add(m, keel_dense(.units = 1));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, "flatten/activation/dropout/reshape/rank-3 dense");
    keel_model_free(m);
}

static void loss_case(const char *loss, const char *act, int units, keel_loss_opts lo,
                      bool unfuse) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4, .input_dim = 5, .activation = "tanh"));
    keel_add(m, keel_dense(.units = units, .activation = act));
    keel_compile(m, .optimizer = "sgd", .loss = loss, .loss_opts = lo);
    if (unfuse) { /* the probability formulas, as when the sigmoid / softmax came from elsewhere */
        m->loss.fused = false;
        m->output->loss_fused = false;
    }
    char what[128];
    snprintf(what, sizeof what, "%s on %s%s", loss, act,
             unfuse          ? " (unfused)"
             : m->loss.fused ? " (fused)"
                             : "");
    check_model(m, what);
    keel_model_free(m);
}

Test(gradcheck, every_loss) {
    keel_loss_opts none = {0};
    loss_case("mse", "linear", 3, none, false);
    loss_case("mae", "linear", 3, none, false);
    loss_case("huber", "linear", 3, none, false);
    loss_case("huber", "linear", 3, (keel_loss_opts){.delta = 0.3f}, false);
    loss_case("binary_crossentropy", "sigmoid", 1, none, false);
    loss_case("binary_crossentropy", "sigmoid", 2, none, true);
    loss_case("binary_crossentropy", "linear", 2, (keel_loss_opts){.from_logits = 1}, false);
    loss_case("binary_crossentropy", "sigmoid", 2, (keel_loss_opts){.label_smoothing = 0.1f},
              false);
    loss_case("categorical_crossentropy", "softmax", 4, none, false);
    loss_case("categorical_crossentropy", "softmax", 4, none, true);
    loss_case("categorical_crossentropy", "linear", 4, (keel_loss_opts){.from_logits = 1}, false);
    loss_case("categorical_crossentropy", "softmax", 4, (keel_loss_opts){.label_smoothing = 0.2f},
              false);
    loss_case("sparse_categorical_crossentropy", "softmax", 4, none, false);
    loss_case("sparse_categorical_crossentropy", "softmax", 4, none, true);
    loss_case("sparse_categorical_crossentropy", "linear", 4, (keel_loss_opts){.from_logits = 1},
              false);
}

Test(gradcheck, regularizers) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4, .input_dim = 5, .activation = "relu",
                           .kernel_regularizer = "l1_l2(l1=0.01, l2=0.02)",
                           .bias_regularizer = "l2(0.1)", .bias_initializer = "constant(0.3)"));
    keel_add(m, keel_dense(.units = 2, .kernel_regularizer = "l1(0.05)"));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, "l1 / l2 / l1_l2 penalties");
    keel_model_free(m);
}

/* the GEMM against the three-loop reference, every transpose, odd sizes */
Test(gradcheck, gemm_matches_reference) {
    const int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {128, 10, 784}, {5, 129, 2}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int t = 0; t < 4; t++) {
            int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
            bool ta = t & 1, tb = t & 2;
            float *A = malloc((size_t)(M * K) * 4), *B = malloc((size_t)(K * N) * 4),
                  *C1 = malloc((size_t)(M * N) * 4), *C2 = malloc((size_t)(M * N) * 4);
            fill(A, M * K, 1, -1, 1), fill(B, K * N, 2, -1, 1), fill(C1, M * N, 3, -1, 1);
            memcpy(C2, C1, (size_t)(M * N) * 4);
            keel_gemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 1.0f, C1, N);
            keel_gemm_ref(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 1.0f, C2, N);
            for (int64_t i = 0; i < M * N; i++)
                cr_assert(fabsf(C1[i] - C2[i]) <= 1e-4f * (1 + fabsf(C2[i])),
                          "gemm %lldx%lldx%lld t=%d [%lld]: %g vs %g", (long long)M, (long long)N,
                          (long long)K, t, (long long)i, C1[i], C2[i]);
            free(A), free(B), free(C1), free(C2);
        }
}

/* ---- convolution, pooling, normalization, padding */

static void cnn_case(const char *what, int64_t H, int64_t W, int64_t C, keel_layer *layer,
                     keel_layer *layer2) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_input(.shape = {H, W, C}));
    keel_add(m, keel_conv2d(.filters = 3, .kernel_size = {2, 2}, .padding = "same",
                            .activation = "tanh"));
    keel_add(m, layer);
    if (layer2) keel_add(m, layer2);
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 2));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, what);
    keel_model_free(m);
}

Test(gradcheck, conv2d_strided_padded_dilated) {
    cnn_case("conv 3x3 valid", 6, 5, 3, keel_conv2d(.filters = 4, .kernel_size = {3, 3}), NULL);
    cnn_case("conv 3x3 same stride 2, odd input", 7, 6, 3,
             keel_conv2d(.filters = 4, .kernel_size = {3}, .strides = {2}, .padding = "same",
                         .activation = "relu"),
             NULL);
    cnn_case("conv 2x3 dilation 2", 7, 8, 3,
             keel_conv2d(.filters = 2, .kernel_size = {2, 3}, .dilation_rate = {2}), NULL);
    cnn_case("conv 1x1", 4, 5, 3, keel_conv2d(.filters = 5, .kernel_size = {1}), NULL);
    cnn_case("conv stride (2,1) no bias", 7, 5, 3,
             keel_conv2d(.filters = 2, .kernel_size = {3}, .strides = {2, 1}, .use_bias = 0), NULL);
    cnn_case("conv same 5x5 on 3x3", 3, 3, 3,
             keel_conv2d(.filters = 2, .kernel_size = {5}, .padding = "same"), NULL);
    /* multiples of 8 filters over few inputs take the direct (no im2col) forward path */
    /* (ReLU, fused into the direct pass, is checked against the reference below: with 8 filters
     * the finite differences here would cross its kink) */
    cnn_case("direct conv 3x3 softplus", 6, 5, 3,
             keel_conv2d(.filters = 8, .kernel_size = {3}, .activation = "softplus"), NULL);
    cnn_case("direct conv same stride 2", 7, 6, 3,
             keel_conv2d(.filters = 16, .kernel_size = {3}, .strides = {2}, .padding = "same",
                         .activation = "tanh"),
             NULL);
    cnn_case("direct conv dilated, 40 filters", 7, 8, 3,
             keel_conv2d(.filters = 40, .kernel_size = {2, 3}, .dilation_rate = {2},
                         .activation = "gelu"),
             NULL);
    cnn_case("direct conv 1x1", 4, 5, 3,
             keel_conv2d(.filters = 8, .kernel_size = {1}, .use_bias = 0), NULL);
}

/* the direct forward path against the direct reference convolution */
Test(gradcheck, direct_conv_matches_reference) {
    keel_conv_geom g = {
        .H = 9, .W = 7, .C = 3, .OC = 40, .KH = 3, .KW = 3, .SH = 2, .SW = 1, .DH = 1, .DW = 1};
    keel_conv_out(g.H, g.KH, g.SH, g.DH, true, &g.OH, &g.PT);
    keel_conv_out(g.W, g.KW, g.SW, g.DW, true, &g.OW, &g.PL);
    cr_assert(keel_conv_direct_ok(&g));
    int64_t n = 3, ys = n * g.OH * g.OW * g.OC;
    float *x = malloc((size_t)(n * g.H * g.W * g.C) * 4), *w = malloc((size_t)(27 * g.OC) * 4),
          *b = malloc((size_t)g.OC * 4);
    float *y1 = malloc((size_t)ys * 4), *y2 = malloc((size_t)ys * 4);
    fill(x, n * g.H * g.W * g.C, 1, -1, 1), fill(w, 27 * g.OC, 2, -1, 1), fill(b, g.OC, 3, -1, 1);
    keel_conv_direct_forward(&g, x, w, b, y1, n, true);
    keel_conv2d_ref(&g, x, w, b, y2, n);
    for (int64_t i = 0; i < ys; i++) {
        float want = y2[i] > 0 ? y2[i] : 0;
        cr_assert(fabsf(y1[i] - want) < 1e-4f, "[%lld] %g vs %g", (long long)i, y1[i], want);
    }
    free(x), free(w), free(b), free(y1), free(y2);
}

Test(gradcheck, pooling_and_padding) {
    cnn_case("max pool 2x2 valid odd", 7, 5, 3, keel_max_pooling2d(), NULL);
    cnn_case("max pool 3x3 stride 2 same", 7, 7, 3,
             keel_max_pooling2d(.pool_size = {3}, .strides = {2}, .padding = "same"), NULL);
    cnn_case("avg pool 2x2 valid", 6, 5, 3, keel_average_pooling2d(), NULL);
    cnn_case("avg pool 3x3 stride 2 same", 7, 6, 3,
             keel_average_pooling2d(.pool_size = {3}, .strides = {2}, .padding = "same"), NULL);
    cnn_case("avg pool stride 1", 5, 5, 3, keel_average_pooling2d(.strides = {1}), NULL);
    cnn_case("zero padding", 4, 5, 3, keel_zero_padding2d(.pads = {1, 0, 2, 3}),
             keel_max_pooling2d());
    cnn_case("global average pooling", 5, 4, 3, keel_global_average_pooling2d(), NULL);
    cnn_case("global max pooling", 5, 4, 3, keel_global_max_pooling2d(), NULL);
}

Test(gradcheck, batch_normalization) {
    cnn_case("batch norm 4-D", 4, 3, 2, keel_batch_normalization(), NULL);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4, .input_dim = 5));
    keel_add(m, keel_batch_normalization(.momentum = 0.9f));
    keel_add(m, keel_dense(.units = 2, .activation = "sigmoid"));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, "batch norm 2-D");
    keel_model_free(m);
}

Test(gradcheck, conv_im2col_matches_direct) {
    keel_conv_geom g = {
        .H = 9, .W = 7, .C = 3, .OC = 5, .KH = 3, .KW = 2, .SH = 2, .SW = 1, .DH = 1, .DW = 2};
    keel_conv_out(g.H, g.KH, g.SH, g.DH, true, &g.OH, &g.PT);
    keel_conv_out(g.W, g.KW, g.SW, g.DW, true, &g.OW, &g.PL);
    int64_t n = 2, K = g.KH * g.KW * g.C, rows = n * g.OH * g.OW;
    float *x = malloc((size_t)(n * g.H * g.W * g.C) * 4), *w = malloc((size_t)(K * g.OC) * 4),
          *b = malloc((size_t)g.OC * 4);
    float *col = malloc((size_t)(rows * K) * 4), *y1 = calloc((size_t)(rows * g.OC), 4),
          *y2 = malloc((size_t)(rows * g.OC) * 4);
    fill(x, n * g.H * g.W * g.C, 1, -1, 1), fill(w, K * g.OC, 2, -1, 1), fill(b, g.OC, 3, -1, 1);
    keel_im2col(&g, x, col, n);
    keel_gemm(false, false, rows, g.OC, K, 1, col, K, w, g.OC, 0, y1, g.OC);
    keel_bias_act((keel_act){.kind = KEEL_ACT_LINEAR}, y1, b, NULL, rows, g.OC);
    keel_conv2d_ref(&g, x, w, b, y2, n);
    for (int64_t i = 0; i < rows * g.OC; i++)
        cr_assert(fabsf(y1[i] - y2[i]) < 1e-4f, "[%lld] %g vs %g", (long long)i, y1[i], y2[i]);
    free(x), free(w), free(b), free(col), free(y1), free(y2);
}

/* the direct forward pass (two pixels at a time when no window reaches padding and OC is a
 * multiple of 32, else the general loop) against the reference, with and without bias and ReLU */
Test(gradcheck, direct_forward_matches_reference) {
    const struct {
        int64_t H, W, C, OC, K, S;
        bool same;
    } cases[] = {{9, 7, 1, 32, 3, 1, false},  {8, 8, 1, 64, 3, 1, false},
                 {10, 9, 3, 32, 3, 2, false}, {7, 7, 1, 32, 3, 1, true},
                 {9, 6, 3, 40, 2, 1, false},  {6, 5, 2, 8, 3, 1, true}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int v = 0; v < 4; v++) {
            bool bias = v & 1, relu = v & 2;
            keel_conv_geom g = {.H = cases[c].H,
                                .W = cases[c].W,
                                .C = cases[c].C,
                                .OC = cases[c].OC,
                                .KH = cases[c].K,
                                .KW = cases[c].K,
                                .SH = cases[c].S,
                                .SW = cases[c].S,
                                .DH = 1,
                                .DW = 1};
            keel_conv_out(g.H, g.KH, g.SH, g.DH, cases[c].same, &g.OH, &g.PT);
            keel_conv_out(g.W, g.KW, g.SW, g.DW, cases[c].same, &g.OW, &g.PL);
            cr_assert(keel_conv_direct_ok(&g));
            int64_t n = 3, K = g.KH * g.KW * g.C, out = n * g.OH * g.OW * g.OC;
            float *x = malloc((size_t)(n * g.H * g.W * g.C) * 4),
                  *w = malloc((size_t)(K * g.OC) * 4), *b = malloc((size_t)g.OC * 4),
                  *y1 = malloc((size_t)out * 4), *y2 = malloc((size_t)out * 4);
            fill(x, n * g.H * g.W * g.C, 1, -1, 1), fill(w, K * g.OC, 2, -1, 1),
                fill(b, g.OC, 3, -1, 1);
            keel_conv_direct_forward(&g, x, w, bias ? b : NULL, y1, n, relu);
            keel_conv2d_ref(&g, x, w, bias ? b : NULL, y2, n);
            for (int64_t i = 0; i < out; i++) {
                float want = relu && y2[i] < 0 ? 0 : y2[i];
                cr_assert(fabsf(y1[i] - want) < 1e-4f, "case %zu bias=%d relu=%d [%lld]: %g vs %g",
                          c, bias, relu, (long long)i, y1[i], want);
            }
            free(x), free(w), free(b), free(y1), free(y2);
        }
}

/* A first Conv2D with ReLU feeding a 2x2 max pool runs fused (the pool computed inside the
 * convolution, its backward applying the ReLU mask); the same model with the ReLU as its own
 * layer runs unfused. Same seeds, same data: predictions and every weight after three SGD
 * steps must agree, and the fused path must really have been taken. */
static keel_model *conv_pool_model(int64_t H, int64_t W, int64_t C, int64_t filters, bool bias,
                                   bool split_relu) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_input(.shape = {H, W, C}));
    keel_add(m, keel_conv2d(.filters = filters, .kernel_size = {3},
                            .activation = split_relu ? NULL : "relu", .use_bias = bias,
                            .kernel_initializer = "glorot_uniform(seed=3)",
                            .bias_initializer = "random_normal(seed=4)"));
    if (split_relu) keel_add(m, keel_activation(.activation = "relu"));
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 3, .kernel_initializer = "glorot_uniform(seed=5)"));
    keel_compile(m, .optimizer = "sgd", .optimizer_opts = {.learning_rate = 0.05f}, .loss = "mse");
    return m;
}

Test(gradcheck, conv_relu_pool_fused_matches_unfused) {
    const int64_t cases[][5] = {
        {9, 8, 1, 32, 1}, {10, 11, 3, 16, 1}, {6, 6, 2, 48, 1}, {8, 9, 1, 16, 0}};
    for (int k = 0; k < 4; k++) {
        const int64_t H = cases[k][0], W = cases[k][1], C = cases[k][2], F = cases[k][3], n = 5;
        const bool bias = cases[k][4];
        keel_tensor *x = keel_tensor_new(KEEL_SHAPE(n, H, W, C)),
                    *y = keel_tensor_new(KEEL_SHAPE(n, 3));
        fill(keel_tensor_data(x), keel_tensor_size(x), 11, -1, 1);
        fill(keel_tensor_data(y), keel_tensor_size(y), 12, -1, 1);
        keel_model *fused = conv_pool_model(H, W, C, F, bias, false),
                   *plain = conv_pool_model(H, W, C, F, bias, true);
        for (int s = 0; s < 3; s++) {
            cr_assert_eq(keel_train_on_batch(fused, x, y, NULL, 0), KEEL_OK, "%s",
                         keel_last_error());
            cr_assert_eq(keel_train_on_batch(plain, x, y, NULL, 0), KEEL_OK, "%s",
                         keel_last_error());
        }
        cr_assert(fused->g.nodes[1]->fused_next, "case %d: the fused path was not taken", k);
        cr_assert(!plain->g.nodes[1]->fused_next, "case %d: the split model fused", k);
        int64_t nw, nw2;
        float *a = keel_model_weights(fused, &nw), *b = keel_model_weights(plain, &nw2);
        cr_assert_eq(nw, nw2);
        for (int64_t i = 0; i < nw; i++)
            cr_assert(fabsf(a[i] - b[i]) <= 1e-6f * (1 + fabsf(b[i])),
                      "case %d weight %lld: %g fused vs %g", k, (long long)i, a[i], b[i]);
        keel_tensor *pa = keel_predict(fused, x, NULL), *pb = keel_predict(plain, x, NULL);
        for (int64_t i = 0; i < keel_tensor_size(pa); i++)
            cr_assert(fabsf(keel_tensor_data(pa)[i] - keel_tensor_data(pb)[i]) <= 1e-6f,
                      "case %d prediction %lld", k, (long long)i);
        keel_tensor_free(pa), keel_tensor_free(pb);
        keel_model_free(fused), keel_model_free(plain);
        keel_tensor_free(x), keel_tensor_free(y);
    }
}

/* the direct pass's dW / db, with the ReLU backward folded in, against im2col + reference GEMM */
Test(gradcheck, direct_dw_matches_im2col_gemm) {
    /* a same-padded general case, then the fast path (no padding reached, OC a multiple of 32,
     * K a multiple of 3) with and without the folded ReLU, which may overwrite dz */
    const struct {
        int64_t H, W, C, OC, SW;
        bool same, relu;
    } cases[] = {{9, 8, 2, 16, 2, true, true},
                 {10, 9, 1, 32, 1, false, true},
                 {10, 9, 1, 32, 1, false, false},
                 {8, 7, 3, 64, 2, false, true}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        keel_conv_geom g = {.H = cases[c].H,
                            .W = cases[c].W,
                            .C = cases[c].C,
                            .OC = cases[c].OC,
                            .KH = 3,
                            .KW = 3,
                            .SH = 1,
                            .SW = cases[c].SW,
                            .DH = 1,
                            .DW = 1};
        keel_conv_out(g.H, g.KH, g.SH, g.DH, cases[c].same, &g.OH, &g.PT);
        keel_conv_out(g.W, g.KW, g.SW, g.DW, cases[c].same, &g.OW, &g.PL);
        cr_assert(keel_conv_direct_ok(&g));
        int64_t n = 4, K = g.KH * g.KW * g.C, rows = n * g.OH * g.OW, OC = g.OC;
        float *x = malloc((size_t)(n * g.H * g.W * g.C) * 4),
              *dz0 = malloc((size_t)(rows * OC) * 4);
        float *dz = malloc((size_t)(rows * OC) * 4), *masked = malloc((size_t)(rows * OC) * 4);
        float *y = malloc((size_t)(rows * OC) * 4), *col = malloc((size_t)(rows * K) * 4);
        float *dw1 = malloc((size_t)(K * OC) * 4), *dw2 = malloc((size_t)(K * OC) * 4);
        float *db1 = malloc((size_t)OC * 4), *db2 = malloc((size_t)OC * 4);
        float *partial = malloc((size_t)(K * OC + OC) * 4 * 4);
        fill(x, n * g.H * g.W * g.C, 1, -1, 1), fill(dz0, rows * OC, 2, -1, 1),
            fill(y, rows * OC, 3, -1, 1);
        for (int64_t i = 0; i < rows * OC; i++)
            y[i] = y[i] > 0 ? y[i] : 0; /* a ReLU's output */
        for (int64_t i = 0; i < rows * OC; i++)
            masked[i] = !cases[c].relu || y[i] > 0 ? dz0[i] : 0;
        keel_im2col(&g, x, col, n);
        keel_gemm_ref(true, false, K, OC, rows, 1, col, K, masked, OC, 0, dw2, OC);
        keel_sum_rows(masked, db2, rows, OC, false);
        for (int threads = 1; threads <= 2; threads++) {
            keel_set_threads(threads);
            memcpy(dz, dz0, (size_t)(rows * OC) * 4);
            keel_conv_direct_dw(&g, x, dz, cases[c].relu ? y : NULL, dw1, db1, partial, threads, n);
            for (int64_t i = 0; i < K * OC; i++)
                cr_assert(fabsf(dw1[i] - dw2[i]) < 1e-4f * (1 + fabsf(dw2[i])),
                          "case %zu threads %d dw[%lld] %g vs %g", c, threads, (long long)i, dw1[i],
                          dw2[i]);
            for (int64_t i = 0; i < OC; i++)
                cr_assert(fabsf(db1[i] - db2[i]) < 1e-4f * (1 + fabsf(db2[i])), "case %zu db[%lld]",
                          c, (long long)i);
        }
        keel_set_threads(0);
        free(x), free(dz0), free(dz), free(masked), free(y), free(col), free(dw1), free(dw2),
            free(db1), free(db2), free(partial);
    }
}

/* Max pooling over multiples of 8 channels takes the vector path. Finite differences would
 * cross argmax switches among 16 channels of overlapping windows, so the forward values and
 * the recorded winners (which the backward pass scatters to) are checked directly. */
Test(gradcheck, max_pooling_vector_path) {
    const int64_t pools[][3] = {{2, 2, 0}, {3, 2, 1}, {2, 1, 0}}; /* pool, stride, same */
    for (int k = 0; k < 3; k++) {
        keel_model *m = keel_sequential(NULL);
        keel_add(m, keel_input(.shape = {7, 5, 16}));
        keel_add(m, keel_max_pooling2d(.pool_size = {pools[k][0]}, .strides = {pools[k][1]},
                                       .padding = pools[k][2] ? "same" : "valid"));
        keel_add(m, keel_flatten());
        keel_add(m, keel_dense(.units = 2));
        keel_compile(m, .optimizer = "sgd", .loss = "mse");
        cr_assert_eq(keel_model_reserve(m, N_BATCH), KEEL_OK);
        fill(m->input->val, N_BATCH * m->input->size, 11 + (uint64_t)k, -1, 1);
        m->ctx.training = false;
        keel_graph_forward(&m->g, N_BATCH, &m->ctx);
        const keel_node *pool = m->g.nodes[1];
        const int32_t *arg = (const int32_t *)pool->scratch;
        int64_t OH = pool->dims[0], OW = pool->dims[1], K = pools[k][0], S = pools[k][1];
        int64_t PT = pools[k][2] ? ((OH - 1) * S + K - 7) / 2 : 0,
                PL = pools[k][2] ? ((OW - 1) * S + K - 5) / 2 : 0;
        for (int64_t b = 0; b < N_BATCH; b++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++)
                    for (int64_t c = 0; c < 16; c++) {
                        const float *x = m->input->val + b * 7 * 5 * 16;
                        float best = -INFINITY;
                        for (int64_t ih = oh * S - PT; ih < oh * S - PT + K; ih++)
                            for (int64_t iw = ow * S - PL; iw < ow * S - PL + K; iw++)
                                if (ih >= 0 && ih < 7 && iw >= 0 && iw < 5)
                                    best = fmaxf(best, x[(ih * 5 + iw) * 16 + c]);
                        int64_t o = ((b * OH + oh) * OW + ow) * 16 + c;
                        cr_assert_eq(pool->val[o], best, "pool %d: y[%lld] %g vs %g", k,
                                     (long long)o, pool->val[o], best);
                        cr_assert_eq(x[arg[o]], best,
                                     "pool %d: the recorded winner of y[%lld] is not the max", k,
                                     (long long)o);
                        cr_assert_eq(arg[o] % 16, c, "pool %d: winner in another channel", k);
                    }
        keel_model_free(m);
    }
}

/* same-padded pools whose stride equals the window: the last band of rows is cut short by
 * the input's edge (7 rows, 2-row bands) and its gradient must stay inside the sample */
Test(gradcheck, pooling_same_last_band) {
    cnn_case("max pool 2x2 same on 7x5", 7, 5, 3, keel_max_pooling2d(.padding = "same"), NULL);
    cnn_case("avg pool 2x2 same on 7x5", 7, 5, 3, keel_average_pooling2d(.padding = "same"), NULL);
}

/* ---------------------------------------------------------------- DAGs: the accumulation rule */

static keel_model *dag_model(int variant) {
    keel_model *m = keel_model_new("dag");
    keel_sym *x = keel_model_input(m, .shape = {3, 4});
    keel_sym *h = keel_apply(m, keel_dense(.units = 4, .activation = "tanh"), x);
    keel_sym *out = NULL;
    if (variant == 0) { /* two consumers of h, summed */
        keel_sym *p = keel_apply(m, keel_dense(.units = 2), h),
                 *q = keel_apply(m, keel_dense(.units = 2), h);
        out = keel_apply(m, keel_flatten(),
                         keel_apply_n(m, keel_merge_add(), 2, (keel_sym *[]){p, q}));
    } else { /* an alias consumer (Flatten) and a plain one (Dense), added in either order */
        keel_sym *a = NULL, *b = NULL;
        if (variant == 1)
            a = keel_apply(m, keel_flatten(), h), b = keel_apply(m, keel_dense(.units = 2), h);
        else
            b = keel_apply(m, keel_dense(.units = 2), h), a = keel_apply(m, keel_flatten(), h);
        keel_sym *bf = keel_apply(m, keel_flatten(), b);
        out = keel_apply_n(m, keel_concatenate(), 2, (keel_sym *[]){a, bf});
    }
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 3), out)});
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    return m;
}

Test(gradcheck, dag_two_consumers_and_aliases) {
    for (int v = 0; v < 3; v++) {
        keel_model *m = dag_model(v);
        char what[32];
        snprintf(what, sizeof what, "dag variant %d", v);
        check_model(m, what);
        keel_model_free(m);
    }
}

Test(gradcheck, shared_layer_called_twice_and_two_inputs) {
    keel_model *m = keel_model_new("shared");
    keel_sym *a = keel_model_input(m, .shape = {5}), *b = keel_model_input(m, .shape = {5});
    keel_layer *d = keel_dense(.units = 4, .activation = "tanh");
    keel_sym *pa = keel_apply(m, d, a), *pb = keel_apply(m, d, b);
    keel_sym *prod = keel_apply_n(m, keel_merge_multiply(), 2, (keel_sym *[]){pa, pb});
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 2), prod)});
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, "one Dense on two inputs, multiplied");
    keel_model_free(m);
}

Test(gradcheck, every_merge_layer) {
    keel_layer *(*makers[])(keel_merge_opts) = {keel_merge_add_,      keel_merge_subtract_,
                                                keel_merge_multiply_, keel_merge_average_,
                                                keel_merge_maximum_,  keel_merge_minimum_};
    for (size_t k = 0; k < sizeof makers / sizeof *makers; k++) {
        int n = k == 1 ? 2 : 3;
        keel_model *m = keel_model_new("merge");
        keel_sym *x = keel_model_input(m, .shape = {6}), *parts[3];
        for (int i = 0; i < n; i++)
            parts[i] = keel_apply(m, keel_dense(.units = 4, .activation = "tanh"), x);
        keel_sym *y = keel_apply_n(m, makers[k]((keel_merge_opts){0}), n, parts);
        keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 2), y)});
        keel_compile(m, .optimizer = "sgd", .loss = "mse");
        check_model(m, "merge layer");
        keel_model_free(m);
    }
}

Test(gradcheck, gan_generator_through_a_frozen_discriminator) {
    keel_model *g = keel_sequential("g"), *d = keel_sequential("d"), *gan = keel_sequential("gan");
    keel_add(g, keel_dense(.units = 6, .input_dim = 3, .activation = "relu"));
    keel_add(g, keel_dense(.units = 4, .activation = "sigmoid"));
    keel_add(d, keel_dense(.units = 5, .input_dim = 4));
    keel_add(d, keel_leaky_relu());
    keel_add(d, keel_dense(.units = 1, .activation = "sigmoid"));
    keel_compile(d, .optimizer = "adam", .loss = "binary_crossentropy");
    keel_model_set_trainable(d, 0);
    keel_add_model(gan, g);
    keel_add_model(gan, d);
    keel_compile(gan, .optimizer = "adam", .loss = "binary_crossentropy");
    check_model(gan, "generator through the frozen discriminator");
    keel_model_set_trainable(d, 1);
    keel_compile(gan, .optimizer = "adam", .loss = "binary_crossentropy");
    check_model(gan, "generator and discriminator");
    keel_model_free(gan), keel_model_free(g), keel_model_free(d);
}

Test(gradcheck, generator_layers) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 2 * 3 * 3, .input_dim = 4));
    keel_add(m, keel_reshape(.target_shape = {3, 3, 2}));
    keel_add(m, keel_conv2d_transpose(.filters = 3, .kernel_size = {3}, .strides = {2},
                                      .padding = "same"));
    keel_add(m, keel_upsampling2d(.interpolation = "bilinear"));
    keel_add(m, keel_conv2d(.filters = 2, .kernel_size = {3}, .strides = {2}));
    keel_add(m, keel_elu());
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 3));
    keel_add(m, keel_softmax());
    keel_compile(m, .optimizer = "sgd", .loss = "categorical_crossentropy");
    check_model(m, "Conv2DTranspose, UpSampling2D, ELU, Softmax");
    keel_model_free(m);
    /* PReLU on its own: its kink at 0 is a jump of 1 - alpha in the slope, which a perturbation
     * crossing it turns into a wrong difference quotient, so it gets a small model of its own */
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 6, .input_dim = 4));
    keel_add(m, keel_reshape(.target_shape = {3, 2}));
    keel_add(m, keel_prelu(.shared_axes = {1}, .alpha_initializer = "constant(0.25)"));
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 2));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, "PReLU");
    keel_model_free(m);
}

Test(gradcheck, one_dimensional_layers) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_conv1d(.filters = 4, .kernel_size = 3, .padding = "causal", .dilation_rate = 2,
                            .input_shape = {9, 3}));
    keel_add(m, keel_average_pooling1d(.pool_size = 3, .strides = 2, .padding = "same"));
    keel_add(m, keel_conv1d(.filters = 3, .kernel_size = 2, .strides = 2, .padding = "same",
                            .activation = "tanh"));
    keel_add(m, keel_max_pooling1d(.pool_size = 2, .padding = "same"));
    keel_add(m, keel_masking(.mask_value = 123.0f));
    keel_add(m, keel_global_average_pooling1d());
    keel_add(m, keel_dense(.units = 2));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, "Conv1D, AveragePooling1D, MaxPooling1D, Masking, GlobalAveragePooling1D");
    keel_model_free(m);
}

Test(gradcheck, recurrent_layers_and_bidirectional) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_lstm(.units = 4, .return_sequences = 1, .input_shape = {5, 3}));
    keel_add(m, keel_bidirectional(.layer = keel_gru(.units = 3, .return_sequences = 1)));
    keel_add(m, keel_bidirectional(.layer = keel_simple_rnn(.units = 2), .merge_mode = "sum"));
    keel_add(m, keel_dense(.units = 2));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    check_model(m, "LSTM, Bidirectional(GRU), Bidirectional(SimpleRNN, sum)");
    keel_model_free(m);
}
