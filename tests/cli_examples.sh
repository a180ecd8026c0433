#!/usr/bin/env bash
# Every example sweep in sweeps/ is valid as it is (expands, validates, finds its data), and its
# header says what it reproduces, what it costs and which report command to run.
source "$(dirname "$0")/cli_lib.sh"
for f in "$SRC"/sweeps/*.yaml; do
    n=$(basename "$f")
    out=$("$EOSWEEP" --dry-run "$f" 2>&1)
    check "$n: --dry-run succeeds ($(tail -1 <<<"$out"))" grep -Eq '^[0-9]+ runs' <<<"$out"
    check "$n: header names the cost" grep -qi '^# .*cost\|minute' "$f"
    check "$n: header names the report command" grep -q '^# .*python3 -m analysis report' "$f"
done
summary
