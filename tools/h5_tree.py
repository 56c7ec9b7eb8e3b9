#!/usr/bin/env python3
"""h5_tree.py: prints the HDF5 tree of a Keras model file, to see how Keras lays out weights.

Usage:  python3 tools/h5_tree.py FILE [--values] [--config]

FILE is a legacy .h5 model or weights file, a Keras 3 .weights.h5, or a .keras zip (its
model.weights.h5 member is read from memory, and its metadata.json is printed). One line per
group and dataset, in HDF5's name order: the path, a dataset's shape and dtype, and every
attribute (weight_names, layer_names, name, ...); long JSON attributes (model_config,
training_config) are shortened unless --config is given. --values prints the first values of
each dataset. Needs h5py (any of the project's Python environments has it).
"""
import io
import json
import sys
import zipfile

import h5py
import numpy as np


def show_attr(v, full):
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO":
        v = [x.decode() if isinstance(x, bytes) else x for x in v.tolist()]
    if isinstance(v, str) and v.startswith("{") and not full:
        return v[:70] + ("..." if len(v) > 70 else "") + f" ({len(v)} chars)"
    return repr(v)


def walk(f, full, values):
    def line(name, obj):
        attrs = "  ".join(f"@{k}={show_attr(v, full)}" for k, v in obj.attrs.items())
        if isinstance(obj, h5py.Dataset):
            head = ""
            if values and obj.size:
                head = " " + np.array2string(np.asarray(obj).ravel()[:4], precision=4)
            print(f"/{name}  {obj.shape} {obj.dtype}{head}  {attrs}".rstrip())
        else:
            print(f"/{name}/  {attrs}".rstrip())

    print(f"/  {'  '.join(f'@{k}={show_attr(v, full)}' for k, v in f.attrs.items())}")
    f.visititems(line)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    path, full, values = args[0], "--config" in sys.argv, "--values" in sys.argv
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                print(f"# member {info.filename} ({info.file_size} bytes, method {info.compress_type})")
            print("# metadata.json:", z.read("metadata.json").decode())
            if full:
                print("# config.json:", json.dumps(json.loads(z.read("config.json")), indent=1))
            data = z.read("model.weights.h5")
        with h5py.File(io.BytesIO(data), "r") as f:
            walk(f, full, values)
    else:
        with h5py.File(path, "r") as f:
            walk(f, full, values)


if __name__ == "__main__":
    main()
