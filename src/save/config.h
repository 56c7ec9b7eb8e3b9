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
 * `where` prefixes every message ("m.keras: config.json: layers[3] (dense_1)"). A class keel
 * does not implement is KEEL_ERR_UNSUPPORTED "<where>: layer class 'Foo' is not supported by
 * keel"; a bad field is KEEL_ERR_FORMAT naming it. Models used as layers (Sequential,
 * Functional, Model) are handed to keel_model_layer_from_json (model_json.c). */
keel_layer *keel_layer_from_json(const json_t *obj, const char *where);
/* The layer as Keras 3 writes it (module, class_name, config, registered_name and, when
 * in_rank >= 0, build_config {"input_shape": [null, in_dims...]}); NULL and an error when the
 * kind has no get_config or out of memory. */
json_t *keel_layer_to_json(const keel_layer *l, int in_rank, const int64_t *in_dims);

/* Implemented by the model code (model_json.c): a whole model inside another. */
keel_layer *keel_model_layer_from_json(const json_t *obj, const char *where);
json_t *keel_model_layer_to_json(const keel_layer *l);

/* ---- helpers for the layer files' get_config / from_config (config.c) */

/* The fields every layer writes first: name, trainable, dtype (Keras 3's DTypePolicy object,
 * float32). */
keel_status keel_cfg_put_base(json_t *cfg, const keel_layer *l);
/* Reads name (copied into name[64], "" when absent) and trainable (default true). */
keel_status keel_cfg_get_base(const json_t *cfg, const char *where, char name[64],
                              bool *trainable);
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

#endif
