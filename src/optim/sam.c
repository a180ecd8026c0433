/* sam.c: sharpness-aware minimisation (Foret et al. 2021) and its unnormalised variant: ascend
 * to w_adv = w + rho g/||g|| (SAM) or w + rho g (USAM), take the gradient there on the same batch,
 * and step from w with it. State: w_adv [n]. */
#include "optim_impl.h"

#include <math.h>

static int sam_update(eos_optim *o, real *w, real *g, const eos_optim_grad *grad, int normalise)
{
    int rc = 0;
    EOS_CHECK(grad, EOS_ERR_INTERNAL, "%s needs a gradient callback", o->method->name);
    const size_t n = o->n;
    real *w_adv = o->state;
    double scale = o->tc.sam_rho;
    if (normalise) {
        double gn = eos_nrm2(g, n);
        scale = gn > 0 ? o->tc.sam_rho / gn : 0.0;
    }
    const real s = (real)scale;
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) w_adv[i] = w[i] + s * g[i];
    EOS_TRY(grad->at(grad->ctx, w_adv, g));
    eos_optim_l2(o, g, w);
    eos_axpy(w, -o->lr, g, n);
fail:
    return rc;
}

static int eos_optim_sam_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    return sam_update(o, w, g, grad, 1);
}

static int eos_optim_usam_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    return sam_update(o, w, g, grad, 0);
}

/* SAM at gradient norm ||g|| is USAM with rho/||g||, so its edge moves with the gradient norm
 * (Long & Bartlett 2023, arXiv 2309.12488): the configuration alone defines none. */
static double eos_optim_sam_threshold(const eos_train_cfg *tc)
{
    (void)tc;
    return NAN;
}

/* On L = lambda/2 w^2, USAM steps w <- (1 - lr lambda (1 + rho lambda)) w: stable iff
 * lr lambda (1 + rho lambda) < 2 (Dai, Ahn, Sra 2023), i.e. below the positive root of
 * rho lambda^2 + lambda - 2/lr, written without cancellation (2/lr at rho = 0). */
static double eos_optim_usam_threshold(const eos_train_cfg *tc)
{
    return 4.0 / (tc->lr * (1.0 + sqrt(1.0 + 8.0 * tc->sam_rho / tc->lr)));
}

/* Rows of the optimizer table (optim.c): name, state vectors, full-batch only, step,
 * preconditioner, stability threshold, needs the latest sharpness, velocity. */
const eos_optim_method eos_optim_method_sam = {"sam", 1, 0, eos_optim_sam_step, NULL, eos_optim_sam_threshold, 0, NULL, 0};
const eos_optim_method eos_optim_method_usam = {"usam", 1, 0, eos_optim_usam_step, NULL, eos_optim_usam_threshold, 0, NULL, 0};
