/* image.c: PNG (libpng), JPEG (libjpeg-turbo), BMP and PPM/PGM decoding, PIL's resizes, and
 * PNG / JPEG writers, for the image-folder iterator (see image.h for the contract).
 *
 * Every decoder first produces the file's own layout (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA, 8-bit)
 * and then converts it to what the caller asked for with PIL's rules, so one conversion routine
 * serves all formats. Declared sizes are checked against KEEL_IMAGE_MAX_* before any pixel buffer
 * is allocated, and every read is bounds-checked: a hostile header costs an error message, never
 * a large allocation or a crash. libpng and libjpeg report errors by longjmp; each setjmp lives
 * in a tiny function of its own whose only state is behind pointers, so nothing is clobbered.
 * Not here: GIF, TIFF, WebP, CMYK JPEG, compressed BMP (all refused with a message). */
#include "image.h"

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#define KEEL_IMAGE_MAX_FILE ((size_t)1 << 30) /* more than any image under the pixel limit */

static keel_status check_dims(const char *name, const char *what, int64_t w, int64_t h) {
    if (w <= 0 || h <= 0)
        return keel_error(KEEL_ERR_FORMAT, "%s: %s declares an empty image (%lldx%lld)", name, what,
                          (long long)w, (long long)h);
    /* sides first, so that the product cannot overflow */
    if (w > KEEL_IMAGE_MAX_SIDE || h > KEEL_IMAGE_MAX_SIDE || w * h > KEEL_IMAGE_MAX_PIXELS)
        return keel_error(KEEL_ERR_FORMAT,
                          "%s: %s declares %lldx%lld pixels (width x height), more than keel "
                          "decodes (%d per side, %lld in all)",
                          name, what, (long long)w, (long long)h, KEEL_IMAGE_MAX_SIDE,
                          (long long)KEEL_IMAGE_MAX_PIXELS);
    return KEEL_OK;
}

/* Checks an image handed in by the caller (resize, writers). */
static keel_status check_image(const keel_image *img, const char *who) {
    if (!img || !img->px)
        return keel_error(KEEL_ERR_ARG, "%s: the image is NULL or has no pixels", who);
    if (img->c != 1 && img->c != 3 && img->c != 4)
        return keel_error(KEEL_ERR_ARG, "%s: the image has %d channels (expected 1, 3 or 4)", who,
                          img->c);
    if (img->w <= 0 || img->h <= 0 || img->w > KEEL_IMAGE_MAX_SIDE ||
        img->h > KEEL_IMAGE_MAX_SIDE || (int64_t)img->w * img->h > KEEL_IMAGE_MAX_PIXELS)
        return keel_error(KEEL_ERR_ARG, "%s: image size %dx%d (h x w) out of range", who, img->h,
                          img->w);
    return KEEL_OK;
}

static keel_status image_new(keel_image *img, int h, int w, int c, const char *name) {
    img->px = keel_alloc((size_t)h * w * c);
    if (!img->px)
        return keel_error(KEEL_ERR_NOMEM, "%s: out of memory for a %dx%d image of %d channels",
                          name, h, w, c);
    img->h = h, img->w = w, img->c = c;
    return KEEL_OK;
}

void keel_image_free(keel_image *img) {
    if (!img) return;
    keel_free(img->px);
    memset(img, 0, sizeof *img);
}

/* PIL's L = R * 299/1000 + G * 587/1000 + B * 114/1000, in its 16-bit fixed point. */
static uint8_t pil_luma(uint32_t r, uint32_t g, uint32_t b) {
    return (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
}

/* Converts img (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) in place to `channels` (1, 3 or 4) as PIL's
 * convert does: no compositing, alpha dropped or set to 255. */
static keel_status to_channels(keel_image *img, int channels, const char *name) {
    if (img->c == channels) return KEEL_OK;
    keel_image o;
    keel_status st = image_new(&o, img->h, img->w, channels, name);
    if (st) return st;
    const int c = img->c;
    const uint8_t *s = img->px;
    uint8_t *d = o.px;
    for (size_t i = 0, n = (size_t)img->h * img->w; i < n; i++, s += c, d += channels) {
        uint8_t r = s[0], g = c > 2 ? s[1] : s[0], b = c > 2 ? s[2] : s[0];
        if (channels == 1) {
            d[0] = c > 2 ? pil_luma(r, g, b) : s[0];
        } else {
            d[0] = r, d[1] = g, d[2] = b;
            if (channels == 4) d[3] = c == 2 ? s[1] : c == 4 ? s[3] : 255;
        }
    }
    keel_image_free(img);
    *img = o;
    return KEEL_OK;
}

static uint32_t rd32be(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t rd32le(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint32_t rd16le(const uint8_t *p) {
    return (uint32_t)p[1] << 8 | p[0];
}

/* ---------------------------------------------------------------- PNG (libpng) */

typedef struct png_job {
    const uint8_t *data;
    size_t size, pos;
    const char *name;
    char msg[160];  /* libpng's error message */
    keel_image img; /* the file's own layout, 1..4 channels */
    uint8_t *raw16; /* 16-bit gray samples before PIL's clipping */
    png_bytep *rows;
} png_job;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* PIL does not complain about what libpng merely warns about (unknown chunks, bad ancillary
 * data), and keel prints nothing. */
static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png, (void)msg;
}

static void png_on_read(png_structp png, png_bytep dst, size_t n) {
    png_job *j = png_get_io_ptr(png);
    if (n > j->size - j->pos) png_error(png, "the file ends early (truncated)");
    memcpy(dst, j->data + j->pos, n);
    j->pos += n;
}

static keel_status png_body(png_structp png, png_infop info, png_job *j) {
    png_set_read_fn(png, j, png_on_read);
    /* PIL verifies the CRC of every chunk before the first IDAT and of none after it */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, type;
    png_get_IHDR(png, info, &w, &h, &depth, &type, NULL, NULL, NULL);
    keel_status st = check_dims(j->name, "PNG", w, h);
    if (st) return st;
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
    /* palette -> RGB, gray < 8 bits -> 8 bits (bit replication, like PIL's L;2 / L;4), tRNS ->
     * alpha. 16-bit: PIL keeps the high byte (RGB;16B, LA;16B, RGBA;16B), except for plain gray,
     * which it opens as I;16 and clips to 0..255 when converting. */
    bool gray16 = type == PNG_COLOR_TYPE_GRAY && depth == 16;
    png_set_expand(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int nc = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (nc < 1 || nc > 4 || rowbytes != (size_t)w * nc * (gray16 ? 2 : 1))
        return keel_error(KEEL_ERR_FORMAT, "%s: PNG layout not understood (%d channels)", j->name,
                          nc);
    if ((st = image_new(&j->img, (int)h, (int)w, nc, j->name))) return st;
    uint8_t *dst = j->img.px;
    if (gray16 && !(dst = j->raw16 = keel_alloc(h * rowbytes)))
        return keel_error(KEEL_ERR_NOMEM, "%s: out of memory for 16-bit rows", j->name);
    if (!(j->rows = keel_alloc(h * sizeof *j->rows)))
        return keel_error(KEEL_ERR_NOMEM, "%s: out of memory for row pointers", j->name);
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = dst + y * rowbytes;
    png_read_image(png, j->rows);
    /* No png_read_end: PIL reads nothing after the image data either (a missing IEND is fine). */
    if (gray16)
        for (size_t i = 0, n = (size_t)h * w * nc; i < n; i++) {
            uint8_t hi = j->raw16[2 * i], lo = j->raw16[2 * i + 1];
            j->img.px[i] = i % nc == 0 ? (hi ? 255 : lo) : hi; /* gray clipped; alpha high byte */
        }
    return KEEL_OK;
}

static keel_status png_run(png_structp png, png_infop info, png_job *j) {
    if (setjmp(png_jmpbuf(png)))
        return keel_error(KEEL_ERR_FORMAT, "%s: bad PNG: %s", j->name, j->msg);
    return png_body(png, info, j);
}

static keel_status decode_png(const uint8_t *d, size_t n, const char *name, keel_image *out) {
    /* the size, before libpng sees the file: its own limit (1000000 per side) is far larger */
    if (n >= 24 && !memcmp(d + 12, "IHDR", 4)) {
        keel_status st = check_dims(name, "PNG", rd32be(d + 16), rd32be(d + 20));
        if (st) return st;
    }
    png_job j = {.data = d, .size = n, .name = name};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    keel_status st = info ? png_run(png, info, &j)
                          : keel_error(KEEL_ERR_NOMEM, "%s: out of memory starting libpng", name);
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    keel_free(j.rows);
    keel_free(j.raw16);
    if (st) {
        keel_free(j.img.px);
        return st;
    }
    *out = j.img;
    return KEEL_OK;
}

/* ---------------------------------------------------------------- JPEG (libjpeg-turbo) */

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr; /* first: libjpeg hands back a pointer to it */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_on_error(j_common_ptr ci) {
    jpeg_fail *f = (jpeg_fail *)ci->err;
    ci->err->format_message(ci, f->msg);
    longjmp(f->jb, 1);
}

/* libjpeg goes on after a warning (corrupt data is decoded as best it can), and so does PIL,
 * except when the data run out, which PIL reports as "image file is truncated". */
static void jpeg_on_message(j_common_ptr ci, int level) {
    if (level < 0 && ci->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(ci);
}

typedef struct jpeg_job {
    const uint8_t *data;
    size_t size;
    const char *name;
    keel_image img;
} jpeg_job;

static keel_status jpeg_body(j_decompress_ptr ci, jpeg_job *j) {
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, j->data, (unsigned long)j->size);
    jpeg_read_header(ci, TRUE);
    keel_status st = check_dims(j->name, "JPEG", ci->image_width, ci->image_height);
    if (st) return st;
    int c;
    if (ci->num_components == 1) {
        c = 1, ci->out_color_space = JCS_GRAYSCALE;
    } else if (ci->num_components == 3 &&
               (ci->jpeg_color_space == JCS_YCbCr || ci->jpeg_color_space == JCS_RGB)) {
        /* RGB out; 'L' is then PIL's formula on RGB, not libjpeg's Y channel */
        c = 3, ci->out_color_space = JCS_RGB;
    } else if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK) {
        return keel_error(KEEL_ERR_FORMAT, "%s: CMYK JPEG is not supported (convert it to RGB)",
                          j->name);
    } else {
        return keel_error(KEEL_ERR_FORMAT, "%s: JPEG with %d components is not supported", j->name,
                          ci->num_components);
    }
    /* PIL's settings, which are libjpeg's defaults: the pixels then match PIL's exactly */
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;
    ci->scale_num = ci->scale_denom = 1;
    jpeg_start_decompress(ci);
    if (ci->output_width != ci->image_width || ci->output_height != ci->image_height ||
        ci->output_components != c)
        return keel_error(KEEL_ERR_FORMAT, "%s: JPEG decoder output not understood", j->name);
    if ((st = image_new(&j->img, (int)ci->output_height, (int)ci->output_width, c, j->name)))
        return st;
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = j->img.px + (size_t)ci->output_scanline * j->img.w * c;
        jpeg_read_scanlines(ci, &row, 1);
    }
    jpeg_finish_decompress(ci);
    return KEEL_OK;
}

static keel_status jpeg_run(j_decompress_ptr ci, jpeg_fail *f, jpeg_job *j) {
    if (setjmp(f->jb)) return keel_error(KEEL_ERR_FORMAT, "%s: bad JPEG: %s", j->name, f->msg);
    return jpeg_body(ci, j);
}

static keel_status decode_jpeg(const uint8_t *d, size_t n, const char *name, keel_image *out) {
    struct jpeg_decompress_struct ci;
    jpeg_fail f;
    jpeg_job j = {.data = d, .size = n, .name = name};
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&f.mgr);
    f.mgr.error_exit = jpeg_on_error;
    f.mgr.emit_message = jpeg_on_message;
    keel_status st = jpeg_run(&ci, &f, &j);
    jpeg_destroy_decompress(&ci); /* safe however far jpeg_run got */
    if (st) {
        keel_free(j.img.px);
        return st;
    }
    *out = j.img;
    return KEEL_OK;
}

/* ---------------------------------------------------------------- BMP */

/* Uncompressed (BI_RGB) 8-bit paletted, 24- and 32-bit BMPs, bottom-up or top-down, with a
 * BITMAPCOREHEADER (12 bytes) or a BITMAPINFOHEADER or later (40..124 bytes), as PIL reads them. */
static keel_status decode_bmp(const uint8_t *d, size_t n, const char *name, keel_image *out) {
    if (n < 26) return keel_error(KEEL_ERR_FORMAT, "%s: BMP too short for its headers", name);
    uint32_t off = rd32le(d + 10), hsize = rd32le(d + 14), comp = 0, colors = 0;
    int64_t w, h;
    int bpp, entry = 4; /* bytes per palette entry: BGRX, or BGR with the core header */
    if (hsize == 12) {
        w = rd16le(d + 18), h = rd16le(d + 20), bpp = (int)rd16le(d + 24), entry = 3;
    } else if (hsize >= 40 && hsize <= 124) {
        if (n < 54) return keel_error(KEEL_ERR_FORMAT, "%s: truncated BMP header", name);
        w = (int32_t)rd32le(d + 18), h = (int32_t)rd32le(d + 22), bpp = (int)rd16le(d + 28);
        comp = rd32le(d + 30), colors = rd32le(d + 46);
    } else {
        return keel_error(KEEL_ERR_FORMAT, "%s: BMP header of %u bytes is not supported", name,
                          hsize);
    }
    bool top_down = h < 0; /* a negative height means the first row is the top one */
    if (top_down) h = -h;
    if (comp != 0)
        return keel_error(KEEL_ERR_FORMAT,
                          "%s: compressed BMP (compression %u) is not supported (only "
                          "uncompressed 8-, 24- and 32-bit)",
                          name, comp);
    if (bpp != 8 && bpp != 24 && bpp != 32)
        return keel_error(KEEL_ERR_FORMAT,
                          "%s: %d-bit BMP is not supported (only 8-, 24- and 32-bit)", name, bpp);
    keel_status st = check_dims(name, "BMP", w, h);
    if (st) return st;
    uint8_t pal[256][3] = {{0}};
    if (bpp == 8) {
        if (colors == 0) colors = 256;
        size_t at = 14 + (size_t)hsize;
        if (colors > 256 || at + (size_t)colors * entry > n)
            return keel_error(KEEL_ERR_FORMAT, "%s: BMP palette of %u colors does not fit", name,
                              colors);
        bool ramp = true;
        for (uint32_t i = 0; i < colors; i++) {
            const uint8_t *e = d + at + (size_t)i * entry;
            pal[i][0] = e[2], pal[i][1] = e[1], pal[i][2] = e[0];
            ramp = ramp && e[0] == i && e[1] == i && e[2] == i;
        }
        /* PIL opens a gray-ramp palette as L and so shows an index past the palette as is;
         * otherwise (mode P) as black */
        for (uint32_t i = colors; ramp && i < 256; i++)
            pal[i][0] = pal[i][1] = pal[i][2] = i;
    }
    size_t stride = ((size_t)w * bpp + 31) / 32 * 4, used = (size_t)w * bpp / 8;
    if (off > n || (size_t)(h - 1) * stride + used > n - off)
        return keel_error(KEEL_ERR_FORMAT,
                          "%s: truncated BMP: the header declares %lldx%lld pixels from offset "
                          "%u (%zu bytes in all), the file has %zu",
                          name, (long long)w, (long long)h, off, (size_t)h * stride + off, n);
    keel_image img;
    if ((st = image_new(&img, (int)h, (int)w, 3, name))) return st;
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *s = d + off + (size_t)(top_down ? y : h - 1 - y) * stride;
        uint8_t *p = img.px + (size_t)y * w * 3;
        for (int64_t x = 0; x < w; x++, p += 3) {
            if (bpp == 8) {
                memcpy(p, pal[s[x]], 3);
            } else { /* BGR or BGRX: PIL ignores the 4th byte of a BI_RGB 32-bit BMP */
                const uint8_t *q = s + x * (bpp / 8);
                p[0] = q[2], p[1] = q[1], p[2] = q[0];
            }
        }
    }
    *out = img;
    return KEEL_OK;
}

/* ---------------------------------------------------------------- PPM / PGM */

/* The next header number: whitespace and '#' comments (to the end of the line) skipped. */
static bool pnm_number(const uint8_t *d, size_t n, size_t *pos, int64_t *v) {
    size_t p = *pos;
    for (;;) {
        while (p < n && isspace(d[p]))
            p++;
        if (p >= n || d[p] != '#') break;
        while (p < n && d[p] != '\n' && d[p] != '\r')
            p++;
    }
    if (p >= n || !isdigit(d[p])) return false;
    int64_t x = 0;
    for (; p < n && isdigit(d[p]); p++)
        if ((x = x * 10 + (d[p] - '0')) > 1000000000) return false;
    *pos = p, *v = x;
    return true;
}

static keel_status decode_pnm(const uint8_t *d, size_t n, const char *name, keel_image *out) {
    int c = d[1] == '6' ? 3 : 1;
    const char *what = c == 3 ? "PPM" : "PGM";
    size_t pos = 2;
    int64_t w, h, maxval;
    if (!pnm_number(d, n, &pos, &w) || !pnm_number(d, n, &pos, &h) ||
        !pnm_number(d, n, &pos, &maxval) || pos >= n || !isspace(d[pos]))
        return keel_error(KEEL_ERR_FORMAT, "%s: bad %s header (expected width, height, maxval)",
                          name, what);
    pos++; /* exactly one whitespace byte before the pixels */
    if (maxval != 255)
        return keel_error(KEEL_ERR_FORMAT, "%s: %s maxval %lld is not supported (only 255)", name,
                          what, (long long)maxval);
    keel_status st = check_dims(name, what, w, h);
    if (st) return st;
    size_t need = (size_t)w * h * c;
    if (n - pos < need)
        return keel_error(KEEL_ERR_FORMAT, "%s: truncated %s: %zu pixel bytes, %zu expected", name,
                          what, n - pos, need);
    keel_image img;
    if ((st = image_new(&img, (int)h, (int)w, c, name))) return st;
    memcpy(img.px, d + pos, need);
    *out = img;
    return KEEL_OK;
}

/* ---------------------------------------------------------------- format detection */

static keel_status unknown_format(const uint8_t *d, size_t n, const char *name) {
    const char *known = NULL;
    if (n >= 4 && !memcmp(d, "GIF8", 4)) known = "GIF";
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) known = "TIFF";
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) known = "WebP";
    if (n >= 2 && d[0] == 'P' && d[1] && strchr("12347", d[1])) known = "ASCII or bitmap PNM";
    if (known)
        return keel_error(KEEL_ERR_FORMAT,
                          "%s: %s images are not supported (keel reads PNG, JPEG, BMP and "
                          "binary PPM/PGM)",
                          name, known);
    char hex[16] = "";
    for (size_t i = 0, len = 0; i < n && i < 4; i++)
        len += (size_t)snprintf(hex + len, sizeof hex - len, "%s%02x", i ? " " : "", d[i]);
    return keel_error(KEEL_ERR_FORMAT,
                      "%s: not a PNG, JPEG, BMP or PPM/PGM image (it starts with bytes %s; "
                      "keel goes by the content, not the extension)",
                      name, hex);
}

keel_status keel_image_decode(const uint8_t *data, size_t size, const char *name, int channels,
                              keel_image *out) {
    if (!name) name = "(image in memory)";
    if (!out || (!data && size))
        return keel_error(KEEL_ERR_ARG, "keel_image_decode: %s: data or out is NULL", name);
    if (channels != 1 && channels != 3 && channels != 4)
        return keel_error(KEEL_ERR_ARG, "keel_image_decode: %s: channels must be 1, 3 or 4, got %d",
                          name, channels);
    if (size == 0)
        return keel_error(KEEL_ERR_FORMAT, "%s: empty file (0 bytes), not an image", name);
    const uint8_t *d = data;
    keel_image img = {0};
    keel_status st;
    if (size >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) {
        st = decode_png(d, size, name, &img);
    } else if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        st = decode_jpeg(d, size, name, &img);
    } else if (size >= 2 && d[0] == 'B' && d[1] == 'M') {
        st = decode_bmp(d, size, name, &img);
    } else if (size >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6')) {
        st = decode_pnm(d, size, name, &img);
    } else {
        return unknown_format(d, size, name);
    }
    if (st == KEEL_OK) st = to_channels(&img, channels, name);
    if (st) {
        keel_image_free(&img);
        return st;
    }
    *out = img;
    return KEEL_OK;
}

keel_status keel_image_load(const char *path, int channels, keel_image *out) {
    if (!path || !out) return keel_error(KEEL_ERR_ARG, "keel_image_load: path or out is NULL");
    if (channels != 1 && channels != 3 && channels != 4)
        return keel_error(KEEL_ERR_ARG, "keel_image_load: %s: channels must be 1, 3 or 4, got %d",
                          path, channels);
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return keel_error(KEEL_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    /* read all of it, growing the buffer as bytes arrive (works for pipes too) */
    size_t cap = (size_t)1 << 16, n = 0;
    uint8_t *buf = keel_alloc(cap);
    keel_status st = buf ? KEEL_OK : keel_error(KEEL_ERR_NOMEM, "%s: out of memory", path);
    while (st == KEEL_OK) {
        if (n == cap) {
            uint8_t *nb = cap < KEEL_IMAGE_MAX_FILE ? keel_alloc(2 * cap) : NULL;
            if (!nb) {
                st = cap < KEEL_IMAGE_MAX_FILE
                         ? keel_error(KEEL_ERR_NOMEM, "%s: out of memory reading the file", path)
                         : keel_error(KEEL_ERR_FORMAT, "%s: over %zu bytes, too large", path,
                                      KEEL_IMAGE_MAX_FILE);
                break;
            }
            memcpy(nb, buf, n);
            keel_free(buf);
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (st == KEEL_OK && ferror(f))
        st = keel_error(KEEL_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    fclose(f);
    if (st == KEEL_OK) st = keel_image_decode(buf, n, path, channels, out);
    keel_free(buf);
    return st;
}

/* ---------------------------------------------------------------- resize, as Pillow does it */

/* NEAREST: Pillow's ImagingScaleAffine. The source coordinate starts at scale / 2 and grows by
 * scale = in / out in double precision, truncated; accumulating (not multiplying) is part of
 * matching it bit for bit. Output pixels whose source falls outside stay 0, as in Pillow. */
static keel_status resize_nearest(const keel_image *s, keel_image *d) {
    const int c = s->c;
    int *xin = keel_alloc((size_t)d->w * sizeof *xin);
    if (!xin) return keel_error(KEEL_ERR_NOMEM, "keel_image_resize: out of memory");
    double ax = (double)s->w / d->w, ay = (double)s->h / d->h;
    double xo = ax * 0.5, yo = ay * 0.5;
    int xmin = d->w, xmax = 0;
    for (int x = 0; x < d->w; x++, xo += ax) {
        int xi = xo < 0.0 ? -1 : (int)xo;
        if (xi >= 0 && xi < s->w) {
            xmax = x + 1;
            if (x < xmin) xmin = x;
            xin[x] = xi;
        }
    }
    for (int y = 0; y < d->h; y++, yo += ay) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        if (yi < 0 || yi >= s->h) continue;
        const uint8_t *in = s->px + (size_t)yi * s->w * c;
        uint8_t *o = d->px + (size_t)y * d->w * c;
        for (int x = xmin; x < xmax; x++)
            memcpy(o + (size_t)x * c, in + (size_t)xin[x] * c, c);
    }
    keel_free(xin);
    return KEEL_OK;
}

/* Pillow's fixed point: 8 bits of result, 2 of headroom, 22 of fraction (PRECISION_BITS). */
#define RS_BITS (32 - 8 - 2)

typedef struct rs_coeffs {
    int ksize;   /* taps per output pixel */
    int *bounds; /* per output pixel: first input pixel, number of taps */
    int32_t *k;  /* out * ksize fixed-point weights */
} rs_coeffs;

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle) filter: its
 * support is 1 input pixel, widened by the downscale factor so that shrinking averages. */
static keel_status rs_coeffs_new(int in_size, int out_size, rs_coeffs *cf) {
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale, ss = 1.0 / filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *kk = keel_alloc((size_t)ksize * sizeof *kk);
    cf->ksize = ksize;
    cf->bounds = keel_alloc((size_t)out_size * 2 * sizeof *cf->bounds);
    cf->k = keel_alloc((size_t)out_size * ksize * sizeof *cf->k);
    if (!kk || !cf->bounds || !cf->k) {
        keel_free(kk);
        return keel_error(KEEL_ERR_NOMEM, "keel_image_resize: out of memory");
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            kk[x] = t < 1.0 ? 1.0 - t : 0.0;
            ww += kk[x];
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? kk[x] / ww : kk[x];
            cf->k[xx * ksize + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << RS_BITS) : 0.5 + v * (1 << RS_BITS));
        }
        cf->bounds[2 * xx] = xmin, cf->bounds[2 * xx + 1] = xmax;
    }
    keel_free(kk);
    return KEEL_OK;
}

static uint8_t rs_clip8(int32_t v) {
    v >>= RS_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One horizontal pass: `rows` rows of `in` (in_w wide) to rows of `out` (out_w wide). */
static void rs_horizontal(const uint8_t *in, int in_w, int rows, int c, const rs_coeffs *hz,
                          int out_w, uint8_t *out) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = in + (size_t)y * in_w * c;
        for (int xx = 0; xx < out_w; xx++) {
            const int32_t *k = hz->k + (size_t)xx * hz->ksize;
            const uint8_t *p = row + (size_t)hz->bounds[2 * xx] * c;
            for (int ch = 0; ch < c; ch++) {
                int32_t acc = 1 << (RS_BITS - 1);
                for (int x = 0; x < hz->bounds[2 * xx + 1]; x++)
                    acc += p[x * c + ch] * k[x];
                out[((size_t)y * out_w + xx) * c + ch] = rs_clip8(acc);
            }
        }
    }
}

/* One vertical pass to out_h rows of width w; `in` starts at source row row0. */
static void rs_vertical(const uint8_t *in, int w, int c, const rs_coeffs *vt, int row0, int out_h,
                        uint8_t *out) {
    const size_t stride = (size_t)w * c;
    for (int yy = 0; yy < out_h; yy++) {
        const int32_t *k = vt->k + (size_t)yy * vt->ksize;
        const uint8_t *p = in + (size_t)(vt->bounds[2 * yy] - row0) * stride;
        for (size_t i = 0; i < stride; i++) {
            int32_t acc = 1 << (RS_BITS - 1);
            for (int y = 0; y < vt->bounds[2 * yy + 1]; y++)
                acc += p[y * stride + i] * k[y];
            out[yy * stride + i] = rs_clip8(acc);
        }
    }
}

/* BILINEAR: Pillow's ImagingResample, two passes each rounded to 8 bits, channels independent.
 * Usually horizontal first, over only the rows the vertical pass reads. Pillow 13 runs the
 * vertical pass first when the height loses more than twice as many pixels as the width (a
 * speed choice that moves some pixels by one level; Pillow 12 and older always start
 * horizontally): keel follows Pillow 13, which made the test fixtures. */
static keel_status resize_bilinear(const keel_image *s, keel_image *d) {
    const int c = s->c;
    const bool need_h = d->w != s->w, need_v = d->h != s->h;
    const bool h_first = !(s->h - d->h > 0 && s->h - d->h > (s->w - d->w) * 2);
    rs_coeffs hz = {0}, vt = {0};
    uint8_t *tmp = NULL;
    keel_status st = need_h ? rs_coeffs_new(s->w, d->w, &hz) : KEEL_OK;
    if (st == KEEL_OK) st = rs_coeffs_new(s->h, d->h, &vt);
    if (st) goto done;
    int first = vt.bounds[0], last = vt.bounds[2 * d->h - 2] + vt.bounds[2 * d->h - 1];
    if (need_h && need_v) {
        size_t n = h_first ? (size_t)(last - first) * d->w : (size_t)d->h * s->w;
        if (!(tmp = keel_alloc(n * c))) {
            st = keel_error(KEEL_ERR_NOMEM, "keel_image_resize: out of memory");
            goto done;
        }
    }
    if (h_first) {
        if (need_h)
            rs_horizontal(s->px + (size_t)first * s->w * c, s->w, last - first, c, &hz, d->w,
                          need_v ? tmp : d->px);
        if (need_v)
            rs_vertical(need_h ? tmp : s->px, d->w, c, &vt, need_h ? first : 0, d->h, d->px);
    } else { /* here the height shrinks, so need_v */
        rs_vertical(s->px, s->w, c, &vt, 0, d->h, need_h ? tmp : d->px);
        if (need_h) rs_horizontal(tmp, s->w, d->h, c, &hz, d->w, d->px);
    }
done:
    keel_free(hz.bounds), keel_free(hz.k), keel_free(vt.bounds), keel_free(vt.k), keel_free(tmp);
    return st;
}

keel_status keel_image_resize(const keel_image *src, int h, int w, const char *interpolation,
                              keel_image *out) {
    keel_status st = check_image(src, "keel_image_resize");
    if (st) return st;
    if (!out) return keel_error(KEEL_ERR_ARG, "keel_image_resize: out is NULL");
    bool bilinear = false;
    if (interpolation && strcmp(interpolation, "nearest") != 0) {
        if (strcmp(interpolation, "bilinear") != 0)
            return keel_error(KEEL_ERR_ARG,
                              "keel_image_resize: unknown interpolation \"%s\" (keel has "
                              "\"nearest\" and \"bilinear\")",
                              interpolation);
        bilinear = true;
    }
    if (h <= 0 || w <= 0 || h > KEEL_IMAGE_MAX_SIDE || w > KEEL_IMAGE_MAX_SIDE ||
        (int64_t)h * w > KEEL_IMAGE_MAX_PIXELS)
        return keel_error(KEEL_ERR_ARG,
                          "keel_image_resize: target size %dx%d (h x w) out of range (1..%d per "
                          "side, %lld pixels in all)",
                          h, w, KEEL_IMAGE_MAX_SIDE, (long long)KEEL_IMAGE_MAX_PIXELS);
    keel_image r, pm = {0};
    if ((st = image_new(&r, h, w, src->c, "keel_image_resize"))) return st;
    const size_t n = (size_t)src->h * src->w;
    if (h == src->h && w == src->w) {
        memcpy(r.px, src->px, n * src->c);
    } else if (!bilinear) {
        st = resize_nearest(src, &r);
    } else if (src->c != 4) {
        st = resize_bilinear(src, &r);
    } else if ((st = image_new(&pm, src->h, src->w, 4, "keel_image_resize")) == KEEL_OK) {
        /* PIL resizes RGBA premultiplied (RGBa), with its rounding both ways */
        for (size_t i = 0; i < 4 * n; i++) {
            unsigned a = src->px[i | 3], t = src->px[i] * a + 128;
            pm.px[i] = (i & 3) == 3 ? (uint8_t)a : (uint8_t)(((t >> 8) + t) >> 8);
        }
        st = resize_bilinear(&pm, &r);
        for (size_t i = 0; st == KEEL_OK && i < 4 * (size_t)h * w; i++) {
            unsigned a = r.px[i | 3], v = r.px[i];
            if ((i & 3) != 3 && a != 0 && a != 255) r.px[i] = (uint8_t)KEEL_MIN(255u, 255 * v / a);
        }
    }
    keel_image_free(&pm);
    if (st) {
        keel_image_free(&r);
        return st;
    }
    if (out == src) keel_image_free(out);
    *out = r;
    return KEEL_OK;
}

/* ---------------------------------------------------------------- writers */

keel_status keel_image_write_png(const char *path, const keel_image *img) {
    keel_status st = check_image(img, "keel_image_write_png");
    if (st) return st;
    if (!path) return keel_error(KEEL_ERR_ARG, "keel_image_write_png: path is NULL");
    errno = 0;
    FILE *f = fopen(path, "wb");
    if (!f)
        return keel_error(KEEL_ERR_IO, "%s: cannot open for writing (%s)", path, strerror(errno));
    /* libpng's simplified API: no longjmp reaches keel, errors come back in pi.message */
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img->w, pi.height = (png_uint_32)img->h;
    pi.format = img->c == 1 ? PNG_FORMAT_GRAY : img->c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    int ok = png_image_write_to_stdio(&pi, f, 0, img->px, 0, NULL);
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        st = keel_error(KEEL_ERR_IO, "%s: cannot write PNG (%s)", path,
                        pi.message[0] ? pi.message : strerror(errno));
        remove(path);
    }
    png_image_free(&pi);
    return st;
}

static keel_status jpeg_write_body(j_compress_ptr ci, FILE *f, const keel_image *img, int q) {
    jpeg_create_compress(ci);
    jpeg_stdio_dest(ci, f);
    ci->image_width = (JDIMENSION)img->w, ci->image_height = (JDIMENSION)img->h;
    ci->input_components = img->c;
    ci->in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(ci);
    jpeg_set_quality(ci, q, TRUE);
    jpeg_start_compress(ci, TRUE);
    while (ci->next_scanline < ci->image_height) {
        JSAMPROW row = img->px + (size_t)ci->next_scanline * img->w * img->c;
        jpeg_write_scanlines(ci, &row, 1);
    }
    jpeg_finish_compress(ci);
    return KEEL_OK;
}

static keel_status jpeg_write_run(j_compress_ptr ci, jpeg_fail *fl, FILE *f, const char *path,
                                  const keel_image *img, int q) {
    if (setjmp(fl->jb)) return keel_error(KEEL_ERR_IO, "%s: cannot write JPEG: %s", path, fl->msg);
    return jpeg_write_body(ci, f, img, q);
}

keel_status keel_image_write_jpeg(const char *path, const keel_image *img, int quality) {
    keel_status st = check_image(img, "keel_image_write_jpeg");
    if (st) return st;
    if (!path) return keel_error(KEEL_ERR_ARG, "keel_image_write_jpeg: path is NULL");
    if (img->c == 4)
        return keel_error(KEEL_ERR_ARG,
                          "keel_image_write_jpeg: %s: JPEG has no alpha (the image "
                          "has 4 channels; convert it to 3)",
                          path);
    if (quality < 1 || quality > 100)
        return keel_error(KEEL_ERR_ARG, "keel_image_write_jpeg: %s: quality %d out of range 1..100",
                          path, quality);
    errno = 0;
    FILE *f = fopen(path, "wb");
    if (!f)
        return keel_error(KEEL_ERR_IO, "%s: cannot open for writing (%s)", path, strerror(errno));
    struct jpeg_compress_struct ci;
    jpeg_fail fl;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&fl.mgr);
    fl.mgr.error_exit = jpeg_on_error;
    fl.mgr.emit_message = jpeg_on_message;
    st = jpeg_write_run(&ci, &fl, f, path, img, quality);
    jpeg_destroy_compress(&ci);
    if (fclose(f) != 0 && st == KEEL_OK)
        st = keel_error(KEEL_ERR_IO, "%s: cannot write JPEG (%s)", path, strerror(errno));
    if (st) remove(path);
    return st;
}
