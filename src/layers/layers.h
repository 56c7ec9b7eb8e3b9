/* layers.h: helpers the layer files share. */
#ifndef KEEL_LAYERS_H
#define KEEL_LAYERS_H

#include "../graph/graph.h"

/* Copies an option string into storage the layer owns (NULL stays NULL). On failure returns
 * false with the error recorded. */
bool keel_cfg_str(const char **dst, const char *src);
void keel_cfg_str_free(const char *s);
/* A (rows, cols) option: {k} means {k, k}, {0, 0} the default. False if not positive. */
bool keel_pair(int64_t *p, int64_t dflt);
/* "valid" (or NULL) / "same" into *same; false with the error recorded otherwise. */
bool keel_padding_same(const char *padding, bool *same, const char *what);

/* nd is a MaxPooling2D node with 2x2 windows, stride 2, padding "valid" and 8k channels, the
 * pool a convolution can compute on the fly (keel_conv_direct_relu_pool) */
bool keel_pool_is_max2x2(const keel_node *nd);

#endif
