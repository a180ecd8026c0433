/* trace.c: Hutchinson's estimate of tr(H) on the sharpness set, (1/m) sum_j z_j' H z_j over
 * m = sharpness.trace_probes Rademacher probes (one bit of the stream per coordinate). */
#include "eos_curv.h"

#include <math.h>

static int trace_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.trace_probes > 0; }

static size_t trace_scratch(const eos_curv_ctx *c) { return 2 * c->np; } /* z, H z */

static int trace_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0, m = c->cfg->sharpness.trace_probes;
    real *z = c->scratch, *hz = c->scratch + c->np;
    double tr = 0;
    if (c->cfg->sharpness.trace_method != EOS_TRACE_HUTCHINSON) {
        /* The budget goes to that method's probe; skipping the draws it would have made keeps
         * the shared stream, so every other probe's values, as without it. */
        eos_rng_skip(c->rng, (uint64_t)m * c->np);
        out[0] = NAN;
        return 0;
    }
    for (int p = 0; p < m; p++) {
        for (size_t i = 0; i < c->np; i++) z[i] = (eos_rng_next(c->rng) >> 63) ? 1 : -1;
        EOS_TRY(eos_curv_hvp(c, c->w, z, hz));
        tr += eos_dot(z, hz, c->np);
    }
    out[0] = (float)(tr / m);
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_trace = {
    .name = "trace",
    .out = {{"trace", 0, NULL}},
    .enabled = trace_enabled,
    .scratch = trace_scratch,
    .stream = EOS_RNG_STREAM_SHARP,
    .measure = trace_measure,
};
