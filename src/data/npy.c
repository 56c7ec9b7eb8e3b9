/* npy.c: NumPy's .npy format (numpy/lib/format.py): keel_load_npy, keel_save_npy, and the
 * reader npz.c runs on each archive member.
 *
 * A .npy is the magic "\x93NUMPY", a version byte pair (1.0, 2.0 or 3.0), the header length
 * (2 bytes little-endian in 1.0, 4 in 2.0 and 3.0), the header (a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, padded with spaces to a newline
 * so that the data starts on a multiple of 64), then the values in C or Fortran order.
 *
 * Reading trusts nothing: the header is parsed by a small recursive-descent reader of exactly
 * the literal forms NumPy writes (no eval), capped at NumPy's own 10000 bytes; the shape's
 * product is checked for overflow; and the stream's length (the file's size, or the size the
 * zip directory gives a member) must equal header plus data before anything is allocated, so
 * a lying header costs nothing. The values are then converted in 64 KiB chunks straight into
 * the tensor: peak memory is the tensor alone.
 *
 * Writing produces NumPy 1.24's exact bytes for the same array (np.save), through a
 * temporary file in the same folder that is fsynced and renamed over the target: a failure
 * at any point leaves the target as it was. Not here: Fortran order, other dtypes, pickles. */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* NumPy's _MAX_HEADER_SIZE: np.load refuses longer headers unless told to trust the file. */
#define NPY_MAX_HEADER 10000
/* Values are converted through a buffer of this many bytes (a multiple of every itemsize). */
#define NPY_CHUNK ((int64_t)1 << 16)

/* The byte order keel writes is the host's: '<' on x86-64 and aarch64, where the data can be
 * written as it lies in memory; NumPy reads either. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NPY_HOST_ORDER '>'
#else
#define NPY_HOST_ORDER '<'
#endif

keel_status keel_npy_fail(const keel_npy_src *s, keel_status st, const char *fmt, ...) {
    char msg[KEEL_ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return keel_error(st, "%s: %s%s%s", s->path, s->member ? s->member : "", s->member ? ": " : "",
                      msg);
}

/* ---------------------------------------------------------------- the header */

/* What the header says, checked: a supported dtype, C order, a shape keel can hold. */
typedef struct npy_header {
    int64_t data_offset; /* bytes before the values: magic, length field, header text */
    char descr[24];      /* the dtype as written ('<f4'), for messages */
    char kind;           /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
    bool big;            /* big-endian values */
    int itemsize;        /* bytes per value */
    bool fortran;        /* fortran_order: True */
    int rank;            /* as in the file; 0 for a scalar */
    int64_t dims[KEEL_MAX_RANK];
    int64_t count, nbytes; /* values, and their bytes */
} npy_header;

/* A cursor over the header text, for the dict-literal parser. */
typedef struct hparse {
    const keel_npy_src *s;
    const char *text;
    size_t len, at;
} hparse;

/* White space as Python's tokenizer skips it between tokens (NumPy pads with spaces and ends
 * with a newline; hand-written headers may hold tabs or a CR). */
static void skip_ws(hparse *p) {
    while (p->at < p->len && p->text[p->at] && strchr(" \t\r\n", p->text[p->at]))
        p->at++;
}

/* The next byte, or -1 at the end of the header text (never a read past it). */
static int peek(const hparse *p) {
    return p->at < p->len ? (unsigned char)p->text[p->at] : -1;
}

/* A parse error: what was expected, what was found, and where. Hostile headers hold any
 * byte, so the character found is shown escaped when it is not printable. */
static keel_status syntax(const hparse *p, const char *expected) {
    char found[16];
    int c = peek(p);
    if (c < 0)
        snprintf(found, sizeof found, "the end");
    else if (c >= 0x20 && c < 0x7f)
        snprintf(found, sizeof found, "'%c'", c);
    else
        snprintf(found, sizeof found, "byte 0x%02x", c);
    return keel_npy_fail(
        p->s, KEEL_ERR_FORMAT,
        "header is not the dict literal NumPy writes: expected %s at header byte %zu, found %s",
        expected, p->at, found);
}

/* A string literal in single or double quotes, without escapes (NumPy's keys and simple
 * dtypes never have any), into out (cap bytes). */
static keel_status parse_string(hparse *p, char *out, size_t cap, const char *what) {
    int q = peek(p);
    if (q != '\'' && q != '"') return syntax(p, what);
    size_t start = ++p->at, n = 0;
    while (p->at < p->len && p->text[p->at] != q) {
        char c = p->text[p->at];
        /* a line break ends a Python string literal unclosed */
        if (c == '\n') return syntax(p, "the closing quote");
        if (c == '\\' || c == '\0') return syntax(p, "a string without escapes");
        p->at++, n++;
    }
    if (p->at >= p->len) return syntax(p, "the closing quote");
    p->at++;
    if (n >= cap)
        return keel_npy_fail(p->s, KEEL_ERR_FORMAT,
                             "header: string at header byte %zu is too long for %s (%zu bytes)",
                             start - 1, what, n);
    memcpy(out, p->text + start, n);
    out[n] = '\0';
    return KEEL_OK;
}

/* "float16" for ('f', 2): NumPy's name of a numeric dtype, for messages. */
static const char *dtype_name(char kind, int size, char *buf, size_t cap) {
    const char *base = kind == 'f'   ? "float"
                       : kind == 'i' ? "int"
                       : kind == 'u' ? "uint"
                       : kind == 'c' ? "complex"
                                     : NULL;
    if (kind == 'b' && size == 1) return "bool";
    if (!base || size <= 0 || size > 64) return NULL;
    snprintf(buf, cap, "%s%d", base, size * 8);
    return buf;
}

/* The 'descr' value: a simple dtype string keel reads, or a message saying what it is. */
static keel_status parse_descr(hparse *p, npy_header *h) {
    const keel_npy_src *s = p->s;
    int c = peek(p);
    if (c == '[')
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "the array has a structured dtype (a list of named fields), which "
                             "keel cannot read; save each field as its own array");
    if (c == '(')
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "the array has a sub-array dtype (descr is a tuple), which keel cannot read");
    if (parse_string(p, h->descr, sizeof h->descr, "descr") != KEEL_OK) return keel_last_status();
    const char *d = h->descr;
    char order = d[0];
    if (order != '<' && order != '>' && order != '|')
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "dtype '%s' has no byte order ('<', '>' or '|' first, as NumPy writes)", d);
    char kind = d[1];
    if (!kind) return keel_npy_fail(s, KEEL_ERR_FORMAT, "dtype '%s' names no type", d);
    if (kind == 'O')
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "the array holds Python objects (dtype '%s', pickled), which keel "
                             "cannot read; convert it to a numeric dtype in NumPy",
                             d);
    if (kind == 'V')
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "the array holds raw void records (dtype '%s'), which keel cannot read", d);
    if (kind == 'U' || kind == 'S' || kind == 'a')
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "the array holds strings (dtype '%s'), which keel cannot read as numbers", d);
    /* the item size: one or two decimal digits and nothing after */
    int size = 0, k = 2;
    while (d[k] >= '0' && d[k] <= '9' && k < 4)
        size = size * 10 + (d[k++] - '0');
    char namebuf[16];
    const char *name = k > 2 && !d[k] ? dtype_name(kind, size, namebuf, sizeof namebuf) : NULL;
    bool ok = (kind == 'f' && (size == 4 || size == 8)) ||
              (kind == 'i' && (size == 4 || size == 8)) || (kind == 'u' && size == 1) ||
              (kind == 'b' && size == 1);
    if (!ok || d[k])
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "dtype '%s'%s%s%s is not supported (keel reads float32, float64, "
                             "int32, int64, uint8 and bool)",
                             d, name ? " (" : "", name ? name : "", name ? ")" : "");
    if (order == '|' && size > 1)
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "dtype '%s' has no byte order for %d-byte values ('<' or '>' expected)", d, size);
    h->kind = kind, h->itemsize = size, h->big = order == '>';
    return KEEL_OK;
}

/* The 'fortran_order' value: True or False (check_shape decides whether keel can read it). */
static keel_status parse_order(hparse *p, npy_header *h) {
    if (p->len - p->at >= 5 && !memcmp(p->text + p->at, "False", 5)) {
        p->at += 5;
        return KEEL_OK;
    }
    if (p->len - p->at >= 4 && !memcmp(p->text + p->at, "True", 4)) {
        p->at += 4;
        h->fortran = true;
        return KEEL_OK;
    }
    return syntax(p, "True or False for fortran_order");
}

/* One dimension: decimal digits (a Python 2 'L' suffix allowed, as NumPy allows it), never
 * negative, never past int64. */
static keel_status parse_dim(hparse *p, int axis, int64_t *out) {
    bool neg = peek(p) == '-';
    if (neg) p->at++;
    int c = peek(p);
    if (c < '0' || c > '9') return syntax(p, "a whole number in the shape");
    int64_t v = 0;
    while ((c = peek(p)) >= '0' && c <= '9') {
        if (v > (INT64_MAX - (c - '0')) / 10)
            return keel_npy_fail(p->s, KEEL_ERR_FORMAT,
                                 "header: dimension %d of the shape is too large for 64 bits",
                                 axis);
        v = v * 10 + (c - '0');
        p->at++;
    }
    if (peek(p) == 'L') p->at++;
    if (neg && v)
        return keel_npy_fail(p->s, KEEL_ERR_FORMAT,
                             "header: dimension %d of the shape is negative (-%lld)", axis,
                             (long long)v);
    *out = v;
    return KEEL_OK;
}

/* The 'shape' value: a tuple of whole numbers, "()" for a scalar, "(5,)" for one axis. Axes
 * past KEEL_MAX_RANK are counted (for the message) but not kept. */
static keel_status parse_shape(hparse *p, npy_header *h) {
    if (peek(p) != '(') return syntax(p, "a tuple '(' for the shape");
    p->at++;
    h->rank = 0;
    bool comma = false;
    skip_ws(p);
    /* whole numbers separated by commas; a trailing comma is optional except after one */
    while (peek(p) != ')') {
        int64_t d = 0;
        if (parse_dim(p, h->rank, &d) != KEEL_OK) return keel_last_status();
        if (h->rank < KEEL_MAX_RANK) h->dims[h->rank] = d;
        h->rank++;
        skip_ws(p);
        comma = peek(p) == ',';
        if (comma) {
            p->at++;
            skip_ws(p);
        } else if (peek(p) != ')') {
            return syntax(p, "',' or ')' in the shape");
        }
    }
    /* "(3)" is the number 3 in Python, not a tuple: NumPy refuses it */
    if (h->rank == 1 && !comma) return syntax(p, "',' after the only dimension (a tuple)");
    p->at++;
    return KEEL_OK;
}

/* The header text: exactly the keys descr, fortran_order and shape, each once, in any
 * order, then nothing but white space. */
static keel_status parse_dict(const keel_npy_src *s, const char *text, size_t len, npy_header *h) {
    hparse p = {s, text, len, 0};
    bool seen[3] = {false, false, false};
    static const char *const keys[] = {"descr", "fortran_order", "shape", NULL};
    skip_ws(&p);
    if (peek(&p) != '{') return syntax(&p, "'{'");
    p.at++;
    /* key: value pairs, separated by commas, a trailing one allowed (NumPy writes one) */
    for (;;) {
        skip_ws(&p);
        if (peek(&p) == '}') break;
        /* keys are short; a longer string cannot be one of the three */
        char key[32];
        if (parse_string(&p, key, sizeof key, "a key in quotes") != KEEL_OK)
            return keel_last_status();
        int k = 0;
        while (keys[k] && strcmp(keys[k], key))
            k++;
        if (!keys[k])
            return keel_npy_fail(
                s, KEEL_ERR_FORMAT,
                "header has the key '%s'; a .npy header has exactly descr, fortran_order and shape",
                key);
        if (seen[k]) return keel_npy_fail(s, KEEL_ERR_FORMAT, "header has the key '%s' twice", key);
        seen[k] = true;
        skip_ws(&p);
        if (peek(&p) != ':') return syntax(&p, "':' after the key");
        p.at++;
        skip_ws(&p);
        keel_status st = k == 0   ? parse_descr(&p, h)
                         : k == 1 ? parse_order(&p, h)
                                  : parse_shape(&p, h);
        if (st != KEEL_OK) return st;
        skip_ws(&p);
        if (peek(&p) == ',') {
            p.at++;
        } else if (peek(&p) != '}') {
            return syntax(&p, "',' or '}' after a value");
        }
    }
    p.at++;
    skip_ws(&p);
    if (p.at < p.len) return syntax(&p, "only spaces after the closing '}'");
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return keel_npy_fail(s, KEEL_ERR_FORMAT, "header lacks the key '%s'", keys[k]);
    return KEEL_OK;
}

/* Reads exactly n bytes, or says the stream ended first. */
static keel_status read_exact(keel_npy_src *s, void *buf, int64_t n, const char *what) {
    int64_t at = s->offset, got = s->read(s, buf, n);
    if (got < 0) return keel_last_status();
    if (got < n)
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT, "truncated: the %s ends at byte %lld, %lld bytes short of %s",
            s->member ? "member" : "file", (long long)(at + got), (long long)(n - got), what);
    return KEEL_OK;
}

/* Magic, version, header length and header: fills h, leaving s at the first value. */
static keel_status read_header(keel_npy_src *s, npy_header *h) {
    unsigned char pre[12];
    if (s->length < 10)
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "%lld bytes are too few for a .npy file (magic, version and header length take 10)",
            (long long)s->length);
    if (read_exact(s, pre, 8, "the magic and version") != KEEL_OK) return keel_last_status();
    if (memcmp(pre, "\x93NUMPY", 6))
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "not a .npy file (it does not start with the magic \\x93NUMPY)");
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             ".npy format version %d.%d is not one keel reads (1.0, 2.0, 3.0)",
                             major, minor);
    /* the header length: 2 bytes in 1.0, 4 since 2.0, little-endian */
    int lbytes = major == 1 ? 2 : 4;
    if (read_exact(s, pre + 8, lbytes, "the header length") != KEEL_OK) return keel_last_status();
    uint32_t hlen = pre[8] | (uint32_t)pre[9] << 8;
    if (lbytes == 4) hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER)
        return keel_npy_fail(s, KEEL_ERR_FORMAT, "header of %u bytes is over NumPy's limit of %d",
                             hlen, NPY_MAX_HEADER);
    h->data_offset = 8 + lbytes + (int64_t)hlen;
    if (h->data_offset > s->length)
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT, "truncated: the header ends at byte %lld, the %s has %lld bytes",
            (long long)h->data_offset, s->member ? "member" : "file", (long long)s->length);
    /* the text on the stack: the cap above keeps it small, and a hostile length cannot make
     * keel allocate anything */
    char text[NPY_MAX_HEADER];
    if (read_exact(s, text, hlen, "the header") != KEEL_OK) return keel_last_status();
    return parse_dict(s, text, hlen, h);
}

/* The shape's size: the product of the dimensions, refused when the nonzero ones overflow
 * (as NumPy refuses (0, 2**62, 2**62)), and the data bytes; then the rank keel can hold. */
static keel_status check_shape(const keel_npy_src *s, npy_header *h) {
    char shape[256];
    int64_t prod = 1;
    bool empty = false;
    if (h->rank > KEEL_MAX_RANK)
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "the array has %d axes, more than keel's tensors hold (%d)", h->rank,
                             KEEL_MAX_RANK);
    for (int i = 0; i < h->rank; i++) {
        if (h->dims[i] == 0) {
            empty = true;
            continue;
        }
        /* the bound leaves room for 8-byte values, and for keel's float copies */
        if (prod > INT64_MAX / 8 / h->dims[i])
            return keel_npy_fail(s, KEEL_ERR_FORMAT, "shape %s has more values than fit in memory",
                                 keel_dims_str(h->rank, h->dims, false, shape, sizeof shape));
        prod *= h->dims[i];
    }
    /* Fortran order is C order when at most one axis is longer than 1 (a vector, as MATLAB's
     * and Julia's writers mark every array); otherwise keel would need a transpose */
    int long_axes = 0;
    for (int i = 0; i < h->rank; i++)
        long_axes += h->dims[i] > 1;
    if (h->fortran && long_axes > 1)
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "the array is in Fortran order (fortran_order: True); keel reads C "
                             "order only: save np.ascontiguousarray(a) instead");
    h->count = empty ? 0 : prod;
    h->nbytes = h->count * h->itemsize;
    /* the declared length against the real one, before the tensor is allocated: a header
     * claiming terabytes in a small file is refused here, at no cost */
    int64_t want = h->data_offset + h->nbytes;
    if (want == s->length) return KEEL_OK;
    const char *what = s->member ? "member" : "file";
    keel_dims_str(h->rank, h->dims, false, shape, sizeof shape);
    if (want > s->length)
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "truncated: the header declares a %s '%s' array (%lld bytes after a "
                             "%lld-byte header), the %s has %lld",
                             shape, h->descr, (long long)h->nbytes, (long long)h->data_offset, what,
                             (long long)(s->length - h->data_offset));
    return keel_npy_fail(s, KEEL_ERR_FORMAT,
                         "the %s holds %lld bytes after the %s '%s' array its header declares "
                         "(%lld bytes): a wrong shape or a corrupt file",
                         what, (long long)(s->length - want), shape, h->descr,
                         (long long)h->nbytes);
}

/* ---------------------------------------------------------------- values */

/* A 4- or 8-byte value in the file's byte order, assembled byte by byte: the same code on any
 * host, with no byte-order test (a compiler may fuse the shifts into one load). */
static uint32_t ld32(const unsigned char *b, bool big) {
    return big ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]
               : (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static uint64_t ld64(const unsigned char *b, bool big) {
    uint64_t hi = ld32(big ? b : b + 4, big), lo = ld32(big ? b + 4 : b, big);
    return hi << 32 | lo;
}

/* Converts k values from raw (the file's bytes) into the tensor at value index first. Only
 * int64 can fail: a value outside int32. */
static keel_status convert(const keel_npy_src *s, const npy_header *h, const unsigned char *raw,
                           int64_t k, keel_tensor *t, int64_t first) {
    /* uint8, bool and the floats land in a float32 tensor; the integers in an int32 one */
    float *f = t->data ? t->data + first : NULL;
    int32_t *n = t->ints ? t->ints + first : NULL;
    for (int64_t i = 0; i < k; i++) {
        const unsigned char *b = raw + i * h->itemsize;
        switch (h->kind) {
        case 'u': f[i] = (float)b[0]; break;
        case 'b': f[i] = b[0] ? 1.0f : 0.0f; break; /* any nonzero byte is True, as in NumPy */
        case 'f':
            if (h->itemsize == 4) {
                uint32_t u = ld32(b, h->big);
                memcpy(&f[i], &u, 4);
            } else {
                uint64_t u = ld64(b, h->big);
                double v;
                memcpy(&v, &u, 8);
                f[i] = (float)v; /* nearest; +-inf beyond float32, as astype does */
            }
            break;
        case 'i':
            if (h->itemsize == 4) {
                n[i] = (int32_t)ld32(b, h->big);
            } else {
                int64_t v = (int64_t)ld64(b, h->big);
                if (v < INT32_MIN || v > INT32_MAX)
                    return keel_npy_fail(s, KEEL_ERR_FORMAT,
                                         "int64 value %lld at index %lld (C order) does not fit "
                                         "keel's int32 tensors",
                                         (long long)v, (long long)(first + i));
                n[i] = (int32_t)v;
            }
            break;
        }
    }
    return KEEL_OK;
}

/* The values, chunk by chunk, then a check that the stream ends there (for a zip member,
 * reading to the end is what makes libzip check the CRC). */
static keel_status read_values(keel_npy_src *s, const npy_header *h, keel_tensor *t) {
    unsigned char *buf = h->count ? keel_alloc((size_t)KEEL_MIN(NPY_CHUNK, h->nbytes)) : NULL;
    if (h->count && !buf) return keel_npy_fail(s, KEEL_ERR_NOMEM, "out of memory");
    keel_status st = KEEL_OK;
    /* whole values per chunk, so that no value straddles two reads */
    for (int64_t done = 0; done < h->count && st == KEEL_OK;) {
        int64_t k = KEEL_MIN(h->count - done, NPY_CHUNK / h->itemsize);
        st = read_exact(s, buf, k * h->itemsize, "the data");
        if (st == KEEL_OK) st = convert(s, h, buf, k, t, done);
        done += k;
    }
    keel_free(buf);
    if (st != KEEL_OK) return st;
    unsigned char extra;
    int64_t more = s->read(s, &extra, 1);
    if (more < 0) return keel_last_status();
    if (more > 0)
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "bytes after the data its header declares at byte %lld (the %s grew "
                             "or its size is wrong)",
                             (long long)(s->offset - 1), s->member ? "member" : "file");
    return KEEL_OK;
}

keel_tensor *keel_npy_read(keel_npy_src *s) {
    npy_header h;
    memset(&h, 0, sizeof h);
    if (read_header(s, &h) != KEEL_OK || check_shape(s, &h) != KEEL_OK) return NULL;
    /* a scalar (shape ()) becomes one value of shape (1,): keel's tensors have an axis */
    int rank = h.rank ? h.rank : 1;
    int64_t one = 1;
    const int64_t *dims = h.rank ? h.dims : &one;
    keel_tensor *t =
        h.kind == 'i' ? keel_tensor_new_int32(rank, dims) : keel_tensor_new(rank, dims);
    if (!t) {
        keel_npy_fail(s, keel_last_status(), "%s", keel_last_error());
        return NULL;
    }
    if (read_values(s, &h, t) != KEEL_OK) {
        keel_tensor_free(t);
        return NULL;
    }
    return t;
}

/* ---------------------------------------------------------------- plain files */

/* read(2) until n bytes or the end, through EINTR and short reads. */
static int64_t fd_read(keel_npy_src *s, void *buf, int64_t n) {
    int fd = (int)(intptr_t)s->handle;
    int64_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, (size_t)KEEL_MIN(n - got, (int64_t)1 << 30));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            keel_npy_fail(s, KEEL_ERR_IO, "read error at byte %lld (%s)",
                          (long long)(s->offset + got), strerror(errno));
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    s->offset += got;
    return got;
}

/* Plain files are read with open/read rather than stdio: the size comes from fstat on the
 * same descriptor, and no stdio buffer sits between the file and the 64 KiB chunks. */
keel_tensor *keel_load_npy(const char *path) {
    if (!path) {
        keel_error(KEEL_ERR_ARG, "keel_load_npy: path is NULL");
        return NULL;
    }
    keel_npy_src s = {.path = path, .read = fd_read};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        keel_npy_fail(&s, KEEL_ERR_IO, "cannot open (%s)", strerror(errno));
        return NULL;
    }
    /* the size is what the header must account for; a directory or a pipe has none */
    struct stat sb;
    keel_tensor *t = NULL;
    if (fstat(fd, &sb) != 0)
        keel_npy_fail(&s, KEEL_ERR_IO, "cannot stat (%s)", strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        keel_npy_fail(&s, KEEL_ERR_IO, "is a directory, not a .npy file");
    else if (!S_ISREG(sb.st_mode))
        keel_npy_fail(&s, KEEL_ERR_IO, "is not a regular file (keel reads .npy files by size)");
    else {
        s.handle = (void *)(intptr_t)fd;
        s.length = (int64_t)sb.st_size;
        t = keel_npy_read(&s);
    }
    close(fd);
    return t;
}

/* ---------------------------------------------------------------- writing */

size_t keel_npy_header(const keel_tensor *t, char *buf) {
    /* the dict as NumPy 1.24 writes it: sorted keys, repr of the shape, a trailing ", " */
    char dict[KEEL_NPY_HEADER_CAP], shape[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': %s, }",
                     NPY_HOST_ORDER, t->dtype == KEEL_INT32 ? "i4" : "f4",
                     keel_dims_str(t->rank, t->dims, false, shape, sizeof shape));
    /* spare spaces so that the first axis can grow in place to 21 digits (numpy >= 1.23) */
    char first[24];
    int growth = 21 - snprintf(first, sizeof first, "%lld", (long long)t->dims[0]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%*s", KEEL_MAX(growth, 0), "");
    /* then spaces and a newline up to a multiple of 64 with the 10 bytes before; NumPy pads a
     * full 64 when it is already aligned, and so does this */
    int hlen = n + 1, pad = 64 - (10 + hlen) % 64;
    KEEL_ASSERT(10 + hlen + pad <= KEEL_NPY_HEADER_CAP);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((hlen + pad) & 0xff), buf[9] = (char)((hlen + pad) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', (size_t)pad);
    buf[10 + n + pad] = '\n';
    return (size_t)(10 + hlen + pad);
}

char *keel_npy_temp_name(const char *path) {
    static unsigned counter; /* with the pid, keeps concurrent saves apart */
    size_t cap = strlen(path) + 48;
    char *tmp = keel_alloc(cap);
    if (!tmp) return NULL;
    /* in the target's folder, so that the rename stays on one file system and is atomic */
    for (;;) {
        unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        snprintf(tmp, cap, "%s.tmp.%d.%u", path, (int)getpid(), k);
        /* an existing name is skipped; a race past this check is caught by O_EXCL */
        if (access(tmp, F_OK) != 0) return tmp;
    }
}

/* fsync of the folder holding path, so the rename itself survives a crash; best effort
 * (some file systems refuse to sync a directory). */
static void sync_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? keel_strdup(path) : keel_strdup(".");
    if (!dir) return;
    if (slash) dir[slash == path ? 1 : slash - path] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    keel_free(dir);
}

keel_status keel_npy_commit(const char *fn, const char *tmp, const char *path) {
    /* the data on disk before the name points at it: after a crash, path holds the old file
     * or the new one, never a new name over unwritten blocks */
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        unlink(tmp);
        KEEL_FAIL(KEEL_ERR_IO, "%s: %s: cannot flush the written file (%s)", fn, path, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        KEEL_FAIL(KEEL_ERR_IO, "%s: %s: cannot replace it with the written file (%s)", fn, path,
                  strerror(e));
    }
    sync_folder(path);
    return KEEL_OK;
}

/* write(2) of all n bytes, through EINTR and short writes; false with errno on failure. */
static bool write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, KEEL_MIN(n, (size_t)1 << 30));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return false;
        }
        c += w, n -= (size_t)w;
    }
    return true;
}

keel_status keel_npy_write_atomic(const char *fn, const char *path, int n, const void *const *ptrs,
                                  const size_t *lens) {
    char *tmp = NULL;
    int fd = -1;
    /* O_EXCL: never write through a name another process created meanwhile */
    for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
        keel_free(tmp);
        if (!(tmp = keel_npy_temp_name(path))) return keel_last_status();
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        keel_free(tmp);
        KEEL_FAIL(KEEL_ERR_IO, "%s: %s: cannot create a file there (%s)", fn, path, strerror(e));
    }
    for (int i = 0; i < n; i++) {
        if (!write_all(fd, ptrs[i], lens[i])) {
            int e = errno;
            close(fd);
            unlink(tmp);
            keel_free(tmp);
            KEEL_FAIL(KEEL_ERR_IO, "%s: %s: cannot write (%s)", fn, path, strerror(e));
        }
    }
    /* close reports delayed write errors (NFS, quotas): a failed close is a failed save */
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        keel_free(tmp);
        KEEL_FAIL(KEEL_ERR_IO, "%s: %s: cannot write (%s)", fn, path, strerror(e));
    }
    keel_status st = keel_npy_commit(fn, tmp, path);
    keel_free(tmp);
    return st;
}

keel_status keel_save_npy(const char *path, const keel_tensor *t) {
    if (!path || !t)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_save_npy: %s is NULL", path ? "the tensor" : "path");
    if (t->n_list)
        KEEL_FAIL(
            KEEL_ERR_ARG,
            "keel_save_npy: %s: the tensor is a list (save its members, or use keel_save_npz)",
            path);
    /* the header, then the values as they lie in memory (host order, which the header names) */
    char header[KEEL_NPY_HEADER_CAP];
    const void *ptrs[2] = {header, t->dtype == KEEL_INT32 ? (void *)t->ints : (void *)t->data};
    size_t lens[2] = {keel_npy_header(t, header), (size_t)t->size * 4};
    return keel_npy_write_atomic("keel_save_npy", path, 2, ptrs, lens);
}
