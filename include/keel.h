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
    KEEL_ERR_ARG = -1,      /* a bad argument: NULL, out of range, unknown name */
    KEEL_ERR_SHAPE = -2,    /* shapes that do not fit together */
    KEEL_ERR_STATE = -3,    /* wrong call order: fit before compile, add after compile */
    KEEL_ERR_IO = -4,       /* a file that cannot be opened or read */
    KEEL_ERR_FORMAT = -5,   /* a file whose content is not what it claims */
    KEEL_ERR_NOMEM = -6,    /* out of memory */
    KEEL_ERR_NAN = -7,      /* a NaN or infinite loss stopped training */
    KEEL_STATUS_COUNT = 8
} keel_status;

/* The message of the last error raised on this thread: one line, never NULL ("" if none). */
KEEL_API const char *keel_last_error(void);
/* A short name for a status ("shape error"). */
KEEL_API const char *keel_status_name(keel_status s);

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
#define KEEL_SHAPE(...)                                                                           \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

/* A new tensor of zeros. NULL (and keel_last_error) on a bad shape or no memory. */
KEEL_API keel_tensor *keel_tensor_new(int rank, const int64_t *dims);
/* A new tensor holding a copy of `data` (dims[0] * ... * dims[rank-1] floats). */
KEEL_API keel_tensor *keel_tensor_from_data(int rank, const int64_t *dims, const float *data);
/* A new tensor holding rows [start, start + count) of t along axis 0 (a copy). */
KEEL_API keel_tensor *keel_tensor_slice(const keel_tensor *t, int64_t start, int64_t count);
/* A copy of t with a new shape of the same size. */
KEEL_API keel_tensor *keel_tensor_reshape(const keel_tensor *t, int rank, const int64_t *dims);
KEEL_API void keel_tensor_free(keel_tensor *t);
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
#define keel_conv2d(...) keel_conv2d_((keel_conv2d_opts){.use_bias = 1, .padding = "valid", __VA_ARGS__})

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
#define keel_max_pooling2d(...)                                                                   \
    keel_max_pooling2d_((keel_pool2d_opts){.pool_size = {2, 2}, .padding = "valid", __VA_ARGS__})
#define keel_average_pooling2d(...)                                                               \
    keel_average_pooling2d_((keel_pool2d_opts){.pool_size = {2, 2}, .padding = "valid", __VA_ARGS__})

/* GlobalAveragePooling2D / GlobalMaxPooling2D: (N, H, W, C) -> (N, C). */
typedef struct keel_global_pool2d_opts {
    int64_t input_shape[KEEL_MAX_RANK];
    const char *name;
} keel_global_pool2d_opts;
KEEL_API keel_layer *keel_global_average_pooling2d_(keel_global_pool2d_opts o);
KEEL_API keel_layer *keel_global_max_pooling2d_(keel_global_pool2d_opts o);
#define keel_global_average_pooling2d(...)                                                        \
    keel_global_average_pooling2d_((keel_global_pool2d_opts){__VA_ARGS__})
#define keel_global_max_pooling2d(...) keel_global_max_pooling2d_((keel_global_pool2d_opts){__VA_ARGS__})

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
#define keel_batch_normalization(...)                                                             \
    keel_batch_normalization_((keel_batch_normalization_opts){                                    \
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
#define keel_zero_padding2d(...)                                                                  \
    keel_zero_padding2d_((keel_zero_padding2d_opts){.padding = {1, 1}, __VA_ARGS__})

/* Frees a layer that was never added to a model. */
KEEL_API void keel_layer_free(keel_layer *l);

/* ---------------------------------------------------------------- models */

typedef struct keel_model keel_model;

/* A new, empty Sequential model; name NULL means "sequential". NULL only when out of memory. */
KEEL_API keel_model *keel_sequential(const char *name);
KEEL_API void keel_model_free(keel_model *m);
/* Appends a layer; the model owns it from now on (also on failure). A NULL layer (a
 * constructor that failed) records that constructor's error on the model. */
KEEL_API keel_status keel_add(keel_model *m, keel_layer *layer);
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
    float momentum;     /* sgd, rmsprop */
    int nesterov;       /* sgd */
    float beta_1, beta_2; /* adam, adamw */
    int amsgrad;        /* adam, adamw */
    float epsilon;
    float rho;          /* rmsprop */
    int centered;       /* rmsprop */
    float initial_accumulator_value; /* adagrad */
    float weight_decay; /* decoupled, w -= w * weight_decay * lr (adamw; any optimizer) */
    float clipnorm;     /* per weight tensor */
    float global_clipnorm;
    float clipvalue;
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
typedef struct keel_compile_opts {
    const char *optimizer;
    keel_optimizer_opts optimizer_opts;
    const char *loss;
    keel_loss_opts loss_opts;
    const char *metrics[KEEL_MAX_METRICS];
} keel_compile_opts;
KEEL_API keel_status keel_compile_(keel_model *m, keel_compile_opts o);
#define keel_compile(m, ...) keel_compile_((m), (keel_compile_opts){.optimizer = "rmsprop", __VA_ARGS__})

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
#define keel_early_stopping(...)                                                                  \
    (&(keel_early_stopping_opts){.monitor = "val_loss", .mode = "auto", __VA_ARGS__})

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
    keel_callback callback;
    FILE *out; /* where the progress bar goes; NULL: stdout */
} keel_fit_opts;
KEEL_API keel_status keel_fit_(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                               keel_fit_opts o);
#define keel_fit(m, x, y, ...)                                                                    \
    keel_fit_((m), (x), (y),                                                                      \
              (keel_fit_opts){.batch_size = 32, .epochs = 1, .verbose = 1, .shuffle = 1,          \
                              __VA_ARGS__})

/* evaluate(x, y, batch_size=32, verbose=0): writes loss then each metric, in compile order,
 * into results[0 .. n) (n = 1 + number of metrics; see keel_model_metric_names). */
typedef struct keel_evaluate_opts {
    int64_t batch_size;
    int verbose;
    FILE *out;
} keel_evaluate_opts;
KEEL_API keel_status keel_evaluate_(keel_model *m, const keel_tensor *x, const keel_tensor *y,
                                    double *results, int cap, keel_evaluate_opts o);
#define keel_evaluate(m, x, y, results, cap, ...)                                                 \
    keel_evaluate_((m), (x), (y), (results), (cap), (keel_evaluate_opts){.batch_size = 32, __VA_ARGS__})

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

/* "loss", then the metric names given to compile. Returns how many; names[i] stay valid while
 * the model lives. */
KEEL_API int keel_model_metric_names(const keel_model *m, const char **names, int cap);

/* The Keras summary table (tf.keras 2 layout) to `out` (NULL: stdout). */
KEEL_API keel_status keel_summary(keel_model *m, FILE *out);
KEEL_API int64_t keel_model_count_params(const keel_model *m);

/* History of the last fit: one value per epoch for each key ("loss", "accuracy",
 * "val_loss", ...). keel_history_get returns NULL for an unknown key. */
typedef struct keel_history keel_history;
KEEL_API const keel_history *keel_model_history(const keel_model *m);
KEEL_API int keel_history_epochs(const keel_history *h);
KEEL_API int keel_history_keys(const keel_history *h, const char **keys, int cap);
KEEL_API const double *keel_history_get(const keel_history *h, const char *key);

/* Weights: all trainable weights of the model in one flat buffer, layer by layer, each layer's
 * in creation order (Dense: kernel (in, units) row-major, then bias). Valid after compile. */
KEEL_API float *keel_model_weights(keel_model *m, int64_t *count);
/* One layer's weight `index` (Dense: 0 kernel, 1 bias); NULL if there is no such weight. */
KEEL_API keel_layer *keel_model_layer(keel_model *m, int index);
KEEL_API int keel_model_layer_count(const keel_model *m);
KEEL_API const char *keel_layer_name(const keel_layer *l);
KEEL_API float *keel_layer_weight(keel_layer *l, int index, int64_t *count);

/* ---------------------------------------------------------------- image folders */

/* ImageDataGenerator(rescale, rotation_range, width_shift_range, height_shift_range,
 * shear_range, zoom_range, horizontal_flip, vertical_flip, fill_mode="nearest", cval,
 * validation_split), with Keras's meaning of each value: rotation_range and shear_range in
 * degrees; a shift below 1 is a fraction of the width / height, 1 or more a number of pixels;
 * zoom_range z draws each axis's zoom from [1 - z, 1 + z]; fill_mode "nearest", "constant",
 * "reflect" or "wrap". A plain value, no allocation: keel_image_data_generator(.rescale = 1/255.f). */
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
 * training step, and keel_fit_flow gives the kernels the cores the workers leave; decoded images are kept in memory when cache is set and they fit in 1 GiB. Prints
 * "Found N images belonging to K classes." unless verbose is 0. NULL and a message on a
 * missing or empty folder, a folder with a single class (binary / categorical), bad options. A
 * file that cannot be decoded makes the batch that needs it fail with a message naming it. */
typedef struct keel_flow_opts {
    int64_t target_size[2];
    const char *color_mode;    /* "rgb", "grayscale", "rgba" */
    const char *class_mode;    /* "categorical", "binary", "sparse", "none" */
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
#define keel_flow_from_directory(dir, gen, ...)                                                   \
    keel_flow_from_directory_((dir), (gen),                                                       \
                              (keel_flow_opts){.target_size = {256, 256}, .color_mode = "rgb",    \
                                               .class_mode = "categorical", .batch_size = 32,     \
                                               .shuffle = 1, .interpolation = "nearest",          \
                                               .cache = 1, .verbose = 1, __VA_ARGS__})
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

/* fit / evaluate / predict on a flow: one epoch is keel_flow_steps batches; the flow's batch
 * size applies. Validation, if any, comes from .validation_flow. */
KEEL_API keel_status keel_fit_flow_(keel_model *m, keel_flow *train, keel_fit_opts o);
#define keel_fit_flow(m, flow, ...)                                                               \
    keel_fit_flow_((m), (flow), (keel_fit_opts){.epochs = 1, .verbose = 1, .shuffle = 1, __VA_ARGS__})
KEEL_API keel_status keel_evaluate_flow(keel_model *m, keel_flow *f, double *results, int cap);
/* Predictions for every image of the flow in its unshuffled order (a flow made with
 * .shuffle = 0), (samples, outputs...). */
KEEL_API keel_tensor *keel_predict_flow(keel_model *m, keel_flow *f);

/* ---------------------------------------------------------------- data */

/* Reads an IDX file (MNIST format), gzipped or not. Images come back as floats of the raw
 * bytes (0..255); labels as floats of the class index. NULL and a message naming the file and
 * offset on a bad file. */
KEEL_API keel_tensor *keel_load_idx(const char *path);

/* A CSV file with a header row. Numeric columns stay as they are; a column with any non-numeric
 * field is categorical and becomes one one-hot column per distinct value (sorted), named
 * "col=value". The target column is returned apart, in y (N, 1). Features are standardized
 * (zero mean, unit variance over the rows) when standardize is set. */
typedef struct keel_csv {
    keel_tensor *x;      /* (rows, features) */
    keel_tensor *y;      /* (rows, 1) */
    int n_features;
    char **feature_names;
    float *mean, *std;   /* per feature, when standardized */
} keel_csv;
typedef struct keel_csv_opts {
    const char *target;  /* the target column's name (required) */
    int standardize;
    char delimiter;      /* default ',' */
} keel_csv_opts;
KEEL_API keel_csv *keel_csv_load_(const char *path, keel_csv_opts o);
#define keel_csv_load(path, ...) keel_csv_load_((path), (keel_csv_opts){.standardize = 1, __VA_ARGS__})
KEEL_API void keel_csv_free(keel_csv *c);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_H */
