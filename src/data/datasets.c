/* datasets.c: keras.datasets' load_data for MNIST and Fashion-MNIST, from IDX files already on
 * disk, and keras.utils.to_categorical.
 *
 * keel never downloads: the files come from a package (Debian's dataset-fashion-mnist puts
 * Fashion-MNIST in /usr/share/datasets/fashion-mnist), from a Keras download that left IDX
 * files in ~/.keras/datasets/, or from a folder the user names with $KEEL_DATA. MNIST has no
 * Debian package; its four files go in one of those folders. A missing dataset is an error
 * that says where keel looked and what provides the files. Not here: mnist.npz (Keras's MNIST
 * download), CIFAR, IMDB. */
#include "../core.h"

#include <stdio.h>
#include <unistd.h>

typedef struct dataset_info {
    const char *name;     /* keel's and Keras's name */
    const char *dir;      /* the folder name under ~/.keras/datasets and /usr/share/datasets */
    const char *provider; /* what to do when no folder has the files */
} dataset_info;

static const dataset_info datasets[] = {
    {"mnist", "mnist",
     "put the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) in one of them"},
    {"fashion_mnist", "fashion-mnist",
     "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or "
     "put the four IDX files in one of them"},
};
#define N_DATASETS (int)(sizeof datasets / sizeof datasets[0])

/* The four files, in the order of load_data's results; each may also be gzipped. */
static const char *const files[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* Finds file `base` in dir as base.gz or base (or base with its last '-' written '.', as some
 * copies name them: train-images.idx3-ubyte); writes the path. */
static bool find_file(const char *dir, const char *base, char *path, size_t cap) {
    /* alt: the second '-' (after "train-images") made a '.' */
    char alt[64];
    snprintf(alt, sizeof alt, "%s", base);
    char *dash = strchr(alt, '-') ? strchr(strchr(alt, '-') + 1, '-') : NULL;
    if (dash) *dash = '.';
    const char *names[2] = {base, alt};
    /* the gzipped name first: that is how the files are distributed and packaged */
    for (int n = 0; n < 2; n++)
        for (int gz = 1; gz >= 0; gz--) {
            snprintf(path, cap, "%s/%s%s", dir, names[n], gz ? ".gz" : "");
            if (access(path, R_OK) == 0) return true;
        }
    return false;
}

/* Checks a loaded (images, labels) pair: (N, 28, 28) and (N), labels 0..9. */
static keel_status check_pair(const keel_tensor *x, const keel_tensor *y, const char *xpath,
                              const char *ypath) {
    if (x->rank != 3 || x->dims[1] != 28 || x->dims[2] != 28)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: images of shape %s, expected (N, 28, 28)", xpath,
                  keel_dims_str(x->rank, x->dims, false, (char[64]){0}, 64));
    if (y->rank != 1 || y->dims[0] != x->dims[0])
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: labels of shape %s for %lld images in %s", ypath,
                  keel_dims_str(y->rank, y->dims, false, (char[64]){0}, 64), (long long)x->dims[0],
                  xpath);
    /* a labels file from another dataset (or an images file in its place) shows here */
    for (int64_t i = 0; i < y->size; i++)
        if (!(y->data[i] >= 0 && y->data[i] <= 9))
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: label %lld is %g, not a class 0..9", ypath,
                      (long long)i, (double)y->data[i]);
    return KEEL_OK;
}

/* The folders to look in, in order; returns how many. */
static int candidate_dirs(const dataset_info *d, char dirs[4][512]) {
    int n = 0;
    const char *env = getenv("KEEL_DATA"), *home = getenv("HOME");
    if (env && *env) snprintf(dirs[n++], 512, "%s/%s", env, d->name);
    if (env && *env && strcmp(d->name, d->dir)) snprintf(dirs[n++], 512, "%s/%s", env, d->dir);
    if (home && *home) snprintf(dirs[n++], 512, "%s/.keras/datasets/%s", home, d->dir);
    snprintf(dirs[n++], 512, "/usr/share/datasets/%s", d->dir);
    return n;
}

static keel_status load_from(const char *dir, keel_tensor *out[4]) {
    /* all four found before any is read, so a missing one costs no decoding */
    char path[4][600];
    for (int i = 0; i < 4; i++)
        if (!find_file(dir, files[i], path[i], sizeof path[i]))
            KEEL_FAIL(KEEL_ERR_IO, "%s: has %s but not %s(.gz), the dataset is incomplete", dir,
                      files[0], files[i]);
    for (int i = 0; i < 4; i++)
        if (!(out[i] = keel_load_idx(path[i]))) return KEEL_ERR_FORMAT;
    keel_status st = check_pair(out[0], out[1], path[0], path[1]);
    return st ? st : check_pair(out[2], out[3], path[2], path[3]);
}

keel_status keel_dataset_load(const char *name, keel_tensor **x_train, keel_tensor **y_train,
                              keel_tensor **x_test, keel_tensor **y_test) {
    /* the outputs are NULL on every failure, so a caller may free them unconditionally */
    keel_tensor **outs[4] = {x_train, y_train, x_test, y_test};
    for (int i = 0; i < 4; i++) {
        if (!outs[i]) KEEL_FAIL(KEEL_ERR_ARG, "keel_dataset_load: an output pointer is NULL");
        *outs[i] = NULL;
    }
    if (!name) KEEL_FAIL(KEEL_ERR_ARG, "keel_dataset_load: name is NULL");
    const dataset_info *d = NULL;
    const char *names[N_DATASETS + 1] = {0};
    for (int i = 0; i < N_DATASETS; i++) {
        names[i] = datasets[i].name;
        if (!strcmp(name, datasets[i].name)) d = &datasets[i];
    }
    if (!d) {
        const char *near = keel_nearest_name(name, names);
        KEEL_FAIL(KEEL_ERR_ARG,
                  "keel_dataset_load: unknown dataset \"%s\"%s%s%s (keel has \"mnist\" and "
                  "\"fashion_mnist\")",
                  name, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    char dirs[4][512], probe[600];
    int n = candidate_dirs(d, dirs);
    for (int i = 0; i < n; i++) {
        /* the first folder with the training images is the one: a half-filled folder is an
         * error there, not a reason to look on */
        if (!find_file(dirs[i], files[0], probe, sizeof probe)) continue;
        /* all four or none: the caller never holds half a dataset */
        keel_tensor *t[4] = {0};
        keel_status st = load_from(dirs[i], t);
        for (int k = 0; k < 4; k++) {
            if (st)
                keel_tensor_free(t[k]);
            else
                *outs[k] = t[k];
        }
        return st;
    }
    /* the message lists every folder looked in, in order, and what provides the files */
    char where[2100] = "";
    for (int i = 0, len = 0; i < n; i++)
        len += snprintf(where + len, sizeof where - (size_t)len, "%s%s", i ? ", " : "", dirs[i]);
    KEEL_FAIL(KEEL_ERR_IO, "keel_dataset_load: %s not found (looked for %s(.gz) in %s); %s%s%s%s",
              d->name, files[0], where, d->provider,
              getenv("KEEL_DATA") ? "" : ", or set KEEL_DATA to a folder holding ",
              getenv("KEEL_DATA") ? "" : d->name, getenv("KEEL_DATA") ? "" : "/");
}

/* This machine's memory in bytes (0 if unknown). A tensor larger than that is refused with a
 * message naming the sizes: with overcommit an allocation that large may "succeed" and the
 * zeroing then ends the process, and sanitizers abort on it. */
static double memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0;
}

keel_tensor *keel_to_categorical(const keel_tensor *y, int num_classes) {
    if (!y) {
        keel_error(KEEL_ERR_ARG, "keel_to_categorical: y is NULL");
        return NULL;
    }
    if (num_classes < 0) {
        keel_error(KEEL_ERR_ARG,
                   "keel_to_categorical: num_classes must be >= 0 (0: max + 1), got %d",
                   num_classes);
        return NULL;
    }
    /* every label a whole number in range, checked before anything is allocated */
    double top = -1;
    for (int64_t i = 0; i < y->size; i++) {
        float v = (float)keel_tensor_at(y, i);
        /* NaN fails every comparison and lands here too; 2^31 bounds the class count */
        if (!(v >= 0 && v == floorf(v) && v < 2147483648.0f)) {
            keel_error(KEEL_ERR_ARG,
                       "keel_to_categorical: y[%lld] = %g is not a class index (a whole number "
                       ">= 0)",
                       (long long)i, (double)v);
            return NULL;
        }
        if (num_classes && v >= num_classes) {
            keel_error(KEEL_ERR_ARG,
                       "keel_to_categorical: y[%lld] = %g is out of range for num_classes %d "
                       "(0..%d)",
                       (long long)i, (double)v, num_classes, num_classes - 1);
            return NULL;
        }
        top = KEEL_MAX(top, (double)v);
    }
    int64_t k = num_classes ? num_classes : (int64_t)top + 1;
    /* Keras: an input whose last axis is 1 loses it, then the class axis is appended */
    int rank = y->rank;
    if (rank > 1 && y->dims[rank - 1] == 1) rank--;
    if (rank + 1 > KEEL_MAX_RANK) {
        keel_error(KEEL_ERR_SHAPE, "keel_to_categorical: y of rank %d gives rank %d, over %d",
                   y->rank, rank + 1, KEEL_MAX_RANK);
        return NULL;
    }
    int64_t dims[KEEL_MAX_RANK];
    memcpy(dims, y->dims, (size_t)rank * sizeof *dims);
    dims[rank] = k;
    double bytes = (double)y->size * (double)k * sizeof(float), mem = memory_bytes();
    if ((k > 0 && y->size > (INT64_MAX / 4) / k) || (mem > 0 && bytes > mem)) {
        keel_error(KEEL_ERR_ARG,
                   "keel_to_categorical: %lld labels x %lld classes is too large: %.1f GB of "
                   "floats, this machine has %.1f GB",
                   (long long)y->size, (long long)k, bytes / 1e9, mem / 1e9);
        return NULL;
    }
    keel_tensor *t = keel_tensor_new(rank + 1, dims);
    if (!t) return NULL;
    /* row i of the result is the one-hot of label i, whatever the shape around it */
    for (int64_t i = 0; i < y->size; i++)
        t->data[i * k + (int64_t)keel_tensor_at(y, i)] = 1.0f;
    return t;
}
