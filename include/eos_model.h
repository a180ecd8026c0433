/* eos_model.h: models with exact gradients and Hessian-vector products of the training loss.
 *
 * A model owns its workspaces (activations, tangents), allocated once in eos_model_create for at
 * most `chunk` examples; every call processes any number of examples by looping over chunks of
 * that size, so memory stays bounded and nothing is allocated afterwards.
 *
 * Loss convention (Cohen et al. 2021): per example, MSE = 0.5 * sum_outputs (f(x) - y)^2, softmax
 * cross-entropy = -sum_j y_j log softmax(f(x))_j, logistic (one output) = log(1 + exp(-s f(x)))
 * with s = +1 for y > 0 and -1 otherwise; the training loss is the mean over examples. A correct
 * prediction is argmax f == argmax y, or for one output sign(f) == sign(y) (f == 0 is wrong).
 * Calls take `scale` (normally 1/N for a mean over N examples split across calls) and ACCUMULATE
 * into their outputs, so a caller zeroes them once and sums over chunks or batches. */
#ifndef EOS_MODEL_H
#define EOS_MODEL_H

#include "eos_common.h"
#include "eos_config.h"
#include "eos_data.h"
#include "eos_rng.h"

typedef struct eos_model eos_model;

/* Name of architecture i (the value text of model.arch), NULL past the last one. Row 0 of the
 * table in src/model/model.c is the default. */
const char *eos_model_arch_name(int i);

/* Whether the architecture mc->arch accepts these settings, this loss and data whose examples are
 * laid out as `in` with n_out outputs (each architecture decides: a dense network flattens any
 * layout, attention needs tokens). At configuration time the layout or sizes may still be unknown
 * (EOS_LAYOUT_UNKNOWN, dims 0, n_out 0): what may still fit is accepted, and the check is repeated
 * by eos_model_create. On failure EOS_ERR_CONFIG, a message "key: ..." and *key = that key. */
int eos_model_validate(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in, int n_out,
                       const char **key);
/* Multiply-adds of one example's forward pass (the scheduler's cost model; a loss+gradient pass
 * costs about 3x, a Hessian-vector product about 5x). */
double eos_model_cost(const eos_model_cfg *mc, const eos_shape *in, int n_out);

/* The model for data whose examples are laid out as `in` (a dataset's shape) with n_out outputs;
 * workspaces for `chunk` examples per pass. Validates first (eos_model_validate). */
int eos_model_create(eos_model **out, const eos_model_cfg *mc, eos_loss_kind loss,
                     const eos_shape *in, int n_out, int chunk);
void eos_model_free(eos_model *m);
/* The parameter count of the model eos_model_create would build (validation, before any data is
 * loaded). */
int eos_model_count_params(const eos_model_cfg *mc, eos_loss_kind loss, const eos_shape *in,
                           int n_out, size_t *nparams);
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

/* The model's outputs f [n, n_out] at the examples X[idx[i]] (idx NULL: rows 0..n-1), without
 * the loss (the margins y f of the logistic loss). EOS_ERR_CONFIG if the architecture has none. */
int eos_model_outputs(eos_model *m, const real *params, const real *X, const int *idx, int n,
                      real *f);

/* Exact Hessian-vector product by the R-operator (forward-over-reverse):
 *   hv += scale * sum_i H_i v       with H_i the Hessian of loss_i w.r.t. params. */
int eos_model_hvp(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                  int n, double scale, const real *v, real *hv);

/* The same for nv directions at once, V and HV [nv, nparams] (rows): HV_j += scale * sum_i
 * H_i V_j. Architectures with a block kernel (mlp) make the direction-free values once per pass
 * for all nv and run GEMMs nv times wider; each HV_j then equals the single product's to
 * rounding, not bitwise (OpenBLAS's result for an element depends on the GEMM's shape), and is
 * bitwise independent of the thread count. Others loop over eos_model_hvp (bitwise). */
int eos_model_hvp_block(eos_model *m, const real *params, const real *X, const real *Y,
                        const int *idx, int n, double scale, int nv, const real *V, real *HV);

/* Let eos_model_hvp (and eos_model_gnvp) keep up to `bytes` of the product's direction-free
 * values (the linearisation at params: activations, outputs, plain backward deltas) from one call
 * to the next while params (by value), X and Y (by address) and the rows stay the same, as in an
 * eigen-solve; a call at another point recomputes them. Results are bitwise those without the
 * cache. Callers must not change the contents of X or Y in place between products. 0 (the
 * default) = off; architectures without a cache ignore it. */
void eos_model_set_hvp_cache(eos_model *m, size_t bytes);

/* Exact Gauss-Newton-vector product: R-forward to the outputs f, the loss's Hessian in f (MSE:
 * I; softmax cross-entropy: S (diag(p) - p p'), S = sum_j y_j; logistic: sigmoid(s f)
 * sigmoid(-s f)), then the plain backward pass of that output vector, with no second-order terms
 * of the network:
 *   gv += scale * sum_i J_i' H_loss,i J_i v      (J_i = d f(x_i) / d params).
 * Chunked like eos_model_hvp. EOS_ERR_CONFIG if the architecture has none (eos_model_has_gnvp). */
int eos_model_gnvp(eos_model *m, const real *params, const real *X, const real *Y, const int *idx,
                   int n, double scale, const real *v, real *gv);
/* Whether the architecture mc->arch implements eos_model_gnvp (validation of
 * sharpness.gauss_newton, before any model is built). */
int eos_model_has_gnvp(const eos_model_cfg *mc);

/* A group of parameters: one layer's weights and bias together (per-layer sharpness). */
#define EOS_GROUP_NAME 16
#define EOS_MAX_GROUPS 64
typedef struct {
    char name[EOS_GROUP_NAME]; /* e.g. "fc1": layers counted from the input */
    size_t off, len;           /* the parameters [off, off + len) */
} eos_param_group;
/* The parameter groups of architecture mc->arch in parameter order, at most max into g:
 * names only (off = len = 0) from the configuration when m is NULL (the file is laid out before
 * any model is built), with their ranges, which tile [0, nparams), from a built model m. Returns
 * the count (the first min(count, max) filled); 0 when the architecture defines none. */
int eos_model_groups(const eos_model_cfg *mc, const eos_model *m, eos_param_group *g, int max);

#endif
