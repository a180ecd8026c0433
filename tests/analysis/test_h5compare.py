"""tests/h5compare.py, the bitwise comparer the reference and resume tests rely on: it must
report a changed value or configuration, and --subset may only tolerate what a newer binary adds
(datasets, lines for new keys)."""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPARE = os.path.join(TESTS, "h5compare.py")
REFERENCE = os.path.join(TESTS, "bitwise", "reference.h5")


def compare(*args):
    return subprocess.run([sys.executable, COMPARE, *args], capture_output=True).returncode


def edited_copy(tmp_path, name, edit):
    path = str(tmp_path / name)
    shutil.copy(REFERENCE, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def rewrite_config(f, old, new):
    text = [x.decode().replace(old, new).encode() for x in f["runs/config"][()]]
    del f["runs/config"]
    f.create_dataset("runs/config", data=np.array(text, dtype=f"S{max(map(len, text))}"))


def test_identical_files_compare_equal():
    assert compare(REFERENCE, REFERENCE) == 0
    assert compare("--subset", REFERENCE, REFERENCE) == 0


def test_added_key_line_is_tolerated_only_by_subset(tmp_path):
    added = edited_copy(tmp_path, "added.h5", lambda f: rewrite_config(
        f, "  trace_probes: 3\n", "  trace_probes: 3\n  new_key: 1\n"))
    assert compare("--subset", REFERENCE, added) == 0
    assert compare(REFERENCE, added) == 1
    # The other way round REF has a line NEW lacks.
    assert compare("--subset", added, REFERENCE) == 1


def test_changed_config_value_is_reported(tmp_path):
    changed = edited_copy(tmp_path, "changed.h5", lambda f: rewrite_config(
        f, "  trace_probes: 3\n", "  trace_probes: 4\n"))
    assert compare("--subset", REFERENCE, changed) == 1


def test_one_flipped_bit_is_reported(tmp_path):
    def flip(f):
        d = f["traj/loss"]
        v = d[()]
        bits = v.view(np.uint32 if v.dtype == np.float32 else np.uint64)
        bits.flat[7] ^= 1
        d[...] = bits.view(v.dtype)
    flipped = edited_copy(tmp_path, "flipped.h5", flip)
    assert compare("--subset", REFERENCE, flipped) == 1


def test_added_dataset_is_tolerated_only_by_subset(tmp_path):
    more = edited_copy(tmp_path, "more.h5",
                       lambda f: f.create_dataset("sharp/new_measure", data=np.zeros(3)))
    assert compare("--subset", REFERENCE, more) == 0
    assert compare(REFERENCE, more) == 1
