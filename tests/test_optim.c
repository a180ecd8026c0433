/* test_optim.c: optimizer updates against hand-derived closed forms, published stability
 * thresholds on quadratics, the table's thresholds against simulation, and SAM's step through the
 * gradient callback against the two-gradient sequence the trainer used to run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eos_config.h"
#include "eos_optim.h"
#include "eos_test.h"

static eos_train_cfg tc_for(const char *name, double lr)
{
    eos_config c;
    eos_config_default(&c);
    c.train.optimizer = eos_optim_find(name);
    c.train.lr = lr;
    return c.train;
}

/* Gradient callback of L = lambda/2 |w|^2 (n coordinates); remembers where it was last called. */
typedef struct {
    double lambda;
    size_t n;
    const real *last;
    int calls;
} quadratic;

static int quadratic_grad(void *ctx, const real *w, real *g)
{
    quadratic *q = ctx;
    for (size_t i = 0; i < q->n; i++) g[i] = (real)(q->lambda * w[i]);
    q->last = w;
    q->calls++;
    return 0;
}

/* Two Adam steps by hand (PyTorch's formulas, bias-corrected). */
static void test_adam_closed_form(void)
{
    eos_train_cfg tc = tc_for("adam", 0.1);
    eos_optim o;
    EXPECT(eos_optim_init(&o, &tc, 2) == 0, "init");
    real w[2] = {1.0, -2.0}, g1[2] = {0.5, -3.0}, g2[2] = {0.25, 1.0};
    real ga[2], gb[2];
    memcpy(ga, g1, sizeof ga);
    memcpy(gb, g2, sizeof gb);
    double b1 = tc.beta1, b2 = tc.beta2, eps = tc.eps;
    double ew[2] = {1.0, -2.0};
    for (int i = 0; i < 2; i++) {
        double m = (1 - b1) * g1[i], v = (1 - b2) * g1[i] * g1[i];
        ew[i] -= 0.1 * (m / (1 - b1)) / (sqrt(v / (1 - b2)) + eps);
        m = b1 * m + (1 - b1) * g2[i];
        v = b2 * v + (1 - b2) * g2[i] * g2[i];
        ew[i] -= 0.1 * (m / (1 - b1 * b1)) / (sqrt(v / (1 - b2 * b2)) + eps);
    }
    real d[2];
    EXPECT(eos_optim_precond_isqrt(&o, d) == 0, "no preconditioner before the first step");
    eos_optim_step(&o, w, ga, NULL);
    eos_optim_step(&o, w, gb, NULL);
    EXPECT_REL(w[0], ew[0], 1e-12);
    EXPECT_REL(w[1], ew[1], 1e-12);
    /* preconditioner after two steps: 1/sqrt(sqrt(v_hat) + eps) */
    EXPECT(eos_optim_precond_isqrt(&o, d) == 1, "adam is adaptive");
    double v0 = b2 * (1 - b2) * g1[0] * g1[0] + (1 - b2) * g2[0] * g2[0];
    EXPECT_REL(d[0], 1.0 / sqrt(sqrt(v0 / (1 - b2 * b2)) + eps), 1e-12);
    eos_optim_free(&o);
    tc = tc_for("sgd", 0.1);
    eos_optim_init(&o, &tc, 2);
    eos_optim_step(&o, w, ga, NULL);
    EXPECT(eos_optim_precond_isqrt(&o, d) == 0, "sgd is not adaptive");
    eos_optim_free(&o);
}

/* max_t |w_t| / |w_0| (into *peak) and |w_T| / |w_0| of T steps on the 1-D quadratic
 * L = lambda/2 w^2, gradients through the callback (SAM's second one too). */
static double run_quadratic(const eos_train_cfg *tc, double lambda, double w0, int steps,
                            double *peak)
{
    eos_optim o;
    EXPECT(eos_optim_init(&o, tc, 1) == 0, "init %s", eos_optim_name(tc->optimizer));
    quadratic q = {.lambda = lambda, .n = 1};
    const eos_optim_grad grad = {quadratic_grad, &q};
    real w[1] = {(real)w0}, g[1];
    double top = 1;
    for (int t = 0; t < steps && isfinite(w[0]); t++) {
        quadratic_grad(&q, w, g);
        EXPECT(eos_optim_step(&o, w, g, &grad) == 0, "step");
        if (fabs(w[0]) / w0 > top) top = fabs(w[0]) / w0;
    }
    eos_optim_free(&o);
    if (peak) *peak = isfinite(w[0]) ? top : INFINITY;
    return isfinite(w[0]) ? fabs(w[0]) / w0 : INFINITY;
}

/* Iterate a 1-D quadratic L = lambda/2 w^2 from w = 1 and report whether |w| shrank. */
static int converges(const char *name, double lr, double lambda, double beta, double rho)
{
    eos_train_cfg tc = tc_for(name, lr);
    tc.momentum = beta;
    tc.sam_rho = rho;
    return run_quadratic(&tc, lambda, 1.0, 400, NULL) < 1e-3;
}

/* GD is stable iff lr*lambda < 2; heavy ball iff lr*lambda < 2 + 2 beta (Cohen et al. 2021);
 * USAM iff lr*lambda*(1 + rho*lambda) < 2 (Dai, Ahn, Sra 2023). */
static void test_stability_thresholds(void)
{
    double lam = 10.0;
    EXPECT(converges("gd", 0.95 * 2 / lam, lam, 0, 0), "GD below 2/lr");
    EXPECT(!converges("gd", 1.05 * 2 / lam, lam, 0, 0), "GD above 2/lr");
    double beta = 0.9, thr = (2 + 2 * beta) / lam;
    EXPECT(converges("momentum", 0.95 * thr, lam, beta, 0), "heavy ball below");
    EXPECT(!converges("momentum", 1.05 * thr, lam, beta, 0), "heavy ball above");
    double rho = 0.05, thr_u = 2 / (lam * (1 + rho * lam));
    EXPECT(converges("usam", 0.95 * thr_u, lam, 0, rho), "USAM below");
    EXPECT(!converges("usam", 1.05 * thr_u, lam, 0, rho), "USAM above");
    /* GD itself would be stable at that lr: the extra curvature term is what USAM adds */
    EXPECT(converges("gd", 1.05 * thr_u, lam, 0, 0), "GD stable there");
}

/* The table's threshold is the edge: 3 % below it the quadratic converges, 3 % above it the
 * iterate grows. Adaptive methods start at w0 = 1e-12 with eps = 1, so P = sqrt(v_hat) + eps is
 * 1 to 1e-9 while the iterate grows a millionfold and their preconditioned sharpness is lambda
 * itself; clipping (at 1) never acts there, so clip is GD. */
static void check_edge(eos_train_cfg tc, double want)
{
    const char *name = eos_optim_name(tc.optimizer);
    tc.eps = 1.0;
    double thr = eos_optim_threshold(&tc);
    EXPECT_REL(thr, want, 1e-12);
    double peak, below = run_quadratic(&tc, 0.97 * thr, 1e-12, 3000, NULL);
    run_quadratic(&tc, 1.03 * thr, 1e-12, 3000, &peak);
    EXPECT(below < 1e-6, "%s converges at 0.97 x threshold %g (|w_T|/|w_0| = %g)", name, thr,
           below);
    EXPECT(peak > 1e6, "%s grows at 1.03 x threshold %g (max |w_t|/|w_0| = %g)", name, thr, peak);
}

static void test_table_thresholds(void)
{
    const double lr = 0.1;
    eos_train_cfg tc = tc_for("gd", lr);
    check_edge(tc, 2 / lr);
    check_edge(tc_for("sgd", lr), 20);
    check_edge(tc_for("clip", lr), 20);
    tc = tc_for("momentum", lr);
    tc.momentum = 0.5;
    check_edge(tc, 3 / lr);
    tc = tc_for("nesterov", lr);
    tc.momentum = 0.9;
    check_edge(tc, 3.8 / (2.8 * lr));
    /* Cohen et al. 2022: 38/lr at beta1 = 0.9 */
    check_edge(tc_for("adam", lr), 38 / lr);
    tc = tc_for("adamw", lr);
    tc.beta1 = 0.5;
    check_edge(tc, 3 / (0.5 * lr));
    check_edge(tc_for("rmsprop", lr), 2 / lr);
    /* USAM: lr lambda (1 + rho lambda) = 2 at the threshold (rho = 0.05: 8 rho / lr = 4) */
    tc = tc_for("usam", lr);
    check_edge(tc, (sqrt(1 + 8 * tc.sam_rho / lr) - 1) / (2 * tc.sam_rho));
    double u = eos_optim_threshold(&tc);
    EXPECT_REL(lr * u * (1 + tc.sam_rho * u), 2.0, 1e-12);
    tc.sam_rho = 0;
    EXPECT_REL(eos_optim_threshold(&tc), 2 / lr, 1e-15);
    tc = tc_for("pgd", lr);
    tc.p = 2;
    check_edge(tc, 2 / lr);
    /* none from the configuration: SAM's and NGD's edges move with ||g||, p-GD's with w */
    tc.p = 3;
    EXPECT(isnan(eos_optim_threshold(&tc)), "pgd p = 3");
    EXPECT(isnan(eos_optim_threshold((tc = tc_for("sam", lr), &tc))), "sam");
    EXPECT(isnan(eos_optim_threshold((tc = tc_for("ngd", lr), &tc))), "ngd");
    tc.optimizer = -1;
    EXPECT(isnan(eos_optim_threshold(&tc)), "no optimizer");
}

/* SAM ascends along g/||g|| on the callback's batch: the second gradient is taken at w_adv. */
static void test_sam_normalised(void)
{
    eos_train_cfg tc = tc_for("sam", 0.1);
    tc.sam_rho = 0.5;
    eos_optim o;
    eos_optim_init(&o, &tc, 2);
    quadratic q = {.lambda = 1, .n = 2};
    real w[2] = {1, 1}, g[2] = {3, 4};
    EXPECT(eos_optim_step(&o, w, g, &(eos_optim_grad){quadratic_grad, &q}) == 0, "step");
    EXPECT(q.calls == 1, "one further gradient, got %d", q.calls);
    EXPECT_REL(q.last[0], 1 + 0.5 * 0.6, 1e-12);
    EXPECT_REL(q.last[1], 1 + 0.5 * 0.8, 1e-12);
    EXPECT_REL(w[0], 1 - 0.1 * 1.3, 1e-12); /* w -= lr grad(w_adv) */
    EXPECT_REL(w[1], 1 - 0.1 * 1.4, 1e-12);
    EXPECT(eos_optim_step(&o, w, g, NULL) == EOS_ERR_INTERNAL, "sam without a callback");
    eos_optim_free(&o);
}

/* A non-linear gradient, so that the point it is evaluated at matters: g_i = w_i^3 + c_i w_i. */
static int cubic_grad(void *ctx, const real *w, real *g)
{
    size_t n = *(const size_t *)ctx;
    for (size_t i = 0; i < n; i++) g[i] = w[i] * w[i] * w[i] + (real)(1 + i % 7) * w[i];
    return 0;
}

/* SAM/USAM through the callback give bit for bit what the trainer computed before the callback
 * existed: w_adv = w + (real)(rho/||g|| or rho) g, g = grad(w_adv), g += wd w, w -= lr g. On more
 * coordinates than the threading cut-off, with weight decay, over three steps. */
static void test_sam_callback_matches_two_gradient_sequence(void)
{
    const size_t n = 40000;
    real *w = malloc(4 * n * sizeof(real)), *g = w + n, *w_old = g + n, *g_old = w_old + n;
    real *w_adv = malloc(n * sizeof(real));
    for (int normalise = 0; normalise < 2; normalise++) {
        eos_train_cfg tc = tc_for(normalise ? "sam" : "usam", 0.05);
        tc.sam_rho = 0.1;
        tc.weight_decay = 0.01;
        eos_optim o;
        EXPECT(eos_optim_init(&o, &tc, n) == 0, "init");
        size_t nn = n;
        const eos_optim_grad grad = {cubic_grad, &nn};
        for (size_t i = 0; i < n; i++) w[i] = w_old[i] = (real)sin(0.001 * (double)i + 0.3);
        for (int t = 0; t < 3; t++) {
            cubic_grad(&nn, w, g);
            EXPECT(eos_optim_step(&o, w, g, &grad) == 0, "step");
            cubic_grad(&nn, w_old, g_old);
            double scale = tc.sam_rho;
            if (normalise) {
                double gn = eos_nrm2(g_old, n);
                scale = gn > 0 ? tc.sam_rho / gn : 0.0;
            }
            real s = (real)scale;
            for (size_t i = 0; i < n; i++) w_adv[i] = w_old[i] + s * g_old[i];
            cubic_grad(&nn, w_adv, g_old);
            eos_axpy(g_old, tc.weight_decay, w_old, n);
            eos_axpy(w_old, -tc.lr, g_old, n);
        }
        EXPECT(memcmp(w, w_old, n * sizeof(real)) == 0, "%s: weights differ from the old sequence",
               eos_optim_name(tc.optimizer));
        EXPECT(memcmp(g, g_old, n * sizeof(real)) == 0, "%s: gradients differ",
               eos_optim_name(tc.optimizer));
        eos_optim_free(&o);
    }
    free(w);
    free(w_adv);
}

static void test_pgd(void)
{
    /* p = 2 is GD */
    eos_train_cfg tc = tc_for("pgd", 0.1);
    tc.p = 2;
    eos_optim o;
    eos_optim_init(&o, &tc, 3);
    real w[3] = {0.5, -1.5, 2}, g[3] = {1, 2, -3};
    eos_optim_step(&o, w, g, NULL);
    EXPECT_REL(w[0], 0.5 - 0.1, 1e-12);
    EXPECT_REL(w[1], -1.5 - 0.2, 1e-12);
    EXPECT_REL(w[2], 2 + 0.3, 1e-12);
    eos_optim_free(&o);
    /* p = 3: dual z = sign(w) w^2, z -= lr g, w = sign(z) sqrt|z| */
    tc.p = 3;
    eos_optim_init(&o, &tc, 2);
    real w3[2] = {0.5, 2}, g3[2] = {4, 1};
    eos_optim_step(&o, w3, g3, NULL);
    EXPECT_REL(w3[0], -sqrt(fabs(0.25 - 0.4)), 1e-12);
    EXPECT_REL(w3[1], sqrt(4 - 0.1), 1e-12);
    eos_optim_free(&o);
}

static void test_ngd_clip_nesterov_rmsprop(void)
{
    eos_train_cfg tc = tc_for("ngd", 0.5);
    eos_optim o;
    eos_optim_init(&o, &tc, 2);
    real w[2] = {0, 0}, g[2] = {3, 4};
    eos_optim_step(&o, w, g, NULL);
    EXPECT_REL(w[0], -0.3, 1e-12);
    EXPECT_REL(w[1], -0.4, 1e-12);
    eos_optim_free(&o);

    tc = tc_for("clip", 0.5);
    tc.clip = 1;
    eos_optim_init(&o, &tc, 2);
    real wc[2] = {0, 0}, gc[2] = {3, -0.5};
    eos_optim_step(&o, wc, gc, NULL);
    EXPECT_REL(wc[0], -0.5, 1e-12);
    EXPECT_REL(wc[1], 0.25, 1e-12);
    eos_optim_free(&o);

    tc = tc_for("nesterov", 0.1);
    tc.momentum = 0.5;
    eos_optim_init(&o, &tc, 1);
    real wn[1] = {0}, gn1[1] = {1}, gn2[1] = {2};
    eos_optim_step(&o, wn, gn1, NULL); /* v = 1, w = -0.1 (1 + 0.5) */
    eos_optim_step(&o, wn, gn2, NULL); /* v = 2.5, w -= 0.1 (2 + 1.25) */
    EXPECT_REL(wn[0], -0.15 - 0.325, 1e-12);
    eos_optim_free(&o);

    tc = tc_for("rmsprop", 0.01);
    tc.beta2 = 0.9;
    eos_optim_init(&o, &tc, 1);
    real wr[1] = {1}, gr[1] = {2};
    eos_optim_step(&o, wr, gr, NULL);
    EXPECT_REL(wr[0], 1 - 0.01 * 2 / (sqrt(0.1 * 4) + tc.eps), 1e-12);
    real dr[1];
    EXPECT(eos_optim_precond_isqrt(&o, dr) == 1, "rmsprop is adaptive");
    EXPECT_REL(dr[0], 1 / sqrt(sqrt(0.1 * 4) + tc.eps), 1e-12); /* no bias correction */
    eos_optim_free(&o);

    /* AdamW decays decoupled from the gradient */
    tc = tc_for("adamw", 0.1);
    tc.weight_decay = 0.5;
    eos_optim_init(&o, &tc, 1);
    real wa[1] = {2}, ga[1] = {1};
    eos_optim_step(&o, wa, ga, NULL);
    EXPECT_REL(wa[0], 2 * (1 - 0.05) - 0.1 * 1 / (1 + tc.eps), 1e-9);
    eos_optim_free(&o);
    /* while the others add it to the gradient (L2) */
    tc = tc_for("sgd", 0.1);
    tc.weight_decay = 0.5;
    eos_optim_init(&o, &tc, 1);
    real ws[1] = {2}, gs[1] = {1};
    eos_optim_step(&o, ws, gs, NULL);
    EXPECT_REL(ws[0], 2 - 0.1 * (1 + 0.5 * 2), 1e-12);
    eos_optim_free(&o);
}

/* The table's own checks: gd is full-batch only, and the key comes back with the message. */
static void test_check(void)
{
    eos_train_cfg tc = tc_for("gd", 0.1);
    const char *key = NULL;
    EXPECT(eos_optim_check(&tc, &key) == 0 && key == NULL, " ");
    tc.batch_size = 32;
    EXPECT(eos_optim_check(&tc, &key) == EOS_ERR_CONFIG, " ");
    EXPECT(strcmp(eos_error_msg(), "train.batch_size: optimizer gd is full-batch, so batch_size "
                                   "must be full (got 32; use train.optimizer sgd for "
                                   "minibatches)") == 0,
           "%s", eos_error_msg());
    EXPECT(key && strcmp(key, "train.batch_size") == 0, "%s", key ? key : "(null)");
    tc = tc_for("sgd", 0.1);
    tc.batch_size = 32;
    EXPECT(eos_optim_check(&tc, NULL) == 0, " ");
    tc.optimizer = 99;
    EXPECT(eos_optim_check(&tc, &key) == EOS_ERR_CONFIG, " ");
    EXPECT(strncmp(eos_error_msg(), "train.optimizer: ", 17) == 0, "%s", eos_error_msg());
    EXPECT(strcmp(key, "train.optimizer") == 0, "%s", key);
    eos_optim o;
    EXPECT(eos_optim_init(&o, &tc, 4) == EOS_ERR_CONFIG, "init of a row that does not exist");
}

/* Each schedule's lr against its closed form (docs/sweep-format.md) at the boundaries and
 * inside, with and without warm-up: lr = 0.2, lr_min = 0.02, max_steps 1000, W warm-up steps
 * from warmup_init 0.1, the decay over the T = 1000 - W steps after it. */
static void test_schedule_closed_forms(void)
{
    const double pi = 3.14159265358979323846, lr = 0.2, lo = 0.02, init = 0.1;
    const long steps[] = {0, 1, 99, 100, 101, 250, 349, 350, 351, 500, 999, 1000};
    const int n = (int)(sizeof steps / sizeof *steps);
    for (long W = 0; W <= 100; W += 100) {
        for (int sch = 0; eos_optim_schedule_name(sch); sch++) {
            const char *name = eos_optim_schedule_name(sch);
            eos_train_cfg tc = tc_for("gd", lr);
            tc.max_steps = 1000;
            tc.schedule = sch;
            tc.warmup_steps = W;
            tc.warmup_init = init;
            tc.lr_min = lo;
            tc.step_every = 250;
            tc.step_gamma = 0.5;
            const double T = (double)(1000 - W);
            for (int i = 0; i < n; i++) {
                const long t = steps[i];
                double want;
                if (t < W) {
                    want = lr * (init + (1 - init) * (double)t / (double)W);
                } else {
                    const double u = (double)(t - W);
                    if (!strcmp(name, "constant"))
                        want = lr;
                    else if (!strcmp(name, "cosine"))
                        want = lo + (lr - lo) * (1 + cos(pi * u / T)) / 2;
                    else if (!strcmp(name, "linear"))
                        want = lr - (lr - lo) * u / T;
                    else
                        want = lr * pow(0.5, floor(u / 250));
                }
                EXPECT(fabs(eos_optim_lr_at(&tc, t) - want) <= 1e-15, "%s W %ld step %ld: lr %.17g, want %.17g",
                       name, W, t, eos_optim_lr_at(&tc, t), want);
            }
            /* the ends: lr once the warm-up is over, init x lr at step 0 */
            EXPECT(eos_optim_lr_at(&tc, W) == lr, "%s: lr %.17g right after the warm-up", name,
                   eos_optim_lr_at(&tc, W));
            if (W > 0) EXPECT_REL(eos_optim_lr_at(&tc, 0), init * lr, 1e-15);
            if (sch == 1 || sch == 2)
                EXPECT(fabs(eos_optim_lr_at(&tc, 1000) - lo) <= 1e-16, "%s ends at lr_min: %.17g",
                       name, eos_optim_lr_at(&tc, 1000));
        }
    }
    /* step decays: exactly at multiples of step_every after the warm-up */
    eos_train_cfg tc = tc_for("gd", lr);
    tc.schedule = 3;
    tc.step_every = 7;
    tc.step_gamma = 0.5;
    tc.warmup_steps = 3;
    EXPECT(eos_optim_lr_at(&tc, 9) == lr && eos_optim_lr_at(&tc, 10) == lr / 2 &&
               eos_optim_lr_at(&tc, 16) == lr / 2 && eos_optim_lr_at(&tc, 17) == lr / 4,
           "step decays at 10 and 17");
    /* the warm-up ends at max_steps: no decay left (cosine stays at lr) */
    tc.schedule = 1;
    tc.max_steps = tc.warmup_steps;
    EXPECT(eos_optim_lr_at(&tc, tc.max_steps) == lr, "cosine with no steps after the warm-up");
    /* constant without warm-up: train.lr itself, bitwise, at every step */
    tc = tc_for("gd", 0.1);
    for (long t = 0; t < 2000; t += 37)
        EXPECT(eos_optim_lr_at(&tc, t) == 0.1, "constant at step %ld", t);
}

/* The optimizers step with the lr in force (o->lr), and the threshold follows it: one GD step per
 * schedule step on L = w^2/2 multiplies w by 1 - lr_t; adam's threshold at lr_t is its own formula
 * at lr_t, and infinite at the warm-up's lr 0. */
static void test_schedule_reaches_optimizers(void)
{
    eos_train_cfg tc = tc_for("gd", 0.5);
    tc.max_steps = 40;
    tc.schedule = 1; /* cosine */
    tc.warmup_steps = 10;
    tc.lr_min = 0.05;
    tc.warmup_init = 0.2;
    eos_optim o;
    EXPECT(eos_optim_init(&o, &tc, 1) == 0, "init");
    quadratic q = {.lambda = 1, .n = 1};
    real w[1] = {1}, g[1];
    double want = 1;
    for (long t = 0; t < 40; t++) {
        quadratic_grad(&q, w, g);
        EXPECT(eos_optim_step(&o, w, g, NULL) == 0, "step");
        EXPECT(o.lr == eos_optim_lr_at(&tc, t), "step %ld used lr %g", t, o.lr);
        want *= 1 - eos_optim_lr_at(&tc, t);
        EXPECT_REL(w[0], want, 1e-13);
        EXPECT_REL(eos_optim_threshold_at(&tc, t), 2 / eos_optim_lr_at(&tc, t), 1e-15);
    }
    eos_optim_free(&o);
    tc = tc_for("adam", 0.01);
    tc.max_steps = 100;
    tc.warmup_steps = 50;
    EXPECT(eos_optim_threshold_at(&tc, 0) == INFINITY, "lr 0: %g", eos_optim_threshold_at(&tc, 0));
    EXPECT_REL(eos_optim_threshold_at(&tc, 25), 38 / 0.005, 1e-12);
    EXPECT(eos_optim_threshold_at(&tc, 60) == eos_optim_threshold(&tc), "after the warm-up");
    tc = tc_for("sam", 0.01);
    tc.warmup_steps = 50;
    EXPECT(isnan(eos_optim_threshold_at(&tc, 0)), "sam defines none at any lr");
}

/* Warm-up into instability: GD on L = lambda/2 w^2 with a peak lr above 2/lambda. w shrinks
 * while lr_t lambda < 2 and grows from the first step whose lr crosses 2/lambda, which the warm-up's
 * closed form gives: lr (init + (1 - init) t/W) > 2/lambda for t > W (2/(lambda lr) - init)/(1 -
 * init); the run then diverges. */
static void test_warmup_crossing(void)
{
    const double lambda = 10, lr = 0.3;
    const double inits[] = {0, 0.1, 0.5};
    for (int k = 0; k < 3; k++) {
        eos_train_cfg tc = tc_for("gd", lr);
        tc.max_steps = 400;
        tc.warmup_steps = 100;
        tc.warmup_init = inits[k];
        const double edge = 100 * (2 / (lambda * lr) - inits[k]) / (1 - inits[k]);
        EXPECT(edge != floor(edge), "the crossing is not at a step boundary");
        const long cross = (long)floor(edge) + 1; /* first step with lr_t > 2/lambda */
        eos_optim o;
        EXPECT(eos_optim_init(&o, &tc, 1) == 0, "init");
        quadratic q = {.lambda = lambda, .n = 1};
        real w[1] = {1}, g[1];
        long first_growth = -1;
        for (long t = 0; t < 400 && isfinite(w[0]); t++) {
            const double before = fabs(w[0]);
            quadratic_grad(&q, w, g);
            eos_optim_step(&o, w, g, NULL);
            if (first_growth < 0 && fabs(w[0]) > before) first_growth = t;
            if (t < cross)
                EXPECT(fabs(w[0]) <= before, "init %g: |w| grew at step %ld, before the crossing "
                       "at %ld", inits[k], t, cross);
        }
        EXPECT(first_growth == cross, "init %g: |w| first grew at step %ld, the lr crosses 2/lambda "
               "at step %ld", inits[k], first_growth, cross);
        EXPECT(!isfinite(w[0]) || fabs(w[0]) > 1e30, "init %g: diverged (|w| = %g)", inits[k],
               fabs(w[0]));
        eos_optim_free(&o);
    }
}

/* Gradient of L = sum_i lambda_i w_i^2 / 2 (a diagonal quadratic, H = diag(lambda)). */
typedef struct {
    const double *lambda;
    size_t n;
    int calls;
} diag_quadratic;

static int diag_grad(void *ctx, const real *w, real *g)
{
    diag_quadratic *q = ctx;
    for (size_t i = 0; i < q->n; i++) g[i] = (real)(q->lambda[i] * w[i]);
    q->calls++;
    return 0;
}

/* max_i |w_i(t) - exp(-lambda_i t) w0_i| after `steps` flow steps of time lr each on the diagonal
 * quadratic, with the sharpness set to lambda_max; *m = the sub-steps per step. */
static double flow_error(double lr, double alpha, int steps, long *m)
{
    static const double lambda[4] = {20, 5, 1, 0.1}, w0[4] = {1, -0.5, 0.8, 2};
    eos_train_cfg tc = tc_for("flow", lr);
    tc.flow_alpha = alpha;
    eos_optim o;
    EXPECT(eos_optim_init(&o, &tc, 4) == 0, "init flow");
    eos_optim_set_sharpness(&o, lambda[0]);
    diag_quadratic q = {lambda, 4, 0};
    const eos_optim_grad grad = {diag_grad, &q};
    real w[4], g[4];
    for (int i = 0; i < 4; i++) w[i] = (real)w0[i];
    for (int s = 0; s < steps; s++) {
        diag_grad(&q, w, g);
        EXPECT(eos_optim_step(&o, w, g, &grad) == 0, "flow step");
    }
    *m = o.substeps;
    EXPECT(q.calls == 4 * steps * (int)o.substeps,
           "%d gradient calls: 4 per sub-step (the first given by the caller)", q.calls);
    double err = 0, t = lr * steps;
    for (int i = 0; i < 4; i++) err = fmax(err, fabs(w[i] - exp(-lambda[i] * t) * w0[i]));
    eos_optim_free(&o);
    return err;
}

/* Gradient flow on a quadratic is w(t) = exp(-tH) w0: RK4 with sub-steps of at most
 * alpha / lambda_max (alpha = 1: h lambda_max <= 1, where RK4's factor 1 - z + z^2/2 - z^3/6 +
 * z^4/24 is within 0.008 of e^-z and the stiff modes have decayed to ~1e-9 by t = 1) matches it
 * to 1e-6 at t = 1 and t = 10 (float64: test_optim links the float64 core); halving alpha
 * divides the error by about 2^4 = 16 (fourth order); a step's sub-steps are
 * ceil(lr / min(alpha / lambda_max, lr)). */
static void test_flow_quadratic(void)
{
    long m;
    double e1 = flow_error(0.1, 1.0, 10, &m);
    EXPECT(m == 2, "lr 0.1, alpha/sharpness 0.05: %ld sub-steps", m);
    EXPECT(e1 < 1e-6, "flow at t = 1: error %g", e1);
    EXPECT(flow_error(0.1, 1.0, 100, &m) < 1e-6, "flow at t = 10");
    double e2 = flow_error(0.1, 0.5, 10, &m);
    EXPECT(m == 4, "alpha 0.5: %ld sub-steps", m);
    EXPECT(e1 / e2 > 12 && e1 / e2 < 20, "fourth order: error ratio %g at half the sub-step",
           e1 / e2);
    EXPECT(flow_error(0.01, 1.0, 100, &m) < 1e-6 && m == 1, "lr below alpha/sharpness: one "
           "sub-step (%ld)", m);
    flow_error(0.0999, 1.0, 1, &m);
    EXPECT(m == 2, "0.0999 / 0.05: %ld sub-steps", m);
    eos_train_cfg tc = tc_for("flow", 0.1);
    EXPECT(isnan(eos_optim_threshold(&tc)), "the flow has no step-size threshold");
    EXPECT(eos_optim_needs_sharpness(tc.optimizer) && !eos_optim_needs_sharpness(0),
           "flow steps with the sharpness");
    EXPECT(eos_optim_check(&tc, NULL) == 0 && (tc.batch_size = 8, eos_optim_check(&tc, NULL)) != 0,
           "flow is full-batch");
}

int main(void)
{
    TEST_RUN(test_adam_closed_form);
    TEST_RUN(test_stability_thresholds);
    TEST_RUN(test_table_thresholds);
    TEST_RUN(test_sam_normalised);
    TEST_RUN(test_sam_callback_matches_two_gradient_sequence);
    TEST_RUN(test_pgd);
    TEST_RUN(test_ngd_clip_nesterov_rmsprop);
    TEST_RUN(test_check);
    TEST_RUN(test_schedule_closed_forms);
    TEST_RUN(test_schedule_reaches_optimizers);
    TEST_RUN(test_warmup_crossing);
    TEST_RUN(test_flow_quadratic);
    return TEST_SUMMARY();
}
