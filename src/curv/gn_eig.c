/* gn_eig.c: the top-k eigenvalues of the Gauss-Newton matrix G = J' H_loss J of the sharpness
 * set (sharpness.gauss_newton), descending, by the same Lanczos as eig (src/curv/lanczos.c) on
 * exact Gauss-Newton-vector products (eos_model_gnvp: R-forward to the outputs, the loss's
 * Hessian in the outputs, the plain backward pass). G is H without the network's second-order
 * term, positive semi-definite for both losses; its top eigenvalue tracks the sharpness at the
 * edge of stability (docs/sharpness.md). Warm-started like eig, from its own previous top Ritz
 * vector. */
#include "eos_curv.h"

#define GN_MAX 32 /* above sharpness.k's range */

/* "gn_eig": a stream of its own, so turning the probe on moves no other probe's draws */
#define GN_STREAM 0x676e5f656967ULL

static int gn_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.gauss_newton; }

static void gn_shape(const eos_config *cfg, int *d) { d[0] = cfg->sharpness.k; }

/* the warm start (eig's layout) */
static size_t gn_scratch(const eos_curv_ctx *c)
{
    return (size_t)eos_curv_warm_rows(c, c->cfg->sharpness.k) * c->np;
}

static int gn_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    const eos_sharp_cfg *sc = &c->cfg->sharpness;
    double eig[GN_MAX];
    EOS_CHECK(sc->k <= GN_MAX, EOS_ERR_CONFIG, "sharpness.k = %d: at most %d", sc->k, GN_MAX);
    EOS_TRY(eos_curv_top_eig(c, eos_curv_gnvp_op, NULL, sc->k, c->scratch, eig));
    for (int i = 0; i < sc->k; i++) out[i] = (float)eig[i];
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_gn_eig = {
    .name = "gn_eig",
    .out = {{"gn_eig", 1, gn_shape}},
    .enabled = gn_enabled,
    .scratch = gn_scratch,
    .keeps_scratch = 1, /* the warm start */
    .stream = GN_STREAM,
    .measure = gn_measure,
};
