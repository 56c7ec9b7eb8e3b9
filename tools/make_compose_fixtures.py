#!/usr/bin/env python3
"""make_compose_fixtures.py: reference values from the real tf.keras 2 for the layers and models
of keel's composition work (issue 7: shared layers, the functional API, merge layers, a GAN's
generator layers). tests/test_resample.c reads the Conv2DTranspose and UpSampling2D records
now; the other records wait for the layers and the functional core that will use them.

Usage:  TF_CPP_MIN_LOG_LEVEL=3 python3 tools/make_compose_fixtures.py tests/fixtures

TensorFlow is not a dependency of keel: make a virtual environment outside the repository,
    python3 -m venv /work/venv-tf
    /work/venv-tf/bin/pip install tensorflow-cpu==2.15.1 numpy==1.26.4
and run the script with /work/venv-tf/bin/python. Made with TensorFlow 2.15.1 / Keras 2.15.0
and NumPy 1.26.4, on CPU; the script refuses other versions unless --any-version is given (the
fixture is committed; regenerate it only on purpose, and the tests must pass after).

It writes tests/fixtures/keras_compose.txt in the format of the other fixtures (tests/fixture.h
reads it): lines starting with '#' are comments (each case's layer configuration is one); every
other line is one record `name n v1 v2 ... vn`, floats printed with %.9g (float32 values
round-trip exactly). Tensors are row-major with the batch axis first, images channels-last
(NHWC). Inputs are drawn from seeded NumPy generators and every weight is set explicitly, so the
C side can load the very same numbers. Gradients are those of L = sum(y * r) for a fixed random
r of y's shape (tf.GradientTape, eager), with respect to every input and every trainable weight.

Record names, for a case `c`:

  c.config            numbers describing the layer, where the C side needs them (below)
  c.x_shape, c.x      the input of a one-input case (batch axis included)
  c.x0_shape, c.x0,   the inputs of a case with several, in call order
  c.x1_shape, c.x1 ...
  c.<weight>          a weight of a one-layer case: kernel, bias, alpha
  c.<layer>.<weight>  a weight of a model case: resblock.conv1.kernel, twoin.dense_a.bias ...
  c.r                 the fixed random tensor of y's shape
  c.y_shape, c.y      the output
  c.dx or c.dx0 ...   dL/d(each input)
  c.d<weight>         dL/d(each weight): c.dkernel, c.dbias, c.dalpha; in models the d goes
                      before the weight's own name: resblock.conv1.dkernel

Weight layouts are Keras's: Dense kernel (in, out); Conv2D kernel (KH, KW, in, out) (HWIO);
Conv2DTranspose kernel (KH, KW, filters, in) (output channels BEFORE input channels); PReLU
alpha of the input's per-sample shape with 1 on each shared axis.

The cases (configurations in the comment above each):

  deconv_a ... deconv_j   Conv2DTranspose. config = [filters, KH, KW, SH, SW, same (1) or valid
                          (0), output_padding h, w (-1, -1 for None)]. Strides 1, 2, 3 and
                          (3, 2); valid and same; output_padding None, 0, 1, 2; even and odd
                          kernels; a kernel smaller than the stride; a 1x1 kernel; with and
                          without bias; filters != channels throughout.
  up_nearest_22, up_nearest_23, up_bilinear_22, up_bilinear_23, up_bilinear_31
                          UpSampling2D. config = [SH, SW, bilinear (1) or nearest (0)].
  leaky_relu, leaky_relu_01      LeakyReLU() (alpha 0.3, Keras 2's default), LeakyReLU(0.1)
  relu, relu_args                ReLU(), ReLU(max_value=1.2, negative_slope=0.1, threshold=0.2)
  prelu, prelu_shared            PReLU(), PReLU(shared_axes=[1, 2]); weight alpha
  elu, elu_05                    ELU(), ELU(alpha=0.5)
  softmax                        Softmax() (axis -1)
  add2, add3, subtract, multiply3, average3, maximum3, minimum3
                                 the merge layers on 2 or 3 inputs of one shape
  concat_last                    Concatenate(axis=-1) on 3 inputs (2, 3, 2), (2, 3, 4), (2, 3, 1)
  concat_axis1                   Concatenate(axis=1) on 2 inputs (2, 2, 3), (2, 4, 3)
  resblock                       x (2, 5, 5, 3) -> conv1 = Conv2D(4, 3, same, relu)
                                 -> conv2 = Conv2D(3, 3, same) -> Add with x -> ReLU
  twoin                          a (4,) -> dense_a = Dense(3, tanh); b (3,) -> dense_b =
                                 Dense(2, tanh); Concatenate -> out = Dense(1); x0 = a, x1 = b
  shared                         one dense = Dense(3, tanh) on x0 (4,) and on x1 (4,), the two
                                 outputs added; dense.dkernel holds both uses' gradients summed

Where a function has a kink (ReLU-like layers, Maximum / Minimum), the inputs keep away from it
(asserted), so that float rounding cannot move a value to the other side between Keras and
keel. Each Conv2DTranspose and UpSampling2D case is also checked here against a NumPy
re-derivation (the output size rule, the placement of the "same" cut, the half-pixel bilinear
formula in float32), which documents what the C kernels must do.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

EXPECTED_TF = "2.15.1"
EXPECTED_KERAS = "2.15"
KL = tf.keras.layers
KINK = 1e-3  # inputs to a kink stay at least this far from it


def keras_version():
    import keras
    return keras.__version__


class Writer:
    def __init__(self, path, title):
        self.path = path
        self.f = open(path, "w")
        self.f.write("# %s\n" % title)
        self.f.write("# generated by tools/make_compose_fixtures.py with TensorFlow %s, Keras %s, NumPy %s\n"
                     % (tf.__version__, keras_version(), np.__version__))
        self.f.write("# format: name n v1 ... vn (row-major, NHWC, %.9g); see the script's docstring for "
                     "the record names\n")
        self.names = set()

    def rec(self, name, values):
        assert " " not in name and name not in self.names, name
        self.names.add(name)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        assert v.size > 0 and np.all(np.isfinite(v)), name
        self.f.write("%s %d %s\n" % (name, v.size, " ".join("%.9g" % float(t) for t in v)))

    def comment(self, text):
        self.f.write("# %s\n" % text)

    def close(self):
        self.f.close()
        print("wrote %s (%d records, %d bytes)" % (self.path, len(self.names), os.path.getsize(self.path)))


def f32(a):
    return np.asarray(a, dtype=np.float32)


CONFIG_KEYS = ["filters", "kernel_size", "strides", "padding", "output_padding", "dilation_rate", "activation",
               "use_bias", "size", "interpolation", "alpha", "max_value", "negative_slope", "threshold",
               "shared_axes", "axis", "units"]


def layer_config(layer):
    """The Keras arguments that matter here, for the comment above each case."""
    cfg = layer.get_config()

    def show(v):  # 0.30000001192092896 (a float32 alpha) -> 0.3; ListWrapper([1, 2]) -> [1, 2]
        if isinstance(v, float):
            return "%.7g" % v
        return str(list(v)) if type(v).__name__ == "ListWrapper" else str(v)
    return "%s(%s)" % (type(layer).__name__, ", ".join("%s=%s" % (k, show(cfg[k])) for k in CONFIG_KEYS if k in cfg))


def d_name(label):
    """'kernel' -> 'dkernel', 'conv1.kernel' -> 'conv1.dkernel'"""
    head, _, tail = label.rpartition(".")
    return (head + "." if head else "") + "d" + tail


# ------------------------------------------------------------------ one case: forward + gradients
def record_case(w, name, model, xs, weights, seed, config=None):
    """model: a Keras model taking xs (a list of arrays; one input: x, several: x0, x1, ...).
    weights: list of (label, variable, value): each is assigned, recorded, and differentiated.
    Returns y (NumPy)."""
    for _, var, val in weights:
        assert tuple(var.shape) == np.shape(val), (name, var.name, var.shape, np.shape(val))
        var.assign(f32(val))
    xts = [tf.constant(f32(x)) for x in xs]
    call = (lambda: model(xts[0])) if len(xts) == 1 else (lambda: model(xts))
    y0 = call().numpy()
    r = f32(np.random.default_rng(seed).normal(0.0, 1.0, size=y0.shape))
    rt = tf.constant(r)
    variables = [v for _, v, _ in weights]
    with tf.GradientTape() as tape:
        for t in xts:
            tape.watch(t)
        y = call()
        loss = tf.reduce_sum(y * rt)
    grads = tape.gradient(loss, xts + variables)
    assert np.array_equal(y.numpy(), y0), name
    in_names = ["x"] if len(xs) == 1 else ["x%d" % i for i in range(len(xs))]
    if config is not None:
        w.rec("%s.config" % name, config)
    for nm, x in zip(in_names, xs):
        w.rec("%s.%s_shape" % (name, nm), np.shape(x))
        w.rec("%s.%s" % (name, nm), x)
    for label, _, val in weights:
        w.rec("%s.%s" % (name, label), val)
    w.rec("%s.r" % name, r)
    w.rec("%s.y_shape" % name, y.shape)
    w.rec("%s.y" % name, y.numpy())
    for nm, g in zip(in_names, grads[:len(xs)]):
        assert g is not None, (name, nm)
        w.rec("%s.d%s" % (name, nm), g.numpy())
    for (label, _, _), g in zip(weights, grads[len(xs):]):
        assert g is not None, (name, label)
        w.rec("%s.%s" % (name, d_name(label)), g.numpy())
    return y.numpy()


def one_layer(layer, x_shape):
    inp = tf.keras.Input(shape=x_shape[1:], batch_size=x_shape[0])
    return tf.keras.Model(inp, layer(inp))


def normal(rng, shape, scale=1.0, away_from=None):
    """normal values; with away_from (a list of kinks), redrawn until all keep KINK away"""
    for _ in range(1000):
        v = f32(rng.normal(0.0, scale, size=shape))
        if away_from is None or all(np.min(np.abs(v - k)) > KINK for k in away_from):
            return v
    raise RuntimeError("no draw keeps away from the kinks")


# ------------------------------------------------------------------ Conv2DTranspose
def np_deconv(x, k, b, s, same, op):
    """Conv2DTranspose in NumPy (float64): Keras's output size, TF's placement of the cut."""
    n, H, W, C = x.shape
    KH, KW, OC, _ = k.shape

    def out_len(i, kk, ss, o):
        if o is None:
            return i * ss if same else i * ss + max(kk - ss, 0)
        return (i - 1) * ss + kk - 2 * (kk // 2 if same else 0) + o

    OH, OW = out_len(H, KH, s[0], op[0]), out_len(W, KW, s[1], op[1])
    pt = max((H - 1) * s[0] + KH - OH, 0) // 2 if same else 0
    pl = max((W - 1) * s[1] + KW - OW, 0) // 2 if same else 0
    full = np.zeros((n, (H - 1) * s[0] + KH + OH, (W - 1) * s[1] + KW + OW, OC))
    for i in range(H):
        for j in range(W):
            full[:, i * s[0]:i * s[0] + KH, j * s[1]:j * s[1] + KW, :] += np.einsum(
                "nc,hwoc->nhwo", x[:, i, j, :].astype(np.float64), k.astype(np.float64))
    y = full[:, pt:pt + OH, pl:pl + OW, :]
    return y + (b if b is not None else 0), (pt, pl)


def make_deconv(w):
    w.comment("")
    w.comment("1. Conv2DTranspose. config = [filters, KH, KW, SH, SW, same, output_padding h, w (-1 = None)]; "
              "kernel (KH, KW, filters, in)")
    rng = np.random.default_rng(1001)
    cases = [
        # name, filters, kernel, strides, padding, output_padding, use_bias, x_shape
        ("deconv_a", 3, (3, 3), (1, 1), "valid", None, True, (2, 5, 4, 2)),
        ("deconv_b", 4, (3, 3), (2, 2), "same", None, True, (2, 4, 5, 3)),
        ("deconv_c", 2, (3, 2), (2, 2), "valid", (1, 1), True, (1, 3, 4, 3)),
        ("deconv_d", 3, (4, 4), (2, 2), "same", (1, 1), False, (2, 3, 5, 2)),
        ("deconv_e", 2, (3, 3), (3, 2), "same", (2, 1), True, (1, 3, 3, 4)),
        ("deconv_f", 5, (1, 1), (1, 1), "valid", None, True, (2, 3, 3, 3)),
        ("deconv_g", 3, (2, 2), (2, 2), "valid", None, False, (2, 3, 4, 2)),
        ("deconv_h", 2, (5, 5), (2, 2), "same", None, True, (1, 4, 4, 1)),
        ("deconv_i", 3, (1, 1), (2, 2), "valid", None, True, (1, 3, 2, 2)),
        ("deconv_j", 2, (3, 3), (2, 2), "same", (0, 0), True, (1, 3, 4, 2)),
    ]
    for i, (name, filters, ks, st, pad, op, bias, xs) in enumerate(cases):
        layer = KL.Conv2DTranspose(filters, ks, strides=st, padding=pad, output_padding=op, use_bias=bias)
        m = one_layer(layer, xs)
        kernel = f32(rng.normal(0.0, 0.5, size=(ks[0], ks[1], filters, xs[3])))
        weights = [("kernel", layer.kernel, kernel)]
        bvals = None
        if bias:
            bvals = f32(rng.normal(0.0, 0.3, size=(filters,)))
            weights.append(("bias", layer.bias, bvals))
        x = normal(rng, xs)
        w.comment("%s: %s on x %s -> y %s" % (name, layer_config(layer), xs, tuple(m.output_shape)))
        cfg = [filters, ks[0], ks[1], st[0], st[1], 1 if pad == "same" else 0] + (list(op) if op else [-1, -1])
        y = record_case(w, name, m, [x], weights, 1100 + i, config=cfg)
        ref, cut = np_deconv(x, kernel, bvals, st, pad == "same", op if op else (None, None))
        err = np.max(np.abs(ref - y))
        assert ref.shape == y.shape and err < 1e-5, (name, ref.shape, y.shape, err)
        w.comment("%s: matches a NumPy scatter with Keras's output size and cut (top, left) = %s: max |diff| %.2g"
                  % (name, cut, err))


# ------------------------------------------------------------------ UpSampling2D
def np_bilinear(x, sh, sw):
    """tf.image.resize bilinear with half-pixel centers, in float32 as TensorFlow computes it"""
    n, H, W, C = x.shape

    def pos(o, i, out):
        v = (np.float32(o) + np.float32(0.5)) * (np.float32(i) / np.float32(out)) - np.float32(0.5)
        f = np.floor(v)
        return max(int(f), 0), min(int(np.ceil(v)), i - 1), np.float32(v - f)

    y = np.zeros((n, H * sh, W * sw, C), np.float32)
    for oh in range(H * sh):
        t, b, yl = pos(oh, H, H * sh)
        for ow in range(W * sw):
            lft, rgt, xl = pos(ow, W, W * sw)
            top = x[:, t, lft] + (x[:, t, rgt] - x[:, t, lft]) * xl
            bot = x[:, b, lft] + (x[:, b, rgt] - x[:, b, lft]) * xl
            y[:, oh, ow] = top + (bot - top) * yl
    return y


def make_upsampling(w):
    w.comment("")
    w.comment("2. UpSampling2D. config = [SH, SW, bilinear]")
    rng = np.random.default_rng(2001)
    cases = [
        ("up_nearest_22", (2, 2), "nearest", (2, 3, 5, 3)),
        ("up_nearest_23", (2, 3), "nearest", (2, 3, 4, 2)),
        ("up_bilinear_22", (2, 2), "bilinear", (2, 4, 5, 3)),
        ("up_bilinear_23", (2, 3), "bilinear", (2, 3, 4, 2)),
        ("up_bilinear_31", (3, 1), "bilinear", (1, 3, 4, 2)),
    ]
    for i, (name, size, interp, xs) in enumerate(cases):
        layer = KL.UpSampling2D(size, interpolation=interp)
        m = one_layer(layer, xs)
        x = normal(rng, xs)
        w.comment("%s: %s on x %s -> y %s" % (name, layer_config(layer), xs, tuple(m.output_shape)))
        y = record_case(w, name, m, [x], [], 2100 + i, config=[size[0], size[1], 1 if interp == "bilinear" else 0])
        if interp == "nearest":
            assert np.array_equal(y, np.repeat(np.repeat(x, size[0], 1), size[1], 2)), name
            w.comment("%s: y is x with each row repeated %d times and each column %d times, exactly"
                      % (name, size[0], size[1]))
        else:
            assert np.array_equal(y, np_bilinear(x, size[0], size[1])), name
            w.comment("%s: y equals, bit for bit, the float32 half-pixel formula: v = (o + 0.5) * (in / out) - 0.5, "
                      "sources max(floor v, 0) and min(ceil v, in - 1), weight v - floor v, lerp along the width "
                      "then the height" % name)


# ------------------------------------------------------------------ activation layers
def make_activations(w):
    w.comment("")
    w.comment("3. Activation layers. config = the layer's numeric arguments as listed per case")
    rng = np.random.default_rng(3001)
    cases = [
        # name, layer, x_shape, kinks of the input, config
        ("leaky_relu", KL.LeakyReLU(), (2, 3, 4), [0.0], [0.3]),
        ("leaky_relu_01", KL.LeakyReLU(alpha=0.1), (2, 5), [0.0], [0.1]),
        ("relu", KL.ReLU(), (2, 3, 4), [0.0], None),
        ("relu_args", KL.ReLU(max_value=1.2, negative_slope=0.1, threshold=0.2), (3, 8), [0.2, 1.2],
         [1.2, 0.1, 0.2]),
        ("elu", KL.ELU(), (2, 3, 4), [0.0], [1.0]),
        ("elu_05", KL.ELU(alpha=0.5), (2, 5), [0.0], [0.5]),
        ("softmax", KL.Softmax(), (2, 3, 5), None, [-1]),
    ]
    for i, (name, layer, xs, kinks, cfg) in enumerate(cases):
        m = one_layer(layer, xs)
        x = normal(rng, xs, away_from=kinks)
        w.comment("%s: %s on x %s -> y %s%s" % (name, layer_config(layer), xs, tuple(m.output_shape),
                                                 "; config = [max_value, negative_slope, threshold]"
                                                 if name == "relu_args" else ""))
        if name.startswith("leaky"):
            assert abs(layer.alpha - cfg[0]) < 1e-7, (name, layer.alpha)
        record_case(w, name, m, [x], [], 3100 + i, config=cfg)
    # PReLU: alpha is a trainable weight
    for i, (name, shared, xs) in enumerate([("prelu", None, (2, 3, 4, 2)), ("prelu_shared", [1, 2], (2, 3, 4, 2))]):
        layer = KL.PReLU(shared_axes=shared)
        m = one_layer(layer, xs)
        alpha = f32(rng.uniform(0.05, 0.5, size=tuple(layer.alpha.shape)))
        x = normal(rng, xs, away_from=[0.0])
        w.comment("%s: %s on x %s -> y %s, alpha %s%s" % (name, layer_config(layer), xs, tuple(m.output_shape),
                                                          tuple(alpha.shape),
                                                          "; config = shared axes" if shared else ""))
        record_case(w, name, m, [x], [("alpha", layer.alpha, alpha)], 3200 + i, config=shared)


# ------------------------------------------------------------------ merge layers
def merge_model(layer, shapes):
    inps = [tf.keras.Input(shape=s[1:], batch_size=s[0]) for s in shapes]
    return tf.keras.Model(inps, layer(inps))


def make_merge(w):
    w.comment("")
    w.comment("4. Merge layers: inputs x0, x1 (, x2) in call order; config = [axis] for Concatenate")
    rng = np.random.default_rng(4001)
    s = (2, 3, 4)
    cases = [
        ("add2", KL.Add(), [s, s], None),
        ("add3", KL.Add(), [s, s, s], None),
        ("subtract", KL.Subtract(), [s, s], None),
        ("multiply3", KL.Multiply(), [s, s, s], None),
        ("average3", KL.Average(), [s, s, s], None),
        ("maximum3", KL.Maximum(), [s, s, s], None),
        ("minimum3", KL.Minimum(), [s, s, s], None),
        ("concat_last", KL.Concatenate(axis=-1), [(2, 3, 2), (2, 3, 4), (2, 3, 1)], [-1]),
        ("concat_axis1", KL.Concatenate(axis=1), [(2, 2, 3), (2, 4, 3)], [1]),
    ]
    for i, (name, layer, shapes, cfg) in enumerate(cases):
        m = merge_model(layer, shapes)
        for _ in range(1000):
            xs = [normal(rng, sh) for sh in shapes]
            if not name.startswith(("maximum", "minimum")):
                break
            # no near-ties: the winner must be the same in keel, whatever the rounding
            srt = np.sort(np.stack(xs), axis=0)
            if np.min(np.diff(srt, axis=0)) > KINK:
                break
        w.comment("%s: %s on %s -> y %s" % (name, layer_config(layer), " + ".join(str(sh) for sh in shapes),
                                            tuple(m.output_shape)))
        record_case(w, name, m, xs, [], 4100 + i, config=cfg)


# ------------------------------------------------------------------ functional models
def make_resblock(w):
    w.comment("")
    w.comment("5. resblock: x (2, 5, 5, 3) -> conv1 = Conv2D(4, 3, padding=same, activation=relu) -> conv2 = "
              "Conv2D(3, 3, padding=same) -> Add()([conv2, x]) -> ReLU()")
    rng = np.random.default_rng(5001)
    xs = (2, 5, 5, 3)
    inp = tf.keras.Input(shape=xs[1:], batch_size=xs[0])
    conv1 = KL.Conv2D(4, 3, padding="same", activation="relu", name="conv1")
    conv2 = KL.Conv2D(3, 3, padding="same", name="conv2")
    h = conv1(inp)
    z = KL.Add()([conv2(h), inp])
    m = tf.keras.Model(inp, KL.ReLU()(z))
    for attempt in range(500):
        x = normal(rng, xs)
        k1 = f32(rng.normal(0.0, 0.4, size=(3, 3, 3, 4)))
        b1 = f32(rng.normal(0.0, 0.2, size=(4,)))
        k2 = f32(rng.normal(0.0, 0.4, size=(3, 3, 4, 3)))
        b2 = f32(rng.normal(0.0, 0.2, size=(3,)))
        z1 = tf.nn.conv2d(x, k1, 1, "SAME").numpy() + b1
        z2 = tf.nn.conv2d(np.maximum(z1, 0), k2, 1, "SAME").numpy() + b2 + x
        if min(np.min(np.abs(z1)), np.min(np.abs(z2))) > KINK:
            break
    else:
        raise RuntimeError("resblock: no draw keeps the ReLUs' inputs away from 0")
    w.comment("resblock: conv1 pre-activations |z| >= %.3g, final ReLU input |z| >= %.3g"
              % (np.min(np.abs(z1)), np.min(np.abs(z2))))
    weights = [("conv1.kernel", conv1.kernel, k1), ("conv1.bias", conv1.bias, b1),
               ("conv2.kernel", conv2.kernel, k2), ("conv2.bias", conv2.bias, b2)]
    y = record_case(w, "resblock", m, [x], weights, 5100)
    assert np.allclose(y, np.maximum(z2, 0), atol=1e-5), "resblock"


def make_twoin(w):
    w.comment("")
    w.comment("6. twoin: a = Input((4,)), b = Input((3,)); dense_a = Dense(3, tanh)(a), dense_b = Dense(2, tanh)(b); "
              "Concatenate()([dense_a, dense_b]) -> out = Dense(1); batch 4; x0 = a, x1 = b")
    rng = np.random.default_rng(6001)
    a, b = tf.keras.Input(shape=(4,), batch_size=4), tf.keras.Input(shape=(3,), batch_size=4)
    da, db = KL.Dense(3, activation="tanh", name="dense_a"), KL.Dense(2, activation="tanh", name="dense_b")
    out = KL.Dense(1, name="out")
    m = tf.keras.Model([a, b], out(KL.Concatenate()([da(a), db(b)])))
    weights = [("dense_a.kernel", da.kernel, rng.normal(0, 0.5, (4, 3))),
               ("dense_a.bias", da.bias, rng.normal(0, 0.2, 3)),
               ("dense_b.kernel", db.kernel, rng.normal(0, 0.5, (3, 2))),
               ("dense_b.bias", db.bias, rng.normal(0, 0.2, 2)),
               ("out.kernel", out.kernel, rng.normal(0, 0.5, (5, 1))),
               ("out.bias", out.bias, rng.normal(0, 0.2, 1))]
    weights = [(lbl, v, f32(val)) for lbl, v, val in weights]
    record_case(w, "twoin", m, [normal(rng, (4, 4)), normal(rng, (4, 3))], weights, 6100)


def make_shared(w):
    w.comment("")
    w.comment("7. shared: dense = Dense(3, tanh) applied to x0 = Input((4,)) and to x1 = Input((4,)); "
              "Add()([dense(x0), dense(x1)]); batch 3. dense.dkernel / dense.dbias sum both uses")
    rng = np.random.default_rng(7001)
    i0, i1 = tf.keras.Input(shape=(4,), batch_size=3), tf.keras.Input(shape=(4,), batch_size=3)
    dense = KL.Dense(3, activation="tanh", name="dense")
    m = tf.keras.Model([i0, i1], KL.Add()([dense(i0), dense(i1)]))
    assert len(m.trainable_weights) == 2  # one kernel, one bias: the layer is shared
    k, b = f32(rng.normal(0, 0.5, (4, 3))), f32(rng.normal(0, 0.2, 3))
    x0, x1 = normal(rng, (3, 4)), normal(rng, (3, 4))
    y = record_case(w, "shared", m, [x0, x1], [("dense.kernel", dense.kernel, k), ("dense.bias", dense.bias, b)], 7100)
    assert np.allclose(y, np.tanh(x0 @ k + b) + np.tanh(x1 @ k + b), atol=1e-5), "shared"


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit("usage: python3 tools/make_compose_fixtures.py OUT_DIR [--any-version]")
    if (tf.__version__ != EXPECTED_TF or not keras_version().startswith(EXPECTED_KERAS)) \
            and "--any-version" not in argv:
        sys.exit("expected TensorFlow %s / Keras %s, found %s / %s (pass --any-version to go on)"
                 % (EXPECTED_TF, EXPECTED_KERAS, tf.__version__, keras_version()))
    out_dir = args[0]
    os.makedirs(out_dir, exist_ok=True)
    tf.config.set_visible_devices([], "GPU")  # CPU numbers, the same wherever this runs
    w = Writer(os.path.join(out_dir, "keras_compose.txt"),
               "Conv2DTranspose, UpSampling2D, activation layers, merge layers and small functional models: "
               "forward and gradients of L = sum(y * r)")
    make_deconv(w)
    make_upsampling(w)
    make_activations(w)
    make_merge(w)
    make_resblock(w)
    make_twoin(w)
    make_shared(w)
    w.close()


if __name__ == "__main__":
    main(sys.argv)
