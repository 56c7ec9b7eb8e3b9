/* image.h: decoding, resizing and writing 8-bit images for the image-folder iterator
 * (flow_from_directory), internal to keel.
 *
 * The reference is keras_preprocessing's load_img, which is PIL: Image.open, then
 * convert('L' | 'RGB' | 'RGBA'), then resize((w, h), NEAREST | BILINEAR) when the size differs.
 * keel reproduces PIL's pixels exactly (tests/test_image.c checks it against Pillow's own output,
 * made by tools/make_image_fixtures.py). Every function is thread-safe: errors are recorded with
 * keel_error (thread-local) and no state is shared between calls. */
#ifndef KEEL_IMAGE_H
#define KEEL_IMAGE_H

#include "../core.h"

/* Largest image keel decodes or makes: a bound on what a hostile header can make it allocate. */
#define KEEL_IMAGE_MAX_SIDE 16384
#define KEEL_IMAGE_MAX_PIXELS ((int64_t)1 << 27)

/* HWC, interleaved, c = 1, 3 or 4 */
typedef struct keel_image {
    int h, w, c;
    uint8_t *px;
} keel_image;

/* Decodes a PNG, JPEG, BMP or PPM/PGM file, recognised by its first bytes (not its extension),
 * converted to `channels` (1 grayscale, 3 rgb, 4 rgba) exactly as PIL's convert('L'/'RGB'/'RGBA')
 * does (L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16; RGB drops alpha without compositing;
 * RGBA adds alpha 255; gray -> RGB replicates). On failure: a status and a one-line message
 * naming the file and what is wrong; *out untouched (nothing to free).
 *
 * What PIL does, and so keel: a 16-bit grayscale PNG is clipped to 0..255 (PIL's mode I;16),
 * other 16-bit PNGs keep their high byte; a tRNS chunk becomes alpha; gamma and colour profiles
 * are ignored; CRCs are checked up to the first IDAT chunk only. A JPEG is decoded with libjpeg's
 * defaults (islow IDCT, fancy upsampling), as PIL does; one truncated in its data is refused
 * (PIL: "image file is truncated"); CMYK JPEGs are refused. BMP: uncompressed 8-bit paletted,
 * 24- and 32-bit (the 4th byte ignored, as PIL does for BI_RGB). PPM/PGM: binary, maxval 255.
 * Statuses: KEEL_ERR_ARG (NULL, bad channels), KEEL_ERR_IO (cannot open or read),
 * KEEL_ERR_FORMAT (unknown, unsupported, corrupt, truncated or too large), KEEL_ERR_NOMEM.
 * *out is owned by the caller: free it with keel_image_free. */
keel_status keel_image_load(const char *path, int channels, keel_image *out);
/* Decodes from memory (same rules); `name` is used in messages. */
keel_status keel_image_decode(const uint8_t *data, size_t size, const char *name, int channels,
                              keel_image *out);
void keel_image_free(keel_image *img); /* NULL-safe; px freed, struct zeroed */
/* Resizes to (h, w) like PIL's Image.resize with "nearest" or "bilinear" (NULL = nearest).
 * Pixel-exact with Pillow 13: nearest is its ImagingScaleAffine (source x = (x + 0.5) * in / out,
 * accumulated in double), bilinear its ImagingResample (a triangle filter whose support widens
 * by the downscale factor, so it averages when shrinking; fixed-point coefficients; two passes,
 * each rounded to 8 bits, vertical first only when the height loses more than twice as many
 * pixels as the width, which is where Pillow 12 and older, always horizontal first, can differ
 * by one level). A 4-channel image is resized premultiplied by alpha as PIL does (RGBA -> RGBa
 * -> resize -> RGBA). The same size gives a copy. *out receives a new image (out may be src:
 * its old pixels are then freed); on failure *out is untouched.
 * Statuses: KEEL_ERR_ARG (bad image, size or interpolation name), KEEL_ERR_NOMEM. */
keel_status keel_image_resize(const keel_image *src, int h, int w, const char *interpolation,
                              keel_image *out);
/* Writes an 8-bit PNG (gray, RGB or RGBA by img->c). */
keel_status keel_image_write_png(const char *path, const keel_image *img);
/* Writes a JPEG (quality 1..100) from a gray or RGB image (used by tools and tests). */
keel_status keel_image_write_jpeg(const char *path, const keel_image *img, int quality);

#endif
