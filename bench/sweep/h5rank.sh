#!/bin/sh
# h5rank.sh FILE: per MPI rank, "rank runs sum_of_wall_seconds" from /runs/rank and /runs/wall_seconds.
dump() { h5dump -d "$2" -m %.17g -y -w 0 "$1" | awk '/DATA \{/{on=1; next} on && /\}/{on=0} on {
    gsub(/,/, " "); for (i = 1; i <= NF; i++) print $i }'; }
dump "$1" /runs/rank >"${TMPDIR:-/tmp}/h5rank.$$.r"
dump "$1" /runs/wall_seconds | paste -d' ' "${TMPDIR:-/tmp}/h5rank.$$.r" - |
    awk '{ n[$1]++; s[$1] += $2 } END { for (r in n) printf "%s %d %.6f\n", r, n[r], s[r] }' | sort -n
rm -f "${TMPDIR:-/tmp}/h5rank.$$.r"
