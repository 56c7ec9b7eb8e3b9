/* text_dir.c: text_dataset_from_directory, as tf.keras 2.15 indexes a folder: classes are the
 * subfolders in sorted order (names starting with "." skipped); the files below each, walked
 * with their folders sorted by path and the files of a folder by name; the whole list shuffled
 * with NumPy's legacy RandomState(seed).shuffle (Mersenne Twister, bounded draws by masked
 * rejection: the same order as Keras for the same seed); a validation split takes the last
 * int(split * n) files. Files are read as bytes (the tokenizer replaces invalid UTF-8 as
 * Python's errors="replace" does; a NUL byte becomes a space, C strings cannot hold it). */
#include "../core.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

/* ---- NumPy's legacy RandomState: MT19937 seeded by init_genrand, rk_interval */

typedef struct mt19937 {
    uint32_t key[624];
    int pos;
} mt19937;

static void mt_seed(mt19937 *s, uint32_t seed) {
    s->key[0] = seed;
    for (int i = 1; i < 624; i++)
        s->key[i] = 1812433253u * (s->key[i - 1] ^ (s->key[i - 1] >> 30)) + (uint32_t)i;
    s->pos = 624;
}

static uint32_t mt_next(mt19937 *s) {
    if (s->pos == 624) {
        for (int i = 0; i < 624; i++) {
            uint32_t y = (s->key[i] & 0x80000000u) | (s->key[(i + 1) % 624] & 0x7fffffffu);
            s->key[i] = s->key[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        s->pos = 0;
    }
    uint32_t y = s->key[s->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* a uniform integer in [0, max] (max < 2^32 here): the smallest all-ones mask, redrawn until the
 * masked value fits */
static uint32_t mt_interval(mt19937 *s, uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max;
    mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8, mask |= mask >> 16;
    uint32_t v;
    while ((v = mt_next(s) & mask) > max) {
    }
    return v;
}

/* RandomState(seed).shuffle(order[0..n)) */
static void numpy_shuffle(int64_t *order, int64_t n, uint32_t seed) {
    mt19937 s;
    mt_seed(&s, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = mt_interval(&s, (uint32_t)i);
        int64_t t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

/* ---- the walk */

typedef struct file_list {
    char **paths; /* relative to the dataset folder: "pos/a.txt" */
    int32_t *labels;
    int64_t n, cap;
} file_list;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the sorted entries of a folder that are (want_dirs) folders, or files; NULL on error */
static char **list_dir(const char *path, bool want_dirs, int *count) {
    DIR *d = opendir(path);
    *count = 0;
    if (!d) return NULL;
    char **names = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char full[4096];
        struct stat st;
        if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full)
            continue;                                               /* too long */
        if (lstat(full, &st) != 0 || S_ISLNK(st.st_mode)) continue; /* follow_links=False */
        if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(names, (size_t)cap * sizeof *grown);
            if (!grown) break;
            names = grown;
        }
        names[(*count)++] = keel_strdup(e->d_name);
    }
    closedir(d);
    if (names)
        qsort(names, (size_t)*count, sizeof *names, cmp_str);
    else
        names = calloc(1, sizeof *names);
    return names;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++)
        keel_free(names[i]);
    free(names);
}

static bool allowed(const char *name, const char *formats) {
    if (!formats) return true;
    size_t len = strlen(name);
    for (const char *f = formats; *f;) { /* ".txt,.md": any of them, any case, as Keras */
        const char *end = strchr(f, ',');
        size_t fl = end ? (size_t)(end - f) : strlen(f);
        if (fl && fl <= len && !strncasecmp(name + len - fl, f, fl)) return true;
        f += fl + (end ? 1 : 0);
    }
    return false;
}

static bool add_file(file_list *l, const char *path, int32_t label) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        char **p = realloc(l->paths, (size_t)cap * sizeof *p);
        int32_t *lab = p ? realloc(l->labels, (size_t)cap * sizeof *lab) : NULL;
        if (p) l->paths = p;
        if (!lab) return false;
        l->labels = lab, l->cap = cap;
    }
    if (!(l->paths[l->n] = keel_strdup(path))) return false;
    l->labels[l->n++] = label;
    return true;
}

/* Keras walks a class folder with its subfolders sorted by their path and the files of each by
 * name: a folder's files come before those of its subfolders ("a" < "a/b"), and sibling
 * subfolders in name order */
static keel_status walk(file_list *l, const char *root, const char *rel, int32_t label,
                        const char *formats, int depth) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", root, rel) >= (int)sizeof path)
        KEEL_FAIL(KEEL_ERR_IO,
                  "text_dataset_from_directory: a path under %s is longer than 4095 bytes", root);
    if (depth > 64)
        KEEL_FAIL(KEEL_ERR_IO, "text_dataset_from_directory: %s: folders nested more than 64 deep",
                  path);
    int nf, nd;
    char **files = list_dir(path, false, &nf), **dirs = list_dir(path, true, &nd);
    keel_status st =
        files && dirs
            ? KEEL_OK
            : keel_error(KEEL_ERR_IO, "text_dataset_from_directory: cannot read %s", path);
    for (int i = 0; !st && i < nf; i++) {
        char r[4096];
        if (snprintf(r, sizeof r, "%s/%s", rel, files[i]) >= (int)sizeof r) continue;
        if (allowed(files[i], formats) && !add_file(l, r, label)) st = KEEL_ERR_NOMEM;
    }
    for (int i = 0; !st && i < nd; i++) {
        char r[4096];
        if (snprintf(r, sizeof r, "%s/%s", rel, dirs[i]) >= (int)sizeof r) continue;
        st = walk(l, root, r, label, formats, depth + 1);
    }
    free_names(files, nf), free_names(dirs, nd);
    return st;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = keel_alloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            if (cap > ((size_t)1 << 30)) { /* 1 GiB: not a text for a classifier */
                keel_free(buf), buf = NULL;
                break;
            }
            char *grown = keel_alloc(cap * 2);
            if (grown) memcpy(grown, buf, n);
            keel_free(buf);
            buf = grown, cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == 0) buf[i] = ' ';
    return buf;
}

void keel_text_dataset_free(keel_text_dataset *d) {
    if (!d) return;
    for (int64_t i = 0; i < d->n; i++)
        keel_free(d->texts[i]), keel_free(d->paths[i]);
    for (int c = 0; c < d->n_classes; c++)
        keel_free(d->class_names[c]);
    keel_free(d->texts), keel_free(d->paths), keel_free(d->labels), keel_free(d->class_names);
    keel_free(d);
}

keel_text_dataset *keel_text_dataset_from_directory_(const char *dir, keel_text_dataset_opts o) {
    const char *fn = "keel_text_dataset_from_directory";
    if (!dir) {
        keel_error(KEEL_ERR_ARG, "%s: directory is NULL", fn);
        return NULL;
    }
    if (!(o.validation_split >= 0 && o.validation_split < 1)) {
        keel_error(KEEL_ERR_ARG, "%s: validation_split must be in [0, 1), got %g", fn,
                   o.validation_split);
        return NULL;
    }
    bool train = o.subset && !strcmp(o.subset, "training"),
         val = o.subset && !strcmp(o.subset, "validation");
    if ((o.validation_split > 0) != (train || val)) {
        keel_error(KEEL_ERR_ARG,
                   "%s: validation_split and subset (\"training\" or \"validation\") go together",
                   fn);
        return NULL;
    }
    int nc;
    char **classes = list_dir(dir, true, &nc);
    if (!classes) {
        keel_error(KEEL_ERR_IO, "%s: cannot open %s as a folder", fn, dir);
        return NULL;
    }
    int kept = 0;
    for (int c = 0; c < nc; c++) /* Keras skips hidden folders */
        if (classes[c][0] != '.')
            classes[kept++] = classes[c];
        else
            keel_free(classes[c]);
    nc = kept;
    file_list l = {0};
    keel_status st =
        nc < 1 ? keel_error(KEEL_ERR_ARG, "%s: %s has no class subfolders", fn, dir) : KEEL_OK;
    for (int c = 0; !st && c < nc; c++)
        st = walk(&l, dir, classes[c], c, o.formats, 0);
    if (!st && l.n == 0)
        st = keel_error(KEEL_ERR_ARG, "%s: no files in the class folders of %s", fn, dir);
    keel_text_dataset *d = st ? NULL : keel_alloc(sizeof *d);
    int64_t *order = d ? keel_alloc((size_t)l.n * sizeof *order) : NULL;
    if (d && order) {
        for (int64_t i = 0; i < l.n; i++)
            order[i] = i;
        if (o.shuffle) numpy_shuffle(order, l.n, (uint32_t)o.seed);
        /* Keras: int(validation_split * n) files at the end validate */
        char buf[32];
        double split = 0;
        for (int digits = 1; digits <= 9 && o.validation_split > 0; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, (double)o.validation_split);
            if (strtof(buf, NULL) == o.validation_split) break;
        }
        if (o.validation_split > 0) split = strtod(buf, NULL);
        int64_t n_val = (int64_t)(split * (double)l.n), lo = 0, hi = l.n;
        if (train) hi = l.n - n_val;
        if (val) lo = l.n - n_val;
        if ((train || val) && (n_val == 0 || n_val == l.n))
            st = keel_error(
                KEEL_ERR_ARG, "%s: validation_split %g of %lld files leaves an empty %s set", fn,
                (double)o.validation_split, (long long)l.n, n_val == 0 ? "validation" : "training");
        d->n = st ? 0 : hi - lo;
        d->texts = keel_alloc((size_t)(d->n + 1) * sizeof *d->texts);
        d->paths = keel_alloc((size_t)(d->n + 1) * sizeof *d->paths);
        d->labels = keel_alloc((size_t)(d->n + 1) * sizeof *d->labels);
        if (!st && (!d->texts || !d->paths || !d->labels)) st = KEEL_ERR_NOMEM;
        for (int64_t i = 0; !st && i < d->n; i++) {
            int64_t k = order[lo + i];
            char full[8192];
            if (snprintf(full, sizeof full, "%s/%s", dir, l.paths[k]) >= (int)sizeof full)
                full[0] = 0;
            d->paths[i] = keel_strdup(l.paths[k]);
            d->labels[i] = l.labels[k];
            if (!(d->texts[i] = read_text(full))) {
                st = keel_error(KEEL_ERR_IO, "%s: cannot read %s", fn, full);
                d->n = i + 1; /* free what was read */
            }
        }
        d->n_classes = nc, d->class_names = keel_alloc((size_t)nc * sizeof *d->class_names);
        for (int c = 0; d->class_names && c < nc; c++)
            d->class_names[c] = classes[c], classes[c] = NULL;
        if (!d->class_names) st = KEEL_ERR_NOMEM, d->n_classes = 0;
    } else if (!st)
        st = KEEL_ERR_NOMEM;
    if (d && o.verbose && !st) {
        FILE *out = o.out ? o.out : stdout;
        fprintf(out, "Found %lld files belonging to %d classes.\n", (long long)l.n, nc);
        if (train || val)
            fprintf(out, "Using %lld files for %s.\n", (long long)d->n,
                    train ? "training" : "validation");
    }
    for (int64_t i = 0; i < l.n; i++)
        keel_free(l.paths[i]);
    free(l.paths), free(l.labels);
    keel_free(order);
    for (int c = 0; c < nc; c++)
        keel_free(classes[c]);
    free(classes);
    if (st) {
        keel_text_dataset_free(d);
        return NULL;
    }
    return d;
}
