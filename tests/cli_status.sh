#!/usr/bin/env bash
# eosweep status: a finished file, one being written (the writer named, nothing disturbed), one
# left by kill -9, --json against h5py, failures grouped by message, runs in progress from
# checkpoints (headers made here as src/train/ckpt.c writes them), and the refusals (missing, not HDF5, not eosweep's) in one line with exit 2.
source "$(dirname "$0")/cli_lib.sh"

# counts of /runs/status by name, as "pending done diverged failed"
h5_counts() {
    $PY -c "
import h5py, numpy as np, sys
s = h5py.File(sys.argv[1], 'r')['runs/status'][()]
print(*[int((s == v).sum()) for v in range(4)])" "$1"
}
# the same from status --json (and a check that it parses)
json_counts() {
    "$EOSWEEP" status --json "$1" | $PY -c "
import json, sys
c = json.load(sys.stdin)['counts']
print(c['pending'], c['done'], c['diverged'], c['failed'])"
}

# --- a finished file --------------------------------------------------------------------------
small_sweep s.yaml
"$EOSWEEP" s.yaml -o fin.h5 --quiet >/dev/null 2>&1 || bad "small sweep"
sum=$(sha256sum < fin.h5)
"$EOSWEEP" status fin.h5 >out.txt 2>err.txt
check "finished file: exit 0 ($(head -c 200 err.txt))" test $? -eq 0
check "finished file: names the sweep, its size and the file" grep -q "^fin.h5: sweep 'small', 12 runs" out.txt
check "finished file: counts as h5py counts them" grep -q "0 pending, 12 done, 0 diverged, 0 failed" out.txt
check "finished file: no writer" grep -q "writer: none" out.txt
check "finished file: nothing on stderr" test ! -s err.txt
check "no checkpoint directory: nothing said about runs in progress" bash -c "! grep -q 'in progress' out.txt"
check "status leaves the file byte for byte" test "$(sha256sum < fin.h5)" = "$sum"
check "status creates no lock file" test ! -e fin.h5.lock
"$EOSWEEP" status --json fin.h5 >out.json
check "--json: exit 0" test $? -eq 0
check "--json: counts equal h5py's" test "$(json_counts fin.h5)" = "$(h5_counts fin.h5)"
check "--json: every key, writer null, no failures, nothing in progress" $PY -c "
import json, sys
d = json.load(open('out.json'))
assert set(d) == {'path', 'name', 'runs', 'counts', 'writer', 'failures', 'in_progress'}, d
assert d['path'] == 'fin.h5' and d['name'] == 'small' and d['runs'] == 12, d
assert d['writer'] is None and d['failures'] == [] and d['in_progress'] == [], d"
check "--json is one line" test "$(wc -l < out.json)" -eq 1

# --- while a sweep writes the file, then after kill -9 -----------------------------------------
small_sweep long.yaml 20000 # long enough to be still running after the looks below
rm -f live.h5
"$EOSWEEP" long.yaml -o live.h5 --quiet >/dev/null 2>&1 &
writer=$!
for i in $(seq 100); do [ -e live.h5 ] && break; sleep 0.1; done
# a few looks while runs are being written
ok_all=1 named=1 sums=1
for i in 1 2 3 4 5; do
    "$EOSWEEP" status --json live.h5 >live.json 2>err.txt || ok_all=0
    $PY -c "
import json, sys
d = json.load(open('live.json'))
w = d['writer']
sys.exit(0 if w and w['pid'] == $writer and w['host'] and w['since'] else 1)" || named=0
    $PY -c "
import json, sys
d = json.load(open('live.json'))
sys.exit(0 if sum(d['counts'].values()) == d['runs'] == 12 else 1)" || sums=0
    sleep 0.4
done
check "file being written: status exits 0 every time ($(head -c 200 err.txt))" test $ok_all -eq 1
check "file being written: the writer is the running sweep (pid $writer, host, start time)" test $named -eq 1
check "file being written: counts sum to the run count" test $sums -eq 1
"$EOSWEEP" status live.h5 >out.txt
check "file being written: the text names the writer" grep -q "writer: pid $writer on host .* since 20" out.txt
kill -9 $writer
wait $writer 2>/dev/null
"$EOSWEEP" status --json live.h5 >dead.json
check "after kill -9: exit 0" test $? -eq 0
check "after kill -9: no writer, runs left pending" $PY -c "
import json, sys
d = json.load(open('dead.json'))
sys.exit(0 if d['writer'] is None and d['counts']['pending'] > 0 else 1)"
check "after kill -9: counts equal h5py's" test "$(json_counts live.h5)" = "$(h5_counts live.h5)"

# under mpirun (MPI-IO writes): looks while it runs, then it finishes normally
small_sweep mid.yaml 400
rm -f mpi.h5
$MPIRUN -n 2 "$EOSWEEP" mid.yaml -o mpi.h5 --quiet >/dev/null 2>mpi.err &
job=$!
for i in $(seq 100); do [ -e mpi.h5 ] && break; sleep 0.1; done
looks=0 good=0
while kill -0 $job 2>/dev/null && [ $looks -lt 20 ]; do
    looks=$((looks + 1))
    if "$EOSWEEP" status --json mpi.h5 >mpi.json 2>/dev/null && $PY -c "
import json, sys
d = json.load(open('mpi.json'))
sys.exit(0 if sum(d['counts'].values()) == 12 else 1)"; then good=$((good + 1)); fi
    sleep 0.2
done
wait $job
check "mpirun -n 2 sweep with status looking on ($looks looks): it finishes (exit $?)" test $? -eq 0
check "mpirun -n 2 sweep: every look exited 0 with counts summing to 12 ($good of $looks)" test $good -eq $looks
check "mpirun -n 2 sweep: its results equal the 1-rank sweep of the same file" bash -c \
    "'$EOSWEEP' mid.yaml -o mid1.h5 --quiet >/dev/null 2>&1 && $PY '$SRC/tests/h5compare.py' mid1.h5 mpi.h5"

# --- failures grouped by message ---------------------------------------------------------------
# runs asking for more eigenvalues than the model's 3 parameters fail when they run (cli_lib.sh)
failing_sweep f.yaml "sharpness.k: [1, 5, 4]" "train.lr: [0.01, 0.02, 0.03, 0.04]"
"$EOSWEEP" f.yaml -o f.h5 --quiet >/dev/null 2>&1 || bad "failing sweep"
"$EOSWEEP" status --json f.h5 >f.json
check "failures: exit 0" test $? -eq 0
check "failures: grouped by message with counts and runs, as in /runs/message" $PY -c "
import json, h5py, collections
d = json.load(open('f.json'))
f = h5py.File('f.h5', 'r')
st, msg = f['runs/status'][()], f['runs/message'][()]
want = collections.defaultdict(list)
for i in range(len(st)):
    if st[i] == 3: want[msg[i].decode()].append(i)
got = {g['message']: (g['count'], g['runs']) for g in d['failures']}
assert len(want) == 2 and got == {m: (len(r), r) for m, r in want.items()}, (got, dict(want))
assert all('eigenvalues requested' in m for m in got), got
assert d['counts']['failed'] == 8 and d['counts']['done'] == 4, d['counts']"
"$EOSWEEP" status f.h5 >out.txt
check "failures: text gives count, message and runs" \
    grep -q "^    4 x sharpness.k: 5 eigenvalues requested.* (runs 4, 5, 6, 7)$" out.txt

# --- runs in progress: pending runs with a checkpoint of their own -----------------------------
# checkpoints are eosweep's own binary files (src/train/ckpt.c); status reads only their header
cp f.h5 p.h5
mkdir p.h5.ckpt
$PY - <<'PYEOF'
import h5py, hashlib, struct, time
with h5py.File("p.h5", "r+") as f:
    f["runs/status"][4:8] = 0                        # runs 4 to 7 pending again
    sha = f.attrs["sweep_sha256"].encode()
    real = 8 if f.attrs["precision"] == "float64" else 4
def ckpt(name, run, step, sweep=sha):
    # eos_ckpt.h's header: magic, format, byte order, real size, parts, run, step, saved_at,
    # wall seconds, sweep and configuration sha256; then (no parts) the header's own sha256
    hd = struct.pack("=8sIIIIqqdd64s64s", b"EOSCKPT\n", 1, 0x01020304, real, 0, run, step,
                     time.time() - 60.0, 1.5, sweep, b"0" * 64)
    open("p.h5.ckpt/" + name, "wb").write(hd + hashlib.sha256(hd).hexdigest().encode())
ckpt("run-4.ckpt", 4, 120)
ckpt("run-0.ckpt", 0, 7)                             # run 0 is done: a leftover, not in progress
ckpt("run-6.ckpt", 6, 9, sweep=b"f" * 64)            # another sweep's
ckpt("run-7.ckpt", 8, 9)                             # run 8's under run 7's name
ckpt("run-99.ckpt", 99, 9)                           # no such run
open("p.h5.ckpt/run-5.ckpt", "wb").write(b"damaged")  # not a checkpoint
open("p.h5.ckpt/run-6.ckpt.tmp", "wb").close()        # being written: not a checkpoint's name
PYEOF
"$EOSWEEP" status --json p.h5 >p.json
check "in progress: exit 0" test $? -eq 0
check "in progress: pending runs with their own checkpoint, step and age (a damaged one without)" $PY -c "
import json
d = json.load(open('p.json'))
ip = d['in_progress']
assert [r['run'] for r in ip] == [4, 5], ip
assert ip[0]['step'] == 120 and 59 <= ip[0]['age_seconds'] < 120, ip
assert ip[1]['step'] is None and ip[1]['age_seconds'] is None, ip"
"$EOSWEEP" status p.h5 >out.txt
check "in progress: text lists the run with its step and age" grep -q "^    run 4: step 120, checkpoint saved [0-9]* s ago" out.txt
check "in progress: text says which checkpoint is damaged" grep -q "^    run 5: checkpoint unreadable" out.txt
rm -rf p.h5.ckpt/*
"$EOSWEEP" status p.h5 >out.txt
check "an empty checkpoint directory: in progress none" grep -q "in progress: none" out.txt

# real checkpoints of a running sweep (--checkpoint-every), then of one stopped by SIGUSR1
# (runs of several seconds even on a fast idle machine, stopped below long before the end)
small_sweep ck.yaml 40000
rm -rf ck.h5 ck.h5.ckpt
"$EOSWEEP" ck.yaml -o ck.h5 --quiet --checkpoint-every 0.2 >/dev/null 2>&1 &
writer=$!
for i in $(seq 100); do [ -n "$(ls ck.h5.ckpt 2>/dev/null)" ] && break; sleep 0.1; done
"$EOSWEEP" status --json ck.h5 >ck.json
check "checkpointing sweep: exit 0" test $? -eq 0
check "checkpointing sweep: its writer and a run in progress with step and age" $PY -c "
import json
d = json.load(open('ck.json'))
assert d['writer']['pid'] == $writer, d
ip = d['in_progress']
assert ip and all(r['step'] is not None and r['step'] >= 0 and 0 <= r['age_seconds'] < 30 for r in ip), ip"
kill -USR1 $writer
wait $writer
rc=$?
"$EOSWEEP" status --json ck.h5 >ck.json
check "after SIGUSR1 (exit $rc): no writer, the stopped run's checkpoint is in progress" $PY -c "
import json
d = json.load(open('ck.json'))
assert d['writer'] is None and d['counts']['pending'] > 0, d
ip = d['in_progress']
assert ip and all(r['step'] is not None and r['step'] > 0 for r in ip), ip"

# --- refusals: one line naming the path, exit 2 ---------------------------------------------------
refused() { # refused "what" PATH
    "$EOSWEEP" status "$2" >out.txt 2>err.txt
    local rc=$?
    check "$1: exit 2 (got $rc)" test $rc -eq 2
    check "$1: one line naming the path ($(head -c 200 err.txt))" \
        test "$(wc -l < err.txt)" -eq 1 -a "$(grep -c "^eosweep: $2: " err.txt)" -eq 1
    check "$1: nothing on stdout" test ! -s out.txt
}
refused "a missing file" missing.h5
echo "not hdf5" > text.h5
refused "a file that is not HDF5" text.h5
$PY -c "import h5py; h5py.File('foreign.h5', 'w')['x'] = 1"
refused "an HDF5 file that is not eosweep's" foreign.h5
grep -q "not an eosweep results file" err.txt || bad "foreign.h5: says it is not an eosweep results file"
mkdir adir.h5
refused "a directory" adir.h5
cp fin.h5 nostatus.h5
$PY -c "import h5py; del h5py.File('nostatus.h5', 'r+')['runs/status']"
refused "an eosweep file without /runs/status" nostatus.h5
"$EOSWEEP" status >/dev/null 2>err.txt
check "status without a file: exit 2" test $? -eq 2
"$EOSWEEP" status fin.h5 f.h5 >/dev/null 2>err.txt
check "status with two files: exit 2" test $? -eq 2
summary
