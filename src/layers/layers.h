/* layers.h: helpers the layer files share. */
#ifndef KEEL_LAYERS_H
#define KEEL_LAYERS_H

#include "../graph/graph.h"

/* Copies an option string into storage the layer owns (NULL stays NULL). On failure returns
 * false with the error recorded. */
bool keel_cfg_str(const char **dst, const char *src);
void keel_cfg_str_free(const char *s);

#endif
