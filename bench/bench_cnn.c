/* bench_cnn.c: trains the `make demo` CNN (Conv2D 32 3x3 relu, MaxPooling2D, Flatten, Dense 128
 * relu, Dense 10 softmax; adam; sparse_categorical_crossentropy) on Fashion-MNIST for one epoch
 * per batch size and prints samples per second, as bench/compare_pytorch.sh expects:
 *   keel batch=B threads=T samples_per_s=S
 * With --flow DIR it also times the image-folder iterator alone over DIR (decode + resize to
 * 64x64 + augmentation, then from the decoded cache): flow ... images_per_s=S.
 * usage: bench_cnn [--batch B]... [--threads T] [--data DIR] [--flow DIR] */
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
    keel_add(m, keel_conv2d(.filters = 32, .kernel_size = {3, 3}, .activation = "relu",
                            .input_shape = {28, 28, 1}));
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    return m;
}

static int time_flow(const char *dir) {
    for (int cache = 0; cache < 2; cache++) {
        keel_image_gen gen = keel_image_data_generator(.rescale = 1.0f / 255, .shear_range = 0.2f,
                                                       .zoom_range = 0.2f, .horizontal_flip = 1);
        keel_flow *f =
            keel_flow_from_directory(dir, &gen, .target_size = {64, 64}, .class_mode = "binary",
                                     .cache = cache, .verbose = 0);
        if (!f) {
            fprintf(stderr, "bench_cnn: %s\n", keel_last_error());
            return 1;
        }
        int64_t steps = keel_flow_steps(f), n = keel_flow_samples(f);
        for (int epoch = 0; epoch < 1 + cache;
             epoch++) { /* with the cache, time the second epoch */
            double t0 = now();
            for (int64_t s = 0; s < steps; s++)
                if (keel_flow_next(f, NULL, NULL)) {
                    fprintf(stderr, "bench_cnn: %s\n", keel_last_error());
                    keel_flow_free(f);
                    return 1;
                }
            if (epoch == cache)
                printf("flow decode=%s augment=shear,zoom,flip size=64x64 threads=%d "
                       "images_per_s=%.0f\n",
                       cache ? "cached" : "png+jpeg", keel_get_threads(), (double)n / (now() - t0));
        }
        keel_flow_free(f);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist", *flow_dir = NULL;
    int64_t batches[8];
    int nb = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc && nb < 8)
            batches[nb++] = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--flow") && i + 1 < argc)
            flow_dir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--batch B]... [--threads T] [--data DIR] [--flow DIR]\n",
                    argv[0]);
            return 2;
        }
    }
    if (nb == 0) batches[nb++] = 32, batches[nb++] = 128;
    keel_set_threads(threads);
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte.gz", dir);
    keel_tensor *raw = keel_load_idx(p1), *y = raw ? keel_load_idx(p2) : NULL;
    keel_tensor *x =
        y ? keel_tensor_reshape(raw, KEEL_SHAPE(keel_tensor_dim(raw, 0), 28, 28, 1)) : NULL;
    keel_tensor_free(raw);
    if (!x) {
        fprintf(stderr, "bench_cnn: %s\n", keel_last_error());
        return 1;
    }
    for (int64_t i = 0; i < keel_tensor_size(x); i++)
        keel_tensor_data(x)[i] /= 255.0f;
    keel_tensor *xw = keel_tensor_slice(x, 0, 1280), *yw = keel_tensor_slice(y, 0, 1280);
    fprintf(stderr, "bench_cnn: gemm %s, %d threads\n", keel_gemm_backend(), keel_get_threads());
    for (int b = 0; b < nb; b++) {
        keel_model *m = build();
        double before[2], after[2];
        keel_evaluate(m, xw, yw, before, 2);
        if (keel_fit(m, xw, yw, .batch_size = batches[b], .verbose = 0) != KEEL_OK) {
            fprintf(stderr, "bench_cnn: %s\n", keel_last_error());
            return 1;
        }
        keel_evaluate(m, xw, yw, after, 2);
        if (!(after[0] < before[0])) {
            fprintf(stderr, "bench_cnn: training does not lower the loss (%g -> %g)\n", before[0],
                    after[0]);
            return 1;
        }
        double t0 = now();
        keel_status st = keel_fit(m, x, y, .batch_size = batches[b], .verbose = 0);
        double dt = now() - t0;
        if (st != KEEL_OK) {
            fprintf(stderr, "bench_cnn: %s\n", keel_last_error());
            return 1;
        }
        printf("keel batch=%lld threads=%d samples_per_s=%.0f\n", (long long)batches[b],
               keel_get_threads(), (double)keel_tensor_dim(x, 0) / dt);
        fflush(stdout);
        keel_model_free(m);
    }
    keel_tensor_free(xw), keel_tensor_free(yw), keel_tensor_free(x), keel_tensor_free(y);
    return flow_dir ? time_flow(flow_dir) : 0;
}
