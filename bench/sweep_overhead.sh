#!/bin/bash
# sweep_overhead.sh: the sweep engine's own cost (scheduling + results I/O per run) and its
# parallel efficiency from 1 to 2 ranks. Results and the method: docs/performance.md, "Sweep engine".
#
#   bench/sweep_overhead.sh [BUILD_DIR]        (default /tmp/sw_build; REPEAT=3, WORK=/tmp/sweep_bench,
#                                               PHASES="1 2 3 4" to run only some phases)
#
# Needs eosweep and libeoscore.a in BUILD_DIR:
#   cmake -S . -B /tmp/sw_build -DCMAKE_BUILD_TYPE=Release && make -C /tmp/sw_build -j2 eosweep
# Every rank runs with OMP_NUM_THREADS=1. Runs differ only in train.lr, so each rank generates the
# synthetic data once and what happens between two runs is the engine's work only.
#   1. overhead: the same ~1 ms runs in sweeps of N1 and N2 runs; the marginal cost of a run minus
#      its training time (/runs/wall_seconds) is the per-run overhead, start-up cancelled. Done with
#      the two fsyncs per run as shipped, and with fsync() made a no-op by an LD_PRELOAD shim.
#   2. efficiency: ~0.15 s runs (sharpness on), ~40 s on 1 rank: wall(1) / (2 wall(2)).
#   3. eos_results_write_run timed directly (bench/sweep/write_bench.c): with fsync, with fdatasync in
#      its place, and without (the shim).
#   4. round trip of the request/assign protocol (bench/sweep/pingpong.c).
# Medians of REPEAT repetitions; the load average is printed before each phase (the 2 cores are
# shared: run when `uptime` shows the lowest load).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
B=${1:-/tmp/sw_build}
REPEAT=${REPEAT:-3}
WORK=${WORK:-/tmp/sweep_bench}
N1=${N1:-500}
N2=${N2:-1500}
NEFF=${NEFF:-250}
PHASES=${PHASES:-1 2 3 4}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
export OMP_NUM_THREADS=1
mkdir -p "$WORK"
B=$B "$here/sweep/build.sh"
gen="python3 $here/sweep/gen_sweep.py"
sum="$here/sweep/h5sum.sh"
shim="$B/fsync_shim.so"

want() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
load() { echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# sweep NP YAML [fsync|skip] -> prints "wall_s sum_train_s runs fsync_calls fsync_s"
sweep() {
    local np=$1 yaml=$2 mode=${3:-fsync} out="$WORK/$(basename "$2" .yaml)-$1.h5"
    local t0 t1
    t0=$(date +%s.%N)
    $MPIRUN -n "$np" -x OMP_NUM_THREADS -x LD_PRELOAD="$shim" -x EOS_BENCH_FSYNC="$mode" \
        "$B/eosweep" "$yaml" -o "$out" --force --quiet >/dev/null 2>"$WORK/stderr"
    t1=$(date +%s.%N)
    read -r n s < <($sum "$out" /runs/wall_seconds)
    awk -v t0="$t0" -v t1="$t1" -v s="$s" -v n="$n" '
        /^fsync_shim:/ { c += $4; f += $8 }
        END { printf "%.4f %.4f %d %d %.4f\n", t1 - t0, s, n, c, f }' "$WORK/stderr"
}

echo "== sweep engine benchmark: $(date -u +%FT%TZ), $(getconf _NPROCESSORS_ONLN) cores, REPEAT=$REPEAT"
$gen tiny "$N1" >"$WORK/tiny$N1.yaml"
$gen tiny "$N2" >"$WORK/tiny$N2.yaml"
$gen eff "$NEFF" >"$WORK/eff$NEFF.yaml"

if want 1; then
echo "== 1. per-run overhead: ~1 ms runs, sweeps of $N1 and $N2 runs (marginal cost per run)"
for np in 1 2; do
    for mode in fsync skip; do
        load
        : >"$WORK/ovh"
        for r in $(seq "$REPEAT"); do
            read -r w1 s1 _ c1 f1 < <(sweep "$np" "$WORK/tiny$N1.yaml" "$mode")
            read -r w2 s2 _ c2 f2 < <(sweep "$np" "$WORK/tiny$N2.yaml" "$mode")
            # rank-seconds not spent training, per extra run; fsync seconds per extra run
            awk -v np="$np" -v w1="$w1" -v s1="$s1" -v w2="$w2" -v s2="$s2" -v f1="$f1" -v f2="$f2" \
                -v c1="$c1" -v c2="$c2" -v d=$((N2 - N1)) 'BEGIN {
                ovh = (np * (w2 - w1) - (s2 - s1)) / d; run = (s2 - s1) / d
                printf "%.6f %.6f %.6f %.2f %.4f %.4f\n", ovh, run, (f2 - f1) / d, (c2 - c1) / d, w1, w2 }' \
                >>"$WORK/ovh"
        done
        printf "  %d rank(s), fsync %-5s: overhead %.3f ms/run (median of %s: %s ms), training %.3f ms/run, fsync %.3f ms/run (%s calls/run), walls %s s\n" \
            "$np" "$mode" "$(cut -d' ' -f1 "$WORK/ovh" | median | awk '{print 1e3 * $1}')" "$REPEAT" \
            "$(cut -d' ' -f1 "$WORK/ovh" | awk '{printf "%s%.3f", (NR > 1 ? " " : ""), 1e3 * $1}')" \
            "$(cut -d' ' -f2 "$WORK/ovh" | median | awk '{print 1e3 * $1}')" \
            "$(cut -d' ' -f3 "$WORK/ovh" | median | awk '{print 1e3 * $1}')" \
            "$(cut -d' ' -f4 "$WORK/ovh" | median)" \
            "$(awk '{printf "%s%s/%s", (NR > 1 ? " " : ""), $5, $6}' "$WORK/ovh")"
    done
done

fi
if want 2; then
echo "== 2. parallel efficiency: $NEFF runs of ~0.15 s, 1 vs 2 ranks, OMP_NUM_THREADS=1"
: >"$WORK/eff1"
: >"$WORK/eff2"
for r in $(seq "$REPEAT"); do
    load
    for np in 1 2; do
        read -r w s n c f < <(sweep "$np" "$WORK/eff$NEFF.yaml")
        echo "$w $s $n $c $f" >>"$WORK/eff$np"
        awk -v np="$np" -v w="$w" -v s="$s" -v n="$n" -v f="$f" 'BEGIN {
            printf "  %d rank(s): wall %.2f s, training %.2f s (%.1f ms/run), not training %.2f ms/run = %.2f %% of rank time, fsync %.2f ms/run\n",
                np, w, s, 1e3 * s / n, 1e3 * (np * w - s) / n, 100 * (np * w - s) / (np * w), 1e3 * f / n }'
        [ "$np" = 1 ] || "$here/sweep/h5rank.sh" "$WORK/eff$NEFF-$np.h5" | awk -v w="$w" '{
            printf "    rank %d: %d runs, training %.2f s, not training %.2f s\n", $1, $2, $3, w - $3 }'
    done
done
w1=$(cut -d' ' -f1 "$WORK/eff1" | median)
w2=$(cut -d' ' -f1 "$WORK/eff2" | median)
awk -v a="$w1" -v b="$w2" 'BEGIN { printf "  median wall: 1 rank %.2f s, 2 ranks %.2f s: speed-up %.3f, efficiency %.1f %%\n", a, b, a / b, 100 * a / (2 * b) }'
paste -d' ' "$WORK/eff1" "$WORK/eff2" | awk '{ printf "  pair %d: efficiency %.1f %%\n", NR, 100 * $1 / (2 * $6) }'

fi
if want 3; then
echo "== 3. eos_results_write_run timed directly (2000 rows, 1 rank)"
load
$MPIRUN -n 1 -x LD_PRELOAD="$shim" "$B/write_bench" "$WORK/tiny$N2.yaml" "$WORK/wb.h5" 2000 2>&1 | sed 's/^/  fsync: /'
$MPIRUN -n 1 -x LD_PRELOAD="$shim" -x EOS_BENCH_FSYNC=fdatasync "$B/write_bench" "$WORK/tiny$N2.yaml" "$WORK/wb.h5" 2000 2>&1 | sed 's/^/  fdatasync: /'
$MPIRUN -n 1 -x LD_PRELOAD="$shim" -x EOS_BENCH_FSYNC=skip "$B/write_bench" "$WORK/tiny$N2.yaml" "$WORK/wb.h5" 2000 2>&1 | sed 's/^/  no fsync: /'
$MPIRUN -n 2 -x LD_PRELOAD="$shim" "$B/write_bench" "$WORK/tiny$N2.yaml" "$WORK/wb.h5" 2000 2>&1 | sed 's/^/  2 ranks, fsync: /'

fi
if want 4; then
echo "== 4. request/assign round trip (3 longs up, 1 long back)"
load
$MPIRUN -n 2 "$B/pingpong" probe 20000 | sed 's/^/  /'
$MPIRUN -n 2 "$B/pingpong" sleep 300 | sed 's/^/  /'
fi
