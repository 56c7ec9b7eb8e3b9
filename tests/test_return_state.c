/* test_return_state.c: the recurrent layers' states and several outputs through the public API:
 * return_state (keel_apply_outputs), initial_state (the states as more inputs), Bidirectional
 * with merge_mode "none" and with return_state, a seq2seq encoder-decoder.
 *
 *  - against tf.keras 2.15 (tests/fixtures/keras_rnn_state.txt, tools/make_rnn_state_fixtures.py):
 *    the same functional models, the fixture's weights, every output, and the gradients of
 *    L = sum_k sum(y_k r_k) with respect to every input (initial states included) and weight;
 *  - finite differences of that L through the whole graph (packed nodes, picks, unused outputs,
 *    states from another layer), with and without masks, go_backwards, Bidirectional;
 *  - an encoder-decoder that learns a task only the encoder's states can carry, and whose
 *    encoder weights change;
 *  - the summary's row of a layer with several outputs, and the errors. */
#include "fixture.h"
#include "model/model.h"

#define RTOL_Y 1e-4
#define RTOL_GRAD 1e-3

#define EXPECT_MSG(...)                                                                            \
    do {                                                                                           \
        const char *want_[] = {__VA_ARGS__};                                                       \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++)                               \
            cr_expect(strstr(keel_last_error(), want_[i_]), "message \"%s\" lacks \"%s\"",         \
                      keel_last_error(), want_[i_]);                                               \
    } while (0)

static fx_file F;
static void setup(void) {
    fx_load_from(&F, "keras_rnn_state.txt", "make_rnn_state_fixtures.py");
}
static void teardown(void) {
    fx_free(&F);
}
TestSuite(rnn_state_fixtures, .init = setup, .fini = teardown);

static const fx_rec *find(const char *cs, const char *key) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", cs, key);
    for (int i = 0; i < F.n; i++)
        if (!strcmp(F.r[i].name, name)) return &F.r[i];
    return NULL;
}

static const fx_rec *need(const char *cs, const char *key) {
    const fx_rec *r = find(cs, key);
    cr_assert_not_null(
        r, "fixture %s.%s missing (regenerate with tools/make_rnn_state_fixtures.py)", cs, key);
    return r;
}

/* input i of a case, its per-sample shape from c.x<i>_shape */
static keel_sym *input_of(keel_model *m, const char *cs, int i) {
    char key[32];
    snprintf(key, sizeof key, "x%d_shape", i);
    const fx_rec *s = need(cs, key);
    keel_input_opts o = {0};
    for (int k = 1; k < s->n; k++)
        o.shape[k - 1] = (int64_t)s->v[k];
    return keel_model_input_(m, o);
}

typedef struct wmap {
    keel_layer *l;
    int index;
    char key[48]; /* "enc.kernel"; its gradient "enc.dkernel" */
} wmap;

/* a recurrent layer's weights under role `role` */
static int rnn_weights(wmap *ws, int n, keel_layer *l, const char *role) {
    static const char *const names[] = {"kernel", "recurrent_kernel", "bias"};
    for (int k = 0; k < 3; k++) {
        ws[n] = (wmap){l, k, ""};
        snprintf(ws[n++].key, sizeof ws->key, "%s.%s", role, names[k]);
    }
    return n;
}

/* Every gradient buffer of the graph and every weight gradient filled with junk, as after
 * earlier steps: the backward must overwrite what it reads (the graph's rule), and a gradient
 * nothing writes (an unused output) must not be read at all. */
static void junk_grads(keel_model *m, int64_t n) {
    for (int i = 0; i < m->g.n; i++)
        for (int64_t j = 0; m->g.nodes[i]->grad && j < n * m->g.nodes[i]->size; j++)
            m->g.nodes[i]->grad[j] = 1e30f;
    for (int64_t j = 0; j < m->n_weights; j++)
        m->grads[j] = -1e30f;
}

/* Compiles m (its inputs and outputs in the fixture's order), loads the weights, runs forward,
 * sets dL/dy_k = r_k, runs backward, and compares everything with Keras. */
static void run_case(const char *cs, keel_model *m, const wmap *ws, int nw) {
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
    keel_free(m->g.arena);
    m->g.arena = NULL, m->g.batch_cap = 0;
    const int64_t n = (int64_t)need(cs, "x0_shape")->v[0];
    cr_assert_eq(keel_model_reserve(m, n), KEEL_OK);
    for (int i = 0; i < m->n_in_nodes; i++) {
        char key[16];
        snprintf(key, sizeof key, "x%d", i);
        const fx_rec *x = need(cs, key);
        cr_assert_eq(x->n, n * m->in_nodes[i]->size, "%s: %s size", cs, key);
        for (int64_t j = 0; j < x->n; j++)
            m->in_nodes[i]->val[j] = (float)x->v[j];
    }
    keel_model_bind(m, false);
    m->ctx.training = true;
    keel_graph_forward(&m->g, n, &m->ctx);
    for (int k = 0; k < m->n_out_nodes; k++) {
        char key[16], rkey[16];
        snprintf(key, sizeof key, "y%d", k), snprintf(rkey, sizeof rkey, "r%d", k);
        keel_node *o = m->out_nodes[k];
        const fx_rec *y = need(cs, key), *r = need(cs, rkey);
        cr_assert_eq(y->n, n * o->size, "%s: %s has %d values, keel's output %lld", cs, key, y->n,
                     (long long)(n * o->size));
        expect_close_f(cs, key, o->val, y->v, y->n, RTOL_Y);
        cr_assert_eq(r->n, y->n, "%s: %s", cs, rkey);
        o->loss_fused = false;
    }
    char key[16];
    snprintf(key, sizeof key, "y%d", m->n_out_nodes);
    cr_expect_null(find(cs, key), "%s: Keras has more outputs than keel's %d", cs, m->n_out_nodes);
    junk_grads(m, n);
    for (int k = 0; k < m->n_out_nodes; k++) {
        snprintf(key, sizeof key, "r%d", k);
        for (int64_t j = 0; j < need(cs, key)->n; j++)
            m->out_nodes[k]->grad[j] = (float)need(cs, key)->v[j];
    }
    keel_graph_backward(&m->g, n, &m->ctx);
    for (int i = 0; i < m->n_in_nodes; i++) {
        snprintf(key, sizeof key, "dx%d", i);
        expect_close_f(cs, key, m->in_nodes[i]->grad, need(cs, key)->v, need(cs, key)->n,
                       RTOL_GRAD);
    }
    for (int k = 0; k < nw; k++) {
        char gk[64];
        const char *dot = strrchr(ws[k].key, '.');
        snprintf(gk, sizeof gk, "%.*s.d%s", (int)(dot - ws[k].key), ws[k].key, dot + 1);
        const fx_rec *g = need(cs, gk);
        expect_close_f(cs, gk, ws[k].l->params[ws[k].index].g, g->v, g->n, RTOL_GRAD);
    }
    keel_model_free(m);
}

static keel_sym *masked(keel_model *m, keel_sym *x) {
    return keel_apply(m, keel_masking(.mask_value = 0.0f), x);
}

/* x -> [Masking ->] layer (return_state) -> all its outputs */
static void state_case(const char *cs, keel_layer *l, bool mask) {
    cr_assert_not_null(l, "%s: %s", cs, keel_last_error());
    keel_model *m = keel_model_new(cs);
    keel_sym *x = input_of(m, cs, 0), *outs[KEEL_MAX_OUT];
    int n =
        keel_apply_outputs(m, l, 1, (keel_sym *[]){mask ? masked(m, x) : x}, KEEL_MAX_OUT, outs);
    cr_assert_gt(n, 1, "%s: %s", cs, keel_last_error());
    cr_assert_eq(keel_model_outputs(m, n, outs), KEEL_OK, "%s", keel_last_error());
    wmap ws[6];
    run_case(cs, m, ws, rnn_weights(ws, 0, l, "rnn"));
}

Test(rnn_state_fixtures, return_state) {
    state_case("lstm_state", keel_lstm(.units = 4, .return_state = 1), false);
    state_case("lstm_state_seq",
               keel_lstm(.units = 4, .return_sequences = 1, .return_state = 1, .go_backwards = 1),
               true);
    state_case("gru_state", keel_gru(.units = 4, .return_sequences = 1, .return_state = 1), true);
    state_case("gru_v1_state", keel_gru(.units = 4, .return_state = 1, .reset_after = 0), true);
    state_case("simple_state", keel_simple_rnn(.units = 4, .return_state = 1, .go_backwards = 1),
               true);
}

/* only h is used: the output's and c's picks get no gradient and must count as zero */
Test(rnn_state_fixtures, unused_outputs) {
    const char *cs = "lstm_h_only";
    keel_model *m = keel_model_new(cs);
    keel_layer *l = keel_lstm(.units = 4, .return_state = 1), *d = keel_dense(.units = 2);
    keel_sym *x = input_of(m, cs, 0), *o[3];
    cr_assert_eq(keel_apply_outputs(m, l, 1, &x, 3, o), 3, "%s", keel_last_error());
    keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, d, o[1])});
    wmap ws[6];
    int nw = rnn_weights(ws, 0, l, "rnn");
    ws[nw++] = (wmap){d, 0, "dense.kernel"};
    ws[nw++] = (wmap){d, 1, "dense.bias"};
    run_case(cs, m, ws, nw);
}

/* x, h0 (, c0) -> [Masking ->] layer(x, initial_state=[...]) -> its output(s) */
static void init_case(const char *cs, keel_layer *l, int n_states, bool mask) {
    cr_assert_not_null(l, "%s: %s", cs, keel_last_error());
    keel_model *m = keel_model_new(cs);
    keel_sym *in[3], *outs[KEEL_MAX_OUT];
    for (int i = 0; i <= n_states; i++)
        in[i] = input_of(m, cs, i);
    keel_sym *args[3] = {mask ? masked(m, in[0]) : in[0], in[1], in[2]};
    int n = keel_apply_outputs(m, l, 1 + n_states, args, KEEL_MAX_OUT, outs);
    cr_assert_gt(n, 0, "%s: %s", cs, keel_last_error());
    cr_assert_eq(keel_model_outputs(m, n, outs), KEEL_OK, "%s", keel_last_error());
    wmap ws[6];
    run_case(cs, m, ws, rnn_weights(ws, 0, l, "rnn"));
}

Test(rnn_state_fixtures, initial_state) {
    init_case("lstm_init", keel_lstm(.units = 4, .return_sequences = 1), 2, true);
    init_case("gru_init", keel_gru(.units = 4, .return_state = 1, .go_backwards = 1), 1, false);
    init_case("simple_init", keel_simple_rnn(.units = 4, .return_sequences = 1), 1, true);
}

/* the encoder's states start the decoder; nothing else of the encoder is used */
static keel_model *seq2seq(const char *name, bool gru, bool dec_mask, int64_t units,
                           keel_layer **enc, keel_layer **dec, keel_layer **dense) {
    keel_model *m = keel_model_new(name);
    keel_sym *xe = keel_model_input(m, .shape = {5, 3}), *xd = keel_model_input(m, .shape = {4, 2});
    *enc = gru ? keel_gru(.units = units, .return_state = 1)
               : keel_lstm(.units = units, .return_state = 1);
    *dec = gru ? keel_gru(.units = units, .return_sequences = 1)
               : keel_lstm(.units = units, .return_sequences = 1);
    *dense = keel_dense(.units = 2);
    keel_sym *e[3];
    int n = keel_apply_outputs(m, *enc, 1, (keel_sym *[]){masked(m, xe)}, 3, e);
    cr_assert_eq(n, gru ? 2 : 3, "%s", keel_last_error());
    keel_sym *args[3] = {dec_mask ? masked(m, xd) : xd, e[1], gru ? NULL : e[2]};
    keel_sym *y = keel_apply(m, *dense, keel_apply_n(m, *dec, n, args));
    cr_assert_eq(keel_model_outputs(m, 1, &y), KEEL_OK, "%s", keel_last_error());
    return m;
}

Test(rnn_state_fixtures, seq2seq) {
    for (int gru = 0; gru < 2; gru++) {
        const char *cs = gru ? "seq2seq_gru" : "seq2seq";
        keel_layer *enc, *dec, *dense;
        keel_model *m = seq2seq(cs, gru, gru, 4, &enc, &dec, &dense);
        wmap ws[8];
        int nw = rnn_weights(ws, 0, enc, "enc");
        nw = rnn_weights(ws, nw, dec, "dec");
        ws[nw++] = (wmap){dense, 0, "dense.kernel"};
        ws[nw++] = (wmap){dense, 1, "dense.bias"};
        run_case(cs, m, ws, nw);
    }
}

static void bidi_case(const char *cs, keel_layer *b, bool mask) {
    cr_assert_not_null(b, "%s: %s", cs, keel_last_error());
    keel_model *m = keel_model_new(cs);
    keel_sym *x = input_of(m, cs, 0), *outs[KEEL_MAX_OUT];
    keel_sym *in = mask ? masked(m, x) : x;
    int n = keel_apply_outputs(m, b, 1, &in, KEEL_MAX_OUT, outs);
    cr_assert_gt(n, 0, "%s: %s", cs, keel_last_error());
    cr_assert_eq(keel_model_outputs(m, n, outs), KEEL_OK, "%s", keel_last_error());
    wmap ws[6];
    int nw = rnn_weights(ws, 0, b->wrapped[0], "fw");
    run_case(cs, m, ws, rnn_weights(ws, nw, b->wrapped[1], "bw"));
}

Test(rnn_state_fixtures, bidirectional) {
    bidi_case("bidi_state",
              keel_bidirectional(.layer = keel_lstm(.units = 3, .return_sequences = 1,
                                                    .return_state = 1)),
              true);
    bidi_case("bidi_none_seq",
              keel_bidirectional(.layer = keel_gru(.units = 3, .return_sequences = 1),
                                 .merge_mode = "none"),
              true);
    bidi_case("bidi_none_state",
              keel_bidirectional(.layer = keel_simple_rnn(.units = 3, .return_state = 1),
                                 .merge_mode = "none"),
              false);
    bidi_case("bidi_sum_seq",
              keel_bidirectional(.layer = keel_lstm(.units = 3, .return_sequences = 1),
                                 .merge_mode = "sum"),
              true);
}

/* ================================================================== finite differences */

#define NB 4

static void fill(float *p, int64_t n, uint64_t seed, float lo, float hi) {
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * keel_rand_uniform(seed, 31, (uint64_t)i);
}

typedef struct fd {
    keel_model *m;
    float *r[KEEL_MAX_IO]; /* dL/dy_k */
} fd;

/* L = sum_k sum(y_k r_k) at the current weights and inputs; with grad, its gradient into the
 * model's gradient buffer and the inputs' gradients */
static double fd_eval(fd *f, bool grad) {
    keel_model *m = f->m;
    m->ctx.training = true;
    m->ctx.step = 0; /* the same dropout masks every time */
    m->ctx.seed = m->seed;
    keel_graph_forward(&m->g, NB, &m->ctx);
    if (grad) junk_grads(m, NB);
    double l = 0;
    for (int k = 0; k < m->n_out_nodes; k++) {
        keel_node *o = m->out_nodes[k];
        for (int64_t i = 0; i < NB * o->size; i++) {
            l += (double)o->val[i] * f->r[k][i];
            if (grad) o->grad[i] = f->r[k][i];
        }
    }
    if (grad) keel_graph_backward(&m->g, NB, &m->ctx);
    return l;
}

/* The backward of a whole model (weights and inputs, initial states among them) against
 * central differences along one random direction, and in single coordinates. Sequence inputs
 * (rank 2) get sample n's steps from len[n] on zeroed (what a Masking(0) layer masks); those
 * entries stay fixed. */
static void check_fd(keel_model *m, const char *what) {
    static const int64_t len[NB] = {100, 2, 0, 1};
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK, "%s: %s", what,
                 keel_last_error());
    for (int i = 0; i < m->n_in_nodes; i++)
        m->in_nodes[i]->needs_grad = true;
    for (int i = 0; i < m->g.n; i++)
        for (int k = 0; k < m->g.nodes[i]->n_in; k++)
            m->g.nodes[i]->needs_grad |= m->g.nodes[i]->in[k]->needs_grad;
    keel_graph_finish(&m->g, m->out_nodes, m->n_out_nodes);
    for (int k = 0; k < m->n_out_nodes; k++)
        m->out_nodes[k]->loss_fused = false;
    keel_free(m->g.arena);
    m->g.arena = NULL, m->g.batch_cap = 0;
    cr_assert_eq(keel_model_reserve(m, NB), KEEL_OK);
    keel_model_bind(m, false);
    fd f = {.m = m};
    for (int k = 0; k < m->n_out_nodes; k++) {
        f.r[k] = malloc((size_t)(NB * m->out_nodes[k]->size) * sizeof(float));
        fill(f.r[k], NB * m->out_nodes[k]->size, 70 + (uint64_t)k, -1, 1);
    }
    /* the variables: every weight, then every input; fixed[] marks the masked entries */
    int64_t nw = m->n_weights, nv = nw;
    for (int i = 0; i < m->n_in_nodes; i++)
        nv += NB * m->in_nodes[i]->size;
    float *v0 = malloc((size_t)nv * sizeof *v0), *d = malloc((size_t)nv * sizeof *d);
    double *g = malloc((size_t)nv * sizeof *g);
    bool *fixed = calloc((size_t)nv, 1);
    keel_model_get_flat(m, v0);
    for (int i = 0, at = (int)nw; i < m->n_in_nodes; i++) {
        keel_node *in = m->in_nodes[i];
        fill(in->val, NB * in->size, 11 + (uint64_t)i, -1.2f, 1.2f);
        const int64_t T = in->rank == 2 ? in->dims[0] : 1, S = in->size / T;
        for (int64_t n = 0; in->rank == 2 && n < NB; n++)
            for (int64_t t = len[n]; t < T; t++)
                for (int64_t j = 0; j < S; j++) {
                    in->val[(n * T + t) * S + j] = 0;
                    fixed[at + (n * T + t) * S + j] = true;
                }
        memcpy(v0 + at, in->val, (size_t)(NB * in->size) * sizeof *v0);
        at += (int)(NB * in->size);
    }
    fd_eval(&f, true);
    for (int64_t i = 0; i < nw; i++)
        g[i] = m->grads[i];
    for (int i = 0, at = (int)nw; i < m->n_in_nodes; i++) {
        for (int64_t j = 0; j < NB * m->in_nodes[i]->size; j++)
            g[at + j] = m->in_nodes[i]->grad[j];
        at += (int)(NB * m->in_nodes[i]->size);
    }
    /* sets every variable to v0 + e d */
    float *v = malloc((size_t)nv * sizeof *v);
#define SET_ALL(e)                                                                                 \
    do {                                                                                           \
        for (int64_t i_ = 0; i_ < nv; i_++)                                                        \
            v[i_] = v0[i_] + (e)*d[i_];                                                            \
        keel_model_set_flat(m, v);                                                                 \
        for (int i_ = 0, at_ = (int)nw; i_ < m->n_in_nodes; i_++) {                                \
            memcpy(m->in_nodes[i_]->val, v + at_,                                                  \
                   (size_t)(NB * m->in_nodes[i_]->size) * sizeof *v);                              \
            at_ += (int)(NB * m->in_nodes[i_]->size);                                              \
        }                                                                                          \
    } while (0)
    const float eps = 1e-3f;
    fill(d, nv, 5, -1, 1);
    for (int64_t i = 0; i < nv; i++)
        if (fixed[i]) d[i] = 0;
    double ana = 0;
    for (int64_t i = 0; i < nv; i++)
        ana += g[i] * d[i];
    SET_ALL(eps);
    double lp = fd_eval(&f, false);
    SET_ALL(-eps);
    double lm = fd_eval(&f, false), num = (lp - lm) / (2.0 * eps);
    cr_expect(fabs(num - ana) <= 1e-2 * fabs(ana) + 2e-4,
              "%s: directional derivative %.6g (backward) vs %.6g (numeric)", what, ana, num);
    /* single coordinates spread over weights and inputs */
    for (int64_t k = 0; k < 24; k++) {
        int64_t i = (k * 7919 + 13) % nv;
        if (fixed[i]) continue;
        memset(d, 0, (size_t)nv * sizeof *d);
        d[i] = 1;
        SET_ALL(eps);
        lp = fd_eval(&f, false);
        SET_ALL(-eps);
        lm = fd_eval(&f, false);
        num = (lp - lm) / (2.0 * eps);
        cr_expect(fabs(num - g[i]) <= 1e-2 * fabs(g[i]) + 2e-4,
                  "%s: dL/d%s[%lld] %.6g (backward) vs %.6g (numeric)", what,
                  i < nw ? "w" : "input", (long long)(i < nw ? i : i - nw), g[i], num);
    }
#undef SET_ALL
    for (int k = 0; k < m->n_out_nodes; k++)
        free(f.r[k]);
    free(v0), free(d), free(g), free(fixed), free(v);
    keel_model_free(m);
}

/* all outputs of one call as the model's outputs; x masked when mask */
static keel_model *all_outputs(keel_layer *l, bool mask, int n_states) {
    keel_model *m = keel_model_new("fd");
    keel_sym *x = keel_model_input(m, .shape = {5, 3}), *outs[KEEL_MAX_OUT];
    keel_sym *in[3] = {mask ? masked(m, x) : x};
    for (int i = 1; i <= n_states; i++)
        in[i] = keel_model_input(m, .shape = {4});
    int n = keel_apply_outputs(m, l, 1 + n_states, in, KEEL_MAX_OUT, outs);
    cr_assert_gt(n, 0, "%s", keel_last_error());
    keel_model_outputs(m, n, outs);
    return m;
}

Test(return_state, finite_differences_single_layers) {
    check_fd(all_outputs(
                 keel_lstm(.units = 4, .return_sequences = 1, .return_state = 1, .go_backwards = 1),
                 true, 2),
             "LSTM(return_sequences, return_state, go_backwards) from h0, c0, masked");
    check_fd(all_outputs(keel_lstm(.units = 4, .return_state = 1), false, 0),
             "LSTM(return_state) from zeros");
    check_fd(all_outputs(keel_gru(.units = 4, .return_state = 1, .reset_after = 0), true, 1),
             "GRU(reset_after=False, return_state) from h0, masked");
    check_fd(all_outputs(keel_gru(.units = 4, .return_sequences = 1, .return_state = 1,
                                  .recurrent_dropout = 0.3f),
                         true, 1),
             "GRU(return_sequences, return_state, recurrent_dropout) from h0, masked");
    check_fd(all_outputs(
                 keel_simple_rnn(.units = 4, .return_state = 1, .go_backwards = 1, .dropout = 0.2f),
                 true, 1),
             "SimpleRNN(return_state, go_backwards, dropout) from h0, masked");
    check_fd(all_outputs(keel_simple_rnn(.units = 4, .return_sequences = 1), true, 1),
             "SimpleRNN(return_sequences) from h0, masked");
}

Test(return_state, finite_differences_bidirectional) {
    check_fd(all_outputs(keel_bidirectional(.layer = keel_lstm(.units = 3, .return_sequences = 1,
                                                               .return_state = 1)),
                         true, 0),
             "Bidirectional(LSTM(return_sequences, return_state)), masked");
    check_fd(all_outputs(keel_bidirectional(.layer = keel_gru(.units = 3, .return_state = 1),
                                            .merge_mode = "none"),
                         true, 0),
             "Bidirectional(GRU(return_state), merge_mode none), masked");
    check_fd(
        all_outputs(keel_bidirectional(.layer = keel_simple_rnn(.units = 3, .return_sequences = 1),
                                       .merge_mode = "none"),
                    false, 0),
        "Bidirectional(SimpleRNN(return_sequences), merge_mode none)");
    check_fd(all_outputs(keel_bidirectional(.layer = keel_lstm(.units = 3, .return_sequences = 1),
                                            .merge_mode = "ave"),
                         true, 0),
             "Bidirectional(LSTM(return_sequences), ave), masked");
}

/* states handed from layer to layer, unused outputs, a layer with several outputs applied
 * twice */
Test(return_state, finite_differences_graphs) {
    for (int gru = 0; gru < 2; gru++) {
        keel_layer *enc, *dec, *dense;
        check_fd(seq2seq("fd", gru, true, 4, &enc, &dec, &dense),
                 gru ? "GRU encoder-decoder" : "LSTM encoder-decoder");
    }
    /* only c of an LSTM used; a GRU's sequence and h feed a second GRU, its h the third's */
    keel_model *m = keel_model_new("fd");
    keel_sym *x = keel_model_input(m, .shape = {5, 3}), *o[3], *p[2], *q[2];
    keel_apply_outputs(m, keel_lstm(.units = 4, .return_state = 1), 1, &x, 3, o);
    keel_apply_outputs(m, keel_gru(.units = 4, .return_sequences = 1, .return_state = 1), 1,
                       (keel_sym *[]){masked(m, x)}, 2, p);
    keel_apply_outputs(m, keel_gru(.units = 4, .return_state = 1, .go_backwards = 1), 2,
                       (keel_sym *[]){p[0], p[1]}, 2, q);
    keel_sym *y = keel_apply_n(m, keel_simple_rnn(.units = 4), 2, (keel_sym *[]){x, q[1]});
    keel_model_outputs(
        m, 2, (keel_sym *[]){o[2], keel_apply_n(m, keel_merge_add(), 2, (keel_sym *[]){y, q[0]})});
    check_fd(m, "chained states, unused outputs");
    /* one LSTM(return_state) on two inputs: two packed nodes, one set of weights */
    m = keel_model_new("fd");
    keel_sym *a = keel_model_input(m, .shape = {5, 3}), *b = keel_model_input(m, .shape = {5, 3});
    keel_layer *shared = keel_lstm(.units = 4, .return_state = 1);
    keel_apply_outputs(m, shared, 1, &a, 3, o);
    keel_sym *r[3];
    keel_apply_outputs(m, shared, 3, (keel_sym *[]){b, o[1], o[2]}, 3, r);
    keel_model_outputs(m, 2, (keel_sym *[]){o[0], r[2]});
    check_fd(m, "a shared LSTM(return_state), the second call from the first's states");
}

/* ================================================================== training, summary, errors */

/* An encoder-decoder on a task only the encoder's states can carry: the decoder reads zeros and
 * must output, at step t, whether the encoder's input had a positive first feature at step t.
 * It learns (loss falls, accuracy high), and the encoder's weights move: gradients reach it
 * through the states alone. */
Test(return_state, seq2seq_trains_the_encoder_through_its_states) {
    const int64_t n = 256, Te = 5, Td = 3;
    keel_tensor *xe = keel_tensor_new(KEEL_SHAPE(n, Te, 2)),
                *xd = keel_tensor_new(KEEL_SHAPE(n, Td, 1));
    keel_tensor *y = keel_tensor_new(KEEL_SHAPE(n, Td, 1));
    float *pe = keel_tensor_data(xe), *pd = keel_tensor_data(xd), *py = keel_tensor_data(y);
    for (int64_t i = 0; i < n * Te * 2; i++)
        pe[i] = 2 * keel_rand_uniform(3, 1, (uint64_t)i) - 1;
    memset(pd, 0, (size_t)(n * Td) * sizeof *pd);
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < Td; t++)
            py[i * Td + t] = pe[(i * Te + t) * 2] > 0;
    keel_model *m = keel_model_new("seq2seq");
    keel_sym *ein = keel_model_input(m, .shape = {Te, 2}),
             *din = keel_model_input(m, .shape = {Td, 1});
    keel_layer *enc = keel_lstm(.units = 16, .return_state = 1);
    keel_sym *e[3];
    cr_assert_eq(keel_apply_outputs(m, enc, 1, &ein, 3, e), 3, "%s", keel_last_error());
    keel_sym *d = keel_apply_n(m, keel_lstm(.units = 16, .return_sequences = 1), 3,
                               (keel_sym *[]){din, e[1], e[2]});
    keel_sym *out = keel_apply(m, keel_dense(.units = 1, .activation = "sigmoid"), d);
    cr_assert_eq(keel_model_outputs(m, 1, &out), KEEL_OK, "%s", keel_last_error());
    cr_assert_eq(keel_compile(m, .optimizer = "adam(learning_rate=0.01)",
                              .loss = "binary_crossentropy", .metrics = {"accuracy"}),
                 KEEL_OK, "%s", keel_last_error());
    keel_tensor *x = keel_tensor_list(2, (const keel_tensor *[]){xe, xd});
    double before[2], after[2];
    cr_assert_eq(keel_evaluate(m, x, y, before, 2), KEEL_OK, "%s", keel_last_error());
    int64_t nk;
    const float *k = keel_layer_weight(enc, 0, &nk);
    float *k0 = malloc((size_t)nk * sizeof *k0);
    memcpy(k0, k, (size_t)nk * sizeof *k0);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 60, .batch_size = 32, .verbose = 0), KEEL_OK, "%s",
                 keel_last_error());
    cr_assert_eq(keel_evaluate(m, x, y, after, 2), KEEL_OK);
    cr_expect_lt(after[0], 0.3 * before[0], "loss %g -> %g", before[0], after[0]);
    cr_expect_gt(after[1], 0.95, "accuracy %g", after[1]);
    double moved = 0;
    for (int64_t i = 0; i < nk; i++)
        moved = fmax(moved, fabs(k[i] - k0[i]));
    cr_expect_gt(moved, 0.05, "the encoder's kernel moved by at most %g", moved);
    free(k0);
    keel_tensor_free(x), keel_tensor_free(xe), keel_tensor_free(xd), keel_tensor_free(y);
    keel_model_free(m);
}

static void summary_of(keel_model *m, char *buf, size_t cap) {
    memset(buf, 0, cap);
    FILE *f = fmemopen(buf, cap - 1, "w");
    cr_assert_eq(keel_summary(m, f), KEEL_OK, "%s", keel_last_error());
    fclose(f);
}

/* tf.keras 2.15's rows, printed by the same models there */
Test(return_state, summary_lists_every_output) {
    keel_model *m = keel_model_new("model");
    keel_sym *x = keel_model_input(m, .shape = {5, 3}), *o[KEEL_MAX_OUT];
    keel_apply_outputs(m, keel_lstm(.units = 4, .return_state = 1), 1, &x, 3, o);
    keel_model_outputs(m, 3, o);
    char buf[4096];
    summary_of(m, buf, sizeof buf);
    cr_expect(strstr(buf, " lstm (LSTM)                 [(None, 4),               128\n"
                          "                              (None, 4),\n"
                          "                              (None, 4)]\n"),
              "%s", buf);
    keel_model_free(m);
    m = keel_model_new("model_1");
    x = keel_model_input(m, .shape = {5, 3});
    int n = keel_apply_outputs(
        m,
        keel_bidirectional(.layer = keel_gru(.units = 4, .return_sequences = 1, .return_state = 1),
                           .merge_mode = "none"),
        1, &x, KEEL_MAX_OUT, o);
    cr_assert_eq(n, 4, "%s", keel_last_error());
    keel_model_outputs(m, n, o);
    summary_of(m, buf, sizeof buf);
    cr_expect(strstr(buf, " bidirectional (Bidirection  [(None, 5, 4),            216\n"
                          " al)                          (None, 5, 4),\n"
                          "                              (None, 4),\n"
                          "                              (None, 4)]\n"),
              "%s", buf);
    keel_model_free(m);
}

Test(return_state, errors) {
    /* several outputs through the one-output calls */
    keel_model *m = keel_model_new("m");
    keel_sym *x = keel_model_input(m, .shape = {5, 3});
    cr_expect_null(keel_apply(m, keel_lstm(.units = 4, .return_state = 1), x));
    EXPECT_MSG("keel_apply: lstm returns 3 outputs", "apply it with keel_apply_outputs");
    keel_model_free(m);
    m = keel_model_new("m");
    x = keel_model_input(m, .shape = {5, 3});
    cr_expect_null(
        keel_apply(m, keel_bidirectional(.layer = keel_gru(.units = 2), .merge_mode = "none"), x));
    EXPECT_MSG("bidirectional returns 2 outputs");
    keel_model_free(m);
    keel_model *s = keel_sequential(NULL);
    cr_expect_eq(keel_add(s, keel_gru(.units = 4, .return_state = 1, .input_shape = {5, 3})),
                 KEEL_ERR_ARG);
    EXPECT_MSG("keel_add: gru returns 2 outputs",
               "all layers in a Sequential model should have a single output");
    cr_expect_eq(keel_compile(s, .loss = "mse"), KEEL_ERR_ARG, "the error is kept");
    keel_model_free(s);
    /* no room for the outputs */
    m = keel_model_new("m");
    x = keel_model_input(m, .shape = {5, 3});
    keel_sym *o[3];
    cr_expect_lt(keel_apply_outputs(m, keel_lstm(.units = 4, .return_state = 1), 1, &x, 2, o), 0);
    EXPECT_MSG("keel_apply_outputs: lstm returns 3 outputs; outs has room for 2");
    cr_expect_neq(keel_model_status(m), KEEL_OK);
    keel_model_free(m);
    /* a layer with one output through keel_apply_outputs: its one output */
    m = keel_model_new("m");
    x = keel_model_input(m, .shape = {5, 3});
    cr_expect_eq(keel_apply_outputs(m, keel_lstm(.units = 4), 1, &x, 3, o), 1);
    cr_expect_eq(keel_model_outputs(m, 1, o), KEEL_OK);
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_OK, "%s", keel_last_error());
    keel_model_free(m);
    /* initial states: the count and the shapes, named at compile */
    m = keel_model_new("m");
    x = keel_model_input(m, .shape = {5, 3});
    keel_sym *h = keel_model_input(m, .shape = {4}), *h5;
    keel_model_outputs(m, 1,
                       (keel_sym *[]){keel_apply_n(m, keel_lstm(.units = 4, .name = "enc"), 2,
                                                   (keel_sym *[]){x, h})});
    cr_expect_neq(keel_compile(m, .loss = "mse"), KEEL_OK);
    EXPECT_MSG("enc: LSTM takes a sequence and, optionally, its 2 initial states (h and c), got 2 "
               "inputs");
    keel_model_free(m);
    m = keel_model_new("m");
    x = keel_model_input(m, .shape = {5, 3});
    h5 = keel_model_input(m, .shape = {5});
    keel_model_outputs(m, 1,
                       (keel_sym *[]){keel_apply_n(m, keel_gru(.units = 4, .name = "dec"), 2,
                                                   (keel_sym *[]){x, h5})});
    cr_expect_neq(keel_compile(m, .loss = "mse"), KEEL_OK);
    EXPECT_MSG("dec: initial state 0 (h) has shape (None, 5), expected (None, 4)");
    keel_model_free(m);
    m = keel_model_new("m");
    x = keel_model_input(m, .shape = {5, 3});
    h = keel_model_input(m, .shape = {2});
    keel_model_outputs(
        m, 1,
        (keel_sym *[]){keel_apply_n(m, keel_bidirectional(.layer = keel_gru(.units = 2)), 2,
                                    (keel_sym *[]){x, h})});
    cr_expect_neq(keel_compile(m, .loss = "mse"), KEEL_OK);
    EXPECT_MSG("Bidirectional takes one input (the sequence), got 2");
    keel_model_free(m);
}

/* The public calls on such models: predict gives every output (the output of a layer without
 * return_sequences is its h), a model holding a return_state layer works as a layer of another,
 * and a model whose outputs include states trains with a loss per output. */
Test(return_state, predict_nested_and_several_losses) {
    keel_model *m = keel_model_new("m");
    keel_sym *x = keel_model_input(m, .shape = {5, 3}), *o[3];
    cr_assert_eq(keel_apply_outputs(m, keel_lstm(.units = 4, .return_state = 1), 1, &x, 3, o), 3);
    keel_model_outputs(m, 3, o);
    float xs[2 * 5 * 3];
    for (int i = 0; i < 30; i++)
        xs[i] = keel_rand_uniform(8, 1, (uint64_t)i) - 0.5f;
    keel_tensor *xt = keel_tensor_from_data(KEEL_SHAPE(2, 5, 3), xs), *p[3];
    cr_assert_eq(keel_predict_outputs(m, xt, p, 3), 3, "%s", keel_last_error());
    for (int k = 0; k < 3; k++)
        cr_expect(keel_tensor_dim(p[k], 0) == 2 && keel_tensor_dim(p[k], 1) == 4);
    cr_expect(!memcmp(keel_tensor_data(p[0]), keel_tensor_data(p[1]), 8 * sizeof(float)),
              "output and h differ");
    cr_expect(memcmp(keel_tensor_data(p[1]), keel_tensor_data(p[2]), 8 * sizeof(float)),
              "h and c the same");
    /* the outputs as targets of their own losses (c regressed toward h, say) */
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .losses = {"mse", "mse", "mae"}), KEEL_OK,
                 "%s", keel_last_error());
    keel_tensor *y = keel_tensor_list(3, (const keel_tensor *[]){p[0], p[1], p[1]});
    double r[4];
    cr_assert_eq(keel_train_on_batch(m, xt, y, r, 4), KEEL_OK, "%s", keel_last_error());
    cr_expect(r[1] == 0 && r[2] == 0 && r[3] > 0, "losses %g %g %g", r[1], r[2], r[3]);
    keel_tensor_free(y);
    for (int k = 0; k < 3; k++)
        keel_tensor_free(p[k]);
    /* inside another model */
    keel_model *inner = keel_model_new("inner");
    keel_sym *xi = keel_model_input(inner, .shape = {5, 3}), *oi[2];
    keel_apply_outputs(inner, keel_gru(.units = 4, .return_state = 1, .go_backwards = 1), 1, &xi, 2,
                       oi);
    keel_model_outputs(inner, 1, (keel_sym *[]){keel_apply(inner, keel_dense(.units = 2), oi[1])});
    keel_model *outer = keel_model_new("outer");
    keel_sym *xo = keel_model_input(outer, .shape = {5, 3});
    keel_model_outputs(outer, 1, (keel_sym *[]){keel_apply_model(outer, inner, 1, &xo)});
    keel_tensor *a = keel_predict(inner, xt, NULL), *b = keel_predict(outer, xt, NULL);
    cr_assert(a && b, "%s", keel_last_error());
    cr_expect(!memcmp(keel_tensor_data(a), keel_tensor_data(b), 4 * sizeof(float)));
    keel_tensor_free(a), keel_tensor_free(b), keel_tensor_free(xt);
    keel_model_free(outer), keel_model_free(inner), keel_model_free(m);
}
