#!/usr/bin/env bash
# Faults: kill -9 of the whole 3-rank job at random moments, then --resume until done, must give
# the same results as an uninterrupted sweep with no run lost or redone; SIGUSR1/SIGTERM (what
# SLURM sends before a time limit) stop cleanly with exit code 75; failed runs are retried only
# with --retry-failed.
source "$(dirname "$0")/cli_lib.sh"

# 4,000 steps: runs of ~0.3-1 s, so the 12 last 2-4 s on 2-3 ranks and the kills and signals
# below land mid-sweep (at 1,500 steps, after the top-k warm start made sharpness cheaper, the
# sweep often finished before a kill or the SIGTERM)
small_sweep k.yaml 4000
"$EOSWEEP" k.yaml -o ref.h5 --quiet >/dev/null 2>&1 || bad "reference run"

# --- kill -9 at several random points -------------------------------------------------------
RANDOM=4242
for trial in 1 2 3 4; do
    rm -f t.h5 t.h5.tmp*
    delay=$(( RANDOM % 2200 + 300 ))
    setsid $MPIRUN -n 3 "$EOSWEEP" k.yaml -o t.h5 --quiet >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -9 -- "-$pid" 2>/dev/null
    pkill -9 -f "$EOSWEEP k.yaml" 2>/dev/null
    wait "$pid" 2>/dev/null
    sleep 0.2
    done_before=0
    if [ -e t.h5 ]; then
        done_before=$($PY -c "import h5py; print(int((h5py.File('t.h5')['runs/status'][()] != 0).sum()))" 2>/dev/null || echo BAD)
        check "trial $trial (kill after ${delay} ms): file readable after kill -9 ($done_before runs finished)" test "$done_before" != BAD
        $MPIRUN -n 3 "$EOSWEEP" k.yaml -o t.h5 --resume >resume.log 2>&1
        rc=$?
        todo=$(grep -o '[0-9]* to do' resume.log | head -1 | cut -d' ' -f1)
        check "trial $trial: resume does only what was not done ($todo = 12 - $done_before)" test "$todo" = $((12 - done_before))
    else
        $MPIRUN -n 3 "$EOSWEEP" k.yaml -o t.h5 --quiet >/dev/null 2>&1
        rc=$?
        ok "trial $trial (kill after ${delay} ms): killed before the file existed; fresh start"
    fi
    check "trial $trial: resumed sweep finished (exit $rc)" test "$rc" -eq 0
    check "trial $trial: results equal the uninterrupted sweep" $PY "$SRC/tests/h5compare.py" ref.h5 t.h5
done

# --- SIGUSR1 on one rank, SIGTERM through mpirun -----------------------------------------
rm -f u.h5
"$EOSWEEP" k.yaml -o u.h5 --quiet >/dev/null 2>&1 &
pid=$!
wait_for u.h5 0.4
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "SIGUSR1: exit code 75 (incomplete, resume me)" test "$rc" -eq 75
pending=$($PY -c "import h5py; print(int((h5py.File('u.h5')['runs/status'][()] == 0).sum()))")
check "SIGUSR1: file closed cleanly with runs pending ($pending)" test "$pending" -gt 0
"$EOSWEEP" k.yaml -o u.h5 --resume --quiet >/dev/null 2>&1
check "SIGUSR1: resume finishes" test $? -eq 0
check "SIGUSR1: results equal the uninterrupted sweep" $PY "$SRC/tests/h5compare.py" ref.h5 u.h5

rm -f v.h5
$MPIRUN -n 2 "$EOSWEEP" k.yaml -o v.h5 --quiet >/dev/null 2>&1 &
pid=$!
wait_for v.h5 0.4
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "SIGUSR1 via mpirun -n 2: exit code 75" test "$rc" -eq 75
$MPIRUN -n 2 "$EOSWEEP" k.yaml -o v.h5 --resume --quiet >/dev/null 2>&1
check "mpirun resume finishes" test $? -eq 0
check "mpirun resume equals the uninterrupted sweep" $PY "$SRC/tests/h5compare.py" ref.h5 v.h5

# SIGTERM to mpirun: the ranks stop as cleanly, but Open MPI's mpirun exits 1, not the ranks' 75
# (docs/sweep-engine.md says so, and the job scripts send SIGUSR1 for that reason)
rm -f w.h5
$MPIRUN -n 2 "$EOSWEEP" k.yaml -o w.h5 >w.log 2>&1 &
pid=$!
wait_for w.h5 0.4
kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM via mpirun -n 2: mpirun exits 1 or 75, as documented (got $rc)" test "$rc" -eq 1 -o "$rc" -eq 75
check "SIGTERM via mpirun -n 2: the ranks stopped cleanly" grep -q "stopped by a signal" w.log
$MPIRUN -n 2 "$EOSWEEP" k.yaml -o w.h5 --resume --quiet >/dev/null 2>&1
check "SIGTERM via mpirun: resume finishes" test $? -eq 0
check "SIGTERM via mpirun: resume equals the uninterrupted sweep" $PY "$SRC/tests/h5compare.py" ref.h5 w.h5

# --- failed runs ------------------------------------------------------------------------------
# 5 eigenvalues of a model with 3 parameters: that run fails (cli_lib.sh)
failing_sweep f.yaml "sharpness.k: [1, 5]"
"$EOSWEEP" f.yaml -o f.h5 --quiet >/dev/null 2>&1
check "a failing run does not stop the sweep" test $? -eq 0
st=$($PY -c "import h5py; f = h5py.File('f.h5'); print(list(f['runs/status'][()]), f['runs/message'][1].decode())")
check "failed run recorded with status and message ($st)" grep -q "\[1, 3\].*sharpness.k" <<<"$st"
"$EOSWEEP" f.yaml -o f.h5 --resume >log 2>&1
check "resume without --retry-failed skips failed runs" grep -q "0 to do" log
"$EOSWEEP" f.yaml -o f.h5 --resume --retry-failed >log 2>&1
check "--retry-failed reruns them" grep -q "1 to do" log
summary
