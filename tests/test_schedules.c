/* test_schedules.c: the learning-rate schedules against tf.keras 2.15.1's own values (computed
 * with tf.keras.optimizers.schedules in the TensorFlow venv; the Keras call is beside each
 * row), and a schedule driving a real optimizer. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <string.h>

#include "train/train.h"

static const int64_t STEPS[10] = {0, 1, 5, 9, 10, 11, 19, 20, 21, 37};
static const struct {
    const char *spec;
    double lr[10];
} CASES[] = {
    /* ExponentialDecay(0.1, 10, 0.5) */
    {"exponential_decay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)",
     {0.100000001, 0.0933033004, 0.0707106814, 0.0535886772, 0.0500000007, 0.0466516502,
      0.0267943386, 0.0250000004, 0.023325827, 0.00769465277}},
    /* ExponentialDecay(0.1, 10, 0.5, staircase=True) */
    {"exponential_decay(0.1, 10, 0.5, staircase=1)",
     {0.100000001, 0.100000001, 0.100000001, 0.100000001, 0.0500000007, 0.0500000007, 0.0500000007,
      0.0250000004, 0.0250000004, 0.0125000002}},
    /* InverseTimeDecay(0.1, 5, 0.5) */
    {"inverse_time_decay(0.1, 5, 0.5)",
     {0.100000001, 0.0909090936, 0.0666666701, 0.0526315793, 0.0500000007, 0.0476190522,
      0.0344827585, 0.0333333351, 0.0322580673, 0.0212765969}},
    /* PolynomialDecay(0.1, 20, 0.01, power=2.0) */
    {"polynomial_decay(0.1, 20, 0.01, power=2)",
     {0.100000001, 0.0912249982, 0.0606250018, 0.0372250006, 0.0324999988, 0.0282249991,
      0.0102249999, 0.00999999978, 0.00999999978, 0.00999999978}},
    /* PolynomialDecay(0.1, 20, cycle=True) */
    {"PolynomialDecay(0.1, 20, cycle=1)",
     {0.100000001, 0.0950049981, 0.0750249997, 0.0550450012, 0.0500500016, 0.045055002,
      0.00509500084, 9.99999975e-05, 0.0475525036, 0.00759249879}},
    /* CosineDecay(0.1, 20, alpha=0.1) */
    {"cosine_decay(0.1, 20, alpha=0.1)",
     {0.100000001, 0.0994459763, 0.0868198127, 0.0620395541, 0.054999996, 0.0479604453, 0.010554024,
      0.0100000007, 0.0100000007, 0.0100000007}},
    /* CosineDecay(0.0, 20, warmup_target=0.1, warmup_steps=5) */
    {"cosine_decay(0.0, 20, warmup_target=0.1, warmup_steps=5)",
     {0, 0.0200000014, 0.100000001, 0.0904508457, 0.0853553414, 0.0793892667, 0.0206107404,
      0.0146446619, 0.00954914745, 0}},
    /* PiecewiseConstantDecay([10, 20], [0.1, 0.05, 0.01]) */
    {"piecewise_constant_decay(10, 0.1, 20, 0.05, 0.01)",
     {0.100000001, 0.100000001, 0.100000001, 0.100000001, 0.100000001, 0.0500000007, 0.0500000007,
      0.0500000007, 0.00999999978, 0.00999999978}},
};

Test(schedules, keras_values) {
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        keel_schedule s;
        cr_assert_eq(keel_schedule_parse(CASES[c].spec, &s), KEEL_OK, "%s: %s", CASES[c].spec,
                     keel_last_error());
        for (int i = 0; i < 10; i++) {
            double got = keel_schedule_lr(&s, STEPS[i]), want = CASES[c].lr[i];
            cr_expect(fabs(got - want) <= 1e-6 * fabs(want) + 1e-9,
                      "%s at step %lld: %.9g, Keras %.9g", CASES[c].spec, (long long)STEPS[i], got,
                      want);
        }
    }
}

Test(schedules, bad_specs_are_named) {
    keel_schedule s;
    cr_expect_eq(keel_schedule_parse("exponential_decy(0.1, 10, 0.5)", &s), KEEL_ERR_ARG);
    cr_expect(strstr(keel_last_error(), "did you mean \"exponential_decay\""), "%s",
              keel_last_error());
    cr_expect_eq(keel_schedule_parse("exponential_decay(0.1, 0, 0.5)", &s), KEEL_ERR_ARG);
    cr_expect_eq(keel_schedule_parse("inverse_time_decay(0.1, 10)", &s), KEEL_ERR_ARG);
    cr_expect_eq(keel_schedule_parse("piecewise_constant_decay(10, 0.1)", &s), KEEL_ERR_ARG);
    cr_expect_eq(keel_schedule_parse("piecewise_constant_decay(20, 0.1, 10, 0.05, 0.01)", &s),
                 KEEL_ERR_ARG);
    cr_expect_eq(keel_schedule_parse("cosine_decay(0.1, 10, beta=2)", &s), KEEL_ERR_ARG);
}

/* SGD with a staircase schedule: each step moves a weight by the rate of that step */
Test(schedules, drive_the_optimizer) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m,
             keel_dense(.units = 1, .input_dim = 1, .use_bias = 0, .kernel_initializer = "zeros"));
    cr_assert_eq(keel_compile(m, .optimizer = "sgd",
                              .optimizer_opts = {.learning_rate_schedule =
                                                     "exponential_decay(0.1, 2, 0.5, staircase=1)"},
                              .loss = "mse"),
                 KEEL_OK, "%s", keel_last_error());
    float one = 1, zero = 0;
    keel_tensor *x = keel_tensor_from_data(KEEL_SHAPE(1, 1), &one),
                *y = keel_tensor_from_data(KEEL_SHAPE(1, 1), &zero);
    float *w = keel_layer_weight(keel_model_layer(m, 0), 0, NULL);
    /* L = w^2 at x = 1, y = 0: dL/dw = 2w; start w = 1 by hand */
    w[0] = 1;
    double expect = 1;
    const double rates[] = {0.1, 0.1, 0.05, 0.05, 0.025};
    for (int s = 0; s < 5; s++) {
        cr_assert_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_OK);
        expect -= rates[s] * 2 * expect;
        cr_expect(fabs(w[0] - expect) < 1e-6, "step %d: w %g, expected %g", s, w[0], expect);
    }
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}
