/* bench_latency.c: inference latency of one sample. Times predict on a batch of ONE
 * Fashion-MNIST test image, call after call, for the Fashion MLP (Flatten 28x28, Dense 128 relu,
 * Dense 10 softmax; the Dropout of bench_mlp.c is left out, as it is the identity at inference)
 * and for the demo CNN of bench_cnn.c, and prints per model, as bench/compare_pytorch.sh
 * expects:
 *   keel model=M threads=T api=A calls=N median_us=X p90_us=Y
 * A is predict_into (keel_predict_into into one preallocated output tensor) when keel.h defines
 * KEEL_HAS_PREDICT_INTO, else predict_on_batch (a new output tensor per call, freed inside the
 * timed region, as a caller of that API must). Before timing it checks that every sample's
 * output matches a batched keel_predict of the same samples, so a broken fast path cannot post
 * a good number. The weights are the untrained initial ones: no kernel's speed depends on them.
 * usage: bench_latency [--model mlp|cnn]... [--threads T] [--calls N] [--warmup W]
 *                      [--data DIR] */
#define _POSIX_C_SOURCE 200809L
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* distinct inputs cycled through, so no call sees exactly the bytes of the one before */
#define NSAMPLES 64

#ifdef KEEL_HAS_PREDICT_INTO
#define API_NAME "predict_into"
#else
#define API_NAME "predict_on_batch"
#endif

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec * 1e-3;
}

static keel_model *build(const char *name) {
    keel_model *m = keel_sequential(NULL);
    if (!strcmp(name, "mlp")) {
        keel_add(m, keel_flatten(.input_shape = {28, 28}));
        keel_add(m, keel_dense(.units = 128, .activation = "relu"));
        keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    } else {
        keel_add(m, keel_conv2d(.filters = 32, .kernel_size = {3, 3}, .activation = "relu",
                                .input_shape = {28, 28, 1}));
        keel_add(m, keel_max_pooling2d());
        keel_add(m, keel_flatten());
        keel_add(m, keel_dense(.units = 128, .activation = "relu"));
        keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    }
    if (keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy") !=
        KEEL_OK) {
        keel_model_free(m);
        return NULL;
    }
    return m;
}

/* One prediction of x (1 sample) into out (1 x 10), by the API under test. */
static int predict_one(keel_model *m, const keel_tensor *x, keel_tensor *out) {
#ifdef KEEL_HAS_PREDICT_INTO
    return keel_predict_into(m, x, out) == KEEL_OK ? 0 : -1;
#else
    /* the old API allocates its result: the copy into out is the caller's cost too */
    keel_tensor *y = keel_predict_on_batch(m, x);
    if (!y) return -1;
    memcpy(keel_tensor_data(out), keel_tensor_cdata(y),
           (size_t)keel_tensor_size(out) * sizeof(float));
    keel_tensor_free(y);
    return 0;
#endif
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The single-sample path must give what a batched predict gives, sample by sample. */
static int check(keel_model *m, keel_tensor *const *xs, const keel_tensor *batch,
                 keel_tensor *out) {
    keel_tensor *ref = keel_predict(m, batch, NULL);
    if (!ref) return -1;
    int64_t C = keel_tensor_dim(ref, 1);
    int bad = 0;
    for (int i = 0; i < NSAMPLES && !bad; i++) {
        if (predict_one(m, xs[i], out)) bad = -1;
        const float *o = keel_tensor_cdata(out), *r = keel_tensor_cdata(ref) + i * C;
        double sum = 0;
        for (int64_t c = 0; c < C && !bad; c++) {
            sum += o[c];
            /* the same kernels, but a batch of 64 may take another GEMM path: allow rounding */
            if (!(fabsf(o[c] - r[c]) <= 1e-5f + 1e-4f * fabsf(r[c]))) {
                fprintf(stderr, "bench_latency: sample %d class %lld: %g one by one, %g batched\n",
                        i, (long long)c, o[c], r[c]);
                bad = 1;
            }
        }
        if (!bad && fabs(sum - 1.0) > 1e-4) {
            fprintf(stderr, "bench_latency: sample %d: softmax sums to %g\n", i, sum);
            bad = 1;
        }
    }
    keel_tensor_free(ref);
    return bad;
}

/* Builds the model, checks it, then times `calls` single-sample predicts after `warmup`. */
static int run(const char *name, const keel_tensor *images, long calls, long warmup) {
    keel_model *m = build(name);
    if (!m) return -1;
    int cnn = !strcmp(name, "cnn");
    /* the NSAMPLES test images as one batch (NHWC for the CNN), and one by one */
    keel_tensor *batch = cnn ? keel_tensor_reshape(images, KEEL_SHAPE(NSAMPLES, 28, 28, 1))
                             : keel_tensor_slice(images, 0, NSAMPLES);
    keel_tensor *xs[NSAMPLES] = {0};
    keel_tensor *out = keel_tensor_new(KEEL_SHAPE(1, 10));
    double *t = malloc((size_t)calls * sizeof *t);
    int rc = batch && out && t ? 0 : -1;
    for (int i = 0; i < NSAMPLES && !rc; i++)
        if (!(xs[i] = keel_tensor_slice(batch, i, 1))) rc = -1;
    if (!rc) rc = check(m, xs, batch, out);
    for (long i = 0; i < warmup && !rc; i++)
        rc = predict_one(m, xs[i % NSAMPLES], out);
    for (long i = 0; i < calls && !rc; i++) {
        double t0 = now_us();
        rc = predict_one(m, xs[i % NSAMPLES], out);
        t[i] = now_us() - t0;
    }
    if (!rc) {
        qsort(t, (size_t)calls, sizeof *t, cmp_double);
        printf("keel model=%s threads=%d api=%s calls=%ld median_us=%.2f p90_us=%.2f\n", name,
               keel_get_threads(), API_NAME, calls, t[calls / 2], t[calls * 9 / 10]);
        fflush(stdout);
    }
    free(t);
    for (int i = 0; i < NSAMPLES; i++)
        keel_tensor_free(xs[i]);
    keel_tensor_free(out), keel_tensor_free(batch);
    keel_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    const char *dir = "/usr/share/datasets/fashion-mnist", *models[4];
    int nm = 0, threads = 0;
    long calls = 20000, warmup = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(a, "--model") && nm < 4 && (!strcmp(v, "mlp") || !strcmp(v, "cnn")))
            models[nm++] = v;
        else if (v && !strcmp(a, "--threads"))
            threads = atoi(v);
        else if (v && !strcmp(a, "--calls") && atol(v) > 0)
            calls = atol(v);
        else if (v && !strcmp(a, "--warmup") && atol(v) >= 0)
            warmup = atol(v);
        else if (v && !strcmp(a, "--data"))
            dir = v;
        else {
            fprintf(stderr,
                    "usage: %s [--model mlp|cnn]... [--threads T] [--calls N (>0)] "
                    "[--warmup W] [--data DIR]\n",
                    argv[0]);
            return 2;
        }
        i++; /* every option takes a value */
    }
    if (nm == 0) models[nm++] = "mlp", models[nm++] = "cnn";
    keel_set_threads(threads);
    char path[4096];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    keel_tensor *x = keel_load_idx(path);
    if (!x || keel_tensor_dim(x, 0) < NSAMPLES) {
        fprintf(stderr, "bench_latency: %s\n", x ? "fewer than 64 test images" : keel_last_error());
        keel_tensor_free(x);
        return 1;
    }
    /* only the first NSAMPLES images are used: scale those */
    float *xd = keel_tensor_data(x);
    for (int64_t i = 0; i < (int64_t)NSAMPLES * 28 * 28; i++)
        xd[i] /= 255.0f;
    keel_tensor *few = keel_tensor_slice(x, 0, NSAMPLES);
    keel_tensor_free(x);
    fprintf(stderr, "bench_latency: gemm %s, %d threads, api %s\n", keel_gemm_backend(),
            keel_get_threads(), API_NAME);
    int rc = few ? 0 : -1;
    for (int i = 0; i < nm && !rc; i++)
        rc = run(models[i], few, calls, warmup);
    if (rc < 0) fprintf(stderr, "bench_latency: %s\n", keel_last_error());
    keel_tensor_free(few);
    return rc ? 1 : 0;
}
