# Shared helpers for the cli_*.sh end-to-end tests (sourced, not run).
set -u
EOSWEEP=${1:?usage: $0 path/to/eosweep}
PY=/usr/bin/python3
SRC=${EOS_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
MPIRUN="${MPIEXEC:-mpirun} --allow-run-as-root --oversubscribe"
WORK=$(mktemp -d /tmp/eosweep-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
PASSED=0
FAILED=0
ok() { echo "[  OK  ] $*"; PASSED=$((PASSED + 1)); }
bad() { echo "[ FAIL ] $*"; FAILED=$((FAILED + 1)); }
check() { # check "description" command...
    local d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}
summary() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
# A small sweep on synthetic data: 12 runs of a few hundred milliseconds each.
small_sweep() {
    cat > "$1" <<YAML
name: small
seed: 0
data:      {source: teacher-student, dim: 10, n_out: 3, teacher_hidden: 8, n_train: 256, n_test: 64, standardize: false}
model:     {arch: mlp, hidden: [24, 24], activation: tanh}
loss: mse
train:     {optimizer: gd, lr: 0.05, batch_size: full, max_steps: ${2:-60}, record_every: 5}
sharpness: {every: 20, k: 2, tol: 1.0e-3, chunk: 128}
grid:
  - {train.optimizer: [gd, adam], train.lr: [0.02, 0.05], seed: [0, 1]}
  - {train.optimizer: [sgd], train.batch_size: [32, 64], train.lr: [0.05], seed: [0, 1]}
YAML
}
