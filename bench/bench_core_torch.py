#!/usr/bin/python3
"""PyTorch side of bench/bench_core.c: the same workload, data and parameters, the field's code.

fc-tanh 784-200-200-10 (nn.Linear with biases, Tanh), the 5,000 standardised Fashion-MNIST
examples and the parameters at GD steps 0/450/500 that `bench_core prep DIR` wrote (float32, our
flat layout = parameters_to_vector's: W [out, in] then b per layer), MSE = 0.5 * sum over outputs,
mean over examples. Measures, with torch.set_num_threads(T):
  (a) one full-batch GD step (forward, backward, torch.optim.SGD step) over 5,000 examples;
  (b) top-2 sharpness as Cohen et al.'s code computes it: double-backward HVPs over chunks of 1,000
      wrapped in a scipy LinearOperator, eigsh(k=2, which='LA'), at the largest tol in a ladder
      whose result is within 1e-3 of the float64 reference (DIR/ref.txt);
  (d) peak RSS after (a)+(b); then
  (c) SGD steps per second at batch 32, reshuffled every epoch, tail dropped.
Run with /usr/bin/python3 (Debian's python3-torch and python3-scipy). Prints "key value" lines.
"""
import os
import resource
import sys
import time

import numpy as np
import scipy.sparse.linalg as sla
import torch
import torch.nn as nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters


def read_meta(d):
    meta = {}
    with open(os.path.join(d, "meta.txt")) as f:
        for line in f:
            k, v = line.split()
            meta[k] = float(v) if "." in v or "e" in v else int(v)
    return meta


def load(d, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype=np.float32).reshape(shape))


def vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def set_params(w, params):
    # vector_to_parameters makes each parameter a view of its argument: give it a copy, or the
    # optimizer steps would overwrite the saved points
    with torch.no_grad():
        vector_to_parameters(w.clone(), params)


def loss_fn(out, y):
    # Cohen et al.'s SquaredLoss: 0.5 * sum of squares (then divided by the example count)
    return 0.5 * ((out - y) ** 2).sum()


def median_time(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return float(np.median(t))


def read_ref(d, fname="ref.txt"):
    """{point: [lambda1, lambda2]} from a float64 reference file (`lanczos_vs_arpack ref/cnnref`)."""
    ref = {}
    with open(os.path.join(d, fname)) as f:
        for line in f:
            name, a, b = line.split()
            ref[name] = np.array([float(a), float(b)])
    return ref


class Sharpness:
    """Cohen et al.'s compute_hvp (double backward with create_graph over chunks of `chunk`) of the
    mean loss over X, Y, and top-2 by eigsh(k=2, which='LA') on it, with its HVP count."""

    LADDER = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 0]

    def __init__(self, net, params, X, Y, chunk=1000):
        self.net, self.params, self.X, self.Y, self.chunk = net, params, X, Y, chunk
        self.npar = parameters_to_vector(params).numel()
        self.hvps = 0

    def hvp(self, vector):
        self.hvps += 1
        n = self.X.shape[0]
        out = torch.zeros(self.npar, dtype=torch.float)
        for i in range(0, n, self.chunk):
            loss = loss_fn(self.net(self.X[i:i + self.chunk]), self.Y[i:i + self.chunk]) / n
            grads = torch.autograd.grad(loss, inputs=self.params, create_graph=True)
            dot = parameters_to_vector(grads).mul(vector).sum()
            grads = [g.contiguous() for g in torch.autograd.grad(dot, self.params,
                                                                 retain_graph=True)]
            out += parameters_to_vector(grads)
        return out

    def top2(self, tol, v0=None):
        """(eigenvalues descending [2], top eigenvector, HVPs) from eigsh at tol."""
        op = sla.LinearOperator((self.npar, self.npar), dtype=np.float32,
                                matvec=lambda v: self.hvp(torch.from_numpy(
                                    np.ascontiguousarray(v, dtype=np.float32))).numpy())
        self.hvps = 0
        evals, evecs = sla.eigsh(op, k=2, which="LA", tol=tol, v0=v0)
        order = np.argsort(evals)[::-1]
        return evals[order].astype(np.float64), evecs[:, order[0]], self.hvps

    def ladder(self, tag, refv, v0=None):
        """The loosest tolerance of LADDER whose top-2 is within 1e-3 of refv: prints every rung
        and then that run's tol, HVPs, error and seconds (the measurement)."""
        for tol in self.LADDER:
            np.random.seed(0)  # eigsh draws its own random start when v0 is None
            t0 = time.perf_counter()
            ev, _, cnt = self.top2(tol, v0)
            sec = time.perf_counter() - t0
            err = float(np.max(np.abs(ev - refv) / np.abs(refv)))
            print("sharp_ladder_%s tol %.0e hvps %d err %.2e eig %.6f %.6f sec %.3f" %
                  (tag, tol, cnt, err, ev[0], ev[1], sec))
            if err <= 1e-3:
                print("sharp_%s_tol %.0e\nsharp_%s_hvps %d\nsharp_%s_err %.2e\nsharp_%s_sec %.4f"
                      % (tag, tol, tag, cnt, tag, err, tag, sec))
                return
        print("sharp_%s_tol none" % tag)


def main():
    d = sys.argv[1]
    threads = int(sys.argv[2])
    torch.set_num_threads(threads)
    meta = read_meta(d)
    n, dim, k, npar = meta["n"], meta["d"], meta["k"], meta["np"]
    X = load(d, "X.bin", (n, dim))
    Y = load(d, "Y.bin", (n, k))
    p = {s: load(d, "p%d.bin" % s, (npar,)) for s in (0, 450, 500)}
    ref = read_ref(d)

    net = nn.Sequential(nn.Linear(dim, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(),
                        nn.Linear(200, k))
    params = list(net.parameters())
    assert parameters_to_vector(params).numel() == npar
    print("threads", torch.get_num_threads())
    print("torch_version", torch.__version__)

    # (a) full-batch GD step
    set_params(p[0], params)
    with torch.no_grad():
        print("loss_p0 %.6f" % (loss_fn(net(X), Y) / n).item())  # bench_core prep: 0.600802
    opt = torch.optim.SGD(params, lr=meta["lr"])

    def gd_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(X), Y) / n
        loss.backward()
        opt.step()

    print("gd_step_sec %.5f" % median_time(gd_step, 20))

    # (b) sharpness: Cohen et al.'s compute_hvp + lanczos (eigsh) with which='LA'
    sh = Sharpness(net, params, X, Y)
    set_params(p[0], params)
    sh.ladder("init", ref["p0"])
    set_params(p[500], params)
    sh.ladder("trained", ref["p500"])
    # warm start from the step-450 top eigenvector (eigsh's v0), as a run measuring every 50 steps
    set_params(p[450], params)
    np.random.seed(0)
    _, v450, _ = sh.top2(1e-3)
    set_params(p[500], params)
    sh.ladder("trained_warm", ref["p500"], v0=v450)
    print("peak_rss_kb", vm_hwm_kb())
    print("ru_maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    # (c) SGD at batch 32
    set_params(p[0], params)
    opt = torch.optim.SGD(params, lr=meta["lr"])
    gen = torch.Generator().manual_seed(0)
    b = 32
    state = {"perm": torch.randperm(n, generator=gen), "pos": 0}

    def sgd_steps(nsteps):
        for _ in range(nsteps):
            if state["pos"] + b > n:
                state["perm"] = torch.randperm(n, generator=gen)
                state["pos"] = 0
            idx = state["perm"][state["pos"]:state["pos"] + b]
            state["pos"] += b
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(X[idx]), Y[idx]) / b
            loss.backward()
            opt.step()

    nsteps = 1000
    print("sgd32_steps_per_sec %.1f" % (nsteps / median_time(lambda: sgd_steps(nsteps), 3, 1)))


if __name__ == "__main__":
    main()
