/* model_json.c: models inside models in Keras's schema. Not yet: this file stands in so that
 * the layer registry links; the model-level reader and writer replace it. */
#include "config.h"

keel_layer *keel_model_layer_from_json(const json_t *obj, const char *where) {
    const json_t *cls = json_object_get(obj, "class_name");
    keel_error(KEEL_ERR_UNSUPPORTED, "%s: a %s inside a model: nested models: not yet", where,
               json_is_string(cls) ? json_string_value(cls) : "model");
    return NULL;
}

json_t *keel_model_layer_to_json(const keel_layer *l) {
    keel_error(KEEL_ERR_UNSUPPORTED, "%s: a model used as a layer: nested models: not yet",
               l->name);
    return NULL;
}
