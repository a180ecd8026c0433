#!/usr/bin/python3
"""PyTorch side of `bench_core cnn DIR`: Cohen et al.'s cnn-relu on the same data and parameters.

nn.Sequential(Conv2d(1, 32, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(32, 32, 3, padding=1), ReLU,
MaxPool2d(2), Flatten, Linear(1568, 10)) on the 1,000 standardised Fashion-MNIST images and the
parameters at init that bench_core wrote (DIR/cnn_*.bin, float32; our layout = parameters_to_
vector's: per layer W then b), MSE = 0.5 * sum over outputs, mean over examples. Prints:
  cnn_torch_loss_rel_err / cnn_torch_grad_rel_err: PyTorch's loss and gradient at init against
    eosweep's (DIR/cnn_meta.txt loss0, DIR/cnn_g0.bin): the two implement the same network;
  cnn_gd_step_sec: one full-batch GD step (forward, backward, torch.optim.SGD step), median of 5;
  cnn_hvp_sec: one double-backward HVP over the 1,000 examples (Cohen et al.'s code), median of 5;
then, with part b, top-2 sharpness as Cohen et al.'s code computes it (compute_hvp: double backward
over chunks of 1,000, here one chunk, in a scipy LinearOperator, eigsh(k=2, which='LA')) at the
loosest tol of the ladder 1e-1, 3e-2, ... whose top-2 eigenvalues are within 1e-3 of the float64
reference DIR/cnn_ref.txt (`lanczos_vs_arpack cnnref`), at init and step 100 (DIR/cnn_p100.bin from
`bench_core cnnprep`) cold, and with part w at step 100 warm (eigsh's v0: its own top eigenvector
at step 50, tol 1e-3), as bench_core_torch.py's sharp_bench does for the MLP.
usage: bench_cnn_torch.py DIR THREADS [PARTS: a, b (cold), w (warm); default a]
(run with /usr/bin/python3: Debian's python3-torch and python3-scipy)
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
    parts = sys.argv[3] if len(sys.argv) > 3 else "a"
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
    p0 = load("cnn_p0.bin", (-1,))
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(32 * 7 * 7, k))
    params = list(net.parameters())
    assert sum(p.numel() for p in params) == p0.numel(), "parameter counts differ"
    vector_to_parameters(p0.clone(), params)

    def loss_fn():
        return 0.5 * ((net(X) - Y) ** 2).sum() / n

    if "a" in parts:
        bench_step_hvp(d, meta, net, params, loss_fn, n)
    if "b" in parts or "w" in parts:
        bench_sharp(d, net, params, X, Y, n, parts)
    print("peak_rss_kb", vm_hwm_kb())


def vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def bench_sharp(d, net, params, X, Y, n, parts):
    """Top-2 at equal accuracy as bench_core_torch.py's (b): the same Sharpness (Cohen et al.'s
    compute_hvp, one chunk of 1,000 here, eigsh ladder) against DIR/cnn_ref.txt."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_core_torch import Sharpness, read_ref

    def load(name):
        return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype=np.float32))

    p = {s: load("cnn_p%d.bin" % s) for s in (0, 50, 100)}
    ref = read_ref(d, "cnn_ref.txt")
    sh = Sharpness(net, params, X, Y)

    def set_params(w):
        with torch.no_grad():
            vector_to_parameters(w.clone(), params)

    if "b" in parts:
        set_params(p[0])
        sh.ladder("cnn_init", ref["p0"])
        set_params(p[100])
        sh.ladder("cnn_trained", ref["p100"])
    if "w" not in parts:
        return
    set_params(p[50])
    np.random.seed(0)
    t0 = time.perf_counter()
    _, v50, cnt = sh.top2(1e-3)
    print("cnn_warm_source_hvps %d\ncnn_warm_source_sec %.3f" % (cnt, time.perf_counter() - t0))
    set_params(p[100])
    sh.ladder("cnn_trained_warm", ref["p100"], v0=v50)


def bench_step_hvp(d, meta, net, params, loss_fn, n):
    def load(name):
        return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype=np.float32))

    g_ours = load("cnn_g0.bin")
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
