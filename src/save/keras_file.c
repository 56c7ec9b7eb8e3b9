/* keras_file.c: keel_save / keel_load / keel_save_weights / keel_load_weights.
 *
 * A .keras file is a zip of three stored members (Keras 3's saving_lib): metadata.json,
 * config.json and model.weights.h5. keel builds the whole archive in memory (libzip over a
 * buffer source, the HDF5 file through HDF5's core driver) and writes it with
 * keel_npy_write_atomic: a temporary file beside the target, fsynced, renamed. Reading bounds
 * every member's size before it is inflated (a zip bomb is refused by its declared sizes and
 * ratio, and libzip checks the CRC), and treats everything read as hostile. */
#include "../data/npy.h"
#include "save.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <zip.h>

#ifndef KEEL_VERSION_STR
#define KEEL_VERSION_STR "unknown"
#endif

#define MAX_JSON_BYTES ((zip_uint64_t)64 << 20)
#define MAX_WEIGHTS_BYTES ((zip_uint64_t)16 << 30)
#define MAX_DEFLATE_RATIO 100 /* Keras stores its members; a deflated one this dense is a bomb */

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

/* ---------------------------------------------------------------- writing */

static keel_status add_member(zip_t *za, const char *name, const void *data, size_t len) {
    zip_source_t *s = zip_source_buffer(za, data, len, 0);
    zip_int64_t idx = s ? zip_file_add(za, name, s, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
        zip_source_free(s);
        KEEL_FAIL(KEEL_ERR_NOMEM, "cannot add %s to the archive (libzip: %s)", name,
                  zip_strerror(za));
    }
    if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0)
        KEEL_FAIL(KEEL_ERR_IO, "cannot store %s (libzip: %s)", name, zip_strerror(za));
    return KEEL_OK;
}

/* The archive's bytes, built in memory; *out malloc'd (keel_free). */
static keel_status build_zip(const char *const *names, const void *const *data, const size_t *lens,
                             int n, void **out, size_t *out_len) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    keel_status st = za ? KEEL_OK : keel_error(KEEL_ERR_NOMEM, "cannot start an archive in memory");
    if (!za && src) zip_source_free(src);
    if (za) zip_source_keep(src);
    for (int i = 0; !st && i < n; i++)
        st = add_member(za, names[i], data[i], lens[i]);
    if (za && !st && zip_close(za) != 0) {
        st = keel_error(KEEL_ERR_IO, "cannot finish the archive (libzip: %s)", zip_strerror(za));
        zip_discard(za);
    } else if (za && st) {
        zip_discard(za);
    }
    zip_error_fini(&ze);
    if (st) {
        if (za) zip_source_free(src);
        return st;
    }
    zip_int64_t len = -1;
    void *buf = NULL;
    if (zip_source_open(src) == 0) {
        if (zip_source_seek(src, 0, SEEK_END) == 0) len = zip_source_tell(src);
        if (len > 0 && zip_source_seek(src, 0, SEEK_SET) == 0 && (buf = keel_alloc((size_t)len)) &&
            zip_source_read(src, buf, (zip_uint64_t)len) != len) {
            keel_free(buf);
            buf = NULL;
        }
        zip_source_close(src);
    }
    zip_source_free(src);
    if (!buf) KEEL_FAIL(KEEL_ERR_NOMEM, "cannot read back the archive built in memory");
    *out = buf, *out_len = (size_t)len;
    return KEEL_OK;
}

/* The model's weights (and optimizer state) as the bytes of an HDF5 file. */
static keel_status weights_image(keel_model *m, bool with_optimizer, void **out, size_t *len) {
    keel_h5_quiet q;
    keel_h5_quiet_begin(&q);
    /* the weights, the optimizer's slots (up to three per weight) and room for the metadata */
    size_t est = (size_t)m->n_weights * sizeof(float) * (with_optimizer && m->compiled ? 4 : 1);
    hid_t f = keel_h5_create_mem(est + ((size_t)1 << 20));
    keel_status st = f < 0 ? keel_last_status() : keel_weights_write(m, f, with_optimizer);
    if (!st) st = keel_h5_image(f, out, len);
    if (f >= 0) H5Fclose(f);
    keel_h5_quiet_end(&q);
    return st;
}

static keel_status ready_model(keel_model *m, const char *fn, const char *path) {
    if (!m || !path) KEEL_FAIL(KEEL_ERR_ARG, "%s: %s is NULL", fn, m ? "path" : "model");
    return keel_model_build(m, fn);
}

keel_status keel_save(keel_model *m, const char *path) {
    const char *fn = "keel_save";
    keel_status st = ready_model(m, fn, path);
    if (st) return st;
    if (ends_with(path, ".h5") || ends_with(path, ".hdf5"))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: %s: keel writes the .keras format (the legacy .h5 one it only reads); "
                  "name the file .keras, or use keel_save_weights for a .weights.h5",
                  fn, path);
    char meta[256], date[64];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", localtime_r(&now, &tmv));
    snprintf(meta, sizeof meta,
             "{\"keras_version\": \"%s\", \"date_saved\": \"%s\", \"keel_version\": \"%s\"}",
             KEEL_KERAS_VERSION, date, KEEL_VERSION_STR);
    json_t *cfg = keel_model_to_json(m);
    char *cfg_text = cfg ? keel_json_dumps(cfg) : NULL;
    json_decref(cfg);
    void *w = NULL, *zipb = NULL;
    size_t wlen = 0, zlen = 0;
    if (!cfg_text) st = keel_last_status() ? keel_last_status() : KEEL_ERR_NOMEM;
    if (!st) st = weights_image(m, true, &w, &wlen);
    if (!st) {
        const char *names[3] = {"metadata.json", "config.json", "model.weights.h5"};
        const void *data[3] = {meta, cfg_text, w};
        size_t lens[3] = {strlen(meta), strlen(cfg_text), wlen};
        st = build_zip(names, data, lens, 3, &zipb, &zlen);
    }
    if (!st) {
        const void *ptrs[1] = {zipb};
        st = keel_npy_write_atomic(fn, path, 1, ptrs, &zlen);
    } else {
        keel_error_prefix(path), keel_error_prefix(fn);
    }
    free(cfg_text);
    keel_free(w), keel_free(zipb);
    return st;
}

keel_status keel_save_weights(keel_model *m, const char *path) {
    const char *fn = "keel_save_weights";
    keel_status st = ready_model(m, fn, path);
    if (st) return st;
    void *w = NULL;
    size_t wlen = 0;
    if ((st = weights_image(m, false, &w, &wlen))) {
        keel_error_prefix(path), keel_error_prefix(fn);
        return st;
    }
    const void *ptrs[1] = {w};
    st = keel_npy_write_atomic(fn, path, 1, ptrs, &wlen);
    keel_free(w);
    return st;
}

/* ---------------------------------------------------------------- reading */

/* One member of an open archive, whole, bounded by cap; NUL-terminated for JSON. */
static keel_status read_member(zip_t *za, const char *name, zip_uint64_t cap, char **out,
                               size_t *len, const char *path) {
    *out = NULL, *len = 0;
    zip_stat_t s;
    zip_stat_init(&s);
    if (zip_stat(za, name, 0, &s) != 0)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: the archive has no %s (not a .keras file?)", path, name);
    if (!(s.valid & ZIP_STAT_SIZE) || !(s.valid & ZIP_STAT_COMP_SIZE) || s.size > cap)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s is too large (%llu bytes)", path, name,
                  (unsigned long long)s.size);
    if ((s.valid & ZIP_STAT_ENCRYPTION_METHOD) && s.encryption_method != ZIP_EM_NONE)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s is encrypted", path, name);
    if (s.comp_size && s.size / s.comp_size > MAX_DEFLATE_RATIO)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s inflates %llu bytes into %llu (a zip bomb?)", path, name,
                  (unsigned long long)s.comp_size, (unsigned long long)s.size);
    char *buf = keel_alloc((size_t)s.size + 1);
    if (!buf) return KEEL_ERR_NOMEM;
    zip_file_t *zf = zip_fopen(za, name, 0);
    zip_int64_t got = zf ? zip_fread(zf, buf, s.size) : -1;
    /* a member that holds more than it declares, or a bad CRC, shows at the next read / close */
    char extra;
    bool over = zf && got == (zip_int64_t)s.size && zip_fread(zf, &extra, 1) != 0;
    int closed = zf ? zip_fclose(zf) : -1;
    if (got != (zip_int64_t)s.size || over || closed != 0) {
        keel_free(buf);
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s is damaged (it does not read back as stored)", path,
                  name);
    }
    buf[s.size] = 0;
    *out = buf, *len = (size_t)s.size;
    return KEEL_OK;
}

/* The major version of a "3.15.1"-like string; -1 if none. */
static long major_of(const char *v) {
    if (!v) return -1;
    char *end;
    long maj = strtol(v, &end, 10);
    return end == v ? -1 : maj;
}

static keel_status check_version(const char *v, const char *path) {
    long maj = major_of(v);
    if (maj > KEEL_KERAS_MAJOR_MAX)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: written by Keras %s, a newer format than keel reads (Keras %d at most)",
                  path, v, KEEL_KERAS_MAJOR_MAX);
    return KEEL_OK;
}

/* Builds a model from its config and compiles it from compile_json when it can. The weights
 * file holds every weight as a float32 (4 bytes; Keras neither compresses nor narrows them), so
 * a config declaring more than one weight per byte of it (room for h5py's gzip) is refused
 * before its weights are allocated. */
static keel_model *model_from(const json_t *config, const json_t *compile_json, bool legacy,
                              uint64_t weights_bytes, const char *where) {
    keel_model *m = keel_model_from_json(config, where);
    if (!m) return NULL;
    m->max_weights =
        (int64_t)(weights_bytes < ((uint64_t)1 << 61) ? weights_bytes : 1ull << 61) + 1;
    m->skip_init = true; /* the weights file fills every weight the model uses, or it fails */
    keel_status st = keel_model_compile_json(m, compile_json, legacy, where);
    if (!st && !m->compiled) st = keel_model_build(m, where);
    if (st) {
        /* a model that cannot be built (shapes that do not fit, too many weights) is the file's
         * fault: say which file, and a bad argument is a bad field of it */
        if (strncmp(keel_last_error(), where, strlen(where))) keel_error_prefix(where);
        if (st == KEEL_ERR_ARG) {
            char msg[KEEL_ERR_CAP];
            snprintf(msg, sizeof msg, "%s", keel_last_error());
            keel_error(KEEL_ERR_FORMAT, "%s", msg);
        }
        keel_model_free(m);
        return NULL;
    }
    m->max_weights = 0, m->skip_init = false;
    return m;
}

static keel_model *load_keras(const char *path) {
    int code = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        keel_error(code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_NOENT
                       ? KEEL_ERR_IO
                       : KEEL_ERR_FORMAT,
                   "keel_load: %s: not a readable .keras archive (libzip: %s)", path,
                   zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return NULL;
    }
    char *meta = NULL, *cfg = NULL, *w = NULL;
    size_t meta_len, cfg_len, w_len;
    json_t *mj = NULL, *cj = NULL;
    keel_model *m = NULL;
    char where[600];
    snprintf(where, sizeof where, "keel_load: %s", path);
    if (read_member(za, "metadata.json", MAX_JSON_BYTES, &meta, &meta_len, path) ||
        read_member(za, "config.json", MAX_JSON_BYTES, &cfg, &cfg_len, path) ||
        read_member(za, "model.weights.h5", MAX_WEIGHTS_BYTES, &w, &w_len, path)) {
        keel_error_prefix("keel_load");
        goto out;
    }
    char what[600];
    snprintf(what, sizeof what, "%s: metadata.json", path);
    if (!(mj = keel_json_parse(meta, meta_len, what))) goto out;
    if (check_version(json_string_value(json_object_get(mj, "keras_version")), path)) {
        keel_error_prefix("keel_load");
        goto out;
    }
    snprintf(what, sizeof what, "%s: config.json", path);
    if (!(cj = keel_json_parse(cfg, cfg_len, what))) goto out;
    snprintf(where, sizeof where, "keel_load: %s: config.json", path);
    /* the weights file opens before the model is made: a damaged one is named as such */
    keel_h5_quiet q;
    keel_h5_quiet_begin(&q);
    snprintf(what, sizeof what, "keel_load: %s: model.weights.h5", path);
    hid_t f = keel_h5_open_mem(w, w_len, what);
    if (f >= 0) m = model_from(cj, json_object_get(cj, "compile_config"), false, w_len, where);
    keel_status st = !m ? keel_last_status() : keel_weights_read(m, f, true, what);
    if (f >= 0) H5Fclose(f);
    keel_h5_quiet_end(&q);
    if (st) keel_model_free(m), m = NULL;
    /* dropout masks follow the step count: a resumed run draws the masks it would have */
    if (m) m->ctx.step = (uint64_t)m->opt.iterations;
out:
    json_decref(mj), json_decref(cj);
    keel_free(meta), keel_free(cfg), keel_free(w);
    zip_discard(za);
    return m;
}

/* A JSON string attribute of the file's root (model_config, training_config). */
static json_t *root_json(hid_t f, const char *attr, bool optional, const char *path) {
    char **s = NULL;
    int n = 0;
    char what[600];
    snprintf(what, sizeof what, "keel_load: %s", path);
    if (keel_h5_attr_strings(f, "/", attr, optional, &s, &n, what)) return NULL;
    json_t *j = NULL;
    if (n == 1) {
        snprintf(what, sizeof what, "keel_load: %s: %s", path, attr);
        j = keel_json_parse(s[0], strlen(s[0]), what);
    } else if (n > 1) {
        keel_error(KEEL_ERR_FORMAT, "keel_load: %s: the attribute %s holds %d strings", path, attr,
                   n);
    }
    keel_h5_strings_free(s, n);
    return j;
}

static keel_model *load_legacy(const char *path) {
    keel_h5_quiet q;
    keel_h5_quiet_begin(&q);
    char what[600];
    snprintf(what, sizeof what, "keel_load: %s", path);
    hid_t f = keel_h5_open_file(path, what);
    keel_model *m = NULL;
    json_t *mc = NULL, *tc = NULL;
    char **ver = NULL;
    int n_ver = 0;
    if (f < 0) goto out;
    if (keel_h5_attr_strings(f, "/", "keras_version", true, &ver, &n_ver, what) ||
        (n_ver && check_version(ver[0], path))) {
        if (n_ver) keel_error_prefix("keel_load");
        goto out;
    }
    if (!keel_h5_exists(f, "model_weights") ||
        H5Aexists_by_name(f, "/", "model_config", H5P_DEFAULT) <= 0) {
        keel_error(KEEL_ERR_FORMAT,
                   "keel_load: %s holds weights only, not a whole model (build the model and use "
                   "keel_load_weights)",
                   path);
        goto out;
    }
    if (!(mc = root_json(f, "model_config", false, path))) goto out;
    tc = root_json(f, "training_config", true, path);
    if (!tc && keel_last_status() != KEEL_OK &&
        H5Aexists_by_name(f, "/", "training_config", H5P_DEFAULT) > 0)
        goto out;
    snprintf(what, sizeof what, "keel_load: %s: model_config", path);
    hsize_t bytes = 0;
    H5Fget_filesize(f, &bytes);
    if (!(m = model_from(mc, tc, true, bytes, what))) goto out;
    snprintf(what, sizeof what, "keel_load: %s", path);
    hid_t g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    keel_status st = g < 0 ? keel_error(KEEL_ERR_FORMAT, "%s: model_weights is not a group", what)
                           : keel_weights_read_legacy(m, g, what);
    if (g >= 0) H5Gclose(g);
    if (!st) st = keel_optimizer_read_legacy(m, f, what);
    if (st) keel_model_free(m), m = NULL;
    if (m) m->ctx.step = (uint64_t)m->opt.iterations;
out:
    keel_h5_strings_free(ver, n_ver);
    json_decref(mc), json_decref(tc);
    if (f >= 0) H5Fclose(f);
    keel_h5_quiet_end(&q);
    return m;
}

/* What a file is, by its first bytes: 1 zip, 2 HDF5, 0 neither; -1 unreadable. */
static int sniff(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        keel_error(KEEL_ERR_IO, "keel_load: %s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    unsigned char b[8] = {0};
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) return 1;
    if (n == 8 && !memcmp(b, "\x89HDF\r\n\x1a\n", 8)) return 2;
    return 0;
}

keel_model *keel_load(const char *path) {
    if (!path) {
        keel_error(KEEL_ERR_ARG, "keel_load: path is NULL");
        return NULL;
    }
    int kind = sniff(path);
    if (kind == 1) return load_keras(path);
    if (kind == 2) return load_legacy(path);
    if (kind == 0)
        keel_error(KEEL_ERR_FORMAT,
                   "keel_load: %s is neither a .keras archive nor an HDF5 .h5 file", path);
    return NULL;
}

keel_status keel_load_weights(keel_model *m, const char *path) {
    const char *fn = "keel_load_weights";
    keel_status st = ready_model(m, fn, path);
    if (st) return st;
    int kind = sniff(path);
    if (kind < 0) return keel_error_prefix(fn);
    char what[600];
    snprintf(what, sizeof what, "%s: %s", fn, path);
    if (kind == 1) { /* the weights inside a .keras archive */
        int code = 0;
        zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
        if (!za) KEEL_FAIL(KEEL_ERR_FORMAT, "%s: not a readable archive", what);
        char *w = NULL;
        size_t wlen = 0;
        st = read_member(za, "model.weights.h5", MAX_WEIGHTS_BYTES, &w, &wlen, path);
        zip_discard(za);
        if (st) return keel_error_prefix(fn);
        keel_h5_quiet q;
        keel_h5_quiet_begin(&q);
        hid_t f = keel_h5_open_mem(w, wlen, what);
        st = f < 0 ? keel_last_status() : keel_weights_read(m, f, false, what);
        if (f >= 0) H5Fclose(f);
        keel_h5_quiet_end(&q);
        keel_free(w);
        return st;
    }
    if (kind != 2) KEEL_FAIL(KEEL_ERR_FORMAT, "%s is not an HDF5 weights file", what);
    keel_h5_quiet q;
    keel_h5_quiet_begin(&q);
    hid_t f = keel_h5_open_file(path, what);
    if (f < 0) {
        keel_h5_quiet_end(&q);
        return keel_last_status();
    }
    if (keel_h5_exists(f, "model_weights")) { /* a tf.keras 2 full-model file */
        hid_t g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
        st = g < 0 ? keel_error(KEEL_ERR_FORMAT, "%s: model_weights is not a group", what)
                   : keel_weights_read_legacy(m, g, what);
        if (g >= 0) H5Gclose(g);
    } else if (H5Aexists_by_name(f, "/", "layer_names", H5P_DEFAULT) > 0) {
        st = keel_weights_read_legacy(m, f, what); /* tf.keras 2's save_weights */
    } else {
        st = keel_weights_read(m, f, false, what);
    }
    H5Fclose(f);
    keel_h5_quiet_end(&q);
    return st;
}
