#!/usr/bin/python3
"""PyTorch reference for keel's bench_gan: the tutorial's MLP GAN (generator
Linear(100, 256) ReLU Linear(256, 784) Sigmoid; discriminator Linear(784, 256)
ReLU Linear(256, 1) Sigmoid), Adam(2e-4, betas (0.5, 0.999), eps 1e-7 as Keras),
BCE. One step: one discriminator update on 64 real + 64 generated images (one
batch of 128), one generator update on 64 noise vectors with the
discriminator's parameters frozen (requires_grad off: no wasted dW, PyTorch at
its best). Random "real" images: the data do not change the work.

Run with Debian's /usr/bin/python3 and OMP_WAIT_POLICY=PASSIVE (see
bench/compare_pytorch.sh). Prints:  pytorch batch=B threads=T steps_per_s=S
"""
import argparse, time
import torch
from torch import nn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, action="append", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for B in a.batch:
        G = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())
        D = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 1), nn.Sigmoid())
        og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
        od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
        bce = nn.BCELoss()
        real = torch.rand(B, 784)
        y_d = torch.cat([torch.ones(B, 1), torch.zeros(B, 1)])
        ones = torch.ones(B, 1)
        for s in range(-20, a.steps):
            if s == 0:
                t0 = time.perf_counter()
            z = torch.rand(B, 100) * 2 - 1
            with torch.no_grad():
                fake = G(z)
            od.zero_grad(set_to_none=True)
            bce(D(torch.cat([real, fake])), y_d).backward()
            od.step()
            z = torch.rand(B, 100) * 2 - 1
            for p in D.parameters():
                p.requires_grad_(False)
            og.zero_grad(set_to_none=True)
            bce(D(G(z)), ones).backward()
            og.step()
            for p in D.parameters():
                p.requires_grad_(True)
        dt = time.perf_counter() - t0
        print(f"pytorch batch={B} threads={a.threads} steps_per_s={a.steps / dt:.1f}", flush=True)


if __name__ == "__main__":
    main()
