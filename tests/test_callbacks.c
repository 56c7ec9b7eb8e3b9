/* test_callbacks.c: ReduceLROnPlateau, LearningRateScheduler and CSVLogger against tf.keras 2's
 * behaviour. The ReduceLROnPlateau sequence was produced by the real callback (tf.keras 2.15.1:
 * ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1) fed loss 1.0 for eight
 * epochs gave rates 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.00125, 0.00125). */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static double rates[16];
static int record(keel_model *m, int epoch, const keel_logs *logs, void *user) {
    (void)logs, (void)user;
    rates[epoch] = keel_model_learning_rate(m);
    return 0;
}

/* x = 0: the prediction stays 0 and the loss stays 1 whatever the rate (a plateau) */
static keel_model *flat(keel_tensor **x, keel_tensor **y) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m,
             keel_dense(.units = 1, .input_dim = 1, .use_bias = 0, .kernel_initializer = "zeros"));
    keel_compile(m, .optimizer = "sgd", .optimizer_opts = {.learning_rate = 0.01f}, .loss = "mse",
                 .metrics = {"mae"});
    *x = keel_tensor_new(KEEL_SHAPE(4, 1));
    *y = keel_tensor_new(KEEL_SHAPE(4, 1));
    for (int i = 0; i < 4; i++)
        keel_tensor_data(*y)[i] = 1;
    return m;
}

Test(callbacks, reduce_lr_on_plateau_as_keras) {
    keel_tensor *x, *y;
    keel_model *m = flat(&x, &y);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 8, .verbose = 0,
                          .reduce_lr_on_plateau =
                              keel_reduce_lr_on_plateau(.monitor = "loss", .factor = 0.5f,
                                                        .patience = 2, .cooldown = 1),
                          .callback = {.on_epoch_end = record}),
                 KEEL_OK, "%s", keel_last_error());
    const double keras[] = {0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.00125, 0.00125};
    for (int e = 0; e < 8; e++)
        cr_expect(fabs(rates[e] - keras[e]) < 1e-9, "epoch %d: %g vs %g", e, rates[e], keras[e]);
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0,
                          .reduce_lr_on_plateau = keel_reduce_lr_on_plateau(.factor = 1.0f)),
                 KEEL_ERR_ARG);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

static double halve(int epoch, double lr, void *user) {
    (void)user;
    return epoch > 0 ? lr * 0.5 : lr;
}
static double bad(int epoch, double lr, void *user) {
    (void)epoch, (void)lr, (void)user;
    return -1;
}

Test(callbacks, learning_rate_scheduler) {
    keel_tensor *x, *y;
    keel_model *m = flat(&x, &y);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 3, .verbose = 0, .lr_scheduler = {halve, NULL},
                          .callback = {.on_epoch_end = record}),
                 KEEL_OK);
    cr_expect(fabs(rates[0] - 0.01) < 1e-9 && fabs(rates[1] - 0.005) < 1e-9 &&
                  fabs(rates[2] - 0.0025) < 1e-9,
              "%g %g %g", rates[0], rates[1], rates[2]);
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0, .lr_scheduler = {bad, NULL}), KEEL_ERR_ARG);
    cr_expect(strstr(keel_last_error(), "lr_scheduler gave -1"), "%s", keel_last_error());
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(callbacks, csv_logger_rows_as_keras) {
    keel_tensor *x, *y;
    keel_model *m = flat(&x, &y);
    char path[] = "/tmp/keel_csvlog_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(keel_fit(m, x, y, .epochs = 2, .verbose = 0, .validation_data = {x, y},
                          .csv_logger = keel_csv_logger(.filename = path)),
                 KEEL_OK, "%s", keel_last_error());
    cr_assert_eq(keel_fit(m, x, y, .epochs = 1, .verbose = 0,
                          .csv_logger = keel_csv_logger(.filename = path, .append = 1)),
                 KEEL_OK);
    FILE *f = fopen(path, "r");
    char buf[1024] = {0};
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    (void)got;
    /* the keys sorted, epoch first; a value as Python writes a float (its shortest repr); the
     * appended run adds rows and no second header */
    cr_expect_str_eq(
        buf, "epoch,loss,mae,val_loss,val_mae\n0,1.0,1.0,1.0,1.0\n1,1.0,1.0,1.0,1.0\n0,1.0,1.0\n");
    remove(path);
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0,
                          .csv_logger = keel_csv_logger(.filename = "/nonexistent/dir/log.csv")),
                 KEEL_ERR_IO);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* Large values as Python's repr writes them: 1000000.0, not %g's 1e+06 */
Test(callbacks, csv_logger_writes_pythons_repr) {
    keel_tensor *x, *y;
    keel_model *m = flat(&x, &y);
    for (int i = 0; i < 4; i++)
        keel_tensor_data(y)[i] = 1000; /* loss = mse = 1e6, mae 1000 */
    char path[64];
    snprintf(path, sizeof path, "/tmp/keel_csvlog_repr_%d.csv", (int)getpid());
    cr_assert_eq(keel_fit(m, x, y, .epochs = 1, .verbose = 0,
                          .csv_logger = keel_csv_logger(.filename = path)),
                 KEEL_OK);
    FILE *f = fopen(path, "r");
    char buf[256] = {0};
    cr_assert_not_null(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    (void)got;
    fclose(f);
    remove(path);
    cr_expect_str_eq(buf, "epoch,loss,mae\n0,1000000.0,1000.0\n");
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}
