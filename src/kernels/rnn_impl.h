/* rnn_impl.h: what the fast recurrent kernels share (rnn.c, rnn_lstm.c, rnn_gru.c): the
 * workspace plan, the blocked gate layout, the step driver's context, and the vectorisable
 * sigmoid and tanh. Internal to those files; the API is rnn.h. */
#ifndef KEEL_RNN_IMPL_H
#define KEEL_RNN_IMPL_H

#include "rnn.h"

/* The hot loops are built for the CPU that runs them: where the build targets plain x86-64
 * (core.h defines KEEL_CLONES then), gcc makes AVX-512, AVX2 and baseline copies and the loader
 * picks one. The same definition as core.h's, for a core.h that does not have it. */
#ifndef KEEL_CLONES
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 &&           \
    !defined(__AVX2__)
#define KEEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KEEL_CLONES
#endif
#endif

/* The helpers below and the cells' block functions go inside each KEEL_CLONES copy: a helper
 * left out of line would be compiled once, for plain x86-64 (measured: the LSTM forward's gate
 * pass 5x slower so). */
#define RNN_INLINE static inline __attribute__((always_inline))

/* Units per block of the reordered gate columns: one AVX-512 vector of floats. */
#define RNN_B 16
/* Parts a sequence is cut into at most (threads beyond it sit out) */
#define RNN_PARTS_MAX 16

/* The workspace, cut into named arrays (rnn_plan_init). Every (N, T, .) array is indexed by
 * sample and *time* (not processing order), so that the backward's large GEMMs see rows in the
 * same order as x. */
typedef struct rnn_plan {
    const keel_rnn_geom *g;
    int G;            /* gates */
    int Gb;           /* gates in the blocked layout: G, except GRU without reset_after (2) */
    int64_t GU, nb;   /* columns of the projections (G*U); unit blocks, ceil(U / RNN_B) */
    bool need_pre;    /* an activation's derivative needs its input: keep the pre-activations */
    float *Wp, *Rp;   /* kernel (F, GU) and rec_kernel (U, GU), columns reordered */
    float *RpT;       /* (GU, U): Rp transposed, for the backward's products with dZ (BLIS runs
                       * dZ @ RpT about 1.7x faster than dZ @ Rp^T at these shapes) */
    float *bp;        /* (2, GU): input bias, recurrent bias (GRU reset_after), reordered */
    float *Z;         /* (N, T, GU): x @ kernel, then the gates after activation, then their
                       * gradients before activation (the backward overwrites them in place) */
    float *P;         /* (N, T, GU) gates before activation, when need_pre; else NULL */
    float *Hp;        /* (N, T, U) the state h entering step t (zero at the first step) */
    float *Hin;       /* (N, T, U) what the recurrent GEMM reads: Hp * rec_dropout, or Hp */
    float *Xd;        /* (N, T, F) x * dropout; NULL without dropout */
    float *C, *A;     /* LSTM (N, T, U): c_t after step t (carried at padding), act(c_t) */
    float *HR;        /* GRU (N, T, U): reset_after h_{t-1} @ R_h + b_rec_h; else r * Hin */
    float *S;         /* GRU (N, GU): the step's recurrent product */
    float *DS;        /* GRU reset_after (N, T, GU): gradient of the recurrent product */
    float *e[4];      /* (N, U) each: the backward's per-step carries (see the cells) */
    float *dWt, *dRt; /* (GU, F), (GU, U): the kernels' gradients, reordered and
                       * transposed (dZ^T X runs faster than X^T dZ) */
    float *dbp;       /* (RNN_PARTS_MAX, 2, GU): the bias gradient's partial sums */
    int64_t *first;   /* (N) with a mask: the processing step of each sample's first real step
                       * (T if none), written by the forward */
    /* the states around the sequence (keel_rnn_state), bound per call; not in the workspace */
    bool h0;         /* a given state enters the first step: its recurrent product is computed
                      * (Hp and Hin at the first step hold it) */
    const float *c0; /* LSTM (N, U): the cell state entering the first step; NULL: zeros */
    float *hT;       /* forward (N, U): the state after the last step; NULL: not wanted */
    const float *dhT, *dcT; /* backward (N, U): dL/d(final h), dL/d(final c); NULL: zero */
} rnn_plan;

/* Cuts work (NULL: only counts) into the plan; returns the floats used. */
int64_t keel_rnn_plan_init(const keel_rnn_geom *g, float *work, rnn_plan *p);

/* The reordered column of (gate, unit j): blocks of RNN_B units hold the Gb blocked gates side
 * by side, [gate 0 of units 16k.., gate 1 of units 16k.., ...] (a last, narrower block when U is
 * not a multiple of 16); gates from Gb on follow all the blocks in Keras's plain order. A
 * thread's units [u0, u1) (u0 a multiple of 16) are then the contiguous columns
 * [Gb*u0, Gb*u1) of the blocked part (and [Gb*U + u0, Gb*U + u1) of each plain gate). */
RNN_INLINE int64_t rnn_col(const rnn_plan *p, int gate, int64_t j) {
    const int64_t U = p->g->U;
    if (gate >= p->Gb) return (int64_t)gate * U + j;
    int64_t k = j / RNN_B, w = KEEL_MIN(RNN_B, U - k * RNN_B);
    return p->Gb * RNN_B * k + gate * w + (j - k * RNN_B);
}

/* One step's context, shared by the threads of its region. Times: t the step's own, tprev the
 * step before it in processing order (-1 at the first), tnext the step after (-1 at the last). */
typedef struct rnn_step {
    const rnn_plan *p;
    const keel_rnn_masks *m;
    float *y;        /* forward: the output */
    const float *dy; /* backward: dL/dy */
    int64_t s, t, tprev, tnext;
} rnn_step;

/* The part of a step one thread does: samples [n0, n1), units [u0, u1) (u0 a multiple of
 * RNN_B, u1 one or U). */
typedef struct rnn_range {
    int64_t n0, n1, u0, u1;
    float *db; /* backward: this part's bias-gradient sums (2, GU), added to, in the reordered
                * layout (parts that share columns have their own) */
} rnn_range;

/* A cell's work for one step on a range. */
typedef void (*rnn_part_fn)(const rnn_step *st, rnn_range r);

/* Runs every step (forward: s = 0 .. T-1; backward: T-1 .. 0), each phase (one or two) of each
 * step on every range before the next begins. rnn.c's opening comment says how it cuts. */
void keel_rnn_run_steps(const rnn_plan *p, const keel_rnn_masks *m, float *y, const float *dy,
                        bool backward, rnn_part_fn phase0, rnn_part_fn phase1);

/* The big GEMMs before and after the step loops (rnn.c), shared by the cells. */
/* Reorders the weights into the plan, x * dropout into Xd, Z = x @ kernel. */
void keel_rnn_project(const rnn_plan *p, const float *x, keel_rnn_weights w,
                      const keel_rnn_masks *m);
/* dWp = X^T dZ, dx (+)= (dZ Wp^T) * dropout (in that order: dx may use Xd as scratch), bias
 * row 0 from dZ; the recurrent kernel and bias row 1 are the cell's (rnn_grads_rec). */
void keel_rnn_input_grads(const rnn_plan *p, const float *x, keel_rnn_weights w,
                          const keel_rnn_masks *m, keel_rnn_grads gr);
/* dRt[c0:c1, :] = D[:, c0:c1]^T (c1 - c0, NT) @ A (NT, U), D with N*T rows of GU */
void keel_rnn_rec_grad(const rnn_plan *p, const float *A, const float *D, int64_t c0, int64_t c1);
/* Unreorders dWt, dRt and dbp into the caller's gradients. */
void keel_rnn_scatter_grads(const rnn_plan *p, keel_rnn_weights w, keel_rnn_grads gr,
                            bool want_rec);

/* C (+)= A @ B on rows [n0, n1) of A and C (row strides lda, ldc), `cols` columns of B and C
 * from where the pointers point, inner dimension K: a step's product, one thread's share. */
void keel_rnn_gemm(rnn_range r, int64_t cols, int64_t K, const float *A, int64_t lda,
                   const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* the cells' step functions (rnn_lstm.c, rnn_gru.c, rnn.c) */
void keel_rnn_lstm_fwd(const rnn_step *st, rnn_range r);
void keel_rnn_lstm_bwd(const rnn_step *st, rnn_range r);
void keel_rnn_gru_fwd(const rnn_step *st, rnn_range r);
void keel_rnn_gru_bwd(const rnn_step *st, rnn_range r);
void keel_rnn_gru0_fwd_zr(const rnn_step *st, rnn_range r); /* reset_after=False */
void keel_rnn_gru0_fwd_h(const rnn_step *st, rnn_range r);
void keel_rnn_gru0_bwd_zh(const rnn_step *st, rnn_range r);
void keel_rnn_gru0_bwd_r(const rnn_step *st, rnn_range r);
void keel_rnn_simple_fwd(const rnn_step *st, rnn_range r);
void keel_rnn_simple_bwd(const rnn_step *st, rnn_range r);

/* ---- per-step helpers the cells share */

/* whether step t of sample n is real (not padding) */
RNN_INLINE bool rnn_real(const rnn_step *st, int64_t n) {
    const float *mk = st->m->mask;
    return !mk || mk[n * st->p->g->T + st->t] != 0.0f;
}

/* whether the state entering the step is zero (the first step, no initial state given): its
 * recurrent product is zero and is skipped */
RNN_INLINE bool rnn_h_zero(const rnn_step *st) {
    return st->tprev < 0 && !st->p->h0;
}

/* whether the output of step s is h (else zeros): at a real step; at a padded one Keras outputs
 * its previous output, which is the carried h once a real step has been and zeros before it
 * (when an initial state is carried, too); zero_masked_output: zeros at every padded step */
RNN_INLINE bool rnn_outputs_h(const rnn_step *st, int64_t n) {
    if (rnn_real(st, n)) return true;
    return !st->p->g->zero_masked_output && st->s > st->p->first[n];
}

/* h (w units from j0) is the state after step s of sample n: the output, and the next step's
 * inputs (Hp, and Hin with recurrent dropout), or the final state after the last step */
RNN_INLINE void rnn_emit(const rnn_step *st, int64_t n, int64_t j0, int64_t w, const float *h) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U;
    float *out = NULL;
    if (g->return_sequences)
        out = st->y + (n * T + st->s) * U + j0;
    else if (st->tnext < 0)
        out = st->y + n * U + j0;
    if (out && rnn_outputs_h(st, n))
        memcpy(out, h, (size_t)w * sizeof *h);
    else if (out)
        memset(out, 0, (size_t)w * sizeof *out);
    if (st->tnext < 0) {
        if (p->hT) memcpy(p->hT + n * U + j0, h, (size_t)w * sizeof *h);
        return;
    }
    const int64_t o = (n * T + st->tnext) * U + j0;
    memcpy(p->Hp + o, h, (size_t)w * sizeof *h);
    if (p->Hin != p->Hp) {
        const float *md = st->m->rec_dropout + n * U + j0;
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            p->Hin[o + j] = h[j] * md[j];
    }
}

/* dh[0..w) = dL/dh_s for sample n, units from j0: what flows back from step s+1 (e[0], the
 * part that bypasses its recurrent product: all of it at a padded step, z * dh for GRU), plus
 * its recurrent product's gradient rec[n] (the GEMM's, scaled by the recurrent dropout), plus
 * dy at step s (unless the output there was zeros), or after the last step the final state's
 * gradient. rec2 (may be NULL) is a second recurrent term (GRU without reset_after). */
RNN_INLINE void rnn_dh(const rnn_step *st, int64_t n, int64_t j0, int64_t w, const float *rec,
                       const float *rec2, float *dh) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t U = g->U, r = n * U + j0;
    if (st->tnext < 0) {
        if (p->dhT)
            memcpy(dh, p->dhT + r, (size_t)w * sizeof *dh);
        else
            memset(dh, 0, (size_t)w * sizeof *dh);
    } else {
        const float *carry = p->e[0] + r, *a = rec + r, *b = rec2 ? rec2 + r : NULL;
        const float *md = st->m->rec_dropout ? st->m->rec_dropout + r : NULL;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) {
            float v = a[j] + (b ? b[j] : 0.0f);
            dh[j] = carry[j] + (md ? v * md[j] : v);
        }
    }
    const float *d = NULL;
    if (g->return_sequences)
        d = st->dy + (n * g->T + st->s) * U + j0;
    else if (st->tnext < 0)
        d = st->dy + n * U + j0;
    if (d && rnn_outputs_h(st, n)) {
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            dh[j] += d[j];
    }
}

/* ---- sigmoid and tanh that vectorise: exp by Cephes's expf (range reduction by ln 2 in two
 * parts, a degree-5 polynomial, the power of two put in by hand), with the input clamped so
 * that 2^n stays a normal float. */
RNN_INLINE float rnn_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    /* n = round(x / ln 2): adding 1.5 * 2^23 rounds to an integer in float arithmetic */
    const float magic = 12582912.0f;
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    float e = q * (r * r) + r + 1.0f;
    /* 2^n by its exponent bits; n in [-126, 127] after the clamp. A NaN x has carried through
     * the clamp (comparisons with NaN fail) into e: the power of two takes n = 0 instead, so
     * that the conversion stays defined and the NaN comes out */
    union {
        uint32_t i;
        float f;
    } two = {.i = (uint32_t)((int32_t)(n == n ? n : 0.0f) + 127) << 23};
    return e * two.f;
}

RNN_INLINE float rnn_sigmoidf(float x) {
    return 1.0f / (1.0f + rnn_expf(-x));
}

/* Cephes's tanhf: an odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) above */
RNN_INLINE float rnn_tanhf(float x) {
    float a = fabsf(x), z = x * x;
    float q = -5.70498872745e-3f;
    q = q * z + 2.06390887954e-2f;
    q = q * z - 5.37397155531e-2f;
    q = q * z + 1.33314422036e-1f;
    q = q * z - 3.33332819422e-1f;
    float small = q * z * x + x;
    float big = copysignf(1.0f - 2.0f / (rnn_expf(2.0f * a) + 1.0f), x);
    return a < 0.625f ? small : big;
}

/* y[0..w) = f(x) for a gate vector (w <= a few blocks); x and y may alias */
RNN_INLINE void rnn_act_f(keel_act a, const float *x, float *y, int64_t w) {
    if (a.kind == KEEL_ACT_SIGMOID) {
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            y[j] = rnn_sigmoidf(x[j]);
    } else if (a.kind == KEEL_ACT_TANH) {
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            y[j] = rnn_tanhf(x[j]);
    } else {
        keel_act_forward(a, x, y, 1, w);
    }
}

/* dx[0..w) = dy * f'(x) from y = f(x) (and x, the pre-activation, when keel_act_needs_input;
 * else x may be NULL); dx may alias dy */
RNN_INLINE void rnn_act_b(keel_act a, const float *x, const float *y, const float *dy, float *dx,
                          int64_t w) {
    if (a.kind == KEEL_ACT_SIGMOID) {
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            dx[j] = dy[j] * y[j] * (1.0f - y[j]);
    } else if (a.kind == KEEL_ACT_TANH) {
#pragma omp simd
        for (int64_t j = 0; j < w; j++)
            dx[j] = dy[j] * (1.0f - y[j] * y[j]);
    } else {
        keel_act_backward(a, x, y, dy, dx, 1, w);
    }
}

#endif
