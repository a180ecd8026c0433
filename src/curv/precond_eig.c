/* precond_eig.c: the top eigenvalue of P^-1/2 H P^-1/2 with the diagonal preconditioner P of an
 * adaptive optimizer after its previous step (Cohen et al. 2022), by Lanczos; each measurement
 * but the first starts from the previous one's top Ritz vector (the preconditioner moves slowly).
 * NaN while the optimizer has no preconditioner (not adaptive, or no step taken yet). */
#include "eos_curv.h"

static int precond_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.precond; }

/* the top Ritz vector (kept: the warm start), P^-1/2, P^-1/2 v */
static size_t precond_scratch(const eos_curv_ctx *c) { return 3 * c->np; }
static size_t precond_kept(const eos_curv_ctx *c) { return c->np; }

/* v -> P^-1/2 H P^-1/2 v */
static int precond_op(void *ctx, const real *v, real *out)
{
    eos_curv_ctx *c = ctx;
    const real *d = c->scratch + c->np;
    real *dv = c->scratch + 2 * c->np;
    for (size_t i = 0; i < c->np; i++) dv[i] = d[i] * v[i];
    int rc = eos_curv_hvp(c, c->w, dv, out);
    for (size_t i = 0; i < c->np; i++) out[i] *= d[i];
    return rc;
}

static int precond_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0, n_matvec;
    double top[1];
    real *vec = c->scratch;
    if (!eos_optim_precond_isqrt(c->opt, c->scratch + c->np)) return 0;
    /* zero until a measurement has kept its vector: the first one starts from the stream */
    const int warm = eos_nrm2(vec, c->np) > 0;
    EOS_TRY(eos_lanczos_run(&c->lz, precond_op, c, 1, c->cfg->sharpness.tol, warm ? vec : NULL,
                            c->rng, top, vec, &n_matvec));
    out[0] = (float)top[0];
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_precond_eig = {
    .name = "precond_eig",
    .out = {{"precond_eig", 0, NULL}},
    .enabled = precond_enabled,
    .scratch = precond_scratch,
    .keeps_scratch = 1, /* the warm start */
    .kept = precond_kept,
    .stream = EOS_RNG_STREAM_SHARP,
    .measure = precond_measure,
};
