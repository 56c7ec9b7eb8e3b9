/* test_seq.c: sequence models end to end through the public API: token indices checked before
 * training, text classifiers that learn (Embedding + GlobalAveragePooling1D with a mask,
 * Embedding + Conv1D + GlobalMaxPooling1D), pre- and post-padding giving the same result under
 * mask_zero, and the gradient checks of the 1-D layers. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <string.h>

#define EXPECT_MSG(...)                                                                            \
    do {                                                                                           \
        const char *want_[] = {__VA_ARGS__};                                                       \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++)                               \
            cr_expect(strstr(keel_last_error(), want_[i_]), "message \"%s\" lacks \"%s\"",         \
                      keel_last_error(), want_[i_]);                                               \
    } while (0)

static uint64_t st = 99;
static int64_t rnd(int64_t n) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    return (int64_t)((st >> 33) % (uint64_t)n);
}

/* n sequences of length T over a vocabulary of V: label 1 when token 1 occurs (a "sentiment
 * word"), padded with 0 before (pre) or after the tokens */
static void toy_text(int64_t n, int64_t T, int64_t V, bool pre, keel_tensor **x, keel_tensor **y) {
    *x = keel_tensor_new(KEEL_SHAPE(n, T));
    *y = keel_tensor_new(KEEL_SHAPE(n, 1));
    for (int64_t i = 0; i < n; i++) {
        int64_t len = 3 + rnd(T - 3);
        bool pos = rnd(2);
        float *row = keel_tensor_data(*x) + i * T;
        memset(row, 0, (size_t)T * sizeof(float));
        for (int64_t t = 0; t < len; t++)
            row[pre ? T - len + t : t] = (float)(2 + rnd(V - 2));
        if (pos) row[pre ? T - len + rnd(len) : rnd(len)] = 1;
        keel_tensor_data(*y)[i] = pos ? 1.0f : 0.0f;
    }
}

Test(seq, token_indices_are_checked_before_training) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_embedding(.input_dim = 10, .output_dim = 4, .input_length = 3));
    keel_add(m, keel_global_average_pooling1d());
    keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
    cr_assert_eq(keel_compile(m, .optimizer = "adam", .loss = "binary_crossentropy"), KEEL_OK, "%s",
                 keel_last_error());
    float bad[] = {1, 2, 3, 4, 10, 6}, frac[] = {1, 2.5f, 3, 0, 0, 0}, neg[] = {0, 0, 0, 0, -1, 0},
          ys[] = {0, 1};
    keel_tensor *y = keel_tensor_from_data(KEEL_SHAPE(2, 1), ys);
    keel_tensor *x = keel_tensor_from_data(KEEL_SHAPE(2, 3), bad);
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("keel_fit: x[1, 1] = 10 is not below input_dim", "embedding has input_dim 10");
    keel_tensor_free(x);
    x = keel_tensor_from_data(KEEL_SHAPE(2, 3), frac);
    cr_expect_null(keel_predict(m, x, NULL));
    EXPECT_MSG("x[0, 1] = 2.5 is not a whole number");
    keel_tensor_free(x);
    x = keel_tensor_from_data(KEEL_SHAPE(2, 3), neg);
    double r[1];
    cr_expect_eq(keel_evaluate(m, x, y, r, 1), KEEL_ERR_ARG);
    EXPECT_MSG("x[1, 1] = -1 is negative");
    keel_tensor_free(x), keel_tensor_free(y);
    /* the sequence length is part of the input's shape */
    float four[] = {1, 2, 3, 4};
    x = keel_tensor_from_data(KEEL_SHAPE(1, 4), four);
    cr_expect_null(keel_predict(m, x, NULL));
    EXPECT_MSG("x has shape (1, 4)", "(None, 3)");
    keel_tensor_free(x);
    cr_expect_null(keel_embedding(.input_dim = 0, .output_dim = 3));
    EXPECT_MSG("input_dim and output_dim must be positive");
    keel_model_free(m);
}

static double train_and_score(keel_model *m, keel_tensor *x, keel_tensor *y, int epochs) {
    cr_assert_eq(keel_compile(m, .optimizer = "adam(learning_rate=0.01)",
                              .loss = "binary_crossentropy", .metrics = {"accuracy"}),
                 KEEL_OK, "%s", keel_last_error());
    cr_assert_eq(keel_fit(m, x, y, .epochs = epochs, .verbose = 0), KEEL_OK, "%s",
                 keel_last_error());
    double r[2];
    cr_assert_eq(keel_evaluate(m, x, y, r, 2), KEEL_OK);
    return r[1];
}

Test(seq, embedding_average_classifier_with_a_mask_learns) {
    keel_tensor *x, *y;
    toy_text(512, 12, 20, true, &x, &y);
    keel_model *m = keel_sequential(NULL);
    keel_add(m,
             keel_embedding(.input_dim = 20, .output_dim = 8, .mask_zero = 1, .input_length = 12));
    keel_add(m, keel_global_average_pooling1d());
    keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
    double acc = train_and_score(m, x, y, 15);
    cr_expect_gt(acc, 0.95, "accuracy %g", acc);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

Test(seq, conv1d_text_classifier_learns) {
    keel_tensor *x, *y;
    toy_text(512, 12, 20, false, &x, &y);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_embedding(.input_dim = 20, .output_dim = 8, .input_length = 12));
    keel_add(m,
             keel_conv1d(.filters = 8, .kernel_size = 3, .padding = "same", .activation = "relu"));
    keel_add(m, keel_max_pooling1d());
    keel_add(m, keel_conv1d(.filters = 8, .kernel_size = 2, .activation = "relu"));
    keel_add(m, keel_global_max_pooling1d());
    keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
    double acc = train_and_score(m, x, y, 15);
    cr_expect_gt(acc, 0.95, "accuracy %g", acc);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
}

/* mask_zero: a sequence padded before or after its tokens gives the same average */
Test(seq, pre_and_post_padding_agree_under_the_mask) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_embedding(.input_dim = 6, .output_dim = 3, .mask_zero = 1, .input_length = 5));
    keel_add(m, keel_global_average_pooling1d());
    keel_add(m, keel_dense(.units = 2));
    float pre[] = {0, 0, 3, 5, 1}, post[] = {3, 5, 1, 0, 0};
    keel_tensor *a = keel_tensor_from_data(KEEL_SHAPE(1, 5), pre),
                *b = keel_tensor_from_data(KEEL_SHAPE(1, 5), post);
    keel_tensor *pa = keel_predict(m, a, NULL), *pb = keel_predict(m, b, NULL);
    cr_assert(pa && pb, "%s", keel_last_error());
    for (int i = 0; i < 2; i++)
        cr_expect_float_eq(keel_tensor_data(pa)[i], keel_tensor_data(pb)[i], 1e-6);
    keel_tensor_free(pa), keel_tensor_free(pb), keel_tensor_free(a), keel_tensor_free(b);
    keel_model_free(m);
}

/* token ids as int32 (Keras's dtype for them) train exactly as the same whole numbers in float */
Test(seq, int32_tokens_and_labels) {
    keel_tensor *xf, *yf;
    toy_text(64, 8, 12, true, &xf, &yf);
    int32_t xi[64 * 8], yi[64];
    for (int i = 0; i < 64 * 8; i++)
        xi[i] = (int32_t)keel_tensor_data(xf)[i];
    for (int i = 0; i < 64; i++)
        yi[i] = (int32_t)keel_tensor_data(yf)[i];
    keel_tensor *x = keel_tensor_from_int32(KEEL_SHAPE(64, 8), xi),
                *y = keel_tensor_from_int32(KEEL_SHAPE(64, 1), yi);
    cr_assert(x && y);
    cr_expect_eq(keel_tensor_dtype(x), KEEL_INT32);
    cr_expect_null(keel_tensor_data(x), "no float view of an int32 tensor");
    EXPECT_MSG("is int32");
    keel_tensor *part = keel_tensor_slice(x, 2, 3);
    cr_assert_not_null(part);
    cr_expect_eq(keel_tensor_dtype(part), KEEL_INT32);
    cr_expect_eq(keel_tensor_int32_data(part)[0], xi[16]);
    keel_tensor_free(part);
    keel_model *a = keel_sequential(NULL), *b = keel_sequential(NULL);
    keel_model *ms[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        keel_add(ms[k], keel_embedding(.input_dim = 12, .output_dim = 4, .mask_zero = 1,
                                       .input_length = 8));
        keel_add(ms[k], keel_global_average_pooling1d());
        keel_add(ms[k], keel_dense(.units = 1, .activation = "sigmoid"));
        keel_compile(ms[k], .optimizer = "adam", .loss = "binary_crossentropy",
                     .metrics = {"accuracy"});
    }
    cr_assert_eq(keel_fit(a, xf, yf, .epochs = 2, .verbose = 0), KEEL_OK);
    cr_assert_eq(keel_fit(b, x, y, .epochs = 2, .verbose = 0), KEEL_OK, "%s", keel_last_error());
    int64_t n;
    float wa[128];
    const float *pa = keel_model_weights(a, &n);
    memcpy(wa, pa, (size_t)n * sizeof(float));
    cr_expect_eq(memcmp(wa, keel_model_weights(b, NULL), (size_t)n * sizeof(float)), 0);
    keel_model_free(a), keel_model_free(b);
    keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(xf), keel_tensor_free(yf);
}

Test(seq, time_distributed_dense_is_dense_on_every_step) {
    keel_model *m = keel_sequential(NULL);
    keel_layer *td = keel_time_distributed(.layer = keel_dense(.units = 2), .input_shape = {4, 3});
    cr_assert_not_null(td, "%s", keel_last_error());
    keel_add(m, td);
    cr_assert_eq(keel_compile(m, .loss = "mse"), KEEL_OK, "%s", keel_last_error());
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    keel_summary(m, f);
    fclose(f);
    cr_expect(strstr(buf, " time_distributed (TimeDist  (None, 4, 2)              8\n ributed)\n"),
              "%s", buf);
    float xs[12];
    for (int i = 0; i < 12; i++)
        xs[i] = (float)i * 0.1f - 0.5f;
    keel_tensor *x = keel_tensor_from_data(KEEL_SHAPE(1, 4, 3), xs);
    keel_tensor *p = keel_predict(m, x, NULL);
    cr_assert_not_null(p);
    cr_assert_eq(keel_model_count_params(m), 8);
    int64_t n;
    const float *all = keel_model_weights(m, &n);
    cr_assert_eq(n, 8);
    for (int t = 0; t < 4; t++)
        for (int u = 0; u < 2; u++) {
            float z = all[6 + u];
            for (int k = 0; k < 3; k++)
                z += xs[t * 3 + k] * all[k * 2 + u];
            cr_expect_float_eq(keel_tensor_data(p)[t * 2 + u], z, 1e-5);
        }
    keel_tensor_free(p), keel_tensor_free(x);
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_time_distributed(.layer = keel_conv2d(.filters = 2, .kernel_size = {3}),
                                      .input_shape = {4, 8, 8, 1}));
    cr_expect_neq(keel_compile(m, .loss = "mse"), KEEL_OK);
    EXPECT_MSG("TimeDistributed(Conv2D) is not supported");
    keel_model_free(m);
}

/* the sequence models of the issue: each learns the toy task (token 1 anywhere = positive) */
static keel_model *seq_model(int kind) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m,
             keel_embedding(.input_dim = 20, .output_dim = 8, .mask_zero = 1, .input_length = 12));
    switch (kind) {
    case 0: /* stacked LSTMs */
        keel_add(m, keel_lstm(.units = 12, .return_sequences = 1));
        keel_add(m, keel_lstm(.units = 8));
        break;
    case 1: keel_add(m, keel_gru(.units = 12)); break;
    case 2: keel_add(m, keel_bidirectional(.layer = keel_lstm(.units = 8))); break;
    default: keel_add(m, keel_simple_rnn(.units = 12)); break;
    }
    keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
    return m;
}

Test(seq, recurrent_models_learn) {
    static const char *const names[] = {"stacked LSTM", "GRU", "Bidirectional LSTM", "SimpleRNN"};
    for (int k = 0; k < 4; k++) {
        keel_tensor *x, *y;
        toy_text(512, 12, 20, k % 2 == 0, &x, &y); /* pre- and post-padded */
        keel_model *m = seq_model(k);
        double acc = train_and_score(m, x, y, 8);
        cr_expect_gt(acc, 0.95, "%s: accuracy %g", names[k], acc);
        keel_model_free(m);
        keel_tensor_free(x), keel_tensor_free(y);
    }
}

Test(seq, bidirectional_summary_and_names) {
    keel_model *m = seq_model(2);
    cr_assert_eq(keel_compile(m, .loss = "binary_crossentropy"), KEEL_OK, "%s", keel_last_error());
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    keel_summary(m, f);
    fclose(f);
    /* Keras: 2 x (4 * (8 * 8 + 8 * 8 + 8)) = 1088 */
    cr_expect(strstr(buf, " bidirectional (Bidirection  (None, 16)                1088\n al)\n"),
              "%s", buf);
    keel_layer *b = keel_model_layer(m, 1);
    keel_tensor *w[8];
    cr_expect_eq(keel_get_weights(b, w, 8), 0,
                 "the wrapper's own weights: none (they are its layers')");
    keel_model_free(m);
    cr_expect_null(keel_bidirectional(.layer = keel_dense(.units = 2)));
    EXPECT_MSG("wraps a new LSTM, GRU or SimpleRNN layer, got Dense");
    cr_expect_null(keel_bidirectional(.layer = keel_lstm(.units = 2), .merge_mode = "max"));
    EXPECT_MSG("merge_mode must be \"concat\", \"sum\", \"mul\", \"ave\" or \"none\"",
               "got \"max\"");
}

/* with mask_zero, the padding side does not change an LSTM's answer */
Test(seq, lstm_pre_and_post_padding_agree) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_embedding(.input_dim = 6, .output_dim = 3, .mask_zero = 1, .input_length = 5));
    keel_add(m, keel_lstm(.units = 4));
    float pre[] = {0, 0, 3, 5, 1}, post[] = {3, 5, 1, 0, 0};
    keel_tensor *a = keel_tensor_from_data(KEEL_SHAPE(1, 5), pre),
                *b = keel_tensor_from_data(KEEL_SHAPE(1, 5), post);
    keel_tensor *pa = keel_predict(m, a, NULL), *pb = keel_predict(m, b, NULL);
    cr_assert(pa && pb, "%s", keel_last_error());
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(keel_tensor_data(pa)[i], keel_tensor_data(pb)[i], 1e-6);
    keel_tensor_free(pa), keel_tensor_free(pb), keel_tensor_free(a), keel_tensor_free(b);
    keel_model_free(m);
}

/* ---------------------------------------------------------------- text_dataset_from_directory */

#include <sys/stat.h>
#include <unistd.h>

static void put_file(const char *root, const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* the folder of tools/make_text_dir_reference (below), made here */
static void make_text_folder(char *root) {
    strcpy(root, "/tmp/keel_tds_XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    const char *dirs[] = {"neg", "pos", "pos/sub", "zzz", ".hidden"};
    for (int i = 0; i < 5; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        cr_assert_eq(mkdir(p, 0755), 0);
    }
    char rel[64], text[64];
    for (int i = 1; i <= 7; i++) {
        snprintf(rel, sizeof rel, "neg/n%d.txt", i),
            snprintf(text, sizeof text, "negative review %d\n", i);
        put_file(root, rel, text);
    }
    for (int i = 1; i <= 5; i++) {
        snprintf(rel, sizeof rel, "pos/p%d.txt", i),
            snprintf(text, sizeof text, "positive text %d\n", i);
        put_file(root, rel, text);
    }
    put_file(root, "zzz/a.md", "other\n");
    put_file(root, "zzz/b.txt", "other2\n");
    put_file(root, "pos/sub/p0.txt", "nested\n");
    put_file(root, "pos/Z.txt", "upper\n");
    put_file(root, ".hidden/h.txt", "h\n");
}

/* Keras 2.15's dataset_utils.index_directory(d, "inferred", formats=(".txt",), shuffle=True,
 * seed=1337) on that folder (run with TensorFlow 2.15.1), the order keel must reproduce */
static const char *const KERAS_1337[] = {"neg/n6.txt", "neg/n4.txt",     "neg/n2.txt", "neg/n1.txt",
                                         "neg/n5.txt", "neg/n7.txt",     "pos/p4.txt", "neg/n3.txt",
                                         "pos/p3.txt", "pos/p2.txt",     "zzz/b.txt",  "pos/p1.txt",
                                         "pos/p5.txt", "pos/sub/p0.txt", "pos/Z.txt"};
static const char *const KERAS_7[] = {"pos/p1.txt",     "neg/n6.txt", "pos/p3.txt", "neg/n3.txt",
                                      "pos/p5.txt",     "neg/n1.txt", "neg/n2.txt", "zzz/b.txt",
                                      "pos/sub/p0.txt", "pos/Z.txt",  "pos/p4.txt", "neg/n4.txt",
                                      "neg/n7.txt",     "pos/p2.txt", "neg/n5.txt"};

Test(seq, text_dataset_from_directory_in_keras_order) {
    char root[64];
    make_text_folder(root);
    keel_text_dataset *d =
        keel_text_dataset_from_directory(root, .seed = 1337, .formats = ".txt", .verbose = 0);
    cr_assert_not_null(d, "%s", keel_last_error());
    cr_assert_eq(d->n, 15);
    cr_assert_eq(d->n_classes, 3);
    cr_expect_str_eq(d->class_names[2], "zzz");
    for (int i = 0; i < 15; i++)
        cr_expect_str_eq(d->paths[i], KERAS_1337[i], "file %d", i);
    cr_expect_str_eq(d->texts[0], "negative review 6\n");
    cr_expect_eq(d->labels[6], 1);
    keel_text_dataset_free(d);
    d = keel_text_dataset_from_directory(root, .seed = 7, .formats = ".txt", .verbose = 0);
    cr_assert_not_null(d);
    for (int i = 0; i < 15; i++)
        cr_expect_str_eq(d->paths[i], KERAS_7[i], "seed 7, file %d", i);
    keel_text_dataset_free(d);
    /* the split: int(0.2 * 15) = 3 files at the end validate */
    keel_text_dataset *tr = keel_text_dataset_from_directory(root, .seed = 1337, .formats = ".txt",
                                                             .validation_split = 0.2f,
                                                             .subset = "training", .verbose = 0);
    keel_text_dataset *va = keel_text_dataset_from_directory(root, .seed = 1337, .formats = ".txt",
                                                             .validation_split = 0.2f,
                                                             .subset = "validation", .verbose = 0);
    cr_assert(tr && va, "%s", keel_last_error());
    cr_expect_eq(tr->n, 12);
    cr_expect_eq(va->n, 3);
    cr_expect_str_eq(va->paths[0], "pos/p5.txt");
    keel_text_dataset_free(tr), keel_text_dataset_free(va);
    /* every file when no extension is given (the rule): a.md too */
    d = keel_text_dataset_from_directory(root, .seed = 1337, .verbose = 0);
    cr_assert_not_null(d);
    cr_expect_eq(d->n, 16);
    keel_text_dataset_free(d);
    cr_expect_null(keel_text_dataset_from_directory(root, .validation_split = 0.2f, .verbose = 0));
    EXPECT_MSG("validation_split and subset");
    cr_expect_null(keel_text_dataset_from_directory("/nonexistent/folder", .verbose = 0));
    EXPECT_MSG("cannot open /nonexistent/folder");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_expect_eq(system(cmd), 0);
}

/* NumPy's RandomState(1337).shuffle(range(10)) gives [6, 3, 0, 4, 5, 2, 1, 9, 8, 7]: checked
 * through a folder of ten classes of one file each (no formats filter, no split) */
Test(seq, numpy_shuffle_matches) {
    char root[64];
    strcpy(root, "/tmp/keel_np_XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    for (int c = 0; c < 10; c++) {
        char p[512];
        snprintf(p, sizeof p, "%s/c%d", root, c);
        cr_assert_eq(mkdir(p, 0755), 0);
        put_file(p, "f.txt", "x");
    }
    keel_text_dataset *d = keel_text_dataset_from_directory(root, .seed = 1337, .verbose = 0);
    cr_assert_not_null(d, "%s", keel_last_error());
    const int want[] = {6, 3, 0, 4, 5, 2, 1, 9, 8, 7};
    for (int i = 0; i < 10; i++)
        cr_expect_eq(d->labels[i], want[i], "position %d", i);
    keel_text_dataset_free(d);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_expect_eq(system(cmd), 0);
}
