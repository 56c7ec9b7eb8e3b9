/* activations.c: the activation experiment of the tutorials. The same MLP (Flatten, Dense 128
 * with the activation under test, Dense 10 softmax; adam; sparse_categorical_crossentropy) is
 * trained on Fashion-MNIST once per activation, and a table of test accuracy, final training
 * loss and training time is printed.
 *
 * usage: activations [DIR] [--epochs N] */
#define _POSIX_C_SOURCE 200809L
#include <keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static keel_tensor *load(const char *dir, const char *name, float scale) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);
    keel_tensor *t = keel_load_idx(path);
    for (int64_t i = 0; t && scale != 1.0f && i < keel_tensor_size(t); i++)
        keel_tensor_data(t)[i] *= scale;
    return t;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int epochs = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else
            dir = argv[i];
    }
    keel_tensor *xtr = load(dir, "train-images-idx3-ubyte", 1.0f / 255);
    keel_tensor *ytr = xtr ? load(dir, "train-labels-idx1-ubyte", 1) : NULL;
    keel_tensor *xte = ytr ? load(dir, "t10k-images-idx3-ubyte", 1.0f / 255) : NULL;
    keel_tensor *yte = xte ? load(dir, "t10k-labels-idx1-ubyte", 1) : NULL;
    if (!yte) {
        fprintf(stderr, "activations: %s\n", keel_last_error());
        return 1;
    }
    static const char *const acts[] = {"linear",       "relu",        "sigmoid",  "tanh",
                                       "softmax",      "elu",         "selu",     "gelu",
                                       "swish",        "leaky_relu",  "softplus", "softsign",
                                       "hard_sigmoid", "exponential", "relu6",    "mish"};
    int n = (int)(sizeof acts / sizeof acts[0]);
    printf("%-14s %13s %11s %9s\n", "activation", "test_accuracy", "final_loss", "time_s");
    const char *best = NULL;
    double best_acc = -1;
    for (int a = 0; a < n; a++) {
        keel_model *m = keel_sequential(NULL);
        keel_add(m, keel_flatten(.input_shape = {28, 28}));
        keel_add(m, keel_dense(.units = 128, .activation = acts[a]));
        keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
        keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                     .metrics = {"accuracy"});
        double t0 = now(), res[2];
        keel_status st = keel_fit(m, xtr, ytr, .epochs = epochs, .verbose = 0);
        double dt = now() - t0;
        if (st == KEEL_ERR_NAN) { /* exponential can overflow: a result of the experiment */
            printf("%-14s %13s %11s %9.2f   (%s)\n", acts[a], "-", "nan", dt, keel_last_error());
            keel_model_free(m);
            continue;
        }
        if (st != KEEL_OK || keel_evaluate(m, xte, yte, res, 2) != KEEL_OK) {
            fprintf(stderr, "activations: %s\n", keel_last_error());
            return 1;
        }
        const double *loss = keel_history_get(keel_model_history(m), "loss");
        printf("%-14s %13.4f %11.4f %9.2f\n", acts[a], res[1], loss[epochs - 1], dt);
        fflush(stdout);
        if (res[1] > best_acc) best_acc = res[1], best = acts[a];
        keel_model_free(m);
    }
    printf("best_activation: %s\n", best);
    printf("best_test_accuracy: %.4f\n", best_acc);
    keel_tensor_free(xtr);
    keel_tensor_free(ytr);
    keel_tensor_free(xte);
    keel_tensor_free(yte);
    return 0;
}
