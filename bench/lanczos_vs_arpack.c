/* lanczos_vs_arpack.c: HVPs that src/curv/lanczos.c's Lanczos (full reorthogonalisation) and ARPACK's
 * implicitly restarted Lanczos (dsaupd/dseupd, which = "LA") need on the same operator: the mean
 * Hessian of fc-tanh 784-200-200-10 on Fashion-MNIST (MSE), float64 arithmetic on the float32
 * data and parameters that `bench_core prep DIR` wrote. Build against the float64 library
 * (libeoscore64.a, -DEOS_FLOAT64) and -larpack. Not a test: it prints numbers.
 *
 *   lanczos_vs_arpack ref DIR
 *       float64 reference top-2 eigenvalues at steps 0 and 500 on all n examples (Lanczos,
 *       tol 1e-10) into DIR/ref.txt, for bench_core and bench_core_torch.py.
 *   lanczos_vs_arpack cnnref DIR
 *       the same for cnn-relu on the 1,000 images of `bench_core cnnprep DIR`, at init and step
 *       100, into DIR/cnn_ref.txt (for `bench_core cnn DIR b` and bench_cnn_torch.py).
 *   lanczos_vs_arpack compare DIR [n_sharp]
 *       for each case (point, cold or warm start) and k = 1, 2: the references of both methods at
 *       tight tolerance, then a ladder of tolerances for each method; prints the HVPs of every run
 *       and, per error threshold 1e-3 and 1e-6, the fewest HVPs of a run that met it.
 * Cold start: one Gaussian vector, the same for both methods (ARPACK via info = 1 / resid).
 * Warm start: the top eigenvector of the point 50 steps earlier (what train.c passes). */
#include <arpack/arpack.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eos_config.h"
#include "eos_model.h"
#include "eos_rng.h"
#include "eos_lanczos.h"

#ifndef EOS_FLOAT64
#error "lanczos_vs_arpack needs the float64 build (-DEOS_FLOAT64, libeoscore64.a)"
#endif

typedef struct {
    eos_model *model;
    const double *X, *Y, *w;
    int n;
    size_t np;
} op_ctx;

static int hvp_op(void *ctx, const real *v, real *out)
{
    op_ctx *c = ctx;
    memset(out, 0, c->np * sizeof *out);
    return eos_model_hvp(c->model, c->w, c->X, c->Y, NULL, c->n, 1.0 / c->n, v, out);
}

static int read_f32(const char *dir, const char *name, double *x, size_t count)
{
    int rc = 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    float *buf = NULL;
    FILE *f = fopen(path, "rb");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open (run `bench_core prep %s` first)", path, dir);
    EOS_ALLOC(buf, count);
    size_t r = fread(buf, sizeof(float), count, f);
    EOS_CHECK(r == count, EOS_ERR_FORMAT, "%s: expected %zu floats, got %zu", path, count, r);
    for (size_t i = 0; i < count; i++) x[i] = buf[i];
fail:
    if (f) fclose(f);
    free(buf);
    return rc;
}

/* Top-k by ARPACK from resid0 (NULL: ARPACK's own random start). eig descending. */
static int arpack_top(eos_linop_fn op, void *ctx, int n, int k, int ncv, double tol,
                      const double *resid0, double *eig, double *top, int *nmv)
{
    int rc = 0, ido = 0, info = resid0 ? 1 : 0, lworkl = ncv * (ncv + 8);
    int iparam[11] = {0}, ipntr[11] = {0}, *select = NULL;
    double *resid = NULL, *v = NULL, *workd = NULL, *workl = NULL, *d = NULL;
    EOS_ALLOC(resid, n);
    EOS_ALLOC(v, (size_t)n * ncv);
    EOS_ALLOC(workd, 3 * (size_t)n);
    EOS_ALLOC(workl, lworkl);
    EOS_ALLOC(select, ncv);
    EOS_ALLOC(d, ncv);
    if (resid0) memcpy(resid, resid0, (size_t)n * sizeof *resid);
    iparam[0] = 1;    /* exact shifts */
    iparam[2] = 1000; /* restarts */
    iparam[6] = 1;    /* standard problem */
    *nmv = 0;
    for (;;) {
        dsaupd_c(&ido, "I", n, "LA", k, tol, resid, ncv, v, n, iparam, ipntr, workd, workl,
                 lworkl, &info);
        if (ido != 1 && ido != -1) break;
        EOS_TRY(op(ctx, workd + ipntr[0] - 1, workd + ipntr[1] - 1));
        (*nmv)++;
    }
    EOS_CHECK(info >= 0, EOS_ERR_NUMERIC, "ARPACK dsaupd failed: info %d", info);
    int ierr = 0;
    dseupd_c(1, "A", select, d, v, n, 0.0, "I", n, "LA", k, tol, resid, ncv, v, n, iparam, ipntr,
             workd, workl, lworkl, &ierr);
    EOS_CHECK(ierr == 0, EOS_ERR_NUMERIC, "ARPACK dseupd failed: info %d", ierr);
    for (int i = 0; i < k; i++) eig[i] = d[k - 1 - i]; /* ascending -> descending */
    if (top) memcpy(top, v + (size_t)(k - 1) * n, (size_t)n * sizeof *top);
fail:
    free(resid);
    free(v);
    free(workd);
    free(workl);
    free(select);
    free(d);
    return rc;
}

typedef struct {
    eos_model *model;
    double *X, *Y;
    int n, d, k;
    size_t np;
    double *p[4]; /* steps 0, 50, 450, 500 */
    eos_lanczos lz;
} lva;

static const int steps[4] = {0, 50, 450, 500};

static int lva_setup(lva *S, const char *dir, int max_iter)
{
    int rc = 0;
    char path[1024], key[32];
    long val;
    int n = 0, d = 0, k = 0;
    size_t np = 0;
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *f = fopen(path, "r");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open (run `bench_core prep %s` first)", path, dir);
    while (fscanf(f, "%31s %ld", key, &val) == 2) {
        if (!strcmp(key, "n")) n = (int)val;
        if (!strcmp(key, "d")) d = (int)val;
        if (!strcmp(key, "k")) k = (int)val;
        if (!strcmp(key, "np")) np = (size_t)val;
    }
    fclose(f);
    EOS_CHECK(n > 0 && d > 0 && k > 0 && np > 0, EOS_ERR_FORMAT, "%s: missing n/d/k/np", path);
    eos_config cfg;
    eos_config_default(&cfg); /* fc-tanh 200-200, biases, mse: what bench_core trained */
    const eos_shape in = {EOS_LAYOUT_FLAT, {d}}; /* the prepared inputs, flattened */
    EOS_TRY(eos_model_create(&S->model, &cfg.model, cfg.loss, &in, k, 1000));
    EOS_CHECK(eos_model_nparams(S->model) == np, EOS_ERR_FORMAT, "%s: np %zu is not fc-tanh's %zu",
              path, np, eos_model_nparams(S->model));
    S->n = n, S->d = d, S->k = k, S->np = np;
    EOS_ALLOC(S->X, (size_t)n * d);
    EOS_ALLOC(S->Y, (size_t)n * k);
    EOS_TRY(read_f32(dir, "X.bin", S->X, (size_t)n * d));
    EOS_TRY(read_f32(dir, "Y.bin", S->Y, (size_t)n * k));
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d.bin", steps[i]);
        EOS_ALLOC(S->p[i], np);
        EOS_TRY(read_f32(dir, name, S->p[i], np));
    }
    EOS_TRY(eos_lanczos_create(&S->lz, np, max_iter));
fail:
    return rc;
}

static void lva_free(lva *S)
{
    eos_model_free(S->model);
    free(S->X);
    free(S->Y);
    for (int i = 0; i < 4; i++) free(S->p[i]);
    eos_lanczos_free(&S->lz);
}

static int do_ref(const char *dir)
{
    int rc = 0;
    lva S = {0};
    EOS_TRY(lva_setup(&S, dir, 200));
    char path[1024];
    snprintf(path, sizeof path, "%s/ref.txt", dir);
    FILE *f = fopen(path, "w");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open for writing", path);
    for (int i = 0; i < 4; i += 3) { /* steps 0 and 500 */
        op_ctx c = {S.model, S.X, S.Y, S.p[i], S.n, S.np};
        eos_rng r;
        eos_rng_init(&r, 12345, EOS_RNG_STREAM_SHARP);
        double eig[2];
        int nmv = 0;
        double t0 = eos_now();
        rc = eos_lanczos_run(&S.lz, hvp_op, &c, 2, 1e-10, NULL, &r, eig, NULL, &nmv);
        if (rc) {
            fclose(f);
            goto fail;
        }
        fprintf(f, "p%d %.12g %.12g\n", steps[i], eig[0], eig[1]);
        printf("ref p%d n %d eig %.10f %.10f hvps %d sec %.1f\n", steps[i], S.n, eig[0], eig[1],
               nmv, eos_now() - t0);
    }
    EOS_CHECK(fclose(f) == 0, EOS_ERR_IO, "%s: write failed", path);
fail:
    if (rc) fprintf(stderr, "lanczos_vs_arpack: %s\n", eos_error_msg());
    lva_free(&S);
    return rc;
}

static double rel_err(const double *a, const double *ref, int k)
{
    double e = 0;
    for (int i = 0; i < k; i++) e = fmax(e, fabs(a[i] - ref[i]) / fabs(ref[i]));
    return e;
}

#define LADDER 6
static const double ladder[LADDER] = {1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7};

/* one method on one case: the tolerance ladder until the error is <= 1e-6; best[0], best[1]: the
 * fewest HVPs of a run with error <= 1e-3, <= 1e-6 (-1: none); at[0], at[1]: HVPs with tol = 1e-3,
 * 1e-6 themselves, and err_at their errors. */
static int run_ladder(lva *S, op_ctx *c, int arpack, int k, const double *v0, const double *ref,
                      const char *tag, int *best, int *at, double *err_at)
{
    int rc = 0;
    best[0] = best[1] = at[0] = at[1] = -1;
    for (int li = 0; li < LADDER; li++) {
        double eig[2];
        int nmv = 0;
        eos_rng r;
        eos_rng_init(&r, 777, EOS_RNG_STREAM_SHARP); /* unused when v0 is given */
        if (arpack)
            EOS_TRY(arpack_top(hvp_op, c, (int)S->np, k, 20, ladder[li], v0, eig, NULL, &nmv));
        else
            EOS_TRY(
                eos_lanczos_run(&S->lz, hvp_op, c, k, ladder[li], v0, &r, eig, NULL, &nmv));
        double e = rel_err(eig, ref, k);
        printf("  %s %s k=%d tol %.0e hvps %3d err %.2e\n", tag, arpack ? "arpack " : "lanczos", k,
               ladder[li], nmv, e);
        for (int t = 0; t < 2; t++) {
            double thr = t == 0 ? 1e-3 : 1e-6;
            if (e <= thr && (best[t] < 0 || nmv < best[t])) best[t] = nmv;
            if (ladder[li] == thr) at[t] = nmv, err_at[t] = e;
        }
        if (e <= 1e-6 && li >= 4) break;
    }
fail:
    return rc;
}

static int do_compare(const char *dir, int n_sharp)
{
    int rc = 0;
    lva S = {0};
    double *cold = NULL, *vprev = NULL, *vtmp = NULL;
    EOS_TRY(lva_setup(&S, dir, 200));
    if (n_sharp <= 0 || n_sharp > S.n) n_sharp = S.n;
    EOS_ALLOC(cold, S.np);
    EOS_ALLOC(vprev, S.np);
    EOS_ALLOC(vtmp, S.np);
    eos_rng r;
    eos_rng_init(&r, 2024, EOS_RNG_STREAM_SHARP);
    for (size_t i = 0; i < S.np; i++) cold[i] = eos_rng_normal(&r);
    printf("operator: mean Hessian over the first %d examples, %zu parameters, float64\n", n_sharp,
           S.np);
    /* cases: point index, warm-start source index (-1 cold) */
    static const int cases[4][2] = {{0, -1}, {1, 0}, {3, -1}, {3, 2}};
    printf("TABLE case | k | lanczos HVPs to 1e-3 | arpack HVPs to 1e-3 | lanczos to 1e-6 | "
           "arpack to 1e-6 | lanczos@tol1e-3 | arpack@tol1e-3 | lanczos@tol1e-6 | "
           "arpack@tol1e-6\n");
    for (int ci = 0; ci < 4; ci++) {
        int pi = cases[ci][0], wi = cases[ci][1];
        char tag[64];
        snprintf(tag, sizeof tag, "step%d-%s", steps[pi], wi < 0 ? "cold" : "warm");
        const double *v0 = cold;
        if (wi >= 0) {
            /* train.c's warm start: the previous measurement's top vector */
            op_ctx cw = {S.model, S.X, S.Y, S.p[wi], n_sharp, S.np};
            double e2[2];
            int nmv;
            eos_rng_init(&r, 99, EOS_RNG_STREAM_SHARP);
            EOS_TRY(eos_lanczos_run(&S.lz, hvp_op, &cw, 1, 1e-8, NULL, &r, e2, vprev, &nmv));
            v0 = vprev;
        }
        op_ctx c = {S.model, S.X, S.Y, S.p[pi], n_sharp, S.np};
        /* references: both methods at tight tolerance must agree */
        double refL[2], refA[2];
        int nL = 0, nA = 0;
        eos_rng_init(&r, 5, EOS_RNG_STREAM_SHARP);
        EOS_TRY(eos_lanczos_run(&S.lz, hvp_op, &c, 2, 1e-11, NULL, &r, refL, NULL, &nL));
        EOS_TRY(arpack_top(hvp_op, &c, (int)S.np, 2, 30, 1e-13, NULL, refA, vtmp, &nA));
        printf("%s reference: lanczos %.12g %.12g (%d HVPs), arpack %.12g %.12g (%d HVPs), "
               "rel diff %.1e\n",
               tag, refL[0], refL[1], nL, refA[0], refA[1], nA, rel_err(refL, refA, 2));
        for (int k = 1; k <= 2; k++) {
            int bl[2], ba[2], al[2], aa[2];
            double el[2] = {NAN, NAN}, ea[2] = {NAN, NAN};
            EOS_TRY(run_ladder(&S, &c, 0, k, v0, refA, tag, bl, al, el));
            EOS_TRY(run_ladder(&S, &c, 1, k, v0, refA, tag, ba, aa, ea));
            printf("TABLE %s | %d | %d | %d | %d | %d | %d (%.0e) | %d (%.0e) | %d (%.0e) | %d "
                   "(%.0e)\n",
                   tag, k, bl[0], ba[0], bl[1], ba[1], al[0], el[0], aa[0], ea[0], al[1], el[1],
                   aa[1], ea[1]);
        }
    }
fail:
    if (rc) fprintf(stderr, "lanczos_vs_arpack: %s\n", eos_error_msg());
    free(cold);
    free(vprev);
    free(vtmp);
    lva_free(&S);
    return rc;
}

/* cnnref DIR: the float64 reference top-2 eigenvalues of cnn-relu's mean MSE Hessian on the
 * 1,000 images that `bench_core cnnprep DIR` wrote, at init and step 100 (DIR/cnn_p{0,100}.bin),
 * Lanczos at tol 1e-10, into DIR/cnn_ref.txt for `bench_core cnn DIR b` and bench_cnn_torch.py. */
static int do_cnnref(const char *dir)
{
    int rc = 0;
    char path[1024], key[32];
    double val, *X = NULL, *Y = NULL, *w = NULL;
    int n = 0, d = 0, k = 0;
    size_t np = 0;
    eos_model *model = NULL;
    eos_lanczos lz = {0};
    FILE *out = NULL;
    snprintf(path, sizeof path, "%s/cnn_meta.txt", dir);
    FILE *f = fopen(path, "r");
    EOS_CHECK(f, EOS_ERR_IO, "%s: cannot open (run `bench_core cnnprep %s` first)", path, dir);
    while (fscanf(f, "%31s %lf", key, &val) == 2) {
        if (!strcmp(key, "n")) n = (int)val;
        if (!strcmp(key, "d")) d = (int)val;
        if (!strcmp(key, "k")) k = (int)val;
        if (!strcmp(key, "np")) np = (size_t)val;
    }
    fclose(f);
    EOS_CHECK(n > 0 && d == 784 && k > 0 && np > 0, EOS_ERR_FORMAT, "%s: missing n/d/k/np", path);
    eos_config cfg;
    eos_config_default(&cfg);
    const char *kv[][2] = {{"model.arch", "cnn"},       {"model.channels", "[32, 32]"},
                           {"model.kernel", "3"},        {"model.pool", "max"},
                           {"model.activation", "relu"}, {"model.hidden", "[]"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        EOS_TRY(eos_config_set(&cfg, kv[i][0], kv[i][1]));
    const eos_shape in = {EOS_LAYOUT_IMAGE, {1, 28, 28}};
    EOS_TRY(eos_model_create(&model, &cfg.model, cfg.loss, &in, k, 1000));
    eos_model_set_hvp_cache(model, (size_t)cfg.sharpness.cache_mb << 20);
    EOS_CHECK(eos_model_nparams(model) == np, EOS_ERR_FORMAT, "%s: np %zu is not cnn-relu's %zu",
              path, np, eos_model_nparams(model));
    EOS_ALLOC(X, (size_t)n * d);
    EOS_ALLOC(Y, (size_t)n * k);
    EOS_ALLOC(w, np);
    EOS_TRY(read_f32(dir, "cnn_X.bin", X, (size_t)n * d));
    EOS_TRY(read_f32(dir, "cnn_Y.bin", Y, (size_t)n * k));
    EOS_TRY(eos_lanczos_create(&lz, np, 300));
    snprintf(path, sizeof path, "%s/cnn_ref.txt", dir);
    out = fopen(path, "w");
    EOS_CHECK(out, EOS_ERR_IO, "%s: cannot open for writing", path);
    static const int pts[2] = {0, 100};
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "cnn_p%d.bin", pts[i]);
        EOS_TRY(read_f32(dir, name, w, np));
        op_ctx c = {model, X, Y, w, n, np};
        eos_rng r;
        eos_rng_init(&r, 12345, EOS_RNG_STREAM_SHARP);
        double eig[2];
        int nmv = 0;
        double t0 = eos_now();
        EOS_TRY(eos_lanczos_run(&lz, hvp_op, &c, 2, 1e-10, NULL, &r, eig, NULL, &nmv));
        fprintf(out, "p%d %.12g %.12g\n", pts[i], eig[0], eig[1]);
        printf("cnnref p%d n %d eig %.10f %.10f hvps %d sec %.1f\n", pts[i], n, eig[0], eig[1], nmv,
               eos_now() - t0);
    }
    int cl = fclose(out);
    out = NULL;
    EOS_CHECK(cl == 0, EOS_ERR_IO, "%s: write failed", path);
fail:
    if (rc) fprintf(stderr, "lanczos_vs_arpack: %s\n", eos_error_msg());
    if (out) fclose(out);
    eos_model_free(model);
    eos_lanczos_free(&lz);
    free(X);
    free(Y);
    free(w);
    return rc;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "ref") == 0) return do_ref(argv[2]) ? 1 : 0;
    if (argc >= 3 && strcmp(argv[1], "cnnref") == 0) return do_cnnref(argv[2]) ? 1 : 0;
    if (argc >= 3 && strcmp(argv[1], "compare") == 0)
        return do_compare(argv[2], argc > 3 ? atoi(argv[3]) : 0) ? 1 : 0;
    fprintf(stderr, "usage: lanczos_vs_arpack ref DIR | cnnref DIR | compare DIR [n_sharp]\n");
    return 2;
}
