/* batchnorm.c: BatchNormalization over the last axis (channels-last). Training normalizes
 * with the batch statistics over every other axis and moves the moving statistics toward
 * them; inference uses the moving statistics. Weights in Keras's order: gamma, beta
 * (trainable), moving_mean, moving_variance (not trainable, never touched by the optimizer). */
#include "../save/config.h"
#include "layers.h"

#include <stdio.h>

/* The layer's options; each call (node->state) gets its own copy with its own buffers, since
 * the statistics of the last batch belong to that call. */
typedef struct bn_cfg {
    keel_batch_normalization_opts o;
    int64_t C;
    float *mean, *invstd; /* of the last training batch, for the backward pass */
    float *
        factor; /* per channel: 1/sqrt(moving var + eps) (inference), gamma invstd / M (backward) */
    double *acc; /* 2C accumulators per thread, allocated once so a step allocates nothing */
    int parts;   /* threads the accumulators are for */
    int axis;    /* a loaded config's axis > 0 (Keras's numbering), checked at build; 0: -1 */
} bn_cfg;

/* ---- the kernels: rows of C channels, cut into one block of rows per thread; the inner loops
 * run over contiguous channels and vectorize. Per-channel sums are taken in double, per thread,
 * then added in thread order, so a result depends only on the thread count. */

typedef struct bn_job {
    const bn_cfg *c;
    int64_t rows, parts;
    const float *x, *dy, *xh, *gamma, *beta, *mean, *scale;
    float *y, *xh_out, *dx;
    double *acc;
    float dx_beta;
} bn_job;

static int64_t part_lo(const bn_job *j, int64_t p) {
    return j->rows * p / j->parts;
}

/* acc[p][0..C) = sum over the part's rows of x */
KEEL_CLONES static void sum_part(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t C = j->c->C;
    for (int64_t p = lo; p < hi; p++) {
        double *a = j->acc + p * 2 * C;
        memset(a, 0, (size_t)C * sizeof *a);
        for (int64_t r = part_lo(j, p); r < part_lo(j, p + 1); r++) {
            const float *xr = j->x + r * C;
#pragma omp simd
            for (int64_t ch = 0; ch < C; ch++)
                a[ch] += xr[ch];
        }
    }
}

/* acc[p][C..2C) = sum over the part's rows of (x - mean)^2 */
KEEL_CLONES static void sqdev_part(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t C = j->c->C;
    for (int64_t p = lo; p < hi; p++) {
        double *a = j->acc + p * 2 * C + C;
        memset(a, 0, (size_t)C * sizeof *a);
        for (int64_t r = part_lo(j, p); r < part_lo(j, p + 1); r++) {
            const float *xr = j->x + r * C;
#pragma omp simd
            for (int64_t ch = 0; ch < C; ch++) {
                double d = (double)xr[ch] - (double)j->mean[ch];
                a[ch] += d * d;
            }
        }
    }
}

/* acc[p] = (sum dy, sum dy * x-hat) over the part's rows */
KEEL_CLONES static void grad_sums_part(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t C = j->c->C;
    for (int64_t p = lo; p < hi; p++) {
        double *a = j->acc + p * 2 * C;
        memset(a, 0, (size_t)(2 * C) * sizeof *a);
        for (int64_t r = part_lo(j, p); r < part_lo(j, p + 1); r++) {
            const float *d = j->dy + r * C, *h = j->xh + r * C;
#pragma omp simd
            for (int64_t ch = 0; ch < C; ch++) {
                a[ch] += d[ch];
                a[C + ch] += (double)d[ch] * h[ch];
            }
        }
    }
}

/* part 0's sums += every other part's, in part order */
static void reduce_parts(const bn_job *j, int64_t n) {
    for (int64_t p = 1; p < j->parts; p++)
        for (int64_t i = 0; i < n; i++)
            j->acc[i] += j->acc[p * 2 * j->c->C + i];
}

static void bn_run_parts(bn_job *j, keel_range_fn fn) {
    if (j->parts > 1)
        keel_parallel_run(j->parts, (int)j->parts, fn, j);
    else
        fn(j, 0, 1);
}

/* training: x-hat = (x - mean) * invstd, kept for the backward pass; y = gamma x-hat + beta.
 * inference: the same with the moving statistics (mean, scale = invstd), x-hat not kept */
KEEL_CLONES static void normalize_rows(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t C = j->c->C;
    for (int64_t r = lo; r < hi; r++) {
        const float *xr = j->x + r * C;
        float *yr = j->y + r * C, *hr = j->xh_out ? j->xh_out + r * C : NULL;
#pragma omp simd
        for (int64_t ch = 0; ch < C; ch++) {
            float v = (xr[ch] - j->mean[ch]) * j->scale[ch];
            if (hr) hr[ch] = v;
            yr[ch] = (j->gamma ? j->gamma[ch] : 1.0f) * v + (j->beta ? j->beta[ch] : 0.0f);
        }
    }
}

/* dx = gamma invstd / M (M dy - sum dy - x-hat sum dy x-hat) (+ dx when accumulating);
 * scale[ch] = gamma invstd / M, acc = the sums */
KEEL_CLONES static void dx_rows(void *ctx, int64_t lo, int64_t hi) {
    const bn_job *j = ctx;
    const int64_t C = j->c->C;
    const float M = (float)j->rows;
    for (int64_t r = lo; r < hi; r++) {
        const float *d = j->dy + r * C, *h = j->xh + r * C;
        float *o = j->dx + r * C;
#pragma omp simd
        for (int64_t ch = 0; ch < C; ch++)
            o[ch] = j->scale[ch] * (M * d[ch] - (float)j->acc[ch] - h[ch] * (float)j->acc[C + ch]) +
                    j->dx_beta * o[ch];
    }
}

static int64_t bn_parts(const bn_cfg *c, int64_t rows) {
    int64_t p = KEEL_MIN((int64_t)keel_threads(), (int64_t)c->parts);
    return rows * c->C < 65536 ? 1 : KEEL_MAX(1, KEEL_MIN(p, rows));
}

static keel_status bn_infer(keel_node *nd) {
    nd->rank = nd->in[0]->rank;
    memcpy(nd->dims, nd->in[0]->dims, sizeof nd->dims);
    return KEEL_OK;
}

/* x-hat of the training batch, kept for the backward pass */
static int64_t bn_scratch(const keel_node *nd) {
    return nd->size;
}

static void bn_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    keel_layer *l = nd->layer;
    bn_cfg *c = nd->state;
    const int64_t C = c->C, rows = n * nd->size / C;
    const float *gamma = c->o.scale ? l->params[0].w : NULL,
                *beta = c->o.center ? l->params[c->o.scale ? 1 : 0].w : NULL;
    int k = (c->o.scale ? 1 : 0) + (c->o.center ? 1 : 0);
    float *mm = l->params[k].w, *mv = l->params[k + 1].w;
    const float eps = c->o.epsilon, mom = c->o.momentum;
    const bool bessel = nd->rank == 3 || nd->rank == 4;
    bn_job j = {.c = c,
                .rows = rows,
                .parts = bn_parts(c, rows),
                .x = nd->in[0]->val,
                .gamma = gamma,
                .beta = beta,
                .y = nd->val,
                .acc = c->acc};
    if (!ctx->training ||
        nd->frozen) { /* tf.keras 2: a frozen BatchNormalization runs in inference mode */
        for (int64_t ch = 0; ch < C; ch++)
            c->factor[ch] = 1.0f / sqrtf(mv[ch] + eps);
        j.mean = mm, j.scale = c->factor;
        keel_parallel_for(rows, rows * C, normalize_rows, &j);
        return;
    }
    /* mean, then the biased variance as the mean squared deviation (two passes: no cancellation) */
    bn_run_parts(&j, sum_part);
    reduce_parts(&j, C);
    for (int64_t ch = 0; ch < C; ch++)
        c->mean[ch] = (float)(c->acc[ch] / (double)rows);
    j.mean = c->mean;
    bn_run_parts(&j, sqdev_part);
    for (int64_t p = 1; p < j.parts; p++)
        for (int64_t ch = 0; ch < C; ch++)
            c->acc[C + ch] += c->acc[p * 2 * C + C + ch];
    for (int64_t ch = 0; ch < C; ch++) {
        double mean = c->acc[ch] / (double)rows, var = c->acc[C + ch] / (double)rows;
        c->invstd[ch] = (float)(1.0 / sqrt(var + eps));
        /* tf.keras 2 runs its fused kernel on 4-D and 5-D input, which moves the moving
         * variance toward the Bessel-corrected batch variance; other ranks use the biased one */
        double mvar = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
        mm[ch] = (float)(mm[ch] * mom + mean * (1 - mom));
        mv[ch] = (float)(mv[ch] * mom + (bessel ? mvar : var) * (1 - mom));
    }
    j.scale = c->invstd, j.xh_out = nd->scratch;
    keel_parallel_for(rows, rows * C, normalize_rows, &j);
}

/* dgamma = sum dy x-hat; dbeta = sum dy;
 * dx = gamma invstd / M (M dy - sum dy - x-hat sum dy x-hat) */
static void bn_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_layer *l = nd->layer;
    bn_cfg *c = nd->state;
    keel_node *in = nd->in[0];
    const int64_t C = c->C, rows = n * nd->size / C;
    const float *gamma = c->o.scale ? l->params[0].w : NULL;
    bn_job j = {.c = c,
                .rows = rows,
                .parts = bn_parts(c, rows),
                .dy = nd->grad,
                .xh = nd->scratch,
                .acc = c->acc};
    bn_run_parts(&j, grad_sums_part);
    reduce_parts(&j, 2 * C);
    const double *s = c->acc;
    if (c->o.scale && l->params[0].trainable)
        for (int64_t ch = 0; ch < C; ch++)
            l->params[0].g[ch] = (nd->acc_w[0] ? l->params[0].g[ch] : 0.0f) + (float)s[C + ch];
    if (c->o.center && l->params[c->o.scale ? 1 : 0].trainable)
        for (int64_t ch = 0; ch < C; ch++) {
            float *g = l->params[c->o.scale ? 1 : 0].g;
            g[ch] = (nd->acc_w[0] ? g[ch] : 0.0f) + (float)s[ch];
        }
    if (!in->needs_grad) return;
    for (int64_t ch = 0; ch < C; ch++)
        c->factor[ch] = (gamma ? gamma[ch] : 1.0f) * c->invstd[ch] / (float)rows;
    j.scale = c->factor, j.dx = in->grad, j.dx_beta = nd->acc_in[0] ? 1.0f : 0.0f;
    keel_parallel_for(rows, rows * C, dx_rows, &j);
}

static const keel_op bn_op = {.keeps_mask = true,
                              .name = "batch_normalization",
                              .infer = bn_infer,
                              .scratch = bn_scratch,
                              .forward = bn_forward,
                              .backward = bn_backward};

static keel_node *bn_build(keel_layer *l, keel_graph *g, keel_node *in) {
    const bn_cfg *lc = l->cfg;
    int64_t C = in->dims[in->rank - 1], dims[1] = {C};
    if (lc->axis > 0 && lc->axis != in->rank) {
        char a[128];
        keel_error(KEEL_ERR_UNSUPPORTED,
                   "%s: axis %d is not the last axis of its input %s; keel normalizes the last "
                   "axis only",
                   l->name, lc->axis, keel_dims_str(in->rank, in->dims, true, a, sizeof a));
        return NULL;
    }
    if ((lc->o.scale && !keel_layer_param(l, "gamma", 1, dims, "ones", NULL)) ||
        (lc->o.center && !keel_layer_param(l, "beta", 1, dims, "zeros", NULL)))
        return NULL;
    keel_param *mm = keel_layer_param(l, "moving_mean", 1, dims, "zeros", NULL);
    keel_param *mv = keel_layer_param(l, "moving_variance", 1, dims, "ones", NULL);
    if (!mm || !mv) return NULL;
    mm->trainable = mv->trainable = mm->own_trainable = mv->own_trainable = false;
    keel_node *nd = keel_graph_add(g, &bn_op, l, &in, 1);
    if (!nd) return NULL;
    int64_t parts = KEEL_MAX(1, keel_threads());
    size_t head = (sizeof(bn_cfg) + 63) & ~(size_t)63;
    bn_cfg *c = keel_alloc(head + (size_t)(2 * C * parts) * sizeof(double) +
                           (size_t)(3 * C) * sizeof(float));
    if (!c) return NULL;
    nd->state = c;
    *c = *lc;
    c->C = C;
    c->parts = (int)parts;
    c->acc = (double *)((char *)c + head);
    c->mean = (float *)(c->acc + 2 * C * parts);
    c->invstd = c->mean + C;
    c->factor = c->invstd + C;
    return nd;
}

static keel_status bn_get_config(const keel_layer *l, json_t *cfg);
static const keel_layer_kind bn_kind = {.type = "BatchNormalization",
                                        .prefix = "batch_normalization",
                                        .build = bn_build,
                                        .get_config = bn_get_config};

keel_layer *keel_batch_normalization_(keel_batch_normalization_opts o) {
    const char *what = o.name ? o.name : "batch_normalization";
    if (o.momentum == 0) o.momentum = 0.99f;
    if (o.epsilon == 0) o.epsilon = 1e-3f;
    if (!(o.momentum >= 0 && o.momentum <= 1) || !(o.epsilon > 0)) {
        keel_error(KEEL_ERR_ARG, "%s: momentum must be in [0, 1] and epsilon > 0", what);
        return NULL;
    }
    bn_cfg c = {.o = o};
    c.o.name = NULL;
    return keel_layer_new(&bn_kind, o.name, &c, sizeof c, o.input_shape);
}

/* ---------------------------------------------------------------- Keras config (save/config.h) */

static keel_status bn_get_config(const keel_layer *l, json_t *cfg) {
    const keel_batch_normalization_opts *o = &((const bn_cfg *)l->cfg)->o;
    keel_status st;
    /* keel's fixed initializers and no regularizers, constraints or renormalization */
    if ((st = keel_cfg_put_int(cfg, "axis", -1)) ||
        (st = keel_cfg_put_float(cfg, "momentum", o->momentum)) ||
        (st = keel_cfg_put_float(cfg, "epsilon", o->epsilon)) ||
        (st = keel_cfg_put_bool(cfg, "center", o->center)) ||
        (st = keel_cfg_put_bool(cfg, "scale", o->scale)) ||
        (st = keel_cfg_put_initializer(cfg, "beta_initializer", "zeros", l)) ||
        (st = keel_cfg_put_initializer(cfg, "gamma_initializer", "ones", l)) ||
        (st = keel_cfg_put_initializer(cfg, "moving_mean_initializer", "zeros", l)) ||
        (st = keel_cfg_put_initializer(cfg, "moving_variance_initializer", "ones", l)) ||
        (st = keel_cfg_put_null(cfg, "beta_regularizer")) ||
        (st = keel_cfg_put_null(cfg, "gamma_regularizer")) ||
        (st = keel_cfg_put_null(cfg, "beta_constraint")) ||
        (st = keel_cfg_put_null(cfg, "gamma_constraint")) ||
        (st = keel_cfg_put_bool(cfg, "synchronized", false)) ||
        (st = keel_cfg_put_bool(cfg, "renorm", false)) ||
        (st = keel_cfg_put_null(cfg, "renorm_clipping")) ||
        (st = keel_cfg_put_float(cfg, "renorm_momentum", 0.99f)))
        return st;
    return KEEL_OK;
}

/* axis: -1, or one positive axis (a built tf.keras 2 layer writes [3]), which the build checks
 * is the last */
static keel_status bn_axis(const json_t *cfg, int *axis, const char *where) {
    const json_t *v = json_object_get(cfg, "axis");
    *axis = 0;
    if (!v || json_is_null(v)) return KEEL_OK;
    if (json_is_array(v) && json_array_size(v) == 1)
        v = json_array_get(v, 0);
    else if (json_is_array(v))
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.axis holds %zu axes; keel normalizes one (the last)", where,
                  json_array_size(v));
    if (!json_is_integer(v))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.axis is %s, expected an integer", where,
                  keel_json_type(v));
    json_int_t a = json_integer_value(v);
    if (a == -1) return KEEL_OK;
    if (a < 1 || a > KEEL_MAX_RANK)
        KEEL_FAIL(KEEL_ERR_UNSUPPORTED,
                  "%s: config.axis = %lld is not supported by keel (the last axis only)", where,
                  (long long)a);
    *axis = (int)a;
    return KEEL_OK;
}

/* an initializer keel's BatchNormalization fixes: it must be that one */
static keel_status bn_fixed_init(const json_t *cfg, const char *key, const char *want,
                                 const char *where) {
    char buf[KEEL_CFG_SPEC_CAP];
    const char *spec = NULL;
    keel_status st = keel_cfg_initializer(cfg, key, buf, sizeof buf, &spec, where);
    if (st || !spec || !strcmp(spec, want)) return st;
    KEEL_FAIL(KEEL_ERR_UNSUPPORTED, "%s: config.%s = %s is not supported by keel (%s only)", where,
              key, spec, want);
}

keel_layer *keel_batch_normalization_from_config(const json_t *cfg, const char *where) {
    static const char *const keys[] = {"axis",
                                       "momentum",
                                       "epsilon",
                                       "center",
                                       "scale",
                                       "beta_initializer",
                                       "gamma_initializer",
                                       "moving_mean_initializer",
                                       "moving_variance_initializer",
                                       "beta_regularizer",
                                       "gamma_regularizer",
                                       "beta_constraint",
                                       "gamma_constraint",
                                       "synchronized",
                                       "renorm",
                                       "renorm_clipping",
                                       "renorm_momentum",
                                       NULL};
    char name[64];
    bool trainable;
    int axis;
    float renorm_momentum = 0.99f;
    keel_batch_normalization_opts o = {
        .momentum = 0.99f, .epsilon = 1e-3f, .center = 1, .scale = 1};
    if (keel_cfg_check_keys(cfg, keys, where) || keel_cfg_get_base(cfg, where, name, &trainable) ||
        bn_axis(cfg, &axis, where) || keel_cfg_float(cfg, "momentum", true, &o.momentum, where) ||
        keel_cfg_float(cfg, "epsilon", true, &o.epsilon, where) ||
        keel_cfg_bool(cfg, "center", true, &o.center, where) ||
        keel_cfg_bool(cfg, "scale", true, &o.scale, where) ||
        bn_fixed_init(cfg, "beta_initializer", "zeros", where) ||
        bn_fixed_init(cfg, "gamma_initializer", "ones", where) ||
        bn_fixed_init(cfg, "moving_mean_initializer", "zeros", where) ||
        bn_fixed_init(cfg, "moving_variance_initializer", "ones", where) ||
        keel_cfg_require_default(cfg, "beta_regularizer", NULL, where) ||
        keel_cfg_require_default(cfg, "gamma_regularizer", NULL, where) ||
        keel_cfg_require_default(cfg, "beta_constraint", NULL, where) ||
        keel_cfg_require_default(cfg, "gamma_constraint", NULL, where) ||
        keel_cfg_require_default(cfg, "synchronized", NULL, where) ||
        keel_cfg_require_default(cfg, "renorm", NULL, where) ||
        keel_cfg_require_default(cfg, "renorm_clipping", NULL, where) ||
        keel_cfg_float(cfg, "renorm_momentum", true, &renorm_momentum, where))
        return NULL;
    /* keel's option struct reads 0 as "the default": a zero here cannot be honoured */
    if (o.momentum == 0 || o.epsilon == 0) {
        keel_error(KEEL_ERR_UNSUPPORTED, "%s: config.%s = 0 is not supported by keel", where,
                   o.momentum == 0 ? "momentum" : "epsilon");
        return NULL;
    }
    o.name = name[0] ? name : NULL;
    keel_layer *l = keel_batch_normalization_(o);
    if (!l) return NULL;
    keel_cfg_apply_base(l, trainable);
    ((bn_cfg *)l->cfg)->axis = axis;
    return l;
}
