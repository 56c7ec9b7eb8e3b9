#!/usr/bin/python3
"""PyTorch reference for keel's bench_lstm: Embedding(1000, 64) -> LSTM(128) (last
state) -> Linear(128, 1) + sigmoid, Adam (eps 1e-7, as Keras), BCE, sequences of
80 random token ids, one timed epoch of 2,560 sequences per batch size after a
warm-up epoch. Run with Debian's /usr/bin/python3 and OMP_WAIT_POLICY=PASSIVE
(bench/compare_pytorch.sh does). Prints: pytorch batch=B threads=T samples_per_s=S
"""
import argparse, time
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 64)
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.out = nn.Linear(128, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(self.emb(x))
        return torch.sigmoid(self.out(h[-1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, action="append", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    N, T = 2560, 80
    x = torch.randint(1, 1000, (N, T))
    y = (torch.arange(N) % 2).float().unsqueeze(1)
    for B in a.batch:
        net = Net()
        opt = torch.optim.Adam(net.parameters(), eps=1e-7)
        bce = nn.BCELoss()
        for epoch in range(2):  # the first is the warm-up
            if epoch == 1:
                t0 = time.perf_counter()
            perm = torch.randperm(N)
            for s in range(0, N, B):
                idx = perm[s:s + B]
                opt.zero_grad(set_to_none=True)
                bce(net(x[idx]), y[idx]).backward()
                opt.step()
        dt = time.perf_counter() - t0
        print(f"pytorch batch={B} threads={a.threads} samples_per_s={N / dt:.0f}", flush=True)


if __name__ == "__main__":
    main()
