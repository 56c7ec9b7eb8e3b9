#!/usr/bin/env python3
"""make_config_fixtures.py: layer configs as the real Keras writes them, for keel's Keras-schema
layer configs (src/save/config.h, tests/test_config.c).

Usage (two runs, one per Keras; each writes one file):
    KERAS_BACKEND=jax /work/venv-k3/bin/python tools/make_config_fixtures.py tests/fixtures
    TF_CPP_MIN_LOG_LEVEL=3 /work/venv-tf/bin/python tools/make_config_fixtures.py tests/fixtures

The script finds out which Keras it runs under:
  - Keras 3 (made with 3.15.1, jax backend) writes layer_configs_k3.json: each case's
    keras.layers.serialize(layer) after layer.build(shape) where the case has a shape and the
    layer is not built at construction, so the object carries the build_config a .keras file
    holds for it (none for the layers Keras builds at construction);
  - tf.keras 2 (made with TensorFlow 2.15.1 / Keras 2.15.0) writes layer_configs_tf2.json: each
    case's keras.layers.serialize(layer, use_legacy_format=True), the schema of a legacy .h5
    file's model_config ({"class_name", "config"}; "dtype": "float32"; float hyper-parameters
    rounded through float32; batch_input_shape on a layer given input_shape).
Neither Keras is a dependency of keel; the files are committed and the tests need no Python.
Other versions are refused unless --any-version is given (regenerate only on purpose).

File format: {"keras": "<version>", "schema": "keras3" | "tf2-legacy", "cases": [...]}, each case
{"id": ..., "object": <the serialized layer>, "expect": <id>, "input_shape": <the shape Keras 3
builds the layer on, [null, ...], a list of them for a merge, or null>}. "expect" names the Keras 3 case
whose object keel must write after reading this one (test_config.c compares them with
json_equal): the same id, or a twin where the two Kerases or keel's spelling differ (tf.keras 2's
Embedding(input_length) has no Keras 3 twin but the layer without it; VarianceScaling(2,
"fan_in", "truncated_normal") is keel's he_normal, written back as HeNormal).

Every layer is named, so both Kerases write the same names. Cases cover every layer kind keel
reads, with options away from their defaults: strides, "same" padding, dilation, use_bias
False, initializers with arguments, regularizers, mask_zero, return_sequences, go_backwards,
each merge mode, each activation.
"""
import argparse
import json
import os
import sys


def keras_modules():
    try:
        import tensorflow as tf  # noqa: F401  (tf.keras 2 only when TensorFlow is there)

        import keras as keras_pkg

        if keras_pkg.__version__.startswith("2."):
            return tf.keras, 2, keras_pkg.__version__
    except ImportError:
        pass
    import keras

    return keras, int(keras.__version__.split(".")[0]), keras.__version__


def cases(keras, major):
    """(id, make, build_shape, expect, only): make() returns the layer; build_shape is the input
    shape Keras 3 builds it on (None: not built); expect the Keras 3 twin's id (None: itself);
    only 2 or 3 limits a case to one Keras."""
    L, I, R = keras.layers, keras.initializers, keras.regularizers
    img = (None, 8, 8, 3)
    seq = (None, 5, 4)
    vec = (None, 6)
    out = []

    def add(cid, make, shape=None, expect=None, only=None):
        out.append((cid, make, shape, expect, only))

    # ---- InputLayer
    if major == 3:
        add("input_image", lambda: L.InputLayer(batch_shape=(None, 28, 28, 1), name="in_img"))
        add("input_tokens", lambda: L.InputLayer(batch_shape=(None, 20), dtype="int32",
                                                 name="in_tok"))
    else:
        add("input_image", lambda: L.InputLayer(input_shape=(28, 28, 1), name="in_img"))
        add("input_tokens", lambda: L.InputLayer(input_shape=(20,), dtype="int32",
                                                 name="in_tok"))

    # ---- Dense, with every initializer and regularizer keel has
    add("dense_relu", lambda: L.Dense(64, activation="relu", name="d_relu"), vec)
    add("dense_nobias", lambda: L.Dense(10, activation="softmax", use_bias=False,
                                        kernel_initializer=I.HeNormal(seed=3), name="d_nobias"),
        vec)
    add("dense_reg", lambda: L.Dense(8, kernel_regularizer=R.L2(0.001),
                                     bias_regularizer=R.L1(0.01),
                                     kernel_initializer=I.RandomNormal(mean=0.1, stddev=0.02),
                                     bias_initializer=I.Constant(0.1), name="d_reg"), vec)
    add("dense_l1l2", lambda: L.Dense(4, kernel_regularizer=R.L1L2(l1=0.001, l2=0.002),
                                      kernel_initializer=I.TruncatedNormal(stddev=0.3, seed=5),
                                      bias_initializer=I.Ones(), activation="tanh",
                                      name="d_l1l2"), vec)
    add("dense_uniform", lambda: L.Dense(4, kernel_initializer=I.RandomUniform(-0.1, 0.2, seed=7),
                                         activation="sigmoid", name="d_unif"), vec)
    add("dense_glorot_normal", lambda: L.Dense(3, kernel_initializer=I.GlorotNormal(seed=11),
                                               bias_initializer=I.RandomNormal(stddev=0.5),
                                               name="d_gn"), vec)
    add("dense_lecun", lambda: L.Dense(3, kernel_initializer=I.LecunUniform(),
                                       bias_initializer=I.LecunNormal(seed=2), name="d_lecun"),
        vec)
    add("dense_he_uniform", lambda: L.Dense(3, kernel_initializer=I.HeUniform(seed=9),
                                            name="d_heu"), vec)
    add("dense_orthogonal", lambda: L.Dense(5, kernel_initializer=I.Orthogonal(gain=2.0, seed=1),
                                            name="d_orth"), vec)
    add("dense_identity", lambda: L.Dense(6, kernel_initializer=I.Identity(), name="d_id"), vec)
    add("dense_varscale", lambda: L.Dense(3, kernel_initializer=I.VarianceScaling(
        scale=2.0, mode="fan_in", distribution="truncated_normal"), name="d_vs"), vec,
        expect="dense_varscale_twin")
    add("dense_varscale_twin", lambda: L.Dense(3, kernel_initializer=I.HeNormal(), name="d_vs"),
        vec)
    if major == 2:
        # tf.keras 2 puts batch_input_shape on a first layer given input_shape
        add("dense_input_shape", lambda: L.Dense(7, input_shape=(6,), name="d_first"),
            expect="dense_input_shape")
    else:
        add("dense_input_shape", lambda: L.Dense(7, name="d_first"))

    # ---- Activation: every activation keel has (Keras 3 names swish "silu", hard_swish
    # "hard_silu"; tf.keras 2 has no hard_silu and names silu "swish")
    acts = ["linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax",
            "elu", "selu", "gelu", "silu", "mish", "leaky_relu", "softplus", "softsign",
            "exponential"]
    for a in acts:
        add("activation_" + a, (lambda a=a: L.Activation(a, name="act_" + a)), vec)
    add("activation_hard_silu", lambda: L.Activation("hard_silu", name="act_hard_silu"), vec,
        only=3)

    # ---- core and reshaping
    add("dropout", lambda: L.Dropout(0.25, seed=42, name="drop"), vec)
    add("dropout_noseed", lambda: L.Dropout(0.5, name="drop2"), vec)
    add("flatten", lambda: L.Flatten(name="flat"), img)
    add("reshape", lambda: L.Reshape((4, -1), name="resh"), (None, 8, 3))

    # ---- convolution and pooling
    add("conv2d_same", lambda: L.Conv2D(16, (3, 5), strides=(2, 1), padding="same",
                                        activation="relu", kernel_regularizer=R.L2(0.0005),
                                        name="c2_same"), img)
    add("conv2d_dilated", lambda: L.Conv2D(8, 3, dilation_rate=2, use_bias=False,
                                           kernel_initializer="he_uniform", name="c2_dil"), img)
    add("maxpool2d_same", lambda: L.MaxPooling2D((3, 3), strides=(2, 2), padding="same",
                                                 name="mp_same"), img)
    add("maxpool2d_default", lambda: L.MaxPooling2D(name="mp"), img)
    add("avgpool2d", lambda: L.AveragePooling2D((2, 3), strides=1, name="ap"), img)
    add("gap2d", lambda: L.GlobalAveragePooling2D(name="gap"), img)
    add("gmp2d", lambda: L.GlobalMaxPooling2D(name="gmp"), img)
    add("batchnorm", lambda: L.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False,
                                                  name="bn"), img)
    add("batchnorm_noscale", lambda: L.BatchNormalization(scale=False, name="bn2"), vec)
    add("zeropad_asym", lambda: L.ZeroPadding2D(((1, 2), (3, 4)), name="zp"), img)
    add("zeropad_int", lambda: L.ZeroPadding2D(2, name="zp2"), img)
    add("upsampling_bilinear", lambda: L.UpSampling2D((2, 3), interpolation="bilinear",
                                                      name="up_bil"), img)
    add("upsampling", lambda: L.UpSampling2D(name="up"), img)
    add("deconv_same", lambda: L.Conv2DTranspose(16, 4, strides=2, padding="same",
                                                 activation="relu", name="dc_same"), img)
    add("deconv_outpad", lambda: L.Conv2DTranspose(3, (3, 3), strides=2, output_padding=(1, 1),
                                                   use_bias=False, name="dc_op"), img)

    # ---- sequences
    add("embedding", lambda: L.Embedding(1000, 64, mask_zero=True,
                                         embeddings_initializer=I.RandomNormal(stddev=0.01),
                                         embeddings_regularizer=R.L2(1e-4), name="emb"),
        (None, 20))
    if major == 2:
        add("embedding_input_length", lambda: L.Embedding(500, 16, input_length=12, name="emb2"),
            expect="embedding_input_length")
    else:
        add("embedding_input_length", lambda: L.Embedding(500, 16, name="emb2"))
    add("masking", lambda: L.Masking(mask_value=-1.0, name="mask"), seq)
    add("conv1d_causal", lambda: L.Conv1D(32, 5, padding="causal", dilation_rate=2,
                                          activation="relu", name="c1_causal"), seq)
    add("conv1d_strided", lambda: L.Conv1D(16, 3, strides=2, padding="same", use_bias=False,
                                           name="c1_str"), seq)
    add("maxpool1d", lambda: L.MaxPooling1D(3, strides=2, padding="same", name="mp1"), seq)
    add("avgpool1d", lambda: L.AveragePooling1D(2, name="ap1"), seq)
    add("gmp1d", lambda: L.GlobalMaxPooling1D(name="gmp1"), seq)
    add("gap1d", lambda: L.GlobalAveragePooling1D(name="gap1"), seq)

    # ---- merging (built on two inputs: build_config holds a list of shapes)
    two = [vec, vec]
    add("add", lambda: L.Add(name="m_add"), two)
    add("subtract", lambda: L.Subtract(name="m_sub"), two)
    add("multiply", lambda: L.Multiply(name="m_mul"), two)
    add("average", lambda: L.Average(name="m_avg"), two)
    add("maximum", lambda: L.Maximum(name="m_max"), two)
    add("minimum", lambda: L.Minimum(name="m_min"), two)
    add("concatenate", lambda: L.Concatenate(axis=1, name="m_cat"), [(None, 3, 4), (None, 2, 4)])

    # ---- activation layers
    add("leaky_relu", lambda: L.LeakyReLU(0.1, name="lrelu"), vec)
    add("leaky_relu_default", lambda: L.LeakyReLU(name="lrelu2"), vec)
    add("relu_layer", lambda: L.ReLU(name="relu_l"), vec)
    add("elu_layer", lambda: L.ELU(0.5, name="elu_l"), vec)
    add("softmax_layer", lambda: L.Softmax(name="softmax_l"), vec)
    add("prelu", lambda: L.PReLU(alpha_initializer=I.Constant(0.25), shared_axes=[1, 2],
                                 name="prelu"), img)
    add("prelu_plain", lambda: L.PReLU(name="prelu2"), vec)

    # ---- recurrent
    add("lstm_full", lambda: L.LSTM(32, return_sequences=True, go_backwards=True, dropout=0.1,
                                    recurrent_dropout=0.2, kernel_regularizer=R.L2(0.01),
                                    unit_forget_bias=False, name="lstm_full"), seq)
    add("lstm", lambda: L.LSTM(16, name="lstm_plain"), seq)
    add("lstm_acts", lambda: L.LSTM(8, activation="relu", recurrent_activation="hard_sigmoid",
                                    recurrent_initializer=I.Orthogonal(gain=0.5),
                                    name="lstm_acts"), seq)
    add("gru_v1", lambda: L.GRU(8, reset_after=False, return_sequences=True, name="gru_v1"), seq)
    add("gru", lambda: L.GRU(4, activation="relu", use_bias=False, name="gru_plain"), seq)
    add("simple_rnn", lambda: L.SimpleRNN(6, activation="relu", go_backwards=True,
                                          bias_regularizer=R.L1(0.02), name="srnn"), seq)

    # ---- wrappers
    add("bidi_sum", lambda: L.Bidirectional(L.LSTM(8, return_sequences=True, name="bl"),
                                            merge_mode="sum", name="bidi_sum"), seq)
    add("bidi_ave", lambda: L.Bidirectional(L.GRU(4, name="bg"), merge_mode="ave",
                                            name="bidi_ave"), seq)
    add("bidi_mul", lambda: L.Bidirectional(L.SimpleRNN(3, name="bs"), merge_mode="mul",
                                            name="bidi_mul"), seq)
    add("bidi_concat", lambda: L.Bidirectional(L.LSTM(5, dropout=0.1, name="bc"),
                                               name="bidi_concat"), seq)
    add("timedistributed_dense", lambda: L.TimeDistributed(
        L.Dense(8, activation="relu", name="td_inner"), name="td"), seq)
    add("timedistributed_dropout", lambda: L.TimeDistributed(L.Dropout(0.5, name="td_drop_in"),
                                                             name="td_drop"), seq)
    return [c for c in out if c[4] in (None, major)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--any-version", action="store_true")
    args = ap.parse_args()
    keras, major, version = keras_modules()
    want = {2: "2.15.0", 3: "3.15.1"}[major]
    if version != want and not args.any_version:
        sys.exit(f"made with Keras {want}, this is {version} (--any-version to force)")
    if major == 3 and keras.backend.backend() != "jax":
        sys.exit("run Keras 3 with KERAS_BACKEND=jax")
    res = []
    for cid, make, shape, expect, _ in cases(keras, major):
        layer = make()
        if major == 3:
            # as a model would: a layer Keras builds at construction (no weights: Dropout,
            # pooling, activations, Reshape) is not built again and writes no build_config
            if shape is not None and not layer.built:
                layer.build(shape)
            obj = keras.layers.serialize(layer)
        else:
            obj = keras.layers.serialize(layer, use_legacy_format=True)
        # a round trip through json: tuples become lists, as in a file; NumPy values as
        # tf.keras's own encoder writes them (json_utils.get_json_type: tolist)
        text = json.dumps(obj, default=lambda o: o.tolist())
        res.append({"id": cid, "object": json.loads(text), "expect": expect or cid,
                    "input_shape": json.loads(json.dumps(shape))})
    name = "layer_configs_k3.json" if major == 3 else "layer_configs_tf2.json"
    doc = {"keras": version, "schema": "keras3" if major == 3 else "tf2-legacy",
           "cases": res}
    with open(os.path.join(args.outdir, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{name}: {len(res)} cases")


if __name__ == "__main__":
    main()
