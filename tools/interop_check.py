#!/usr/bin/env python3
"""interop_check.py: opens every .keras file in a folder with the real Keras 3 and checks that
it predicts what the program that wrote it predicted. `make interop-check` runs it on the
models tests/interop/write_models.c saves with keel_save.

Usage:  KERAS_BACKEND=jax python3 tools/interop_check.py DIR [--rtol 1e-5] [--floor 0.1]

For each DIR/NAME.keras: keras.models.load_model(NAME.keras), then model.predict on
NAME.x.npy (several inputs: NAME.x0.npy, NAME.x1.npy, ... in order), compared with NAME.y.npy
(several outputs: NAME.y0.npy, ...). A value passes when |keras - keel| <= rtol * max(|keel|,
floor): relative for ordinary values, an absolute 1e-6 (rtol * floor) near zero, where two
float32 sums in different orders legitimately differ by more than 1e-5 of a tiny result.

One line per model (ok / FAIL / ERROR, the largest scaled difference, the output shapes, the
optimizer the file compiled with), then a summary. A load that warns it skipped variables
("Skipping variable loading for optimizer ...": the file's optimizer state did not fit) fails
too; other warnings are printed. Exit status 0 when every model passed, 1 otherwise (also when
DIR holds no .keras file). Needs keras (3.x), a backend (jax[cpu] is enough), numpy and h5py.
"""
import argparse
import glob
import os
import sys
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

try:
    import keras  # noqa: E402
except ImportError:
    sys.exit("interop_check: Keras is not installed (pip install keras jax[cpu] h5py numpy)")


def numbered(folder, name, tag):
    """NAME.tag.npy, or NAME.tag0.npy, NAME.tag1.npy, ... in order."""
    one = os.path.join(folder, f"{name}.{tag}.npy")
    if os.path.exists(one):
        return [one]
    out = []
    while os.path.exists(os.path.join(folder, f"{name}.{tag}{len(out)}.npy")):
        out.append(os.path.join(folder, f"{name}.{tag}{len(out)}.npy"))
    return out


def check(path, rtol, floor):
    """(status, max scaled difference, detail)"""
    folder, name = os.path.dirname(path), os.path.basename(path)[: -len(".keras")]
    xs, ys = numbered(folder, name, "x"), numbered(folder, name, "y")
    if not xs or not ys:
        return "ERROR", None, f"no {name}.x*.npy / {name}.y*.npy beside the file"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = keras.models.load_model(path)
        except Exception as e:  # a load error of any kind is the finding
            return "ERROR", None, f"load_model: {type(e).__name__}: {e}".replace("\n", " ")[:400]
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    others = sorted({str(w.message).split("\n")[0][:160] for w in caught} - set(skipped))
    x = [np.load(f) for f in xs]
    want = [np.load(f) for f in ys]
    try:
        got = model.predict(x if len(x) > 1 else x[0], verbose=0)
    except Exception as e:
        return "ERROR", None, f"predict: {type(e).__name__}: {e}".replace("\n", " ")[:400]
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    if len(got) != len(want):
        return "FAIL", None, f"{len(got)} outputs, keel wrote {len(want)}"
    worst = 0.0
    for g, w in zip(got, want):
        g = np.asarray(g, np.float64)
        if g.shape != w.shape:
            return "FAIL", None, f"output shape {g.shape}, keel's {w.shape}"
        w = w.astype(np.float64)
        if g.size:
            worst = max(worst, float(np.max(np.abs(g - w) / np.maximum(np.abs(w), floor))))
    opt = getattr(model, "optimizer", None)
    detail = " ".join(str(tuple(w.shape)) for w in want)
    detail += f"  optimizer {type(opt).__name__ if opt is not None else 'none (not compiled)'}"
    notes = [f"skipped: {m[:200]}" for m in skipped] + [f"warning: {m}" for m in others]
    status = "ok" if worst <= rtol and not skipped and np.isfinite(worst) else "FAIL"
    return status, worst, "\n        ".join([detail] + notes)


def main():
    ap = argparse.ArgumentParser(description="Open keel-written .keras files in Keras 3.")
    ap.add_argument("dir")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--floor", type=float, default=0.1)
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.dir, "*.keras")))
    print(f"interop_check: Keras {keras.__version__} ({keras.backend.backend()}), "
          f"{len(files)} files in {args.dir}, tolerance {args.rtol:g} x max(|y|, {args.floor:g})")
    if not files:
        print("interop_check: no .keras files: nothing was checked")
        return 1
    bad = 0
    for f in files:
        status, worst, detail = check(f, args.rtol, args.floor)
        diff = f"{worst:.2e}" if worst is not None else "-"
        print(f"{status:5s} {os.path.basename(f):24s} max scaled diff {diff:9s} {detail}")
        bad += status != "ok"
    print(f"interop_check: {len(files) - bad} of {len(files)} models match"
          + ("" if not bad else f"; {bad} failed"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
