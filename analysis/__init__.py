"""Offline analysis of eosweep results files (docs/results-format.md).

    import analysis
    df = analysis.load("results.h5")               # one row per run
    steps, s = analysis.sharpness("results.h5")    # top Hessian eigenvalue [n_runs, n_sharp]
    m = analysis.measurements("results.h5")        # every /sharp dataset, one row per measurement
    thr = df.apply(analysis.threshold, axis=1)     # stability threshold of each run

Command line: /usr/bin/python3 -m analysis report results.h5 -o report/
"""
from .eos import (eos_stats, eos_table, param, threshold, threshold_series, thresholds,
                  tracked)
from .results import (Results, ResultsError, broadened_density, config, density, load,
                      measurements, precond_sharpness, records, sharp, sharpness, traj)

__all__ = ["Results", "ResultsError", "load", "traj", "sharp", "records", "measurements",
           "sharpness", "precond_sharpness", "config", "threshold", "thresholds", "tracked",
           "param", "threshold_series", "eos_stats", "eos_table", "density", "broadened_density"]
