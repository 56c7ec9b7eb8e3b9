/* parts.c: one call, several outputs. A graph node has one value; a layer call with several
 * outputs (LSTM(return_state=True) gives output, h, c; Bidirectional(merge_mode=None) gives two
 * sequences) is one node that holds them all, its *parts*, and one small *pick* node per output
 * that copies its part out as an ordinary value the next layers read.
 *
 * Layout. For a batch of n samples, part k occupies floats [n * offset_k, n * (offset_k +
 * size_k)) of the packed value: each part is a whole batch of its shape, one after another. So
 * a kernel writes its outputs to plain arrays (a recurrent op: y at 0, h and c after all the
 * y's), a pick is one memcpy, and a node packed from others (pack, below: Bidirectional puts its
 * merged output beside both directions' packed nodes) keeps their parts at an offset.
 *
 * Gradients follow the graph's rule (graph.h): in backward order the first op to write a buffer
 * overwrites it and later ones add. The first pick to write the packed gradient writes its part
 * and zeros the rest; later picks add their part. An output nothing uses gets no pick gradient
 * (its pick is dead, keel_graph_finish) and counts as zero that way, and when no pick reaches a
 * loss the packed node is dead too. The packed node's own backward then reads every part. */
#include "graph.h"

#include <stdio.h>

keel_status keel_node_set_parts(keel_node *nd, int n, const keel_part *parts) {
    KEEL_ASSERT(n > 0 && n <= KEEL_MAX_OUT && !nd->parts);
    for (int k = 0; k < n; k++)
        KEEL_ASSERT(parts[k].offset >= 0 && parts[k].offset + parts[k].size <= nd->size &&
                    parts[k].size == keel_dims_prod(parts[k].rank, parts[k].dims));
    nd->parts = keel_alloc((size_t)n * sizeof *nd->parts);
    if (!nd->parts) return KEEL_ERR_NOMEM;
    memcpy(nd->parts, parts, (size_t)n * sizeof *parts);
    nd->n_parts = n;
    return KEEL_OK;
}

keel_part keel_part_of(const keel_node *src, int64_t offset) {
    keel_part p = {
        .offset = offset, .rank = src->rank, .size = src->size, .mask_node = src->mask_node};
    memcpy(p.dims, src->dims, sizeof p.dims);
    return p;
}

int keel_layer_outputs(const keel_layer *l) {
    return l->kind->n_outputs ? l->kind->n_outputs(l) : 1;
}

/* ---------------------------------------------------------------- pick */

static void pick_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const keel_part *p = &nd->in[0]->parts[nd->part];
    memcpy(nd->val, nd->in[0]->val + n * p->offset, (size_t)(n * p->size) * sizeof(float));
}

static void pick_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    keel_node *in = nd->in[0];
    if (!in->needs_grad) return;
    const keel_part *p = &in->parts[nd->part];
    float *g = in->grad + n * p->offset;
    const int64_t count = n * p->size;
    if (!nd->acc_in[0]) { /* the first writer: the other parts' gradients are zero until a
                           * later pick (earlier in backward order) adds to them */
        memset(in->grad, 0, (size_t)(n * in->size) * sizeof(float));
        memcpy(g, nd->grad, (size_t)count * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < count; i++)
        g[i] += nd->grad[i];
}

static const keel_op pick_op = {.name = "pick", .forward = pick_forward, .backward = pick_backward};

keel_node *keel_graph_pick(keel_graph *g, keel_node *packed, int k) {
    KEEL_ASSERT(k >= 0 && k < packed->n_parts);
    keel_node *nd = keel_graph_add(g, &pick_op, NULL, &packed, 1);
    if (!nd) return NULL;
    /* the shape is the part's (no infer: the op's table has no room for k) */
    const keel_part *p = &packed->parts[k];
    nd->part = k;
    nd->rank = p->rank;
    memcpy(nd->dims, p->dims, sizeof nd->dims);
    nd->size = p->size;
    nd->mask_node = p->mask_node;
    return nd;
}

/* ---------------------------------------------------------------- pack */

static void pack_forward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    float *dst = nd->val;
    for (int i = 0; i < nd->n_in; i++) {
        memcpy(dst, nd->in[i]->val, (size_t)(n * nd->in[i]->size) * sizeof(float));
        dst += n * nd->in[i]->size;
    }
}

static void pack_backward(keel_node *nd, int64_t n, const keel_ctx *ctx) {
    (void)ctx;
    const float *src = nd->grad;
    for (int i = 0; i < nd->n_in; i++) {
        keel_node *in = nd->in[i];
        const int64_t count = n * in->size;
        if (in->needs_grad && nd->acc_in[i])
            for (int64_t j = 0; j < count; j++)
                in->grad[j] += src[j];
        else if (in->needs_grad)
            memcpy(in->grad, src, (size_t)count * sizeof(float));
        src += count;
    }
}

static const keel_op pack_op = {.name = "pack", .forward = pack_forward, .backward = pack_backward};

keel_node *keel_graph_pack(keel_graph *g, keel_node **in, int n, int n_parts,
                           const keel_part *parts) {
    keel_node *nd = keel_graph_add(g, &pack_op, NULL, in, n);
    if (!nd) return NULL;
    /* one flat vector per sample: only picks read it */
    nd->rank = 1;
    nd->dims[0] = 0;
    for (int i = 0; i < n; i++)
        nd->dims[0] += in[i]->size;
    nd->size = nd->dims[0];
    return keel_node_set_parts(nd, n_parts, parts) ? NULL : nd;
}
