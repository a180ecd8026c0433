#!/usr/bin/env python3
"""Writes the benchmark sweeps (stdout). Runs differ only in train.lr (and seed where asked), so
the synthetic data set is generated once per rank and cached: what is left between runs is the
sweep engine's own work (scheduling, result rows, fsync), not data generation.

  gen_sweep.py tiny N        N runs of ~1 ms (20 GD steps of a 20-32-1 tanh MLP on 256 examples)
  gen_sweep.py eff N         N runs of ~0.15 s (100 GD steps, top-2 Hessian eigenvalues every 100 steps)
  gen_sweep.py big N         N runs with a Fashion-MNIST-sized config (for file size/creation only)
"""
import sys

kind, n = sys.argv[1], int(sys.argv[2])
lrs = ", ".join(repr(round(0.001 + 0.049 * i / max(n - 1, 1), 12)) for i in range(n))
if kind == "tiny":
    print(f"""name: bench-tiny
seed: 0
data:      {{source: teacher-student, n_train: 256, dim: 20, n_out: 1, teacher_hidden: 20}}
model:     {{arch: mlp, hidden: [32], activation: tanh}}
loss: mse
train:     {{optimizer: gd, lr: 0.05, batch_size: full, max_steps: 20, record_every: 5}}
sharpness: {{every: 0}}
grid:
  train.lr: [{lrs}]""")
elif kind == "eff":
    print(f"""name: bench-eff
seed: 0
data:      {{source: teacher-student, n_train: 500, dim: 50, n_out: 1, teacher_hidden: 50}}
model:     {{arch: mlp, hidden: [64, 64], activation: tanh}}
loss: mse
train:     {{optimizer: gd, lr: 0.05, batch_size: full, max_steps: 100, record_every: 10}}
sharpness: {{every: 100, k: 2, tol: 1.0e-3}}
grid:
  train.lr: [{lrs}]""")
elif kind == "big":
    # 100,000 runs = lr (1000 values) x seed (n/1000); Cohen et al.-style record/sharpness axes
    nl = 1000
    lrs = ", ".join(repr(round(0.001 + 0.099 * i / (nl - 1), 12)) for i in range(nl))
    seeds = ", ".join(str(s) for s in range(max(n // nl, 1)))
    print(f"""name: bench-big
seed: 0
data:      {{source: fashion-mnist, n_train: 5000, n_test: 1000, standardize: true}}
model:     {{arch: mlp, hidden: [200, 200], activation: tanh}}
loss: mse
train:     {{optimizer: gd, lr: 0.02, batch_size: full, max_steps: 2000, loss_goal: 0.01, record_every: 10}}
sharpness: {{every: 50, k: 2, tol: 1.0e-3}}
grid:
  train.lr: [{lrs}]
  seed: [{seeds}]""")
else:
    sys.exit("usage: gen_sweep.py tiny|eff|big N")
