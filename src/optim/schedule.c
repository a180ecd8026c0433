/* schedule.c: learning-rate schedules, one row per schedule (train.schedule is the row index),
 * and the lr in force at a step, which every optimizer's step uses (eos_optim_step sets o->lr).
 *
 * The lr is a pure function of the configuration and the step, computed in double, so a
 * checkpoint needs nothing for it. With W = train.warmup_steps, T = max_steps - W and lr =
 * train.lr (the peak):
 *   step s < W:  lr * (warmup_init + (1 - warmup_init) * s / W)   (PyTorch LinearLR's form with
 *                start_factor = warmup_init, total_iters = W: init x lr at s = 0, lr at s = W)
 *   step s >= W: the schedule's row at u = s - W steps after the warm-up, of T.
 * docs/sweep-format.md gives the rows' formulas. */
#include "optim_impl.h"

#include <math.h>

typedef struct {
    const char *name;
    int decays_to_lr_min; /* train.lr_min is its value at max_steps (checked against lr) */
    int steps_every;      /* decays every train.step_every steps (checked >= 1) */
    /* the lr u steps after the warm-up, of T (u <= T when the step is at most max_steps) */
    double (*lr)(const eos_train_cfg *tc, long u, long T);
} schedule;

static double constant_lr(const eos_train_cfg *tc, long u, long T)
{
    (void)u, (void)T;
    return tc->lr;
}

/* The fraction u/T of the decay, 0 when there is none (the warm-up ends at max_steps). */
static double decay_fraction(long u, long T) { return T > 0 ? (double)u / (double)T : 0.0; }

/* lr_min + (lr - lr_min) (1 + cos(pi u/T)) / 2 (SGDR's annealing, Loshchilov & Hutter 2017). */
static double cosine_lr(const eos_train_cfg *tc, long u, long T)
{
    const double pi = 3.14159265358979323846;
    return tc->lr_min + 0.5 * (tc->lr - tc->lr_min) * (1.0 + cos(pi * decay_fraction(u, T)));
}

/* lr + (lr_min - lr) u/T. */
static double linear_lr(const eos_train_cfg *tc, long u, long T)
{
    return tc->lr + (tc->lr_min - tc->lr) * decay_fraction(u, T);
}

/* lr gamma^floor(u / step_every) (PyTorch StepLR). */
static double step_lr(const eos_train_cfg *tc, long u, long T)
{
    (void)T;
    const long k = tc->step_every > 0 ? u / tc->step_every : 0; /* validation asks for >= 1 */
    return tc->lr * pow(tc->step_gamma, (double)k);
}

static const schedule schedules[] = {
    {"constant", 0, 0, constant_lr},
    {"cosine", 1, 0, cosine_lr},
    {"linear", 1, 0, linear_lr},
    {"step", 0, 1, step_lr},
};
#define N_SCHEDULES ((int)(sizeof schedules / sizeof *schedules))

const char *eos_optim_schedule_name(int i)
{
    return i >= 0 && i < N_SCHEDULES ? schedules[i].name : NULL;
}

double eos_optim_lr_at(const eos_train_cfg *tc, long step)
{
    const long W = tc->warmup_steps;
    if (step < W)
        return tc->lr * (tc->warmup_init + (1.0 - tc->warmup_init) * (double)step / (double)W);
    const schedule *s = &schedules[tc->schedule >= 0 && tc->schedule < N_SCHEDULES ? tc->schedule
                                                                                     : 0];
    return s->lr(tc, step - W, tc->max_steps - W);
}

double eos_optim_threshold_at(const eos_train_cfg *tc, long step)
{
    eos_train_cfg at = *tc;
    at.lr = eos_optim_lr_at(tc, step);
    if (at.lr == tc->lr) return eos_optim_threshold(tc);
    /* lr 0 (the warm-up's first step from warmup_init 0): no sharpness is unstable */
    if (at.lr == 0) return isnan(eos_optim_threshold(tc)) ? NAN : INFINITY;
    return eos_optim_threshold(&at);
}

int eos_optim_schedule_check(const eos_train_cfg *tc, const char **key, const char **other)
{
    int rc = 0;
    const char *at = "train.schedule", *with = NULL;
    EOS_CHECK(eos_optim_schedule_name(tc->schedule), EOS_ERR_CONFIG, "%s: no schedule %d", at,
              tc->schedule);
    const schedule *s = &schedules[tc->schedule];
    at = "train.warmup_steps";
    with = "train.max_steps";
    EOS_CHECK(tc->warmup_steps <= tc->max_steps, EOS_ERR_CONFIG,
              "%s: %ld warm-up steps is more than train.max_steps = %ld", at, tc->warmup_steps,
              tc->max_steps);
    at = "train.step_every";
    with = "train.schedule";
    EOS_CHECK(!s->steps_every || tc->step_every >= 1, EOS_ERR_CONFIG,
              "%s: train.schedule %s needs step_every >= 1 (steps between decays), got %ld", at,
              s->name, tc->step_every);
    at = "train.lr_min";
    with = "train.lr";
    EOS_CHECK(!s->decays_to_lr_min || tc->lr_min <= tc->lr, EOS_ERR_CONFIG,
              "%s: %g is above train.lr = %g (train.schedule %s decays from lr to lr_min)", at,
              tc->lr_min, tc->lr, s->name);
    return 0;
fail:
    if (key) *key = at;
    if (other) *other = with;
    return rc;
}

int eos_optim_schedule_is_constant(const eos_train_cfg *tc)
{
    return tc->warmup_steps == 0 && tc->schedule == 0;
}
