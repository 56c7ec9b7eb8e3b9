/* registry.c: a layer object of Keras's schema to a keel layer and back (config.h).
 *
 * Reading dispatches on class_name through one table to the from_config that lives in each
 * layer's own file; each builds the layer's option struct and calls the public constructor, so
 * that every check of an option stays in one place. A constructor's KEEL_ERR_ARG is a bad field
 * here (KEEL_ERR_FORMAT, with the object's place before it). Wrappers read their inner layers
 * through keel_layer_from_json again; a depth counter stops a hostile file that nests them
 * without end before the stack does.
 *
 * Writing is the same object Keras 3's serialize_keras_object makes of a layer: module,
 * class_name, config (the shared fields, then the kind's get_config) and registered_name null,
 * with build_config when the caller knows the input shape. */
#include "config.h"

#include <stdio.h>

static const struct {
    const char *cls;
    keel_from_config_fn fn;
} table[] = {
    {"InputLayer", keel_input_from_config},
    {"Dense", keel_dense_from_config},
    {"Activation", keel_activation_from_config},
    {"Dropout", keel_dropout_from_config},
    {"Flatten", keel_flatten_from_config},
    {"Reshape", keel_reshape_from_config},
    {"Conv2D", keel_conv2d_from_config},
    {"Convolution2D", keel_conv2d_from_config},
    {"Conv1D", keel_conv1d_from_config},
    {"Convolution1D", keel_conv1d_from_config},
    {"MaxPooling2D", keel_max_pooling2d_from_config},
    {"MaxPool2D", keel_max_pooling2d_from_config},
    {"AveragePooling2D", keel_average_pooling2d_from_config},
    {"AvgPool2D", keel_average_pooling2d_from_config},
    {"GlobalAveragePooling2D", keel_global_average_pooling2d_from_config},
    {"GlobalAvgPool2D", keel_global_average_pooling2d_from_config},
    {"GlobalMaxPooling2D", keel_global_max_pooling2d_from_config},
    {"GlobalMaxPool2D", keel_global_max_pooling2d_from_config},
    {"ZeroPadding2D", keel_zero_padding2d_from_config},
    {"MaxPooling1D", keel_max_pooling1d_from_config},
    {"MaxPool1D", keel_max_pooling1d_from_config},
    {"AveragePooling1D", keel_average_pooling1d_from_config},
    {"AvgPool1D", keel_average_pooling1d_from_config},
    {"GlobalMaxPooling1D", keel_global_max_pooling1d_from_config},
    {"GlobalMaxPool1D", keel_global_max_pooling1d_from_config},
    {"GlobalAveragePooling1D", keel_global_average_pooling1d_from_config},
    {"GlobalAvgPool1D", keel_global_average_pooling1d_from_config},
    {"BatchNormalization", keel_batch_normalization_from_config},
    {"Embedding", keel_embedding_from_config},
    {"Masking", keel_masking_from_config},
    {"UpSampling2D", keel_upsampling2d_from_config},
    {"Conv2DTranspose", keel_conv2d_transpose_from_config},
    {"Convolution2DTranspose", keel_conv2d_transpose_from_config},
    {"Add", keel_add_from_config},
    {"Subtract", keel_subtract_from_config},
    {"Multiply", keel_multiply_from_config},
    {"Average", keel_average_from_config},
    {"Maximum", keel_maximum_from_config},
    {"Minimum", keel_minimum_from_config},
    {"Concatenate", keel_concatenate_from_config},
    {"LeakyReLU", keel_leaky_relu_from_config},
    {"ReLU", keel_relu_from_config},
    {"ELU", keel_elu_from_config},
    {"Softmax", keel_softmax_from_config},
    {"PReLU", keel_prelu_from_config},
    {"LSTM", keel_lstm_from_config},
    {"GRU", keel_gru_from_config},
    {"SimpleRNN", keel_simple_rnn_from_config},
    {"Bidirectional", keel_bidirectional_from_config},
    {"TimeDistributed", keel_time_distributed_from_config},
};

/* How deep the current thread is inside nested layer objects */
static _Thread_local int depth;

/* A layer object of Keras's own (module keras.*, no registered custom name) */
static bool builtin(const json_t *obj, const char *cls) {
    const json_t *mod = json_object_get(obj, "module"),
                 *reg = json_object_get(obj, "registered_name");
    if (mod && !json_is_null(mod) &&
        (!json_is_string(mod) || strncmp(json_string_value(mod), "keras", 5)))
        return false;
    return !reg || json_is_null(reg) ||
           (json_is_string(reg) && !strcmp(json_string_value(reg), cls));
}

/* batch_input_shape on a layer (tf.keras 2's first layer of a Sequential) declares its input
 * shape; with a None dimension (Embedding without input_length writes [null, null]) keel cannot
 * declare it and leaves it to the model's InputLayer */
static keel_status declared_shape(keel_layer *l, const json_t *cfg, const char *where) {
    const json_t *v = json_object_get(cfg, "batch_input_shape");
    if (!v || json_is_null(v) || !strcmp(l->kind->type, "InputLayer")) return KEEL_OK;
    if (json_is_array(v))
        for (size_t i = 1; i < json_array_size(v); i++)
            if (json_is_null(json_array_get(v, i))) return KEEL_OK;
    int rank;
    int64_t dims[KEEL_MAX_RANK];
    keel_status st = keel_cfg_shape(v, "batch_input_shape", &rank, dims, where);
    if (st) return st;
    l->input_rank = rank;
    memcpy(l->input_dims, dims, sizeof l->input_dims);
    return KEEL_OK;
}

static keel_layer *from_json(const json_t *obj, const char *where) {
    if (!json_is_object(obj)) {
        keel_error(KEEL_ERR_FORMAT, "%s: a layer is %s, expected an object", where,
                   keel_json_type(obj));
        return NULL;
    }
    const json_t *cn = json_object_get(obj, "class_name");
    if (!json_is_string(cn)) {
        keel_error(KEEL_ERR_FORMAT, "%s: the layer object has no class_name", where);
        return NULL;
    }
    const char *cls = json_string_value(cn);
    if (!strcmp(cls, "Sequential") || !strcmp(cls, "Functional") || !strcmp(cls, "Model"))
        return keel_model_layer_from_json(obj, where);
    keel_from_config_fn fn = NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0] && !fn; i++)
        if (!strcmp(cls, table[i].cls)) fn = table[i].fn;
    if (!fn || !builtin(obj, cls)) {
        keel_error(KEEL_ERR_UNSUPPORTED, "%s: layer class '%.60s'%s is not supported by keel",
                   where, cls, fn ? " (a custom layer of that name)" : "");
        return NULL;
    }
    const json_t *cfg = json_object_get(obj, "config");
    if (!json_is_object(cfg)) {
        keel_error(KEEL_ERR_FORMAT, "%s: %s: config is %s, expected an object", where, cls,
                   cfg ? keel_json_type(cfg) : "missing");
        return NULL;
    }
    /* messages from here on name the class and the layer */
    const json_t *nm = json_object_get(cfg, "name");
    char at[384];
    if (json_is_string(nm))
        snprintf(at, sizeof at, "%s: %s '%.63s'", where, cls, json_string_value(nm));
    else
        snprintf(at, sizeof at, "%s: %s", where, cls);
    keel_layer *l = fn(cfg, at);
    if (!l) {
        /* a constructor's complaint about an option is a bad field of the file */
        if (keel_last_status() == KEEL_ERR_ARG) {
            char msg[KEEL_ERR_CAP];
            snprintf(msg, sizeof msg, "%s", keel_last_error());
            keel_error(KEEL_ERR_FORMAT, "%s: %s: %s", where, cls, msg);
        }
        return NULL;
    }
    if (declared_shape(l, cfg, at)) {
        keel_layer_free(l);
        return NULL;
    }
    return l;
}

keel_layer *keel_layer_from_json(const json_t *obj, const char *where) {
    if (depth >= KEEL_CFG_MAX_DEPTH) {
        keel_error(KEEL_ERR_FORMAT, "%s: layers nested more than %d deep", where,
                   KEEL_CFG_MAX_DEPTH);
        return NULL;
    }
    depth++;
    keel_layer *l = from_json(obj, where);
    depth--;
    return l;
}

/* [null, dims...]: a shape as Keras writes it, the batch axis first */
static json_t *shape_json(int rank, const int64_t *dims) {
    json_t *a = json_array();
    if (a && json_array_append_new(a, json_null())) goto fail;
    for (int i = 0; a && i < rank; i++)
        if (json_array_append_new(a, json_integer(dims[i]))) goto fail;
    return a;
fail:
    json_decref(a);
    return NULL;
}

/* Keras 3 builds a layer whose class keeps Layer.build (no weights) when it makes it, so a model
 * never builds it on a shape and its object has no build_config (checked against Keras 3.15:
 * tools/make_config_fixtures.py) */
static bool built_at_init(const char *cls) {
    static const char *const list[] = {"InputLayer",
                                       "Activation",
                                       "Dropout",
                                       "Reshape",
                                       "Masking",
                                       "MaxPooling2D",
                                       "AveragePooling2D",
                                       "MaxPooling1D",
                                       "AveragePooling1D",
                                       "GlobalMaxPooling2D",
                                       "GlobalAveragePooling2D",
                                       "GlobalMaxPooling1D",
                                       "GlobalAveragePooling1D",
                                       "LeakyReLU",
                                       "ReLU",
                                       "ELU",
                                       "Softmax",
                                       NULL};
    for (int i = 0; list[i]; i++)
        if (!strcmp(cls, list[i])) return true;
    return false;
}

static bool put_build_config(json_t *obj, int rank, const int64_t *dims) {
    json_t *s = shape_json(rank, dims);
    return s && keel_cfg_set(obj, "build_config", json_pack("{s:o}", "input_shape", s));
}

/* A wrapper's inner layers carry their own build_config in Keras 3: Bidirectional builds both
 * on the sequence, TimeDistributed its layer on one step (the time axis dropped). */
static bool put_inner_build_configs(const keel_layer *l, json_t *cfg, int rank,
                                    const int64_t *dims) {
    bool td = !strcmp(l->kind->type, "TimeDistributed");
    if (td && rank < 2) return true;
    const char *keys[] = {"layer", "backward_layer"};
    for (int k = 0; k < 2; k++) {
        json_t *inner = json_object_get(cfg, keys[k]);
        const char *cls = json_string_value(json_object_get(inner, "class_name"));
        if (json_is_object(inner) && cls && !built_at_init(cls) &&
            !put_build_config(inner, td ? rank - 1 : rank, td ? dims + 1 : dims))
            return false;
    }
    return true;
}

json_t *keel_layer_to_json(const keel_layer *l, int in_rank, const int64_t *in_dims) {
    if (l->sub) return keel_model_layer_to_json(l);
    if (!l->kind->get_config) {
        keel_error(KEEL_ERR_UNSUPPORTED, "%s: a %s layer has no Keras config", l->name,
                   l->kind->type);
        return NULL;
    }
    /* obj owns cfg (json_pack's "o" takes the reference, and drops it on failure); cfg is
     * filled through the borrowed pointer */
    json_t *cfg = json_object();
    json_t *obj = cfg ? json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.layers", "class_name",
                                  l->kind->type, "config", cfg, "registered_name")
                      : NULL;
    if (!obj) {
        keel_error(KEEL_ERR_NOMEM, "%s: saving the config: out of memory", l->name);
        return NULL;
    }
    bool ok = keel_cfg_put_base(cfg, l) == KEEL_OK && l->kind->get_config(l, cfg) == KEEL_OK;
    if (ok && in_rank >= 0 && !built_at_init(l->kind->type))
        ok = put_build_config(obj, in_rank, in_dims) &&
             (l->n_wrapped == 0 || put_inner_build_configs(l, cfg, in_rank, in_dims));
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
