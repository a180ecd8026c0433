"""`python3 -m analysis report` on real results files: every figure is a real, non-blank PNG,
the index links them all, the tables have one row per run, and bad input fails with one line."""
import os
import re
import subprocess
import sys

import h5py
import matplotlib
import numpy as np
import pandas as pd
import pytest

from conftest import PENDING, REPO, expected_grid

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(*args):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def check_png(path):
    with open(path, "rb") as fh:
        head = fh.read(8)
    assert head == PNG_SIGNATURE, f"{path}: not a PNG"
    assert os.path.getsize(path) > 2000, f"{path}: suspiciously small"
    img = plt.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert float(np.std(img[..., :3])) > 0.02, f"{path}: (nearly) blank image"


def check_index(out):
    pngs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    md = open(os.path.join(out, "index.md")).read()
    html = open(os.path.join(out, "index.html")).read()
    md_links = re.findall(r"\]\(([^)]+)\)", md)
    html_imgs = re.findall(r"<img src='([^']+)'", html)
    for link in md_links + html_imgs:
        assert os.path.exists(os.path.join(out, link)), f"index links missing {link}"
    for p in pngs:
        assert p in md_links, f"index.md does not link {p}"
        assert p in html_imgs, f"index.html does not show {p}"
    return pngs, md


def test_report(sweep_file, tmp_path):
    out = str(tmp_path / "report")
    p = run_cli("report", sweep_file, "-o", out)
    assert p.returncode == 0, p.stderr
    pngs, md = check_index(out)
    for name in ("sharpness.png", "loss.png", "heatmap.png"):
        assert name in pngs
    for name in pngs:
        check_png(os.path.join(out, name))
    n = len(expected_grid())
    runs = pd.read_csv(os.path.join(out, "runs.csv"), index_col="run")
    assert len(runs) == n and "train.lr" in runs.columns
    eos = pd.read_csv(os.path.join(out, "eos.csv"), index_col="run")
    assert len(eos) == n
    np.testing.assert_allclose(eos["threshold"] * eos["lr"],
                               [{"gd": 2, "sgd": 2, "momentum": 3.8, "adam": 38}[o]
                                for o in eos["optimizer"]])
    with h5py.File(sweep_file, "r") as f:
        div = int((f["runs/status"][()] == 2).sum())
        done = int((f["runs/status"][()] == 1).sum())
    assert f"{done} done, {div} diverged, 0 failed, 0 pending" in md
    assert "steps_to_90" in md and f"| {n - 1} |" in md  # the EoS table is in the index
    # GD at lr 1 trains at the edge of stability here: sharpness reaches 2/lr = 2
    edge = eos[(eos["optimizer"] == "gd") & (eos["lr"] == 1.0)].iloc[0]
    assert edge["steps_to_90"] <= 100 and edge["frac_within"] > 0.5


@pytest.mark.parametrize("metric", ["steps_to_goal", "final_sharpness"])
def test_heatmap_options(sweep_file, tmp_path, metric):
    from analysis.report import make_report  # in-process: no interpreter start-up per case
    out = str(tmp_path / metric)
    make_report(sweep_file, out, x="train.optimizer", y="train.lr", metric=metric)
    check_png(os.path.join(out, "heatmap.png"))
    assert "over train.optimizer x train.lr" in open(os.path.join(out, "index.md")).read()


def test_unfinished_sweep_report(crashed_file, tmp_path):
    out = str(tmp_path / "crashed")
    p = run_cli("report", crashed_file, "-o", out)
    assert p.returncode == 0, p.stderr
    pngs, md = check_index(out)
    for name in pngs:
        check_png(os.path.join(out, name))
    assert f"{len(PENDING)} pending" in md
    runs = pd.read_csv(os.path.join(out, "runs.csv"), index_col="run")
    assert sorted(runs.index[runs["status"] == "pending"]) == PENDING
    assert runs.loc[PENDING, "final_loss"].isna().all()
    eos = pd.read_csv(os.path.join(out, "eos.csv"), index_col="run")
    assert (eos.loc[PENDING, "n_meas"] == 0).all()
    s = run_cli("summary", crashed_file)
    assert s.returncode == 0 and f"{len(PENDING)} pending" in s.stdout


def one_line_error(p, rc, *words):
    assert p.returncode == rc, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_errors(sweep_file, tmp_path):
    out = str(tmp_path / "r")
    one_line_error(run_cli("report", str(tmp_path / "nope.h5"), "-o", out), 1,
                   "nope.h5", "No such file")
    txt = tmp_path / "notes.txt"
    txt.write_text("not hdf5\n")
    one_line_error(run_cli("report", str(txt), "-o", out), 1, "notes.txt", "not an HDF5 file")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.arange(3)
    one_line_error(run_cli("report", str(other), "-o", out), 1, "other.h5",
                   "not an eosweep results file")
    one_line_error(run_cli("report", sweep_file, "-o", out, "--x", "train.nope"), 2,
                   "train.nope", "not a grid axis")
    assert not os.path.exists(out)  # nothing written on bad input


def test_killed_sweep_report(killed_file, tmp_path):
    """A sweep killed with SIGKILL mid-way: readable, pending runs shown, report complete."""
    with h5py.File(killed_file, "r") as f:
        raw = f["runs/status"][()]
    assert (raw == 0).sum() > 0
    out = str(tmp_path / "killed")
    p = run_cli("report", killed_file, "-o", out)
    assert p.returncode == 0, p.stderr
    pngs, md = check_index(out)
    assert {"sharpness.png", "loss.png", "heatmap.png"} <= set(pngs)
    for name in pngs:
        check_png(os.path.join(out, name))
    assert f"{int((raw == 0).sum())} pending" in md


def test_panels_leave_out_axes_that_do_not_matter():
    """A grid over optimizer x sam_rho: sam_rho changes nothing for GD (its runs finish bitwise
    alike), so GD gets one panel without it while SAM keeps one per rho; each figure's titles
    name only what differs between its panels; full-batch runs say `full` in tables."""
    import pandas as pd
    from analysis.report import _display, _groups, _titles
    df = pd.DataFrame({
        "train.optimizer": ["gd", "gd", "sam", "sam"], "train.sam_rho": [0.05, 0.1, 0.05, 0.1],
        "train.batch_size": [0, 0, 32, 32], "train.lr": [0.1] * 4, "status": ["done"] * 4,
        "steps": [100] * 4, "final_loss": [0.5, 0.5, 0.4, 0.3],
        "final_sharpness": [20.0, 20.0, 15.0, 12.0]})
    axes = ["train.optimizer", "train.sam_rho", "train.batch_size"]
    groups = _groups(df, axes)
    assert [list(idx) for _, idx in groups] == [[0, 1], [2], [3]]
    titles = [t for t, _ in _titles(groups)]
    assert titles == ["optimizer=gd, batch_size=full",
                      "optimizer=sam, sam_rho=0.05, batch_size=32",
                      "optimizer=sam, sam_rho=0.1, batch_size=32"]
    assert [t for t, _ in _titles(groups[1:])] == ["sam_rho=0.05", "sam_rho=0.1"]
    # an unfinished GD run: the axis may matter, so no merging
    df.loc[1, "status"] = "pending"
    assert [list(idx) for _, idx in _groups(df, axes)] == [[0], [1], [2], [3]]
    assert list(_display(df)["train.batch_size"]) == ["full", "full", 32, 32]
