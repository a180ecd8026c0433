#!/bin/bash
# The whole EoS run of bench/eos_run.yaml with each sharpness solver, interleaved (lanczos,
# lobpcg, lanczos, lobpcg, ...): wall time per run, the median of per-pair ratios, and the
# products the 21 measurements spent (/sharp/hvps). How the default solver was chosen
# (docs/sharpness.md, "Lanczos or LOBPCG"). Not a test: timings are only printed.
# usage: bench/run_eos_solvers.sh [BUILD_DIR]   (default: build)
#   THREADS=1  REPEATS=3  GUARD=2 (sharpness.guard of the LOBPCG runs)
#   DATA_DIR=/tmp/eos_bench_solvers   results files and logs
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
THREADS=${THREADS:-1}
REPEATS=${REPEATS:-3}
GUARD=${GUARD:-2}
DATA_DIR=${DATA_DIR:-/tmp/eos_bench_solvers}
PY=/usr/bin/python3
mkdir -p "$DATA_DIR"
rm -f "$DATA_DIR"/pairs.txt
for s in lanczos lobpcg; do
    sed "s/sharpness: {/sharpness: {solver: $s, guard: $GUARD, /" "$SRC/bench/eos_run.yaml" \
        >"$DATA_DIR/$s.yaml"
    grep -q "solver: $s" "$DATA_DIR/$s.yaml"
done
now() { date +%s.%N; }
echo "# $(date -u +%FT%TZ) $(nproc) cores; $("$BUILD/eosweep" --version | head -1)"
echo "# THREADS=$THREADS REPEATS=$REPEATS GUARD=$GUARD; load before: $(uptime)"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
for r in $(seq 1 "$REPEATS"); do
    line="$r"
    for s in lanczos lobpcg; do
        t0=$(now)
        "$BUILD/eosweep" "$DATA_DIR/$s.yaml" -o "$DATA_DIR/${s}_r$r.h5" --force --quiet >/dev/null
        t1=$(now)
        line="$line $(echo "$t1 - $t0" | bc) $(cut -d' ' -f1 /proc/loadavg)"
    done
    echo "$line" | tee -a "$DATA_DIR/pairs.txt"
done
echo "# load after: $(uptime)"
$PY - "$DATA_DIR" "$REPEATS" <<'PY'
import sys, statistics, h5py, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
rows = [l.split() for l in open(d + "/pairs.txt")]
ratios = [float(r[3]) / float(r[1]) for r in rows]
print("lobpcg / lanczos wall time, per pair:", " ".join("%.3f" % x for x in ratios),
      "median %.3f" % statistics.median(ratios))
for s in ("lanczos", "lobpcg"):
    f = h5py.File("%s/%s_r1.h5" % (d, s), "r")
    h, e = f["sharp/hvps"][0], f["sharp/eig"][0]
    print("%-8s products %d (first %d, median %d), final top-2 %.6g %.6g" %
          (s, h.sum(), h[0], int(np.median(h)), e[-1][0], e[-1][1]))
a, b = (h5py.File("%s/%s_r1.h5" % (d, s), "r")["sharp/eig"][0] for s in ("lanczos", "lobpcg"))
print("max relative eigenvalue difference: %.2g" % np.max(np.abs(a - b) / np.abs(a)))
PY
