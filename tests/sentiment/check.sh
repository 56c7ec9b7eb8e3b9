#!/usr/bin/env bash
# check.sh SENTIMENT DIR: examples/sentiment's --csv mode end to end on the small files of
# tests/fixtures/sentiment (tools/make_sentiment_csv.py: a BOM, CRLF, quoted commas, doubled
# quotes and line breaks inside quotes, string labels, a test file with its columns in another
# order, three classes). For each run: exit status 0, the row count and the sorted classes the
# program reports (a misread CSV changes them), the output layer (sigmoid for two classes,
# softmax for three), and the last line `val_accuracy: X` / `test_accuracy: X` with X >= 0.9 (the
# task is easy: the check is of the pipeline). Then the errors: one class, a missing column.
set -u
BIN=$1
DIR=$2
OPTS=(--epochs 40 --units 8 --maxlen 10 --num-words 100)
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME WANT_LINE WANT_SHAPE METRIC ARGS...
run() {
    local name=$1 line=$2 shape=$3 metric=$4
    shift 4
    local out
    if ! out=$("$BIN" "$@" "${OPTS[@]}" 2>&1); then
        echo "FAIL $name: exit status $? ($out)"
        fail=1
        return
    fi
    grep -qF -- "$line" <<<"$out" || { echo "FAIL $name: no line \"$line\""; fail=1; }
    grep -qE -- "^ dense \(Dense\) +\(None, $shape\) " <<<"$out" ||
        { echo "FAIL $name: the last layer is not (None, $shape)"; fail=1; }
    local last
    last=$(tail -n 1 <<<"$out")
    if [[ ! $last =~ ^$metric:\ ([01]\.[0-9]{4})$ ]]; then
        echo "FAIL $name: last line \"$last\", expected \"$metric: X\""
        fail=1
    elif ! awk -v a="${BASH_REMATCH[1]}" 'BEGIN { exit !(a >= 0.9) }'; then
        echo "FAIL $name: $last (expected at least 0.9)"
        fail=1
    else
        echo "ok   $name: $last"
    fi
}

run binary "120 texts, 2 classes (neg, pos); training on 96, testing on 24" 1 val_accuracy \
    --csv "$DIR/binary.csv" --text review --label sentiment
run binary_test "140 texts, 2 classes (neg, pos); training on 120, testing on 20" 1 test_accuracy \
    --csv "$DIR/binary.csv" --test "$DIR/binary_test.csv" --text review --label sentiment
run three "90 texts, 3 classes (bad, good, meh); training on 72, testing on 18" 3 val_accuracy \
    --csv "$DIR/three.csv"

# errors: a clear message and a non-zero status
printf 'text,label\nfine film,pos\ngood film,pos\nnice,pos\nok,pos\nyes,pos\n' >"$tmp/one.csv"
if out=$("$BIN" --csv "$tmp/one.csv" "${OPTS[@]}" 2>&1) ||
    ! grep -qF "the labels have 1 distinct value; a classifier needs two or more" <<<"$out"; then
    echo "FAIL one class: $out"
    fail=1
else
    echo "ok   one class refused"
fi
if out=$("$BIN" --csv "$DIR/three.csv" --label stars "${OPTS[@]}" 2>&1) ||
    ! grep -q "stars" <<<"$out"; then
    echo "FAIL missing column: $out"
    fail=1
else
    echo "ok   missing column refused: $(tail -n 1 <<<"$out")"
fi
exit $fail
