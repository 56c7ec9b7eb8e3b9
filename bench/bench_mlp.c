/* bench_mlp.c: trains the Fashion-MNIST MLP (Flatten, Dense 128 relu, Dropout 0.2, Dense 10
 * softmax; adam; sparse_categorical_crossentropy) for one epoch per batch size and prints
 * samples per second, as bench/compare_pytorch.sh expects:
 *   keel batch=B threads=T samples_per_s=S
 * Before timing it checks that the model trains (loss falls), so a broken fast path cannot
 * post a good number. usage: bench_mlp [--batch B]... [--threads T] [--data DIR] */
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

static keel_model *build(void) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_flatten(.input_shape = {28, 28}));
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dropout(.rate = 0.2f));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    return m;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int64_t batches[8];
    int nb = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc && nb < 8)
            batches[nb++] = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--batch B]... [--threads T] [--data DIR]\n", argv[0]);
            return 2;
        }
    }
    if (nb == 0) batches[nb++] = 32, batches[nb++] = 128;
    keel_set_threads(threads);
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte.gz", dir);
    keel_tensor *x = keel_load_idx(p1), *y = x ? keel_load_idx(p2) : NULL;
    if (!y) {
        fprintf(stderr, "bench_mlp: %s\n", keel_last_error());
        return 1;
    }
    float *xd = keel_tensor_data(x);
    for (int64_t i = 0; i < keel_tensor_size(x); i++)
        xd[i] /= 255.0f;
    keel_tensor *xw = keel_tensor_slice(x, 0, 3200), *yw = keel_tensor_slice(y, 0, 3200);
    fprintf(stderr, "bench_mlp: gemm %s, %d threads\n", keel_gemm_backend(), keel_get_threads());
    for (int b = 0; b < nb; b++) {
        keel_model *m = build();
        /* warm-up, and a sanity check that training works */
        double before[2], after[2];
        keel_evaluate(m, xw, yw, before, 2);
        if (keel_fit(m, xw, yw, .batch_size = batches[b], .epochs = 1, .verbose = 0) != KEEL_OK) {
            fprintf(stderr, "bench_mlp: %s\n", keel_last_error());
            return 1;
        }
        keel_evaluate(m, xw, yw, after, 2);
        if (!(after[0] < before[0])) {
            fprintf(stderr, "bench_mlp: training does not lower the loss (%g -> %g)\n", before[0],
                    after[0]);
            return 1;
        }
        double t0 = now();
        keel_status st = keel_fit(m, x, y, .batch_size = batches[b], .epochs = 1, .verbose = 0);
        double dt = now() - t0;
        if (st != KEEL_OK) {
            fprintf(stderr, "bench_mlp: %s\n", keel_last_error());
            return 1;
        }
        printf("keel batch=%lld threads=%d samples_per_s=%.0f\n", (long long)batches[b],
               keel_get_threads(), (double)keel_tensor_dim(x, 0) / dt);
        fflush(stdout);
        keel_model_free(m);
    }
    keel_tensor_free(xw);
    keel_tensor_free(yw);
    keel_tensor_free(x);
    keel_tensor_free(y);
    return 0;
}
