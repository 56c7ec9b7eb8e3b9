/* gan.c: the tutorial's GAN on Fashion-MNIST, completed, and a convolutional one.
 *
 *   generator = Sequential([Dense(256, activation="relu", input_dim=100),
 *                           Dense(784, activation="sigmoid")])
 *   discriminator = Sequential([Dense(256, activation="relu", input_dim=784),
 *                               Dense(1, activation="sigmoid")])
 *   discriminator.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
 *   discriminator.trainable = False
 *   gan = Sequential([generator, discriminator])
 *   gan.compile(optimizer="adam", loss="binary_crossentropy")
 *
 * and the loop the tutorial leaves out: each step trains the discriminator on a batch of real
 * images (label 1) and a batch of generated ones (label 0), then the generator through the
 * frozen discriminator with "real" labels. After each epoch it prints the discriminator's loss
 * and accuracy and the generator's loss, and writes a grid of samples from fixed noise,
 * gan_epoch_NNN.png, so you can watch them sharpen. tf.keras 2's rule makes the freeze work:
 * each model trains the weights that were trainable when it was compiled (keel warns once, as
 * Keras does, that the discriminator's flags changed after its compile).
 *
 * --dcgan: generator Dense(7*7*128) -> Reshape(7, 7, 128) -> Conv2DTranspose(64, 4, strides 2)
 * + BatchNormalization + LeakyReLU(0.2) -> Conv2DTranspose(1, 4, strides 2, tanh): 28x28x1 in
 * [-1, 1]; discriminator Conv2D(64, 4, strides 2) + LeakyReLU(0.2) + Dropout(0.3) -> Conv2D(128,
 * 4, strides 2) + LeakyReLU(0.2) + Dropout(0.3) -> Flatten -> Dense(1, sigmoid); Adam(2e-4,
 * beta_1=0.5) for both, as in the DCGAN paper.
 *
 * Both end by scoring 10,000 generated images with a Fashion-MNIST classifier trained here (the
 * demo CNN, 2 epochs): the Inception Score exp(E_x KL(p(y|x) || p(y))), beside the same score
 * of the 10,000 real test images.
 *
 * usage: gan [--dcgan] [--epochs N] [--steps N (per epoch)] [--batch N] [--out DIR] [--no-score]
 *            [DATA_DIR] */
#include <keel.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOISE 100

typedef struct args {
    bool dcgan, no_score;
    int epochs, steps, batch;
    const char *out, *data;
} args;

/* a small seeded generator for the noise and the batches (splitmix64, Box-Muller) */
static uint64_t rng_state = 42;
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform(void) {
    return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}
static void normal_fill(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = uniform() + 1e-300, u2 = uniform(), r = sqrt(-2 * log(u1));
        p[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) p[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

static keel_tensor *load(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    else
        snprintf(path, sizeof path, "%s/%s", dir, name);
    return keel_load_idx(path);
}

/* images (N, 28, 28) of 0..255 as (N, 784) or (N, 28, 28, 1), scaled to [lo, hi] */
static keel_tensor *images(const keel_tensor *raw, bool conv, float lo, float hi) {
    int64_t n = keel_tensor_dim(raw, 0);
    keel_tensor *t = conv ? keel_tensor_reshape(raw, KEEL_SHAPE(n, 28, 28, 1))
                          : keel_tensor_reshape(raw, KEEL_SHAPE(n, 784));
    for (int64_t i = 0; t && i < keel_tensor_size(t); i++)
        keel_tensor_data(t)[i] = lo + (hi - lo) * keel_tensor_data(t)[i] / 255.0f;
    return t;
}

static void build_mlp(keel_model *g, keel_model *d) {
    keel_add(g, keel_dense(.units = 256, .activation = "relu", .input_dim = NOISE));
    keel_add(g, keel_dense(.units = 784, .activation = "sigmoid"));
    keel_add(d, keel_dense(.units = 256, .activation = "relu", .input_dim = 784));
    keel_add(d, keel_dense(.units = 1, .activation = "sigmoid"));
}

static void build_dcgan(keel_model *g, keel_model *d) {
    keel_add(g, keel_dense(.units = 7 * 7 * 128, .input_dim = NOISE));
    keel_add(g, keel_reshape(.target_shape = {7, 7, 128}));
    keel_add(g, keel_conv2d_transpose(.filters = 64, .kernel_size = {4}, .strides = {2},
                                      .padding = "same"));
    keel_add(g, keel_batch_normalization());
    keel_add(g, keel_leaky_relu(.alpha = 0.2f));
    keel_add(g, keel_conv2d_transpose(.filters = 1, .kernel_size = {4}, .strides = {2},
                                      .padding = "same", .activation = "tanh"));
    keel_add(d, keel_conv2d(.filters = 64, .kernel_size = {4}, .strides = {2}, .padding = "same",
                            .input_shape = {28, 28, 1}));
    keel_add(d, keel_leaky_relu(.alpha = 0.2f));
    keel_add(d, keel_dropout(.rate = 0.3f));
    keel_add(d, keel_conv2d(.filters = 128, .kernel_size = {4}, .strides = {2}, .padding = "same"));
    keel_add(d, keel_leaky_relu(.alpha = 0.2f));
    keel_add(d, keel_dropout(.rate = 0.3f));
    keel_add(d, keel_flatten());
    keel_add(d, keel_dense(.units = 1, .activation = "sigmoid"));
}

/* p(y|x) for every image from the classifier; IS = exp(mean KL(p(y|x) || p(y))) */
static double inception_score(keel_model *clf, const keel_tensor *x01) {
    keel_tensor *p = keel_predict(clf, x01, &(keel_predict_opts){.batch_size = 256});
    if (!p) return NAN;
    int64_t n = keel_tensor_dim(p, 0);
    const float *q = keel_tensor_cdata(p);
    double py[10] = {0}, kl = 0;
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 10; c++)
            py[c] += q[i * 10 + c] / (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 10; c++) {
            double v = q[i * 10 + c];
            if (v > 1e-12) kl += v * (log(v) - log(py[c]));
        }
    keel_tensor_free(p);
    return exp(kl / (double)n);
}

/* the demo CNN, trained on the spot on images in [0, 1] */
static keel_model *classifier(const keel_tensor *x01, const keel_tensor *y) {
    keel_model *m = keel_sequential("classifier");
    keel_add(m, keel_conv2d(.filters = 32, .kernel_size = {3}, .activation = "relu",
                            .input_shape = {28, 28, 1}));
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    if (keel_fit(m, x01, y, .epochs = 2, .verbose = 2) != KEEL_OK) {
        keel_model_free(m);
        return NULL;
    }
    return m;
}

/* generated images as (n, 28, 28, 1) in [0, 1], for the classifier */
static keel_tensor *generate01(keel_model *g, int64_t n, bool dcgan) {
    keel_tensor *z = keel_tensor_new(KEEL_SHAPE(n, NOISE));
    if (!z) return NULL;
    normal_fill(keel_tensor_data(z), n * NOISE);
    keel_tensor *gen = keel_predict(g, z, &(keel_predict_opts){.batch_size = 256});
    keel_tensor_free(z);
    if (!gen) return NULL;
    keel_tensor *r = keel_tensor_reshape(gen, KEEL_SHAPE(n, 28, 28, 1));
    keel_tensor_free(gen);
    for (int64_t i = 0; r && dcgan && i < keel_tensor_size(r); i++)
        keel_tensor_data(r)[i] = 0.5f * (keel_tensor_data(r)[i] + 1);
    return r;
}

static int parse(int argc, char **argv, args *a) {
    *a = (args){.epochs = 5,
                .steps = 0,
                .batch = 64,
                .out = ".",
                .data = "/usr/share/datasets/fashion-mnist"};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dcgan"))
            a->dcgan = true;
        else if (!strcmp(argv[i], "--no-score"))
            a->no_score = true;
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            a->epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            a->steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            a->batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            a->out = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: gan [--dcgan] [--epochs N] [--steps N] [--batch N] [--out DIR] "
                            "[--no-score] [DATA_DIR]\n");
            return 1;
        } else
            a->data = argv[i];
    }
    if (a->epochs < 1 || a->batch < 1 || a->steps < 0) {
        fprintf(stderr, "gan: --epochs and --batch must be positive, --steps >= 0\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    args a;
    if (parse(argc, argv, &a)) return 2;
    keel_tensor *raw = load(a.data, "train-images-idx3-ubyte"),
                *raw_test = raw ? load(a.data, "t10k-images-idx3-ubyte") : NULL;
    keel_tensor *y_train = raw_test ? load(a.data, "train-labels-idx1-ubyte") : NULL;
    if (!y_train) {
        fprintf(stderr, "gan: %s (Fashion-MNIST comes with Debian's dataset-fashion-mnist)\n",
                keel_last_error());
        return 1;
    }
    /* the MLP GAN's generator ends in a sigmoid: [0, 1]; the DCGAN's in a tanh: [-1, 1] */
    keel_tensor *x = a.dcgan ? images(raw, true, -1, 1) : images(raw, false, 0, 1);
    keel_tensor *x_clf = images(raw, true, 0, 1), *x_real = images(raw_test, true, 0, 1);
    keel_model *g = keel_sequential("generator"), *d = keel_sequential("discriminator"),
               *gan = keel_sequential("gan");
    if (a.dcgan)
        build_dcgan(g, d);
    else
        build_mlp(g, d);
    keel_optimizer_opts adam = a.dcgan
                                   ? (keel_optimizer_opts){.learning_rate = 2e-4f, .beta_1 = 0.5f}
                                   : (keel_optimizer_opts){0};
    keel_compile(d, .optimizer = "adam", .optimizer_opts = adam, .loss = "binary_crossentropy",
                 .metrics = {"accuracy"});
    keel_model_set_trainable(d, 0);
    keel_add_model(gan, g);
    keel_add_model(gan, d);
    if (keel_compile(gan, .optimizer = "adam", .optimizer_opts = adam,
                     .loss = "binary_crossentropy") != KEEL_OK) {
        fprintf(stderr, "gan: %s\n", keel_last_error());
        return 1;
    }
    keel_summary(gan, NULL);
    printf("gemm: %s, %d threads\n", keel_gemm_backend(), keel_get_threads());

    const int64_t N = keel_tensor_dim(x, 0), B = a.batch, per = keel_tensor_size(x) / N;
    const int64_t steps = a.steps ? a.steps : N / B;
    int64_t rdims[4] = {B, 28, 28, 1};
    keel_tensor *real = a.dcgan ? keel_tensor_new(4, rdims) : keel_tensor_new(KEEL_SHAPE(B, 784));
    keel_tensor *z = keel_tensor_new(KEEL_SHAPE(B, NOISE)),
                *z_show = keel_tensor_new(KEEL_SHAPE(100, NOISE));
    keel_tensor *ones = keel_tensor_new(KEEL_SHAPE(B, 1)),
                *zeros = keel_tensor_new(KEEL_SHAPE(B, 1));
    for (int64_t i = 0; i < B; i++)
        keel_tensor_data(ones)[i] = 1;
    normal_fill(keel_tensor_data(z_show), 100 * NOISE);
    int rc = 1;
    for (int epoch = 1; epoch <= a.epochs; epoch++) {
        double dl = 0, da = 0, gl = 0;
        for (int64_t s = 0; s < steps; s++) {
            for (int64_t i = 0; i < B; i++) { /* a random batch of real images */
                int64_t r = (int64_t)(uniform() * (double)N);
                memcpy(keel_tensor_data(real) + i * per, keel_tensor_cdata(x) + r * per,
                       (size_t)per * sizeof(float));
            }
            normal_fill(keel_tensor_data(z), B * NOISE);
            keel_tensor *fake = keel_predict_on_batch(g, z);
            double rr[2], rf[2], rg[1];
            if (!fake || keel_train_on_batch(d, real, ones, rr, 2) ||
                keel_train_on_batch(d, fake, zeros, rf, 2)) {
                keel_tensor_free(fake);
                goto done;
            }
            keel_tensor_free(fake);
            normal_fill(keel_tensor_data(z), B * NOISE);
            if (keel_train_on_batch(gan, z, ones, rg, 1)) goto done;
            dl += 0.5 * (rr[0] + rf[0]), da += 0.5 * (rr[1] + rf[1]), gl += rg[0];
        }
        printf("epoch %d/%d: d_loss %.4f, d_accuracy %.4f, g_loss %.4f\n", epoch, a.epochs,
               dl / (double)steps, da / (double)steps, gl / (double)steps);
        keel_tensor *show = keel_predict(g, z_show, NULL);
        char path[4096];
        snprintf(path, sizeof path, "%s/gan_epoch_%03d.png", a.out, epoch);
        if (!show) goto done;
        int64_t sd[4] = {100, 28, 28, 1};
        keel_tensor *grid = keel_tensor_reshape(show, 4, sd);
        keel_tensor_free(show);
        keel_status st = grid ? keel_save_image_grid(path, grid, 10, a.dcgan ? -1.0f : 0.0f, 1.0f)
                              : KEEL_ERR_NOMEM;
        keel_tensor_free(grid);
        if (st) goto done;
        printf("samples: %s\n", path);
        fflush(stdout);
    }
    if (a.no_score)
        rc = 0;
    else {
        printf("training the scoring classifier (the demo CNN, 2 epochs)\n");
        keel_model *clf = classifier(x_clf, y_train);
        keel_tensor *gen = clf ? generate01(g, 10000, a.dcgan) : NULL;
        keel_tensor *real10k = gen ? keel_tensor_slice(x_real, 0, 10000) : NULL;
        if (real10k) {
            printf("real_inception_score: %.4f\n", inception_score(clf, real10k));
            printf("inception_score: %.4f\n", inception_score(clf, gen));
            rc = 0;
        }
        keel_tensor_free(gen), keel_tensor_free(real10k);
        keel_model_free(clf);
    }
done:
    if (rc) fprintf(stderr, "gan: %s\n", keel_last_error());
    keel_tensor_free(real), keel_tensor_free(z), keel_tensor_free(z_show), keel_tensor_free(ones),
        keel_tensor_free(zeros);
    keel_model_free(gan), keel_model_free(g), keel_model_free(d);
    keel_tensor_free(x), keel_tensor_free(x_clf), keel_tensor_free(x_real);
    keel_tensor_free(raw), keel_tensor_free(raw_test), keel_tensor_free(y_train);
    return rc;
}
