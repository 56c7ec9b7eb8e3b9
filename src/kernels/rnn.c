/* rnn.c: the recurrent kernels' frame: geometry checks and sizes, the workspace plan, the
 * reordering of the gate columns, the big GEMMs before and after the steps, the step driver
 * and its threads, and SimpleRNN's steps. LSTM's steps are in rnn_lstm.c, GRU's in rnn_gru.c,
 * the references in rnn_ref.c.
 *
 * Why the gate columns are reordered: a step's gates for unit j need column j of every gate
 * block (i, f, c, o for LSTM), which Keras keeps U columns apart. keel copies the kernels once
 * per forward into blocks of 16 units with all their gates side by side, so a gate pass reads 4
 * consecutive vectors per block (one loop, one AVX-512 vector per gate), and a range of units
 * is one contiguous range of columns (one GEMM call computes exactly its gates). The copies
 * cost (F + U) * G * U floats per call, nothing beside the N * T * G * U of the projections.
 *
 * How the steps use threads. Samples are independent, so the batch is cut into one range of
 * samples per thread and each thread runs every step of its range alone: one parallel region
 * for the whole sequence, no meeting between steps. The other cut, by units, needs a meeting
 * per step (step s+1 needs all of h_s): one region per step, each thread a GEMM on its units'
 * columns and their gates. On the LSTM(128) of the benchmark (N = 32, T = 80, F = 64, forward
 * and backward, BLIS skx, 2 threads, 10 runs each) the unit cut was faster on an idle machine
 * (median 7.35 ms vs 8.3: each thread's GEMM has all 32 rows, which BLIS runs better than 16),
 * but with one other busy process it took 39-64 ms against 27-34 for the sample cut (1 thread:
 * 25): a thread the kernel deschedules holds its partner at the next step's meeting. keel runs
 * on machines shared with other work (see parallel.c), so samples are cut whenever there are at
 * least two per thread; units only for a smaller batch (one sample predicted by a wide layer).
 * Below RNN_PAR_MIN multiply-adds per step everything runs on the calling thread. */
#include "rnn_impl.h"

#include <stdio.h>

/* multiply-adds of one step's recurrent GEMM below which the steps run on one thread */
#define RNN_PAR_MIN 100000

static const char *const cell_names[] = {"SimpleRNN", "LSTM", "GRU", NULL};
_Static_assert(sizeof cell_names / sizeof cell_names[0] == KEEL_RNN_CELL_COUNT + 1,
               "a name for each keel_rnn_cell");

const char *keel_rnn_cell_name(keel_rnn_cell c) {
    return (unsigned)c < KEEL_RNN_CELL_COUNT ? cell_names[c] : "?";
}

int keel_rnn_gates(keel_rnn_cell c) {
    return c == KEEL_RNN_LSTM ? 4 : c == KEEL_RNN_GRU ? 3 : 1;
}

static bool act_ok(keel_act a) {
    return (unsigned)a.kind < KEEL_ACT_COUNT && a.kind != KEEL_ACT_SOFTMAX &&
           a.kind != KEEL_ACT_LOG_SOFTMAX;
}

keel_status keel_rnn_geom_check(const keel_rnn_geom *g, const char *what) {
    if ((unsigned)g->cell >= KEEL_RNN_CELL_COUNT)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: unknown recurrent cell %d", what, (int)g->cell);
    const char *cell = keel_rnn_cell_name(g->cell);
    if (g->U <= 0)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: %s units must be positive, got %lld", what, cell,
                  (long long)g->U);
    if (g->N <= 0 || g->T <= 0 || g->F <= 0)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "%s: %s expects input (batch, timesteps, features) with each positive, got "
                  "(%lld, %lld, %lld)",
                  what, cell, (long long)g->N, (long long)g->T, (long long)g->F);
    /* the largest arrays: N*T rows of F + several G*U columns, and the two kernels; a bound
     * of 2^40 floats keeps every product below in int64_t */
    int64_t nt, cols, rows, a, b;
    const int64_t big = (int64_t)1 << 40;
    const int64_t GU = keel_rnn_gates(g->cell) * KEEL_MIN(g->U, big); /* no overflow here */
    if (g->U > big || g->F > big || !keel_mul_ok(g->N, g->T, &nt) ||
        !keel_mul_ok(g->F + 4 * GU, 1, &cols) || !keel_mul_ok(nt, cols, &a) ||
        a > ((int64_t)1 << 40) || !keel_mul_ok(g->F + g->U, 1, &rows) ||
        !keel_mul_ok(rows, GU, &b) || b > ((int64_t)1 << 40))
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: %s with %lld units on input (%lld, %lld, %lld) is too large",
                  what, cell, (long long)g->U, (long long)g->N, (long long)g->T, (long long)g->F);
    if (!act_ok(g->act))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: %s activation %s is not elementwise (softmax and log_softmax act along "
                  "an axis); use tanh, relu, sigmoid, ...",
                  what, cell, keel_act_name(g->act.kind));
    if (g->cell != KEEL_RNN_SIMPLE && !act_ok(g->rec_act))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "%s: %s recurrent_activation %s is not elementwise; use sigmoid, "
                  "hard_sigmoid, ...",
                  what, cell, keel_act_name(g->rec_act.kind));
    if (g->reset_after && g->cell != KEEL_RNN_GRU)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: reset_after applies to GRU only, not %s", what, cell);
    return KEEL_OK;
}

int64_t keel_rnn_kernel_floats(const keel_rnn_geom *g) {
    return g->F * keel_rnn_gates(g->cell) * g->U;
}
int64_t keel_rnn_rec_kernel_floats(const keel_rnn_geom *g) {
    return g->U * keel_rnn_gates(g->cell) * g->U;
}
int64_t keel_rnn_bias_floats(const keel_rnn_geom *g) {
    int64_t GU = keel_rnn_gates(g->cell) * g->U;
    return g->cell == KEEL_RNN_GRU && g->reset_after ? 2 * GU : GU;
}
int64_t keel_rnn_y_floats(const keel_rnn_geom *g) {
    return g->return_sequences ? g->N * g->T * g->U : g->N * g->U;
}

/* the next n floats of the workspace, rounded up to 64 bytes; NULL when only counting */
static float *take(float *work, int64_t *off, int64_t n) {
    float *p = work ? work + *off : NULL;
    *off += (n + 15) / 16 * 16;
    return p;
}

/* The workspace holds, in this order: the reordered weights, the projections and gates of every
 * step (what the backward reads back), the states, the optional arrays (pre-activations,
 * dropped x and h, each cell's extras), the backward's per-step carries, then the weight
 * gradients before they are put back in Keras's order. Arrays start on 64-byte boundaries so
 * that a full block of 16 floats is one aligned vector when the caller's work is aligned. */
int64_t keel_rnn_plan_init(const keel_rnn_geom *g, float *work, rnn_plan *p) {
    memset(p, 0, sizeof *p);
    const int64_t N = g->N, NT = g->N * g->T, U = g->U, F = g->F;
    const bool gru = g->cell == KEEL_RNN_GRU, lstm = g->cell == KEEL_RNN_LSTM;
    p->g = g;
    p->G = keel_rnn_gates(g->cell);
    p->Gb = gru && !g->reset_after ? 2 : p->G;
    p->GU = p->G * U;
    p->nb = (U + RNN_B - 1) / RNN_B;
    /* sigmoid, tanh and the like differentiate from their outputs, which Z keeps; gelu and
     * swish need their inputs too, kept in P (SimpleRNN has no recurrent activation) */
    p->need_pre = keel_act_needs_input(g->act.kind) ||
                  (g->cell != KEEL_RNN_SIMPLE && keel_act_needs_input(g->rec_act.kind));
    const int64_t GU = p->GU;
    int64_t off = 0;
    p->Wp = take(work, &off, F * GU);
    p->Rp = take(work, &off, U * GU);
    p->RpT = take(work, &off, GU * U);
    p->bp = take(work, &off, 2 * GU);
    p->Z = take(work, &off, NT * GU);
    if (p->need_pre) p->P = take(work, &off, NT * GU);
    p->Hp = take(work, &off, NT * U);
    p->Hin = g->recurrent_dropout ? take(work, &off, NT * U) : p->Hp;
    if (g->dropout) p->Xd = take(work, &off, NT * F);
    if (lstm) {
        p->C = take(work, &off, NT * U);
        p->A = take(work, &off, NT * U);
    }
    if (gru) {
        p->HR = take(work, &off, NT * U);
        p->S = take(work, &off, N * GU);
        if (g->reset_after) p->DS = take(work, &off, NT * GU);
    }
    for (int i = 0; i < 4; i++)
        p->e[i] = take(work, &off, N * U);
    p->dWt = take(work, &off, GU * F);
    p->dRt = take(work, &off, GU * U);
    p->dbp = take(work, &off, RNN_PARTS_MAX * 2 * GU);
    /* N int64, in 16 floats per sample: a whole 64-byte line each keeps the plan linear in N */
    p->first = (int64_t *)(void *)take(work, &off, 16 * N);
    return off;
}

int64_t keel_rnn_work_floats(const keel_rnn_geom *g) {
    rnn_plan p;
    return keel_rnn_plan_init(g, NULL, &p);
}

/* The plan for one call: the caller's masks decide whether Xd and the separate Hin are used
 * (a geometry sized for dropout may still be called without a mask). */
static void plan_bind(const keel_rnn_geom *g, float *work, const keel_rnn_masks *m, rnn_plan *p) {
    keel_rnn_plan_init(g, work, p);
    KEEL_ASSERT(!m->dropout || g->dropout);
    KEEL_ASSERT(!m->rec_dropout || g->recurrent_dropout);
    if (!m->dropout) p->Xd = NULL;
    if (!m->rec_dropout) p->Hin = p->Hp;
}

/* ---- the reordered layout (rnn_col): one row of a kernel or bias at a time, a block's gate
 * (up to 16 floats) per copy */

static void reorder_row(const rnn_plan *p, const float *src, float *dst) {
    const int64_t U = p->g->U;
    for (int gate = 0; gate < p->G; gate++)
        for (int64_t j0 = 0; j0 < U; j0 += RNN_B)
            memcpy(dst + rnn_col(p, gate, j0), src + gate * U + j0,
                   (size_t)KEEL_MIN(RNN_B, U - j0) * sizeof *dst);
}

/* dst (rows, G*U) (+)= the transpose of src (GU, rows) put back in Keras's column order:
 * dst[r, gate*U + j] comes from src[rnn_col(gate, j), r]. Row by row of dst, a block's gate
 * (16 columns of src) at a time: the 16 source lines stay in L1 for 16 rows. */
static void unreorder_t(const rnn_plan *p, const float *src, float *dst, int64_t rows,
                        bool accumulate) {
    const int64_t U = p->g->U, GU = p->GU;
    for (int64_t r = 0; r < rows; r++)
        for (int gate = 0; gate < p->G; gate++)
            for (int64_t j0 = 0; j0 < U; j0 += RNN_B) {
                const float *s = src + rnn_col(p, gate, j0) * rows + r;
                float *d = dst + r * GU + gate * U + j0;
                const int64_t w = KEEL_MIN(RNN_B, U - j0);
                if (accumulate)
                    for (int64_t j = 0; j < w; j++)
                        d[j] += s[j * rows];
                else
                    for (int64_t j = 0; j < w; j++)
                        d[j] = s[j * rows];
            }
}

static void unreorder_row(const rnn_plan *p, const float *src, float *dst, bool accumulate) {
    const int64_t U = p->g->U;
    for (int gate = 0; gate < p->G; gate++)
        for (int64_t j = 0; j < U; j++) {
            const float v = src[rnn_col(p, gate, j)];
            dst[gate * U + j] = accumulate ? dst[gate * U + j] + v : v;
        }
}

typedef struct drop_job {
    const float *x, *mask;
    float *out;
    int64_t T, F;
} drop_job;

/* rows r = (n, t) of out = x * mask[n] */
static void drop_rows(void *ctx, int64_t lo, int64_t hi) {
    const drop_job *j = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->F, *md = j->mask + (r / j->T) * j->F;
        float *o = j->out + r * j->F;
#pragma omp simd
        for (int64_t f = 0; f < j->F; f++)
            o[f] = x[f] * md[f];
    }
}

void keel_rnn_project(const rnn_plan *p, const float *x, keel_rnn_weights w,
                      const keel_rnn_masks *m) {
    const keel_rnn_geom *g = p->g;
    const int64_t NT = g->N * g->T, F = g->F, U = g->U, GU = p->GU;
    /* the weights may change between calls (an optimizer step): reordered on every forward */
    for (int64_t f = 0; f < F; f++)
        reorder_row(p, w.kernel + f * GU, p->Wp + f * GU);
    for (int64_t u = 0; u < U; u++)
        reorder_row(p, w.rec_kernel + u * GU, p->Rp + u * GU);
    memset(p->bp, 0, 2 * (size_t)GU * sizeof *p->bp);
    if (w.bias) {
        reorder_row(p, w.bias, p->bp);
        if (g->cell == KEEL_RNN_GRU && g->reset_after) reorder_row(p, w.bias + GU, p->bp + GU);
    }
    /* the dropped input is kept: the backward's dW needs x as the product saw it */
    if (p->Xd) {
        drop_job j = {x, m->dropout, p->Xd, g->T, F};
        keel_parallel_for(NT, NT * F, drop_rows, &j);
        x = p->Xd;
    }
    /* Z (N*T, GU) = X (N*T, F) @ Wp (F, GU): every step's input projection at once; the
     * biases are added in the gate passes */
    keel_gemm(false, false, NT, GU, F, 1.0f, x, F, p->Wp, GU, 0.0f, p->Z, GU);
}

void keel_rnn_input_grads(const rnn_plan *p, const float *x, keel_rnn_weights w,
                          const keel_rnn_masks *m, keel_rnn_grads gr) {
    const keel_rnn_geom *g = p->g;
    const int64_t NT = g->N * g->T, F = g->F, GU = p->GU;
    const float *X = p->Xd ? p->Xd : x;
    /* dWt (GU, F) = dZ^T (GU, N*T) @ X (N*T, F), X as the forward multiplied it */
    if (gr.dkernel) keel_gemm(true, false, GU, F, NT, 1.0f, p->Z, GU, X, F, 0.0f, p->dWt, F);
    if (!gr.dx) return;
    if (!p->Xd) { /* dx (N*T, F) (+)= dZ @ Wp^T */
        keel_gemm(false, true, NT, F, GU, 1.0f, p->Z, GU, p->Wp, GU, gr.accumulate_dx ? 1.0f : 0.0f,
                  gr.dx, F);
        return;
    }
    /* with dropout, d(x * mask) = dZ @ Wp^T lands in Xd (no longer needed), then times the
     * mask into dx */
    keel_gemm(false, true, NT, F, GU, 1.0f, p->Z, GU, p->Wp, GU, 0.0f, p->Xd, F);
    for (int64_t r = 0; r < NT; r++) {
        const float *d = p->Xd + r * F, *md = m->dropout + (r / g->T) * F;
        float *o = gr.dx + r * F;
        if (gr.accumulate_dx) {
#pragma omp simd
            for (int64_t f = 0; f < F; f++)
                o[f] += d[f] * md[f];
        } else {
#pragma omp simd
            for (int64_t f = 0; f < F; f++)
                o[f] = d[f] * md[f];
        }
    }
}

void keel_rnn_rec_grad(const rnn_plan *p, const float *A, const float *D, int64_t c0, int64_t c1) {
    const keel_rnn_geom *g = p->g;
    const int64_t NT = g->N * g->T, U = g->U, GU = p->GU;
    keel_gemm(true, false, c1 - c0, U, NT, 1.0f, D + c0, GU, A, U, 0.0f, p->dRt + c0 * U, U);
}

void keel_rnn_scatter_grads(const rnn_plan *p, keel_rnn_weights w, keel_rnn_grads gr,
                            bool want_rec) {
    const keel_rnn_geom *g = p->g;
    const int64_t F = g->F, U = g->U, GU = p->GU;
    const bool acc = gr.accumulate_dw;
    if (gr.dkernel) unreorder_t(p, p->dWt, gr.dkernel, F, acc);
    if (want_rec) unreorder_t(p, p->dRt, gr.drec_kernel, U, acc);
    if (gr.dbias && w.bias) {
        unreorder_row(p, p->dbp, gr.dbias, acc);
        if (g->cell == KEEL_RNN_GRU && g->reset_after)
            unreorder_row(p, p->dbp + GU, gr.dbias + GU, acc);
    }
}

/* ---- the step driver */

void keel_rnn_gemm(rnn_range r, int64_t cols, int64_t K, const float *A, int64_t lda,
                   const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    keel_gemm(false, false, r.n1 - r.n0, cols, K, 1.0f, A + r.n0 * lda, lda, B, ldb, beta,
              C + r.n0 * ldc, ldc);
}

typedef struct run_ctx {
    rnn_step st;          /* the template: p, m, y, dy (and the step, cutting by units) */
    rnn_part_fn phase[2]; /* the cell's functions for one step, the second may be NULL */
    rnn_part_fn cur;      /* cutting by units: the phase running now */
    bool backward;
    int64_t parts;
} run_ctx;

static void set_step(rnn_step *st, int64_t s) {
    const keel_rnn_geom *g = st->p->g;
    const int64_t T = g->T;
#define TIME_OF(k) (g->go_backwards ? T - 1 - (k) : (k))
    st->s = s;
    st->t = TIME_OF(s);
    st->tprev = s > 0 ? TIME_OF(s - 1) : -1;
    st->tnext = s + 1 < T ? TIME_OF(s + 1) : -1;
#undef TIME_OF
}

/* cut by samples: part q runs every step of samples [N q / parts, N (q+1) / parts) */
static void run_samples(void *ctx, int64_t lo, int64_t hi) {
    const run_ctx *c = ctx;
    const keel_rnn_geom *g = c->st.p->g;
    for (int64_t q = lo; q < hi; q++) {
        const rnn_range r = {g->N * q / c->parts, g->N * (q + 1) / c->parts, 0, g->U,
                             c->st.p->dbp + q * 2 * c->st.p->GU};
        if (r.n0 == r.n1) continue;
        rnn_step st = c->st;
        for (int64_t i = 0; i < g->T; i++) {
            set_step(&st, c->backward ? g->T - 1 - i : i);
            for (int ph = 0; ph < 2; ph++)
                if (c->phase[ph]) c->phase[ph](&st, r);
        }
    }
}

/* cut by units: part q runs the current phase of the current step on unit blocks
 * [nb q / parts, nb (q+1) / parts) of every sample */
static void run_units(void *ctx, int64_t lo, int64_t hi) {
    const run_ctx *c = ctx;
    const rnn_plan *p = c->st.p;
    for (int64_t q = lo; q < hi; q++) {
        const int64_t k0 = p->nb * q / c->parts, k1 = p->nb * (q + 1) / c->parts;
        const rnn_range r = {0, p->g->N, k0 * RNN_B, KEEL_MIN(k1 * RNN_B, p->g->U), p->dbp};
        if (k0 < k1) c->cur(&c->st, r);
    }
}

void keel_rnn_run_steps(const rnn_plan *p, const keel_rnn_masks *m, float *y, const float *dy,
                        bool backward, rnn_part_fn phase0, rnn_part_fn phase1) {
    const keel_rnn_geom *g = p->g;
    run_ctx c = {
        .st = {.p = p, .m = m, .y = y, .dy = dy}, .phase = {phase0, phase1}, .backward = backward};
    const int64_t threads = keel_threads();
    if (threads < 2 || g->N * g->U * p->GU < RNN_PAR_MIN) {
        c.parts = 1;
        run_samples(&c, 0, 1);
        return;
    }
    if (g->N >= 2 * threads) {
        c.parts = KEEL_MIN(KEEL_MIN(threads, g->N), RNN_PARTS_MAX);
        keel_parallel_run(c.parts, (int)c.parts, run_samples, &c);
        return;
    }
    /* units: one region per phase of each step (the bias sums share dbp's first part: each
     * thread adds to its own columns) */
    c.parts = KEEL_MIN(KEEL_MIN(threads, p->nb), RNN_PARTS_MAX);
    for (int64_t i = 0; i < g->T; i++) {
        set_step(&c.st, backward ? g->T - 1 - i : i);
        for (int ph = 0; ph < 2; ph++) {
            if (!(c.cur = c.phase[ph])) continue;
            keel_parallel_run(c.parts, (int)c.parts, run_units, &c);
        }
    }
}

/* ---- the entry points */

/* the states of s the steps read, bound onto the plan */
static void plan_state(rnn_plan *p, const keel_rnn_state *s, bool backward) {
    if (!s) return;
    const bool lstm = p->g->cell == KEEL_RNN_LSTM;
    p->h0 = s->h0 != NULL;
    p->c0 = lstm ? s->c0 : NULL;
    if (backward) {
        p->dhT = s->dh;
        p->dcT = lstm ? s->dc : NULL;
    } else {
        p->hT = s->h;
    }
}

void keel_rnn_forward(const keel_rnn_geom *g, const float *x, keel_rnn_weights w, keel_rnn_masks m,
                      const keel_rnn_state *s, float *y, float *work) {
    rnn_plan p;
    plan_bind(g, work, &m, &p);
    plan_state(&p, s, false);
    keel_rnn_project(&p, x, w, &m);
    /* the state entering the first step: zero, or h0 (as the recurrent product sees it:
     * times the recurrent dropout) */
    const int64_t T = g->T, t0 = g->go_backwards ? T - 1 : 0, U = g->U;
    for (int64_t n = 0; m.mask && n < g->N; n++) { /* each sample's first real step */
        p.first[n] = T;
        for (int64_t s0 = 0; s0 < T && p.first[n] == T; s0++)
            if (m.mask[n * T + (g->go_backwards ? T - 1 - s0 : s0)] != 0) p.first[n] = s0;
    }
    for (int64_t n = 0; n < g->N; n++) {
        float *hp = p.Hp + (n * T + t0) * U, *hin = p.Hin + (n * T + t0) * U;
        if (!p.h0) {
            memset(hp, 0, (size_t)U * sizeof *hp);
            memset(hin, 0, (size_t)U * sizeof *hin);
            continue;
        }
        memcpy(hp, s->h0 + n * U, (size_t)U * sizeof *hp);
        if (hin != hp)
            for (int64_t j = 0; j < U; j++)
                hin[j] = hp[j] * m.rec_dropout[n * U + j];
    }
    switch (g->cell) {
    case KEEL_RNN_LSTM: keel_rnn_run_steps(&p, &m, y, NULL, false, keel_rnn_lstm_fwd, NULL); break;
    case KEEL_RNN_GRU:
        if (g->reset_after)
            keel_rnn_run_steps(&p, &m, y, NULL, false, keel_rnn_gru_fwd, NULL);
        else
            keel_rnn_run_steps(&p, &m, y, NULL, false, keel_rnn_gru0_fwd_zr, keel_rnn_gru0_fwd_h);
        break;
    default: keel_rnn_run_steps(&p, &m, y, NULL, false, keel_rnn_simple_fwd, NULL);
    }
    /* LSTM's final c: C after the last step in processing order (carried over padding) */
    if (s && s->c && g->cell == KEEL_RNN_LSTM) {
        const int64_t tl = g->go_backwards ? 0 : T - 1;
        for (int64_t n = 0; n < g->N; n++)
            memcpy(s->c + n * U, p.C + (n * T + tl) * U, (size_t)U * sizeof *s->c);
    }
}

/* dL/dh0 and dL/dc0 after the steps: the first step left in e[0] the part of dL/dh0 that
 * bypassed its recurrent product (all of it at a padded step, z dh for GRU), in e[2] LSTM's
 * dL/dc0 and GRU(reset_after=False)'s dRH r; the product's part is dZ[:, t0] @ R^T over the
 * blocks that read h (one GEMM into e[1]), times the recurrent dropout, as rnn_dh adds it. */
static void initial_state_grads(const rnn_plan *p, const keel_rnn_masks *m,
                                const keel_rnn_state *s) {
    const keel_rnn_geom *g = p->g;
    const int64_t N = g->N, T = g->T, U = g->U, GU = p->GU, t0 = g->go_backwards ? T - 1 : 0;
    const bool gru0 = g->cell == KEEL_RNN_GRU && !g->reset_after;
    if (s->dh0) {
        /* e1 (N, U) = D[:, t0] (N, K) @ RpT[0:K] (K, U): D = dS for GRU reset_after (the
         * recurrent side), dZ otherwise; K = 2U for GRU without reset_after (z and r read h,
         * the h block reads r h, whose part came through e[2]) */
        const float *D = g->cell == KEEL_RNN_GRU && g->reset_after ? p->DS : p->Z;
        keel_gemm(false, false, N, U, gru0 ? 2 * U : GU, 1.0f, D + t0 * GU, T * GU, p->RpT, U, 0.0f,
                  p->e[1], U);
        for (int64_t i = 0; i < N * U; i++) {
            float v = p->e[1][i] + (gru0 ? p->e[2][i] : 0.0f);
            v = p->e[0][i] + (m->rec_dropout ? v * m->rec_dropout[i] : v);
            s->dh0[i] = s->accumulate_dh0 ? s->dh0[i] + v : v;
        }
    }
    if (s->dc0 && g->cell == KEEL_RNN_LSTM)
        for (int64_t i = 0; i < N * U; i++)
            s->dc0[i] = s->accumulate_dc0 ? s->dc0[i] + p->e[2][i] : p->e[2][i];
}

void keel_rnn_backward(const keel_rnn_geom *g, const float *x, keel_rnn_weights w, keel_rnn_masks m,
                       const keel_rnn_state *s, const float *dy, keel_rnn_grads gr, float *work) {
    rnn_plan p;
    plan_bind(g, work, &m, &p);
    plan_state(&p, s, true);
    /* RpT = Rp^T, for dh = dZ @ RpT in the steps */
    for (int64_t u = 0; u < g->U; u++)
        for (int64_t c = 0; c < p.GU; c++)
            p.RpT[c * g->U + u] = p.Rp[u * p.GU + c];
    /* the gate passes add each step's bias gradients into their part's sums */
    memset(p.dbp, 0, RNN_PARTS_MAX * 2 * (size_t)p.GU * sizeof *p.dbp);
    const bool want_rec = gr.drec_kernel != NULL;
    const int64_t U = g->U;
    /* the steps leave dZ (and GRU's dS) where the gates were; the weight gradients follow as
     * large GEMMs over every step at once */
    /* dRp (U, GU) = Hin^T (U, N*T) @ dZ (N*T, GU): every step's h_{t-1} (as the GEMM read it)
     * against its gates' gradient, one GEMM after the steps; at the first step Hin is h0 (times
     * the recurrent dropout) or zero */
    switch (g->cell) {
    case KEEL_RNN_LSTM:
        keel_rnn_run_steps(&p, &m, NULL, dy, true, keel_rnn_lstm_bwd, NULL);
        if (want_rec) keel_rnn_rec_grad(&p, p.Hin, p.Z, 0, p.GU);
        break;
    case KEEL_RNN_GRU:
        if (g->reset_after) {
            keel_rnn_run_steps(&p, &m, NULL, dy, true, keel_rnn_gru_bwd, NULL);
            if (want_rec) keel_rnn_rec_grad(&p, p.Hin, p.DS, 0, p.GU);
        } else {
            /* z and r see Hin; the h block sees r * Hin (HR) */
            keel_rnn_run_steps(&p, &m, NULL, dy, true, keel_rnn_gru0_bwd_zh, keel_rnn_gru0_bwd_r);
            if (want_rec) {
                keel_rnn_rec_grad(&p, p.Hin, p.Z, 0, 2 * U);
                keel_rnn_rec_grad(&p, p.HR, p.Z, 2 * U, 3 * U);
            }
        }
        break;
    default:
        keel_rnn_run_steps(&p, &m, NULL, dy, true, keel_rnn_simple_bwd, NULL);
        if (want_rec) keel_rnn_rec_grad(&p, p.Hin, p.Z, 0, p.GU);
    }
    if (s) initial_state_grads(&p, &m, s);
    /* the parts' bias sums into the first (always summed in part order: the same result
     * however the parts ran) */
    for (int q = 1; q < RNN_PARTS_MAX; q++)
        for (int64_t c = 0; c < 2 * p.GU; c++)
            p.dbp[c] += p.dbp[q * 2 * p.GU + c];
    keel_rnn_input_grads(&p, x, w, &m, gr);
    keel_rnn_scatter_grads(&p, w, gr, want_rec);
}

void keel_rnn_act_forward(keel_act a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 256)
        rnn_act_f(a, x + i, y + i, KEEL_MIN(256, n - i));
}

/* ---- SimpleRNN: h_t = act(x_t W + b + h_{t-1} R), one gate, no reordering needed (the
 * blocked layout of one gate is Keras's own) */

KEEL_CLONES void keel_rnn_simple_fwd(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, ld = T * U;
    /* Z[:, t, u0:u1] += Hin[:, t] (N, U) @ Rp[:, u0:u1] (unless h is zero) */
    if (!rnn_h_zero(st))
        keel_rnn_gemm(r, r.u1 - r.u0, U, p->Hin + st->t * U, ld, p->Rp + r.u0, U, 1.0f,
                      p->Z + st->t * U + r.u0, ld);
    const bool tanh_ = g->act.kind == KEEL_ACT_TANH;
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = r.u0; j0 < r.u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, r.u1 - j0), o = n * ld + st->t * U + j0;
            float *z = p->Z + o;
            const float *b = p->bp + j0;
            if (!real) { /* a padded step passes h_{t-1} on */
                rnn_emit(st, n, j0, w, p->Hp + o);
                continue;
            }
            if (tanh_ && w == RNN_B) { /* Keras's default, a constant-length loop */
#pragma omp simd
                for (int j = 0; j < RNN_B; j++)
                    z[j] = rnn_tanhf(z[j] + b[j]);
            } else {
                for (int64_t j = 0; j < w; j++)
                    z[j] += b[j];
                if (p->P) memcpy(p->P + o, z, (size_t)w * sizeof *z);
                rnn_act_f(g->act, z, z, w);
            }
            rnn_emit(st, n, j0, w, z);
        }
    }
}

/* dL/dz_t = dL/dh_t * act'(z_t); dL/dh_{t-1} = dz_t @ R^T (the next step's GEMM) */
KEEL_CLONES void keel_rnn_simple_bwd(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, ld = T * U;
    /* e1[:, u0:u1] = dZ[:, t_next] (N, U) @ RpT[:, u0:u1]: the gradient of h_s through the next
     * step's recurrent product */
    if (st->tnext >= 0)
        keel_rnn_gemm(r, r.u1 - r.u0, U, p->Z + st->tnext * U, ld, p->RpT + r.u0, U, 0.0f,
                      p->e[1] + r.u0, U);
    float dh[RNN_B];
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = r.u0; j0 < r.u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, r.u1 - j0), o = n * ld + st->t * U + j0;
            float *z = p->Z + o, *carry = p->e[0] + n * U + j0;
            rnn_dh(st, n, j0, w, p->e[1], NULL, dh);
            if (!real) { /* h_s = h_{s-1}: all of dh goes to the step before */
                memset(z, 0, (size_t)w * sizeof *z);
                memcpy(carry, dh, (size_t)w * sizeof *dh);
                continue;
            }
            rnn_act_b(g->act, p->P ? p->P + o : NULL, z, dh, z, w);
            memset(carry, 0, (size_t)w * sizeof *carry);
            for (int64_t j = 0; j < w; j++)
                r.db[j0 + j] += z[j];
        }
    }
}
