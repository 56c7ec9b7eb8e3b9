/* fuzz_idx.c: keel_load_idx on arbitrary bytes, plain or gzipped.
 *
 * Input: if byte 0 is odd, the rest is gzip-compressed here before it is written, so that the
 * IDX parser behind zlib sees mutated headers and data in a valid gzip stream (mutating the
 * compressed bytes directly mostly tests zlib's CRC check, which plain inputs with a gzip
 * magic also reach). A loaded tensor must hold exactly the values the header declares. */
#include "fuzz_util.h"

#include <keel.h>
#include <stdbool.h>
#include <zlib.h>

static uint8_t *gzip(const uint8_t *data, size_t size, size_t *out_size) {
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, size);
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)data, z.avail_in = (uInt)size;
    z.next_out = out, z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_size = z.total_out;
    deflateEnd(&z);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *body = data + 1;
    size_t n = size - 1, zn = 0;
    uint8_t *z = NULL;
    if (data[0] & 1) body = z = gzip(body, n, &zn), n = zn;
    keel_tensor *t = keel_load_idx(fuzz_file(body, n));
    const uint8_t *raw = data + 1;
    bool gz_inside = !(data[0] & 1) && n >= 2 && raw[0] == 0x1f && raw[1] == 0x8b;
    if (t && !gz_inside) {
        /* the values fill the file exactly: 4 + 4 * rank header bytes, then size * esize */
        int64_t count = keel_tensor_size(t);
        int esize = raw[2] == 0x08 || raw[2] == 0x09 ? 1
                    : raw[2] == 0x0B                 ? 2
                    : raw[2] == 0x0E                 ? 8
                                                     : 4;
        if ((int64_t)(size - 1) != 4 + 4 * (int64_t)raw[3] + count * esize) __builtin_trap();
    } else if (!t && !keel_last_error()[0]) {
        __builtin_trap(); /* a failure must say why */
    }
    keel_tensor_free(t);
    free(z);
    return 0;
}
