#!/usr/bin/env bash
# The BLAS kernel: where OpenBLAS fell back to a generic kernel on a CPU that runs AVX-512 or
# AVX2+FMA, eosweep executes itself again with OPENBLAS_CORETYPE set to the better kernel (also on
# every rank under mpirun); it never overrides an OPENBLAS_CORETYPE that is set, goes on with a
# warning if the exec fails, and reports the kernel in --version, --verbose and the results file's
# blas_core attribute. The real fallback is tested where OpenBLAS falls back on this CPU; on any
# CPU with AVX2+FMA it is simulated by the LD_PRELOAD shim tests/blas/fake_corename.c.
source "$(dirname "$0")/cli_lib.sh"
unset OPENBLAS_CORETYPE OPENBLAS_VERBOSE
SHIM=${EOS_BINARY_DIR:-$(dirname "$EOSWEEP")}/libeos_fake_corename.so
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 # the shim, under ASan

flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { for f; do [[ $flags == *" $f "* ]] || return 1; done; }
if has avx512f avx512cd avx512bw avx512dq avx512vl; then BEST=SkylakeX
elif has avx2 fma; then BEST=Haswell
else BEST=; fi
# OpenBLAS 0.3.21's kernels for SSE2-SSE4.2 or plain AVX (docs/performance.md)
generic() { [[ ${1,,} =~ ^(katmai|coppermine|northwood|prescott|banias|atom|core2|penryn|dunnington|nehalem|athlon|opteron|opteron_sse3|barcelona|nano|bobcat|sandybridge)$ ]]; }
# version_core [ENV...]: the kernel --version reports; loads [ENV...]: how many times OpenBLAS
# was loaded on the way (1 + re-executions), from the "Core: X" line it prints at OPENBLAS_VERBOSE=2.
version_core() { env "$@" "$EOSWEEP" --version | sed -n 's/.*, OpenBLAS \(.*\))$/\1/p'; }
loads() { env OPENBLAS_VERBOSE=2 "$@" "$EOSWEEP" --version 2>&1 >/dev/null | grep -c '^Core: '; }
attr() { $PY -c 'import h5py, sys; print(h5py.File(sys.argv[1], "r").attrs["blas_core"])' "$1"; }
# reexecs LOG: pids that started without OPENBLAS_CORETYPE and then again with it set to $BEST
reexecs() { awk -v best="$BEST" '$2 == "load" && $3 == "(unset)" { u[$1] = 1 }
    $2 == "load" && $3 == best && u[$1] { n++; delete u[$1] } END { print n + 0 }' "$1"; }

DEFAULT=$(OPENBLAS_VERBOSE=2 "$EOSWEEP" --version 2>&1 >/dev/null | sed -n '1s/^Core: //p')
CHOSEN=$(version_core)
echo "this CPU: best kernel '${BEST:-none}', OpenBLAS's own choice '${DEFAULT:-not reported}'," \
     "eosweep runs '$CHOSEN'"
if [ -z "$DEFAULT" ]; then
    echo "OpenBLAS does not report its kernel at OPENBLAS_VERBOSE=2 (not DYNAMIC_ARCH?): real-CPU checks skipped"
elif [ -n "$BEST" ] && generic "$DEFAULT"; then
    check "OpenBLAS's fallback $DEFAULT is replaced by $BEST" test "$CHOSEN" = "$BEST"
    check "... by executing once more" test "$(loads)" -eq 2
else
    echo "OpenBLAS's own $DEFAULT is no generic fallback on this CPU (or the CPU has no AVX2+FMA):" \
         "the real fallback case is skipped (simulated below)"
    check "OpenBLAS's own choice $DEFAULT is kept" test "$CHOSEN" = "$DEFAULT"
    check "... without executing again" test "$(loads)" -eq 1
fi
if [ -n "$DEFAULT" ]; then
    check "OPENBLAS_CORETYPE=Prescott set by the user stays Prescott" \
        test "$(version_core OPENBLAS_CORETYPE=Prescott)" = Prescott
    check "... without executing again" test "$(loads OPENBLAS_CORETYPE=Prescott)" -eq 1
    check "an empty OPENBLAS_CORETYPE counts as set: no exec" test "$(loads OPENBLAS_CORETYPE=)" -eq 1
fi

small_sweep s.yaml 10
"$EOSWEEP" s.yaml -o one.h5 --verbose >/dev/null 2>verbose.txt
check "a run under the default environment: exit 0" test $? -eq 0
check "... its blas_core attribute is what --version said ($CHOSEN)" test "$(attr one.h5)" = "$CHOSEN"
check "--verbose names the kernel once" test "$(grep -c "^eosweep: BLAS kernel: OpenBLAS $CHOSEN " verbose.txt)" -eq 1
OPENBLAS_CORETYPE=Prescott "$EOSWEEP" s.yaml -o pinned.h5 --quiet >/dev/null 2>&1
check "a file made with the Prescott kernel records it" test "$(attr pinned.h5)" = Prescott
"$EOSWEEP" s.yaml -o pinned.h5 --resume --quiet >/dev/null 2>&1
check "... and --resume under another kernel accepts it (attribute unchanged)" \
    test $? -eq 0 -a "$(attr pinned.h5)" = Prescott
$MPIRUN -n 2 "$EOSWEEP" s.yaml -o mpi.h5 --quiet >/dev/null 2>&1
check "2 ranks, default environment: exit 0 and blas_core $CHOSEN" \
    test $? -eq 0 -a "$(attr mpi.h5)" = "$CHOSEN"

if [ -z "$BEST" ] || [ ! -f "$SHIM" ]; then
    echo "no AVX2+FMA on this CPU or no $SHIM: the simulated fallback is skipped"
else
    fake() { env LD_PRELOAD="$SHIM" EOS_FAKE_LOG="$WORK/$1" "${@:2}"; }
    check "simulated fallback (Prescott): --version reports $BEST" \
        test "$(fake v.log "$EOSWEEP" --version | sed -n 's/.*, OpenBLAS \(.*\))$/\1/p')" = "$BEST"
    check "... after executing itself once" test "$(reexecs v.log)" -eq 1 -a "$(grep -c ' load ' v.log)" -eq 2
    check "simulated fallback with OPENBLAS_CORETYPE=Prescott: stays Prescott, no exec" \
        test "$(fake p.log OPENBLAS_CORETYPE=Prescott "$EOSWEEP" --version | grep -c 'OpenBLAS Prescott)')" -eq 1 \
        -a "$(grep -c ' load ' p.log)" -eq 1
    fake f.log EOS_FAKE_EXEC_FAIL=1 "$EOSWEEP" --version >fail.out 2>fail.err
    check "a failing exec: goes on with the fallback kernel" test $? -eq 0 -a "$(grep -c 'OpenBLAS Prescott)' fail.out)" -eq 1
    check "... and warns once" test "$(grep -c '^eosweep: warning: cannot execute' fail.err)" -eq 1 \
        -a "$(wc -l <fail.err)" -eq 1
    $MPIRUN -n 2 env LD_PRELOAD="$SHIM" EOS_FAKE_LOG="$WORK/m.log" "$EOSWEEP" s.yaml -o fake.h5 --quiet \
        >/dev/null 2>&1
    check "simulated fallback on 2 ranks: exit 0 and blas_core $BEST" test $? -eq 0 -a "$(attr fake.h5)" = "$BEST"
    check "... every rank executed itself again before MPI_Init" test "$(reexecs m.log)" -eq 2
fi
[ $((PASSED + FAILED)) -gt 0 ] || exit 77
summary
