/* test_rnn.c: the recurrent kernels (src/kernels/rnn.h): LSTM, GRU (both reset_after forms) and
 * SimpleRNN over whole sequences.
 *
 * Four kinds of evidence:
 *  - fast vs naive: the blocked, threaded kernels against the step-by-step references in double,
 *    on odd shapes (N = 1, T = 1, U = 1, U not a multiple of the 16-unit block and spanning
 *    several, F = 1), with and without masks (post- and pre-padding, holes, a sample with no
 *    real step), dropout masks, go_backwards, return_sequences on and off, no bias, every
 *    kind of activation path (the vectorised sigmoid / tanh, keel_act's others, those whose
 *    derivative needs the pre-activation), overwrite and accumulate, 1 to 3 threads;
 *  - finite differences: for L = sum(y * r), the references' gradients against central
 *    differences of the reference forward in double (every coordinate of x and of each
 *    weight), and the fast backward along random directions of everything at once;
 *  - tf.keras 2.15: fast kernels and references against tests/fixtures/keras_rnn.txt
 *    (tools/make_rnn_fixtures.py, the real library): y and the gradients of the same L;
 *  - the geometry checks fail with a message naming the layer and what is wrong. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rnn.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* fixture.h's model helpers */
#include "fixture.h"
#pragma GCC diagnostic pop

static float *fnew(int64_t n) {
    float *p = calloc((size_t)(n ? n : 1), sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static double *dnew(int64_t n) {
    double *p = calloc((size_t)(n ? n : 1), sizeof *p);
    cr_assert_not_null(p);
    return p;
}

static void fill(float *p, int64_t n, uint64_t seed, float lo, float hi) {
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * keel_rand_uniform(seed, 13, (uint64_t)i);
}

static double *to_d(const float *p, int64_t n) {
    double *d = dnew(n);
    for (int64_t i = 0; i < n; i++)
        d[i] = p ? p[i] : 0;
    return d;
}

static double max_abs(const double *v, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

/* |got - want| <= rtol |want| + atol max|want| everywhere; names the first index that is not */
static bool expect_near(const char *ctx, const char *what, const float *got, const double *want,
                        int64_t n, double rtol, double atol) {
    const double scale = fmax(max_abs(want, n), 1e-3);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= rtol * fabs(want[i]) + atol * scale)) {
            cr_expect(0, "%s: %s[%lld]: fast %.9g, reference %.9g (scale %.3g)", ctx, what,
                      (long long)i, got[i], want[i], scale);
            return false;
        }
    }
    return true;
}

/* ================================================================== problems */

enum { MASK_NONE, MASK_POST, MASK_PRE, MASK_HOLES };

typedef struct rcase {
    keel_rnn_cell cell;
    int64_t N, T, F, U;
    bool back, seq, reset_after, drop, rdrop, nobias;
    int mask;
    keel_act_kind act, rec; /* 0 (linear) stands for the Keras defaults tanh / sigmoid */
} rcase;

/* one problem: geometry, inputs, weights, masks, dL/dy, in float and in double */
typedef struct prob {
    keel_rnn_geom g;
    int64_t nx, nk, nr, nb, ny;
    float *x, *k, *r, *b, *mask, *drop, *rdrop, *dy, *work;
    double *xd, *kd, *rd, *bd, *dyd, *rwork;
} prob;

static keel_rnn_geom geom_of(const rcase *c) {
    keel_rnn_geom g = {.cell = c->cell,
                       .N = c->N,
                       .T = c->T,
                       .F = c->F,
                       .U = c->U,
                       .go_backwards = c->back,
                       .return_sequences = c->seq,
                       .reset_after = c->cell == KEEL_RNN_GRU && c->reset_after,
                       .dropout = c->drop,
                       .recurrent_dropout = c->rdrop};
    g.act.kind = c->act ? c->act : KEEL_ACT_TANH;
    g.rec_act.kind = c->rec ? c->rec : KEEL_ACT_SIGMOID;
    if (g.act.kind == KEEL_ACT_ELU) g.act.alpha = 1.0f;
    if (g.act.kind == KEEL_ACT_LEAKY_RELU) g.act.alpha = 0.2f;
    cr_assert_eq(keel_rnn_geom_check(&g, "test"), KEEL_OK, "%s", keel_last_error());
    return g;
}

static void mask_fill(float *m, const keel_rnn_geom *g, int kind, uint64_t seed) {
    for (int64_t n = 0; n < g->N; n++) {
        const int64_t len = (g->T - n % (g->T + 1) + g->T + 1) % (g->T + 1); /* T, T-1, ..., 0 */
        for (int64_t t = 0; t < g->T; t++) {
            float v = 1;
            if (kind == MASK_POST) v = t < len;
            if (kind == MASK_PRE) v = t >= g->T - len;
            if (kind == MASK_HOLES)
                v = n == 1 ? 0 : keel_rand_uniform(seed, 5, (uint64_t)(n * g->T + t)) < 0.7f;
            m[n * g->T + t] = v;
        }
    }
}

/* inverted-dropout multipliers: 0 or 1 / 0.7 */
static float *drop_new(int64_t n, uint64_t seed) {
    float *d = fnew(n);
    for (int64_t i = 0; i < n; i++)
        d[i] = keel_rand_uniform(seed, 17, (uint64_t)i) < 0.7f ? 1.0f / 0.7f : 0.0f;
    return d;
}

static prob prob_new(const rcase *c, uint64_t seed) {
    prob p = {.g = geom_of(c)};
    const keel_rnn_geom *g = &p.g;
    p.nx = g->N * g->T * g->F;
    p.nk = keel_rnn_kernel_floats(g);
    p.nr = keel_rnn_rec_kernel_floats(g);
    p.nb = keel_rnn_bias_floats(g);
    p.ny = keel_rnn_y_floats(g);
    p.x = fnew(p.nx), p.k = fnew(p.nk), p.r = fnew(p.nr), p.dy = fnew(p.ny);
    fill(p.x, p.nx, seed, -1, 1);
    /* weights of the scale Keras's initializers give (about 1 / sqrt(fan-in)), at most 0.6: a
     * larger recurrent kernel makes the recurrence chaotic and float rounding grow with T */
    const float sk = fminf(0.6f, 1.5f / sqrtf((float)g->F));
    const float sr = fminf(0.6f, 1.5f / sqrtf((float)g->U));
    fill(p.k, p.nk, seed + 1, -sk, sk);
    fill(p.r, p.nr, seed + 2, -sr, sr);
    fill(p.dy, p.ny, seed + 3, -1, 1);
    if (!c->nobias) {
        p.b = fnew(p.nb);
        fill(p.b, p.nb, seed + 4, -0.4f, 0.4f);
    }
    if (c->mask) {
        p.mask = fnew(g->N * g->T);
        mask_fill(p.mask, g, c->mask, seed + 5);
    }
    if (c->drop) p.drop = drop_new(g->N * g->F, seed + 6);
    if (c->rdrop) p.rdrop = drop_new(g->N * g->U, seed + 7);
    p.xd = to_d(p.x, p.nx), p.kd = to_d(p.k, p.nk), p.rd = to_d(p.r, p.nr);
    p.bd = p.b ? to_d(p.b, p.nb) : NULL, p.dyd = to_d(p.dy, p.ny);
    /* exactly the sizes asked for: ASan sees any write past them */
    p.work = malloc((size_t)keel_rnn_work_floats(g) * sizeof *p.work);
    p.rwork = malloc((size_t)keel_rnn_ref_work_doubles(g) * sizeof *p.rwork);
    cr_assert(p.work && p.rwork);
    return p;
}

static void prob_free(prob *p) {
    free(p->x), free(p->k), free(p->r), free(p->b), free(p->mask), free(p->drop);
    free(p->rdrop), free(p->dy), free(p->work), free(p->xd), free(p->kd), free(p->rd);
    free(p->bd), free(p->dyd), free(p->rwork);
}

static keel_rnn_weights wts(const prob *p) {
    return (keel_rnn_weights){p->k, p->r, p->b};
}
static keel_rnn_weights_ref wts_ref(const prob *p) {
    return (keel_rnn_weights_ref){p->kd, p->rd, p->bd};
}
static keel_rnn_masks msk(const prob *p) {
    return (keel_rnn_masks){p->mask, p->drop, p->rdrop};
}

static void describe(const rcase *c, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%s N=%lld T=%lld F=%lld U=%lld%s%s%s%s%s%s act %s/%s",
             keel_rnn_cell_name(c->cell), c->cell == KEEL_RNN_GRU && !c->reset_after ? "(v1)" : "",
             (long long)c->N, (long long)c->T, (long long)c->F, (long long)c->U,
             c->back ? " backwards" : "", c->seq ? " sequences" : " last",
             c->mask ? (c->mask == MASK_POST  ? " mask-post"
                        : c->mask == MASK_PRE ? " mask-pre"
                                              : " mask-holes")
                     : "",
             c->drop ? " dropout" : "", c->rdrop ? " rec-dropout" : "", c->nobias ? " no-bias" : "",
             keel_act_name(c->act ? c->act : KEEL_ACT_TANH),
             keel_act_name(c->rec ? c->rec : KEEL_ACT_SIGMOID));
}

/* ================================================================== fast vs reference */

#define LSTM KEEL_RNN_LSTM
#define GRU KEEL_RNN_GRU
#define SIMPLE KEEL_RNN_SIMPLE

/* cell, N, T, F, U, back, seq, reset_after, drop, rdrop, nobias, mask, act, rec */
static const rcase CASES[] = {
    {LSTM, 3, 5, 4, 7, 0, 1, 0, 0, 0, 0, MASK_NONE, 0, 0},
    {LSTM, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, MASK_NONE, 0, 0},
    {LSTM, 2, 7, 3, 17, 1, 1, 0, 0, 0, 0, MASK_POST, 0, 0},
    {LSTM, 5, 4, 6, 33, 0, 0, 0, 1, 1, 0, MASK_HOLES, 0, 0},
    {LSTM, 4, 3, 2, 16, 1, 0, 0, 0, 0, 1, MASK_PRE, KEEL_ACT_RELU, KEEL_ACT_HARD_SIGMOID},
    {LSTM, 3, 4, 3, 9, 0, 1, 0, 1, 0, 0, MASK_POST, KEEL_ACT_GELU, KEEL_ACT_SWISH},
    {LSTM, 8, 5, 10, 64, 1, 1, 0, 0, 1, 0, MASK_HOLES, 0, 0},
    {GRU, 3, 5, 4, 7, 0, 1, 1, 0, 0, 0, MASK_NONE, 0, 0},
    {GRU, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, MASK_NONE, 0, 0},
    {GRU, 2, 7, 3, 17, 1, 1, 1, 0, 0, 0, MASK_POST, 0, 0},
    {GRU, 5, 4, 6, 33, 0, 0, 1, 1, 1, 0, MASK_HOLES, KEEL_ACT_ELU, 0},
    {GRU, 4, 3, 2, 16, 1, 1, 1, 0, 0, 1, MASK_PRE, KEEL_ACT_SOFTSIGN, KEEL_ACT_HARD_SIGMOID},
    {GRU, 12, 5, 10, 64, 0, 1, 1, 0, 1, 0, MASK_HOLES, KEEL_ACT_GELU, 0},
    {GRU, 3, 5, 4, 7, 0, 1, 0, 0, 0, 0, MASK_NONE, 0, 0},
    {GRU, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, MASK_NONE, 0, 0},
    {GRU, 2, 7, 3, 17, 1, 1, 0, 1, 1, 0, MASK_POST, 0, 0},
    {GRU, 5, 4, 6, 33, 0, 0, 0, 0, 1, 1, MASK_HOLES, KEEL_ACT_SWISH, KEEL_ACT_SIGMOID},
    {GRU, 12, 5, 10, 64, 1, 1, 0, 0, 0, 0, MASK_PRE, 0, 0},
    {SIMPLE, 3, 5, 4, 7, 0, 1, 0, 0, 0, 0, MASK_NONE, 0, 0},
    {SIMPLE, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, MASK_NONE, 0, 0},
    {SIMPLE, 2, 7, 3, 17, 1, 1, 0, 1, 1, 0, MASK_POST, KEEL_ACT_RELU, 0},
    {SIMPLE, 5, 4, 6, 33, 0, 0, 0, 0, 0, 1, MASK_HOLES, KEEL_ACT_SELU, 0},
    {SIMPLE, 16, 6, 10, 100, 1, 1, 0, 0, 1, 0, MASK_PRE, KEEL_ACT_LEAKY_RELU, 0},
    /* fewer than two samples per thread on 2 and 3 threads: the steps are cut by units */
    {LSTM, 3, 4, 5, 130, 1, 1, 0, 1, 1, 0, MASK_HOLES, 0, 0},
    {GRU, 2, 3, 4, 140, 0, 1, 1, 0, 1, 0, MASK_POST, 0, 0},
    {GRU, 3, 3, 3, 150, 1, 0, 0, 1, 0, 0, MASK_PRE, 0, 0},
    {SIMPLE, 1, 5, 3, 400, 0, 1, 0, 0, 1, 0, MASK_NONE, 0, 0},
};
#define NCASES (int)(sizeof CASES / sizeof CASES[0])

/* gradients of the fast kernels: forward, then backward with dy (overwrite) */
typedef struct fgrads {
    float *y, *dx, *dk, *dr, *db;
} fgrads;

static fgrads fast_run(prob *p) {
    fgrads f = {fnew(p->ny), fnew(p->nx), fnew(p->nk), fnew(p->nr), fnew(p->nb)};
    keel_rnn_forward(&p->g, p->x, wts(p), msk(p), NULL, f.y, p->work);
    keel_rnn_grads gr = {f.dx, f.dk, f.dr, f.db, false, false};
    keel_rnn_backward(&p->g, p->x, wts(p), msk(p), NULL, p->dy, gr, p->work);
    return f;
}

static void fgrads_free(fgrads *f) {
    free(f->y), free(f->dx), free(f->dk), free(f->dr), free(f->db);
}

Test(rnn, fast_matches_reference) {
    for (int i = 0; i < NCASES; i++) {
        const rcase *c = &CASES[i];
        char ctx[200];
        describe(c, ctx, sizeof ctx);
        prob p = prob_new(c, 100 + (uint64_t)i);
        double *yr = dnew(p.ny), *dx = dnew(p.nx), *dk = dnew(p.nk), *dr = dnew(p.nr);
        double *db = dnew(p.nb);
        keel_rnn_forward_ref(&p.g, p.xd, wts_ref(&p), msk(&p), NULL, yr, p.rwork);
        keel_rnn_backward_ref(&p.g, p.xd, wts_ref(&p), msk(&p), NULL, p.dyd,
                              (keel_rnn_grads_ref){dx, dk, dr, db}, p.rwork);
        for (int threads = 1; threads <= 3; threads++) {
            keel_set_threads(threads);
            fgrads f = fast_run(&p);
            char tctx[240];
            snprintf(tctx, sizeof tctx, "%s, %d thread%s", ctx, threads, threads > 1 ? "s" : "");
            expect_near(tctx, "y", f.y, yr, p.ny, 1e-5, 2e-6);
            expect_near(tctx, "dx", f.dx, dx, p.nx, 1e-4, 1e-5);
            expect_near(tctx, "dkernel", f.dk, dk, p.nk, 1e-4, 1e-5);
            expect_near(tctx, "drec_kernel", f.dr, dr, p.nr, 1e-4, 1e-5);
            if (p.b) expect_near(tctx, "dbias", f.db, db, p.nb, 1e-4, 1e-5);
            fgrads_free(&f);
        }
        keel_set_threads(0);
        free(yr), free(dx), free(dk), free(dr), free(db);
        prob_free(&p);
    }
}

/* Accumulate mode adds to what is there; NULL gradients are skipped without changing the
 * others; a second forward + backward on the same workspace gives the same numbers. */
Test(rnn, accumulate_null_and_repeat) {
    const int pick[] = {2, 10, 15, 20};
    for (size_t q = 0; q < sizeof pick / sizeof pick[0]; q++) {
        const rcase *c = &CASES[pick[q]];
        char ctx[200];
        describe(c, ctx, sizeof ctx);
        prob p = prob_new(c, 500 + q);
        fgrads f = fast_run(&p);
        fgrads a = {fnew(p.ny), fnew(p.nx), fnew(p.nk), fnew(p.nr), fnew(p.nb)};
        fill(a.dx, p.nx, 1, -1, 1), fill(a.dk, p.nk, 2, -1, 1), fill(a.dr, p.nr, 3, -1, 1);
        fill(a.db, p.nb, 4, -1, 1);
        double *want[4] = {to_d(a.dx, p.nx), to_d(a.dk, p.nk), to_d(a.dr, p.nr), to_d(a.db, p.nb)};
        for (int64_t j = 0; j < p.nx; j++)
            want[0][j] += f.dx[j];
        for (int64_t j = 0; j < p.nk; j++)
            want[1][j] += f.dk[j];
        for (int64_t j = 0; j < p.nr; j++)
            want[2][j] += f.dr[j];
        for (int64_t j = 0; j < p.nb; j++)
            want[3][j] += f.db[j];
        keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), NULL, a.y, p.work);
        cr_expect(!memcmp(a.y, f.y, (size_t)p.ny * sizeof *a.y), "%s: second forward differs", ctx);
        keel_rnn_backward(&p.g, p.x, wts(&p), msk(&p), NULL, p.dy,
                          (keel_rnn_grads){a.dx, a.dk, a.dr, a.db, true, true}, p.work);
        expect_near(ctx, "dx (accumulated)", a.dx, want[0], p.nx, 1e-6, 1e-7);
        expect_near(ctx, "dkernel (accumulated)", a.dk, want[1], p.nk, 1e-6, 1e-7);
        expect_near(ctx, "drec_kernel (accumulated)", a.dr, want[2], p.nr, 1e-6, 1e-7);
        if (p.b) expect_near(ctx, "dbias (accumulated)", a.db, want[3], p.nb, 1e-6, 1e-7);
        /* only dx, then only the recurrent kernel */
        float *dx = fnew(p.nx), *dr = fnew(p.nr);
        keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), NULL, a.y, p.work);
        keel_rnn_backward(&p.g, p.x, wts(&p), msk(&p), NULL, p.dy, (keel_rnn_grads){.dx = dx},
                          p.work);
        cr_expect(!memcmp(dx, f.dx, (size_t)p.nx * sizeof *dx), "%s: dx alone differs", ctx);
        keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), NULL, a.y, p.work);
        keel_rnn_backward(&p.g, p.x, wts(&p), msk(&p), NULL, p.dy,
                          (keel_rnn_grads){.drec_kernel = dr}, p.work);
        cr_expect(!memcmp(dr, f.dr, (size_t)p.nr * sizeof *dr), "%s: drec alone differs", ctx);
        free(dx), free(dr);
        for (int k = 0; k < 4; k++)
            free(want[k]);
        fgrads_free(&f), fgrads_free(&a);
        prob_free(&p);
    }
}

/* Whether a step's work is cut by samples or by units, the forward on 2 and 3 threads agrees
 * with 1 thread to float rounding (not always bit for bit: keel_gemm may take another kernel for
 * a thread's fewer rows or columns), and the same thread count repeats itself exactly. */
Test(rnn, forward_same_on_any_thread_count) {
    const int pick[] = {6, 12, 17, 22, 23, 24, 25, 26};
    for (size_t q = 0; q < sizeof pick / sizeof pick[0]; q++) {
        prob p = prob_new(&CASES[pick[q]], 700 + q);
        float *y1 = fnew(p.ny), *y = fnew(p.ny), *again = fnew(p.ny);
        keel_set_threads(1);
        keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), NULL, y1, p.work);
        double *want = to_d(y1, p.ny);
        for (int threads = 2; threads <= 3; threads++) {
            keel_set_threads(threads);
            keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), NULL, y, p.work);
            keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), NULL, again, p.work);
            char ctx[64];
            snprintf(ctx, sizeof ctx, "case %d on %d threads", pick[q], threads);
            expect_near(ctx, "y", y, want, p.ny, 1e-6, 1e-7);
            cr_expect(!memcmp(y, again, (size_t)p.ny * sizeof *y), "%s: a second run differs", ctx);
        }
        keel_set_threads(0);
        free(y1), free(y), free(again), free(want);
        prob_free(&p);
    }
}

/* ================================================================== finite differences */

/* L = sum(y * dy) by the reference, in double */
static double ref_loss(prob *p, double *y) {
    keel_rnn_forward_ref(&p->g, p->xd, wts_ref(p), msk(p), NULL, y, p->rwork);
    double s = 0;
    for (int64_t i = 0; i < p->ny; i++)
        s += y[i] * p->dyd[i];
    return s;
}

/* smooth activations only (a kink would need its own tolerance), every mask and flag */
static const rcase FD_CASES[] = {
    {LSTM, 2, 3, 2, 3, 1, 1, 0, 1, 1, 0, MASK_POST, 0, 0},
    {LSTM, 3, 4, 2, 3, 0, 0, 0, 0, 0, 0, MASK_HOLES, KEEL_ACT_GELU, KEEL_ACT_SWISH},
    {GRU, 2, 3, 2, 3, 0, 1, 1, 1, 1, 0, MASK_PRE, KEEL_ACT_ELU, 0},
    {GRU, 3, 4, 2, 3, 1, 0, 1, 0, 0, 1, MASK_HOLES, 0, 0},
    {GRU, 2, 3, 2, 3, 1, 1, 0, 1, 1, 0, MASK_HOLES, 0, 0},
    {GRU, 3, 3, 1, 2, 0, 0, 0, 0, 0, 0, MASK_POST, KEEL_ACT_SOFTSIGN, 0},
    {SIMPLE, 3, 4, 2, 3, 0, 1, 0, 1, 1, 0, MASK_HOLES, KEEL_ACT_SOFTSIGN, 0},
    {SIMPLE, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, MASK_NONE, 0, 0},
};

/* Every coordinate of x and of each weight: (L(v + e) - L(v - e)) / 2e with e = 1e-6, whose
 * truncation error (about e^2 L''') and rounding (1e-16 |L| / e) both stay below 1e-9. */
Test(rnn, reference_gradients_match_finite_differences) {
    for (size_t i = 0; i < sizeof FD_CASES / sizeof FD_CASES[0]; i++) {
        const rcase *c = &FD_CASES[i];
        char ctx[200];
        describe(c, ctx, sizeof ctx);
        prob p = prob_new(c, 900 + i);
        double *y = dnew(p.ny), *g[4] = {dnew(p.nx), dnew(p.nk), dnew(p.nr), dnew(p.nb)};
        keel_rnn_backward_ref(&p.g, p.xd, wts_ref(&p), msk(&p), NULL, p.dyd,
                              (keel_rnn_grads_ref){g[0], g[1], g[2], g[3]}, p.rwork);
        double *v[4] = {p.xd, p.kd, p.rd, p.bd};
        const int64_t n[4] = {p.nx, p.nk, p.nr, p.bd ? p.nb : 0};
        static const char *const names[4] = {"x", "kernel", "rec_kernel", "bias"};
        const double eps = 1e-6;
        for (int a = 0; a < 4; a++)
            for (int64_t j = 0; j < n[a]; j++) {
                const double v0 = v[a][j];
                v[a][j] = v0 + eps;
                const double lp = ref_loss(&p, y);
                v[a][j] = v0 - eps;
                const double lm = ref_loss(&p, y);
                v[a][j] = v0;
                const double num = (lp - lm) / (2 * eps);
                cr_expect(fabs(num - g[a][j]) <= 1e-6 * fabs(num) + 1e-8,
                          "%s: dL/d%s[%lld]: backward %.12g, numeric %.12g", ctx, names[a],
                          (long long)j, g[a][j], num);
            }
        free(y);
        for (int a = 0; a < 4; a++)
            free(g[a]);
        prob_free(&p);
    }
}

/* L = sum(y * dy) by the fast forward (float), summed in double */
static double fast_loss(prob *p, float *y) {
    keel_rnn_forward(&p->g, p->x, wts(p), msk(p), NULL, y, p->work);
    double s = 0;
    for (int64_t i = 0; i < p->ny; i++)
        s += (double)y[i] * p->dy[i];
    return s;
}

/* The fast backward along one random direction d of (x, kernel, rec_kernel, bias) at once:
 * (L(v + e d) - L(v - e d)) / 2e against g . d, e = 1e-3 (float rounding of L, about
 * 1e-7 |L| per term, over 2e stays near 1e-4 of the derivative). */
Test(rnn, fast_backward_matches_finite_differences) {
    const int pick[] = {0, 2, 3, 5, 7, 9, 10, 13, 15, 16, 18};
    for (size_t q = 0; q < sizeof pick / sizeof pick[0]; q++) {
        const rcase *c = &CASES[pick[q]];
        char ctx[200];
        describe(c, ctx, sizeof ctx);
        prob p = prob_new(c, 1100 + q);
        fgrads f = fast_run(&p);
        float *v[4] = {p.x, p.k, p.r, p.b}, *g[4] = {f.dx, f.dk, f.dr, f.db};
        const int64_t n[4] = {p.nx, p.nk, p.nr, p.b ? p.nb : 0};
        float *v0[4], *d[4];
        double ana = 0;
        for (int a = 0; a < 4; a++) {
            v0[a] = fnew(n[a]), d[a] = fnew(n[a]);
            if (n[a]) memcpy(v0[a], v[a], (size_t)n[a] * sizeof *v[a]);
            fill(d[a], n[a], 40 + (uint64_t)a, -1, 1);
            for (int64_t j = 0; j < n[a]; j++)
                ana += (double)g[a][j] * d[a][j];
        }
        const float eps = 1e-3f;
        double l[2];
        for (int side = 0; side < 2; side++) {
            for (int a = 0; a < 4; a++)
                for (int64_t j = 0; j < n[a]; j++)
                    v[a][j] = v0[a][j] + (side ? -eps : eps) * d[a][j];
            l[side] = fast_loss(&p, f.y);
        }
        const double num = (l[0] - l[1]) / (2.0 * eps);
        cr_expect(fabs(num - ana) <= 2e-3 * fabs(ana) + 1e-3,
                  "%s: directional %.7g (backward) vs %.7g (numeric)", ctx, ana, num);
        for (int a = 0; a < 4; a++)
            free(v0[a]), free(d[a]);
        fgrads_free(&f);
        prob_free(&p);
    }
}

/* ================================================================== against tf.keras 2.15 */

static const char *const FX_ACTS[] = {"tanh", "sigmoid", "hard_sigmoid", "softsign", "relu"};

static const fx_rec *fx_find(const fx_file *f, const char *cs, const char *what, bool need) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", cs, what);
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->r[i].name, name)) return &f->r[i];
    if (need) cr_assert_fail("%s: no record %s (regenerate the fixtures?)", f->path, name);
    return NULL;
}

static const double *fx_vals(const fx_file *f, const char *cs, const char *what, int64_t n) {
    const fx_rec *r = fx_find(f, cs, what, true);
    cr_assert(r->n == n, "%s: record %s has %d values, expected %lld", f->path, r->name, r->n,
              (long long)n);
    return r->v;
}

static float *fx_floats(const fx_file *f, const char *cs, const char *what, int64_t n) {
    const double *v = fx_vals(f, cs, what, n);
    float *p = fnew(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)v[i];
    return p;
}

/* A case's geometry and arrays from its records (config as the script's docstring lists). */
static prob fx_prob(const fx_file *f, const char *cs) {
    const double *cfg = fx_vals(f, cs, "config", 11);
    static const keel_rnn_cell cells[3] = {KEEL_RNN_SIMPLE, KEEL_RNN_LSTM, KEEL_RNN_GRU};
    prob p = {.g = {.cell = cells[(int)cfg[0]],
                    .N = (int64_t)cfg[1],
                    .T = (int64_t)cfg[2],
                    .F = (int64_t)cfg[3],
                    .U = (int64_t)cfg[4],
                    .return_sequences = cfg[5] != 0,
                    .go_backwards = cfg[6] != 0,
                    .reset_after = cfg[7] != 0}};
    cr_assert_eq(keel_act_parse(FX_ACTS[(int)cfg[9]], &p.g.act, "activation"), KEEL_OK);
    cr_assert_eq(keel_act_parse(FX_ACTS[(int)cfg[10]], &p.g.rec_act, "rec"), KEEL_OK);
    cr_assert_eq(keel_rnn_geom_check(&p.g, cs), KEEL_OK, "%s", keel_last_error());
    const keel_rnn_geom *g = &p.g;
    p.nx = g->N * g->T * g->F, p.nk = keel_rnn_kernel_floats(g);
    p.nr = keel_rnn_rec_kernel_floats(g), p.nb = keel_rnn_bias_floats(g);
    p.ny = keel_rnn_y_floats(g);
    p.x = fx_floats(f, cs, "x", p.nx);
    p.k = fx_floats(f, cs, "kernel", p.nk);
    p.r = fx_floats(f, cs, "recurrent_kernel", p.nr);
    cr_assert_eq(fx_find(f, cs, "bias", false) != NULL, cfg[8] != 0, "%s: use_bias", cs);
    if (cfg[8] != 0) p.b = fx_floats(f, cs, "bias", p.nb);
    if (fx_find(f, cs, "mask", false)) p.mask = fx_floats(f, cs, "mask", g->N * g->T);
    p.dy = fx_floats(f, cs, "r", p.ny);
    p.xd = to_d(p.x, p.nx), p.kd = to_d(p.k, p.nk), p.rd = to_d(p.r, p.nr);
    p.bd = p.b ? to_d(p.b, p.nb) : NULL, p.dyd = to_d(p.dy, p.ny);
    p.work = malloc((size_t)keel_rnn_work_floats(g) * sizeof *p.work);
    p.rwork = malloc((size_t)keel_rnn_ref_work_doubles(g) * sizeof *p.rwork);
    cr_assert(p.work && p.rwork);
    return p;
}

Test(rnn, matches_keras) {
    fx_file f;
    fx_load_from(&f, "keras_rnn.txt", "make_rnn_fixtures.py");
    int ncase = 0;
    for (int i = 0; i < f.n; i++) {
        const char *nm = f.r[i].name, *dot = strchr(nm, '.');
        if (!dot || strcmp(dot, ".config")) continue;
        char cs[64];
        snprintf(cs, sizeof cs, "%.*s", (int)(dot - nm), nm);
        ncase++;
        prob p = fx_prob(&f, cs);
        const double *want[5] = {fx_vals(&f, cs, "y", p.ny), fx_vals(&f, cs, "dx", p.nx),
                                 fx_vals(&f, cs, "dkernel", p.nk),
                                 fx_vals(&f, cs, "drecurrent_kernel", p.nr),
                                 p.b ? fx_vals(&f, cs, "dbias", p.nb) : NULL};
        static const char *const what[5] = {"y", "dL/dx", "dL/dkernel", "dL/drecurrent_kernel",
                                            "dL/dbias"};
        const int64_t n[5] = {p.ny, p.nx, p.nk, p.nr, p.nb};
        for (int threads = 1; threads <= 2; threads++) {
            keel_set_threads(threads);
            fgrads fg = fast_run(&p);
            float *got[5] = {fg.y, fg.dx, fg.dk, fg.dr, fg.db};
            char ctx[96];
            snprintf(ctx, sizeof ctx, "%s (fast, %d thread%s)", cs, threads,
                     threads > 1 ? "s" : "");
            for (int k = 0; k < 5; k++)
                if (want[k])
                    expect_near(ctx, what[k], got[k], want[k], n[k], k ? 1e-4 : 1e-5,
                                k ? 1e-5 : 1e-6);
            fgrads_free(&fg);
        }
        keel_set_threads(0);
        /* the reference too, rounded to float for the comparison */
        double *dref[5] = {dnew(p.ny), dnew(p.nx), dnew(p.nk), dnew(p.nr), dnew(p.nb)};
        keel_rnn_forward_ref(&p.g, p.xd, wts_ref(&p), msk(&p), NULL, dref[0], p.rwork);
        keel_rnn_backward_ref(&p.g, p.xd, wts_ref(&p), msk(&p), NULL, p.dyd,
                              (keel_rnn_grads_ref){dref[1], dref[2], dref[3], dref[4]}, p.rwork);
        char ctx[96];
        snprintf(ctx, sizeof ctx, "%s (reference)", cs);
        for (int k = 0; k < 5; k++) {
            float *r = fnew(n[k]);
            for (int64_t j = 0; j < n[k]; j++)
                r[j] = (float)dref[k][j];
            if (want[k])
                expect_near(ctx, what[k], r, want[k], n[k], k ? 1e-4 : 1e-5, k ? 1e-5 : 1e-6);
            free(r), free(dref[k]);
        }
        prob_free(&p);
    }
    cr_expect_eq(ncase, 18, "%d cases in keras_rnn.txt, expected 18", ncase);
    fx_free(&f);
}

/* With a mask, padding before or after the real steps gives the same final state (the
 * fixtures hold the same sequences both ways). */
Test(rnn, pre_and_post_padding_same_final_state) {
    fx_file f;
    fx_load_from(&f, "keras_rnn.txt", "make_rnn_fixtures.py");
    static const char *const cells[] = {"lstm", "gru", "simple"};
    for (int c = 0; c < 3; c++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%s_mask_post", cells[c]);
        snprintf(b, sizeof b, "%s_mask_pre", cells[c]);
        prob pa = fx_prob(&f, a), pb = fx_prob(&f, b);
        float *ya = fnew(pa.ny), *yb = fnew(pb.ny);
        keel_rnn_forward(&pa.g, pa.x, wts(&pa), msk(&pa), NULL, ya, pa.work);
        keel_rnn_forward(&pb.g, pb.x, wts(&pb), msk(&pb), NULL, yb, pb.work);
        const int64_t N = pa.g.N, T = pa.g.T, U = pa.g.U;
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = 0; j < U; j++) {
                const float va = ya[(n * T + T - 1) * U + j], vb = yb[(n * T + T - 1) * U + j];
                cr_expect(fabsf(va - vb) <= 1e-6f, "%s: sample %lld unit %lld: post %.9g, pre %.9g",
                          cells[c], (long long)n, (long long)j, va, vb);
            }
        free(ya), free(yb);
        prob_free(&pa), prob_free(&pb);
    }
    fx_free(&f);
}

/* ================================================================== pieces */

/* keel_rnn_act_forward's sigmoid and tanh against libm in double: within 3 ulp of the exact
 * value over a log grid of +-1e-30 .. 120 and a fine linear grid of -20 .. 20 (sigmoid below
 * -87, under 2e-38 where the exact value is smaller still); NaN stays NaN, infinities give the
 * limits. */
Test(rnn, vector_sigmoid_tanh_accuracy) {
    const int64_t cap = 2000000;
    float *x = fnew(cap), *ys = fnew(cap), *yt = fnew(cap);
    int64_t n = 0;
    for (double v = 1e-30; v < 120 && n + 2 <= cap; v *= 1.0005)
        x[n++] = (float)v, x[n++] = (float)-v;
    for (int i = -200000; i <= 200000 && n < cap; i++)
        x[n++] = (float)i * 1e-4f;
    keel_rnn_act_forward((keel_act){KEEL_ACT_SIGMOID, 0}, x, ys, n);
    keel_rnn_act_forward((keel_act){KEEL_ACT_TANH, 0}, x, yt, n);
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i], s = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v)), t = tanh(v);
        const double us = nextafterf((float)s, INFINITY) - (float)s;
        const double ut = nextafterf((float)fabs(t), INFINITY) - (float)fabs(t);
        if (v >= -87 && fabs(ys[i] - s) > 3 * us) {
            cr_expect(0, "sigmoid(%.9g): %.9g, exact %.12g", v, ys[i], s);
            break;
        }
        if (v < -87 && !(ys[i] >= 0 && ys[i] < 2e-38f)) {
            cr_expect(0, "sigmoid(%.9g): %.9g, exact %.12g", v, ys[i], s);
            break;
        }
        if (fabs(yt[i] - t) > 3 * ut) {
            cr_expect(0, "tanh(%.9g): %.9g, exact %.12g", v, yt[i], t);
            break;
        }
    }
    float sp[3] = {NAN, INFINITY, -INFINITY}, o[3];
    keel_rnn_act_forward((keel_act){KEEL_ACT_SIGMOID, 0}, sp, o, 3);
    cr_expect(isnan(o[0]) && o[1] == 1.0f && o[2] >= 0 && o[2] < 2e-38f);
    keel_rnn_act_forward((keel_act){KEEL_ACT_TANH, 0}, sp, o, 3);
    cr_expect(isnan(o[0]) && o[1] == 1.0f && o[2] == -1.0f);
    free(x), free(ys), free(yt);
}

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

Test(rnn, geometry_errors) {
    const keel_rnn_geom ok = {.cell = KEEL_RNN_LSTM,
                              .N = 2,
                              .T = 3,
                              .F = 4,
                              .U = 5,
                              .act = {KEEL_ACT_TANH, 0},
                              .rec_act = {KEEL_ACT_SIGMOID, 0}};
    cr_expect_eq(keel_rnn_geom_check(&ok, "lstm_1"), KEEL_OK);
    keel_rnn_geom g = ok;
    g.U = 0;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_1"), KEEL_ERR_ARG);
    EXPECT_MSG("lstm_1: LSTM units must be positive, got 0");
    g = ok, g.T = 0;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_2"), KEEL_ERR_SHAPE);
    EXPECT_MSG("lstm_2: LSTM expects input (batch, timesteps, features) with each positive, got "
               "(2, 0, 4)");
    g = ok, g.cell = KEEL_RNN_GRU, g.F = -1;
    cr_expect_eq(keel_rnn_geom_check(&g, "gru_1"), KEEL_ERR_SHAPE);
    EXPECT_MSG("gru_1: GRU expects input");
    g = ok, g.N = (int64_t)1 << 30, g.T = (int64_t)1 << 20;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_3"), KEEL_ERR_SHAPE);
    EXPECT_MSG("lstm_3: LSTM with 5 units on input (1073741824, 1048576, 4) is too large");
    g = ok, g.U = (int64_t)1 << 40;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_4"), KEEL_ERR_SHAPE);
    EXPECT_MSG("too large");
    g = ok, g.U = INT64_MAX; /* G * U would overflow before any product is checked */
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_4"), KEEL_ERR_SHAPE);
    EXPECT_MSG("too large");
    g = ok, g.F = INT64_MAX;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_4"), KEEL_ERR_SHAPE);
    EXPECT_MSG("too large");
    g = ok, g.act.kind = KEEL_ACT_SOFTMAX;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_5"), KEEL_ERR_ARG);
    EXPECT_MSG("lstm_5: LSTM activation softmax is not elementwise");
    g = ok, g.rec_act.kind = KEEL_ACT_LOG_SOFTMAX;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_6"), KEEL_ERR_ARG);
    EXPECT_MSG("lstm_6: LSTM recurrent_activation log_softmax is not elementwise");
    g = ok, g.cell = KEEL_RNN_SIMPLE, g.rec_act.kind = KEEL_ACT_SOFTMAX; /* unused: fine */
    cr_expect_eq(keel_rnn_geom_check(&g, "simple_rnn"), KEEL_OK);
    g = ok, g.reset_after = true;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_7"), KEEL_ERR_ARG);
    EXPECT_MSG("lstm_7: reset_after applies to GRU only, not LSTM");
    g = ok, g.cell = KEEL_RNN_CELL_COUNT;
    cr_expect_eq(keel_rnn_geom_check(&g, "rnn_1"), KEEL_ERR_ARG);
    EXPECT_MSG("rnn_1: unknown recurrent cell 3");
    g = ok, g.act.kind = KEEL_ACT_COUNT;
    cr_expect_eq(keel_rnn_geom_check(&g, "lstm_8"), KEEL_ERR_ARG);
    EXPECT_MSG("lstm_8: LSTM activation");
}

/* The sizes the layers will allocate by: weights as Keras counts them, workspace linear in N
 * (a layer sizes it once for its largest batch). */
Test(rnn, sizes) {
    keel_rnn_geom g = {.cell = KEEL_RNN_LSTM,
                       .N = 32,
                       .T = 80,
                       .F = 64,
                       .U = 128,
                       .act = {KEEL_ACT_TANH, 0},
                       .rec_act = {KEEL_ACT_SIGMOID, 0}};
    /* Keras: LSTM(128) on 64 features has 4 * (128 * (64 + 128) + 128) = 98816 weights */
    cr_expect_eq(keel_rnn_kernel_floats(&g) + keel_rnn_rec_kernel_floats(&g) +
                     keel_rnn_bias_floats(&g),
                 98816);
    g.cell = KEEL_RNN_GRU, g.reset_after = true; /* 3 * (128 * (64 + 128) + 2 * 128) */
    cr_expect_eq(keel_rnn_kernel_floats(&g) + keel_rnn_rec_kernel_floats(&g) +
                     keel_rnn_bias_floats(&g),
                 74496);
    g.reset_after = false;
    cr_expect_eq(keel_rnn_bias_floats(&g), 384);
    cr_expect_eq(keel_rnn_y_floats(&g), 32 * 128);
    g.return_sequences = true;
    cr_expect_eq(keel_rnn_y_floats(&g), 32 * 80 * 128);
    for (int c = 0; c < KEEL_RNN_CELL_COUNT; c++) {
        g.cell = (keel_rnn_cell)c, g.reset_after = c == KEEL_RNN_GRU;
        g.N = 1;
        const int64_t w1 = keel_rnn_work_floats(&g);
        g.N = 2;
        const int64_t w2 = keel_rnn_work_floats(&g);
        g.N = 32;
        cr_expect_eq(keel_rnn_work_floats(&g), w1 + 31 * (w2 - w1), "%s", keel_rnn_cell_name(c));
    }
}
