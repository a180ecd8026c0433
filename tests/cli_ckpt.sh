#!/usr/bin/env bash
# Mid-run checkpoints through the binary: a long run stopped by SIGUSR1 or killed with -9 (with
# periodic checkpoints) continues from its checkpoint under --resume, not from step 0, and the
# results equal the uninterrupted sweep bitwise; a damaged checkpoint is reported in one line
# and ignored; checkpoints are removed once their run is stored, and a new file clears stale ones.
source "$(dirname "$0")/cli_lib.sh"

# Two long runs (a few seconds each) and a short one; SGD so the batch order is state too.
cat > long.yaml <<YAML
name: long
seed: 2
data:      {source: teacher-student, dim: 20, n_out: 3, teacher_hidden: 16, n_train: 512, standardize: false}
model:     {arch: mlp, hidden: [48, 48], activation: tanh}
loss: mse
train:     {optimizer: sgd, lr: 0.05, batch_size: 32, max_steps: 80000, record_every: 1000}
sharpness: {every: 4000, k: 2, tol: 1.0e-3, chunk: 256, directional: true}
grid:
  train.lr: [0.05, 0.02]
YAML
"$EOSWEEP" long.yaml -o ref.h5 --quiet >/dev/null 2>ref.err || bad "reference sweep: $(head -c 300 ref.err)"
step_of() { grep -o 'checkpoint at step [0-9]*' "$1" | head -1 | grep -o '[0-9]*$'; }

# --- SIGUSR1: checkpoint, exit 75, continue ----------------------------------------------
"$EOSWEEP" long.yaml -o u.h5 --quiet >/dev/null 2>&1 &
pid=$!
wait_for u.h5 0.5
kill -USR1 $pid
wait $pid
rc=$?
check "SIGUSR1: exit 75" test $rc -eq 75
ckpts() { ls "$1" 2>/dev/null | grep -c '^run-[0-9]*\.ckpt$'; }
check "SIGUSR1: the run in progress left a checkpoint ($(ls u.h5.ckpt 2>&1))" test "$(ckpts u.h5.ckpt)" -eq 1
"$EOSWEEP" long.yaml -o u.h5 --resume >resume.log 2>&1
rc=$?
step=$(step_of resume.log)
check "SIGUSR1: resume finishes (exit $rc)" test $rc -eq 0
check "SIGUSR1: the run continued from its checkpoint, not step 0 (step ${step:-none})" \
    test "${step:-0}" -gt 0
check "SIGUSR1: results equal the uninterrupted sweep" $PY "$SRC/tests/h5compare.py" ref.h5 u.h5
check "SIGUSR1: the measurements before the interruption keep their /sharp/seconds" $PY -c "
import h5py, numpy as np, sys
f = h5py.File('u.h5'); t, h = f['sharp/seconds'][()], f['sharp/hvps'][()]
sys.exit(0 if (h[:, 0] > 0).all() and (t[h > 0] > 0).all() and np.isnan(t[h == 0]).all() else 1)"
check "SIGUSR1: no checkpoint left once every run is stored" test ! -e u.h5.ckpt

# --- kill -9 with periodic checkpoints --------------------------------------------------
setsid "$EOSWEEP" long.yaml -o k.h5 --quiet --checkpoint-every 0.3 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ "$(ckpts k.h5.ckpt)" -gt 0 ] && break; sleep 0.05; done
sleep 0.2
kill -9 -- -$pid 2>/dev/null
wait $pid 2>/dev/null
check "kill -9: a periodic checkpoint survived" test "$(ckpts k.h5.ckpt)" -eq 1
check "kill -9: no temporary checkpoint is mistaken for one" \
    test -z "$(ls k.h5.ckpt | grep -v '^run-[0-9]*\.ckpt\(\.tmp\)\?$')"
"$EOSWEEP" long.yaml -o k.h5 --resume >resume.log 2>&1
rc=$?
step=$(step_of resume.log)
check "kill -9: resume finishes (exit $rc)" test $rc -eq 0
check "kill -9: the run continued from step ${step:-none} > 0" test "${step:-0}" -gt 0
check "kill -9: results equal the uninterrupted sweep" $PY "$SRC/tests/h5compare.py" ref.h5 k.h5

# --- kill -9 during checkpoint writes ----------------------------------------------------
# A checkpoint after every step (--checkpoint-every 1e-4): most of the time goes into writing and
# fsyncing them, so kills at random times land inside writes too. Whatever a kill interrupts, the
# next resume finds complete checkpoints or none (never one it must refuse), and the sweep ends
# bitwise equal to the uninterrupted one.
resume= refused=0 in_write=0
for trial in 1 2 3 4 5; do
    setsid "$EOSWEEP" long.yaml -o w.h5 $resume --checkpoint-every 0.0001 >"w$trial.log" 2>&1 &
    pid=$!
    wait_for w.h5 0.3
    sleep "0.$((RANDOM % 8 + 1))"
    kill -9 -- -$pid 2>/dev/null
    wait $pid 2>/dev/null
    resume=--resume
    grep -q 'checkpoint.*ignored' "w$trial.log" && refused=$((refused + 1))
    # A temporary left behind: this kill interrupted a write.
    ls w.h5.ckpt 2>/dev/null | grep -q '\.tmp$' && in_write=$((in_write + 1))
done
"$EOSWEEP" long.yaml -o w.h5 --resume >w-final.log 2>&1
rc=$?
grep -q 'checkpoint.*ignored' w-final.log && refused=$((refused + 1))
check "kill -9 in checkpoint writes: resume finishes (exit $rc)" test $rc -eq 0
check "kill -9 in checkpoint writes: no checkpoint ever refused ($refused)" test $refused -eq 0
check "kill -9 in checkpoint writes: kills landed inside writes ($in_write of 5)" test $in_write -ge 1
step=$(step_of w-final.log)
check "kill -9 in checkpoint writes: the last resume continued from step ${step:-none} > 0" \
    test "${step:-0}" -gt 0
check "kill -9 in checkpoint writes: results equal the uninterrupted sweep" \
    $PY "$SRC/tests/h5compare.py" ref.h5 w.h5
check "kill -9 in checkpoint writes: no checkpoint or temporary left" test ! -e w.h5.ckpt

# --- a damaged checkpoint: one line, ignored, the run from step 0 --------------------------
"$EOSWEEP" long.yaml -o d.h5 --quiet >/dev/null 2>&1 &
pid=$!
wait_for d.h5 0.5
kill -USR1 $pid
wait $pid
$PY - <<'PYEOF'
import glob
with open(glob.glob("d.h5.ckpt/run-*.ckpt")[0], "r+b") as f:
    f.seek(4000)
    b = f.read(1)
    f.seek(4000)
    f.write(bytes([b[0] ^ 0x55]))
PYEOF
"$EOSWEEP" long.yaml -o d.h5 --resume >resume.log 2>&1
rc=$?
check "damaged checkpoint: resume finishes (exit $rc)" test $rc -eq 0
check "damaged checkpoint: one line naming the file and the reason" \
    test "$(grep -c 'd.h5.ckpt/run-[0-9]*.ckpt: checkpoint checksum does not match.*step 0' resume.log)" -eq 1
check "damaged checkpoint: the run not continued from it" test -z "$(step_of resume.log)"
check "damaged checkpoint: results equal the uninterrupted sweep" \
    $PY "$SRC/tests/h5compare.py" ref.h5 d.h5

# --- several ranks: SIGUSR1 through mpirun, resume on another rank count ------------------
$MPIRUN -n 3 "$EOSWEEP" long.yaml -o m.h5 --quiet >/dev/null 2>&1 &
pid=$!
wait_for m.h5 1
kill -USR1 $pid
wait $pid
rc=$?
n=$(ls m.h5.ckpt 2>/dev/null | grep -c '^run-[0-9]*\.ckpt$')
check "3 ranks, SIGUSR1: exit 75 ($rc), a checkpoint per run in progress ($n)" \
    test $rc -eq 75 -a "$n" -ge 1
$MPIRUN -n 2 "$EOSWEEP" long.yaml -o m.h5 --resume >resume.log 2>&1
rc=$?
check "3 then 2 ranks: resume finishes (exit $rc)" test $rc -eq 0
check "3 then 2 ranks: runs continued from checkpoints" grep -q 'checkpoint at step' resume.log
check "3 then 2 ranks: results equal the one-rank uninterrupted sweep" \
    $PY "$SRC/tests/h5compare.py" ref.h5 m.h5

# --- a new file clears stale checkpoints ------------------------------------------------
mkdir -p f.h5.ckpt
cp k.h5 f.h5
echo junk > f.h5.ckpt/run-0.ckpt
"$EOSWEEP" long.yaml -o f.h5 --force --quiet >/dev/null 2>f.err
rc=$?
check "--force: finishes (exit $rc)" test $rc -eq 0
check "--force: the stale checkpoint was removed, not reported" \
    test ! -e f.h5.ckpt -a "$(grep -c checkpoint f.err)" -eq 0

# --- bad option value ------------------------------------------------------------------
"$EOSWEEP" long.yaml -o x.h5 --checkpoint-every -1 >/dev/null 2>err
rc=$?
check "--checkpoint-every -1: exit 2, nothing written" test $rc -eq 2 -a ! -e x.h5
check "--checkpoint-every -1: the first line says why" \
    grep -q "^eosweep: --checkpoint-every needs seconds >= 0.*got '-1'" <(head -1 err)

summary
