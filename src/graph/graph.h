/* graph.h: layers, the nodes they emit, the op table, and the memory plan.
 *
 * A layer is a definition: its options and its weights, declared once (the first time it is
 * built) and owned by the layer, which is reference-counted so that several models can hold
 * it. A call is a node: building a layer on an input node adds one node; everything per call
 * (shapes, convolution geometry, scratch, per-thread partial sums) lives on the node or in the
 * graph's arena, never in the layer, so a layer can be called twice in one graph or in many.
 * A node has an op (a row of infer / forward / backward functions), its input nodes, its
 * per-sample shape (the batch axis is implicit), and buffers sized for the largest batch.
 *
 * Gradients accumulate by a graph rule (keel_graph_finish): walking the nodes in backward
 * order, the first op to write a buffer's gradient overwrites it and every later one adds,
 * per edge (acc_in) and per weight (acc_w); aliases (Flatten, Reshape) resolve to the buffer
 * they share. No op counts consumers. A node whose gradient nothing writes (its value reaches no
 * loss: an unused output of a layer) has a zero gradient: its backward is skipped (`dead`), and
 * when it is its layer's first call in backward order it zeroes the layer's weight gradients
 * instead of writing them.
 *
 * A call with several outputs (a recurrent layer with return_state, Bidirectional with
 * merge_mode None) makes one node that holds them all, described by its parts (keel_part), and
 * one pick node per output (parts.c says how they are laid out and how gradients flow). */
#ifndef KEEL_GRAPH_H
#define KEEL_GRAPH_H

#include "../kernels/kernels.h"

#define KEEL_MAX_IN 8
#define KEEL_MAX_PARAMS 4
/* outputs of one call: Bidirectional(LSTM(return_sequences, return_state), merge_mode=None) has
 * six (two sequences, four states) */
#define KEEL_MAX_OUT 6

typedef struct keel_node keel_node;
typedef struct keel_graph keel_graph;

/* What a step needs besides the nodes: training flag, RNG position. */
typedef struct keel_ctx {
    bool training;
    uint64_t seed;
    uint64_t step; /* increases every training step: fresh dropout masks */
} keel_ctx;

typedef struct keel_op {
    const char *name;
    /* Sets node->rank/dims from the inputs; a user-visible error on a mismatch. */
    keel_status (*infer)(keel_node *node);
    /* Floats of scratch per sample (dropout mask, ...); NULL: none. */
    int64_t (*scratch)(const keel_node *node);
    /* Floats of scratch for a batch of `batch` samples, when that is not `scratch` per sample
     * (a recurrent layer's workspace holds its reordered weights once); used instead of it. */
    int64_t (*scratch_batch)(const keel_node *node, int64_t batch);
    void (*forward)(keel_node *node, int64_t n, const keel_ctx *ctx);
    void (*backward)(keel_node *node, int64_t n, const keel_ctx *ctx);
    /* The node's value and gradient are its input's (Flatten, Reshape): no copy. */
    bool alias_input;
    /* Passes its input's time-step mask on (Keras's supports_masking for a layer that does not
     * change the time axis: Dense, Dropout, Activation, BatchNormalization). Other ops drop it. */
    bool keeps_mask;
    /* Checks the data fed to this node when its input is a model input (Embedding: token
     * indices), once per call of fit / evaluate / predict; rows of `per` floats. */
    keel_status (*validate)(const keel_node *node, const keel_tensor *x, int64_t rows, int64_t per,
                            const char *fn, const char *name);
} keel_op;

/* One output of a node with several (parts.c): for a batch of n samples it occupies the floats
 * [n * offset, n * (offset + size)) of the node's value (and gradient), samples one after
 * another, so each part is an ordinary batch of its shape. */
typedef struct keel_part {
    int64_t offset; /* floats per sample of the parts before it */
    int rank;       /* per-sample shape */
    int64_t dims[KEEL_MAX_RANK];
    int64_t size;
    keel_node *mask_node; /* the part's time-step mask (a returned sequence), or NULL */
} keel_part;

/* A weight of a layer: a slice of the model's flat weight / gradient buffers. */
typedef struct keel_param {
    char name[16];
    char label[96];     /* "dense_1/kernel", for messages */
    bool own_trainable; /* false for weights no optimizer touches (moving statistics) */
    int rank;
    int64_t dims[4];
    int64_t size;
    const char *init;        /* initializer spec, e.g. "glorot_uniform" */
    const char *regularizer; /* NULL or "l2(0.01)" */
    float l1, l2;            /* parsed regularizer */
    /* The three below are the view of the model running now, bound by it before each call
     * (keel_model_bind): each model has its own gradient buffer, optimizer slots and
     * compile-time trainable snapshot for the same shared weight. */
    bool trainable;
    int64_t offset; /* into the model's gradient and slot buffers */
    float *g;
    float *w; /* owned by the layer */
} keel_param;

struct keel_node {
    const keel_op *op;
    struct keel_layer *layer;
    keel_node *in[KEEL_MAX_IN];
    int n_in;
    int id;
    int rank; /* per-sample shape, batch axis excluded */
    int64_t dims[KEEL_MAX_RANK];
    int64_t size;
    keel_act act;    /* applied to the op's output (Dense, Activation) */
    bool keep_pre;   /* keep the pre-activation in `pre` (gelu, ..., or for a fused loss) */
    bool loss_fused; /* the loss writes d(pre-activation) into grad: skip act backward */
    bool needs_grad;
    int consumers;
    keel_node *consumer; /* the last node added with this one as an input (the only one when
                            consumers == 1) */
    /* a 2x2 max pool fused into the convolution before it (set by the convolution's forward
     * each pass): the pool's forward is done, its backward applies the ReLU mask */
    bool fused_by_prev, fused_next;
    bool acc_in[KEEL_MAX_IN];    /* backward adds into in[i]->grad (another op wrote it first) */
    bool acc_w[KEEL_MAX_PARAMS]; /* backward adds into the layer's weight gradient k */
    bool frozen;                 /* the layer was not trainable when the model was compiled */
    /* The node whose scratch starts with this value's time-step mask, (n, T) floats of 0 / 1,
     * from an Embedding(mask_zero) or Masking upstream; NULL when there is none. */
    keel_node *mask_node;
    /* several outputs packed in this node (parts.c); 0 and NULL for an ordinary node */
    int n_parts;
    keel_part *parts;
    int part;            /* a pick node: the part of its input it exposes */
    bool dead;           /* no gradient reaches the value (keel_graph_finish): backward skipped */
    keel_conv_geom geom; /* per-call geometry (Conv2D, pooling) */
    void *state;         /* one block of per-call buffers an op keeps; freed with the node */
    float *val, *grad, *pre, *scratch;
    double t_fwd, t_bwd; /* seconds, with KEEL_PROFILE set */
};

struct json_t; /* Jansson's, for get_config */

/* Layer kinds: a vtable. */
typedef struct keel_layer keel_layer;
typedef struct keel_layer_kind {
    const char *type;   /* "Dense", the Keras class name */
    const char *prefix; /* "dense", for automatic names */
    /* Declares params and adds the layer's node after `in`; returns it or NULL on error. */
    keel_node *(*build)(keel_layer *l, keel_graph *g, keel_node *in);
    /* Wrappers (TimeDistributed, Bidirectional) expand into their wrapped layers' calls instead;
     * bc is the model's build context (model.h), passed on to keel_build_call. */
    keel_node *(*expand)(void *bc, keel_layer *l, keel_graph *g, keel_node **in, int n);
    /* Layers that take several inputs (merge layers) build with this instead. */
    keel_node *(*build_n)(keel_layer *l, keel_graph *g, keel_node **in, int n);
    void (*free_cfg)(keel_layer *l);
    /* Writes the layer's Keras config fields into cfg (a JSON object; see save/config.h). */
    keel_status (*get_config)(const keel_layer *l, struct json_t *cfg);
    /* How many outputs a call returns (return_state, merge_mode None); NULL: one. A layer with
     * several builds one node with parts (parts.c), exposed by keel_apply_outputs. */
    int (*n_outputs)(const keel_layer *l);
} keel_layer_kind;

struct keel_layer {
    const keel_layer_kind *kind;
    int refs;      /* models holding the layer */
    bool floating; /* made but not yet held: the first model to take it takes this reference */
    bool built;    /* weights declared and allocated (the first build) */
    int cursor;    /* keel_layer_param's position while a built layer is built again */
    char name[64];
    int input_rank; /* a declared input shape (Input, or input_dim / input_shape) */
    int64_t input_dims[KEEL_MAX_RANK];
    void *cfg;
    keel_param params[KEEL_MAX_PARAMS];
    int n_params;
    keel_node *node; /* the latest call's node, cleared when its graph is freed (tests) */
    bool trainable;
    struct keel_model *sub; /* a model used as a layer (kind "Model") */
    keel_layer *wrapped[2]; /* the layers a wrapper holds (TimeDistributed: 1, Bidirectional: 2) */
    int n_wrapped;
    /* the input shapes of the call that built the layer (a saved file's build_config, which
     * Keras takes from the first call too) */
    int call_n_in;
    int call_rank[KEEL_MAX_IN];
    int64_t call_dims[KEEL_MAX_IN][KEEL_MAX_RANK];
};

struct keel_graph {
    keel_node **nodes; /* topological order */
    int n, cap;
    int64_t batch_cap; /* buffers hold this many samples */
    float *arena;
    /* 0, or the most weights the layers built into this graph may make (a model read from a
     * file: keel_model's max_weights); weights_made counts those made so far */
    int64_t max_weights, weights_made;
};

/* KEEL_OK when layer l, not built yet, fits its weights declared so far into what is left of
 * g->max_weights; KEEL_ERR_FORMAT naming the weight that does not otherwise. Checked when the
 * layer's node is added (before a layer allocates anything the size of its weights, as
 * Conv2D's partial sums) and again before the weights are. */
keel_status keel_graph_weight_budget(const keel_graph *g, const keel_layer *l);

/* Sets the gradient-accumulation flags of every node (see the top of this file); outputs[0..n)
 * have their gradient written first, by the loss. */
void keel_graph_finish(keel_graph *g, keel_node *const *outputs, int n);
/* Adds a node after in[0..n_in) with op; runs op->infer. NULL on error (message recorded). */
keel_node *keel_graph_add(keel_graph *g, const keel_op *op, keel_layer *layer, keel_node **in,
                          int n_in);
/* Sizes every buffer for `batch` samples (reallocates only to grow). */
keel_status keel_graph_plan(keel_graph *g, int64_t batch);
void keel_graph_forward(keel_graph *g, int64_t n, const keel_ctx *ctx);
/* Zeros shared gradients, then runs every backward op in reverse order. The output node's
 * grad must hold dL/d(output) (or d(pre) when loss_fused). */
void keel_graph_backward(keel_graph *g, int64_t n, const keel_ctx *ctx);
void keel_graph_free(keel_graph *g);

/* Declares a weight on a layer and returns it; on a layer already built, returns the weight
 * at the same position after checking that its shape is the same (a shared layer called on
 * input of another shape is an error naming both). NULL and a message on error. */
keel_param *keel_layer_param(keel_layer *l, const char *name, int rank, const int64_t *dims,
                             const char *init, const char *regularizer);
/* Takes a reference to a layer (keel_add, a functional call): the floating reference of a new
 * layer the first time, a new one after. Drops one with keel_layer_release; the last frees. */
void keel_layer_retain(keel_layer *l);
void keel_layer_release(keel_layer *l);
/* Allocates a layer of a kind with a copy of cfg (cfg_size bytes). */
keel_layer *keel_layer_new(const keel_layer_kind *kind, const char *name, const void *cfg,
                           size_t cfg_size, const int64_t *input_dims);

/* ---- several outputs of one call (parts.c) */

/* Gives nd the n parts described (copied; freed with the node); they must fit in nd->size. */
keel_status keel_node_set_parts(keel_node *nd, int n, const keel_part *parts);
/* A part that is all of node `src`'s value, at `offset` floats per sample. */
keel_part keel_part_of(const keel_node *src, int64_t offset);
/* A node that exposes part k of `packed` as an ordinary value (a copy). NULL on error. */
keel_node *keel_graph_pick(keel_graph *g, keel_node *packed, int k);
/* A node whose value is in[0..n) one after another (each input's n samples as a block, so the
 * parts of an input that has parts keep their layout at an offset), with the parts given. */
keel_node *keel_graph_pack(keel_graph *g, keel_node **in, int n, int n_parts,
                           const keel_part *parts);
/* How many outputs a layer's call returns (1 unless its kind says more). */
int keel_layer_outputs(const keel_layer *l);

/* Op tables shared by several layers. */
extern const keel_op keel_op_input, keel_op_dense, keel_op_activation, keel_op_dropout,
    keel_op_reshape, keel_op_view1d;

#endif
