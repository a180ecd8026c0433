/* batch_sharp.c: Monte Carlo batch sharpness E_B[g_B' H_B g_B / |g_B|^2] (Andreyev & Beneventano
 * 2024) over minibatches of the run's batch size drawn from the probe's own stream, until the
 * relative standard error is below sharpness.batch_tol (at least 8 batches, at most 400).
 * Minibatch runs only. */
#include "eos_curv.h"

#include <math.h>

static int batch_enabled(const eos_curv_ctx *c)
{
    return c->cfg->sharpness.batch_sharpness && c->batch < c->train->n;
}

static size_t batch_scratch(const eos_curv_ctx *c) { return 2 * c->np; } /* g_B, H_B g_B */

static int batch_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0, b = c->batch;
    const double tol = c->cfg->sharpness.batch_tol;
    real *g = c->scratch, *hg = c->scratch + c->np;
    eos_curv_mean m = {0}; /* over batches with a non-zero gradient (the ratio needs one) */
    for (int draw = 0; draw < 400 && !eos_curv_mean_done(&m, tol); draw++) {
        const int *idx = eos_curv_sample(c, b);
        EOS_TRY(eos_curv_grad(c, c->w, idx, b, g));
        double gg = eos_dot(g, g, c->np);
        if (!(gg > 0)) continue;
        EOS_TRY(eos_curv_hvp_batch(c, c->w, idx, b, g, hg));
        eos_curv_mean_add(&m, eos_dot(g, hg, c->np) / gg);
    }
    out[0] = m.n > 0 ? (float)(m.s / m.n) : NAN;
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_batch_sharp = {
    .name = "batch_sharp",
    .out = {{"batch_sharp", 0, NULL}},
    .enabled = batch_enabled,
    .scratch = batch_scratch,
    .sampler = 1,
    .stream = EOS_RNG_STREAM_BATCH_SHARP,
    .measure = batch_measure,
};
