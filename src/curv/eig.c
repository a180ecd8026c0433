/* eig.c: the top-k Hessian eigenvalues of the sharpness set, descending (Lanczos, src/curv/
 * lanczos.c, or LOBPCG, src/curv/lobpcg.c); the first is the run's sharpness. Every measurement
 * but a run's first starts from the previous one's top-k Ritz vectors (Lanczos: from their sum;
 * LOBPCG: its block). */
#include "eos_curv.h"

#define EIG_MAX 32 /* above sharpness.k's range */

static void eig_shape(const eos_config *cfg, int *d) { d[0] = cfg->sharpness.k; }

/* the warm start: the top-k Ritz vectors (Lanczos) or the block (LOBPCG) */
static size_t eig_scratch(const eos_curv_ctx *c)
{
    return (size_t)eos_curv_warm_rows(c, c->cfg->sharpness.k) * c->np;
}

static int eig_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    const eos_sharp_cfg *sc = &c->cfg->sharpness;
    double eig[EIG_MAX];
    EOS_CHECK(sc->k <= EIG_MAX, EOS_ERR_CONFIG, "sharpness.k = %d: at most %d", sc->k, EIG_MAX);
    EOS_TRY(eos_curv_top_eig(c, eos_curv_hvp_op, eos_curv_hvp_block_op, sc->k, c->scratch, eig));
    for (int i = 0; i < sc->k; i++) out[i] = (float)eig[i];
    c->sharpness = eig[0];
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_eig = {
    .name = "eig",
    .out = {{"eig", 1, eig_shape}},
    .scratch = eig_scratch,
    .keeps_scratch = 1, /* the warm start */
    .stream = EOS_RNG_STREAM_SHARP,
    .measure = eig_measure,
};
