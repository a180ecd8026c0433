"""EoS table on a hand-built results file whose sharpness series have known answers."""
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
