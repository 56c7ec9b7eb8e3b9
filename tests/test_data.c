/* test_data.c: the IDX and CSV loaders: real values from small files written here, the real
 * Fashion-MNIST files when installed, and hostile files (truncated, corrupt, huge declared
 * sizes, wrong field counts) that must give an error naming the file, never a crash. */
#include <criterion/criterion.h>
#include <keel.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/keel_test_data_XXXXXX";
static void setup(void) { cr_assert_not_null(mkdtemp(dir)); }
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

static void write_text(const char *name, const char *text) { write_bytes(name, text, strlen(text), false); }

#define EXPECT_MSG(needle)                                                                        \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"", keel_last_error(), needle)

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
        for (int i = 0; i < 6; i++) cr_expect_eq(keel_tensor_data(t)[i], want[i]);
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
    unsigned char big[] = {0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 0, 9}; /* 2^32 bytes declared, 1 present */
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
    for (int i = 8; i < (int)sizeof body; i++) body[i] = (unsigned char)(i * 7);
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
    for (int i = 0; i < 10000; i++) counts[(int)keel_tensor_data(t)[i]]++;
    for (int c = 0; c < 10; c++) cr_expect_eq(counts[c], 1000, "class %d has %d test images", c, counts[c]);
    keel_tensor_free(t);
}

Test(data, csv_one_hot_and_standardize) {
    write_text("h.csv", "price,rooms,city,garage\r\n"
                        "100,2,\"Paris\",yes\n"
                        "\n"
                        "200,4,Lyon,no\n"
                        "150,3,\"Nice, FR\",yes\n");
    keel_csv *c = keel_csv_load(path("h.csv"), .target = "price");
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_assert_eq(c->n_features, 1 + 3 + 2);
    const char *names[] = {"rooms", "city=Lyon", "city=Nice, FR", "city=Paris", "garage=no", "garage=yes"};
    for (int j = 0; j < 6; j++) cr_expect_str_eq(c->feature_names[j], names[j]);
    cr_expect_eq(keel_tensor_dim(c->x, 0), 3);
    const float *y = keel_tensor_data(c->y);
    cr_expect(y[0] == 100 && y[1] == 200 && y[2] == 150);
    /* rooms 2, 4, 3: mean 3, population std sqrt(2/3) */
    const float *x = keel_tensor_data(c->x);
    cr_expect_float_eq(x[0], -1.2247449f, 1e-5);
    cr_expect_float_eq(x[6], 1.2247449f, 1e-5);
    cr_expect_float_eq(c->mean[0], 3.0f, 1e-6);
    /* city=Paris is 1 only in row 0: standardized (1 - 1/3) / sqrt(2/9) */
    cr_expect_float_eq(x[3], 1.4142135f, 1e-5);
    keel_csv_free(c);
    c = keel_csv_load(path("h.csv"), .target = "price", .standardize = 0);
    cr_assert_not_null(c);
    cr_expect_eq(keel_tensor_data(c->x)[0], 2.0f);
    cr_expect_eq(keel_tensor_data(c->x)[3], 1.0f);
    keel_csv_free(c);
}

Test(data, csv_errors_name_file_and_line) {
    cr_expect_null(keel_csv_load(path("none.csv"), .target = "y"));
    EXPECT_MSG("none.csv: cannot open");
    write_text("fields.csv", "a,b,y\n1,2,3\n4,5\n");
    cr_expect_null(keel_csv_load(path("fields.csv"), .target = "y"));
    EXPECT_MSG("fields.csv:3: 2 fields, expected 3");
    write_text("target.csv", "a,price\n1,2\n");
    cr_expect_null(keel_csv_load(path("target.csv"), .target = "prize"));
    EXPECT_MSG("no column named \"prize\" (did you mean \"price\"?)");
    write_text("text.csv", "a,y\n1,2\n3,cheap\n");
    cr_expect_null(keel_csv_load(path("text.csv"), .target = "y"));
    EXPECT_MSG("text.csv:3: target column \"y\" holds \"cheap\"");
    write_text("emptyf.csv", "a,y\n,2\n");
    cr_expect_null(keel_csv_load(path("emptyf.csv"), .target = "y"));
    EXPECT_MSG("emptyf.csv:2: empty field in column \"a\"");
    write_text("quote.csv", "a,y\n\"open,2\n");
    cr_expect_null(keel_csv_load(path("quote.csv"), .target = "y"));
    EXPECT_MSG("quote.csv:2: unterminated quote");
    write_text("header.csv", "a,y\n");
    cr_expect_null(keel_csv_load(path("header.csv"), .target = "y"));
    EXPECT_MSG("at least one data row");
    write_bytes("nul.csv", "a,y\n1\0,2\n", 9, false);
    cr_expect_null(keel_csv_load(path("nul.csv"), .target = "y"));
    EXPECT_MSG("NUL bytes");
    write_text("only.csv", "y\n1\n");
    cr_expect_null(keel_csv_load(path("only.csv"), .target = "y"));
    EXPECT_MSG("no feature columns");
}
