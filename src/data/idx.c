/* idx.c: IDX files (the MNIST format), gzipped or plain, read through zlib.
 *
 * Header: two zero bytes, a type byte, a rank byte, then rank big-endian uint32 dimensions;
 * then the values, big-endian. The data are read in chunks into a buffer that grows only as
 * bytes actually arrive, so a hostile header that declares huge dimensions cannot make keel
 * allocate more than the file holds. */
#include "../core.h"

#include <errno.h>
#include <stdio.h>
#include <zlib.h>

/* records the error and jumps to the cleanup at the end of keel_load_idx */
#define BAD(st, ...)                                                                              \
    do {                                                                                          \
        keel_error((st), __VA_ARGS__);                                                            \
        goto fail;                                                                                \
    } while (0)

keel_tensor *keel_load_idx(const char *path) {
    if (!path) {
        keel_error(KEEL_ERR_ARG, "keel_load_idx: path is NULL");
        return NULL;
    }
    errno = 0;
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        keel_error(KEEL_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    fclose(probe);
    unsigned char *buf = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) BAD(KEEL_ERR_IO, "%s: cannot open", path);
    unsigned char h[4];
    if (gzread(f, h, 4) != 4) BAD(KEEL_ERR_FORMAT, "%s: offset 0: file too short for an IDX header", path);
    if (h[0] != 0 || h[1] != 0)
        BAD(KEEL_ERR_FORMAT, "%s: offset 0: bad IDX magic (the first two bytes must be zero)", path);
    int type = h[2], rank = h[3], esize;
    switch (type) {
    case 0x08: case 0x09: esize = 1; break;
    case 0x0B: esize = 2; break;
    case 0x0C: case 0x0D: esize = 4; break;
    case 0x0E: esize = 8; break;
    default: BAD(KEEL_ERR_FORMAT, "%s: offset 2: unknown IDX data type 0x%02x", path, type);
    }
    if (rank < 1 || rank > KEEL_MAX_RANK)
        BAD(KEEL_ERR_FORMAT, "%s: offset 3: IDX rank %d out of range (1..8)", path, rank);
    int64_t dims[KEEL_MAX_RANK], total = 1;
    for (int i = 0; i < rank; i++) {
        unsigned char d[4];
        if (gzread(f, d, 4) != 4)
            BAD(KEEL_ERR_FORMAT, "%s: offset %d: file ends inside the header (dimension %d)", path, 4 + 4 * i, i);
        dims[i] = ((int64_t)d[0] << 24) | ((int64_t)d[1] << 16) | ((int64_t)d[2] << 8) | d[3];
        if (dims[i] == 0)
            BAD(KEEL_ERR_FORMAT, "%s: offset %d: dimension %d is zero", path, 4 + 4 * i, i);
        if (total > ((int64_t)1 << 40) / dims[i])
            BAD(KEEL_ERR_FORMAT, "%s: offset %d: declared size too large", path, 4 + 4 * i);
        total *= dims[i];
    }
    int64_t want = total * esize, have = 0, cap = 0;
    while (have < want) {
        if (have == cap) {
            int64_t ncap = KEEL_MIN(want, KEEL_MAX(cap * 2, (int64_t)1 << 20));
            unsigned char *nb = keel_alloc((size_t)ncap);
            if (!nb) BAD(KEEL_ERR_NOMEM, "%s: out of memory reading %lld bytes", path, (long long)want);
            if (have) memcpy(nb, buf, (size_t)have);
            keel_free(buf);
            buf = nb, cap = ncap;
        }
        int chunk = (int)KEEL_MIN(cap - have, (int64_t)1 << 30);
        int got = gzread(f, buf + have, (unsigned)chunk);
        if (got < 0) BAD(KEEL_ERR_FORMAT, "%s: offset %lld: corrupt compressed data", path, (long long)(4 + 4 * rank + have));
        if (got == 0) break;
        have += got;
    }
    if (have < want)
        BAD(KEEL_ERR_FORMAT, "%s: truncated: the header declares %lld data bytes, the file has %lld", path,
            (long long)want, (long long)have);
    unsigned char extra;
    int more = gzread(f, &extra, 1);
    if (more != 0)
        BAD(KEEL_ERR_FORMAT, "%s: offset %lld: unexpected bytes after the declared data", path,
            (long long)(4 + 4 * rank + want));
    gzclose(f);
    keel_tensor *t = keel_tensor_new(rank, dims);
    if (!t) {
        keel_free(buf);
        return NULL;
    }
    for (int64_t i = 0; i < total; i++) {
        const unsigned char *p = buf + i * esize;
        switch (type) {
        case 0x08: t->data[i] = (float)p[0]; break;
        case 0x09: t->data[i] = (float)(signed char)p[0]; break;
        case 0x0B: t->data[i] = (float)(int16_t)((p[0] << 8) | p[1]); break;
        case 0x0C: t->data[i] = (float)(int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]); break;
        case 0x0D: {
            uint32_t u = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
            float v;
            memcpy(&v, &u, 4);
            t->data[i] = v;
            break;
        }
        case 0x0E: {
            uint64_t u = 0;
            for (int k = 0; k < 8; k++) u = (u << 8) | p[k];
            double v;
            memcpy(&v, &u, 8);
            t->data[i] = (float)v;
            break;
        }
        }
    }
    keel_free(buf);
    return t;
fail:
    if (f) gzclose(f);
    keel_free(buf);
    return NULL;
}
