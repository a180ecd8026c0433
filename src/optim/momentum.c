/* momentum.c: heavy-ball and Nesterov momentum in PyTorch's form, v = beta v + g;
 * heavy ball w -= lr v, Nesterov w -= lr (g + beta v). State: the velocity v [n]. */
#include "optim_impl.h"

static void momentum_update(eos_optim *o, real *w, real *g, int nesterov)
{
    eos_optim_l2(o, g, w);
    const size_t n = o->n;
    const real lr = (real)o->lr, beta = (real)o->tc.momentum;
    real *v = o->state;
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) {
        v[i] = beta * v[i] + g[i];
        w[i] -= lr * (nesterov ? g[i] + beta * v[i] : v[i]);
    }
}

static int eos_optim_heavy_ball_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    momentum_update(o, w, g, 0);
    return 0;
}

static int eos_optim_nesterov_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    momentum_update(o, w, g, 1);
    return 0;
}

/* On L = lambda/2 w^2 the iteration matrix of (w, v) has an eigenvalue -1 exactly at
 * lr lambda = 2 + 2 beta (heavy ball; Cohen et al. 2021) and at lr lambda (1 + 2 beta) =
 * 2 + 2 beta (Nesterov). */
static double eos_optim_heavy_ball_threshold(const eos_train_cfg *tc)
{
    return (2.0 + 2.0 * tc->momentum) / tc->lr;
}

static double eos_optim_nesterov_threshold(const eos_train_cfg *tc)
{
    return (2.0 + 2.0 * tc->momentum) / ((1.0 + 2.0 * tc->momentum) * tc->lr);
}

/* Heavy ball's next step is -lr (beta v + g); Nesterov's is not of that form. */
static const real *eos_optim_heavy_ball_velocity(const eos_optim *o, double *mu)
{
    *mu = o->tc.momentum;
    return o->state;
}

/* Rows of the optimizer table (optim.c): name, state vectors, full-batch only, step,
 * preconditioner, stability threshold, needs the latest sharpness, velocity. */
const eos_optim_method eos_optim_method_momentum = {"momentum", 1, 0, eos_optim_heavy_ball_step, NULL, eos_optim_heavy_ball_threshold, 0, eos_optim_heavy_ball_velocity, 0};
const eos_optim_method eos_optim_method_nesterov = {"nesterov", 1, 0, eos_optim_nesterov_step, NULL, eos_optim_nesterov_threshold, 0, NULL, 0};
