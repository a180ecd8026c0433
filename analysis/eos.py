"""Stability thresholds and edge-of-stability statistics.

Thresholds are those of the local quadratic model with the optimizer's update rule as eosweep
implements it; a run is at the edge of stability when its tracked sharpness hovers at the
threshold (Cohen et al. 2021, arXiv 2103.00065; adaptive methods: Cohen et al. 2022, arXiv
2207.14484). eosweep writes each run's threshold into the results file (/runs/threshold and
/runs/threshold_preconditioned, from the optimizer table in src/optim/optim.c); the derivation here
is only the fallback for files written before those columns existed, and gives the same values.
"""
import functools
import math

import numpy as np
import pandas as pd

try:
    import yaml
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
except ImportError:  # pragma: no cover - Debian: python3-yaml
    yaml = None

# Defaults of docs/sweep-format.md, used only when neither the row nor its config has the key.
DEFAULTS = {"train.optimizer": "gd", "train.lr": 0.04, "train.momentum": 0.9,
            "train.beta1": 0.9, "train.sam_rho": 0.05, "train.p": 3.0, "train.loss_goal": 0.0,
            "train.max_steps": 1000}
GD_LIKE = ("gd", "sgd", "clip")
NO_THRESHOLD = ("sam", "ngd", "flow")
ADAPTIVE = ("adam", "adamw", "rmsprop")


@functools.lru_cache(maxsize=4096)
def _parse_config(text):
    if yaml is None:
        raise RuntimeError("reading hyperparameters from /runs/config needs python3-yaml")
    return yaml.load(text, Loader=_Loader) or {}


def _from_config(text, key):
    node = _parse_config(text)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def param(row, key):
    """Hyperparameter KEY (dotted) of a run: its grid column if present, else from the run's
    resolved YAML (row['config']), else the documented default."""
    if key in row and not _missing(row[key]):
        return row[key]
    text = row.get("config") if hasattr(row, "get") else None
    if isinstance(text, str) and text:
        val = _from_config(text, key)
        if val is not None:
            return val
    if key in DEFAULTS:
        return DEFAULTS[key]
    raise KeyError(f"run has no column {key!r} and no config text to read it from")


def _missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def tracked(row):
    """Which sharpness the threshold applies to: 'precond_eig' (top eigenvalue of
    P^-1/2 H P^-1/2) or 'eig' (top Hessian eigenvalue). From the row's threshold_preconditioned
    column when it has one (files from eosweep with /runs/threshold_preconditioned), else
    'precond_eig' for adam/adamw/rmsprop."""
    if "threshold_preconditioned" in row:
        return "precond_eig" if int(row["threshold_preconditioned"]) else "eig"
    return "precond_eig" if str(param(row, "train.optimizer")) in ADAPTIVE else "eig"


def threshold(row):
    """Stability threshold of a run (a pandas row of load(), or any mapping with dotted keys
    and/or 'config'): its 'threshold' column when it has one (NaN there means the configuration
    defines none), else derived from its hyperparameters as the optimizer table does:

    - gd, sgd, clip (near a minimum no coordinate is clipped): 2/lr.
    - usam: the root of lr l (1 + rho l) = 2 (Dai, Ahn, Sra 2023), rho = train.sam_rho.
    - flow (gradient flow, RK4): NaN; it has no step size to become unstable.
    - sam, ngd: NaN. Their edges move with the gradient norm (SAM at ||g|| is USAM with
      rho/||g||, Long & Bartlett 2023; NGD is GD with step lr/||g||).
    - pgd: 2/lr at p = 2 (it is GD), else NaN (the mirror map preconditions the step by
      (p-1)|w|^(p-2), which depends on w).
    - momentum (heavy ball, v = beta v + g; w -= lr v): (2 + 2 beta)/lr, beta = train.momentum.
    - nesterov (v = beta v + g; w -= lr (g + beta v)): (2 + 2 beta)/((1 + 2 beta) lr). The
      heavy-ball value (2 + 2 beta)/lr is NOT the Nesterov threshold: on a quadratic with
      curvature l the iteration matrix has an eigenvalue -1 exactly when
      lr l (1 + 2 beta) = 2 + 2 beta (tests/analysis/test_threshold.py checks it by simulation).
    - adam, adamw: (2 + 2 beta1)/((1 - beta1) lr) (38/lr at beta1 = 0.9) on the
      preconditioned sharpness (Cohen et al. 2022).
    - rmsprop: 2/lr on the preconditioned sharpness.
    """
    if "threshold" in row:
        return float(row["threshold"])
    opt = str(param(row, "train.optimizer"))
    lr = float(param(row, "train.lr"))
    if opt in GD_LIKE:
        return 2.0 / lr
    if opt in NO_THRESHOLD:
        return math.nan
    if opt == "usam":
        rho = float(param(row, "train.sam_rho"))
        return 4.0 / (lr * (1.0 + math.sqrt(1.0 + 8.0 * rho / lr)))
    if opt == "pgd":
        return 2.0 / lr if float(param(row, "train.p")) == 2.0 else math.nan
    if opt == "momentum":
        b = float(param(row, "train.momentum"))
        return (2.0 + 2.0 * b) / lr
    if opt == "nesterov":
        b = float(param(row, "train.momentum"))
        return (2.0 + 2.0 * b) / ((1.0 + 2.0 * b) * lr)
    if opt in ("adam", "adamw"):
        b1 = float(param(row, "train.beta1"))
        return (2.0 + 2.0 * b1) / ((1.0 - b1) * lr)
    if opt == "rmsprop":
        return 2.0 / lr
    raise ValueError(f"threshold: unknown optimizer {opt!r}")


def thresholds(df):
    """threshold() and tracked() for every row of a load() DataFrame."""
    return (pd.Series([threshold(r) for _, r in df.iterrows()], index=df.index, dtype=float),
            pd.Series([tracked(r) for _, r in df.iterrows()], index=df.index, dtype=object))


def threshold_series(res, thr):
    """The threshold in force at every sharpness measurement, float [N, S].

    thr [N]: each run's threshold at train.lr (threshold()/thresholds(), by run index). Under a learning-rate
    schedule or warm-up (train.schedule, train.warmup_steps) the threshold moves with the lr in
    force: eosweep records the lr in force at every record step in /traj/lr and the optimizer's
    threshold at that lr in /traj/threshold (from the optimizer table, as /runs/threshold). A
    measurement at a record step (eosweep requires sharpness.every to be a multiple of
    record_every under a schedule) takes /traj/threshold there where it differs from the run's
    constant threshold; every other entry, and every entry of files without /traj/threshold
    (older files, whose runs cannot have had a schedule), is thr."""
    steps = res.f["sharp/step"][()]
    thr = np.asarray(thr, dtype=float)
    out = np.repeat(thr[:, None], len(steps), axis=1)
    if "threshold" not in res.traj_names or "traj/threshold" not in res.f or not len(steps):
        return out
    rsteps, vals = res.traj("threshold")
    slot = {int(t): j for j, t in enumerate(rsteps)}
    for k, t in enumerate(steps):
        j = slot.get(int(t))
        if j is None:
            continue
        col = vals[:, j]
        # a constant lr records float32(thr) itself: keep thr's float64 value there
        moved = ~np.isnan(col) & (col != thr.astype(np.float32))
        out[moved, k] = col[moved]
    return out


def _per_run(res, values):
    """A Series indexed by run (df.index: any subset of the runs) as a float array [N], NaN for
    the runs it does not have."""
    out = np.full(res.n_runs, np.nan)
    out[np.asarray(values.index, dtype=int)] = values.to_numpy(dtype=float)
    return out


def eos_stats(steps, sharp, thr, reach=0.9, band=0.1):
    """Edge-of-stability statistics of one run's sharpness series against its threshold.

    steps, sharp: measurement steps and values ([S]; NaN = not measured); thr: threshold, one
    number or the threshold in force at each measurement ([S], threshold_series(); a measurement
    whose threshold is NaN or not positive is left out, an infinite one (lr 0) counts as 0 % of
    it).
    Returns a dict:
      steps_to_90   step of the first measurement >= reach * thr (NaN if never);
      edge_until    step of the last such measurement: the run is at the edge from steps_to_90
                    to edge_until (after it the sharpness fell away for good, as under
                    cross-entropy once the data are fitted);
      frac_within   fraction of the measurements of that phase (both ends included, NaN ones
                    skipped) with |sharp/thr - 1| <= band (NaN if never reached);
      max_overshoot max(sharp)/thr - 1 over all measurements (NaN if none);
      n_meas        number of measurements.
    """
    steps = np.asarray(steps)
    s = np.asarray(sharp, dtype=float)
    ok = np.isfinite(s)
    out = {"steps_to_90": np.nan, "edge_until": np.nan, "frac_within": np.nan,
           "max_overshoot": np.nan, "n_meas": int(ok.sum())}
    if np.ndim(thr) == 0 and (not np.isfinite(thr) or thr <= 0):
        return out
    t = np.broadcast_to(np.asarray(thr, dtype=float), s.shape)
    ok &= ~np.isnan(t) & (t > 0)
    if not ok.any():
        return out
    st, sv, tv = steps[ok], s[ok], t[ok]
    out["max_overshoot"] = float(np.max(sv / tv) - 1.0)
    hit = np.flatnonzero(sv >= reach * tv)
    if hit.size:
        j, k = hit[0], hit[-1]
        out["steps_to_90"] = float(st[j])
        out["edge_until"] = float(st[k])
        phase = sv[j:k + 1] / tv[j:k + 1]
        out["frac_within"] = float(np.mean(np.abs(phase - 1.0) <= band))
    return out


def eos_table(res, df=None):
    """EoS table (DataFrame, one row per run): grid axes, status, optimizer, lr, threshold,
    quantity (eig / precond_eig), steps_to_90, edge_until, frac_within, max_overshoot, n_meas.

    lr and threshold are those at train.lr (the peak of a schedule); the statistics compare each
    measurement with the threshold in force when it was taken (threshold_series()).

    res: an open Results; df: its load() frame (read if not given)."""
    if df is None:
        df = res.runs()
    thr, qty = thresholds(df)
    steps = res.f["sharp/step"][()]
    series = {q: res.sharp_series(q)[1] for q in set(qty)}
    thr_at = threshold_series(res, _per_run(res, thr))
    rows = [eos_stats(steps, series[qty[i]][i], thr_at[i]) for i in df.index]
    stats = pd.DataFrame(rows, index=df.index)
    base = df[[c for c in res.axes if c in df.columns] + ["status"]].copy()
    base["optimizer"] = [str(param(r, "train.optimizer")) for _, r in df.iterrows()]
    base["lr"] = [float(param(r, "train.lr")) for _, r in df.iterrows()]
    base["threshold"] = thr
    base["quantity"] = qty
    return pd.concat([base, stats], axis=1)
