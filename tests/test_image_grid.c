/* test_image_grid.c: keel_save_image_grid. Each grid is read back with libpng itself (not
 * keel's decoder, so a fault shared by keel's writer and reader cannot hide), and every pixel
 * is checked: each image's pixels at the place the layout rule puts them, quantized by the rule
 * written out here independently, the gaps and empty cells white, the file gray or RGB as the
 * input was. Then every error the function can return, each with its message. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/keel_test_grid_XXXXXX";
static void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
TestSuite(image_grid, .init = setup, .fini = teardown);

static const char *tmp(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

/* a PNG as libpng reads it, in its own format (gray or RGB) */
typedef struct png_px {
    int w, h, c;
    uint8_t *px;
} png_px;

static png_px read_png(const char *path) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&pi, path), "%s: %s", path, pi.message);
    png_px p = {(int)pi.width, (int)pi.height, (pi.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1, NULL};
    cr_assert_eq(pi.format & PNG_FORMAT_FLAG_ALPHA, 0, "%s: an alpha channel", path);
    pi.format = p.c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    p.px = malloc(PNG_IMAGE_SIZE(pi));
    cr_assert_not_null(p.px);
    cr_assert(png_image_finish_read(&pi, NULL, p.px, 0, NULL), "%s: %s", path, pi.message);
    return p;
}

/* the rule, written out: [vmin, vmax] -> [0, 255], clipped, rounded half up, NaN -> 0 */
static int expected_level(float v, float vmin, float vmax) {
    if (isnan(v)) return 0;
    double t = ((double)v - vmin) / ((double)vmax - vmin) * 255.0;
    return t <= 0 ? 0 : t >= 255 ? 255 : (int)floor(t + 0.5);
}

/* Writes images (N, H, W[, C]) and checks every pixel of the grid against the layout: image i
 * at cell (i / cols, i % cols), cells W + 2 wide and H + 2 high, no border. */
static void check_grid(const char *name, keel_tensor *t, int cols, float vmin, float vmax,
                       int want_cols) {
    const char *path = tmp(name);
    cr_assert_eq(keel_save_image_grid(path, t, cols, vmin, vmax), KEEL_OK, "%s", keel_last_error());
    const int64_t N = keel_tensor_dim(t, 0), H = keel_tensor_dim(t, 1), W = keel_tensor_dim(t, 2);
    const int64_t C = keel_tensor_rank(t) == 4 ? keel_tensor_dim(t, 3) : 1;
    const int64_t rows = (N + want_cols - 1) / want_cols;
    png_px p = read_png(path);
    cr_assert_eq(p.c, C, "%s: %d channels in the file, %lld in the images", name, p.c,
                 (long long)C);
    cr_assert_eq(p.w, want_cols * W + (want_cols - 1) * 2, "%s: width", name);
    cr_assert_eq(p.h, rows * H + (rows - 1) * 2, "%s: height", name);
    const float *d = keel_tensor_data(t);
    int bad = 0;
    for (int y = 0; y < p.h; y++)
        for (int x = 0; x < p.w; x++) {
            const int64_t cy = y / (H + 2), cx = x / (W + 2), iy = y % (H + 2), ix = x % (W + 2);
            const int64_t i = cy * want_cols + cx;
            for (int64_t c = 0; c < C; c++) {
                int want = 255; /* a gap or an empty cell */
                if (iy < H && ix < W && i < N)
                    want = expected_level(d[((i * H + iy) * W + ix) * C + c], vmin, vmax);
                int got = p.px[((int64_t)y * p.w + x) * C + c];
                if (got != want && ++bad <= 5)
                    cr_expect(0, "%s: pixel (%d, %d) channel %lld: %d, expected %d", name, y, x,
                              (long long)c, got, want);
            }
        }
    cr_expect_eq(bad, 0, "%s: %d pixel values wrong", name, bad);
    free(p.px);
}

Test(image_grid, gray_batch_in_a_square_grid) {
    /* 5 images 3x4 in [0, 1], cols 0 -> ceil(sqrt(5)) = 3: two rows, the last with an empty
     * cell */
    keel_tensor *t = keel_tensor_new(3, (int64_t[]){5, 3, 4});
    float *d = keel_tensor_data(t);
    for (int64_t i = 0; i < 60; i++)
        d[i] = (float)i / 59.0f;
    check_grid("gray.png", t, 0, 0.0f, 1.0f, 3);
    /* a few places worked by hand: image 0's first pixel is 0, image 4's last is 255 (value 1);
     * image 1 starts at column 4 + 2 = 6 with value 12 / 59 -> 51.86 -> 52; the gap at
     * column 4 and the empty cell (row 5, column 12) are white */
    png_px p = read_png(tmp("gray.png"));
    cr_expect_eq(p.w, 16);
    cr_expect_eq(p.h, 8);
    cr_expect_eq(p.px[0], 0);
    cr_expect_eq(p.px[6], 52);
    cr_expect_eq(p.px[4], 255);
    cr_expect_eq(p.px[5 * 16 + 12], 255);
    cr_expect_eq(p.px[(5 + 2) * 16 + (6 + 3)], 255, "image 4, pixel (2, 3): value 1");
    free(p.px);
    keel_tensor_free(t);
}

Test(image_grid, rgb_in_minus_one_to_one_clipped) {
    /* 3 RGB images 2x3 in [-1, 1] with values outside it and a NaN, in 2 columns */
    keel_tensor *t = keel_tensor_new(4, (int64_t[]){3, 2, 3, 3});
    float *d = keel_tensor_data(t);
    for (int64_t i = 0; i < 54; i++)
        d[i] = -1.2f + 2.4f * (float)((i * 7) % 54) / 53.0f;
    d[0] = -1, d[1] = 0, d[2] = 1;   /* image 0, pixel (0, 0): 0, 127.5 -> 128, 255 */
    d[3] = -5, d[4] = 7, d[5] = NAN; /* pixel (0, 1): clipped, clipped, NaN -> 0 */
    check_grid("rgb.png", t, 2, -1.0f, 1.0f, 2);
    png_px p = read_png(tmp("rgb.png"));
    const uint8_t want[6] = {0, 128, 255, 0, 255, 0};
    cr_expect_arr_eq(p.px, want, 6, "image 0's first two pixels");
    keel_tensor_free(t);
    free(p.px);
}

Test(image_grid, column_counts) {
    keel_tensor *t = keel_tensor_new(4, (int64_t[]){4, 2, 2, 1}); /* (N, H, W, 1): gray */
    float *d = keel_tensor_data(t);
    for (int64_t i = 0; i < 16; i++)
        d[i] = (float)i;
    check_grid("one_column.png", t, 1, 0.0f, 15.0f, 1);
    check_grid("one_row.png", t, 4, 0.0f, 15.0f, 4);
    check_grid("capped.png", t, 9, 0.0f, 15.0f, 4); /* more columns than images: N */
    check_grid("square.png", t, 0, 0.0f, 15.0f, 2);
    keel_tensor_free(t);
    /* a single image: no gaps at all */
    keel_tensor *one = keel_tensor_new(3, (int64_t[]){1, 3, 5});
    check_grid("single.png", one, 0, -1.0f, 1.0f, 1);
    keel_tensor_free(one);
}

Test(image_grid, errors) {
    keel_tensor *ok = keel_tensor_new(3, (int64_t[]){2, 2, 2});
    cr_expect_eq(keel_save_image_grid(NULL, ok, 0, 0, 1), KEEL_ERR_ARG);
    EXPECT_MSG("keel_save_image_grid: path is NULL");
    cr_expect_eq(keel_save_image_grid(tmp("x.png"), NULL, 0, 0, 1), KEEL_ERR_ARG);
    EXPECT_MSG("keel_save_image_grid: images is NULL");

    /* shapes */
    struct {
        int rank;
        int64_t dims[4];
        const char *msg;
    } shapes[] = {
        {2, {4, 4}, "images must be (N, H, W) or (N, H, W, 1 | 3), got (4, 4)"},
        {4, {2, 3, 3, 2}, "images must have 1 or 3 channels, got (2, 3, 3, 2) (2 channels)"},
        {4, {2, 3, 3, 4}, "(4 channels)"},
        {3, {0, 3, 3}, "no images to write, shape (0, 3, 3)"},
        {4, {2, 3, 0, 1}, "no images to write, shape (2, 3, 0, 1)"},
        {3, {1, 20000, 1}, "too many or too large for one PNG (at most 16384 pixels a side)"},
        {3,
         {2, 10000, 2},
         "2 images of 10000x2, 1 per row, make a 20002x2 grid, over the PNG limit"},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        keel_tensor *t = keel_tensor_new(shapes[i].rank, shapes[i].dims);
        cr_assert_not_null(t);
        const char *path = tmp("shape.png");
        cr_expect_eq(keel_save_image_grid(path, t, i == 6 ? 1 : 0, 0, 1), KEEL_ERR_SHAPE,
                     "shape case %zu", i);
        EXPECT_MSG(shapes[i].msg);
        EXPECT_MSG(path);
        struct stat sb;
        cr_expect_neq(stat(path, &sb), 0, "shape case %zu: a file was written", i);
        keel_tensor_free(t);
    }

    /* arguments */
    cr_expect_eq(keel_save_image_grid(tmp("x.png"), ok, -1, 0, 1), KEEL_ERR_ARG);
    EXPECT_MSG("cols must be >= 0 (0: ceil(sqrt(N))), got -1");
    cr_expect_eq(keel_save_image_grid(tmp("x.png"), ok, 0, 1, 1), KEEL_ERR_ARG);
    EXPECT_MSG("the value range [vmin, vmax] = [1, 1] is empty");
    cr_expect_eq(keel_save_image_grid(tmp("x.png"), ok, 0, 1, -1), KEEL_ERR_ARG);
    EXPECT_MSG("[1, -1]");
    cr_expect_eq(keel_save_image_grid(tmp("x.png"), ok, 0, NAN, 1), KEEL_ERR_ARG);
    EXPECT_MSG("both finite");
    cr_expect_eq(keel_save_image_grid(tmp("x.png"), ok, 0, 0, INFINITY), KEEL_ERR_ARG);
    EXPECT_MSG("[0, inf]");

    /* a path that cannot be written: a missing directory, then a directory itself (CI runs as
     * root, so permissions would not stop it) */
    cr_expect_eq(keel_save_image_grid("/nonexistent_keel_dir/grid.png", ok, 0, 0, 1), KEEL_ERR_IO);
    EXPECT_MSG("keel_save_image_grid: /nonexistent_keel_dir/grid.png: cannot open for writing");
    cr_expect_eq(keel_save_image_grid(dir, ok, 0, 0, 1), KEEL_ERR_IO);
    EXPECT_MSG("cannot open for writing");
    keel_tensor_free(ok);
}
