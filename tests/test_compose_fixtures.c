/* test_compose_fixtures.c: the composition layers and models against real tf.keras 2.15
 * (tests/fixtures/keras_compose.txt, made by tools/make_compose_fixtures.py): Conv2DTranspose,
 * UpSampling2D, the activation layers, every merge layer, a residual block, a two-input model
 * and one Dense applied to two inputs. Each case is built with the public functional API, given
 * the fixture's weights, run forward, and given dL/dy = r (L = sum(y * r)) for the backward pass;
 * the outputs, the input gradients and the weight gradients are compared with Keras's. */
#include "fixture.h"
#include "model/model.h"

#define RTOL_Y 1e-4
#define RTOL_GRAD 1e-3

static fx_file F;
static void setup(void) {
    fx_load_from(&F, "keras_compose.txt", "make_compose_fixtures.py");
}
static void teardown(void) {
    fx_free(&F);
}
TestSuite(compose_fixtures, .init = setup, .fini = teardown);

static const fx_rec *find(const char *cs, const char *key) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", cs, key);
    for (int i = 0; i < F.n; i++)
        if (!strcmp(F.r[i].name, name)) return &F.r[i];
    return NULL;
}

static const fx_rec *need(const char *cs, const char *key) {
    const fx_rec *r = find(cs, key);
    cr_assert_not_null(r, "fixture %s.%s missing (regenerate with tools/make_compose_fixtures.py)",
                       cs, key);
    return r;
}

/* the per-sample shape of a "*_shape" record (its first entry is the batch) */
static keel_sym *input_of(keel_model *m, const char *cs, const char *key, int64_t *batch) {
    const fx_rec *s = need(cs, key);
    keel_input_opts o = {0};
    for (int i = 1; i < s->n; i++)
        o.shape[i - 1] = (int64_t)s->v[i];
    *batch = (int64_t)s->v[0];
    return keel_model_input_(m, o);
}

typedef struct wmap {
    keel_layer *l;
    int index;
    const char *key; /* "kernel", "conv1.kernel", ... ; its gradient is the key with "d" before the
                        last part */
} wmap;

/* "conv1.kernel" -> "conv1.dkernel" */
static void grad_key(const char *key, char *out, size_t cap) {
    const char *dot = strrchr(key, '.');
    if (dot)
        snprintf(out, cap, "%.*s.d%s", (int)(dot - key), key, dot + 1);
    else
        snprintf(out, cap, "d%s", key);
}

/* The whole check for one case: m has its inputs (in fixture order) and output set. */
static void run_case(const char *cs, keel_model *m, int nx, const wmap *ws, int nw) {
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK, "%s: %s", cs,
                 keel_last_error());
    for (int k = 0; k < nw; k++) {
        int64_t n;
        float *w = keel_layer_weight(ws[k].l, ws[k].index, &n);
        cr_assert_not_null(w, "%s: %s", cs, keel_last_error());
        const fx_rec *r = need(cs, ws[k].key);
        cr_assert_eq(r->n, n, "%s: %s has %d values, keel's weight %lld", cs, ws[k].key, r->n,
                     (long long)n);
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)r->v[i];
    }
    /* gradients with respect to the inputs too: mark them and everything downstream */
    for (int i = 0; i < m->n_in_nodes; i++)
        m->in_nodes[i]->needs_grad = true;
    for (int i = 0; i < m->g.n; i++)
        for (int k = 0; k < m->g.nodes[i]->n_in; k++)
            m->g.nodes[i]->needs_grad |= m->g.nodes[i]->in[k]->needs_grad;
    keel_graph_finish(&m->g, m->out_nodes, m->n_out_nodes);
    m->output->loss_fused = false;
    keel_free(m->g.arena);
    m->g.arena = NULL, m->g.batch_cap = 0;
    const fx_rec *ys = find(cs, "y_shape");
    int64_t n = ys ? (int64_t)ys->v[0] : need(cs, "y")->n / m->output->size;
    cr_assert_eq(keel_model_reserve(m, n), KEEL_OK);
    for (int i = 0; i < nx; i++) {
        char key[16];
        snprintf(key, sizeof key, nx > 1 ? "x%d" : "x", i);
        const fx_rec *x = need(cs, key);
        cr_assert_eq(x->n, n * m->in_nodes[i]->size, "%s: %s size", cs, key);
        for (int64_t j = 0; j < x->n; j++)
            m->in_nodes[i]->val[j] = (float)x->v[j];
    }
    keel_model_bind(m, false);
    m->ctx.training = true;
    keel_graph_forward(&m->g, n, &m->ctx);
    const fx_rec *y = need(cs, "y"), *r = need(cs, "r");
    cr_assert_eq(y->n, n * m->output->size, "%s: y has %d values, keel's output %lld", cs, y->n,
                 (long long)(n * m->output->size));
    expect_close_f(cs, "y", m->output->val, y->v, y->n, RTOL_Y);
    for (int64_t j = 0; j < r->n; j++)
        m->output->grad[j] = (float)r->v[j];
    keel_graph_backward(&m->g, n, &m->ctx);
    for (int i = 0; i < nx; i++) {
        char key[16];
        snprintf(key, sizeof key, nx > 1 ? "dx%d" : "dx", i);
        const fx_rec *dx = find(cs, key);
        if (!dx) continue; /* token indices have no gradient */
        expect_close_f(cs, key, m->in_nodes[i]->grad, dx->v, dx->n, RTOL_GRAD);
    }
    for (int k = 0; k < nw; k++) {
        char key[64];
        grad_key(ws[k].key, key, sizeof key);
        const fx_rec *g = need(cs, key);
        expect_close_f(cs, key, ws[k].l->params[ws[k].index].g, g->v, g->n, RTOL_GRAD);
    }
    keel_model_free(m);
}

/* input -> layer -> output, the layer's weights named by keys */
static void single(const char *cs, keel_layer *l, const char *const *keys, int nk) {
    keel_model *m = keel_model_new(cs);
    int64_t batch;
    keel_sym *x = input_of(m, cs, "x_shape", &batch);
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, l, x)});
    wmap ws[4];
    for (int k = 0; k < nk; k++)
        ws[k] = (wmap){l, k, keys[k]};
    run_case(cs, m, 1, ws, nk);
}

Test(compose_fixtures, conv2d_transpose) {
    static const char *const cases[] = {"deconv_a", "deconv_b", "deconv_c", "deconv_d", "deconv_e",
                                        "deconv_f", "deconv_g", "deconv_h", "deconv_i", "deconv_j"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double *c = need(cases[i], "config")->v; /* filters, KH, KW, SH, SW, same, OPH, OPW */
        bool bias = find(cases[i], "bias") != NULL;
        keel_layer *l = keel_conv2d_transpose(.filters = (int64_t)c[0],
                                              .kernel_size = {(int64_t)c[1], (int64_t)c[2]},
                                              .strides = {(int64_t)c[3], (int64_t)c[4]},
                                              .padding = c[5] ? "same" : "valid",
                                              .output_padding = {(int64_t)c[6], (int64_t)c[7]},
                                              .use_bias = bias);
        cr_assert_not_null(l, "%s: %s", cases[i], keel_last_error());
        /* {0, 0} from the fixture is an explicit 0 and {-1, -1} None: both pass through as they are
         */
        single(cases[i], l, (const char *const[]){"kernel", "bias"}, bias ? 2 : 1);
    }
}

Test(compose_fixtures, upsampling2d) {
    static const char *const cases[] = {"up_nearest_22", "up_nearest_23", "up_bilinear_22",
                                        "up_bilinear_23", "up_bilinear_31"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double *c = need(cases[i], "config")->v; /* SH, SW, bilinear */
        single(cases[i],
               keel_upsampling2d(.size = {(int64_t)c[0], (int64_t)c[1]},
                                 .interpolation = c[2] ? "bilinear" : "nearest"),
               NULL, 0);
    }
}

Test(compose_fixtures, activation_layers) {
    single("leaky_relu", keel_leaky_relu(), NULL, 0); /* the default alpha, 0.3 */
    single("leaky_relu_01", keel_leaky_relu(.alpha = (float)need("leaky_relu_01", "config")->v[0]),
           NULL, 0);
    single("relu", keel_relu(), NULL, 0);
    single("elu", keel_elu(), NULL, 0);
    single("elu_05", keel_elu(.alpha = (float)need("elu_05", "config")->v[0]), NULL, 0);
    single("softmax", keel_softmax(), NULL, 0);
    single("prelu", keel_prelu(), (const char *const[]){"alpha"}, 1);
    const double *sh = need("prelu_shared", "config")->v;
    single("prelu_shared", keel_prelu(.shared_axes = {(int)sh[0], (int)sh[1]}),
           (const char *const[]){"alpha"}, 1);
}

/* n inputs x0.. -> merge layer -> output */
static void merged(const char *cs, int n, keel_layer *l) {
    keel_model *m = keel_model_new(cs);
    keel_sym *xs[4];
    for (int i = 0; i < n; i++) {
        char key[16];
        int64_t batch;
        snprintf(key, sizeof key, "x%d_shape", i);
        xs[i] = input_of(m, cs, key, &batch);
    }
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply_n(m, l, n, xs)});
    run_case(cs, m, n, NULL, 0);
}

Test(compose_fixtures, merge_layers) {
    merged("add2", 2, keel_merge_add());
    merged("add3", 3, keel_merge_add());
    merged("subtract", 2, keel_merge_subtract());
    merged("multiply3", 3, keel_merge_multiply());
    merged("average3", 3, keel_merge_average());
    merged("maximum3", 3, keel_merge_maximum());
    merged("minimum3", 3, keel_merge_minimum());
    merged("concat_last", 3, keel_concatenate(.axis = (int)need("concat_last", "config")->v[0]));
    merged("concat_axis1", 2, keel_concatenate(.axis = (int)need("concat_axis1", "config")->v[0]));
}

/* x -> Conv2D(4, 3, same, relu) -> Conv2D(3, 3, same) -> Add with x -> ReLU */
Test(compose_fixtures, residual_block) {
    keel_model *m = keel_model_new("resblock");
    int64_t batch;
    keel_sym *x = input_of(m, "resblock", "x_shape", &batch);
    keel_layer *c1 =
        keel_conv2d(.filters = 4, .kernel_size = {3}, .padding = "same", .activation = "relu");
    keel_layer *c2 = keel_conv2d(.filters = 3, .kernel_size = {3}, .padding = "same");
    keel_sym *h = keel_apply(m, c2, keel_apply(m, c1, x));
    keel_sym *s = keel_apply_n(m, keel_merge_add(), 2, (keel_sym *[]){h, x});
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, keel_relu(), s)});
    wmap ws[] = {{c1, 0, "conv1.kernel"},
                 {c1, 1, "conv1.bias"},
                 {c2, 0, "conv2.kernel"},
                 {c2, 1, "conv2.bias"}};
    run_case("resblock", m, 1, ws, 4);
}

/* a (4,) -> Dense(3, tanh); b (3,) -> Dense(2, tanh); Concatenate -> Dense(1) */
Test(compose_fixtures, two_input_model) {
    keel_model *m = keel_model_new("twoin");
    int64_t batch;
    keel_sym *a = input_of(m, "twoin", "x0_shape", &batch),
             *b = input_of(m, "twoin", "x1_shape", &batch);
    keel_layer *da = keel_dense(.units = 3, .activation = "tanh"),
               *db = keel_dense(.units = 2, .activation = "tanh");
    keel_layer *out = keel_dense(.units = 1);
    keel_sym *c = keel_apply_n(m, keel_concatenate(), 2,
                               (keel_sym *[]){keel_apply(m, da, a), keel_apply(m, db, b)});
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, out, c)});
    wmap ws[] = {{da, 0, "dense_a.kernel"}, {da, 1, "dense_a.bias"}, {db, 0, "dense_b.kernel"},
                 {db, 1, "dense_b.bias"},   {out, 0, "out.kernel"},  {out, 1, "out.bias"}};
    run_case("twoin", m, 2, ws, 6);
}

/* one Dense(3, tanh) applied to x0 and x1, the two outputs added: its kernel gets both gradients */
Test(compose_fixtures, shared_layer) {
    keel_model *m = keel_model_new("shared");
    int64_t batch;
    keel_sym *a = input_of(m, "shared", "x0_shape", &batch),
             *b = input_of(m, "shared", "x1_shape", &batch);
    keel_layer *d = keel_dense(.units = 3, .activation = "tanh");
    keel_sym *s = keel_apply_n(m, keel_merge_add(), 2,
                               (keel_sym *[]){keel_apply(m, d, a), keel_apply(m, d, b)});
    keel_model_outputs(m, 1, (keel_sym *[]){s});
    wmap ws[] = {{d, 0, "dense.kernel"}, {d, 1, "dense.bias"}};
    run_case("shared", m, 2, ws, 2);
}

/* ---------------------------------------------------------------- sequences without recurrence
 * (tests/fixtures/keras_seq.txt, tools/make_seq_fixtures.py) */

static void setup_seq(void) {
    fx_load_from(&F, "keras_seq.txt", "make_seq_fixtures.py");
}
TestSuite(seq_fixtures, .init = setup_seq, .fini = teardown);

Test(seq_fixtures, embedding) {
    keel_layer *e = keel_embedding(.input_dim = 7, .output_dim = 4);
    single("embedding", e, (const char *const[]){"embeddings"}, 1);
}

Test(seq_fixtures, conv1d) {
    static const char *const cases[] = {"conv1d_valid", "conv1d_same_s2", "conv1d_causal_d2",
                                        "conv1d_relu_nobias"};
    static const char *const pads[] = {"valid", "same", "causal"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double *c =
            need(cases[i], "config")->v; /* filters, k, strides, pad, dilation, relu, bias */
        keel_layer *l = keel_conv1d(.filters = (int64_t)c[0], .kernel_size = (int64_t)c[1],
                                    .strides = (int64_t)c[2], .padding = pads[(int)c[3]],
                                    .dilation_rate = (int64_t)c[4],
                                    .activation = c[5] ? "relu" : NULL, .use_bias = (int)c[6]);
        cr_assert_not_null(l, "%s: %s", cases[i], keel_last_error());
        single(cases[i], l, (const char *const[]){"kernel", "bias"}, c[6] ? 2 : 1);
    }
}

Test(seq_fixtures, pooling1d) {
    static const char *const cases[] = {"maxpool1d_valid", "maxpool1d_same_3_2",
                                        "avgpool1d_valid", "avgpool1d_same_3_2",
                                        "gmaxpool1d",      "gavgpool1d"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double *c = need(cases[i], "config")->v; /* max, pool, strides, same */
        keel_pool1d_opts o = {.pool_size = (int64_t)c[1],
                              .strides = (int64_t)c[2],
                              .padding = c[3] ? "same" : "valid"};
        keel_layer *l = c[1] == 0
                            ? (c[0] ? keel_global_max_pooling1d() : keel_global_average_pooling1d())
                        : c[0] ? keel_max_pooling1d_(o)
                               : keel_average_pooling1d_(o);
        single(cases[i], l, NULL, 0);
    }
}

/* Embedding(9, 3, mask_zero) -> GlobalAveragePooling1D: the mean over the unmasked steps */
Test(seq_fixtures, masked_global_average_pooling) {
    static const char *const cases[] = {"masked_gap_pre", "masked_gap_post"};
    for (int i = 0; i < 2; i++) {
        keel_model *m = keel_model_new(cases[i]);
        int64_t batch;
        keel_sym *x = input_of(m, cases[i], "x_shape", &batch);
        keel_layer *e = keel_embedding(.input_dim = 9, .output_dim = 3, .mask_zero = 1);
        keel_model_outputs(
            m, 1,
            (keel_sym *[]){keel_apply(m, keel_global_average_pooling1d(), keel_apply(m, e, x))});
        wmap ws[] = {{e, 0, "embeddings"}};
        run_case(cases[i], m, 1, ws, 1);
    }
}

Test(seq_fixtures, masking) {
    single("masking", keel_masking(), NULL, 0);
}

/* ---------------------------------------------------------------- recurrent layers
 * (tests/fixtures/keras_rnn.txt, tools/make_rnn_fixtures.py), built as keel layers: a masked case
 * gets its mask from a Masking layer in front, fed x with the padded steps set to the mask
 * value (Keras's fixture passed the mask directly; padded steps are ignored either way, and
 * their input gradient is 0 in both). */

static void setup_rnn(void) {
    fx_load_from(&F, "keras_rnn.txt", "make_rnn_fixtures.py");
}
TestSuite(rnn_fixtures, .init = setup_rnn, .fini = teardown);

static void rnn_case(const char *cs) {
    static const char *const acts[] = {"tanh", "sigmoid", "hard_sigmoid", "softsign", "relu"};
    const double *c =
        need(cs, "config")->v; /* cell, N, T, F, U, seq, back, reset_after, bias, act, rec_act */
    keel_rnn_opts o = {.units = (int64_t)c[4],
                       .return_sequences = (int)c[5],
                       .go_backwards = (int)c[6],
                       .reset_after = (int)c[7],
                       .use_bias = (int)c[8],
                       .unit_forget_bias = 1,
                       .activation = acts[(int)c[9]],
                       .recurrent_activation = acts[(int)c[10]]};
    keel_layer *l = c[0] == 1 ? keel_lstm_(o) : c[0] == 2 ? keel_gru_(o) : keel_simple_rnn_(o);
    cr_assert_not_null(l, "%s: %s", cs, keel_last_error());
    keel_model *m = keel_model_new(cs);
    const int64_t N = (int64_t)c[1], T = (int64_t)c[2], Fe = (int64_t)c[3];
    keel_sym *x = keel_model_input(m, .shape = {T, Fe});
    const fx_rec *mask = find(cs, "mask");
    keel_sym *h = mask ? keel_apply(m, keel_masking(.mask_value = 999.0f), x) : x;
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, l, h)});
    wmap ws[] = {{l, 0, "kernel"}, {l, 1, "recurrent_kernel"}, {l, 2, "bias"}};
    /* the padded steps of x become the mask value; everything else is the fixture's */
    fx_rec *xr = (fx_rec *)need(cs, "x");
    double *saved = malloc((size_t)xr->n * sizeof *saved);
    memcpy(saved, xr->v, (size_t)xr->n * sizeof *saved);
    for (int64_t s = 0; mask && s < N * T; s++)
        if (mask->v[s] == 0)
            for (int64_t f = 0; f < Fe; f++)
                xr->v[s * Fe + f] = 999.0;
    run_case(cs, m, 1, ws, c[8] ? 3 : 2);
    memcpy(xr->v, saved, (size_t)xr->n * sizeof *saved);
    free(saved);
}

Test(rnn_fixtures, lstm_gru_simple_rnn_layers) {
    static const char *const cases[] = {
        "lstm_seq",   "lstm_last",   "lstm_mask_post",   "lstm_mask_pre",   "lstm_back",
        "gru_seq",    "gru_last",    "gru_mask_post",    "gru_mask_pre",    "gru_back",
        "simple_seq", "simple_last", "simple_mask_post", "simple_mask_pre", "simple_back",
        "lstm_acts",  "gru_v1",      "simple_acts"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        rnn_case(cases[i]);
}
