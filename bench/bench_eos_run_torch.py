#!/usr/bin/python3
"""PyTorch side of bench/run_eos_run.sh: one Cohen-style edge-of-stability run, end to end.

The run of bench/eos_run.yaml as Cohen et al. 2021's code (their src/gd.py) takes it: fc-tanh
784-200-200-10 (nn.Linear with biases, Tanh), MSE (0.5 * sum over outputs, mean over examples), the
5,000 standardised Fashion-MNIST examples and the initial parameters that `bench_core prep DIR 0`
wrote (DIR/X.bin, Y.bin, p0.bin: what eosweep's data loader and seed-0 initialisation give, so both
sides start from the same numbers), full-batch GD at lr 2/30 for 1,000 steps. At every step t =
0..1,000: the training loss over all examples in chunks of 1,000 (their compute_losses, under
no_grad); every 50 steps the top-2 Hessian eigenvalues over all 5,000 examples by their compute_hvp
(double backward over chunks of 1,000) and eigsh(k=2, which='LA', tol 1e-3), cold as theirs is
(bench_core_torch.Sharpness); then, but for t = 1,000, the step: zero_grad, loss / n over each
chunk of 1,000 backward, torch.optim.SGD.step().

usage: bench_eos_run_torch.py DIR THREADS OUT.json [cohen|fused]
  cohen (default): the loss of step t from its own no_grad pass, as their code does;
  fused: the loss summed from the chunks' forward passes of the gradient (no separate pass; what
         eosweep does), for the share of that extra pass.
Writes OUT.json: loss[1001], grad_norm[1001], eig[21][2], hvps[21], sharp_sec[21], and the
seconds of setup, training (loss + step) and sharpness; prints "key value" lines.
Run with /usr/bin/python3 (Debian's python3-torch and python3-scipy).
"""
import time

T_START = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.nn.utils import parameters_to_vector  # noqa: E402

from bench_core_torch import Sharpness, load, loss_fn, read_meta, set_params  # noqa: E402

LR = 2.0 / 30.0
MAX_STEPS = 1000
SHARP_EVERY = 50
TOL = 1e-3
CHUNK = 1000  # Cohen et al.'s physical_batch_size


def main():
    d, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    mode = sys.argv[4] if len(sys.argv) > 4 else "cohen"
    assert mode in ("cohen", "fused"), mode
    torch.set_num_threads(threads)
    t_import = time.perf_counter() - T_START
    t0 = time.perf_counter()
    meta = read_meta(d)
    n, dim, k, npar = meta["n"], meta["d"], meta["k"], meta["np"]
    X = load(d, "X.bin", (n, dim))
    Y = load(d, "Y.bin", (n, k))
    net = nn.Sequential(nn.Linear(dim, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(),
                        nn.Linear(200, k))
    params = list(net.parameters())
    assert parameters_to_vector(params).numel() == npar
    set_params(load(d, "p0.bin", (npar,)), params)
    opt = torch.optim.SGD(params, lr=LR)
    sh = Sharpness(net, params, X, Y, CHUNK)
    t_setup = time.perf_counter() - t0

    losses, gnorms, eigs, hvps, sharp_sec = [], [], [], [], []
    t_train = t_sharp = 0.0
    t_run = time.perf_counter()
    for t in range(MAX_STEPS + 1):
        ta = time.perf_counter()
        if mode == "cohen" or t == MAX_STEPS:
            with torch.no_grad():  # their compute_losses
                losses.append(sum(loss_fn(net(X[i:i + CHUNK]), Y[i:i + CHUNK]).item()
                                  for i in range(0, n, CHUNK)) / n)
        t_train += time.perf_counter() - ta
        if t % SHARP_EVERY == 0:
            ts = time.perf_counter()
            np.random.seed(0)  # eigsh's own random start (v0=None), as in Sharpness.ladder
            ev, _, cnt = sh.top2(TOL)
            sharp_sec.append(time.perf_counter() - ts)
            t_sharp += sharp_sec[-1]
            eigs.append([float(ev[0]), float(ev[1])])
            hvps.append(int(cnt))
        ta = time.perf_counter()
        if t < MAX_STEPS:
            opt.zero_grad(set_to_none=True)
            fused = 0.0
            for i in range(0, n, CHUNK):  # their iterate_dataset over physical batches
                chunk_loss = loss_fn(net(X[i:i + CHUNK]), Y[i:i + CHUNK]) / n
                chunk_loss.backward()
                fused += chunk_loss.item()
            if mode == "fused":
                losses.append(fused)  # the loss at w_t, from the gradient's own passes
            # the gradient at w_t (eosweep's /traj/grad_norm), for the cross-check
            gnorms.append(float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params))))
            opt.step()
        t_train += time.perf_counter() - ta
    t_run = time.perf_counter() - t_run
    res = {"mode": mode, "threads": torch.get_num_threads(), "torch_version": torch.__version__,
           "loss": losses, "grad_norm": gnorms, "eig": eigs, "hvps": hvps, "sharp_sec": sharp_sec,
           "import_sec": t_import, "setup_sec": t_setup, "run_sec": t_run, "train_sec": t_train,
           "sharp_total_sec": t_sharp, "total_sec": time.perf_counter() - T_START}
    with open(out, "w") as f:
        json.dump(res, f)
    for key in ("mode", "threads", "torch_version", "import_sec", "setup_sec", "run_sec",
                "train_sec", "sharp_total_sec", "total_sec"):
        print(key, res[key])
    print("hvps_per_measurement", " ".join(map(str, hvps)))
    print("final_loss %.6f final_sharpness %.4f" % (losses[-1], eigs[-1][0]))


if __name__ == "__main__":
    main()
