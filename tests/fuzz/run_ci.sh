#!/usr/bin/env bash
# ctest's fuzz_sweep: build eosweep and the fuzz driver with ASan/UBSan (unless this build already
# is one) and fuzz the sweep format for a bounded time (FUZZ_SECONDS, default 40).
# Long runs by hand:  tests/fuzz/fuzz_sweep.py --build BUILD-ASAN --seconds 3600 --seed random
set -euo pipefail
SRC=${1:?usage: run_ci.sh SRC BIN SANITIZED}; BIN=${2:?}; SANITIZED=${3:?}
if [ "$SANITIZED" = ON ]; then
    build=$BIN
else
    build=$BIN/asan
    cmake -S "$SRC" -B "$build" -DEOS_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j2 --target eosweep fuzz_sweep_driver >/dev/null
fi
exec /usr/bin/python3 "$SRC/tests/fuzz/fuzz_sweep.py" --build "$build" --seconds "${FUZZ_SECONDS:-40}" --out "$BIN/fuzz-failures"
