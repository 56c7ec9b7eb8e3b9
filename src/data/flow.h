/* flow.h: the image-folder iterator's internal interface, for fit / evaluate / predict. */
#ifndef KEEL_FLOW_H
#define KEEL_FLOW_H

#include "../core.h"

/* Per-sample shape of x (H, W, C) and floats of y per sample (0 for class_mode "none"). */
void keel_flow_dims(const keel_flow *f, int64_t dims[3], int64_t *y_size);
int64_t keel_flow_batch_size(const keel_flow *f);
/* Copies batch `step` of epoch `epoch` (the flow's own shuffled order) into x and y (y may be
 * NULL), waiting for the background workers; returns the sample count or a negative status
 * (the message names the file that failed). */
int64_t keel_flow_batch(keel_flow *f, int64_t epoch, int64_t step, float *x, float *y);

#endif
