"""The report draws per-layer sharpness (/sharp/layer_eig, named by its labels attribute) and the
gradient's overlap with the top eigenvectors (/sharp/grad_overlap) for the runs that measured
them, one panel per run; files without them get no such section."""
import subprocess

import h5py
import numpy as np

from analysis.report import make_report
from analysis.results import Results

SWEEP = """name: layers
seed: 2
data:      {source: teacher-student, dim: 6, n_out: 2, teacher_hidden: 8, n_train: 64, standardize: false}
model:     {arch: mlp, hidden: [8, 8], activation: tanh}
loss: mse
train:     {optimizer: gd, lr: 0.5, batch_size: full, max_steps: 40, record_every: 5}
sharpness: {every: 10, k: 2, per_layer: true, overlap: true}
grid:
  - {model.hidden: [[8, 8], [8]]}
  - {sharpness.per_layer: [false], sharpness.overlap: [false]}
"""


def test_report_layers_and_overlap(eosweep_bin, tmp_path):
    (tmp_path / "l.yaml").write_text(SWEEP)
    p = subprocess.run([eosweep_bin, "l.yaml", "-o", "l.h5", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    path = str(tmp_path / "l.h5")
    with h5py.File(path) as f:
        labels = [x.decode() if isinstance(x, bytes) else x
                  for x in f["sharp/layer_eig"].attrs["labels"]]
        assert labels == ["fc1", "fc2", "fc3"]  # from the deepest run
    with Results(path) as res:
        _, le = res.sharp("layer_eig")
        _, eig = res.sharp("eig")
        _, ov = res.sharp("grad_overlap")
    assert le.shape[2] == 3 and np.isfinite(le[0]).all()
    assert np.isfinite(le[1, :, :2]).all() and np.isnan(le[1, :, 2]).all()  # 2 layers, then NaN
    assert np.isnan(le[2]).all() and np.isnan(ov[2]).all()  # not measured
    # a block's top eigenvalue is at most the whole Hessian's (Cauchy interlacing)
    assert (np.nan_to_num(le[:2], nan=-np.inf) <= eig[:2, :, :1] * (1 + 1e-4)).all()
    assert (np.abs(ov[:2]) <= 1 + 1e-5).all()
    md = open(make_report(path, str(tmp_path / "rep"))).read()
    assert "## Per-layer sharpness" in md and "![layer_eig.png](layer_eig.png)" in md
    assert "## Gradient overlap" in md and "![grad_overlap.png](grad_overlap.png)" in md
    assert (tmp_path / "rep" / "layer_eig.png").stat().st_size > 10000

    # the same sweep without either measure: no such sections
    (tmp_path / "n.yaml").write_text(SWEEP.replace("per_layer: true, overlap: true",
                                                   "per_layer: false"))
    p = subprocess.run([eosweep_bin, "n.yaml", "-o", "n.h5", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    md = open(make_report(str(tmp_path / "n.h5"), str(tmp_path / "rep2"))).read()
    assert "Per-layer" not in md and "Gradient overlap" not in md


CNN_SWEEP = """name: cnn-layers
seed: 3
data:      {source: fashion-mnist, n_train: 32}
model:     {arch: cnn, channels: [4, 4], kernel: 3, pool: max, activation: relu, hidden: []}
loss: mse
train:     {optimizer: gd, lr: 0.05, batch_size: full, max_steps: 10, record_every: 5}
sharpness: {every: 5, k: 1, per_layer: true}
"""


def test_cnn_layers(eosweep_bin, tmp_path):
    """A cnn's layers are its conv layers, then its dense ones; each block's top eigenvalue is at
    most the whole Hessian's (Cauchy interlacing) and positive somewhere."""
    (tmp_path / "c.yaml").write_text(CNN_SWEEP)
    p = subprocess.run([eosweep_bin, "c.yaml", "-o", "c.h5", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    with h5py.File(str(tmp_path / "c.h5")) as f:
        labels = [x.decode() if isinstance(x, bytes) else x
                  for x in f["sharp/layer_eig"].attrs["labels"]]
        le, eig = f["sharp/layer_eig"][()], f["sharp/eig"][()]
    assert labels == ["conv1", "conv2", "fc1"]
    assert le.shape == (1, 3, 3) and np.isfinite(le).all()
    assert (le <= eig[:, :, :1] * (1 + 1e-4)).all() and (le > 0).any()
