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

/* One register of floats: 8 in the AVX copies, 4 in the x86-64 one. The blocks below are
 * counted in registers (4 per pixel in the forward pass, 2 per pooled pixel, 4 per tap in dW),
 * so the x86-64 copy works on half as many outputs at a time: an 8-float type there, which gcc
 * splits into SSE pairs, spilled and built every broadcast and comparison through memory
 * (20-40x slower than AVX rather than 2-4x). */
#ifdef __AVX__
#define VL 8
#define LANES                                                                                      \
    { 0, 1, 2, 3, 4, 5, 6, 7 }
#else
#define VL 4
#define LANES                                                                                      \
    { 0, 1, 2, 3 }
#endif
typedef float vf __attribute__((vector_size(VL * 4)));
typedef int vi __attribute__((vector_size(VL * 4)));
static inline vf vf_load(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vf_store(float *p, vf v) {
    memcpy(p, &v, sizeof v);
}

/* Keeps weight vectors in registers: folded into the FMAs as memory operands (gcc's choice)
 * they made 12 loads per 8 FMAs, more than the load ports take. Without AVX there are no
 * memory operands to fold into (SSE multiplies, then adds), so there it is nothing. */
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

/* The common case (no window reaches padding, OC a multiple of 4 registers: 32 with AVX): two
 * neighbouring output pixels at a time, 4 registers of outputs each, in eight accumulators. Each
 * weight vector loaded feeds two FMAs, and eight independent chains hide the FMA latency (with one
 * pixel, four chains of K dependent FMAs left the core waiting: 2x slower). */
static inline __attribute__((always_inline)) void
direct_rows(const keel_direct_job *j, const int64_t *off, int64_t b, bool relu) {
    const keel_conv_geom *g = j->g;
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C, step = g->SW * C;
    const vf zero = {0};
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const float *xrow = j->x + (b * g->H + oh * g->SH) * g->W * C;
        float *yrow = j->y + (b * g->OH + oh) * g->OW * OC;
        for (int64_t ob = 0; ob < OC; ob += 4 * VL) {
            vf bias[4];
            for (int q = 0; q < 4; q++)
                bias[q] = j->b ? vf_load(j->b + ob + VL * q) : zero;
            for (int64_t ow = 0; ow < g->OW; ow += 2) {
                const bool two = ow + 1 < g->OW;
                const float *xa = xrow + ow * step, *xb = two ? xa + step : xa;
                vf a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
                vf c0 = bias[0], c1 = bias[1], c2 = bias[2], c3 = bias[3];
                for (int64_t t = 0; t < K; t++) {
                    const float u = xa[off[t]], v = xb[off[t]], *wr = j->w + t * OC + ob;
                    vf w0 = vf_load(wr), w1 = vf_load(wr + VL), w2 = vf_load(wr + 2 * VL),
                       w3 = vf_load(wr + 3 * VL);
                    IN_REGISTERS4(w0, w1, w2, w3);
                    a0 += u * w0, a1 += u * w1, a2 += u * w2, a3 += u * w3;
                    c0 += v * w0, c1 += v * w1, c2 += v * w2, c3 += v * w3;
                }
                vf out[8] = {a0, a1, a2, a3, c0, c1, c2, c3};
                float *ya = yrow + ow * OC + ob;
                for (int q = 0; q < (two ? 8 : 4); q++) {
                    vf o = out[q];
                    if (relu) o = (vf)((vi)o & (o > 0)); /* the comparison gives all-ones lanes */
                    vf_store(ya + (q / 4) * OC + VL * (q % 4), o);
                }
            }
        }
    }
}

/* y for output pixels: 4 registers of outputs at a time (32 with AVX; then one register at a
 * time), so each input value loaded feeds four FMAs */
void KEEL_SIMD_NAME(keel_simd_conv_direct)(void *ctx, int64_t lo, int64_t hi) {
    const keel_direct_job *j = ctx;
    const keel_conv_geom *g = j->g;
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C;
    const vf zero = {0};
    int64_t off[32];
    const bool inside = keel_tap_offsets(g, off);
    if (inside && OC % (4 * VL) == 0) {
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
                for (int64_t ob = 0; ob < OC; ob += 4 * VL) {
                    int nb = OC - ob >= 4 * VL ? 4 : (int)((OC - ob) / VL);
                    vf a[4];
                    for (int q = 0; q < 4; q++)
                        a[q] = j->b && q < nb ? vf_load(j->b + ob + VL * q) : zero;
                    if (inside && nb == 4) { /* the common case: no checks, four accumulators */
                        for (int64_t t = 0; t < K; t++) {
                            const float xv = x0[off[t]], *wr = j->w + t * OC + ob;
                            a[0] += xv * vf_load(wr), a[1] += xv * vf_load(wr + VL);
                            a[2] += xv * vf_load(wr + 2 * VL), a[3] += xv * vf_load(wr + 3 * VL);
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
                                        a[q] += xp[c] * vf_load(wp + c * OC + VL * q);
                            }
                        }
                    }
                    for (int q = 0; q < nb; q++) {
                        if (j->relu)
                            a[q] = (vf)((vi)a[q] &
                                        (a[q] > 0)); /* the comparison gives all-ones lanes */
                        vf_store(y + ob + VL * q, a[q]);
                    }
                }
            }
}

/* ---- convolution + ReLU + 2x2 max pool in one pass: for each pooled pixel the four
 * convolution pixels of its window, 2 registers of outputs each (16 with AVX), in eight
 * accumulators (each weight vector loaded feeds four FMAs), then ReLU and the max with its
 * winner in registers, in max pooling's window order (row by row, first maximum wins). */
void KEEL_SIMD_NAME(keel_simd_conv_relu_pool)(void *ctx, int64_t lo, int64_t hi) {
    const keel_direct_job *j = ctx;
    const keel_conv_geom *g = j->g;
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C, PH = g->OH / 2, PW = g->OW / 2;
    const int64_t step = g->SW * C, down = g->SH * g->W * C;
    const vf zero = {0};
    const vi lane = LANES;
    int64_t off[32];
    keel_tap_offsets(g, off);
    /* offsets of the window's four pixels from its first, in the convolution's output */
    const vi zi = {0}, delta[4] = {zi, zi + (int32_t)OC, zi + (int32_t)(g->OW * OC),
                                   zi + (int32_t)((g->OW + 1) * OC)};
    for (int64_t b = lo; b < hi; b++)
        for (int64_t ph = 0; ph < PH; ph++)
            for (int64_t pw = 0; pw < PW; pw++) {
                const float *x00 = j->x + ((b * g->H + 2 * ph * g->SH) * g->W + 2 * pw * g->SW) * C;
                const float *x01 = x00 + step, *x10 = x00 + down, *x11 = x10 + step;
                float *out = j->pooled + ((b * PH + ph) * PW + pw) * OC;
                int32_t *ao = j->arg + ((b * PH + ph) * PW + pw) * OC;
                const int32_t i00 = (int32_t)((2 * ph * g->OW + 2 * pw) * OC);
                for (int64_t ob = 0; ob < OC; ob += 2 * VL) {
                    vf p[4][2];
                    for (int q = 0; q < 2; q++) {
                        vf bq = j->b ? vf_load(j->b + ob + VL * q) : zero;
                        p[0][q] = p[1][q] = p[2][q] = p[3][q] = bq;
                    }
                    for (int64_t t = 0; t < K; t++) {
                        const float *wr = j->w + t * OC + ob;
                        vf w0 = vf_load(wr), w1 = vf_load(wr + VL);
                        IN_REGISTERS2(w0, w1);
                        const float u0 = x00[off[t]], u1 = x01[off[t]], u2 = x10[off[t]],
                                    u3 = x11[off[t]];
                        p[0][0] += u0 * w0, p[0][1] += u0 * w1, p[1][0] += u1 * w0,
                            p[1][1] += u1 * w1;
                        p[2][0] += u2 * w0, p[2][1] += u2 * w1, p[3][0] += u3 * w0,
                            p[3][1] += u3 * w1;
                    }
                    for (int q = 0; q < 2; q++) {
                        const vi base = lane + (int32_t)(i00 + ob + VL * q);
                        vf m = (vf)((vi)p[0][q] & (p[0][q] > 0));
                        vi idx = base;
                        for (int k = 1; k < 4; k++) {
                            vf v = (vf)((vi)p[k][q] & (p[k][q] > 0));
                            vi gt = v > m;
                            m = (vf)(((vi)v & gt) | ((vi)m & ~gt));
                            idx = ((base + delta[k]) & gt) | (idx & ~gt);
                        }
                        vf_store(out + ob + VL * q, m);
                        memcpy(ao + ob + VL * q, &idx, sizeof idx);
                    }
                }
            }
}

/* dW and db of the direct path in one pass over the pixels, no column buffer: per pixel the
 * OC gradients are loaded once and feed every tap's accumulators (KH*KW*C*OC floats, which
 * stay in L1). Threads take ranges of samples into their own partials (dw, db for the first;
 * `partial` for the others, (KO + OC) floats each), added in thread order afterwards. */
/* One pass of the common case (no window reaches padding, OC a multiple of 4 registers, K a
 * multiple of 3) over samples [lo, hi): taps t0..t0+2 x 4 registers of outputs from ob (32
 * with AVX) in twelve accumulators. The
 * first pass over a block (first) also sums db and, with mask, applies the ReLU backward to dz
 * in place, so the later passes read the masked gradient with no compare. */
static inline __attribute__((always_inline)) void dw_pass(const keel_conv_geom *g, const float *x,
                                                          float *dz, const float *relu_y, float *dw,
                                                          float *db, int64_t lo, int64_t hi,
                                                          const int64_t *off, int64_t ob,
                                                          int64_t t0, bool first, bool mask) {
    const int64_t OC = g->OC, C = g->C, step = g->SW * C, o0 = off[t0], o1 = off[t0 + 1],
                  o2 = off[t0 + 2];
    const vf zero = {0};
    vf a[3][4], bs[4];
    for (int q = 0; q < 4; q++)
        a[0][q] = a[1][q] = a[2][q] = bs[q] = zero;
    for (int64_t b = lo; b < hi; b++)
        for (int64_t oh = 0; oh < g->OH; oh++) {
            const float *xr = x + (b * g->H + oh * g->SH) * g->W * C;
            const int64_t row = ((b * g->OH + oh) * g->OW) * OC + ob;
            float *dzr = dz + row;
            const float *yr = mask ? relu_y + row : NULL;
            for (int64_t ow = 0; ow < g->OW; ow++) {
                vf d[4];
                for (int q = 0; q < 4; q++) {
                    d[q] = vf_load(dzr + ow * OC + VL * q);
                    if (mask) {
                        d[q] = (vf)((vi)d[q] & (vf_load(yr + ow * OC + VL * q) > 0));
                        vf_store(dzr + ow * OC + VL * q, d[q]);
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
            vf_store(dw + (t0 + tt) * OC + ob + VL * q, a[tt][q]);
    if (first)
        for (int q = 0; q < 4; q++)
            vf_store(db + ob + VL * q, bs[q]);
}

void KEEL_SIMD_NAME(keel_simd_conv_dw)(const keel_conv_geom *g, const float *x, float *dz,
                                       const float *relu_y, float *dw, float *db, int64_t lo,
                                       int64_t hi) {
    const int64_t OC = g->OC, C = g->C, K = g->KH * g->KW * C;
    const vf zero = {0};
    memset(dw, 0, (size_t)(K * OC) * sizeof *dw);
    memset(db, 0, (size_t)OC * sizeof *db);
    int64_t off[32];
    const bool inside = keel_tap_offsets(g, off);
    if (inside && OC % (4 * VL) == 0 && K % 3 == 0) {
        for (int64_t ob = 0; ob < OC; ob += 4 * VL) {
            if (relu_y)
                dw_pass(g, x, dz, relu_y, dw, db, lo, hi, off, ob, 0, true, true);
            else
                dw_pass(g, x, dz, NULL, dw, db, lo, hi, off, ob, 0, true, false);
            for (int64_t t0 = 3; t0 < K; t0 += 3)
                dw_pass(g, x, dz, NULL, dw, db, lo, hi, off, ob, t0, false, false);
        }
        return;
    }
    /* three taps x 4 registers of outputs (12 accumulators) per pass over the pixels */
    for (int64_t ob = 0; ob < OC; ob += 4 * VL) {
        const int nb = OC - ob >= 4 * VL ? 4 : (int)((OC - ob) / VL);
        for (int64_t t0 = 0; t0 < K; t0 += 3) {
            const int nt = K - t0 >= 3 ? 3 : (int)(K - t0);
            int64_t tkh[3] = {0}, tkw[3] = {0}, tc[3] = {0};
            for (int tt = 0; tt < nt; tt++) {
                int64_t t = t0 + tt;
                tc[tt] = t % C, tkw[tt] = (t / C) % g->KW, tkh[tt] = t / (C * g->KW);
            }
            vf acc[3][4], bacc[4];
            for (int tt = 0; tt < 3; tt++)
                for (int q = 0; q < 4; q++)
                    acc[tt][q] = zero;
            for (int q = 0; q < 4; q++)
                bacc[q] = zero;
            for (int64_t b = lo; b < hi; b++)
                for (int64_t oh = 0; oh < g->OH; oh++)
                    for (int64_t ow = 0; ow < g->OW; ow++) {
                        const int64_t at = ((b * g->OH + oh) * g->OW + ow) * OC + ob;
                        vf dv[4];
                        for (int q = 0; q < 4; q++) {
                            dv[q] = q < nb ? vf_load(dz + at + VL * q) : zero;
                            if (relu_y && q < nb) /* the ReLU backward, folded in: dz where y > 0 */
                                dv[q] = (vf)((vi)dv[q] & (vf_load(relu_y + at + VL * q) > 0));
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
                    vf_store(dw + (t0 + tt) * OC + ob + VL * q, acc[tt][q]);
            if (t0 == 0)
                for (int q = 0; q < nb; q++)
                    vf_store(db + ob + VL * q, bacc[q]);
        }
    }
}
