/* config.h: layers as Keras configs, the piece every model file format is made of.
 *
 * A layer is written as Keras 3 writes it in a .keras file's config.json:
 *   {"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": null,
 *    "build_config": {"input_shape": [null, 5]}}
 * and read back from that schema or from tf.keras 2's (the legacy .h5 files' "model_config",
 * where an object is {"class_name", "config"} and an input shape is "batch_input_shape").
 *
 * Each layer kind supplies get_config (its keel_layer_kind) and a from_config (in the registry,
 * registry.c), both in the layer's own file, which knows its cfg struct. Fields use Keras's
 * names and Keras 3's defaults; runtime buffers never appear. Internal. */
#ifndef KEEL_SAVE_CONFIG_H
#define KEEL_SAVE_CONFIG_H

#include "../data/json.h"
#include "../graph/graph.h"

/* ---- the registry (registry.c) */

/* Makes a new, floating layer from {"class_name": ..., "config": {...}} (either schema).
 * `where` prefixes every message ("m.keras: config.json: layers[3]"); the registry adds the
 * class and the layer's name after it ("...: layers[3]: Dense 'dense_1': config.units is
 * missing"), so `where` need not name the layer. A class keel does not implement is
 * KEEL_ERR_UNSUPPORTED "<where>: layer class 'Foo' is not supported by keel", and so is a field
 * keel cannot honour away from its default (a constraint, channels_first, stateful); a bad
 * field (missing, of the wrong type, out of range, a negative size) is KEEL_ERR_FORMAT naming
 * it. A first layer's batch_input_shape (tf.keras 2) declares the layer's input shape, as
 * input_shape does (left undeclared when it holds a None dimension: the model's InputLayer
 * carries the shape then); build_config is not read here. Wrappers (Bidirectional,
 * TimeDistributed) read their inner layers through this function again, at most
 * KEEL_CFG_MAX_DEPTH deep. Models used as layers (Sequential, Functional, Model) are handed to
 * keel_model_layer_from_json (model_json.c). */
keel_layer *keel_layer_from_json(const json_t *obj, const char *where);
/* The layer as Keras 3 writes it (module, class_name, config, registered_name and, when
 * in_rank >= 0, build_config {"input_shape": [null, in_dims...]}; a wrapper's inner layers get
 * theirs too, as Keras 3 writes them: Bidirectional's the same shape, TimeDistributed's without
 * the time axis. Classes Keras 3 builds at construction never have one: InputLayer,
 * Activation, Dropout, Reshape, Masking, the pooling layers, LeakyReLU, ReLU, ELU, Softmax).
 * A merge layer's build_config (a list of shapes) is the caller's to add. NULL and an error when
 * the kind has no get_config, an option has no Keras spelling (KEEL_ERR_UNSUPPORTED: an activation
 * string with non-default arguments such as "elu(alpha=0.5)", keel's internal "unit_forget_bias"
 * initializer), or out of memory. A layer holding a model (l->sub) goes to
 * keel_model_layer_to_json. */
json_t *keel_layer_to_json(const keel_layer *l, int in_rank, const int64_t *in_dims);

/* Implemented by the model code (model_json.c): a whole model inside another. */
keel_layer *keel_model_layer_from_json(const json_t *obj, const char *where);
json_t *keel_model_layer_to_json(const keel_layer *l);

/* ---- helpers for the layer files' get_config / from_config (config.c) */

/* The fields every layer writes first: name, trainable, dtype (Keras 3's DTypePolicy object,
 * float32). */
keel_status keel_cfg_put_base(json_t *cfg, const keel_layer *l);
/* Reads name (copied into name[64], "" when absent) and trainable (default true). */
keel_status keel_cfg_get_base(const json_t *cfg, const char *where, char name[64], bool *trainable);
/* Applies what keel_cfg_get_base read to a new layer (its name was given at construction;
 * this sets trainable). */
void keel_cfg_apply_base(keel_layer *l, bool trainable);

/* Typed field readers: `key` absent or null leaves *out alone and returns KEEL_OK when
 * optional, KEEL_ERR_FORMAT "<where>: config.<key> is missing" otherwise; a value of the wrong
 * type is "<where>: config.<key> is <type>, expected ...". */
keel_status keel_cfg_int(const json_t *cfg, const char *key, bool optional, int64_t *out,
                         const char *where);
keel_status keel_cfg_float(const json_t *cfg, const char *key, bool optional, float *out,
                           const char *where);
keel_status keel_cfg_bool(const json_t *cfg, const char *key, bool optional, int *out,
                          const char *where);
/* A string; *out points into cfg (valid while cfg lives). */
keel_status keel_cfg_string(const json_t *cfg, const char *key, bool optional, const char **out,
                            const char *where);
/* An int or a list of n ints ([3, 3] or 3) into out[0..n). */
keel_status keel_cfg_ints(const json_t *cfg, const char *key, bool optional, int n, int64_t *out,
                          const char *where);
/* A shape list with a leading null batch entry ([null, 28, 28, 1]), as batch_input_shape /
 * batch_shape / build_config input_shape: the per-sample dims into dims (zero-terminated, at
 * most KEEL_MAX_RANK), rank into *rank. A null inside the per-sample dims (a variable length)
 * is KEEL_ERR_UNSUPPORTED naming the field. */
keel_status keel_cfg_shape(const json_t *v, const char *key, int *rank, int64_t *dims,
                           const char *where);

/* Activation: Keras's name ("relu", "linear", ...) or a serialized function object; keel's
 * name back into *out (NULL for linear). Unknown names are KEEL_ERR_UNSUPPORTED naming them. */
keel_status keel_cfg_activation(const json_t *cfg, const char *key, const char **out,
                                const char *where);
/* An initializer object ({"class_name": "GlorotUniform", "config": {"seed": null}}, or a bare
 * name) into keel's spec string ("glorot_uniform", "random_normal(mean=0, stddev=0.05)") in
 * buf[cap]; *out = buf, or NULL when absent. And back: keel's spec to Keras 3's object. */
keel_status keel_cfg_initializer(const json_t *cfg, const char *key, char *buf, size_t cap,
                                 const char **out, const char *where);
json_t *keel_initializer_to_json(const char *spec);
/* Regularizer: {"class_name": "L2", "config": {"l2": 0.01}} (L1, L2, L1L2) or null, to keel's
 * "l2(0.01)" in buf; and back (NULL spec is JSON null). */
keel_status keel_cfg_regularizer(const json_t *cfg, const char *key, char *buf, size_t cap,
                                 const char **out, const char *where);
json_t *keel_regularizer_to_json(const char *spec);
/* A field that keel cannot honour unless it has its default (a constraint, stateful): KEEL_OK
 * when absent, null, false or equal to `dflt` (a JSON value; NULL means only null/false/absent
 * pass), KEEL_ERR_UNSUPPORTED "<where>: config.<key> = <value> is not supported by keel"
 * otherwise. */
keel_status keel_cfg_require_default(const json_t *cfg, const char *key, const json_t *dflt,
                                     const char *where);

/* json_object_set_new that records KEEL_ERR_NOMEM; returns false on failure. */
bool keel_cfg_set(json_t *obj, const char *key, json_t *v);

/* ---- more helpers (config.c): readers */

/* How deep wrappers and nested models may hold each other in one layer object. */
#define KEEL_CFG_MAX_DEPTH 32
/* The largest size a config may give (units, filters, a kernel size, a dimension): 2^31 - 1. */
#define KEEL_CFG_SIZE_MAX 2147483647
/* Room for an initializer or regularizer spec string read from a config. */
#define KEEL_CFG_SPEC_CAP 192

/* Every key of cfg is one the layer reads (known, NULL-terminated), a key every layer shares
 * (name, trainable, dtype, activity_regularizer, batch_input_shape) or holds null / false (a
 * field of a later Keras left at its default); otherwise KEEL_ERR_UNSUPPORTED "<where>:
 * config.<key> = <value> is not a field keel knows". So nothing is dropped silently. */
keel_status keel_cfg_check_keys(const json_t *cfg, const char *const *known, const char *where);
/* A size: an integer in [1, KEEL_CFG_SIZE_MAX] (as keel_cfg_int; out of range is
 * KEEL_ERR_FORMAT naming the value). */
keel_status keel_cfg_size(const json_t *cfg, const char *key, bool optional, int64_t *out,
                          const char *where);
/* n sizes: one integer for all, or a list of n ([3, 3] or 3), each in [1, KEEL_CFG_SIZE_MAX]. */
keel_status keel_cfg_sizes(const json_t *cfg, const char *key, bool optional, int n, int64_t *out,
                           const char *where);
/* data_format: absent, null or "channels_last"; "channels_first" is KEEL_ERR_UNSUPPORTED. */
keel_status keel_cfg_data_format(const json_t *cfg, const char *where);
/* padding: "valid" or "same" (and "causal" when causal_ok) into *out (a static string). */
keel_status keel_cfg_padding(const json_t *cfg, bool causal_ok, const char **out,
                             const char *where);
/* The dtype of a layer: absent, "float32" or a DTypePolicy / Policy object named float32;
 * *out (may be NULL) gets the name. Other names are KEEL_ERR_UNSUPPORTED unless listed in ok
 * (NULL-terminated, NULL: float32 alone). */
keel_status keel_cfg_dtype(const json_t *cfg, const char *const *ok, const char **out,
                           const char *where);
/* "<prefix>_initializer", "<prefix>_regularizer" and "<prefix>_constraint" (must be null): the
 * triple of a weight, into init / reg (each buf KEEL_CFG_SPEC_CAP bytes). */
keel_status keel_cfg_weight(const json_t *cfg, const char *prefix, char *ibuf, const char **init,
                            char *rbuf, const char **reg, const char *where);
/* keel_cfg_require_default against a number: absent, null or equal to dflt (1 and 1.0 alike). */
keel_status keel_cfg_require_number(const json_t *cfg, const char *key, double dflt,
                                    const char *where);
/* A seed: null (0 out) or an integer in [1, 2^53]; 0 is KEEL_ERR_UNSUPPORTED, since keel reads
 * a zero seed as "none" (Keras takes 0 as a seed). */
keel_status keel_cfg_seed(const json_t *cfg, const char *key, uint64_t *out, const char *where);

/* ---- writers: each returns KEEL_OK, or KEEL_ERR_NOMEM (recorded) */

/* The float32 v as the shortest decimal that reads back to it, as a double (0.3f -> 0.3):
 * what Python writes for the Keras float the user typed. */
double keel_cfg_real(float v);
keel_status keel_cfg_put_int(json_t *cfg, const char *key, int64_t v);
keel_status keel_cfg_put_float(json_t *cfg, const char *key, float v);
keel_status keel_cfg_put_bool(json_t *cfg, const char *key, bool v);
keel_status keel_cfg_put_str(json_t *cfg, const char *key, const char *s); /* NULL: null */
keel_status keel_cfg_put_null(json_t *cfg, const char *key);
keel_status keel_cfg_put_ints(json_t *cfg, const char *key, int n, const int64_t *v);
/* Keras 3's name of keel's activation (swish is "silu", hard_swish "hard_silu");
 * KEEL_ERR_UNSUPPORTED naming the layer when its arguments are not the function's defaults. */
keel_status keel_cfg_put_activation(json_t *cfg, const char *key, keel_act a, const keel_layer *l);
/* keel_initializer_to_json / keel_regularizer_to_json of spec under key, the error naming the
 * layer and key. */
keel_status keel_cfg_put_initializer(json_t *cfg, const char *key, const char *spec,
                                     const keel_layer *l);
keel_status keel_cfg_put_regularizer(json_t *cfg, const char *key, const char *spec,
                                     const keel_layer *l);

/* ---- each layer kind's from_config (in the layer's own file; registry.c's table) */
typedef keel_layer *(*keel_from_config_fn)(const json_t *cfg, const char *where);
keel_layer *keel_input_from_config(const json_t *cfg, const char *where);
keel_layer *keel_dense_from_config(const json_t *cfg, const char *where);
keel_layer *keel_activation_from_config(const json_t *cfg, const char *where);
keel_layer *keel_dropout_from_config(const json_t *cfg, const char *where);
keel_layer *keel_flatten_from_config(const json_t *cfg, const char *where);
keel_layer *keel_reshape_from_config(const json_t *cfg, const char *where);
keel_layer *keel_conv2d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_conv1d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_max_pooling2d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_average_pooling2d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_global_average_pooling2d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_global_max_pooling2d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_zero_padding2d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_max_pooling1d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_average_pooling1d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_global_max_pooling1d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_global_average_pooling1d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_batch_normalization_from_config(const json_t *cfg, const char *where);
keel_layer *keel_embedding_from_config(const json_t *cfg, const char *where);
keel_layer *keel_masking_from_config(const json_t *cfg, const char *where);
keel_layer *keel_upsampling2d_from_config(const json_t *cfg, const char *where);
keel_layer *keel_conv2d_transpose_from_config(const json_t *cfg, const char *where);
keel_layer *keel_add_from_config(const json_t *cfg, const char *where);
keel_layer *keel_subtract_from_config(const json_t *cfg, const char *where);
keel_layer *keel_multiply_from_config(const json_t *cfg, const char *where);
keel_layer *keel_average_from_config(const json_t *cfg, const char *where);
keel_layer *keel_maximum_from_config(const json_t *cfg, const char *where);
keel_layer *keel_minimum_from_config(const json_t *cfg, const char *where);
keel_layer *keel_concatenate_from_config(const json_t *cfg, const char *where);
keel_layer *keel_leaky_relu_from_config(const json_t *cfg, const char *where);
keel_layer *keel_relu_from_config(const json_t *cfg, const char *where);
keel_layer *keel_elu_from_config(const json_t *cfg, const char *where);
keel_layer *keel_softmax_from_config(const json_t *cfg, const char *where);
keel_layer *keel_prelu_from_config(const json_t *cfg, const char *where);
keel_layer *keel_lstm_from_config(const json_t *cfg, const char *where);
keel_layer *keel_gru_from_config(const json_t *cfg, const char *where);
keel_layer *keel_simple_rnn_from_config(const json_t *cfg, const char *where);
keel_layer *keel_bidirectional_from_config(const json_t *cfg, const char *where);
keel_layer *keel_time_distributed_from_config(const json_t *cfg, const char *where);

#endif
