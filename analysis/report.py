"""`python3 -m analysis report results.h5 -o report/`: figures, tables and an index."""
import html
import math
import os
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import eos  # noqa: E402
from .results import Results, broadened_density  # noqa: E402

METRICS = ("final_loss", "steps_to_goal", "final_sharpness")
PANELS_PER_FIGURE = 12
LR = "train.lr"


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def _axis_label(axis, v):
    if axis == "train.batch_size" and int(v) == 0:
        return "full"
    return _fmt(v)


RESULT_COLS = ("status", "steps", "final_loss", "final_sharpness")


def _irrelevant(df, keys):
    """{axis: set of run indices for which that grid axis does not matter}: the runs that differ
    from each other only in that axis all finished with bitwise the same results (SAM's sam_rho
    for the GD runs of a grid over optimizer x sam_rho, say). Unfinished runs count as
    different."""
    out = {}
    cols = [c for c in RESULT_COLS if c in df.columns]
    for a in keys:
        others = [k for k in keys if k != a] + ([LR] if LR in df.columns else []) + \
            (["seed"] if "seed" in df.columns else [])
        runs = set()
        by = others[0] if len(others) == 1 else others  # a one-key list warns in pandas
        groups = df.groupby(by, sort=False, observed=True, dropna=False) if others else \
            [(None, df)]
        for _, sub in groups:
            if len(sub) < 2 or sub[a].nunique(dropna=False) < 2:
                continue
            if (sub["status"] == "done").all() and all(
                    sub[c].nunique(dropna=False) == 1 for c in cols):
                runs.update(sub.index.tolist())
        out[a] = runs
    return out


def _groups(df, axes):
    """Runs grouped by every grid axis except the learning rate and the seed (replicates share
    a panel), leaving out of a run's grouping the axes that do not matter for it (_irrelevant).
    Returns [(key, index array)], key the ((axis, value), ...) of the group, in run order of
    first appearance (_panel_figures turns keys into titles)."""
    keys = [a for a in axes if a not in (LR, "seed")]
    if not keys:
        return [((), df.index.to_numpy())]
    skip = _irrelevant(df, keys)
    order, members = [], {}
    for i, row in df.iterrows():
        key = tuple((k, row[k]) for k in keys if i not in skip[k])
        if key not in members:
            order.append(key)
            members[key] = []
        members[key].append(i)
    return [(key, np.array(members[key])) for key in order]


def _lr_colours(lrs):
    """Learning rate -> colour: a qualitative palette (neighbouring rates clearly apart) for up to
    ten rates, a sequential one beyond."""
    uniq = sorted(set(float(x) for x in lrs))
    if len(uniq) <= 10:
        cmap = plt.get_cmap("tab10")
        return {lr: cmap(i) for i, lr in enumerate(uniq)}
    cmap = plt.get_cmap("viridis")
    return {lr: cmap(0.9 * i / max(len(uniq) - 1, 1)) for i, lr in enumerate(uniq)}


def _titles(chunk):
    """[(title, idx)] for the groups of one figure: each panel names only the axes whose values
    differ between the figure's panels (the ones they share say nothing there)."""
    keys = [dict(key) for key, _ in chunk]
    shared = {k: v for k, v in keys[0].items()
              if len(chunk) > 1 and all(k in d and d[k] == v for d in keys[1:])} if keys else {}
    out = []
    for (key, idx) in chunk:
        title = ", ".join(f"{k.split('.')[-1]}={_axis_label(k, v)}" for k, v in key
                          if k not in shared)
        out.append((textwrap.fill(title or "all runs", 70), idx))
    return out


def _panel_figures(groups, name):
    """Split groups [(key, idx)] into figures of at most PANELS_PER_FIGURE panels; yields (file,
    [(title, idx)])."""
    chunks = [groups[i:i + PANELS_PER_FIGURE] for i in range(0, len(groups), PANELS_PER_FIGURE)]
    for c, chunk in enumerate(chunks):
        yield (f"{name}.png" if len(chunks) == 1 else f"{name}_{c + 1}.png"), _titles(chunk)


def _save(fig, out, fname):
    """Lay out, write OUT/FNAME and close the figure; returns FNAME."""
    fig.tight_layout()
    fig.savefig(os.path.join(out, fname), dpi=110)
    plt.close(fig)
    return fname


def _subplots(n):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axs = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for ax in axs.ravel()[n:]:
        ax.set_visible(False)
    return fig, axs.ravel()


def gn_series(res, qty):
    """[N, S] top Gauss-Newton eigenvalue (/sharp/gn_eig) of the runs whose tracked quantity is
    the Hessian's sharpness (eig; NaN for the others), or None when no such run measured it
    (sharpness.gauss_newton off, or a file written before gn_eig existed)."""
    if "gn_eig" not in res.sharp_names or "sharp/gn_eig" not in res.f:
        return None
    gn = res.sharp_series("gn_eig")[1].astype(np.float64)
    gn[np.asarray(qty) != "eig"] = np.nan
    return gn if np.isfinite(gn).any() else None


def sharpness_figures(res, df, lrs, thr, qty, out, gn=None):
    """Sharpness against steps per learning rate with the threshold dashed (Cohen et al. 2021,
    fig. 1): a line, or under a learning-rate schedule the threshold in force at each
    measurement (eos.threshold_series); adaptive runs show the preconditioned sharpness against
    theirs. gn (gn_series): the top Gauss-Newton eigenvalue, dotted in the run's colour next to
    its sharpness."""
    steps = res.f["sharp/step"][()]
    if len(steps) == 0:
        return [], "sharpness was not measured (sharpness.every = 0)"
    thr_at = eos.threshold_series(res, eos._per_run(res, thr))
    series = {q: res.sharp_series(q)[1] for q in set(qty)}
    legend = "dashed: threshold" + ("; dotted: Gauss-Newton" if gn is not None else "")
    colours = _lr_colours(lrs)
    files = []
    for fname, chunk in _panel_figures(_groups(df, res.axes), "sharpness"):
        fig, axs = _subplots(len(chunk))
        for ax, (title, idx) in zip(axs, chunk):
            kinds = set()
            seen = set()
            top, any_moving = [], False  # what the y axis must show when a threshold moves
            for i in idx:
                q = qty[i]
                kinds.add(q)
                y = series[q][i]
                c = colours[float(lrs[i])]
                lab = f"lr={_fmt(float(lrs[i]))}"
                first = lab not in seen
                seen.add(lab)
                if np.isfinite(y).any():
                    ax.plot(steps, y, color=c, lw=1.3, label=lab if first else None)
                if gn is not None and np.isfinite(gn[i]).any():
                    ax.plot(steps, gn[i], color=c, lw=1.3, ls=":")
                top += [np.nanmax(y)] if np.isfinite(y).any() else []
                top += [thr[i]] if np.isfinite(thr[i]) else []
                moving = np.any(thr_at[i][np.isfinite(thr_at[i])] != thr[i])
                if moving:
                    any_moving = True
                    ax.plot(steps, np.where(np.isfinite(thr_at[i]), thr_at[i], np.nan),
                            color=c, ls="--", lw=1)
                elif first and np.isfinite(thr[i]):
                    ax.axhline(thr[i], color=c, ls="--", lw=1)
                if df.at[i, "status"] == "diverged":
                    ok = np.flatnonzero(np.isfinite(y))
                    if ok.size:
                        ax.plot(steps[ok[-1]], y[ok[-1]], "x", color=c, ms=8)
            if any_moving and top:  # a warm-up's threshold starts far above (inf at lr 0)
                ax.set_ylim(0, 1.3 * max(top))
            ylab = {"precond_eig": "preconditioned sharpness", "eig": "sharpness"}
            ax.set_ylabel(" / ".join(ylab.get(k, k) for k in sorted(kinds)))
            ax.set_xlabel("step")
            ax.set_title(title, fontsize=9)
            ax.legend(fontsize=7, title=legend, title_fontsize=7)
        files.append(_save(fig, out, fname))
    return files, None


def _measured_runs(res, name):
    """(steps, values [N, S, ...]) of /sharp/NAME and the runs that measured it, or None."""
    if name not in res.sharp_names or f"sharp/{name}" not in res.f:
        return None
    steps, vals = res.sharp(name)
    if vals.size == 0:  # sharpness off (size-0 datasets)
        return None
    v = vals.reshape(vals.shape[0], vals.shape[1], -1).astype(np.float64)
    runs = [i for i in range(v.shape[0]) if np.isfinite(v[i]).any()]
    return (steps, v, runs) if runs else None


def _run_title(df, axes, i):
    keys = [a for a in axes if a != "seed"] or [LR]
    return f"run {i}: " + ", ".join(
        f"{k.split('.')[-1]}={_axis_label(k, eos.param(df.loc[i], k))}" for k in keys)


def per_run_figures(res, df, thr, name, out, draw, ylabel, xlabel="step"):
    """One panel per run that measured /sharp/NAME (PANELS_PER_FIGURE to a figure):
    draw(ax, steps, values [S, d], i) plots the run's values."""
    got = _measured_runs(res, name)
    if got is None:
        return []
    steps, v, runs = got
    files = []
    chunks = [runs[j:j + PANELS_PER_FIGURE] for j in range(0, len(runs), PANELS_PER_FIGURE)]
    for c, chunk in enumerate(chunks):
        fname = f"{name}.png" if len(chunks) == 1 else f"{name}_{c + 1}.png"
        fig, axs = _subplots(len(chunk))
        for ax, i in zip(axs, chunk):
            draw(ax, steps, v[i], i)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(_run_title(df, res.axes, i), fontsize=9)
            ax.legend(fontsize=7)
        files.append(_save(fig, out, fname))
    return files


def layer_figures(res, df, thr, out):
    """Per-layer sharpness (/sharp/layer_eig, one line per layer, named by the dataset's labels)
    against the full Hessian's top eigenvalue and the run's threshold."""
    labels = []
    if "sharp/layer_eig" in res.f:
        labels = [x.decode() if isinstance(x, bytes) else str(x)
                  for x in res.f["sharp/layer_eig"].attrs.get("labels", [])]
    _, full = res.sharpness() if "sharp/eig" in res.f else (None, None)
    cmap = plt.get_cmap("plasma")

    def draw(ax, steps, v, i):
        n = v.shape[1]
        for l in range(n):
            if np.isfinite(v[:, l]).any():
                ax.plot(steps, v[:, l], color=cmap(0.85 * l / max(n - 1, 1)), lw=1.3,
                        label=labels[l] if l < len(labels) else f"layer {l + 1}")
        if full is not None and np.isfinite(full[i]).any():
            ax.plot(steps, full[i], color="black", lw=1, label="full Hessian")
        if np.isfinite(thr[i]):
            ax.axhline(thr[i], color="grey", ls="--", lw=1, label="threshold")
    return per_run_figures(res, df, thr, "layer_eig", out, draw, "top eigenvalue of the block")


def overlap_figures(res, df, thr, out):
    """Cosines of the full-batch gradient with the top eigenvectors (/sharp/grad_overlap)."""
    def draw(ax, steps, v, i):
        for j in range(v.shape[1]):
            if np.isfinite(v[:, j]).any():
                ax.plot(steps, v[:, j], lw=1.3, marker=".", label=f"u{j + 1}")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylim(-1.05, 1.05)
    return per_run_figures(res, df, thr, "grad_overlap", out, draw, "cos(gradient, u_i)")


def density_figures(res, df, thr, out):
    """The Hessian's spectral density (/sharp/density_nodes and density_weights, Gaussian-broadened
    as analysis.broadened_density) at up to four measurement steps of each run that measured it
    (first, last and two between; colour: step), log scale, with the run's threshold."""
    if "density_weights" not in res.sharp_names or "sharp/density_weights" not in res.f:
        return []
    _, weights = res.sharp("density_weights")
    cmap = plt.get_cmap("viridis")

    def draw(ax, steps, v, i):
        nodes = v.reshape(len(steps), weights.shape[2], weights.shape[3])
        slots = [s for s in range(len(steps)) if np.isfinite(nodes[s]).any()]
        pick = sorted({slots[round(j * (len(slots) - 1) / 3)] for j in range(4)})
        ok = np.isfinite(nodes[pick])
        lo, hi = nodes[pick][ok].min(), nodes[pick][ok].max()
        width = 0.01 * (hi - lo) if hi > lo else 1e-3 * max(abs(hi), 1.0)
        grid = np.linspace(lo - 5 * width, hi + 5 * width, 800)
        for j, s in enumerate(pick):
            d = broadened_density(nodes[s], weights[i, s], grid, width)
            ax.semilogy(grid, np.maximum(d, 1e-12), color=cmap(0.85 * j / max(len(pick) - 1, 1)),
                        lw=1.2, label=f"step {int(steps[s])}")
        if np.isfinite(thr[i]) and thr[i] <= hi + 5 * width:
            ax.axvline(thr[i], color="grey", ls="--", lw=1, label="threshold")
        ax.set_ylim(bottom=1e-6)
    return per_run_figures(res, df, thr, "density_nodes", out, draw, "density",
                           xlabel="Hessian eigenvalue")


# Scalar measures drawn like the sharpness, each in a figure of its own: dataset, what it is,
# whether the run's stability threshold applies to it (dashed), and the full-batch sharpness
# dotted beside it for comparison.
MEASURES = (("batch_sharp", "batch sharpness E[g'Hg/g'g]", True),
            ("batch_sharp_mom", "momentum batch sharpness E[s'Hs/s'g]", True),
            ("batch_hess_eig", "mean top eigenvalue of batch Hessians", True),
            ("dir_sharp", "directional sharpness u'Hu/u'u of the update", True),
            ("trace", "Hessian trace (Hutchinson)", False),
            ("trace_hutchpp", "Hessian trace (Hutch++)", False))


def measure_figures(res, df, lrs, thr, out):
    """[(title, files, note)] for every measure of MEASURES the file holds values of."""
    steps = res.f["sharp/step"][()]
    sections = []
    full = res.sharpness()[1] if "sharp/eig" in res.f and len(steps) else None
    colours = _lr_colours(lrs)
    for name, what, with_thr in MEASURES:
        got = _measured_runs(res, name)
        if got is None:
            continue
        _, v, runs = got
        v = v[:, :, 0]
        files = []
        groups = [(t, [i for i in idx if i in runs]) for t, idx in _groups(df, res.axes)]
        for fname, chunk in _panel_figures([g for g in groups if g[1]], name):
            fig, axs = _subplots(len(chunk))
            for ax, (title, idx) in zip(axs, chunk):
                seen = set()
                for i in idx:
                    c = colours[float(lrs[i])]
                    lab = f"lr={_fmt(float(lrs[i]))}"
                    ax.plot(steps, v[i], color=c, lw=1.3, label=None if lab in seen else lab)
                    if with_thr and full is not None and np.isfinite(full[i]).any():
                        ax.plot(steps, full[i], color=c, lw=1, ls=":")
                    if with_thr and lab not in seen and np.isfinite(thr[i]):
                        ax.axhline(thr[i], color=c, ls="--", lw=1)
                    seen.add(lab)
                ax.set_xlabel("step")
                ax.set_ylabel(name)
                ax.set_title(title, fontsize=9)
                ax.legend(fontsize=7, title="dashed: threshold; dotted: sharpness" if with_thr
                          else None, title_fontsize=7)
            files.append(_save(fig, out, fname))
        note = f"{what} (/sharp/{name})" + (
            "; dashed: the run's stability threshold, dotted: its full-batch sharpness."
            if with_thr else ".")
        sections.append((what[0].upper() + what[1:], files, note))
    return sections


def projection_figures(res, df, lrs, out):
    """The iterate in the plane of the first two random directions (/traj/proj, Cohen et al.'s
    nproj): one path per run from its start (circle), coloured by lr, one panel per group."""
    if "proj" not in res.traj_names or "traj/proj" not in res.f:
        return []
    p = res.traj("proj")[1]
    if p.ndim != 3 or p.shape[2] < 2:
        return []
    runs = [i for i in range(p.shape[0]) if np.isfinite(p[i, :, :2]).all(axis=1).any()]
    colours = _lr_colours(lrs)
    groups = [(t, [i for i in idx if i in runs]) for t, idx in _groups(df, res.axes)]
    files = []
    for fname, chunk in _panel_figures([g for g in groups if g[1]], "proj"):
        fig, axs = _subplots(len(chunk))
        for ax, (title, idx) in zip(axs, chunk):
            seen = set()
            for i in idx:
                ok = np.isfinite(p[i, :, :2]).all(axis=1)
                x, y = p[i, ok, 0], p[i, ok, 1]
                c = colours[float(lrs[i])]
                lab = f"lr={_fmt(float(lrs[i]))}"
                ax.plot(x, y, color=c, lw=1, marker=".", ms=2,
                        label=None if lab in seen else lab)
                ax.plot(x[:1], y[:1], "o", color=c, ms=5, mfc="none")
                seen.add(lab)
            ax.set_xlabel("projection 1")
            ax.set_ylabel("projection 2")
            ax.set_title(title, fontsize=9)
            ax.legend(fontsize=7)
        files.append(_save(fig, out, fname))
    return files


def _display(df):
    """A copy for tables: full-batch runs say `full` rather than batch size 0."""
    out = df.copy()
    for col in ("train.batch_size",):
        if col in out.columns:
            out[col] = [v if eos._missing(v) else ("full" if int(v) == 0 else int(v))
                        for v in out[col]]
    return out


def loss_figures(res, df, lrs, out):
    """Training loss (solid) and test loss (dashed, if recorded) against steps."""
    steps, loss = res.traj("loss")
    _, tloss = res.traj("test_loss")
    colours = _lr_colours(lrs)
    files = []
    for fname, chunk in _panel_figures(_groups(df, res.axes), "loss"):
        fig, axs = _subplots(len(chunk))
        for ax, (title, idx) in zip(axs, chunk):
            seen = set()
            for i in idx:
                c = colours[float(lrs[i])]
                lab = f"lr={_fmt(float(lrs[i]))}"
                y = np.where(loss[i] > 0, loss[i], np.nan)  # log scale
                if np.isfinite(y).any():
                    ax.plot(steps, y, color=c, lw=1.3, label=None if lab in seen else lab)
                    seen.add(lab)
                ty = np.where(tloss[i] > 0, tloss[i], np.nan)
                if np.isfinite(ty).any():
                    ax.plot(steps, ty, color=c, lw=1, ls="--")
            if seen:
                ax.set_yscale("log")
                start = loss[idx, 0][np.isfinite(loss[idx, 0]) & (loss[idx, 0] > 0)]
                if start.size:  # keep a diverging run from flattening the others
                    ax.set_ylim(top=min(ax.get_ylim()[1], 10 * start.max()))
                has_test = bool(np.isfinite(tloss[idx]).any())
                ax.legend(fontsize=7, title="solid: train, dashed: test" if has_test else None,
                          title_fontsize=7)
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.set_title(title, fontsize=9)
        files.append(_save(fig, out, fname))
    return files


def margin_figures(res, df, lrs, out):
    """Normalised margins of logistic runs against steps: /traj/margin (l2, solid) and
    /traj/margin_p (the run's train.p, p-GD; dashed), each run's first separating step
    (/runs/separated_step) as a dot; none when no run recorded a margin (other losses, files
    from before margins)."""
    if "margin" not in res.traj_names or "traj/margin" not in res.f:
        return []
    steps, mg = res.traj("margin")
    if not np.isfinite(mg).any():
        return []
    mp = res.traj("margin_p")[1] if "margin_p" in res.traj_names else np.full_like(mg, np.nan)
    sep = df["separated_step"].to_numpy() if "separated_step" in df else np.full(len(df), -1)
    colours = _lr_colours(lrs)
    files = []
    for fname, chunk in _panel_figures(_groups(df, res.axes), "margin"):
        fig, axs = _subplots(len(chunk))
        for ax, (title, idx) in zip(axs, chunk):
            seen = set()
            for i in idx:
                if not np.isfinite(mg[i]).any():
                    continue
                c = colours[float(lrs[i])]
                lab = f"lr={_fmt(float(lrs[i]))}"
                ax.plot(steps, mg[i], color=c, lw=1.3, label=None if lab in seen else lab)
                seen.add(lab)
                if np.isfinite(mp[i]).any():
                    ax.plot(steps, mp[i], color=c, lw=1, ls="--")
                k = np.searchsorted(steps, sep[i]) if sep[i] >= 0 else len(steps)
                if k < len(steps):
                    ax.plot(steps[k], mg[i, k], "o", color=c, ms=4)
            ax.axhline(0, color="0.6", lw=0.8)
            if seen:
                ax.legend(fontsize=7, title="dot: first separating record", title_fontsize=7)
                top = np.nanmax(np.concatenate([mg[idx].ravel(), mp[idx].ravel()]))
                if top > 0:  # the separated regime: the start's large negative margins cut off
                    ax.set_ylim(max(ax.get_ylim()[0], -2 * top), 1.1 * top)
            ax.set_xscale("symlog", linthresh=max(1, int(steps[1] - steps[0])) if len(steps) > 1
                          else 1)
            ax.set_xlim(left=0)
            ax.set_xlabel("step")
            ax.set_ylabel("min_i y_i f(x_i) / ||w||")
            ax.set_title(title, fontsize=9)
        files.append(_save(fig, out, fname))
    return files


def metric_values(df, metric):
    """Per-run values of a heatmap metric (NaN where not meaningful)."""
    if metric == "steps_to_goal":
        goal = np.array([float(eos.param(r, "train.loss_goal")) for _, r in df.iterrows()])
        cap = np.array([float(eos.param(r, "train.max_steps")) for _, r in df.iterrows()])
        st = df["steps"].to_numpy(dtype=float)
        reached = (goal > 0) & ((st < cap) | (df["final_loss"].to_numpy() <= goal))
        return pd.Series(np.where(reached & (df["status"] == "done"), st, np.nan),
                         index=df.index)
    vals = df[metric].to_numpy(dtype=float)
    return pd.Series(np.where(df["status"] == "done", vals, np.nan), index=df.index)


def choose_axes(axes, x=None, y=None):
    """Heatmap axes: --x/--y if given, else train.lr x train.batch_size, else the first two."""
    for name, v in (("--x", x), ("--y", y)):
        if v is not None and v not in axes:
            raise ValueError(f"{name}: {v!r} is not a grid axis of this file (axes: "
                             f"{', '.join(axes) or 'none'})")
    if x is None and y is None and LR in axes and "train.batch_size" in axes:
        return LR, "train.batch_size"
    rest = [a for a in axes if a not in (x, y)]
    if x is None:
        x = rest.pop(0) if rest else None
    if y is None:
        y = rest.pop(0) if rest else None
    return x, y


def heatmap(df, xname, yname, metric, out):
    """Metric over two grid axes: median over the done runs of each cell; cells whose runs all
    diverged are hatched with an X, failed-only cells marked F, cells with no finished run blank."""
    if xname is None:
        return None
    vals = metric_values(df, metric)
    xs = sorted(df[xname].unique(), key=_sort_key)
    ys = sorted(df[yname].unique(), key=_sort_key) if yname else [None]
    grid = np.full((len(ys), len(xs)), np.nan)
    marks = {}
    pending = set()
    for iy, yv in enumerate(ys):
        for ix, xv in enumerate(xs):
            sel = df[xname] == xv
            if yname:
                sel &= df[yname] == yv
            st = df.loc[sel, "status"].astype(str)
            v = vals[sel][st == "done"].dropna()
            if len(v):
                grid[iy, ix] = np.median(v)
            n_div, n_fail = int((st == "diverged").sum()), int((st == "failed").sum())
            if (st == "pending").all() and len(st):
                pending.add((iy, ix))
            if (st == "done").sum() == 0 and n_div:
                marks[(iy, ix)] = "diverged"
            elif (st == "done").sum() == 0 and n_fail:
                marks[(iy, ix)] = "failed"
            elif n_div:
                marks[(iy, ix)] = "some diverged"
    fig, ax = plt.subplots(figsize=(1.3 * len(xs) + 3, 0.8 * len(ys) + 2.2))
    finite = grid[np.isfinite(grid)]
    log = metric != "steps_to_goal" and finite.size and (finite > 0).all() and \
        finite.max() / finite.min() > 20
    shown = np.log10(grid) if log else grid
    im = ax.imshow(np.ma.masked_invalid(shown), cmap="viridis", aspect="auto", origin="lower")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label(("log10 " if log else "") + metric)
    for (iy, ix), m in marks.items():
        full = m in ("diverged", "failed")
        ax.add_patch(plt.Rectangle((ix - 0.5, iy - 0.5), 1, 1, fill=full,
                                   facecolor="0.8", edgecolor="k", hatch="xx" if m != "failed" else "",
                                   lw=0.5, alpha=1 if full else 0.6))
        if full:
            ax.text(ix, iy, "X" if m == "diverged" else "F", ha="center", va="center",
                    fontsize=14, color="crimson", weight="bold")
    for iy in range(len(ys)):
        for ix in range(len(xs)):
            if np.isfinite(grid[iy, ix]):
                light = im.norm(shown[iy, ix]) > 0.6  # dark text on the yellow end of viridis
                ax.text(ix, iy, f"{grid[iy, ix]:.3g}", ha="center", va="center", fontsize=7,
                        color="k" if light else "w")
            elif (iy, ix) in pending:
                ax.text(ix, iy, "pending", ha="center", va="center", fontsize=7, color="0.6")
    ax.set_xticks(range(len(xs)), [_axis_label(xname, v) for v in xs], rotation=45)
    ax.set_xlabel(xname)
    ax.set_yticks(range(len(ys)), [_axis_label(yname, v) for v in ys] if yname else [""])
    ax.set_ylabel(yname or "")
    ax.set_title(f"{metric} (median of done runs; X diverged, F failed, blank pending)",
                 fontsize=9)
    return _save(fig, out, "heatmap.png")


def _sort_key(v):
    try:
        return (0, float(v), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(v))


def _md_table(df, max_rows=200):
    cols = [str(c) for c in df.columns]
    lines = ["| run | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for i, r in df.head(max_rows).iterrows():
        lines.append(f"| {i} | " + " | ".join(_fmt(v) for v in r.to_numpy()) + " |")
    if len(df) > max_rows:
        lines.append(f"\n({len(df) - max_rows} more rows in the CSV file)")
    return "\n".join(lines)


def make_report(path, out, x=None, y=None, metric="final_loss"):
    """Write the report for results file PATH into directory OUT; returns the index.md path."""
    if metric not in METRICS:
        raise ValueError(f"--metric: {metric!r} is not one of {', '.join(METRICS)}")
    with Results(path) as res:
        df = res.runs()
        xname, yname = choose_axes(res.axes, x, y)
        os.makedirs(out, exist_ok=True)
        thr, qty = eos.thresholds(df)
        lrs = np.array([float(eos.param(r, LR)) for _, r in df.iterrows()])
        gn = gn_series(res, qty)
        sharp_files, sharp_note = sharpness_figures(res, df, lrs, thr, qty, out, gn)
        loss_files = loss_figures(res, df, lrs, out)
        margin_files = margin_figures(res, df, lrs, out)
        layer_files = layer_figures(res, df, thr, out)
        measure_sections = measure_figures(res, df, lrs, thr, out)
        overlap_files = overlap_figures(res, df, thr, out)
        proj_files = projection_figures(res, df, lrs, out)
        density_files = density_figures(res, df, thr, out)
        heat = heatmap(df, xname, yname, metric, out)
        table = eos.eos_table(res, df)
        table = _display(table)
        table.to_csv(os.path.join(out, "eos.csv"), index_label="run")
        _display(df.drop(columns=["config"])).to_csv(os.path.join(out, "runs.csv"),
                                                     index_label="run")
        attrs = res.attrs
        axes = res.axes
    counts = df["status"].value_counts()
    summary = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("done", "diverged", "failed",
                                                                   "pending"))
    sharp_text = ("Top Hessian eigenvalue per learning rate (preconditioned sharpness for "
                  "adam/adamw/rmsprop); dashed: the stability threshold of each learning rate "
                  "(under a schedule or warm-up: at the lr in force at each measurement).")
    if gn is not None:
        sharp_text += (" Dotted: the top eigenvalue of the Gauss-Newton matrix J' H_loss J "
                       "(/sharp/gn_eig) of the same runs.")
    sections = [("Sharpness", sharp_files, sharp_note or sharp_text),
                ("Loss", loss_files, "Training loss (solid) and test loss (dashed)."),
                ("Margins", margin_files,
                 "Normalised margin min_i y_i f(x_i) / ||w||_2 of the logistic runs (/traj/margin, "
                 "solid) and over ||w||_p for p-GD's train.p (/traj/margin_p, dashed); the dot is "
                 "the first record at 100 % training accuracy (/runs/separated_step)."),
                *measure_sections,
                ("Per-layer sharpness", layer_files,
                 "Top eigenvalue of each layer's diagonal Hessian block (/sharp/layer_eig), the "
                 "full Hessian's (black) and the stability threshold (dashed)."),
                ("Gradient overlap", overlap_files,
                 "Cosine of the full-batch gradient with each top Hessian eigenvector "
                 "(/sharp/grad_overlap; each eigenvector's largest entry is positive)."),
                ("Spectral density", density_files,
                 "Gaussian-broadened stochastic Lanczos quadrature estimate of the Hessian's "
                 "eigenvalue density (/sharp/density_nodes, density_weights; width 1 % of the "
                 "span of the nodes drawn) at up to four measurement steps per run, log scale; "
                 "dashed: the run's stability threshold."),
                ("Random projections", proj_files,
                 "The parameters along the first two of `record.projections` fixed random unit "
                 "directions at every record (/traj/proj), from each run's start (circle)."),
                ("Heatmap", [heat] if heat else [],
                 f"{metric} over {xname} x {yname}" if heat else "no grid axes: no heatmap")]
    md = [f"# eosweep report: {attrs.get('name', '')}", "",
          f"File `{os.path.abspath(path)}`, created {attrs.get('created', '?')} by eosweep "
          f"{attrs.get('eosweep_version', '?')}; {len(df)} runs: **{summary}**.", "",
          f"Grid axes: {', '.join(axes) or 'none'}. Tables: [runs.csv](runs.csv), "
          f"[eos.csv](eos.csv).", ""]
    sections = [s for s in sections if s[1] or s[0] in ("Sharpness", "Loss", "Heatmap")]
    for title, files, note in sections:
        md += [f"## {title}", "", note, ""] + [f"![{f}]({f})" for f in files] + [""]
    md += ["## Edge of stability", "",
           "steps_to_90: first step where the tracked sharpness reaches 90 % of the threshold; "
           "edge_until: the last such step (after it the sharpness fell away for good, as under "
           "cross-entropy once the data are fitted); frac_within: fraction of the measurements "
           "from steps_to_90 to edge_until within +-10 % of the threshold; "
           "max_overshoot: max sharpness / threshold - 1.", "",
           _md_table(table), ""]
    md_path = os.path.join(out, "index.md")
    with open(md_path, "w") as fh:
        fh.write("\n".join(md))
    _write_html(os.path.join(out, "index.html"), attrs, df, summary, axes, sections, table)
    return md_path


def _write_html(path, attrs, df, summary, axes, sections, table):
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>eosweep report: {e(str(attrs.get('name', '')))}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "font-size:80%}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
             "</style></head><body>",
             f"<h1>eosweep report: {e(str(attrs.get('name', '')))}</h1>",
             f"<p>{len(df)} runs: <b>{e(summary)}</b>. Grid axes: {e(', '.join(axes) or 'none')}."
             " Tables: <a href='runs.csv'>runs.csv</a>, <a href='eos.csv'>eos.csv</a>.</p>"]
    for title, files, note in sections:
        parts.append(f"<h2>{e(title)}</h2><p>{e(note)}</p>")
        parts += [f"<p><a href='{e(f)}'><img src='{e(f)}' alt='{e(f)}'></a></p>" for f in files]
    parts.append("<h2>Edge of stability</h2>")
    parts.append(table.head(500).to_html(float_format=lambda v: f"{v:.4g}", border=0))
    parts.append("</body></html>")
    with open(path, "w") as fh:
        fh.write("\n".join(parts))
