/* keras_order.c: the order in which Keras lists a model's layers, and its names for them.
 *
 * A functional model's layers are ordered as keras.src.ops.function.map_graph orders its
 * operations: a depth-first walk back from the outputs numbers the operations by first visit
 * and lists the nodes as they finish; walking that list backwards gives each node a depth (one
 * more than its deepest consumer), every node of an operation taking the operation's greatest
 * depth so far; the operations then go by decreasing depth, ties by first visit. Each step is
 * linear in the calls (after one sort that gives the calls of one layer a shared operation id)
 * and the walk keeps its own stack: a file of thousands of layers in a chain costs
 * milliseconds, not the minutes (cubic) or the stack overflow (recursive) it once did. */
#include "save.h"

#include <stdio.h>

void keel_snake_case(const char *cls, char *out, size_t cap) {
    char a[128], b[160];
    size_t n = 0, len = 0;
    for (const char *p = cls; *p && len + 1 < sizeof a; p++) /* re.sub(r"\W+", "", name) */
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_')
            a[len++] = *p;
    a[len] = 0;
    /* re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name): left to right, matches do not overlap */
    for (size_t i = 0; i < len && n + 3 < sizeof b;) {
        size_t j = i + 2;
        if (i + 2 < len + 1 && a[i + 1] >= 'A' && a[i + 1] <= 'Z' && a[i + 2] >= 'a' &&
            a[i + 2] <= 'z') {
            while (j < len && a[j] >= 'a' && a[j] <= 'z')
                j++;
            b[n++] = a[i], b[n++] = '_';
            for (size_t k = i + 1; k < j && n + 1 < sizeof b; k++)
                b[n++] = a[k];
            i = j;
        } else {
            b[n++] = a[i++];
        }
    }
    b[n] = 0;
    /* re.sub("([a-z])([A-Z])", r"\1_\2", name), then lower() */
    size_t o = 0;
    for (size_t i = 0; b[i] && o + 2 < cap; i++) {
        char c = b[i];
        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (c >= 'a' && c <= 'z' && b[i + 1] >= 'A' && b[i + 1] <= 'Z') out[o++] = '_';
    }
    if (cap) out[o < cap ? o : cap - 1] = 0;
}

int keel_keras_source(const keel_model *m, int c) {
    return m->calls[c].pick ? m->calls[c].in[0] : c;
}

typedef struct call_key {
    uintptr_t layer;
    int call;
} call_key;

static int by_layer(const void *pa, const void *pb) {
    const call_key *a = pa, *b = pb;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    return (a->call > b->call) - (a->call < b->call);
}

int *keel_keras_op_ids(const keel_model *m, int *n_ops) {
    int C = m->n_calls, n = 0;
    int *op = keel_alloc((size_t)(C + 1) * sizeof *op);
    call_key *keys = keel_alloc((size_t)(C + 1) * sizeof *keys);
    if (!op || !keys) {
        keel_free(op), keel_free(keys);
        return NULL;
    }
    int k = 0;
    for (int c = 0; c < C; c++)
        if (m->calls[c].layer)
            keys[k++] = (call_key){(uintptr_t)m->calls[c].layer, c};
        else
            op[c] = n++; /* an input or a pick: an operation of its own */
    qsort(keys, (size_t)k, sizeof *keys, by_layer);
    for (int i = 0; i < k; i++) {
        if (i == 0 || keys[i].layer != keys[i - 1].layer) n++;
        op[keys[i].call] = n - 1;
    }
    keel_free(keys);
    *n_ops = n;
    return op;
}

/* The depth-first walk from call `root`: numbers operations by first visit (first[op]),
 * appends calls to list as they finish. An explicit stack, one frame per call at most. */
static void walk(const keel_model *m, const int *op, int root, bool *seen, int *first, int *n_first,
                 int *list, int *n_list, int *stack, int *next) {
    int top = 0;
    root = keel_keras_source(m, root);
    if (seen[root]) return;
    seen[root] = true;
    if (first[op[root]] < 0) first[op[root]] = (*n_first)++;
    stack[top] = root, next[top++] = 0;
    while (top) {
        int c = stack[top - 1];
        const keel_callrec *r = &m->calls[c];
        if (r->layer && next[top - 1] < r->n_in) {
            int p = keel_keras_source(m, r->in[next[top - 1]++]);
            if (seen[p])
                continue; /* finished already: the graph is acyclic (calls read
                             earlier calls) */
            seen[p] = true;
            if (first[op[p]] < 0) first[op[p]] = (*n_first)++;
            stack[top] = p, next[top++] = 0;
        } else {
            list[(*n_list)++] = c;
            top--;
        }
    }
}

typedef struct op_rank {
    int depth, first, call;
} op_rank;

static int by_depth(const void *pa, const void *pb) {
    const op_rank *a = pa, *b = pb;
    if (a->depth != b->depth) return a->depth > b->depth ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

int keel_keras_ops(const keel_model *m, keel_kop *out) {
    int n = 0;
    if (!m->functional) {
        for (int i = 0; i < m->n_layers; i++)
            if (strcmp(m->layers[i]->kind->type, "InputLayer"))
                out[n++] = (keel_kop){.layer = m->layers[i], .call = -1};
        return n;
    }
    int C = m->n_calls, n_ops = 0, n_first = 0, n_list = 0;
    int *op = keel_keras_op_ids(m, &n_ops);
    size_t sz = (size_t)(C + 1) * sizeof(int);
    bool *seen = keel_alloc((size_t)(C + 1));
    int *list = keel_alloc(sz), *stack = keel_alloc(sz), *next = keel_alloc(sz);
    int *node_depth = keel_alloc(sz), *first = keel_alloc(sz), *op_depth = keel_alloc(sz);
    int *rep = keel_alloc(sz);
    op_rank *ranks = keel_alloc((size_t)(C + 1) * sizeof *ranks);
    if (!op || !seen || !list || !stack || !next || !node_depth || !first || !op_depth || !rep ||
        !ranks) {
        n = -1;
        goto done;
    }
    for (int i = 0; i < C; i++)
        node_depth[i] = -1, first[i] = -1, op_depth[i] = -1, rep[i] = -1;
    for (int i = 0; i < m->n_outputs; i++)
        walk(m, op, m->outputs[i], seen, first, &n_first, list, &n_list, stack, next);
    /* depths: walking back from the outputs, a node is one deeper than its deepest consumer,
     * and every node of an operation takes the operation's greatest depth so far */
    for (int i = n_list - 1; i >= 0; i--) {
        int c = list[i];
        int d = node_depth[c] < 0 ? 0 : node_depth[c];
        if (op_depth[op[c]] > d) d = op_depth[op[c]];
        op_depth[op[c]] = d;
        node_depth[c] = d;
        const keel_callrec *r = &m->calls[c];
        for (int j = 0; r->layer && j < r->n_in; j++) {
            int p = keel_keras_source(m, r->in[j]);
            if (node_depth[p] < d + 1) node_depth[p] = d + 1;
        }
    }
    /* each operation once, as its first call, by decreasing depth, ties by first visit */
    for (int c = 0; c < C; c++)
        if (seen[c] && rep[op[c]] < 0) {
            rep[op[c]] = c;
            ranks[n++] = (op_rank){op_depth[op[c]], first[op[c]], c};
        }
    qsort(ranks, (size_t)n, sizeof *ranks, by_depth);
    for (int i = 0; i < n; i++)
        out[i] = (keel_kop){.layer = m->calls[ranks[i].call].layer, .call = ranks[i].call};
done:
    keel_free(op), keel_free(seen), keel_free(list), keel_free(stack), keel_free(next);
    keel_free(node_depth), keel_free(first), keel_free(op_depth), keel_free(rep), keel_free(ranks);
    return n;
}
