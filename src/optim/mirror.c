/* mirror.c: p-GD, mirror descent with the potential psi(w) = (1/p) sum_i |w_i|^p, p > 1 (Sun,
 * Ahn, Thrampoulidis, Azizan 2022-2023): grad psi(w) <- grad psi(w) - lr g per coordinate, i.e.
 * sign(w)|w|^(p-1) -= lr g, then map back. p = 2 is GD. */
#include "optim_impl.h"

#include <math.h>

/* Mirror map of psi and its inverse. */
static double pgd_dual(double w, double p) { return copysign(pow(fabs(w), p - 1.0), w); }
static double pgd_primal(double z, double p) { return copysign(pow(fabs(z), 1.0 / (p - 1.0)), z); }

static int eos_optim_pgd_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    eos_optim_l2(o, g, w);
    const size_t n = o->n;
    const double p = o->tc.p, lr = o->lr;
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) w[i] = (real)pgd_primal(pgd_dual(w[i], p) - lr * g[i], p);
    return 0;
}

/* Linearised, the step is GD preconditioned by the mirror map's Hessian (p-1) |w_i|^(p-2), which
 * depends on w: a threshold on the Hessian's own sharpness exists only for p = 2 (GD's 2/lr). */
static double eos_optim_pgd_threshold(const eos_train_cfg *tc) { return tc->p == 2.0 ? 2.0 / tc->lr : NAN; }

/* Rows of the optimizer table (optim.c): name, state vectors, full-batch only, step,
 * preconditioner, stability threshold, needs the latest sharpness, velocity. */
const eos_optim_method eos_optim_method_pgd = {"pgd", 0, 0, eos_optim_pgd_step, NULL, eos_optim_pgd_threshold, 0, NULL, 1};
