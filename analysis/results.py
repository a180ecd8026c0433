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
# /runs datasets that are not grid axes, with the value a pending run gets.
RESULT_FILL = {
    "steps": 0, "final_loss": np.nan, "final_acc": np.nan, "final_test_loss": np.nan,
    "final_test_acc": np.nan, "final_sharpness": np.nan, "diverged_step": -1,
    "wall_seconds": np.nan, "rank": -1, "message": "",
}
# /runs datasets known from the configuration, written for every run when the file is created
# (files from before they existed lack them: analysis.threshold() then derives them).
CONFIG_COLUMNS = ("threshold", "threshold_preconditioned")
FIXED_COLUMNS = set(RESULT_FILL) | set(CONFIG_COLUMNS) | {"seed", "config", "status"}
TRAJ_NAMES = ("loss", "acc", "grad_norm", "test_loss", "test_acc")
SHARP_NAMES = ("eig", "precond_eig", "trace", "batch_sharp", "dir_sharp")


class ResultsError(Exception):
    """A results file that is missing, unreadable or not an eosweep results file (one line)."""


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
        for name in ("runs/status", "runs/config", "traj/step", "traj/loss", "sharp/step",
                     "sharp/eig"):
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
        extra = sorted(present - FIXED_COLUMNS - set(order))
        return order + extra

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
        for name, fill in RESULT_FILL.items():
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
    def traj(self, name):
        """(steps [R], values float32 [N, R]) of /traj/NAME; NaN where not recorded."""
        if name not in TRAJ_NAMES or f"traj/{name}" not in self.f:
            raise KeyError(f"{self.path}: no trajectory {name!r} (have: {', '.join(TRAJ_NAMES)})")
        vals = self.f[f"traj/{name}"][()]
        vals[self.pending] = np.nan
        return self.f["traj/step"][()], vals

    def sharp(self, name):
        """(steps [S], values) of /sharp/NAME ([N, S], or [N, S, K] for eig), pending masked."""
        if name not in SHARP_NAMES or f"sharp/{name}" not in self.f:
            raise KeyError(f"{self.path}: no sharpness dataset {name!r} "
                           f"(have: {', '.join(SHARP_NAMES)})")
        vals = self.f[f"sharp/{name}"][()]
        vals[self.pending] = np.nan
        return self.f["sharp/step"][()], vals

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
