/* fuzz_csv.c: keel_csv_load on arbitrary bytes, then keel_csv_transform of the same file with
 * the fitted encoding, which must succeed and give the same x and y bit for bit (a property of
 * the two code paths, checked on every input that loads).
 *
 * Input: byte 0 chooses the options (delimiter, validation_split, max_categories,
 * standardize), the rest is the file. The target column is "y"; a column "id" is dropped
 * when present (keel_csv_load refuses a .drop name that is absent, so both are tried). */
#include "fuzz_util.h"

#include <keel.h>
#include <string.h>

static void check_same(const keel_tensor *a, const keel_tensor *b) {
    if (!a || !b || keel_tensor_size(a) != keel_tensor_size(b) ||
        memcmp(keel_tensor_cdata(a), keel_tensor_cdata(b),
               (size_t)keel_tensor_size(a) * sizeof(float)))
        __builtin_trap(); /* transform disagrees with load on the fitted file itself */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t opt = data[0];
    const char delims[4] = {',', ';', '\t', '|'};
    const float splits[4] = {0, 0.2f, 0.5f, 0.9f};
    const int caps[4] = {0, 1, 3, 1000};
    const char *path = fuzz_file(data + 1, size - 1);
    for (int drop = 0; drop < 2; drop++) {
        keel_csv_opts o = {.target = "y",
                           .delimiter = delims[opt & 3],
                           .validation_split = splits[(opt >> 2) & 3],
                           .max_categories = caps[(opt >> 4) & 3],
                           .standardize = (opt >> 6) & 1};
        if (drop) o.drop[0] = "id";
        keel_csv *c = keel_csv_load_(path, o);
        if (!c) {
            if (!keel_last_error()[0]) __builtin_trap(); /* a failure must say why */
            continue;
        }
        keel_csv *t = keel_csv_transform(c, path);
        if (!t) __builtin_trap();
        check_same(c->x, t->x);
        check_same(c->y, t->y);
        keel_csv_free(t);
        keel_csv_free(c);
    }
    return 0;
}
