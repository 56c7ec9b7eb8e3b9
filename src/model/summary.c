/* summary.c: model.summary() in the tf.keras 2 plain-text layout (line length 65, columns at
 * 29 and 55). */
#include "model.h"

#include <stdio.h>

static void row(FILE *out, const char *a, const char *b, const char *c) {
    char line[256];
    int n = snprintf(line, sizeof line, " %-27.27s %-25.25s %s", a, b, c);
    while (n > 0 && line[n - 1] == ' ') line[--n] = 0;
    fprintf(out, "%s\n", line);
}

static void memory(char *buf, size_t cap, int64_t params) {
    static const char *const units[] = {"Byte", "KB", "MB", "GB", "TB"};
    double bytes = (double)params * 4;
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
    snprintf(buf, cap, "%.2f %s", bytes, units[u]);
}

keel_status keel_summary(keel_model *m, FILE *out) {
    keel_status st = keel_model_check(m, "keel_summary");
    if (st) return st;
    if (!m->compiled)
        KEEL_FAIL(KEEL_ERR_STATE, "keel_summary: %s is not built yet (call keel_compile first)", m->name);
    if (!out) out = stdout;
    const char *rule = "_________________________________________________________________";
    const char *dbl = "=================================================================";
    fprintf(out, "Model: \"%s\"\n%s\n", m->name, rule);
    row(out, "Layer (type)", "Output Shape", "Param #");
    fprintf(out, "%s\n", dbl);
    int64_t total = 0, trainable = 0;
    for (int i = 0; i < m->n_layers; i++) {
        keel_layer *l = m->layers[i];
        if (!strcmp(l->kind->type, "InputLayer")) continue;
        char name[160], shape[160], count[32];
        int64_t np = 0;
        for (int k = 0; k < l->n_params; k++) {
            np += l->params[k].size;
            if (l->params[k].trainable) trainable += l->params[k].size;
        }
        total += np;
        snprintf(name, sizeof name, "%s (%s)", l->name, l->kind->type);
        keel_dims_str(l->node->rank, l->node->dims, true, shape, sizeof shape);
        snprintf(count, sizeof count, "%lld", (long long)np);
        if (i) fprintf(out, "\n");
        row(out, name, shape, count);
    }
    char a[32], b[32], c[32];
    memory(a, sizeof a, total), memory(b, sizeof b, trainable), memory(c, sizeof c, total - trainable);
    fprintf(out, "%s\nTotal params: %lld (%s)\nTrainable params: %lld (%s)\nNon-trainable params: %lld (%s)\n%s\n", dbl,
            (long long)total, a, (long long)trainable, b, (long long)(total - trainable), c, rule);
    return KEEL_OK;
}
