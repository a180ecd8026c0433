"""threshold(): the /runs/threshold column when a file has it, else the fallback derivation:
closed forms, the hyperparameters read from the run's config, and an independent oracle: the
spectral radius of each optimizer's update rule (as src/optim/ writes it) on a 1-D quadratic
crosses 1 exactly at the threshold. On a real file, the column and the fallback agree."""
import math

import numpy as np
import pytest

import analysis
from conftest import config_yaml, write_fake


@pytest.mark.parametrize("opt", ["gd", "sgd", "clip"])
def test_gd_threshold(opt):
    assert analysis.threshold({"train.optimizer": opt, "train.lr": 0.04}) == pytest.approx(50.0)


@pytest.mark.parametrize("opt", ["gd", "sgd", "sam", "usam", "ngd", "clip", "pgd"])
def test_tracked_raw(opt):
    assert analysis.tracked({"train.optimizer": opt}) == "eig"


def test_no_threshold_and_usam_pgd():
    t = analysis.threshold
    for opt in ("sam", "ngd"):  # edges that move with the gradient norm
        assert math.isnan(t({"train.optimizer": opt, "train.lr": 0.04}))
    assert math.isnan(t({"train.optimizer": "pgd", "train.lr": 0.04}))  # default p = 3
    assert math.isnan(t({"train.optimizer": "pgd", "train.lr": 0.04, "train.p": 2.5}))
    assert t({"train.optimizer": "pgd", "train.lr": 0.04, "train.p": 2.0}) == pytest.approx(50.0)
    # USAM: lr l (1 + rho l) = 2; sweeps/sam_rho.yaml's 23.2 and 17.9 at lr 0.04
    for rho, want in ((0.05, 23.17), (0.1, 17.91), (0.0, 50.0)):
        u = t({"train.optimizer": "usam", "train.lr": 0.04, "train.sam_rho": rho})
        assert 0.04 * u * (1 + rho * u) == pytest.approx(2.0)
        assert u == pytest.approx(want, abs=0.01)
    # default rho 0.05
    assert t({"train.optimizer": "usam", "train.lr": 0.04}) == pytest.approx(23.17, abs=0.01)


def test_closed_forms():
    t = analysis.threshold
    assert t({"train.optimizer": "momentum", "train.lr": 0.1, "train.momentum": 0.9}) == \
        pytest.approx(38.0)
    assert t({"train.optimizer": "momentum", "train.lr": 0.1, "train.momentum": 0.0}) == \
        pytest.approx(20.0)
    assert t({"train.optimizer": "nesterov", "train.lr": 0.1, "train.momentum": 0.9}) == \
        pytest.approx(3.8 / 2.8 / 0.1)
    for opt in ("adam", "adamw"):
        row = {"train.optimizer": opt, "train.lr": 0.001, "train.beta1": 0.9}
        assert t(row) == pytest.approx(38.0 / 0.001)
        assert analysis.tracked(row) == "precond_eig"
    assert t({"train.optimizer": "adam", "train.lr": 0.01, "train.beta1": 0.5}) == \
        pytest.approx(3.0 / 0.5 / 0.01)
    row = {"train.optimizer": "rmsprop", "train.lr": 0.01}
    assert t(row) == pytest.approx(200.0) and analysis.tracked(row) == "precond_eig"
    with pytest.raises(ValueError):
        t({"train.optimizer": "lbfgs", "train.lr": 1.0})


def test_hyperparameters_from_config():
    # beta1 / momentum not on a grid axis: read from the run's resolved YAML
    row = {"train.lr": 0.01, "config": config_yaml("adam", 0.01, beta1=0.8)}
    assert analysis.threshold(row) == pytest.approx(3.6 / 0.2 / 0.01)
    row = {"train.optimizer": "momentum", "config": config_yaml("momentum", 0.5, momentum=0.5)}
    assert analysis.threshold(row) == pytest.approx(3.0 / 0.5)
    # a grid column wins over the config text
    row = {"train.optimizer": "gd", "train.lr": 0.2, "config": config_yaml("gd", 0.5)}
    assert analysis.threshold(row) == pytest.approx(10.0)


@pytest.mark.parametrize("from_file", [True, False])
def test_on_real_file(sweep_file, from_file):
    df = analysis.load(sweep_file)
    assert "threshold" in df.columns and "threshold_preconditioned" in df.columns
    with analysis.Results(sweep_file) as r:
        assert "threshold" not in r.axes and "threshold_preconditioned" not in r.axes
    if not from_file:  # as from a file written before the columns: the fallback derivation
        df = df.drop(columns=["threshold", "threshold_preconditioned"])
    thr, qty = analysis.thresholds(df)
    for i, r in df.iterrows():
        # the sweep sets neither momentum nor beta1: the defaults 0.9 (docs/sweep-format.md)
        want = {"gd": 2.0, "sgd": 2.0, "momentum": 3.8, "adam": 38.0}[r["train.optimizer"]]
        assert thr[i] == pytest.approx(want / r["train.lr"], rel=1e-12)
        assert qty[i] == ("precond_eig" if r["train.optimizer"] == "adam" else "eig")


def test_file_column_wins(tmp_path):
    """A file with /runs/threshold is read, not re-derived: values the derivation would never
    give (and NaN, 'none defined') come back as written, and so does the tracked quantity."""
    runs = [{"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)},
            {"train.optimizer": "adam", "train.lr": 0.01, "config": config_yaml("adam", 0.01)},
            {"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)}]
    eig = np.full((3, 10, 1), 5.0)
    pre = np.full((3, 10), 7.0)
    path = write_fake(str(tmp_path / "col.h5"), runs, [1, 1, 1], eig, pre,
                      threshold=[5.0, 7.0, np.nan], threshold_preconditioned=[1, 0, 0])
    df = analysis.load(path)
    thr, qty = analysis.thresholds(df)
    assert thr[0] == 5.0 and thr[1] == 7.0 and math.isnan(thr[2])
    assert list(qty) == ["precond_eig", "eig", "eig"]
    with analysis.Results(path) as r:
        assert r.axes == ["train.optimizer", "train.lr"]
        t = analysis.eos_table(r, df)
    # run 0 tracks precond_eig (7) against 5, run 1 eig (5) against 7, run 2 has no threshold
    assert t.at[0, "max_overshoot"] == pytest.approx(7 / 5 - 1)
    assert t.at[1, "max_overshoot"] == pytest.approx(5 / 7 - 1)
    assert math.isnan(t.at[2, "max_overshoot"]) and t.at[2, "n_meas"] == 10
    # the same file without the columns: the derivation (gd 2/lr = 20, adam 38/lr)
    plain = write_fake(str(tmp_path / "plain.h5"), runs, [1, 1, 1], eig, pre)
    thr, qty = analysis.thresholds(analysis.load(plain))
    assert list(thr) == pytest.approx([20.0, 3800.0, 20.0])
    assert list(qty) == ["eig", "precond_eig", "eig"]


def _radius(step, lam, dim):
    """Spectral radius of the linear map state -> step(state, lam) (built column by column)."""
    m = np.column_stack([step(e, lam) for e in np.eye(dim)])
    return max(abs(np.linalg.eigvals(m)))


def _gd(lr):
    return lambda s, lam: np.array([s[0] - lr * lam * s[0]]), 1


def _heavy_ball(lr, beta):  # v = beta v + g; w -= lr v
    def step(s, lam):
        w, v = s
        v = beta * v + lam * w
        return np.array([w - lr * v, v])
    return step, 2


def _nesterov(lr, beta):  # v = beta v + g; w -= lr (g + beta v)
    def step(s, lam):
        w, v = s
        g = lam * w
        v = beta * v + g
        return np.array([w - lr * (g + beta * v), v])
    return step, 2


def _adam_frozen(lr, b1, p):
    # Adam late in training: bias corrections ~1, preconditioner p frozen. lam is the
    # PRECONDITIONED sharpness, so the raw curvature is lam * p.
    def step(s, lam):
        w, m = s
        m = b1 * m + (1 - b1) * (lam * p) * w
        return np.array([w - lr * m / p, m])
    return step, 2


def _usam(lr, rho):  # w_adv = w + rho g; w -= lr grad(w_adv)
    return lambda s, lam: np.array([s[0] - lr * lam * (s[0] + rho * lam * s[0])]), 1


def _rmsprop_frozen(lr, p):
    return lambda s, lam: np.array([s[0] - lr * (lam * p) * s[0] / p]), 1


@pytest.mark.parametrize("row,rule", [
    ({"train.optimizer": "gd", "train.lr": 0.07}, _gd(0.07)),
    ({"train.optimizer": "momentum", "train.lr": 0.05, "train.momentum": 0.9},
     _heavy_ball(0.05, 0.9)),
    ({"train.optimizer": "momentum", "train.lr": 0.3, "train.momentum": 0.5},
     _heavy_ball(0.3, 0.5)),
    ({"train.optimizer": "nesterov", "train.lr": 0.05, "train.momentum": 0.9},
     _nesterov(0.05, 0.9)),
    ({"train.optimizer": "adam", "train.lr": 1e-3, "train.beta1": 0.9},
     _adam_frozen(1e-3, 0.9, 3e-4)),
    ({"train.optimizer": "adamw", "train.lr": 2e-3, "train.beta1": 0.7},
     _adam_frozen(2e-3, 0.7, 0.02)),
    ({"train.optimizer": "rmsprop", "train.lr": 1e-2}, _rmsprop_frozen(1e-2, 0.05)),
    ({"train.optimizer": "usam", "train.lr": 0.04, "train.sam_rho": 0.1}, _usam(0.04, 0.1)),
    ({"train.optimizer": "clip", "train.lr": 0.07}, _gd(0.07)),
    ({"train.optimizer": "pgd", "train.lr": 0.07, "train.p": 2.0}, _gd(0.07)),
])
def test_threshold_is_the_stability_edge(row, rule):
    step, dim = rule
    thr = analysis.threshold(row)
    assert _radius(step, thr * 0.99, dim) < 1.0
    assert _radius(step, thr * 1.01, dim) > 1.0
    assert _radius(step, thr, dim) == pytest.approx(1.0, abs=1e-9)
