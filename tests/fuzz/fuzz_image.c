/* fuzz_image.c: keel_image_decode (PNG, JPEG, BMP, PPM/PGM, by content) on arbitrary bytes,
 * converted to 1, 3 or 4 channels (by the input's length, so that byte 0 stays the format's
 * magic), then both resizes of a decoded image to a small size. A decoded image must have
 * sides in range and the channels asked for. */
#include <image.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const int channels[3] = {1, 3, 4};
    const int c = channels[size % 3];
    keel_image img = {0}, small = {0};
    keel_status st = keel_image_decode(data, size, "fuzz", c, &img);
    if (st != KEEL_OK) {
        if (!keel_last_error()[0] || img.px) __builtin_trap();
        return 0;
    }
    if (img.c != c || img.h < 1 || img.w < 1 || img.h > KEEL_IMAGE_MAX_SIDE ||
        img.w > KEEL_IMAGE_MAX_SIDE)
        __builtin_trap();
    if (keel_image_resize(&img, 5, 7, "bilinear", &small) != KEEL_OK) __builtin_trap();
    keel_image_free(&small);
    if (keel_image_resize(&img, 9, 3, "nearest", &small) != KEEL_OK) __builtin_trap();
    keel_image_free(&small);
    keel_image_free(&img);
    return 0;
}
