/* test_init.c: the initializers' distributions (Keras formulas, reference §1.3). Values
 * cannot equal Keras's bit for bit (another RNG); their bounds and moments must. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>

static keel_model *one(const char *init, int64_t in, int64_t units) {
    keel_model *m = keel_sequential(NULL);
    keel_add(
        m, keel_dense(.units = units, .input_dim = in, .kernel_initializer = init, .use_bias = 0));
    cr_assert_eq(keel_compile(m, .loss = "mse"), KEEL_OK, "%s", keel_last_error());
    return m;
}

static void moments(const float *w, int64_t n, double *mean, double *sd, double *maxabs) {
    double s = 0, s2 = 0;
    *maxabs = 0;
    for (int64_t i = 0; i < n; i++)
        s += w[i], *maxabs = fmax(*maxabs, fabs(w[i]));
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++)
        s2 += (w[i] - *mean) * (w[i] - *mean);
    *sd = sqrt(s2 / (double)n);
}

Test(init, variance_scaling_family) {
    struct {
        const char *name;
        double sd;    /* expected standard deviation */
        double limit; /* hard bound, 0 for none */
    } cases[] = {
        {"glorot_uniform", sqrt(6.0 / 600) / sqrt(3.0), sqrt(6.0 / 600)},
        {"glorot_normal", sqrt(2.0 / 600), 2 * sqrt(2.0 / 600) / 0.87962566103423978},
        {"he_uniform", sqrt(2.0 / 400), sqrt(6.0 / 400)},
        {"he_normal", sqrt(2.0 / 400), 2 * sqrt(2.0 / 400) / 0.87962566103423978},
        {"lecun_uniform", sqrt(1.0 / 400), sqrt(3.0 / 400)},
        {"lecun_normal", sqrt(1.0 / 400), 2 * sqrt(1.0 / 400) / 0.87962566103423978},
        {"random_normal(stddev=0.1)", 0.1, 0},
        {"random_uniform(minval=-0.2, maxval=0.2)", 0.2 / sqrt(3.0), 0.2},
        {"truncated_normal(stddev=0.1)", 0.1 * 0.87962566103423978, 0.2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        keel_model *m = one(cases[c].name, 400, 200);
        int64_t n;
        float *w = keel_layer_weight(keel_model_layer(m, 0), 0, &n);
        cr_assert_eq(n, 80000);
        double mean, sd, mx;
        moments(w, n, &mean, &sd, &mx);
        cr_expect(fabs(mean) < 0.03 * cases[c].sd * 10, "%s mean %g", cases[c].name, mean);
        cr_expect(fabs(sd / cases[c].sd - 1) < 0.03, "%s sd %g, want %g", cases[c].name, sd,
                  cases[c].sd);
        if (cases[c].limit > 0)
            cr_expect(mx <= cases[c].limit * (1 + 1e-6), "%s max |w| %g > %g", cases[c].name, mx,
                      cases[c].limit);
        keel_model_free(m);
    }
}

Test(init, constant_ones_zeros_identity) {
    keel_model *m = one("constant(0.25)", 3, 4);
    float *w = keel_layer_weight(keel_model_layer(m, 0), 0, NULL);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(w[i], 0.25f);
    keel_model_free(m);
    m = one("identity", 3, 3);
    w = keel_layer_weight(keel_model_layer(m, 0), 0, NULL);
    for (int i = 0; i < 9; i++)
        cr_expect_eq(w[i], i % 4 == 0 ? 1.0f : 0.0f);
    keel_model_free(m);
}

Test(init, orthogonal_columns_and_rows) {
    int64_t shapes[][2] = {{6, 4}, {4, 6}};
    for (int s = 0; s < 2; s++) {
        int64_t r = shapes[s][0], c = shapes[s][1];
        keel_model *m = one("orthogonal", r, c);
        float *w = keel_layer_weight(keel_model_layer(m, 0), 0, NULL);
        /* the smaller side is orthonormal: W^T W = I (tall) or W W^T = I (wide) */
        int64_t k = r >= c ? c : r;
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++) {
                double d = 0;
                for (int64_t t = 0; t < (r >= c ? r : c); t++)
                    d += r >= c ? (double)w[t * c + i] * w[t * c + j]
                                : (double)w[i * c + t] * w[j * c + t];
                cr_expect(fabs(d - (i == j)) < 1e-5, "%lldx%lld: [%lld,%lld] = %g", (long long)r,
                          (long long)c, (long long)i, (long long)j, d);
            }
        keel_model_free(m);
    }
}

Test(init, default_bias_is_zero_and_kernel_glorot) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 50, .input_dim = 50));
    keel_compile(m, .loss = "mse");
    int64_t n;
    float *b = keel_layer_weight(keel_model_layer(m, 0), 1, &n);
    cr_assert_eq(n, 50);
    for (int i = 0; i < 50; i++)
        cr_expect_eq(b[i], 0.0f);
    float *w = keel_layer_weight(keel_model_layer(m, 0), 0, &n);
    double mean, sd, mx;
    moments(w, n, &mean, &sd, &mx);
    cr_expect(mx <= sqrt(6.0 / 100) + 1e-6 && mx > 0.9 * sqrt(6.0 / 100), "max %g", mx);
    keel_model_free(m);
}

/* An initializer with an explicit seed draws the same values wherever its layer is (Keras's
 * behaviour); without one, layers draw from the model's seed, each its own values. */
Test(init, explicit_seed_ignores_layer_position) {
    keel_model *m = keel_sequential(NULL);
    keel_add(
        m, keel_dense(.units = 4, .input_dim = 4, .kernel_initializer = "glorot_uniform(seed=9)"));
    keel_add(m, keel_dense(.units = 4, .kernel_initializer = "glorot_uniform"));
    keel_add(m, keel_dense(.units = 4, .kernel_initializer = "glorot_uniform(seed=9)"));
    keel_add(m, keel_dense(.units = 4, .kernel_initializer = "glorot_uniform"));
    cr_assert_eq(keel_compile(m, .loss = "mse"), KEEL_OK);
    int64_t n;
    float *w = keel_model_weights(m, &n); /* kernel 16 + bias 4 per layer */
    cr_assert_eq(n, 80);
    cr_expect_eq(memcmp(w, w + 40, 16 * sizeof(float)), 0,
                 "same seed, same kernel in layers 1 and 3");
    cr_expect_neq(memcmp(w + 20, w + 60, 16 * sizeof(float)), 0, "no seed: layers 2 and 4 differ");
    cr_expect_neq(memcmp(w, w + 20, 16 * sizeof(float)), 0);
    keel_model_free(m);
}
