/* overlap.c: the gradient and the update along the Hessian's top eigenvectors
 * (sharpness.overlap), the quantities of the self-stabilisation analysis of the edge of
 * stability (Damian, Nichani & Lee 2023): at a measurement step t, with u_1..u_k the top-k
 * eigenvectors of the sharpness set's Hessian at w_t and g its full-batch gradient there,
 *   grad_overlap[i] = <g, u_i> / |g|            (NaN when g = 0)
 *   update_top      = <w_{t+1} - w_t, u_1>       (in parameter units)
 * An eigenvector's sign is arbitrary: each u_i is oriented so that its entry of largest
 * magnitude (the first of ties) is positive, which keeps the sign fixed between measurements
 * while the vector moves little. Its own top-k solve (sharpness.solver, warm-started from its
 * previous u_1..u_k, like eig), so it depends on no other probe; it costs about one more top-k
 * solve and one gradient. */
#include "eos_curv.h"

#include <math.h>

#define OVL_MAX 32 /* above sharpness.k's range */

/* "overlap" */
#define OVL_STREAM 0x6f7665726c6170ULL

static int ovl_enabled(const eos_curv_ctx *c) { return c->cfg->sharpness.overlap; }

static void ovl_shape(const eos_config *cfg, int *d) { d[0] = cfg->sharpness.k; }

/* the warm start [rows, np] (row i: u_{i+1}), w_t [np], g [np], u_i [np] */
static size_t ovl_rows(const eos_curv_ctx *c)
{
    return (size_t)eos_curv_warm_rows(c, c->cfg->sharpness.k);
}
static size_t ovl_scratch(const eos_curv_ctx *c) { return (ovl_rows(c) + 3) * c->np; }

/* Only the warm start carries over: w_t lives from before_step to after_step of one step, and
 * no checkpoint is taken inside a step. */
static size_t ovl_kept(const eos_curv_ctx *c) { return ovl_rows(c) * c->np; }

static void orient(real *u, size_t n)
{
    size_t arg = 0;
    for (size_t i = 1; i < n; i++)
        if (fabs((double)u[i]) > fabs((double)u[arg])) arg = i;
    if (u[arg] < 0) eos_scal(u, -1.0, n);
}

static int ovl_measure(eos_curv_ctx *c, float *out)
{
    int rc = 0;
    const int k = c->cfg->sharpness.k;
    const size_t np = c->np;
    const size_t r = ovl_rows(c);
    real *u1 = c->scratch, *g = c->scratch + (r + 1) * np, *ui = c->scratch + (r + 2) * np;
    double eig[OVL_MAX];
    EOS_CHECK(k <= OVL_MAX, EOS_ERR_CONFIG, "sharpness.k = %d: at most %d", k, OVL_MAX);
    EOS_TRY(eos_curv_top_eig(c, eos_curv_hvp_op, eos_curv_hvp_block_op, k, u1, eig));
    orient(u1, np);
    EOS_TRY(eos_curv_grad(c, c->w, NULL, c->sharp_n, g));
    const double gn = eos_nrm2(g, np);
    for (int i = 0; i < k; i++) {
        const real *u = u1;
        if (i > 0) {
            /* oriented in a copy: the kept row is the next warm start, as the solve left it */
            eos_copy(ui, u1 + (size_t)i * np, np);
            orient(ui, np);
            u = ui;
        }
        out[i] = gn > 0 ? (float)(eos_dot(g, u, np) / gn) : NAN;
    }
fail:
    return rc;
}

static int ovl_before_step(eos_curv_ctx *c)
{
    eos_copy(c->scratch + ovl_rows(c) * c->np, c->w, c->np);
    return 0;
}

static int ovl_after_step(eos_curv_ctx *c, float *out)
{
    const size_t np = c->np;
    const size_t r = ovl_rows(c);
    const real *u1 = c->scratch, *w_prev = c->scratch + r * np;
    real *du = c->scratch + (r + 2) * np;
    for (size_t i = 0; i < np; i++) du[i] = c->w[i] - w_prev[i];
    out[c->cfg->sharpness.k] = (float)eos_dot(du, u1, np);
    return 0;
}

const eos_curv_probe eos_curv_probe_overlap = {
    .name = "overlap",
    .out = {{"grad_overlap", 1, ovl_shape}, {"update_top", 0, NULL}},
    .enabled = ovl_enabled,
    .scratch = ovl_scratch,
    .keeps_scratch = 1, /* the warm start */
    .kept = ovl_kept,
    .stream = OVL_STREAM,
    .measure = ovl_measure,
    .before_step = ovl_before_step,
    .after_step = ovl_after_step,
};
