#!/usr/bin/env bash
# Many-node launch on one machine: Open MPI starts one daemon per simulated host (through a
# plm_rsh_agent that runs the daemon here instead of over ssh) and the ranks talk over TCP only
# (--mca btl tcp,self), so neither shared memory nor mpirun's single-daemon shortcut can hide a
# bug of a real multi-node job. Two variants:
#   loopback: hosts 127.0.0.2 and 127.0.0.3 (aliases of lo), every daemon in this network;
#   netns:    two hosts, each its own network and UTS namespace (own hostname), joined by a veth
#             pair with addresses of the documentation range 192.0.2.0/24; mpirun runs in the
#             first, the second host's daemon in the second, so every byte between them crosses
#             the veth. Skipped with a message where namespaces cannot be made (not root, no ip,
#             no CAP_NET_ADMIN). The hostnames must differ, as on a real cluster: with one
#             hostname Open MPI's OMPIO picks different shared-file-pointer components on the two
#             hosts and MPI_File_open deadlocks (docs/scaling.md).
# In both: a sweep equals the one-rank run bitwise; SIGUSR1 to mpirun reaches the ranks on the
# other host, which checkpoint, exit 75, and --resume on the simulated hosts continues the runs
# from their checkpoints to results equal to the uninterrupted sweep.
# rtc_hwloc_vmhole none: Open MPI 4.1's daemons otherwise segfault at start-up in one launch in three
# to seven on this kernel, mapping their shared topology into the stack's region (docs/scaling.md).
source "$(dirname "$0")/cli_lib.sh"

small_sweep s.yaml
# Two runs of a few seconds each, long enough to be stopped in the middle.
cat > long.yaml <<YAML
name: long
seed: 3
data:      {source: teacher-student, dim: 20, n_out: 3, teacher_hidden: 16, n_train: 512, standardize: false}
model:     {arch: mlp, hidden: [48, 48], activation: tanh}
loss: mse
train:     {optimizer: sgd, lr: 0.05, batch_size: 32, max_steps: 60000, record_every: 1000}
sharpness: {every: 4000, k: 2, tol: 1.0e-3, chunk: 256}
grid:
  train.lr: [0.05, 0.02, 0.01]
YAML
"$EOSWEEP" s.yaml -o ref_s.h5 --quiet >/dev/null 2>ref.err || bad "small reference: $(head -c 300 ref.err)"
"$EOSWEEP" long.yaml -o ref_l.h5 --quiet >/dev/null 2>ref.err || bad "long reference: $(head -c 300 ref.err)"

# The agent mpirun calls as "agent [ssh options] HOST COMMAND...": it logs the host and runs the
# command (an orted) here, inside HOST's namespaces if the map $AGENT_NETNS names them.
cat > agent.sh <<'SH'
#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
host=$1
shift
echo "$host" >> "$AGENT_LOG"
ns=$(grep "^$host " "$AGENT_NETNS" 2>/dev/null | cut -d' ' -f2)
if [ -n "$ns" ]; then
    exec ip netns exec "$ns" unshare --uts "$(dirname "$0")/in_host.sh" "$ns" /bin/sh -c "$*"
fi
exec /bin/sh -c "$*"
SH
# in_host.sh NAME CMD...: run CMD with hostname NAME (inside a fresh UTS namespace).
printf '#!/bin/sh\nhostname "$1" && shift && exec "$@"\n' > in_host.sh
chmod +x agent.sh in_host.sh
export AGENT_LOG=$WORK/agent.log AGENT_NETNS=$WORK/netns.map
: > "$AGENT_NETNS"

# run_variant NAME PREFIX HOSTFILE IFACES: PREFIX is what runs mpirun (empty, or ip netns exec).
run_variant() {
    local name=$1 prefix=$2 hosts=$3 ifs=$4
    local mpi="$prefix mpirun --allow-run-as-root --oversubscribe --hostfile $hosts --map-by node
        --mca plm_rsh_agent $WORK/agent.sh --mca btl tcp,self
        --mca btl_tcp_if_include $ifs --mca oob_tcp_if_include $ifs --mca rtc_hwloc_vmhole none"
    : > "$AGENT_LOG"
    # A hang (the failure mode of a multi-host bug) fails the check instead of stalling the suite.
    # shellcheck disable=SC2086
    timeout 120 $mpi -n 3 "$EOSWEEP" s.yaml -o "$name-s.h5" --quiet >"$name-s.log" 2>&1
    local rc=$?
    check "$name: 3 ranks on 2 hosts: exit 0 ($rc; $(tail -c 300 "$name-s.log" | tr '\n' ' '))" \
        test $rc -eq 0
    check "$name: the second host's daemon was started through the agent ($(sort -u "$AGENT_LOG" | tr '\n' ' '))" \
        test "$(sort -u "$AGENT_LOG" | wc -l)" -ge 1
    # --map-by node puts rank 1 on the second host: it must have trained some runs.
    check "$name: runs trained on both hosts" $PY -c "
import h5py, sys
r = set(h5py.File('$name-s.h5', 'r')['runs']['rank'][:].tolist())
sys.exit(0 if 1 in r and (0 in r or 2 in r) else 1)"
    check "$name: results equal the one-rank run bitwise" \
        $PY "$SRC/tests/h5compare.py" ref_s.h5 "$name-s.h5"

    # shellcheck disable=SC2086
    $mpi -n 3 "$EOSWEEP" long.yaml -o "$name-l.h5" --quiet >"$name-l.log" 2>&1 &
    local pid=$!
    wait_for "$name-l.h5" 1.5
    kill -USR1 $pid
    wait $pid
    rc=$?
    local n
    n=$(ls "$name-l.h5.ckpt" 2>/dev/null | grep -c '^run-[0-9]*\.ckpt$')
    check "$name: SIGUSR1 to mpirun: exit 75 ($rc), checkpoints of the runs in progress ($n)" \
        test $rc -eq 75 -a "$n" -ge 2
    # shellcheck disable=SC2086
    timeout 300 $mpi -n 3 "$EOSWEEP" long.yaml -o "$name-l.h5" --resume >"$name-r.log" 2>&1
    rc=$?
    check "$name: resume on 2 hosts finishes (exit $rc)" test $rc -eq 0
    check "$name: runs continued from their checkpoints" grep -q 'checkpoint at step' "$name-r.log"
    check "$name: interrupted and resumed results equal the one-rank uninterrupted sweep" \
        $PY "$SRC/tests/h5compare.py" ref_l.h5 "$name-l.h5"
}

printf '127.0.0.2 slots=2\n127.0.0.3 slots=2\n' > hosts.lo
run_variant loopback "" hosts.lo lo

# --- network namespaces -----------------------------------------------------------------------
NSA=eosmn$$a
NSB=eosmn$$b
cleanup_ns() {
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
}
trap 'cleanup_ns; rm -rf "$WORK"' EXIT
make_ns() {
    [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null || return 1
    ip netns add "$NSA" && ip netns add "$NSB" &&
        ip link add "v$$a" type veth peer name "v$$b" &&
        ip link set "v$$a" netns "$NSA" && ip link set "v$$b" netns "$NSB" &&
        ip -n "$NSA" addr add 192.0.2.1/24 dev "v$$a" &&
        ip -n "$NSB" addr add 192.0.2.2/24 dev "v$$b" &&
        ip -n "$NSA" link set "v$$a" up && ip -n "$NSB" link set "v$$b" up &&
        ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up
}
if make_ns 2>ns.err; then
    echo "192.0.2.2 $NSB" > "$AGENT_NETNS"
    printf '192.0.2.1 slots=2\n192.0.2.2 slots=2\n' > hosts.ns
    run_variant netns "ip netns exec $NSA unshare --uts $WORK/in_host.sh $NSA" hosts.ns 192.0.2.0/24
    check "netns: the daemon of 192.0.2.2 ran in its own namespace" grep -qx 192.0.2.2 "$AGENT_LOG"
else
    echo "netns variant skipped: network namespaces cannot be made here ($(head -c 200 ns.err))"
fi
summary
