/* model.h: the Sequential model, its compile state and the pieces fit is made of. */
#ifndef KEEL_MODEL_H
#define KEEL_MODEL_H

#include "../train/train.h"

#define KEEL_MAX_IO 8
/* "loss", each output's loss (several outputs), each output's metrics */
#define KEEL_MAX_LOGS (1 + KEEL_MAX_IO * (1 + KEEL_MAX_METRICS))
#define KEEL_HIST_MAX_KEYS (2 * KEEL_MAX_LOGS)

struct keel_history {
    int epochs, cap;
    int n_keys;
    char keys[KEEL_HIST_MAX_KEYS][56];
    double *vals[KEEL_HIST_MAX_KEYS];
};

/* One call of a functional model's recipe: a layer (a model used as a layer is a layer of kind
 * "Model") applied to earlier calls, an input, or one output of an earlier call that has
 * several (a pick: keel_apply_outputs records the call, then a pick per output). */
typedef struct keel_callrec {
    keel_layer *layer; /* NULL for an input or a pick */
    bool pick;         /* output `part` of call in[0] */
    int part;
    int in[KEEL_MAX_IN], n_in;
    int rank; /* an input's per-sample shape */
    int64_t dims[KEEL_MAX_RANK];
    char name[64]; /* an input's name ("" until saved or named) */
    int out_rank;  /* the call's output shape, once built */
    int64_t out_dims[KEEL_MAX_RANK];
} keel_callrec;

/* A symbolic tensor of a functional model: the output of one call. */
struct keel_sym {
    keel_model *model;
    int call;
};

/* A model is a view: a recipe of layer calls (a Sequential's layer list, or a functional
 * model's calls), held by reference, and, once compiled, its own graph of nodes (one per call),
 * the weights its graph reaches with their trainable flags as they were at compile time
 * (tf.keras 2's rule), and its own gradient and optimizer-slot buffers. Two models that share
 * a layer share its weight values and nothing else; before each call a model binds its view
 * onto the shared weights (keel_model_bind), so two models sharing layers must not run at the
 * same moment on two threads. Models are reference-counted too: a model used as a layer inside
 * another is freed with the last holder. */
struct keel_model {
    char name[64];
    int refs;
    bool functional;
    keel_layer *
        *layers; /* held: a Sequential's in order; a functional model's in first-call order */
    int n_layers, cap_layers;
    keel_callrec *calls;
    keel_sym **syms; /* one per call, freed with the model */
    int n_calls, cap_calls;
    int inputs[KEEL_MAX_IO], n_inputs;   /* call indices (functional) */
    int outputs[KEEL_MAX_IO], n_outputs; /* call indices (functional) */
    keel_layer *as_layer; /* the "Model" layer that wraps this model, when used as one */
    keel_status status;   /* first error, kept */
    char error[KEEL_ERR_CAP];
    uint64_t seed;
    bool compiled;
    bool built; /* its graph and weights exist (compile, or a predict before any compile) */
    keel_graph g;
    keel_node *in_nodes[KEEL_MAX_IO], *out_nodes[KEEL_MAX_IO];
    int n_in_nodes, n_out_nodes;
    keel_node *input, *output; /* the first of each */
    keel_node **layer_nodes;   /* per layers[i], its (last) output node in g, for the summary */
    keel_param **params;       /* every weight the graph reaches, each once */
    int64_t *offsets;          /* into grads and the optimizer's slots */
    bool *ptrain;              /* trainable at compile time */
    int n_params;
    float *grads, *flat;
    int64_t n_weights;
    bool warned_trainable;
    /* 0, or the most weights a build may make (keel_graph's max_weights): a model read from a
     * file declares no more than the file can hold (keel_load), so that a config of a few bytes
     * cannot ask for gigabytes */
    int64_t max_weights;
    /* keel_load: new weights are left at zero (their initializers checked, not run), since the
     * file's values replace them next: Orthogonal's O(n^3) took two minutes for a SimpleRNN of
     * 2048 units, to be thrown away */
    bool skip_init;
    keel_optimizer opt;
    keel_loss loss;
    keel_loss losses[KEEL_MAX_IO]; /* per output; loss is losses[0] */
    float loss_w[KEEL_MAX_IO];
    keel_metric metrics[KEEL_MAX_IO][KEEL_MAX_METRICS]; /* the compiled list, resolved per output */
    int n_metrics;
    int n_logs;                       /* entries of names */
    const char *names[KEEL_MAX_LOGS]; /* "loss", "<output>_loss"..., metrics: Keras's log names */
    char name_store[KEEL_MAX_LOGS][64];
    float *ybufs[KEEL_MAX_IO]; /* gathered targets per output; ybuf is ybufs[0] */
    int64_t ybuf_caps[KEEL_MAX_IO];
    keel_ctx ctx;
    float *ybuf; /* gathered targets of one batch */
    int64_t ybuf_cap;
    keel_history hist;
};

/* What expanding a recipe into a graph carries along (model.c). */
typedef struct build_ctx {
    keel_model *top; /* the model being compiled: its seed initializes the weights built now */
    int counter;     /* layers visited, in order: each new weight's random stream */
    int depth;
} build_ctx;

keel_model *keel_model_alloc(const char *name, bool functional);
/* The layer that stands for m inside another model (kind "Model"); one per model, made on first
 * use; the caller's hold adds the reference. NULL when out of memory. */
keel_layer *keel_model_as_layer(keel_model *m);
/* Holds a layer (takes a reference) unless the model holds it already. */
keel_status keel_model_hold(keel_model *m, keel_layer *l);
/* Adds m's nodes after in[0..n) to g; its (first) output node, or NULL with the error set.
 * keel_functional_expand also writes every output node to outs when outs is not NULL. */
keel_node *keel_model_expand(keel_model *m, build_ctx *bc, keel_graph *g, keel_node **in, int n);
keel_node *keel_functional_expand(keel_model *m, build_ctx *bc, keel_graph *g, keel_node **in,
                                  int n, keel_node **outs);
/* One call of layer l in a graph (its weights built the first time). */
keel_node *keel_build_call(build_ctx *bc, keel_layer *l, keel_graph *g, keel_node **in, int n);
/* Whether m is inner or is used, at any depth, inside inner. */
bool keel_model_contains(const keel_model *inner, const keel_model *m);
/* The input shape a model declares (its first layer's, or its first Input's); 0 if none. */
int keel_model_declared_input(const keel_model *m, int64_t *dims);

/* Builds the graph and the weights without a loss or an optimizer, as Keras builds a model on
 * its first call: what predict and summary need on a model never compiled (the generator of a
 * GAN, used inside the compiled combined model). KEEL_OK at once when built already. */
keel_status keel_model_build(keel_model *m, const char *fn);

/* Points every shared weight at this model's gradient buffer, slot offsets and compile-time
 * trainable flags; when `training`, warns once if a layer's flag changed since the compile. */
void keel_model_bind(keel_model *m, bool training);
/* Copies every weight of the model into dst (n_weights floats, in params order), or back. */
void keel_model_get_flat(const keel_model *m, float *dst);
void keel_model_set_flat(keel_model *m, const float *src);

/* Records err as the model's error if it has none yet; returns err. */
keel_status keel_model_fail(keel_model *m, keel_status err);
/* Returns the model's kept error (restating it as the thread's last error), or KEEL_OK. */
keel_status keel_model_check(keel_model *m, const char *fn);

/* Checks x (and y when not NULL) against the compiled model; resolves "accuracy". */
keel_status keel_check_data(keel_model *m, const char *fn, const keel_tensor *x,
                            const keel_tensor *y);
/* Per-sample floats of y for the compiled loss. */
int64_t keel_target_size(const keel_model *m);
/* Keras's validation split point floor(N * (1 - split)), with split taken as the shortest
 * decimal that rounds to the float given (0.2f is 0.2000000030, which Keras never sees). */
int64_t keel_split_at(int64_t N, float split);
/* KEEL_ERR_NAN naming the first weight that is NaN or infinite (after epoch `epoch`, 0-based). */
keel_status keel_model_check_weights(keel_model *m, const char *fn, int epoch);
/* Makes room for batch n (graph buffers and the target buffer). */
keel_status keel_model_reserve(keel_model *m, int64_t n);

/* ModelCheckpoint (fit.c), tf.keras 2.15's: the best value so far and its direction. */
typedef struct keel_ckpt_state {
    bool max_mode;
    double best;
} keel_ckpt_state;
keel_status keel_ckpt_init(keel_ckpt_state *c, const keel_model_checkpoint_opts *o, const char *fn);
/* After epoch `epoch` (0-based): formats the path, decides, prints Keras's verbose lines to out
 * and saves; a save that fails is the error fit returns. */
keel_status keel_ckpt_epoch_end(keel_model *m, keel_ckpt_state *c,
                                const keel_model_checkpoint_opts *o, int epoch,
                                const keel_logs *logs, FILE *out, const char *fn);

/* Progress bar (tf.keras 2 layout). */
typedef struct keel_progbar {
    FILE *out;
    int verbose;
    int64_t target;
    double start, last_update, after_first;
    bool dynamic;
    int prev_width;
} keel_progbar;
void keel_progbar_start(keel_progbar *pb, FILE *out, int verbose, int64_t target);
void keel_progbar_update(keel_progbar *pb, int64_t current, const keel_logs *logs, bool finalize);
double keel_now(void);

/* History */
void keel_history_reset(keel_history *h);
keel_status keel_history_append(keel_history *h, const keel_logs *logs);
void keel_history_free(keel_history *h);

/* ModelCheckpoint's filepath for an epoch (0-based, as fit counts; the text shows epoch + 1,
 * as Keras formats it): Python's fmt.format(epoch=epoch + 1, **logs) into out[cap]
 * (checkpoint_fmt.c says what is supported). KEEL_ERR_ARG, out "", and a message naming the
 * field on a key that is neither epoch nor logged (Keras's "Failed to format this callback
 * filepath"), a malformed template, a spec keel does not support, or a result that does not
 * fit in cap - 1 bytes. Never writes past out[cap - 1]. */
keel_status keel_format_filepath(const char *fmt, int epoch, const keel_logs *logs, char *out,
                                 size_t cap);
/* Python's repr(v) (also str(v), and f"{v}"): the shortest decimal that reads back as v,
 * "0.1", "1e+16", "-0.0", "inf", "nan". Returns the length; 0 and "" if it does not fit. */
size_t keel_repr_double(double v, char *buf, size_t cap);

#endif
