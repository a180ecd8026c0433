#!/usr/bin/env bash
# End to end: the same sweep on 1, 2 and 3 ranks gives bitwise identical results; dry run; an
# existing file is never overwritten without --force; resuming a finished file does nothing.
source "$(dirname "$0")/cli_lib.sh"

small_sweep s.yaml
out=$("$EOSWEEP" --dry-run s.yaml)
check "dry run prints the run count" grep -q "^12 runs" <<<"$out"
check "dry run creates no file" test ! -e small.h5

"$EOSWEEP" s.yaml -o r1.h5 --quiet >log1 2>&1
check "1 rank: exit 0" test $? -eq 0
check "1 rank: prints where the results are" grep -q "results: r1.h5" log1
$MPIRUN -n 2 "$EOSWEEP" s.yaml -o r2.h5 --quiet >log2 2>&1
check "2 ranks: exit 0" test $? -eq 0
$MPIRUN -n 3 "$EOSWEEP" s.yaml -o r3.h5 >log3 2>&1
check "3 ranks: exit 0" test $? -eq 0
check "3 ranks: progress lines name runs" grep -q "^\[12/12\] run" log3
check "3 ranks: 12 progress lines, each with loss, sharpness, steps and time, whichever rank ran it" \
    test "$(grep -cE '^\[[0-9]+/12\] run [0-9]+ done \(rank [0-9]\) loss [^ ]+ sharpness [^ ]+ steps 60 [0-9.]+s \|' log3)" -eq 12
check "3 ranks: rank 1 and 2's runs have their loss too" grep -qE '\(rank [12]\) loss [0-9]' log3
check "3 ranks: results: is the last line of stdout and stderr together" test "$(tail -n 1 log3)" = "results: r3.h5"
# under mpirun stdout and stderr reach the terminal by separate channels: the results line must
# still come last, every time
small_sweep tiny.yaml 10
last_ok=0
for t in 1 2 3 4 5 6; do
    rm -f tiny.h5
    $MPIRUN -n 3 "$EOSWEEP" tiny.yaml -o tiny.h5 2>&1 | cat >tiny.log
    [ "$(tail -n 1 tiny.log)" = "results: tiny.h5" ] && last_ok=$((last_ok + 1))
done
check "3 ranks, 6 tiny sweeps: results: last every time ($last_ok of 6)" test $last_ok -eq 6
check "1 vs 2 ranks identical" $PY "$SRC/tests/h5compare.py" r1.h5 r2.h5
check "1 vs 3 ranks identical" $PY "$SRC/tests/h5compare.py" r1.h5 r3.h5
check "work was shared between ranks" $PY -c "
import h5py, sys; r = h5py.File('r3.h5')['runs/rank'][()]; sys.exit(0 if len(set(r)) >= 2 else 1)"
check "every run done" $PY -c "
import h5py, sys; s = h5py.File('r1.h5')['runs/status'][()]; sys.exit(0 if (s == 1).all() else 1)"
check "h5dump -H shows the layout" bash -c "h5dump -H r1.h5 | grep -q 'DATASET \"eig\"'"
check "/sharp/seconds: each measurement's time where /sharp/hvps counts products, NaN elsewhere" $PY -c "
import h5py, numpy as np, sys
f = h5py.File('r3.h5'); t, h = f['sharp/seconds'][()], f['sharp/hvps'][()]
on = h > 0
sys.exit(0 if on.any() and (t[on] > 0).all() and np.isfinite(t[on]).all() and np.isnan(t[~on]).all()
         and (np.nansum(t, axis=1) <= f['runs/wall_seconds'][()]).all() else 1)"

sum=$(sha256sum r1.h5)
"$EOSWEEP" s.yaml -o r1.h5 --quiet 2>err
rc=$?
check "existing file: exit 2" test $rc -eq 2
check "existing file: message says --force/--resume" grep -q -- "--force" err
check "existing file: untouched" test "$(sha256sum r1.h5)" = "$sum"
"$EOSWEEP" s.yaml -o r1.h5 --resume --quiet >/dev/null 2>&1
check "resume of a finished sweep: exit 0" test $? -eq 0
check "resume of a finished sweep: results unchanged" $PY "$SRC/tests/h5compare.py" r1.h5 r2.h5
sed 's/lr: 0.05, batch/lr: 0.04, batch/' s.yaml > s2.yaml
# A file from before /sharp/hvps, /sharp/seconds and /runs/threshold existed (format_version 1 files only gain
# datasets) still resumes, and the runs it redoes come out as in a new file.
cp r1.h5 old.h5
$PY - <<'PYEOF'
import h5py
with h5py.File("old.h5", "r+") as f:
    for name in ("sharp/hvps", "sharp/seconds", "runs/threshold", "runs/threshold_preconditioned",
                 "sharp/trace_hutchpp", "sharp/density_nodes", "sharp/density_weights"):
        del f[name]
    f["runs/status"][0:5] = 0
PYEOF
cp old.h5 old_eig.h5
"$EOSWEEP" s.yaml -o old.h5 --resume --quiet >/dev/null 2>err
rc=$?
check "resume of a file without the newer datasets: exit 0 ($(head -c 200 err))" test $rc -eq 0
check "resume of a file without the newer datasets: redone runs equal" \
    $PY "$SRC/tests/h5compare.py" --subset old.h5 r1.h5
# ... but not one that lacks a measure every sweep has (damaged, or not eosweep's)
$PY -c "import h5py; del h5py.File('old_eig.h5', 'r+')['sharp/eig']"
"$EOSWEEP" s.yaml -o old_eig.h5 --resume --quiet >/dev/null 2>err
rc=$?
check "resume of a file without /sharp/eig: exit 2 in one line ($(head -c 200 err))" \
    test $rc -eq 2 -a "$(wc -l <err)" -eq 1
check "resume of a file without /sharp/eig: names the file and dataset" \
    grep -q "old_eig.h5.*/sharp/eig missing" err
# and a sweep that turns on a measure the resumed file predates is refused when written
sed 's/^sharpness: {/sharpness: {density_probes: 2, density_steps: 3, /' s.yaml > sd.yaml
"$EOSWEEP" sd.yaml -o sd.h5 --quiet >/dev/null 2>&1 || bad "density sweep"
$PY - <<'PYEOF'
import h5py
with h5py.File("sd.h5", "r+") as f:
    del f["sharp/density_nodes"]
    f["runs/status"][0:2] = 0
PYEOF
"$EOSWEEP" sd.yaml -o sd.h5 --resume --quiet >/dev/null 2>err
rc=$?
check "resume measuring what the file has no dataset for: refused ($rc: $(head -c 300 err))" \
    test $rc -ne 0
check "resume measuring what the file has no dataset for: says which" \
    grep -q "measured /sharp/density_nodes" err

"$EOSWEEP" s2.yaml -o r1.h5 --resume --quiet 2>err
check "resume with a different sweep: refused" test $? -eq 2
check "resume with a different sweep: says why" grep -qi "sha256\|differ" err
"$EOSWEEP" s.yaml -o r1.h5 --force --quiet >/dev/null 2>&1
check "--force replaces" test $? -eq 0
if command -v strace >/dev/null; then
    strace -f -e trace=fsync -o fsync.trace "$EOSWEEP" s.yaml -o r4.h5 --fsync --quiet >/dev/null 2>&1
    check "--fsync: exit 0" test $? -eq 0
    check "--fsync: one fsync per run (at least 12)" test "$(grep -c 'fsync(' fsync.trace)" -ge 12
    strace -f -e trace=fsync -o nofsync.trace "$EOSWEEP" s.yaml -o r5.h5 --quiet >/dev/null 2>&1
    check "default: no fsync per run (only the creation's)" test "$(grep -c 'fsync(' nofsync.trace)" -lt 12
else
    "$EOSWEEP" s.yaml -o r4.h5 --fsync --quiet >/dev/null 2>&1
    check "--fsync: exit 0 (strace not installed: fsync count not checked)" test $? -eq 0
fi
check "--fsync: same results" $PY "$SRC/tests/h5compare.py" r1.h5 r4.h5
cat > one.yaml <<YAML
name: one
data:  {source: synthetic-linear, dim: 3, n_train: 32, standardize: false}
model: {arch: mlp, hidden: []}
train: {optimizer: gd, lr: 0.05, max_steps: 20, record_every: 10}
sharpness: {every: 10, k: 1}
YAML
"$EOSWEEP" one.yaml -o one.h5 --verbose --quiet >/dev/null 2>verbose.txt
check "--verbose prints every record and measurement" test "$(grep -c '^  step' verbose.txt)" -eq 6

# A convolutional network on images (a 4-D HDF5 X [N, C, H, W], odd height) with every pooling:
# finite losses, Hessian and Gauss-Newton sharpness, the same bits at 1 and 2 threads.
$PY -c "
import h5py, numpy as np
r = np.random.default_rng(0); x = r.standard_normal((64, 2, 9, 8)).astype('f4')
y = (x[:, 0, :4, :4].mean(axis=(1, 2)) > 0).astype('i8')
with h5py.File('img.h5', 'w') as f: f['X'] = x; f['y'] = y"
cat > cnn.yaml <<YAML
name: cnn
data:      {source: hdf5, path: img.h5, n_train: 64, standardize: false}
model:     {arch: cnn, channels: [4, 3], kernel: 3, activation: relu, hidden: []}
loss: xent
train:     {optimizer: gd, lr: 0.1, max_steps: 12, record_every: 3}
sharpness: {every: 4, k: 2, gauss_newton: true}
grid:
  model.pool: [max, avg, none]
YAML
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$EOSWEEP" cnn.yaml -o cnn1.h5 --quiet >/dev/null 2>&1
check "cnn on HDF5 images: exit 0" test $? -eq 0
OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$EOSWEEP" cnn.yaml -o cnn2.h5 --quiet >/dev/null 2>&1
check "cnn at 1 vs 2 threads identical" $PY "$SRC/tests/h5compare.py" cnn1.h5 cnn2.h5
check "cnn: every run done, finite losses, positive sharpness and Gauss-Newton sharpness" $PY -c "
import h5py, numpy as np, sys
f = h5py.File('cnn1.h5'); e, g = f['sharp/eig'][()], f['sharp/gn_eig'][()]
ok = (f['runs/status'][()] == 1).all() and np.isfinite(f['traj/loss'][()]).all()
sys.exit(0 if ok and (e[..., 0] > 0).all() and (g[..., 0] > 0).all() and np.isfinite(e).all() else 1)"

# More threads than model.gemm_tiles: one note (the split never follows the thread count, so the
# extra threads wait in large GEMMs), the same bits as at 1 thread; none when the setting covers
# the threads or at the default 2 threads.
small_sweep th.yaml 10
OMP_NUM_THREADS=3 OPENBLAS_NUM_THREADS=3 "$EOSWEEP" th.yaml -o th3.h5 >/dev/null 2>th3.err
check "3 threads: exit 0" test $? -eq 0
check "3 threads, model.gemm_tiles 2: one note naming the setting" \
    test "$(grep -c '3 OpenMP threads per rank but model.gemm_tiles is 2' th3.err)" -eq 1
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$EOSWEEP" th.yaml -o th1.h5 --quiet >/dev/null 2>&1
check "3 threads vs 1 thread: identical results" $PY "$SRC/tests/h5compare.py" th1.h5 th3.h5
sed -i 's/activation: tanh}/activation: tanh, gemm_tiles: 3}/' th.yaml
OMP_NUM_THREADS=3 OPENBLAS_NUM_THREADS=3 "$EOSWEEP" th.yaml -o th3b.h5 >/dev/null 2>th3b.err
check "3 threads, model.gemm_tiles 3: no note" test "$(grep -c 'gemm_tiles' th3b.err)" -eq 0
OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$EOSWEEP" s.yaml -o th2.h5 >/dev/null 2>th2.err
check "2 threads at the default: no note" test "$(grep -c 'gemm_tiles' th2.err)" -eq 0
summary
