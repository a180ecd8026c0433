#!/bin/bash
# One Cohen-style edge-of-stability run end to end, eosweep against the PyTorch recipe (issue 9,
# section 4; results: docs/performance.md, "Whole EoS run"). Not a test: timings are only printed;
# what it asserts is that both sides computed the same trajectory (exit 1 otherwise).
#
# The run (bench/eos_run.yaml): fc-tanh 784-200-200-10, MSE, the first 5,000 Fashion-MNIST
# training images, full-batch GD at lr 2/30 for 1,000 steps, loss at every step, top-2 Hessian
# eigenvalues over all 5,000 examples every 50 steps at tol 1e-3. eosweep runs it from the CLI;
# bench/bench_eos_run_torch.py runs it the way Cohen et al.'s src/gd.py does, from the same data
# and initial parameters (`bench_core prep DIR 0` writes what eosweep's loader and seed-0
# initialisation give; the script checks that eosweep's step-0 loss and gradient norm equal
# PyTorch's at those parameters).
#
# Needs the README's set-up plus python3-torch and python3-scipy (as bench/run_core.sh).
# usage: bench/run_eos_run.sh [BUILD_DIR]   (default: build; needs eosweep and bench/bench_core,
#                                            built here if missing)
#   THREADS=1     OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = torch.set_num_threads on both sides
#   REPEATS=3     pairs, run alternating: eosweep, PyTorch, eosweep, PyTorch, ...
#   MODE=cohen    PyTorch's loss per step: cohen = its own no_grad pass (their compute_losses),
#                 fused = summed from the gradient's forward passes (as eosweep takes it)
#   NOSHARP=0     1: after the pairs, one eosweep run with sharpness off (the training-only time
#                 measured directly; the split printed by default comes from /sharp/seconds)
#   DATA_DIR=/tmp/eos_bench_eosrun   data, parameters, results files and logs
#   ANALYSE_ONLY=1  only the report and the checks, on the logs of the last invocation
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
THREADS=${THREADS:-1}
REPEATS=${REPEATS:-3}
MODE=${MODE:-cohen}
NOSHARP=${NOSHARP:-0}
DATA_DIR=${DATA_DIR:-/tmp/eos_bench_eosrun}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1}
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}

if [ ! -x "$BUILD/eosweep" ] || [ ! -x "$BUILD/bench/bench_core" ]; then
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target eosweep bench_core >/dev/null
fi
$PY -c 'import torch, scipy, h5py' 2>/dev/null ||
    { echo "run_eos_run.sh: $PY cannot import torch/scipy/h5py" >&2; exit 1; }
LOGS="$DATA_DIR/logs"
if [ "${ANALYSE_ONLY:-0}" != 1 ]; then
mkdir -p "$LOGS"
rm -f "$LOGS"/*
OMP_NUM_THREADS=1 "$BUILD/bench/bench_core" prep "$DATA_DIR" 0 >/dev/null

now() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }
echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores;$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "# $("$BUILD/eosweep" --version); torch $($PY -c 'import torch; print(torch.__version__)')"
echo "# THREADS=$THREADS REPEATS=$REPEATS MODE=$MODE; load before: $(uptime)"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
for r in $(seq 1 "$REPEATS"); do
    l0=$(load1); t0=$(now)
    "$BUILD/eosweep" "$SRC/bench/eos_run.yaml" -o "$LOGS/eosweep_r$r.h5" --force --quiet \
        >"$LOGS/eosweep_r$r.txt" 2>&1
    t1=$(now); l1=$(load1)
    PYTHONPATH="$SRC/bench" $PY "$SRC/bench/bench_eos_run_torch.py" "$DATA_DIR" "$THREADS" \
        "$LOGS/torch_r$r.json" "$MODE" >"$LOGS/torch_r$r.txt"
    t2=$(now); l2=$(load1)
    echo "$r $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $l0 $l1 $l2" >>"$LOGS/pairs.txt"
    echo "# pair $r: eosweep $(echo "$t1 - $t0" | bc | cut -c1-7) s, PyTorch" \
         "$(echo "$t2 - $t1" | bc | cut -c1-7) s; load (1 min) $l0 -> $l1 -> $l2"
done
if [ "$NOSHARP" = 1 ]; then
    sed 's/every: 50,/every: 0,/' "$SRC/bench/eos_run.yaml" >"$LOGS/eos_run_nosharp.yaml"
    grep -q 'every: 0,' "$LOGS/eos_run_nosharp.yaml"
    l0=$(load1); t0=$(now)
    "$BUILD/eosweep" "$LOGS/eos_run_nosharp.yaml" -o "$LOGS/eosweep_nosharp.h5" --force --quiet
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc) $l0 $(load1)" >"$LOGS/nosharp.txt"
    echo "# eosweep without sharpness: $(echo "$t1 - $t0" | bc | cut -c1-7) s; load $l0 -> $(load1)"
fi
echo "# load after: $(uptime)"
fi

$PY - "$LOGS" "$REPEATS" "$NOSHARP" <<'EOF'
import json, os, statistics, sys
import h5py
import numpy as np
logs, repeats, nosharp = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
LR = 2.0 / 30.0
THR = 2.0 / LR
pairs = [l.split() for l in open(os.path.join(logs, "pairs.txt"))]
ours, torch_ = [], []
for r in range(1, repeats + 1):
    with h5py.File(os.path.join(logs, "eosweep_r%d.h5" % r), "r") as f:
        assert f["runs/status"][0] == 1, "eosweep run %d: status %d" % (r, f["runs/status"][0])
        ours.append({"loss": f["traj/loss"][0].astype(np.float64),
                     "grad_norm": f["traj/grad_norm"][0].astype(np.float64),
                     "eig": f["sharp/eig"][0].astype(np.float64),
                     "hvps": f["sharp/hvps"][0], "step": f["sharp/step"][:],
                     "sharp_sec": (f["sharp/seconds"][0].astype(np.float64)
                                   if "seconds" in f["sharp"] else None),
                     "wall": f["runs/wall_seconds"][0], "blas": f.attrs.get("blas_core", "?")})
    torch_.append(json.load(open(os.path.join(logs, "torch_r%d.json" % r))))
med = statistics.median
fmt = lambda v: " ".join("%.3f" % x for x in v)
proc_o = [float(p[1]) for p in pairs]
proc_t = [float(p[2]) for p in pairs]
rat = [a / b for a, b in zip(proc_o, proc_t)]
print("\nWhole EoS run, %d pairs (eosweep then PyTorch, %s mode), threads %d" %
      (repeats, torch_[0]["mode"], torch_[0]["threads"]))
print("process wall, s:     eosweep %s   PyTorch %s" % (fmt(proc_o), fmt(proc_t)))
print("eosweep/PyTorch per pair: %s   median %.3f   (target <= 0.5)" % (fmt(rat), med(rat)))
run_o = [o["wall"] for o in ours]
run_t = [t["run_sec"] for t in torch_]
print("in-process run time, s (eosweep /runs/wall_seconds; PyTorch the loop): eosweep %s  "
      "PyTorch %s  ratios %s  median %.3f" % (fmt(run_o), fmt(run_t),
                                              fmt([a / b for a, b in zip(run_o, run_t)]),
                                              med([a / b for a, b in zip(run_o, run_t)])))
print("PyTorch split, s: import %s  setup %s  training (loss + steps) %s  sharpness %s" %
      (fmt([t["import_sec"] for t in torch_]), fmt([t["setup_sec"] for t in torch_]),
       fmt([t["train_sec"] for t in torch_]), fmt([t["sharp_total_sec"] for t in torch_])))
if ours[0]["sharp_sec"] is not None:
    so = [np.nansum(o["sharp_sec"]) for o in ours]
    print("eosweep split from the results file (/sharp/seconds), s: sharpness %s  training "
          "(the rest of /runs/wall_seconds) %s;  per measurement median %.3f s, per HVP %.4f s" %
          (fmt(so), fmt([o["wall"] - x for o, x in zip(ours, so)]),
           med(list(ours[0]["sharp_sec"])), so[0] / ours[0]["hvps"].sum()))
    tt = [t["train_sec"] for t in torch_]
    ts = [t["sharp_total_sec"] for t in torch_]
    print("  eosweep/PyTorch per pair: training %s (median %.3f), sharpness %s (median %.3f)" %
          (fmt([(o["wall"] - x) / y for o, x, y in zip(ours, so, tt)]),
           med([(o["wall"] - x) / y for o, x, y in zip(ours, so, tt)]),
           fmt([x / y for x, y in zip(so, ts)]), med([x / y for x, y in zip(so, ts)])))
if nosharp:
    ns = open(os.path.join(logs, "nosharp.txt")).read().split()
    with h5py.File(os.path.join(logs, "eosweep_nosharp.h5"), "r") as f:
        ns_wall = f["runs/wall_seconds"][0]
    print("eosweep without sharpness (one run after the pairs): process %.2f s, run %.2f s, "
          "load %s -> %s; so sharpness ~ %.1f s of the median %.1f s run" %
          (float(ns[0]), ns_wall, ns[1], ns[2], med(run_o) - ns_wall, med(run_o)))
print("HVPs per measurement, eosweep: %s (sum %d; run 1; %s)" %
      (" ".join(map(str, ours[0]["hvps"])), ours[0]["hvps"].sum(),
       "the same in every run" if all((o["hvps"] == ours[0]["hvps"]).all() for o in ours)
       else "differs between runs"))
print("HVPs per measurement, PyTorch: %s (sum %d)" %
      (" ".join(map(str, torch_[0]["hvps"])), sum(torch_[0]["hvps"])))
print("PyTorch s per HVP (median over its measurements): %.3f" %
      med([s / h for s, h in zip(torch_[0]["sharp_sec"], torch_[0]["hvps"])]))
print("OpenBLAS kernel (results file): %s" % ours[0]["blas"])

# ---- the trajectories ----------------------------------------------------------------------
ok = True
def check(cond, what):
    global ok
    ok &= bool(cond)
    print("CHECK %s: %s" % ("ok" if cond else "FAILED", what))
o, t = ours[0], torch_[0]
lt, lo = np.array(t["loss"]), o["loss"]
et, eo = np.array(t["eig"]), o["eig"]
check(len(lt) == len(lo) == 1001 and len(et) == len(eo) == 21, "1,001 losses, 21 measurements")
# the same start: eosweep's step-0 loss and gradient norm at its own initialisation equal
# PyTorch's at p0.bin (float32 sums in different orders: 1e-5)
r0 = abs(lo[0] - lt[0]) / lt[0]
g0 = abs(o["grad_norm"][0] - t["grad_norm"][0]) / t["grad_norm"][0]
check(r0 < 1e-5 and g0 < 1e-5, "same start: step-0 loss rel. diff %.1e, gradient norm %.1e" % (r0, g0))
# the edge of stability: from the first measurement at which eosweep's sharpness reaches 2/lr on
# GD is unstable along the top direction, so float32 rounding differences grow exponentially there
# (and the loss oscillates); before it GD is stable and they stay at the rounding level.
steps = o["step"]
hit = [i for i in range(len(eo)) if eo[i, 0] >= THR]
t_eos = int(steps[hit[0]]) if hit else 1000
rel = np.abs(lo - lt) / lt
pre = rel[:t_eos + 1]
LOSS_TOL = 1e-3
check(pre.max() <= LOSS_TOL, "loss rel. diff <= %g at every step 0..%d (before the first "
      "measured sharpness >= 2/lr): max %.2e (at step %d), median %.1e"
      % (LOSS_TOL, t_eos, pre.max(), int(pre.argmax()), np.median(pre)))
print("      after it (steps %d..1000, not asserted): loss rel. diff median %.1e, max %.1e; "
      "final loss eosweep %.5f PyTorch %.5f" % (t_eos + 1, np.median(rel[t_eos + 1:]),
                                                rel[t_eos + 1:].max(), lo[-1], lt[-1]))
erel = np.abs(eo[:, 0] - et[:, 0]) / et[:, 0]
npre = hit[0] + 1 if hit else len(eo)
EIG_TOL = 5e-3
check(erel[:npre].max() <= EIG_TOL, "top eigenvalue rel. diff <= %g at the %d measurements up to "
      "step %d: max %.1e" % (EIG_TOL, npre, t_eos, erel[:npre].max()))
print("      all 21 (eosweep / PyTorch):")
for i in range(len(eo)):
    print("      step %4d  %8.4f %8.4f  |  %8.4f %8.4f  rel %.1e" %
          (steps[i], eo[i, 0], eo[i, 1], et[i, 0], et[i, 1], erel[i]))
late = slice(len(eo) - 10, len(eo))  # steps 550..1000
for name, e in (("eosweep", eo), ("PyTorch", et)):
    m = e[late, 0]
    check(e[:, 0].max() >= 0.97 * THR and 0.9 * THR <= m.mean() <= 1.15 * THR,
          "%s reaches 2/lr = %g: max %.2f, steps 550-1000 mean %.2f (range %.2f-%.2f)"
          % (name, THR, e[:, 0].max(), m.mean(), m.min(), m.max()))
for r in range(1, repeats):
    same = np.array_equal(ours[r]["loss"], ours[0]["loss"])
    check(same, "eosweep run %d's loss trajectory is bitwise run 1's" % (r + 1))
sys.exit(0 if ok else 1)
EOF
