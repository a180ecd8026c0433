/* normalized.c: normalised GD, w -= lr g/||g||, and coordinate-wise clipped (S)GD, each g_i
 * clipped to [-clip, clip] before w -= lr g (Pan & Li 2023). */
#include "optim_impl.h"

#include <math.h>

static int eos_optim_ngd_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    eos_optim_l2(o, g, w);
    double gn = eos_nrm2(g, o->n);
    if (gn > 0) eos_axpy(w, -o->lr / gn, g, o->n);
    return 0;
}

static int eos_optim_clip_step(eos_optim *o, real *w, real *g, const eos_optim_grad *grad)
{
    (void)grad;
    eos_optim_l2(o, g, w);
    const size_t n = o->n;
    const real lr = (real)o->lr, c = (real)o->tc.clip;
#pragma omp parallel for schedule(static) if (n > EOS_OPTIM_PAR_MIN) /* split over coordinates */
    for (size_t i = 0; i < n; i++) {
        real gi = g[i] > c ? c : (g[i] < -c ? -c : g[i]);
        w[i] -= lr * gi;
    }
    return 0;
}

/* The step has length lr whatever the curvature: GD with step lr/||g||, whose edge 2||g||/lr
 * moves with the gradient norm, so the configuration alone defines none. */
static double eos_optim_ngd_threshold(const eos_train_cfg *tc)
{
    (void)tc;
    return NAN;
}

/* near a minimum no coordinate is clipped, so the linearised update is GD's */
static double clip_threshold(const eos_train_cfg *tc) { return 2.0 / tc->lr; }

/* Rows of the optimizer table (optim.c): name, state vectors, full-batch only, step,
 * preconditioner, stability threshold, needs the latest sharpness, velocity. */
const eos_optim_method eos_optim_method_ngd = {"ngd", 0, 0, eos_optim_ngd_step, NULL, eos_optim_ngd_threshold, 0, NULL, 0};
const eos_optim_method eos_optim_method_clip = {"clip", 0, 0, eos_optim_clip_step, NULL, clip_threshold, 0, NULL, 0};
