#!/usr/bin/env bash
# Run keel's benchmark and the PyTorch reference for the same model, one after
# the other (never together: they would fight over the same cores), and print
# a side-by-side table.
#   bench/compare_pytorch.sh mlp|cnn   one training epoch per batch size, samples/s
#   bench/compare_pytorch.sh lstm      Embedding(1000, 64) -> LSTM(128) -> Dense(1) on 80 tokens,
#                                      one epoch per batch size (32, 128), samples/s
#   bench/compare_pytorch.sh gan       the tutorial MLP GAN: one D step (64 real + 64 fake) and
#                                      one G step (64 noise) per step, steps/s
#   bench/compare_pytorch.sh latency   predict on one sample (MLP and CNN), median/p90 us
# keel runs at THREADS (default: keel's own default, all cores). PyTorch runs once
# per thread count from 1 to the core count (TORCH_THREADS="1 2 ..." to choose)
# and each row compares keel with the fastest of them, the count a user would
# pick; the table says which count won.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  echo "usage: $0 {mlp|cnn|lstm|gan|latency}   (env THREADS: keel's threads, default keel's own: all cores;" \
       "TORCH_THREADS: PyTorch's counts to try, default 1..nproc; LOAD=1: a busy process" \
       "beside)" >&2
  exit 2
}
[[ $# -eq 1 ]] || usage
model=$1
ncpu=$(nproc)
# keel at its own default (all the cores it may use) unless THREADS says otherwise
keel_threads=(); [[ -n ${THREADS:-} ]] && keel_threads=(--threads "$THREADS")
# One entry per benchmark. key: the field that names a row (the first row's ratio is the
# summary); metric: the number compared; better: hi (throughput) or lo (time).
case $model in
  mlp | cnn)
    keel_bin=build/bench/bench_$model; torch_py=bench/${model}_torch.py
    args=(--batch 32 --batch 128); key=batch; metric=samples_per_s; better=hi ;;
  lstm)
    keel_bin=build/bench/bench_lstm; torch_py=bench/lstm_torch.py
    args=(--batch 32 --batch 128); key=batch; metric=samples_per_s; better=hi ;;
  gan)
    keel_bin=build/bench/bench_gan; torch_py=bench/gan_torch.py
    args=(--batch 64); key=batch; metric=steps_per_s; better=hi ;;
  latency)
    keel_bin=build/bench/bench_latency; torch_py=bench/latency_torch.py
    args=(--model mlp --model cnn); key=model; metric=median_us; better=lo ;;
  *) usage ;;
esac
torch_threads=${TORCH_THREADS:-$(seq -s ' ' 1 "$ncpu")}

# Debian's torch is only importable from the system interpreter: a pyenv or venv python3
# first on PATH has neither it nor numpy, so name the interpreter and say what is missing.
py=/usr/bin/python3
if ! err=$("$py" -c 'import numpy, torch' 2>&1); then
  echo "compare_pytorch.sh: the PyTorch reference needs Debian's python3-torch and" \
       "python3-numpy, importable by $py, which says: ${err##*$'\n'}" >&2
  echo "compare_pytorch.sh: install them with: bash scripts/deps.sh --bench" \
       "(root or sudo; make bench does this)" >&2
  exit 2
fi

[[ -x $keel_bin ]] || make build
# LOAD=1: one other process keeps a core busy through both runs, as on a shared machine (a
# program that spin-waits for its threads is hurt most there).
if [[ ${LOAD:-0} == 1 ]]; then
  bash -c 'while :; do :; done' &
  busy=$!
  trap 'kill $busy 2>/dev/null' EXIT
  echo "LOAD=1: a busy process (pid $busy) runs beside both" >&2
fi
keel_out=$("$keel_bin" "${args[@]}" "${keel_threads[@]}")

# libgomp's default active spin-waiting starves OpenBLAS's own pthreads on a
# small machine (measured 2-3x slower, once >10x, on 2 cores); read at load.
torch_env=(OMP_WAIT_POLICY=PASSIVE)
# OpenBLAS 0.3.21 needs SKYLAKEX forced on AVX-512 Xeons.  Never force it
# without avx512f: it dies with SIGILL (seen on Zen3, where auto-detection is
# already right and forcing Haswell/Zen made no measurable difference).
if [[ -z ${OPENBLAS_CORETYPE:-} ]] && grep -q GenuineIntel /proc/cpuinfo &&
   grep -qw avx512f /proc/cpuinfo; then
  torch_env+=(OPENBLAS_CORETYPE=SKYLAKEX)
fi
# One process per thread count: libgomp and OpenBLAS size their pools once, at start.
torch_out=""
for t in $torch_threads; do
  echo "compare_pytorch.sh: PyTorch with $t thread(s)" >&2
  torch_out+=$(env "${torch_env[@]}" "$py" "$torch_py" "${args[@]}" --threads "$t")$'\n'
done

printf '%s\n%s\n' "$keel_out" "$torch_out" |
awk -v model="$model" -v key="$key" -v metric="$metric" -v better="$better" '
  # Lines look like "<fw> key=K threads=T ... metric=X [p90_us=Y]"; ignore others.
  $1 == "keel" || $1 == "pytorch" {
    delete kv
    for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
    k = kv[key]; v = kv[metric] + 0
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    if ("p90_us" in kv) lat = 1
    if ($1 == "keel") {
      kval[k] = v; kstr[k] = kv[metric]; kthr[k] = kv["threads"]; kp90[k] = kv["p90_us"]
      next
    }
    how = ("layout" in kv) ? sprintf(" (layout %s, mkldnn %s)", kv["layout"], kv["mkldnn"]) : ""
    all[k] = all[k] (all[k] == "" ? "" : ", ") kv["threads"] ": " kv[metric] how
    if (!(k in tval) || (better == "hi" ? v > tval[k] : v < tval[k])) {
      tval[k] = v; tstr[k] = kv[metric]; tthr[k] = kv["threads"]; tp90[k] = kv["p90_us"]
    }
  }
  function show(x) { return x == "" ? "-" : x }
  END {
    if (lat) {
      fmt = "%-7s%-13s%-16s%-13s%-15s%-17s%-14s%s\n"
      printf fmt, "model", "keel_threads", "keel_median_us", "keel_p90_us", "torch_threads",
             "torch_median_us", "torch_p90_us", "ratio"
    } else {
      fmt = "%-7s%-7s%-13s%-20s%-15s%-23s%s\n"
      printf fmt, "model", "batch", "keel_threads", "keel_" metric, "torch_threads",
             "pytorch_" metric, "ratio"
    }
    bad = 0
    for (i = 1; i <= n; i++) {
      k = order[i]
      # ratio > 1: keel is faster (more samples/s, or less time per call); test membership
      # first, as reading kval[k] would create it
      ok = (k in kval) && (k in tval)
      a = kval[k]; b = tval[k]
      if (!ok || a == 0 || b == 0) { r = "n/a"; bad = 1 }
      else r = sprintf("%.2f", better == "hi" ? a / b : b / a)
      if (i == 1) refr = r
      if (lat)
        printf fmt, k, show(kthr[k]), show(kstr[k]), show(kp90[k]), show(tthr[k]),
               show(tstr[k]), show(tp90[k]), r
      else
        printf fmt, model, k, show(kthr[k]), show(kstr[k]), show(tthr[k]), show(tstr[k]), r
    }
    # torch_threads is the fastest of these
    for (i = 1; i <= n; i++)
      printf "pytorch %s=%s %s by thread count: %s\n", key, order[i], metric, show(all[order[i]])
    if (refr == "") { refr = "n/a"; bad = 1 }
    print "ratio_vs_pytorch: " refr
    exit bad
  }'
