"""EoS table on a hand-built results file whose sharpness series have known answers."""
import os
import subprocess

import numpy as np
import pytest

import analysis
from conftest import config_yaml, write_fake

NAN = np.nan
# measurements at steps 0, 10, ..., 90
GD = [5, 10, 15, 17, 18.5, NAN, 19, 21, 25, 16]     # thr 2/0.1 = 20
ADAM_PRE = [NAN, 500, 1900, 1700, 1800, 2000, 1800, 1750, NAN, NAN]  # thr 3.6/(0.2*0.01) = 1800
NEVER = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]            # thr 20: never reaches 18
GARBAGE = [100] * 10                               # pending run: must be ignored


@pytest.fixture
def fake(tmp_path):
    runs = [{"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)},
            {"train.optimizer": "adam", "train.lr": 0.01,
             "config": config_yaml("adam", 0.01, beta1=0.8)},
            {"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)},
            {"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)}]
    eig = np.full((4, 10, 2), NAN)
    eig[0, :, 0], eig[1, :, 0], eig[2, :, 0], eig[3, :, 0] = GD, [3] * 10, NEVER, GARBAGE
    eig[:, :, 1] = eig[:, :, 0] / 2
    pre = np.full((4, 10), NAN)
    pre[1] = ADAM_PRE
    loss = np.tile(np.linspace(1, 0.1, 19), (4, 1))
    return write_fake(str(tmp_path / "fake.h5"), runs, [1, 1, 1, 0], eig, pre, loss=loss)


def test_eos_table_known_answers(fake):
    with analysis.Results(fake) as r:
        t = analysis.eos_table(r)
    assert list(t["threshold"]) == pytest.approx([20.0, 1800.0, 20.0, 20.0])
    assert list(t["quantity"]) == ["eig", "precond_eig", "eig", "eig"]
    # run 0: first >= 18 at step 40 (18.5), last at step 80 (25); the edge phase 18.5, 19, 21,
    # 25 (NaN skipped; the final 16 is after it): within [18, 22]: 3 of 4; max 25 -> 0.25
    assert t.at[0, "steps_to_90"] == 40 and t.at[0, "edge_until"] == 80
    assert t.at[0, "frac_within"] == pytest.approx(3 / 4)
    assert t.at[0, "max_overshoot"] == pytest.approx(0.25)
    assert t.at[0, "n_meas"] == 9
    # run 1 (Adam, beta1 0.8 from the config, preconditioned): first >= 1620 at step 20 (1900);
    # 1900, 1700, 1800, 2000, 1800, 1750 -> within [1620, 1980]: 5 of 6; max 2000/1800 - 1
    assert t.at[1, "steps_to_90"] == 20
    assert t.at[1, "frac_within"] == pytest.approx(5 / 6)
    assert t.at[1, "max_overshoot"] == pytest.approx(2000 / 1800 - 1, rel=1e-6)
    # run 2: never reaches 90 %
    assert np.isnan(t.at[2, "steps_to_90"]) and np.isnan(t.at[2, "frac_within"])
    assert t.at[2, "max_overshoot"] == pytest.approx(10 / 20 - 1)
    # run 3: pending, its garbage is not counted
    assert t.at[3, "status"] == "pending" and t.at[3, "n_meas"] == 0
    assert np.isnan(t.at[3, "max_overshoot"])


def test_threshold_in_force_from_traj(tmp_path):
    """Under a warm-up the EoS statistics compare each measurement with the threshold at the lr
    in force (/traj/threshold at the measurement's record step), and a run at constant lr in
    the same file keeps its /runs/threshold; a file without /traj/threshold gives the old
    answers."""
    runs = [{"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)},
            {"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)}]
    rsteps = np.arange(0, 91, 5)
    # run 0: warm-up from 0.01 to 0.1 over 50 steps; run 1: constant 0.1
    lr = np.vstack([np.where(rsteps < 50, 0.1 * (0.1 + 0.9 * rsteps / 50), 0.1),
                    np.full(len(rsteps), 0.1)])
    thr_traj = (2.0 / lr).astype(np.float32)
    sharp_steps = np.arange(0, 91, 10)
    at = 2.0 / np.where(sharp_steps < 50, 0.1 * (0.1 + 0.9 * sharp_steps / 50), 0.1)
    eig = np.full((2, 10, 1), NAN)
    eig[0, :, 0] = 0.95 * at       # tracks the moving threshold at 95 %
    eig[1, :, 0] = GD              # the known answers of the constant run above
    kw = dict(threshold=[20.0, 20.0], threshold_preconditioned=[0, 0])
    new = write_fake(str(tmp_path / "sched.h5"), runs, [1, 1], eig, lr_traj=lr,
                     threshold_traj=thr_traj, **kw)
    with analysis.Results(new) as r:
        assert "lr" in r.traj_names and "threshold" in r.traj_names
        steps, lr_read = r.traj("lr")
        assert np.array_equal(lr_read, lr.astype(np.float32))
        thr_at = analysis.threshold_series(r, np.array([20.0, 20.0]))
        assert thr_at[0] == pytest.approx(at, rel=1e-6)
        assert np.all(thr_at[1] == 20.0)        # float64 value of /runs/threshold kept
        t = analysis.eos_table(r)
    assert t.at[0, "steps_to_90"] == 0 and t.at[0, "frac_within"] == 1.0
    assert t.at[0, "max_overshoot"] == pytest.approx(-0.05, abs=1e-6)
    # run 1: the known answers of the constant run above (edge phase: 3 of 4)
    assert t.at[1, "steps_to_90"] == 40 and t.at[1, "frac_within"] == pytest.approx(3 / 4)
    # against the peak's threshold alone, run 0 would look far above the edge during the warm-up
    # (8.5 x over it at step 0) and at it only from step 50 on
    old = write_fake(str(tmp_path / "old.h5"), runs, [1, 1], eig, **kw)
    with analysis.Results(old) as r:
        assert "lr" not in r.traj_names
        t_old = analysis.eos_table(r)
    assert t_old.at[0, "max_overshoot"] == pytest.approx(8.5, rel=1e-6)
    assert t_old.at[0, "frac_within"] == pytest.approx(5 / 10)
    assert t_old.at[1, "steps_to_90"] == 40


WARMUP_SWEEP = """name: warmup
seed: 0
data:      {source: teacher-student, dim: 6, n_out: 2, teacher_hidden: 4, n_train: 64, standardize: false}
model:     {arch: mlp, hidden: [8], activation: tanh}
train:     {optimizer: gd, lr: 0.5, max_steps: 60, record_every: 5, warmup_steps: 40, warmup_init: 0.2}
sharpness: {every: 10, k: 1, chunk: 64}
grid:
  train.schedule: [constant, cosine]
"""


def test_warmup_on_real_file(eosweep_bin, tmp_path):
    """The binary records the lr in force (/traj/lr) and its threshold, and the EoS table and the
    report's figures use them."""
    (tmp_path / "w.yaml").write_text(WARMUP_SWEEP)
    p = subprocess.run([eosweep_bin, "w.yaml", "-o", "w.h5", "--quiet"], cwd=tmp_path,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    path = str(tmp_path / "w.h5")
    s = np.arange(0, 61, 5)
    warm = 0.5 * (0.2 + 0.8 * s / 40)
    cosine = 0.5 * (1 + np.cos(np.pi * (s - 40) / 20)) / 2
    want = [np.where(s < 40, warm, 0.5), np.where(s < 40, warm, cosine)]
    with analysis.Results(path) as r:
        steps, lr = r.traj("lr")
        assert list(steps) == list(s)
        for i in range(2):
            assert lr[i] == pytest.approx(want[i], rel=1e-6)
        _, thr = r.traj("threshold")
        assert thr[:, :-1] == pytest.approx(2 / lr[:, :-1], rel=1e-6)   # lr 0 at the end
        df = r.runs()
        assert list(df["threshold"]) == [4.0, 4.0]                      # at train.lr
        at = analysis.threshold_series(r, df["threshold"].to_numpy())
        assert at[:, :-1] == pytest.approx(2 / lr[:, ::2][:, :-1], rel=1e-6)
        assert np.isinf(at[1, -1]) and at[0, -1] == 4.0
        analysis.eos_table(r, df)
    from analysis.report import make_report
    assert os.path.exists(make_report(path, str(tmp_path / "rep")))


def test_eos_stats_edge_cases():
    s = analysis.eos_stats([0, 1, 2], [NAN, NAN, NAN], 2.0)
    assert s["n_meas"] == 0 and np.isnan(s["steps_to_90"])
    s = analysis.eos_stats([0, 5], [2.0, 1.0], 2.0)     # at the threshold only at the start
    assert s["steps_to_90"] == 0 and s["edge_until"] == 0
    assert s["frac_within"] == 1.0 and s["max_overshoot"] == 0
    # cross-entropy's shape: to the edge, at it, then falling away once the data are fitted;
    # the fall is not counted against the edge (thr 20: edge phase steps 20-50, all within)
    s = analysis.eos_stats(np.arange(10) * 10, [5, 15, 19, 20, 19.5, 21, 12, 6, 3, 2], 20.0)
    assert s["steps_to_90"] == 20 and s["edge_until"] == 50 and s["frac_within"] == 1.0
    # dips below 90 % inside the phase count against it: 19, 17, 20 -> 2 of 3
    s = analysis.eos_stats([0, 1, 2, 3], [5, 19, 17, 20], 20.0)
    assert s["frac_within"] == pytest.approx(2 / 3)
    # a threshold per measurement: infinite at lr 0 (0 %), NaN ones left out
    s = analysis.eos_stats([0, 5, 10, 15], [3.0, 1.0, 2.0, 9.0], [np.inf, 2.0, 2.0, NAN])
    assert s["n_meas"] == 4 and s["steps_to_90"] == 10 and s["frac_within"] == 1.0
    assert s["max_overshoot"] == 0


def test_report_on_fake_and_sharpness_off(fake, tmp_path):
    from analysis.report import make_report
    idx = make_report(fake, str(tmp_path / "rep"))
    text = open(idx).read()
    assert "3 done, 0 diverged, 0 failed, 1 pending" in text
    # a sweep with sharpness off has size-0 /sharp datasets: report still works
    runs = [{"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)}]
    off = write_fake(str(tmp_path / "off.h5"), runs, [1], np.zeros((1, 0, 0)),
                     loss=np.linspace(1, 0.1, 19)[None], sharp_every=0)
    idx = make_report(off, str(tmp_path / "rep_off"))
    assert "sharpness was not measured" in open(idx).read()
