/* fuzz_keras_config.c: a model's config JSON, as a .keras file's config.json or a legacy .h5's
 * model_config holds it, through the readers and back.
 *
 * The input is JSON text. It goes to keel_model_from_json (Sequential, Functional, nested, both
 * schemas, every layer's from_config); a model that comes back is built (keel_model_build),
 * then compiled from its "compile_config" (Keras 3) or, when the object has none, from a
 * "training_config" key (tf.keras 2 keeps that in a separate attribute; the seeds made from .h5
 * fixtures carry it in the object so that the legacy compile path is reached too). Then the
 * round trip: keel_model_to_json of what loaded must load again (with the same compile config)
 * and write the same JSON a second time. A failure anywhere must leave a message.
 *
 * Mutations: a quarter are libFuzzer's own on the bytes (with keras.dict); the rest are made
 * on the parsed JSON (json_mutator.h): one value replaced by an edge number, a
 * Keras name or key, another part of the document, or an empty container, or an array's or
 * object's members deleted, duplicated, swapped or added, so that mutants stay JSON and reach
 * the readers' checks rather than the parser's.
 *
 * The weights a model may declare are bounded as keel_load bounds them by its file's size
 * (keel_model's max_weights), here by 2^24: a 20-byte config asking for a Dense of 2^31 units
 * is a clear error, not 8 GiB of memory. */
#include "../../src/save/save.h"
#include "json_mutator.h"

#include <keel.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_WEIGHTS ((int64_t)1 << 24)

static void quiet(const char *msg, void *user) {
    (void)msg, (void)user;
}

/* a failure must say why (FUZZ_VERBOSE=1 prints it, to see how far the seeds get) */
static void need_error(void) {
    if (!keel_last_error()[0]) __builtin_trap();
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "refused: %s\n", keel_last_error());
}

/* from_json, build and compile: the model, or NULL with an error recorded */
static keel_model *load(const json_t *j, const char *where) {
    keel_model *m = keel_model_from_json(j, where);
    if (!m) return NULL;
    m->max_weights = FUZZ_MAX_WEIGHTS, m->skip_init = true; /* as keel_load sets them */
    const json_t *cc = json_object_get(j, "compile_config");
    bool legacy = false;
    if (!cc) cc = json_object_get(j, "training_config"), legacy = true;
    keel_status st = keel_model_build(m, where);
    if (!st) st = keel_model_compile_json(m, cc, legacy, where);
    if (st) {
        keel_model_free(m);
        return NULL;
    }
    return m;
}

/* what m writes: its JSON text (free()), or NULL with an error recorded */
static char *dump(keel_model *m) {
    json_t *out = keel_model_to_json(m);
    char *txt = out ? keel_json_dumps(out) : NULL;
    json_decref(out);
    return txt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    keel_set_warning_handler(quiet, NULL);
    keel_error(KEEL_OK, "%s", "");
    json_t *j = keel_json_parse((const char *)data, size, "fuzz");
    if (!j) {
        need_error();
        return 0;
    }
    keel_model *m = load(j, "fuzz");
    json_decref(j);
    if (!m) {
        need_error();
        return 0;
    }
    char *txt = dump(m);
    if (!txt) {
        /* an option with no Keras spelling is refused by name, not silently dropped */
        need_error();
        keel_model_free(m);
        return 0;
    }
    /* what keel wrote, keel reads: the same model, written the same way again */
    json_t *j2 = keel_json_parse(txt, strlen(txt), "fuzz: round trip");
    keel_model *m2 = j2 ? load(j2, "fuzz: round trip") : NULL;
    if (!m2) {
        fprintf(stderr, "written config does not load again: %s\n%s\n", keel_last_error(), txt);
        __builtin_trap();
    }
    char *txt2 = dump(m2);
    if (!txt2 || strcmp(txt, txt2)) {
        fprintf(stderr, "written config changes on a second round trip:\n%s\n%s\n", txt,
                txt2 ? txt2 : keel_last_error());
        __builtin_trap();
    }
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "loaded and round-tripped %s\n", m->name);
    free(txt2);
    keel_model_free(m2);
    json_decref(j2);
    free(txt);
    keel_model_free(m);
    return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    return fuzz_json_mutate(data, size, max_size, seed);
}
