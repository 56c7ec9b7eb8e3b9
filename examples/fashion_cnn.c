/* fashion_cnn.c: `make demo`. The tutorial CNN on Fashion-MNIST, with the progress bar; then a
 * contact sheet of test images with their predicted labels, wrong ones framed in red, written
 * as a PNG.
 *
 *   model = Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
 *                       MaxPooling2D((2, 2)), Flatten(), Dense(128, activation="relu"),
 *                       Dense(10, activation="softmax")])
 *   model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
 *
 * usage: fashion_cnn [DIR] [--epochs N] [--sheet FILE.png] [--save FILE.keras]   (defaults:
 * build/demo_predictions.png and build/fashion_cnn.keras, next to the program's folder). The
 * saved model opens in Keras 3 (keras.models.load_model) and in `keel predict`. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <keel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const CLASSES[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                        "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                        "Bag",         "Ankle boot"};

/* 3x5 digits, one row of 3 bits per line */
static const unsigned char DIGITS[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}};

static keel_tensor *load(const char *dir, const char *name, bool images) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);
    keel_tensor *t = keel_load_idx(path);
    if (!t || !images) return t;
    keel_tensor *r = keel_tensor_reshape(t, KEEL_SHAPE(keel_tensor_dim(t, 0), 28, 28, 1));
    keel_tensor_free(t);
    for (int64_t i = 0; r && i < keel_tensor_size(r); i++)
        keel_tensor_data(r)[i] /= 255.0f;
    return r;
}

static void put(float *img, int W, int x, int y, const float rgb[3]) {
    for (int k = 0; k < 3; k++)
        img[(y * W + x) * 3 + k] = rgb[k];
}

/* a 10 x 10 grid of the first test images: image x2, a frame (green right, red wrong), and
 * the predicted class digit under it */
static keel_status contact_sheet(const char *path, const keel_tensor *x, const keel_tensor *y,
                                 const keel_tensor *p) {
    const int cell_w = 64, cell_h = 78, cols = 10, rows = 10, W = cols * cell_w, H = rows * cell_h;
    keel_tensor *sheet = keel_tensor_new(KEEL_SHAPE(H, W, 3));
    if (!sheet) return KEEL_ERR_NOMEM;
    float *s = keel_tensor_data(sheet);
    const float green[3] = {40, 170, 60}, red[3] = {220, 30, 30}, white[3] = {255, 255, 255};
    for (int i = 0; i < W * H * 3; i++)
        s[i] = 255;
    for (int k = 0; k < rows * cols; k++) {
        const float *probs = keel_tensor_cdata(p) + k * 10;
        int pred = 0;
        for (int c = 1; c < 10; c++)
            pred = probs[c] > probs[pred] ? c : pred;
        bool ok = pred == (int)keel_tensor_cdata(y)[k];
        int ox = (k % cols) * cell_w, oy = (k / cols) * cell_h;
        for (int yy = 0; yy < 60; yy++)
            for (int xx = 0; xx < 60; xx++)
                put(s, W, ox + 2 + xx, oy + 2 + yy, ok ? green : red);
        const float *im = keel_tensor_cdata(x) + k * 784;
        for (int yy = 0; yy < 56; yy++)
            for (int xx = 0; xx < 56; xx++) {
                float v = 255 * im[(yy / 2) * 28 + xx / 2], g[3] = {v, v, v};
                put(s, W, ox + 4 + xx, oy + 4 + yy, g);
            }
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                if (DIGITS[pred][r] & (4 >> c))
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++)
                            put(s, W, ox + 28 + 2 * c + dx, oy + 65 + 2 * r + dy, ok ? green : red);
        (void)white;
    }
    keel_status st = keel_save_img(path, sheet, 0);
    keel_tensor_free(sheet);
    return st;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char sheet_path[4096];
    snprintf(sheet_path, sizeof sheet_path, "%s", "demo_predictions.png");
    /* the program lives in build/examples: put the sheet in build/ */
    const char *slash = strrchr(argv[0], '/');
    if (slash)
        snprintf(sheet_path, sizeof sheet_path, "%.*s/../demo_predictions.png",
                 (int)(slash - argv[0]), argv[0]);
    char save_path[4096];
    snprintf(save_path, sizeof save_path, "%s", "fashion_cnn.keras");
    if (slash)
        snprintf(save_path, sizeof save_path, "%.*s/../fashion_cnn.keras", (int)(slash - argv[0]),
                 argv[0]);
    int epochs = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sheet") && i + 1 < argc)
            snprintf(sheet_path, sizeof sheet_path, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--save") && i + 1 < argc)
            snprintf(save_path, sizeof save_path, "%s", argv[++i]);
        else
            dir = argv[i];
    }
    keel_tensor *x_train = load(dir, "train-images-idx3-ubyte", true);
    keel_tensor *y_train = x_train ? load(dir, "train-labels-idx1-ubyte", false) : NULL;
    keel_tensor *x_test = y_train ? load(dir, "t10k-images-idx3-ubyte", true) : NULL;
    keel_tensor *y_test = x_test ? load(dir, "t10k-labels-idx1-ubyte", false) : NULL;
    if (!y_test) {
        fprintf(stderr, "fashion_cnn: %s\n", keel_last_error());
        return 1;
    }
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_conv2d(.filters = 32, .kernel_size = {3, 3}, .activation = "relu",
                            .input_shape = {28, 28, 1}));
    keel_add(m, keel_max_pooling2d(.pool_size = {2, 2}));
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    keel_summary(m, NULL);
    printf("gemm: %s, %d threads\n", keel_gemm_backend(), keel_get_threads());
    int rc = 1;
    double res[2];
    keel_tensor *first = NULL, *pred = NULL;
    if (keel_fit(m, x_train, y_train, .epochs = epochs) != KEEL_OK ||
        keel_evaluate(m, x_test, y_test, res, 2) != KEEL_OK ||
        !(first = keel_tensor_slice(x_test, 0, 100)) || !(pred = keel_predict(m, first, NULL)) ||
        contact_sheet(sheet_path, first, y_test, pred) != KEEL_OK) {
        fprintf(stderr, "fashion_cnn: %s\n", keel_last_error());
    } else {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (keel_save(m, save_path) != KEEL_OK) {
            fprintf(stderr, "fashion_cnn: %s\n", keel_last_error());
            goto done;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("model saved to %s (%.1f ms); try: keel predict %s IMAGE.png\n", save_path,
               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
               save_path);
        printf("classes: ");
        for (int c = 0; c < 10; c++)
            printf("%d %s%s", c, CLASSES[c], c < 9 ? ", " : "\n");
        printf("contact sheet of 100 test images (red frame: wrong): %s\n", sheet_path);
        printf("test_accuracy: %.4f\n", res[1]);
        rc = 0;
    }
done:
    keel_tensor_free(first), keel_tensor_free(pred);
    keel_model_free(m);
    keel_tensor_free(x_train), keel_tensor_free(y_train), keel_tensor_free(x_test),
        keel_tensor_free(y_test);
    return rc;
}
