/* fuzz_npy.c: keel_load_npy and keel_load_npz + keel_npz_get on arbitrary bytes.
 *
 * Byte 0 picks what the rest is (bits 0-1):
 *   0  a .npy file, loaded with keel_load_npy
 *   1  an .npz file as it is, loaded with keel_load_npz, then every member
 *   2  a .npy wrapped here as the one stored member "a.npy" of a well-formed zip
 *   3  the same, deflated
 * In modes 2 and 3, bit 2 set makes the zip's declared size lie by the signed amount in
 * bytes 1-2 (local and central headers agree, so the lie reaches keel past libzip's checks),
 * and bytes 1-2 are then not part of the .npy. Wrapping here lets the .npy parser and the
 * size checks behind libzip see mutated headers inside valid archives, which mutating zip
 * bytes directly rarely reaches (CRCs and offsets break first).
 * A loaded .npy must hold exactly what the file's length allows: after the header, the
 * tensor's values times an item size of 1, 4 or 8 bytes. A failure must say why. */
#include "fuzz_util.h"

#include <keel.h>
#include <stdbool.h>
#include <string.h>
#include <zlib.h>

static void put16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, v & 0xffff), put16(p + 2, v >> 16);
}

/* A zip of one member "a.npy" holding body (deflated or stored), its size declared as
 * size + lie. */
static uint8_t *wrap(const uint8_t *body, size_t n, bool deflated, int lie, size_t *out_n) {
    uint8_t *comp = NULL;
    size_t cn = n;
    if (deflated) {
        /* raw deflate (no zlib header), as zip members hold it */
        z_stream z = {0};
        if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
        cn = deflateBound(&z, n);
        comp = malloc(cn + 1);
        z.next_in = (Bytef *)body, z.avail_in = (uInt)n;
        z.next_out = comp, z.avail_out = (uInt)cn;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
        cn = z.total_out;
        deflateEnd(&z);
    }
    const uint8_t *data = deflated ? comp : body;
    uint32_t crc = (uint32_t)crc32(0, body, (uInt)n), usize = (uint32_t)((int64_t)n + lie);
    const char *name = "a.npy";
    size_t local = 30 + 5, central = 46 + 5, total = local + cn + central + 22;
    uint8_t *z = calloc(1, total);
    /* local file header */
    put32(z, 0x04034b50), put16(z + 4, 20), put16(z + 8, deflated ? 8 : 0);
    put16(z + 12, 0x21), put32(z + 14, crc), put32(z + 18, (uint32_t)cn), put32(z + 22, usize);
    put16(z + 26, 5), memcpy(z + 30, name, 5);
    if (cn) memcpy(z + local, data, cn);
    /* central directory entry */
    uint8_t *c = z + local + cn;
    put32(c, 0x02014b50), put16(c + 4, 20), put16(c + 6, 20), put16(c + 10, deflated ? 8 : 0);
    put16(c + 14, 0x21), put32(c + 16, crc), put32(c + 20, (uint32_t)cn), put32(c + 24, usize);
    put16(c + 28, 5), memcpy(c + 46, name, 5);
    /* end of central directory */
    uint8_t *e = c + central;
    put32(e, 0x06054b50), put16(e + 8, 1), put16(e + 10, 1), put32(e + 12, (uint32_t)central);
    put32(e + 16, (uint32_t)(local + cn));
    free(comp);
    *out_n = total;
    return z;
}

static void check_npy(const uint8_t *d, size_t n) {
    keel_tensor *t = keel_load_npy(fuzz_file(d, n));
    if (!t) {
        if (!keel_last_error()[0]) __builtin_trap();
        return;
    }
    /* the data after the header is exactly values x item size */
    size_t off = d[6] == 1 ? 10 + (size_t)(d[8] | d[9] << 8)
                           : 12 + (size_t)(d[8] | d[9] << 8 | d[10] << 16 | (uint32_t)d[11] << 24);
    uint64_t rest = n - off, count = (uint64_t)keel_tensor_size(t);
    if (off > n || (rest != count && rest != 4 * count && rest != 8 * count)) __builtin_trap();
    keel_tensor_free(t);
}

static void check_npz(const uint8_t *d, size_t n) {
    keel_npz *z = keel_load_npz(fuzz_file(d, n));
    if (!z) {
        if (!keel_last_error()[0]) __builtin_trap();
        return;
    }
    for (int i = 0; i < keel_npz_count(z); i++) {
        keel_tensor *t = keel_npz_get(z, keel_npz_name(z, i));
        if (!t && !keel_last_error()[0]) __builtin_trap();
        keel_tensor_free(t);
    }
    keel_npz_free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] & 3;
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    if (mode == 0) {
        check_npy(body, n);
    } else if (mode == 1) {
        check_npz(body, n);
    } else {
        int lie = 0;
        if (data[0] & 4) {
            if (n < 2) return 0;
            lie = (int16_t)(body[0] | body[1] << 8);
            body += 2, n -= 2;
        }
        size_t zn;
        uint8_t *z = wrap(body, n, mode == 3, lie, &zn);
        check_npz(z, zn);
        free(z);
    }
    return 0;
}
