#!/usr/bin/python3
"""PyTorch reference for keel's bench_mlp: same Fashion-MNIST MLP, same
optimizer, one timed training epoch per batch size.

Run with Debian's /usr/bin/python3 (the only interpreter that has torch).
Set OMP_WAIT_POLICY=PASSIVE in the environment *before* this starts:
libgomp reads it once at load time (bench/compare_pytorch.sh does this).

Prints one line per batch size:  pytorch batch=B threads=T samples_per_s=S
"""
import argparse, gzip, time
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, action="append", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=50)
    a = ap.parse_args()
    # Debian's build defaults to 1 intra-op thread; keel gets T, so must we.
    torch.set_num_threads(a.threads)

    # Decode + scale outside the timed region; keel does the same.
    x = torch.from_numpy(read_idx(f"{DATA}/train-images-idx3-ubyte.gz", 0x803)
                         .astype(np.float32) / 255.0)
    y = torch.from_numpy(read_idx(f"{DATA}/train-labels-idx1-ubyte.gz", 0x801)
                         .astype(np.int64))
    n = x.shape[0]

    for bs in a.batch:
        torch.manual_seed(0)  # fresh, identical start for each batch size
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                              nn.Dropout(0.2), nn.Linear(128, 10)).train()
        # eps=1e-7 is Keras' default, which keel follows (torch's is 1e-8).
        opt = torch.optim.Adam(model.parameters(), lr=1e-3,
                               betas=(0.9, 0.999), eps=1e-7)
        loss_fn = nn.CrossEntropyLoss()  # softmax folded into the loss

        def step(idx):
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        # Warm-up: first calls pay for allocator growth, thread-pool start-up
        # and OpenBLAS buffer allocation, which keel's timing also excludes.
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
