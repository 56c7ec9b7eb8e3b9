/* idx.c: IDX files (the MNIST format), gzipped or plain, read through zlib.
 *
 * Header: two zero bytes, a type byte, a rank byte, then rank big-endian uint32 dimensions;
 * then the values, big-endian. The data are read in chunks into a buffer that grows only as
 * bytes actually arrive, so a hostile header that declares huge dimensions cannot make keel
 * allocate more than the file holds. A failed gzread is told apart from a short file: zlib's
 * reason ("incorrect data check" for a bad CRC, "unexpected end of file") is in the message,
 * and a directory is refused before zlib sees it. */
#include "../core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* More values than this in a header is refused before any reading (4 TiB of floats). */
#define IDX_MAX_VALUES ((int64_t)1 << 40)

/* What the header says: the value type, its size in bytes, and the shape. */
typedef struct idx_header {
    int type, rank, esize;
    int64_t dims[KEEL_MAX_RANK], total;
} idx_header;

/* Records why gzread returned got < 0: an I/O error, or zlib's word on corrupt data. */
static keel_status gz_failed(gzFile f, const char *path, int64_t offset) {
    int code;
    const char *why = gzerror(f, &code);
    if (code == Z_ERRNO)
        return keel_error(KEEL_ERR_IO, "%s: read error at offset %lld (%s)", path,
                          (long long)offset, strerror(errno));
    /* zlib prefixes its reason with the file's name, "<fd:N>" here: keep the reason only */
    const char *colon = why ? strstr(why, ": ") : NULL;
    if (colon && !strncmp(why, "<fd:", 4)) why = colon + 2;
    return keel_error(KEEL_ERR_FORMAT, "%s: offset %lld: corrupt gzip data (%s)", path,
                      (long long)offset, why && *why ? why : "zlib error");
}

/* Opens path for gzread, refusing what is not a regular file (a directory would otherwise
 * read as an empty, "too short" file). */
static keel_status idx_open(const char *path, gzFile *out) {
    errno = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) KEEL_FAIL(KEEL_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        KEEL_FAIL(KEEL_ERR_IO, "%s: is a directory, not an IDX file", path);
    }
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        KEEL_FAIL(KEEL_ERR_NOMEM, "%s: cannot open (zlib: out of memory)", path);
    }
    *out = f;
    return KEEL_OK;
}

/* Reads and checks the magic, type, rank and dimensions; the number of values must stay
 * under IDX_MAX_VALUES, so total * esize cannot overflow. */
static keel_status read_header(gzFile f, const char *path, idx_header *h) {
    /* the magic: two zero bytes, the type, the rank */
    unsigned char b[4];
    int got = gzread(f, b, 4);
    if (got < 0) return gz_failed(f, path, 0);
    if (got != 4)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: offset 0: file too short for an IDX header (%d bytes)",
                  path, got);
    if (b[0] != 0 || b[1] != 0)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: offset 0: bad IDX magic (the first two bytes must be zero)",
                  path);
    h->type = b[2], h->rank = b[3];
    /* 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64 */
    switch (h->type) {
    case 0x08:
    case 0x09: h->esize = 1; break;
    case 0x0B: h->esize = 2; break;
    case 0x0C:
    case 0x0D: h->esize = 4; break;
    case 0x0E: h->esize = 8; break;
    default:
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: offset 2: unknown IDX data type 0x%02x", path, h->type);
    }
    if (h->rank < 1 || h->rank > KEEL_MAX_RANK)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: offset 3: IDX rank %d out of range (1..%d)", path, h->rank,
                  KEEL_MAX_RANK);
    h->total = 1;
    for (int i = 0; i < h->rank; i++) {
        int off = 4 + 4 * i;
        if ((got = gzread(f, b, 4)) < 0) return gz_failed(f, path, off);
        if (got != 4)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: offset %d: file ends inside the header (dimension %d)",
                      path, off, i);
        int64_t d = ((int64_t)b[0] << 24) | ((int64_t)b[1] << 16) | ((int64_t)b[2] << 8) | b[3];
        if (d == 0) KEEL_FAIL(KEEL_ERR_FORMAT, "%s: offset %d: dimension %d is zero", path, off, i);
        /* the bound is checked before the product, which therefore never overflows */
        if (h->total > IDX_MAX_VALUES / d)
            KEEL_FAIL(KEEL_ERR_FORMAT,
                      "%s: offset %d: declared size too large: %lld values so far times dimension "
                      "%d = %lld is over 2^40",
                      path, off, (long long)h->total, i, (long long)d);
        h->dims[i] = d;
        h->total *= d;
    }
    return KEEL_OK;
}

/* Reads the declared data into a new *buf, growing it only as bytes arrive, and checks that
 * nothing follows. */
static keel_status read_body(gzFile f, const char *path, const idx_header *h, unsigned char **buf) {
    const int64_t start = 4 + 4 * h->rank, want = h->total * h->esize;
    int64_t have = 0, cap = 0;
    *buf = NULL;
    while (have < want) {
        if (have == cap) {
            /* grow by doubling from 1 MiB, never past what the header declares */
            int64_t ncap = KEEL_MIN(want, KEEL_MAX(cap * 2, (int64_t)1 << 20));
            unsigned char *nb = keel_alloc((size_t)ncap);
            if (!nb)
                KEEL_FAIL(KEEL_ERR_NOMEM, "%s: out of memory reading %lld bytes", path,
                          (long long)want);
            if (have) memcpy(nb, *buf, (size_t)have);
            keel_free(*buf);
            *buf = nb, cap = ncap;
        }
        /* gzread takes an unsigned count and returns an int: at most 1 GiB a call */
        int got = gzread(f, *buf + have, (unsigned)KEEL_MIN(cap - have, (int64_t)1 << 30));
        if (got < 0) return gz_failed(f, path, start + have);
        if (got == 0) break;
        have += got;
    }
    if (have < want)
        KEEL_FAIL(KEEL_ERR_FORMAT,
                  "%s: truncated: the header declares %lld data bytes, the file has %lld", path,
                  (long long)want, (long long)have);
    /* bytes past the declared data mean the header is wrong about the shape: refuse rather
     * than silently return a prefix of the file */
    unsigned char extra;
    int more = gzread(f, &extra, 1);
    if (more < 0) return gz_failed(f, path, start + want);
    if (more > 0)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: offset %lld: unexpected bytes after the declared data",
                  path, (long long)(start + want));
    return KEEL_OK;
}

/* Big-endian values of the header's type into floats. */
static void convert(const idx_header *h, const unsigned char *buf, float *out) {
    for (int64_t i = 0; i < h->total; i++) {
        const unsigned char *p = buf + i * h->esize;
        /* the value's bytes as one big-endian integer, reinterpreted by type below */
        uint64_t u = 0;
        for (int k = 0; k < h->esize; k++)
            u = (u << 8) | p[k];
        switch (h->type) {
        case 0x08: out[i] = (float)p[0]; break;
        case 0x09: out[i] = (float)(signed char)p[0]; break;
        case 0x0B: out[i] = (float)(int16_t)(uint16_t)u; break;
        case 0x0C: out[i] = (float)(int32_t)(uint32_t)u; break;
        case 0x0D: {
            uint32_t u32 = (uint32_t)u;
            float v;
            memcpy(&v, &u32, 4);
            out[i] = v;
            break;
        }
        case 0x0E: {
            double v;
            memcpy(&v, &u, 8);
            out[i] = (float)v;
            break;
        }
        }
    }
}

keel_tensor *keel_load_idx(const char *path) {
    if (!path) {
        keel_error(KEEL_ERR_ARG, "keel_load_idx: path is NULL");
        return NULL;
    }
    gzFile f = NULL;
    if (idx_open(path, &f)) return NULL;
    idx_header h;
    unsigned char *buf = NULL;
    keel_tensor *t = NULL;
    /* the tensor is made only once all the data has arrived: a truncated file costs what it
     * holds, not what its header claims */
    if (read_header(f, path, &h) == KEEL_OK && read_body(f, path, &h, &buf) == KEEL_OK &&
        (t = keel_tensor_new(h.rank, h.dims)))
        convert(&h, buf, t->data);
    gzclose(f);
    keel_free(buf);
    return t;
}
