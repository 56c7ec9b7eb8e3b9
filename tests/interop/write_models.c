/* write_models.c: tiny keel models of every layer kind, trained and saved with keel_save, for
 * tools/interop_check.py to open in real Keras 3 (`make interop-check`; not part of `make test`,
 * which needs no Python).
 *
 * Usage:  write_models DIR
 *
 * For each model NAME it writes DIR/NAME.keras, the inputs DIR/NAME.x.npy (several inputs:
 * NAME.x0.npy, NAME.x1.npy, ...) and keel's own predictions on them DIR/NAME.y.npy (several
 * outputs: NAME.y0.npy, ...), all float32. The models are those of
 * tools/make_save_fixtures.py (the Keras-written fixtures), built with keel: the same layers and
 * options, so a difference points at a layer, not at a model. Each is compiled, trained for two
 * epochs on seeded random data (BatchNormalization's statistics and PReLU's alpha move away from
 * their initial values) and saved with its optimizer state. Exit status 0, or 1 with one line
 * naming the model and the error. */
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- data */

/* A seeded generator of its own, so the data do not depend on libc's rand. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float normal(void) {
    double u = uniform() + 1e-12, v = uniform();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

typedef enum fill { NORMAL, UNIFORM, CLASSES, ONEHOT, IDS, MASKED } fill;

/* n samples of the per-sample shape dims; `k` is the class count (CLASSES, ONEHOT), the
 * vocabulary (IDS, pre-padded with zeros) or unused. MASKED: normal values with about a quarter
 * of the time steps set to -1 (Masking's value). */
static keel_tensor *make(int64_t n, int rank, const int64_t *dims, fill how, int k) {
    int64_t shape[KEEL_MAX_RANK + 1] = {n};
    memcpy(shape + 1, dims, (size_t)rank * sizeof *dims);
    keel_tensor *t = keel_tensor_new(rank + 1, shape);
    if (!t) return NULL;
    float *d = keel_tensor_data(t);
    int64_t per = keel_tensor_size(t) / n;
    for (int64_t i = 0; i < n; i++) {
        float *row = d + i * per;
        int64_t len = 2 + (int64_t)(uniform() * (double)(per - 1)); /* IDS: 2 .. per */
        int hot = (int)(uniform() * k);
        for (int64_t j = 0; j < per; j++) {
            switch (how) {
            case NORMAL: row[j] = normal(); break;
            case UNIFORM: row[j] = (float)uniform(); break;
            case CLASSES: row[j] = (float)(int)(uniform() * k); break;
            case ONEHOT: row[j] = j == hot ? 1.0f : 0.0f; break;
            case IDS:
                row[j] = j < per - len ? 0.0f : (float)(1 + (int)(uniform() * (k - 1)));
                break;
            case MASKED: row[j] = normal(); break;
            }
        }
        if (how == MASKED) { /* whole steps of F features */
            int64_t F = dims[rank - 1];
            for (int64_t s = 0; s < per / F; s++)
                if (uniform() < 0.25)
                    for (int64_t f = 0; f < F; f++)
                        row[s * F + f] = -1.0f;
        }
    }
    return t;
}

/* ---------------------------------------------------------------- one model */

#define MAX_IO 4
typedef struct spec {
    const char *name;
    keel_model *(*build)(void);
    int n_in, n_out;
    int in_rank[MAX_IO];
    int64_t in_dims[MAX_IO][4];
    fill in_fill[MAX_IO];
    int in_k[MAX_IO];
    int out_rank[MAX_IO];
    int64_t out_dims[MAX_IO][4];
    fill out_fill[MAX_IO];
    int out_k[MAX_IO];
} spec;

static int fail(const char *name, const char *what) {
    fprintf(stderr, "write_models: %s: %s: %s\n", name, what, keel_last_error());
    return 1;
}

static keel_tensor *as_x(keel_tensor **t, int n) {
    return n == 1 ? t[0] : keel_tensor_list(n, (const keel_tensor *const *)t);
}

static int save_all(const char *dir, const char *name, const char *tag, keel_tensor **t, int n) {
    for (int i = 0; i < n; i++) {
        char path[1024];
        if (n == 1)
            snprintf(path, sizeof path, "%s/%s.%s.npy", dir, name, tag);
        else
            snprintf(path, sizeof path, "%s/%s.%s%d.npy", dir, name, tag, i);
        if (keel_save_npy(path, t[i]) != KEEL_OK) return fail(name, path);
    }
    return 0;
}

static int run(const char *dir, const spec *s) {
    keel_model *m = s->build();
    if (!m || keel_model_status(m) != KEEL_OK) return fail(s->name, "build");
    keel_tensor *xtr[MAX_IO] = {0}, *ytr[MAX_IO] = {0}, *xs[MAX_IO] = {0}, *pred[MAX_IO] = {0};
    keel_tensor *x = NULL, *y = NULL, *xf = NULL;
    int rc = 1;
    for (int i = 0; i < s->n_in; i++) {
        xtr[i] = make(32, s->in_rank[i], s->in_dims[i], s->in_fill[i], s->in_k[i]);
        xs[i] = make(6, s->in_rank[i], s->in_dims[i], s->in_fill[i], s->in_k[i]);
    }
    for (int i = 0; i < s->n_out; i++)
        ytr[i] = make(32, s->out_rank[i], s->out_dims[i], s->out_fill[i], s->out_k[i]);
    x = as_x(xtr, s->n_in), y = as_x(ytr, s->n_out), xf = as_x(xs, s->n_in);
    if (keel_fit(m, x, y, .epochs = 2, .batch_size = 8, .shuffle = 0, .verbose = 0) != KEEL_OK) {
        fail(s->name, "fit");
        goto done;
    }
    int n = keel_predict_outputs(m, xf, pred, MAX_IO);
    if (n != s->n_out) {
        fail(s->name, "predict");
        goto done;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.keras", dir, s->name);
    if (keel_save(m, path) != KEEL_OK)
        fail(s->name, "keel_save");
    else if (!save_all(dir, s->name, "x", xs, s->n_in) && !save_all(dir, s->name, "y", pred, n))
        rc = 0;
    for (int i = 0; i < n; i++)
        keel_tensor_free(pred[i]);
done:
    if (s->n_in > 1) keel_tensor_free(x), keel_tensor_free(xf);
    if (s->n_out > 1) keel_tensor_free(y);
    for (int i = 0; i < MAX_IO; i++)
        keel_tensor_free(xtr[i]), keel_tensor_free(ytr[i]), keel_tensor_free(xs[i]);
    keel_model_free(m);
    if (!rc) printf("%s/%s.keras\n", dir, s->name);
    return rc;
}

/* ---------------------------------------------------------------- the models */

/* Dense, every activation layer, Dropout, BatchNormalization */
static keel_model *mlp(void) {
    keel_model *m = keel_sequential("mlp");
    keel_add(m, keel_dense(.units = 6, .input_dim = 5));
    keel_add(m, keel_elu(.alpha = 0.5f));
    keel_add(m, keel_leaky_relu(.alpha = 0.2f));
    keel_add(m, keel_prelu());
    keel_add(m, keel_dropout(.rate = 0.2f));
    keel_add(m, keel_batch_normalization(.momentum = 0.8f));
    keel_add(m, keel_activation(.activation = "tanh"));
    keel_add(m, keel_relu());
    keel_add(m, keel_dense(.units = 3));
    keel_add(m, keel_softmax());
    keel_compile(m, .optimizer = "adam", .loss = "categorical_crossentropy",
                 .metrics = {"accuracy"});
    return m;
}

/* Conv2D, pooling, padding, BatchNormalization on images, PReLU with shared axes, global
 * pooling, Flatten, Concatenate */
static keel_model *cnn(void) {
    keel_model *m = keel_model_new("cnn");
    keel_sym *x = keel_model_input(m, .shape = {8, 8, 2}, .name = "image");
    keel_sym *h = keel_apply(
        m,
        keel_conv2d(.filters = 3, .kernel_size = {3, 3}, .padding = "same", .activation = "relu"),
        x);
    h = keel_apply(m, keel_max_pooling2d(), h);
    h = keel_apply(m, keel_zero_padding2d(.pads = {1, 0, 0, 1}), h);
    h = keel_apply(m, keel_conv2d(.filters = 4, .kernel_size = {3, 2}, .strides = {2, 1}), h);
    h = keel_apply(m, keel_batch_normalization(.momentum = 0.9f), h);
    h = keel_apply(m, keel_prelu(.shared_axes = {1, 2}), h);
    keel_sym *a = keel_apply(m, keel_global_average_pooling2d(), h);
    keel_sym *b = keel_apply(m, keel_global_max_pooling2d(), h);
    keel_sym *c = keel_apply(m, keel_zero_padding2d(), h);
    c = keel_apply(m, keel_average_pooling2d(.strides = {1, 1}), c);
    c = keel_apply(m, keel_flatten(), c);
    h = keel_apply_n(m, keel_concatenate(), 3, (keel_sym *[]){a, b, c});
    keel_model_outputs(
        m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 3, .activation = "softmax"), h)});
    keel_compile(m, .optimizer = "sgd",
                 .optimizer_opts = {.learning_rate = 0.05f, .momentum = 0.9f},
                 .loss = "sparse_categorical_crossentropy", .metrics = {"accuracy"});
    return m;
}

/* Reshape, Conv2DTranspose, UpSampling2D nearest and bilinear, Conv2D with strides */
static keel_model *deconv(void) {
    keel_model *m = keel_sequential("deconv");
    keel_add(m, keel_dense(.units = 12, .input_dim = 6));
    keel_add(m, keel_reshape(.target_shape = {2, 2, 3}));
    keel_add(m, keel_conv2d_transpose(.filters = 4, .kernel_size = {3, 3}, .strides = {2, 2},
                                      .padding = "same", .activation = "relu"));
    keel_add(m, keel_upsampling2d());
    keel_add(m, keel_conv2d(.filters = 3, .kernel_size = {3, 3}, .strides = {2, 2}));
    keel_add(m, keel_upsampling2d(.size = {2, 3}, .interpolation = "bilinear"));
    keel_add(m, keel_conv2d_transpose(.filters = 1, .kernel_size = {2, 2}, .strides = {2, 2},
                                      .output_padding = {1, 1}));
    keel_add(m, keel_reshape(.target_shape = {13, 19}));
    keel_compile(m, .optimizer = "rmsprop", .loss = "mse", .metrics = {"mae"});
    return m;
}

/* Embedding with mask_zero feeding LSTM -> GRU and a masked GlobalAveragePooling1D */
static keel_model *rnn(void) {
    keel_model *m = keel_model_new("rnn");
    keel_sym *ids = keel_model_input(m, .shape = {7}, .name = "ids");
    keel_sym *e =
        keel_apply(m, keel_embedding(.input_dim = 20, .output_dim = 4, .mask_zero = 1), ids);
    keel_sym *h = keel_apply(m, keel_lstm(.units = 4, .return_sequences = 1), e);
    h = keel_apply(m, keel_gru(.units = 3), h);
    keel_sym *a = keel_apply(m, keel_global_average_pooling1d(), e);
    h = keel_apply_n(m, keel_concatenate(), 2, (keel_sym *[]){h, a});
    keel_model_outputs(
        m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 3, .activation = "softmax"), h)});
    keel_compile(m, .optimizer = "rmsprop", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    return m;
}

/* Bidirectional LSTMs joined by concat and by sum, SimpleRNN */
static keel_model *birnn(void) {
    keel_model *m = keel_sequential("birnn");
    keel_add(m, keel_bidirectional(.layer = keel_lstm(.units = 3, .return_sequences = 1),
                                   .input_shape = {5, 3}));
    keel_add(m, keel_bidirectional(.layer = keel_lstm(.units = 2, .return_sequences = 1),
                                   .merge_mode = "sum"));
    keel_add(m, keel_simple_rnn(.units = 2));
    keel_compile(m, .optimizer = "sgd",
                 .optimizer_opts = {.learning_rate = 0.05f, .momentum = 0.9f}, .loss = "mse",
                 .metrics = {"mae"});
    return m;
}

/* Masking, TimeDistributed(Dense), Conv1D same / causal with strides, 1-D pooling */
static keel_model *seq1d(void) {
    keel_model *m = keel_sequential("seq1d");
    keel_add(m, keel_masking(.mask_value = -1.0f, .input_shape = {16, 3}));
    keel_add(m, keel_time_distributed(.layer = keel_dense(.units = 4, .activation = "relu")));
    keel_add(m, keel_conv1d(.filters = 4, .kernel_size = 3, .strides = 2, .padding = "same"));
    keel_add(m, keel_max_pooling1d());
    keel_add(
        m, keel_conv1d(.filters = 3, .kernel_size = 2, .padding = "causal", .activation = "tanh"));
    keel_add(m, keel_average_pooling1d(.strides = 1));
    keel_add(m, keel_global_max_pooling1d());
    keel_add(m, keel_dense(.units = 2, .activation = "softmax"));
    keel_compile(m, .optimizer = "rmsprop",
                 .optimizer_opts = {.learning_rate = 0.01f, .momentum = 0.5f},
                 .loss = "categorical_crossentropy", .metrics = {"accuracy"});
    return m;
}

/* two inputs, every merge layer, two outputs with loss weights */
static keel_model *merge(void) {
    keel_model *m = keel_model_new("merge");
    keel_sym *a = keel_model_input(m, .shape = {4}, .name = "in_a");
    keel_sym *b = keel_model_input(m, .shape = {4}, .name = "in_b");
    keel_sym *da =
        keel_apply(m, keel_dense(.units = 3, .activation = "tanh", .name = "dense_a"), a);
    keel_sym *db =
        keel_apply(m, keel_dense(.units = 3, .activation = "tanh", .name = "dense_b"), b);
    keel_sym *ab[] = {da, db};
    keel_sym *p1[] = {keel_apply_n(m, keel_merge_add(), 2, ab),
                      keel_apply_n(m, keel_merge_subtract(), 2, ab),
                      keel_apply_n(m, keel_merge_multiply(), 2, ab)};
    keel_sym *p2[] = {keel_apply_n(m, keel_merge_average(), 2, ab),
                      keel_apply_n(m, keel_merge_maximum(), 2, ab),
                      keel_apply_n(m, keel_merge_minimum(), 2, ab)};
    keel_sym *c[] = {keel_apply_n(m, keel_concatenate(), 3, p1),
                     keel_apply_n(m, keel_concatenate(), 3, p2)};
    keel_sym *h = keel_apply_n(m, keel_concatenate(), 2, c);
    keel_sym *reg = keel_apply(m, keel_dense(.units = 1, .name = "reg"), h);
    keel_sym *cls =
        keel_apply(m, keel_dense(.units = 3, .activation = "softmax", .name = "cls"), h);
    keel_model_outputs(m, 2, (keel_sym *[]){reg, cls});
    keel_compile(m, .optimizer = "adam", .losses = {"mse", "categorical_crossentropy"},
                 .loss_weights = {1.0f, 0.5f}, .metrics = {"mae"});
    return m;
}

/* a Sequential inside a Sequential, called twice in a functional model; a Dense called twice */
static keel_model *nested(void) {
    keel_model *core = keel_sequential("core");
    keel_add(core, keel_dense(.units = 3, .input_dim = 4, .activation = "relu"));
    keel_model *tower = keel_sequential("tower");
    keel_add_model(tower, core);
    keel_add(tower, keel_leaky_relu(.alpha = 0.2f));
    keel_add(tower, keel_dense(.units = 4));
    keel_model *m = keel_model_new("nested");
    keel_sym *x = keel_model_input(m, .shape = {4}, .name = "x");
    keel_sym *h1 = keel_apply_model(m, tower, 1, &x);
    keel_sym *h2 = keel_apply_model(m, tower, 1, &h1);
    keel_layer *shared = keel_dense(.units = 2, .activation = "tanh", .name = "shared");
    keel_sym *s1 = keel_apply(m, shared, h1), *s2 = keel_apply(m, shared, h2);
    keel_sym *h = keel_apply_n(m, keel_concatenate(), 2, (keel_sym *[]){s1, s2});
    keel_model_outputs(m, 1,
                       (keel_sym *[]){keel_apply(
                           m, keel_dense(.units = 1, .activation = "sigmoid", .name = "out"), h)});
    keel_model_free(tower); /* the functional model holds both now */
    keel_model_free(core);
    keel_compile(m, .optimizer = "adam", .optimizer_opts = {.learning_rate = 2e-3f, .beta_1 = 0.5f},
                 .loss = "binary_crossentropy", .metrics = {"accuracy"});
    return m;
}

#define D(...)                                                                                     \
    { __VA_ARGS__ }
static const spec SPECS[] = {
    {"mlp", mlp, 1, 1, {1}, {D(5)}, {NORMAL}, {0}, {1}, {D(3)}, {ONEHOT}, {3}},
    {"cnn", cnn, 1, 1, {3}, {D(8, 8, 2)}, {UNIFORM}, {0}, {1}, {D(1)}, {CLASSES}, {3}},
    {"deconv", deconv, 1, 1, {1}, {D(6)}, {NORMAL}, {0}, {2}, {D(13, 19)}, {UNIFORM}, {0}},
    {"rnn", rnn, 1, 1, {1}, {D(7)}, {IDS}, {20}, {1}, {D(1)}, {CLASSES}, {3}},
    {"birnn", birnn, 1, 1, {2}, {D(5, 3)}, {NORMAL}, {0}, {1}, {D(2)}, {NORMAL}, {0}},
    {"seq1d", seq1d, 1, 1, {2}, {D(16, 3)}, {MASKED}, {0}, {1}, {D(2)}, {ONEHOT}, {2}},
    {"merge",
     merge,
     2,
     2,
     {1, 1},
     {D(4), D(4)},
     {NORMAL, NORMAL},
     {0, 0},
     {1, 1},
     {D(1), D(3)},
     {NORMAL, ONEHOT},
     {0, 3}},
    {"nested", nested, 1, 1, {1}, {D(4)}, {NORMAL}, {0}, {1}, {D(1)}, {CLASSES}, {2}},
};

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: write_models DIR\n");
        return 2;
    }
    keel_set_threads(1); /* tiny models; results independent of the machine */
    int failed = 0;
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++)
        failed += run(argv[1], &SPECS[i]);
    return failed ? 1 : 0;
}
