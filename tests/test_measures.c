/* test_measures.c (float64): the sharpness measures as recorded by the trainer, against oracles
 * computed here from the public model/optimizer API: preconditioned sharpness (assembled
 * D H D and LAPACK), Hutchinson trace (exact trace and the estimator's exact variance),
 * directional sharpness of a GD step, and batch sharpness (exact expectation by enumerating every
 * minibatch). */
#include <stdlib.h>
#include <string.h>

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

static double top_eig(double *A, int n)
{
    double *w = malloc((size_t)n * sizeof(double)), *work = malloc((size_t)n * 64 * sizeof(double));
    int lw = 64 * n, info;
    dsyev_("N", "U", &n, A, &n, w, work, &lw, &info);
    double t = w[n - 1];
    free(w);
    free(work);
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
    EXPECT(isnan(r.precond_eig[0]), "no preconditioner at step 0");
    EXPECT_REL(r.precond_eig[1], want, 1e-6);
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
    EXPECT(fabs(r.trace[0] - tr) < 4 * sd, "trace estimate %g vs exact %g (sd %g)", r.trace[0], tr, sd);
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
    EXPECT_REL(r.dir_sharp[0], want, 1e-6);
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
    EXPECT(fabs(r.batch_sharp[0] - want) <= 0.04 * fabs(want), "batch sharpness %g vs exact %g",
           r.batch_sharp[0], want);
    /* and it is not the full-batch quantity */
    EXPECT(fabs(r.eig[0] - want) > 0.05 * want, "batch sharpness should differ from sharpness here");
    free(g);
    free(hg);
    eos_run_result_free(&r);
    fixture_free(&f);
}

int main(void)
{
    TEST_RUN(test_precond_sharpness);
    TEST_RUN(test_trace);
    TEST_RUN(test_directional);
    TEST_RUN(test_batch_sharpness);
    return TEST_SUMMARY();
}
