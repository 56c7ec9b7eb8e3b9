/* recurrent.c: LSTM, GRU and SimpleRNN layers over the fused sequence kernels of
 * src/kernels/rnn.h (one op per layer: all time steps in one call, forward and backward), and
 * Bidirectional. A layer reads the time-step mask its input carries (Embedding(mask_zero),
 * Masking) and passes it on when it returns sequences. Dropout and recurrent_dropout draw one
 * mask per sample for the whole sequence from the model's counter-based stream, so a step's
 * masks do not depend on the thread count.
 *
 * States (Keras's initial_state and return_state): a call's inputs after the sequence are its
 * initial states (h, and c for LSTM), so gradients reach whatever made them; with return_state
 * the op's node holds output, h (and c) as parts (src/graph/parts.c), which keel_apply_outputs
 * exposes through pick nodes. Bidirectional packs its output(s) and both directions' states the
 * same way, in Keras's order: output(s), then the forward states, then the backward ones. */
#include "../kernels/rnn.h"
#include "../model/model.h"
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

typedef struct rnn_cfg {
    keel_rnn_opts o;
    keel_rnn_cell cell;
    keel_act act, rec_act;
    /* zeros at padded steps rather than the carried h: Keras's zero_output_for_mask, which
     * Bidirectional turns on in its layers when they return sequences */
    bool zero_masked_output;
} rnn_cfg;

/* states per call: LSTM h and c, the others h */
static int n_states(const rnn_cfg *c) {
    return c->cell == KEEL_RNN_LSTM ? 2 : 1;
}

/* the geometry of one call on n samples; drop: dropout masks are passed (training) */
static keel_rnn_geom geom(const keel_node *nd, int64_t n, bool drop) {
    const rnn_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    return (keel_rnn_geom){.cell = c->cell,
                           .N = n,
                           .T = in->dims[0],
                           .F = in->dims[1],
                           .U = c->o.units,
                           .act = c->act,
                           .rec_act = c->rec_act,
                           .go_backwards = c->o.go_backwards != 0,
                           .return_sequences = c->o.return_sequences != 0,
                           .reset_after = c->cell == KEEL_RNN_GRU && c->o.reset_after,
                           .dropout = drop && c->o.dropout > 0,
                           .recurrent_dropout = drop && c->o.recurrent_dropout > 0,
                           .zero_masked_output = c->zero_masked_output};
}

/* floats per sample of the output (y), before the states when the node packs them */
static int64_t y_size(const keel_node *nd) {
    const rnn_cfg *c = nd->layer->cfg;
    return c->o.return_sequences ? nd->in[0]->dims[0] * c->o.units : c->o.units;
}

static keel_status rnn_infer(keel_node *nd) {
    const rnn_cfg *c = nd->layer->cfg;
    const keel_node *in = nd->in[0];
    char a[128];
    if (in->rank != 2)
        KEEL_FAIL(KEEL_ERR_SHAPE, "%s: %s expects input (batch, timesteps, features), got %s%s",
                  nd->layer->name, nd->layer->kind->type,
                  keel_dims_str(in->rank, in->dims, true, a, sizeof a),
                  in->rank == 1 ? " (token ids need an Embedding first)" : "");
    keel_rnn_geom g = geom(nd, 1, true);
    keel_status st = keel_rnn_geom_check(&g, nd->layer->name);
    if (st) return st;
    for (int k = 1; k < nd->n_in; k++)
        if (nd->in[k]->rank != 1 || nd->in[k]->dims[0] != c->o.units)
            KEEL_FAIL(KEEL_ERR_SHAPE,
                      "%s: initial state %d (%s) has shape %s, expected (None, %lld)",
                      nd->layer->name, k - 1, k == 1 ? "h" : "c",
                      keel_dims_str(nd->in[k]->rank, nd->in[k]->dims, true, a, sizeof a),
                      (long long)c->o.units);
    if (c->o.return_state) { /* output, h (, c) as parts of one flat vector (see rnn_build) */
        nd->rank = 1;
        nd->dims[0] = y_size(nd) + n_states(c) * c->o.units;
        return KEEL_OK;
    }
    nd->rank = c->o.return_sequences ? 2 : 1;
    nd->dims[0] = c->o.return_sequences ? in->dims[0] : c->o.units;
    nd->dims[1] = c->o.return_sequences ? c->o.units : 0;
    return KEEL_OK;
}

/* for n samples: the dropout masks (n * (F + U)), 64 bytes of alignment, the kernels'
 * workspace (which holds the reordered weights once, whatever n) */
static int64_t work_at(const keel_node *nd, int64_t n) {
    keel_rnn_geom g = geom(nd, n, true);
    return keel_rnn_work_floats(&g);
}
static int64_t rnn_scratch_batch(const keel_node *nd, int64_t n) {
    return n * (nd->in[0]->dims[1] + ((const rnn_cfg *)nd->layer->cfg)->o.units) + 16 +
           work_at(nd, n);
}

static keel_rnn_weights weights(const keel_layer *l) {
    return (keel_rnn_weights){l->params[0].w, l->params[1].w,
                              l->n_params > 2 ? l->params[2].w : NULL};
}

/* the workspace, 64-byte aligned, after the n * (F + U) dropout floats at the start */
static float *work_of(const keel_node *nd, int64_t n) {
    float *w = nd->scratch + n * (nd->in[0]->dims[1] + ((const rnn_cfg *)nd->layer->cfg)->o.units);
    return w + ((64 - ((uintptr_t)w & 63)) & 63) / sizeof(float);
}

/* one multiplier per (sample, feature): 1 / keep where kept, 0 elsewhere, from the model's
 * stream for this node and step */
static void draw(float *m, int64_t count, float rate, uint64_t seed, uint64_t stream) {
    uint64_t base = keel_rand_base(seed, stream);
    float keep = 1.0f - rate;
    for (int64_t i = 0; i < count; i++)
        m[i] = keel_rand_uniform_at(base, (uint64_t)i) < keep ? 1.0f / keep : 0.0f;
}

static keel_rnn_masks masks(keel_node *nd, int64_t n, const keel_ctx *ctx, bool fresh) {
    const rnn_cfg *c = nd->layer->cfg;
    const int64_t F = nd->in[0]->dims[1], U = c->o.units;
    keel_rnn_masks m = {.mask = nd->in[0]->mask_node ? nd->in[0]->mask_node->scratch : NULL};
    if (!ctx->training) return m;
    uint64_t stream = keel_mix64((uint64_t)nd->id + 7) ^ ctx->step;
    if (c->o.dropout > 0) {
        if (fresh) draw(nd->scratch, n * F, c->o.dropout, ctx->seed, stream);
        m.dropout = nd->scratch;
    }
    if (c->o.recurrent_dropout > 0) {
        if (fresh)
            draw(nd->scratch + n * F, n * U, c->o.recurrent_dropout, ctx->seed,
                 stream ^ 0x5245430000ull);
        m.rec_dropout = nd->scratch + n * F;
    }
    return m;
}

/* the states of a call on n samples: initial ones from the inputs after the sequence, final
 * ones (return_state) after the n outputs in the node's value, and their gradients likewise */
static keel_rnn_state states(const keel_node *nd, int64_t n) {
    const rnn_cfg *c = nd->layer->cfg;
    const int64_t at = n * y_size(nd), U = c->o.units;
    keel_rnn_state s = {.h0 = nd->n_in > 1 ? nd->in[1]->val : NULL,
                        .c0 = nd->n_in > 2 ? nd->in[2]->val : NULL};
    if (c->o.return_state) {
        s.h = nd->val + at;
        s.c = n_states(c) > 1 ? nd->val + at + n * U : NULL;
        s.dh = nd->grad ? nd->grad + at : NULL;
        s.dc = nd->grad && n_states(c) > 1 ? nd->grad + at + n * U : NULL;
    }
    for (int k = 1; k < nd->n_in; k++) {
        float *d = nd->in[k]->needs_grad ? nd->in[k]->grad : NULL;
        if (k == 1)
            s.dh0 = d, s.accumulate_dh0 = nd->acc_in[1];
        else
            s.dc0 = d, s.accumulate_dc0 = nd->acc_in[2];
    }
    return s;
}

static void rnn_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    keel_rnn_geom g = geom(nd, n, ctx->training);
    keel_rnn_state s = states(nd, n);
    keel_rnn_forward(&g, nd->in[0]->val, weights(nd->layer), masks(nd, n, ctx, true), &s, nd->val,
                     work_of(nd, n));
}

static void rnn_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    keel_layer *l = nd->layer;
    keel_node *in = nd->in[0];
    keel_rnn_geom g = geom(nd, n, ctx->training);
    keel_rnn_state s = states(nd, n);
    keel_rnn_grads gr = {.dx = in->needs_grad ? in->grad : NULL,
                         .dkernel = l->params[0].trainable ? l->params[0].g : NULL,
                         .drec_kernel = l->params[1].trainable ? l->params[1].g : NULL,
                         .dbias = l->n_params > 2 && l->params[2].trainable ? l->params[2].g : NULL,
                         .accumulate_dx = nd->acc_in[0],
                         .accumulate_dw = nd->acc_w[0]};
    keel_rnn_backward(&g, in->val, weights(l), masks(nd, n, ctx, false), &s, nd->grad, gr,
                      work_of(nd, n));
}

static const keel_op rnn_op = {.name = "rnn",
                               .infer = rnn_infer,
                               .scratch_batch = rnn_scratch_batch,
                               .forward = rnn_forward,
                               .backward = rnn_backward};

/* the call on in[0] (the sequence) and, when given, its initial states in[1..] */
static keel_node *rnn_build(keel_layer *l, keel_graph *g, keel_node **ins, int n) {
    const rnn_cfg *c = l->cfg;
    if (n != 1 && n != 1 + n_states(c)) {
        keel_error(KEEL_ERR_ARG,
                   "%s: %s takes a sequence and, optionally, its %d initial state%s (%s), got %d "
                   "inputs",
                   l->name, l->kind->type, n_states(c), n_states(c) > 1 ? "s" : "",
                   n_states(c) > 1 ? "h and c" : "h", n);
        return NULL;
    }
    keel_node *in = ins[0];
    const int64_t F = in->rank == 2 ? in->dims[1] : 1, U = c->o.units, G = keel_rnn_gates(c->cell);
    const char *bias_init = c->o.bias_initializer ? c->o.bias_initializer
                            : c->cell == KEEL_RNN_LSTM && c->o.unit_forget_bias ? "unit_forget_bias"
                                                                                : "zeros";
    bool two_biases = c->cell == KEEL_RNN_GRU && c->o.reset_after;
    if (!keel_layer_param(l, "kernel", 2, (int64_t[]){F, G * U},
                          c->o.kernel_initializer ? c->o.kernel_initializer : "glorot_uniform",
                          c->o.kernel_regularizer) ||
        !keel_layer_param(l, "recurrent_kernel", 2, (int64_t[]){U, G * U},
                          c->o.recurrent_initializer ? c->o.recurrent_initializer : "orthogonal",
                          c->o.recurrent_regularizer))
        return NULL;
    if (c->o.use_bias && !(two_biases ? keel_layer_param(l, "bias", 2, (int64_t[]){2, G * U},
                                                         bias_init, c->o.bias_regularizer)
                                      : keel_layer_param(l, "bias", 1, (int64_t[]){G * U},
                                                         bias_init, c->o.bias_regularizer)))
        return NULL;
    keel_node *nd = keel_graph_add(g, &rnn_op, l, ins, n);
    if (!nd) return NULL;
    keel_node *mask = c->o.return_sequences ? in->mask_node : NULL;
    if (!c->o.return_state) {
        nd->mask_node = mask;
        return nd;
    }
    /* return_state: [output, h (, c)], each a batch of its shape (parts.c) */
    const int64_t ys = y_size(nd);
    keel_part parts[3] = {{.offset = 0, .rank = 1, .dims = {U}, .size = ys, .mask_node = mask},
                          {.offset = ys, .rank = 1, .dims = {U}, .size = U},
                          {.offset = ys + U, .rank = 1, .dims = {U}, .size = U}};
    if (c->o.return_sequences)
        parts[0].rank = 2, parts[0].dims[0] = in->dims[0], parts[0].dims[1] = U;
    return keel_node_set_parts(nd, 1 + n_states(c), parts) ? NULL : nd;
}

static int rnn_outputs(const keel_layer *l) {
    const rnn_cfg *c = l->cfg;
    return c->o.return_state ? 1 + n_states(c) : 1;
}

static void rnn_free(keel_layer *l) {
    rnn_cfg *c = l->cfg;
    if (!c) return;
    keel_cfg_str_free(c->o.activation);
    keel_cfg_str_free(c->o.recurrent_activation);
    keel_cfg_str_free(c->o.kernel_initializer);
    keel_cfg_str_free(c->o.recurrent_initializer);
    keel_cfg_str_free(c->o.bias_initializer);
    keel_cfg_str_free(c->o.kernel_regularizer);
    keel_cfg_str_free(c->o.recurrent_regularizer);
    keel_cfg_str_free(c->o.bias_regularizer);
}

static keel_status rnn_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind lstm_kind = {.type = "LSTM",
                                          .prefix = "lstm",
                                          .build_n = rnn_build,
                                          .free_cfg = rnn_free,
                                          .n_outputs = rnn_outputs,
                                          .get_config = rnn_get_config};
static const keel_layer_kind gru_kind = {.type = "GRU",
                                         .prefix = "gru",
                                         .build_n = rnn_build,
                                         .free_cfg = rnn_free,
                                         .n_outputs = rnn_outputs,
                                         .get_config = rnn_get_config};
static const keel_layer_kind simple_kind = {.type = "SimpleRNN",
                                            .prefix = "simple_rnn",
                                            .build_n = rnn_build,
                                            .free_cfg = rnn_free,
                                            .n_outputs = rnn_outputs,
                                            .get_config = rnn_get_config};

static keel_layer *rnn_new(keel_rnn_cell cell, keel_rnn_opts o) {
    const keel_layer_kind *kind = cell == KEEL_RNN_LSTM  ? &lstm_kind
                                  : cell == KEEL_RNN_GRU ? &gru_kind
                                                         : &simple_kind;
    const char *what = o.name ? o.name : kind->prefix;
    if (o.units <= 0) {
        keel_error(KEEL_ERR_ARG, "%s: units must be positive, got %lld", what, (long long)o.units);
        return NULL;
    }
    if (!(o.dropout >= 0 && o.dropout < 1) ||
        !(o.recurrent_dropout >= 0 && o.recurrent_dropout < 1)) {
        keel_error(KEEL_ERR_ARG,
                   "%s: dropout and recurrent_dropout must be in [0, 1), got %g and %g", what,
                   o.dropout, o.recurrent_dropout);
        return NULL;
    }
    if (o.stateful) {
        keel_error(KEEL_ERR_ARG,
                   "%s: stateful=True is not supported (each batch starts from a zero state)",
                   what);
        return NULL;
    }
    rnn_cfg c = {.o = o, .cell = cell};
    if (keel_act_parse(o.activation ? o.activation : "tanh", &c.act, what) ||
        keel_act_parse(o.recurrent_activation ? o.recurrent_activation : "sigmoid", &c.rec_act,
                       what))
        return NULL;
    keel_rnn_opts *s = &c.o;
    s->activation = s->recurrent_activation = s->kernel_initializer = s->recurrent_initializer =
        NULL;
    s->bias_initializer = s->kernel_regularizer = s->recurrent_regularizer = s->bias_regularizer =
        NULL;
    s->name = NULL;
    keel_layer *l = keel_layer_new(kind, o.name, &c, sizeof c, o.input_shape);
    if (!l) return NULL;
    s = &((rnn_cfg *)l->cfg)->o;
    if (!keel_cfg_str(&s->activation, o.activation) ||
        !keel_cfg_str(&s->recurrent_activation, o.recurrent_activation) ||
        !keel_cfg_str(&s->kernel_initializer, o.kernel_initializer) ||
        !keel_cfg_str(&s->recurrent_initializer, o.recurrent_initializer) ||
        !keel_cfg_str(&s->bias_initializer, o.bias_initializer) ||
        !keel_cfg_str(&s->kernel_regularizer, o.kernel_regularizer) ||
        !keel_cfg_str(&s->recurrent_regularizer, o.recurrent_regularizer) ||
        !keel_cfg_str(&s->bias_regularizer, o.bias_regularizer)) {
        keel_layer_free(l);
        return NULL;
    }
    return l;
}

keel_layer *keel_lstm_(keel_rnn_opts o) {
    return rnn_new(KEEL_RNN_LSTM, o);
}
keel_layer *keel_gru_(keel_rnn_opts o) {
    return rnn_new(KEEL_RNN_GRU, o);
}
keel_layer *keel_simple_rnn_(keel_rnn_opts o) {
    return rnn_new(KEEL_RNN_SIMPLE, o);
}

/* ---------------------------------------------------------------- Bidirectional */

/* y[:, t] = x[:, T-1-t]: the backward layer's sequence output, put back in time order before
 * the merge, as Keras does */
static keel_status reverse_infer(keel_node *nd) {
    nd->rank = nd->in[0]->rank;
    memcpy(nd->dims, nd->in[0]->dims, sizeof nd->dims);
    return KEEL_OK;
}

static void reverse_rows(const float *x, float *y, int64_t n, int64_t T, int64_t U, bool acc) {
    for (int64_t b = 0; b < n; b++)
        for (int64_t t = 0; t < T; t++) {
            const float *src = x + (b * T + T - 1 - t) * U;
            float *dst = y + (b * T + t) * U;
            for (int64_t u = 0; u < U; u++)
                dst[u] = acc ? dst[u] + src[u] : src[u];
        }
}

static void reverse_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    reverse_rows(nd->in[0]->val, nd->val, n, nd->dims[0], nd->dims[1], false);
}

static void reverse_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    if (nd->in[0]->needs_grad)
        reverse_rows(nd->grad, nd->in[0]->grad, n, nd->dims[0], nd->dims[1], nd->acc_in[0]);
}

static const keel_op reverse_op = {.name = "reverse_time",
                                   .infer = reverse_infer,
                                   .forward = reverse_forward,
                                   .backward = reverse_backward,
                                   .keeps_mask = true};

/* Keras's outputs of Bidirectional: the merged output (or, with merge_mode None, the forward
 * and backward outputs), then with return_state the forward layer's states and the backward
 * layer's. Without return_state and with a merge that is the merge's node; otherwise one packed
 * node (parts.c) over the outputs and both directions' packed nodes, whose states it points
 * into. */
static keel_node *bidi_expand(void *bc, keel_layer *l, keel_graph *g, keel_node **in, int n) {
    if (n != 1) {
        keel_error(KEEL_ERR_ARG,
                   "%s: Bidirectional takes one input (the sequence), got %d (keel does not pass "
                   "initial states through Bidirectional)",
                   l->name, n);
        return NULL;
    }
    keel_layer *fw = l->wrapped[0], *bw = l->wrapped[1];
    const rnn_cfg *c = fw->cfg;
    const bool rs = c->o.return_state;
    fw->trainable = bw->trainable = l->trainable;
    keel_node *a = keel_build_call(bc, fw, g, in, 1),
              *b = a ? keel_build_call(bc, bw, g, in, 1) : NULL;
    if (!b) return NULL;
    /* each direction's output: its first part when it packs states too */
    keel_node *ya = rs ? keel_graph_pick(g, a, 0) : a, *yb = rs ? keel_graph_pick(g, b, 0) : b;
    if (!ya || !yb) return NULL;
    if (c->o.return_sequences && !(yb = keel_graph_add(g, &reverse_op, NULL, &yb, 1))) return NULL;
    keel_layer *merge = ((keel_layer **)l->cfg)[0];
    keel_node *outs[2] = {ya, yb};
    int n_out = 2;
    if (merge) {
        snprintf(merge->name, sizeof merge->name, "%s", l->name);
        if (!(outs[0] = merge->kind->build_n(merge, g, outs, 2))) return NULL;
        outs[0]->mask_node = ya->mask_node;
        n_out = 1;
        if (!rs) return outs[0];
    }
    /* the pack: the outputs, then (return_state) a and b whole, their states at an offset */
    keel_node *pin[4] = {outs[0], outs[1], a, b};
    keel_part parts[KEEL_MAX_OUT];
    int n_parts = 0;
    int64_t at = 0;
    for (int i = 0; i < n_out; i++) {
        parts[n_parts++] = keel_part_of(outs[i], at);
        at += outs[i]->size;
    }
    for (int d = 0; rs && d < 2; d++) {
        const keel_node *dir = d ? b : a;
        for (int k = 1; k < dir->n_parts; k++) {
            parts[n_parts] = dir->parts[k];
            parts[n_parts++].offset += at;
        }
        pin[n_out + d] = (keel_node *)dir;
        at += dir->size;
    }
    return keel_graph_pack(g, pin, rs ? n_out + 2 : n_out, n_parts, parts);
}

static int bidi_outputs(const keel_layer *l) {
    const rnn_cfg *c = l->wrapped[0]->cfg;
    const int outs = ((keel_layer **)l->cfg)[0] ? 1 : 2;
    return outs + (c->o.return_state ? 2 * n_states(c) : 0);
}

static void bidi_free(keel_layer *l) {
    keel_layer_release(((keel_layer **)l->cfg)[0]);
}

static keel_status bidi_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind bidi_kind = {.type = "Bidirectional",
                                          .prefix = "bidirectional",
                                          .expand = bidi_expand,
                                          .free_cfg = bidi_free,
                                          .n_outputs = bidi_outputs,
                                          .get_config = bidi_get_config};

keel_layer *keel_bidirectional_(keel_bidirectional_opts o) {
    const char *what = o.name ? o.name : "bidirectional";
    keel_layer *fw = o.layer;
    if (!fw) {
        keel_error(KEEL_ERR_ARG, "%s: the wrapped layer is NULL (%s)", what, keel_last_error());
        return NULL;
    }
    bool rnn = fw->kind == &lstm_kind || fw->kind == &gru_kind || fw->kind == &simple_kind;
    const char *mode = o.merge_mode ? o.merge_mode : "concat";
    keel_layer *merge = NULL;
    bool none = false;
    if (!rnn || !fw->floating)
        keel_error(KEEL_ERR_ARG,
                   "%s: Bidirectional wraps a new LSTM, GRU or SimpleRNN layer, got %s", what,
                   rnn ? "one already used elsewhere" : fw->kind->type);
    else if (!strcmp(mode, "concat"))
        merge = keel_concatenate(.axis = -1);
    else if (!strcmp(mode, "sum"))
        merge = keel_merge_add();
    else if (!strcmp(mode, "mul"))
        merge = keel_merge_multiply();
    else if (!strcmp(mode, "ave"))
        merge = keel_merge_average();
    else if (!strcmp(mode, "none"))
        none = true; /* Keras's merge_mode=None: the two outputs as they are */
    else
        keel_error(KEEL_ERR_ARG,
                   "%s: merge_mode must be \"concat\", \"sum\", \"mul\", \"ave\" or \"none\" "
                   "(Keras's None: both outputs), got \"%s\"",
                   what, mode);
    /* the backward layer: the same options, reading the sequence from its end */
    rnn_cfg *c = merge || none ? fw->cfg : NULL;
    keel_rnn_opts bo = c ? c->o : (keel_rnn_opts){0};
    bo.go_backwards = !bo.go_backwards;
    bo.name = NULL;
    keel_layer *bw = c ? rnn_new(c->cell, bo) : NULL;
    keel_layer *l =
        bw ? keel_layer_new(&bidi_kind, o.name, &merge, sizeof merge, o.input_shape) : NULL;
    if (!l) {
        keel_layer_free(fw), keel_layer_free(bw), keel_layer_free(merge);
        return NULL;
    }
    /* Keras's Bidirectional makes its layers output zeros at padded steps when they return
     * sequences (zero_output_for_mask), so that the two directions' outputs line up */
    c->zero_masked_output = ((rnn_cfg *)bw->cfg)->zero_masked_output = c->o.return_sequences;
    if (merge) keel_layer_retain(merge);
    keel_layer_retain(fw);
    keel_layer_retain(bw);
    /* Keras makes the backward layer from the forward one's config, trainable flag included */
    bw->trainable = fw->trainable;
    l->wrapped[0] = fw, l->wrapped[1] = bw, l->n_wrapped = 2;
    /* Keras's names: forward_lstm, backward_lstm */
    if (!fw->name[0]) snprintf(fw->name, sizeof fw->name, "forward_%s", fw->kind->prefix);
    snprintf(bw->name, sizeof bw->name, "backward_%.50s",
             fw->name[0] == 'f' && !strncmp(fw->name, "forward_", 8) ? fw->name + 8 : fw->name);
    return l;
}

/* ---------------------------------------------------------------- Keras configs (save/config.h)
 * LSTM, GRU and SimpleRNN share one get_config and one reader (Keras 3's keys, in its order;
 * SimpleRNN has no recurrent_activation, only LSTM unit_forget_bias, only GRU reset_after). */

static keel_status rnn_get_config(const keel_layer *l, json_t *cfg) {
    const rnn_cfg *c = l->cfg;
    const keel_rnn_opts *o = &c->o;
    const bool lstm = c->cell == KEEL_RNN_LSTM, gru = c->cell == KEEL_RNN_GRU;
    /* keel applies unit_forget_bias only with the default bias initializer (recurrent.c's
     * rnn_build): an explicit one means no forget-gate ones, which is what is written */
    const bool ufb = lstm && o->unit_forget_bias && !o->bias_initializer;
    keel_status st;
    if ((st = keel_cfg_put_bool(cfg, "return_sequences", o->return_sequences)) ||
        (st = keel_cfg_put_bool(cfg, "return_state", o->return_state)) ||
        (st = keel_cfg_put_bool(cfg, "go_backwards", o->go_backwards)) ||
        (st = keel_cfg_put_bool(cfg, "stateful", false)) ||
        (st = keel_cfg_put_bool(cfg, "unroll", false)) ||
        (st = keel_cfg_put_bool(cfg, "zero_output_for_mask", false)) ||
        (st = keel_cfg_put_int(cfg, "units", o->units)) ||
        (st = keel_cfg_put_activation(cfg, "activation", c->act, l)) ||
        (c->cell != KEEL_RNN_SIMPLE &&
         (st = keel_cfg_put_activation(cfg, "recurrent_activation", c->rec_act, l))) ||
        (st = keel_cfg_put_bool(cfg, "use_bias", o->use_bias)) ||
        (st = keel_cfg_put_initializer(
             cfg, "kernel_initializer",
             o->kernel_initializer ? o->kernel_initializer : "glorot_uniform", l)) ||
        (st = keel_cfg_put_initializer(
             cfg, "recurrent_initializer",
             o->recurrent_initializer ? o->recurrent_initializer : "orthogonal", l)) ||
        (st = keel_cfg_put_initializer(cfg, "bias_initializer",
                                       o->bias_initializer ? o->bias_initializer : "zeros", l)) ||
        (lstm && (st = keel_cfg_put_bool(cfg, "unit_forget_bias", ufb))) ||
        (st = keel_cfg_put_regularizer(cfg, "kernel_regularizer", o->kernel_regularizer, l)) ||
        (st =
             keel_cfg_put_regularizer(cfg, "recurrent_regularizer", o->recurrent_regularizer, l)) ||
        (st = keel_cfg_put_regularizer(cfg, "bias_regularizer", o->bias_regularizer, l)) ||
        (st = keel_cfg_put_null(cfg, "activity_regularizer")) ||
        (st = keel_cfg_put_null(cfg, "kernel_constraint")) ||
        (st = keel_cfg_put_null(cfg, "recurrent_constraint")) ||
        (st = keel_cfg_put_null(cfg, "bias_constraint")) ||
        (st = keel_cfg_put_float(cfg, "dropout", o->dropout)) ||
        (st = keel_cfg_put_float(cfg, "recurrent_dropout", o->recurrent_dropout)) ||
        (gru && (st = keel_cfg_put_bool(cfg, "reset_after", o->reset_after))) ||
        (c->cell != KEEL_RNN_SIMPLE && (st = keel_cfg_put_null(cfg, "seed"))))
        return st;
    return KEEL_OK;
}

/* implementation (tf.keras 2) and use_cudnn (Keras 3) choose a kernel, not a result: read and
 * ignored; the rest is read or must be at its default */
#define RNN_KEYS                                                                                   \
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll",                      \
        "zero_output_for_mask", "time_major", "units", "activation", "use_bias",                   \
        "kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",   \
        "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",  \
        "bias_constraint", "dropout", "recurrent_dropout", "implementation", "use_cudnn"

static keel_layer *rnn_from_config(const json_t *cfg, const char *where, keel_rnn_cell cell) {
    static const char *const simple_keys[] = {RNN_KEYS, NULL},
                             *const lstm_keys[] = {RNN_KEYS, "recurrent_activation",
                                                   "unit_forget_bias", "seed", NULL},
                             *const gru_keys[] = {RNN_KEYS, "recurrent_activation", "reset_after",
                                                  "seed", NULL};
    char name[64], ki[KEEL_CFG_SPEC_CAP], kr[KEEL_CFG_SPEC_CAP], ri[KEEL_CFG_SPEC_CAP],
        rr[KEEL_CFG_SPEC_CAP], bi[KEEL_CFG_SPEC_CAP], br[KEEL_CFG_SPEC_CAP];
    bool trainable;
    int64_t seed = 0;
    keel_rnn_opts o = {.activation = "tanh",
                       .recurrent_activation = "sigmoid",
                       .use_bias = 1,
                       .unit_forget_bias = 1,
                       .reset_after = 1};
    const char *const *keys = cell == KEEL_RNN_LSTM  ? lstm_keys
                              : cell == KEEL_RNN_GRU ? gru_keys
                                                     : simple_keys;
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_bool(cfg, "return_sequences", true, &o.return_sequences, where) ||
        keel_cfg_bool(cfg, "return_state", true, &o.return_state, where) ||
        keel_cfg_bool(cfg, "go_backwards", true, &o.go_backwards, where) ||
        keel_cfg_require_default(cfg, "stateful", NULL, where) ||
        keel_cfg_require_default(cfg, "unroll", NULL, where) ||
        keel_cfg_require_default(cfg, "zero_output_for_mask", NULL, where) ||
        keel_cfg_require_default(cfg, "time_major", NULL, where) ||
        keel_cfg_size(cfg, "units", false, &o.units, where) ||
        keel_cfg_activation(cfg, "activation", &o.activation, where) ||
        keel_cfg_activation(cfg, "recurrent_activation", &o.recurrent_activation, where) ||
        keel_cfg_bool(cfg, "use_bias", true, &o.use_bias, where) ||
        keel_cfg_weight(cfg, "kernel", ki, &o.kernel_initializer, kr, &o.kernel_regularizer,
                        where) ||
        keel_cfg_weight(cfg, "recurrent", ri, &o.recurrent_initializer, rr,
                        &o.recurrent_regularizer, where) ||
        keel_cfg_weight(cfg, "bias", bi, &o.bias_initializer, br, &o.bias_regularizer, where) ||
        keel_cfg_bool(cfg, "unit_forget_bias", true, &o.unit_forget_bias, where) ||
        keel_cfg_float(cfg, "dropout", true, &o.dropout, where) ||
        keel_cfg_float(cfg, "recurrent_dropout", true, &o.recurrent_dropout, where) ||
        keel_cfg_bool(cfg, "reset_after", true, &o.reset_after, where) ||
        keel_cfg_int(cfg, "seed", true, &seed, where))
        return NULL;
    /* keel's option struct reads NULL as the default (tanh / sigmoid); Keras's None is linear */
    if (!o.activation) o.activation = "linear";
    if (!o.recurrent_activation) o.recurrent_activation = "linear";
    /* the seed draws Keras's dropout masks; keel draws them from the model's seed */
    const json_t *sv = json_object_get(cfg, "seed");
    if (sv && !json_is_null(sv) && (o.dropout > 0 || o.recurrent_dropout > 0)) {
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: config.seed = %lld with dropout is not supported by keel (dropout masks "
                   "come from the model's seed)",
                   where, (long long)seed);
        return NULL;
    }
    /* unit_forget_bias: keel puts the forget-gate ones into its default (zeros) bias only */
    if (cell == KEEL_RNN_LSTM && o.bias_initializer && !strcmp(o.bias_initializer, "zeros"))
        o.bias_initializer = NULL;
    if (cell == KEEL_RNN_LSTM && o.unit_forget_bias && o.bias_initializer) {
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: config.unit_forget_bias with bias_initializer %s is not supported by "
                   "keel (only with zeros)",
                   where, o.bias_initializer);
        return NULL;
    }
    o.name = name[0] ? name : NULL;
    keel_layer *l = rnn_new(cell, o);
    if (l) keel_cfg_apply_base(l, trainable);
    return l;
}

keel_layer *keel_lstm_from_config(const json_t *cfg, const char *where) {
    return rnn_from_config(cfg, where, KEEL_RNN_LSTM);
}
keel_layer *keel_gru_from_config(const json_t *cfg, const char *where) {
    return rnn_from_config(cfg, where, KEEL_RNN_GRU);
}
keel_layer *keel_simple_rnn_from_config(const json_t *cfg, const char *where) {
    return rnn_from_config(cfg, where, KEEL_RNN_SIMPLE);
}

/* An inner layer of Bidirectional as Keras 3 writes it: zero_output_for_mask is what the
 * wrapper forces on it (its return_sequences) */
static json_t *bidi_inner_json(const keel_layer *l) {
    json_t *j = keel_layer_to_json(l, -1, NULL);
    if (!j) return NULL;
    const rnn_cfg *c = l->cfg;
    if (!keel_cfg_set(json_object_get(j, "config"), "zero_output_for_mask",
                      json_boolean(c->o.return_sequences))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static keel_status bidi_get_config(const keel_layer *l, json_t *cfg) {
    /* the merge layer the wrapper made; none (NULL) is merge_mode None, two outputs */
    const keel_layer *merge = ((keel_layer *const *)l->cfg)[0];
    const char *type = merge ? merge->kind->type : "";
    const char *mode = !merge                      ? NULL
                       : !strcmp(type, "Add")      ? "sum"
                       : !strcmp(type, "Multiply") ? "mul"
                       : !strcmp(type, "Average")  ? "ave"
                                                   : "concat";
    keel_status st =
        mode ? keel_cfg_put_str(cfg, "merge_mode", mode)
             : (keel_cfg_set(cfg, "merge_mode", json_null()) ? KEEL_OK : keel_last_status());
    if (st) return st;
    json_t *fw = bidi_inner_json(l->wrapped[0]);
    if (!fw || !keel_cfg_set(cfg, "layer", fw)) return keel_last_status();
    json_t *bw = bidi_inner_json(l->wrapped[1]);
    if (!bw || !keel_cfg_set(cfg, "backward_layer", bw)) return keel_last_status();
    return KEEL_OK;
}

/* Reads config.<key> as a layer, without zero_output_for_mask (the wrapper sets it: Keras
 * forces it to return_sequences, whatever the file says) */
static keel_layer *bidi_inner(const json_t *cfg, const char *key, const char *where) {
    char at[400];
    snprintf(at, sizeof at, "%s: config.%s", where, key);
    const json_t *obj = json_object_get(cfg, key), *inner = json_object_get(obj, "config");
    if (!json_is_object(obj) || !json_is_object(inner)) {
        keel_error(KEEL_ERR_FORMAT, "%s is %s, expected a layer object", at,
                   obj ? keel_json_type(obj) : "missing");
        return NULL;
    }
    json_t *o2 = json_copy((json_t *)obj), *c2 = json_copy((json_t *)inner);
    keel_layer *l = NULL;
    if (c2) json_object_del(c2, "zero_output_for_mask"); /* -1 when absent: fine */
    if (o2 && c2 && !json_object_set(o2, "config", c2))
        l = keel_layer_from_json(o2, at);
    else
        keel_error(KEEL_ERR_NOMEM, "%s: out of memory", at);
    json_decref(c2);
    json_decref(o2);
    return l;
}

keel_layer *keel_bidirectional_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"merge_mode", "layer", "backward_layer", NULL};
    char name[64];
    bool trainable;
    const char *mode = "concat";
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        keel_cfg_string(cfg, "merge_mode", true, &mode, where))
        return NULL;
    const json_t *mm = json_object_get(cfg, "merge_mode");
    if (mm && json_is_null(mm)) mode = "none"; /* Keras's None: the two outputs */
    if (strcmp(mode, "concat") && strcmp(mode, "sum") && strcmp(mode, "mul") &&
        strcmp(mode, "ave") && strcmp(mode, "none")) {
        keel_error(KEEL_ERR_FORMAT,
                   "%s: config.merge_mode = '%.40s', expected 'concat', 'sum', 'mul' or 'ave'",
                   where, mode);
        return NULL;
    }
    keel_layer *fw = bidi_inner(cfg, "layer", where);
    if (!fw) return NULL;
    keel_layer *given = NULL;
    const json_t *bv = json_object_get(cfg, "backward_layer");
    if (bv && !json_is_null(bv) && !(given = bidi_inner(cfg, "backward_layer", where))) {
        keel_layer_free(fw);
        return NULL;
    }
    /* the constructor takes fw (and frees it when it fails) */
    keel_layer *l =
        keel_bidirectional(.layer = fw, .merge_mode = mode, .name = name[0] ? name : NULL);
    if (!l) {
        keel_layer_free(given);
        return NULL;
    }
    keel_cfg_apply_base(l, trainable);
    /* both Kerases name the forward copy forward_<name> when they make the wrapper (tf.keras 2
     * writes the layer's own name in the file, Keras 3 the new one) */
    keel_layer *f = l->wrapped[0];
    if (strncmp(f->name, "forward_", 8)) {
        char n[64];
        snprintf(n, sizeof n, "forward_%.55s", f->name);
        memcpy(f->name, n, sizeof n);
    }
    if (!given) return l;
    /* keel makes its backward layer as a copy of the forward one reading the other way: a
     * given one must be that copy, up to its name, which it keeps */
    keel_layer *bw = l->wrapped[1];
    json_t *a = keel_layer_to_json(bw, -1, NULL),
           *b = a ? keel_layer_to_json(given, -1, NULL) : NULL;
    if (!b) { /* no config to compare (out of memory): the error is set */
        json_decref(a);
        keel_layer_free(given);
        keel_layer_free(l);
        return NULL;
    }
    json_object_del(json_object_get(a, "config"), "name");
    json_object_del(json_object_get(b, "config"), "name");
    bool same = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    if (same) snprintf(bw->name, sizeof bw->name, "%s", given->name);
    keel_layer_free(given);
    if (!same) {
        keel_layer_free(l);
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: config.backward_layer differs from config.layer in more than its "
                   "direction; keel's backward layer is a copy of the forward one",
                   where);
        return NULL;
    }
    return l;
}
