#define _POSIX_C_SOURCE 199309L
/* bench_lstm.c: training throughput of the sentiment model, Embedding(1000, 64) ->
 * LSTM(128) -> Dense(1, sigmoid), adam, binary crossentropy, on sequences of 80 token ids
 * (random ids in 1..999, random labels: the data do not change the work), one epoch of 2,560
 * sequences per batch size after one warm-up epoch. bench/lstm_torch.py runs the same model.
 * Prints  keel batch=B threads=T samples_per_s=S
 * usage: bench_lstm [--batch B]... [--threads T] */
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

int main(int argc, char **argv) {
    int64_t batches[8];
    int nb = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc && nb < 8)
            batches[nb++] = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--batch B]... [--threads T]\n", argv[0]);
            return 2;
        }
    }
    if (!nb) batches[nb++] = 32;
    if (threads > 0) keel_set_threads(threads);
    const int64_t N = 2560, T = 80;
    keel_tensor *x = keel_tensor_new_int32(KEEL_SHAPE(N, T)),
                *y = keel_tensor_new(KEEL_SHAPE(N, 1));
    uint64_t s = 1;
    for (int64_t i = 0; i < N * T; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        keel_tensor_int32_data(x)[i] = (int32_t)(1 + (s >> 33) % 999);
    }
    for (int64_t i = 0; i < N; i++)
        keel_tensor_data(y)[i] = (float)(i % 2);
    fprintf(stderr, "bench_lstm: gemm %s, %d threads\n", keel_gemm_backend(), keel_get_threads());
    for (int b = 0; b < nb; b++) {
        keel_model *m = keel_sequential(NULL);
        keel_add(m, keel_embedding(.input_dim = 1000, .output_dim = 64, .input_length = T));
        keel_add(m, keel_lstm(.units = 128));
        keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
        if (keel_compile(m, .optimizer = "adam", .loss = "binary_crossentropy") ||
            keel_fit(m, x, y, .batch_size = batches[b], .epochs = 1, .verbose = 0)) { /* warm-up */
            fprintf(stderr, "bench_lstm: %s\n", keel_last_error());
            return 1;
        }
        double t0 = now();
        if (keel_fit(m, x, y, .batch_size = batches[b], .epochs = 1, .verbose = 0)) {
            fprintf(stderr, "bench_lstm: %s\n", keel_last_error());
            return 1;
        }
        double dt = now() - t0;
        printf("keel batch=%lld threads=%d samples_per_s=%.0f\n", (long long)batches[b],
               keel_get_threads(), (double)N / dt);
        fflush(stdout);
        keel_model_free(m);
    }
    keel_tensor_free(x), keel_tensor_free(y);
    return 0;
}
