/* layer_eig.c: per-layer sharpness (sharpness.per_layer): for each parameter group of the model
 * (a layer's weights and bias together, eos_model_groups), the top eigenvalue of that diagonal
 * block of the Hessian of the sharpness set, H_ll = P_l' H P_l. Lanczos runs on the block itself,
 * in the group's own dimension (a private solver of the largest group's order), so a block with
 * repeated eigenvalues (the output layer under MSE: I_k (x) A'A/n) or a negative top eigenvalue
 * is handled as for the full Hessian; an embedding into the full space would add the zero
 * eigenvalues of the other layers. Each product is a full HVP of a vector that is zero outside
 * the group. The groups tile the parameters, so one vector holds every group's warm start. */
#include "eos_curv.h"

#include <string.h>

/* "layer_eig" */
#define LAYER_STREAM 0x6c617965725f6569ULL

static int layer_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.per_layer; }

static void layer_shape(const eos_config *cfg, int *d)
{
    d[0] = eos_model_groups(&cfg->model, NULL, NULL, 0);
}

static int layer_labels(const eos_config *cfg, char (*names)[EOS_CURV_LABEL], int max)
{
    eos_param_group g[EOS_MAX_GROUPS];
    int n = eos_model_groups(&cfg->model, NULL, g, EOS_MAX_GROUPS);
    n = n < max ? n : max;
    _Static_assert(EOS_GROUP_NAME <= EOS_CURV_LABEL, "group names must fit labels");
    for (int i = 0; i < n; i++) memcpy(names[i], g[i].name, EOS_GROUP_NAME);
    return n;
}

/* Scratch: the warm starts (each group's top Ritz vector in its own range) [np], the embedded
 * vector [np] (zero outside the group being measured) and its product [np]. */
static size_t layer_scratch(const eos_curv_ctx *c) { return 3 * c->np; }

static size_t layer_kept(const eos_curv_ctx *c) { return c->np; } /* the warm starts */

static size_t layer_solver_n(const eos_curv_ctx *c)
{
    eos_param_group g[EOS_MAX_GROUPS];
    int n = eos_model_groups(&c->cfg->model, c->model, g, EOS_MAX_GROUPS);
    size_t max = 0;
    for (int i = 0; i < n && i < EOS_MAX_GROUPS; i++) max = g[i].len > max ? g[i].len : max;
    return max;
}

typedef struct {
    eos_curv_ctx *c;
    const eos_param_group *g;
    real *full, *hfull; /* [np] */
} block_op;

/* out = H_ll v for v in the group's coordinates [len] */
static int block_product(void *ctx, const real *v, real *out)
{
    block_op *b = ctx;
    memcpy(b->full + b->g->off, v, b->g->len * sizeof(real));
    int rc = eos_curv_hvp(b->c, b->c->w, b->full, b->hfull);
    memcpy(out, b->hfull + b->g->off, b->g->len * sizeof(real));
    return rc;
}

static int layer_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    eos_param_group g[EOS_MAX_GROUPS];
    const int n = eos_model_groups(&c->cfg->model, c->model, g, EOS_MAX_GROUPS);
    EOS_CHECK(n <= EOS_MAX_GROUPS, EOS_ERR_CONFIG, "sharpness.per_layer: %d layers, at most %d", n,
              EOS_MAX_GROUPS);
    real *warm = c->scratch;
    block_op b = {c, NULL, c->scratch + c->np, c->scratch + 2 * c->np};
    eos_zero(b.full, c->np);
    for (int l = 0; l < n; l++) {
        double eig;
        int n_matvec;
        eos_lanczos lz;
        b.g = &g[l];
        eos_lanczos_sub(c->solver, g[l].len, &lz); /* the solver has the largest block's order */
        real *v = warm + g[l].off;
        EOS_TRY(eos_lanczos_run(&lz, block_product, &b, 1, c->cfg->sharpness.tol,
                                c->n_done ? v : NULL, c->rng, &eig, v, &n_matvec));
        eos_zero(b.full + g[l].off, g[l].len);
        out[l] = (float)eig;
    }
fail:
    return rc;
}

const eos_curv_probe eos_curv_probe_layer_eig = {
    .name = "layer_eig",
    .out = {{"layer_eig", 1, layer_shape, layer_labels}},
    .enabled = layer_enabled,
    .scratch = layer_scratch,
    .keeps_scratch = 1, /* the warm starts */
    .kept = layer_kept,
    .solver_n = layer_solver_n,
    .stream = LAYER_STREAM,
    .measure = layer_measure,
};
