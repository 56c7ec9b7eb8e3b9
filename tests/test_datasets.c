/* test_datasets.c: keel_dataset_load on small IDX datasets written here under $KEEL_DATA (every
 * value checked), on the real Fashion-MNIST when its Debian package is installed, and its
 * errors (unknown name, missing, incomplete or malformed dataset); keel_to_categorical's
 * shapes, values and errors. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/keel_test_datasets_XXXXXX";
static void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
    /* only this folder is searched first; HOME points inside it so ~/.keras is empty */
    char home[600];
    snprintf(home, sizeof home, "%s/home", dir);
    mkdir(home, 0755);
    setenv("KEEL_DATA", dir, 1);
    setenv("HOME", home, 1);
}
static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
TestSuite(datasets, .init = setup, .fini = teardown);

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

/* Writes an IDX ubyte file of n images (side x side) or n labels (side 0); value(i) per byte. */
static void write_idx(const char *sub, const char *name, int n, int side, int gz, int label_add) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s%s", dir, sub, name, gz ? ".gz" : "");
    int rank = side ? 3 : 1;
    size_t count = (size_t)n * (side ? (size_t)side * side : 1), len = 4 + 4 * rank + count;
    unsigned char *b = calloc(len, 1);
    b[2] = 8, b[3] = (unsigned char)rank;
    int dims[3] = {n, side, side};
    for (int i = 0; i < rank; i++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    for (size_t i = 0; i < count; i++)
        b[4 + 4 * rank + i] =
            side ? (unsigned char)(i * 7 + n) : (unsigned char)((i + label_add) % 10);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        cr_assert_not_null(f);
        gzwrite(f, b, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(p, "wb");
        cr_assert_not_null(f);
        fwrite(b, 1, len, f);
        fclose(f);
    }
    free(b);
}

static void write_dataset(const char *sub, int side) {
    write_idx(sub, "train-images-idx3-ubyte", 3, side, 1, 0);
    write_idx(sub, "train-labels-idx1-ubyte", 3, 0, 1, 4);
    write_idx(sub, "t10k-images-idx3-ubyte", 2, side, 0, 0);
    write_idx(sub, "t10k-labels.idx1-ubyte", 2, 0, 0, 8); /* the dotted name some copies use */
}

Test(datasets, loads_mnist_from_keel_data) {
    write_dataset("mnist", 28);
    keel_tensor *x, *y, *xt, *yt;
    cr_assert_eq(keel_dataset_load("mnist", &x, &y, &xt, &yt), KEEL_OK, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_rank(x), 3);
    cr_expect_eq(keel_tensor_dim(x, 0), 3);
    cr_expect_eq(keel_tensor_dim(x, 1), 28);
    cr_expect_eq(keel_tensor_dim(x, 2), 28);
    cr_expect_eq(keel_tensor_rank(y), 1);
    cr_expect_eq(keel_tensor_dim(xt, 0), 2);
    cr_expect_eq(keel_tensor_dim(yt, 0), 2);
    /* pixels are the raw bytes, 0..255 */
    for (int i = 0; i < 3 * 784; i++)
        cr_assert_eq(keel_tensor_data(x)[i], (float)(unsigned char)(i * 7 + 3));
    for (int i = 0; i < 2 * 784; i++)
        cr_assert_eq(keel_tensor_data(xt)[i], (float)(unsigned char)(i * 7 + 2));
    cr_expect(keel_tensor_data(y)[0] == 4 && keel_tensor_data(y)[2] == 6);
    cr_expect(keel_tensor_data(yt)[0] == 8 && keel_tensor_data(yt)[1] == 9);
    keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(xt), keel_tensor_free(yt);
}

/* Keras's folder name for Fashion-MNIST (fashion-mnist) works under $KEEL_DATA too. */
Test(datasets, fashion_mnist_under_its_keras_folder_name) {
    write_dataset("fashion-mnist", 28);
    keel_tensor *x, *y, *xt, *yt;
    cr_assert_eq(keel_dataset_load("fashion_mnist", &x, &y, &xt, &yt), KEEL_OK, "%s",
                 keel_last_error());
    cr_expect_eq(keel_tensor_dim(x, 0), 3);
    keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(xt), keel_tensor_free(yt);
}

Test(datasets, real_fashion_mnist_when_installed) {
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("dataset-fashion-mnist is not installed");
    keel_tensor *x, *y, *xt, *yt;
    cr_assert_eq(keel_dataset_load("fashion_mnist", &x, &y, &xt, &yt), KEEL_OK, "%s",
                 keel_last_error());
    char s[64];
    cr_expect_str_eq(keel_tensor_shape_str(x, s, sizeof s), "(60000, 28, 28)");
    cr_expect_str_eq(keel_tensor_shape_str(y, s, sizeof s), "(60000,)");
    cr_expect_str_eq(keel_tensor_shape_str(xt, s, sizeof s), "(10000, 28, 28)");
    cr_expect_str_eq(keel_tensor_shape_str(yt, s, sizeof s), "(10000,)");
    /* as keras.datasets.fashion_mnist gives them: y_train[0] 9 (ankle boot), 6000 per class */
    cr_expect_eq(keel_tensor_data(y)[0], 9.0f);
    int counts[10] = {0};
    for (int i = 0; i < 60000; i++)
        counts[(int)keel_tensor_data(y)[i]]++;
    for (int c = 0; c < 10; c++)
        cr_expect_eq(counts[c], 6000);
    float lo = 255, hi = 0;
    for (int64_t i = 0; i < keel_tensor_size(x); i++)
        lo = fminf(lo, keel_tensor_data(x)[i]), hi = fmaxf(hi, keel_tensor_data(x)[i]);
    cr_expect(lo == 0 && hi == 255);
    keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(xt), keel_tensor_free(yt);
}

Test(datasets, errors) {
    keel_tensor *x = (keel_tensor *)1, *y, *xt, *yt;
    cr_expect_eq(keel_dataset_load("fasion_mnist", &x, &y, &xt, &yt), KEEL_ERR_ARG);
    EXPECT_MSG("unknown dataset \"fasion_mnist\" (did you mean \"fashion_mnist\"?)");
    cr_expect_null(x);
    cr_expect_eq(keel_dataset_load("cifar10", &x, &y, &xt, &yt), KEEL_ERR_ARG);
    EXPECT_MSG("unknown dataset \"cifar10\" (keel has \"mnist\" and \"fashion_mnist\")");
    cr_expect_eq(keel_dataset_load(NULL, &x, &y, &xt, &yt), KEEL_ERR_ARG);
    EXPECT_MSG("name is NULL");
    cr_expect_eq(keel_dataset_load("mnist", &x, NULL, &xt, &yt), KEEL_ERR_ARG);
    EXPECT_MSG("an output pointer is NULL");
    if (access("/usr/share/datasets/mnist", F_OK) != 0) {
        cr_expect_eq(keel_dataset_load("mnist", &x, &y, &xt, &yt), KEEL_ERR_IO);
        EXPECT_MSG(
            "keel_dataset_load: mnist not found (looked for train-images-idx3-ubyte(.gz) in");
        EXPECT_MSG("/.keras/datasets/mnist, /usr/share/datasets/mnist");
        EXPECT_MSG("put the four MNIST IDX files");
    }
    if (access("/usr/share/datasets/fashion-mnist", F_OK) != 0) {
        cr_expect_eq(keel_dataset_load("fashion_mnist", &x, &y, &xt, &yt), KEEL_ERR_IO);
        EXPECT_MSG("install the Debian package dataset-fashion-mnist");
    }
    /* a folder with the training images only: the missing file is named */
    write_idx("mnist", "train-images-idx3-ubyte", 3, 28, 1, 0);
    cr_expect_eq(keel_dataset_load("mnist", &x, &y, &xt, &yt), KEEL_ERR_IO);
    EXPECT_MSG("has train-images-idx3-ubyte but not train-labels-idx1-ubyte(.gz)");
    cr_expect_null(x);
}

Test(datasets, malformed_files_are_named) {
    write_dataset("mnist", 27);
    keel_tensor *x, *y, *xt, *yt;
    cr_expect_eq(keel_dataset_load("mnist", &x, &y, &xt, &yt), KEEL_ERR_FORMAT);
    EXPECT_MSG("train-images-idx3-ubyte.gz: images of shape (3, 27, 27), expected (N, 28, 28)");
    write_dataset("mnist", 28);
    write_idx("mnist", "train-labels-idx1-ubyte", 4, 0, 1, 0);
    cr_expect_eq(keel_dataset_load("mnist", &x, &y, &xt, &yt), KEEL_ERR_FORMAT);
    EXPECT_MSG("train-labels-idx1-ubyte.gz: labels of shape (4,) for 3 images");
    cr_expect_null(x);
    cr_expect_null(y);
}

Test(datasets, to_categorical_shapes_and_values) {
    keel_tensor *y = keel_tensor_from_data(KEEL_SHAPE(4), (const float[]){2, 0, 1, 2});
    keel_tensor *t = keel_to_categorical(y, 0); /* max + 1 = 3 classes */
    cr_assert_not_null(t, "%s", keel_last_error());
    char s[64];
    cr_expect_str_eq(keel_tensor_shape_str(t, s, sizeof s), "(4, 3)");
    const float want[12] = {0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    for (int i = 0; i < 12; i++)
        cr_expect_eq(keel_tensor_data(t)[i], want[i]);
    keel_tensor_free(t);
    t = keel_to_categorical(y, 5);
    cr_assert_not_null(t);
    cr_expect_str_eq(keel_tensor_shape_str(t, s, sizeof s), "(4, 5)");
    cr_expect_eq(keel_tensor_data(t)[5 * 3 + 2], 1.0f);
    keel_tensor_free(t);
    keel_tensor_free(y);
    /* (N, 1) loses its last axis, as in Keras; (2, 3) gains one */
    y = keel_tensor_from_data(KEEL_SHAPE(2, 1), (const float[]){1, 0});
    t = keel_to_categorical(y, 2);
    cr_expect_str_eq(keel_tensor_shape_str(t, s, sizeof s), "(2, 2)");
    cr_expect(keel_tensor_data(t)[1] == 1 && keel_tensor_data(t)[2] == 1);
    keel_tensor_free(t);
    keel_tensor_free(y);
    y = keel_tensor_from_data(KEEL_SHAPE(2, 3), (const float[]){0, 1, 2, 2, 1, 0});
    t = keel_to_categorical(y, 0);
    cr_expect_str_eq(keel_tensor_shape_str(t, s, sizeof s), "(2, 3, 3)");
    cr_expect_eq(keel_tensor_data(t)[3 * 3 + 2], 1.0f); /* y[1][0] = 2 */
    keel_tensor_free(t);
    keel_tensor_free(y);
}

Test(datasets, to_categorical_errors_name_the_index) {
    keel_tensor *y = keel_tensor_from_data(KEEL_SHAPE(3), (const float[]){0, 1.5f, 2});
    cr_expect_null(keel_to_categorical(y, 0));
    EXPECT_MSG("keel_to_categorical: y[1] = 1.5 is not a class index (a whole number >= 0)");
    keel_tensor_data(y)[1] = -1;
    cr_expect_null(keel_to_categorical(y, 0));
    EXPECT_MSG("y[1] = -1 is not a class index");
    keel_tensor_data(y)[1] = NAN;
    cr_expect_null(keel_to_categorical(y, 0));
    EXPECT_MSG("y[1] = nan is not a class index");
    keel_tensor_data(y)[1] = 1;
    cr_expect_null(keel_to_categorical(y, 2));
    EXPECT_MSG("y[2] = 2 is out of range for num_classes 2 (0..1)");
    cr_expect_null(keel_to_categorical(y, -3));
    EXPECT_MSG("num_classes must be >= 0");
    cr_expect_null(keel_to_categorical(NULL, 2));
    EXPECT_MSG("y is NULL");
    keel_tensor_free(y);
    /* 10,000 labels of 2e9: 8e13 bytes, refused before allocating */
    y = keel_tensor_new(KEEL_SHAPE(10000));
    for (int i = 0; i < 10000; i++)
        keel_tensor_data(y)[i] = 2e9f;
    cr_expect_null(keel_to_categorical(y, 0));
    EXPECT_MSG("10000 labels x 2000000001 classes is too large");
    keel_tensor_free(y);
    y = keel_tensor_new(KEEL_SHAPE(1, 1, 1, 1, 1, 1, 1, 2));
    cr_expect_null(keel_to_categorical(y, 0));
    EXPECT_MSG("y of rank 8 gives rank 9, over 8");
    keel_tensor_free(y);
}
