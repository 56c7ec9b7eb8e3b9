/* progbar.c: the tf.keras 2 progress bar and the per-epoch history.
 *
 * verbose 1: "1875/1875 [==============================] - 3s 2ms/step - loss: 0.2962 - ...",
 * redrawn in place (\r) on a terminal at most every 50 ms; to a file or pipe only the final
 * line of each epoch is written, so logs stay clean. verbose 2: one line per epoch,
 * "1875/1875 - 4s - loss: ... - 4s/epoch - 2ms/step". */
#include "model.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double keel_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int keel_logs_get(const keel_logs *logs, const char *name, double *out) {
    if (!logs || !name) return 0;
    for (int i = 0; i < logs->count; i++)
        if (!strcmp(logs->names[i], name)) {
            if (out) *out = logs->values[i];
            return 1;
        }
    return 0;
}

void keel_progbar_start(keel_progbar *pb, FILE *out, int verbose, int64_t target) {
    memset(pb, 0, sizeof *pb);
    pb->out = out;
    pb->verbose = verbose;
    pb->target = target;
    pb->start = keel_now();
    pb->dynamic = verbose == 1 && isatty(fileno(out));
}

static int format_time(char *buf, size_t cap, double t, const char *unit) {
    if (t >= 1 || t == 0) return snprintf(buf, cap, "%.0fs/%s", t, unit);
    if (t >= 1e-3) return snprintf(buf, cap, "%.0fms/%s", t * 1e3, unit);
    return snprintf(buf, cap, "%.0fus/%s", t * 1e6, unit);
}

static int format_logs(char *buf, size_t cap, const keel_logs *logs, bool use_abs) {
    int n = 0;
    for (int i = 0; logs && i < logs->count && (size_t)n < cap; i++) {
        double v = logs->values[i], a = use_abs ? fabs(v) : v;
        n += snprintf(buf + n, cap - (size_t)n, a > 1e-3 ? " - %s: %.4f" : " - %s: %.4e",
                      logs->names[i], v);
    }
    return n;
}

void keel_progbar_update(keel_progbar *pb, int64_t current, const keel_logs *logs, bool finalize) {
    if (pb->verbose == 0) return;
    double now = keel_now();
    if (current == 1) pb->after_first = now;
    if (pb->verbose == 2 && !finalize) return;
    if (pb->verbose == 1 && !finalize && (!pb->dynamic || now - pb->last_update < 0.05)) return;
    pb->last_update = now;
    double per_step = (current > 1 && pb->after_first > 0)
                          ? (now - pb->after_first) / (double)(current - 1)
                          : (now - pb->start) / (double)(current ? current : 1);
    int digits = 1;
    for (int64_t t = pb->target; t >= 10; t /= 10)
        digits++;
    char line[2048];
    int n = 0;
    if (pb->verbose == 1) {
        n += snprintf(line + n, sizeof line - (size_t)n, "%*lld/%lld [", digits, (long long)current,
                      (long long)pb->target);
        int width = 30, filled = (int)(width * (double)current / (double)pb->target);
        for (int i = 0; i < filled - 1; i++)
            line[n++] = '=';
        if (filled > 0) line[n++] = current < pb->target ? '>' : '=';
        for (int i = filled; i < width; i++)
            line[n++] = '.';
        line[n++] = ']';
        if (finalize) {
            char t[64];
            format_time(t, sizeof t, per_step, "step");
            n += snprintf(line + n, sizeof line - (size_t)n, " - %.0fs %s", now - pb->start, t);
        } else {
            double eta = per_step * (double)(pb->target - current);
            if (eta > 3600)
                n += snprintf(line + n, sizeof line - (size_t)n, " - ETA: %d:%02d:%02d",
                              (int)eta / 3600, ((int)eta % 3600) / 60, (int)eta % 60);
            else if (eta > 60)
                n += snprintf(line + n, sizeof line - (size_t)n, " - ETA: %d:%02d", (int)eta / 60,
                              (int)eta % 60);
            else
                n += snprintf(line + n, sizeof line - (size_t)n, " - ETA: %ds", (int)eta);
        }
        n += format_logs(line + n, sizeof line - (size_t)n, logs, true);
    } else {
        char t1[64], t2[64];
        double epoch_time = now - pb->start;
        format_time(t1, sizeof t1, epoch_time, "epoch");
        format_time(t2, sizeof t2, epoch_time / (double)pb->target, "step");
        n += snprintf(line + n, sizeof line - (size_t)n, "%*lld/%lld - %.0fs", digits,
                      (long long)current, (long long)pb->target, epoch_time);
        n += format_logs(line + n, sizeof line - (size_t)n, logs, false);
        n += snprintf(line + n, sizeof line - (size_t)n, " - %s - %s", t1, t2);
    }
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    line[n] = 0;
    if (pb->dynamic) {
        fputc('\r', pb->out);
        fputs(line, pb->out);
        for (int i = n; i < pb->prev_width; i++)
            fputc(' ', pb->out);
        pb->prev_width = n;
        if (finalize) fputc('\n', pb->out);
    } else {
        fputs(line, pb->out);
        fputc('\n', pb->out);
    }
    fflush(pb->out);
}

/* ---------------------------------------------------------------- history */

void keel_history_reset(keel_history *h) {
    keel_history_free(h);
}

void keel_history_free(keel_history *h) {
    for (int i = 0; i < h->n_keys; i++)
        keel_free(h->vals[i]);
    memset(h, 0, sizeof *h);
}

keel_status keel_history_append(keel_history *h, const keel_logs *logs) {
    if (h->epochs == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        for (int i = 0; i < h->n_keys; i++) {
            double *v = keel_alloc((size_t)cap * sizeof *v);
            if (!v) return KEEL_ERR_NOMEM;
            memcpy(v, h->vals[i], (size_t)h->epochs * sizeof *v);
            keel_free(h->vals[i]);
            h->vals[i] = v;
        }
        h->cap = cap;
    }
    for (int i = 0; i < logs->count; i++) {
        int k = 0;
        while (k < h->n_keys && strcmp(h->keys[k], logs->names[i]))
            k++;
        if (k == h->n_keys) {
            if (k == KEEL_HIST_MAX_KEYS) continue;
            snprintf(h->keys[k], sizeof h->keys[k], "%s", logs->names[i]);
            h->vals[k] = keel_alloc((size_t)h->cap * sizeof(double));
            if (!h->vals[k]) return KEEL_ERR_NOMEM;
            for (int e = 0; e < h->epochs; e++)
                h->vals[k][e] = NAN;
            h->n_keys++;
        }
        h->vals[k][h->epochs] = logs->values[i];
    }
    h->epochs++;
    return KEEL_OK;
}

int keel_history_epochs(const keel_history *h) {
    return h ? h->epochs : 0;
}

int keel_history_keys(const keel_history *h, const char **keys, int cap) {
    if (!h) return 0;
    for (int i = 0; i < h->n_keys && i < cap; i++)
        keys[i] = h->keys[i];
    return h->n_keys;
}

const double *keel_history_get(const keel_history *h, const char *key) {
    if (!h || !key) return NULL;
    for (int i = 0; i < h->n_keys; i++)
        if (!strcmp(h->keys[i], key)) return h->vals[i];
    return NULL;
}
