#!/usr/bin/env bash
# run.sh SECONDS: builds the libFuzzer harnesses of the CSV, IDX, image and .npy/.npz loaders with
# clang (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and runs each for SECONDS seconds
# (`make fuzz FUZZ_SECONDS=N`). The committed seeds in tests/fuzz/seeds/<name> are copied into
# build-fuzz/corpus/<name>, which grows across runs and is never committed; crashes land in
# build-fuzz/artifacts/. Exits non-zero if a harness finds a crash, a leak or a timeout.
set -euo pipefail
secs=${1:-60}
cc=${FUZZ_CC:-clang}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build-fuzz
if ! command -v "$cc" >/dev/null; then
    echo "make fuzz: $cc not found (libFuzzer needs clang: apt-get install clang)" >&2
    exit 2
fi
mkdir -p "$out/obj" "$out/artifacts"
# the loaders and what they use: nothing else of keel (no BLIS, no threads) is needed
lib_srcs="src/tensor/core.c src/tensor/tensor.c src/data/csv.c src/data/idx.c src/data/image.c
          src/data/npy.c src/data/npz.c"
flags="-g -O1 -D_GNU_SOURCE -I$root/include -I$root/src -I$root/src/data -fno-omit-frame-pointer"
objs=()
for s in $lib_srcs; do
    o=$out/obj/$(basename "$s" .c).o
    "$cc" $flags -fsanitize=fuzzer-no-link,address,undefined -c "$root/$s" -o "$o"
    objs+=("$o")
done
status=0
for name in csv idx image npy; do
    "$cc" $flags -fsanitize=fuzzer,address,undefined "$root/tests/fuzz/fuzz_$name.c" \
        "${objs[@]}" -lpng -ljpeg -lzip -lz -lm -lpthread -o "$out/fuzz_$name"
    mkdir -p "$out/corpus/$name"
    cp -n "$root/tests/fuzz/seeds/$name"/* "$out/corpus/$name/"
    echo "== fuzz_$name: $secs s"
    log=$out/fuzz_$name.log
    if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/fuzz_$name" \
        -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/${name}_" "$out/corpus/$name" >"$log" 2>&1; then
        status=1
        tail -n 40 "$log"
    fi
    # libFuzzer's closing lines: runs done, and the corpus it ended with
    grep -E "^Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added" "$log" || true
    echo "   corpus: $(ls "$out/corpus/$name" | wc -l) inputs"
done
exit $status
