/* flow.c: gradient flow, dw/dt = -grad L(w) (Cohen et al. 2021, src/flow.py), integrated with
 * classical RK4. One step advances time by the lr in force (step s is time s lr under a constant
 * lr, comparable with GD at lr) in m equal sub-steps h = lr/m, m = ceil(lr / min(flow_alpha /
 * sharpness, lr)), sharpness the top Hessian eigenvalue of the latest measurement (o->sharpness;
 * the trainer measures at step 0, before the first update, so there always is one). Full-batch.
 * State: the stages' evaluation point x [n] and the slope sum acc [n] (rewritten every step). */
#include "optim_impl.h"

#include <math.h>

/* g [n] = gradient at x (with the L2 term of weight decay, as every other method). */
static int flow_grad(eos_optim *o, const eos_optim_grad *grad, const real *x, real *g)
{
    int rc = grad->at(grad->ctx, x, g);
    if (!rc) eos_optim_l2(o, g, x);
    return rc;
}

/* x = w - c g and acc (+)= weight g, elementwise (one RK4 stage). */
static void stage(size_t n, const real *w, const real *g, real c, real weight, int first, real *x,
                  real *acc)
{
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) {
        acc[i] = first ? g[i] : acc[i] + weight * g[i];
        x[i] = w[i] - c * g[i];
    }
}

static int eos_optim_flow_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    int rc = 0;
    EOS_CHECK(grad, EOS_ERR_INTERNAL, "flow needs a gradient callback");
    const size_t n = o->n;
    real *x = o->state, *acc = o->state + n;
    double hmax = o->lr;
    if (isfinite(o->sharpness) && o->sharpness > 0 && o->tc.flow_alpha / o->sharpness < hmax)
        hmax = o->tc.flow_alpha / o->sharpness;
    const long m = (long)ceil(o->lr / hmax - 1e-12); /* lr/hmax is whole when alpha/S divides it */
    const double h = o->lr / (double)(m > 0 ? m : 1);
    const real hh = (real)(0.5 * h), hf = (real)h, h6 = (real)(h / 6.0);
    for (long s = 0; s < (m > 0 ? m : 1); s++) {
        if (s == 0)
            eos_optim_l2(o, g, w); /* k1 from the step's own gradient */
        else
            EOS_TRY(flow_grad(o, grad, w, g));
        stage(n, w, g, hh, 1, 1, x, acc);  /* acc = k1, x = w - h/2 k1 */
        EOS_TRY(flow_grad(o, grad, x, g)); /* k2 */
        stage(n, w, g, hh, 2, 0, x, acc);  /* acc += 2 k2, x = w - h/2 k2 */
        EOS_TRY(flow_grad(o, grad, x, g)); /* k3 */
        stage(n, w, g, hf, 2, 0, x, acc);  /* acc += 2 k3, x = w - h k3 */
        EOS_TRY(flow_grad(o, grad, x, g)); /* k4 */
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
        for (size_t i = 0; i < n; i++) w[i] -= h6 * (acc[i] + g[i]);
    }
    o->substeps = m > 0 ? m : 1;
fail:
    return rc;
}

/* The flow has no step-size instability: no threshold. */
static double eos_optim_flow_threshold(const eos_train_cfg *tc)
{
    (void)tc;
    return NAN;
}

/* Row of the optimizer table (optim.c): name, state vectors, full-batch only, step,
 * preconditioner, stability threshold, needs the latest sharpness, velocity. */
const eos_optim_method eos_optim_method_flow = {"flow", 2, 1, eos_optim_flow_step, NULL, eos_optim_flow_threshold, 1, NULL, 0};
