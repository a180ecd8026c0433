/* eos_model.h: models with exact gradients and Hessian-vector products of the training loss.
 *
 * A model owns its workspaces (activations, tangents), allocated once in eos_model_create for at
 * most `chunk` examples; every call processes any number of examples by looping over chunks of
 * that size, so memory stays bounded and nothing is allocated afterwards.
 *
 * Loss convention (Cohen et al. 2021): per example, MSE = 0.5 * sum_outputs (f(x) - y)^2, softmax
 * cross-entropy = -sum_j y_j log softmax(f(x))_j; the training loss is the mean over examples.
 * Calls take `scale` (normally 1/N for a mean over N examples split across calls) and ACCUMULATE
 * into their outputs, so a caller zeroes them once and sums over chunks or batches. */
#ifndef EOS_MODEL_H
#define EOS_MODEL_H

#include "eos_common.h"
#include "eos_config.h"
#include "eos_rng.h"

typedef struct eos_model eos_model;

/* d_in inputs, n_out outputs, classify != 0 adds accuracy (argmax(f) == argmax(y)). */
int eos_model_create(eos_model **out, const eos_model_cfg *mc, eos_loss_kind loss, int d_in,
                     int n_out, int chunk);
/* Linear transformer (model.arch linear-transformer) on in-context regression prompts of
 * n_context tokens (x_i, y_i) plus the query (x_q, 0), x in R^dim: d_in = (n_context+1)*(dim+1)
 * (one prompt per row of X, token-major, as eos_data_icl_draw writes it), one output, MSE only.
 * eos_model_create refuses this architecture, because d_in alone does not give dim. */
int eos_model_create_icl(eos_model **out, const eos_model_cfg *mc, eos_loss_kind loss,
                         int n_context, int dim, int chunk);
void eos_model_free(eos_model *m);
size_t eos_model_nparams(const eos_model *m);

/* Fill params [nparams] from rng: PyTorch nn.Linear default (W, b ~ U(-1/sqrt(fan_in), ..)) or
 * scaled Gaussian (std init_scale/sqrt(fan_in), zero bias). */
void eos_model_init(const eos_model *m, real *params, eos_rng *rng);

/* Loss (and gradient) over examples X[idx[i]] (idx NULL: rows 0..n-1).
 *   *loss_sum += sum_i loss_i              (unscaled; double)
 *   *n_correct += number of correct argmax predictions (if n_correct != NULL)
 *   grad += scale * sum_i d loss_i / d params     (if grad != NULL)
 * X [N, d_in], Y [N, n_out] (full arrays; idx selects rows). */
int eos_model_loss_grad(eos_model *m, const real *params, const real *X, const real *Y,
                        const int *idx, int n, double scale, double *loss_sum, double *n_correct,
                        real *grad);

/* Exact Hessian-vector product by the R-operator (forward-over-reverse):
 *   hv += scale * sum_i H_i v       with H_i the Hessian of loss_i w.r.t. params. */
int eos_model_hvp(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                  int n, double scale, const real *v, real *hv);

#endif
