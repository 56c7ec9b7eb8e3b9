/* test_csv.c: the CSV loader on small files written here: one-hot encoding and scaling with
 * their exact values, RFC 4180 quoting (line breaks inside quotes, CRLF), a byte-order mark,
 * the max_categories cap and .drop, the train-rows-only scaler of validation_split (with
 * Keras's split arithmetic), keel_csv_transform on a second file, and every error message. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/keel_test_csv_XXXXXX";
static void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
TestSuite(csv, .init = setup, .fini = teardown);

static const char *path(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4; /* a few live at once: load(path(a)) and transform(path(b)) */
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void write_bytes(const char *name, const void *data, size_t n) {
    FILE *f = fopen(path(name), "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_text(const char *name, const char *text) {
    write_bytes(name, text, strlen(text));
}

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

Test(csv, one_hot_and_standardize) {
    write_text("h.csv", "price,rooms,city,garage\r\n"
                        "100,2,\"Paris\",yes\n"
                        "\n"
                        "200,4,Lyon,no\n"
                        "150,3,\"Nice, FR\",yes\n");
    keel_csv *c = keel_csv_load(path("h.csv"), .target = "price");
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_assert_eq(c->n_features, 1 + 3 + 2);
    const char *names[] = {"rooms",      "city=Lyon", "city=Nice, FR",
                           "city=Paris", "garage=no", "garage=yes"};
    for (int j = 0; j < 6; j++)
        cr_expect_str_eq(c->feature_names[j], names[j]);
    cr_expect_eq(keel_tensor_dim(c->x, 0), 3);
    cr_expect_eq(c->n_train, 3);
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

/* Excel's UTF-8 CSVs start with EF BB BF: the first column must still be found by name. */
Test(csv, byte_order_mark_is_not_part_of_the_first_name) {
    write_text("bom.csv", "\xEF\xBB\xBFprice,rooms\n100,2\n200,3\n");
    keel_csv *c = keel_csv_load(path("bom.csv"), .target = "price");
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_expect_str_eq(c->feature_names[0], "rooms");
    keel_csv_free(c);
    cr_expect_null(keel_csv_load(path("bom.csv"), .target = "prize"));
    EXPECT_MSG("no column named \"prize\" (did you mean \"price\"?)");
    /* the hint shows the name without invisible bytes */
    cr_expect_null(strstr(keel_last_error(), "\xEF\xBB\xBF"));
}

/* RFC 4180: a quoted field holds line breaks (LF and CRLF), delimiters and doubled quotes;
 * line numbers in later messages count the lines inside quotes. */
Test(csv, quoted_line_breaks_are_data) {
    write_text("nl.csv", "y,note,n\r\n"
                         "5,\"two\r\nlines\",1\r\n"
                         "6,\"say \"\"hi\"\", ok\",2\r\n"
                         "7,\"a\nb\nc\",3\r\n"
                         "8,plain,4");
    keel_csv *c = keel_csv_load(path("nl.csv"), .target = "y", .standardize = 0);
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_assert_eq(keel_tensor_dim(c->x, 0), 4);
    cr_assert_eq(c->n_features, 5);
    /* sorted by bytes: "a\nb\nc" < "plain" < "say \"hi\", ok" < "two\r\nlines" */
    cr_expect_str_eq(c->feature_names[0], "note=a\nb\nc");
    cr_expect_str_eq(c->feature_names[1], "note=plain");
    cr_expect_str_eq(c->feature_names[2], "note=say \"hi\", ok");
    cr_expect_str_eq(c->feature_names[3], "note=two\r\nlines");
    cr_expect_str_eq(c->feature_names[4], "n");
    const float *x = keel_tensor_data(c->x), *y = keel_tensor_data(c->y);
    const float want[4][5] = {{0, 0, 0, 1, 1}, {0, 0, 1, 0, 2}, {1, 0, 0, 0, 3}, {0, 1, 0, 0, 4}};
    for (int r = 0; r < 4; r++) {
        cr_expect_eq(y[r], 5.0f + (float)r);
        for (int j = 0; j < 5; j++)
            cr_expect_eq(x[r * 5 + j], want[r][j], "x[%d][%d] = %g", r, j, (double)x[r * 5 + j]);
    }
    keel_csv_free(c);
    /* a record after quoted line breaks: its line number counts them (line 6, not 4) */
    write_text("nl_bad.csv", "y,note\n1,\"a\nb\"\n2,\"c\nd\"\n3\n");
    cr_expect_null(keel_csv_load(path("nl_bad.csv"), .target = "y"));
    EXPECT_MSG("nl_bad.csv:6: 1 fields, expected 2");
}

Test(csv, unterminated_quote_names_the_line_it_opened_on) {
    write_text("quote.csv", "a,y\n1,2\n\"open,3\n4,5\n6,7\n");
    cr_expect_null(keel_csv_load(path("quote.csv"), .target = "y"));
    EXPECT_MSG("quote.csv:3: unterminated quote");
    EXPECT_MSG("runs to the end of the file");
    write_text("hquote.csv", "\"a,y\n1,2\n");
    cr_expect_null(keel_csv_load(path("hquote.csv"), .target = "y"));
    EXPECT_MSG("hquote.csv:1: unterminated quote");
}

Test(csv, a_directory_is_named_as_one) {
    cr_expect_null(keel_csv_load(dir, .target = "y"));
    EXPECT_MSG("is a directory, not a CSV file");
    cr_expect_null(strstr(keel_last_error(), "9223372036854775807"));
}

/* An id column of 20,000 distinct values: refused at once, naming the column, its count and
 * the way out, instead of a 20,000-wide one-hot block (36 s and 1.6 GB before). */
Test(csv, max_categories_refuses_an_id_column_fast) {
    const int n = 20000;
    FILE *f = fopen(path("ids.csv"), "wb");
    cr_assert_not_null(f);
    fprintf(f, "id,rooms,price,date\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "h%05d,%d,%d,d%d\n", i, i % 7, 1000 + i, i % 365);
    fclose(f);
    double t0 = now();
    cr_expect_null(keel_csv_load(path("ids.csv"), .target = "price"));
    double dt = now() - t0;
    EXPECT_MSG("2 text columns with more than max_categories = 100 distinct values");
    EXPECT_MSG("\"id\" (20000 distinct values)");
    EXPECT_MSG("\"date\" (365 distinct values)");
    EXPECT_MSG("drop them (.drop = {\"id\", \"date\"}) or raise .max_categories");
    /* hashing: well under a second here (the old quadratic count took minutes), ASan included */
    cr_expect_lt(dt, 5.0, "refusing took %.2f s", dt);
    keel_csv *c = keel_csv_load(path("ids.csv"), .target = "price", .drop = {"id", "date"});
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_expect_eq(c->n_features, 1);
    cr_expect_str_eq(c->feature_names[0], "rooms");
    keel_csv_free(c);
    /* raising the cap lets the date through: 365 one-hot columns */
    c = keel_csv_load(path("ids.csv"), .target = "price", .drop = {"id"}, .max_categories = 365,
                      .standardize = 0);
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_expect_eq(c->n_features, 1 + 365);
    cr_expect_str_eq(c->feature_names[365], "date=d99");
    /* row 5 is date d5: one 1 in its block, at the sorted position of "d5" */
    const float *x = keel_tensor_data(c->x) + 5 * 366;
    cr_expect_eq(x[0], 5.0f); /* rooms */
    float sum = 0;
    for (int j = 1; j <= 365; j++)
        sum += x[j];
    cr_expect_eq(sum, 1.0f);
    cr_expect_str_eq(c->feature_names[1], "date=d0");
    /* sorted by bytes: d0 d1 d10 d100 ... d109 d11 d110 ... d5 is after d49 */
    int at = -1;
    for (int j = 1; j <= 365; j++)
        if (!strcmp(c->feature_names[j], "date=d5")) at = j;
    cr_assert_gt(at, 0);
    cr_expect_eq(x[at], 1.0f);
    keel_csv_free(c);
}

/* A numeric column with one stray text value is categorical; the message says so. */
Test(csv, max_categories_points_at_the_stray_text_in_a_numeric_column) {
    /* fields are numbers except "NA" on line 43 */
    FILE *f = fopen(path("na.csv"), "wb");
    cr_assert_not_null(f);
    fprintf(f, "area,y\n");
    for (int i = 0; i < 300; i++)
        if (i == 41)
            fprintf(f, "NA,%d\n", i);
        else
            fprintf(f, "%d.5,%d\n", i, i);
    fclose(f);
    cr_expect_null(keel_csv_load(path("na.csv"), .target = "y"));
    EXPECT_MSG(
        "\"area\" (300 distinct values; 299 of 300 fields are numbers, not \"NA\" at line 43)");
    EXPECT_MSG("drop it (.drop = {\"area\"})");
}

Test(csv, drop_errors_and_dropped_columns_may_be_empty) {
    write_text("d.csv", "id,a,notes,y\n1,2,,3\n2,3,x,4\n");
    cr_expect_null(keel_csv_load(path("d.csv"), .target = "y"));
    EXPECT_MSG("d.csv:2: empty field in column \"notes\"");
    keel_csv *c = keel_csv_load(path("d.csv"), .target = "y", .drop = {"notes", "id"});
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_expect_eq(c->n_features, 1);
    keel_csv_free(c);
    cr_expect_null(keel_csv_load(path("d.csv"), .target = "y", .drop = {"note"}));
    EXPECT_MSG("no column named \"note\" to drop (did you mean \"notes\"?)");
    cr_expect_null(keel_csv_load(path("d.csv"), .target = "y", .drop = {"y"}));
    EXPECT_MSG("\"y\" is the target column and cannot be dropped");
    cr_expect_null(keel_csv_load(path("d.csv"), .target = "y", .drop = {"id", "a", "notes"}));
    EXPECT_MSG("no feature columns");
    write_text("dup.csv", "a,b,a,y\n1,2,3,4\n");
    cr_expect_null(keel_csv_load(path("dup.csv"), .target = "y"));
    EXPECT_MSG("column name \"a\" appears twice (columns 1 and 3)");
}

/* validation_split: the LAST rows validate; the scaler sees only the first n_train rows;
 * n_train = floor(n * (1 - v)) with v the decimal written (0.2f must give 4 of 5, not 3). */
Test(csv, validation_split_scaler_from_training_rows_only) {
    write_text("v.csv", "x,c,y\n1,a,0\n2,b,0\n3,a,0\n6,a,0\n100,b,0\n");
    keel_csv *c = keel_csv_load(path("v.csv"), .target = "y", .validation_split = 0.2f);
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_expect_eq(c->n_train, 4);
    /* x over rows 0..3: 1, 2, 3, 6: mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5 */
    cr_expect_float_eq(c->mean[0], 3.0f, 1e-6);
    cr_expect_float_eq(c->std[0], sqrtf(3.5f), 1e-6);
    const float *x = keel_tensor_data(c->x);
    cr_expect_float_eq(x[4 * 3], (100.0f - 3.0f) / sqrtf(3.5f), 1e-4); /* row 4 scaled, not seen */
    /* c=a over rows 0..3: 1, 0, 1, 1: mean 0.75, std sqrt(0.1875) */
    cr_expect_float_eq(c->mean[1], 0.75f, 1e-6);
    cr_expect_float_eq(c->std[1], sqrtf(0.1875f), 1e-6);
    keel_csv_free(c);
    /* Keras arithmetic on decimals: 10 rows, 0.1 -> 9 (0.1f in float arithmetic gives 8) */
    FILE *f = fopen(path("ten.csv"), "wb");
    fprintf(f, "x,y\n");
    for (int i = 0; i < 10; i++)
        fprintf(f, "%d,%d\n", i, i);
    fclose(f);
    const float splits[] = {0.1f, 0.3f, 0.25f, 0.5f, 0.7f};
    const int64_t want[] = {9, 7, 7, 5, 3}; /* int(10 * (1 - v)) in Python */
    for (int i = 0; i < 5; i++) {
        c = keel_csv_load(path("ten.csv"), .target = "y", .validation_split = splits[i]);
        cr_assert_not_null(c, "%s", keel_last_error());
        cr_expect_eq(c->n_train, want[i], "split %g: n_train %lld, want %lld", (double)splits[i],
                     (long long)c->n_train, (long long)want[i]);
        keel_csv_free(c);
    }
    c = keel_csv_load(path("ten.csv"), .target = "y", .validation_split = 1e-7f);
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_expect_eq(c->n_train, 9); /* floor(10 * (1 - 1e-7)) */
    keel_csv_free(c);
    cr_expect_null(keel_csv_load(path("ten.csv"), .target = "y", .validation_split = 1e-20f));
    EXPECT_MSG("validation_split 1e-20 of 10 rows leaves an empty validation set");
    write_text("one.csv", "x,y\n1,2\n");
    cr_expect_null(keel_csv_load(path("one.csv"), .target = "y", .validation_split = 0.5f));
    EXPECT_MSG("leaves an empty training set");
    cr_expect_null(keel_csv_load(path("ten.csv"), .target = "y", .validation_split = 1.0f));
    EXPECT_MSG("validation_split must be in [0, 1), got 1");
    cr_expect_null(keel_csv_load(path("ten.csv"), .target = "y", .validation_split = -0.1f));
    EXPECT_MSG("validation_split must be in [0, 1)");
}

/* keel_csv_transform: a test file with the columns in another order and no target gets the
 * fitted one-hot layout and the fitted scaler. */
Test(csv, transform_applies_the_fitted_encoding_and_scaler) {
    write_text("train.csv", "id,size,city,price\n1,10,Paris,100\n2,20,Lyon,200\n3,30,Nice,300\n");
    write_text("test.csv", "city,size,id\nNice,40\n,9\n");
    keel_csv *fit = keel_csv_load(path("train.csv"), .target = "price", .drop = {"id"});
    cr_assert_not_null(fit, "%s", keel_last_error());
    cr_expect_null(keel_csv_transform(fit, path("test.csv"))); /* the file above is short */
    EXPECT_MSG("test.csv:2: 2 fields, expected 3");
    write_text("test.csv", "city,size,id\nNice,40,7\r\nParis,10,8\n");
    keel_csv *t = keel_csv_transform(fit, path("test.csv"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_null(t->y);
    cr_expect_null(t->schema);
    cr_assert_eq(t->n_features, fit->n_features);
    cr_assert_eq(t->n_features, 4); /* size, city=Lyon, city=Nice, city=Paris */
    cr_expect_str_eq(t->feature_names[2], "city=Nice");
    cr_expect_eq(t->n_train, 2);
    const float *x = keel_tensor_data(t->x);
    /* size: fitted mean 20, std sqrt(200/3); (40 - 20) / 8.1649658 */
    cr_expect_float_eq(x[0], 2.4494897f, 1e-5);
    cr_expect_float_eq(x[4], -1.2247449f, 1e-5);
    /* city=Nice: fitted mean 1/3, std sqrt(2/9): 1 -> 1.4142135, 0 -> -0.7071068 */
    cr_expect_float_eq(x[2], 1.4142135f, 1e-5);
    cr_expect_float_eq(x[6], -0.7071068f, 1e-5);
    cr_expect_float_eq(x[1], -0.7071068f, 1e-5); /* Lyon, absent from the test file */
    for (int j = 0; j < 4; j++)
        cr_expect_eq(t->mean[j], fit->mean[j]);
    keel_csv_free(t);
    /* with the target: y is read */
    write_text("test2.csv", "price,size,city\n5,20,Lyon\n");
    t = keel_csv_transform(fit, path("test2.csv"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_assert_not_null(t->y);
    cr_expect_eq(keel_tensor_data(t->y)[0], 5.0f);
    cr_expect_float_eq(keel_tensor_data(t->x)[0], 0.0f, 1e-6);
    keel_csv_free(t);
    keel_csv_free(fit);
}

Test(csv, transform_errors) {
    write_text("train.csv", "size,city,price\n10,Paris,100\n20,Lyon,200\n");
    keel_csv *fit = keel_csv_load(path("train.csv"), .target = "price");
    cr_assert_not_null(fit, "%s", keel_last_error());
    write_text("rome.csv", "size,city\n10,Paris\n15,Rome\n");
    cr_expect_null(keel_csv_transform(fit, path("rome.csv")));
    EXPECT_MSG("rome.csv:3: column \"city\" holds \"Rome\", a category not in");
    write_text("text.csv", "size,city\nbig,Paris\n");
    cr_expect_null(keel_csv_transform(fit, path("text.csv")));
    EXPECT_MSG("text.csv:2: column \"size\" holds \"big\", not a number (it is numeric in");
    write_text("missing.csv", "city\nParis\n");
    cr_expect_null(keel_csv_transform(fit, path("missing.csv")));
    EXPECT_MSG("missing.csv: no column named \"size\" (a feature column of");
    write_text("extra.csv", "size,city,zip\n1,Paris,75001\n");
    cr_expect_null(keel_csv_transform(fit, path("extra.csv")));
    EXPECT_MSG("extra.csv: column \"zip\" is not in");
    write_text("twice.csv", "size,city,size\n1,Paris,2\n");
    cr_expect_null(keel_csv_transform(fit, path("twice.csv")));
    EXPECT_MSG("column name \"size\" appears twice");
    write_text("empty.csv", "size,city\n");
    cr_expect_null(keel_csv_transform(fit, path("empty.csv")));
    EXPECT_MSG("at least one data row");
    write_text("emptyf.csv", "size,city\n,Paris\n");
    cr_expect_null(keel_csv_transform(fit, path("emptyf.csv")));
    EXPECT_MSG("emptyf.csv:2: empty field in column \"size\"");
    cr_expect_null(keel_csv_transform(fit, path("none.csv")));
    EXPECT_MSG("none.csv: cannot open");
    cr_expect_null(keel_csv_transform(NULL, path("rome.csv")));
    EXPECT_MSG("keel_csv_transform: fitted is NULL");
    cr_expect_null(keel_csv_transform(fit, NULL));
    EXPECT_MSG("keel_csv_transform: path is NULL");
    write_text("ok.csv", "size,city\n1,Paris\n");
    keel_csv *t = keel_csv_transform(fit, path("ok.csv"));
    cr_assert_not_null(t, "%s", keel_last_error());
    cr_expect_null(keel_csv_transform(t, path("ok.csv")));
    EXPECT_MSG("was not made by keel_csv_load");
    keel_csv_free(t);
    keel_csv_free(fit);
}

/* rows x one-hot width past this machine's memory: "too large" with the numbers, before any
 * allocation (which overcommit could let through until the zeroing kills the process). */
Test(csv, one_hot_too_large_for_memory) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    cr_assert(pages > 0 && page > 0);
    double mem = (double)pages * (double)page;
    int64_t n = (int64_t)(sqrt(mem / 4) * 1.2) + 1; /* n x n floats > memory */
    FILE *f = fopen(path("wide.csv"), "wb");
    cr_assert_not_null(f);
    fprintf(f, "k,y\n");
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "k%lld,1\n", (long long)i);
    fclose(f);
    cr_expect_null(keel_csv_load(path("wide.csv"), .target = "y", .max_categories = 1 << 30));
    char want[128];
    snprintf(want, sizeof want, "%lld rows x %lld features (one-hot columns included) is too large",
             (long long)n, (long long)n);
    EXPECT_MSG(want);
}

Test(csv, errors_name_file_and_line) {
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
    write_text("header.csv", "a,y\n");
    cr_expect_null(keel_csv_load(path("header.csv"), .target = "y"));
    EXPECT_MSG("at least one data row");
    write_text("blank.csv", "\n\r\n");
    cr_expect_null(keel_csv_load(path("blank.csv"), .target = "y"));
    EXPECT_MSG("blank.csv: empty file (no header row)");
    write_bytes("nul.csv", "a,y\n1\0,2\n", 9);
    cr_expect_null(keel_csv_load(path("nul.csv"), .target = "y"));
    EXPECT_MSG("nul.csv:2: contains NUL bytes");
    write_text("only.csv", "y\n1\n");
    cr_expect_null(keel_csv_load(path("only.csv"), .target = "y"));
    EXPECT_MSG("no feature columns");
    cr_expect_null(keel_csv_load(NULL, .target = "y"));
    EXPECT_MSG("keel_csv_load: path is NULL");
    cr_expect_null(keel_csv_load(path("only.csv")));
    EXPECT_MSG("keel_csv_load: target is NULL");
    cr_expect_null(keel_csv_load(path("only.csv"), .target = "y", .max_categories = -1));
    EXPECT_MSG("max_categories must be >= 0");
    cr_expect_null(keel_csv_load(path("only.csv"), .target = "y", .delimiter = '"'));
    EXPECT_MSG("the delimiter cannot be a quote or a line break");
    /* a semicolon file, as European spreadsheets write */
    write_text("semi.csv", "a;y\n1,5;2\n");
    keel_csv *c = keel_csv_load(path("semi.csv"), .target = "y", .delimiter = ';');
    cr_assert_not_null(c, "%s", keel_last_error());
    cr_expect_str_eq(c->feature_names[0], "a=1,5");
    keel_csv_free(c);
}
