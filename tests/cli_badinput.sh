#!/usr/bin/env bash
# Bad input: every class gives one clear line naming file:line:col and the key, exit code 2, and
# no output file created or touched.
source "$(dirname "$0")/cli_lib.sh"

base() { # base FILE [extra yaml lines appended]
    cat > "$1" <<YAML
name: bad
data:      {source: synthetic-linear, dim: 4, n_train: 64}
model:     {arch: mlp, hidden: [8], activation: tanh}
train:     {optimizer: gd, lr: 0.05, max_steps: 10, record_every: 5}
sharpness: {every: 5, k: 1}
YAML
}

expect_error() { # expect_error "what" FILE REGEX
    local what=$1 f=$2 re=$3
    rm -f out.h5
    "$EOSWEEP" "$f" -o out.h5 --quiet >out.txt 2>err.txt
    local rc=$?
    check "$what: exit 2 (got $rc)" test $rc -eq 2
    check "$what: one line naming position and key: $(head -c 200 err.txt)" grep -Eq "$re" err.txt
    check "$what: no output file" test ! -e out.h5
}

base ok.yaml
"$EOSWEEP" ok.yaml -o ok.h5 --quiet >/dev/null 2>&1
check "the base sweep itself is valid" test $? -eq 0

printf 'name: bad\ntrain: {lr: [0.1, \n' > syntax.yaml
expect_error "YAML syntax error" syntax.yaml '^eosweep: syntax\.yaml:[0-9]+:[0-9]+: .*(YAML|syntax)'

base unknown.yaml; echo 'trian: {lr: 0.1}' >> unknown.yaml
expect_error "unknown key" unknown.yaml 'unknown\.yaml:6:1: trian'

base unknown2.yaml; printf 'grid:\n  train.lrr: [0.1]\n' >> unknown2.yaml
expect_error "unknown grid axis" unknown2.yaml 'unknown2\.yaml:7:3: train\.lrr'

sed 's/lr: 0.05/lr: fast/' ok.yaml > type.yaml
expect_error "wrong type" type.yaml 'type\.yaml:4:[0-9]+: train\.lr'

sed 's/lr: 0.05/lr: -0.1/' ok.yaml > range.yaml
expect_error "lr <= 0" range.yaml 'range\.yaml:4:[0-9]+: train\.lr'

base gridrange.yaml; printf 'grid:\n  train.lr: [0.1, 0.0]\n' >> gridrange.yaml
expect_error "lr <= 0 in the grid" gridrange.yaml 'gridrange\.yaml:7:[0-9]+: train\.lr'

base empty.yaml; printf 'grid:\n  train.lr: []\n' >> empty.yaml
expect_error "empty list" empty.yaml 'empty\.yaml:7:[0-9]+: train\.lr'

sed 's/optimizer: gd, lr: 0.05/optimizer: sgd, batch_size: 100, lr: 0.05/' ok.yaml > batch.yaml
expect_error "batch larger than the data" batch.yaml 'batch\.yaml:[0-9]+:[0-9]+: .*batch_size'

sed 's/optimizer: gd/optimizer: adamx/' ok.yaml > opt.yaml
expect_error "unknown optimizer" opt.yaml 'opt\.yaml:4:[0-9]+: train\.optimizer.*adamx'

sed 's/activation: tanh/activation: swish/' ok.yaml > act.yaml
expect_error "unknown activation" act.yaml 'act\.yaml:3:[0-9]+: model\.activation.*swish'

cat > missing.yaml <<YAML
name: bad
data: {source: hdf5, path: /nonexistent/data.h5, x: X, y: y}
YAML
expect_error "missing data file" missing.yaml 'missing\.yaml:2:[0-9]+: data\.path.*/nonexistent/data\.h5'

mkdir -p corrupt
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    head -c 1000 /dev/urandom > corrupt/$f.gz
done
cat > corrupt.yaml <<YAML
name: bad
data: {source: fashion-mnist, path: $WORK/corrupt, n_train: 100}
YAML
expect_error "corrupt data file" corrupt.yaml 'corrupt/train-(images|labels)'

# Hardening (issue 13): each of these failed before its fix.
base deep.yaml; { printf 'grid:\n  train.lr: '; head -c 40000 /dev/zero | tr '\0' '['; printf '0.1';
                  head -c 40000 /dev/zero | tr '\0' ']'; echo; } >> deep.yaml
# (the message is the pre-scan's: libyaml, which would take seconds to minutes, never parses it)
expect_error "flow lists nested 40,000 deep" deep.yaml 'deep\.yaml:7:[0-9]+: .*nested more than'

base quoted.yaml; printf 'grid:\n  model.hidden: [["3,4"]]\n' >> quoted.yaml
expect_error "a quoted list entry is not split" quoted.yaml 'quoted\.yaml:7:[0-9]+: model\.hidden.*quoted'

base teacher.yaml; sed -i 's/source: synthetic-linear/source: teacher-student, teacher_hidden: 2000/' teacher.yaml
expect_error "teacher_hidden above the loader's limit, at validation" teacher.yaml 'teacher\.yaml:2:[0-9]+: data\.teacher_hidden'

# the logistic loss: one output and classification data; the binary sources refuse xent
base logistic.yaml; echo 'loss: logistic' >> logistic.yaml
expect_error "logistic on regression data" logistic.yaml 'logistic\.yaml:6:[0-9]+: loss: logistic needs classification data'
base logistic10.yaml; sed -i 's/source: synthetic-linear, dim: 4/source: fashion-mnist/' logistic10.yaml
echo 'loss: logistic' >> logistic10.yaml
expect_error "logistic with 10 outputs" logistic10.yaml 'logistic10\.yaml:6:[0-9]+: loss: logistic needs one output'
base sepxent.yaml; sed -i 's/source: synthetic-linear/source: separable/' sepxent.yaml
echo 'loss: xent' >> sepxent.yaml
expect_error "xent on separable data" sepxent.yaml 'sepxent\.yaml:6:[0-9]+: loss: xent needs one output per class'
base noise.yaml; sed -i 's/source: synthetic-linear/source: xor-clusters, label_noise: 0.6/' noise.yaml
expect_error "label_noise above 0.5" noise.yaml 'noise\.yaml:2:[0-9]+: data\.label_noise'

# --force replaces results files only: never a FIFO or a device
base force.yaml
mkfifo fifo
"$EOSWEEP" force.yaml -o fifo --force --quiet >/dev/null 2>err.txt
check "--force on a FIFO: exit 2 (got $?)" test $? -eq 2
check "--force on a FIFO: it is still a FIFO" test -p fifo
check "--force on a FIFO: one line naming it" grep -q "^eosweep: fifo is not a regular file" err.txt
# a character device of our own (never the system's /dev/null: a regression would replace it)
if mknod chardev c 1 3 2>/dev/null; then
    "$EOSWEEP" force.yaml -o chardev --force --quiet >/dev/null 2>err.txt
    check "--force on a character device: refused" test $? -eq 2
    check "--force on a character device: still a character device" test -c chardev
fi

# a sweep file over HDF5's 1 MiB fill buffer (a grid of ~10^5 listed values is that big)
base big.yaml; { printf '# '; head -c 3000000 /dev/zero | tr '\0' 'x'; echo; } >> big.yaml
"$EOSWEEP" big.yaml -o big.h5 --quiet >/dev/null 2>err.txt
rc=$?
check "3 MB sweep file: exit 0 ($(head -c 200 err.txt))" test $rc -eq 0
check "3 MB sweep file: /sweep holds it verbatim" $PY -c "
import h5py, sys; sys.exit(0 if h5py.File('big.h5')['sweep'][()] == open('big.yaml', 'rb').read() else 1)"

# damaged results files: one line, exit 2, no HDF5 stack, file untouched
cp ok.h5 trunc.h5; truncate -s 13066 trunc.h5; sum=$(sha256sum < trunc.h5)
"$EOSWEEP" ok.yaml -o trunc.h5 --resume --quiet >/dev/null 2>err.txt
check "--resume on a truncated file: exit 2 (got $?)" test $? -eq 2
check "--resume on a truncated file: exactly one line ($(head -c 300 err.txt))" test "$(wc -l < err.txt)" -eq 1
check "--resume on a truncated file: names it as damaged" grep -q "^eosweep: trunc.h5: damaged results file" err.txt
check "--resume on a truncated file: untouched" test "$(sha256sum < trunc.h5)" = "$sum"
$MPIRUN -n 2 "$EOSWEEP" ok.yaml -o trunc.h5 --resume --quiet >/dev/null 2>err.txt
check "--resume on a truncated file, 2 ranks: no MPI_ABORT banner" bash -c "! grep -q MPI_ABORT err.txt"
check "--resume on a truncated file, 2 ranks: eosweep says it once" test "$(grep -c '^eosweep:' err.txt)" -eq 1
cp ok.h5 status.h5
$PY - <<'PYEOF'
import h5py
with h5py.File("status.h5", "r") as f:
    off = f["runs/status"].id.get_offset()
b = bytearray(open("status.h5", "rb").read()); b[off] = 7; open("status.h5", "wb").write(b)
PYEOF
"$EOSWEEP" ok.yaml -o status.h5 --resume --quiet >/dev/null 2>err.txt
check "--resume with status 7: refused as damaged, exit 2 (got $?)" test $? -eq 2
check "--resume with status 7: names the entry" grep -q "status\[0\] = 7" err.txt

# one writer per results file: a second sweep is refused, even with --force, while the first runs
base slow.yaml; sed -i 's/max_steps: 10, record_every: 5/max_steps: 20000000, record_every: 1000000/; s/every: 5, k: 1/every: 0/' slow.yaml
"$EOSWEEP" slow.yaml -o shared.h5 --quiet >/dev/null 2>&1 &
holder=$!
for i in $(seq 50); do [ -e shared.h5 ] && break; sleep 0.1; done
sum=$(sha256sum < shared.h5)
"$EOSWEEP" ok.yaml -o shared.h5 --force --quiet >/dev/null 2>err.txt
check "--force on a file another sweep writes: exit 2 (got $?)" test $? -eq 2
check "--force on a file another sweep writes: one line naming the holder" grep -q "^eosweep: shared.h5 is being written by another eosweep (pid $holder" err.txt
"$EOSWEEP" slow.yaml -o shared.h5 --resume --quiet >/dev/null 2>err.txt
check "--resume on a file another sweep writes: exit 2 (got $?)" test $? -eq 2
check "the first sweep's file is untouched" test "$(sha256sum < shared.h5)" = "$sum"
kill -9 $holder; wait $holder 2>/dev/null
check "kill -9 leaves a stale lock file behind" test -e shared.h5.lock
sed 's/max_steps: 20000000/max_steps: 10/' slow.yaml > slow2.yaml
"$EOSWEEP" ok.yaml -o shared.h5 --force --quiet >/dev/null 2>err.txt
rc=$?
check "a stale lock file (its holder died) does not block: exit 0 ($(head -c 200 err.txt))" test $rc -eq 0
check "a finished sweep removes its lock file" test ! -e shared.h5.lock

base bigk.yaml; sed -i 's/hidden: \[8\]/hidden: []/; s/every: 5, k: 1/every: 5, k: 7/' bigk.yaml
expect_error "sharpness.k above the parameter count, at validation" bigk.yaml 'bigk\.yaml:5:[0-9]+: sharpness\.k: 7 eigenvalues requested, but the model has only 5 parameters'

# non-finite data are bad input, refused before any file exists
$PY -c "
import h5py, numpy as np
x = np.ones((20, 3), 'f4'); x[7, 2] = np.nan
with h5py.File('nan.h5', 'w') as f: f['X'] = x; f['y'] = np.ones((20, 1), 'f4')
y = np.ones((20, 1)); y[4, 0] = np.inf
with h5py.File('inf.h5', 'w') as f: f['X'] = np.ones((20, 3), 'f4'); f['y'] = y"
for bad in nan inf; do
    printf 'name: bad\ndata: {source: hdf5, path: %s.h5, n_train: 20}\nmodel: {hidden: [4]}\ntrain: {max_steps: 5, record_every: 5}\nsharpness: {every: 0}\n' $bad > $bad.yaml
done
expect_error "NaN in an HDF5 X" nan.yaml "nan\.h5: dataset 'X' holds a non-finite value \(nan\) at example 7, column 2"
expect_error "Inf in an HDF5 y" inf.yaml "inf\.h5: dataset 'y' holds a non-finite value \(inf\) at example 4, column 0"

# cifar10 from a single batch file (the loader takes files too), and a 0-byte one
$PY -c "
import numpy as np
r = np.random.default_rng(0); b = np.zeros((20, 3073), 'u1'); b[:, 0] = np.arange(20) % 10
b[:, 1:] = r.integers(0, 256, (20, 3072)); b.tofile('data_batch_1.bin')"
chmod 644 data_batch_1.bin
printf 'name: cifar\ndata: {source: cifar10, path: data_batch_1.bin, n_train: 16}\nmodel: {hidden: [4]}\ntrain: {max_steps: 2, record_every: 1}\nsharpness: {every: 0}\n' > cifar.yaml
"$EOSWEEP" cifar.yaml -o cifar.h5 --quiet >/dev/null 2>err.txt
rc=$?
check "cifar10 path naming one .bin file: exit 0 ($(head -c 200 err.txt))" test $rc -eq 0
: > empty.bin
sed 's/data_batch_1.bin/empty.bin/' cifar.yaml > cifar0.yaml
expect_error "cifar10 from a 0-byte file" cifar0.yaml 'empty\.bin'
check "cifar10 from a 0-byte file: not 'Permission denied'" bash -c "! grep -q 'Permission denied' err.txt"

check "no file named in an error was created" test ! -e bad.h5
"$EOSWEEP" --no-such-flag >/dev/null 2>err.txt
check "unknown option: exit 2" test $? -eq 2
"$EOSWEEP" nonexistent.yaml >/dev/null 2>err.txt
check "missing sweep file: exit 2 and names it" grep -q "nonexistent.yaml" err.txt
summary
