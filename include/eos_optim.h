/* eos_optim.h: optimizers that update a flat parameter vector in place. */
#ifndef EOS_OPTIM_H
#define EOS_OPTIM_H

#include "eos_common.h"
#include "eos_config.h"

typedef struct {
    eos_optimizer kind;
    eos_train_cfg tc;  /* copy of the hyperparameters */
    size_t n;
    long t;            /* steps taken */
    real *state;       /* one buffer: m [n] then v [n] (only those the optimizer needs) */
    real *m, *v;
} eos_optim;

int eos_optim_init(eos_optim *o, const eos_train_cfg *tc, size_t n);
void eos_optim_free(eos_optim *o);

/* Apply one step to w with gradient g (g is modified in place: weight decay, clipping).
 * SAM/USAM: g must already be the gradient at the perturbed point (see eos_optim_sam_perturb);
 * the step itself is then plain (S)GD. */
void eos_optim_step(eos_optim *o, real *w, real *g);

/* SAM/USAM ascent: w_adv = w + rho * g / ||g|| (SAM) or w + rho * g (USAM). */
void eos_optim_sam_perturb(const eos_optim *o, real *w_adv, const real *w, const real *g);
int eos_optim_is_sam(const eos_optim *o);

/* Adaptive optimizers' diagonal preconditioner as P^-1/2 (Cohen et al. 2022: P = sqrt(v_hat) +
 * eps). Returns 0 and leaves d untouched when the optimizer is not adaptive or has taken no
 * step yet (P undefined), 1 when d [n] was filled. */
int eos_optim_precond_isqrt(const eos_optim *o, real *d);

#endif
