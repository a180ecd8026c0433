/* test_optim.c: optimizer updates against hand-derived closed forms and published stability
 * thresholds on quadratics. */
#include <math.h>
#include <string.h>

#include "eos_config.h"
#include "eos_optim.h"
#include "eos_test.h"

static eos_train_cfg tc_for(eos_optimizer o, double lr)
{
    eos_config c;
    eos_config_default(&c);
    c.train.optimizer = o;
    c.train.lr = lr;
    return c.train;
}

/* Two Adam steps by hand (PyTorch's formulas, bias-corrected). */
static void test_adam_closed_form(void)
{
    eos_train_cfg tc = tc_for(EOS_OPT_ADAM, 0.1);
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
    eos_optim_step(&o, w, ga);
    eos_optim_step(&o, w, gb);
    EXPECT_REL(w[0], ew[0], 1e-12);
    EXPECT_REL(w[1], ew[1], 1e-12);
    /* preconditioner after two steps: 1/sqrt(sqrt(v_hat) + eps) */
    real d[2];
    EXPECT(eos_optim_precond_isqrt(&o, d) == 1, "adam is adaptive");
    double v0 = b2 * (1 - b2) * g1[0] * g1[0] + (1 - b2) * g2[0] * g2[0];
    EXPECT_REL(d[0], 1.0 / sqrt(sqrt(v0 / (1 - b2 * b2)) + eps), 1e-12);
    eos_optim_free(&o);
}

/* Iterate a 1-D quadratic L = lambda/2 w^2 and report whether |w| shrank. */
static int converges(eos_optimizer kind, double lr, double lambda, double beta, double rho)
{
    eos_train_cfg tc = tc_for(kind, lr);
    tc.momentum = beta;
    tc.sam_rho = rho;
    eos_optim o;
    eos_optim_init(&o, &tc, 1);
    real w[1] = {1.0}, g[1], wa[1];
    for (int t = 0; t < 400; t++) {
        g[0] = (real)(lambda * w[0]);
        if (eos_optim_is_sam(&o)) {
            eos_optim_sam_perturb(&o, wa, w, g);
            g[0] = (real)(lambda * wa[0]);
        }
        eos_optim_step(&o, w, g);
    }
    eos_optim_free(&o);
    return fabs(w[0]) < 1e-3;
}

/* GD is stable iff lr*lambda < 2; heavy ball iff lr*lambda < 2 + 2 beta (Cohen et al. 2021);
 * USAM iff lr*lambda*(1 + rho*lambda) < 2 (Dai, Ahn, Sra 2023). */
static void test_stability_thresholds(void)
{
    double lam = 10.0;
    EXPECT(converges(EOS_OPT_GD, 0.95 * 2 / lam, lam, 0, 0), "GD below 2/lr");
    EXPECT(!converges(EOS_OPT_GD, 1.05 * 2 / lam, lam, 0, 0), "GD above 2/lr");
    double beta = 0.9, thr = (2 + 2 * beta) / lam;
    EXPECT(converges(EOS_OPT_MOMENTUM, 0.95 * thr, lam, beta, 0), "heavy ball below");
    EXPECT(!converges(EOS_OPT_MOMENTUM, 1.05 * thr, lam, beta, 0), "heavy ball above");
    double rho = 0.05, thr_u = 2 / (lam * (1 + rho * lam));
    EXPECT(converges(EOS_OPT_USAM, 0.95 * thr_u, lam, 0, rho), "USAM below");
    EXPECT(!converges(EOS_OPT_USAM, 1.05 * thr_u, lam, 0, rho), "USAM above");
    /* GD itself would be stable at that lr: the extra curvature term is what USAM adds */
    EXPECT(converges(EOS_OPT_GD, 1.05 * thr_u, lam, 0, 0), "GD stable there");
}

static void test_sam_normalised(void)
{
    eos_train_cfg tc = tc_for(EOS_OPT_SAM, 0.1);
    tc.sam_rho = 0.5;
    eos_optim o;
    eos_optim_init(&o, &tc, 2);
    real w[2] = {1, 1}, g[2] = {3, 4}, wa[2];
    eos_optim_sam_perturb(&o, wa, w, g);
    EXPECT_REL(wa[0], 1 + 0.5 * 0.6, 1e-12);
    EXPECT_REL(wa[1], 1 + 0.5 * 0.8, 1e-12);
    eos_optim_free(&o);
}

static void test_pgd(void)
{
    /* p = 2 is GD */
    eos_train_cfg tc = tc_for(EOS_OPT_PGD, 0.1);
    tc.p = 2;
    eos_optim o;
    eos_optim_init(&o, &tc, 3);
    real w[3] = {0.5, -1.5, 2}, g[3] = {1, 2, -3};
    eos_optim_step(&o, w, g);
    EXPECT_REL(w[0], 0.5 - 0.1, 1e-12);
    EXPECT_REL(w[1], -1.5 - 0.2, 1e-12);
    EXPECT_REL(w[2], 2 + 0.3, 1e-12);
    eos_optim_free(&o);
    /* p = 3: dual z = sign(w) w^2, z -= lr g, w = sign(z) sqrt|z| */
    tc.p = 3;
    eos_optim_init(&o, &tc, 2);
    real w3[2] = {0.5, 2}, g3[2] = {4, 1};
    eos_optim_step(&o, w3, g3);
    EXPECT_REL(w3[0], -sqrt(fabs(0.25 - 0.4)), 1e-12);
    EXPECT_REL(w3[1], sqrt(4 - 0.1), 1e-12);
    eos_optim_free(&o);
}

static void test_ngd_clip_nesterov_rmsprop(void)
{
    eos_train_cfg tc = tc_for(EOS_OPT_NGD, 0.5);
    eos_optim o;
    eos_optim_init(&o, &tc, 2);
    real w[2] = {0, 0}, g[2] = {3, 4};
    eos_optim_step(&o, w, g);
    EXPECT_REL(w[0], -0.3, 1e-12);
    EXPECT_REL(w[1], -0.4, 1e-12);
    eos_optim_free(&o);

    tc = tc_for(EOS_OPT_CLIP, 0.5);
    tc.clip = 1;
    eos_optim_init(&o, &tc, 2);
    real wc[2] = {0, 0}, gc[2] = {3, -0.5};
    eos_optim_step(&o, wc, gc);
    EXPECT_REL(wc[0], -0.5, 1e-12);
    EXPECT_REL(wc[1], 0.25, 1e-12);
    eos_optim_free(&o);

    tc = tc_for(EOS_OPT_NESTEROV, 0.1);
    tc.momentum = 0.5;
    eos_optim_init(&o, &tc, 1);
    real wn[1] = {0}, gn1[1] = {1}, gn2[1] = {2};
    eos_optim_step(&o, wn, gn1); /* v = 1, w = -0.1 (1 + 0.5) */
    eos_optim_step(&o, wn, gn2); /* v = 2.5, w -= 0.1 (2 + 1.25) */
    EXPECT_REL(wn[0], -0.15 - 0.325, 1e-12);
    eos_optim_free(&o);

    tc = tc_for(EOS_OPT_RMSPROP, 0.01);
    tc.beta2 = 0.9;
    eos_optim_init(&o, &tc, 1);
    real wr[1] = {1}, gr[1] = {2};
    eos_optim_step(&o, wr, gr);
    EXPECT_REL(wr[0], 1 - 0.01 * 2 / (sqrt(0.1 * 4) + tc.eps), 1e-12);
    eos_optim_free(&o);

    /* AdamW decays decoupled from the gradient */
    tc = tc_for(EOS_OPT_ADAMW, 0.1);
    tc.weight_decay = 0.5;
    eos_optim_init(&o, &tc, 1);
    real wa[1] = {2}, ga[1] = {1};
    eos_optim_step(&o, wa, ga);
    EXPECT_REL(wa[0], 2 * (1 - 0.05) - 0.1 * 1 / (1 + tc.eps), 1e-9);
    eos_optim_free(&o);
}

int main(void)
{
    TEST_RUN(test_adam_closed_form);
    TEST_RUN(test_stability_thresholds);
    TEST_RUN(test_sam_normalised);
    TEST_RUN(test_pgd);
    TEST_RUN(test_ngd_clip_nesterov_rmsprop);
    return TEST_SUMMARY();
}
