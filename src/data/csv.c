/* csv.c: a numeric / categorical CSV file with a header row, as the house-price tutorial
 * reads it with pandas: numeric columns as they are, categorical columns one-hot encoded
 * (one column per distinct value, sorted), the target column apart, features standardized.
 * Fields may be double-quoted ("a,b" and "" inside quotes). Errors name file and line. */
#include "../core.h"

#include <errno.h>
#include <stdio.h>

#define MAX_FILE_BYTES ((long)1 << 30)

typedef struct csv_col {
    char *name;
    bool categorical;
    int n_cats;
    char **cats; /* sorted distinct values */
} csv_col;

/* Splits a copy of `line` (made in `scratch`, at least as long) into fields; returns the
 * count, or -1 on an unterminated quote. Fields past `cap` are counted, not stored. */
static int split(const char *line, char *scratch, char delim, char **fields, int cap) {
    int n = 0;
    strcpy(scratch, line);
    char *p = scratch;
    for (;;) {
        char *start = p, *w = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == 0) return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            while (*p && *p != delim) p++; /* text after the closing quote is dropped */
        } else {
            while (*p && *p != delim) *w++ = *p++;
        }
        char end = *p;
        *w = 0;
        if (n < cap) fields[n] = start;
        n++;
        if (end == 0) break;
        p++;
    }
    return n;
}

static bool parse_number(const char *s, double *v) {
    while (*s == ' ') s++;
    if (!*s) return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    while (*end == ' ') end++;
    return *end == 0 && errno != ERANGE && isfinite(*v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_cols(csv_col *cols, int n) {
    for (int i = 0; cols && i < n; i++) {
        keel_free(cols[i].name);
        for (int k = 0; k < cols[i].n_cats; k++) keel_free(cols[i].cats[k]);
        keel_free(cols[i].cats);
    }
    keel_free(cols);
}

void keel_csv_free(keel_csv *c) {
    if (!c) return;
    keel_tensor_free(c->x);
    keel_tensor_free(c->y);
    for (int i = 0; c->feature_names && i < c->n_features; i++) keel_free(c->feature_names[i]);
    keel_free(c->feature_names);
    keel_free(c->mean);
    keel_free(c->std);
    keel_free(c);
}

/* adds s to the sorted-later set of a categorical column (linear: categories are few) */
static bool add_cat(csv_col *c, const char *s) {
    for (int k = 0; k < c->n_cats; k++)
        if (!strcmp(c->cats[k], s)) return true;
    char **nc = keel_alloc((size_t)(c->n_cats + 1) * sizeof *nc);
    if (!nc) return false;
    if (c->n_cats) memcpy(nc, c->cats, (size_t)c->n_cats * sizeof *nc);
    keel_free(c->cats);
    c->cats = nc;
    return (c->cats[c->n_cats++] = keel_strdup(s)) != NULL;
}

keel_csv *keel_csv_load_(const char *path, keel_csv_opts o) {
    char delim = o.delimiter ? o.delimiter : ',';
    if (!path || !o.target) {
        keel_error(KEEL_ERR_ARG, "keel_csv_load: %s is NULL", path ? "target" : "path");
        return NULL;
    }
    keel_csv *res = NULL;
    csv_col *cols = NULL;
    char *text = NULL, **lines = NULL, **fields = NULL, *scratch = NULL;
    int ncols = 0, target = -1;
    int64_t nlines = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        keel_error(KEEL_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 0 || size > MAX_FILE_BYTES) {
        keel_error(KEEL_ERR_IO, "%s: cannot read (size %ld)", path, size);
        fclose(f);
        return NULL;
    }
    text = keel_alloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        if (text) keel_error(KEEL_ERR_IO, "%s: read error", path);
        fclose(f);
        goto fail;
    }
    fclose(f);
    if (memchr(text, 0, (size_t)size)) {
        keel_error(KEEL_ERR_FORMAT, "%s: contains NUL bytes (not a text CSV file)", path);
        goto fail;
    }
    /* lines: split on \n, drop \r, skip blank lines but keep their numbers for messages */
    int64_t cap_lines = 1;
    for (long i = 0; i < size; i++) cap_lines += text[i] == '\n';
    lines = keel_alloc((size_t)cap_lines * sizeof *lines);
    int64_t *lineno = keel_alloc((size_t)cap_lines * sizeof *lineno);
    if (!lines || !lineno) {
        keel_free(lineno);
        goto fail;
    }
    {
        char *p = text;
        int64_t no = 0;
        while (*p) {
            char *e = strchr(p, '\n');
            if (e) *e = 0;
            no++;
            size_t len = strlen(p);
            if (len && p[len - 1] == '\r') p[--len] = 0;
            if (len) lineno[nlines] = no, lines[nlines++] = p;
            if (!e) break;
            p = e + 1;
        }
    }
    scratch = keel_alloc((size_t)size + 1);
    if (!scratch) {
        keel_free(lineno);
        goto fail;
    }
    if (nlines < 2) {
        keel_error(KEEL_ERR_FORMAT, "%s: needs a header row and at least one data row", path);
        keel_free(lineno);
        goto fail;
    }
    ncols = split(lines[0], scratch, delim, NULL, 0);
    fields = keel_alloc((size_t)(ncols > 0 ? ncols : 1) * sizeof *fields);
    cols = keel_alloc((size_t)(ncols > 0 ? ncols : 1) * sizeof *cols);
    if (!fields || !cols) {
        keel_free(lineno);
        goto fail;
    }
    if (ncols < 0) {
        keel_error(KEEL_ERR_FORMAT, "%s:%lld: unterminated quote in the header", path, (long long)lineno[0]);
        keel_free(lineno);
        goto fail;
    }
    split(lines[0], scratch, delim, fields, ncols);
    for (int c = 0; c < ncols; c++) {
        cols[c].name = keel_strdup(fields[c]);
        if (!cols[c].name) {
            ncols = c;
            keel_free(lineno);
            goto fail;
        }
        if (!strcmp(fields[c], o.target)) target = c;
    }
    if (target < 0) {
        const char **names = keel_alloc((size_t)(ncols + 1) * sizeof *names);
        for (int c = 0; names && c < ncols; c++) names[c] = cols[c].name;
        const char *near = names ? keel_nearest_name(o.target, names) : NULL;
        keel_error(KEEL_ERR_ARG, "%s: no column named \"%s\"%s%s%s", path, o.target, near ? " (did you mean \"" : "",
                   near ? near : "", near ? "\"?)" : "");
        keel_free(names);
        keel_free(lineno);
        goto fail;
    }
    /* pass 1: field counts, which columns are categorical, their values */
    int64_t rows = nlines - 1;
    for (int64_t r = 0; r < rows; r++) {
        int nf = split(lines[r + 1], scratch, delim, fields, ncols);
        if (nf < 0) {
            keel_error(KEEL_ERR_FORMAT, "%s:%lld: unterminated quote", path, (long long)lineno[r + 1]);
            goto fail_rows;
        }
        if (nf != ncols) {
            keel_error(KEEL_ERR_FORMAT, "%s:%lld: %d fields, expected %d", path, (long long)lineno[r + 1], nf, ncols);
            goto fail_rows;
        }
        for (int c = 0; c < ncols; c++) {
            double v;
            if (fields[c][0] == 0) {
                keel_error(KEEL_ERR_FORMAT, "%s:%lld: empty field in column \"%s\"", path, (long long)lineno[r + 1],
                           cols[c].name);
                goto fail_rows;
            }
            if (!parse_number(fields[c], &v)) {
                if (c == target) {
                    keel_error(KEEL_ERR_FORMAT, "%s:%lld: target column \"%s\" holds \"%s\", not a number", path,
                               (long long)lineno[r + 1], cols[c].name, fields[c]);
                    goto fail_rows;
                }
                cols[c].categorical = true;
            }
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        split(lines[r + 1], scratch, delim, fields, ncols);
        for (int c = 0; c < ncols; c++)
            if (cols[c].categorical && !add_cat(&cols[c], fields[c])) goto fail_rows;
    }
    int nfeat = 0;
    for (int c = 0; c < ncols; c++) {
        if (c == target) continue;
        if (cols[c].categorical) qsort(cols[c].cats, (size_t)cols[c].n_cats, sizeof(char *), cmp_str);
        nfeat += cols[c].categorical ? cols[c].n_cats : 1;
    }
    if (nfeat == 0) {
        keel_error(KEEL_ERR_FORMAT, "%s: no feature columns besides the target \"%s\"", path, o.target);
        goto fail_rows;
    }
    res = keel_alloc(sizeof *res);
    if (!res) goto fail_rows;
    res->n_features = nfeat;
    res->x = keel_tensor_new(KEEL_SHAPE(rows, nfeat));
    res->y = keel_tensor_new(KEEL_SHAPE(rows, 1));
    res->feature_names = keel_alloc((size_t)nfeat * sizeof(char *));
    res->mean = keel_alloc((size_t)nfeat * sizeof(float));
    res->std = keel_alloc((size_t)nfeat * sizeof(float));
    if (!res->x || !res->y || !res->feature_names || !res->mean || !res->std) goto fail_rows;
    for (int c = 0, j = 0; c < ncols; c++) {
        if (c == target) continue;
        if (!cols[c].categorical) {
            if (!(res->feature_names[j++] = keel_strdup(cols[c].name))) goto fail_rows;
            continue;
        }
        for (int k = 0; k < cols[c].n_cats; k++) {
            size_t len = strlen(cols[c].name) + strlen(cols[c].cats[k]) + 2;
            if (!(res->feature_names[j] = keel_alloc(len))) goto fail_rows;
            snprintf(res->feature_names[j++], len, "%s=%s", cols[c].name, cols[c].cats[k]);
        }
    }
    /* pass 2: values */
    for (int64_t r = 0; r < rows; r++) {
        split(lines[r + 1], scratch, delim, fields, ncols);
        float *xr = res->x->data + r * nfeat;
        int j = 0;
        for (int c = 0; c < ncols; c++) {
            double v = 0;
            if (c == target) {
                parse_number(fields[c], &v);
                res->y->data[r] = (float)v;
            } else if (!cols[c].categorical) {
                parse_number(fields[c], &v);
                xr[j++] = (float)v;
            } else {
                char **hit = bsearch(&fields[c], cols[c].cats, (size_t)cols[c].n_cats, sizeof(char *), cmp_str);
                xr[j + (hit - cols[c].cats)] = 1.0f;
                j += cols[c].n_cats;
            }
        }
    }
    for (int j = 0; j < nfeat; j++) {
        double s = 0, s2 = 0;
        for (int64_t r = 0; r < rows; r++) s += res->x->data[r * nfeat + j];
        double mean = s / (double)rows;
        for (int64_t r = 0; r < rows; r++) {
            double d = res->x->data[r * nfeat + j] - mean;
            s2 += d * d;
        }
        double sd = sqrt(s2 / (double)rows);
        res->mean[j] = (float)mean;
        res->std[j] = (float)(sd > 0 ? sd : 1.0);
        if (o.standardize)
            for (int64_t r = 0; r < rows; r++)
                res->x->data[r * nfeat + j] = (res->x->data[r * nfeat + j] - res->mean[j]) / res->std[j];
    }
    keel_free(lineno);
    free_cols(cols, ncols);
    keel_free(fields);
    keel_free(lines);
    keel_free(text);
    keel_free(scratch);
    return res;
fail_rows:
    keel_free(lineno);
fail:
    keel_free(scratch);
    keel_csv_free(res);
    free_cols(cols, ncols);
    keel_free(fields);
    keel_free(lines);
    keel_free(text);
    return NULL;
}
