#!/usr/bin/env bash
# Refactors change no bit: the reference sweep (tests/bitwise/reference.yaml: every model,
# optimizer, data source and curvature measure on tiny problems) must reproduce
# tests/bitwise/reference.h5 exactly, dataset by dataset (wall_seconds and rank excepted; new
# columns may be added). Bits depend on the build and the BLAS kernel, so the kernel is pinned
# (Prescott runs on every x86-64) and a float64 build skips. A change that is meant to alter
# results regenerates the reference with the command in reference.yaml, in the commit that says why.
source "$(dirname "$0")/cli_lib.sh"

if ! "$EOSWEEP" --version | grep -q float32; then
    echo "reference.h5 is for the float32 build: skipped"
    exit 77
fi
REF="$SRC/tests/bitwise"
for threads in 1 2; do
    OPENBLAS_CORETYPE=Prescott OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads \
        "$EOSWEEP" "$REF/reference.yaml" -o "bw$threads.h5" --quiet >log$threads 2>&1
    check "reference sweep at $threads thread(s): exit 0" test $? -eq 0
    check "reference sweep at $threads thread(s): bitwise equal to reference.h5" \
        $PY "$SRC/tests/h5compare.py" --subset "$REF/reference.h5" "bw$threads.h5"
done
$MPIRUN -n 2 env OPENBLAS_CORETYPE=Prescott OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
    "$EOSWEEP" "$REF/reference.yaml" -o bwmpi.h5 --quiet >logmpi 2>&1
check "reference sweep on 2 ranks: exit 0" test $? -eq 0
check "reference sweep on 2 ranks: bitwise equal to reference.h5" \
    $PY "$SRC/tests/h5compare.py" --subset "$REF/reference.h5" bwmpi.h5
summary
