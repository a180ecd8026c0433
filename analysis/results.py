"""Reading eosweep results files (layout: docs/results-format.md, format_version 1).

Every accessor takes a path, an open ``h5py.File`` or a :class:`Results`. Runs whose status is
``pending`` have no valid results (a run killed while being written may have some values in
place; ``status`` is written last), so their result columns and trajectories are masked to the
fill values (NaN, -1, "").
"""
import functools
import os

import h5py
import numpy as np
import pandas as pd

FORMAT = "eosweep-results"
FORMAT_VERSION = 1
STATUSES = ("pending", "done", "diverged", "failed")
# /runs result columns with the value a pending run gets: the file's root attributes
# result_columns and result_fill list the numeric ones (eos_train.h's EOS_RESULT_COLUMNS); this
# list is for files written before them.
RESULT_FILL = {
    "steps": 0, "final_loss": np.nan, "final_acc": np.nan, "final_test_loss": np.nan,
    "final_test_acc": np.nan, "final_sharpness": np.nan, "diverged_step": -1,
    "wall_seconds": np.nan, "rank": -1, "separated_step": -1, "message": "",
}
# /runs datasets known from the configuration, written for every run when the file is created
# (files from before they existed lack them: analysis.threshold() then derives them).
CONFIG_COLUMNS = ("threshold", "threshold_preconditioned")
FIXED_COLUMNS = set(RESULT_FILL) | set(CONFIG_COLUMNS) | {"seed", "config", "status"}


class ResultsError(Exception):
    """A results file that is missing, unreadable or not an eosweep results file (one line)."""


def _listed(group):
    """Names of the datasets of /traj or /sharp: the group's ``datasets`` attribute, in the order
    the writer's tables give (files of eosweep with curvature probes), else every dataset but the
    ``step`` scale, sorted (older files)."""
    names = group.attrs.get("datasets")
    if names is not None:
        return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
    return sorted(k for k, v in group.items() if k != "step" and isinstance(v, h5py.Dataset))


def _masked(vals, pending):
    """vals [N, ...] with the rows of pending runs set to the fill value (NaN; 0 for integers)."""
    vals[pending] = 0 if vals.dtype.kind in "iu" else np.nan
    return vals


def _long_table(steps, named, n):
    """One row per run and slot (columns run, step), one column per [N, S] dataset of ``named``
    ((name, array) pairs) and one per entry of the trailing axes of wider ones: name[j] or
    name[j,l]."""
    s = len(steps)
    cols = {"run": np.repeat(np.arange(n), s), "step": np.tile(np.asarray(steps), n)}
    for name, arr in named:
        if arr.ndim == 2:
            cols[name] = arr.reshape(-1)
            continue
        for idx in np.ndindex(*arr.shape[2:]):
            cols[f"{name}[{','.join(map(str, idx))}]"] = arr[(slice(None), slice(None)) + idx] \
                .reshape(-1)
    return pd.DataFrame(cols)


def _decode(arr):
    """numpy bytes array (fixed-length NULPAD strings) -> object array of str."""
    return np.array([b.decode("utf-8", "replace") for b in np.asarray(arr).ravel()],
                    dtype=object).reshape(np.shape(arr))


class Results:
    """An open eosweep results file (read-only). Use as a context manager or call close()."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise ResultsError(f"{self.path}: No such file or directory")
        if os.path.isdir(self.path):
            raise ResultsError(f"{self.path}: is a directory, not a results file")
        if not h5py.is_hdf5(self.path):
            raise ResultsError(f"{self.path}: not an HDF5 file (so not an eosweep results file)")
        try:
            self.f = h5py.File(self.path, "r")
        except OSError as e:
            raise ResultsError(f"{self.path}: cannot open: {e}") from None
        try:
            self._check()
        except ResultsError:
            self.f.close()
            raise

    def _check(self):
        fmt = self.f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt != FORMAT:
            got = "no 'format' attribute" if fmt is None else f"format is {fmt!r}"
            raise ResultsError(f"{self.path}: not an eosweep results file ({got}, "
                               f"expected {FORMAT!r})")
        ver = self.f.attrs.get("format_version")
        if ver != FORMAT_VERSION:
            raise ResultsError(f"{self.path}: unsupported format_version {ver!r} "
                               f"(this reader knows {FORMAT_VERSION})")
        for name in ("runs/status", "runs/config", "traj/step", "traj/loss", "sharp/step"):
            if name not in self.f:
                raise ResultsError(f"{self.path}: damaged results file: /{name} is missing")

    # -- context manager ------------------------------------------------------------------
    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- metadata -------------------------------------------------------------------------
    @property
    def attrs(self):
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self.f.attrs.items()}

    @property
    def n_runs(self):
        return int(self.f["runs/status"].shape[0])

    @property
    def sweep_text(self):
        """The sweep YAML file the results came from, as str."""
        return self.f["sweep"][()].tobytes().decode("utf-8", "replace").rstrip("\0")

    @functools.cached_property
    def axes(self):
        """Grid axis names in first-appearance order in the sweep's grid (dotted, e.g. train.lr).

        HDF5 lists links alphabetically, so the order comes from the sweep text; any /runs
        dataset that is not a fixed column is an axis too (appended, sorted)."""
        present = set(self.f["runs"].keys())
        order = []
        try:
            import yaml
            grid = (yaml.safe_load(self.sweep_text) or {}).get("grid")
            entries = grid if isinstance(grid, list) else [grid] if grid else []
            for entry in entries:
                for key, val in (entry or {}).items():
                    keys = list(val) if key == "zip" and isinstance(val, dict) else [key]
                    order += [k for k in keys if k in present and k not in order]
        except Exception:  # an unparsable sweep text still leaves the fallback below
            pass
        extra = sorted(present - FIXED_COLUMNS - set(self.result_fill) - set(order))
        return order + extra

    @functools.cached_property
    def result_fill(self):
        """The /runs result columns and their fill values: the file's result_columns and
        result_fill attributes (plus message), else RESULT_FILL."""
        names, fills = self.f.attrs.get("result_columns"), self.f.attrs.get("result_fill")
        if names is None or fills is None or len(names) != len(fills):
            return dict(RESULT_FILL)
        out = {}
        for name, fill in zip(names, fills):
            name = name.decode() if isinstance(name, bytes) else str(name)
            out[name] = float(fill) if np.isnan(fill) or fill != int(fill) else int(fill)
        out.setdefault("message", "")
        return out

    @functools.cached_property
    def status(self):
        """Status of every run as an object array of 'pending'/'done'/'diverged'/'failed'."""
        ds = self.f["runs/status"]
        names = {v: k for k, v in (h5py.check_enum_dtype(ds.dtype) or {}).items()}
        if not names:
            names = dict(enumerate(STATUSES))
        return np.array([names.get(int(v), "pending") for v in ds[()]], dtype=object)

    @property
    def pending(self):
        return self.status == "pending"

    # -- tables ---------------------------------------------------------------------------
    def runs(self, config=True):
        """DataFrame of /runs: index = run index, axes first, then seed, status, results, and
        the threshold columns when the file has them."""
        g = self.f["runs"]
        n = self.n_runs
        pend = self.pending
        cols = {}
        for name in self.axes + ["seed"]:
            if name in cols:  # a `seed` axis is the seed column
                continue
            arr = g[name][()]
            cols[name] = _decode(arr) if arr.dtype.kind == "S" else arr
        cols["status"] = pd.Categorical(self.status, categories=list(STATUSES))
        for name, fill in self.result_fill.items():
            if name not in g:
                continue
            arr = g[name][()]
            arr = _decode(arr) if arr.dtype.kind == "S" else arr.copy()
            arr[pend] = fill
            cols[name] = arr
        for name in CONFIG_COLUMNS:
            if name in g:
                cols[name] = g[name][()]
        if config:
            cols["config"] = _decode(g["config"][()])
        df = pd.DataFrame(cols, index=pd.RangeIndex(n, name="run"))
        return df

    def config(self, i):
        """Run i's resolved configuration as YAML text (a sweep file that re-runs just it)."""
        if not 0 <= i < self.n_runs:
            raise IndexError(f"{self.path}: run {i} out of range (0..{self.n_runs - 1})")
        return self.f["runs/config"][i].decode("utf-8", "replace")

    # -- trajectories ---------------------------------------------------------------------
    @functools.cached_property
    def traj_names(self):
        """The /traj datasets (loss, acc, ...), as the file lists them."""
        return _listed(self.f["traj"])

    @functools.cached_property
    def sharp_names(self):
        """The /sharp datasets: one per output of every curvature probe of the writer (eig,
        precond_eig, trace, ...) and hvps, as the file lists them."""
        return _listed(self.f["sharp"])

    def traj(self, name):
        """(steps [R], values float32 [N, R]) of /traj/NAME; NaN where not recorded."""
        if name not in self.traj_names or f"traj/{name}" not in self.f:
            raise KeyError(f"{self.path}: no trajectory {name!r} "
                           f"(have: {', '.join(self.traj_names)})")
        return self.f["traj/step"][()], _masked(self.f[f"traj/{name}"][()], self.pending)

    def sharp(self, name):
        """(steps [S], values [N, S, ...]) of /sharp/NAME (any dataset the file lists: [N, S] for
        one value per measurement, [N, S, K...] for wider ones, hvps int32), pending runs
        masked."""
        if name not in self.sharp_names or f"sharp/{name}" not in self.f:
            raise KeyError(f"{self.path}: no sharpness dataset {name!r} "
                           f"(have: {', '.join(self.sharp_names)})")
        return self.f["sharp/step"][()], _masked(self.f[f"sharp/{name}"][()], self.pending)

    def sharp_series(self, name):
        """(steps [S], [N, S]) of /sharp/NAME: the first entry of each measurement of a wider
        dataset (eig: the top eigenvalue), NaN if it has none."""
        steps, vals = self.sharp(name)
        if vals.ndim == 2:
            return steps, vals
        if int(np.prod(vals.shape[2:])) == 0:
            return steps, np.full(vals.shape[:2], np.nan, dtype=np.float32)
        return steps, vals.reshape(vals.shape[0], vals.shape[1], -1)[:, :, 0]

    def records(self):
        """DataFrame of every /traj dataset: one row per run and record slot (run, step)."""
        steps = self.f["traj/step"][()]
        return _long_table(steps, [(n, self.traj(n)[1]) for n in self.traj_names], self.n_runs)

    def measurements(self):
        """DataFrame of every /sharp dataset: one row per run and measurement slot (run, step),
        one column per dataset with one value per measurement and one per entry of wider ones
        (eig[0], eig[1], ...). A dataset a newer writer adds appears without changes here."""
        steps = self.f["sharp/step"][()]
        return _long_table(steps, [(n, self.sharp(n)[1]) for n in self.sharp_names], self.n_runs)

    def sharpness(self, k=0):
        """(steps [S], k-th largest Hessian eigenvalue [N, S]); k=0 is the sharpness."""
        steps, eig = self.sharp("eig")
        if not 0 <= k < max(eig.shape[2], 1):
            raise IndexError(f"{self.path}: eigenvalue {k} out of range (file has k = "
                             f"{eig.shape[2]})")
        if eig.shape[2] == 0:
            return steps, np.full(eig.shape[:2], np.nan, dtype=np.float32)
        return steps, eig[:, :, k]

    def precond_sharpness(self):
        """(steps [S], top eigenvalue of P^-1/2 H P^-1/2 [N, S]) for adaptive optimizers."""
        return self.sharp("precond_eig")


class _opened:
    """Context manager: a Results for a path (closed afterwards) or the object passed in."""

    def __init__(self, src):
        self.src = src
        self.own = not isinstance(src, (Results, h5py.File))

    def __enter__(self):
        if isinstance(self.src, Results):
            return self.src
        if isinstance(self.src, h5py.File):
            r = Results.__new__(Results)
            r.path, r.f = self.src.filename, self.src
            r._check()
            return r
        self.r = Results(self.src)
        return self.r

    def __exit__(self, *exc):
        if self.own:
            self.r.close()


def load(path, config=True):
    """DataFrame of /runs, one row per run (index = run index).

    Columns: the grid axes under their dotted names (numbers float64; integers int64 with
    batch_size `full` as 0 and booleans as 0/1; strings str), `seed` (uint64), `status`
    (categorical: pending/done/diverged/failed), the result columns (pending runs masked to
    NaN / -1 / "") and, unless config=False, `config` (the run's resolved YAML)."""
    with _opened(path) as r:
        return r.runs(config=config)


def traj(src, name="loss"):
    """(steps [R], array float32 [n_runs, n_rec]) of the trajectory NAME (loss, acc, grad_norm,
    test_loss, test_acc)."""
    with _opened(src) as r:
        return r.traj(name)


def sharp(src, name):
    """(steps [S], values [N, S, ...]) of /sharp/NAME (see Results.sharp_names)."""
    with _opened(src) as r:
        return r.sharp(name)


def records(src):
    """Every /traj dataset as a DataFrame, one row per run and record slot."""
    with _opened(src) as r:
        return r.records()


def measurements(src):
    """Every /sharp dataset as a DataFrame, one row per run and measurement slot."""
    with _opened(src) as r:
        return r.measurements()


def sharpness(src, k=0):
    """(steps [S], array float32 [n_runs, S]) of the k-th top Hessian eigenvalue."""
    with _opened(src) as r:
        return r.sharpness(k)


def precond_sharpness(src):
    """(steps [S], array float32 [n_runs, S]) of the preconditioned sharpness."""
    with _opened(src) as r:
        return r.precond_sharpness()


def config(src, i):
    """Run i's resolved configuration (YAML text)."""
    with _opened(src) as r:
        return r.config(i)


def broadened_density(nodes, weights, grid, width=None):
    """Gaussian-broadened spectral density on grid [G] from quadrature nodes and weights
    [..., m] (stochastic Lanczos quadrature: each probe's weights sum to 1; NaN entries, past a
    breakdown, are skipped): the mean over probes of sum_i w_i N(x; node_i, width^2). The default
    width is 1% of the span of the nodes (1e-3 of their scale if they coincide), so the density
    integrates to 1 over a grid reaching a few widths past the nodes."""
    nodes = np.asarray(nodes, dtype=np.float64).reshape(-1, np.shape(nodes)[-1])
    weights = np.asarray(weights, dtype=np.float64).reshape(nodes.shape)
    ok = np.isfinite(nodes) & np.isfinite(weights)
    probes = ok.any(axis=1)
    if not probes.any():
        return np.full(np.shape(grid), np.nan)
    if width is None:
        span = np.ptp(nodes[ok])
        width = 0.01 * span if span > 0 else 1e-3 * max(np.abs(nodes[ok]).max(), 1.0)
    x = np.asarray(grid, dtype=np.float64)[:, None]
    dens = np.zeros(x.shape[0])
    for p in np.flatnonzero(probes):
        t, w = nodes[p][ok[p]], weights[p][ok[p]]
        dens += (w * np.exp(-0.5 * ((x - t) / width) ** 2)).sum(axis=1)
    return dens / (probes.sum() * width * np.sqrt(2 * np.pi))


def density(src, run, slot, grid=None, width=None):
    """(grid [G], density [G]) of the Hessian spectrum of run RUN at sharpness slot SLOT from
    /sharp/density_nodes and density_weights (sharpness.density_probes > 0), broadened as in
    broadened_density; grid defaults to 512 points spanning the nodes +- 5 widths."""
    with _opened(src) as r:
        nodes = r.sharp("density_nodes")[1][run, slot]
        weights = r.sharp("density_weights")[1][run, slot]
    ok = np.isfinite(nodes)
    if grid is None:
        if not ok.any():
            raise ValueError(f"run {run} slot {slot}: no spectral density measured")
        lo, hi = nodes[ok].min(), nodes[ok].max()
        pad = 5 * (width if width is not None else (0.01 * (hi - lo) or 1e-3 * max(abs(hi), 1)))
        grid = np.linspace(lo - pad, hi + pad, 512)
    return np.asarray(grid), broadened_density(nodes, weights, grid, width)
