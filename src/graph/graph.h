/* graph.h: layers, the nodes they emit, the op table, and the memory plan.
 *
 * A layer, when the model is compiled, declares its weights (keel_param) and adds one node to
 * the graph. A node has an op (a row of infer / forward / backward functions), its input nodes,
 * its per-sample shape (the batch axis is implicit and set per call), and buffers sized for the
 * largest batch seen so far. The backward pass walks the nodes in reverse; each op writes into
 * its inputs' gradients (adding when an input feeds several nodes). */
#ifndef KEEL_GRAPH_H
#define KEEL_GRAPH_H

#include "../kernels/kernels.h"

#define KEEL_MAX_IN 4
#define KEEL_MAX_PARAMS 4

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
    void (*forward)(keel_node *node, int64_t n, const keel_ctx *ctx);
    void (*backward)(keel_node *node, int64_t n, const keel_ctx *ctx);
    /* The node's value and gradient are its input's (Flatten, Reshape): no copy. */
    bool alias_input;
} keel_op;

/* A weight of a layer: a slice of the model's flat weight / gradient buffers. */
typedef struct keel_param {
    char name[16];
    char label[96]; /* "dense_1/kernel", for messages; set when the model collects it */
    int rank;
    int64_t dims[4];
    int64_t size;
    const char *init;        /* initializer spec, e.g. "glorot_uniform" */
    const char *regularizer; /* NULL or "l2(0.01)" */
    float l1, l2;            /* parsed regularizer */
    bool trainable;
    int64_t offset; /* into the flat buffers */
    float *w, *g;
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
    keel_act act;     /* applied to the op's output (Dense, Activation) */
    bool keep_pre;    /* keep the pre-activation in `pre` (gelu, ..., or for a fused loss) */
    bool loss_fused;  /* the loss writes d(pre-activation) into grad: skip act backward */
    bool needs_grad;
    int consumers;
    keel_node *consumer; /* the last node added with this one as an input (the only one when consumers == 1) */
    /* a 2x2 max pool fused into the convolution before it (set by the convolution's forward
     * each pass): the pool's forward is done, its backward applies the ReLU mask */
    bool fused_by_prev, fused_next;
    float *val, *grad, *pre, *scratch;
    double t_fwd, t_bwd; /* seconds, with KEEL_PROFILE set */
};

/* Layer kinds: a vtable. */
typedef struct keel_layer keel_layer;
typedef struct keel_layer_kind {
    const char *type; /* "Dense", the Keras class name */
    const char *prefix; /* "dense", for automatic names */
    /* Declares params and adds the layer's node after `in`; returns it or NULL on error. */
    keel_node *(*build)(keel_layer *l, keel_graph *g, keel_node *in);
    void (*free_cfg)(keel_layer *l);
} keel_layer_kind;

struct keel_layer {
    const keel_layer_kind *kind;
    char name[64];
    int input_rank; /* a declared input shape (Input, or input_dim / input_shape) */
    int64_t input_dims[KEEL_MAX_RANK];
    void *cfg;
    keel_param params[KEEL_MAX_PARAMS];
    int n_params;
    keel_node *node;
    bool trainable;
};

struct keel_graph {
    keel_node **nodes; /* topological order */
    int n, cap;
    int64_t batch_cap; /* buffers hold this many samples */
    float *arena;
};

/* Adds a node after in[0..n_in) with op; runs op->infer. NULL on error (message recorded). */
keel_node *keel_graph_add(keel_graph *g, const keel_op *op, keel_layer *layer, keel_node **in, int n_in);
/* Sizes every buffer for `batch` samples (reallocates only to grow). */
keel_status keel_graph_plan(keel_graph *g, int64_t batch);
void keel_graph_forward(keel_graph *g, int64_t n, const keel_ctx *ctx);
/* Zeros shared gradients, then runs every backward op in reverse order. The output node's
 * grad must hold dL/d(output) (or d(pre) when loss_fused). */
void keel_graph_backward(keel_graph *g, int64_t n, const keel_ctx *ctx);
void keel_graph_free(keel_graph *g);

/* Declares a weight on a layer; returns it. */
keel_param *keel_layer_param(keel_layer *l, const char *name, int rank, const int64_t *dims,
                             const char *init, const char *regularizer);
/* Allocates a layer of a kind with a copy of cfg (cfg_size bytes). */
keel_layer *keel_layer_new(const keel_layer_kind *kind, const char *name, const void *cfg,
                           size_t cfg_size, const int64_t *input_dims);

/* Op tables shared by several layers. */
extern const keel_op keel_op_input, keel_op_dense, keel_op_activation, keel_op_dropout,
    keel_op_reshape;

#endif
