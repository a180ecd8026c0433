/* sgd.c: gradient descent, full-batch (gd) or on minibatches (sgd): w -= lr g. */
#include "optim_impl.h"

static int eos_optim_sgd_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    eos_optim_l2(o, g, w);
    eos_axpy(w, -o->lr, g, o->n);
    return 0;
}

/* On L = lambda/2 w^2, w <- (1 - lr lambda) w: stable iff lambda < 2/lr (Cohen et al. 2021). */
static double eos_optim_sgd_threshold(const eos_train_cfg *tc) { return 2.0 / tc->lr; }

/* Rows of the optimizer table (optim.c): name, state vectors, full-batch only, step,
 * preconditioner, stability threshold, needs the latest sharpness, velocity. */
const eos_optim_method eos_optim_method_gd = {"gd", 0, 1, eos_optim_sgd_step, NULL, eos_optim_sgd_threshold, 0, NULL, 0};
const eos_optim_method eos_optim_method_sgd = {"sgd", 0, 0, eos_optim_sgd_step, NULL, eos_optim_sgd_threshold, 0, NULL, 0};
