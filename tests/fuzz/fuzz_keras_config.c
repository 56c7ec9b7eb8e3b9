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
 * on the parsed JSON (LLVMFuzzerCustomMutator below): one value replaced by an edge number, a
 * Keras name or key, another part of the document, or an empty container, or an array's or
 * object's members deleted, duplicated, swapped or added, so that mutants stay JSON and reach
 * the readers' checks rather than the parser's.
 *
 * The weights a model may declare are bounded as keel_load bounds them by its file's size
 * (keel_model's max_weights), here by 2^24: a 20-byte config asking for a Dense of 2^31 units
 * is a clear error, not 8 GiB of memory. */
#include "fuzz_util.h"

#include "../../src/save/save.h"

#include <keel.h>
#include <stdint.h>
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
    m->max_weights = FUZZ_MAX_WEIGHTS;
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

/* ---------------------------------------------------------------- the JSON-aware mutator */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint64_t rng;
static uint32_t next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
#define PICK(a) (a)[next() % (sizeof(a) / sizeof((a)[0]))]

static const char *const names[] = {"Sequential",
                                    "Functional",
                                    "Model",
                                    "InputLayer",
                                    "Dense",
                                    "Activation",
                                    "Dropout",
                                    "Flatten",
                                    "Reshape",
                                    "Conv2D",
                                    "Conv1D",
                                    "MaxPooling2D",
                                    "AveragePooling2D",
                                    "GlobalAveragePooling2D",
                                    "GlobalMaxPooling2D",
                                    "ZeroPadding2D",
                                    "MaxPooling1D",
                                    "AveragePooling1D",
                                    "GlobalMaxPooling1D",
                                    "GlobalAveragePooling1D",
                                    "BatchNormalization",
                                    "Embedding",
                                    "Masking",
                                    "UpSampling2D",
                                    "Conv2DTranspose",
                                    "Add",
                                    "Subtract",
                                    "Multiply",
                                    "Average",
                                    "Maximum",
                                    "Minimum",
                                    "Concatenate",
                                    "LeakyReLU",
                                    "ReLU",
                                    "ELU",
                                    "Softmax",
                                    "PReLU",
                                    "LSTM",
                                    "GRU",
                                    "SimpleRNN",
                                    "Bidirectional",
                                    "TimeDistributed",
                                    "__keras_tensor__",
                                    "relu",
                                    "linear",
                                    "softmax",
                                    "sigmoid",
                                    "tanh",
                                    "same",
                                    "valid",
                                    "causal",
                                    "concat",
                                    "sum",
                                    "mul",
                                    "ave",
                                    "bilinear",
                                    "nearest",
                                    "float32",
                                    "int32",
                                    "adam",
                                    "sgd",
                                    "rmsprop",
                                    "mse",
                                    "categorical_crossentropy",
                                    "accuracy",
                                    "glorot_uniform",
                                    "zeros",
                                    "L2",
                                    "GlorotUniform",
                                    "in",
                                    "dense",
                                    "dense_1",
                                    "input_layer",
                                    "Adam",
                                    "SGD",
                                    "ExponentialDecay"};
static const char *const keys[] = {"units",
                                   "filters",
                                   "kernel_size",
                                   "strides",
                                   "padding",
                                   "activation",
                                   "batch_shape",
                                   "batch_input_shape",
                                   "inbound_nodes",
                                   "keras_history",
                                   "input_layers",
                                   "output_layers",
                                   "layers",
                                   "layer",
                                   "backward_layer",
                                   "merge_mode",
                                   "return_sequences",
                                   "return_state",
                                   "go_backwards",
                                   "axis",
                                   "shared_axes",
                                   "pool_size",
                                   "size",
                                   "interpolation",
                                   "target_shape",
                                   "rate",
                                   "noise_shape",
                                   "seed",
                                   "input_dim",
                                   "output_dim",
                                   "input_length",
                                   "mask_zero",
                                   "momentum",
                                   "epsilon",
                                   "center",
                                   "scale",
                                   "alpha",
                                   "negative_slope",
                                   "max_value",
                                   "threshold",
                                   "dilation_rate",
                                   "output_padding",
                                   "data_format",
                                   "use_bias",
                                   "dropout",
                                   "recurrent_dropout",
                                   "reset_after",
                                   "unroll",
                                   "mask_value",
                                   "compile_config",
                                   "training_config",
                                   "optimizer",
                                   "loss",
                                   "metrics",
                                   "loss_weights",
                                   "learning_rate",
                                   "name",
                                   "trainable",
                                   "dtype",
                                   "class_name",
                                   "config",
                                   "module",
                                   "registered_name",
                                   "args",
                                   "kwargs",
                                   "initial_state",
                                   "input_shape",
                                   "kernel_initializer",
                                   "kernel_regularizer",
                                   "keepdims"};
static const json_int_t ints[] = {
    0,         -1,        1,      2,     3,          4,          7,
    64,        255,       4096,   65536, 2147483647, 2147483648, 1099511627776,
    INT64_MAX, INT64_MIN, 1000000};

/* every value of the document with where it sits (parent and key or index) */
typedef struct spot {
    json_t *v, *parent;
    const char *key;
    size_t index;
} spot;

static void collect(json_t *v, json_t *parent, const char *key, size_t index, spot *out, int *n,
                    int cap) {
    if (*n == cap) return;
    out[(*n)++] = (spot){v, parent, key, index};
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) collect(c, v, k, 0, out, n, cap);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) collect(c, v, NULL, i, out, n, cap);
    }
}

/* puts w (a new reference) where s is; false when s is the root */
static bool put(const spot *s, json_t *w) {
    if (!s->parent) {
        json_decref(w);
        return false;
    }
    if (s->key) return json_object_set_new(s->parent, s->key, w) == 0;
    return json_array_set_new(s->parent, s->index, w) == 0;
}

static json_t *random_value(const spot *all, int n) {
    switch (next() % 6) {
    case 0: return json_integer(PICK(ints));
    case 1: return json_string(PICK(names));
    case 2: return json_real((double)(int32_t)next() / 65536.0);
    case 3: return next() % 2 ? json_null() : json_boolean(next() % 2);
    case 4: return next() % 2 ? json_array() : json_object();
    default: return json_deep_copy(all[next() % n].v); /* a copy, so never a cycle */
    }
}

static bool mutate(json_t *root) {
    enum { CAP = 4096 };
    static spot all[CAP];
    int n = 0;
    collect(root, NULL, NULL, 0, all, &n, CAP);
    const spot *s = &all[next() % n];
    json_t *v = s->v;
    switch (next() % 5) {
    case 0: /* the value replaced by one of its kind at an edge, or another kind */
        if (json_is_integer(v) && next() % 2) return json_integer_set(v, PICK(ints)) == 0;
        if (json_is_string(v) && next() % 2) return json_string_set(v, PICK(names)) == 0;
        return put(s, random_value(all, n));
    case 1: /* a container's member deleted */
        if (json_is_array(v) && json_array_size(v))
            return json_array_remove(v, next() % json_array_size(v)) == 0;
        if (json_is_object(v) && json_object_size(v)) {
            void *it = json_object_iter(v);
            for (size_t k = next() % json_object_size(v); k; k--)
                it = json_object_iter_next(v, it);
            return json_object_del(v, json_object_iter_key(it)) == 0;
        }
        return false;
    case 2: /* a member duplicated or two swapped */
        if (json_is_array(v) && json_array_size(v)) {
            size_t a = next() % json_array_size(v), b = next() % json_array_size(v);
            if (next() % 2)
                return json_array_insert_new(v, b, json_deep_copy(json_array_get(v, a))) == 0;
            json_t *x = json_incref(json_array_get(v, a));
            json_array_set(v, a, json_array_get(v, b));
            return json_array_set_new(v, b, x) == 0;
        }
        return false;
    case 3: /* a member added: a Keras key on an object, anything on an array */
        if (json_is_object(v)) return json_object_set_new(v, PICK(keys), random_value(all, n)) == 0;
        if (json_is_array(v)) return json_array_append_new(v, random_value(all, n)) == 0;
        return false;
    default: /* a key renamed to a Keras key */
        if (s->key && s->parent)
            return json_object_set(s->parent, PICK(keys), v) == 0 &&
                   json_object_del(s->parent, s->key) == 0;
        return false;
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    rng = seed * 0x9E3779B97F4A7C15ull + 1;
    if (next() % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!j) return LLVMFuzzerMutate(data, size, max_size);
    bool changed = false;
    for (int k = 1 + (int)(next() % 3); k; k--)
        changed |= mutate(j);
    char *txt = changed ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    size_t n = txt ? strlen(txt) : 0;
    if (!txt || n > max_size) {
        free(txt);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    memcpy(data, txt, n);
    free(txt);
    return n;
}
