/* optim_impl.h: what an optimizer implements to be a row of the table in optim.c (internal).
 *
 * A row names the optimizer, how many parameter-sized state vectors it keeps, its step, its
 * preconditioner (adaptive methods) and its stability threshold. eos_optim_step counts the step
 * (o->t) and calls the row's step. Every loop is elementwise (OpenMP over coordinates), so results
 * do not depend on the thread count; norms use the fixed-block eos_nrm2. A new optimizer is one
 * file (or a row in its family's file, defined at its end) and one line of optim.c's METHODS. */
#ifndef EOS_OPTIM_IMPL_H
#define EOS_OPTIM_IMPL_H

#include "eos_optim.h"

#define EOS_OPTIM_PAR_MIN 16384 /* below this many coordinates, threading costs more than it saves */

struct eos_optim_method {
    const char *name;
    int n_state;    /* parameter-sized state vectors in o->state (zeroed at init) */
    int full_batch; /* full-batch only: train.batch_size must be full */
    /* w [n] -= update from g [n] (the gradient at w; may be overwritten) at the lr in force,
     * o->lr (never o->tc.lr: the schedule sets o->lr); o->t already counts this step.
     * grad: further gradients on the same batch. */
    int (*step)(eos_optim *o, real *w, real *g, const eos_optim_grad *grad);
    /* Adaptive methods: d [n] = P^-1/2 of the diagonal preconditioner (o->t >= 1); else NULL. */
    void (*precond_isqrt)(const eos_optim *o, real *d);
    /* See eos_optim_threshold (on the preconditioned sharpness when precond_isqrt is set). */
    double (*threshold)(const eos_train_cfg *tc);
    /* 1: the step uses o->sharpness, the latest measurement's top Hessian eigenvalue (flow's
     * sub-step), so the run must measure it (sharpness.every > 0). */
    int needs_sharpness;
    /* Heavy-ball methods: see eos_optim_velocity; else NULL. */
    const real *(*velocity)(const eos_optim *o, double *mu);
    /* 1: a mirror step with the potential (1/p) ||w||_p^p, p = train.p, whose implicit bias on
     * separable data is the l_p max margin (the trainer records /traj/margin_p). */
    int uses_p;
};

/* L2 regularisation g += weight_decay * w (every method but AdamW, which decays w itself). */
static inline void eos_optim_l2(const eos_optim *o, real *g, const real *w)
{
    if ((real)o->tc.weight_decay != 0) eos_axpy(g, o->tc.weight_decay, w, o->n);
}

#endif
