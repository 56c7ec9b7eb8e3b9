/* make_image_folder.c: writes a cats-vs-dogs style folder from real images available here:
 * two Fashion-MNIST classes (sandal and sneaker, from Debian's dataset-fashion-mnist), as
 *   DIR/training_set/sandal/NAME.png or .jpg, DIR/training_set/sneaker/..., DIR/test_set/...
 * Files alternate between grayscale PNG, RGB JPEG and RGBA PNG, so the folder exercises every
 * decoding path of flow_from_directory. usage: make_image_folder DIR [--train N] [--test N]
 * (N images per class; defaults 1000 and 500). */
#include <keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/image.h"

static const char *const MNIST = "/usr/share/datasets/fashion-mnist";

static int write_split(const char *dir, const char *split, const char *images, const char *labels, int per_class) {
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/%s", MNIST, images);
    snprintf(p2, sizeof p2, "%s/%s", MNIST, labels);
    keel_tensor *x = keel_load_idx(p1), *y = x ? keel_load_idx(p2) : NULL;
    if (!y) {
        fprintf(stderr, "make_image_folder: %s\n", keel_last_error());
        keel_tensor_free(x);
        return 1;
    }
    const int classes[2] = {5, 7};
    const char *names[2] = {"sandal", "sneaker"};
    int rc = 0;
    for (int c = 0; c < 2 && !rc; c++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, split);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/%s/%s", dir, split, names[c]);
        mkdir(path, 0755);
        int written = 0;
        for (int64_t i = 0; i < keel_tensor_dim(y, 0) && written < per_class && !rc; i++) {
            if ((int)keel_tensor_data(y)[i] != classes[c]) continue;
            const float *src = keel_tensor_data(x) + i * 784;
            int kind = written % 3, ch = kind == 0 ? 1 : kind == 1 ? 3 : 4;
            keel_image img = {.h = 28, .w = 28, .c = ch, .px = malloc(28 * 28 * 4)};
            for (int p = 0; p < 784; p++)
                for (int k = 0; k < ch; k++) img.px[p * ch + k] = k == 3 ? 255 : (uint8_t)src[p];
            snprintf(path, sizeof path, "%s/%s/%s/%s.%05d.%s", dir, split, names[c], names[c], written,
                     kind == 1 ? "jpg" : "png");
            keel_status st = kind == 1 ? keel_image_write_jpeg(path, &img, 92) : keel_image_write_png(path, &img);
            free(img.px);
            if (st) {
                fprintf(stderr, "make_image_folder: %s\n", keel_last_error());
                rc = 1;
            }
            written++;
        }
    }
    keel_tensor_free(x);
    keel_tensor_free(y);
    return rc;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int n_train = 1000, n_test = 500;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--train") && i + 1 < argc) n_train = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--test") && i + 1 < argc) n_test = atoi(argv[++i]);
        else dir = argv[i];
    }
    if (!dir) {
        fprintf(stderr, "usage: %s DIR [--train N] [--test N]\n", argv[0]);
        return 2;
    }
    mkdir(dir, 0755);
    if (write_split(dir, "training_set", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", n_train) ||
        write_split(dir, "test_set", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", n_test))
        return 1;
    printf("wrote %d + %d images per class to %s\n", n_train, n_test, dir);
    return 0;
}
