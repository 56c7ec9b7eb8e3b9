/* keel.h: the one public header of keel, a deep-learning library in C with the shape of Keras.
 *
 * This header is the reference documentation. Conventions that hold everywhere:
 *
 *  - Ownership: the caller frees what a constructor (`keel_tensor_new`, `keel_sequential`, ...)
 *    or `keel_predict` returned, with the matching `_free`; every `_free(NULL)` does nothing.
 *    A layer handed to `keel_add` belongs to the model from then on, even when keel_add fails.
 *    Tensors handed to fit / evaluate / predict are borrowed for the call, never kept.
 *  - Errors: a function that can fail returns NULL or a negative `keel_status`; `keel_last_error()`
 *    then gives one line saying what was wrong and where. Nothing in keel aborts or exits on
 *    user input. A model keeps the first error of a chain of calls (a failed constructor, then
 *    keel_add, then keel_compile) and returns it again from each later call that returns a
 *    status, so tutorial-style code can check only the call that matters.
 *  - Options: Keras keyword arguments are C99 designated initializers. Each `keel_xxx(...)` macro
 *    fills the Keras defaults first and then your fields, so `keel_fit(m, x, y, .epochs = 5)`
 *    means `model.fit(x, y, epochs=5)`. (This relies on a later designator overriding an earlier
 *    one, which is standard C; the header silences gcc's -Woverride-init for that reason.) If you
 *    build an option struct yourself, a zero field means the Keras default too.
 *  - C++: the header compiles as C++ (its functions are extern "C"), but the option macros do
 *    not (C++ designated initializers must follow the declaration order and cannot override
 *    the defaults a macro puts first). C++ fills the struct and calls the underscore function,
 *    setting by hand the fields the macro presets: `keel_dense_opts o{}; o.units = 1;
 *    o.use_bias = 1; keel_dense_(o);`. KEEL_SHAPE is a compound literal, which g++ and clang++
 *    accept as an extension (-Wpedantic warns): ISO C++ passes a rank and an int64_t array.
 *  - Names are Keras's: "relu", "adam", "sparse_categorical_crossentropy", "glorot_uniform".
 *    Where a Keras object takes arguments, the string takes them in call syntax:
 *    "l2(0.001)", "random_normal(stddev=0.1)", "leaky_relu(negative_slope=0.1)".
 *    Where tf.keras 2 and Keras 3 differ, keel follows tf.keras 2.
 *  - Numbers: float32, row-major, channels-last. Class labels are stored as floats holding
 *    integers.
 */
#ifndef KEEL_H
#define KEEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(__cplusplus)
/* The option macros put Keras defaults before the caller's fields; see the note above. */
#pragma GCC diagnostic ignored "-Woverride-init"
#endif
#if defined(__clang__)
#pragma clang diagnostic ignored "-Winitializer-overrides"
#endif

#if defined(KEEL_BUILDING) && defined(__GNUC__)
#define KEEL_API __attribute__((visibility("default")))
#else
#define KEEL_API
#endif

#define KEEL_MAX_RANK 8
#define KEEL_MAX_METRICS 8

/* ---------------------------------------------------------------- errors */

typedef enum keel_status {
    KEEL_OK = 0,
    KEEL_ERR_ARG = -1,    /* a bad argument: NULL, out of range, unknown name */
    KEEL_ERR_SHAPE = -2,  /* shapes that do not fit together */
    KEEL_ERR_STATE = -3,  /* wrong call order: fit before compile, add after compile */
    KEEL_ERR_IO = -4,     /* a file that cannot be opened or read */
    KEEL_ERR_FORMAT = -5, /* a file whose content is not what it claims */
    KEEL_ERR_NOMEM = -6,  /* out of memory */
    KEEL_ERR_NAN = -7,    /* a NaN or infinite loss stopped training */
    /* valid Keras that keel does not implement: a layer class, an option away from its default */
    KEEL_ERR_UNSUPPORTED = -8,
    KEEL_STATUS_COUNT = 9
} keel_status;

/* The message of the last error raised on this thread: one line, never NULL ("" if none). */
KEEL_API const char *keel_last_error(void);
/* A short name for a status ("shape error"). */
KEEL_API const char *keel_status_name(keel_status s);

/* Warnings (what Keras reports as a UserWarning and carries on: an EarlyStopping monitor that
 * names no logged value, a model trained with trainable flags that changed since its compile)
 * go to this handler, one line each without a newline; NULL restores the default, which prints
 * "keel: warning: <line>" to stderr. Process-wide; set it before training. */
typedef void (*keel_warning_fn)(const char *message, void *user);
KEEL_API void keel_set_warning_handler(keel_warning_fn fn, void *user);

/* ---------------------------------------------------------------- runtime */

/* Threads used by every kernel (GEMM included), on keel's own pool (no OpenMP runtime).
 * Default: the CPUs this process may run on, or OMP_NUM_THREADS when set; at most 256. Results
 * are bit-identical from run to run for a fixed seed and a fixed thread count. n <= 0 restores
 * the default. */
KEEL_API void keel_set_threads(int n);
KEEL_API int keel_get_threads(void);
/* What runs: "blis 0.9.0 (skx, chosen by keel: ...), kernels avx512"; a static string. */
KEEL_API const char *keel_gemm_backend(void);

/* ---------------------------------------------------------------- tensors */

typedef struct keel_tensor keel_tensor;

/* KEEL_SHAPE(60000, 28, 28) expands to the (rank, dims) pair the constructors take. */
#define KEEL_SHAPE(...)                                                                            \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]) {                 \
        __VA_ARGS__                                                                                \
    }

/* The element type: float32 (the default, what models compute with) or int32 (token ids and
 * class labels, as Keras's pad_sequences and datasets give them). Models read int32 x and y as
 * the same whole numbers (exactly, up to 2^24). */
typedef enum keel_dtype { KEEL_FLOAT32, KEEL_INT32, KEEL_DTYPE_COUNT } keel_dtype;

/* A new tensor of zeros. NULL (and keel_last_error) on a bad shape or no memory. */
KEEL_API keel_tensor *keel_tensor_new(int rank, const int64_t *dims);
/* A new tensor holding a copy of `data` (dims[0] * ... * dims[rank-1] floats). */
KEEL_API keel_tensor *keel_tensor_from_data(int rank, const int64_t *dims, const float *data);
/* A new tensor holding rows [start, start + count) of t along axis 0 (a copy). */
KEEL_API keel_tensor *keel_tensor_slice(const keel_tensor *t, int64_t start, int64_t count);
/* A copy of t with a new shape of the same size. */
KEEL_API keel_tensor *keel_tensor_reshape(const keel_tensor *t, int rank, const int64_t *dims);
KEEL_API void keel_tensor_free(keel_tensor *t);
/* int32 tensors: zeros, or a copy of data. keel_tensor_data on one is NULL (and an error);
 * keel_tensor_int32_data on a float32 tensor likewise. Slice and reshape keep the dtype. */
KEEL_API keel_tensor *keel_tensor_new_int32(int rank, const int64_t *dims);
KEEL_API keel_tensor *keel_tensor_from_int32(int rank, const int64_t *dims, const int32_t *data);
KEEL_API int32_t *keel_tensor_int32_data(keel_tensor *t);
KEEL_API keel_dtype keel_tensor_dtype(const keel_tensor *t);
/* [x0, x1, ...]: the inputs of a model with several inputs, in the order of its keel_model_input
 * calls, as one x for fit / evaluate / predict / *_on_batch. The members are borrowed (they must
 * outlive the list); keel_tensor_free frees the list alone. At most 8. */
KEEL_API keel_tensor *keel_tensor_list(int n, const keel_tensor *const *members);
/* The data, row-major; valid until keel_tensor_free. */
KEEL_API float *keel_tensor_data(keel_tensor *t);
KEEL_API const float *keel_tensor_cdata(const keel_tensor *t);
KEEL_API int keel_tensor_rank(const keel_tensor *t);
/* dims[axis]; a negative axis counts from the end; 0 for an axis out of range. */
KEEL_API int64_t keel_tensor_dim(const keel_tensor *t, int axis);
KEEL_API int64_t keel_tensor_size(const keel_tensor *t);
/* Writes "(60000, 28, 28)" into buf; returns buf. */
KEEL_API char *keel_tensor_shape_str(const keel_tensor *t, char *buf, size_t cap);

/* ---------------------------------------------------------------- layers */

typedef struct keel_layer keel_layer;

/* Input(shape=...): declares the per-sample shape. dims left zero end the shape. */
typedef struct keel_input_opts {
    int64_t shape[KEEL_MAX_RANK];
    const char *name;
} keel_input_opts;
KEEL_API keel_layer *keel_input_(keel_input_opts o);
#define keel_input(...) keel_input_((keel_input_opts){__VA_ARGS__})

/* Dense(units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
 * bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None).
 * input_dim / input_shape on the first layer of a Sequential stand for an Input layer.
 * y = activation(x @ kernel + bias); kernel is (in, units), bias (units). */
typedef struct keel_dense_opts {
    int64_t units;
    const char *activation;
    int use_bias;
    const char *kernel_initializer;
    const char *bias_initializer;
    const char *kernel_regularizer;
    const char *bias_regularizer;
    int64_t input_dim;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_dense_opts;
KEEL_API keel_layer *keel_dense_(keel_dense_opts o);
#define keel_dense(...) keel_dense_((keel_dense_opts){.use_bias = 1, __VA_ARGS__})

/* Activation(activation). */
typedef struct keel_activation_opts {
    const char *activation;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_activation_opts;
KEEL_API keel_layer *keel_activation_(keel_activation_opts o);
#define keel_activation(...) keel_activation_((keel_activation_opts){__VA_ARGS__})

/* Dropout(rate, seed=None): inverted dropout, active only while training (fit, train_on_batch).
 * keep = 1 - rate; y = x / keep where kept, 0 elsewhere. */
typedef struct keel_dropout_opts {
    float rate;
    uint64_t seed; /* 0: derived from the model's seed */
    const char *name;
} keel_dropout_opts;
KEEL_API keel_layer *keel_dropout_(keel_dropout_opts o);
#define keel_dropout(...) keel_dropout_((keel_dropout_opts){__VA_ARGS__})

/* Flatten(): (N, d1, d2, ...) -> (N, d1*d2*...), row-major. */
typedef struct keel_flatten_opts {
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_flatten_opts;
KEEL_API keel_layer *keel_flatten_(keel_flatten_opts o);
#define keel_flatten(...) keel_flatten_((keel_flatten_opts){__VA_ARGS__})

/* Reshape(target_shape): one entry may be -1 and is inferred. */
typedef struct keel_reshape_opts {
    int64_t target_shape[KEEL_MAX_RANK];
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_reshape_opts;
KEEL_API keel_layer *keel_reshape_(keel_reshape_opts o);
#define keel_reshape(...) keel_reshape_((keel_reshape_opts){__VA_ARGS__})

/* Conv2D(filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
 * activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros").
 * Input (N, H, W, C) channels-last; kernel (KH, KW, C, filters) (HWIO, as Keras stores it); bias
 * (filters). A pair given as {k} means {k, k}. "same" pads as TensorFlow does: the odd pixel goes
 * at the bottom / right. Output size: valid floor((in - dilation * (k - 1) - 1) / stride) + 1,
 * same ceil(in / stride). */
typedef struct keel_conv2d_opts {
    int64_t filters;
    int64_t kernel_size[2];
    int64_t strides[2];
    const char *padding;
    int64_t dilation_rate[2];
    const char *activation;
    int use_bias;
    const char *kernel_initializer;
    const char *bias_initializer;
    const char *kernel_regularizer;
    const char *bias_regularizer;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_conv2d_opts;
KEEL_API keel_layer *keel_conv2d_(keel_conv2d_opts o);
#define keel_conv2d(...)                                                                           \
    keel_conv2d_((keel_conv2d_opts){.use_bias = 1, .padding = "valid", __VA_ARGS__})

/* MaxPooling2D / AveragePooling2D(pool_size=(2, 2), strides=None (= pool_size),
 * padding="valid"). With "same", padded cells never win a max and are not counted in an
 * average. */
typedef struct keel_pool2d_opts {
    int64_t pool_size[2];
    int64_t strides[2];
    const char *padding;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_pool2d_opts;
KEEL_API keel_layer *keel_max_pooling2d_(keel_pool2d_opts o);
KEEL_API keel_layer *keel_average_pooling2d_(keel_pool2d_opts o);
#define keel_max_pooling2d(...)                                                                    \
    keel_max_pooling2d_((keel_pool2d_opts){.pool_size = {2, 2}, .padding = "valid", __VA_ARGS__})
#define keel_average_pooling2d(...)                                                                \
    keel_average_pooling2d_(                                                                       \
        (keel_pool2d_opts){.pool_size = {2, 2}, .padding = "valid", __VA_ARGS__})

/* GlobalAveragePooling2D / GlobalMaxPooling2D: (N, H, W, C) -> (N, C). */
typedef struct keel_global_pool2d_opts {
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_global_pool2d_opts;
KEEL_API keel_layer *keel_global_average_pooling2d_(keel_global_pool2d_opts o);
KEEL_API keel_layer *keel_global_max_pooling2d_(keel_global_pool2d_opts o);
#define keel_global_average_pooling2d(...)                                                         \
    keel_global_average_pooling2d_((keel_global_pool2d_opts){__VA_ARGS__})
#define keel_global_max_pooling2d(...)                                                             \
    keel_global_max_pooling2d_((keel_global_pool2d_opts){__VA_ARGS__})

/* BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True).
 * Weights in Keras's order: gamma, beta (trainable), moving_mean, moving_variance
 * (non-trainable). Training normalizes with the batch statistics and updates
 * moving = moving * momentum + batch * (1 - momentum); inference uses the moving statistics. */
typedef struct keel_batch_normalization_opts {
    float momentum;
    float epsilon;
    int center;
    int scale;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_batch_normalization_opts;
KEEL_API keel_layer *keel_batch_normalization_(keel_batch_normalization_opts o);
#define keel_batch_normalization(...)                                                              \
    keel_batch_normalization_((keel_batch_normalization_opts){                                     \
        .momentum = 0.99f, .epsilon = 1e-3f, .center = 1, .scale = 1, __VA_ARGS__})

/* ZeroPadding2D(padding=(1, 1)): .padding = {rows, cols} pads both sides of each axis;
 * .pads = {top, bottom, left, right} when set takes precedence. */
typedef struct keel_zero_padding2d_opts {
    int64_t padding[2];
    int64_t pads[4];
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_zero_padding2d_opts;
KEEL_API keel_layer *keel_zero_padding2d_(keel_zero_padding2d_opts o);
#define keel_zero_padding2d(...)                                                                   \
    keel_zero_padding2d_((keel_zero_padding2d_opts){.padding = {1, 1}, __VA_ARGS__})

/* Embedding(input_dim, output_dim, embeddings_initializer="uniform" (-0.05, 0.05),
 * mask_zero=False, input_length=None): (N, T) token indices -> (N, T, output_dim). Indices are
 * floats holding whole numbers in [0, input_dim) (what keel_pad_sequences gives); fit /
 * evaluate / predict check them first and name the first bad one. mask_zero makes index 0
 * padding: the time-step mask travels to the layers after it (LSTM, GRU, SimpleRNN skip masked
 * steps; GlobalAveragePooling1D averages the others; Dense, Dropout, Activation pass it on).
 * input_length=T stands for Input(shape=(T,)). */
typedef struct keel_embedding_opts {
    int64_t input_dim, output_dim;
    const char *embeddings_initializer;
    const char *embeddings_regularizer;
    int mask_zero;
    int64_t input_length;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_embedding_opts;
KEEL_API keel_layer *keel_embedding_(keel_embedding_opts o);
#define keel_embedding(...) keel_embedding_((keel_embedding_opts){__VA_ARGS__})

/* Masking(mask_value=0.0): on (N, T, F), the steps whose features all equal mask_value are
 * masked for the layers after it and set to 0. */
typedef struct keel_masking_opts {
    float mask_value;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_masking_opts;
KEEL_API keel_layer *keel_masking_(keel_masking_opts o);
#define keel_masking(...) keel_masking_((keel_masking_opts){__VA_ARGS__})

/* Conv1D(filters, kernel_size, strides=1, padding="valid" | "same" | "causal", dilation_rate=1,
 * activation=None, use_bias=True): (N, T, C) -> (N, T', filters), kernel (kernel_size, C,
 * filters) as Keras stores it. */
typedef struct keel_conv1d_opts {
    int64_t filters;
    int64_t kernel_size;
    int64_t strides;
    const char *padding;
    int64_t dilation_rate;
    const char *activation;
    int use_bias;
    const char *kernel_initializer;
    const char *bias_initializer;
    const char *kernel_regularizer;
    const char *bias_regularizer;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_conv1d_opts;
KEEL_API keel_layer *keel_conv1d_(keel_conv1d_opts o);
#define keel_conv1d(...)                                                                           \
    keel_conv1d_((keel_conv1d_opts){.use_bias = 1, .padding = "valid", __VA_ARGS__})

/* MaxPooling1D / AveragePooling1D(pool_size=2, strides=None (= pool_size), padding="valid") and
 * GlobalMaxPooling1D / GlobalAveragePooling1D over (N, T, C). */
typedef struct keel_pool1d_opts {
    int64_t pool_size, strides;
    const char *padding;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_pool1d_opts;
KEEL_API keel_layer *keel_max_pooling1d_(keel_pool1d_opts o);
KEEL_API keel_layer *keel_average_pooling1d_(keel_pool1d_opts o);
#define keel_max_pooling1d(...) keel_max_pooling1d_((keel_pool1d_opts){.pool_size = 2, __VA_ARGS__})
#define keel_average_pooling1d(...)                                                                \
    keel_average_pooling1d_((keel_pool1d_opts){.pool_size = 2, __VA_ARGS__})
typedef struct keel_global_pool1d_opts {
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_global_pool1d_opts;
KEEL_API keel_layer *keel_global_max_pooling1d_(keel_global_pool1d_opts o);
KEEL_API keel_layer *keel_global_average_pooling1d_(keel_global_pool1d_opts o);
#define keel_global_max_pooling1d(...)                                                             \
    keel_global_max_pooling1d_((keel_global_pool1d_opts){__VA_ARGS__})
#define keel_global_average_pooling1d(...)                                                         \
    keel_global_average_pooling1d_((keel_global_pool1d_opts){__VA_ARGS__})

/* UpSampling2D(size=(2, 2), interpolation="nearest"): (N, H, W, C) -> (N, H*sh, W*sw, C);
 * "bilinear" is tf.image.resize's (half-pixel centers), as tf.keras 2.15 computes it. */
typedef struct keel_upsampling2d_opts {
    int64_t size[2];
    const char *interpolation;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_upsampling2d_opts;
KEEL_API keel_layer *keel_upsampling2d_(keel_upsampling2d_opts o);
#define keel_upsampling2d(...)                                                                     \
    keel_upsampling2d_((keel_upsampling2d_opts){.size = {2, 2}, __VA_ARGS__})

/* Conv2DTranspose(filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
 * activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros").
 * Kernel (KH, KW, filters, C) as Keras stores it. Output size as Keras's deconv_output_length:
 * with output_padding None, "valid" gives H*s + max(k - s, 0) and "same" H*s; with output_padding
 * p, (H - 1)*s + k - 2*(k/2 for "same", else 0) + p. The macro's default output_padding {-1, -1}
 * is None; {p} means {p, p}; {0, 0} means 0 (not None: they differ). */
typedef struct keel_conv2d_transpose_opts {
    int64_t filters;
    int64_t kernel_size[2];
    int64_t strides[2];
    const char *padding;
    int64_t output_padding[2];
    const char *activation;
    int use_bias;
    const char *kernel_initializer;
    const char *bias_initializer;
    const char *kernel_regularizer;
    const char *bias_regularizer;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_conv2d_transpose_opts;
KEEL_API keel_layer *keel_conv2d_transpose_(keel_conv2d_transpose_opts o);
#define keel_conv2d_transpose(...)                                                                 \
    keel_conv2d_transpose_((keel_conv2d_transpose_opts){                                           \
        .use_bias = 1, .padding = "valid", .output_padding = {-1, -1}, __VA_ARGS__})

/* Merge layers of the functional API, over 2 to 8 inputs of the same shape: Add, Subtract (two
 * inputs: x0 - x1), Multiply, Average, Maximum, Minimum (the gradient goes to the first input
 * holding the extreme value, as tf.keras's pairwise fold does). Named keel_merge_* because
 * keel_add is Sequential.add. Concatenate(axis=-1) joins inputs that differ only along axis
 * (Keras's numbering, the batch axis being 0). A shape mismatch at compile names both inputs. */
typedef struct keel_merge_opts {
    const char *name;
} keel_merge_opts;
KEEL_API keel_layer *keel_merge_add_(keel_merge_opts o);
KEEL_API keel_layer *keel_merge_subtract_(keel_merge_opts o);
KEEL_API keel_layer *keel_merge_multiply_(keel_merge_opts o);
KEEL_API keel_layer *keel_merge_average_(keel_merge_opts o);
KEEL_API keel_layer *keel_merge_maximum_(keel_merge_opts o);
KEEL_API keel_layer *keel_merge_minimum_(keel_merge_opts o);
#define keel_merge_add(...) keel_merge_add_((keel_merge_opts){__VA_ARGS__})
#define keel_merge_subtract(...) keel_merge_subtract_((keel_merge_opts){__VA_ARGS__})
#define keel_merge_multiply(...) keel_merge_multiply_((keel_merge_opts){__VA_ARGS__})
#define keel_merge_average(...) keel_merge_average_((keel_merge_opts){__VA_ARGS__})
#define keel_merge_maximum(...) keel_merge_maximum_((keel_merge_opts){__VA_ARGS__})
#define keel_merge_minimum(...) keel_merge_minimum_((keel_merge_opts){__VA_ARGS__})
typedef struct keel_concatenate_opts {
    int axis;
    const char *name;
} keel_concatenate_opts;
KEEL_API keel_layer *keel_concatenate_(keel_concatenate_opts o);
#define keel_concatenate(...) keel_concatenate_((keel_concatenate_opts){.axis = -1, __VA_ARGS__})

/* Activation layers. LeakyReLU(alpha=0.3) (tf.keras 2's layer default; the "leaky_relu"
 * function's is 0.2), ReLU(), ELU(alpha=1.0), Softmax(axis=-1, the last axis only). */
typedef struct keel_leaky_relu_opts {
    float alpha;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_leaky_relu_opts;
KEEL_API keel_layer *keel_leaky_relu_(keel_leaky_relu_opts o);
#define keel_leaky_relu(...) keel_leaky_relu_((keel_leaky_relu_opts){.alpha = 0.3f, __VA_ARGS__})
typedef struct keel_relu_opts {
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_relu_opts;
KEEL_API keel_layer *keel_relu_(keel_relu_opts o);
#define keel_relu(...) keel_relu_((keel_relu_opts){__VA_ARGS__})
typedef struct keel_elu_opts {
    float alpha;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_elu_opts;
KEEL_API keel_layer *keel_elu_(keel_elu_opts o);
#define keel_elu(...) keel_elu_((keel_elu_opts){.alpha = 1.0f, __VA_ARGS__})
typedef struct keel_softmax_opts {
    int axis;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_softmax_opts;
KEEL_API keel_layer *keel_softmax_(keel_softmax_opts o);
#define keel_softmax(...) keel_softmax_((keel_softmax_opts){.axis = -1, __VA_ARGS__})
/* PReLU(alpha_initializer="zeros", shared_axes=None): y = x (x > 0), alpha * x (else), alpha a
 * weight of the per-sample shape with size 1 along shared_axes (Keras's numbering: {1, 2} shares
 * height and width of an image). */
typedef struct keel_prelu_opts {
    const char *alpha_initializer;
    int shared_axes[KEEL_MAX_RANK];
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_prelu_opts;
KEEL_API keel_layer *keel_prelu_(keel_prelu_opts o);
#define keel_prelu(...) keel_prelu_((keel_prelu_opts){__VA_ARGS__})

/* LSTM / GRU / SimpleRNN(units, activation="tanh", recurrent_activation="sigmoid",
 * use_bias=True, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
 * bias_initializer="zeros", unit_forget_bias=True (LSTM), dropout=0, recurrent_dropout=0,
 * return_sequences=False, go_backwards=False, reset_after=True (GRU)), on (N, T, F). Weights
 * as Keras stores them: kernel (F, G*units), recurrent_kernel (units, G*units), bias (G*units;
 * GRU with reset_after: (2, 3*units)), gates in Keras's order (LSTM i, f, c, o; GRU z, r, h).
 * Output (N, units), or (N, T, units) with return_sequences. Each layer is one op over all
 * steps. A time-step mask from Embedding(mask_zero) or Masking is honoured: a masked step
 * carries the state over, so pre- and post-padding give the same result, and outputs the
 * previous output (zeros before the first unmasked step, also when an initial state is given,
 * as Keras does). Dropout masks are fixed across the steps of a sequence. Not supported:
 * stateful.
 *
 * return_state=True: the call returns [output, h, c] (LSTM) or [output, h] (GRU, SimpleRNN),
 * h and c (N, units): the states after the last step, which under a mask are the states after
 * the last unmasked one (also with go_backwards: after the step read last). Such a layer has
 * several outputs: apply it with keel_apply_outputs (a Sequential model refuses it).
 * initial_state=[h0, c0]: give the states as more inputs after the sequence, keel_apply_n(m,
 * lstm, 3, (keel_sym *[]){x, h0, c0}) (GRU, SimpleRNN: {x, h0}); each (N, units), from any
 * symbolic tensor (an encoder's states), and gradients flow into them. Without it the first
 * state is zero. A seq2seq encoder-decoder:
 *
 *     keel_sym *enc_in = keel_model_input(m, .shape = {T_in, F_in});
 *     keel_sym *dec_in = keel_model_input(m, .shape = {T_out, F_out});
 *     keel_sym *enc[3];  // output, h, c
 *     keel_apply_outputs(m, keel_lstm(.units = 64, .return_state = 1), 1, &enc_in, 3, enc);
 *     keel_sym *dec = keel_apply_n(m, keel_lstm(.units = 64, .return_sequences = 1), 3,
 *                                  (keel_sym *[]){dec_in, enc[1], enc[2]});
 *     keel_model_outputs(m, 1, (keel_sym *[]){
 *         keel_apply(m, keel_dense(.units = F_out, .activation = "softmax"), dec)}); */
typedef struct keel_rnn_opts {
    int64_t units;
    const char *activation;
    const char *recurrent_activation;
    int use_bias;
    const char *kernel_initializer, *recurrent_initializer, *bias_initializer;
    const char *kernel_regularizer, *recurrent_regularizer, *bias_regularizer;
    int unit_forget_bias;
    float dropout, recurrent_dropout;
    int return_sequences, return_state, go_backwards, stateful, reset_after;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_rnn_opts;
KEEL_API keel_layer *keel_lstm_(keel_rnn_opts o);
KEEL_API keel_layer *keel_gru_(keel_rnn_opts o);
KEEL_API keel_layer *keel_simple_rnn_(keel_rnn_opts o);
#define keel_lstm(...)                                                                             \
    keel_lstm_((keel_rnn_opts){.use_bias = 1, .unit_forget_bias = 1, __VA_ARGS__})
#define keel_gru(...) keel_gru_((keel_rnn_opts){.use_bias = 1, .reset_after = 1, __VA_ARGS__})
#define keel_simple_rnn(...) keel_simple_rnn_((keel_rnn_opts){.use_bias = 1, __VA_ARGS__})

/* Bidirectional(layer, merge_mode="concat"): the recurrent layer reads the sequence forward,
 * a copy of it (its own weights, Keras's "backward_" name) reads it backward; the two outputs
 * are joined by concat, sum, mul or ave (with return_sequences, step by step in time order), or
 * with merge_mode "none" (Keras's None) returned as two outputs, forward then backward. With
 * return_sequences and a mask both directions output zeros at masked steps, as Keras's
 * Bidirectional makes them. A wrapped layer with return_state adds the states, in Keras's
 * order: output(s), then the forward layer's states (h, c), then the backward layer's. A call
 * with several outputs goes through keel_apply_outputs. Initial states cannot be passed through
 * Bidirectional. The wrapper takes the new layer's reference. */
typedef struct keel_bidirectional_opts {
    keel_layer *layer;
    const char *merge_mode;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_bidirectional_opts;
KEEL_API keel_layer *keel_bidirectional_(keel_bidirectional_opts o);
#define keel_bidirectional(...)                                                                    \
    keel_bidirectional_((keel_bidirectional_opts){.merge_mode = "concat", __VA_ARGS__})

/* TimeDistributed(layer): the layer applied to every time step of (N, T, ...) with one set of
 * weights. keel supports Dense, Activation and the activation layers, Dropout and
 * BatchNormalization inside it (all run as one op over every step); the wrapper takes the new
 * layer's reference. */
typedef struct keel_time_distributed_opts {
    keel_layer *layer;
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_time_distributed_opts;
KEEL_API keel_layer *keel_time_distributed_(keel_time_distributed_opts o);
#define keel_time_distributed(...) keel_time_distributed_((keel_time_distributed_opts){__VA_ARGS__})

/* Frees a layer that no model holds (one never added, or whose add failed); a layer a model
 * holds is freed with the last model that holds it, and this call leaves it alone. */
KEEL_API void keel_layer_free(keel_layer *l);

/* trainable (tf.keras 2's rule): a model trains the weights that were trainable when *it* was
 * compiled. So both GAN idioms work: freeze the discriminator once between compiling it and
 * compiling the combined model, or toggle the flag before each train_on_batch; a model trained
 * while a layer's flag differs from its compile-time snapshot warns once (keel_warn), as tf.keras
 * does, and uses the snapshot. A frozen BatchNormalization runs in inference mode. Setting a
 * model's flag sets every layer in it, at any depth. */
KEEL_API keel_status keel_layer_set_trainable(keel_layer *l, int trainable);
KEEL_API int keel_layer_trainable(const keel_layer *l);

/* ---------------------------------------------------------------- models */

typedef struct keel_model keel_model;

/* A new, empty Sequential model; name NULL means "sequential". NULL only when out of memory. */
KEEL_API keel_model *keel_sequential(const char *name);
/* Drops the caller's reference; the model is freed with its last holder (another model it was
 * added to keeps it alive). Layers are freed with the last model that holds them. */
KEEL_API void keel_model_free(keel_model *m);
/* Appends a layer. A new layer's reference passes to the model (it is freed with it, also when
 * keel_add fails); a layer another model holds already is shared: both models use the same
 * weights, and it lives until the last of them is freed. A NULL layer (a constructor that
 * failed) records that constructor's error on the model. */
KEEL_API keel_status keel_add(keel_model *m, keel_layer *layer);
/* Sequential([generator, discriminator]): appends a whole model as one layer. Its layers (and
 * weights) are shared, not copied: training the outer model changes what the inner one
 * predicts. The outer model holds a reference to the inner one. A model cannot contain itself. */
KEEL_API keel_status keel_add_model(keel_model *m, keel_model *inner);
/* model.trainable = flag: every layer of the model, at any depth. */
KEEL_API keel_status keel_model_set_trainable(keel_model *m, int trainable);

/* ---- the functional API: keras.Model(inputs, outputs).
 *
 *     keel_model *m = keel_model_new("two_towers");
 *     keel_sym *a = keel_model_input(m, .shape = {4}), *b = keel_model_input(m, .shape = {3});
 *     keel_sym *h = keel_apply_n(m, keel_concatenate(), 2, (keel_sym *[]){
 *                                keel_apply(m, keel_dense(.units = 8), a),
 *                                keel_apply(m, keel_dense(.units = 8), b)});
 *     keel_model_outputs(m, 1, (keel_sym *[]){keel_apply(m, keel_dense(.units = 1), h)});
 *
 * A keel_sym is a symbolic tensor: the output of one call, owned by the model that made it
 * (valid until keel_model_free). Applying one layer twice shares its weights; each call gets
 * the sum of both gradients. A failed call returns NULL and records its error on the model, so
 * the chain can be checked once, at keel_compile. */
typedef struct keel_sym keel_sym;
/* A new, empty functional model; name NULL means "model". */
KEEL_API keel_model *keel_model_new(const char *name);
/* Input(shape=...) of a functional model, in the order the data will be given. */
KEEL_API keel_sym *keel_model_input_(keel_model *m, keel_input_opts o);
#define keel_model_input(m, ...) keel_model_input_((m), (keel_input_opts){__VA_ARGS__})
/* layer(x) / layer([x0, x1, ...]): the layer's reference passes to the model as with keel_add. */
KEEL_API keel_sym *keel_apply(keel_model *m, keel_layer *layer, keel_sym *x);
KEEL_API keel_sym *keel_apply_n(keel_model *m, keel_layer *layer, int n, keel_sym *const *xs);
/* outs = layer(xs), for a layer whose call returns several outputs (LSTM / GRU / SimpleRNN with
 * return_state, Bidirectional with merge_mode "none" or a wrapped return_state layer; any other
 * layer gives its one output). xs[0 .. n_in) as keel_apply_n takes them (a recurrent layer: the
 * sequence, then optionally its initial states). Writes the outputs, in Keras's order, to
 * outs[0 .. count) and returns count; max_out below count is an error. On error a negative
 * status, recorded on the model (and the layer, when no model holds it, is freed). Calling such
 * a layer with keel_apply / keel_apply_n, or adding it to a Sequential, is an error. */
KEEL_API int keel_apply_outputs(keel_model *m, keel_layer *layer, int n_in, keel_sym *const *xs,
                                int max_out, keel_sym **outs);
/* inner(x): a whole model applied as a layer (one output), its weights shared. */
KEEL_API keel_sym *keel_apply_model(keel_model *m, keel_model *inner, int n, keel_sym *const *xs);
/* Model(inputs, outputs=[...]): every input must reach an output. */
KEEL_API keel_status keel_model_outputs(keel_model *m, int n, keel_sym *const *outs);
/* The seed behind initialization, dropout and shuffling (default 1337). Call before compile. */
KEEL_API keel_status keel_model_set_seed(keel_model *m, uint64_t seed);
/* The first error this model recorded, KEEL_OK if none; its message via keel_model_error. */
KEEL_API keel_status keel_model_status(const keel_model *m);
KEEL_API const char *keel_model_error(const keel_model *m);

/* Typed hyper-parameters of the optimizer; zero fields are Keras's defaults for the chosen
 * optimizer: sgd lr 0.01; adam / adamw / rmsprop / adagrad lr 0.001; beta_1 0.9, beta_2 0.999,
 * epsilon 1e-7, rho 0.9, adamw weight_decay 0.004, adagrad initial_accumulator_value 0.1. */
typedef struct keel_optimizer_opts {
    float learning_rate;
    float momentum;       /* sgd, rmsprop */
    int nesterov;         /* sgd */
    float beta_1, beta_2; /* adam, adamw */
    int amsgrad;          /* adam, adamw */
    float epsilon;
    float rho;                       /* rmsprop */
    int centered;                    /* rmsprop */
    float initial_accumulator_value; /* adagrad */
    float weight_decay; /* decoupled, w -= w * weight_decay * lr (adamw; any optimizer) */
    float clipnorm;     /* per weight tensor */
    float global_clipnorm;
    float clipvalue;
    /* A learning-rate schedule by Keras's name, replacing learning_rate: each step uses its
     * value at the optimizer's step count, as Keras does. "exponential_decay(
     * initial_learning_rate, decay_steps, decay_rate, staircase=0)", "inverse_time_decay(same)",
     * "polynomial_decay(initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1,
     * cycle=0)", "cosine_decay(initial_learning_rate, decay_steps, alpha=0, warmup_target,
     * warmup_steps=0)", "piecewise_constant_decay(b0, v0, b1, v1, v_last)" (boundaries and
     * values alternating, up to two boundaries). Keras's class names work too. */
    const char *learning_rate_schedule;
} keel_optimizer_opts;

/* Typed options of the loss: from_logits (binary / categorical / sparse crossentropy),
 * label_smoothing (binary, categorical), delta (huber, default 1.0). */
typedef struct keel_loss_opts {
    int from_logits;
    float label_smoothing;
    float delta;
} keel_loss_opts;

/* compile(optimizer="rmsprop", loss, metrics=[]). Checks every name and every shape, builds
 * the graph and initializes the weights. Optimizers: sgd, adam, adamw, rmsprop, adagrad.
 * Losses: mean_squared_error (mse), mean_absolute_error (mae), huber, binary_crossentropy,
 * categorical_crossentropy, sparse_categorical_crossentropy. Metrics: accuracy (acc),
 * binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, mae
 * (mean_absolute_error), mse (mean_squared_error). */
#define KEEL_MAX_OUTPUTS 8
typedef struct keel_compile_opts {
    const char *optimizer;
    keel_optimizer_opts optimizer_opts;
    const char *loss;
    keel_loss_opts loss_opts;
    const char *metrics[KEEL_MAX_METRICS];
    /* A model with several outputs: one loss per output (in the order of keel_model_outputs;
     * when empty, .loss serves every output) and their weights (0: 1.0). The loss trained and
     * reported as "loss" is sum(weight * loss), Keras's rule; each output's own loss is logged
     * as "<output layer>_loss" and each metric as "<output layer>_<metric>". y is then a
     * keel_tensor_list with one tensor per output. */
    const char *losses[KEEL_MAX_OUTPUTS];
    float loss_weights[KEEL_MAX_OUTPUTS];
} keel_compile_opts;
KEEL_API keel_status keel_compile_(keel_model *m, keel_compile_opts o);
#define keel_compile(m, ...)                                                                       \
    keel_compile_((m), (keel_compile_opts){.optimizer = "rmsprop", __VA_ARGS__})

/* Named values passed to callbacks: loss and metrics, running averages over the epoch
 * (with val_ entries at epoch end when there is validation data). */
typedef struct keel_logs {
    int count;
    const char *const *names;
    const double *values;
} keel_logs;
/* Looks a value up by name; returns 0 and leaves *out alone if absent. */
KEEL_API int keel_logs_get(const keel_logs *logs, const char *name, double *out);

/* A user hook. Return nonzero from either function to stop training after this batch/epoch. */
typedef struct keel_callback {
    int (*on_batch_end)(keel_model *m, int epoch, int batch, const keel_logs *logs, void *user);
    int (*on_epoch_end)(keel_model *m, int epoch, const keel_logs *logs, void *user);
    void *user;
} keel_callback;

/* EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto",
 * restore_best_weights=False). Pass keel_early_stopping(...) as fit's .early_stopping. */
typedef struct keel_early_stopping_opts {
    const char *monitor;
    float min_delta;
    int patience;
    const char *mode; /* "auto", "min", "max" */
    int restore_best_weights;
} keel_early_stopping_opts;
#define keel_early_stopping(...)                                                                   \
    (&(keel_early_stopping_opts){.monitor = "val_loss", .mode = "auto", __VA_ARGS__})

/* ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, mode="auto", min_delta=1e-4,
 * cooldown=0, min_lr=0, verbose=0), tf.keras 2's rule: after `patience` epochs without an
 * improvement of more than min_delta, the rate becomes max(rate * factor, min_lr), then
 * `cooldown` epochs pass before counting again. Pass keel_reduce_lr_on_plateau(...) as fit's
 * .reduce_lr_on_plateau. factor must be below 1. */
typedef struct keel_reduce_lr_opts {
    const char *monitor;
    float factor;
    int patience;
    const char *mode;
    float min_delta;
    int cooldown;
    float min_lr;
    int verbose;
} keel_reduce_lr_opts;
#define keel_reduce_lr_on_plateau(...)                                                             \
    (&(keel_reduce_lr_opts){.monitor = "val_loss",                                                 \
                            .factor = 0.1f,                                                        \
                            .patience = 10,                                                        \
                            .mode = "auto",                                                        \
                            .min_delta = 1e-4f,                                                    \
                            __VA_ARGS__})

/* CSVLogger(filename, separator=",", append=False): one row per epoch, "epoch" then every
 * logged value in sorted key order, as Keras writes them (a value as its shortest decimal). */
typedef struct keel_csv_logger_opts {
    const char *filename;
    char separator;
    int append;
} keel_csv_logger_opts;
#define keel_csv_logger(...) (&(keel_csv_logger_opts){.separator = ',', __VA_ARGS__})

/* LearningRateScheduler(schedule): at the start of each epoch the rate becomes
 * schedule(epoch (0-based), current rate, user). */
typedef struct keel_lr_scheduler {
    double (*schedule)(int epoch, double lr, void *user);
    void *user;
} keel_lr_scheduler;

/* ModelCheckpoint(filepath, monitor="val_loss", verbose=0, save_best_only=False,
 * save_weights_only=False, mode="auto", save_freq="epoch"), tf.keras 2's behaviour: after each
 * epoch the model (keel_save) or its weights (keel_save_weights) are written to filepath
 * formatted with Python's str.format over the epoch (1-based) and the logs, e.g.
 * "ckpt/model-{epoch:02d}-{val_loss:.2f}.keras". With save_best_only, only when the monitored
 * value improved (mode "min", "max", or "auto": max for names containing "acc" and min
 * otherwise). A save that fails stops fit with its error. Pass keel_model_checkpoint(...) as
 * fit's .model_checkpoint. */
typedef struct keel_model_checkpoint_opts {
    const char *filepath;
    const char *monitor;
    int verbose;
    int save_best_only;
    int save_weights_only;
    const char *mode;
} keel_model_checkpoint_opts;
#define keel_model_checkpoint(...)                                                                 \
    (&(keel_model_checkpoint_opts){.monitor = "val_loss", .mode = "auto", __VA_ARGS__})

/* Validation tensors (borrowed). */
typedef struct keel_data {
    const keel_tensor *x, *y;
} keel_data;

/* fit(x, y, batch_size=32, epochs=1, verbose=1, validation_split=0, validation_data=None,
 * shuffle=True, initial_epoch=0). x is (N, ...) matching the input shape; y is (N, outputs),
 * or (N) / (N, 1) class indices for sparse_categorical_crossentropy. validation_split takes
 * the last fraction of the samples before shuffling. verbose 1 draws the progress bar (redrawn
 * in place on a terminal, one line per epoch in a file or pipe), 2 one line per epoch, 0
 * nothing. Returns KEEL_ERR_NAN when the loss stops being finite (naming epoch and batch),
 * leaving the weights of the last finite step. The per-epoch history: keel_model_history. */
typedef struct keel_fit_opts {
    int64_t batch_size;
    int epochs;
    int verbose;
    float validation_split;
    keel_data validation_data;
    struct keel_flow *validation_flow; /* validation from an image folder (keel_fit_flow) */
    int shuffle;
    int initial_epoch;
    const keel_early_stopping_opts *early_stopping;
    const struct keel_reduce_lr_opts *reduce_lr_on_plateau;
    const struct keel_csv_logger_opts *csv_logger;
    const struct keel_model_checkpoint_opts *model_checkpoint;
    keel_lr_scheduler lr_scheduler;
    keel_callback callback;
    FILE *out; /* where the progress bar goes; NULL: stdout */
} keel_fit_opts;
KEEL_API keel_status keel_fit_(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                               keel_fit_opts o);
#define keel_fit(m, x, y, ...)                                                                     \
    keel_fit_(                                                                                     \
        (m), (x), (y),                                                                             \
        (keel_fit_opts){.batch_size = 32, .epochs = 1, .verbose = 1, .shuffle = 1, __VA_ARGS__})

/* evaluate(x, y, batch_size=32, verbose=0): writes loss then each metric, in compile order,
 * into results[0 .. n) (n = 1 + number of metrics; see keel_model_metric_names). */
typedef struct keel_evaluate_opts {
    int64_t batch_size;
    int verbose;
    FILE *out;
} keel_evaluate_opts;
KEEL_API keel_status keel_evaluate_(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                                    double *results, int cap, keel_evaluate_opts o);
#define keel_evaluate(m, x, y, results, cap, ...)                                                  \
    keel_evaluate_((m), (x), (y), (results), (cap),                                                \
                   (keel_evaluate_opts){.batch_size = 32, __VA_ARGS__})

/* predict(x, batch_size=32): a new (N, outputs...) tensor the caller frees; NULL on error.
 * Dropout is off. opts may be NULL. */
typedef struct keel_predict_opts {
    int64_t batch_size;
} keel_predict_opts;
KEEL_API keel_tensor *keel_predict(keel_model *m, const keel_tensor *x,
                                   const keel_predict_opts *opts);

/* One optimizer step on one batch. results (may be NULL) receives the loss and metrics of that
 * batch, computed with the weights before the step. */
KEEL_API keel_status keel_train_on_batch(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                                         double *results, int cap);
KEEL_API keel_status keel_test_on_batch(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                                        double *results, int cap);
KEEL_API keel_tensor *keel_predict_on_batch(keel_model *m, const keel_tensor *x);
/* predict for a model with several outputs: one new tensor per output into out[0 .. n) (n the
 * number of outputs, returned; a negative status on error). keel_predict gives the first. */
KEEL_API int keel_predict_outputs(keel_model *m, const keel_tensor *x, keel_tensor **out, int cap);
/* predict_on_batch into a tensor the caller made, of shape (N, outputs...): no allocation after
 * the first call with the largest N, and no thread hand-off for work too small to share. */
KEEL_API keel_status keel_predict_into(keel_model *m, const keel_tensor *x, keel_tensor *out);
#define KEEL_HAS_PREDICT_INTO 1

/* Custom training steps (a GAN loss of your own, a gradient penalty): keel_compute_gradients
 * runs train_on_batch without the optimizer step, leaving d(loss + regularization)/d(weight)
 * in the model's gradient buffer (0 for weights frozen at compile) and the batch's loss and
 * metrics in results. keel_model_gradients gives that buffer, count floats in the order of
 * keel_model_weights, to read or change in place. keel_apply_gradients applies the model's
 * optimizer to it, or first copies `grads` (count floats; NULL: the buffer as it is). So
 * train_on_batch is compute + apply. */
KEEL_API keel_status keel_compute_gradients(keel_model *m, const keel_tensor *x,
                                            const keel_tensor *y, double *results, int cap);
KEEL_API float *keel_model_gradients(keel_model *m, int64_t *count);
KEEL_API keel_status keel_apply_gradients(keel_model *m, const float *grads, int64_t count);

/* "loss", then the metric names given to compile. Returns how many; names[i] stay valid while
 * the model lives. */
KEEL_API int keel_model_metric_names(const keel_model *m, const char **names, int cap);

/* The Keras summary table (tf.keras 2 layout) to `out` (NULL: stdout). */
KEEL_API keel_status keel_summary(keel_model *m, FILE *out);
KEEL_API int64_t keel_model_count_params(const keel_model *m);
/* The optimizer's learning rate now (after schedules and callbacks changed it); 0 before compile.
 */
KEEL_API double keel_model_learning_rate(const keel_model *m);

/* History of the last fit: one value per epoch for each key ("loss", "accuracy",
 * "val_loss", ...). keel_history_get returns NULL for an unknown key. */
typedef struct keel_history keel_history;
KEEL_API const keel_history *keel_model_history(const keel_model *m);
KEEL_API int keel_history_epochs(const keel_history *h);
KEEL_API int keel_history_keys(const keel_history *h, const char **keys, int cap);
KEEL_API const double *keel_history_get(const keel_history *h, const char *key);

/* Weights: a copy of all the model's weights in one flat buffer, layer by layer, each layer's in
 * creation order (Dense: kernel (in, units) row-major, then bias), taken at this call (the
 * weights themselves live in the layers, which models may share): read it; to change weights use
 * keel_set_weights or keel_layer_weight. Owned by the model, overwritten by the next call.
 * Valid after compile. */
KEEL_API float *keel_model_weights(keel_model *m, int64_t *count);
/* The model's layer `index` (0-based, in the order added); NULL if there is none. */
KEEL_API keel_layer *keel_model_layer(keel_model *m, int index);
KEEL_API int keel_model_layer_count(const keel_model *m);
/* model.inputs[i].shape / model.outputs[i].shape without the batch axis: the rank (dims into
 * dims[0 .. rank)), or a negative status (no such input or output, a model that cannot be
 * built). Builds the model (as predict would) when it is not built yet. keel_model_is_compiled
 * says whether fit / evaluate can run (a loaded model whose file held no compile config, or
 * one keel could not honour, is not). */
KEEL_API int keel_model_input_shape(keel_model *m, int index, int64_t *dims);
KEEL_API int keel_model_output_shape(keel_model *m, int index, int64_t *dims);
KEEL_API int keel_model_num_inputs(keel_model *m);
KEEL_API int keel_model_num_outputs(keel_model *m);
KEEL_API int keel_model_is_compiled(const keel_model *m);
KEEL_API const char *keel_layer_name(const keel_layer *l);
/* How many weights the layer has once built (Dense: 2, kernel and bias; 0 before). */
KEEL_API int keel_layer_weight_count(const keel_layer *l);
/* layer.get_weights(): new tensors, one per weight in Keras's order (Dense: kernel (in, units),
 * bias (units); Conv2D: kernel (KH, KW, C, filters), bias; BatchNormalization: gamma, beta,
 * moving_mean, moving_variance), written to out[0 .. min(count, cap)); the caller frees them.
 * Returns the count (0 for a layer without weights) or a negative status (a layer not yet
 * built by a compile). */
KEEL_API int keel_get_weights(keel_layer *l, keel_tensor **out, int cap);
/* layer.set_weights(w): n tensors of exactly the shapes get_weights gives, copied in. A wrong
 * count or shape is KEEL_ERR_ARG / KEEL_ERR_SHAPE naming the weight, and changes nothing. */
KEEL_API keel_status keel_set_weights(keel_layer *l, const keel_tensor *const *w, int n);
/* The storage of one weight (Dense: 0 kernel, 1 bias), count floats, to read or write in place;
 * valid while the model lives. NULL if there is no such weight. */
KEEL_API float *keel_layer_weight(keel_layer *l, int index, int64_t *count);

/* keras.utils.load_img(path, color_mode, target_size, interpolation) then img_to_array: a PNG,
 * JPEG, BMP or PPM/PGM file as a new (H, W, C) float32 tensor of pixel values 0..255, decoded
 * and resized exactly as flow_from_directory does (PIL's conversions and resampling).
 * color_mode "rgb" (default), "grayscale" or "rgba"; target_size {0, 0} keeps the file's size;
 * interpolation "nearest" (default) or "bilinear". NULL and keel_last_error naming the file. */
typedef struct keel_load_img_opts {
    const char *color_mode;
    int64_t target_size[2];
    const char *interpolation;
} keel_load_img_opts;
KEEL_API keel_tensor *keel_load_img_(const char *path, keel_load_img_opts o);
#define keel_load_img(path, ...) keel_load_img_((path), (keel_load_img_opts){__VA_ARGS__})

/* ---------------------------------------------------------------- saving and loading */

/* model.save(path): the Keras 3 ".keras" format, a zip holding metadata.json (the Keras version
 * keel writes for and keel's own), config.json (the model in Keras's schema, with its compile
 * config) and model.weights.h5 (every weight and the optimizer's state, HDF5). Keras 3 opens it
 * with keras.models.load_model. The file is written under a temporary name in the same folder,
 * flushed and renamed onto path, so a failed save leaves an earlier file whole. The model must
 * be built (compiled, or used by predict). */
KEEL_API keel_status keel_save(keel_model *m, const char *path);
/* keras.models.load_model(path): a ".keras" file (Keras 3's, tf.keras 2.15's, or keel's) or a
 * legacy ".h5" full-model file of tf.keras 2 (model.save("m.h5")). The model comes back with
 * its weights and, when the file holds a compile config keel knows, compiled with the
 * optimizer's state restored, so fit continues where it stopped. NULL and keel_last_error
 * naming the file and what is wrong (a layer class keel lacks, a shape, a damaged file). */
KEEL_API keel_model *keel_load(const char *path);
/* model.save_weights(path) / model.load_weights(path): the weights alone, Keras 3's
 * ".weights.h5" layout (the same as inside a .keras file); load_weights also reads a tf.keras 2
 * ".h5" weights or model file. Matched by layer name; a layer or shape that does not match is
 * an error naming it, and nothing is changed. The model must be built. */
KEEL_API keel_status keel_save_weights(keel_model *m, const char *path);
KEEL_API keel_status keel_load_weights(keel_model *m, const char *path);

/* ---------------------------------------------------------------- image folders */

/* ImageDataGenerator(rescale, rotation_range, width_shift_range, height_shift_range,
 * shear_range, zoom_range, horizontal_flip, vertical_flip, fill_mode="nearest", cval,
 * validation_split), with Keras's meaning of each value: rotation_range and shear_range in
 * degrees; a shift below 1 is a fraction of the width / height, 1 or more a number of pixels;
 * zoom_range z draws each axis's zoom from [1 - z, 1 + z]; fill_mode "nearest", "constant",
 * "reflect" or "wrap". A plain value, no allocation: keel_image_data_generator(.rescale = 1/255.f).
 */
typedef struct keel_image_gen {
    float rescale;
    float rotation_range;
    float width_shift_range, height_shift_range;
    float shear_range;
    float zoom_range;
    int horizontal_flip, vertical_flip;
    const char *fill_mode;
    float cval;
    float validation_split;
} keel_image_gen;
#define keel_image_data_generator(...) ((keel_image_gen){.fill_mode = "nearest", __VA_ARGS__})

/* An iterator over a folder of images sorted into class subfolders. */
typedef struct keel_flow keel_flow;

/* flow_from_directory(directory, target_size=(256, 256), color_mode="rgb",
 * class_mode="categorical", batch_size=32, shuffle=True, seed=None, subset=None,
 * interpolation="nearest"). Classes are the subfolders in sorted order; images (png, jpg, jpeg,
 * bmp, ppm, any case) are found recursively, sorted. class_mode "binary" gives y (n, 1) of 0/1,
 * "categorical" one-hot (n, K), "sparse" indices (n), "none" no y. subset "training" /
 * "validation" splits each class by the generator's validation_split (the first fraction of
 * each class's files is the validation part, as Keras does). Decoding, resizing and
 * augmentation run on `workers` background threads (default: one per four cores) ahead of the
 * training step, and keel_fit_flow gives the kernels the cores the workers leave; decoded images
 * are kept in memory when cache is set and they fit in 1 GiB. Prints "Found N images belonging to K
 * classes." unless verbose is 0. NULL and a message on a missing or empty folder, a folder with a
 * single class (binary / categorical), bad options. A file that cannot be decoded makes the batch
 * that needs it fail with a message naming it. */
typedef struct keel_flow_opts {
    int64_t target_size[2];
    const char *color_mode; /* "rgb", "grayscale", "rgba" */
    const char *class_mode; /* "categorical", "binary", "sparse", "none" */
    int64_t batch_size;
    int shuffle;
    uint64_t seed;
    const char *subset;        /* NULL, "training", "validation" */
    const char *interpolation; /* "nearest", "bilinear" */
    int cache;
    int workers;
    int verbose;
    FILE *out;
} keel_flow_opts;
KEEL_API keel_flow *keel_flow_from_directory_(const char *directory, const keel_image_gen *gen,
                                              keel_flow_opts o);
#define keel_flow_from_directory(dir, gen, ...)                                                    \
    keel_flow_from_directory_((dir), (gen),                                                        \
                              (keel_flow_opts){.target_size = {256, 256},                          \
                                               .color_mode = "rgb",                                \
                                               .class_mode = "categorical",                        \
                                               .batch_size = 32,                                   \
                                               .shuffle = 1,                                       \
                                               .interpolation = "nearest",                         \
                                               .cache = 1,                                         \
                                               .verbose = 1,                                       \
                                               __VA_ARGS__})
KEEL_API void keel_flow_free(keel_flow *f);
KEEL_API int64_t keel_flow_samples(const keel_flow *f);
/* Batches per epoch: ceil(samples / batch_size). */
KEEL_API int64_t keel_flow_steps(const keel_flow *f);
KEEL_API int keel_flow_num_classes(const keel_flow *f);
KEEL_API const char *keel_flow_class_name(const keel_flow *f, int index);
/* The i-th file (relative to the directory) in the flow's unshuffled order, and its class. */
KEEL_API const char *keel_flow_filename(const keel_flow *f, int64_t i);
KEEL_API int keel_flow_class_of(const keel_flow *f, int64_t i);
/* The next batch, like next(iterator): x (n, H, W, C) and y, borrowed until the next call.
 * y is NULL for class_mode "none". Batches run through epochs without end. */
KEEL_API keel_status keel_flow_next(keel_flow *f, const keel_tensor **x, const keel_tensor **y);
/* Back to the first batch of the first epoch. */
KEEL_API void keel_flow_reset(keel_flow *f);

/* save_img(path, x, scale=True): writes an image tensor (H, W, C) with C = 1, 3 or 4 as PNG
 * (or JPEG, by the extension .jpg / .jpeg). With scale, values are mapped from [min, max] to
 * [0, 255] as Keras's array_to_img does; without, they are clipped to [0, 255]. */
KEEL_API keel_status keel_save_img(const char *path, const keel_tensor *img, int scale);
/* Writes a batch of images as one PNG grid, e.g. a GAN's samples after each epoch: images is
 * (N, H, W) (grayscale) or (N, H, W, C) with C = 1 or 3, row-major, image i at grid row
 * i / cols, column i % cols. Values are mapped linearly from [vmin, vmax] to [0, 255] and
 * clipped, so pass 0, 1 for sigmoid outputs and -1, 1 for tanh outputs; NaN is written as 0.
 * cols = 0 means ceil(sqrt(N)); a cols above N is reduced to N. The rows are ceil(N / cols),
 * the images are 2 pixels apart, and the gaps and any empty cells of the last row are white.
 * A failed write leaves no partial file. Returns KEEL_ERR_ARG (NULL path or images, cols < 0,
 * vmin >= vmax or either not finite), KEEL_ERR_SHAPE (another shape, an empty axis, a grid
 * over 16384 pixels a side or 2^27 pixels in all), KEEL_ERR_IO (the path cannot be written)
 * or KEEL_ERR_NOMEM, with keel_last_error saying which. */
KEEL_API keel_status keel_save_image_grid(const char *path, const keel_tensor *images, int cols,
                                          float vmin, float vmax);

/* fit / evaluate / predict on a flow: one epoch is keel_flow_steps batches; the flow's batch
 * size applies. Validation, if any, comes from .validation_flow. */
KEEL_API keel_status keel_fit_flow_(keel_model *m, keel_flow *train, keel_fit_opts o);
#define keel_fit_flow(m, flow, ...)                                                                \
    keel_fit_flow_((m), (flow),                                                                    \
                   (keel_fit_opts){.epochs = 1, .verbose = 1, .shuffle = 1, __VA_ARGS__})
KEEL_API keel_status keel_evaluate_flow(keel_model *m, keel_flow *f, double *results, int cap);
/* Predictions for every image of the flow in its unshuffled order (a flow made with
 * .shuffle = 0), (samples, outputs...). */
KEEL_API keel_tensor *keel_predict_flow(keel_model *m, keel_flow *f);

/* ---------------------------------------------------------------- data */

/* Reads an IDX file (MNIST format), gzipped or not. Images come back as floats of the raw
 * bytes (0..255); labels as floats of the class index. NULL and a message naming the file and
 * offset on a bad file (truncated, corrupt gzip data with zlib's reason, a directory, declared
 * dimensions over 2^40 values). */
KEEL_API keel_tensor *keel_load_idx(const char *path);

/* keras.datasets.<name>.load_data(): name "mnist" or "fashion_mnist". On KEEL_OK the four
 * tensors are new (the caller frees them): x (N, 28, 28) of floats 0..255, y (N) of class
 * indices 0..9, 60000 training and 10000 test samples for both. The four IDX files
 * (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 * t10k-labels-idx1-ubyte, each gzipped (.gz) or not) are looked for, in this order, in
 *   $KEEL_DATA/<name>, ~/.keras/datasets/<dir>, /usr/share/datasets/<dir>
 * where <dir> is "mnist" or "fashion-mnist" (where Debian's dataset-fashion-mnist package and
 * Keras's own download put Fashion-MNIST). Statuses: KEEL_ERR_ARG (NULL, or an unknown name,
 * with the nearest known one suggested), KEEL_ERR_IO (not found: the message says where it
 * looked and what provides the files), KEEL_ERR_FORMAT (a file that is not the dataset's: the
 * file and what is wrong). On failure the four pointers are set to NULL. */
KEEL_API keel_status keel_dataset_load(const char *name, keel_tensor **x_train,
                                       keel_tensor **y_train, keel_tensor **x_test,
                                       keel_tensor **y_test);

/* to_categorical(y, num_classes): one-hot rows of class indices. y holds whole numbers >= 0,
 * shape (N) or (N, 1) giving (N, num_classes), or any other shape S giving (S..., num_classes),
 * as Keras does (a last axis of 1 is dropped first). num_classes 0 means max(y) + 1. A new
 * tensor the caller frees; NULL (KEEL_ERR_ARG) when y is NULL, num_classes is negative, or a
 * label is not a whole number >= 0 or not below num_classes (the message names its index and
 * value); NULL when the result would exceed the rank or size limits. */
KEEL_API keel_tensor *keel_to_categorical(const keel_tensor *y, int num_classes);

/* A CSV file with a header row, read as pandas.read_csv + get_dummies + a StandardScaler would:
 *  - Fields are separated by the delimiter; a field in double quotes may hold delimiters,
 *    doubled quotes ("") and line breaks (RFC 4180). Lines end in \n or \r\n; blank lines are
 *    skipped; a UTF-8 byte-order mark at the start is ignored. Empty fields are refused.
 *  - Numeric columns stay as they are; a column with any field that is not a number is
 *    categorical and becomes one 0/1 column per distinct value (sorted by bytes), named
 *    "col=value". A categorical column with more than max_categories distinct values (an id, a
 *    date, free text) is refused, naming it and its count: drop it with .drop or raise the cap.
 *  - The target column is returned apart, in y (N, 1), and must be numeric.
 *  - validation_split v keeps the order of the rows: the first n_train = floor(N * (1 - v))
 *    rows are the training rows, the rest the validation rows, exactly as Keras's
 *    fit(validation_split=v) splits (v is taken as the decimal you wrote, the shortest one
 *    the float reads back from: 0.2f, stored as 0.2000000030, is used as the double 0.2, so
 *    5 rows give 4 training rows, not 3). mean and std come from the training rows
 *    only, so nothing of the validation rows leaks into the scaler; standardize applies them
 *    to every row (a constant feature keeps std 1).
 * Errors name the file and line: unterminated quotes (at the line where the quote opened),
 * wrong field counts, empty fields, a non-numeric target, a directory, a file over 1 GiB,
 * rows x features larger than this machine's memory (named in the message, before any
 * allocation). Statuses through keel_last_error: KEEL_ERR_ARG (options, names, sizes),
 * KEEL_ERR_IO (cannot open or read), KEEL_ERR_FORMAT (the content). */
#define KEEL_CSV_MAX_DROP 32
typedef struct keel_csv {
    keel_tensor *x; /* (rows, features) */
    keel_tensor *y; /* (rows, 1); NULL from keel_csv_transform on a file without the target */
    int n_features;
    char **feature_names;
    float *mean, *std; /* per feature, over the training rows; applied when standardized */
    int64_t n_train;   /* rows [0, n_train) train, [n_train, rows) validate; rows if no split */
    struct keel_csv_schema *schema; /* internal: columns and categories, for keel_csv_transform */
} keel_csv;
typedef struct keel_csv_opts {
    const char *target;                  /* the target column's name (required) */
    int standardize;                     /* default 1 */
    char delimiter;                      /* default ',' */
    float validation_split;              /* default 0: every row is a training row */
    int max_categories;                  /* default 100 distinct values per categorical column */
    const char *drop[KEEL_CSV_MAX_DROP]; /* columns to ignore: .drop = {"id", "date"}; each
                                          * must exist (a typo is an error, with a hint) */
} keel_csv_opts;
KEEL_API keel_csv *keel_csv_load_(const char *path, keel_csv_opts o);
#define keel_csv_load(path, ...)                                                                   \
    keel_csv_load_((path), (keel_csv_opts){.standardize = 1, __VA_ARGS__})
/* The same transform on another file (a test set): its columns are found by name (any order),
 * categorical columns are one-hot encoded with the fitted categories, in the fitted feature
 * order, and the fitted mean / std are applied when the fitted file was standardized. The
 * target column may be absent (then y is NULL); the dropped columns may be absent or present;
 * any other missing or unknown column, a non-number in a numeric column and a category not
 * seen in the fitted file are errors naming file, line and column. `fitted` must come from
 * keel_csv_load and is only read. A new keel_csv (n_train = rows, no schema of its own). */
KEEL_API keel_csv *keel_csv_transform(const keel_csv *fitted, const char *path);
KEEL_API void keel_csv_free(keel_csv *c);
/* Columns of strings from a CSV with a header row (text data: a review and its label): out[k]
 * gets the rows of column names[k] (rows strings each; free each array with
 * keel_strings_free(out[k], rows)). Quoted fields with commas, "" and line breaks, CRLF and a
 * UTF-8 byte-order mark are read as keel_csv_load reads them. An unknown column is an error that
 * suggests the nearest name. */
KEEL_API keel_status keel_csv_read_columns(const char *path, int n, const char *const *names,
                                           char ***out, int64_t *rows);
KEEL_API void keel_strings_free(char **s, int64_t n);

/* text_dataset_from_directory(directory, shuffle=True, seed, validation_split, subset): the texts
 * of a folder with one subfolder per class, indexed as tf.keras 2.15 does: classes the sorted
 * subfolder names (hidden ones skipped), files below each walked in sorted order (symlinks not
 * followed), the list shuffled with NumPy's RandomState(seed).shuffle (the same order as Keras
 * for the same seed), the last int(validation_split * n) files the validation subset. Files are
 * read as bytes (the tokenizer replaces invalid UTF-8 as Python does; a NUL byte reads as a
 * space). Keras 2.15 indexes only ".txt" files; keel takes every file unless .formats lists the
 * extensions (".txt" or ".txt,.md"). Prints "Found N files belonging to K classes." unless
 * verbose is 0. Free with keel_text_dataset_free. */
typedef struct keel_text_dataset {
    int64_t n;
    char **texts;    /* the file contents, NUL-terminated */
    char **paths;    /* relative to the folder: "pos/review_1.txt" */
    int32_t *labels; /* class index of each */
    int n_classes;
    char **class_names; /* the subfolders, sorted */
} keel_text_dataset;
typedef struct keel_text_dataset_opts {
    int shuffle;
    uint64_t seed;
    float validation_split;
    const char *subset; /* "training", "validation" (with validation_split), NULL */
    const char *formats;
    int verbose;
    FILE *out;
} keel_text_dataset_opts;
KEEL_API keel_text_dataset *keel_text_dataset_from_directory_(const char *directory,
                                                              keel_text_dataset_opts o);
#define keel_text_dataset_from_directory(dir, ...)                                                 \
    keel_text_dataset_from_directory_(                                                             \
        (dir), (keel_text_dataset_opts){.shuffle = 1, .verbose = 1, __VA_ARGS__})
KEEL_API void keel_text_dataset_free(keel_text_dataset *d);

/* ---------------------------------------------------------------- NumPy arrays */

/* NumPy's .npy files (np.save / np.load) and .npz archives (np.savez, np.savez_compressed), so
 * arrays move between Python and C without CSV.
 *
 * Reading (keel_load_npy, keel_npz_get): format versions 1.0, 2.0 and 3.0, C order. The
 * dtypes read, little-endian ('<'), big-endian ('>') or byte-order free ('|'), and what they
 * become:
 *     float32 -> float32          float64 -> float32 (rounded to nearest; beyond float32's
 *                                            range -> +-inf, as astype(np.float32) gives)
 *     int32   -> int32            int64   -> int32, when every value fits (else an error that
 *                                            names the first value that does not, and where)
 *     uint8   -> float32 0..255   bool    -> float32 0 / 1 (images and masks: Keras users
 *                                            feed uint8 images as floats, x / 255.0)
 * A scalar (shape ()) becomes a (1,) tensor; a 0 in the shape gives an empty tensor; more axes
 * than KEEL_MAX_RANK is an error. Refused, with a message naming the file and what it holds:
 * Fortran order (unless at most one axis is longer than 1: then the bytes are the same as in
 * C order), object arrays ('O', pickled Python objects), structured dtypes, any other
 * dtype (float16, strings, ...), a header that is not a dict literal with exactly the keys
 * descr, fortran_order and shape (NumPy's own check), a header over NumPy's 10000-byte limit,
 * a shape with junk, negative or overflowing dimensions, and a file whose length is not the
 * header plus exactly the data the shape declares (truncated, or bytes after the data).
 * Statuses: KEEL_ERR_ARG (NULL), KEEL_ERR_IO (cannot open or read; a directory),
 * KEEL_ERR_FORMAT (the content), KEEL_ERR_NOMEM. */

/* np.load(path) of a .npy file: a new tensor the caller frees; NULL and keel_last_error
 * ("<path>: <what is wrong>") on failure. */
KEEL_API keel_tensor *keel_load_npy(const char *path);

/* np.save(path, t): writes format 1.0, C order, '<f4' for a float32 tensor and '<i4' for an
 * int32 one, with NumPy 1.24's exact header (the same bytes np.save writes for that array).
 * The path is used as given (np.save would add ".npy"). The file is written under a temporary
 * name in the same folder, flushed to disk and renamed onto path, so a failed save (a missing
 * folder, a full disk) leaves no partial file and never destroys an existing one. Returns
 * KEEL_ERR_ARG (NULL path or t, a tensor list), KEEL_ERR_IO (with the system's reason). */
KEEL_API keel_status keel_save_npy(const char *path, const keel_tensor *t);

/* An open .npz archive (np.load(path) of an .npz: an NpzFile). Members are read when asked
 * for, as NumPy reads them, so one unreadable array (a string array beside the numbers) does
 * not stop the others. The handle keeps the file open until keel_npz_free; use it from one
 * thread at a time. */
typedef struct keel_npz keel_npz;

/* Opens an .npz and checks its directory: every member must be "<name>.npy", each name
 * once. NULL and keel_last_error on a file that is not a zip (an empty or truncated one
 * included), a member that breaks those rules (named in the message), and the statuses
 * above. */
KEEL_API keel_npz *keel_load_npz(const char *path);
/* The number of arrays, and the i-th one's name without ".npy", in archive order (np.savez
 * writes keyword arrays in argument order, positional ones as "arr_0", "arr_1", ...). The name
 * is valid until keel_npz_free; NULL for i out of range. */
KEEL_API int keel_npz_count(const keel_npz *z);
KEEL_API const char *keel_npz_name(const keel_npz *z, int i);
/* z[name]: the array as a new tensor the caller frees, converted as keel_load_npy converts
 * ("x" and "x.npy" both work). NULL and keel_last_error ("<path>: <member>: ...") for an
 * unknown name (KEEL_ERR_ARG, with the nearest one suggested), a member that is not stored or
 * deflated (what np.savez and np.savez_compressed write) or is encrypted, a member that is not
 * a valid .npy of a dtype above, zip sizes that disagree with the array its header declares
 * or that deflate cannot produce (a zip bomb is refused before anything past the header is
 * inflated), or corrupt compressed data or CRC. */
KEEL_API keel_tensor *keel_npz_get(keel_npz *z, const char *name);
/* Closes the archive; keel_npz_free(NULL) does nothing. Tensors from keel_npz_get stay valid. */
KEEL_API void keel_npz_free(keel_npz *z);

/* np.savez(path, **{names[i]: tensors[i]}): an archive NumPy (and keel_load_npz) reads, one
 * stored member "<name>.npy" per tensor, each the bytes keel_save_npy would write, dated
 * 1980-01-01 like np.savez's. n = 0 writes an empty archive. Written under a temporary name,
 * flushed and renamed as keel_save_npy is. Returns KEEL_ERR_ARG (NULL path, NULL arrays with
 * n > 0, n < 0, a NULL, empty or repeated name, a NULL tensor or a tensor list), KEEL_ERR_IO,
 * KEEL_ERR_NOMEM. */
KEEL_API keel_status keel_save_npz(const char *path, int n, const char *const *names,
                                   const keel_tensor *const *tensors);

/* ---------------------------------------------------------------- text */

/* tf.keras 2's text preprocessing (keras.preprocessing.text.Tokenizer and
 * keras.utils.pad_sequences), with the same results as Python, token for token:
 *
 *  - Text is UTF-8. Lowercasing is Python's str.lower (Unicode full case mapping, ICU's root
 *    locale: "İ" becomes "i" + U+0307, a final "Σ" becomes "ς", "ẞ" becomes "ß"). Bytes that are
 *    not valid UTF-8 are read as Python's bytes.decode("utf-8", errors="replace") reads them:
 *    each maximal invalid subsequence becomes one U+FFFD, which then is a character like any
 *    other (Keras, working on Python str, never sees such bytes). Everything else passes
 *    through intact.
 *  - A word is what text_to_word_sequence gives: lowercase (with lower), replace each character
 *    of filters by split, split on split, drop empty pieces. With char_level every character
 *    (code point) is a token, filters and split are not used, spaces are tokens too.
 *  - Texts are arrays of n NUL-terminated strings; n = 0 is allowed wherever Keras allows an
 *    empty list. A NULL tokenizer, NULL texts (with n > 0), a NULL entry or n < 0 is
 *    KEEL_ERR_ARG naming the argument (and the index of the entry).
 *  - Strings keel returns (keel_tokenizer_to_json, keel_tokenizer_sequences_to_texts) are one
 *    malloc'd block each: the caller releases them with free(). Strings that accessors return
 *    are borrowed and valid until the next fit or keel_tokenizer_free.
 *  - Calls that only read a tokenizer (texts_to_sequences, texts_to_matrix, sequences_to_texts,
 *    the accessors) may run on several threads at once; fit_on_texts needs it alone. */

/* The default filters of Tokenizer and text_to_word_sequence: ASCII punctuation except the
 * apostrophe, plus tab and newline. */
#define KEEL_TOKENIZER_FILTERS "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n"

typedef struct keel_tokenizer keel_tokenizer;

/* Tokenizer(num_words=None, filters=KEEL_TOKENIZER_FILTERS, lower=True, split=" ",
 * char_level=False, oov_token=None). num_words 0 means None (keep every word); otherwise only
 * indices below num_words are kept, i.e. the num_words - 1 most frequent words (the OOV token
 * counting as one). filters NULL means the default set, "" filters nothing. split NULL means
 * " "; it may be several characters; "" is refused (Python's str.split refuses it) unless
 * char_level. lower and char_level are plain flags (the macro sets lower = 1). NULL and
 * KEEL_ERR_ARG on num_words < 0, an empty split, or filters / split / oov_token that are not
 * valid UTF-8. */
typedef struct keel_tokenizer_opts {
    int64_t num_words;
    const char *filters;
    int lower;
    const char *split;
    int char_level;
    const char *oov_token; /* NULL: none; otherwise it takes index 1 at the next fit */
} keel_tokenizer_opts;
KEEL_API keel_tokenizer *keel_tokenizer_new_(keel_tokenizer_opts o);
#define keel_tokenizer_new(...) keel_tokenizer_new_((keel_tokenizer_opts){.lower = 1, __VA_ARGS__})
KEEL_API void keel_tokenizer_free(keel_tokenizer *t);

/* fit_on_texts(texts): counts every word (word_counts, in order of first appearance), the
 * documents each word appears in (word_docs) and the documents (document_count); then
 * rebuilds word_index: index 0 is reserved, the OOV token (if any) is 1, then the words by
 * count, most frequent first, ties in order of first appearance (Python's stable sort).
 * Fitting again adds to the counts, as Keras does; unlike Keras, a tokenizer loaded from
 * JSON can be fitted further (Keras raises KeyError on a new word there). KEEL_ERR_ARG as in
 * the notes above, KEEL_ERR_NOMEM (the tokenizer may then hold part of the texts). */
KEEL_API keel_status keel_tokenizer_fit_on_texts(keel_tokenizer *t, const char *const *texts,
                                                 int64_t n);

/* A list of integer sequences of different lengths (Python's list of lists): sequence i is
 * values[offsets[i] .. offsets[i + 1]). keel returns it from texts_to_sequences; you may also
 * fill one yourself, for keel_pad_sequences or keel_tokenizer_sequences_to_texts:
 *   keel_sequences s = {.count = 2, .offsets = (int64_t[]){0, 3, 4},
 *                       .values = (int32_t[]){5, 1, 2, 7}};      // [[5, 1, 2], [7]]
 * (offsets must start at 0 or more and never decrease). Only what keel returned goes to
 * keel_sequences_free. */
typedef struct keel_sequences {
    int64_t count;
    int64_t *offsets; /* count + 1 entries */
    int32_t *values;
} keel_sequences;
/* The length of sequence i and its values; 0 and NULL for an i out of range. */
KEEL_API int64_t keel_sequences_length(const keel_sequences *s, int64_t i);
KEEL_API const int32_t *keel_sequences_at(const keel_sequences *s, int64_t i);
KEEL_API void keel_sequences_free(keel_sequences *s);

/* texts_to_sequences(texts): each text as the word_index indices of its words. A word not in
 * word_index is dropped, or becomes the OOV token's index when there is an OOV token; so is a
 * word whose index is num_words or more. A new keel_sequences (keel_sequences_free), NULL and
 * keel_last_error on bad arguments, and KEEL_ERR_STATE where Keras would produce None: an OOV
 * token that word_index does not hold (an unfitted tokenizer) meeting an unknown word. */
KEEL_API keel_sequences *keel_tokenizer_texts_to_sequences(const keel_tokenizer *t,
                                                           const char *const *texts, int64_t n);
/* sequences_to_texts(sequences): each sequence as its words (index_word) joined by single
 * spaces; indices with no word are dropped, or become the OOV token when there is one, and so
 * do indices of num_words or more. Returns s->count strings and a NULL after them, in one
 * block: free(result) releases it all. NULL and keel_last_error on a NULL argument, a
 * malformed s, or an OOV index that index_word lacks (Keras's KeyError). */
KEEL_API char **keel_tokenizer_sequences_to_texts(const keel_tokenizer *t, const keel_sequences *s);
/* texts_to_matrix(texts, mode) and sequences_to_matrix(sequences, mode): a new (n, W) tensor,
 * W = num_words, or len(word_index) + 1 when num_words is None. Row i, column j, for an index
 * j that occurs c times in sequence i of length L (indices >= W are skipped but count in L):
 *   "binary" 1, "count" c, "freq" c / L,
 *   "tfidf"  (1 + ln c) * ln(1 + document_count / (1 + index_docs[j]))  (index_docs[j]: the
 *            documents of the fit that held word j; 0 if none),
 * computed in double as numpy does, then stored as float32. mode NULL means "binary".
 * KEEL_ERR_ARG on an unknown mode (refused even when no row would use it) or a negative index
 * in s; KEEL_ERR_STATE with no num_words and an empty word_index, or "tfidf" before any fit
 * (Keras's ValueErrors). */
KEEL_API keel_tensor *keel_tokenizer_texts_to_matrix(const keel_tokenizer *t,
                                                     const char *const *texts, int64_t n,
                                                     const char *mode);
KEEL_API keel_tensor *keel_tokenizer_sequences_to_matrix(const keel_tokenizer *t,
                                                         const keel_sequences *s, const char *mode);

/* The fitted state, as Keras's attributes. Lookups take words exactly as stored (already
 * lowercased and filtered); a word that is absent, or NULL, gives 0 (index 0 is never a
 * word's). */
KEEL_API int64_t keel_tokenizer_word_index(const keel_tokenizer *t, const char *word);
KEEL_API const char *keel_tokenizer_index_word(const keel_tokenizer *t, int64_t index);
KEEL_API int64_t keel_tokenizer_word_count(const keel_tokenizer *t, const char *word);
KEEL_API int64_t keel_tokenizer_word_docs(const keel_tokenizer *t, const char *word);
KEEL_API int64_t keel_tokenizer_document_count(const keel_tokenizer *t);
/* len(word_index) (the OOV token included), and its i-th entry in Keras's order (OOV first,
 * then by frequency): the word, with its index in *index (if index is not NULL). NULL for an i
 * out of range. */
KEEL_API int64_t keel_tokenizer_word_index_size(const keel_tokenizer *t);
KEEL_API const char *keel_tokenizer_word_index_item(const keel_tokenizer *t, int64_t i,
                                                    int64_t *index);
/* len(word_counts) and its i-th entry in order of first appearance, with its count. */
KEEL_API int64_t keel_tokenizer_word_counts_size(const keel_tokenizer *t);
KEEL_API const char *keel_tokenizer_word_counts_item(const keel_tokenizer *t, int64_t i,
                                                     int64_t *count);

/* tokenizer.to_json(): Keras's own format, byte for byte as Python's json.dumps writes it
 * ({"class_name": "Tokenizer", "config": {...}} with the five dictionaries as JSON strings,
 * non-ASCII as \uXXXX), so keras.preprocessing.text.tokenizer_from_json reads it. word_docs
 * and index_docs are in order of first appearance (Python's follow its set order, which
 * varies from run to run). A malloc'd string the caller frees with free(); NULL on NULL or no
 * memory. */
KEEL_API char *keel_tokenizer_to_json(const keel_tokenizer *t);
/* tokenizer_from_json(json): a tokenizer from Keras's JSON (or keel's). Dictionaries keep
 * their order. NULL and KEEL_ERR_FORMAT with a message naming the field on: text that is not
 * JSON (with line and column), a missing "config" or dictionary, a wrong type (a count that is
 * not an integer, an index key that is not a decimal integer), an unknown config key (Keras's
 * TypeError), numbers out of range (counts < 0, indices outside 0..2^31-1, integers past 64
 * bits), nesting deeper than 2048, "\u0000" in a string, a word_docs word absent from
 * word_counts; KEEL_ERR_ARG on NULL. */
KEEL_API keel_tokenizer *keel_tokenizer_from_json(const char *json);

/* pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
 * value=0): a new (count, maxlen) tensor. maxlen 0 means None: the longest sequence's length.
 * Sequences longer than maxlen lose their first values ("pre") or their last ("post");
 * shorter ones get value before ("pre") or after ("post"). Keras returns int32; keel's tensors
 * are float32, so the result holds whole numbers as floats, and value is truncated toward zero
 * as numpy's int32 cast does (0.5 pads with 0, -1.7 with -1). Every value must be exact in
 * float32: KEEL_ERR_ARG on a sequence value or pad value beyond +-2^24 (16777216), a value
 * that is not finite, maxlen < 0, a padding / truncating other than "pre" / "post" (NULL means
 * "pre"), a malformed s, or no sequences with maxlen None (Keras's ValueError). */
typedef struct keel_pad_opts {
    int64_t maxlen;
    const char *padding;
    const char *truncating;
    float value;
} keel_pad_opts;
KEEL_API keel_tensor *keel_pad_sequences_(const keel_sequences *s, keel_pad_opts o);
#define keel_pad_sequences(s, ...)                                                                 \
    keel_pad_sequences_((s), (keel_pad_opts){.padding = "pre", .truncating = "pre", __VA_ARGS__})

#ifdef __cplusplus
}
#endif
#endif /* KEEL_H */
