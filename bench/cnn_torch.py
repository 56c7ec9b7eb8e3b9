#!/usr/bin/python3
"""PyTorch reference for keel's bench_cnn: same Fashion-MNIST CNN, same
optimizer, one timed training epoch per batch size.

Model (must match keel's demo): 28x28x1 float32 in [0,1] ->
Conv2D(32, 3x3, stride 1, valid, bias, ReLU) -> MaxPooling2D(2x2, stride 2)
-> Flatten -> Dense(128, ReLU) -> Dense(10), softmax folded into the loss
(sparse labels), Adam(1e-3, 0.9, 0.999, eps=1e-7).

Run with Debian's /usr/bin/python3 (the only interpreter that has torch).
Set OMP_WAIT_POLICY=PASSIVE in the environment *before* this starts:
libgomp reads it once at load time (bench/compare_pytorch.sh does this).

Prints one line per batch size:  pytorch batch=B threads=T samples_per_s=S

Choices, all measured with 2 threads on the 2-core AMD EPYC (Zen3) VM,
torch 1.13.1 (Debian), one epoch; samples/s at batch 32 / 128.  The machine
was shared, so runs vary +-15%; "clean" = others used <6 CPU-s in the run.
* glibc malloc (keep_freed_memory below): the largest win, about 2x.
* --layout / --mkldnn (defaults are the fastest), with the malloc fix:
    nhwc (channels_last), oneDNN on   clean 3087-3782 / 5014-5560  <- default
    nchw,                 oneDNN on   only contended runs: 1678-2573 /
                                      2578-2976, vs 2526-3205 / 3972-5082
                                      for the default under similar load
    nhwc,                 oneDNN off  clean 2894 / 4175 (im2col + OpenBLAS)
    nchw,                 oneDNN off  clean 2835 / 3795
  Before the malloc fix, clean runs gave the same order at batch 128
  (2882-2980 vs 2314-2486, 2476-2733, 2434-2685); at batch 32 all four
  were within noise (1477-2076).  Profile at batch 128, NCHW vs
  channels_last with oneDNN: max-pool forward 12.2 vs 2.5 ms, conv
  backward 12.6 vs 7.3 ms per step.
* Left at defaults (no gain beyond noise): OPENBLAS_NUM_THREADS=1,
  OPENBLAS_THREAD_TIMEOUT=4, BLIS-openmp as libblas.so.3.
  OMP_WAIT_POLICY=ACTIVE was 30% slower.
* --threads 1 was as fast as --threads 2 (3892/5271 clean, but OpenBLAS then
  still ran 2 threads; now it is capped, see main()).
"""
import argparse, ctypes, gzip, time
import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    hdr = np.frombuffer(buf, ">u4", count=1)[0]
    assert hdr == magic, f"{path}: bad IDX magic {hdr:#010x}"
    ndim = magic & 0xFF
    dims = np.frombuffer(buf, ">u4", count=ndim, offset=4)
    return np.frombuffer(buf, np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Flatten(nn.Module):
    """keel flattens its NHWC activations row-major as (h, w, c); nn.Flatten
    on NCHW gives (c, h, w).  The order only permutes Dense(128)'s input rows,
    so it changes nothing for speed, but with channels_last we can match
    keel's order exactly at no cost: permute to NHWC is then a pure view of
    contiguous memory.  With NCHW memory we keep (c, h, w), the free order
    there, rather than paying for a copy keel does not make."""

    def __init__(self, hwc):
        super().__init__()
        self.hwc = hwc

    def forward(self, x):
        return (x.permute(0, 2, 3, 1) if self.hwc else x).flatten(1)


def keep_freed_memory():
    """Stop glibc handing the multi-MB activation buffers back to the kernel
    every step.  By default the conv output (B x 32 x 26 x 26 float, 11 MB at
    B=128), its gradient and the pooling indices are mmap()ed/munmap()ed or
    trimmed off the heap top on free, and page-fault back in (zeroed) on the
    next step.  Measured at B=32/128: 8.4M minor faults per two epochs,
    sys time 62 s of 103 s CPU, 1889/3293 samples/s; with this, 62k faults
    and 3635/5961 samples/s.  Same effect as MALLOC_MMAP_THRESHOLD_ and
    MALLOC_TRIM_THRESHOLD_ in the environment (PyTorch's tuning guide
    suggests jemalloc/tcmalloc for the same reason; neither is installed),
    but those are read at process start and this needs no wrapper."""
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # 32 MiB is glibc's ceiling for the mmap threshold on 64-bit; every
    # per-step tensor here is below it.  1 GiB trim threshold: never trim.
    ok = (libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and
          libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    assert ok, "mallopt failed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, action="append", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--layout", choices=("nhwc", "nchw"), default="nhwc",
                    help="nhwc = torch.channels_last (default, fastest)")
    ap.add_argument("--mkldnn", choices=("on", "off"), default="on")
    ap.add_argument("--malloc", choices=("keep", "default"), default="keep",
                    help="keep = tune glibc malloc (keep_freed_memory)")
    a = ap.parse_args()
    if a.malloc == "keep":
        keep_freed_memory()
    # Debian's build defaults to 1 intra-op thread; keel gets T, so must we.
    torch.set_num_threads(a.threads)
    # That does not reach OpenBLAS (Debian's torch calls plain libblas.so.3),
    # whose own pthread pool is sized by nproc: Dense's GEMMs would use every
    # core even with --threads 1.  Size it too (no-op when T = nproc).
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(a.threads)
    except (OSError, AttributeError):
        pass  # another BLAS: its own defaults apply
    torch.backends.mkldnn.enabled = a.mkldnn == "on"
    nhwc = a.layout == "nhwc"
    fmt = torch.channels_last if nhwc else torch.contiguous_format

    # Decode, scale and lay out outside the timed region; keel does the same.
    # The IDX images are N x 28 x 28, i.e. keel's NHWC with C=1; as NCHW
    # that is N x 1 x 28 x 28 (a reshape, no data movement).  In channels_last
    # form the memory is the same, only the strides are tagged NHWC.
    x = torch.from_numpy(read_idx(f"{DATA}/train-images-idx3-ubyte.gz", 0x803)
                         .astype(np.float32) / 255.0)
    x = x.reshape(-1, 1, 28, 28).contiguous(memory_format=fmt)
    y = torch.from_numpy(read_idx(f"{DATA}/train-labels-idx1-ubyte.gz", 0x801)
                         .astype(np.int64))
    n = x.shape[0]

    for bs in a.batch:
        torch.manual_seed(0)  # fresh, identical start for each batch size
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=1, padding=0, bias=True), nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
            Flatten(hwc=nhwc),
            nn.Linear(13 * 13 * 32, 128), nn.ReLU(),
            nn.Linear(128, 10)).train()
        model = model.to(memory_format=fmt)  # conv weight in NHWC too
        # eps=1e-7 is Keras' default, which keel follows (torch's is 1e-8).
        opt = torch.optim.Adam(model.parameters(), lr=1e-3,
                               betas=(0.9, 0.999), eps=1e-7)
        loss_fn = nn.CrossEntropyLoss()  # softmax folded into the loss

        def step(idx):
            # With C=1 the gathered batch is contiguous in both formats, so
            # this is a no-op; it keeps the layout right should C ever grow.
            # (oneDNN picks NHWC here because the conv weight is NHWC.)
            xb = x[idx].contiguous(memory_format=fmt)
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        # Warm-up: first calls pay for allocator growth, thread-pool start-up
        # and oneDNN primitive creation, which keel's timing also excludes.
        perm = torch.randperm(n)
        for i in range(a.warmup):
            step(perm[(i * bs) % n:(i * bs) % n + bs])

        t0 = time.perf_counter()
        perm = torch.randperm(n)  # shuffle is part of an epoch, so timed
        for s in range(0, n, bs):  # last partial batch included
            step(perm[s:s + bs])
        dt = time.perf_counter() - t0
        print(f"pytorch batch={bs} threads={a.threads} "
              f"samples_per_s={int(n / dt)}", flush=True)


if __name__ == "__main__":
    main()
