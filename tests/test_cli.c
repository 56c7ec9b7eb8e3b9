/* test_cli.c: the `keel` command (build/tools/keel) on models written by Keras
 * (tests/fixtures/saved/) and by keel: summary, predict (.npy, a PNG, a folder of them),
 * evaluate, convert, --help, and its exit statuses (0, 1 with one line on stderr, 2 for usage). */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ftw.h>
#include <unistd.h>

static char tmp[256];

static void setup(void) {
    snprintf(tmp, sizeof tmp, "/tmp/keel_cli_%d", (int)getpid());
    mkdir(tmp, 0755);
}

/* Runs `keel ARGS` with stdout and stderr captured; returns the exit status. */
static int keel(const char *args, char *out, size_t cap) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/tools/keel %s 2>&1", KEEL_BINARY_DIR, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define FX KEEL_SOURCE_DIR "/tests/fixtures/saved/"

static void expect_npy_close(const char *got_path, const char *want_path, double tol) {
    keel_tensor *g = keel_load_npy(got_path), *w = keel_load_npy(want_path);
    cr_assert_not_null(g, "%s", keel_last_error());
    cr_assert_not_null(w, "%s", keel_last_error());
    cr_assert_eq(keel_tensor_size(g), keel_tensor_size(w));
    for (int64_t i = 0; i < keel_tensor_size(g); i++)
        cr_expect(fabs(keel_tensor_cdata(g)[i] - keel_tensor_cdata(w)[i]) <= tol, "[%lld] %g vs %g",
                  (long long)i, keel_tensor_cdata(g)[i], keel_tensor_cdata(w)[i]);
    keel_tensor_free(g), keel_tensor_free(w);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* the test's files go with it */
static void teardown(void) {
    nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cli, .init = setup, .fini = teardown);

Test(cli, help_and_usage_errors) {
    char out[8192];
    cr_expect_eq(keel("--help", out, sizeof out), 0);
    cr_expect(strstr(out, "keel predict MODEL INPUT"), "%s", out);
    cr_expect_eq(keel("predict --help", out, sizeof out), 0);
    cr_expect(strstr(out, "--rescale"), "%s", out);
    cr_expect_eq(keel("", out, sizeof out), 2);
    cr_expect_eq(keel("frobnicate", out, sizeof out), 2);
    cr_expect(strstr(out, "unknown command \"frobnicate\""), "%s", out);
    cr_expect_eq(keel("predict onlyone", out, sizeof out), 2);
    cr_expect_eq(keel("summary /nonexistent/m.keras", out, sizeof out), 1);
    cr_expect(!strncmp(out, "keel: ", 6) && strstr(out, "/nonexistent/m.keras"), "%s", out);
    cr_expect_eq(strchr(out, '\n') - out + 1, (long)strlen(out), "one line: %s", out);
}

Test(cli, summary_of_a_keras_file) {
    char out[16384];
    cr_assert_eq(keel("summary " FX "tf2/mlp.h5", out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "Total params:"), "%s", out);
    cr_expect(strstr(out, "batch_normalization"), "%s", out);
}

Test(cli, predict_npy_matches_keras) {
    char out[8192], args[2048], o[512];
    snprintf(o, sizeof o, "%s/y.npy", tmp);
    snprintf(args, sizeof args, "predict " FX "k3/rnn.keras " FX "k3/rnn.x.npy -o %s", o);
    cr_assert_eq(keel(args, out, sizeof out), 0, "%s", out);
    expect_npy_close(o, FX "k3/rnn.y.npy", 1e-5);
    /* printed: one line per sample */
    snprintf(args, sizeof args, "predict " FX "tf2/mlp.h5 " FX "tf2/mlp.x.npy");
    cr_assert_eq(keel(args, out, sizeof out), 0, "%s", out);
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    cr_expect_eq(lines, 6, "%s", out);
}

Test(cli, evaluate_prints_kerass_numbers) {
    char out[8192];
    cr_assert_eq(
        keel("evaluate " FX "tf2/mlp.h5 " FX "tf2/mlp.x.npy " FX "tf2/mlp.t.npy", out, sizeof out),
        0, "%s", out);
    /* tf.keras 2.15's model.evaluate on the same data: loss 1.2108956575393677, acc 1/3 */
    cr_expect(strstr(out, "loss: 1.2109 - accuracy: 0.3333"), "%s", out);
}

Test(cli, convert_h5_to_keras) {
    char out[8192], args[2048], k[512], o[512];
    snprintf(k, sizeof k, "%s/cnn.keras", tmp);
    snprintf(o, sizeof o, "%s/cnn.y.npy", tmp);
    snprintf(args, sizeof args, "convert " FX "tf2/cnn.h5 %s", k);
    cr_assert_eq(keel(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "predict %s " FX "tf2/cnn.x.npy -o %s", k, o);
    cr_assert_eq(keel(args, out, sizeof out), 0, "%s", out);
    expect_npy_close(o, FX "tf2/cnn.y.npy", 1e-5);
}

Test(cli, predict_images) {
    /* a keel model on 6x5 RGB images, saved; images written as PNG; keel predict on the file
     * and on the folder gives what keel_predict gives on keel_load_img's pixels / 255 */
    keel_model *m = keel_sequential("img");
    keel_add(m, keel_conv2d(.filters = 2, .kernel_size = {3, 3}, .input_shape = {6, 5, 3}));
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 2, .activation = "softmax"));
    cr_assert_eq(keel_compile(m, .optimizer = "adam", .loss = "categorical_crossentropy"), KEEL_OK);
    char path[512], dir[512], png[3][600];
    snprintf(path, sizeof path, "%s/img.keras", tmp);
    cr_assert_eq(keel_save(m, path), KEEL_OK, "%s", keel_last_error());
    snprintf(dir, sizeof dir, "%s/imgs", tmp);
    mkdir(dir, 0755);
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(3, 6, 5, 3));
    for (int i = 0; i < 3; i++) {
        keel_tensor *img = keel_tensor_new(KEEL_SHAPE(6, 5, 3));
        for (int k = 0; k < 90; k++)
            keel_tensor_data(img)[k] = (float)((k * 37 + i * 91) % 256);
        snprintf(png[i], sizeof png[i], "%s/%c.png", dir, 'a' + i);
        cr_assert_eq(keel_save_img(png[i], img, 0), KEEL_OK, "%s", keel_last_error());
        keel_tensor *back = keel_load_img(png[i]);
        cr_assert_not_null(back, "%s", keel_last_error());
        for (int k = 0; k < 90; k++)
            keel_tensor_data(x)[i * 90 + k] = keel_tensor_data(back)[k] / 255.0f;
        keel_tensor_free(img), keel_tensor_free(back);
    }
    keel_tensor *want = keel_predict(m, x, NULL);
    char out[8192], args[2048], o[512];
    snprintf(o, sizeof o, "%s/p.npy", tmp);
    snprintf(args, sizeof args, "predict %s %s --rescale 0.00392156862745098 -o %s", path, dir, o);
    cr_assert_eq(keel(args, out, sizeof out), 0, "%s", out);
    keel_tensor *got = keel_load_npy(o);
    cr_assert_not_null(got);
    cr_assert_eq(keel_tensor_size(got), 6);
    for (int k = 0; k < 6; k++)
        cr_expect(fabsf(keel_tensor_cdata(got)[k] - keel_tensor_cdata(want)[k]) < 1e-6);
    snprintf(args, sizeof args, "predict %s %s --rescale 0.00392156862745098", path, png[1]);
    cr_assert_eq(keel(args, out, sizeof out), 0, "%s", out);
    float a, b;
    cr_assert_eq(sscanf(out, "%g %g", &a, &b), 2, "%s", out);
    cr_expect(fabsf(a - keel_tensor_cdata(want)[2]) < 1e-6);
    /* a wrong input is one clear line */
    snprintf(args, sizeof args, "predict %s " FX "tf2/mlp.x.npy", path);
    cr_expect_eq(keel(args, out, sizeof out), 1, "%s", out);
    cr_expect(!strncmp(out, "keel: ", 6), "%s", out);
    keel_tensor_free(x), keel_tensor_free(want), keel_tensor_free(got);
    keel_model_free(m);
}
