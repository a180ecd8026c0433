/* model.c: the architecture table and the dispatch behind eos_model (see eos_model.h and
 * model_impl.h), and the fixed-order row-block reduction every kernel shares. */
#include "model_impl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The rows in model.arch order (row 0 is the default), each with the file that defines it.
 * Adding an architecture is its file and one line here (EOS_TABLE: eos_common.h). */
#define ARCHS(X, T)                                                                                \
    X(T, eos_model_arch_mlp)                /* mlp.c */                                            \
    X(T, eos_model_arch_linear_transformer) /* linear_transformer.c */                             \
    X(T, eos_model_arch_cnn)                /* cnn.c */
EOS_TABLE(eos_model_arch, archs, ARCHS);
#define N_ARCHS ((int)(sizeof archs / sizeof *archs))

static const eos_model_arch *arch_of(const eos_model_cfg *mc)
{
    return mc->arch >= 0 && mc->arch < N_ARCHS ? archs[mc->arch] : NULL;
}

const char *eos_model_arch_name(int i) { return i >= 0 && i < N_ARCHS ? archs[i]->name : NULL; }

int eos_model_validate(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in, int n_out,
                       const char **key)
{
    int rc = 0;
    const eos_model_arch *arch = arch_of(mc);
    if (!arch) EOS_FAIL_KEY("model.arch", "model.arch: unknown architecture %d", mc->arch);
    if (loss != EOS_LOSS_MSE && loss != EOS_LOSS_XENT && loss != EOS_LOSS_LOGISTIC)
        EOS_FAIL_KEY("loss", "loss: unknown loss kind %d", (int)loss);
    if (loss == EOS_LOSS_LOGISTIC && n_out > 1) /* n_out 0: not known yet */
        EOS_FAIL_KEY("loss", "loss: logistic needs one output (binary labels), the data give %d",
                     n_out);
    if (!(isfinite(mc->init_scale) && mc->init_scale >= 0))
        EOS_FAIL_KEY("model.init_scale", "model.init_scale: must be finite and >= 0, got %g",
                     mc->init_scale);
    if (mc->init != EOS_INIT_PYTORCH && mc->init != EOS_INIT_GAUSSIAN)
        EOS_FAIL_KEY("model.init", "model.init: unknown initialisation %d", (int)mc->init);
    EOS_TRY(arch->validate(mc, loss, in, n_out, key));
fail:
    return rc;
}

double eos_model_cost(const eos_model_cfg *mc, const eos_shape *in, int n_out)
{
    const eos_model_arch *arch = arch_of(mc);
    if (!arch || eos_shape_size(in) <= 0 || n_out <= 0) return 0;
    return arch->cost(mc, in, n_out);
}

int eos_model_create(eos_model **out, const eos_model_cfg *mc, eos_loss_kind loss,
                     const eos_shape *in, int n_out, int chunk)
{
    int rc = 0;
    eos_model *m = NULL;
    const char *key;
    *out = NULL;
    long d_in = eos_shape_size(in);
    EOS_CHECK(d_in > 0 && d_in <= INT_MAX, EOS_ERR_CONFIG,
              "model: input dimension must be positive, got %ld", d_in);
    EOS_CHECK(n_out > 0, EOS_ERR_CONFIG, "model: output dimension must be positive, got %d",
              n_out);
    EOS_CHECK(chunk > 0, EOS_ERR_CONFIG, "model: chunk (examples per pass) must be positive, got %d",
              chunk);
    EOS_TRY(eos_model_validate(mc, loss, in, n_out, &key));
    EOS_ALLOC(m, 1);
    m->cfg = *mc;
    m->loss = loss;
    m->in = *in;
    m->d_in = (int)d_in;
    m->n_out = n_out;
    m->chunk = chunk;
    EOS_TRY(arch_of(mc)->setup(m));
    EOS_CHECK(m->ops != NULL, EOS_ERR_INTERNAL, "model: architecture setup left no ops table");
    *out = m;
    return 0;
fail:
    free(m); /* setup leaves nothing allocated on failure */
    return rc;
}

int eos_model_count_params(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in,
                           int n_out, size_t *nparams)
{
    /* the architecture's setup is the one place that knows its parameter layout: build the model
     * with one-example workspaces rather than repeat that knowledge here */
    eos_model *m = NULL;
    int rc = eos_model_create(&m, mc, loss, in, n_out, 1);
    *nparams = rc == 0 ? eos_model_nparams(m) : 0;
    eos_model_free(m);
    return rc;
}

void eos_model_free(eos_model *m)
{
    if (!m) return;
    if (m->ops && m->ops->free) m->ops->free(m);
    free(m);
}

size_t eos_model_nparams(const eos_model *m) { return m->nparams; }

void eos_model_init(const eos_model *m, real *params, eos_rng *rng)
{
    m->ops->init(m, params, rng);
}

int eos_model_loss_grad(eos_model *m, const real *params, const real *X, const real *Y,
                        const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                        real *grad)
{
    int rc = 0;
    EOS_CHECK(n >= 0, EOS_ERR_INTERNAL, "model loss: negative example count %d", n);
    if (n == 0) return 0;
    return m->ops->loss_grad(m, params, X, Y, idx, n, scale, loss_sum, n_correct, grad);
fail:
    return rc;
}

int eos_model_outputs(eos_model *m, const real *params, const real *X, const int *idx, int n,
                      real *f)
{
    int rc = 0;
    EOS_CHECK(m->ops->outputs != NULL, EOS_ERR_CONFIG, "model.arch %s gives no outputs",
              archs[m->cfg.arch]->name);
    EOS_CHECK(n >= 0, EOS_ERR_INTERNAL, "model outputs: negative example count %d", n);
    if (n == 0) return 0;
    return m->ops->outputs(m, params, X, idx, n, f);
fail:
    return rc;
}

int eos_model_hvp(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                  int n, double scale, const real *v, real *hv)
{
    int rc = 0;
    EOS_CHECK(n >= 0, EOS_ERR_INTERNAL, "model hvp: negative example count %d", n);
    if (n == 0) return 0;
    return m->ops->hvp(m, params, X, Y, idx, n, scale, v, hv);
fail:
    return rc;
}

int eos_model_hvp_block(eos_model *m, const real *params, const real *X, const real *Y,
                        const int *idx, int n, double scale, int nv, const real *V, real *HV)
{
    int rc = 0;
    EOS_CHECK(n >= 0 && nv >= 0, EOS_ERR_INTERNAL, "model hvp_block: %d examples, %d directions",
              n, nv);
    if (n == 0 || nv == 0) return 0;
    if (m->ops->hvp_block) return m->ops->hvp_block(m, params, X, Y, idx, n, scale, nv, V, HV);
    for (int j = 0; j < nv; j++)
        EOS_TRY(m->ops->hvp(m, params, X, Y, idx, n, scale, V + (size_t)j * m->nparams,
                            HV + (size_t)j * m->nparams));
fail:
    return rc;
}

int eos_model_has_gnvp(const eos_model_cfg *mc)
{
    const eos_model_arch *arch = arch_of(mc);
    return arch && arch->ops && arch->ops->gnvp;
}

void eos_model_set_hvp_cache(eos_model *m, size_t bytes)
{
    if (m->ops->set_hvp_cache) m->ops->set_hvp_cache(m, bytes);
}

int eos_model_gnvp(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                   int n, double scale, const real *v, real *gv)
{
    int rc = 0;
    EOS_CHECK(m->ops->gnvp != NULL, EOS_ERR_CONFIG,
              "sharpness.gauss_newton: model.arch %s has no Gauss-Newton product",
              archs[m->cfg.arch]->name);
    EOS_CHECK(n >= 0, EOS_ERR_INTERNAL, "model gnvp: negative example count %d", n);
    if (n == 0) return 0;
    return m->ops->gnvp(m, params, X, Y, idx, n, scale, v, gv);
fail:
    return rc;
}

int eos_model_groups(const eos_model_cfg *mc, const eos_model *m, eos_param_group *g, int max)
{
    const eos_model_arch *arch = arch_of(mc);
    return arch && arch->groups ? arch->groups(mc, m, g, max) : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* fixed-order row-block reductions                                                           */

void eos_model_row_blocks(int n, int rb, double *part, size_t width,
                          void (*body)(void *ctx, int blk, int i0, int i1, double *slot),
                          void *ctx)
{
    int nb = (n + rb - 1) / rb;
#pragma omp parallel for schedule(static) /* fixed blocks of rb rows across threads */
    for (int blk = 0; blk < nb; blk++) {
        int i1 = (blk + 1) * rb < n ? (blk + 1) * rb : n;
        double *slot = part ? part + (size_t)blk * width : NULL;
        if (slot) memset(slot, 0, width * sizeof *slot);
        body(ctx, blk, blk * rb, i1, slot);
    }
}

void eos_model_part_reduce(real *g, const double *part, int nb, size_t width, size_t n,
                           const size_t *map, double scale)
{
    for (size_t k = 0; k < n; k++) {
        size_t j = map ? map[k] : k;
        double s = 0.0;
        for (int b = 0; b < nb; b++) s += part[(size_t)b * width + j];
        g[k] += (real)(scale * s);
    }
}
