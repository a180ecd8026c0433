"""record.projections: /traj/proj [N, R, P] holds the iterate along P fixed random unit directions
(NaN past a run's own P), the same directions for a seed whatever P, listed with the other
trajectories; the report draws the first two; files without them get no such section."""
import subprocess

import h5py
import numpy as np

from analysis.report import make_report
from analysis.results import Results

SWEEP = """name: proj
seed: 4
data:      {source: teacher-student, dim: 6, n_out: 2, teacher_hidden: 8, n_train: 64, standardize: false}
model:     {arch: mlp, hidden: [16], activation: tanh}
loss: mse
train:     {optimizer: gd, lr: 0.3, batch_size: full, max_steps: 40, record_every: 5}
sharpness: {every: 0}
record:    {projections: 3}
grid:
  - {train.lr: [0.3, 0.6]}
  - {record.projections: [0, 2]}
"""


def _run(eosweep_bin, tmp_path, text, name):
    (tmp_path / f"{name}.yaml").write_text(text)
    p = subprocess.run([eosweep_bin, f"{name}.yaml", "-o", f"{name}.h5", "--quiet"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return str(tmp_path / f"{name}.h5")


def test_projections_file_and_report(eosweep_bin, tmp_path):
    path = _run(eosweep_bin, tmp_path, SWEEP, "p")
    with h5py.File(path) as f:
        assert "proj" in [x.decode() if isinstance(x, bytes) else x
                          for x in f["traj"].attrs["datasets"]]
    with Results(path) as res:
        df = res.runs()
        steps, p = res.traj("proj")
        rec = res.records()
    n_proj = df["record.projections"].to_numpy()
    lr = df["train.lr"].to_numpy()
    assert p.shape == (4, len(steps), 3)
    full = np.flatnonzero(n_proj == 3)
    two = np.flatnonzero(n_proj == 2)[0]
    none = np.flatnonzero(n_proj == 0)[0]
    assert np.isfinite(p[full]).all()
    assert np.isfinite(p[two, :, :2]).all() and np.isnan(p[two, :, 2]).all()
    assert np.isnan(p[none]).all()
    # one seed, one set of directions: the runs start at the same point along them, and the
    # run with 2 directions is the first 2 of the same-lr run with 3
    assert np.array_equal(p[full[0], 0], p[full[1], 0])
    same_lr = full[lr[full] == lr[two]][0]
    assert np.array_equal(p[two, :, :2], p[same_lr, :, :2])
    # the iterate moves, and farther at the larger lr in the first step
    d = np.abs(p[full, 1] - p[full, 0]).sum(axis=1)
    assert (d > 0).all() and d[np.argmax(lr[full])] > d[np.argmin(lr[full])]
    assert {"proj[0]", "proj[1]", "proj[2]"} <= set(rec.columns)
    md = open(make_report(path, str(tmp_path / "rep"))).read()
    assert "## Random projections" in md and "![proj.png](proj.png)" in md
    assert (tmp_path / "rep" / "proj.png").stat().st_size > 10000

    # without projections: no dataset, no section
    path = _run(eosweep_bin, tmp_path, SWEEP.replace("record:    {projections: 3}\n", "")
                .replace("  - {record.projections: [0, 2]}\n", ""), "n")
    with h5py.File(path) as f:
        assert "traj/proj" not in f
    md = open(make_report(path, str(tmp_path / "rep2"))).read()
    assert "Random projections" not in md
