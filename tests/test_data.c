/* test_data.c: the IDX loader: real values from small files written here, the real
 * Fashion-MNIST files when installed, and hostile files (truncated, corrupt, a bad gzip CRC,
 * huge declared sizes, a directory) that must give an error naming the file and saying what is
 * wrong, never a crash. The CSV loader is in test_csv.c, datasets in test_datasets.c. */
#include <criterion/criterion.h>
#include <keel.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/keel_test_data_XXXXXX";
static void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
TestSuite(data, .init = setup, .fini = teardown);

static const char *path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static void write_bytes(const char *name, const void *data, size_t n, bool gz) {
    if (gz) {
        gzFile f = gzopen(path(name), "wb");
        cr_assert_not_null(f);
        gzwrite(f, data, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path(name), "wb");
        cr_assert_not_null(f);
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

Test(data, idx_ubyte_plain_and_gzip) {
    unsigned char f[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 200, 254, 255};
    write_bytes("a.idx", f, sizeof f, false);
    write_bytes("a.idx.gz", f, sizeof f, true);
    for (int g = 0; g < 2; g++) {
        keel_tensor *t = keel_load_idx(path(g ? "a.idx.gz" : "a.idx"));
        cr_assert_not_null(t, "%s", keel_last_error());
        cr_expect_eq(keel_tensor_rank(t), 2);
        cr_expect_eq(keel_tensor_dim(t, 0), 2);
        cr_expect_eq(keel_tensor_dim(t, 1), 3);
        const float want[] = {0, 1, 2, 200, 254, 255};
        for (int i = 0; i < 6; i++)
            cr_expect_eq(keel_tensor_data(t)[i], want[i]);
        keel_tensor_free(t);
    }
}

Test(data, idx_other_types_are_big_endian) {
    unsigned char f[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x00}; /* int16: -2, 256 */
    write_bytes("s.idx", f, sizeof f, false);
    keel_tensor *t = keel_load_idx(path("s.idx"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_data(t)[0], -2.0f);
    cr_expect_eq(keel_tensor_data(t)[1], 256.0f);
    keel_tensor_free(t);
    unsigned char g[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0, 0}; /* float 1.5 */
    write_bytes("f.idx", g, sizeof g, false);
    t = keel_load_idx(path("f.idx"));
    cr_assert_not_null(t);
    cr_expect_eq(keel_tensor_data(t)[0], 1.5f);
    keel_tensor_free(t);
}

Test(data, idx_hostile_files) {
    cr_expect_null(keel_load_idx(path("missing.idx")));
    EXPECT_MSG("missing.idx: cannot open");
    write_bytes("empty.idx", "", 0, false);
    cr_expect_null(keel_load_idx(path("empty.idx")));
    EXPECT_MSG("empty.idx: offset 0");
    unsigned char magic[] = {1, 2, 8, 1, 0, 0, 0, 1, 5};
    write_bytes("magic.idx", magic, sizeof magic, false);
    cr_expect_null(keel_load_idx(path("magic.idx")));
    EXPECT_MSG("bad IDX magic");
    unsigned char type[] = {0, 0, 0x42, 1, 0, 0, 0, 1, 5};
    write_bytes("type.idx", type, sizeof type, false);
    cr_expect_null(keel_load_idx(path("type.idx")));
    EXPECT_MSG("unknown IDX data type 0x42");
    unsigned char trunc[] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3};
    write_bytes("trunc.idx", trunc, sizeof trunc, false);
    write_bytes("trunc.idx.gz", trunc, sizeof trunc, true);
    cr_expect_null(keel_load_idx(path("trunc.idx")));
    EXPECT_MSG("truncated");
    cr_expect_null(keel_load_idx(path("trunc.idx.gz")));
    EXPECT_MSG("truncated");
    /* 2^32-1 x 2^32-1 x 255: must be refused without allocating it */
    unsigned char huge[] = {0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255, 7};
    write_bytes("huge.idx", huge, sizeof huge, false);
    cr_expect_null(keel_load_idx(path("huge.idx")));
    EXPECT_MSG("declared size too large");
    unsigned char big[] = {0, 0, 8, 2, 0, 1, 0,
                           0, 0, 1, 0, 0, 9}; /* 2^32 bytes declared, 1 present */
    write_bytes("big.idx", big, sizeof big, false);
    cr_expect_null(keel_load_idx(path("big.idx")));
    EXPECT_MSG("truncated");
    unsigned char zero[] = {0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 3};
    write_bytes("zero.idx", zero, sizeof zero, false);
    cr_expect_null(keel_load_idx(path("zero.idx")));
    EXPECT_MSG("dimension 0 is zero");
    unsigned char extra[] = {0, 0, 8, 1, 0, 0, 0, 1, 5, 6};
    write_bytes("extra.idx", extra, sizeof extra, false);
    cr_expect_null(keel_load_idx(path("extra.idx")));
    EXPECT_MSG("after the declared data");
    /* a gzip stream cut in the middle */
    unsigned char body[4096 + 12] = {0, 0, 8, 1, 0, 0, 0x10, 0};
    for (int i = 8; i < (int)sizeof body; i++)
        body[i] = (unsigned char)(i * 7);
    write_bytes("cut.idx.gz", body, sizeof body, true);
    FILE *f = fopen(path("cut.idx.gz"), "rb+");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(path("cut.idx.gz"), n / 2), 0);
    cr_expect_null(keel_load_idx(path("cut.idx.gz")));
    cr_expect(strstr(keel_last_error(), "cut.idx.gz") != NULL, "%s", keel_last_error());
}

Test(data, fashion_mnist_when_installed) {
    const char *p = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(p, R_OK) != 0) cr_skip_test("dataset-fashion-mnist is not installed");
    keel_tensor *t = keel_load_idx(p);
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_dim(t, 0), 10000);
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++)
        counts[(int)keel_tensor_data(t)[i]]++;
    for (int c = 0; c < 10; c++)
        cr_expect_eq(counts[c], 1000, "class %d has %d test images", c, counts[c]);
    keel_tensor_free(t);
}

/* A gzip file whose CRC does not match: zlib's reason, not "file too short" (the whole small
 * stream is inflated, and its trailer checked, by the first 4-byte read). */
Test(data, idx_gzip_crc_error_says_so) {
    unsigned char f[] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9};
    write_bytes("crc.idx.gz", f, sizeof f, true);
    FILE *g = fopen(path("crc.idx.gz"), "rb+");
    cr_assert_not_null(g);
    cr_assert_eq(fseek(g, -8, SEEK_END), 0); /* the trailer: CRC-32, then the size */
    int c = fgetc(g);
    cr_assert_eq(fseek(g, -8, SEEK_END), 0);
    fputc(c ^ 0x55, g);
    fclose(g);
    cr_expect_null(keel_load_idx(path("crc.idx.gz")));
    EXPECT_MSG("crc.idx.gz: offset 0: corrupt gzip data (incorrect data check)");
    cr_expect_null(strstr(keel_last_error(), "too short"));
    /* a bad CRC on a larger file shows up inside the data */
    unsigned char body[70000] = {0, 0, 8, 1, 0, 1, 0x11, 0x68}; /* 70000 - 8 = 0x11168 bytes */
    for (int i = 8; i < (int)sizeof body; i++)
        body[i] = (unsigned char)(i * 13);
    write_bytes("crc2.idx.gz", body, sizeof body, true);
    g = fopen(path("crc2.idx.gz"), "rb+");
    cr_assert_eq(fseek(g, -8, SEEK_END), 0);
    c = fgetc(g);
    cr_assert_eq(fseek(g, -8, SEEK_END), 0);
    fputc(c ^ 0x55, g);
    fclose(g);
    cr_expect_null(keel_load_idx(path("crc2.idx.gz")));
    EXPECT_MSG("corrupt gzip data (incorrect data check)");
    /* the same file intact loads */
    write_bytes("ok.idx.gz", body, sizeof body, true);
    keel_tensor *t = keel_load_idx(path("ok.idx.gz"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_size(t), 70000 - 8);
    cr_expect_eq(keel_tensor_data(t)[100], (float)(unsigned char)(108 * 13));
    keel_tensor_free(t);
}

Test(data, idx_directory_and_short_header) {
    cr_expect_null(keel_load_idx(dir));
    EXPECT_MSG("is a directory, not an IDX file");
    unsigned char two[] = {0, 0};
    write_bytes("two.idx", two, sizeof two, false);
    cr_expect_null(keel_load_idx(path("two.idx")));
    EXPECT_MSG("two.idx: offset 0: file too short for an IDX header (2 bytes)");
    unsigned char hdr[] = {0, 0, 8, 2, 0, 0, 0, 1, 0, 0};
    write_bytes("hdr.idx", hdr, sizeof hdr, false);
    cr_expect_null(keel_load_idx(path("hdr.idx")));
    EXPECT_MSG("hdr.idx: offset 8: file ends inside the header (dimension 1)");
    unsigned char rank[] = {0, 0, 8, 9};
    write_bytes("rank.idx", rank, sizeof rank, false);
    cr_expect_null(keel_load_idx(path("rank.idx")));
    EXPECT_MSG("IDX rank 9 out of range (1..8)");
    cr_expect_null(keel_load_idx(NULL));
    EXPECT_MSG("keel_load_idx: path is NULL");
}

/* int8, int32 and float64 values: sign and byte order */
Test(data, idx_int8_int32_float64) {
    unsigned char a[] = {0, 0, 0x09, 1, 0, 0, 0, 2, 0xFF, 0x80};
    write_bytes("i8.idx", a, sizeof a, false);
    keel_tensor *t = keel_load_idx(path("i8.idx"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_data(t)[0], -1.0f);
    cr_expect_eq(keel_tensor_data(t)[1], -128.0f);
    keel_tensor_free(t);
    unsigned char b[] = {0, 0, 0x0C, 1, 0, 0, 0, 1, 0xFF, 0xFF, 0xFE, 0x0C}; /* -500 */
    write_bytes("i32.idx", b, sizeof b, false);
    t = keel_load_idx(path("i32.idx"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_data(t)[0], -500.0f);
    keel_tensor_free(t);
    unsigned char d[] = {0, 0, 0x0E, 1, 0, 0, 0, 1, 0xC0, 0x04, 0, 0, 0, 0, 0, 0}; /* -2.5 */
    write_bytes("f64.idx", d, sizeof d, false);
    t = keel_load_idx(path("f64.idx"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_eq(keel_tensor_data(t)[0], -2.5f);
    keel_tensor_free(t);
}
