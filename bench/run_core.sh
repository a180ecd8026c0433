#!/bin/bash
# Benchmarks of the training core against PyTorch (results: docs/performance.md, "Training core";
# docs/sharpness.md for the Lanczos-vs-ARPACK part). Not a test: it only prints numbers.
#
# Needs, on top of the README's set-up (build dependencies, dataset-fashion-mnist):
#     apt-get install -y python3-torch python3-scipy libarpack2-dev
# (the PyTorch side runs under /usr/bin/python3, Debian's interpreter that has those packages).
#
# usage: bench/run_core.sh [BUILD_DIR]
#   BUILD_DIR: a CMake build of this tree holding libeoscore.a and libeoscore64.a (default: build
#   one in /tmp/eos_bench_build). Environment:
#     THREADS="1 2"   thread counts (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = torch threads)
#     REPEATS=3       processes per side and thread count; the table shows medians
#     DATA_DIR=/tmp/eos_bench_core   data, parameters and references shared by both sides
#     LVA=1           also run lanczos_vs_arpack compare (slow: ~2,000 float64 HVPs)
#     LVA_N=1000      examples in the Lanczos-vs-ARPACK operator
#     CNN=1           instead: cnn-relu on 1,000 examples (bench_core cnn, bench_cnn_torch.py): (a)
#                     the GD step and one HVP, after checking that PyTorch's loss and gradient at the
#                     same parameters equal eosweep's; (b) top-2 sharpness at equal accuracy (1e-3
#                     against the float64 reference of `lanczos_vs_arpack cnnref`) at init and after
#                     100 GD steps (lr 0.01; cold, and warm from step 50), ours (eos_lanczos_run)
#                     against Cohen et al.'s compute_hvp + eigsh
#     CNN_PARTS=agbw  which parts the CNN=1 processes run: (a), (b) cold, (w) warm (b's step-100
#                     point from the step-50 top vector) and (g) (the pure-sgemm rate of the step's
#                     and the HVP's conv GEMM shapes; ours only, after (a))
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-/tmp/eos_bench_build}
THREADS=${THREADS:-"1 2"}
REPEATS=${REPEATS:-3}
DATA_DIR=${DATA_DIR:-/tmp/eos_bench_core}
PY=/usr/bin/python3

if [ ! -f "$BUILD/libeoscore.a" ] || [ ! -f "$BUILD/libeoscore64.a" ]; then
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    make -C "$BUILD" -j2 eoscore eoscore64 >/dev/null
fi
for lib in libeoscore.a libeoscore64.a; do
    [ -f "$BUILD/$lib" ] || { echo "run_core.sh: $BUILD/$lib missing after the build" >&2; exit 1; }
done
$PY -c 'import torch, scipy' 2>/dev/null ||
    { echo "run_core.sh: $PY cannot import torch/scipy: apt-get install -y python3-torch python3-scipy" >&2; exit 1; }

# Same flags as the library (Release: -O3 -march=x86-64-v2); Debian's parallel HDF5 and Open MPI.
CFLAGS="-std=c11 -O3 -march=x86-64-v2 -Wall -Wextra -fopenmp -D_POSIX_C_SOURCE=200809L -I$SRC/include
  -I/usr/include/hdf5/openmpi -I/usr/lib/x86_64-linux-gnu/openmpi/include"
LIBS="-L/usr/lib/x86_64-linux-gnu/hdf5/openmpi -lhdf5_hl -lhdf5 -lopenblas -lyaml -lz -lm
  -L/usr/lib/x86_64-linux-gnu/openmpi/lib -lmpi"
BIN="$BUILD/bench"
mkdir -p "$BIN" "$DATA_DIR"
# shellcheck disable=SC2086
gcc $CFLAGS "$SRC/bench/bench_core.c" "$BUILD/libeoscore.a" $LIBS -o "$BIN/bench_core"
# shellcheck disable=SC2086
gcc $CFLAGS -DEOS_FLOAT64 "$SRC/bench/lanczos_vs_arpack.c" "$BUILD/libeoscore64.a" -larpack \
    $LIBS -o "$BIN/lanczos_vs_arpack"

echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "# load before: $(uptime)"
if [ "${CNN:-0}" = 1 ]; then
    CNN_PARTS=${CNN_PARTS:-agbw}
    if [ ! -f "$DATA_DIR/cnn_p100.bin" ]; then
        echo "# cnnprep: data + 100 GD steps (lr 0.01) -> $DATA_DIR"
        OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$BIN/bench_core" cnnprep "$DATA_DIR" | tail -3
    fi
    if [ ! -f "$DATA_DIR/cnn_ref.txt" ]; then
        echo "# float64 reference eigenvalues -> $DATA_DIR/cnn_ref.txt"
        OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$BIN/lanczos_vs_arpack" cnnref "$DATA_DIR"
    fi
    LOGS="$DATA_DIR/cnn_logs"
    mkdir -p "$LOGS"
    rm -f "$LOGS"/*.txt
    for t in $THREADS; do
        for r in $(seq 1 "$REPEATS"); do # alternate the sides, as below
            OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$BIN/bench_core" cnn "$DATA_DIR" \
                "$CNN_PARTS" >"$LOGS/ours_t${t}_r${r}.txt"
            OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t \
                $PY "$SRC/bench/bench_cnn_torch.py" "$DATA_DIR" "$t" "$CNN_PARTS" \
                >"$LOGS/torch_t${t}_r${r}.txt"
            echo "# T=$t pair $r done; $(uptime)"
        done
    done
    echo "# load after: $(uptime)"
    $PY - "$LOGS" "$THREADS" <<'EOF'
import glob, os, statistics, sys
logs, threads = sys.argv[1], sys.argv[2].split()
def runs(side, t):
    """one dict per process, in pair order r = 1, 2, ..."""
    out = []
    for f in sorted(glob.glob(os.path.join(logs, "%s_t%s_r*.txt" % (side, t))),
                    key=lambda f: int(f.rsplit("_r", 1)[1].split(".")[0])):
        d = {}
        for line in open(f):
            p = line.split()
            if len(p) == 2:
                try: d[p[0]] = float(p[1])
                except ValueError: pass
        out.append(d)
    return out
def med(rs, key):
    v = [r[key] for r in rs if key in r]
    return statistics.median(v) if v else float("nan")
def ratios(o, p, key):
    """per-pair ratios ours_r / torch_r (the processes ran in alternation, A B A B)"""
    return [a[key] / b[key] for a, b in zip(o, p) if key in a and b.get(key)]
for t in threads:
    o, p = runs("ours", t), runs("torch", t)
    print("\nT=%s threads: cnn-relu [32, 32] on 1,000 Fashion-MNIST images (%d/%d processes; "
          "medians; ours/torch = median of per-pair ratios)" % (t, len(o), len(p)))
    for key in ("cnn_gd_step_sec", "cnn_hvp_sec", "sharp_cnn_init_sec", "sharp_cnn_trained_sec",
                "sharp_cnn_trained_warm_sec"):
        r = ratios(o, p, key)
        if not r: continue
        print("%-28s eosweep %8.3f  PyTorch %8.3f  ours/torch %.3f   (pairs: %s)"
              % (key, med(o, key), med(p, key), statistics.median(r), " ".join("%.3f" % x for x in r)))
        if key.startswith("sharp_"):
            k = key[:-4]
            print("%-28s eosweep %8.4g  PyTorch %8.4g   (tol: eosweep %g, eigsh %g; err: %.2g, %.2g)"
                  % ("    HVPs", med(o, k + "_hvps"), med(p, k + "_hvps"), med(o, k + "_tol"),
                     med(p, k + "_tol"), med(o, k + "_err"), med(p, k + "_err")))
            print("%-28s eosweep %8.4f  PyTorch %8.4f" % ("    s per HVP (incl. solver)",
                  med(o, key) / med(o, k + "_hvps"), med(p, key) / med(p, k + "_hvps")))
    if med(o, "cnn_hvp_gemm_flops") == med(o, "cnn_hvp_gemm_flops"):
        for w in ("step", "hvp"):
            print("(g) %s: conv GEMMs %.3g GFLOP; eosweep %.1f GFLOP/s, pure cblas_sgemm of the same "
                  "shapes %.1f GFLOP/s: %.1f %% of it (per process: %s)"
                  % (w, med(o, "cnn_%s_gemm_flops" % w) * 1e-9, med(o, "cnn_%s_gflops" % w),
                     med(o, "cnn_pure_sgemm_%s_gflops" % w), 100 * med(o, "cnn_%s_peak_frac" % w),
                     " ".join("%.3f" % r["cnn_%s_peak_frac" % w] for r in o
                              if "cnn_%s_peak_frac" % w in r)))
    for key in ("cnn_torch_loss_rel_err", "cnn_torch_grad_rel_err"):
        v = [r[key] for r in p if key in r]
        if v: print("%s (worst) %.3g" % (key, max(v)))
    print("peak RSS MiB: eosweep %.1f  PyTorch %.1f" % (med(o, "peak_rss_kb") / 1024,
                                                       med(p, "peak_rss_kb") / 1024))
EOF
    exit 0
fi
if [ ! -f "$DATA_DIR/p500.bin" ]; then
    echo "# prep: data + 500 GD steps (lr 0.04) -> $DATA_DIR"
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$BIN/bench_core" prep "$DATA_DIR"
fi
if [ ! -f "$DATA_DIR/ref.txt" ]; then
    echo "# float64 reference eigenvalues -> $DATA_DIR/ref.txt"
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$BIN/lanczos_vs_arpack" ref "$DATA_DIR"
fi

LOGS="$DATA_DIR/logs"
mkdir -p "$LOGS"
rm -f "$LOGS"/*.txt
for t in $THREADS; do
    for r in $(seq 1 "$REPEATS"); do
        # alternate the sides so that a change of machine load hits both
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$BIN/bench_core" run "$DATA_DIR" \
            >"$LOGS/ours_t${t}_r${r}.txt"
        OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t \
            $PY "$SRC/bench/bench_core_torch.py" "$DATA_DIR" "$t" >"$LOGS/torch_t${t}_r${r}.txt"
        echo "# T=$t repeat $r done; $(uptime)"
    done
done
echo "# load after: $(uptime)"

$PY - "$LOGS" "$THREADS" <<'EOF'
import glob, os, statistics, sys
logs, threads = sys.argv[1], sys.argv[2].split()
def runs(side, t):
    out = []
    for f in sorted(glob.glob(os.path.join(logs, "%s_t%s_r*.txt" % (side, t)))):
        d = {}
        for line in open(f):
            p = line.split()
            if len(p) == 2:
                try: d[p[0]] = float(p[1])
                except ValueError: pass
        if "sharp_init_sec" in d and d.get("sharp_init_hvps"):
            d["hvp_sec"] = d["sharp_init_sec"] / d["sharp_init_hvps"]  # Lanczos/ARPACK included
        out.append(d)
    return out
def med(rs, key):
    v = [r[key] for r in rs if key in r]
    return statistics.median(v) if v else float("nan")
rows = [("(a) GD step, s", "gd_step_sec", "<= 0.9"),
        ("(b) top-2 sharpness at init, s", "sharp_init_sec", "<= 0.125"),
        ("    HVPs at init", "sharp_init_hvps", ""),
        ("(b) top-2 sharpness, step 500 cold, s", "sharp_trained_sec", "<= 0.125"),
        ("    HVPs, step 500 cold", "sharp_trained_hvps", ""),
        ("(b) top-2 sharpness, step 500 warm, s", "sharp_trained_warm_sec", "<= 0.125"),
        ("    HVPs, step 500 warm", "sharp_trained_warm_hvps", ""),
        ("    time per HVP at init, s", "hvp_sec", ""),
        ("(c) SGD b=32 steps/s", "sgd32_steps_per_sec", ">= 3 (speed-up)"),
        ("(d) peak RSS after (a)+(b), MiB", "peak_rss_kb", "<= 0.333")]
def pair_med(o, p, key):
    """Median over repeats r of ours_r / torch_r: the processes ran in alternation (A B A B)."""
    v = [a[key] / b[key] for a, b in zip(o, p) if key in a and b.get(key)]
    return statistics.median(v) if v else float("nan")
for t in threads:
    o, p = runs("ours", t), runs("torch", t)
    print("\nT=%s threads (medians of %d/%d runs; ours/torch: median of per-pair ratios)"
          % (t, len(o), len(p)))
    print("%-40s %12s %12s %10s  %s" % ("", "eosweep", "PyTorch", "ours/torch", "target"))
    for name, key, target in rows:
        a, b = med(o, key), med(p, key)
        if key == "peak_rss_kb": a, b = a / 1024, b / 1024
        ratio = pair_med(o, p, key)
        if key == "sgd32_steps_per_sec": target = target + "; ratio shown is the speed-up"
        print("%-40s %12.4g %12.4g %10.3f  %s" % (name, a, b, ratio, target))
    for key in ("sharp_init_tol", "sharp_trained_tol", "sharp_trained_warm_tol"):
        print("    %s: eosweep %g, PyTorch eigsh %g" % (key, med(o, key), med(p, key)))
    print("GEMM: %.3g GFLOP per step; step %.1f GFLOP/s; pure cblas_sgemm same shapes (chunks of 1000) "
          "%.1f GFLOP/s, at 5000 rows %.1f GFLOP/s; fraction of pure-sgemm peak %.1f %% (medians of "
          "separate timings), %.1f %% (median of step/sgemm-pass pairs, steadier under load)"
          % (med(o, "gemm_flops") * 1e-9, med(o, "gd_gflops"), med(o, "pure_sgemm_chunk_gflops"),
             med(o, "pure_sgemm_full_gflops"), 100 * med(o, "gemm_peak_frac"),
             100 * med(o, "gemm_peak_frac_pairs")))
    print("HVP with the cached linearisation / without (in-process pairs): %.3f; cached HVP %.1f ms, "
          "%.3g GFLOP, %.1f GFLOP/s; pure cblas_sgemm of its GEMMs %.1f GFLOP/s: %.1f %% of it"
          % (med(o, "hvp_cached_over_plain"), 1e3 * med(o, "hvp_cached_sec"),
             med(o, "hvp_cached_gemm_flops") * 1e-9, med(o, "hvp_cached_gflops"),
             med(o, "pure_sgemm_hvp_gflops"), 100 * med(o, "hvp_cached_peak_frac")))
    if "sgd32_peak_frac_pairs" in o[0]:
        print("SGD b=32: GEMMs of a step (32 rows) through cblas_sgemm / the step (pairs in the "
              "run): %.1f %% of the sgemm rate of its shapes" % (100 * med(o, "sgd32_peak_frac_pairs")))
    if "hvp_block2_over_single" in o[0]:
        print("Block HVP (eos_model_hvp_block, cached) / as many single cached HVPs (in-process "
              "pairs): 2 directions %.3f, 4 directions %.3f; per product %.1f %% / %.1f %% of the "
              "pure-sgemm time of a single product's GEMMs"
              % (med(o, "hvp_block2_over_single"), med(o, "hvp_block4_over_single"),
                 100 * med(o, "hvp_block2_peak_frac"), 100 * med(o, "hvp_block4_peak_frac")))
EOF

if [ "${LVA:-0}" = 1 ]; then
    echo
    echo "# Lanczos vs ARPACK (HVP counts; operator on the first ${LVA_N:-1000} examples)"
    OMP_NUM_THREADS=2 "$BIN/lanczos_vs_arpack" compare "$DATA_DIR" "${LVA_N:-1000}" | grep -E '^(TABLE|step)'
fi
