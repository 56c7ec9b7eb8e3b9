#!/usr/bin/env python3
"""make_save_fixtures.py: model files written by the real Keras, for keel's loader tests
(issue 10: keel_load and keel_load_weights must read what Keras writes and predict what Keras
predicts).

Usage (run both; each run rewrites its own folder and its half of MANIFEST.json):

    TF_CPP_MIN_LOG_LEVEL=3 /work/venv-tf/bin/python tools/make_save_fixtures.py [tests/fixtures/saved]
    KERAS_BACKEND=jax /work/venv-k3/bin/python tools/make_save_fixtures.py [tests/fixtures/saved]

Keras is not a dependency of keel. The virtual environments (outside the repository):
    python3 -m venv /work/venv-tf && /work/venv-tf/bin/pip install tensorflow-cpu==2.15.1 h5py
    python3 -m venv /work/venv-k3 && /work/venv-k3/bin/pip install keras==3.15.1 jax[cpu] h5py
Made with TensorFlow 2.15.1 (tf.keras 2.15.0) and with Keras 3.15.1 on JAX 0.10.2 (CPU); the
script refuses other versions unless --any-version is given (the files are committed:
regenerate them only on purpose, and keel's tests must pass after).

Which run writes what (under tests/fixtures/saved/):
    tf.keras 2.15  ->  tf2/<model>.h5         model.save("m.h5"): the legacy HDF5 full-model
                                              file, for every model
                       tf2/nested.keras       model.save("m.keras"): tf.keras 2.15's zip
    Keras 3        ->  k3/<model>.keras       model.save("m.keras"), for every model
                       k3/nested.weights.h5   model.save_weights(...) (it holds the optimizer's
                                              variables too)
The secondary formats are written for "nested" alone (SECONDARY below says why); give
--all-formats to write every format of every model into another folder, to study layouts with
tools/h5_tree.py.

Models (Keras layer classes; every one compiled, see MANIFEST.json for the exact arguments):
    mlp     Dense, ELU, LeakyReLU, PReLU, Dropout, BatchNormalization, Activation(tanh), ReLU,
            Softmax                                            adam, categorical_crossentropy
    cnn     functional: Conv2D (same; valid with a (3, 2) kernel and (2, 1) strides),
            MaxPooling2D, ZeroPadding2D (asymmetric and symmetric), BatchNormalization,
            PReLU(shared_axes=[1, 2]), GlobalAveragePooling2D, GlobalMaxPooling2D,
            AveragePooling2D(strides=1), Flatten, Concatenate, Dense   sgd(momentum), sparse CE
    deconv  Dense, Reshape, Conv2DTranspose (same, strides 2; valid with output_padding),
            UpSampling2D nearest and bilinear (2, 3), Conv2D(strides 2)          rmsprop, mse
    rnn     functional: Embedding(mask_zero) on pre-padded ids, LSTM(return_sequences), GRU,
            GlobalAveragePooling1D (masked mean), Concatenate, Dense    rmsprop, sparse CE
    birnn   Bidirectional(LSTM) concat, Bidirectional(LSTM) sum, SimpleRNN    sgd(momentum), mse
    seq1d   Masking(-1), TimeDistributed(Dense), Conv1D (same + strides 2; causal),
            MaxPooling1D, AveragePooling1D(strides 1), GlobalMaxPooling1D, Dense
                                                               rmsprop(momentum), categorical CE
    merge   functional, two inputs: Add, Subtract, Multiply, Average, Maximum, Minimum,
            Concatenate (3 of them: keel merges 2 to 4 inputs), two outputs (mse + categorical CE, loss_weights 1 and 0.5)   adam
    nested  functional: a Sequential holding a Sequential, called twice (shared weights), a
            Dense called twice, Concatenate                    adam(beta_1=0.5), binary CE

Every model is tiny, built after keras.backend.clear_session() and
keras.utils.set_random_seed(seed), and trained for 2 epochs (batch 8, no shuffling) on 32
random samples, so that kernels, BatchNormalization's moving statistics, PReLU's alpha and the
optimizer's slots (8 steps) hold non-trivial values. The script saves the files, reloads each
(keras.models.load_model; a .weights.h5 into a new copy of the architecture) and stops unless
the reload predicts exactly what the model predicted. Beside the files, per model:

    <model>.x.npy (or .x0.npy, .x1.npy)   6 samples of input, float32 (token ids too: float32
                                          whole numbers, as keel's Embedding takes them)
    <model>.y.npy (or .y0.npy, .y1.npy)   Keras's predictions on them, float32
    <model>.t.npy (or .t0.npy, .t1.npy)   targets for them; MANIFEST.json holds
                                          model.evaluate(x, t) of the loaded file

For cnn, rnn, merge and nested (one per optimizer kind; none has Dropout, so a training step
is deterministic) each file is loaded once more and trained with one train_on_batch(x, t), which continues from the
restored optimizer state (Keras restores it: "optimizer_iterations_before" is 8). The manifest
records what train_on_batch returned, and the script writes
    <model>.<h5|keras|weights.h5>.after.y.npy (.y0, .y1)   predictions after that step
    <model>.<h5|keras|weights.h5>.after.npz    every weight after it, keyed by its Keras name
                                          (tf2: variable.name "dense/kernel:0"; k3:
                                          variable.path "dense/kernel"), in model.weights order
"max_diff_vs_uninterrupted" compares those predictions with the same step taken by the
original model, never saved: 0 when the file carried the whole state (it is 0 for all).

MANIFEST.json: {"generators": {"tf2": {versions}, "k3": {versions}}, "models": [one object per
model and version: name, version, keras_version, seed, files [{file, format}], layers (classes,
nested models as {class: [...]}), inputs / outputs / targets [{file, shape, dtype}],
optimizer (name and hyper-parameters), loss, loss_weights, metrics (as compiled), evaluate
{log name: value}, train (how it was trained), continue {file: {...}}]}. Paths are relative to
the manifest's folder; formats are tf2-h5, tf2-keras, k3-keras, k3-weights-h5.

Deterministic: the same seeds give the same weights, data and predictions on every run (the
container bytes are not identical: a .keras file's metadata.json holds the date it was saved).
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

try:
    import tensorflow as tf  # the tf venv: tf.keras 2.15

    keras = tf.keras
    import keras as keras_pkg  # tf.keras 2.15 is the keras 2.15 package; it holds the version

    KERAS_VERSION = keras_pkg.__version__
    TF2 = True
except ImportError:
    import keras  # Keras 3

    KERAS_VERSION = keras.__version__
    TF2 = False

L = keras.layers
VERSION_TAG = "tf2" if TF2 else "k3"
EXPECTED = {"tf2": "2.15.0", "k3": "3.15.1"}

N_TRAIN, N_FIX, BATCH, EPOCHS = 32, 6, 8, 2


def leaky_relu(a):
    return L.LeakyReLU(alpha=a) if TF2 else L.LeakyReLU(negative_slope=a)


# ---------------------------------------------------------------- the models
# Each builder returns (model, make_data) where make_data(rng, n) -> (xs, ts): lists of arrays.
# Only layers and options keel implements (include/keel.h's layer section): channels_last, no
# constraints, no return_state.


def onehot(rng, n, k):
    return np.eye(k, dtype="float32")[rng.randint(0, k, n)]


def m_mlp():
    # Dense, Dropout, BatchNormalization and every activation layer; each activation changes
    # what the next one sees, so a wrong one changes the output
    m = keras.Sequential(
        [
            keras.Input((5,)),
            L.Dense(6),
            L.ELU(alpha=0.5),
            leaky_relu(0.2),
            L.PReLU(),
            L.Dropout(0.2),
            L.BatchNormalization(momentum=0.8),
            L.Activation("tanh"),
            L.ReLU(),
            L.Dense(3),
            L.Softmax(),
        ],
        name="mlp",
    )
    m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return m, lambda r, n: ([r.randn(n, 5).astype("float32")], [onehot(r, n, 3)])


def m_cnn():
    x = keras.Input((8, 8, 2), name="image")
    h = L.Conv2D(3, 3, padding="same", activation="relu")(x)  # 8x8x3
    h = L.MaxPooling2D(2)(h)  # 4x4
    h = L.ZeroPadding2D(((1, 0), (0, 1)))(h)  # 5x5
    h = L.Conv2D(4, (3, 2), strides=(2, 1))(h)  # valid: 2x4x4
    h = L.BatchNormalization(momentum=0.9)(h)
    h = L.PReLU(shared_axes=[1, 2])(h)
    a = L.GlobalAveragePooling2D()(h)
    b = L.GlobalMaxPooling2D()(h)
    c = L.Flatten()(L.AveragePooling2D(2, strides=1)(L.ZeroPadding2D(1)(h)))  # 4x6 -> 3x5
    y = L.Dense(3, activation="softmax")(L.Concatenate()([a, b, c]))
    m = keras.Model(x, y, name="cnn")
    m.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return m, lambda r, n: (
        [r.rand(n, 8, 8, 2).astype("float32")],
        [r.randint(0, 3, (n, 1)).astype("float32")],
    )


def m_deconv():
    m = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(12),
            L.Reshape((2, 2, 3)),
            L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),  # 4x4x4
            L.UpSampling2D(2),  # nearest: 8x8
            L.Conv2D(3, 3, strides=2),  # valid: 3x3x3
            L.UpSampling2D((2, 3), interpolation="bilinear"),  # 6x9x3
            L.Conv2DTranspose(1, 2, strides=2, output_padding=1),  # valid: 13x19x1
            L.Reshape((13, 19)),
        ],
        name="deconv",
    )
    m.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return m, lambda r, n: (
        [r.randn(n, 6).astype("float32")],
        [r.rand(n, 13, 19).astype("float32")],
    )


def padded_ids(r, n, T, vocab):
    """Pre-padded token ids: a random length 2..T per row, zeros before it."""
    x = np.zeros((n, T), "float32")
    for i in range(n):
        k = r.randint(2, T + 1)
        x[i, T - k :] = r.randint(1, vocab, k)
    return x


def m_rnn():
    ids = keras.Input((7,), name="ids")
    e = L.Embedding(20, 4, mask_zero=True)(ids)
    h = L.GRU(3)(L.LSTM(4, return_sequences=True)(e))
    a = L.GlobalAveragePooling1D()(e)  # the mean over the unmasked steps
    y = L.Dense(3, activation="softmax")(L.Concatenate()([h, a]))
    m = keras.Model(ids, y, name="rnn")
    m.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, lambda r, n: ([padded_ids(r, n, 7, 20)], [r.randint(0, 3, (n,)).astype("float32")])


def m_birnn():
    m = keras.Sequential(
        [
            keras.Input((5, 3)),
            L.Bidirectional(L.LSTM(3, return_sequences=True)),  # concat: 5x6
            L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode="sum"),  # 5x2
            L.SimpleRNN(2),
        ],
        name="birnn",
    )
    m.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse", metrics=["mae"]
    )
    return m, lambda r, n: ([r.randn(n, 5, 3).astype("float32")], [r.randn(n, 2).astype("float32")])


def m_seq1d():
    def data(r, n):
        x = r.randn(n, 16, 3).astype("float32")
        x[r.rand(n, 16) < 0.25] = -1.0  # whole steps equal to mask_value
        return [x], [onehot(r, n, 2)]

    m = keras.Sequential(
        [
            keras.Input((16, 3)),
            L.Masking(mask_value=-1.0),
            L.TimeDistributed(L.Dense(4, activation="relu")),
            # Conv1D drops the mask (Keras 3 warns that it does; keel drops it too)
            L.Conv1D(4, 3, strides=2, padding="same"),  # 8x4
            L.MaxPooling1D(2),  # 4x4
            L.Conv1D(3, 2, padding="causal", activation="tanh"),  # 4x3
            L.AveragePooling1D(2, strides=1),  # 3x3
            L.GlobalMaxPooling1D(),
            L.Dense(2, activation="softmax"),
        ],
        name="seq1d",
    )
    m.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.5),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return m, data


def m_merge():
    a = keras.Input((4,), name="in_a")
    b = keras.Input((4,), name="in_b")
    da = L.Dense(3, activation="tanh", name="dense_a")(a)
    db = L.Dense(3, activation="tanh", name="dense_b")(b)
    # keel's merge layers take 2 to 4 inputs: two Concatenates of three, then one of two
    c1 = L.Concatenate()([L.Add()([da, db]), L.Subtract()([da, db]), L.Multiply()([da, db])])
    c2 = L.Concatenate()([L.Average()([da, db]), L.Maximum()([da, db]), L.Minimum()([da, db])])
    h = L.Concatenate()([c1, c2])
    o1 = L.Dense(1, name="reg")(h)
    o2 = L.Dense(3, activation="softmax", name="cls")(h)
    m = keras.Model([a, b], [o1, o2], name="merge")
    m.compile(
        optimizer="adam",
        loss={"reg": "mse", "cls": "categorical_crossentropy"},
        loss_weights={"reg": 1.0, "cls": 0.5},
        metrics={"reg": ["mae"], "cls": ["accuracy"]},
    )
    return m, lambda r, n: (
        [r.randn(n, 4).astype("float32"), r.randn(n, 4).astype("float32")],
        [r.randn(n, 1).astype("float32"), onehot(r, n, 3)],
    )


def m_nested():
    # a Sequential inside a Sequential, that one called twice inside a functional model (one
    # set of weights), and a Dense layer called twice
    core = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu")], name="core")
    tower = keras.Sequential([keras.Input((4,)), core, leaky_relu(0.2), L.Dense(4)], name="tower")
    x = keras.Input((4,), name="x")
    h1 = tower(x)
    h2 = tower(h1)
    shared = L.Dense(2, activation="tanh", name="shared")
    s1, s2 = shared(h1), shared(h2)
    y = L.Dense(1, activation="sigmoid", name="out")(L.Concatenate()([s1, s2]))
    m = keras.Model(x, y, name="nested")
    m.compile(
        optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return m, lambda r, n: (
        [r.randn(n, 4).astype("float32")],
        [r.randint(0, 2, (n, 1)).astype("float32")],
    )


# name, builder, seed, continue-training check (only models without Dropout qualify)
MODELS = [
    ("mlp", m_mlp, 101, False),
    ("cnn", m_cnn, 102, True),
    ("deconv", m_deconv, 104, False),
    ("rnn", m_rnn, 105, True),
    ("birnn", m_birnn, 106, False),
    ("seq1d", m_seq1d, 107, False),
    ("merge", m_merge, 108, True),
    ("nested", m_nested, 109, True),
]


# The secondary formats (tf.keras 2.15's .keras, Keras 3's .weights.h5) only for these models:
# HDF5 spends about 2 KB on every group (each layer has two or three), so every model in every
# format would pass 1.5 MB. "nested" has the deepest paths, and its files pair with its
# primary ones (the same weights in two formats). --all-formats writes every format of every
# model, to study the layouts (tools/h5_tree.py); do not commit that.
SECONDARY = ("nested",)


# ---------------------------------------------------------------- helpers


def as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def one_or_list(v):
    """Keras's x / y argument: the array itself for one input, else the list."""
    return v if len(v) > 1 else v[0]


def predict(m, xs):
    return [np.asarray(p, "float32") for p in as_list(m.predict(one_or_list(xs), verbose=0))]


def floats(d):
    return {k: float(v) for k, v in sorted(d.items())}


def maxdiff(a_list, b_list):
    return max(float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(a_list, b_list))


def weight_names(m):
    """Each model weight's Keras name, in m.weights order (Keras 3: variable.path)."""
    return [w.name if TF2 else w.path for w in m.weights]


def save_npys(folder, stem, tag, arrays):
    out = []
    for i, a in enumerate(arrays):
        f = f"{stem}.{tag}.npy" if len(arrays) == 1 else f"{stem}.{tag}{i}.npy"
        np.save(os.path.join(folder, f), a)
        out.append({"file": f"{VERSION_TAG}/{f}", "shape": list(a.shape), "dtype": str(a.dtype)})
    return out


def compile_config(m):
    """loss, loss_weights, metrics and the optimizer's hyper-parameters, as compiled."""
    cfg = m._compile_config.config  # both versions keep compile()'s arguments here
    opt = m.optimizer.get_config()
    keep = ("name", "learning_rate", "momentum", "beta_1", "beta_2", "epsilon", "rho", "nesterov")
    return {
        "optimizer": {k: jsonable(v) for k, v in opt.items() if k in keep},
        "loss": jsonable(cfg.get("loss")),
        "loss_weights": jsonable(cfg.get("loss_weights")),
        "metrics": jsonable(cfg.get("metrics")),
    }


def jsonable(v):
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def layer_classes(m):
    """The model's layers by class, nested models as {class: [...]}, wrappers with their layer."""
    out = []
    for l in m.layers:
        c = type(l).__name__
        if isinstance(l, keras.Model):
            out.append({c: layer_classes(l)})
        elif isinstance(l, L.Bidirectional):
            out.append(f"{c}({type(l.forward_layer).__name__}, {l.merge_mode})")
        elif isinstance(l, L.TimeDistributed):
            out.append(f"{c}({type(l.layer).__name__})")
        else:
            out.append(c)
    return out


def load_file(root, entry, builder, seed):
    path = os.path.join(root, entry["file"])
    if entry["format"] != "k3-weights-h5":
        return keras.models.load_model(path)
    keras.utils.set_random_seed(seed)  # the same architecture (names may differ: matched by
    m, _ = builder()  # position in Keras 3's weights files)
    m.optimizer.build(m.trainable_variables)  # so that the file's optimizer state loads too
    m.load_weights(path)
    return m


# ---------------------------------------------------------------- one model


def gen_one(root, all_formats, name, builder, seed, cont):
    folder = os.path.join(root, VERSION_TAG)
    keras.backend.clear_session()  # layer names start afresh (dense, dense_1, ...) per model
    keras.utils.set_random_seed(seed)
    m, data = builder()
    r = np.random.RandomState(seed)
    xtr, ttr = data(r, N_TRAIN)
    xs, ts = data(r, N_FIX)
    m.fit(one_or_list(xtr), one_or_list(ttr), batch_size=BATCH, epochs=EPOCHS, shuffle=False,
          verbose=0)
    ys = predict(m, xs)

    second = all_formats or name in SECONDARY
    if TF2:
        targets = [(f"{name}.h5", "tf2-h5")] + [(f"{name}.keras", "tf2-keras")] * second
    else:
        targets = [(f"{name}.keras", "k3-keras")] + [(f"{name}.weights.h5", "k3-weights-h5")] * second
    files = []
    for f, fmt in targets:
        path = os.path.join(folder, f)
        m.save_weights(path) if fmt == "k3-weights-h5" else m.save(path)
        files.append({"file": f"{VERSION_TAG}/{f}", "format": fmt})

    # every file must give back exactly what the model predicts
    for entry in files:
        d = maxdiff(ys, predict(load_file(root, entry, builder, seed), xs))
        if d != 0.0:
            sys.exit(f"{entry['file']}: the reloaded model predicts differently (max diff {d})")

    entry = {
        "name": name,
        "version": VERSION_TAG,
        "keras_version": KERAS_VERSION,
        "seed": seed,
        "files": files,
        "layers": layer_classes(m),
        "inputs": save_npys(folder, name, "x", xs),
        "outputs": save_npys(folder, name, "y", ys),
        "targets": save_npys(folder, name, "t", ts),
        "evaluate": floats(
            load_file(root, files[0], builder, seed).evaluate(
                one_or_list(xs), one_or_list(ts), batch_size=32, verbose=0, return_dict=True
            )
        ),
        "train": {"samples": N_TRAIN, "batch_size": BATCH, "epochs": EPOCHS, "shuffle": False},
    }
    entry.update(compile_config(m))
    if cont:
        entry["continue"] = continue_check(root, folder, name, m, builder, seed, files, xs, ts)
    return entry


def continue_check(root, folder, name, m, builder, seed, files, xs, ts):
    """One train_on_batch(x, t) on each reloaded file: the logs, predictions and weights after
    it; and whether the original model, never saved, takes the very same step."""
    out = {}
    for entry in files:
        m2 = load_file(root, entry, builder, seed)
        its = int(np.asarray(m2.optimizer.iterations))
        logs = floats(m2.train_on_batch(one_or_list(xs), one_or_list(ts), return_dict=True))
        stem = os.path.basename(entry["file"]) + ".after"
        np.savez(
            os.path.join(folder, stem + ".npz"),
            **{n: np.asarray(w.numpy()) for n, w in zip(weight_names(m2), m2.weights)},
        )
        out[entry["file"]] = {
            "optimizer_iterations_before": its,
            "train_on_batch": logs,
            "predictions_after": save_npys(folder, stem, "y", predict(m2, xs)),
            "weights_after": f"{VERSION_TAG}/{stem}.npz",
        }
    logs = floats(m.train_on_batch(one_or_list(xs), one_or_list(ts), return_dict=True))
    after = predict(m, xs)
    for v in out.values():
        got = [np.load(os.path.join(root, y["file"])) for y in v["predictions_after"]]
        v["uninterrupted_train_on_batch"] = logs
        v["max_diff_vs_uninterrupted"] = maxdiff(got, after)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="tests/fixtures/saved")
    ap.add_argument("--any-version", action="store_true")
    ap.add_argument("--all-formats", action="store_true", help="every format of every model")
    args = ap.parse_args()
    ver = KERAS_VERSION
    if not TF2 and keras.backend.backend() != "jax":
        sys.exit("run Keras 3 with KERAS_BACKEND=jax")
    if ver != EXPECTED[VERSION_TAG] and not args.any_version:
        sys.exit(f"Keras {ver}, expected {EXPECTED[VERSION_TAG]} (--any-version to go on)")
    if TF2:
        tf.config.experimental.enable_op_determinism()
    folder = os.path.join(args.root, VERSION_TAG)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)

    entries = [gen_one(args.root, args.all_formats, *spec) for spec in MODELS]

    man_path = os.path.join(args.root, "MANIFEST.json")
    man = {"generators": {}, "models": []}
    if os.path.exists(man_path):
        with open(man_path) as f:
            man = json.load(f)
    gen = {"keras": ver, "numpy": np.__version__, "python": sys.version.split()[0]}
    if TF2:
        gen["tensorflow"] = tf.__version__
    else:
        import jax

        gen["backend"] = "jax " + jax.__version__
    man["generators"][VERSION_TAG] = gen
    man["models"] = [e for e in man["models"] if e["version"] != VERSION_TAG] + entries
    man["models"].sort(key=lambda e: (e["version"], e["name"]))
    with open(man_path, "w") as f:  # one model per line: short, and diffs stay readable
        f.write('{"generators": %s,\n "models": [\n' % json.dumps(man["generators"], sort_keys=True))
        f.write(",\n".join("  " + json.dumps(e, sort_keys=True) for e in man["models"]))
        f.write("\n ]}\n")
    size = sum(os.path.getsize(os.path.join(folder, p)) for p in os.listdir(folder))
    print(f"{folder}: {len(os.listdir(folder))} files, {size} bytes")


if __name__ == "__main__":
    main()
