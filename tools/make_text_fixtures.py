#!/usr/bin/env python3
"""Makes tests/fixtures/keras_text.txt: what tf.keras 2's Tokenizer and pad_sequences (TensorFlow
2.15) give on awkward text, for tests/test_text.c. Also loads keel's own tokenizer JSON (written
by build/tools/tokenize, so build keel first) into Keras and records whether Keras reads it to
the same tokenizer.

Format: lines starting with '#' are comments; every other line is one JSON object (a record)
with a "kind":
  tokenizer  opts, fit (and fit2, a second fit_on_texts), apply: the texts; expected
             word_index / word_counts / index_word / index_docs (lists of [key, value] in
             Keras's order), word_docs (an object), document_count, sequences
             (texts_to_sequences(apply)), seq_in / texts_out (sequences_to_texts), matrix
             (texts_to_matrix(apply, mode) per mode), seq_matrix (sequences_to_matrix(seq_in,
             mode), where indices past num_words occur), json (tokenizer.to_json()). A text given
             as {"hex": "..."} is raw bytes (invalid UTF-8 on purpose): Keras is given
             bytes.decode("utf-8", errors="replace"), which is what keel promises to match.
  pad        sequences, opts (maxlen, padding, truncating, value; absent = Keras's default),
             expected (the int32 matrix as lists; rows of nothing when maxlen is 0).
  c_json     opts, fit, apply; c_json (the JSON keel wrote), checks (each attribute of the
             Keras tokenizer loaded from it against one Keras fitted itself: true when equal),
             sequences (texts_to_sequences(apply) of the loaded tokenizer).
  tool       args, input (the lines), expected (the lines tokenize must print), from Keras.
Run: python3 tools/make_text_fixtures.py tests/fixtures/keras_text.txt [build dir]
PYTHONHASHSEED is pinned (0) so that word_docs' set order, and so the file, is reproducible.
"""
import json, os, subprocess, sys, tempfile

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

Tokenizer = tf.keras.preprocessing.text.Tokenizer
tokenizer_from_json = tf.keras.preprocessing.text.tokenizer_from_json
pad_sequences = tf.keras.utils.pad_sequences

# Awkward text: punctuation, apostrophes, repeated words and count ties, empty texts, tabs and
# newlines inside texts, runs of spaces.
BASIC_FIT = [
    "The cat sat on the mat.",
    "The dog ate my homework!!! Didn't it?",
    "",
    "it's\tthe\ncat's  toy -- (really) [sic] {ok} <x>",
    "   ",
    "dog dog DOG, cat; sat: mat... ties:a b c",
    "c b a",
]
# the tool reads one text a line: the texts without a newline
BASIC_LINES = [t for t in BASIC_FIT if "\n" not in t]
BASIC_APPLY = ["the unknown cat", "DOG's day, the end", "", "b a c zebra"]

# Unicode: letters whose lowercase differs from a naive table (Turkish dotted I, final sigma,
# capital sharp s, titlecase digraph), Cyrillic, combining marks, emoji (with a ZWJ sequence
# and a skin tone), a no-break space (not a split), full-width letters, CJK.
UNICODE_FIT = [
    "İSTANBUL İstanbul istanbul ıi",
    "ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ.Α όδος",
    "Straße STRASSE ẞ ǅungla ǄUNGLA",
    "Привет МИР мир Ёлка",
    "café CAFÉ cafe\u0301 naïve",
    "emoji 😀 👍🏽 👨\u200d👩\u200d👧 😀😀",
    "no\u00a0break ＦＵＬＬ 東京 東京",
    "ÉCOLE école Ärger ärger",
]
UNICODE_APPLY = ["İstanbul ΟΔΟΣ straße", "МИР 😀 東京 ＦＵＬＬ", "cafe\u0301 ÉCOLE Ǆungla"]

# Invalid UTF-8: a lone continuation byte, a truncated 3-byte sequence, an overlong, a
# surrogate, a code point past U+10FFFF, a truncated 4-byte sequence, 0xff, all between words.
BAD_BYTES = [
    b"abc \x80def gh\xe2\x82 ij",
    b"\xc0\x80x \xed\xa0\x80y \xf4\x90\x80\x80z",
    b"w\xf0\x9f\x98 v\xff u CAF\xc3\x89 caf\xc3\xa9",
]
BAD_APPLY = [b"\x80def abc", b"CAF\xc3\x89 \xff"]


def text_value(t):
    """A fixture text: a JSON string, or {"hex": ...} for bytes."""
    return {"hex": t.hex()} if isinstance(t, bytes) else t


def py_text(t):
    return t.decode("utf-8", errors="replace") if isinstance(t, bytes) else t


def pairs(d):
    return [[str(k) if not isinstance(k, str) else k, v] for k, v in d.items()]


def tokenizer_record(name, opts, fit, apply, fit2=None, seq_in=None):
    tk = Tokenizer(**opts)
    tk.fit_on_texts([py_text(t) for t in fit])
    if fit2:
        tk.fit_on_texts([py_text(t) for t in fit2])
    texts = [py_text(t) for t in apply]
    seqs = tk.texts_to_sequences(texts)
    # sequences_to_texts on the real sequences plus indices that are 0, unknown, or cut by
    # num_words
    seq_in = seqs + (seq_in or [[0, 1, 2, 3, 4, 5, 6, 99999]])
    rec = {
        "kind": "tokenizer", "name": name, "opts": opts,
        "fit": [text_value(t) for t in fit],
        "apply": [text_value(t) for t in apply],
        "word_index": pairs(tk.word_index),
        "word_counts": pairs(tk.word_counts),
        "word_docs": dict(tk.word_docs),
        "index_word": pairs(tk.index_word),
        "index_docs": pairs(tk.index_docs),
        "document_count": tk.document_count,
        "sequences": seqs,
        "seq_in": seq_in,
        "texts_out": tk.sequences_to_texts(seq_in),
        "matrix": {m: tk.texts_to_matrix(texts, mode=m).tolist()
                   for m in ("binary", "count", "freq", "tfidf")},
        "seq_matrix": {m: tk.sequences_to_matrix(seq_in, mode=m).tolist()
                       for m in ("binary", "count", "freq", "tfidf")},
        "json": tk.to_json(),
    }
    if fit2:
        rec["fit2"] = [text_value(t) for t in fit2]
    return rec


def tokenizer_records():
    more = ["the cat and the hat", "a b c d e f g"]
    return [
        tokenizer_record("basic", {}, BASIC_FIT, BASIC_APPLY),
        tokenizer_record("unicode", {}, UNICODE_FIT, UNICODE_APPLY),
        tokenizer_record("oov_num_words", {"num_words": 5, "oov_token": "<unk>"}, BASIC_FIT,
                         BASIC_APPLY),
        tokenizer_record("num_words", {"num_words": 4}, BASIC_FIT, BASIC_APPLY),
        tokenizer_record("char_level", {"char_level": True}, ["Ab, c!", "ÉÉ ß\t😀", ""],
                         ["abc É", "xyz 😀!"], seq_in=[[1, 2, 0, 50, 3]]),
        tokenizer_record("no_lower_custom", {"lower": False, "filters": "", "split": ","},
                         ["The,Cat,,the, cat!", "a,,b,The"], ["The,cat!,x", ",,,"]),
        tokenizer_record("multichar_split", {"split": ", "},
                         ["a,b , c", "x, y,z", "a, , b"], ["a, b", "y,z,a"]),
        # a split of two letters: the first alone is no split, and a replaced filter makes
        # one with the letters around it ("a-b" -> "aabb" -> ["a", "b"])
        tokenizer_record("letter_split", {"split": "ab", "filters": "-"},
                         ["xaby a-b", "aab-abab b", "a-", "A-B"], ["a-b xaby", "bab"]),
        tokenizer_record("unicode_filters", {"filters": "«»—é"},
                         ["«Bonjour»—dit-il café", "bonjour é éé"], ["«café»", "dit-il"]),
        tokenizer_record("oov_is_a_word", {"oov_token": "the"}, BASIC_FIT, BASIC_APPLY),
        tokenizer_record("refit_oov", {"oov_token": "[OOV]"}, BASIC_FIT, BASIC_APPLY,
                         fit2=more),
        tokenizer_record("invalid_utf8", {}, BAD_BYTES, BAD_APPLY),
    ]


def pad_records():
    seqs = [[1], [2, 3], [4, 5, 6], [], [7, 8, 9, 10, 11]]
    cases = [
        {}, {"maxlen": 3}, {"maxlen": 3, "padding": "post"},
        {"maxlen": 3, "truncating": "post"},
        {"maxlen": 3, "padding": "post", "truncating": "post"},
        {"maxlen": 7, "value": -1}, {"maxlen": 2, "value": 0.5},
        {"maxlen": 4, "value": -1.7, "padding": "post"}, {"value": 16777216},
    ]
    out = []
    for opts in cases:
        x = pad_sequences(seqs, **opts)
        assert x.dtype == np.int32
        out.append({"kind": "pad", "sequences": seqs, "opts": opts, "expected": x.tolist()})
    # every sequence empty and maxlen None: (N, 0)
    x = pad_sequences([[], []])
    out.append({"kind": "pad", "sequences": [[], []], "opts": {}, "expected": x.tolist(),
                "shape": list(x.shape)})
    return out


def tool_args(opts):
    args = []
    if opts.get("num_words"):
        args += ["--num-words", str(opts["num_words"])]
    if opts.get("oov_token"):
        args += ["--oov-token", opts["oov_token"]]
    if opts.get("char_level"):
        args += ["--char-level"]
    if opts.get("lower") is False:
        args += ["--no-lower"]
    return args


def c_json_record(build, opts, fit, apply):
    """keel fits (through tokenize --save-json) and Keras reads what keel wrote."""
    tool = os.path.join(build, "tools", "tokenize")
    if not os.access(tool, os.X_OK):
        sys.exit("make_text_fixtures: %s not found: build keel first (make build)" % tool)
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.txt"), os.path.join(d, "tk.json")
        with open(src, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in fit))
        subprocess.run([tool] + tool_args(opts) + ["--save-json", out, src], check=True,
                       stdout=subprocess.DEVNULL)
        c_json = open(out, encoding="utf-8").read()
    loaded = tokenizer_from_json(c_json)
    ref = Tokenizer(**opts)
    ref.fit_on_texts(fit)
    checks = {a: getattr(loaded, a) == getattr(ref, a) if a not in ("word_counts",)
              else list(loaded.word_counts.items()) == list(ref.word_counts.items())
              for a in ("word_counts", "word_docs", "index_docs", "word_index", "index_word",
                        "document_count", "num_words", "filters", "lower", "split",
                        "char_level", "oov_token")}
    checks["word_index_order"] = list(loaded.word_index) == list(ref.word_index)
    checks["sequences"] = loaded.texts_to_sequences(apply) == ref.texts_to_sequences(apply)
    checks["tfidf"] = bool(np.array_equal(loaded.texts_to_matrix(apply, mode="tfidf"),
                                          ref.texts_to_matrix(apply, mode="tfidf")))
    checks["sequences_to_texts"] = (loaded.sequences_to_texts([[1, 2, 3, 0, 77]]) ==
                                    ref.sequences_to_texts([[1, 2, 3, 0, 77]]))
    return {"kind": "c_json", "opts": opts, "fit": fit, "apply": apply, "c_json": c_json,
            "checks": checks, "sequences": loaded.texts_to_sequences(apply)}


def tool_record(args, lines, opts, pad):
    tk = Tokenizer(**opts)
    tk.fit_on_texts(lines)
    seqs = tk.texts_to_sequences(lines)
    if pad is None:
        expected = [" ".join(map(str, s)) for s in seqs]
    else:
        expected = [" ".join(map(str, r)) for r in pad_sequences(seqs, **pad).tolist()]
    return {"kind": "tool", "args": args, "input": lines, "expected": expected}


def main(out, build):
    recs = tokenizer_records() + pad_records()
    recs += [
        c_json_record(build, {}, BASIC_LINES + UNICODE_FIT, BASIC_APPLY + UNICODE_APPLY),
        c_json_record(build, {"num_words": 6, "oov_token": "<OOV>"}, BASIC_LINES + UNICODE_FIT,
                      UNICODE_APPLY),
        c_json_record(build, {"char_level": True, "lower": False}, UNICODE_FIT[:3],
                      UNICODE_APPLY),
    ]
    lines = ["The cat sat on the mat.", "The dog, the cat!", "", "Ünïcödé ΟΔΟΣ 😀 cat"]
    recs += [
        tool_record([], lines, {}, None),
        tool_record(["--maxlen", "4", "--padding", "post", "--truncating", "post",
                     "--value", "-1"], lines, {}, {"maxlen": 4, "padding": "post",
                                                   "truncating": "post", "value": -1}),
        tool_record(["--num-words", "4", "--oov-token", "<unk>", "--maxlen", "3"], lines,
                    {"num_words": 4, "oov_token": "<unk>"}, {"maxlen": 3}),
        tool_record(["--char-level", "--no-lower"], ["Ab a", "bA!"],
                    {"char_level": True, "lower": False}, None),
    ]
    with open(out, "w", encoding="utf-8") as f:
        f.write("# made by tools/make_text_fixtures.py with TensorFlow %s (PYTHONHASHSEED=0); "
                "one JSON record a line, see the script\n" % tf.__version__)
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    failed = [r for r in recs if r["kind"] == "c_json" and not all(r["checks"].values())]
    for r in failed:
        print("keel's JSON read by Keras differs:", r["opts"],
              [k for k, v in r["checks"].items() if not v], file=sys.stderr)
    print("wrote %s: %d records" % (out, len(recs)))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "build")
