/* test_curv_density.c (float64): the spectral-density probe (src/curv/density.c) through the
 * trainer on linear regression, H = I_k (x) X'X/n: with m >= the distinct eigenvalues, each
 * probe's nodes are those eigenvalues (LAPACK on X'X/n) and its weights sum to 1. */
#include <stdlib.h>
#include <string.h>

#include "eos_curv.h"
#include "eos_data.h"
#include "eos_train.h"
#include "eos_test.h"

extern void dsyev_(const char *, const char *, const int *, double *, const int *, double *,
                   double *, const int *, int *);

static void test_density_linear_regression(void)
{
    enum { DIM = 3, K = 2, N = 20, M = 4, STEPS = 6 };
    eos_config c;
    eos_config_default(&c);
    EXPECT(eos_config_set(&c, "data.source", "teacher-student") == 0, "%s", eos_error_msg());
    c.seed = 5;
    c.data.dim = DIM;
    c.data.n_out = K;
    c.data.n_train = N;
    c.data.standardize = 0;
    c.data.center = 0;
    c.model.n_hidden = 0;
    c.model.bias = 0;
    c.train.max_steps = 1;
    c.train.record_every = 1;
    c.sharpness.every = 1;
    c.sharpness.k = 1;
    c.sharpness.precond = 0;
    c.sharpness.density_probes = M;
    c.sharpness.density_steps = STEPS;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    eos_data d;
    EXPECT(eos_data_load(&d, &c) == 0, "load: %s", eos_error_msg());
    double C[DIM * DIM] = {0}, ev[DIM], work[64 * DIM];
    for (int i = 0; i < N; i++)
        for (int a = 0; a < DIM; a++)
            for (int b = 0; b < DIM; b++)
                C[a * DIM + b] += d.train.X[i * DIM + a] * d.train.X[i * DIM + b] / N;
    int n = DIM, lw = 64 * DIM, info;
    dsyev_("N", "U", &n, C, &n, ev, work, &lw, &info);
    eos_run_result r;
    eos_run_result_alloc(&r, &c);
    EXPECT(eos_train_run(&c, &d, &r, NULL) == 0 && r.status == EOS_RUN_DONE, "run");
    int width;
    const float *v = test_sharp(&r, "density", &width);
    EXPECT(width == 2 * M * STEPS, "width %d", width);
    for (int slot = 0; slot < 2; slot++)
        for (int p = 0; p < M; p++) {
            const float *nodes = v + slot * width + p * STEPS, *wts = nodes + M * STEPS;
            double sum = 0;
            for (int i = 0; i < DIM; i++) {
                EXPECT_REL(nodes[i], ev[i], 1e-6);
                sum += wts[i];
                EXPECT(wts[i] > 0, "weight %d = %g", i, wts[i]);
            }
            EXPECT_REL(sum, 1.0, 1e-6);
            for (int i = DIM; i < STEPS; i++)
                EXPECT(isnan(nodes[i]) && isnan(wts[i]), "after breakdown: NaN");
        }
    eos_run_result_free(&r);
    eos_data_free(&d);
}

int main(void)
{
    TEST_RUN(test_density_linear_regression);
    return TEST_SUMMARY();
}
