/* eig_min.c: the sharpness.k_min smallest (most negative) Hessian eigenvalues of the sharpness
 * set, ascending: the top of -H by the same Lanczos as eig (src/curv/lanczos.c), through an
 * operator that negates the HVP. Warm-started from its own previous bottom Ritz vectors. Lanczos
 * stops on residuals relative to each eigenvalue, so eigenvalues near zero (a nearly convex
 * point) converge slowly and may use all of sharpness.max_iter. */
#include "eos_curv.h"

/* "eig_min": a stream of its own, so turning the probe on moves no other probe's draws */
#define EIG_MIN_STREAM 0x6569675f6d696eULL

static int eig_min_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.k_min > 0; }

static void eig_min_shape(const eos_config *cfg, int *d) { d[0] = cfg->sharpness.k_min; }

/* the warm start: the bottom k_min Ritz vectors (LOBPCG: block) */
static size_t eig_min_scratch(const eos_curv_ctx *c)
{
    return (size_t)eos_curv_warm_rows(c, c->cfg->sharpness.k_min) * c->np;
}

/* out = -H v at c->w: its top eigenvalues are H's bottom ones, negated */
static int neg_hvp_op(void *ctx, const real *v, real *out)
{
    int rc = 0;
    eos_curv_ctx *c = ctx;
    EOS_TRY(eos_curv_hvp(c, c->w, v, out));
    eos_scal(out, -1.0, c->np);
fail:
    return rc;
}

/* the same on blocks */
static int neg_hvp_block_op(void *ctx, const real *V, int nv, real *OUT)
{
    int rc = 0;
    eos_curv_ctx *c = ctx;
    EOS_TRY(eos_curv_hvp_block(c, c->w, V, nv, OUT));
    eos_scal(OUT, -1.0, (size_t)nv * c->np);
fail:
    return rc;
}

static int eig_min_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    const int k = c->cfg->sharpness.k_min, mmax = c->lz.max_iter;
    double eig[EOS_K_MIN_MAX];
    /* validation checks this unless only the data files tell the parameter count */
    EOS_CHECK(k <= EOS_K_MIN_MAX && k <= mmax, EOS_ERR_CONFIG,
              "sharpness.k_min: %d eigenvalues, but Lanczos has at most %d steps (the smaller of "
              "sharpness.max_iter and the parameter count)",
              k, mmax);
    EOS_TRY(eos_curv_top_eig(c, neg_hvp_op, neg_hvp_block_op, k, c->scratch, eig));
    for (int i = 0; i < k; i++) out[i] = (float)-eig[i];
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_eig_min = {
    .name = "eig_min",
    .out = {{"eig_min", 1, eig_min_shape}},
    .enabled = eig_min_enabled,
    .scratch = eig_min_scratch,
    .keeps_scratch = 1, /* the warm start */
    .stream = EIG_MIN_STREAM,
    .measure = eig_min_measure,
};
