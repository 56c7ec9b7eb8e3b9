/* save.h: the pieces of keel's model files (Keras 3 ".keras", tf.keras 2 ".h5", ".weights.h5").
 *
 *   model_json.c  a model as Keras's JSON config and back (Sequential, Functional, nested), and
 *                 its compile config
 *   keras_order.c the order Keras gives a model's layers, and its snake_case names
 *   weights.c     weights and optimizer state in HDF5: Keras 3's layout (layers/<snake_case
 *                 class>/vars/<i>) both ways, tf.keras 2's (model_weights/<layer>/...) read
 *   keras_file.c  the files themselves: keel_save, keel_load, keel_save_weights,
 *                 keel_load_weights; zip through libzip, writes through a temporary file
 * Internal. */
#ifndef KEEL_SAVE_SAVE_H
#define KEEL_SAVE_SAVE_H

#include "../model/model.h"
#include "config.h"
#include "h5.h"

/* What keel writes into metadata.json: the Keras version whose format it follows. */
#define KEEL_KERAS_VERSION "3.15.1"
/* The newest .keras / legacy .h5 major version keel reads. */
#define KEEL_KERAS_MAJOR_MAX 3

/* The most layers keel reads in one model of a file (a Sequential's list, a functional model's
 * layers, each nested model's on its own): far more than real models have (a ResNet152 has
 * about 500), few enough that a hostile list of 100,000 is refused before anything is made. */
#define KEEL_MAX_FILE_LAYERS 10000

/* One of a model's "layers" as Keras lists them (model.layers): a layer, or one of a
 * functional model's inputs (its InputLayer). */
typedef struct keel_kop {
    keel_layer *layer; /* NULL for an input */
    int call;          /* an input's call index */
} keel_kop;
/* m's layers in Keras's order: a Sequential's in order without its InputLayer; a functional
 * model's by decreasing depth from the outputs, ties by first visit of a depth-first walk from
 * the outputs (keras.src.ops.function.map_graph), inputs included. Returns how many (at most
 * n_layers + n_inputs), -1 when out of memory. */
int keel_keras_ops(const keel_model *m, keel_kop *out);
/* The call whose output call c is: c, or for a pick the call it picks from (Keras's
 * keras_history names that call). */
int keel_keras_source(const keel_model *m, int c);
/* Per call of m, its operation: the calls of one layer share an id, an input or a pick has its
 * own; ids are dense in [0, *n_ops). A keel_alloc'd array (keel_free), NULL when out of memory. */
int *keel_keras_op_ids(const keel_model *m, int *n_ops);
/* Keras's naming.to_snake_case: "BatchNormalization" -> "batch_normalization", "LSTM" ->
 * "lstm", "Conv2DTranspose" -> "conv2d_transpose", "PReLU" -> "p_re_lu". */
void keel_snake_case(const char *cls, char *out, size_t cap);

/* The model as Keras 3's config.json object (with compile_config when compiled); NULL and an
 * error otherwise. The model must be built. */
json_t *keel_model_to_json(keel_model *m);
/* A model from a config object of either schema (class_name Sequential / Functional / Model),
 * not built, not compiled. where prefixes messages. */
keel_model *keel_model_from_json(const json_t *obj, const char *where);
/* Compiles m from Keras 3's compile_config or tf.keras 2's training_config; KEEL_OK and
 * nothing done when cfg is NULL or empty. A loss, metric or optimizer keel lacks is a warning
 * and the model stays uncompiled (as Keras warns when it cannot compile a loaded model). */
keel_status keel_model_compile_json(keel_model *m, const json_t *cfg, bool legacy,
                                    const char *where);

/* Keras 3's weights file: every weight (layers/.../vars/<i>), and the optimizer's state
 * (optimizer/vars/<i>) when the model is compiled. */
keel_status keel_weights_write(keel_model *m, hid_t f, bool with_optimizer);
/* Reads it back into a built model, all or nothing: a missing weight or a shape that differs
 * is an error naming it, and no weight changes. With with_optimizer and a compiled model, the
 * optimizer's state too (its absence is not an error: a file saved before training). */
keel_status keel_weights_read(keel_model *m, hid_t f, bool with_optimizer, const char *what);
/* tf.keras 2's layout: group g holds one group per layer name, each with a weight_names
 * attribute naming its datasets in order (model_weights in a full-model .h5, the root of a
 * save_weights .h5). All or nothing. */
keel_status keel_weights_read_legacy(keel_model *m, hid_t g, const char *what);
/* tf.keras 2's optimizer_weights group (iteration, then the slots by variable), best effort: a
 * layout keel does not recognise leaves the optimizer fresh with a warning. */
keel_status keel_optimizer_read_legacy(keel_model *m, hid_t f, const char *what);

#endif
