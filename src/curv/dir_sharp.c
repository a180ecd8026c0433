/* dir_sharp.c: directional sharpness u' H(w_t) u / |u|^2 of the update actually taken at a
 * measurement step, u = w_{t+1} - w_t (Pan & Li 2023); NaN when u = 0. */
#include "eos_curv.h"

#include <math.h>

static int dir_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.directional; }

static size_t dir_scratch(const eos_curv_ctx *c) { return 3 * c->np; } /* w_t, u, H(w_t) u */

static int dir_before_step(eos_curv_ctx *c)
{
    eos_copy(c->scratch, c->w, c->np);
    return 0;
}

static int dir_after_step(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    const real *w_prev = c->scratch;
    real *u = c->scratch + c->np, *hu = c->scratch + 2 * c->np;
    for (size_t i = 0; i < c->np; i++) u[i] = c->w[i] - w_prev[i];
    double uu = eos_dot(u, u, c->np);
    EOS_TRY(eos_curv_hvp(c, w_prev, u, hu));
    out[0] = uu > 0 ? (float)(eos_dot(u, hu, c->np) / uu) : NAN;
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_dir_sharp = {
    .name = "dir_sharp",
    .out = {{"dir_sharp", 0, NULL}},
    .enabled = dir_enabled,
    .scratch = dir_scratch,
    .before_step = dir_before_step,
    .after_step = dir_after_step,
};
