/* rnn_gru.c: one step of GRU on a thread's units, forward and backward, in both of Keras's
 * forms (rnn.c drives the steps; rnn_impl.h has the layout).
 *
 * reset_after=True (Keras 2's default, the cuDNN form), block k = [z r h] of its units:
 *   zx = x_t @ kernel + b_in (Z, from the big GEMM);  zh = h_{t-1} @ R + b_rec (S, here)
 *   z, r = rec(zx + zh) in blocks z, r;  hr = zh[h];  hh = act(zx[h] + r hr)
 *   h_t = z h_{t-1} + (1 - z) hh
 * Backward (dh = dL/dh_t):
 *   d_hh = dh (1 - z) act'(hh);  d_z = dh (h_{t-1} - hh) rec'(z);  d_r = d_hh hr rec'(r)
 *   dZ (input side) = (d_z, d_r, d_hh);  dS (recurrent side) = (d_z, d_r, d_hh r)
 *   dh_{t-1} = dh z + dS @ R^T
 * so the recurrent kernel's gradient is Hin^T dS (DS keeps dS) and the kernel's X^T dZ.
 *
 * reset_after=False: one bias; z and r blocked as above, the h gate's columns after them in
 * Keras's order, since its product needs r * h_{t-1} of every unit first:
 *   z, r = rec(zx + h_{t-1} @ R[z r]);  hh = act(zx[h] + (r h_{t-1}) @ R[h])
 * Two regions per step each way: (1) the z, r GEMM and gates and RH = r * h_{t-1}; (2) the h
 * GEMM on RH and the new state. Backward: (1) dh, then d_z and d_hh; (2) dRH = d_hh @ R[h]^T,
 * then d_r = dRH h_{t-1} rec'(r), and dRH r goes into dh_{t-1}.
 *
 * With recurrent dropout, h_{t-1} in the products is Hin = h_{t-1} * mask; the z h_{t-1} of
 * the update is the state itself (Keras's implementation 1 does the same). */
#include "rnn_impl.h"

/* e[0]: dh that bypasses the recurrent products (z dh, or all of it at a padded step); e[1]:
 * the GEMM's dh from the next step; reset_after=False also e[2] = dRH r of the next step and
 * e[3] = this step's dRH */

static const float zeros[3 * RNN_B];

/* One full block with Keras's default activations (tanh, sigmoid) in a single loop; s is the
 * recurrent product (zeros at the first step), z holds [z r h] before and [z r hh] after. */
RNN_INLINE void fwd16(float *z, const float *s, const float *bi, const float *br, const float *hp,
                      float *hr, float *h) {
    const int B = RNN_B;
#pragma omp simd
    for (int j = 0; j < RNN_B; j++) {
        const float zg = rnn_sigmoidf(z[j] + bi[j] + br[j] + s[j]);
        const float rg = rnn_sigmoidf(z[B + j] + bi[B + j] + br[B + j] + s[B + j]);
        const float hrj = br[2 * B + j] + s[2 * B + j];
        const float hh = rnn_tanhf(z[2 * B + j] + bi[2 * B + j] + rg * hrj);
        z[j] = zg, z[B + j] = rg, z[2 * B + j] = hh;
        hr[j] = hrj, h[j] = zg * hp[j] + (1.0f - zg) * hh;
    }
}

/* Its backward: the input side's gradient into z, the recurrent side's into ds, z dh into
 * carry, both into the bias sums */
RNN_INLINE void bwd16(float *z, float *ds, const float *dh, const float *hp, const float *hr,
                      float *carry, float *db, float *dbr) {
    const int B = RNN_B;
#pragma omp simd
    for (int j = 0; j < RNN_B; j++) {
        const float zg = z[j], rg = z[B + j], hh = z[2 * B + j];
        const float dhh = dh[j] * (1.0f - zg) * (1.0f - hh * hh);
        const float dz = dh[j] * (hp[j] - hh) * zg * (1.0f - zg);
        const float dr = dhh * hr[j] * rg * (1.0f - rg);
        carry[j] = dh[j] * zg;
        z[j] = dz, z[B + j] = dr, z[2 * B + j] = dhh;
        ds[j] = dz, ds[B + j] = dr, ds[2 * B + j] = dhh * rg;
        db[j] += dz, db[B + j] += dr, db[2 * B + j] += dhh;
        dbr[j] += dz, dbr[B + j] += dr, dbr[2 * B + j] += dhh * rg;
    }
}

KEEL_CLONES void keel_rnn_gru_fwd(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    const bool first = rnn_h_zero(st);
    /* S[:, 3u0:3u1] = Hin[:, t] (N, U) @ Rp[:, 3u0:3u1]; zero at the first step (not
     * computed) */
    if (!first)
        keel_rnn_gemm(r, 3 * (u1 - u0), U, p->Hin + st->t * U, T * U, p->Rp + 3 * u0, GU, 0.0f,
                      p->S + 3 * u0, GU);
    const bool deflt = g->act.kind == KEEL_ACT_TANH && g->rec_act.kind == KEEL_ACT_SIGMOID;
    float h[RNN_B];
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t oz = n * ld + st->t * GU + 3 * j0, ou = (n * T + st->t) * U + j0;
            float *z = p->Z + oz, *hr = p->HR + ou;
            const float *s = first ? zeros : p->S + n * GU + 3 * j0, *bi = p->bp + 3 * j0;
            const float *br = bi + GU, *hp = p->Hp + ou;
            if (!real) { /* carry h over the padded step; its gates are never used */
                rnn_emit(st, n, j0, w, hp);
                continue;
            }
            if (deflt && w == RNN_B) {
                fwd16(z, s, bi, br, hp, hr, h);
                rnn_emit(st, n, j0, w, h);
                continue;
            }
            /* the general path (any elementwise activations, a last block narrower than 16):
             * the same equations gate by gate, pre-activations kept when P wants them */
            for (int64_t q = 0; q < 2 * w; q++)
                z[q] += bi[q] + br[q] + s[q];
            for (int64_t j = 0; j < w; j++)
                hr[j] = br[2 * w + j] + s[2 * w + j];
            if (p->P) memcpy(p->P + oz, z, 2 * (size_t)w * sizeof *z);
            rnn_act_f(g->rec_act, z, z, 2 * w);
            float *zg = z, *rg = z + w, *hh = z + 2 * w;
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                hh[j] += bi[2 * w + j] + rg[j] * hr[j];
            if (p->P) memcpy(p->P + oz + 2 * w, hh, (size_t)w * sizeof *hh);
            rnn_act_f(g->act, hh, hh, w);
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                h[j] = zg[j] * hp[j] + (1.0f - zg[j]) * hh[j];
            rnn_emit(st, n, j0, w, h);
        }
    }
}

KEEL_CLONES void keel_rnn_gru_bwd(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    /* e1[:, u0:u1] = dS[:, t_next] (N, GU) @ RpT[:, u0:u1]: dh_t through step t+1's product */
    if (st->tnext >= 0)
        keel_rnn_gemm(r, u1 - u0, GU, p->DS + st->tnext * GU, ld, p->RpT + u0, U, 0.0f,
                      p->e[1] + u0, U);
    const bool deflt = g->act.kind == KEEL_ACT_TANH && g->rec_act.kind == KEEL_ACT_SIGMOID;
    float dh[RNN_B], d[3 * RNN_B];
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t oz = n * ld + st->t * GU + 3 * j0, ou = (n * T + st->t) * U + j0;
            float *z = p->Z + oz, *ds = p->DS + oz, *carry = p->e[0] + n * U + j0;
            rnn_dh(st, n, j0, w, p->e[1], NULL, dh);
            if (!real) { /* h passes the padded step: all of dh goes to the step before, and the
                          * step's rows of dZ and dS add nothing to the weights */
                memset(z, 0, 3 * (size_t)w * sizeof *z);
                memset(ds, 0, 3 * (size_t)w * sizeof *ds);
                memcpy(carry, dh, (size_t)w * sizeof *dh);
                continue;
            }
            const float *hr = p->HR + ou, *hp = p->Hp + ou;
            if (deflt && w == RNN_B) {
                bwd16(z, ds, dh, hp, hr, carry, r.db + 3 * j0, r.db + GU + 3 * j0);
                continue;
            }
            const float *zg = z, *rg = z + w, *hh = z + 2 * w;
            const float *pre = p->P ? p->P + oz : NULL;
            float *dz = d, *dr = d + w, *dhh = d + 2 * w;
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                dhh[j] = dh[j] * (1.0f - zg[j]);
                dz[j] = dh[j] * (hp[j] - hh[j]);
                carry[j] = dh[j] * zg[j];
            }
            rnn_act_b(g->act, pre ? pre + 2 * w : NULL, hh, dhh, dhh, w);
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                dr[j] = dhh[j] * hr[j];
            rnn_act_b(g->rec_act, pre, z, d, d, 2 * w);
            /* the recurrent side sees r hr: its h block's gradient is d_hh r */
            memcpy(ds, d, 2 * (size_t)w * sizeof *ds);
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                ds[2 * w + j] = dhh[j] * rg[j];
            memcpy(z, d, 3 * (size_t)w * sizeof *z);
            float *db = r.db + 3 * j0, *dbr = db + GU;
            for (int64_t q = 0; q < 3 * w; q++) {
                db[q] += z[q];
                dbr[q] += ds[q];
            }
        }
    }
}

/* ---- reset_after=False: z, r blocked in columns [0, 2U), the h gate plain in [2U, 3U) */

KEEL_CLONES void keel_rnn_gru0_fwd_zr(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    const bool first = rnn_h_zero(st);
    /* S[:, 2u0:2u1] = Hin[:, t] (N, U) @ Rp[:, 2u0:2u1] */
    if (!first)
        keel_rnn_gemm(r, 2 * (u1 - u0), U, p->Hin + st->t * U, T * U, p->Rp + 2 * u0, GU, 0.0f,
                      p->S + 2 * u0, GU);
    for (int64_t n = r.n0; n < r.n1; n++)
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t oz = n * ld + st->t * GU + 2 * j0, ou = (n * T + st->t) * U + j0;
            float *z = p->Z + oz, *rh = p->HR + ou;
            const float *s = p->S + n * GU + 2 * j0, *b = p->bp + 2 * j0, *hin = p->Hin + ou;
            for (int64_t q = 0; q < 2 * w; q++)
                z[q] += b[q] + (first ? 0.0f : s[q]);
            if (p->P) memcpy(p->P + oz, z, 2 * (size_t)w * sizeof *z);
            rnn_act_f(g->rec_act, z, z, 2 * w);
            /* RH = r * h_{t-1} (as the products see it), the h block's GEMM operand */
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                rh[j] = z[w + j] * hin[j];
        }
}

KEEL_CLONES void keel_rnn_gru0_fwd_h(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    const bool first = rnn_h_zero(st);
    /* S[:, 2U+u0 : 2U+u1] = RH[:, t] (N, U) @ Rp[:, 2U+u0 : 2U+u1] */
    if (!first)
        keel_rnn_gemm(r, u1 - u0, U, p->HR + st->t * U, T * U, p->Rp + 2 * U + u0, GU, 0.0f,
                      p->S + 2 * U + u0, GU);
    float h[RNN_B];
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t row = n * ld + st->t * GU, ou = (n * T + st->t) * U + j0;
            /* the h gate's columns are plain (after all the z, r blocks); z is in its block */
            float *hh = p->Z + row + 2 * U + j0;
            const float *zg = p->Z + row + 2 * j0, *s = p->S + n * GU + 2 * U + j0;
            const float *b = p->bp + 2 * U + j0, *hp = p->Hp + ou;
            for (int64_t j = 0; j < w; j++)
                hh[j] += b[j] + (first ? 0.0f : s[j]);
            if (p->P) memcpy(p->P + row + 2 * U + j0, hh, (size_t)w * sizeof *hh);
            rnn_act_f(g->act, hh, hh, w);
            if (!real) {
                rnn_emit(st, n, j0, w, hp);
                continue;
            }
#pragma omp simd
            for (int64_t j = 0; j < w; j++)
                h[j] = zg[j] * hp[j] + (1.0f - zg[j]) * hh[j];
            rnn_emit(st, n, j0, w, h);
        }
    }
}

/* phase 1 of the backward: dh_t, then d_z and d_hh of this thread's units (d_r needs dRH,
 * which needs d_hh of every unit: phase 2) */
KEEL_CLONES void keel_rnn_gru0_bwd_zh(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    /* e1[:, u0:u1] = dZ[:, t_next, 0:2U] (N, 2U) @ RpT[0:2U, u0:u1]: through z and r */
    if (st->tnext >= 0)
        keel_rnn_gemm(r, u1 - u0, 2 * U, p->Z + st->tnext * GU, ld, p->RpT + u0, U, 0.0f,
                      p->e[1] + u0, U);
    float dh[RNN_B];
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t row = n * ld + st->t * GU, ou = (n * T + st->t) * U + j0;
            float *z = p->Z + row + 2 * j0, *hh = p->Z + row + 2 * U + j0;
            float *carry = p->e[0] + n * U + j0;
            /* the next step's dRH r (e2) joins its GEMM's term */
            rnn_dh(st, n, j0, w, p->e[1], p->e[2], dh);
            if (!real) { /* r's column is zeroed in phase 2 */
                memset(z, 0, (size_t)w * sizeof *z);
                memset(hh, 0, (size_t)w * sizeof *hh);
                memcpy(carry, dh, (size_t)w * sizeof *dh);
                continue;
            }
            const float *hp = p->Hp + ou;
            const float *pre = p->P ? p->P + row : NULL;
            float dz[RNN_B], dhh[RNN_B];
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                dhh[j] = dh[j] * (1.0f - z[j]);
                dz[j] = dh[j] * (hp[j] - hh[j]);
                carry[j] = dh[j] * z[j];
            }
            rnn_act_b(g->act, pre ? pre + 2 * U + j0 : NULL, hh, dhh, hh, w);
            rnn_act_b(g->rec_act, pre ? pre + 2 * j0 : NULL, z, dz, z, w);
            float *db = r.db;
            for (int64_t j = 0; j < w; j++) {
                db[2 * j0 + j] += z[j];
                db[2 * U + j0 + j] += hh[j];
            }
        }
    }
}

/* phase 2: dRH = d_hh (all units) @ R[h]^T on this thread's units; d_r = dRH Hin rec'(r); and
 * dRH r, the part of dh_{t-1} through r * h_{t-1}, for the step before (e2) */
KEEL_CLONES void keel_rnn_gru0_bwd_r(const rnn_step *st, rnn_range r) {
    const rnn_plan *p = st->p;
    const keel_rnn_geom *g = p->g;
    const int64_t T = g->T, U = g->U, GU = p->GU, ld = T * GU, u0 = r.u0, u1 = r.u1;
    /* e3[:, u0:u1] = dZ[:, t, 2U:3U] (N, U) @ RpT[2U:3U, u0:u1] */
    keel_rnn_gemm(r, u1 - u0, U, p->Z + st->t * GU + 2 * U, ld, p->RpT + 2 * U * U + u0, U, 0.0f,
                  p->e[3] + u0, U);
    for (int64_t n = r.n0; n < r.n1; n++) {
        const bool real = rnn_real(st, n);
        for (int64_t j0 = u0; j0 < u1; j0 += RNN_B) {
            const int64_t w = KEEL_MIN(RNN_B, u1 - j0);
            const int64_t row = n * ld + st->t * GU, ou = (n * T + st->t) * U + j0;
            float *rg = p->Z + row + 2 * j0 + w, *e2 = p->e[2] + n * U + j0;
            const float *drh = p->e[3] + n * U + j0, *hin = p->Hin + ou;
            if (!real) {
                memset(rg, 0, (size_t)w * sizeof *rg);
                memset(e2, 0, (size_t)w * sizeof *e2);
                continue;
            }
            float dr[RNN_B];
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                dr[j] = drh[j] * hin[j];
                e2[j] = drh[j] * rg[j];
            }
            rnn_act_b(g->rec_act, p->P ? p->P + row + 2 * j0 + w : NULL, rg, dr, rg, w);
            float *db = r.db + 2 * j0 + w;
            for (int64_t j = 0; j < w; j++)
                db[j] += rg[j];
        }
    }
}
