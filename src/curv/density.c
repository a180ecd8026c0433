/* density.c: spectral density of H by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao
 * 2019; PyHessian): for each of M = sharpness.density_probes normalised Rademacher start vectors,
 * m = sharpness.density_steps Lanczos steps with full reorthogonalisation; the Ritz values of the
 * tridiagonal T are the nodes, the squared first components of its eigenvectors the weights (they
 * sum to 1). On breakdown (an invariant Krylov space: H has fewer distinct eigenvalues seen from
 * the start vector than m) the quadrature is already exact and the rest of the row stays NaN. */
#include "eos_curv.h"

#include <math.h>

extern void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
                   double *work, int *info);

/* |residual| / |H| below which the Krylov space is invariant: a few rounding errors of real. */
#define BREAKDOWN (sizeof(real) == sizeof(float) ? 1e-5 : 1e-10)

#define DENSITY_STREAM 0x64656e73697479ULL /* "density": a stream of its own */

static int density_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.density_probes > 0; }

static void density_shape(const eos_config *cfg, int *d)
{
    d[0] = cfg->sharpness.density_probes;
    d[1] = cfg->sharpness.density_steps;
}

/* basis [m + 1, np], H q [np] */
static size_t density_scratch(const eos_curv_ctx *c)
{
    return ((size_t)c->cfg->sharpness.density_steps + 2) * c->np;
}

static int density_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    const int n_probes = c->cfg->sharpness.density_probes, m = c->cfg->sharpness.density_steps;
    size_t n = c->np;
    real *basis = c->scratch, *w = basis + (size_t)(m + 1) * n;
    double alpha[EOS_DENSITY_MAX_STEPS], beta[EOS_DENSITY_MAX_STEPS], d[EOS_DENSITY_MAX_STEPS],
        e[EOS_DENSITY_MAX_STEPS], z[EOS_DENSITY_MAX_STEPS * EOS_DENSITY_MAX_STEPS],
        work[2 * EOS_DENSITY_MAX_STEPS];
    float *nodes = out, *weights = out + (size_t)n_probes * m; /* [M, m] each */
    for (int p = 0; p < n_probes; p++) {
        for (size_t i = 0; i < n; i++) basis[i] = (eos_rng_next(c->rng) >> 63) ? 1 : -1;
        eos_scal(basis, 1.0 / sqrt((double)n), n);
        int len = 0;
        double anorm = 0;
        for (int j = 0; j < m; j++) {
            real *q = basis + (size_t)j * n;
            EOS_TRY(eos_curv_hvp(c, c->w, q, w));
            alpha[j] = eos_dot(q, w, n);
            EOS_CHECK(isfinite(alpha[j]), EOS_ERR_NUMERIC, "density: non-finite product");
            anorm = fmax(anorm, fabs(alpha[j]));
            for (int pass = 0; pass < 2; pass++) /* full reorthogonalisation */
                for (int i = 0; i <= j; i++) {
                    const real *qi = basis + (size_t)i * n;
                    eos_axpy(w, -eos_dot(qi, w, n), qi, n);
                }
            beta[j] = eos_nrm2(w, n);
            len = j + 1;
            if (beta[j] <= BREAKDOWN * fmax(anorm, 1e-300)) break;
            eos_copy(q + n, w, n);
            eos_scal(q + n, 1.0 / beta[j], n);
        }
        int info = 0;
        for (int i = 0; i < len; i++) d[i] = alpha[i];
        for (int i = 0; i + 1 < len; i++) e[i] = beta[i];
        dstev_("V", &len, d, e, z, &len, work, &info);
        EOS_CHECK(info == 0, EOS_ERR_NUMERIC, "density: LAPACK dstev failed (info %d)", info);
        for (int i = 0; i < len; i++) {
            nodes[(size_t)p * m + i] = (float)d[i];
            weights[(size_t)p * m + i] = (float)(z[(size_t)i * len] * z[(size_t)i * len]);
        }
    }
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_density = {
    .name = "density",
    .out = {{"density_nodes", 2, density_shape}, {"density_weights", 2, density_shape}},
    .enabled = density_enabled,
    .scratch = density_scratch,
    .stream = DENSITY_STREAM,
    .measure = density_measure,
};
