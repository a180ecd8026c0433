#!/usr/bin/env bash
# `cmake --install` into a private prefix: the installed eosweep runs a sweep, and from a
# directory outside the checkout Debian's /usr/bin/python3 loads its results with the installed
# package `eosweep_analysis` (two lines) and runs its command line.
source "$(dirname "$0")/cli_lib.sh"

BIN=${EOS_BINARY_DIR:-$(dirname "$EOSWEEP")}
PREFIX=$WORK/prefix
cmake --install "$BIN" --prefix "$PREFIX" >install.log 2>&1
rc=$?
check "cmake --install: exit 0 ($(grep -m1 -i error install.log))" test $rc -eq 0
check "eosweep installed in PREFIX/bin" test -x "$PREFIX/bin/eosweep"
pkg=$(ls -d "$PREFIX"/lib/python3*/dist-packages/eosweep_analysis 2>/dev/null | head -1)
check "eosweep_analysis installed in PREFIX/lib/python3.X/dist-packages ($pkg)" test -f "$pkg/__init__.py"

mkdir -p elsewhere && cd elsewhere
small_sweep s.yaml 40
"$PREFIX/bin/eosweep" s.yaml -o s.h5 --quiet >/dev/null 2>err
rc=$?
check "the installed eosweep runs a sweep ($(head -c 200 err))" test $rc -eq 0
export PYTHONPATH=$(dirname "$pkg") # what /usr/local/lib/python3.X/dist-packages is by default
out=$($PY -c "
import eosweep_analysis as ea
df = ea.load('s.h5')
print(len(df), ea.__file__)" 2>&1)
check "import eosweep_analysis outside the checkout loads the file into pandas ($out)" \
    grep -q "^12 $PREFIX" <<<"$out"
$PY -m eosweep_analysis summary s.h5 >summary.txt 2>&1
rc=$?
check "python3 -m eosweep_analysis summary: exit 0 ($(head -c 200 summary.txt))" test $rc -eq 0
summary
