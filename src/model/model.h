/* model.h: the Sequential model, its compile state and the pieces fit is made of. */
#ifndef KEEL_MODEL_H
#define KEEL_MODEL_H

#include "../train/train.h"

#define KEEL_HIST_MAX_KEYS (2 * (KEEL_MAX_METRICS + 1))

struct keel_history {
    int epochs, cap;
    int n_keys;
    char keys[KEEL_HIST_MAX_KEYS][56];
    double *vals[KEEL_HIST_MAX_KEYS];
};

struct keel_model {
    char name[64];
    keel_layer **layers;
    int n_layers, cap_layers;
    keel_status status; /* first error, kept */
    char error[KEEL_ERR_CAP];
    uint64_t seed;
    bool compiled;
    keel_graph g;
    keel_node *input, *output;
    keel_param **params;
    int n_params;
    float *weights, *grads;
    int64_t n_weights;
    keel_optimizer opt;
    keel_loss loss;
    keel_metric metrics[KEEL_MAX_METRICS];
    int n_metrics;
    const char *names[KEEL_MAX_METRICS + 1]; /* "loss", metric names */
    keel_ctx ctx;
    float *ybuf; /* gathered targets of one batch */
    int64_t ybuf_cap;
    keel_history hist;
};

/* Records err as the model's error if it has none yet; returns err. */
keel_status keel_model_fail(keel_model *m, keel_status err);
/* Returns the model's kept error (restating it as the thread's last error), or KEEL_OK. */
keel_status keel_model_check(keel_model *m, const char *fn);

/* Checks x (and y when not NULL) against the compiled model; resolves "accuracy". */
keel_status keel_check_data(keel_model *m, const char *fn, const keel_tensor *x, const keel_tensor *y);
/* Per-sample floats of y for the compiled loss. */
int64_t keel_target_size(const keel_model *m);
/* Keras's validation split point floor(N * (1 - split)), with split taken as the shortest
 * decimal that rounds to the float given (0.2f is 0.2000000030, which Keras never sees). */
int64_t keel_split_at(int64_t N, float split);
/* KEEL_ERR_NAN naming the first weight that is NaN or infinite (after epoch `epoch`, 0-based). */
keel_status keel_model_check_weights(keel_model *m, const char *fn, int epoch);
/* Makes room for batch n (graph buffers and the target buffer). */
keel_status keel_model_reserve(keel_model *m, int64_t n);

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

#endif
