#!/usr/bin/env python3
"""Makes tests/fixtures/keras_flow.txt: the file order, classes and validation split that
tf.keras 2's ImageDataGenerator.flow_from_directory (TensorFlow 2.15, keras_preprocessing
semantics) gives for the folder that tests/test_flow.c builds. Both sides build the folder from
the list LAYOUT below (keep them in sync). Run: python3 tools/make_flow_fixture.py OUT.txt
"""
import os, sys, tempfile
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from PIL import Image
import tensorflow as tf

# (path relative to the root, kind): kind png / jpg / txt; folders are made as needed
LAYOUT = [
    ("cat/b.png", "png"), ("cat/a.jpg", "jpg"), ("cat/C.PNG", "png"), ("cat/sub/d.png", "png"),
    ("cat/sub/a.jpeg", "jpg"), ("cat/notes.txt", "txt"), ("cat/e.bmp", "bmp"),
    ("dog/z.png", "png"), ("dog/y.png", "png"), ("dog/x.jpg", "jpg"), ("dog/w.png", "png"),
    ("dog/v.png", "png"), ("dog/deeper/inner/u.png", "png"),
    ("zebra/1.png", "png"), ("zebra/10.png", "png"), ("zebra/2.png", "png"),
]


def build(root):
    for rel, kind in LAYOUT:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if kind == "txt":
            open(path, "w").write("not an image\n")
            continue
        img = Image.fromarray(np.full((4, 5, 3), 100, np.uint8))
        img.save(path, {"png": "PNG", "jpg": "JPEG", "bmp": "BMP"}[kind])


def main(out):
    with tempfile.TemporaryDirectory() as root:
        build(root)
        lines = ["# made by tools/make_flow_fixture.py with TensorFlow %s" % tf.__version__]
        for subset in (None, "training", "validation"):
            gen = tf.keras.preprocessing.image.ImageDataGenerator(validation_split=0.4 if subset else 0.0)
            it = gen.flow_from_directory(root, target_size=(4, 5), batch_size=4, shuffle=False,
                                         subset=subset, class_mode="sparse")
            name = subset or "all"
            lines.append("%s_classes %s" % (name, " ".join(sorted(it.class_indices, key=it.class_indices.get))))
            lines.append("%s_files %s" % (name, " ".join(f.replace(os.sep, "/") for f in it.filenames)))
            lines.append("%s_labels %s" % (name, " ".join(str(int(c)) for c in it.classes)))
            lines.append("%s_steps %d" % (name, len(it)))
        open(out, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/keras_flow.txt")
