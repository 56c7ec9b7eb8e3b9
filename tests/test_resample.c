/* test_resample.c: the UpSampling2D and Conv2DTranspose kernels (src/kernels/resample.h).
 *
 * Three kinds of evidence for each kernel:
 *  - fast vs naive: the threaded kernels against the direct references in double, on odd
 *    shapes (sizes 1, primes, strides larger and smaller than the kernel, every padding and
 *    output_padding form), in both overwrite and accumulate modes, and on shapes big enough
 *    for keel_parallel_for to split;
 *  - finite differences: for L = sum(y * r) (r fixed, random), the backward pass's dL/dx,
 *    dL/dw and dL/db against central differences in double, coordinate by coordinate, and
 *    along one random direction of all the arguments at once;
 *  - tf.keras 2.15: the fast kernels and the references against the records of
 *    tests/fixtures/keras_compose.txt (tools/make_compose_fixtures.py, real Keras): output
 *    shape, y, and the gradients of the same L (dy = r).
 * And the geometry checks each fail with a message naming the layer and what is wrong. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/resample.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* fixture.h's model helpers */
#include "fixture.h"
#pragma GCC diagnostic pop

static void fill(float *p, int64_t n, uint64_t seed, float lo, float hi) {
    for (int64_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * keel_rand_uniform(seed, 11, (uint64_t)i);
}

static float *fnew(int64_t n) {
    float *p = calloc((size_t)(n ? n : 1), sizeof *p);
    cr_assert_not_null(p);
    return p;
}

/* |got - want| <= atol + rtol |want| everywhere; names the first index that is not */
static void expect_near(const char *ctx, const char *what, const float *got, const float *want,
                        int64_t n, double rtol, double atol) {
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= atol + rtol * fabs(want[i]))) {
            cr_expect(0, "%s: %s[%lld]: fast %.9g, reference %.9g", ctx, what, (long long)i, got[i],
                      want[i]);
            return;
        }
    }
}

static double dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

/* ================================================================== UpSampling2D */

typedef struct up_case {
    int64_t n, H, W, C, SH, SW;
} up_case;

/* odd shapes; the last is big enough that both directions run on several threads */
static const up_case UP_CASES[] = {
    {1, 1, 1, 1, 1, 1}, {3, 5, 7, 3, 2, 2}, {2, 3, 4, 5, 2, 3},    {1, 7, 2, 1, 3, 1},
    {2, 1, 6, 4, 1, 4}, {1, 2, 2, 3, 5, 5}, {4, 17, 13, 16, 3, 2},
};

static keel_upsample_geom up_geom(const up_case *c, keel_interp k) {
    keel_upsample_geom g = {.H = c->H, .W = c->W, .C = c->C, .SH = c->SH, .SW = c->SW, .interp = k};
    cr_assert_eq(keel_upsample_geom_init(&g, "test"), KEEL_OK, "%s", keel_last_error());
    cr_assert_eq(g.OH, c->H * c->SH);
    cr_assert_eq(g.OW, c->W * c->SW);
    return g;
}

Test(resample, upsample_fast_matches_reference) {
    for (int k = 0; k < KEEL_INTERP_COUNT; k++)
        for (size_t i = 0; i < sizeof UP_CASES / sizeof UP_CASES[0]; i++) {
            const up_case *c = &UP_CASES[i];
            keel_upsample_geom g = up_geom(c, (keel_interp)k);
            char ctx[128];
            snprintf(ctx, sizeof ctx, "%s n=%lld %lldx%lldx%lld size (%lld, %lld)",
                     keel_interp_name(g.interp), (long long)c->n, (long long)c->H, (long long)c->W,
                     (long long)c->C, (long long)c->SH, (long long)c->SW);
            const int64_t nx = c->n * g.H * g.W * g.C, ny = c->n * g.OH * g.OW * g.C;
            float *x = fnew(nx), *y = fnew(ny), *yr = fnew(ny), *dy = fnew(ny);
            float *dx = fnew(nx), *dxr = fnew(nx);
            fill(x, nx, 1 + i, -1, 1);
            fill(dy, ny, 2 + i, -1, 1);
            keel_upsample_forward(&g, x, y, c->n);
            keel_upsample_forward_ref(&g, x, yr, c->n);
            /* nearest copies values: exact; bilinear's weights are float32 in the fast kernel */
            expect_near(ctx, "y", y, yr, ny, k == KEEL_INTERP_NEAREST ? 0 : 1e-5,
                        k == KEEL_INTERP_NEAREST ? 0 : 1e-5);
            for (int acc = 0; acc < 2; acc++) { /* overwrite, then += onto a nonzero dx */
                fill(dx, nx, 3, -1, 1);
                memcpy(dxr, dx, (size_t)nx * sizeof *dx);
                keel_upsample_backward(&g, dy, dx, c->n, acc);
                keel_upsample_backward_ref(&g, dy, dxr, c->n, acc);
                expect_near(ctx, acc ? "dx (accumulated)" : "dx", dx, dxr, nx, 1e-5, 1e-5);
            }
            free(x), free(y), free(yr), free(dy), free(dx), free(dxr);
        }
}

/* Each output row and input row is written by one thread only: 1 and 3 threads agree bit for
 * bit. */
Test(resample, upsample_same_on_any_thread_count) {
    const up_case *c = &UP_CASES[sizeof UP_CASES / sizeof UP_CASES[0] - 1];
    for (int k = 0; k < KEEL_INTERP_COUNT; k++) {
        keel_upsample_geom g = up_geom(c, (keel_interp)k);
        const int64_t nx = c->n * g.H * g.W * g.C, ny = c->n * g.OH * g.OW * g.C;
        float *x = fnew(nx), *y1 = fnew(ny), *y3 = fnew(ny), *dx1 = fnew(nx), *dx3 = fnew(nx);
        fill(x, nx, 5, -1, 1);
        keel_set_threads(1);
        keel_upsample_forward(&g, x, y1, c->n);
        keel_upsample_backward(&g, y1, dx1, c->n, false);
        keel_set_threads(3);
        keel_upsample_forward(&g, x, y3, c->n);
        keel_upsample_backward(&g, y3, dx3, c->n, false);
        keel_set_threads(0);
        cr_expect(!memcmp(y1, y3, (size_t)ny * sizeof *y1), "%s: y differs", keel_interp_name(k));
        cr_expect(!memcmp(dx1, dx3, (size_t)nx * sizeof *dx1), "%s: dx differs",
                  keel_interp_name(k));
        free(x), free(y1), free(y3), free(dx1), free(dx3);
    }
}

/* L(x) = sum(upsample(x) * r), in double */
static double up_loss(const keel_upsample_geom *g, const float *x, const float *r, float *y,
                      int64_t n) {
    keel_upsample_forward(g, x, y, n);
    return dot(y, r, n * g->OH * g->OW * g->C);
}

/* The forward map is linear in x, so a central difference has no truncation error at any
 * step; eps = 1e-2 keeps float32 rounding of y (about 1e-7 |L|) far below the tolerance. */
Test(resample, upsample_backward_matches_finite_differences) {
    const up_case cases[] = {{2, 3, 4, 2, 2, 3}, {1, 4, 3, 3, 3, 2}, {1, 1, 2, 1, 2, 2}};
    for (int k = 0; k < KEEL_INTERP_COUNT; k++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const up_case *c = &cases[i];
            keel_upsample_geom g = up_geom(c, (keel_interp)k);
            const int64_t nx = c->n * g.H * g.W * g.C, ny = c->n * g.OH * g.OW * g.C;
            float *x = fnew(nx), *r = fnew(ny), *y = fnew(ny), *dx = fnew(nx), *d = fnew(nx);
            fill(x, nx, 21, -1, 1);
            fill(r, ny, 22, -1, 1);
            fill(d, nx, 23, -1, 1);
            keel_upsample_backward(&g, r, dx, c->n, false); /* dL/dy = r */
            const float eps = 1e-2f;
            for (int64_t j = 0; j < nx; j++) {
                const float x0 = x[j];
                x[j] = x0 + eps;
                double lp = up_loss(&g, x, r, y, c->n);
                x[j] = x0 - eps;
                double lm = up_loss(&g, x, r, y, c->n);
                x[j] = x0;
                double num = (lp - lm) / (2.0 * eps);
                cr_expect(fabs(num - dx[j]) <= 1e-3 * fabs(num) + 1e-4,
                          "%s case %zu: dL/dx[%lld] %.7g (backward) vs %.7g (numeric)",
                          keel_interp_name(k), i, (long long)j, dx[j], num);
            }
            /* along a random direction of all of x at once */
            float *xp = fnew(nx);
            for (int64_t j = 0; j < nx; j++)
                xp[j] = x[j] + eps * d[j];
            double lp = up_loss(&g, xp, r, y, c->n);
            for (int64_t j = 0; j < nx; j++)
                xp[j] = x[j] - eps * d[j];
            double lm = up_loss(&g, xp, r, y, c->n), num = (lp - lm) / (2.0 * eps);
            double ana = dot(dx, d, nx);
            cr_expect(fabs(num - ana) <= 1e-3 * fabs(ana) + 1e-4,
                      "%s case %zu: directional %.7g (backward) vs %.7g (numeric)",
                      keel_interp_name(k), i, ana, num);
            free(x), free(r), free(y), free(dx), free(d), free(xp);
        }
}

Test(resample, upsample_geometry_errors) {
    keel_upsample_geom g = {.H = 4, .W = 4, .C = 2, .SH = 0, .SW = 2};
    cr_expect_eq(keel_upsample_geom_init(&g, "up_1"), KEEL_ERR_ARG);
    EXPECT_MSG("up_1: size must be positive, got (0, 2)");
    g = (keel_upsample_geom){.H = 4, .W = 0, .C = 2, .SH = 2, .SW = 2};
    cr_expect_eq(keel_upsample_geom_init(&g, "up_2"), KEEL_ERR_SHAPE);
    EXPECT_MSG("up_2: UpSampling2D expects input");
    EXPECT_MSG("(None, 4, 0, 2)");
    g = (keel_upsample_geom){.H = 4, .W = 4, .C = 2, .SH = 2, .SW = 2, .interp = KEEL_INTERP_COUNT};
    cr_expect_eq(keel_upsample_geom_init(&g, "up_3"), KEEL_ERR_ARG);
    EXPECT_MSG("up_3: unknown interpolation");
    g = (keel_upsample_geom){.H = 1 << 20, .W = 4, .C = 2, .SH = 1 << 10, .SW = 2};
    cr_expect_eq(keel_upsample_geom_init(&g, "up_4"), KEEL_ERR_SHAPE);
    EXPECT_MSG("up_4: output");
    EXPECT_MSG("too large");

    keel_interp k = KEEL_INTERP_BILINEAR;
    cr_expect_eq(keel_interp_parse(NULL, &k, "up"), KEEL_OK);
    cr_expect_eq(k, KEEL_INTERP_NEAREST, "NULL means Keras's default, nearest");
    cr_expect_eq(keel_interp_parse("bilinear", &k, "up"), KEEL_OK);
    cr_expect_eq(k, KEEL_INTERP_BILINEAR);
    cr_expect_eq(keel_interp_parse("bilnear", &k, "up_5"), KEEL_ERR_ARG);
    EXPECT_MSG("up_5: interpolation must be \"nearest\" or \"bilinear\", got \"bilnear\"");
    EXPECT_MSG("did you mean \"bilinear\"?");
    cr_expect_eq(keel_interp_parse("bicubic", &k, "up_6"), KEEL_ERR_ARG);
    EXPECT_MSG("got \"bicubic\"");
    cr_expect_str_eq(keel_interp_name(KEEL_INTERP_COUNT), "?");
}

/* ================================================================== Conv2DTranspose */

typedef struct dc_case {
    int64_t n, H, W, C, OC, KH, KW, SH, SW;
    bool same;
    int64_t OPH, OPW;
    bool bias;
} dc_case;

/* odd shapes: overlapping windows, no overlap (K = S), gaps (K < S), the "same" cut on one or
 * both sides, output_padding adding rows no window reaches, a 1x1 pointwise case; the last is
 * big enough for the column passes to run threaded */
static const dc_case DC_CASES[] = {
    {2, 5, 4, 2, 3, 3, 3, 1, 1, false, -1, -1, true},
    {2, 4, 5, 3, 4, 3, 3, 2, 2, true, -1, -1, true},
    {1, 3, 4, 3, 2, 3, 2, 2, 2, false, 1, 1, true},
    {2, 3, 5, 2, 3, 4, 4, 2, 2, true, 1, 1, false},
    {1, 3, 3, 4, 2, 3, 3, 3, 2, true, 2, 1, true},
    {2, 3, 3, 3, 5, 1, 1, 1, 1, false, -1, -1, true},
    {3, 3, 4, 2, 3, 2, 2, 2, 2, false, -1, -1, false},
    {1, 4, 4, 1, 2, 5, 5, 2, 2, true, -1, -1, true},
    {1, 3, 2, 2, 3, 1, 1, 2, 2, false, -1, -1, true},
    {1, 3, 4, 2, 2, 3, 3, 2, 2, true, 0, 0, true},
    {2, 1, 1, 3, 2, 2, 3, 1, 2, false, 0, 1, true},
    {1, 2, 7, 5, 3, 5, 2, 3, 1, true, -1, -1, true},
    {8, 13, 11, 7, 6, 4, 3, 2, 3, true, 1, 0, true},
};

static keel_deconv_geom dc_geom(const dc_case *c) {
    keel_deconv_geom g = {.H = c->H,
                          .W = c->W,
                          .C = c->C,
                          .OC = c->OC,
                          .KH = c->KH,
                          .KW = c->KW,
                          .SH = c->SH,
                          .SW = c->SW,
                          .same = c->same,
                          .OPH = c->OPH,
                          .OPW = c->OPW};
    cr_assert_eq(keel_deconv_geom_init(&g, "test"), KEEL_OK, "%s", keel_last_error());
    return g;
}

static void dc_ctx(char *buf, size_t cap, const dc_case *c, const keel_deconv_geom *g) {
    snprintf(buf, cap,
             "n=%lld %lldx%lldx%lld -> %lldx%lldx%lld, kernel %lldx%lld, strides (%lld, %lld), %s, "
             "output_padding (%lld, %lld)%s",
             (long long)c->n, (long long)c->H, (long long)c->W, (long long)c->C, (long long)g->OH,
             (long long)g->OW, (long long)c->OC, (long long)c->KH, (long long)c->KW,
             (long long)c->SH, (long long)c->SW, c->same ? "same" : "valid", (long long)c->OPH,
             (long long)c->OPW, c->bias ? "" : ", no bias");
}

/* buffers for one case */
typedef struct dc_bufs {
    int64_t nx, ny, nw, nsc;
    float *x, *w, *b, *y, *dy, *scratch;
} dc_bufs;

static dc_bufs dc_alloc(const dc_case *c, const keel_deconv_geom *g, uint64_t seed) {
    dc_bufs B = {.nx = c->n * c->H * c->W * c->C,
                 .ny = c->n * g->OH * g->OW * c->OC,
                 .nw = c->KH * c->KW * c->OC * c->C,
                 .nsc = c->n * keel_deconv_scratch(g)};
    B.x = fnew(B.nx), B.w = fnew(B.nw), B.b = fnew(c->OC), B.y = fnew(B.ny), B.dy = fnew(B.ny);
    B.scratch = fnew(B.nsc);
    fill(B.x, B.nx, seed, -1, 1);
    fill(B.w, B.nw, seed + 1, -0.5f, 0.5f);
    fill(B.b, c->OC, seed + 2, -0.3f, 0.3f);
    fill(B.dy, B.ny, seed + 3, -1, 1);
    return B;
}

static void dc_free(dc_bufs *B) {
    free(B->x), free(B->w), free(B->b), free(B->y), free(B->dy), free(B->scratch);
}

Test(resample, deconv_output_sizes_follow_keras) {
    /* Keras's deconv_output_length, worked by hand for a few cases */
    struct {
        dc_case c;
        int64_t OH, OW, PT, PL;
    } t[] = {
        {{1, 4, 5, 1, 1, 3, 3, 2, 2, true, -1, -1, true}, 8, 10, 0, 0},  /* same: H*S */
        {{1, 4, 5, 1, 1, 3, 3, 2, 2, false, -1, -1, true}, 9, 11, 0, 0}, /* H*S + K-S */
        {{1, 3, 2, 1, 1, 1, 1, 2, 2, false, -1, -1, true}, 6, 4, 0, 0},  /* K < S: H*S */
        {{1, 4, 4, 1, 1, 3, 3, 2, 2, true, 0, 0, true}, 7, 7, 1, 1},     /* (H-1)S + K - 2 + 0 */
        {{1, 3, 5, 1, 1, 4, 4, 2, 2, true, 1, 1, true}, 5, 9, 1, 1},     /* (H-1)S + 4 - 4 + 1 */
        {{1, 3, 4, 1, 1, 3, 2, 2, 2, false, 1, 1, true}, 8, 9, 0, 0},    /* (H-1)S + K + 1 */
        {{1, 4, 4, 1, 1, 5, 5, 2, 2, true, -1, -1, true}, 8, 8, 1, 1},   /* cut (3 // 2) first */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        keel_deconv_geom g = dc_geom(&t[i].c);
        cr_expect(g.OH == t[i].OH && g.OW == t[i].OW && g.PT == t[i].PT && g.PL == t[i].PL,
                  "case %zu: output %lldx%lld cut (%lld, %lld), expected %lldx%lld (%lld, %lld)", i,
                  (long long)g.OH, (long long)g.OW, (long long)g.PT, (long long)g.PL,
                  (long long)t[i].OH, (long long)t[i].OW, (long long)t[i].PT, (long long)t[i].PL);
    }
}

Test(resample, deconv_fast_matches_reference) {
    for (size_t i = 0; i < sizeof DC_CASES / sizeof DC_CASES[0]; i++) {
        const dc_case *c = &DC_CASES[i];
        keel_deconv_geom g = dc_geom(c);
        char ctx[256];
        dc_ctx(ctx, sizeof ctx, c, &g);
        dc_bufs B = dc_alloc(c, &g, 100 + 10 * i);
        float *yr = fnew(B.ny);
        const float *b = c->bias ? B.b : NULL;
        keel_deconv_forward(&g, B.x, B.w, b, B.y, c->n, B.scratch);
        keel_deconv_forward_ref(&g, B.x, B.w, b, yr, c->n);
        expect_near(ctx, "y", B.y, yr, B.ny, 1e-5, 1e-5);
        /* every gradient, overwritten and then accumulated onto nonzero values */
        float *dx = fnew(B.nx), *dw = fnew(B.nw), *db = fnew(c->OC);
        float *dxr = fnew(B.nx), *dwr = fnew(B.nw), *dbr = fnew(c->OC);
        for (int acc = 0; acc < 2; acc++) {
            fill(dx, B.nx, 7, -1, 1), fill(dw, B.nw, 8, -1, 1), fill(db, c->OC, 9, -1, 1);
            memcpy(dxr, dx, (size_t)B.nx * sizeof *dx);
            memcpy(dwr, dw, (size_t)B.nw * sizeof *dw);
            memcpy(dbr, db, (size_t)c->OC * sizeof *db);
            keel_deconv_grads gf = {dx, dw, db, acc, acc}, gref = {dxr, dwr, dbr, acc, acc};
            keel_deconv_backward(&g, B.x, B.w, B.dy, gf, c->n, B.scratch);
            keel_deconv_backward_ref(&g, B.x, B.w, B.dy, gref, c->n);
            expect_near(ctx, acc ? "dx (accumulated)" : "dx", dx, dxr, B.nx, 1e-5, 1e-5);
            expect_near(ctx, acc ? "dw (accumulated)" : "dw", dw, dwr, B.nw, 1e-5, 1e-5);
            expect_near(ctx, acc ? "db (accumulated)" : "db", db, dbr, c->OC, 1e-5, 1e-5);
        }
        /* one gradient at a time (the others NULL), and dx accumulated while dw is not */
        float *dx2 = fnew(B.nx), *dw2 = fnew(B.nw);
        keel_deconv_backward(&g, B.x, B.w, B.dy, (keel_deconv_grads){.dx = dx2}, c->n, B.scratch);
        keel_deconv_backward_ref(&g, B.x, B.w, B.dy, (keel_deconv_grads){.dx = dxr}, c->n);
        expect_near(ctx, "dx alone", dx2, dxr, B.nx, 1e-5, 1e-5);
        keel_deconv_backward(&g, B.x, B.w, B.dy, (keel_deconv_grads){.dw = dw2}, c->n, B.scratch);
        keel_deconv_backward_ref(&g, B.x, B.w, B.dy, (keel_deconv_grads){.dw = dwr}, c->n);
        expect_near(ctx, "dw alone", dw2, dwr, B.nw, 1e-5, 1e-5);
        keel_deconv_backward(&g, B.x, B.w, B.dy,
                             (keel_deconv_grads){.dx = dx2, .dw = dw2, .accumulate_dx = true}, c->n,
                             B.scratch);
        for (int64_t j = 0; j < B.nx; j++)
            dxr[j] *= 2; /* dx2 held dx once already */
        expect_near(ctx, "dx accumulated, dw overwritten: dx", dx2, dxr, B.nx, 1e-5, 1e-5);
        expect_near(ctx, "dx accumulated, dw overwritten: dw", dw2, dwr, B.nw, 1e-5, 1e-5);
        free(yr), free(dx), free(dw), free(db), free(dxr), free(dwr), free(dbr), free(dx2),
            free(dw2);
        dc_free(&B);
    }
}

/* L(x, w, b) = sum(deconv(x, w) + b) * r), in double */
static double dc_loss(const keel_deconv_geom *g, const dc_bufs *B, const float *r, int64_t n,
                      bool bias) {
    keel_deconv_forward(g, B->x, B->w, bias ? B->b : NULL, B->y, n, B->scratch);
    return dot(B->y, r, B->ny);
}

/* central difference of dc_loss in coordinate j of p, against the backward's value */
static void dc_fd(const char *ctx, const char *what, const keel_deconv_geom *g, const dc_bufs *B,
                  const float *r, int64_t n, bool bias, float *p, int64_t j, float ana) {
    const float eps = 1e-2f, p0 = p[j]; /* L is linear in each argument: no truncation error */
    p[j] = p0 + eps;
    double lp = dc_loss(g, B, r, n, bias);
    p[j] = p0 - eps;
    double lm = dc_loss(g, B, r, n, bias);
    p[j] = p0;
    double num = (lp - lm) / (2.0 * eps);
    cr_expect(fabs(num - ana) <= 1e-3 * fabs(num) + 1e-4,
              "%s: dL/d%s[%lld] %.7g (backward) vs %.7g (numeric)", ctx, what, (long long)j, ana,
              num);
}

Test(resample, deconv_backward_matches_finite_differences) {
    const dc_case cases[] = {
        {2, 3, 2, 2, 3, 3, 3, 2, 2, true, -1, -1, true},
        {1, 2, 3, 3, 2, 4, 4, 2, 2, true, 1, 1, true},
        {2, 2, 2, 2, 2, 3, 2, 2, 2, false, 1, 1, true},
        {1, 2, 2, 2, 3, 1, 1, 3, 2, false, -1, -1, true},
        {2, 3, 3, 2, 2, 1, 1, 1, 1, false, -1, -1, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const dc_case *c = &cases[i];
        keel_deconv_geom g = dc_geom(c);
        char ctx[256];
        dc_ctx(ctx, sizeof ctx, c, &g);
        dc_bufs B = dc_alloc(c, &g, 300 + 10 * i);
        const float *r = B.dy; /* dL/dy = r */
        float *dx = fnew(B.nx), *dw = fnew(B.nw), *db = fnew(c->OC);
        keel_deconv_backward(&g, B.x, B.w, r, (keel_deconv_grads){dx, dw, db, false, false}, c->n,
                             B.scratch);
        for (int64_t j = 0; j < B.nx; j++)
            dc_fd(ctx, "x", &g, &B, r, c->n, true, B.x, j, dx[j]);
        for (int64_t j = 0; j < B.nw; j++)
            dc_fd(ctx, "w", &g, &B, r, c->n, true, B.w, j, dw[j]);
        for (int64_t j = 0; j < c->OC; j++)
            dc_fd(ctx, "b", &g, &B, r, c->n, true, B.b, j, db[j]);
        /* along one random direction of (x, w, b) at once: L is quadratic there (x times w),
         * and a central difference is exact for a quadratic */
        float *x0 = fnew(B.nx), *w0 = fnew(B.nw), *b0 = fnew(c->OC);
        float *dir = fnew(B.nx + B.nw + c->OC);
        memcpy(x0, B.x, (size_t)B.nx * sizeof *x0), memcpy(w0, B.w, (size_t)B.nw * sizeof *w0);
        memcpy(b0, B.b, (size_t)c->OC * sizeof *b0);
        fill(dir, B.nx + B.nw + c->OC, 77, -1, 1);
        const float eps = 1e-2f;
        double l[2];
        for (int s = 0; s < 2; s++) {
            const float e = s ? -eps : eps;
            for (int64_t j = 0; j < B.nx; j++)
                B.x[j] = x0[j] + e * dir[j];
            for (int64_t j = 0; j < B.nw; j++)
                B.w[j] = w0[j] + e * dir[B.nx + j];
            for (int64_t j = 0; j < c->OC; j++)
                B.b[j] = b0[j] + e * dir[B.nx + B.nw + j];
            l[s] = dc_loss(&g, &B, r, c->n, true);
        }
        double num = (l[0] - l[1]) / (2.0 * eps);
        double ana =
            dot(dx, dir, B.nx) + dot(dw, dir + B.nx, B.nw) + dot(db, dir + B.nx + B.nw, c->OC);
        cr_expect(fabs(num - ana) <= 1e-3 * fabs(ana) + 1e-4,
                  "%s: directional derivative %.7g (backward) vs %.7g (numeric)", ctx, ana, num);
        free(dx), free(dw), free(db), free(x0), free(w0), free(b0), free(dir);
        dc_free(&B);
    }
}

Test(resample, deconv_geometry_errors) {
    struct {
        keel_deconv_geom g;
        keel_status st;
        const char *msg[2];
    } t[] = {
        {{.H = 4,
          .W = 4,
          .C = 2,
          .OC = 0,
          .KH = 3,
          .KW = 3,
          .SH = 1,
          .SW = 1,
          .OPH = -1,
          .OPW = -1},
         KEEL_ERR_ARG,
         {"filters must be positive, got 0", ""}},
        {{.H = 4,
          .W = 4,
          .C = 2,
          .OC = 2,
          .KH = 0,
          .KW = 3,
          .SH = 1,
          .SW = 1,
          .OPH = -1,
          .OPW = -1},
         KEEL_ERR_ARG,
         {"kernel_size and strides must be positive", "kernel_size (0, 3)"}},
        {{.H = 4,
          .W = 4,
          .C = 2,
          .OC = 2,
          .KH = 3,
          .KW = 3,
          .SH = 2,
          .SW = 0,
          .OPH = -1,
          .OPW = -1},
         KEEL_ERR_ARG,
         {"strides (2, 0)", ""}},
        {{.H = 4, .W = 4, .C = 2, .OC = 2, .KH = 3, .KW = 3, .SH = 2, .SW = 2, .OPH = 2, .OPW = 1},
         KEEL_ERR_ARG,
         {"output_padding (2, 1) must be None (-1, -1) or non-negative and smaller than the "
          "strides "
          "(2, 2)",
          ""}},
        {{.H = 4, .W = 4, .C = 2, .OC = 2, .KH = 3, .KW = 3, .SH = 2, .SW = 2, .OPH = -2, .OPW = 0},
         KEEL_ERR_ARG,
         {"output_padding (-2, 0)", ""}},
        {{.H = 4, .W = 4, .C = 2, .OC = 2, .KH = 3, .KW = 3, .SH = 2, .SW = 2, .OPH = -1, .OPW = 0},
         KEEL_ERR_ARG,
         {"output_padding (-1, 0)", ""}},
        {{.H = 0,
          .W = 4,
          .C = 2,
          .OC = 2,
          .KH = 3,
          .KW = 3,
          .SH = 1,
          .SW = 1,
          .OPH = -1,
          .OPW = -1},
         KEEL_ERR_SHAPE,
         {"Conv2DTranspose expects input", "(None, 0, 4, 2)"}},
        {{.H = 4,
          .W = 4,
          .C = 2,
          .OC = 2,
          .KH = 3,
          .KW = (int64_t)1 << 30,
          .SH = 1,
          .SW = 1,
          .OPH = -1,
          .OPW = -1},
         KEEL_ERR_ARG,
         {"too large", ""}},
        /* an even kernel, "same", output_padding 0, one pixel: Keras's length is 0 */
        {{.H = 1,
          .W = 3,
          .C = 2,
          .OC = 2,
          .KH = 2,
          .KW = 2,
          .SH = 2,
          .SW = 2,
          .same = true,
          .OPH = 0,
          .OPW = 0},
         KEEL_ERR_SHAPE,
         {"gives an empty output (0x4)", ""}},
        /* kernel 4, stride 2, "same", output_padding 0: output 6, but ceil(6 / 2) = 3 != 4 */
        {{.H = 4,
          .W = 4,
          .C = 2,
          .OC = 2,
          .KH = 4,
          .KW = 4,
          .SH = 2,
          .SW = 2,
          .same = true,
          .OPH = 0,
          .OPW = 0},
         KEEL_ERR_SHAPE,
         {"makes output 6x6, which a 4x4 stride-(2, 2) convolution maps to 3x3, not the input's "
          "4x4",
          "try output_padding None"}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "deconv_%zu", i);
        cr_expect_eq(keel_deconv_geom_init(&t[i].g, what), t[i].st, "case %zu: %s", i,
                     keel_last_error());
        cr_expect(!strncmp(keel_last_error(), what, strlen(what)), "case %zu: \"%s\" lacks %s", i,
                  keel_last_error(), what);
        for (int k = 0; k < 2; k++)
            if (t[i].msg[k][0]) EXPECT_MSG(t[i].msg[k]);
    }
}

/* ================================================================== against tf.keras 2.15 */

#define RTOL_VALUE 1e-4
#define RTOL_GRAD 1e-3

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

/* the 4-d shape record cs.what */
static void fx_shape4(const fx_file *f, const char *cs, const char *what, int64_t d[4]) {
    const double *v = fx_vals(f, cs, what, 4);
    for (int k = 0; k < 4; k++)
        d[k] = (int64_t)v[k];
}

/* the cases whose records start with prefix, in file order */
static int fx_cases(const fx_file *f, const char *prefix, char names[][64], int cap) {
    int n = 0;
    for (int i = 0; i < f->n && n < cap; i++) {
        const char *nm = f->r[i].name, *dot = strchr(nm, '.');
        if (strncmp(nm, prefix, strlen(prefix)) || !dot || strcmp(dot, ".config")) continue;
        snprintf(names[n++], 64, "%.*s", (int)(dot - nm), nm);
    }
    return n;
}

Test(resample, deconv_matches_keras) {
    fx_file f;
    fx_load_from(&f, "keras_compose.txt", "make_compose_fixtures.py");
    char names[32][64];
    int ncase = fx_cases(&f, "deconv_", names, 32);
    cr_assert_geq(ncase, 10, "%s: expected the deconv_a ... deconv_j cases", f.path);
    for (int i = 0; i < ncase; i++) {
        const char *cs = names[i];
        const double *cfg = fx_vals(&f, cs, "config", 8);
        int64_t xs[4], ys[4];
        fx_shape4(&f, cs, "x_shape", xs);
        fx_shape4(&f, cs, "y_shape", ys);
        keel_deconv_geom g = {.H = xs[1],
                              .W = xs[2],
                              .C = xs[3],
                              .OC = (int64_t)cfg[0],
                              .KH = (int64_t)cfg[1],
                              .KW = (int64_t)cfg[2],
                              .SH = (int64_t)cfg[3],
                              .SW = (int64_t)cfg[4],
                              .same = cfg[5] != 0,
                              .OPH = (int64_t)cfg[6],
                              .OPW = (int64_t)cfg[7]};
        cr_assert_eq(keel_deconv_geom_init(&g, cs), KEEL_OK, "%s", keel_last_error());
        cr_expect(g.OH == ys[1] && g.OW == ys[2] && g.OC == ys[3],
                  "%s: output %lldx%lldx%lld, Keras %lldx%lldx%lld", cs, (long long)g.OH,
                  (long long)g.OW, (long long)g.OC, (long long)ys[1], (long long)ys[2],
                  (long long)ys[3]);
        if (g.OH != ys[1] || g.OW != ys[2]) continue;
        const int64_t n = xs[0], nx = n * g.H * g.W * g.C, ny = n * g.OH * g.OW * g.OC;
        const int64_t nw = g.KH * g.KW * g.OC * g.C;
        const bool bias = fx_find(&f, cs, "bias", false) != NULL;
        float *x = fx_floats(&f, cs, "x", nx), *w = fx_floats(&f, cs, "kernel", nw);
        float *b = bias ? fx_floats(&f, cs, "bias", g.OC) : NULL, *r = fx_floats(&f, cs, "r", ny);
        float *y = fnew(ny), *dx = fnew(nx), *dw = fnew(nw), *db = fnew(g.OC);
        float *scratch = fnew(n * keel_deconv_scratch(&g));
        for (int ref = 0; ref < 2; ref++) { /* the fast kernels, then the references */
            char ctx[96];
            snprintf(ctx, sizeof ctx, "%s (%s)", cs, ref ? "reference" : "fast");
            keel_deconv_grads gr = {dx, dw, bias ? db : NULL, false, false};
            if (ref) {
                keel_deconv_forward_ref(&g, x, w, b, y, n);
                keel_deconv_backward_ref(&g, x, w, r, gr, n);
            } else {
                keel_deconv_forward(&g, x, w, b, y, n, scratch);
                keel_deconv_backward(&g, x, w, r, gr, n, scratch);
            }
            expect_close_f(ctx, "y", y, fx_vals(&f, cs, "y", ny), ny, RTOL_VALUE);
            expect_close_f(ctx, "dL/dx", dx, fx_vals(&f, cs, "dx", nx), nx, RTOL_GRAD);
            expect_close_f(ctx, "dL/dkernel", dw, fx_vals(&f, cs, "dkernel", nw), nw, RTOL_GRAD);
            if (bias)
                expect_close_f(ctx, "dL/dbias", db, fx_vals(&f, cs, "dbias", g.OC), g.OC,
                               RTOL_GRAD);
        }
        free(x), free(w), free(b), free(r), free(y), free(dx), free(dw), free(db), free(scratch);
    }
    fx_free(&f);
}

Test(resample, upsample_matches_keras) {
    fx_file f;
    fx_load_from(&f, "keras_compose.txt", "make_compose_fixtures.py");
    char names[16][64];
    int ncase = fx_cases(&f, "up_", names, 16);
    cr_assert_geq(ncase, 5, "%s: expected the up_nearest_* and up_bilinear_* cases", f.path);
    for (int i = 0; i < ncase; i++) {
        const char *cs = names[i];
        const double *cfg = fx_vals(&f, cs, "config", 3);
        int64_t xs[4], ys[4];
        fx_shape4(&f, cs, "x_shape", xs);
        fx_shape4(&f, cs, "y_shape", ys);
        keel_upsample_geom g = {.H = xs[1],
                                .W = xs[2],
                                .C = xs[3],
                                .SH = (int64_t)cfg[0],
                                .SW = (int64_t)cfg[1],
                                .interp = cfg[2] != 0 ? KEEL_INTERP_BILINEAR : KEEL_INTERP_NEAREST};
        cr_assert_eq(keel_upsample_geom_init(&g, cs), KEEL_OK, "%s", keel_last_error());
        cr_assert(g.OH == ys[1] && g.OW == ys[2] && g.C == ys[3], "%s: output shape", cs);
        const int64_t n = xs[0], nx = n * g.H * g.W * g.C, ny = n * g.OH * g.OW * g.C;
        float *x = fx_floats(&f, cs, "x", nx), *r = fx_floats(&f, cs, "r", ny);
        float *y = fnew(ny), *dx = fnew(nx);
        for (int ref = 0; ref < 2; ref++) {
            char ctx[96];
            snprintf(ctx, sizeof ctx, "%s (%s)", cs, ref ? "reference" : "fast");
            if (ref) {
                keel_upsample_forward_ref(&g, x, y, n);
                keel_upsample_backward_ref(&g, r, dx, n, false);
            } else {
                keel_upsample_forward(&g, x, y, n);
                keel_upsample_backward(&g, r, dx, n, false);
            }
            expect_close_f(ctx, "y", y, fx_vals(&f, cs, "y", ny), ny, RTOL_VALUE);
            expect_close_f(ctx, "dL/dx", dx, fx_vals(&f, cs, "dx", nx), nx, RTOL_GRAD);
        }
        /* nearest is a copy: Keras's values exactly */
        if (g.interp == KEEL_INTERP_NEAREST) {
            keel_upsample_forward(&g, x, y, n);
            const double *want = fx_vals(&f, cs, "y", ny);
            for (int64_t j = 0; j < ny; j++)
                if (y[j] != (float)want[j]) {
                    cr_expect(0, "%s: y[%lld] %.9g, Keras %.9g", cs, (long long)j, y[j], want[j]);
                    break;
                }
        }
        free(x), free(r), free(y), free(dx);
    }
    fx_free(&f);
}
