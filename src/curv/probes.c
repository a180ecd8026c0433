/* probes.c: the table of curvature probes and the context they run on (include/eos_curv.h).
 * Adding a measure: its own file in src/curv/ defining eos_curv_probe_<name>, and <name> in
 * EOS_CURV_PROBE_LIST below. The order is the order of measurement, and so of the draws from a
 * shared stream: append new probes, so that no earlier probe's values move. */
#include "eos_curv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EOS_CURV_PROBE_LIST(X) X(eig) X(precond_eig) X(trace) X(batch_sharp) X(dir_sharp) \
    X(trace_hutchpp) X(density) X(gn_eig) X(eig_min) X(layer_eig) X(overlap) \
    X(batch_hess) X(batch_sharp_mom)

#define EOS_CURV_DECLARE(name) extern const eos_curv_probe eos_curv_probe_##name;
EOS_CURV_PROBE_LIST(EOS_CURV_DECLARE)
#undef EOS_CURV_DECLARE

#define EOS_CURV_ROW(name) &eos_curv_probe_##name,
const eos_curv_probe *const eos_curv_probes[] = {EOS_CURV_PROBE_LIST(EOS_CURV_ROW)};
#undef EOS_CURV_ROW
const int eos_curv_n_probes = (int)(sizeof eos_curv_probes / sizeof eos_curv_probes[0]);
_Static_assert(sizeof eos_curv_probes / sizeof eos_curv_probes[0] <= EOS_CURV_MAX_PROBES,
               "raise EOS_CURV_MAX_PROBES");

int eos_curv_find(const char *name)
{
    for (int p = 0; p < eos_curv_n_probes; p++)
        if (!strcmp(eos_curv_probes[p]->name, name)) return p;
    return -1;
}

int eos_curv_n_outputs(const eos_curv_probe *p)
{
    int o = 0;
    while (o < EOS_CURV_MAX_OUTPUTS && p->out[o].name) o++;
    return o;
}

int eos_curv_output_size(const eos_curv_probe *p, int o, const eos_config *cfg, int *d)
{
    for (int i = 0; i < EOS_CURV_MAX_DIMS; i++) d[i] = 1;
    if (p->out[o].ndims > 0) p->out[o].shape(cfg, d);
    int size = 1;
    for (int i = 0; i < p->out[o].ndims; i++) size *= d[i];
    return size;
}

size_t eos_curv_traj_layout(eos_curv_traj *t, const eos_config *cfg, int slots, float *vals)
{
    size_t total = 0;
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        int width = 0;
        for (int o = 0; o < eos_curv_n_outputs(pr); o++)
            width += eos_curv_output_size(pr, o, cfg, t->ext[p][o]);
        t->width[p] = width;
        if (vals) t->vals[p] = vals + total;
        total += (size_t)slots * (size_t)width;
    }
    return total;
}

/* ---- set-up ---- */

void eos_curv_free(eos_curv_ctx *c)
{
    free(c->rbuf);
    free(c->ibuf);
    eos_lanczos_free(&c->lz);
    eos_lobpcg_free(&c->lb);
    for (int p = 0; p < eos_curv_n_probes; p++) eos_lanczos_free(&c->solver_of[p]);
    memset(c, 0, sizeof *c);
}

int eos_curv_setup(eos_curv_ctx *c, const eos_config *cfg, eos_model *model,
                   const eos_dataset *train, int sharp_n, int batch, const eos_optim *opt)
{
    int rc = 0, n_streams = 0;
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->model = model;
    c->train = train;
    c->opt = opt;
    c->np = eos_model_nparams(model);
    c->sharp_n = sharp_n;
    c->batch = batch;
    c->sharpness = NAN;
    size_t n_real = 0, n_int = 0;
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        c->on[p] = pr->enabled ? pr->enabled(c) : 1;
        if (pr->stream) {
            for (int q = 0; q < p && !c->rng_of[p]; q++)
                if (eos_curv_probes[q]->stream == pr->stream) c->rng_of[p] = c->rng_of[q];
            if (!c->rng_of[p]) {
                c->rng_of[p] = &c->streams[n_streams++];
                eos_rng_init(c->rng_of[p], cfg->seed, pr->stream);
            }
        }
        if (!c->on[p]) continue;
        n_real += pr->scratch ? pr->scratch(c) : 0;
        n_int += pr->sampler ? (size_t)train->n : 0;
    }
    EOS_ALLOC(c->rbuf, n_real);
    EOS_ALLOC(c->ibuf, n_int);
    n_real = n_int = 0;
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        if (!c->on[p]) continue;
        c->scratch_of[p] = c->rbuf + n_real;
        n_real += pr->scratch ? pr->scratch(c) : 0;
        if (pr->sampler) {
            c->perm_of[p] = c->ibuf + n_int;
            for (int i = 0; i < train->n; i++) c->perm_of[p][i] = i;
            n_int += (size_t)train->n;
        }
    }
    EOS_CHECK((size_t)cfg->sharpness.k <= c->np, EOS_ERR_CONFIG,
              "sharpness.k: %d eigenvalues requested, but the model has only %zu parameters",
              cfg->sharpness.k, c->np);
    const int it = cfg->sharpness.max_iter < (int)c->np ? cfg->sharpness.max_iter : (int)c->np;
    EOS_TRY(eos_lanczos_create(&c->lz, c->np, it));
    if (cfg->sharpness.solver == EOS_SOLVER_LOBPCG) {
        const int kmax = cfg->sharpness.k_min > cfg->sharpness.k ? cfg->sharpness.k_min
                                                                 : cfg->sharpness.k;
        EOS_TRY(eos_lobpcg_create(&c->lb, c->np, eos_lobpcg_block(kmax, cfg->sharpness.guard,
                                                                   c->np)));
    }
    for (int p = 0; p < eos_curv_n_probes; p++) {
        size_t n = c->on[p] && eos_curv_probes[p]->solver_n ? eos_curv_probes[p]->solver_n(c) : 0;
        if (n == 0) continue;
        const int pit = cfg->sharpness.max_iter < (int)n ? cfg->sharpness.max_iter : (int)n;
        EOS_TRY(eos_lanczos_create(&c->solver_of[p], n, pit));
    }
    return 0;
fail:
    eos_curv_free(c);
    return rc;
}

int eos_curv_state(eos_curv_ctx *c, eos_part *parts, int max)
{
    int n = 0;
#define PART(ptr, size)                                                                            \
    do {                                                                                           \
        if (n == max) return -1;                                                                   \
        parts[n++] = (eos_part){(ptr), (size)};                                                    \
    } while (0)
    PART(&c->n_done, sizeof c->n_done);
    PART(&c->sharpness, sizeof c->sharpness);
    PART(c->streams, sizeof c->streams);
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        if (!c->on[p]) continue;
        if (pr->sampler) PART(c->perm_of[p], sizeof(int) * (size_t)c->train->n);
        if (pr->keeps_scratch && pr->scratch)
            PART(c->scratch_of[p], sizeof(real) * (pr->kept ? pr->kept(c) : pr->scratch(c)));
    }
#undef PART
    return n;
}

/* ---- running the table ---- */

enum { HOOK_MEASURE, HOOK_BEFORE, HOOK_AFTER };

/* One hook of every enabled probe that has it, at w; values into slot of t (t NULL: none). */
static int run_hook(eos_curv_ctx *c, int hook, const real *w, eos_curv_traj *t, int slot)
{
    int rc = 0;
    const double t0 = eos_now();
    c->w = w;
    c->hvps = 0;
    for (int p = 0; p < eos_curv_n_probes; p++) {
        const eos_curv_probe *pr = eos_curv_probes[p];
        if (!c->on[p]) continue;
        c->scratch = c->scratch_of[p];
        c->solver = c->solver_of[p].n ? &c->solver_of[p] : NULL;
        c->perm = c->perm_of[p];
        c->rng = c->rng_of[p];
        float *out = t ? t->vals[p] + (size_t)slot * (size_t)t->width[p] : NULL;
        const int before = c->hvps;
        if (hook == HOOK_MEASURE && pr->measure) EOS_TRY(pr->measure(c, out));
        if (hook == HOOK_BEFORE && pr->before_step) EOS_TRY(pr->before_step(c));
        if (hook == HOOK_AFTER && pr->after_step) EOS_TRY(pr->after_step(c, out));
        /* counted like /sharp/hvps: the hooks that fill a slot */
        if (t && t->probe_hvps)
            t->probe_hvps[(size_t)slot * eos_curv_n_probes + p] += c->hvps - before;
    }
fail:
    if (t && t->hvps) t->hvps[slot] += c->hvps;
    if (t && t->seconds) /* like hvps: every hook that fills the slot */
        t->seconds[slot] = (isnan(t->seconds[slot]) ? 0.0f : t->seconds[slot]) +
                           (float)(eos_now() - t0);
    return rc;
}

int eos_curv_measure(eos_curv_ctx *c, const real *w, eos_curv_traj *t, int slot)
{
    int rc = run_hook(c, HOOK_MEASURE, w, t, slot);
    c->n_done++;
    return rc;
}

int eos_curv_before_step(eos_curv_ctx *c, const real *w)
{
    return run_hook(c, HOOK_BEFORE, w, NULL, 0);
}

int eos_curv_after_step(eos_curv_ctx *c, const real *w, eos_curv_traj *t, int slot)
{
    return run_hook(c, HOOK_AFTER, w, t, slot);
}

/* ---- services ---- */

int eos_curv_hvp_batch(eos_curv_ctx *c, const real *w, const int *idx, int n, const real *v,
                       real *out)
{
    c->hvps++;
    eos_zero(out, c->np);
    return eos_model_hvp(c->model, w, c->train->X, c->train->Y, idx, n, 1.0 / n, v, out);
}

int eos_curv_hvp(eos_curv_ctx *c, const real *w, const real *v, real *out)
{
    return eos_curv_hvp_batch(c, w, NULL, c->sharp_n, v, out);
}

int eos_curv_hvp_op(void *ctx, const real *v, real *out)
{
    eos_curv_ctx *c = ctx;
    return eos_curv_hvp(c, c->w, v, out);
}

int eos_curv_hvp_block(eos_curv_ctx *c, const real *w, const real *V, int nv, real *OUT)
{
    c->hvps += nv;
    eos_zero(OUT, (size_t)nv * c->np);
    return eos_model_hvp_block(c->model, w, c->train->X, c->train->Y, NULL, c->sharp_n,
                               1.0 / c->sharp_n, nv, V, OUT);
}

int eos_curv_hvp_block_op(void *ctx, const real *V, int nv, real *OUT)
{
    eos_curv_ctx *c = ctx;
    return eos_curv_hvp_block(c, c->w, V, nv, OUT);
}

int eos_curv_gnvp(eos_curv_ctx *c, const real *w, const real *v, real *out)
{
    c->hvps++; /* a Gauss-Newton product costs about what an HVP does: counted with them */
    eos_zero(out, c->np);
    return eos_model_gnvp(c->model, w, c->train->X, c->train->Y, NULL, c->sharp_n,
                          1.0 / c->sharp_n, v, out);
}

int eos_curv_gnvp_op(void *ctx, const real *v, real *out)
{
    eos_curv_ctx *c = ctx;
    return eos_curv_gnvp(c, c->w, v, out);
}

int eos_curv_warm_rows(const eos_curv_ctx *c, int k)
{
    const eos_sharp_cfg *sc = &c->cfg->sharpness;
    return sc->solver == EOS_SOLVER_LOBPCG ? eos_lobpcg_block(k, sc->guard, c->np) : k;
}

int eos_curv_top_eig(eos_curv_ctx *c, eos_linop_fn op, eos_linop_block_fn opb, int k, real *vec,
                     double *eig)
{
    int n_matvec;
    const eos_sharp_cfg *sc = &c->cfg->sharpness;
    if (sc->solver == EOS_SOLVER_LOBPCG)
        return eos_lobpcg_run(&c->lb, op, opb, c, k, sc->guard, sc->tol, sc->max_iter, vec,
                              c->n_done > 0, c->rng, eig, &n_matvec);
    /* Lanczos starts from one vector: the sum of the previous top-k Ritz vectors, so that every
     * wanted direction starts large, not only the top one (from the top vector alone the second
     * is found from the few percent of it the top vector's error holds). */
    int rc = 0;
    const size_t np = c->np;
    if (c->n_done)
        for (int i = 1; i < k; i++) eos_axpy(vec, 1.0, vec + (size_t)i * np, np);
    EOS_TRY(eos_lanczos_run(&c->lz, op, c, k, sc->tol, c->n_done ? vec : NULL, c->rng, eig, vec,
                            &n_matvec));
    /* a successful solve has at least k Ritz pairs (k <= its step cap) */
    for (int i = 1; i < k; i++) EOS_TRY(eos_lanczos_ritz(&c->lz, i, vec + (size_t)i * np));
fail:
    return rc;
}

int eos_curv_grad(eos_curv_ctx *c, const real *w, const int *idx, int n, real *g)
{
    double loss = 0;
    eos_zero(g, c->np);
    return eos_model_loss_grad(c->model, w, c->train->X, c->train->Y, idx, n, 1.0 / n, &loss, NULL,
                               g);
}

void eos_curv_mean_add(eos_curv_mean *m, double x)
{
    m->s += x;
    m->s2 += x * x;
    m->n++;
}

int eos_curv_mean_done(const eos_curv_mean *m, double rel_tol)
{
    if (m->n < 8) return 0;
    double mean = m->s / m->n, var = (m->s2 - m->n * mean * mean) / (m->n - 1);
    if (var < 0) var = 0;
    return sqrt(var / m->n) <= rel_tol * fabs(mean);
}

const int *eos_curv_sample(eos_curv_ctx *c, int b)
{
    int n = c->train->n, *perm = c->perm;
    for (int i = 0; i < b; i++) {
        int j = i + (int)eos_rng_below(c->rng, (uint64_t)(n - i));
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    return perm;
}
