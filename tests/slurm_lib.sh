# A private one-node SLURM cluster for the tests (sourced, not run): munged, slurmctld and slurmd
# on loopback, with their config, keys, state and logs in one temporary directory, found by the
# clients through SLURM_CONF (the system's /etc/slurm and /etc/munge are neither needed nor used).
#
#   slurm_install        install slurm-wlm and munge with apt-get if missing (skip if impossible)
#   slurm_up DIR         write DIR/slurm.conf, start the daemons, wait for the node to be idle
#   slurm_down           cancel our jobs, stop our daemons and every process they started
#   slurm_wait_job ID S  wait up to S seconds for job ID to leave the queue
#   slurm_skip REASON    print "SKIPPED: REASON" and exit 77 (CTest's SKIP_RETURN_CODE)
#
# Processes are stopped by their pid (pid files), and job processes are found by the SLURM_CONF
# of this cluster in their environment, so nothing belonging to anyone else is touched.

SLURM_DIR=
SLURM_PIDS=

slurm_skip() {
    echo "SKIPPED: $*"
    exit 77
}

slurm_install() {
    local need=0 p
    # The daemons live in /usr/sbin, which a non-root PATH may lack.
    case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
    for p in munged slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
        command -v "$p" >/dev/null 2>&1 || need=1
    done
    [ "$need" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || slurm_skip "SLURM is not installed and installing it needs root"
    command -v apt-get >/dev/null 2>&1 || slurm_skip "SLURM is not installed and there is no apt-get"
    echo "# installing slurm-wlm and munge with apt-get"
    local args="-y -q --no-install-recommends slurm-wlm munge" ok=1 policy=
    # Keep the packages from starting the system's munged and slurm daemons (Debian's policy-rc.d
    # mechanism; only where the image has no policy of its own): the test starts its own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install $args >"$WORK/apt.log" 2>&1; then
        apt-get update -q >>"$WORK/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install $args >>"$WORK/apt.log" 2>&1 || ok=0
    fi
    [ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
    [ "$ok" -eq 1 ] || { tail -5 "$WORK/apt.log"; slurm_skip "apt-get could not install slurm-wlm and munge"; }
    for p in munged slurmctld slurmd sbatch; do
        command -v "$p" >/dev/null 2>&1 || slurm_skip "$p missing after installing slurm-wlm"
    done
}

# A free TCP port on loopback: nothing answers a connection to it.
slurm_free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}

# Show the end of every daemon log (on failure).
slurm_logs() {
    local f
    for f in "$SLURM_DIR"/munged.log "$SLURM_DIR"/slurmctld.log "$SLURM_DIR"/slurmd.log; do
        [ -e "$f" ] && { echo "--- $f"; tail -15 "$f"; }
    done
}

slurm_up() {
    SLURM_DIR=$1
    local d=$SLURM_DIR node hw mem p1 p2 t
    mkdir -p "$d/state" "$d/spool"
    # munged insists on a socket directory everyone can traverse and a key only root can read.
    chmod 755 "$d"
    node=$(hostname -s)
    getent hosts "$node" >/dev/null || slurm_skip "the host name '$node' does not resolve (see /etc/hosts)"
    head -c 1024 /dev/urandom >"$d/munge.key" && chmod 400 "$d/munge.key"
    munged --key-file="$d/munge.key" --socket="$d/munge.sock" --pid-file="$d/munged.pid" \
        --log-file="$d/munged.log" --seed-file="$d/munged.seed" >"$d/munged.out" 2>&1 ||
        { cat "$d/munged.out"; slurm_skip "munged does not start here"; }
    SLURM_PIDS="$SLURM_PIDS $(cat "$d/munged.pid")"

    # The node as slurmd sees it (CPUs and topology; nproc would follow OMP_NUM_THREADS), with
    # half the memory so that a busy machine does not fail the check.
    hw=$(slurmd -C 2>/dev/null | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//')
    case $hw in CPUs=[0-9]*) ;; *) hw="CPUs=$(getconf _NPROCESSORS_ONLN)" ;; esac
    mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
    p1=$(slurm_free_port) && p2=$(slurm_free_port) || slurm_skip "no free TCP port on loopback"
    [ "$p1" != "$p2" ] || p2=$((p1 + 1))
    cat >"$d/slurm.conf" <<EOF
# A one-node test cluster on loopback (tests/slurm_lib.sh).
ClusterName=eostest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$p1
SlurmdPort=$p2
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge.sock
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
MpiDefault=none
# No cgroups in a container: track job processes through /proc, no task binding by SLURM.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Without slurmdbd there is no sacct; this file records every finished job instead.
JobCompType=jobcomp/filetxt
JobCompLoc=$d/jobcomp.log
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# SIGTERM -> SIGKILL delay at a time limit or scancel (default 30 s; the tests are short).
KillWait=10
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 $hw RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$d/slurm.conf
    # Clients (sbatch inside jobs too) must not pick up a surrounding allocation.
    unset SLURM_JOB_ID SLURM_JOBID
    slurmctld -i >"$d/slurmctld.out" 2>&1 || { cat "$d/slurmctld.out"; slurm_logs; slurm_skip "slurmctld does not start here"; }
    for t in $(seq 50); do [ -s "$d/slurmctld.pid" ] && break; sleep 0.1; done
    SLURM_PIDS="$SLURM_PIDS $(cat "$d/slurmctld.pid" 2>/dev/null)"
    slurmd -N "$node" >"$d/slurmd.out" 2>&1 || { cat "$d/slurmd.out"; slurm_logs; slurm_skip "slurmd does not start here"; }
    for t in $(seq 50); do [ -s "$d/slurmd.pid" ] && break; sleep 0.1; done
    SLURM_PIDS="$SLURM_PIDS $(cat "$d/slurmd.pid" 2>/dev/null)"
    for t in $(seq 60); do
        [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ] && return 0
        sleep 0.5
    done
    sinfo 2>&1
    slurm_logs
    slurm_skip "the node did not become idle within 30 s"
}

# Processes of this cluster: the daemons and everything they started carry our SLURM_CONF
# (slurmstepd and job processes inherit it), except munged.
slurm_our_procs() {
    local e p
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}; p=${p%/environ}
        [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
        tr '\0' '\n' 2>/dev/null <"$e" | grep -qxF "SLURM_CONF=$SLURM_DIR/slurm.conf" && echo "$p"
    done
}

slurm_down() {
    [ -n "$SLURM_DIR" ] || return 0
    local p t left
    scancel --user="$(id -un)" 2>/dev/null
    for t in $(seq 40); do
        [ -z "$(squeue -h 2>/dev/null)" ] && break
        sleep 0.5
    done
    for p in $SLURM_PIDS; do kill "$p" 2>/dev/null; done
    for t in $(seq 50); do
        left=
        for p in $SLURM_PIDS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.2
    done
    for p in $left $(slurm_our_procs); do kill -9 "$p" 2>/dev/null; done
    SLURM_DIR=
}

# Wait until job $1 has left the queue (at most $2 seconds); 1 on timeout.
slurm_wait_job() {
    local t
    for t in $(seq $(($2 * 2))); do
        squeue -h -j "$1" 2>/dev/null | grep -q . || return 0
        sleep 0.5
    done
    return 1
}
