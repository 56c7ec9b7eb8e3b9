/* rnn.h: the numeric kernels of keel's recurrent layers: LSTM, GRU and SimpleRNN over a whole
 * sequence, forward and backward (backpropagation through time), each fast kernel with a naive
 * reference in double beside it. They reproduce tf.keras 2.15 (tests/test_rnn.c checks them
 * against tests/fixtures/keras_rnn.txt, made with the real library by
 * tools/make_rnn_fixtures.py). Plain functions with explicit dimensions; nothing here
 * allocates: the caller sizes one workspace with keel_rnn_work_floats and owns it.
 *
 * Shapes (row-major, batch first, as Keras): N samples, T steps, F input features, U units, G
 * gates (LSTM 4, GRU 3, SimpleRNN 1).
 *   x           (N, T, F)
 *   kernel      (F, G*U)      gate blocks along the columns in Keras's order:
 *   rec_kernel  (U, G*U)      LSTM i, f, c, o; GRU z, r, h; SimpleRNN the one block
 *   bias        LSTM (4U); GRU reset_after (2, 3U): row 0 the input bias, row 1 the
 *               recurrent bias; GRU reset_after=False (3U); SimpleRNN (U); NULL: use_bias=False
 *   y           (N, T, U) with return_sequences, else (N, U)
 *
 * The equations (z_x = x_t @ kernel + b_in, z_h = h_{t-1} @ rec_kernel (+ b_rec), per gate
 * block; act = activation, rec = recurrent_activation):
 *   LSTM       i, f, o = rec(z_x + z_h) blocks; g = act(z_x + z_h) block c;
 *              c_t = f c_{t-1} + i g;  h_t = o act(c_t)
 *   GRU        z, r = rec(z_x + z_h) blocks z, r;
 *              reset_after:  hh = act(z_x[h] + r * (h_{t-1} @ rec_kernel[h] + b_rec[h]))
 *              otherwise:    hh = act(z_x[h] + (r * h_{t-1}) @ rec_kernel[h])
 *              h_t = z h_{t-1} + (1 - z) hh
 *   SimpleRNN  h_t = act(z_x + h_{t-1} @ rec_kernel)
 * The initial state is zero, or h0 (and c0 for LSTM) when the caller gives one (Keras's
 * initial_state). Step s (0 .. T-1) reads time t = s, or T-1-s with go_backwards (x and the
 * mask are read backwards); the output of step s is y[:, s] in processing order (as Keras: with
 * go_backwards, y[:, 0] belongs to the last time step). Without return_sequences y is the state
 * after the last step. The final states (Keras's return_state: h, and c for LSTM) are the states
 * after the last step, which at padding are the states after the last real step.
 *
 * Masks (tf.keras semantics, checked against the real library):
 *  - mask (N, T), one value per sample and *time* step: 0 marks a padded step. At a padded step
 *    the states (h, and c for LSTM) are carried over unchanged and the step's output is the
 *    previous output: the carried h once a real step has been, zeros before the first real step
 *    (also when an initial state is given: Keras's outputs start from zeros, its states from
 *    the initial state), or zeros at every padded step with zero_masked_output (what Keras's
 *    Bidirectional asks of its layers with return_sequences, zero_output_for_mask). So pre- and
 *    post-padding give the same final state, and dx is zero at padded steps.
 *  - dropout (N, F): multipliers on x (the caller draws them, already scaled by 1/(1-rate)),
 *    the same at every step; recurrent dropout (N, U): multipliers on h_{t-1} where it enters
 *    the recurrent product (and, for GRU without reset_after, the product r * h_{t-1}); the
 *    state itself is not scaled. One mask is shared by every gate, as Keras's fused
 *    implementation 2 does for dropout; Keras switches to implementation 1 when
 *    recurrent_dropout > 0 and draws one mask per gate there (a different draw, not a
 *    different expectation).
 *
 * How the fast kernels run (rnn.c): the gate columns are reordered into blocks of 16 units (all
 * gates of units 16k .. 16k+15 side by side), kept in the workspace; one large GEMM projects the
 * inputs of every step at once; then each step is one small GEMM, h_{t-1} (N, U) by the
 * recurrent kernel, and the gates in one vectorised pass. The backward is the mirror image: per
 * step, dh from the step after through the recurrent kernel (a GEMM), then the gate gradients;
 * at the end one large GEMM each for d(kernel), d(rec_kernel) and dx. Threads take a range of
 * samples each and run all its steps (no meeting between steps); a batch with fewer than two
 * samples per thread is cut by unit blocks instead, one parallel region per step (two for GRU
 * without reset_after, whose r * h_{t-1} must be complete before its product). */
#ifndef KEEL_RNN_H
#define KEEL_RNN_H

#include "kernels.h"

typedef enum keel_rnn_cell {
    KEEL_RNN_SIMPLE, /* SimpleRNN */
    KEEL_RNN_LSTM,
    KEEL_RNN_GRU,
    KEEL_RNN_CELL_COUNT
} keel_rnn_cell;

const char *keel_rnn_cell_name(keel_rnn_cell c); /* "SimpleRNN", "LSTM", "GRU" */

/* Everything the kernels need to know besides the arrays. There are no zero defaults: a layer
 * sets act and rec_act (Keras: tanh and sigmoid; SimpleRNN has no rec_act). */
typedef struct keel_rnn_geom {
    keel_rnn_cell cell;
    int64_t N, T, F, U;      /* batch, steps, input features, units */
    keel_act act, rec_act;   /* activation, recurrent_activation: elementwise kinds only */
    bool go_backwards;       /* read the sequence from its last step to its first */
    bool return_sequences;   /* y (N, T, U) rather than (N, U) */
    bool reset_after;        /* GRU only; Keras's default is true: set it (false is v1's form) */
    bool dropout;            /* the caller passes a dropout mask (sizes the workspace) */
    bool recurrent_dropout;  /* the caller passes a recurrent dropout mask */
    bool zero_masked_output; /* the output at a padded step is zeros, not the carried h */
} keel_rnn_geom;

/* Checks a geometry: every size positive, N * T * max(F, G*U) and the weights far from
 * overflowing, activations elementwise (softmax and log_softmax act along an axis: refused),
 * reset_after only on GRU. KEEL_ERR_SHAPE / KEEL_ERR_ARG with one line naming `what` (the
 * layer) otherwise. The other functions assume a geometry that passed. */
keel_status keel_rnn_geom_check(const keel_rnn_geom *g, const char *what);

int keel_rnn_gates(keel_rnn_cell c); /* G: 1, 4, 3 */
/* Floats in the weights: kernel F*G*U, rec_kernel U*G*U, bias as listed at the top. */
int64_t keel_rnn_kernel_floats(const keel_rnn_geom *g);
int64_t keel_rnn_rec_kernel_floats(const keel_rnn_geom *g);
int64_t keel_rnn_bias_floats(const keel_rnn_geom *g);
/* Floats of y: N*T*U with return_sequences, else N*U. */
int64_t keel_rnn_y_floats(const keel_rnn_geom *g);

/* Floats of workspace that keel_rnn_forward and keel_rnn_backward need for this geometry
 * (linear in N: size it for the largest batch): N*T*(G + 3)*U for LSTM, (G + 2)*U for GRU
 * (+ 3U with reset_after), (G + 1)*U for SimpleRNN, plus N*T*U with recurrent dropout, N*T*F
 * with dropout, N*T*G*U when an activation's derivative needs its input (gelu, swish, ...),
 * and about five copies of the weights. LSTM(128), N = 32, T = 80, F = 64: 2.59 M floats. */
int64_t keel_rnn_work_floats(const keel_rnn_geom *g);

typedef struct keel_rnn_weights {
    const float *kernel, *rec_kernel, *bias; /* bias NULL: use_bias=False */
} keel_rnn_weights;

typedef struct keel_rnn_masks {
    const float *mask;        /* (N, T): 0 = padded step; NULL: every step is real */
    const float *dropout;     /* (N, F) multipliers on x; needs g->dropout; NULL: none */
    const float *rec_dropout; /* (N, U) multipliers on h_{t-1}; needs g->recurrent_dropout */
} keel_rnn_masks;

/* The states around a sequence (Keras's initial_state and return_state), each (N, U); every
 * pointer may be NULL. c0, c, dc and dc0 are LSTM's cell state, ignored by the other cells. */
typedef struct keel_rnn_state {
    const float *h0, *c0; /* the states entering the first step; NULL: zeros */
    float *h, *c;         /* forward: written with the states after the last step */
    const float *dh, *dc; /* backward: dL/dh, dL/dc of those final states; NULL: zero */
    float *dh0, *dc0;     /* backward: dL/dh0, dL/dc0, written (or added to, below) */
    bool accumulate_dh0, accumulate_dc0;
} keel_rnn_state;

/* y = the layer's output for x, starting from s's initial states (s may be NULL: zeros, and no
 * final state wanted). work: keel_rnn_work_floats(g) floats (64-byte aligned, as
 * keel_alloc returns, makes every gate block an aligned vector; any float alignment is
 * correct); it keeps what the backward pass needs (the gates, states and the reordered
 * weights), so leave it as it is between the two calls. Threads: keel_threads(); the result
 * does not depend on scheduling, and on the thread count only through keel_gemm's rounding. */
void keel_rnn_forward(const keel_rnn_geom *g, const float *x, keel_rnn_weights w, keel_rnn_masks m,
                      const keel_rnn_state *s, float *y, float *work);

/* Where the backward pass writes: any pointer may be NULL (not wanted). accumulate_dx: dx +=
 * (an input that feeds several layers); accumulate_dw: dkernel, drec_kernel, dbias += (a
 * layer applied more than once); otherwise overwritten. */
typedef struct keel_rnn_grads {
    float *dx;          /* (N, T, F) */
    float *dkernel;     /* (F, G*U) */
    float *drec_kernel; /* (U, G*U) */
    float *dbias;       /* as bias; ignored when w.bias is NULL */
    bool accumulate_dx, accumulate_dw;
} keel_rnn_grads;

/* The gradients of L given dy = dL/dy (y's shape) and s's dh, dc (the final states'), after
 * keel_rnn_forward with the same g, x, w, m, work and initial states (s->h0, s->c0, still
 * valid): into gr and s's dh0, dc0. The workspace is overwritten (a second backward needs a
 * second forward). */
void keel_rnn_backward(const keel_rnn_geom *g, const float *x, keel_rnn_weights w, keel_rnn_masks m,
                       const keel_rnn_state *s, const float *dy, keel_rnn_grads gr, float *work);

/* The activations as the fast kernels compute them, y[0..n) = f(x): sigmoid and tanh by
 * keel's own vectorisable exp (within 3 ulp of the exact value; sigmoid below -87 gives
 * 6e-39 rather than less), the others through keel_act_forward. x and y may alias. For the
 * tests. */
void keel_rnn_act_forward(keel_act a, const float *x, float *y, int64_t n);

/* ---- references (rnn_ref.c): the equations above step by step, in double, sharing nothing
 * with the fast path (no reordering, no GEMM, no threads). Weights and activations in double
 * so that the tests' finite differences are exact to about 1e-9; masks as the fast kernels. */
typedef struct keel_rnn_weights_ref {
    const double *kernel, *rec_kernel, *bias;
} keel_rnn_weights_ref;

typedef struct keel_rnn_grads_ref {
    double *dx, *dkernel, *drec_kernel, *dbias; /* each may be NULL; always overwritten */
} keel_rnn_grads_ref;

/* keel_rnn_state in double; dh0 and dc0 are always overwritten */
typedef struct keel_rnn_state_ref {
    const double *h0, *c0;
    double *h, *c;
    const double *dh, *dc;
    double *dh0, *dc0;
} keel_rnn_state_ref;

/* Doubles of workspace for the references. */
int64_t keel_rnn_ref_work_doubles(const keel_rnn_geom *g);
void keel_rnn_forward_ref(const keel_rnn_geom *g, const double *x, keel_rnn_weights_ref w,
                          keel_rnn_masks m, const keel_rnn_state_ref *s, double *y, double *work);
/* Runs the forward itself (into work), then backpropagates dy and s's dh, dc. */
void keel_rnn_backward_ref(const keel_rnn_geom *g, const double *x, keel_rnn_weights_ref w,
                           keel_rnn_masks m, const keel_rnn_state_ref *s, const double *dy,
                           keel_rnn_grads_ref gr, double *work);
/* f(x) and f'(x) (from x and y = f(x)) in double for the elementwise keel activations. */
double keel_rnn_act_ref(keel_act a, double x);
double keel_rnn_act_grad_ref(keel_act a, double x, double y);

#endif
