/* flow.c: ImageDataGenerator().flow_from_directory(): a folder of class subfolders read as
 * batches, with Keras's file order, validation split, class modes and augmentation.
 *
 * Batches are made ahead of the training step by worker threads (plain pthreads, apart from
 * the OpenMP pool the kernels use) into a ring of batch slots. Which image goes where, and
 * every random augmentation parameter, comes from (seed, epoch, position), so the batches are
 * the same whatever the number of workers or the order in which they finish. Decoded, resized
 * images are cached as bytes when they fit, so later epochs only augment. */
#include "flow.h"

#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

#include "image.h"

#define CACHE_LIMIT ((int64_t)1 << 30)

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY, SLOT_ERROR };

typedef struct slot {
    int state;
    int64_t g; /* global batch number: epoch * steps + step */
    int64_t n;
    float *x, *y;
    keel_status st;
    char msg[KEEL_ERR_CAP];
} slot;

struct keel_flow {
    char *dir;
    keel_image_gen gen;
    keel_flow_opts o;
    int channels, mode; /* mode: 0 categorical, 1 binary, 2 sparse, 3 none */
    int64_t H, W, n, steps, ysize;
    char **files; /* relative paths */
    int *cls;
    int n_classes;
    char **class_names;
    uint8_t **cache;
    bool fill_const, fill_reflect, fill_wrap, augment;
    /* prefetch */
    pthread_t *threads;
    int n_threads, n_slots;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t next_g, consumed_g;
    bool stop, started, mu_init;
    int64_t *perm[2];
    int64_t perm_epoch[2];
    /* keel_flow_next */
    int64_t cursor;
    keel_tensor *bx, *by;
};

/* ---------------------------------------------------------------- listing */

typedef struct entry {
    char *dir, *name;
} entry;

typedef struct list {
    entry *e;
    int64_t n, cap;
} list;

static bool image_ext(const char *name) {
    static const char *const exts[] = {"png", "jpg", "jpeg", "bmp", "ppm", NULL};
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    for (int i = 0; exts[i]; i++) {
        const char *a = dot + 1, *b = exts[i];
        while (*a && *b && tolower((unsigned char)*a) == *b)
            a++, b++;
        if (!*a && !*b) return true;
    }
    return false;
}

static bool push(list *l, const char *dir, const char *name) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        entry *e = realloc(l->e, (size_t)cap * sizeof *e);
        if (!e) return false;
        l->e = e, l->cap = cap;
    }
    l->e[l->n].dir = keel_strdup(dir);
    l->e[l->n].name = keel_strdup(name);
    if (!l->e[l->n].dir || !l->e[l->n].name) {
        keel_free(l->e[l->n].dir), keel_free(l->e[l->n].name);
        return false;
    }
    l->n++;
    return true;
}

/* Files under root/rel, recursively, not following symlinked folders (os.walk's default). */
static bool walk(const char *root, const char *rel, list *l, int depth) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", root, rel) >= (int)sizeof path)
        return true; /* too deep: skipped */
    DIR *d = opendir(path);
    if (!d) return true; /* unreadable subfolders are skipped, as os.walk does */
    struct dirent *de;
    bool ok = true;
    while (ok && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        char full[4096], sub[4096];
        if (snprintf(full, sizeof full, "%s/%s", path, de->d_name) >= (int)sizeof full ||
            snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name) >= (int)sizeof sub)
            continue;
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 32) ok = walk(root, sub, l, depth + 1);
        } else if (image_ext(de->d_name)) {
            ok = push(l, rel, de->d_name);
        }
    }
    closedir(d);
    return ok;
}

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->name, y->name);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_free(list *l) {
    for (int64_t i = 0; i < l->n; i++)
        keel_free(l->e[i].dir), keel_free(l->e[i].name);
    free(l->e);
}

/* ---------------------------------------------------------------- one sample */

/* the index of the sample at `pos` in `epoch` (caller holds f->mu) */
static int64_t sample_at(keel_flow *f, int64_t epoch, int64_t pos) {
    if (!f->o.shuffle) return pos;
    int k = (int)(epoch & 1);
    if (f->perm_epoch[k] != epoch) {
        int64_t *p = f->perm[k];
        keel_rng r = {.seed = f->o.seed, .stream = 0x464c4f57ull + (uint64_t)epoch};
        for (int64_t i = 0; i < f->n; i++)
            p[i] = i;
        for (int64_t i = f->n - 1; i > 0; i--) {
            int64_t j = (int64_t)(keel_rng_uniform(&r) * (double)(i + 1)), t = p[i];
            p[i] = p[j], p[j] = t;
        }
        f->perm_epoch[k] = epoch;
    }
    return f->perm[k][pos];
}

/* decoded and resized bytes of sample i (cached, or loaded into *own) */
static keel_status image_bytes(keel_flow *f, int64_t i, const uint8_t **px, keel_image *own) {
    if (f->cache) {
        pthread_mutex_lock(&f->mu);
        *px = f->cache[i];
        pthread_mutex_unlock(&f->mu);
        if (*px) return KEEL_OK;
    }
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", f->dir, f->files[i]) >= (int)sizeof path)
        KEEL_FAIL(KEEL_ERR_IO, "%s/%s: path too long", f->dir, f->files[i]);
    keel_image img;
    keel_status st = keel_image_load(path, f->channels, &img);
    if (st) return st;
    if (img.h != f->H || img.w != f->W) {
        keel_image r;
        st = keel_image_resize(&img, (int)f->H, (int)f->W, f->o.interpolation, &r);
        keel_image_free(&img);
        if (st) return st;
        img = r;
    }
    *own = img;
    *px = img.px;
    if (f->cache) {
        pthread_mutex_lock(&f->mu);
        if (!f->cache[i]) { /* the cache takes the bytes */
            f->cache[i] = img.px;
            own->px = NULL;
        }
        *px = f->cache[i];
        pthread_mutex_unlock(&f->mu);
    }
    return KEEL_OK;
}

/* index of an out-of-range coordinate under the fill mode; -1 means "use cval" */
static int64_t fold(const keel_flow *f, int64_t i, int64_t n) {
    if (i >= 0 && i < n) return i;
    if (f->fill_const) return -1;
    if (f->fill_wrap) return ((i % n) + n) % n;
    if (f->fill_reflect) { /* half-sample symmetric: d c b a | a b c d | d c b a */
        int64_t p = 2 * n;
        i = ((i % p) + p) % p;
        return i < n ? i : p - 1 - i;
    }
    return i < 0 ? 0 : n - 1; /* nearest */
}

/* Keras's random_transform + apply_affine_transform (scipy order 1) + flips + rescale */
static void transform(keel_flow *f, const uint8_t *px, float *out, uint64_t seed) {
    const keel_image_gen *g = &f->gen;
    const int64_t H = f->H, W = f->W, C = f->channels;
    const float scale = g->rescale != 0 ? g->rescale : 1.0f;
    if (!f->augment) {
        for (int64_t i = 0; i < H * W * C; i++)
            out[i] = (float)px[i] * scale;
        return;
    }
    keel_rng r = {.seed = seed, .stream = 0x4155474dull};
#define U(lo, hi) ((lo) + ((hi) - (lo)) * keel_rng_uniform(&r))
    double theta = g->rotation_range ? U(-g->rotation_range, g->rotation_range) * M_PI / 180 : 0;
    double tx = 0, ty = 0;
    if (g->height_shift_range) {
        tx = U(-g->height_shift_range, g->height_shift_range);
        if (g->height_shift_range < 1) tx *= (double)H;
    }
    if (g->width_shift_range) {
        ty = U(-g->width_shift_range, g->width_shift_range);
        if (g->width_shift_range < 1) ty *= (double)W;
    }
    double shear = g->shear_range ? U(-g->shear_range, g->shear_range) * M_PI / 180 : 0;
    double zx = 1, zy = 1;
    if (g->zoom_range)
        zx = U(1 - g->zoom_range, 1 + g->zoom_range), zy = U(1 - g->zoom_range, 1 + g->zoom_range);
    bool flip_h = g->horizontal_flip && keel_rng_uniform(&r) < 0.5;
    bool flip_v = g->vertical_flip && keel_rng_uniform(&r) < 0.5;
#undef U
    /* M = rotation @ shift @ shear @ zoom, then centred: offset @ M @ reset */
    double m00 = cos(theta), m01 = -sin(theta), m10 = sin(theta), m11 = cos(theta);
    double t0 = m00 * tx + m01 * ty, t1 = m10 * tx + m11 * ty;
    double s00 = m00, s01 = m00 * -sin(shear) + m01 * cos(shear);
    double s10 = m10, s11 = m10 * -sin(shear) + m11 * cos(shear);
    double a00 = s00 * zx, a01 = s01 * zy, a10 = s10 * zx, a11 = s11 * zy;
    double ox = (double)H / 2 + 0.5, oy = (double)W / 2 + 0.5;
    double b0 = t0 + ox - (a00 * ox + a01 * oy), b1 = t1 + oy - (a10 * ox + a11 * oy);
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++) {
            double rr = a00 * (double)i + a01 * (double)j + b0,
                   cc = a10 * (double)i + a11 * (double)j + b1;
            int64_t r0 = (int64_t)floor(rr), c0 = (int64_t)floor(cc);
            double fr = rr - (double)r0, fc = cc - (double)c0;
            int64_t ri[2] = {fold(f, r0, H), fold(f, r0 + 1, H)},
                    ci[2] = {fold(f, c0, W), fold(f, c0 + 1, W)};
            double w4[4] = {(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc};
            int64_t oi = flip_v ? H - 1 - i : i, oj = flip_h ? W - 1 - j : j;
            float *o = out + (oi * W + oj) * C;
            for (int64_t ch = 0; ch < C; ch++) {
                double v = 0;
                for (int k = 0; k < 4; k++) {
                    int64_t a = ri[k >> 1], b = ci[k & 1];
                    v += w4[k] *
                         (a < 0 || b < 0 ? (double)g->cval : (double)px[(a * W + b) * C + ch]);
                }
                o[ch] = (float)v * scale;
            }
        }
}

/* makes global batch gnum into slot s (no lock held) */
static void produce(keel_flow *f, slot *s, int64_t gnum) {
    int64_t epoch = gnum / f->steps, step = gnum % f->steps;
    int64_t start = step * f->o.batch_size, n = KEEL_MIN(f->o.batch_size, f->n - start);
    const int64_t xs = f->H * f->W * f->channels;
    s->n = n;
    s->st = KEEL_OK;
    for (int64_t k = 0; k < n; k++) {
        pthread_mutex_lock(&f->mu);
        int64_t i = sample_at(f, epoch, start + k);
        pthread_mutex_unlock(&f->mu);
        const uint8_t *px;
        keel_image own = {0};
        keel_status st = image_bytes(f, i, &px, &own);
        if (st) {
            s->st = st;
            snprintf(s->msg, sizeof s->msg, "%s", keel_last_error());
            return;
        }
        transform(f, px, s->x + k * xs,
                  keel_mix64(f->o.seed ^ keel_mix64((uint64_t)epoch)) + (uint64_t)i);
        keel_image_free(&own);
        if (f->mode == 0) {
            memset(s->y + k * f->ysize, 0, (size_t)f->ysize * sizeof(float));
            s->y[k * f->ysize + f->cls[i]] = 1.0f;
        } else if (f->mode != 3) {
            s->y[k] = (float)f->cls[i];
        }
    }
}

static void *worker(void *arg) {
    keel_flow *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && f->next_g >= f->consumed_g + f->n_slots)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->stop) break;
        int64_t gnum = f->next_g++;
        slot *s = &f->slots[gnum % f->n_slots];
        s->state = SLOT_FILLING;
        s->g = gnum;
        pthread_mutex_unlock(&f->mu);
        produce(f, s, gnum);
        pthread_mutex_lock(&f->mu);
        s->state = s->st ? SLOT_ERROR : SLOT_READY;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void stop_workers(keel_flow *f) {
    if (!f->started) return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    for (int t = 0; t < f->n_threads; t++)
        pthread_join(f->threads[t], NULL);
    f->started = false;
    f->stop = false;
    for (int s = 0; s < f->n_slots; s++)
        f->slots[s].state = SLOT_EMPTY;
}

static keel_status start_workers(keel_flow *f, int64_t from) {
    f->next_g = f->consumed_g = from;
    for (int t = 0; t < f->n_threads; t++)
        if (pthread_create(&f->threads[t], NULL, worker, f) != 0) {
            f->n_threads = t;
            stop_workers(f);
            KEEL_FAIL(KEEL_ERR_NOMEM, "flow_from_directory: cannot start worker threads");
        }
    f->started = true;
    return KEEL_OK;
}

int64_t keel_flow_batch(keel_flow *f, int64_t epoch, int64_t step, float *x, float *y) {
    int64_t gnum = epoch * f->steps + step;
    if (!f->started || gnum != f->consumed_g) { /* not the next batch in sequence: restart */
        stop_workers(f);
        keel_status st = start_workers(f, gnum);
        if (st) return st;
    }
    slot *s = &f->slots[gnum % f->n_slots];
    pthread_mutex_lock(&f->mu);
    while (!(s->g == gnum && (s->state == SLOT_READY || s->state == SLOT_ERROR)))
        pthread_cond_wait(&f->cv, &f->mu);
    int64_t n = s->n;
    keel_status st = s->st;
    if (st == KEEL_OK) {
        memcpy(x, s->x, (size_t)(n * f->H * f->W * f->channels) * sizeof(float));
        if (y && f->ysize) memcpy(y, s->y, (size_t)(n * f->ysize) * sizeof(float));
    } else {
        keel_error(st, "%s", s->msg);
    }
    s->state = SLOT_EMPTY;
    f->consumed_g = gnum + 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (st) { /* the failed batch is not retried in the background */
        stop_workers(f);
        return st;
    }
    return n;
}

/* ---------------------------------------------------------------- construction */

void keel_flow_free(keel_flow *f) {
    if (!f) return;
    stop_workers(f);
    if (f->mu_init) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
    }
    for (int64_t i = 0; f->files && i < f->n; i++)
        keel_free(f->files[i]);
    for (int64_t i = 0; f->cache && i < f->n; i++)
        keel_free(f->cache[i]);
    for (int c = 0; f->class_names && c < f->n_classes; c++)
        keel_free(f->class_names[c]);
    for (int s = 0; f->slots && s < f->n_slots; s++)
        keel_free(f->slots[s].x), keel_free(f->slots[s].y);
    keel_free(f->files), keel_free(f->cls), keel_free(f->cache), keel_free(f->class_names),
        keel_free(f->slots);
    keel_free(f->threads), keel_free(f->perm[0]), keel_free(f->perm[1]), keel_free(f->dir);
    keel_tensor_free(f->bx), keel_tensor_free(f->by);
    keel_free(f);
}

static keel_status check_opts(keel_flow *f, const char *dir) {
    const keel_flow_opts *o = &f->o;
    const keel_image_gen *g = &f->gen;
    const char *cm = o->color_mode ? o->color_mode : "rgb";
    if (!strcmp(cm, "rgb"))
        f->channels = 3;
    else if (!strcmp(cm, "grayscale"))
        f->channels = 1;
    else if (!strcmp(cm, "rgba"))
        f->channels = 4;
    else
        KEEL_FAIL(KEEL_ERR_ARG,
                  "flow_from_directory: color_mode must be \"rgb\", \"grayscale\" or \"rgba\", got "
                  "\"%s\"",
                  cm);
    const char *mode = o->class_mode ? o->class_mode : "categorical";
    static const char *const modes[] = {"categorical", "binary", "sparse", "none"};
    f->mode = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(mode, modes[i])) f->mode = i;
    if (f->mode < 0)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "flow_from_directory: class_mode must be categorical, binary, sparse or none, "
                  "got \"%s\"",
                  mode);
    if (o->target_size[0] <= 0 || o->target_size[1] <= 0 || o->target_size[0] > 16384 ||
        o->target_size[1] > 16384)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "flow_from_directory: target_size must be positive (and at most 16384), got "
                  "(%lld, %lld)",
                  (long long)o->target_size[0], (long long)o->target_size[1]);
    if (o->batch_size <= 0)
        KEEL_FAIL(KEEL_ERR_ARG, "flow_from_directory: batch_size must be positive");
    const char *interp = o->interpolation ? o->interpolation : "nearest";
    if (strcmp(interp, "nearest") && strcmp(interp, "bilinear"))
        KEEL_FAIL(
            KEEL_ERR_ARG,
            "flow_from_directory: interpolation must be \"nearest\" or \"bilinear\", got \"%s\"",
            interp);
    const char *fm = g->fill_mode ? g->fill_mode : "nearest";
    f->fill_const = !strcmp(fm, "constant"), f->fill_reflect = !strcmp(fm, "reflect"),
    f->fill_wrap = !strcmp(fm, "wrap");
    if (!f->fill_const && !f->fill_reflect && !f->fill_wrap && strcmp(fm, "nearest"))
        KEEL_FAIL(
            KEEL_ERR_ARG,
            "ImageDataGenerator: fill_mode must be nearest, constant, reflect or wrap, got \"%s\"",
            fm);
    if (g->rotation_range < 0 || g->width_shift_range < 0 || g->height_shift_range < 0 ||
        g->shear_range < 0 || g->zoom_range < 0 || g->zoom_range >= 1)
        KEEL_FAIL(KEEL_ERR_ARG, "ImageDataGenerator: ranges must be >= 0 (zoom_range below 1)");
    if (!(g->validation_split >= 0 && g->validation_split < 1))
        KEEL_FAIL(KEEL_ERR_ARG, "ImageDataGenerator: validation_split must be in [0, 1), got %g",
                  g->validation_split);
    if (o->subset && strcmp(o->subset, "training") && strcmp(o->subset, "validation"))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "flow_from_directory: subset must be \"training\" or \"validation\", got \"%s\"",
                  o->subset);
    if (o->subset && g->validation_split == 0)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "flow_from_directory: subset \"%s\" needs the generator's validation_split",
                  o->subset);
    f->augment = g->rotation_range || g->width_shift_range || g->height_shift_range ||
                 g->shear_range || g->zoom_range || g->horizontal_flip || g->vertical_flip;
    (void)dir;
    return KEEL_OK;
}

keel_flow *keel_flow_from_directory_(const char *dir, const keel_image_gen *gen, keel_flow_opts o) {
    keel_runtime_init();
    keel_image_gen dflt = keel_image_data_generator();
    if (!dir) {
        keel_error(KEEL_ERR_ARG, "flow_from_directory: directory is NULL");
        return NULL;
    }
    keel_flow *f = keel_alloc(sizeof *f);
    if (!f) return NULL;
    f->gen = gen ? *gen : dflt;
    f->o = o;
    f->perm_epoch[0] = f->perm_epoch[1] = -1;
    list classes = {0}, files = {0};
    if (check_opts(f, dir) || !(f->dir = keel_strdup(dir))) goto fail;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        keel_error(KEEL_ERR_IO, "flow_from_directory: %s is not a folder", dir);
        goto fail;
    }
    /* classes: the subfolders, sorted */
    DIR *d = opendir(dir);
    if (!d) {
        keel_error(KEEL_ERR_IO, "flow_from_directory: cannot read %s", dir);
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        char full[4096];
        if (snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= (int)sizeof full) continue;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode) && !push(&classes, "", de->d_name)) {
            closedir(d);
            keel_error(KEEL_ERR_NOMEM, "flow_from_directory: out of memory");
            goto fail;
        }
    }
    closedir(d);
    if (classes.n == 0) {
        keel_error(KEEL_ERR_ARG,
                   "flow_from_directory: %s has no class subfolders (expected %s/<class>/<images>)",
                   dir, dir);
        goto fail;
    }
    f->n_classes = (int)classes.n;
    f->class_names = keel_alloc((size_t)classes.n * sizeof(char *));
    if (!f->class_names) goto fail;
    for (int64_t c = 0; c < classes.n; c++)
        f->class_names[c] = classes.e[c].name, classes.e[c].name = NULL;
    qsort(f->class_names, (size_t)f->n_classes, sizeof(char *), cmp_str);
    if ((f->mode == 0 || f->mode == 1) && f->n_classes < 2) {
        keel_error(KEEL_ERR_ARG,
                   "flow_from_directory: %s has only one class folder (\"%s\"); class_mode \"%s\" "
                   "needs two or more",
                   dir, f->class_names[0], f->mode ? "binary" : "categorical");
        goto fail;
    }
    if (f->mode == 1 && f->n_classes != 2) {
        keel_error(
            KEEL_ERR_ARG,
            "flow_from_directory: class_mode \"binary\" needs exactly 2 class folders, %s has %d",
            dir, f->n_classes);
        goto fail;
    }
    /* files per class, Keras's order and split */
    int64_t total = 0;
    int64_t *count = keel_alloc((size_t)f->n_classes * sizeof *count);
    list *per = keel_alloc((size_t)f->n_classes * sizeof *per);
    if (!count || !per) {
        keel_free(count), keel_free(per);
        goto fail;
    }
    bool ok = true;
    for (int c = 0; ok && c < f->n_classes; c++) {
        ok = walk(dir, f->class_names[c], &per[c], 0);
        if (per[c].n) qsort(per[c].e, (size_t)per[c].n, sizeof(entry), cmp_entry);
        double lo = 0, hi = 1, vs = f->gen.validation_split;
        if (o.subset && !strcmp(o.subset, "validation"))
            hi = vs;
        else if (o.subset)
            lo = vs;
        int64_t a = (int64_t)(lo * (double)per[c].n), b = (int64_t)(hi * (double)per[c].n);
        for (int64_t i = a; ok && i < b; i++) {
            ok = push(&files, per[c].e[i].dir, per[c].e[i].name);
            count[c] += ok;
        }
        total += count[c];
    }
    f->n = total;
    f->files = keel_alloc((size_t)(total ? total : 1) * sizeof(char *));
    f->cls = keel_alloc((size_t)(total ? total : 1) * sizeof(int));
    for (int64_t i = 0, c = 0, k = 0; ok && f->files && f->cls && i < total; i++) {
        while (k == count[c])
            c++, k = 0;
        size_t len = strlen(files.e[i].dir) + strlen(files.e[i].name) + 2;
        f->files[i] = keel_alloc(len);
        if (!f->files[i])
            ok = false;
        else
            snprintf(f->files[i], len, "%s/%s", files.e[i].dir, files.e[i].name);
        f->cls[i] = (int)c;
        k++;
    }
    for (int c = 0; c < f->n_classes; c++)
        list_free(&per[c]);
    keel_free(per);
    keel_free(count);
    if (!ok || !f->files || !f->cls) {
        keel_error(KEEL_ERR_NOMEM, "flow_from_directory: out of memory listing %s", dir);
        goto fail;
    }
    if (o.verbose)
        fprintf(o.out ? o.out : stdout, "Found %lld images belonging to %d classes.\n",
                (long long)total, f->n_classes);
    if (total == 0) {
        keel_error(KEEL_ERR_ARG,
                   "flow_from_directory: no images (png, jpg, jpeg, bmp, ppm) under %s%s", dir,
                   o.subset ? " in this subset" : "");
        goto fail;
    }
    f->H = o.target_size[0], f->W = o.target_size[1];
    f->steps = (total + o.batch_size - 1) / o.batch_size;
    f->ysize = f->mode == 0 ? f->n_classes : (f->mode == 3 ? 0 : 1);
    if (o.cache && total * f->H * f->W * f->channels <= CACHE_LIMIT)
        if (!(f->cache = keel_alloc((size_t)total * sizeof(uint8_t *)))) goto fail;
    /* one worker per four cores by default: decoding and augmenting a batch is small next to
     * a training step, and every worker takes a core from the kernels (see keel_fit_flow) */
    f->n_threads = o.workers > 0 ? o.workers : KEEL_MAX(1, keel_threads() / 4);
    f->n_slots = f->n_threads + 2;
    f->threads = keel_alloc((size_t)f->n_threads * sizeof(pthread_t));
    f->slots = keel_alloc((size_t)f->n_slots * sizeof(slot));
    f->perm[0] = keel_alloc((size_t)total * sizeof(int64_t));
    f->perm[1] = keel_alloc((size_t)total * sizeof(int64_t));
    if (!f->threads || !f->slots || !f->perm[0] || !f->perm[1]) goto fail;
    for (int s = 0; s < f->n_slots; s++) {
        f->slots[s].g = -1;
        f->slots[s].x =
            keel_alloc((size_t)(o.batch_size * f->H * f->W * f->channels) * sizeof(float));
        f->slots[s].y =
            keel_alloc((size_t)(o.batch_size * (f->ysize ? f->ysize : 1)) * sizeof(float));
        if (!f->slots[s].x || !f->slots[s].y) goto fail;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->mu_init = true;
    list_free(&classes);
    list_free(&files);
    return f;
fail:
    list_free(&classes);
    list_free(&files);
    keel_flow_free(f);
    return NULL;
}

/* ---------------------------------------------------------------- accessors */

int64_t keel_flow_samples(const keel_flow *f) {
    return f ? f->n : 0;
}
int64_t keel_flow_steps(const keel_flow *f) {
    return f ? f->steps : 0;
}
int keel_flow_num_classes(const keel_flow *f) {
    return f ? f->n_classes : 0;
}
int64_t keel_flow_batch_size(const keel_flow *f) {
    return f->o.batch_size;
}

const char *keel_flow_class_name(const keel_flow *f, int i) {
    return f && i >= 0 && i < f->n_classes ? f->class_names[i] : NULL;
}
const char *keel_flow_filename(const keel_flow *f, int64_t i) {
    return f && i >= 0 && i < f->n ? f->files[i] : NULL;
}
int keel_flow_class_of(const keel_flow *f, int64_t i) {
    return f && i >= 0 && i < f->n ? f->cls[i] : -1;
}

void keel_flow_dims(const keel_flow *f, int64_t dims[3], int64_t *y_size) {
    dims[0] = f->H, dims[1] = f->W, dims[2] = f->channels;
    *y_size = f->ysize;
}

void keel_flow_reset(keel_flow *f) {
    if (f) f->cursor = 0;
}

keel_status keel_flow_next(keel_flow *f, const keel_tensor **x, const keel_tensor **y) {
    if (!f) KEEL_FAIL(KEEL_ERR_ARG, "keel_flow_next: flow is NULL");
    if (!f->bx) {
        f->bx = keel_tensor_new(KEEL_SHAPE(f->o.batch_size, f->H, f->W, f->channels));
        if (!f->bx) return KEEL_ERR_NOMEM;
        if (f->ysize) {
            f->by = f->mode == 0 ? keel_tensor_new(KEEL_SHAPE(f->o.batch_size, f->ysize))
                                 : keel_tensor_new(KEEL_SHAPE(f->o.batch_size, 1));
            if (!f->by) return KEEL_ERR_NOMEM;
        }
    }
    int64_t n = keel_flow_batch(f, f->cursor / f->steps, f->cursor % f->steps, f->bx->data,
                                f->by ? f->by->data : NULL);
    if (n < 0) return (keel_status)n;
    f->cursor++;
    /* the last batch of an epoch may be short: the tensors say so */
    f->bx->dims[0] = n, f->bx->size = n * f->H * f->W * f->channels;
    if (f->by) f->by->dims[0] = n, f->by->size = n * f->by->dims[1];
    if (x) *x = f->bx;
    if (y) *y = f->by;
    return KEEL_OK;
}
