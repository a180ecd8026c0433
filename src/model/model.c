/* model.c: architecture dispatch for eos_model (see eos_model.h and model_impl.h). */
#include "model_impl.h"

#include <math.h>
#include <stdlib.h>

int eos_model_create(eos_model **out, const eos_model_cfg *mc, eos_loss_kind loss, int d_in,
                     int n_out, int chunk)
{
    int rc = 0;
    eos_model *m = NULL;
    *out = NULL;
    EOS_CHECK(d_in > 0, EOS_ERR_CONFIG, "model: input dimension must be positive, got %d", d_in);
    EOS_CHECK(n_out > 0, EOS_ERR_CONFIG, "model: output dimension must be positive, got %d",
              n_out);
    EOS_CHECK(chunk > 0, EOS_ERR_CONFIG, "model: chunk (examples per pass) must be positive, got %d",
              chunk);
    EOS_CHECK(loss == EOS_LOSS_MSE || loss == EOS_LOSS_XENT, EOS_ERR_CONFIG,
              "loss: unknown loss kind %d", (int)loss);
    EOS_CHECK(isfinite(mc->init_scale) && mc->init_scale >= 0, EOS_ERR_CONFIG,
              "model.init_scale = %g: must be finite and >= 0", mc->init_scale);
    EOS_ALLOC(m, 1);
    m->cfg = *mc;
    m->loss = loss;
    m->d_in = d_in;
    m->n_out = n_out;
    m->chunk = chunk;
    switch (mc->arch) {
    case EOS_ARCH_MLP: EOS_TRY(eos_mlp_setup(m)); break;
    case EOS_ARCH_LINEAR_TRANSFORMER: EOS_TRY(eos_linear_transformer_setup(m)); break;
    default: EOS_FAIL(EOS_ERR_CONFIG, "model.arch: unknown architecture %d", (int)mc->arch);
    }
    EOS_CHECK(m->ops != NULL, EOS_ERR_INTERNAL, "model: architecture setup left no ops table");
    *out = m;
    return 0;
fail:
    free(m); /* setup leaves nothing allocated on failure */
    return rc;
}

void eos_model_free(eos_model *m)
{
    if (!m) return;
    if (m->ops && m->ops->free) m->ops->free(m);
    free(m);
}

size_t eos_model_nparams(const eos_model *m) { return m->ops->nparams(m); }

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
