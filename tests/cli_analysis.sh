#!/usr/bin/env bash
# The Python analysis package (analysis/): its pytest suite, on results files that this eosweep
# binary writes during the run. pytest's summary line is the result; its exit status is ours.
exe=${1:?usage: $0 path/to/eosweep}
case $exe in /*) ;; *) exe="$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")" ;; esac
source "$(dirname "$0")/cli_lib.sh"
cd "$SRC" || exit 1
EOSWEEP=$exe PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg $PY -m pytest -q -p no:cacheprovider tests/analysis
