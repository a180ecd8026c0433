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

check "no file named in an error was created" test ! -e bad.h5
"$EOSWEEP" --no-such-flag >/dev/null 2>err.txt
check "unknown option: exit 2" test $? -eq 2
"$EOSWEEP" nonexistent.yaml >/dev/null 2>err.txt
check "missing sweep file: exit 2 and names it" grep -q "nonexistent.yaml" err.txt
summary
