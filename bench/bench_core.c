/* bench_core.c: the training core on the workload (fc-tanh 784-200-200-10 with biases, the
 * first 5,000 Fashion-MNIST training images standardised, MSE, float32), through the library's
 * real code paths (eos_data_load, eos_model_loss_grad, eos_optim_step, eos_model_hvp,
 * eos_lanczos_run), for comparison with bench_core_torch.py. Not a test: it prints numbers.
 *
 *   bench_core prep DIR   load the data, write DIR/{meta.txt,X.bin,Y.bin} (float32, row-major) and
 *                         the parameters at GD steps 0, 50, 450 and 500 (lr 0.04, full batch) as
 *                         DIR/p{0,50,450,500}.bin, so that both sides and the float64 reference
 *                         work on the very same numbers.
 *   bench_core prep DIR 0 only the data and DIR/p0.bin (the initialisation `eosweep` draws for
 *                         seed 0: bench/run_eos_run.sh).
 *   bench_core run DIR [PARTS]   (PARTS: any of the letters abcht, default abch)
 *                         (a) GD step time and the GEMM peak, (b) top-2 sharpness time at the
 *                         equal-accuracy tolerance (needs DIR/ref.txt from lanczos_vs_arpack ref),
 *                         peak RSS after (a)+(b) = (d), then (c) SGD batch-32 steps per second
 *                         and the fraction of the sgemm rate of its GEMM shapes (in-run pairs);
 *                         (h) one HVP at step 500 with and without the cached linearisation,
 *                         alternating in this process, and the pure-sgemm rate of its GEMMs;
 *                         (t, not in the default) the GD step's loss_grad under model.gemm_tiles
 *                         1, 2, 4, 8, rotating in this process: time relative to the default.
 *   bench_core cnn DIR [PARTS]   cnn-relu (Cohen et al.'s convnet: channels [32, 32], kernel 3,
 *                         max pooling, one linear layer) on the first 1,000 images. (a, default)
 *                         writes DIR/cnn_{meta.txt,X.bin,Y.bin,p0.bin,g0.bin} (data, parameters at
 *                         init, the gradient there) for bench_cnn_torch.py's cross-check, then
 *                         times the GD step and one HVP (medians); (b) top-2 sharpness at equal
 *                         accuracy as in run's (b), at init and step 100 cold, (w) at step 100
 *                         warm from the sum of the step-50 top-2 Ritz vectors (as train.c),
 *                         against DIR/cnn_ref.txt
 *                         (lanczos_vs_arpack cnnref); (g) the pure-sgemm rate of the conv GEMMs
 *                         of the step and the HVP, against (a)'s times.
 *   bench_core cnnprep DIR   the cnn files of (a), then 100 GD steps (lr 0.01) from the init:
 *                         DIR/cnn_p{50,100}.bin, the points of (b).
 *   bench_core tilebits DIR   (DIR unused) whether the GEMM tiling changes bits under the kernel
 *                         OpenBLAS runs (set OPENBLAS_CORETYPE to try others).
 * Threads: OMP_NUM_THREADS (the library runs OpenBLAS single-threaded under its own tiling; the
 * pure-sgemm baseline uses OpenBLAS's threads, set to the same count).
 * Output: one "key value" per line, keys as bench/run_core.sh reads them. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eos_config.h"
#include "eos_data.h"
#include "eos_model.h"
#include "eos_optim.h"
#include "eos_rng.h"
#include "eos_lanczos.h"
#include "eos_blas.h"

#ifdef EOS_FLOAT64
#error "bench_core measures the float32 build"
#endif

#define N_TRAIN 5000
#define CNN_N_TRAIN 1000
#define CHUNK 1000 /* train.c's HVP/eval chunk (sharpness.chunk default) */
#define LR 0.04

static int write_bin(const char *dir, const char *name, const void *p, size_t bytes)
{
    int rc = 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open for writing", path);
    size_t w = fwrite(p, 1, bytes, f);
    int cl = fclose(f);
    EOS_CHECK(w == bytes && cl == 0, EOS_ERR_IO, "%s: write failed", path);
fail:
    return rc;
}

static int read_bin(const char *dir, const char *name, void *p, size_t bytes)
{
    int rc = 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open (run `bench_core prep` first)", path);
    size_t r = fread(p, 1, bytes, f);
    fclose(f);
    EOS_CHECK(r == bytes, EOS_ERR_FORMAT, "%s: expected %zu bytes, got %zu", path, bytes, r);
fail:
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

typedef struct {
    eos_config cfg;
    eos_data data;
    eos_model *model;
    size_t np;
    real *w, *g;
    eos_optim opt;
    eos_lanczos lz;
} bench;

/* fc-tanh on N_TRAIN examples, or (cnn) cnn-relu on CNN_N_TRAIN. */
static int bench_setup(bench *B, int cnn, double lr)
{
    int rc = 0;
    eos_config_default(&B->cfg); /* fashion-mnist, standardize, fc-tanh 200-200, biases, mse, gd */
    B->cfg.data.n_train = cnn ? CNN_N_TRAIN : N_TRAIN;
    B->cfg.train.lr = lr;
    if (cnn) {
        const char *kv[][2] = {{"model.arch", "cnn"},      {"model.channels", "[32, 32]"},
                               {"model.kernel", "3"},       {"model.pool", "max"},
                               {"model.activation", "relu"}, {"model.hidden", "[]"}};
        for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
            EOS_TRY(eos_config_set(&B->cfg, kv[i][0], kv[i][1]));
    }
    EOS_TRY(eos_data_load(&B->data, &B->cfg));
    const eos_dataset *tr = &B->data.train;
    EOS_TRY(eos_model_create(&B->model, &B->cfg.model, B->cfg.loss, &tr->shape, tr->n_out, CHUNK));
    /* as train.c does for the probes: sharpness.cache_mb (default 256 MiB) */
    eos_model_set_hvp_cache(B->model, (size_t)B->cfg.sharpness.cache_mb << 20);
    B->np = eos_model_nparams(B->model);
    EOS_ALLOC(B->w, B->np);
    EOS_ALLOC(B->g, B->np);
    eos_rng r;
    eos_rng_init(&r, B->cfg.seed, EOS_RNG_STREAM_INIT);
    eos_model_init(B->model, B->w, &r);
    EOS_TRY(eos_optim_init(&B->opt, &B->cfg.train, B->np));
fail:
    return rc;
}

static void bench_free(bench *B)
{
    eos_model_free(B->model);
    eos_data_free(&B->data);
    free(B->w);
    free(B->g);
    eos_optim_free(&B->opt);
    eos_lanczos_free(&B->lz);
}

/* One full-batch GD step as train.c takes it: loss (and accuracy) and gradient over the whole
 * training set in chunks, then the update. */
static int gd_step(bench *B, double *loss)
{
    const eos_dataset *tr = &B->data.train;
    double ls = 0, nc = 0;
    eos_zero(B->g, B->np);
    int rc = eos_model_loss_grad(B->model, B->w, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, &ls, &nc,
                                 B->g);
    if (rc) return rc;
    eos_optim_step(&B->opt, B->w, B->g, NULL); /* gd: no further gradients */
    *loss = ls / tr->n;
    return 0;
}

static int do_prep(const char *dir, int last)
{
    int rc = 0;
    bench B = {0};
    EOS_TRY(bench_setup(&B, 0, LR));
    const eos_dataset *tr = &B.data.train;
    char meta[256];
    int len = snprintf(meta, sizeof meta, "n %d\nd %d\nk %d\nnp %zu\nlr %g\n", tr->n, tr->d,
                       tr->n_out, B.np, LR);
    EOS_TRY(write_bin(dir, "meta.txt", meta, (size_t)len));
    EOS_TRY(write_bin(dir, "X.bin", tr->X, (size_t)tr->n * tr->d * sizeof(real)));
    EOS_TRY(write_bin(dir, "Y.bin", tr->Y, (size_t)tr->n * tr->n_out * sizeof(real)));
    double loss = NAN;
    for (int t = 0; t <= last; t++) {
        char name[32];
        if (t == 0 || t == 50 || t == 450 || t == 500) {
            snprintf(name, sizeof name, "p%d.bin", t);
            EOS_TRY(write_bin(dir, name, B.w, B.np * sizeof(real)));
        }
        if (t == last) break;
        EOS_TRY(gd_step(&B, &loss));
        if (t % 100 == 0) printf("prep_loss_step%d %.6f\n", t, loss);
    }
    printf("prep_done %s\n", dir);
fail:
    bench_free(&B);
    return rc;
}

/* ---- (a) the GEMMs of one GD step, for the FLOP count and the pure-sgemm baseline ---------- */

typedef struct {
    int ta, tb, M, N, K;
} gemm_shape;

/* The GEMMs src/model/mlp.c's loss_grad issues for one chunk of nr rows (row-major, its transposes):
 * forward z_l = a W' for l = 1..3, backward dW_l = D' a (l = 3..1), dA = D W (l = 3, 2). */
static int step_gemms(gemm_shape *s, int nr, const int *dm)
{
    int c = 0;
    for (int l = 1; l <= 3; l++) s[c++] = (gemm_shape){0, 1, nr, dm[l], dm[l - 1]};
    for (int l = 3; l >= 1; l--) {
        s[c++] = (gemm_shape){1, 0, dm[l], dm[l - 1], nr};
        if (l > 1) s[c++] = (gemm_shape){0, 0, nr, dm[l - 1], dm[l]};
    }
    return c;
}

/* The GEMMs of one HVP of a chunk with the cached linearisation (src/model/mlp.c): per layer the
 * tangent forward Ra W' and a V' (not a W', cached), the weight products RD' a and D' Ra, and
 * for l > 1 RD W and D V (not D W, cached); layer 1 has no tangent input and no dx. */
static int hvp_cached_gemms(gemm_shape *s, int nr, const int *dm)
{
    int c = 0;
    for (int l = 1; l <= 3; l++) {
        s[c++] = (gemm_shape){0, 1, nr, dm[l], dm[l - 1]};
        if (l > 1) s[c++] = (gemm_shape){0, 1, nr, dm[l], dm[l - 1]};
    }
    for (int l = 3; l >= 1; l--) {
        s[c++] = (gemm_shape){1, 0, dm[l], dm[l - 1], nr};
        if (l == 1) break;
        s[c++] = (gemm_shape){1, 0, dm[l], dm[l - 1], nr};
        s[c++] = (gemm_shape){0, 0, nr, dm[l - 1], dm[l]};
        s[c++] = (gemm_shape){0, 0, nr, dm[l - 1], dm[l]};
    }
    return c;
}

/* Pure cblas_sgemm over the same shapes back to back (OpenBLAS threads = T); returns seconds per
 * step (median of reps, after `warmups` untimed passes) and the step's GEMM FLOPs. rows: examples
 * per GEMM (chunk); hvp: the cached HVP's GEMMs instead of the step's */
static int pure_gemm_passes(int rows, int n, int threads, int reps, int warmups, int hvp,
                            double *sec, double *flops)
{
    int rc = 0;
    const int dm[4] = {784, 200, 200, 10};
    gemm_shape sh[16];
    int ns = hvp ? hvp_cached_gemms(sh, rows, dm) : step_gemms(sh, rows, dm);
    size_t big = 0;
    double fl = 0;
    for (int i = 0; i < ns; i++) {
        size_t a = (size_t)sh[i].M * sh[i].K, b = (size_t)sh[i].K * sh[i].N,
               c = (size_t)sh[i].M * sh[i].N;
        big = a > big ? a : big;
        big = b > big ? b : big;
        big = c > big ? c : big;
        fl += 2.0 * sh[i].M * sh[i].N * sh[i].K;
    }
    float *A = NULL, *Bm = NULL, *C = NULL;
    double *t = NULL;
    EOS_ALLOC(A, big);
    EOS_ALLOC(Bm, big);
    EOS_ALLOC(C, big);
    EOS_ALLOC(t, reps);
    for (size_t i = 0; i < big; i++) A[i] = Bm[i] = (float)((i % 97) * 0.01 - 0.5);
    openblas_set_num_threads(threads);
    int nchunk = (n + rows - 1) / rows;
    for (int r = -warmups; r < reps; r++) {
        double t0 = eos_now();
        for (int ch = 0; ch < nchunk; ch++)
            for (int i = 0; i < ns; i++) {
                const gemm_shape *g = &sh[i];
                int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
                cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
                            g->tb ? CblasTrans : CblasNoTrans, g->M, g->N, g->K, 1.0f, A, lda, Bm,
                            ldb, g->ta ? 1.0f : 0.0f, C, g->N);
            }
        if (r >= 0) t[r] = eos_now() - t0;
    }
    *sec = median(t, reps);
    *flops = fl * nchunk;
fail:
    free(A);
    free(Bm);
    free(C);
    free(t);
    return rc;
}

static int pure_gemm(int rows, int n, int threads, int reps, int hvp, double *sec, double *flops)
{
    return pure_gemm_passes(rows, n, threads, reps, 2, hvp, sec, flops);
}

/* ---- (b) sharpness ------------------------------------------------------------------------ */

typedef struct {
    bench *B;
    const real *w;
    int hvps;
} hvp_ctx;

/* eos_curv_hvp (src/curv/probes.c): the sharpness set's mean Hessian (5,000 examples) times v */
static int hvp_op(void *ctx, const real *v, real *out)
{
    hvp_ctx *h = ctx;
    const eos_dataset *tr = &h->B->data.train;
    eos_zero(out, h->B->np);
    h->hvps++;
    return eos_model_hvp(h->B->model, h->w, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, v, out);
}

static double rel_err2(const double *eig, const double *ref, int k)
{
    double e = 0;
    for (int i = 0; i < k; i++) e = fmax(e, fabs(eig[i] - ref[i]) / fabs(ref[i]));
    return e;
}

/* One top-2 measurement from the train.c start (cold: the SHARP stream's random vector; warm: v0).
 * Returns seconds. */
static int sharp_once(bench *B, const real *w, double tol, const real *v0, double *eig, real *top,
                      int *nmv, double *sec)
{
    hvp_ctx h = {B, w, 0};
    eos_rng r;
    eos_rng_init(&r, B->cfg.seed, EOS_RNG_STREAM_SHARP);
    double t0 = eos_now();
    int rc = eos_lanczos_run(&B->lz, hvp_op, &h, 2, tol, v0, &r, eig, top, nmv);
    *sec = eos_now() - t0;
    return rc;
}

/* train.c's warm start (eos_curv_top_eig): v, the last solve's top Ritz vector, += its second */
static int warm_top2(bench *B, real *v)
{
    int rc = 0;
    real *y = NULL;
    EOS_ALLOC(y, B->np);
    EOS_TRY(eos_lanczos_ritz(&B->lz, 1, y));
    eos_axpy(v, 1.0, y, B->np);
fail:
    free(y);
    return rc;
}

/* The largest tolerance in the ladder whose result meets rel. error <= 1e-3 against ref: that
 * run's time and HVPs (run_core.sh repeats whole processes and takes the median). */
static int sharp_bench(bench *B, const char *tag, const real *w, const real *v0, const double *ref)
{
    int rc = 0;
    static const double ladder[] = {1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5};
    double eig[2], sec = NAN, best_tol = NAN;
    int nmv = 0;
    for (size_t i = 0; i < sizeof ladder / sizeof *ladder; i++) {
        EOS_TRY(sharp_once(B, w, ladder[i], v0, eig, NULL, &nmv, &sec));
        double e = rel_err2(eig, ref, 2);
        printf("sharp_ladder_%s tol %.0e hvps %d err %.2e eig %.6f %.6f sec %.3f\n", tag, ladder[i],
               nmv, e, eig[0], eig[1], sec);
        if (e <= 1e-3) {
            best_tol = ladder[i];
            break;
        }
    }
    EOS_CHECK(!isnan(best_tol), EOS_ERR_NUMERIC, "%s: no tolerance met 1e-3", tag);
    printf("sharp_%s_tol %.0e\nsharp_%s_hvps %d\nsharp_%s_err %.2e\nsharp_%s_sec %.4f\n", tag,
           best_tol, tag, nmv, tag, rel_err2(eig, ref, 2), tag, sec);
fail:
    return rc;
}

static int read_ref(const char *dir, const char *file, const char *point, double *ref)
{
    int rc = 0;
    char path[1024], name[64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open (run `lanczos_vs_arpack %s %s` first)", path,
              strcmp(file, "ref.txt") ? "cnnref" : "ref", dir);
    int found = 0;
    double a, b;
    while (fscanf(f, "%63s %lf %lf", name, &a, &b) == 3)
        if (strcmp(name, point) == 0) ref[0] = a, ref[1] = b, found = 1;
    fclose(f);
    EOS_CHECK(found, EOS_ERR_FORMAT, "%s: no line for point %s", path, point);
fail:
    return rc;
}

static int do_run(const char *dir, const char *parts)
{
    int rc = 0;
    bench B = {0};
    real *p0 = NULL, *p450 = NULL, *p500 = NULL, *xbin = NULL, *v450 = NULL, *v = NULL, *hv = NULL;
    double *t = NULL, *ratio = NULL, *tc = NULL;
    eos_model *plain = NULL; /* (h): the same network without the cache */
    int threads = omp_get_max_threads();
    EOS_TRY(bench_setup(&B, 0, LR));
    const eos_dataset *tr = &B.data.train;
    size_t np = B.np;
    printf("threads %d\nnparams %zu\n", threads, np);
    /* the torch side reads DIR/X.bin: make sure it is what eos_data_load gives now */
    EOS_ALLOC(xbin, (size_t)tr->n * tr->d);
    EOS_TRY(read_bin(dir, "X.bin", xbin, (size_t)tr->n * tr->d * sizeof(real)));
    EOS_CHECK(memcmp(xbin, tr->X, (size_t)tr->n * tr->d * sizeof(real)) == 0, EOS_ERR_FORMAT,
              "%s/X.bin differs from eos_data_load's data: re-run prep", dir);
    free(xbin);
    xbin = NULL;
    EOS_ALLOC(p0, np);
    EOS_ALLOC(p450, np);
    EOS_ALLOC(p500, np);
    EOS_ALLOC(v450, np);
    EOS_TRY(read_bin(dir, "p0.bin", p0, np * sizeof(real)));
    EOS_TRY(read_bin(dir, "p450.bin", p450, np * sizeof(real)));
    EOS_TRY(read_bin(dir, "p500.bin", p500, np * sizeof(real)));

    const int reps = 20;
    EOS_ALLOC(t, reps);
    /* (a) GD step: 3 warm-up steps, then the median of 20, each timed step followed by one pass
     * of its GEMM shapes through cblas_sgemm: the fraction of the sgemm rate is the median of the
     * per-pair ratios, so a change of the machine's speed between the two does not move it */
    if (strchr(parts, 'a')) {
        eos_copy(B.w, p0, np);
        double loss, *frac = NULL, pass, pass_fl;
        EOS_ALLOC(frac, reps);
        for (int r = -3; r < reps; r++) {
            double t0 = eos_now();
            rc = gd_step(&B, &loss);
            if (r >= 0) t[r] = eos_now() - t0;
            if (rc == 0 && r >= 0) rc = pure_gemm_passes(CHUNK, tr->n, threads, 1, 0, 0, &pass, &pass_fl);
            if (rc) {
                free(frac);
                goto fail;
            }
            if (r >= 0) frac[r] = pass / t[r];
        }
        double step = median(t, reps), frac_pairs = median(frac, reps);
        free(frac);
        /* loss_grad without the update, to show what the update costs */
        for (int r = 0; r < reps; r++) {
            double ls = 0, t0 = eos_now();
            eos_zero(B.g, np);
            EOS_TRY(eos_model_loss_grad(B.model, B.w, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, &ls,
                                        NULL, B.g));
            t[r] = eos_now() - t0;
        }
        double lg = median(t, reps);
        double pure_c, fl_c, pure_full, fl_full;
        EOS_TRY(pure_gemm(CHUNK, tr->n, threads, reps, 0, &pure_c, &fl_c));
        EOS_TRY(pure_gemm(tr->n, tr->n, threads, reps, 0, &pure_full, &fl_full));
        printf("gd_step_sec %.5f\ngd_lossgrad_sec %.5f\ngemm_flops %.0f\n", step, lg, fl_c);
        printf("pure_sgemm_chunk_sec %.5f\npure_sgemm_full_sec %.5f\n", pure_c, pure_full);
        printf("gd_gflops %.2f\npure_sgemm_chunk_gflops %.2f\npure_sgemm_full_gflops %.2f\n",
               fl_c / step * 1e-9, fl_c / pure_c * 1e-9, fl_full / pure_full * 1e-9);
        printf("gemm_peak_frac %.3f\ngemm_peak_frac_pairs %.3f\n", pure_c / step, frac_pairs);
    }

    /* (b) top-2 sharpness at equal accuracy (1e-3) against the float64 reference */
    if (strchr(parts, 'b')) {
        double ref0[2], ref500[2], eig[2], sec;
        int nmv;
        EOS_TRY(read_ref(dir, "ref.txt", "p0", ref0));
        EOS_TRY(read_ref(dir, "ref.txt", "p500", ref500));
        EOS_TRY(eos_lanczos_create(&B.lz, np, B.cfg.sharpness.max_iter)); /* train.c's cap: 100 */
        EOS_TRY(sharp_bench(&B, "init", p0, NULL, ref0));
        EOS_TRY(sharp_bench(&B, "trained", p500, NULL, ref500));
        /* warm start as train.c does every 50 steps: the sum of the top-2 Ritz vectors measured
         * at step 450 */
        EOS_TRY(sharp_once(&B, p450, B.cfg.sharpness.tol, NULL, eig, v450, &nmv, &sec));
        EOS_TRY(warm_top2(&B, v450));
        EOS_TRY(sharp_bench(&B, "trained_warm", p500, v450, ref500));
    }
    long hwm = vm_hwm_kb();
    printf("peak_rss_kb %ld\n", hwm);

    /* (h) the cached linearisation: one HVP at step 500 on a model without the cache and on one
     * whose cache holds the point, in alternating order (A B, B A, ...): the median of per-pair
     * ratios; then the pure-sgemm time of the cached HVP's GEMMs */
    if (strchr(parts, 'h')) {
        const int pairs = 15;
        EOS_ALLOC(v, np);
        EOS_ALLOC(hv, np);
        EOS_ALLOC(ratio, pairs);
        EOS_ALLOC(tc, pairs);
        EOS_TRY(eos_model_create(&plain, &B.cfg.model, B.cfg.loss, &tr->shape, tr->n_out, CHUNK));
        for (size_t i = 0; i < np; i++) v[i] = (real)((i % 13) * 0.1 - 0.6);
        eos_zero(hv, np);
        EOS_TRY(eos_model_hvp(B.model, p500, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, v, hv));
        for (int r = -1; r < pairs; r++) {
            double s[2];
            for (int k = 0; k < 2; k++) {
                int cached = (k + r) % 2 == 0; /* the order alternates */
                eos_zero(hv, np);
                double t0 = eos_now();
                EOS_TRY(eos_model_hvp(cached ? B.model : plain, p500, tr->X, tr->Y, NULL, tr->n,
                                      1.0 / tr->n, v, hv));
                s[cached] = eos_now() - t0;
            }
            if (r >= 0) {
                ratio[r] = s[1] / s[0];
                tc[r] = s[1];
            }
        }
        double pure, fl;
        EOS_TRY(pure_gemm(CHUNK, tr->n, threads, reps, 1, &pure, &fl));
        double cached = median(tc, pairs);
        printf("hvp_cached_over_plain %.3f\nhvp_cached_sec %.5f\nhvp_cached_gemm_flops %.0f\n",
               median(ratio, pairs), cached, fl);
        printf("hvp_cached_gflops %.2f\npure_sgemm_hvp_gflops %.2f\nhvp_cached_peak_frac %.3f\n",
               fl / cached * 1e-9, fl / pure * 1e-9, pure / cached);
        /* block products (LOBPCG's): nb directions in one eos_model_hvp_block against nb single
         * cached products, in-process pairs in alternating order; per product against the pure
         * sgemm pass of the single product's shapes above */
        for (int nb = 2; nb <= 4; nb += 2) {
            real *V = NULL, *HV = NULL;
            EOS_ALLOC(V, (size_t)nb * np);
            EOS_ALLOC(HV, (size_t)nb * np);
            for (size_t i = 0; i < (size_t)nb * np; i++) V[i] = (real)((i % 17) * 0.1 - 0.8);
            for (int r = -1; r < pairs; r++) {
                double s[2];
                for (int k = 0; k < 2; k++) {
                    int blk = (k + r) % 2 == 0;
                    eos_zero(HV, (size_t)nb * np);
                    double t0 = eos_now();
                    if (blk)
                        rc = eos_model_hvp_block(B.model, p500, tr->X, tr->Y, NULL, tr->n,
                                                 1.0 / tr->n, nb, V, HV);
                    for (int j = 0; !blk && !rc && j < nb; j++)
                        rc = eos_model_hvp(B.model, p500, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n,
                                           V + (size_t)j * np, HV + (size_t)j * np);
                    s[blk] = eos_now() - t0;
                }
                if (rc) break;
                if (r >= 0) {
                    ratio[r] = s[1] / s[0];
                    tc[r] = pure / (s[1] / nb);
                }
            }
            free(V);
            free(HV);
            EOS_TRY(rc);
            printf("hvp_block%d_over_single %.3f\nhvp_block%d_peak_frac %.3f\n", nb,
                   median(ratio, pairs), nb, median(tc, pairs));
        }
    }

    /* (t) the cost of model.gemm_tiles: the GD step's loss_grad at p0 with 1, 2 (the default), 4
     * and 8 tiles, one after another in a rotating order, 20 rounds after 2 untimed ones; per
     * tile count the median of its per-round ratio to the default's time */
    if (strchr(parts, 't')) {
        enum { NT = 4, ROUNDS = 20 };
        const int tiles[NT] = {1, EOS_GEMM_TILES_DEFAULT, 4, 8};
        eos_model *tm[NT] = {NULL};
        double tt[NT], rt[NT][ROUNDS];
        for (int i = 0; i < NT && rc == 0; i++) {
            eos_model_cfg mc = B.cfg.model;
            mc.gemm_tiles = tiles[i];
            rc = eos_model_create(&tm[i], &mc, B.cfg.loss, &tr->shape, tr->n_out, CHUNK);
        }
        for (int r = -2; r < ROUNDS && rc == 0; r++) {
            for (int j = 0; j < NT && rc == 0; j++) {
                int i = (j + (r + 2)) % NT; /* rotate who goes first */
                double ls = 0, t0 = eos_now();
                eos_zero(B.g, np);
                rc = eos_model_loss_grad(tm[i], p0, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, &ls,
                                         NULL, B.g);
                tt[i] = eos_now() - t0;
            }
            for (int i = 0; r >= 0 && i < NT; i++) rt[i][r] = tt[i] / tt[1];
        }
        for (int i = 0; i < NT; i++) eos_model_free(tm[i]);
        EOS_TRY(rc);
        for (int i = 0; i < NT; i++)
            printf("lossgrad_tiles%d_over_default %.3f\n", tiles[i], median(rt[i], ROUNDS));
    }

    /* (c) SGD at batch 32, reshuffled every epoch with the tail dropped (train.c's next_batch) */
    if (strchr(parts, 'c')) {
        eos_copy(B.w, p0, np);
        int n = tr->n, b = 32, pos = n, *perm = NULL;
        eos_rng br;
        eos_rng_init(&br, B.cfg.seed, EOS_RNG_STREAM_BATCH);
        EOS_ALLOC(perm, n);
        for (int i = 0; i < n; i++) perm[i] = i;
        const int nsteps = 3000;
        double sps[3], sfrac[3];
        for (int rep = -1; rep < 3; rep++) {
            double t0 = eos_now();
            for (int s = 0; s < nsteps; s++) {
                if (pos + b > n) {
                    eos_rng_shuffle(&br, perm, n);
                    pos = 0;
                }
                const int *idx = perm + pos;
                pos += b;
                double ls = 0;
                eos_zero(B.g, np);
                rc = eos_model_loss_grad(B.model, B.w, tr->X, tr->Y, idx, b, 1.0 / b, &ls, NULL,
                                         B.g);
                if (rc || !isfinite(ls)) {
                    free(perm);
                    EOS_CHECK(rc == 0, rc, "SGD step failed: %s", eos_error_msg());
                    EOS_FAIL(EOS_ERR_NUMERIC, "SGD diverged at step %d", s);
                }
                eos_optim_step(&B.opt, B.w, B.g, NULL);
            }
            if (rep >= 0) sps[rep] = nsteps / (eos_now() - t0);
            /* each timed block followed by the step's GEMM shapes at 32 rows through
             * cblas_sgemm (the median of 1,000 passes): the fraction of the sgemm rate per pair */
            double pass, pass_fl;
            if (rep >= 0) {
                rc = pure_gemm_passes(b, b, threads, 1000, 20, 0, &pass, &pass_fl);
                if (rc) {
                    free(perm);
                    goto fail;
                }
                sfrac[rep] = pass * sps[rep];
            }
        }
        free(perm);
        printf("sgd32_steps_per_sec %.1f\nsgd32_peak_frac_pairs %.3f\n", median(sps, 3),
               median(sfrac, 3));
    }
fail:
    if (rc) fprintf(stderr, "bench_core: %s\n", eos_error_msg());
    eos_model_free(plain);
    free(v);
    free(hv);
    free(ratio);
    free(tc);
    free(t);
    free(p0);
    free(p450);
    free(p500);
    free(v450);
    free(xbin);
    bench_free(&B);
    return rc;
}

/* ---- cnn-relu: data, init and gradient for the cross-check, then the GD step and HVP times ---- */

/* DIR/cnn_{meta.txt,X.bin,Y.bin,p0.bin,g0.bin}: the data, the parameters at init and the gradient
 * there (B->w must hold the init) */
static int cnn_write_common(bench *B, const char *dir)
{
    int rc = 0;
    const eos_dataset *tr = &B->data.train;
    double ls = 0;
    eos_zero(B->g, B->np);
    EOS_TRY(eos_model_loss_grad(B->model, B->w, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, &ls, NULL,
                                B->g));
    char meta[256];
    int len = snprintf(meta, sizeof meta, "n %d\nd %d\nk %d\nnp %zu\nlr %g\nloss0 %.9g\n", tr->n,
                       tr->d, tr->n_out, B->np, LR, ls / tr->n);
    EOS_TRY(write_bin(dir, "cnn_meta.txt", meta, (size_t)len));
    EOS_TRY(write_bin(dir, "cnn_X.bin", tr->X, (size_t)tr->n * tr->d * sizeof(real)));
    EOS_TRY(write_bin(dir, "cnn_Y.bin", tr->Y, (size_t)tr->n * tr->n_out * sizeof(real)));
    EOS_TRY(write_bin(dir, "cnn_p0.bin", B->w, B->np * sizeof(real)));
    EOS_TRY(write_bin(dir, "cnn_g0.bin", B->g, B->np * sizeof(real)));
    printf("cnn_params %zu\ncnn_loss0 %.9g\n", B->np, ls / tr->n);
fail:
    return rc;
}

/* bench_core cnnprep DIR: the common files, then CNN_PREP_STEPS full-batch GD steps at CNN_LR
 * (Cohen et al.'s cnn lr, sweeps/cohen2021_cnn.yaml: 2/lr = 200) from the init, writing the
 * parameters at steps CNN_WARM_STEP and CNN_PREP_STEPS as DIR/cnn_p{50,100}.bin: the points of the
 * sharpness comparison (cold at 0 and 100, warm at 100 from the top vector at 50). */
#define CNN_LR 0.01
#define CNN_WARM_STEP 50
#define CNN_PREP_STEPS 100
static int do_cnnprep(const char *dir)
{
    int rc = 0;
    bench B = {0};
    EOS_TRY(bench_setup(&B, 1, CNN_LR));
    EOS_TRY(cnn_write_common(&B, dir));
    double loss = NAN;
    for (int t = 0; t <= CNN_PREP_STEPS; t++) {
        char name[32];
        if (t == CNN_WARM_STEP || t == CNN_PREP_STEPS) {
            snprintf(name, sizeof name, "cnn_p%d.bin", t);
            EOS_TRY(write_bin(dir, name, B.w, B.np * sizeof(real)));
        }
        if (t == CNN_PREP_STEPS) break;
        EOS_TRY(gd_step(&B, &loss));
        if (t % 10 == 0) printf("cnnprep_loss_step%d %.6f\n", t, loss);
    }
    printf("cnnprep_done %s lr %g steps %d\n", dir, CNN_LR, CNN_PREP_STEPS);
fail:
    bench_free(&B);
    return rc;
}

/* The conv GEMMs src/model/cnn.c issues for one pass of nr examples of cnn-relu [32, 32] (kernel
 * 3, 'same' padding, 2x2 pooling; eos_model_gemm's row-major shapes): layer l has Co = 32 output
 * channels, K = C_{l-1} 9 patch rows and ncol = nr h w columns (h = w = 28, then 14).
 * hvp = 0: loss_grad's W cols (forward), G cols' (weight gradient), W' D (layer 2's input
 * gradient). hvp = 1: eos_model_hvp's W cols, V cols, W rcols (l > 1) forward; RG cols', D rcols'
 * (l > 1), W' D, W' RD, V' D (l > 1). The linear head (1568 -> 10, under 1 % of the FLOPs) is left
 * out. */
static int cnn_gemms(gemm_shape *s, int nr, int hvp)
{
    int c = 0;
    for (int l = 1; l <= 2; l++) {
        const int Co = 32, K = (l == 1 ? 1 : 32) * 9, ncol = nr * (l == 1 ? 784 : 196);
        s[c++] = (gemm_shape){0, 0, Co, ncol, K};
        if (hvp) s[c++] = (gemm_shape){0, 0, Co, ncol, K};
        if (hvp && l > 1) s[c++] = (gemm_shape){0, 0, Co, ncol, K};
        s[c++] = (gemm_shape){0, 1, Co, K, ncol};
        if (hvp && l > 1) s[c++] = (gemm_shape){0, 1, Co, K, ncol};
        if (l > 1) {
            s[c++] = (gemm_shape){1, 0, K, ncol, Co};
            if (hvp) {
                s[c++] = (gemm_shape){1, 0, K, ncol, Co};
                s[c++] = (gemm_shape){1, 0, K, ncol, Co};
            }
        }
    }
    return c;
}

/* The cblas_sgemm calls eos_model_gemm (src/model/mlp.c's gemm) makes for one product under the
 * default model.gemm_tiles: C tiles of at least 64 per side, at least EOS_GEMM_TILES_DEFAULT tiles
 * for products of M N K >= 262144 (halving the larger side, multiples of 16), one single-threaded
 * sgemm per tile over OpenMP threads. A copy of that tiling, so that the baseline issues the very
 * calls the model does, on dummy data. */
static void tiled_sgemm_as(int tiles, float alpha, float beta, int ta, int tb, int M, int N,
                           int K, const float *A, int lda, const float *Bm, int ldb, float *C,
                           int ldc)
{
    int tm = M, tn = N;
    if ((double)M * N * K >= 262144.0) {
        while (((M + tm - 1) / tm) * ((N + tn - 1) / tn) < tiles) {
            if (tm >= tn && tm > 64) tm = (tm / 2 + 15) / 16 * 16;
            else if (tn > 64) tn = (tn / 2 + 15) / 16 * 16;
            else break;
        }
    }
    int mt = (M + tm - 1) / tm, nt = (N + tn - 1) / tn;
#pragma omp parallel for schedule(dynamic, 1) if (mt * nt > 1)
    for (int t = 0; t < mt * nt; t++) {
        int i0 = (t / nt) * tm, j0 = (t % nt) * tn;
        int mm = M - i0 < tm ? M - i0 : tm, nn = N - j0 < tn ? N - j0 : tn;
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    mm, nn, K, alpha, ta ? A + i0 : A + (size_t)i0 * lda, lda,
                    tb ? Bm + (size_t)j0 * ldb : Bm + j0, ldb, beta, C + (size_t)i0 * ldc + j0,
                    ldc);
    }
}

static void tiled_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda,
                        const float *Bm, int ldb, float *C, int ldc)
{
    tiled_sgemm_as(EOS_GEMM_TILES_DEFAULT, 1.0f, 1.0f, ta, tb, M, N, K, A, lda, Bm, ldb, C, ldc);
}

/* Does the tiling change bits under the kernel OpenBLAS runs? The GEMM shapes of the MLP's step,
 * SGD, the block HVP and the cnn, plus odd ones, with alpha 1 and 0.37, beta 0 and 1, each with
 * 2, 4, 8 and 16 tiles against one (N(0,1) operands): prints the kernel, the cases whose results
 * differ in any bit, how many elements and the first (docs/performance.md, "GEMM tiles"). */
static int do_tilebits(void)
{
    static const int sh[][5] = {
        {0, 1, 1000, 200, 784}, {0, 1, 1000, 200, 200}, {0, 1, 1000, 10, 200},
        {1, 0, 10, 200, 1000},  {0, 0, 1000, 200, 10},  {1, 0, 200, 200, 1000},
        {0, 0, 1000, 200, 200}, {1, 0, 200, 784, 1000}, {0, 1, 32, 200, 784},
        {1, 0, 200, 784, 32},   {0, 1, 1000, 400, 200}, {1, 0, 400, 784, 1000},
        {0, 1, 3000, 32, 288},  {1, 0, 32, 288, 3000},  {0, 0, 5000, 288, 32},
        {0, 1, 777, 333, 129},  {1, 0, 333, 129, 777},  {0, 0, 777, 129, 333}};
    const int ns = (int)(sizeof sh / sizeof *sh);
    const size_t big = (size_t)1 << 22;
    int rc = 0, cases = 0, differ = 0;
    float *A = NULL, *Bm = NULL, *C0 = NULL, *C1 = NULL;
    EOS_ALLOC(A, big);
    EOS_ALLOC(Bm, big);
    EOS_ALLOC(C0, big);
    EOS_ALLOC(C1, big);
    eos_rng r;
    eos_rng_init(&r, 1, EOS_RNG_STREAM_INIT);
    for (size_t i = 0; i < big; i++) {
        A[i] = (float)eos_rng_normal(&r);
        Bm[i] = (float)eos_rng_normal(&r);
    }
    openblas_set_num_threads(1);
    for (int k = 0; k < ns; k++) {
        const int ta = sh[k][0], tb = sh[k][1], M = sh[k][2], N = sh[k][3], K = sh[k][4];
        const int lda = ta ? M : K, ldb = tb ? K : N;
        for (int ab = 0; ab < 4; ab++) {
            const float alpha = ab & 1 ? 0.37f : 1.0f, beta = ab & 2 ? 1.0f : 0.0f;
            for (int tiles = 2; tiles <= 16; tiles *= 2) {
                for (size_t i = 0; i < (size_t)M * N; i++) C0[i] = C1[i] = A[i + 7];
                tiled_sgemm_as(1, alpha, beta, ta, tb, M, N, K, A, lda, Bm, ldb, C0, N);
                tiled_sgemm_as(tiles, alpha, beta, ta, tb, M, N, K, A, lda, Bm, ldb, C1, N);
                cases++;
                if (memcmp(C0, C1, sizeof(float) * M * N)) {
                    differ++;
                    long nd = 0, first = -1;
                    for (long i = 0; i < (long)M * N; i++)
                        if (memcmp(C0 + i, C1 + i, sizeof(float))) {
                            if (first < 0) first = i;
                            nd++;
                        }
                    printf("tilebits_differs %s %s M %d N %d K %d alpha %g beta %g tiles %d: %ld "
                           "elements, first (%ld, %ld)\n",
                           ta ? "T" : "N", tb ? "T" : "N", M, N, K, alpha, beta, tiles, nd,
                           first / N, first % N);
                }
            }
        }
    }
    printf("tilebits_kernel %s\ntilebits_cases %d\ntilebits_differ %d\n", eos_blas_core_name(),
           cases, differ);
fail:
    free(A);
    free(Bm);
    free(C0);
    free(C1);
    return rc;
}

/* Pure cblas_sgemm over cnn_gemms' shapes, passes of cc examples over n, back to back, tiled as
 * eos_model_gemm tiles them (OpenBLAS single-threaded inside T OpenMP threads, as in the model):
 * seconds per step or HVP (median of reps) and its conv GEMM FLOPs. */
static int cnn_pure_gemm(int n, int cc, int reps, int hvp, double *sec, double *flops)
{
    int rc = 0;
    gemm_shape sh[16];
    int ns = cnn_gemms(sh, cc, hvp);
    size_t big = 0;
    for (int i = 0; i < ns; i++) {
        size_t a = (size_t)sh[i].M * sh[i].K, b = (size_t)sh[i].K * sh[i].N,
               c = (size_t)sh[i].M * sh[i].N;
        big = a > big ? a : big;
        big = b > big ? b : big;
        big = c > big ? c : big;
    }
    float *A = NULL, *Bm = NULL, *C = NULL;
    double *t = NULL, fl = 0;
    EOS_ALLOC(A, big);
    EOS_ALLOC(Bm, big);
    EOS_ALLOC(C, big);
    EOS_ALLOC(t, reps);
    for (size_t i = 0; i < big; i++) A[i] = Bm[i] = C[i] = (float)((i % 97) * 0.01 - 0.5);
    openblas_set_num_threads(1); /* as eos_model_gemm_begin */
    for (int r = -1; r < reps; r++) {
        fl = 0;
        double t0 = eos_now();
        for (int r0 = 0; r0 < n; r0 += cc) {
            int nr = n - r0 < cc ? n - r0 : cc;
            ns = cnn_gemms(sh, nr, hvp);
            for (int i = 0; i < ns; i++) {
                const gemm_shape *g = &sh[i];
                int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
                tiled_sgemm(g->ta, g->tb, g->M, g->N, g->K, A, lda, Bm, ldb, C, g->N);
                fl += 2.0 * g->M * g->N * g->K;
            }
        }
        if (r >= 0) t[r] = eos_now() - t0;
    }
    *sec = median(t, reps);
    *flops = fl;
fail:
    free(A);
    free(Bm);
    free(C);
    free(t);
    return rc;
}

/* bench_core cnn DIR [PARTS]: (a) the common files, the GD step and one HVP (medians); (b) top-2
 * sharpness at equal accuracy (1e-3 against DIR/cnn_ref.txt from `lanczos_vs_arpack cnnref`) at
 * init and step 100 cold, and (w) at step 100 warm from the step-50 top vector, as sharp_bench
 * does for the MLP; needs `bench_core cnnprep DIR` first; (g) the pure-sgemm time of the GD
 * step's and the HVP's conv GEMMs (cnn_pure_gemm, passes of CNN_PASS examples: cnn.c's 128 MiB workspace
 * bound gives 93 for this network), against the step and HVP of (a) when it ran. */
#define CNN_PASS 93
static int do_cnn(const char *dir, const char *parts)
{
    int rc = 0;
    bench B = {0};
    double *t = NULL;
    real *w0 = NULL, *hv = NULL, *p50 = NULL, *p100 = NULL, *v50 = NULL;
    double step_sec = 0, hvp_sec = 0;
    EOS_TRY(bench_setup(&B, 1, LR));
    const eos_dataset *tr = &B.data.train;
    printf("threads %d\n", omp_get_max_threads());
    EOS_ALLOC(w0, B.np);
    EOS_ALLOC(hv, B.np);
    memcpy(w0, B.w, B.np * sizeof(real));
    if (strchr(parts, 'a')) {
        EOS_TRY(cnn_write_common(&B, dir));
        const int reps = 5;
        EOS_ALLOC(t, reps);
        double loss;
        for (int r = -1; r < reps; r++) { /* one warm-up step */
            double t0 = omp_get_wtime();
            EOS_TRY(gd_step(&B, &loss));
            if (r >= 0) t[r] = omp_get_wtime() - t0;
        }
        step_sec = median(t, reps);
        printf("cnn_gd_step_sec %.6f\n", step_sec);
        for (int r = -1; r < reps; r++) { /* the HVP in direction w0 at the current point */
            eos_zero(hv, B.np);
            double t0 = omp_get_wtime();
            EOS_TRY(eos_model_hvp(B.model, B.w, tr->X, tr->Y, NULL, tr->n, 1.0 / tr->n, w0, hv));
            if (r >= 0) t[r] = omp_get_wtime() - t0;
        }
        hvp_sec = median(t, reps);
        printf("cnn_hvp_sec %.6f\n", hvp_sec);
    }
    if (strchr(parts, 'g')) {
        double ps, pf, hs, hf;
        EOS_TRY(cnn_pure_gemm(tr->n, CNN_PASS, 5, 0, &ps, &pf));
        EOS_TRY(cnn_pure_gemm(tr->n, CNN_PASS, 5, 1, &hs, &hf));
        printf("cnn_step_gemm_flops %.0f\ncnn_pure_sgemm_step_sec %.5f\ncnn_pure_sgemm_step_gflops "
               "%.2f\n", pf, ps, pf / ps * 1e-9);
        printf("cnn_hvp_gemm_flops %.0f\ncnn_pure_sgemm_hvp_sec %.5f\ncnn_pure_sgemm_hvp_gflops "
               "%.2f\n", hf, hs, hf / hs * 1e-9);
        if (step_sec > 0)
            printf("cnn_step_gflops %.2f\ncnn_step_peak_frac %.3f\n", pf / step_sec * 1e-9,
                   ps / step_sec);
        if (hvp_sec > 0)
            printf("cnn_hvp_gflops %.2f\ncnn_hvp_peak_frac %.3f\n", hf / hvp_sec * 1e-9,
                   hs / hvp_sec);
    }
    if (strchr(parts, 'b') || strchr(parts, 'w')) {
        double ref0[2], ref100[2], eig[2], sec;
        int nmv;
        real *chk = NULL;
        EOS_ALLOC(p50, B.np);
        EOS_ALLOC(p100, B.np);
        EOS_ALLOC(v50, B.np);
        /* the prepared init must be this build's init (the reference was computed there) */
        EOS_ALLOC(chk, B.np);
        rc = read_bin(dir, "cnn_p0.bin", chk, B.np * sizeof(real));
        int same = rc == 0 && memcmp(chk, w0, B.np * sizeof(real)) == 0;
        free(chk);
        EOS_TRY(rc);
        EOS_CHECK(same, EOS_ERR_FORMAT, "%s/cnn_p0.bin is not this build's init: re-run cnnprep",
                  dir);
        EOS_TRY(read_bin(dir, "cnn_p50.bin", p50, B.np * sizeof(real)));
        EOS_TRY(read_bin(dir, "cnn_p100.bin", p100, B.np * sizeof(real)));
        EOS_TRY(read_ref(dir, "cnn_ref.txt", "p0", ref0));
        EOS_TRY(read_ref(dir, "cnn_ref.txt", "p100", ref100));
        EOS_TRY(eos_lanczos_create(&B.lz, B.np, B.cfg.sharpness.max_iter));
        if (strchr(parts, 'b')) {
            EOS_TRY(sharp_bench(&B, "cnn_init", w0, NULL, ref0));
            EOS_TRY(sharp_bench(&B, "cnn_trained", p100, NULL, ref100));
        }
        if (strchr(parts, 'w')) {
            /* warm start as train.c does: the sum of the top-2 Ritz vectors measured 50 steps
             * earlier at sharpness.tol */
            double t0 = eos_now();
            EOS_TRY(sharp_once(&B, p50, B.cfg.sharpness.tol, NULL, eig, v50, &nmv, &sec));
            EOS_TRY(warm_top2(&B, v50));
            printf("cnn_warm_source_hvps %d\ncnn_warm_source_sec %.3f\n", nmv, eos_now() - t0);
            EOS_TRY(sharp_bench(&B, "cnn_trained_warm", p100, v50, ref100));
        }
    }
    printf("peak_rss_kb %ld\n", vm_hwm_kb());
fail:
    free(t);
    free(w0);
    free(hv);
    free(p50);
    free(p100);
    free(v50);
    bench_free(&B);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 ||
        (strcmp(argv[1], "prep") != 0 && strcmp(argv[1], "run") != 0 &&
         strcmp(argv[1], "cnn") != 0 && strcmp(argv[1], "cnnprep") != 0 &&
         strcmp(argv[1], "tilebits") != 0)) {
        fprintf(stderr, "usage: bench_core prep DIR [0] | bench_core run DIR [parts of abcht, default abhc] | "
                        "bench_core cnnprep DIR | bench_core tilebits DIR | "
                        "bench_core cnn DIR [parts a, b, w, g; default a]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 3 && strcmp(argv[1], "prep") == 0 && strcmp(argv[3], "0") != 0) {
        fprintf(stderr, "bench_core prep: the only step count accepted is 0\n");
        return 2;
    }
    int rc = strcmp(argv[1], "prep") == 0      ? do_prep(argv[2], argc > 3 ? 0 : 500)
             : strcmp(argv[1], "cnnprep") == 0 ? do_cnnprep(argv[2])
             : strcmp(argv[1], "tilebits") == 0 ? do_tilebits()
             : strcmp(argv[1], "cnn") == 0     ? do_cnn(argv[2], argc > 3 ? argv[3] : "a")
                                               : do_run(argv[2], argc > 3 ? argv[3] : "abhc");
    if (rc && strcmp(argv[1], "run") != 0) fprintf(stderr, "bench_core: %s\n", eos_error_msg());
    return rc ? 1 : 0;
}
