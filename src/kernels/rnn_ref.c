/* rnn_ref.c: the recurrent layers written straight from their equations (rnn.h), in double, one
 * sample and one step at a time: the references that tests/test_rnn.c holds the fast kernels
 * to, and whose gradients it checks by finite differences. Nothing is shared with the fast path:
 * no reordered columns, no GEMM, no threads, its own activations in double. Keras's gate order
 * and weight layout throughout.
 *
 * The workspace holds, per sample and *processing* step s, the step's values the backward
 * needs (step_doubles per step): the gates before and after activation, the state after the
 * step, and the cell's extras (LSTM c and act(c); GRU the recurrent h part or r * h_{t-1}).
 * Before each sample's first step sits one more entry, "step -1", whose h (and LSTM c) is the
 * initial state, so that every step has a step before it. */
#include "rnn.h"

/* ---- activations in double (keel's definitions: hard_sigmoid is tf.keras 2's 0.2x + 0.5) */

#define SELU_A 1.6732632423543772848170429916717
#define SELU_S 1.0507009873554804934193349852946

static double sigmoid_d(double x) {
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}
static double softplus_d(double x) {
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

double keel_rnn_act_ref(keel_act a, double x) {
    const double al = a.alpha;
    switch (a.kind) {
    case KEEL_ACT_LINEAR: return x;
    case KEEL_ACT_RELU: return x > 0 ? x : 0;
    case KEEL_ACT_RELU6: return x > 0 ? (x < 6 ? x : 6) : 0;
    case KEEL_ACT_SIGMOID: return sigmoid_d(x);
    case KEEL_ACT_HARD_SIGMOID: return fmin(fmax(0.2 * x + 0.5, 0.0), 1.0);
    case KEEL_ACT_TANH: return tanh(x);
    case KEEL_ACT_ELU: return x > 0 ? x : al * expm1(x);
    case KEEL_ACT_SELU: return x > 0 ? SELU_S * x : SELU_S * SELU_A * expm1(x);
    case KEEL_ACT_GELU:
        if (al != 0) return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1 + erf(x * 0.7071067811865476));
    case KEEL_ACT_SWISH: return x * sigmoid_d(x);
    case KEEL_ACT_HARD_SWISH: return x * fmin(fmax(x + 3, 0.0), 6.0) / 6;
    case KEEL_ACT_MISH: return x * tanh(softplus_d(x));
    case KEEL_ACT_LEAKY_RELU: return x > 0 ? x : al * x;
    case KEEL_ACT_SOFTPLUS: return softplus_d(x);
    case KEEL_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case KEEL_ACT_EXPONENTIAL: return exp(x);
    default: KEEL_ASSERT(!"an elementwise activation"); return 0;
    }
}

double keel_rnn_act_grad_ref(keel_act a, double x, double y) {
    const double al = a.alpha;
    switch (a.kind) {
    case KEEL_ACT_LINEAR: return 1;
    case KEEL_ACT_RELU: return x > 0 ? 1 : 0;
    case KEEL_ACT_RELU6: return x > 0 && x < 6 ? 1 : 0;
    case KEEL_ACT_SIGMOID: return y * (1 - y);
    case KEEL_ACT_HARD_SIGMOID: return x > -2.5 && x < 2.5 ? 0.2 : 0;
    case KEEL_ACT_TANH: return 1 - y * y;
    case KEEL_ACT_ELU: return x > 0 ? 1 : al * exp(x);
    case KEEL_ACT_SELU: return x > 0 ? SELU_S : SELU_S * SELU_A * exp(x);
    case KEEL_ACT_GELU:
        if (al != 0) {
            const double k = 0.7978845608028654, t = tanh(k * (x + 0.044715 * x * x * x));
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
        }
        return 0.5 * (1 + erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x);
    case KEEL_ACT_SWISH: {
        const double s = sigmoid_d(x);
        return s + x * s * (1 - s);
    }
    case KEEL_ACT_HARD_SWISH: return x < -3 ? 0 : x > 3 ? 1 : (2 * x + 3) / 6;
    case KEEL_ACT_MISH: {
        const double t = tanh(softplus_d(x));
        return t + x * (1 - t * t) * sigmoid_d(x);
    }
    case KEEL_ACT_LEAKY_RELU: return x > 0 ? 1 : al;
    case KEEL_ACT_SOFTPLUS: return sigmoid_d(x);
    case KEEL_ACT_SOFTSIGN: return 1 / ((1 + fabs(x)) * (1 + fabs(x)));
    case KEEL_ACT_EXPONENTIAL: return y;
    default: KEEL_ASSERT(!"an elementwise activation"); return 0;
    }
}

/* ---- one sample's steps. Samples never meet in a recurrent layer, so the references run one
 * sample through every step, then the next: the clearest order, and the one that makes a
 * mix-up between samples (a wrong row stride in the fast kernels) show. */

/* doubles per step: pre (G*U), post (G*U), h (U), and two extras (U each) */
static int64_t step_doubles(const keel_rnn_geom *g) {
    return (2 * keel_rnn_gates(g->cell) + 3) * g->U;
}

int64_t keel_rnn_ref_work_doubles(const keel_rnn_geom *g) {
    /* the steps of every sample (and its step -1), then the backward's vectors (ref_scratch) */
    return g->N * (g->T + 1) * step_doubles(g) + g->F + (5 + 2 * keel_rnn_gates(g->cell)) * g->U;
}

/* What one step of one sample leaves for the backward: the gates before and after their
 * activations (Keras's column order), the state after the step (carried at padding) and, for
 * LSTM, c_t and act(c_t); for GRU, the h gate's recurrent operand: h_in R_h + b_rec_h with
 * reset_after, r * h_in without. */
typedef struct ref_step {
    double *pre, *post, *h, *e1, *e2; /* e1, e2: LSTM c, act(c); GRU hr (reset_after) or r h_in */
} ref_step;

/* step s (-1 .. T-1) of sample n */
static ref_step step_at(const keel_rnn_geom *g, double *work, int64_t n, int64_t s) {
    const int64_t GU = keel_rnn_gates(g->cell) * g->U, U = g->U;
    double *b = work + (n * (g->T + 1) + s + 1) * step_doubles(g);
    ref_step r = {b, b + GU, b + 2 * GU, b + 2 * GU + U, b + 2 * GU + 2 * U};
    return r;
}

static int64_t time_of(const keel_rnn_geom *g, int64_t s) {
    return g->go_backwards ? g->T - 1 - s : s;
}

static bool real_at(const keel_rnn_geom *g, const keel_rnn_masks *m, int64_t n, int64_t t) {
    return !m->mask || m->mask[n * g->T + t] != 0.0f;
}

/* xd = x[n, t] * dropout; hin = h_{t-1} * rec_dropout (h_{t-1} = hp, NULL for zero) */
static void step_inputs(const keel_rnn_geom *g, const double *x, const keel_rnn_masks *m, int64_t n,
                        int64_t t, const double *hp, double *xd, double *hin) {
    for (int64_t f = 0; f < g->F; f++)
        xd[f] = x[(n * g->T + t) * g->F + f] * (m->dropout ? m->dropout[n * g->F + f] : 1.0);
    for (int64_t u = 0; u < g->U; u++)
        hin[u] = hp ? hp[u] * (m->rec_dropout ? m->rec_dropout[n * g->U + u] : 1.0) : 0.0;
}

/* sum_f a[f] W[f, c]: column c of a @ W, W (rows, ld) */
static double dot_col(const double *a, const double *W, int64_t rows, int64_t ld, int64_t c) {
    double s = 0;
    for (int64_t f = 0; f < rows; f++)
        s += a[f] * W[f * ld + c];
    return s;
}

/* the processing step of sample n's first real step (T if none) */
static int64_t first_real(const keel_rnn_geom *g, const keel_rnn_masks *m, int64_t n) {
    for (int64_t s = 0; s < g->T; s++)
        if (real_at(g, m, n, time_of(g, s))) return s;
    return g->T;
}

/* the output of step s is h at a real step; at a padded one the previous output: h carried
 * over once a real step has been, zeros before it (and always with zero_masked_output) */
static bool outputs_h(const keel_rnn_geom *g, const keel_rnn_masks *m, int64_t n, int64_t s) {
    if (real_at(g, m, n, time_of(g, s))) return true;
    return !g->zero_masked_output && s > first_real(g, m, n);
}

static void forward_sample(const keel_rnn_geom *g, const double *x, keel_rnn_weights_ref w,
                           const keel_rnn_masks *m, const keel_rnn_state_ref *st, int64_t n,
                           double *y, double *work, double *xd, double *hin) {
    const int64_t T = g->T, U = g->U, F = g->F, GU = keel_rnn_gates(g->cell) * U;
    const bool gru = g->cell == KEEL_RNN_GRU, lstm = g->cell == KEEL_RNN_LSTM;
    /* step -1: the initial state, zeros unless given */
    const ref_step init = step_at(g, work, n, -1);
    for (int64_t j = 0; j < U; j++) {
        init.h[j] = st && st->h0 ? st->h0[n * U + j] : 0.0;
        init.e1[j] = lstm && st && st->c0 ? st->c0[n * U + j] : 0.0;
    }
    for (int64_t s = 0; s < T; s++) {
        const int64_t t = time_of(g, s);
        ref_step cur = step_at(g, work, n, s);
        /* h_{t-1} is the state after the previous step in processing order */
        const double *hp = step_at(g, work, n, s - 1).h;
        step_inputs(g, x, m, n, t, hp, xd, hin);
        /* pre = x_t W + b (input bias), plus h_in R, except for GRU's h block, whose recurrent
         * part is added below (it is multiplied by r first, or r multiplies h_in first); GRU
         * with reset_after adds its recurrent bias to the z and r blocks here */
        for (int64_t c = 0; c < GU; c++) {
            double v = dot_col(xd, w.kernel, F, GU, c) + (w.bias ? w.bias[c] : 0.0);
            const bool rec_here = !gru || c < 2 * U;
            if (rec_here) v += dot_col(hin, w.rec_kernel, U, GU, c);
            if (gru && g->reset_after && w.bias && c < 2 * U) v += w.bias[GU + c];
            cur.pre[c] = v;
        }
        double *post = cur.post, *pre = cur.pre, *h = cur.h;
        for (int64_t j = 0; j < U; j++) {
            const double hprev = hp[j];
            if (lstm) { /* i, f, o by rec; the candidate g by act */
                const double cprev = step_at(g, work, n, s - 1).e1[j];
                for (int k = 0; k < 4; k++)
                    post[k * U + j] =
                        keel_rnn_act_ref(k == 2 ? g->act : g->rec_act, pre[k * U + j]);
                const double c = post[U + j] * cprev + post[j] * post[2 * U + j];
                cur.e1[j] = c;
                cur.e2[j] = keel_rnn_act_ref(g->act, c);
                h[j] = post[3 * U + j] * cur.e2[j];
                /* a padded step carries both states (the gates above are then unused) */
                if (!real_at(g, m, n, t)) cur.e1[j] = cprev, h[j] = hprev;
            } else if (gru) {
                post[j] = keel_rnn_act_ref(g->rec_act, pre[j]);
                post[U + j] = keel_rnn_act_ref(g->rec_act, pre[U + j]);
                h[j] = hprev; /* for now: the h gate below needs every unit's r first */
            } else {
                post[j] = keel_rnn_act_ref(g->act, pre[j]);
                h[j] = real_at(g, m, n, t) ? post[j] : hprev;
            }
        }
        if (gru) {
            /* reset_after: hr = h_in R_h + b_rec_h, hh = act(pre_h + r hr);
             * otherwise: hr = r h_in, hh = act(pre_h + hr R_h) */
            for (int64_t j = 0; j < U; j++) {
                if (g->reset_after)
                    cur.e1[j] = dot_col(hin, w.rec_kernel, U, GU, 2 * U + j) +
                                (w.bias ? w.bias[GU + 2 * U + j] : 0.0);
                else
                    cur.e1[j] = post[U + j] * hin[j];
            }
            /* then the candidate, and h_t = z h_{t-1} + (1 - z) hh at a real step */
            for (int64_t j = 0; j < U; j++) {
                const double hprev = hp[j];
                if (g->reset_after)
                    pre[2 * U + j] += post[U + j] * cur.e1[j];
                else
                    pre[2 * U + j] += dot_col(cur.e1, w.rec_kernel, U, GU, 2 * U + j);
                post[2 * U + j] = keel_rnn_act_ref(g->act, pre[2 * U + j]);
                const double z = post[j];
                if (real_at(g, m, n, t)) h[j] = z * hprev + (1 - z) * post[2 * U + j];
            }
        }
        if (!y) continue;
        const bool out = outputs_h(g, m, n, s);
        if (g->return_sequences)
            for (int64_t j = 0; j < U; j++)
                y[(n * T + s) * U + j] = out ? h[j] : 0.0;
        else if (s == T - 1)
            for (int64_t j = 0; j < U; j++)
                y[n * U + j] = out ? h[j] : 0.0;
    }
    /* the final states: after the last step (carried over padding) */
    const ref_step last = step_at(g, work, n, T - 1);
    for (int64_t j = 0; st && j < U; j++) {
        if (st->h) st->h[n * U + j] = last.h[j];
        if (st->c && lstm) st->c[n * U + j] = last.e1[j];
    }
}

/* ---- backpropagation through time, one sample at a time */

typedef struct ref_scratch {
    double *xd, *hin;     /* (F), (U): the step's inputs as the products saw them */
    double *dh, *dc;      /* (U): dL/dh_s, dL/dc_s */
    double *bypass, *drh; /* (U): dL/dh_{s-1} not through a product; GRU dL/d(r h_in) */
    double *dzx, *dzh;    /* (G*U): gradients of the input side's and the recurrent side's
                           * pre-activations (they differ for GRU's h gate only) */
} ref_scratch;

static ref_scratch scratch_at(const keel_rnn_geom *g, double *work) {
    const int64_t U = g->U, GU = keel_rnn_gates(g->cell) * U;
    double *b = work + g->N * (g->T + 1) * step_doubles(g);
    ref_scratch r = {b,
                     b + g->F,
                     b + g->F + U,
                     b + g->F + 2 * U,
                     b + g->F + 3 * U,
                     b + g->F + 4 * U,
                     b + g->F + 5 * U,
                     b + g->F + 5 * U + GU};
    return r;
}

/* dzx, dzh, bypass of one real step from dh (and dc, updated for the step before): the chain
 * rule through the step's equations written out per unit, each activation's derivative from
 * its input and output (keel_rnn_act_grad_ref) */
static void step_grads(const keel_rnn_geom *g, keel_rnn_weights_ref w, ref_step cur,
                       const ref_step *prev, const ref_scratch *r) {
    const int64_t U = g->U, GU = keel_rnn_gates(g->cell) * U;
    const double *pre = cur.pre, *post = cur.post;
    for (int64_t j = 0; j < U; j++) {
        const double dh = r->dh[j], hprev = prev->h[j];
        r->bypass[j] = 0;
        switch (g->cell) {
        case KEEL_RNN_LSTM: {
            /* h = o act(c), c = f c_{t-1} + i g: dc gathers the carried dc and h's share */
            const double i = post[j], f = post[U + j], gg = post[2 * U + j], o = post[3 * U + j];
            const double c = cur.e1[j], ac = cur.e2[j], cprev = prev->e1[j];
            const double dct = r->dc[j] + dh * o * keel_rnn_act_grad_ref(g->act, c, ac);
            r->dzx[j] = dct * gg * keel_rnn_act_grad_ref(g->rec_act, pre[j], i);
            r->dzx[U + j] = dct * cprev * keel_rnn_act_grad_ref(g->rec_act, pre[U + j], f);
            r->dzx[2 * U + j] = dct * i * keel_rnn_act_grad_ref(g->act, pre[2 * U + j], gg);
            r->dzx[3 * U + j] = dh * ac * keel_rnn_act_grad_ref(g->rec_act, pre[3 * U + j], o);
            r->dc[j] = dct * f;
            break;
        }
        case KEEL_RNN_GRU: {
            /* h = z h_{t-1} + (1 - z) hh: z dh reaches h_{t-1} directly (the bypass) */
            const double z = post[j], rr = post[U + j], hh = post[2 * U + j];
            const double dhh = dh * (1 - z) * keel_rnn_act_grad_ref(g->act, pre[2 * U + j], hh);
            r->dzx[j] = dh * (hprev - hh) * keel_rnn_act_grad_ref(g->rec_act, pre[j], z);
            r->dzx[2 * U + j] = dhh;
            r->bypass[j] = dh * z;
            if (g->reset_after) {
                r->dzx[U + j] = dhh * cur.e1[j] * keel_rnn_act_grad_ref(g->rec_act, pre[U + j], rr);
                r->dzh[2 * U + j] = dhh * rr;
            }
            break;
        }
        default: r->dzx[j] = dh * keel_rnn_act_grad_ref(g->act, pre[j], post[j]);
        }
    }
    if (g->cell == KEEL_RNN_GRU && !g->reset_after)
        /* d(r h_in) = d_hh R_h^T, then d_r through r h_in */
        for (int64_t u = 0; u < U; u++) {
            double v = 0;
            for (int64_t j = 0; j < U; j++)
                v += w.rec_kernel[u * GU + 2 * U + j] * r->dzx[2 * U + j];
            r->drh[u] = v;
            r->dzx[U + u] =
                v * r->hin[u] * keel_rnn_act_grad_ref(g->rec_act, pre[U + u], post[U + u]);
        }
    /* the recurrent side's pre-activation gradient equals the input side's except for the h
     * block with reset_after (r multiplies the recurrent part only), set above */
    for (int64_t c = 0; c < GU; c++)
        if (!(g->cell == KEEL_RNN_GRU && g->reset_after && c >= 2 * U)) r->dzh[c] = r->dzx[c];
}

static void backward_sample(const keel_rnn_geom *g, const double *x, keel_rnn_weights_ref w,
                            const keel_rnn_masks *m, const keel_rnn_state_ref *st, int64_t n,
                            const double *dy, keel_rnn_grads_ref gr, double *work) {
    const int64_t T = g->T, U = g->U, F = g->F, GU = keel_rnn_gates(g->cell) * U;
    const bool gru0 = g->cell == KEEL_RNN_GRU && !g->reset_after;
    const bool lstm = g->cell == KEEL_RNN_LSTM;
    const ref_scratch r = scratch_at(g, work);
    /* after the last step: the final states' gradients */
    for (int64_t j = 0; j < U; j++) {
        r.dh[j] = st && st->dh ? st->dh[n * U + j] : 0.0;
        r.dc[j] = lstm && st && st->dc ? st->dc[n * U + j] : 0.0;
    }
    for (int64_t s = T - 1; s >= 0; s--) {
        const int64_t t = time_of(g, s);
        const bool out = outputs_h(g, m, n, s);
        if (g->return_sequences && out)
            for (int64_t j = 0; j < U; j++)
                r.dh[j] += dy[(n * T + s) * U + j];
        else if (s == T - 1 && out)
            for (int64_t j = 0; j < U; j++)
                r.dh[j] += dy[n * U + j];
        /* h and c were carried over a padded step: their gradients pass it unchanged, and
         * nothing reaches the weights or x there */
        if (!real_at(g, m, n, t)) continue;
        const ref_step cur = step_at(g, work, n, s);
        const ref_step prev = step_at(g, work, n, s - 1);
        step_inputs(g, x, m, n, t, prev.h, r.xd, r.hin);
        step_grads(g, w, cur, &prev, &r);
        /* the weights: kernel and input bias see x_t (dropped); the recurrent kernel sees
         * h_in, except GRU's h block without reset_after, which sees r h_in (e1) */
        for (int64_t c = 0; c < GU; c++) {
            if (gr.dbias && w.bias) {
                gr.dbias[c] += r.dzx[c];
                if (g->cell == KEEL_RNN_GRU && g->reset_after) gr.dbias[GU + c] += r.dzh[c];
            }
            if (gr.dkernel)
                for (int64_t f = 0; f < F; f++)
                    gr.dkernel[f * GU + c] += r.xd[f] * r.dzx[c];
            if (gr.drec_kernel) {
                const double *in = gru0 && c >= 2 * U ? cur.e1 : r.hin;
                for (int64_t u = 0; u < U; u++)
                    gr.drec_kernel[u * GU + c] += in[u] * r.dzh[c];
            }
        }
        if (gr.dx)
            for (int64_t f = 0; f < F; f++) {
                double v = 0;
                for (int64_t c = 0; c < GU; c++)
                    v += w.kernel[f * GU + c] * r.dzx[c];
                gr.dx[(n * T + t) * F + f] = v * (m->dropout ? m->dropout[n * F + f] : 1.0);
            }
        /* dL/dh_{s-1} = bypass + (dzh R^T, over the blocks that saw h_in) * rec_dropout */
        for (int64_t u = 0; u < U; u++) {
            double v = gru0 ? r.drh[u] * cur.post[U + u] : 0.0;
            for (int64_t c = 0; c < (gru0 ? 2 * U : GU); c++)
                v += w.rec_kernel[u * GU + c] * r.dzh[c];
            r.dh[u] = r.bypass[u] + v * (m->rec_dropout ? m->rec_dropout[n * U + u] : 1.0);
        }
    }
    /* what reached step -1: the initial states' gradients */
    for (int64_t j = 0; st && j < U; j++) {
        if (st->dh0) st->dh0[n * U + j] = r.dh[j];
        if (st->dc0 && lstm) st->dc0[n * U + j] = r.dc[j];
    }
}

void keel_rnn_backward_ref(const keel_rnn_geom *g, const double *x, keel_rnn_weights_ref w,
                           keel_rnn_masks m, const keel_rnn_state_ref *s, const double *dy,
                           keel_rnn_grads_ref gr, double *work) {
    const int64_t GU = keel_rnn_gates(g->cell) * g->U;
    /* the forward again, for its states (y not wanted) */
    const ref_scratch r = scratch_at(g, work);
    for (int64_t n = 0; n < g->N; n++)
        forward_sample(g, x, w, &m, s, n, NULL, work, r.xd, r.hin);
    if (gr.dx) memset(gr.dx, 0, (size_t)(g->N * g->T * g->F) * sizeof *gr.dx);
    if (gr.dkernel) memset(gr.dkernel, 0, (size_t)(g->F * GU) * sizeof *gr.dkernel);
    if (gr.drec_kernel) memset(gr.drec_kernel, 0, (size_t)(g->U * GU) * sizeof *gr.drec_kernel);
    if (gr.dbias && w.bias) memset(gr.dbias, 0, (size_t)keel_rnn_bias_floats(g) * sizeof *gr.dbias);
    for (int64_t n = 0; n < g->N; n++)
        backward_sample(g, x, w, &m, s, n, dy, gr, work);
}

void keel_rnn_forward_ref(const keel_rnn_geom *g, const double *x, keel_rnn_weights_ref w,
                          keel_rnn_masks m, const keel_rnn_state_ref *s, double *y, double *work) {
    const ref_scratch r = scratch_at(g, work);
    for (int64_t n = 0; n < g->N; n++)
        forward_sample(g, x, w, &m, s, n, y, work, r.xd, r.hin);
}
