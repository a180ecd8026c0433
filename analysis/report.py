"""`python3 -m analysis report results.h5 -o report/`: figures, tables and an index."""
import html
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import eos  # noqa: E402
from .results import Results  # noqa: E402

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


def _groups(df, axes):
    """Runs grouped by every grid axis except the learning rate and the seed (replicates share
    a panel). Returns [(title, index array)], in run order of first appearance."""
    keys = [a for a in axes if a not in (LR, "seed")]
    if not keys:
        return [("all runs", df.index.to_numpy())]
    out = []
    by = keys[0] if len(keys) == 1 else keys
    for vals, sub in df.groupby(by, sort=False, observed=True):
        vals = vals if isinstance(vals, tuple) else (vals,)
        title = ", ".join(f"{k.split('.')[-1]}={_axis_label(k, v)}" for k, v in zip(keys, vals))
        out.append((title, sub.index.to_numpy()))
    return out


def _lr_colours(lrs):
    uniq = sorted(set(float(x) for x in lrs))
    cmap = plt.get_cmap("viridis")
    return {lr: cmap(0.9 * i / max(len(uniq) - 1, 1)) for i, lr in enumerate(uniq)}


def _panel_figures(groups, name):
    """Split groups into figures of at most PANELS_PER_FIGURE panels; yields (file, groups)."""
    chunks = [groups[i:i + PANELS_PER_FIGURE] for i in range(0, len(groups), PANELS_PER_FIGURE)]
    for c, chunk in enumerate(chunks):
        yield (f"{name}.png" if len(chunks) == 1 else f"{name}_{c + 1}.png"), chunk


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
        fig.tight_layout()
        fig.savefig(os.path.join(out, fname), dpi=110)
        plt.close(fig)
        files.append(fname)
    return files, None


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
                ax.legend(fontsize=7, title="solid: train, dashed: test", title_fontsize=7)
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out, fname), dpi=110)
        plt.close(fig)
        files.append(fname)
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
    fig.tight_layout()
    fname = "heatmap.png"
    fig.savefig(os.path.join(out, fname), dpi=110)
    plt.close(fig)
    return fname


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
        heat = heatmap(df, xname, yname, metric, out)
        table = eos.eos_table(res, df)
        table.to_csv(os.path.join(out, "eos.csv"), index_label="run")
        df.drop(columns=["config"]).to_csv(os.path.join(out, "runs.csv"), index_label="run")
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
                ("Heatmap", [heat] if heat else [],
                 f"{metric} over {xname} x {yname}" if heat else "no grid axes: no heatmap")]
    md = [f"# eosweep report: {attrs.get('name', '')}", "",
          f"File `{os.path.abspath(path)}`, created {attrs.get('created', '?')} by eosweep "
          f"{attrs.get('eosweep_version', '?')}; {len(df)} runs: **{summary}**.", "",
          f"Grid axes: {', '.join(axes) or 'none'}. Tables: [runs.csv](runs.csv), "
          f"[eos.csv](eos.csv).", ""]
    for title, files, note in sections:
        md += [f"## {title}", "", note, ""] + [f"![{f}]({f})" for f in files] + [""]
    md += ["## Edge of stability", "",
           "steps_to_90: first step where the tracked sharpness reaches 90 % of the threshold; "
           "frac_within: fraction of the measurements from then on within +-10 % of it; "
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
