/* test_eos.c: science acceptance (GD and Adam at the edge of stability). fc-tanh (200, 200) on the first 1,000 Fashion-MNIST images, MSE,
 * full-batch GD: sharpness starts well below 2/lr, rises (progressive sharpening), crosses 2/lr,
 * self-stabilises after a bounded first overshoot, and from then on stays within +-15 % of 2/lr for
 * the rest of training (edge of stability, Cohen et al.
 * 2021, fig. 1; shared/references.md lists the measured Fashion-MNIST analogue). */
#include <stdlib.h>
#include <string.h>

#include "eos_data.h"
#include "eos_train.h"
#include "eos_optim.h"
#include "eos_test.h"

static void check_lr(double lr, long steps)
{
    eos_config c;
    eos_config_default(&c);
    c.seed = 0;
    EXPECT(eos_config_set(&c, "data.source", "fashion-mnist") == 0, "%s", eos_error_msg());
    c.data.n_train = 1000;
    c.data.n_test = 0;
    c.data.standardize = 1;
    c.model.n_hidden = 2;
    c.model.hidden[0] = c.model.hidden[1] = 200;
    c.model.activation = EOS_ACT_TANH;
    c.loss = EOS_LOSS_MSE;
    c.train.optimizer = eos_optim_find("gd");
    c.train.lr = lr;
    c.train.max_steps = steps;
    c.train.record_every = 50;
    c.sharpness.every = 50;
    c.sharpness.k = 1;
    c.sharpness.tol = 1e-3;
    eos_data d;
    eos_run_result r;
    test_train(&c, &d, &r);
    double thr = 2.0 / lr;
    const float *eig = test_sharp(&r, "eig", NULL);
    /* Onset of the edge of stability: sharpness first crosses 2/lr, overshoots while the unstable
     * direction grows out of rounding noise (for longer in float64 than in float32, so the size of
     * this first overshoot depends on the precision), and then self-stabilises: the first
     * measurement at which it has come back down. From there on it must stay within +-15 %. */
    int crossed, onset;
    double peak, low;
    test_eos_onset(eig, r.n_sharp, thr, &crossed, &onset, &peak, &low);
    EXPECT(r.status == EOS_RUN_DONE, "status %d (%s)", r.status, r.message);
    EXPECT(eig[0] < 0.75 * thr, "initial sharpness %g should be well below 2/lr = %g", eig[0], thr);
    EXPECT(crossed > 0, "sharpness never reached 2/lr (progressive sharpening)");
    EXPECT(onset > 0 && onset < r.n_sharp * 2 / 3, "no self-stabilisation, or too late (measurement %d of %d)",
           onset, r.n_sharp);
    EXPECT(peak <= 1.25 * thr, "first overshoot %g is more than 25 %% above 2/lr", peak);
    for (int j = onset; onset > 0 && j < r.n_sharp; j++)
        EXPECT(fabs(eig[j] - thr) <= 0.15 * thr, "step %d: sharpness %g outside 2/lr +-15%%",
               j * c.sharpness.every, eig[j]);
    /* the loss keeps decreasing overall at the edge of stability */
    EXPECT(r.final_loss < 0.5 * r.loss[0], "loss %g -> %g", r.loss[0], r.final_loss);
    eos_run_result_free(&r);
    eos_data_free(&d);
}

/* Adaptive methods at the edge of stability (Cohen et al. 2022): full-batch Adam's preconditioned
 * sharpness (top eigenvalue of P^-1/2 H P^-1/2) rises to (2 + 2 beta1) / ((1 - beta1) lr) = 38/lr
 * and stays there, while the raw sharpness stays far below 2/lr. */
static void test_adam_precond_eos(void)
{
    eos_config c;
    eos_config_default(&c);
    c.data.n_train = 1000;
    c.model.n_hidden = 2;
    c.model.hidden[0] = c.model.hidden[1] = 200;
    c.train.optimizer = eos_optim_find("adam");
    c.train.lr = 4e-4;
    c.train.beta1 = 0.9;
    c.train.beta2 = 0.999;
    c.train.eps = 1e-7;
    c.train.max_steps = 1500;
    c.train.record_every = 50;
    c.sharpness.every = 50;
    c.sharpness.k = 1;
    c.sharpness.precond = 1;
    eos_data d;
    memset(&d, 0, sizeof d);
    EXPECT(eos_data_load(&d, &c) == 0, "data: %s", eos_error_msg());
    eos_run_result r;
    eos_run_result_alloc(&r, &c);
    EXPECT(eos_train_run(&c, &d, &r, NULL) == 0 && r.status == EOS_RUN_DONE, "train: %s", r.message);
    int k;
    const float *pre = test_sharp(&r, "precond_eig", NULL), *eig = test_sharp(&r, "eig", &k);
    double thr = (2 + 2 * c.train.beta1) / ((1 - c.train.beta1) * c.train.lr);
    int onset = -1;
    fprintf(stderr, "  Adam lr %g: 38/lr = %g; preconditioned sharpness:", c.train.lr, thr);
    for (int j = 0; j < r.n_sharp; j++) {
        fprintf(stderr, "%s%.0f", j % 10 ? " " : "\n    ", pre[j]);
        if (onset < 0 && pre[j] >= 0.9 * thr) onset = j;
    }
    fprintf(stderr, "\n");
    EXPECT(isnan(pre[0]), "no preconditioner before the first step");
    EXPECT(pre[1] < 0.6 * thr, "starts well below 38/lr: %g", pre[1]);
    EXPECT(onset > 0 && onset < r.n_sharp / 2, "never reached 38/lr, or too late (%d of %d)", onset,
           r.n_sharp);
    for (int j = onset; onset > 0 && j < r.n_sharp; j++)
        EXPECT(fabs(pre[j] - thr) <= 0.15 * thr, "step %d: %g outside 38/lr +-15%%",
               j * c.sharpness.every, pre[j]);
    EXPECT(eig[(r.n_sharp - 1) * k] < 0.1 * 2 / c.train.lr, "raw sharpness %g is not the tracked quantity",
           eig[(r.n_sharp - 1) * k]);
    eos_run_result_free(&r);
    eos_data_free(&d);
}

static void test_eos_lr_004(void) { check_lr(0.04, 1500); }
static void test_eos_lr_005(void) { check_lr(0.05, 1200); }

int main(void)
{
    TEST_RUN(test_eos_lr_004);
    TEST_RUN(test_eos_lr_005);
    TEST_RUN(test_adam_precond_eos);
    return TEST_SUMMARY();
}
