/* test_measures.c (float64): the curvature probes as recorded by the trainer, against oracles
 * computed here from the public model/optimizer API: top-k eigenvalues (assembled H and LAPACK),
 * preconditioned sharpness (assembled D H D and LAPACK), Hutchinson trace (exact trace and the
 * estimator's exact variance), directional sharpness of a GD step, and batch sharpness (exact
 * expectation by enumerating every minibatch); the probe table run by itself on a context
 * (eos_curv.h) against the trainer and the oracles, and the HVPs each measurement records. */
#include <stdlib.h>
#include <string.h>

#include "eos_curv.h"
#include "eos_data.h"
#include "eos_model.h"
#include "eos_optim.h"
#include "eos_train.h"
#include "eos_test.h"

extern void dsyev_(const char *, const char *, const int *, double *, const int *, double *,
                   double *, const int *, int *);

static void small_cfg(eos_config *c, int n)
{
    eos_config_default(c);
    c->seed = 3;
    EXPECT(eos_config_set(c, "data.source", "teacher-student") == 0, "%s", eos_error_msg());
    c->data.dim = 4;
    c->data.n_out = 2;
    c->data.teacher_hidden = 3;
    c->data.n_train = n;
    c->data.standardize = 0;
    c->data.center = 0;
    c->model.n_hidden = 1;
    c->model.hidden[0] = 5;
    c->train.lr = 0.1;
    c->train.max_steps = 1;
    c->train.record_every = 1;
    c->sharpness.every = 1;
    c->sharpness.k = 1;
    c->sharpness.tol = 1e-10;
    c->sharpness.precond = 0;
}

typedef struct {
    eos_model *m;
    eos_data d;
    size_t np;
    real *w0; /* the run's initial parameters, rebuilt from the same stream */
} fixture;

static void fixture_make(fixture *f, const eos_config *c)
{
    memset(f, 0, sizeof *f);
    eos_data_load(&f->d, c);
    eos_model_create(&f->m, &c->model, c->loss, &f->d.train.shape, f->d.train.n_out, 64);
    f->np = eos_model_nparams(f->m);
    f->w0 = calloc(f->np, sizeof(real));
    eos_rng r;
    eos_rng_init(&r, c->seed, EOS_RNG_STREAM_INIT);
    eos_model_init(f->m, f->w0, &r);
}

static void fixture_free(fixture *f)
{
    eos_model_free(f->m);
    eos_data_free(&f->d);
    free(f->w0);
}

/* Hessian of the mean loss over rows idx (NULL: all) at w, column by column: H [np, np]. */
static double *hessian(fixture *f, const real *w, const int *idx, int n)
{
    size_t np = f->np;
    double *H = calloc(np * np, sizeof(double));
    real *e = calloc(np, sizeof(real)), *col = calloc(np, sizeof(real));
    for (size_t j = 0; j < np; j++) {
        e[j] = 1;
        memset(col, 0, np * sizeof(real));
        eos_model_hvp(f->m, w, f->d.train.X, f->d.train.Y, idx, n, 1.0 / n, e, col);
        e[j] = 0;
        for (size_t i = 0; i < np; i++) H[j * np + i] = col[i];
    }
    free(e);
    free(col);
    return H;
}

/* Eigenvalues of the symmetric A [n, n] (destroyed), ascending, into w [n]. */
static void eigenvalues(double *A, int n, double *w)
{
    double *work = malloc((size_t)n * 64 * sizeof(double));
    int lw = 64 * n, info;
    dsyev_("N", "U", &n, A, &n, w, work, &lw, &info);
    free(work);
}

static double top_eig(double *A, int n)
{
    double *w = malloc((size_t)n * sizeof(double));
    eigenvalues(A, n, w);
    double t = w[n - 1];
    free(w);
    return t;
}

static void run(const eos_config *c, fixture *f, eos_run_result *r)
{
    eos_run_result_alloc(r, c);
    EXPECT(eos_train_run(c, &f->d, r, NULL) == 0 && r->status == EOS_RUN_DONE, "run: %s", r->message);
}

/* After one Adam step, precond_eig[1] = top eigenvalue of D H(w1) D, D = P^-1/2. */
static void test_precond_sharpness(void)
{
    eos_config c;
    small_cfg(&c, 20);
    c.train.optimizer = eos_optim_find("adam");
    c.train.lr = 0.01;
    c.sharpness.precond = 1;
    fixture f;
    fixture_make(&f, &c);
    eos_run_result r;
    run(&c, &f, &r);
    size_t np = f.np;
    real *w = malloc(np * sizeof(real)), *g = calloc(np, sizeof(real)), *D = malloc(np * sizeof(real));
    memcpy(w, f.w0, np * sizeof(real));
    double ls = 0;
    eos_model_loss_grad(f.m, w, f.d.train.X, f.d.train.Y, NULL, 20, 1.0 / 20, &ls, NULL, g);
    eos_optim o;
    eos_optim_init(&o, &c.train, np);
    eos_optim_step(&o, w, g, NULL);
    EXPECT(eos_optim_precond_isqrt(&o, D) == 1, "adaptive");
    double *H = hessian(&f, w, NULL, 20);
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++) H[i * np + j] *= D[i] * D[j];
    double want = top_eig(H, (int)np);
    const float *pre = test_sharp(&r, "precond_eig", NULL);
    EXPECT(isnan(pre[0]), "no preconditioner at step 0");
    EXPECT_REL(pre[1], want, 1e-6);
    free(H);
    free(w);
    free(g);
    free(D);
    eos_optim_free(&o);
    eos_run_result_free(&r);
    fixture_free(&f);
}

/* Hutchinson with P Rademacher probes: mean tr(H), variance 2 sum_{i != j} H_ij^2 / P. */
static void test_trace(void)
{
    eos_config c;
    small_cfg(&c, 20);
    c.sharpness.trace_probes = 400;
    fixture f;
    fixture_make(&f, &c);
    eos_run_result r;
    run(&c, &f, &r);
    size_t np = f.np;
    double *H = hessian(&f, f.w0, NULL, 20);
    double tr = 0, off = 0;
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++) {
            if (i == j) tr += H[i * np + j];
            else off += H[i * np + j] * H[i * np + j];
        }
    double sd = sqrt(2 * off / 400);
    const float *trace = test_sharp(&r, "trace", NULL);
    EXPECT(fabs(trace[0] - tr) < 4 * sd, "trace estimate %g vs exact %g (sd %g)", trace[0], tr, sd);
    EXPECT(sd < 0.2 * fabs(tr), "test too weak: sd %g vs trace %g", sd, tr);
    free(H);
    eos_run_result_free(&r);
    fixture_free(&f);
}

/* GD's first step u = -lr g: directional sharpness u'Hu/|u|^2 = g'Hg/|g|^2 at w0. */
static void test_directional(void)
{
    eos_config c;
    small_cfg(&c, 20);
    c.sharpness.directional = 1;
    fixture f;
    fixture_make(&f, &c);
    eos_run_result r;
    run(&c, &f, &r);
    size_t np = f.np;
    real *g = calloc(np, sizeof(real)), *hg = calloc(np, sizeof(real));
    double ls = 0;
    eos_model_loss_grad(f.m, f.w0, f.d.train.X, f.d.train.Y, NULL, 20, 1.0 / 20, &ls, NULL, g);
    eos_model_hvp(f.m, f.w0, f.d.train.X, f.d.train.Y, NULL, 20, 1.0 / 20, g, hg);
    double want = eos_dot(g, hg, np) / eos_dot(g, g, np);
    EXPECT_REL(test_sharp(&r, "dir_sharp", NULL)[0], want, 1e-6);
    free(g);
    free(hg);
    eos_run_result_free(&r);
    fixture_free(&f);
}

/* n = 8, batch 3: the expectation over all 56 batches, against the Monte Carlo estimate. */
static void test_batch_sharpness(void)
{
    eos_config c;
    small_cfg(&c, 8);
    c.train.optimizer = eos_optim_find("sgd");
    c.train.batch_size = 3;
    c.sharpness.batch_sharpness = 1;
    c.sharpness.batch_tol = 0.01;
    fixture f;
    fixture_make(&f, &c);
    eos_run_result r;
    run(&c, &f, &r);
    size_t np = f.np;
    real *g = calloc(np, sizeof(real)), *hg = calloc(np, sizeof(real));
    double sum = 0;
    int cnt = 0, idx[3];
    for (idx[0] = 0; idx[0] < 8; idx[0]++)
        for (idx[1] = idx[0] + 1; idx[1] < 8; idx[1]++)
            for (idx[2] = idx[1] + 1; idx[2] < 8; idx[2]++) {
                double ls = 0;
                memset(g, 0, np * sizeof(real));
                memset(hg, 0, np * sizeof(real));
                eos_model_loss_grad(f.m, f.w0, f.d.train.X, f.d.train.Y, idx, 3, 1.0 / 3, &ls, NULL, g);
                eos_model_hvp(f.m, f.w0, f.d.train.X, f.d.train.Y, idx, 3, 1.0 / 3, g, hg);
                sum += eos_dot(g, hg, np) / eos_dot(g, g, np);
                cnt++;
            }
    double want = sum / cnt;
    EXPECT(cnt == 56, "enumeration");
    /* stopped at a relative standard error of 1 %: 4 standard errors */
    const float *bs = test_sharp(&r, "batch_sharp", NULL);
    EXPECT(fabs(bs[0] - want) <= 0.04 * fabs(want), "batch sharpness %g vs exact %g", bs[0], want);
    /* and it is not the full-batch quantity */
    EXPECT(fabs(test_sharp(&r, "eig", NULL)[0] - want) > 0.05 * want,
           "batch sharpness should differ from sharpness here");
    free(g);
    free(hg);
    eos_run_result_free(&r);
    fixture_free(&f);
}

/* The top k = 3 eigenvalues at w0 against LAPACK on the assembled Hessian. */
static void test_top_eigenvalues(void)
{
    eos_config c;
    small_cfg(&c, 20);
    c.sharpness.k = 3;
    fixture f;
    fixture_make(&f, &c);
    eos_run_result r;
    run(&c, &f, &r);
    int np = (int)f.np, k;
    double *H = hessian(&f, f.w0, NULL, 20), *ev = malloc((size_t)np * sizeof(double));
    eigenvalues(H, np, ev);
    const float *eig = test_sharp(&r, "eig", &k);
    EXPECT(k == 3, "eig width %d", k);
    for (int i = 0; i < 3; i++) EXPECT_REL(eig[i], ev[np - 1 - i], 1e-6);
    const float last = eig[(size_t)(r.n_sharp - 1) * 3];
    EXPECT((float)r.final_sharpness == last, "final_sharpness %g is the last top eigenvalue %g",
           r.final_sharpness, last);
    free(H);
    free(ev);
    eos_run_result_free(&r);
    fixture_free(&f);
}

/* The table by itself (eos_curv_setup / eos_curv_measure at an explicit point, no trainer) gives
 * the trainer's values bitwise and the oracles; its services hold their contracts. */
static void test_table_on_a_context(void)
{
    eos_config c;
    small_cfg(&c, 8);
    c.train.optimizer = eos_optim_find("sgd");
    c.train.batch_size = 3;
    c.sharpness.k = 2;
    c.sharpness.trace_probes = 5;
    c.sharpness.batch_sharpness = 1;
    c.sharpness.batch_tol = 0.2;
    fixture f;
    fixture_make(&f, &c);
    eos_run_result r;
    run(&c, &f, &r);
    size_t np = f.np;

    eos_optim o;
    eos_curv_ctx cx;
    eos_curv_traj t;
    memset(&t, 0, sizeof t);
    EXPECT(eos_optim_init(&o, &c.train, np) == 0, "optim");
    EXPECT(eos_curv_setup(&cx, &c, f.m, &f.d.train, 8, 3, &o) == 0, "setup: %s", eos_error_msg());
    size_t n = eos_curv_traj_layout(&t, &c, 1, NULL);
    float *vals = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) vals[i] = NAN;
    int32_t hvps = 0;
    eos_curv_traj_layout(&t, &c, 1, vals);
    t.hvps = &hvps;
    EXPECT(eos_curv_measure(&cx, f.w0, &t, 0) == 0, "measure: %s", eos_error_msg());
    for (int p = 0; p < eos_curv_n_probes; p++) {
        EXPECT(t.width[p] == r.sharp.width[p], "%s: width %d vs %d", eos_curv_probes[p]->name,
               t.width[p], r.sharp.width[p]);
        for (int i = 0; i < t.width[p] && i < r.sharp.width[p]; i++)
            EXPECT(!memcmp(&t.vals[p][i], &r.sharp.vals[p][i], sizeof(float)),
                   "%s[%d]: table %g, trainer %g", eos_curv_probes[p]->name, i, t.vals[p][i],
                   r.sharp.vals[p][i]);
    }
    EXPECT(hvps == r.sharp.hvps[0], "HVPs: table %d, trainer %d", hvps, r.sharp.hvps[0]);
    double *H = hessian(&f, f.w0, NULL, 8), *ev = malloc(np * sizeof(double)), tr = 0;
    for (size_t i = 0; i < np; i++) tr += H[i * np + i];
    eigenvalues(H, (int)np, ev);
    const float *eig = t.vals[eos_curv_find("eig")];
    EXPECT((float)cx.sharpness == eig[0], "the context's sharpness %g is eig[0] %g", cx.sharpness,
           eig[0]);
    EXPECT_REL(eig[0], ev[np - 1], 1e-6);
    EXPECT_REL(eig[1], ev[np - 2], 1e-6);
    const float trace = t.vals[eos_curv_find("trace")][0],
                bs = t.vals[eos_curv_find("batch_sharp")][0];
    EXPECT(isfinite(trace) && isfinite(bs), "trace %g, batch sharpness %g", trace, bs);
    EXPECT(isnan(t.vals[eos_curv_find("precond_eig")][0]) &&
               isnan(t.vals[eos_curv_find("dir_sharp")][0]),
           "no preconditioner and no update yet");

    /* services: H v at a point that is not the context's, minibatch products, the sampler */
    real *w1 = malloc(np * sizeof(real)), *v = malloc(np * sizeof(real)),
         *a = calloc(np, sizeof(real)), *b = calloc(np, sizeof(real));
    for (size_t i = 0; i < np; i++) {
        w1[i] = f.w0[i] + 0.1 * sin((double)i);
        v[i] = cos(0.3 * (double)i);
    }
    int before = cx.hvps;
    EXPECT(eos_curv_hvp(&cx, w1, v, a) == 0, "hvp");
    eos_model_hvp(f.m, w1, f.d.train.X, f.d.train.Y, NULL, 8, 1.0 / 8, v, b);
    EXPECT(!memcmp(a, b, np * sizeof(real)), "eos_curv_hvp at w1 is the model's H(w1) v");
    EXPECT(cx.hvps == before + 1, "one product counted (%d -> %d)", before, cx.hvps);
    const int idx[2] = {5, 1};
    memset(b, 0, np * sizeof(real));
    EXPECT(eos_curv_hvp_batch(&cx, w1, idx, 2, v, a) == 0, "batch hvp");
    eos_model_hvp(f.m, w1, f.d.train.X, f.d.train.Y, idx, 2, 0.5, v, b);
    EXPECT(!memcmp(a, b, np * sizeof(real)), "eos_curv_hvp_batch is the model's H_B(w1) v");
    cx.perm = cx.perm_of[eos_curv_find("batch_sharp")];
    cx.rng = cx.rng_of[eos_curv_find("batch_sharp")];
    int hits[8] = {0};
    for (int draw = 0; draw < 800; draw++) {
        const int *s = eos_curv_sample(&cx, 3);
        EXPECT(s[0] != s[1] && s[0] != s[2] && s[1] != s[2], "distinct examples");
        for (int i = 0; i < 3; i++) hits[s[i]]++;
    }
    for (int i = 0; i < 8; i++) /* 300 expected, binomial sd ~ 14 */
        EXPECT(abs(hits[i] - 300) < 70, "example %d drawn %d times of 2400", i, hits[i]);
    free(w1);
    free(v);
    free(a);
    free(b);
    free(H);
    free(ev);
    free(vals);
    eos_curv_free(&cx);
    eos_optim_free(&o);
    eos_run_result_free(&r);
    fixture_free(&f);
}

/* /sharp/hvps: the trace adds exactly its probes to every measurement, the directional measure
 * one product to every measurement followed by a step (not the last). */
static void test_hvp_counts(void)
{
    eos_config c;
    small_cfg(&c, 20);
    c.train.max_steps = 3;
    fixture f;
    fixture_make(&f, &c);
    eos_run_result base, more;
    run(&c, &f, &base);
    c.sharpness.trace_probes = 7;
    c.sharpness.directional = 1;
    run(&c, &f, &more);
    EXPECT(base.n_sharp == 4 && more.n_sharp == 4, "4 measurements: %d %d", base.n_sharp,
           more.n_sharp);
    for (int j = 0; j < 4; j++) {
        EXPECT(base.sharp.hvps[j] >= 1 && base.sharp.hvps[j] <= c.sharpness.max_iter,
               "slot %d: %d products for the eigenvalues", j, base.sharp.hvps[j]);
        EXPECT(more.sharp.hvps[j] == base.sharp.hvps[j] + 7 + (j < 3),
               "slot %d: %d products, want %d + 7 + %d", j, more.sharp.hvps[j],
               base.sharp.hvps[j], j < 3);
    }
    eos_run_result_free(&base);
    eos_run_result_free(&more);
    fixture_free(&f);
}

int main(void)
{
    TEST_RUN(test_top_eigenvalues);
    TEST_RUN(test_table_on_a_context);
    TEST_RUN(test_hvp_counts);
    TEST_RUN(test_precond_sharpness);
    TEST_RUN(test_trace);
    TEST_RUN(test_directional);
    TEST_RUN(test_batch_sharpness);
    return TEST_SUMMARY();
}
