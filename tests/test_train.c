/* test_train.c: the training loop: determinism across thread counts, stopping rules, divergence at
 * the closed-form stability threshold of linear regression, adaptive preconditioned sharpness. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "eos_data.h"
#include "eos_model.h"
#include "eos_rng.h"
#include "eos_optim.h"
#include "eos_train.h"
#include "eos_test.h"

extern void openblas_set_num_threads(int);
extern void dsyev_(const char *, const char *, const int *, double *, const int *, double *,
                   double *, const int *, int *);

static void base_cfg(eos_config *c)
{
    eos_config_default(c);
    c->seed = 5;
    EXPECT(eos_config_set(c, "data.source", "teacher-student") == 0, "%s", eos_error_msg());
    c->data.dim = 12;
    c->data.n_out = 3;
    c->data.teacher_hidden = 8;
    c->data.n_train = 300;
    c->data.n_test = 50;
    c->data.standardize = 0;
    c->data.center = 0;
    c->model.n_hidden = 2;
    c->model.hidden[0] = 32;
    c->model.hidden[1] = 16;
    c->train.lr = 0.05;
    c->train.max_steps = 60;
    c->train.record_every = 5;
    c->sharpness.every = 20;
    c->sharpness.k = 2;
    c->sharpness.chunk = 128;
}

static int run(const eos_config *c, eos_run_result *res)
{
    eos_data d;
    memset(&d, 0, sizeof d);
    int rc = eos_data_load(&d, c);
    if (rc) {
        fprintf(stderr, "data: %s\n", eos_error_msg());
        return rc;
    }
    rc = eos_run_result_alloc(res, c);
    if (!rc) rc = eos_train_run(c, &d, res, NULL);
    eos_data_free(&d);
    return rc;
}

/* Every trajectory (the record columns and every probe's values: one buffer from traj[0]) and
 * the HVP counts. */
static int same_traj(const eos_run_result *a, const eos_run_result *b)
{
    size_t ns = (size_t)a->cap_sharp, n = a->n_values;
    return a->steps == b->steps && a->status == b->status && a->n_values == b->n_values &&
           !memcmp(a->traj[0], b->traj[0], n * sizeof(float)) &&
           !memcmp(a->sharp.hvps, b->sharp.hvps, ns * sizeof(int32_t)) &&
           !memcmp(&a->final_loss, &b->final_loss, sizeof(double));
}

static void check_threads(const char *opt, int batch)
{
    eos_config c;
    base_cfg(&c);
    c.train.optimizer = eos_optim_find(opt);
    c.train.batch_size = batch;
    c.sharpness.trace_probes = 2;
    c.sharpness.directional = 1;
    c.sharpness.batch_sharpness = batch > 0;
    eos_run_result r1, r2;
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    EXPECT(run(&c, &r1) == 0, "run 1 thread");
    omp_set_num_threads(2);
    openblas_set_num_threads(2);
    EXPECT(run(&c, &r2) == 0, "run 2 threads");
    EXPECT(r1.status == EOS_RUN_DONE, "status %d: %s", r1.status, r1.message);
    EXPECT(same_traj(&r1, &r2), "trajectories differ between 1 and 2 threads (%s)",
           opt);
    int k;
    const float *eig = test_sharp(&r1, "eig", &k), *trace = test_sharp(&r1, "trace", NULL),
                *dir = test_sharp(&r1, "dir_sharp", NULL),
                *bs = test_sharp(&r1, "batch_sharp", NULL),
                *pre = test_sharp(&r1, "precond_eig", NULL);
    EXPECT(isfinite(eig[0]) && isfinite(eig[k * 3]), "sharpness recorded");
    EXPECT(isfinite(trace[0]) && isfinite(dir[1]), "trace and directional sharpness");
    if (batch > 0) EXPECT(isfinite(bs[1]), "batch sharpness");
    if (eos_optim_is_adaptive(c.train.optimizer)) {
        EXPECT(isnan(pre[0]), "no preconditioner before the first step");
        EXPECT(isfinite(pre[1]) && pre[1] > 0, "preconditioned sharpness");
    }
    eos_run_result_free(&r1);
    eos_run_result_free(&r2);
}

static void test_threads_gd(void) { check_threads("gd", 0); }
static void test_threads_sgd(void) { check_threads("sgd", 32); }
static void test_threads_adam(void) { check_threads("adam", 0); }
static void test_threads_sam(void) { check_threads("sam", 64); }

static void test_loss_goal_stops(void)
{
    eos_config c;
    base_cfg(&c);
    c.train.max_steps = 5000;
    c.sharpness.every = 0;
    eos_run_result r;
    run(&c, &r);
    double l0 = r.loss[0];
    eos_run_result_free(&r);
    c.train.loss_goal = 0.5 * l0;
    EXPECT(run(&c, &r) == 0, "run");
    EXPECT(r.status == EOS_RUN_DONE && r.steps < 5000, "stopped at %ld", r.steps);
    EXPECT(r.final_loss <= 0.5 * l0, "final loss %g > goal %g", r.final_loss, 0.5 * l0);
    eos_run_result_free(&r);
}

/* Linear regression (a linear model on synthetic-linear, 8 inputs, 200 examples, MSE, 3000
 * steps, sharpness off) in *c with its data loaded into *d; returns 2/lambda_max(C), GD's edge,
 * C the inputs' second-moment matrix with the bias column (the model's Hessian). */
static double linear_regression(eos_config *c, eos_data *d, int record_every, double noise)
{
    eos_config_default(c);
    c->seed = 2;
    EXPECT(eos_config_set(c, "data.source", "synthetic-linear") == 0, "%s", eos_error_msg());
    c->data.dim = 8;
    c->data.n_train = 200;
    c->data.standardize = 0;
    c->data.center = 0;
    c->data.noise = noise;
    c->model.n_hidden = 0;
    c->train.max_steps = 3000;
    c->train.record_every = record_every;
    c->train.diverge_loss = 1e6;
    c->sharpness.every = 0;
    memset(d, 0, sizeof *d);
    EXPECT(eos_data_load(d, c) == 0, "data");
    int n = d->train.n, p = d->train.d + 1;
    double C[81] = {0}, ev[9], work[9 * 64];
    int lw = 9 * 64, info;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < p; a++)
            for (int b = 0; b < p; b++)
                C[a * p + b] += (a < p - 1 ? d->train.X[i * (p - 1) + a] : 1.0) *
                                (b < p - 1 ? d->train.X[i * (p - 1) + b] : 1.0) / n;
    dsyev_("N", "U", &p, C, &p, ev, work, &lw, &info);
    return 2.0 / ev[p - 1];
}

/* GD on linear regression with MSE is stable iff lr < 2/lambda_max(C), C the covariance with the
 * bias column: just below converges, just above diverges and the step is recorded. */
static void test_linear_regression_threshold(void)
{
    eos_config c;
    eos_data d;
    double thr = linear_regression(&c, &d, 100, 0.0);
    eos_run_result r;
    c.train.lr = 0.97 * thr;
    eos_run_result_alloc(&r, &c);
    eos_train_run(&c, &d, &r, NULL);
    EXPECT(r.status == EOS_RUN_DONE && r.final_loss < r.loss[0], "below 2/lambda: status %d loss %g",
           r.status, r.final_loss);
    eos_run_result_free(&r);
    c.train.lr = 1.03 * thr;
    eos_run_result_alloc(&r, &c);
    eos_train_run(&c, &d, &r, NULL);
    EXPECT(r.status == EOS_RUN_DIVERGED && r.diverged_step > 0, "above 2/lambda: status %d",
           r.status);
    EXPECT(isnan(r.loss[r.cap_rec - 1]), "slots after divergence stay NaN");
    eos_run_result_free(&r);
    eos_data_free(&d);
}

/* Warm-up into instability on linear regression (Hessian C, top eigenvalue lambda): the peak lr
 * is 1.5 x 2/lambda, reached by a linear warm-up from 0 over W = 1000 steps, so lr_t crosses
 * 2/lambda at t* = floor(W (2/lambda) / lr) + 1. The loss falls at every record before t*
 * (every mode contracts; 1e-5 relative for float32 rounding at the noise floor), grows only
 * after it, and the run diverges after it; /traj/lr and
 * /traj/threshold hold the lr in force and 2/lr_t at every record step. */
static void test_warmup_linear_regression(void)
{
    eos_config c;
    eos_data d;
    /* label noise: a loss floor far above float32 rounding, so growth is the mode's */
    const double edge = linear_regression(&c, &d, 10, 0.5);
    c.train.warmup_steps = 1000;
    c.train.lr = 1.5 * edge;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    const long cross = (long)floor(1000 * edge / c.train.lr) + 1;
    EXPECT(eos_optim_lr_at(&c.train, cross - 1) < edge && eos_optim_lr_at(&c.train, cross) > edge,
           "closed-form crossing at step %ld", cross);
    eos_run_result r;
    eos_run_result_alloc(&r, &c);
    eos_train_run(&c, &d, &r, NULL);
    EXPECT(r.status == EOS_RUN_DIVERGED && r.diverged_step > cross,
           "status %d, diverged at step %ld, the lr crosses 2/lambda at %ld", r.status,
           r.diverged_step, cross);
    long first_growth = -1;
    for (int j = 0; j + 1 < r.n_rec; j++) {
        const long t = (long)j * c.train.record_every;
        EXPECT(r.lr[j] == (float)eos_optim_lr_at(&c.train, t), "lr at step %ld: %g", t, r.lr[j]);
        EXPECT(j == 0 ? r.threshold[j] == INFINITY
                      : r.threshold[j] == (float)(2.0 / eos_optim_lr_at(&c.train, t)),
               "threshold at step %ld: %g", t, r.threshold[j]);
        if (first_growth < 0 && r.loss[j + 1] > r.loss[j] * (1 + 1e-5)) first_growth = t;
    }
    EXPECT(first_growth >= 0 && first_growth + c.train.record_every > cross,
           "the loss first grew between records %ld and %ld, before the crossing at %ld",
           first_growth, first_growth + c.train.record_every, cross);
    fprintf(stderr, "  (lr crosses 2/lambda at step %ld; the loss first grew after record %ld; "
            "diverged at step %ld)\n", cross, first_growth, r.diverged_step);
    eos_run_result_free(&r);
    eos_data_free(&d);
}

/* Gradient flow (RK4, time lr per step) against GD: at a small lr GD tracks the flow in loss
 * (Cohen et al. 2021: until the sharpness reaches 2/lr, which it is far below here), closer the
 * smaller the lr (GD is the flow's Euler discretisation, O(lr) apart); the flow records its
 * sub-steps ceil(lr / min(1/sharpness, lr)) at every record, from the latest measurement. */
static void test_flow_tracks_gd(void)
{
    double gap[2];
    const double lrs[2] = {0.02, 0.005};
    for (int k = 0; k < 2; k++) {
        eos_config c;
        base_cfg(&c);
        c.train.lr = lrs[k];
        c.train.max_steps = (long)(0.6 / lrs[k]); /* time 0.6 */
        c.train.record_every = (int)(0.05 / lrs[k] + 0.5);
        c.sharpness.every = 2 * c.train.record_every;
        eos_run_result gd, fl;
        EXPECT(run(&c, &gd) == 0, "gd");
        c.train.optimizer = eos_optim_find("flow");
        EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
        EXPECT(run(&c, &fl) == 0, "flow");
        EXPECT(fl.status == EOS_RUN_DONE && gd.status == EOS_RUN_DONE, "flow %d: %s", fl.status,
               fl.message);
        gap[k] = 0;
        for (int j = 0; j < fl.n_rec; j++)
            gap[k] = fmax(gap[k], fabs(gd.loss[j] - fl.loss[j]) / fl.loss[j]);
        EXPECT(fl.loss[fl.n_rec - 1] < 0.9 * fl.loss[0], "the flow descends: %g -> %g", fl.loss[0],
               fl.loss[fl.n_rec - 1]);
        const float *eig = test_sharp(&fl, "eig", NULL);
        int k_ = c.sharpness.k;
        for (int j = 0; j + 1 < fl.n_rec; j++) {
            const int m_slot = (j * c.train.record_every) / c.sharpness.every; /* latest one */
            const double h = fmin(1.0 / eig[m_slot * k_], lrs[k]);
            EXPECT(fl.flow_substeps[j] == (float)ceil(lrs[k] / h - 1e-12),
                   "lr %g record %d: %g sub-steps, sharpness %g", lrs[k], j, fl.flow_substeps[j],
                   eig[m_slot * k_]);
            EXPECT(isnan(gd.flow_substeps[j]), "gd has no sub-steps");
        }
        EXPECT(isnan(fl.threshold[0]), "no threshold for the flow");
        eos_run_result_free(&gd);
        eos_run_result_free(&fl);
    }
    fprintf(stderr, "  (max relative loss gap GD vs flow over time 0.6: %.3g at lr 0.02, %.3g at "
            "lr 0.005)\n", gap[0], gap[1]);
    EXPECT(gap[0] < 0.01 && gap[1] < gap[0] / 2, "GD tracks the flow: gaps %g, %g", gap[0],
           gap[1]);
}

/* In-context regression with fresh prompts every step (data.online): the run is reproducible and
 * thread-count independent, learns (pool loss falls), and differs from training on the fixed pool. */
static void test_icl_online(void)
{
    eos_config c;
    eos_config_default(&c);
    c.seed = 4;
    EXPECT(eos_config_set(&c, "data.source", "icl-regression") == 0, "%s", eos_error_msg());
    c.data.dim = 3;
    c.data.n_context = 8;
    c.data.n_train = 200;
    EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, "%s", eos_error_msg());
    c.model.layers = 1;
    c.model.init = EOS_INIT_GAUSSIAN;
    c.model.init_scale = 0.25;
    c.train.optimizer = eos_optim_find("adam");
    c.train.lr = 0.01;
    c.train.batch_size = 50;
    c.train.max_steps = 200;
    c.train.record_every = 50;
    c.sharpness.every = 100;
    c.sharpness.k = 1;
    eos_run_result fixed, on1, on2;
    c.data.online = 0;
    EXPECT(run(&c, &fixed) == 0 && fixed.status == EOS_RUN_DONE, "fixed pool: %s", fixed.message);
    c.data.online = 1;
    omp_set_num_threads(1);
    EXPECT(run(&c, &on1) == 0 && on1.status == EOS_RUN_DONE, "online: %s", on1.message);
    omp_set_num_threads(2);
    EXPECT(run(&c, &on2) == 0, "online, 2 threads");
    EXPECT(same_traj(&on1, &on2), "online run differs between 1 and 2 threads");
    EXPECT(on1.final_loss < 0.7 * on1.loss[0], "online training did not learn: %g -> %g", on1.loss[0],
           on1.final_loss);
    EXPECT(on1.final_loss != fixed.final_loss, "online and fixed-pool runs should see different batches");
    eos_run_result_free(&fixed);
    eos_run_result_free(&on1);
    eos_run_result_free(&on2);
}

/* The trainer asks the data for fresh examples and the architecture for its data, naming neither:
 * an MLP trains online on flattened prompts (reproducibly, as the linear transformer does), and a
 * linear transformer given flat data (no configuration check in between) fails as a run. */
static void test_online_any_model(void)
{
    eos_config c;
    eos_config_default(&c);
    c.seed = 9;
    EXPECT(eos_config_set(&c, "data.source", "icl-regression") == 0, "%s", eos_error_msg());
    c.data.dim = 3;
    c.data.n_context = 6;
    c.data.n_train = 100;
    c.data.online = 1;
    c.model.n_hidden = 1;
    c.model.hidden[0] = 16;
    c.train.optimizer = eos_optim_find("sgd");
    c.train.lr = 0.01;
    c.train.batch_size = 20;
    c.train.max_steps = 40;
    c.train.record_every = 10;
    c.sharpness.every = 20;
    c.sharpness.k = 1;
    EXPECT(eos_config_validate(&c, NULL, NULL) == 0, "%s", eos_error_msg());
    eos_run_result a, b, fixed;
    EXPECT(run(&c, &a) == 0 && a.status == EOS_RUN_DONE, "mlp online: %s", a.message);
    EXPECT(run(&c, &b) == 0 && same_traj(&a, &b), "mlp online run is not reproducible");
    c.data.online = 0;
    EXPECT(run(&c, &fixed) == 0 && fixed.status == EOS_RUN_DONE, "mlp on the pool: %s", fixed.message);
    EXPECT(a.final_loss != fixed.final_loss, "online and fixed-pool runs should see different batches");
    eos_run_result_free(&a);
    eos_run_result_free(&b);
    eos_run_result_free(&fixed);

    base_cfg(&c);
    EXPECT(eos_config_set(&c, "model.arch", "linear-transformer") == 0, " ");
    EXPECT(run(&c, &a) == 0 && a.status == EOS_RUN_FAILED && strstr(a.message, "token-layout"),
           "linear transformer on flat data: status %d, %s", a.status, a.message);
    eos_run_result_free(&a);
}

/* precond_eig's warm start: Adam at an lr so small that the point does not move, on full batches,
 * so the gradient is the same every step and v_hat = g^2 (bias-corrected) too: the operator
 * P^-1/2 H P^-1/2 is the same at every measurement. Started from the previous top Ritz vector, a
 * later solve needs a fraction of the first one's products (/sharp/probe_hvps); a cold start
 * would need as many again. The values agree. */
static void test_precond_warm_start(void)
{
    eos_config c;
    base_cfg(&c);
    c.train.optimizer = eos_optim_find("adam");
    c.train.lr = 1e-12;
    c.train.max_steps = 4;
    c.train.record_every = 1;
    c.sharpness.every = 1;
    c.sharpness.k = 1;
    eos_run_result r;
    EXPECT(run(&c, &r) == 0 && r.status == EOS_RUN_DONE, "run: %s", r.message);
    const int p = eos_curv_find("precond_eig"), np = eos_curv_n_probes;
    const float *pe = test_sharp(&r, "precond_eig", NULL);
    const int32_t *h = r.sharp.probe_hvps;
    EXPECT(h[0 * np + p] == 0 && isnan(pe[0]), "no preconditioner before the first step");
    const int first = h[1 * np + p];
    EXPECT(first >= 6, "the first preconditioned solve took %d products", first);
    for (int s = 2; s <= 4; s++) {
        EXPECT(h[s * np + p] * 2 <= first, "slot %d: %d products after %d (not warm-started?)", s,
               h[s * np + p], first);
        EXPECT(fabs(pe[s] - pe[1]) <= 2e-3 * fabs(pe[1]), "slot %d: %g, first %g", s, pe[s],
               pe[1]);
    }
    /* /sharp/seconds: every measurement timed, together within the run's wall time */
    double tot = 0;
    for (int s = 0; s < r.n_sharp; s++) {
        EXPECT(isfinite(r.sharp.seconds[s]) && r.sharp.seconds[s] > 0, "slot %d took %g s", s,
               r.sharp.seconds[s]);
        tot += r.sharp.seconds[s];
    }
    EXPECT(r.n_sharp == 5 && tot <= r.wall_seconds, "%d measurements, %g s of a %g s run",
           r.n_sharp, tot, r.wall_seconds);
    eos_run_result_free(&r);
}

/* eig's Lanczos warm start for k = 2: GD at an lr so small that the point does not move, so the
 * Hessian is the same at every measurement. A later solve starts from the sum of the previous
 * top-2 Ritz vectors, so both wanted directions start large and it needs a fraction of the cold
 * first solve's products (from the top vector alone, the second direction has to grow from the
 * little of it the top vector's error holds: about a cold solve again). The values agree. */
static void test_eig_warm_start_top2(void)
{
    eos_config c;
    base_cfg(&c);
    c.train.lr = 1e-12;
    c.train.max_steps = 3;
    c.train.record_every = 1;
    c.sharpness.every = 1;
    c.sharpness.k = 2;
    c.sharpness.tol = 1e-5;
    eos_run_result r;
    EXPECT(run(&c, &r) == 0 && r.status == EOS_RUN_DONE, "run: %s", r.message);
    const int p = eos_curv_find("eig"), np = eos_curv_n_probes;
    const float *e = test_sharp(&r, "eig", NULL);
    const int32_t *h = r.sharp.probe_hvps;
    const int first = h[0 * np + p];
    EXPECT(first >= 8, "the cold solve took %d products", first);
    for (int s = 1; s <= 3; s++) {
        EXPECT(h[s * np + p] * 2 <= first, "slot %d: %d products after %d (second direction not "
               "warm-started?)", s, h[s * np + p], first);
        for (int i = 0; i < 2; i++)
            EXPECT(fabs(e[2 * s + i] - e[i]) <= 1e-4 * fabs(e[i]), "slot %d eig %d: %g, first %g",
                   s, i, e[2 * s + i], e[i]);
    }
    eos_run_result_free(&r);
}

/* sharpness.solver lobpcg against the default Lanczos on the same run (GD is not moved by the
 * measurements, so both see the same points): every measurement's top-2 eigenvalues and overlaps
 * agree to the accuracy tol 1e-6 implies, the block warm start makes every solve after the first
 * cheaper, and the run is bitwise the same at 1 and 2 threads. */
static void test_lobpcg_solver(void)
{
    eos_config c;
    base_cfg(&c);
    c.train.max_steps = 40;
    c.sharpness.every = 5;
    c.sharpness.tol = 1e-6;
    c.sharpness.overlap = 1;
    eos_run_result lz, lb, lb2;
    EXPECT(run(&c, &lz) == 0 && lz.status == EOS_RUN_DONE, "lanczos run: %s", lz.message);
    EXPECT(eos_config_set(&c, "sharpness.solver", "lobpcg") == 0, "%s", eos_error_msg());
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    EXPECT(run(&c, &lb) == 0 && lb.status == EOS_RUN_DONE, "lobpcg run: %s", lb.message);
    omp_set_num_threads(2);
    openblas_set_num_threads(2);
    EXPECT(run(&c, &lb2) == 0, "lobpcg run at 2 threads");
    EXPECT(same_traj(&lb, &lb2), "lobpcg: trajectories differ between 1 and 2 threads");
    const float *ez = test_sharp(&lz, "eig", NULL), *eb = test_sharp(&lb, "eig", NULL);
    int w = 0; /* the overlap probe's row: grad_overlap [k], update_top */
    const float *oz = test_sharp(&lz, "overlap", &w), *ob = test_sharp(&lb, "overlap", NULL);
    const int p = eos_curv_find("eig"), np = eos_curv_n_probes, slots = 9;
    const int32_t *h = lb.sharp.probe_hvps;
    for (int s = 0; s < slots; s++) {
        for (int i = 0; i < 2; i++) {
            EXPECT(fabs(eb[2 * s + i] - ez[2 * s + i]) <= 1e-5 * fabs(ez[2 * s + i]),
                   "slot %d eig %d: lobpcg %g, lanczos %g", s, i, eb[2 * s + i], ez[2 * s + i]);
            EXPECT(fabs(ob[w * s + i] - oz[w * s + i]) <= 1e-3, "slot %d overlap %d: %g vs %g", s,
                   i, ob[w * s + i], oz[w * s + i]);
        }
        if (s > 0)
            EXPECT(h[s * np + p] < h[0 * np + p], "slot %d: %d products, the cold start %d", s,
                   h[s * np + p], h[0 * np + p]);
    }
    eos_run_result_free(&lz);
    eos_run_result_free(&lb);
    eos_run_result_free(&lb2);
}

/* record.projections: at the initialisation the projections equal the dot products with directions
 * drawn here one by one from the stream's definition (docs/results-format.md); the parallel
 * draw gives the same values at 1 and 2 threads; fewer directions are a prefix of more; and no
 * other trajectory changes with the number of directions. */
static void test_projections(void)
{
    eos_config c;
    base_cfg(&c);
    c.model.hidden[0] = 200; /* 23,003 parameters: several blocks of the parallel draw */
    c.model.hidden[1] = 100;
    c.train.max_steps = 20;
    c.sharpness.every = 0;
    const int P = 4;
    eos_run_result a, b, pre, none;
    c.record.projections = P;
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    EXPECT(run(&c, &a) == 0 && a.status == EOS_RUN_DONE, "run with %d projections", P);
    omp_set_num_threads(2);
    openblas_set_num_threads(2);
    EXPECT(run(&c, &b) == 0, "run at 2 threads");
    EXPECT(same_traj(&a, &b), "projections differ between 1 and 2 threads");
    c.record.projections = 2;
    EXPECT(run(&c, &pre) == 0, "run with 2 projections");
    c.record.projections = 0;
    EXPECT(run(&c, &none) == 0, "run without projections");
    int same_prefix = 1, moved = 0;
    for (int s = 0; s < a.cap_rec; s++) {
        for (int j = 0; j < 2; j++)
            same_prefix &= !memcmp(&a.proj[s * P + j], &pre.proj[s * 2 + j], sizeof(float));
        moved |= s > 0 && a.proj[s * P] != a.proj[0];
    }
    EXPECT(same_prefix, "the first 2 of 4 directions are not the 2 directions of a run with 2");
    EXPECT(moved, "the projections did not change while training");
    size_t nr = (size_t)a.cap_rec;
    EXPECT(!memcmp(a.traj[0], none.traj[0], EOS_TRAJ_N * nr * sizeof(float)) &&
               !memcmp(&a.final_loss, &none.final_loss, sizeof(double)),
           "recording projections changed another trajectory");

    /* the oracle at step 0: w_0 from the init stream, the directions drawn in sequence */
    eos_data d;
    eos_model *m = NULL;
    memset(&d, 0, sizeof d);
    EXPECT(eos_data_load(&d, &c) == 0, "data: %s", eos_error_msg());
    EXPECT(eos_model_create(&m, &c.model, c.loss, &d.train.shape, d.train.n_out, 128) == 0,
           "model: %s", eos_error_msg());
    size_t np = eos_model_nparams(m);
    real *w = malloc(np * sizeof *w);
    double *dir = malloc(np * sizeof *dir);
    eos_rng r;
    eos_rng_init(&r, c.seed, EOS_RNG_STREAM_INIT);
    eos_model_init(m, w, &r);
    eos_rng_init(&r, c.seed, EOS_RNG_STREAM_PROJ);
    double worst = 0;
    for (int j = 0; j < P; j++) {
        double nn = 0, dot = 0;
        for (size_t i = 0; i < np; i++) dir[i] = eos_rng_normal(&r), nn += dir[i] * dir[i];
        for (size_t i = 0; i < np; i++) dot += dir[i] * (double)w[i];
        dot /= sqrt(nn);
        double err = fabs(a.proj[j] - dot) / (fabs(dot) + 1e-3);
        worst = err > worst ? err : worst;
    }
    EXPECT(worst < 1e-5, "projections at step 0 differ from the oracle by %.2e (relative)", worst);
    free(w);
    free(dir);
    eos_model_free(m);
    eos_data_free(&d);
    eos_run_result_free(&a);
    eos_run_result_free(&b);
    eos_run_result_free(&pre);
    eos_run_result_free(&none);
}

/* ---- logistic regression on separable data ---------------------------------------------- */

/* A bias-free linear model on data.source separable (20 inputs, 400 examples, margin 0.02),
 * logistic loss, GD, every step recorded; w0 [20] the run's initial point (the trainer's init
 * stream), data in *d. */
enum { LD = 20, LN = 400, LSTEPS = 3000 };
static void logistic_setup(eos_config *c, eos_data *d, real *w0)
{
    eos_config_default(c);
    c->seed = 0;
    EXPECT(eos_config_set(c, "data.source", "separable") == 0, "%s", eos_error_msg());
    c->data.dim = LD;
    c->data.n_train = LN;
    c->data.margin = 0.02;
    c->model.n_hidden = 0;
    c->model.bias = 0;
    c->model.init = EOS_INIT_GAUSSIAN;
    c->model.init_scale = 0.01;
    c->loss = EOS_LOSS_LOGISTIC;
    c->train.max_steps = LSTEPS;
    c->train.record_every = 1;
    c->sharpness.every = 0;
    EXPECT(eos_config_validate(c, NULL, NULL) == 0, "%s", eos_error_msg());
    memset(d, 0, sizeof *d);
    EXPECT(eos_data_load(d, c) == 0, "data: %s", eos_error_msg());
    eos_model *m = NULL;
    EXPECT(eos_model_create(&m, &c->model, c->loss, &d->train.shape, 1, 64) == 0, "model");
    EXPECT(m && eos_model_nparams(m) == LD, "parameters");
    eos_rng r;
    eos_rng_init(&r, c->seed, EOS_RNG_STREAM_INIT);
    if (m) eos_model_init(m, w0, &r);
    eos_model_free(m);
}

/* p-GD by hand in double (p = 2: GD) on the logistic loss of f = w'x from w0 for `steps` steps;
 * mg[t], mgp[t] = min_i y_i w_t'x_i / ||w_t||_2, / ||w_t||_p; loss[t] the mean loss. */
static void hand_pgd(const eos_dataset *tr, const real *w0, double lr, double p, int steps,
                     double *mg, double *mgp, double *loss)
{
    double w[LD], g[LD];
    for (int j = 0; j < LD; j++) w[j] = w0[j];
    for (int t = 0;; t++) {
        double m = INFINITY, l = 0, n2 = 0, np = 0;
        memset(g, 0, sizeof g);
        for (int i = 0; i < tr->n; i++) {
            double f = 0, s = tr->Y[i] > 0 ? 1 : -1;
            for (int j = 0; j < LD; j++) f += w[j] * tr->X[i * LD + j];
            m = fmin(m, s * f);
            l += (s * f > 0 ? log1p(exp(-s * f)) : -s * f + log1p(exp(s * f))) / tr->n;
            for (int j = 0; j < LD; j++) g[j] += -s / (1 + exp(s * f)) * tr->X[i * LD + j] / tr->n;
        }
        for (int j = 0; j < LD; j++) n2 += w[j] * w[j], np += pow(fabs(w[j]), p);
        mg[t] = m / sqrt(n2), mgp[t] = m / pow(np, 1 / p), loss[t] = l;
        if (t == steps) break;
        for (int j = 0; j < LD; j++) { /* the mirror step of the potential (1/p) |w|^p */
            double z = copysign(pow(fabs(w[j]), p - 1), w[j]) - lr * g[j];
            w[j] = copysign(pow(fabs(z), 1 / (p - 1)), z);
        }
    }
}

/* Tyurin 2024 ("From logistic regression to the perceptron algorithm: exploring gradient descent
 * with large step sizes"): on separable data GD on the logistic loss separates at every step size,
 * from 0.1 to 1000 x 2/lambda_max(H(w0)) (lambda by LAPACK on H = (1/n) sum_i sigmoid(m_i)
 * sigmoid(-m_i) x_i x_i' assembled by hand); larger steps separate in fewer steps while their loss
 * is the higher one before any run has separated. Also: /runs/separated_step is the first record
 * at 100 % accuracy, the margin is positive exactly when the accuracy is 100 %, it grows after
 * separation, the large steps' near-perceptron solution has a smaller margin, and /traj/margin
 * and /traj/loss follow GD by hand in double. */
static void test_logistic_large_steps(void)
{
    eos_config c;
    eos_data d;
    real w0[LD];
    omp_set_num_threads(1); /* tiny passes: results do not depend on it (test_threads_*) */
    openblas_set_num_threads(1);
    logistic_setup(&c, &d, w0);
    const eos_dataset *tr = &d.train;
    double H[LD * LD] = {0}, ev[LD], work[64 * LD];
    int nd = LD, lw = 64 * LD, info = 0;
    for (int i = 0; i < tr->n; i++) {
        double f = 0;
        for (int j = 0; j < LD; j++) f += (double)w0[j] * tr->X[i * LD + j];
        double h = 1 / ((1 + exp(f)) * (1 + exp(-f))) / tr->n;
        for (int a = 0; a < LD; a++)
            for (int b = 0; b < LD; b++) H[a * LD + b] += h * tr->X[i * LD + a] * tr->X[i * LD + b];
    }
    dsyev_("N", "U", &nd, H, &nd, ev, work, &lw, &info);
    EXPECT(info == 0 && ev[LD - 1] > 0, "dsyev %d", info);
    const double edge = 2 / ev[LD - 1], mult[5] = {0.1, 1, 10, 100, 1000};
    eos_run_result r[5];
    long sep[5], first = LSTEPS;
    for (int k = 0; k < 5; k++) {
        c.train.lr = mult[k] * edge;
        EXPECT(eos_run_result_alloc(&r[k], &c) == 0 && eos_train_run(&c, &d, &r[k], NULL) == 0,
               "run");
        sep[k] = r[k].separated_step;
        fprintf(stderr, "    lr %6g x 2/lambda0: separated at step %ld, margin %.4g, loss %.3g\n",
                mult[k], sep[k], r[k].margin[LSTEPS], r[k].loss[LSTEPS]);
        EXPECT(r[k].status == EOS_RUN_DONE && sep[k] >= 1, "lr %g x: status %d, separated at %ld",
               mult[k], r[k].status, sep[k]);
        if (sep[k] >= 1) first = sep[k] < first ? sep[k] : first;
    }
    for (int k = 0; k < 5; k++) {
        if (sep[k] < 1) continue;
        /* the first 100 % record, and a positive margin exactly where the accuracy is 100 % */
        EXPECT(r[k].acc[sep[k]] == 1 && r[k].acc[sep[k] - 1] < 1, "lr %g x: separated_step",
               mult[k]);
        int bad = 0;
        for (int t = 0; t <= LSTEPS; t++) bad += (r[k].margin[t] > 0) != (r[k].acc[t] == 1);
        EXPECT(bad == 0, "lr %g x: %d records where margin > 0 and 100 %% accuracy disagree",
               mult[k], bad);
        EXPECT(r[k].margin[LSTEPS] > r[k].margin[sep[k]], "lr %g x: margin %g at separation, %g "
               "at the end", mult[k], r[k].margin[sep[k]], r[k].margin[LSTEPS]);
        EXPECT(isnan(r[k].margin_p[LSTEPS]), "margin_p is for optimizers that use train.p");
        /* fewer steps at larger lr (up to a few steps among the near-perceptron large ones) */
        if (k > 0 && sep[k - 1] >= 1)
            EXPECT(sep[k] <= sep[k - 1] + 10, "separated at %ld (lr %g x) after %ld (lr %g x)",
                   sep[k], mult[k], sep[k - 1], mult[k - 1]);
    }
    EXPECT(sep[4] >= 1 && 20 * sep[4] < sep[0], "1000 x separates at %ld, 0.1 x at %ld", sep[4],
           sep[0]);
    /* before any run separates, the larger steps have the higher loss */
    for (long t = 1; t < first; t++)
        EXPECT(r[4].loss[t] > r[3].loss[t] && r[3].loss[t] > r[2].loss[t] &&
                   r[4].loss[t] > r[0].loss[t],
               "step %ld: losses %g %g %g %g %g", t, r[0].loss[t], r[1].loss[t], r[2].loss[t],
               r[3].loss[t], r[4].loss[t]);
    EXPECT(r[4].margin[LSTEPS] < r[0].margin[LSTEPS], "near-perceptron margin %g, small steps %g",
           r[4].margin[LSTEPS], r[0].margin[LSTEPS]);
    /* the recorded margin and loss against GD by hand (1 x 2/lambda0, 300 steps) */
    static double mg[LSTEPS + 1], mgp[LSTEPS + 1], ls[LSTEPS + 1];
    hand_pgd(tr, w0, edge, 2, 300, mg, mgp, ls);
    double em = 0, el = 0;
    for (int t = 0; t <= 300; t++) {
        em = fmax(em, fabs(r[1].margin[t] - mg[t]) / (1e-3 + fabs(mg[t])));
        el = fmax(el, fabs(r[1].loss[t] - ls[t]) / ls[t]);
    }
    EXPECT(em < 1e-3 && el < 1e-3, "margin vs GD by hand: rel err %.3g, loss %.3g", em, el);
    for (int k = 0; k < 5; k++) eos_run_result_free(&r[k]);

    /* p-GD: /traj/margin_p in the run's p against p-GD by hand, and p = 2 is the l2 margin.
     * 150 steps: for p = 3 the map back |z|^(1/2) has an infinite slope where a coordinate's
     * dual crosses 0, which parts float from double soon after. */
    const double ps[2] = {3, 2};
    c.train.optimizer = eos_optim_find("pgd");
    c.train.max_steps = 150;
    for (int q = 0; q < 2; q++) {
        eos_run_result rp;
        c.train.p = ps[q];
        c.train.lr = q ? edge : 0.1; /* w0 is tiny: the p = 3 dual step is large in w */
        EXPECT(eos_run_result_alloc(&rp, &c) == 0 && eos_train_run(&c, &d, &rp, NULL) == 0, " ");
        hand_pgd(tr, w0, c.train.lr, ps[q], 150, mg, mgp, ls);
        double e2 = 0, ep = 0, eq = 0;
        for (int t = 0; t <= 150; t++) {
            e2 = fmax(e2, fabs(rp.margin[t] - mg[t]) / (1e-3 + fabs(mg[t])));
            ep = fmax(ep, fabs(rp.margin_p[t] - mgp[t]) / (1e-3 + fabs(mgp[t])));
            eq = fmax(eq, fabs(rp.margin_p[t] - rp.margin[t]) / fabs(rp.margin[t]));
        }
        EXPECT(rp.status == EOS_RUN_DONE && e2 < 1e-3 && ep < 1e-3,
               "p %g: margin vs p-GD by hand rel err %.3g, margin_p %.3g", ps[q], e2, ep);
        if (q) EXPECT(eq < 1e-5, "p = 2: margin_p and margin differ by %.3g", eq);
        else EXPECT(eq > 0.05, "p = 3: margin_p equals the l2 margin (%.3g)", eq);
        eos_run_result_free(&rp);
    }
    eos_data_free(&d);
}

int main(void)
{
    TEST_RUN(test_threads_gd);
    TEST_RUN(test_threads_sgd);
    TEST_RUN(test_threads_adam);
    TEST_RUN(test_threads_sam);
    TEST_RUN(test_loss_goal_stops);
    TEST_RUN(test_linear_regression_threshold);
    TEST_RUN(test_warmup_linear_regression);
    TEST_RUN(test_flow_tracks_gd);
    TEST_RUN(test_icl_online);
    TEST_RUN(test_online_any_model);
    TEST_RUN(test_projections);
    TEST_RUN(test_precond_warm_start);
    TEST_RUN(test_eig_warm_start_top2);
    TEST_RUN(test_lobpcg_solver);
    TEST_RUN(test_logistic_large_steps);
    return TEST_SUMMARY();
}
