/* summary.c: model.summary() in the tf.keras 2 plain-text layout (line length 65, columns at
 * 29 and 55). */
#include "model.h"

#include <stdio.h>

/* tf.keras 2's print_row (tf_keras/utils/layer_utils.py): each field is cut to its column (less
 * two spaces and one more to align the next column) or earlier, after a "),"-style break; what
 * does not fit goes on the next line, so a long "name (Type)" wraps instead of being cut. */
static void row(FILE *out, const char *a, const char *b, const char *c) {
    static const int pos[3] = {29, 55, 65};
    const char *left[3] = {a, b, c};
    while (*left[0] || *left[1] || *left[2]) {
        char line[256];
        int len = 0;
        for (int col = 0; col < 3; col++) {
            int start = col ? pos[col - 1] : 0, space = col != 2 ? 2 : 0;
            int cutoff = pos[col] - start - space - (col != 2 ? 1 : 0);
            int avail = (int)strlen(left[col]), take = avail < cutoff ? avail : cutoff;
            static const char *const breaks[] = {"),", "},", "],", "',"};
            int best = -1;
            for (int k = 0; k < 4; k++) {
                for (int i = 0; i + 1 < take; i++)
                    if (left[col][i] == breaks[k][0] && left[col][i + 1] == breaks[k][1]) {
                        if (best < 0 || i + 2 < best) best = i + 2;
                        break;
                    }
            }
            if (best > 0) take = best;
            if (col == 0) line[len++] = ' ';
            memcpy(line + len, left[col], (size_t)take);
            len += take;
            for (int k = 0; k < space; k++)
                line[len++] = ' ';
            left[col] += take;
            while (len < pos[col])
                line[len++] = ' ';
        }
        while (len > 0 && line[len - 1] == ' ')
            len--;
        line[len] = 0;
        fprintf(out, "%s\n", line);
    }
}

static void memory(char *buf, size_t cap, int64_t params) {
    static const char *const units[] = {"Byte", "KB", "MB", "GB", "TB"};
    double bytes = (double)params * 4;
    int u = 0;
    while (bytes >= 1024 && u < 4)
        bytes /= 1024, u++;
    snprintf(buf, cap, "%.2f %s", bytes, units[u]);
}

/* the weights of a layer, or of every layer of a model used as a layer (one row, as Keras
 * shows a nested model) */
static int64_t layer_params(const keel_layer *l, int depth) {
    int64_t n = 0;
    for (int k = 0; k < l->n_params; k++)
        n += l->params[k].size;
    for (int i = 0; i < l->n_wrapped; i++)
        n += layer_params(l->wrapped[i], depth + 1);
    for (int i = 0; l->sub && depth < 64 && i < l->sub->n_layers; i++)
        n += layer_params(l->sub->layers[i], depth + 1);
    return n;
}

/* "(None, 4)", or for a call with several outputs Keras's list "[(None, 4), (None, 4)]" (which
 * row() wraps after each "),") */
static void output_shape(const keel_node *nd, char *buf, size_t cap) {
    if (!nd->n_parts) {
        keel_dims_str(nd->rank, nd->dims, true, buf, cap);
        return;
    }
    size_t len = 0;
    buf[len++] = '[';
    for (int k = 0; k < nd->n_parts && len + 4 < cap; k++) {
        if (k) len += (size_t)snprintf(buf + len, cap - len, ", ");
        keel_dims_str(nd->parts[k].rank, nd->parts[k].dims, true, buf + len, cap - len - 2);
        len = strlen(buf);
    }
    snprintf(buf + len, cap - len, "]");
}

keel_status keel_summary(keel_model *m, FILE *out) {
    keel_status st = keel_model_check(m, "keel_summary");
    if (st) return st;
    /* like Keras, a model whose input shape is known can be summarized before it is compiled */
    if (!m->built && (st = keel_model_build(m, "keel_summary"))) return st;
    if (!out) out = stdout;
    const char *rule = "_________________________________________________________________";
    const char *dbl = "=================================================================";
    fprintf(out, "Model: \"%s\"\n%s\n", m->name, rule);
    row(out, "Layer (type)", "Output Shape", "Param #");
    fprintf(out, "%s\n", dbl);
    int64_t total = 0, trainable = 0;
    for (int k = 0; k < m->n_params; k++) {
        total += m->params[k]->size;
        if (m->ptrain[k]) trainable += m->params[k]->size;
    }
    int rows = 0;
    for (int i = 0; m->functional && i < m->n_inputs;
         i++) { /* Keras lists a functional model's inputs */
        char name[160], shape[160];
        snprintf(name, sizeof name, "input_%d (InputLayer)", i + 1);
        const keel_node *in = m->in_nodes[i];
        shape[0] = '[';
        keel_dims_str(in->rank, in->dims, true, shape + 1, sizeof shape - 2);
        strcat(shape, "]");
        if (rows++) fprintf(out, "\n");
        row(out, name, shape, "0");
    }
    for (int i = 0; i < m->n_layers; i++) {
        keel_layer *l = m->layers[i];
        if (!strcmp(l->kind->type, "InputLayer") || !m->layer_nodes[i]) continue;
        char name[160], shape[512], count[32];
        const char *type =
            l->sub ? (l->sub->functional ? "Functional" : "Sequential") : l->kind->type;
        snprintf(name, sizeof name, "%s (%s)", l->name, type);
        output_shape(m->layer_nodes[i], shape, sizeof shape);
        snprintf(count, sizeof count, "%lld", (long long)layer_params(l, 0));
        if (rows++) fprintf(out, "\n");
        row(out, name, shape, count);
    }
    char a[32], b[32], c[32];
    memory(a, sizeof a, total), memory(b, sizeof b, trainable),
        memory(c, sizeof c, total - trainable);
    fprintf(out,
            "%s\nTotal params: %lld (%s)\nTrainable params: %lld (%s)\nNon-trainable params: %lld "
            "(%s)\n%s\n",
            dbl, (long long)total, a, (long long)trainable, b, (long long)(total - trainable), c,
            rule);
    return KEEL_OK;
}
