/* batch_sharp_mom.c: batch sharpness of heavy-ball momentum (Andreyev & Beneventano's variant for
 * SGD with momentum): E_B[s' H_B s / s' g_B] with s = mu v + g_B the direction of the next step
 * on batch B (v the optimizer's velocity, mu its coefficient), over minibatches of the run's
 * batch size from the probe's own stream, stopped like batch sharpness (sharpness.batch_tol).
 * Measured with sharpness.batch_momentum on minibatch runs (validation refuses it for an
 * optimizer without a velocity, eos_optim_has_velocity: momentum has one); with v = 0 it is
 * batch sharpness. */
#include "eos_curv.h"

#include <math.h>

/* "bs_mom" */
#define BSM_STREAM 0x62735f6d6f6dULL

static int bsm_enabled(const eos_curv_ctx *c)
{
    return c->cfg->sharpness.batch_momentum && c->batch < c->train->n &&
           eos_optim_has_velocity(c->cfg->train.optimizer);
}

static size_t bsm_scratch(const eos_curv_ctx *c) { return 3 * c->np; } /* g_B, s, H_B s */

static int bsm_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0, b = c->batch;
    const size_t np = c->np;
    real *g = c->scratch, *s = c->scratch + np, *hs = c->scratch + 2 * np;
    double mu = 0;
    const real *v = eos_optim_velocity(c->opt, &mu);
    EOS_CHECK(v != NULL, EOS_ERR_INTERNAL, "batch_sharp_mom: the optimizer has no velocity");
    eos_curv_mean m = {0}; /* over batches with s' g_B != 0 (the ratio needs it) */
    for (int draw = 0; draw < 400 && !eos_curv_mean_done(&m, c->cfg->sharpness.batch_tol);
         draw++) {
        const int *idx = eos_curv_sample(c, b);
        EOS_TRY(eos_curv_grad(c, c->w, idx, b, g));
        for (size_t i = 0; i < np; i++) s[i] = (real)(mu * (double)v[i] + (double)g[i]);
        double sg = eos_dot(s, g, np);
        if (!(sg != 0 && isfinite(sg))) continue;
        EOS_TRY(eos_curv_hvp_batch(c, c->w, idx, b, s, hs));
        eos_curv_mean_add(&m, eos_dot(s, hs, np) / sg);
    }
    out[0] = m.n > 0 ? (float)(m.s / m.n) : NAN;
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_batch_sharp_mom = {
    .name = "batch_sharp_mom",
    .out = {{"batch_sharp_mom", 0, NULL}},
    .enabled = bsm_enabled,
    .scratch = bsm_scratch,
    .sampler = 1,
    .stream = BSM_STREAM,
    .measure = bsm_measure,
};
