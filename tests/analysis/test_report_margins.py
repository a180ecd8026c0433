"""Logistic runs: the file's margins agree with its accuracy and with the norm inequalities, and
the report draws them (/traj/margin, /traj/margin_p, /runs/separated_step); files of other
losses get no such section."""
import subprocess

import numpy as np

from analysis.report import make_report
from analysis.results import Results

SWEEP = """name: margins
seed: 1
data:      {source: separable, dim: 8, n_train: 100, margin: 0.2}
model:     {arch: mlp, hidden: [], bias: false}
loss: logistic
train:     {optimizer: gd, lr: 1.0, batch_size: full, max_steps: 60, record_every: 1}
sharpness: {every: 0}
grid:
  - {train.lr: [0.5, 50]}
  - {train.optimizer: [pgd], train.p: [3], train.lr: [0.5]}
"""


def test_margins_and_report(eosweep_bin, tmp_path, sweep_file):
    (tmp_path / "m.yaml").write_text(SWEEP)
    p = subprocess.run([eosweep_bin, "m.yaml", "-o", "m.h5", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    path = str(tmp_path / "m.h5")
    with Results(path) as res:
        df = res.runs()
        _, mg = res.traj("margin")
        _, mp = res.traj("margin_p")
        _, acc = res.traj("acc")
    assert (df["status"] == "done").all()
    # min_i y_i f(x_i) > 0 exactly when every training example is classified right
    assert ((mg > 0) == (acc == 1)).all()
    sep = df["separated_step"].to_numpy()
    for i, s in enumerate(sep):  # record_every 1: the first record at 100 %
        assert s >= 1 and acc[i, s] == 1 and acc[i, s - 1] < 1, (i, s)
    assert np.isnan(mp[:2]).all()  # gd: no p
    # p = 3 over 8 parameters: ||w||_3 <= ||w||_2 <= 8^(1/6) ||w||_3, so for a positive margin
    # margin <= margin_p <= 8^(1/6) margin, and the reverse for a negative one
    lo, hi = np.minimum(mg[2], 8 ** (1 / 6) * mg[2]), np.maximum(mg[2], 8 ** (1 / 6) * mg[2])
    assert ((mp[2] >= lo * (1 + 1e-5) - 1e-7) & (mp[2] <= hi * (1 + 1e-5) + 1e-7)).all()
    assert np.abs(mp[2] - mg[2]).max() > 1e-3  # another norm
    md = open(make_report(path, str(tmp_path / "rep"))).read()
    assert "## Margins" in md and "![margin.png](margin.png)" in md
    assert (tmp_path / "rep" / "margin.png").stat().st_size > 10000
    # an MSE sweep: no margins, no section
    md = open(make_report(sweep_file, str(tmp_path / "rep2"))).read()
    assert "## Margins" not in md
