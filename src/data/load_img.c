/* load_img.c: keras.utils.load_img + img_to_array, on the decoder and resampler the image
 * folders use (image.h), so one file and a folder of them give the same pixels. */
#include "image.h"

keel_tensor *keel_load_img_(const char *path, keel_load_img_opts o) {
    if (!path) {
        keel_error(KEEL_ERR_ARG, "keel_load_img: path is NULL");
        return NULL;
    }
    const char *mode = o.color_mode ? o.color_mode : "rgb";
    int c = !strcmp(mode, "rgb")         ? 3
            : !strcmp(mode, "grayscale") ? 1
            : !strcmp(mode, "rgba")      ? 4
                                         : 0;
    if (!c) {
        keel_error(
            KEEL_ERR_ARG,
            "keel_load_img: color_mode must be \"rgb\", \"grayscale\" or \"rgba\", got \"%s\"",
            mode);
        return NULL;
    }
    int64_t th = o.target_size[0], tw = o.target_size[1];
    if (th < 0 || tw < 0 || (th == 0) != (tw == 0) || th > KEEL_IMAGE_MAX_SIDE ||
        tw > KEEL_IMAGE_MAX_SIDE) {
        keel_error(KEEL_ERR_ARG, "keel_load_img: %s: target_size {%lld, %lld} is not a size", path,
                   (long long)th, (long long)tw);
        return NULL;
    }
    keel_image img = {0};
    if (keel_image_load(path, c, &img)) return NULL;
    if (th && (img.h != th || img.w != tw) &&
        keel_image_resize(&img, (int)th, (int)tw, o.interpolation, &img)) {
        keel_image_free(&img);
        return NULL;
    }
    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(img.h, img.w, img.c));
    if (t) {
        float *d = keel_tensor_data(t);
        for (int64_t i = 0; i < (int64_t)img.h * img.w * img.c; i++)
            d[i] = img.px[i];
    }
    keel_image_free(&img);
    return t;
}
