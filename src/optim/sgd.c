/* sgd.c: gradient descent, full-batch (gd) or on minibatches (sgd): w -= lr g. */
#include "optim_impl.h"

int eos_optim_sgd_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    eos_optim_l2(o, g, w);
    eos_axpy(w, -o->tc.lr, g, o->n);
    return 0;
}

/* On L = lambda/2 w^2, w <- (1 - lr lambda) w: stable iff lambda < 2/lr (Cohen et al. 2021). */
double eos_optim_sgd_threshold(const eos_train_cfg *tc) { return 2.0 / tc->lr; }
