/* test_npy.c: .npy and .npz against real NumPy (1.24.2; tools/make_npy_fixtures.py wrote the
 * fixtures, and its docstring lists them). Every supported dtype, both byte orders and the
 * three format versions load to exactly NumPy's values (float64 rounded as astype(float32)
 * rounds, C's conversion being the same IEEE round-to-nearest). keel's writer produces
 * NumPy's bytes exactly: keel_save_npy's files equal np.save's fixtures byte for byte, and
 * keel_save_npz's members equal np.savez's; when /usr/bin/python3 has NumPy, NumPy itself
 * loads what keel just wrote. Every refusal (Fortran order, objects, structured, other dtypes,
 * rank 9, int64 out of range) and every hand-made bad header gives a message naming the file
 * and the fault; hostile archives (a bomb, lying sizes, a bad CRC, bzip2, a stray member) are
 * refused before any large allocation; every prefix and every single-byte corruption of every
 * good fixture fails cleanly or loads, never crashes (the sanitizer build turns any overrun
 * into a failure). Saves that fail (missing folder, a directory in the way, a file size limit
 * standing in for a full disk) leave the old file intact and no temporary behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <keel.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "core.h"

#define FIXTURES KEEL_SOURCE_DIR "/tests/fixtures/npy/"

static char dir[] = "/tmp/keel_test_npy_XXXXXX";
static void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
TestSuite(npy, .init = setup, .fini = teardown);

static const char *fx(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s%s", FIXTURES, name);
    return buf[i];
}

static const char *tmp(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f,
                       "cannot open %s (regenerate: /usr/bin/python3 "
                       "tools/make_npy_fixtures.py)",
                       path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* The values the fixtures hold (make_npy_fixtures.py's F4, F8, I4, I8, U1, B1). */
static const float F4[6] = {-1.5f, -0.25f, 0.0f, 0.5f, 3.75f, 0.001f};
static const int32_t I4[4] = {INT32_MIN, INT32_MAX, 0, -7};
static const int32_t I8[3] = {INT32_MIN, INT32_MAX, 42};
static const float U1[8] = {0, 1, 127, 128, 200, 254, 255, 3};
static const float B1[5] = {1, 0, 1, 1, 0};

static void expect_shape(const keel_tensor *t, int rank, const int64_t *dims) {
    cr_assert_eq(keel_tensor_rank(t), rank);
    for (int i = 0; i < rank; i++)
        cr_expect_eq(keel_tensor_dim(t, i), dims[i], "axis %d: %lld vs %lld", i,
                     (long long)keel_tensor_dim(t, i), (long long)dims[i]);
}

/* t is float32 with exactly these values (bit for bit: -0 and NaN included). */
static void expect_floats(keel_tensor *t, const float *want, int64_t n) {
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_assert_eq(keel_tensor_dtype(t), KEEL_FLOAT32);
    cr_assert_eq(keel_tensor_size(t), n);
    const float *v = keel_tensor_data(t);
    int64_t i = 0;
    while (i < n && !memcmp(&v[i], &want[i], 4))
        i++;
    if (i < n) cr_expect(0, "[%lld]: %.9g vs %.9g", (long long)i, v[i], want[i]);
}

static void expect_ints(keel_tensor *t, const int32_t *want, int64_t n) {
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_assert_eq(keel_tensor_dtype(t), KEEL_INT32);
    cr_assert_eq(keel_tensor_size(t), n);
    const int32_t *v = keel_tensor_int32_data(t);
    int64_t i = 0;
    while (i < n && v[i] == want[i])
        i++;
    if (i < n) cr_expect(0, "[%lld]: %d vs %d", (long long)i, v[i], want[i]);
}

/* keel_load_npy(path) fails with status st and a message holding the path and needle. */
static void expect_refused(const char *path, keel_status st, const char *needle) {
    keel_tensor *t = keel_load_npy(path);
    cr_expect_null(t, "%s loaded", path);
    keel_tensor_free(t);
    cr_expect_eq(keel_last_status(), st, "%s: status %d vs %d (%s)", path, keel_last_status(), st,
                 keel_last_error());
    EXPECT_MSG(path);
    EXPECT_MSG(needle);
}

/* ---------------------------------------------------------------- reading .npy */

Test(npy, every_dtype) {
    keel_tensor *t = keel_load_npy(fx("f4.npy"));
    expect_floats(t, F4, 6);
    expect_shape(t, 2, (int64_t[]){2, 3});
    keel_tensor_free(t);
    /* float64 -> float32: nearest, 1e-50 underflows to 0, +-1e300 overflow to +-inf */
    const float f8[7] = {(float)0.1, (float)(-1.0 / 3.0), 1e10f, 0.0f, INFINITY, -INFINITY, NAN};
    t = keel_load_npy(fx("f8.npy"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_assert_eq(keel_tensor_size(t), 7);
    for (int i = 0; i < 6; i++)
        cr_expect(!memcmp(&keel_tensor_data(t)[i], &f8[i], 4), "[%d]: %.9g vs %.9g", i,
                  keel_tensor_data(t)[i], f8[i]);
    cr_expect(isnan(keel_tensor_data(t)[6]));
    keel_tensor_free(t);
    t = keel_load_npy(fx("i4.npy"));
    expect_ints(t, I4, 4);
    expect_shape(t, 2, (int64_t[]){2, 2});
    keel_tensor_free(t);
    t = keel_load_npy(fx("i8.npy"));
    expect_ints(t, I8, 3);
    keel_tensor_free(t);
    t = keel_load_npy(fx("u1.npy"));
    expect_floats(t, U1, 8);
    expect_shape(t, 3, (int64_t[]){2, 2, 2});
    keel_tensor_free(t);
    t = keel_load_npy(fx("b1.npy"));
    expect_floats(t, B1, 5);
    keel_tensor_free(t);
}

Test(npy, versions_and_byte_orders) {
    const char *f4s[] = {"f4_v2.npy", "f4_v3.npy", "be_f4.npy"};
    for (int i = 0; i < 3; i++) {
        keel_tensor *t = keel_load_npy(fx(f4s[i]));
        expect_floats(t, F4, 6);
        expect_shape(t, 2, (int64_t[]){2, 3});
        keel_tensor_free(t);
    }
    keel_tensor *le = keel_load_npy(fx("f8.npy")), *be = keel_load_npy(fx("be_f8.npy"));
    cr_assert(le && be, "%s", keel_last_error());
    cr_expect(!memcmp(keel_tensor_data(le), keel_tensor_data(be), 7 * 4));
    keel_tensor_free(le);
    keel_tensor_free(be);
    keel_tensor *t = keel_load_npy(fx("be_i4.npy"));
    expect_ints(t, I4, 4);
    keel_tensor_free(t);
    t = keel_load_npy(fx("be_i8.npy"));
    expect_ints(t, I8, 3);
    keel_tensor_free(t);
}

Test(npy, scalar_empty_and_rank8) {
    keel_tensor *t = keel_load_npy(fx("scalar.npy"));
    expect_floats(t, (float[]){2.5f}, 1);
    expect_shape(t, 1, (int64_t[]){1});
    keel_tensor_free(t);
    t = keel_load_npy(fx("empty.npy"));
    cr_assert_not_null(t, "%s", keel_last_error());
    expect_shape(t, 2, (int64_t[]){0, 3});
    cr_expect_eq(keel_tensor_size(t), 0);
    keel_tensor_free(t);
    t = keel_load_npy(fx("empty_i4.npy"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_dtype(t), KEEL_INT32);
    expect_shape(t, 2, (int64_t[]){2, 0});
    keel_tensor_free(t);
    t = keel_load_npy(fx("rank8.npy"));
    expect_floats(t, (float[]){1, 2}, 2);
    expect_shape(t, 8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 2});
    keel_tensor_free(t);
}

Test(npy, refused_arrays) {
    expect_refused(fx("fortran.npy"), KEEL_ERR_FORMAT, "Fortran order");
    expect_refused(fx("object.npy"), KEEL_ERR_FORMAT, "Python objects (dtype '|O'");
    expect_refused(fx("structured.npy"), KEEL_ERR_FORMAT, "structured dtype");
    expect_refused(fx("f2.npy"), KEEL_ERR_FORMAT, "dtype '<f2' (float16) is not supported");
    expect_refused(fx("str.npy"), KEEL_ERR_FORMAT, "strings (dtype '<U3')");
    expect_refused(fx("rank9.npy"), KEEL_ERR_FORMAT, "9 axes, more than keel's tensors hold (8)");
    expect_refused(fx("i8_big.npy"), KEEL_ERR_FORMAT, "int64 value 2147483648 at index 3");
}

Test(npy, files_that_are_not_npy) {
    expect_refused(tmp("missing.npy"), KEEL_ERR_IO, "cannot open (No such file or directory)");
    expect_refused(dir, KEEL_ERR_IO, "is a directory");
    expect_refused("/dev/null", KEEL_ERR_IO, "is not a regular file");
    write_bytes(tmp("short.npy"), "\x93NUMPY\x01", 7);
    expect_refused(tmp("short.npy"), KEEL_ERR_FORMAT, "7 bytes are too few for a .npy file");
    expect_refused(fx("savez.npz"), KEEL_ERR_FORMAT, "not a .npy file");
    cr_expect_null(keel_load_npy(NULL));
    cr_expect_eq(keel_last_status(), KEEL_ERR_ARG);
    EXPECT_MSG("keel_load_npy: path is NULL");
}

/* A .npy of format major.0 with this header text (padded as NumPy pads it) and data. */
static const char *make_npy(const char *name, int major, const char *header, const void *data,
                            size_t n) {
    unsigned char buf[1024];
    size_t lb = major == 1 ? 2 : 4, hl = strlen(header);
    size_t pad = 63 - (8 + lb + hl) % 64, len = hl + pad + 1;
    cr_assert(8 + lb + len + n <= sizeof buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major, buf[7] = 0;
    for (size_t i = 0; i < lb; i++)
        buf[8 + i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8 + lb, header, hl);
    memset(buf + 8 + lb + hl, ' ', pad);
    buf[8 + lb + len - 1] = '\n';
    memcpy(buf + 8 + lb + len, data, n);
    write_bytes(tmp(name), buf, 8 + lb + len + n);
    return tmp(name);
}

Test(npy, headers_numpy_also_reads) {
    const float two[2] = {1.5f, -2.0f};
    /* Python 2's long suffix (NumPy filters it out), double quotes, odd spacing, key order */
    const char *ok[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }",
        "{\"shape\": (2,), \"descr\": \"<f4\", \"fortran_order\": False}",
        "{ 'fortran_order' :False ,'shape':( 1 , 2 ),'descr':'<f4' }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}\t\r",
    };
    for (int i = 0; i < 4; i++) {
        keel_tensor *t = keel_load_npy(make_npy("ok.npy", 1, ok[i], two, 8));
        cr_assert_not_null(t, "%s: %s", ok[i], keel_last_error());
        expect_floats(t, two, 2);
        keel_tensor_free(t);
    }
    keel_tensor *t = keel_load_npy(make_npy("ok2.npy", 2, ok[0], two, 8));
    expect_floats(t, two, 2);
    keel_tensor_free(t);
    /* Fortran order with one axis longer than 1 lies in memory as C order does */
    t = keel_load_npy(make_npy(
        "fv.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2, 1)}", two, 8));
    expect_floats(t, two, 2);
    expect_shape(t, 3, (int64_t[]){1, 2, 1});
    keel_tensor_free(t);
}

Test(npy, bad_headers) {
    const float two[2] = {1.5f, -2.0f};
    struct {
        const char *header, *needle;
    } bad[] = {
        {"[1, 2]", "expected '{' at header byte 0, found '['"},
        {"{'descr': '<f4', 'fortran_order': False, }", "lacks the key 'shape'"},
        {"{'descr': '<f4', 'shape': (2,), }", "lacks the key 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "the key 'x'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
         "the key 'descr' twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}", "a whole number"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", "',' after the only"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "a tuple '('"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 1)}", "',' or ')' in the shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "negative (-1)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
         "too large for 64 bits"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
         "shape (4294967296, 4294967296) has more values than fit"},
        /* NumPy refuses this too: the empty axis does not excuse the others' product */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4)}",
         "has more values than fit"},
        {"{'descr': 'f4', 'fortran_order': False, 'shape': (2,)}", "no byte order"},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}", "no byte order for 4-byte"},
        {"{'descr': '<f4x', 'fortran_order': False, 'shape': (2,)}", "'<f4x' is not supported"},
        {"{'descr': '<', 'fortran_order': False, 'shape': (2,)}", "names no type"},
        {"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,)}", "is not supported"},
        {"{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (1,)}", "sub-array dtype"},
        {"{'descr': 'V8', 'fortran_order': False, 'shape': (1,)}", "no byte order"},
        {"{'descr': '|V8', 'fortran_order': False, 'shape': (1,)}", "raw void records"},
        {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}", "without escapes"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}", "':' after the key"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", "dtype '<f4, ' is not"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", "True or False"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "',' or '}' after a value"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", "only spaces after"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "found the end"},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (2,)}", "a key in quotes"},
        {"{'descr': '<f4", "the closing quote"},
        {"{'a_key_far_longer_than_any_real_key_is': 1}", "too long for a key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\x01", "found byte 0x01"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *p = make_npy("bad.npy", 1, bad[i].header, two, 8);
        keel_tensor *t = keel_load_npy(p);
        cr_expect_null(t, "%s loaded", bad[i].header);
        keel_tensor_free(t);
        cr_expect_eq(keel_last_status(), KEEL_ERR_FORMAT);
        cr_expect(strstr(keel_last_error(), bad[i].needle) && strstr(keel_last_error(), p),
                  "header %s: message \"%s\" lacks \"%s\"", bad[i].header, keel_last_error(),
                  bad[i].needle);
    }
}

Test(npy, bad_framing) {
    const float two[2] = {1.5f, -2.0f};
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    expect_refused(make_npy("short.npy", 1, h, two, 7), KEEL_ERR_FORMAT,
                   "truncated: the header declares a (2,) '<f4' array (8 bytes after a 128-byte "
                   "header), the file has 7");
    float three[3] = {1, 2, 3};
    expect_refused(make_npy("long.npy", 1, h, three, 12), KEEL_ERR_FORMAT,
                   "the file holds 4 bytes after the (2,) '<f4' array");
    /* the version, the magic, the header length */
    unsigned char b[64];
    size_t n;
    unsigned char *good = read_all(fx("f4.npy"), &n);
    memcpy(b, good, 64);
    b[6] = 4;
    write_bytes(tmp("v4.npy"), b, 64);
    expect_refused(tmp("v4.npy"), KEEL_ERR_FORMAT, "format version 4.0 is not one keel reads");
    b[6] = 1, b[7] = 1;
    write_bytes(tmp("v11.npy"), b, 64);
    expect_refused(tmp("v11.npy"), KEEL_ERR_FORMAT, "format version 1.1");
    b[7] = 0, b[0] = 0x92;
    write_bytes(tmp("magic.npy"), b, 64);
    expect_refused(tmp("magic.npy"), KEEL_ERR_FORMAT, "does not start with the magic");
    b[0] = 0x93, b[8] = 0xff, b[9] = 0x00; /* 255 header bytes; the file has 54 */
    write_bytes(tmp("hlen.npy"), b, 64);
    expect_refused(tmp("hlen.npy"), KEEL_ERR_FORMAT,
                   "the header ends at byte 265, the file has 64");
    /* format 2.0 with a 4 GiB header length: refused before any reading, as NumPy does */
    memcpy(b, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
    write_bytes(tmp("huge_header.npy"), b, 64);
    expect_refused(tmp("huge_header.npy"), KEEL_ERR_FORMAT,
                   "header of 4294967295 bytes is over NumPy's limit of 10000");
    free(good);
}

/* ---------------------------------------------------------------- hostile bytes */

/* An in-memory file for the many small loads below. */
static int memfd = -1;
static const char *mem_file(const void *data, size_t n) {
    static char path[64];
    if (memfd < 0) {
        memfd = memfd_create("keel_test_npy", 0);
        cr_assert(memfd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    }
    cr_assert_eq(ftruncate(memfd, 0), 0);
    cr_assert_eq(pwrite(memfd, data, n, 0), (ssize_t)n);
    return path;
}

/* Loads bytes as .npy (or as .npz, every member): returns whether it loaded; a failure must
 * name the file. */
static bool try_load(const char *path, bool npz) {
    if (!npz) {
        keel_tensor *t = keel_load_npy(path);
        if (!t && !strstr(keel_last_error(), path)) cr_expect(0, "%s", keel_last_error());
        keel_tensor_free(t);
        return t != NULL;
    }
    keel_npz *z = keel_load_npz(path);
    if (!z) {
        if (!strstr(keel_last_error(), path)) cr_expect(0, "%s", keel_last_error());
        return false;
    }
    bool all = true;
    for (int i = 0; i < keel_npz_count(z); i++) {
        keel_tensor *t = keel_npz_get(z, keel_npz_name(z, i));
        if (!t && !strstr(keel_last_error(), path)) cr_expect(0, "%s", keel_last_error());
        all = all && t;
        keel_tensor_free(t);
    }
    keel_npz_free(z);
    return all;
}

static const char *const good_npy[] = {
    "f4.npy",     "f8.npy",    "i4.npy",       "i8.npy",    "u1.npy",         "b1.npy",
    "f4_v2.npy",  "f4_v3.npy", "be_f4.npy",    "be_f8.npy", "be_i4.npy",      "be_i8.npy",
    "scalar.npy", "empty.npy", "empty_i4.npy", "rank8.npy", "empty_long.npy",
};
static const char *const good_npz[] = {"savez.npz", "savez_compressed.npz", "positional.npz"};

Test(npy, every_prefix_fails_cleanly) {
    /* a .npy must fill its file exactly: every strict prefix is an error */
    for (size_t f = 0; f < sizeof good_npy / sizeof *good_npy; f++) {
        size_t n;
        unsigned char *b = read_all(fx(good_npy[f]), &n);
        cr_assert(try_load(mem_file(b, n), false), "%s: %s", good_npy[f], keel_last_error());
        for (size_t len = 0; len < n; len++)
            if (try_load(mem_file(b, len), false))
                cr_expect(0, "%s cut at %zu loaded", good_npy[f], len);
        free(b);
    }
    /* an archive cut anywhere loses its central directory at the end */
    for (size_t f = 0; f < sizeof good_npz / sizeof *good_npz; f++) {
        size_t n;
        unsigned char *b = read_all(fx(good_npz[f]), &n);
        cr_assert(try_load(mem_file(b, n), true), "%s: %s", good_npz[f], keel_last_error());
        for (size_t len = 0; len < n; len++)
            if (try_load(mem_file(b, len), true))
                cr_expect(0, "%s cut at %zu loaded", good_npz[f], len);
        free(b);
    }
}

Test(npy, every_corrupt_byte_fails_cleanly_or_loads) {
    /* flips of each byte in turn: an error naming the file, or a tensor; never a crash (the
     * checks that matter here are the sanitizers') */
    int loaded = 0, refused = 0;
    const char *files[] = {"f4.npy",    "f8.npy",     "i8.npy",    "u1.npy",
                           "be_i4.npy", "scalar.npy", "savez.npz", "savez_compressed.npz"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n;
        unsigned char *b = read_all(fx(files[f]), &n);
        bool npz = strstr(files[f], ".npz") != NULL;
        for (size_t at = 0; at < n; at++) {
            for (int flip = 0; flip < 2; flip++) {
                b[at] ^= flip ? 0xff : 0x01;
                if (try_load(mem_file(b, n), npz))
                    loaded++;
                else
                    refused++;
                b[at] ^= flip ? 0xff : 0x01;
            }
        }
        free(b);
    }
    /* both outcomes happen: data bytes load with other values, header bytes are refused */
    cr_expect(loaded > 100 && refused > 100, "loaded %d, refused %d", loaded, refused);
}

/* ---------------------------------------------------------------- .npz */

Test(npy, npz_stored_and_deflated) {
    const char *files[] = {"savez.npz", "savez_compressed.npz"};
    for (int f = 0; f < 2; f++) {
        keel_npz *z = keel_load_npz(fx(files[f]));
        cr_assert_not_null(z, "%s", keel_last_error());
        cr_assert_eq(keel_npz_count(z), f ? 4 : 3);
        /* np.savez's keyword order */
        cr_expect_str_eq(keel_npz_name(z, 0), "x");
        cr_expect_str_eq(keel_npz_name(z, 1), "y");
        cr_expect_str_eq(keel_npz_name(z, 2), "labels");
        cr_expect_null(keel_npz_name(z, f ? 4 : 3));
        cr_expect_null(keel_npz_name(z, -1));
        keel_tensor *t = keel_npz_get(z, "x");
        expect_floats(t, F4, 6);
        expect_shape(t, 2, (int64_t[]){2, 3});
        keel_tensor_free(t);
        t = keel_npz_get(z, "y.npy"); /* NpzFile takes the member name too */
        expect_ints(t, I4, 4);
        keel_tensor_free(t);
        t = keel_npz_get(z, "labels");
        expect_floats(t, U1, 2);
        keel_tensor_free(t);
        if (f) {
            t = keel_npz_get(z, "zeros");
            cr_assert_not_null(t, "%s", keel_last_error());
            cr_expect_eq(keel_tensor_size(t), 64);
            keel_tensor_free(t);
        }
        /* a typo: the nearest name and the list */
        cr_expect_null(keel_npz_get(z, "lables"));
        cr_expect_eq(keel_last_status(), KEEL_ERR_ARG);
        EXPECT_MSG("no array named 'lables' (did you mean 'labels'?); the archive holds");
        EXPECT_MSG("x, y, labels");
        cr_expect_null(keel_npz_get(z, "q.npy"));
        EXPECT_MSG("no array named 'q.npy'; the archive holds");
        cr_expect_null(keel_npz_get(z, NULL));
        EXPECT_MSG("keel_npz_get: name is NULL");
        keel_npz_free(z);
    }
    keel_npz *z = keel_load_npz(fx("positional.npz"));
    cr_assert_not_null(z, "%s", keel_last_error());
    cr_assert_eq(keel_npz_count(z), 2);
    cr_expect_str_eq(keel_npz_name(z, 0), "arr_0");
    cr_expect_str_eq(keel_npz_name(z, 1), "arr_1");
    keel_tensor *t = keel_npz_get(z, "arr_1");
    expect_ints(t, I4, 4);
    keel_tensor_free(t);
    keel_npz_free(z);
    z = keel_load_npz(fx("empty.npz"));
    cr_assert_not_null(z, "%s", keel_last_error());
    cr_expect_eq(keel_npz_count(z), 0);
    cr_expect_null(keel_npz_get(z, "x"));
    EXPECT_MSG("the archive holds 0: none");
    keel_npz_free(z);
    keel_npz_free(NULL);
    cr_expect_eq(keel_npz_count(NULL), 0);
    cr_expect_null(keel_npz_get(NULL, "x"));
    EXPECT_MSG("keel_npz_get: the archive is NULL");
}

/* keel_load_npz(path) fails with st and needle, or (member) opens and member x fails so. */
static void expect_npz_refused(const char *path, bool member, keel_status st, const char *needle) {
    keel_npz *z = keel_load_npz(path);
    if (member) {
        cr_assert_not_null(z, "%s: %s", path, keel_last_error());
        keel_tensor *t = keel_npz_get(z, "x");
        cr_expect_null(t, "%s: x loaded", path);
        keel_tensor_free(t);
        keel_npz_free(z);
    } else {
        cr_expect_null(z, "%s opened", path);
        keel_npz_free(z);
    }
    cr_expect_eq(keel_last_status(), st, "%s: status %d vs %d (%s)", path, keel_last_status(), st,
                 keel_last_error());
    EXPECT_MSG(path);
    EXPECT_MSG(needle);
}

Test(npy, npz_hostile_archives) {
    expect_npz_refused(fx("not_npy.npz"), false, KEEL_ERR_FORMAT,
                       "member 'readme.txt' is not a .npy array");
    expect_npz_refused(fx("dup.npz"), false, KEEL_ERR_FORMAT, "two members have the same name");
    expect_npz_refused(fx("bzip2.npz"), true, KEEL_ERR_FORMAT,
                       "x.npy: the member is compressed with zip method 12");
    expect_npz_refused(fx("bad_member.npz"), true, KEEL_ERR_FORMAT, "x.npy: not a .npy file");
    expect_npz_refused(fx("bad_crc.npz"), true, KEEL_ERR_FORMAT,
                       "x.npy: cannot read at byte "
                       "152 (libzip: CRC error)");
    /* the bomb: refused from its header, having inflated 128 + 16 bytes, not 1 MiB */
    expect_npz_refused(fx("bomb.npz"), true, KEEL_ERR_FORMAT,
                       "x.npy: the member holds 1048576 bytes after the (4,) '<f4' array");
    expect_npz_refused(fx("lying_size.npz"), true, KEEL_ERR_FORMAT,
                       "declares 4294967040 bytes inflated from 77 compressed, more than "
                       "deflate can expand");
    expect_npz_refused(fx("f4.npy"), false, KEEL_ERR_FORMAT, "not a readable zip archive");
    write_bytes(tmp("empty.npz"), "", 0);
    expect_npz_refused(tmp("empty.npz"), false, KEEL_ERR_FORMAT, "is empty (0 bytes)");
    expect_npz_refused(tmp("missing.npz"), false, KEEL_ERR_IO, "cannot open (No such file");
    expect_npz_refused(dir, false, KEEL_ERR_IO, "is a directory");
    expect_npz_refused("/dev/null", false, KEEL_ERR_IO, "is not a regular file");
    cr_expect_null(keel_load_npz(NULL));
    EXPECT_MSG("keel_load_npz: path is NULL");
}

/* ---------------------------------------------------------------- writing */

static void expect_same_file(const char *got, const char *want) {
    size_t n1, n2;
    unsigned char *a = read_all(got, &n1), *b = read_all(want, &n2);
    cr_expect_eq(n1, n2, "%s: %zu bytes, %s: %zu", got, n1, want, n2);
    if (n1 == n2) {
        size_t i = 0;
        while (i < n1 && a[i] == b[i])
            i++;
        cr_expect_eq(i, n1, "%s and %s differ first at byte %zu", got, want, i);
    }
    free(a);
    free(b);
}

Test(npy, save_writes_numpys_bytes) {
    /* the very bytes np.save wrote for the same arrays: header padding included */
    keel_tensor *f = keel_tensor_from_data(KEEL_SHAPE(2, 3), F4);
    keel_tensor *i = keel_tensor_from_int32(KEEL_SHAPE(2, 2), I4);
    keel_tensor *e = keel_tensor_new(KEEL_SHAPE(0, 3));
    keel_tensor *ei = keel_tensor_new_int32(KEEL_SHAPE(2, 0));
    keel_tensor *r8 = keel_tensor_from_data(KEEL_SHAPE(1, 1, 1, 1, 1, 1, 1, 2), (float[]){1, 2});
    keel_tensor *el = keel_tensor_new(KEEL_SHAPE(123456789012, 0));
    const keel_tensor *ts[] = {f, i, e, ei, r8, el};
    const char *names[] = {"f4.npy",       "i4.npy",    "empty.npy",
                           "empty_i4.npy", "rank8.npy", "empty_long.npy"};
    for (int k = 0; k < 6; k++) {
        cr_assert_eq(keel_save_npy(tmp(names[k]), ts[k]), KEEL_OK, "%s", keel_last_error());
        expect_same_file(tmp(names[k]), fx(names[k]));
        keel_tensor_free((keel_tensor *)ts[k]);
    }
}

Test(npy, save_round_trip) {
    /* shapes with long dimensions (the header's growth padding shrinks) and every rank */
    int64_t dims[][KEEL_MAX_RANK] = {{1}, {70000}, {3, 5}, {2, 1, 4, 1, 3, 1, 2, 2}, {100000, 2}};
    int ranks[] = {1, 1, 2, 8, 2};
    for (int k = 0; k < 5; k++) {
        keel_tensor *t = keel_tensor_new(ranks[k], dims[k]);
        keel_tensor *n = keel_tensor_new_int32(ranks[k], dims[k]);
        for (int64_t j = 0; j < keel_tensor_size(t); j++) {
            keel_tensor_data(t)[j] = (float)j * 0.37f - 11.0f;
            keel_tensor_int32_data(n)[j] = (int32_t)(j * 7919 - 100000);
        }
        cr_assert_eq(keel_save_npy(tmp("rt.npy"), t), KEEL_OK, "%s", keel_last_error());
        cr_assert_eq(keel_save_npy(tmp("rti.npy"), n), KEEL_OK, "%s", keel_last_error());
        /* the data starts on a multiple of 64, as NumPy aligns it */
        size_t len;
        unsigned char *b = read_all(tmp("rt.npy"), &len);
        cr_expect_eq((len - (size_t)keel_tensor_size(t) * 4) % 64, 0);
        free(b);
        keel_tensor *t2 = keel_load_npy(tmp("rt.npy")), *n2 = keel_load_npy(tmp("rti.npy"));
        expect_floats(t2, keel_tensor_data(t), keel_tensor_size(t));
        expect_shape(t2, ranks[k], dims[k]);
        expect_ints(n2, keel_tensor_int32_data(n), keel_tensor_size(n));
        expect_shape(n2, ranks[k], dims[k]);
        keel_tensor_free(t), keel_tensor_free(n), keel_tensor_free(t2), keel_tensor_free(n2);
    }
    /* overwriting an existing file */
    keel_tensor *one = keel_tensor_from_data(KEEL_SHAPE(1), (float[]){9});
    cr_assert_eq(keel_save_npy(tmp("rt.npy"), one), KEEL_OK);
    keel_tensor *back = keel_load_npy(tmp("rt.npy"));
    expect_floats(back, (float[]){9}, 1);
    keel_tensor_free(back);
    keel_tensor_free(one);
}

/* The names in dir, other than `keep`, as one string (to see that no temporary is left). */
static void expect_dir_holds(const char *d, const char *only) {
    DIR *dp = opendir(d);
    cr_assert_not_null(dp);
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!only || strcmp(e->d_name, only)))
            cr_expect(0, "%s holds %s", d, e->d_name);
    closedir(dp);
}

Test(npy, failed_saves_leave_nothing) {
    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(10000));
    const char *names[] = {"t"};
    const keel_tensor *ts[] = {t};
    /* a missing folder */
    cr_expect_eq(keel_save_npy(tmp("no/such/dir/x.npy"), t), KEEL_ERR_IO);
    EXPECT_MSG("keel_save_npy: ");
    EXPECT_MSG("no/such/dir/x.npy: cannot create a file there (No such file or directory)");
    cr_expect_eq(keel_save_npz(tmp("no/such/dir/x.npz"), 1, names, ts), KEEL_ERR_IO);
    EXPECT_MSG("keel_save_npz: ");
    EXPECT_MSG("cannot create a file there (No such file or directory)");
    expect_dir_holds(dir, NULL);
    /* a directory where the file should go: written, then the rename fails and is undone */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_expect_eq(keel_save_npy(sub, t), KEEL_ERR_IO);
    EXPECT_MSG("cannot replace it with the written file (Is a directory)");
    cr_expect_eq(keel_save_npz(sub, 1, names, ts), KEEL_ERR_IO);
    EXPECT_MSG("cannot replace it with the written file (Is a directory)");
    expect_dir_holds(dir, "sub");
    cr_assert_eq(rmdir(sub), 0);
    /* a full disk, as a file size limit: the old file survives whole */
    keel_tensor *old = keel_tensor_from_data(KEEL_SHAPE(2), (float[]){4, 5});
    cr_assert_eq(keel_save_npy(tmp("keep.npy"), old), KEEL_OK);
    cr_assert_eq(keel_save_npz(tmp("keep.npz"), 1, names, (const keel_tensor *[]){old}), KEEL_OK);
    struct rlimit lim, small;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
    small = lim;
    small.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead of killing */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    keel_status s1 = keel_save_npy(tmp("keep.npy"), t);
    char m1[KEEL_ERR_CAP];
    snprintf(m1, sizeof m1, "%s", keel_last_error());
    keel_status s2 = keel_save_npz(tmp("keep.npz"), 1, names, ts);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_expect_eq(s1, KEEL_ERR_IO);
    cr_expect(strstr(m1, "keep.npy: cannot write (File too large)"), "%s", m1);
    cr_expect_eq(s2, KEEL_ERR_IO);
    EXPECT_MSG("keep.npz: cannot write (libzip: ");
    keel_tensor *back = keel_load_npy(tmp("keep.npy"));
    expect_floats(back, (float[]){4, 5}, 2);
    keel_tensor_free(back);
    keel_npz *z = keel_load_npz(tmp("keep.npz"));
    cr_assert_not_null(z, "%s", keel_last_error());
    back = keel_npz_get(z, "t");
    expect_floats(back, (float[]){4, 5}, 2);
    keel_tensor_free(back);
    keel_npz_free(z);
    /* the folder holds the two old files and nothing else */
    DIR *dp = opendir(dir);
    int count = 0;
    for (struct dirent *e; (e = readdir(dp));)
        count += e->d_name[0] != '.';
    closedir(dp);
    cr_expect_eq(count, 2);
    /* a read-only folder (root writes there anyway, so only as another user) */
    if (geteuid() != 0) {
        cr_assert_eq(chmod(dir, 0555), 0);
        cr_expect_eq(keel_save_npy(tmp("ro.npy"), t), KEEL_ERR_IO);
        EXPECT_MSG("cannot create a file there (Permission denied)");
        cr_expect_eq(keel_save_npz(tmp("ro.npz"), 1, names, ts), KEEL_ERR_IO);
        EXPECT_MSG("cannot create a file there (Permission denied)");
        cr_assert_eq(chmod(dir, 0755), 0);
    }
    keel_tensor_free(old);
    keel_tensor_free(t);
}

Test(npy, save_arguments) {
    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(2));
    cr_expect_eq(keel_save_npy(NULL, t), KEEL_ERR_ARG);
    EXPECT_MSG("keel_save_npy: path is NULL");
    cr_expect_eq(keel_save_npy(tmp("x.npy"), NULL), KEEL_ERR_ARG);
    EXPECT_MSG("keel_save_npy: the tensor is NULL");
    keel_tensor *list = keel_tensor_list(1, (const keel_tensor *[]){t});
    cr_expect_eq(keel_save_npy(tmp("x.npy"), list), KEEL_ERR_ARG);
    EXPECT_MSG("the tensor is a list");
    const char *two[] = {"a", "a"}, *empty[] = {""}, *null[] = {NULL};
    const keel_tensor *tt[] = {t, t}, *tn[] = {NULL}, *tl[] = {list};
    cr_expect_eq(keel_save_npz(NULL, 1, two, tt), KEEL_ERR_ARG);
    EXPECT_MSG("keel_save_npz: path is NULL");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), -1, two, tt), KEEL_ERR_ARG);
    EXPECT_MSG("n is negative (-1)");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), 1, NULL, tt), KEEL_ERR_ARG);
    EXPECT_MSG("names is NULL with n = 1");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), 1, two, NULL), KEEL_ERR_ARG);
    EXPECT_MSG("tensors is NULL with n = 1");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), 1, empty, tt), KEEL_ERR_ARG);
    EXPECT_MSG("names[0] is empty");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), 1, null, tt), KEEL_ERR_ARG);
    EXPECT_MSG("names[0] is NULL");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), 1, two, tn), KEEL_ERR_ARG);
    EXPECT_MSG("tensors[0] ('a') is NULL");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), 1, two, tl), KEEL_ERR_ARG);
    EXPECT_MSG("tensors[0] ('a') is a list");
    cr_expect_eq(keel_save_npz(tmp("x.npz"), 2, two, tt), KEEL_ERR_ARG);
    EXPECT_MSG("the name 'a' is given twice");
    expect_dir_holds(dir, NULL);
    keel_tensor_free(list);
    keel_tensor_free(t);
}

/* The members of an archive, read with libzip: names, methods, DOS dates and bytes. */
static void expect_same_members(const char *got, const char *want, int n) {
    int e1, e2;
    zip_t *a = zip_open(got, ZIP_RDONLY | ZIP_CHECKCONS, &e1);
    zip_t *b = zip_open(want, ZIP_RDONLY, &e2);
    cr_assert(a && b, "zip_open: %d %d", e1, e2);
    for (int i = 0; i < n; i++) {
        zip_stat_t sa, sb;
        cr_assert_eq(zip_stat_index(a, (zip_uint64_t)i, 0, &sa), 0);
        cr_assert_eq(zip_stat_index(b, (zip_uint64_t)i, 0, &sb), 0);
        cr_expect_str_eq(sa.name, sb.name);
        cr_expect_eq(sa.comp_method, ZIP_CM_STORE);
        cr_expect_eq(sa.crc, sb.crc, "%s: crc %08x vs %08x", sa.name, sa.crc, sb.crc);
        cr_assert_eq(sa.size, sb.size, "%s: %llu bytes vs %llu", sa.name,
                     (unsigned long long)sa.size, (unsigned long long)sb.size);
        char *da = malloc(sa.size), *db = malloc(sb.size);
        zip_file_t *fa = zip_fopen_index(a, (zip_uint64_t)i, 0);
        zip_file_t *fb = zip_fopen_index(b, (zip_uint64_t)i, 0);
        cr_assert_eq(zip_fread(fa, da, sa.size), (zip_int64_t)sa.size);
        cr_assert_eq(zip_fread(fb, db, sb.size), (zip_int64_t)sb.size);
        cr_expect(!memcmp(da, db, sa.size), "%s: member bytes differ", sa.name);
        zip_fclose(fa), zip_fclose(fb), free(da), free(db);
    }
    cr_expect_eq(zip_get_num_entries(a, 0), n);
    zip_discard(a);
    zip_discard(b);
}

/* x = F4, y = I4: the pair written to keel_pair.npz. */
static void save_pair(const char *path) {
    keel_tensor *x = keel_tensor_from_data(KEEL_SHAPE(2, 3), F4);
    keel_tensor *y = keel_tensor_from_int32(KEEL_SHAPE(2, 2), I4);
    const char *names[] = {"x", "y"};
    cr_assert_eq(keel_save_npz(path, 2, names, (const keel_tensor *[]){x, y}), KEEL_OK, "%s",
                 keel_last_error());
    keel_tensor_free(x);
    keel_tensor_free(y);
}

Test(npy, save_npz) {
    save_pair(tmp("pair.npz"));
    /* members byte for byte as np.savez wrote x and y (its third member is uint8: not here),
     * and as the committed keel_pair.npz that NumPy was checked to read */
    expect_same_members(tmp("pair.npz"), fx("savez.npz"), 2);
    expect_same_members(tmp("pair.npz"), fx("keel_pair.npz"), 2);
    keel_npz *z = keel_load_npz(tmp("pair.npz"));
    cr_assert_not_null(z, "%s", keel_last_error());
    cr_expect_eq(keel_npz_count(z), 2);
    keel_tensor *t = keel_npz_get(z, "x");
    expect_floats(t, F4, 6);
    keel_tensor_free(t);
    t = keel_npz_get(z, "y");
    expect_ints(t, I4, 4);
    keel_tensor_free(t);
    keel_npz_free(z);
    /* no arrays: the 22 bytes np.savez() writes */
    cr_assert_eq(keel_save_npz(tmp("none.npz"), 0, NULL, NULL), KEEL_OK, "%s", keel_last_error());
    expect_same_file(tmp("none.npz"), fx("empty.npz"));
    /* an empty tensor and a name with a slash and non-ASCII letters (UTF-8) */
    keel_tensor *e = keel_tensor_new(KEEL_SHAPE(0, 3));
    const char *names[] = {"w/poids_é"};
    cr_assert_eq(keel_save_npz(tmp("odd.npz"), 1, names, (const keel_tensor *[]){e}), KEEL_OK);
    z = keel_load_npz(tmp("odd.npz"));
    cr_assert_not_null(z, "%s", keel_last_error());
    cr_expect_str_eq(keel_npz_name(z, 0), "w/poids_é");
    t = keel_npz_get(z, "w/poids_é");
    cr_assert_not_null(t, "%s", keel_last_error());
    expect_shape(t, 2, (int64_t[]){0, 3});
    keel_tensor_free(t);
    keel_npz_free(z);
    keel_tensor_free(e);
}

Test(npy, numpy_reads_what_keel_writes) {
    /* the live check: NumPy loads the files keel writes now (where NumPy is installed) */
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
        cr_skip_test("/usr/bin/python3 has no NumPy (Debian: python3-numpy)");
    keel_tensor *x = keel_tensor_from_data(KEEL_SHAPE(2, 3), F4);
    keel_tensor *y = keel_tensor_from_int32(KEEL_SHAPE(2, 2), I4);
    cr_assert_eq(keel_save_npy(tmp("keel_f4.npy"), x), KEEL_OK);
    cr_assert_eq(keel_save_npy(tmp("keel_i4.npy"), y), KEEL_OK);
    save_pair(tmp("keel_pair.npz"));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/make_npy_fixtures.py --check %s",
             KEEL_SOURCE_DIR, dir);
    cr_expect_eq(system(cmd), 0, "%s failed", cmd);
    keel_tensor_free(x);
    keel_tensor_free(y);
}
