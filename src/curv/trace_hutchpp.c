/* trace_hutchpp.c: Hutch++ estimate of tr(H) on the sharpness set (Meyer, Musco, Musco & Woodruff
 * 2021), with the budget of m = sharpness.trace_probes Hessian-vector products split in thirds:
 * Q = orth(H S) for k = m/3 Rademacher columns S, tr(Q' H Q) exactly (k products), and Hutchinson
 * on (I - QQ') H (I - QQ') with the remaining m - 2k Rademacher probes. Measured when
 * sharpness.trace_method is hutchpp; a separate probe (own dataset and stream), so /sharp/trace
 * stays Hutchinson's estimate whatever the method. */
#include "eos_curv.h"

#include <float.h>
#include <math.h>

/* The probe's own stream id ("hutchpp" in ASCII): apart from every eos_rng.h purpose. */
#define HUTCHPP_STREAM 0x68757463687070ULL

static int hutchpp_enabled(const eos_curv_ctx *c)
{
    return c->cfg->sharpness.trace_probes > 0 &&
           c->cfg->sharpness.trace_method == EOS_TRACE_HUTCHPP;
}

/* Q [m/3, np], z [np], H z [np] */
static size_t hutchpp_scratch(const eos_curv_ctx *c)
{
    return ((size_t)(c->cfg->sharpness.trace_probes / 3) + 2) * c->np;
}

static void rademacher(eos_rng *rng, real *z, size_t n)
{
    for (size_t i = 0; i < n; i++) z[i] = (eos_rng_next(rng) >> 63) ? 1 : -1;
}

/* v -= Q Q' v over the r orthonormal rows of Q, twice (modified Gram-Schmidt). */
static void project_out(const real *Q, int r, real *v, size_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < r; j++) {
            const real *q = Q + (size_t)j * n;
            eos_axpy(v, -eos_dot(q, v, n), q, n);
        }
}

static int hutchpp_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0, m = c->cfg->sharpness.trace_probes, k = m / 3, r = 0;
    size_t n = c->np;
    real *Q = c->scratch, *z = Q + (size_t)k * n, *hz = z + n;
    /* A column of H S with no component outside the others' span adds nothing: dropped. */
    const double drop = 1e3 * (sizeof(real) == sizeof(float) ? FLT_EPSILON : DBL_EPSILON);
    for (int j = 0; j < k; j++) {
        real *q = Q + (size_t)r * n;
        rademacher(c->rng, z, n);
        EOS_TRY(eos_curv_hvp(c, c->w, z, q));
        double before = eos_nrm2(q, n);
        project_out(Q, r, q, n);
        double after = eos_nrm2(q, n);
        if (!(after > drop * before)) continue;
        eos_scal(q, 1.0 / after, n);
        r++;
    }
    double tr_q = 0, tr_rest = 0;
    for (int j = 0; j < r; j++) {
        EOS_TRY(eos_curv_hvp(c, c->w, Q + (size_t)j * n, hz));
        tr_q += eos_dot(Q + (size_t)j * n, hz, n);
    }
    const int l = m - 2 * k;
    for (int p = 0; p < l; p++) {
        rademacher(c->rng, z, n);
        project_out(Q, r, z, n);
        EOS_TRY(eos_curv_hvp(c, c->w, z, hz));
        tr_rest += eos_dot(z, hz, n);
    }
    out[0] = (float)(tr_q + tr_rest / l);
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_trace_hutchpp = {
    .name = "trace_hutchpp",
    .out = {{"trace_hutchpp", 0, NULL}},
    .enabled = hutchpp_enabled,
    .scratch = hutchpp_scratch,
    .stream = HUTCHPP_STREAM,
    .measure = hutchpp_measure,
};
