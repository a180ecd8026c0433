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
# Wait (at most 60 s) until path exists, then a further $2 seconds, so that a loaded (or fast)
# machine's start-up does not decide where a signal lands.
wait_for() {
    for _ in $(seq 600); do [ -e "$1" ] && break; sleep 0.1; done
    sleep "$2"
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
# A sweep whose runs with sharpness.k > 3 fail when they run: a setting only the data file can
# show to be impossible, eigenvalues of a model that, on lin.h5's 2 features, has 3 parameters
# (with the shape known from the configuration, validation refuses it before anything is
# written: cli_badinput.sh). failing_sweep FILE GRID-LINE...: writes lin.h5 and FILE.
failing_sweep() {
    local file=$1
    shift
    $PY -c "
import h5py, numpy as np
r = np.random.default_rng(0); x = r.standard_normal((50, 2)).astype('f4')
with h5py.File('lin.h5', 'w') as f: f['X'] = x; f['y'] = (x @ [1.0, -2.0]).astype('f4')[:, None]"
    cat > "$file" <<YAML
name: fails
data:      {source: hdf5, path: lin.h5, n_train: 50, standardize: false}
model:     {arch: mlp, hidden: []}
train:     {optimizer: gd, lr: 0.05, max_steps: 20, record_every: 5}
sharpness: {every: 10, k: 1}
grid:
YAML
    printf '  %s\n' "$@" >> "$file"
}
