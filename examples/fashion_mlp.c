/* fashion_mlp.c: the Fashion-MNIST classifier of the Keras tutorial.
 *
 *   model = Sequential([Flatten(input_shape=(28, 28)), Dense(128, activation="relu"),
 *                       Dropout(0.2), Dense(10, activation="softmax")])
 *   model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
 *   model.fit(x_train / 255, y_train, epochs=5)
 *   model.evaluate(x_test / 255, y_test)
 *
 * usage: fashion_mlp [DIR] [--epochs N] [--seed S]   (DIR holds the four IDX files, gzipped or not;
 * default /usr/share/datasets/fashion-mnist, so real MNIST works too) */
#include <keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DIR/NAME, or DIR/NAME.gz when only that exists */
static keel_tensor *load(const char *dir, const char *name, float scale) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);
    keel_tensor *t = keel_load_idx(path);
    if (t && scale != 1.0f) {
        float *d = keel_tensor_data(t);
        for (int64_t i = 0; i < keel_tensor_size(t); i++)
            d[i] *= scale;
    }
    return t;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int epochs = 5;
    long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = atol(argv[++i]);
        else
            dir = argv[i];
    }
    keel_tensor *x_train = load(dir, "train-images-idx3-ubyte", 1.0f / 255);
    keel_tensor *y_train = x_train ? load(dir, "train-labels-idx1-ubyte", 1) : NULL;
    keel_tensor *x_test = y_train ? load(dir, "t10k-images-idx3-ubyte", 1.0f / 255) : NULL;
    keel_tensor *y_test = x_test ? load(dir, "t10k-labels-idx1-ubyte", 1) : NULL;
    if (!y_test) {
        fprintf(stderr, "fashion_mlp: %s\n", keel_last_error());
        return 1;
    }

    keel_model *m = keel_sequential(NULL);
    if (seed) keel_model_set_seed(m, (uint64_t)seed);
    keel_add(m, keel_flatten(.input_shape = {28, 28}));
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dropout(.rate = 0.2f));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    keel_summary(m, NULL);

    double res[2];
    int rc = 1;
    if (keel_fit(m, x_train, y_train, .epochs = epochs) == KEEL_OK &&
        keel_evaluate(m, x_test, y_test, res, 2, .verbose = 1) == KEEL_OK) {
        printf("test_loss: %.4f\n", res[0]);
        printf("test_accuracy: %.4f\n", res[1]);
        rc = 0;
    } else {
        fprintf(stderr, "fashion_mlp: %s\n", keel_last_error());
    }
    keel_model_free(m);
    keel_tensor_free(x_train);
    keel_tensor_free(y_train);
    keel_tensor_free(x_test);
    keel_tensor_free(y_test);
    return rc;
}
