#!/usr/bin/python3
"""PyTorch reference for keel's bench_latency: predict on ONE sample, call
after call, for the same two models, and the median and 90th percentile of
the per-call time in microseconds.

Models (must match bench/bench_latency.c), float32, weights at their initial
values (no kernel's speed depends on them), eval mode:
  mlp: Flatten(28x28) -> Linear(784, 128) -> ReLU -> Linear(128, 10) -> Softmax
  cnn: Conv2d(1, 32, 3x3, valid) -> ReLU -> MaxPool2d(2) -> Flatten
       -> Linear(5408, 128) -> ReLU -> Linear(128, 10) -> Softmax
The softmax is part of both models, as in keel's Dense(10, softmax).  Each
call is `model(x)` under torch.inference_mode() on a (1, ...) tensor, timed
by perf_counter_ns around the call alone; inputs cycle through the first 64
Fashion-MNIST test images, as in keel's bench.

Run with Debian's /usr/bin/python3 (the only interpreter that has torch).
Set OMP_WAIT_POLICY=PASSIVE in the environment *before* this starts
(bench/compare_pytorch.sh does this; see mlp_torch.py).

Prints one line per model:
  pytorch model=M threads=T layout=L mkldnn=D calls=N median_us=X p90_us=Y

For the CNN, PyTorch's fastest way to run it may differ by machine and batch
size (cnn_torch.py: channels_last with oneDNN wins for training at batch 32+).
Here, one sample, 1 thread, torch 1.13.1 on the 2-core AMD EPYC VM, short
runs gave channels_last 108-113 us and NCHW 141-144 us, oneDNN on or off
within noise.  So by default (--layout auto --mkldnn auto) each of the four
combinations of layout (nchw, nhwc = channels_last) and oneDNN (on, off) is
timed over 1000 calls, and the fastest by median is then timed in full; the
line says which, and stderr lists the short runs.
"""
import argparse, ctypes, sys, time
import numpy as np
import torch
from torch import nn

from cnn_torch import DATA, Flatten, keep_freed_memory, read_idx

NSAMPLES = 64  # distinct inputs cycled through, as bench_latency.c


def build(name, nhwc):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                             nn.Linear(128, 10), nn.Softmax(dim=1))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=1, padding=0, bias=True), nn.ReLU(),
        nn.MaxPool2d(2, stride=2), Flatten(hwc=nhwc),
        nn.Linear(13 * 13 * 32, 128), nn.ReLU(),
        nn.Linear(128, 10), nn.Softmax(dim=1))


def time_calls(name, x, layout, mkldnn, warmup, calls):
    """Median and 90th percentile (us) of `calls` single-sample predicts of a
    fresh model after `warmup` calls, inputs cycling through x's rows."""
    torch.backends.mkldnn.enabled = mkldnn == "on"
    nhwc = layout == "nhwc"
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    torch.manual_seed(0)
    model = build(name, nhwc).eval().to(memory_format=fmt)
    xb = x if name == "mlp" else x.reshape(-1, 1, 28, 28)
    xs = [xb[i:i + 1].contiguous(memory_format=fmt) for i in range(NSAMPLES)]
    t = np.empty(calls)
    with torch.inference_mode():
        # one by one must give what a batch gives, so the timed path is real
        ref = model(xb.contiguous(memory_format=fmt))
        one = torch.cat([model(s) for s in xs])
        assert torch.allclose(one, ref, rtol=1e-4, atol=1e-5), "batch != one by one"
        for i in range(warmup):
            model(xs[i % NSAMPLES])
        clock = time.perf_counter_ns
        for i in range(calls):
            s = xs[i % NSAMPLES]
            t0 = clock()
            model(s)
            t[i] = clock() - t0
    t = np.sort(t) / 1000.0
    return t[calls // 2], t[calls * 9 // 10]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("mlp", "cnn"), action="append")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--layout", choices=("auto", "nchw", "nhwc"), default="auto")
    ap.add_argument("--mkldnn", choices=("auto", "on", "off"), default="auto")
    a = ap.parse_args()
    keep_freed_memory()  # as cnn_torch.py; tensors here are small, so it hardly matters
    # Debian's build defaults to 1 intra-op thread, and OpenBLAS (Dense's
    # GEMMs) sizes its own pool by nproc: set both (see cnn_torch.py).
    torch.set_num_threads(a.threads)
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(a.threads)
    except (OSError, AttributeError):
        pass  # another BLAS: its own defaults apply

    imgs = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz", 0x803)[:NSAMPLES]
    x = torch.from_numpy(imgs.astype(np.float32) / 255.0)
    for name in a.model or ["mlp", "cnn"]:
        # (layout, oneDNN) candidates; the MLP has no image layout, and its
        # Linear layers go to BLAS whatever the oneDNN switch says
        cands = [("-", "on")]
        if name == "cnn":
            cands = [(l, d) for l in ("nchw", "nhwc") for d in ("on", "off")
                     if a.layout in ("auto", l) and a.mkldnn in ("auto", d)]
        if len(cands) > 1:  # a short run of each, then the fastest in full
            tried = [(time_calls(name, x, l, d, 200, 1000)[0], l, d) for l, d in cands]
            _, layout, mkldnn = min(tried)
            print(f"latency_torch: {name} threads={a.threads} short runs, median us: " +
                  ", ".join(f"{l}/mkldnn {d} {m:.1f}" for m, l, d in tried), file=sys.stderr)
        else:
            layout, mkldnn = cands[0]
        med, p90 = time_calls(name, x, layout, mkldnn, a.warmup, a.calls)
        print(f"pytorch model={name} threads={a.threads} layout={layout} "
              f"mkldnn={mkldnn} calls={a.calls} median_us={med:.2f} p90_us={p90:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
