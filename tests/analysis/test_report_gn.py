"""The report draws the top Gauss-Newton eigenvalue (/sharp/gn_eig, sharpness.gauss_newton)
dotted next to the sharpness against 2/lr, and says so; files without it are drawn as before."""
import os
import shutil
import subprocess

import h5py
import matplotlib
import numpy as np

from analysis.report import gn_series, make_report
from analysis.results import Results

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GN_SWEEP = """name: gn
seed: 1
data:      {source: teacher-student, dim: 6, n_out: 2, teacher_hidden: 8, n_train: 64, standardize: false}
model:     {arch: mlp, hidden: [8], activation: tanh}
loss: mse
train:     {optimizer: gd, lr: 0.5, batch_size: full, max_steps: 60, record_every: 5}
sharpness: {every: 10, k: 2, gauss_newton: true}
grid:
  train.lr: [0.5, 1.0]
"""


def _run(eosweep_bin, tmp_path):
    (tmp_path / "gn.yaml").write_text(GN_SWEEP)
    p = subprocess.run([eosweep_bin, "gn.yaml", "-o", "gn.h5", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return str(tmp_path / "gn.h5")


def test_report_draws_gauss_newton(eosweep_bin, tmp_path):
    path = _run(eosweep_bin, tmp_path)
    with Results(path) as res:
        gn = gn_series(res, ["eig"] * res.n_runs)
        eig = res.sharp_series("eig")[1]
    assert gn is not None and gn.shape == eig.shape and np.isfinite(gn).all()
    # G <= H in the top eigenvalue only up to the network's second-order term: close, not equal
    np.testing.assert_allclose(gn, eig, rtol=0.2)
    out = str(tmp_path / "with")
    md = open(make_report(path, out)).read()
    assert "Dotted: the top eigenvalue of the Gauss-Newton matrix" in md

    # the same file with gn_eig emptied (as if not measured): no dotted lines, no sentence,
    # and a different picture
    blank = str(tmp_path / "blank.h5")
    shutil.copy(path, blank)
    with h5py.File(blank, "r+") as f:
        f["sharp/gn_eig"][...] = np.nan
    with Results(blank) as res:
        assert gn_series(res, ["eig"] * res.n_runs) is None
    out2 = str(tmp_path / "without")
    md2 = open(make_report(blank, out2)).read()
    assert "Gauss-Newton" not in md2
    a = plt.imread(os.path.join(out, "sharpness.png"))
    b = plt.imread(os.path.join(out2, "sharpness.png"))
    assert a.shape != b.shape or float(np.abs(a - b).max()) > 0.1


def test_gn_series_only_for_hessian_sharpness(eosweep_bin, tmp_path):
    """Runs tracked by another quantity (adaptive: precond_eig) get no Gauss-Newton line."""
    path = _run(eosweep_bin, tmp_path)
    with Results(path) as res:
        gn = gn_series(res, ["eig", "precond_eig"])
    assert np.isfinite(gn[0]).all() and np.isnan(gn[1]).all()
