#!/usr/bin/python3
"""PyHessian's algorithms on bench/bench_core.c's workload, for the cost comparison of issue 12.

The data, parameters and float64 reference eigenvalues are those `bench_core prep DIR` and
`lanczos_vs_arpack ref DIR` wrote (fc-tanh 784-200-200-10, 5,000 standardised Fashion-MNIST
examples, MSE, float32; points p0 and p500). The HVP is the double backward over chunks of 1,000
(bench_core_torch.py's compute_hvp). Written here after PyHessian's hessian.py (Yao et al. 2020):
  eigenvalues(maxIter=100, tol=1e-3, top_n=2): per eigenvalue, power iteration from a Gaussian
    start, orthonormalised against the eigenvectors found before at every iteration, stopped when
    the Rayleigh quotient changes by less than tol relative (|new - old| / (|old| + 1e-6));
  trace(maxIter=100, tol=1e-3): Hutchinson with Rademacher probes, stopped when the running mean
    changes by less than tol relative.
Prints "key value" lines: HVPs, seconds and the relative error of the two eigenvalues against the
float64 reference at each point, and the trace's probe count and value. torch.manual_seed(0).
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_core_torch import Sharpness, load, read_meta, read_ref, set_params  # noqa: E402


def main():
    d, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    meta = read_meta(d)
    n, dim, k, npar = meta["n"], meta["d"], meta["k"], meta["np"]
    X, Y = load(d, "X.bin", (n, dim)), load(d, "Y.bin", (n, k))
    ref = read_ref(d)
    net = nn.Sequential(nn.Linear(dim, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(),
                        nn.Linear(200, k))
    params = list(net.parameters())
    sh = Sharpness(net, params, X, Y)  # the double-backward HVP, counted in sh.hvps
    hvp = sh.hvp

    def orthnormal(v, vs):
        for u in vs:
            v = v - torch.dot(v, u) * u
        return v / v.norm()

    def eigenvalues(max_iter=100, tol=1e-3, top_n=2):
        evs, vecs = [], []
        for _ in range(top_n):
            v = orthnormal(torch.randn(npar), vecs)
            ev = None
            for _ in range(max_iter):
                v = orthnormal(v, vecs)
                hv = hvp(v)
                tmp = torch.dot(hv, v).item()
                v = hv / hv.norm()
                if ev is not None and abs(ev - tmp) / (abs(ev) + 1e-6) < tol:
                    ev = tmp
                    break
                ev = tmp
            evs.append(ev)
            vecs.append(v)
        return np.array(evs)

    def trace(max_iter=100, tol=1e-3):
        vals, tr = [], 0.0
        for _ in range(max_iter):
            v = torch.randint(0, 2, (npar,)).float() * 2 - 1
            vals.append(torch.dot(hvp(v), v).item())
            if abs(np.mean(vals) - tr) / (abs(tr) + 1e-6) < tol:
                return np.mean(vals), len(vals)
            tr = np.mean(vals)
        return tr, len(vals)

    for name in ("p0", "p500"):
        set_params(load(d, name + ".bin", (npar,)), params)
        sh.hvps = 0
        t0 = time.perf_counter()
        ev = eigenvalues()
        sec = time.perf_counter() - t0
        err = np.abs(ev - ref[name]) / np.abs(ref[name])
        print("pyh_eig_%s_hvps %d\npyh_eig_%s_sec %.3f" % (name, sh.hvps, name, sec))
        print("pyh_eig_%s_err0 %.3e\npyh_eig_%s_err1 %.3e" % (name, err[0], name, err[1]))
        print("pyh_eig_%s_sec_per_hvp %.4f" % (name, sec / sh.hvps))
    set_params(load(d, "p500.bin", (npar,)), params)
    sh.hvps = 0
    t0 = time.perf_counter()
    tr, probes = trace()
    print("pyh_trace_p500 %.4f\npyh_trace_p500_probes %d\npyh_trace_p500_sec %.3f"
          % (tr, probes, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
