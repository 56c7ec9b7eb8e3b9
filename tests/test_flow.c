/* test_flow.c: flow_from_directory against tf.keras 2 (file order, classes, validation split,
 * steps: tests/fixtures/keras_flow.txt made by tools/make_flow_fixture.py on the same folder),
 * batch shapes per class_mode, augmentation semantics, batches that do not depend on the
 * number of workers, training from a flow, and every error a folder can cause. */
#include <criterion/criterion.h>
#include <keel.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/image.h"

static char root[] = "/tmp/keel_test_flow_XXXXXX";

static const char *const LAYOUT[][2] = {
    {"cat/b.png", "png"},
    {"cat/a.jpg", "jpg"},
    {"cat/C.PNG", "png"},
    {"cat/sub/d.png", "png"},
    {"cat/sub/a.jpeg", "jpg"},
    {"cat/notes.txt", "txt"},
    {"cat/e.bmp", "bmp"},
    {"dog/z.png", "png"},
    {"dog/y.png", "png"},
    {"dog/x.jpg", "jpg"},
    {"dog/w.png", "png"},
    {"dog/v.png", "png"},
    {"dog/deeper/inner/u.png", "png"},
    {"zebra/1.png", "png"},
    {"zebra/10.png", "png"},
    {"zebra/2.png", "png"},
};

static void mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') *p = 0, mkdir(buf, 0755), *p = '/';
}

static void write_bmp(const char *path, int w, int h, uint8_t v) {
    int row = (w * 3 + 3) & ~3, size = 54 + row * h;
    uint8_t hdr[54] = {'B', 'M'};
    hdr[2] = (uint8_t)size, hdr[3] = (uint8_t)(size >> 8), hdr[10] = 54, hdr[14] = 40,
    hdr[18] = (uint8_t)w, hdr[22] = (uint8_t)h, hdr[26] = 1, hdr[28] = 24;
    FILE *f = fopen(path, "wb");
    fwrite(hdr, 1, 54, f);
    for (int i = 0; i < row * h; i++)
        fputc(v, f);
    fclose(f);
}

/* image k of the layout: a flat gray level that tells the images apart */
static void build(void) {
    cr_assert_not_null(mkdtemp(root));
    for (size_t k = 0; k < sizeof LAYOUT / sizeof LAYOUT[0]; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", root, LAYOUT[k][0]);
        mkdirs(path);
        uint8_t v = (uint8_t)(10 * k + 5);
        if (!strcmp(LAYOUT[k][1], "txt")) {
            FILE *f = fopen(path, "w");
            fputs("not an image\n", f);
            fclose(f);
        } else if (!strcmp(LAYOUT[k][1], "bmp")) {
            write_bmp(path, 5, 4, v);
        } else {
            uint8_t px[4 * 5 * 3];
            memset(px, v, sizeof px);
            keel_image img = {.h = 4, .w = 5, .c = 3, .px = px};
            keel_status st = LAYOUT[k][1][0] == 'p' ? keel_image_write_png(path, &img)
                                                    : keel_image_write_jpeg(path, &img, 100);
            cr_assert_eq(st, KEEL_OK, "%s", keel_last_error());
        }
    }
}

static void cleanup(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(flow, .init = build, .fini = cleanup);

/* the fixture line "<name> v1 v2 ..." as one string */
static char *fixture(const char *name, char *buf, size_t cap) {
    FILE *f = fopen(KEEL_SOURCE_DIR "/tests/fixtures/keras_flow.txt", "r");
    cr_assert_not_null(f);
    char line[4096];
    size_t n = strlen(name);
    buf[0] = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, n) && line[n] == ' ') {
            line[strcspn(line, "\n")] = 0;
            snprintf(buf, cap, "%s", line + n + 1);
        }
    fclose(f);
    return buf;
}

static void compare(keel_flow *f, const char *name) {
    char want[4096], key[64], got[4096] = "";
    snprintf(key, sizeof key, "%s_files", name);
    fixture(key, want, sizeof want);
    for (int64_t i = 0; i < keel_flow_samples(f); i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "",
                 keel_flow_filename(f, i));
    cr_expect_str_eq(got, want, "%s files", name);
    snprintf(key, sizeof key, "%s_labels", name);
    fixture(key, want, sizeof want);
    got[0] = 0;
    for (int64_t i = 0; i < keel_flow_samples(f); i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? " " : "",
                 keel_flow_class_of(f, i));
    cr_expect_str_eq(got, want, "%s labels", name);
    snprintf(key, sizeof key, "%s_steps", name);
    cr_expect_eq(keel_flow_steps(f), atoi(fixture(key, want, sizeof want)));
    snprintf(key, sizeof key, "%s_classes", name);
    fixture(key, want, sizeof want);
    got[0] = 0;
    for (int c = 0; c < keel_flow_num_classes(f); c++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", c ? " " : "",
                 keel_flow_class_name(f, c));
    cr_expect_str_eq(got, want);
}

Test(flow, order_classes_and_split_match_tf_keras) {
    keel_image_gen all = keel_image_data_generator(),
                   split = keel_image_data_generator(.validation_split = 0.4f);
    FILE *out = tmpfile();
    keel_flow *f = keel_flow_from_directory(root, &all, .target_size = {4, 5}, .batch_size = 4,
                                            .shuffle = 0, .class_mode = "sparse", .out = out);
    cr_assert_not_null(f, "%s", keel_last_error());
    compare(f, "all");
    rewind(out);
    char line[128] = "";
    cr_expect_not_null(fgets(line, sizeof line, out));
    cr_expect_str_eq(line, "Found 15 images belonging to 3 classes.\n");
    fclose(out);
    keel_flow_free(f);
    f = keel_flow_from_directory(root, &split, .target_size = {4, 5}, .batch_size = 4, .shuffle = 0,
                                 .subset = "training", .class_mode = "sparse", .verbose = 0);
    cr_assert_not_null(f, "%s", keel_last_error());
    compare(f, "training");
    keel_flow_free(f);
    f = keel_flow_from_directory(root, &split, .target_size = {4, 5}, .batch_size = 4, .shuffle = 0,
                                 .subset = "validation", .class_mode = "sparse", .verbose = 0);
    cr_assert_not_null(f, "%s", keel_last_error());
    compare(f, "validation");
    keel_flow_free(f);
}

Test(flow, batches_shapes_values_and_class_modes) {
    keel_image_gen g = keel_image_data_generator(.rescale = 1.0f / 255);
    keel_flow *f = keel_flow_from_directory(root, &g, .target_size = {8, 6}, .batch_size = 4,
                                            .shuffle = 0, .color_mode = "grayscale", .verbose = 0);
    cr_assert_not_null(f, "%s", keel_last_error());
    const keel_tensor *x, *y;
    cr_assert_eq(keel_flow_next(f, &x, &y), KEEL_OK, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_rank(x), 4);
    cr_expect(keel_tensor_dim(x, 0) == 4 && keel_tensor_dim(x, 1) == 8 &&
              keel_tensor_dim(x, 2) == 6 && keel_tensor_dim(x, 3) == 1);
    cr_expect(keel_tensor_dim(y, 0) == 4 && keel_tensor_dim(y, 1) == 3,
              "categorical: one-hot of 3 classes");
    /* first file in order is cat/C.PNG, layout index 2: gray level 25 */
    cr_expect_float_eq(keel_tensor_cdata(x)[0], 25.0f / 255, 1e-6);
    cr_expect(keel_tensor_cdata(y)[0] == 1 && keel_tensor_cdata(y)[1] == 0 &&
              keel_tensor_cdata(y)[2] == 0);
    for (int s = 1; s < 4; s++)
        cr_assert_eq(keel_flow_next(f, &x, &y), KEEL_OK);
    cr_expect_eq(keel_tensor_dim(x, 0), 3, "the last batch of 15 images in 4s holds 3");
    cr_expect_eq(keel_flow_next(f, &x, &y), KEEL_OK, "batches go on into the next epoch");
    cr_expect_eq(keel_tensor_dim(x, 0), 4);
    keel_flow_free(f);
    f = keel_flow_from_directory(root, &g, .target_size = {4, 5}, .class_mode = "none",
                                 .verbose = 0, .color_mode = "rgba");
    cr_assert_not_null(f);
    cr_assert_eq(keel_flow_next(f, &x, &y), KEEL_OK);
    cr_expect_null(y);
    cr_expect_eq(keel_tensor_dim(x, 3), 4);
    cr_expect_float_eq(keel_tensor_cdata(x)[3], 1.0f, 1e-6, "alpha of an RGB image is 255");
    keel_flow_free(f);
}

/* the same seed gives the same shuffled, augmented batches with 1 or 3 workers */
Test(flow, batches_do_not_depend_on_workers) {
    keel_image_gen g =
        keel_image_data_generator(.rescale = 1.0f / 255, .rotation_range = 30, .zoom_range = 0.2f,
                                  .width_shift_range = 0.2f, .horizontal_flip = 1);
    keel_flow *a =
        keel_flow_from_directory(root, &g, .target_size = {8, 8}, .batch_size = 4, .seed = 3,
                                 .workers = 1, .verbose = 0, .class_mode = "sparse");
    keel_flow *b =
        keel_flow_from_directory(root, &g, .target_size = {8, 8}, .batch_size = 4, .seed = 3,
                                 .workers = 3, .verbose = 0, .class_mode = "sparse", .cache = 0);
    cr_assert(a && b, "%s", keel_last_error());
    for (int s = 0; s < 9; s++) {
        const keel_tensor *xa, *ya, *xb, *yb;
        cr_assert_eq(keel_flow_next(a, &xa, &ya), KEEL_OK);
        cr_assert_eq(keel_flow_next(b, &xb, &yb), KEEL_OK);
        cr_assert_eq(keel_tensor_size(xa), keel_tensor_size(xb));
        cr_expect_eq(
            memcmp(keel_tensor_cdata(xa), keel_tensor_cdata(xb), (size_t)keel_tensor_size(xa) * 4),
            0, "batch %d", s);
        cr_expect_eq(
            memcmp(keel_tensor_cdata(ya), keel_tensor_cdata(yb), (size_t)keel_tensor_size(ya) * 4),
            0);
    }
    keel_flow_free(a);
    keel_flow_free(b);
}

/* an image whose left half is dark and right half bright shows what each transform does */
Test(flow, augmentation_semantics) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/aug/only", root);
    snprintf(path, sizeof path, "%s/img.png", dir);
    mkdirs(path);
    uint8_t px[6 * 6];
    for (int i = 0; i < 36; i++)
        px[i] = (i % 6) < 3 ? 0 : 200;
    keel_image img = {.h = 6, .w = 6, .c = 1, .px = px};
    cr_assert_eq(keel_image_write_png(path, &img), KEEL_OK);
    snprintf(dir, sizeof dir, "%s/aug", root);
    keel_image_gen flip = keel_image_data_generator(.horizontal_flip = 1);
    keel_flow *f =
        keel_flow_from_directory(dir, &flip, .target_size = {6, 6}, .batch_size = 1,
                                 .color_mode = "grayscale", .class_mode = "sparse", .verbose = 0);
    cr_assert_not_null(f, "%s", keel_last_error());
    int flipped = 0, kept = 0;
    for (int e = 0; e < 40; e++) {
        const keel_tensor *x;
        cr_assert_eq(keel_flow_next(f, &x, NULL), KEEL_OK);
        const float *v = keel_tensor_cdata(x);
        if (v[0] == 200 && v[5] == 0)
            flipped++;
        else if (v[0] == 0 && v[5] == 200)
            kept++;
        else
            cr_assert_fail("a flip must keep every pixel (got %g, %g)", v[0], v[5]);
    }
    cr_expect(flipped > 8 && kept > 8, "flipped %d of 40 times", flipped);
    keel_flow_free(f);
    /* a full-width shift with constant fill: every value is either cval, dark or bright */
    keel_image_gen shift =
        keel_image_data_generator(.width_shift_range = 3, .fill_mode = "constant", .cval = 77);
    f = keel_flow_from_directory(dir, &shift, .target_size = {6, 6}, .batch_size = 1,
                                 .color_mode = "grayscale", .class_mode = "sparse", .verbose = 0);
    cr_assert_not_null(f);
    int saw_cval = 0;
    for (int e = 0; e < 20; e++) {
        const keel_tensor *x;
        cr_assert_eq(keel_flow_next(f, &x, NULL), KEEL_OK);
        for (int i = 0; i < 36; i++)
            saw_cval += keel_tensor_cdata(x)[i] > 70 && keel_tensor_cdata(x)[i] < 84;
    }
    cr_expect(saw_cval > 0, "constant fill shows cval");
    keel_flow_free(f);
}

Test(flow, trains_a_binary_classifier) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/two", root);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 24; i++) {
            char path[600];
            snprintf(path, sizeof path, "%s/%s/%02d.png", dir, c ? "light" : "dark", i);
            mkdirs(path);
            uint8_t px[8 * 8];
            for (int k = 0; k < 64; k++)
                px[k] = (uint8_t)((c ? 150 : 40) + (k * 7 + i * 13) % 60);
            keel_image img = {.h = 8, .w = 8, .c = 1, .px = px};
            cr_assert_eq(keel_image_write_png(path, &img), KEEL_OK);
        }
    keel_image_gen g = keel_image_data_generator(.rescale = 1.0f / 255, .horizontal_flip = 1);
    keel_flow *f =
        keel_flow_from_directory(dir, &g, .target_size = {8, 8}, .batch_size = 8,
                                 .color_mode = "grayscale", .class_mode = "binary", .verbose = 0);
    cr_assert_not_null(f, "%s", keel_last_error());
    keel_model *m = keel_sequential(NULL);
    /* linear filters: mean brightness separates the classes, and no ReLU can die */
    keel_add(m, keel_conv2d(.filters = 4, .kernel_size = {3}, .input_shape = {8, 8, 1}));
    keel_add(m, keel_global_average_pooling2d());
    keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
    keel_compile(m, .optimizer = "adam", .optimizer_opts = {.learning_rate = 0.05f},
                 .loss = "binary_crossentropy", .metrics = {"accuracy"});
    cr_assert_eq(keel_fit_flow(m, f, .epochs = 30, .verbose = 0, .validation_flow = f), KEEL_OK,
                 "%s", keel_last_error());
    double r[2];
    cr_assert_eq(keel_evaluate_flow(m, f, r, 2), KEEL_OK);
    cr_expect_geq(r[1], 0.95, "accuracy %g", r[1]);
    cr_expect_not_null(keel_history_get(keel_model_history(m), "val_accuracy"));
    keel_tensor *p = keel_predict_flow(m, f);
    cr_assert_not_null(p);
    cr_expect_eq(keel_tensor_dim(p, 0), 48);
    keel_tensor_free(p);
    /* a model that does not fit the flow says why */
    keel_model *m2 = keel_sequential(NULL);
    keel_add(m2, keel_flatten(.input_shape = {28, 28, 1}));
    keel_add(m2, keel_dense(.units = 1, .activation = "sigmoid"));
    keel_compile(m2, .loss = "binary_crossentropy");
    cr_expect_eq(keel_fit_flow(m2, f, .verbose = 0), KEEL_ERR_SHAPE);
    cr_expect(strstr(keel_last_error(), "(None, 8, 8, 1)") &&
                  strstr(keel_last_error(), "(None, 28, 28, 1)"),
              "%s", keel_last_error());
    keel_model_free(m2);
    keel_model_free(m);
    keel_flow_free(f);
}

Test(flow, errors_name_the_folder_or_file) {
    keel_image_gen g = keel_image_data_generator();
    char dir[512];
    cr_expect_null(keel_flow_from_directory("/nonexistent/keel", &g, .verbose = 0));
    cr_expect(strstr(keel_last_error(), "/nonexistent/keel is not a folder"), "%s",
              keel_last_error());
    snprintf(dir, sizeof dir, "%s/empty", root);
    mkdir(dir, 0755);
    cr_expect_null(keel_flow_from_directory(dir, &g, .verbose = 0));
    cr_expect(strstr(keel_last_error(), "no class subfolders"), "%s", keel_last_error());
    snprintf(dir, sizeof dir, "%s/one/only", root);
    mkdirs(dir), mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/one", root);
    cr_expect_null(keel_flow_from_directory(dir, &g, .verbose = 0));
    cr_expect(strstr(keel_last_error(), "only one class folder (\"only\")"), "%s",
              keel_last_error());
    cr_expect_null(keel_flow_from_directory(dir, &g, .class_mode = "sparse", .verbose = 0));
    cr_expect(strstr(keel_last_error(), "no images"), "%s", keel_last_error());
    cr_expect_null(keel_flow_from_directory(root, &g, .class_mode = "binary", .verbose = 0));
    cr_expect(strstr(keel_last_error(), "exactly 2 class folders"), "%s", keel_last_error());
    cr_expect_null(keel_flow_from_directory(root, &g, .color_mode = "cmyk", .verbose = 0));
    cr_expect(strstr(keel_last_error(), "color_mode"), "%s", keel_last_error());
    cr_expect_null(keel_flow_from_directory(root, &g, .subset = "training", .verbose = 0));
    cr_expect(strstr(keel_last_error(), "validation_split"), "%s", keel_last_error());
    keel_image_gen bad = keel_image_data_generator(.fill_mode = "mirror");
    cr_expect_null(keel_flow_from_directory(root, &bad, .verbose = 0));
    cr_expect(strstr(keel_last_error(), "fill_mode"), "%s", keel_last_error());
    /* a corrupt file: the batch that needs it fails and names it */
    snprintf(dir, sizeof dir, "%s/bad/a/broken.png", root);
    mkdirs(dir);
    FILE *fp = fopen(dir, "wb");
    fputs("\x89PNG\r\n\x1a\n garbage", fp);
    fclose(fp);
    snprintf(dir, sizeof dir, "%s/bad/b/fine.png", root);
    mkdirs(dir);
    uint8_t px[3] = {1, 2, 3};
    keel_image img = {.h = 1, .w = 1, .c = 3, .px = px};
    keel_image_write_png(dir, &img);
    snprintf(dir, sizeof dir, "%s/bad", root);
    keel_flow *f =
        keel_flow_from_directory(dir, &g, .target_size = {4, 4}, .shuffle = 0, .verbose = 0);
    cr_assert_not_null(f, "%s", keel_last_error());
    const keel_tensor *x, *y;
    cr_expect_lt(keel_flow_next(f, &x, &y), 0);
    cr_expect(strstr(keel_last_error(), "broken.png"), "%s", keel_last_error());
    keel_flow_free(f);
}
