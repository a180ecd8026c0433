#!/bin/sh
# h5sum.sh FILE DATASET: prints "count sum" of a 1-D float dataset (e.g. /runs/wall_seconds).
h5dump -d "$2" -m %.17g -y -w 0 "$1" | awk '/DATA \{/{on=1; next} on && /\}/{on=0} on {
    gsub(/,/, " "); for (i = 1; i <= NF; i++) { n++; s += $i } } END { printf "%d %.9f\n", n, s }'
