/* rnn_lstm.c: one step of LSTM on a thread's units, forward and backward (rnn.c drives the
 * steps, runs the big GEMMs and owns the layout; rnn_impl.h describes both).
 *
 * Forward, for units [u0, u1) at time t, in the reordered layout where block k holds
 * [i f g o] of units 16k .. 16k+w-1 (g, Keras's "c" block, is the candidate):
 *   z = Z[:, t] (x_t @ kernel, from the big GEMM) + h_{t-1} @ R (one GEMM here) + b
 *   i, f, o = rec(z_i, z_f, z_o);  g = act(z_g)
 *   c_t = f c_{t-1} + i g;  h_t = o act(c_t)
 * Z keeps the gates after activation, C and A keep c_t and act(c_t), for the backward.
 *
 * Backward (dh = dL/dh_t, dc = dL/dc_t from step t+1, and d_ denotes a gradient):
 *   d_o = dh act(c_t);  d_c = dc + dh o act'(c_t)
 *   d_i = d_c g;  d_g = d_c i;  d_f = d_c c_{t-1};  dc_{t-1} = d_c f
 *   then each through its activation: dz = (d_i rec'(i), d_f rec'(f), d_g act'(g), d_o rec'(o))
 *   dh_{t-1} = dz @ R^T, computed by the step before as its first GEMM (rnn_dh adds it).
 * At a padded step dz = 0 and dh, dc pass through unchanged (the states were carried). */
#include "rnn_impl.h"

/* e[0]: dh that bypasses the recurrent product (all of it at a padded step); e[1]: the GEMM's
 * dh from the next step; e[2]: dc carried to the step before */

/* One full block with Keras's default activations (tanh, sigmoid) in a single loop: 16 lanes,
 * one vector each, five exps per lane; z holds [i f g o] before and after. */
RNN_INLINE void fwd16(float *z, const float *b, const float *cp, float *c, float *ac, float *h) {
#pragma omp simd
    for (int j = 0; j < RNN_B; j++) {
        const float i = rnn_sigmoidf(z[j] + b[j]);
        const float f = rnn_sigmoidf(z[RNN_B + j] + b[RNN_B + j]);
        const float gg = rnn_tanhf(z[2 * RNN_B + j] + b[2 * RNN_B + j]);
        const float o = rnn_sigmoidf(z[3 * RNN_B + j] + b[3 * RNN_B + j]);
        const float cj = f * cp[j] + i * gg, aj = rnn_tanhf(cj);
        z[j] = i, z[RNN_B + j] = f, z[2 * RNN_B + j] = gg, z[3 * RNN_B + j] = o;
        c[j] = cj, ac[j] = aj, h[j] = o * aj;
    }
}

/* Its backward: dz (into z) from dh, the carried dc (updated for the step before) and the
 * stored c_{t-1}, act(c_t) */
RNN_INLINE void bwd16(float *z, const float *dh, float *dc, const float *cp, const float *ac,
                      float *db) {
#pragma omp simd
    for (int j = 0; j < RNN_B; j++) {
        const float i = z[j], f = z[RNN_B + j], gg = z[2 * RNN_B + j], o = z[3 * RNN_B + j];
        const float a = ac[j], dct = dc[j] + dh[j] * o * (1.0f - a * a);
        const float di = dct * gg * i * (1.0f - i), df = dct * cp[j] * f * (1.0f - f);
        const float dg = dct * i * (1.0f - gg * gg), dout = dh[j] * a * o * (1.0f - o);
        dc[j] = dct * f;
        z[j] = di, z[RNN_B + j] = df, z[2 * RNN_B + j] = dg, z[3 * RNN_B + j] = dout;
        db[j] += di, db[RNN_B + j] += df, db[2 * RNN_B + j] += dg, db[3 * RNN_B + j] += dout;
    }
}

/* c_{t-1} of sample n from unit j0: the step before's, or the initial state (zeros or c0) */
RNN_INLINE const float *cprev(const rnn_step *st, int64_t n, int64_t j0) {
    static const float zeros[RNN_B];
    const rnn_plan *p = st->p;
    const int64_t U = p->g->U;
    if (st->tprev >= 0) return p->C + (n * p->g->T + st->tprev) * U + j0;
    return p->c0 ? p->c0 + n * U + j0 : zeros;
}

KEEL_CLONES void keel_rnn_lstm_fwd(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    float *Zt = p->Z + st->t * GU;
    /* Z[:, t, 4u0:4u1] += Hin[:, t] (N, U) @ Rp[:, 4u0:4u1]: this thread's gates, all four */
    if (!rnn_h_zero(st))
        keel_rnn_gemm(r, 4 * (u1 - u0), U, p->Hin + st->t * U, T * U, p->Rp + 4 * u0, GU, 1.0f,
                      Zt + 4 * u0, ld);
    const bool deflt = g->act.kind == KEEL_ACT_TANH && g->rec_act.kind == KEEL_ACT_SIGMOID;
    float c[RNN_B], ac[RNN_B], h[RNN_B];
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t oz = n * ld + st->t * GU + 4 * j0, ou = (n * T + st->t) * U + j0;
            float *z = p->Z + oz;
            const float *b = p->bp + 4 * j0;
            const float *cp = cprev(st, n, j0);
            if (!real) { /* carry c and h over the padded step; its gates are never used */
                memcpy(p->C + ou, cp, (size_t)w * sizeof *cp);
                rnn_emit(st, n, j0, w, p->Hp + ou);
                continue;
            }
            if (deflt && w == RNN_B) {
                fwd16(z, b, cp, p->C + ou, p->A + ou, h);
                rnn_emit(st, n, j0, w, h);
                continue;
            }
            /* the general path (any elementwise activations, a last block narrower than 16) */
            for (int64_t q = 0; q < 4 * w; q++)
                z[q] += b[q];
            if (p->P) memcpy(p->P + oz, z, 4 * (size_t)w * sizeof *z);
            /* i and f are adjacent: one call */
            rnn_act_f(g->rec_act, z, z, 2 * w);
            rnn_act_f(g->act, z + 2 * w, z + 2 * w, w);
            rnn_act_f(g->rec_act, z + 3 * w, z + 3 * w, w);
            const float *gi = z, *gf = z + w, *gg = z + 2 * w, *go = z + 3 * w;
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                c[j] = gf[j] * cp[j] + gi[j] * gg[j];
            rnn_act_f(g->act, c, ac, w);
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                h[j] = go[j] * ac[j];
            memcpy(p->C + ou, c, (size_t)w * sizeof *c);
            memcpy(p->A + ou, ac, (size_t)w * sizeof *ac);
            rnn_emit(st, n, j0, w, h);
        }
    }
}

KEEL_CLONES void keel_rnn_lstm_bwd(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    /* e1[:, u0:u1] = dZ[:, t_next] (N, GU) @ RpT[:, u0:u1]: dh_t through step t+1's product */
    if (st->tnext >= 0)
        keel_rnn_gemm(r, u1 - u0, GU, p->Z + st->tnext * GU, ld, p->RpT + u0, U, 0.0f, p->e[1] + u0,
                      U);
    const bool deflt = g->act.kind == KEEL_ACT_TANH && g->rec_act.kind == KEEL_ACT_SIGMOID;
    float dh[RNN_B], dac[RNN_B], dct[RNN_B];
    float d[4 * RNN_B];
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t oz = n * ld + st->t * GU + 4 * j0, ou = (n * T + st->t) * U + j0;
            float *z = p->Z + oz, *carry = p->e[0] + n * U + j0, *dc = p->e[2] + n * U + j0;
            rnn_dh(st, n, j0, w, p->e[1], NULL, dh);
            if (st->tnext < 0) { /* the last step: the final c's gradient, or zero */
                if (p->dcT)
                    memcpy(dc, p->dcT + n * U + j0, (size_t)w * sizeof *dc);
                else
                    memset(dc, 0, (size_t)w * sizeof *dc);
            }
            if (!real) { /* dh and dc go to the step before unchanged */
                memset(z, 0, 4 * (size_t)w * sizeof *z);
                memcpy(carry, dh, (size_t)w * sizeof *dh);
                continue;
            }
            const float *cp = cprev(st, n, j0);
            /* h_{t-1} reaches h_t only through the recurrent product: nothing bypasses it */
            memset(carry, 0, (size_t)w * sizeof *carry);
            if (deflt && w == RNN_B) {
                bwd16(z, dh, dc, cp, p->A + ou, r.db + 4 * j0);
                continue;
            }
            const float *gi = z, *gf = z + w, *gg = z + 2 * w, *go = z + 3 * w;
            const float *c = p->C + ou, *ac = p->A + ou;
            float *di = d, *df = d + w, *dg = d + 2 * w, *dout = d + 3 * w;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                dout[j] = dh[j] * ac[j];
                dac[j] = dh[j] * go[j];
            }
            rnn_act_b(g->act, c, ac, dac, dct, w);
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                const float dcj = dct[j] + dc[j];
                di[j] = dcj * gg[j];
                dg[j] = dcj * gi[j];
                df[j] = dcj * cp[j];
                dc[j] = dcj * gf[j];
            }
            /* through the activations, from their outputs (still in z) and inputs (P) */
            const float *pre = p->P ? p->P + oz : NULL;
            rnn_act_b(g->rec_act, pre, z, d, d, 2 * w);
            rnn_act_b(g->act, pre ? pre + 2 * w : NULL, z + 2 * w, dg, dg, w);
            rnn_act_b(g->rec_act, pre ? pre + 3 * w : NULL, z + 3 * w, dout, dout, w);
            memcpy(z, d, 4 * (size_t)w * sizeof *z);
            float *db = r.db + 4 * j0;
            for (int64_t q = 0; q < 4 * w; q++)
                db[q] += d[q];
        }
    }
}
