/* batch_hess.c: the mini-batch Hessian's top eigenvalue E_B[lambda_max(H_B)] (sharpness.
 * batch_hessian), B a minibatch of the run's batch size drawn without replacement from the
 * probe's own stream, until the relative standard error is below sharpness.batch_tol (at least
 * 8 batches, at most 400), like batch sharpness. Mini-batch Hessians have larger extreme
 * eigenvalues than the full one, which sets the largest stable learning rate per batch size
 * (the seed "Learning rates as a function of batch size"). Each batch's eigenvalue is one
 * Lanczos solve (k = 1, sharpness.tol) of HVPs on that batch, warm-started from the previous
 * batch's top Ritz vector (the first of a run from the probe's stream). Minibatch runs only. */
#include "eos_curv.h"

#include <math.h>

/* "batch_hess" */
#define BH_STREAM 0x62617463685f6865ULL

static int bh_enabled(const eos_curv_ctx *c)
{
    return c->cfg->sharpness.batch_hessian && c->batch < c->train->n;
}

static size_t bh_scratch(const eos_curv_ctx *c) { return c->np; } /* the warm start */

typedef struct {
    eos_curv_ctx *c;
    const int *idx;
    int b;
} batch_op;

static int batch_product(void *ctx, const real *v, real *out)
{
    batch_op *o = ctx;
    return eos_curv_hvp_batch(o->c, o->c->w, o->idx, o->b, v, out);
}

static int bh_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    batch_op o = {c, NULL, c->batch};
    eos_curv_mean m = {0};
    for (int draw = 0; draw < 400 && !eos_curv_mean_done(&m, c->cfg->sharpness.batch_tol);
         draw++) {
        double eig;
        int n_matvec;
        o.idx = eos_curv_sample(c, o.b);
        EOS_TRY(eos_lanczos_run(&c->lz, batch_product, &o, 1, c->cfg->sharpness.tol,
                                c->n_done || draw ? c->scratch : NULL, c->rng, &eig, c->scratch,
                                &n_matvec));
        eos_curv_mean_add(&m, eig);
    }
    out[0] = m.n > 0 ? (float)(m.s / m.n) : NAN;
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_batch_hess = {
    .name = "batch_hess",
    .out = {{"batch_hess_eig", 0, NULL}},
    .enabled = bh_enabled,
    .scratch = bh_scratch,
    .keeps_scratch = 1, /* the warm start */
    .sampler = 1,
    .stream = BH_STREAM,
    .measure = bh_measure,
};
