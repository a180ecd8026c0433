"""load() and the accessors on a results file written by the real binary, checked against the
sweep's grid expanded by hand and against raw h5py reads."""
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

import analysis
from conftest import AXES, K, MAX_STEPS, PENDING, RECORD_EVERY, SHARP_EVERY, expected_grid


def test_load_shape_columns_dtypes(sweep_file):
    df = analysis.load(sweep_file)
    grid = expected_grid()
    assert len(df) == len(grid)
    assert list(df.index) == list(range(len(grid)))
    assert list(df.columns[:4]) == AXES  # grid axes first, in first-appearance order
    for col in ["status", "steps", "final_loss", "final_sharpness", "diverged_step",
                "message", "config"]:
        assert col in df.columns, col
    assert df["train.lr"].dtype == np.float64
    assert df["train.batch_size"].dtype == np.int64
    assert df["seed"].dtype == np.uint64
    assert df["final_loss"].dtype == np.float64
    assert df["steps"].dtype == np.int64
    assert isinstance(df["status"].dtype, pd.CategoricalDtype)
    assert list(df["status"].cat.categories) == ["pending", "done", "diverged", "failed"]
    assert all(isinstance(v, str) for v in df["train.optimizer"])
    assert all(isinstance(v, str) and v.startswith("#") for v in df["config"])
    got = list(zip(df["train.optimizer"], df["train.lr"], df["train.batch_size"], df["seed"]))
    assert got == grid


def test_load_matches_raw_h5py(sweep_file):
    df = analysis.load(sweep_file)
    with h5py.File(sweep_file, "r") as f:
        names = {v: k for k, v in h5py.check_enum_dtype(f["runs/status"].dtype).items()}
        raw = [names[int(v)] for v in f["runs/status"][()]]
        np.testing.assert_array_equal(df["final_loss"].to_numpy(), f["runs/final_loss"][()])
        np.testing.assert_array_equal(df["steps"].to_numpy(), f["runs/steps"][()])
    assert list(df["status"].astype(str)) == raw
    assert set(raw) <= {"done", "diverged"}
    div = df["status"] == "diverged"
    assert div.any() and (df.loc[div, "diverged_step"] >= 0).all()
    assert (df.loc[~div, "diverged_step"] == -1).all()
    # lr 3 is far past 2/lr for this problem (sharpness ~1.8 at init: 2/3 < 1.8)
    assert set(df.loc[div, "train.lr"]) == {3.0}


def test_config_is_the_runs_resolved_yaml(sweep_file):
    df = analysis.load(sweep_file)
    for i, (opt, lr, bs, seed) in enumerate(expected_grid()):
        cfg = yaml.safe_load(analysis.config(sweep_file, i))
        assert cfg["seed"] == seed
        assert cfg["train"]["optimizer"] == opt
        assert float(cfg["train"]["lr"]) == lr
        assert cfg["train"]["batch_size"] == ("full" if bs == 0 else bs)
        assert analysis.config(sweep_file, i) == df.at[i, "config"]
    with pytest.raises(IndexError):
        analysis.config(sweep_file, len(df))


def test_trajectories(sweep_file):
    n = len(expected_grid())
    steps, loss = analysis.traj(sweep_file, "loss")
    np.testing.assert_array_equal(steps, np.arange(0, MAX_STEPS + 1, RECORD_EVERY))
    assert loss.shape == (n, len(steps)) and loss.dtype == np.float32
    df = analysis.load(sweep_file)
    done = (df["status"] == "done").to_numpy()
    assert np.isfinite(loss[done]).all()
    assert np.isfinite(loss[:, 0]).all()
    np.testing.assert_allclose(loss[done, -1], df.loc[done, "final_loss"], rtol=1e-6)

    ssteps, s = analysis.sharpness(sweep_file)
    np.testing.assert_array_equal(ssteps, np.arange(0, MAX_STEPS + 1, SHARP_EVERY))
    assert s.shape == (n, len(ssteps))
    _, s1 = analysis.sharpness(sweep_file, k=1)
    ok = np.isfinite(s) & np.isfinite(s1)
    assert ok.any() and (s[ok] >= s1[ok] - 1e-4 * np.abs(s[ok])).all()  # descending
    with pytest.raises(IndexError):
        analysis.sharpness(sweep_file, k=K)
    _, p = analysis.precond_sharpness(sweep_file)
    adam = (df["train.optimizer"] == "adam").to_numpy()
    assert np.isfinite(p[adam][:, 1:]).all()  # measured once Adam has a preconditioner
    assert np.isnan(p[~adam]).all()
    with pytest.raises(KeyError):
        analysis.traj(sweep_file, "nope")


def test_results_class_and_open_file(sweep_file):
    with analysis.Results(sweep_file) as r:
        assert r.n_runs == len(expected_grid())
        assert r.axes == AXES
        assert "grid:" in r.sweep_text
        assert r.attrs["format"] == "eosweep-results"
    with h5py.File(sweep_file, "r") as f:  # accessors also take an open h5py.File
        steps, loss = analysis.traj(f, "loss")
        assert loss.shape[0] == len(expected_grid())


def test_unfinished_file(crashed_file):
    df = analysis.load(crashed_file)
    pend = df.index[df["status"] == "pending"].tolist()
    assert pend == PENDING
    # a pending run has no valid results, even a value that was already written
    assert np.isnan(df.loc[PENDING, "final_loss"]).all()
    assert (df.loc[PENDING, "diverged_step"] == -1).all()
    _, loss = analysis.traj(crashed_file, "loss")
    assert np.isnan(loss[PENDING]).all()
    _, s = analysis.sharpness(crashed_file)
    assert np.isnan(s[PENDING]).all()
    assert np.isfinite(loss[0]).all()


def test_bad_files(tmp_path):
    with pytest.raises(analysis.ResultsError, match="No such file"):
        analysis.load(tmp_path / "missing.h5")
    txt = tmp_path / "x.h5"
    txt.write_text("hello\n")
    with pytest.raises(analysis.ResultsError, match="not an HDF5 file"):
        analysis.load(txt)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(analysis.ResultsError, match="not an eosweep results file"):
        analysis.load(other)
    with h5py.File(other, "a") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(analysis.ResultsError, match="something-else"):
        analysis.load(other)


def test_sharp_listed_not_named(sweep_file, tmp_path):
    """/sharp and /traj are read from the file's own list, so a dataset a new curvature probe
    writes reaches sharp(), sharp_names and measurements() with no change to analysis/."""
    with h5py.File(sweep_file, "r") as f:
        listed = list(f["sharp"].attrs["datasets"])
        assert set(listed) | {"step"} == set(f["sharp"])
        assert {"eig", "precond_eig", "trace", "batch_sharp", "dir_sharp", "hvps"} <= set(listed)
        assert list(f["traj"].attrs["datasets"]) == ["loss", "acc", "grad_norm", "test_loss",
                                                    "test_acc", "lr", "threshold", "flow_substeps",
                                                    "margin", "margin_p"]
    path = str(tmp_path / "newprobe.h5")
    import shutil
    shutil.copyfile(sweep_file, path)
    n = len(expected_grid())
    s = MAX_STEPS // SHARP_EVERY + 1
    new = np.arange(n * s * 6, dtype=np.float32).reshape(n, s, 2, 3)
    with h5py.File(path, "r+") as f:
        f["sharp"].create_dataset("new_probe", data=new)
        f["sharp"].attrs["datasets"] = listed + ["new_probe"]
    with analysis.Results(path) as r:
        assert r.sharp_names[-1] == "new_probe"
        _, got = r.sharp("new_probe")
        pend = r.pending
        np.testing.assert_array_equal(got[~pend], new[~pend])
        m = r.measurements()
        assert len(m) == n * s and list(m.columns[:2]) == ["run", "step"]
        np.testing.assert_array_equal(m["new_probe[1,2]"].to_numpy(), new[:, :, 1, 2].reshape(-1))
        _, eig = r.sharp("eig")
        np.testing.assert_array_equal(m["eig[1]"].to_numpy(), eig[:, :, 1].reshape(-1))
        np.testing.assert_array_equal(m["step"].to_numpy()[:s], np.arange(s) * SHARP_EVERY)
    with pytest.raises(KeyError):
        analysis.sharp(sweep_file, "new_probe")  # not in the original file


def test_hvps_and_tables(sweep_file):
    df = analysis.load(sweep_file)
    _, eig = analysis.sharpness(sweep_file)
    _, hvps = analysis.sharp(sweep_file, "hvps")
    assert hvps.dtype == np.int32 and hvps.shape == eig.shape
    # every measurement spends at least k products, none where nothing was measured
    assert (hvps[np.isfinite(eig)] >= K).all()
    assert (hvps[~np.isfinite(eig)] == 0).all()
    # per probe: the columns add up to hvps; eig's are at least k; probes that are off spend none
    import h5py
    with h5py.File(sweep_file) as f:
        by = f["sharp/probe_hvps"][()]
        labels = [x.decode() if isinstance(x, bytes) else x
                  for x in f["sharp/probe_hvps"].attrs["labels"]]
    assert by.dtype == np.int32 and by.shape == eig.shape + (len(labels),)
    np.testing.assert_array_equal(by.sum(axis=2), hvps)
    e = by[:, :, labels.index("eig")]
    assert (e[np.isfinite(eig)] >= K).all()
    assert (by[:, :, labels.index("trace")] == 0).all()  # trace_probes is 0 in this sweep
    m = analysis.measurements(sweep_file)
    np.testing.assert_array_equal(m["hvps"].to_numpy(), hvps.reshape(-1))
    rec = analysis.records(sweep_file)
    _, loss = analysis.traj(sweep_file, "loss")
    assert list(rec.columns) == ["run", "step", "loss", "acc", "grad_norm", "test_loss", "test_acc",
                                 "lr", "threshold", "flow_substeps", "margin", "margin_p"]
    np.testing.assert_array_equal(rec["loss"].to_numpy(), loss.reshape(-1))
    assert len(rec) == len(df) * loss.shape[1]


def test_older_file_without_lists(tmp_path):
    """A file written before /sharp and /traj carried their list: the groups' datasets are read."""
    from conftest import config_yaml, write_fake
    runs = [{"train.optimizer": "gd", "train.lr": 0.1, "config": config_yaml("gd", 0.1)}]
    path = write_fake(str(tmp_path / "old.h5"), runs, [1], np.ones((1, 10, 2)))
    with analysis.Results(path) as r:
        assert r.sharp_names == ["batch_sharp", "dir_sharp", "eig", "precond_eig", "trace"]
        assert r.traj_names == ["acc", "grad_norm", "loss", "test_acc", "test_loss"]
        m = r.measurements()
        assert list(m.columns) == ["run", "step", "batch_sharp", "dir_sharp", "eig[0]", "eig[1]",
                                   "precond_eig", "trace"]
        assert (m["eig[0]"] == 1).all()


def _same_fill(a, b):
    """Two {column: fill} lists are equal in order and value (NaN equals NaN)."""
    return list(a) == list(b) and all(
        (isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y)) or x == y
        for x, y in zip(a.values(), b.values()))


def test_result_columns_from_the_file(crashed_file, tmp_path):
    """The file lists its numeric result columns and fills (result_columns, result_fill); a
    column it adds is masked for pending runs with its own fill and is not an axis. A file without
    the attributes falls back to RESULT_FILL."""
    with analysis.Results(crashed_file) as r:
        assert _same_fill(r.result_fill, analysis.results.RESULT_FILL)
    new = str(tmp_path / "new_column.h5")
    shutil.copyfile(crashed_file, new)
    with h5py.File(new, "r+") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["result_columns"]]
        fills = list(f.attrs["result_fill"])
        f.attrs["result_columns"] = names + ["extra_count"]
        f.attrs["result_fill"] = np.array(fills + [7.0])
        f["runs/extra_count"] = np.arange(f.attrs["n_runs"], dtype=np.int64)
    df = analysis.load(new)
    assert (df.loc[PENDING, "extra_count"] == 7).all()
    assert df.loc[0, "extra_count"] == 0
    with analysis.Results(new) as r:
        assert "extra_count" not in r.axes
    old = str(tmp_path / "old.h5")
    shutil.copyfile(crashed_file, old)
    with h5py.File(old, "r+") as f:
        del f.attrs["result_columns"], f.attrs["result_fill"]
    with analysis.Results(old) as r:
        assert _same_fill(r.result_fill, analysis.results.RESULT_FILL)
    assert (analysis.load(old).loc[PENDING, "diverged_step"] == -1).all()
