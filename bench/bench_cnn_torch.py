#!/usr/bin/python3
"""PyTorch side of `bench_core cnn DIR`: Cohen et al.'s cnn-relu on the same data and parameters.

nn.Sequential(Conv2d(1, 32, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(32, 32, 3, padding=1), ReLU,
MaxPool2d(2), Flatten, Linear(1568, 10)) on the 1,000 standardised Fashion-MNIST images and the
parameters at init that bench_core wrote (DIR/cnn_*.bin, float32; our layout = parameters_to_
vector's: per layer W then b), MSE = 0.5 * sum over outputs, mean over examples. Prints:
  cnn_torch_loss_rel_err / cnn_torch_grad_rel_err: PyTorch's loss and gradient at init against
    eosweep's (DIR/cnn_meta.txt loss0, DIR/cnn_g0.bin): the two implement the same network;
  cnn_gd_step_sec: one full-batch GD step (forward, backward, torch.optim.SGD step), median of 5;
  cnn_hvp_sec: one double-backward HVP over the 1,000 examples (Cohen et al.'s code), median of 5.
usage: bench_cnn_torch.py DIR THREADS   (run with /usr/bin/python3: Debian's python3-torch)
"""
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters


def main():
    d, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    meta = {}
    with open(os.path.join(d, "cnn_meta.txt")) as f:
        for line in f:
            k, v = line.split()
            meta[k] = float(v)
    n, k = int(meta["n"]), int(meta["k"])

    def load(name, shape):
        return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype=np.float32).reshape(shape))

    X, Y = load("cnn_X.bin", (n, 1, 28, 28)), load("cnn_Y.bin", (n, k))
    p0, g_ours = load("cnn_p0.bin", (-1,)), load("cnn_g0.bin", (-1,))
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(32 * 7 * 7, k))
    params = list(net.parameters())
    assert sum(p.numel() for p in params) == p0.numel(), "parameter counts differ"
    vector_to_parameters(p0.clone(), params)

    def loss_fn():
        return 0.5 * ((net(X) - Y) ** 2).sum() / n

    loss = loss_fn()
    g = parameters_to_vector(torch.autograd.grad(loss, params))
    print("cnn_torch_loss_rel_err %.3g" % (abs(loss.item() - meta["loss0"]) / abs(meta["loss0"])))
    print("cnn_torch_grad_rel_err %.3g" % ((g - g_ours).norm() / g.norm()).item())

    opt = torch.optim.SGD(params, lr=meta["lr"])
    times = []
    for r in range(6):  # one warm-up step
        t0 = time.perf_counter()
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
        if r:
            times.append(time.perf_counter() - t0)
    print("cnn_gd_step_sec %.6f" % statistics.median(times))
    v = [p.detach().clone() for p in params]
    times = []
    for r in range(6):
        t0 = time.perf_counter()
        gr = torch.autograd.grad(loss_fn(), params, create_graph=True)
        hv = torch.autograd.grad(sum((a * b).sum() for a, b in zip(gr, v)), params)
        if r:
            times.append(time.perf_counter() - t0)
    del hv
    print("cnn_hvp_sec %.6f" % statistics.median(times))


if __name__ == "__main__":
    main()
