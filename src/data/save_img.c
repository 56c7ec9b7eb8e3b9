/* save_img.c: keel_save_img, the public face of the PNG / JPEG writers in image.c. */
#include "../core.h"

#include <strings.h>
#include <stdio.h>

#include "image.h"

keel_status keel_save_img(const char *path, const keel_tensor *t, int scale) {
    if (!path || !t) KEEL_FAIL(KEEL_ERR_ARG, "keel_save_img: %s is NULL", path ? "image" : "path");
    if (t->dtype != KEEL_FLOAT32 || t->n_list)
        KEEL_FAIL(KEEL_ERR_ARG, "keel_save_img: %s: the image must be a float32 tensor", path);
    char a[128];
    if (t->rank != 3 || (t->dims[2] != 1 && t->dims[2] != 3 && t->dims[2] != 4) ||
        t->dims[0] > 65535 || t->dims[1] > 65535)
        KEEL_FAIL(KEEL_ERR_SHAPE,
                  "keel_save_img: %s: the image must be (height, width, 1 | 3 | 4), got %s", path,
                  keel_tensor_shape_str(t, a, sizeof a));
    float lo = 0, hi = 255;
    if (scale && t->size) {
        lo = hi = t->data[0];
        for (int64_t i = 1; i < t->size; i++)
            lo = t->data[i] < lo ? t->data[i] : lo, hi = t->data[i] > hi ? t->data[i] : hi;
    }
    float k = hi > lo ? 255.0f / (hi - lo) : 0.0f;
    keel_image img = {.h = (int)t->dims[0], .w = (int)t->dims[1], .c = (int)t->dims[2]};
    img.px = keel_alloc((size_t)t->size);
    if (!img.px) return KEEL_ERR_NOMEM;
    for (int64_t i = 0; i < t->size; i++) {
        float v = (t->data[i] - lo) * k;
        if (!scale) v = t->data[i];
        img.px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
    }
    const char *dot = strrchr(path, '.');
    bool jpeg = dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
    keel_status st =
        jpeg ? keel_image_write_jpeg(path, &img, 95) : keel_image_write_png(path, &img);
    keel_free(img.px);
    return st;
}
