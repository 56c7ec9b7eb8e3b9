#!/usr/bin/env python3
"""Seeds and dictionary for the model-file fuzz harnesses (tests/fuzz/fuzz_keras_*.c).

Writes, from the committed fixtures (needs h5py: /work/venv-tf/bin/python tools/make_fuzz_seeds.py):
  tests/fuzz/seeds/keras_config/  config.json of every .keras under tests/fixtures/saved, the
      model_config of every tf.keras 2 .h5 with its training_config put in the object (the
      harness compiles from it), and every layer of tests/fixtures/layer_configs_*.json inside a
      Sequential with an InputLayer of the case's input shape
  tests/fuzz/seeds/keras_file/    byte 0 = mode | fixture << 2 (fuzz_keras_file.c), then: whole
      files (mode 0), a fixture's model.weights.h5 (1), its config.json (2), a tf.keras 2
      fixture's model_config (3)
  tests/fuzz/keras.dict           the keys and short strings of all those configs, as JSON
      strings, and numbers at the edges of keel's ranges
JSON seeds are written compactly; the fixture order is the harness's."""
import glob
import json
import os
import zipfile

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAVED = os.path.join(ROOT, "tests/fixtures/saved")
SEEDS = os.path.join(ROOT, "tests/fuzz/seeds")
FIXTURES = ["mlp", "cnn", "rnn", "birnn", "merge", "nested", "seq1d", "deconv"]  # harness order
WEIGHT_SEEDS = ["mlp", "rnn", "birnn", "nested"]  # mode 1: the layouts, kept few (~40 KB each)


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def write(sub, name, data):
    d = os.path.join(SEEDS, sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def keras_member(name, member):
    with zipfile.ZipFile(os.path.join(SAVED, "k3", name + ".keras")) as z:
        return z.read(member)


def legacy_config(path):
    with h5py.File(path, "r") as f:
        mc = json.loads(f.attrs["model_config"])
        if "training_config" in f.attrs:
            mc["training_config"] = json.loads(f.attrs["training_config"])
        return mc


def layer_seeds(schema_file):
    d = json.load(open(schema_file))
    key = "batch_shape" if d["schema"] == "keras3" else "batch_input_shape"
    out = {}
    for case in d["cases"]:
        layers = []
        if case["input_shape"] is not None:
            layers.append({"class_name": "InputLayer",
                           "config": {key: case["input_shape"], "name": "in"}})
        layers.append(case["object"])
        out[case["id"]] = {"class_name": "Sequential",
                           "config": {"name": "s", "layers": layers}}
    return d["schema"], out


def strings(obj, acc):
    if isinstance(obj, dict):
        for k, v in obj.items():
            acc.add(k)
            strings(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            strings(v, acc)
    elif isinstance(obj, str) and len(obj) <= 40:
        acc.add(obj)


def main():
    for sub in ("keras_config", "keras_file"):
        for f in glob.glob(os.path.join(SEEDS, sub, "*")):
            os.remove(f)
    words = set()
    configs = []
    for path in sorted(glob.glob(os.path.join(SAVED, "*", "*.keras"))):
        with zipfile.ZipFile(path) as z:
            cfg = json.loads(z.read("config.json"))
        configs.append(cfg)
        name = os.path.basename(os.path.dirname(path)) + "_" + os.path.basename(path)[:-6]
        write("keras_config", name + ".json", compact(cfg))
    for path in sorted(glob.glob(os.path.join(SAVED, "tf2", "*.h5"))):
        cfg = legacy_config(path)
        configs.append(cfg)
        write("keras_config", "tf2h5_" + os.path.basename(path)[:-3] + ".json", compact(cfg))
    for f in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/layer_configs_*.json"))):
        schema, seeds = layer_seeds(f)
        for cid, cfg in seeds.items():
            configs.append(cfg)
            write("keras_config", "layer_%s_%s.json" % (schema, cid), compact(cfg))
    for cfg in configs:
        strings(cfg, words)

    write("keras_file", "m0_tf2_mlp.h5", b"\x00" + open(os.path.join(SAVED, "tf2/mlp.h5"), "rb").read())
    write("keras_file", "m0_k3_nested.keras",
          b"\x00" + open(os.path.join(SAVED, "k3/nested.keras"), "rb").read())
    for i, name in enumerate(FIXTURES):
        if name in WEIGHT_SEEDS:
            write("keras_file", "m1_%s" % name,
                  bytes([1 | i << 2]) + keras_member(name, "model.weights.h5"))
        write("keras_file", "m2_%s" % name, bytes([2 | i << 2]) + keras_member(name, "config.json"))
        with h5py.File(os.path.join(SAVED, "tf2", name + ".h5"), "r") as f:
            mc = f.attrs["model_config"]
        write("keras_file", "m3_%s" % name,
              bytes([3 | i << 2]) + (mc.encode() if isinstance(mc, str) else bytes(mc)))

    edges = ["0", "-1", "1", "2147483647", "2147483648", "1099511627776", "9223372036854775807",
             "1e308", "-0.0", "null", "true", "false", "1000000", "[]", "{}", "[null, ", "\"__keras_tensor__\""]
    with open(os.path.join(ROOT, "tests/fuzz/keras.dict"), "w") as f:
        f.write("# Keras config keys, class names and values (tools/make_fuzz_seeds.py)\n")
        for w in sorted(words):
            if all(32 <= ord(c) < 127 for c in w):
                f.write(json.dumps(json.dumps(w)) + "\n")
        for e in edges:
            f.write(json.dumps(e) + "\n")


if __name__ == "__main__":
    main()
