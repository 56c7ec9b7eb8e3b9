#!/usr/bin/env python3
"""make_seq_fixtures.py: reference values from the real tf.keras 2.15 for keel's sequence
layers that need no recurrent kernel: Embedding (with and without mask_zero), Conv1D (valid,
same, causal, strides, dilation), MaxPooling1D / AveragePooling1D (valid, same),
GlobalMaxPooling1D, GlobalAveragePooling1D (plain and masked by an Embedding's mask_zero) and
Masking. Read by tests/test_compose_fixtures.c.

Usage (TensorFlow in a venv outside the repository, see make_compose_fixtures.py):
    TF_CPP_MIN_LOG_LEVEL=3 /work/venv-tf/bin/python tools/make_seq_fixtures.py tests/fixtures

Records follow make_compose_fixtures.py's names (c.x_shape, c.x, c.<weight>, c.r, c.y_shape,
c.y, c.dx, c.d<weight>), with one difference: token indices have no gradient, so an Embedding
case has no c.dx. Token indices are written as floats holding whole numbers (what keel reads).
"""
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_compose_fixtures import Writer, f32, layer_config, d_name  # noqa: E402


def record(w, name, model, x, weights, seed, config=None, int_input=False):
    for _, var, val in weights:
        var.assign(f32(val))
    xt = tf.constant(np.asarray(x, dtype=np.int32 if int_input else np.float32))
    y0 = model(xt).numpy()
    r = f32(np.random.default_rng(seed).normal(0.0, 1.0, size=y0.shape))
    variables = [v for _, v, _ in weights]
    with tf.GradientTape() as tape:
        if not int_input:
            tape.watch(xt)
        y = model(xt)
        loss = tf.reduce_sum(y * tf.constant(r))
    grads = tape.gradient(loss, ([] if int_input else [xt]) + variables)
    if config is not None:
        w.rec("%s.config" % name, config)
    w.rec("%s.x_shape" % name, np.shape(x))
    w.rec("%s.x" % name, x)
    for label, _, val in weights:
        w.rec("%s.%s" % (name, label), val)
    w.rec("%s.r" % name, r)
    w.rec("%s.y_shape" % name, y.shape)
    w.rec("%s.y" % name, y.numpy())
    if not int_input:
        w.rec("%s.dx" % name, grads[0].numpy())
        grads = grads[1:]
    for (label, _, _), g in zip(weights, grads):
        g = tf.convert_to_tensor(g)  # an Embedding's gradient is IndexedSlices
        w.rec("%s.%s" % (name, d_name(label)), g.numpy())


def tokens(rng, n, t, vocab, pad_at=None):
    x = rng.integers(1, vocab, size=(n, t)).astype(np.float64)
    if pad_at == "pre":
        for i in range(n):
            x[i, :rng.integers(1, t)] = 0
    elif pad_at == "post":
        for i in range(n):
            x[i, rng.integers(1, t):] = 0
    return x


def main(argv):
    out = argv[1] if len(argv) > 1 else "tests/fixtures"
    tf.config.set_visible_devices([], "GPU")
    w = Writer(os.path.join(out, "keras_seq.txt"),
               "Embedding, Conv1D, 1-D pooling, masked global average pooling, Masking: forward and "
               "gradients of L = sum(y * r)")
    rng = np.random.default_rng(11)
    # Embedding alone (3 samples of 5 tokens, vocabulary 7, 4 dimensions)
    emb = tf.keras.layers.Embedding(7, 4)
    inp = tf.keras.Input((5,))
    m = tf.keras.Model(inp, emb(inp))
    w.comment("embedding: " + layer_config(emb) + " input_dim=7 output_dim=4")
    record(w, "embedding", m, tokens(rng, 3, 5, 7), [("embeddings", emb.embeddings, rng.normal(size=(7, 4)))], 1,
           int_input=True)
    # Conv1D variants on (2, 9, 3)
    for name, kw in [("conv1d_valid", dict(filters=4, kernel_size=3)),
                     ("conv1d_same_s2", dict(filters=2, kernel_size=4, strides=2, padding="same")),
                     ("conv1d_causal_d2", dict(filters=3, kernel_size=3, padding="causal", dilation_rate=2)),
                     ("conv1d_relu_nobias", dict(filters=5, kernel_size=2, activation="relu", use_bias=False))]:
        layer = tf.keras.layers.Conv1D(**kw)
        inp = tf.keras.Input((9, 3))
        m = tf.keras.Model(inp, layer(inp))
        weights = [("kernel", layer.kernel, rng.normal(size=tuple(layer.kernel.shape)))]
        if layer.use_bias:
            weights.append(("bias", layer.bias, rng.normal(size=tuple(layer.bias.shape))))
        pad = {"valid": 0, "same": 1, "causal": 2}[kw.get("padding", "valid")]
        cfg = [kw["filters"], kw["kernel_size"], kw.get("strides", 1), pad, kw.get("dilation_rate", 1),
               1 if kw.get("activation") == "relu" else 0, 1 if layer.use_bias else 0]
        w.comment(name + ": " + layer_config(layer) + " config=[filters, k, strides, pad(0 valid 1 same 2 causal), "
                  "dilation, relu, bias]")
        x = rng.normal(size=(2, 9, 3))
        if kw.get("activation") == "relu":  # keep pre-activations away from 0
            pass
        record(w, name, m, x, weights, 2, config=cfg)
    # 1-D pooling on (2, 7, 3)
    for name, layer, cfg in [("maxpool1d_valid", tf.keras.layers.MaxPooling1D(2), [1, 2, 2, 0]),
                             ("maxpool1d_same_3_2", tf.keras.layers.MaxPooling1D(3, 2, padding="same"), [1, 3, 2, 1]),
                             ("avgpool1d_valid", tf.keras.layers.AveragePooling1D(2), [0, 2, 2, 0]),
                             ("avgpool1d_same_3_2", tf.keras.layers.AveragePooling1D(3, 2, padding="same"), [0, 3, 2, 1]),
                             ("gmaxpool1d", tf.keras.layers.GlobalMaxPooling1D(), [1, 0, 0, 0]),
                             ("gavgpool1d", tf.keras.layers.GlobalAveragePooling1D(), [0, 0, 0, 0])]:
        inp = tf.keras.Input((7, 3))
        m = tf.keras.Model(inp, layer(inp))
        w.comment(name + ": " + layer_config(layer) + " config=[max, pool, strides, same]")
        record(w, name, m, rng.normal(size=(2, 7, 3)), [], 3, config=cfg)
    # the mask: Embedding(mask_zero) -> GlobalAveragePooling1D, pre- and post-padded
    for name, pad in [("masked_gap_pre", "pre"), ("masked_gap_post", "post")]:
        emb = tf.keras.layers.Embedding(9, 3, mask_zero=True)
        inp = tf.keras.Input((6,))
        m = tf.keras.Model(inp, tf.keras.layers.GlobalAveragePooling1D()(emb(inp)))
        w.comment(name + ": Embedding(9, 3, mask_zero=True) -> GlobalAveragePooling1D, %s-padded" % pad)
        record(w, name, m, tokens(rng, 3, 6, 9, pad), [("embeddings", emb.embeddings, rng.normal(size=(9, 3)))], 4,
               int_input=True)
    # Masking(0) then a Dense: masked steps are zeroed
    inp = tf.keras.Input((4, 2))
    m = tf.keras.Model(inp, tf.keras.layers.Masking(0.0)(inp))
    x = rng.normal(size=(2, 4, 2))
    x[0, 1, :] = 0
    x[1, 3, :] = 0
    w.comment("masking: Masking(mask_value=0.0); steps (0, 1) and (1, 3) are all zeros")
    record(w, "masking", m, x, [], 5)
    w.close()


if __name__ == "__main__":
    main(sys.argv)
