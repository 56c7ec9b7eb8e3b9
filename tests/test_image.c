/* test_image.c: the image module against PIL (Pillow 13.0.0; tools/make_image_fixtures.py made
 * the fixtures and their expected pixels). Every good fixture decodes to exactly Pillow's bytes
 * in L, RGB and RGBA, JPEG included (libjpeg's default settings, islow IDCT and fancy upsampling,
 * are PIL's, so the pixels are the same: no tolerance anywhere in decoding). Nearest and bilinear
 * resizes match Pillow's exactly, not merely within a level. The PNG writer round-trips exactly,
 * the JPEG writer within a few levels. Hostile and unsupported files, every prefix of a good file
 * and each of its bytes corrupted in turn give an error naming the file (or a clean decode),
 * never a crash; the sanitizer build (-DKEEL_SANITIZE=ON) turns any overrun into a failure. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/image.h"

#define FIXTURES KEEL_SOURCE_DIR "/tests/fixtures/images/"

static char dir[] = "/tmp/keel_test_image_XXXXXX";
static void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
TestSuite(image, .init = setup, .fini = teardown);

static const char *fixture(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s%s", FIXTURES, name);
    return buf;
}

static const char *tmp(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

#define EXPECT_MSG(needle)                                                                         \
    cr_expect(strstr(keel_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",            \
              keel_last_error(), needle)

/* ---- expected.txt: `name count v1 ... vcount` records */

typedef struct record {
    char name[160];
    size_t n;
    uint8_t *v;
} record;

static record *records;
static int nrecords;

static void load_records(void) {
    FILE *f = fopen(FIXTURES "expected.txt", "r");
    cr_assert_not_null(f, "missing fixtures: run tools/make_image_fixtures.py");
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '#' || line[0] == '\n') continue;
        records = realloc(records, (size_t)(nrecords + 1) * sizeof *records);
        record *r = &records[nrecords++];
        char *p = strchr(line, ' ');
        cr_assert_not_null(p);
        *p++ = 0;
        snprintf(r->name, sizeof r->name, "%s", line);
        r->n = strtoull(p, &p, 10);
        r->v = malloc(r->n);
        for (size_t i = 0; i < r->n; i++)
            r->v[i] = (uint8_t)strtol(p, &p, 10);
    }
    free(line);
    fclose(f);
}

static void free_records(void) {
    for (int i = 0; i < nrecords; i++)
        free(records[i].v);
    free(records);
    records = NULL, nrecords = 0;
}

static int mode_channels(const char *mode) {
    return !strcmp(mode, "L") ? 1 : !strcmp(mode, "RGB") ? 3 : !strcmp(mode, "RGBA") ? 4 : 0;
}

/* Compares img with a record; reports the first differing byte. */
static void expect_pixels(const keel_image *img, const record *r) {
    size_t n = (size_t)img->h * img->w * img->c;
    cr_assert_eq(n, r->n, "%s: %zu values, PIL has %zu", r->name, n, r->n);
    for (size_t i = 0; i < n; i++)
        if (img->px[i] != r->v[i]) {
            size_t px = i / img->c;
            cr_expect(false, "%s: pixel (y %zu, x %zu) channel %zu is %d, PIL has %d", r->name,
                      px / img->w, px % img->w, i % img->c, img->px[i], r->v[i]);
            return;
        }
}

Test(image, every_good_file_decodes_like_pil) {
    load_records();
    int checked = 0;
    for (int i = 0; i < nrecords; i++) {
        const record *r = &records[i];
        char file[64], mode[8];
        int h, w;
        if (!strncmp(r->name, "resize/", 7)) continue;
        cr_assert_eq(sscanf(r->name, "%63[^/]/%7[^/]/%dx%d", file, mode, &h, &w), 4, "%s", r->name);
        keel_image img;
        keel_status st = keel_image_load(fixture(file), mode_channels(mode), &img);
        cr_assert_eq(st, KEEL_OK, "%s: %s", r->name, keel_last_error());
        cr_expect_eq(img.h, h, "%s: height %d", r->name, img.h);
        cr_expect_eq(img.w, w, "%s: width %d", r->name, img.w);
        cr_expect_eq(img.c, mode_channels(mode));
        expect_pixels(&img, r);
        keel_image_free(&img);
        cr_expect_null(img.px, "keel_image_free zeroes the struct");
        checked++;
    }
    cr_expect_geq(checked, 22 * 3, "only %d decode records", checked);
    free_records();
}

Test(image, resizes_match_pil_exactly) {
    load_records();
    int checked = 0;
    for (int i = 0; i < nrecords; i++) {
        const record *r = &records[i];
        char file[64], mode[8], interp[16];
        int h, w;
        if (strncmp(r->name, "resize/", 7)) continue;
        cr_assert_eq(
            sscanf(r->name, "resize/%63[^/]/%7[^/]/%15[^/]/%dx%d", file, mode, interp, &h, &w), 5,
            "%s", r->name);
        keel_image img, out;
        cr_assert_eq(keel_image_load(fixture(file), mode_channels(mode), &img), KEEL_OK);
        keel_status st = keel_image_resize(&img, h, w, interp, &out);
        cr_assert_eq(st, KEEL_OK, "%s: %s", r->name, keel_last_error());
        cr_expect(out.h == h && out.w == w && out.c == img.c);
        expect_pixels(&out, r);
        keel_image_free(&out);
        keel_image_free(&img);
        checked++;
    }
    cr_expect_geq(checked, 26, "only %d resize records", checked);
    free_records();
}

Test(image, resize_details) {
    keel_image img, out;
    cr_assert_eq(keel_image_load(fixture("rgb.png"), 3, &img), KEEL_OK);
    /* NULL is nearest */
    keel_image a, b;
    cr_assert_eq(keel_image_resize(&img, 9, 11, NULL, &a), KEEL_OK);
    cr_assert_eq(keel_image_resize(&img, 9, 11, "nearest", &b), KEEL_OK);
    cr_expect_eq(memcmp(a.px, b.px, 9 * 11 * 3), 0);
    keel_image_free(&a);
    keel_image_free(&b);
    /* the same size is a copy, with either filter */
    cr_assert_eq(keel_image_resize(&img, 7, 5, "bilinear", &out), KEEL_OK);
    cr_expect_eq(memcmp(out.px, img.px, 7 * 5 * 3), 0);
    cr_expect_neq(out.px, img.px);
    keel_image_free(&out);
    /* bad arguments leave out untouched */
    keel_image keep = {.h = -1, .w = -2, .c = -3, .px = NULL};
    out = keep;
    cr_expect_eq(keel_image_resize(&img, 4, 4, "bicubic", &out), KEEL_ERR_ARG);
    EXPECT_MSG("unknown interpolation \"bicubic\"");
    cr_expect_eq(keel_image_resize(&img, 0, 4, NULL, &out), KEEL_ERR_ARG);
    EXPECT_MSG("out of range");
    cr_expect_eq(keel_image_resize(&img, 20000, 4, NULL, &out), KEEL_ERR_ARG);
    cr_expect_eq(keel_image_resize(NULL, 4, 4, NULL, &out), KEEL_ERR_ARG);
    keel_image bad = img;
    bad.c = 2;
    cr_expect_eq(keel_image_resize(&bad, 4, 4, NULL, &out), KEEL_ERR_ARG);
    cr_expect(out.h == -1 && out.w == -2 && out.c == -3 && out.px == NULL);
    /* in place: out == src replaces (and frees) the old pixels */
    cr_assert_eq(keel_image_resize(&img, 2, 3, "bilinear", &img), KEEL_OK);
    cr_expect(img.h == 2 && img.w == 3 && img.c == 3);
    keel_image_free(&img);
    keel_image_free(NULL);
}

Test(image, decode_from_memory_matches_load) {
    const char *names[] = {"rgb.png", "rgb.jpg", "palette8.bmp", "gray.pgm"};
    for (int i = 0; i < 4; i++) {
        FILE *f = fopen(fixture(names[i]), "rb");
        cr_assert_not_null(f);
        uint8_t buf[4096];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        keel_image a, b;
        cr_assert_eq(keel_image_load(fixture(names[i]), 3, &a), KEEL_OK);
        cr_assert_eq(keel_image_decode(buf, n, names[i], 3, &b), KEEL_OK, "%s", keel_last_error());
        cr_expect(a.h == b.h && a.w == b.w && a.c == b.c);
        cr_expect_eq(memcmp(a.px, b.px, (size_t)a.h * a.w * a.c), 0, "%s", names[i]);
        keel_image_free(&a);
        keel_image_free(&b);
    }
}

/* A smooth test picture: gradients that a JPEG keeps well. */
static keel_image picture(int h, int w, int c) {
    keel_image img = {.h = h, .w = w, .c = c, .px = malloc((size_t)h * w * c)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                img.px[((size_t)y * w + x) * c + k] =
                    (uint8_t)(k == 3 ? (x * 37 + y * 11) % 256 : x * 3 + y * 2 + k * 30);
    return img;
}

Test(image, png_writer_round_trips_exactly) {
    const int cs[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        keel_image img = picture(13, 17, cs[i]), back;
        cr_assert_eq(keel_image_write_png(tmp("w.png"), &img), KEEL_OK, "%s", keel_last_error());
        cr_assert_eq(keel_image_load(tmp("w.png"), cs[i], &back), KEEL_OK, "%s", keel_last_error());
        cr_expect(back.h == 13 && back.w == 17 && back.c == cs[i]);
        cr_expect_eq(memcmp(back.px, img.px, (size_t)13 * 17 * cs[i]), 0, "c = %d", cs[i]);
        keel_image_free(&back);
        free(img.px);
    }
    keel_image img = picture(2, 2, 3);
    cr_expect_eq(keel_image_write_png(KEEL_SOURCE_DIR "/no/such/dir/w.png", &img), KEEL_ERR_IO);
    EXPECT_MSG("no/such/dir/w.png: cannot open for writing");
    img.c = 2;
    cr_expect_eq(keel_image_write_png(tmp("x.png"), &img), KEEL_ERR_ARG);
    free(img.px);
}

Test(image, jpeg_writer_round_trips_within_tolerance) {
    const int cs[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        keel_image img = picture(24, 40, cs[i]), back;
        cr_assert_eq(keel_image_write_jpeg(tmp("w.jpg"), &img, 95), KEEL_OK, "%s",
                     keel_last_error());
        cr_assert_eq(keel_image_load(tmp("w.jpg"), cs[i], &back), KEEL_OK, "%s", keel_last_error());
        cr_assert(back.h == 24 && back.w == 40 && back.c == cs[i]);
        /* lossy: quality 95 and 4:2:0 chroma keep this smooth picture within 4 levels (it gives 1
         * gray, 2 RGB) */
        int worst = 0;
        double sum = 0;
        size_t n = (size_t)24 * 40 * cs[i];
        for (size_t k = 0; k < n; k++) {
            int d = abs(back.px[k] - img.px[k]);
            worst = d > worst ? d : worst;
            sum += d;
        }
        cr_expect_leq(worst, 4, "c = %d: worst difference %d", cs[i], worst);
        cr_expect_leq(sum / n, 1.0, "c = %d: mean difference %g", cs[i], sum / n);
        keel_image_free(&back);
        free(img.px);
    }
    keel_image img = picture(4, 4, 4);
    cr_expect_eq(keel_image_write_jpeg(tmp("a.jpg"), &img, 90), KEEL_ERR_ARG);
    EXPECT_MSG("JPEG has no alpha");
    img.c = 3;
    cr_expect_eq(keel_image_write_jpeg(tmp("a.jpg"), &img, 0), KEEL_ERR_ARG);
    EXPECT_MSG("quality 0 out of range");
    cr_expect_eq(keel_image_write_jpeg(KEEL_SOURCE_DIR "/no/such/dir/a.jpg", &img, 90),
                 KEEL_ERR_IO);
    EXPECT_MSG("no/such/dir/a.jpg: cannot open for writing");
    free(img.px);
}

/* Loads a file that must fail: the status, the file's name and `needle` in the message, and
 * *out untouched. */
static void expect_refused(const char *name, keel_status want, const char *needle) {
    keel_image out = {.h = 12345, .w = 678, .c = 9, .px = NULL};
    for (int c = 1; c <= 4; c += (c == 1 ? 2 : 1)) {
        keel_status st = keel_image_load(fixture(name), c, &out);
        cr_expect_eq(st, want, "%s: status %d, expected %d (%s)", name, st, want,
                     keel_last_error());
        EXPECT_MSG(name);
        EXPECT_MSG(needle);
        cr_expect(out.h == 12345 && out.w == 678 && out.c == 9 && out.px == NULL,
                  "%s: out was touched", name);
    }
}

Test(image, hostile_files_give_an_error_naming_the_file) {
    expect_refused("trunc_idat.png", KEEL_ERR_FORMAT, "bad PNG: the file ends early (truncated)");
    expect_refused("bad_crc.png", KEEL_ERR_FORMAT, "bad PNG: IHDR: CRC error");
    expect_refused("empty.png", KEEL_ERR_FORMAT, "empty file (0 bytes)");
    expect_refused("huge.png", KEEL_ERR_FORMAT, "PNG declares 1000000x1000000 pixels");
    expect_refused("trunc.jpg", KEEL_ERR_FORMAT, "bad JPEG: Premature end of JPEG file");
    expect_refused("huge.jpg", KEEL_ERR_FORMAT, "JPEG declares 65500x65500 pixels");
    expect_refused("fake.png", KEEL_ERR_FORMAT,
                   "not a PNG, JPEG, BMP or PPM/PGM image (it starts with bytes 74 68 69 73;");
    expect_refused("short.bmp", KEEL_ERR_FORMAT, "truncated BMP");
    expect_refused("missing.png", KEEL_ERR_IO, "cannot open (No such file or directory)");
}

Test(image, unsupported_files_say_what_is_unsupported) {
    expect_refused("cmyk.jpg", KEEL_ERR_FORMAT, "CMYK JPEG is not supported");
    expect_refused("rle8.bmp", KEEL_ERR_FORMAT, "compressed BMP (compression 1) is not supported");
    expect_refused("gray16.pgm", KEEL_ERR_FORMAT, "PGM maxval 65535 is not supported");
    const uint8_t gif[] = "GIF89a\1\0\1\0";
    keel_image out;
    cr_expect_eq(keel_image_decode(gif, sizeof gif, "a.gif", 3, &out), KEEL_ERR_FORMAT);
    EXPECT_MSG("a.gif: GIF images are not supported");
    const uint8_t pbm[] = "P4 1 1\n\x80";
    cr_expect_eq(keel_image_decode(pbm, sizeof pbm, "a.pbm", 1, &out), KEEL_ERR_FORMAT);
    EXPECT_MSG("a.pbm: ASCII or bitmap PNM images are not supported");
    const uint8_t ppm[] = "P6 1 1 255";
    cr_expect_eq(keel_image_decode(ppm, sizeof ppm - 1, "b.ppm", 1, &out), KEEL_ERR_FORMAT);
    EXPECT_MSG("b.ppm: bad PPM header");
}

Test(image, bad_arguments) {
    keel_image out;
    cr_expect_eq(keel_image_load(NULL, 3, &out), KEEL_ERR_ARG);
    cr_expect_eq(keel_image_load(fixture("rgb.png"), 3, NULL), KEEL_ERR_ARG);
    cr_expect_eq(keel_image_load(fixture("rgb.png"), 2, &out), KEEL_ERR_ARG);
    EXPECT_MSG("channels must be 1, 3 or 4, got 2");
    cr_expect_eq(keel_image_decode(NULL, 10, "x", 3, &out), KEEL_ERR_ARG);
    cr_expect_eq(keel_image_load(KEEL_SOURCE_DIR "/tests", 3, &out), KEEL_ERR_IO);
    EXPECT_MSG("/tests: read error");
}

/* Every prefix and every one-byte corruption of every good file: an error that names the file,
 * or an image; never a crash, an overrun (the sanitizer build checks) or a leak. */
Test(image, truncations_and_corruptions_never_crash) {
    const char *names[] = {"gray.png",   "gray_alpha.png",     "palette_trns.png", "gray16.png",
                           "rgb16.png",  "rgb_interlaced.png", "rgb.jpg",          "gray.jpg",
                           "rgb24.bmp",  "rgb32.bmp",          "palette8.bmp",     "rgb.ppm",
                           "comment.ppm"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        FILE *f = fopen(fixture(names[i]), "rb");
        cr_assert_not_null(f);
        uint8_t buf[4096];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        uint8_t *copy = malloc(n);
        for (size_t cut = 0; cut <= n; cut++) {
            /* a copy of exactly `cut` bytes, so that the sanitizer sees any read past it */
            uint8_t *part = malloc(cut ? cut : 1);
            memcpy(part, buf, cut);
            keel_image img;
            keel_status st = keel_image_decode(part, cut, names[i], 4, &img);
            if (st)
                EXPECT_MSG(names[i]);
            else
                keel_image_free(&img);
            free(part);
        }
        for (size_t at = 0; at < n; at++) {
            memcpy(copy, buf, n);
            copy[at] ^= 0xA5;
            keel_image img;
            keel_status st = keel_image_decode(copy, n, names[i], 3, &img);
            if (st)
                EXPECT_MSG(names[i]);
            else
                keel_image_free(&img);
        }
        free(copy);
    }
}
