"""Fixtures: a tiny real sweep run by the eosweep binary named in $EOSWEEP, a copy of it made to
look like an interrupted sweep, and hand-built results files following docs/results-format.md."""
import hashlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

# 14 runs of ~50 ms: GD and heavy ball at four learning rates (lr 3 diverges, lr 1 reaches the
# edge of stability), Adam at two, SGD at two batch sizes and two seeds.
SWEEP = """name: tiny
seed: 0
data:      {source: teacher-student, dim: 10, n_out: 3, teacher_hidden: 8, n_train: 128, n_test: 32, standardize: false}
model:     {arch: mlp, hidden: [16, 16], activation: tanh}
loss: mse
train:     {optimizer: gd, lr: 0.05, batch_size: full, max_steps: 200, record_every: 5}
sharpness: {every: 10, k: 2, tol: 1.0e-3, chunk: 128}
grid:
  - {train.optimizer: [gd, momentum], train.lr: [0.3, 0.6, 1.0, 3.0]}
  - {train.optimizer: [adam], train.lr: [0.003, 0.01]}
  - {train.optimizer: [sgd], train.batch_size: [16, 64], train.lr: [0.3], seed: [0, 1]}
"""
MAX_STEPS, RECORD_EVERY, SHARP_EVERY, K = 200, 5, 10, 2


AXES = ["train.optimizer", "train.lr", "train.batch_size", "seed"]


def expected_grid():
    """The sweep's runs as (optimizer, lr, batch_size, seed) expanded by hand from the grid
    above: union of cartesian products in order, last axis fastest, batch_size full = 0, the
    base seed 0 where a sub-grid does not name it."""
    runs = [(o, lr, 0, 0)
            for o, lr in itertools.product(["gd", "momentum"], [0.3, 0.6, 1.0, 3.0])]
    runs += [("adam", lr, 0, 0) for lr in [0.003, 0.01]]
    runs += [("sgd", 0.3, bs, seed) for bs, seed in itertools.product([16, 64], [0, 1])]
    return runs


@pytest.fixture(scope="session")
def eosweep_bin():
    exe = os.environ.get("EOSWEEP")
    if not exe:
        pytest.skip("EOSWEEP is not set: point it at a built eosweep binary to test on real "
                    "results files (tests/cli_analysis.sh does)")
    exe = os.path.abspath(exe)
    assert os.access(exe, os.X_OK), f"EOSWEEP={exe} is not an executable"
    return exe


@pytest.fixture(scope="session")
def sweep_file(eosweep_bin, tmp_path_factory):
    """A finished results file written by the real binary (one rank, one thread)."""
    d = tmp_path_factory.mktemp("sweep")
    (d / "tiny.yaml").write_text(SWEEP)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([eosweep_bin, "tiny.yaml", "-o", "tiny.h5", "--quiet"], cwd=d, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"eosweep failed (exit {p.returncode}): {p.stderr[-2000:]}"
    return str(d / "tiny.h5")


# 10 runs of ~1 s each, killed about a second after the results file appears.
KILL_SWEEP = SWEEP.split("grid:")[0].replace("max_steps: 200", "max_steps: 4000") + """grid:
  train.lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
"""


@pytest.fixture(scope="session")
def killed_file(eosweep_bin, tmp_path_factory):
    """A results file of a sweep killed with SIGKILL mid-way (as by a node failure)."""
    d = tmp_path_factory.mktemp("killed")
    (d / "k.yaml").write_text(KILL_SWEEP)
    out = d / "k.h5"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # own session, so that the kill reaches exactly this eosweep and any MPI helper it started
    proc = subprocess.Popen([eosweep_bin, "k.yaml", "-o", "k.h5", "--quiet"], cwd=d, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert out.exists(), f"eosweep made no results file: {proc.stderr.read()[-2000:]!r}"
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    return str(out)


PENDING = [1, 6, 9]


@pytest.fixture
def crashed_file(sweep_file, tmp_path):
    """The real file with runs 1, 6 and 9 set back to pending, as a sweep killed before they
    finished leaves it; run 6 also keeps a half-written result (final_loss) that must be ignored."""
    path = str(tmp_path / "crashed.h5")
    shutil.copyfile(sweep_file, path)
    with h5py.File(path, "r+") as f:
        st = f["runs/status"][()]
        st[PENDING] = 0
        f["runs/status"][...] = st
        fl = f["runs/final_loss"][()]
        fl[6] = 123.0
        f["runs/final_loss"][...] = fl
        for name in ("loss", "acc", "grad_norm", "test_loss", "test_acc"):
            a = f[f"traj/{name}"][()]
            a[[1, 9]] = np.nan
            f[f"traj/{name}"][...] = a
    return path


def config_yaml(optimizer, lr, beta1=0.9, momentum=0.9):
    """A resolved configuration in the shape eos_config_to_yaml writes (the keys used here)."""
    return (f'# resolved eosweep 0.1.0 configuration\nname: "fake"\nseed: 0\nloss: mse\n'
            f"train:\n  optimizer: {optimizer}\n  lr: {lr!r}\n  batch_size: full\n"
            f"  max_steps: 90\n  loss_goal: 0\n  momentum: {momentum!r}\n  beta1: {beta1!r}\n"
            f"  beta2: 0.999\n  eps: 1e-08\nsharpness:\n  every: 10\n  k: 2\n")


def write_fake(path, runs, status, eig, precond=None, record_steps=None, loss=None,
               sharp_every=10, threshold=None, threshold_preconditioned=None, lr_traj=None,
               threshold_traj=None):
    """Write a results file by the documented layout (format_version 1).

    runs: list of dicts with 'train.optimizer', 'train.lr' (the grid axes) and 'config';
    status: ints (0 pending, 1 done, 2 diverged, 3 failed); eig: [N, S, K]; precond: [N, S];
    threshold [N] float, threshold_preconditioned [N] 0/1: written when given (without them the
    file looks like one from before eosweep wrote them); lr_traj, threshold_traj [N, R]: /traj/lr
    and /traj/threshold, written (and listed) when given (without them: a file from before
    learning-rate schedules)."""
    n = len(runs)
    eig = np.asarray(eig, dtype=np.float32)
    s = eig.shape[1]
    precond = np.full((n, s), np.nan, np.float32) if precond is None else \
        np.asarray(precond, np.float32)
    steps_r = np.arange(0, 91, 5) if record_steps is None else np.asarray(record_steps)
    r = len(steps_r)
    loss = np.full((n, r), np.nan, np.float32) if loss is None else np.asarray(loss, np.float32)
    sweep = b"name: fake\ngrid:\n  train.optimizer: [gd, adam]\n  train.lr: [0.1, 0.01]\n"
    with h5py.File(path, "w") as f:
        vstr = h5py.string_dtype("utf-8")
        for k, v in {"format": "eosweep-results", "eosweep_version": "0.1.0",
                     "created": "2025-01-31T12:00:00Z", "name": "fake", "precision": "float32",
                     "sweep_sha256": hashlib.sha256(sweep).hexdigest()}.items():
            f.attrs.create(k, v, dtype=vstr)
        f.attrs.create("format_version", 1, dtype="<i4")
        f.attrs.create("n_runs", n, dtype="<i8")
        f.attrs.create("record_every", 5, dtype="<i4")
        f.attrs.create("sharp_every", sharp_every, dtype="<i4")
        f.attrs.create("k", eig.shape[2], dtype="<i4")
        f.create_dataset("sweep", data=np.array(sweep, dtype=f"S{len(sweep)}"))
        g = f.create_group("runs")
        g["train.optimizer"] = np.array([x["train.optimizer"].encode() for x in runs])
        g["train.lr"] = np.array([x["train.lr"] for x in runs], dtype="<f8")
        g["seed"] = np.zeros(n, "<u8")
        g["config"] = np.array([x["config"].encode() for x in runs])
        enum = h5py.enum_dtype({"pending": 0, "done": 1, "diverged": 2, "failed": 3},
                               basetype="i1")
        g.create_dataset("status", data=np.asarray(status, "i1"), dtype=enum)
        g["steps"] = np.where(np.asarray(status) == 0, 0, 90).astype("<i8")
        for c in ("final_loss", "final_acc", "final_test_loss", "final_test_acc",
                  "final_sharpness", "wall_seconds"):
            g[c] = np.full(n, np.nan)
        g["final_loss"][...] = np.where(np.asarray(status) == 1, 0.5, np.nan)
        g["diverged_step"] = np.full(n, -1, "<i8")
        g["rank"] = np.zeros(n, "<i4")
        g["message"] = np.array([b""] * n, dtype="S256")
        if threshold is not None:
            g["threshold"] = np.asarray(threshold, "<f8")
        if threshold_preconditioned is not None:
            g["threshold_preconditioned"] = np.asarray(threshold_preconditioned, "i1")
        t = f.create_group("traj")
        t["step"] = steps_r.astype("<i8")
        t["loss"] = loss
        names = ["loss", "acc", "grad_norm", "test_loss", "test_acc"]
        for c in names[1:]:
            t[c] = np.full((n, r), np.nan, np.float32)
        if lr_traj is not None:
            t["lr"] = np.asarray(lr_traj, np.float32)
            t["threshold"] = np.asarray(threshold_traj, np.float32)
            names += ["lr", "threshold"]
            t.attrs.create("datasets", names, dtype=vstr)
        sh = f.create_group("sharp")
        sh["step"] = (np.arange(s) * sharp_every).astype("<i8")
        sh["eig"] = eig
        sh["precond_eig"] = precond
        for c in ("trace", "batch_sharp", "dir_sharp"):
            sh[c] = np.full((n, s), np.nan, np.float32)
    return path
