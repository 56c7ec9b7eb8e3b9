/* json_mutator.h: a libFuzzer mutator that keeps JSON JSON, for the model-config harnesses.
 * One value of the parsed document is replaced by an edge number, a Keras class or key name,
 * a copy of another part of the document, null, a boolean or an empty container; or a member
 * of an array or object is deleted, duplicated, swapped, added or renamed to a Keras key. Byte
 * mutations rarely survive a JSON parser; these reach the readers' own checks. Harness-only. */
#ifndef KEEL_FUZZ_JSON_MUTATOR_H
#define KEEL_FUZZ_JSON_MUTATOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint64_t jm_rng;
static uint32_t jm_next(void) {
    jm_rng ^= jm_rng << 13, jm_rng ^= jm_rng >> 7, jm_rng ^= jm_rng << 17;
    return (uint32_t)(jm_rng >> 11);
}
#define JM_PICK(a) (a)[jm_next() % (sizeof(a) / sizeof((a)[0]))]

static const char *const jm_names[] = {"Sequential",
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
static const char *const jm_keys[] = {"units",
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
static const json_int_t jm_ints[] = {
    0,         -1,        1,      2,     3,          4,          7,
    64,        255,       4096,   65536, 2147483647, 2147483648, 1099511627776,
    INT64_MAX, INT64_MIN, 1000000};

/* every value of the document with where it sits (parent and key or index) */
typedef struct jm_spot {
    json_t *v, *parent;
    const char *key;
    size_t index;
} jm_spot;

static void jm_collect(json_t *v, json_t *parent, const char *key, size_t index, jm_spot *out,
                       int *n, int cap) {
    if (*n == cap) return;
    out[(*n)++] = (jm_spot){v, parent, key, index};
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) jm_collect(c, v, k, 0, out, n, cap);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) jm_collect(c, v, NULL, i, out, n, cap);
    }
}

/* puts w (a new reference) where s is; false when s is the root */
static bool jm_put(const jm_spot *s, json_t *w) {
    if (!s->parent) {
        json_decref(w);
        return false;
    }
    if (s->key) return json_object_set_new(s->parent, s->key, w) == 0;
    return json_array_set_new(s->parent, s->index, w) == 0;
}

static json_t *jm_value(const jm_spot *all, int n) {
    switch (jm_next() % 6) {
    case 0: return json_integer(JM_PICK(jm_ints));
    case 1: return json_string(JM_PICK(jm_names));
    case 2: return json_real((double)(int32_t)jm_next() / 65536.0);
    case 3: return jm_next() % 2 ? json_null() : json_boolean(jm_next() % 2);
    case 4: return jm_next() % 2 ? json_array() : json_object();
    default: return json_deep_copy(all[jm_next() % n].v); /* a copy, so never a cycle */
    }
}

static bool jm_mutate(json_t *root) {
    enum { CAP = 4096 };
    static jm_spot all[CAP];
    int n = 0;
    jm_collect(root, NULL, NULL, 0, all, &n, CAP);
    const jm_spot *s = &all[jm_next() % n];
    json_t *v = s->v;
    switch (jm_next() % 5) {
    case 0: /* the value replaced by one of its kind at an edge, or another kind */
        if (json_is_integer(v) && jm_next() % 2) return json_integer_set(v, JM_PICK(jm_ints)) == 0;
        if (json_is_string(v) && jm_next() % 2) return json_string_set(v, JM_PICK(jm_names)) == 0;
        return jm_put(s, jm_value(all, n));
    case 1: /* a container's member deleted */
        if (json_is_array(v) && json_array_size(v))
            return json_array_remove(v, jm_next() % json_array_size(v)) == 0;
        if (json_is_object(v) && json_object_size(v)) {
            void *it = json_object_iter(v);
            for (size_t k = jm_next() % json_object_size(v); k; k--)
                it = json_object_iter_next(v, it);
            return json_object_del(v, json_object_iter_key(it)) == 0;
        }
        return false;
    case 2: /* a member duplicated or two swapped */
        if (json_is_array(v) && json_array_size(v)) {
            size_t a = jm_next() % json_array_size(v), b = jm_next() % json_array_size(v);
            if (jm_next() % 2)
                return json_array_insert_new(v, b, json_deep_copy(json_array_get(v, a))) == 0;
            json_t *x = json_incref(json_array_get(v, a));
            json_array_set(v, a, json_array_get(v, b));
            return json_array_set_new(v, b, x) == 0;
        }
        return false;
    case 3: /* a member added: a Keras key on an object, anything on an array */
        if (json_is_object(v))
            return json_object_set_new(v, JM_PICK(jm_keys), jm_value(all, n)) == 0;
        if (json_is_array(v)) return json_array_append_new(v, jm_value(all, n)) == 0;
        return false;
    default: /* a key renamed to a Keras key */
        if (s->key && s->parent)
            return json_object_set(s->parent, JM_PICK(jm_keys), v) == 0 &&
                   json_object_del(s->parent, s->key) == 0;
        return false;
    }
}

/* Mutates the JSON text data[0..size) in place (at most max_size bytes): a quarter of the time,
 * and whenever it is not JSON, with libFuzzer's own byte mutations; otherwise one to three
 * mutations of the parsed document. Returns the new size. */
static size_t fuzz_json_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    jm_rng = seed * 0x9E3779B97F4A7C15ull + 1;
    if (jm_next() % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!j) return LLVMFuzzerMutate(data, size, max_size);
    bool changed = false;
    for (int k = 1 + (int)(jm_next() % 3); k; k--)
        changed |= jm_mutate(j);
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

#endif
