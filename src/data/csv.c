/* csv.c: a numeric / categorical CSV file with a header row, as a tutorial reads it with pandas
 * (read_csv, get_dummies, a StandardScaler fitted on the training rows): numeric columns as
 * they are, categorical columns one-hot encoded (one column per distinct value, sorted), the
 * target column apart, features standardized. keel_csv_transform applies a fitted encoding
 * and scaler to another file with the same columns (a test set).
 *
 * The file is read whole (at most 1 GiB) and tokenized once per pass by next_record, which
 * follows RFC 4180: quoted fields may hold delimiters, doubled quotes and line breaks, so a
 * record is not a line. Loading makes three passes: field counts and column types, distinct
 * values of the categorical columns (hashed: a 20,000-row id column costs 20,000 inserts and
 * an error, not a 20,000-wide one-hot block), then the values. Errors name file and line. */
#include "../core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES ((size_t)1 << 30)
#define DEFAULT_MAX_CATEGORIES 100

enum { COL_FEATURE, COL_TARGET, COL_DROPPED };

typedef struct csv_col {
    char *name;
    int role; /* COL_FEATURE, COL_TARGET or COL_DROPPED */
    bool categorical;
    int n_cats;
    char **cats;       /* sorted distinct values, when categorical */
    int64_t offset;    /* index of the column's first feature */
    int64_t n_text;    /* fitting only: fields that are not numbers ... */
    int64_t text_line; /* ... the line of the first one ... */
    char text[24];     /* ... and its start, for messages */
} csv_col;

/* What keel_csv_transform needs of the fitted file. */
struct keel_csv_schema {
    char *path; /* the fitted file, for messages */
    char delim;
    bool standardize;
    int ncols;
    csv_col *cols;
    int *by_name; /* column indices sorted by name, for lookups */
};

/* The text of one file and a cursor on it. */
typedef struct csv_reader {
    const char *path;
    char *buf;    /* what was allocated */
    char *text;   /* the content, NUL-terminated, without a byte-order mark */
    size_t size;  /* bytes in text */
    size_t pos;   /* the cursor */
    int64_t line; /* the line at pos, from 1 */
    size_t data_pos;
    int64_t data_line; /* where the first record after the header starts */
    int64_t rec_line;  /* where the last record read starts */
    char delim;
    char *scratch; /* the last record's fields, unquoted, each NUL-terminated */
    char **fields; /* pointers into scratch, at most cap of them */
    int cap;
} csv_reader;

/* ---------------------------------------------------------------- reading and tokenizing */

/* Reads the file whole into r->buf with a NUL after it. A directory, a file over 1 GiB and a
 * file with NUL bytes are refused with a message that says so (fopen + ftell on a directory
 * would "succeed" with a size of LONG_MAX). Pipes work: the buffer grows as bytes arrive. */
static keel_status read_file(csv_reader *r, const char *path) {
    r->path = path;
    errno = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) KEEL_FAIL(KEEL_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb = {0};
    keel_status st = KEEL_OK;
    if (fstat(fd, &sb) != 0)
        st = keel_error(KEEL_ERR_IO, "%s: cannot stat (%s)", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = keel_error(KEEL_ERR_IO, "%s: is a directory, not a CSV file", path);
    else if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > MAX_FILE_BYTES)
        st = keel_error(KEEL_ERR_IO, "%s: %lld bytes, more than the %zu (1 GiB) keel reads", path,
                        (long long)sb.st_size, MAX_FILE_BYTES);
    /* a regular file is read in one buffer of its size (+1, so that the read that returns 0
     * does not need a bigger one); anything else starts at 64 KiB */
    size_t cap = S_ISREG(sb.st_mode) ? (size_t)sb.st_size + 1 : (size_t)1 << 16, n = 0;
    if (st == KEEL_OK && !(r->buf = keel_alloc(cap + 1))) st = KEEL_ERR_NOMEM;
    while (st == KEEL_OK) {
        if (n == cap) { /* a pipe, or a file that grew: double, up to one byte past the limit */
            if (cap > MAX_FILE_BYTES) {
                st = keel_error(KEEL_ERR_IO, "%s: more than the %zu bytes (1 GiB) keel reads", path,
                                MAX_FILE_BYTES);
                break;
            }
            size_t ncap = KEEL_MIN(2 * cap, MAX_FILE_BYTES + 1);
            char *nb = keel_alloc(ncap + 1);
            if (!nb) {
                st = KEEL_ERR_NOMEM;
                break;
            }
            memcpy(nb, r->buf, n);
            keel_free(r->buf);
            r->buf = nb, cap = ncap;
        }
        ssize_t got = read(fd, r->buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) st = keel_error(KEEL_ERR_IO, "%s: read error (%s)", path, strerror(errno));
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (st) return st;
    r->buf[n] = 0;
    /* a UTF-8 byte-order mark (Excel writes one) is not part of the first column's name */
    size_t skip = n >= 3 && !memcmp(r->buf, "\xEF\xBB\xBF", 3) ? 3 : 0;
    r->text = r->buf + skip, r->size = n - skip, r->line = 1;
    /* a NUL would end every string the tokenizer makes: a binary file (or UTF-16, which
     * Windows tools write) is refused here, at the line where it shows */
    const char *nul = memchr(r->text, 0, r->size);
    if (nul) {
        int64_t line = 1;
        for (const char *p = r->text; p < nul; p++)
            line += *p == '\n';
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s:%lld: contains NUL bytes (not a text CSV file)", path,
                  (long long)line);
    }
    /* a record's unquoted fields plus their NULs never take more bytes than the record */
    r->scratch = keel_alloc(r->size + 2);
    return r->scratch ? KEEL_OK : KEEL_ERR_NOMEM;
}

static void reader_free(csv_reader *r) {
    keel_free(r->buf);
    keel_free(r->scratch);
    keel_free(r->fields);
}

/* Reads the next record at r->pos: returns its field count (fields past r->cap are counted,
 * not stored), 0 at the end of the text, -1 (error recorded) on a quote that is never closed.
 * Blank lines are skipped, as pandas does; line numbers still count them. */
static int next_record(csv_reader *r) {
    const char *t = r->text;
    size_t n = r->size, p = r->pos;
    /* blank lines between records; \r\n counts as one line break */
    while (p < n && (t[p] == '\n' || t[p] == '\r')) {
        if (t[p] == '\r' && p + 1 < n && t[p + 1] == '\n') p++;
        p++, r->line++;
    }
    r->pos = p;
    if (p >= n) return 0;
    r->rec_line = r->line;
    /* fields are written unquoted into scratch, each ended by a NUL: a field never takes more
     * bytes than it had in the file, and its NUL takes the place of the delimiter after it, so
     * scratch (the file's size + 2) always has room */
    char *w = r->scratch;
    int nf = 0;
    for (;;) {
        char *start = w;
        /* a quote opens a quoted section only at the start of a field; elsewhere it is data,
         * as in RFC 4180 and pandas */
        if (p < n && t[p] == '"') {
            int64_t opened = r->line;
            for (p++;; p++) {
                if (p >= n) {
                    keel_error(KEEL_ERR_FORMAT,
                               "%s:%lld: unterminated quote: the quoted field opened on this line "
                               "runs to the end of the file",
                               r->path, (long long)opened);
                    return -1;
                }
                if (t[p] == '"' && p + 1 < n && t[p + 1] == '"') {
                    *w++ = '"', p++; /* "" is one quote */
                } else if (t[p] == '"') {
                    p++;
                    break;
                } else {
                    r->line += t[p] == '\n'; /* a line break inside quotes is data */
                    *w++ = t[p];
                }
            }
        }
        /* an unquoted field, or text after a closing quote (kept, as pandas keeps it) */
        while (p < n && t[p] != r->delim && t[p] != '\n' && t[p] != '\r')
            *w++ = t[p++];
        *w++ = 0;
        /* a record with more fields than the header is counted whole, for the message */
        if (nf < r->cap) r->fields[nf] = start;
        nf++;
        if (p < n && t[p] == r->delim) {
            p++;
            continue;
        }
        break;
    }
    if (p < n) { /* the record's line break: \n, \r\n or a lone \r */
        if (t[p] == '\r' && p + 1 < n && t[p + 1] == '\n') p++;
        p++, r->line++;
    }
    r->pos = p;
    return nf;
}

/* Reads the header record: *ncols names in r->fields (r->cap = *ncols from here on). */
static keel_status read_header(csv_reader *r, int *ncols) {
    size_t pos = r->pos;
    int64_t line = r->line;
    int n = next_record(r); /* once to count the fields, once to keep them */
    if (n < 0) return KEEL_ERR_FORMAT;
    if (n == 0) KEEL_FAIL(KEEL_ERR_FORMAT, "%s: empty file (no header row)", r->path);
    if (!(r->fields = keel_alloc((size_t)n * sizeof *r->fields))) return KEEL_ERR_NOMEM;
    r->cap = n, r->pos = pos, r->line = line;
    next_record(r);
    r->data_pos = r->pos, r->data_line = r->line;
    *ncols = n;
    return KEEL_OK;
}

static void rewind_data(csv_reader *r) {
    r->pos = r->data_pos, r->line = r->data_line;
}

/* The next data record, checked to have ncols fields: 1, 0 at the end, or an error status. */
static int next_row(csv_reader *r, int ncols) {
    int nf = next_record(r);
    if (nf < 0) return KEEL_ERR_FORMAT;
    if (nf > 0 && nf != ncols)
        return keel_error(KEEL_ERR_FORMAT, "%s:%lld: %d fields, expected %d (as in the header)",
                          r->path, (long long)r->rec_line, nf, ncols);
    return nf > 0;
}

/* A field is a number when strtod takes all of it but spaces; inf, nan and out-of-range
 * values are text (a column holding them becomes categorical rather than poisoning the
 * scaler). */
static bool parse_number(const char *s, double *v) {
    while (*s == ' ')
        s++;
    if (!*s) return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    while (*end == ' ')
        end++;
    return *end == 0 && errno != ERANGE && isfinite(*v);
}

/* ---------------------------------------------------------------- columns */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_cols(csv_col *cols, int n) {
    for (int i = 0; cols && i < n; i++) {
        keel_free(cols[i].name);
        for (int k = 0; k < cols[i].n_cats; k++)
            keel_free(cols[i].cats[k]);
        keel_free(cols[i].cats);
    }
    keel_free(cols);
}

static void schema_free(struct keel_csv_schema *s) {
    if (!s) return;
    free_cols(s->cols, s->ncols);
    keel_free(s->by_name);
    keel_free(s->path);
    keel_free(s);
}

void keel_csv_free(keel_csv *c) {
    if (!c) return;
    keel_tensor_free(c->x);
    keel_tensor_free(c->y);
    for (int i = 0; c->feature_names && i < c->n_features; i++)
        keel_free(c->feature_names[i]);
    keel_free(c->feature_names);
    keel_free(c->mean);
    keel_free(c->std);
    schema_free(c->schema);
    keel_free(c);
}

/* qsort context is not in C11: the columns being sorted are passed through this pointer,
 * which only the thread sorting them uses */
static _Thread_local const csv_col *sort_cols;
static int cmp_col_name(const void *a, const void *b) {
    return strcmp(sort_cols[*(const int *)a].name, sort_cols[*(const int *)b].name);
}

/* Column indices sorted by name (for lookups in O(log n): files with thousands of columns
 * exist); refuses a name given twice, which would make lookups by name ambiguous. */
static int *index_names(const csv_col *cols, int n, const char *path) {
    int *idx = keel_alloc((size_t)n * sizeof *idx);
    if (!idx) return NULL;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    sort_cols = cols;
    qsort(idx, (size_t)n, sizeof *idx, cmp_col_name);
    for (int i = 1; i < n; i++) {
        if (strcmp(cols[idx[i - 1]].name, cols[idx[i]].name)) continue;
        int a = KEEL_MIN(idx[i - 1], idx[i]), b = KEEL_MAX(idx[i - 1], idx[i]);
        keel_error(KEEL_ERR_FORMAT, "%s: column name \"%s\" appears twice (columns %d and %d)",
                   path, cols[a].name, a + 1, b + 1);
        keel_free(idx);
        return NULL;
    }
    return idx;
}

/* The column named `name`, or -1. */
static int find_col(const csv_col *cols, const int *by_name, int n, const char *name) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(cols[by_name[mid]].name, name);
        if (c == 0) return by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Records "<path>: no column named "x"" with the nearest name as a hint. */
static keel_status no_such_column(const char *path, const csv_col *cols, int n, const char *name,
                                  const char *what) {
    const char **names = keel_alloc((size_t)(n + 1) * sizeof *names);
    for (int c = 0; names && c < n; c++)
        names[c] = cols[c].name;
    const char *near = names ? keel_nearest_name(name, names) : NULL;
    keel_error(KEEL_ERR_ARG, "%s: no column named \"%s\"%s%s%s%s", path, name, what,
               near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    keel_free(names);
    return KEEL_ERR_ARG;
}

/* ---------------------------------------------------------------- distinct values */

/* A set of strings, open addressing on a 64-bit FNV-1a hash. Only the first `keep` distinct
 * values are copied: past that the column is refused anyway and only the count matters, so
 * later entries are told apart by hash alone and memory stays 16 bytes a slot. */
typedef struct str_set {
    uint64_t *hash; /* 0: empty slot */
    char **key;
    size_t cap, n, keep;
} str_set;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ? h : 1;
}

static bool set_grow(str_set *s) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    uint64_t *hash = keel_alloc(cap * sizeof *hash);
    char **key = keel_alloc(cap * sizeof *key);
    if (!hash || !key) {
        keel_free(hash);
        keel_free(key);
        return false;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->hash[i]) continue;
        size_t j = s->hash[i] & (cap - 1);
        while (hash[j])
            j = (j + 1) & (cap - 1);
        hash[j] = s->hash[i], key[j] = s->key[i];
    }
    keel_free(s->hash);
    keel_free(s->key);
    s->hash = hash, s->key = key, s->cap = cap;
    return true;
}

/* Adds v; false only when out of memory. */
static bool set_add(str_set *s, const char *v) {
    /* at most half full, so linear probing stays short */
    if (2 * (s->n + 1) > s->cap && !set_grow(s)) return false;
    uint64_t h = hash_str(v);
    size_t j = h & (s->cap - 1);
    for (; s->hash[j]; j = (j + 1) & (s->cap - 1))
        if (s->hash[j] == h && (!s->key[j] || !strcmp(s->key[j], v))) return true;
    if (s->n < s->keep && !(s->key[j] = keel_strdup(v))) return false;
    s->hash[j] = h;
    s->n++;
    return true;
}

static void set_free(str_set *s) {
    for (size_t i = 0; s->key && i < s->cap; i++)
        keel_free(s->key[i]);
    keel_free(s->hash);
    keel_free(s->key);
}

/* ---------------------------------------------------------------- fitting: types and values */

/* Pass 1: field counts, empty fields, which columns are categorical; counts the rows. */
static keel_status scan_types(csv_reader *r, csv_col *cols, int ncols, int64_t *rows) {
    /* one non-number makes a column categorical, as pandas makes it an object column; the
     * first one is remembered, for when that turns out to be a typo in a numeric column */
    int got;
    *rows = 0;
    rewind_data(r);
    while ((got = next_row(r, ncols)) == 1) {
        for (int c = 0; c < ncols; c++) {
            csv_col *col = &cols[c];
            const char *f = r->fields[c];
            double v;
            if (col->role == COL_DROPPED) continue;
            if (!f[0])
                KEEL_FAIL(KEEL_ERR_FORMAT, "%s:%lld: empty field in column \"%s\"", r->path,
                          (long long)r->rec_line, col->name);
            if (parse_number(f, &v)) continue;
            if (col->role == COL_TARGET)
                KEEL_FAIL(KEEL_ERR_FORMAT,
                          "%s:%lld: target column \"%s\" holds \"%s\", not a number", r->path,
                          (long long)r->rec_line, col->name, f);
            if (!col->n_text++) {
                col->text_line = r->rec_line;
                snprintf(col->text, sizeof col->text, "%s", f);
            }
            col->categorical = true;
        }
        ++*rows;
    }
    return got < 0 ? (keel_status)got : KEEL_OK;
}

/* Appends to msg what to say about one column over the cap. */
static void describe_over_cap(char *msg, size_t cap, const csv_col *c, size_t n, int64_t rows) {
    size_t len = strlen(msg);
    snprintf(msg + len, cap - len, "%s\"%s\" (%zu distinct values", len ? ", " : "", c->name, n);
    len = strlen(msg);
    if (c->n_text < rows) /* mostly numbers: say where the first text is, it may be a typo */
        snprintf(msg + len, cap - len, "; %lld of %lld fields are numbers, not \"%s\" at line %lld",
                 (long long)(rows - c->n_text), (long long)rows, c->text, (long long)c->text_line);
    len = strlen(msg);
    snprintf(msg + len, cap - len, ")");
}

/* Pass 2: the distinct values of each categorical column, hashed; a column with more than
 * max_cats of them is refused, every such column named in one message. */
static keel_status collect_categories(csv_reader *r, csv_col *cols, int ncols, int64_t rows,
                                      int max_cats) {
    str_set *sets = keel_alloc((size_t)ncols * sizeof *sets);
    if (!sets) return KEEL_ERR_NOMEM;
    keel_status st = KEEL_OK;
    for (int c = 0; c < ncols; c++)
        sets[c].keep = (size_t)max_cats;
    rewind_data(r);
    while (st == KEEL_OK && next_row(r, ncols) == 1)
        for (int c = 0; c < ncols && st == KEEL_OK; c++)
            if (cols[c].categorical && cols[c].role == COL_FEATURE &&
                !set_add(&sets[c], r->fields[c]))
                st = KEEL_ERR_NOMEM;
    /* the message lists the first three columns over the cap and builds the .drop hint from
     * them; the buffers fit in keel's 512-byte error line with the text around them */
    char over[320] = "", drop[160] = "";
    int n_over = 0;
    for (int c = 0; c < ncols && st == KEEL_OK; c++) {
        if (sets[c].n <= (size_t)max_cats) continue;
        if (n_over++ < 3) {
            describe_over_cap(over, sizeof over, &cols[c], sets[c].n, rows);
            size_t len = strlen(drop);
            snprintf(drop + len, sizeof drop - len, "%s\"%s\"", len ? ", " : "", cols[c].name);
        }
    }
    if (st == KEEL_OK && n_over)
        st = keel_error(KEEL_ERR_FORMAT,
                        "%s: %d text column%s with more than max_categories = %d distinct values, "
                        "too many to one-hot encode: %s%s; drop %s (.drop = {%s}) or raise "
                        ".max_categories",
                        r->path, n_over, n_over > 1 ? "s" : "", max_cats, over,
                        n_over > 3 ? ", ..." : "", n_over > 1 ? "them" : "it", drop);
    /* the kept values become the sorted category lists */
    for (int c = 0; c < ncols && st == KEEL_OK; c++) {
        if (!sets[c].n) continue;
        if (!(cols[c].cats = keel_alloc(sets[c].n * sizeof(char *)))) {
            st = KEEL_ERR_NOMEM;
            break;
        }
        /* every entry has its key here (n <= keep); ownership moves to the column */
        for (size_t i = 0; i < sets[c].cap; i++)
            if (sets[c].hash[i])
                cols[c].cats[cols[c].n_cats++] = sets[c].key[i], sets[c].key[i] = 0;
        qsort(cols[c].cats, (size_t)cols[c].n_cats, sizeof(char *), cmp_str);
    }
    for (int c = 0; c < ncols; c++)
        set_free(&sets[c]);
    keel_free(sets);
    return st;
}

/* ---------------------------------------------------------------- shared: result and values */

/* This machine's memory in bytes (0 if unknown). A tensor larger than that is refused with a
 * message naming the sizes: with overcommit an allocation that large may "succeed" and the
 * zeroing then ends the process, and sanitizers abort on it. */
static double memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0;
}

/* Gives each feature column its offset among the features; returns how many features. */
static int64_t layout(csv_col *cols, int ncols) {
    /* int64: with a raised max_categories the sum can pass INT_MAX; result_new refuses that */
    int64_t nfeat = 0;
    for (int c = 0; c < ncols; c++) {
        if (cols[c].role != COL_FEATURE) continue;
        cols[c].offset = nfeat;
        nfeat += cols[c].categorical ? cols[c].n_cats : 1;
    }
    return nfeat;
}

/* Checks that rows x nfeat fits and allocates the result with its feature names. */
static keel_csv *result_new(const char *path, const csv_col *cols, int ncols, int64_t nfeat,
                            int64_t rows, bool with_y) {
    if (nfeat == 0) {
        keel_error(KEEL_ERR_FORMAT, "%s: no feature columns besides the target", path);
        return NULL;
    }
    /* one-hot widths are user-controlled (max_categories): refuse a product that overflows or
     * that no machine holds, naming the numbers, before anything is allocated */
    double bytes = (double)rows * (double)nfeat * sizeof(float), mem = memory_bytes();
    if (nfeat > INT_MAX || rows > (INT64_MAX / 4) / nfeat || (mem > 0 && bytes > mem)) {
        keel_error(KEEL_ERR_ARG,
                   "%s: %lld rows x %lld features (one-hot columns included) is too large: "
                   "%.1f GB of floats, this machine has %.1f GB",
                   path, (long long)rows, (long long)nfeat, bytes / 1e9, mem / 1e9);
        return NULL;
    }
    keel_csv *res = keel_alloc(sizeof *res);
    if (!res) return NULL;
    /* x starts at zero: fill_values writes only the 1 of each one-hot block */
    res->n_features = (int)nfeat;
    res->n_train = rows;
    res->x = keel_tensor_new(KEEL_SHAPE(rows, nfeat));
    res->y = with_y ? keel_tensor_new(KEEL_SHAPE(rows, 1)) : NULL;
    res->feature_names = keel_alloc((size_t)nfeat * sizeof(char *));
    res->mean = keel_alloc((size_t)nfeat * sizeof(float));
    res->std = keel_alloc((size_t)nfeat * sizeof(float));
    if (!res->x || (with_y && !res->y) || !res->feature_names || !res->mean || !res->std) {
        if (!res->x)
            keel_error(KEEL_ERR_NOMEM, "%s: out of memory for %lld rows x %lld features", path,
                       (long long)rows, (long long)nfeat);
        keel_csv_free(res);
        return NULL;
    }
    /* names in feature order: "col" for a numeric column, "col=value" per category */
    for (int c = 0; c < ncols; c++) {
        const csv_col *col = &cols[c];
        if (col->role != COL_FEATURE) continue;
        char **name = res->feature_names + col->offset;
        if (!col->categorical && !(*name = keel_strdup(col->name))) goto fail;
        for (int k = 0; col->categorical && k < col->n_cats; k++) {
            size_t len = strlen(col->name) + strlen(col->cats[k]) + 2;
            if (!(name[k] = keel_alloc(len))) goto fail;
            snprintf(name[k], len, "%s=%s", col->name, col->cats[k]);
        }
    }
    return res;
fail:
    keel_csv_free(res);
    return NULL;
}

/* The last pass: values into res->x (one-hot for categorical columns) and res->y. map[c] is
 * the schema column of file column c (-1: not used). The checks here can fail only for a file
 * other than the fitted one (keel_csv_transform); `fitted` names that file in messages. */
static keel_status fill_values(csv_reader *r, const csv_col *cols, const int *map, int ncols,
                               keel_csv *res, const char *fitted) {
    const int64_t nfeat = res->n_features;
    int64_t row = 0;
    int got;
    rewind_data(r);
    while ((got = next_row(r, ncols)) == 1) {
        float *xr = res->x->data + row * nfeat;
        for (int c = 0; c < ncols; c++) {
            if (map[c] < 0 || cols[map[c]].role == COL_DROPPED) continue;
            const csv_col *col = &cols[map[c]];
            const char *f = r->fields[c];
            double v = 0;
            if (!f[0])
                KEEL_FAIL(KEEL_ERR_FORMAT, "%s:%lld: empty field in column \"%s\"", r->path,
                          (long long)r->rec_line, col->name);
            if (!col->categorical && !parse_number(f, &v))
                KEEL_FAIL(KEEL_ERR_FORMAT,
                          "%s:%lld: column \"%s\" holds \"%s\", not a number (it is numeric in %s)",
                          r->path, (long long)r->rec_line, col->name, f, fitted);
            if (col->role == COL_TARGET) {
                res->y->data[row] = (float)v;
            } else if (!col->categorical) {
                xr[col->offset] = (float)v;
            } else {
                char **hit = bsearch(&f, col->cats, (size_t)col->n_cats, sizeof(char *), cmp_str);
                if (!hit)
                    KEEL_FAIL(KEEL_ERR_FORMAT,
                              "%s:%lld: column \"%s\" holds \"%s\", a category not in %s (it has "
                              "%d: \"%s\", ...)",
                              r->path, (long long)r->rec_line, col->name, f, fitted, col->n_cats,
                              col->cats[0]);
                xr[col->offset + (hit - col->cats)] = 1.0f;
            }
        }
        row++;
    }
    return got < 0 ? (keel_status)got : KEEL_OK;
}

/* mean and population std of each feature over rows [0, n_train) (std 1 where it is 0) */
static void fit_scaler(keel_csv *res, int64_t n_train) {
    const int64_t nfeat = res->n_features;
    const float *x = res->x->data;
    /* two passes in double (mean, then squared deviations): one-pass sums of squares lose
     * the variance of features like prices whose mean is far larger than their spread */
    for (int64_t j = 0; j < nfeat; j++) {
        double s = 0, s2 = 0;
        for (int64_t r = 0; r < n_train; r++)
            s += x[r * nfeat + j];
        double mean = s / (double)n_train;
        for (int64_t r = 0; r < n_train; r++)
            s2 += (x[r * nfeat + j] - mean) * (x[r * nfeat + j] - mean);
        double sd = sqrt(s2 / (double)n_train);
        res->mean[j] = (float)mean;
        res->std[j] = (float)(sd > 0 ? sd : 1.0);
    }
}

static void apply_scaler(keel_csv *res) {
    const int64_t nfeat = res->n_features, rows = keel_tensor_dim(res->x, 0);
    float *x = res->x->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < nfeat; j++)
            x[r * nfeat + j] = (x[r * nfeat + j] - res->mean[j]) / res->std[j];
}

/* ---------------------------------------------------------------- keel_csv_load */

/* Column names from the header; marks the target and the dropped columns. */
static keel_status setup_columns(csv_reader *r, const keel_csv_opts *o, csv_col **out, int *nout,
                                 int **by_name) {
    /* *nout counts the names copied so far, so the caller frees exactly those on failure */
    int ncols = 0;
    keel_status st = read_header(r, &ncols);
    if (st) return st;
    csv_col *cols = keel_alloc((size_t)ncols * sizeof *cols);
    *out = cols, *nout = 0;
    if (!cols) return KEEL_ERR_NOMEM;
    for (int c = 0; c < ncols; c++, ++*nout)
        if (!(cols[c].name = keel_strdup(r->fields[c]))) return KEEL_ERR_NOMEM;
    if (!(*by_name = index_names(cols, ncols, r->path))) return KEEL_ERR_FORMAT;
    int t = find_col(cols, *by_name, ncols, o->target);
    if (t < 0) return no_such_column(r->path, cols, ncols, o->target, "");
    cols[t].role = COL_TARGET;
    /* a .drop name that matches nothing is an error, not a silent no-op: a typo there would
     * otherwise bring back the very column the user meant to drop */
    for (int i = 0; i < KEEL_CSV_MAX_DROP && o->drop[i]; i++) {
        int d = find_col(cols, *by_name, ncols, o->drop[i]);
        if (d < 0) return no_such_column(r->path, cols, ncols, o->drop[i], " to drop");
        if (d == t)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: \"%s\" is the target column and cannot be dropped",
                      r->path, o->drop[i]);
        cols[d].role = COL_DROPPED;
    }
    return KEEL_OK;
}

/* The decimal the user wrote for a float: the shortest one that reads back as the same float
 * (0.2f is stored as 0.2000000030; this gives the double 0.2, as Python has it). */
static double as_written(float v) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return strtod(buf, NULL);
}

/* floor(rows * (1 - split)) as Keras computes it in double from the decimal the user wrote:
 * with the float itself, floor(5 * (1 - 0.2000000030)) is 3 where Keras gets 4. */
static int64_t train_rows(int64_t rows, float split) {
    return (int64_t)floor((double)rows * (1.0 - as_written(split)));
}

static keel_status check_opts(const char *path, const keel_csv_opts *o) {
    if (!path || !o->target)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_csv_load: %s is NULL", path ? "target" : "path");
    if (!(o->validation_split >= 0 && o->validation_split < 1))
        KEEL_FAIL(KEEL_ERR_ARG, "keel_csv_load: validation_split must be in [0, 1), got %g",
                  (double)o->validation_split);
    if (o->max_categories < 0)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_csv_load: max_categories must be >= 0 (0: 100), got %d",
                  o->max_categories);
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r')
        KEEL_FAIL(KEEL_ERR_ARG, "keel_csv_load: the delimiter cannot be a quote or a line break");
    return KEEL_OK;
}

keel_csv *keel_csv_load_(const char *path, keel_csv_opts o) {
    if (check_opts(path, &o)) return NULL;
    /* a zero field is the default, as everywhere in keel's options */
    int max_cats = o.max_categories ? o.max_categories : DEFAULT_MAX_CATEGORIES;
    csv_reader r = {.delim = o.delimiter ? o.delimiter : ','};
    csv_col *cols = NULL;
    int ncols = 0, *by_name = NULL, *map = NULL;
    int64_t rows = 0, n_train;
    keel_csv *res = NULL;
    struct keel_csv_schema *schema = NULL;
    if (read_file(&r, path) || setup_columns(&r, &o, &cols, &ncols, &by_name) ||
        scan_types(&r, cols, ncols, &rows))
        goto fail;
    if (rows == 0) {
        keel_error(KEEL_ERR_FORMAT, "%s: needs a header row and at least one data row", path);
        goto fail;
    }
    /* the split is known before the values are read: the scaler needs only n_train */
    n_train = o.validation_split > 0 ? train_rows(rows, o.validation_split) : rows;
    if (o.validation_split > 0 && (n_train == 0 || n_train == rows)) {
        keel_error(KEEL_ERR_ARG, "%s: validation_split %g of %lld rows leaves an empty %s set",
                   path, (double)o.validation_split, (long long)rows,
                   n_train == 0 ? "training" : "validation");
        goto fail;
    }
    if (collect_categories(&r, cols, ncols, rows, max_cats) ||
        !(res = result_new(path, cols, ncols, layout(cols, ncols), rows, true)) ||
        !(map = keel_alloc((size_t)ncols * sizeof *map)))
        goto fail;
    /* fitting: each file column is its own schema column */
    for (int c = 0; c < ncols; c++)
        map[c] = c;
    if (fill_values(&r, cols, map, ncols, res, path)) goto fail;
    res->n_train = n_train;
    fit_scaler(res, n_train);
    if (o.standardize) apply_scaler(res);
    /* the columns move into the schema, for keel_csv_transform */
    if (!(schema = keel_alloc(sizeof *schema)) || !(schema->path = keel_strdup(path))) goto fail;
    schema->delim = r.delim, schema->standardize = o.standardize != 0;
    schema->ncols = ncols, schema->cols = cols, schema->by_name = by_name;
    res->schema = schema;
    keel_free(map);
    reader_free(&r);
    return res;
fail:
    if (schema) keel_free(schema->path);
    keel_free(schema);
    keel_csv_free(res);
    free_cols(cols, ncols);
    keel_free(by_name);
    keel_free(map);
    reader_free(&r);
    return NULL;
}

/* ---------------------------------------------------------------- keel_csv_transform */

/* map[c]: the fitted column that file column c is; checks every fitted column is there (the
 * target and dropped ones may be absent) and no unknown column is. *has_target: the target is
 * there. */
static keel_status match_columns(csv_reader *r, const struct keel_csv_schema *s, int ncols,
                                 int *map, bool *has_target) {
    char *seen = keel_alloc((size_t)s->ncols);
    if (!seen) return KEEL_ERR_NOMEM;
    keel_status st = KEEL_OK;
    *has_target = false;
    for (int c = 0; c < ncols && !st; c++) {
        map[c] = find_col(s->cols, s->by_name, s->ncols, r->fields[c]);
        if (map[c] < 0)
            st = keel_error(KEEL_ERR_FORMAT,
                            "%s: column \"%s\" is not in %s, the file the encoding was fitted on "
                            "(drop it there too with .drop, or remove it here)",
                            r->path, r->fields[c], s->path);
        else if (seen[map[c]]++)
            st = keel_error(KEEL_ERR_FORMAT, "%s: column name \"%s\" appears twice", r->path,
                            r->fields[c]);
        else if (s->cols[map[c]].role == COL_TARGET)
            *has_target = true;
    }
    for (int i = 0; i < s->ncols && !st; i++)
        if (!seen[i] && s->cols[i].role == COL_FEATURE)
            st = keel_error(KEEL_ERR_FORMAT, "%s: no column named \"%s\" (a feature column of %s)",
                            r->path, s->cols[i].name, s->path);
    keel_free(seen);
    return st;
}

keel_csv *keel_csv_transform(const keel_csv *fitted, const char *path) {
    if (!fitted || !path) {
        keel_error(KEEL_ERR_ARG, "keel_csv_transform: %s is NULL", path ? "fitted" : "path");
        return NULL;
    }
    const struct keel_csv_schema *s = fitted->schema;
    if (!s) {
        keel_error(KEEL_ERR_ARG, "keel_csv_transform: %s: `fitted` was not made by keel_csv_load",
                   path);
        return NULL;
    }
    csv_reader r = {.delim = s->delim};
    keel_csv *res = NULL;
    int ncols = 0, *map = NULL, got;
    int64_t rows = 0;
    bool has_target;
    if (read_file(&r, path) || read_header(&r, &ncols)) goto fail;
    if (!(map = keel_alloc((size_t)ncols * sizeof *map)) ||
        match_columns(&r, s, ncols, map, &has_target))
        goto fail;
    /* count the rows (and check their field counts) before allocating x */
    while ((got = next_row(&r, ncols)) == 1)
        rows++;
    if (got < 0) goto fail;
    if (rows == 0) {
        keel_error(KEEL_ERR_FORMAT, "%s: needs a header row and at least one data row", path);
        goto fail;
    }
    /* the layout and names come out as when fitting; the values are this file's */
    if (!(res = result_new(path, s->cols, s->ncols, fitted->n_features, rows, has_target)) ||
        fill_values(&r, s->cols, map, ncols, res, s->path))
        goto fail;
    /* the fitted statistics, never this file's: a test set must not shape its own scaler */
    memcpy(res->mean, fitted->mean, (size_t)res->n_features * sizeof(float));
    memcpy(res->std, fitted->std, (size_t)res->n_features * sizeof(float));
    if (s->standardize) apply_scaler(res);
    keel_free(map);
    reader_free(&r);
    return res;
fail:
    keel_csv_free(res);
    keel_free(map);
    reader_free(&r);
    return NULL;
}

/* ---------------------------------------------------------------- text columns */

void keel_strings_free(char **s, int64_t n) {
    for (int64_t i = 0; s && i < n; i++)
        keel_free(s[i]);
    keel_free(s);
}

/* Columns of strings, for text data (a review and its label): the same RFC 4180 reading as
 * keel_csv_load, no typing, no one-hot. */
keel_status keel_csv_read_columns(const char *path, int n, const char *const *names, char ***out,
                                  int64_t *rows) {
    if (!path || !names || !out || !rows || n < 1)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "keel_csv_read_columns: path, names, out and rows are required, n >= 1");
    for (int k = 0; k < n; k++)
        out[k] = NULL;
    *rows = 0;
    csv_reader r = {.delim = ','};
    keel_status st = read_file(&r, path);
    int ncols = 0, *col = keel_alloc((size_t)n * sizeof *col);
    if (!st && !col) st = KEEL_ERR_NOMEM;
    if (!st) st = read_header(&r, &ncols);
    for (int k = 0; !st && k < n; k++) { /* the header's names, as written */
        col[k] = -1;
        for (int c = 0; c < ncols; c++)
            if (names[k] && !strcmp(r.fields[c], names[k])) col[k] = c;
        if (col[k] < 0) {
            const char **all = keel_alloc((size_t)(ncols + 1) * sizeof *all);
            for (int c = 0; all && c < ncols; c++)
                all[c] = r.fields[c];
            const char *near = all && names[k] ? keel_nearest_name(names[k], all) : NULL;
            st = keel_error(KEEL_ERR_ARG, "%s: no column named \"%s\"%s%s%s", path,
                            names[k] ? names[k] : "(null)", near ? " (did you mean \"" : "",
                            near ? near : "", near ? "\"?)" : "");
            keel_free(all);
        }
    }
    int64_t count = 0, cap = 0;
    int got;
    while (!st && (got = next_row(&r, ncols)) != 0) {
        if (got < 0) {
            st = (keel_status)got;
            break;
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 1024;
            for (int k = 0; k < n && !st; k++) {
                char **grown = realloc(out[k], (size_t)cap * sizeof *grown);
                if (!grown)
                    st = keel_error(KEEL_ERR_NOMEM, "%s: out of memory at row %lld", path,
                                    (long long)count);
                else
                    out[k] = grown;
            }
        }
        for (int k = 0; k < n && !st; k++)
            if (!(out[k][count] = keel_strdup(r.fields[col[k]]))) st = KEEL_ERR_NOMEM;
        if (!st) count++;
    }
    if (!st && count == 0) st = keel_error(KEEL_ERR_FORMAT, "%s: no rows after the header", path);
    keel_free(col);
    reader_free(&r);
    for (int k = 0; st && k < n; k++) { /* nothing half-read is handed back */
        for (int64_t i = 0; out[k] && i < count; i++)
            keel_free(out[k][i]);
        keel_free(out[k]); /* keel_free is free(): realloc's blocks too */
        out[k] = NULL;
    }
    *rows = st ? 0 : count;
    return st;
}
