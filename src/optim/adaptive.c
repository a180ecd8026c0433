/* adaptive.c: Adam, AdamW and RMSprop in PyTorch's forms, and their diagonal preconditioners
 * P = sqrt(v_hat) + eps, whose P^-1/2 H P^-1/2 is the preconditioned sharpness (Cohen et al.
 * 2022). State: Adam/AdamW m [n] then v [n]; RMSprop v [n]. */
#include "optim_impl.h"

#include <math.h>

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w = decay w - lr m_hat / (sqrt(v_hat) + eps). */
static void adam_update(eos_optim *o, real *w, const real *g, real decay)
{
    const eos_train_cfg *tc = &o->tc;
    const size_t n = o->n;
    const real lr = (real)o->lr;
    const real b1 = (real)tc->beta1, b2 = (real)tc->beta2, eps = (real)tc->eps;
    const real bc1 = (real)(1.0 - pow(tc->beta1, (double)o->t));
    const real bc2 = (real)(1.0 - pow(tc->beta2, (double)o->t));
    real *m = o->state, *v = o->state + n;
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] = decay * w[i] - lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + eps);
    }
}

static int eos_optim_adam_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    eos_optim_l2(o, g, w);
    adam_update(o, w, g, 1);
    return 0;
}

/* AdamW: weight decay decoupled from the gradient, w *= 1 - lr wd. */
static int eos_optim_adamw_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    const real lr = (real)o->lr, wd = (real)o->tc.weight_decay;
    adam_update(o, w, g, 1 - lr * wd);
    return 0;
}

/* RMSprop with alpha = beta2: v = a v + (1-a) g^2; w -= lr g / (sqrt(v) + eps). */
static int eos_optim_rmsprop_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    eos_optim_l2(o, g, w);
    const size_t n = o->n;
    const real lr = (real)o->lr, a = (real)o->tc.beta2, eps = (real)o->tc.eps;
    real *v = o->state;
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) {
        v[i] = a * v[i] + (1 - a) * g[i] * g[i];
        w[i] -= lr * g[i] / (sqrt(v[i]) + eps);
    }
    return 0;
}

/* d = 1/sqrt(sqrt(v / bc2) + eps) from the second moments v [n]. */
static void precond_isqrt(real *d, const real *v, double bc2, double eps, size_t n)
{
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) d[i] = (real)(1.0 / sqrt(sqrt((double)v[i] / bc2) + eps));
}

static void eos_optim_adam_precond_isqrt(const eos_optim *o, real *d)
{
    precond_isqrt(d, o->state + o->n, 1.0 - pow(o->tc.beta2, (double)o->t), o->tc.eps, o->n);
}

static void eos_optim_rmsprop_precond_isqrt(const eos_optim *o, real *d)
{
    precond_isqrt(d, o->state, 1.0, o->tc.eps, o->n); /* no bias correction */
}

/* With P frozen (late in training), Adam is heavy ball on P^-1 H with an EMA: on the
 * preconditioned curvature lambda, m = b1 m + (1-b1) lambda w, w -= lr m, unstable at
 * lr lambda = (2 + 2 b1) / (1 - b1), 38/lr at b1 = 0.9 (Cohen et al. 2022). */
static double eos_optim_adam_threshold(const eos_train_cfg *tc)
{
    return (2.0 + 2.0 * tc->beta1) / ((1.0 - tc->beta1) * tc->lr);
}

/* RMSprop with P frozen is GD on P^-1 H: 2/lr on the preconditioned sharpness. */
static double eos_optim_rmsprop_threshold(const eos_train_cfg *tc) { return 2.0 / tc->lr; }

/* Rows of the optimizer table (optim.c): name, state vectors, full-batch only, step,
 * preconditioner, stability threshold, needs the latest sharpness, velocity. */
const eos_optim_method eos_optim_method_adam = {"adam", 2, 0, eos_optim_adam_step, eos_optim_adam_precond_isqrt, eos_optim_adam_threshold, 0, NULL, 0};
const eos_optim_method eos_optim_method_adamw = {"adamw", 2, 0, eos_optim_adamw_step, eos_optim_adam_precond_isqrt, eos_optim_adam_threshold, 0, NULL, 0};
const eos_optim_method eos_optim_method_rmsprop = {"rmsprop", 1, 0, eos_optim_rmsprop_step, eos_optim_rmsprop_precond_isqrt, eos_optim_rmsprop_threshold, 0, NULL, 0};
