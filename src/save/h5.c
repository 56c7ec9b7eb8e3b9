/* h5.c: see h5.h. */
#include "h5.h"

#include <errno.h>
#include <stdio.h>

/* Strings and shapes from a file are bounded before they are used. */
#define H5_MAX_STRINGS 65536
#define H5_MAX_STRLEN ((size_t)64 << 20) /* a legacy .h5 keeps its whole model config in one */

void keel_h5_quiet_begin(keel_h5_quiet *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void keel_h5_quiet_end(const keel_h5_quiet *q) {
    H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

hid_t keel_h5_create_mem(size_t increment) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* backing_store 0: the file never touches the disk (H5Fget_file_image takes its bytes) */
    if (increment < (1 << 16)) increment = 1 << 16;
    hid_t f = fapl < 0 || H5Pset_fapl_core(fapl, increment, 0) < 0
                  ? H5I_INVALID_HID
                  : H5Fcreate("keel-weights.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) keel_error(KEEL_ERR_NOMEM, "cannot create an HDF5 file in memory");
    return f;
}

keel_status keel_h5_image(hid_t f, void **out, size_t *len) {
    *out = NULL, *len = 0;
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) KEEL_FAIL(KEEL_ERR_IO, "cannot flush the HDF5 file");
    ssize_t n = H5Fget_file_image(f, NULL, 0);
    if (n <= 0) KEEL_FAIL(KEEL_ERR_IO, "cannot take the HDF5 file's image");
    void *buf = keel_alloc((size_t)n);
    if (!buf) return KEEL_ERR_NOMEM;
    if (H5Fget_file_image(f, buf, (size_t)n) != n) {
        keel_free(buf);
        KEEL_FAIL(KEEL_ERR_IO, "cannot take the HDF5 file's image");
    }
    *out = buf, *len = (size_t)n;
    return KEEL_OK;
}

hid_t keel_h5_open_mem(const void *buf, size_t len, const char *what) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = H5I_INVALID_HID;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)buf, len) >= 0)
        f = H5Fopen("keel-weights.h5", H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) keel_error(KEEL_ERR_FORMAT, "%s is not a readable HDF5 file", what);
    return f;
}

hid_t keel_h5_open_file(const char *path, const char *what) {
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        keel_error(KEEL_ERR_IO, "%s: cannot open (%s)", what, strerror(errno));
        return H5I_INVALID_HID;
    }
    fclose(probe);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) keel_error(KEEL_ERR_FORMAT, "%s is not an HDF5 file", what);
    return f;
}

hid_t keel_h5_group(hid_t loc, const char *path) {
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        keel_error(KEEL_ERR_ARG, "HDF5 path too long: %s", path);
        return H5I_INVALID_HID;
    }
    hid_t cur = H5Gopen2(loc, ".", H5P_DEFAULT);
    for (char *part = buf, *slash; cur >= 0 && part && *part; part = slash) {
        if ((slash = strchr(part, '/'))) *slash++ = 0;
        hid_t next = H5Lexists(cur, part, H5P_DEFAULT) > 0
                         ? H5Gopen2(cur, part, H5P_DEFAULT)
                         : H5Gcreate2(cur, part, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(cur);
        cur = next;
    }
    if (cur < 0) keel_error(KEEL_ERR_IO, "cannot create the HDF5 group %s", path);
    return cur;
}

bool keel_h5_exists(hid_t loc, const char *path) {
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return false;
    /* H5Lexists fails (rather than saying no) when a middle level is missing */
    for (char *p = buf; (p = strchr(p, '/')); p++) {
        *p = 0;
        bool ok = H5Lexists(loc, buf, H5P_DEFAULT) > 0;
        *p = '/';
        if (!ok) return false;
    }
    return H5Lexists(loc, buf, H5P_DEFAULT) > 0;
}

static keel_status write_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                            const int64_t *dims, const void *data) {
    hsize_t hd[KEEL_MAX_RANK];
    for (int i = 0; i < rank; i++)
        hd[i] = (hsize_t)dims[i];
    hid_t sp = rank ? H5Screate_simple(rank, hd, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = sp < 0 ? H5I_INVALID_HID
                      : H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t w = ds < 0 ? -1 : H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    if (w < 0) KEEL_FAIL(KEEL_ERR_IO, "cannot write the HDF5 dataset %s", name);
    return KEEL_OK;
}

keel_status keel_h5_write_f32(hid_t loc, const char *name, int rank, const int64_t *dims,
                              const float *data) {
    return write_ds(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, data);
}

keel_status keel_h5_write_i64_scalar(hid_t loc, const char *name, int64_t v) {
    return write_ds(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &v);
}

keel_status keel_h5_attr_str(hid_t loc, const char *name, const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    hid_t sp = H5Screate(H5S_SCALAR);
    herr_t ok = t < 0 || sp < 0 ? -1 : H5Tset_size(t, H5T_VARIABLE);
    if (ok >= 0) ok = H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t a = ok < 0 ? H5I_INVALID_HID : H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    ok = a < 0 ? -1 : H5Awrite(a, t, &v);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (ok < 0) KEEL_FAIL(KEEL_ERR_IO, "cannot write the HDF5 attribute %s", name);
    return KEEL_OK;
}

/* Opens dataset path and checks that it holds numbers; its rank and dims into the outputs. */
static hid_t open_numeric(hid_t loc, const char *path, int *rank, hsize_t *hd, const char *what) {
    if (!keel_h5_exists(loc, path)) {
        keel_error(KEEL_ERR_FORMAT, "%s: %s is missing", what, path);
        return H5I_INVALID_HID;
    }
    hid_t ds = H5Dopen2(loc, path, H5P_DEFAULT);
    if (ds < 0) {
        keel_error(KEEL_ERR_FORMAT, "%s: %s is not a dataset", what, path);
        return H5I_INVALID_HID;
    }
    hid_t t = H5Dget_type(ds);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (t >= 0) H5Tclose(t);
    hid_t sp = H5Dget_space(ds);
    int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (r >= 0 && r <= KEEL_MAX_RANK) H5Sget_simple_extent_dims(sp, hd, NULL);
    if (sp >= 0) H5Sclose(sp);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        H5Dclose(ds);
        keel_error(KEEL_ERR_FORMAT, "%s: %s does not hold numbers", what, path);
        return H5I_INVALID_HID;
    }
    if (r < 0 || r > KEEL_MAX_RANK) {
        H5Dclose(ds);
        keel_error(KEEL_ERR_FORMAT, "%s: %s has rank %d (keel reads up to %d)", what, path, r,
                   KEEL_MAX_RANK);
        return H5I_INVALID_HID;
    }
    *rank = r;
    return ds;
}

keel_status keel_h5_read_f32(hid_t loc, const char *path, int rank, const int64_t *dims, float *out,
                             const char *what) {
    int r;
    hsize_t hd[KEEL_MAX_RANK] = {0};
    hid_t ds = open_numeric(loc, path, &r, hd, what);
    if (ds < 0) return keel_last_status();
    bool same = r == rank;
    for (int i = 0; same && i < r; i++)
        same = hd[i] == (hsize_t)dims[i];
    if (!same) {
        H5Dclose(ds);
        char want[160], got[160] = "(";
        keel_dims_str(rank, dims, false, want, sizeof want);
        for (int i = 0; i < r; i++) {
            size_t u = strlen(got);
            snprintf(got + u, sizeof got - u, "%s%llu", i ? ", " : "", (unsigned long long)hd[i]);
        }
        size_t u = strlen(got);
        snprintf(got + u, sizeof got - u, r == 1 ? ",)" : ")");
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: %s has shape %s, the model's weight is %s", what, path, got,
                  want);
    }
    herr_t ok = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(ds);
    if (ok < 0) KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s cannot be read", what, path);
    return KEEL_OK;
}

static keel_status read_scalar(hid_t loc, const char *path, hid_t mtype, void *out,
                               const char *what) {
    int r;
    hsize_t hd[KEEL_MAX_RANK];
    hid_t ds = open_numeric(loc, path, &r, hd, what);
    if (ds < 0) return keel_last_status();
    herr_t ok = r == 0 ? H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : -1;
    H5Dclose(ds);
    if (ok < 0) KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s is not a readable scalar", what, path);
    return KEEL_OK;
}

keel_status keel_h5_read_i64_scalar(hid_t loc, const char *path, int64_t *out, const char *what) {
    return read_scalar(loc, path, H5T_NATIVE_INT64, out, what);
}

keel_status keel_h5_read_f64_scalar(hid_t loc, const char *path, double *out, const char *what) {
    return read_scalar(loc, path, H5T_NATIVE_DOUBLE, out, what);
}

int64_t keel_h5_count(hid_t loc, const char *path, const char *what) {
    H5G_info_t info;
    if (!keel_h5_exists(loc, path) || H5Gget_info_by_name(loc, path, &info, H5P_DEFAULT) < 0) {
        keel_error(KEEL_ERR_FORMAT, "%s: the group %s is missing", what, path);
        return -1;
    }
    return (int64_t)info.nlinks;
}

void keel_h5_strings_free(char **s, int n) {
    for (int i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

/* Copies string i of a read attribute (variable or fixed width) into a new string. */
static char *copy_str(const char *src, size_t maxlen) {
    size_t n = 0;
    while (n < maxlen && src[n])
        n++;
    char *s = malloc(n + 1);
    if (s) memcpy(s, src, n), s[n] = 0;
    return s;
}

keel_status keel_h5_attr_strings(hid_t loc, const char *path, const char *attr, bool optional,
                                 char ***out, int *n, const char *what) {
    *out = NULL, *n = 0;
    bool root = !strcmp(path, "/") || !strcmp(path, ".");
    if ((!root && !keel_h5_exists(loc, path)) ||
        H5Aexists_by_name(loc, path, attr, H5P_DEFAULT) <= 0) {
        if (optional) return KEEL_OK;
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: %s has no attribute %s", what, path, attr);
    }
    hid_t a = H5Aopen_by_name(loc, path, attr, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = a < 0 ? H5I_INVALID_HID : H5Aget_type(a);
    hid_t sp = a < 0 ? H5I_INVALID_HID : H5Aget_space(a);
    keel_status st = KEEL_OK;
    int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    hssize_t count = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (count == 0 && r == 1) { /* h5py writes an empty list as float64, shape (0,) */
        H5Sclose(sp), H5Tclose(t), H5Aclose(a);
        *out = calloc(1, sizeof **out);
        if (!*out) KEEL_FAIL(KEEL_ERR_NOMEM, "%s: out of memory", what);
        return KEEL_OK;
    }
    if (t < 0 || H5Tget_class(t) != H5T_STRING || r < 0 || r > 1 || count < 0 ||
        count > H5_MAX_STRINGS)
        st = keel_error(KEEL_ERR_FORMAT, "%s: %s's attribute %s is not a list of strings", what,
                        path, attr);
    char **res = NULL;
    if (!st && !(res = calloc((size_t)count + 1, sizeof *res))) st = KEEL_ERR_NOMEM;
    if (!st && H5Tis_variable_str(t) > 0) {
        char **raw = calloc((size_t)count + 1, sizeof *raw);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (!raw || H5Aread(a, mt, raw) < 0)
            st = keel_error(KEEL_ERR_FORMAT, "%s: %s's attribute %s cannot be read", what, path,
                            attr);
        for (hssize_t i = 0; !st && i < count; i++)
            if (!(res[i] = copy_str(raw[i] ? raw[i] : "", H5_MAX_STRLEN))) st = KEEL_ERR_NOMEM;
        if (raw) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
        H5Tclose(mt);
        free(raw);
    } else if (!st) {
        size_t w = H5Tget_size(t);
        /* the strings together, not only each, are bounded: a file declares both the count and
         * the width, and the buffer is allocated before HDF5 reads a byte */
        bool fits = w > 0 && w <= H5_MAX_STRLEN && (size_t)count * w <= H5_MAX_STRLEN;
        char *raw = fits ? calloc((size_t)count + 1, w) : NULL;
        if (!raw || H5Aread(a, t, raw) < 0)
            st = keel_error(KEEL_ERR_FORMAT, "%s: %s's attribute %s cannot be read", what, path,
                            attr);
        for (hssize_t i = 0; !st && i < count; i++)
            if (!(res[i] = copy_str(raw + (size_t)i * w, w))) st = KEEL_ERR_NOMEM;
        free(raw);
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (st) {
        keel_h5_strings_free(res, (int)count);
        return st == KEEL_ERR_NOMEM ? keel_error(st, "%s: out of memory", what) : st;
    }
    *out = res, *n = (int)count;
    return KEEL_OK;
}
