#!/usr/bin/python3
"""Compare two eosweep results files run by run, bitwise.

Usage: h5compare.py A.h5 B.h5             -> exit 0 if every run's results are identical.
       h5compare.py --subset REF.h5 NEW.h5  -> exit 0 if every dataset of REF is in NEW and
                                              identical (NEW may add columns: format_version 1
                                              files only ever gain datasets).
Ignored: /runs/rank and /runs/wall_seconds (who ran it and how long it took) and the creation time.
"""
import sys

import h5py
import numpy as np

IGNORE = {"rank", "wall_seconds"}


def same(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a.view(np.uint8 if a.itemsize == 1 else f"u{a.itemsize}"),
                              b.view(np.uint8 if b.itemsize == 1 else f"u{b.itemsize}"))
    return np.array_equal(a, b)


def main():
    args = sys.argv[1:]
    subset = args[:1] == ["--subset"]
    if subset:
        args = args[1:]
    fa, fb = (h5py.File(p, "r") for p in args[:2])
    bad = []
    for grp in ("runs", "traj", "sharp"):
        ka, kb = set(fa[grp].keys()), set(fb[grp].keys())
        if subset and not ka <= kb:
            bad.append(f"/{grp}: missing columns {sorted(ka - kb)}")
        elif not subset and ka != kb:
            bad.append(f"/{grp}: different columns {sorted(ka ^ kb)}")
        for k in sorted(ka & kb):
            if grp == "runs" and k in IGNORE:
                continue
            if not same(fa[grp][k][()], fb[grp][k][()]):
                bad.append(f"/{grp}/{k} differs")
    if fa["sweep"][()].tobytes() != fb["sweep"][()].tobytes():
        bad.append("/sweep differs")
    for b in bad:
        print("h5compare:", b, file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
