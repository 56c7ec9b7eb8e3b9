#!/usr/bin/env python3
"""make_sentiment_csv.py: the small labeled CSV files that tests/sentiment/check.sh feeds to
examples/sentiment's --csv mode (issue 9: "any labeled text"). Committed under
tests/fixtures/sentiment/; rerun only on purpose (the draws are seeded, so a rerun rewrites the
same bytes).

Usage:  python3 tools/make_sentiment_csv.py tests/fixtures/sentiment

Each file is written the way real exported files are, awkward on purpose:

  binary.csv       120 reviews, labels "pos" / "neg" (strings: classes in sorted order, neg 0,
                   pos 1). A UTF-8 byte-order mark, CRLF line endings, the text column second of
                   four (id, review, sentiment, source); reviews quoted where they hold commas,
                   doubled quotes ("") or line breaks (one review spans three lines).
  binary_test.csv  20 more for --test, columns in another order (sentiment, source, review):
                   the reader finds them by name. LF endings, no BOM.
  three.csv        90 reviews of three classes "good", "bad", "meh" (sorted: bad, good, meh;
                   a softmax model), LF endings, the last line without a newline.

A review is a few neutral words and two words of its class, so a small LSTM learns the
task in a few dozen epochs: the check is of the pipeline (reading, classes, the split, the
metric line), not of the model.
"""
import os
import random
import sys

FILLER = ["the", "movie", "film", "plot", "actors", "story", "it", "was", "this", "ending", "music",
          "scenes", "cast", "really", "quite", "and", "of", "a", "director", "script"]
WORDS = {
    "pos": ["great", "wonderful", "loved", "brilliant", "superb"],
    "neg": ["awful", "boring", "hated", "terrible", "dull"],
    "good": ["great", "wonderful", "loved", "brilliant"],
    "bad": ["awful", "boring", "hated", "terrible"],
    "meh": ["okay", "average", "mediocre", "fine"],
}


def review(rng, label, k):
    words = rng.sample(FILLER, 3 + rng.randrange(3)) + rng.sample(WORDS[label], 2)
    rng.shuffle(words)
    text = " ".join(words)
    # awkward, but the same words: commas, quotes, line breaks inside the field
    if k % 5 == 1:
        text = text.replace(" ", ", ", 2)
    if k % 7 == 2:
        text = '"%s" %s' % (words[0], text)
    if k % 11 == 3:
        text = text.replace(" ", "\n", 2)
    return text


def field(s):
    return '"%s"' % s.replace('"', '""') if any(c in s for c in ',"\r\n') else s


def write(path, header, rows, newline, bom=False, final_newline=True):
    body = newline.join(",".join(field(str(c)) for c in row) for row in [header] + rows)
    with open(path, "wb") as f:
        f.write((b"\xef\xbb\xbf" if bom else b"") + (body + (newline if final_newline else "")).encode())
    print("wrote %s (%d rows)" % (path, len(rows)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/sentiment"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(9)
    labels = ["pos", "neg"] * 60
    rng.shuffle(labels)
    rows = [[i + 1, review(rng, lb, i), lb, "web" if i % 3 else "mail, imported"]
            for i, lb in enumerate(labels)]
    rows[3][1] = "the ending,\r\nreally\r\nawful"  # a review over three lines (CRLF inside)
    rows[3][2] = "neg"
    write(os.path.join(out, "binary.csv"), ["id", "review", "sentiment", "source"], rows, "\r\n", bom=True)
    labels = ["pos", "neg"] * 10
    rng.shuffle(labels)
    rows = [[lb, "test", review(rng, lb, i)] for i, lb in enumerate(labels)]
    write(os.path.join(out, "binary_test.csv"), ["sentiment", "source", "review"], rows, "\n")
    labels = ["good", "bad", "meh"] * 30
    rng.shuffle(labels)
    rows = [[review(rng, lb, i), lb] for i, lb in enumerate(labels)]
    write(os.path.join(out, "three.csv"), ["text", "label"], rows, "\n", final_newline=False)


if __name__ == "__main__":
    main()
