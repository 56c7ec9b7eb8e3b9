/* wrappers.c: layers that hold other layers. TimeDistributed(layer) applies a layer to every
 * time step: keel's Dense, activation, Dropout and BatchNormalization ops already act on the
 * last axis of any number of leading axes, so the wrapped layer is built on the sequence as it
 * is (one GEMM over all steps, not one per step); a layer that would need the steps folded into
 * the batch (Conv2D on video frames) is refused, naming it. Bidirectional lives beside the
 * recurrent layers. */
#include "../model/model.h"
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

static keel_node *td_expand(void *bc, keel_layer *l, keel_graph *g, keel_node **in, int n) {
    keel_layer *inner = l->wrapped[0];
    static const char *const ok[] = {"Dense",     "Activation", "Dropout", "BatchNormalization",
                                     "LeakyReLU", "ReLU",       "ELU",     "Softmax",
                                     NULL};
    bool allowed = false;
    for (int i = 0; ok[i]; i++)
        allowed |= !strcmp(inner->kind->type, ok[i]);
    if (!allowed) {
        keel_error(
            KEEL_ERR_ARG,
            "%s: TimeDistributed(%s) is not supported (keel applies Dense, activations, Dropout "
            "and BatchNormalization to every step)",
            l->name, inner->kind->type);
        return NULL;
    }
    char a[128];
    if (n != 1 || in[0]->rank < 2) {
        keel_error(
            KEEL_ERR_SHAPE, "%s: TimeDistributed expects (batch, timesteps, ...), got %s", l->name,
            n == 1 ? keel_dims_str(in[0]->rank, in[0]->dims, true, a, sizeof a) : "several inputs");
        return NULL;
    }
    inner->trainable = l->trainable;
    return keel_build_call(bc, inner, g, in, 1);
}

static keel_status td_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind td_kind = {.type = "TimeDistributed",
                                        .prefix = "time_distributed",
                                        .expand = td_expand,
                                        .get_config = td_get_config};

keel_layer *keel_time_distributed_(keel_time_distributed_opts o) {
    if (!o.layer) {
        keel_error(KEEL_ERR_ARG, "%s: the wrapped layer is NULL (%s)",
                   o.name ? o.name : "time_distributed", keel_last_error());
        return NULL;
    }
    if (!o.layer->floating) {
        keel_error(KEEL_ERR_ARG,
                   "%s: the wrapped layer %s is already used elsewhere; wrap a new layer",
                   o.name ? o.name : "time_distributed", o.layer->name);
        return NULL;
    }
    keel_layer *l = keel_layer_new(&td_kind, o.name, NULL, 0, o.input_shape);
    if (!l) {
        keel_layer_free(o.layer);
        return NULL;
    }
    keel_layer_retain(o.layer);
    l->wrapped[0] = o.layer;
    l->n_wrapped = 1;
    return l;
}

/* ---------------------------------------------------------------- Keras config (save/config.h) */

static keel_status td_get_config(const keel_layer *l, json_t *cfg) {
    json_t *inner = keel_layer_to_json(l->wrapped[0], -1, NULL);
    if (!inner || !keel_cfg_set(cfg, "layer", inner)) return keel_last_status();
    return KEEL_OK;
}

keel_layer *keel_time_distributed_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"layer", NULL};
    char name[64], at[400];
    bool trainable;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable))
        return NULL;
    const json_t *obj = json_object_get(cfg, "layer");
    if (!obj || json_is_null(obj)) {
        keel_error(KEEL_ERR_FORMAT, "%s: config.layer is missing", where);
        return NULL;
    }
    snprintf(at, sizeof at, "%s: config.layer", where);
    keel_layer *inner = keel_layer_from_json(obj, at);
    if (!inner) return NULL;
    /* the constructor takes inner (and frees it when it fails) */
    keel_layer *l = keel_time_distributed(.layer = inner, .name = name[0] ? name : NULL);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}
