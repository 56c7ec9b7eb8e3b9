/* activations.c: every Keras activation that applies to Dense networks, forward and backward:
 * names, parsing and threading here, the loops in simd_act.c (one copy per instruction-set
 * level, simd.h).
 *
 * Definitions follow tf.keras 2 where it differs from Keras 3: hard_sigmoid is
 * clip(0.2 x + 0.5, 0, 1); hard_swish is x * relu6(x + 3) / 6; leaky_relu's default slope is
 * 0.2 (the function; the LeakyReLU layer's 0.3 is a layer default); gelu is exact unless
 * approximate. Backward passes use the output where that is exact, so most activations run in
 * place. */
#include "simd.h"

#include <stdio.h>

static const char *const act_names[KEEL_ACT_COUNT + 1] = {
    [KEEL_ACT_LINEAR] = "linear",
    [KEEL_ACT_RELU] = "relu",
    [KEEL_ACT_RELU6] = "relu6",
    [KEEL_ACT_SIGMOID] = "sigmoid",
    [KEEL_ACT_HARD_SIGMOID] = "hard_sigmoid",
    [KEEL_ACT_TANH] = "tanh",
    [KEEL_ACT_SOFTMAX] = "softmax",
    [KEEL_ACT_LOG_SOFTMAX] = "log_softmax",
    [KEEL_ACT_ELU] = "elu",
    [KEEL_ACT_SELU] = "selu",
    [KEEL_ACT_GELU] = "gelu",
    [KEEL_ACT_SWISH] = "swish",
    [KEEL_ACT_HARD_SWISH] = "hard_swish",
    [KEEL_ACT_MISH] = "mish",
    [KEEL_ACT_LEAKY_RELU] = "leaky_relu",
    [KEEL_ACT_SOFTPLUS] = "softplus",
    [KEEL_ACT_SOFTSIGN] = "softsign",
    [KEEL_ACT_EXPONENTIAL] = "exponential",
    [KEEL_ACT_COUNT] = NULL,
};
_Static_assert(sizeof act_names / sizeof act_names[0] == KEEL_ACT_COUNT + 1, "act_names");

/* names accepted beside the canonical ones */
static const struct {
    const char *alias;
    keel_act_kind kind;
} act_aliases[] = {
    {"silu", KEEL_ACT_SWISH}, {"hard_silu", KEEL_ACT_HARD_SWISH}, {"None", KEEL_ACT_LINEAR}};

const char *keel_act_name(keel_act_kind k) {
    return (k >= 0 && k < KEEL_ACT_COUNT) ? act_names[k] : "?";
}

keel_status keel_act_parse(const char *s, keel_act *out, const char *what) {
    out->kind = KEEL_ACT_LINEAR;
    out->alpha = 0;
    if (!s) return KEEL_OK;
    keel_spec spec;
    keel_status st = keel_spec_parse(s, &spec, what);
    if (st) return st;
    int kind = -1;
    for (int i = 0; i < KEEL_ACT_COUNT; i++)
        if (strcmp(spec.name, act_names[i]) == 0) kind = i;
    for (size_t i = 0; i < sizeof act_aliases / sizeof act_aliases[0]; i++)
        if (strcmp(spec.name, act_aliases[i].alias) == 0) kind = (int)act_aliases[i].kind;
    if (kind < 0) {
        const char *near = keel_nearest_name(spec.name, act_names);
        KEEL_FAIL(KEEL_ERR_ARG, "%s: unknown activation \"%s\"%s%s%s", what, spec.name,
                  near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    out->kind = (keel_act_kind)kind;
    static const char *const none[] = {NULL};
    static const char *const k_alpha[] = {"alpha", NULL};
    static const char *const k_slope[] = {"negative_slope", NULL};
    static const char *const k_approx[] = {"approximate", NULL};
    const char *const *keys = none;
    switch (out->kind) {
    case KEEL_ACT_ELU:
        keys = k_alpha;
        out->alpha = (float)keel_spec_get(&spec, "alpha", 0, 1.0);
        break;
    case KEEL_ACT_LEAKY_RELU:
        keys = k_slope;
        out->alpha = (float)keel_spec_get(&spec, "negative_slope", 0,
                                          keel_spec_get(&spec, "alpha", -1, 0.2));
        break;
    case KEEL_ACT_GELU:
        keys = k_approx;
        out->alpha = (float)keel_spec_get(&spec, "approximate", 0, 0.0);
        break;
    default: break;
    }
    return keel_spec_check(&spec, keys, what);
}

bool keel_act_needs_input(keel_act_kind k) {
    return k == KEEL_ACT_GELU || k == KEEL_ACT_SWISH || k == KEEL_ACT_HARD_SWISH ||
           k == KEEL_ACT_MISH || k == KEEL_ACT_SELU || k == KEEL_ACT_LEAKY_RELU;
}

void keel_act_forward(keel_act a, const float *x, float *y, int64_t rows, int64_t cols) {
    keel_simd_get()->act_forward(a, x, y, rows, cols);
}

void keel_act_backward(keel_act a, const float *x, const float *y, const float *dy, float *dx,
                       int64_t rows, int64_t cols) {
    keel_simd_get()->act_backward(a, x, y, dy, dx, rows, cols);
}

void keel_bias_act(keel_act a, float *z, const float *b, float *pre, int64_t rows, int64_t cols) {
    if (!b && !pre && a.kind == KEEL_ACT_LINEAR) return;
    keel_bias_act_job j = {a, z, pre, b, cols};
    keel_parallel_for(rows,
                      rows * cols * (a.kind == KEEL_ACT_RELU || a.kind == KEEL_ACT_LINEAR ? 1 : 8),
                      keel_simd_get()->bias_act, &j);
}
