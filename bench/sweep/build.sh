#!/bin/sh
# Builds the sweep benchmark helpers into ${B:-/tmp/sw_build} (eosweep and libeoscore.a must be
# built there first: cmake -S . -B /tmp/sw_build -DCMAKE_BUILD_TYPE=Release && make -C /tmp/sw_build eosweep).
set -e
here=$(cd "$(dirname "$0")" && pwd)
B=${B:-/tmp/sw_build}
gcc -O2 -Wall -Wextra -shared -fPIC "$here/fsync_shim.c" -o "$B/fsync_shim.so" -ldl
mpicc -std=c11 -O2 -Wall -Wextra "$here/pingpong.c" -o "$B/pingpong"
mpicc -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -I"$here/../../include" \
    -I/usr/include/hdf5/openmpi "$here/write_bench.c" -o "$B/write_bench" "$B/libeoscore.a" \
    -L/usr/lib/x86_64-linux-gnu/hdf5/openmpi -lhdf5_hl -lhdf5 -lyaml -lopenblas -lz -fopenmp -lm
