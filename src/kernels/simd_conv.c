/* simd_conv.c: the convolution loops that keel compiles once per instruction-set level
 * (simd.h): the direct forward pass for few input values per output pixel (KH*KW*C <= 32, e.g.
 * the first layer of an image model, C = 1 or 3), the same fused with ReLU and a 2x2 max pool,
 * its dW/db, and col2im's sums. conv.c holds the geometry, im2col, the reference and the
 * threading around them.
 *
 * Why a direct pass: im2col would copy a handful of floats per pixel and the GEMM would run
 * with K = 9, so both lose to one pass that keeps the OC outputs of a pixel in registers. Bias
 * and ReLU are applied in the same pass. */
#include "simd.h"

/* 8 floats as one value: one AVX register where there is AVX (two SSE ones elsewhere) */
typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
static inline v8 v8_load(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v8_store(float *p, v8 v) {
    memcpy(p, &v, sizeof v);
}

/* Keeps weight vectors in registers: folded into the FMAs as memory operands (gcc's choice)
 * they made 12 loads per 8 FMAs, more than the load ports take. An AVX register holds a v8;
 * the x86-64 copy has no such register (and two SSE loads per v8 anyway), so there it is
 * nothing. */
#ifdef __AVX__
#define IN_REGISTERS2(a, b) __asm__("" : "+x"(a), "+x"(b))
#define IN_REGISTERS4(a, b, c, d) __asm__("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d))
#else
#define IN_REGISTERS2(a, b) (void)0
#define IN_REGISTERS4(a, b, c, d) (void)0
#endif

/* samples are independent: a range of samples per thread, no write conflicts */
void KEEL_SIMD_NAME(keel_simd_col2im)(void *ctx, int64_t lo, int64_t hi) {
    const keel_conv_job *j = ctx;
    const keel_conv_geom *g = j->g;
    const int64_t K = g->KH * g->KW * g->C;
    for (int64_t b = lo; b < hi; b++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                const float *src = j->src + ((b * g->OH + oh) * g->OW + ow) * K;
                for (int64_t kh = 0; kh < g->KH; kh++) {
                    int64_t ih = oh * g->SH - g->PT + kh * g->DH;
                    if (ih < 0 || ih >= g->H) continue;
                    for (int64_t kw = 0; kw < g->KW; kw++) {
                        int64_t iw = ow * g->SW - g->PL + kw * g->DW;
                        if (iw < 0 || iw >= g->W) continue;
                        float *d = j->dst + ((b * g->H + ih) * g->W + iw) * g->C;
                        const float *s = src + (kh * g->KW + kw) * g->C;
#pragma omp simd
                        for (int64_t c = 0; c < g->C; c++)
                            d[c] += s[c];
                    }
                }
            }
}

/* The common case (no window reaches padding, OC a multiple of 32): two neighbouring output
 * pixels at a time, 32 outputs each, in eight accumulators. Each weight vector loaded feeds two
 * FMAs, and eight independent chains hide the FMA latency (with one pixel, four chains of
 * K dependent FMAs left the core waiting: 2x slower). */
static inline __attribute__((always_inline)) void
direct_rows(const keel_direct_job *j, const int64_t *off, int64_t b, bool relu) {
    const keel_conv_geom *g = j->g;
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C, step = g->SW * C;
    const v8 zero = {0};
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const float *xrow = j->x + (b * g->H + oh * g->SH) * g->W * C;
        float *yrow = j->y + (b * g->OH + oh) * g->OW * OC;
        for (int64_t ob = 0; ob < OC; ob += 32) {
            v8 bias[4];
            for (int q = 0; q < 4; q++)
                bias[q] = j->b ? v8_load(j->b + ob + 8 * q) : zero;
            for (int64_t ow = 0; ow < g->OW; ow += 2) {
                const bool two = ow + 1 < g->OW;
                const float *xa = xrow + ow * step, *xb = two ? xa + step : xa;
                v8 a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
                v8 c0 = bias[0], c1 = bias[1], c2 = bias[2], c3 = bias[3];
                for (int64_t t = 0; t < K; t++) {
                    const float u = xa[off[t]], v = xb[off[t]], *wr = j->w + t * OC + ob;
                    v8 w0 = v8_load(wr), w1 = v8_load(wr + 8), w2 = v8_load(wr + 16),
                       w3 = v8_load(wr + 24);
                    IN_REGISTERS4(w0, w1, w2, w3);
                    a0 += u * w0, a1 += u * w1, a2 += u * w2, a3 += u * w3;
                    c0 += v * w0, c1 += v * w1, c2 += v * w2, c3 += v * w3;
                }
                v8 out[8] = {a0, a1, a2, a3, c0, c1, c2, c3};
                float *ya = yrow + ow * OC + ob;
                for (int q = 0; q < (two ? 8 : 4); q++) {
                    v8 o = out[q];
                    if (relu) o = (v8)((v8i)o & (o > 0)); /* the comparison gives all-ones lanes */
                    v8_store(ya + (q / 4) * OC + 8 * (q % 4), o);
                }
            }
        }
    }
}

/* y for output pixels: 32 outputs at a time in four vector registers (then 8 at a time), so
 * each input value loaded feeds four FMAs */
void KEEL_SIMD_NAME(keel_simd_conv_direct)(void *ctx, int64_t lo, int64_t hi) {
    const keel_direct_job *j = ctx;
    const keel_conv_geom *g = j->g;
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C;
    const v8 zero = {0};
    int64_t off[32];
    const bool inside = keel_tap_offsets(g, off);
    if (inside && OC % 32 == 0) {
        for (int64_t b = lo; b < hi; b++) {
            if (j->relu)
                direct_rows(j, off, b, true);
            else
                direct_rows(j, off, b, false);
        }
        return;
    }
    for (int64_t b = lo; b < hi; b++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++) {
                float *y = j->y + ((b * g->OH + oh) * g->OW + ow) * OC;
                const float *x0 = j->x + ((b * g->H + oh * g->SH) * g->W + ow * g->SW) * C;
                for (int64_t ob = 0; ob < OC; ob += 32) {
                    int nb = OC - ob >= 32 ? 4 : (int)((OC - ob) / 8);
                    v8 a[4];
                    for (int q = 0; q < 4; q++)
                        a[q] = j->b && q < nb ? v8_load(j->b + ob + 8 * q) : zero;
                    if (inside && nb == 4) { /* the common case: no checks, four accumulators */
                        for (int64_t t = 0; t < K; t++) {
                            const float xv = x0[off[t]], *wr = j->w + t * OC + ob;
                            a[0] += xv * v8_load(wr), a[1] += xv * v8_load(wr + 8);
                            a[2] += xv * v8_load(wr + 16), a[3] += xv * v8_load(wr + 24);
                        }
                    } else {
                        for (int64_t kh = 0; kh < g->KH; kh++) {
                            int64_t ih = oh * g->SH - g->PT + kh * g->DH;
                            if (ih < 0 || ih >= g->H) continue;
                            for (int64_t kw = 0; kw < g->KW; kw++) {
                                int64_t iw = ow * g->SW - g->PL + kw * g->DW;
                                if (iw < 0 || iw >= g->W) continue;
                                const float *xp = j->x + ((b * g->H + ih) * g->W + iw) * C;
                                const float *wp = j->w + (kh * g->KW + kw) * C * OC + ob;
                                for (int64_t c = 0; c < C; c++)
                                    for (int q = 0; q < nb; q++)
                                        a[q] += xp[c] * v8_load(wp + c * OC + 8 * q);
                            }
                        }
                    }
                    for (int q = 0; q < nb; q++) {
                        if (j->relu)
                            a[q] = (v8)((v8i)a[q] &
                                        (a[q] > 0)); /* the comparison gives all-ones lanes */
                        v8_store(y + ob + 8 * q, a[q]);
                    }
                }
            }
}

/* ---- convolution + ReLU + 2x2 max pool in one pass: for each pooled pixel the four
 * convolution pixels of its window, 16 outputs each, in eight accumulators (each weight
 * vector loaded feeds four FMAs), then ReLU and the max with its winner in registers, in
 * max pooling's window order (row by row, first maximum wins). */
void KEEL_SIMD_NAME(keel_simd_conv_relu_pool)(void *ctx, int64_t lo, int64_t hi) {
    const keel_direct_job *j = ctx;
    const keel_conv_geom *g = j->g;
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C, PH = g->OH / 2, PW = g->OW / 2;
    const int64_t step = g->SW * C, down = g->SH * g->W * C;
    const v8 zero = {0};
    const v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t off[32];
    keel_tap_offsets(g, off);
    /* offsets of the window's four pixels from its first, in the convolution's output */
    const v8i zi = {0}, delta[4] = {zi, zi + (int32_t)OC, zi + (int32_t)(g->OW * OC),
                                    zi + (int32_t)((g->OW + 1) * OC)};
    for (int64_t b = lo; b < hi; b++)
        for (int64_t ph = 0; ph < PH; ph++)
            for (int64_t pw = 0; pw < PW; pw++) {
                const float *x00 = j->x + ((b * g->H + 2 * ph * g->SH) * g->W + 2 * pw * g->SW) * C;
                const float *x01 = x00 + step, *x10 = x00 + down, *x11 = x10 + step;
                float *out = j->pooled + ((b * PH + ph) * PW + pw) * OC;
                int32_t *ao = j->arg + ((b * PH + ph) * PW + pw) * OC;
                const int32_t i00 = (int32_t)((2 * ph * g->OW + 2 * pw) * OC);
                for (int64_t ob = 0; ob < OC; ob += 16) {
                    v8 p[4][2];
                    for (int q = 0; q < 2; q++) {
                        v8 bq = j->b ? v8_load(j->b + ob + 8 * q) : zero;
                        p[0][q] = p[1][q] = p[2][q] = p[3][q] = bq;
                    }
                    for (int64_t t = 0; t < K; t++) {
                        const float *wr = j->w + t * OC + ob;
                        v8 w0 = v8_load(wr), w1 = v8_load(wr + 8);
                        IN_REGISTERS2(w0, w1);
                        const float u0 = x00[off[t]], u1 = x01[off[t]], u2 = x10[off[t]],
                                    u3 = x11[off[t]];
                        p[0][0] += u0 * w0, p[0][1] += u0 * w1, p[1][0] += u1 * w0,
                            p[1][1] += u1 * w1;
                        p[2][0] += u2 * w0, p[2][1] += u2 * w1, p[3][0] += u3 * w0,
                            p[3][1] += u3 * w1;
                    }
                    for (int q = 0; q < 2; q++) {
                        const v8i base = lane + (int32_t)(i00 + ob + 8 * q);
                        v8 m = (v8)((v8i)p[0][q] & (p[0][q] > 0));
                        v8i idx = base;
                        for (int k = 1; k < 4; k++) {
                            v8 v = (v8)((v8i)p[k][q] & (p[k][q] > 0));
                            v8i gt = v > m;
                            m = (v8)(((v8i)v & gt) | ((v8i)m & ~gt));
                            idx = ((base + delta[k]) & gt) | (idx & ~gt);
                        }
                        v8_store(out + ob + 8 * q, m);
                        memcpy(ao + ob + 8 * q, &idx, sizeof idx);
                    }
                }
            }
}

/* dW and db of the direct path in one pass over the pixels, no column buffer: per pixel the
 * OC gradients are loaded once and feed every tap's accumulators (KH*KW*C*OC floats, which
 * stay in L1). Threads take ranges of samples into their own partials (dw, db for the first;
 * `partial` for the others, (KO + OC) floats each), added in thread order afterwards. */
/* One pass of the common case (no window reaches padding, OC a multiple of 32, K a multiple
 * of 3) over samples [lo, hi): taps t0..t0+2 x outputs ob..ob+31 in twelve accumulators. The
 * first pass over a block (first) also sums db and, with mask, applies the ReLU backward to dz
 * in place, so the later passes read the masked gradient with no compare. */
static inline __attribute__((always_inline)) void dw_pass(const keel_conv_geom *g, const float *x,
                                                          float *dz, const float *relu_y, float *dw,
                                                          float *db, int64_t lo, int64_t hi,
                                                          const int64_t *off, int64_t ob,
                                                          int64_t t0, bool first, bool mask) {
    const int64_t OC = g->OC, C = g->C, step = g->SW * C, o0 = off[t0], o1 = off[t0 + 1],
                  o2 = off[t0 + 2];
    const v8 zero = {0};
    v8 a[3][4], bs[4];
    for (int q = 0; q < 4; q++)
        a[0][q] = a[1][q] = a[2][q] = bs[q] = zero;
    for (int64_t b = lo; b < hi; b++)
        for (int64_t oh = 0; oh < g->OH; oh++) {
            const float *xr = x + (b * g->H + oh * g->SH) * g->W * C;
            const int64_t row = ((b * g->OH + oh) * g->OW) * OC + ob;
            float *dzr = dz + row;
            const float *yr = mask ? relu_y + row : NULL;
            for (int64_t ow = 0; ow < g->OW; ow++) {
                v8 d[4];
                for (int q = 0; q < 4; q++) {
                    d[q] = v8_load(dzr + ow * OC + 8 * q);
                    if (mask) {
                        d[q] = (v8)((v8i)d[q] & (v8_load(yr + ow * OC + 8 * q) > 0));
                        v8_store(dzr + ow * OC + 8 * q, d[q]);
                    }
                    if (first) bs[q] += d[q];
                }
                const float *xp = xr + ow * step;
                const float u0 = xp[o0], u1 = xp[o1], u2 = xp[o2];
                for (int q = 0; q < 4; q++)
                    a[0][q] += u0 * d[q];
                for (int q = 0; q < 4; q++)
                    a[1][q] += u1 * d[q];
                for (int q = 0; q < 4; q++)
                    a[2][q] += u2 * d[q];
            }
        }
    for (int tt = 0; tt < 3; tt++)
        for (int q = 0; q < 4; q++)
            v8_store(dw + (t0 + tt) * OC + ob + 8 * q, a[tt][q]);
    if (first)
        for (int q = 0; q < 4; q++)
            v8_store(db + ob + 8 * q, bs[q]);
}

void KEEL_SIMD_NAME(keel_simd_conv_dw)(const keel_conv_geom *g, const float *x, float *dz,
                                       const float *relu_y, float *dw, float *db, int64_t lo,
                                       int64_t hi) {
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C;
    const v8 zero = {0};
    memset(dw, 0, (size_t)(K * OC) * sizeof *dw);
    memset(db, 0, (size_t)OC * sizeof *db);
    int64_t off[32];
    const bool inside = keel_tap_offsets(g, off);
    if (inside && OC % 32 == 0 && K % 3 == 0) {
        for (int64_t ob = 0; ob < OC; ob += 32) {
            if (relu_y)
                dw_pass(g, x, dz, relu_y, dw, db, lo, hi, off, ob, 0, true, true);
            else
                dw_pass(g, x, dz, NULL, dw, db, lo, hi, off, ob, 0, true, false);
            for (int64_t t0 = 3; t0 < K; t0 += 3)
                dw_pass(g, x, dz, NULL, dw, db, lo, hi, off, ob, t0, false, false);
        }
        return;
    }
    /* three taps x 32 outputs of accumulators (12 vector registers) per pass over the pixels */
    for (int64_t ob = 0; ob < OC; ob += 32) {
        const int nb = OC - ob >= 32 ? 4 : (int)((OC - ob) / 8);
        for (int64_t t0 = 0; t0 < K; t0 += 3) {
            const int nt = K - t0 >= 3 ? 3 : (int)(K - t0);
            int64_t tkh[3] = {0}, tkw[3] = {0}, tc[3] = {0};
            for (int tt = 0; tt < nt; tt++) {
                int64_t t = t0 + tt;
                tc[tt] = t % C, tkw[tt] = (t / C) % g->KW, tkh[tt] = t / (C * g->KW);
            }
            v8 acc[3][4], bacc[4];
            for (int tt = 0; tt < 3; tt++)
                for (int q = 0; q < 4; q++)
                    acc[tt][q] = zero;
            for (int q = 0; q < 4; q++)
                bacc[q] = zero;
            for (int64_t b = lo; b < hi; b++)
                for (int64_t oh = 0; oh < g->OH; oh++)
                    for (int64_t ow = 0; ow < g->OW; ow++) {
                        const int64_t at = ((b * g->OH + oh) * g->OW + ow) * OC + ob;
                        v8 dv[4];
                        for (int q = 0; q < 4; q++) {
                            dv[q] = q < nb ? v8_load(dz + at + 8 * q) : zero;
                            if (relu_y && q < nb) /* the ReLU backward, folded in: dz where y > 0 */
                                dv[q] = (v8)((v8i)dv[q] & (v8_load(relu_y + at + 8 * q) > 0));
                        }
                        if (t0 == 0)
                            for (int q = 0; q < 4; q++)
                                bacc[q] += dv[q];
                        const float *x0 = x + ((b * g->H + oh * g->SH) * g->W + ow * g->SW) * C;
                        for (int tt = 0; tt < 3; tt++) {
                            if (tt >= nt) break;
                            float xv;
                            if (inside) {
                                xv = x0[off[t0 + tt]];
                            } else {
                                int64_t ih = oh * g->SH - g->PT + tkh[tt] * g->DH;
                                int64_t iw = ow * g->SW - g->PL + tkw[tt] * g->DW;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                xv = x[((b * g->H + ih) * g->W + iw) * C + tc[tt]];
                            }
                            for (int q = 0; q < 4; q++)
                                acc[tt][q] += xv * dv[q];
                        }
                    }
            for (int tt = 0; tt < nt; tt++)
                for (int q = 0; q < nb; q++)
                    v8_store(dw + (t0 + tt) * OC + ob + 8 * q, acc[tt][q]);
            if (t0 == 0)
                for (int q = 0; q < nb; q++)
                    v8_store(db + ob + 8 * q, bacc[q]);
        }
    }
}
