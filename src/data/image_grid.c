/* image_grid.c: keel_save_image_grid, a batch of images tiled into one PNG (a GAN's samples, a
 * look at a data set). It only lays out and quantizes: the PNG itself is written by
 * keel_image_write_png (image.c, libpng's simplified API), which also removes a file it could
 * not finish. */
#include "../core.h"

#include <stdio.h>

#include "image.h"

#define GRID_GAP 2     /* pixels between neighbouring images */
#define GRID_BACK 255u /* the gaps and empty cells: white, visible against dark digits too */

/* ceil(sqrt(n)) in integers (n is at most 2^27 here, so the double is exact enough to start
 * from, and the two loops settle any rounding) */
static int64_t ceil_sqrt(int64_t n) {
    int64_t c = (int64_t)ceil(sqrt((double)n));
    while (c * c < n)
        c++;
    while (c > 1 && (c - 1) * (c - 1) >= n)
        c--;
    return c;
}

/* [vmin, vmax] -> [0, 255], clipped, rounded half up; NaN -> 0. In double, so that vmin and
 * vmax land exactly on 0 and 255. */
static inline uint8_t quantize(float x, double vmin, double k) {
    double v = ((double)x - vmin) * k;
    if (!(v > 0)) return 0; /* also NaN */
    return v >= 255.0 ? 255 : (uint8_t)(v + 0.5);
}

/* Checks the arguments; sets the batch's geometry. */
static keel_status grid_check(const char *path, const keel_tensor *t, int cols, float vmin,
                              float vmax, int64_t *n, int64_t *h, int64_t *w, int64_t *c) {
    if (!path || !t)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_save_image_grid: %s is NULL", path ? "images" : "path");
    char a[128];
    keel_tensor_shape_str(t, a, sizeof a);
    if (t->rank != 3 && t->rank != 4)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "keel_save_image_grid: %s: images must be (N, H, W) or (N, H, W, 1 | 3), got "
                  "%s",
                  path, a);
    *n = t->dims[0], *h = t->dims[1], *w = t->dims[2], *c = t->rank == 4 ? t->dims[3] : 1;
    if (*c != 1 && *c != 3)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "keel_save_image_grid: %s: images must have 1 or 3 channels, got %s (%lld "
                  "channels)",
                  path, a, (long long)*c);
    /* a zero-size batch is a valid tensor, but there is no PNG of 0 pixels */
    if (*n <= 0 || *h <= 0 || *w <= 0)
        KEEL_FAIL(KEEL_ERR_SHAPE, "keel_save_image_grid: %s: no images to write, shape %s", path,
                  a);
    if (cols < 0)
        KEEL_FAIL(KEEL_ERR_ARG,
                  "keel_save_image_grid: %s: cols must be >= 0 (0: ceil(sqrt(N))), got %d", path,
                  cols);
    if (!isfinite(vmin) || !isfinite(vmax) || !(vmin < vmax))
        KEEL_FAIL(KEEL_ERR_ARG,
                  "keel_save_image_grid: %s: the value range [vmin, vmax] = [%g, %g] is empty "
                  "(vmin must be below vmax, both finite; e.g. 0, 1 or -1, 1)",
                  path, (double)vmin, (double)vmax);
    return KEEL_OK;
}

keel_status keel_save_image_grid(const char *path, const keel_tensor *images, int cols, float vmin,
                                 float vmax) {
    int64_t N = 0, H = 0, W = 0, C = 0;
    keel_status st = grid_check(path, images, cols, vmin, vmax, &N, &H, &W, &C);
    if (st) return st;
    if (images->dtype != KEEL_FLOAT32 || images->n_list)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_save_image_grid: %s: the images must be a float32 tensor",
                  path);
    /* the layout: cols x rows cells, a gap between neighbours, none around the edge; sizes
     * checked before any product can overflow */
    if (N > KEEL_IMAGE_MAX_PIXELS || H > KEEL_IMAGE_MAX_SIDE || W > KEEL_IMAGE_MAX_SIDE)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "keel_save_image_grid: %s: %lld images of %lldx%lld are too many "
                  "or too large for one PNG (at most %d pixels a side)",
                  path, (long long)N, (long long)H, (long long)W, KEEL_IMAGE_MAX_SIDE);
    const int64_t nc = cols == 0 ? ceil_sqrt(N) : KEEL_MIN((int64_t)cols, N);
    const int64_t nr = (N + nc - 1) / nc;
    const int64_t gw = nc * W + (nc - 1) * GRID_GAP, gh = nr * H + (nr - 1) * GRID_GAP;
    if (gw > KEEL_IMAGE_MAX_SIDE || gh > KEEL_IMAGE_MAX_SIDE || gw * gh > KEEL_IMAGE_MAX_PIXELS)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "keel_save_image_grid: %s: %lld images of %lldx%lld, %lld per row, make a "
                  "%lldx%lld grid, over the PNG limit of %d pixels a side, %lld in all (write "
                  "fewer images per file)",
                  path, (long long)N, (long long)H, (long long)W, (long long)nc, (long long)gh,
                  (long long)gw, KEEL_IMAGE_MAX_SIDE, (long long)KEEL_IMAGE_MAX_PIXELS);
    /* 8-bit, gray or RGB like the input; the background first, then each image over it */
    keel_image img = {.h = (int)gh, .w = (int)gw, .c = (int)C};
    img.px = keel_alloc((size_t)(gw * gh * C));
    if (!img.px) return KEEL_ERR_NOMEM;
    memset(img.px, GRID_BACK, (size_t)(gw * gh * C));
    const double k = 255.0 / ((double)vmax - (double)vmin);
    /* image i's row y is one run of W * C values in the batch and in the grid alike */
    const float *src = images->data;
    for (int64_t i = 0; i < N; i++) {
        /* the top-left pixel of cell (i / nc, i % nc) */
        const int64_t y0 = (i / nc) * (H + GRID_GAP), x0 = (i % nc) * (W + GRID_GAP);
        for (int64_t y = 0; y < H; y++) {
            const float *s = src + ((i * H + y) * W) * C;
            uint8_t *d = img.px + ((y0 + y) * gw + x0) * C;
            for (int64_t j = 0; j < W * C; j++)
                d[j] = quantize(s[j], vmin, k);
        }
    }
    st = keel_image_write_png(path, &img);
    keel_free(img.px);
    if (st) { /* image.c names the file and the reason; say who was writing it */
        char why[KEEL_ERR_CAP];
        snprintf(why, sizeof why, "%s", keel_last_error());
        return keel_error(st, "keel_save_image_grid: %s", why);
    }
    return KEEL_OK;
}
