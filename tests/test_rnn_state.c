/* test_rnn_state.c: the recurrent kernels' states (src/kernels/rnn.h, keel_rnn_state): an initial
 * state h0 (and c0 for LSTM) entering the first step, the final states leaving the last, the
 * gradients that flow in through the final states and out through the initial ones, and
 * zero_masked_output (Bidirectional's outputs at padded steps).
 *
 * Evidence, as in test_rnn.c: the fast kernels against the references in double (1 to 3
 * threads, cut by samples and by units), the references' gradients against central differences
 * of L = sum(y r) + sum(h dh) + sum(c dc) in every coordinate of x, h0, c0 and the weights, the
 * fast backward along a random direction of all of them at once, and the facts the layers
 * build on: a sample with no real step ends in its initial state and hands dh back unchanged;
 * h0 = NULL is h0 = 0; the final h is the last output unless that output was zeroed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rnn.h"

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
        p[i] = lo + (hi - lo) * keel_rand_uniform(seed, 29, (uint64_t)i);
}

static double *to_d(const float *p, int64_t n) {
    double *d = dnew(n);
    for (int64_t i = 0; p && i < n; i++)
        d[i] = p[i];
    return d;
}

/* |got - want| <= rtol |want| + atol max|want|; names the first index that is not */
static void expect_near(const char *ctx, const char *what, const float *got, const double *want,
                        int64_t n, double rtol, double atol) {
    double scale = 1e-3;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= rtol * fabs(want[i]) + atol * scale)) {
            cr_expect(0, "%s: %s[%lld]: fast %.9g, reference %.9g", ctx, what, (long long)i, got[i],
                      want[i]);
            return;
        }
}

enum { MASK_NONE, MASK_LEN, MASK_HOLES };

/* h0: an initial state is given; zero: zero_masked_output */
typedef struct scase {
    keel_rnn_cell cell;
    int64_t N, T, F, U;
    bool back, seq, reset_after, drop, rdrop, zero, h0;
    int mask;
    keel_act_kind act;
} scase;

#define LSTM KEEL_RNN_LSTM
#define GRU KEEL_RNN_GRU
#define SIMPLE KEEL_RNN_SIMPLE

/* cell, N, T, F, U, back, seq, reset_after, drop, rdrop, zero, h0, mask, act. MASK_LEN gives
 * sample n T - n real steps first (mod T + 1): with N > T one sample has none. */
static const scase CASES[] = {
    {LSTM, 3, 4, 3, 5, 0, 0, 0, 0, 0, 0, 1, MASK_NONE, 0},
    {LSTM, 4, 3, 2, 17, 1, 1, 0, 0, 1, 1, 1, MASK_LEN, 0},
    {LSTM, 5, 4, 3, 9, 0, 1, 0, 1, 0, 0, 1, MASK_HOLES, KEEL_ACT_GELU},
    {LSTM, 3, 4, 3, 6, 1, 0, 0, 0, 0, 0, 0, MASK_LEN, 0},
    {GRU, 3, 4, 3, 5, 0, 1, 1, 0, 0, 0, 1, MASK_NONE, 0},
    {GRU, 4, 3, 2, 17, 1, 0, 1, 1, 1, 0, 1, MASK_LEN, 0},
    {GRU, 5, 4, 3, 9, 0, 1, 1, 0, 0, 1, 1, MASK_HOLES, KEEL_ACT_SOFTSIGN},
    {GRU, 3, 4, 3, 5, 0, 1, 0, 0, 1, 0, 1, MASK_NONE, 0},
    {GRU, 4, 3, 2, 17, 1, 1, 0, 1, 1, 1, 1, MASK_LEN, 0},
    {GRU, 3, 4, 3, 6, 0, 0, 0, 0, 0, 0, 0, MASK_HOLES, 0},
    {SIMPLE, 3, 4, 3, 5, 0, 0, 0, 0, 0, 0, 1, MASK_NONE, 0},
    {SIMPLE, 4, 3, 2, 17, 1, 1, 0, 1, 1, 1, 1, MASK_LEN, KEEL_ACT_SOFTSIGN},
    {SIMPLE, 5, 4, 3, 9, 0, 1, 0, 0, 0, 0, 0, MASK_HOLES, 0},
    /* fewer than two samples per thread on 2 and 3 threads: cut by units */
    {LSTM, 3, 3, 4, 130, 1, 1, 0, 1, 1, 1, 1, MASK_HOLES, 0},
    {GRU, 2, 3, 3, 140, 0, 0, 1, 0, 1, 0, 1, MASK_LEN, 0},
    {GRU, 3, 3, 3, 150, 1, 1, 0, 1, 0, 1, 1, MASK_LEN, 0},
    {SIMPLE, 1, 4, 3, 400, 0, 1, 0, 0, 1, 0, 1, MASK_NONE, 0},
};
#define NCASES (int)(sizeof CASES / sizeof CASES[0])

/* one problem: every array in float and in double; the states' inputs (h0, c0, dh, dc) and the
 * outputs the fast kernels write (y, h, c, dx, dk, dr, db, dh0, dc0) */
typedef struct prob {
    keel_rnn_geom g;
    int64_t nx, nk, nr, nb, ny, ns;
    float *x, *k, *r, *b, *mask, *drop, *rdrop, *dy, *h0, *c0, *dh, *dc, *work;
    double *xd, *kd, *rd, *bd, *dyd, *h0d, *c0d, *dhd, *dcd, *rwork;
    float *y, *h, *c, *dx, *dk, *dr, *db, *dh0, *dc0;
} prob;

static void describe(const scase *c, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%s N=%lld T=%lld U=%lld%s%s%s%s%s%s mask %d", keel_rnn_cell_name(c->cell),
             c->cell == GRU && !c->reset_after ? "(v1)" : "", (long long)c->N, (long long)c->T,
             (long long)c->U, c->back ? " backwards" : "", c->seq ? " sequences" : " last",
             c->drop ? " dropout" : "", c->rdrop ? " rec-dropout" : "",
             c->zero ? " zero-masked-output" : "", c->h0 ? " h0" : " no-h0", c->mask);
}

static prob prob_new(const scase *c, uint64_t seed) {
    prob p = {.g = {.cell = c->cell,
                    .N = c->N,
                    .T = c->T,
                    .F = c->F,
                    .U = c->U,
                    .go_backwards = c->back,
                    .return_sequences = c->seq,
                    .reset_after = c->cell == GRU && c->reset_after,
                    .dropout = c->drop,
                    .recurrent_dropout = c->rdrop,
                    .zero_masked_output = c->zero}};
    keel_rnn_geom *g = &p.g;
    g->act.kind = c->act ? c->act : KEEL_ACT_TANH;
    g->rec_act.kind = KEEL_ACT_SIGMOID;
    cr_assert_eq(keel_rnn_geom_check(g, "test"), KEEL_OK, "%s", keel_last_error());
    p.nx = g->N * g->T * g->F, p.nk = keel_rnn_kernel_floats(g);
    p.nr = keel_rnn_rec_kernel_floats(g), p.nb = keel_rnn_bias_floats(g);
    p.ny = keel_rnn_y_floats(g), p.ns = g->N * g->U;
    p.x = fnew(p.nx), p.k = fnew(p.nk), p.r = fnew(p.nr), p.b = fnew(p.nb), p.dy = fnew(p.ny);
    fill(p.x, p.nx, seed, -1, 1);
    const float sk = fminf(0.6f, 1.5f / sqrtf((float)g->F));
    const float sr = fminf(0.6f, 1.5f / sqrtf((float)g->U));
    fill(p.k, p.nk, seed + 1, -sk, sk), fill(p.r, p.nr, seed + 2, -sr, sr);
    fill(p.b, p.nb, seed + 3, -0.4f, 0.4f), fill(p.dy, p.ny, seed + 4, -1, 1);
    p.dh = fnew(p.ns), p.dc = fnew(p.ns);
    fill(p.dh, p.ns, seed + 5, -1, 1), fill(p.dc, p.ns, seed + 6, -1, 1);
    if (c->h0) {
        p.h0 = fnew(p.ns), p.c0 = fnew(p.ns);
        fill(p.h0, p.ns, seed + 7, -0.9f, 0.9f), fill(p.c0, p.ns, seed + 8, -1.5f, 1.5f);
    }
    if (c->mask) {
        p.mask = fnew(g->N * g->T);
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t t = 0; t < g->T; t++)
                p.mask[n * g->T + t] =
                    c->mask == MASK_LEN
                        ? t < (g->T - n % (g->T + 1))
                        : n != 1 && keel_rand_uniform(seed, 9, (uint64_t)(n * g->T + t)) < 0.6f;
    }
    if (c->drop) {
        p.drop = fnew(g->N * g->F);
        for (int64_t i = 0; i < g->N * g->F; i++)
            p.drop[i] = keel_rand_uniform(seed, 10, (uint64_t)i) < 0.7f ? 1 / 0.7f : 0;
    }
    if (c->rdrop) {
        p.rdrop = fnew(p.ns);
        for (int64_t i = 0; i < p.ns; i++)
            p.rdrop[i] = keel_rand_uniform(seed, 11, (uint64_t)i) < 0.7f ? 1 / 0.7f : 0;
    }
    p.xd = to_d(p.x, p.nx), p.kd = to_d(p.k, p.nk), p.rd = to_d(p.r, p.nr);
    p.bd = to_d(p.b, p.nb), p.dyd = to_d(p.dy, p.ny), p.dhd = to_d(p.dh, p.ns);
    p.dcd = to_d(p.dc, p.ns);
    p.h0d = p.h0 ? to_d(p.h0, p.ns) : NULL, p.c0d = p.c0 ? to_d(p.c0, p.ns) : NULL;
    p.work = malloc((size_t)keel_rnn_work_floats(g) * sizeof *p.work);
    p.rwork = malloc((size_t)keel_rnn_ref_work_doubles(g) * sizeof *p.rwork);
    cr_assert(p.work && p.rwork);
    p.y = fnew(p.ny), p.h = fnew(p.ns), p.c = fnew(p.ns), p.dx = fnew(p.nx), p.dk = fnew(p.nk);
    p.dr = fnew(p.nr), p.db = fnew(p.nb), p.dh0 = fnew(p.ns), p.dc0 = fnew(p.ns);
    return p;
}

static void prob_free(prob *p) {
    float *f[] = {p->x,  p->k,  p->r,  p->b,   p->mask, p->drop, p->rdrop, p->dy,
                  p->h0, p->c0, p->dh, p->dc,  p->y,    p->h,    p->c,     p->dx,
                  p->dk, p->dr, p->db, p->dh0, p->dc0,  p->work};
    double *d[] = {p->xd, p->kd, p->rd, p->bd, p->dyd, p->h0d, p->c0d, p->dhd, p->dcd, p->rwork};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        free(f[i]);
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        free(d[i]);
}

static keel_rnn_weights wts(const prob *p) {
    return (keel_rnn_weights){p->k, p->r, p->b};
}
static keel_rnn_masks msk(const prob *p) {
    return (keel_rnn_masks){p->mask, p->drop, p->rdrop};
}
static keel_rnn_state sts(prob *p) {
    return (keel_rnn_state){p->h0, p->c0, p->h, p->c, p->dh, p->dc, p->dh0, p->dc0, false, false};
}

/* the fast forward and backward with every state in play */
static void fast_run(prob *p) {
    keel_rnn_state s = sts(p);
    keel_rnn_forward(&p->g, p->x, wts(p), msk(p), &s, p->y, p->work);
    keel_rnn_backward(&p->g, p->x, wts(p), msk(p), &s, p->dy,
                      (keel_rnn_grads){p->dx, p->dk, p->dr, p->db, false, false}, p->work);
}

/* the reference's y, h, c and gradients, in order y h c dx dk dr db dh0 dc0 */
#define NOUT 9
static void ref_run(prob *p, double *out[NOUT]) {
    const int64_t n[NOUT] = {p->ny, p->ns, p->ns, p->nx, p->nk, p->nr, p->nb, p->ns, p->ns};
    for (int k = 0; k < NOUT; k++)
        out[k] = dnew(n[k]);
    keel_rnn_state_ref s = {p->h0d, p->c0d, out[1], out[2], p->dhd, p->dcd, out[7], out[8]};
    keel_rnn_weights_ref w = {p->kd, p->rd, p->bd};
    keel_rnn_forward_ref(&p->g, p->xd, w, msk(p), &s, out[0], p->rwork);
    keel_rnn_backward_ref(&p->g, p->xd, w, msk(p), &s, p->dyd,
                          (keel_rnn_grads_ref){out[3], out[4], out[5], out[6]}, p->rwork);
}

static const char *const OUT_NAMES[NOUT] = {"y",           "h",     "c",   "dx", "dkernel",
                                            "drec_kernel", "dbias", "dh0", "dc0"};

Test(rnn_state, fast_matches_reference) {
    for (int i = 0; i < NCASES; i++) {
        char ctx[200];
        describe(&CASES[i], ctx, sizeof ctx);
        prob p = prob_new(&CASES[i], 100 + 20 * (uint64_t)i);
        double *want[NOUT];
        ref_run(&p, want);
        const bool lstm = p.g.cell == LSTM;
        for (int threads = 1; threads <= 3; threads++) {
            keel_set_threads(threads);
            fast_run(&p);
            const float *got[NOUT] = {p.y, p.h, p.c, p.dx, p.dk, p.dr, p.db, p.dh0, p.dc0};
            const int64_t n[NOUT] = {p.ny, p.ns, p.ns, p.nx, p.nk, p.nr, p.nb, p.ns, p.ns};
            char tctx[240];
            snprintf(tctx, sizeof tctx, "%s, %d threads", ctx, threads);
            for (int k = 0; k < NOUT; k++)
                if (lstm || (k != 2 && k != 8))
                    expect_near(tctx, OUT_NAMES[k], got[k], want[k], n[k], k < 3 ? 1e-5 : 1e-4,
                                k < 3 ? 2e-6 : 1e-5);
        }
        keel_set_threads(0);
        for (int k = 0; k < NOUT; k++)
            free(want[k]);
        prob_free(&p);
    }
}

/* What the layers rely on, exactly: a sample with no real step ends in its initial state and
 * passes dL/dh (and dL/dc) straight back to h0 (c0); h0 = NULL is the zero state; the final h is
 * the last output unless zero_masked_output zeroed it; accumulate adds to what is there. */
Test(rnn_state, semantics) {
    for (int i = 0; i < NCASES; i++) {
        const scase *c = &CASES[i];
        char ctx[200];
        describe(c, ctx, sizeof ctx);
        prob p = prob_new(c, 300 + (uint64_t)i);
        fast_run(&p);
        const int64_t N = p.g.N, T = p.g.T, U = p.g.U;
        const bool lstm = c->cell == LSTM;
        for (int64_t n = 0; n < N; n++) {
            bool any = !p.mask;
            for (int64_t t = 0; p.mask && t < T; t++)
                any |= p.mask[n * T + t] != 0;
            for (int64_t j = 0; j < U; j++) {
                const int64_t q = n * U + j;
                const float h0 = p.h0 ? p.h0[q] : 0, c0 = p.c0 ? p.c0[q] : 0;
                if (!any) { /* every output was zeros (Keras's), whatever h0 */
                    cr_expect(p.h[q] == h0 && p.dh0[q] == p.dh[q],
                              "%s: sample %lld: h %g (h0 %g), dh0 %g (dh %g)", ctx, (long long)n,
                              p.h[q], h0, p.dh0[q], p.dh[q]);
                    for (int64_t s = 0; s < (c->seq ? T : 1); s++)
                        cr_expect(p.y[c->seq ? (n * T + s) * U + j : q] == 0, "%s: y", ctx);
                    if (lstm)
                        cr_expect(p.c[q] == c0 && p.dc0[q] == p.dc[q], "%s: sample %lld c", ctx,
                                  (long long)n);
                }
                const float last = c->seq ? p.y[(n * T + T - 1) * U + j] : p.y[q];
                const int64_t tl = c->back ? 0 : T - 1;
                const bool zeroed = !any || (c->zero && p.mask && p.mask[n * T + tl] == 0);
                cr_expect(zeroed ? last == 0 : last == p.h[q], "%s: final h %lld: %g vs last %g",
                          ctx, (long long)q, p.h[q], last);
            }
        }
        /* accumulate: dh0 += and dc0 += */
        float *before = fnew(2 * p.ns), *dh0 = fnew(p.ns), *dc0 = fnew(p.ns);
        memcpy(dh0, p.dh0, (size_t)p.ns * sizeof *dh0), memcpy(dc0, p.dc0, (size_t)p.ns * 4);
        fill(before, 2 * p.ns, 77, -1, 1);
        memcpy(p.dh0, before, (size_t)p.ns * 4), memcpy(p.dc0, before + p.ns, (size_t)p.ns * 4);
        keel_rnn_state s = sts(&p);
        s.accumulate_dh0 = s.accumulate_dc0 = true;
        keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), &s, p.y, p.work);
        keel_rnn_backward(&p.g, p.x, wts(&p), msk(&p), &s, p.dy, (keel_rnn_grads){.dx = NULL},
                          p.work);
        for (int64_t q = 0; q < p.ns; q++) {
            cr_expect(fabsf(p.dh0[q] - (before[q] + dh0[q])) <= 1e-6f, "%s: dh0 accumulated", ctx);
            if (lstm)
                cr_expect(fabsf(p.dc0[q] - (before[p.ns + q] + dc0[q])) <= 1e-6f,
                          "%s: dc0 accumulated", ctx);
        }
        free(before), free(dh0), free(dc0);
        /* no state at all is the zero state */
        if (!c->h0) {
            float *y0 = fnew(p.ny);
            keel_rnn_forward(&p.g, p.x, wts(&p), msk(&p), NULL, y0, p.work);
            cr_expect(!memcmp(y0, p.y, (size_t)p.ny * sizeof *y0), "%s: NULL state differs", ctx);
            free(y0);
        }
        prob_free(&p);
    }
}

/* L = sum(y r) + sum(h dh) + sum(c dc), by the reference */
static double ref_loss(prob *p, double *y, double *h, double *c) {
    keel_rnn_state_ref s = {.h0 = p->h0d, .c0 = p->c0d, .h = h, .c = c};
    keel_rnn_forward_ref(&p->g, p->xd, (keel_rnn_weights_ref){p->kd, p->rd, p->bd}, msk(p), &s, y,
                         p->rwork);
    double l = 0;
    for (int64_t i = 0; i < p->ny; i++)
        l += y[i] * p->dyd[i];
    for (int64_t i = 0; i < p->ns; i++)
        l += h[i] * p->dhd[i] + (p->g.cell == LSTM ? c[i] * p->dcd[i] : 0);
    return l;
}

/* every coordinate of x, h0, c0 and the weights: (L(v + e) - L(v - e)) / 2e, e = 1e-6 */
Test(rnn_state, reference_gradients_match_finite_differences) {
    static const scase FD[] = {
        {LSTM, 3, 3, 2, 3, 1, 1, 0, 1, 1, 1, 1, MASK_LEN, 0},
        {LSTM, 2, 3, 2, 3, 0, 0, 0, 0, 0, 0, 1, MASK_HOLES, KEEL_ACT_GELU},
        {GRU, 4, 3, 2, 3, 0, 1, 1, 1, 1, 1, 1, MASK_LEN, 0},
        {GRU, 3, 3, 2, 3, 1, 0, 0, 0, 1, 0, 1, MASK_HOLES, 0},
        {GRU, 3, 3, 2, 3, 0, 1, 0, 1, 0, 1, 1, MASK_LEN, KEEL_ACT_SOFTSIGN},
        {SIMPLE, 4, 3, 2, 3, 1, 1, 0, 1, 1, 1, 1, MASK_LEN, 0},
        {SIMPLE, 2, 3, 2, 3, 0, 0, 0, 0, 0, 0, 1, MASK_NONE, KEEL_ACT_SOFTSIGN},
    };
    for (size_t i = 0; i < sizeof FD / sizeof *FD; i++) {
        char ctx[200];
        describe(&FD[i], ctx, sizeof ctx);
        prob p = prob_new(&FD[i], 900 + 10 * i);
        double *g[NOUT];
        ref_run(&p, g);
        double *y = dnew(p.ny), *h = dnew(p.ns), *c = dnew(p.ns);
        const bool lstm = p.g.cell == LSTM;
        double *v[6] = {p.xd, p.h0d, lstm ? p.c0d : NULL, p.kd, p.rd, p.bd};
        double *gv[6] = {g[3], g[7], g[8], g[4], g[5], g[6]};
        const int64_t n[6] = {p.nx, p.ns, p.ns, p.nk, p.nr, p.nb};
        static const char *const names[6] = {"x", "h0", "c0", "kernel", "rec_kernel", "bias"};
        const double eps = 1e-6;
        for (int a = 0; a < 6; a++)
            for (int64_t j = 0; v[a] && j < n[a]; j++) {
                const double v0 = v[a][j];
                v[a][j] = v0 + eps;
                const double lp = ref_loss(&p, y, h, c);
                v[a][j] = v0 - eps;
                const double lm = ref_loss(&p, y, h, c);
                v[a][j] = v0;
                const double num = (lp - lm) / (2 * eps);
                cr_expect(fabs(num - gv[a][j]) <= 1e-6 * fabs(num) + 1e-8,
                          "%s: dL/d%s[%lld]: backward %.12g, numeric %.12g", ctx, names[a],
                          (long long)j, gv[a][j], num);
            }
        free(y), free(h), free(c);
        for (int k = 0; k < NOUT; k++)
            free(g[k]);
        prob_free(&p);
    }
}

/* the same L by the fast forward, summed in double */
static double fast_loss(prob *p) {
    keel_rnn_state s = sts(p);
    keel_rnn_forward(&p->g, p->x, wts(p), msk(p), &s, p->y, p->work);
    double l = 0;
    for (int64_t i = 0; i < p->ny; i++)
        l += (double)p->y[i] * p->dy[i];
    for (int64_t i = 0; i < p->ns; i++)
        l += (double)p->h[i] * p->dh[i] + (p->g.cell == LSTM ? (double)p->c[i] * p->dc[i] : 0);
    return l;
}

/* the fast backward along one random direction of (x, h0, c0, kernel, rec_kernel, bias) */
Test(rnn_state, fast_backward_matches_finite_differences) {
    for (int i = 0; i < NCASES; i++) {
        const scase *c = &CASES[i];
        if (!c->h0 || c->U > 64) continue; /* long sums: float rounding outgrows the step */
        char ctx[200];
        describe(c, ctx, sizeof ctx);
        prob p = prob_new(c, 1300 + (uint64_t)i);
        fast_run(&p);
        float *v[6] = {p.x, p.h0, p.c0, p.k, p.r, p.b};
        float *gr[6] = {p.dx, p.dh0, p.dc0, p.dk, p.dr, p.db};
        const int64_t n[6] = {p.nx, p.ns, c->cell == LSTM ? p.ns : 0, p.nk, p.nr, p.nb};
        float *v0[6], *d[6];
        double ana = 0;
        for (int a = 0; a < 6; a++) {
            v0[a] = fnew(n[a]), d[a] = fnew(n[a]);
            if (n[a]) memcpy(v0[a], v[a], (size_t)n[a] * sizeof(float));
            fill(d[a], n[a], 50 + (uint64_t)a, -1, 1);
            for (int64_t j = 0; j < n[a]; j++)
                ana += (double)gr[a][j] * d[a][j];
        }
        const float eps = 1e-3f;
        double l[2];
        for (int side = 0; side < 2; side++) {
            for (int a = 0; a < 6; a++)
                for (int64_t j = 0; j < n[a]; j++)
                    v[a][j] = v0[a][j] + (side ? -eps : eps) * d[a][j];
            l[side] = fast_loss(&p);
        }
        const double num = (l[0] - l[1]) / (2.0 * eps);
        cr_expect(fabs(num - ana) <= 2e-3 * fabs(ana) + 1e-3,
                  "%s: directional %.7g (backward) vs %.7g (numeric)", ctx, ana, num);
        for (int a = 0; a < 6; a++)
            free(v0[a]), free(d[a]);
        prob_free(&p);
    }
}
