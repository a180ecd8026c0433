"""Figure of docs/sharpness.md "Edge of stochastic stability: the paper's setting here": per run,
batch sharpness, E_B lambda_max(H_B) and the full-batch sharpness against 2/lr (left axis) and
the training loss (right axis, grey); one row per results file. Prints, per run, the medians over
the late window (the measurements at steps >= LATE * last step) divided by 2/lr.

    python3 docs/figures/eoss_reproduce.py OUT.png LATE FILE.h5 [FILE.h5 ...]
"""
import sys

import matplotlib
import numpy as np
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, __file__.rsplit("/docs/", 1)[0])
from analysis.results import Results  # noqa: E402


def main(out, late, paths):
    rows = [Results(p) for p in paths]
    ncol = max(r.n_runs for r in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(3.4 * ncol, 2.5 * len(rows)), squeeze=False)
    for i, res in enumerate(rows):
        f = res.f
        st = f["sharp/step"][:]
        ts = f["traj/step"][:]
        thr = f["runs/threshold"][:]
        for r in range(res.n_runs):
            cfg = yaml.safe_load(res.config(r))
            ax = axes[i, r]
            e = f["sharp/eig"][r, :, 0]
            b = f["sharp/batch_sharp"][r]
            h = f["sharp/batch_hess_eig"][r]
            ok = ~np.isnan(e)
            ax.plot(st[ok], b[ok], "o-", ms=2.5, lw=1, label="batch sharpness")
            ax.plot(st[ok], h[ok], "s-", ms=2.5, lw=1, label=r"E$_B\,\lambda_{max}(H_B)$")
            ax.plot(st[ok], e[ok], "^-", ms=2.5, lw=1, label=r"$\lambda_{max}(H)$, full batch")
            ax.axhline(thr[r], color="k", ls="--", lw=1, label="2/lr")
            loss = f["traj/loss"][r]
            ax2 = ax.twinx()
            ax2.semilogy(ts, loss, color="0.6", lw=0.8)
            ax2.tick_params(labelsize=6)
            m = cfg["model"]
            name = "fc-relu 512-512, init 0.2" if m["activation"] == "relu" else "fc-tanh 100-100"
            tr = cfg["train"]
            ax.set_title(f"{name}, b={tr['batch_size']}, lr={tr['lr']}", fontsize=7)
            ax.set_xlabel("step", fontsize=7)
            ax.tick_params(labelsize=6)
            w = ok & (st >= late * st[ok].max())
            print(f"{paths[i]} run {r}: {name} n={cfg['data']['n_train']} b={tr['batch_size']} "
                  f"lr={tr['lr']} 2/lr={thr[r]:g}: late window steps {st[w].min()}-{st[w].max()} "
                  f"({w.sum()} measurements): median batch_sharp/(2/lr) {np.median(b[w]) / thr[r]:.2f}, "
                  f"eig/(2/lr) {np.median(e[w]) / thr[r]:.2f}, batch_hess_eig/(2/lr) "
                  f"{np.median(h[w]) / thr[r]:.2f}; final loss {loss[~np.isnan(loss)][-1]:.1e}")
        axes[i, 0].set_ylabel("curvature (0.5-sum MSE)", fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3:])
