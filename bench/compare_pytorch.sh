#!/usr/bin/env bash
# Run keel's benchmark and the PyTorch reference for the same model, one after
# the other (never together: they would fight over the same cores), and print
# a side-by-side table.  Usage: bench/compare_pytorch.sh MODEL  (THREADS=n)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { echo "usage: $0 {mlp|cnn}   (env THREADS, default nproc; LOAD=1: a busy process beside)" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
model=$1
# One entry per model; the first batch size is the one the summary ratio uses.
case $model in
  mlp) keel_bin=build/bench/bench_mlp; torch_py=bench/mlp_torch.py; batches=(32 128) ;;
  cnn) keel_bin=build/bench/bench_cnn; torch_py=bench/cnn_torch.py; batches=(32 128) ;;
  *) usage ;;
esac
threads=${THREADS:-$(nproc)}
args=(); for b in "${batches[@]}"; do args+=(--batch "$b"); done
args+=(--threads "$threads")

[[ -x $keel_bin ]] || make build
# LOAD=1: one other process keeps a core busy through both runs, as on a shared machine (a
# program that spin-waits for its threads is hurt most there).
if [[ ${LOAD:-0} == 1 ]]; then
  bash -c 'while :; do :; done' &
  busy=$!
  trap 'kill $busy 2>/dev/null' EXIT
  echo "LOAD=1: a busy process (pid $busy) runs beside both" >&2
fi
keel_out=$("$keel_bin" "${args[@]}")

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
# Debian's torch is only importable from the system interpreter, not pyenv's.
torch_out=$(env "${torch_env[@]}" /usr/bin/python3 "$torch_py" "${args[@]}")

printf '%s\n%s\n' "$keel_out" "$torch_out" |
awk -v model="$model" -v ref="${batches[0]}" '
  # Lines look like "<fw> batch=B threads=T samples_per_s=S"; ignore others.
  $1 == "keel" || $1 == "pytorch" {
    delete kv
    for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
    b = kv["batch"]
    if (!(b in seen)) { seen[b] = 1; order[++n] = b }
    thr[b] = kv["threads"]; sps[$1, b] = kv["samples_per_s"]
  }
  END {
    fmt = "%-7s%-7s%-9s%-20s%-23s%s\n"
    printf fmt, "model", "batch", "threads", "keel_samples_per_s",
           "pytorch_samples_per_s", "ratio"
    bad = 0
    for (i = 1; i <= n; i++) {
      b = order[i]; k = sps["keel", b]; t = sps["pytorch", b]
      if (k == "" || t == "" || t == 0) { r = "n/a"; bad = 1 }
      else r = sprintf("%.2f", k / t)
      if (b == ref) refr = r
      printf fmt, model, b, thr[b], (k == "" ? "-" : k), (t == "" ? "-" : t), r
    }
    if (refr == "") { refr = "n/a"; bad = 1 }
    print "ratio_vs_pytorch: " refr
    exit bad
  }'
