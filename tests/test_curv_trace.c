/* test_curv_trace.c (float64): the Hutch++ trace probe (src/curv/trace_hutchpp.c) against closed
 * forms. A linear model under MSE with no bias has H = X'X/n, so rows x_i = sqrt(n lambda_i) u_i
 * of an orthogonal U give the operator U diag(lambda) U' with a known spectrum: exactness for
 * rank <= m/3, unbiasedness over seeds, variance against Hutchinson at equal products on a
 * decaying spectrum; then through the trainer on linear regression, and the budget's bound. */
#include <stdlib.h>
#include <string.h>

#include "eos_curv.h"
#include "eos_data.h"
#include "eos_model.h"
#include "eos_optim.h"
#include "eos_train.h"
#include "eos_test.h"

typedef struct {
    eos_config cfg;
    eos_data d;
    eos_model *m;
    eos_optim opt;
    real *w;
    double trace; /* exact tr(H) */
} spec_fixture;

static void linear_cfg(eos_config *c, int dim, int n_out, int n)
{
    eos_config_default(c);
    EXPECT(eos_config_set(c, "data.source", "synthetic-linear") == 0, "%s", eos_error_msg());
    c->data.dim = dim;
    c->data.n_out = n_out;
    c->data.n_train = n;
    c->data.standardize = 0;
    c->data.center = 0;
    c->model.n_hidden = 0;
    c->train.max_steps = 1;
    c->train.record_every = 1;
    c->sharpness.every = 1;
    c->sharpness.k = 1;
    c->sharpness.max_iter = 2;
    c->sharpness.precond = 0;
}

/* H = U diag(lam) U' of order n, U the Householder reflection I - 2 v v' / v'v (dense). */
static void spec_make(spec_fixture *f, const double *lam, int n)
{
    memset(f, 0, sizeof *f);
    linear_cfg(&f->cfg, n, 1, n);
    f->cfg.model.bias = 0;
    EXPECT(eos_data_load(&f->d, &f->cfg) == 0, "load: %s", eos_error_msg());
    double *v = malloc((size_t)n * sizeof(double)), vv = 0;
    for (int i = 0; i < n; i++) {
        v[i] = sin(1.0 + i) + 0.3;
        vv += v[i] * v[i];
    }
    for (int i = 0; i < n; i++) { /* example i: sqrt(n lam_i) times column i of U */
        for (int j = 0; j < n; j++) {
            double u = (i == j) - 2 * v[i] * v[j] / vv;
            f->d.train.X[(size_t)i * n + j] = (real)(sqrt(n * lam[i]) * u);
        }
        f->trace += lam[i];
    }
    free(v);
    EXPECT(eos_model_create(&f->m, &f->cfg.model, f->cfg.loss, &f->d.train.shape,
                            f->d.train.n_out, 64) == 0,
           "model: %s", eos_error_msg());
    EXPECT(eos_model_nparams(f->m) == (size_t)n, "np = n");
    f->w = calloc((size_t)n, sizeof(real)); /* H does not depend on w */
    eos_optim_init(&f->opt, &f->cfg.train, (size_t)n);
}

static void spec_free(spec_fixture *f)
{
    eos_model_free(f->m);
    eos_data_free(&f->d);
    eos_optim_free(&f->opt);
    free(f->w);
}

/* Probe `name`'s estimate with m products and seed, its row run by itself on a context. */
static double estimate(spec_fixture *f, const char *name, int method, int m, uint64_t seed)
{
    eos_curv_ctx cx;
    float out = NAN;
    f->cfg.seed = seed;
    f->cfg.sharpness.trace_probes = m;
    f->cfg.sharpness.trace_method = method;
    int p = eos_curv_find(name), n = f->d.train.n;
    EXPECT(p >= 0, "probe %s", name);
    EXPECT(eos_curv_setup(&cx, &f->cfg, f->m, &f->d.train, n, n, &f->opt) == 0, "setup: %s",
           eos_error_msg());
    EXPECT(cx.on[p], "%s enabled", name);
    cx.w = f->w;
    cx.scratch = cx.scratch_of[p];
    cx.rng = cx.rng_of[p];
    EXPECT(eos_curv_probes[p]->measure(&cx, &out) == 0, "measure: %s", eos_error_msg());
    EXPECT(cx.hvps <= m, "%d products within the budget %d", cx.hvps, m);
    eos_curv_free(&cx);
    return out;
}

/* rank 5 <= m/3: Q spans range(H), the estimate is tr(H) up to rounding (and float storage). */
static void test_hutchpp_exact_low_rank(void)
{
    enum { N = 50 };
    double lam[N] = {3.0, 2.5, 1.0, 0.5, 0.25};
    spec_fixture f;
    spec_make(&f, lam, N);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double e = estimate(&f, "trace_hutchpp", EOS_TRACE_HUTCHPP, 15, seed);
        EXPECT(fabs(e - f.trace) <= 1e-6 * f.trace, "seed %d: %.12g vs exact %.12g", (int)seed, e,
               f.trace);
    }
    spec_free(&f);
}

/* lambda_i = 1/i^2, n = 200, 30 products, 200 seeds: Hutch++ is unbiased and its variance is at
 * least 5x below Hutchinson's at the same products. */
static void test_hutchpp_unbiased_and_variance(void)
{
    enum { N = 200, M = 30, SEEDS = 200 };
    double lam[N];
    for (int i = 0; i < N; i++) lam[i] = 1.0 / ((i + 1.0) * (i + 1.0));
    spec_fixture f;
    spec_make(&f, lam, N);
    double s[2] = {0}, s2[2] = {0};
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        double e[2] = {estimate(&f, "trace_hutchpp", EOS_TRACE_HUTCHPP, M, seed),
                       estimate(&f, "trace", EOS_TRACE_HUTCHINSON, M, seed)};
        for (int a = 0; a < 2; a++) {
            s[a] += e[a];
            s2[a] += e[a] * e[a];
        }
    }
    double mean[2], var[2];
    for (int a = 0; a < 2; a++) {
        mean[a] = s[a] / SEEDS;
        var[a] = (s2[a] - SEEDS * mean[a] * mean[a]) / (SEEDS - 1);
    }
    double se = sqrt(var[0] / SEEDS);
    EXPECT(var[0] > 0 && fabs(mean[0] - f.trace) < 4 * se,
           "Hutch++ mean %.8g vs exact %.8g (standard error %.3g)", mean[0], f.trace, se);
    EXPECT(se < 1e-3 * f.trace, "test too weak: standard error %.3g", se);
    EXPECT(fabs(mean[1] - f.trace) < 4 * sqrt(var[1] / SEEDS), "Hutchinson mean %.8g vs %.8g",
           mean[1], f.trace);
    EXPECT(5 * var[0] <= var[1], "variance Hutch++ %.3g vs Hutchinson %.3g", var[0], var[1]);
    fprintf(stderr, "  variance: Hutch++ %.3g, Hutchinson %.3g (ratio %.0f)\n", var[0], var[1],
            var[1] / var[0]);
    spec_free(&f);
}

/* Through the trainer, linear regression with bias on teacher-student data (H = I_2 (x) A'A/n,
 * A = [X, 1], rank 10 < m/3): trace_hutchpp is the closed-form trace (also the assembled one),
 * /sharp/trace is not measured under hutchpp, the eigenvalues (same stream) are bitwise those under
 * hutchinson, and a measurement spends the same m products but the 5 of tr(Q' H Q) for the 5
 * columns of H S that add no new direction. */
static void test_hutchpp_through_trainer(void)
{
    enum { DIM = 4, K = 2, N = 20, M = 45 }; /* m/3 = 15 > rank 10: Q spans range(H) */
    eos_config c;
    linear_cfg(&c, DIM, K, N);
    EXPECT(eos_config_set(&c, "data.source", "teacher-student") == 0, "%s", eos_error_msg());
    c.seed = 7;
    c.sharpness.trace_probes = M;
    /* Adam's preconditioned eigenvalue starts Lanczos from a fresh draw of the sharpness stream
     * at every measurement, after trace's draws of the one before. */
    EXPECT(eos_config_set(&c, "train.optimizer", "adam") == 0, "%s", eos_error_msg());
    c.sharpness.precond = 1;
    eos_data d;
    EXPECT(eos_data_load(&d, &c) == 0 && d.train.n_out == K, "load: %s", eos_error_msg());
    double tr = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= DIM; j++) {
            double a = j < DIM ? d.train.X[(size_t)i * DIM + j] : 1.0;
            tr += K * a * a / N;
        }
    eos_model *m;
    EXPECT(eos_model_create(&m, &c.model, c.loss, &d.train.shape, K, 64) == 0, "model");
    size_t np = eos_model_nparams(m);
    real *w = calloc(np, sizeof(real)), *e = calloc(np, sizeof(real)),
         *col = calloc(np, sizeof(real));
    double tr_h = 0;
    for (size_t j = 0; j < np; j++) {
        e[j] = 1;
        memset(col, 0, np * sizeof(real));
        eos_model_hvp(m, w, d.train.X, d.train.Y, NULL, N, 1.0 / N, e, col);
        e[j] = 0;
        tr_h += col[j];
    }
    EXPECT_REL(tr_h, tr, 1e-12);
    eos_run_result base, hpp;
    eos_run_result_alloc(&base, &c);
    EXPECT(eos_train_run(&c, &d, &base, NULL) == 0 && base.status == EOS_RUN_DONE, "run");
    EXPECT(eos_config_set(&c, "sharpness.trace_method", "hutchpp") == 0, "%s", eos_error_msg());
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    eos_run_result_alloc(&hpp, &c);
    EXPECT(eos_train_run(&c, &d, &hpp, NULL) == 0 && hpp.status == EOS_RUN_DONE, "run");
    const float *t0 = test_sharp(&base, "trace", NULL), *t1 = test_sharp(&hpp, "trace", NULL);
    const float *h0 = test_sharp(&base, "trace_hutchpp", NULL),
                *h1 = test_sharp(&hpp, "trace_hutchpp", NULL);
    int width = 0;
    const float *e0 = test_sharp(&base, "eig", &width), *e1 = test_sharp(&hpp, "eig", NULL);
    EXPECT(width == c.sharpness.k, "eig width %d", width);
    const float *p0 = test_sharp(&base, "precond_eig", NULL),
                *p1 = test_sharp(&hpp, "precond_eig", NULL);
    for (int j = 0; j < 2; j++) {
        EXPECT(!isnan(t0[j]) && isnan(t1[j]), "slot %d: Hutchinson %g under hutchinson, %g (want "
               "NaN: not measured) under hutchpp", j, t0[j], t1[j]);
        EXPECT(isnan(h0[j]), "no Hutch++ under hutchinson");
        EXPECT_REL(h1[j], tr, 1e-6);
        EXPECT_REL(t0[j], tr, 0.5); /* Hutchinson's 45 probes: right order of magnitude */
        EXPECT(!memcmp(&e0[j * width], &e1[j * width], width * sizeof(float)),
               "slot %d: eig %g vs %g (the skipped draws keep the shared stream)", j,
               e0[j * width], e1[j * width]);
        EXPECT(!memcmp(&p0[j], &p1[j], sizeof(float)) && (j == 0 || !isnan(p0[j])),
               "slot %d: precond_eig %g vs %g (the skipped draws keep the shared stream)", j,
               p0[j], p1[j]);
        EXPECT(hpp.sharp.hvps[j] == base.sharp.hvps[j] - 5,
               "slot %d: %d products, want %d - 5 (Hutch++ spends the budget Hutchinson would, "
               "but the 5 of tr(Q' H Q) for columns adding no direction)", j, hpp.sharp.hvps[j],
               base.sharp.hvps[j]);
    }
    free(w);
    free(e);
    free(col);
    eos_model_free(m);
    eos_run_result_free(&base);
    eos_run_result_free(&hpp);
    eos_data_free(&d);
}

/* The scratch bound is refused at validation, naming the key. */
static void test_hutchpp_budget_bound(void)
{
    eos_config c;
    linear_cfg(&c, 4, 1, 20);
    c.sharpness.trace_probes = EOS_HUTCHPP_MAX_PROBES + 1;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "Hutchinson takes any budget: %s", eos_error_msg());
    EXPECT(eos_config_set(&c, "sharpness.trace_method", "hutchpp") == 0, "%s", eos_error_msg());
    const char *key = NULL, *other = NULL;
    EXPECT(eos_config_validate(&c, &key, &other) == EOS_ERR_CONFIG &&
               strstr(eos_error_msg(), "sharpness.trace_probes"),
           "refused naming the key: %s", eos_error_msg());
    EXPECT(key && !strcmp(key, "sharpness.trace_probes") && other &&
               !strcmp(other, "sharpness.trace_method"),
           "the error points at sharpness.trace_probes (with trace_method): %s, %s",
           key ? key : "-", other ? other : "-");
    EXPECT(eos_config_set(&c, "sharpness.trace_method", "hutch") == EOS_ERR_CONFIG,
           "unknown method refused");
}

int main(void)
{
    TEST_RUN(test_hutchpp_exact_low_rank);
    TEST_RUN(test_hutchpp_unbiased_and_variance);
    TEST_RUN(test_hutchpp_through_trainer);
    TEST_RUN(test_hutchpp_budget_bound);
    return TEST_SUMMARY();
}
