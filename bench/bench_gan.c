#define _POSIX_C_SOURCE 199309L
/* bench_gan.c: training steps of the tutorial's MLP GAN (generator Dense 256 relu on 100-dim
 * noise -> Dense 784 sigmoid; discriminator Dense 256 relu on 784 -> Dense 1 sigmoid; Adam
 * 2e-4, beta_1 0.5; binary crossentropy). One step is one discriminator update on 64 real +
 * 64 generated images (one batch of 128) and one generator update on 64 noise vectors through
 * the frozen discriminator, as bench/gan_torch.py does in PyTorch. The "real" images are fixed
 * random values in [0, 1]: the data do not change the work. Prints
 *   keel batch=64 threads=T steps_per_s=S
 * usage: bench_gan [--batch B] [--threads T] [--steps N] */
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

/* the discriminator is frozen after its compile on purpose (the GAN idiom): no warning */
static void quiet(const char *msg, void *user) {
    (void)msg, (void)user;
}

static uint64_t state = 7;
static float u01(void) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(state >> 40) / 16777216.0f;
}

int main(int argc, char **argv) {
    int64_t B = 64;
    int threads = 0, steps = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            B = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--batch B] [--threads T] [--steps N]\n", argv[0]);
            return 2;
        }
    }
    if (threads > 0) keel_set_threads(threads);
    keel_set_warning_handler(quiet, NULL);
    keel_model *g = keel_sequential("generator"), *d = keel_sequential("discriminator"),
               *gan = keel_sequential("gan");
    keel_add(g, keel_dense(.units = 256, .activation = "relu", .input_dim = 100));
    keel_add(g, keel_dense(.units = 784, .activation = "sigmoid"));
    keel_add(d, keel_dense(.units = 256, .activation = "relu", .input_dim = 784));
    keel_add(d, keel_dense(.units = 1, .activation = "sigmoid"));
    keel_optimizer_opts adam = {.learning_rate = 2e-4f, .beta_1 = 0.5f};
    keel_compile(d, .optimizer = "adam", .optimizer_opts = adam, .loss = "binary_crossentropy");
    keel_model_set_trainable(d, 0);
    keel_add_model(gan, g);
    keel_add_model(gan, d);
    if (keel_compile(gan, .optimizer = "adam", .optimizer_opts = adam,
                     .loss = "binary_crossentropy")) {
        fprintf(stderr, "bench_gan: %s\n", keel_last_error());
        return 1;
    }
    keel_tensor *z = keel_tensor_new(KEEL_SHAPE(B, 100)),
                *fake = keel_tensor_new(KEEL_SHAPE(B, 784));
    keel_tensor *dx = keel_tensor_new(KEEL_SHAPE(2 * B, 784)),
                *dy = keel_tensor_new(KEEL_SHAPE(2 * B, 1));
    keel_tensor *ones = keel_tensor_new(KEEL_SHAPE(B, 1));
    for (int64_t i = 0; i < B; i++)
        keel_tensor_data(ones)[i] = 1, keel_tensor_data(dy)[i] = 1;
    for (int64_t i = 0; i < B * 784; i++)
        keel_tensor_data(dx)[i] = u01(); /* the real half */
    fprintf(stderr, "bench_gan: gemm %s, %d threads\n", keel_gemm_backend(), keel_get_threads());
    double t0 = 0, loss0 = 0, loss = 0;
    for (int s = -20; s < steps; s++) { /* 20 warm-up steps */
        if (s == 0) t0 = now();
        for (int64_t i = 0; i < B * 100; i++)
            keel_tensor_data(z)[i] = 2 * u01() - 1;
        /* the generated half of the discriminator's batch, written in place */
        if (keel_predict_into(g, z, fake)) break;
        memcpy(keel_tensor_data(dx) + B * 784, keel_tensor_data(fake),
               (size_t)(B * 784) * sizeof(float));
        double r[1];
        if (keel_train_on_batch(d, dx, dy, r, 1)) break;
        if (keel_train_on_batch(gan, z, ones, r, 1)) break;
        if (s == 0) loss0 = r[0];
        loss = r[0];
    }
    double dt = now() - t0;
    if (keel_model_status(gan) || !(loss == loss)) {
        fprintf(stderr, "bench_gan: %s\n", keel_last_error());
        return 1;
    }
    fprintf(stderr, "bench_gan: generator loss %.4f -> %.4f over %d steps\n", loss0, loss, steps);
    printf("keel batch=%lld threads=%d steps_per_s=%.1f\n", (long long)B, keel_get_threads(),
           steps / dt);
    keel_tensor_free(z), keel_tensor_free(fake), keel_tensor_free(dx), keel_tensor_free(dy),
        keel_tensor_free(ones);
    keel_model_free(gan), keel_model_free(g), keel_model_free(d);
    return 0;
}
