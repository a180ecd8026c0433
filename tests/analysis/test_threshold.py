"""threshold(): closed forms, the hyperparameters read from the run's config, and an
independent oracle: the spectral radius of each optimizer's update rule (as src/optim/optim.c writes
it) on a 1-D quadratic crosses 1 exactly at the threshold."""
import numpy as np
import pytest

import analysis
from conftest import config_yaml


@pytest.mark.parametrize("opt", ["gd", "sgd", "sam", "usam", "ngd", "clip", "pgd"])
def test_gd_reference(opt):
    assert analysis.threshold({"train.optimizer": opt, "train.lr": 0.04}) == pytest.approx(50.0)
    assert analysis.tracked({"train.optimizer": opt}) == "eig"


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


def test_on_real_file(sweep_file):
    df = analysis.load(sweep_file)
    thr, qty = analysis.thresholds(df)
    for i, r in df.iterrows():
        # the sweep sets neither momentum nor beta1: the defaults 0.9 (docs/sweep-format.md)
        want = {"gd": 2.0, "sgd": 2.0, "momentum": 3.8, "adam": 38.0}[r["train.optimizer"]]
        assert thr[i] == pytest.approx(want / r["train.lr"])
        assert qty[i] == ("precond_eig" if r["train.optimizer"] == "adam" else "eig")


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
])
def test_threshold_is_the_stability_edge(row, rule):
    step, dim = rule
    thr = analysis.threshold(row)
    assert _radius(step, thr * 0.99, dim) < 1.0
    assert _radius(step, thr * 1.01, dim) > 1.0
    assert _radius(step, thr, dim) == pytest.approx(1.0, abs=1e-9)
