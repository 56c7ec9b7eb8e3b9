/* keel.c: the `keel` command: a saved model (.keras, or a tf.keras 2 .h5) from the shell, on
 * keel's public API. summary, predict, evaluate, convert; see usage below and each command's
 * --help. Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a usage error. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <keel.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const USAGE =
    "usage: keel <command> [options]\n"
    "Runs a model saved by keel or Keras (.keras, or a tf.keras 2 .h5 file).\n"
    "  keel summary MODEL                   print the model's summary table\n"
    "  keel predict MODEL INPUT [-o OUT]    predictions for INPUT (.npy, .npz, an image file or a\n"
    "                                       folder of images, a .csv of numbers, an IDX file)\n"
    "  keel evaluate MODEL X Y              the compiled loss and metrics on X and Y\n"
    "  keel convert IN OUT.keras            rewrite a model (a tf.keras 2 .h5) as .keras\n"
    "  keel --help, keel COMMAND --help     these texts\n";

static const char *const PREDICT_USAGE =
    "usage: keel predict MODEL INPUT [options]\n"
    "Runs model.predict on INPUT and writes the predictions, float32, one row per sample.\n"
    "INPUT: a .npy file; a .npz archive (its first array, or --key NAME); an image (PNG, JPEG,\n"
    "BMP, PPM) or a folder of images (sorted by name), decoded as keras.utils.load_img does and\n"
    "resized to the model's input; a .csv file of numbers with a header row; an IDX file\n"
    "(MNIST's format). Samples are reshaped to the model's input shape when the sizes agree.\n"
    "  -o, --output FILE       write the predictions as .npy (default: print them, one line\n"
    "                          per sample)\n"
    "  --batch-size N          samples per batch (default 32)\n"
    "  --rescale S             multiply the input by S first (e.g. 0.00392156862745098 for\n"
    "                          1/255; default 1)\n"
    "  --interpolation nearest|bilinear   how images are resized (default nearest)\n"
    "  --key NAME              the array of a .npz to use\n"
    "  --help                  this text\n";

static const char *const EVALUATE_USAGE =
    "usage: keel evaluate MODEL X Y [--batch-size N] [--rescale S]\n"
    "Prints model.evaluate(X, Y): the loss and the metrics the model was compiled with (the\n"
    "file must hold its compile config). X and Y as for predict's INPUT (Y: .npy, .npz, .csv\n"
    "or IDX).\n";

static const char *const CONVERT_USAGE =
    "usage: keel convert IN OUT.keras\n"
    "Loads IN (a .keras or tf.keras 2 .h5 model) and saves it as OUT in the Keras 3 .keras\n"
    "format, with its compile config and optimizer state.\n";

static const char *const SUMMARY_USAGE =
    "usage: keel summary MODEL\nPrints the model's summary table, as model.summary() does.\n";

static int fail(const char *what, const char *msg) {
    fprintf(stderr, "keel: %s%s%s\n", what ? what : "", what ? ": " : "", msg);
    return 1;
}

static int usage_error(const char *msg, const char *usage) {
    fprintf(stderr, "keel: %s\n%s", msg, usage);
    return 2;
}

static bool has_ext(const char *path, const char *ext) {
    size_t a = strlen(path), b = strlen(ext);
    return a >= b && !strcasecmp(path + a - b, ext);
}

static bool is_image_name(const char *p) {
    return has_ext(p, ".png") || has_ext(p, ".jpg") || has_ext(p, ".jpeg") || has_ext(p, ".bmp") ||
           has_ext(p, ".ppm") || has_ext(p, ".pgm");
}

typedef struct in_opts {
    float rescale;
    const char *interpolation;
    const char *key;
} in_opts;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The images of a folder (sorted by name) as one (N, H, W, C) tensor of the model's size. */
static keel_tensor *read_images(const char *path, bool folder, const int64_t *dims, int rank,
                                const in_opts *o) {
    if (rank != 3 || (dims[2] != 1 && dims[2] != 3 && dims[2] != 4)) {
        fprintf(stderr, "keel: %s: the model's input is not an image (H, W, C with C = 1, 3, 4)\n",
                path);
        return NULL;
    }
    const char *mode = dims[2] == 1 ? "grayscale" : dims[2] == 3 ? "rgb" : "rgba";
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (folder) {
        DIR *d = opendir(path);
        if (!d) {
            fprintf(stderr, "keel: %s: %s\n", path, strerror(errno));
            return NULL;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!is_image_name(e->d_name)) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                char **g = realloc(names, cap * sizeof *g);
                if (!g) break;
                names = g;
            }
            size_t len = strlen(path) + strlen(e->d_name) + 2;
            if (!(names[n] = malloc(len))) break;
            snprintf(names[n++], len, "%s/%s", path, e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
        if (n == 0) {
            fprintf(stderr, "keel: %s: no image files (.png, .jpg, .jpeg, .bmp, .ppm, .pgm)\n",
                    path);
            free(names);
            return NULL;
        }
    } else {
        names = malloc(sizeof *names);
        if (names) names[n++] = strdup(path);
    }
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE((int64_t)n, dims[0], dims[1], dims[2]));
    int64_t per = dims[0] * dims[1] * dims[2];
    for (size_t i = 0; x && i < n; i++) {
        keel_tensor *img =
            keel_load_img(names[i], .color_mode = mode, .target_size = {dims[0], dims[1]},
                          .interpolation = o->interpolation);
        if (!img) {
            fprintf(stderr, "keel: %s\n", keel_last_error());
            keel_tensor_free(x);
            x = NULL;
            break;
        }
        memcpy(keel_tensor_data(x) + (int64_t)i * per, keel_tensor_data(img),
               (size_t)per * sizeof(float));
        keel_tensor_free(img);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return x;
}

/* A CSV of numbers with a header row, as (rows, columns). */
static keel_tensor *read_csv(const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "keel: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char head[65536];
    if (!fgets(head, sizeof head, fp)) head[0] = 0;
    fclose(fp);
    head[strcspn(head, "\r\n")] = 0;
    /* the header's names, split on commas (keel_csv_read_columns does the quoting rules) */
    char *names[4096];
    int nc = 0;
    char *hp = head[0] == '\xef' ? head + 3 : head; /* a UTF-8 byte-order mark */
    for (char *tok = hp; tok && nc < 4096;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = 0;
        if (tok[0] == '"') {
            tok++;
            size_t l = strlen(tok);
            if (l && tok[l - 1] == '"') tok[l - 1] = 0;
        }
        names[nc++] = tok;
        tok = comma ? comma + 1 : NULL;
    }
    char **cols[4096];
    int64_t rows = 0;
    if (keel_csv_read_columns(path, nc, (const char *const *)names, cols, &rows)) {
        fprintf(stderr, "keel: %s\n", keel_last_error());
        return NULL;
    }
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(rows, nc));
    for (int64_t r = 0; x && r < rows; r++)
        for (int c = 0; c < nc; c++) {
            char *end;
            const char *cell = cols[c][r];
            double v = strtod(cell, &end);
            while (*end == ' ')
                end++;
            if (end == cell || *end) {
                fprintf(stderr, "keel: %s: row %lld, column %s: \"%s\" is not a number\n", path,
                        (long long)r + 2, names[c], cell);
                keel_tensor_free(x);
                x = NULL;
                break;
            }
            keel_tensor_data(x)[r * nc + c] = (float)v;
        }
    for (int c = 0; c < nc; c++)
        keel_strings_free(cols[c], rows);
    return x;
}

/* INPUT of any kind keel reads, shaped (N, model input...) when the sizes agree. */
static keel_tensor *read_input(const char *path, keel_model *m, int input, const in_opts *o,
                               bool as_x) {
    int64_t dims[8] = {0};
    int rank =
        as_x ? keel_model_input_shape(m, input, dims) : keel_model_output_shape(m, input, dims);
    if (rank < 0) {
        fail(NULL, keel_last_error());
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "keel: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    keel_tensor *t = NULL;
    if (S_ISDIR(st.st_mode)) {
        t = read_images(path, true, dims, rank, o);
    } else if (is_image_name(path)) {
        t = read_images(path, false, dims, rank, o);
    } else if (has_ext(path, ".csv")) {
        t = read_csv(path);
    } else if (has_ext(path, ".npz")) {
        keel_npz *z = keel_load_npz(path);
        if (z && keel_npz_count(z) > 0)
            t = keel_npz_get(z, o->key ? o->key : keel_npz_name(z, 0));
        else if (z)
            fprintf(stderr, "keel: %s: the archive holds no arrays\n", path);
        if (!t && (!z || keel_npz_count(z) > 0)) fail(NULL, keel_last_error());
        keel_npz_free(z);
        if (!t) return NULL;
    } else {
        FILE *fp = fopen(path, "rb");
        unsigned char magic[6] = {0};
        size_t got = fp ? fread(magic, 1, sizeof magic, fp) : 0;
        if (fp) fclose(fp);
        bool npy = got == 6 && magic[0] == 0x93 && !memcmp(magic + 1, "NUMPY", 5);
        t = npy ? keel_load_npy(path) : keel_load_idx(path);
        if (!t) {
            fprintf(stderr, "keel: %s\n", keel_last_error());
            return NULL;
        }
    }
    if (!t) return NULL;
    if (keel_tensor_dtype(t) == KEEL_INT32) { /* token ids and labels: keel takes floats */
        int64_t shape[8];
        for (int i = 0; i < keel_tensor_rank(t) && i < 8; i++)
            shape[i] = keel_tensor_dim(t, i);
        keel_tensor *f = keel_tensor_new(keel_tensor_rank(t), shape);
        for (int64_t i = 0; f && i < keel_tensor_size(t); i++)
            keel_tensor_data(f)[i] = (float)keel_tensor_int32_data(t)[i];
        keel_tensor_free(t);
        if (!(t = f)) return NULL;
    }
    if (o->rescale != 1.0f && as_x)
        for (int64_t i = 0; i < keel_tensor_size(t); i++)
            keel_tensor_data(t)[i] *= o->rescale;
    /* (N, a, b) with a * b equal to the model's per-sample size: reshaped to it */
    int64_t per = 1;
    for (int i = 0; i < rank; i++)
        per *= dims[i];
    int64_t n = keel_tensor_rank(t) ? keel_tensor_dim(t, 0) : 0;
    if (n > 0 && keel_tensor_size(t) == n * per) {
        int64_t shape[9] = {n};
        memcpy(shape + 1, dims, (size_t)rank * sizeof *dims);
        keel_tensor *r = keel_tensor_reshape(t, rank + 1, shape);
        keel_tensor_free(t);
        t = r;
    }
    return t;
}

static keel_model *load(const char *path) {
    keel_model *m = keel_load(path);
    if (!m) fail(NULL, keel_last_error());
    return m;
}

/* Options shared by predict and evaluate; -1 on a usage error, else the count of positional
 * arguments copied to pos. */
static int parse_opts(int argc, char **argv, const char **pos, int max_pos, in_opts *o,
                      long long *batch, const char **out, const char *usage) {
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && out && more) {
            *out = argv[++i];
        } else if (!strcmp(a, "--batch-size") && more) {
            char *end;
            *batch = strtoll(argv[++i], &end, 10);
            if (*end || *batch <= 0) return -1;
        } else if (!strcmp(a, "--rescale") && more) {
            char *end;
            o->rescale = strtof(argv[++i], &end);
            if (*end) return -1;
        } else if (!strcmp(a, "--interpolation") && more) {
            o->interpolation = argv[++i];
        } else if (!strcmp(a, "--key") && more) {
            o->key = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return -1;
        } else if (n < max_pos) {
            pos[n++] = a;
        } else {
            return -1;
        }
    }
    return n;
}

static int cmd_summary(int argc, char **argv) {
    if (argc == 1 && !strcmp(argv[0], "--help")) return fputs(SUMMARY_USAGE, stdout), 0;
    if (argc != 1) return usage_error("summary takes one model file", SUMMARY_USAGE);
    keel_model *m = load(argv[0]);
    if (!m) return 1;
    int rc = keel_summary(m, stdout) ? fail(NULL, keel_last_error()) : 0;
    keel_model_free(m);
    return rc;
}

static int cmd_predict(int argc, char **argv) {
    const char *pos[2], *out = NULL;
    in_opts o = {.rescale = 1.0f, .interpolation = "nearest"};
    long long batch = 32;
    if (parse_opts(argc, argv, pos, 2, &o, &batch, &out, PREDICT_USAGE) != 2)
        return usage_error("predict takes MODEL INPUT [options]", PREDICT_USAGE);
    keel_model *m = load(pos[0]);
    if (!m) return 1;
    int rc = 1;
    keel_tensor *x = NULL, *y = NULL;
    if (keel_model_num_inputs(m) != 1) {
        fail(pos[0], "the model takes several inputs; keel predict feeds one");
        goto done;
    }
    if (!(x = read_input(pos[1], m, 0, &o, true))) goto done;
    if (!(y = keel_predict(m, x, &(keel_predict_opts){.batch_size = batch}))) {
        fail(NULL, keel_last_error());
        goto done;
    }
    if (out) {
        if (keel_save_npy(out, y)) {
            fail(NULL, keel_last_error());
            goto done;
        }
    } else {
        int64_t n = keel_tensor_dim(y, 0), per = n ? keel_tensor_size(y) / n : 0;
        const float *d = keel_tensor_cdata(y);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < per; j++)
                printf("%.9g%c", (double)d[i * per + j], j + 1 < per ? ' ' : '\n');
    }
    rc = 0;
done:
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
    return rc;
}

static int cmd_evaluate(int argc, char **argv) {
    const char *pos[3];
    in_opts o = {.rescale = 1.0f, .interpolation = "nearest"};
    long long batch = 32;
    if (parse_opts(argc, argv, pos, 3, &o, &batch, NULL, EVALUATE_USAGE) != 3)
        return usage_error("evaluate takes MODEL X Y [options]", EVALUATE_USAGE);
    keel_model *m = load(pos[0]);
    if (!m) return 1;
    int rc = 1;
    keel_tensor *x = NULL, *y = NULL;
    if (!keel_model_is_compiled(m)) {
        fail(pos[0], "the model is not compiled (the file holds no compile config keel can use)");
        goto done;
    }
    if (keel_model_num_inputs(m) != 1 || keel_model_num_outputs(m) != 1) {
        fail(pos[0], "keel evaluate feeds models of one input and one output");
        goto done;
    }
    in_opts yo = o;
    yo.rescale = 1.0f;
    if (!(x = read_input(pos[1], m, 0, &o, true)) || !(y = read_input(pos[2], m, 0, &yo, false)))
        goto done;
    double res[17];
    const char *names[17];
    int nn = keel_model_metric_names(m, names, 17);
    if (keel_evaluate(m, x, y, res, 17, .batch_size = batch, .verbose = 0)) {
        fail(NULL, keel_last_error());
        goto done;
    }
    for (int i = 0; i < nn; i++)
        printf("%s%s: %.4f", i ? " - " : "", names[i], res[i]);
    printf("\n");
    rc = 0;
done:
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
    return rc;
}

static int cmd_convert(int argc, char **argv) {
    if (argc == 1 && !strcmp(argv[0], "--help")) return fputs(CONVERT_USAGE, stdout), 0;
    if (argc != 2) return usage_error("convert takes IN OUT.keras", CONVERT_USAGE);
    keel_model *m = load(argv[0]);
    if (!m) return 1;
    int rc = keel_save(m, argv[1]) ? fail(NULL, keel_last_error()) : 0;
    keel_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage_error("no command given", USAGE);
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help"))
        return fputs(USAGE, stdout), 0;
    if (!strcmp(c, "summary")) return cmd_summary(argc - 2, argv + 2);
    if (!strcmp(c, "predict")) return cmd_predict(argc - 2, argv + 2);
    if (!strcmp(c, "evaluate")) return cmd_evaluate(argc - 2, argv + 2);
    if (!strcmp(c, "convert")) return cmd_convert(argc - 2, argv + 2);
    fprintf(stderr, "keel: unknown command \"%s\"\n", c);
    fputs(USAGE, stderr);
    return 2;
}
