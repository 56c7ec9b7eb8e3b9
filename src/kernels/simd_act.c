/* simd_act.c: the activation loops that keel compiles once per instruction-set level
 * (simd.h): every activation's forward and backward pass, and the bias + activation pass after
 * a GEMM. activations.c holds the names, the parser and the threading around them.
 *
 * Definitions follow tf.keras 2 where it differs from Keras 3: hard_sigmoid is
 * clip(0.2 x + 0.5, 0, 1); hard_swish is x * relu6(x + 3) / 6; gelu is exact unless
 * approximate. Backward passes use the output where that is exact, so most activations run in
 * place. */
#include "simd.h"

#define SELU_ALPHA 1.6732632423543772f
#define SELU_SCALE 1.0507009873554805f

static inline float sigmoidf(float x) {
    /* stable for large |x| */
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static inline float softplusf(float x) {
    return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

void KEEL_SIMD_NAME(keel_simd_act_forward)(keel_act a, const float *x, float *y, int64_t rows,
                                           int64_t cols) {
    int64_t n = rows * cols;
    const float al = a.alpha;
    switch (a.kind) {
    case KEEL_ACT_LINEAR:
        if (x != y) memcpy(y, x, (size_t)n * sizeof *y);
        break;
    case KEEL_ACT_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case KEEL_ACT_RELU6:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? (x[i] < 6 ? x[i] : 6) : 0;
        break;
    case KEEL_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = sigmoidf(x[i]);
        break;
    case KEEL_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = 0.2f * x[i] + 0.5f;
            y[i] = v < 0 ? 0 : (v > 1 ? 1 : v);
        }
        break;
    case KEEL_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    case KEEL_ACT_SOFTMAX:
    case KEEL_ACT_LOG_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * cols;
            float *yr = y + r * cols;
            float mx = xr[0];
            for (int64_t c = 1; c < cols; c++)
                mx = xr[c] > mx ? xr[c] : mx;
            float s = 0;
            if (a.kind == KEEL_ACT_SOFTMAX) {
                for (int64_t c = 0; c < cols; c++)
                    s += (yr[c] = expf(xr[c] - mx));
                float inv = 1.0f / s;
                for (int64_t c = 0; c < cols; c++)
                    yr[c] *= inv;
            } else {
                for (int64_t c = 0; c < cols; c++)
                    s += expf(xr[c] - mx);
                float lse = mx + logf(s);
                for (int64_t c = 0; c < cols; c++)
                    yr[c] = xr[c] - lse;
            }
        }
        break;
    case KEEL_ACT_ELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? x[i] : al * expm1f(x[i]);
        break;
    case KEEL_ACT_SELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? SELU_SCALE * x[i] : SELU_SCALE * SELU_ALPHA * expm1f(x[i]);
        break;
    case KEEL_ACT_GELU:
        if (al != 0) {
            for (int64_t i = 0; i < n; i++) {
                float v = x[i];
                y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            }
        } else {
            for (int64_t i = 0; i < n; i++)
                y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
        }
        break;
    case KEEL_ACT_SWISH:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * sigmoidf(x[i]);
        break;
    case KEEL_ACT_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float r = x[i] + 3;
            r = r < 0 ? 0 : (r > 6 ? 6 : r);
            y[i] = x[i] * r * (1.0f / 6.0f);
        }
        break;
    case KEEL_ACT_MISH:
        /* tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2): one exp instead of three */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i], e = expf(v < 20 ? v : 20), q = e * (e + 2);
            y[i] = v < 20 ? v * q / (q + 2) : v;
        }
        break;
    case KEEL_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? x[i] : al * x[i];
        break;
    case KEEL_ACT_SOFTPLUS:
        for (int64_t i = 0; i < n; i++)
            y[i] = softplusf(x[i]);
        break;
    case KEEL_ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case KEEL_ACT_EXPONENTIAL:
        for (int64_t i = 0; i < n; i++)
            y[i] = expf(x[i]);
        break;
    case KEEL_ACT_COUNT: KEEL_ASSERT(0);
    }
}

void KEEL_SIMD_NAME(keel_simd_bias_act)(void *ctx, int64_t lo, int64_t hi) {
    const keel_bias_act_job *j = ctx;
    const int64_t C = j->cols;
    const bool relu = j->a.kind == KEEL_ACT_RELU;
    for (int64_t r = lo; r < hi; r++) {
        float *z = j->z + r * C;
        const float *b = j->b;
        if (relu && !j->pre) { /* the common case in one loop */
            if (b) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++)
                    z[c] = z[c] + b[c] > 0 ? z[c] + b[c] : 0;
            } else {
#pragma omp simd
                for (int64_t c = 0; c < C; c++)
                    z[c] = z[c] > 0 ? z[c] : 0;
            }
            continue;
        }
        if (b) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++)
                z[c] += b[c];
        }
        if (j->pre) memcpy(j->pre + r * C, z, (size_t)C * sizeof *z);
        if (j->a.kind != KEEL_ACT_LINEAR) KEEL_SIMD_NAME(keel_simd_act_forward)(j->a, z, z, 1, C);
    }
}

void KEEL_SIMD_NAME(keel_simd_act_backward)(keel_act a, const float *x, const float *y,
                                            const float *dy, float *dx, int64_t rows,
                                            int64_t cols) {
    int64_t n = rows * cols;
    const float al = a.alpha;
    switch (a.kind) {
    case KEEL_ACT_LINEAR:
        if (dx != dy) memcpy(dx, dy, (size_t)n * sizeof *dx);
        break;
    case KEEL_ACT_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = y[i] > 0 ? dy[i] : 0;
        break;
    case KEEL_ACT_RELU6:
        for (int64_t i = 0; i < n; i++)
            dx[i] = (y[i] > 0 && y[i] < 6) ? dy[i] : 0;
        break;
    case KEEL_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] * y[i] * (1 - y[i]);
        break;
    case KEEL_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            dx[i] = (y[i] > 0 && y[i] < 1) ? 0.2f * dy[i] : 0;
        break;
    case KEEL_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] * (1 - y[i] * y[i]);
        break;
    case KEEL_ACT_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *dyr = dy + r * cols;
            float *dxr = dx + r * cols;
            float s = 0;
            for (int64_t c = 0; c < cols; c++)
                s += dyr[c] * yr[c];
            for (int64_t c = 0; c < cols; c++)
                dxr[c] = yr[c] * (dyr[c] - s);
        }
        break;
    case KEEL_ACT_LOG_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *dyr = dy + r * cols;
            float *dxr = dx + r * cols;
            float s = 0;
            for (int64_t c = 0; c < cols; c++)
                s += dyr[c];
            for (int64_t c = 0; c < cols; c++)
                dxr[c] = dyr[c] - expf(yr[c]) * s;
        }
        break;
    case KEEL_ACT_ELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] = y[i] > 0 ? dy[i] : dy[i] * (y[i] + al);
        break;
    case KEEL_ACT_SELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] = x[i] > 0 ? SELU_SCALE * dy[i] : dy[i] * SELU_SCALE * SELU_ALPHA * expf(x[i]);
        break;
    case KEEL_ACT_GELU:
        if (al != 0) {
            for (int64_t i = 0; i < n; i++) {
                float v = x[i], k = 0.7978845608028654f;
                float u = k * (v + 0.044715f * v * v * v), t = tanhf(u);
                float du = k * (1 + 3 * 0.044715f * v * v);
                dx[i] = dy[i] * (0.5f * (1 + t) + 0.5f * v * (1 - t * t) * du);
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                float v = x[i];
                float cdf = 0.5f * (1.0f + erff(v * 0.7071067811865476f));
                float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
                dx[i] = dy[i] * (cdf + v * pdf);
            }
        }
        break;
    case KEEL_ACT_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float s = sigmoidf(x[i]);
            dx[i] = dy[i] * (s + x[i] * s * (1 - s));
        }
        break;
    case KEEL_ACT_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float d = v < -3 ? 0 : (v > 3 ? 1 : (2 * v + 3) * (1.0f / 6.0f));
            dx[i] = dy[i] * d;
        }
        break;
    case KEEL_ACT_MISH:
        /* d/dx x t(x), t = q / (q + 2), dt/dx = 2 q' / (q + 2)^2, q' = 2 e^x (e^x + 1) */
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            if (v >= 20) {
                dx[i] = dy[i];
                continue;
            }
            float e = expf(v), q = e * (e + 2), d = q + 2;
            dx[i] = dy[i] * (q / d + v * 4 * e * (e + 1) / (d * d));
        }
        break;
    case KEEL_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            dx[i] = x[i] > 0 ? dy[i] : al * dy[i];
        break;
    case KEEL_ACT_SOFTPLUS:
        /* d/dx log(1+e^x) = sigmoid(x) = 1 - e^{-y} */
        for (int64_t i = 0; i < n; i++)
            dx[i] = -dy[i] * expm1f(-y[i]);
        break;
    case KEEL_ACT_SOFTSIGN:
        /* 1/(1+|x|)^2 = (1-|y|)^2 */
        for (int64_t i = 0; i < n; i++) {
            float t = 1 - fabsf(y[i]);
            dx[i] = dy[i] * t * t;
        }
        break;
    case KEEL_ACT_EXPONENTIAL:
        for (int64_t i = 0; i < n; i++)
            dx[i] = dy[i] * y[i];
        break;
    case KEEL_ACT_COUNT: KEEL_ASSERT(0);
    }
}
