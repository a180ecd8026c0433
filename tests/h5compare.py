#!/usr/bin/python3
"""Compare two eosweep results files run by run, bitwise.

Usage: h5compare.py A.h5 B.h5             -> exit 0 if every run's results are identical.
       h5compare.py --subset REF.h5 NEW.h5  -> exit 0 if every dataset of REF is in NEW and
                                              identical (NEW may add columns: format_version 1
                                              files only ever gain datasets, and a run's
                                              resolved configuration text may gain lines for
                                              keys added since REF was made).
Ignored: /runs/rank, /runs/wall_seconds and /sharp/seconds (who ran it and how long it and its
measurements took) and the creation time.
"""
import sys

import h5py
import numpy as np

IGNORE = {"rank", "wall_seconds"}
IGNORE_SHARP = {"seconds"}


def same(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a.view(np.uint8 if a.itemsize == 1 else f"u{a.itemsize}"),
                              b.view(np.uint8 if b.itemsize == 1 else f"u{b.itemsize}"))
    return np.array_equal(a, b)


def is_subsequence(ref_lines, new_lines):
    it = iter(new_lines)
    return all(any(line == other for other in it) for line in ref_lines)


def same_config_text(a, b):
    """Per run: every line of REF's resolved configuration appears in NEW, in order (NEW may
    carry keys that did not exist when REF was made; the other datasets prove the results)."""
    if a.shape != b.shape:
        return False
    return all(is_subsequence(x.decode().splitlines(), y.decode().splitlines())
               for x, y in zip(a, b))


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
            if grp == "runs" and k in IGNORE or grp == "sharp" and k in IGNORE_SHARP:
                continue
            if subset and grp == "runs" and k == "config":
                if not same_config_text(fa[grp][k][()], fb[grp][k][()]):
                    bad.append(f"/{grp}/{k} differs (beyond added keys)")
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
