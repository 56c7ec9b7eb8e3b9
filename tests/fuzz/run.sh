#!/usr/bin/env bash
# run.sh SECONDS [NAME...]: builds the libFuzzer harnesses with clang
# (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and runs each (or the NAMEs given) for
# SECONDS seconds, one after the other (`make fuzz FUZZ_SECONDS=N [FUZZ_TARGETS="keras_file"]`):
#   csv, idx, image, npy  the data loaders (fuzz_<name>.c says how each reads its input)
#   keras_config          a model's config JSON through keel_model_from_json, build, compile and
#                         back through keel_model_to_json (a round trip); mutated mostly as
#                         JSON (json_mutator.h), with keras.dict's Keras keys and class names
#   keras_file            keel_load on whole files, and on real .keras / .h5 fixtures (read from
#                         tests/fixtures/saved) with the weights, config.json or model_config
#                         replaced by the fuzzer's bytes
# tools/make_fuzz_seeds.py makes the keras_* seeds and keras.dict from the fixtures.
# The committed seeds in tests/fuzz/seeds/<name> are copied into build-fuzz/corpus/<name>, which
# grows across runs and is never committed; crashes land in build-fuzz/artifacts/. The whole
# library is compiled once with the sanitizers (objects are rebuilt when a source or header is
# newer), its hot loops in their portable copy only. Exits non-zero if a harness finds a crash,
# a leak, a timeout or an allocation past -malloc_limit_mb.
#
# keras_file runs with -fork=1 and goes on past crashes, leaks, timeouts and huge allocations: a
# mutated HDF5 file can make libhdf5 itself (trusted, and not instrumented) crash, leak or ask
# for terabytes. Each one is then run again alone and told apart by its stack (below): keel's
# fail the run, libhdf5's are listed.
set -euo pipefail
secs=${1:-60}
shift || true
targets=${*:-csv idx image npy keras_config keras_file}
cc=${FUZZ_CC:-clang}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build-fuzz
if ! command -v "$cc" >/dev/null; then
    echo "make fuzz: $cc not found (libFuzzer needs clang: apt-get install clang)" >&2
    exit 2
fi
mkdir -p "$out/obj" "$out/artifacts"
arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
pc="hdf5 jansson libzip icu-uc"
flags="-g -O1 -D_GNU_SOURCE -DKEEL_SIMD_BASE_ONLY -I$root/include -I$root/src -I$root/src/data
       -I/usr/include/$arch/blis-serial $(pkg-config --cflags $pc) -fno-omit-frame-pointer"
libs="-L/usr/lib/$arch/blis-serial -Wl,-rpath,/usr/lib/$arch/blis-serial -lblis
      $(pkg-config --libs $pc) -lpng -ljpeg -lzip -lz -lm -lpthread"
stamp=$out/obj/.stamp
stale=yes
[[ -f $stamp ]] && stale=$(find "$root/src" "$root/include" -name '*.h' -newer "$stamp" | head -1)
objs=()
# every source but the per-ISA copies of the hot loops, which are compiled once, portable
for s in $(cd "$root" && find src -name '*.c' | sort); do
    o=$out/obj/$(echo "${s%.c}" | tr / _).o
    extra=""
    case $s in src/kernels/simd_*) extra="-DKEEL_SIMD_ISA=base -DKEEL_SIMD_LEVEL=0" ;; esac
    if [[ ! -f $o || $root/$s -nt $o || -n $stale ]]; then
        "$cc" $flags $extra -fsanitize=fuzzer-no-link,address,undefined -c "$root/$s" -o "$o"
    fi
    objs+=("$o")
done
touch "$stamp"
status=0
for name in $targets; do
    src=$root/tests/fuzz/fuzz_$name.c
    [[ -f $src ]] || { echo "run.sh: no harness $src" >&2; exit 2; }
    "$cc" $flags -DKEEL_FUZZ_FIXTURES="\"$root/tests/fixtures/saved\"" \
        -fsanitize=fuzzer,address,undefined "$src" "${objs[@]}" $libs -o "$out/fuzz_$name"
    mkdir -p "$out/corpus/$name"
    cp -n "$root/tests/fuzz/seeds/$name"/* "$out/corpus/$name/"
    opts=(-max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -malloc_limit_mb=1024
          -print_final_stats=1 -artifact_prefix="$out/artifacts/${name}_")
    case $name in
    keras_config) opts+=(-dict="$root/tests/fuzz/keras.dict" -max_len=65536) ;;
    keras_file) opts+=(-max_len=131072 -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1) ;;
    esac
    echo "== fuzz_$name: $secs s"
    log=$out/fuzz_$name.log
    before=$(ls "$out/artifacts" | wc -l)
    envs=(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=allocator_may_return_null=1)
    if ! env "${envs[@]}" "$out/fuzz_$name" "${opts[@]}" "$out/corpus/$name" >"$log" 2>&1; then
        status=1
        tail -n 40 "$log"
    fi
    if [[ $name == keras_file ]]; then
        # what the fork mode went past, told apart by the first frame with a source file: one
        # of keel's (src/, tests/fuzz/) fails the run; one in libhdf5 is HDF5's own (its frames
        # have no line numbers, and its stacks often end there: a leak of memory libhdf5 made
        # is HDF5's, since the harness checks that keel closed every HDF5 object it opened)
        for a in $(ls -t "$out/artifacts" | head -n $(($(ls "$out/artifacts" | wc -l) - before))); do
            trace=$(env "${envs[@]}" "$out/fuzz_$name" -malloc_limit_mb=1024 -rss_limit_mb=4096 -timeout=30 \
                "$out/artifacts/$a" 2>&1 || true)
            first=$(echo "$trace" | grep -E '^ +#[0-9]+ ' | grep -E "libhdf5|$root/(src|tests)/" |
                head -1 || true)
            if [[ -z $first ]]; then
                echo "   does not reproduce alone: $out/artifacts/$a"
            elif [[ $first == *libhdf5* ]]; then
                echo "   libhdf5's (trusted, not keel's): $out/artifacts/$a"
            else
                echo "   keel's: $out/artifacts/$a: $(echo "$trace" | grep -m1 -E 'ERROR|runtime error')"
                echo "     $first"
                status=1
            fi
        done
    fi
    # libFuzzer's closing lines: runs done, and the corpus it ended with
    grep -E "^Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added" "$log" || true
    echo "   corpus: $(ls "$out/corpus/$name" | wc -l) inputs"
done
exit $status
