/* resample.h: kernels that make an image larger, for the generator side of a model (a GAN's,
 * a U-Net's decoder): UpSampling2D (nearest, bilinear) in resample.c and Conv2DTranspose in
 * deconv.c. Channels-last (NHWC) throughout, plain functions with explicit dimensions, each
 * fast kernel with its naive reference beside it, forward beside backward. Both reproduce
 * tf.keras 2.15 (tests/test_resample.c checks them against tests/fixtures/keras_compose.txt,
 * made with the real library by tools/make_compose_fixtures.py). Nothing here allocates: a
 * layer sizes its scratch with the *_scratch functions and owns it. */
#ifndef KEEL_RESAMPLE_H
#define KEEL_RESAMPLE_H

#include "kernels.h"

/* ---- UpSampling2D: y (n, H*SH, W*SW, C) from x (n, H, W, C) */

typedef enum keel_interp {
    KEEL_INTERP_NEAREST,  /* each pixel repeated SH x SW times */
    KEEL_INTERP_BILINEAR, /* tf.image.resize bilinear, half-pixel centers, no antialias */
    KEEL_INTERP_COUNT
} keel_interp;

/* "nearest" (NULL too: Keras's default) or "bilinear"; KEEL_ERR_ARG naming `what` and the
 * closest supported name otherwise (Keras's other methods, "bicubic", "area", ... are not
 * implemented). */
keel_status keel_interp_parse(const char *s, keel_interp *out, const char *what);
const char *keel_interp_name(keel_interp k);

typedef struct keel_upsample_geom {
    int64_t H, W, C; /* input, set by the caller */
    int64_t SH, SW;  /* the size argument: integer factors, set by the caller */
    keel_interp interp;
    int64_t OH, OW; /* H * SH, W * SW: set by keel_upsample_geom_init */
} keel_upsample_geom;

/* Checks the caller's fields (all positive, interp known, the output not absurdly large) and
 * sets OH, OW. KEEL_ERR_ARG / KEEL_ERR_SHAPE with a message naming `what` otherwise. */
keel_status keel_upsample_geom_init(keel_upsample_geom *g, const char *what);

/* y (n, OH, OW, C) = upsample(x (n, H, W, C)). Bilinear is exactly TensorFlow's
 * ResizeBilinear(half_pixel_centers=True) in float32: for output row o,
 * v = (o + 0.5) * (H / OH) - 0.5, rows max(floor v, 0) and min(ceil v, H - 1), weight
 * v - floor v (likewise for columns), then lerp along the width, then along the height. */
void keel_upsample_forward(const keel_upsample_geom *g, const float *x, float *y, int64_t n);
/* dx (n, H, W, C) (+)= the transpose of the forward map applied to dy (n, OH, OW, C): for
 * nearest, the sum of each pixel's SH x SW block; for bilinear, each dy value spread over its
 * four source pixels with the forward's weights. Overwrites dx unless accumulate. */
void keel_upsample_backward(const keel_upsample_geom *g, const float *dy, float *dx, int64_t n,
                            bool accumulate);
/* The same two maps written straight from the definitions, one pixel at a time in double
 * (the scale H / OH too): the tests' references. */
void keel_upsample_forward_ref(const keel_upsample_geom *g, const float *x, float *y, int64_t n);
void keel_upsample_backward_ref(const keel_upsample_geom *g, const float *dy, float *dx, int64_t n,
                                bool accumulate);

/* ---- Conv2DTranspose: y (n, OH, OW, OC) from x (n, H, W, C), kernel w (KH, KW, OC, C) as
 * Keras stores it (output channels before input channels, the reverse of Conv2D's HWIO),
 * bias b (OC). Dilation 1 only.
 *
 * Conv2DTranspose is the backward-data pass of the Conv2D that would map y's shape to x's
 * (same kernel, strides and padding; TensorFlow computes it with conv2d_backprop_input). That
 * convolution, `conv` below, has input (OH, OW, OC), output (H, W, C) and kernel HWIO
 * (KH, KW, OC, C): the very array Keras stores. So keel_im2col / keel_col2im of conv.c do the
 * index work, and the three passes are GEMMs:
 *   forward:  col (n*H*W, KH*KW*OC) = x (n*H*W, C) @ W^T;  y = b + col2im(col)
 *   backward: col = im2col(dy);  dx = col @ W;  dW = col^T @ x;  db = sum of dy over pixels
 * with W the kernel seen as a (KH*KW*OC, C) matrix. */

typedef struct keel_deconv_geom {
    /* set by the caller */
    int64_t H, W, C;  /* input */
    int64_t OC;       /* filters */
    int64_t KH, KW;   /* kernel_size */
    int64_t SH, SW;   /* strides */
    bool same;        /* padding "same" (else "valid") */
    int64_t OPH, OPW; /* output_padding; -1 means None, Keras's default (not the same as 0) */
    /* set by keel_deconv_geom_init */
    int64_t OH, OW;      /* the output's height and width */
    int64_t PT, PL;      /* rows / columns cut off before the output: conv's leading padding */
    keel_conv_geom conv; /* the mirrored convolution (see above) */
} keel_deconv_geom;

/* Checks the caller's fields and sets the rest. The output size is Keras's
 * conv_utils.deconv_output_length: with output_padding None, H*S + max(K - S, 0) for "valid",
 * H*S for "same"; with output_padding p, (H - 1)*S + K - 2*pad + p, where pad is 0 for "valid"
 * and K / 2 (floor) for "same". Fails (message naming `what`) when a field is not positive,
 * when output_padding is negative (other than -1) or not smaller than the stride (Keras's
 * check), when the output would be empty, and when the mirrored convolution of the output
 * would not give back the input's size (TensorFlow refuses that at run time, e.g. "same", an
 * even kernel and output_padding 0: kernel 4, stride 2, H 4 gives 6, and ceil(6 / 2) != 4). */
keel_status keel_deconv_geom_init(keel_deconv_geom *g, const char *what);

/* Floats of scratch per sample that keel_deconv_forward and keel_deconv_backward need (the
 * column matrix, H*W*KH*KW*OC): pass n times this. 0 for a 1x1 kernel with stride 1, which
 * needs no columns. */
int64_t keel_deconv_scratch(const keel_deconv_geom *g);

/* y (n, OH, OW, OC) = conv_transpose(x (n, H, W, C), w (KH, KW, OC, C)) + b (OC, or NULL: no
 * bias); the activation is the caller's (keel_bias_act with b = NULL after this call, or
 * keel_act_forward). scratch: n * keel_deconv_scratch(g) floats. y is overwritten. */
void keel_deconv_forward(const keel_deconv_geom *g, const float *x, const float *w, const float *b,
                         float *y, int64_t n, float *scratch);

/* Where the backward pass writes: any pointer may be NULL (that gradient is not wanted). With
 * accumulate_dx, dx += the input gradient (an input that feeds several layers); with
 * accumulate_dw, dw += and db += (a layer applied more than once); otherwise they are
 * overwritten. */
typedef struct keel_deconv_grads {
    float *dx; /* (n, H, W, C) */
    float *dw; /* (KH, KW, OC, C) */
    float *db; /* (OC) */
    bool accumulate_dx, accumulate_dw;
} keel_deconv_grads;

/* The gradients of L given dy = dL/dy (n, OH, OW, OC) and the forward's x and w. scratch:
 * n * keel_deconv_scratch(g) floats (the forward's columns are not needed again). */
void keel_deconv_backward(const keel_deconv_geom *g, const float *x, const float *w,
                          const float *dy, keel_deconv_grads gr, int64_t n, float *scratch);

/* Direct loops in double, no columns, no GEMM: the tests' references. The forward scatters
 * each input pixel through the kernel; the backward sums the same products per weight and per
 * input value. */
void keel_deconv_forward_ref(const keel_deconv_geom *g, const float *x, const float *w,
                             const float *b, float *y, int64_t n);
void keel_deconv_backward_ref(const keel_deconv_geom *g, const float *x, const float *w,
                              const float *dy, keel_deconv_grads gr, int64_t n);

#endif
